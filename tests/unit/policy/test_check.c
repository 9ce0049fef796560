/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/test_check.c - every least-privilege rule, each with
 * documents that pass and documents that fail at an exact line:column. */
#include <stdlib.h>

#include "ptest.h"

/* Lines 7-8: console b (add line 9 duties, line 10 more). */
#define B \
	"  b:\n" \
	"    identity: {certificate: \"CN=b\"}\n"
#define BK \
	"  b:\n" \
	"    identity: {kerberos: \"svc-b@CORP.EXAMPLE\"}\n"
#define DIR "directory: {type: ad, realm: CORP.EXAMPLE}\n"
/* A clean policy with a directory and Kerberos for everyone (7 lines). */
#define KHEAD \
	"version: 1\n" \
	"owner: a\n" \
	DIR \
	"consoles:\n" \
	"  a:\n" \
	"    identity: {kerberos: \"svc-a@CORP.EXAMPLE\"}\n" \
	"    duties: [setup]\n"

static const struct pcase cases[] = {
	/* owner */
	{ "owner", HEAD, 0, 0, 0 },
	{ "owner", "version: 1\nconsoles:\n  a:\n    identity: "
	  "{certificate: \"CN=a\"}\n    duties: [power]\n", 1, 1, 0 },
	{ "owner", "version: 1\nowner: zz\nconsoles:\n  a:\n    identity: "
	  "{certificate: \"CN=a\"}\n    duties: [power]\n", 2, 8, 0 },

	/* identity */
	{ "identity", HEAD B "    duties: [power]\n", 0, 0, 0 },
	{ "identity", HEAD "  b:\n    duties: [power]\n", 7, 3, 0 },
	{ "identity", HEAD "  b:\n    identity: {certificate: \"O=x\"}\n"
	  "    duties: [power]\n", 8, 29, 0 },
	{ "identity", HEAD "  b:\n    identity: {kerberos: \"svc@corp\"}\n"
	  "    duties: [power]\n", 8, 26, 0 },
	{ "identity", HEAD "  b:\n    identity: {}\n    duties: [power]\n",
	  8, 15, 0 },
	/* the same subject twice: custody could not tell them apart */
	{ "identity", HEAD "  b:\n    identity: {certificate: \"cn=A\"}\n"
	  "    duties: [power]\n", 8, 29, 0 },

	/* case-twin: console names differing only in case */
	{ "case-twin", HEAD "  A:\n    identity: {certificate: \"CN=b\"}\n"
	  "    username: \"amt-b\"\n    duties: [power]\n", 7, 3,
	  POLICY_SEV_WARNING },
	{ "case-twin", HEAD "  ab:\n    identity: {certificate: \"CN=b\"}\n"
	  "    duties: [power]\n", 0, 0, 0 },

	/* no-duties */
	{ "no-duties", HEAD B "    duties: [power]\n", 0, 0, 0 },
	{ "no-duties", HEAD B "    duties: []\n", 9, 13, 0 },
	{ "no-duties", HEAD B, 7, 3, 0 },

	/* unknown-duty */
	{ "unknown-duty", HEAD B "    duties: [power, inventory]\n", 0, 0, 0 },
	{ "unknown-duty", HEAD B "    duties: [power, pwer]\n", 9, 21, 0 },
	/* a policy-defined duty is known */
	{ "unknown-duty", HEAD B "    duties: [fw]\nduties:\n"
	  "  fw: {realms: [RemoteControlRealm]}\n", 0, 0, 0 },

	/* duty-definition */
	{ "duty-definition", HEAD "duties:\n  fw: {realms: "
	  "[RemoteControlRealm], rationale: \"r\", exclusive: false}\n",
	  0, 0, 0 },
	{ "duty-definition", HEAD "duties:\n  power: {realms: [5]}\n", 8, 3,
	  0 },
	{ "duty-definition", HEAD "duties:\n  fw: {realms: "
	  "[PTAdministrationRealm]}\n", 8, 17, 0 },
	{ "duty-definition", HEAD "duties:\n  empty: {}\n", 8, 3, 0 },
	{ "duty-definition", HEAD "duties:\n  x: {realms: [Foo]}\n", 8, 16,
	  0 },
	{ "duty-definition", HEAD "duties:\n  x: {realms: [22]}\n", 8, 16, 0 },

	/* unknown-realm */
	{ "unknown-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm]\n", 0, 0, 0 },
	{ "unknown-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm, Foo]\n", 10, 34, 0 },
	{ "unknown-realm", HEAD B "    duties: [power]\n"
	  "    realms: [25]\n", 10, 14, 0 },

	/* unassignable-realm */
	{ "unassignable-realm", HEAD B "    duties: [power]\n"
	  "    realms: [5]\n", 0, 0, 0 },
	{ "unassignable-realm", HEAD B "    duties: [power]\n"
	  "    realms: [5, 0]\n", 10, 17, 0 },
	{ "unassignable-realm", HEAD B "    duties: [power]\n"
	  "    realms: [ReservedRealm1]\n", 10, 14, 0 },
	{ "unassignable-realm", HEAD B "    duties: [power]\n"
	  "    realms: [23, 1]\n", 10, 18, 0 },

	/* avoided-realm: an error by default, a warning when allowed */
	{ "avoided-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm]\n", 0, 0, 0 },
	{ "avoided-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm, FirmwareUpdateRealm]\n", 10, 34,
	  0 },
	{ "avoided-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm, 16]\n"
	  "options: {allow-avoided-realms: true}\n", 10, 34,
	  POLICY_SEV_WARNING },

	/* legacy-realm */
	{ "legacy-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm]\n", 0, 0, 0 },
	{ "legacy-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm, 17]\n", 10, 34,
	  POLICY_SEV_WARNING },

	/* excess-realm */
	{ "excess-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm]\n", 0, 0, 0 },
	{ "excess-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm, RedirectionRealm]\n", 10, 34, 0 },
	/* names and numbers alike */
	{ "excess-realm", HEAD B "    duties: [power]\n"
	  "    realms: [5, 13]\n", 10, 17, 0 },

	/* realm-missing */
	{ "realm-missing", HEAD B "    duties: [power, inventory]\n"
	  "    realms: [RemoteControlRealm, HardwareAssetRealm, 13]\n", 0, 0,
	  0 },
	{ "realm-missing", HEAD B "    duties: [power, inventory]\n"
	  "    realms: [RemoteControlRealm, HardwareAssetRealm]\n", 10, 13,
	  POLICY_SEV_WARNING },

	/* admin-realm */
	{ "admin-realm", HEAD B "    duties: [power]\n", 0, 0, 0 },
	{ "admin-realm", HEAD B "    duties: [power, setup]\n", 9, 21, 0 },
	{ "admin-realm", HEAD B "    duties: [power]\n"
	  "    realms: [RemoteControlRealm, PTAdministrationRealm]\n", 10, 34,
	  0 },

	/* exclusive-duty */
	{ "exclusive-duty", HEAD B "    duties: [system-defense]\n"
	  "  c:\n    identity: {certificate: \"CN=c\"}\n"
	  "    duties: [power, audit]\n", 0, 0, 0 },
	{ "exclusive-duty", HEAD B "    duties: [system-defense]\n"
	  "  c:\n    identity: {certificate: \"CN=c\"}\n"
	  "    duties: [power, system-defense]\n", 12, 21, 0 },
	/* holding the realm through another duty is holding the duty */
	{ "exclusive-duty", HEAD B "    duties: [audit]\n"
	  "  c:\n    identity: {certificate: \"CN=c\"}\n"
	  "    duties: [logs]\n"
	  "duties:\n  logs: {realms: [AuditLogRealm]}\n", 12, 14, 0 },
	/* a policy-defined exclusive duty */
	{ "exclusive-duty", HEAD B "    duties: [nac]\n"
	  "  c:\n    identity: {certificate: \"CN=c\"}\n"
	  "    duties: [nac]\n"
	  "duties:\n  nac: {realms: [StorageRealm], exclusive: true}\n", 12,
	  14, 0 },

	/* audit-admin-loss */
	{ "audit-admin-loss", HEAD B "    duties: [audit]\n", 0, 0, 0 },
	{ "audit-admin-loss", HEAD B "    duties: [power, logs]\n"
	  "duties:\n  logs: {realms: [AuditLogRealm]}\n", 9, 21,
	  POLICY_SEV_WARNING },

	/* auth-method */
	{ "auth-method", HEAD BK "    duties: [power]\n    auth: kerberos\n"
	  DIR, 0, 0, 0 },
	{ "auth-method", HEAD BK "    duties: [power]\n    auth: kerberos\n",
	  10, 11, 0 },
	{ "auth-method", HEAD B "    duties: [power]\n    auth: kerberos\n"
	  DIR, 10, 11, 0 },

	/* digest-with-directory */
	{ "digest-with-directory", KHEAD, 0, 0, 0 },
	{ "digest-with-directory", HEAD B "    duties: [power]\n", 0, 0, 0 },
	{ "digest-with-directory", KHEAD "    auth: digest\n", 8, 11,
	  POLICY_SEV_WARNING },
	{ "digest-with-directory", KHEAD "  b:\n    identity: "
	  "{certificate: \"CN=b\"}\n    duties: [power]\n", 8, 3,
	  POLICY_SEV_WARNING },

	/* digest-username */
	{ "digest-username", HEAD B "    duties: [power]\n"
	  "    username: ops-b\n", 0, 0, 0 },
	{ "digest-username", HEAD "  administrator:\n    identity: "
	  "{certificate: \"CN=b\"}\n    duties: [power]\n", 7, 3, 0 },
	{ "digest-username", HEAD "  a-very-long-console-name:\n"
	  "    identity: {certificate: \"CN=b\"}\n    duties: [power]\n", 7, 3,
	  0 },
	{ "digest-username", HEAD B "    duties: [power]\n"
	  "    username: \"ops:b\"\n", 10, 15, 0 },
	{ "digest-username", HEAD B "    duties: [power]\n"
	  "    username: \"$$ops\"\n", 10, 15, 0 },
	/* unique, ignoring case */
	{ "digest-username", HEAD B "    duties: [power]\n"
	  "    username: A\n", 10, 15, 0 },
	/* a Kerberos console has no digest user */
	{ "digest-username", KHEAD "  administrator:\n    identity: "
	  "{kerberos: \"svc-b@CORP.EXAMPLE\"}\n    duties: [power]\n", 0, 0,
	  0 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
test_rule(void **state)
{
	pt_run_rule(cases, NCASES, *state);
}

/* A document of n consoles, the first owning setup; consoles from index
 * scoped on carry the tag of their parity ("even"/"odd"); kerberos picks
 * the method (with a directory). */
static char *
fleet(int n, int scoped, int kerberos)
{
	size_t cap = 256 + (size_t)n * 160, used;
	char *doc = malloc(cap);
	int i;

	assert_non_null(doc);
	used = (size_t)snprintf(doc, cap, "version: 1\nowner: c0\n%s"
	    "consoles:\n", kerberos ? DIR : "");
	for (i = 0; i < n; i++) {
		used += (size_t)snprintf(doc + used, cap - used,
		    "  c%d:\n    identity: {%s: \"%s%d%s\"}\n"
		    "    duties: [%s]\n", i, kerberos ? "kerberos" :
		    "certificate", kerberos ? "svc-c" : "CN=c", i,
		    kerberos ? "@CORP.EXAMPLE" : "", i ? "power" : "setup");
		if (i >= scoped)
			used += (size_t)snprintf(doc + used, cap - used,
			    "    scope: {tags: [%s]}\n", i % 2 ? "odd" : "even");
	}
	assert_true(used < cap);
	return doc;
}

static void
expect_budget(char *doc, unsigned line, unsigned col)
{
	struct policy_report *rep = pt_load(doc, NULL, NULL);

	if (line == 0) {
		assert_int_equal(pt_count(rep, "acl-budget"), 0);
	} else {
		if (pt_find(rep, "acl-budget", line, col) == NULL)
			pt_dump(rep);
		assert_non_null(pt_find(rep, "acl-budget", line, col));
		assert_int_equal(pt_count(rep, "acl-budget"), 1);
	}
	policy_report_free(rep);
	free(doc);
}

/* Each console takes 3 lines, 4 when scoped; console i starts at line
 * 4 + 3i while unscoped. */
static void
test_acl_budget(void **state)
{
	(void)state;
	expect_budget(fleet(7, 7, 0), 0, 0);
	/* the 8th digest user on every device: c7 */
	expect_budget(fleet(8, 8, 0), 4 + 3 * 7, 3);
	/* 5 unscoped, then c5..c8 scoped alternately: odd gets c5 c7,
	 * even c6 c8: 7 per device, within the limit */
	expect_budget(fleet(9, 5, 0), 0, 0);
	/* 5 unscoped + c5..c9: odd gets c5 c7 c9 = 8, c9 one too many;
	 * c9 starts after 5 unscoped (3 lines) and 4 scoped (4 lines) */
	expect_budget(fleet(10, 5, 0), 4 + 3 * 5 + 4 * 4, 3);
	/* Kerberos: 32 fit, 33 do not; with a directory line the first
	 * console starts at line 5 */
	expect_budget(fleet(32, 32, 1), 0, 0);
	expect_budget(fleet(33, 33, 1), 5 + 3 * 32, 3);
}

/* The finding says which devices and which consoles. */
static void
test_budget_message(void **state)
{
	char *doc = fleet(8, 8, 0);
	struct policy_report *rep = pt_load(doc, NULL, NULL);
	const struct policy_finding *f = pt_find(rep, "acl-budget", 25, 3);

	(void)state;
	assert_non_null(f);
	assert_non_null(strstr(f->message, "every device"));
	assert_non_null(strstr(f->message, "c7"));
	assert_null(f->console);	/* a policy-wide rule */
	policy_report_free(rep);
	free(doc);
}

/* Console and policy rules, except the budget (generated fleets). */
static int
rule_here(const struct policy_rule *r)
{
	return r->scope != POLICY_SCOPE_INPUT &&
	    strcmp(r->id, "acl-budget") != 0;
}

/* Every rule has cases here or in test_parse.c (input rules). */
static void
test_coverage(void **state)
{
	const struct policy_rule *rules;
	size_t n, i, k;

	(void)state;
	rules = policy_rules(&n);
	for (i = 0; i < n; i++) {
		int found = !rule_here(&rules[i]);

		for (k = 0; k < NCASES && !found; k++)
			found = strcmp(cases[k].rule, rules[i].id) == 0;
		if (!found)
			print_message("no cases for rule %s\n", rules[i].id);
		assert_true(found);
	}
}

/* A clean policy loads, is clean, and produces no finding at all. */
static void
test_clean(void **state)
{
	struct policy *p = NULL;
	struct policy_report *rep;
	int rc;

	(void)state;
	rep = pt_load(HEAD B "    duties: [power, inventory, redirection]\n"
	    "    access: any\n    scope: {tags: [lab]}\n", &p, &rc);
	assert_int_equal(rc, CUST_OK);
	assert_non_null(p);
	assert_true(policy_clean(p));
	assert_int_equal(policy_console_count(p), 2);
	assert_int_equal(policy_report_count(rep), 0);
	assert_int_equal(policy_report_exit(rep, POLICY_STRICT), 0);
	policy_free(p);
	policy_report_free(rep);

	/* errors: loaded but not clean, exit 1 */
	rep = pt_load(HEAD B "    duties: [power, setup]\n", &p, &rc);
	assert_int_equal(rc, CUST_OK);
	assert_non_null(p);
	assert_false(policy_clean(p));
	assert_int_equal(policy_report_exit(rep, 0), 1);
	policy_free(p);
	policy_report_free(rep);

	/* warnings only: exit 0, or 1 with --strict */
	rep = pt_load(KHEAD "    auth: digest\n", &p, &rc);
	assert_true(policy_clean(p));
	assert_int_equal(policy_report_warnings(rep), 1);
	assert_int_equal(policy_report_errors(rep), 0);
	assert_int_equal(policy_report_exit(rep, 0), 0);
	assert_int_equal(policy_report_exit(rep, POLICY_STRICT), 1);
	policy_free(p);
	policy_report_free(rep);
}

int
main(void)
{
	struct CMUnitTest tests[64];
	size_t k = pt_rule_tests(tests, 60, rule_here, test_rule);

	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_acl_budget);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_budget_message);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_coverage);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_clean);
	return _cmocka_run_group_tests("policy/check", tests, k, NULL, NULL);
}
