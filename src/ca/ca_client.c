/* SPDX-License-Identifier: MIT */
/* src/ca/ca_client.c - client certificates of consoles and staff: one
 * issuance path (a key made here or a client's CSR), one revocation path,
 * subjects from DN text, and the holders' tables.
 *
 * Consoles (table console, cert kind 'console') and security staff
 * (table staff, cert kind 'admin') hold client certificates custody
 * issued. Issuing signs with no transaction open (the key is generated
 * first), then records the certificate and the holder's row in one
 * transaction, where the holder is checked again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "audit.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

const struct ca_holders ca_console_holders = {
	"console", "console", "console",
	"SELECT id, " STORE_CHECK(STORE_ROW_CONSOLE) " FROM console WHERE "
	    "name = ?1 AND state = 'active'",
	"SELECT id FROM cert WHERE kind = 'console' AND holder = ?1 AND "
	    "status = 'valid' AND serial <> ?2 ORDER BY id LIMIT 1",
	"UPDATE console SET state = 'revoked', revoked = ?1 WHERE id = ?2 "
	    "AND " STORE_CHECK(STORE_ROW_CONSOLE),
	STORE_RESEAL_CONSOLE,
};

const struct ca_holders ca_staff_holders = {
	"admin", "staff", "staff member",
	"SELECT id, " STORE_CHECK(STORE_ROW_STAFF) " FROM staff WHERE "
	    "name = ?1 AND state = 'active'",
	"SELECT id FROM cert WHERE kind = 'admin' AND holder = ?1 AND "
	    "status = 'valid' AND serial <> ?2 ORDER BY id LIMIT 1",
	"UPDATE staff SET state = 'revoked', revoked = ?1 WHERE id = ?2 "
	    "AND " STORE_CHECK(STORE_ROW_STAFF),
	STORE_RESEAL_STAFF,
};

/* One "TYPE=value" of DN text into type/val (unescaped), advancing *pp
 * past it and its separator. */
static int
dn_next(const char **pp, char *type, size_t tlen, char *val, size_t vlen)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p == ' ')
		p++;
	while (*p != '\0' && *p != '=' && n + 1 < tlen)
		type[n++] = *p++;
	type[n] = '\0';
	while (n > 0 && type[n - 1] == ' ')
		type[--n] = '\0';
	if (*p != '=' || n == 0)
		return cust_fail(CUST_E_INVAL, "a distinguished name is "
		    "\"CN=name,O=org\"");
	p++;
	for (n = 0; *p != '\0' && *p != ',' && *p != '+'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (n + 1 >= vlen)
			return cust_fail(CUST_E_INVAL, "a distinguished name's "
			    "value is too long");
		val[n++] = *p;
	}
	val[n] = '\0';
	if (*p == '+')
		return cust_fail(CUST_E_INVAL, "multi-valued RDNs ('+') are "
		    "not supported in certificate identities");
	if (n == 0)
		return cust_fail(CUST_E_INVAL, "a distinguished name has an "
		    "empty value");
	*pp = *p == ',' ? p + 1 : p;
	return CUST_OK;
}

/* The DN text's RDNs are most specific first; an X509_NAME is most
 * significant first: added in reverse, printed (RFC 2253) as given. */
int
ca_dn_parse(const char *dn, X509_NAME **out)
{
	char type[32], val[256];
	const char *p = dn, *starts[32];
	X509_NAME *n = NULL;
	size_t k = 0;
	int r;

	*out = NULL;
	if (dn == NULL || *dn == '\0' || strlen(dn) > 1024)
		return cust_fail(CUST_E_INVAL, "a distinguished name has 1 to "
		    "1024 characters");
	while (*p != '\0') {
		if (k == sizeof(starts) / sizeof(starts[0]))
			return cust_fail(CUST_E_INVAL, "a distinguished name "
			    "has too many attributes");
		starts[k++] = p;
		if ((r = dn_next(&p, type, sizeof(type), val, sizeof(val))) !=
		    CUST_OK)
			return r;
	}
	if ((n = X509_NAME_new()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	while (k-- > 0) {
		p = starts[k];
		if ((r = dn_next(&p, type, sizeof(type), val, sizeof(val))) !=
		    CUST_OK)
			goto fail;
		if (!X509_NAME_add_entry_by_txt(n, type, MBSTRING_UTF8,
		    (const unsigned char *)val, -1, -1, 0)) {
			ERR_clear_error();
			r = cust_fail(CUST_E_INVAL, "'%.32s' is not an attribute "
			    "of a distinguished name (or its value does not "
			    "fit it)", type);
			goto fail;
		}
	}
	*out = n;
	return CUST_OK;
fail:
	X509_NAME_free(n);
	return r;
}

int
ca_dn_matches(const X509_NAME *name, const char *dn)
{
	X509_NAME *want = NULL;
	int same;

	if (ca_dn_parse(dn, &want) != CUST_OK)
		return 0;
	same = X509_NAME_cmp(name, want) == 0;
	X509_NAME_free(want);
	return same;
}

/* Console and staff names are case-insensitive (DNS-like names, and
 * what an operator types): kept, issued and audited in lower case. */
int
ca_client_name(const char *name, char *out)
{
	int r;

	if ((r = ca_valid_name(name)) != CUST_OK)
		return r;
	snprintf(out, CA_NAME_MAX + 1, "%s", name);
	util_lower(out);
	return CUST_OK;
}

int
ca_holder_active(struct cust_state *st, const struct ca_holders *h,
    const char *name, int64_t *id_out)
{
	sqlite3_stmt *s;
	int rc;

	*id_out = 0;
	if ((s = store_stmt(state_store(st), h->sel_active)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return CUST_OK;
	return store_err(state_store(st), "read the holders of client "
	    "certificates");
}

int
ca_holder_revoke_certs(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *name, const char *keep,
    int reason, struct ca_revset *rs)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st), h->sel_valid)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, keep != NULL ? keep : "", -1,
	    SQLITE_TRANSIENT);
	return ca_revoke_each(st, actor, s, reason, keep != NULL ?
	    "superseded by a renewal" : NULL, rs);
}

/* The public key of a client's CSR (checked; no name constraint: the
 * subject is custody's). */
static int
csr_key(const void *csr, size_t len, EVP_PKEY **out)
{
	X509_REQ *req = NULL;
	int r;

	*out = NULL;
	if ((r = ca_csr_parse(csr, len, NULL, &req, NULL)) != CUST_OK)
		return r;
	if ((*out = X509_REQ_get_pubkey(req)) == NULL)
		r = ca_ossl_fail(CUST_E_INVAL, "the CSR has no usable key");
	X509_REQ_free(req);
	return r;
}

int
ca_client_issue(struct cust_state *st, const char *actor,
    const struct ca_client *c, const char *key_type, const void *csr,
    size_t csrlen, unsigned flags, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16];
	char hex[1][CA_SERIAL_HEXLEN] = { "" };
	const struct ca_keytype *kt = NULL;
	struct ca_issuer is;
	struct ca_leaf lf;
	struct seal_secret *key = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL, *v[3];
	json_t *resp = NULL;
	char *leaf = NULL, *chain = NULL;
	int r;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	snprintf(obj, sizeof(obj), "%s:%s", c->h->objkind, c->name);
	if (csr == NULL && (kt = ca_keytype_find(key_type != NULL ? key_type :
	    "rsa2048")) == NULL)
		return ca_refuse(st, actor, c->action, obj,
		    ca_keytype_unknown(key_type));
	if (csr != NULL && (r = csr_key(csr, csrlen, &pkey)) != CUST_OK)
		return ca_refuse(st, actor, c->action, obj, r);
	/* Keys an earlier run lost (killed before writing them) first: that
	 * also frees the name of a holder whose key was lost. Then an early
	 * refusal, before any key or signature (read only). */
	if ((r = ca_delivery_sweep(st, actor, NULL)) != CUST_OK ||
	    (r = c->record(st, actor, obj, 0, c->arg)) != CUST_OK ||
	    (r = ca_issuer_open(st, actor, c->action, obj, &is)) != CUST_OK ||
	    (pkey == NULL && (r = ca_key_generate(kt, &pkey)) != CUST_OK))
		goto out;
	memset(&lf, 0, sizeof(lf));
	lf.kind = c->h->kind;
	lf.holder = c->name;
	lf.cn = c->name;
	lf.dn = c->dn;
	lf.eku = c->eku;
	lf.days = is.conf.console_days;
	lf.actor = actor;
	lf.action = c->action;
	lf.pub = pkey;
	if ((r = ca_leaf_presign(st, &is, &lf, hex, &x)) != CUST_OK)
		goto out;
	v[0] = is.g->issuing;
	v[1] = is.prev != NULL ? is.g->cross_up : NULL;
	v[2] = is.g->root;
	if ((csr == NULL && (r = ca_pem_key(pkey, &key)) != CUST_OK))
		goto release;
	if ((leaf = ca_pem_certs(&x, 1)) == NULL ||
	    (chain = ca_pem_certs(v, 3)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto release;
	}
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto release;
	if ((r = c->record(st, actor, obj, 1, c->arg)) != CUST_OK ||
	    (r = ca_issuer_recheck(st, &is)) != CUST_OK ||
	    (r = ca_leaf_record(st, &is, &lf, x, &resp)) != CUST_OK ||
	    (c->after != NULL && (r = c->after(st, actor, obj, hex[0],
	    c->arg)) != CUST_OK) || (key != NULL && (flags & CA_DELIVER) &&
	    (r = ca_delivery_mark(st, hex[0])) != CUST_OK))
		goto fail;
	if (json_object_set_new(resp, "certificate", json_string(leaf)) ||
	    json_object_set_new(resp, "chain", json_string(chain)) ||
	    (key != NULL && json_object_set_new(resp, "key",
	    json_string(seal_secret_str(key))))) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	*resp_out = resp;
	resp = NULL;
	goto out;
fail:
	store_rollback(state_store(st));
release:
	ca_serial_release(st, hex, 1);
out:
	free(leaf);
	free(chain);
	json_decref(resp);
	seal_secret_free(key);
	EVP_PKEY_free(pkey);
	X509_free(x);
	ca_issuer_close(&is);
	return r;
}

int
ca_holder_retire(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *action, const char *name,
    const char *reason)
{
	char obj[CA_NAME_MAX + 16];
	sqlite3_stmt *s;
	int64_t id = 0;
	int r;

	if ((r = ca_holder_active(st, h, name, &id)) != CUST_OK || id == 0)
		return r;
	if ((s = store_stmt(state_store(st), h->upd_revoke)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, util_now());
	sqlite3_bind_int64(s, 2, id);
	snprintf(obj, sizeof(obj), "%s:%s", h->objkind, name);
	if ((r = store_step_done(state_store(st), s, "revoke the holder")) !=
	    CUST_OK ||
	    (r = store_row_reseal(state_store(st), h->reseal, id)) != CUST_OK)
		return r;
	return audit_append(state_audit(st), actor, action, obj, "ok", reason);
}

/*
 * Revoke a holder: every valid certificate (reason, default
 * cessationOfOperation), then its row; the CRLs republished; one
 * transaction, audited as action.
 */
int
ca_holder_revoke(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *action, const char *name,
    const char *reason, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16];
	struct ca_conf conf;
	struct ca_revset rs;
	json_t *serials = NULL;
	int64_t id = 0;
	int r, code;

	*resp_out = NULL;
	memset(&conf, 0, sizeof(conf));
	memset(&rs, 0, sizeof(rs));
	snprintf(obj, sizeof(obj), "%s:%s", h->objkind, name);
	if (reason == NULL)
		reason = "cessationOfOperation";
	if ((code = ca_reason_code(reason)) < 0) {
		cust_fail(CUST_E_INVAL, "unknown or unusable reason '%.64s'",
		    reason);
		return ca_refuse(st, actor, action, obj, CUST_E_INVAL);
	}
	if ((serials = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	rs.serials = serials;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	if ((r = ca_conf_load(st, &conf)) != CUST_OK ||
	    (r = ca_holder_active(st, h, name, &id)) != CUST_OK)
		goto fail;
	if (id == 0) {
		cust_fail(CUST_E_NOTFOUND, "no active %s %s", h->what, name);
		r = ca_refuse(st, actor, action, obj, CUST_E_NOTFOUND);
		goto out;
	}
	if ((r = ca_holder_revoke_certs(st, actor, h, name, NULL, code, &rs)) !=
	    CUST_OK || (r = ca_revset_publish(st, &rs, &conf)) != CUST_OK ||
	    (r = ca_holder_retire(st, actor, h, action, name, reason)) !=
	    CUST_OK || (r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	*resp_out = json_pack("{s:s, s:O}", "name", name, "revoked", serials);
	if (*resp_out == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(serials);
	ca_conf_clear(&conf);
	return r;
}

/* Renewal: the holder must be active; the new certificate is recorded
 * and its other valid ones wait to be superseded by it (ca_supersede.c),
 * in one transaction. */
struct renew_arg {
	const struct ca_holders *h;
	const char *action, *name;
	json_t *pending;
	struct ca_revset rs;
};

static int
renew_record(struct cust_state *st, const char *actor, const char *obj,
    int write, void *arg)
{
	struct renew_arg *ra = arg;
	int64_t id = 0;
	int r;

	(void)write;
	if ((r = ca_holder_active(st, ra->h, ra->name, &id)) != CUST_OK)
		return r;
	if (id != 0)
		return CUST_OK;
	cust_fail(CUST_E_NOTFOUND, "no active %s %s", ra->h->what, ra->name);
	return ca_refuse(st, actor, ra->action, obj, CUST_E_NOTFOUND);
}

static int
renew_after(struct cust_state *st, const char *actor, const char *obj,
    const char *serial, void *arg)
{
	struct renew_arg *ra = arg;
	int r;

	(void)obj;
	if ((r = ca_supersede_plan(st, actor, ra->h->kind, ra->name, serial,
	    ra->pending, &ra->rs)) != CUST_OK)
		return r;
	return ca_revset_publish(st, &ra->rs, NULL);
}

int
ca_holder_renew(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *action, const char *name,
    const char *dn, const char *eku, const char *key_type, const void *csr,
    size_t csrlen, unsigned flags, json_t **resp_out)
{
	struct renew_arg ra;
	struct ca_client c;
	int r;

	*resp_out = NULL;
	/* Grace periods that ended first (like undelivered keys). */
	if ((r = ca_supersede_sweep(st, actor, NULL)) != CUST_OK)
		return r;
	memset(&ra, 0, sizeof(ra));
	ra.h = h;
	ra.action = action;
	ra.name = name;
	if ((ra.rs.serials = json_array()) == NULL ||
	    (ra.pending = json_array()) == NULL) {
		json_decref(ra.rs.serials);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	memset(&c, 0, sizeof(c));
	c.h = h;
	c.action = action;
	c.name = name;
	c.dn = dn;
	c.eku = eku;
	c.record = renew_record;
	c.after = renew_after;
	c.arg = &ra;
	r = ca_client_issue(st, actor, &c, key_type, csr, csrlen, flags,
	    resp_out);
	if (r == CUST_OK && (json_object_set(*resp_out, "superseded",
	    ra.rs.serials) != 0 || json_object_set(*resp_out, "supersedes",
	    ra.pending) != 0)) {
		json_decref(*resp_out);
		*resp_out = NULL;
		r = cust_fail(CUST_E_NOMEM, "out of memory (the certificate "
		    "was renewed)");
	}
	json_decref(ra.rs.serials);
	json_decref(ra.pending);
	return r;
}

int
ca_client_valid(struct cust_state *st, const char *kind, const char *holder,
    int64_t *n_out)
{
	sqlite3_stmt *s;
	int rc;

	*n_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT COUNT(*) FROM cert WHERE "
	    "kind = ?1 AND holder = ?2 AND status = 'valid' AND not_after > ?3 "
	    "AND " STORE_CHECK(STORE_ROW_CERT))) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, holder, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, util_now());
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*n_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st),
	    "read certificates");
}
