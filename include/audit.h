/* SPDX-License-Identifier: MIT */
/* include/audit.h - the append-only, hash-chained audit log.
 *
 * Each entry carries seq, time, actor, action, object, result and detail,
 * the hash of the previous entry, and its own hash: a BLAKE2b-256 keyed with
 * a key derived from the data key over prev_hash and the fields, so that an
 * attacker without the master key can neither rewrite nor re-chain entries.
 * Detail must never carry a secret value.
 */
#ifndef CUST_AUDIT_H
#define CUST_AUDIT_H

#include <stdint.h>

struct store;
struct seal;
struct audit;

struct audit_entry {
	int64_t seq;
	int64_t time;
	const char *actor;
	const char *action;
	const char *object;
	const char *result;	/* "ok", "refused", "failed" ... */
	const char *detail;	/* may be NULL */
};

/* new audit handle bound to a store and seal (both borrowed; must outlive
 * it); free with audit_free(). */
int audit_open(struct store *st, struct seal *seal, struct audit **out)
	__attribute__((warn_unused_result));
void audit_free(struct audit *a);

/* Append one entry. Inside an open store transaction it joins it (so the
 * entry commits or rolls back with the change it records); otherwise it
 * runs in its own transaction. */
int audit_append(struct audit *a, const char *actor, const char *action,
    const char *object, const char *result, const char *detail)
	__attribute__((warn_unused_result));

/* Record a refusal or a failure that is being reported as an error, in a
 * transaction of its own. It never ends the caller's transaction: a caller
 * inside one rolls it back first, explicitly (store_rollback()), so that
 * the refused change is undone before its refusal is recorded. Keeps
 * cust_errmsg() (the caller's error is what the user sees). Returns
 * CUST_OK; CUST_E_INTERNAL, recording nothing, when a transaction is open;
 * or the append's error, which it also says on stderr. Callers that
 * already fail may ignore it. */
int audit_note(struct audit *a, const char *actor, const char *action,
    const char *object, const char *result, const char *detail);

/* Call fn for each entry with seq > after (at most limit; 0 = all), newest
 * last. Strings are borrowed for the duration of the call. fn returns
 * non-zero to stop; a negative value (a CUST_E_* code) is returned. */
int audit_list(struct audit *a, int64_t after, int64_t limit,
    const char *object, int (*fn)(void *arg, const struct audit_entry *e),
    void *arg) __attribute__((warn_unused_result));

/* Check the whole chain. CUST_OK when intact; CUST_E_VIOLATION with
 * *bad_seq_out = the first entry that was modified, is missing after, or is
 * out of order, and a message saying which. *count_out = entries checked. */
int audit_verify(struct audit *a, int64_t *bad_seq_out, int64_t *count_out)
	__attribute__((warn_unused_result));

/* The authenticated head: the last seq and its entry hash (32 bytes).
 * CUST_E_NOTFOUND when the log has none yet (a new store), CUST_E_VIOLATION
 * when the head record is damaged or forged. */
int audit_head(struct audit *a, int64_t *seq_out, unsigned char hash_out[32])
	__attribute__((warn_unused_result));

/* The stored hash of entry seq; CUST_E_NOTFOUND when there is none. */
int audit_hash_at(struct audit *a, int64_t seq, unsigned char hash_out[32])
	__attribute__((warn_unused_result));

/* Call fn(arg, seq, hash) after each commit that appended entries, with
 * the new head (the rollback counter). fn NULL: none. */
void audit_on_committed(struct audit *a,
    void (*fn)(void *arg, int64_t seq, const unsigned char hash[32]),
    void *arg);

#endif
