/* SPDX-License-Identifier: MIT */
/* src/api/ops_provision.c - cert.provision: custody configures TLS on a
 * device (reference/amt.md 6) and records it, so that later conversations
 * with the device go over TLS verified against custody's bundle.
 *
 * The steps, each sent with the device's current admin password and each
 * audited ("cert.provision", object the FQDN, detail "STEP: ..."):
 *  1. tls-check: a Get over TLS (the registry address port + 1, SNI and
 *     Host the FQDN) verified against the bundle. When it works the device
 *     is provisioned already: it is recorded (if it was not) and nothing
 *     is changed (a re-run is a no-op). When it does not and the device
 *     is recorded as provisioned, the run fails there unless "force": the
 *     steps below go over plain HTTP, and a device custody speaks TLS to
 *     is not downgraded because its TLS port stopped answering right;
 *  1b. login-check (plain HTTP only): a fresh login as the admin with a
 *     random password must be refused (login_check());
 *  1c. realm-check (no DigestRealm registered: first contact): a Get as
 *     the admin; the realm it logs in with is recorded by
 *     ops_first_realm(), refused when another device has it
 *     (realm_check());
 *  2. key-pair: the device's first RSA key pair is reused, else
 *     GenerateKeyPair(RSA, 2048) makes one; its DERKey (SPKI, or PKCS#1
 *     RSA) is read by enumerating AMT_PublicPrivateKeyPair;
 *  3. a certificate already on the device for that key, issued by custody
 *     to this FQDN and valid, is reused; else
 *     csr: custody builds a "null signed" PKCS#10 request (subject
 *     CN=FQDN, the device's public key, a zero signature) and the device
 *     signs it (GeneratePKCS10RequestEx, SHA-256); the returned request is
 *     checked (ca_csr_check(): signature, key policy, FQDN) and must carry
 *     the key pair's key; sign: ca_sign_csr() signs it (recorded and
 *     audited as cert sign is);
 *  4. roots: AddTrustedRootCertificate of every root of the bundle
 *     (PT_STATUS_DUPLICATE counts as there);
 *  5. chain: AddCertificate of the intermediates of the chain, then the
 *     leaf (its CreatedCertificate is what TLS binds);
 *  6. context: Create AMT_TLSCredentialContext for the leaf (a Put when one
 *     exists already, from an interrupted run or another tool);
 *  7. tls-remote, tls-local: Put the 802.3 settings (Enabled, no mutual
 *     authentication, AcceptNonSecureConnections true so that tools still
 *     on 16992 keep working, unless the device's read-only
 *     NonSecureConnectionsSupported is false: CSME 16.1 and later refuse
 *     it, the device goes TLS only) and the LMS settings (Enabled);
 *  8. commit: CommitChanges;
 *  9. verify: the Get over TLS of step 1, on a fresh connection; only then
 *     is the device recorded as provisioned (table device_tls).
 * A failing step ends the device's run with {"result": "failed", "step",
 * "detail"}; what was done stays done and a re-run reuses it.
 *
 * With "tag", "all" (or "fqdns") instead of "fqdn", the devices are
 * provisioned one after the other as a job (JOB_KIND_PROVISION): one item
 * per device (kind "tls") as soon as it is done, its outcome ok,
 * unchanged (TLS there already), unreachable, auth-failed, refused (the
 * device answered a PT_STATUS or a SOAP fault), tls-failed (the final
 * check over TLS, or a certificate that does not verify), realm-mismatch
 * or realm-conflict (realm-check), failed (any other step: the detail
 * names it) or missing; one device never stops
 * the others, and job resume does the devices without an item.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <sqlite3.h>

#include "amt.h"
#include "audit.h"
#include "ca.h"
#include "cred.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define PROV_USER	"admin"
#define PROV_ACTION	"cert.provision"
#define PROV_ITEM_KIND	"tls"	/* the kind of a provisioning job's items */

struct prov {
	struct ops_ctx *ctx;
	const char *fqdn;		/* from dev */
	json_t *dev;			/* the device record */
	struct seal_secret *pw;		/* its current admin password */
	struct amt_target t;
	char cafile[PATH_MAX];
	unsigned long id;		/* MessageID counter */
	json_t *steps;			/* [{"step", "result", "detail"}] */
	const char *step;		/* the step that failed */
	char detail[512];
	int err;			/* its device error, or 0 */
	const char *outcome;		/* a job's outcome for it, or NULL */
	char realm[AMT_REALM_MAX];	/* recorded at first contact */
};

/* Record a step: in the response and the audit log. */
static int
note(struct prov *p, const char *step, const char *result, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
static int
note(struct prov *p, const char *step, const char *result, const char *fmt,
    ...)
{
	char d[512], det[600];
	json_t *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d, sizeof(d), fmt, ap);
	va_end(ap);
	snprintf(det, sizeof(det), "%s: %s", step, d);
	(void)audit_note(state_audit(p->ctx->st), p->ctx->actor, PROV_ACTION,
	    p->fqdn, result, det);
	if (strcmp(result, "ok") != 0) {
		p->step = step;
		snprintf(p->detail, sizeof(p->detail), "%s", d);
	}
	s = json_pack("{s:s, s:s, s:s}", "step", step, "result", result,
	    "detail", d);
	if (s == NULL || json_array_append_new(p->steps, s) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/* Send q (taken) to the device; *rep the reply. A transport error or
 * (with check) a ReturnValue other than 0 and not one of ok_rv is noted as
 * the step's failure and returned (*rep NULL). */
static int
call(struct prov *p, const char *step, struct amt_req *q, int check,
    uint32_t ok_rv, struct amt_reply **rep)
{
	int r;

	*rep = NULL;
	if ((r = amt_call(&p->t, q, rep)) == CUST_OK && check &&
	    amt_reply_rv(*rep) != 0 && amt_reply_rv(*rep) != ok_rv)
		r = amt_reply_check(*rep);
	amt_req_free(q);
	if (r != CUST_OK) {
		amt_reply_free(*rep);
		*rep = NULL;
		p->err = r;
		(void)note(p, step, "failed", "%s", cust_errmsg());
	}
	return r;
}

/* A Get of AMT_GeneralSettings over TLS, verified against the bundle. */
static int
tls_get(struct prov *p, const char *step)
{
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	int r;

	p->t.tls = 1;
	p->t.fresh = 1;
	if ((r = amt_msg_get(++p->id, "AMT_GeneralSettings", &q)) != CUST_OK)
		return r;
	r = amt_call(&p->t, q, &rep);
	amt_req_free(q);
	amt_reply_free(rep);
	p->t.tls = 0;
	p->t.fresh = 0;
	return r == CUST_OK ? CUST_OK : cust_fail(r, "TLS on the device "
	    "port does not verify against custody's bundle: %s",
	    cust_errmsg());
}

/* Enumerate and pull class cls: *rep the Pull reply. */
static int
enum_all(struct prov *p, const char *step, const char *cls,
    struct amt_reply **rep)
{
	struct amt_reply *e = NULL;
	struct amt_req *q = NULL;
	const char *ctxid;
	int r;

	if ((r = amt_msg_enumerate(++p->id, cls, &q)) != CUST_OK ||
	    (r = call(p, step, q, 0, 0, &e)) != CUST_OK)
		return r;
	ctxid = amt_reply_value(e, "EnumerationContext");
	if (ctxid == NULL) {
		amt_reply_free(e);
		(void)note(p, step, "failed", "%s: no EnumerationContext", cls);
		return cust_fail(CUST_E_PARSE, "%s", p->detail);
	}
	r = amt_msg_pull(++p->id, cls, ctxid, &q);
	amt_reply_free(e);
	if (r != CUST_OK)
		return r;
	return call(p, step, q, 0, 0, rep);
}

/* The public key of a DERKey (SPKI, else PKCS#1 RSA). */
static EVP_PKEY *
derkey(const char *b64)
{
	unsigned char *der = NULL;
	const unsigned char *cp;
	EVP_PKEY *k = NULL;
	size_t n;

	if (b64 == NULL || ca_b64_decode(b64, 4096, &der, &n) != CUST_OK) {
		cust_clearerr();
		return NULL;
	}
	cp = der;
	if ((k = d2i_PUBKEY(NULL, &cp, (long)n)) == NULL) {
		cp = der;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &cp, (long)n);
	}
	free(der);
	return k;
}

/* A new base64 string of der[0..n). */
static char *
b64(const unsigned char *der, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, der, (int)n);
	return s;
}

/* The device's key pair: InstanceID into id, its public key *key. */
static int
key_pair(struct prov *p, char *id, size_t idlen, EVP_PKEY **key)
{
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	const char *want = NULL, *iid;
	char made[256] = "";
	size_t i;
	int r, pass;

	*key = NULL;
	for (pass = 0; pass < 2; pass++) {
		if ((r = enum_all(p, "key-pair", "AMT_PublicPrivateKeyPair",
		    &rep)) != CUST_OK)
			return r;
		for (i = 0; i < amt_reply_items(rep) && *key == NULL; i++) {
			iid = amt_reply_item_value(rep, i, "InstanceID");
			if (iid == NULL || (want != NULL && strcmp(iid, want)
			    != 0) || strlen(iid) >= idlen)
				continue;
			if ((*key = derkey(amt_reply_item_value(rep, i,
			    "DERKey"))) != NULL &&
			    EVP_PKEY_get_base_id(*key) == EVP_PKEY_RSA &&
			    EVP_PKEY_get_bits(*key) >= 2048)
				memcpy(id, iid, strlen(iid) + 1);
			else {
				EVP_PKEY_free(*key);
				*key = NULL;
			}
		}
		amt_reply_free(rep);
		rep = NULL;
		if (*key != NULL)
			return note(p, "key-pair", "ok", "%s %s", *made ?
			    "generated" : "reused", id);
		if (pass == 1)
			break;
		if ((r = amt_msg_gen_keypair(++p->id, 2048, &q)) != CUST_OK ||
		    (r = call(p, "key-pair", q, 1, 0, &rep)) != CUST_OK)
			return r;
		iid = amt_reply_value(rep, "InstanceID");
		snprintf(made, sizeof(made), "%s", iid ? iid : "");
		amt_reply_free(rep);
		rep = NULL;
		if (*made == '\0')
			break;
		want = made;
	}
	(void)note(p, "key-pair", "failed", "no usable RSA 2048 key pair on "
	    "the device");
	return cust_fail(CUST_E_CONFLICT, "%s", p->detail);
}

/* The "null signed" request for key: subject CN=fqdn, a zero signature
 * (reference 6; tests/amtsim/fixtures/nullcsr.py). *out new base64. */
static int
null_csr(const char *fqdn, EVP_PKEY *key, char **out)
{
	X509_REQ *req = NULL;
	X509_NAME *nm = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *sig = NULL;
	unsigned char zero[512], *der = NULL;
	int r = CUST_E_NOMEM, n;

	*out = NULL;
	memset(zero, 0, sizeof(zero));
	if ((req = X509_REQ_new()) == NULL || (nm = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)fqdn, -1, -1, 0) != 1 ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, nm) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    (alg = X509_ALGOR_new()) == NULL ||
	    X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256WithRSAEncryption),
	    V_ASN1_NULL, NULL) != 1 || X509_REQ_set1_signature_algo(req, alg)
	    != 1 || (sig = ASN1_BIT_STRING_new()) == NULL ||
	    ASN1_BIT_STRING_set(sig, zero, EVP_PKEY_get_size(key)) != 1)
		goto out;
	X509_REQ_set0_signature(req, sig);
	sig = NULL;
	if ((n = i2d_X509_REQ(req, &der)) <= 0)
		goto out;
	if ((*out = b64(der, (size_t)n)) != NULL)
		r = CUST_OK;
out:
	OPENSSL_free(der);
	ASN1_BIT_STRING_free(sig);
	X509_ALGOR_free(alg);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return r == CUST_OK ? r : cust_fail(r, "cannot build the request");
}

/* Whether x (a certificate on the device) is custody's, for fqdn, valid. */
static int
ours(struct prov *p, X509 *x)
{
	ASN1_INTEGER *ai = X509_get_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL, norm[CA_SERIAL_HEXLEN];
	json_t *c = NULL;
	int ok = 0;

	if (hex != NULL && ca_serial_norm(hex, norm, sizeof(norm)) == CUST_OK &&
	    ca_cert_show(p->ctx->st, norm, &c) == CUST_OK)
		ok = json_is_string(json_object_get(c, "holder")) &&
		    strcmp(json_string_value(json_object_get(c, "holder")),
		    p->fqdn) == 0 && json_is_string(json_object_get(c,
		    "status")) && strcmp(json_string_value(json_object_get(c,
		    "status")), "valid") == 0;
	cust_clearerr();
	json_decref(c);
	OPENSSL_free(hex);
	BN_free(bn);
	return ok;
}

/* A leaf on the device for key issued by custody: its InstanceID into id
 * and its serial into serial, or "" when none. */
static int
find_leaf(struct prov *p, EVP_PKEY *key, char *id, size_t idlen,
    char *serial, size_t slen)
{
	struct amt_reply *rep = NULL;
	unsigned char *der = NULL;
	const unsigned char *cp;
	const char *iid, *root;
	X509 *x;
	size_t i, n;
	int r;

	*id = *serial = '\0';
	if ((r = enum_all(p, "leaf", "AMT_PublicKeyCertificate", &rep)) !=
	    CUST_OK)
		return r;
	for (i = 0; i < amt_reply_items(rep) && *id == '\0'; i++) {
		iid = amt_reply_item_value(rep, i, "InstanceID");
		root = amt_reply_item_value(rep, i, "TrustedRootCertficate");
		if (iid == NULL || strlen(iid) >= idlen || (root != NULL &&
		    strcmp(root, "true") == 0) || ca_b64_decode(
		    amt_reply_item_value(rep, i, "X509Certificate"), 8192,
		    &der, &n) != CUST_OK) {
			cust_clearerr();
			continue;
		}
		cp = der;
		if ((x = d2i_X509(NULL, &cp, (long)n)) != NULL &&
		    EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1 && ours(p, x)) {
			BIGNUM *bn = ASN1_INTEGER_to_BN(
			    X509_get_serialNumber(x), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;

			if (hex != NULL && ca_serial_norm(hex, serial, slen) ==
			    CUST_OK)
				memcpy(id, iid, strlen(iid) + 1);
			cust_clearerr();
			OPENSSL_free(hex);
			BN_free(bn);
		}
		X509_free(x);
		free(der);
		der = NULL;
	}
	amt_reply_free(rep);
	return *id ? note(p, "leaf", "ok", "reused %s (serial %s)", id, serial)
	    : CUST_OK;
}

/* The certificates of a PEM text, each as base64 DER, into a new array
 * (with the hex SHA-256 of each in *sums when not NULL). */
static int
pem_certs(const char *pem, json_t **out, json_t **sums)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	unsigned char *der = NULL, md[32];
	char hex[65], *s;
	json_t *a = json_array(), *h = json_array();
	X509 *x;
	int n, i, r = CUST_E_NOMEM;

	*out = NULL;
	if (bio == NULL || a == NULL || h == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		n = i2d_X509(x, &der);
		X509_free(x);
		if (n <= 0 || (s = b64(der, (size_t)n)) == NULL)
			goto out;
		SHA256(der, (size_t)n, md);
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		OPENSSL_free(der);
		der = NULL;
		if (json_array_append_new(a, json_string(s)) != 0 ||
		    json_array_append_new(h, json_string(hex)) != 0) {
			free(s);
			goto out;
		}
		free(s);
	}
	ERR_clear_error();
	*out = a;
	a = NULL;
	if (sums != NULL) {
		*sums = h;
		h = NULL;
	}
	r = CUST_OK;
out:
	OPENSSL_free(der);
	json_decref(a);
	json_decref(h);
	BIO_free(bio);
	return r == CUST_OK ? r : cust_fail(r, "out of memory");
}

/* Install every root of the bundle on the device (duplicates are there
 * already): *sums the hex SHA-256 of each. */
static int
add_roots(struct prov *p, json_t **sums)
{
	json_t *b = NULL, *certs = NULL, *v;
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	size_t i;
	int r;

	*sums = NULL;
	if ((r = ca_bundle(p->ctx->st, &b)) != CUST_OK ||
	    (r = pem_certs(json_string_value(json_object_get(b, "pem")),
	    &certs, sums)) != CUST_OK)
		goto out;
	json_array_foreach(certs, i, v) {
		if ((r = amt_msg_add_root(++p->id, json_string_value(v), &q))
		    != CUST_OK || (r = call(p, "roots", q, 1, 2058, &rep)) !=
		    CUST_OK)
			goto out;
		amt_reply_free(rep);
		rep = NULL;
	}
	r = note(p, "roots", "ok", "%zu root(s) of the bundle trusted",
	    json_array_size(certs));
out:
	if (r != CUST_OK) {
		json_decref(*sums);
		*sums = NULL;
	}
	json_decref(b);
	json_decref(certs);
	return r;
}

/* Sign the device's request for key and install the chain: the leaf's
 * InstanceID into id, its serial into serial. */
static int
issue_leaf(struct prov *p, const char *kp, EVP_PKEY *key, char *id,
    size_t idlen, char *serial, size_t slen)
{
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	json_t *cert = NULL, *chain = NULL, *v;
	unsigned char *der = NULL;
	const unsigned char *cp;
	X509_REQ *req = NULL;
	const char *sreq, *iid;
	char *csr = NULL;
	size_t i, n;
	int r;

	if ((r = null_csr(p->fqdn, key, &csr)) != CUST_OK ||
	    (r = amt_msg_pkcs10(++p->id, kp, csr, &q)) != CUST_OK ||
	    (r = call(p, "csr", q, 1, 0, &rep)) != CUST_OK)
		goto out;
	sreq = amt_reply_value(rep, "SignedCertificateRequest");
	if (sreq == NULL || ca_b64_decode(sreq, CA_CSR_MAX, &der, &n) !=
	    CUST_OK) {
		(void)note(p, "csr", "failed", "the device answered no "
		    "readable SignedCertificateRequest");
		r = cust_fail(CUST_E_PARSE, "%s", p->detail);
		goto out;
	}
	cp = der;
	if ((r = ca_csr_check(der, n, p->fqdn, NULL)) != CUST_OK ||
	    (req = d2i_X509_REQ(NULL, &cp, (long)n)) == NULL ||
	    EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key) != 1) {
		(void)note(p, "csr", "failed", "the device's request is refused: "
		    "%s", r != CUST_OK ? cust_errmsg() : "not for its key pair");
		r = cust_fail(r != CUST_OK ? r : CUST_E_INVAL, "%s", p->detail);
		goto out;
	}
	if ((r = note(p, "csr", "ok", "signed by the device, checked")) !=
	    CUST_OK)
		goto out;
	if ((r = ca_sign_csr(p->ctx->st, p->ctx->actor, p->fqdn, der, n, 0,
	    &cert)) != CUST_OK) {
		(void)note(p, "sign", "failed", "%s", cust_errmsg());
		goto out;
	}
	snprintf(serial, slen, "%s", json_string_value(json_object_get(cert,
	    "serial")));
	if ((r = note(p, "sign", "ok", "serial %s", serial)) != CUST_OK ||
	    (r = pem_certs(json_string_value(json_object_get(cert, "chain")),
	    &chain, NULL)) != CUST_OK)
		goto out;
	/* Intermediates first, then the leaf (the chain's first). */
	for (i = json_array_size(chain); i-- > 0;) {
		v = json_array_get(chain, i);
		amt_reply_free(rep);
		rep = NULL;
		if ((r = amt_msg_add_cert(++p->id, json_string_value(v), &q)) !=
		    CUST_OK || (r = call(p, "chain", q, 1, i ? 2058 : 0, &rep))
		    != CUST_OK)
			goto out;
	}
	iid = amt_reply_value(rep, "InstanceID");
	if (iid == NULL || strlen(iid) >= idlen) {
		(void)note(p, "chain", "failed", "AddCertificate named no "
		    "certificate");
		r = cust_fail(CUST_E_PARSE, "%s", p->detail);
		goto out;
	}
	memcpy(id, iid, strlen(iid) + 1);
	r = note(p, "chain", "ok", "leaf %s and %zu CA certificate(s)", id,
	    json_array_size(chain) - 1);
out:
	X509_REQ_free(req);
	free(der);
	free(csr);
	amt_reply_free(rep);
	json_decref(cert);
	json_decref(chain);
	return r;
}

/* Whether the device allows plain HTTP next to TLS: CSME 16.1 and later
 * may have the read-only NonSecureConnectionsSupported false in the
 * remote AMT_TLSSettingData, and then refuse a Put that keeps 16992
 * (reference 6); older firmware has no such property (allowed). */
static int
nonsecure_supported(struct prov *p, int *out)
{
	struct amt_reply *rep = NULL;
	const char *id, *v;
	size_t i;
	int r;

	*out = 1;
	if ((r = enum_all(p, "tls-remote", "AMT_TLSSettingData", &rep)) !=
	    CUST_OK)
		return r;
	for (i = 0; i < amt_reply_items(rep); i++)
		if ((id = amt_reply_item_value(rep, i, "InstanceID")) != NULL &&
		    strcmp(id, "Intel(r) AMT 802.3 TLS Settings") == 0 &&
		    (v = amt_reply_item_value(rep, i,
		    "NonSecureConnectionsSupported")) != NULL &&
		    strcmp(v, "false") == 0)
			*out = 0;
	amt_reply_free(rep);
	return CUST_OK;
}

/* Bind leaf id to TLS and commit. */
static int
bind_tls(struct prov *p, const char *id)
{
	struct amt_tls_settings ts = { 0, 1, 0, 1, NULL, 0 };
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	int r;

	util_test_stop("provision-bind");	/* tests arm a fault here */
	if ((r = amt_msg_tls_context(++p->id, id, &q)) != CUST_OK)
		return r;
	if ((r = amt_call(&p->t, q, &rep)) == CUST_E_CONFLICT &&
	    strstr(cust_errmsg(), "AlreadyExists") != NULL) {
		amt_req_free(q);
		if ((r = amt_msg_tls_context_put(++p->id, id, &q)) != CUST_OK)
			return r;
		r = amt_call(&p->t, q, &rep);
	}
	amt_req_free(q);
	amt_reply_free(rep);
	rep = NULL;
	if (r != CUST_OK)
		return note(p, "context", "failed", "%s", cust_errmsg()) ==
		    CUST_OK ? r : CUST_E_NOMEM;
	if ((r = note(p, "context", "ok", "TLS credential context: %s", id))
	    != CUST_OK || (r = nonsecure_supported(p, &ts.accept_nonsecure))
	    != CUST_OK || (r = amt_msg_tls_put(++p->id, &ts, &q)) != CUST_OK ||
	    (r = call(p, "tls-remote", q, 0, 0, &rep)) != CUST_OK)
		return r;
	amt_reply_free(rep);
	ts.local = 1;
	if ((r = note(p, "tls-remote", "ok", ts.accept_nonsecure ? "802.3: "
	    "enabled, non-TLS accepted" : "802.3: enabled, non-TLS refused "
	    "(the device does not support it: TLS only)")) != CUST_OK ||
	    (r = amt_msg_tls_put(++p->id, &ts, &q)) != CUST_OK ||
	    (r = call(p, "tls-local", q, 0, 0, &rep)) != CUST_OK)
		return r;
	amt_reply_free(rep);
	if ((r = note(p, "tls-local", "ok", "LMS: enabled")) != CUST_OK ||
	    (r = amt_msg_commit(++p->id, &q)) != CUST_OK ||
	    (r = call(p, "commit", q, 1, 0, &rep)) != CUST_OK)
		return r;
	amt_reply_free(rep);
	return note(p, "commit", "ok", "CommitChanges");
}

/* Delete fqdn's device_tls row (in the caller's transaction). */
static int
forget_tls(struct store *s, const char *fqdn)
{
	sqlite3_stmt *q = NULL;
	int r;

	if (sqlite3_prepare_v2(store_db(s), "DELETE FROM device_tls WHERE "
	    "fqdn = ?1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, fqdn, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		r = store_err(s, "device_tls");
	else
		r = store_step_done(s, q, "device_tls");
	sqlite3_finalize(q);
	return r;
}

/* Record fqdn as provisioned with leaf serial and roots sums (hex
 * SHA-256s; NULL: none known); serial NULL keeps the recorded one (or
 * "unknown"). The row gets its MAC, and the device row its TLS mark
 * (ops_tls_record()); an existing row is updated only when its MAC
 * matches (else the statement fails, naming it), unless replace: the
 * device was just seen verifying TLS on the wire, which proves more than
 * a row altered outside custody (the row is then written anew). */
static int
record(struct cust_state *st, const char *actor, const char *fqdn,
    const char *serial, json_t *sums, int replace)
{
	struct store *s = state_store(st);
	sqlite3_stmt *q = NULL;
	json_free_t jfree;
	char det[128], *roots;
	int r;

	json_get_alloc_funcs(NULL, &jfree);
	if ((roots = sums != NULL ? json_dumps(sums, JSON_COMPACT) :
	    strdup("[]")) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = store_begin(s)) != CUST_OK)
		goto out;
	if (replace && (r = forget_tls(s, fqdn)) != CUST_OK)
		goto out;
	/* The MAC of the row as written: the new values, or the old serial
	 * and provisioned time kept (SQLite's upsert: bare names are the
	 * old row's), after the old row's own MAC is checked. */
	if (sqlite3_prepare_v2(store_db(s), serial != NULL ?
	    "INSERT INTO device_tls(fqdn, serial, roots, provisioned, updated,"
	    " mac) VALUES(?1, ?2, ?3, ?4, ?4, custody_mac('device_tls', ?1,"
	    " ?2, ?3, ?4, ?4)) ON CONFLICT(fqdn) DO UPDATE SET"
	    " serial = ?2, roots = ?3, updated = ?4, mac = custody_mac("
	    "'device_tls', fqdn, ?2, ?3, provisioned, ?4) WHERE "
	    STORE_CHECK(STORE_ROW_DEVICE_TLS) :
	    "INSERT INTO device_tls(fqdn, serial, roots, provisioned, updated,"
	    " mac) VALUES(?1, 'unknown', ?3, ?4, ?4, custody_mac('device_tls',"
	    " ?1, 'unknown', ?3, ?4, ?4)) ON CONFLICT(fqdn) DO UPDATE"
	    " SET roots = ?3, updated = ?4, mac = custody_mac('device_tls',"
	    " fqdn, serial, ?3, provisioned, ?4) WHERE "
	    STORE_CHECK(STORE_ROW_DEVICE_TLS), -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, fqdn, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    (serial != NULL && sqlite3_bind_text(q, 2, serial, -1,
	    SQLITE_TRANSIENT) != SQLITE_OK) ||
	    sqlite3_bind_text(q, 3, roots, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 4, util_now()) != SQLITE_OK) {
		r = store_err(s, "device_tls");
		goto out;
	}
	if ((r = store_step_done(s, q, "device_tls")) != CUST_OK)
		goto out;
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(store_db(s), "UPDATE device SET tls_mac = "
	    STORE_MAC(STORE_ROW_DEVICE_TLSMARK) " WHERE fqdn = ?1 AND "
	    "state = 'active'", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, fqdn, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		r = store_err(s, "device");
		goto out;
	}
	if ((r = store_step_done(s, q, "device")) != CUST_OK)
		goto out;
	snprintf(det, sizeof(det), "TLS recorded: leaf %.40s%s",
	    serial ? serial : "kept", replace ? " (an altered record "
	    "replaced: TLS verified on the wire)" : "");
	if ((r = audit_append(state_audit(st), actor, PROV_ACTION, fqdn, "ok",
	    det)) != CUST_OK)
		goto out;
	sqlite3_finalize(q);
	q = NULL;
	r = store_commit(s);
out:
	sqlite3_finalize(q);
	if (r != CUST_OK && store_in_txn(s))
		store_rollback(s);
	if (sums != NULL)	/* json_dumps(): jansson's allocator */
		jfree(roots);
	else
		free(roots);
	return r;
}

/*
 * fqdn has no device_tls row: CUST_E_NOTFOUND (no message) unless its
 * device row carries the mark custody sets when it records TLS: then the
 * row was deleted outside custody, and plain HTTP would be a downgrade
 * (the digest exchanges and every DigestPassword readable on the path);
 * refused, naming the fix. A mark that does not verify is refused too.
 */
static int
tls_mark(struct store *s, const char *fqdn)
{
	sqlite3_stmt *q = NULL;
	int r;

	if (sqlite3_prepare_v2(store_db(s), "SELECT custody_row_ok(tls_mac, "
	    STORE_ROW_DEVICE_TLSMARK ") FROM device WHERE fqdn = ?1 AND "
	    "state = 'active' AND tls_mac IS NOT NULL", -1, &q, NULL) !=
	    SQLITE_OK || sqlite3_bind_text(q, 1, fqdn, -1, SQLITE_TRANSIENT) !=
	    SQLITE_OK) {
		r = store_err(s, "device");
		goto out;
	}
	if ((r = sqlite3_step(q)) == SQLITE_DONE) {
		r = CUST_E_NOTFOUND;	/* no message: callers test for it */
		goto out;
	}
	if (r != SQLITE_ROW) {
		r = store_err(s, "device");
		goto out;
	}
	r = cust_fail(CUST_E_DB, "%s: custody provisioned TLS on this device "
	    "(its device row %s), but its TLS record (device_tls) is gone: "
	    "deleted outside custody; nothing is sent over plain HTTP. 'cert "
	    "provision %s' records it again once TLS verifies", fqdn,
	    sqlite3_column_int(q, 0) == 1 ? "says so" : "has a TLS mark that "
	    "does not verify either", fqdn);
	store_set_tampered(s);
out:
	sqlite3_finalize(q);
	return r;
}

int
ops_tls_record(struct cust_state *st, const char *fqdn, json_t **out)
{
	sqlite3_stmt *q = NULL;
	struct store *s = state_store(st);
	json_t *roots;
	int r;

	*out = NULL;
	if (sqlite3_prepare_v2(store_db(s), "SELECT serial, roots, "
	    "provisioned, updated, " STORE_CHECK(STORE_ROW_DEVICE_TLS)
	    " FROM device_tls WHERE fqdn = ?1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, fqdn, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		r = store_err(s, "device_tls");
		goto out;
	}
	if ((r = sqlite3_step(q)) == SQLITE_DONE) {
		r = tls_mark(s, fqdn);
		goto out;
	}
	if (r != SQLITE_ROW) {
		r = store_err(s, "device_tls");
		if (store_tampered(s)) {
			r = cust_fail(r, "%s; once TLS verifies on the device, "
			    "'cert provision %s' records it again", cust_errmsg(),
			    fqdn);
			store_set_tampered(s);
		}
		goto out;
	}
	roots = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
	if ((*out = json_pack("{s:s, s:o, s:I, s:I}", "serial",
	    (const char *)sqlite3_column_text(q, 0), "roots", roots ? roots :
	    json_array(), "provisioned", (json_int_t)sqlite3_column_int64(q,
	    2), "updated", (json_int_t)sqlite3_column_int64(q, 3))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = CUST_OK;
out:
	sqlite3_finalize(q);
	return r;
}

/*
 * The serials of the device certificates custody issued for fqdn (any
 * registration of the name: a removed device's are revoked with it) and
 * revoked, comma separated, into *out (malloc; NULL when none). Every row
 * of the name is read with its MAC checked: a revoked certificate set back
 * to valid outside custody fails here rather than being trusted again.
 */
int
ops_tls_revoked(struct cust_state *st, const char *fqdn, char **out)
{
	struct store *s = state_store(st);
	sqlite3_stmt *q = NULL;
	char *list = NULL, *nl;
	size_t len = 0, n;
	int r;

	*out = NULL;
	if (sqlite3_prepare_v2(store_db(s), "SELECT serial, status, "
	    STORE_CHECK(STORE_ROW_CERT) " FROM cert WHERE kind = 'device' AND "
	    "holder = ?1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, fqdn, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		r = store_err(s, "cert");
		goto out;
	}
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		const char *serial = (const char *)sqlite3_column_text(q, 0);

		if (strcmp((const char *)sqlite3_column_text(q, 1),
		    "revoked") != 0 || serial == NULL)
			continue;
		n = strlen(serial);
		if ((nl = realloc(list, len + n + 2)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		list = nl;
		memcpy(list + len, serial, n);
		len += n;
		list[len++] = ',';
		list[len] = '\0';
	}
	if (r != SQLITE_DONE) {
		r = store_err(s, "cert");
		goto out;
	}
	*out = list;
	list = NULL;
	r = CUST_OK;
out:
	sqlite3_finalize(q);
	free(list);
	return r;
}

int
ops_tls_target(struct cust_state *st, const char *fqdn,
    struct amt_target *t, char *cafile, size_t len)
{
	json_t *rec = NULL;
	int r;

	if ((r = ops_tls_record(st, fqdn, &rec)) == CUST_E_NOTFOUND)
		return CUST_OK;		/* not provisioned: plain HTTP */
	json_decref(rec);
	if (r != CUST_OK)
		return r;
	free(t->revoked);
	t->revoked = NULL;
	if ((r = ops_tls_revoked(st, fqdn, &t->revoked)) != CUST_OK)
		return r;
	if ((size_t)snprintf(cafile, len, "%s/ca/bundle.pem", state_dir(st))
	    >= len)
		return cust_fail(CUST_E_INVAL, "state directory path too long");
	t->tls = 1;
	t->cafile = cafile;
	return CUST_OK;
}

int
ops_device_own_error(struct cust_state *st, int r)
{
	return r == CUST_E_NOTFOUND || r == CUST_E_CRYPTO ||
	    (r == CUST_E_DB && store_tampered(state_store(st)));
}

int
ops_first_realm(struct ops_ctx *ctx, const char *fqdn, const char *realm,
    int record, const char **result)
{
	int r;

	*result = NULL;
	r = cred_device_first_realm(ctx->st, ctx->actor, fqdn, realm, record);
	if (r == CUST_E_CONFLICT)
		*result = "realm-conflict";
	else if (r == CUST_E_VIOLATION)
		*result = "realm-mismatch";
	return *result != NULL ? CUST_OK : r;
}

int
ops_wrong_password(struct seal_secret **out)
{
	unsigned char raw[16];

	if ((*out = seal_secret_new(2 * sizeof(raw))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex((char *)seal_secret_data(*out), 2 * sizeof(raw) + 1,
	    raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	return CUST_OK;
}

/*
 * Before anything is changed or signed over plain HTTP: a fresh login as
 * the admin with a password no one holds must be refused. A peer that
 * takes it takes any login (an impostor at the device's address, which
 * the realm alone does not tell: it is in every challenge), and custody
 * would sign a certificate for the device's name with a key of the
 * peer's. (A man in the middle relaying to the real device is not told
 * apart by any login: SERVICE.md, "The proof".)
 */
static int
login_check(struct prov *p)
{
	const struct seal_secret *pw = p->t.password;
	struct seal_secret *wrong = NULL;
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	int r;

	if ((r = ops_wrong_password(&wrong)) != CUST_OK ||
	    (r = amt_msg_get(++p->id, "AMT_GeneralSettings", &q)) != CUST_OK)
		goto out;
	p->t.password = wrong;
	p->t.fresh = 1;
	r = amt_call(&p->t, q, &rep);
	p->t.password = pw;
	p->t.fresh = 0;
	if (r == CUST_E_DENIED) {
		cust_clearerr();
		r = note(p, "login-check", "ok", "a login with a wrong password "
		    "is refused");
		goto out;
	}
	p->err = r == CUST_OK ? CUST_E_DENIED : r;
	if (r == CUST_OK)
		(void)note(p, "login-check", "failed", "the device took a login "
		    "with a password no one holds: a peer that takes any login "
		    "(not an AMT device, or a man in the middle); nothing "
		    "changed, nothing signed");
	else
		(void)note(p, "login-check", "failed", "whether a wrong password "
		    "is refused could not be seen: %s", cust_errmsg());
	r = cust_fail(p->err, "%s", p->detail);
out:
	amt_req_free(q);
	amt_reply_free(rep);
	seal_secret_free(wrong);
	return r;
}

/*
 * First contact (no DigestRealm registered): a Get as the admin, and the
 * realm it logs in with (amt_reply_realm()) recorded by
 * ops_first_realm() before anything is changed or signed, unless another
 * device has it (realm-conflict: another machine answers at this
 * device's address). Later calls then refuse any other realm.
 */
static int
realm_check(struct prov *p)
{
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	const char *res;
	int r;

	if (p->t.realm != NULL)
		return CUST_OK;
	if ((r = amt_msg_get(++p->id, "AMT_GeneralSettings", &q)) !=
	    CUST_OK || (r = call(p, "realm-check", q, 0, 0, &rep)) != CUST_OK)
		return r;
	if ((r = amt_reply_realm(rep, p->realm)) != CUST_OK) {
		p->err = r;
		p->outcome = r == CUST_E_VIOLATION ? "realm-mismatch" : NULL;
		(void)note(p, "realm-check", "failed", "%s", cust_errmsg());
		goto out;
	}
	if ((r = ops_first_realm(p->ctx, p->fqdn, p->realm, 1, &res)) !=
	    CUST_OK)
		goto out;
	if (res != NULL) {
		p->err = r = CUST_E_CONFLICT;
		p->outcome = res;
		(void)note(p, "realm-check", "failed", "%s", cust_errmsg());
		goto out;
	}
	p->t.realm = p->realm;
	r = note(p, "realm-check", "ok", "first contact: DigestRealm %s "
	    "recorded", p->realm);
out:
	amt_reply_free(rep);
	return r;
}

/* Set p up to talk to device fqdn as the admin (the current password,
 * read audited as action); tls: over TLS already. prov_close() after,
 * whatever it returns. */
static int
prov_open(struct ops_ctx *ctx, const char *fqdn, const char *action,
    int tls, struct prov *p)
{
	const char *state;
	int64_t ver;
	int r;

	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	if ((r = cred_device_get(ctx->st, fqdn, &p->dev)) != CUST_OK)
		return r;
	p->fqdn = json_string_value(json_object_get(p->dev, "fqdn"));
	if ((p->steps = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = cred_secret_read(ctx->st, ctx->actor, action, "current",
	    p->fqdn, CRED_KIND_ADMIN, CRED_VER_CURRENT, &p->pw, &ver, &state))
	    != CUST_OK)
		return r;
	p->t.fqdn = p->fqdn;
	p->t.address = json_string_value(json_object_get(p->dev, "address"));
	p->t.realm = json_string_value(json_object_get(p->dev,
	    "digest_realm"));
	p->t.user = PROV_USER;
	p->t.password = p->pw;
	if ((size_t)snprintf(p->cafile, sizeof(p->cafile), "%s/ca/bundle.pem",
	    state_dir(ctx->st)) >= sizeof(p->cafile))
		return cust_fail(CUST_E_INVAL, "state directory path too long");
	p->t.cafile = p->cafile;
	p->t.tls = tls;
	/* Every TLS exchange, tls-check and verify too, refuses a device
	 * certificate custody revoked (then: cert provision --force). */
	return ops_tls_revoked(ctx->st, p->fqdn, &p->t.revoked);
}

static void
prov_close(struct prov *p)
{
	free(p->t.revoked);
	json_decref(p->steps);
	json_decref(p->dev);
	seal_secret_free(p->pw);
	memset(p, 0, sizeof(*p));
}

static json_t *
item(struct prov *p, const char *result, const char *detail)
{
	return json_pack("{s:s, s:s, s:o, s:s, s:O}", "fqdn", p->fqdn,
	    "result", result, "step", p->step ? json_string(p->step) :
	    json_null(), "detail", detail, "steps", p->steps);
}

/* The outcome of a failed run, by what failed it (p->step, p->err). */
static const char *
failure_of(const struct prov *p)
{
	if (p->outcome != NULL)
		return p->outcome;
	if (p->step != NULL && strcmp(p->step, "verify") == 0)
		return "tls-failed";
	switch (p->err) {
	case CUST_E_DENIED:
		return "auth-failed";
	case CUST_E_UNAVAIL:
		return "unreachable";
	case CUST_E_CRYPTO:
		return "tls-failed";
	case CUST_E_CONFLICT:
		return "refused";
	default:
		return "failed";
	}
}

/* The device's previous certificate (old, a serial) revoked as
 * superseded once its renewal serves: noted, never failing the run (the
 * old one then simply runs out). */
static int
supersede(struct prov *p, const char *old, const char *serial)
{
	json_t *info = NULL;

	if (*old == '\0' || strcmp(old, "unknown") == 0 ||
	    strcmp(old, serial) == 0)
		return CUST_OK;
	if (ca_revoke(p->ctx->st, p->ctx->actor, old, "superseded", &info) ==
	    CUST_OK) {
		json_decref(info);
		return note(p, "supersede", "ok", "the previous certificate, "
		    "serial %s, revoked (superseded)", old);
	}
	return note(p, "supersede", "ok", "the previous certificate, serial "
	    "%s, not revoked: %s", old, cust_errmsg());
}

/* Provision fqdn: *resp its item; *outcome_out (may be NULL) its outcome
 * as a job records it. renew: a device whose TLS verifies gets a new
 * certificate all the same, over that TLS. */
static int
provision(struct ops_ctx *ctx, const char *fqdn, int force, int renew,
    json_t **resp, const char **outcome_out)
{
	struct prov p;
	EVP_PKEY *key = NULL;
	json_t *sums = NULL, *rec = NULL;
	char kp[256], leaf[256] = "", serial[CA_SERIAL_HEXLEN];
	char old[CA_SERIAL_HEXLEN] = "";
	int r, renewing = 0;

	if ((r = prov_open(ctx, fqdn, PROV_ACTION, 0, &p)) != CUST_OK)
		goto out;
	/* 1. Provisioned already? */
	if (tls_get(&p, "tls-check") == CUST_OK) {
		cust_clearerr();
		int altered;

		r = ops_tls_record(ctx->st, p.fqdn, &rec);
		/* An altered or deleted record (CUST_E_DB: its MAC, or the
		 * device's TLS mark without it): the wire just proved TLS,
		 * so it is written anew. */
		if (r != CUST_OK && r != CUST_E_NOTFOUND && r != CUST_E_DB)
			goto out;
		altered = r == CUST_E_DB;
		if ((r = note(&p, "tls-check", "ok", "TLS verifies against "
		    "the bundle%s%s", altered ? "; its record, altered outside "
		    "custody, is written again" : "", renew ? "; renewing its "
		    "certificate over TLS" : ": nothing to do")) != CUST_OK)
			goto out;
		if (rec == NULL && (r = record(ctx->st, ctx->actor, p.fqdn,
		    NULL, NULL, altered)) != CUST_OK)
			goto out;
		if (!renew) {
			*resp = item(&p, "unchanged", "TLS already provisioned "
			    "and verified");
			goto done;
		}
		/* The steps below over the TLS just verified: no login
		 * check (the certificate proves the device), no reuse of
		 * the leaf it serves. */
		if (rec != NULL)
			snprintf(old, sizeof(old), "%s", json_string_value(
			    json_object_get(rec, "serial")));
		renewing = 1;
		p.t.tls = 1;
	}
	/* Recorded as provisioned, yet TLS does not verify: a reset device,
	 * or someone on the path blocking the TLS port to have custody log
	 * in and configure it over plain HTTP. Only when asked. */
	if (!force && !renewing) {
		char why[256];

		snprintf(why, sizeof(why), "%s", cust_errmsg());
		r = ops_tls_record(ctx->st, p.fqdn, &rec);
		if (r != CUST_OK && r != CUST_E_NOTFOUND)
			goto out;
		if (r == CUST_OK) {
			(void)note(&p, "tls-check", "failed", "%s; the device "
			    "is recorded as TLS-provisioned: not re-provisioned "
			    "over plain HTTP (--force if it was reset)", why);
			goto failed;
		}
		cust_fail(CUST_E_UNAVAIL, "%s", why);
	}
	if (!renewing && (r = note(&p, "tls-check", "ok", "%s: provisioning",
	    cust_errmsg())) != CUST_OK)
		goto out;
	if ((!renewing && ((r = login_check(&p)) != CUST_OK ||
	    (r = realm_check(&p)) != CUST_OK)) ||
	    (r = key_pair(&p, kp, sizeof(kp), &key)) != CUST_OK ||
	    (!renewing && (r = find_leaf(&p, key, leaf, sizeof(leaf), serial,
	    sizeof(serial))) != CUST_OK) || (r = add_roots(&p, &sums)) !=
	    CUST_OK || (*leaf == '\0' && (r = issue_leaf(&p, kp, key, leaf,
	    sizeof(leaf), serial, sizeof(serial))) != CUST_OK) ||
	    (r = bind_tls(&p, leaf)) != CUST_OK)
		goto failed;
	/* 9. The proof. */
	if ((r = tls_get(&p, "verify")) != CUST_OK) {
		(void)note(&p, "verify", "failed", "%s", cust_errmsg());
		goto failed;
	}
	if ((r = note(&p, "verify", "ok", "TLS on the device port verifies "
	    "against the bundle")) != CUST_OK)
		goto out;
	if ((r = record(ctx->st, ctx->actor, p.fqdn, serial, sums, 0)) !=
	    CUST_OK || (renewing && (r = supersede(&p, old, serial)) !=
	    CUST_OK))
		goto out;
	*resp = item(&p, "ok", renewing ? "TLS certificate renewed and "
	    "verified" : "TLS provisioned and verified");
	goto done;
failed:
	if (p.step == NULL)	/* custody's own error, not the device's */
		goto out;
	cust_clearerr();
	*resp = item(&p, "failed", p.detail);
	if (outcome_out != NULL)
		*outcome_out = failure_of(&p);
done:
	r = *resp != NULL ? CUST_OK : cust_fail(CUST_E_NOMEM, "out of memory");
out:
	EVP_PKEY_free(key);
	json_decref(sums);
	json_decref(rec);
	prov_close(&p);
	return r;
}

/* The steps a provisioning runs, for --dry-run (nothing is sent). */
static int
dry_run(struct ops_ctx *ctx, const char *fqdn, json_t **resp)
{
	static const char *const steps[][2] = {
		{ "tls-check", "Get AMT_GeneralSettings over TLS, verified "
		  "against the bundle (done when it works)" },
		{ "login-check", "Get AMT_GeneralSettings logged in with a "
		  "random wrong password: must be refused (a peer that takes "
		  "any login gets nothing signed)" },
		{ "realm-check", "no DigestRealm registered: Get "
		  "AMT_GeneralSettings, the realm it logs in with recorded "
		  "(refused when another device has it)" },
		{ "key-pair", "Enumerate AMT_PublicPrivateKeyPair; "
		  "GenerateKeyPair(RSA, 2048) when none" },
		{ "leaf", "Enumerate AMT_PublicKeyCertificate: reuse custody's "
		  "valid leaf for the key" },
		{ "roots", "AddTrustedRootCertificate of each bundle root" },
		{ "csr", "GeneratePKCS10RequestEx(key pair, null-signed "
		  "request CN=FQDN, SHA-256)" },
		{ "sign", "ca_sign_csr (as cert sign)" },
		{ "chain", "AddCertificate of the CA certificates, then the "
		  "leaf" },
		{ "context", "Create (or Put) AMT_TLSCredentialContext" },
		{ "tls-remote", "Put AMT_TLSSettingData 802.3" },
		{ "tls-local", "Put AMT_TLSSettingData LMS" },
		{ "commit", "CommitChanges" },
		{ "verify", "Get over TLS, verified against the bundle" },
	};
	struct amt_target t = { 0 };
	char url[AMT_URL_MAX], ct[AMT_CONNECT_TO_MAX];
	json_t *dev = NULL, *a = NULL, *s;
	size_t i;
	int r;

	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK)
		return r;
	t.fqdn = json_string_value(json_object_get(dev, "fqdn"));
	t.address = json_string_value(json_object_get(dev, "address"));
	t.tls = 1;
	if ((r = amt_target_where(&t, url, sizeof(url), ct, sizeof(ct))) !=
	    CUST_OK)
		goto out;
	if ((a = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if ((s = json_pack("{s:s, s:s}", "step", steps[i][0],
		    "action", steps[i][1])) == NULL ||
		    json_array_append_new(a, s) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	if ((*resp = json_pack("{s:s, s:b, s:s, s:o, s:O}", "fqdn", t.fqdn,
	    "dry_run", 1, "tls_url", url, "connect_to", *ct ? json_string(ct)
	    : json_null(), "steps", a)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
out:
	json_decref(a);
	json_decref(dev);
	return r;
}

static int provision_selected(struct ops_ctx *ctx, json_t *req,
    json_t **resp);

static int
op_provision(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn;
	int r, dry = 0, force = 0, renew = 0;

	*resp = NULL;
	if (json_object_get(req, "fqdn") == NULL)	/* a selector: a job */
		return provision_selected(ctx, req, resp);
	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK ||
	    (r = ops_req_bool(req, "force", &force)) != CUST_OK ||
	    (r = ops_req_bool(req, "renew", &renew)) != CUST_OK)
		return r;
	if (dry)
		return dry_run(ctx, fqdn, resp);
	ops_crl_tick(ctx);
	return provision(ctx, fqdn, force, renew, resp, NULL);
}

/*
 * cert.provision of devices ids[0..n) as a job (selector borrowed), or
 * (resume) the rest of provisioning job resume, one device after the
 * other: *resp = {"job", "devices", "failed" (not ok nor unchanged,
 * missing included), "results" (counts by outcome), "items" [{"fqdn",
 * "result", "step", "detail"}]}. A device's own trouble (a failed
 * step, ops_device_own_error()) is its item; only the store's errors
 * (unavailable, memory) are errors;
 * the job then ends 'failed', resumable.
 */
/* The first contacts among fqdns (strings) read at once
 * (ops_first_contacts_of()): *at_out (free()) has for each of fqdns the
 * refusal that ends it, or NULL; *first_out (free()) holds them. */
static int
first_contacts(struct ops_ctx *ctx, json_t *fqdns, struct ops_first **first_out,
    size_t *n_out, struct ops_first ***at_out)
{
	const char **names;
	struct ops_first **at;
	size_t n = json_array_size(fqdns), i;
	int r;

	*first_out = NULL;
	*n_out = 0;
	if ((at = calloc(n + 1, sizeof(*at))) == NULL ||
	    (names = calloc(n + 1, sizeof(*names))) == NULL) {
		free(at);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	*at_out = at;
	for (i = 0; i < n; i++)
		names[i] = json_string_value(json_array_get(fqdns, i));
	/* Refusing only: realm-check records a unique realm, after
	 * login-check has found the peer refusing a wrong password. */
	r = ops_first_contacts_of(ctx, PROV_ACTION, names, n, NULL,
	    OPS_FIRST_REFUSE, first_out, n_out);
	free(names);
	for (i = 0; r == CUST_OK && i < *n_out; i++)
		if ((*first_out)[i].result != NULL)
			at[(*first_out)[i].index] = &(*first_out)[i];
	return r;
}

static int
provision_job(struct ops_ctx *ctx, json_t *selector, const int64_t *ids,
    size_t n, int64_t resume, int renew, json_t **resp)
{
	json_t *params = NULL, *fqdns = NULL, *items = json_array(), *it, *v;
	struct ops_first *first = NULL, **at = NULL;
	int64_t job = 0, *sorted = NULL, dev;
	size_t m = 0, total, miss = 0, bad = 0, i, nfirst = 0;
	const char *res, *fqdn;
	char d[600];
	int r;

	*resp = NULL;
	if (items == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (resume > 0) {
		if ((r = job_take(ctx->st, resume, JOB_KIND_PROVISION, &params,
		    &sorted, &m, &total)) != CUST_OK)
			goto out;
		job = resume;
	} else if ((params = json_pack("{s:b}", "renew", renew)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	} else if ((r = job_start(ctx->st, ctx->actor, JOB_KIND_PROVISION,
	    selector, params, ids, n, &job, &sorted, &m)) != CUST_OK)
		goto out;
	ops_crl_tick(ctx);
	r = ops_job_targets(ctx, job, PROV_ITEM_KIND, sorted, m, &fqdns,
	    &miss);
	/* The first contacts' realms, all read before any device is
	 * changed (ops_realm.c): two names of the job leading to one
	 * machine must not have it take the first one's certificate. */
	if (r == CUST_OK)
		r = first_contacts(ctx, fqdns, &first, &nfirst, &at);
	json_array_foreach(fqdns, i, v) {
		json_t *o;

		if (r != CUST_OK)
			break;
		fqdn = json_string_value(v);
		it = NULL;
		res = NULL;
		if (at[i] != NULL) {	/* refused: nothing changed */
			res = at[i]->result;
			if ((it = json_pack("{s:s, s:s, s:s}", "result", res,
			    "step", "realm-check", "detail", at[i]->detail)) ==
			    NULL)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
		} else if ((r = provision(ctx, fqdn, 0, json_is_true(
		    json_object_get(params, "renew")), &it, &res)) != CUST_OK &&
		    ops_device_own_error(ctx->st, r)) {
			/* The device's own trouble (its password or TLS
			 * record unreadable or altered, gone since): its
			 * item; the others are still done. */
			res = r == CUST_E_NOTFOUND ? "missing" : "failed";
			if ((it = json_pack("{s:s, s:n, s:s}", "result", res,
			    "step", "detail", cust_errmsg())) == NULL)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
			else {
				r = CUST_OK;
				cust_clearerr();
			}
		}
		if (r != CUST_OK)
			break;
		if (res == NULL)	/* ok or unchanged */
			res = json_string_value(json_object_get(it, "result"));
		if (json_is_string(json_object_get(it, "step")))
			snprintf(d, sizeof(d), "%s: %s", json_string_value(
			    json_object_get(it, "step")), json_string_value(
			    json_object_get(it, "detail")));
		else
			snprintf(d, sizeof(d), "%s", json_string_value(
			    json_object_get(it, "detail")));
		bad += strcmp(res, "ok") != 0 && strcmp(res, "unchanged") != 0;
		o = json_pack("{s:s, s:s, s:O, s:s}", "fqdn", fqdn, "result",
		    res, "step", json_object_get(it, "step"), "detail", d);
		if (o == NULL || json_array_append_new(items, o) != 0)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
		else if ((r = cred_device_find(ctx->st, fqdn, &dev)) == CUST_OK)
			r = job_item_add(ctx->st, job, dev, PROV_ITEM_KIND, res,
			    0, d);
		else if (r == CUST_E_NOTFOUND) {
			/* Removed while the job ran: reported, no item (no
			 * device row to hang it on). */
			r = CUST_OK;
			cust_clearerr();
		}
		json_decref(it);	/* res may be its */
		if (r != CUST_OK)
			break;
		if (ctx->progress != NULL)
			ctx->progress(ctx->progress_arg, i + 1,
			    json_array_size(fqdns));
	}
	if ((r = job_end(ctx->st, job, r)) != CUST_OK)
		goto out;
	r = ops_job_reply(job, m, bad, miss, items, resp);
out:
	json_decref(params);
	json_decref(fqdns);
	json_decref(items);
	free(sorted);
	free(first);
	free(at);
	return r;
}

int
ops_provision_job(struct ops_ctx *ctx, int64_t resume, json_t **resp)
{
	return provision_job(ctx, NULL, NULL, 0, resume, 0, resp);
}

/* cert.provision with "tag", "all" or "fqdns": a provisioning job. */
static int
provision_selected(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *sel = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	int dry, renew, r;

	if ((r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK ||
	    (r = ops_req_bool(req, "renew", &renew)) != CUST_OK)
		return r;
	if (dry)
		return cust_fail(CUST_E_INVAL, "a dry run takes one 'fqdn'");
	if ((r = ops_select(ctx, req, &ids, &n, &sel)) != CUST_OK)
		return r;
	r = provision_job(ctx, sel, ids, n, 0, renew, resp);
	json_decref(sel);
	free(ids);
	return r;
}


/*
 * Root rollover on devices. After `ca rotate` the bundle holds the new
 * generation's root next to the active one; ca.push-roots installs every
 * root of the bundle on each TLS-provisioned device (over TLS, as the
 * admin; one already there counts) and records which roots the device
 * has. ca.activate refuses while a provisioned device lacks one
 * (ops_roots_missing()), so no device is cut off from a console whose
 * certificate the new generation issues.
 */

/* The hex SHA-256 of every root of the bundle: a new array. */
static int
bundle_sums(struct cust_state *st, json_t **sums)
{
	json_t *b = NULL, *certs = NULL;
	int r;

	*sums = NULL;
	if ((r = ca_bundle(st, &b)) == CUST_OK)
		r = pem_certs(json_string_value(json_object_get(b, "pem")),
		    &certs, sums);
	json_decref(certs);
	json_decref(b);
	return r;
}

/* The FQDNs of every provisioned device: a new array. */
static int
provisioned(struct cust_state *st, json_t **out)
{
	struct store *s = state_store(st);
	sqlite3_stmt *q = NULL;
	json_t *a = json_array();
	int r;

	*out = NULL;
	if (a == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (sqlite3_prepare_v2(store_db(s), "SELECT fqdn FROM device_tls "
	    "ORDER BY fqdn", -1, &q, NULL) != SQLITE_OK) {
		r = store_err(s, "device_tls");
		goto out;
	}
	while ((r = sqlite3_step(q)) == SQLITE_ROW)
		if (json_array_append_new(a, json_string((const char *)
		    sqlite3_column_text(q, 0))) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	if (r != SQLITE_DONE) {
		r = store_err(s, "device_tls");
		goto out;
	}
	*out = a;
	a = NULL;
	r = CUST_OK;
out:
	sqlite3_finalize(q);
	json_decref(a);
	return r;
}

int
ops_roots_missing(struct cust_state *st, json_t **out)
{
	json_t *sums = NULL, *devs = NULL, *rec = NULL, *miss = NULL, *v, *h;
	size_t i, k, j;
	int r, found;

	*out = NULL;
	if ((r = bundle_sums(st, &sums)) != CUST_OK ||
	    (r = provisioned(st, &devs)) != CUST_OK)
		goto out;
	if ((miss = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(devs, i, v) {
		/* A record altered outside custody tells nothing about the
		 * device's roots: it is listed (--force still overrides). */
		if ((r = ops_tls_record(st, json_string_value(v), &rec)) !=
		    CUST_OK && ops_device_own_error(st, r)) {
			cust_clearerr();
			if (json_array_append(miss, v) != 0) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if (r != CUST_OK)
			goto out;
		json_array_foreach(sums, k, h) {
			found = 0;
			for (j = 0; j < json_array_size(json_object_get(rec,
			    "roots")) && !found; j++)
				found = json_equal(h, json_array_get(
				    json_object_get(rec, "roots"), j));
			if (!found) {
				if (json_array_append(miss, v) != 0) {
					r = cust_fail(CUST_E_NOMEM, "out of "
					    "memory");
					goto out;
				}
				break;
			}
		}
		json_decref(rec);
		rec = NULL;
	}
	*out = miss;
	miss = NULL;
	r = CUST_OK;
out:
	json_decref(sums);
	json_decref(devs);
	json_decref(rec);
	json_decref(miss);
	return r;
}

/* Install the bundle's roots on provisioned device fqdn: its item. */
static int
push_roots_one(struct ops_ctx *ctx, const char *fqdn, json_t **item_out)
{
	struct prov p;
	json_t *sums = NULL;
	int r;

	*item_out = NULL;
	if ((r = prov_open(ctx, fqdn, "ca.push-roots", 1, &p)) == CUST_OK &&
	    (r = ops_tls_record(ctx->st, p.fqdn, &sums)) == CUST_E_NOTFOUND) {
		(void)note(&p, "roots", "failed", "not TLS-provisioned (cert "
		    "provision first)");
		*item_out = item(&p, "failed", p.detail);
		r = CUST_OK;
		goto out;
	}
	json_decref(sums);
	sums = NULL;
	/* The device's own trouble (gone, its password or its TLS record
	 * unreadable or altered) is its item: the others are still done. */
	if (r != CUST_OK && ops_device_own_error(ctx->st, r)) {
		if (p.fqdn == NULL)
			p.fqdn = fqdn;
		if (p.steps == NULL && (p.steps = json_array()) == NULL)
			goto out;
		*item_out = item(&p, r == CUST_E_NOTFOUND ? "missing" :
		    "failed", cust_errmsg());
		r = CUST_OK;
		goto out;
	}
	if (r != CUST_OK)
		goto out;
	if ((r = add_roots(&p, &sums)) != CUST_OK) {
		if (p.step != NULL) {	/* the device's, not custody's */
			*item_out = item(&p, "failed", p.detail);
			r = CUST_OK;
		}
		goto out;
	}
	if ((r = record(ctx->st, ctx->actor, p.fqdn, NULL, sums, 0)) != CUST_OK)
		goto out;
	*item_out = item(&p, "ok", "every root of the bundle is trusted");
out:
	if (r == CUST_OK && *item_out == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	json_decref(sums);
	prov_close(&p);
	return r;
}

/* {"fqdns": [...]} or {"all": true}: {"items": [...], "ok": n,
 * "failed": n}. */
static int
op_push_roots(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char **fqdns = NULL;
	json_t *devs = NULL, *items = NULL, *it, *v;
	size_t nf = 0, i, ok = 0;
	int r, all = 0;

	*resp = NULL;
	if ((r = ops_req_strings(req, "fqdns", &fqdns, &nf)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK)
		goto out;
	if ((nf > 0) == (all != 0)) {
		r = cust_fail(CUST_E_INVAL, "name devices or all (one of the "
		    "two)");
		goto out;
	}
	if (all && (r = provisioned(ctx->st, &devs)) != CUST_OK)
		goto out;
	if (!all) {
		if ((devs = json_array()) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < nf; i++)
			if (json_array_append_new(devs, json_string(fqdns[i]))
			    != 0) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				goto out;
			}
	}
	if ((items = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(devs, i, v) {
		if ((r = push_roots_one(ctx, json_string_value(v), &it)) !=
		    CUST_OK)
			goto out;
		ok += strcmp(json_string_value(json_object_get(it, "result")),
		    "ok") == 0;
		if (json_array_append_new(items, it) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((*resp = json_pack("{s:O, s:I, s:I}", "items", items, "ok",
	    (json_int_t)ok, "failed", (json_int_t)(json_array_size(items) -
	    ok))) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
out:
	free(fqdns);
	json_decref(devs);
	json_decref(items);
	return r;
}

const struct ops_entry ops_provision_table[] = {
	{ "cert.provision", op_provision, 0, OPS_ADMIN, OPS_RES_DEVICE },
	{ "ca.push-roots", op_push_roots, 0, OPS_ADMIN, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
