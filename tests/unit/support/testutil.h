/* SPDX-License-Identifier: MIT */
/* tests/unit/support/testutil.h - shared helpers for cmocka unit tests. */
#ifndef CUST_TESTUTIL_H
#define CUST_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

struct cust_state;
struct ops_identity;

/* A fresh directory under $TESTTMP (or /tmp); new string, free(). */
char *tu_tmpdir(void);

/* rm -rf path. */
void tu_rmrf(const char *path);

/* cust_init() and a new initialised state directory in a fresh temp dir;
 * *dir_out (new string) is that directory. */
struct cust_state *tu_state_new(char **dir_out);

/* How many entries of directory dir have sub in their name. */
int tu_count_names(const char *dir, const char *sub);

/* Close st, remove dir, free dir; the real clock comes back. */
void tu_state_free(struct cust_state *st, char *dir);

/* Move custody's clock (util_now()) so that it reads t now and runs on
 * from there: tests age certificates and CRLs this way, never by editing
 * rows. tu_state_free() puts the real clock back. */
void tu_clock_to(int64_t t);

/* A pid that no process has: a child that has exited and been reaped
 * (what a killed job or import leaves behind). */
long long tu_dead_pid(void);

/* Run a SQL statement on the state's store (for tampering); asserts. */
void tu_sql(struct cust_state *st, const char *sql);

/* Run SQL on the store as custody itself would change it: then give every
 * protected row its MAC again (for tests that move time or states). */
void tu_sql_mac(struct cust_state *st, const char *sql);

/* One integer from a SQL query on the state's store; asserts a row. */
long long tu_sql_int(struct cust_state *st, const char *sql);

/* The common fixture: a fresh initialised state per test. Use
 * tu_fx_setup/tu_fx_teardown as cmocka setup and teardown; *state is a
 * struct tu_fx. */
struct tu_fx {
	struct cust_state *st;
	char *dir;
};
int tu_fx_setup(void **state);
int tu_fx_teardown(void **state);

/* The trusted local identity (custodyctl on the state directory) called
 * "t", for ops_ctx.who; made once, freed at exit. */
const struct ops_identity *tu_local(void);

#endif
