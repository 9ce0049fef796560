/* SPDX-License-Identifier: MIT */
/*
 * tests/amtsim/pki.c - device keys, certificates and the TLS port (§6).
 *
 * One SSL_CTX serves every device on the TLS port: its certificate
 * callback looks the SNI name up and installs that device's committed
 * certificate, key and chain on the connection, so 10,000 devices cost
 * no SSL_CTX each. A device without committed TLS (or marked down) fails
 * the handshake, as a closed 16993 would.
 *
 * Session resumption (TLS 1.3 tickets, TLS 1.2 session IDs) is offered,
 * as an OpenSSL server offers it by default; the reference (§6) says
 * nothing either way, and a client that offers a session to firmware
 * that does not resume just gets a full handshake. A session is bound
 * to its device and to what the device serves (session ID context: a
 * hash of the FQDN, the committed leaf, mutual authentication and
 * TrustedCN), so it resumes on no other device and not after the
 * device's TLS changed: each device's sessions are its own, as on
 * separate hosts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "amtsim.h"

EVP_PKEY *
pki_rsa_new(int bits)
{
	return EVP_RSA_gen((unsigned int)bits);
}

/* Base64 of a DER buffer OpenSSL allocated (freed here); NULL if n <= 0. */
static char *
der_b64(unsigned char *der, int n)
{
	char *s = n > 0 ? sim_b64_encode(der, (size_t)n) : NULL;

	OPENSSL_free(der);
	return s;
}

/* DERKey (§6 open question 4): SubjectPublicKeyInfo, base64. */
char *
pki_spki_b64(EVP_PKEY *pkey)
{
	unsigned char *der = NULL;

	return der_b64(der, i2d_PUBKEY(pkey, &der));
}

char *
pki_der_b64(X509 *x)
{
	unsigned char *der = NULL;

	return der_b64(der, i2d_X509(x, &der));
}

/* "C=..,O=..,CN=.." as in the GWM fixtures. */
void
pki_name(const X509_NAME *n, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int len;

	out[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_SEP_COMMA_PLUS);
	len = BIO_read(b, out, (int)cap - 1);
	out[len > 0 ? len : 0] = '\0';
	BIO_free(b);
}

void
pki_sha256_hex(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	out[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &len))
		return;
	for (unsigned int i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
tls_clear(struct sim_devx *x)
{
	X509_free(x->tls_x509);
	EVP_PKEY_free(x->tls_pkey);
	sk_X509_pop_free(x->tls_chain, X509_free);
	X509_STORE_free(x->tls_roots);
	x->tls_x509 = NULL;
	x->tls_pkey = NULL;
	x->tls_chain = NULL;
	x->tls_roots = NULL;
}

/*
 * CommitChanges (§6 step 3): the pending credential context and settings
 * become what the TLS port serves. Returns a PT_STATUS.
 */
int
pki_commit_tls(struct sim_dev *d)
{
	struct sim_devx *x = sim_devx(d);
	struct sim_cert *leaf = NULL;
	EVP_PKEY *key = NULL;

	x->local_tls_enabled = x->pend_local_enabled;
	if (!x->pend.enabled) {
		tls_clear(x);
		x->tls = x->pend;
		x->tls_active = 0;
		x->tls_cert_handle = -1;
		x->pend_set = 0;
		return PT_SUCCESS;
	}
	for (int i = 0; i < x->ncerts; i++)
		if (x->certs[i].handle == x->ctx_cert)
			leaf = &x->certs[i];
	for (int i = 0; leaf != NULL && i < x->nkeys; i++)
		if (x->keys[i].handle == leaf->key_handle)
			key = x->keys[i].pkey;
	if (leaf == NULL || key == NULL)
		return PT_INTERNAL_ERROR;
	tls_clear(x);
	x->tls_chain = sk_X509_new_null();
	x->tls_roots = X509_STORE_new();
	if (x->tls_chain == NULL || x->tls_roots == NULL)
		return PT_INTERNAL_ERROR;
	X509_up_ref(leaf->x509);
	x->tls_x509 = leaf->x509;
	EVP_PKEY_up_ref(key);
	x->tls_pkey = key;
	/* Every other non-root certificate is a chain certificate (§6). */
	for (int i = 0; i < x->ncerts; i++) {
		struct sim_cert *c = &x->certs[i];

		if (c->trusted_root)
			X509_STORE_add_cert(x->tls_roots, c->x509);
		else if (c != leaf && c->key_handle < 0 &&
		    X509_up_ref(c->x509) && !sk_X509_push(x->tls_chain,
		    c->x509))
			X509_free(c->x509);
	}
	x->tls = x->pend;
	x->tls_active = 1;
	x->tls_cert_handle = leaf->handle;
	x->pend_set = 0;
	return PT_SUCCESS;
}

void
pki_devx_free(struct sim_devx *x)
{
	if (x == NULL)
		return;
	tls_clear(x);
	for (int i = 0; i < x->nkeys; i++)
		EVP_PKEY_free(x->keys[i].pkey);
	for (int i = 0; i < x->ncerts; i++)
		X509_free(x->certs[i].x509);
	for (int i = 0; i < x->ntrusted_cn; i++)
		free(x->trusted_cn[i]);
	free(x->users);
	free(x);
}

/* The last certificate file and key file read, shared (up-referenced) by
 * every device that names them: 10,000 devices, one parse of each (with
 * --tls-dir, one certificate file per device and one key). A certificate
 * file holds the leaf, then its chain. */
static struct {
	char *cert, *key;
	X509 *x509;
	STACK_OF(X509) *chain;
	EVP_PKEY *pkey;
} loaded;

void
pki_loaded_free(void)
{
	free(loaded.cert);
	free(loaded.key);
	X509_free(loaded.x509);
	sk_X509_pop_free(loaded.chain, X509_free);
	EVP_PKEY_free(loaded.pkey);
	memset(&loaded, 0, sizeof(loaded));
}

static int
load_key(const char *key)
{
	FILE *f;
	EVP_PKEY *pk = NULL;
	char *name;

	if (loaded.key != NULL && strcmp(loaded.key, key) == 0)
		return 0;
	if ((f = fopen(key, "r")) != NULL) {
		pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (pk == NULL || (name = strdup(key)) == NULL) {
		EVP_PKEY_free(pk);
		return -1;
	}
	free(loaded.key);
	EVP_PKEY_free(loaded.pkey);
	loaded.key = name;
	loaded.pkey = pk;
	return 0;
}

static int
load_pair(const char *cert, const char *key)
{
	FILE *f;
	X509 *xc = NULL, *c;
	STACK_OF(X509) *chain = sk_X509_new_null();
	char *name = NULL;

	if (chain == NULL || load_key(key) < 0)
		goto fail;
	if (loaded.cert != NULL && strcmp(loaded.cert, cert) == 0) {
		sk_X509_free(chain);
		return 0;
	}
	if ((f = fopen(cert, "r")) != NULL) {
		xc = PEM_read_X509(f, NULL, NULL, NULL);
		while (xc != NULL &&
		    (c = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(chain, c)) {
				X509_free(c);
				break;
			}
		ERR_clear_error();	/* the end of the file */
		fclose(f);
	}
	if (xc == NULL || X509_check_private_key(xc, loaded.pkey) != 1 ||
	    (name = strdup(cert)) == NULL)
		goto fail;
	free(loaded.cert);
	X509_free(loaded.x509);
	sk_X509_pop_free(loaded.chain, X509_free);
	loaded.cert = name;
	loaded.x509 = xc;
	loaded.chain = chain;
	return 0;
fail:
	X509_free(xc);
	sk_X509_pop_free(chain, X509_free);
	return -1;
}

/*
 * --tls-cert/--tls-key or the devices file's tls_cert/tls_key: the device
 * starts with TLS committed, as if provisioned earlier (for benchmarks:
 * no key generation per device). The certificates after the first in the
 * file are its chain; no mutual authentication.
 */
int
pki_load_default_tls(struct sim_dev *d, const char *cert, const char *key)
{
	struct sim_devx *x;

	if (load_pair(cert, key) < 0)
		return -1;
	x = sim_devx(d);
	tls_clear(x);
	if ((x->tls_chain = X509_chain_up_ref(loaded.chain)) == NULL)
		return -1;
	X509_up_ref(loaded.x509);
	x->tls_x509 = loaded.x509;
	EVP_PKEY_up_ref(loaded.pkey);
	x->tls_pkey = loaded.pkey;
	x->tls.enabled = 1;
	x->tls.accept_nonsecure = 1;
	x->pend = x->tls;
	x->tls_active = 1;
	x->tls_cert_handle = -1;
	return 0;
}

static int
verify_trusted_cn(X509_STORE_CTX *ctx, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(ctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct sim_dev *d = sni == NULL ? NULL : sim_find(sni, strlen(sni));
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	char cn[256];

	(void)arg;
	if (X509_verify_cert(ctx) != 1)
		return 0;
	if (d == NULL || d->x == NULL || d->x->ntrusted_cn == 0)
		return 1;
	/* §6: the console leaf's CN must end in one of TrustedCN. */
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
	    NID_commonName, cn, sizeof(cn)) <= 0)
		return 0;
	for (int i = 0; i < d->x->ntrusted_cn; i++) {
		size_t a = strlen(cn), b = strlen(d->x->trusted_cn[i]);

		if (a >= b && strcasecmp(cn + a - b,
		    d->x->trusted_cn[i]) == 0)
			return 1;
	}
	X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* The device named by the SNI extension of the ClientHello, NULL when
 * there is none or it names no device. */
static struct sim_dev *
hello_dev(SSL *ssl)
{
	const unsigned char *p;
	size_t n, len;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) ||
	    n < 5 || (size_t)(p[0] << 8 | p[1]) != n - 2 || p[2] != 0)
		return NULL;
	len = (size_t)(p[3] << 8 | p[4]);
	if (len == 0 || len > n - 5)
		return NULL;
	return sim_find((const char *)p + 5, len);
}

/*
 * Every ClientHello, before any session is looked up: the device must
 * serve TLS (as in cert_cb, which a resumed handshake skips), and the
 * session ID context binds the sessions made to this device as it is
 * now (see the top of the file).
 */
static int
hello_cb(SSL *ssl, int *al, void *arg)
{
	struct sim_dev *d = hello_dev(ssl);
	struct sim_devx *x;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c;
	int ok;

	(void)arg;
	*al = SSL_AD_UNRECOGNIZED_NAME;
	if (d == NULL || d->down_count != 0 || (x = d->x) == NULL ||
	    !x->tls_active || x->tls_x509 == NULL ||
	    !X509_digest(x->tls_x509, EVP_sha256(), md, &mdlen) ||
	    (c = EVP_MD_CTX_new()) == NULL)
		return SSL_CLIENT_HELLO_ERROR;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(c, d->fqdn, strlen(d->fqdn) + 1) &&
	    EVP_DigestUpdate(c, md, mdlen) &&
	    EVP_DigestUpdate(c, x->tls.mutual ? "m" : "-", 1);
	for (int i = 0; ok && i < x->ntrusted_cn; i++)
		ok = EVP_DigestUpdate(c, x->trusted_cn[i],
		    strlen(x->trusted_cn[i]) + 1);
	/* SHA-256: 32 bytes, SSL_MAX_SID_CTX_LENGTH. */
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	if (!ok || SSL_set_session_id_context(ssl, md, mdlen) != 1)
		return SSL_CLIENT_HELLO_ERROR;
	d->n_tls_handshakes++;
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* A full handshake (not a resumed one): the device's certificate. */
static int
cert_cb(SSL *ssl, void *arg)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct sim_dev *d;
	struct sim_devx *x;

	(void)arg;
	if (sni == NULL || (d = sim_find(sni, strlen(sni))) == NULL)
		return 0;
	x = d->x;
	if (d->down_count != 0 || x == NULL || !x->tls_active)
		return 0;
	d->n_tls_full++;
	if (SSL_use_certificate(ssl, x->tls_x509) != 1 ||
	    SSL_use_PrivateKey(ssl, x->tls_pkey) != 1 ||
	    SSL_set1_chain(ssl, x->tls_chain) != 1)
		return 0;
	if (x->tls.mutual) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_set1_verify_cert_store(ssl, x->tls_roots);
	}
	return 1;
}

void *
pki_server_ctx(int resume)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	/* §6: TLS 1.2 and later. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
	SSL_CTX_set_cert_cb(ctx, cert_cb, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_trusted_cn, NULL);
	/* Resumption: OpenSSL's defaults (stateless TLS 1.3 tickets, the
	 * server cache for TLS 1.2 IDs); one ticket per handshake is
	 * enough for a client that makes one connection after another.
	 * --no-tls-resume: firmware that does not resume. */
	if (resume) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_set_num_tickets(ctx, 1);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	return ctx;
}
