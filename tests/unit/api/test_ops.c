/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_ops.c - the operations layer through ops_call():
 * every list operation pages with a bounded reply, size limits hold in the
 * operations (not only in the CLI), and no operation answers OK without a
 * reply when building it fails (jansson allocations made to fail one by
 * one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "cred.h"
#include "err.h"
#include "ops.h"
#include "policy.h"
#include "seal.h"
#include "state.h"
#include "state/state_int.h"	/* a sealed state: st->seal = NULL */
#include "testutil.h"

#define NDEV 25		/* devices of the paging fixture */

static const char policy_doc[] =
	"version: 1\n"
	"owner: prov\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {certificate: \"CN=prov\"}\n"
	"    duties: [setup, redirection, power, inventory]\n";

/* As the trusted local identity (custodyctl on the state directory). */
static int
call(struct tu_fx *f, const char *op, json_t *req, json_t **resp)
{
	struct ops_identity *local = NULL;
	struct ops_ctx ctx = { .st = f->st };
	int r;

	assert_int_equal(ops_identity_new(OPS_ID_LOCAL, "tester", &local),
	    CUST_OK);
	ctx.who = local;
	r = ops_call(&ctx, op, req, resp);
	ops_identity_free(local);
	json_decref(req);
	return r;
}

/* NDEV devices d00..d24.corp.example, the odd ones tagged "odd". */
static int
setup(void **state)
{
	struct tu_fx *f;
	char csv[NDEV * 64 + 32];
	size_t used, i, count;

	tu_fx_setup(state);
	f = *state;
	used = (size_t)snprintf(csv, sizeof(csv), "fqdn,tags\n");
	for (i = 0; i < NDEV; i++)
		used += (size_t)snprintf(csv + used, sizeof(csv) - used,
		    "d%02zu.corp.example,%s\n", i, i % 2 ? "odd" : "");
	if (cred_device_import(f->st, "tester", csv, used, 16, &count) !=
	    CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	assert_int_equal(count, NDEV);
	return 0;
}

/* Follow op's pages with limit from the first: the items (key) of every
 * page in order, as one new array; *pages_out counts the calls. */
static json_t *
all_pages(struct tu_fx *f, const char *op, json_t *base, const char *key,
    long long limit, size_t *pages_out)
{
	json_t *items = json_array(), *req, *resp, *next = NULL;
	size_t pages = 0;

	for (;;) {
		req = json_deep_copy(base);
		json_object_set_new(req, "limit", json_integer(limit));
		if (next != NULL)
			json_object_set_new(req, "after", next);
		if (call(f, op, req, &resp) != CUST_OK)
			fail_msg("%s: %s", op, cust_errmsg());
		pages++;
		assert_true(json_array_size(json_object_get(resp, key)) <=
		    (size_t)limit);
		json_array_extend(items, json_object_get(resp, key));
		next = json_object_get(resp, "next");
		assert_non_null(next);	/* always there: null at the end */
		next = json_is_null(next) ? NULL : json_incref(next);
		json_decref(resp);
		if (next == NULL)
			break;
		assert_true(pages < 1000);
	}
	*pages_out = pages;
	return items;
}

static void
test_device_list_pages(void **state)
{
	struct tu_fx *f = *state;
	json_t *items, *base = json_object(), *tagged, *resp;
	char want[64];
	size_t pages, i;

	items = all_pages(f, "device.list", base, "devices", 10, &pages);
	assert_int_equal(json_array_size(items), NDEV);
	assert_int_equal(pages, 3);		/* 10 + 10 + 5 */
	for (i = 0; i < NDEV; i++) {		/* each once, in order */
		snprintf(want, sizeof(want), "d%02zu.corp.example", i);
		assert_string_equal(json_string_value(json_object_get(
		    json_array_get(items, i), "fqdn")), want);
	}
	json_decref(items);
	/* A full last page: one more call finds nothing, next null. */
	items = all_pages(f, "device.list", base, "devices", 5, &pages);
	assert_int_equal(json_array_size(items), NDEV);
	assert_int_equal(pages, 6);
	json_decref(items);
	/* With a tag: only those, paged the same way. */
	json_object_set_new(base, "tag", json_string("odd"));
	tagged = all_pages(f, "device.list", base, "devices", 4, &pages);
	assert_int_equal(json_array_size(tagged), NDEV / 2);
	assert_int_equal(pages, 4);		/* 3 full pages, 1 empty */
	json_decref(tagged);
	json_decref(base);
	/* No limit: the default page, bounded. */
	assert_int_equal(call(f, "device.list", json_object(), &resp),
	    CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "devices")),
	    NDEV < OPS_LIST_DEFAULT ? NDEV : OPS_LIST_DEFAULT);
	json_decref(resp);
}

/* limit 0 never means "everything"; over the maximum is refused. */
static void
test_limits_refused(void **state)
{
	struct tu_fx *f = *state;
	static const char *const ops[] = { "device.list", "audit.list" };
	json_t *resp = NULL;
	size_t i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(call(f, ops[i], json_pack("{s:i}", "limit", 0),
		    &resp), CUST_E_INVAL);
		assert_null(resp);
		assert_int_equal(call(f, ops[i], json_pack("{s:I}", "limit",
		    (json_int_t)OPS_LIST_MAX + 1), &resp), CUST_E_INVAL);
		assert_null(resp);
		assert_int_equal(call(f, ops[i], json_pack("{s:i}", "limit",
		    -1), &resp), CUST_E_INVAL);
		assert_int_equal(call(f, ops[i], json_pack("{s:I}", "limit",
		    (json_int_t)OPS_LIST_MAX), &resp), CUST_OK);
		json_decref(resp);
	}
	assert_int_equal(call(f, "device.list", json_pack("{s:s}", "tag",
	    "bad tag"), &resp), CUST_E_INVAL);
	assert_int_equal(call(f, "audit.list", json_pack("{s:s}", "after",
	    "x"), &resp), CUST_E_INVAL);
}

static void
test_audit_list_pages(void **state)
{
	struct tu_fx *f = *state;
	long long n = tu_sql_int(f->st, "SELECT COUNT(*) FROM audit");
	json_t *items, *base = json_object(), *resp;
	size_t pages, i;

	assert_true(n >= NDEV);
	items = all_pages(f, "audit.list", base, "entries", 7, &pages);
	assert_int_equal(json_array_size(items), (size_t)n);
	assert_int_equal(pages, (size_t)n / 7 + 1);
	for (i = 1; i < json_array_size(items); i++)
		assert_true(json_integer_value(json_object_get(json_array_get(
		    items, i), "seq")) > json_integer_value(json_object_get(
		    json_array_get(items, i - 1), "seq")));
	json_decref(items);
	json_decref(base);
	/* Regression: without a limit, a bounded page, not the whole log. */
	assert_int_equal(call(f, "audit.list", json_object(), &resp), CUST_OK);
	assert_true(json_array_size(json_object_get(resp, "entries")) <=
	    OPS_LIST_DEFAULT);
	assert_non_null(json_object_get(resp, "next"));
	json_decref(resp);
}

static void
test_plan_pages(void **state)
{
	struct tu_fx *f = *state;
	json_t *items, *base = json_pack("{s:s, s:s, s:b}", "file", "p.yaml",
	    "text", policy_doc, "all", 1);
	size_t pages;

	items = all_pages(f, "policy.plan", base, "devices", 10, &pages);
	assert_int_equal(json_array_size(items), NDEV);
	assert_int_equal(pages, 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    items, NDEV - 1), "device")), "d24.corp.example");
	json_decref(items);
	json_decref(base);
}

/* A new string of n copies of c. */
static char *
filled(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* The bounds of request sizes are the operations' own. */
static void
test_size_limits(void **state)
{
	struct tu_fx *f = *state;
	json_t *resp = NULL, *many = json_array();
	size_t i;
	char *big;

	/* Import data over CRED_IMPORT_MAX. */
	big = filled(CRED_IMPORT_MAX + 1, 'a');
	assert_int_equal(call(f, "device.import", json_pack("{s:s}", "data",
	    big), &resp), CUST_E_TOOBIG);
	assert_null(resp);
	free(big);
	/* Policy text over POLICY_MAX_BYTES: too big (not "malformed"),
	 * for load (audited) and plan. */
	big = filled(POLICY_MAX_BYTES + 1, '#');
	assert_int_equal(call(f, "policy.load", json_pack("{s:s, s:s}", "file",
	    "big.yaml", "text", big), &resp), CUST_E_TOOBIG);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'policy.load' AND result = 'refused'"), 1);
	assert_int_equal(call(f, "policy.plan", json_pack("{s:s, s:b}", "text",
	    big, "all", 1), &resp), CUST_E_TOOBIG);
	free(big);
	/* Name lists over OPS_STRINGS_MAX (100000). */
	for (i = 0; i <= 100000; i++)
		json_array_append_new(many, json_string("a.b"));
	assert_int_equal(call(f, "password.rotate", json_pack("{s:o}",
	    "fqdns", many), &resp), CUST_E_TOOBIG);
	assert_null(resp);
	/* A CSR over CA_CSR_MAX: refused by size before parsing. */
	big = filled(CA_CSR_MAX + 1, 'A');
	assert_int_equal(call(f, "cert.sign", json_pack("{s:s, s:s}", "fqdn",
	    "d01.corp.example", "csr", big), &resp), CUST_E_TOOBIG);
	assert_null(resp);
	free(big);
}

/*
 * jansson's allocator made to fail at the n-th allocation of a call, for
 * every n until the call goes through: an operation either fails with an
 * error and no reply, or succeeds with one; never OK and NULL.
 */
static json_malloc_t real_malloc;
static json_free_t real_free;
static long fail_at = -1;

static void *
failing_malloc(size_t n)
{
	if (fail_at == 0) {
		fail_at = -1;
		return NULL;
	}
	if (fail_at > 0)
		fail_at--;
	return real_malloc(n);
}

static void
test_no_ok_without_reply(void **state)
{
	struct tu_fx *f = *state;
	static const struct { const char *op, *req; } calls[] = {
		{ "status", "{}" },
		{ "device.list", "{\"limit\": 3}" },
		{ "device.show", "{\"fqdn\": \"d01.corp.example\"}" },
		{ "audit.list", "{\"limit\": 3}" },
		{ "audit.verify", "{}" },
		{ "password.history", "{\"fqdn\": \"d01.corp.example\"}" },
		{ "password.show", "{\"fqdn\": \"d02.corp.example\"}" },
	};
	json_t *req, *resp;
	size_t i;
	long n;
	int r, failed;

	json_get_alloc_funcs(&real_malloc, &real_free);
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		for (n = 0;; n++) {
			req = json_loads(calls[i].req, 0, NULL);
			assert_non_null(req);
			resp = NULL;
			json_set_alloc_funcs(failing_malloc, real_free);
			fail_at = n;
			r = call(f, calls[i].op, req, &resp);
			failed = fail_at == -1;	/* the failure was used */
			fail_at = -1;
			json_set_alloc_funcs(real_malloc, real_free);
			if (r == CUST_OK && resp == NULL)
				fail_msg("%s with allocation %ld failing: OK "
				    "without a reply", calls[i].op, n);
			if (r != CUST_OK && resp != NULL)
				fail_msg("%s: error %d with a reply",
				    calls[i].op, r);
			json_decref(resp);
			if (!failed) {	/* ran through with no failure left */
				assert_int_equal(r, CUST_OK);
				break;
			}
			assert_true(n < 10000);
		}
	}
}

/* status says what the seal is, not a fixed text. */
static void
test_status_seal(void **state)
{
	struct tu_fx *f = *state;
	struct seal *seal = f->st->seal;
	json_t *resp = NULL;

	assert_int_equal(call(f, "status", json_object(), &resp), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(resp, "seal")),
	    "unsealed");
	assert_string_equal(json_string_value(json_object_get(resp,
	    "key_source")), "file");
	assert_int_equal(json_integer_value(json_object_get(resp, "devices")),
	    NDEV);
	json_decref(resp);
	/* Without a data key (as a service before unsealing would be). */
	f->st->seal = NULL;
	assert_int_equal(call(f, "status", json_object(), &resp), CUST_OK);
	f->st->seal = seal;
	assert_string_equal(json_string_value(json_object_get(resp, "seal")),
	    "sealed");
	assert_null(json_object_get(resp, "key_source"));
	json_decref(resp);
}

/* Unknown operations, a missing state, a request that is not an object. */
static void
test_call_errors(void **state)
{
	struct tu_fx *f = *state;
	struct ops_ctx none = { .st = NULL };
	struct ops_identity *local = NULL;
	json_t *resp = NULL;

	assert_int_equal(call(f, "no.such", json_object(), &resp),
	    CUST_E_INVAL);
	assert_null(resp);
	assert_int_equal(ops_identity_new(OPS_ID_LOCAL, "tester", &local),
	    CUST_OK);
	none.who = local;
	assert_int_equal(ops_call(&none, "device.list", NULL, &resp),
	    CUST_E_UNAVAIL);
	ops_identity_free(local);
	assert_int_equal(call(f, "device.list", json_array(), &resp),
	    CUST_E_INVAL);
	assert_null(resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_device_list_pages, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_limits_refused, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_list_pages, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_plan_pages, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_size_limits, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_no_ok_without_reply,
		    setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_call_errors, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_status_seal, setup,
		    tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
