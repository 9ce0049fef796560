/* SPDX-License-Identifier: MIT */
/* src/cred/console.c - scoped console credentials: one digest password per
 * (device, console the policy's plan gives a digest user on it), kind
 * console:NAME, with the rotation state machine of every secret
 * (include/cred.h).
 *
 * The cred module does not read policies (same layer): the caller passes
 * a planner that says which consoles a device should have a credential
 * for. A sync is a reconcile: each device gets a pending version for
 * every console it should have and has none in flight or current, and
 * loses (retired) the versions of consoles it should no longer have. It is
 * idempotent, so a sync cut short (a crash, a full disk) is finished by
 * running it again, and runs in bounded batches, each its own transaction,
 * so a 100k-device fleet never holds the write lock for long.
 */
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "cred_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* Console names as the policy allows them: 1-64 of [A-Za-z0-9._-]. */
int
cred_console_kind(const char *console, char *buf, size_t len)
{
	size_t n = console != NULL ? strlen(console) : 0, i;

	if (n == 0 || n > 64)
		return cust_fail(CUST_E_INVAL, "a console name has 1 to 64 "
		    "characters");
	for (i = 0; i < n; i++) {
		char ch = console[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || (i > 0 && strchr("._-", ch) !=
		    NULL)))
			return cust_fail(CUST_E_INVAL, "'%.64s' is not a "
			    "console name (letters, digits, '.', '_', '-')",
			    util_needs_escape(console) ? "?" : console);
	}
	if (snprintf(buf, len, "%s%s", CRED_KIND_CONSOLE, console) >= (int)len)
		return cust_fail(CUST_E_INTERNAL, "kind buffer too small");
	return CUST_OK;
}

/* Retire every version of kind that is in flight or current on device
 * id (the caller's transaction), audited. *n_out = versions retired. */
static int
withdraw(struct cust_state *st, const char *actor, int64_t id,
    const char *fqdn, const char *kind, const char *why, int64_t now,
    size_t *n_out)
{
	char detail[256];
	sqlite3_stmt *s;
	int r;

	*n_out = 0;
	/* The old rows must be intact; each gets its MAC over the new
	 * values. */
	s = store_stmt(state_store(st), "UPDATE secret SET state = 'retired', "
	    "changed = ?1, mac = custody_mac('secret', device_id, kind, "
	    "version, 'retired', sealed, created, ?1) WHERE device_id = ?2 "
	    "AND kind = ?3 AND (state = 'pending' OR state = 'pushed' OR "
	    "state = 'current') AND " STORE_CHECK(STORE_ROW_SECRET));
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	if ((r = store_step_done(state_store(st), s,
	    "cannot retire a console credential")) != CUST_OK)
		return r;
	*n_out = (size_t)sqlite3_changes(store_db(state_store(st)));
	if (*n_out == 0)
		return CUST_OK;
	snprintf(detail, sizeof(detail), "%s retired: %s", kind, why);
	return audit_append(state_audit(st), actor, "credential.withdraw",
	    fqdn, "ok", detail);
}

/* What device id holds of one console kind. */
struct held {
	char kind[CRED_KIND_MAX];
	int64_t maxv;
	int live;		/* a version in flight or current */
};

/* The console kinds device id has any version of (at most max). */
static int
holdings(struct cust_state *st, int64_t id, struct held *h, size_t max,
    size_t *n_out)
{
	sqlite3_stmt *s;
	size_t n = 0;
	int rc, r = CUST_OK;

	*n_out = 0;
	/* kind > 'console:' AND kind < 'console;': a range of the primary
	 * key (device_id, kind, version). */
	s = store_stmt(state_store(st), "SELECT kind, MAX(version), "
	    "SUM(state = 'pending' OR state = 'pushed' OR state = 'current') "
	    "FROM secret WHERE device_id = ? AND kind > 'console:' AND "
	    "kind < 'console;' GROUP BY kind");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == max) {
			r = cust_fail(CUST_E_TOOBIG, "device %lld holds over "
			    "%zu console credential kinds", (long long)id, max);
			break;
		}
		snprintf(h[n].kind, sizeof(h[n].kind), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		h[n].maxv = sqlite3_column_int64(s, 1);
		h[n].live = sqlite3_column_int64(s, 2) > 0;
		n++;
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read console credentials");
	sqlite3_reset(s);
	*n_out = n;
	return r;
}

static int
in_list(const char *const *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

/* Most console kinds one device can hold: every console a policy ever
 * granted it (the plan allows POLICY_MAX_DIGEST at once). */
#define HELD_MAX	256

/*
 * Reconcile device id with want (JSON array of console names) in the
 * caller's transaction: withdraw the kinds it should no longer have (and
 * those in renew: their user name changed), grant a pending version of
 * each wanted kind it has none live of.
 */
static int
reconcile(struct cust_state *st, const char *actor, int64_t id,
    const char *fqdn, json_t *want, const char *const *renew, size_t nrenew,
    size_t pwlen, int64_t now, struct cred_console_result *res)
{
	struct held h[HELD_MAX];
	char kind[CRED_KIND_MAX], detail[160];
	unsigned char *pw;
	json_t *w;
	size_t n, i, k, gone;
	int64_t ver;
	int r, wanted;

	if ((r = holdings(st, id, h, HELD_MAX, &n)) != CUST_OK)
		return r;
	for (i = 0; i < n; i++) {
		const char *con = h[i].kind + strlen(CRED_KIND_CONSOLE);

		wanted = 0;
		json_array_foreach(want, k, w)
			if (strcmp(json_string_value(w), con) == 0)
				wanted = 1;
		if (!h[i].live || (wanted && !in_list(renew, nrenew, con)))
			continue;
		if ((r = withdraw(st, actor, id, fqdn, h[i].kind, wanted ?
		    "its user name changed" : "the policy no longer grants it",
		    now, &gone)) != CUST_OK)
			return r;
		h[i].live = 0;
		res->withdrawn += gone;
	}
	json_array_foreach(want, k, w) {
		if ((r = cred_console_kind(json_string_value(w), kind,
		    sizeof(kind))) != CUST_OK)
			return r;
		ver = 1;
		for (i = 0; i < n; i++)
			if (strcmp(h[i].kind, kind) == 0)
				break;
		if (i < n && h[i].live)
			continue;
		if (i < n)
			ver = h[i].maxv + 1;
		pw = seal_secret_data(state_scratch(st));
		if ((r = cred_pw_fill(pw, pwlen)) != CUST_OK)
			return r;
		r = cred_secret_put(st, id, fqdn, kind, ver, "pending", pw,
		    pwlen, now);
		sodium_memzero(pw, pwlen);
		if (r != CUST_OK)
			return r;
		snprintf(detail, sizeof(detail), "%s v%lld pending", kind,
		    (long long)ver);
		if ((r = audit_append(state_audit(st), actor,
		    "credential.grant", fqdn, "ok", detail)) != CUST_OK)
			return r;
		res->granted++;
	}
	return CUST_OK;
}

/* Up to limit active, visible devices with id > after (only that one
 * when only != 0) as {"id", "fqdn", "tags"} into devs (appended). */
static int
batch_devices(struct cust_state *st, int64_t after, int64_t only,
    size_t limit, json_t *devs)
{
	sqlite3_stmt *s;
	json_t *tags, *o;
	int rc, r = CUST_OK;

	s = store_stmt(state_store(st), "SELECT d.id, d.fqdn, (SELECT "
	    "json_group_array(tag) FROM device_tag t WHERE t.device_id = d.id) "
	    "FROM device d WHERE d.id > ?1 AND (?2 = 0 OR d.id = ?2) AND "
	    "d.state = 'active' AND " CRED_VISIBLE("d") " ORDER BY d.id "
	    "LIMIT ?3");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, only);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		tags = json_loads((const char *)sqlite3_column_text(s, 2), 0,
		    NULL);
		o = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)
		    sqlite3_column_int64(s, 0), "fqdn", (const char *)
		    sqlite3_column_text(s, 1), "tags", tags ? tags :
		    json_array());
		if (o == NULL || json_array_append_new(devs, o) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read the devices");
	sqlite3_reset(s);
	return r;
}

/* One batch: devs reconciled, in the open transaction. */
static int
sync_batch(struct cust_state *st, const char *actor, json_t *devs,
    size_t pwlen, const struct cred_console_planner *pl,
    struct cred_console_result *res)
{
	int64_t now = util_now();
	json_t *d, *want;
	size_t i;
	int r = CUST_OK;

	seal_hold(state_seal(st));
	json_array_foreach(devs, i, d) {
		const char *fqdn = json_string_value(json_object_get(d, "fqdn"));

		want = NULL;
		if ((r = pl->plan(pl->arg, fqdn, json_object_get(d, "tags"),
		    &want)) != CUST_OK)
			break;
		r = reconcile(st, actor, json_integer_value(json_object_get(d,
		    "id")), fqdn, want, pl->renew, pl->nrenew, pwlen, now, res);
		json_decref(want);
		if (r != CUST_OK)
			break;
		res->devices++;
	}
	seal_release(state_seal(st));
	return r;
}

int
cred_console_sync(struct cust_state *st, const char *actor, int64_t after_id,
    int64_t only_id, size_t pwlen, const struct cred_console_planner *pl,
    void (*progress)(void *arg, size_t done, size_t total), void *arg,
    struct cred_console_result *res)
{
	int own = !store_in_txn(state_store(st));
	int64_t after = only_id > 0 ? only_id - 1 : after_id;
	json_t *devs = NULL;
	size_t n;
	int r = CUST_OK;

	memset(res, 0, sizeof(*res));
	if (pwlen < CRED_PW_MIN || pwlen > CRED_PW_MAX)
		return cust_fail(CUST_E_INVAL, "password length must be %d to "
		    "%d", CRED_PW_MIN, CRED_PW_MAX);
	if (!own && only_id <= 0)
		return cust_fail(CUST_E_INTERNAL, "a sync of every device runs "
		    "its own batches, not inside a transaction");
	for (;;) {
		if ((devs = json_array()) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		if (own && (r = store_begin(state_store(st))) != CUST_OK)
			break;
		if ((pl->batch != NULL && (r = pl->batch(pl->arg)) != CUST_OK) ||
		    (r = batch_devices(st, after, only_id, CRED_CONSOLE_BATCH,
		    devs)) != CUST_OK ||
		    (r = sync_batch(st, actor, devs, pwlen, pl, res)) !=
		    CUST_OK) {
			if (own)
				store_rollback(state_store(st));
			break;
		}
		if (own && (r = store_commit(state_store(st))) != CUST_OK)
			break;
		n = json_array_size(devs);
		if (n > 0)
			after = json_integer_value(json_object_get(
			    json_array_get(devs, n - 1), "id"));
		json_decref(devs);
		devs = NULL;
		if (progress != NULL)
			progress(arg, res->devices, 0);
		if (n < CRED_CONSOLE_BATCH || only_id > 0)
			break;
	}
	json_decref(devs);
	if (r != CUST_OK && res->devices > 0)
		r = cust_fail(r, "%s; the %zu devices of the batches before "
		    "were synced and committed (sync again to finish)",
		    cust_errmsg(), res->devices);
	return r;
}

int
cred_console_withdraw_all(struct cust_state *st, const char *actor,
    int64_t device_id, const char *fqdn, const char *why, size_t *n_out)
{
	struct held h[HELD_MAX];
	size_t n, i, gone;
	int64_t now = util_now();
	int r;

	*n_out = 0;
	if ((r = holdings(st, device_id, h, HELD_MAX, &n)) != CUST_OK)
		return r;
	for (i = 0; i < n; i++) {
		if (!h[i].live)
			continue;
		if ((r = withdraw(st, actor, device_id, fqdn, h[i].kind, why,
		    now, &gone)) != CUST_OK)
			return r;
		*n_out += gone;
	}
	return CUST_OK;
}

int
cred_console_list(struct cust_state *st, const char *console,
    const char *after, size_t limit, json_t **out)
{
	char kind[CRED_KIND_MAX];
	sqlite3_stmt *s;
	json_t *items, *o, *v;
	int rc, r;

	*out = NULL;
	if ((r = cred_console_kind(console, kind, sizeof(kind))) != CUST_OK)
		return r;
	if ((items = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* By the FQDN index; each device one primary-key seek. */
	s = store_stmt(state_store(st), "SELECT d.fqdn, (SELECT "
	    "json_group_array(json_object('version', version, 'state', state)) "
	    "FROM (SELECT version, state FROM secret WHERE device_id = d.id AND "
	    "kind = ?1 AND (state = 'pending' OR state = 'pushed' OR state = "
	    "'current') AND " STORE_CHECK(STORE_ROW_SECRET) " ORDER BY "
	    "version)) FROM device d WHERE d.state = 'active' AND "
	    CRED_VISIBLE("d") " AND d.fqdn > ?2 AND EXISTS (SELECT 1 FROM "
	    "secret x WHERE x.device_id = d.id AND x.kind = ?1 AND "
	    "(x.state = 'pending' OR x.state = 'pushed' OR x.state = "
	    "'current')) ORDER BY d.fqdn LIMIT ?3");
	if (s == NULL) {
		json_decref(items);
		return CUST_E_DB;
	}
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, after != NULL ? after : "", -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, limit > 0 ? (sqlite3_int64)limit : -1);
	r = CUST_OK;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
		o = json_pack("{s:s, s:o}", "fqdn", (const char *)
		    sqlite3_column_text(s, 0), "versions", v ? v :
		    json_array());
		if (o == NULL || json_array_append_new(items, o) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read console "
		    "credentials");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		json_decref(items);
		return r;
	}
	*out = items;
	return CUST_OK;
}
