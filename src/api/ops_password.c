/* SPDX-License-Identifier: MIT */
/* src/api/ops_password.c - password custody operations. */
#include <string.h>

#include "cred.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"
#include "seal.h"
#include "state.h"
#include "util.h"

/* The "kind" member: admin (default) or mebx; with consoles, also
 * console:NAME (a console's credential: confirmed like the others, but
 * read only through credential.show, which checks the plan). */
static int
kind_of(json_t *req, int consoles, const char **kind)
{
	char buf[CRED_KIND_MAX];
	int r = ops_req_str(req, "kind", 0, kind);

	if (r == CUST_OK && *kind == NULL)
		*kind = CRED_KIND_ADMIN;
	if (r != CUST_OK || strcmp(*kind, CRED_KIND_ADMIN) == 0 ||
	    strcmp(*kind, CRED_KIND_MEBX) == 0)
		return r;
	if (consoles && strncmp(*kind, CRED_KIND_CONSOLE,
	    strlen(CRED_KIND_CONSOLE)) == 0)
		return cred_console_kind(*kind + strlen(CRED_KIND_CONSOLE), buf,
		    sizeof(buf));
	return cust_fail(CUST_E_INVAL, "unknown kind '%s' (admin or mebx%s)",
	    util_needs_escape(*kind) ? "?" : *kind, consoles ?
	    ", or console:NAME" : "");
}

static int
op_show(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct seal_secret *pw = NULL;
	const char *fqdn, *kind, *state;
	long long version = CRED_VER_CURRENT;
	int64_t ver;
	int pending, r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = kind_of(req, 0, &kind)) != CUST_OK ||
	    (r = ops_req_int(req, "version", 0, 1, INT64_MAX, &version)) !=
	    CUST_OK || (r = ops_req_bool(req, "pending", &pending)) != CUST_OK)
		return r;
	if (pending && version != CRED_VER_CURRENT)
		return cust_fail(CUST_E_INVAL, "give --version or --pending, "
		    "not both");
	if (pending)
		version = CRED_VER_PENDING;
	if ((r = cred_secret_get(ctx->st, ctx->actor, fqdn, kind, version,
	    &pw, &ver, &state)) != CUST_OK)
		return r;
	r = ops_reply(json_pack("{s:s, s:s, s:I, s:s, s:s%}", "fqdn", fqdn,
	    "kind", kind, "version", (json_int_t)ver, "state", state,
	    "password", seal_secret_str(pw), seal_secret_len(pw)), resp);
	seal_secret_free(pw);
	return r;
}

static int
op_history(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn;
	json_t *h;
	int r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK)
		return r;
	if ((r = cred_secret_history(ctx->st, fqdn, &h)) != CUST_OK)
		return r;
	return ops_reply(json_pack("{s:s, s:o}", "fqdn", fqdn, "versions", h),
	    resp);
}

/*
 * Bulk rotation answers with counts; per-device items only when asked
 * (a 100k-device rotation would otherwise build a 100k-element reply).
 * Refusals are not an error of the call: the reply says how many.
 */
/* The reply of a rotation (r from job_rotate() or job_resume()): counts,
 * the job, items when asked. Refusals are a result (the message says how
 * many); any other error is returned. res->items is consumed. */
static int
rotate_reply(int r, size_t n, int64_t job, struct cred_rotate_result *res,
    json_t **resp)
{
	if (r != CUST_OK && r != CUST_E_CONFLICT) {
		json_decref(res->items);
		return r;
	}
	/* The rotation is committed: a reply that cannot be built is an
	 * error all the same, never a silent OK with nothing. */
	return ops_reply(json_pack("{s:I, s:I, s:I, s:I, s:I, s:o*, s:s*}",
	    "job", (json_int_t)job, "selected", (json_int_t)n, "rotated",
	    (json_int_t)res->rotated, "refused", (json_int_t)res->refused,
	    "missing", (json_int_t)res->missing, "items", res->items,
	    "message", r == CUST_E_CONFLICT ? cust_errmsg() : NULL), resp);
}

int
ops_select(struct ops_ctx *ctx, json_t *req, int64_t **ids_out,
    size_t *n_out, json_t **sel_out)
{
	const char **fqdns = NULL, *tag;
	size_t nf = 0;
	int all, r;

	*ids_out = NULL;
	*n_out = 0;
	*sel_out = NULL;
	if ((r = ops_req_strings(req, "fqdns", &fqdns, &nf)) != CUST_OK)
		return r;
	if ((r = ops_req_str(req, "tag", 0, &tag)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK)
		goto out;
	/* A tag that cannot exist is a usage error, not "no such tag". */
	if (tag != NULL && util_valid_tag(tag) != CUST_OK) {
		r = cust_fail(CUST_E_INVAL, "'%s' is not a valid tag (1-64 of "
		    "A-Z a-z 0-9 . _ -)", tag);
		goto out;
	}
	if ((nf > 0) + (tag != NULL) + (all != 0) != 1) {
		r = cust_fail(CUST_E_INVAL, "select devices with FQDNs, a tag "
		    "or all (exactly one)");
		goto out;
	}
	if ((r = cred_select(ctx->st, fqdns, nf, tag, all, ids_out, n_out)) !=
	    CUST_OK)
		goto out;
	if (tag != NULL && *n_out == 0) { /* a typo must not look like success */
		r = cust_fail(CUST_E_NOTFOUND, "no device has tag '%s'", tag);
		goto out;
	}
	if ((*sel_out = nf > 0 ? json_pack("{s:O}", "fqdns",
	    json_object_get(req, "fqdns")) : tag != NULL ? json_pack("{s:s}",
	    "tag", tag) : json_pack("{s:b}", "all", 1)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
out:
	if (r != CUST_OK) {
		free(*ids_out);
		*ids_out = NULL;
		*n_out = 0;
	}
	free(fqdns);
	return r;
}

/*
 * password rotate --kind mebx --push FQDN...: each named device's new
 * pending MEBx password is pushed to it over TLS (ops_push_mebx()), one
 * device at a time and not as a job; the outcomes go in the reply's
 * "pushes", and "pushed" counts those now current. A device that is not
 * TLS-provisioned is its item (refused), never the call's failure.
 */
static int
push_mebx_rotated(struct ops_ctx *ctx, json_t *fqdns, json_t *resp)
{
	json_t *pushes, *it, *f;
	size_t i, ok = 0;
	int r;

	if ((pushes = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_array_foreach(fqdns, i, f) {
		const char *fqdn = json_string_value(f);

		if ((r = ops_push_mebx(ctx, fqdn, &it)) == CUST_E_CONFLICT)
			it = json_pack("{s:s, s:s, s:n, s:s, s:s}", "fqdn", fqdn,
			    "kind", CRED_KIND_MEBX, "version", "result",
			    "refused", "detail", cust_errmsg());
		else if (r != CUST_OK) {
			json_decref(pushes);
			return r;
		}
		if (it == NULL || json_array_append_new(pushes, it)) {
			json_decref(pushes);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		ok += ops_push_ok(it) != 0;
	}
	if (json_object_set_new(resp, "pushed", json_integer((json_int_t)ok))
	    != 0 || json_object_set_new(resp, "pushes", pushes) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/*
 * password rotate --push (admin): the new pending admin passwords are
 * pushed to them as a job of its own (ops_push_job()), many devices at
 * once; the reply gets "push_job", "pushed" (now current), "push_results"
 * and, with items or named devices, "pushes" (per device). A device's
 * failure is its item, never the call's.
 */
int
ops_push_into(json_t *resp, json_t *pr, int items)
{
	json_t *state = json_object_get(pr, "state");

	/* A service's job runner pushes ("state": "running"): the job. */
	if (json_object_set(resp, "push_job", json_object_get(pr, "job")) !=
	    0 || (state != NULL ? json_object_set(resp, "push_state", state) !=
	    0 : (json_object_set(resp, "pushed", json_object_get(pr,
	    "pushed")) != 0 || json_object_set(resp, "push_results",
	    json_object_get(pr, "results")) != 0 || (items &&
	    json_object_set(resp, "pushes", json_object_get(pr, "items")) !=
	    0))))
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

static int
push_rotated(struct ops_ctx *ctx, json_t *sel, const int64_t *ids, size_t n,
    const char *kind, int items, json_t *resp)
{
	json_t *pr = NULL;
	int r;

	if (strcmp(kind, CRED_KIND_MEBX) == 0)
		return push_mebx_rotated(ctx, json_object_get(sel, "fqdns"),
		    resp);
	if ((r = ops_push_job(ctx, sel, ids, n, 0, items, &pr)) != CUST_OK)
		return r;
	r = ops_push_into(resp, pr, items);
	json_decref(pr);
	return r;
}

/* A rotation job resumed (id) whose params say push (password rotate
 * --push): every device it rotated is pushed, those rotated before it
 * stopped too (their push never ran), as push_rotated() does. */
static int
push_resumed(struct ops_ctx *ctx, int64_t id, int items, json_t *resp)
{
	json_t *job = NULL, *sel = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	int r;

	if ((r = job_show(ctx->st, id, 0, 1, &job)) != CUST_OK)
		return r;
	if (!json_is_true(json_object_get(json_object_get(job, "params"),
	    "push")))
		goto out;
	if ((r = job_item_ids(ctx->st, id, "ok", &ids, &n)) != CUST_OK)
		goto out;
	if ((sel = json_pack("{s:I}", "rotation_job", (json_int_t)id)) ==
	    NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = push_rotated(ctx, sel, ids, n, CRED_KIND_ADMIN, items, resp);
out:
	json_decref(job);
	json_decref(sel);
	free(ids);
	return r;
}

static int
op_rotate(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cred_rotate_result res;
	struct job_rotate_spec spec;
	json_t *sel = NULL;
	int64_t job = 0;
	const char *kind;
	long long len = CRED_PW_DEFAULT;
	int64_t *ids = NULL;
	size_t n = 0;
	int replace, items, push, r;

	if ((r = ops_req_bool(req, "push", &push)) != CUST_OK ||
	    (r = ops_req_str(req, "kind", 0, &kind)) != CUST_OK ||
	    (r = ops_req_bool(req, "replace_pending", &replace)) != CUST_OK ||
	    (r = ops_req_bool(req, "items", &items)) != CUST_OK ||
	    (r = ops_req_int(req, "length", 0, CRED_PW_MIN, CRED_PW_MAX, &len))
	    != CUST_OK)
		return r;
	if ((r = ops_select(ctx, req, &ids, &n, &sel)) != CUST_OK)
		return r;
	/* A job: its per-device results outlive this process, and a
	 * rotation killed mid-way can be resumed (job.resume). */
	spec.kind = kind ? kind : "admin";
	spec.pwlen = (size_t)len;
	spec.replace_pending = replace;
	spec.push = push && strcmp(spec.kind, CRED_KIND_ADMIN) == 0;
	if (push && strcmp(spec.kind, CRED_KIND_ADMIN) != 0 &&
	    (strcmp(spec.kind, CRED_KIND_MEBX) != 0 ||
	    json_object_get(sel, "fqdns") == NULL)) {
		r = cust_fail(CUST_E_INVAL, "push takes the admin password (any "
		    "selector) or the MEBx password (FQDNs)");
		goto out;
	}
	r = job_rotate(ctx->st, ctx->actor, sel, ids, n, &spec, items,
	    ctx->progress, ctx->progress_arg, &job, &res);
	r = rotate_reply(r, n, job, &res, resp);
	if (r == CUST_OK && push && (r = push_rotated(ctx, sel, ids, n,
	    spec.kind, items || json_object_get(req, "fqdns") != NULL, *resp))
	    != CUST_OK) {
		json_decref(*resp);
		*resp = NULL;
	}
out:
	json_decref(sel);
	free(ids);
	return r;
}

/* Resume a rotation job that was interrupted or failed: the devices it has
 * not done yet, with its own parameters. */
static int
op_resume(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cred_rotate_result res;
	long long id = 0;
	size_t left = 0;
	int items, r;

	char kind[32];

	if ((r = ops_req_int(req, "id", 1, 1, INT64_MAX, &id)) != CUST_OK ||
	    (r = ops_req_bool(req, "items", &items)) != CUST_OK ||
	    (r = job_kind_of(ctx->st, id, kind, sizeof(kind))) != CUST_OK)
		return r;
	if (strcmp(kind, JOB_KIND_PUSH) == 0)	/* the rest of a push */
		return ops_push_job(ctx, NULL, NULL, 0, id, items, resp);
	if (strcmp(kind, JOB_KIND_APPLY) == 0)	/* the rest of an apply */
		return ops_apply_job(ctx, id, resp);
	if (strcmp(kind, JOB_KIND_PROVISION) == 0)
		return ops_provision_job(ctx, id, resp);
	if (strcmp(kind, JOB_KIND_KERBEROS) == 0)
		return ops_kerberos_job(ctx, id, resp);
	r = job_resume(ctx->st, ctx->actor, id, items, ctx->progress,
	    ctx->progress_arg, &left, &res);
	if (r == CUST_E_CONFLICT && left == 0)
		return r;	/* not resumable */
	if ((r = rotate_reply(r, left, id, &res, resp)) == CUST_OK &&
	    (r = push_resumed(ctx, id, items, *resp)) != CUST_OK) {
		json_decref(*resp);
		*resp = NULL;
	}
	return r;
}

static int
op_confirm(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn, *kind;
	long long version = 0;
	int r;

	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = kind_of(req, 1, &kind)) != CUST_OK ||
	    (r = ops_req_int(req, "version", 1, 1, INT64_MAX, &version)) !=
	    CUST_OK)
		return r;
	if ((r = cred_confirm(ctx->st, ctx->actor, fqdn, kind, version)) !=
	    CUST_OK)
		return r;
	return ops_reply(json_pack("{s:s, s:s, s:I, s:s}", "fqdn", fqdn,
	    "kind", kind, "version", (json_int_t)version, "state", "current"),
	    resp);
}

static int
op_verify(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	int64_t job;
	int r = job_verify(ctx->st, ctx->actor, &job, resp);

	/* Problems found are a result, not a failure of the call. */
	if (r == CUST_E_VIOLATION)
		r = CUST_OK;
	if (r == CUST_OK && json_object_set_new(*resp, "job",
	    json_integer(job)) != 0) {
		json_decref(*resp);
		*resp = NULL;
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	return r;
}

const struct ops_entry ops_password_table[] = {
	{ "password.show", op_show, 0, OPS_ADMIN | OPS_OWNER, OPS_RES_DEVICE },
	{ "password.history", op_history, 0,
	    OPS_ADMIN | OPS_AUDITOR | OPS_OWNER, OPS_RES_DEVICE },
	{ "password.rotate", op_rotate, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "password.confirm", op_confirm, 0,
	    OPS_ADMIN | OPS_OWNER, OPS_RES_DEVICE },
	/* A rotation job's rest: admin only, as password.rotate. */
	{ "job.resume", op_resume, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "password.verify", op_verify, 0, OPS_ADMIN, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
