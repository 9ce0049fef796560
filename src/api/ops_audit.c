/* SPDX-License-Identifier: MIT */
/* src/api/ops_audit.c - audit log and status operations. */
#include <stdint.h>

#include "audit.h"
#include "ca.h"
#include "cred.h"
#include "err.h"
#include "ops_int.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

static int
add_entry(void *arg, const struct audit_entry *e)
{
	char tbuf[32];
	json_t *o;

	util_fmt_time(e->time, tbuf, sizeof(tbuf));
	/* Objects and details may be refused names, stored as given: they
	 * are escaped for every reader, JSON included (and JSON strings
	 * must be UTF-8). */
	o = json_pack("{s:I, s:s, s:o, s:s, s:o, s:s, s:o*}", "seq",
	    (json_int_t)e->seq, "time", tbuf, "actor", ops_text(e->actor),
	    "action", e->action, "object", ops_text(e->object), "result",
	    e->result, "detail", e->detail ? ops_text(e->detail) : NULL);
	/* A short list must never look complete. */
	if (o == NULL || json_array_append_new(arg, o) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return 0;
}

/* One page of entries with seq > "after"; "next" is the last seq of a
 * full page (include/ops.h). */
static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	long long after = 0, limit;
	const char *object;
	json_t *arr, *next;
	size_t n;
	int r;

	if ((r = ops_req_int(req, "after", 0, 0, INT64_MAX, &after)) !=
	    CUST_OK || (r = ops_req_limit(req, &limit)) != CUST_OK ||
	    (r = ops_req_str(req, "object", 0, &object)) != CUST_OK)
		return r;
	if ((arr = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = audit_list(state_audit(ctx->st), after, limit, object,
	    add_entry, arr)) != CUST_OK) {
		json_decref(arr);
		return r;
	}
	n = json_array_size(arr);
	next = n == (size_t)limit ? json_incref(json_object_get(
	    json_array_get(arr, n - 1), "seq")) : json_null();
	return ops_reply(json_pack("{s:o, s:o}", "entries", arr, "next", next),
	    resp);
}

static int
op_verify(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	int64_t bad, n;
	int r = audit_verify(state_audit(ctx->st), &bad, &n);

	if (r != CUST_OK && r != CUST_E_VIOLATION)
		return r;
	if (r == CUST_E_VIOLATION)
		return ops_reply(json_pack("{s:b, s:I, s:I, s:s}", "intact", 0,
		    "entries", (json_int_t)n, "first_bad", (json_int_t)bad,
		    "message", cust_errmsg()), resp);
	return ops_reply(json_pack("{s:b, s:I}", "intact", 1, "entries",
	    (json_int_t)n), resp);
}

/*
 * Status is what a health check or a metrics scrape calls, often: every
 * figure is a key lookup (cred_counts(), the audit head), never a scan,
 * so it answers in microseconds at 100k devices (bench/status.c).
 */
static int
op_status(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct cust_state *st = ctx->st;
	struct cred_counts c;
	unsigned char hash[32];
	json_t *certs;
	int64_t aud = 0;
	int r;

	if ((r = cred_counts(st, &c)) != CUST_OK)
		return r;
	/* Audit sequence numbers run from 1 without gaps (audit verify
	 * checks it): the head's is the number of entries. */
	r = state_audit(st) != NULL ? audit_head(state_audit(st), &aud, hash) :
	    CUST_E_NOTFOUND;
	if (r == CUST_E_NOTFOUND)
		aud = 0;
	else if (r != CUST_OK)
		return r;
	/* Certificates expiring within 30 days and due for renewal: index
	 * ranges (ca_cert_expiry()); none before the CA exists. */
	r = ca_cert_expiry(st, 30, &certs);
	if (r == CUST_E_NOTFOUND)
		certs = NULL;
	else if (r != CUST_OK)
		return r;
	/* The seal as it is in this process, not a fixed text: "sealed"
	 * without a data key, else unsealed and by which key source. */
	return ops_reply(json_pack("{s:s, s:s, s:s*, s:I, s:I, s:I, s:I, "
	    "s:o*}",
	    "state_dir", state_dir(st), "seal",
	    state_seal(st) != NULL ? "unsealed" :
	    "sealed", "key_source", seal_source(state_seal(st)), "devices",
	    (json_int_t)c.devices, "retired_devices",
	    (json_int_t)c.retired_devices, "pending_secrets",
	    (json_int_t)c.pending_secrets, "audit_entries", (json_int_t)aud,
	    "certificates", certs), resp);
}

const struct ops_entry ops_audit_table[] = {
	{ "audit.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ "audit.verify", op_verify, 0,
	    OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};

const struct ops_entry ops_core_table[] = {
	{ "status", op_status, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
