/* SPDX-License-Identifier: MIT */
/* src/api/ops_device.c - device inventory operations. */
#include <string.h>

#include "ca.h"
#include "cred.h"
#include "directory.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"
#include "state.h"
#include "store.h"
#include "util.h"

static int
pwlen_of(json_t *req, size_t *out)
{
	long long n = CRED_PW_DEFAULT;
	int r = ops_req_int(req, "password_length", 0, CRED_PW_MIN,
	    CRED_PW_MAX, &n);

	*out = (size_t)n;
	return r;
}

static int
op_add(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cred_device_spec spec = { 0 };
	struct cred_console_result res;
	struct ops_cred_plan *pl = NULL;
	const char **tags = NULL;
	size_t pwlen;
	int64_t id;
	int r, tries;

	if ((r = ops_req_str(req, "fqdn", 1, &spec.fqdn)) != CUST_OK ||
	    (r = ops_req_str(req, "uuid", 0, &spec.uuid)) != CUST_OK ||
	    (r = ops_req_str(req, "digest_realm", 0, &spec.digest_realm)) !=
	    CUST_OK ||
	    (r = ops_req_str(req, "address", 0, &spec.address)) != CUST_OK ||
	    (r = pwlen_of(req, &pwlen)) != CUST_OK ||
	    (r = ops_req_strings(req, "tags", &tags, &spec.ntags)) != CUST_OK)
		return r;
	spec.tags = tags;
	/* The device and the console credentials the loaded policy gives it
	 * on it: one transaction (the policy read before it; a policy
	 * loaded in between makes it start again with that one, whose own
	 * sync may have passed the device's place already). An import
	 * whose process died holds its names until swept: first. */
	if ((r = cred_import_sweep(ctx->st, NULL)) != CUST_OK)
		goto out;
	for (tries = 0; tries < 3; tries++) {
		ops_cred_plan_free(pl);
		pl = NULL;
		if ((r = ops_cred_plan_open(ctx->st, NULL, &pl)) != CUST_OK)
			goto out;
		if (tries == 0)		/* tests load a policy here */
			util_test_stop("device-add-planned");
		if ((r = store_begin(state_store(ctx->st))) != CUST_OK)
			goto out;
		if ((r = cred_device_add(ctx->st, ctx->actor, &spec, pwlen,
		    &id)) == CUST_OK && (r = ops_cred_plan_sync(ctx, pl, 0, id,
		    &res)) == CUST_OK && (r = store_commit(state_store(
		    ctx->st))) == CUST_OK)
			break;
		store_rollback(state_store(ctx->st));
		if (r != CUST_E_CONFLICT)
			goto out;
	}
	if (r == CUST_OK)
		r = cred_device_get(ctx->st, spec.fqdn, resp);
out:
	ops_cred_plan_free(pl);
	free(tags);
	return r;
}

/* A short list must never look complete: a failed append is an error. */
static int
collect(void *arg, json_t *dev)
{
	if (json_array_append(arg, dev) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return 0;
}

/* One page of active devices in FQDN order; the cursor is the FQDN of
 * the last device of a full page (include/ops.h). */
static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *tag, *after;
	long long limit;
	json_t *arr, *next;
	size_t n;
	int r;

	if ((r = ops_req_str(req, "tag", 0, &tag)) != CUST_OK ||
	    (r = ops_req_str(req, "after", 0, &after)) != CUST_OK ||
	    (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	if (tag != NULL && util_valid_tag(tag) != CUST_OK)
		return cust_fail(CUST_E_INVAL, "'%s' is not a valid tag (1-64 "
		    "of A-Z a-z 0-9 . _ -)", tag);
	if (after != NULL && strlen(after) > CUST_MAX_FQDN)
		return cust_fail(CUST_E_INVAL, "'after' is not a device list "
		    "cursor");
	if ((arr = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	r = cred_device_page(ctx->st, tag, after, (size_t)limit, collect, arr);
	if (r != CUST_OK) {
		json_decref(arr);
		return r;
	}
	n = json_array_size(arr);
	next = n == (size_t)limit ? json_incref(json_object_get(
	    json_array_get(arr, n - 1), "fqdn")) : json_null();
	return ops_reply(json_pack("{s:o, s:o}", "devices", arr, "next", next),
	    resp);
}

static int
op_show(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn;
	json_t *dev, *hist;
	int r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK)
		return r;
	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK)
		return r;
	if ((r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK) {
		json_decref(dev);
		return r;
	}
	if (json_object_set_new(dev, "secrets", hist) != 0) {
		json_decref(dev);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	*resp = dev;
	return CUST_OK;
}

/* Change what the registry says about a device: its address (a string
 * sets it, null or "" clears it). */
static int
op_set(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn, *address = NULL;
	json_t *a = json_object_get(req, "address");
	int r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK)
		return r;
	if (a == NULL)
		return cust_fail(CUST_E_INVAL, "nothing to set: give 'address' "
		    "(HOST[:PORT], or null to clear it)");
	if (!json_is_null(a) && (r = ops_req_str(req, "address", 1,
	    &address)) != CUST_OK)
		return r;
	if ((r = cred_device_set(ctx->st, ctx->actor, fqdn, "address",
	    address)) != CUST_OK)
		return r;
	return cred_device_get(ctx->st, fqdn, resp);
}

/*
 * Retiring a device also revokes its certificates (cessationOfOperation)
 * and republishes the CRLs, in the same transaction: a retired device must
 * not keep a valid identity. Its AD object goes after the commit.
 */
static int
op_remove(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cust_state *st = ctx->st;
	const char *fqdn;
	size_t revoked = 0;
	json_t *reply;
	int64_t id;
	int r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK)
		return r;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = cred_device_find(st, fqdn, &id)) != CUST_OK ||
	    (r = ca_device_retire(st, ctx->actor, id, fqdn, &revoked)) !=
	    CUST_OK ||
	    (r = cred_device_remove(st, ctx->actor, fqdn)) != CUST_OK) {
		store_rollback(state_store(st));
		return r;
	}
	if ((r = store_commit(state_store(st))) != CUST_OK)
		return r;
	if ((reply = json_pack("{s:s, s:s, s:I}", "fqdn", fqdn, "state",
	    "retired", "certificates_revoked", (json_int_t)revoked)) != NULL)
		ops_account_follow(ctx, fqdn, dir_ad_device_removed, reply);
	return ops_reply(reply, resp);
}

/* The highest device id there is (staged ones too): 0 when none. */
static int
max_device_id(struct cust_state *st, int64_t *out)
{
	return ops_sql_int(st, "SELECT COALESCE(MAX(id), 0) FROM device",
	    "read the devices", out);
}

static int
op_import(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *data = json_object_get(req, "data"), *sel;
	struct cred_console_result res;
	struct ops_cred_plan *pl = NULL;
	size_t pwlen, count;
	int64_t job, last;
	int r;

	if (!json_is_string(data))
		return cust_fail(CUST_E_INVAL, "'data' (the CSV or JSON text) "
		    "is required");
	if (json_string_length(data) > CRED_IMPORT_MAX)
		return cust_fail(CUST_E_TOOBIG, "the import is %zu bytes, over "
		    "the limit of %u", json_string_length(data),
		    CRED_IMPORT_MAX);
	if ((r = pwlen_of(req, &pwlen)) != CUST_OK)
		return r;
	/* A job: its progress, and its end, are in the store (job show). */
	if ((sel = json_pack("{s:I}", "bytes", (json_int_t)
	    json_string_length(data))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* Imported devices get ids above every device there now: their
	 * console credentials are synced from there, in batches, after the
	 * import is published (a sync cut short: credential.sync). */
	if ((r = max_device_id(ctx->st, &last)) != CUST_OK ||
	    (r = ops_cred_plan_open(ctx->st, NULL, &pl)) != CUST_OK) {
		json_decref(sel);
		return r;
	}
	r = job_import(ctx->st, ctx->actor, sel, json_string_value(data),
	    json_string_length(data), pwlen, &job, &count);
	json_decref(sel);
	if (r == CUST_OK && (r = ops_cred_plan_sync(ctx, pl, last, 0, &res)) !=
	    CUST_OK)
		r = cust_fail(r, "%zu devices imported (job %lld), but their "
		    "console credentials are not all synced: %s (run "
		    "custodyctl credential sync)", count, (long long)job,
		    cust_errmsg());
	ops_cred_plan_free(pl);
	if (r != CUST_OK)
		return r;
	return ops_reply(json_pack("{s:I, s:I, s:o}", "imported",
	    (json_int_t)count, "job", (json_int_t)job, "credentials",
	    ops_cred_counts(&res)), resp);
}

const struct ops_entry ops_device_table[] = {
	{ "device.add", op_add, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "device.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ "device.show", op_show, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_DEVICE },
	{ "device.set", op_set, 0, OPS_ADMIN, OPS_RES_DEVICE },
	{ "device.push", ops_device_push, 0, OPS_ADMIN, OPS_RES_DEVICE },
	{ "device.reconcile", ops_device_reconcile, 0, OPS_ADMIN,
	    OPS_RES_NONE },
	{ "device.remove", op_remove, 0, OPS_ADMIN, OPS_RES_DEVICE },
	{ "device.import", op_import, 0, OPS_ADMIN, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
