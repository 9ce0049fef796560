/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_policy_diff.c - libFuzzer harness for the privilege
 * diff: the input is two policies separated by a line "...", each parsed
 * (an empty side is "no policy", as custody-policy diff reads it), diffed
 * both ways and against itself, and rendered in every format.
 *
 * Properties checked on every input (abort() when broken): a policy
 * compared with itself has no change and no escalation; when OLD to NEW
 * adds a console, NEW to OLD removes it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct side {
	struct policy_report *rep;
	struct policy *p;
	int ok;		/* usable: well-formed, or empty */
};

static void
load(struct side *s, const char *buf, size_t len)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	if ((s->rep = policy_report_new()) == NULL)
		return;
	for (i = 0; i < len && strchr(" \t\r\n", buf[i]) != NULL; i++)
		;
	if (i == len) {
		s->ok = 1;
		return;
	}
	s->ok = policy_load_buf(s->rep, "side.yaml", buf, len, &s->p) ==
	    CUST_OK;
}

static size_t
count_change(json_t *d, const char *change)
{
	json_t *e;
	size_t i, n = 0;

	json_array_foreach(json_object_get(d, "consoles"), i, e)
		n += strcmp(json_string_value(json_object_get(e, "change")),
		    change) == 0;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	const char *buf = (const char *)data, *sep;
	struct side a, b;
	json_t *ab = NULL, *ba = NULL, *aa = NULL;
	size_t la;
	int fmt;

	if (sink == NULL && (sink = fopen("/dev/null", "w")) == NULL)
		return 0;
	sep = memmem(buf, size, "\n...\n", 5);
	la = sep != NULL ? (size_t)(sep - buf) + 1 : size / 2;
	load(&a, buf, la);
	load(&b, buf + la + (sep != NULL ? 4 : 0),
	    size - la - (sep != NULL ? 4 : 0));
	if (a.ok && b.ok &&
	    policy_diff(a.p, a.rep, "a", b.p, b.rep, "b", &ab) == CUST_OK &&
	    policy_diff(b.p, b.rep, "b", a.p, a.rep, "a", &ba) == CUST_OK &&
	    policy_diff(a.p, a.rep, "a", a.p, a.rep, "a", &aa) == CUST_OK) {
		if (json_array_size(json_object_get(aa, "consoles")) != 0 ||
		    policy_diff_escalates(aa) ||
		    json_array_size(json_object_get(aa, "findings_added")) ||
		    count_change(ab, "added") != count_change(ba, "removed"))
			abort();
		for (fmt = POLICY_DIFF_TEXT; fmt <= POLICY_DIFF_JSON; fmt++)
			(void)policy_diff_write(ab, (enum policy_diff_format)fmt,
			    sink);
	}
	json_decref(ab);
	json_decref(ba);
	json_decref(aa);
	policy_free(a.p);
	policy_free(b.p);
	policy_report_free(a.rep);
	policy_report_free(b.rep);
	return 0;
}
