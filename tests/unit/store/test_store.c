/* SPDX-License-Identifier: MIT */
/* tests/unit/store/test_store.c - open checks, migrations, metadata. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

static void
test_migrations(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	struct store *st = NULL;
	const struct store_migration *m;

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	for (m = store_migrations; m->module != NULL; m++)
		assert_true(store_schema_version(st, m->module) >= m->version);
	assert_int_equal(store_schema_version(st, "nonexistent"), 0);
	store_close(st);
	/* Re-opening applies nothing twice. */
	assert_int_equal(store_open(p, 0, &st), CUST_OK);
	assert_int_equal(store_schema_version(st, "core"), 1);
	store_close(st);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

static void
test_meta(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	struct store *st = NULL;
	unsigned char *v = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	assert_int_equal(store_meta_get(st, "k", &v, &len), CUST_E_NOTFOUND);
	assert_int_equal(store_meta_set(st, "k", "abc", 3), CUST_OK);
	assert_int_equal(store_meta_set(st, "k", "abcd", 4), CUST_OK);
	assert_int_equal(store_meta_get(st, "k", &v, &len), CUST_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(v, "abcd", 4);
	free(v);
	/* Transactions: rollback discards. */
	assert_int_equal(store_begin(st), CUST_OK);
	assert_int_equal(store_begin(st), CUST_E_INTERNAL);
	assert_int_equal(store_meta_set(st, "k2", "x", 1), CUST_OK);
	store_rollback(st);
	assert_int_equal(store_meta_get(st, "k2", &v, &len), CUST_E_NOTFOUND);
	store_close(st);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Not a database, a damaged header, a truncated file: CUST_E_DB. */
static void
test_damaged(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	struct store *st = NULL;
	char *buf = NULL;
	size_t len = 0;
	int i;

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	assert_int_equal(store_begin(st), CUST_OK);
	for (i = 0; i < 2000; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(store_meta_set(st, k,
		    "0123456789abcdef0123456789abcdef", 32), CUST_OK);
	}
	assert_int_equal(store_commit(st), CUST_OK);
	assert_int_equal(store_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)"),
	    CUST_OK);
	store_close(st);
	assert_int_equal(util_read_file(p, 1 << 24, &buf, &len), CUST_OK);
	assert_true(len > 16384);

	/* truncated to half */
	assert_int_equal(util_write_file(p, buf, len / 2, 0600), CUST_OK);
	assert_int_equal(store_open(p, 0, &st), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "truncated"));

	/* garbage header */
	memcpy(buf, "garbage garbage garbage", 23);
	assert_int_equal(util_write_file(p, buf, len, 0600), CUST_OK);
	assert_int_equal(store_open(p, 0, &st), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "not a custody database"));

	/* a text file */
	assert_int_equal(util_write_file(p, "hello\n", 6, 0600), CUST_OK);
	assert_int_equal(store_open(p, 0, &st), CUST_E_DB);
	free(buf);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Row MACs as SQL functions: nothing without the key; with it a MAC
 * depends on the table, every column and its type; a mismatch fails the
 * statement naming the row, and store_tampered() says it was a MAC. */
static void
test_rowmac(void **state)
{
	struct tu_fx *f;
	struct store *st;
	sqlite3_stmt *s;
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	assert_int_equal(store_exec(st, "SELECT custody_mac('console', 1)"),
	    CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "need the unsealed data key"));
	store_close(st);
	tu_rmrf(dir);
	free(p);
	free(dir);

	assert_int_equal(tu_fx_setup((void **)&f), 0);
	st = state_store(f->st);
	assert_int_equal(store_exec(st, "INSERT INTO console(name, subject, "
	    "created) VALUES ('a', 'CN=a', 5), ('b', 'CN=a', 5)"), CUST_OK);
	assert_int_equal(store_row_reseal(st, STORE_RESEAL_CONSOLE, 1),
	    CUST_OK);
	assert_int_equal(store_row_reseal(st, STORE_RESEAL_CONSOLE, 2),
	    CUST_OK);
	assert_int_equal(store_row_reseal(st, STORE_RESEAL_CONSOLE, 9),
	    CUST_E_INTERNAL);
	/* Same content, other key: other MACs. */
	assert_int_equal(tu_sql_int(f->st, "SELECT (SELECT mac FROM console "
	    "WHERE id = 1) = (SELECT mac FROM console WHERE id = 2)"), 0);
	/* Other table, same values: another MAC. */
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('console', 1) "
	    "= custody_mac('policy', 1)"), 0);
	/* The type counts: text '5' is not the integer 5. */
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('console', 5) "
	    "= custody_mac('console', '5')"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('console', 5) "
	    "= custody_mac('console', 5)"), 1);
	/* A column added after rows had MACs (dir_object.members, ad/3)
	 * counts only when not NULL: a row without it keeps its MAC; once
	 * set, it is in the MAC (its value, and that it is there at all). */
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('dir_object', "
	    "1, 'group', 'AMT-p', 'CN=AMT-p', 'p', x'01', 'active', 5, 6) = "
	    "custody_mac('dir_object', 1, 'group', 'AMT-p', 'CN=AMT-p', 'p', "
	    "x'01', 'active', 5, 6, NULL)"), 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('dir_object', "
	    "1, 'group', 'AMT-p', 'CN=AMT-p', 'p', x'01', 'active', 5, 6) = "
	    "custody_mac('dir_object', 1, 'group', 'AMT-p', 'CN=AMT-p', 'p', "
	    "x'01', 'active', 5, 6, '[]')"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('dir_object', "
	    "1, 'group', 'AMT-p', 'CN=AMT-p', 'p', x'01', 'active', 5, 6, "
	    "'[\"a\"]') = custody_mac('dir_object', 1, 'group', 'AMT-p', "
	    "'CN=AMT-p', 'p', x'01', 'active', 5, 6, '[\"b\"]')"), 0);
	/* only a table that has one, and no more NULLs than it has */
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('console', 5) "
	    "= custody_mac('console', 5, NULL)"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT custody_mac('dir_object', "
	    "1, NULL) = custody_mac('dir_object', 1, NULL, NULL)"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM console WHERE "
	    STORE_CHECK(STORE_ROW_CONSOLE)), 2);
	assert_int_equal(store_exec(st, "UPDATE console SET created = 6 "
	    "WHERE id = 2"), CUST_OK);
	assert_int_equal(tu_sql_int(f->st, "SELECT sum("
	    STORE_MAC_OK(STORE_ROW_CONSOLE) ") FROM console"), 1);
	s = store_stmt(st, "SELECT name, " STORE_CHECK(STORE_ROW_CONSOLE)
	    " FROM console ORDER BY id");
	assert_non_null(s);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_step(s), SQLITE_ERROR);
	assert_int_equal(store_err(st, "read"), CUST_E_DB);
	assert_int_equal(store_tampered(st), 1);
	assert_non_null(strstr(cust_errmsg(), "read: row console(id=2) was "
	    "altered outside custody (its MAC does not match)"));
	sqlite3_reset(s);
	/* The next error that is not a MAC clears it. */
	assert_int_equal(store_exec(st, "SELECT * FROM nosuchtable"),
	    CUST_E_DB);
	assert_int_equal(store_tampered(st), 0);
	/* No MAC at all; and names are printed without control bytes. */
	assert_int_equal(store_exec(st, "UPDATE console SET mac = NULL, name = "
	    "'x' WHERE id = 1"), CUST_OK);
	assert_int_equal(store_exec(st, "SELECT " STORE_CHECK(STORE_ROW_CONSOLE)
	    " FROM console WHERE id = 1"), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "row console(id=1) was altered "
	    "outside custody (it has no MAC)"));
	assert_int_equal(store_exec(st, "SELECT custody_row(x'00', 'secret', "
	    "1, 'ad' || char(27) || 'min', 3)"), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "row secret(device_id=1, "
	    "kind=ad?min, version=3)"));
	assert_int_equal(tu_fx_teardown((void **)&f), 0);
}

/* Is s among the connection's live prepared statements? (Compares
 * pointers only: never touches a statement that may have been freed.) */
static int
stmt_live(struct store *st, sqlite3_stmt *s)
{
	sqlite3_stmt *p = NULL;

	while ((p = sqlite3_next_stmt(store_db(st), p)) != NULL)
		if (p == s)
			return 1;
	return 0;
}

#define NSQL 200
#define SQL_HELD "SELECT n FROM t ORDER BY n"

/*
 * The statement cache never finalises a statement a caller still holds:
 * an outer loop stepping through rows while the calls it makes prepare
 * more distinct statements than the cache once held (128, after which it
 * finalised its oldest slot, the outer loop's statement).
 */
static void
test_stmt_cache_held(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	static char sql[NSQL][48];
	struct store *st = NULL;
	sqlite3_stmt *held, *s;
	int i, n = 0;

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	assert_int_equal(store_exec(st, "CREATE TABLE t(n INTEGER);"
	    "INSERT INTO t VALUES (1), (2), (3)"), CUST_OK);
	held = store_stmt(st, SQL_HELD);
	assert_non_null(held);
	assert_int_equal(sqlite3_step(held), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(held, 0), 1);
	for (i = 0; i < NSQL; i++) {
		snprintf(sql[i], sizeof(sql[i]), "SELECT %d", i);
		s = store_stmt(st, sql[i]);
		assert_non_null(s);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(s, 0), i);
		sqlite3_reset(s);
		assert_true(stmt_live(st, held));
	}
	/* The outer loop goes on where it was. */
	while (sqlite3_step(held) == SQLITE_ROW)
		n = sqlite3_column_int(held, 0);
	assert_int_equal(n, 3);
	sqlite3_reset(held);
	/* Cached: the same statement again, reset. */
	assert_ptr_equal(store_stmt(st, SQL_HELD), held);
	assert_ptr_equal(store_stmt(st, sql[0]), store_stmt(st, sql[0]));
	store_close(st);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Built SQL passed as keys would grow the cache without end: past
 * STORE_STMT_MAX it refuses (CUST_E_INTERNAL) and finalises nothing. */
static void
test_stmt_cache_limit(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	char (*sql)[24] = calloc(STORE_STMT_MAX + 1, sizeof(*sql));
	struct store *st = NULL;
	sqlite3_stmt *first = NULL, *s;
	int i, nlive = 0;

	(void)state;
	assert_non_null(sql);
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	/* The store prepared some of its own on the way. */
	while (nlive < STORE_STMT_MAX) {
		for (i = 0, s = NULL; (s = sqlite3_next_stmt(store_db(st), s));)
			i++;
		if (i == STORE_STMT_MAX)
			break;
		snprintf(sql[nlive], sizeof(sql[nlive]), "SELECT %d", nlive);
		s = store_stmt(st, sql[nlive]);
		assert_non_null(s);
		if (first == NULL) {
			first = s;
			assert_int_equal(sqlite3_step(first), SQLITE_ROW);
		}
		nlive++;
	}
	snprintf(sql[nlive], sizeof(sql[nlive]), "SELECT %d", nlive);
	assert_null(store_stmt(st, sql[nlive]));
	assert_non_null(strstr(cust_errmsg(), "distinct SQL statements"));
	assert_true(stmt_live(st, first));
	assert_int_equal(sqlite3_column_int(first, 0), 0);
	/* Those it has are still served. */
	assert_ptr_equal(store_stmt(st, sql[0]), first);
	store_close(st);
	free(sql);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Statements compiled for a transaction's BEGIN, COMMIT or ROLLBACK
 * (the authorizer runs when SQLite compiles a statement, not when it
 * runs one). */
static int
count_tx_prepare(void *arg, int action, const char *a, const char *b,
    const char *c, const char *d)
{
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	if (action == SQLITE_TRANSACTION)
		(*(int *)arg)++;
	return SQLITE_OK;
}

/* BEGIN, COMMIT and ROLLBACK are compiled once per connection, not at
 * every transaction (custodyd runs two per secret read and two per audit
 * batch: parsing them again was a tenth of a read's CPU). */
static void
test_txn_statements_cached(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	struct store *st = NULL;
	int i, compiled = 0;

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &st), CUST_OK);
	sqlite3_set_authorizer(store_db(st), count_tx_prepare, &compiled);
	for (i = 0; i < 10; i++) {
		assert_int_equal(store_begin(st), CUST_OK);
		assert_false(store_in_read_txn(st));
		assert_int_equal(store_meta_set(st, "k", "v", 1), CUST_OK);
		assert_int_equal(store_commit(st), CUST_OK);
		assert_int_equal(store_begin_read(st), CUST_OK);
		assert_true(store_in_read_txn(st));
		store_rollback(st);
		assert_false(store_in_read_txn(st));
		/* Installing the authorizer expired every statement: the
		 * first round compiles each one again, once. */
		if (i == 0)
			compiled = 0;
	}
	assert_int_equal(compiled, 0);
	/* What they did: the writes committed, the reads ended. */
	assert_int_equal(sqlite3_get_autocommit(store_db(st)), 1);
	sqlite3_set_authorizer(store_db(st), NULL, NULL);
	store_close(st);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/*
 * Opening a second connection to a store must not drop the POSIX locks
 * of the first (custodyd opens one per worker): in WAL mode each open
 * connection holds a shared lock on the database file, which tells
 * another process closing its own connection that it is not the last
 * one (else it checkpoints and deletes the WAL under this process). A
 * child process looks for that lock with F_GETLK (a process never
 * conflicts with its own locks).
 */
static int
child_sees_shared_lock(const char *path)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl;
		int fd = open(path, O_RDONLY);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = 0x40000002;	/* SQLite's SHARED range */
		fl.l_len = 510;
		if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0)
			_exit(2);
		_exit(fl.l_type == F_RDLCK ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 2);
	return WEXITSTATUS(status) == 0;
}

static void
test_second_open_keeps_locks(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "t.db");
	struct store *a = NULL, *b = NULL;
	unsigned char *v = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(store_open(p, STORE_CREATE, &a), CUST_OK);
	assert_int_equal(store_meta_set(a, "k", "v", 1), CUST_OK);
	/* a's read leaves it holding its shared lock, as WAL does. */
	assert_int_equal(store_meta_get(a, "k", &v, &len), CUST_OK);
	free(v);
	assert_true(child_sees_shared_lock(p));
	assert_int_equal(store_open(p, 0, &b), CUST_OK);
	assert_true(child_sees_shared_lock(p));
	store_close(b);
	store_close(a);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations),
		cmocka_unit_test(test_second_open_keeps_locks),
		cmocka_unit_test(test_meta),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_rowmac),
		cmocka_unit_test(test_stmt_cache_held),
		cmocka_unit_test(test_stmt_cache_limit),
		cmocka_unit_test(test_txn_statements_cached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
