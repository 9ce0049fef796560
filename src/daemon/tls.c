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
 * The context is rebuilt by the main thread when the store changed
 * (another process revoked, rotated, renewed) or on SIGHUP, and swapped in
 * for new connections when what it trusts changed (its digest). Existing
 * connections keep theirs; each request is authorized again on the store
 * anyway (worker.c), so a revocation stops them too.
 */
#include <dirent.h>
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
	size_t len, nroots = 0, ninter = 0, ncrls = 0;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	crypto_hash_sha256_init(&h);
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
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	if (!conf->session_tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
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
	SSL_CTX_set_cert_store(ctx, xs);	/* owned by ctx */
	xs = NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
	    NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	crypto_hash_sha256_final(&h, digest_out);
	log_debug("TLS context: %zu roots, %zu intermediates, %zu CRLs",
	    nroots, ninter, ncrls);
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
