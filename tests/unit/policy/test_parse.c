/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/test_parse.c - the policy schema: unknown keys, wrong
 * types, missing keys and values outside their sets, each at its exact
 * line:column, and the malformed exit status. */
#include <stdlib.h>
#include <unistd.h>

#include "ptest.h"


static const struct pcase cases[] = {
	/* unknown-key */
	{ "unknown-key", HEAD, 0, 0, 0 },
	{ "unknown-key", HEAD "    dutys: [power]\n", 7, 5, 0 },
	{ "unknown-key", HEAD "extra: 1\n", 7, 1, 0 },
	{ "unknown-key", HEAD "    identity: {certificate: \"CN=a\", "
	  "kerb: x}\n", 7, 37, 0 },
	{ "unknown-key", HEAD "options: {allow-avoided: true}\n", 7, 11, 0 },

	/* wrong-type */
	{ "wrong-type", HEAD "    access: local\n", 0, 0, 0 },
	{ "wrong-type", "version: \"1\"\nowner: a\nconsoles: {}\n", 1, 10, 0 },
	{ "wrong-type", "version: 1\nowner: yes\nconsoles: {}\n", 2, 8, 0 },
	{ "wrong-type", "version: 1\nowner: ~\nconsoles: {}\n", 2, 8, 0 },
	{ "wrong-type", "version: 1\nowner: a\nconsoles: []\n", 3, 11, 0 },
	{ "wrong-type", "version: 1\nowner: a\nconsoles:\n  a: x\n", 4, 6, 0 },
	{ "wrong-type", "version: 1\nowner: a\nconsoles:\n  a:\n"
	  "    duties: setup\n", 5, 13, 0 },
	{ "wrong-type", "version: 1\nowner: a\nconsoles:\n  a:\n"
	  "    duties: [setup, [power]]\n", 5, 21, 0 },
	{ "wrong-type", "version: 1\nowner: a\nconsoles:\n  a:\n"
	  "    identity: \"CN=a\"\n", 5, 15, 0 },
	{ "wrong-type", "version: 1\nowner: a\nconsoles:\n  a:\n"
	  "    realms: [{a: 1}]\n", 5, 14, 0 },
	{ "wrong-type", "- version\n", 1, 1, 0 },
	{ "wrong-type", "version: 1\n[a]: 1\n", 2, 1, 0 },
	{ "wrong-type", HEAD "options: {allow-avoided-realms: maybe}\n", 7,
	  33, 0 },

	/* missing-key */
	{ "missing-key", HEAD, 0, 0, 0 },
	{ "missing-key", "owner: a\nconsoles: {}\n", 1, 1, 0 },
	{ "missing-key", "version: 1\nowner: a\n", 1, 1, 0 },
	{ "missing-key", HEAD "directory: {type: ad}\n", 7, 12, 0 },
	{ "missing-key", HEAD "    scope: {}\n", 7, 12, 0 },

	/* bad-value */
	{ "bad-value", HEAD "    access: any\n    auth: digest\n"
	  "    scope: {tags: [lab, site-1.b_2]}\n", 0, 0, 0 },
	{ "bad-value", "version: 2\nowner: a\nconsoles: {}\n", 1, 10, 0 },
	{ "bad-value", HEAD "    access: sometimes\n", 7, 13, 0 },
	{ "bad-value", HEAD "    auth: ntlm\n", 7, 11, 0 },
	{ "bad-value", HEAD "  b c:\n    duties: [power]\n", 7, 3, 0 },
	{ "bad-value", HEAD "duties:\n  Power: {realms: [5]}\n", 8, 3, 0 },
	{ "bad-value", HEAD "    scope: {tags: [lab, \"bad tag\"]}\n", 7, 25,
	  0 },
	{ "bad-value", HEAD "directory: {type: novell, realm: X}\n", 7, 19,
	  0 },
	{ "bad-value", HEAD "directory: {type: ad, realm: corp.example}\n",
	  7, 30, 0 },
	{ "bad-value", "version: 1\nowner: \"a\\0b\"\nconsoles: {}\n", 2, 8,
	  0 },

	/* duplicate-key: YAML parsers disagree on which one wins */
	{ "duplicate-key", HEAD "  b:\n    duties: [power]\n", 0, 0, 0 },
	{ "duplicate-key", HEAD "  a:\n    duties: [power]\n", 7, 3, 0 },
	{ "duplicate-key", HEAD "    duties: [power]\n", 7, 5, 0 },
	{ "duplicate-key", "version: 1\nversion: 1\n", 2, 1, 0 },
	{ "duplicate-key", HEAD "    identity: {kerberos: x, kerberos: y}\n",
	  7, 29, 0 },

	/* yaml-feature: anchors, aliases, tags, second documents, depth */
	{ "yaml-feature", HEAD "    access: network\n", 0, 0, 0 },
	{ "yaml-feature", "version: 1\nowner: &o a\nconsoles: {}\n", 2, 8,
	  0 },
	{ "yaml-feature", "version: 1\nowner: a\nx: &o a\ny: *o\n", 4, 4, 0 },
	{ "yaml-feature", "version: 1\nowner: !!str a\n", 2, 8, 0 },
	{ "yaml-feature", "version: 1\nowner: !custom a\n", 2, 8, 0 },
	{ "yaml-feature", HEAD "---\nversion: 1\n", 7, 1, 0 },
	{ "yaml-feature", "%TAG !e! tag:example.com,2000:\n---\n"
	  "version: 1\n", 1, 1, 0 },
	{ "yaml-feature", "version: 1\nconsoles:\n  a:\n    identity: &id "
	  "{certificate: \"CN=a\"}\n", 4, 15, 0 },
	/* the classic alias bomb: refused at its first anchor */
	{ "yaml-feature", "a: &a [\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	  "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	  "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	  "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n", 1, 4, 0 },
	{ "yaml-feature", "version: 1\nowner: a\n"
	  "x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]"
	  "]]]]]]]]]]]]]]]]\n", 3, 35, 0 },

	/* yaml-syntax: where libyaml stops */
	{ "yaml-syntax", HEAD, 0, 0, 0 },
	{ "yaml-syntax", "", 1, 1, 0 },
	{ "yaml-syntax", "# only a comment\n", 1, 1, 0 },
	{ "yaml-syntax", "version: 1\nconsoles: [a,\n", 3, 1, 0 },
	{ "yaml-syntax", "version: 1\n\towner: a\n", 2, 1, 0 },
	{ "yaml-syntax", "version: 1\nowner: \"a\n", 3, 1, 0 },
	{ "yaml-syntax", "version: 1\n  owner: a\n", 2, 8, 0 },
	{ "yaml-syntax", "version: 1\nowner: \xff\n", 2, 8, 0 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
test_rule(void **state)
{
	pt_run_rule(cases, NCASES, *state);
}

/* Malformed input: no policy, CUST_E_PARSE, exit 2 even with errors of
 * other kinds around; the rules did not run. */
static void
test_malformed_exit(void **state)
{
	struct policy *p = (struct policy *)1;
	struct policy_report *rep;
	int rc;

	(void)state;
	rep = pt_load(HEAD "  b:\n    duties: [setup]\n    dutys: []\n", &p,
	    &rc);
	assert_int_equal(rc, CUST_E_PARSE);
	assert_null(p);
	assert_int_equal(policy_report_exit(rep, 0), 2);
	/* admin-realm would fire on b, but the rules did not run */
	assert_int_equal(pt_count(rep, "admin-realm"), 0);
	policy_report_free(rep);

	/* several input findings in one run */
	rep = pt_load("version: 2\nowner: yes\nextra: 1\nconsoles: {}\n", &p,
	    &rc);
	assert_int_equal(rc, CUST_E_PARSE);
	assert_int_equal(policy_report_count(rep), 3);
	policy_report_free(rep);
}

static void
test_unreadable(void **state)
{
	struct policy_report *rep = policy_report_new();
	struct policy *p = NULL;
	char dir[256], path[512];
	const char *base = getenv("TESTTMP");
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ptest.XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(policy_load_file(rep, "/nonexistent/p.yaml", &p),
	    CUST_E_PARSE);
	assert_null(p);
	assert_int_equal(pt_count(rep, "unreadable"), 1);
	assert_int_equal(policy_report_get(rep, 0)->line, 0);
	assert_int_equal(policy_report_exit(rep, 0), 2);
	/* a directory is unreadable too */
	assert_int_equal(policy_load_file(rep, dir, &p), CUST_E_PARSE);
	assert_int_equal(pt_count(rep, "unreadable"), 2);
	policy_report_free(rep);

	/* a readable file loads */
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(HEAD, f);
	fclose(f);
	rep = policy_report_new();
	assert_int_equal(policy_load_file(rep, path, &p), CUST_OK);
	assert_non_null(p);
	assert_true(policy_clean(p));
	assert_int_equal(pt_count(rep, "unreadable"), 0);
	policy_free(p);
	policy_report_free(rep);

	/* over the size limit: refused before parsing */
	rep = policy_report_new();
	assert_int_equal(policy_load_buf(rep, "big", HEAD,
	    (size_t)POLICY_MAX_BYTES + 1, NULL), CUST_E_TOOBIG);
	assert_int_equal(pt_count(rep, "unreadable"), 1);
	policy_report_free(rep);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A document of more nodes than the bound is refused, not parsed into
 * memory without end. */
static void
test_node_limit(void **state)
{
	size_t n = 600000, i, len = 0;
	char *doc = malloc(2 * n + 16);
	struct policy_report *rep;
	int rc;

	(void)state;
	assert_non_null(doc);
	len += (size_t)snprintf(doc, 16, "x: [");
	for (i = 0; i < n; i++) {
		doc[len++] = '1';
		doc[len++] = ',';
	}
	doc[len - 1] = ']';
	rep = policy_report_new();
	rc = policy_load_buf(rep, "t", doc, len, NULL);
	assert_int_equal(rc, CUST_E_PARSE);
	assert_int_equal(pt_count(rep, "yaml-feature"), 1);
	policy_report_free(rep);
	free(doc);
}

/* Input rules with documents (unreadable has its own test). */
static int
rule_here(const struct policy_rule *r)
{
	return r->scope == POLICY_SCOPE_INPUT &&
	    strcmp(r->id, "unreadable") != 0;
}

int
main(void)
{
	struct CMUnitTest tests[32];
	size_t k = pt_rule_tests(tests, 28, rule_here, test_rule);

	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_malformed_exit);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_unreadable);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_node_limit);
	return _cmocka_run_group_tests("policy/parse", tests, k, NULL, NULL);
}
