/* SPDX-License-Identifier: MIT */
/* src/api/ops_client.c - client certificates of consoles and staff beyond
 * their first issue: console.renew, staff.add|list|revoke|renew, and
 * client.reenroll, the caller renewing its own certificate with a CSR (in
 * the spirit of EST simplereenroll, RFC 7030 4.2.2).
 *
 * A renewal records the new certificate, and the holder's other valid
 * ones wait to be revoked (superseded) until the new one is proven
 * fetched: its first use, its key's delivery, or the end of the grace
 * period (ca_holder_renew(), src/ca/ca_supersede.c). A reply lost on the
 * way leaves the client its old certificate, which may re-enrol again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "util.h"

int
ops_console_dn(struct cust_state *st, const char *name, char *buf,
    size_t len, const char **dn_out)
{
	struct policy *p = NULL;
	const char *pname;
	int r;

	*dn_out = NULL;
	if ((r = ops_policy_usable(st, &p)) != CUST_OK || p == NULL)
		return r;
	r = ops_policy_console(p, name, &pname, dn_out, buf, len);
	if (r == CUST_E_NOTFOUND) {
		/* No identity from a policy: CN=NAME, which a policy can
		 * map later (a console with no certificate identity). */
		cust_clearerr();
		*dn_out = NULL;
		r = CUST_OK;
	}
	policy_free(p);
	return r;
}

/* console.renew and staff.renew: a new key (key_type) or the key of the
 * request's CSR. */
static int
renew(struct ops_ctx *ctx, json_t *req, json_t **resp, int staff)
{
	char buf[OPS_DN_MAX], obj[96];
	const char *name, *kt, *dn = NULL;
	const char *action = staff ? "staff.renew" : "console.renew";
	const void *csr;
	unsigned char *owned = NULL;
	unsigned flags;
	size_t len;
	int r, deliver = 0;

	ops_crl_tick(ctx);
	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK ||
	    (r = ops_req_str(req, "key_type", 0, &kt)) != CUST_OK ||
	    (r = ops_req_bool(req, "deliver", &deliver)) != CUST_OK)
		return r;
	flags = deliver ? CA_DELIVER : 0;
	snprintf(obj, sizeof(obj), "%s:%.64s", staff ? "staff" : "console",
	    name);
	if ((r = ops_req_csr(ctx, action, obj, req, 0, &csr, &len, &owned)) !=
	    CUST_OK)
		return r;
	if (staff)
		r = ca_staff_renew(ctx->st, ctx->actor, name, kt, csr, len,
		    flags, resp);
	else if ((r = ops_console_dn(ctx->st, name, buf, sizeof(buf), &dn)) ==
	    CUST_OK)
		r = ca_console_renew(ctx->st, ctx->actor, name, dn, kt, csr,
		    len, flags, resp);
	free(owned);
	return r;
}

static int
op_console_renew(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	return renew(ctx, req, resp, 0);
}

static int
op_staff_renew(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	return renew(ctx, req, resp, 1);
}

static int
op_staff_add(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *name, *role, *kt;
	int r, deliver = 0;

	ops_crl_tick(ctx);
	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK ||
	    (r = ops_req_str(req, "role", 1, &role)) != CUST_OK ||
	    (r = ops_req_str(req, "key_type", 0, &kt)) != CUST_OK ||
	    (r = ops_req_bool(req, "deliver", &deliver)) != CUST_OK)
		return r;
	return ca_staff_add(ctx->st, ctx->actor, name, role, kt,
	    deliver ? CA_DELIVER : 0, resp);
}

static int
op_staff_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	long long after = 0, limit;
	int r;

	if ((r = ops_req_int(req, "after", 0, -1, INT64_MAX, &after)) !=
	    CUST_OK || (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	return ca_staff_list(ctx->st, after, limit, resp);
}

static int
op_staff_revoke(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *name, *reason;
	int r;

	ops_crl_tick(ctx);
	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK ||
	    (r = ops_req_str(req, "reason", 0, &reason)) != CUST_OK)
		return r;
	return ca_staff_revoke(ctx->st, ctx->actor, name, reason, resp);
}

/*
 * The caller renews its own certificate: a console (its policy name, as
 * its certificates are held in lower case) or a staff member. The service
 * maps only valid certificates to identities; the operation checks again
 * that the holder still has a valid, unexpired one (a revoked or expired
 * client cannot re-enrol, whoever built the identity), and takes a CSR
 * only: custody does not make keys for a client that has one.
 */
static int
op_reenroll(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	enum ops_kind kind = ops_identity_kind(ctx->who);
	char holder[128], buf[OPS_DN_MAX], obj[160];
	const char *dn, *ckind = kind == OPS_ID_CONSOLE ? "console" : "admin";
	const void *csr;
	unsigned char *owned = NULL;
	int64_t valid = 0;
	size_t len;
	int r;

	if (kind != OPS_ID_CONSOLE && kind != OPS_ID_ADMIN &&
	    kind != OPS_ID_AUDITOR)
		return cust_fail(CUST_E_INVAL, "client.reenroll renews the "
		    "caller's own client certificate: %s has none",
		    ops_identity_actor(ctx->who));
	if (ops_identity_enterprise(ctx->who))
		return cust_fail(CUST_E_DENIED, "%s presented a certificate of "
		    "the enterprise CA: renew it there (client.reenroll renews "
		    "custody's certificates)", ops_identity_actor(ctx->who));
	snprintf(holder, sizeof(holder), "%s", ops_identity_name(ctx->who));
	util_lower(holder);
	snprintf(obj, sizeof(obj), "%s:%s", kind == OPS_ID_CONSOLE ? "console" :
	    "staff", holder);
	if ((r = ops_req_csr(ctx, "client.reenroll", obj, req, 1, &csr, &len,
	    &owned)) != CUST_OK)
		return r;
	/* The request first (a bad CSR is a bad request, whoever sends
	 * it), then the caller's standing. */
	if ((r = ca_csr_check(csr, len, NULL, NULL)) != CUST_OK ||
	    (r = ca_client_valid(ctx->st, ckind, holder, &valid)) != CUST_OK)
		goto out;
	if (valid == 0) {
		r = cust_fail(CUST_E_DENIED, "%s holds no valid certificate: a "
		    "revoked or expired client cannot re-enrol",
		    ops_identity_actor(ctx->who));
		goto out;
	}
	ops_crl_tick(ctx);
	if (kind == OPS_ID_CONSOLE) {
		if ((r = ops_console_dn(ctx->st, holder, buf, sizeof(buf),
		    &dn)) == CUST_OK)
			r = ca_console_renew(ctx->st, ctx->actor, holder, dn,
			    NULL, csr, len, 0, resp);
	} else {
		r = ca_staff_renew(ctx->st, ctx->actor, holder, NULL, csr, len,
		    0, resp);
	}
out:
	free(owned);
	return r;
}

const struct ops_entry ops_client_table[] = {
	{ "console.renew", op_console_renew, OPS_IDENTITY, OPS_ADMIN, OPS_RES_CONSOLE },
	{ "staff.add", op_staff_add, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "staff.list", op_staff_list, 0, OPS_ADMIN | OPS_AUDITOR,
	    OPS_RES_NONE },
	{ "staff.revoke", op_staff_revoke, OPS_IDENTITY, OPS_ADMIN, OPS_RES_NONE },
	{ "staff.renew", op_staff_renew, OPS_IDENTITY, OPS_ADMIN, OPS_RES_NONE },
	/* Every client with a certificate, for itself only. */
	{ "client.reenroll", op_reenroll, OPS_IDENTITY,
	    OPS_ADMIN | OPS_AUDITOR | OPS_CONSOLE, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
