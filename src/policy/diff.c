/* SPDX-License-Identifier: MIT */
/* src/policy/diff.c - the privilege delta between two versions of a
 * policy, for reviews: per console, the realms and access gained and lost
 * on each device scope, consoles added and removed, owner and identity
 * changes, and the checker's findings that appear or disappear.
 *
 * What a console may do on a device is (realms, access) when its scope
 * covers the device, nothing otherwise. Scopes are tag lists or "every
 * device", so the devices are split into units that every console treats
 * alike: one unit per tag named by either version of the console, plus the
 * devices with none of those tags ("every other device", or "every device"
 * when neither version names a tag). A device with several tags gets the
 * union of its units, so reporting per unit is exact for the grant of each
 * tag and never hides a gain.
 *
 * An escalation is anything that gives some identity more than it had: a
 * new console, a realm or access gained on any unit (which includes a
 * widened scope), a changed identity (another certificate or principal now
 * holds the console's grants) and a changed owner (the new owner can read
 * admin passwords). A change that only takes away is not one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"

#define ACC_LOCAL	0x1u
#define ACC_NETWORK	0x2u

struct dctx {
	json_t *consoles;	/* the per-console entries */
	json_t *escalations;	/* one sentence each */
};

static unsigned
acc_set(const struct pconsole *c)
{
	static const unsigned sets[] = { ACC_LOCAL, ACC_NETWORK,
	    ACC_LOCAL | ACC_NETWORK };

	return c->access_v >= 0 && c->access_v <= 2 ? sets[c->access_v] : 0;
}

static json_t *
access_json(unsigned set)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	if (((set & ACC_LOCAL) && json_array_append_new(a,
	    json_string("local")) != 0) || ((set & ACC_NETWORK) &&
	    json_array_append_new(a, json_string("network")) != 0)) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* The strings of a sequence node (tags, duties), sorted, without
 * repeats: every set operation of the diff is then a merge, so a policy
 * with huge lists costs n log n, not n squared. */
struct strset {
	const char **v;
	size_t n;
};

static int
strp_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int
strset_of(const struct ynode *seq, struct strset *s)
{
	size_t i, k = 0;

	s->v = NULL;
	s->n = 0;
	if (seq == NULL || seq->nkids == 0)
		return CUST_OK;
	if ((s->v = calloc(seq->nkids, sizeof(*s->v))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < seq->nkids; i++)
		if (seq->kids[i]->str != NULL)
			s->v[k++] = seq->kids[i]->str;
	qsort(s->v, k, sizeof(*s->v), strp_cmp);
	for (i = 0, s->n = 0; i < k; i++)
		if (s->n == 0 || strcmp(s->v[s->n - 1], s->v[i]) != 0)
			s->v[s->n++] = s->v[i];
	return CUST_OK;
}

static void
strset_free(struct strset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int
strset_eq(const struct strset *a, const struct strset *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

/* The members of a that b lacks, as a new JSON array. */
static json_t *
strset_minus(const struct strset *a, const struct strset *b)
{
	json_t *r = json_array();
	size_t i = 0, j = 0;

	if (r == NULL)
		return NULL;
	while (i < a->n) {
		int c = j == b->n ? -1 : strcmp(a->v[i], b->v[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c > 0) {
			j++;
		} else if (json_array_append_new(r,
		    json_string(a->v[i++])) != 0) {
			json_decref(r);
			return NULL;
		}
	}
	return r;
}

static const char *
str_of(const struct ynode *n)
{
	return n != NULL ? n->str : NULL;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static json_t *
scope_json(const struct pconsole *c)
{
	json_t *a;
	size_t i;

	if (c == NULL)
		return json_null();
	if (c->tags == NULL)
		return json_string("every device");
	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < c->tags->nkids; i++)
		if (json_array_append_new(a,
		    json_string(c->tags->kids[i]->str)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int
esc(struct dctx *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
esc(struct dctx *d, const char *fmt, ...)
{
	char *buf = NULL;
	va_list ap;
	int n, r;

	/* Whole, never cut: a cut could split a UTF-8 character. */
	va_start(ap, fmt);
	n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return CUST_E_NOMEM;
	r = json_array_append_new(d->escalations, json_string(buf)) == 0 ?
	    CUST_OK : CUST_E_NOMEM;
	free(buf);
	return r;
}

/* Names of the realms in set, comma-separated, into buf. */
static const char *
realm_list(uint32_t set, char *buf, size_t len)
{
	size_t o = 0;
	int id;

	buf[0] = '\0';
	for (id = 0; id <= POLICY_REALM_MAX && o < len; id++)
		if (set & POLICY_REALM_BIT(id))
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o ? ", " : "", policy_realm_by_id(id)->name);
	return buf;
}

/* One unit: the devices tagged tag (NULL: those with none of the tags
 * either side names), covered by the old console when co, by the new one
 * when cn. */
static int
diff_unit(struct dctx *d, const struct pconsole *o, const struct pconsole *n,
    int co, int cn, const char *tag, const char *label, json_t *units,
    int *escalates)
{
	uint32_t ro = co && o ? o->eff : 0, rn = cn && n ? n->eff : 0;
	/* Access without a realm grants nothing. */
	unsigned ao = ro ? acc_set(o) : 0, an = rn ? acc_set(n) : 0;
	const char *name = n != NULL ? n->name : o != NULL ? o->name : "";
	char rbuf[1024];
	json_t *u;

	if (ro == rn && ao == an)
		return CUST_OK;
	u = json_pack("{s:s, s:s?, s:o, s:o, s:o, s:o}", "scope", label,
	    "tag", tag, "realms_gained", policy_realms_json(rn & ~ro, 1),
	    "realms_lost", policy_realms_json(ro & ~rn, 1),
	    "access_gained", access_json(an & ~ao),
	    "access_lost", access_json(ao & ~an));
	if (u == NULL || json_array_append_new(units, u) != 0)
		return CUST_E_NOMEM;
	if ((rn & ~ro) == 0 && (an & ~ao) == 0)
		return CUST_OK;
	*escalates = 1;
	if ((rn & ~ro) != 0 && esc(d, "console '%s' gains %s on %s", name,
	    realm_list(rn & ~ro, rbuf, sizeof(rbuf)), label) != CUST_OK)
		return CUST_E_NOMEM;
	if ((an & ~ao) != 0 && (an & ~ao & ACC_LOCAL ? esc(d, "console '%s' "
	    "gains local access on %s", name, label) : CUST_OK) != CUST_OK)
		return CUST_E_NOMEM;
	if ((an & ~ao & ACC_NETWORK) && esc(d, "console '%s' gains network "
	    "access on %s", name, label) != CUST_OK)
		return CUST_E_NOMEM;
	return CUST_OK;
}

/* Every unit of a console: the union of both sides' tags in one merge,
 * then the rest of the devices when either side is unscoped. */
static int
diff_units(struct dctx *d, const struct pconsole *o, const struct pconsole *n,
    const struct strset *ot, const struct strset *nt, json_t *units,
    int *escalates)
{
	int oall = o != NULL && o->tags == NULL;
	int nall = n != NULL && n->tags == NULL;
	size_t i = 0, j = 0;
	char label[320];
	int r;

	while (i < ot->n || j < nt->n) {
		int c = i == ot->n ? 1 : j == nt->n ? -1 :
		    strcmp(ot->v[i], nt->v[j]);
		const char *t = c <= 0 ? ot->v[i] : nt->v[j];

		snprintf(label, sizeof(label), "devices tagged %.256s", t);
		r = diff_unit(d, o, n, oall || c <= 0, nall || c >= 0, t,
		    label, units, escalates);
		if (r != CUST_OK)
			return r;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	if (!oall && !nall)
		return CUST_OK;	/* nothing covers the untagged rest */
	return diff_unit(d, o, n, oall, nall, NULL, ot->n + nt->n > 0 ?
	    "every other device" : "every device", units, escalates);
}

/* {"old": x, "new": y} when x and y differ, else NULL (no member). */
static int
changed_pair(json_t *e, const char *key, const char *x, const char *y)
{
	if (same_str(x, y))
		return CUST_OK;
	return json_object_set_new(e, key, json_pack("{s:s?, s:s?}", "old", x,
	    "new", y)) == 0 ? CUST_OK : CUST_E_NOMEM;
}

static const char *
auth_name(const struct pconsole *c)
{
	return c == NULL ? NULL : c->auth_eff == AUTH_KERBEROS ? "kerberos" :
	    "digest";
}

/* One console on either side or both (o or n NULL: added or removed). */
static int
diff_console(struct dctx *d, const struct pconsole *o,
    const struct pconsole *n)
{
	const struct pconsole *any = n != NULL ? n : o;
	const char *name;
	struct strset ot = { NULL, 0 }, nt = { NULL, 0 }, od = { NULL, 0 },
	    nd = { NULL, 0 };
	json_t *e = NULL, *units = NULL, *dg = NULL, *dl = NULL;
	int escalates = 0, changed, r = CUST_E_NOMEM;

	if (any == NULL)
		return CUST_E_INTERNAL;
	name = any->name;
	if (strset_of(o ? o->tags : NULL, &ot) != CUST_OK ||
	    strset_of(n ? n->tags : NULL, &nt) != CUST_OK ||
	    strset_of(o ? o->duties : NULL, &od) != CUST_OK ||
	    strset_of(n ? n->duties : NULL, &nd) != CUST_OK)
		goto out;

	e = json_pack("{s:s, s:s}", "console", name, "change",
	    o == NULL ? "added" : n == NULL ? "removed" : "changed");
	if (e == NULL || (units = json_array()) == NULL)
		goto out;
	if (o == NULL) {
		escalates = 1;
		if (esc(d, "console '%s' is new", name) != CUST_OK)
			goto out;
	}
	if ((r = diff_units(d, o, n, &ot, &nt, units, &escalates)) != CUST_OK)
		goto out;
	r = CUST_E_NOMEM;
	if ((dg = strset_minus(&nd, &od)) == NULL ||
	    (dl = strset_minus(&od, &nd)) == NULL)
		goto out;
	changed = o == NULL || n == NULL || json_array_size(units) > 0 ||
	    json_array_size(dg) > 0 || json_array_size(dl) > 0;
	if (o != NULL && n != NULL) {
		const char *oc = str_of(o->certificate), *nc =
		    str_of(n->certificate), *ok = str_of(o->kerberos),
		    *nk = str_of(n->kerberos);

		if (!same_str(oc, nc) || !same_str(ok, nk)) {
			changed = escalates = 1;
			if (changed_pair(e, "certificate", oc, nc) != CUST_OK ||
			    changed_pair(e, "kerberos", ok, nk) != CUST_OK ||
			    esc(d, "console '%s' changes identity: another "
			    "certificate or principal now holds its rights",
			    name) != CUST_OK)
				goto out;
		}
		/* Digest to Kerberos hands the console's rights to its
		 * principal, which held nothing before; Kerberos to digest
		 * to a new digest account. Either way a new holder. */
		if (!same_str(auth_name(o), auth_name(n))) {
			changed = escalates = 1;
			if (changed_pair(e, "auth", auth_name(o),
			    auth_name(n)) != CUST_OK || esc(d, "console '%s' "
			    "changes authentication from %s to %s: %s%s now "
			    "holds its rights", name, auth_name(o),
			    auth_name(n), n->auth_eff == AUTH_KERBEROS ?
			    "principal " : "a digest account",
			    n->auth_eff == AUTH_KERBEROS && n->kerberos ?
			    n->kerberos->str : "") != CUST_OK)
				goto out;
		}
		/* Another digest account holds the rights: whoever has its
		 * password (a swap between consoles, say) gains them. */
		if (!same_str(o->user, n->user) && n->auth_eff == AUTH_DIGEST &&
		    o->auth_eff == AUTH_DIGEST) {
			changed = escalates = 1;
			if (changed_pair(e, "username", o->user, n->user) !=
			    CUST_OK || esc(d, "console '%s' changes digest user "
			    "from '%s' to '%s': that account now holds its "
			    "rights", name, o->user, n->user) != CUST_OK)
				goto out;
		}
		if ((o->tags == NULL) != (n->tags == NULL) ||
		    !strset_eq(&ot, &nt)) {
			changed = 1;
			if (json_object_set_new(e, "scope", json_pack("{s:o, "
			    "s:o}", "old", scope_json(o), "new",
			    scope_json(n))) != 0)
				goto out;
		}
	} else if (json_object_set_new(e, "scope", json_pack("{s:o, s:o}",
	    "old", scope_json(o), "new", scope_json(n))) != 0) {
		goto out;
	}
	if (!changed) {
		r = CUST_OK;
		goto out;
	}
	if (json_object_set_new(e, "duties_gained", dg) != 0 ||
	    (dg = NULL, json_object_set_new(e, "duties_lost", dl)) != 0 ||
	    (dl = NULL, json_object_set_new(e, "scopes", units)) != 0 ||
	    (units = NULL, json_object_set_new(e, "escalation",
	    json_boolean(escalates))) != 0 ||
	    json_array_append(d->consoles, e) != 0)
		goto out;
	r = CUST_OK;
out:
	strset_free(&ot);
	strset_free(&nt);
	strset_free(&od);
	strset_free(&nd);
	json_decref(dg);
	json_decref(dl);
	json_decref(units);
	json_decref(e);
	return r;
}

/* "type realm" of a policy's directory, into buf ("" for none). */
static const char *
dir_str(const struct policy *p, char *buf, size_t len)
{
	buf[0] = '\0';
	if (p != NULL && p->directory != NULL)
		snprintf(buf, len, "%s %s", p->dir_type ? p->dir_type->str : "",
		    p->dir_realm ? p->dir_realm->str : "");
	return buf;
}

/*
 * The directory resolves the SID of every Kerberos console: another
 * directory (or realm) gives the consoles' rights to whatever accounts of
 * that name it holds. A change is shown, and is an escalation when the
 * new policy has a console that authenticates with Kerberos.
 */
static int
diff_directory(struct dctx *d, const struct policy *old,
    const struct policy *new, json_t *doc)
{
	char a[300], b[300];
	size_t i;
	int krb = 0;

	dir_str(old, a, sizeof(a));
	dir_str(new, b, sizeof(b));
	if (strcmp(a, b) == 0)
		return CUST_OK;
	if (json_object_set_new(doc, "directory", json_pack("{s:s?, s:s?}",
	    "old", *a ? a : NULL, "new", *b ? b : NULL)) != 0)
		return CUST_E_NOMEM;
	for (i = 0; new != NULL && i < new->nconsoles; i++)
		krb |= new->consoles[i].auth_eff == AUTH_KERBEROS;
	if (krb && *b != '\0' && esc(d, "the directory changes from '%s' to "
	    "'%s': it now maps the Kerberos consoles' principals",
	    *a ? a : "(none)", b) != CUST_OK)
		return CUST_E_NOMEM;
	return CUST_OK;
}

static int
conscmp(const void *x, const void *y)
{
	const struct pconsole *const *a = x, *const *b = y;

	return strcmp((*a)->name, (*b)->name);
}

/* The consoles of p sorted by name: a new array (free()), NULL with
 * *n_out 0 for no policy or no consoles; CUST_E_NOMEM. */
static int
sorted(const struct policy *p, const struct pconsole ***v_out, size_t *n_out)
{
	const struct pconsole **v;
	size_t i;

	*v_out = NULL;
	*n_out = 0;
	if (p == NULL || p->nconsoles == 0)
		return CUST_OK;
	if ((v = calloc(p->nconsoles, sizeof(*v))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < p->nconsoles; i++)
		v[i] = &p->consoles[i];
	qsort(v, p->nconsoles, sizeof(*v), conscmp);
	*v_out = v;
	*n_out = p->nconsoles;
	return CUST_OK;
}

/* ---- findings that appear or disappear ---- */

struct fkey {
	const struct policy_finding *f;
	char *key;
	size_t seq;	/* order in the report */
};

static int
fkeycmp(const void *x, const void *y)
{
	const struct fkey *a = x, *b = y;
	int c = strcmp(a->key, b->key);

	if (c != 0)
		return c;
	if (a->f->line != b->f->line)
		return a->f->line < b->f->line ? -1 : 1;
	return a->f->column < b->f->column ? -1 : a->f->column > b->f->column;
}

static void
fkeys_free(struct fkey *k, size_t n)
{
	size_t i;

	for (i = 0; k != NULL && i < n; i++)
		free(k[i].key);
	free(k);
}

static int
fkeys(const struct policy_report *rep, struct fkey **k_out, size_t *n_out)
{
	size_t n = rep != NULL ? policy_report_count(rep) : 0, i;
	struct fkey *k;
	char buf[1400];

	*k_out = NULL;
	*n_out = 0;
	if (n == 0)
		return CUST_OK;
	if ((k = calloc(n, sizeof(*k))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < n; i++) {
		k[i].f = policy_report_get(rep, i);
		k[i].seq = i;
		policy_rep_finding_key(k[i].f, buf, sizeof(buf));
		if ((k[i].key = strdup(buf)) == NULL) {
			fkeys_free(k, n);
			return CUST_E_NOMEM;
		}
	}
	qsort(k, n, sizeof(*k), fkeycmp);
	*k_out = k;
	*n_out = n;
	return CUST_OK;
}

static int
poscmp(const void *x, const void *y)
{
	const struct fkey *const *a = x, *const *b = y;

	if ((*a)->f->line != (*b)->f->line)
		return (*a)->f->line < (*b)->f->line ? -1 : 1;
	if ((*a)->f->column != (*b)->f->column)
		return (*a)->f->column < (*b)->f->column ? -1 : 1;
	return (*a)->seq < (*b)->seq ? -1 : (*a)->seq > (*b)->seq;
}

/* Append the findings of v[0..n) to a in file order. */
static int
append_sorted(json_t *a, const struct fkey **v, size_t n)
{
	size_t i;

	if (n > 1)
		qsort(v, n, sizeof(*v), poscmp);
	for (i = 0; i < n; i++)
		if (json_array_append_new(a, policy_rep_finding_json(v[i]->f)) != 0)
			return CUST_E_NOMEM;
	return CUST_OK;
}

/* Multiset difference of the two sorted key lists, merged; each side's
 * leftovers are then listed in file order. */
static int
diff_findings(const struct policy_report *orep,
    const struct policy_report *nrep, json_t *doc)
{
	struct fkey *ok = NULL, *nk = NULL;
	const struct fkey **gone = NULL, **new = NULL;
	size_t no = 0, nn = 0, i = 0, j = 0, ng = 0, nw = 0;
	json_t *added, *removed;
	int r;

	added = json_array();
	removed = json_array();
	if (added == NULL || removed == NULL ||
	    json_object_set_new(doc, "findings_added", added) != 0 ||
	    json_object_set_new(doc, "findings_removed", removed) != 0)
		return CUST_E_NOMEM;
	if ((r = fkeys(orep, &ok, &no)) != CUST_OK ||
	    (r = fkeys(nrep, &nk, &nn)) != CUST_OK)
		goto out;
	r = CUST_E_NOMEM;
	if ((no > 0 && (gone = calloc(no, sizeof(*gone))) == NULL) ||
	    (nn > 0 && (new = calloc(nn, sizeof(*new))) == NULL))
		goto out;
	while (i < no || j < nn) {
		int c = i == no ? 1 : j == nn ? -1 : strcmp(ok[i].key,
		    nk[j].key);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			gone[ng++] = &ok[i++];
		} else {
			new[nw++] = &nk[j++];
		}
	}
	if ((r = append_sorted(added, new, nw)) != CUST_OK ||
	    (r = append_sorted(removed, gone, ng)) != CUST_OK)
		goto out;
	r = CUST_OK;
out:
	free(gone);
	free(new);
	fkeys_free(ok, no);
	fkeys_free(nk, nn);
	return r;
}

int
policy_diff(const struct policy *old, const struct policy_report *old_rep,
    const char *old_name, const struct policy *new,
    const struct policy_report *new_rep, const char *new_name,
    json_t **diff_out)
{
	const struct pconsole **ov = NULL, **nv = NULL;
	size_t no = 0, nn = 0, i = 0, j = 0;
	const char *oo = old ? str_of(old->owner) : NULL;
	const char *no_ = new ? str_of(new->owner) : NULL;
	char *oname, *nname;
	struct dctx d;
	json_t *doc;
	int r;

	*diff_out = NULL;
	memset(&d, 0, sizeof(d));
	/* Names may be file names: any bytes. JSON wants UTF-8. */
	if ((oname = strdup(old_name)) == NULL ||
	    (nname = strdup(new_name)) == NULL) {
		free(oname);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	policy_rep_clean(oname, oname, strlen(oname) + 1);
	policy_rep_clean(nname, nname, strlen(nname) + 1);
	doc = json_pack("{s:s, s:s, s:[], s:[]}", "old", oname,
	    "new", nname, "consoles", "escalations");
	free(oname);
	free(nname);
	if (doc == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	d.consoles = json_object_get(doc, "consoles");
	d.escalations = json_object_get(doc, "escalations");
	if ((r = sorted(old, &ov, &no)) != CUST_OK ||
	    (r = sorted(new, &nv, &nn)) != CUST_OK)
		goto out;
	r = CUST_E_NOMEM;
	if (json_object_set_new(doc, "owner", json_pack("{s:s?, s:s?, s:b}",
	    "old", oo, "new", no_, "changed", !same_str(oo, no_))) != 0)
		goto out;
	if ((r = diff_directory(&d, old, new, doc)) != CUST_OK)
		goto out;
	r = CUST_E_NOMEM;
	if (!same_str(oo, no_) && no_ != NULL && esc(&d, "the owner changes "
	    "from '%s' to '%s', who may then read admin passwords",
	    oo ? oo : "(none)", no_) != CUST_OK)
		goto out;
	while (i < no || j < nn) {
		int c = i == no ? 1 : j == nn ? -1 :
		    strcmp(ov[i]->name, nv[j]->name);

		r = diff_console(&d, c <= 0 ? ov[i] : NULL,
		    c >= 0 ? nv[j] : NULL);
		if (r != CUST_OK)
			goto out;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	if ((r = diff_findings(old_rep, new_rep, doc)) != CUST_OK)
		goto out;
	r = CUST_E_NOMEM;
	if (json_object_set_new(doc, "escalation",
	    json_boolean(json_array_size(d.escalations) > 0)) != 0)
		goto out;
	*diff_out = doc;
	doc = NULL;
	r = CUST_OK;
out:
	free(ov);
	free(nv);
	json_decref(doc);
	return r == CUST_E_NOMEM ? cust_fail(r, "out of memory") : r;
}

int
policy_diff_escalates(json_t *diff)
{
	return json_is_true(json_object_get(diff, "escalation"));
}
