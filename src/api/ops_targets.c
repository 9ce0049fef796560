/* SPDX-License-Identifier: MIT */
/* src/api/ops_targets.c - a job's devices by name: the ids job_start()
 * and job_take() give, turned into the FQDNs the network side works on,
 * the devices removed since the job began recorded as 'missing'. */
#include <stdio.h>
#include <string.h>

#include "amt.h"
#include "cred.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"

struct targets {
	const int64_t *ids;	/* sorted */
	int64_t *seen;		/* ids[i] once found: seen[i] = ids[i] */
	size_t n;
	json_t *fqdns;
	int err;
};

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
target_of(void *arg, json_t *dev)
{
	struct targets *t = arg;
	int64_t id = json_integer_value(json_object_get(dev, "id"));
	const int64_t *at = bsearch(&id, t->ids, t->n, sizeof(*t->ids),
	    cmp_id);

	if (at == NULL)
		return 0;
	t->seen[at - t->ids] = id;
	if (json_array_append(t->fqdns, json_object_get(dev, "fqdn")) != 0) {
		t->err = cust_fail(CUST_E_NOMEM, "out of memory");
		return 1;
	}
	return 0;
}

int
ops_job_targets(struct ops_ctx *ctx, int64_t job, const char *kind,
    const int64_t *ids, size_t n, json_t **fqdns_out, size_t *missing_out)
{
	struct targets t = { ids, NULL, n, json_array(), CUST_OK };
	size_t i;
	int r;

	*fqdns_out = NULL;
	*missing_out = 0;
	if (t.fqdns == NULL || (t.seen = calloc(n ? n : 1,
	    sizeof(*t.seen))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = cred_device_each(ctx->st, NULL, target_of, &t)) != CUST_OK ||
	    (r = t.err) != CUST_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (t.seen[i] != 0)
			continue;
		++*missing_out;
		if (job != 0 && (r = job_item_add(ctx->st, job, ids[i], kind,
		    "missing", 0, "the device is no longer registered")) !=
		    CUST_OK)
			goto out;
	}
	*fqdns_out = t.fqdns;
	t.fqdns = NULL;
	r = CUST_OK;
out:
	json_decref(t.fqdns);
	free(t.seen);
	return r;
}

int
ops_job_reply(int64_t job, size_t devices, size_t bad, size_t missing,
    json_t *items, json_t **resp)
{
	json_t *counts = json_object(), *v;
	const char *res;
	size_t i;
	int r;

	*resp = NULL;
	if (counts == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_array_foreach(items, i, v) {
		res = json_string_value(json_object_get(v, "result"));
		json_object_set_new(counts, res, json_integer(
		    json_integer_value(json_object_get(counts, res)) + 1));
	}
	if (missing > 0)
		json_object_set_new(counts, "missing",
		    json_integer((json_int_t)missing));
	r = ops_reply(json_pack("{s:I, s:I, s:I, s:O, s:O}", "job",
	    (json_int_t)job, "devices", (json_int_t)devices, "failed",
	    (json_int_t)(bad + missing), "results", counts, "items", items),
	    resp);
	json_decref(counts);
	return r;
}

int
ops_job_item_done(struct ops_ctx *ctx, struct ops_jobrun *job,
    int64_t device, const char *kind, const char *result, const char *detail)
{
	int r;

	if ((r = job_item_add(ctx->st, job->id, device, kind, result, 0,
	    detail)) != CUST_OK)
		return r;
	job->done++;
	if (ctx->progress != NULL)
		ctx->progress(ctx->progress_arg, job->done, job->total);
	return CUST_OK;
}

int
ops_conv_next(void *arg, const char *const *result, int *errp,
    int (*step)(void *, const struct amt_reply *, int, struct amt_req **),
    int (*record)(void *), const struct amt_reply *prev, int err,
    struct amt_req **req_out)
{
	int r;

	*req_out = NULL;
	if (*result != NULL || *errp != CUST_OK)
		return 0;
	r = step(arg, prev, err, req_out);
	if (r == CUST_OK && *result == NULL)
		return 0;		/* the next request */
	amt_req_free(*req_out);		/* over, or custody's error */
	*req_out = NULL;
	if (r == CUST_OK)
		r = record(arg);
	if (r != CUST_OK)
		*errp = r;
	return r == CUST_OK ? 0 : r;
}

int
ops_conv_end(void *arg, const char *fqdn, const char **result,
    char *detail, size_t dlen, int err, int (*record)(void *))
{
	if (err != CUST_OK)
		return cust_fail(err, "%s: %s", fqdn, cust_strerror(err));
	if (*result != NULL)
		return CUST_OK;
	*result = "unknown";
	snprintf(detail, dlen, "the conversation did not finish");
	return record(arg);
}
