/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_csr.c - the CSR parser and its checks: accepted
 * keys and encodings, and every refusal with its code and message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/param_build.h>

#include "ca.h"
#include "err.h"
#include "catest.h"

#define FQDN "amt1.corp.example"

static EVP_PKEY *rsa2048;

static int
group_setup(void **state)
{
	(void)state;
	rsa2048 = ct_key("RSA", 2048, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa2048);
	return 0;
}

/* Check a CSR of req for fqdn; expect code and, on failure, msg. */
static void
expect(X509_REQ *req, int der, const char *fqdn, int code, const char *msg)
{
	size_t len;
	void *buf = der ? (void *)ct_der(req, &len) : (void *)ct_pem(req, &len);
	json_t *info = NULL;
	int r = ca_csr_check(buf, len, fqdn, &info);

	if (r != code)
		fail_msg("got %d (%s), want %d", r, cust_errmsg(), code);
	if (msg != NULL && strstr(cust_errmsg(), msg) == NULL)
		fail_msg("message '%s' lacks '%s'", cust_errmsg(), msg);
	if (code == CUST_OK)
		assert_non_null(info);
	json_decref(info);
	free(buf);
}

static void
test_good_rsa(void **state)
{
	X509_REQ *req = ct_req(rsa2048, FQDN, NULL);
	json_t *info = NULL;
	size_t len;
	char *pem;

	(void)state;
	expect(req, 0, FQDN, CUST_OK, NULL);
	expect(req, 1, FQDN, CUST_OK, NULL);
	/* Names compare without regard to case. */
	expect(req, 0, "AMT1.Corp.Example", CUST_OK, NULL);
	/* No FQDN: a pure syntax/key/signature check. */
	expect(req, 0, NULL, CUST_OK, NULL);
	pem = ct_pem(req, &len);
	assert_int_equal(ca_csr_check(pem, len, FQDN, &info), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(info,
	    "key_type")), "RSA");
	assert_int_equal(json_integer_value(json_object_get(info, "bits")),
	    2048);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(info, "names"), 0)), FQDN);
	json_decref(info);
	free(pem);
	X509_REQ_free(req);
}

static void
test_good_ec_and_names(void **state)
{
	EVP_PKEY *p256 = ct_key("EC", 0, "P-256"), *p384 = ct_key("EC", 0,
	    "P-384");
	X509_REQ *req;

	(void)state;
	req = ct_req(p256, NULL, NULL);		/* no name at all */
	expect(req, 1, FQDN, CUST_OK, NULL);
	X509_REQ_free(req);
	req = ct_req(p384, FQDN, "DNS:" FQDN);	/* CN and SAN agree */
	expect(req, 0, FQDN, CUST_OK, NULL);
	X509_REQ_free(req);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
}

static void
test_refused_keys(void **state)
{
	EVP_PKEY *k1024 = ct_key("RSA", 1024, NULL);
	EVP_PKEY *k256k1 = ct_key("EC", 0, "secp256k1");
	EVP_PKEY *ked = ct_key("ED25519", 0, NULL);
	X509_REQ *req;

	(void)state;
	req = ct_req(k1024, FQDN, NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "RSA key of 1024 bits, below the "
	    "minimum of 2048");
	X509_REQ_free(req);
	req = ct_req(k256k1, FQDN, NULL);
	expect(req, 1, FQDN, CUST_E_INVAL, "curve secp256k1");
	X509_REQ_free(req);
	req = ct_req(ked, FQDN, NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "ED25519 key");
	X509_REQ_free(req);
	EVP_PKEY_free(k1024);
	EVP_PKEY_free(k256k1);
	EVP_PKEY_free(ked);
}

/* An RSA key pair from n, e and d only (no CRT parameters). */
static EVP_PKEY *
rsa_from(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params;
	EVP_PKEY *k = NULL;

	assert_true(OSSL_PARAM_BLD_push_BN(bld, "n", n));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, "e", e));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, "d", d));
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_true(EVP_PKEY_fromdata_init(ctx) > 0);
	assert_true(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) > 0);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* An RSA key with the modulus of base and public exponent e; the private
 * exponent d makes it sign (e = 1: d = 1, m^1 = m). */
static EVP_PKEY *
rsa_with_e(EVP_PKEY *base, unsigned long e, unsigned long d)
{
	BIGNUM *n = NULL, *be = BN_new(), *bd = BN_new();
	EVP_PKEY *k;

	assert_true(EVP_PKEY_get_bn_param(base, "n", &n));
	assert_true(BN_set_word(be, e) && BN_set_word(bd, d));
	k = rsa_from(n, be, bd);
	BN_free(n);
	BN_free(be);
	BN_free(bd);
	return k;
}

/* Regression: a CSR whose RSA key has public exponent 1 verifies (its
 * "signature" is the padded digest itself) and was issued; small and
 * even exponents were accepted too. */
static void
test_refused_rsa_exponent(void **state)
{
	EVP_PKEY *e1 = rsa_with_e(rsa2048, 1, 1), *e3 = NULL;
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *three = BN_new();
	X509_REQ *req;

	(void)state;
	req = ct_req(e1, FQDN, NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "public exponent 1;");
	X509_REQ_free(req);
	/* e = 3: a real key pair, a correct signature, a refused key. */
	assert_true(BN_set_word(three, 3));
	assert_true(EVP_PKEY_keygen_init(kc) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048) > 0);
	assert_true(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(kc, three) > 0);
	assert_true(EVP_PKEY_keygen(kc, &e3) > 0);
	req = ct_req(e3, FQDN, NULL);
	expect(req, 1, FQDN, CUST_E_INVAL, "public exponent 3;");
	X509_REQ_free(req);
	BN_free(three);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_free(e1);
	EVP_PKEY_free(e3);
}

/* An RSA key whose modulus is base's times the prime f, with the private
 * exponent that goes with it (so a CSR made with it verifies). */
static EVP_PKEY *
rsa_times(EVP_PKEY *base, unsigned long f)
{
	BIGNUM *p = NULL, *q = NULL, *n = BN_new(), *phi = BN_new();
	BIGNUM *e = BN_new(), *d = BN_new();
	BN_CTX *bc = BN_CTX_new();
	EVP_PKEY *k;

	assert_true(EVP_PKEY_get_bn_param(base, "rsa-factor1", &p));
	assert_true(EVP_PKEY_get_bn_param(base, "rsa-factor2", &q));
	assert_true(BN_mul(n, p, q, bc) && BN_mul_word(n, f));
	assert_true(BN_sub_word(p, 1) && BN_sub_word(q, 1));
	assert_true(BN_mul(phi, p, q, bc) && BN_mul_word(phi, f - 1));
	assert_true(BN_set_word(e, 65537));
	assert_non_null(BN_mod_inverse(d, e, phi, bc));
	k = rsa_from(n, e, d);
	BN_CTX_free(bc);
	BN_free(p);
	BN_free(q);
	BN_free(n);
	BN_free(phi);
	BN_free(e);
	BN_free(d);
	return k;
}

/* A modulus with a small prime factor (the last one checked, 743, and
 * the first, 3) is refused. */
static void
test_refused_rsa_small_factor(void **state)
{
	unsigned long f[2] = { 743, 3 };
	char want[32];
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY *k = rsa_times(rsa2048, f[i]);
		X509_REQ *req = ct_req(k, FQDN, NULL);

		snprintf(want, sizeof(want), "has the factor %lu", f[i]);
		expect(req, 0, FQDN, CUST_E_INVAL, want);
		X509_REQ_free(req);
		EVP_PKEY_free(k);
	}
}

/* Regression: an RSA modulus that is a perfect square (n = p * p, which
 * its square root factors) was accepted. The key pair is real: the CSR's
 * signature verifies. */
static void
test_refused_rsa_square(void **state)
{
	BIGNUM *p = NULL, *n = BN_new(), *phi = BN_new(), *e = BN_new();
	BIGNUM *d = BN_new(), *pm1 = BN_new();
	BN_CTX *bc = BN_CTX_new();
	EVP_PKEY *k;
	X509_REQ *req;

	(void)state;
	assert_true(EVP_PKEY_get_bn_param(rsa2048, "rsa-factor1", &p));
	assert_true(BN_sqr(n, p, bc));
	/* phi(p^2) = p (p - 1) */
	assert_true(BN_copy(pm1, p) && BN_sub_word(pm1, 1));
	assert_true(BN_mul(phi, p, pm1, bc));
	assert_true(BN_set_word(e, 65537));
	assert_non_null(BN_mod_inverse(d, e, phi, bc));
	k = rsa_from(n, e, d);
	req = ct_req(k, FQDN, NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "perfect square");
	expect(req, 1, FQDN, CUST_E_INVAL, "perfect square");
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	/* n = p * q with p and q close is not a square: still accepted. */
	req = ct_req(rsa2048, FQDN, NULL);
	expect(req, 0, FQDN, CUST_OK, NULL);
	X509_REQ_free(req);
	BN_CTX_free(bc);
	BN_free(p);
	BN_free(n);
	BN_free(phi);
	BN_free(e);
	BN_free(d);
	BN_free(pm1);
}

/* Regression: an EC key with explicit curve parameters (here P-256's,
 * which OpenSSL recognises as the named curve) passed the checks and only
 * failed later, inside the issuing transaction, unaudited. */
static void
test_refused_explicit_curve(void **state)
{
	EVP_PKEY *k = ct_key("EC", 0, "P-256");
	X509_REQ *req;

	(void)state;
	assert_true(EVP_PKEY_set_utf8_string_param(k, "encoding",
	    "explicit"));
	req = ct_req(k, FQDN, NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "explicit curve parameters");
	expect(req, 1, FQDN, CUST_E_INVAL, "explicit curve parameters");
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

static void
test_refused_names(void **state)
{
	X509_REQ *req;

	(void)state;
	req = ct_req(rsa2048, "evil.corp.example", NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "asks for CN \"evil.corp.example\" "
	    "but the device is " FQDN);
	X509_REQ_free(req);
	req = ct_req(rsa2048, FQDN, "DNS:" FQDN ",DNS:evil.corp.example");
	expect(req, 0, FQDN, CUST_E_INVAL, "DNS name \"evil.corp.example\"");
	X509_REQ_free(req);
	req = ct_req(rsa2048, FQDN, "IP:10.0.0.1");
	expect(req, 0, FQDN, CUST_E_INVAL, "not a DNS name");
	X509_REQ_free(req);
	/* A prefix or suffix of the name is another name. */
	req = ct_req(rsa2048, FQDN ".evil", NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "refused");
	X509_REQ_free(req);
	req = ct_req(rsa2048, "amt1", NULL);
	expect(req, 0, FQDN, CUST_E_INVAL, "refused");
	X509_REQ_free(req);
	/* Addresses and numbers are not DNS names, with or without a
	 * device to compare with (they became DNS:10.0.0.1). */
	req = ct_req(rsa2048, FQDN, "DNS:10.0.0.1");
	expect(req, 0, NULL, CUST_E_INVAL, "not a host name");
	expect(req, 0, FQDN, CUST_E_INVAL, "not a host name");
	X509_REQ_free(req);
	req = ct_req(rsa2048, FQDN, "DNS:12345");
	expect(req, 0, NULL, CUST_E_INVAL, "not a host name");
	X509_REQ_free(req);
	req = ct_req(rsa2048, FQDN, "DNS:" FQDN);
	expect(req, 0, NULL, CUST_OK, NULL);
	X509_REQ_free(req);
}

static void
test_bad_encodings(void **state)
{
	X509_REQ *req = ct_req(rsa2048, FQDN, NULL);
	size_t len, plen;
	unsigned char *der = ct_der(req, &len), *big;
	char *pem = ct_pem(req, &plen);

	(void)state;
	assert_int_equal(ca_csr_check(der, 0, FQDN, NULL), CUST_E_PARSE);
	assert_int_equal(ca_csr_check(NULL, 0, FQDN, NULL), CUST_E_PARSE);
	assert_int_equal(ca_csr_check(der, len / 2, FQDN, NULL), CUST_E_PARSE);
	assert_int_equal(ca_csr_check(pem, plen / 2, FQDN, NULL),
	    CUST_E_PARSE);
	assert_non_null(strstr(cust_errmsg(), "not a PEM certificate request"));
	/* Trailing bytes after the DER are refused, not ignored. */
	big = malloc(len + 1);
	memcpy(big, der, len);
	big[len] = 0;
	assert_int_equal(ca_csr_check(big, len + 1, FQDN, NULL),
	    CUST_E_PARSE);
	assert_non_null(strstr(cust_errmsg(), "trailing data"));
	free(big);
	/* Size bound, before any parsing. */
	big = calloc(1, CA_CSR_MAX + 1);
	assert_int_equal(ca_csr_check(big, CA_CSR_MAX + 1, FQDN, NULL),
	    CUST_E_TOOBIG);
	free(big);
	/* A broken signature: flip the last byte of the DER. */
	der[len - 1] ^= 0x01;
	assert_int_equal(ca_csr_check(der, len, FQDN, NULL), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "signature does not verify"));
	/* Two requests in one PEM file: refused, not the first taken. */
	big = malloc(2 * plen + 1);
	memcpy(big, pem, plen);
	memcpy(big + plen, pem, plen + 1);
	assert_int_equal(ca_csr_check(big, 2 * plen, FQDN, NULL),
	    CUST_E_PARSE);
	assert_non_null(strstr(cust_errmsg(), "more than one block"));
	free(big);
	/* A certificate is not a request. */
	assert_int_equal(ca_csr_check("-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n", 60, FQDN, NULL), CUST_E_PARSE);
	free(der);
	free(pem);
	X509_REQ_free(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_rsa),
		cmocka_unit_test(test_good_ec_and_names),
		cmocka_unit_test(test_refused_keys),
		cmocka_unit_test(test_refused_rsa_exponent),
		cmocka_unit_test(test_refused_explicit_curve),
		cmocka_unit_test(test_refused_rsa_small_factor),
		cmocka_unit_test(test_refused_rsa_square),
		cmocka_unit_test(test_refused_names),
		cmocka_unit_test(test_bad_encodings),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
