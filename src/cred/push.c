/* SPDX-License-Identifier: MIT */
/* src/cred/push.c - the push protocol's states (include/cred.h): a
 * version in flight is marked 'pushed' before custody sends it to its
 * device, and settled once the outcome is known: current when a fresh
 * login with it works, failed when the device refused it for sure. A
 * version whose outcome is unknown stays 'pushed' until reconciliation
 * (the caller trying the candidates against the device) settles it.
 * The WS-Management side lives in src/amt/. */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cred_int.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* The version in flight of (device, kind) and its state ("pending" or
 * "pushed" into state, 8 bytes), in the caller's transaction. */
static int
in_flight(struct cust_state *st, int64_t id, const char *kind,
    int64_t *version_out, char *state)
{
	sqlite3_stmt *s;
	int rc;

	*version_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT version, state, "
	    STORE_CHECK(STORE_ROW_SECRET) " FROM secret WHERE device_id = ? "
	    "AND kind = ? AND (state = 'pending' OR state = 'pushed')")) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*version_out = sqlite3_column_int64(s, 0);
		snprintf(state, 8, "%s", (const char *)sqlite3_column_text(s,
		    1));
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return CUST_E_NOTFOUND;
	return rc == SQLITE_ROW ? CUST_OK :
	    store_err(state_store(st), "cannot read the secret versions");
}

/* Set the state of (device, kind, version) from one in flight to to. */
static int
move(struct cust_state *st, int64_t id, const char *kind, int64_t version,
    const char *to)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st), "UPDATE secret SET state = ?1, "
	    "changed = ?2, mac = custody_mac('secret', device_id, kind, "
	    "version, ?1, sealed, created, ?2) WHERE device_id = ?3 AND "
	    "kind = ?4 AND version = ?5 AND (state = 'pending' OR state = "
	    "'pushed') AND " STORE_CHECK(STORE_ROW_SECRET))) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, util_now());
	sqlite3_bind_int64(s, 3, id);
	sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, version);
	return store_step_done(state_store(st), s,
	    "cannot change the secret state");
}

/* The begin of a push in the caller's write transaction: norm's version
 * in flight becomes 'pushed' (again, when it is already), audited.
 * *version is in and out as for cred_push_begin(). CUST_E_NOTFOUND (no
 * such device, nothing in flight) and CUST_E_CONFLICT (another version
 * than the one asked for is in flight) are the device's own refusals and
 * write nothing. */
static int
begin_in(struct cust_state *st, const char *actor, const char *norm,
    const char *kind, int64_t *version)
{
	char state[8] = "", detail[96];
	int64_t id, ver = 0, want = *version;
	int r;

	if ((r = cred_device_find(st, norm, &id)) != CUST_OK)
		return r;
	if ((r = in_flight(st, id, kind, &ver, state)) == CUST_E_NOTFOUND)
		return cust_fail(CUST_E_NOTFOUND, "%s has no %s version in "
		    "flight to push (rotate it first)", norm, kind);
	if (r != CUST_OK)
		return r;
	/* The caller holds the value of version want: replaced meanwhile
	 * (rotate --replace-pending), it must not be sent as ver. */
	if (want != 0 && want != ver)
		return cust_fail(CUST_E_CONFLICT, "%s: %s v%lld was replaced by "
		    "v%lld while this push ran: nothing sent", norm, kind,
		    (long long)want, (long long)ver);
	/* Already pushed: an earlier push's outcome is unknown; sending it
	 * again is the same change (the device holds one or the other). */
	if (strcmp(state, "pending") == 0 &&
	    (r = move(st, id, kind, ver, "pushed")) != CUST_OK)
		return r;
	snprintf(detail, sizeof(detail), "%s v%lld%s", kind, (long long)ver,
	    strcmp(state, "pushed") == 0 ? " (again: outcome was unknown)" :
	    "");
	if ((r = audit_append(state_audit(st), actor, "password.push", norm,
	    "started", detail)) != CUST_OK)
		return r;
	*version = ver;
	return CUST_OK;
}

/* A refused end in the caller's write transaction: version becomes
 * 'failed', audited. CUST_E_NOTFOUND (no such device) and
 * CUST_E_CONFLICT (the version is no longer in flight) write nothing. */
static int
refuse_in(struct cust_state *st, const char *actor, const char *norm,
    const char *kind, int64_t version, const char *why)
{
	char state[8] = "", detail[256];
	int64_t id, ver = 0;
	int r;

	if ((r = cred_device_find(st, norm, &id)) != CUST_OK)
		return r;
	if ((r = in_flight(st, id, kind, &ver, state)) != CUST_OK &&
	    r != CUST_E_NOTFOUND)
		return r;
	if (r == CUST_E_NOTFOUND || ver != version)
		return cust_fail(CUST_E_CONFLICT, "%s: %s password v%lld is not "
		    "in flight (settled meanwhile?)", norm, kind,
		    (long long)version);
	if ((r = move(st, id, kind, ver, "failed")) != CUST_OK)
		return r;
	snprintf(detail, sizeof(detail), "%s v%lld failed: %s", kind,
	    (long long)ver, why != NULL ? why : "refused by the device");
	return audit_append(state_audit(st), actor, "password.push", norm,
	    "failed", detail);
}

/* One step in the caller's transaction; its own refusals in op->r. */
static int
op_in(struct cust_state *st, const char *actor, struct cred_push_op *op)
{
	char norm[CUST_MAX_FQDN + 1], refused[256] = "";
	int r;

	op->r = CUST_OK;
	op->msg[0] = '\0';
	if ((r = cred_fqdn_norm(op->fqdn, norm, sizeof(norm))) != CUST_OK)
		goto own;
	if (!op->end)
		r = begin_in(st, actor, norm, op->kind, &op->version);
	else if (op->how == CRED_PUSH_APPLIED)
		r = cred_settle_in(st, actor, "password.push", op->why != NULL ?
		    op->why : "applied", norm, op->kind, op->version, refused,
		    sizeof(refused));
	else
		r = refuse_in(st, actor, norm, op->kind, op->version, op->why);
	if (r == CUST_OK || (r != CUST_E_NOTFOUND && r != CUST_E_CONFLICT &&
	    r != CUST_E_INVAL))
		return r;
	/* Refused on its own: recorded (a settle that found the version
	 * settled already is audited as cred_settle() does), the rest of the
	 * group goes on. */
	if (*refused != '\0') {
		char msg[sizeof(op->msg)];

		snprintf(msg, sizeof(msg), "%s", cust_errmsg());
		if ((r = audit_append(state_audit(st), actor, "password.push",
		    norm, "refused", refused)) != CUST_OK)
			return r;
		cust_fail(CUST_E_CONFLICT, "%s", msg);
		r = CUST_E_CONFLICT;
	}
own:
	op->r = r;
	snprintf(op->msg, sizeof(op->msg), "%s", cust_errmsg());
	return CUST_OK;
}

int
cred_push_group(struct cust_state *st, const char *actor,
    struct cred_push_op *ops, size_t n, int (*fn)(void *arg), void *arg)
{
	size_t i;
	int r;

	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = op_in(st, actor, &ops[i])) != CUST_OK)
			goto fail;
	if (fn != NULL && (r = fn(arg)) != CUST_OK)
		goto fail;
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto failed;
	return CUST_OK;
fail:
	store_rollback(state_store(st));
	if (i < n && store_tampered(state_store(st)))
		(void)audit_note(state_audit(st), actor, "password.push",
		    ops[i].fqdn, "failed", "a secret row was altered");
failed:
	/* Nothing of the group was committed. */
	for (i = 0; i < n; i++)
		if (!ops[i].end && ops[i].r == CUST_OK)
			ops[i].version = 0;
	return r;
}

/* One step alone: a group of one. */
static int
one(struct cust_state *st, const char *actor, struct cred_push_op *op)
{
	int r;

	if ((r = cred_push_group(st, actor, op, 1, NULL, NULL)) != CUST_OK)
		return r;
	if (op->r != CUST_OK)
		return cust_fail(op->r, "%s", op->msg);
	return CUST_OK;
}

int
cred_push_begin(struct cust_state *st, const char *actor, const char *fqdn,
    const char *kind, int64_t *version)
{
	struct cred_push_op op = { .fqdn = fqdn, .kind = kind,
	    .version = *version };
	int r;

	if ((r = one(st, actor, &op)) == CUST_OK)
		*version = op.version;
	return r;
}

int
cred_push_end(struct cust_state *st, const char *actor, const char *fqdn,
    const char *kind, int64_t version, enum cred_push_end how,
    const char *why)
{
	struct cred_push_op op = { .fqdn = fqdn, .kind = kind, .end = 1,
	    .how = how, .why = why, .version = version };

	return one(st, actor, &op);
}

int
cred_push_list(struct cust_state *st, int64_t after_device,
    const char *after_kind, size_t limit, json_t **items_out)
{
	sqlite3_stmt *s;
	json_t *items = json_array(), *o;
	int rc;

	*items_out = NULL;
	if (items == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* The partial index secret_pushed (push/1): as many rows as are
	 * pushed, keyset-paged on (device_id, kind). */
	if ((s = store_stmt(state_store(st), "SELECT s.device_id, d.fqdn, "
	    "s.kind, s.version, s.changed FROM secret s JOIN device d ON d.id = "
	    "s.device_id WHERE s.state = 'pushed' AND (s.device_id, s.kind) > "
	    "(?1, ?2) ORDER BY s.device_id, s.kind LIMIT ?3")) == NULL) {
		json_decref(items);
		return CUST_E_DB;
	}
	sqlite3_bind_int64(s, 1, after_device);
	sqlite3_bind_text(s, 2, after_kind != NULL ? after_kind : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		o = json_pack("{s:I, s:s, s:s, s:I, s:I}", "device_id",
		    (json_int_t)sqlite3_column_int64(s, 0), "fqdn",
		    (const char *)sqlite3_column_text(s, 1), "kind",
		    (const char *)sqlite3_column_text(s, 2), "version",
		    (json_int_t)sqlite3_column_int64(s, 3), "changed",
		    (json_int_t)sqlite3_column_int64(s, 4));
		if (o == NULL || json_array_append_new(items, o) != 0) {
			sqlite3_reset(s);
			json_decref(items);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(items);
		return store_err(state_store(st), "cannot read pushed versions");
	}
	*items_out = items;
	return CUST_OK;
}
