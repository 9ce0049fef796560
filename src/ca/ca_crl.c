/* SPDX-License-Identifier: MIT */
/* src/ca/ca_crl.c - revocation and CRLs.
 *
 * Each generation has two CRLs: the issuing CA's (end-entity certificates
 * of that generation) and the root's (the issuing CA and cross-certificates
 * the root signed). While a generation is published a CRL is made again,
 * in the same transaction, whenever a certificate it covers is revoked
 * (every revocation goes through a struct ca_revset), and before its
 * nextUpdate (ca_crl_refresh(): `ca crl --refresh`, and the ops layer
 * before every CA operation that writes; never a read, which serves the
 * stored CRL). When a generation is retired its
 * last CRLs are made valid until its CA certificates expire and its keys
 * are destroyed: nothing of it can be revoked any more. CRL numbers only
 * grow. Revoked certificates leave a CRL once they have expired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "audit.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise"
};
#define NREASONS ((int)(sizeof(reasons) / sizeof(reasons[0])))

int
ca_reason_code(const char *name)
{
	int i;

	if (name == NULL)
		return 0;
	for (i = 0; i < NREASONS; i++)
		if (reasons[i] != NULL && strcasecmp(reasons[i], name) == 0)
			break;
	/* Revocation here is permanent: no hold, no un-revoke. */
	if (i == NREASONS || i == 6 || i == 8)
		return -1;
	return i;
}

const char *
ca_reason_name(int code)
{
	if (code < 0 || code >= NREASONS || reasons[code] == NULL)
		return "unspecified";
	return reasons[code];
}

/* Note the CRL covering a certificate of kind in generation gen. */
static void
revset_note(struct ca_revset *rs, int64_t gen, const char *kind)
{
	int root = strcmp(kind, "issuing") == 0 || strcmp(kind, "cross") == 0;
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (rs->crl[i].gen == gen && rs->crl[i].root == root)
			return;
	if (rs->n == CA_REVSET_MAX) {
		rs->overflow = 1;
		return;
	}
	rs->crl[rs->n].gen = gen;
	rs->crl[rs->n].root = root;
	rs->n++;
}

int
ca_revoke_row(struct cust_state *st, const char *actor, int64_t id,
    int reason, const char *why, struct ca_revset *rs)
{
	char serial[CA_SERIAL_HEXLEN], kind[16], holder[CUST_MAX_FQDN + 1];
	char obj[CUST_MAX_FQDN + 16], detail[256];
	sqlite3_stmt *s;
	int64_t gen;
	int rc, r;

	if ((s = store_stmt(state_store(st),
	    "SELECT serial, kind, holder, gen, "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE id = ? AND "
	    "status = 'valid'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? cust_fail(CUST_E_CONFLICT, "certificate "
		    "%lld is not valid", (long long)id) :
		    store_err(state_store(st), "read certificate");
		sqlite3_reset(s);
		return r;
	}
	snprintf(serial, sizeof(serial), "%s", sqlite3_column_text(s, 0));
	snprintf(kind, sizeof(kind), "%s", sqlite3_column_text(s, 1));
	snprintf(holder, sizeof(holder), "%s", sqlite3_column_text(s, 2));
	gen = sqlite3_column_int64(s, 3);
	sqlite3_reset(s);
	if ((s = store_stmt(state_store(st),
	    "UPDATE cert SET status = 'revoked', "
	    "revoked = ?, reason = ? WHERE id = ? AND status = 'valid' AND "
	    STORE_CHECK(STORE_ROW_CERT))) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, util_now());
	sqlite3_bind_int(s, 2, reason);
	sqlite3_bind_int64(s, 3, id);
	/* A revoked certificate no longer waits for its key's delivery, nor
	 * to supersede or be superseded. */
	if ((r = store_step_done(state_store(st), s, "revoke certificate")) !=
	    CUST_OK ||
	    (r = store_row_reseal(state_store(st), STORE_RESEAL_CERT, id)) !=
	    CUST_OK || (r = ca_delivery_clear(st, serial)) != CUST_OK ||
	    (r = ca_supersede_drop(st, serial)) != CUST_OK)
		return r;
	ca_object(obj, sizeof(obj), kind, holder);
	snprintf(detail, sizeof(detail), "serial=%s reason=%s generation=%lld"
	    "%s%s", serial, ca_reason_name(reason), (long long)gen,
	    why != NULL ? " " : "", why != NULL ? why : "");
	if ((r = audit_append(state_audit(st), actor, "cert.revoke", obj, "ok",
	    detail)) != CUST_OK)
		return r;
	revset_note(rs, gen, kind);
	rs->revoked++;
	if (rs->serials != NULL &&
	    json_array_append_new(rs->serials, json_string(serial)) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

int
ca_revoke_each(struct cust_state *st, const char *actor, sqlite3_stmt *s,
    int reason, const char *why, struct ca_revset *rs)
{
	int64_t id;
	int rc, r;

	/* One at a time: each revocation changes the rows s walks. */
	for (;;) {
		rc = sqlite3_step(s);
		id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		sqlite3_reset(s);	/* keeps the bindings */
		if (rc == SQLITE_DONE)
			return CUST_OK;
		if (rc != SQLITE_ROW)
			return store_err(state_store(st), "read certificates");
		if ((r = ca_revoke_row(st, actor, id, reason, why, rs)) !=
		    CUST_OK)
			return r;
	}
}

/* Make the CRL (gen, root) again unless gen is retired. */
static int
crl_again(struct cust_state *st, int64_t gen, int root,
    const struct ca_conf *conf)
{
	struct ca_gen *g = NULL;
	int r;

	if ((r = ca_gen_load(st, gen, &g)) != CUST_OK)
		return r;
	if (strcmp(g->state, "retired") != 0)
		r = ca_crl_make(st, g, root, conf);
	ca_gen_free(g);
	return r;
}

int
ca_revset_publish(struct cust_state *st, const struct ca_revset *rs,
    const struct ca_conf *conf)
{
	struct ca_conf own;
	int64_t gen;
	size_t i;
	int r = CUST_OK, root;

	if (rs->n == 0 && !rs->overflow)
		return CUST_OK;
	if (conf == NULL) {
		if ((r = ca_conf_load(st, &own)) != CUST_OK)
			return r;
		conf = &own;
	}
	if (!rs->overflow) {
		for (i = 0; i < rs->n && r == CUST_OK; i++)
			r = crl_again(st, rs->crl[i].gen, rs->crl[i].root,
			    conf);
		goto out;
	}
	/* Many generations touched: every published CRL, one by one. */
	gen = 0;
	while (r == CUST_OK && (r = ca_gen_next(st, gen, 1, &gen)) == CUST_OK &&
	    gen != 0)
		for (root = 0; root < 2 && r == CUST_OK; root++)
			r = crl_again(st, gen, root, conf);
out:
	if (conf == &own)
		ca_conf_clear(&own);
	return r;
}

int
ca_cert_revoked(struct cust_state *st, X509 *x)
{
	char hex[CA_SERIAL_HEXLEN];
	sqlite3_stmt *s;
	int rc, r;

	if ((r = ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)))
	    != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st), "SELECT status = 'revoked', "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE serial = ?")) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	r = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state_store(st), "read certificate");
	return r;
}

static int
add_revoked(X509_CRL *crl, const char *hex, int64_t when, int reason)
{
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *e = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (rev == NULL || !BN_hex2bn(&bn, hex) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, (time_t)when)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, sn) ||
	    !X509_REVOKED_set_revocationDate(rev, t))
		goto out;
	/* RFC 5280 5.3.1: omit the reason code rather than "unspecified". */
	if (reason != 0 && ((e = ASN1_ENUMERATED_new()) == NULL ||
	    !ASN1_ENUMERATED_set(e, reason) ||
	    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, e, 0, 0)))
		goto out;
	if (!X509_CRL_add0_revoked(crl, rev))
		goto out;
	rev = NULL;
	ok = 1;
out:
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_REVOKED_free(rev);
	return ok ? CUST_OK : ca_ossl_fail(CUST_E_CRYPTO, "cannot add serial "
	    "%s to the CRL", hex);
}

/*
 * Revoked, unexpired certificates a CRL covers. Every unexpired
 * certificate of the generation is read and its MAC checked, the valid
 * ones too: a revoked row set back to 'valid' in the store must stop the
 * CRL, not silently drop off it. (Each partial index serves one half.)
 */
static int
add_entries(struct cust_state *st, X509_CRL *crl, int64_t gen, int root)
{
	sqlite3_stmt *s;
	int rc, r = CUST_OK;

	s = store_stmt(state_store(st), root ?
	    "SELECT serial, revoked, reason, status = 'revoked', "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE gen = ?1 AND "
	    "status = 'revoked' AND not_after > ?2 AND kind IN " CA_SUB_KINDS
	    " UNION ALL SELECT serial, revoked, reason, status = 'revoked', "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE gen = ?1 AND "
	    "status = 'valid' AND not_after > ?2 AND kind IN " CA_SUB_KINDS :
	    "SELECT serial, revoked, reason, status = 'revoked', "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE gen = ?1 AND "
	    "status = 'revoked' AND not_after > ?2 AND kind IN " CA_EE_KINDS
	    " UNION ALL SELECT serial, revoked, reason, status = 'revoked', "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE gen = ?1 AND "
	    "status = 'valid' AND not_after > ?2 AND kind IN " CA_EE_KINDS);
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_int64(s, 2, util_now());
	while (r == CUST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		if (sqlite3_column_int(s, 3))
			r = add_revoked(crl, (const char *)
			    sqlite3_column_text(s, 0),
			    sqlite3_column_int64(s, 1),
			    sqlite3_column_int(s, 2));
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "read revocations");
	sqlite3_reset(s);
	return r;
}

static int
next_number(struct cust_state *st, int64_t gen, int root, int64_t *out)
{
	sqlite3_stmt *s;
	int rc;

	s = store_stmt(state_store(st), root ?
	    "SELECT root_crl_number FROM ca_gen WHERE gen = ?" :
	    "SELECT crl_number FROM ca_gen WHERE gen = ?");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	rc = sqlite3_step(s);
	*out = sqlite3_column_int64(s, 0) + 1;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? cust_fail(CUST_E_NOTFOUND, "no CA "
		    "generation %lld", (long long)gen) :
		    store_err(state_store(st), "read CA generation");
	return CUST_OK;
}

/* Make and store the CRL (g, root) with nextUpdate next. */
static int
crl_make(struct cust_state *st, struct ca_gen *g, int root, int64_t next)
{
	X509 *issuer = root ? g->root : g->issuing;
	const char *role = root ? "root" : "issuing";
	X509_CRL *crl = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	unsigned char *der = NULL;
	void *sess = NULL;
	sqlite3_stmt *s;
	int64_t now = util_now(), number = 0;
	int r = CUST_E_INTERNAL, n = 0;

	if ((r = next_number(st, g->gen, root, &number)) != CUST_OK)
		return r;
	r = CUST_E_INTERNAL;
	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
	    (t = ASN1_TIME_set(NULL, (time_t)now)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    ASN1_TIME_set(t, (time_t)next) == NULL ||
	    !X509_CRL_set1_nextUpdate(crl, t) ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0)) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot build CRL");
		goto out;
	}
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx,
	    NID_authority_key_identifier, "keyid:always")) == NULL ||
	    !X509_CRL_add_ext(crl, ext, -1)) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot add CRL AKI");
		goto out;
	}
	if ((r = add_entries(st, crl, g->gen, root)) != CUST_OK)
		goto out;
	if (!X509_CRL_sort(crl)) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot sort CRL");
		goto out;
	}
	if ((r = ca_signer()->open(st, g->gen, role, &sess)) != CUST_OK ||
	    (r = ca_signer()->sign_crl(sess, crl, g->md)) != CUST_OK)
		goto out;
	if ((n = i2d_X509_CRL(crl, &der)) <= 0) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot encode CRL");
		goto out;
	}
	s = store_stmt(state_store(st), root ?
	    "UPDATE ca_gen SET root_crl = ?, root_crl_number = ?, "
	    "root_crl_next = ? WHERE gen = ? AND "
	    STORE_CHECK(STORE_ROW_CA_GEN) :
	    "UPDATE ca_gen SET crl = ?, crl_number = ?, crl_next = ? "
	    "WHERE gen = ? AND " STORE_CHECK(STORE_ROW_CA_GEN));
	if (s == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_blob(s, 1, der, n, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, number);
	sqlite3_bind_int64(s, 3, next);
	sqlite3_bind_int64(s, 4, g->gen);
	if ((r = store_step_done(state_store(st), s, "store CRL")) == CUST_OK)
		r = store_row_reseal(state_store(st), STORE_RESEAL_CA_GEN,
		    g->gen);
out:
	if (sess != NULL)
		ca_signer()->close(sess);
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return r;
}

int
ca_crl_make(struct cust_state *st, struct ca_gen *g, int root,
    const struct ca_conf *conf)
{
	return crl_make(st, g, root, util_now() +
	    (int64_t)conf->crl_days * CA_DAY);
}

int
ca_crl_final(struct cust_state *st, struct ca_gen *g, int root)
{
	int64_t na = ca_time_of(X509_get0_notAfter(root ? g->root :
	    g->issuing));

	/* Never before the next regular one would have been due. */
	if (na < util_now() + CA_DAY)
		na = util_now() + CA_DAY;
	return crl_make(st, g, root, na);
}

int
ca_revoke(struct cust_state *st, const char *actor, const char *serial,
    const char *reason, json_t **resp_out)
{
	char hex[CA_SERIAL_HEXLEN], obj[CUST_MAX_FQDN + 16];
	struct ca_conf conf;
	struct ca_revset rs;
	sqlite3_stmt *s;
	int64_t id = 0, gen = 0;
	int code, rc, r;

	*resp_out = NULL;
	memset(&conf, 0, sizeof(conf));
	memset(&rs, 0, sizeof(rs));
	snprintf(obj, sizeof(obj), "cert:%.64s", serial ? serial : "");
	if ((r = ca_serial_norm(serial, hex, sizeof(hex))) != CUST_OK)
		return ca_refuse(st, actor, "cert.revoke", obj, r);
	snprintf(obj, sizeof(obj), "cert:%s", hex);
	if ((code = ca_reason_code(reason)) < 0) {
		cust_fail(CUST_E_INVAL, "unknown or unusable reason '%.64s' "
		    "(one of unspecified, keyCompromise, cACompromise, "
		    "affiliationChanged, superseded, cessationOfOperation, "
		    "privilegeWithdrawn, aACompromise)", reason);
		return ca_refuse(st, actor, "cert.revoke", obj, CUST_E_INVAL);
	}
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = ca_conf_load(st, &conf)) != CUST_OK)
		goto fail;
	if ((s = store_stmt(state_store(st),
	    "SELECT c.id, c.kind, c.gen, c.status, "
	    "g.state FROM cert c JOIN ca_gen g ON g.gen = c.gen WHERE "
	    "c.serial = ?")) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(s, 1);
		const char *status = (const char *)sqlite3_column_text(s, 3);
		const char *state = (const char *)sqlite3_column_text(s, 4);

		id = sqlite3_column_int64(s, 0);
		gen = sqlite3_column_int64(s, 2);
		if (strcmp(kind, "root") == 0)
			r = cust_fail(CUST_E_INVAL, "serial %s is a root: "
			    "roots are retired with ca rotate, not revoked",
			    hex);
		else if (strcmp(status, "revoked") == 0)
			r = cust_fail(CUST_E_CONFLICT, "certificate %s is "
			    "already revoked", hex);
		else if (strcmp(state, "retired") == 0)
			/* Its final CRLs are made and its keys are gone;
			 * nothing of it chains to the bundle any more. */
			r = cust_fail(CUST_E_CONFLICT, "certificate %s belongs "
			    "to CA generation %lld, which is retired: it no "
			    "longer verifies against the bundle and no CRL of "
			    "that generation is made any more", hex,
			    (long long)gen);
	} else if (rc == SQLITE_DONE)
		r = cust_fail(CUST_E_NOTFOUND, "no certificate with serial %s",
		    hex);
	else
		r = store_err(state_store(st), "read certificate");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		ca_conf_clear(&conf);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto fail;
		return ca_refuse(st, actor, "cert.revoke", obj, r);
	}
	if ((r = ca_revoke_row(st, actor, id, code, NULL, &rs)) != CUST_OK ||
	    (r = ca_revset_publish(st, &rs, &conf)) != CUST_OK)
		goto fail;
	if ((s = store_stmt(state_store(st),
	    "SELECT " CA_CERT_COLS " FROM cert WHERE id = ?")) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) == SQLITE_ROW)
		*resp_out = ca_cert_info_row(s);
	sqlite3_reset(s);
	if (*resp_out == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	ca_conf_clear(&conf);
	return CUST_OK;
fail:
	store_rollback(state_store(st));
	json_decref(*resp_out);
	*resp_out = NULL;
	ca_conf_clear(&conf);
	return r;
}

int
ca_device_retire(struct cust_state *st, const char *actor, int64_t device_id,
    const char *fqdn, size_t *revoked_out)
{
	struct ca_revset rs;
	sqlite3_stmt *s;
	int own = !store_in_txn(state_store(st)), r;

	*revoked_out = 0;
	memset(&rs, 0, sizeof(rs));
	if (own && (r = store_begin(state_store(st))) != CUST_OK)
		return r;
	/* The device index; expired certificates are on no CRL anyway. */
	if ((s = store_stmt(state_store(st),
	    "SELECT id FROM cert WHERE device_id = ? "
	    "AND status = 'valid' AND not_after > ? ORDER BY id LIMIT 1")) ==
	    NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, device_id);
	sqlite3_bind_int64(s, 2, util_now());
	if ((r = ca_revoke_each(st, actor, s, 5, "device-removed", &rs)) !=
	    CUST_OK || (r = ca_revset_publish(st, &rs, NULL)) != CUST_OK) {
		cust_fail(r, "revoking the certificates of %.*s: %s",
		    CUST_MAX_FQDN, fqdn != NULL ? fqdn : "?", cust_errmsg());
		goto fail;
	}
	if (own && (r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	*revoked_out = rs.revoked;
	return CUST_OK;
fail:
	if (own)
		store_rollback(state_store(st));
	return r;
}

/* The stored CRL of g as a response object. */
static int
crl_json(const unsigned char *der, size_t len, int64_t gen, json_t **out)
{
	const unsigned char *p = der;
	X509_CRL *crl = NULL;
	STACK_OF(X509_REVOKED) *revs;
	ASN1_INTEGER *num = NULL;
	BIO *b = NULL;
	json_t *o = NULL, *serials = NULL;
	char hex[CA_SERIAL_HEXLEN], t1[32], t2[32], *issuer = NULL, *pem;
	long pemlen;
	int i, r = CUST_E_INTERNAL;

	*out = NULL;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL)
		return ca_ossl_fail(CUST_E_DB, "stored CRL unreadable");
	if ((o = json_object()) == NULL || (serials = json_array()) == NULL ||
	    (b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(b, crl) ||
	    (pemlen = BIO_get_mem_data(b, &pem)) <= 0 ||
	    (issuer = ca_name_text(X509_CRL_get_issuer(crl))) == NULL) {
		r = ca_ossl_fail(CUST_E_NOMEM, "cannot encode CRL");
		goto out;
	}
	revs = X509_CRL_get_REVOKED(crl);
	for (i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		X509_REVOKED *rv = sk_X509_REVOKED_value(revs, i);

		if (ca_serial_hex(X509_REVOKED_get0_serialNumber(rv), hex,
		    sizeof(hex)) == CUST_OK)
			json_array_append_new(serials, json_string(hex));
	}
	util_fmt_time(ca_time_of(X509_CRL_get0_lastUpdate(crl)), t1,
	    sizeof(t1));
	util_fmt_time(ca_time_of(X509_CRL_get0_nextUpdate(crl)), t2,
	    sizeof(t2));
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	json_object_set_new(o, "generation", json_integer(gen));
	json_object_set_new(o, "issuer", json_string(issuer));
	json_object_set_new(o, "number", json_integer(num != NULL ?
	    (json_int_t)ASN1_INTEGER_get(num) : 0));
	json_object_set_new(o, "this_update", json_string(t1));
	json_object_set_new(o, "next_update", json_string(t2));
	json_object_set(o, "serials", serials);
	json_object_set_new(o, "der", ca_json_b64(der, len));
	json_object_set_new(o, "pem", json_stringn(pem, (size_t)pemlen));
	*out = o;
	o = NULL;
	r = CUST_OK;
out:
	ASN1_INTEGER_free(num);
	free(issuer);
	BIO_free(b);
	json_decref(serials);
	json_decref(o);
	X509_CRL_free(crl);
	return r;
}

/* Read the stored CRL of gen; *due when it must be made again (none, or
 * within margin seconds of its nextUpdate). */
static int
crl_read(struct cust_state *st, int64_t gen, int root, int64_t margin,
    unsigned char **der, size_t *len, int *due, char *state, size_t slen)
{
	sqlite3_stmt *s;
	int rc, r = CUST_OK;

	*der = NULL;
	*len = 0;
	*due = 1;
	s = store_stmt(state_store(st), root ?
	    "SELECT root_crl, root_crl_next, state, "
	    STORE_CHECK(STORE_ROW_CA_GEN) " FROM ca_gen WHERE gen = ?" :
	    "SELECT crl, crl_next, state, " STORE_CHECK(STORE_ROW_CA_GEN)
	    " FROM ca_gen WHERE gen = ?");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(state, slen, "%s", sqlite3_column_text(s, 2));
		if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
			*len = (size_t)sqlite3_column_bytes(s, 0);
			if ((*der = malloc(*len)) == NULL)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
			else
				memcpy(*der, sqlite3_column_blob(s, 0), *len);
			*due = sqlite3_column_int64(s, 1) - util_now() <
			    margin;
		}
	} else if (rc == SQLITE_DONE)
		r = cust_fail(CUST_E_NOTFOUND, "no CA generation %lld",
		    (long long)gen);
	else
		r = store_err(state_store(st), "read CRL");
	sqlite3_reset(s);
	return r;
}

/*
 * Make the CRL of gen again in its own transaction, audited, when it is
 * still due. The caller decided from a read outside the transaction; the
 * decision is taken again inside it (under the write lock), so two
 * processes that both saw it due never both sign one: the second finds
 * the first one's CRL and makes nothing (*made_out 0).
 */
int
ca_crl_refresh_gen(struct cust_state *st, const char *actor, int64_t gen,
    int root, int64_t margin, int *made_out)
{
	struct ca_conf conf;
	struct ca_gen *g = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	char obj[32], detail[64], state[16] = "";
	int r, due = 0;

	*made_out = 0;
	memset(&conf, 0, sizeof(conf));
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = crl_read(st, gen, root, margin, &der, &len, &due, state,
	    sizeof(state))) != CUST_OK)
		goto fail;
	free(der);
	if (!due || strcmp(state, "retired") == 0) {
		store_rollback(state_store(st));	/* nothing written */
		return CUST_OK;
	}
	if ((r = ca_conf_load(st, &conf)) != CUST_OK)
		goto fail;
	snprintf(obj, sizeof(obj), "ca:g%lld", (long long)gen);
	snprintf(detail, sizeof(detail), "%s CRL", root ? "root" : "issuing");
	if ((r = ca_gen_load(st, gen, &g)) != CUST_OK ||
	    (r = ca_crl_make(st, g, root, &conf)) != CUST_OK ||
	    (r = audit_append(state_audit(st), actor, "ca.crl", obj, "ok",
	    detail)) != CUST_OK ||
	    (r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	*made_out = 1;
	goto out;
fail:
	store_rollback(state_store(st));
out:
	ca_gen_free(g);
	ca_conf_clear(&conf);
	return r;
}

int
ca_crl(struct cust_state *st, const char *actor, int64_t gen, int root,
    json_t **resp_out)
{
	unsigned char *der = NULL;
	size_t len = 0;
	char state[16] = "";
	int due = 0, r;

	*resp_out = NULL;
	if (gen == 0) {
		struct ca_gen *g = NULL;

		if ((r = ca_gen_by_state(st, "active", &g)) != CUST_OK)
			return r == CUST_E_NOTFOUND ? cust_fail(r, "no active "
			    "CA generation (run custodyctl init)") : r;
		gen = g->gen;
		ca_gen_free(g);
	}
	if ((r = crl_read(st, gen, root, CA_CRL_MARGIN, &der, &len, &due,
	    state, sizeof(state))) != CUST_OK)
		return r;
	/* A retired generation's CRL is final: its keys are gone. */
	if (strcmp(state, "retired") == 0) {
		r = der != NULL ? crl_json(der, len, gen, resp_out) :
		    cust_fail(CUST_E_NOTFOUND, "CA generation %lld was retired "
		    "without a final CRL", (long long)gen);
		goto out;
	}
	/* A read never signs: a due CRL is served as stored (it is valid
	 * until its nextUpdate); ca_crl_refresh() makes it again. */
	(void)actor;
	r = der != NULL ? crl_json(der, len, gen, resp_out) :
	    cust_fail(CUST_E_NOTFOUND, "generation %lld has no %s CRL yet: "
	    "make it with custodyctl ca crl --refresh", (long long)gen,
	    root ? "root" : "issuing");
out:
	free(der);
	return r;
}

int
ca_crl_all(struct cust_state *st, const char *actor, json_t **resp_out)
{
	json_t *crls = json_array(), *one = NULL;
	int64_t gen = 0;
	int r = CUST_OK, root;

	*resp_out = NULL;
	if (crls == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* By key: ca_crl() may commit in between. */
	while ((r = ca_gen_next(st, gen, 0, &gen)) == CUST_OK && gen != 0) {
		for (root = 1; root >= 0 && r == CUST_OK; root--) {
			if ((r = ca_crl(st, actor, gen, root, &one)) !=
			    CUST_OK)
				break;
			if (json_object_set_new(one, "root",
			    json_boolean(root)) != 0 ||
			    json_array_append_new(crls, one) != 0)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
			one = NULL;
		}
		if (r != CUST_OK)
			break;
	}
	if (r == CUST_OK && (*resp_out = json_pack("{s:O}", "crls", crls)) ==
	    NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	json_decref(crls);
	return r;
}

int
ca_crl_refresh(struct cust_state *st, const char *actor, size_t *count_out)
{
	return ca_crl_refresh_within(st, actor, CA_CRL_MARGIN, count_out);
}

int
ca_crl_refresh_within(struct cust_state *st, const char *actor,
    int64_t margin, size_t *count_out)
{
	sqlite3_stmt *s;
	int64_t gen = 0, now = util_now();
	int rc, r = CUST_OK, root;

	*count_out = 0;
	/* The usual answer, "nothing is due", costs this one read of a
	 * table of a few rows. */
	for (;;) {
		if ((s = store_stmt(state_store(st),
		    "SELECT gen, crl_next IS NULL OR "
		    "crl_next - ?2 < ?3, root_crl_next IS NULL OR "
		    "root_crl_next - ?2 < ?3 FROM ca_gen WHERE gen > ?1 AND "
		    "state <> 'retired' AND (crl_next IS NULL OR crl_next - ?2 "
		    "< ?3 OR root_crl_next IS NULL OR root_crl_next - ?2 < ?3) "
		    "ORDER BY gen LIMIT 1")) == NULL)
			return CUST_E_DB;
		sqlite3_bind_int64(s, 1, gen);
		sqlite3_bind_int64(s, 2, now);
		sqlite3_bind_int64(s, 3, margin);
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(s);
			return CUST_OK;
		}
		if (rc != SQLITE_ROW) {
			r = store_err(state_store(st), "read CA generations");
			sqlite3_reset(s);
			return r;
		}
		gen = sqlite3_column_int64(s, 0);
		{
			int due[2] = { sqlite3_column_int(s, 1),
			    sqlite3_column_int(s, 2) };

			sqlite3_reset(s);
			for (root = 0; root < 2; root++) {
				int made = 0;

				if (!due[root])
					continue;
				if ((r = ca_crl_refresh_gen(st, actor, gen,
				    root, margin, &made)) != CUST_OK)
					return r;
				*count_out += (size_t)made;
			}
		}
	}
}
