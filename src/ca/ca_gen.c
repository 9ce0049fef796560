/* SPDX-License-Identifier: MIT */
/* src/ca/ca_gen.c - CA generations: creation at init, root rollover
 * (rotate, activate, retire), the trust bundle and the public files.
 *
 * Rollover keeps one invariant: at every step every unexpired, unrevoked
 * certificate verifies against the published bundle, and every revoked
 * one is listed on a CRL that is published. The new root is in the bundle
 * before anything is issued under it (rotate), the old root stays in it
 * while anything issued under it is valid (retire refuses otherwise), and
 * the two roots certify each other so that a relying party that knows only
 * one of them can still build a path to the other's certificates. When
 * the old generation is retired those two cross-certificates are revoked
 * (the one the new root signed on the new root's CRL): otherwise every
 * certificate of the old generation would still chain to the new root
 * through it for twenty years.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sodium.h>

#include "audit.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

/* Build and sign a CA certificate for subject/pub, issued by issuer (NULL:
 * self-signed) with the key open in sess. */
static int
ca_cert_make(struct cust_state *st, X509_NAME *subject, EVP_PKEY *pub,
    X509 *issuer, int pathlen, int64_t na, void *sess, const EVP_MD *md,
    X509 **out)
{
	X509 *x = NULL;
	ASN1_INTEGER *sn = NULL;
	char hex[CA_SERIAL_HEXLEN], bc[64];
	int64_t now = util_now();
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3)) {
		r = ca_ossl_fail(CUST_E_NOMEM, "cannot build CA certificate");
		goto out;
	}
	if ((r = ca_serial_new(st, &sn, hex, sizeof(hex))) != CUST_OK)
		goto out;
	if (!X509_set_serialNumber(x, sn) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : subject) ||
	    !X509_set_pubkey(x, pub)) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot build CA certificate");
		goto out;
	}
	if (pathlen >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d",
		    pathlen);
	else
		snprintf(bc, sizeof(bc), "critical,CA:TRUE");
	if ((r = ca_set_validity(x, now - CA_BACKDATE, na)) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_basic_constraints, bc)) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_key_usage,
	    "critical,keyCertSign,cRLSign")) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_subject_key_identifier, "hash")) !=
	    CUST_OK ||
	    (r = ca_ext_add(x, issuer, NID_authority_key_identifier,
	    "keyid:always")) != CUST_OK)
		goto out;
	if ((r = ca_signer()->sign_cert(sess, x, md)) != CUST_OK)
		goto out;
	*out = x;
	x = NULL;
	r = CUST_OK;
out:
	ASN1_INTEGER_free(sn);
	X509_free(x);
	return r;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int
record_ca(struct cust_state *st, const char *kind, int64_t gen,
    int64_t holder_gen, X509 *x)
{
	struct ca_certrec rec;
	char holder[32];

	if (x == NULL)
		return CUST_OK;
	snprintf(holder, sizeof(holder), "g%lld", (long long)holder_gen);
	memset(&rec, 0, sizeof(rec));
	rec.kind = kind;
	rec.holder = holder;
	rec.gen = gen;
	rec.x = x;
	return ca_cert_insert(st, &rec, NULL);
}

static int
bind_der(sqlite3_stmt *s, int col, X509 *x, unsigned char **der)
{
	size_t len = 0;
	int r;

	*der = NULL;
	if (x == NULL)
		return CUST_OK;
	if ((r = ca_der(x, der, &len)) != CUST_OK)
		return r;
	sqlite3_bind_blob(s, col, *der, (int)len, SQLITE_STATIC);
	return CUST_OK;
}

static int
insert_gen(struct cust_state *st, const struct ca_gen *g)
{
	unsigned char *d[4] = { NULL, NULL, NULL, NULL };
	sqlite3_stmt *s;
	int r, i;

	if ((s = store_stmt(state_store(st), "INSERT INTO ca_gen(gen, state, "
	    "key_type, digest, root_cert, issuing_cert, cross_up, cross_down, "
	    "created, activated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, g->gen);
	sqlite3_bind_text(s, 2, g->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, g->kt->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, g->kt->digest, -1, SQLITE_STATIC);
	if ((r = bind_der(s, 5, g->root, &d[0])) != CUST_OK ||
	    (r = bind_der(s, 6, g->issuing, &d[1])) != CUST_OK ||
	    (r = bind_der(s, 7, g->cross_up, &d[2])) != CUST_OK ||
	    (r = bind_der(s, 8, g->cross_down, &d[3])) != CUST_OK) {
		sqlite3_reset(s);
		goto out;
	}
	sqlite3_bind_int64(s, 9, g->created);
	if (g->activated != 0)
		sqlite3_bind_int64(s, 10, g->activated);
	if ((r = store_step_done(state_store(st), s, "record CA generation")) ==
	    CUST_OK)
		r = store_row_reseal(state_store(st), STORE_RESEAL_CA_GEN,
		    g->gen);
out:
	for (i = 0; i < 4; i++)
		free(d[i]);
	return r;
}

/*
 * Make the keys of the generation that ca_rotate() with opts is about to
 * make, of the key type the stored configuration and opts give now, with
 * no transaction open: key generation is the CPU work of a rotation
 * (seconds for RSA-4096) and must not hold other writers back. When that
 * cannot be decided here (no CA, bad options), none are made: the
 * transaction finds and reports why; when the configuration changes
 * meanwhile, make_gen() makes keys of the new type itself.
 */
static int
gen_keys_make(struct cust_state *st, json_t *opts, struct ca_premade *pm)
{
	const struct ca_keytype *kt = NULL;
	struct ca_conf c;

	memset(pm, 0, sizeof(*pm));
	memset(&c, 0, sizeof(c));
	if (ca_conf_load(st, &c) == CUST_OK && ca_conf_merge(&c, opts) ==
	    CUST_OK)
		kt = ca_keytype_find(c.key_type);
	cust_clearerr();
	ca_conf_clear(&c);
	return ca_premade_make(kt, pm);
}

/* The keys a service change (activation) will make, before its
 * transaction: of the type the stored configuration gives now. */
static int
service_keys_make(struct cust_state *st, struct ca_premade *pm)
{
	const struct ca_keytype *kt = NULL;
	struct ca_conf c;

	memset(pm, 0, sizeof(*pm));
	memset(&c, 0, sizeof(c));
	if (ca_conf_load(st, &c) == CUST_OK)
		kt = ca_keytype_find(ca_service_keytype(&c));
	cust_clearerr();
	ca_conf_clear(&c);
	return ca_premade_make(kt, pm);
}

/*
 * Make generation n inside the open transaction: keys (through the
 * signer; those of pk when it has them of the right type), root, issuing
 * CA, and with a previous root the two cross-certificates; record
 * everything, make both (empty) CRLs and audit.
 */
static int
make_gen(struct cust_state *st, const char *actor, const char *action,
    int64_t n, const struct ca_conf *c, struct ca_gen *prev,
    const char *state, struct ca_premade *pk, struct ca_gen **out)
{
	const struct ca_signer_ops *sg = ca_signer();
	struct ca_gen *g = NULL;
	EVP_PKEY *rpub = NULL, *ipub = NULL;
	X509_NAME *rname = NULL, *iname = NULL;
	void *rsess = NULL, *psess = NULL;
	char cn[CA_NAME_MAX + 32], obj[32], detail[256], fp[65];
	int64_t now = util_now(), rna, pna;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	g->gen = n;
	snprintf(g->state, sizeof(g->state), "%s", state);
	g->kt = ca_keytype_find(c->key_type);
	g->created = now;
	g->activated = strcmp(state, "active") == 0 ? now : 0;
	if (g->kt == NULL || (g->md = EVP_get_digestbyname(g->kt->digest)) ==
	    NULL) {
		r = cust_fail(CUST_E_INVAL, "unknown key type %s", c->key_type);
		goto out;
	}
	if ((r = sg->keygen(st, n, "root", g->kt->name, ca_premade_take(pk,
	    g->kt, 0), &rpub)) != CUST_OK ||
	    (r = sg->keygen(st, n, "issuing", g->kt->name, ca_premade_take(pk,
	    g->kt, 1), &ipub)) != CUST_OK ||
	    (r = sg->open(st, n, "root", &rsess)) != CUST_OK)
		goto out;
	snprintf(cn, sizeof(cn), "%s G%lld", c->root_cn, (long long)n);
	rname = ca_name(c->org, cn);
	snprintf(cn, sizeof(cn), "%s G%lld", c->issuing_cn, (long long)n);
	iname = ca_name(c->org, cn);
	if (rname == NULL || iname == NULL) {
		r = ca_ossl_fail(CUST_E_INVAL, "bad CA name");
		goto out;
	}
	rna = now + (int64_t)c->root_days * CA_DAY;
	if ((r = ca_cert_make(st, rname, rpub, NULL, c->root_pathlen, rna,
	    rsess, g->md, &g->root)) != CUST_OK ||
	    (r = ca_cert_make(st, iname, ipub, g->root, c->issuing_pathlen,
	    min64(rna, now + (int64_t)c->issuing_days * CA_DAY), rsess, g->md,
	    &g->issuing)) != CUST_OK)
		goto out;
	if (prev != NULL) {
		pna = ca_time_of(X509_get0_notAfter(prev->root));
		if ((r = sg->open(st, prev->gen, "root", &psess)) != CUST_OK ||
		    (r = ca_cert_make(st, rname, rpub, prev->root,
		    c->root_pathlen, min64(rna, pna), psess, prev->md,
		    &g->cross_up)) != CUST_OK ||
		    (r = ca_cert_make(st, X509_get_subject_name(prev->root),
		    X509_get0_pubkey(prev->root), g->root, c->root_pathlen,
		    min64(rna, pna), rsess, g->md, &g->cross_down)) != CUST_OK)
			goto out;
	}
	if ((r = insert_gen(st, g)) != CUST_OK ||
	    (r = record_ca(st, "root", n, n, g->root)) != CUST_OK ||
	    (r = record_ca(st, "issuing", n, n, g->issuing)) != CUST_OK ||
	    (prev != NULL && (r = record_ca(st, "cross", prev->gen, n,
	    g->cross_up)) != CUST_OK) ||
	    (prev != NULL && (r = record_ca(st, "cross", n, prev->gen,
	    g->cross_down)) != CUST_OK) ||
	    (r = ca_crl_make(st, g, 1, c)) != CUST_OK ||
	    (r = ca_crl_make(st, g, 0, c)) != CUST_OK ||
	    (r = ca_fingerprint(g->root, fp)) != CUST_OK)
		goto out;
	snprintf(obj, sizeof(obj), "ca:g%lld", (long long)n);
	snprintf(detail, sizeof(detail), "state=%s key_type=%s digest=%s "
	    "root_sha256=%s%s", state, g->kt->name, g->kt->digest, fp,
	    prev != NULL ? " cross-certified" : "");
	if ((r = audit_append(state_audit(st), actor, action, obj, "ok",
	    detail)) != CUST_OK)
		goto out;
	*out = g;
	g = NULL;
	r = CUST_OK;
out:
	if (rsess != NULL)
		sg->close(rsess);
	if (psess != NULL)
		sg->close(psess);
	X509_NAME_free(rname);
	X509_NAME_free(iname);
	EVP_PKEY_free(rpub);
	EVP_PKEY_free(ipub);
	ca_gen_free(g);
	return r;
}

int
ca_bundle_pem(struct cust_state *st, char **pem_out, char hash[65],
    json_t **gens_out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *roots[16];
	size_t n = 0, k;
	json_t *gens = json_array();
	sqlite3_stmt *s;
	char *pem = NULL;
	int rc, r = CUST_OK;

	*pem_out = NULL;
	if (gens_out != NULL)
		*gens_out = NULL;
	if (gens == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st), "SELECT gen, root_cert, "
	    STORE_CHECK(STORE_ROW_CA_GEN) " FROM ca_gen WHERE state IN "
	    "('next', 'active', 'previous') ORDER BY gen")) ==
	    NULL) {
		json_decref(gens);
		return CUST_E_DB;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < 16) {
		roots[n] = ca_x509_from_der(sqlite3_column_blob(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1));
		if (roots[n] == NULL) {
			r = CUST_E_DB;
			break;
		}
		json_array_append_new(gens,
		    json_integer(sqlite3_column_int64(s, 0)));
		n++;
	}
	if (r == CUST_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_err(state_store(st), "read CA generations");
	sqlite3_reset(s);
	if (r == CUST_OK && n == 0)
		r = cust_fail(CUST_E_NOTFOUND, "no CA (run custodyctl init)");
	if (r == CUST_OK && (pem = ca_pem_certs(roots, n)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	if (r == CUST_OK && !EVP_Digest(pem, strlen(pem), md, &mdlen,
	    EVP_sha256(), NULL))
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot hash the bundle");
	for (k = 0; k < n; k++)
		X509_free(roots[k]);
	if (r != CUST_OK) {
		free(pem);
		json_decref(gens);
		return r;
	}
	sodium_bin2hex(hash, 65, md, mdlen < 32 ? mdlen : 32);
	*pem_out = pem;
	if (gens_out != NULL)
		*gens_out = gens;
	else
		json_decref(gens);
	return CUST_OK;
}

/*
 * The bundle is what every console fetches, so a state keeps the last one
 * it made, with the store stamp taken before reading it: served again
 * only while nothing was committed since, by this process or any other
 * (a `ca rotate` elsewhere changes the bundle at once). Filled only
 * outside a transaction.
 */
struct ca_cache {
	struct store_stamp stamp;
	json_t *bundle;
};

static void
cache_free(void *arg)
{
	struct ca_cache *c = arg;

	if (c == NULL)
		return;
	json_decref(c->bundle);
	free(c);
}

static void
cache_bundle(struct cust_state *st, const struct store_stamp *stamp,
    json_t *bundle)
{
	struct ca_cache *c = state_ca_cache(st);

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return;		/* no cache: served uncached */
		state_set_ca_cache(st, c, cache_free);
	}
	json_decref(c->bundle);
	c->bundle = json_deep_copy(bundle);
	c->stamp = *stamp;
}

int
ca_bundle(struct cust_state *st, json_t **resp_out)
{
	struct ca_cache *c = state_ca_cache(st);
	struct store_stamp stamp;
	char *pem = NULL, hash[65];
	json_t *gens = NULL, *o;
	int r, cacheable = !store_in_txn(state_store(st));

	*resp_out = NULL;
	if (cacheable && c != NULL && c->bundle != NULL &&
	    store_stamp_unchanged(state_store(st), &c->stamp)) {
		if ((*resp_out = json_deep_copy(c->bundle)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		return CUST_OK;
	}
	/* The stamp before the reads: a commit in between makes the next
	 * call read again, never serve an older bundle as current. */
	if (cacheable && store_stamp(state_store(st), &stamp) != CUST_OK) {
		cust_clearerr();
		cacheable = 0;
	}
	if ((r = ca_bundle_pem(st, &pem, hash, &gens)) != CUST_OK)
		return r;
	o = json_pack("{s:s, s:s, s:o}", "pem", pem, "version", hash,
	    "generations", gens);
	free(pem);
	if (o == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (cacheable)
		cache_bundle(st, &stamp, o);
	*resp_out = o;
	return CUST_OK;
}

/* Queue certificates as one public PEM file of DIR/ca. */
static int
public_file(struct ca_files *fs, const char *cadir, const char *name,
    X509 *const *v, size_t n)
{
	char *pem = ca_pem_certs(v, n);
	int r;

	if (pem == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	r = ca_files_add(fs, cadir, name, pem, strlen(pem), 0644);
	free(pem);
	return r;
}

int
ca_public_stage(struct cust_state *st, struct ca_files *fs)
{
	struct ca_gen *g = NULL, *prev = NULL;
	int64_t gen = 0;
	char *cadir, *pem = NULL, hash[65], name[64];
	int r;

	if ((cadir = strdup("ca")) == NULL)	/* under state_dirfd(st) */
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = ca_bundle_pem(st, &pem, hash, NULL)) != CUST_OK ||
	    (r = ca_files_add(fs, cadir, "bundle.pem", pem, strlen(pem),
	    0644)) != CUST_OK)
		goto out;
	/* Root and issuing CA of each published generation (three at most:
	 * next, active, previous). */
	while ((r = ca_gen_next(st, gen, 1, &gen)) == CUST_OK && gen != 0) {
		if ((r = ca_gen_load(st, gen, &g)) != CUST_OK)
			goto out;
		snprintf(name, sizeof(name), "root-g%lld.pem", (long long)gen);
		if ((r = public_file(fs, cadir, name, &g->root, 1)) != CUST_OK)
			goto out;
		snprintf(name, sizeof(name), "issuing-g%lld.pem",
		    (long long)gen);
		if ((r = public_file(fs, cadir, name, &g->issuing, 1)) !=
		    CUST_OK)
			goto out;
		ca_gen_free(g);
		g = NULL;
	}
	if (r != CUST_OK)
		goto out;
	/* chain.pem: what a leaf of the active generation needs. */
	if ((r = ca_gen_by_state(st, "active", &g)) != CUST_OK)
		goto out;
	r = ca_gen_by_state(st, "previous", &prev);
	if (r != CUST_OK && r != CUST_E_NOTFOUND)
		goto out;
	{
		X509 *v[2] = { g->issuing, prev != NULL ? g->cross_up : NULL };

		r = public_file(fs, cadir, "chain.pem", v, 2);
	}
out:
	ca_gen_free(g);
	ca_gen_free(prev);
	free(pem);
	free(cadir);
	return r;
}

int
ca_public_prune(struct cust_state *st)
{
	static const char *const kinds[] = { "root", "issuing" };
	sqlite3_stmt *s;
	char *cadir, *p, name[64];
	size_t i;
	int r = CUST_OK;

	if ((cadir = strdup("ca")) == NULL)	/* under state_dirfd(st) */
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st),
	    "SELECT gen FROM ca_gen WHERE state = 'retired'")) == NULL) {
		free(cadir);
		return CUST_E_DB;
	}
	while (r == CUST_OK && sqlite3_step(s) == SQLITE_ROW) {
		for (i = 0; i < 2 && r == CUST_OK; i++) {
			snprintf(name, sizeof(name), "%s-g%lld.pem", kinds[i],
			    (long long)sqlite3_column_int64(s, 0));
			if ((p = util_path(cadir, name)) == NULL)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
			else
				r = util_unlink_at(state_dirfd(st), p);
			free(p);
		}
	}
	sqlite3_reset(s);
	free(cadir);
	return r;
}

static int
count_gens(struct cust_state *st, int64_t *count_out, int64_t *max_out)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(state_store(st),
	    "SELECT count(*), coalesce(max(gen), 0) FROM ca_gen")) == NULL)
		return CUST_E_DB;
	rc = sqlite3_step(s);
	*count_out = sqlite3_column_int64(s, 0);
	*max_out = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st),
	    "read CA");
}

/* Cert info of a CA certificate from its row. */
static json_t *
ca_info(struct cust_state *st, X509 *x)
{
	char hex[CA_SERIAL_HEXLEN];
	sqlite3_stmt *s;
	json_t *o = NULL;

	if (x == NULL || ca_serial_hex(X509_get0_serialNumber(x), hex,
	    sizeof(hex)) != CUST_OK)
		return json_null();
	if ((s = store_stmt(state_store(st),
	    "SELECT " CA_CERT_COLS " FROM cert WHERE serial = ?")) == NULL)
		return json_null();
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		o = ca_cert_info_row(s);
	sqlite3_reset(s);
	return o != NULL ? o : json_null();
}

static json_t *
gen_json(struct cust_state *st, struct ca_gen *g)
{
	char t[32];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "generation", json_integer(g->gen));
	json_object_set_new(o, "state", json_string(g->state));
	json_object_set_new(o, "key_type", json_string(g->kt->name));
	json_object_set_new(o, "digest", json_string(g->kt->digest));
	json_object_set_new(o, "root", ca_info(st, g->root));
	json_object_set_new(o, "issuing", ca_info(st, g->issuing));
	if (g->cross_up != NULL)
		json_object_set_new(o, "cross_up", ca_info(st, g->cross_up));
	if (g->cross_down != NULL)
		json_object_set_new(o, "cross_down",
		    ca_info(st, g->cross_down));
	util_fmt_time(g->created, t, sizeof(t));
	json_object_set_new(o, "created", json_string(t));
	if (g->activated != 0) {
		util_fmt_time(g->activated, t, sizeof(t));
		json_object_set_new(o, "activated", json_string(t));
	}
	if (g->retired != 0) {
		util_fmt_time(g->retired, t, sizeof(t));
		json_object_set_new(o, "retired", json_string(t));
	}
	return o;
}

static int
add_bundle_version(struct cust_state *st, json_t *o)
{
	char *pem = NULL, hash[65];
	int r;

	if ((r = ca_bundle_pem(st, &pem, hash, NULL)) != CUST_OK)
		return r;
	free(pem);
	json_object_set_new(o, "bundle_version", json_string(hash));
	return CUST_OK;
}

/*
 * The end of every change of CA state: the bundle version into resp, the
 * public files queued beside the service files, every file written under
 * its temporary name, commit, then the files renamed into place and the
 * retired generations' public files removed. Anything that fails before
 * the commit rolls everything back (a full disk, a missing directory);
 * after it, only renames are left, and a failed one names the file that
 * holds what it could not install.
 */
static int
commit_publish(struct cust_state *st, json_t **resp, struct ca_files *files,
    json_t **resp_out)
{
	int r;

	if ((r = add_bundle_version(st, *resp)) != CUST_OK ||
	    (r = ca_public_stage(st, files)) != CUST_OK ||
	    (r = ca_files_stage(st, files)) != CUST_OK)
		goto fail;
	/* Tests stop here: everything staged, nothing committed. */
	util_test_crash("ca-staged");
	if ((r = store_commit(state_store(st))) != CUST_OK) {
fail:
		store_rollback(state_store(st));
		return r;
	}
	files->committed = 1;
	if ((r = ca_files_install(st, files)) != CUST_OK ||
	    (r = ca_public_prune(st)) != CUST_OK)
		return r;
	*resp_out = *resp;
	*resp = NULL;
	return CUST_OK;
}

/* Whether the service certificate at rel (leaf first) is one the store
 * issued, of kind, still valid: 1 yes, 0 no (missing, unreadable or
 * unknown). */
static int
service_known(struct cust_state *st, const char *rel, const char *kind)
{
	char *path, *pem = NULL, hex[CA_SERIAL_HEXLEN];
	sqlite3_stmt *s;
	size_t len;
	BIO *b = NULL;
	X509 *x = NULL;
	int known = 0;

	if ((path = util_path(state_dir(st), rel)) == NULL)
		return 0;
	if (util_read_file(path, 1 << 20, &pem, &len) != CUST_OK ||
	    (b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)) !=
	    CUST_OK)
		goto out;
	if ((s = store_stmt(state_store(st), "SELECT 1 FROM cert WHERE "
	    "serial = ? AND kind = ? AND status = 'valid'")) == NULL)
		goto out;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	known = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_reset(s);
out:
	cust_clearerr();	/* an unreadable file is reported as stale */
	X509_free(x);
	BIO_free(b);
	free(pem);
	free(path);
	return known;
}

/* Remove the files DIR/ca/{root,issuing}-gN.pem of every generation N
 * that is not published in the store (retired, or unknown to a store put
 * back from before it). */
static int
prune_unpublished(struct cust_state *st)
{
	struct dirent *e;
	sqlite3_stmt *s;
	DIR *d;
	long long gen;
	char tail[8];
	int fd, r = CUST_OK;

	if ((r = util_open_dir_at(state_dirfd(st), "ca", &fd)) != CUST_OK)
		return r == CUST_E_NOTFOUND ? CUST_OK : r;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return cust_fail(CUST_E_IO, "cannot read %s/ca: %s",
		    state_dir(st), strerror(errno));
	}
	if ((s = store_stmt(state_store(st), "SELECT 1 FROM ca_gen WHERE "
	    "gen = ? AND state IN ('next', 'active', 'previous')")) == NULL) {
		closedir(d);
		return CUST_E_DB;
	}
	while (r == CUST_OK && (e = readdir(d)) != NULL) {
		if ((sscanf(e->d_name, "root-g%lld%7s", &gen, tail) != 2 &&
		    sscanf(e->d_name, "issuing-g%lld%7s", &gen, tail) != 2) ||
		    strcmp(tail, ".pem") != 0)
			continue;
		sqlite3_bind_int64(s, 1, gen);
		if (sqlite3_step(s) != SQLITE_ROW &&
		    unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
			r = cust_fail(CUST_E_IO, "cannot remove %s/ca/%s: %s",
			    state_dir(st), e->d_name, strerror(errno));
		sqlite3_reset(s);
	}
	closedir(d);
	return r;
}

int
ca_republish(struct cust_state *st, json_t **resp_out)
{
	static const char *const svc[][2] = {
		{ "tls/server.crt", "server" }, { "admin/admin.crt", "admin" },
	};
	struct ca_files files;
	json_t *resp, *stale;
	size_t i;
	int r;

	*resp_out = NULL;
	memset(&files, 0, sizeof(files));
	if ((resp = json_object()) == NULL ||
	    json_object_set_new(resp, "stale", stale = json_array()) != 0) {
		json_decref(resp);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	for (i = 0; i < sizeof(svc) / sizeof(svc[0]); i++)
		if (!service_known(st, svc[i][0], svc[i][1]) &&
		    json_array_append_new(stale, json_string(svc[i][0])) != 0) {
			json_decref(resp);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	if ((r = store_begin(state_store(st))) == CUST_OK &&
	    (r = commit_publish(st, &resp, &files, resp_out)) == CUST_OK &&
	    (r = prune_unpublished(st)) != CUST_OK) {
		json_decref(*resp_out);
		*resp_out = NULL;
	}
	ca_files_clear(&files);
	json_decref(resp);
	return r;
}

int
ca_init(struct cust_state *st, json_t *opts, const char *actor,
    json_t **resp_out)
{
	struct ca_conf conf;
	struct ca_issuer is;
	struct ca_files files;
	struct ca_gen *g = NULL;
	int64_t count = 0, max = 0;
	json_t *resp = NULL;
	int r;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	memset(&files, 0, sizeof(files));
	if ((r = ca_conf_apply(&conf, opts)) != CUST_OK) {
		ca_conf_clear(&conf);
		return r;
	}
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	if ((r = count_gens(st, &count, &max)) != CUST_OK)
		goto fail;
	if (count != 0) {
		r = cust_fail(CUST_E_EXISTS, "this state directory already has "
		    "a CA");
		goto fail;
	}
	if ((r = make_gen(st, actor, "ca.init", 1, &conf, NULL, "active", NULL,
	    &g))
	    != CUST_OK || (r = ca_conf_save(st, &conf)) != CUST_OK ||
	    (r = ca_issuer_open(st, actor, "ca.init", "ca:g1", &is)) !=
	    CUST_OK ||
	    (r = ca_service_certs(st, &is, actor, NULL, NULL, &files)) !=
	    CUST_OK)
		goto fail;
	if ((resp = gen_json(st, g)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	json_object_set_new(resp, "profile", json_string(conf.profile));
	r = commit_publish(st, &resp, &files, resp_out);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(resp);
	ca_files_clear(&files);
	ca_issuer_close(&is);
	ca_gen_free(g);
	ca_conf_clear(&conf);
	return r;
}

/*
 * Serials reserved for a certificate that was never recorded (ca_db.c):
 * "unrecorded_serials" counts those whose process is gone (it died
 * between reserving and recording; those now being signed have a live
 * process). No certificate carries them and they are never drawn again.
 */
static int
add_unrecorded(struct cust_state *st, json_t *o)
{
	int64_t n = 0;
	int r;

	if ((r = ca_serial_unrecorded(st, &n)) != CUST_OK)
		return r;
	return json_object_set_new(o, "unrecorded_serials",
	    json_integer(n)) == 0 ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}

/* Every generation, oldest first (one every few years: the list stays
 * short, but it has no bound). */
int
ca_show(struct cust_state *st, json_t **resp_out)
{
	sqlite3_stmt *c;
	int64_t gen = 0;
	json_t *o = json_object(), *arr = json_array();
	int r = CUST_OK;

	*resp_out = NULL;
	if (o == NULL || arr == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_set(o, "generations", arr);
	while ((r = ca_gen_next(st, gen, 0, &gen)) == CUST_OK && gen != 0) {
		struct ca_gen *g = NULL;
		json_t *gj;

		if ((r = ca_gen_load(st, gen, &g)) != CUST_OK)
			break;
		gj = gen_json(st, g);
		ca_gen_free(g);
		if (gj == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		/* Walks the (gen, not_after) index of valid certificates. */
		if ((c = store_stmt(state_store(st),
		    "SELECT count(*) FROM cert "
		    "WHERE gen = ? AND status = 'valid' AND not_after > ? AND "
		    "kind IN " CA_EE_KINDS)) == NULL) {
			json_decref(gj);
			r = CUST_E_DB;
			break;
		}
		sqlite3_bind_int64(c, 1, gen);
		sqlite3_bind_int64(c, 2, util_now());
		if (sqlite3_step(c) == SQLITE_ROW)
			json_object_set_new(gj, "valid_certs",
			    json_integer(sqlite3_column_int64(c, 0)));
		sqlite3_reset(c);
		json_array_append_new(arr, gj);
	}
	if (r == CUST_OK && json_array_size(arr) == 0)
		r = cust_fail(CUST_E_NOTFOUND, "no CA (run custodyctl init)");
	if (r == CUST_OK)
		r = add_bundle_version(st, o);
	if (r == CUST_OK)
		r = add_unrecorded(st, o);
	if (r == CUST_OK) {
		*resp_out = o;
		o = NULL;
	}
out:
	json_decref(arr);
	json_decref(o);
	return r;
}

/* A refusal of a rollover step after rolling back. */
static int
gen_refuse(struct cust_state *st, const char *actor, const char *action,
    int code)
{
	store_rollback(state_store(st));
	return ca_refuse(st, actor, action, "ca", code);
}

int
ca_rotate(struct cust_state *st, const char *actor, json_t *opts,
    json_t **resp_out)
{
	struct ca_conf conf;
	struct ca_files files;
	struct ca_gen *active = NULL, *other = NULL, *g = NULL;
	struct ca_premade pk;
	int64_t count = 0, max = 0;
	json_t *resp = NULL;
	int r;

	*resp_out = NULL;
	memset(&conf, 0, sizeof(conf));
	memset(&files, 0, sizeof(files));
	memset(&pk, 0, sizeof(pk));
	if ((r = ca_stale_sweep(st, actor)) != CUST_OK ||
	    (r = gen_keys_make(st, opts, &pk)) != CUST_OK)
		return r;
	if ((r = store_begin(state_store(st))) != CUST_OK) {
		ca_premade_clear(&pk);
		return r;
	}
	if ((r = ca_conf_load(st, &conf)) != CUST_OK)
		goto fail;
	if ((r = ca_conf_merge(&conf, opts)) != CUST_OK) {
		r = gen_refuse(st, actor, "ca.rotate", r);
		goto out;
	}
	if ((r = ca_gen_by_state(st, "next", &other)) == CUST_OK) {
		cust_fail(CUST_E_CONFLICT, "generation %lld is already waiting "
		    "for activation (ca rotate --activate)",
		    (long long)other->gen);
		r = gen_refuse(st, actor, "ca.rotate", CUST_E_CONFLICT);
		goto out;
	}
	if (r != CUST_E_NOTFOUND)
		goto fail;
	if ((r = ca_gen_by_state(st, "previous", &other)) == CUST_OK) {
		cust_fail(CUST_E_CONFLICT, "generation %lld must be retired "
		    "first (ca rotate --retire-old)", (long long)other->gen);
		r = gen_refuse(st, actor, "ca.rotate", CUST_E_CONFLICT);
		goto out;
	}
	if (r != CUST_E_NOTFOUND)
		goto fail;
	if ((r = ca_gen_by_state(st, "active", &active)) != CUST_OK ||
	    (r = count_gens(st, &count, &max)) != CUST_OK ||
	    (r = make_gen(st, actor, "ca.rotate", max + 1, &conf, active,
	    "next", &pk, &g)) != CUST_OK ||
	    (r = ca_conf_save(st, &conf)) != CUST_OK)
		goto fail;
	if ((resp = gen_json(st, g)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	r = commit_publish(st, &resp, &files, resp_out);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(resp);
	ca_files_clear(&files);
	ca_premade_clear(&pk);
	ca_gen_free(active);
	ca_gen_free(other);
	ca_gen_free(g);
	ca_conf_clear(&conf);
	return r;
}

static int
set_state(struct cust_state *st, int64_t gen, const char *state)
{
	sqlite3_stmt *s;
	int r;

	s = store_stmt(state_store(st), "UPDATE ca_gen SET state = ?2, "
	    "activated = CASE WHEN ?2 = 'active' THEN ?3 ELSE activated END, "
	    "retired = CASE WHEN ?2 = 'retired' THEN ?3 ELSE retired END "
	    "WHERE gen = ?1 AND " STORE_CHECK(STORE_ROW_CA_GEN));
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "change CA generation state")) != CUST_OK)
		return r;
	return store_row_reseal(state_store(st), STORE_RESEAL_CA_GEN, gen);
}

/* Revoke (superseded) the valid end-entity certificates of gen, of the
 * service kinds only (service) or of every kind, into rs. */
static int
supersede_gen(struct cust_state *st, const char *actor, int64_t gen,
    int service, const char *why, struct ca_revset *rs)
{
	sqlite3_stmt *s;

	s = store_stmt(state_store(st), service ?
	    "SELECT id FROM cert WHERE gen = ? AND status = 'valid' "
	    "AND not_after > ? AND kind IN ('server', 'admin') LIMIT 1" :
	    "SELECT id FROM cert WHERE gen = ? AND status = 'valid' "
	    "AND not_after > ? AND kind IN " CA_EE_KINDS " LIMIT 1");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_int64(s, 2, util_now());
	return ca_revoke_each(st, actor, s, 4, why, rs);
}

int
ca_activate(struct cust_state *st, const char *actor, json_t **resp_out)
{
	struct ca_conf conf;
	struct ca_issuer is;
	struct ca_files files;
	struct ca_revset rs;
	struct ca_gen *next = NULL, *active = NULL;
	char obj[32], detail[128];
	char hex[CA_SERVICE_CERTS][CA_SERIAL_HEXLEN] = { "", "" };
	struct ca_premade pm;
	int64_t gen = 0;
	json_t *resp = NULL;
	int r;

	*resp_out = NULL;
	memset(&conf, 0, sizeof(conf));
	memset(&is, 0, sizeof(is));
	memset(&files, 0, sizeof(files));
	memset(&pm, 0, sizeof(pm));
	memset(&rs, 0, sizeof(rs));
	/* What an activation killed before its commit left staged goes
	 * first; then the serials of the new service certificates are
	 * reserved (committed, naming this process), so that a kill between
	 * staging them and the commit leaves certificates the store knows. */
	if ((r = ca_stale_sweep(st, actor)) != CUST_OK)
		return r;
	if ((r = ca_gen_by_state(st, "next", &next)) == CUST_OK) {
		gen = next->gen;
		ca_gen_free(next);
		next = NULL;
		if ((r = ca_serial_reserve(st, gen, "custodyd", &hex[0], 1)) !=
		    CUST_OK ||
		    (r = ca_serial_reserve(st, gen, "admin", &hex[1], 1)) !=
		    CUST_OK)
			goto out;
	} else if (r != CUST_E_NOTFOUND)
		return r;	/* NOTFOUND: refused below */
	/* The service keys are made with no transaction open. */
	if ((gen != 0 && (r = service_keys_make(st, &pm)) != CUST_OK) ||
	    (r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	if ((r = ca_conf_load(st, &conf)) != CUST_OK)
		goto fail;
	if ((r = ca_gen_by_state(st, "next", &next)) == CUST_E_NOTFOUND ||
	    (r == CUST_OK && next->gen != gen)) {
		cust_fail(CUST_E_CONFLICT, r == CUST_OK ? "generation %lld was "
		    "made meanwhile by another process: ask again" :
		    "no generation is waiting for activation (ca rotate "
		    "first)", r == CUST_OK ? (long long)next->gen : 0LL);
		r = gen_refuse(st, actor, "ca.activate", CUST_E_CONFLICT);
		goto out;
	}
	if (r != CUST_OK ||
	    (r = ca_gen_by_state(st, "active", &active)) != CUST_OK ||
	    (r = set_state(st, active->gen, "previous")) != CUST_OK ||
	    (r = set_state(st, next->gen, "active")) != CUST_OK)
		goto fail;
	/* The service's own certificates move to the new generation now, so
	 * that they never hold back the retirement of the old one. */
	snprintf(obj, sizeof(obj), "ca:g%lld", (long long)next->gen);
	if ((r = supersede_gen(st, actor, active->gen, 1, "ca-activate", &rs))
	    != CUST_OK || (r = ca_revset_publish(st, &rs, &conf)) != CUST_OK)
		goto fail;
	/* A refusal has rolled back already; rolling back again is a
	 * no-op. */
	if ((r = ca_issuer_open(st, actor, "ca.activate", obj, &is)) !=
	    CUST_OK ||
	    (r = ca_service_certs(st, &is, actor, hex, &pm, &files)) !=
	    CUST_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "generation %lld active, %lld "
	    "previous", (long long)next->gen, (long long)active->gen);
	if ((r = audit_append(state_audit(st), actor, "ca.activate", obj, "ok",
	    detail)) != CUST_OK)
		goto fail;
	if ((resp = gen_json(st, is.g)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	json_object_set_new(resp, "previous", json_integer(active->gen));
	r = commit_publish(st, &resp, &files, resp_out);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	/* Not committed: the reservations are not wanted (committed: they
	 * were consumed by their certificates). */
	if (r != CUST_OK && !files.committed)
		ca_serial_release(st, hex, CA_SERVICE_CERTS);
	json_decref(resp);
	ca_files_clear(&files);
	ca_premade_clear(&pm);
	ca_issuer_close(&is);
	ca_gen_free(next);
	ca_gen_free(active);
	ca_conf_clear(&conf);
	return r;
}

/* Is the service TLS certificate due for renewal at now, before seconds
 * ahead (< 0: always)? The newest valid one counts; none valid is due.
 * *gen_out = the active generation (0 and not due: no CA). */
static int
server_due(struct cust_state *st, int64_t before, int64_t now, int *due_out,
    int64_t *gen_out)
{
	sqlite3_stmt *s;
	int rc;

	*due_out = 0;
	*gen_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT (SELECT gen FROM ca_gen "
	    "WHERE state = 'active'), (SELECT max(not_after) FROM cert WHERE "
	    "kind = 'server' AND status = 'valid')")) == NULL)
		return CUST_E_DB;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*gen_out = sqlite3_column_int64(s, 0);
		*due_out = before < 0 || sqlite3_column_type(s, 1) ==
		    SQLITE_NULL || sqlite3_column_int64(s, 1) - before <= now;
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st),
	    "read the service certificate");
}

int
ca_server_renew(struct cust_state *st, const char *actor, int64_t before,
    json_t **resp_out)
{
	struct ca_issuer is;
	struct ca_files files;
	struct ca_revset rs;
	char obj[32], hex[1][CA_SERIAL_HEXLEN] = { "" };
	struct ca_premade pm;
	sqlite3_stmt *s;
	int64_t gen = 0, gen2 = 0;
	json_t *resp = NULL;
	int r, due = 0;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	memset(&files, 0, sizeof(files));
	memset(&pm, 0, sizeof(pm));
	memset(&rs, 0, sizeof(rs));
	/* One read when nothing is due (the scheduler asks every tick). */
	if ((r = server_due(st, before, util_now(), &due, &gen)) != CUST_OK)
		return r;
	if (gen == 0 && before < 0)
		return cust_fail(CUST_E_NOTFOUND, "no CA (init first)");
	if (!due) {
		if ((*resp_out = json_pack("{s:b}", "renewed", 0)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		return CUST_OK;
	}
	/* As ca_activate(): stale staged files first, the serial reserved,
	 * the key made, all before the transaction. */
	if ((r = ca_stale_sweep(st, actor)) != CUST_OK ||
	    (r = ca_serial_reserve(st, gen, "custodyd", hex, 1)) != CUST_OK)
		goto out;
	if ((r = service_keys_make(st, &pm)) != CUST_OK ||
	    (r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	/* Under the write lock again: processes renewing at once renew
	 * once, under the generation they reserved for. */
	if ((r = server_due(st, before, util_now(), &due, &gen2)) != CUST_OK)
		goto fail;
	if (!due || gen2 != gen) {
		store_rollback(state_store(st));
		if (gen2 != gen) {
			r = cust_fail(CUST_E_CONFLICT, "the active CA "
			    "generation changed meanwhile: ask again");
			goto out;
		}
		ca_serial_release(st, hex, 1);
		if ((resp = json_pack("{s:b}", "renewed", 0)) == NULL)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
		*resp_out = resp;
		resp = NULL;
		goto out;
	}
	snprintf(obj, sizeof(obj), "ca:g%lld", (long long)gen);
	if ((s = store_stmt(state_store(st), "SELECT id FROM cert WHERE "
	    "kind = 'server' AND status = 'valid' AND not_after > ? "
	    "LIMIT 1")) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, util_now());
	if ((r = ca_revoke_each(st, actor, s, 4, "server-renew", &rs)) !=
	    CUST_OK || (r = ca_revset_publish(st, &rs, NULL)) != CUST_OK ||
	    (r = ca_issuer_open(st, actor, "cert.renew", obj, &is)) !=
	    CUST_OK ||
	    (r = ca_server_cert(st, &is, actor, hex[0], &pm, &files)) !=
	    CUST_OK)
		goto fail;
	if ((r = audit_append(state_audit(st), actor, "ca.server-renew", obj,
	    "ok", "tls/server.crt renewed")) != CUST_OK)
		goto fail;
	if ((resp = gen_json(st, is.g)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	json_object_set_new(resp, "renewed", json_true());
	json_object_set_new(resp, "superseded", json_integer(
	    (json_int_t)rs.revoked));
	r = commit_publish(st, &resp, &files, resp_out);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	if (r != CUST_OK && !files.committed)
		ca_serial_release(st, hex, 1);
	json_decref(resp);
	ca_files_clear(&files);
	ca_premade_clear(&pm);
	ca_issuer_close(&is);
	return r;
}

/* How many valid end-entity certificates of gen are left (counted on the
 * covering index), and one of them for a message. */
static int
valid_left(struct cust_state *st, int64_t gen, int64_t *count_out,
    char *example, size_t len)
{
	sqlite3_stmt *s;
	int rc;

	example[0] = '\0';
	if ((s = store_stmt(state_store(st),
	    "SELECT count(*) FROM cert WHERE gen = ? "
	    "AND status = 'valid' AND not_after > ? AND kind IN " CA_EE_KINDS))
	    == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_int64(s, 2, util_now());
	rc = sqlite3_step(s);
	*count_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_err(state_store(st), "read certificates");
	if (*count_out == 0)
		return CUST_OK;
	if ((s = store_stmt(state_store(st),
	    "SELECT serial || ' (' || kind || ' ' || "
	    "holder || ')' FROM cert WHERE gen = ? AND status = 'valid' AND "
	    "not_after > ? AND kind IN " CA_EE_KINDS " LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_int64(s, 2, util_now());
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(example, len, "%s", sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	return CUST_OK;
}

/* Revoke the certificate x (superseded) into rs when it is valid. */
static int
revoke_cert(struct cust_state *st, const char *actor, X509 *x,
    const char *why, struct ca_revset *rs)
{
	char hex[CA_SERIAL_HEXLEN];
	sqlite3_stmt *s;
	int r;

	if (x == NULL)
		return CUST_OK;
	if ((r = ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex))) !=
	    CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st),
	    "SELECT id FROM cert WHERE serial = ? "
	    "AND status = 'valid'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	return ca_revoke_each(st, actor, s, 4, why, rs);
}

/*
 * Retire the previous generation, in one transaction:
 *  1. with force, revoke what is still valid of it (superseded);
 *  2. revoke both cross-certificates between it and the active root: the
 *     one the old root signed (on the old root's CRL) and the one the
 *     active root signed (on the active root's CRL, which stays
 *     published) - without this, the old generation's certificates keep
 *     chaining to the active root;
 *  3. mark it retired and make its final CRLs, which list everything
 *     revoked of it and stay current until its CA certificates expire;
 *  4. make the active root's CRL again (ca_revset_publish() leaves the
 *     retired generation alone);
 *  5. destroy its keys: nothing is ever signed with them again.
 */
int
ca_retire(struct cust_state *st, const char *actor, int force,
    json_t **resp_out)
{
	struct ca_conf conf;
	struct ca_files files;
	struct ca_revset rs;
	struct ca_gen *prev = NULL, *active = NULL;
	char obj[32], detail[160], example[CUST_MAX_FQDN + 64];
	int64_t left = 0, revoked = 0;
	json_t *resp = NULL;
	int r;

	*resp_out = NULL;
	memset(&conf, 0, sizeof(conf));
	memset(&files, 0, sizeof(files));
	memset(&rs, 0, sizeof(rs));
	if ((r = ca_stale_sweep(st, actor)) != CUST_OK ||
	    (r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = ca_gen_by_state(st, "previous", &prev)) == CUST_E_NOTFOUND) {
		cust_fail(CUST_E_CONFLICT, "no previous generation to retire "
		    "(ca rotate --activate first)");
		r = gen_refuse(st, actor, "ca.retire", CUST_E_CONFLICT);
		goto out;
	}
	if (r != CUST_OK || (r = ca_conf_load(st, &conf)) != CUST_OK ||
	    (r = ca_gen_by_state(st, "active", &active)) != CUST_OK ||
	    (r = valid_left(st, prev->gen, &left, example, sizeof(example))) !=
	    CUST_OK)
		goto fail;
	if (left > 0 && !force) {
		cust_fail(CUST_E_CONFLICT, "%lld certificate%s issued under "
		    "generation %lld %s still valid (e.g. %s); renew or revoke "
		    "them first, or retire with --force (which revokes them)",
		    (long long)left, left == 1 ? "" : "s",
		    (long long)prev->gen, left == 1 ? "is" : "are", example);
		r = gen_refuse(st, actor, "ca.retire", CUST_E_CONFLICT);
		goto out;
	}
	if ((left > 0 && (r = supersede_gen(st, actor, prev->gen, 0,
	    "ca-retire-forced", &rs)) != CUST_OK))
		goto fail;
	revoked = (int64_t)rs.revoked;
	if ((r = revoke_cert(st, actor, active->cross_up, "ca-retire",
	    &rs)) != CUST_OK ||
	    (r = revoke_cert(st, actor, active->cross_down, "ca-retire",
	    &rs)) != CUST_OK ||
	    (r = set_state(st, prev->gen, "retired")) != CUST_OK ||
	    (r = ca_crl_final(st, prev, 0)) != CUST_OK ||
	    (r = ca_crl_final(st, prev, 1)) != CUST_OK ||
	    (r = ca_revset_publish(st, &rs, &conf)) != CUST_OK ||
	    (ca_signer()->destroy != NULL &&
	    (r = ca_signer()->destroy(st, prev->gen)) != CUST_OK))
		goto fail;
	snprintf(obj, sizeof(obj), "ca:g%lld", (long long)prev->gen);
	snprintf(detail, sizeof(detail), "retired%s, %lld certificates "
	    "revoked, cross-certificates with generation %lld revoked, final "
	    "CRLs made, keys %s", force ? " (forced)" : "", (long long)revoked,
	    (long long)active->gen, ca_signer()->destroy != NULL ?
	    "destroyed" : "kept by the signer");
	if ((r = audit_append(state_audit(st), actor, "ca.retire", obj, "ok",
	    detail)) != CUST_OK)
		goto fail;
	if ((resp = json_pack("{s:I, s:s, s:I}", "generation",
	    (json_int_t)prev->gen, "state", "retired", "revoked",
	    (json_int_t)revoked)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	r = commit_publish(st, &resp, &files, resp_out);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(resp);
	ca_files_clear(&files);
	ca_gen_free(prev);
	ca_gen_free(active);
	ca_conf_clear(&conf);
	return r;
}
