/* SPDX-License-Identifier: MIT */
/* src/ca/ca_db.c - the CA's configuration, generations and certificate
 * rows in the store (schema: module "ca" in src/store/schema.c). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

#define CONF_META	"ca.config"

/* One configuration member: JSON name, CLI option, type and bounds. */
struct conf_key {
	const char *name;
	const char *opt;
	enum { K_STR, K_INT, K_NAMES } type;
	size_t off;		/* into struct ca_conf */
	long min, max;		/* K_INT bounds; K_STR max length */
};

#define S(f, max)	K_STR, offsetof(struct ca_conf, f), 1, max
#define I(f, lo, hi)	K_INT, offsetof(struct ca_conf, f), lo, hi

static const struct conf_key conf_keys[] = {
	{ "key_type", "key-type", S(key_type, 15) },
	{ "profile", "profile", S(profile, 15) },
	{ "org", "org", S(org, CA_NAME_MAX) },
	/* " G<n>" is appended to CA names: keep room for it. */
	{ "root_cn", "root-cn", S(root_cn, CA_NAME_MAX - 8) },
	{ "issuing_cn", "issuing-cn", S(issuing_cn, CA_NAME_MAX - 8) },
	{ "root_days", "root-days", I(root_days, 1, 36500) },
	{ "issuing_days", "issuing-days", I(issuing_days, 1, 36500) },
	{ "leaf_days", "leaf-days", I(leaf_days, 1, 3650) },
	{ "console_days", "console-days", I(console_days, 1, 3650) },
	{ "renew_days", "renew-days", I(renew_days, 0, 3650) },
	{ "crl_days", "crl-days", I(crl_days, 2, 366) },
	{ "root_pathlen", "root-pathlen", I(root_pathlen, -1, 8) },
	{ "issuing_pathlen", "issuing-pathlen", I(issuing_pathlen, -1, 8) },
	{ "server_names", "server-name", K_NAMES, 0, 0, 0 },
	{ NULL, NULL, K_STR, 0, 0, 0 }
};

#undef S
#undef I

static void
conf_defaults(struct ca_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->key_type, sizeof(c->key_type), "rsa3072");
	snprintf(c->profile, sizeof(c->profile), CA_PROFILE_DEFAULT);
	snprintf(c->org, sizeof(c->org), "custody");
	snprintf(c->root_cn, sizeof(c->root_cn), "custody Root CA");
	snprintf(c->issuing_cn, sizeof(c->issuing_cn), "custody Issuing CA");
	c->root_days = 7300;
	c->issuing_days = 3650;
	c->leaf_days = 730;
	c->console_days = 730;
	c->renew_days = 30;
	c->crl_days = 7;
	c->root_pathlen = 2;
	c->issuing_pathlen = 0;
}

/* A host name for the service certificate: an IP address, a single label
 * ("localhost", not a number: it would become DNS:12345) or an FQDN. */
int
ca_valid_host(const char *s)
{
	unsigned char a[16];
	size_t i, n = strlen(s), digits = 0;

	if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
		return CUST_OK;
	if (strchr(s, '.') != NULL)
		return util_valid_fqdn(s);
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return CUST_E_INVAL;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return CUST_E_INVAL;
		digits += isdigit((unsigned char)s[i]) != 0;
	}
	return digits < n ? CUST_OK : CUST_E_INVAL;
}

static int
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
apply_one(struct ca_conf *c, const struct conf_key *k, json_t *v)
{
	char *base = (char *)c;
	size_t i;
	json_t *e;

	switch (k->type) {
	case K_STR:
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > (size_t)k->max ||
		    !printable(json_string_value(v)))
			return cust_fail(CUST_E_INVAL, "%s: a text of 1 to %ld "
			    "printable characters", k->opt, k->max);
		snprintf(base + k->off, (size_t)k->max + 1, "%s",
		    json_string_value(v));
		return CUST_OK;
	case K_INT:
		if (!json_is_integer(v) || json_integer_value(v) < k->min ||
		    json_integer_value(v) > k->max)
			return cust_fail(CUST_E_INVAL, "%s: a number from %ld "
			    "to %ld", k->opt, k->min, k->max);
		*(int *)(void *)(base + k->off) = (int)json_integer_value(v);
		return CUST_OK;
	case K_NAMES:
		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    json_array_size(v) > 32)
			return cust_fail(CUST_E_INVAL, "%s: 1 to 32 names",
			    k->opt);
		json_array_foreach(v, i, e)
			if (!json_is_string(e) ||
			    ca_valid_host(json_string_value(e)) != CUST_OK)
				return cust_fail(CUST_E_INVAL, "%s: '%.64s' is "
				    "not a host name or IP address", k->opt,
				    json_is_string(e) ? json_string_value(e) :
				    "?");
		json_decref(c->server_names);
		c->server_names = json_deep_copy(v);
		return c->server_names ? CUST_OK :
		    cust_fail(CUST_E_NOMEM, "out of memory");
	}
	return CUST_E_INTERNAL;
}

/* The bit of the member named name (JSON name) in a set of members. */
static unsigned
member(const char *name)
{
	const struct conf_key *k;

	for (k = conf_keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return 1u << (k - conf_keys);
	return 0;
}

/* Does a constraint between members a and b apply? All of them do on a
 * complete configuration; on a partial one (options still being given)
 * only those whose members are both given, so that the order in which
 * options come never changes the verdict. */
static int
applies(unsigned given, int partial, const char *a, const char *b)
{
	unsigned m = member(a) | member(b);

	return !partial || (given & m) == m;
}

/*
 * Apply opts onto c: every member checked on its own first, then the
 * constraints between members, once. partial: opts are not complete yet
 * (ca_opt_set()).
 */
static int
conf_apply(struct ca_conf *c, json_t *opts, int partial)
{
	const struct conf_key *k;
	const char *name;
	json_t *v;
	unsigned given = 0;
	int r, min_root;

	if (opts != NULL && !json_is_object(opts))
		return cust_fail(CUST_E_INVAL, "CA options must be an object");
	json_object_foreach(opts, name, v) {
		for (k = conf_keys; k->name != NULL; k++)
			if (strcmp(k->name, name) == 0)
				break;
		if (k->name == NULL)
			return cust_fail(CUST_E_INVAL, "unknown CA option %s",
			    name);
		if ((r = apply_one(c, k, v)) != CUST_OK)
			return r;
		given |= 1u << (k - conf_keys);
	}
	if (ca_keytype_find(c->key_type) == NULL)
		return ca_keytype_unknown(c->key_type);
	if (strcmp(c->profile, CA_PROFILE_LEGACY) != 0 &&
	    strcmp(c->profile, CA_PROFILE_DEFAULT) != 0)
		return cust_fail(CUST_E_INVAL, "profile: default or legacy-amt");
	/* Between members. */
	if (strcmp(c->profile, CA_PROFILE_LEGACY) == 0 &&
	    applies(given, partial, "profile", "key_type")) {
		/* Older AMT firmware: RSA-2048 and SHA-256 everywhere. */
		if ((given & member("key_type")) &&
		    strcmp(c->key_type, "rsa2048") != 0)
			return cust_fail(CUST_E_INVAL, "profile legacy-amt "
			    "keeps the whole chain RSA-2048/SHA-256; it "
			    "cannot be combined with key-type %s",
			    c->key_type);
		snprintf(c->key_type, sizeof(c->key_type), "rsa2048");
	}
	if (applies(given, partial, "issuing_days", "root_days") &&
	    c->issuing_days > c->root_days)
		return cust_fail(CUST_E_INVAL, "the issuing CA cannot outlive "
		    "the root (issuing-days %d > root-days %d)",
		    c->issuing_days, c->root_days);
	if (applies(given, partial, "renew_days", "leaf_days") &&
	    c->renew_days >= c->leaf_days)
		return cust_fail(CUST_E_INVAL, "renew-days (%d) must be below "
		    "leaf-days (%d)", c->renew_days, c->leaf_days);
	/* Below a root: the issuing CA, during a rollover a cross-
	 * certificate, and whatever the issuing CA's own pathlen allows. */
	min_root = (c->issuing_pathlen > 0 ? c->issuing_pathlen : 0) + 2;
	if (applies(given, partial, "root_pathlen", "issuing_pathlen") &&
	    c->root_pathlen != -1 && c->root_pathlen < min_root)
		return cust_fail(CUST_E_INVAL, "root-pathlen %d leaves no room "
		    "for the issuing CA (issuing-pathlen %d) and a cross-"
		    "certificate: use -1 (none) or at least %d",
		    c->root_pathlen, c->issuing_pathlen, min_root);
	return CUST_OK;
}

int
ca_conf_apply(struct ca_conf *c, json_t *opts)
{
	conf_defaults(c);
	return conf_apply(c, opts, 0);
}

int
ca_conf_merge(struct ca_conf *c, json_t *opts)
{
	return conf_apply(c, opts, 0);
}

void
ca_conf_clear(struct ca_conf *c)
{
	json_decref(c->server_names);
	c->server_names = NULL;
}

int
ca_opts_check(json_t *opts)
{
	struct ca_conf c;
	int r = ca_conf_apply(&c, opts);

	ca_conf_clear(&c);
	return r;
}

int
ca_opt_set(json_t *opts, const char *name, const char *value)
{
	const struct conf_key *k;
	struct ca_conf scratch;
	json_t *v = NULL, *arr;
	long n;
	int r;

	for (k = conf_keys; k->name != NULL; k++)
		if (strcmp(k->opt, name) == 0)
			break;
	if (k->name == NULL)
		return cust_fail(CUST_E_INVAL, "unknown CA option --%s", name);
	switch (k->type) {
	case K_STR:
		v = json_string(value);
		break;
	case K_INT:
		if (util_parse_long(value, k->min, k->max, &n) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "--%s: a number from %ld "
			    "to %ld", name, k->min, k->max);
		v = json_integer(n);
		break;
	case K_NAMES:
		arr = json_object_get(opts, k->name);
		if (arr == NULL) {
			if ((arr = json_array()) == NULL ||
			    json_object_set_new(opts, k->name, arr) != 0)
				return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		if (json_array_append_new(arr, json_string(value)) != 0)
			return cust_fail(CUST_E_INVAL, "--%s: bad value", name);
		goto check;
	}
	if (v == NULL || json_object_set_new(opts, k->name, v) != 0)
		return cust_fail(CUST_E_INVAL, "--%s: bad value", name);
check:
	conf_defaults(&scratch);
	r = conf_apply(&scratch, opts, 1);
	ca_conf_clear(&scratch);
	return r;
}

static json_t *
conf_json(const struct ca_conf *c)
{
	const struct conf_key *k;
	const char *base = (const char *)c;
	json_t *o = json_object();

	for (k = conf_keys; o != NULL && k->name != NULL; k++) {
		json_t *v = NULL;

		if (k->type == K_STR)
			v = json_string(base + k->off);
		else if (k->type == K_INT)
			v = json_integer(*(const int *)(const void *)
			    (base + k->off));
		else if (c->server_names != NULL)
			v = json_deep_copy(c->server_names);
		else
			continue;
		if (v == NULL || json_object_set_new(o, k->name, v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int
ca_conf_save(struct cust_state *st, const struct ca_conf *c)
{
	json_t *o = conf_json(c);
	char buf[4096];
	size_t n;

	if (o == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* Into a buffer of ours: jansson's own allocations are not free()d
	 * here (cust_init() installs its allocator). */
	n = json_dumpb(o, buf, sizeof(buf), JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (n == 0 || n > sizeof(buf))
		return cust_fail(CUST_E_INTERNAL, "CA configuration too large");
	return store_meta_set(state_store(st), CONF_META, buf, n);
}

int
ca_conf_load(struct cust_state *st, struct ca_conf *c)
{
	unsigned char *v = NULL;
	size_t len = 0;
	json_t *o;
	json_error_t je;
	int r;

	conf_defaults(c);
	r = store_meta_get(state_store(st), CONF_META, &v, &len);
	if (r == CUST_E_NOTFOUND)
		return cust_fail(CUST_E_NOTFOUND, "this state directory has no "
		    "CA (run custodyctl init)");
	if (r != CUST_OK)
		return r;
	o = json_loadb((const char *)v, len, 0, &je);
	free(v);
	if (o == NULL)
		return cust_fail(CUST_E_DB, "CA configuration unreadable: %s",
		    je.text);
	r = conf_apply(c, o, 0);
	json_decref(o);
	if (r != CUST_OK)
		ca_conf_clear(c);
	return r;
}

/* Load an optional certificate column; NULL column -> *out NULL. */
static int
col_x509(sqlite3_stmt *s, int col, X509 **out)
{
	*out = NULL;
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return CUST_OK;
	*out = ca_x509_from_der(sqlite3_column_blob(s, col),
	    (size_t)sqlite3_column_bytes(s, col));
	return *out != NULL ? CUST_OK : CUST_E_DB;
}

static int
gen_from_row(sqlite3_stmt *s, struct ca_gen **out)
{
	struct ca_gen *g;
	const char *state, *kt;
	int r;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	g->gen = sqlite3_column_int64(s, 0);
	state = (const char *)sqlite3_column_text(s, 1);
	kt = (const char *)sqlite3_column_text(s, 2);
	snprintf(g->state, sizeof(g->state), "%s", state ? state : "");
	if ((g->kt = ca_keytype_find(kt)) == NULL ||
	    (g->md = EVP_get_digestbyname(g->kt->digest)) == NULL) {
		r = cust_fail(CUST_E_DB, "CA generation %lld has an unknown "
		    "key type", (long long)g->gen);
		goto fail;
	}
	if ((r = col_x509(s, 3, &g->root)) != CUST_OK ||
	    (r = col_x509(s, 4, &g->issuing)) != CUST_OK ||
	    (r = col_x509(s, 5, &g->cross_up)) != CUST_OK ||
	    (r = col_x509(s, 6, &g->cross_down)) != CUST_OK)
		goto fail;
	if (g->root == NULL || g->issuing == NULL) {
		r = cust_fail(CUST_E_DB, "CA generation %lld lacks its "
		    "certificates", (long long)g->gen);
		goto fail;
	}
	g->created = sqlite3_column_int64(s, 7);
	g->activated = sqlite3_column_int64(s, 8);
	g->retired = sqlite3_column_int64(s, 9);
	*out = g;
	return CUST_OK;
fail:
	ca_gen_free(g);
	return r;
}

#define GEN_COLS "gen, state, key_type, root_cert, issuing_cert, cross_up, " \
	"cross_down, created, activated, retired, " STORE_CHECK(STORE_ROW_CA_GEN)

static int
gen_query(struct cust_state *st, sqlite3_stmt *s, const char *what,
    struct ca_gen **out)
{
	int rc, r;

	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = gen_from_row(s, out);
	else if (rc == SQLITE_DONE)
		r = cust_fail(CUST_E_NOTFOUND, "no %s CA generation", what);
	else
		r = store_err(state_store(st), "read CA generation");
	sqlite3_reset(s);
	return r;
}

int
ca_gen_load(struct cust_state *st, int64_t gen, struct ca_gen **out)
{
	sqlite3_stmt *s;
	int r;

	*out = NULL;
	if ((s = store_stmt(state_store(st), "SELECT " GEN_COLS " FROM ca_gen "
	    "WHERE gen = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	r = gen_query(st, s, "such", out);
	if (r == CUST_E_NOTFOUND)
		r = cust_fail(r, "no CA generation %lld", (long long)gen);
	return r;
}

int
ca_gen_by_state(struct cust_state *st, const char *state, struct ca_gen **out)
{
	sqlite3_stmt *s;

	*out = NULL;
	if ((s = store_stmt(state_store(st), "SELECT " GEN_COLS " FROM ca_gen "
	    "WHERE state = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	return gen_query(st, s, state, out);
}

void
ca_gen_free(struct ca_gen *g)
{
	if (g == NULL)
		return;
	X509_free(g->root);
	X509_free(g->issuing);
	X509_free(g->cross_up);
	X509_free(g->cross_down);
	free(g);
}

int
ca_gen_next(struct cust_state *st, int64_t gen, int published,
    int64_t *gen_out)
{
	sqlite3_stmt *s;
	int rc;

	*gen_out = 0;
	if ((s = store_stmt(state_store(st), published ?
	    "SELECT gen FROM ca_gen WHERE gen > ? AND state <> 'retired' "
	    "ORDER BY gen LIMIT 1" :
	    "SELECT gen FROM ca_gen WHERE gen > ? ORDER BY gen LIMIT 1")) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*gen_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CUST_OK :
	    store_err(state_store(st), "read CA generations");
}

int
ca_serial_used(struct cust_state *st, const char *hex)
{
	sqlite3_stmt *s;
	int rc;

	/* A reserved serial is taken too: its certificate is being signed,
	 * or was never recorded (and the serial is never drawn again). */
	if ((s = store_stmt(state_store(st),
	    "SELECT 1 FROM cert WHERE serial = ?1 "
	    "UNION ALL SELECT 1 FROM ca_serial WHERE serial = ?1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_err(state_store(st), "look up serial");
}

/*
 * Serial reservations. A certificate signed outside the write lock gets
 * its serial here first, in a short transaction of its own, so that no
 * other process draws it while it is signed; the transaction that records
 * the certificate deletes the reservation (ca_serial_consume()). What a
 * crash leaves behind is a reservation without a certificate: it is never
 * valid anywhere (the CRL, the listings and the bundle read table cert
 * only), `ca show` counts it, and `cert show` says what it is. Each
 * reservation names its process (pid and start time): one whose process
 * is gone was never recorded by it, and when the certificate it was for
 * is found staged on disk (ca rotate --activate killed before its
 * commit) it is recorded and revoked (ca_recover.c).
 */
int
ca_serial_reserve(struct cust_state *st, int64_t gen, const char *holder,
    char (*hex)[CA_SERIAL_HEXLEN], size_t n)
{
	ASN1_INTEGER *ai = NULL;
	sqlite3_stmt *s;
	int64_t now = util_now(), pstart;
	size_t i;
	int r;

	if (n == 0)
		return CUST_OK;
	/* The reserving process, so that a reservation it left behind when
	 * it died is told from one being signed (ca_recover.c). */
	pstart = (int64_t)util_proc_start((long long)getpid());
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = ca_serial_new(st, &ai, hex[i], CA_SERIAL_HEXLEN)) !=
		    CUST_OK)
			goto fail;
		ASN1_INTEGER_free(ai);
		ai = NULL;
		if ((s = store_stmt(state_store(st),
		    "INSERT INTO ca_serial(serial, "
		    "gen, holder, reserved, pid, pstart) "
		    "VALUES (?, ?, ?, ?, ?, ?)")) == NULL) {
			r = CUST_E_DB;
			goto fail;
		}
		sqlite3_bind_text(s, 1, hex[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, gen);
		sqlite3_bind_text(s, 3, holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now);
		sqlite3_bind_int64(s, 5, (int64_t)getpid());
		sqlite3_bind_int64(s, 6, pstart);
		if ((r = store_step_done(state_store(st), s,
		    "reserve a serial")) != CUST_OK)
			goto fail;
	}
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	return CUST_OK;
fail:
	store_rollback(state_store(st));
	return r;
}

int
ca_serial_consume(struct cust_state *st, const char *hex)
{
	sqlite3_stmt *s;
	int r;

	if ((s = store_stmt(state_store(st),
	    "DELETE FROM ca_serial WHERE serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	if ((r = store_step_done(state_store(st), s,
	    "record a reserved serial")) != CUST_OK)
		return r;
	if (sqlite3_changes(store_db(state_store(st))) != 1)
		return cust_fail(CUST_E_CONFLICT, "serial %s is not reserved: "
		    "its certificate cannot be recorded", hex);
	return CUST_OK;
}

void
ca_serial_release(struct cust_state *st, char (*hex)[CA_SERIAL_HEXLEN],
    size_t n)
{
	char msg[1024];
	size_t i;
	int r = CUST_OK;

	/* After a failure whose message the caller still reports. */
	snprintf(msg, sizeof(msg), "%s", cust_errmsg());
	if (n == 0 || store_in_txn(state_store(st)) ||
	    store_begin(state_store(st)) != CUST_OK)
		goto out;
	for (i = 0; i < n && r == CUST_OK; i++)
		if (hex[i][0] != '\0')
			r = ca_serial_consume(st, hex[i]);
	if (r != CUST_OK || store_commit(state_store(st)) != CUST_OK)
		store_rollback(state_store(st));
out:
	cust_fail(CUST_E_INTERNAL, "%s", msg);
}

int
ca_serial_reserved(struct cust_state *st, const char *hex, int64_t *when_out)
{
	sqlite3_stmt *s;
	int rc;

	*when_out = 0;
	if ((s = store_stmt(state_store(st),
	    "SELECT reserved FROM ca_serial WHERE serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*when_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_err(state_store(st), "look up a reserved serial");
}

/* Fields of a certificate as stored and shown. */
struct certfields {
	char serial[CA_SERIAL_HEXLEN];
	char sha256[65];
	char *subject;
	int64_t nb, na;
};

static int
fields_of(X509 *x, struct certfields *f)
{
	int r;

	memset(f, 0, sizeof(*f));
	if ((r = ca_serial_hex(X509_get0_serialNumber(x), f->serial,
	    sizeof(f->serial))) != CUST_OK ||
	    (r = ca_fingerprint(x, f->sha256)) != CUST_OK)
		return r;
	if ((f->subject = ca_name_text(X509_get_subject_name(x))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	f->nb = ca_time_of(X509_get0_notBefore(x));
	f->na = ca_time_of(X509_get0_notAfter(x));
	return CUST_OK;
}

int
ca_cert_insert(struct cust_state *st, const struct ca_certrec *rec,
    int64_t *id_out)
{
	struct certfields f;
	unsigned char *der = NULL;
	size_t derlen = 0;
	sqlite3_stmt *s;
	int64_t id;
	int r;

	if ((r = fields_of(rec->x, &f)) != CUST_OK)
		goto out;
	if ((r = ca_der(rec->x, &der, &derlen)) != CUST_OK)
		goto out;
	if ((s = store_stmt(state_store(st),
	    "INSERT INTO cert(serial, kind, gen, "
	    "holder, device_id, csr_id, subject, not_before, not_after, "
	    "sha256, der, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?)")) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_text(s, 1, f.serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, rec->gen);
	sqlite3_bind_text(s, 4, rec->holder, -1, SQLITE_STATIC);
	if (rec->device_id > 0)
		sqlite3_bind_int64(s, 5, rec->device_id);
	if (rec->csr_id > 0)
		sqlite3_bind_int64(s, 6, rec->csr_id);
	sqlite3_bind_text(s, 7, f.subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, f.nb);
	sqlite3_bind_int64(s, 9, f.na);
	sqlite3_bind_text(s, 10, f.sha256, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 11, der, (int)derlen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 12, util_now());
	if ((r = store_step_done(state_store(st), s, "record certificate")) !=
	    CUST_OK)
		goto out;
	id = sqlite3_last_insert_rowid(store_db(state_store(st)));
	if ((r = store_row_reseal(state_store(st), STORE_RESEAL_CERT, id)) !=
	    CUST_OK)
		goto out;
	if (id_out != NULL)
		*id_out = id;
out:
	free(der);
	free(f.subject);
	return r;
}

static json_t *
time_json(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	util_fmt_time(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
info_new(const char *serial, const char *kind, const char *holder,
    int64_t gen, const char *subject, int64_t nb, int64_t na,
    const char *status, int64_t revoked, int reason, const char *sha256)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (strcmp(status, "valid") == 0 && na < util_now())
		status = "expired";
	if (json_object_set_new(o, "serial", json_string(serial)) ||
	    json_object_set_new(o, "kind", json_string(kind)) ||
	    json_object_set_new(o, "holder", json_string(holder)) ||
	    json_object_set_new(o, "generation", json_integer(gen)) ||
	    json_object_set_new(o, "subject", json_string(subject)) ||
	    json_object_set_new(o, "not_before", time_json(nb)) ||
	    json_object_set_new(o, "not_after", time_json(na)) ||
	    json_object_set_new(o, "status", json_string(status)) ||
	    json_object_set_new(o, "revoked", time_json(revoked)) ||
	    json_object_set_new(o, "reason", revoked ?
	    json_string(ca_reason_name(reason)) : json_null()) ||
	    json_object_set_new(o, "sha256", json_string(sha256))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
ca_cert_info(const struct ca_certrec *rec)
{
	struct certfields f;
	json_t *o = NULL;

	if (fields_of(rec->x, &f) == CUST_OK)
		o = info_new(f.serial, rec->kind, rec->holder, rec->gen,
		    f.subject, f.nb, f.na, "valid", 0, 0, f.sha256);
	free(f.subject);
	return o;
}

static const char *
col_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

json_t *
ca_cert_info_row(sqlite3_stmt *s)
{
	json_t *o;

	o = info_new(col_text(s, 1), col_text(s, 2), col_text(s, 4),
	    sqlite3_column_int64(s, 3), col_text(s, 5),
	    sqlite3_column_int64(s, 6), sqlite3_column_int64(s, 7),
	    col_text(s, 8), sqlite3_column_int64(s, 9),
	    sqlite3_column_int(s, 10), col_text(s, 11));
	if (o != NULL)
		json_object_set_new(o, "id",
		    json_integer(sqlite3_column_int64(s, 0)));
	return o;
}

int
ca_csr_insert(struct cust_state *st, int64_t device_id, X509_REQ *req,
    int64_t *id_out)
{
	unsigned char *der = NULL;
	sqlite3_stmt *s;
	int n, r;

	if ((n = i2d_X509_REQ(req, &der)) <= 0)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot encode CSR");
	if ((s = store_stmt(state_store(st),
	    "INSERT INTO ca_csr(device_id, der, "
	    "created) VALUES (?, ?, ?)")) == NULL) {
		OPENSSL_free(der);
		return CUST_E_DB;
	}
	sqlite3_bind_int64(s, 1, device_id);
	sqlite3_bind_blob(s, 2, der, n, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, util_now());
	r = store_step_done(state_store(st), s, "record CSR");
	OPENSSL_free(der);
	if (r == CUST_OK)
		*id_out = sqlite3_last_insert_rowid(store_db(state_store(st)));
	return r;
}
