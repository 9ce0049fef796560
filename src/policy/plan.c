/* SPDX-License-Identifier: MIT */
/* src/policy/plan.c - the AMT ACL entries a checked policy puts on one
 * device: which consoles apply (by scope), and for each the digest user
 * or Kerberos principal, AccessPermission and sorted Realms list, in the
 * form AddUserAclEntryEx takes them (reference/amt.md section 4).
 *
 * The SID of a Kerberos entry is left as a placeholder: ${sid:PRINCIPAL}
 * for a console's own AD account, ${group:DUTY} for a duty's group; the
 * WS-Man layer (src/api/ops_acl.c) resolves it from what account sync
 * recorded when it writes the entry.
 *
 * Group entries (POLICY_SID_AUTO). A duty's AD group (account sync:
 * group_prefix + duty) holds every console with a Kerberos identity that
 * holds the duty, whatever its scope: an entry with the group's SID on a
 * device lets every member log in with the duty's realms. So a device
 * gets the group entry of duty d only when the plan grants d, on that
 * device, to every console that may be in the group: each console of the
 * policy with a Kerberos principal holding d (any realm: a superset of
 * the group's members, never fewer) must apply to the device, use
 * Kerberos, have every realm of d (explicit realms may narrow a console,
 * a warning only) and the same AccessPermission as the others (the
 * group's entry has one). Otherwise the consoles holding d get d's realms
 * in their account entries, as in POLICY_SID_ACCOUNT. A console's account
 * entry carries the realms its group entries on the device do not
 * already give it, and is left out when they give all of them.
 *
 * A group entry is kept only where it saves entries: one that takes the
 * account entry of fewer than two consoles off the device (a duty one
 * console holds, or whose holders need account entries for other duties
 * anyway) goes back to account entries, until every group left saves at
 * least one (prune()). A duty held by many consoles across the fleet is
 * then one entry on each device instead of one per console, which is
 * what lets a large set of consoles fit AMT's 32 Kerberos entries.
 *
 * All of this assumes the group's members in AD are the consoles above;
 * they follow account sync, not the policy. policy_plan_synced() is
 * given what the sync recorded (duty -> members): a duty whose recorded
 * members are not exactly the policy's holders of it (a console dropped
 * before the sync took it out, a sync stopped half-way) is treated as
 * not fitting, so policy apply alone removes a stale group entry.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* Whether con holds duty index d. */
static int
holds(const struct pconsole *con, int d)
{
	size_t i;

	for (i = 0; con->duties != NULL && i < con->duties->nkids; i++)
		if (con->duty_of[i] == d)
			return 1;
	return 0;
}

/* access, realms (set) and duties (new array, taken) onto e (taken);
 * NULL on ENOMEM. */
static json_t *
entry_finish(json_t *e, int access, uint32_t set, json_t *duties)
{
	if (e == NULL || duties == NULL || json_object_set_new(e, "access",
	    json_integer(access)) != 0 ||
	    json_object_set_new(e, "access_name",
	    json_string(access_names[access])) != 0 ||
	    json_object_set_new(e, "realms", policy_realms_json(set, 0)) != 0 ||
	    json_object_set_new(e, "realm_names",
	    policy_realms_json(set, 1)) != 0) {
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

/* con's entry with realms set. A Kerberos console's names its account's
 * SID and lists only its duties that grouped (by duty index; NULL: none)
 * does not mark: those come from group entries. */
static json_t *
entry_json(const struct policy *p, const struct pconsole *con, uint32_t set,
    const unsigned char *grouped)
{
	json_t *e, *duties;
	size_t i;
	char sid[320];

	duties = json_array();
	for (i = 0; duties != NULL && i < con->duties->nkids; i++) {
		if (grouped != NULL && grouped[con->duty_of[i]])
			continue;
		if (json_array_append_new(duties,
		    json_string(p->duties[con->duty_of[i]].name)) != 0) {
			json_decref(duties);
			return NULL;
		}
	}
	if (duties == NULL)
		return NULL;
	if (con->auth_eff == AUTH_KERBEROS) {
		snprintf(sid, sizeof(sid), "${sid:%s}", con->kerberos->str);
		e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "console", con->name,
		    "type", "kerberos", "sid_kind", "account", "principal",
		    con->kerberos->str, "sid", sid);
	} else {
		e = json_pack("{s:s, s:s, s:s}", "console", con->name,
		    "type", "digest", "username", con->user);
	}
	return entry_finish(e, con->access_v, set, duties);
}

/*
 * Whether duty d's group entry goes on a device carrying tags (see the
 * top of the file): every console that may be in d's group is granted d
 * there, alike. *access_out the members' AccessPermission. 0 when no
 * console is in the group.
 */
/* Whether con, a console that may be in duty d's group, is granted d
 * on a device carrying tags as a group entry gives it (access aside). */
static int
member_fits(const struct policy *p, const struct pconsole *con, int d,
    json_t *tags)
{
	return applies(con, tags) && con->auth_eff == AUTH_KERBEROS &&
	    (p->duties[d].realms & ~con->eff) == 0;
}

static int
group_fits(const struct policy *p, int d, json_t *tags, int *access_out)
{
	size_t i;
	int n = 0;

	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];

		if (con->kerberos == NULL || !holds(con, d))
			continue;
		if (!member_fits(p, con, d, tags) ||
		    (n > 0 && con->access_v != *access_out))
			return 0;
		*access_out = con->access_v;
		n++;
	}
	return n > 0;
}

/* The realms con needs in an account entry when the duties g marks get
 * group entries (g NULL: none). */
static uint32_t
residual(const struct policy *p, const struct pconsole *con,
    const unsigned char *g)
{
	uint32_t set = con->eff;
	size_t k;

	if (g == NULL || con->auth_eff != AUTH_KERBEROS)
		return set;
	for (k = 0; con->duties != NULL && k < con->duties->nkids; k++)
		if (con->duty_of[k] >= 0 && g[con->duty_of[k]])
			set &= ~p->duties[con->duty_of[k]].realms;
	return set;
}

/* Kerberos entries on the device when g marks the group entries. */
static size_t
count(const struct policy *p, json_t *tags, const unsigned char *g)
{
	size_t d, i, n = 0;

	for (d = 0; d < p->nduties; d++)
		n += g[d] != 0;
	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];
		uint32_t set = residual(p, con, g);

		n += applies(con, tags) && con->auth_eff == AUTH_KERBEROS &&
		    !(set == 0 && set != con->eff);
	}
	return n;
}

/* Drop the group entries (g) that save fewer than two account entries
 * on the device, until the rest all save some: dropping one can only
 * bring account entries back, so this ends. Consoles that need several
 * groups each may still come out with more entries than without groups:
 * then no group is used. */
static void
prune(const struct policy *p, json_t *tags, unsigned char *g)
{
	size_t d, i, none;
	int changed, added;

	do {
		changed = 0;
		for (d = 0; d < p->nduties; d++) {
			if (!g[d])
				continue;
			added = 0;
			for (i = 0; i < p->nconsoles; i++) {
				const struct pconsole *con = &p->consoles[i];

				if (!applies(con, tags) ||
				    con->auth_eff != AUTH_KERBEROS ||
				    !holds(con, (int)d) ||
				    residual(p, con, g) != 0)
					continue;
				g[d] = 0;
				added += residual(p, con, g) != 0;
				g[d] = 1;
			}
			if (added < 2) {
				g[d] = 0;
				changed = 1;
			}
		}
	} while (changed);
	for (i = none = 0; i < p->nconsoles; i++)
		none += applies(&p->consoles[i], tags) &&
		    p->consoles[i].auth_eff == AUTH_KERBEROS;
	if (count(p, tags, g) > none)
		memset(g, 0, p->nduties);
}

/* Who may be in duty d's group: the consoles of the policy with a
 * Kerberos principal that hold it, by name (new array; NULL on ENOMEM). */
static json_t *
members_json(const struct policy *p, int d)
{
	json_t *members;
	size_t i;

	if ((members = json_array()) == NULL)
		return NULL;
	for (i = 0; i < p->nconsoles; i++)
		if (p->consoles[i].kerberos != NULL &&
		    holds(&p->consoles[i], d) && json_array_append_new(members,
		    json_string(p->consoles[i].name)) != 0) {
			json_decref(members);
			return NULL;
		}
	return members;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The strings of array a, sorted, into v (n of them); 0 when one is not a
 * string or two are the same. */
static int
sorted_names(json_t *a, const char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((v[i] = json_string_value(json_array_get(a, i))) == NULL)
			return 0;
	qsort(v, n, sizeof(*v), name_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) == 0)
			return 0;
	return 1;
}

int
policy_members_same(json_t *recorded, json_t *members)
{
	size_t i, n = json_array_size(members);
	const char **a, **b;
	int same;

	if (!json_is_array(recorded) || !json_is_array(members) ||
	    json_array_size(recorded) != n)
		return 0;
	a = calloc(n ? n : 1, sizeof(*a));
	b = calloc(n ? n : 1, sizeof(*b));
	same = a != NULL && b != NULL && sorted_names(recorded, a, n) &&
	    sorted_names(members, b, n);
	for (i = 0; same && i < n; i++)
		same = strcmp(a[i], b[i]) == 0;
	free(a);
	free(b);
	return same;
}

/* Duty d's group entry: its realms, the members' access, who they are. */
static json_t *
group_json(const struct policy *p, int d, int access)
{
	json_t *e, *members;
	char sid[320];

	if ((members = members_json(p, d)) == NULL)
		return NULL;
	snprintf(sid, sizeof(sid), "${group:%s}", p->duties[d].name);
	e = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "kerberos",
	    "sid_kind", "group", "group", p->duties[d].name, "sid", sid,
	    "members", members);
	return entry_finish(e, access, p->duties[d].realms,
	    json_pack("[s]", p->duties[d].name));
}

int
policy_group_admits(const struct policy *p, const char *duty,
    const char *console, json_t *tags)
{
	const struct pconsole *con = NULL;
	size_t i;
	int d = -1;

	for (i = 0; i < p->nduties; i++)
		if (strcmp(p->duties[i].name, duty) == 0)
			d = (int)i;
	for (i = 0; i < p->nconsoles; i++)
		if (strcmp(p->consoles[i].name, console) == 0)
			con = &p->consoles[i];
	if (d < 0 || con == NULL || con->kerberos == NULL || !holds(con, d) ||
	    !member_fits(p, con, d, tags))
		return 0;
	/* a group entry has one access: the one its holders share */
	for (i = 0; i < p->nconsoles; i++)
		if (p->consoles[i].kerberos != NULL &&
		    holds(&p->consoles[i], d) &&
		    p->consoles[i].access_v != con->access_v)
			return 0;
	return 1;
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
		if ((*entry_out = entry_json(p, con, con->eff, NULL)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		return CUST_OK;
	}
	return CUST_E_NOTFOUND;
}

int
policy_plan(const struct policy *p, const char *fqdn, json_t *tags,
    json_t **plan_out)
{
	return policy_plan_sid(p, fqdn, tags, POLICY_SID_ACCOUNT, plan_out);
}

int
policy_plan_sid(const struct policy *p, const char *fqdn, json_t *tags,
    enum policy_sid_mode mode, json_t **plan_out)
{
	return policy_plan_synced(p, fqdn, tags, mode, NULL, plan_out);
}

/* Whether duty d's group holds, as account sync last recorded it
 * (synced: duty -> recorded members; NULL: taken as the policy's), the
 * consoles that may be in it by the policy. *ok_out 1 or 0; an error is
 * ENOMEM. */
static int
group_synced(const struct policy *p, int d, json_t *synced, int *ok_out)
{
	json_t *members;

	*ok_out = synced == NULL;
	if (synced == NULL)
		return CUST_OK;
	if ((members = members_json(p, d)) == NULL)
		return CUST_E_NOMEM;
	*ok_out = policy_members_same(json_object_get(synced,
	    p->duties[d].name), members);
	json_decref(members);
	return CUST_OK;
}

/*
 * Unmark in g (group_fits()) the duties whose group does not hold, as
 * account sync last recorded it (synced), the consoles the policy may put
 * in it: its duty's realms go in account entries, as for a duty that does
 * not fit. *unsynced_out a new array of the duties so unmarked that would
 * have kept their group entry after prune() (NULL when none).
 */
static int
unsynced_drop(const struct policy *p, json_t *tags, json_t *synced,
    unsigned char *g, json_t **unsynced_out)
{
	unsigned char *was;
	size_t d;
	int ok, n = 0, r = CUST_OK;

	*unsynced_out = NULL;
	if ((was = malloc(p->nduties)) == NULL)
		return CUST_E_NOMEM;
	memcpy(was, g, p->nduties);
	for (d = 0; r == CUST_OK && d < p->nduties; d++) {
		if (!g[d])
			continue;
		r = group_synced(p, (int)d, synced, &ok);
		g[d] = (unsigned char)(r == CUST_OK && ok);
		n += !g[d];
	}
	if (r == CUST_OK && n > 0) {
		prune(p, tags, was);
		for (d = 0; r == CUST_OK && d < p->nduties; d++)
			if (was[d] && !g[d] && ((*unsynced_out == NULL &&
			    (*unsynced_out = json_array()) == NULL) ||
			    json_array_append_new(*unsynced_out,
			    json_string(p->duties[d].name)) != 0))
				r = CUST_E_NOMEM;
	}
	free(was);
	return r;
}

int
policy_plan_synced(const struct policy *p, const char *fqdn, json_t *tags,
    enum policy_sid_mode mode, json_t *synced, json_t **plan_out)
{
	json_t *doc, *entries, *unsynced = NULL;
	int r;
	unsigned char *grouped = NULL;
	int *gaccess = NULL;
	size_t i, d;
	int n[2] = { 0, 0 }, groups = 0;

	*plan_out = NULL;
	if (!p->clean)
		return cust_fail(CUST_E_VIOLATION, "%s does not pass the "
		    "check: run custodyctl policy check", p->file);
	doc = json_pack("{s:s, s:s, s:[]}", "device", fqdn, "acl_sid",
	    mode == POLICY_SID_AUTO ? "auto" : "account", "entries");
	if (doc == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	entries = json_object_get(doc, "entries");
	if (mode == POLICY_SID_AUTO && p->nduties > 0) {
		if ((grouped = calloc(p->nduties, 1)) == NULL ||
		    (gaccess = calloc(p->nduties, sizeof(int))) == NULL)
			goto nomem;
		for (d = 0; d < p->nduties; d++)
			grouped[d] = (unsigned char)group_fits(p, (int)d, tags,
			    &gaccess[d]);
		if (synced != NULL && (r = unsynced_drop(p, tags, synced,
		    grouped, &unsynced)) != CUST_OK)
			goto nomem;
		prune(p, tags, grouped);
	}
	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];
		/* realms its group entries give it are not repeated */
		uint32_t set = residual(p, con, grouped);

		if (!applies(con, tags))
			continue;
		if (set == 0 && set != con->eff)
			continue;	/* all of it through its groups */
		n[con->auth_eff == AUTH_KERBEROS]++;
		if (json_array_append_new(entries, entry_json(p, con, set,
		    con->auth_eff == AUTH_KERBEROS ? grouped : NULL)) != 0)
			goto nomem;
	}
	for (d = 0; grouped != NULL && d < p->nduties; d++) {
		if (!grouped[d])
			continue;
		n[1]++;
		groups++;
		if (json_array_append_new(entries, group_json(p, (int)d,
		    gaccess[d])) != 0)
			goto nomem;
	}
	if (json_object_set_new(doc, "digest_entries",
	    json_integer(n[0])) != 0 ||
	    json_object_set_new(doc, "kerberos_entries",
	    json_integer(n[1])) != 0 ||
	    json_object_set_new(doc, "group_entries",
	    json_integer(groups)) != 0 ||
	    json_object_set_new(doc, "within_limits",
	    json_boolean(n[0] <= POLICY_MAX_DIGEST &&
	    n[1] <= POLICY_MAX_KERBEROS)) != 0 ||
	    (unsynced != NULL && json_object_set_new(doc, "groups_unsynced",
	    json_incref(unsynced)) != 0))
		goto nomem;
	json_decref(unsynced);
	free(grouped);
	free(gaccess);
	*plan_out = doc;
	return CUST_OK;
nomem:
	json_decref(unsynced);
	free(grouped);
	free(gaccess);
	json_decref(doc);
	return cust_fail(CUST_E_NOMEM, "out of memory");
}
