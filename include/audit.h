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

#include <stdatomic.h>
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
 * runs in its own transaction, or, when a uses a group writer
 * (audit_use_group()), in the writer's next batch. Either way it returns
 * CUST_OK only once the entry is committed (durable: synchronous=FULL). */
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

/*
 * Group commit (src/audit/group.c). Every secret read appends an entry, so
 * a read is a write, and one transaction per read is bounded by one fsync
 * each (plus the rollback counter's). A multi-threaded process (custodyd)
 * runs one group writer: a thread with an audit handle of its own (its own
 * store connection) that takes every entry queued while it was committing
 * the previous batch and commits them in one transaction: one fsync, one
 * head record, one rollback counter update per batch. Each worker's
 * audit_append() outside a transaction queues its entry and waits until
 * the batch holding it has committed, or gets the batch's error: a secret
 * is handed out only after its entry is durable (or, with a ticket,
 * returns at once and the ticket says when: below).
 *
 * While another connection holds the write lock (an import, a rotation
 * batch), the writer keeps trying for wait_ms instead of failing after the
 * 5 s busy timeout; the entries that arrive meanwhile join the batch.
 *
 * custodyctl (one thread) has no group writer: its appends commit alone.
 */
struct audit_group;

/* How long the writer waits for the write lock before the batch fails
 * with CUST_E_UNAVAIL. */
#define AUDIT_GROUP_WAIT_MS 60000

struct audit_group_stats {
	uint64_t entries;	/* entries committed */
	uint64_t batches;	/* transactions committed */
	uint64_t failed;	/* entries whose batch failed */
	uint64_t busy_retries;	/* busy timeouts waited through */
	uint64_t max_batch;	/* largest batch */
};

/* Start a group writer thread on writer, an audit handle (and its store
 * connection) that from now on only that thread uses. wait_ms: see above
 * (0: AUDIT_GROUP_WAIT_MS). release(arg), when not NULL, runs after the
 * thread has stopped, in audit_group_free() (it may free writer); on
 * failure the caller keeps writer and release is not called. new group,
 * free with audit_group_free(). */
int audit_group_new(struct audit *writer, int64_t wait_ms,
    void (*release)(void *arg), void *arg, struct audit_group **out)
	__attribute__((warn_unused_result));

/* Commit what is queued, stop the thread, then release. No handle may use
 * g any more. NULL is a no-op. */
void audit_group_free(struct audit_group *g);

/* Send a's appends outside a transaction through g (borrowed; must outlive
 * a's use of it); NULL: commit them alone again. a stays one thread's. */
void audit_use_group(struct audit *a, struct audit_group *g);

/* Counters so far (a consistent copy). */
void audit_group_stats(struct audit_group *g, struct audit_group_stats *out);

/*
 * Deferred completion (custodyd's secret reads, doc/internals/SERVICE.md
 * "One request's path"). A thread that waits for each batch serves one
 * request per batch; one that goes on serving while its entries commit
 * serves many. A handle given a ticket (audit_defer()) does not wait: an
 * audit_append() through the group writer copies the entry into the
 * writer's queue, counts it on the ticket and returns CUST_OK at once. Its
 * caller must then hold back whatever the entry records (the reply that
 * carries the secret) until the ticket completes: the writer calls
 * done(arg) once every entry counted on the ticket has committed or
 * failed, and never before the caller's own reference is given up
 * (audit_ticket_arm()). r is then CUST_OK, or the first failed batch's
 * error and err its message: the caller must not release anything, and
 * answers that error instead.
 *
 * Appends inside a transaction and appends of a handle without a group
 * writer ignore the ticket (they commit, or fail, before they return).
 */
struct audit_ticket {
	_Atomic unsigned refs;	/* the caller's, and one per entry queued */
	int r;			/* set by the writer before it lets go */
	char err[256];
	void (*done)(void *arg);
	void *arg;
};

/* t ready for use: the caller's reference only, r CUST_OK. */
void audit_ticket_init(struct audit_ticket *t, void (*done)(void *arg),
    void *arg);

/* Let a's appends through the group writer count on t instead of waiting
 * (t borrowed until audit_defer(a, NULL), which the caller calls before
 * audit_ticket_arm()). */
void audit_defer(struct audit *a, struct audit_ticket *t);

/* Give up the caller's reference: done(arg) runs now, in this thread, when
 * nothing counted on t is still queued, else from the writer thread once
 * the last of it is. t must stay valid until done has run. */
void audit_ticket_arm(struct audit_ticket *t);

#endif
