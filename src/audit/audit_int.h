/* SPDX-License-Identifier: MIT */
/* src/audit/audit_int.h - internals shared by the files of the audit
 * module.
 *
 * audit.c   the chain: append, head, list, verify
 * group.c   the group writer: one thread that commits the entries of
 *           many threads in batches
 */
#ifndef CUST_AUDIT_INT_H
#define CUST_AUDIT_INT_H

#include "audit.h"

struct store;

/* Append e (seq and hash computed here) in the open write transaction of
 * a's store; the head and the after-commit callback are registered as
 * commit hooks, so a batch writes them once. */
int audit_append_locked(struct audit *a, const struct audit_entry *e)
	__attribute__((warn_unused_result));

/* Take a's after-commit callback (audit_on_committed(): the rollback
 * counter) off its commits: the group writer calls it itself, once per
 * batch, after it has released the batch's callers. */
void audit_take_committed(struct audit *a,
    void (**fn_out)(void *arg, int64_t seq, const unsigned char hash[32]),
    void **arg_out);

/* The last entry a appended: its seq and hash. */
void audit_last(struct audit *a, int64_t *seq_out, unsigned char hash_out[32]);

/* Keep a's chain key readable around a batch of appends and its commit
 * (seal_secret_hold()): without it, each entry and the head record cost
 * a pair of mprotect(2) calls. Nested, counted. */
void audit_hold(struct audit *a);
void audit_release(struct audit *a);

/* The store a appends to; borrowed. */
struct store *audit_store(struct audit *a);

/* Hand e to the writer of g and wait until the batch that holds it has
 * committed (CUST_OK) or failed (its error and message). The strings of e
 * are borrowed until then. */
int audit_group_submit(struct audit_group *g, const struct audit_entry *e)
	__attribute__((warn_unused_result));

/* Queue a copy of e on g's writer, counted on t, and return at once
 * (audit_defer()); CUST_E_UNAVAIL when the writer has stopped, CUST_E_NOMEM,
 * neither counted. */
int audit_group_submit_deferred(struct audit_group *g,
    const struct audit_entry *e, struct audit_ticket *t)
	__attribute__((warn_unused_result));

#endif
