/* SPDX-License-Identifier: MIT */
/* src/api/ops.c - the operation registry and request helpers. */
#include <string.h>

#include "err.h"
#include "ops.h"
#include "ops_int.h"
#include "state.h"
#include "store.h"
#include "util.h"

extern const struct ops_entry ops_ca_table[];	/* ops_ca.c */
extern const struct ops_entry ops_policy_table[];	/* ops_policy.c */
extern const struct ops_entry ops_job_table[];	/* ops_job.c */
extern const struct ops_entry ops_provision_table[];	/* ops_provision.c */
extern const struct ops_entry ops_account_table[];	/* ops_account.c */
extern const struct ops_entry ops_kerberos_table[];	/* ops_kerberos.c */

/* Every group's table; each ends with a zeroed entry. */
static const struct ops_entry *const tables[] = {
	ops_core_table,
	ops_device_table,
	ops_password_table,
	ops_audit_table,
	ops_ca_table,
	ops_policy_table,
	ops_acl_table,
	ops_job_table,
	ops_provision_table,
	ops_credential_table,
	ops_client_table,
	ops_directory_table,
	ops_account_table,
	ops_kerberos_table,
};

const struct ops_entry *
ops_find(const char *name)
{
	const struct ops_entry *e;
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (e = tables[i]; e->name != NULL; e++)
			if (strcmp(e->name, name) == 0)
				return e;
	return NULL;
}

const struct ops_entry *
ops_entry_at(size_t i)
{
	const struct ops_entry *e;
	size_t t;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (e = tables[t]; e->name != NULL; e++)
			if (i-- == 0)
				return e;
	return NULL;
}

int
ops_call(struct ops_ctx *ctx, const char *name, json_t *req,
    json_t **resp_out)
{
	const struct ops_entry *e = ops_find(name);
	struct ops_ctx c = *ctx;
	int r;

	*resp_out = NULL;
	if (e == NULL)
		return cust_fail(CUST_E_INVAL, "unknown operation '%s'", name);
	if (req != NULL && !json_is_object(req))
		return cust_fail(CUST_E_INVAL, "a request is a JSON object");
	/* Who asks decides before anything else runs: the actor of every
	 * audit entry is the identity, whatever the caller put in actor. */
	c.actor = ops_identity_actor(c.who);
	cust_clearerr();
	if ((r = ops_authorize(&c, e, req)) != CUST_OK) {
		if (r == CUST_E_DENIED)
			ops_audit_denied(&c, e, req);
		return r;
	}
	if (c.st == NULL && !(e->flags & OPS_NOSTATE))
		return cust_fail(CUST_E_UNAVAIL, "operation '%s' needs a state "
		    "directory", name);
	r = e->fn(&c, req, resp_out);
	/* Whatever an operation does, OK comes with a reply: the CLI and the
	 * service render it without checking. */
	if (r == CUST_OK && *resp_out == NULL)
		r = cust_fail(CUST_E_NOMEM, "operation '%s': out of memory "
		    "building the reply", name);
	if (r != CUST_OK) {
		json_decref(*resp_out);
		*resp_out = NULL;
	}
	return r;
}

int
ops_req_limit(json_t *req, long long *out)
{
	*out = OPS_LIST_DEFAULT;
	return ops_req_int(req, "limit", 0, 1, OPS_LIST_MAX, out);
}

int
ops_reply(json_t *v, json_t **resp_out)
{
	*resp_out = v;
	return v != NULL ? CUST_OK : cust_fail(CUST_E_NOMEM, "out of memory "
	    "building the reply");
}

int
ops_req_str(json_t *req, const char *key, int required, const char **out)
{
	json_t *v = req ? json_object_get(req, key) : NULL;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return cust_fail(CUST_E_INVAL, "'%s' is required", key);
		return CUST_OK;
	}
	if (!json_is_string(v))
		return cust_fail(CUST_E_INVAL, "'%s' must be a string", key);
	*out = json_string_value(v);
	return CUST_OK;
}

int
ops_req_int(json_t *req, const char *key, int required, long long min,
    long long max, long long *out)
{
	json_t *v = req ? json_object_get(req, key) : NULL;
	long long n;

	if (v == NULL || json_is_null(v)) {
		if (required)
			return cust_fail(CUST_E_INVAL, "'%s' is required", key);
		return CUST_OK;	/* *out keeps the caller's default */
	}
	if (!json_is_integer(v))
		return cust_fail(CUST_E_INVAL, "'%s' must be an integer", key);
	n = json_integer_value(v);
	if (n < min || n > max)
		return cust_fail(CUST_E_INVAL, "'%s' must be from %lld to %lld",
		    key, min, max);
	*out = n;
	return CUST_OK;
}

int
ops_req_bool(json_t *req, const char *key, int *out)
{
	json_t *v = req ? json_object_get(req, key) : NULL;

	*out = 0;
	if (v == NULL || json_is_null(v))
		return CUST_OK;
	if (!json_is_boolean(v))
		return cust_fail(CUST_E_INVAL, "'%s' must be true or false", key);
	*out = json_is_true(v);
	return CUST_OK;
}

int
ops_req_strings(json_t *req, const char *key, const char ***out, size_t *n)
{
	json_t *v = req ? json_object_get(req, key) : NULL, *x;
	const char **arr;
	size_t i;

	*out = NULL;
	*n = 0;
	if (v == NULL || json_is_null(v))
		return CUST_OK;
	if (!json_is_array(v))
		return cust_fail(CUST_E_INVAL, "'%s' must be an array", key);
	if (json_array_size(v) == 0)
		return CUST_OK;
	if (json_array_size(v) > OPS_STRINGS_MAX)
		return cust_fail(CUST_E_TOOBIG, "'%s' has %zu items, over the "
		    "limit of %d", key, json_array_size(v), OPS_STRINGS_MAX);
	if ((arr = calloc(json_array_size(v), sizeof(*arr))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_array_foreach(v, i, x) {
		if (!json_is_string(x)) {
			free(arr);
			return cust_fail(CUST_E_INVAL, "'%s' must hold strings",
			    key);
		}
		arr[i] = json_string_value(x);
	}
	*out = arr;
	*n = json_array_size(v);
	return CUST_OK;
}

json_t *
ops_text(const char *s)
{
	char *e;
	json_t *j;

	if (!util_needs_escape(s))
		return json_string(s);
	if ((e = util_escape_dup(s)) == NULL)
		return NULL;
	j = json_string(e);
	free(e);
	return j;
}

int
ops_sql_int(struct cust_state *st, const char *sql, const char *what,
    int64_t *out)
{
	sqlite3_stmt *s = store_stmt(state_store(st), sql);
	int rc;

	*out = 0;
	if (s == NULL)
		return CUST_E_DB;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st), what);
}
