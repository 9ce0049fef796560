/* SPDX-License-Identifier: MIT */
/* tests/unit/directory/test_str2key.c - keys derived from a password
 * (src/directory/str2key.c) as AD's KDC derives them: AD's salt rule; the
 * AES keys checked against RFC 3962 string-to-key written out here with
 * OpenSSL (PBKDF2-HMAC-SHA1, then DK with the n-folded "kerberos"), itself
 * checked against RFC 3962's test vector; the RC4 key against the NT hash
 * check value of reference/amt.md section 5; RC4 only when asked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <krb5.h>

#include "testutil.h"

#include "directory.h"
#include "err.h"
#include "seal.h"
#include "util.h"

/* n-fold("kerberos", 128) (RFC 3961 appendix A.1) */
static const unsigned char kerberos_nfold[16] = {
	0x6b, 0x65, 0x72, 0x62, 0x65, 0x72, 0x6f, 0x73,
	0x7b, 0x9b, 0x5b, 0x2b, 0x93, 0x13, 0x2b, 0x93,
};

/* One AES block of key k (16 or 32 bytes) over in. */
static void
aes_block(const unsigned char *k, size_t klen, const unsigned char in[16],
    unsigned char out[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, klen == 32 ? EVP_aes_256_ecb() :
	    EVP_aes_128_ecb(), NULL, k, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	assert_int_equal(EVP_EncryptUpdate(c, out, &n, in, 16), 1);
	assert_int_equal(n, 16);
	EVP_CIPHER_CTX_free(c);
}

/* RFC 3962 string-to-key: tkey = PBKDF2(pw, salt, iter), key =
 * DK(tkey, "kerberos") = E(nfold) [|| E(E(nfold)) for AES256]. */
static void
rfc3962(const char *pw, const char *salt, int iter, size_t klen,
    unsigned char *key)
{
	unsigned char tkey[32];

	assert_int_equal(PKCS5_PBKDF2_HMAC_SHA1(pw, (int)strlen(pw),
	    (const unsigned char *)salt, (int)strlen(salt), iter, (int)klen,
	    tkey), 1);
	aes_block(tkey, klen, kerberos_nfold, key);
	if (klen == 32)
		aes_block(tkey, klen, key, key + 16);
}

/* The writing-out above reproduces RFC 3962 appendix B (1 iteration). */
static void
test_reference_matches_rfc(void **state)
{
	static const unsigned char want128[16] = {
		0x42, 0x26, 0x3c, 0x6e, 0x89, 0xf4, 0xfc, 0x28,
		0xb8, 0xdf, 0x68, 0xee, 0x09, 0x79, 0x9f, 0x15,
	};
	static const unsigned char want256[32] = {
		0xfe, 0x69, 0x7b, 0x52, 0xbc, 0x0d, 0x3c, 0xe1,
		0x44, 0x32, 0xba, 0x03, 0x6a, 0x92, 0xe6, 0x5b,
		0xbb, 0x52, 0x28, 0x09, 0x90, 0xa2, 0xfa, 0x27,
		0x88, 0x39, 0x98, 0xd7, 0x2a, 0xf3, 0x01, 0x61,
	};
	unsigned char k[32];

	(void)state;
	rfc3962("password", "ATHENA.MIT.EDUraeburn", 1, 16, k);
	assert_memory_equal(k, want128, 16);
	rfc3962("password", "ATHENA.MIT.EDUraeburn", 1, 32, k);
	assert_memory_equal(k, want256, 32);
}

static struct seal_secret *
pw_of(const char *s)
{
	struct seal_secret *p = seal_secret_dup(s, strlen(s));

	assert_non_null(p);
	return p;
}

/* AD's keys for a user: AES at 4096 iterations with REALM + name. */
static void
test_aes_keys(void **state)
{
	struct seal_secret *pw = pw_of("Xy7-long.Passw0rd!");
	struct dir_keys *k = NULL;
	unsigned char want[32];
	char salt[128];

	(void)state;
	assert_int_equal(dir_ad_salt("custody.test", "svc-Sccm", salt,
	    sizeof(salt)), CUST_OK);
	assert_string_equal(salt, "CUSTODY.TESTsvc-Sccm");
	assert_int_equal(dir_keys_from_password("CUSTODY.TEST", salt, pw, 5,
	    0, &k), CUST_OK);
	assert_int_equal(k->kvno, 5);
	assert_int_equal(k->n, 2);	/* no RC4 unless asked */
	assert_int_equal(k->enctypes[0], ENCTYPE_AES256_CTS_HMAC_SHA1_96);
	assert_int_equal(k->enctypes[1], ENCTYPE_AES128_CTS_HMAC_SHA1_96);
	assert_int_equal(seal_secret_len(k->keys[0]), 32);
	assert_int_equal(seal_secret_len(k->keys[1]), 16);
	rfc3962("Xy7-long.Passw0rd!", "CUSTODY.TESTsvc-Sccm", 4096, 32, want);
	assert_memory_equal(seal_secret_data(k->keys[0]), want, 32);
	rfc3962("Xy7-long.Passw0rd!", "CUSTODY.TESTsvc-Sccm", 4096, 16, want);
	assert_memory_equal(seal_secret_data(k->keys[1]), want, 16);
	/* the name's case is kept: another salt, other keys */
	rfc3962("Xy7-long.Passw0rd!", "CUSTODY.TESTsvc-sccm", 4096, 16, want);
	assert_memory_not_equal(seal_secret_data(k->keys[1]), want, 16);
	dir_keys_free(k);
	seal_secret_free(pw);
}

/* RC4 when asked: the NT hash, whatever the salt. */
static void
test_rc4_key(void **state)
{
	static const unsigned char nt[16] = {	/* NT("password") */
		0x88, 0x46, 0xf7, 0xea, 0xee, 0x8f, 0xb1, 0x17,
		0xad, 0x06, 0xbd, 0xd8, 0x30, 0xb7, 0x58, 0x6c,
	};
	struct seal_secret *pw = pw_of("password");
	struct dir_keys *k = NULL;

	(void)state;
	assert_int_equal(dir_keys_from_password("CUSTODY.TEST",
	    "CUSTODY.TESTx", pw, 2, 1, &k), CUST_OK);
	assert_int_equal(k->n, 3);
	assert_int_equal(k->enctypes[2], ENCTYPE_ARCFOUR_HMAC);
	assert_int_equal(seal_secret_len(k->keys[2]), 16);
	assert_memory_equal(seal_secret_data(k->keys[2]), nt, 16);
	dir_keys_free(k);
	seal_secret_free(pw);
}

static void
test_refusals(void **state)
{
	struct seal_secret *pw = pw_of("password");
	struct dir_keys *k = NULL;
	char salt[8];

	(void)state;
	assert_int_equal(dir_keys_from_password("CUSTODY.TEST", "s", pw, 0, 0,
	    &k), CUST_E_INVAL);
	assert_null(k);
	assert_int_equal(dir_ad_salt("CUSTODY.TEST", "x", salt, sizeof(salt)),
	    CUST_E_TOOBIG);
	assert_int_equal(dir_ad_salt("R", "", salt, sizeof(salt)),
	    CUST_E_TOOBIG);
	seal_secret_free(pw);
}

static int
setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_matches_rfc),
		cmocka_unit_test(test_aes_keys),
		cmocka_unit_test(test_rc4_key),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
