/* SPDX-License-Identifier: MIT */
/* src/state/integrity.c - what opening a state directory checks beyond the
 * master key: row MACs switched on, and the store not older than the
 * rollback counter says (doc/internals/SECRETS.md, "Row MACs" and
 * "Rollback").
 *
 * The rollback counter (src/seal/counter.c) is the newest audit head that
 * committed. Every commit that appends to the audit log updates it after
 * the commit (so it never gets ahead of the store); opening compares it
 * with the store's authenticated audit head:
 *
 *   store head <  counter   the store is older: refused (exit 5)
 *   store head == counter   same entry hash required (else another history)
 *   store head >  counter   a crash between the commit and the counter
 *                           update: the counter's entry must still be in
 *                           the chain, then the counter catches up
 *
 * A deliberate restore from a backup is accepted with
 * 'custodyctl store accept-restore' (state_accept_restore()).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "err.h"
#include "log.h"
#include "seal.h"
#include "state.h"
#include "state_int.h"
#include "store.h"

#define HASHLEN SEAL_COUNTER_HASHLEN
/* meta key present once every protected row has a MAC. */
#define READY_META "rowmac.ready"

/* The MAC'd tables, for the one-time backfill. */
static const char *const backfill_sql[] = {
	"UPDATE secret SET mac = " STORE_MAC(STORE_ROW_SECRET)
	    " WHERE mac IS NULL",
	"UPDATE ca_gen SET mac = " STORE_MAC(STORE_ROW_CA_GEN)
	    " WHERE mac IS NULL",
	"UPDATE ca_key SET mac = " STORE_MAC(STORE_ROW_CA_KEY)
	    " WHERE mac IS NULL",
	"UPDATE cert SET mac = " STORE_MAC(STORE_ROW_CERT)
	    " WHERE mac IS NULL",
	"UPDATE console SET mac = " STORE_MAC(STORE_ROW_CONSOLE)
	    " WHERE mac IS NULL",
	"UPDATE policy SET mac = " STORE_MAC(STORE_ROW_POLICY)
	    " WHERE mac IS NULL",
	"UPDATE staff SET mac = " STORE_MAC(STORE_ROW_STAFF)
	    " WHERE mac IS NULL",
	"UPDATE ca_delivery SET mac = " STORE_MAC(STORE_ROW_CA_DELIVERY)
	    " WHERE mac IS NULL",
	"UPDATE ca_supersede SET mac = " STORE_MAC(STORE_ROW_CA_SUPERSEDE)
	    " WHERE mac IS NULL",
	"UPDATE device_tls SET mac = " STORE_MAC(STORE_ROW_DEVICE_TLS)
	    " WHERE mac IS NULL",
	"UPDATE device SET tls_mac = " STORE_MAC(STORE_ROW_DEVICE_TLSMARK)
	    " WHERE tls_mac IS NULL AND state = 'active' AND fqdn IN "
	    "(SELECT fqdn FROM device_tls)",
};

#define RECOVER "if it was restored from a backup on purpose, run " \
	"'custodyctl --state-dir %s store accept-restore'"

/* After every commit that appended to the audit log. A failure cannot undo
 * the commit; the counter then lags, which only narrows what it detects
 * until the next commit or open brings it up to date. */
static void
counter_update(void *arg, int64_t seq, const unsigned char *hash)
{
	struct cust_state *st = arg;

	/* One handle per state, kept: called after every commit (custodyd's
	 * counter thread: after every audit batch). */
	if ((st->counter == NULL &&
	    seal_counter_new(st->seal, st->dir, &st->counter) != CUST_OK) ||
	    seal_counter_put(st->counter, seq, hash, 0) != CUST_OK)
		log_warnx("the rollback counter was not updated: %s",
		    cust_errmsg());
}

static int
ready(struct cust_state *st)
{
	unsigned char *v = NULL;
	size_t len = 0;
	int r = store_meta_get(st->store, READY_META, &v, &len);

	free(v);
	return r == CUST_OK ? 1 : r == CUST_E_NOTFOUND ? 0 : r;
}

/* Give every row without a MAC one (in the open transaction). */
static int
backfill(struct cust_state *st, long long *rows_out)
{
	size_t i;
	int r;

	*rows_out = 0;
	for (i = 0; i < sizeof(backfill_sql) / sizeof(backfill_sql[0]); i++) {
		if ((r = store_exec(st->store, backfill_sql[i])) != CUST_OK)
			return r;
		*rows_out += sqlite3_changes(store_db(st->store));
	}
	return store_meta_set(st->store, READY_META, "1", 1);
}

/* The store's head: seq 0 and zeros for a log without one. */
static int
head(struct cust_state *st, int64_t *seq, unsigned char hash[HASHLEN])
{
	int r = audit_head(st->audit, seq, hash);

	if (r == CUST_E_NOTFOUND) {
		*seq = 0;
		memset(hash, 0, HASHLEN);
		return CUST_OK;
	}
	if (r == CUST_E_VIOLATION)
		r = cust_fail(CUST_E_DB, "%s: run 'custodyctl audit verify'",
		    cust_errmsg());
	return r;
}

/* A store from before row MACs, opened with its key for the first time:
 * every row gets its MAC, audited; the counter starts with that commit. */
static int
upgrade(struct cust_state *st)
{
	char detail[64];
	long long rows;
	int r;

	if ((r = store_begin(st->store)) != CUST_OK)
		return r;
	if ((r = backfill(st, &rows)) != CUST_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "row MACs added to %lld rows", rows);
	if ((r = audit_append(st->audit, "custody", "store.upgrade", st->dir,
	    "ok", detail)) != CUST_OK)
		goto fail;
	return store_commit(st->store);
fail:
	store_rollback(st->store);
	return r;
}

/* Compare the store with the counter (both read, counter first). */
static int
check_counter(struct cust_state *st, int64_t cseq,
    const unsigned char chash[HASHLEN])
{
	unsigned char hhash[HASHLEN], at[HASHLEN];
	int64_t hseq = 0;
	int r;

	if ((r = store_begin_read(st->store)) != CUST_OK)
		return r;
	if ((r = head(st, &hseq, hhash)) != CUST_OK)
		goto out;
	if (hseq < cseq) {
		r = cust_fail(CUST_E_DB, "the store is older than expected: "
		    "its audit log ends at entry %lld but this state "
		    "directory's rollback counter records entry %lld (an "
		    "older copy of custody.db was put back, or the end of its "
		    "audit log was cut); custody will not use it. "
		    RECOVER, (long long)hseq, (long long)cseq, st->dir);
		goto out;
	}
	if (hseq > cseq && cseq > 0 &&
	    (r = audit_hash_at(st->audit, cseq, at)) != CUST_OK &&
	    r != CUST_E_NOTFOUND)
		goto out;
	if ((hseq == cseq && sodium_memcmp(hhash, chash, HASHLEN) != 0) ||
	    (hseq > cseq && cseq > 0 && (r == CUST_E_NOTFOUND ||
	    sodium_memcmp(at, chash, HASHLEN) != 0))) {
		r = cust_fail(CUST_E_DB, "the store's audit log does not "
		    "contain entry %lld as this state directory's rollback "
		    "counter recorded it: custody.db was replaced by another "
		    "copy; custody will not use it. " RECOVER,
		    (long long)cseq, st->dir);
		goto out;
	}
	r = CUST_OK;
out:
	store_rollback(st->store);	/* end the read transaction */
	/* Behind (a crash after a commit): catch up. Failing to (a full
	 * disk) leaves it behind, which is safe: warn, as after a commit. */
	if (r == CUST_OK && hseq > cseq)
		counter_update(st, hseq, hhash);
	return r;
}

int
state_integrity(struct cust_state *st, unsigned mode)
{
	unsigned char chash[HASHLEN], zero[HASHLEN] = { 0 };
	struct seal_secret *key = NULL;
	int64_t cseq = 0;
	int r, rdy, have_ctr;

	if ((r = seal_derive(st->seal, "rowmacv1", 1, 32, &key)) != CUST_OK)
		return r;
	store_set_row_key(st->store, key);
	if (mode & STATE_INTEGRITY_NEW) {
		/* A store just created: nothing to backfill; the counter
		 * starts here, whatever an old state left in seal/. */
		if ((r = store_meta_set(st->store, READY_META, "1", 1)) !=
		    CUST_OK ||
		    (r = seal_counter_write(st->seal, st->dir, 0, zero, 1)) !=
		    CUST_OK)
			return r;
		audit_on_committed(st->audit, counter_update, st);
		return CUST_OK;
	}
	if (mode & STATE_OPEN_RESTORE)
		return CUST_OK;		/* state_accept_restore() follows */
	/* The counter first: it only ever lags the store, so a commit by
	 * another process between the two reads cannot look like a rollback. */
	r = seal_counter_read(st->seal, st->dir, &cseq, chash);
	if (r == CUST_E_PERM || r == CUST_E_IO)
		return r;	/* its mode or the disk: not a restore */
	if (r != CUST_OK && r != CUST_E_NOTFOUND)
		return cust_fail(r, "%s; " RECOVER, cust_errmsg(), st->dir);
	have_ctr = r == CUST_OK;
	if ((rdy = ready(st)) < 0)
		return rdy;
	if (!rdy && have_ctr)
		return cust_fail(CUST_E_DB, "the store has no row MACs but "
		    "this state directory already used them: an older store "
		    "(from before row MACs) was put back, or the store was "
		    "altered; custody will not use it. " RECOVER, st->dir);
	if (rdy && !have_ctr)
		return cust_fail(CUST_E_DB, "the rollback counter %s/seal/"
		    "counter is missing, so custody cannot tell whether the "
		    "store is the newest; " RECOVER, st->dir, st->dir);
	audit_on_committed(st->audit, counter_update, st);
	if (!rdy)
		return upgrade(st);
	return check_counter(st, cseq, chash);
}

int
state_accept_restore(struct cust_state *st, const char *actor,
    int64_t *store_seq_out, int64_t *counter_seq_out)
{
	unsigned char chash[HASHLEN], hhash[HASHLEN];
	char detail[160];
	int64_t cseq = 0, hseq = 0, bad = 0, n = 0;
	long long rows = 0;
	int r, rdy;

	*store_seq_out = 0;
	*counter_seq_out = 0;
	r = seal_counter_read(st->seal, st->dir, &cseq, chash);
	if (r != CUST_OK && r != CUST_E_NOTFOUND && r != CUST_E_DB)
		return r;
	if (r != CUST_OK)
		cseq = -1;	/* none, or unreadable */
	/* The restored store must be whole: an intact audit chain. */
	if ((r = audit_verify(st->audit, &bad, &n)) != CUST_OK)
		return cust_fail(r == CUST_E_VIOLATION ? CUST_E_DB : r,
		    "the restored store's audit log is not intact, so it is "
		    "not accepted: %s", cust_errmsg());
	if ((rdy = ready(st)) < 0)
		return rdy;
	if ((r = store_begin(st->store)) != CUST_OK)
		return r;
	if (!rdy && (r = backfill(st, &rows)) != CUST_OK)
		goto fail;
	if ((r = head(st, &hseq, hhash)) != CUST_OK)
		goto fail;
	if (cseq >= 0)
		snprintf(detail, sizeof(detail), "store ends at entry %lld; "
		    "the rollback counter recorded entry %lld%s", (long long)hseq,
		    (long long)cseq, rows > 0 ? "; row MACs added" : "");
	else
		snprintf(detail, sizeof(detail), "store ends at entry %lld; "
		    "no readable rollback counter%s", (long long)hseq,
		    rows > 0 ? "; row MACs added" : "");
	if ((r = audit_append(st->audit, actor, "store.accept-restore",
	    st->dir, "ok", detail)) != CUST_OK)
		goto fail;
	if ((r = store_commit(st->store)) != CUST_OK)
		return r;
	/* The new head (this entry) becomes the counter, even if older. */
	if ((r = head(st, &hseq, hhash)) != CUST_OK ||
	    (r = seal_counter_write(st->seal, st->dir, hseq, hhash, 1)) !=
	    CUST_OK)
		return r;
	audit_on_committed(st->audit, counter_update, st);
	*store_seq_out = hseq;
	*counter_seq_out = cseq;
	return CUST_OK;
fail:
	store_rollback(st->store);
	return r;
}
