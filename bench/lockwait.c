/* SPDX-License-Identifier: MIT */
/* bench/lockwait.c - how long another writer waits behind custody's long
 * operations.
 *
 * In a throwaway state directory with an RSA-3072 issuing CA, a second
 * handle on the same state (as a second process or a daemon thread would
 * have) writes in a loop: a small write transaction, then 2 ms of rest;
 * each one's wait for the write lock and commit is timed. Meanwhile the
 * first handle runs, one after the other:
 *   - a device import of M devices (cred_device_import: staged in short
 *     batches, published at once, see include/cred.h);
 *   - ca_sign_bulk() of N device CSRs on one thread (CA_BULK_CHUNK per
 *     transaction);
 *   - ca_sign_csr() N/8 times, one request after another (cert sign).
 * For each it prints the writer's longest and median wait and how many
 * writes went through (target: longest under ~100 ms). A writer that waits past the store's busy timeout
 * fails; those are counted.
 *
 * usage: lockwait [N [M]]      (default N 512, M 20000)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "cred.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "bench.h"

#define MAXW	200000

struct writer {
	struct cust_state *st;
	volatile int stop;
	double waits[MAXW];
	size_t n, failed;
};

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	struct timespec rest = { 0, 2000000 };
	static const char v[] = "w";
	double t;

	while (!w->stop) {
		t = bench_now();
		if (store_begin(state_store(w->st)) != CUST_OK ||
		    store_meta_set(state_store(w->st), "bench.writer", v, 1) !=
		    CUST_OK || store_commit(state_store(w->st)) != CUST_OK) {
			store_rollback(state_store(w->st));
			w->failed++;
		} else if (w->n < MAXW)
			w->waits[w->n++] = bench_now() - t;
		nanosleep(&rest, NULL);
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, struct writer *w, double secs)
{
	double mx = 0, med = 0;

	if (w->n > 0) {
		qsort(w->waits, w->n, sizeof(w->waits[0]), cmp);
		mx = w->waits[w->n - 1];
		med = w->waits[w->n / 2];
	}
	printf("  %-34s %7.2f s  writer: longest wait %8.1f ms, median "
	    "%5.2f ms, %zu writes, %zu failed\n", what, secs, mx * 1e3,
	    med * 1e3, w->n, w->failed);
}

static void
start(struct writer *w, pthread_t *tid)
{
	w->stop = 0;
	w->n = w->failed = 0;
	if (pthread_create(tid, NULL, writer_run, w) != 0)
		bench_die("bench/lockwait", "pthread_create");
}

static void
finish(struct writer *w, pthread_t tid)
{
	w->stop = 1;
	pthread_join(tid, NULL);
}

/* A CSR with no names (any device may present it) for key, new string. */
static char *
make_csr(EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long len;

	if (req == NULL || b == NULL || !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    !PEM_write_bio_X509_REQ(b, req))
		bench_die("bench/lockwait", "CSR");
	len = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)len);
	BIO_free(b);
	X509_REQ_free(req);
	return s;
}

int
main(int argc, char **argv)
{
	static struct writer w;
	struct cust_state *st;
	struct ca_bulk_item *items;
	EVP_PKEY *key;
	json_t *resp, *opts;
	char tmpl[] = "/tmp/custody-bench-lock.XXXXXX", cmd[256];
	char *dir, *csv, *csr;
	size_t n = 512, m = 20000, i, used = 0, count = 0, issued = 0;
	pthread_t tid;
	double t;
	long v;

	if (argc > 1) {
		if (util_parse_long(argv[1], 1, 100000, &v) != CUST_OK)
			bench_die("bench/lockwait", "N");
		n = (size_t)v;
	}
	if (argc > 2) {
		if (util_parse_long(argv[2], 1, 1000000, &v) != CUST_OK)
			bench_die("bench/lockwait", "M");
		m = (size_t)v;
	}
	if (n > m)
		m = n;
	if (cust_init() != CUST_OK)
		bench_die("bench/lockwait", "init");
	if (mkdtemp(tmpl) == NULL)
		bench_die("bench/lockwait", "mkdtemp");
	dir = util_path(tmpl, "state");
	if (state_init(dir, 0, &st) != CUST_OK)
		bench_die("bench/lockwait", "state_init");
	opts = json_pack("{s:s}", "key_type", "rsa3072");
	if (ca_init(st, opts, "bench", &resp) != CUST_OK)
		bench_die("bench/lockwait", "ca_init");
	json_decref(opts);
	json_decref(resp);
	state_close(st);	/* init's lock is exclusive: open twice */
	if (state_open(dir, &st) != CUST_OK ||
	    state_open(dir, &w.st) != CUST_OK)
		bench_die("bench/lockwait", "state_open");

	if ((csv = malloc(m * 40 + 16)) == NULL)
		bench_die("bench/lockwait", "malloc");
	used = (size_t)snprintf(csv, 16, "fqdn\n");
	for (i = 0; i < m; i++)
		used += (size_t)snprintf(csv + used, 40,
		    "dev%07zu.fleet.example\n", i);
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		bench_die("bench/lockwait", "keygen");
	csr = make_csr(key);
	if ((items = calloc(n, sizeof(*items))) == NULL)
		bench_die("bench/lockwait", "calloc");

	printf("bench/lockwait: a second handle writes in a loop while one "
	    "runs (RSA-3072 issuing CA)\n");
	start(&w, &tid);
	t = bench_now();
	if (cred_device_import(st, "bench", csv, used, CRED_PW_DEFAULT,
	    &count) != CUST_OK || count != m)
		bench_die("bench/lockwait", "import");
	t = bench_now() - t;
	finish(&w, tid);
	snprintf(cmd, sizeof(cmd), "device import, %zu devices", m);
	report(cmd, &w, t);

	for (i = 0; i < n; i++) {
		if (asprintf((char **)&items[i].fqdn, "dev%07zu.fleet.example",
		    i) == -1)
			bench_die("bench/lockwait", "asprintf");
		items[i].csr = csr;
		items[i].len = strlen(csr);
	}
	start(&w, &tid);
	t = bench_now();
	if (ca_sign_bulk(st, "bench", items, n, 1, &resp, &issued) !=
	    CUST_OK || issued != n)
		bench_die("bench/lockwait", "ca_sign_bulk");
	t = bench_now() - t;
	finish(&w, tid);
	json_decref(resp);
	snprintf(cmd, sizeof(cmd), "bulk sign, %zu CSRs, 1 thread", n);
	report(cmd, &w, t);

	start(&w, &tid);
	t = bench_now();
	for (i = 0; i < n / 8 + 1; i++) {
		if (ca_sign_csr(st, "bench", items[i].fqdn, csr, strlen(csr), 0,
		    &resp) != CUST_OK)
			bench_die("bench/lockwait", "ca_sign_csr");
		json_decref(resp);
	}
	t = bench_now() - t;
	finish(&w, tid);
	snprintf(cmd, sizeof(cmd), "cert sign x %zu", n / 8 + 1);
	report(cmd, &w, t);

	for (i = 0; i < n; i++)
		free((char *)items[i].fqdn);
	free(items);
	free(csr);
	free(csv);
	EVP_PKEY_free(key);
	state_close(w.st);
	state_close(st);
	free(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "bench/lockwait: could not remove %s\n", tmpl);
	return 0;
}
