/* SPDX-License-Identifier: MIT */
/* src/api/ops_account.c - directory accounts: account.sync brings Active
 * Directory in line with the loaded policy (dir_ad_sync(),
 * include/directory.h), account.list shows what custody created there.
 *
 * account.rotate gives them new passwords (and their keytabs new keys).
 *
 * The sync reads directory.ad from DIR/custody.yaml at each call, so a
 * changed configuration needs no restart. It is not a job of the job
 * framework (whose items are devices): it is resumable by itself, each
 * object's progress recorded in the store, and a sync that stopped is
 * finished by running it again.
 */
#include <stdio.h>

#include "config.h"
#include "directory.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "seal.h"
#include "state.h"

/* A reply that may carry refusals: "ok" set, r kept (CUST_E_CONFLICT:
 * the caller exits 1 with the reply printed). */
static int
reply_outcome(int r, json_t *out, json_t **resp)
{
	if (out == NULL || json_object_set_new(out, "ok",
	    json_boolean(r == CUST_OK)) != 0) {
		json_decref(out);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	r = ops_reply(out, resp);
	if (r == CUST_OK)
		cust_clearerr();
	return r;
}

/*
 * account.sync: the whole directory brought to the loaded policy, one
 * command for both halves custody.yaml configures: Active Directory
 * (dir_ad_sync(): service accounts, their keytabs, duty groups, device
 * objects) when directory.ad is set, then the MIT realm's principals
 * (ops_principal_sync(), the one implementation principal sync runs too)
 * when directory.mit is set; its reply under "principals". An error that
 * stops the AD half (the DC unreachable) stops the command before the
 * MIT half; refusals do not.
 */
static int
op_sync(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cust_config *cfg = NULL;
	struct policy *p = NULL;
	json_t *out = NULL, *mit = NULL;
	int dry = 0, r, ok = 1;

	if ((r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK)
		return r;
	if ((r = config_load_dir(state_dir(ctx->st), NULL, &cfg)) != CUST_OK)
		goto out;
	if (!cfg->ad.set && !cfg->mit.set) {
		r = cust_fail(CUST_E_INVAL, "custody.yaml has no directory.ad "
		    "or directory.mit section: account sync needs one "
		    "(custody.yaml(5))");
		goto out;
	}
	if ((r = ops_policy_usable(ctx->st, &p)) != CUST_OK)
		goto out;
	if (p == NULL) {
		r = cust_fail(CUST_E_CONFLICT, "no usable policy is loaded: "
		    "load one with custodyctl policy load");
		goto out;
	}
	if (cfg->ad.set) {
		r = dir_ad_sync(ctx->st, ctx->actor, &cfg->ad, p, dry, &out);
		if (r == CUST_E_CONFLICT && out != NULL)
			ok = 0;	/* refusals: part of the reply */
		else if (r != CUST_OK)
			goto out;
	} else if ((out = json_pack("{s:[], s:[], s:[], s:[], s:[], s:i, "
	    "s:b}", "operations", "accounts", "groups", "devices", "errors",
	    "changes", 0, "dry_run", dry)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (cfg->mit.set) {
		if ((r = ops_principal_sync(ctx, dry, &mit)) != CUST_OK)
			goto out;
		if (json_integer_value(json_object_get(mit, "failed")) > 0)
			ok = 0;
		if (json_object_set_new(out, "principals", mit) != 0) {
			mit = NULL;
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		mit = NULL;
	}
	r = reply_outcome(ok ? CUST_OK : CUST_E_CONFLICT, out, resp);
	out = NULL;
out:
	json_decref(out);
	json_decref(mit);
	policy_free(p);
	config_free(cfg);
	return r;
}

/* account.rotate {"name": CONSOLE} or {"all": true}: new passwords for
 * the AD service accounts (dir_ad_rotate()). */
static int
op_rotate(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cust_config *cfg = NULL;
	const char *name = NULL;
	json_t *out = NULL;
	int all = 0, r;

	if ((r = ops_req_str(req, "name", 0, &name)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK)
		return r;
	if ((name == NULL) == !all)
		return cust_fail(CUST_E_INVAL, "name a console, or all");
	if ((r = config_load_dir(state_dir(ctx->st), NULL, &cfg)) != CUST_OK)
		return r;
	if (!cfg->ad.set) {
		r = cust_fail(CUST_E_INVAL, "custody.yaml has no directory.ad "
		    "section (custody.yaml(5))");
		goto out;
	}
	r = dir_ad_rotate(ctx->st, ctx->actor, &cfg->ad, name, &out);
	if (r == CUST_OK || (r == CUST_E_CONFLICT && out != NULL)) {
		r = reply_outcome(r, out, resp);
		out = NULL;
	}
out:
	json_decref(out);
	config_free(cfg);
	return r;
}

static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *rows;
	int r;

	(void)req;
	if ((r = dir_ad_list(ctx->st, &rows)) != CUST_OK)
		return r;
	return ops_reply(json_pack("{s:o}", "objects", rows), resp);
}

/* The current password of an AD account custody made ({"name"}), for
 * whoever sets the account up on its console (or derives its keys):
 * {"name", "version", "password"}; audited before it is returned. */
static int
op_password(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct seal_secret *pw = NULL;
	const char *name;
	int64_t v = 0;
	int r;

	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK)
		return r;
	if ((r = dir_ad_password(ctx->st, ctx->actor, name, &pw, &v)) !=
	    CUST_OK)
		return r;
	r = ops_reply(json_pack("{s:o, s:I, s:s%}", "name", ops_text(name),
	    "version", (json_int_t)v, "password", seal_secret_str(pw),
	    seal_secret_len(pw)), resp);
	seal_secret_free(pw);
	return r;
}

void
ops_account_follow(struct ops_ctx *ctx, const char *name,
    int (*fn)(struct cust_state *, const char *, const struct config_ad *,
    const char *, json_t **), json_t *reply)
{
	struct cust_config *cfg = NULL;
	char why[512] = "";
	json_t *d = NULL;
	int r;

	if (config_load_dir(state_dir(ctx->st), NULL, &cfg) != CUST_OK)
		snprintf(why, sizeof(why), "%s", cust_errmsg());
	r = fn(ctx->st, ctx->actor, cfg != NULL ? &cfg->ad : NULL, name, &d);
	if (r != CUST_OK && (d != NULL || (d = json_object()) != NULL))
		(void)json_object_set_new(d, "error", ops_text(why[0] != '\0' ?
		    why : cust_errmsg()));
	if (d != NULL && json_object_set_new(reply, "directory", d) != 0)
		json_decref(d);
	config_free(cfg);
	cust_clearerr();
}

const struct ops_entry ops_account_table[] = {
	{ "account.password", op_password, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "account.sync", op_sync, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "account.rotate", op_rotate, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "account.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
