/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_import.c - libFuzzer harness for device import (CSV and
 * JSON, with adopted passwords) against a real state directory. Imports
 * are all or nothing, so the store must hold no partial rows afterwards.
 * The state lives in /tmp/custody-fuzz.XXXXXX, removed at exit (libFuzzer
 * leaves through exit() at the end of -max_total_time / -runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cred.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"

static struct cust_state *st;
static char dir[] = "/tmp/custody-fuzz.XXXXXX";
static int made;	/* dir was created by mkdtemp() */

/* atexit: close the state and rm -rf its directory. */
static void
remove_state(void)
{
	pid_t pid;
	int status;

	if (!made)
		return;
	made = 0;
	if (st != NULL) {
		state_close(st);
		st = NULL;
	}
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(stderr, "fuzz_import: could not remove %s\n", dir);
}

static long long
devices(void)
{
	sqlite3_stmt *s = store_stmt(state_store(st),
	    "SELECT COUNT(*) FROM device");
	long long n = -1;

	if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	if (s != NULL)
		sqlite3_reset(s);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sd;
	size_t count = 0;
	long long before;
	int r;

	if (st == NULL) {
		if (cust_init() != CUST_OK || mkdtemp(dir) == NULL)
			abort();
		made = 1;
		if (atexit(remove_state) != 0)
			abort();
		sd = util_path(dir, "state");
		if (state_init(sd, 0, &st) != CUST_OK)
			abort();
		free(sd);
	}
	if (size > 1 << 16)
		return 0;
	before = devices();
	r = cred_device_import(st, "fuzz", (const char *)data, size, 16,
	    &count);
	if (r != CUST_OK && devices() != before)
		abort();	/* a failed import left rows behind */
	if (r == CUST_OK && devices() != before + (long long)count)
		abort();
	if (r == CUST_OK)	/* start over: keep FQDNs free */
		(void)store_exec(state_store(st), "DELETE FROM secret;"
		    "DELETE FROM device_tag; DELETE FROM device;");
	return 0;
}
