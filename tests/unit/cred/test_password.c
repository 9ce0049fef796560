/* SPDX-License-Identifier: MIT */
/* tests/unit/cred/test_password.c - AMT password generator and checker. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

#define DRAWS 100000

static int
setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

/* Every draw satisfies the AMT rules; lengths are honoured. */
static void
test_rules_hold(void **state)
{
	struct seal_secret *pw;
	size_t i, len;

	(void)state;
	for (i = 0; i < DRAWS; i++) {
		len = CRED_PW_MIN + i % (CRED_PW_MAX - CRED_PW_MIN + 1);
		assert_int_equal(cred_pw_generate(len, &pw), CUST_OK);
		assert_int_equal(seal_secret_len(pw), len);
		assert_int_equal(strlen(seal_secret_str(pw)), len);
		if (cred_pw_check(seal_secret_str(pw), len) != CUST_OK)
			fail_msg("draw %zu breaks the rules: %s", i,
			    cust_errmsg());
		seal_secret_free(pw);
	}
}

/* Class of a character: 0 digit, 1 lower, 2 upper, 3 special, 4 other
 * ('_', allowed but counting for no class). */
static int
cls(int c)
{
	if (isdigit(c))
		return 0;
	if (islower(c))
		return 1;
	if (isupper(c))
		return 2;
	return c == '_' ? 4 : 3;
}

/*
 * Number of strings of length len over the alphabet (class sizes sz[]) that
 * contain every class in need (bit mask), by inclusion-exclusion.
 */
static double
covering(const int sz[5], unsigned need, int len)
{
	double total = 0;
	unsigned t;
	int k, drop, bits;

	for (t = 0; t < 16; t++) {
		if ((t & ~need) != 0)
			continue;
		drop = bits = 0;
		for (k = 0; k < 4; k++)
			if (t & (1u << k)) {
				drop += sz[k];
				bits++;
			}
		total += (bits % 2 ? -1 : 1) * pow(91 - drop, len);
	}
	return total;
}

/*
 * The generator is uniform over every valid password of a length, so the
 * frequency of each character is known exactly: a character of class C at
 * one position leaves the other len-1 positions to cover the remaining
 * classes. Compare 100k passwords of 24 characters against that by a
 * chi-square test (df = 90; 137.2 is the 0.999 quantile, 169 the 1 - 1e-6
 * one, used so that chance alone fails one run in a million). A modulo
 * bias, a missing or extra character, or per-character class forcing
 * would all show. Within a class the expectation is flat.
 */
static void
test_uniform(void **state)
{
	const char *alpha = cred_pw_alphabet();
	size_t n = strlen(alpha), counts[128] = { 0 }, i, j, total = 0;
	int sz[5] = { 0 };
	struct seal_secret *pw;
	double chi2 = 0, valid, p[5];

	(void)state;
	assert_int_equal(n, 91);	/* 0x21-0x7e without : , " */
	assert_null(strchr(alpha, ':'));
	assert_null(strchr(alpha, ','));
	assert_null(strchr(alpha, '"'));
	assert_null(strchr(alpha, ' '));
	for (i = 0; i < n; i++)
		sz[cls((unsigned char)alpha[i])]++;
	assert_int_equal(sz[0], 10);
	assert_int_equal(sz[3], 28);
	assert_int_equal(sz[4], 1);
	valid = covering(sz, 15, 24);
	for (j = 0; j < 5; j++)
		p[j] = covering(sz, j < 4 ? 15u & ~(1u << j) : 15u, 23) / valid;
	for (i = 0; i < DRAWS; i++) {
		assert_int_equal(cred_pw_generate(24, &pw), CUST_OK);
		for (j = 0; j < 24; j++)
			counts[seal_secret_data(pw)[j] & 0x7f]++;
		total += 24;
		seal_secret_free(pw);
	}
	for (i = 0; i < n; i++) {
		double e = p[cls((unsigned char)alpha[i])] * (double)total;
		double d = (double)counts[(unsigned char)alpha[i]] - e;

		chi2 += d * d / e;
	}
	for (i = 0; i < 128; i++)
		if (counts[i] && strchr(alpha, (int)i) == NULL)
			fail_msg("character 0x%02zx is not in the alphabet", i);
	if (chi2 > 169.0)
		fail_msg("chi-square %.1f over the 1e-6 bound 169", chi2);
}

static void
test_generate_bounds(void **state)
{
	struct seal_secret *pw = NULL;

	(void)state;
	assert_int_equal(cred_pw_generate(7, &pw), CUST_E_INVAL);
	assert_null(pw);
	assert_int_equal(cred_pw_generate(33, &pw), CUST_E_INVAL);
	assert_null(pw);
}

static void
test_check(void **state)
{
	static const struct {
		const char *pw;
		int ok;
	} cases[] = {
		{ "P@ssw0rd", 1 },
		{ "Location_1", 0 },		/* '_' is not special */
		{ "Pass word1", 0 },		/* space is not special */
		{ "Pass word1!", 1 },		/* space allowed, '!' counts */
		{ "P@ss:w0rd", 0 },		/* forbidden ':' */
		{ "P@ss,w0rd", 0 },		/* forbidden ',' */
		{ "P@ss\"w0rd", 0 },		/* forbidden '"' */
		{ "p@ssw0rd", 0 },		/* no uppercase */
		{ "P@SSW0RD", 0 },		/* no lowercase */
		{ "P@ssword", 0 },		/* no digit */
		{ "Passw0rd", 0 },		/* no special */
		{ "P@s0rd", 0 },		/* too short */
		{ "P@ssw0rdP@ssw0rdP@ssw0rdP@ssw0rd", 1 },	/* 32 */
		{ "P@ssw0rdP@ssw0rdP@ssw0rdP@ssw0rdX", 0 },	/* 33 */
		{ "P@ssw\x7f" "0rd", 0 },	/* DEL */
		{ "P@ssw\xc3\xa9" "0rd", 0 },	/* not 7-bit */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = cred_pw_check(cases[i].pw, strlen(cases[i].pw));

		if ((r == CUST_OK) != cases[i].ok)
			fail_msg("case %zu (%s): got %d", i, cases[i].pw, r);
		/* The message never echoes the password. */
		if (r != CUST_OK && strstr(cust_errmsg(), cases[i].pw) != NULL)
			fail_msg("message leaks the password: %s",
			    cust_errmsg());
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_hold),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_generate_bounds),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
