/* SPDX-License-Identifier: MIT */
/* src/api/ops_push.c - device.push: custody applies a device's pending
 * admin password on the device (reference/amt.md 10; DESIGN.md, the
 * rotation state machine), or shows what it would send.
 *
 * The push, for a device whose admin password has a pending version
 * (written sealed and committed before anything is sent):
 *  1. Get AMT_GeneralSettings with the current password: the device's
 *     DigestRealm must be the registered one (when none is registered,
 *     the device's is recorded: first contact);
 *  2. SetAdminAclEntryEx(admin, DigestPassword of the candidate) with the
 *     current password: the plaintext never travels;
 *  3. a Get with the candidate, on a fresh connection: only a digest
 *     login that works proves the device took it; then it becomes
 *     current (cred_confirm()).
 * An outcome that is not known (a timeout or dropped connection after
 * the change was sent, a refused login, a malformed answer) is
 * reconciled: the candidate, then the current password, are tried with a
 * Get, and the one that works is committed (the candidate confirmed, or
 * the pending version kept for the next push). Nothing is ever deleted:
 * until one is proven, both stay.
 *
 * With "dry_run" the operation sends nothing: it answers the exact
 * envelopes, in order, that a push would send (amt_push_admin_plan()),
 * rendered for review by amt_req_redacted(): the DigestPassword of the
 * candidate as it would travel (a hash, and what an operator compares
 * with a console's ha1), plaintext secrets never. The candidate is the
 * admin version in flight ("candidate": "pending", the default), or a
 * password not generated yet ("new", for password rotate --push
 * --dry-run), whose DigestPassword is then "***"; so is every
 * DigestPassword when the device's digest realm is not registered yet
 * (the push reads it from the device first).
 */
#include <string.h>

#include "amt.h"
#include "cred.h"
#include "err.h"
#include "ops_int.h"
#include "seal.h"
#include "util.h"

/* The built-in admin account's name (reference 2). */
#define PUSH_ADMIN_USER	"admin"

/* The newest version of kind in state (a history entry), or 0. */
static int64_t
version_in(json_t *hist, const char *kind, const char *state)
{
	json_t *v;
	size_t i;
	int64_t best = 0;

	json_array_foreach(hist, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "kind")),
		    kind) != 0 || strcmp(json_string_value(json_object_get(v,
		    "state")), state) != 0)
			continue;
		if (json_integer_value(json_object_get(v, "version")) > best)
			best = json_integer_value(json_object_get(v,
			    "version"));
	}
	return best;
}

static json_t *
step_json(const char *name, const struct amt_req *q, const char *auth,
    const char *env)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:s}", "step", name,
	    "message_id", (json_int_t)amt_req_msgid(q), "action",
	    amt_req_action(q), "auth", auth, "envelope", env);
}

/* The steps of an admin push of dpw (NULL: shown as ***) to target t. */
static int
plan_json(const struct amt_target *t, const struct seal_secret *dpw,
    int64_t cur, int64_t cand, json_t *out)
{
	static const char *names[AMT_PUSH_STEPS] = { "realm-check",
	    "set-admin", "verify" };
	/* Stands in for an unknown DigestPassword; rendered as ***. */
	struct seal_secret *blank = NULL;
	struct amt_req *q[AMT_PUSH_STEPS] = { NULL };
	char url[AMT_URL_MAX], ct[AMT_CONNECT_TO_MAX], auth[AMT_PUSH_STEPS][96];
	char *env = NULL;
	json_t *steps = NULL, *s;
	int r, i;

	if ((r = amt_target_where(t, url, sizeof(url), ct, sizeof(ct))) !=
	    CUST_OK)
		return r;
	if (dpw == NULL && (dpw = blank = seal_secret_dup(
	    "AAAAAAAAAAAAAAAAAAAAAA==", AMT_DIGESTPW_LEN)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = amt_push_admin_plan(PUSH_ADMIN_USER, dpw, 1, q)) != CUST_OK)
		goto out;
	snprintf(auth[0], sizeof(auth[0]), "digest %s, current v%lld",
	    PUSH_ADMIN_USER, (long long)cur);
	snprintf(auth[1], sizeof(auth[1]), "digest %s, current v%lld",
	    PUSH_ADMIN_USER, (long long)cur);
	if (cand > 0)
		snprintf(auth[2], sizeof(auth[2]), "digest %s, candidate v%lld, "
		    "fresh connection", PUSH_ADMIN_USER, (long long)cand);
	else
		snprintf(auth[2], sizeof(auth[2]), "digest %s, the new "
		    "password, fresh connection", PUSH_ADMIN_USER);
	if ((steps = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < AMT_PUSH_STEPS; i++) {
		if ((r = amt_req_redacted(q[i], blank != NULL, &env)) !=
		    CUST_OK)
			goto out;
		s = step_json(names[i], q[i], auth[i], env);
		free(env);
		env = NULL;
		if (s == NULL || json_array_append_new(steps, s) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if (json_object_set_new(out, "url", json_string(url)) != 0 ||
	    json_object_set_new(out, "connect_to", *ct ? json_string(ct) :
	    json_null()) != 0 ||
	    json_object_set(out, "steps", steps) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = CUST_OK;
out:
	json_decref(steps);
	for (i = 0; i < AMT_PUSH_STEPS; i++)
		amt_req_free(q[i]);
	seal_secret_free(blank);
	return r;
}

/* A Get of AMT_GeneralSettings as t: the device's DigestRealm into realm
 * (len bytes). */
static int
get_realm(const struct amt_target *t, unsigned long id, char *realm,
    size_t len)
{
	struct amt_req *q = NULL;
	struct amt_reply *rep = NULL;
	const char *v;
	int r;

	*realm = '\0';
	if ((r = amt_msg_get(id, "AMT_GeneralSettings", &q)) != CUST_OK)
		return r;
	if ((r = amt_call(t, q, &rep)) == CUST_OK) {
		v = amt_reply_value(rep, "DigestRealm");
		if (v == NULL || util_valid_digest_realm(v) != CUST_OK ||
		    strlen(v) >= len)
			r = cust_fail(CUST_E_PARSE, "%s: the device reports no "
			    "valid DigestRealm", t->fqdn);
		else
			memcpy(realm, v, strlen(v) + 1);
	}
	amt_reply_free(rep);
	amt_req_free(q);
	return r;
}

/* One push's outcome, for its item. */
struct push_out {
	const char *result;	/* ok reconciled kept-current unreachable
				 * auth-failed refused realm-mismatch unknown
				 * nothing-pending */
	char detail[512];
};

static void
outcome(struct push_out *o, const char *result, const char *detail)
{
	o->result = result;
	snprintf(o->detail, sizeof(o->detail), "%s", detail ? detail : "");
}

/*
 * After an unknown outcome: the candidate, then the current password,
 * each with a Get; the push is settled by what works (cred_push_end()).
 * begun: the version is 'pushed' (cred_push_begin() done). why: what
 * happened, for the detail.
 */
static int
reconcile(struct ops_ctx *ctx, struct amt_target *t, const char *fqdn,
    const struct seal_secret *cur, const struct seal_secret *cand,
    int64_t ver, int begun, const char *why, struct push_out *o)
{
	char realm[64], d[512];
	int r, rc;

	t->password = cand;
	if ((rc = get_realm(t, 10, realm, sizeof(realm))) == CUST_OK) {
		snprintf(d, sizeof(d), "%s; the device accepts v%lld: now "
		    "current", why, (long long)ver);
		if ((!begun && (r = cred_push_begin(ctx->st, ctx->actor, fqdn,
		    CRED_KIND_ADMIN, &ver)) != CUST_OK) ||
		    (r = cred_push_end(ctx->st, ctx->actor, fqdn,
		    CRED_KIND_ADMIN, ver, CRED_PUSH_APPLIED, "reconciled: a "
		    "digest login with it works")) != CUST_OK)
			return r;
		outcome(o, "reconciled", d);
		return CUST_OK;
	}
	t->password = cur;
	if ((r = get_realm(t, 11, realm, sizeof(realm))) == CUST_OK) {
		snprintf(d, sizeof(d), "%s; the device still has the current "
		    "password (v%lld %s)", why, (long long)ver, begun ?
		    "failed" : "stays pending");
		if (begun && (r = cred_push_end(ctx->st, ctx->actor, fqdn,
		    CRED_KIND_ADMIN, ver, CRED_PUSH_REFUSED, "reconciled: the "
		    "device still takes the current password")) != CUST_OK)
			return r;
		outcome(o, "kept-current", d);
		return CUST_OK;
	}
	snprintf(d, sizeof(d), "%s; %s (%s): both are kept%s", why,
	    rc == CUST_E_DENIED && r == CUST_E_DENIED ? "the device refuses "
	    "both the candidate and the current password" : "neither "
	    "password could be proven", cust_errmsg(), begun ? ", the "
	    "candidate stays pushed for reconciliation" : "");
	outcome(o, rc == CUST_E_DENIED && r == CUST_E_DENIED ? "auth-failed" :
	    "unknown", d);
	return CUST_OK;
}

/* The push protocol above for device fqdn (its record dev); *o says how
 * it ended. An error is custody's own (the store), not the device's. */
static int
push_one(struct ops_ctx *ctx, json_t *dev, int64_t ver, struct push_out *o)
{
	struct amt_target t = { 0 };
	struct seal_secret *cur = NULL, *cand = NULL, *dpw = NULL;
	struct amt_req *q = NULL;
	struct amt_reply *rep = NULL;
	const char *fqdn = json_string_value(json_object_get(dev, "fqdn"));
	const char *reg = json_string_value(json_object_get(dev,
	    "digest_realm")), *state;
	char realm[64], d[512];
	int64_t curv;
	int r;

	if ((r = cred_secret_read(ctx->st, ctx->actor, "device.push",
	    "current", fqdn, CRED_KIND_ADMIN, CRED_VER_CURRENT, &cur, &curv,
	    &state)) != CUST_OK ||
	    (r = cred_secret_read(ctx->st, ctx->actor, "device.push",
	    "candidate", fqdn, CRED_KIND_ADMIN, ver, &cand, &ver,
	    &state)) != CUST_OK)
		goto out;
	t.fqdn = fqdn;
	t.address = json_string_value(json_object_get(dev, "address"));
	t.user = PUSH_ADMIN_USER;
	t.password = cur;
	/* 1. Which device is this? */
	r = get_realm(&t, 1, realm, sizeof(realm));
	if (r == CUST_E_DENIED) {
		/* A push whose outcome was lost may have applied it. */
		r = reconcile(ctx, &t, fqdn, cur, cand, ver,
		    strcmp(state, "pushed") == 0, "the current password was "
		    "refused", o);
		goto out;
	}
	if (r != CUST_OK) {
		outcome(o, "unreachable", cust_errmsg());
		r = CUST_OK;
		goto out;
	}
	if (reg != NULL && strcmp(reg, realm) != 0) {
		snprintf(d, sizeof(d), "the device's DigestRealm %s is not the "
		    "registered %s: not this device, nothing sent", realm, reg);
		outcome(o, "realm-mismatch", d);
		goto out;
	}
	if (reg == NULL && (r = cred_device_set(ctx->st, ctx->actor, fqdn,
	    "digest_realm", realm)) != CUST_OK)
		goto out;
	/* 2. The change, authenticated with the current password: 'pushed'
	 * is committed before it is sent. */
	if ((r = amt_digest_password(PUSH_ADMIN_USER, realm, cand, &dpw)) !=
	    CUST_OK ||
	    (r = amt_msg_set_admin(2, PUSH_ADMIN_USER, dpw, &q)) != CUST_OK ||
	    (r = cred_push_begin(ctx->st, ctx->actor, fqdn, CRED_KIND_ADMIN,
	    &ver)) != CUST_OK)
		goto out;
	util_test_crash("push-begun");
	r = amt_call(&t, q, &rep);
	util_test_crash("push-sent");
	if (r == CUST_OK &&
	    (r = amt_reply_check(rep)) != CUST_OK) {
		/* A definite refusal: nothing changed on the device. */
		outcome(o, "refused", cust_errmsg());
		r = cred_push_end(ctx->st, ctx->actor, fqdn, CRED_KIND_ADMIN,
		    ver, CRED_PUSH_REFUSED, o->detail);
		goto out;
	}
	if (r != CUST_OK) {
		snprintf(d, sizeof(d), "SetAdminAclEntryEx: %s", cust_errmsg());
		r = reconcile(ctx, &t, fqdn, cur, cand, ver, 1, d, o);
		goto out;
	}
	/* 3. Proof: a fresh digest login with the candidate. */
	t.password = cand;
	if ((r = get_realm(&t, 3, realm, sizeof(realm))) != CUST_OK) {
		snprintf(d, sizeof(d), "the new password did not log in: %s",
		    cust_errmsg());
		r = reconcile(ctx, &t, fqdn, cur, cand, ver, 1, d, o);
		goto out;
	}
	if ((r = cred_push_end(ctx->st, ctx->actor, fqdn, CRED_KIND_ADMIN,
	    ver, CRED_PUSH_APPLIED, "proven by a digest login")) != CUST_OK)
		goto out;
	snprintf(d, sizeof(d), "v%lld applied and proven: now current",
	    (long long)ver);
	outcome(o, "ok", d);
out:
	amt_reply_free(rep);
	amt_req_free(q);
	seal_secret_free(dpw);
	seal_secret_free(cand);
	seal_secret_free(cur);
	return r;
}

/* Push the pending admin password of fqdn: *item_out a new JSON object
 * {"fqdn", "kind", "version", "result", "detail"}. */
int
ops_push_admin(struct ops_ctx *ctx, const char *fqdn, json_t **item_out)
{
	struct push_out o = { NULL, "" };
	json_t *dev = NULL, *hist = NULL;
	int64_t ver = 0;
	int r;

	*item_out = NULL;
	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK ||
	    (r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	fqdn = json_string_value(json_object_get(dev, "fqdn"));
	if ((ver = version_in(hist, CRED_KIND_ADMIN, "pending")) == 0 &&
	    (ver = version_in(hist, CRED_KIND_ADMIN, "pushed")) == 0)
		outcome(&o, "nothing-pending", "no admin password in flight");
	else if ((r = push_one(ctx, dev, ver, &o)) != CUST_OK)
		goto out;
	if ((*item_out = json_pack("{s:s, s:s, s:o, s:s, s:s}", "fqdn", fqdn,
	    "kind", CRED_KIND_ADMIN, "version", ver ? json_integer(ver) :
	    json_null(), "result", o.result, "detail", o.detail)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
out:
	json_decref(dev);
	json_decref(hist);
	return r;
}

/* Whether a push item ended with the candidate current. */
int
ops_push_ok(json_t *item)
{
	const char *res = json_string_value(json_object_get(item, "result"));

	return res != NULL && (strcmp(res, "ok") == 0 ||
	    strcmp(res, "reconciled") == 0);
}

int
ops_device_push(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct amt_target t = { 0 };
	struct seal_secret *pw = NULL, *dpw = NULL;
	const char *fqdn, *kind = CRED_KIND_ADMIN, *cand = "pending", *realm;
	const char *state;
	json_t *dev = NULL, *hist = NULL, *out = NULL;
	int64_t cur, ver = 0;
	int dry, r;

	*resp = NULL;
	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = ops_req_str(req, "kind", 0, &kind)) != CUST_OK ||
	    (r = ops_req_str(req, "candidate", 0, &cand)) != CUST_OK ||
	    (r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK)
		return r;
	if (kind == NULL)
		kind = CRED_KIND_ADMIN;
	if (cand == NULL)
		cand = "pending";
	if (strcmp(kind, CRED_KIND_ADMIN) != 0)
		return cust_fail(CUST_E_INVAL, "only the admin password is "
		    "pushed so far ('kind' admin)");
	if (strcmp(cand, "pending") != 0 && strcmp(cand, "new") != 0)
		return cust_fail(CUST_E_INVAL, "'candidate' is pending or new");
	if (!dry) {
		if (strcmp(cand, "pending") != 0)
			return cust_fail(CUST_E_INVAL, "a push sends the "
			    "pending version ('candidate' new is for dry "
			    "runs)");
		return ops_push_admin(ctx, fqdn, resp);
	}
	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK ||
	    (r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	fqdn = json_string_value(json_object_get(dev, "fqdn"));
	realm = json_string_value(json_object_get(dev, "digest_realm"));
	cur = version_in(hist, kind, "current");
	if (strcmp(cand, "pending") == 0) {
		if ((ver = version_in(hist, kind, "pending")) == 0 &&
		    (ver = version_in(hist, kind, "pushed")) == 0) {
			r = cust_fail(CUST_E_CONFLICT, "%s has no pending %s "
			    "password to push (password rotate it first)",
			    fqdn, kind);
			goto out;
		}
		/* The candidate's DigestPassword: reading the secret is
		 * audited, and the hash is only computed with the realm. */
		if (realm != NULL) {
			if ((r = cred_secret_read(ctx->st, ctx->actor,
			    "device.push", "dry-run", fqdn, kind, ver, &pw,
			    &ver, &state)) != CUST_OK ||
			    (r = amt_digest_password(PUSH_ADMIN_USER, realm, pw,
			    &dpw)) != CUST_OK)
				goto out;
		}
	}
	t.fqdn = fqdn;
	t.address = json_string_value(json_object_get(dev, "address"));
	t.user = PUSH_ADMIN_USER;
	if ((out = json_pack("{s:s, s:s, s:b, s:s, s:I, s:o, s:o}", "fqdn",
	    fqdn, "kind", kind, "dry_run", 1, "candidate", cand, "current",
	    (json_int_t)cur, "version", ver ? json_integer(ver) : json_null(),
	    "digest_realm", realm ? json_string(realm) : json_null())) ==
	    NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = plan_json(&t, dpw, cur, ver, out)) != CUST_OK)
		goto out;
	if (realm == NULL && json_object_set_new(out, "note", json_string(
	    "the digest realm is not registered: the push reads it from the "
	    "device first, so the DigestPassword is shown as ***")) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	*resp = out;
	out = NULL;
	r = CUST_OK;
out:
	json_decref(out);
	json_decref(dev);
	json_decref(hist);
	seal_secret_free(pw);
	seal_secret_free(dpw);
	return r;
}
