/* SPDX-License-Identifier: MIT */
/* src/api/ops_policy.c - policy.load and policy.plan.
 *
 * policy.load stores a policy that passes the check (warnings allowed) in
 * the state, together with its SHA-256, in one transaction with its audit
 * entry; a refused policy is audited too. policy.plan computes the ACL
 * entries of stored devices from the given policy, or from the latest
 * loaded one.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "audit.h"
#include "cred.h"
#include "directory.h"
#include "err.h"
#include "ops_int.h"
#include "policy.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* "3 errors; first: FILE:LINE:COL [rule]" for audit details: the first
 * error by position. */
static void
summary(struct policy_report *rep, char *buf, size_t len)
{
	const struct policy_finding *first = NULL;
	size_t i;

	for (i = 0; i < policy_report_count(rep); i++) {
		const struct policy_finding *f = policy_report_get(rep, i);

		if (f->severity == POLICY_SEV_ERROR && (first == NULL ||
		    f->line < first->line || (f->line == first->line &&
		    f->column < first->column)))
			first = f;
	}
	if (first == NULL)
		snprintf(buf, len, "no errors");
	else
		snprintf(buf, len, "%zu errors; first: %s:%u:%u [%s]",
		    policy_report_errors(rep), first->file, first->line,
		    first->column, first->rule->id);
}

/* Parse and check text (ops_int.h). */
int
ops_policy_checked(const char *file, const char *text, struct policy **out,
    char *why, size_t whylen)
{
	struct policy_report *rep;
	struct policy *p = NULL;
	size_t len = strlen(text);
	int r;

	*out = NULL;
	if (len > POLICY_MAX_BYTES) {
		snprintf(why, whylen, "%zu bytes, over the limit of %u", len,
		    POLICY_MAX_BYTES);
		return cust_fail(CUST_E_TOOBIG, "policy %s is %s", file, why);
	}
	if ((rep = policy_report_new()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	r = policy_load_buf(rep, file, text, len, &p);
	summary(rep, why, whylen);
	if (r == CUST_E_NOMEM) {
		r = cust_fail(r, "out of memory");
	} else if (r != CUST_OK) {
		r = cust_fail(CUST_E_PARSE, "policy %s is malformed: %s (run "
		    "custodyctl policy check)", file, why);
	} else if (!policy_clean(p)) {
		r = cust_fail(CUST_E_VIOLATION, "policy %s fails the check: %s "
		    "(run custodyctl policy check)", file, why);
	} else {
		*out = p;
		p = NULL;
	}
	policy_free(p);
	policy_report_free(rep);
	return r;
}

static int
op_load(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	static const char ins[] = "INSERT INTO policy(loaded, actor, file, "
	    "sha256, consoles, body) VALUES (?6, ?1, ?2, ?3, ?4, "
	    "?5)";
	struct cust_state *st = ctx->st;
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(hash) + 1], why[512], detail[768];
	const char *file, *text;
	struct policy *p = NULL, *prev = NULL;
	struct ops_cred_plan *pl = NULL;
	struct cred_console_result res;
	char *pfile = NULL, *ptext = NULL;
	sqlite3_stmt *s;
	long long id;
	size_t n;
	int r;

	if ((r = ops_req_str(req, "file", 1, &file)) != CUST_OK ||
	    (r = ops_req_str(req, "text", 1, &text)) != CUST_OK)
		return r;
	if ((r = ops_policy_checked(file, text, &p, why, sizeof(why))) != CUST_OK) {
		int ar;
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", cust_errmsg());
		snprintf(detail, sizeof(detail), "file=%s %s", file, why);
		if ((ar = audit_append(state_audit(st), ctx->actor,
		    "policy.load", "policy", "refused", detail)) != CUST_OK)
			return ar;
		return cust_fail(r, "%s", msg);
	}
	n = policy_console_count(p);
	policy_free(p);
	p = NULL;
	/* The policy loaded until now, to tell which consoles' user names
	 * change (their credentials are made again). */
	if ((r = ops_policy_latest(st, &pfile, &ptext)) == CUST_OK &&
	    ops_policy_checked(pfile, ptext, &prev, why, sizeof(why)) !=
	    CUST_OK)
		prev = NULL;	/* refused by this checker: nothing to compare */
	else if (r != CUST_OK && r != CUST_E_NOTFOUND)
		goto out;
	cust_clearerr();
	crypto_hash_sha256(hash, (const unsigned char *)text, strlen(text));
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	snprintf(detail, sizeof(detail), "file=%s sha256=%s consoles=%zu",
	    file, hex, n);
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	if ((s = store_stmt(state_store(st), ins)) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_text(s, 1, ctx->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, file, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)n);
	sqlite3_bind_text(s, 5, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "store the policy")) != CUST_OK)
		goto fail;
	id = sqlite3_last_insert_rowid(store_db(state_store(st)));
	if ((r = store_row_reseal(state_store(st), STORE_RESEAL_POLICY, id)) !=
	    CUST_OK)
		goto fail;
	if ((r = audit_append(state_audit(st), ctx->actor, "policy.load",
	    "policy",
	    "ok", detail)) != CUST_OK || (r = store_commit(state_store(st))) !=
	    CUST_OK)
		goto fail;
	/* Then the console credentials of every device, in batches: a sync
	 * cut short is finished by credential.sync (or the next load). */
	if ((r = ops_cred_plan_open(st, prev, &pl)) != CUST_OK ||
	    (r = ops_cred_plan_sync(ctx, pl, 0, 0, &res)) != CUST_OK) {
		r = cust_fail(r, "policy %s is loaded (id %lld), but its console "
		    "credentials are not all synced: %s (run custodyctl "
		    "credential sync)", file, id, cust_errmsg());
		goto out;
	}
	r = ops_reply(json_pack("{s:I, s:s, s:s, s:I, s:o}", "id",
	    (json_int_t)id, "file", file, "sha256", hex, "consoles",
	    (json_int_t)n, "credentials", ops_cred_counts(&res)), resp);
	goto out;
fail:
	store_rollback(state_store(st));
out:
	ops_cred_plan_free(pl);
	policy_free(prev);
	free(pfile);
	free(ptext);
	return r;
}

/* The latest loaded policy (ops_int.h). */
int
ops_policy_latest(struct cust_state *st, char **file_out, char **text_out)
{
	sqlite3_stmt *s = store_stmt(state_store(st), "SELECT file, body, "
	    STORE_CHECK(STORE_ROW_POLICY) " FROM policy ORDER BY id DESC "
	    "LIMIT 1");
	int rc, r = CUST_OK;

	*file_out = *text_out = NULL;
	if (s == NULL)
		return CUST_E_DB;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*file_out = strdup((const char *)sqlite3_column_text(s, 0));
		*text_out = strdup((const char *)sqlite3_column_text(s, 1));
		if (*file_out == NULL || *text_out == NULL)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
	} else if (rc == SQLITE_DONE) {
		r = cust_fail(CUST_E_NOTFOUND, "no policy is loaded: give a "
		    "policy file, or load one with custodyctl policy load");
	} else {
		r = store_err(state_store(st), "read the loaded policy");
	}
	sqlite3_reset(s);
	return r;
}

/* The latest loaded policy, checked (ops_int.h). */
int
ops_policy_usable(struct cust_state *st, struct policy **out)
{
	char *file = NULL, *text = NULL, why[512];
	int r;

	*out = NULL;
	r = ops_policy_latest(st, &file, &text);
	if (r == CUST_OK)
		r = ops_policy_checked(file, text, out, why, sizeof(why));
	if (r == CUST_E_NOTFOUND || r == CUST_E_PARSE || r == CUST_E_VIOLATION) {
		cust_clearerr();
		r = CUST_OK;
	}
	free(file);
	free(text);
	return r;
}

/*
 * The latest policy as this thread last parsed and checked it
 * (ops_policy_current()). Its key is the row's id, file name and sha256
 * column, read again at every call (one indexed row, no body, no MAC):
 * another load makes a new row, a changed row a new digest, so another
 * process's change is never used unseen. The memo itself was read with
 * its row MAC checked; a body altered behind a kept digest only keeps the
 * authentic text in use. One per thread, as states are: never shared.
 */
struct policy_memo {
	int64_t id;
	char sha[65];
	char *file;
	struct policy *p;	/* NULL: none usable */
	int valid;
};

static pthread_key_t memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;
static int memo_key_ok;

static void
memo_free(void *arg)
{
	struct policy_memo *m = arg;

	if (m == NULL)
		return;
	policy_free(m->p);
	free(m->file);
	free(m);
}

static void
memo_init(void)
{
	memo_key_ok = pthread_key_create(&memo_key, memo_free) == 0;
}

/* This thread's memo, or NULL (no memory: the caller parses). */
static struct policy_memo *
memo_get(void)
{
	struct policy_memo *m;

	(void)pthread_once(&memo_once, memo_init);
	if (!memo_key_ok)
		return NULL;
	if ((m = pthread_getspecific(memo_key)) == NULL &&
	    (m = calloc(1, sizeof(*m))) != NULL &&
	    pthread_setspecific(memo_key, m) != 0) {
		free(m);
		m = NULL;
	}
	return m;
}

/* The latest policy, checked, borrowed (ops_int.h). */
int
ops_policy_current(struct cust_state *st, const struct policy **out)
{
	struct policy_memo *m = memo_get();
	struct policy *p = NULL;
	char *file = NULL, *text = NULL, why[512];
	const char *sha, *f;
	sqlite3_stmt *s;
	int64_t id;
	int rc, r;

	*out = NULL;
	if (m == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	s = store_stmt(state_store(st), "SELECT id, sha256, file FROM policy "
	    "ORDER BY id DESC LIMIT 1");
	if (s == NULL)
		return CUST_E_DB;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return CUST_OK;		/* none loaded */
	}
	if (rc != SQLITE_ROW) {
		r = store_err(state_store(st), "read the loaded policy");
		sqlite3_reset(s);
		return r;
	}
	id = sqlite3_column_int64(s, 0);
	sha = (const char *)sqlite3_column_text(s, 1);
	f = (const char *)sqlite3_column_text(s, 2);
	if (m->valid && m->id == id && sha != NULL && f != NULL &&
	    strcmp(m->sha, sha) == 0 && strcmp(m->file, f) == 0) {
		sqlite3_reset(s);
		*out = m->p;
		return CUST_OK;
	}
	sqlite3_reset(s);
	/* Parse and check it again, its row MAC checked, and remember it
	 * under the key of what was read (not of the row seen above, which
	 * another load may have followed since). */
	policy_free(m->p);
	free(m->file);
	memset(m, 0, sizeof(*m));
	s = store_stmt(state_store(st), "SELECT id, sha256, file, body, "
	    STORE_CHECK(STORE_ROW_POLICY) " FROM policy ORDER BY id DESC "
	    "LIMIT 1");
	if (s == NULL)
		return CUST_E_DB;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return CUST_OK;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(state_store(st), "read the loaded policy");
		sqlite3_reset(s);
		return r;
	}
	id = sqlite3_column_int64(s, 0);
	snprintf(m->sha, sizeof(m->sha), "%s", (const char *)
	    sqlite3_column_text(s, 1));
	file = strdup((const char *)sqlite3_column_text(s, 2));
	text = strdup((const char *)sqlite3_column_text(s, 3));
	sqlite3_reset(s);
	if (file == NULL || text == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = ops_policy_checked(file, text, &p, why, sizeof(why));
	if (r == CUST_E_PARSE || r == CUST_E_VIOLATION) {
		cust_clearerr();	/* authorizes nobody, as usable */
		r = CUST_OK;
	}
	if (r != CUST_OK)
		goto out;
	m->id = id;
	m->file = file;
	file = NULL;
	m->p = p;
	m->valid = 1;
	*out = p;
out:
	free(file);
	free(text);
	return r;
}

struct plan_all {
	struct policy *p;
	json_t *devices;
	int err;
	int mode;	/* enum policy_sid_mode: directory.ad acl_sid */
	json_t *synced;	/* ops_acl_synced(): as policy apply plans */
};

static int
plan_one(void *arg, json_t *dev)
{
	struct plan_all *a = arg;
	json_t *plan;

	a->err = policy_plan_synced(a->p, json_string_value(json_object_get(
	    dev, "fqdn")), json_object_get(dev, "tags"),
	    (enum policy_sid_mode)a->mode, a->synced, &plan);
	if (a->err == CUST_OK && json_array_append_new(a->devices, plan) != 0)
		a->err = cust_fail(CUST_E_NOMEM, "out of memory");
	return a->err != CUST_OK;
}

static int
op_plan(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct plan_all a = { NULL, NULL, CUST_OK, POLICY_SID_AUTO, NULL };
	struct ops_acl_sid sidcfg;
	const char *file, *text, *fqdn, *after;
	char *sfile = NULL, *stext = NULL, why[512];
	json_t *dev = NULL, *rows = NULL, *next;
	long long limit;
	size_t i, n, over = 0;
	int all, r;

	if ((r = ops_req_str(req, "file", 0, &file)) != CUST_OK ||
	    (r = ops_req_str(req, "text", 0, &text)) != CUST_OK ||
	    (r = ops_req_str(req, "device", 0, &fqdn)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK ||
	    (r = ops_req_str(req, "after", 0, &after)) != CUST_OK ||
	    (r = ops_req_limit(req, &limit)) != CUST_OK)
		return r;
	if ((fqdn == NULL) == !all)
		return cust_fail(CUST_E_INVAL, "give either 'device' or 'all'");
	if (text == NULL) {
		if ((r = ops_policy_latest(ctx->st, &sfile, &stext)) != CUST_OK)
			return r;
		file = sfile;
		text = stext;
	}
	if ((r = ops_policy_checked(file ? file : "policy", text, &a.p, why,
	    sizeof(why))) != CUST_OK)
		goto out;
	if ((r = ops_acl_sid_config(ctx, &sidcfg)) != CUST_OK ||
	    (r = dir_ad_list(ctx->st, &rows)) != CUST_OK ||
	    (r = ops_acl_synced(rows, sidcfg.prefix, &a.synced)) != CUST_OK)
		goto out;
	a.mode = sidcfg.mode;
	if ((a.devices = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (fqdn != NULL) {
		if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK)
			goto out;
		(void)plan_one(&a, dev);
	} else {	/* one page (include/ops.h), by FQDN */
		r = cred_device_page(ctx->st, NULL, after, (size_t)limit,
		    plan_one, &a);
	}
	if (r != CUST_OK || (r = a.err) != CUST_OK)
		goto out;
	n = json_array_size(a.devices);
	for (i = 0; i < n; i++)
		over += json_is_false(json_object_get(json_array_get(a.devices,
		    i), "within_limits"));
	next = all && n == (size_t)limit ? json_incref(json_object_get(
	    json_array_get(a.devices, n - 1), "device")) : json_null();
	r = ops_reply(json_pack("{s:s, s:O, s:I, s:o}", "policy", file ? file :
	    "policy", "devices", a.devices, "over_limits", (json_int_t)over,
	    "next", next), resp);
out:
	json_decref(rows);
	json_decref(a.synced);
	json_decref(dev);
	json_decref(a.devices);
	policy_free(a.p);
	free(sfile);
	free(stext);
	return r;
}

const struct ops_entry ops_policy_table[] = {
	{ "policy.load", op_load, OPS_IDENTITY, OPS_ADMIN, OPS_RES_NONE },
	{ "policy.plan", op_plan, 0, OPS_ADMIN | OPS_AUDITOR, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
