/* SPDX-License-Identifier: MIT */
/* src/cred/device.c - the device inventory: add, remove, look up, list. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "audit.h"
#include "cred_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

int
cred_fqdn_norm(const char *in, char *buf, size_t len)
{
	size_t n = strlen(in);

	if (n >= len || util_valid_fqdn(in) != CUST_OK)
		return cust_fail(CUST_E_INVAL, "'%.*s' is not a valid FQDN "
		    "(dot-separated labels of letters, digits and '-')",
		    n > 80 ? 80 : (int)n, in);
	memcpy(buf, in, n + 1);
	util_lower(buf);
	return CUST_OK;
}

int
cred_kind(const char *in, const char **out)
{
	if (in == NULL || strcmp(in, CRED_KIND_ADMIN) == 0)
		*out = CRED_KIND_ADMIN;
	else if (strcmp(in, CRED_KIND_MEBX) == 0)
		*out = CRED_KIND_MEBX;
	else
		return cust_fail(CUST_E_INVAL, "unknown secret kind '%s' (use "
		    "admin or mebx)", in);
	return CUST_OK;
}

size_t
cred_secret_ad(char *buf, int64_t device_id, const char *fqdn,
    const char *kind, int64_t version)
{
	int n = snprintf(buf, CRED_AD_MAX, "custody:v1:secret:%lld:%s:%s:%lld",
	    (long long)device_id, fqdn, kind, (long long)version);

	return n < 0 || n >= CRED_AD_MAX ? 0 : (size_t)n;
}

int
cred_secret_put(struct cust_state *st, int64_t device_id, const char *fqdn,
    const char *kind, int64_t version, const char *state,
    const unsigned char *pw, size_t len, int64_t now)
{
	unsigned char ct[SEAL_OVERHEAD + CRED_PW_MAX];
	char ad[CRED_AD_MAX];
	size_t adlen;
	sqlite3_stmt *s;
	int r;

	if (len > CRED_PW_MAX)
		return cust_fail(CUST_E_INVAL, "secret too long");
	adlen = cred_secret_ad(ad, device_id, fqdn, kind, version);
	if (adlen == 0)
		return cust_fail(CUST_E_INTERNAL, "associated data too long");
	if ((r = seal_encrypt_buf(state_seal(st), pw, len, ad,
	    adlen, ct)) != CUST_OK)
		return r;
	/* Parameters typed as the columns store them: the MAC is over the
	 * stored values (src/store/rowmac.c). */
	s = store_stmt(state_store(st), "INSERT INTO secret(device_id, kind, "
	    "version, state, sealed, created, changed, mac) VALUES (?1, ?2, "
	    "?3, ?4, ?5, ?6, ?7, custody_mac('secret', ?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7))");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, device_id);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, version);
	sqlite3_bind_text(s, 4, state, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, ct, (int)(SEAL_OVERHEAD + len), SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, now);
	sqlite3_bind_int64(s, 7, now);
	return store_step_done(state_store(st), s, "cannot store the secret");
}

int
cred_device_stage(struct cust_state *st, const char *actor,
    const struct cred_device_spec *spec, size_t pwlen, int64_t import_id,
    int64_t *id_out)
{
	const struct seal_secret *given[2] = { spec->admin_pw, spec->mebx_pw };
	static const char *kinds[2] = { CRED_KIND_ADMIN, CRED_KIND_MEBX };
	char fqdn[CUST_MAX_FQDN + 1], uuid[37] = "", realm[48] = "";
	int64_t id, now = util_now();
	sqlite3_stmt *s;
	size_t i;
	int r;

	if ((r = cred_fqdn_norm(spec->fqdn, fqdn, sizeof(fqdn))) != CUST_OK)
		return r;
	if (spec->uuid != NULL && *spec->uuid != '\0') {
		if (strlen(spec->uuid) >= sizeof(uuid) ||
		    util_valid_uuid(spec->uuid) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "'%.40s' is not an AMT "
			    "UUID (8-4-4-4-12 hex digits)", spec->uuid);
		memcpy(uuid, spec->uuid, strlen(spec->uuid) + 1);
		util_lower(uuid);
	}
	if (spec->digest_realm != NULL && *spec->digest_realm != '\0') {
		if (util_valid_digest_realm(spec->digest_realm) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "'%.48s' is not an AMT "
			    "digest realm ('Digest:' and 32 hex digits)",
			    spec->digest_realm);
		/* Registered as AMT spells it, its digits in upper case: the
		 * DigestPasswords and the HA1s consoles fetch are made with
		 * the registered spelling, and the conversations take a
		 * device for it only as spelled (amt_realm_differs()). */
		memcpy(realm, spec->digest_realm, strlen(spec->digest_realm) +
		    1);
		for (i = sizeof("Digest:") - 1; realm[i] != '\0'; i++)
			realm[i] = (char)toupper((unsigned char)realm[i]);
	}
	if (spec->address != NULL && *spec->address != '\0' &&
	    (r = util_parse_address(spec->address, NULL, 0, NULL)) != CUST_OK)
		return r;
	for (i = 0; i < spec->ntags; i++)
		if (util_valid_tag(spec->tags[i]) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "'%.64s' is not a valid "
			    "tag (1-64 of A-Z a-z 0-9 . _ -)", spec->tags[i]);
	for (i = 0; i < 2; i++)
		if (given[i] != NULL && cred_pw_check(seal_secret_str(given[i]),
		    seal_secret_len(given[i])) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "the %s password given "
			    "for %s: %s", kinds[i], fqdn, cust_errmsg());

	s = store_stmt(state_store(st), "INSERT INTO device(fqdn, uuid, "
	    "digest_realm, state, created, import_id, address) VALUES (?, ?, "
	    "?, 'active', ?, ?, ?)");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, fqdn, -1, SQLITE_TRANSIENT);
	if (*uuid)
		sqlite3_bind_text(s, 2, uuid, -1, SQLITE_TRANSIENT);
	if (*realm != '\0')
		sqlite3_bind_text(s, 3, realm, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, now);
	if (import_id != 0)
		sqlite3_bind_int64(s, 5, import_id);
	if (spec->address != NULL && *spec->address != '\0')
		sqlite3_bind_text(s, 6, spec->address, -1, SQLITE_STATIC);
	r = store_step_done(state_store(st), s, "cannot add the device");
	if (r == CUST_E_CONFLICT)
		return cust_fail(CUST_E_EXISTS, "device %s is already "
		    "registered", fqdn);
	if (r != CUST_OK)
		return r;
	id = sqlite3_last_insert_rowid(store_db(state_store(st)));
	for (i = 0; i < spec->ntags; i++) {
		s = store_stmt(state_store(st),
		    "INSERT OR IGNORE INTO device_tag("
		    "device_id, tag) VALUES (?, ?)");
		if (s == NULL)
			return CUST_E_DB;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, spec->tags[i], -1, SQLITE_STATIC);
		if ((r = store_step_done(state_store(st), s,
		    "cannot tag the device")) != CUST_OK)
			return r;
	}
	/*
	 * Version 1 of each secret is 'current': either the password the
	 * device already has (adopted) or the one custody assigns it for
	 * provisioning. Nothing is superseded, so nothing is pending.
	 */
	for (i = 0; i < 2; i++) {
		unsigned char *pw = seal_secret_data(state_scratch(st));
		size_t len = pwlen;

		if (given[i] != NULL) {
			len = seal_secret_len(given[i]);
			memcpy(pw, seal_secret_str(given[i]), len);
		} else if ((r = cred_pw_fill(pw, pwlen)) != CUST_OK) {
			return r;
		}
		r = cred_secret_put(st, id, fqdn, kinds[i], 1, "current", pw,
		    len, now);
		sodium_memzero(pw, len);
		if (r != CUST_OK)
			return r;
	}
	/* A staged device is audited when its import is published. */
	if (import_id == 0 && (r = audit_append(state_audit(st), actor,
	    "device.add", fqdn, "ok", given[0] || given[1] ?
	    "adopted existing passwords" : NULL)) != CUST_OK)
		return r;
	if (id_out != NULL)
		*id_out = id;
	return CUST_OK;
}

int
cred_device_add(struct cust_state *st, const char *actor,
    const struct cred_device_spec *spec, size_t pwlen, int64_t *id_out)
{
	int r, own = !store_in_txn(state_store(st));

	/* An import whose process died holds its names until swept: free
	 * them first (one read of an empty table when none is left). */
	if (own && (r = cred_import_sweep(st, NULL)) != CUST_OK)
		return r;
	if (own && (r = store_begin(state_store(st))) != CUST_OK)
		return r;
	r = cred_device_stage(st, actor, spec, pwlen, 0, id_out);
	if (own) {
		if (r == CUST_OK)
			r = store_commit(state_store(st));
		else
			store_rollback(state_store(st));
	}
	return r;
}

int
cred_device_find(struct cust_state *st, const char *fqdn, int64_t *id_out)
{
	char norm[CUST_MAX_FQDN + 1];
	sqlite3_stmt *s;
	int rc, r;

	*id_out = 0;
	if ((r = cred_fqdn_norm(fqdn, norm, sizeof(norm))) != CUST_OK)
		return r;
	s = store_stmt(state_store(st),
	    "SELECT id FROM device d WHERE fqdn = ? "
	    "AND state = 'active' AND " CRED_VISIBLE("d"));
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, norm, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id_out = sqlite3_column_int64(s, 0);
		r = CUST_OK;
	} else if (rc == SQLITE_DONE) {
		r = cust_fail(CUST_E_NOTFOUND, "no device %s", norm);
	} else {
		r = store_err(state_store(st),
		    "cannot read the device inventory");
	}
	sqlite3_reset(s);
	return r;
}

int
cred_device_in_scope(struct cust_state *st, const char *fqdn,
    const char *const *tags, size_t ntags)
{
	char norm[CUST_MAX_FQDN + 1];
	sqlite3_stmt *s;
	size_t i;
	int rc = SQLITE_DONE;

	if (cred_fqdn_norm(fqdn, norm, sizeof(norm)) != CUST_OK)
		return cust_fail(CUST_E_NOTFOUND, "not a device in scope");
	/* By the active FQDN index, then the (device, tag) key: two seeks
	 * per tag. */
	s = store_stmt(state_store(st),
	    "SELECT 1 FROM device d JOIN device_tag t "
	    "ON t.device_id = d.id WHERE d.fqdn = ? AND d.state = 'active' "
	    "AND t.tag = ? AND " CRED_VISIBLE("d"));
	if (s == NULL)
		return CUST_E_DB;
	for (i = 0; i < ntags && rc == SQLITE_DONE; i++) {
		sqlite3_bind_text(s, 1, norm, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, tags[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
	}
	if (rc == SQLITE_ROW)
		return CUST_OK;
	if (rc != SQLITE_DONE)
		return store_err(state_store(st),
		    "cannot read the device inventory");
	return cust_fail(CUST_E_NOTFOUND, "%s is not a device in scope",
	    norm);
}

int
cred_counts(struct cust_state *st, struct cred_counts *out)
{
	sqlite3_stmt *s;
	static const char *const names[] = { "device:active",
	    "device:retired", "secret:pending" };
	int64_t *const slots[] = { &out->devices, &out->retired_devices,
	    &out->pending_secrets };
	const char *name;
	size_t i;
	int rc, seen = 0;

	memset(out, 0, sizeof(*out));
	if ((s = store_stmt(state_store(st),
	    "SELECT name, n FROM cred_count")) == NULL)
		return CUST_E_DB;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(s, 0);
		for (i = 0; name != NULL && i < 3; i++)
			if (strcmp(name, names[i]) == 0) {
				*slots[i] = sqlite3_column_int64(s, 1);
				seen |= 1 << i;
			}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_err(state_store(st),
		    "cannot read the device counts");
	if (seen != 7)
		return cust_fail(CUST_E_DB, "the store's device counts are "
		    "missing: the store is damaged");
	return CUST_OK;
}

/* The SQL below is built by the compiler, not on first use: threads run
 * it at once, and the statement cache is keyed by its address. */
#define DEVICE_COLS \
    "SELECT d.id, d.fqdn, d.uuid, d.digest_realm, d.amt_version, d.state, " \
    "d.created, (SELECT json_group_array(tag) FROM (SELECT tag FROM " \
    "device_tag t WHERE t.device_id = d.id ORDER BY tag)), d.address " \
    "FROM device d "

static json_t *
row_device(sqlite3_stmt *s)
{
	json_t *d = json_object(), *tags;
	const char *v;
	char tbuf[32];
	int i;
	static const char *names[] = { "uuid", "digest_realm", "amt_version" };

	if (d == NULL)
		return NULL;
	json_object_set_new(d, "id", json_integer(sqlite3_column_int64(s, 0)));
	json_object_set_new(d, "fqdn",
	    json_string((const char *)sqlite3_column_text(s, 1)));
	for (i = 0; i < 3; i++) {
		v = (const char *)sqlite3_column_text(s, 2 + i);
		json_object_set_new(d, names[i], v ? json_string(v) :
		    json_null());
	}
	json_object_set_new(d, "state",
	    json_string((const char *)sqlite3_column_text(s, 5)));
	util_fmt_time(sqlite3_column_int64(s, 6), tbuf, sizeof(tbuf));
	json_object_set_new(d, "created", json_string(tbuf));
	v = (const char *)sqlite3_column_text(s, 7);
	tags = v ? json_loads(v, 0, NULL) : NULL;
	json_object_set_new(d, "tags", tags ? tags : json_array());
	v = (const char *)sqlite3_column_text(s, 8);
	json_object_set_new(d, "address", v ? json_string(v) : json_null());
	return d;
}

void
cred_device_ref_free(struct cred_device_ref *ref)
{
	free(ref->realm);
	json_decref(ref->tags);
	memset(ref, 0, sizeof(*ref));
}

int
cred_device_ref_get(struct cust_state *st, const char *fqdn,
    struct cred_device_ref *out)
{
	const char *realm, *tags;
	sqlite3_stmt *s;
	int rc, r;

	memset(out, 0, sizeof(*out));
	if ((r = cred_fqdn_norm(fqdn, out->fqdn, sizeof(out->fqdn))) !=
	    CUST_OK)
		return r;
	s = store_stmt(state_store(st),
	    "SELECT d.id, d.digest_realm, (SELECT json_group_array(tag) FROM "
	    "(SELECT tag FROM device_tag t WHERE t.device_id = d.id ORDER BY "
	    "tag)) FROM device d WHERE d.fqdn = ? AND d.state = 'active' AND "
	    CRED_VISIBLE("d"));
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, out->fqdn, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		realm = (const char *)sqlite3_column_text(s, 1);
		tags = (const char *)sqlite3_column_text(s, 2);
		out->tags = tags != NULL ? json_loads(tags, 0, NULL) :
		    json_array();
		r = (realm != NULL && (out->realm = strdup(realm)) == NULL) ||
		    !json_is_array(out->tags) ? cust_fail(CUST_E_NOMEM,
		    "out of memory") : CUST_OK;
	} else if (rc == SQLITE_DONE)
		r = cust_fail(CUST_E_NOTFOUND, "no device %s", out->fqdn);
	else
		r = store_err(state_store(st), "cannot read the device "
		    "inventory");
	sqlite3_reset(s);
	if (r != CUST_OK)
		cred_device_ref_free(out);
	return r;
}

int
cred_device_get(struct cust_state *st, const char *fqdn, json_t **out)
{
	sqlite3_stmt *s;
	int64_t id;
	int r, rc;

	*out = NULL;
	if ((r = cred_device_find(st, fqdn, &id)) != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st),
	    DEVICE_COLS "WHERE d.id = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = row_device(s);
	r = rc == SQLITE_ROW ? (*out ? CUST_OK : CUST_E_NOMEM) :
	    store_err(state_store(st), "cannot read the device");
	sqlite3_reset(s);
	return r;
}

int
cred_device_each(struct cust_state *st, const char *tag,
    int (*fn)(void *arg, json_t *dev), void *arg)
{
	return cred_device_page(st, tag, NULL, 0, fn, arg);
}

int
cred_device_page(struct cust_state *st, const char *tag, const char *after,
    size_t limit, int (*fn)(void *arg, json_t *dev), void *arg)
{
	sqlite3_stmt *s;
	json_t *d;
	int rc, r = CUST_OK;

	/* Keyset paging: active FQDNs are unique (device_fqdn_active). */
	if ((s = store_stmt(state_store(st),
	    tag ? DEVICE_COLS "JOIN device_tag dt "
	    "ON dt.device_id = d.id AND dt.tag = ?1 WHERE d.state = 'active' "
	    "AND d.fqdn > ?2 AND " CRED_VISIBLE("d") " ORDER BY d.fqdn LIMIT ?3"
	    : DEVICE_COLS "WHERE d.state = 'active' AND d.fqdn > ?2 AND "
	    CRED_VISIBLE("d") " ORDER BY d.fqdn LIMIT ?3")) == NULL)
		return CUST_E_DB;
	if (tag != NULL)
		sqlite3_bind_text(s, 1, tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, after != NULL ? after : "", -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, limit > 0 ? (sqlite3_int64)limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((d = row_device(s)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		rc = fn(arg, d);
		json_decref(d);
		if (rc < 0)
			r = rc;		/* the callback's error */
		if (rc != 0)
			break;
	}
	if (r == CUST_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = store_err(state_store(st),
		    "cannot read the device inventory");
	sqlite3_reset(s);
	return r;
}

/*
 * One settable field of a device (device set, and the push protocol that
 * learns a realm): its column, validator and what the audit entry says.
 * The SQL is a literal per field (statements are cached by address).
 */
static const struct {
	const char *field;
	const char *sql;
	int (*check)(const char *v);
} settable[] = {
	{ "address", "UPDATE device SET address = ? WHERE id = ?", NULL },
	{ "digest_realm", "UPDATE device SET digest_realm = ? WHERE id = ?",
	  util_valid_digest_realm },
};

int
cred_device_set(struct cust_state *st, const char *actor, const char *fqdn,
    const char *field, const char *value)
{
	char norm[CUST_MAX_FQDN + 1], detail[UTIL_ADDRESS_MAX + 32];
	sqlite3_stmt *s;
	int64_t id;
	size_t f;
	int r, own = !store_in_txn(state_store(st));

	for (f = 0; f < sizeof(settable) / sizeof(settable[0]); f++)
		if (strcmp(settable[f].field, field) == 0)
			break;
	if (f == sizeof(settable) / sizeof(settable[0]))
		return cust_fail(CUST_E_INVAL, "a device has no settable '%s'",
		    field);
	if (value != NULL && *value == '\0')
		value = NULL;
	if (value != NULL && settable[f].check != NULL &&
	    settable[f].check(value) != CUST_OK)
		return cust_fail(CUST_E_INVAL, "'%.48s' is not an AMT digest "
		    "realm ('Digest:' and 32 hex digits)", value);
	if (value != NULL && settable[f].check == NULL &&
	    (r = util_parse_address(value, NULL, 0, NULL)) != CUST_OK)
		return r;
	if ((r = cred_fqdn_norm(fqdn, norm, sizeof(norm))) != CUST_OK)
		return r;
	if (own && (r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = cred_device_find(st, norm, &id)) != CUST_OK)
		goto fail;
	if ((s = store_stmt(state_store(st), settable[f].sql)) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	if (value != NULL)
		sqlite3_bind_text(s, 1, value, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int64(s, 2, id);
	if ((r = store_step_done(state_store(st), s,
	    "cannot change the device")) != CUST_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "%s %s", field, value ? value :
	    "cleared");
	if ((r = audit_append(state_audit(st), actor, "device.set", norm, "ok",
	    detail)) != CUST_OK)
		goto fail;
	return own ? store_commit(state_store(st)) : CUST_OK;
fail:
	if (own)
		store_rollback(state_store(st));
	return r;
}

int
cred_device_realm_refused(struct cust_state *st, const char *actor,
    const char *fqdn, const char *realm, const char *other)
{
	char detail[512];

	snprintf(detail, sizeof(detail), "digest_realm %.64s refused: %s%.300s "
	    "(the same machine answers at more than one device's address)",
	    realm, strchr(other, ' ') == NULL ? "recorded for " : "",
	    other);
	return audit_append(state_audit(st), actor, "device.set", fqdn,
	    "refused", detail);
}

int
cred_device_unregistered(struct cust_state *st, json_t **out)
{
	json_t *a;
	sqlite3_stmt *s;
	int rc, r = CUST_OK;

	*out = NULL;
	if ((a = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st), "SELECT fqdn FROM device d "
	    "WHERE d.digest_realm IS NULL AND d.state = 'active' AND "
	    CRED_VISIBLE("d") " ORDER BY fqdn")) == NULL) {
		json_decref(a);
		return CUST_E_DB;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (json_array_append_new(a, json_string((const char *)
		    sqlite3_column_text(s, 0))) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read the device "
		    "inventory");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		json_decref(a);
		return r;
	}
	*out = a;
	return CUST_OK;
}

/*
 * A first contact refused: the realm is other's. The refused device.set
 * is audited, and the entry must outlast the refusal: in a transaction
 * of its own (BEGIN IMMEDIATE, nothing else written in it) it is
 * committed, not rolled back; in the caller's it joins it, and the
 * caller commits it (cred.h). Returns CUST_E_CONFLICT with msg, or the
 * store's error.
 */
static int
refuse_realm(struct cust_state *st, const char *actor, const char *norm,
    const char *realm, const char *other, int own, const char *msg)
{
	int r;

	r = cred_device_realm_refused(st, actor, norm, realm, other);
	if (own) {
		if (r == CUST_OK)
			r = store_commit(state_store(st));
		else
			store_rollback(state_store(st));
	}
	if (r != CUST_OK)
		return r;
	return cust_fail(CUST_E_CONFLICT, "%s", msg);
}

/*
 * The first-contact DigestRealm: one write transaction (BEGIN IMMEDIATE
 * takes the write lock before the reads, so a custodyd job and a
 * custodyctl in another process cannot both pass the check with the same
 * realm) reads the device's recorded realm and any other active device
 * holding realm, then records it. Compared without case: the 32 digits
 * are hex.
 */
int
cred_device_first_realm(struct cust_state *st, const char *actor,
    const char *fqdn, const char *realm, int record)
{
	char norm[CUST_MAX_FQDN + 1], other[CUST_MAX_FQDN + 1] = "";
	char have[64] = "";
	sqlite3_stmt *s;
	int64_t id;
	int rc, r, own = !store_in_txn(state_store(st));

	if (util_valid_digest_realm(realm) != CUST_OK)
		return cust_fail(CUST_E_INVAL, "'%.48s' is not an AMT digest "
		    "realm ('Digest:' and 32 hex digits)", realm);
	if ((r = cred_fqdn_norm(fqdn, norm, sizeof(norm))) != CUST_OK)
		return r;
	if (own && (r = record ? store_begin(state_store(st)) :
	    store_begin_read(state_store(st))) != CUST_OK)
		return r;
	if ((r = cred_device_find(st, norm, &id)) != CUST_OK)
		goto fail;
	if ((s = store_stmt(state_store(st), "SELECT (SELECT digest_realm "
	    "FROM device WHERE id = ?1), (SELECT d.fqdn FROM device d WHERE "
	    "d.digest_realm = ?2 COLLATE NOCASE AND d.state = 'active' AND "
	    "d.id <> ?1 AND " CRED_VISIBLE("d") " ORDER BY d.fqdn LIMIT 1)"))
	    == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, realm, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) == SQLITE_TEXT)
			snprintf(have, sizeof(have), "%s",
			    (const char *)sqlite3_column_text(s, 0));
		if (sqlite3_column_type(s, 1) == SQLITE_TEXT)
			snprintf(other, sizeof(other), "%s",
			    (const char *)sqlite3_column_text(s, 1));
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		r = store_err(state_store(st), "cannot read the device "
		    "inventory");
		goto fail;
	}
	if (*have != '\0') {	/* recorded since the caller read it */
		r = strcasecmp(have, realm) == 0 ? CUST_OK : cust_fail(
		    CUST_E_VIOLATION, "the device's DigestRealm %s is not the "
		    "registered %s: not this device, nothing sent", realm,
		    have);
		goto fail;	/* nothing to write */
	}
	if (*other != '\0') {
		char msg[2 * CUST_MAX_FQDN + 256];

		snprintf(msg, sizeof(msg), "the device's DigestRealm %s is "
		    "recorded for %s: another device answers at %s's address "
		    "(device set --address), nothing recorded, nothing sent",
		    realm, other, norm);
		if (record)
			return refuse_realm(st, actor, norm, realm, other,
			    own, msg);
		r = cust_fail(CUST_E_CONFLICT, "%s", msg);
		goto fail;
	}
	if (!record)
		goto fail;	/* r is CUST_OK: the check alone */
	/* Tests widen the window between the check and the write: another
	 * first contact must wait for this transaction (test_realm.c). */
	util_test_delay("first-realm");
	if ((r = cred_device_set(st, actor, norm, "digest_realm", realm)) !=
	    CUST_OK)
		goto fail;
	return own ? store_commit(state_store(st)) : CUST_OK;
fail:
	if (own)
		store_rollback(state_store(st));
	return r;
}

int
cred_device_remove(struct cust_state *st, const char *actor, const char *fqdn)
{
	char norm[CUST_MAX_FQDN + 1];
	sqlite3_stmt *s;
	int64_t id;
	size_t gone;
	int r, own = !store_in_txn(state_store(st));

	if ((r = cred_fqdn_norm(fqdn, norm, sizeof(norm))) != CUST_OK)
		return r;
	fqdn = norm;
	if (own && (r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = cred_device_find(st, fqdn, &id)) != CUST_OK)
		goto fail;
	s = store_stmt(state_store(st), "UPDATE device SET state = 'retired', "
	    "retired = ? WHERE id = ?");
	if (s == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, util_now());
	sqlite3_bind_int64(s, 2, id);
	if ((r = store_step_done(state_store(st), s,
	    "cannot retire the device")) != CUST_OK)
		goto fail;
	/* Its TLS record goes with it: a device added again under the name
	 * is not taken for provisioned (the retired row keeps its mark). */
	s = store_stmt(state_store(st), "DELETE FROM device_tls WHERE fqdn = ?");
	if (s == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_text(s, 1, fqdn, -1, SQLITE_TRANSIENT);
	if ((r = store_step_done(state_store(st), s,
	    "cannot remove the device's TLS record")) != CUST_OK)
		goto fail;
	if ((r = audit_append(state_audit(st), actor, "device.remove", fqdn,
	    "ok", "retired; secret history kept")) != CUST_OK)
		goto fail;
	/* A removed device grants no console anything any more. */
	if ((r = cred_console_withdraw_all(st, actor, id, fqdn, "the device "
	    "was removed", &gone)) != CUST_OK)
		goto fail;
	return own ? store_commit(state_store(st)) : CUST_OK;
fail:
	if (own)
		store_rollback(state_store(st));
	return r;
}

int
cred_select(struct cust_state *st, const char *const *fqdns, size_t nf,
    const char *tag, int all, int64_t **ids_out, size_t *n_out)
{
	int64_t *ids = NULL, *nids;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *s;
	int rc, r = CUST_OK;

	*ids_out = NULL;
	*n_out = 0;
	if (nf > 0) {
		if ((ids = calloc(nf, sizeof(*ids))) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		for (i = 0; i < nf; i++)
			if ((r = cred_device_find(st, fqdns[i], &ids[i])) !=
			    CUST_OK) {
				free(ids);
				return r;
			}
		*ids_out = ids;
		*n_out = nf;
		return CUST_OK;
	}
	if (tag != NULL)
		s = store_stmt(state_store(st),
		    "SELECT d.id FROM device_tag t JOIN "
		    "device d ON d.id = t.device_id WHERE t.tag = ? AND "
		    "d.state = 'active' AND " CRED_VISIBLE("d") " ORDER BY "
		    "d.id");
	else if (all)
		s = store_stmt(state_store(st),
		    "SELECT id FROM device d WHERE state = "
		    "'active' AND " CRED_VISIBLE("d") " ORDER BY id");
	else
		return cust_fail(CUST_E_INVAL, "no devices selected");
	if (s == NULL)
		return CUST_E_DB;
	if (tag != NULL)
		sqlite3_bind_text(s, 1, tag, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((nids = realloc(ids, cap * sizeof(*ids))) == NULL) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				break;
			}
			ids = nids;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (r == CUST_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_err(state_store(st),
		    "cannot read the device inventory");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		free(ids);
		return r;
	}
	*ids_out = ids;
	*n_out = n;
	return CUST_OK;
}
