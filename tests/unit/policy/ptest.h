/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/ptest.h - helpers shared by the policy unit tests:
 * load a document from a string and look for findings by rule and place.
 *
 * A case says "this document has a finding of RULE at LINE:COL with this
 * severity" or "this document has no finding of RULE"; run_cases() runs
 * every case of one rule, so each rule is one cmocka test that fails
 * when either its passing or its failing documents misbehave.
 */
#ifndef CUST_PTEST_H
#define CUST_PTEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "err.h"
#include "policy.h"

#define UNUSED __attribute__((unused))

/* Lines 1-6 of most test documents: a clean policy whose owner a holds
 * setup. */
#define HEAD \
	"version: 1\n" \
	"owner: a\n" \
	"consoles:\n" \
	"  a:\n" \
	"    identity: {certificate: \"CN=a\"}\n" \
	"    duties: [setup]\n"

struct pcase {
	const char *rule;
	const char *doc;	/* the policy text */
	unsigned line, col;	/* 0: the rule must not fire */
	enum policy_severity sev;	/* 0: error */
};

/* Load doc into a new report (and *p_out unless NULL); *rc_out = the
 * loader's return. */
static UNUSED struct policy_report *
pt_load(const char *doc, struct policy **p_out, int *rc_out)
{
	struct policy_report *rep = policy_report_new();
	int rc;

	assert_non_null(rep);
	rc = policy_load_buf(rep, "t.yaml", doc, strlen(doc), p_out);
	if (rc_out != NULL)
		*rc_out = rc;
	return rep;
}

static UNUSED void
pt_dump(const struct policy_report *rep)
{
	size_t i;

	for (i = 0; i < policy_report_count(rep); i++) {
		const struct policy_finding *f = policy_report_get(rep, i);

		print_message("    %u:%u %s %s: %s\n", f->line, f->column,
		    f->severity == POLICY_SEV_ERROR ? "error" : "warning",
		    f->rule->id, f->message);
	}
}

/* The finding of rule at line:col, or NULL. */
static UNUSED const struct policy_finding *
pt_find(const struct policy_report *rep, const char *rule, unsigned line,
    unsigned col)
{
	size_t i;

	for (i = 0; i < policy_report_count(rep); i++) {
		const struct policy_finding *f = policy_report_get(rep, i);

		if (strcmp(f->rule->id, rule) == 0 && f->line == line &&
		    f->column == col)
			return f;
	}
	return NULL;
}

static UNUSED size_t
pt_count(const struct policy_report *rep, const char *rule)
{
	size_t i, n = 0;

	for (i = 0; i < policy_report_count(rep); i++)
		n += strcmp(policy_report_get(rep, i)->rule->id, rule) == 0;
	return n;
}

static UNUSED void
pt_case(const struct pcase *c)
{
	struct policy_report *rep = pt_load(c->doc, NULL, NULL);
	const struct policy_finding *f;

	assert_non_null(policy_rule_by_id(c->rule));
	if (c->line == 0) {
		if (pt_count(rep, c->rule) != 0) {
			print_message("unexpected %s in:\n%s", c->rule, c->doc);
			pt_dump(rep);
		}
		assert_int_equal(pt_count(rep, c->rule), 0);
	} else {
		f = pt_find(rep, c->rule, c->line, c->col);
		if (f == NULL) {
			print_message("no %s at %u:%u in:\n%s", c->rule,
			    c->line, c->col, c->doc);
			pt_dump(rep);
		}
		assert_non_null(f);
		assert_int_equal(f->severity, c->sev ? c->sev :
		    POLICY_SEV_ERROR);
		/* A console's finding names the console. */
		if (f->rule->scope == POLICY_SCOPE_CONSOLE) {
			assert_non_null(f->console);
			assert_non_null(strstr(f->message, f->console));
		}
	}
	policy_report_free(rep);
}

/* Every case of the rule named by *state; at least one passing and one
 * failing case must exist. */
static UNUSED void
pt_run_rule(const struct pcase *cases, size_t n, const char *rule)
{
	size_t i, pass = 0, fail = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(cases[i].rule, rule) != 0)
			continue;
		pt_case(&cases[i]);
		if (cases[i].line == 0)
			pass++;
		else
			fail++;
	}
	assert_true(pass > 0);
	assert_true(fail > 0);
}

/* One cmocka test per rule that want() accepts, named after the rule,
 * running fn with the rule ID as its state. Returns how many were put
 * into tests[0..max). */
static UNUSED size_t
pt_rule_tests(struct CMUnitTest *tests, size_t max,
    int (*want)(const struct policy_rule *), void (*fn)(void **))
{
	const struct policy_rule *rules;
	size_t n, i, k = 0;

	rules = policy_rules(&n);
	for (i = 0; i < n && k < max; i++) {
		if (!want(&rules[i]))
			continue;
		memset(&tests[k], 0, sizeof(tests[k]));
		tests[k].name = rules[i].id;
		tests[k].test_func = fn;
		tests[k].initial_state = (void *)(uintptr_t)rules[i].id;
		k++;
	}
	return k;
}

/* The first object of JSON array a whose member key is the string
 * value, or NULL. */
static UNUSED json_t *
pt_find_obj(json_t *a, const char *key, const char *value)
{
	json_t *e;
	size_t i;

	json_array_foreach(a, i, e) {
		const char *v = json_string_value(json_object_get(e, key));

		if (v != NULL && strcmp(v, value) == 0)
			return e;
	}
	return NULL;
}

#endif
