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

/* Group entries (POLICY_SID_AUTO): one per duty whose every Kerberos
 * holder is granted it on the device alike, where that saves entries;
 * the others stay in account entries. */
static const char groups_doc[] =
	"version: 1\n"
	"owner: prov\n"
	"directory: {type: ad, realm: CORP.EXAMPLE}\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {kerberos: \"svc-prov@CORP.EXAMPLE\"}\n"
	"    duties: [setup, power]\n"
	"  pa:\n"
	"    identity: {kerberos: \"svc-pa@CORP.EXAMPLE\"}\n"
	"    duties: [power]\n"
	"  pb:\n"
	"    identity: {kerberos: \"svc-pb@CORP.EXAMPLE\"}\n"
	"    duties: [power]\n"
	"  ops:\n"
	"    identity: {kerberos: \"svc-ops@CORP.EXAMPLE\"}\n"
	"    duties: [power, inventory, redirection]\n"
	"  lab:\n"
	"    identity: {kerberos: \"svc-lab@CORP.EXAMPLE\"}\n"
	"    duties: [redirection]\n"
	"    scope: {tags: [lab]}\n"
	"  lab2:\n"
	"    identity: {kerberos: \"svc-lab2@CORP.EXAMPLE\"}\n"
	"    duties: [redirection]\n"
	"    scope: {tags: [lab]}\n"
	"  far:\n"
	"    identity: {kerberos: \"svc-far@CORP.EXAMPLE\"}\n"
	"    duties: [events]\n"
	"    access: any\n"
	"  near:\n"
	"    identity: {kerberos: \"svc-near@CORP.EXAMPLE\"}\n"
	"    duties: [events]\n"
	"  narrow:\n"
	"    identity: {kerberos: \"svc-narrow@CORP.EXAMPLE\"}\n"
	"    duties: [inventory]\n"
	"    realms: [HardwareAssetRealm]\n"
	"  inv:\n"
	"    identity: {kerberos: \"svc-inv@CORP.EXAMPLE\"}\n"
	"    duties: [inventory]\n"
	"  dig:\n"
	"    identity: {kerberos: \"svc-dig@CORP.EXAMPLE\"}\n"
	"    duties: [time]\n"
	"    auth: digest\n"
	"  tim:\n"
	"    identity: {kerberos: \"svc-tim@CORP.EXAMPLE\"}\n"
	"    duties: [time]\n"
	"  tim2:\n"
	"    identity: {kerberos: \"svc-tim2@CORP.EXAMPLE\"}\n"
	"    duties: [time]\n";

static json_t *
group(json_t *plan, const char *duty)
{
	return pt_find_obj(json_object_get(plan, "entries"), "group", duty);
}

static void
assert_kind(json_t *e, const char *kind)
{
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "sid_kind")),
	    kind);
}

static void
test_groups(void **state)
{
	static const int setup[] = { 3 }, power[] = { 5 }, ops[] = { 2, 4, 13 },
	    ops_lab[] = { 4, 13 }, events[] = { 7 }, narrow[] = { 4 },
	    redir[] = { 2 };
	struct policy *p = load(groups_doc);
	json_t *plan, *e, *m, *tags = json_pack("[s]", "lab");

	(void)state;
	assert_true(policy_clean(p));
	/* untagged device: power goes to all its holders there */
	assert_int_equal(policy_plan_sid(p, "d.example.com", NULL,
	    POLICY_SID_AUTO, &plan), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(plan,
	    "acl_sid")), "auto");
	e = group(plan, "power");
	assert_kind(e, "group");
	assert_null(json_object_get(e, "console"));
	assert_string_equal(json_string_value(json_object_get(e, "sid")),
	    "${group:power}");
	assert_realms(e, power, 1);
	assert_int_equal(json_integer_value(json_object_get(e, "access")), 1);
	m = json_pack("[s, s, s, s]", "prov", "pa", "pb", "ops");
	assert_true(json_equal(json_object_get(e, "members"), m));
	json_decref(m);
	/* setup: prov alone holds it and needs its account entry anyway
	 * (a group entry would save nothing) */
	assert_null(group(plan, "setup"));
	e = entry(plan, "prov");
	assert_kind(e, "account");
	assert_realms(e, setup, 1);
	/* pa and pb: all of it through the group */
	assert_null(entry(plan, "pa"));
	assert_null(entry(plan, "pb"));
	/* redirection: lab and lab2 hold it and are scoped elsewhere */
	assert_null(group(plan, "redirection"));
	e = entry(plan, "ops");
	assert_kind(e, "account");
	assert_realms(e, ops, 3);
	assert_int_equal(json_array_size(json_object_get(e, "duties")), 2);
	/* inventory: narrow leaves out GeneralInfoRealm */
	assert_null(group(plan, "inventory"));
	assert_realms(entry(plan, "narrow"), narrow, 1);
	/* events: far has access any, near network */
	assert_null(group(plan, "events"));
	assert_realms(entry(plan, "far"), events, 1);
	assert_realms(entry(plan, "near"), events, 1);
	/* time: dig holds it over digest */
	assert_null(group(plan, "time"));
	assert_kind(entry(plan, "tim"), "account");
	assert_null(json_object_get(entry(plan, "dig"), "sid_kind"));
	assert_null(entry(plan, "lab"));
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "group_entries")), 1);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "kerberos_entries")), 9);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "digest_entries")), 1);
	json_decref(plan);

	/* lab device: redirection is granted to all its holders too */
	assert_int_equal(policy_plan_sid(p, "d.example.com", tags,
	    POLICY_SID_AUTO, &plan), CUST_OK);
	assert_realms(group(plan, "redirection"), redir, 1);
	assert_non_null(group(plan, "power"));
	assert_null(entry(plan, "lab"));
	assert_null(entry(plan, "lab2"));
	assert_realms(entry(plan, "ops"), ops_lab, 2);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "kerberos_entries")), 10);
	json_decref(plan);

	/* account: today's entries, one per console, no group */
	assert_int_equal(policy_plan_sid(p, "d.example.com", NULL,
	    POLICY_SID_ACCOUNT, &plan), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(plan,
	    "acl_sid")), "account");
	assert_null(group(plan, "power"));
	assert_kind(entry(plan, "pa"), "account");
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "group_entries")), 0);
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "kerberos_entries")), 10);
	json_decref(plan);
	json_decref(tags);
	policy_free(p);
}

/* policy_members_same(): the same console names, each once, any order;
 * anything else (unknown, a name more or less, a case, a duplicate, a
 * non-string) is not the same. */
static void
test_members_same(void **state)
{
	static const char *const differ[] = {
		"null", "{}", "[]", "[\"pa\"]", "[\"pa\", \"pb\", \"ops\"]",
		"[\"pa\", \"pb\", \"ops\", \"prov\", \"lab\"]",
		"[\"pa\", \"pb\", \"ops\", \"Prov\"]",
		"[\"pa\", \"pb\", \"ops\", \"pa\"]",
		"[\"pa\", \"pb\", \"ops\", 1]",
		"[\"pa\", \"pb\", \"ops\", \"prov \"]",
	};
	json_t *m = json_pack("[s, s, s, s]", "prov", "pa", "pb", "ops"), *r;
	json_t *e0 = json_array(), *dup;
	size_t i;

	(void)state;
	r = json_pack("[s, s, s, s]", "ops", "pa", "pb", "prov");
	assert_true(policy_members_same(r, m));
	assert_true(policy_members_same(m, m));
	json_decref(r);
	for (i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		r = json_loads(differ[i], JSON_DECODE_ANY, NULL);
		assert_non_null(r);
		assert_false(policy_members_same(r, m));
		json_decref(r);
	}
	assert_false(policy_members_same(NULL, m));
	/* an empty group is an empty set, the same as no holders */
	assert_true(policy_members_same(e0, e0));
	/* duplicates on both sides are not a set */
	dup = json_pack("[s, s]", "pa", "pa");
	assert_false(policy_members_same(dup, dup));
	json_decref(dup);
	json_decref(e0);
	json_decref(m);
}

/* policy_plan_synced(): a duty gets its group entry only when the members
 * account sync recorded are the policy's holders; otherwise its realms go
 * back to account entries, as in account mode (the plan says which). */
static void
test_groups_synced(void **state)
{
	static const int power[] = { 5 }, setup_power[] = { 3, 5 };
	struct policy *p = load(groups_doc);
	json_t *plan, *pref, *synced, *e, *tags = json_pack("[s]", "lab");

	(void)state;
	assert_int_equal(policy_plan_sid(p, "d.example.com", NULL,
	    POLICY_SID_AUTO, &pref), CUST_OK);
	/* recorded = the policy's (another order): the same plan */
	synced = json_pack("{s:[s, s, s, s]}", "power", "ops", "pb", "pa",
	    "prov");
	assert_int_equal(policy_plan_synced(p, "d.example.com", NULL,
	    POLICY_SID_AUTO, synced, &plan), CUST_OK);
	assert_true(json_equal(plan, pref));
	assert_null(json_object_get(plan, "groups_unsynced"));
	json_decref(plan);
	json_decref(synced);
	/* a console more in the group (dropped by the policy, not yet by
	 * the sync), one less, not known, none recorded */
	synced = json_pack("{s:[s, s, s, s, s]}", "power", "ops", "pb", "pa",
	    "prov", "gone");
	assert_int_equal(policy_plan_synced(p, "d.example.com", NULL,
	    POLICY_SID_AUTO, synced, &plan), CUST_OK);
	assert_null(group(plan, "power"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    plan, "groups_unsynced"), 0)), "power");
	assert_int_equal(json_integer_value(json_object_get(plan,
	    "group_entries")), 0);
	/* every holder back on its account entry, with power's realm */
	e = entry(plan, "pa");
	assert_kind(e, "account");
	assert_realms(e, power, 1);
	assert_realms(entry(plan, "pb"), power, 1);
	assert_realms(entry(plan, "prov"), setup_power, 2);
	json_decref(plan);
	json_decref(synced);
	synced = json_pack("{s:[s, s, s]}", "power", "ops", "pb", "pa");
	assert_int_equal(policy_plan_synced(p, "d.example.com", NULL,
	    POLICY_SID_AUTO, synced, &plan), CUST_OK);
	assert_null(group(plan, "power"));
	json_decref(plan);
	json_decref(synced);
	synced = json_pack("{s:n}", "power");
	assert_int_equal(policy_plan_synced(p, "d.example.com", tags,
	    POLICY_SID_AUTO, synced, &plan), CUST_OK);
	assert_null(group(plan, "power"));
	/* redirection recorded nowhere: no group on the lab device either */
	assert_null(group(plan, "redirection"));
	json_decref(plan);
	json_decref(synced);
	synced = json_object();
	assert_int_equal(policy_plan_synced(p, "d.example.com", NULL,
	    POLICY_SID_AUTO, synced, &plan), CUST_OK);
	assert_null(group(plan, "power"));
	json_decref(plan);
	/* account mode ignores it */
	assert_int_equal(policy_plan_synced(p, "d.example.com", NULL,
	    POLICY_SID_ACCOUNT, synced, &plan), CUST_OK);
	assert_null(json_object_get(plan, "groups_unsynced"));
	json_decref(plan);
	json_decref(synced);
	json_decref(pref);
	json_decref(tags);
	policy_free(p);
}

/* A duty only one console holds, or whose holders need account entries
 * for their other duties anyway, stays in account entries: a group entry
 * there would add an entry. */
static void
test_groups_save(void **state)
{
	/* two consoles holding the same three duties: three groups would
	 * replace two account entries */
	static const char same3[] =
		"version: 1\n"
		"owner: a\n"
		"directory: {type: ad, realm: CORP.EXAMPLE}\n"
		"consoles:\n"
		"  a:\n"
		"    identity: {kerberos: \"a@CORP.EXAMPLE\"}\n"
		"    duties: [power, storage, time]\n"
		"  b:\n"
		"    identity: {kerberos: \"b@CORP.EXAMPLE\"}\n"
		"    duties: [power, storage, time]\n";
	static const char *const docs[] = { kerberos_doc, same3 };
	struct policy *p;
	json_t *auto_plan, *acct;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		p = load(docs[i]);
		assert_int_equal(policy_plan_sid(p, "d.example.com", NULL,
		    POLICY_SID_AUTO, &auto_plan), CUST_OK);
		assert_int_equal(policy_plan_sid(p, "d.example.com", NULL,
		    POLICY_SID_ACCOUNT, &acct), CUST_OK);
		assert_int_equal(json_integer_value(json_object_get(auto_plan,
		    "group_entries")), 0);
		json_object_del(auto_plan, "acl_sid");
		json_object_del(acct, "acl_sid");
		assert_true(json_equal(auto_plan, acct));
		json_decref(auto_plan);
		json_decref(acct);
		policy_free(p);
	}
}

/* The realms and access a console gets on a device from plan: its own
 * entry's, and those of every group entry naming it as a member; *n_out
 * the entries that give it anything. */
static uint32_t
realms_of(json_t *plan, const char *console, int *access_out, int *n_out)
{
	json_t *e, *m, *r;
	size_t i, k, j;
	uint32_t set = 0;

	*n_out = 0;
	*access_out = -1;
	json_array_foreach(json_object_get(plan, "entries"), i, e) {
		int mine = 0;
		const char *c = json_string_value(json_object_get(e, "console"));

		if (c != NULL && strcmp(c, console) == 0)
			mine = 1;
		json_array_foreach(json_object_get(e, "members"), k, m)
			if (strcmp(json_string_value(m), console) == 0)
				mine = 1;
		if (!mine)
			continue;
		(*n_out)++;
		/* every entry of a console has its one access */
		if (*access_out >= 0)
			assert_int_equal(*access_out, json_integer_value(
			    json_object_get(e, "access")));
		*access_out = (int)json_integer_value(json_object_get(e,
		    "access"));
		json_array_foreach(json_object_get(e, "realms"), j, r)
			set |= 1u << json_integer_value(r);
	}
	return set;
}

/* The invariant: on every device, each console gets through its account
 * and group entries exactly the realms and access of its entry in
 * account mode (nothing where the plan gives it nothing), and a duty that
 * goes to every holder of it is one entry. */
static void
test_groups_invariant(void **state)
{
	static const char *const docs[] = { groups_doc, kerberos_doc };
	struct policy *p;
	json_t *tagsets[4], *plan, *acct;
	size_t d, k, i;

	(void)state;
	tagsets[0] = NULL;
	tagsets[1] = json_pack("[s]", "lab");
	tagsets[2] = json_pack("[s, s]", "x", "lab");
	tagsets[3] = json_pack("[s]", "x");
	for (d = 0; d < 2; d++) {
		p = load(docs[d]);
		for (k = 0; k < 4; k++) {
			assert_int_equal(policy_plan_sid(p, "d.example.com",
			    tagsets[k], POLICY_SID_AUTO, &plan), CUST_OK);
			assert_int_equal(policy_plan_sid(p, "d.example.com",
			    tagsets[k], POLICY_SID_ACCOUNT, &acct), CUST_OK);
			for (i = 0; policy_console_name(p, i) != NULL; i++) {
				const char *c = policy_console_name(p, i);
				json_t *want = entry(acct, c), *r;
				uint32_t set = 0;
				int access, n, wacc, wn;
				size_t j;

				json_array_foreach(json_object_get(want,
				    "realms"), j, r)
					set |= 1u << json_integer_value(r);
				assert_int_equal(realms_of(plan, c, &access,
				    &n), set);
				(void)realms_of(acct, c, &wacc, &wn);
				if (want != NULL && set != 0)
					assert_int_equal(access, wacc);
				if (want == NULL)
					assert_int_equal(n, 0);
			}
			/* and never more entries than account mode */
			assert_true(json_integer_value(json_object_get(plan,
			    "kerberos_entries")) <= json_integer_value(
			    json_object_get(acct, "kerberos_entries")));
			json_decref(plan);
			json_decref(acct);
		}
		policy_free(p);
	}
	for (k = 0; k < 4; k++)
		json_decref(tagsets[k]);
}

/* policy_group_admits(): what account sync asks before adding a console
 * to a duty's group while devices may hold the group's entry: the same
 * test group entries pass for every member (scope, Kerberos, the duty's
 * realms, one access). */
static void
test_group_admits(void **state)
{
	struct policy *p = load(groups_doc);
	json_t *lab = json_pack("[s]", "lab"), *other = json_pack("[s]", "x");

	(void)state;
	assert_true(policy_group_admits(p, "power", "pa", NULL));
	assert_true(policy_group_admits(p, "power", "pa", lab));
	/* scope: lab is granted redirection on lab devices only */
	assert_false(policy_group_admits(p, "redirection", "lab", NULL));
	assert_false(policy_group_admits(p, "redirection", "lab", other));
	assert_true(policy_group_admits(p, "redirection", "lab", lab));
	assert_true(policy_group_admits(p, "redirection", "ops", other));
	/* narrowed realms; another access than the other holders; digest */
	assert_false(policy_group_admits(p, "inventory", "narrow", NULL));
	assert_true(policy_group_admits(p, "inventory", "inv", NULL));
	assert_false(policy_group_admits(p, "events", "far", NULL));
	assert_false(policy_group_admits(p, "events", "near", NULL));
	assert_false(policy_group_admits(p, "time", "dig", NULL));
	assert_true(policy_group_admits(p, "time", "tim", NULL));
	/* a duty it does not hold, an unknown duty or console */
	assert_false(policy_group_admits(p, "setup", "pa", NULL));
	assert_false(policy_group_admits(p, "nope", "pa", NULL));
	assert_false(policy_group_admits(p, "power", "nobody", NULL));
	json_decref(lab);
	json_decref(other);
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
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_groups_save),
		cmocka_unit_test(test_members_same),
		cmocka_unit_test(test_group_admits),
		cmocka_unit_test(test_groups_synced),
		cmocka_unit_test(test_groups_invariant),
	};

	return cmocka_run_group_tests_name("policy/plan", tests, NULL, NULL);
}
