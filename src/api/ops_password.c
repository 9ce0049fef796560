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

/*
 * password rotate --push: each named device's new pending admin password
 * is pushed to it (ops_push.c), many devices at once; the outcomes go in
 * the reply's "pushes", and "pushed" counts those now current. A
 * device's failure is its item, never the call's.
 */
static int
push_rotated(struct ops_ctx *ctx, const char **fqdns, size_t nf,
    const char *kind, json_t *resp)
{
	json_t *pushes = NULL, *it;
	size_t i, ok = 0;
	int r;

	if (strcmp(kind, CRED_KIND_MEBX) == 0) {
		/* One device at a time: each over its own TLS connection. */
		if ((pushes = json_array()) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		for (i = 0; i < nf; i++) {
			if ((r = ops_push_mebx(ctx, fqdns[i], &it)) ==
			    CUST_E_CONFLICT)	/* not TLS: its item */
				it = json_pack("{s:s, s:s, s:n, s:s, s:s}",
				    "fqdn", fqdns[i], "kind", kind, "version",
				    "result", "refused", "detail",
				    cust_errmsg());
			else if (r != CUST_OK) {
				json_decref(pushes);
				return r;
			}
			if (it == NULL || json_array_append_new(pushes, it)) {
				json_decref(pushes);
				return cust_fail(CUST_E_NOMEM, "out of memory");
			}
		}
	} else if ((r = ops_push_admin_many(ctx, fqdns, nf, 0, &pushes)) !=
	    CUST_OK)
		return r;
	json_array_foreach(pushes, i, it)
		ok += ops_push_ok(it) != 0;
	if (json_object_set_new(resp, "pushed", json_integer((json_int_t)ok))
	    != 0 || json_object_set_new(resp, "pushes", pushes) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

static int
op_rotate(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cred_rotate_result res;
	struct job_rotate_spec spec;
	json_t *sel = NULL;
	int64_t job = 0;
	const char **fqdns = NULL, *tag, *kind;
	long long len = CRED_PW_DEFAULT;
	int64_t *ids = NULL;
	size_t nf = 0, n = 0;
	int all, replace, items, push, r;

	if ((r = ops_req_strings(req, "fqdns", &fqdns, &nf)) != CUST_OK)
		return r;
	if ((r = ops_req_bool(req, "push", &push)) != CUST_OK ||
	    (r = ops_req_str(req, "tag", 0, &tag)) != CUST_OK ||
	    (r = ops_req_str(req, "kind", 0, &kind)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK ||
	    (r = ops_req_bool(req, "replace_pending", &replace)) != CUST_OK ||
	    (r = ops_req_bool(req, "items", &items)) != CUST_OK ||
	    (r = ops_req_int(req, "length", 0, CRED_PW_MIN, CRED_PW_MAX, &len))
	    != CUST_OK)
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
	if ((r = cred_select(ctx->st, fqdns, nf, tag, all, &ids, &n)) !=
	    CUST_OK)
		goto out;
	if (tag != NULL && n == 0) {	/* a typo must not look like success */
		r = cust_fail(CUST_E_NOTFOUND, "no device has tag '%s'", tag);
		goto out;
	}
	/* A job: its per-device results outlive this process, and a
	 * rotation killed mid-way can be resumed (job.resume). */
	spec.kind = kind ? kind : "admin";
	spec.pwlen = (size_t)len;
	spec.replace_pending = replace;
	if ((sel = nf > 0 ? json_pack("{s:O}", "fqdns", json_object_get(req,
	    "fqdns")) : tag != NULL ? json_pack("{s:s}", "tag", tag) :
	    json_pack("{s:b}", "all", 1)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (push && (nf == 0 || (strcmp(spec.kind, CRED_KIND_ADMIN) != 0 &&
	    strcmp(spec.kind, CRED_KIND_MEBX) != 0))) {
		r = cust_fail(CUST_E_INVAL, "push takes FQDNs and the admin or "
		    "the MEBx password");
		goto out;
	}
	r = job_rotate(ctx->st, ctx->actor, sel, ids, n, &spec, items,
	    ctx->progress, ctx->progress_arg, &job, &res);
	r = rotate_reply(r, n, job, &res, resp);
	if (r == CUST_OK && push &&
	    (r = push_rotated(ctx, fqdns, nf, spec.kind, *resp)) != CUST_OK) {
		json_decref(*resp);
		*resp = NULL;
	}
out:
	json_decref(sel);
	free(fqdns);
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

	if ((r = ops_req_int(req, "id", 1, 1, INT64_MAX, &id)) != CUST_OK ||
	    (r = ops_req_bool(req, "items", &items)) != CUST_OK)
		return r;
	r = job_resume(ctx->st, ctx->actor, id, items, ctx->progress,
	    ctx->progress_arg, &left, &res);
	if (r == CUST_E_CONFLICT && left == 0)
		return r;	/* not resumable */
	return rotate_reply(r, left, id, &res, resp);
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
