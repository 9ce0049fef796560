/* SPDX-License-Identifier: MIT */
/* src/api/ops_job.c - jobs: list and show (include/job.h), and the rest of
 * a job a service's runner took over (ops_job_continue()). A rotation job
 * is started by password.rotate and resumed by job.resume
 * (ops_password.c); a push job by device.push (ops_push.c). */
#include <string.h>

#include "err.h"
#include "job.h"
#include "ops_int.h"

/* The cursor of a full page: the member key of its last element; null
 * after the last page (include/ops.h). */
static json_t *
next_of(json_t *arr, long long limit, const char *key)
{
	size_t n = json_array_size(arr);

	return n == (size_t)limit ? json_incref(json_object_get(
	    json_array_get(arr, n - 1), key)) : json_null();
}

/* One page of jobs, newest first: those older than "after" (a job id). */
static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	long long after = 0, limit;
	json_t *arr;
	int r;

	if ((r = ops_req_int(req, "after", 0, 1, INT64_MAX, &after)) !=
	    CUST_OK || (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	if ((r = job_list(ctx->st, after, (size_t)limit, &arr)) != CUST_OK)
		return r;
	return ops_reply(json_pack("{s:o, s:o}", "jobs", arr, "next",
	    next_of(arr, limit, "id")), resp);
}

/* The job "id" ({"job": {...}}) with one page of its per-device results
 * ("items": those after "after", an item's seq). */
static int
op_show(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	long long id = 0, after = 0, limit;
	json_t *job, *items;
	int r;

	if ((r = ops_req_int(req, "id", 1, 1, INT64_MAX, &id)) != CUST_OK ||
	    (r = ops_req_int(req, "after", 0, 0, INT64_MAX, &after)) !=
	    CUST_OK || (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	if ((r = job_show(ctx->st, id, after, (size_t)limit, &job)) !=
	    CUST_OK)
		return r;
	items = json_incref(json_object_get(job, "items"));
	json_object_del(job, "items");
	return ops_reply(json_pack("{s:o, s:o, s:o}", "job", job, "items",
	    items, "next", next_of(items, limit, "seq")), resp);
}

int
ops_job_continue(struct ops_ctx *ctx, const char *op, json_t *req,
    json_t *start, long long id, json_t **resp_out)
{
	json_t *pr = NULL, *resp;
	int items = json_is_true(json_object_get(req, "items")), r;

	*resp_out = NULL;
	/* As ops_call() does: the actor of the audit entries. */
	ctx->actor = ops_identity_actor(ctx->who);
	/* A rotation's push (password.rotate, or job.resume of a rotation
	 * that pushes) names its devices in the reply when the operation
	 * would (push_rotated() in ops_password.c). */
	if (json_object_get(start, "push_job") != NULL &&
	    strcmp(op, "password.rotate") == 0)
		items = items || json_object_get(req, "fqdns") != NULL;
	if ((r = ops_push_job_continue(ctx, id, items, &pr)) != CUST_OK)
		return r;
	if (json_object_get(start, "push_job") == NULL) {
		*resp_out = pr;
		return CUST_OK;
	}
	/* The rotation's reply, with its push's results. */
	if ((resp = json_copy(start)) == NULL) {
		json_decref(pr);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	json_object_del(resp, "push_state");
	if ((r = ops_push_into(resp, pr, items)) != CUST_OK)
		json_decref(resp);
	else
		*resp_out = resp;
	json_decref(pr);
	return r;
}

/* Jobs name devices and actors, as the audit log does: staff only. */
const struct ops_entry ops_job_table[] = {
	{ "job.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ "job.show", op_show, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
