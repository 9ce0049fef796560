/* SPDX-License-Identifier: MIT */
/* tests/unit/amt/test_digest.c - DigestPassword known answers. */
#include <string.h>

#include "amt.h"
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

static int
setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

static void
check(const char *user, const char *realm, const char *pw, const char *want)
{
	struct seal_secret *p = seal_secret_dup(pw, strlen(pw)), *d = NULL;

	assert_non_null(p);
	assert_int_equal(amt_digest_password(user, realm, p, &d), CUST_OK);
	assert_int_equal(seal_secret_len(d), AMT_DIGESTPW_LEN);
	assert_string_equal(seal_secret_str(d), want);
	seal_secret_free(d);
	seal_secret_free(p);
}

/* reference/amt.md 3: admin / Digest:A407... / P@ssw0rd. */
static void
test_reference_vector(void **state)
{
	(void)state;
	check("admin", "Digest:A4070000000000000000000000000000", "P@ssw0rd",
	    "arkZL7pYoE1eDE34m5pDUA==");
}

/* MD5("ops1:Digest:0123456789ABCDEF0123456789ABCDEF:Secr3t!x") computed
 * with openssl dgst -md5 -binary | base64: the user and realm matter. */
static void
test_other_vector(void **state)
{
	(void)state;
	check("ops1", "Digest:0123456789ABCDEF0123456789ABCDEF", "Secr3t!x",
	    "qLR4XU9J/alhj3PEDaBdTg==");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_vector),
		cmocka_unit_test(test_other_vector),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
