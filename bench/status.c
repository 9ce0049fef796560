/* SPDX-License-Identifier: MIT */
/* bench/status.c - status latency at fleet scale, before and after.
 *
 * Registers N devices (default 100000) and rotates them all (N pending
 * secrets, 2N audit entries), then times the "status" operation as a
 * health check or metrics scrape calls it (ops_call(), counters kept by
 * the store: cred_counts() and the audit head) against the way status
 * was answered before: COUNT(*) over device, secret and audit. Prints
 * the mean and worst latency of each and checks that both give the same
 * figures. Target: status under 1 ms at 100k devices.
 *
 * usage: status [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cred.h"
#include "err.h"
#include "ops.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "bench.h"

#define RUNS_NEW	2000
#define RUNS_OLD	20

/* The figures as status computed them before the counters. */
static long long
count(struct cust_state *st, const char *sql)
{
	sqlite3_stmt *s = store_stmt(state_store(st), sql);
	long long n = -1;

	if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	if (s != NULL)
		sqlite3_reset(s);
	return n;
}

static void
old_status(struct cust_state *st, long long out[4])
{
	out[0] = count(st, "SELECT COUNT(*) FROM device WHERE state = "
	    "'active'");
	out[1] = count(st, "SELECT COUNT(*) FROM device WHERE state = "
	    "'retired'");
	out[2] = count(st, "SELECT COUNT(*) FROM secret WHERE state = "
	    "'pending'");
	out[3] = count(st, "SELECT COUNT(*) FROM audit");
}

static void
new_status(struct ops_ctx *ctx, long long out[4])
{
	static const char *const keys[] = { "devices", "retired_devices",
	    "pending_secrets", "audit_entries" };
	json_t *resp = NULL;
	int i;

	if (ops_call(ctx, "status", NULL, &resp) != CUST_OK)
		bench_die("status", "status");
	for (i = 0; i < 4; i++)
		out[i] = json_integer_value(json_object_get(resp, keys[i]));
	json_decref(resp);
}

int
main(int argc, char **argv)
{
	struct cred_device_spec spec = { 0 };
	struct cred_rotate_result res;
	struct ops_identity *local = NULL;
	struct ops_ctx ctx = { 0 };
	struct cust_state *st;
	char tmpl[] = "/tmp/custody-bench.XXXXXX", fqdn[64], *dir, cmd[128];
	long long a[4], b[4];
	double t, sum_new = 0, max_new = 0, sum_old = 0, max_old = 0;
	int64_t *ids;
	size_t n = 100000, i, nids;
	long v;

	if (argc > 1) {
		if (util_parse_long(argv[1], 1, 10000000, &v) != CUST_OK)
			bench_die("status", "N");
		n = (size_t)v;
	}
	if (cust_init() != CUST_OK)
		bench_die("status", "init");
	if (mkdtemp(tmpl) == NULL)
		bench_die("status", "mkdtemp");
	dir = util_path(tmpl, "state");
	if (state_init(dir, 0, &st) != CUST_OK)
		bench_die("status", "state_init");
	if (store_begin(state_store(st)) != CUST_OK)
		bench_die("status", "begin");
	for (i = 0; i < n; i++) {
		snprintf(fqdn, sizeof(fqdn), "dev%07zu.fleet.example", i);
		spec.fqdn = fqdn;
		if (cred_device_add(st, "bench", &spec, CRED_PW_DEFAULT, NULL)
		    != CUST_OK)
			bench_die("status", "device add");
	}
	if (store_commit(state_store(st)) != CUST_OK)
		bench_die("status", "commit");
	if (cred_select(st, NULL, 0, NULL, 1, &ids, &nids) != CUST_OK)
		bench_die("status", "select");
	if (cred_rotate(st, "bench", ids, nids, "admin", CRED_PW_DEFAULT, 0, 0,
	    NULL, NULL, &res) != CUST_OK)
		bench_die("status", "rotate");
	free(ids);
	if (ops_identity_new(OPS_ID_LOCAL, "bench", &local) != CUST_OK)
		bench_die("status", "identity");
	ctx.st = st;
	ctx.who = local;

	new_status(&ctx, a);	/* warm the caches for both */
	old_status(st, b);
	for (i = 0; i < RUNS_NEW; i++) {
		t = bench_now();
		new_status(&ctx, a);
		t = bench_now() - t;
		sum_new += t;
		if (t > max_new)
			max_new = t;
	}
	for (i = 0; i < RUNS_OLD; i++) {
		t = bench_now();
		old_status(st, b);
		t = bench_now() - t;
		sum_old += t;
		if (t > max_old)
			max_old = t;
	}

	printf("bench/status: %zu devices, %lld pending secrets, %lld audit "
	    "entries\n", n, a[2], a[3]);
	printf("  status (counters)  mean %9.1f us  worst %9.1f us  (%d "
	    "calls, target < 1000 us)\n", sum_new / RUNS_NEW * 1e6,
	    max_new * 1e6, RUNS_NEW);
	printf("  before (COUNT(*))  mean %9.1f us  worst %9.1f us  (%d "
	    "calls)\n", sum_old / RUNS_OLD * 1e6, max_old * 1e6, RUNS_OLD);
	printf("  speed-up           %9.0fx\n", (sum_old / RUNS_OLD) /
	    (sum_new / RUNS_NEW));
	printf("  same figures       %s\n", memcmp(a, b, sizeof(a)) == 0 ?
	    "yes" : "NO: the counters are wrong");
	ops_identity_free(local);
	state_close(st);
	free(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "status: could not remove %s\n", tmpl);
	return 0;
}
