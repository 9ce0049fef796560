/* SPDX-License-Identifier: MIT */
/* tests/unit/cred/test_counts.c - cred_counts(), the figures of status and
 * metrics, kept by the store instead of counted: they must equal COUNT(*)
 * after every kind of change (add, import, remove, rotate, replace a
 * pending version, confirm, a failed transaction), through the
 * operations too, and be started right on a store made before them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "ops.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#define ACTOR "tester"

/* cred_counts() against COUNT(*) queries of the tables. */
#define assert_counts_exact(st) assert_counts_exact_at(st, __LINE__)

static void
assert_counts_exact_at(struct cust_state *st, int line)
{
	struct cred_counts c;
	long long dev, ret, pend;

	if (cred_counts(st, &c) != CUST_OK)
		fail_msg("line %d: cred_counts: %s", line, cust_errmsg());
	dev = tu_sql_int(st, "SELECT COUNT(*) FROM device WHERE state = "
	    "'active'");
	ret = tu_sql_int(st, "SELECT COUNT(*) FROM device WHERE state = "
	    "'retired'");
	pend = tu_sql_int(st, "SELECT COUNT(*) FROM secret WHERE state = "
	    "'pending' OR state = 'pushed'");
	if (c.devices != dev || c.retired_devices != ret ||
	    c.pending_secrets != pend)
		fail_msg("line %d: counts %lld/%lld/%lld, tables %lld/%lld/%lld",
		    line, (long long)c.devices, (long long)c.retired_devices,
		    (long long)c.pending_secrets, dev, ret, pend);
}

static void
add(struct cust_state *st, const char *fqdn)
{
	struct cred_device_spec spec = { 0 };

	spec.fqdn = fqdn;
	if (cred_device_add(st, ACTOR, &spec, 16, NULL) != CUST_OK)
		fail_msg("add %s: %s", fqdn, cust_errmsg());
}

static void
rotate(struct cust_state *st, const char *kind, int replace)
{
	struct cred_rotate_result res;
	int64_t *ids = NULL;
	size_t n = 0;
	int r;

	assert_int_equal(cred_select(st, NULL, 0, NULL, 1, &ids, &n), CUST_OK);
	r = cred_rotate(st, ACTOR, ids, n, kind, 16, replace, 0, NULL, NULL,
	    &res);
	free(ids);
	if (r != CUST_OK && r != CUST_E_CONFLICT)
		fail_msg("rotate: %s", cust_errmsg());
}

static void
test_counts_follow_changes(void **state)
{
	struct tu_fx *f = *state;
	struct cust_state *st = f->st;
	static const char csv[] = "fqdn,tags\ni1.corp.example,a\n"
	    "i2.corp.example,a\ni3.corp.example,\n";
	static const char bad[] = "fqdn\ni4.corp.example\nnot a name\n";
	struct cred_counts c;
	size_t count;

	assert_counts_exact(st);
	assert_int_equal(cred_counts(st, &c), CUST_OK);
	assert_int_equal(c.devices, 0);
	add(st, "a1.corp.example");
	add(st, "a2.corp.example");
	assert_counts_exact(st);
	assert_int_equal(cred_device_import(st, ACTOR, csv, strlen(csv), 16,
	    &count), CUST_OK);
	assert_counts_exact(st);
	/* A refused import changes nothing, counts included. */
	assert_int_not_equal(cred_device_import(st, ACTOR, bad, strlen(bad),
	    16, &count), CUST_OK);
	assert_counts_exact(st);
	assert_int_equal(cred_counts(st, &c), CUST_OK);
	assert_int_equal(c.devices, 5);
	/* Rotations: pending versions; a second one refused; replaced
	 * pending versions become failed. */
	rotate(st, "admin", 0);
	assert_counts_exact(st);
	assert_int_equal(cred_counts(st, &c), CUST_OK);
	assert_int_equal(c.pending_secrets, 5);
	rotate(st, "admin", 0);
	assert_counts_exact(st);
	rotate(st, "admin", 1);
	assert_counts_exact(st);
	rotate(st, "mebx", 0);
	assert_counts_exact(st);
	assert_int_equal(cred_counts(st, &c), CUST_OK);
	assert_int_equal(c.pending_secrets, 10);
	/* Confirms: pending -> current, current -> retired. */
	assert_int_equal(cred_confirm(st, ACTOR, "a1.corp.example", "admin",
	    3), CUST_OK);
	assert_counts_exact(st);
	assert_int_equal(cred_confirm(st, ACTOR, "i2.corp.example", "mebx",
	    2), CUST_OK);
	assert_counts_exact(st);
	/* A failed version confirmed anyway (applied after a replace). */
	assert_int_equal(cred_confirm(st, ACTOR, "a2.corp.example", "admin",
	    2), CUST_OK);
	assert_counts_exact(st);
	/* Removals: active -> retired. */
	assert_int_equal(cred_device_remove(st, ACTOR, "i3.corp.example"),
	    CUST_OK);
	assert_counts_exact(st);
	assert_int_equal(cred_counts(st, &c), CUST_OK);
	assert_int_equal(c.devices, 4);
	assert_int_equal(c.retired_devices, 1);
	/* A new device under a retired name. */
	add(st, "i3.corp.example");
	assert_counts_exact(st);
	/* A transaction rolled back takes its counts with it. */
	assert_int_equal(store_begin(state_store(st)), CUST_OK);
	add(st, "rb.corp.example");
	assert_int_equal(cred_device_remove(st, ACTOR, "a1.corp.example"),
	    CUST_OK);
	store_rollback(state_store(st));
	assert_counts_exact(st);
	assert_int_equal(cred_counts(st, &c), CUST_OK);
	assert_int_equal(c.devices, 5);
}

/* Status reports the counters, through the operations as the CLI and the
 * service call them. */
static void
test_status_reports_counts(void **state)
{
	struct tu_fx *f = *state;
	struct ops_ctx ctx = { .st = f->st, .who = tu_local() };
	json_t *req, *resp = NULL;

	req = json_pack("{s:s}", "data", "fqdn\ns1.corp.example\n"
	    "s2.corp.example\ns3.corp.example\n");
	assert_int_equal(ops_call(&ctx, "device.import", req, &resp), CUST_OK);
	json_decref(req);
	json_decref(resp);
	req = json_pack("{s:[s]}", "fqdns", "s1.corp.example");
	assert_int_equal(ops_call(&ctx, "password.rotate", req, &resp),
	    CUST_OK);
	json_decref(req);
	json_decref(resp);
	req = json_pack("{s:s}", "fqdn", "s2.corp.example");
	assert_int_equal(ops_call(&ctx, "device.remove", req, &resp), CUST_OK);
	json_decref(req);
	json_decref(resp);
	assert_int_equal(ops_call(&ctx, "status", NULL, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "devices")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "retired_devices")), 1);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "pending_secrets")), 1);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "audit_entries")), tu_sql_int(f->st, "SELECT COUNT(*) FROM audit"));
	json_decref(resp);
	assert_counts_exact(f->st);
}

/* A store made before the counters gets them from its rows when it is
 * next opened (the migration counts once). */
static void
test_counts_migrated(void **state)
{
	struct tu_fx *f = *state;

	add(f->st, "m1.corp.example");
	add(f->st, "m2.corp.example");
	rotate(f->st, "admin", 0);
	assert_int_equal(cred_device_remove(f->st, ACTOR, "m2.corp.example"),
	    CUST_OK);
	/* Back to the schema of before: no counters, no staged imports, no
	 * addresses, no realm index, cred at version 1. */
	tu_sql(f->st, "DROP INDEX device_realm;"
	    "ALTER TABLE device DROP COLUMN address;"
	    "DROP TRIGGER cred_count_device_ins;"
	    "DROP TRIGGER cred_count_device_del;"
	    "DROP INDEX device_import_id;"
	    "ALTER TABLE device DROP COLUMN import_id;"
	    "DROP TABLE device_import;"
	    "DROP TABLE cred_count;"
	    "DROP TRIGGER cred_count_device_upd;"
	    "DROP TRIGGER cred_count_secret_ins;"
	    "DROP TRIGGER cred_count_secret_del;"
	    "DROP TRIGGER cred_count_secret_upd;"
	    "UPDATE schema_version SET version = 1 WHERE module = 'cred'");
	state_close(f->st);
	f->st = NULL;
	if (state_open(f->dir, &f->st) != CUST_OK)
		fail_msg("reopen: %s", cust_errmsg());
	assert_counts_exact(f->st);
	{
		struct cred_counts c;

		assert_int_equal(cred_counts(f->st, &c), CUST_OK);
		assert_int_equal(c.devices, 1);
		assert_int_equal(c.retired_devices, 1);
		assert_int_equal(c.pending_secrets, 2);
	}
	/* A store whose counters are gone is damaged, never "0 devices". */
	tu_sql(f->st, "DELETE FROM cred_count WHERE name = 'device:active'");
	{
		struct cred_counts c;

		assert_int_equal(cred_counts(f->st, &c), CUST_E_DB);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts_follow_changes,
		    tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_status_reports_counts,
		    tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_counts_migrated,
		    tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
