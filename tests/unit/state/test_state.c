/* SPDX-License-Identifier: MIT */
/* tests/unit/state/test_state.c - the state directory as one unit: its
 * lock, the undo of a failed init, the owner and link checks, the file
 * renames a commit leaves pending, and what the opaque state hands out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

static int
exists(const char *dir, const char *name)
{
	char *p = util_path(dir, name);
	struct stat sb;
	int r = lstat(p, &sb) == 0;

	free(p);
	return r;
}

/* A process using the state (shared lock) keeps init --force out. */
static void
test_lock(void **state)
{
	struct tu_fx *f = *state;
	struct cust_state *st = NULL, *st2 = NULL;

	assert_int_equal(store_meta_set(state_store(f->st), "t.mark", "x", 1),
	    CUST_OK);
	state_close(f->st);
	f->st = NULL;
	assert_int_equal(state_open(f->dir, &st), CUST_OK);
	assert_int_equal(state_open(f->dir, &st2), CUST_OK);	/* shared */
	state_close(st2);
	st2 = NULL;
	assert_int_equal(state_init(f->dir, 1, &st2), CUST_E_UNAVAIL);
	assert_null(st2);
	assert_non_null(strstr(cust_errmsg(), "in use by another"));
	/* Nothing was wiped under the open state. */
	assert_true(exists(f->dir, "custody.db"));
	assert_true(exists(f->dir, "seal/master.key"));
	state_close(st);
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM meta WHERE "
	    "key = 't.mark'"), 1);
	/* While an init holds it, opening waits, then gives up. */
	state_close(f->st);
	f->st = NULL;
	assert_int_equal(state_init(f->dir, 1, &st2), CUST_OK);
	assert_int_equal(state_open(f->dir, &st), CUST_E_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(), "locked by another process"));
	f->st = st2;
}

/* The undo of an init removes what it created and nothing else. */
static void
test_undo(void **state)
{
	char *base = tu_tmpdir(), *dir = util_path(base, "s"), *p;
	struct cust_state *st = NULL;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	p = util_path(dir, "ca");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = util_path(dir, "ca/theirs.pem");
	assert_int_equal(util_write_file(p, "x", 1, 0644), CUST_OK);
	free(p);
	assert_int_equal(state_init(dir, 0, &st), CUST_OK);
	p = util_path(dir, "ca/new.pem");
	assert_int_equal(util_write_file(p, "y", 1, 0644), CUST_OK);
	free(p);
	assert_int_equal(state_init_undo(st), CUST_OK);
	assert_true(exists(dir, "ca/theirs.pem"));
	assert_false(exists(dir, "ca/new.pem"));
	assert_false(exists(dir, "custody.db"));
	assert_false(exists(dir, "seal"));	/* made by the init */
	assert_true(exists(dir, "ca"));		/* was there before */
	/* What is left is no state, not a damaged one. */
	assert_int_equal(state_open(dir, &st), CUST_E_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(), "no custody state"));
	/* A directory the init made goes entirely. */
	free(dir);
	dir = util_path(base, "new/s");
	assert_int_equal(state_init(dir, 0, &st), CUST_OK);
	assert_int_equal(state_init_undo(st), CUST_OK);
	assert_false(exists(base, "new/s"));
	free(dir);
	tu_rmrf(base);
	free(base);
}

/* Subdirectories that are links, and directories open to others, are
 * refused; init --force does not wipe through a link. */
static void
test_refused(void **state)
{
	struct tu_fx *f = *state;
	char *tls = util_path(f->dir, "tls"), *aside, *key;
	struct cust_state *st = NULL;

	state_close(f->st);
	f->st = NULL;
	assert_true(asprintf(&aside, "%s.real", f->dir) > 0);
	assert_int_equal(rename(tls, aside), 0);
	assert_int_equal(symlink(aside, tls), 0);
	key = util_path(aside, "server.key");
	assert_int_equal(util_write_file(key, "k", 1, 0600), CUST_OK);
	assert_int_equal(state_open(f->dir, &st), CUST_E_PERM);
	assert_non_null(strstr(cust_errmsg(), "symbolic link"));
	assert_int_equal(state_init(f->dir, 1, &st), CUST_E_PERM);
	assert_int_equal(access(key, F_OK), 0);		/* not wiped */
	free(key);
	assert_int_equal(unlink(tls), 0);
	assert_int_equal(rename(aside, tls), 0);
	assert_int_equal(chmod(f->dir, 0750), 0);	/* read-only: fine */
	if (state_open(f->dir, &st) != CUST_OK)
		fail_msg("%s", cust_errmsg());
	state_close(st);
	assert_int_equal(chmod(f->dir, 0720), 0);
	assert_int_equal(state_open(f->dir, &st), CUST_E_PERM);
	assert_non_null(strstr(cust_errmsg(), "writable by group"));
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(chmod(tls, 0702), 0);
	assert_int_equal(state_open(f->dir, &st), CUST_E_PERM);
	assert_int_equal(chmod(tls, 0700), 0);
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	free(aside);
	free(tls);
}

/* Renames recorded with a commit are carried out by the next open when
 * the process that committed did not get to them. */
static void
test_pending(void **state)
{
	struct tu_fx *f = *state;
	char *p = util_path(f->dir, "tls/x.pem.new.t1"), *q = NULL, *buf;
	size_t len;

	assert_int_equal(util_write_file(p, "new\n", 4, 0644), CUST_OK);
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	assert_int_equal(state_files_pending(f->st,
	    "tls/x.pem.new.t1\ttls/x.pem\n"), CUST_OK);
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
	/* The process dies here. */
	state_close(f->st);
	f->st = NULL;
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_int_equal(access(p, F_OK), -1);
	q = util_path(f->dir, "tls/x.pem");
	assert_int_equal(util_read_file(q, 100, &buf, &len), CUST_OK);
	assert_string_equal(buf, "new\n");
	free(buf);
	/* A list that would rename anything else is refused. */
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	assert_int_equal(store_meta_set(state_store(f->st), "files.pending",
	    "seal/master.key\ttls/x.pem\n", 26), CUST_OK);
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
	assert_int_equal(state_files_finish(f->st), CUST_E_DB);
	assert_int_equal(access(q, F_OK), 0);
	free(p);
	free(q);
}

/* The CA cache slot: a cache replaced or left at close is freed once. */
static int cache_freed;

static void
count_free(void *cache)
{
	cache_freed++;
	free(cache);
}

/* What an opened state hands out through its accessors. */
static void
test_accessors(void **state)
{
	struct tu_fx *f = *state;
	struct cust_state *st = NULL;
	struct stat a, b;
	void *c1, *c2;
	int64_t bad, n, seq;
	unsigned char hash[32];

	/* The fixture's state is init's (exclusive lock): reopen it. */
	state_close(f->st);
	f->st = NULL;
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_string_equal(state_dir(f->st), f->dir);
	/* dirfd is the directory itself */
	assert_int_equal(fstat(state_dirfd(f->st), &a), 0);
	assert_int_equal(stat(f->dir, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	assert_int_equal(store_meta_set(state_store(f->st), "t.acc", "y", 1),
	    CUST_OK);
	assert_int_equal(audit_append(state_audit(f->st), "t", "t.acc", "x",
	    "ok", NULL), CUST_OK);
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
	assert_int_equal(audit_head(state_audit(f->st), &seq, hash), CUST_OK);
	assert_int_equal(audit_verify(state_audit(f->st), &bad, &n), CUST_OK);
	assert_int_equal(n, seq);
	assert_non_null(state_seal(f->st));
	assert_non_null(state_scratch(f->st));
	assert_true(seal_secret_len(state_scratch(f->st)) >= STATE_SCRATCH);

	/* Two states of one directory: each its own store and cache. */
	assert_int_equal(state_open(f->dir, &st), CUST_OK);
	assert_ptr_not_equal(state_store(st), state_store(f->st));
	assert_null(state_ca_cache(st));
	cache_freed = 0;
	assert_non_null(c1 = malloc(1));
	assert_non_null(c2 = malloc(1));
	state_set_ca_cache(st, c1, count_free);
	assert_ptr_equal(state_ca_cache(st), c1);
	assert_null(state_ca_cache(f->st));
	state_set_ca_cache(st, c1, count_free);	/* the same: kept */
	assert_int_equal(cache_freed, 0);
	state_set_ca_cache(st, c2, count_free);	/* replaced: c1 freed */
	assert_int_equal(cache_freed, 1);
	assert_ptr_equal(state_ca_cache(st), c2);
	state_close(st);			/* c2 freed with the state */
	assert_int_equal(cache_freed, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lock, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test(test_undo),
		cmocka_unit_test_setup_teardown(test_refused, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_pending, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_accessors, tu_fx_setup,
		    tu_fx_teardown),
	};

	assert_int_equal(cust_init(), CUST_OK);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
