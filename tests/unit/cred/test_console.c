/* SPDX-License-Identifier: MIT */
/* tests/unit/cred/test_console.c - scoped console credentials
 * (src/cred/console.c): a sync grants what the planner says and nothing
 * twice, withdraws what it no longer says (and what is renewed), runs in
 * batches that a guard can stop, finishes when run again, and a removed
 * device keeps no live console credential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#define ACTOR "tester"

/* A planner that gives every device the consoles in want, and the
 * devices tagged "b" also "branchcon". */
struct fake {
	const char *want[4];
	size_t nwant;
	int batches;		/* batch() calls */
	int stop_at;		/* batch() fails at this call (0: never) */
};

static int
fake_plan(void *arg, const char *fqdn, json_t *tags, json_t **out)
{
	struct fake *f = arg;
	json_t *a = json_array(), *t;
	size_t i;

	(void)fqdn;
	for (i = 0; i < f->nwant; i++)
		json_array_append_new(a, json_string(f->want[i]));
	json_array_foreach(tags, i, t)
		if (strcmp(json_string_value(t), "b") == 0)
			json_array_append_new(a, json_string("branchcon"));
	*out = a;
	return CUST_OK;
}

static int
fake_batch(void *arg)
{
	struct fake *f = arg;

	if (++f->batches == f->stop_at)
		return cust_fail(CUST_E_CONFLICT, "stopped by the test");
	return CUST_OK;
}

static void
add(struct cust_state *st, const char *fqdn, const char *tag, int64_t *id)
{
	struct cred_device_spec spec = { 0 };
	const char *tags[1] = { tag };

	spec.fqdn = fqdn;
	spec.tags = tags;
	spec.ntags = tag != NULL;
	if (cred_device_add(st, ACTOR, &spec, 16, id) != CUST_OK)
		fail_msg("add %s: %s", fqdn, cust_errmsg());
}

static int
sync_all(struct cust_state *st, struct fake *f, const char *const *renew,
    size_t nrenew, struct cred_console_result *res)
{
	struct cred_console_planner pl = { fake_plan, fake_batch, renew,
	    nrenew, f };

	return cred_console_sync(st, ACTOR, 0, 0, 24, &pl, NULL, NULL, res);
}

static long long
live(struct cust_state *st, const char *kind)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM secret WHERE kind = "
	    "'%s' AND state IN ('pending', 'pushed', 'current')", kind);
	return tu_sql_int(st, sql);
}

static void
test_sync(void **state)
{
	struct tu_fx *fx = *state;
	struct cust_state *st = fx->st;
	struct fake f = { { "sccm", "pwr" }, 2, 0, 0 };
	struct cred_console_result res;
	struct seal_secret *pw = NULL;
	const char *renew[1] = { "pwr" }, *st_;
	int64_t id, ver;

	add(st, "a.example", NULL, NULL);
	add(st, "b.example", "b", &id);
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(res.devices, 2);
	assert_int_equal(res.granted, 5);
	assert_int_equal(res.withdrawn, 0);
	assert_int_equal(live(st, "console:sccm"), 2);
	assert_int_equal(live(st, "console:branchcon"), 1);
	/* Each is pending, a password by AMT's rules, its own. */
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM secret WHERE "
	    "kind GLOB 'console:*' AND state = 'pending' AND version = 1"), 5);
	assert_int_equal(cred_secret_get(st, ACTOR, "b.example",
	    "console:branchcon", CRED_VER_PENDING, &pw, &ver, &st_), CUST_OK);
	assert_int_equal(cred_pw_check(seal_secret_str(pw),
	    seal_secret_len(pw)), CUST_OK);
	assert_int_equal(seal_secret_len(pw), 24);
	seal_secret_free(pw);
	/* Again: nothing to do. */
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(res.granted + res.withdrawn, 0);
	/* Confirmed like an admin password; a sync keeps the current. */
	assert_int_equal(cred_confirm(st, ACTOR, "a.example", "console:pwr", 1),
	    CUST_OK);
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(res.granted + res.withdrawn, 0);
	/* pwr's user name changed: withdrawn and made again (v2). */
	assert_int_equal(sync_all(st, &f, renew, 1, &res), CUST_OK);
	assert_int_equal(res.withdrawn, 2);
	assert_int_equal(res.granted, 2);
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM secret WHERE "
	    "kind = 'console:pwr' AND version = 2 AND state = 'pending'"), 2);
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM secret WHERE "
	    "kind = 'console:pwr' AND version = 1 AND state = 'retired'"), 2);
	/* The policy stops granting pwr; b loses its tag's console. */
	f.nwant = 1;
	tu_sql(st, "DELETE FROM device_tag");
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(res.withdrawn, 3);
	assert_int_equal(res.granted, 0);
	assert_int_equal(live(st, "console:pwr"), 0);
	assert_int_equal(live(st, "console:branchcon"), 0);
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'credential.withdraw'"), 2 + 3);
	/* Granted again later: a new version, never a reused one. */
	f.nwant = 2;
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(res.granted, 2);
	assert_int_equal(tu_sql_int(st, "SELECT MAX(version) FROM secret WHERE "
	    "kind = 'console:pwr'"), 3);
	/* Removing a device retires its console credentials. */
	assert_int_equal(cred_device_remove(st, ACTOR, "b.example"), CUST_OK);
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM secret WHERE "
	    "device_id = (SELECT id FROM device WHERE fqdn = 'b.example') AND "
	    "kind GLOB 'console:*' AND state <> 'retired'"), 0);
	assert_int_equal(live(st, "console:sccm"), 1);
	/* A retired version cannot be confirmed back. */
	assert_int_equal(cred_confirm(st, ACTOR, "a.example", "console:pwr", 2),
	    CUST_E_CONFLICT);
}

/* Batches: a guard that fails stops the sync after what committed; a
 * second run finishes it; one device inside the caller's transaction. */
static void
test_batches(void **state)
{
	struct tu_fx *fx = *state;
	struct cust_state *st = fx->st;
	struct fake f = { { "sccm" }, 1, 0, 2 };
	struct cred_console_result res;
	struct cred_console_planner pl = { fake_plan, NULL, NULL, 0, &f };
	char fqdn[64];
	int64_t id;
	size_t i;
	int r;

	for (i = 0; i < CRED_CONSOLE_BATCH + 5; i++) {
		snprintf(fqdn, sizeof(fqdn), "h%04zu.example", i);
		add(st, fqdn, NULL, &id);
	}
	r = sync_all(st, &f, NULL, 0, &res);
	assert_int_equal(r, CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "sync again"));
	assert_int_equal(res.devices, CRED_CONSOLE_BATCH);
	assert_int_equal(live(st, "console:sccm"), CRED_CONSOLE_BATCH);
	f.stop_at = 0;
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(res.granted, 5);
	assert_int_equal(live(st, "console:sccm"), CRED_CONSOLE_BATCH + 5);
	/* One device, in the caller's transaction: rolled back with it. */
	f.want[0] = "other";
	assert_int_equal(store_begin(state_store(st)), CUST_OK);
	assert_int_equal(cred_console_sync(st, ACTOR, 0, id, 24, &pl, NULL,
	    NULL, &res), CUST_OK);
	assert_int_equal(res.devices, 1);
	assert_int_equal(res.granted, 1);
	assert_int_equal(res.withdrawn, 1);
	store_rollback(state_store(st));
	assert_int_equal(live(st, "console:other"), 0);
	/* Every device inside a transaction is refused (unbounded). */
	assert_int_equal(store_begin(state_store(st)), CUST_OK);
	assert_int_equal(cred_console_sync(st, ACTOR, 0, 0, 24, &pl, NULL,
	    NULL, &res), CUST_E_INTERNAL);
	store_rollback(state_store(st));
}

static void
test_list_and_kind(void **state)
{
	struct tu_fx *fx = *state;
	struct cust_state *st = fx->st;
	struct fake f = { { "sccm" }, 1, 0, 0 };
	struct cred_console_result res;
	char kind[CRED_KIND_MAX];
	json_t *items;

	add(st, "a.example", NULL, NULL);
	add(st, "b.example", "b", NULL);
	add(st, "c.example", NULL, NULL);
	assert_int_equal(sync_all(st, &f, NULL, 0, &res), CUST_OK);
	assert_int_equal(cred_console_list(st, "sccm", NULL, 2, &items),
	    CUST_OK);
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(items, 1), "fqdn")), "b.example");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(items, 0), "versions"), 0),
	    "version")), 1);
	assert_null(json_object_get(json_array_get(items, 0), "password"));
	json_decref(items);
	assert_int_equal(cred_console_list(st, "sccm", "b.example", 0, &items),
	    CUST_OK);
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	assert_int_equal(cred_console_list(st, "branchcon", NULL, 0, &items),
	    CUST_OK);
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	assert_int_equal(cred_console_kind("Ops-1.x", kind, sizeof(kind)),
	    CUST_OK);
	assert_string_equal(kind, "console:Ops-1.x");
	assert_int_equal(cred_console_kind("", kind, sizeof(kind)),
	    CUST_E_INVAL);
	assert_int_equal(cred_console_kind("a:b", kind, sizeof(kind)),
	    CUST_E_INVAL);
	assert_int_equal(cred_console_kind("-a", kind, sizeof(kind)),
	    CUST_E_INVAL);
	assert_int_equal(cred_console_list(st, "a b", NULL, 0, &items),
	    CUST_E_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batches, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_list_and_kind,
		    tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
