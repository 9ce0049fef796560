/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/catest.h - helpers shared by the CA unit tests: keys and
 * CSRs made at test time, a CA in a throwaway state, counting queries. */
#ifndef CUST_CATEST_H
#define CUST_CATEST_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "cred.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

/* A new key: "RSA" with bits, or "EC" with a curve, or "ED25519". */
static inline EVP_PKEY *
ct_key(const char *type, size_t bits, const char *curve)
{
	EVP_PKEY *k;

	if (strcmp(type, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	else if (strcmp(type, "EC") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(k);
	return k;
}

/* A CSR signed by key with CN cn (NULL: none) and DNS SAN san (NULL:
 * none), as a new X509_REQ. */
static inline X509_REQ *
ct_req(EVP_PKEY *key, const char *cn, const char *san)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ?
	    NULL : EVP_sha256();

	assert_non_null(req);
	if (cn != NULL)
		assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		    (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_REQ_set_subject_name(req, n));
	X509_NAME_free(n);
	assert_true(X509_REQ_set_pubkey(req, key));
	if (san != NULL) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, NULL,
		    NID_subject_alt_name, san);

		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		assert_true(X509_REQ_add_extensions(req, exts));
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_true(X509_REQ_sign(req, key, md) > 0);
	return req;
}

/* PEM (new string, *len_out) or DER (new buffer) of a request. */
static inline char *
ct_pem(X509_REQ *req, size_t *len_out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_true(PEM_write_bio_X509_REQ(b, req));
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	*len_out = (size_t)n;
	BIO_free(b);
	return s;
}

static inline unsigned char *
ct_der(X509_REQ *req, size_t *len_out)
{
	unsigned char *der = NULL, *copy;
	int n = i2d_X509_REQ(req, &der);

	assert_true(n > 0);
	copy = malloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	*len_out = (size_t)n;
	return copy;
}

/* A PEM CSR for cn with a fresh key of the given kind. */
static inline char *
ct_csr(const char *type, size_t bits, const char *curve, const char *cn,
    size_t *len_out)
{
	EVP_PKEY *k = ct_key(type, bits, curve);
	X509_REQ *req = ct_req(k, cn, NULL);
	char *pem = ct_pem(req, len_out);

	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return pem;
}

/* A state with a CA (key type kt) and devices registered. */
static inline struct cust_state *
ct_ca_state(char **dir_out, const char *kt)
{
	struct cust_state *st = tu_state_new(dir_out);
	json_t *opts = json_pack("{s:s}", "key_type", kt), *resp = NULL;

	if (ca_init(st, opts, "tester", &resp) != CUST_OK)
		fail_msg("ca_init: %s", cust_errmsg());
	json_decref(opts);
	json_decref(resp);
	return st;
}

static inline void
ct_device(struct cust_state *st, const char *fqdn)
{
	struct cred_device_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.fqdn = fqdn;
	if (cred_device_add(st, "tester", &spec, CRED_PW_DEFAULT, NULL) !=
	    CUST_OK)
		fail_msg("device add: %s", cust_errmsg());
}

/* The single integer a query returns. */
static inline long long
ct_count(struct cust_state *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v;

	assert_int_equal(sqlite3_prepare_v2(store_db(state_store(st)), sql, -1,
	    &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Whether the current CRL of generation 1's issuing CA lists serial. */
static inline int
ct_crl_lists(struct cust_state *st, const char *serial)
{
	json_t *resp = NULL, *v;
	size_t i;
	int listed = 0;

	assert_int_equal(ca_crl(st, "t", 0, 0, &resp), CUST_OK);
	json_array_foreach(json_object_get(resp, "serials"), i, v)
		listed |= strcmp(json_string_value(v), serial) == 0;
	json_decref(resp);
	return listed;
}

/* Certificate from a PEM string (first one). */
static inline X509 *
ct_x509(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(x);
	return x;
}

/* DIR/tls/server.crt, asserted to match DIR/tls/server.key (new X509);
 * its PEM (leaf and chain) into *pem_out when not NULL (free()). */
static inline X509 *
ct_server_pair(const char *dir, char **pem_out)
{
	char *crt = util_path(dir, "tls/server.crt");
	char *key = util_path(dir, "tls/server.key"), *pem = NULL;
	size_t len = 0;
	X509 *x;
	EVP_PKEY *k;
	BIO *b;

	assert_int_equal(util_read_file(crt, 1 << 20, &pem, &len), CUST_OK);
	x = ct_x509(pem);
	if (pem_out != NULL)
		*pem_out = pem;
	else
		free(pem);
	assert_int_equal(util_read_file(key, 1 << 20, &pem, &len), CUST_OK);
	b = BIO_new_mem_buf(pem, (int)len);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	assert_non_null(k);
	assert_int_equal(X509_check_private_key(x, k), 1);
	BIO_free(b);
	EVP_PKEY_free(k);
	free(pem);
	free(crt);
	free(key);
	return x;
}

#endif
