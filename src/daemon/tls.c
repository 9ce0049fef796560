/* SPDX-License-Identifier: MIT */
/* src/daemon/tls.c - custodyd's TLS context.
 *
 * TLS 1.2 and 1.3 only; in TLS 1.2 only ECDHE key exchange with AEAD
 * suites (AES-GCM, ChaCha20-Poly1305): forward secrecy, no CBC, no RSA key
 * transport. TLS 1.3's suites are all AEAD with (EC)DHE. No renegotiation,
 * no compression.
 *
 * The server certificate and key are DIR/tls/server.{crt,key} (init makes
 * them; the key must be 0600 and ours). Client certificates are requested,
 * not required (a client without one is anonymous: public routes only),
 * and when one is sent it must verify against custody's CA chain: the
 * roots of the published generations (the trust bundle, from the store),
 * the issuing CAs and cross-certificates (DIR/ca/issuing-g*.pem,
 * DIR/ca/chain.pem), and the CRLs of every generation (from the store),
 * checked for the leaf and every CA of the chain (X509_V_FLAG_CRL_CHECK |
 * X509_V_FLAG_CRL_CHECK_ALL). A client whose certificate fails is refused
 * in the handshake.
 *
 * The enterprise client CA (custody.yaml tls.client_ca_file: its root(s)
 * and every intermediate that issues client certificates, PEM) is
 * trusted too, with its CRLs (tls.client_crl_file, PEM or DER), checked
 * for every certificate of its chains like custody's. Its certificates
 * map to identities by other rules (daemon_identity()): the issuer of
 * the chain decides, so each context also carries a store of the
 * enterprise CA alone, against which the worker verifies the leaf again.
 * Every CRL must be signed by a CA of the file; without a CRL file
 * (client_crl_required: false) enterprise chains are accepted without
 * revocation checks, which start-up and --check-config warn about.
 *
 * The context is rebuilt by the main thread when the store changed
 * (another process revoked, rotated, renewed), when a file it is built
 * from changed (main.c) or on SIGHUP, and swapped in
 * for new connections when what it trusts changed (its digest). Existing
 * connections keep theirs; each request is authorized again on the store
 * anyway (worker.c), so a revocation stops them too.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "state.h"
#include "util.h"
#include "daemon_int.h"

#define TLS12_SUITES "ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"

/* The OpenSSL error queue as a message, at the boundary. */
static int
ssl_fail(int code, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return cust_fail(code, "%s: %s", what, e ? buf : "failed");
}

/* Add every certificate of PEM text to xs; count in *n. */
static int
add_certs(X509_STORE *xs, const char *pem, size_t len, size_t *n)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int r = CUST_OK;

	if (b == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		/* A certificate already there is not an error. */
		if (X509_STORE_add_cert(xs, x) != 1)
			ERR_clear_error();
		X509_free(x);
		(*n)++;
	}
	ERR_clear_error();
	BIO_free(b);
	return r;
}

/* The intermediates of DIR/ca: issuing-gN.pem and chain.pem. */
static int
add_ca_files(X509_STORE *xs, const char *dir, crypto_hash_sha256_state *h,
    size_t *n)
{
	char *cadir = util_path(dir, "ca"), *p = NULL, *text = NULL;
	struct dirent *de;
	DIR *dp = NULL;
	size_t len;
	int r = CUST_OK;

	if (cadir == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((dp = opendir(cadir)) == NULL) {
		r = cust_fail(CUST_E_IO, "%s: cannot open", cadir);
		goto out;
	}
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (!(strncmp(de->d_name, "issuing-g", 9) == 0 ||
		    strcmp(de->d_name, "chain.pem") == 0) || len < 4 ||
		    strcmp(de->d_name + len - 4, ".pem") != 0)
			continue;
		if ((p = util_path(cadir, de->d_name)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		if ((r = util_read_file(p, 1 << 20, &text, &len)) != CUST_OK)
			goto out;
		crypto_hash_sha256_update(h, (const unsigned char *)text, len);
		if ((r = add_certs(xs, text, len, n)) != CUST_OK)
			goto out;
		free(text);
		free(p);
		text = p = NULL;
	}
out:
	if (dp != NULL)
		closedir(dp);
	free(text);
	free(p);
	free(cadir);
	return r;
}

/* Roots (the bundle) and CRLs from the store. */
static int
add_store_trust(X509_STORE *xs, struct cust_state *st,
    crypto_hash_sha256_state *h, size_t *nroots, size_t *ncrls)
{
	json_t *bundle = NULL, *crls = NULL, *c;
	const char *pem;
	X509_CRL *crl;
	BIO *b;
	size_t i;
	int r;

	if ((r = ca_bundle(st, &bundle)) != CUST_OK)
		goto out;
	pem = json_string_value(json_object_get(bundle, "pem"));
	if (pem == NULL) {
		r = cust_fail(CUST_E_INTERNAL, "the trust bundle has no PEM");
		goto out;
	}
	crypto_hash_sha256_update(h, (const unsigned char *)pem, strlen(pem));
	if ((r = add_certs(xs, pem, strlen(pem), nroots)) != CUST_OK)
		goto out;
	if ((r = ca_crl_all(st, "custodyd", &crls)) != CUST_OK)
		goto out;
	json_array_foreach(json_object_get(crls, "crls"), i, c) {
		pem = json_string_value(json_object_get(c, "pem"));
		if (pem == NULL)
			continue;
		crypto_hash_sha256_update(h, (const unsigned char *)pem,
		    strlen(pem));
		if ((b = BIO_new_mem_buf(pem, -1)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
		BIO_free(b);
		if (crl == NULL) {
			r = ssl_fail(CUST_E_CRYPTO, "a stored CRL");
			goto out;
		}
		if (X509_STORE_add_crl(xs, crl) != 1)
			ERR_clear_error();
		X509_CRL_free(crl);
		(*ncrls)++;
	}
out:
	json_decref(bundle);
	json_decref(crls);
	return r;
}

/* ---- the enterprise client CA ---- */

/* The SSL_CTX's ex_data slot of its enterprise store (X509_STORE *). */
static int ent_idx = -1;
static pthread_once_t ent_once = PTHREAD_ONCE_INIT;

static void
ent_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	X509_STORE_free(ptr);
}

static void
ent_init(void)
{
	ent_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ent_free);
}

/* The enterprise CA certificates of file (PEM): at least one, each a CA
 * (basicConstraints CA:TRUE). */
static int
ent_load_cas(const char *file, crypto_hash_sha256_state *h,
    STACK_OF(X509) **out)
{
	STACK_OF(X509) *cas = NULL;
	char *text = NULL;
	size_t len;
	BIO *b = NULL;
	X509 *x;
	int r;

	*out = NULL;
	if ((r = util_read_file(file, 1 << 20, &text, &len)) != CUST_OK)
		return r;
	crypto_hash_sha256_update(h, (const unsigned char *)text, len);
	if ((cas = sk_X509_new_null()) == NULL ||
	    (b = BIO_new_mem_buf(text, (int)len)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_check_ca(x) != 1) {
			X509_free(x);
			r = cust_fail(CUST_E_CRYPTO, "tls.client_ca_file %s: a "
			    "certificate in it is not a CA (basicConstraints "
			    "CA:TRUE)", file);
			goto out;
		}
		if (!sk_X509_push(cas, x)) {
			X509_free(x);
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(cas) == 0) {
		r = cust_fail(CUST_E_CRYPTO, "tls.client_ca_file %s: no PEM "
		    "certificate in it", file);
		goto out;
	}
	*out = cas;
	cas = NULL;
	r = CUST_OK;
out:
	BIO_free(b);
	sk_X509_pop_free(cas, X509_free);
	free(text);
	return r;
}

/* The CRL crl is signed by a CA of cas (its issuer name and key). */
static int
ent_crl_signed(X509_CRL *crl, STACK_OF(X509) *cas)
{
	EVP_PKEY *k;
	X509 *ca;
	int i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		ca = sk_X509_value(cas, i);
		if (X509_NAME_cmp(X509_get_subject_name(ca),
		    X509_CRL_get_issuer(crl)) != 0 ||
		    (k = X509_get0_pubkey(ca)) == NULL)
			continue;
		if (X509_CRL_verify(crl, k) == 1)
			return 1;
	}
	ERR_clear_error();
	return 0;
}

/* The CRLs of file (PEM, one or more, or one DER CRL), each signed by a
 * CA of cas; one that is past its nextUpdate is kept (OpenSSL then
 * refuses the certificates it covers) and warned about. */
static int
ent_load_crls(const char *file, STACK_OF(X509) *cas,
    crypto_hash_sha256_state *h, STACK_OF(X509_CRL) **out)
{
	STACK_OF(X509_CRL) *crls = NULL;
	const unsigned char *p;
	const ASN1_TIME *next;
	char *text = NULL;
	size_t len;
	BIO *b = NULL;
	X509_CRL *crl;
	int i, r;

	*out = NULL;
	if ((r = util_read_file(file, 16 << 20, &text, &len)) != CUST_OK)
		return r;
	crypto_hash_sha256_update(h, (const unsigned char *)text, len);
	if ((crls = sk_X509_CRL_new_null()) == NULL ||
	    (b = BIO_new_mem_buf(text, (int)len)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (len > 0 && (unsigned char)text[0] == 0x30) {
		p = (const unsigned char *)text;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && (p != (const unsigned char *)text + len ||
		    !sk_X509_CRL_push(crls, crl))) {
			X509_CRL_free(crl);
			crl = NULL;
		}
	} else {
		while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) !=
		    NULL)
			if (!sk_X509_CRL_push(crls, crl)) {
				X509_CRL_free(crl);
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				goto out;
			}
	}
	ERR_clear_error();
	if (sk_X509_CRL_num(crls) == 0) {
		r = cust_fail(CUST_E_CRYPTO, "tls.client_crl_file %s: no CRL "
		    "in it (PEM, or one DER CRL)", file);
		goto out;
	}
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		crl = sk_X509_CRL_value(crls, i);
		if (!ent_crl_signed(crl, cas)) {
			r = cust_fail(CUST_E_CRYPTO, "tls.client_crl_file %s: "
			    "CRL %d is not signed by a CA of tls.client_ca_file",
			    file, i + 1);
			goto out;
		}
		next = X509_CRL_get0_nextUpdate(crl);
		if (next != NULL && X509_cmp_current_time(next) < 0)
			log_warnx("tls.client_crl_file %s: CRL %d is past its "
			    "nextUpdate: the certificates it covers are "
			    "refused until it is replaced", file, i + 1);
	}
	*out = crls;
	crls = NULL;
	r = CUST_OK;
out:
	BIO_free(b);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	free(text);
	return r;
}

/* Whether x is one of the certificates of xs. */
static int
in_store(X509_STORE *xs, X509 *x)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(xs);
	X509 *c;
	int i;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		if (c != NULL && X509_cmp(c, x) == 0)
			return 1;
	}
	return 0;
}

/* Whether the chain being verified ends at a CA of the enterprise store
 * ent (its trust anchor is one of them). */
static int
ent_chain(X509_STORE_CTX *vc, X509_STORE *ent)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(vc);

	if (ent == NULL || chain == NULL || sk_X509_num(chain) == 0)
		return 0;
	return in_store(ent, sk_X509_value(chain, sk_X509_num(chain) - 1));
}

/* Handshake verification without enterprise CRLs (client_crl_required:
 * false): a missing CRL is forgiven for enterprise chains only. */
static int
verify_no_ent_crl(int ok, X509_STORE_CTX *vc)
{
	SSL *ssl;
	X509_STORE *ent;

	if (ok || X509_STORE_CTX_get_error(vc) != X509_V_ERR_UNABLE_TO_GET_CRL)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(vc,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	ent = ssl != NULL ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    ent_idx) : NULL;
	if (!ent_chain(vc, ent))
		return 0;
	/* Forgiven: the verify result must say so too (conn.c reads it). */
	X509_STORE_CTX_set_error(vc, X509_V_OK);
	return 1;
}

/* The enterprise CA of conf into xs (the handshake's store) and a store
 * of its own, set on ctx for daemon_identity(). */
static int
add_enterprise(SSL_CTX *ctx, X509_STORE *xs, const struct daemon_conf *conf,
    crypto_hash_sha256_state *h, size_t *ncas, size_t *ncrls)
{
	STACK_OF(X509) *cas = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	X509_STORE *ent = NULL;
	int i, r;

	if (conf->client_ca_file[0] == '\0')
		return CUST_OK;
	if ((r = ent_load_cas(conf->client_ca_file, h, &cas)) != CUST_OK ||
	    (conf->client_crl_file[0] != '\0' && (r = ent_load_crls(
	    conf->client_crl_file, cas, h, &crls)) != CUST_OK))
		goto out;
	if ((ent = X509_STORE_new()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas); i++)
		if (in_store(xs, sk_X509_value(cas, i))) {
			/* Its certificates would be the enterprise's: staff
			 * locked out, consoles mapped by subject. */
			r = cust_fail(CUST_E_CRYPTO, "tls.client_ca_file %s "
			    "holds a CA certificate of custody's own: name "
			    "only the enterprise CA there",
			    conf->client_ca_file);
			goto out;
		}
	for (i = 0; i < sk_X509_num(cas); i++) {
		if (X509_STORE_add_cert(xs, sk_X509_value(cas, i)) != 1 ||
		    X509_STORE_add_cert(ent, sk_X509_value(cas, i)) != 1)
			ERR_clear_error();	/* already there */
		(*ncas)++;
	}
	for (i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++) {
		if (X509_STORE_add_crl(xs, sk_X509_CRL_value(crls, i)) != 1 ||
		    X509_STORE_add_crl(ent, sk_X509_CRL_value(crls, i)) != 1)
			ERR_clear_error();
		(*ncrls)++;
	}
	X509_STORE_set_flags(ent, X509_V_FLAG_X509_STRICT | (crls != NULL ?
	    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL : 0));
	X509_STORE_set_purpose(ent, X509_PURPOSE_SSL_CLIENT);
	if (crls == NULL) {
		log_warnx("tls.client_ca_file %s: no client_crl_file "
		    "(client_crl_required: false): certificates its CAs "
		    "revoke are still accepted", conf->client_ca_file);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_CLIENT_ONCE, verify_no_ent_crl);
	}
	if (SSL_CTX_set_ex_data(ctx, ent_idx, ent) != 1) {
		r = ssl_fail(CUST_E_NOMEM, "SSL_CTX_set_ex_data");
		goto out;
	}
	ent = NULL;		/* owned by ctx */
	r = CUST_OK;
out:
	X509_STORE_free(ent);
	sk_X509_pop_free(cas, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return r;
}

int
daemon_identity(struct daemon *d, struct cust_state *st,
    const unsigned char *der, size_t len, struct ops_identity **out)
{
	SSL_CTX *ctx = daemon_tls_get(d);
	X509_STORE *ent = ctx != NULL ? SSL_CTX_get_ex_data(ctx, ent_idx) :
	    NULL;
	X509_STORE_CTX *vc = NULL;
	const unsigned char *p = der;
	X509 *x = NULL;
	int r, ok = 0;

	*out = NULL;
	/* The issuer decides: a leaf the enterprise CA (alone, with its
	 * CRLs, now) verifies is the enterprise's; any other must be one
	 * custody issued and recorded. */
	if (ent != NULL && len > 0 && len <= 65536 &&
	    (x = d2i_X509(NULL, &p, (long)len)) != NULL &&
	    p == der + len) {
		if ((vc = X509_STORE_CTX_new()) == NULL ||
		    X509_STORE_CTX_init(vc, ent, x, NULL) != 1) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		ok = X509_verify_cert(vc) == 1;
		if (!ok && ent_chain(vc, ent))
			log_info("enterprise client certificate refused: %s",
			    X509_verify_cert_error_string(
			    X509_STORE_CTX_get_error(vc)));
	}
	ERR_clear_error();
	if (ok)
		r = ops_identity_from_enterprise(st, der, len, out);
	else
		r = ops_identity_from_cert(st, der, len, out);
out:
	X509_STORE_CTX_free(vc);
	X509_free(x);
	SSL_CTX_free(ctx);
	return r;
}

int
daemon_tls_new(struct cust_state *st, const struct daemon_conf *conf,
    SSL_CTX **out, unsigned char digest_out[32])
{
	crypto_hash_sha256_state h;
	SSL_CTX *ctx = NULL;
	X509_STORE *xs = NULL;
	const char *dir = conf->state_dir;
	char *crt = util_path(dir, "tls/server.crt");
	char *key = util_path(dir, "tls/server.key");
	char *text = NULL;
	size_t len, nroots = 0, ninter = 0, ncrls = 0, nent = 0, nentcrl = 0;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	crypto_hash_sha256_init(&h);
	if (pthread_once(&ent_once, ent_init) != 0 || ent_idx < 0) {
		r = cust_fail(CUST_E_INTERNAL, "SSL_CTX ex_data index");
		goto out;
	}
	if (crt == NULL || key == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = util_check_secrecy(key)) != CUST_OK)
		goto out;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		r = ssl_fail(CUST_E_CRYPTO, "SSL_CTX_new");
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, conf->tls_min_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_SUITES) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
		r = ssl_fail(CUST_E_CRYPTO, "TLS settings");
		goto out;
	}
	/* CLEANSE_PLAINTEXT: the decrypted records (request bodies, an
	 * import's passwords) are wiped once read, not left in OpenSSL's
	 * buffers. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CLEANSE_PLAINTEXT);
	if (!conf->session_tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* No SSL_MODE_RELEASE_BUFFERS: it freed (and, with
	 * CLEANSE_PLAINTEXT, wiped whole) the record buffers after every
	 * record, a few per cent of a kept-alive request's CPU. conn.c
	 * frees them once a connection has been quiet for a while. */
	(void)SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)"custodyd", 8);
	if ((r = util_read_file(crt, 1 << 20, &text, &len)) != CUST_OK)
		goto out;
	crypto_hash_sha256_update(&h, (const unsigned char *)text, len);
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		r = ssl_fail(CUST_E_CRYPTO, crt);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		r = ssl_fail(CUST_E_CRYPTO, key);
		goto out;
	}
	if ((xs = X509_STORE_new()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = add_store_trust(xs, st, &h, &nroots, &ncrls)) != CUST_OK ||
	    (r = add_ca_files(xs, dir, &h, &ninter)) != CUST_OK)
		goto out;
	if (nroots == 0) {
		r = cust_fail(CUST_E_CRYPTO, "custody's trust bundle is empty");
		goto out;
	}
	X509_STORE_set_flags(xs, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_X509_STRICT);
	X509_STORE_set_purpose(xs, X509_PURPOSE_SSL_CLIENT);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
	    NULL);
	if ((r = add_enterprise(ctx, xs, conf, &h, &nent, &nentcrl)) !=
	    CUST_OK)
		goto out;
	SSL_CTX_set_cert_store(ctx, xs);	/* owned by ctx */
	xs = NULL;
	SSL_CTX_set_verify_depth(ctx, 4);
	crypto_hash_sha256_final(&h, digest_out);
	log_debug("TLS context: %zu roots, %zu intermediates, %zu CRLs; "
	    "enterprise client CA: %zu certificates, %zu CRLs", nroots,
	    ninter, ncrls, nent, nentcrl);
	*out = ctx;
	ctx = NULL;
	r = CUST_OK;
out:
	X509_STORE_free(xs);
	SSL_CTX_free(ctx);
	free(text);
	free(crt);
	free(key);
	return r;
}

int
daemon_tls_reload(struct daemon *d, struct cust_state *st, int force)
{
	unsigned char dig[32];
	SSL_CTX *ctx = NULL, *old;
	int r;

	if ((r = daemon_tls_new(st, &d->conf, &ctx, dig)) !=
	    CUST_OK) {
		log_warnx("TLS reload failed, the current context stays: %s",
		    cust_errmsg());
		return r;
	}
	pthread_mutex_lock(&d->ctx_mu);
	if (!force && memcmp(dig, d->trust_digest, sizeof(dig)) == 0) {
		pthread_mutex_unlock(&d->ctx_mu);
		SSL_CTX_free(ctx);
		return 0;
	}
	old = d->ctx;
	d->ctx = ctx;
	memcpy(d->trust_digest, dig, sizeof(dig));
	pthread_mutex_unlock(&d->ctx_mu);
	SSL_CTX_free(old);	/* connections hold their own reference */
	atomic_fetch_add(&d->id_gen, 1);
	log_info("TLS trust reloaded (certificates, CRLs)");
	return 1;
}

SSL_CTX *
daemon_tls_get(struct daemon *d)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&d->ctx_mu);
	ctx = d->ctx;
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&d->ctx_mu);
	return ctx;
}
