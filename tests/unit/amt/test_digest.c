/* SPDX-License-Identifier: MIT */
/* tests/unit/amt/test_digest.c - DigestPassword known answers, device
 * addresses. */
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

static void
test_address(void **state)
{
	char host[AMT_HOST_MAX + 1];
	unsigned port;
	static const char *bad[] = { "", ":1", "host:", "host:0", "host:65535",
	    "host:99999", "host:12a", "host:+1", "-host", "a..b", "[::1",
	    "[::1]x", "[zz::1]:5", "1.2.3", "host name", "host:01",
	    "h/o", "1.2.3.4:5:6", NULL };
	size_t i;

	(void)state;
	assert_int_equal(amt_address_parse("127.0.0.1:20000", host,
	    sizeof(host), &port), CUST_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 20000);
	assert_int_equal(amt_address_parse("gw.example.com", host,
	    sizeof(host), &port), CUST_OK);
	assert_string_equal(host, "gw.example.com");
	assert_int_equal(port, 0);
	assert_int_equal(amt_address_parse("localhost:16992", host,
	    sizeof(host), &port), CUST_OK);
	assert_int_equal(amt_address_parse("[::1]:8080", host, sizeof(host),
	    &port), CUST_OK);
	assert_string_equal(host, "[::1]");
	assert_int_equal(port, 8080);
	assert_int_equal(amt_address_parse("host:65534", NULL, 0, NULL),
	    CUST_OK);
	for (i = 0; bad[i] != NULL; i++)
		if (amt_address_parse(bad[i], host, sizeof(host), &port) !=
		    CUST_E_INVAL)
			fail_msg("'%s' accepted", bad[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_vector),
		cmocka_unit_test(test_other_vector),
		cmocka_unit_test(test_address),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
