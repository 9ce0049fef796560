/* SPDX-License-Identifier: MIT */
/* src/audit/audit.c - append-only, hash-chained audit log.
 *
 * hash(n) = BLAKE2b-256 keyed by K_audit over
 *   prev_hash || seq || time || len-prefixed actor, action, object, result,
 *   detail
 * with K_audit derived from the data key, so the chain cannot be rebuilt by
 * someone who can write the database but does not hold the master key. The
 * head (last seq and hash, MAC'd with the same key) is kept in meta so that
 * cutting the tail or wiping the log is caught; an append refuses to chain
 * onto a log that does not end where its head says (fail closed). Rolling
 * the whole database back to an older copy is not caught: that needs state
 * outside the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "audit_int.h"
#include "err.h"
#include "log.h"
#include "seal.h"
#include "store.h"
#include "util.h"

#define HASHLEN 32
#define HEAD_KEY "audit.head"
#define HEADLEN (8 + 2 * HASHLEN)	/* seq, hash, MAC */

struct audit {
	struct store *st;
	struct seal_secret *key;
	/* The last entry appended in the current transaction (txn), so a bulk
	 * operation neither re-reads it nor rewrites the head per entry: the
	 * head is written once, by a commit hook. */
	uint64_t txn;
	int64_t last_seq;
	unsigned char last_hash[32];
	/* After each commit that appended (the rollback counter). */
	void (*committed)(void *arg, int64_t seq, const unsigned char *hash);
	void *committed_arg;
	/* When set (a thread of a multi-threaded process), appends outside a
	 * transaction go through this process's group writer (group.c). */
	struct audit_group *group;
	/* When set with group: appends do not wait (audit_defer()). */
	struct audit_ticket *ticket;
};

int
audit_open(struct store *st, struct seal *seal, struct audit **out)
{
	struct audit *a;
	int r;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	a->st = st;
	if ((r = seal_derive(seal, "auditmac", 1, 32, &a->key)) != CUST_OK) {
		free(a);
		return r;
	}
	*out = a;
	return CUST_OK;
}

void
audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	seal_secret_free(a->key);
	free(a);
}

static void
put_u64(crypto_generichash_state *h, uint64_t v)
{
	unsigned char b[8];

	util_be64_put(b, v);
	crypto_generichash_update(h, b, sizeof(b));
}

static void
put_str(crypto_generichash_state *h, const char *s)
{
	uint64_t n = s ? strlen(s) : UINT64_MAX;

	put_u64(h, n);
	if (s != NULL)
		crypto_generichash_update(h, (const unsigned char *)s,
		    (size_t)n);
}

void
audit_hold(struct audit *a)
{
	seal_secret_hold(a->key);
}

void
audit_release(struct audit *a)
{
	seal_secret_release(a->key);
}

/* h keyed by K_audit, which is readable only while held (the group writer
 * and bulk operations hold it around a batch). */
static void
key_init(struct audit *a, crypto_generichash_state *h)
{
	seal_secret_hold(a->key);
	crypto_generichash_init(h, seal_secret_data(a->key),
	    seal_secret_len(a->key), HASHLEN);
	seal_secret_release(a->key);
}

static void
entry_hash(struct audit *a, const unsigned char prev[HASHLEN],
    const struct audit_entry *e, unsigned char out[HASHLEN])
{
	crypto_generichash_state h;

	key_init(a, &h);
	crypto_generichash_update(&h, prev, HASHLEN);
	put_u64(&h, (uint64_t)e->seq);
	put_u64(&h, (uint64_t)e->time);
	put_str(&h, e->actor);
	put_str(&h, e->action);
	put_str(&h, e->object);
	put_str(&h, e->result);
	put_str(&h, e->detail);
	crypto_generichash_final(&h, out, HASHLEN);
	sodium_memzero(&h, sizeof(h));
}

/* head = seq (8, big-endian) || hash || MAC(key, "head" || seq || hash) */
static void
make_head(struct audit *a, int64_t seq, const unsigned char hash[HASHLEN],
    unsigned char head[HEADLEN])
{
	crypto_generichash_state h;

	util_be64_put(head, (uint64_t)seq);
	memcpy(head + 8, hash, HASHLEN);
	key_init(a, &h);
	crypto_generichash_update(&h, (const unsigned char *)"head", 4);
	crypto_generichash_update(&h, head, 8 + HASHLEN);
	crypto_generichash_final(&h, head + 8 + HASHLEN, HASHLEN);
	sodium_memzero(&h, sizeof(h));
}

/* Read and authenticate the head: CUST_OK with *seq_out and hash_out,
 * CUST_E_NOTFOUND when there is none, CUST_E_VIOLATION when forged. */
static int
read_head(struct audit *a, int64_t *seq_out, unsigned char hash_out[HASHLEN])
{
	unsigned char *v = NULL, want[HEADLEN];
	size_t len = 0;
	int64_t seq;
	int r;

	if ((r = store_meta_get(a->st, HEAD_KEY, &v, &len)) != CUST_OK)
		return r;
	if (len != HEADLEN) {
		free(v);
		return cust_fail(CUST_E_VIOLATION, "the audit head record is "
		    "damaged");
	}
	seq = (int64_t)util_be64_get(v);
	make_head(a, seq, v + 8, want);
	r = sodium_memcmp(want, v, HEADLEN) == 0 ? CUST_OK :
	    cust_fail(CUST_E_VIOLATION, "the audit head record was forged "
	    "(its MAC does not match)");
	*seq_out = seq;
	memcpy(hash_out, v + 8, HASHLEN);
	free(v);
	return r;
}

/* Commit hook: record the head (last seq and hash) of this transaction. */
static int
write_head(void *arg)
{
	struct audit *a = arg;
	unsigned char head[HEADLEN];

	make_head(a, a->last_seq, a->last_hash, head);
	return store_meta_set(a->st, HEAD_KEY, head, sizeof(head));
}

/* After-commit hook: hand the committed head to the rollback counter. */
static int
after_commit(void *arg)
{
	struct audit *a = arg;

	if (a->committed != NULL)
		a->committed(a->committed_arg, a->last_seq, a->last_hash);
	return CUST_OK;
}

void
audit_on_committed(struct audit *a,
    void (*fn)(void *arg, int64_t seq, const unsigned char hash[32]),
    void *arg)
{
	a->committed = fn;
	a->committed_arg = arg;
}

void
audit_take_committed(struct audit *a,
    void (**fn_out)(void *arg, int64_t seq, const unsigned char hash[32]),
    void **arg_out)
{
	*fn_out = a->committed;
	*arg_out = a->committed_arg;
	a->committed = NULL;
	a->committed_arg = NULL;
}

void
audit_last(struct audit *a, int64_t *seq_out, unsigned char hash_out[32])
{
	*seq_out = a->last_seq;
	memcpy(hash_out, a->last_hash, HASHLEN);
}

int
audit_head(struct audit *a, int64_t *seq_out, unsigned char hash_out[32])
{
	*seq_out = 0;
	memset(hash_out, 0, HASHLEN);
	return read_head(a, seq_out, hash_out);
}

int
audit_hash_at(struct audit *a, int64_t seq, unsigned char hash_out[32])
{
	sqlite3_stmt *s;
	int rc, r;

	memset(hash_out, 0, HASHLEN);
	if ((s = store_stmt(a->st, "SELECT hash FROM audit WHERE seq = ?")) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == HASHLEN) {
		memcpy(hash_out, sqlite3_column_blob(s, 0), HASHLEN);
		r = CUST_OK;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		r = cust_fail(CUST_E_NOTFOUND, "no audit entry %lld",
		    (long long)seq);
	} else {
		r = store_err(a->st, "cannot read the audit log");
	}
	sqlite3_reset(s);
	return r;
}

/*
 * Before chaining onto the log, make sure it ends where its head says: an
 * entry removed from the end (with or without a rewritten head) must not be
 * papered over by the next append.
 */
static int
check_tail(struct audit *a, int64_t last_seq, const unsigned char *last_hash)
{
	unsigned char hh[HASHLEN];
	int64_t hs = 0;
	int r = read_head(a, &hs, hh);

	if (r == CUST_E_NOTFOUND && last_seq == 0)
		return CUST_OK;		/* a new log */
	if (r == CUST_E_NOTFOUND || r == CUST_E_VIOLATION ||
	    (r == CUST_OK && (hs != last_seq ||
	    sodium_memcmp(hh, last_hash, HASHLEN) != 0)))
		return cust_fail(CUST_E_DB, "the audit log does not end where "
		    "its head record says (entries were removed or altered): "
		    "custody will not add to it; run 'custodyctl audit "
		    "verify'");
	return r;
}

struct store *
audit_store(struct audit *a)
{
	return a->st;
}

void
audit_use_group(struct audit *a, struct audit_group *g)
{
	a->group = g;
}

void
audit_defer(struct audit *a, struct audit_ticket *t)
{
	a->ticket = t;
}

int
audit_append_locked(struct audit *a, const struct audit_entry *in)
{
	unsigned char prev[HASHLEN] = { 0 }, hash[HASHLEN];
	struct audit_entry e = *in;
	uint64_t txn = store_txn_id(a->st);
	sqlite3_stmt *s;
	int rc;

	e.seq = 1;
	if (a->txn == txn && a->last_seq > 0) {
		e.seq = a->last_seq + 1;
		memcpy(prev, a->last_hash, HASHLEN);
	} else {
		s = store_stmt(a->st, "SELECT seq, hash FROM audit ORDER BY "
		    "seq DESC LIMIT 1");
		if (s == NULL)
			return CUST_E_DB;
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			e.seq = sqlite3_column_int64(s, 0) + 1;
			if (sqlite3_column_bytes(s, 1) == HASHLEN)
				memcpy(prev, sqlite3_column_blob(s, 1),
				    HASHLEN);
		} else if (rc != SQLITE_DONE) {
			rc = store_err(a->st, "cannot read the audit log");
			sqlite3_reset(s);
			return rc;
		}
		sqlite3_reset(s);
		if ((rc = check_tail(a, e.seq - 1, prev)) != CUST_OK)
			return rc;
	}
	entry_hash(a, prev, &e, hash);
	s = store_stmt(a->st, "INSERT INTO audit(seq, time, actor, action, "
	    "object, result, detail, prev, hash) VALUES (?,?,?,?,?,?,?,?,?)");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, e.seq);
	sqlite3_bind_int64(s, 2, e.time);
	sqlite3_bind_text(s, 3, e.actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, e.action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, e.object, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, e.result, -1, SQLITE_STATIC);
	if (e.detail != NULL)
		sqlite3_bind_text(s, 7, e.detail, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 8, prev, HASHLEN, SQLITE_STATIC);
	sqlite3_bind_blob(s, 9, hash, HASHLEN, SQLITE_STATIC);
	if ((rc = store_step_done(a->st, s, "cannot append to the audit log"))
	    != CUST_OK)
		return rc;
	a->txn = txn;
	a->last_seq = e.seq;
	memcpy(a->last_hash, hash, HASHLEN);
	if (a->committed != NULL &&
	    (rc = store_after_commit(a->st, after_commit, a)) != CUST_OK)
		return rc;
	return store_on_commit(a->st, write_head, a);
}

int
audit_append(struct audit *a, const char *actor, const char *action,
    const char *object, const char *result, const char *detail)
{
	struct audit_entry e = {
		.time = util_now(), .actor = actor ? actor : "unknown",
		.action = action, .object = object ? object : "",
		.result = result, .detail = detail,
	};
	int r, own = !store_in_txn(a->st);

	/* On its own: in a thread of a multi-threaded process, it joins the
	 * next batch of the group writer and returns once that committed. */
	if (own && a->group != NULL)
		return a->ticket != NULL ? audit_group_submit_deferred(a->group,
		    &e, a->ticket) : audit_group_submit(a->group, &e);
	if (own && (r = store_begin(a->st)) != CUST_OK)
		return r;
	r = audit_append_locked(a, &e);
	if (own) {
		if (r == CUST_OK)
			r = store_commit(a->st);
		else
			store_rollback(a->st);
	}
	return r;
}

int
audit_note(struct audit *a, const char *actor, const char *action,
    const char *object, const char *result, const char *detail)
{
	char saved[1024], obj[512];
	int r;

	snprintf(saved, sizeof(saved), "%s", cust_errmsg());
	util_escape(object, obj, sizeof(obj));	/* often a refused name */
	if (store_in_txn(a->st)) {
		/* Appending here would commit the caller's change with its
		 * refusal: the caller must roll back first. */
		log_error("internal error: %s of %s noted inside a "
		    "transaction: not recorded", action, obj);
		return CUST_E_INTERNAL;
	}
	r = audit_append(a, actor, action, object, result, detail);
	if (r != CUST_OK)
		log_warnx("could not record %s of %s in the audit log: %s",
		    action, obj, cust_errmsg());
	cust_fail(r, "%s", saved);
	return r;
}

static void
row_entry(sqlite3_stmt *s, struct audit_entry *e)
{
	e->seq = sqlite3_column_int64(s, 0);
	e->time = sqlite3_column_int64(s, 1);
	e->actor = (const char *)sqlite3_column_text(s, 2);
	e->action = (const char *)sqlite3_column_text(s, 3);
	e->object = (const char *)sqlite3_column_text(s, 4);
	e->result = (const char *)sqlite3_column_text(s, 5);
	e->detail = (const char *)sqlite3_column_text(s, 6);
}

int
audit_list(struct audit *a, int64_t after, int64_t limit, const char *object,
    int (*fn)(void *arg, const struct audit_entry *e), void *arg)
{
	sqlite3_stmt *s;
	struct audit_entry e;
	int rc;

	if (object != NULL)
		s = store_stmt(a->st, "SELECT seq, time, actor, action, object, "
		    "result, detail FROM audit WHERE object = ? AND seq > ? "
		    "ORDER BY seq LIMIT ?");
	else
		s = store_stmt(a->st, "SELECT seq, time, actor, action, object, "
		    "result, detail FROM audit WHERE ?1 IS NULL AND seq > ? "
		    "ORDER BY seq LIMIT ?");
	if (s == NULL)
		return CUST_E_DB;
	if (object != NULL)
		sqlite3_bind_text(s, 1, object, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int cb;

		row_entry(s, &e);
		if ((cb = fn(arg, &e)) != 0) {
			sqlite3_reset(s);
			return cb < 0 ? cb : CUST_OK;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = store_err(a->st, "cannot read the audit log");
		sqlite3_reset(s);
		return rc;
	}
	sqlite3_reset(s);
	return CUST_OK;
}

int
audit_verify(struct audit *a, int64_t *bad_seq_out, int64_t *count_out)
{
	unsigned char prev[HASHLEN] = { 0 }, calc[HASHLEN], hh[HASHLEN];
	int64_t hs = 0;
	struct audit_entry e;
	sqlite3_stmt *s;
	int64_t expect = 1, n = 0, bad = 0;
	int rc, r = CUST_OK;

	*bad_seq_out = 0;
	*count_out = 0;
	/* One snapshot for the chain and its head: an append committed in
	 * between must not look like tampering. */
	if ((r = store_begin_read(a->st)) != CUST_OK)
		return r;
	s = store_stmt(a->st, "SELECT seq, time, actor, action, object, "
	    "result, detail, prev, hash FROM audit ORDER BY seq");
	if (s == NULL) {
		store_rollback(a->st);
		return CUST_E_DB;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_entry(s, &e);
		n++;
		if (e.seq != expect) {
			bad = e.seq;
			r = cust_fail(CUST_E_VIOLATION, "audit entry %lld is "
			    "missing (next entry is %lld): entries were deleted",
			    (long long)expect, (long long)e.seq);
			break;
		}
		if (sqlite3_column_bytes(s, 7) != HASHLEN ||
		    sqlite3_column_bytes(s, 8) != HASHLEN ||
		    sodium_memcmp(sqlite3_column_blob(s, 7), prev, HASHLEN)
		    != 0) {
			bad = e.seq;
			r = cust_fail(CUST_E_VIOLATION, "audit entry %lld does "
			    "not chain to entry %lld: entries were deleted, "
			    "inserted or reordered", (long long)e.seq,
			    (long long)e.seq - 1);
			break;
		}
		entry_hash(a, prev, &e, calc);
		if (sodium_memcmp(sqlite3_column_blob(s, 8), calc, HASHLEN)
		    != 0) {
			bad = e.seq;
			r = cust_fail(CUST_E_VIOLATION, "audit entry %lld was "
			    "modified (its hash does not match its content)",
			    (long long)e.seq);
			break;
		}
		memcpy(prev, calc, HASHLEN);
		expect++;
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(a->st, "cannot read the audit log");
	sqlite3_reset(s);
	if (r != CUST_OK)
		goto out;
	rc = read_head(a, &hs, hh);
	bad = n + 1;
	if (rc == CUST_E_NOTFOUND) {
		r = cust_fail(CUST_E_VIOLATION, n == 0 ? "the audit log is "
		    "empty and has no head record: it was wiped (a custody "
		    "state always has entries)" : "the audit head record is "
		    "missing");
	} else if (rc != CUST_OK) {
		r = rc;
	} else if (hs != n || sodium_memcmp(hh, prev, HASHLEN) != 0) {
		r = cust_fail(CUST_E_VIOLATION, "the audit log ends at entry "
		    "%lld but its head records entry %lld: entries at the end "
		    "were deleted or replaced", (long long)n, (long long)hs);
	} else {
		bad = 0;
	}
out:
	store_rollback(a->st);	/* end the read transaction */
	*bad_seq_out = bad;
	*count_out = n;
	return r;
}
