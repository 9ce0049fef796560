/* SPDX-License-Identifier: MIT */
/* src/api/ops_credential.c - scoped console credentials: credential.show,
 * credential.list, credential.sync, and the sync that policy.load,
 * device.add and device.import run (ops_int.h).
 *
 * The loaded policy's plan says which consoles hold a digest user on which
 * device (user name, realms, access); cred keeps one password per (device,
 * console) as kind console:NAME (src/cred/console.c). A credential is
 * answered from the plan of the policy loaded at the time of the read:
 * a console the policy no longer grants gets nothing, even before the
 * sync has retired its versions.
 */
#include <stdio.h>
#include <string.h>

#include "amt.h"
#include "cred.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

struct ops_cred_plan {
	struct cust_state *st;
	struct policy *p;
	int64_t policy_id;	/* the loaded policy the plan comes from */
	const char **renew;	/* consoles whose user name changed */
	size_t nrenew;
};

/* The id of the latest loaded policy (0: none). */
static int
policy_id(struct cust_state *st, int64_t *out)
{
	return ops_sql_int(st, "SELECT COALESCE(MAX(id), 0) FROM policy",
	    "read the loaded policy", out);
}

void
ops_cred_plan_free(struct ops_cred_plan *pl)
{
	if (pl == NULL)
		return;
	policy_free(pl->p);
	free(pl->renew);
	free(pl);
}

/* The user name the policy gives console name, or NULL (not digest). */
static const char *
username_of(json_t *info)
{
	return json_string_value(json_object_get(info, "username"));
}

/* Consoles of new whose digest user name differs from old's. */
static int
renamed(const struct policy *old, const struct policy *new,
    const char ***out, size_t *n_out)
{
	const char **v;
	const char *name, *a, *b;
	json_t *io, *in;
	size_t i, n = 0;
	int r = CUST_OK;

	*out = NULL;
	*n_out = 0;
	if ((v = calloc(policy_console_count(new) + 1, sizeof(*v))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	for (i = 0; (name = policy_console_name(new, i)) != NULL; i++) {
		io = in = NULL;
		if (policy_console_info(old, name, &io) == CUST_OK &&
		    (r = policy_console_info(new, name, &in)) == CUST_OK) {
			a = username_of(io);
			b = username_of(in);
			if (a != NULL && b != NULL && strcmp(a, b) != 0)
				v[n++] = name;
		}
		json_decref(io);
		json_decref(in);
		if (r != CUST_OK) {
			free(v);
			return r;
		}
	}
	cust_clearerr();
	*out = v;
	*n_out = n;
	return CUST_OK;
}

int
ops_cred_plan_open(struct cust_state *st, const struct policy *prev,
    struct ops_cred_plan **out)
{
	struct ops_cred_plan *pl;
	int r;

	*out = NULL;
	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	pl->st = st;
	/* A loaded policy that a newer checker refuses authorizes nobody
	 * (ops_identity_console()): no credential is granted or withdrawn
	 * by it; load a policy again. */
	if ((r = policy_id(st, &pl->policy_id)) != CUST_OK ||
	    (r = ops_policy_usable(st, &pl->p)) != CUST_OK ||
	    (prev != NULL && pl->p != NULL && (r = renamed(prev, pl->p,
	    &pl->renew, &pl->nrenew)) != CUST_OK))
		goto out;
	*out = pl;
	pl = NULL;
out:
	ops_cred_plan_free(pl);
	return r;
}

/* The plan's digest entry of console on a device carrying tags, as a new
 * object, or NULL with CUST_E_NOTFOUND. That console's entry alone, not
 * the device's whole plan: this runs for every credential read. */
static int
entry_of(const struct policy *p, json_t *tags, const char *console,
    json_t **out)
{
	const char *t;
	int r;

	*out = NULL;
	if ((r = policy_plan_entry(p, tags, console, out)) != CUST_OK)
		return r;
	t = json_string_value(json_object_get(*out, "type"));
	if (t == NULL || strcmp(t, "digest") != 0) {
		json_decref(*out);
		*out = NULL;
		return CUST_E_NOTFOUND;
	}
	return CUST_OK;
}

/* The planner: the consoles with a digest entry on the device. */
static int
plan_consoles(void *arg, const char *fqdn, json_t *tags, json_t **want_out)
{
	struct ops_cred_plan *pl = arg;
	json_t *plan = NULL, *want, *e;
	size_t i;
	int r;

	*want_out = NULL;
	if ((r = policy_plan(pl->p, fqdn, tags, &plan)) != CUST_OK)
		return r;
	if ((want = json_array()) == NULL) {
		json_decref(plan);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	json_array_foreach(json_object_get(plan, "entries"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "type")),
		    "digest") == 0 && json_array_append(want,
		    json_object_get(e, "console")) != 0) {
			json_decref(want);
			json_decref(plan);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	json_decref(plan);
	*want_out = want;
	return CUST_OK;
}

/* Each batch: the policy must still be the one the plan comes from; a
 * newer one's own sync does the rest. */
static int
plan_batch(void *arg)
{
	struct ops_cred_plan *pl = arg;
	int64_t id;
	int r;

	if ((r = policy_id(pl->st, &id)) != CUST_OK)
		return r;
	if (id != pl->policy_id)
		return cust_fail(CUST_E_CONFLICT, "another policy was loaded "
		    "while the console credentials were being synced: its own "
		    "sync takes over");
	return CUST_OK;
}

int
ops_cred_plan_sync(struct ops_ctx *ctx, struct ops_cred_plan *pl,
    int64_t after_id, int64_t only_id, struct cred_console_result *res)
{
	struct cred_console_planner cp;

	memset(res, 0, sizeof(*res));
	/* No usable policy: nothing to grant, but one device inside the
	 * caller's transaction still checks that none was loaded since. */
	if (pl->p == NULL)
		return only_id > 0 ? plan_batch(pl) : CUST_OK;
	memset(&cp, 0, sizeof(cp));
	cp.plan = plan_consoles;
	cp.batch = plan_batch;
	cp.renew = pl->renew;
	cp.nrenew = pl->nrenew;
	cp.arg = pl;
	return cred_console_sync(ctx->st, ctx->actor, after_id, only_id,
	    CRED_PW_DEFAULT, &cp, ctx->progress, ctx->progress_arg, res);
}

json_t *
ops_cred_counts(const struct cred_console_result *res)
{
	return json_pack("{s:I, s:I, s:I}", "devices", (json_int_t)
	    res->devices, "granted", (json_int_t)res->granted, "withdrawn",
	    (json_int_t)res->withdrawn);
}

/* The console a request is about: a console identity's own (ops_call()
 * refused another already, OPS_SELF), else the required "console". */
static int
console_of(struct ops_ctx *ctx, json_t *req, const char **out)
{
	int r;

	if ((r = ops_req_str(req, "console", 0, out)) != CUST_OK)
		return r;
	if (ops_identity_kind(ctx->who) == OPS_ID_CONSOLE)
		*out = ops_identity_name(ctx->who);
	else if (*out == NULL)
		return cust_fail(CUST_E_INVAL, "'console' is required: whose "
		    "credential?");
	return CUST_OK;
}

static int
op_show(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const struct policy *p = NULL;
	struct seal_secret *pw = NULL, *h = NULL;
	struct cred_device_ref dev;
	const char *fqdn, *console, *format, *state, *realm, *user;
	char kind[CRED_KIND_MAX], note[32];
	json_t *e = NULL;
	int64_t ver;
	int want_ha1, own, r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = console_of(ctx, req, &console)) != CUST_OK ||
	    (r = ops_req_str(req, "format", 0, &format)) != CUST_OK)
		return r;
	if (format == NULL)
		format = "plain";
	if (strcmp(format, "plain") != 0 && strcmp(format, "ha1") != 0)
		return cust_fail(CUST_E_INVAL, "'format' is plain or ha1");
	want_ha1 = strcmp(format, "ha1") == 0;
	memset(&dev, 0, sizeof(dev));
	if ((r = cred_console_kind(console, kind, sizeof(kind))) != CUST_OK)
		return r;
	/* The device, the policy and the secret on one snapshot: one read
	 * transaction (one WAL read lock, one page-cache check) instead of
	 * three; cred_secret_read() ends it before its audit entry. */
	own = !store_in_txn(state_store(ctx->st));
	if (own && (r = store_begin_read(state_store(ctx->st))) != CUST_OK)
		return r;
	if ((r = cred_device_ref_get(ctx->st, fqdn, &dev)) != CUST_OK ||
	    (r = ops_policy_current(ctx->st, &p)) != CUST_OK)
		goto out;
	fqdn = dev.fqdn;
	realm = dev.realm;
	/* What the loaded policy grants now decides, not what was synced. */
	if (p == NULL || entry_of(p, dev.tags, console, &e) != CUST_OK) {
		r = cust_fail(CUST_E_NOTFOUND, "console '%s' has no credential "
		    "on %s: the loaded policy gives it no digest user there",
		    console, fqdn);
		goto out;
	}
	if (want_ha1 && realm == NULL) {
		r = cust_fail(CUST_E_CONFLICT, "%s has no digest realm recorded: "
		    "its HA1 cannot be computed (give the device its realm)",
		    fqdn);
		goto out;
	}
	user = json_string_value(json_object_get(e, "username"));
	snprintf(note, sizeof(note), "format=%s", format);
	/* Audited durably before the value leaves (cred_secret_read()). */
	if ((r = cred_secret_read_ref(ctx->st, ctx->actor, "credential.show",
	    note, &dev, kind, CRED_VER_USABLE, &pw, &ver, &state)) != CUST_OK)
		goto out;
	if (want_ha1 && (r = amt_digest_password(user, realm, pw, &h)) != CUST_OK)
		goto out;
	r = ops_reply(json_pack("{s:s, s:s, s:o, s:s, s:s%, s:I, s:s, s:O, "
	    "s:O}", "device", fqdn, "console", console, "digest_realm",
	    realm != NULL ? json_string(realm) : json_null(), "username", user,
	    want_ha1 ? "ha1" : "password", seal_secret_str(want_ha1 ? h : pw),
	    seal_secret_len(want_ha1 ? h : pw), "version", (json_int_t)ver,
	    "state", state, "realms", json_object_get(e, "realm_names"),
	    "access", json_object_get(e, "access_name")), resp);
out:
	if (own)
		store_rollback(state_store(ctx->st));	/* a no-op once ended */
	seal_secret_free(pw);
	seal_secret_free(h);
	json_decref(e);
	cred_device_ref_free(&dev);
	return r;
}

static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *console, *after;
	long long limit;
	json_t *items, *next;
	size_t n;
	int r;

	if ((r = console_of(ctx, req, &console)) != CUST_OK ||
	    (r = ops_req_str(req, "after", 0, &after)) != CUST_OK ||
	    (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	if ((r = cred_console_list(ctx->st, console, after, (size_t)limit,
	    &items)) != CUST_OK)
		return r;
	n = json_array_size(items);
	next = n == (size_t)limit ? json_incref(json_object_get(
	    json_array_get(items, n - 1), "fqdn")) : json_null();
	return ops_reply(json_pack("{s:s, s:o, s:o}", "console", console,
	    "items", items, "next", next), resp);
}

/* Reconcile every device with the loaded policy again: after a sync cut
 * short, or tags changed behind custody's back. */
static int
op_sync(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cred_console_result res;
	struct ops_cred_plan *pl = NULL;
	int r;

	(void)req;
	if ((r = ops_cred_plan_open(ctx->st, NULL, &pl)) != CUST_OK)
		return r;
	if (pl->p == NULL) {
		ops_cred_plan_free(pl);
		return cust_fail(CUST_E_NOTFOUND, "no usable policy is loaded: "
		    "load one with custodyctl policy load");
	}
	r = ops_cred_plan_sync(ctx, pl, 0, 0, &res);
	ops_cred_plan_free(pl);
	if (r != CUST_OK)
		return r;
	return ops_reply(ops_cred_counts(&res), resp);
}

const struct ops_entry ops_credential_table[] = {
	/* A console reads its own credential on a device of its scope;
	 * admins any console's (naming it); auditors never a secret. */
	{ "credential.show", op_show, OPS_SELF, OPS_ADMIN | OPS_CONSOLE,
	    OPS_RES_DEVICE },
	{ "credential.list", op_list, OPS_SELF, OPS_ADMIN | OPS_CONSOLE,
	    OPS_RES_NONE },
	{ "credential.sync", op_sync, 0, OPS_ADMIN, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
