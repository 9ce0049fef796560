/* SPDX-License-Identifier: MIT */
/* src/api/ops_account.c - directory accounts: account.sync brings Active
 * Directory in line with the loaded policy (dir_ad_sync(),
 * include/directory.h), account.list shows what custody created there.
 *
 * The sync reads directory.ad from DIR/custody.yaml at each call, so a
 * changed configuration needs no restart. It is not a job of the job
 * framework (whose items are devices): it is resumable by itself, each
 * object's progress recorded in the store, and a sync that stopped is
 * finished by running it again.
 */
#include "config.h"
#include "directory.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "seal.h"
#include "state.h"

static int
op_sync(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cust_config *cfg = NULL;
	struct policy *p = NULL;
	json_t *out = NULL;
	int dry = 0, r;

	if ((r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK)
		return r;
	if ((r = config_load_dir(state_dir(ctx->st), NULL, &cfg)) != CUST_OK)
		goto out;
	if (!cfg->ad.set) {
		r = cust_fail(CUST_E_INVAL, "custody.yaml has no directory.ad "
		    "section: account sync needs one (custody.yaml(5))");
		goto out;
	}
	if ((r = ops_policy_usable(ctx->st, &p)) != CUST_OK)
		goto out;
	if (p == NULL) {
		r = cust_fail(CUST_E_CONFLICT, "no usable policy is loaded: "
		    "load one with custodyctl policy load");
		goto out;
	}
	r = dir_ad_sync(ctx->st, ctx->actor, &cfg->ad, p, dry, &out);
	if (r == CUST_OK || (r == CUST_E_CONFLICT && out != NULL)) {
		/* refusals are part of the reply; the caller exits 1 */
		if (out != NULL && json_object_set_new(out, "ok",
		    json_boolean(r == CUST_OK)) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		r = ops_reply(out, resp);
		out = NULL;
		if (r == CUST_OK)
			cust_clearerr();
	}
out:
	json_decref(out);
	policy_free(p);
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

const struct ops_entry ops_account_table[] = {
	{ "account.password", op_password, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "account.sync", op_sync, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "account.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
