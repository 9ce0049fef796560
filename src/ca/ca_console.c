/* SPDX-License-Identifier: MIT */
/* src/ca/ca_console.c - console client certificates.
 *
 * A console authenticates to custody (and, with AMT mutual TLS, to devices)
 * with a client certificate: CN = console name, EKU clientAuth plus the
 * Intel AMT remote-console OID. The key is generated here, returned once
 * and not kept. One console name is active at a time; revoking a console
 * revokes every valid certificate it holds. Names are case-insensitive
 * (DNS-like names, and what an operator types): they are kept, issued and
 * audited in lower case, so "Ops1" and "ops1" are the same console.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

/* Intel AMT "remote console" extended key usage (reference/amt.md 6). */
#define AMT_EKU_REMOTE_CONSOLE	"2.16.840.1.113741.1.2.1"

/* Check name and copy it in lower case into out (CA_NAME_MAX + 1). */
static int
console_name(const char *name, char *out)
{
	int r;

	if ((r = ca_valid_name(name)) != CUST_OK)
		return r;
	snprintf(out, CA_NAME_MAX + 1, "%s", name);
	util_lower(out);
	return CUST_OK;
}

static int
console_active(struct cust_state *st, const char *name, int64_t *id_out)
{
	sqlite3_stmt *s;
	int rc;

	*id_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT id, "
	    STORE_CHECK(STORE_ROW_CONSOLE) " FROM console WHERE name = ? "
	    "AND state = 'active'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return CUST_OK;
	return store_err(state_store(st), "read consoles");
}

static int
console_insert(struct cust_state *st, const char *name)
{
	char subject[CA_NAME_MAX + 4];
	sqlite3_stmt *s;
	int r;

	snprintf(subject, sizeof(subject), "CN=%s", name);
	if ((s = store_stmt(state_store(st),
	    "INSERT INTO console(name, subject, "
	    "created) VALUES (?, ?, ?)")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "record console")) != CUST_OK)
		return r;
	return store_row_reseal(state_store(st), STORE_RESEAL_CONSOLE,
	    sqlite3_last_insert_rowid(store_db(state_store(st))));
}

/* An active console of name exists: refused (audited), CUST_E_EXISTS. */
static int
console_taken(struct cust_state *st, const char *actor, const char *name,
    const char *obj)
{
	int64_t id = 0;
	int r;

	if ((r = console_active(st, name, &id)) != CUST_OK || id == 0)
		return r;
	cust_fail(CUST_E_EXISTS, "console %s exists (console revoke %s first)",
	    name, name);
	return ca_refuse(st, actor, "console.add", obj, CUST_E_EXISTS);
}

/*
 * Like a device certificate (ca_issue.c), the key is generated and the
 * certificate signed with no transaction open; the name is checked before
 * (an early refusal) and again in the transaction that records.
 */
int
ca_console_add(struct cust_state *st, const char *actor, const char *given,
    const char *key_type, unsigned flags, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	char hex[1][CA_SERIAL_HEXLEN] = { "" };
	const struct ca_keytype *kt;
	struct ca_issuer is;
	struct ca_leaf lf;
	struct seal_secret *key = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	X509 *v[3];
	json_t *resp = NULL;
	char *leaf = NULL, *chain = NULL;
	int r;

	*resp_out = NULL;
	memset(&is, 0, sizeof(is));
	ca_object(obj, sizeof(obj), "console", given != NULL ? given : "");
	if (key_type == NULL)
		key_type = "rsa2048";
	if ((r = console_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "console.add", obj, r);
	ca_object(obj, sizeof(obj), "console", name);
	/* Keys an earlier run lost (killed before writing them) first: that
	 * also frees the name of a console whose key was lost. */
	if ((r = ca_delivery_sweep(st, actor, NULL)) != CUST_OK)
		return r;
	if ((kt = ca_keytype_find(key_type)) == NULL)
		return ca_refuse(st, actor, "console.add", obj,
		    ca_keytype_unknown(key_type));
	if ((r = console_taken(st, actor, name, obj)) != CUST_OK ||
	    (r = ca_issuer_open(st, actor, "console.add", obj, &is)) !=
	    CUST_OK || (r = ca_key_generate(kt, &pkey)) != CUST_OK)
		goto out;
	memset(&lf, 0, sizeof(lf));
	lf.kind = "console";
	lf.holder = name;
	lf.cn = name;
	lf.eku = "clientAuth," AMT_EKU_REMOTE_CONSOLE;
	lf.days = is.conf.console_days;
	lf.actor = actor;
	lf.action = "console.add";
	lf.pub = pkey;
	if ((r = ca_leaf_presign(st, &is, &lf, hex, &x)) != CUST_OK)
		goto out;
	v[0] = is.g->issuing;
	v[1] = is.prev != NULL ? is.g->cross_up : NULL;
	v[2] = is.g->root;
	if ((r = ca_pem_key(pkey, &key)) != CUST_OK)
		goto release;
	if ((leaf = ca_pem_certs(&x, 1)) == NULL ||
	    (chain = ca_pem_certs(v, 3)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto release;
	}
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto release;
	if ((r = console_taken(st, actor, name, obj)) != CUST_OK ||
	    (r = ca_issuer_recheck(st, &is)) != CUST_OK ||
	    (r = console_insert(st, name)) != CUST_OK ||
	    (r = ca_leaf_record(st, &is, &lf, x, &resp)) != CUST_OK ||
	    ((flags & CA_DELIVER) &&
	    (r = ca_delivery_mark(st, hex[0])) != CUST_OK))
		goto fail;
	if (json_object_set_new(resp, "certificate", json_string(leaf)) ||
	    json_object_set_new(resp, "chain", json_string(chain)) ||
	    json_object_set_new(resp, "key",
	    json_string(seal_secret_str(key)))) {
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
ca_console_retire(struct cust_state *st, const char *actor, const char *name,
    const char *reason)
{
	char obj[CA_NAME_MAX + 16];
	sqlite3_stmt *s;
	int64_t id = 0;
	int r;

	if ((r = console_active(st, name, &id)) != CUST_OK || id == 0)
		return r;
	if ((s = store_stmt(state_store(st),
	    "UPDATE console SET state = 'revoked', "
	    "revoked = ? WHERE id = ? AND " STORE_CHECK(STORE_ROW_CONSOLE))) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, util_now());
	sqlite3_bind_int64(s, 2, id);
	ca_object(obj, sizeof(obj), "console", name);
	if ((r = store_step_done(state_store(st), s,
	    "revoke console")) != CUST_OK ||
	    (r = store_row_reseal(state_store(st), STORE_RESEAL_CONSOLE, id)) !=
	    CUST_OK)
		return r;
	return audit_append(state_audit(st), actor, "console.revoke", obj,
	    "ok", reason);
}

int
ca_console_revoke(struct cust_state *st, const char *actor, const char *given,
    const char *reason, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	struct ca_conf conf;
	struct ca_revset rs;
	sqlite3_stmt *s;
	json_t *serials = NULL;
	int64_t id = 0;
	int r, code;

	*resp_out = NULL;
	memset(&conf, 0, sizeof(conf));
	memset(&rs, 0, sizeof(rs));
	ca_object(obj, sizeof(obj), "console", given != NULL ? given : "");
	if (reason == NULL)
		reason = "cessationOfOperation";
	if ((r = console_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "console.revoke", obj, r);
	ca_object(obj, sizeof(obj), "console", name);
	if ((code = ca_reason_code(reason)) < 0) {
		cust_fail(CUST_E_INVAL, "unknown or unusable reason '%.64s'",
		    reason);
		return ca_refuse(st, actor, "console.revoke", obj,
		    CUST_E_INVAL);
	}
	if ((serials = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	rs.serials = serials;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	if ((r = ca_conf_load(st, &conf)) != CUST_OK ||
	    (r = console_active(st, name, &id)) != CUST_OK)
		goto fail;
	if (id == 0) {
		cust_fail(CUST_E_NOTFOUND, "no active console %s", name);
		r = ca_refuse(st, actor, "console.revoke", obj,
		    CUST_E_NOTFOUND);
		goto out;
	}
	if ((s = store_stmt(state_store(st), "SELECT id FROM cert WHERE kind = "
	    "'console' AND holder = ? AND status = 'valid' ORDER BY id "
	    "LIMIT 1")) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	if ((r = ca_revoke_each(st, actor, s, code, NULL, &rs)) != CUST_OK ||
	    (r = ca_revset_publish(st, &rs, &conf)) != CUST_OK)
		goto fail;
	if ((r = ca_console_retire(st, actor, name, reason)) != CUST_OK ||
	    (r = store_commit(state_store(st))) != CUST_OK)
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

int
ca_console_list(struct cust_state *st, int64_t after_id, int64_t limit,
    json_t **resp_out)
{
	sqlite3_stmt *s;
	json_t *items = json_array();
	int64_t n = 0, last = 0;
	char t[32];
	int rc;

	*resp_out = NULL;
	if (items == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st),
	    "SELECT c.name, c.state, c.created, "
	    "(SELECT serial FROM cert WHERE kind = 'console' AND holder = "
	    "c.name ORDER BY id DESC LIMIT 1), (SELECT not_after FROM cert "
	    "WHERE kind = 'console' AND holder = c.name ORDER BY id DESC "
	    "LIMIT 1), " STORE_CHECK(STORE_ROW_CONSOLE) ", c.id FROM console "
	    "c WHERE ?1 = 0 OR (c.name, c.id) > ((SELECT name FROM console "
	    "WHERE id = ?1), ?1) ORDER BY c.name, c.id LIMIT ?2")) == NULL) {
		json_decref(items);
		return CUST_E_DB;
	}
	/* Keyset paging on (name, id), the cursor being the last row's id:
	 * a page costs its own size (consoles are few; no index needed). */
	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *o = json_object();

		last = sqlite3_column_int64(s, 6);
		n++;
		json_object_set_new(o, "id", json_integer(last));
		json_object_set_new(o, "name", json_string((const char *)
		    sqlite3_column_text(s, 0)));
		json_object_set_new(o, "state", json_string((const char *)
		    sqlite3_column_text(s, 1)));
		util_fmt_time(sqlite3_column_int64(s, 2), t, sizeof(t));
		json_object_set_new(o, "created", json_string(t));
		json_object_set_new(o, "serial", sqlite3_column_type(s, 3) ==
		    SQLITE_NULL ? json_null() : json_string((const char *)
		    sqlite3_column_text(s, 3)));
		util_fmt_time(sqlite3_column_int64(s, 4), t, sizeof(t));
		json_object_set_new(o, "not_after", sqlite3_column_type(s, 4) ==
		    SQLITE_NULL ? json_null() : json_string(t));
		json_array_append_new(items, o);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(items);
		return store_err(state_store(st), "read consoles");
	}
	*resp_out = json_pack("{s:o, s:o}", "items", items, "next",
	    n == limit ? json_integer(last) : json_null());
	return *resp_out != NULL ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}
