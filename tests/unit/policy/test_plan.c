/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/test_plan.c - ACL entries per device: scope, user
 * names, Kerberos placeholders, AccessPermission, sorted realms, limits. */
#include <stdlib.h>

#include "ptest.h"

static const char digest_doc[] =
	"version: 1\n"
	"owner: prov\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {certificate: \"CN=prov\"}\n"
	"    duties: [setup, redirection, power, inventory]\n"
	"  sec:\n"
	"    identity: {certificate: \"CN=sec\"}\n"
	"    duties: [system-defense]\n"
	"    username: secsuite-01\n"
	"    access: any\n"
	"  agent:\n"
	"    identity: {certificate: \"CN=agent\"}\n"
	"    duties: [agent-presence]\n"
	"    access: local\n"
	"    scope: {tags: [lab]}\n";

static const char kerberos_doc[] =
	"version: 1\n"
	"owner: prov\n"
	"directory: {type: ad, realm: CORP.EXAMPLE}\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {kerberos: \"svc-prov@CORP.EXAMPLE\"}\n"
	"    duties: [setup]\n"
	"  audit:\n"
	"    identity: {kerberos: \"svc-audit@CORP.EXAMPLE\"}\n"
	"    duties: [event-log, audit]\n"
	"    realms: [AuditLogRealm, EventLogReaderRealm]\n";

static struct policy *
load(const char *doc)
{
	struct policy_report *rep;
	struct policy *p = NULL;
	int rc;

	rep = pt_load(doc, &p, &rc);
	if (rc != CUST_OK)
		pt_dump(rep);
	assert_int_equal(rc, CUST_OK);
	assert_non_null(p);
	if (!policy_clean(p))
		pt_dump(rep);
	policy_report_free(rep);
	return p;
}

static json_t *
entry(json_t *plan, const char *console)
{
	return pt_find_obj(json_object_get(plan, "entries"), "console",
	    console);
}

static void
assert_realms(json_t *e, const int *want, size_t n)
{
	json_t *r = json_object_get(e, "realms");
	size_t i;

	assert_int_equal(json_array_size(r), n);
	for (i = 0; i < n; i++)
		assert_int_equal(json_integer_value(json_array_get(r, i)),
		    want[i]);
}

static void
test_digest(void **state)
{
	static const int prov[] = { 2, 3, 4, 5, 13 };
	static const int sec[] = { 11 };
	static const int agent[] = { 10 };
	struct policy *p = load(digest_doc);
	json_t *plan, *e, *tags = json_pack("[s]", "lab");

	(void)state;
	assert_true(policy_clean(p));
	/* untagged device: the scoped agent does not apply */
	assert_int_equal(policy_plan(p, "d1.example.com", NULL, &plan),
	    CUST_OK);
	assert_string_equal(json_string_value(json_object_get(plan, "device")),
	    "d1.example.com");
	assert_int_equal(json_array_size(json_object_get(plan, "entries")), 2);
	assert_null(entry(plan, "agent"));
	e = entry(plan, "prov");
	assert_string_equal(json_string_value(json_object_get(e, "type")),
	    "digest");
	assert_string_equal(json_string_value(json_object_get(e, "username")),
	    "prov");
	assert_int_equal(json_integer_value(json_object_get(e, "access")), 1);
	assert_realms(e, prov, 5);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e,
	    "realm_names"), 1)), "PTAdministrationRealm");
	e = entry(plan, "sec");
	assert_string_equal(json_string_value(json_object_get(e, "username")),
	    "secsuite-01");
	assert_int_equal(json_integer_value(json_object_get(e, "access")), 2);
	assert_realms(e, sec, 1);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "digest_entries")), 2);
	assert_true(json_is_true(json_object_get(plan, "within_limits")));
	json_decref(plan);

	/* tagged device: the agent too, local only */
	assert_int_equal(policy_plan(p, "d2.example.com", tags, &plan),
	    CUST_OK);
	assert_int_equal(json_array_size(json_object_get(plan, "entries")), 3);
	e = entry(plan, "agent");
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "access")), 0);
	assert_string_equal(json_string_value(json_object_get(e,
	    "access_name")), "local");
	assert_realms(e, agent, 1);
	json_decref(plan);
	json_decref(tags);
	policy_free(p);
}

/* One console's entry (policy_plan_entry(), what credential.show reads):
 * the same object as in the device's whole plan, and none where the
 * plan has none. */
static void
test_entry_alone(void **state)
{
	static const char *const names[] = { "prov", "sec", "agent", "nobody" };
	struct policy *p = load(digest_doc);
	json_t *tagsets[2], *plan, *e, *want;
	size_t i, k;

	(void)state;
	tagsets[0] = json_array();
	tagsets[1] = json_pack("[s, s]", "x", "lab");
	for (k = 0; k < 2; k++) {
		assert_int_equal(policy_plan(p, "d.example.com", tagsets[k],
		    &plan), CUST_OK);
		for (i = 0; i < 4; i++) {
			want = entry(plan, names[i]);
			e = NULL;
			if (want == NULL) {
				assert_int_equal(policy_plan_entry(p,
				    tagsets[k], names[i], &e), CUST_E_NOTFOUND);
				assert_null(e);
				continue;
			}
			assert_int_equal(policy_plan_entry(p, tagsets[k],
			    names[i], &e), CUST_OK);
			assert_true(json_equal(e, want));
			json_decref(e);
		}
		json_decref(plan);
	}
	/* The scoped agent: only on the tagged device. */
	assert_int_equal(policy_plan_entry(p, tagsets[0], "agent", &e),
	    CUST_E_NOTFOUND);
	assert_int_equal(policy_plan_entry(p, tagsets[1], "agent", &e),
	    CUST_OK);
	json_decref(e);
	json_decref(tagsets[0]);
	json_decref(tagsets[1]);
	policy_free(p);
}

static void
test_kerberos(void **state)
{
	static const int audit[] = { 19, 20 };
	struct policy *p = load(kerberos_doc);
	json_t *plan, *e;

	(void)state;
	assert_true(policy_clean(p));
	assert_int_equal(policy_plan(p, "d1.example.com", NULL, &plan),
	    CUST_OK);
	e = entry(plan, "audit");
	assert_string_equal(json_string_value(json_object_get(e, "type")),
	    "kerberos");
	assert_string_equal(json_string_value(json_object_get(e,
	    "principal")), "svc-audit@CORP.EXAMPLE");
	assert_string_equal(json_string_value(json_object_get(e, "sid")),
	    "${sid:svc-audit@CORP.EXAMPLE}");
	assert_null(json_object_get(e, "username"));
	assert_realms(e, audit, 2);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "kerberos_entries")), 2);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "digest_entries")), 0);
	json_decref(plan);
	policy_free(p);
}

/* A policy with errors is never planned. */
static void
test_not_clean(void **state)
{
	char doc[sizeof(digest_doc) + 64];
	struct policy *p;
	json_t *plan = (json_t *)1;

	(void)state;
	snprintf(doc, sizeof(doc), "%s    realms: [StorageRealm]\n",
	    digest_doc);
	p = load(doc);
	assert_false(policy_clean(p));
	assert_int_equal(policy_plan(p, "d1.example.com", NULL, &plan),
	    CUST_E_VIOLATION);
	assert_null(plan);
	plan = (json_t *)1;
	assert_int_equal(policy_plan_entry(p, NULL, "prov", &plan),
	    CUST_E_VIOLATION);
	assert_null(plan);
	policy_free(p);
}

/* Scopes that the check treats as separate device groups may meet on a
 * device carrying both tags: the plan sees the real count. */
static void
test_limits(void **state)
{
	char doc[4096];
	size_t used;
	int i;
	struct policy *p;
	json_t *plan, *tags = json_pack("[s, s]", "lab", "site");

	(void)state;
	used = (size_t)snprintf(doc, sizeof(doc), "version: 1\nowner: c0\n"
	    "consoles:\n");
	for (i = 0; i < 9; i++)
		used += (size_t)snprintf(doc + used, sizeof(doc) - used,
		    "  c%d:\n    identity: {certificate: \"CN=c%d\"}\n"
		    "    duties: [%s]\n%s", i, i, i ? "power" : "setup",
		    i < 5 ? "" : i < 7 ? "    scope: {tags: [lab]}\n" :
		    "    scope: {tags: [site]}\n");
	p = load(doc);
	assert_true(policy_clean(p));
	assert_int_equal(policy_plan(p, "d.example.com", tags, &plan),
	    CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "digest_entries")), 9);
	assert_true(json_is_false(json_object_get(plan, "within_limits")));
	json_decref(plan);
	json_decref(tags);
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_entry_alone),
		cmocka_unit_test(test_kerberos),
		cmocka_unit_test(test_not_clean),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests_name("policy/plan", tests, NULL, NULL);
}
