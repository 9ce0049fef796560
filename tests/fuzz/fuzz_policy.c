/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_policy.c - libFuzzer harness for the policy parser and
 * checker: YAML events, schema walk, rules, every report format and, for
 * a clean policy, the ACL plan. Input is parsed from the memory buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct policy_report *rep = policy_report_new();
	struct policy *p = NULL;
	json_t *plan = NULL, *tags;
	int fmt;

	if (sink == NULL)
		sink = fopen("/dev/null", "w");
	if (rep == NULL || sink == NULL)
		return 0;
	if (policy_load_buf(rep, "fuzz.yaml", (const char *)data, size, &p) ==
	    CUST_OK && policy_clean(p)) {
		tags = json_pack("[s, s]", "lab", "site-1");
		if (policy_plan(p, "d.example.com", tags, &plan) == CUST_OK)
			json_decref(plan);
		plan = NULL;
		/* the group-entry decision too (directory.ad acl_sid) */
		if (policy_plan_sid(p, "d.example.com", tags, POLICY_SID_AUTO,
		    &plan) == CUST_OK)
			json_decref(plan);
		json_decref(tags);
	}
	for (fmt = POLICY_FMT_TEXT; fmt <= POLICY_FMT_CODECLIMATE; fmt++)
		(void)policy_report_write(rep, (enum policy_format)fmt,
		    POLICY_STRICT, sink);
	policy_free(p);
	policy_report_free(rep);
	return 0;
}
