/* SPDX-License-Identifier: MIT */
/* bench/policy.c - policy check time for a large fleet.
 *
 * Generates in memory a clean policy of N consoles (default 1000): the
 * owner, a security suite, an auditor and an inventory tool on every
 * device, and N-4 site tools in groups of four per site tag, each with a
 * certificate and a Kerberos identity, one to three duties and, for every
 * third, explicit realms. Times policy_load_buf() (YAML, schema, every
 * rule) over several runs and the ACL plan of one device. The target is
 * under 50 ms for 1,000 consoles (issue 4); nothing is asserted. Then the
 * privilege diff of a review that widens the access and scope of some
 * site tools: both sides parsed and checked, diffed, and rendered as
 * Markdown (what the CI recipes do per file).
 *
 * usage: policy [N]
 *        policy --emit N [after]   print the generated policy (the "after"
 *                                  side with a second argument), for
 *                                  bench/policy_tool.sh
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "policy.h"

#define RUNS	21

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
dblcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Append to the buffer; exits on overflow (the size is computed). */
static void __attribute__((format(printf, 3, 4)))
put(char *buf, size_t *used, const char *fmt, ...)
{
	size_t cap = *used + 4096;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *used, cap - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *used) {
		fprintf(stderr, "policy bench: generator overflow\n");
		exit(1);
	}
	*used += (size_t)n;
}

/* The policy of n consoles; variant != 0 gives the "after" side of a
 * review: every seventh site tool gets access any, every tenth one more
 * site tag (both still clean). */
static char *
generate(int n, int variant, size_t *len_out)
{
	static const char *const duties[][3] = {
		{ "power", NULL, NULL },
		{ "power", "inventory", NULL },
		{ "redirection", "power", NULL },
		{ "event-log", "events", NULL },
		{ "inventory", "storage", "time" },
		{ "agent-presence", NULL, NULL },
	};
	static const char *const realms[] = {
		"RemoteControlRealm",
		"RemoteControlRealm, HardwareAssetRealm, GeneralInfoRealm",
		"RedirectionRealm, RemoteControlRealm",
		"EventLogReaderRealm, EventManagerRealm",
		"HardwareAssetRealm, GeneralInfoRealm, StorageRealm, "
		"NetworkTimeRealm",
		"AgentPresenceRemoteRealm",
	};
	size_t cap = 1024 + (size_t)n * 4096 + 4096, used = 0;
	char *buf = malloc(cap);
	int i, k;

	if (buf == NULL) {
		fprintf(stderr, "policy bench: out of memory\n");
		exit(1);
	}
	put(buf, &used, "version: 1\nowner: c0\ndirectory: {type: ad, "
	    "realm: CORP.EXAMPLE}\nconsoles:\n");
	for (i = 0; i < n; i++) {
		const char *const *d = duties[i % 6];

		put(buf, &used, "  c%d:\n    identity:\n      certificate: "
		    "\"CN=c%d.corp.example,O=Example Corp\"\n      kerberos: "
		    "\"svc-amt-c%d@CORP.EXAMPLE\"\n", i, i, i);
		if (i < 4) {
			static const char *const fixed[] = { "setup, power, "
			    "inventory, redirection", "system-defense",
			    "audit, event-log", "inventory" };

			put(buf, &used, "    duties: [%s]\n", fixed[i]);
			continue;
		}
		put(buf, &used, "    duties: [");
		for (k = 0; k < 3 && d[k] != NULL; k++)
			put(buf, &used, "%s%s", k ? ", " : "", d[k]);
		put(buf, &used, "]\n");
		if (i % 3 == 0)
			put(buf, &used, "    realms: [%s]\n", realms[i % 6]);
		put(buf, &used, "    access: %s\n    scope:\n      tags: "
		    "[site-%d%s]\n", i % 5 && !(variant && i % 7 == 0) ?
		    "network" : "any", i / 4, variant && i % 10 == 5 ?
		    ", hq" : "");
	}
	*len_out = used;
	return buf;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000;
	double t[RUNS], t0, plan_ms;
	struct policy_report *rep2 = NULL;
	struct policy *p2 = NULL;
	json_t *diff = NULL;
	FILE *sink;
	char *doc2;
	size_t len2;
	struct policy_report *rep = NULL;
	struct policy *p = NULL;
	json_t *tags, *plan = NULL;
	size_t len, i;
	char *doc;
	int r;

	if (argc > 2 && strcmp(argv[1], "--emit") == 0) {
		n = (int)strtol(argv[2], NULL, 10);
		if (n < 4 || n > 1000000)
			return 2;
		doc = generate(n, argc > 3, &len);
		r = fwrite(doc, 1, len, stdout) == len ? 0 : 1;
		free(doc);
		return r;
	}
	if (n < 4 || n > 1000000) {
		fprintf(stderr, "usage: policy [N >= 4]\n");
		return 2;
	}
	doc = generate(n, 0, &len);
	for (i = 0; i < RUNS; i++) {
		policy_free(p);
		policy_report_free(rep);
		p = NULL;
		if ((rep = policy_report_new()) == NULL)
			return 1;
		t0 = now_ms();
		r = policy_load_buf(rep, "bench.yaml", doc, len, &p);
		t[i] = now_ms() - t0;
		if (r != CUST_OK || !policy_clean(p) ||
		    policy_report_count(rep) != 0) {
			fprintf(stderr, "policy bench: the generated policy is "
			    "not clean (%zu findings):\n",
			    policy_report_count(rep));
			if (policy_report_write(rep, POLICY_FMT_TEXT, 0,
			    stderr) != CUST_OK)
				fprintf(stderr, "(cannot print them)\n");
			return 1;
		}
	}
	tags = json_pack("[s]", "site-7");
	t0 = now_ms();
	for (i = 0; i < 1000; i++) {
		json_decref(plan);
		if (policy_plan(p, "d.corp.example", tags, &plan) != CUST_OK)
			return 1;
	}
	plan_ms = (now_ms() - t0) / 1000;
	qsort(t, RUNS, sizeof(t[0]), dblcmp);
	printf("policy: %d consoles, %zu KiB of YAML: check min %.2f ms, "
	    "median %.2f ms, max %.2f ms over %d runs (target < 50 ms)\n",
	    n, len / 1024, t[0], t[RUNS / 2], t[RUNS - 1], RUNS);
	printf("policy: plan of one device (%zu entries): %.1f us\n",
	    json_array_size(json_object_get(plan, "entries")), plan_ms * 1e3);
	json_decref(plan);
	json_decref(tags);

	/* The diff of a review: load both sides, diff, Markdown. */
	doc2 = generate(n, 1, &len2);
	if ((sink = fopen("/dev/null", "w")) == NULL)
		return 1;
	for (i = 0; i < RUNS; i++) {
		policy_free(p);
		policy_report_free(rep);
		policy_free(p2);
		policy_report_free(rep2);
		p = p2 = NULL;
		json_decref(diff);
		diff = NULL;
		t0 = now_ms();
		if ((rep = policy_report_new()) == NULL ||
		    (rep2 = policy_report_new()) == NULL ||
		    policy_load_buf(rep, "old.yaml", doc, len, &p) != CUST_OK ||
		    policy_load_buf(rep2, "new.yaml", doc2, len2, &p2) !=
		    CUST_OK ||
		    policy_diff(p, rep, "old.yaml", p2, rep2, "new.yaml",
		    &diff) != CUST_OK ||
		    policy_diff_write(diff, POLICY_DIFF_MARKDOWN, sink) !=
		    CUST_OK) {
			fprintf(stderr, "policy bench: diff failed\n");
			return 1;
		}
		t[i] = now_ms() - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), dblcmp);
	printf("policy: diff of two %d-console policies (%zu consoles "
	    "changed, escalation %s), load both + diff + markdown: min "
	    "%.2f ms, median %.2f ms\n", n,
	    json_array_size(json_object_get(diff, "consoles")),
	    policy_diff_escalates(diff) ? "yes" : "no", t[0], t[RUNS / 2]);
	fclose(sink);
	json_decref(diff);
	policy_free(p2);
	policy_report_free(rep2);
	free(doc2);
	policy_free(p);
	policy_report_free(rep);
	free(doc);
	return 0;
}
