/* SPDX-License-Identifier: MIT */
/* bench/push_client.c - the floor of bench/push.sh: for each of N
 * simulated devices, what a push cannot do with less - a new connection
 * and one digest-authenticated WS-Man Get (the 401 challenge and the
 * answer), with bare libcurl multi, CONC devices at once. Prints
 * devices/s and the p50/p99 time per device.
 *
 *   push_client PORT N CONC PASSWORD
 *
 * Devices dev00000.amtsim.test ... on 127.0.0.1:PORT (amtsim's HTTP
 * port), user admin. The envelope is custody's own Get (src/amt), the
 * bytes a push's first request sends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "amt.h"
#include "bench.h"
#include "err.h"
#include "seal.h"
#include "util.h"

struct dev {
	CURL *h;
	struct curl_slist *ct;
	char url[128];
	double start;
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
start(CURLM *m, struct dev *d, size_t i, const char *port, const char *pw,
    const struct seal_secret *body)
{
	char fqdn[64], ct[160];

	snprintf(fqdn, sizeof(fqdn), "dev%05zu.amtsim.test", i);
	snprintf(d->url, sizeof(d->url), "http://%s:16992/wsman", fqdn);
	snprintf(ct, sizeof(ct), "%s:16992:127.0.0.1:%s", fqdn, port);
	d->ct = curl_slist_append(NULL, ct);
	d->h = curl_easy_init();
	curl_easy_setopt(d->h, CURLOPT_URL, d->url);
	curl_easy_setopt(d->h, CURLOPT_CONNECT_TO, d->ct);
	curl_easy_setopt(d->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_DIGEST);
	curl_easy_setopt(d->h, CURLOPT_USERNAME, "admin");
	curl_easy_setopt(d->h, CURLOPT_PASSWORD, pw);
	curl_easy_setopt(d->h, CURLOPT_POSTFIELDS, seal_secret_str(body));
	curl_easy_setopt(d->h, CURLOPT_POSTFIELDSIZE,
	    (long)seal_secret_len(body));
	curl_easy_setopt(d->h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(d->h, CURLOPT_PRIVATE, d);
	curl_easy_setopt(d->h, CURLOPT_NOSIGNAL, 1L);
	d->start = bench_now();
	curl_multi_add_handle(m, d->h);
}

int
main(int argc, char **argv)
{
	struct amt_req *q = NULL;
	struct seal_secret *body = NULL;
	struct dev *devs;
	double *lat, t0, t1;
	size_t n, conc, next = 0, done = 0, bad = 0;
	CURLM *m;
	CURLMsg *msg;
	int running, left;

	if (argc != 5) {
		fprintf(stderr, "usage: push_client PORT N CONC PASSWORD\n");
		return 2;
	}
	n = strtoul(argv[2], NULL, 10);
	conc = strtoul(argv[3], NULL, 10);
	if (n == 0 || conc == 0 || cust_init() != CUST_OK ||
	    amt_msg_get(1, "AMT_GeneralSettings", &q) != CUST_OK ||
	    amt_req_body(q, &body) != CUST_OK) {
		fprintf(stderr, "push_client: cannot start\n");
		return 1;
	}
	devs = calloc(n, sizeof(*devs));
	lat = calloc(n, sizeof(*lat));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	m = curl_multi_init();
	if (devs == NULL || lat == NULL || m == NULL)
		return 1;
	t0 = bench_now();
	while (next < n && next < conc) {
		start(m, &devs[next], next, argv[1], argv[4], body);
		next++;
	}
	while (done < n) {
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
			if (next < n) {
				start(m, &devs[next], next, argv[1], argv[4],
				    body);
				next++;
			}
		}
		if (done < n)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	t1 = bench_now();
	qsort(lat, n, sizeof(*lat), cmp_d);
	printf("floor: %zu devices (%zu failed) in %.2fs: %.0f devices/s, "
	    "p50 %.1f ms, p99 %.1f ms per device\n", n, bad, t1 - t0,
	    (double)n / (t1 - t0), lat[n / 2] * 1e3,
	    lat[(size_t)((double)n * 0.99)] * 1e3);
	curl_multi_cleanup(m);
	free(devs);
	free(lat);
	seal_secret_free(body);
	amt_req_free(q);
	return bad ? 1 : 0;
}
