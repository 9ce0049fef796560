/* SPDX-License-Identifier: MIT */
/* bench/ca.c - device certificate issuance against its floor and against
 * what an operator would otherwise run.
 *
 * In a throwaway state directory with an RSA-3072 issuing CA (the default
 * key type), registers N devices and signs one RSA-2048 CSR for each, in
 * process, with everything custody does: parse and verify the CSR, check
 * the device, unseal the CA key, build and sign the certificate, record it
 * and its CSR, audit, commit (synchronous=FULL). Three ways:
 *   - ca_sign_bulk() on every CPU (fleet enrolment), and on one thread;
 *   - ca_sign_csr() once per certificate: one transaction and one
 *     unsealing of the key per request, what the API does.
 * Beside it:
 *   - the floor: `openssl speed rsa3072` signatures/s on one core, and the
 *     same measured in process with EVP_DigestSign as a cross-check;
 *   - the shell loop `openssl x509 -req -CA ... -CAkey ...` once per CSR
 *     for the same N (at most 300 runs; the rate is what counts), making
 *     equivalent certificates (extensions, SAN, encrypted CA key), and the
 *     bare loop without them.
 * Prints certificates/s and the ratios (targets: >= 0.8x the raw
 * signature rate, >= 20x the shell loop).
 *
 * usage: ca [N]      (default 500)
 */
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

#define NKEYS		8	/* distinct device keys the CSRs cycle through */
#define SHELL_MAX	300
#define REPS		3

/* Rate of n runs in t seconds, or best when that is higher. */
static double
best(double best, size_t n, double t)
{
	double r = (double)n / t;

	return r > best ? r : best;
}

/* `openssl speed` sign/s for RSA-3072 on ncpu processes, or 0 when it
 * cannot be run. */
static double
openssl_speed(long ncpu)
{
	char cmd[128], line[256];
	FILE *p;
	double sign = 0, verify, s1, s2;

	snprintf(cmd, sizeof(cmd), "openssl speed -seconds 3 %s%.0ld rsa3072 "
	    "2>/dev/null", ncpu > 1 ? "-multi " : "", ncpu > 1 ? ncpu : 0);
	if ((p = popen(cmd, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), p) != NULL)
		if (sscanf(line, "rsa 3072 bits %lfs %lfs %lf %lf", &s1, &s2,
		    &sign, &verify) == 4)
			break;
	pclose(p);
	return sign;
}

/* The same floor in process: EVP_DigestSign (SHA-384) with one RSA-3072
 * key over a certificate-sized message for about two seconds. */
static double
evp_speed(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	unsigned char msg[1200], sig[512];
	size_t n = 0, slen;
	double t0 = bench_now(), t;

	if (k == NULL)
		bench_die("bench/ca", "keygen");
	memset(msg, 0x5a, sizeof(msg));
	do {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		slen = sizeof(sig);
		if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha384(),
		    NULL, k) != 1 || EVP_DigestSign(ctx, sig, &slen, msg,
		    sizeof(msg)) != 1)
			bench_die("bench/ca", "EVP sign");
		EVP_MD_CTX_free(ctx);
		n++;
	} while ((t = bench_now() - t0) < 2.0);
	EVP_PKEY_free(k);
	return (double)n / t;
}

/*
 * Time the shell loop an operator would otherwise write, over m CSR files,
 * making certificates equivalent to custody's: same validity, digest and
 * extensions (SAN per device), with the CA key kept encrypted on disk as
 * custody keeps it sealed. With bare set, the minimal loop instead: no
 * extension file, a plain-text CA key.
 */
static double
shell_loop(const char *dir, size_t m, int bare)
{
	char cmd[2048];
	double t0;

	snprintf(cmd, sizeof(cmd), "cd '%s' && [ -f ca.crt ] || { openssl req "
	    "-x509 -newkey rsa:3072 -nodes -keyout ca.key -subj /CN=shell-ca "
	    "-days 3650 -out ca.crt && openssl pkcs8 -topk8 -v2 aes-256-cbc "
	    "-in ca.key -passout pass:bench -out ca.enc.key; } 2>/dev/null",
	    dir);
	if (system(cmd) != 0)
		return 0;
	if (bare)
		snprintf(cmd, sizeof(cmd), "cd '%s' && i=0; while [ $i -lt %zu "
		    "]; do openssl x509 -req -in csr$i.pem -CA ca.crt -CAkey "
		    "ca.key -CAcreateserial -days 730 -sha384 -out crt$i.pem "
		    "2>/dev/null || exit 1; i=$((i + 1)); done", dir, m);
	else
		snprintf(cmd, sizeof(cmd), "cd '%s' && i=0; while [ $i -lt %zu "
		    "]; do printf 'basicConstraints=critical,CA:FALSE\n"
		    "keyUsage=critical,digitalSignature,keyEncipherment\n"
		    "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
		    "authorityKeyIdentifier=keyid:always\nsubjectAltName="
		    "DNS:dev%%07d.fleet.example\n' $i > ext.cnf && openssl x509 "
		    "-req -in csr$i.pem -CA ca.crt -CAkey ca.enc.key -passin "
		    "pass:bench -CAcreateserial -days 730 -sha384 -extfile "
		    "ext.cnf -out crt$i.pem 2>/dev/null || exit 1; "
		    "i=$((i + 1)); done", dir, m);
	t0 = bench_now();
	if (system(cmd) != 0)
		return 0;
	return (double)m / (bench_now() - t0);
}

int
main(int argc, char **argv)
{
	struct cred_device_spec spec = { 0 };
	struct cust_state *st;
	struct ca_bulk_item *items;
	EVP_PKEY *keys[NKEYS];
	json_t *resp, *opts;
	char tmpl[] = "/tmp/custody-bench-ca.XXXXXX", cmd[256], path[512];
	char **fqdn, **csr, *dir;
	size_t n = 500, i, m, issued = 0;
	double t, single, bulk, bulk1, speed, speedn, evp, shell, bare;
	int rep;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long v;

	if (argc > 1) {
		if (util_parse_long(argv[1], 1, 1000000, &v) != CUST_OK)
			bench_die("bench/ca", "N");
		n = (size_t)v;
	}
	if (cust_init() != CUST_OK)
		bench_die("bench/ca", "init");
	if (mkdtemp(tmpl) == NULL)
		bench_die("bench/ca", "mkdtemp");
	dir = util_path(tmpl, "state");
	if (state_init(dir, 0, &st) != CUST_OK)
		bench_die("bench/ca", "state_init");
	opts = json_pack("{s:s}", "key_type", "rsa3072");
	if (ca_init(st, opts, "bench", &resp) != CUST_OK)
		bench_die("bench/ca", "ca_init");
	json_decref(opts);
	json_decref(resp);

	/* Devices and their CSRs (setup, not timed). */
	fqdn = calloc(n, sizeof(*fqdn));
	csr = calloc(n, sizeof(*csr));
	if (fqdn == NULL || csr == NULL)
		bench_die("bench/ca", "calloc");
	for (i = 0; i < NKEYS; i++)
		if ((keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)2048)) == NULL)
			bench_die("bench/ca", "device keygen");
	if (store_begin(state_store(st)) != CUST_OK)
		bench_die("bench/ca", "begin");
	for (i = 0; i < n; i++) {
		if (asprintf(&fqdn[i], "dev%07zu.fleet.example", i) == -1)
			bench_die("bench/ca", "asprintf");
		spec.fqdn = fqdn[i];
		if (cred_device_add(st, "bench", &spec, CRED_PW_DEFAULT, NULL)
		    != CUST_OK)
			bench_die("bench/ca", "device add");
		csr[i] = bench_csr("bench/ca", keys[i % NKEYS], fqdn[i]);
		if (i < SHELL_MAX) {
			snprintf(path, sizeof(path), "%s/csr%zu.pem", tmpl, i);
			if (util_write_file(path, csr[i], strlen(csr[i]), 0644)
			    != CUST_OK)
				bench_die("bench/ca", "write CSR");
		}
	}
	if (store_commit(state_store(st)) != CUST_OK)
		bench_die("bench/ca", "commit");

	/* Best of REPS runs each: the figures are rates of this code, not of
	 * whatever else the machine runs meanwhile. */
	if ((items = calloc(n, sizeof(*items))) == NULL)
		bench_die("bench/ca", "calloc");
	for (i = 0; i < n; i++) {
		items[i].fqdn = fqdn[i];
		items[i].csr = csr[i];
		items[i].len = strlen(csr[i]);
	}
	single = bulk = bulk1 = 0;
	for (rep = 0; rep < REPS; rep++) {
		/* One transaction (and one unsealing) per certificate. */
		t = bench_now();
		for (i = 0; i < n; i++) {
			if (ca_sign_csr(st, "bench", fqdn[i], csr[i],
			    strlen(csr[i]), 0, &resp) != CUST_OK)
				bench_die("bench/ca", "ca_sign_csr");
			json_decref(resp);
		}
		single = best(single, n, bench_now() - t);
		/* Bulk: CA_BULK_CHUNK per transaction, on every CPU / one. */
		t = bench_now();
		if (ca_sign_bulk(st, "bench", items, n, 0, &resp, &issued) !=
		    CUST_OK || issued != n)
			bench_die("bench/ca", "ca_sign_bulk");
		bulk = best(bulk, n, bench_now() - t);
		json_decref(resp);
		t = bench_now();
		if (ca_sign_bulk(st, "bench", items, n, 1, &resp, &issued) !=
		    CUST_OK || issued != n)
			bench_die("bench/ca", "ca_sign_bulk");
		bulk1 = best(bulk1, n, bench_now() - t);
		json_decref(resp);
	}
	free(items);

	speed = openssl_speed(1);
	speedn = ncpu > 1 ? openssl_speed(ncpu) : speed;
	evp = evp_speed();
	m = n < SHELL_MAX ? n : SHELL_MAX;
	shell = shell_loop(tmpl, m, 0);
	bare = shell_loop(tmpl, m, 1);

	printf("bench/ca: N=%zu device CSRs (RSA-2048), issuing CA "
	    "rsa3072/SHA-384, %ld CPUs, best of %d\n", n, ncpu, REPS);
	printf("  custody bulk, all CPUs    %8.1f certs/s  (ca_sign_bulk, %d "
	    "per transaction)\n", bulk, CA_BULK_CHUNK);
	printf("  custody bulk, 1 thread    %8.1f certs/s\n", bulk1);
	printf("  custody, 1 txn per cert   %8.1f certs/s  (ca_sign_csr: unseal "
	    "the key, sign, commit, per request)\n", single);
	printf("  openssl speed rsa3072     %8.1f sign/s   (floor: raw "
	    "signatures, one core)\n", speed);
	printf("  openssl speed -multi %-4ld %8.1f sign/s   (floor on all "
	    "CPUs)\n", ncpu, speedn);
	printf("  EVP_DigestSign, 1 core    %8.1f sign/s   (the floor measured "
	    "in process)\n", evp);
	printf("  shell loop, equivalent    %8.1f certs/s  (openssl x509 -req "
	    "-CA, extfile + encrypted CA key, %zu runs)\n", shell, m);
	printf("  shell loop, bare          %8.1f certs/s  (no extensions, "
	    "plain CA key)\n", bare);
	if (speed <= 0)
		speed = speedn = evp;
	printf("  ratio to raw signatures   %8.2fx bulk 1 thread / 1 core, "
	    "%.2fx bulk / all CPUs, %.2fx per request  (target >= 0.8x)\n",
	    bulk1 / speed, bulk / speedn, single / speed);
	if (shell > 0 && bare > 0)
		printf("  ratio to shell loop       %8.1fx bulk, %.1fx bulk 1 "
		    "thread, %.1fx per request  (target >= 20x; vs the bare "
		    "loop: %.1fx bulk)\n", bulk / shell, bulk1 / shell,
		    single / shell, bulk / bare);
	else
		printf("  ratio to shell loop       n/a (openssl not runnable)\n");

	for (i = 0; i < n; i++) {
		free(fqdn[i]);
		free(csr[i]);
	}
	free(fqdn);
	free(csr);
	for (i = 0; i < NKEYS; i++)
		EVP_PKEY_free(keys[i]);
	state_close(st);
	free(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "bench/ca: could not remove %s\n", tmpl);
	return 0;
}
