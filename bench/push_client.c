/* SPDX-License-Identifier: MIT */
/* bench/push_client.c - tools of bench/push.sh.
 *
 *   push_client floor N CONC PASSWORD CAFILE PORT[,PORT...]
 *
 * The floor: for each of N simulated devices, what a push cannot do with
 * less - one digest-authenticated WS-Man Get on new connections (the 401
 * challenge, which AMT answers with Connection: close, then the answer on
 * a second connection), with bare libcurl multi, CONC devices at once.
 * Over TLS verified against CAFILE (the device's name checked) on each
 * amtsim's PORT + 1, or over HTTP on PORT when CAFILE is "-". Devices
 * dev00000.amtsim.test ... are cut into as many contiguous slices as
 * there are PORTs (amtsim --first; slice k: devices k * ceil(N / S) on),
 * user admin. The envelope is custody's own Get (src/amt), the bytes a
 * push's first request sends. Prints devices/s and the p50/p99 time per
 * device.
 *
 *   push_client certs STATEDIR N OUTDIR
 *
 * Certificates for a TLS bench: one RSA 2048 key (OUTDIR/key.pem) and,
 * for each registered device dev00000.amtsim.test ..., a CSR signed by
 * custody's issuing CA through ca_sign_bulk() (the fleet enrolment path:
 * checked, recorded and audited as cert sign), written as OUTDIR/FQDN.crt
 * (the leaf, then its chain) for amtsim --tls-dir. One key for all keeps
 * the setup short; every handshake still costs the device an RSA 2048
 * signature, as with a key each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "amt.h"
#include "bench.h"
#include "ca.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "util.h"

#define PROG	"push_client"
#define MAXSIMS	64

struct dev {
	CURL *h;
	struct curl_slist *ct;
	char url[128];
	double start;
};

struct floor {
	size_t n, per, nports;
	unsigned ports[MAXSIMS];
	const char *pw, *cafile;	/* cafile NULL: HTTP */
	const struct seal_secret *body;
};

static size_t
sink(void *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
start(CURLM *m, struct dev *d, size_t i, const struct floor *f)
{
	unsigned dport = f->cafile ? AMT_PORT_TLS : AMT_PORT_HTTP;
	unsigned port = f->ports[i / f->per] + (f->cafile ? 1 : 0);
	char fqdn[64], ct[160];

	snprintf(fqdn, sizeof(fqdn), "dev%05zu.amtsim.test", i);
	snprintf(d->url, sizeof(d->url), "%s://%s:%u/wsman",
	    f->cafile ? "https" : "http", fqdn, dport);
	snprintf(ct, sizeof(ct), "%s:%u:127.0.0.1:%u", fqdn, dport, port);
	d->ct = curl_slist_append(NULL, ct);
	d->h = curl_easy_init();
	curl_easy_setopt(d->h, CURLOPT_URL, d->url);
	curl_easy_setopt(d->h, CURLOPT_CONNECT_TO, d->ct);
	curl_easy_setopt(d->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_DIGEST);
	curl_easy_setopt(d->h, CURLOPT_USERNAME, "admin");
	curl_easy_setopt(d->h, CURLOPT_PASSWORD, f->pw);
	curl_easy_setopt(d->h, CURLOPT_POSTFIELDS, seal_secret_str(f->body));
	curl_easy_setopt(d->h, CURLOPT_POSTFIELDSIZE,
	    (long)seal_secret_len(f->body));
	curl_easy_setopt(d->h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(d->h, CURLOPT_PRIVATE, d);
	curl_easy_setopt(d->h, CURLOPT_NOSIGNAL, 1L);
	if (f->cafile != NULL) {
		curl_easy_setopt(d->h, CURLOPT_CAINFO, f->cafile);
		/* The bundle alone, as custody: libcurl then caches it. */
		curl_easy_setopt(d->h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(d->h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(d->h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	d->start = bench_now();
	curl_multi_add_handle(m, d->h);
}

static int
floor_run(int argc, char **argv)
{
	struct amt_req *q = NULL;
	struct seal_secret *body = NULL;
	struct floor f;
	struct rusage ru;
	struct dev *devs;
	double *lat, t0, t1;
	size_t conc, next = 0, done = 0, bad = 0;
	char *ports, *tok, *save = NULL;
	long v;
	CURLM *m;
	CURLMsg *msg;
	int running, left;

	memset(&f, 0, sizeof(f));
	if (argc != 7 || util_parse_long(argv[2], 1, 1000000, &v) != CUST_OK) {
		fprintf(stderr, "usage: " PROG " floor N CONC PASSWORD CAFILE "
		    "PORT[,PORT...]\n");
		return 2;
	}
	f.n = (size_t)v;
	if (util_parse_long(argv[3], 1, 4096, &v) != CUST_OK)
		return 2;
	conc = (size_t)v;
	f.pw = argv[4];
	f.cafile = strcmp(argv[5], "-") == 0 ? NULL : argv[5];
	if ((ports = strdup(argv[6])) == NULL)
		return 1;
	for (tok = strtok_r(ports, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (f.nports == MAXSIMS || util_parse_long(tok, 1, 65534, &v) !=
		    CUST_OK)
			return 2;
		f.ports[f.nports++] = (unsigned)v;
	}
	free(ports);
	if (f.nports == 0)
		return 2;
	f.per = (f.n + f.nports - 1) / f.nports;
	if (amt_msg_get(1, "AMT_GeneralSettings", &q) != CUST_OK ||
	    amt_req_body(q, &body) != CUST_OK)
		bench_die(PROG, "envelope");
	f.body = body;
	devs = calloc(f.n, sizeof(*devs));
	lat = calloc(f.n, sizeof(*lat));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	m = curl_multi_init();
	if (devs == NULL || lat == NULL || m == NULL)
		return 1;
	t0 = bench_now();
	while (next < f.n && next < conc) {
		start(m, &devs[next], next, &f);
		next++;
	}
	while (done < f.n) {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct dev *d;
			long code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&d);
			curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result != CURLE_OK || code != 200)
				bad++;
			lat[done++] = bench_now() - d->start;
			curl_multi_remove_handle(m, d->h);
			curl_easy_cleanup(d->h);
			curl_slist_free_all(d->ct);
			if (next < f.n) {
				start(m, &devs[next], next, &f);
				next++;
			}
		}
		if (done < f.n)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	t1 = bench_now();
	getrusage(RUSAGE_SELF, &ru);
	qsort(lat, f.n, sizeof(*lat), cmp_d);
	printf("floor (%s): %zu devices (%zu failed) in %.2fs: %.0f devices/s, "
	    "p50 %.1f ms, p99 %.1f ms per device; client CPU %.2f ms per "
	    "device\n", f.cafile ? "TLS" : "HTTP", f.n, bad, t1 - t0,
	    (double)f.n / (t1 - t0), lat[f.n / 2] * 1e3,
	    lat[(size_t)((double)f.n * 0.99)] * 1e3,
	    ((double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6) *
	    1e3 / (double)f.n);
	curl_multi_cleanup(m);
	free(devs);
	free(lat);
	seal_secret_free(body);
	amt_req_free(q);
	return bad ? 1 : 0;
}

static int
certs_run(int argc, char **argv)
{
	struct cust_state *st = NULL;
	struct ca_bulk_item *items;
	EVP_PKEY *key;
	BIO *b;
	json_t *res = NULL, *it;
	char **fqdn, **csr, path[4096], *pem;
	size_t n, i, issued = 0;
	long v, len;

	if (argc != 5 || util_parse_long(argv[3], 1, 1000000, &v) != CUST_OK) {
		fprintf(stderr, "usage: " PROG " certs STATEDIR N OUTDIR\n");
		return 2;
	}
	n = (size_t)v;
	if (state_open(argv[2], &st) != CUST_OK)
		bench_die(PROG, "state_open");
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) == NULL ||
	    (b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) ||
	    (len = BIO_get_mem_data(b, &pem)) <= 0)
		bench_die(PROG, "device key");
	snprintf(path, sizeof(path), "%s/key.pem", argv[4]);
	if (util_write_file(path, pem, (size_t)len, 0600) != CUST_OK)
		bench_die(PROG, "write key.pem");
	BIO_free(b);
	fqdn = calloc(n, sizeof(*fqdn));
	csr = calloc(n, sizeof(*csr));
	items = calloc(n, sizeof(*items));
	if (fqdn == NULL || csr == NULL || items == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (asprintf(&fqdn[i], "dev%05zu.amtsim.test", i) == -1)
			return 1;
		csr[i] = bench_csr(PROG, key, fqdn[i]);
		items[i] = (struct ca_bulk_item){ fqdn[i], csr[i],
		    strlen(csr[i]) };
	}
	if (ca_sign_bulk(st, "bench", items, n, 0, &res, &issued) != CUST_OK)
		bench_die(PROG, "ca_sign_bulk");
	if (issued != n) {
		fprintf(stderr, PROG ": %zu of %zu certificates issued: %s\n",
		    issued, n, json_string_value(json_object_get(json_array_get(
		    res, 0), "message")));
		return 1;
	}
	json_array_foreach(res, i, it) {
		const char *chain = json_string_value(json_object_get(it,
		    "chain"));

		snprintf(path, sizeof(path), "%s/%s.crt", argv[4], fqdn[i]);
		if (chain == NULL || util_write_file(path, chain, strlen(chain),
		    0644) != CUST_OK)
			bench_die(PROG, "write a certificate");
	}
	printf("%zu device certificates in %s\n", n, argv[4]);
	for (i = 0; i < n; i++) {
		free(fqdn[i]);
		free(csr[i]);
	}
	free(fqdn);
	free(csr);
	free(items);
	json_decref(res);
	EVP_PKEY_free(key);
	state_close(st);
	return 0;
}

int
main(int argc, char **argv)
{
	if (cust_init() != CUST_OK) {
		fprintf(stderr, PROG ": cannot start\n");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "floor") == 0)
		return floor_run(argc, argv);
	if (argc > 1 && strcmp(argv[1], "certs") == 0)
		return certs_run(argc, argv);
	fprintf(stderr, "usage: " PROG " floor N CONC PASSWORD CAFILE "
	    "PORT[,PORT...]\n       " PROG " certs STATEDIR N OUTDIR\n");
	return 2;
}
