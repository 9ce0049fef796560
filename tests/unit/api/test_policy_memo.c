/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_policy_memo.c - the loaded policy as each request
 * reads it (ops_policy_current()): parsed once while the latest row stays
 * the same, parsed again for a newer load, for another store in the same
 * thread, and never taken from memory when the row's key was altered
 * (its row MAC is then checked and the alteration refused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ops_int.h"
#include "err.h"
#include "ops.h"
#include "policy.h"
#include "state.h"
#include "testutil.h"

static const char policy_one[] =
	"version: 1\n"
	"owner: prov\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {certificate: \"CN=prov\"}\n"
	"    duties: [setup, power]\n";

static const char policy_two[] =
	"version: 1\n"
	"owner: prov\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {certificate: \"CN=prov\"}\n"
	"    duties: [setup, power]\n"
	"  pwr:\n"
	"    identity: {certificate: \"CN=pwr\"}\n"
	"    duties: [power]\n";

static void
load(struct cust_state *st, const char *text)
{
	struct ops_identity *local = NULL;
	struct ops_ctx ctx = { .st = st };
	json_t *req = json_pack("{s:s, s:s}", "file", "p.yaml", "text", text);
	json_t *resp = NULL;

	assert_int_equal(ops_identity_new(OPS_ID_LOCAL, "tester", &local),
	    CUST_OK);
	ctx.who = local;
	if (ops_call(&ctx, "policy.load", req, &resp) != CUST_OK)
		fail_msg("policy.load: %s", cust_errmsg());
	json_decref(req);
	json_decref(resp);
	ops_identity_free(local);
}

static const struct policy *
current(struct cust_state *st)
{
	const struct policy *p = NULL;

	if (ops_policy_current(st, &p) != CUST_OK)
		fail_msg("current: %s", cust_errmsg());
	return p;
}

static void
test_current(void **state)
{
	struct tu_fx *f = *state;
	void *other_fx = NULL;
	struct tu_fx *g;
	const struct policy *p, *q;

	assert_null(current(f->st));		/* none loaded */
	load(f->st, policy_one);
	p = current(f->st);
	assert_non_null(p);
	assert_int_equal(policy_console_count(p), 1);
	/* The same row: the same parsed policy, not parsed again. */
	assert_ptr_equal(current(f->st), p);
	/* Another store in this thread, with its own first policy (the same
	 * id and file name, another text): its own. */
	tu_fx_setup(&other_fx);
	g = other_fx;
	load(g->st, policy_two);
	q = current(g->st);
	assert_non_null(q);
	assert_int_equal(policy_console_count(q), 2);
	assert_int_equal(policy_console_count(current(f->st)), 1);
	tu_fx_teardown(&other_fx);
	/* A newer load (as from another process): seen at the next call. */
	load(f->st, policy_two);
	p = current(f->st);
	assert_non_null(p);
	assert_int_equal(policy_console_count(p), 2);
	/* The row's key altered behind the store's back: read again, its
	 * row MAC checked, refused; not answered from memory. */
	tu_sql(f->st, "UPDATE policy SET sha256 = 'x' || sha256 WHERE id = "
	    "(SELECT MAX(id) FROM policy)");
	p = NULL;
	assert_int_not_equal(ops_policy_current(f->st, &p), CUST_OK);
	assert_null(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_current, tu_fx_setup,
		    tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
