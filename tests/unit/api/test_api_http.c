/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_api_http.c - the strict HTTP/1.1 request head
 * parser: what it takes, and each ambiguity it refuses. */
#include <string.h>

#include "api.h"
#include "testutil.h"

static int
parse(const char *head, struct api_http_head *h)
{
	char msg[256];

	return api_http_parse_head(head, strlen(head), 1000, h, msg,
	    sizeof(msg));
}

static void
test_good(void **state)
{
	struct api_http_head h;

	(void)state;
	assert_int_equal(parse("GET /v1/devices?limit=2 HTTP/1.1\r\n"
	    "Host: x\r\nIf-None-Match: \"abc\"\r\n\r\n", &h), 0);
	assert_string_equal(h.method, "GET");
	assert_int_equal(h.target_len, strlen("/v1/devices?limit=2"));
	assert_memory_equal(h.target, "/v1/devices?limit=2", h.target_len);
	assert_int_equal(h.minor, 1);
	assert_int_equal(h.keep_alive, 1);
	assert_int_equal(h.content_length, -1);
	assert_int_equal(h.inm_len, 5);
	assert_memory_equal(h.inm, "\"abc\"", 5);
	assert_int_equal(parse("POST /v1/ops/status HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type:  application/json; charset=utf-8 \r\n"
	    "Content-Length: 12\r\nConnection: close\r\n"
	    "Expect: 100-continue\r\n\r\n", &h), 0);
	assert_int_equal(h.content_length, 12);
	assert_int_equal(h.keep_alive, 0);
	assert_int_equal(h.expect_continue, 1);
	assert_true(api_http_ctype_is(h.ctype, h.ctype_len,
	    "application/json"));
	assert_false(api_http_ctype_is(h.ctype, h.ctype_len,
	    "application/pkcs10"));
	/* HTTP/1.0: no Host needed, closes unless asked. */
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h), 0);
	assert_int_equal(h.keep_alive, 0);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n"
	    "\r\n", &h), 0);
	assert_int_equal(h.keep_alive, 1);
}

/* Authorization: the Negotiate token (scheme without case), nothing
 * for another scheme, a second Authorization refused. */
static void
test_negotiate(void **state)
{
	struct api_http_head h;

	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: negotiate   YIIBtok= \r\n\r\n", &h), 0);
	assert_int_equal(h.negotiate_len, 8);
	assert_memory_equal(h.negotiate, "YIIBtok=", 8);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Basic dTpw\r\n\r\n", &h), 0);
	assert_null(h.negotiate);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Negotiate\r\n\r\n", &h), 0);
	assert_null(h.negotiate);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: NegotiateX abc\r\n\r\n", &h), 0);
	assert_null(h.negotiate);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Negotiate a\r\nAuthorization: Negotiate b\r\n"
	    "\r\n", &h), 400);
}

static void
test_refused(void **state)
{
	static const struct { const char *head; int status; } cases[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "\r\n\r\n", 400 },
		{ "GET /\r\n\r\n", 400 },
		{ "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\nHost: x\n\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },		/* no Host */
		{ "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n", 400 },
		{ "GET http://h/ HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTPS/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "VERYLONGMETHOD / HTTP/1.1\r\nHost: x\r\n\r\n", 501 },
		{ "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		    "Content-Length: 1\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
		    400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
		    400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
		    413 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
		    "99999999999999999999999\r\n\r\n", 413 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n", 501 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\nextra", 400 },
		/* What http-parser (Debian's build) takes and custody not. */
		{ "GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n", 400 },
		{ "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: a\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n", 501 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nExpect:\r\n\r\n", 417 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: a\r\n"
		    "Content-Type: b\r\n\r\n", 400 },
	};
	struct api_http_head h;
	char msg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = api_http_parse_head(cases[i].head,
		    strlen(cases[i].head), 1000, &h, msg, sizeof(msg));

		if (st != cases[i].status)
			fail_msg("case %zu: %d, want %d (%s)", i, st,
			    cases[i].status, msg);
		assert_true(msg[0] != '\0');
	}
	/* A NUL inside the head. */
	assert_int_equal(api_http_parse_head("GET / HTTP/1.1\r\nHost: \0x\r\n"
	    "\r\n", 27, 1000, &h, msg, sizeof(msg)), 400);
}

/* The statuses come with custody's messages, whether the refusal is
 * http-parser's or custody's own check. */
static void
test_messages(void **state)
{
	static const struct { const char *head; const char *msg; } cases[] = {
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		    "Content-Length: 1\r\n\r\n", "more than one Content-Length" },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
		    "bad Content-Length" },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
		    "99999999999999999999999\r\n\r\n", "request body too large" },
		{ "MKCALENDAR / HTTP/1.1\r\nHost: x\r\n\r\n",
		    "method not implemented" },
		{ "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed method" },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n",
		    "malformed header name" },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		    "folded header lines are not accepted" },
		{ "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 requires a Host header" },
	};
	struct api_http_head h;
	char msg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)api_http_parse_head(cases[i].head, strlen(cases[i].head),
		    1000, &h, msg, sizeof(msg));
		if (strcmp(msg, cases[i].msg) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, msg,
			    cases[i].msg);
	}
	/* Content-Length exactly at the limit is taken, one over is not. */
	assert_int_equal(api_http_parse_head("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1000\r\n\r\n", 50, 1000, &h, msg, sizeof(msg)), 0);
	assert_int_equal(h.content_length, 1000);
	/* HTTP/1.1: close on request, in a list too. */
	assert_int_equal(api_http_parse_head("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Connection: foo, close\r\n\r\n", 51, 1000, &h, msg,
	    sizeof(msg)), 0);
	assert_int_equal(h.keep_alive, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
