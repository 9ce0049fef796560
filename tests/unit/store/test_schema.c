/* SPDX-License-Identifier: MIT */
/* tests/unit/store/test_schema.c - the schema's decisions that must hold
 * before data depends on them: the secret kinds and states (migration
 * secretmodel/1), and what that migration costs on a full-size store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "err.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

/* 1 when the SQL statement runs, 0 when a constraint refuses it. */
static int
runs(struct cust_state *st, const char *sql)
{
	int rc = sqlite3_exec(store_db(state_store(st)), sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_CONSTRAINT)
		fail_msg("%s: %s", sql,
		    sqlite3_errmsg(store_db(state_store(st))));
	return rc == SQLITE_OK;
}

#define INS "INSERT INTO secret(device_id, kind, version, state, sealed, " \
	"created, changed) VALUES (1, "

static void
test_kinds_states(void **state)
{
	struct tu_fx *f = *state;

	tu_sql(f->st, "INSERT INTO device(id, fqdn, created) VALUES (1, "
	    "'a.corp.example', 0)");
	/* Every kind to come. */
	assert_true(runs(f->st, INS "'admin', 1, 'current', x'00', 0, 0)"));
	assert_true(runs(f->st, INS "'mebx', 1, 'current', x'00', 0, 0)"));
	assert_true(runs(f->st, INS "'console:sccm', 1, 'current', x'00', 0, "
	    "0)"));
	assert_true(runs(f->st, INS "'directory:svc-amt', 1, 'current', "
	    "x'00', 0, 0)"));
	assert_false(runs(f->st, INS "'console:', 1, 'current', x'00', 0, 0)"));
	assert_false(runs(f->st, INS "'Admin', 1, 'current', x'00', 0, 0)"));
	assert_false(runs(f->st, INS "'kerberos:x', 1, 'current', x'00', 0, "
	    "0)"));
	/* Every state: pushed (sent, outcome unknown) among them. */
	assert_true(runs(f->st, INS "'admin', 2, 'pushed', x'00', 0, 0)"));
	assert_true(runs(f->st, INS "'mebx', 2, 'pending', x'00', 0, 0)"));
	assert_true(runs(f->st, INS "'console:sccm', 0, 'retired', x'00', 0, "
	    "0)"));
	assert_true(runs(f->st, INS "'console:sccm', 2, 'failed', x'00', 0, "
	    "0)"));
	assert_false(runs(f->st, INS "'directory:svc-amt', 2, 'verified', "
	    "x'00', 0, 0)"));
	/* One in flight per device and kind: pending or pushed, not both. */
	assert_false(runs(f->st, INS "'admin', 3, 'pending', x'00', 0, 0)"));
	assert_false(runs(f->st, INS "'mebx', 3, 'pushed', x'00', 0, 0)"));
	assert_true(runs(f->st, INS "'console:sccm', 3, 'pushed', x'00', 0, "
	    "0)"));
	/* One current. */
	assert_false(runs(f->st, INS "'admin', 4, 'current', x'00', 0, 0)"));
}

/* The secret table as cred/1 and rowmac/1 left it (the fixture of a store
 * from before secretmodel/1). */
static const char old_secret[] =
    "CREATE TABLE secret_old("
    "  device_id INTEGER NOT NULL REFERENCES device(id),"
    "  kind TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state = 'pending' OR"
    "    state = 'current' OR state = 'retired' OR state = 'failed'),"
    "  sealed BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  changed INTEGER NOT NULL,"
    "  mac BLOB,"
    "  PRIMARY KEY (device_id, kind, version)) WITHOUT ROWID;"
    "INSERT INTO secret_old SELECT device_id, kind, version, state, sealed, "
    "  created, changed, mac FROM secret;"
    "DROP TABLE secret;"
    "ALTER TABLE secret_old RENAME TO secret;"
    "CREATE UNIQUE INDEX secret_one_pending ON secret(device_id, kind)"
    "  WHERE state = 'pending';"
    "CREATE UNIQUE INDEX secret_one_current ON secret(device_id, kind)"
    "  WHERE state = 'current';"
    "DELETE FROM schema_version WHERE module = 'secretmodel';";

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * A store from before secretmodel/1 with CUSTODY_TEST_DEVICES devices
 * (default 100k: the design point), an admin and a MEBx secret each with
 * their MACs, is opened: the migration rebuilds `secret`, every row keeps
 * its valid MAC, and the new states are accepted. Prints the time.
 */
static void
test_rebuild_at_scale(void **state)
{
	struct cust_state *st;
	struct timespec t0;
	const char *env = getenv("CUSTODY_TEST_DEVICES");
	long n = 100000;
	char sql[1024], *dir = NULL;
	sqlite3 *db = NULL;
	double mig, plain;

	if (env != NULL)
		assert_int_equal(util_parse_long(env, 1, 10000000, &n), CUST_OK);
	st = tu_state_new(&dir);
	snprintf(sql, sizeof(sql), "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 "
	    "UNION ALL SELECT i + 1 FROM n WHERE i < %ld) INSERT INTO "
	    "device(id, fqdn, created) SELECT i, 'd' || i || '.corp.example', "
	    "0 FROM n; INSERT INTO secret(device_id, kind, version, state, "
	    "sealed, created, changed) SELECT d.id, k.kind, 1, 'current', "
	    "randomblob(72), 0, 0 FROM device d CROSS JOIN (SELECT 'admin' AS "
	    "kind UNION ALL SELECT 'mebx') k ORDER BY 1, 2; UPDATE secret SET "
	    "mac = " STORE_MAC(STORE_ROW_SECRET) "; COMMIT;", n);
	tu_sql(st, sql);
	state_close(st);
	/* Back to the old table, as an older custody left it. */
	snprintf(sql, sizeof(sql), "%s/custody.db", dir);
	assert_int_equal(sqlite3_open(sql, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, old_secret, NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (state_open(dir, &st) != CUST_OK)
		fail_msg("state_open: %s", cust_errmsg());
	mig = ms_since(&t0);
	assert_int_equal(store_schema_version(state_store(st), "secretmodel"),
	    1);
	assert_int_equal(tu_sql_int(st, "SELECT count(*) FROM secret"), 2 * n);
	/* Every row kept its MAC, and it still verifies. */
	assert_int_equal(tu_sql_int(st, "SELECT count(*) FROM secret WHERE "
	    STORE_MAC_OK(STORE_ROW_SECRET)), 2 * n);
	/* The counting triggers of cred/2, dropped with the old table, are
	 * there again and count. */
	assert_int_equal(tu_sql_int(st, "SELECT count(*) FROM sqlite_schema "
	    "WHERE type = 'trigger' AND tbl_name = 'secret'"), 3);
	assert_int_equal(tu_sql_int(st, "SELECT n FROM cred_count WHERE "
	    "name = 'secret:pending'"), 0);
	tu_sql(st, "UPDATE secret SET state = 'pending' WHERE device_id = 2 "
	    "AND kind = 'admin'");
	assert_int_equal(tu_sql_int(st, "SELECT n FROM cred_count WHERE "
	    "name = 'secret:pending'"), 1);
	/* The new state is accepted. */
	tu_sql(st, "UPDATE secret SET state = 'pushed' WHERE device_id = 1 "
	    "AND kind = 'admin'");
	state_close(st);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (state_open(dir, &st) != CUST_OK)
		fail_msg("state_open: %s", cust_errmsg());
	plain = ms_since(&t0);
	print_message("secretmodel/1 at %ld devices (%ld secret rows): open "
	    "with the rebuild %.0f ms, open without %.0f ms: rebuild ~%.0f "
	    "ms\n", n, 2 * n, mig, plain, mig - plain);
	tu_state_free(st, dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kinds_states, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test(test_rebuild_at_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
