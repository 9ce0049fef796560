/* SPDX-License-Identifier: MIT */
/* bench/rotate.c - bulk password rotation against its floor.
 *
 * Registers N devices (default 100000) in a throwaway state directory, then
 * times cred_rotate() over all of them: generate, seal, commit in batches,
 * one audit entry per device. The floor is the raw cost of the same number
 * of XChaCha20-Poly1305 seals and SQLite inserts of the same row shape in
 * one transaction, with the same pragmas. Prints devices/s, the ratio to
 * the floor, and peak RSS.
 *
 * usage: rotate [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "cred.h"
#include "err.h"
#include "job.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "bench.h"

/* Floor: N seals of a 24-byte value and N inserts (rows per device of
 * them) in one transaction, into a table without indexes. */
static double
floor_run(const char *dir, struct seal *seal, size_t n, int rows)
{
	char *path = util_path(dir, rows == 1 ? "floor1.db" : "floor2.db");
	unsigned char ct[SEAL_OVERHEAD + 24], pt[24];
	struct store *st;
	sqlite3_stmt *s;
	double t0;
	size_t i;

	if (store_open(path, STORE_CREATE, &st) != CUST_OK)
		bench_die("rotate", "floor store");
	if (store_exec(st, "CREATE TABLE f(id INTEGER PRIMARY KEY, "
	    "device_id INTEGER, kind TEXT, version INTEGER, state TEXT, "
	    "sealed BLOB, created INTEGER, changed INTEGER)") != CUST_OK)
		bench_die("rotate", "floor table");
	randombytes_buf(pt, sizeof(pt));
	t0 = bench_now();
	if (store_begin(st) != CUST_OK)
		bench_die("rotate", "floor begin");
	for (i = 0; i < n; i++) {
		if (seal_encrypt_buf(seal, pt, sizeof(pt), "ad", 2, ct) !=
		    CUST_OK)
			bench_die("rotate", "floor seal");
		s = store_stmt(st, "INSERT INTO f(device_id, kind, version, "
		    "state, sealed, created, changed) VALUES (?,?,?,?,?,?,?)");
		sqlite3_bind_int64(s, 1, (sqlite3_int64)i);
		sqlite3_bind_text(s, 2, "admin", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, 2);
		sqlite3_bind_text(s, 4, "pending", -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 5, ct, sizeof(ct), SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, 1);
		sqlite3_bind_int64(s, 7, 1);
		if (store_step_done(st, s, "floor insert") != CUST_OK)
			bench_die("rotate", "floor insert");
		if (rows > 1 && store_step_done(st, s, "floor insert") !=
		    CUST_OK)	/* same bindings: a second row */
			bench_die("rotate", "floor insert");
	}
	if (store_commit(st) != CUST_OK)
		bench_die("rotate", "floor commit");
	t0 = bench_now() - t0;
	store_close(st);
	free(path);
	return t0;
}

int
main(int argc, char **argv)
{
	struct cred_device_spec spec = { 0 };
	struct cred_rotate_result res;
	struct cust_state *st;
	struct rusage ru;
	char tmpl[] = "/tmp/custody-bench.XXXXXX", fqdn[64], *dir, cmd[128];
	struct job_rotate_spec jspec = { "admin", CRED_PW_DEFAULT, 1, 0 };
	int64_t *ids, job;
	json_t *sel;
	size_t n = 100000, i, nids;
	double t_setup, t_rot, t_floor, t_floor2, t_bare, t_job;
	long v;

	if (argc > 1) {
		if (util_parse_long(argv[1], 1, 10000000, &v) != CUST_OK)
			bench_die("rotate", "N");
		n = (size_t)v;
	}
	if (cust_init() != CUST_OK)
		bench_die("rotate", "init");
	if (mkdtemp(tmpl) == NULL)
		bench_die("rotate", "mkdtemp");
	dir = util_path(tmpl, "state");
	if (state_init(dir, 0, &st) != CUST_OK)
		bench_die("rotate", "state_init");

	t_setup = bench_now();
	if (store_begin(state_store(st)) != CUST_OK)
		bench_die("rotate", "begin");
	for (i = 0; i < n; i++) {
		snprintf(fqdn, sizeof(fqdn), "dev%07zu.fleet.example", i);
		spec.fqdn = fqdn;
		if (cred_device_add(st, "bench", &spec, CRED_PW_DEFAULT, NULL)
		    != CUST_OK)
			bench_die("rotate", "device add");
	}
	if (store_commit(state_store(st)) != CUST_OK)
		bench_die("rotate", "commit");
	t_setup = bench_now() - t_setup;
	if (cred_select(st, NULL, 0, NULL, 1, &ids, &nids) != CUST_OK)
		bench_die("rotate", "select");

	t_rot = bench_now();
	if (cred_rotate(st, "bench", ids, nids, "admin", CRED_PW_DEFAULT, 0, 0,
	    NULL, NULL, &res) != CUST_OK)
		bench_die("rotate", "rotate");
	t_rot = bench_now() - t_rot;
	if (res.rotated != n) {
		fprintf(stderr, "rotate: %zu of %zu rotated\n", res.rotated, n);
		return 1;
	}
	/* The same rotation run as a job (what password.rotate does): its
	 * cost over the bare one is the per-device result row. Both replace
	 * the pending version the first run left, so they do equal work. */
	t_bare = bench_now();
	if (cred_rotate(st, "bench", ids, nids, "admin", CRED_PW_DEFAULT, 1, 0,
	    NULL, NULL, &res) != CUST_OK)
		bench_die("rotate", "rotate again");
	t_bare = bench_now() - t_bare;
	sel = json_pack("{s:b}", "all", 1);
	t_job = bench_now();
	if (job_rotate(st, "bench", sel, ids, nids, &jspec, 0, NULL, NULL,
	    &job, &res) != CUST_OK)
		bench_die("rotate", "rotate as a job");
	t_job = bench_now() - t_job;
	json_decref(sel);
	t_floor = floor_run(tmpl, state_seal(st), n, 1);
	t_floor2 = floor_run(tmpl, state_seal(st), n, 2);
	getrusage(RUSAGE_SELF, &ru);

	printf("bench/rotate: %zu devices (setup: %zu registered in %.2f s)\n",
	    n, n, t_setup);
	printf("  custody rotate   %8.3f s  %10.0f devices/s  "
	    "(generate + seal + commit + audit)\n", t_rot, (double)n / t_rot);
	printf("  floor            %8.3f s  %10.0f rows/s     "
	    "(AEAD seal + SQLite insert, one transaction)\n", t_floor,
	    (double)n / t_floor);
	printf("  floor, 2 rows    %8.3f s  %10.0f devices/s  "
	    "(seal + 2 inserts: the rows a rotation writes)\n", t_floor2,
	    (double)n / t_floor2);
	printf("  ratio to floor   %8.2fx  (target <= 3x); to the 2-row floor "
	    "%.2fx\n", t_rot / t_floor, t_rot / t_floor2);
	printf("  as a job         %8.3f s  %10.0f devices/s  "
	    "(--replace-pending, vs %.3f s bare: %.2fx)\n", t_job,
	    (double)n / t_job, t_bare, t_job / t_bare);
	printf("  peak RSS         %8.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	printf("  target 50k/s     %s\n", (double)n / t_rot >= 50000 ?
	    "met" : "NOT met");
	free(ids);
	state_close(st);
	free(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "rotate: could not remove %s\n", tmpl);
	return 0;
}
