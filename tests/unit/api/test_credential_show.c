/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_credential_show.c - credential.show reads the
 * device, the loaded policy and the secret in one read transaction (one
 * snapshot; custodyd's hot path: each read transaction after another
 * connection's commit takes a WAL read lock and checks the page cache
 * again), ends it before its audit entry, and leaves none open when it
 * refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "ops.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

static const char policy_doc[] =
	"version: 1\n"
	"owner: prov\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {certificate: \"CN=prov\"}\n"
	"    duties: [setup, power]\n"
	"  pwr:\n"
	"    identity: {certificate: \"CN=pwr\"}\n"
	"    duties: [power]\n"
	"    scope: {tags: [lab]}\n";

struct trace {
	int outside;	/* statements run outside any transaction */
	int reads;	/* read transactions begun */
	int selects;	/* queries run inside the read transaction */
	int in_read;
};

static int
on_stmt(unsigned type, void *arg, void *p, void *x)
{
	struct trace *t = arg;
	sqlite3 *db = sqlite3_db_handle(p);
	const char *sql = x;

	if (type != SQLITE_TRACE_STMT || strncmp(sql, "--", 2) == 0)
		return 0;	/* a trigger's statement */
	if (strcmp(sql, "BEGIN DEFERRED") == 0) {
		t->reads++;
		t->in_read = 1;
	} else if (strcmp(sql, "ROLLBACK") == 0 || strcmp(sql, "COMMIT") == 0)
		t->in_read = 0;
	else if (sqlite3_get_autocommit(db) && strncmp(sql, "BEGIN", 5) != 0)
		t->outside++;
	else if (!sqlite3_get_autocommit(db) && strncmp(sql, "SELECT", 6) == 0)
		t->selects += t->in_read;
	return 0;
}

static int
setup(void **state)
{
	static const char csv[] = "fqdn,digest_realm,tags\n"
	    "d1.corp.example,Digest:A4070000000000000000000000000000,\n"
	    "d2.corp.example,Digest:A4070000000000000000000000000000,lab\n";
	struct ops_ctx ctx;
	struct tu_fx *f;
	json_t *req, *resp = NULL;
	size_t count;

	tu_fx_setup(state);
	f = *state;
	if (cred_device_import(f->st, "t", csv, strlen(csv), 16, &count) !=
	    CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = f->st;
	ctx.who = tu_local();
	req = json_pack("{s:s, s:s}", "file", "p.yaml", "text", policy_doc);
	if (ops_call(&ctx, "policy.load", req, &resp) != CUST_OK)
		fail_msg("policy.load: %s", cust_errmsg());
	json_decref(req);
	json_decref(resp);
	return 0;
}

/* credential.show of console on fqdn, as that console, traced. */
static int
show(struct cust_state *st, const char *console, const char *fqdn,
    struct trace *t, json_t **resp)
{
	struct ops_identity *who = NULL;
	struct ops_ctx ctx;
	json_t *req = json_pack("{s:s}", "fqdn", fqdn);
	int r;

	if (ops_identity_console(st, console, &who) != CUST_OK)
		fail_msg("identity %s: %s", console, cust_errmsg());
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = st;
	ctx.who = who;
	memset(t, 0, sizeof(*t));
	sqlite3_trace_v2(store_db(state_store(st)), SQLITE_TRACE_STMT, on_stmt,
	    t);
	r = ops_call(&ctx, "credential.show", req, resp);
	sqlite3_trace_v2(store_db(state_store(st)), 0, NULL, NULL);
	json_decref(req);
	ops_identity_free(who);
	return r;
}

static void
test_one_read_txn(void **state)
{
	struct tu_fx *f = *state;
	struct trace t;
	json_t *resp = NULL;
	long long before = tu_sql_int(f->st, "SELECT COUNT(*) FROM audit");

	if (show(f->st, "prov", "d1.corp.example", &t, &resp) != CUST_OK)
		fail_msg("credential.show: %s", cust_errmsg());
	assert_non_null(json_string_value(json_object_get(resp, "password")));
	/* The device, the policy and the secret: one read transaction;
	 * nothing read on its own (each would be one more). */
	assert_int_equal(t.reads, 1);
	assert_int_equal(t.outside, 0);
	/* It ended before the entry, which committed on its own. */
	assert_false(store_in_txn(state_store(f->st)));
	assert_int_equal(sqlite3_get_autocommit(store_db(state_store(f->st))),
	    1);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'credential.show' AND result = 'ok'"), 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit"),
	    before + 1);
	json_decref(resp);
	/* Read again (the policy parsed by now): three queries, the device
	 * (its id, realm and tags at once), the policy row, the secret; the
	 * device is not looked up again for the secret (five before). */
	resp = NULL;
	if (show(f->st, "prov", "D1.corp.example", &t, &resp) != CUST_OK)
		fail_msg("credential.show: %s", cust_errmsg());
	assert_int_equal(t.reads, 1);
	assert_int_equal(t.outside, 0);
	assert_int_equal(t.selects, 3);
	assert_string_equal(json_string_value(json_object_get(resp, "device")),
	    "d1.corp.example");
	assert_string_equal(json_string_value(json_object_get(resp,
	    "digest_realm")), "Digest:A4070000000000000000000000000000");
	json_decref(resp);
}

/* Sorts run by the statements of db since the last call (and reset). */
static int
sorts(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int n = 0;

	while ((s = sqlite3_next_stmt(db, s)) != NULL)
		n += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_SORT, 1);
	return n;
}

static void
expect_version(struct cust_state *st, long long version, const char *state)
{
	struct trace t;
	json_t *resp = NULL;

	if (show(st, "prov", "d1.corp.example", &t, &resp) != CUST_OK)
		fail_msg("credential.show: %s", cust_errmsg());
	assert_int_equal(json_integer_value(json_object_get(resp, "version")),
	    version);
	assert_string_equal(json_string_value(json_object_get(resp, "state")),
	    state);
	json_decref(resp);
}

/* The version handed out: the current one, else the oldest in flight
 * (pending or pushed); and no sort on the way (ORDER BY state =
 * 'current' sorted the rows in a temporary b-tree at every read, a few
 * per cent of custodyd's CPU per fetch in bench/api). */
static void
test_usable_version(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	sqlite3 *db = store_db(state_store(f->st));
	int64_t id;

	if (cred_device_find(f->st, "d1.corp.example", &id) != CUST_OK)
		fail_msg("find: %s", cust_errmsg());
	expect_version(f->st, 1, "pending");	/* the policy's first */
	(void)sorts(db);
	expect_version(f->st, 1, "pending");
	assert_int_equal(sorts(db), 0);
	tu_sql_mac(f->st, "UPDATE secret SET state = 'pushed' WHERE kind = "
	    "'console:prov'");
	expect_version(f->st, 1, "pushed");
	tu_sql_mac(f->st, "UPDATE secret SET state = 'current' WHERE kind = "
	    "'console:prov'");
	expect_version(f->st, 1, "current");
	/* v2 pending: v1, current, is still the one handed out. */
	memset(&res, 0, sizeof(res));
	assert_int_equal(cred_rotate(f->st, "t", &id, 1, "console:prov", 16, 0,
	    0, NULL, NULL, &res), CUST_OK);
	assert_int_equal(res.rotated, 1);
	json_decref(res.items);
	(void)sorts(db);
	expect_version(f->st, 1, "current");
	assert_int_equal(sorts(db), 0);
	/* v1 retired: v2, pending; then v2 pushed and no current. */
	tu_sql_mac(f->st, "UPDATE secret SET state = 'retired' WHERE kind = "
	    "'console:prov' AND version = 1");
	expect_version(f->st, 2, "pending");
	tu_sql_mac(f->st, "UPDATE secret SET state = 'pushed' WHERE kind = "
	    "'console:prov' AND version = 2");
	expect_version(f->st, 2, "pushed");
}

/* Refused (the policy gives pwr no user on d1, outside its scope): no
 * transaction stays open, nothing is handed out. */
static void
test_refused_ends_txn(void **state)
{
	struct tu_fx *f = *state;
	struct trace t;
	json_t *resp = NULL;

	assert_int_not_equal(show(f->st, "pwr", "d1.corp.example", &t, &resp),
	    CUST_OK);
	assert_null(resp);
	assert_false(store_in_txn(state_store(f->st)));
	assert_int_equal(sqlite3_get_autocommit(store_db(state_store(f->st))),
	    1);
	/* In its scope it reads its own: the scope check (ops_call(),
	 * before the operation) is the one read on its own. */
	if (show(f->st, "pwr", "d2.corp.example", &t, &resp) != CUST_OK)
		fail_msg("credential.show: %s", cust_errmsg());
	assert_int_equal(t.reads, 1);
	assert_int_equal(t.outside, 1);
	json_decref(resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_read_txn, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused_ends_txn, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_usable_version, setup,
		    tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
