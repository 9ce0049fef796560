/* SPDX-License-Identifier: MIT */
/* src/api/ops_identity.c - who calls an operation, and whether they may
 * (include/ops.h, doc/internals/SERVICE.md "Authorization").
 *
 * One check for every caller: custodyctl's local backend and the service
 * both go through ops_call(), which runs ops_authorize() before the
 * operation. The roles of each operation are in its table entry
 * (src/api/ops_*.c), next to its handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "audit.h"
#include "ca.h"
#include "config.h"
#include "cred.h"
#include "directory.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "state.h"
#include "util.h"

/* Longest name of an identity (a console name is at most CA_NAME_MAX;
 * staff and local user names are bounded the same way, with room). */
#define ID_NAME_MAX	128

struct ops_identity {
	enum ops_kind kind;
	char actor[ID_NAME_MAX + 16];	/* "console:NAME" ... */
	const char *name;		/* in actor, after the prefix */
	int owner;			/* consoles: the policy's owner */
	json_t *duties;			/* consoles: array of duty names */
	const char **tags;		/* consoles: scope; NULL = every device */
	size_t ntags;
	json_t *info;			/* consoles: owns the strings above */
	int enterprise;			/* from the enterprise client CA */
	size_t superseded;		/* certificates its first use revoked */
};

static const char *const prefixes[] = {
	[OPS_ID_NOBODY] = "anonymous",
	[OPS_ID_LOCAL] = "local",
	[OPS_ID_ADMIN] = "admin",
	[OPS_ID_AUDITOR] = "auditor",
	[OPS_ID_CONSOLE] = "console",
};

/* A new identity of kind called name (checked). */
static int
make(enum ops_kind kind, const char *name, struct ops_identity **out)
{
	struct ops_identity *id;
	size_t plen;

	*out = NULL;
	if (kind != OPS_ID_NOBODY && (name == NULL || *name == '\0' ||
	    strlen(name) > ID_NAME_MAX || util_needs_escape(name)))
		return cust_fail(CUST_E_INVAL, "an identity needs a name of 1 "
		    "to %d printable characters", ID_NAME_MAX);
	if ((id = calloc(1, sizeof(*id))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	id->kind = kind;
	if (kind == OPS_ID_NOBODY) {
		snprintf(id->actor, sizeof(id->actor), "%s", prefixes[kind]);
		id->name = id->actor;
	} else {
		snprintf(id->actor, sizeof(id->actor), "%s:%s", prefixes[kind],
		    name);
		plen = strlen(prefixes[kind]) + 1;
		id->name = id->actor + plen;
	}
	*out = id;
	return CUST_OK;
}

int
ops_identity_new(enum ops_kind kind, const char *name,
    struct ops_identity **out)
{
	*out = NULL;
	if (kind != OPS_ID_NOBODY && kind != OPS_ID_LOCAL &&
	    kind != OPS_ID_ADMIN && kind != OPS_ID_AUDITOR)
		return cust_fail(CUST_E_INVAL, "a console identity comes from "
		    "the loaded policy");
	return make(kind, name, out);
}

/* Scope and duties of console id from the policy's description of it. */
static int
fill_console(struct ops_identity *id, json_t *info)
{
	json_t *tags = json_object_get(info, "tags"), *t;
	size_t i;

	id->info = info;
	id->owner = json_is_true(json_object_get(info, "owner"));
	id->duties = json_object_get(info, "duties");
	if (tags == NULL)
		return CUST_OK;		/* every device */
	/* An empty tag list scopes the console to no device at all, never
	 * to every device. */
	if ((id->tags = calloc(json_array_size(tags) + 1,
	    sizeof(*id->tags))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_array_foreach(tags, i, t)
		id->tags[id->ntags++] = json_string_value(t);
	return CUST_OK;
}

/* The loaded policy (checked): CUST_E_DENIED naming console name when
 * none is loaded or it no longer passes the check. */
static int
loaded_policy(struct cust_state *st, const char *name, struct policy **out)
{
	char *file = NULL, *text = NULL, why[256];
	int r;

	*out = NULL;
	r = ops_policy_latest(st, &file, &text);
	if (r == CUST_E_NOTFOUND) {
		r = cust_fail(CUST_E_DENIED, "console '%s' is not authorized: "
		    "no policy is loaded", name);
		goto out;
	}
	if (r != CUST_OK)
		goto out;
	r = ops_policy_checked(file, text, out, why, sizeof(why));
	if (r == CUST_E_PARSE || r == CUST_E_VIOLATION)
		/* Loaded when it passed; a newer checker may refuse it. No
		 * console is authorized by a policy that fails the check. */
		r = cust_fail(CUST_E_DENIED, "console '%s' is not authorized: "
		    "the loaded policy %s fails the check (%s): load a policy "
		    "again", name, file, why);
out:
	free(file);
	free(text);
	return r;
}

/* The identity of console name of policy p. */
static int
console_of(const struct policy *p, const char *name,
    struct ops_identity **out)
{
	struct ops_identity *id = NULL;
	json_t *info = NULL;
	int r;

	*out = NULL;
	if ((r = make(OPS_ID_CONSOLE, name, &id)) != CUST_OK)
		return r;
	r = policy_console_info(p, name, &info);
	if (r == CUST_E_NOTFOUND) {
		r = cust_fail(CUST_E_DENIED, "console '%s' is not authorized: "
		    "the loaded policy has no such console", name);
		goto out;
	}
	if (r != CUST_OK || (r = fill_console(id, info)) != CUST_OK)
		goto out;
	info = NULL;		/* owned by id */
	*out = id;
	id = NULL;
out:
	json_decref(info);
	ops_identity_free(id);
	return r;
}

int
ops_identity_console(struct cust_state *st, const char *name,
    struct ops_identity **out)
{
	struct policy *p = NULL;
	int r;

	*out = NULL;
	if ((r = loaded_policy(st, name, &p)) == CUST_OK)
		r = console_of(p, name, out);
	policy_free(p);
	return r;
}

int
ops_policy_console(const struct policy *p, const char *holder,
    const char **name_out, const char **dn_out, char *cn, size_t cnlen)
{
	const char *n;
	json_t *info = NULL;
	size_t i;
	int r;

	*name_out = *dn_out = NULL;
	for (i = 0; (n = policy_console_name(p, i)) != NULL; i++)
		if (strcasecmp(n, holder) == 0)
			break;
	if (n == NULL)
		return cust_fail(CUST_E_NOTFOUND, "the loaded policy has no "
		    "console '%s'", holder);
	if ((r = policy_console_info(p, n, &info)) != CUST_OK)
		return r;
	/* The DN is the policy's (it lives as long as p); none: CN=NAME. */
	*dn_out = json_string_value(json_object_get(info, "certificate"));
	if (*dn_out == NULL) {
		snprintf(cn, cnlen, "CN=%s", n);
		*dn_out = cn;
	} else {
		snprintf(cn, cnlen, "%s", *dn_out);
		*dn_out = cn;
	}
	json_decref(info);
	*name_out = n;
	return CUST_OK;
}

/* The upper-case hex serial of x into out (CA_SERIAL_HEXLEN). */
static int
cert_serial(X509 *x, char *out, size_t outlen)
{
	BIGNUM *bn;
	char *hex = NULL;
	int r;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) ==
	    NULL || (hex = BN_bn2hex(bn)) == NULL) {
		BN_free(bn);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	r = ca_serial_norm(hex, out, outlen);
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

/* A staff certificate: the role of its holder's active staff record
 * (the bootstrap admin: admin). */
static int
staff_of(struct cust_state *st, const char *serial, const char *holder,
    struct ops_identity **out)
{
	const char *role;
	int r = ca_staff_role(st, holder, &role);

	if (r == CUST_E_NOTFOUND)
		return cust_fail(CUST_E_DENIED, "certificate %s: staff member "
		    "%s is not active", serial, holder);
	if (r != CUST_OK)
		return r;
	return make(strcmp(role, "admin") == 0 ? OPS_ID_ADMIN :
	    OPS_ID_AUDITOR, holder, out);
}

/* A console certificate: the policy console of its holder's name, when
 * the certificate's subject is the identity the policy gives it. */
static int
console_cert(struct cust_state *st, const char *serial, const char *holder,
    X509 *x, struct ops_identity **out)
{
	struct policy *p = NULL;
	const char *name, *dn;
	char cn[1100];
	int r;

	if ((r = loaded_policy(st, holder, &p)) != CUST_OK)
		goto out;
	r = ops_policy_console(p, holder, &name, &dn, cn, sizeof(cn));
	if (r == CUST_E_NOTFOUND) {
		r = cust_fail(CUST_E_DENIED, "certificate %s: console '%s' is "
		    "not in the loaded policy", serial, holder);
		goto out;
	}
	if (r != CUST_OK)
		goto out;
	if (!ca_dn_matches(X509_get_subject_name(x), dn)) {
		r = cust_fail(CUST_E_DENIED, "certificate %s: its subject is "
		    "not the identity the loaded policy gives console '%s' "
		    "(%.200s): renew it", serial, name, dn);
		goto out;
	}
	r = console_of(p, name, out);
out:
	policy_free(p);
	return r;
}

/* The one DER certificate der[0..len) into *out. */
static int
cert_parse(const unsigned char *der, size_t len, X509 **out)
{
	const unsigned char *p = der;

	*out = NULL;
	if (der == NULL || len == 0 || len > 65536 ||
	    (*out = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		X509_free(*out);
		*out = NULL;
		ERR_clear_error();
		return cust_fail(CUST_E_PARSE, "the client certificate is not "
		    "one DER certificate");
	}
	return CUST_OK;
}

/* The subject of x as RFC 2253 text (control and non-ASCII bytes
 * escaped), for messages. */
static void
subject_text(X509 *x, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	snprintf(buf, len, "?");
	if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) >= 0 && (n = BIO_read(b, buf, (int)len - 1)) >=
	    0)
		buf[n] = '\0';
	BIO_free(b);
	ERR_clear_error();
}

/* The one console of the loaded policy whose identity's field (the
 * "certificate" or "kerberos" of policy_console_info()) matches: match
 * (value, arg) says. *found_out borrowed from *p_out (policy_free()).
 * None, or more than one: CUST_E_DENIED, the message says which (what
 * names the caller in it). */
static int
console_by_identity(struct cust_state *st, const char *what,
    const char *field, int (*match)(const char *, const void *),
    const void *arg, struct policy **p_out, const char **found_out)
{
	const char *n, *v;
	json_t *info = NULL;
	size_t i, nfound = 0;
	int r;

	*found_out = NULL;
	if ((r = loaded_policy(st, what, p_out)) != CUST_OK)
		return r;
	for (i = 0; (n = policy_console_name(*p_out, i)) != NULL; i++) {
		if ((r = policy_console_info(*p_out, n, &info)) != CUST_OK)
			return r;
		v = json_string_value(json_object_get(info, field));
		if (v != NULL && match(v, arg)) {
			*found_out = n;
			nfound++;
		}
		json_decref(info);
		info = NULL;
	}
	if (nfound != 1)
		return cust_fail(CUST_E_DENIED, "%s: %s of the loaded policy %s "
		    "this %s identity", what, nfound == 0 ? "no console" :
		    "several consoles", nfound == 0 ? "has" : "have", field);
	return CUST_OK;
}

static int
dn_match(const char *dn, const void *x)
{
	return ca_dn_matches(X509_get_subject_name((const X509 *)x), dn);
}

int
ops_identity_from_enterprise(struct cust_state *st,
    const unsigned char *der, size_t len, struct ops_identity **out)
{
	struct policy *p = NULL;
	const char *found;
	char subj[256], what[300];
	X509 *x = NULL;
	int r;

	*out = NULL;
	if ((r = cert_parse(der, len, &x)) != CUST_OK)
		return r;
	subject_text(x, subj, sizeof(subj));
	snprintf(what, sizeof(what), "enterprise certificate %s", subj);
	/* Only the consoles whose identity names a certificate subject:
	 * the CN=NAME default is for custody's own certificates. */
	if ((r = console_by_identity(st, what, "certificate", dn_match, x, &p,
	    &found)) == CUST_OK && (r = console_of(p, found, out)) == CUST_OK)
		(*out)->enterprise = 1;
	policy_free(p);
	X509_free(x);
	return r;
}

static int
principal_match(const char *krb, const void *principal)
{
	return strcmp(krb, (const char *)principal) == 0;
}

/* Whether rows (dir_mit_list() items, or dir_ad_list() rows) hold a live
 * one of console for principal: field (principal, or the account name)
 * equal to want, of kind (NULL: any), in state active. */
static int
row_held(json_t *rows, const char *console_key, const char *console,
    const char *field, const char *want, const char *kind)
{
	json_t *o;
	size_t i;

	json_array_foreach(rows, i, o) {
		const char *c = json_string_value(json_object_get(o,
		    console_key)), *v = json_string_value(json_object_get(o,
		    field)), *st = json_string_value(json_object_get(o,
		    "state")), *k = json_string_value(json_object_get(o,
		    "kind"));

		if (c != NULL && v != NULL && st != NULL && strcmp(c,
		    console) == 0 && strcmp(v, want) == 0 && strcmp(st,
		    "active") == 0 && (kind == NULL || (k != NULL &&
		    strcmp(k, kind) == 0)))
			return 1;
	}
	return 0;
}

/*
 * principal (NAME@REALM, as GSSAPI displays it) names console in the
 * policy; in a realm custody manages (directory.mit or directory.ad of
 * custody.yaml) it is that console only when it is the principal or
 * account custody made for it (a live row): account and principal sync
 * refuse a principal custody did not create as foreign, and AMT's ACL
 * entries carry the SID of custody's account, so whoever holds the keys
 * of a foreign one (made before custody's, or in its place) is not the
 * console here either. Other realms: the policy alone decides, as
 * before. CUST_E_DENIED when refused.
 */
static int
managed_principal(struct cust_state *st, const char *what,
    const char *console, const char *principal)
{
	struct cust_config *cfg = NULL;
	const char *at = strrchr(principal, '@');
	char name[512];
	json_t *rows = NULL;
	int r, held = 1;

	if (at == NULL || (size_t)(at - principal) >= sizeof(name))
		return cust_fail(CUST_E_DENIED, "%s: not NAME@REALM", what);
	snprintf(name, sizeof(name), "%.*s", (int)(at - principal), principal);
	if ((r = config_load_dir(state_dir(st), NULL, &cfg)) != CUST_OK)
		return r;
	if (cfg->mit.set && cfg->mit.realm != NULL &&
	    strcmp(at + 1, cfg->mit.realm) == 0) {
		json_t *l = NULL;

		if ((r = dir_mit_list(st, &l)) == CUST_OK)
			held = row_held(json_object_get(l, "items"), "console",
			    console, "principal", principal, NULL);
		json_decref(l);
	} else if (cfg->ad.set && cfg->ad.realm != NULL &&
	    strcmp(at + 1, cfg->ad.realm) == 0) {
		if ((r = dir_ad_list(st, &rows)) == CUST_OK)
			held = row_held(rows, "owner", console, "name", name,
			    "account");
	}
	json_decref(rows);
	config_free(cfg);
	if (r != CUST_OK)
		return r;
	if (!held)
		return cust_fail(CUST_E_DENIED, "%s is not the principal custody "
		    "made for console %s (a principal of the realm custody did "
		    "not create, or not made yet: principal sync or account "
		    "sync)", what, console);
	return CUST_OK;
}

int
ops_identity_from_kerberos(struct cust_state *st, const char *principal,
    struct ops_identity **out)
{
	struct policy *p = NULL;
	const char *found;
	char what[300];
	int r, revoked = 0;

	*out = NULL;
	snprintf(what, sizeof(what), "Kerberos principal %.200s", principal);
	if ((r = console_by_identity(st, what, "kerberos", principal_match,
	    principal, &p, &found)) == CUST_OK &&
	    (r = managed_principal(st, what, found, principal)) == CUST_OK &&
	    (r = ops_console_revoked(st, found, &revoked)) == CUST_OK) {
		if (revoked)
			r = cust_fail(CUST_E_DENIED, "%s: console %s is "
			    "revoked", what, found);
		else
			r = console_of(p, found, out);
	}
	policy_free(p);
	return r;
}

size_t
ops_identity_superseded(const struct ops_identity *id)
{
	return id != NULL ? id->superseded : 0;
}

int
ops_identity_enterprise(const struct ops_identity *id)
{
	return id != NULL && id->enterprise;
}

int
ops_identity_from_cert(struct cust_state *st, const unsigned char *der,
    size_t len, struct ops_identity **out)
{
	unsigned char md[32];
	char serial[CA_SERIAL_HEXLEN + 1], fp[65];
	const char *kind, *holder, *status, *sha;
	json_t *info = NULL;
	X509 *x = NULL;
	int r;

	*out = NULL;
	if ((r = cert_parse(der, len, &x)) != CUST_OK)
		goto out;
	if ((r = cert_serial(x, serial, sizeof(serial))) != CUST_OK)
		goto out;
	r = ca_cert_show(st, serial, &info);
	if (r == CUST_E_NOTFOUND) {
		r = cust_fail(CUST_E_DENIED, "certificate %s was not issued "
		    "by custody to any staff or console", serial);
		goto out;
	}
	if (r != CUST_OK)
		goto out;
	crypto_hash_sha256(md, der, len);
	sodium_bin2hex(fp, sizeof(fp), md, sizeof(md));
	kind = json_string_value(json_object_get(info, "kind"));
	holder = json_string_value(json_object_get(info, "holder"));
	status = json_string_value(json_object_get(info, "status"));
	sha = json_string_value(json_object_get(info, "sha256"));
	if (kind == NULL || holder == NULL || status == NULL || sha == NULL ||
	    strcmp(sha, fp) != 0) {
		r = cust_fail(CUST_E_DENIED, "certificate %s is not the one "
		    "custody recorded under its serial", serial);
		goto out;
	}
	if (strcmp(status, "valid") != 0) {
		r = cust_fail(CUST_E_DENIED, "certificate %s is %s", serial,
		    status);
		goto out;
	}
	if (strcmp(kind, "admin") == 0)
		r = staff_of(st, serial, holder, out);
	else if (strcmp(kind, "console") == 0)
		r = console_cert(st, serial, holder, x, out);
	else
		r = cust_fail(CUST_E_DENIED, "certificate %s is a %s "
		    "certificate, not a client's", serial, kind);
	/* A renewal authenticating for the first time is fetched: the
	 * certificates it supersedes are revoked now (ca.h). */
	if (r == CUST_OK && (r = ca_supersede_used(st, (*out)->actor, serial,
	    &(*out)->superseded)) != CUST_OK) {
		ops_identity_free(*out);
		*out = NULL;
	}
out:
	json_decref(info);
	X509_free(x);
	return r;
}

void
ops_identity_free(struct ops_identity *id)
{
	if (id == NULL)
		return;
	free(id->tags);
	json_decref(id->info);
	free(id);
}

enum ops_kind
ops_identity_kind(const struct ops_identity *id)
{
	return id != NULL ? id->kind : OPS_ID_NOBODY;
}

const char *
ops_identity_name(const struct ops_identity *id)
{
	return id != NULL && id->kind != OPS_ID_NOBODY ? id->name : "";
}

const char *
ops_identity_actor(const struct ops_identity *id)
{
	return id != NULL ? id->actor : prefixes[OPS_ID_NOBODY];
}

/* The role bit of id for an entry's roles. */
static unsigned
role_of(const struct ops_identity *id)
{
	switch (ops_identity_kind(id)) {
	case OPS_ID_ADMIN:
		return OPS_ADMIN;
	case OPS_ID_AUDITOR:
		return OPS_AUDITOR;
	case OPS_ID_CONSOLE:
		return OPS_CONSOLE | (id->owner ? OPS_OWNER : 0);
	default:
		return 0;
	}
}

/* A console's device scope: the request's "fqdn" must be an active
 * device carrying one of its tags. */
static int
device_scope(struct ops_ctx *ctx, const struct ops_identity *id,
    const char *op, json_t *req)
{
	const char *fqdn = json_string_value(json_object_get(req, "fqdn"));
	int r;

	if (id->tags == NULL)
		return CUST_OK;		/* every device */
	if (fqdn == NULL)
		return cust_fail(CUST_E_DENIED, "%s: console '%s' is scoped "
		    "to devices by tag and must name one ('fqdn')", op,
		    id->name);
	if (ctx->st == NULL)
		return cust_fail(CUST_E_UNAVAIL, "operation '%s' needs a state "
		    "directory", op);
	r = cred_device_in_scope(ctx->st, fqdn, id->tags, id->ntags);
	if (r == CUST_E_NOTFOUND)
		return cust_fail(CUST_E_DENIED, "%s: device '%s' is not in the "
		    "scope of console '%s'", op, fqdn, id->name);
	return r;
}

int
ops_authorize(struct ops_ctx *ctx, const struct ops_entry *e, json_t *req)
{
	const struct ops_identity *id = ctx->who;
	const char *name;

	if (ops_identity_kind(id) == OPS_ID_LOCAL || (e->roles & OPS_ANYONE))
		return CUST_OK;
	if (!(e->roles & role_of(id)))
		return cust_fail(CUST_E_DENIED, "%s may not run '%s'%s",
		    ops_identity_actor(id), e->name,
		    id != NULL && id->kind == OPS_ID_CONSOLE && !id->owner &&
		    (e->roles & OPS_OWNER) ? " (only the owner console may)" :
		    "");
	if (id->kind != OPS_ID_CONSOLE)
		return CUST_OK;		/* staff: every device and console */
	if (e->flags & OPS_SELF) {
		name = json_string_value(json_object_get(req, "console"));
		if (json_object_get(req, "console") != NULL && (name == NULL ||
		    strcmp(name, id->name) != 0))
			return cust_fail(CUST_E_DENIED, "%s: console '%s' may "
			    "only ask for its own credentials", e->name,
			    id->name);
	}
	switch (e->resource) {
	case OPS_RES_DEVICE:
		return device_scope(ctx, id, e->name, req);
	case OPS_RES_CONSOLE:
		name = json_string_value(json_object_get(req, "name"));
		if (name == NULL || strcmp(name, id->name) != 0)
			return cust_fail(CUST_E_DENIED, "%s: console '%s' may "
			    "only ask for itself", e->name, id->name);
		return CUST_OK;
	default:
		return CUST_OK;
	}
}

/* What a refused request was about, for the audit entry. */
static const char *
object_of(const struct ops_entry *e, json_t *req)
{
	const char *o = NULL;

	if (e->resource == OPS_RES_DEVICE)
		o = json_string_value(json_object_get(req, "fqdn"));
	else if (e->resource == OPS_RES_CONSOLE)
		o = json_string_value(json_object_get(req, "name"));
	return o != NULL ? o : "-";
}

/*
 * The refusal of an authenticated identity is audited (result "denied"):
 * staff and consoles hold certificates custody issued, so their refusals
 * are accountable and worth an alert. Anonymous refusals are not (anyone
 * could fill the log with them); neither are refusals without a state.
 */
void
ops_audit_denied(struct ops_ctx *ctx, const struct ops_entry *e,
    json_t *req)
{
	char obj[CUST_MAX_FQDN + 1], why[512];

	if (ops_identity_kind(ctx->who) == OPS_ID_NOBODY || ctx->st == NULL ||
	    state_audit(ctx->st) == NULL)
		return;
	snprintf(obj, sizeof(obj), "%s", object_of(e, req));
	snprintf(why, sizeof(why), "%s", cust_errmsg());
	/* ops_call() refuses before anything runs: no transaction is
	 * open. If even the note fails, the refusal stands (and the audit
	 * module says so on stderr). */
	(void)audit_note(state_audit(ctx->st), ops_identity_actor(ctx->who),
	    e->name, obj, "denied", why);
}
