/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/test_catalogue.c - the realm catalogue against
 * reference/amt.md section 1, the duty catalogue's invariants, the rule
 * table, and AMT user-name validity (section 2). */
#include <stdint.h>

#include "ptest.h"

/* The MOF value map, written out independently of catalogue.c. */
static const char *const mof[] = {
	"InvalidRealm", "ReservedRealm0", "RedirectionRealm",
	"PTAdministrationRealm", "HardwareAssetRealm", "RemoteControlRealm",
	"StorageRealm", "EventManagerRealm", "StorageAdminRealm",
	"AgentPresenceLocalRealm", "AgentPresenceRemoteRealm",
	"CircuitBreakerRealm", "NetworkTimeRealm", "GeneralInfoRealm",
	"FirmwareUpdateRealm", "EITRealm", "LocalUN",
	"EndpointAccessControlRealm", "EndpointAccessControlAdminRealm",
	"EventLogReaderRealm", "AuditLogRealm", "ACLRealm", "ReservedRealm1",
	"ReservedRealm2", "LocalSystemRealm",
};

static void
test_realms(void **state)
{
	long id;

	(void)state;
	assert_int_equal(sizeof(mof) / sizeof(mof[0]), POLICY_REALM_MAX + 1);
	for (id = 0; id <= POLICY_REALM_MAX; id++) {
		const struct policy_realm *r = policy_realm_by_id(id);
		enum policy_assign want = POLICY_ASSIGN_YES;

		assert_non_null(r);
		assert_int_equal(r->id, id);
		assert_string_equal(r->name, mof[id]);
		assert_true(strlen(r->meaning) > 0);
		assert_ptr_equal(policy_realm_by_name(mof[id]), r);
		if (id == 0 || id == 1 || id == 22 || id == 23)
			want = POLICY_ASSIGN_NEVER;
		else if (id >= 14 && id <= 16)
			want = POLICY_ASSIGN_AVOID;
		else if (id == 17 || id == 18)
			want = POLICY_ASSIGN_LEGACY;
		assert_int_equal(r->assign, want);
	}
	assert_null(policy_realm_by_id(-1));
	assert_null(policy_realm_by_id(25));
	assert_null(policy_realm_by_name("Remote"));
	assert_ptr_equal(policy_realm_by_name("auditlogrealm"),
	    policy_realm_by_id(20));
}

/* Built-in duties: the required set, minimal and assignable realms, setup
 * alone grants PTAdministrationRealm, exclusives as specified. */
static void
test_duties(void **state)
{
	static const struct {
		const char *name;
		uint32_t realms;
		int exclusive;
	} want[] = {
		{ "setup", POLICY_REALM_BIT(3), 0 },
		{ "power", POLICY_REALM_BIT(5), 0 },
		{ "inventory", POLICY_REALM_BIT(4) | POLICY_REALM_BIT(13), 0 },
		{ "redirection", POLICY_REALM_BIT(2), 0 },
		{ "system-defense", POLICY_REALM_BIT(11), 1 },
		{ "audit", POLICY_REALM_BIT(20), 1 },
		{ "event-log", POLICY_REALM_BIT(19), 0 },
		{ "events", POLICY_REALM_BIT(7), 0 },
		{ "agent-presence", POLICY_REALM_BIT(10), 0 },
		{ "storage", POLICY_REALM_BIT(6), 0 },
		{ "storage-admin", POLICY_REALM_BIT(8), 0 },
		{ "time", POLICY_REALM_BIT(12), 0 },
	};
	const struct policy_duty *d;
	size_t n, i, k;

	(void)state;
	d = policy_duties(&n);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct policy_duty *x = policy_duty_builtin(want[i].name);

		assert_non_null(x);
		assert_int_equal(x->realms, want[i].realms);
		assert_int_equal(x->exclusive, want[i].exclusive);
		assert_true(strlen(x->rationale) > 10);
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k <= POLICY_REALM_MAX; k++)
			if (d[i].realms & POLICY_REALM_BIT(k))
				assert_int_equal(policy_realm_by_id((long)k)->
				    assign, POLICY_ASSIGN_YES);
		if (strcmp(d[i].name, "setup") != 0)
			assert_false(d[i].realms & POLICY_REALM_BIT(3));
	}
	assert_null(policy_duty_builtin("Power"));
}

static void
test_rules(void **state)
{
	const struct policy_rule *r;
	size_t n, i, k;

	(void)state;
	r = policy_rules(&n);
	assert_true(n >= 20);
	for (i = 0; i < n; i++) {
		assert_ptr_equal(policy_rule_by_id(r[i].id), &r[i]);
		assert_true(strlen(r[i].summary) > 0 && strlen(r[i].help) > 0);
		for (k = 0; r[i].id[k] != '\0'; k++)
			assert_true((r[i].id[k] >= 'a' && r[i].id[k] <= 'z') ||
			    r[i].id[k] == '-');
		for (k = i + 1; k < n; k++)
			assert_string_not_equal(r[i].id, r[k].id);
	}
	assert_null(policy_rule_by_id("nope"));
	/* the rules the issue names, under their stable IDs */
	assert_int_equal(policy_rule_by_id("excess-realm")->severity,
	    POLICY_SEV_ERROR);
	assert_int_equal(policy_rule_by_id("audit-admin-loss")->severity,
	    POLICY_SEV_WARNING);
	assert_int_equal(policy_rule_by_id("digest-with-directory")->severity,
	    POLICY_SEV_WARNING);
	assert_int_equal(policy_rule_by_id("acl-budget")->scope,
	    POLICY_SCOPE_POLICY);
	assert_int_equal(policy_rule_by_id("yaml-syntax")->scope,
	    POLICY_SCOPE_INPUT);
}

static void
test_usernames(void **state)
{
	static const char *const good[] = { "a", "ops-1", "sccm",
	    "0123456789abcdef", "Admin1", "x$$", "!#%'()*+-./;=?@", NULL };
	static const char *const bad[] = { "", "0123456789abcdefg", "a b",
	    "a:b", "a,b", "a<b", "a>b", "a&b", "a\"b", "$$uns", "admin",
	    "ADMIN", "Administrator", "caf\xc3\xa9", "a\tb", NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		assert_int_equal(policy_valid_username(good[i]), CUST_OK);
	for (i = 0; bad[i] != NULL; i++) {
		if (policy_valid_username(bad[i]) != CUST_E_INVAL)
			print_message("accepted '%s'\n", bad[i]);
		assert_int_equal(policy_valid_username(bad[i]), CUST_E_INVAL);
		assert_true(strlen(cust_errmsg()) > 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_realms),
		cmocka_unit_test(test_duties),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_usernames),
	};

	return cmocka_run_group_tests_name("policy/catalogue", tests, NULL,
	    NULL);
}
