/* SPDX-License-Identifier: MIT */
/* src/ca/ca_supersede.c - a renewed client certificate's predecessors are
 * revoked (superseded) only once the new one is proven fetched.
 *
 * A renewal (console renew, staff renew, client.reenroll) records the new
 * certificate N and, in the same transaction, one row of ca_supersede per
 * other valid certificate O of the holder: "O is revoked once N is used,
 * at the latest at due" (due = the earlier of O's notAfter and
 * CA_SUPERSEDE_GRACE after the renewal). A reply that never arrives
 * leaves the client with O, which still works (and may re-enrol again).
 * The rows are completed - O revoked as superseded, audited, on the next
 * CRL - by the first of:
 *
 *   (a) N authenticates a client of the service (ops_identity_from_cert()
 *       calls ca_supersede_used(); custodyd then forgets every cached
 *       identity, so O is refused from its next request on);
 *   (b) N's key, made by custody, is confirmed delivered (ca_delivered());
 *   (c) due passes (ca_supersede_sweep(): the scheduler's tick and every
 *       renewal).
 *
 * A certificate that is itself a pending N (never used) and is renewed
 * again is revoked at once: the client evidently did not get it (or
 * renews past it), and the holder never has more than two valid
 * certificates. Revoking N any other way (cert revoke, an undelivered
 * key) drops its rows: the renewal failed and O stays as it was.
 *
 * A row decides a revocation: its MAC is checked (STORE_ROW_CA_SUPERSEDE)
 * wherever one is acted on, and both O and N must be valid certificates
 * (MAC'd rows) of the same holder; anything else only drops the row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

/* Rows acted on per statement (a holder has one or two). */
#define BATCH		32
#define BATCH_S		"32"
/* RFC 5280 reason superseded. */
#define SUPERSEDED	4

struct row {
	char old[CA_SERIAL_HEXLEN];
	char new_[CA_SERIAL_HEXLEN];
};

#define ROW_COLS "SELECT old_serial, new_serial, " \
	STORE_CHECK(STORE_ROW_CA_SUPERSEDE) " FROM ca_supersede "

/* Step s (ROW_COLS, bound) into v[0..BATCH); reset. */
static int
rows_read(struct cust_state *st, sqlite3_stmt *s, struct row *v,
    size_t *n_out)
{
	size_t n = 0;
	int rc = SQLITE_DONE;

	while (n < BATCH && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		snprintf(v[n].old, sizeof(v[n].old), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		snprintf(v[n].new_, sizeof(v[n].new_), "%s",
		    (const char *)sqlite3_column_text(s, 1));
		n++;
	}
	if (n == BATCH)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	*n_out = n;
	return rc == SQLITE_DONE ? CUST_OK : store_err(state_store(st),
	    "read pending supersedes");
}

/* The valid certificate serial: its id (0: none valid), kind, holder. */
static int
cert_valid(struct cust_state *st, const char *serial, int64_t *id_out,
    char *kind, char *holder)
{
	sqlite3_stmt *s;
	int rc;

	*id_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT id, kind, holder, "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE serial = ? AND "
	    "status = 'valid'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id_out = sqlite3_column_int64(s, 0);
		snprintf(kind, 16, "%s", (const char *)sqlite3_column_text(s,
		    1));
		snprintf(holder, CUST_MAX_FQDN + 1, "%s",
		    (const char *)sqlite3_column_text(s, 2));
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CUST_OK :
	    store_err(state_store(st), "read certificate");
}

static int
drop_old(struct cust_state *st, const char *old)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st),
	    "DELETE FROM ca_supersede WHERE old_serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, old, -1, SQLITE_TRANSIENT);
	return store_step_done(state_store(st), s, "drop a supersede");
}

int
ca_supersede_drop(struct cust_state *st, const char *serial)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st), "DELETE FROM ca_supersede "
	    "WHERE old_serial = ?1 OR new_serial = ?1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
	return store_step_done(state_store(st), s, "drop a supersede");
}

/* In the open transaction: row r is due (how says why). Revoke its old
 * certificate when both are valid certificates of one holder; else only
 * drop the row. */
static int
complete(struct cust_state *st, const char *actor, const struct row *rw,
    const char *how, struct ca_revset *rs)
{
	char nkind[16], nholder[CUST_MAX_FQDN + 1];
	char okind[16], oholder[CUST_MAX_FQDN + 1], why[160];
	int64_t nid = 0, oid = 0;
	int r;

	if ((r = cert_valid(st, rw->new_, &nid, nkind, nholder)) != CUST_OK ||
	    (r = cert_valid(st, rw->old, &oid, okind, oholder)) != CUST_OK)
		return r;
	if (nid == 0 || oid == 0 || strcmp(nkind, okind) != 0 ||
	    strcmp(nholder, oholder) != 0)
		return drop_old(st, rw->old);
	snprintf(why, sizeof(why), "by %s: %s", rw->new_, how);
	/* ca_revoke_row() drops the rows of the serial it revokes. */
	return ca_revoke_row(st, actor, oid, SUPERSEDED, why, rs);
}

/* In the open transaction: complete every row whose new certificate is
 * serial. */
static int
complete_new(struct cust_state *st, const char *actor, const char *serial,
    const char *how, struct ca_revset *rs)
{
	struct row v[BATCH];
	sqlite3_stmt *s;
	size_t n, i;
	int r;

	do {
		if ((s = store_stmt(state_store(st), ROW_COLS "WHERE "
		    "new_serial = ? ORDER BY old_serial LIMIT " BATCH_S)) == NULL)
			return CUST_E_DB;
		sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
		if ((r = rows_read(st, s, v, &n)) != CUST_OK)
			return r;
		for (i = 0; i < n; i++)
			if ((r = complete(st, actor, &v[i], how, rs)) !=
			    CUST_OK)
				return r;
	} while (n == BATCH);
	return CUST_OK;
}

int
ca_supersede_delivered(struct cust_state *st, const char *actor,
    const char *serial, struct ca_revset *rs)
{
	return complete_new(st, actor, serial, "its key was delivered", rs);
}

/* 1 when serial is the new certificate of a pending supersede, 0 not,
 * < 0 error. */
static int
is_pending_new(struct cust_state *st, const char *serial)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(state_store(st), "SELECT 1 FROM ca_supersede "
	    "WHERE new_serial = ? LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return store_err(state_store(st), "read pending supersedes");
}

int
ca_supersede_used(struct cust_state *st, const char *actor,
    const char *serial, size_t *count_out)
{
	struct ca_revset rs;
	int r;

	*count_out = 0;
	/* One indexed read when nothing waits for serial (the usual case). */
	if ((r = is_pending_new(st, serial)) <= 0)
		return r;
	memset(&rs, 0, sizeof(rs));
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	/* Again under the write lock: another worker may have done it. */
	if ((r = complete_new(st, actor, serial, "it authenticated a client",
	    &rs)) != CUST_OK ||
	    (r = ca_revset_publish(st, &rs, NULL)) != CUST_OK ||
	    (r = store_commit(state_store(st))) != CUST_OK) {
		store_rollback(state_store(st));
		return r;
	}
	*count_out = rs.revoked;
	return CUST_OK;
}

int
ca_supersede_sweep(struct cust_state *st, const char *actor,
    size_t *count_out)
{
	struct row v[BATCH];
	struct ca_revset rs;
	sqlite3_stmt *s;
	size_t n, i;
	int r, begun = 0;

	if (count_out != NULL)
		*count_out = 0;
	memset(&rs, 0, sizeof(rs));
	do {
		if ((s = store_stmt(state_store(st), ROW_COLS "WHERE due <= ? "
		    "ORDER BY old_serial LIMIT " BATCH_S)) == NULL) {
			r = CUST_E_DB;
			goto fail;
		}
		sqlite3_bind_int64(s, 1, util_now());
		if ((r = rows_read(st, s, v, &n)) != CUST_OK)
			goto fail;
		/* Nothing due (the usual case): one read, no transaction.
		 * Else read again under the write lock. */
		if (n > 0 && !begun) {
			if ((r = store_begin(state_store(st))) != CUST_OK)
				return r;
			begun = 1;
			n = BATCH;
			continue;
		}
		for (i = 0; i < n; i++)
			if ((r = complete(st, actor, &v[i], "the grace period "
			    "of its renewal ended before it was used", &rs)) !=
			    CUST_OK)
				goto fail;
	} while (n == BATCH);
	if (!begun)
		return CUST_OK;
	if ((r = ca_revset_publish(st, &rs, NULL)) != CUST_OK ||
	    (r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	if (count_out != NULL)
		*count_out = rs.revoked;
	return CUST_OK;
fail:
	if (begun)
		store_rollback(state_store(st));
	return r;
}

/* Insert (or replace) the row old -> serial, due at the earlier of
 * not_after and the grace period; audited. */
static int
plan_row(struct cust_state *st, const char *actor, const char *obj,
    const char *old, int64_t not_after, const char *serial, json_t *pending)
{
	char t[32], detail[200];
	int64_t now = util_now(), due = now + CA_SUPERSEDE_GRACE;
	sqlite3_stmt *s;
	int r;

	if (not_after < due)
		due = not_after;
	if ((s = store_stmt(state_store(st), "INSERT OR REPLACE INTO "
	    "ca_supersede(old_serial, new_serial, created, due, mac) VALUES "
	    "(?1, ?2, ?3, ?4, " STORE_MAC("'ca_supersede', ?1, ?2, ?3, ?4")
	    ")")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, old, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, due);
	if ((r = store_step_done(state_store(st), s, "record a supersede")) !=
	    CUST_OK)
		return r;
	util_fmt_time(due, t, sizeof(t));
	snprintf(detail, sizeof(detail), "serial=%s superseded once %s is "
	    "used, at the latest %s", old, serial, t);
	if ((r = audit_append(state_audit(st), actor, "cert.supersede", obj,
	    "ok", detail)) != CUST_OK)
		return r;
	return json_array_append_new(pending, json_pack("{s:s, s:s}",
	    "serial", old, "due", t)) == 0 ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}

int
ca_supersede_plan(struct cust_state *st, const char *actor,
    const char *kind, const char *holder, const char *serial,
    json_t *pending, struct ca_revset *rs)
{
	struct {
		int64_t id, not_after;
		char serial[CA_SERIAL_HEXLEN];
		int fresh;	/* a pending new certificate, never used */
	} v[BATCH];
	char obj[CUST_MAX_FQDN + 16], why[160];
	sqlite3_stmt *s;
	int64_t after = 0;
	size_t n, i;
	int rc = SQLITE_DONE, r;

	ca_object(obj, sizeof(obj), kind, holder);
	snprintf(why, sizeof(why), "by %s: renewed before it was ever used",
	    serial);
	do {
		/* The holder's other valid certificates, each with whether
		 * it waits to supersede others itself (those rows' MACs
		 * checked: they decide a revocation), read before any
		 * change. */
		if ((s = store_stmt(state_store(st), "SELECT id, serial, "
		    "not_after, EXISTS (SELECT 1 FROM ca_supersede WHERE "
		    "new_serial = cert.serial AND "
		    STORE_CHECK(STORE_ROW_CA_SUPERSEDE) "), "
		    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE kind = ?1 "
		    "AND holder = ?2 AND status = 'valid' AND serial <> ?3 AND "
		    "id > ?4 ORDER BY id LIMIT " BATCH_S)) == NULL)
			return CUST_E_DB;
		sqlite3_bind_text(s, 1, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, holder, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 3, serial, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 4, after);
		n = 0;
		while (n < BATCH && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			v[n].id = sqlite3_column_int64(s, 0);
			snprintf(v[n].serial, sizeof(v[n].serial), "%s",
			    (const char *)sqlite3_column_text(s, 1));
			v[n].not_after = sqlite3_column_int64(s, 2);
			v[n].fresh = sqlite3_column_int(s, 3);
			after = v[n].id;
			n++;
		}
		if (n == BATCH)
			rc = SQLITE_DONE;
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return store_err(state_store(st), "read certificates");
		for (i = 0; i < n; i++) {
			r = v[i].fresh ? ca_revoke_row(st, actor, v[i].id,
			    SUPERSEDED, why, rs) : plan_row(st, actor, obj,
			    v[i].serial, v[i].not_after, serial, pending);
			if (r != CUST_OK)
				return r;
		}
	} while (n == BATCH);
	return CUST_OK;
}

int
ca_supersede_note(struct cust_state *st, json_t *info)
{
	const char *serial = json_string_value(json_object_get(info, "serial"));
	json_t *olds = NULL;
	sqlite3_stmt *s;
	char t[32];
	int rc, r = CUST_OK;

	if (serial == NULL)
		return CUST_OK;
	/* Shown, not acted on: no MAC check (a forged row shows here, and
	 * fails the check wherever it would count). */
	if ((s = store_stmt(state_store(st), "SELECT new_serial, due FROM "
	    "ca_supersede WHERE old_serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		util_fmt_time(sqlite3_column_int64(s, 1), t, sizeof(t));
		if (json_object_set_new(info, "superseded_by", json_string(
		    (const char *)sqlite3_column_text(s, 0))) ||
		    json_object_set_new(info, "supersede_due", json_string(t)))
			r = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	sqlite3_reset(s);
	if (r != CUST_OK || (rc != SQLITE_ROW && rc != SQLITE_DONE))
		return r != CUST_OK ? r : store_err(state_store(st),
		    "read pending supersedes");
	if ((s = store_stmt(state_store(st), "SELECT old_serial, due FROM "
	    "ca_supersede WHERE new_serial = ? ORDER BY old_serial")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
	while (r == CUST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		util_fmt_time(sqlite3_column_int64(s, 1), t, sizeof(t));
		if ((olds == NULL && (olds = json_array()) == NULL) ||
		    json_array_append_new(olds, json_pack("{s:s, s:s}",
		    "serial", (const char *)sqlite3_column_text(s, 0), "due",
		    t)) != 0)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	sqlite3_reset(s);
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "read pending supersedes");
	if (r == CUST_OK && olds != NULL && json_object_set(info, "supersedes",
	    olds) != 0)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	json_decref(olds);
	return r;
}
