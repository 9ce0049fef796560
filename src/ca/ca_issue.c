/* SPDX-License-Identifier: MIT */
/* src/ca/ca_issue.c - end-entity certificates: device certificates from
 * CSRs, server-side keyed certificates with PKCS#12, renewal, batches, and
 * the service's own TLS and admin certificates.
 *
 * Every issuance from a request follows one shape: refuse early (and
 * audit the refusal) before anything is written; open the issuer (active
 * generation + a signer session); reserve a serial (committed), build and
 * sign with no transaction open; then, in one short store transaction,
 * check the issuer and the device again, record the certificate and its
 * audit entry, and commit. Only a committed certificate is ever returned.
 * (Console certificates too, in ca_console.c.) The service certificates
 * (ca_leaf_issue()) are still built and signed inside their
 * (administrative) transaction.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "audit.h"
#include "cred.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

#define P12_PWLEN	24

void
ca_object(char *buf, size_t len, const char *kind, const char *holder)
{
	const char *prefix = "ca";

	/* Devices are audited under their FQDN, like the rest of custody. */
	if (strcmp(kind, "device") == 0) {
		snprintf(buf, len, "%.*s", CUST_MAX_FQDN,
		    holder != NULL ? holder : "");
		return;
	}
	if (strcmp(kind, "console") == 0)
		prefix = kind;
	else if (strcmp(kind, "server") == 0 || strcmp(kind, "admin") == 0)
		prefix = "service";
	snprintf(buf, len, "%s:%.*s", prefix, CUST_MAX_FQDN,
	    holder != NULL ? holder : "");
}

/*
 * A refusal is recorded even though nothing else is: who asked for what
 * and why it was refused. An open transaction is rolled back first (here,
 * explicitly: the refused change must not commit with its record);
 * audit_note() keeps the caller's error message.
 */
static int
note(struct cust_state *st, const char *actor, const char *action,
    const char *object, const char *result, int code)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", cust_errmsg());
	store_rollback(state_store(st));
	(void)audit_note(state_audit(st), actor, action, object, result, msg);
	return code;
}

int
ca_refuse(struct cust_state *st, const char *actor, const char *action,
    const char *object, int code)
{
	return note(st, actor, action, object, "refused", code);
}

int
ca_failed(struct cust_state *st, const char *actor, const char *action,
    const char *object, int code)
{
	return note(st, actor, action, object, "failed", code);
}

/*
 * Nothing is issued under a revoked issuing CA, nor with a chain that
 * carries a revoked cross-certificate: a relying party that checks
 * revocation would reject every such certificate, one that does not would
 * accept what the operator meant to stop. The way out is a new generation.
 */
static int
issuer_usable(struct cust_state *st, struct ca_issuer *is)
{
	int r;

	if ((r = ca_cert_revoked(st, is->g->issuing)) != 0)
		return r < 0 ? r : cust_fail(CUST_E_CONFLICT, "the issuing CA "
		    "of generation %lld is revoked: nothing more is issued "
		    "under it; start a new generation (custodyctl ca rotate, "
		    "then ca rotate --activate)", (long long)is->g->gen);
	if (is->prev != NULL && is->g->cross_up != NULL &&
	    (r = ca_cert_revoked(st, is->g->cross_up)) != 0)
		return r < 0 ? r : cust_fail(CUST_E_CONFLICT, "the cross-"
		    "certificate of generation %lld (its root certified by "
		    "generation %lld) is revoked: its chains no longer verify "
		    "for consoles that only trust the old root; retire "
		    "generation %lld (ca rotate --retire-old) or start a new "
		    "rollover", (long long)is->g->gen,
		    (long long)is->prev->gen, (long long)is->prev->gen);
	return CUST_OK;
}

int
ca_issuer_open(struct cust_state *st, const char *actor, const char *action,
    const char *object, struct ca_issuer *is)
{
	int r;

	memset(is, 0, sizeof(*is));
	is->actor = actor;
	is->action = action;
	is->object = object;
	if ((r = ca_conf_load(st, &is->conf)) != CUST_OK)
		return r;
	if ((r = ca_gen_by_state(st, "active", &is->g)) != CUST_OK) {
		if (r == CUST_E_NOTFOUND)
			r = cust_fail(CUST_E_NOTFOUND, "no active CA "
			    "generation (run custodyctl init)");
		goto fail;
	}
	r = ca_gen_by_state(st, "previous", &is->prev);
	if (r != CUST_OK && r != CUST_E_NOTFOUND)
		goto fail;
	if ((r = issuer_usable(st, is)) != CUST_OK) {
		if (r == CUST_E_CONFLICT)
			r = ca_refuse(st, actor, action, object, r);
		goto fail;
	}
	return CUST_OK;
fail:
	if (r == CUST_E_DB && store_tampered(state_store(st))) {
		store_rollback(state_store(st));
		(void)audit_note(state_audit(st), actor, action, object,
		    "failed", cust_errmsg());
	}
	ca_issuer_close(is);
	return r;
}

void
ca_issuer_close(struct ca_issuer *is)
{
	if (is->sess != NULL)
		ca_signer()->close(is->sess);
	ca_gen_free(is->g);
	ca_gen_free(is->prev);
	ca_conf_clear(&is->conf);
	memset(is, 0, sizeof(*is));
}

char *
ca_chain_pem(struct ca_issuer *is, X509 *leaf)
{
	/* During a rollover the new root, certified by the old one, lets a
	 * relying party that only knows the old root verify new leaves. */
	X509 *v[3] = { leaf, is->g->issuing,
	    is->prev != NULL ? is->g->cross_up : NULL };

	return ca_pem_certs(v, 3);
}

/*
 * Copy the subjectPublicKeyInfo of a request into the certificate as it
 * is. X509_set_pubkey() would re-encode the key through OpenSSL 3.0's
 * encoder framework, which costs more than everything else here together
 * except the signature.
 */
static int
copy_spki(X509 *x, X509_PUBKEY *from)
{
	X509_PUBKEY *to = X509_get_X509_PUBKEY(x);
	ASN1_OBJECT *alg = NULL;
	const ASN1_OBJECT *aobj;
	const unsigned char *pk;
	X509_ALGOR *pa;
	const void *pval;
	unsigned char *enc = NULL;
	void *param = NULL;
	int pklen, ptype;

	if (!X509_PUBKEY_get0_param(NULL, &pk, &pklen, &pa, from) ||
	    pklen <= 0)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot read the request's "
		    "public key");
	X509_ALGOR_get0(&aobj, &ptype, &pval, pa);
	if (ptype == V_ASN1_OBJECT)
		param = OBJ_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return cust_fail(CUST_E_INVAL, "unsupported public key "
		    "parameters");
	if ((ptype == V_ASN1_OBJECT && param == NULL) ||
	    (alg = OBJ_dup(aobj)) == NULL ||
	    (enc = OPENSSL_memdup(pk, (size_t)pklen)) == NULL ||
	    !X509_PUBKEY_set0_param(to, alg, ptype, param, enc, pklen)) {
		ASN1_OBJECT_free(param);
		ASN1_OBJECT_free(alg);
		OPENSSL_free(enc);
		return ca_ossl_fail(CUST_E_NOMEM, "cannot copy the public key");
	}
	return CUST_OK;
}

/* The ASN.1 form of a reserved serial (hex as ca_serial_new() wrote it). */
static int
serial_of_hex(const char *hex, ASN1_INTEGER **out)
{
	BIGNUM *bn = NULL;

	*out = NULL;
	if (BN_hex2bn(&bn, hex) != (int)strlen(hex) ||
	    (*out = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		BN_free(bn);
		return ca_ossl_fail(CUST_E_INTERNAL, "bad reserved serial");
	}
	BN_free(bn);
	return CUST_OK;
}

int
ca_leaf_build(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf, X509 **x_out)
{
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	ASN1_INTEGER *sn = NULL;
	char hex[CA_SERIAL_HEXLEN];
	int64_t now = util_now(), na, ina;
	int ec = EVP_PKEY_get_base_id(lf->pub) == EVP_PKEY_EC;
	int r = CUST_E_INTERNAL;
	int no_cn = lf->cn == NULL || strlen(lf->cn) > 64;

	*x_out = NULL;
	na = now + (int64_t)lf->days * CA_DAY;
	ina = ca_time_of(X509_get0_notAfter(is->g->issuing));
	if (na > ina)
		na = ina;	/* never outlive the issuer */
	if (na <= now + CA_DAY)
		return cust_fail(CUST_E_CONFLICT, "the issuing CA of "
		    "generation %lld expires too soon; rotate the CA",
		    (long long)is->g->gen);
	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    (lf->dn == NULL && (subj = no_cn ? X509_NAME_new() :
	    ca_name(NULL, lf->cn)) == NULL)) {
		r = ca_ossl_fail(CUST_E_NOMEM, "cannot build certificate");
		goto out;
	}
	if (lf->dn != NULL && (r = ca_dn_parse(lf->dn, &subj)) != CUST_OK)
		goto out;
	if (lf->serial != NULL)
		r = serial_of_hex(lf->serial, &sn);
	else
		r = ca_serial_new(st, &sn, hex, sizeof(hex));
	if (r != CUST_OK)
		goto out;
	if (!X509_set_serialNumber(x, sn) || !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(is->g->issuing)) ||
	    (lf->spki == NULL && !X509_set_pubkey(x, lf->pub))) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot build certificate");
		goto out;
	}
	if ((lf->spki != NULL && (r = copy_spki(x, lf->spki)) != CUST_OK) ||
	    (r = ca_set_validity(x, now - CA_BACKDATE, na)) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_basic_constraints,
	    "critical,CA:FALSE")) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_key_usage, ec ?
	    "critical,digitalSignature" :
	    "critical,digitalSignature,keyEncipherment")) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_ext_key_usage, lf->eku)) != CUST_OK ||
	    (r = ca_ext_add(x, NULL, NID_subject_key_identifier, "hash")) !=
	    CUST_OK ||
	    (r = ca_ext_add(x, is->g->issuing, NID_authority_key_identifier,
	    "keyid:always")) != CUST_OK)
		goto out;
	/* Without a CN (no name of 64 characters or fewer) the SAN carries
	 * the names and must be critical (RFC 5280 4.2.1.6). */
	if (lf->san != NULL) {
		char san[2048 + 16];

		snprintf(san, sizeof(san), "%s%s", no_cn ? "critical," : "",
		    lf->san);
		if ((r = ca_ext_add(x, NULL, NID_subject_alt_name, san)) !=
		    CUST_OK)
			goto out;
	}
	*x_out = x;
	x = NULL;
	r = CUST_OK;
out:
	ASN1_INTEGER_free(sn);
	X509_NAME_free(subj);
	X509_free(x);
	return r;
}

int
ca_leaf_record(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf, X509 *x, json_t **info_out)
{
	struct ca_certrec rec;
	json_t *info = NULL;
	char obj[CUST_MAX_FQDN + 16], detail[256], na_txt[32];
	int r;

	*info_out = NULL;
	rec.kind = lf->kind;
	rec.holder = lf->holder;
	rec.gen = is->g->gen;
	rec.device_id = lf->device_id;
	rec.csr_id = lf->csr_id;
	rec.x = x;
	if ((lf->serial != NULL &&
	    (r = ca_serial_consume(st, lf->serial)) != CUST_OK) ||
	    (r = ca_cert_insert(st, &rec, NULL)) != CUST_OK)
		return r;
	if ((info = ca_cert_info(&rec)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	util_fmt_time(ca_time_of(X509_get0_notAfter(x)), na_txt,
	    sizeof(na_txt));
	snprintf(detail, sizeof(detail), "serial=%s generation=%lld "
	    "not_after=%s", json_string_value(json_object_get(info, "serial")),
	    (long long)is->g->gen, na_txt);
	ca_object(obj, sizeof(obj), lf->kind, lf->holder);
	if ((r = audit_append(state_audit(st), lf->actor, lf->action, obj, "ok",
	    detail)) != CUST_OK) {
		json_decref(info);
		return r;
	}
	*info_out = info;
	return CUST_OK;
}

/* Open the issuer's signer session once; a key that does not open is
 * audited as failed. */
static int
issuer_session(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf)
{
	char obj[CUST_MAX_FQDN + 16];
	int r;

	if (is->sess != NULL)
		return CUST_OK;
	if ((r = ca_signer()->open(st, is->g->gen, "issuing", &is->sess)) ==
	    CUST_OK)
		return CUST_OK;
	ca_object(obj, sizeof(obj), lf->kind, lf->holder);
	/* Its generation retired meanwhile: refused (ask again). */
	return r == CUST_E_CONFLICT ? ca_refuse(st, lf->actor, lf->action,
	    obj, r) : ca_failed(st, lf->actor, lf->action, obj, r);
}

int
ca_leaf_issue(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf, X509 **x_out, json_t **info_out)
{
	X509 *x = NULL;
	int r;

	*x_out = NULL;
	*info_out = NULL;
	/* A CA key that does not open (altered or swapped in the store) is
	 * a failure someone must see: audited, not only rolled back. */
	if ((r = issuer_session(st, is, lf)) != CUST_OK)
		return r;
	if ((r = ca_leaf_build(st, is, lf, &x)) != CUST_OK ||
	    (r = ca_signer()->sign_cert(is->sess, x, is->g->md)) != CUST_OK ||
	    (r = ca_leaf_record(st, is, lf, x, info_out)) != CUST_OK) {
		X509_free(x);
		return r;
	}
	*x_out = x;
	return CUST_OK;
}

int
ca_leaf_presign(struct cust_state *st, struct ca_issuer *is,
    struct ca_leaf *lf, char (*hex)[CA_SERIAL_HEXLEN], X509 **x_out)
{
	X509 *x = NULL;
	int r;

	*x_out = NULL;
	hex[0][0] = '\0';
	if (store_in_txn(state_store(st)))
		return cust_fail(CUST_E_INTERNAL, "a certificate is signed "
		    "outside any transaction");
	if ((r = issuer_session(st, is, lf)) != CUST_OK ||
	    (r = ca_serial_reserve(st, is->g->gen, lf->holder, hex, 1)) !=
	    CUST_OK)
		return r;
	lf->serial = hex[0];
	if ((r = ca_leaf_build(st, is, lf, &x)) != CUST_OK ||
	    (r = ca_signer()->sign_cert(is->sess, x, is->g->md)) != CUST_OK) {
		X509_free(x);
		ca_serial_release(st, hex, 1);
		hex[0][0] = '\0';
		lf->serial = NULL;
		return r;
	}
	*x_out = x;
	return CUST_OK;
}

int
ca_issuer_recheck(struct cust_state *st, struct ca_issuer *is)
{
	struct ca_gen *g = NULL, *prev = NULL;
	int r;

	if ((r = ca_gen_by_state(st, "active", &g)) != CUST_OK &&
	    r != CUST_E_NOTFOUND)
		goto out;
	if ((r = ca_gen_by_state(st, "previous", &prev)) != CUST_OK &&
	    r != CUST_E_NOTFOUND)
		goto out;
	if (g == NULL || g->gen != is->g->gen ||
	    (prev == NULL) != (is->prev == NULL) ||
	    (prev != NULL && prev->gen != is->prev->gen))
		r = cust_fail(CUST_E_CONFLICT, "the active CA generation "
		    "changed while the certificate was being signed: nothing "
		    "was issued; ask again");
	else
		r = issuer_usable(st, is);
	if (r == CUST_E_CONFLICT)
		r = ca_refuse(st, is->actor, is->action, is->object, r);
out:
	ca_gen_free(g);
	ca_gen_free(prev);
	return r;
}

int
ca_leaf_with_key(struct cust_state *st, struct ca_issuer *is,
    struct ca_leaf *lf, const char *key_type, EVP_PKEY *made, X509 **x_out,
    struct seal_secret **key_out, EVP_PKEY **pkey_out, json_t **info_out)
{
	const struct ca_keytype *kt = ca_keytype_find(key_type);
	EVP_PKEY *key = made;
	int r;

	*x_out = NULL;
	*key_out = NULL;
	if (pkey_out != NULL)
		*pkey_out = NULL;
	*info_out = NULL;
	if (kt == NULL) {
		EVP_PKEY_free(made);
		return ca_keytype_unknown(key_type);
	}
	if (key == NULL && (r = ca_key_generate(kt, &key)) != CUST_OK)
		return r;
	lf->pub = key;
	if ((r = ca_leaf_issue(st, is, lf, x_out, info_out)) == CUST_OK &&
	    (r = ca_pem_key(key, key_out)) != CUST_OK) {
		X509_free(*x_out);
		*x_out = NULL;
		json_decref(*info_out);
		*info_out = NULL;
	}
	lf->pub = NULL;
	if (r == CUST_OK && pkey_out != NULL) {
		*pkey_out = key;
		key = NULL;
	}
	EVP_PKEY_free(key);
	return r;
}

int
ca_add_pems(json_t *resp, struct ca_issuer *is, X509 *x)
{
	char *leaf = ca_pem_certs(&x, 1), *chain = ca_chain_pem(is, x);
	int r = CUST_OK;

	if (leaf == NULL || chain == NULL ||
	    json_object_set_new(resp, "certificate", json_string(leaf)) ||
	    json_object_set_new(resp, "chain", json_string(chain)))
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	free(leaf);
	free(chain);
	return r;
}

/*
 * Refuse a device request before anything is written: the name, the size,
 * the registration and (when req_out) the CSR. Each refusal is audited
 * against the device it names.
 */
int
ca_device_precheck(struct cust_state *st, const char *actor, const char *action,
    const char *fqdn, const void *csr, size_t len, int64_t *id_out,
    X509_REQ **req_out)
{
	char obj[CUST_MAX_FQDN + 16];
	int r;

	*id_out = 0;
	ca_object(obj, sizeof(obj), "device", fqdn);
	if (fqdn == NULL || util_valid_fqdn(fqdn) != CUST_OK) {
		cust_fail(CUST_E_INVAL, "'%.64s' is not a valid FQDN",
		    fqdn != NULL ? fqdn : "");
		return ca_refuse(st, actor, action, obj, CUST_E_INVAL);
	}
	if (req_out != NULL && len > CA_CSR_MAX) {
		cust_fail(CUST_E_TOOBIG, "the CSR is over the limit of %d "
		    "bytes", CA_CSR_MAX);
		return ca_refuse(st, actor, action, obj, CUST_E_TOOBIG);
	}
	r = cred_device_find(st, fqdn, id_out);
	if (r == CUST_E_NOTFOUND) {
		cust_fail(r, "device %s is not registered (custodyctl device "
		    "add %s)", fqdn, fqdn);
		return ca_refuse(st, actor, action, obj, r);
	}
	if (r != CUST_OK)
		return r;
	if (req_out != NULL &&
	    (r = ca_csr_parse(csr, len, fqdn, req_out, NULL)) != CUST_OK)
		return ca_refuse(st, actor, action, obj, r);
	return CUST_OK;
}

int
ca_device_current(struct cust_state *st, const char *fqdn, int64_t dev)
{
	int64_t now_id = 0;
	int r = cred_device_find(st, fqdn, &now_id);

	if (r == CUST_E_NOTFOUND || (r == CUST_OK && now_id != dev))
		return cust_fail(CUST_E_NOTFOUND, "device %s was removed while "
		    "its request was being checked", fqdn);
	return r;
}

void
ca_device_leaf(struct ca_leaf *lf, struct ca_issuer *is, const char *actor,
    const char *action, const char *fqdn, char *name, char *san,
    int64_t device_id, X509_REQ *req, int days)
{
	if (name != fqdn)
		snprintf(name, CUST_MAX_FQDN + 1, "%s", fqdn);
	util_lower(name);
	snprintf(san, CUST_MAX_FQDN + 8, "DNS:%s", name);
	memset(lf, 0, sizeof(*lf));
	lf->kind = "device";
	lf->holder = name;
	lf->cn = name;
	lf->san = san;
	lf->eku = "serverAuth";
	lf->device_id = device_id;
	lf->days = days > 0 ? days : is->conf.leaf_days;
	if (req != NULL) {
		lf->pub = X509_REQ_get0_pubkey(req);
		lf->spki = X509_REQ_get_X509_PUBKEY(req);
	}
	lf->actor = actor;
	lf->action = action;
}

/*
 * Record a device certificate signed by ca_leaf_presign(), inside the open
 * write transaction: the issuer must still be the one it was signed under
 * and the device still registered (a removal meanwhile is a refusal); the
 * CSR (when req is new: csr_id 0) is kept for renewals.
 */
static int
device_record(struct cust_state *st, struct ca_issuer *is, const char *fqdn,
    X509_REQ *req, int64_t csr_id, struct ca_leaf *lf, X509 *x,
    json_t **resp_out)
{
	char obj[CUST_MAX_FQDN + 16];
	json_t *info = NULL;
	int r;

	*resp_out = NULL;
	if ((r = ca_issuer_recheck(st, is)) != CUST_OK)
		return r;
	if ((r = ca_device_current(st, fqdn, lf->device_id)) != CUST_OK) {
		ca_object(obj, sizeof(obj), "device", fqdn);
		return r == CUST_E_NOTFOUND ?
		    ca_refuse(st, lf->actor, lf->action, obj, r) : r;
	}
	if (req != NULL && csr_id == 0 &&
	    (r = ca_csr_insert(st, lf->device_id, req, &csr_id)) != CUST_OK)
		return r;
	lf->csr_id = csr_id;
	if ((r = ca_leaf_record(st, is, lf, x, &info)) != CUST_OK)
		return r;
	if ((r = ca_add_pems(info, is, x)) != CUST_OK) {
		json_decref(info);
		return r;
	}
	*resp_out = info;
	return CUST_OK;
}

static int
check_days(struct cust_state *st, const char *actor, const char *action,
    const char *fqdn, int days)
{
	char obj[CUST_MAX_FQDN + 16];

	if (days >= 0 && days <= 3650)
		return CUST_OK;
	ca_object(obj, sizeof(obj), "device", fqdn);
	cust_fail(CUST_E_INVAL, "validity of %d days is not within 1..3650",
	    days);
	return ca_refuse(st, actor, action, obj, CUST_E_INVAL);
}

/*
 * Every issuance from a request follows one shape, so that the signature
 * (and a key generation) never holds the write lock: checks and the
 * issuer with no write transaction open; ca_leaf_presign() (the serial
 * reserved and committed, then the certificate signed); then one short
 * write transaction that checks again what may have changed and records.
 */
int
ca_sign_csr(struct cust_state *st, const char *actor, const char *fqdn,
    const void *csr, size_t len, int days, json_t **resp_out)
{
	char obj[CUST_MAX_FQDN + 16];
	char name[CUST_MAX_FQDN + 1], san[CUST_MAX_FQDN + 8];
	char hex[1][CA_SERIAL_HEXLEN] = { "" };
	struct ca_issuer is;
	struct ca_leaf lf;
	X509_REQ *req = NULL;
	X509 *x = NULL;
	int64_t dev = 0;
	int r;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	if ((r = check_days(st, actor, "cert.sign", fqdn, days)) != CUST_OK ||
	    (r = ca_device_precheck(st, actor, "cert.sign", fqdn, csr, len, &dev,
	    &req)) != CUST_OK)
		return r;
	ca_object(obj, sizeof(obj), "device", fqdn);
	if ((r = ca_issuer_open(st, actor, "cert.sign", obj, &is)) != CUST_OK)
		goto out;
	ca_device_leaf(&lf, &is, actor, "cert.sign", fqdn, name, san, dev, req,
	    days);
	if ((r = ca_leaf_presign(st, &is, &lf, hex, &x)) != CUST_OK)
		goto out;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto release;
	if ((r = device_record(st, &is, fqdn, req, 0, &lf, x, resp_out)) ==
	    CUST_OK && (r = store_commit(state_store(st))) == CUST_OK)
		goto out;
	store_rollback(state_store(st));
	json_decref(*resp_out);
	*resp_out = NULL;
release:
	ca_serial_release(st, hex, 1);
out:
	X509_free(x);
	ca_issuer_close(&is);
	X509_REQ_free(req);
	return r;
}

/* A PKCS#12 password: P12_PWLEN letters and digits (~143 bits). */
static struct seal_secret *
p12_password(void)
{
	static const char alpha[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrs"
	    "tuvwxyz23456789";
	struct seal_secret *pw = seal_secret_new(P12_PWLEN);
	unsigned char *p;
	size_t i;

	if (pw == NULL)
		return NULL;
	p = seal_secret_data(pw);
	for (i = 0; i < P12_PWLEN; i++)
		p[i] = (unsigned char)alpha[randombytes_uniform(
		    sizeof(alpha) - 1)];
	return pw;
}

/* PKCS#12 (OpenSSL 3 defaults: AES-256-CBC, PBKDF2, HMAC-SHA256) of key,
 * leaf and chain as base64 into resp. */
static int
add_pkcs12(json_t *resp, struct ca_issuer *is, const char *name,
    EVP_PKEY *key, X509 *x, const struct seal_secret *pw)
{
	STACK_OF(X509) *ca = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	int n = 0, r = CUST_E_INTERNAL;

	if (ca == NULL || !sk_X509_push(ca, is->g->issuing) ||
	    (is->prev != NULL && is->g->cross_up != NULL &&
	    !sk_X509_push(ca, is->g->cross_up))) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((p12 = PKCS12_create(seal_secret_str(pw), name, key, x, ca, 0, 0,
	    0, 0, 0)) == NULL || (n = i2d_PKCS12(p12, &der)) <= 0) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot make the PKCS#12 file");
		goto out;
	}
	if (json_object_set_new(resp, "pkcs12", ca_json_b64(der, (size_t)n)) ||
	    json_object_set_new(resp, "pkcs12_password",
	    json_string(seal_secret_str(pw)))) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = CUST_OK;
out:
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)n);
	PKCS12_free(p12);
	sk_X509_free(ca);
	return r;
}

int
ca_issue(struct cust_state *st, const char *actor, const char *fqdn,
    const char *key_type, int days, unsigned flags, json_t **resp_out)
{
	char name[CUST_MAX_FQDN + 1], san[CUST_MAX_FQDN + 8];
	char obj[CUST_MAX_FQDN + 16];
	char hex[1][CA_SERIAL_HEXLEN] = { "" };
	const struct ca_keytype *kt;
	struct ca_issuer is;
	struct ca_leaf lf;
	struct seal_secret *key = NULL, *pw = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	json_t *resp = NULL, *extra = NULL;
	int64_t dev = 0;
	int r;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	if (key_type == NULL)
		key_type = "rsa2048";
	/* Keys an earlier run lost (killed before writing them) first. */
	if ((r = ca_delivery_sweep(st, actor, NULL)) != CUST_OK ||
	    (r = check_days(st, actor, "cert.issue", fqdn, days)) != CUST_OK ||
	    (r = ca_device_precheck(st, actor, "cert.issue", fqdn, NULL, 0, &dev,
	    NULL)) != CUST_OK)
		return r;
	ca_object(obj, sizeof(obj), "device", fqdn);
	if ((kt = ca_keytype_find(key_type)) == NULL)
		return ca_refuse(st, actor, "cert.issue", obj,
		    ca_keytype_unknown(key_type));
	if ((r = ca_issuer_open(st, actor, "cert.issue", obj, &is)) !=
	    CUST_OK)
		goto out;
	/* The key, the signature and the PKCS#12 (its key derivation): all
	 * with no transaction open. */
	if ((r = ca_key_generate(kt, &pkey)) != CUST_OK)
		goto out;
	ca_device_leaf(&lf, &is, actor, "cert.issue", fqdn, name, san, dev,
	    NULL, days);
	lf.pub = pkey;
	if ((r = ca_leaf_presign(st, &is, &lf, hex, &x)) != CUST_OK)
		goto out;
	if ((pw = p12_password()) == NULL || (extra = json_object()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto release;
	}
	if ((r = ca_pem_key(pkey, &key)) != CUST_OK ||
	    (r = add_pkcs12(extra, &is, name, pkey, x, pw)) != CUST_OK)
		goto release;
	if (json_object_set_new(extra, "key", json_string(seal_secret_str(key))))
	{
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto release;
	}
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto release;
	if ((r = device_record(st, &is, fqdn, NULL, 0, &lf, x, &resp)) !=
	    CUST_OK || ((flags & CA_DELIVER) &&
	    (r = ca_delivery_mark(st, hex[0])) != CUST_OK))
		goto fail;
	if (json_object_update(resp, extra) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	*resp_out = resp;
	resp = NULL;
	goto out;
fail:
	store_rollback(state_store(st));
release:
	ca_serial_release(st, hex, 1);
out:
	json_decref(resp);
	json_decref(extra);
	seal_secret_free(key);
	seal_secret_free(pw);
	EVP_PKEY_free(pkey);
	X509_free(x);
	ca_issuer_close(&is);
	return r;
}

/* The last CSR a device sent, re-checked against today's policy. */
static int
last_csr(struct cust_state *st, const char *fqdn, int64_t dev,
    X509_REQ **req_out, int64_t *csr_id_out)
{
	sqlite3_stmt *s;
	int rc, r;

	*req_out = NULL;
	*csr_id_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT id, der FROM ca_csr WHERE "
	    "device_id = ? ORDER BY id DESC LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, dev);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		r = cust_fail(CUST_E_NOTFOUND, "no CSR on file for %s: renew "
		    "with --csr FILE (or issue a key with cert issue)", fqdn);
	else if (rc != SQLITE_ROW)
		r = store_err(state_store(st), "read CSR");
	else {
		*csr_id_out = sqlite3_column_int64(s, 0);
		r = ca_csr_parse(sqlite3_column_blob(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1), fqdn, req_out, NULL);
	}
	sqlite3_reset(s);
	return r;
}

/* not_after of the device's newest valid certificate, 0 when none. */
static int
newest_valid(struct cust_state *st, int64_t dev, int64_t *na_out)
{
	sqlite3_stmt *s;
	int rc;

	*na_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT max(not_after) FROM cert "
	    "WHERE device_id = ? AND kind = 'device' AND status = 'valid'"))
	    == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, dev);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*na_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st), "read "
	    "certificates");
}

/* Revoke the device's valid certificates other than keep (superseded). */
static int
supersede_device(struct cust_state *st, const char *actor, int64_t dev,
    const char *keep, json_t *list, const struct ca_conf *conf)
{
	struct ca_revset rs;
	sqlite3_stmt *s;
	int r;

	memset(&rs, 0, sizeof(rs));
	rs.serials = list;
	if ((s = store_stmt(state_store(st),
	    "SELECT id FROM cert WHERE device_id = ? "
	    "AND kind = 'device' AND status = 'valid' AND not_after > ? AND "
	    "serial <> ? ORDER BY id LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, dev);
	sqlite3_bind_int64(s, 2, util_now());
	sqlite3_bind_text(s, 3, keep, -1, SQLITE_TRANSIENT);
	if ((r = ca_revoke_each(st, actor, s, 4, "renewed", &rs)) != CUST_OK)
		return r;
	return ca_revset_publish(st, &rs, conf);
}

/* Without a new CSR and without force, renewal waits for the renewal
 * window of the device's newest valid certificate: refused (audited)
 * before it. */
static int
renew_window(struct cust_state *st, struct ca_issuer *is, int64_t dev,
    const char *fqdn, const char *obj)
{
	char when[32];
	int64_t na = 0;
	int r;

	if ((r = newest_valid(st, dev, &na)) != CUST_OK)
		return r;
	if (na == 0 || na - util_now() <= (int64_t)is->conf.renew_days * CA_DAY)
		return CUST_OK;
	util_fmt_time(na, when, sizeof(when));
	cust_fail(CUST_E_CONFLICT, "the certificate of %s is valid until %s, "
	    "outside the renewal window of %d days: use --force (or --csr for "
	    "a new key)", fqdn, when, is->conf.renew_days);
	return ca_refuse(st, is->actor, "cert.renew", obj, CUST_E_CONFLICT);
}

/*
 * Renewal decides (the last CSR, the newest certificate, the
 * configuration) in one read snapshot, signs with no transaction open,
 * then decides again in the transaction that records: a renewal,
 * revocation or device removal that slipped in between is seen there.
 */
int
ca_renew(struct cust_state *st, const char *actor, const char *fqdn,
    const void *csr, size_t len, int force, int supersede, json_t **resp_out)
{
	struct ca_issuer is;
	struct ca_leaf lf;
	X509_REQ *req = NULL;
	X509 *x = NULL;
	char obj[CUST_MAX_FQDN + 16];
	char name[CUST_MAX_FQDN + 1], san[CUST_MAX_FQDN + 8];
	char hex[1][CA_SERIAL_HEXLEN] = { "" };
	json_t *superseded = NULL;
	int64_t dev = 0, csr_id = 0;
	int r, window = !force && csr == NULL;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	ca_object(obj, sizeof(obj), "device", fqdn);
	if ((r = ca_device_precheck(st, actor, "cert.renew", fqdn, csr, len, &dev,
	    csr != NULL ? &req : NULL)) != CUST_OK)
		return r;
	if ((superseded = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = store_begin_read(state_store(st))) != CUST_OK)
		goto out;
	if ((r = ca_device_current(st, fqdn, dev)) != CUST_OK ||
	    (csr == NULL && (r = last_csr(st, fqdn, dev, &req, &csr_id)) !=
	    CUST_OK)) {
		if (r != CUST_E_DB && r != CUST_E_IO && r != CUST_E_NOMEM)
			r = ca_refuse(st, actor, "cert.renew", obj, r);
		goto fail;
	}
	if ((r = ca_issuer_open(st, actor, "cert.renew", obj, &is)) !=
	    CUST_OK || (window && (r = renew_window(st, &is, dev, fqdn, obj)) !=
	    CUST_OK))
		goto fail;
	ca_device_leaf(&lf, &is, actor, "cert.renew", fqdn, name, san, dev,
	    req, 0);
	/* The key too is read in the snapshot the decision was made in. */
	if ((r = issuer_session(st, &is, &lf)) != CUST_OK)
		goto fail;
	store_rollback(state_store(st));	/* the read snapshot ends */
	if ((r = ca_leaf_presign(st, &is, &lf, hex, &x)) != CUST_OK)
		goto out;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto release;
	if ((window && (r = renew_window(st, &is, dev, fqdn, obj)) !=
	    CUST_OK) ||
	    (r = device_record(st, &is, fqdn, req, csr_id, &lf, x,
	    resp_out)) != CUST_OK ||
	    (supersede && (r = supersede_device(st, actor, dev,
	    json_string_value(json_object_get(*resp_out, "serial")),
	    superseded, &is.conf)) != CUST_OK) ||
	    (r = store_commit(state_store(st))) != CUST_OK)
		goto fail_signed;
	json_object_set(*resp_out, "superseded", superseded);
	goto out;
fail_signed:
	store_rollback(state_store(st));
	json_decref(*resp_out);
	*resp_out = NULL;
release:
	ca_serial_release(st, hex, 1);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(superseded);
	X509_free(x);
	ca_issuer_close(&is);
	X509_REQ_free(req);
	return r;
}

/*
 * The names of the service certificate: the configured ones, else the
 * host name, localhost, 127.0.0.1 and ::1, all in the SAN. The CN is the
 * first DNS name that fits one (64 characters); when none does (only IP
 * addresses, or long names) there is no CN and the SAN is critical (see
 * ca_leaf_build()): a CN naming something the SAN does not would be a
 * name the certificate vouches for outside its SAN.
 */
static int
server_san(const struct ca_conf *c, char *san, size_t len, char *cn,
    size_t cnlen, int *has_cn)
{
	char host[256];
	const char *defaults[4];
	size_t n = 0, i, off = 0;
	unsigned char a[16];

	*has_cn = 0;
	cn[0] = '\0';
	if (c->server_names == NULL) {
		if (gethostname(host, sizeof(host)) == 0 &&
		    host[sizeof(host) - 1] == '\0' && host[0] != '\0' &&
		    strcmp(host, "localhost") != 0 &&
		    strlen(host) <= 64 && ca_valid_host(host) == CUST_OK)
			defaults[n++] = host;
		defaults[n++] = "localhost";
		defaults[n++] = "127.0.0.1";
		defaults[n++] = "::1";
	} else
		n = json_array_size(c->server_names);
	san[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *name = c->server_names != NULL ?
		    json_string_value(json_array_get(c->server_names, i)) :
		    defaults[i];
		int ip = inet_pton(AF_INET, name, a) == 1 ||
		    inet_pton(AF_INET6, name, a) == 1;
		int w = snprintf(san + off, len - off, "%s%s:%s",
		    off ? "," : "", ip ? "IP" : "DNS", name);

		if (w < 0 || (size_t)w >= len - off)
			return cust_fail(CUST_E_INVAL, "too many server names");
		off += (size_t)w;
		if (!ip && !*has_cn && strlen(name) <= 64 &&
		    strlen(name) < cnlen) {
			snprintf(cn, cnlen, "%s", name);
			*has_cn = 1;
		}
	}
	return CUST_OK;
}

/* Issue one service certificate with a new key and queue DIR/sub/base.crt
 * (leaf + chain) and base.key (0600) for writing after the commit. */
static int
service_one(struct cust_state *st, struct ca_issuer *is, struct ca_leaf *lf,
    const char *kt, EVP_PKEY *made, struct ca_files *files, const char *sub,
    const char *base)
{
	struct seal_secret *key = NULL;
	X509 *x = NULL;
	json_t *info = NULL;
	char *pem = NULL, *dir = NULL, crt[32], keyname[32];
	int r;

	snprintf(crt, sizeof(crt), "%s.crt", base);
	snprintf(keyname, sizeof(keyname), "%s.key", base);
	if ((dir = strdup(sub)) == NULL) {	/* under state_dirfd(st) */
		EVP_PKEY_free(made);
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = ca_leaf_with_key(st, is, lf, kt, made, &x, &key, NULL,
	    &info)) != CUST_OK)
		goto out;
	if ((pem = ca_chain_pem(is, x)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = ca_files_add(files, dir, crt, pem, strlen(pem), 0644)) ==
	    CUST_OK)
		r = ca_files_add(files, dir, keyname, seal_secret_data(key),
		    seal_secret_len(key), 0600);
out:
	free(pem);
	free(dir);
	X509_free(x);
	seal_secret_free(key);
	json_decref(info);
	return r;
}

const char *
ca_service_keytype(const struct ca_conf *c)
{
	return strcmp(c->profile, CA_PROFILE_LEGACY) == 0 ? "rsa2048" :
	    "ecdsa-p256";
}

int
ca_server_cert(struct cust_state *st, struct ca_issuer *is,
    const char *actor, char *hex, struct ca_premade *pm,
    struct ca_files *files)
{
	const char *kt = ca_service_keytype(&is->conf);
	const struct ca_keytype *k = ca_keytype_find(kt);
	char san[2048], cn[65];
	struct ca_leaf lf;
	int r, has_cn = 0;

	if ((r = server_san(&is->conf, san, sizeof(san), cn, sizeof(cn),
	    &has_cn)) != CUST_OK)
		return r;
	memset(&lf, 0, sizeof(lf));
	lf.kind = "server";
	lf.holder = "custodyd";
	lf.cn = has_cn ? cn : NULL;
	lf.san = san;
	lf.eku = "serverAuth";
	lf.days = is->conf.leaf_days;
	lf.actor = actor;
	lf.action = "cert.issue";
	lf.serial = hex;
	return service_one(st, is, &lf, kt, ca_premade_take(pm, k, 0), files,
	    "tls", "server");
}

int
ca_service_certs(struct cust_state *st, struct ca_issuer *is,
    const char *actor, char (*hex)[CA_SERIAL_HEXLEN], struct ca_premade *pm,
    struct ca_files *files)
{
	const char *kt = ca_service_keytype(&is->conf);
	const struct ca_keytype *k = ca_keytype_find(kt);
	struct ca_leaf lf;
	int r;

	if ((r = ca_server_cert(st, is, actor, hex != NULL ? hex[0] : NULL,
	    pm, files)) != CUST_OK)
		return r;
	memset(&lf, 0, sizeof(lf));
	lf.actor = actor;
	lf.action = "cert.issue";
	/* A space cannot occur in a console name: no console is "admin". */
	lf.kind = "admin";
	lf.holder = "admin";
	lf.cn = "custody admin";
	lf.san = NULL;
	lf.eku = "clientAuth";
	lf.days = is->conf.console_days;
	lf.serial = hex != NULL ? hex[1] : NULL;
	return service_one(st, is, &lf, kt, ca_premade_take(pm, k, 1), files,
	    "admin", "admin");
}
