/* SPDX-License-Identifier: MIT */
/* src/api/ops_ca.c - certificate, CA and console operations (JSON in/out
 * over include/ca.h).
 *
 * A CSR travels as "csr" (PEM text) or "csr_der" (base64 of DER). The size
 * bound (CA_CSR_MAX) is enforced by the CA module, so an oversized request
 * is passed through (base64 is decoded up to one byte over the bound) and
 * refused and audited like any other bad CSR; base64 that does not decode
 * is refused here, and audited too.
 *
 * Every CA operation that writes first makes again the CRLs that are
 * close to their nextUpdate (ca_crl_refresh(): one small read when none
 * is). A read (cert list/show, ca show/bundle/crl, console list) never
 * does: it would turn a read into a signing write, and two readers into
 * two CRLs. `ca crl --refresh` (request "refresh": true) asks for it.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ca.h"
#include "directory.h"
#include "err.h"
#include "ops_int.h"
#include "state.h"

/*
 * Before a CA operation that writes: CRLs due for their nextUpdate are made again. A
 * failure here is not the operation's (a read-only store can still be
 * listed); what needs a fresh CRL (ca crl) makes it itself and fails then.
 */
static void
crl_tick(struct ops_ctx *ctx)
{
	size_t made = 0;

	if (ca_crl_refresh(ctx->st, ctx->actor, &made) != CUST_OK)
		cust_clearerr();
}

/* The CSR of a request: borrowed PEM text or a new decoded DER buffer in
 * *owned (free()). Absent and not required: *buf NULL. A "csr_der" that is
 * not base64 is refused and audited as action on fqdn. */
static int
req_csr(struct ops_ctx *ctx, const char *action, const char *fqdn,
    json_t *req, int required, const void **buf, size_t *len,
    unsigned char **owned)
{
	const char *pem = NULL, *b64 = NULL;
	size_t n = 0;
	unsigned char *der = NULL;
	char msg[128], obj[256];
	int r;

	*buf = NULL;
	*len = 0;
	*owned = NULL;
	if ((r = ops_req_str(req, "csr", 0, &pem)) != CUST_OK ||
	    (r = ops_req_str(req, "csr_der", 0, &b64)) != CUST_OK)
		return r;
	if (pem != NULL && b64 != NULL)
		return cust_fail(CUST_E_INVAL, "give 'csr' or 'csr_der', not "
		    "both");
	if (pem != NULL) {
		*buf = pem;
		*len = json_string_length(json_object_get(req, "csr"));
		return CUST_OK;
	}
	if (b64 == NULL)
		return required ? cust_fail(CUST_E_INVAL, "'csr' (PEM) or "
		    "'csr_der' (base64) is required") : CUST_OK;
	r = ca_b64_decode(b64, CA_CSR_MAX + 1, &der, &n);
	if (r == CUST_E_TOOBIG) {
		/* More than the bound: the CA refuses it by its length. */
		if ((der = calloc(1, CA_CSR_MAX + 1)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		n = CA_CSR_MAX + 1;
	} else if (r == CUST_E_PARSE) {
		/* Audited under the device, as the CA audits its refusals. */
		snprintf(obj, sizeof(obj), "%.253s", fqdn);
		snprintf(msg, sizeof(msg), "'csr_der' is not base64: the CSR "
		    "is not readable");
		/* No transaction is open here: the note is its own. */
		(void)audit_note(state_audit(ctx->st), ctx->actor, action, obj,
		    "refused", msg);
		return cust_fail(r, "%s", msg);
	} else if (r != CUST_OK)
		return r;
	*buf = der;
	*len = n;
	*owned = der;
	return CUST_OK;
}

static int
op_sign(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn;
	const void *csr;
	unsigned char *owned = NULL;
	long long days = 0;
	size_t len;
	int r;

	crl_tick(ctx);
	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = ops_req_int(req, "days", 0, 0, 3650, &days)) != CUST_OK ||
	    (r = req_csr(ctx, "cert.sign", fqdn, req, 1, &csr, &len, &owned))
	    != CUST_OK)
		return r;
	r = ca_sign_csr(ctx->st, ctx->actor, fqdn, csr, len, (int)days, resp);
	free(owned);
	return r;
}

static int
op_issue(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn, *kt;
	long long days = 0;
	int r, deliver = 0;

	crl_tick(ctx);
	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = ops_req_str(req, "key_type", 0, &kt)) != CUST_OK ||
	    (r = ops_req_int(req, "days", 0, 0, 3650, &days)) != CUST_OK ||
	    (r = ops_req_bool(req, "deliver", &deliver)) != CUST_OK)
		return r;
	return ca_issue(ctx->st, ctx->actor, fqdn, kt, (int)days,
	    deliver ? CA_DELIVER : 0, resp);
}

static int
op_renew(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *fqdn;
	const void *csr;
	unsigned char *owned = NULL;
	size_t len;
	int r, force = 0, supersede = 0;

	crl_tick(ctx);
	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = ops_req_bool(req, "force", &force)) != CUST_OK ||
	    (r = ops_req_bool(req, "supersede", &supersede)) != CUST_OK ||
	    (r = req_csr(ctx, "cert.renew", fqdn, req, 0, &csr, &len,
	    &owned)) != CUST_OK)
		return r;
	r = ca_renew(ctx->st, ctx->actor, fqdn, csr, len, force, supersede,
	    resp);
	free(owned);
	return r;
}

static int
op_revoke(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *serial, *reason;
	int r;

	crl_tick(ctx);
	if ((r = ops_req_str(req, "serial", 1, &serial)) != CUST_OK ||
	    (r = ops_req_str(req, "reason", 0, &reason)) != CUST_OK)
		return r;
	return ca_revoke(ctx->st, ctx->actor, serial, reason, resp);
}

static int
op_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct ca_list_filter f;
	long long exp = -1, after = 0, limit = 0;
	int r;

	memset(&f, 0, sizeof(f));
	if ((r = ops_req_int(req, "expiring", 0, 0, 36500, &exp)) != CUST_OK ||
	    (r = ops_req_int(req, "after", 0, 0, INT64_MAX, &after)) !=
	    CUST_OK ||
	    (r = ops_req_int(req, "limit", 0, 1, 100000, &limit)) != CUST_OK ||
	    (r = ops_req_str(req, "device", 0, &f.device)) != CUST_OK ||
	    (r = ops_req_str(req, "kind", 0, &f.kind)) != CUST_OK)
		return r;
	f.expiring_days = exp;
	f.after_id = after;
	f.limit = limit;
	return ca_cert_list(ctx->st, &f, resp);
}

static int
op_show(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *serial;
	int r;

	if ((r = ops_req_str(req, "serial", 1, &serial)) != CUST_OK)
		return r;
	return ca_cert_show(ctx->st, serial, resp);
}

static int
op_ca_show(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	return ca_show(ctx->st, resp);
}

static int
op_bundle(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	return ca_bundle(ctx->st, resp);
}

static int
op_crl(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	long long gen = 0;
	size_t made = 0;
	int r, root = 0, all = 0, refresh = 0;

	if ((r = ops_req_int(req, "generation", 0, 1, INT64_MAX, &gen)) !=
	    CUST_OK || (r = ops_req_bool(req, "root", &root)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK ||
	    (r = ops_req_bool(req, "refresh", &refresh)) != CUST_OK)
		return r;
	/* Reading a CRL is for anyone; making one (a signature, a write)
	 * only for the local operator or a staff admin. */
	if (refresh && ops_identity_kind(ctx->who) != OPS_ID_LOCAL &&
	    ops_identity_kind(ctx->who) != OPS_ID_ADMIN) {
		r = cust_fail(CUST_E_DENIED, "refreshing CRLs is for an admin");
		ops_audit_denied(ctx, ops_find("ca.crl"), req);
		return r;
	}
	/* Asked for: a failure to make a due CRL is this request's. */
	if (refresh && (r = ca_crl_refresh(ctx->st, ctx->actor, &made)) !=
	    CUST_OK)
		return r;
	if (all)
		return ca_crl_all(ctx->st, ctx->actor, resp);
	return ca_crl(ctx->st, ctx->actor, gen, root, resp);
}

static int
op_rotate(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *opts = json_object_get(req, "options");

	if (opts != NULL && !json_is_object(opts))
		return cust_fail(CUST_E_INVAL, "'options' must be an object");
	crl_tick(ctx);
	return ca_rotate(ctx->st, ctx->actor, opts, resp);
}

/* Refused while TLS-provisioned devices lack a root of the bundle (the
 * new generation's: ca push-roots installs it), unless "force" (audited). */
static int
op_activate(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *miss = NULL, *v;
	char list[512], det[600];
	size_t i, n = 0;
	int r, force = 0;

	if ((r = ops_req_bool(req, "force", &force)) != CUST_OK ||
	    (r = ops_roots_missing(ctx->st, &miss)) != CUST_OK)
		return r;
	*list = '\0';
	json_array_foreach(miss, i, v)
		if (n < sizeof(list) - 1)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
			    i ? ", " : "", json_string_value(v));
	if (json_array_size(miss) > 0) {
		snprintf(det, sizeof(det), "%zu TLS-provisioned device(s) lack "
		    "a root of the bundle: %s", json_array_size(miss), list);
		(void)audit_note(state_audit(ctx->st), ctx->actor,
		    "ca.activate", "ca", force ? "forced" : "refused", det);
		if (!force) {
			json_decref(miss);
			return cust_fail(CUST_E_CONFLICT, "%s; run 'custodyctl "
			    "ca push-roots --all' first (or --force)", det);
		}
	}
	json_decref(miss);
	crl_tick(ctx);
	return ca_activate(ctx->st, ctx->actor, resp);
}

/* {"before": seconds (optional)}: renew the service TLS certificate when
 * it expires within that many seconds; without it, now. */
static int
op_server_renew(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *b = json_object_get(req, "before");

	if (b != NULL && (!json_is_integer(b) || json_integer_value(b) < 0))
		return cust_fail(CUST_E_INVAL, "'before' must be a number of "
		    "seconds, 0 or more");
	crl_tick(ctx);
	return ca_server_renew(ctx->st, ctx->actor, b != NULL ?
	    (int64_t)json_integer_value(b) : -1, resp);
}

static int
op_retire(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	int r, force = 0;

	crl_tick(ctx);
	if ((r = ops_req_bool(req, "force", &force)) != CUST_OK)
		return r;
	return ca_retire(ctx->st, ctx->actor, force, resp);
}

/* For ops_client.c: the same CSR and CRL handling. */
int
ops_req_csr(struct ops_ctx *ctx, const char *action, const char *object,
    json_t *req, int required, const void **buf, size_t *len,
    unsigned char **owned)
{
	return req_csr(ctx, action, object, req, required, buf, len, owned);
}

void
ops_crl_tick(struct ops_ctx *ctx)
{
	crl_tick(ctx);
}

/* The subject is the identity the loaded policy gives the console
 * (ops_console_dn()), so that its certificate maps to it. */
static int
op_console_add(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *name, *kt, *dn;
	char buf[OPS_DN_MAX];
	int r, deliver = 0;

	crl_tick(ctx);
	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK ||
	    (r = ops_req_str(req, "key_type", 0, &kt)) != CUST_OK ||
	    (r = ops_req_bool(req, "deliver", &deliver)) != CUST_OK ||
	    (r = ops_console_dn(ctx->st, name, buf, sizeof(buf), &dn)) !=
	    CUST_OK)
		return r;
	return ca_console_issue(ctx->st, ctx->actor, name, dn, kt,
	    deliver ? CA_DELIVER : 0, resp);
}

/* The caller of cert.issue / console.add with "deliver" wrote the key. */
static int
op_delivered(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *serial;
	int r;

	if ((r = ops_req_str(req, "serial", 1, &serial)) != CUST_OK)
		return r;
	return ca_delivered(ctx->st, ctx->actor, serial, resp);
}

static int
op_console_revoke(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	const char *name, *reason;
	int r;

	crl_tick(ctx);
	if ((r = ops_req_str(req, "name", 1, &name)) != CUST_OK ||
	    (r = ops_req_str(req, "reason", 0, &reason)) != CUST_OK)
		return r;
	if ((r = ca_console_revoke(ctx->st, ctx->actor, name, reason, resp))
	    != CUST_OK)
		return r;
	/* a revoked console keeps no Kerberos principal either, nor an AD
	 * account that is enabled or in custody's groups */
	ops_principal_revoked(ctx, name, *resp);
	ops_account_follow(ctx, name, dir_ad_console_revoked, *resp);
	return CUST_OK;
}

static int
op_console_list(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	long long after = 0, limit;
	int r;

	if ((r = ops_req_int(req, "after", 0, 0, INT64_MAX, &after)) !=
	    CUST_OK || (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	return ca_console_list(ctx->st, after, limit, resp);
}

const struct ops_entry ops_ca_table[] = {
	{ "cert.sign", op_sign, 0, OPS_ADMIN | OPS_OWNER, OPS_RES_DEVICE },
	{ "cert.issue", op_issue, 0, OPS_ADMIN, OPS_RES_DEVICE },
	{ "cert.delivered", op_delivered, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "cert.renew", op_renew, 0, OPS_ADMIN | OPS_OWNER, OPS_RES_DEVICE },
	{ "cert.revoke", op_revoke, OPS_IDENTITY, OPS_ADMIN, OPS_RES_NONE },
	{ "cert.list", op_list, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ "cert.show", op_show, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ "ca.show", op_ca_show, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ "ca.bundle", op_bundle, 0, OPS_ANYONE, OPS_RES_NONE },
	{ "ca.crl", op_crl, 0, OPS_ANYONE, OPS_RES_NONE },
	{ "ca.rotate", op_rotate, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "ca.activate", op_activate, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "ca.retire", op_retire, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "ca.server-renew", op_server_renew, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "console.add", op_console_add, 0, OPS_ADMIN, OPS_RES_CONSOLE },
	{ "console.revoke", op_console_revoke, OPS_IDENTITY, OPS_ADMIN, OPS_RES_CONSOLE },
	{ "console.list", op_console_list, 0,
	    OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
