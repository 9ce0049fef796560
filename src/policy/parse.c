/* SPDX-License-Identifier: MIT */
/* src/policy/parse.c - the policy schema: a declarative table of keys per
 * mapping, walked over the positioned YAML tree.
 *
 * This pass only checks shape (known keys, node and scalar types, closed
 * value sets) and keeps pointers to the nodes; what the values mean is for
 * check.c. Every problem found here makes the input malformed (exit 2),
 * but the walk goes on so that one run reports all of them.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"
#include "util.h"

enum kind {
	K_STR,		/* string scalar (plain numbers are strings too) */
	K_INT,		/* plain integer */
	K_BOOL,		/* plain boolean */
	K_MAP,		/* mapping with its own key table, same target */
	K_STRSEQ,	/* sequence of strings */
	K_REALMSEQ,	/* sequence of realm names or numbers */
	K_NAMED,	/* mapping of name -> mapping, walked by valid() */
};

#define NOSLOT	((size_t)-1)

struct pctx;
struct table;

struct field {
	const char *key;
	enum kind kind;
	int required;
	size_t off;		/* where the node goes in the target */
	int (*valid)(struct pctx *c, void *target, const struct ynode *v);
	const struct table *sub;	/* K_MAP */
};

struct table {
	const char *what;	/* "the policy", "console" ... */
	int named;		/* followed by the console or duty name */
	const struct field *f;
	size_t n;
};

struct pctx {
	struct policy *p;
	const char *name;	/* console or duty being walked */
	size_t next_duty;	/* next free policy-defined duty slot */
};

static int walk_map(struct pctx *c, const struct table *t, void *target,
    const struct ynode *map);

static int __attribute__((format(printf, 4, 5)))
bad(struct pctx *c, const struct ynode *n, enum rule_idx r,
    const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = policy_rep_addv(c->p->rep, c->p->file, n ? n->line : 0,
	    n ? n->col : 0, r, 0, NULL, fmt, ap);
	va_end(ap);
	return rc == CUST_OK ? CUST_E_PARSE : rc;
}

/* "console 'sccm'" for messages. */
static const char *
where(const struct pctx *c, const struct table *t, char *buf, size_t len)
{
	if (t->named)
		snprintf(buf, len, "%s '%s'", t->what, c->name);
	else
		snprintf(buf, len, "%s", t->what);
	return buf;
}

/* Does scalar n fit kind k? Strings accept plain numbers; null and
 * booleans must be quoted to be strings. */
static int
scalar_fits(const struct ynode *n, enum kind k)
{
	if (n->type != YN_SCALAR)
		return 0;
	switch (k) {
	case K_STR:
		return n->cls == YS_STR || n->cls == YS_INT;
	case K_INT:
		return n->cls == YS_INT;
	case K_BOOL:
		return n->cls == YS_BOOL;
	default:
		return 0;
	}
}

static const char *
kind_name(enum kind k)
{
	switch (k) {
	case K_STR:
		return "a string";
	case K_INT:
		return "an integer";
	case K_BOOL:
		return "a boolean (true or false)";
	case K_MAP:
	case K_NAMED:
		return "a mapping";
	default:
		return "a sequence";
	}
}

static int
check_seq(struct pctx *c, const struct field *f, const struct ynode *v,
    const char *ctx)
{
	size_t i;
	int r = CUST_OK;

	for (i = 0; i < v->nkids; i++) {
		const struct ynode *it = v->kids[i];

		if (it->type == YN_BAD || scalar_fits(it, K_STR))
			continue;
		r = bad(c, it, R_WRONG_TYPE, "items of '%s' of %s must be "
		    "%s, not %s", f->key, ctx, f->kind == K_REALMSEQ ?
		    "realm names or numbers" : "strings",
		    ytree_type_name(it));
		if (r != CUST_E_PARSE)
			return r;
	}
	return r;
}

/* Check one value against its field; store it; descend. */
static int
walk_value(struct pctx *c, const struct table *t, const struct field *f,
    void *target, const struct ynode *v)
{
	char ctx[160];
	int ok, r = CUST_OK, r2;

	if (v->type == YN_BAD)
		return CUST_E_PARSE;
	switch (f->kind) {
	case K_MAP:
	case K_NAMED:
		ok = v->type == YN_MAP;
		break;
	case K_STRSEQ:
	case K_REALMSEQ:
		ok = v->type == YN_SEQ;
		break;
	default:
		ok = scalar_fits(v, f->kind);
	}
	if (!ok) {
		where(c, t, ctx, sizeof(ctx));
		if (v->type == YN_SCALAR && v->cls == YS_BOOL &&
		    f->kind == K_STR)
			return bad(c, v, R_WRONG_TYPE, "'%s' of %s must be a "
			    "string; plain '%s' reads as a boolean (quote it)",
			    f->key, ctx, v->str);
		return bad(c, v, R_WRONG_TYPE, "'%s' of %s must be %s, not %s",
		    f->key, ctx, kind_name(f->kind), ytree_type_name(v));
	}
	if (f->off != NOSLOT)
		*(const struct ynode **)((char *)target + f->off) = v;
	if (f->kind == K_STRSEQ || f->kind == K_REALMSEQ)
		r = check_seq(c, f, v, where(c, t, ctx, sizeof(ctx)));
	if (r != CUST_OK && r != CUST_E_PARSE)
		return r;
	if (f->kind == K_MAP && (r2 = walk_map(c, f->sub, target, v)) !=
	    CUST_OK)
		r = r2;
	if (r == CUST_OK && f->valid != NULL)
		r = f->valid(c, target, v);
	return r;
}

static int
walk_map(struct pctx *c, const struct table *t, void *target,
    const struct ynode *map)
{
	size_t i, j;
	int r = CUST_OK, r2;
	unsigned seen = 0;
	char ctx[160], keys[256];

	for (i = 0; i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];

		if (k->type != YN_SCALAR) {
			r = CUST_E_PARSE;	/* reported by the tree */
			continue;
		}
		for (j = 0; j < t->n; j++)
			if (strcmp(k->str, t->f[j].key) == 0)
				break;
		if (j == t->n) {
			size_t used = 0;

			keys[0] = '\0';
			for (j = 0; j < t->n && used < sizeof(keys); j++)
				used += (size_t)snprintf(keys + used,
				    sizeof(keys) - used, "%s%s", j ? ", " : "",
				    t->f[j].key);
			r2 = bad(c, k, R_UNKNOWN_KEY, "unknown key '%.64s' in "
			    "%s (known: %s)", k->str,
			    where(c, t, ctx, sizeof(ctx)), keys);
		} else {
			seen |= 1u << j;
			r2 = walk_value(c, t, &t->f[j], target, v);
		}
		if (r2 != CUST_OK && r2 != CUST_E_PARSE)
			return r2;
		if (r2 != CUST_OK)
			r = r2;
	}
	for (j = 0; j < t->n; j++) {
		if (!t->f[j].required || (seen & (1u << j)))
			continue;
		r2 = bad(c, map, R_MISSING_KEY, "%s lacks the required key "
		    "'%s'", where(c, t, ctx, sizeof(ctx)), t->f[j].key);
		if (r2 != CUST_E_PARSE)
			return r2;
		r = r2;
	}
	return r;
}

/* ---- value validators ---- */

static int
valid_version(struct pctx *c, void *target, const struct ynode *v)
{
	if (strcmp(v->str, "1") != 0)
		return bad(c, v, R_BAD_VALUE, "unsupported policy version "
		    "%.20s; this custody reads version 1", v->str);
	return CUST_OK;
}

/* Index of v's string in the NULL-terminated set, or a bad-value. */
static int
one_of(struct pctx *c, const struct ynode *v, const char *key,
    const char *const *set, int *out)
{
	char names[96];
	size_t used = 0;
	int i;

	for (i = 0; set[i] != NULL; i++)
		if (strcmp(v->str, set[i]) == 0) {
			*out = i;
			return CUST_OK;
		}
	names[0] = '\0';
	for (i = 0; set[i] != NULL && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used,
		    "%s%s", i == 0 ? "" : set[i + 1] ? ", " : " or ", set[i]);
	return bad(c, v, R_BAD_VALUE, "'%s' of console '%s' must be %s, not "
	    "'%.64s'", key, c->name, names, v->str);
}

static int
valid_access(struct pctx *c, void *target, const struct ynode *v)
{
	static const char *const set[] = { "local", "network", "any", NULL };
	struct pconsole *con = target;

	return one_of(c, v, "access", set, &con->access_v);
}

static int
valid_auth(struct pctx *c, void *target, const struct ynode *v)
{
	static const char *const set[] = { "digest", "kerberos", NULL };
	struct pconsole *con = target;
	int i = 0, r = one_of(c, v, "auth", set, &i);

	con->auth_v = i == 0 ? AUTH_DIGEST : AUTH_KERBEROS;
	return r;
}

static int
valid_tags(struct pctx *c, void *target, const struct ynode *v)
{
	size_t i;
	int r = CUST_OK;

	for (i = 0; i < v->nkids; i++) {
		const struct ynode *t = v->kids[i];

		if (t->type == YN_SCALAR && util_valid_tag(t->str) != CUST_OK)
			r = bad(c, t, R_BAD_VALUE, "device tag '%.64s' of "
			    "console '%s' is not 1-64 characters of "
			    "[A-Za-z0-9._-]", t->str, c->name);
	}
	return r;
}

static int
valid_dir_type(struct pctx *c, void *target, const struct ynode *v)
{
	if (strcmp(v->str, "ad") != 0 && strcmp(v->str, "mit") != 0)
		return bad(c, v, R_BAD_VALUE, "directory type must be ad or "
		    "mit, not '%.64s'", v->str);
	return CUST_OK;
}

static int
valid_dir_realm(struct pctx *c, void *target, const struct ynode *v)
{
	if (util_valid_realm(v->str) != CUST_OK)
		return bad(c, v, R_BAD_VALUE, "directory realm '%.64s' must "
		    "be an upper-case Kerberos realm such as CORP.EXAMPLE",
		    v->str);
	return CUST_OK;
}

static int
valid_allow_avoided(struct pctx *c, void *target, const struct ynode *v)
{
	struct policy *p = target;

	p->allow_avoided = ytree_bool(v);
	return CUST_OK;
}

/* Console names become secret kinds (console:NAME) and default user
 * names; duty names are words. */
static int
valid_name(const char *s, size_t len, int lower)
{
	size_t i;

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') ||
		    (!lower && ch >= 'A' && ch <= 'Z');

		if (!alnum && (i == 0 || (ch != '-' && ch != '_' &&
		    (lower || ch != '.'))))
			return 0;
	}
	return 1;
}

/* ---- tables ---- */

#define PO(m)	offsetof(struct policy, m)
#define CO(m)	offsetof(struct pconsole, m)
#define DO(m)	offsetof(struct pduty, m)
#define N(a)	(sizeof(a) / sizeof((a)[0]))

static const struct field identity_f[] = {
	{ "certificate", K_STR, 0, CO(certificate), NULL, NULL },
	{ "kerberos", K_STR, 0, CO(kerberos), NULL, NULL },
};
static const struct table identity_t = { "the identity of console", 1,
	identity_f, N(identity_f) };

static const struct field scope_f[] = {
	{ "tags", K_STRSEQ, 1, CO(tags), valid_tags, NULL },
};
static const struct table scope_t = { "the scope of console", 1,
	scope_f, N(scope_f) };

static const struct field console_f[] = {
	{ "identity", K_MAP, 0, CO(identity), NULL, &identity_t },
	{ "duties", K_STRSEQ, 0, CO(duties), NULL, NULL },
	{ "realms", K_REALMSEQ, 0, CO(realms), NULL, NULL },
	{ "access", K_STR, 0, CO(access), valid_access, NULL },
	{ "auth", K_STR, 0, CO(auth), valid_auth, NULL },
	{ "username", K_STR, 0, CO(username), NULL, NULL },
	{ "scope", K_MAP, 0, CO(scope), NULL, &scope_t },
};
static const struct table console_t = { "console", 1, console_f,
	N(console_f) };

static const struct field duty_f[] = {
	{ "realms", K_REALMSEQ, 0, DO(realm_list), NULL, NULL },
	{ "exclusive", K_BOOL, 0, DO(exclusive_n), NULL, NULL },
	{ "rationale", K_STR, 0, DO(rationale_n), NULL, NULL },
};
static const struct table duty_t = { "duty", 1, duty_f, N(duty_f) };

static const struct field directory_f[] = {
	{ "type", K_STR, 1, PO(dir_type), valid_dir_type, NULL },
	{ "realm", K_STR, 1, PO(dir_realm), valid_dir_realm, NULL },
};
static const struct table directory_t = { "the directory", 0, directory_f,
	N(directory_f) };

static const struct field options_f[] = {
	{ "allow-avoided-realms", K_BOOL, 0, NOSLOT, valid_allow_avoided,
	  NULL },
};
static const struct table options_t = { "options", 0, options_f,
	N(options_f) };

static int walk_consoles(struct pctx *c, void *target, const struct ynode *v);
static int walk_duties(struct pctx *c, void *target, const struct ynode *v);

static const struct field policy_f[] = {
	{ "version", K_INT, 1, PO(version), valid_version, NULL },
	{ "owner", K_STR, 0, PO(owner), NULL, NULL },
	{ "directory", K_MAP, 0, PO(directory), NULL, &directory_t },
	{ "options", K_MAP, 0, PO(options), NULL, &options_t },
	{ "duties", K_NAMED, 0, PO(duty_defs), walk_duties, NULL },
	{ "consoles", K_NAMED, 1, NOSLOT, walk_consoles, NULL },
};
static const struct table policy_t = { "the policy", 0, policy_f,
	N(policy_f) };

/* A name -> mapping entry: check the name, then walk the mapping. */
static int
walk_named(struct pctx *c, const struct ynode *k, const struct ynode *v,
    const struct table *t, void *target, int lower, const char *what)
{
	int r = CUST_OK, r2;

	if (k->type != YN_SCALAR)
		return CUST_E_PARSE;
	c->name = k->str;
	if (!valid_name(k->str, k->len, lower))
		r = bad(c, k, R_BAD_VALUE, "%s name '%.64s' must be 1-64 "
		    "characters of %s, starting with a letter or digit", what,
		    k->str, lower ? "[a-z0-9_-]" : "[A-Za-z0-9._-]");
	if (r != CUST_OK && r != CUST_E_PARSE)
		return r;
	if (v->type != YN_MAP) {
		if (v->type == YN_BAD)
			return CUST_E_PARSE;
		return bad(c, v, R_WRONG_TYPE, "%s '%.64s' must be a mapping, "
		    "not %s", what, k->str, ytree_type_name(v));
	}
	r2 = walk_map(c, t, target, v);
	return r2 != CUST_OK ? r2 : r;
}

static int
walk_consoles(struct pctx *c, void *target, const struct ynode *v)
{
	struct policy *p = target;
	size_t i, n = v->nkids / 2;
	int r = CUST_OK, r2;

	if (n > 0 && (p->consoles = arena_alloc(p->arena,
	    n * sizeof(*p->consoles))) == NULL)
		return CUST_E_NOMEM;
	p->nconsoles = n;
	for (i = 0; i < n; i++) {
		struct pconsole *con = &p->consoles[i];

		con->key = v->kids[2 * i];
		con->name = con->key->type == YN_SCALAR ? con->key->str : "";
		con->access_v = 1;	/* network */
		r2 = walk_named(c, con->key, v->kids[2 * i + 1], &console_t,
		    con, 0, "console");
		if (r2 != CUST_OK && r2 != CUST_E_PARSE)
			return r2;
		if (r2 != CUST_OK)
			r = r2;
	}
	c->name = NULL;
	return r;
}

static int
walk_duties(struct pctx *c, void *target, const struct ynode *v)
{
	struct policy *p = target;
	size_t i;
	int r = CUST_OK, r2;

	for (i = 0; i + 1 < v->nkids; i += 2) {
		struct pduty *d = &p->duties[c->next_duty++];

		d->key = v->kids[i];
		d->name = d->key->type == YN_SCALAR ? d->key->str : "";
		r2 = walk_named(c, d->key, v->kids[i + 1], &duty_t, d, 1,
		    "duty");
		if (r2 != CUST_OK && r2 != CUST_E_PARSE)
			return r2;
		if (r2 != CUST_OK)
			r = r2;
		if (d->exclusive_n != NULL)
			d->exclusive = ytree_bool(d->exclusive_n);
		if (d->rationale_n != NULL)
			d->rationale = d->rationale_n->str;
	}
	c->name = NULL;
	return r;
}

/* Room for the built-in duties and those the policy defines. */
static int
alloc_duties(struct policy *p, size_t *nbuiltin_out)
{
	const struct policy_duty *bd;
	size_t nb, i, ncustom = 0;

	bd = policy_duties(&nb);
	for (i = 0; i + 1 < p->root->nkids; i += 2) {
		const struct ynode *k = p->root->kids[i];

		if (k->type == YN_SCALAR && strcmp(k->str, "duties") == 0 &&
		    p->root->kids[i + 1]->type == YN_MAP)
			ncustom += p->root->kids[i + 1]->nkids / 2;
	}
	p->duties = arena_alloc(p->arena, (nb + ncustom) * sizeof(*p->duties));
	if (p->duties == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < nb; i++) {
		p->duties[i].name = bd[i].name;
		p->duties[i].realms = bd[i].realms;
		p->duties[i].exclusive = bd[i].exclusive;
		p->duties[i].rationale = bd[i].rationale;
		p->duties[i].builtin = 1;
	}
	p->nduties = nb + ncustom;
	*nbuiltin_out = nb;
	return CUST_OK;
}

int
policy_parse_tree(struct policy *p)
{
	struct pctx c;
	int r;

	memset(&c, 0, sizeof(c));
	c.p = p;
	if (p->root == NULL || (p->root->type == YN_SCALAR &&
	    p->root->cls == YS_NULL)) {
		static const struct ynode start = { .line = 1, .col = 1 };

		return bad(&c, &start, R_YAML_SYNTAX, "the file is empty; a "
		    "policy is a mapping with version and consoles");
	}
	if (p->root->type != YN_MAP)
		return bad(&c, p->root, R_WRONG_TYPE, "a policy must be a "
		    "mapping, not %s", ytree_type_name(p->root));
	if ((r = alloc_duties(p, &c.next_duty)) != CUST_OK)
		return r;
	return walk_map(&c, &policy_t, p, p->root);
}
