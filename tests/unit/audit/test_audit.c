/* SPDX-License-Identifier: MIT */
/* tests/unit/audit/test_audit.c - the hash chain catches every kind of
 * tampering: a modified, a deleted, a reordered entry, a cut tail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

/* A state with 6 entries: state has none; append 6. The triggers that make
 * the table append-only are dropped so the tests can play the attacker
 * who edits the database file directly. */
static int
setup(void **state)
{
	struct tu_fx *f;
	char obj[32];
	int i;

	if (tu_fx_setup(state) != 0)
		return -1;
	f = *state;
	for (i = 1; i <= 6; i++) {
		snprintf(obj, sizeof(obj), "host%d.example.org", i);
		assert_int_equal(audit_append(state_audit(f->st), "tester",
		    "device.add", obj, "ok", i % 2 ? NULL : "detail"), CUST_OK);
	}
	tu_sql(f->st, "DROP TRIGGER audit_no_update;"
	    "DROP TRIGGER audit_no_delete;");
	return 0;
}

static int64_t
verify(struct tu_fx *f, int want)
{
	int64_t bad = -1, n = -1;

	assert_int_equal(audit_verify(state_audit(f->st), &bad, &n), want);
	return bad;
}

static void
test_intact(void **state)
{
	struct tu_fx *f = *state;
	int64_t bad, n;

	assert_int_equal(audit_verify(state_audit(f->st), &bad, &n), CUST_OK);
	assert_int_equal(n, 6);
	assert_int_equal(bad, 0);
}

static void
test_modified(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "UPDATE audit SET result = 'refused' WHERE seq = 3");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 3);
	assert_non_null(strstr(cust_errmsg(), "modified"));
}

static void
test_modified_time(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "UPDATE audit SET time = time + 1 WHERE seq = 5");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 5);
}

static void
test_deleted(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "DELETE FROM audit WHERE seq = 3");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 4);
	assert_non_null(strstr(cust_errmsg(), "missing"));
}

/* Deleting an entry and renumbering the rest to hide the gap breaks the
 * chain at the renumbered entry. */
static void
test_deleted_renumbered(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "DELETE FROM audit WHERE seq = 3;"
	    "UPDATE audit SET seq = seq - 1 WHERE seq > 3");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 3);
}

/* Swapping the contents (not the sequence numbers) of two entries. */
static void
test_reordered(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "UPDATE audit SET seq = -2 WHERE seq = 2;"
	    "UPDATE audit SET seq = 2 WHERE seq = 4;"
	    "UPDATE audit SET seq = 4 WHERE seq = -2;");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 2);
	assert_non_null(strstr(cust_errmsg(), "chain"));
}

static void
test_tail_cut(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "DELETE FROM audit WHERE seq = 6");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 6);
	assert_non_null(strstr(cust_errmsg(), "at the end"));
}

/* Cut the tail and point the head at the new last entry: the head is
 * MAC'd, so the rewritten head is refused. */
static void
test_tail_cut_head_rewritten(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "DELETE FROM audit WHERE seq = 6;"
	    "UPDATE meta SET value = (SELECT x'0000000000000005' || hash || "
	    "substr(value, 41) FROM audit WHERE seq = 5) "
	    "WHERE key = 'audit.head'");
	verify(f, CUST_E_VIOLATION);
	assert_non_null(strstr(cust_errmsg(), "forged"));
}

/* Wiping the whole log and its head is not "intact: 0 entries". */
static void
test_wiped(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "DELETE FROM audit; DELETE FROM meta WHERE key = "
	    "'audit.head'");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 1);
	assert_non_null(strstr(cust_errmsg(), "wiped"));
}

/* After the tail was cut, the next append refuses to chain onto it (the
 * log would otherwise heal itself and hide the cut). */
static void
test_append_after_cut(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "DELETE FROM audit WHERE seq = 6");
	assert_int_equal(audit_append(state_audit(f->st), "t", "password.show",
	    "x.example.org", "ok", NULL), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "does not end where"));
	assert_int_equal(verify(f, CUST_E_VIOLATION), 6);
}

/* Without the key, recomputing an unkeyed hash does not help: copy entry
 * 2's hash fields onto a forged entry 2. */
static void
test_forged(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "UPDATE audit SET actor = 'mallory', hash = "
	    "(SELECT hash FROM audit WHERE seq = 2) WHERE seq = 2");
	assert_int_equal(verify(f, CUST_E_VIOLATION), 2);
}

/* The store itself refuses updates and deletes of audit rows. */
static void
test_append_only(void **state)
{
	struct cust_state *st;
	char *dir;
	char *err = NULL;

	(void)state;
	st = tu_state_new(&dir);
	assert_int_equal(audit_append(state_audit(st), "t", "a", "o", "ok",
	    NULL), CUST_OK);
	assert_int_not_equal(sqlite3_exec(store_db(state_store(st)),
	    "UPDATE audit SET result = 'x'", NULL, NULL, &err), SQLITE_OK);
	sqlite3_free(err);
	err = NULL;
	assert_int_not_equal(sqlite3_exec(store_db(state_store(st)),
	    "DELETE FROM audit", NULL, NULL, &err), SQLITE_OK);
	sqlite3_free(err);
	tu_state_free(st, dir);
}

static int
count_cb(void *arg, const struct audit_entry *e)
{
	(*(int *)arg)++;
	assert_non_null(e->action);
	return 0;
}

static void
test_list(void **state)
{
	struct tu_fx *f = *state;
	int n = 0;

	assert_int_equal(audit_list(state_audit(f->st), 0, 0, NULL, count_cb,
	    &n), CUST_OK);
	assert_int_equal(n, 6);
	n = 0;
	assert_int_equal(audit_list(state_audit(f->st), 2, 3, NULL, count_cb,
	    &n), CUST_OK);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(audit_list(state_audit(f->st), 0, 0,
	    "host4.example.org", count_cb, &n), CUST_OK);
	assert_int_equal(n, 1);
}

/* audit_note() never ends the caller's transaction: inside one it records
 * nothing and says so; outside it appends. Either way the caller's error
 * message stays. */
static void
test_note_explicit(void **state)
{
	struct tu_fx *f = *state;
	struct store *s = state_store(f->st);
	int64_t bad, n;

	assert_int_equal(store_begin(s), CUST_OK);
	cust_fail(CUST_E_INVAL, "the caller's own error");
	assert_int_equal(audit_note(state_audit(f->st), "tester", "device.add",
	    "x.example.org", "refused", "in a transaction"), CUST_E_INTERNAL);
	assert_true(store_in_txn(s));		/* not rolled back */
	assert_string_equal(cust_errmsg(), "the caller's own error");
	store_rollback(s);
	assert_int_equal(audit_verify(state_audit(f->st), &bad, &n), CUST_OK);
	assert_int_equal(n, 6);			/* nothing recorded */
	assert_int_equal(audit_note(state_audit(f->st), "tester", "device.add",
	    "x.example.org", "refused", "on its own"), CUST_OK);
	assert_string_equal(cust_errmsg(), "the caller's own error");
	assert_int_equal(audit_verify(state_audit(f->st), &bad, &n), CUST_OK);
	assert_int_equal(n, 7);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, tu_fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_intact), T(test_modified), T(test_modified_time),
		T(test_deleted), T(test_deleted_renumbered), T(test_reordered),
		T(test_tail_cut), T(test_tail_cut_head_rewritten),
		T(test_wiped), T(test_append_after_cut), T(test_forged),
		T(test_list), T(test_note_explicit),
		cmocka_unit_test(test_append_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
