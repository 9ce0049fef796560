/* SPDX-License-Identifier: MIT */
/* src/policy/check.c - the least-privilege rules over a parsed policy.
 *
 * Runs only on well-formed input (parse.c found nothing). Each console's
 * realms are derived from its duties; explicit realms may only narrow
 * them. Then the cross-console rules: one owner, unique identities and
 * user names, exclusive duties held once, and the per-device ACL budget.
 * Findings carry the position of the node that causes them, so a reviewer
 * lands on the line to change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "policy_int.h"
#include "util.h"

struct cctx {
	struct policy *p;
	int err;		/* first allocation failure */
};

static void __attribute__((format(printf, 6, 7)))
say(struct cctx *c, const struct ynode *n, enum rule_idx r,
    enum policy_severity sev, const struct pconsole *con, const char *fmt,
    ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = policy_rep_addv(c->p->rep, c->p->file, n ? n->line : 0,
	    n ? n->col : 0, r, sev, con ? con->name : NULL, fmt, ap);
	va_end(ap);
	if (rc != CUST_OK && c->err == CUST_OK)
		c->err = rc;
}

int
policy_duty_find(const struct policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nduties; i++)
		if (strcmp(p->duties[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
is_owner(const struct policy *p, const struct pconsole *con)
{
	return p->owner != NULL && strcmp(p->owner->str, con->name) == 0;
}

/* "RemoteControlRealm (5)" */
static const char *
rn(long id, char *buf, size_t len)
{
	const struct policy_realm *r = policy_realm_by_id(id);

	snprintf(buf, len, "%s (%ld)", r ? r->name : "?", id);
	return buf;
}

/* Names of the duties in set, joined by ", " into buf. */
static const char *
duty_list(const struct policy *p, const struct pconsole *con, char *buf,
    size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; con->duties != NULL && i < con->duties->nkids &&
	    used < len; i++)
		if (con->duty_of[i] >= 0)
			used += (size_t)snprintf(buf + used, len - used,
			    "%s%s", used ? ", " : "",
			    p->duties[con->duty_of[i]].name);
	return buf[0] ? buf : "none";
}

/*
 * A realm list item: a MOF name or a number. Returns the ID of a realm
 * that may be used (possibly with a warning), or -1 after a finding.
 * Realm findings of a console use the realm rules; those of a duty
 * definition are duty-definition findings (the policy's own catalogue).
 */
static long
realm_item(struct cctx *c, const struct ynode *it, const struct pconsole *con,
    const struct pduty *d)
{
	const struct policy_realm *r = NULL;
	long id = -1;
	char what[96], buf[64];
	enum policy_severity avoid_sev = c->p->allow_avoided ?
	    POLICY_SEV_WARNING : POLICY_SEV_ERROR;

	if (con != NULL)
		snprintf(what, sizeof(what), "console '%s'", con->name);
	else if (d != NULL)
		snprintf(what, sizeof(what), "duty '%s'", d->name);
	else
		return -1;	/* one of the two is always given */
	if (it->cls == YS_INT) {
		if (util_parse_long(it->str, 0, POLICY_REALM_MAX, &id) ==
		    CUST_OK)
			r = policy_realm_by_id(id);
	} else {
		r = policy_realm_by_name(it->str);
	}
	if (r == NULL) {
		say(c, it, con ? R_UNKNOWN_REALM : R_DUTY_DEFINITION, 0, con,
		    "%s: unknown realm '%.64s' (realms are AMT MOF names such "
		    "as RemoteControlRealm, or numbers 0-%d)", what, it->str,
		    POLICY_REALM_MAX);
		return -1;
	}
	switch (r->assign) {
	case POLICY_ASSIGN_NEVER:
		say(c, it, con ? R_UNASSIGNABLE_REALM : R_DUTY_DEFINITION, 0,
		    con, "%s: realm %s can never be assigned to an ACL entry",
		    what, rn(r->id, buf, sizeof(buf)));
		return -1;
	case POLICY_ASSIGN_AVOID:
		say(c, it, con ? R_AVOIDED_REALM : R_DUTY_DEFINITION,
		    avoid_sev, con, "%s: realm %s (%s) is %s", what,
		    rn(r->id, buf, sizeof(buf)), r->meaning,
		    c->p->allow_avoided ? "allowed by options but not offered "
		    "by the Intel toolkits" : "refused unless options: "
		    "{allow-avoided-realms: true}");
		return avoid_sev == POLICY_SEV_ERROR ? -1 : r->id;
	case POLICY_ASSIGN_LEGACY:
		say(c, it, con ? R_LEGACY_REALM : R_DUTY_DEFINITION,
		    POLICY_SEV_WARNING, con, "%s: realm %s is legacy (%s); "
		    "devices with CSME 18 or later refuse it", what,
		    rn(r->id, buf, sizeof(buf)), r->meaning);
		return r->id;
	default:
		return r->id;
	}
}

static void
check_duty_defs(struct cctx *c)
{
	struct policy *p = c->p;
	size_t i, j;
	char buf[64];

	for (i = 0; i < p->nduties; i++) {
		struct pduty *d = &p->duties[i];
		const struct ynode *rl = d->realm_list;

		if (d->builtin)
			continue;
		if (policy_duty_builtin(d->name) != NULL) {
			say(c, d->key, R_DUTY_DEFINITION, 0, NULL, "duty '%s' "
			    "is built in and cannot be redefined; give the "
			    "policy's duty another name", d->name);
			d->name = "";	/* consoles keep the built-in one */
			continue;
		}
		if (rl == NULL || rl->nkids == 0) {
			say(c, rl ? rl : d->key, R_DUTY_DEFINITION, 0, NULL,
			    "duty '%s' lists no realms", d->name);
			continue;
		}
		for (j = 0; j < rl->nkids; j++) {
			long id = realm_item(c, rl->kids[j], NULL, d);

			if (id == POLICY_REALM_ADMIN) {
				say(c, rl->kids[j], R_DUTY_DEFINITION, 0, NULL,
				    "duty '%s' may not include %s: only the "
				    "built-in setup duty grants it", d->name,
				    rn(id, buf, sizeof(buf)));
			} else if (id >= 0) {
				d->realms |= POLICY_REALM_BIT(id);
			}
		}
	}
}

/* An RFC 4514 distinguished name with a CN: "CN=x,O=y". */
static const char *
bad_dn(const char *s)
{
	const char *p = s;
	int cn = 0;

	if (strlen(s) > 1024)
		return "is longer than 1024 characters";
	while (*p != '\0') {
		const char *type = p;
		size_t tlen;

		while (*p == ' ')
			p++;
		type = p;
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.')
			p++;
		tlen = (size_t)(p - type);
		if (tlen == 0 || *p != '=')
			return "is not a distinguished name of the form "
			    "\"CN=name,O=org\"";
		if (tlen == 2 && strncasecmp(type, "CN", 2) == 0)
			cn = 1;
		if (*++p == ',' || *p == '+' || *p == '\0')
			return "has an attribute with an empty value";
		for (; *p != '\0' && *p != ',' && *p != '+'; p++)
			if (*p == '\\' && *++p == '\0')
				return "ends with a lone backslash";
		if (*p != '\0' && *++p == '\0')
			return "ends with a separator";
	}
	if (!cn)
		return "has no CN attribute";
	return NULL;
}

/* primary[/instance]@REALM with an upper-case realm. */
static const char *
bad_principal(const char *s)
{
	const char *at = strchr(s, '@'), *p;

	if (at == NULL || at == s || at[1] == '\0')
		return "is not a Kerberos principal of the form name@REALM";
	if (strchr(at + 1, '@') != NULL)
		return "has more than one '@'";
	for (p = s; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "has a space or control character in its name";
	for (p = at + 1; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-'))
			return "has a realm that is not upper-case letters, "
			    "digits, dots and dashes";
	return NULL;
}

static void
check_identity(struct cctx *c, const struct pconsole *con)
{
	const char *why;

	if (con->identity == NULL) {
		say(c, con->key, R_IDENTITY, 0, con, "console '%s' has no "
		    "identity: give its certificate subject or Kerberos "
		    "principal", con->name);
		return;
	}
	if (con->certificate == NULL && con->kerberos == NULL)
		say(c, con->identity, R_IDENTITY, 0, con, "the identity of "
		    "console '%s' names neither a certificate nor a Kerberos "
		    "principal", con->name);
	if (con->certificate != NULL &&
	    (why = bad_dn(con->certificate->str)) != NULL)
		say(c, con->certificate, R_IDENTITY, 0, con, "console '%s': "
		    "certificate subject '%.64s' %s", con->name,
		    con->certificate->str, why);
	if (con->kerberos != NULL &&
	    (why = bad_principal(con->kerberos->str)) != NULL)
		say(c, con->kerberos, R_IDENTITY, 0, con, "console '%s': "
		    "'%.64s' %s", con->name, con->kerberos->str, why);
}

static void
check_duties(struct cctx *c, struct pconsole *con)
{
	struct policy *p = c->p;
	const struct ynode *dl = con->duties;
	size_t i;
	char buf[64];

	if (dl == NULL || dl->nkids == 0) {
		say(c, dl ? dl : con->key, R_NO_DUTIES, 0, con, "console '%s' "
		    "declares no duties, so it needs no realms; list its "
		    "duties or remove it", con->name);
		return;
	}
	for (i = 0; i < dl->nkids; i++) {
		const struct ynode *it = dl->kids[i];
		int d = policy_duty_find(p, it->str);

		con->duty_of[i] = d;
		if (d < 0) {
			say(c, it, R_UNKNOWN_DUTY, 0, con, "console '%s': "
			    "unknown duty '%.64s' (see custody-policy(5) for "
			    "the catalogue, or define it under duties)",
			    con->name, it->str);
			continue;
		}
		con->need |= p->duties[d].realms;
		if ((p->duties[d].realms & POLICY_REALM_BIT(POLICY_REALM_ADMIN))
		    && !is_owner(p, con))
			say(c, it, R_ADMIN_REALM, 0, con, "console '%s' is not "
			    "the owner%s%s%s but has duty '%s', which grants "
			    "%s", con->name, p->owner ? " ('" : "",
			    p->owner ? p->owner->str : "", p->owner ? "')" :
			    "", p->duties[d].name,
			    rn(POLICY_REALM_ADMIN, buf, sizeof(buf)));
	}
}

/* The first duty item of con whose realms include realm id, or -1. */
static int
duty_giving(const struct policy *p, const struct pconsole *con, int id)
{
	size_t i;

	for (i = 0; con->duties != NULL && i < con->duties->nkids; i++)
		if (con->duty_of[i] >= 0 &&
		    (p->duties[con->duty_of[i]].realms & POLICY_REALM_BIT(id)))
			return (int)i;
	return -1;
}

static void
check_realms(struct cctx *c, struct pconsole *con)
{
	struct policy *p = c->p;
	const struct ynode *rl = con->realms;
	size_t i;
	int id;
	char buf[64], duties[256];

	if (rl == NULL) {
		con->eff = con->need;
		return;
	}
	for (i = 0; i < rl->nkids; i++) {
		long r = realm_item(c, rl->kids[i], con, NULL);

		con->realm_of[i] = (int)r;
		if (r < 0)
			continue;
		con->eff |= POLICY_REALM_BIT(r);
		if (r == POLICY_REALM_ADMIN && !is_owner(p, con))
			say(c, rl->kids[i], R_ADMIN_REALM, 0, con, "console "
			    "'%s' is not the owner but lists %s, which grants "
			    "every realm", con->name, rn(r, buf, sizeof(buf)));
		else if (!(con->need & POLICY_REALM_BIT(r)))
			say(c, rl->kids[i], R_EXCESS_REALM, 0, con, "console "
			    "'%s': realm %s is not needed by its duties (%s)",
			    con->name, rn(r, buf, sizeof(buf)),
			    duty_list(p, con, duties, sizeof(duties)));
	}
	for (id = 0; id <= POLICY_REALM_MAX; id++) {
		int d;

		if (!(con->need & POLICY_REALM_BIT(id)) ||
		    (con->eff & POLICY_REALM_BIT(id)))
			continue;
		d = duty_giving(p, con, id);
		say(c, rl, R_REALM_MISSING, 0, con, "console '%s': realms "
		    "leave out %s, which duty '%s' needs", con->name,
		    rn(id, buf, sizeof(buf)),
		    p->duties[con->duty_of[d]].name);
	}
}

static void
check_auth(struct cctx *c, struct pconsole *con)
{
	struct policy *p = c->p;
	const struct ynode *at = con->auth ? con->auth : con->key;

	if (con->auth_v == AUTH_KERBEROS) {
		if (p->directory == NULL)
			say(c, con->auth, R_AUTH_METHOD, 0, con, "console "
			    "'%s' uses Kerberos, but the policy declares no "
			    "directory", con->name);
		if (con->kerberos == NULL)
			say(c, con->auth, R_AUTH_METHOD, 0, con, "console "
			    "'%s' uses Kerberos, but its identity has no "
			    "Kerberos principal to map to a SID", con->name);
	}
	if (con->auth_v != AUTH_DEFAULT)
		con->auth_eff = con->auth_v;
	else if (p->directory != NULL && con->kerberos != NULL)
		con->auth_eff = AUTH_KERBEROS;
	else
		con->auth_eff = AUTH_DIGEST;
	if (con->auth_eff == AUTH_KERBEROS)
		return;
	if (p->directory != NULL)
		say(c, at, R_DIGEST_WITH_DIRECTORY, 0, con, "console '%s' "
		    "uses digest authentication although the policy declares "
		    "directory %s: prefer a Kerberos service account",
		    con->name, p->dir_realm ? p->dir_realm->str : "");
	con->user = con->username ? con->username->str : con->name;
	if (policy_valid_username(con->user) != CUST_OK)
		say(c, con->username ? con->username : con->key,
		    R_DIGEST_USERNAME, 0, con, "console '%s': digest user name "
		    "invalid: %s%s", con->name, cust_errmsg(),
		    con->username ? "" : " (set username)");
}

static void
check_audit(struct cctx *c, const struct pconsole *con)
{
	const struct policy *p = c->p;
	const struct ynode *at = con->key;
	size_t i;
	int d;

	if (!(con->eff & POLICY_REALM_BIT(POLICY_REALM_AUDITLOG)) ||
	    (d = policy_duty_find(p, "audit")) < 0)
		return;
	for (i = 0; con->duties != NULL && i < con->duties->nkids; i++)
		if (con->duty_of[i] == d)
			return;
	if ((d = duty_giving(p, con, POLICY_REALM_AUDITLOG)) >= 0)
		at = con->duties->kids[d];
	for (i = 0; con->realms != NULL && i < con->realms->nkids; i++)
		if (con->realm_of[i] == POLICY_REALM_AUDITLOG)
			at = con->realms->kids[i];
	say(c, at, R_AUDIT_ADMIN_LOSS, 0, con, "console '%s' gets "
	    "AuditLogRealm (20) without the audit duty: while it holds it, "
	    "the admin account loses its audit-log rights", con->name);
}

static void
check_owner(struct cctx *c)
{
	struct policy *p = c->p;
	size_t i;

	if (p->owner == NULL) {
		say(c, p->root, R_OWNER, 0, NULL, "the policy names no owner: "
		    "set owner to the console that does initial setup");
		return;
	}
	for (i = 0; i < p->nconsoles; i++)
		if (strcmp(p->consoles[i].name, p->owner->str) == 0)
			return;
	say(c, p->owner, R_OWNER, 0, NULL, "owner '%.64s' is not a declared "
	    "console", p->owner->str);
}

/* ---- uniqueness over consoles ---- */

struct uref {
	const char *s;
	const struct ynode *n;
	const struct pconsole *con;
	size_t seq;
};

static int
urefcmp(const void *x, const void *y)
{
	const struct uref *a = x, *b = y;
	int r = strcasecmp(a->s, b->s);

	if (r != 0)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Report every ref equal (ignoring case) to an earlier one. */
static void
unique(struct cctx *c, struct uref *v, size_t n, enum rule_idx r,
    const char *what)
{
	size_t i, first = 0;

	qsort(v, n, sizeof(*v), urefcmp);
	for (i = 1; i < n; i++) {
		if (strcasecmp(v[i].s, v[first].s) != 0) {
			first = i;
			continue;
		}
		say(c, v[i].n, r, 0, v[i].con, "console '%s' has the same %s "
		    "'%.64s' as console '%s' (line %u)", v[i].con->name, what,
		    v[i].s, v[first].con->name, v[first].n->line);
	}
}

static int
check_unique(struct cctx *c)
{
	struct policy *p = c->p;
	struct uref *v;
	size_t i, n = 0;

	if (p->nconsoles < 2)
		return CUST_OK;
	if ((v = calloc(2 * p->nconsoles, sizeof(*v))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];
		const struct ynode *id[2] = { con->certificate, con->kerberos };
		size_t k;

		for (k = 0; k < 2; k++)
			if (id[k] != NULL) {
				v[n].s = id[k]->str;
				v[n].n = id[k];
				v[n].con = con;
				v[n].seq = n;
				n++;
			}
	}
	unique(c, v, n, R_IDENTITY, "identity");
	/* Names differing only in case (a warning: custody matches console
	 * names exactly, but AD and many tools do not). */
	for (i = 0; i < p->nconsoles; i++) {
		v[i].s = p->consoles[i].name;
		v[i].n = p->consoles[i].key;
		v[i].con = &p->consoles[i];
		v[i].seq = i;
	}
	unique(c, v, p->nconsoles, R_CASE_TWIN, "name (ignoring case)");
	for (i = n = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];

		if (con->auth_eff != AUTH_DIGEST)
			continue;
		v[n].s = con->user;
		v[n].n = con->username ? con->username : con->key;
		v[n].con = con;
		v[n].seq = n;
		n++;
	}
	unique(c, v, n, R_DIGEST_USERNAME, "digest user name");
	free(v);
	return CUST_OK;
}

/*
 * Separation of duties: an exclusive duty has one holder. A console holds
 * it by declaring it, or by getting all of its realms through other duties
 * (a policy-defined duty with AuditLogRealm is still the audit log).
 */
static void
check_exclusive(struct cctx *c)
{
	struct policy *p = c->p;
	size_t d, i, k;

	for (d = 0; d < p->nduties; d++) {
		const struct pduty *du = &p->duties[d];
		const struct pconsole *holder = NULL;
		const struct ynode *hat = NULL;

		if (!du->exclusive || du->realms == 0)
			continue;
		for (i = 0; i < p->nconsoles; i++) {
			const struct pconsole *con = &p->consoles[i];
			const struct ynode *at = NULL;
			int declared = 0;
			char buf[64];

			for (k = 0; con->duties && k < con->duties->nkids; k++)
				if (con->duty_of[k] == (int)d) {
					at = con->duties->kids[k];
					declared = 1;
					break;
				}
			if (at == NULL && (con->eff & du->realms) == du->realms) {
				int g = duty_giving(p, con,
				    __builtin_ctz(du->realms));

				at = g >= 0 ? con->duties->kids[g] : con->key;
			}
			if (at == NULL)
				continue;
			if (holder == NULL) {
				holder = con;
				hat = at;
				continue;
			}
			if (declared)
				say(c, at, R_EXCLUSIVE_DUTY, 0, con, "console "
				    "'%s': exclusive duty '%s' is already held "
				    "by console '%s' (line %u)", con->name,
				    du->name, holder->name, hat->line);
			else
				say(c, at, R_EXCLUSIVE_DUTY, 0, con, "console "
				    "'%s' gets %s of exclusive duty '%s', "
				    "already held by console '%s' (line %u)",
				    con->name, rn(__builtin_ctz(du->realms),
				    buf, sizeof(buf)), du->name, holder->name,
				    hat->line);
		}
	}
}

/* ---- ACL budget ---- */

/*
 * Devices are grouped by scope: every device gets the unscoped consoles;
 * a device tagged T also gets the consoles scoped to T. Tags are taken to
 * name disjoint groups (sites, fleets); the plan counts exactly, per
 * device. Each group's members are the merge, in document order, of the
 * unscoped consoles and those of its tag, so a fleet of many sites costs
 * O(consoles log consoles), not consoles x tags.
 */
struct tagref {
	const char *tag;
	size_t con;
};

static int
tagrefcmp(const void *x, const void *y)
{
	const struct tagref *a = x, *b = y;
	int r = strcmp(a->tag, b->tag);

	if (r != 0)
		return r;
	return a->con < b->con ? -1 : a->con > b->con;
}

struct budget {
	size_t *unscoped[2];	/* per method, console indexes in order */
	size_t nunscoped[2];
	int over[2];		/* every device is already over */
};

static const int budget_limit[2] = { POLICY_MAX_DIGEST, POLICY_MAX_KERBEROS };

/* Walk one group for method m: unscoped members u[0..nu) merged with
 * tagged members t[0..nt) (of any method); report the one too many. */
static void
budget_walk(struct cctx *c, int m, const char *tag, const size_t *u,
    size_t nu, const struct tagref *t, size_t nt)
{
	static const char *const kind[2] = { "digest users",
	    "Kerberos entries" };
	const struct policy *p = c->p;
	size_t i = 0, j = 0, used = 0;
	int cnt = 0;
	char names[512], group[96];

	names[0] = '\0';
	while (i < nu || j < nt) {
		size_t k;

		if (j == nt || (i < nu && u[i] < t[j].con)) {
			k = u[i++];
		} else {
			k = t[j++].con;
			/* a console listing the tag twice counts once */
			if ((j > 1 && t[j - 2].con == k) ||
			    (p->consoles[k].auth_eff == AUTH_KERBEROS) != m)
				continue;
		}
		cnt++;
		if (used < sizeof(names))
			used += (size_t)snprintf(names + used,
			    sizeof(names) - used, "%s%s", used ? ", " : "",
			    p->consoles[k].name);
		if (cnt != budget_limit[m] + 1)
			continue;
		if (tag != NULL)
			snprintf(group, sizeof(group), "a device tagged '%s'",
			    tag);
		else
			snprintf(group, sizeof(group), "every device");
		say(c, p->consoles[k].key, R_ACL_BUDGET, 0, NULL, "%s would get "
		    "more than %d %s (%s): console '%s' is one too many (AMT "
		    "limit)", group, budget_limit[m], kind[m], names,
		    p->consoles[k].name);
		return;
	}
}

static int
check_budget(struct cctx *c)
{
	struct policy *p = c->p;
	struct budget b;
	struct tagref *refs = NULL;
	size_t i, j, n = 0, first;
	int m, r = CUST_E_NOMEM;

	memset(&b, 0, sizeof(b));
	for (m = 0; m < 2; m++)
		if (p->nconsoles > 0 && (b.unscoped[m] = malloc(p->nconsoles *
		    sizeof(size_t))) == NULL)
			goto out;
	for (i = 0; i < p->nconsoles; i++) {
		const struct pconsole *con = &p->consoles[i];

		if (con->tags != NULL) {
			n += con->tags->nkids;
			continue;
		}
		m = con->auth_eff == AUTH_KERBEROS;
		b.unscoped[m][b.nunscoped[m]++] = i;
	}
	for (m = 0; m < 2; m++) {
		budget_walk(c, m, NULL, b.unscoped[m], b.nunscoped[m], NULL, 0);
		b.over[m] = b.nunscoped[m] > (size_t)budget_limit[m];
	}
	if (n > 0 && (refs = malloc(n * sizeof(*refs))) == NULL)
		goto out;
	for (i = n = 0; i < p->nconsoles; i++)
		for (j = 0; p->consoles[i].tags &&
		    j < p->consoles[i].tags->nkids; j++) {
			refs[n].tag = p->consoles[i].tags->kids[j]->str;
			refs[n++].con = i;
		}
	if (n > 1)
		qsort(refs, n, sizeof(*refs), tagrefcmp);
	for (first = 0; first < n; first = i) {
		for (i = first + 1; i < n &&
		    strcmp(refs[i].tag, refs[first].tag) == 0; i++)
			;
		for (m = 0; m < 2; m++)
			if (!b.over[m])
				budget_walk(c, m, refs[first].tag,
				    b.unscoped[m], b.nunscoped[m],
				    refs + first, i - first);
	}
	r = CUST_OK;
out:
	free(refs);
	free(b.unscoped[0]);
	free(b.unscoped[1]);
	return r;
}

int
policy_check_rules(struct policy *p)
{
	struct cctx c = { p, CUST_OK };
	size_t i, errors = policy_report_errors(p->rep);
	int r;

	check_duty_defs(&c);
	check_owner(&c);
	for (i = 0; i < p->nconsoles; i++) {
		struct pconsole *con = &p->consoles[i];

		if (con->duties != NULL && con->duties->nkids > 0 &&
		    (con->duty_of = arena_alloc(p->arena,
		    con->duties->nkids * sizeof(int))) == NULL)
			return CUST_E_NOMEM;
		if (con->realms != NULL && con->realms->nkids > 0 &&
		    (con->realm_of = arena_alloc(p->arena,
		    con->realms->nkids * sizeof(int))) == NULL)
			return CUST_E_NOMEM;
		check_identity(&c, con);
		check_duties(&c, con);
		check_realms(&c, con);
		check_auth(&c, con);
		check_audit(&c, con);
	}
	if ((r = check_unique(&c)) != CUST_OK)
		return r;
	check_exclusive(&c);
	if ((r = check_budget(&c)) != CUST_OK)
		return r;
	if (c.err != CUST_OK)
		return c.err;
	p->clean = policy_report_errors(p->rep) == errors;
	return CUST_OK;
}
