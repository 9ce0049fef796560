/* SPDX-License-Identifier: MIT */
/* tests/unit/common/test_err.c - error codes: text, exit code and HTTP
 * status of every code, and the agreement between the last two. */
#include <string.h>

#include "err.h"
#include "testutil.h"

/* Every code of include/err.h with what it must map to. A code added to
 * the enum without a row here fails test_every_code_listed. */
static const struct {
	int code, exit, http;
} codes[] = {
	{ CUST_OK,		CUST_EXIT_OK,		200 },
	{ CUST_E_INTERNAL,	CUST_EXIT_FAIL,		500 },
	{ CUST_E_NOMEM,		CUST_EXIT_FAIL,		503 },
	{ CUST_E_INVAL,		CUST_EXIT_USAGE,	400 },
	{ CUST_E_NOTFOUND,	CUST_EXIT_NOTFOUND,	404 },
	{ CUST_E_EXISTS,	CUST_EXIT_FAIL,		409 },
	{ CUST_E_DENIED,	CUST_EXIT_DENIED,	403 },
	{ CUST_E_CONFLICT,	CUST_EXIT_FAIL,		409 },
	{ CUST_E_SEALED,	CUST_EXIT_UNAVAIL,	503 },
	{ CUST_E_DB,		CUST_EXIT_UNAVAIL,	503 },
	{ CUST_E_IO,		CUST_EXIT_UNAVAIL,	503 },
	{ CUST_E_CRYPTO,	CUST_EXIT_FAIL,		500 },
	{ CUST_E_TOOBIG,	CUST_EXIT_USAGE,	413 },
	{ CUST_E_PARSE,		CUST_EXIT_USAGE,	400 },
	{ CUST_E_VIOLATION,	CUST_EXIT_FAIL,		422 },
	{ CUST_E_UNAVAIL,	CUST_EXIT_UNAVAIL,	503 },
	{ CUST_E_PERM,		CUST_EXIT_UNAVAIL,	503 },
	{ CUST_E_LDAP,		CUST_EXIT_FAIL,		502 },
	{ CUST_E_KRB5,		CUST_EXIT_FAIL,		502 },
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void
test_each_code(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NCODES; i++) {
		if (cust_exit_code(codes[i].code) != codes[i].exit ||
		    cust_http_status(codes[i].code) != codes[i].http)
			fail_msg("code %d (%s): exit %d, HTTP %d; want %d, %d",
			    codes[i].code, cust_strerror(codes[i].code),
			    cust_exit_code(codes[i].code),
			    cust_http_status(codes[i].code), codes[i].exit,
			    codes[i].http);
		assert_string_not_equal(cust_strerror(codes[i].code),
		    "unknown error");
	}
}

/* The codes are 0, -1, -2 ... with no gap: walking down until the text is
 * "unknown error" finds every code, and each one must have a row. */
static void
test_every_code_listed(void **state)
{
	int code, n = 0;
	size_t i;

	(void)state;
	for (code = 0; strcmp(cust_strerror(code), "unknown error") != 0;
	    code--) {
		for (i = 0; i < NCODES && codes[i].code != code; i++)
			;
		if (i == NCODES)
			fail_msg("code %d (%s) has no row in this test",
			    code, cust_strerror(code));
		n++;
	}
	assert_int_equal((size_t)n, NCODES);
}

/* Exit code and HTTP status say the same thing: input is 4xx, denied 403,
 * not found 404, unavailable 503; an unknown code is a server error. */
static void
test_agreement(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NCODES; i++) {
		int x = codes[i].exit, h = codes[i].http;

		if (x == CUST_EXIT_USAGE)
			assert_true(h == 400 || h == 413);
		if (x == CUST_EXIT_DENIED)
			assert_int_equal(h, 403);
		if (x == CUST_EXIT_NOTFOUND)
			assert_int_equal(h, 404);
		if (x == CUST_EXIT_UNAVAIL)
			assert_int_equal(h, 503);
		if (x == CUST_EXIT_OK)
			assert_int_equal(h, 200);
	}
	assert_int_equal(cust_http_status(-1000), 500);
	assert_int_equal(cust_http_status(7), 500);
	assert_int_equal(cust_exit_code(-1000), CUST_EXIT_FAIL);
}

/* Every code has its own wire name, and the name maps back to the code
 * (what the remote CLI relies on to exit as local mode would). */
static void
test_wire_names(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < NCODES; i++) {
		const char *n = cust_errname(codes[i].code);

		assert_int_equal(cust_errcode(n), codes[i].code);
		for (j = 0; j < i; j++)
			assert_string_not_equal(n,
			    cust_errname(codes[j].code));
	}
	assert_string_equal(cust_errname(-1000), "internal");
	assert_int_equal(cust_errcode("no such name"), CUST_E_INTERNAL);
	assert_int_equal(cust_errcode(NULL), CUST_E_INTERNAL);
	assert_string_equal(cust_errname(CUST_E_DENIED), "denied");
	assert_string_equal(cust_errname(CUST_E_NOTFOUND), "not_found");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_code),
		cmocka_unit_test(test_every_code_listed),
		cmocka_unit_test(test_agreement),
		cmocka_unit_test(test_wire_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
