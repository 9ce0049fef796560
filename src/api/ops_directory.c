/* SPDX-License-Identifier: MIT */
/* src/api/ops_directory.c - the consoles' MIT Kerberos principals and
 * keytabs (include/directory.h): principal.sync, principal.rotate,
 * principal.list, keytab.get.
 *
 * Which consoles get a principal is the loaded policy's word: every
 * console whose Kerberos identity is NAME@REALM of custody.yaml's
 * directory.mit realm. The connection settings come from custody.yaml,
 * read at each call (the local CLI and custodyd alike).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ca.h"
#include "config.h"
#include "directory.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "seal.h"
#include "state.h"
#include "store.h"

/* directory.mit of DIR/custody.yaml: *cfg_out new (config_free()). */
static int
mit_config(struct ops_ctx *ctx, struct cust_config **cfg_out)
{
	int r;

	if ((r = config_load_dir(state_dir(ctx->st), NULL, cfg_out)) !=
	    CUST_OK)
		return r;
	if (!(*cfg_out)->mit.set) {
		config_free(*cfg_out);
		*cfg_out = NULL;
		return cust_fail(CUST_E_UNAVAIL, "custody.yaml has no "
		    "directory.mit section (custody.yaml(5))");
	}
	return CUST_OK;
}

/* 1 when console name is revoked: its latest console record (a
 * certificate holder, names compared without case) is revoked. A console
 * without a record (Kerberos only) is not. Row MAC checked. */
int
ops_console_revoked(struct cust_state *st, const char *name, int *out)
{
	return ca_console_revoked(st, name, out);
}

/*
 * The principals the loaded policy wants in realm: *want_out (free())
 * with strings borrowed from *hold_out (json_decref() after use). No
 * usable policy is CUST_E_CONFLICT: without one, a sync would delete
 * every principal custody made. A revoked console is wanted no more.
 */
static int
policy_wants(struct ops_ctx *ctx, const char *realm,
    struct dir_want **want_out, size_t *n_out, json_t **hold_out)
{
	struct policy *p = NULL;
	struct dir_want *want = NULL;
	json_t *hold = NULL, *info = NULL;
	const char *name, *krb, *at;
	size_t i, n = 0, nc;
	int r, revoked;

	*want_out = NULL;
	*n_out = 0;
	*hold_out = NULL;
	if ((r = ops_policy_usable(ctx->st, &p)) != CUST_OK)
		return r;
	if (p == NULL)
		return cust_fail(CUST_E_CONFLICT, "no usable policy is loaded "
		    "(policy load): custody syncs principals with one");
	nc = policy_console_count(p);
	if ((hold = json_array()) == NULL || (want = calloc(nc + 1,
	    sizeof(*want))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nc; i++) {
		name = policy_console_name(p, i);
		if ((r = policy_console_info(p, name, &info)) != CUST_OK)
			goto out;
		krb = json_string_value(json_object_get(info, "kerberos"));
		if (json_array_append_new(hold, info) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		if (krb == NULL || (at = strrchr(krb, '@')) == NULL ||
		    strcmp(at + 1, realm) != 0)
			continue;
		if ((r = ops_console_revoked(ctx->st, name, &revoked)) != CUST_OK)
			goto out;
		if (revoked)
			continue;	/* revoked: its principal goes */
		want[n].console = json_string_value(json_object_get(info,
		    "name"));
		want[n].principal = krb;
		n++;
	}
	*want_out = want;
	*n_out = n;
	*hold_out = hold;
	want = NULL;
	hold = NULL;
	r = CUST_OK;
out:
	free(want);
	json_decref(hold);
	policy_free(p);
	return r;
}

/* The one function that makes the realm match the loaded policy; the
 * caller's dry_run, the reply of principal.sync. */
int
ops_principal_sync(struct ops_ctx *ctx, int dry_run, json_t **resp)
{
	struct cust_config *cfg = NULL;
	struct dir_want *want = NULL;
	json_t *hold = NULL;
	size_t n = 0;
	int r;

	if ((r = mit_config(ctx, &cfg)) != CUST_OK)
		return r;
	if ((r = policy_wants(ctx, cfg->mit.realm, &want, &n, &hold)) ==
	    CUST_OK)
		r = dir_mit_sync(ctx->st, &cfg->mit, want, n, dry_run,
		    ctx->actor, resp);
	free(want);
	json_decref(hold);
	config_free(cfg);
	return r;
}

void
ops_principal_revoked(struct ops_ctx *ctx, const char *name, json_t *resp)
{
	struct cust_config *cfg = NULL;
	json_t *l = NULL, *o;
	const char *found = name;
	size_t i;
	int r, held = 0;

	/* the principals custody holds: no connection unless one is the
	 * console's; its name as the policy spells it first (consoles sec
	 * and Sec may both be there: the first without case was Sec's),
	 * else as typed (console revoke SEC) */
	if (dir_mit_list(ctx->st, &l) != CUST_OK)
		goto fail;
	json_array_foreach(json_object_get(l, "items"), i, o) {
		const char *c = json_string_value(json_object_get(o,
		    "console"));

		if (strcmp(c, name) == 0 || (!held && strcasecmp(c, name) ==
		    0)) {
			held = 1;
			found = c;
		}
		if (strcmp(c, name) == 0)
			break;
	}
	name = found;
	if (!held)
		goto out;
	if ((r = mit_config(ctx, &cfg)) != CUST_OK ||
	    (r = dir_mit_delete(ctx->st, &cfg->mit, name, ctx->actor)) !=
	    CUST_OK)
		goto fail;
	(void)json_object_set_new(resp, "principal", json_string("deleted"));
	goto out;
fail:
	(void)json_object_set_new(resp, "principal_error",
	    ops_text(cust_errmsg()));
out:
	json_decref(l);
	config_free(cfg);
}

static int
op_sync(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	int r, dry_run;

	if ((r = ops_req_bool(req, "dry_run", &dry_run)) != CUST_OK)
		return r;
	return ops_principal_sync(ctx, dry_run, resp);
}

static int
op_rotate(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cust_config *cfg = NULL;
	const char *name;
	int r;

	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK ||
	    (r = mit_config(ctx, &cfg)) != CUST_OK)
		return r;
	r = dir_mit_rotate(ctx->st, &cfg->mit, name, ctx->actor, resp);
	config_free(cfg);
	return r;
}

/* One page, by console name (include/ops.h paging). */
static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *after = NULL, *c;
	json_t *all = NULL, *items, *o, *last = NULL;
	long long limit;
	size_t i;
	int r;

	if ((r = ops_req_str(req, "after", 0, &after)) != CUST_OK ||
	    (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	if ((r = dir_mit_list(ctx->st, &all)) != CUST_OK)
		return r;
	if ((items = json_array()) == NULL) {
		json_decref(all);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	json_array_foreach(json_object_get(all, "items"), i, o) {
		c = json_string_value(json_object_get(o, "console"));
		if (after != NULL && strcmp(c, after) <= 0)
			continue;
		if (json_array_size(items) == (size_t)limit) {
			last = json_object_get(json_array_get(items,
			    json_array_size(items) - 1), "console");
			break;
		}
		if (json_array_append(items, o) != 0) {
			json_decref(items);
			json_decref(all);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	}
	r = ops_reply(json_pack("{s:o, s:O}", "items", items, "next",
	    last != NULL ? last : json_null()), resp);
	json_decref(all);
	return r;
}

/* The console's keytab image: its MIT principal's, or else (directory.ad
 * set) the one derived for its AD service account. */
static int
console_keytab(struct ops_ctx *ctx, const char *name, struct seal_secret **out)
{
	struct cust_config *cfg = NULL;
	int r;

	if ((r = dir_mit_keytab(ctx->st, name, ctx->actor, out)) !=
	    CUST_E_NOTFOUND)
		return r;
	if ((r = config_load_dir(state_dir(ctx->st), NULL, &cfg)) != CUST_OK)
		return r;
	r = cust_fail(CUST_E_NOTFOUND, "custody holds no keytab for console "
	    "%s", name);
	if (cfg->ad.set)
		r = dir_ad_keytab(ctx->st, ctx->actor, &cfg->ad, name, out);
	config_free(cfg);
	return r;
}

/* The console's keytab: base64 of the file image ("keytab"); the REST
 * route answers the bytes (application/octet-stream). */
static int
op_keytab(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct seal_secret *img = NULL, *b64 = NULL;
	const char *name;
	size_t bl;
	int r;

	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK)
		return r;
	if ((r = console_keytab(ctx, name, &img)) != CUST_OK)
		return r;
	bl = sodium_base64_ENCODED_LEN(seal_secret_len(img),
	    sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = seal_secret_new(bl)) == NULL) {
		seal_secret_free(img);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	sodium_bin2base64((char *)seal_secret_data(b64), bl,
	    seal_secret_data(img), seal_secret_len(img),
	    sodium_base64_VARIANT_ORIGINAL);
	seal_secret_free(img);
	r = ops_reply(json_pack("{s:s, s:s}", "console", name, "keytab",
	    seal_secret_str(b64)), resp);
	seal_secret_free(b64);
	return r;
}

/* The realm's principals are the admin's to change; their list holds no
 * secret (auditors read it); a keytab is that console's, or an admin's
 * to hand over. */
const struct ops_entry ops_directory_table[] = {
	{ "principal.sync", op_sync, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "principal.rotate", op_rotate, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "principal.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR,
	  OPS_RES_NONE },
	{ "keytab.get", op_keytab, 0, OPS_ADMIN | OPS_CONSOLE,
	  OPS_RES_CONSOLE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
