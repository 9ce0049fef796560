/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_api_route.c - the route table and the strict
 * decoding of request targets: every route lands on an operation of the
 * ops table, parameters become request members, and every ambiguous
 * target is a 400, never another resource. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "ops.h"
#include "testutil.h"

static int
match(const char *method, const char *target, struct api_match *m,
    char *allow)
{
	char msg[256];

	return api_route_match(method, target, strlen(target), m, msg,
	    sizeof(msg), allow, allow ? 64 : 0);
}

/* The request of a match as compact JSON, in key order. */
static void
req_is(struct api_match *m, const char *want)
{
	char *s = json_dumps(m->req, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void
test_routes(void **state)
{
	struct api_match m;

	(void)state;
	assert_int_equal(match("POST", "/v1/ops/device.list", &m, NULL), 0);
	assert_string_equal(m.op, "device.list");
	req_is(&m, "{}");
	json_decref(m.req);
	assert_int_equal(match("GET", "/v1/devices/dev1.corp.example/"
	    "admin-password?version=2", &m, NULL), 0);
	assert_string_equal(m.op, "password.show");
	assert_true(m.route->flags & API_ROUTE_SECRET);
	req_is(&m, "{\"fqdn\":\"dev1.corp.example\",\"version\":2}");
	json_decref(m.req);
	assert_int_equal(match("GET", "/v1/devices/d%31.corp.example/"
	    "credential?format=ha1", &m, NULL), 0);
	assert_string_equal(m.op, "credential.show");
	req_is(&m, "{\"format\":\"ha1\",\"fqdn\":\"d1.corp.example\"}");
	json_decref(m.req);
	assert_int_equal(match("POST", "/v1/devices/d1.corp.example/rotate",
	    &m, NULL), 0);
	assert_string_equal(m.op, "password.rotate");
	req_is(&m, "{\"fqdns\":[\"d1.corp.example\"]}");
	json_decref(m.req);
	assert_int_equal(match("GET", "/v1/jobs/42?after=3&limit=10", &m,
	    NULL), 0);
	assert_string_equal(m.op, "job.show");
	req_is(&m, "{\"after\":3,\"id\":42,\"limit\":10}");
	json_decref(m.req);
	assert_int_equal(match("GET", "/v1/devices?tag=lab&after=a.example",
	    &m, NULL), 0);
	req_is(&m, "{\"after\":\"a.example\",\"tag\":\"lab\"}");
	json_decref(m.req);
	assert_int_equal(match("GET", "/v1/trust/crl.pem", &m, NULL), 0);
	assert_int_equal(m.route->render, API_RENDER_CRL_PEM);
	json_decref(m.req);
	assert_int_equal(match("GET", "/healthz", &m, NULL), 0);
	assert_int_equal(m.route->render, API_RENDER_HEALTH);
	json_decref(m.req);
	assert_int_equal(match("POST", "/v1/clients/self/certificate", &m,
	    NULL), 0);
	assert_string_equal(m.op, "client.reenroll");
	assert_true(m.route->flags & API_ROUTE_BODY);
	assert_true(m.route->flags & API_ROUTE_CSR);
	req_is(&m, "{}");
	json_decref(m.req);
}

/* An application/pkcs10 body: PEM, DER or base64 DER (EST), each as the
 * member the operation reads; anything else refused. */
static void
test_csr_body(void **state)
{
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	static const char pem[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "MAMCAQA=\n-----END CERTIFICATE REQUEST-----\n";
	static const char est[] = "MAMC\r\nAQA=\r\n";
	static const unsigned char bad[] = { 'M', 'A', 0x00, 'C' };
	json_t *j;

	(void)state;
	assert_non_null(j = json_object());
	assert_int_equal(api_csr_body(der, sizeof(der), j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "csr_der")),
	    "MAMCAQA=");
	assert_null(json_object_get(j, "csr"));
	json_decref(j);
	assert_non_null(j = json_object());
	assert_int_equal(api_csr_body((const unsigned char *)pem,
	    strlen(pem), j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "csr")),
	    pem);
	assert_null(json_object_get(j, "csr_der"));
	json_decref(j);
	assert_non_null(j = json_object());
	assert_int_equal(api_csr_body((const unsigned char *)est,
	    strlen(est), j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "csr_der")),
	    est);
	assert_int_not_equal(api_csr_body(bad, sizeof(bad), j), 0);
	assert_int_not_equal(api_csr_body((const unsigned char *)"\xff\xfe",
	    2, j), 0);
	assert_int_not_equal(api_csr_body(der, 0, j), 0);
	json_decref(j);
}

/* Every route names an operation that exists, and no route that answers
 * a secret is onto a public operation. */
static void
test_table(void **state)
{
	const struct api_route *rt;
	const struct ops_entry *e;
	size_t i;

	(void)state;
	assert_int_equal(api_route_at(api_route_count()) == NULL, 1);
	for (i = 0; (rt = api_route_at(i)) != NULL; i++) {
		if (rt->op == NULL)
			continue;
		e = ops_find(rt->op);
		if (e == NULL)
			fail_msg("route %s %s: no operation %s", rt->method,
			    rt->pattern, rt->op);
		if (rt->flags & API_ROUTE_SECRET)
			assert_false(e->roles & OPS_ANYONE);
	}
}

static void
test_refused(void **state)
{
	static const struct { const char *method, *target; int status; }
	    cases[] = {
		{ "GET", "/v1/devices/%2e%2e/admin-password", 400 },
		{ "GET", "/v1/devices/../healthz", 400 },
		{ "GET", "/v1/devices/./x", 400 },
		{ "GET", "/v1/devices/a%2Fb", 400 },
		{ "GET", "/v1/devices/a%2fb", 400 },
		{ "GET", "/v1/devices/a%00b", 400 },
		{ "GET", "/v1/devices/%ff%fe", 400 },
		{ "GET", "/v1/devices/%c0%af", 400 },	/* overlong '/' */
		{ "GET", "/v1/devices/%1b%5b31m", 400 },	/* ESC */
		{ "GET", "/v1/devices/%e2%80%ae", 400 },	/* RLO */
		{ "GET", "/v1/devices/a%2", 400 },
		{ "GET", "/v1/devices/a%zz", 400 },
		{ "GET", "/v1//devices", 400 },
		{ "GET", "/v1/devices/", 400 },
		{ "GET", "/v1/devices#x", 400 },
		{ "GET", "v1/devices", 400 },
		{ "GET", "", 400 },
		{ "GET", "/v1/devices?colour=red", 400 },
		{ "GET", "/v1/devices?limit=1&limit=2", 400 },
		{ "GET", "/v1/devices?limit=x", 400 },
		{ "GET", "/v1/devices?limit=-1", 400 },
		{ "GET", "/v1/devices?limit", 400 },
		{ "GET", "/v1/devices?=1", 400 },
		{ "GET", "/v1/devices?tag=a%00", 400 },
		{ "GET", "/v1/devices&", 404 },
		{ "GET", "/v1/jobs/abc", 400 },
		{ "GET", "/v1/jobs/99999999999999999999", 400 },
		{ "GET", "/v1/devices/d1.example/admin-password?pending=maybe",
		    400 },
		{ "POST", "/v1/ops/Device.List", 400 },
		{ "POST", "/v1/ops/a%2Fb", 400 },
		{ "GET", "/v1/nothing", 404 },
		{ "GET", "/", 404 },
		{ "GET", "/v1/devices/a/b/c/d", 404 },
		{ "PUT", "/v1/devices", 405 },
		{ "GET", "/v1/ops/status", 405 },
		{ "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r", 400 },
	};
	struct api_match m;
	char msg[256];
	size_t i;
	int st;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st = api_route_match(cases[i].method, cases[i].target,
		    strlen(cases[i].target), &m, msg, sizeof(msg), NULL, 0);
		if (st != cases[i].status)
			fail_msg("%s %s: %d, want %d (%s)", cases[i].method,
			    cases[i].target, st, cases[i].status, msg);
		assert_null(m.req);
		assert_null(m.route);
		assert_true(msg[0] != '\0');
	}
}

static void
test_allow(void **state)
{
	struct api_match m;
	char allow[64];

	(void)state;
	assert_int_equal(match("PATCH", "/v1/devices/d1.example", &m, allow),
	    405);
	assert_string_equal(allow, "GET, DELETE");
}

static void
test_decode(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(api_pct_decode("a%41%c3%a9", 10, 1, out), 4);
	assert_string_equal(out, "aA\xc3\xa9");
	assert_int_equal(api_pct_decode("a%2Fb", 5, 0, out), 3);
	assert_int_equal(api_pct_decode("a%2Fb", 5, 1, out), -1);
	assert_int_equal(api_pct_decode("%", 1, 0, out), -1);
	assert_int_equal(api_pct_decode("%4", 2, 0, out), -1);
	assert_int_equal(api_pct_decode("a b", 3, 0, out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_csr_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
