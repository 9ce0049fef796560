/* SPDX-License-Identifier: MIT */
/* tests/unit/store/test_store.c - open checks, migrations, metadata. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations),
		cmocka_unit_test(test_meta),
		cmocka_unit_test(test_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
