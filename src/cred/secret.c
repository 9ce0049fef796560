/* SPDX-License-Identifier: MIT */
/* src/cred/secret.c - secret versions: read, history, rotate, confirm,
 * verify. The rotation state machine lives here (include/cred.h). */
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "cred_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

static const char *
state_str(const unsigned char *s)
{
	static const char *names[] = { "pending", "pushed", "current",
	    "retired", "failed" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s != NULL && strcmp((const char *)s, names[i]) == 0)
			return names[i];
	return "unknown";
}

static int
unseal_row(struct cust_state *st, int64_t device_id, const char *fqdn,
    const char *kind, int64_t version, const void *blob, int bloblen,
    struct seal_secret **out)
{
	char ad[CRED_AD_MAX];
	size_t adlen = cred_secret_ad(ad, device_id, fqdn, kind, version);

	if (blob == NULL || bloblen <= 0 || adlen == 0)
		return cust_fail(CUST_E_CRYPTO, "sealed value is empty");
	return seal_decrypt(state_seal(st), blob, (size_t)bloblen, ad, adlen,
	    out);
}

/* The secret of the device fqdn; id > 0: the device is known already
 * (fqdn its stored name, found in the caller's read transaction). */
static int
secret_get(struct cust_state *st, const char *actor, const char *action,
    const char *note, const char *fqdn, int64_t id, const char *kind,
    int64_t version, int own, struct seal_secret **pw_out,
    int64_t *version_out, const char **state_out)
{
	char norm[CUST_MAX_FQDN + 1], detail[160];
	sqlite3_stmt *s;
	int64_t ver;
	int rc, r;

	*pw_out = NULL;
	*version_out = 0;
	*state_out = NULL;
	if (id <= 0) {
		if ((r = cred_fqdn_norm(fqdn, norm, sizeof(norm))) != CUST_OK)
			return r;
		fqdn = norm;	/* audit objects are the stored name */
		if ((r = cred_device_find(st, fqdn, &id)) != CUST_OK)
			return r;
	}
	/* The state is a literal, not a parameter: a bound value that a
	 * partial index's WHERE depends on (secret_one_current) makes SQLite
	 * prepare the statement again at every step. */
	if (version > 0)
		s = store_stmt(state_store(st),
		    "SELECT version, state, sealed, "
		    STORE_CHECK(STORE_ROW_SECRET) " FROM secret WHERE "
		    "device_id = ? AND kind = ? AND version = ?");
	else if (version == CRED_VER_PENDING)
		s = store_stmt(state_store(st),
		    "SELECT version, state, sealed, "
		    STORE_CHECK(STORE_ROW_SECRET) " FROM secret WHERE "
		    "device_id = ? AND kind = ? AND state = 'pending'");
	else if (version == CRED_VER_USABLE)
		/* The current version, else the oldest in flight. Not
		 * ORDER BY state = 'current': that sorted in a temporary
		 * b-tree at every read (custodyd's hot path); rows in flight
		 * only count when the device has no current one (one probe
		 * of secret_one_current, made once), and the primary key
		 * gives the order by version. */
		s = store_stmt(state_store(st),
		    "SELECT version, state, sealed, "
		    STORE_CHECK(STORE_ROW_SECRET) " FROM secret WHERE "
		    "device_id = ?1 AND kind = ?2 AND (state = 'current' OR "
		    "((state = 'pending' OR state = 'pushed') AND NOT EXISTS "
		    "(SELECT 1 FROM secret c WHERE c.device_id = ?1 AND "
		    "c.kind = ?2 AND c.state = 'current'))) ORDER BY version "
		    "LIMIT 1");
	else
		s = store_stmt(state_store(st),
		    "SELECT version, state, sealed, "
		    STORE_CHECK(STORE_ROW_SECRET) " FROM secret WHERE "
		    "device_id = ? AND kind = ? AND state = 'current'");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	if (version > 0)
		sqlite3_bind_int64(s, 3, version);
	/* One hold for the row MAC's key and the data key: one pair of
	 * mprotect(2) calls per read. */
	seal_hold(state_seal(st));
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		seal_release(state_seal(st));
		sqlite3_reset(s);
		if (version > 0)
			return cust_fail(CUST_E_NOTFOUND, "%s has no version "
			    "%lld of its %s password", fqdn, (long long)version,
			    kind);
		return cust_fail(CUST_E_NOTFOUND, "%s has no %s version of its "
		    "%s password", fqdn, version == CRED_VER_PENDING ?
		    "pending" : version == CRED_VER_USABLE ? "current or "
		    "pending" : "current", kind);
	}
	if (rc != SQLITE_ROW) {
		seal_release(state_seal(st));
		r = store_err(state_store(st), "cannot read the secret");
		sqlite3_reset(s);
		if (store_tampered(state_store(st))) {	/* keeps the message */
			store_rollback(state_store(st));
			(void)audit_note(state_audit(st), actor, action,
			    fqdn, "failed", "the secret row was altered");
		}
		return r;
	}
	ver = sqlite3_column_int64(s, 0);
	*state_out = state_str(sqlite3_column_text(s, 1));
	r = unseal_row(st, id, fqdn, kind, ver, sqlite3_column_blob(s, 2),
	    sqlite3_column_bytes(s, 2), pw_out);
	seal_release(state_seal(st));
	sqlite3_reset(s);
	snprintf(detail, sizeof(detail), "%s v%lld%s%s", kind, (long long)ver,
	    note != NULL ? " " : "", note != NULL ? note : "");
	if (r != CUST_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cust_errmsg());
		store_rollback(state_store(st));
		(void)audit_note(state_audit(st), actor, action, fqdn,
		    "failed", detail);
		/* A stored value that does not open is a damaged (or
		 * tampered) store: unavailable, exit 5. */
		return cust_fail(CUST_E_DB, "%s password v%lld of %s cannot "
		    "be unsealed (the store is damaged or was altered): %s",
		    kind, (long long)ver, fqdn, msg);
	}
	/* The read is done: its own transaction, or the caller's read
	 * transaction (cred_secret_read()). */
	if (own || store_in_read_txn(state_store(st)))
		store_rollback(state_store(st));
	if ((r = audit_append(state_audit(st), actor, action, fqdn,
	    "ok", detail)) != CUST_OK) {
		seal_secret_free(*pw_out);
		*pw_out = NULL;
		return r;
	}
	*version_out = ver;
	return CUST_OK;
}

int
cred_secret_get(struct cust_state *st, const char *actor, const char *fqdn,
    const char *kind, int64_t version, struct seal_secret **pw_out,
    int64_t *version_out, const char **state_out)
{
	return cred_secret_read(st, actor, "password.show", NULL, fqdn, kind,
	    version, pw_out, version_out, state_out);
}

static int
secret_read(struct cust_state *st, const char *actor, const char *action,
    const char *note, const char *fqdn, int64_t id, const char *kind,
    int64_t version, struct seal_secret **pw_out, int64_t *version_out,
    const char **state_out)
{
	int own = !store_in_txn(state_store(st)), r;

	*pw_out = NULL;
	*version_out = 0;
	*state_out = NULL;
	/* The device and its secret in one read transaction: one snapshot,
	 * and one page-cache check instead of two (another connection's
	 * commit in between would drop the cache twice). */
	if (own && (r = store_begin_read(state_store(st))) != CUST_OK)
		return r;
	r = secret_get(st, actor, action, note, fqdn, id, kind, version, own,
	    pw_out, version_out, state_out);
	if (own)
		store_rollback(state_store(st));	/* a no-op once ended */
	return r;
}

int
cred_secret_read(struct cust_state *st, const char *actor,
    const char *action, const char *note, const char *fqdn, const char *kind,
    int64_t version, struct seal_secret **pw_out, int64_t *version_out,
    const char **state_out)
{
	return secret_read(st, actor, action, note, fqdn, 0, kind, version,
	    pw_out, version_out, state_out);
}

int
cred_secret_read_ref(struct cust_state *st, const char *actor,
    const char *action, const char *note, const struct cred_device_ref *dev,
    const char *kind, int64_t version, struct seal_secret **pw_out,
    int64_t *version_out, const char **state_out)
{
	if (!store_in_txn(state_store(st)))
		return cust_fail(CUST_E_INTERNAL, "a device reference outside "
		    "the transaction it was read in");
	return secret_read(st, actor, action, note, dev->fqdn, dev->id, kind,
	    version, pw_out, version_out, state_out);
}

int
cred_secret_history(struct cust_state *st, const char *fqdn, json_t **out)
{
	sqlite3_stmt *s;
	json_t *arr, *o;
	char tbuf[32];
	int64_t id;
	int rc, r;

	*out = NULL;
	if ((r = cred_device_find(st, fqdn, &id)) != CUST_OK)
		return r;
	s = store_stmt(state_store(st), "SELECT kind, version, state, created, "
	    "changed, " STORE_CHECK(STORE_ROW_SECRET) " FROM secret WHERE "
	    "device_id = ? ORDER BY kind, version");
	if (s == NULL)
		return CUST_E_DB;
	if ((arr = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		o = json_object();
		json_object_set_new(o, "kind",
		    json_string((const char *)sqlite3_column_text(s, 0)));
		json_object_set_new(o, "version",
		    json_integer(sqlite3_column_int64(s, 1)));
		json_object_set_new(o, "state",
		    json_string(state_str(sqlite3_column_text(s, 2))));
		util_fmt_time(sqlite3_column_int64(s, 3), tbuf, sizeof(tbuf));
		json_object_set_new(o, "created", json_string(tbuf));
		util_fmt_time(sqlite3_column_int64(s, 4), tbuf, sizeof(tbuf));
		json_object_set_new(o, "changed", json_string(tbuf));
		json_array_append_new(arr, o);
	}
	if (rc != SQLITE_DONE) {
		r = store_err(state_store(st),
		    "cannot read the secret history");
		sqlite3_reset(s);
		json_decref(arr);
		return r;
	}
	sqlite3_reset(s);
	*out = arr;
	return CUST_OK;
}

static int
set_state(struct cust_state *st, int64_t id, const char *kind,
    int64_t version, const char *state, int64_t now)
{
	/* The old row must be intact; the new MAC is over the new values. */
	sqlite3_stmt *s = store_stmt(state_store(st),
	    "UPDATE secret SET state = ?1, "
	    "changed = ?2, mac = custody_mac('secret', device_id, kind, "
	    "version, ?1, sealed, created, ?2) WHERE device_id = ?3 AND "
	    "kind = ?4 AND version = ?5 AND " STORE_CHECK(STORE_ROW_SECRET));

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, id);
	sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, version);
	return store_step_done(state_store(st), s,
	    "cannot change the secret state");
}

/* What a rotation needs to know of one device and kind. */
struct devkind {
	int64_t id;
	int found;		/* the device exists */
	int active;
	int has_pending;
	int64_t pending;	/* the pending version, if has_pending */
	int64_t maxv;		/* the highest version */
	int live;		/* a current or in-flight version exists */
	int64_t pushed;		/* the version pushed (outcome unknown), or 0 */
	char fqdn[CUST_MAX_FQDN + 1];
};

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Read the versions of kind for the devices ids[0..n) (sorted) with one
 * range scan instead of one query per device. When the ids are sparse
 * (a small tag in a large fleet) the range would be mostly other devices:
 * then each id is its own one-row range.
 */
static int
prefetch(struct cust_state *st, const int64_t *ids, size_t n,
    const char *kind, struct devkind *dk)
{
	sqlite3_stmt *s;
	size_t i, j = 0;
	int64_t lo, hi;
	int rc, sparse = (uint64_t)(ids[n - 1] - ids[0]) > 4 * (uint64_t)n + 64;

	for (i = 0; i < n; i++) {
		memset(&dk[i], 0, sizeof(dk[i]));
		dk[i].id = ids[i];
	}
	s = store_stmt(state_store(st),
	    "SELECT d.id, d.fqdn, d.state = 'active', "
	    "MAX(s.version), MAX(CASE WHEN s.state = 'pending' THEN s.version "
	    "END), MAX(s.state IN ('current', 'pending', 'pushed')), "
	    "MAX(CASE WHEN s.state = 'pushed' THEN s.version END) "
	    "FROM device d LEFT JOIN secret s ON s.device_id = d.id AND "
	    "s.kind = ?1 WHERE d.id BETWEEN ?2 AND ?3 GROUP BY d.id "
	    "ORDER BY d.id");
	if (s == NULL)
		return CUST_E_DB;
	for (i = 0; i < (sparse ? n : 1); i++) {
		lo = sparse ? ids[i] : ids[0];
		hi = sparse ? ids[i] : ids[n - 1];
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, lo);
		sqlite3_bind_int64(s, 3, hi);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(s, 0);
			struct devkind *d;

			while (j < n && dk[j].id < id)
				j++;
			if (j == n)
				break;
			if (dk[j].id != id)
				continue;	/* in range, not selected */
			d = &dk[j];
			d->found = 1;
			snprintf(d->fqdn, sizeof(d->fqdn), "%s",
			    (const char *)sqlite3_column_text(s, 1));
			d->active = sqlite3_column_int(s, 2);
			d->maxv = sqlite3_column_int64(s, 3);
			d->has_pending = sqlite3_column_type(s, 4) !=
			    SQLITE_NULL;
			d->pending = sqlite3_column_int64(s, 4);
			d->live = sqlite3_column_int(s, 5);
			d->pushed = sqlite3_column_int64(s, 6);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			rc = store_err(state_store(st),
			    "cannot read the secret versions");
			sqlite3_reset(s);
			return rc;
		}
	}
	sqlite3_reset(s);
	return CUST_OK;
}

/* One device, one kind, inside the batch transaction. */
static int
rotate_one(struct cust_state *st, const char *actor, const struct devkind *d,
    const char *kind, size_t pwlen, int replace, int64_t now,
    int64_t *version_out)
{
	unsigned char *pw;
	char detail[96];
	int r;

	*version_out = 0;
	if (!d->found)
		return cust_fail(CUST_E_NOTFOUND, "device %lld is gone",
		    (long long)d->id);
	if (!d->active)
		return cust_fail(CUST_E_NOTFOUND, "device %s was removed",
		    d->fqdn);
	/* A console credential is granted by the policy (console.c), never
	 * made by a rotation: only one the device holds is rotated. */
	if (strncmp(kind, CRED_KIND_CONSOLE, strlen(CRED_KIND_CONSOLE)) ==
	    0 && !d->live)
		return cust_fail(CUST_E_NOTFOUND, "%s holds no %s credential",
		    d->fqdn, kind);
	/* A version sent to the device with no known outcome may be what
	 * the device holds: never replaced, even with --replace-pending,
	 * until reconciliation settles it (src/cred/push.c). */
	if (d->pushed > 0) {
		snprintf(detail, sizeof(detail), "%s v%lld was pushed, outcome "
		    "unknown", kind, (long long)d->pushed);
		if ((r = audit_append(state_audit(st), actor, "password.rotate",
		    d->fqdn, "refused", detail)) != CUST_OK)
			return r;
		return cust_fail(CUST_E_CONFLICT, "%s: %s password v%lld was "
		    "pushed to the device and its outcome is unknown: it is "
		    "settled first (a push to the device reconciles it)",
		    d->fqdn, kind, (long long)d->pushed);
	}
	if (d->has_pending && !replace) {
		snprintf(detail, sizeof(detail), "%s v%lld is still pending",
		    kind, (long long)d->pending);
		if ((r = audit_append(state_audit(st), actor, "password.rotate",
		    d->fqdn, "refused", detail)) != CUST_OK)
			return r;
		return cust_fail(CUST_E_CONFLICT, "%s: %s password v%lld is "
		    "still pending (confirm it, or rotate with "
		    "--replace-pending)", d->fqdn, kind, (long long)d->pending);
	}
	if (d->has_pending && (r = set_state(st, d->id, kind, d->pending,
	    "failed", now)) != CUST_OK)
		return r;
	pw = seal_secret_data(state_scratch(st));
	if ((r = cred_pw_fill(pw, pwlen)) != CUST_OK)
		return r;
	r = cred_secret_put(st, d->id, d->fqdn, kind, d->maxv + 1, "pending",
	    pw, pwlen, now);
	sodium_memzero(pw, pwlen);
	if (r != CUST_OK)
		return r;
	if (d->has_pending)
		snprintf(detail, sizeof(detail), "%s v%lld pending; v%lld "
		    "replaced (failed)", kind, (long long)(d->maxv + 1),
		    (long long)d->pending);
	else
		snprintf(detail, sizeof(detail), "%s v%lld pending", kind,
		    (long long)(d->maxv + 1));
	if ((r = audit_append(state_audit(st), actor, "password.rotate",
	    d->fqdn, "ok", detail)) != CUST_OK)
		return r;
	*version_out = d->maxv + 1;
	return CUST_OK;
}

static void
add_item(struct cred_rotate_result *res, const char *fqdn, const char *kind,
    int64_t version, int err)
{
	json_t *o;

	if (res->items == NULL || (o = json_object()) == NULL)
		return;
	json_object_set_new(o, "fqdn", json_string(fqdn));
	json_object_set_new(o, "kind", json_string(kind));
	if (err == CUST_OK) {
		json_object_set_new(o, "version", json_integer(version));
		json_object_set_new(o, "state", json_string("pending"));
	} else {
		json_object_set_new(o, "error", json_string(cust_errmsg()));
	}
	json_array_append_new(res->items, o);
}

/* One batch: every kind of every device in sorted[0..n), one transaction. */
static int
rotate_batch(struct cust_state *st, const char *actor, const int64_t *sorted,
    size_t n, const char *const *kinds, size_t nk, size_t pwlen,
    int replace, struct devkind *dk, const struct cred_rotate_hooks *h,
    struct cred_rotate_result *res)
{
	int64_t ver, now = util_now();
	size_t i, k;
	int r, e;

	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	/* one seal per device: held for the batch */
	seal_hold(state_seal(st));
	for (k = 0; k < nk; k++) {
		if ((r = prefetch(st, sorted, n, kinds[k], dk)) != CUST_OK)
			goto fail;
		for (i = 0; i < n; i++) {
			e = rotate_one(st, actor, &dk[i], kinds[k], pwlen,
			    replace, now, &ver);
			if (e == CUST_E_CONFLICT)
				res->refused++;
			else if (e == CUST_E_NOTFOUND)
				res->missing++;
			else if (e != CUST_OK) {
				r = e;
				goto fail;
			} else
				res->rotated++;
			add_item(res, dk[i].fqdn, kinds[k], ver, e);
			if (h != NULL && h->item != NULL && (r = h->item(h->arg,
			    dk[i].id, kinds[k], ver, e)) != CUST_OK)
				goto fail;
		}
	}
	/* its head record: still held */
	r = store_commit(state_store(st));
	seal_release(state_seal(st));
	return r;
fail:
	seal_release(state_seal(st));
	store_rollback(state_store(st));
	return r;
}

int
cred_rotate(struct cust_state *st, const char *actor, const int64_t *ids,
    size_t n, const char *kind, size_t pwlen, int replace_pending,
    int want_items, void (*progress)(void *arg, size_t done, size_t total),
    void *arg, struct cred_rotate_result *res)
{
	struct cred_rotate_hooks h = { progress, NULL, arg };

	return cred_rotate_with(st, actor, ids, n, kind, pwlen,
	    replace_pending, want_items, &h, res);
}

int
cred_rotate_with(struct cust_state *st, const char *actor,
    const int64_t *ids, size_t n, const char *kind, size_t pwlen,
    int replace_pending, int want_items, const struct cred_rotate_hooks *h,
    struct cred_rotate_result *res)
{
	static const char *both[] = { CRED_KIND_ADMIN, CRED_KIND_MEBX };
	const char *kinds[2];
	char buf[CRED_KIND_MAX];
	struct devkind *dk = NULL;
	int64_t *sorted = NULL;
	size_t nk, done = 0, m;
	int r = CUST_OK;

	memset(res, 0, sizeof(*res));
	if (strcmp(kind, "all") == 0) {
		kinds[0] = both[0];
		kinds[1] = both[1];
		nk = 2;
	} else if (strncmp(kind, CRED_KIND_CONSOLE,
	    strlen(CRED_KIND_CONSOLE)) == 0) {
		if ((r = cred_console_kind(kind + strlen(CRED_KIND_CONSOLE),
		    buf, sizeof(buf))) != CUST_OK)
			return r;
		kinds[0] = kind;	/* the caller's, valid */
		nk = 1;
	} else {
		if ((r = cred_kind(kind, &kinds[0])) != CUST_OK)
			return r;
		nk = 1;
	}
	if (pwlen < CRED_PW_MIN || pwlen > CRED_PW_MAX)
		return cust_fail(CUST_E_INVAL, "password length must be %d to "
		    "%d", CRED_PW_MIN, CRED_PW_MAX);
	if (n == 0)
		return CUST_OK;
	if ((sorted = malloc(n * sizeof(*sorted))) == NULL ||
	    (dk = calloc(n < CRED_ROTATE_BATCH ? n : CRED_ROTATE_BATCH,
	    sizeof(*dk))) == NULL ||
	    (want_items && (res->items = json_array()) == NULL)) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_id);
	for (m = done = 1; m < n; m++)	/* a device named twice: once */
		if (sorted[m] != sorted[done - 1])
			sorted[done++] = sorted[m];
	n = done;
	done = 0;
	while (done < n) {
		m = n - done < CRED_ROTATE_BATCH ? n - done : CRED_ROTATE_BATCH;
		if ((r = rotate_batch(st, actor, sorted + done, m, kinds, nk,
		    pwlen, replace_pending, dk, h, res)) != CUST_OK) {
			if (done > 0)	/* say what did commit */
				r = cust_fail(r, "%s; the %zu devices of the "
				    "batches before were rotated (pending) and "
				    "committed", cust_errmsg(), done);
			goto out;
		}
		done += m;
		if (h != NULL && h->progress != NULL)
			h->progress(h->arg, done, n);
	}
	if (res->refused > 0 || res->missing > 0)
		r = cust_fail(CUST_E_CONFLICT, "%zu rotated, %zu refused "
		    "(already pending), %zu devices gone", res->rotated,
		    res->refused, res->missing);
out:
	free(sorted);
	free(dk);
	return r;
}

int
cred_confirm(struct cust_state *st, const char *actor, const char *fqdn,
    const char *kind, int64_t version)
{
	return cred_settle(st, actor, "password.confirm", NULL, fqdn, kind,
	    version);
}

/*
 * cred_settle() in the caller's write transaction (cred_int.h): norm is
 * the normalised FQDN. CUST_E_NOTFOUND (no such device or version) and
 * CUST_E_CONFLICT (not in flight: refused holds the audit detail) are the
 * version's own refusals and write nothing; any other error is the
 * store's.
 */
int
cred_settle_in(struct cust_state *st, const char *actor, const char *action,
    const char *note, const char *norm, const char *kind, int64_t version,
    char *refused, size_t rlen)
{
	sqlite3_stmt *s;
	int64_t id, cur = 0, now = util_now();
	char detail[256];
	const char *state = NULL, *fqdn = norm;
	int rc, r, was_failed;

	*refused = '\0';
	if ((r = cred_device_find(st, fqdn, &id)) != CUST_OK)
		return r;
	s = store_stmt(state_store(st),
	    "SELECT (SELECT state FROM secret WHERE "
	    "device_id = ?1 AND kind = ?2 AND version = ?3 AND "
	    STORE_CHECK(STORE_ROW_SECRET) "), (SELECT version FROM secret "
	    "WHERE device_id = ?1 AND kind = ?2 AND state = 'current' AND "
	    STORE_CHECK(STORE_ROW_SECRET) ")");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, version);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = store_err(state_store(st),
		    "cannot read the secret versions");
		sqlite3_reset(s);
		return r;
	}
	if (sqlite3_column_type(s, 0) != SQLITE_NULL)
		state = state_str(sqlite3_column_text(s, 0));
	cur = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	if (state == NULL)
		return cust_fail(CUST_E_NOTFOUND, "%s has no %s password v%lld",
		    fqdn, kind, (long long)version);
	/*
	 * A version in flight (pending, or pushed to a device), or a failed
	 * one newer than the current: a version replaced with
	 * --replace-pending may still have reached the device, and the
	 * console that applied it must be able to say so.
	 */
	was_failed = strcmp(state, "failed") == 0 && version > cur;
	if (strcmp(state, "pending") != 0 && strcmp(state, "pushed") != 0 &&
	    !was_failed) {
		snprintf(refused, rlen, "%s v%lld is %s", kind,
		    (long long)version, state);
		return cust_fail(CUST_E_CONFLICT, "%s: %s password v%lld is "
		    "%s: only a version in flight (pending or pushed), or a "
		    "failed one newer than the current (v%lld), can become "
		    "current", fqdn, kind,
		    (long long)version, state, (long long)cur);
	}
	if (cur > 0 && (r = set_state(st, id, kind, cur, "retired", now)) !=
	    CUST_OK)
		return r;
	if ((r = set_state(st, id, kind, version, "current", now)) != CUST_OK)
		return r;
	snprintf(detail, sizeof(detail), "%s v%lld current%s; v%lld retired%s%s",
	    kind, (long long)version, was_failed ? " (was failed)" : "",
	    (long long)cur, note != NULL ? "; " : "", note != NULL ? note : "");
	return audit_append(state_audit(st), actor, action, fqdn, "ok",
	    detail);
}

int
cred_settle(struct cust_state *st, const char *actor, const char *action,
    const char *note, const char *fqdn, const char *kind, int64_t version)
{
	char norm[CUST_MAX_FQDN + 1], refused[256];
	int r;

	if ((r = cred_fqdn_norm(fqdn, norm, sizeof(norm))) != CUST_OK)
		return r;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	r = cred_settle_in(st, actor, action, note, norm, kind, version,
	    refused, sizeof(refused));
	if (r == CUST_OK)
		return store_commit(state_store(st));
	store_rollback(state_store(st));
	if (*refused != '\0')
		(void)audit_note(state_audit(st), actor, action, norm,
		    "refused", refused);
	else if (store_tampered(state_store(st)))
		(void)audit_note(state_audit(st), actor, action, norm,
		    "failed", "a secret row was altered");
	return r;
}

static void
problem(json_t *arr, const char *fqdn, const char *kind, int64_t version,
    const char *what)
{
	json_t *o = json_object();

	json_object_set_new(o, "fqdn", json_string(fqdn));
	json_object_set_new(o, "kind", json_string(kind));
	if (version > 0)
		json_object_set_new(o, "version", json_integer(version));
	json_object_set_new(o, "problem", json_string(what));
	json_array_append_new(arr, o);
}

int
cred_verify(struct cust_state *st, const char *actor, json_t **out)
{
	return cred_verify_with(st, actor, NULL, NULL, out);
}

int
cred_verify_with(struct cust_state *st, const char *actor,
    int (*item)(void *arg, int64_t device_id, const char *kind,
    int64_t version, const char *problem), void *arg, json_t **out)
{
	const char *why;
	sqlite3_stmt *s;
	json_t *res, *probs;
	struct seal_secret *pw;
	long long devices = 0, secrets = 0, bad = 0, nocur = 0;
	int rc, r = CUST_OK;

	*out = NULL;
	if ((res = json_object()) == NULL || (probs = json_array()) == NULL) {
		json_decref(res);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	/* Every secret is unsealed: the data key stays readable throughout
	 * (two mprotect calls, not two per secret). */
	seal_hold(state_seal(st));
	/* Devices lacking a current version of a kind. */
	s = store_stmt(state_store(st),
	    "SELECT d.fqdn, k.kind, (SELECT COUNT(*) "
	    "FROM secret x WHERE x.device_id = d.id AND x.kind = k.kind AND "
	    "x.state = 'current'), d.id FROM device d CROSS JOIN (SELECT 'admin' "
	    "AS kind UNION ALL SELECT 'mebx') k WHERE d.state = 'active' "
	    "AND " CRED_VISIBLE("d") " ORDER BY d.fqdn");
	if (s == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (strcmp((const char *)sqlite3_column_text(s, 1), "admin")
		    == 0)
			devices++;
		if (sqlite3_column_int(s, 2) != 1) {
			nocur++;
			problem(probs, (const char *)sqlite3_column_text(s, 0),
			    (const char *)sqlite3_column_text(s, 1), 0,
			    "no current version");
			if (item != NULL && (r = item(arg,
			    sqlite3_column_int64(s, 3), (const char *)
			    sqlite3_column_text(s, 1), 0, "no current version"))
			    != CUST_OK)
				break;
		}
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read the devices");
	sqlite3_reset(s);
	if (r != CUST_OK)
		goto out;
	/* Each row's MAC too: an altered row is a problem of its own. */
	s = store_stmt(state_store(st), "SELECT d.fqdn, s.device_id, s.kind, "
	    "s.version, s.sealed, s.ok FROM (SELECT device_id, kind, version, "
	    "state, sealed, " STORE_MAC_OK(STORE_ROW_SECRET) " AS ok FROM "
	    "secret) s JOIN device d ON d.id = s.device_id WHERE d.state = "
	    "'active' AND " CRED_VISIBLE("d") " AND s.state IN ('current', "
	    "'pending', 'pushed') "
	    "ORDER BY d.fqdn, s.kind, s.version");
	if (s == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *fqdn = (const char *)sqlite3_column_text(s, 0);
		const char *kind = (const char *)sqlite3_column_text(s, 2);
		int64_t ver = sqlite3_column_int64(s, 3);

		secrets++;
		why = NULL;
		if (sqlite3_column_int(s, 5) != 1)
			why = "altered in the store (its row MAC does not "
			    "match)";
		else if (unseal_row(st, sqlite3_column_int64(s, 1), fqdn, kind,
		    ver, sqlite3_column_blob(s, 4), sqlite3_column_bytes(s, 4),
		    &pw) != CUST_OK)
			why = "cannot be unsealed";
		else {
			if (cred_pw_check(seal_secret_str(pw),
			    seal_secret_len(pw)) != CUST_OK)
				why = "breaks the AMT password rules";
			seal_secret_free(pw);
		}
		if (why != NULL) {
			bad++;
			problem(probs, fqdn, kind, ver, why);
		}
		if (item != NULL && (r = item(arg, sqlite3_column_int64(s, 1),
		    kind, ver, why)) != CUST_OK)
			break;
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read the secrets");
	sqlite3_reset(s);
	if (r != CUST_OK)
		goto out;
	json_object_set_new(res, "devices", json_integer(devices));
	json_object_set_new(res, "secrets", json_integer(secrets));
	json_object_set_new(res, "unreadable", json_integer(bad));
	json_object_set_new(res, "no_current", json_integer(nocur));
	json_object_set_new(res, "problems", probs);
	probs = NULL;
	r = audit_append(state_audit(st), actor, "password.verify", "*",
	    bad || nocur ? "problems" : "ok", NULL);
	if (r == CUST_OK && (bad || nocur))
		r = cust_fail(CUST_E_VIOLATION, "%lld secrets unreadable or "
		    "invalid, %lld device secrets without a current version",
		    bad, nocur);
	if (r == CUST_OK || r == CUST_E_VIOLATION) {
		*out = res;
		res = NULL;
	}
out:
	seal_release(state_seal(st));
	json_decref(probs);
	json_decref(res);
	return r;
}
