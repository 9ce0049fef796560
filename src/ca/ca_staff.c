/* SPDX-License-Identifier: MIT */
/* src/ca/ca_staff.c - security staff: a name, a role (admin or auditor)
 * and client certificates (cert kind 'admin', CN = name, EKU clientAuth),
 * issued, renewed and revoked through the client path of ca_client.c.
 *
 * init's bootstrap admin (DIR/admin/admin.crt, holder "admin") is staff
 * with role admin without a row in the table: stores made before staff
 * existed have it too, and CA activation re-issues it. The name "admin"
 * is therefore reserved.
 */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

#define STAFF_EKU	"clientAuth"
#define BOOTSTRAP	"admin"

int
ca_staff_valid_role(const char *role)
{
	if (role != NULL && (strcmp(role, "admin") == 0 ||
	    strcmp(role, "auditor") == 0))
		return CUST_OK;
	return cust_fail(CUST_E_INVAL, "a staff role is admin or auditor");
}

struct add_arg {
	const char *name, *role;
};

static int
staff_record(struct cust_state *st, const char *actor, const char *obj,
    int write, void *arg)
{
	struct add_arg *a = arg;
	sqlite3_stmt *s;
	int64_t id = 0;
	int r;

	if ((r = ca_holder_active(st, &ca_staff_holders, a->name, &id)) !=
	    CUST_OK)
		return r;
	if (id != 0 || strcmp(a->name, BOOTSTRAP) == 0) {
		cust_fail(CUST_E_EXISTS, "staff member %s exists%s", a->name,
		    id != 0 ? " (staff revoke it first)" : " (the bootstrap "
		    "admin of init)");
		return ca_refuse(st, actor, "staff.add", obj, CUST_E_EXISTS);
	}
	if (!write)
		return CUST_OK;
	if ((s = store_stmt(state_store(st), "INSERT INTO staff(name, role, "
	    "created) VALUES (?, ?, ?)")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->role, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, util_now());
	if ((r = store_step_done(state_store(st), s, "record staff")) !=
	    CUST_OK)
		return r;
	return store_row_reseal(state_store(st), STORE_RESEAL_STAFF,
	    sqlite3_last_insert_rowid(store_db(state_store(st))));
}

int
ca_staff_add(struct cust_state *st, const char *actor, const char *given,
    const char *role, const char *key_type, unsigned flags,
    json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	struct add_arg a;
	struct ca_client c;
	int r;

	*resp_out = NULL;
	snprintf(obj, sizeof(obj), "staff:%.*s", CA_NAME_MAX, given != NULL ?
	    given : "");
	if ((r = ca_client_name(given, name)) != CUST_OK ||
	    (r = ca_staff_valid_role(role)) != CUST_OK)
		return ca_refuse(st, actor, "staff.add", obj, r);
	a.name = name;
	a.role = role;
	memset(&c, 0, sizeof(c));
	c.h = &ca_staff_holders;
	c.action = "staff.add";
	c.name = name;
	c.eku = STAFF_EKU;
	c.record = staff_record;
	c.arg = &a;
	if ((r = ca_client_issue(st, actor, &c, key_type, NULL, 0, flags,
	    resp_out)) != CUST_OK)
		return r;
	if (json_object_set_new(*resp_out, "role", json_string(role)) != 0) {
		json_decref(*resp_out);
		*resp_out = NULL;
		return cust_fail(CUST_E_NOMEM, "out of memory (staff member %s "
		    "was added)", name);
	}
	return CUST_OK;
}

int
ca_staff_revoke(struct cust_state *st, const char *actor, const char *given,
    const char *reason, json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	int r;

	*resp_out = NULL;
	snprintf(obj, sizeof(obj), "staff:%.*s", CA_NAME_MAX, given != NULL ?
	    given : "");
	if ((r = ca_client_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "staff.revoke", obj, r);
	if (strcmp(name, BOOTSTRAP) == 0) {
		cust_fail(CUST_E_INVAL, "the bootstrap admin has no staff "
		    "record: revoke its certificate with cert revoke (CA "
		    "activation issues it again)");
		return ca_refuse(st, actor, "staff.revoke", obj, CUST_E_INVAL);
	}
	return ca_holder_revoke(st, actor, &ca_staff_holders, "staff.revoke",
	    name, reason, resp_out);
}

int
ca_staff_renew(struct cust_state *st, const char *actor, const char *given,
    const char *key_type, const void *csr, size_t csrlen, unsigned flags,
    json_t **resp_out)
{
	char obj[CA_NAME_MAX + 16], name[CA_NAME_MAX + 1];
	int r;

	*resp_out = NULL;
	snprintf(obj, sizeof(obj), "staff:%.*s", CA_NAME_MAX, given != NULL ?
	    given : "");
	if ((r = ca_client_name(given, name)) != CUST_OK)
		return ca_refuse(st, actor, "staff.renew", obj, r);
	return ca_holder_renew(st, actor, &ca_staff_holders, "staff.renew",
	    name, NULL, STAFF_EKU, key_type, csr, csrlen, flags, resp_out);
}

int
ca_staff_retire(struct cust_state *st, const char *actor, const char *name,
    const char *reason)
{
	return ca_holder_retire(st, actor, &ca_staff_holders, "staff.revoke",
	    name, reason);
}

int
ca_staff_role(struct cust_state *st, const char *name, const char **role_out)
{
	sqlite3_stmt *s;
	int rc, r;

	*role_out = NULL;
	if (strcmp(name, BOOTSTRAP) == 0) {
		*role_out = "admin";
		return CUST_OK;
	}
	if ((s = store_stmt(state_store(st), "SELECT role, "
	    STORE_CHECK(STORE_ROW_STAFF) " FROM staff WHERE name = ? AND "
	    "state = 'active'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*role_out = strcmp((const char *)sqlite3_column_text(s, 0),
		    "admin") == 0 ? "admin" : "auditor";
	if (rc == SQLITE_ROW)
		r = CUST_OK;
	else if (rc == SQLITE_DONE)
		r = cust_fail(CUST_E_NOTFOUND, "no active staff member %s",
		    name);
	else
		r = store_err(state_store(st), "read staff");
	sqlite3_reset(s);
	return r;
}

/* The latest certificate of holder name of cert kind into o: "serial",
 * "not_after", "renew_due" (valid and within the renewal window) and,
 * while it waits to supersede others, "supersedes" (ca_supersede.c). */
static int
latest_cert(struct cust_state *st, const char *kind, const char *name,
    int renew_days, json_t *o)
{
	sqlite3_stmt *s;
	char t[32];
	int64_t na;
	int rc;

	if ((s = store_stmt(state_store(st), "SELECT serial, not_after, "
	    "status FROM cert WHERE kind = ?1 AND holder = ?2 ORDER BY id DESC "
	    "LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		na = sqlite3_column_int64(s, 1);
		util_fmt_time(na, t, sizeof(t));
		json_object_set_new(o, "serial", json_string((const char *)
		    sqlite3_column_text(s, 0)));
		json_object_set_new(o, "not_after", json_string(t));
		json_object_set_new(o, "renew_due", json_boolean(strcmp(
		    (const char *)sqlite3_column_text(s, 2), "valid") == 0 &&
		    na - util_now() <= (int64_t)renew_days * CA_DAY));
	} else {
		json_object_set_new(o, "serial", json_null());
		json_object_set_new(o, "not_after", json_null());
		json_object_set_new(o, "renew_due", json_false());
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state_store(st), "read certificates");
	/* A renewal not used yet: what it supersedes ("supersedes"). */
	return rc == SQLITE_ROW ? ca_supersede_note(st, o) : CUST_OK;
}

int
ca_client_renew_flags(struct cust_state *st, json_t *items, const char *kind)
{
	struct ca_conf conf;
	json_t *o;
	size_t i;
	int r;

	if ((r = ca_conf_load(st, &conf)) != CUST_OK)
		return r;
	json_array_foreach(items, i, o)
		if ((r = latest_cert(st, kind, json_string_value(
		    json_object_get(o, "name")), conf.renew_days, o)) !=
		    CUST_OK)
			break;
	ca_conf_clear(&conf);
	return r;
}

int
ca_staff_list(struct cust_state *st, int64_t after_id, int64_t limit,
    json_t **resp_out)
{
	sqlite3_stmt *s;
	json_t *items = json_array(), *o;
	int64_t n = 0, last = 0;
	char t[32];
	int rc, r;

	*resp_out = NULL;
	if (items == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* The bootstrap admin first (id 0), then the table by (name, id);
	 * after_id -1 is "after the bootstrap admin". */
	if (after_id == 0) {
		o = json_pack("{s:I, s:s, s:s, s:s, s:b}", "id", (json_int_t)0,
		    "name", BOOTSTRAP, "role", "admin", "state", "active",
		    "bootstrap", 1);
		if (o == NULL || json_array_append_new(items, o) != 0) {
			json_decref(items);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		n++;
	}
	if ((s = store_stmt(state_store(st),
	    "SELECT c.name, c.role, c.state, c.created, c.id, "
	    STORE_CHECK(STORE_ROW_STAFF) " FROM staff c WHERE ?1 <= 0 OR "
	    "(c.name, c.id) > ((SELECT name FROM staff WHERE id = ?1), ?1) "
	    "ORDER BY c.name, c.id LIMIT ?2")) == NULL) {
		json_decref(items);
		return CUST_E_DB;
	}
	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, limit - n);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		last = sqlite3_column_int64(s, 4);
		n++;
		util_fmt_time(sqlite3_column_int64(s, 3), t, sizeof(t));
		o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
		    (json_int_t)last, "name", (const char *)
		    sqlite3_column_text(s, 0), "role", (const char *)
		    sqlite3_column_text(s, 1), "state", (const char *)
		    sqlite3_column_text(s, 2), "created", t);
		if (o == NULL || json_array_append_new(items, o) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(items);
		return rc == SQLITE_NOMEM ? cust_fail(CUST_E_NOMEM, "out of "
		    "memory") : store_err(state_store(st), "read staff");
	}
	if ((r = ca_client_renew_flags(st, items, "admin")) != CUST_OK) {
		json_decref(items);
		return r;
	}
	/* A full page that ends with the bootstrap admin continues with
	 * the table's first row: cursor -1. */
	*resp_out = json_pack("{s:o, s:o}", "items", items, "next",
	    n == limit ? json_integer(last > 0 ? last : -1) : json_null());
	return *resp_out != NULL ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}
