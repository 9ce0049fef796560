/* SPDX-License-Identifier: MIT */
/* bench/audit.c - secret reads per second with durable audit: the group
 * writer against one commit per read, in the same run.
 *
 * Every secret read appends an audit entry and hands the secret out only
 * once the entry is durable (synchronous=FULL), then the rollback counter
 * follows (an fdatasync of DIR/seal/counter). Three runs on the same state
 * directory, each for SECONDS:
 *
 *   alone, 1 thread      what custodyctl does in process: per read one
 *                        transaction (WAL fsync) and one counter update
 *   alone, T threads     T worker threads, each with its own state, each
 *                        read committing on its own as above
 *   group, T threads     the same threads through one audit group writer:
 *                        one transaction and one counter update per batch
 *
 * and prints reads/s, the ratio group / alone at T threads (target >= 10x),
 * the process's CPU time (user + system) per read, which unlike reads/s
 * does not depend on the disk's fsync latency of the moment, the batch
 * sizes, and checks afterwards that the audit chain is intact
 * with exactly one entry per read.
 *
 * usage: audit [THREADS [SECONDS]]   (defaults 32 and 3)
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cred.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "bench.h"

#define NDEV 256

struct worker {
	pthread_t thread;
	const char *dir;
	struct audit_group *group;
	double until;
	int id;
	long reads, errors;
	char err[256];
};

static void
dev_name(long i, char *buf, size_t len)
{
	snprintf(buf, len, "dev%04ld.fleet.example", i % NDEV);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct cust_state *st = NULL;
	struct seal_secret *pw;
	const char *state;
	char fqdn[64];
	int64_t ver;
	long i;

	if (state_open(w->dir, &st) != CUST_OK) {
		snprintf(w->err, sizeof(w->err), "%s", cust_errmsg());
		w->errors++;
		return NULL;
	}
	if (w->group != NULL)
		state_use_audit_group(st, w->group);
	for (i = w->id; bench_now() < w->until; i += 7) {
		dev_name(i, fqdn, sizeof(fqdn));
		pw = NULL;
		if (cred_secret_get(st, "bench", fqdn, CRED_KIND_ADMIN,
		    CRED_VER_CURRENT, &pw, &ver, &state) == CUST_OK) {
			w->reads++;
		} else {
			w->errors++;
			snprintf(w->err, sizeof(w->err), "%s", cust_errmsg());
		}
		seal_secret_free(pw);
	}
	state_use_audit_group(st, NULL);
	state_close(st);
	return NULL;
}

/* User + system CPU seconds of the process so far. */
static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* nthreads readers for secs seconds; reads/s. *reads_out: total;
 * *cpu_out: CPU microseconds per read (all threads, the writer's too). */
static double
run(const char *dir, struct audit_group *g, int nthreads, double secs,
    long *reads_out, double *cpu_out)
{
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	long reads = 0, errors = 0;
	double t0, until, c0 = cpu_now();
	int i;

	if (w == NULL)
		bench_die("audit", "out of memory");
	t0 = bench_now();
	until = t0 + secs;
	for (i = 0; i < nthreads; i++) {
		w[i].dir = dir;
		w[i].group = g;
		w[i].until = until;
		w[i].id = i;
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
			bench_die("audit", "pthread_create");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].thread, NULL);
		reads += w[i].reads;
		errors += w[i].errors;
		if (w[i].errors > 0 && errors == w[i].errors)
			fprintf(stderr, "audit: worker %d: %ld errors, the last: "
			    "%s\n", i, w[i].errors, w[i].err);
	}
	t0 = bench_now() - t0;
	free(w);
	if (errors > 0)
		printf("  (%ld reads failed)\n", errors);
	*reads_out = reads;
	*cpu_out = reads > 0 ? (cpu_now() - c0) * 1e6 / (double)reads : 0;
	return (double)reads / t0;
}

int
main(int argc, char **argv)
{
	struct cred_device_spec spec = { 0 };
	struct audit_group_stats gs;
	struct audit_group *g;
	struct cust_state *st;
	char tmpl[] = "/tmp/custody-bench.XXXXXX", fqdn[64], *dir, cmd[128];
	long v, n1, nt, ng, before, after;
	int64_t bad, count;
	int nthreads = 32, i;
	double secs = 3, r1, rt, rg, c1, ct, cg;

	if (argc > 1) {
		if (util_parse_long(argv[1], 1, 1024, &v) != CUST_OK)
			bench_die("audit", "THREADS");
		nthreads = (int)v;
	}
	if (argc > 2) {
		if (util_parse_long(argv[2], 1, 3600, &v) != CUST_OK)
			bench_die("audit", "SECONDS");
		secs = (double)v;
	}
	if (cust_init() != CUST_OK)
		bench_die("audit", "init");
	if (mkdtemp(tmpl) == NULL)
		bench_die("audit", "mkdtemp");
	dir = util_path(tmpl, "state");
	if (state_init(dir, 0, &st) != CUST_OK)
		bench_die("audit", "state_init");
	if (store_begin(state_store(st)) != CUST_OK)
		bench_die("audit", "begin");
	for (i = 0; i < NDEV; i++) {
		dev_name(i, fqdn, sizeof(fqdn));
		spec.fqdn = fqdn;
		if (cred_device_add(st, "bench", &spec, CRED_PW_DEFAULT, NULL)
		    != CUST_OK)
			bench_die("audit", "device add");
	}
	if (store_commit(state_store(st)) != CUST_OK)
		bench_die("audit", "commit");
	/* init holds the exclusive lock; the runs open the state shared. */
	state_close(st);
	if (state_open(dir, &st) != CUST_OK)
		bench_die("audit", "state_open");
	if (audit_verify(state_audit(st), &bad, &count) != CUST_OK)
		bench_die("audit", "verify");
	before = (long)count;

	printf("bench/audit: secret reads with durable audit, %d devices, "
	    "%.0f s per run\n", NDEV, secs);
	r1 = run(dir, NULL, 1, secs, &n1, &c1);
	printf("  alone, 1 thread    %9.0f reads/s  %4.0f us CPU/read  (a "
	    "transaction and a counter update per read)\n", r1, c1);
	rt = run(dir, NULL, nthreads, secs, &nt, &ct);
	printf("  alone, %2d threads  %9.0f reads/s  %4.0f us CPU/read  (the "
	    "same, each thread its own connection)\n", nthreads, rt, ct);
	if (state_audit_group(dir, 0, &g) != CUST_OK)
		bench_die("audit", "group writer");
	rg = run(dir, g, nthreads, secs, &ng, &cg);
	audit_group_stats(g, &gs);
	audit_group_free(g);
	printf("  group, %2d threads  %9.0f reads/s  %4.0f us CPU/read  (%llu "
	    "batches, %.1f entries per batch on average, at most %llu)\n",
	    nthreads, rg, cg,
	    (unsigned long long)gs.batches, gs.batches ?
	    (double)gs.entries / (double)gs.batches : 0.0,
	    (unsigned long long)gs.max_batch);
	printf("  ratio group / alone at %d threads  %6.1fx  (target >= 10x: "
	    "%s); to 1 thread alone %.1fx\n", nthreads, rg / rt,
	    rg / rt >= 10 ? "met" : "NOT met", rg / r1);

	/* Every read is in the chain, once, and the chain is intact. */
	if (audit_verify(state_audit(st), &bad, &count) != CUST_OK)
		bench_die("audit", "audit verify after the runs");
	after = (long)count;
	printf("  audit verify       intact, %ld entries for %ld reads%s\n",
	    after - before, n1 + nt + ng, after - before == n1 + nt + ng ?
	    "" : "  MISMATCH");
	state_close(st);
	free(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "audit: could not remove %s\n", tmpl);
	return after - before == n1 + nt + ng ? 0 : 1;
}
