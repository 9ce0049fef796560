/* SPDX-License-Identifier: MIT */
/* src/policy/policy.c - loading a policy: tree, schema, rules. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"
#include "util.h"

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	arena_free(p->arena);
}

int
policy_clean(const struct policy *p)
{
	return p->clean;
}

size_t
policy_console_count(const struct policy *p)
{
	return p->nconsoles;
}

const char *
policy_console_name(const struct policy *p, size_t i)
{
	return i < p->nconsoles ? p->consoles[i].name : NULL;
}

/* The scalars of a sequence node as a new JSON array. */
static json_t *
seq_strings(const struct ynode *seq)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && seq != NULL && i < seq->nkids; i++)
		if (seq->kids[i]->type == YN_SCALAR &&
		    json_array_append_new(a, json_string(seq->kids[i]->str)) !=
		    0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int
policy_console_info(const struct policy *p, const char *name,
    json_t **info_out)
{
	const struct pconsole *con = NULL;
	json_t *info;
	size_t i;

	*info_out = NULL;
	for (i = 0; con == NULL && i < p->nconsoles; i++)
		if (strcmp(p->consoles[i].name, name) == 0)
			con = &p->consoles[i];
	if (con == NULL)
		return cust_fail(CUST_E_NOTFOUND, "the policy has no console "
		    "'%s'", name);
	info = json_pack("{s:s, s:b, s:o}", "name", con->name, "owner",
	    p->owner != NULL && p->owner->type == YN_SCALAR &&
	    strcmp(p->owner->str, con->name) == 0, "duties",
	    seq_strings(con->duties));
	if (info != NULL && ((con->tags != NULL &&
	    json_object_set_new(info, "tags", seq_strings(con->tags)) != 0) ||
	    (con->certificate != NULL && con->certificate->type == YN_SCALAR &&
	    json_object_set_new(info, "certificate",
	    json_string(con->certificate->str)) != 0) ||
	    (con->kerberos != NULL && con->kerberos->type == YN_SCALAR &&
	    json_object_set_new(info, "kerberos",
	    json_string(con->kerberos->str)) != 0) ||
	    (p->clean && con->auth_eff == AUTH_DIGEST && con->user != NULL &&
	    json_object_set_new(info, "username", json_string(con->user)) !=
	    0))) {
		json_decref(info);
		info = NULL;
	}
	if (info == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	*info_out = info;
	return CUST_OK;
}

/* The tree builder's problems, filed under the policy's rules. */
static int __attribute__((format(printf, 5, 0)))
tree_problem(void *ctx, unsigned line, unsigned col, enum ytree_problem yp,
    const char *fmt, va_list ap)
{
	static const enum rule_idx rule[] = {
		[YT_SYNTAX] = R_YAML_SYNTAX,
		[YT_FEATURE] = R_YAML_FEATURE,
		[YT_DUPLICATE_KEY] = R_DUPLICATE_KEY,
		[YT_WRONG_TYPE] = R_WRONG_TYPE,
		[YT_BAD_VALUE] = R_BAD_VALUE,
	};
	struct policy *p = ctx;

	return policy_rep_addv(p->rep, p->file, line, col, rule[yp], 0, NULL,
	    fmt, ap);
}

int
policy_load_buf(struct policy_report *rep, const char *file, const char *buf,
    size_t len, struct policy **p_out)
{
	struct arena *a = NULL;
	struct policy *p = NULL;
	struct ynode *root = NULL;
	const char *rfile;
	int r, bad = 0;

	if (p_out != NULL)
		*p_out = NULL;
	if ((rfile = policy_rep_file(rep, file)) == NULL)
		return CUST_E_NOMEM;
	if (len > POLICY_MAX_BYTES) {
		if (policy_rep_add(rep, rfile, NULL, R_UNREADABLE, 0, NULL, "the "
		    "policy is %zu bytes, over the limit of %u", len,
		    POLICY_MAX_BYTES) != CUST_OK)
			return CUST_E_NOMEM;
		return CUST_E_TOOBIG;
	}
	if ((a = arena_new()) == NULL ||
	    (p = arena_alloc(a, sizeof(*p))) == NULL ||
	    (p->file = arena_strdup(a, file)) == NULL) {
		r = CUST_E_NOMEM;
		goto out;
	}
	p->arena = a;
	p->rep = rep;
	p->file = rfile;	/* findings must name the report's copy */
	if ((r = ytree_build(a, "policy", tree_problem, p, buf, len, &root,
	    &bad)) != CUST_OK)
		goto out;
	p->root = root;
	r = policy_parse_tree(p);
	if (r == CUST_OK && bad)
		r = CUST_E_PARSE;
	if (r != CUST_OK)
		goto out;
	if ((r = policy_check_rules(p)) != CUST_OK ||
	    (r = policy_rep_consoles(rep, rfile, p->consoles, p->nconsoles)) !=
	    CUST_OK)
		goto out;
	p->rep = NULL;
	p->file = arena_strdup(a, file);
	if (p->file == NULL) {
		r = CUST_E_NOMEM;
		goto out;
	}
	if (p_out != NULL) {
		*p_out = p;
		a = NULL;
	}
	r = CUST_OK;
out:
	arena_free(a);
	return r;
}

int
policy_load_file(struct policy_report *rep, const char *path,
    struct policy **p_out)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (p_out != NULL)
		*p_out = NULL;
	r = util_read_file(path, POLICY_MAX_BYTES, &buf, &len);
	if (r != CUST_OK) {
		const char *rf = policy_rep_file(rep, path);

		if (rf == NULL || policy_rep_add(rep, rf, NULL, R_UNREADABLE, 0,
		    NULL, "%s", cust_errmsg()) != CUST_OK)
			return CUST_E_NOMEM;
		return CUST_E_PARSE;
	}
	r = policy_load_buf(rep, path, buf, len, p_out);
	free(buf);
	return r;
}
