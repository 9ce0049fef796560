/* SPDX-License-Identifier: MIT */
/* src/daemon/metrics.c - custodyd's counters and their Prometheus text
 * (GET /metrics, admin only).
 *
 * Counters are atomics updated by the loop and the workers; the text is
 * made by a worker from them, the "status" operation (seal state, device
 * and audit counts: key lookups, never scans) and the audit group writer's
 * counters (batch sizes).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "err.h"
#include "seal.h"
#include "daemon_int.h"

/* Statuses counted one by one; others fall in "other". */
static const int statuses[] = { 200, 304, 400, 401, 403, 404, 405, 409,
    413, 415, 417, 422, 500, 501, 502, 503, 505 };
#define NSTATUS	(sizeof(statuses) / sizeof(statuses[0]) + 1)
#define NROUTE_MAX	64

/* Latency buckets, seconds. */
static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define NBUCKET	(sizeof(buckets) / sizeof(buckets[0]))

static const char *const kinds[] = { "admin", "mebx", "console", "pkcs12" };
#define NKIND	(sizeof(kinds) / sizeof(kinds[0]))

static atomic_ullong req_count[NROUTE_MAX + 1][NSTATUS];
static atomic_ullong lat_bucket[NBUCKET + 1];
static atomic_ullong lat_sum_us, lat_count;
static atomic_ullong secrets[NKIND + 1];
/* Devices' rotation outcomes (struct cred_rotate_result). */
static const char *const outcomes[] = { "rotated", "refused", "missing" };
#define NOUTCOME	(sizeof(outcomes) / sizeof(outcomes[0]))
static atomic_ullong rotations[NOUTCOME];
static atomic_llong conns;
static atomic_ullong conns_total, conns_rejected, conns_evicted;

int64_t
daemon_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
metrics_request(size_t route, int status, int64_t usec)
{
	size_t s, b;

	if (route > NROUTE_MAX)
		route = NROUTE_MAX;
	for (s = 0; s < NSTATUS - 1 && statuses[s] != status; s++)
		;
	atomic_fetch_add(&req_count[route][s], 1);
	for (b = 0; b < NBUCKET && (double)usec / 1e6 > buckets[b]; b++)
		;
	atomic_fetch_add(&lat_bucket[b], 1);
	atomic_fetch_add(&lat_sum_us, (unsigned long long)(usec > 0 ? usec :
	    0));
	atomic_fetch_add(&lat_count, 1);
}

void
metrics_secret(const char *kind)
{
	size_t k;

	for (k = 0; k < NKIND && strcmp(kinds[k], kind) != 0; k++)
		;
	atomic_fetch_add(&secrets[k], 1);
}

void
metrics_rotations(json_t *res)
{
	json_t *v;
	size_t o;

	/* Only a rotation's result says "rotated" (other responses may say
	 * "missing" of something else). */
	if (!json_is_integer(json_object_get(res, "rotated")))
		return;
	for (o = 0; o < NOUTCOME; o++)
		if (json_is_integer(v = json_object_get(res, outcomes[o])) &&
		    json_integer_value(v) > 0)
			atomic_fetch_add(&rotations[o], (unsigned long long)
			    json_integer_value(v));
}

void
metrics_conn(int delta)
{
	atomic_fetch_add(&conns, delta);
	if (delta > 0)
		atomic_fetch_add(&conns_total, 1);
}

void
metrics_rejected(void)
{
	atomic_fetch_add(&conns_rejected, 1);
}

void
metrics_evicted(void)
{
	atomic_fetch_add(&conns_evicted, 1);
}

struct text {
	char *buf;
	size_t len, cap;
	int err;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *nb;

	if (t->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		if ((nb = realloc(t->buf, t->cap * 2 + (size_t)n)) == NULL) {
			t->err = 1;
			return;
		}
		t->buf = nb;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

static long long
num(json_t *status, const char *key)
{
	return (long long)json_integer_value(json_object_get(status, key));
}

/* Counts of the jobs' states ("running", "done" ...: identifiers). */
static void
put_jobs(struct text *t, json_t *jobs)
{
	json_t *counts = json_object(), *j, *v;
	const char *state, *k;
	size_t i;

	if (counts == NULL) {
		t->err = 1;
		return;
	}
	json_array_foreach(jobs, i, j) {
		state = json_string_value(json_object_get(j, "state"));
		if (state == NULL || strspn(state, "abcdefghijklmnopqrstuvwxyz_")
		    != strlen(state) || *state == '\0')
			continue;
		v = json_object_get(counts, state);
		if (json_object_set_new(counts, state, json_integer(v ?
		    json_integer_value(v) + 1 : 1)) != 0)
			t->err = 1;
	}
	put(t, "# HELP custody_jobs_recent The states of the %d newest "
	    "jobs.\n# TYPE custody_jobs_recent gauge\n", METRICS_JOBS);
	json_object_foreach(counts, k, v)
		put(t, "custody_jobs_recent{state=\"%s\"} %lld\n", k,
		    (long long)json_integer_value(v));
	json_decref(counts);
}

/* A gauge by kind from the status's "certificates" (ca_cert_expiry()):
 * the counts under key, the window in days under days_key. */
static void
put_kinds(struct text *t, const char *metric, const char *what, json_t *c,
    const char *key, const char *days_key)
{
	const char *k;
	json_t *v;

	put(t, "# HELP %s Valid certificates %s (%lld days; also those past "
	    "notAfter), by kind.\n# TYPE %s gauge\n", metric, what,
	    (long long)json_integer_value(json_object_get(c, days_key)),
	    metric);
	json_object_foreach(json_object_get(c, key), k, v)
		if (strspn(k, "abcdefghijklmnopqrstuvwxyz_") == strlen(k))
			put(t, "%s{kind=\"%s\"} %lld\n", metric, k,
			    (long long)json_integer_value(v));
}

/* The status's "certificates", when the state has a CA. */
static void
put_certs(struct text *t, json_t *c)
{
	if (c == NULL)
		return;
	put_kinds(t, "custody_certificates_expiring", "whose notAfter is "
	    "near", c, "expiring", "within_days");
	put_kinds(t, "custody_certificates_renew_due", "within the CA's "
	    "renewal window", c, "renew_due", "renew_days");
}

int
metrics_text(struct daemon *d, json_t *status, json_t *jobs,
    char **buf_out, size_t *len_out)
{
	struct text t = { NULL, 0, 4096, 0 };
	struct audit_group_stats gs;
	const struct api_route *rt;
	unsigned long long v, cum;
	size_t r, s, b;
	const char *seal;

	*buf_out = NULL;
	if ((t.buf = malloc(t.cap)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	put(&t, "# HELP custody_http_requests_total HTTP requests by route "
	    "and status.\n# TYPE custody_http_requests_total counter\n");
	for (r = 0; r <= NROUTE_MAX; r++) {
		rt = api_route_at(r);
		if (rt == NULL && r != NROUTE_MAX)
			continue;
		for (s = 0; s < NSTATUS; s++) {
			if ((v = atomic_load(&req_count[r][s])) == 0)
				continue;
			if (s < NSTATUS - 1)
				put(&t, "custody_http_requests_total{method="
				    "\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
				    rt ? rt->method : "-", rt ? rt->pattern :
				    "-", statuses[s], v);
			else
				put(&t, "custody_http_requests_total{method="
				    "\"%s\",route=\"%s\",status=\"other\"} "
				    "%llu\n", rt ? rt->method : "-", rt ?
				    rt->pattern : "-", v);
		}
	}
	put(&t, "# HELP custody_http_request_duration_seconds Time from a "
	    "complete request head to its reply.\n"
	    "# TYPE custody_http_request_duration_seconds histogram\n");
	for (b = 0, cum = 0; b <= NBUCKET; b++) {
		cum += atomic_load(&lat_bucket[b]);
		if (b < NBUCKET)
			put(&t, "custody_http_request_duration_seconds_bucket"
			    "{le=\"%g\"} %llu\n", buckets[b], cum);
		else
			put(&t, "custody_http_request_duration_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", cum);
	}
	put(&t, "custody_http_request_duration_seconds_sum %.6f\n"
	    "custody_http_request_duration_seconds_count %llu\n",
	    (double)atomic_load(&lat_sum_us) / 1e6, atomic_load(&lat_count));
	put(&t, "# HELP custody_secrets_handed_out_total Secrets sent to "
	    "callers (each audited first), by kind.\n"
	    "# TYPE custody_secrets_handed_out_total counter\n");
	for (s = 0; s < NKIND; s++)
		put(&t, "custody_secrets_handed_out_total{kind=\"%s\"} %llu\n",
		    kinds[s], atomic_load(&secrets[s]));
	put(&t, "# HELP custody_rotations_total Devices' password rotations "
	    "run by this custodyd (requests, jobs, the scheduler), by outcome: "
	    "rotated (a new pending version), refused (one was pending), "
	    "missing (device gone).\n# TYPE custody_rotations_total counter\n");
	for (s = 0; s < NOUTCOME; s++)
		put(&t, "custody_rotations_total{outcome=\"%s\"} %llu\n",
		    outcomes[s], atomic_load(&rotations[s]));
	put(&t, "# TYPE custody_connections gauge\ncustody_connections %lld\n"
	    "# TYPE custody_connections_total counter\n"
	    "custody_connections_total %llu\n"
	    "# TYPE custody_connections_rejected_total counter\n"
	    "custody_connections_rejected_total %llu\n"
	    "# TYPE custody_connections_evicted_total counter\n"
	    "custody_connections_evicted_total %llu\n",
	    (long long)atomic_load(&conns), atomic_load(&conns_total),
	    atomic_load(&conns_rejected), atomic_load(&conns_evicted));
	audit_group_stats(d->group, &gs);
	put(&t, "# HELP custody_audit_entries_committed_total Audit entries "
	    "committed by the group writer.\n"
	    "# TYPE custody_audit_entries_committed_total counter\n"
	    "custody_audit_entries_committed_total %llu\n"
	    "# HELP custody_audit_batches_total Group commits (one fsync "
	    "each).\n# TYPE custody_audit_batches_total counter\n"
	    "custody_audit_batches_total %llu\n"
	    "# TYPE custody_audit_failed_entries_total counter\n"
	    "custody_audit_failed_entries_total %llu\n"
	    "# TYPE custody_audit_busy_retries_total counter\n"
	    "custody_audit_busy_retries_total %llu\n"
	    "# HELP custody_audit_batch_max Largest batch so far.\n"
	    "# TYPE custody_audit_batch_max gauge\n"
	    "custody_audit_batch_max %llu\n",
	    (unsigned long long)gs.entries, (unsigned long long)gs.batches,
	    (unsigned long long)gs.failed,
	    (unsigned long long)gs.busy_retries,
	    (unsigned long long)gs.max_batch);
	put(&t, "# HELP custody_key_protect_changes_total Changes of the "
	    "protection of the unsealed keys' memory (mprotect calls).\n"
	    "# TYPE custody_key_protect_changes_total counter\n"
	    "custody_key_protect_changes_total %lu\n", seal_protect_count());
	if (status != NULL) {
		seal = json_string_value(json_object_get(status, "seal"));
		put(&t, "# HELP custody_sealed 1 when the store is sealed.\n"
		    "# TYPE custody_sealed gauge\ncustody_sealed %d\n"
		    "# TYPE custody_devices gauge\ncustody_devices %lld\n"
		    "# TYPE custody_retired_devices gauge\n"
		    "custody_retired_devices %lld\n"
		    "# TYPE custody_pending_secrets gauge\n"
		    "custody_pending_secrets %lld\n"
		    "# TYPE custody_audit_entries gauge\n"
		    "custody_audit_entries %lld\n",
		    seal != NULL && strcmp(seal, "unsealed") == 0 ? 0 : 1,
		    num(status, "devices"), num(status, "retired_devices"),
		    num(status, "pending_secrets"),
		    num(status, "audit_entries"));
	}
	if (status != NULL)
		put_certs(&t, json_object_get(status, "certificates"));
	if (jobs != NULL)
		put_jobs(&t, jobs);
	if (t.err) {
		free(t.buf);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	*buf_out = t.buf;
	*len_out = t.len;
	return CUST_OK;
}
