/* SPDX-License-Identifier: MIT */
/* src/policy/plan.c - the AMT ACL entries a checked policy puts on one
 * device: which consoles apply (by scope), and for each the digest user
 * or Kerberos principal, AccessPermission and sorted Realms list, in the
 * form AddUserAclEntryEx takes them (reference/amt.md section 4).
 *
 * The SID of a Kerberos console is left as a placeholder: the directory
 * module resolves the principal when it writes the entry.
 */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"

static const char *const access_names[] = { "local", "network", "any" };

json_t *
policy_realms_json(uint32_t set, int names)
{
	json_t *a = json_array();
	int id;

	if (a == NULL)
		return NULL;
	for (id = 0; id <= POLICY_REALM_MAX; id++) {
		if (!(set & POLICY_REALM_BIT(id)))
			continue;
		if (json_array_append_new(a, names ?
		    json_string(policy_realm_by_id(id)->name) :
		    json_integer(id)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int
applies(const struct pconsole *con, json_t *tags)
{
	size_t i, k;

	if (con->tags == NULL)
		return 1;
	for (i = 0; i < con->tags->nkids; i++)
		for (k = 0; k < json_array_size(tags); k++) {
			const char *t = json_string_value(json_array_get(tags,
			    k));

			if (t != NULL && strcmp(t, con->tags->kids[i]->str) == 0)
				return 1;
		}
	return 0;
}

static json_t *
entry_json(const struct policy *p, const struct pconsole *con)
{
	json_t *e, *duties;
	size_t i;
	char sid[320];

	duties = json_array();
	for (i = 0; duties != NULL && i < con->duties->nkids; i++)
		if (json_array_append_new(duties,
		    json_string(p->duties[con->duty_of[i]].name)) != 0) {
			json_decref(duties);
			return NULL;
		}
	if (duties == NULL)
		return NULL;
	if (con->auth_eff == AUTH_KERBEROS) {
		snprintf(sid, sizeof(sid), "${sid:%s}", con->kerberos->str);
		e = json_pack("{s:s, s:s, s:s, s:s}", "console", con->name,
		    "type", "kerberos", "principal", con->kerberos->str,
		    "sid", sid);
	} else {
		e = json_pack("{s:s, s:s, s:s}", "console", con->name,
		    "type", "digest", "username", con->user);
	}
	if (e == NULL || json_object_set_new(e, "access",
	    json_integer(con->access_v)) != 0 ||
	    json_object_set_new(e, "access_name",
	    json_string(access_names[con->access_v])) != 0 ||
	    json_object_set_new(e, "realms", policy_realms_json(con->eff, 0)) != 0 ||
	    json_object_set_new(e, "realm_names",
	    policy_realms_json(con->eff, 1)) != 0) {
		json_decref(duties);
		json_decref(e);
		return NULL;
	}
	if (json_object_set_new(e, "duties", duties) != 0) {
		json_decref(e);
		return NULL;
	}
	return e;
}

int
policy_plan_entry(const struct policy *p, json_t *tags, const char *console,
    json_t **entry_out)
{
	size_t i;

	*entry_out = NULL;
	if (!p->clean)
		return cust_fail(CUST_E_VIOLATION, "%s does not pass the "
		    "check: run custodyctl policy check", p->file);
	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];

		if (strcmp(con->name, console) != 0 || !applies(con, tags))
			continue;
		if ((*entry_out = entry_json(p, con)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		return CUST_OK;
	}
	return CUST_E_NOTFOUND;
}

int
policy_plan(const struct policy *p, const char *fqdn, json_t *tags,
    json_t **plan_out)
{
	json_t *doc, *entries;
	size_t i;
	int n[2] = { 0, 0 };

	*plan_out = NULL;
	if (!p->clean)
		return cust_fail(CUST_E_VIOLATION, "%s does not pass the "
		    "check: run custodyctl policy check", p->file);
	doc = json_pack("{s:s, s:[]}", "device", fqdn, "entries");
	if (doc == NULL)
		return CUST_E_NOMEM;
	entries = json_object_get(doc, "entries");
	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];

		if (!applies(con, tags))
			continue;
		n[con->auth_eff == AUTH_KERBEROS]++;
		if (json_array_append_new(entries, entry_json(p, con)) != 0)
			goto nomem;
	}
	if (json_object_set_new(doc, "digest_entries",
	    json_integer(n[0])) != 0 ||
	    json_object_set_new(doc, "kerberos_entries",
	    json_integer(n[1])) != 0 ||
	    json_object_set_new(doc, "within_limits",
	    json_boolean(n[0] <= POLICY_MAX_DIGEST &&
	    n[1] <= POLICY_MAX_KERBEROS)) != 0)
		goto nomem;
	*plan_out = doc;
	return CUST_OK;
nomem:
	json_decref(doc);
	return cust_fail(CUST_E_NOMEM, "out of memory");
}
