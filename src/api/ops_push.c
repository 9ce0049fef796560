/* SPDX-License-Identifier: MIT */
/* src/api/ops_push.c - device.push: what custody sends a device to apply
 * its admin password (reference/amt.md 10; DESIGN.md, the rotation state
 * machine).
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
	if (!dry)
		return cust_fail(CUST_E_INVAL, "only a dry run (dry_run: true) "
		    "is implemented: custody does not send passwords to "
		    "devices yet");
	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK ||
	    (r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	fqdn = json_string_value(json_object_get(dev, "fqdn"));
	realm = json_string_value(json_object_get(dev, "digest_realm"));
	cur = version_in(hist, kind, "current");
	if (strcmp(cand, "pending") == 0) {
		if ((ver = version_in(hist, kind, "pending")) == 0) {
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
