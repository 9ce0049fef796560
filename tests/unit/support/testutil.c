/* SPDX-License-Identifier: MIT */
/* tests/unit/support/testutil.c - shared helpers for unit tests. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "ops.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

char *
tu_tmpdir(void)
{
	const char *base = getenv("TESTTMP");
	char *t;

	if (asprintf(&t, "%s/cust.XXXXXX", base && *base ? base : "/tmp") < 0)
		fail_msg("asprintf");
	if (mkdtemp(t) == NULL)
		fail_msg("mkdtemp %s", t);
	return t;
}

void
tu_rmrf(const char *path)
{
	char *cmd;

	if (asprintf(&cmd, "rm -rf '%s'", path) < 0)
		return;
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
	free(cmd);
}

int
tu_count_names(const char *dir, const char *sub)
{
	struct dirent *de;
	DIR *dp = opendir(dir);
	int n = 0;

	if (dp == NULL)
		fail_msg("opendir %s", dir);
	while ((de = readdir(dp)) != NULL)
		if (strstr(de->d_name, sub) != NULL)
			n++;
	closedir(dp);
	return n;
}

struct cust_state *
tu_state_new(char **dir_out)
{
	struct cust_state *st = NULL;
	char *base, *dir;

	assert_int_equal(cust_init(), CUST_OK);
	base = tu_tmpdir();
	dir = util_path(base, "state");
	free(base);
	if (state_init(dir, 0, &st) != CUST_OK)
		fail_msg("state_init: %s", cust_errmsg());
	*dir_out = dir;
	return st;
}

void
tu_state_free(struct cust_state *st, char *dir)
{
	char *base;

	state_close(st);
	util_test_clock(0, 0);
	if (dir == NULL)
		return;
	base = strdup(dir);
	if (base != NULL && strrchr(base, '/') != NULL)
		*strrchr(base, '/') = '\0';
	tu_rmrf(base ? base : dir);
	free(base);
	free(dir);
}

long long
tu_sql_int(struct cust_state *st, const char *sql)
{
	sqlite3_stmt *s;
	long long v;

	if (sqlite3_prepare_v2(store_db(state_store(st)), sql, -1, &s, NULL) !=
	    SQLITE_OK)
		fail_msg("prepare %s: %s", sql,
		    sqlite3_errmsg(store_db(state_store(st))));
	if (sqlite3_step(s) != SQLITE_ROW)
		fail_msg("no row from %s", sql);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

int
tu_fx_setup(void **state)
{
	struct tu_fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->st = tu_state_new(&f->dir);
	*state = f;
	return 0;
}

int
tu_fx_teardown(void **state)
{
	struct tu_fx *f = *state;

	tu_state_free(f->st, f->dir);
	free(f);
	return 0;
}

void
tu_clock_to(int64_t t)
{
	util_test_clock(0, 0);
	util_test_clock(t - util_now(), 0);
}

void
tu_sql(struct cust_state *st, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(store_db(state_store(st)), sql, NULL, NULL, &err) !=
	    SQLITE_OK) {
		fail_msg("sql %s: %s", sql, err ? err : "?");
	}
}

void
tu_sql_mac(struct cust_state *st, const char *sql)
{
	tu_sql(st, sql);
	tu_sql(st, "UPDATE secret SET mac = " STORE_MAC(STORE_ROW_SECRET) ";"
	    "UPDATE ca_gen SET mac = " STORE_MAC(STORE_ROW_CA_GEN) ";"
	    "UPDATE ca_key SET mac = " STORE_MAC(STORE_ROW_CA_KEY) ";"
	    "UPDATE cert SET mac = " STORE_MAC(STORE_ROW_CERT) ";"
	    "UPDATE console SET mac = " STORE_MAC(STORE_ROW_CONSOLE) ";"
	    "UPDATE policy SET mac = " STORE_MAC(STORE_ROW_POLICY));
}

static struct ops_identity *local_id;

static void
free_local(void)
{
	ops_identity_free(local_id);
	local_id = NULL;
}

const struct ops_identity *
tu_local(void)
{
	if (local_id == NULL) {
		if (ops_identity_new(OPS_ID_LOCAL, "t", &local_id) != CUST_OK)
			fail_msg("local identity: %s", cust_errmsg());
		atexit(free_local);
	}
	return local_id;
}

long long
tu_dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
		fprintf(stderr, "tu_dead_pid: fork or waitpid failed\n");
		abort();
	}
	return (long long)pid;
}
