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

/* clientAuth and the Intel AMT "remote console" extended key usage
 * (reference/amt.md 6). */
#define CA_EKU_CONSOLE	"clientAuth,2.16.840.1.113741.1.2.1"

/* The console row, for an add: refused (audited, CUST_E_EXISTS) while an
 * active console has the name; written (subject dn) in the recording
 * transaction. */
struct add_arg {
	const char *name;
	const char *subject;
};

static int
console_record(struct cust_state *st, const char *actor, const char *obj,
    int write, void *arg)
{
	struct add_arg *a = arg;
	sqlite3_stmt *s;
	int64_t id = 0;
	int r;

	if ((r = ca_holder_active(st, &ca_console_holders, a->name, &id)) !=
	    CUST_OK)
		return r;
	if (id != 0) {
		cust_fail(CUST_E_EXISTS, "console %s exists (console revoke %s "
		    "first)", a->name, a->name);
		return ca_refuse(st, actor, "console.add", obj, CUST_E_EXISTS);
	}
	if (!write)
		return CUST_OK;
	if ((s = store_stmt(state_store(st),
	    "INSERT INTO console(name, subject, "
	    "created) VALUES (?, ?, ?)")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "record console")) != CUST_OK)
		return r;
	return store_row_reseal(state_store(st), STORE_RESEAL_CONSOLE,
	    sqlite3_last_insert_rowid(store_db(state_store(st))));
}

int
ca_console_add(struct cust_state *st, const char *actor, const char *given,
    const char *key_type, unsigned flags, json_t **resp_out)
{
	return ca_console_issue(st, actor, given, NULL, key_type, flags,
	    resp_out);
}

/*
 * Like a device certificate (ca_issue.c), the key is generated and the
 * certificate signed with no transaction open; the name is checked before
 * (an early refusal) and again in the transaction that records
 * (ca_client_issue()).
 */
int
ca_console_issue(struct cust_state *st, const char *actor, const char *given,
    const char *dn, const char *key_type, unsigned flags, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1], cn[CA_NAME_MAX + 4];
	struct add_arg a;
	struct ca_client c;
	X509_NAME *n = NULL;
	int r;

	*resp_out = NULL;
	ca_object(obj, sizeof(obj), "console", given != NULL ? given : "");
	if ((r = ca_client_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "console.add", obj, r);
	ca_object(obj, sizeof(obj), "console", name);
	if (dn != NULL && (r = ca_dn_parse(dn, &n)) != CUST_OK)
		return ca_refuse(st, actor, "console.add", obj, r);
	X509_NAME_free(n);
	snprintf(cn, sizeof(cn), "CN=%s", name);
	a.name = name;
	a.subject = dn != NULL ? dn : cn;
	memset(&c, 0, sizeof(c));
	c.h = &ca_console_holders;
	c.action = "console.add";
	c.name = name;
	c.dn = dn;
	c.eku = CA_EKU_CONSOLE;
	c.record = console_record;
	c.arg = &a;
	return ca_client_issue(st, actor, &c, key_type, NULL, 0, flags,
	    resp_out);
}

int
ca_console_renew(struct cust_state *st, const char *actor, const char *given,
    const char *dn, const char *key_type, const void *csr, size_t csrlen,
    unsigned flags, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	int r;

	*resp_out = NULL;
	ca_object(obj, sizeof(obj), "console", given != NULL ? given : "");
	if ((r = ca_client_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "console.renew", obj, r);
	return ca_holder_renew(st, actor, &ca_console_holders, "console.renew",
	    name, dn, CA_EKU_CONSOLE, key_type, csr, csrlen, flags, resp_out);
}

int
ca_console_revoked(struct cust_state *st, const char *name, int *out)
{
	struct store *db = state_store(st);
	sqlite3_stmt *s;
	int rc;

	*out = 0;
	if ((s = store_stmt(db, "SELECT state, " STORE_CHECK(STORE_ROW_CONSOLE)
	    " FROM console WHERE lower(name) = lower(?) ORDER BY id DESC "
	    "LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = strcmp((const char *)sqlite3_column_text(s, 0),
		    "revoked") == 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(db, "read the console");
	return CUST_OK;
}

int
ca_console_retire(struct cust_state *st, const char *actor, const char *name,
    const char *reason)
{
	return ca_holder_retire(st, actor, &ca_console_holders,
	    "console.revoke", name, reason);
}

int
ca_console_revoke(struct cust_state *st, const char *actor, const char *given,
    const char *reason, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	int r;

	*resp_out = NULL;
	ca_object(obj, sizeof(obj), "console", given != NULL ? given : "");
	if ((r = ca_client_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "console.revoke", obj, r);
	return ca_holder_revoke(st, actor, &ca_console_holders,
	    "console.revoke", name, reason, resp_out);
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
	if ((rc = ca_client_renew_flags(st, items, "console")) != CUST_OK) {
		json_decref(items);
		return rc;
	}
	*resp_out = json_pack("{s:o, s:o}", "items", items, "next",
	    n == limit ? json_integer(last) : json_null());
	return *resp_out != NULL ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}
