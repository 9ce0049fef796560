/* SPDX-License-Identifier: MIT */
/* src/sched/job.c - jobs: bulk work with per-device results that survives
 * the death of its process (include/job.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "cred.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "util.h"

int
job_sweep(struct cust_state *st, size_t *found_out)
{
	static const char sel[] = "SELECT id, pid, pstart FROM job WHERE "
	    "state = 'running'";
	static const char upd[] = "UPDATE job SET state = 'interrupted', "
	    "changed = ?3, pid = NULL, pstart = NULL, message = 'its process "
	    "(pid ' || ?2 || ') ended before it finished' || CASE kind WHEN '"
	    JOB_KIND_IMPORT "' THEN ': abandoned, nothing of it was "
	    "imported (run the import again)' ELSE '' END WHERE id = ?1 AND "
	    "state = 'running' AND pid = ?2";
	int64_t dead[64];
	size_t n = 0, i, found = 0;
	sqlite3_stmt *s;
	int rc, r = CUST_E_INTERNAL;

	if (found_out != NULL)
		*found_out = 0;
	do {
		/* The usual answer, "nothing died", costs one read (by the
		 * partial index of running jobs) and no write lock. */
		if ((s = store_stmt(state_store(st), sel)) == NULL)
			return CUST_E_DB;
		n = 0;
		while (n < 64 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			long long pid = sqlite3_column_int64(s, 1);

			if (util_proc_start(pid) != sqlite3_column_int64(s, 2)) {
				dead[n++] = sqlite3_column_int64(s, 0);
				dead[n++] = pid;
			}
		}
		if (n < 64 && rc != SQLITE_DONE) {
			r = store_err(state_store(st), "cannot read the jobs");
			sqlite3_reset(s);
			return r;
		}
		sqlite3_reset(s);
		if (n == 0)
			break;
		/* The update re-checks state and pid: a job resumed in
		 * between by another process is left alone. */
		if ((r = store_begin(state_store(st))) != CUST_OK)
			return r;
		for (i = 0; i < n; i += 2) {
			if ((s = store_stmt(state_store(st), upd)) == NULL) {
				r = CUST_E_DB;
				goto fail;
			}
			sqlite3_bind_int64(s, 1, dead[i]);
			sqlite3_bind_int64(s, 2, dead[i + 1]);
			sqlite3_bind_int64(s, 3, util_now());
			if ((r = store_step_done(state_store(st), s,
			    "mark a job interrupted")) != CUST_OK)
				goto fail;
			log_info("job %lld was interrupted: its process (pid "
			    "%lld) is gone", (long long)dead[i],
			    (long long)dead[i + 1]);
		}
		if ((r = store_commit(state_store(st))) != CUST_OK)
			return r;
		found += n / 2;
	} while (n == 64);
	/* An import is bulk work too: one whose process died is undone (or,
	 * published, finished) here. */
	if ((r = cred_import_sweep(st, NULL)) != CUST_OK)
		return r;
	if (found_out != NULL)
		*found_out = found;
	return CUST_OK;
fail:
	store_rollback(state_store(st));
	return r;
}

/* The hooks of a rotation job: one item row per device and kind, in the
 * batch's own transaction; progress passed on to the caller's. */
struct run {
	struct cust_state *st;
	int64_t job;
	void (*progress)(void *arg, size_t done, size_t total);
	void *arg;
};

static void
run_progress(void *arg, size_t done, size_t total)
{
	struct run *run = arg;

	if (run->progress != NULL)
		run->progress(run->arg, done, total);
}

static int
item(void *arg, int64_t device_id, const char *kind, int64_t version,
    int err)
{
	struct run *run = arg;

	/* Tests: a rotation job killed in its first batch (nothing of it
	 * committed), then resumed. */
	util_test_crash("rotate-item");
	/* cred's message: names the device, kind and version. */
	return job_item_add(run->st, run->job, device_id, kind, err == CUST_OK ?
	    "ok" : err == CUST_E_CONFLICT ? "refused" : "missing", err ==
	    CUST_OK ? version : 0, err == CUST_OK ? NULL : cust_errmsg());
}

/* Whether every target of job id has its item (the work ran to the end;
 * refusals are items too). */
static int
complete(struct cust_state *st, int64_t id)
{
	static const char sel[] = "SELECT (SELECT count(DISTINCT device_id) "
	    "FROM job_item WHERE job_id = ?1) = total FROM job WHERE id = ?1";
	sqlite3_stmt *s = store_stmt(state_store(st), sel);
	int done = 0;

	if (s == NULL)
		return 0;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) == SQLITE_ROW)
		done = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return done;
}

/* Set the end state of job id: 'done' when r is OK, or CUST_E_CONFLICT
 * (refusals) with every target done; else 'failed' with the error (a
 * constraint error is CUST_E_CONFLICT too, hence the count). r is
 * returned, the thread's error message kept. */
static int
finish(struct cust_state *st, int64_t id, int r)
{
	static const char upd[] = "UPDATE job SET state = ?2, changed = ?3, "
	    "message = ?4, pid = NULL, pstart = NULL WHERE id = ?1";
	char msg[1024];
	sqlite3_stmt *s;
	int fr, done;

	snprintf(msg, sizeof(msg), "%s", r == CUST_OK ? "" : cust_errmsg());
	if (store_in_txn(state_store(st)))
		store_rollback(state_store(st));
	done = r == CUST_OK || (r == CUST_E_CONFLICT && complete(st, id));
	if ((s = store_stmt(state_store(st), upd)) == NULL)
		fr = CUST_E_DB;
	else {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, done ? "done" : "failed", -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, util_now());
		if (r == CUST_OK)
			sqlite3_bind_null(s, 4);
		else
			sqlite3_bind_text(s, 4, msg, -1, SQLITE_STATIC);
		fr = store_step_done(state_store(st), s,
		    "record the end of a job");
	}
	if (fr != CUST_OK)
		log_warnx("job %lld: could not record its end: %s",
		    (long long)id, cust_errmsg());
	/* A conflict that stopped the work is not "refusals": callers read
	 * CUST_E_CONFLICT as a finished rotation with refusals. */
	if (!done && r == CUST_E_CONFLICT)
		r = CUST_E_INTERNAL;
	if (done && r != CUST_OK)
		cust_fail(r, "%s", msg);
	else if (r != CUST_OK)
		cust_fail(r, "%s (job %lld stopped; 'custodyctl job resume "
		    "%lld' finishes it)", msg, (long long)id, (long long)id);
	return r;
}

static int
run_rotate(struct cust_state *st, const char *actor, int64_t id,
    const int64_t *ids, size_t n, const struct job_rotate_spec *spec,
    int want_items, void (*progress)(void *, size_t, size_t), void *arg,
    struct cred_rotate_result *res)
{
	struct run run = { st, id, progress, arg };
	struct cred_rotate_hooks h = { run_progress, item, &run };

	return finish(st, id, cred_rotate_with(st, actor, ids, n, spec->kind,
	    spec->pwlen, spec->replace_pending, want_items, &h, res));
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Claim job id for this process (pid, start time), in the open
 * transaction; CUST_OK only when this call moved it to 'running'. */
static int
claim(struct cust_state *st, int64_t id)
{
	static const char upd[] = "UPDATE job SET state = 'running', pid = ?2, "
	    "pstart = ?3, changed = ?4, message = NULL WHERE id = ?1 AND "
	    "(state = 'interrupted' OR state = 'failed')";
	sqlite3_stmt *s = store_stmt(state_store(st), upd);
	int r;

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)getpid());
	sqlite3_bind_int64(s, 3, util_proc_start((long long)getpid()));
	sqlite3_bind_int64(s, 4, util_now());
	if ((r = store_step_done(state_store(st), s, "claim a job")) != CUST_OK)
		return r;
	if (sqlite3_changes(store_db(state_store(st))) != 1)
		return cust_fail(CUST_E_CONFLICT, "job %lld is not resumable "
		    "(it is running or done)", (long long)id);
	return CUST_OK;
}

int
job_start(struct cust_state *st, const char *actor, const char *kind,
    json_t *selector, json_t *params, const int64_t *ids, size_t n,
    int64_t *id_out, int64_t **sorted_out, size_t *m_out)
{
	static const char ins[] = "INSERT INTO job(kind, selector, params, "
	    "state, actor, pid, pstart, total, targets, created, changed) "
	    "VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?9)";
	char *sel = NULL, *par = NULL;
	json_free_t jfree = free;
	unsigned char *blob = NULL;
	int64_t *sorted = NULL;
	size_t i, m = 0;
	sqlite3_stmt *s;
	int r = CUST_E_INTERNAL;

	*id_out = 0;
	*sorted_out = NULL;
	*m_out = 0;
	if ((r = job_sweep(st, NULL)) != CUST_OK)
		return r;
	if ((sorted = malloc((n ? n : 1) * sizeof(*sorted))) == NULL ||
	    (blob = malloc((n ? n : 1) * 8)) == NULL ||
	    (sel = json_dumps(selector, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL || params == NULL || (par = json_dumps(params, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (n > 0)
		memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_id);
	for (i = 0; i < n; i++)		/* a device named twice: once */
		if (m == 0 || sorted[i] != sorted[m - 1])
			sorted[m++] = sorted[i];
	for (i = 0; i < m; i++)
		util_be64_put(blob + 8 * i, (uint64_t)sorted[i]);
	if ((s = store_stmt(state_store(st), ins)) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, par, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)getpid());
	sqlite3_bind_int64(s, 6, util_proc_start((long long)getpid()));
	sqlite3_bind_int64(s, 7, (sqlite3_int64)m);
	sqlite3_bind_blob(s, 8, blob, (int)(8 * m), SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "record a job")) != CUST_OK)
		goto out;
	*id_out = sqlite3_last_insert_rowid(store_db(state_store(st)));
	*sorted_out = sorted;
	sorted = NULL;
	*m_out = m;
out:
	free(sorted);
	free(blob);
	/* json_dumps() allocates with jansson's allocator (cust_init()). */
	json_get_alloc_funcs(NULL, &jfree);
	jfree(sel);
	jfree(par);
	return r;
}

int
job_item_add(struct cust_state *st, int64_t job, int64_t device_id,
    const char *kind, const char *result, int64_t version, const char *detail)
{
	static const char ins[] = "INSERT OR REPLACE INTO job_item(job_id, "
	    "device_id, kind, result, version, detail) VALUES (?, ?, ?, ?, ?, "
	    "?)";
	sqlite3_stmt *s = store_stmt(state_store(st), ins);

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, job);
	sqlite3_bind_int64(s, 2, device_id);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, result, -1, SQLITE_STATIC);
	if (version > 0)
		sqlite3_bind_int64(s, 5, version);
	else
		sqlite3_bind_null(s, 5);
	if (detail != NULL && *detail != '\0')
		sqlite3_bind_text(s, 6, detail, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 6);
	return store_step_done(state_store(st), s, "record a job item");
}

int
job_end(struct cust_state *st, int64_t job, int r)
{
	return finish(st, job, r);
}

int
job_rotate(struct cust_state *st, const char *actor, json_t *selector,
    const int64_t *ids, size_t n, const struct job_rotate_spec *spec,
    int want_items, void (*progress)(void *arg, size_t done, size_t total),
    void *arg, int64_t *id_out, struct cred_rotate_result *res)
{
	json_t *params = json_pack("{s:s, s:I, s:b}", "kind", spec->kind,
	    "length", (json_int_t)spec->pwlen, "replace_pending",
	    spec->replace_pending);

	/* A rotation pushed when it ends: its resumption pushes too. */
	if (params != NULL && spec->push && json_object_set_new(params,
	    "push", json_true()) != 0) {
		json_decref(params);
		params = NULL;
	}
	int64_t *sorted = NULL;
	size_t m = 0;
	int r;

	memset(res, 0, sizeof(*res));
	r = job_start(st, actor, JOB_KIND_ROTATE, selector, params, ids, n,
	    id_out, &sorted, &m);
	json_decref(params);
	if (r == CUST_OK)
		r = run_rotate(st, actor, *id_out, sorted, m, spec, want_items,
		    progress, arg, res);
	free(sorted);
	return r;
}

/* The hooks of an import job: progress in each batch, 'done' in the
 * publishing transaction. */
static int
import_staged(void *arg, int64_t import_id, size_t staged)
{
	static const char upd[] = "UPDATE job SET total = ?2, changed = ?3, "
	    "params = json_set(params, '$.import', ?4) WHERE id = ?1";
	struct run *run = arg;
	sqlite3_stmt *s = store_stmt(state_store(run->st), upd);

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, run->job);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)staged);
	sqlite3_bind_int64(s, 3, util_now());
	sqlite3_bind_int64(s, 4, import_id);
	return store_step_done(state_store(run->st), s, "record the import's "
	    "progress");
}

static int
import_published(void *arg, int64_t import_id, size_t count)
{
	static const char upd[] = "UPDATE job SET state = 'done', total = ?2, "
	    "changed = ?3, params = json_set(params, '$.import', ?4), message "
	    "= NULL, pid = NULL, pstart = NULL WHERE id = ?1";
	struct run *run = arg;
	sqlite3_stmt *s = store_stmt(state_store(run->st), upd);

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, run->job);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)count);
	sqlite3_bind_int64(s, 3, util_now());
	sqlite3_bind_int64(s, 4, import_id);
	return store_step_done(state_store(run->st), s,
	    "record the import's end");
}

int
job_import(struct cust_state *st, const char *actor, json_t *selector,
    const char *buf, size_t len, size_t pwlen, int64_t *id_out,
    size_t *count_out)
{
	static const char ins[] = "INSERT INTO job(kind, selector, params, "
	    "state, actor, pid, pstart, total, targets, created, changed) "
	    "VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, 0, x'', ?7, ?7)";
	static const char failed[] = "UPDATE job SET state = 'failed', "
	    "changed = ?2, message = ?3, pid = NULL, pstart = NULL WHERE id = "
	    "?1 AND state = 'running'";
	char *sel = NULL, par[64], msg[1024];
	json_free_t jfree = free;
	struct run run = { st, 0, NULL, NULL };
	struct cred_import_hooks h = { import_staged, import_published,
	    &run };
	sqlite3_stmt *s;
	int r;

	*id_out = 0;
	*count_out = 0;
	if ((r = job_sweep(st, NULL)) != CUST_OK)
		return r;
	if ((sel = json_dumps(selector, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	snprintf(par, sizeof(par), "{\"length\":%zu}", pwlen);
	if ((s = store_stmt(state_store(st), ins)) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_text(s, 1, JOB_KIND_IMPORT, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, par, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)getpid());
	sqlite3_bind_int64(s, 6, util_proc_start((long long)getpid()));
	sqlite3_bind_int64(s, 7, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "record a job")) != CUST_OK)
		goto out;
	run.job = *id_out = sqlite3_last_insert_rowid(store_db(state_store(st)));
	if ((r = cred_device_import_with(st, actor, buf, len, pwlen, &h,
	    count_out)) == CUST_OK)
		goto out;
	/* Nothing of it is visible (cred undid what it staged, or the sweep
	 * will): the job says so, keeping the import's own message. */
	snprintf(msg, sizeof(msg), "%s", cust_errmsg());
	if ((s = store_stmt(state_store(st), failed)) != NULL) {
		sqlite3_bind_int64(s, 1, run.job);
		sqlite3_bind_int64(s, 2, util_now());
		sqlite3_bind_text(s, 3, msg, -1, SQLITE_STATIC);
		if (store_step_done(state_store(st), s,
		    "record the end of a job") != CUST_OK)
			log_warnx("job %lld: could not record its end: %s",
			    (long long)run.job, cust_errmsg());
	}
	cust_fail(r, "%s", msg);
out:
	/* json_dumps() allocates with jansson's allocator (cust_init()). */
	json_get_alloc_funcs(NULL, &jfree);
	jfree(sel);
	return r;
}

/* A verify job's results, one per device and kind, gathered while the
 * check runs (it holds no transaction) and written after it. */
struct vitem {
	int64_t device_id;
	char kind[16];
	int64_t version;
	const char *problem;	/* static string, NULL: ok */
};

struct vrun {
	struct vitem *v;
	size_t n, cap;
};

static int
verify_item(void *arg, int64_t device_id, const char *kind, int64_t version,
    const char *problem)
{
	struct vrun *vr = arg;
	struct vitem *it, *nv;

	/* Rows of one device and kind come together: one result. */
	if (vr->n > 0 && (it = &vr->v[vr->n - 1])->device_id == device_id &&
	    strcmp(it->kind, kind) == 0) {
		if (it->problem == NULL)
			it->problem = problem;
		if (version > it->version)
			it->version = version;
		return CUST_OK;
	}
	if (vr->n == vr->cap) {
		vr->cap = vr->cap ? vr->cap * 2 : 4096;
		if ((nv = realloc(vr->v, vr->cap * sizeof(*nv))) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		vr->v = nv;
	}
	it = &vr->v[vr->n++];
	it->device_id = device_id;
	snprintf(it->kind, sizeof(it->kind), "%s", kind);
	it->version = version;
	it->problem = problem;
	return CUST_OK;
}

/* Write the results of job id, CRED_ROTATE_BATCH per transaction. */
static int
verify_record(struct cust_state *st, int64_t id, const struct vrun *vr)
{
	static const char ins[] = "INSERT OR REPLACE INTO job_item(job_id, "
	    "device_id, kind, result, version, detail) VALUES (?, ?, ?, ?, ?, "
	    "?)";
	const struct vitem *it;
	sqlite3_stmt *s;
	size_t i = 0, end;
	int r = CUST_OK;

	while (r == CUST_OK && i < vr->n) {
		if ((r = store_begin(state_store(st))) != CUST_OK)
			return r;
		end = i + CRED_ROTATE_BATCH < vr->n ? i + CRED_ROTATE_BATCH :
		    vr->n;
		for (; r == CUST_OK && i < end; i++) {
			it = &vr->v[i];
			if ((s = store_stmt(state_store(st), ins)) == NULL) {
				r = CUST_E_DB;
				break;
			}
			sqlite3_bind_int64(s, 1, id);
			sqlite3_bind_int64(s, 2, it->device_id);
			sqlite3_bind_text(s, 3, it->kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 4, it->problem ? "problem" : "ok",
			    -1, SQLITE_STATIC);
			if (it->version > 0)
				sqlite3_bind_int64(s, 5, it->version);
			else
				sqlite3_bind_null(s, 5);
			if (it->problem != NULL)
				sqlite3_bind_text(s, 6, it->problem, -1,
				    SQLITE_STATIC);
			else
				sqlite3_bind_null(s, 6);
			r = store_step_done(state_store(st), s,
			    "record a job item");
		}
		if (r == CUST_OK)
			r = store_commit(state_store(st));
		else
			store_rollback(state_store(st));
	}
	return r;
}

int
job_verify(struct cust_state *st, const char *actor, int64_t *id_out,
    json_t **out)
{
	static const char ins[] = "INSERT INTO job(kind, selector, params, "
	    "state, actor, pid, pstart, total, targets, created, changed) "
	    "VALUES (?1, '{\"all\":true}', '{}', 'running', ?2, ?3, ?4, 0, "
	    "x'', ?5, ?5)";
	static const char end[] = "UPDATE job SET state = ?2, total = ?3, "
	    "changed = ?4, message = ?5, pid = NULL, pstart = NULL WHERE id = "
	    "?1";
	struct vrun vr = { NULL, 0, 0 };
	char msg[1024] = "";
	sqlite3_stmt *s;
	int64_t id;
	int r, rr;

	*id_out = 0;
	*out = NULL;
	if ((r = job_sweep(st, NULL)) != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st), ins)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, JOB_KIND_VERIFY, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)getpid());
	sqlite3_bind_int64(s, 4, util_proc_start((long long)getpid()));
	sqlite3_bind_int64(s, 5, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "record a job")) != CUST_OK)
		return r;
	id = *id_out = sqlite3_last_insert_rowid(store_db(state_store(st)));
	r = cred_verify_with(st, actor, verify_item, &vr, out);
	/* Problems found are the check's result: it ran to the end. */
	if (r == CUST_OK || r == CUST_E_VIOLATION) {
		snprintf(msg, sizeof(msg), "%s", r == CUST_OK ? "" :
		    cust_errmsg());
		if ((rr = verify_record(st, id, &vr)) != CUST_OK) {
			json_decref(*out);
			*out = NULL;
			r = rr;
		}
	}
	if (r != CUST_OK && r != CUST_E_VIOLATION)
		snprintf(msg, sizeof(msg), "%s", cust_errmsg());
	if ((s = store_stmt(state_store(st), end)) != NULL) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, r == CUST_OK || r == CUST_E_VIOLATION ?
		    "done" : "failed", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, *out != NULL ? json_integer_value(
		    json_object_get(*out, "devices")) : 0);
		sqlite3_bind_int64(s, 4, util_now());
		if (*msg)
			sqlite3_bind_text(s, 5, msg, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 5);
		if (store_step_done(state_store(st), s,
		    "record the end of a job") != CUST_OK)
			log_warnx("job %lld: could not record its end: %s",
			    (long long)id, cust_errmsg());
	}
	if (r != CUST_OK)
		cust_fail(r, "%s", msg);
	free(vr.v);
	return r;
}

/* The targets of job id that have no item yet, sorted: new array in
 * *ids_out (free()), *n_out of them. */
static int
remaining(struct cust_state *st, int64_t id, const unsigned char *blob,
    size_t total, int64_t **ids_out, size_t *n_out)
{
	static const char sel[] = "SELECT DISTINCT device_id FROM job_item "
	    "WHERE job_id = ? ORDER BY device_id";
	int64_t *ids, t, done = INT64_MIN;
	size_t i, n = 0;
	sqlite3_stmt *s;
	int rc = SQLITE_ROW;

	*ids_out = NULL;
	*n_out = 0;
	if ((ids = malloc((total ? total : 1) * sizeof(*ids))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st), sel)) == NULL) {
		free(ids);
		return CUST_E_DB;
	}
	sqlite3_bind_int64(s, 1, id);
	/* Both in device order: one merge. */
	for (i = 0; i < total; i++) {
		t = (int64_t)util_be64_get(blob + 8 * i);
		while (rc == SQLITE_ROW && done < t)
			if ((rc = sqlite3_step(s)) == SQLITE_ROW)
				done = sqlite3_column_int64(s, 0);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			break;
		if (rc == SQLITE_DONE || done != t)
			ids[n++] = t;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = store_err(state_store(st), "cannot read the job's items");
		sqlite3_reset(s);
		free(ids);
		return rc;
	}
	sqlite3_reset(s);
	*ids_out = ids;
	*n_out = n;
	return CUST_OK;
}

/* job_take() (own 0) or job_take_own() (own 1: a job this process runs,
 * not claimed again). */
static int
take(struct cust_state *st, int64_t id, const char *want, int own,
    json_t **params_out, int64_t **ids_out, size_t *n_out, size_t *total_out)
{
	static const char sel[] = "SELECT kind, params, targets, total, "
	    "state = 'running' AND pid = ?2 AND pstart = ?3 FROM job WHERE "
	    "id = ?1";
	json_t *params = NULL;
	json_error_t jerr;
	int64_t *ids = NULL;
	const char *kind;
	size_t n = 0, total;
	sqlite3_stmt *s;
	int r = CUST_E_INTERNAL, rc;

	*params_out = NULL;
	*ids_out = NULL;
	*n_out = *total_out = 0;
	if ((r = job_sweep(st, NULL)) != CUST_OK)
		return r;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st), sel)) == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)getpid());
	sqlite3_bind_int64(s, 3, util_proc_start((long long)getpid()));
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? cust_fail(CUST_E_NOTFOUND, "no job %lld",
		    (long long)id) : store_err(state_store(st),
		    "cannot read the job");
		sqlite3_reset(s);
		goto fail;
	}
	if (own && !sqlite3_column_int(s, 4)) {
		r = cust_fail(CUST_E_CONFLICT, "job %lld is not running in "
		    "this process", (long long)id);
		sqlite3_reset(s);
		goto fail;
	}
	kind = (const char *)sqlite3_column_text(s, 0);
	total = (size_t)sqlite3_column_int64(s, 3);
	if (strcmp(kind, JOB_KIND_IMPORT) == 0 ||
	    strcmp(kind, JOB_KIND_VERIFY) == 0) {
		r = cust_fail(CUST_E_CONFLICT, strcmp(kind, JOB_KIND_IMPORT) ==
		    0 ? "job %lld is an import: it is not resumable (its input, "
		    "which may hold passwords, is not kept) and nothing of it "
		    "was imported; run the import again" : "job %lld is a "
		    "verify: it is not resumable (it changes nothing); run it "
		    "again", (long long)id);
		sqlite3_reset(s);
		goto fail;
	}
	if (strcmp(kind, want) != 0) {
		r = cust_fail(CUST_E_CONFLICT, "job %lld is a %s job, not %s",
		    (long long)id, kind, want);
		sqlite3_reset(s);
		goto fail;
	}
	if ((size_t)sqlite3_column_bytes(s, 2) != 8 * total ||
	    (params = json_loads((const char *)sqlite3_column_text(s, 1), 0,
	    &jerr)) == NULL) {
		sqlite3_reset(s);
		r = cust_fail(CUST_E_DB, "job %lld cannot be resumed: its "
		    "record is not one this version made", (long long)id);
		goto fail;
	}
	r = remaining(st, id, sqlite3_column_blob(s, 2), total, &ids, &n);
	sqlite3_reset(s);
	if (r != CUST_OK || (!own && (r = claim(st, id)) != CUST_OK))
		goto fail;
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto out;
	if (!own)
		log_info("job %lld resumed: %zu of %zu devices left",
		    (long long)id, n, total);
	*params_out = params;
	params = NULL;
	*ids_out = ids;
	ids = NULL;
	*n_out = n;
	*total_out = total;
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(params);
	free(ids);
	return r;
}

int
job_take(struct cust_state *st, int64_t id, const char *want,
    json_t **params_out, int64_t **ids_out, size_t *n_out, size_t *total_out)
{
	return take(st, id, want, 0, params_out, ids_out, n_out, total_out);
}

int
job_take_own(struct cust_state *st, int64_t id, const char *want,
    json_t **params_out, int64_t **ids_out, size_t *n_out, size_t *total_out)
{
	return take(st, id, want, 1, params_out, ids_out, n_out, total_out);
}

int
job_interrupt(struct cust_state *st, int64_t id, const char *why)
{
	static const char upd[] = "UPDATE job SET state = 'interrupted', "
	    "changed = ?3, message = ?2, pid = NULL, pstart = NULL WHERE id = "
	    "?1 AND state = 'running'";
	sqlite3_stmt *s;
	int r;

	if (store_in_txn(state_store(st)))
		store_rollback(state_store(st));
	if ((s = store_stmt(state_store(st), upd)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, util_now());
	if ((r = store_step_done(state_store(st), s, "mark a job "
	    "interrupted")) == CUST_OK)
		log_info("job %lld interrupted: %s", (long long)id, why);
	return r;
}

int
job_item_ids(struct cust_state *st, int64_t id, const char *result,
    int64_t **ids_out, size_t *n_out)
{
	static const char sel[] = "SELECT DISTINCT device_id FROM job_item "
	    "WHERE job_id = ? AND result = ? ORDER BY device_id";
	int64_t *ids = NULL, *nv;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int rc, r = CUST_OK;

	*ids_out = NULL;
	*n_out = 0;
	if ((s = store_stmt(state_store(st), sel)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, result, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			if ((nv = realloc(ids, cap * sizeof(*ids))) == NULL) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				break;
			}
			ids = nv;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read the job's items");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		free(ids);
		return r;
	}
	*ids_out = ids;
	*n_out = n;
	return CUST_OK;
}

int
job_kind_of(struct cust_state *st, int64_t id, char *kind, size_t len)
{
	static const char sel[] = "SELECT kind FROM job WHERE id = ?";
	sqlite3_stmt *s = store_stmt(state_store(st), sel);
	int rc, r;

	*kind = '\0';
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(kind, len, "%s", (const char *)sqlite3_column_text(s,
		    0));
	r = rc == SQLITE_ROW ? CUST_OK : rc == SQLITE_DONE ?
	    cust_fail(CUST_E_NOTFOUND, "no job %lld", (long long)id) :
	    store_err(state_store(st), "cannot read the job");
	sqlite3_reset(s);
	return r;
}

int
job_resume(struct cust_state *st, const char *actor, int64_t id,
    int want_items, void (*progress)(void *arg, size_t done, size_t total),
    void *arg, size_t *left_out, struct cred_rotate_result *res)
{
	struct job_rotate_spec spec;
	json_t *params = NULL;
	int64_t *ids = NULL;
	size_t n = 0, total;
	json_int_t len = 0;
	int r, replace = 0;

	memset(res, 0, sizeof(*res));
	*left_out = 0;
	if ((r = job_take(st, id, JOB_KIND_ROTATE, &params, &ids, &n,
	    &total)) != CUST_OK)
		return r;
	if (json_unpack(params, "{s:s, s:I, s:b}", "kind", &spec.kind,
	    "length", &len, "replace_pending", &replace) != 0) {
		r = finish(st, id, cust_fail(CUST_E_DB, "job %lld cannot be "
		    "resumed: its record is not one this version made",
		    (long long)id));
		goto out;
	}
	spec.pwlen = (size_t)len;
	spec.replace_pending = replace;
	spec.push = json_is_true(json_object_get(params, "push"));
	*left_out = n;
	r = run_rotate(st, actor, id, ids, n, &spec, want_items, progress,
	    arg, res);
out:
	json_decref(params);
	free(ids);
	return r;
}

/* A job row (the columns of JOB_COLS) as a new JSON object. */
/* An import has no items: done is its total once it is done. */
#define JOB_COLS "id, kind, state, actor, selector, params, total, " \
	"CASE WHEN kind = '" JOB_KIND_IMPORT "' THEN (CASE WHEN state = " \
	"'done' THEN total ELSE 0 END) ELSE (SELECT count(DISTINCT " \
	"device_id) FROM job_item WHERE job_id = job.id) END, created, " \
	"changed, message"

static json_t *
job_json(sqlite3_stmt *s)
{
	const char *state = (const char *)sqlite3_column_text(s, 2);
	const char *msg = (const char *)sqlite3_column_text(s, 10);

	return json_pack("{s:I, s:s, s:s, s:s, s:o?, s:o?, s:I, s:I, s:I, "
	    "s:I, s:s?, s:b}",
	    "id", (json_int_t)sqlite3_column_int64(s, 0),
	    "kind", (const char *)sqlite3_column_text(s, 1),
	    "state", state,
	    "actor", (const char *)sqlite3_column_text(s, 3),
	    "selector", json_loads((const char *)sqlite3_column_text(s, 4), 0,
	    NULL),
	    "params", json_loads((const char *)sqlite3_column_text(s, 5), 0,
	    NULL),
	    "total", (json_int_t)sqlite3_column_int64(s, 6),
	    "done", (json_int_t)sqlite3_column_int64(s, 7),
	    "created", (json_int_t)sqlite3_column_int64(s, 8),
	    "changed", (json_int_t)sqlite3_column_int64(s, 9),
	    "message", msg,
	    "resumable", (strcmp(state, "interrupted") == 0 ||
	    strcmp(state, "failed") == 0) && (strcmp((const char *)
	    sqlite3_column_text(s, 1), JOB_KIND_ROTATE) == 0 ||
	    strcmp((const char *)sqlite3_column_text(s, 1), JOB_KIND_PUSH) ==
	    0 || strcmp((const char *)sqlite3_column_text(s, 1),
	    JOB_KIND_APPLY) == 0 || strcmp((const char *)sqlite3_column_text(
	    s, 1), JOB_KIND_PROVISION) == 0 || strcmp((const char *)
	    sqlite3_column_text(s, 1), JOB_KIND_KERBEROS) == 0));
}

int
job_list(struct cust_state *st, int64_t before, size_t limit, json_t **out)
{
	static const char sel[] = "SELECT " JOB_COLS " FROM job WHERE id < ?1 "
	    "ORDER BY id DESC LIMIT ?2";
	json_t *arr = NULL, *o;
	sqlite3_stmt *s;
	int rc, r;

	*out = NULL;
	if ((r = job_sweep(st, NULL)) != CUST_OK)
		return r;
	if ((arr = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st), sel)) == NULL) {
		json_decref(arr);
		return CUST_E_DB;
	}
	sqlite3_bind_int64(s, 1, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((o = job_json(s)) == NULL || json_array_append_new(arr, o)
		    != 0) {
			sqlite3_reset(s);
			json_decref(arr);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	if (rc != SQLITE_DONE) {
		r = store_err(state_store(st), "cannot read the jobs");
		sqlite3_reset(s);
		json_decref(arr);
		return r;
	}
	sqlite3_reset(s);
	*out = arr;
	return CUST_OK;
}

int
job_show(struct cust_state *st, int64_t id, int64_t after, size_t limit,
    json_t **out)
{
	static const char one[] = "SELECT " JOB_COLS " FROM job WHERE id = ?";
	static const char counts[] = "SELECT result, count(*) FROM job_item "
	    "WHERE job_id = ? GROUP BY result";
	static const char items[] = "SELECT i.seq, d.fqdn, i.kind, i.result, "
	    "i.version, i.detail FROM job_item i LEFT JOIN device d ON d.id = "
	    "i.device_id WHERE i.job_id = ?1 AND i.seq > ?2 ORDER BY i.seq "
	    "LIMIT ?3";
	json_t *job = NULL, *res = NULL, *arr = NULL, *o;
	sqlite3_stmt *s;
	int rc, r = CUST_E_INTERNAL;

	*out = NULL;
	if ((r = job_sweep(st, NULL)) != CUST_OK)
		return r;
	if ((r = store_begin_read(state_store(st))) != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st), one)) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		job = job_json(s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE) {
		r = cust_fail(CUST_E_NOTFOUND, "no job %lld", (long long)id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(state_store(st), "cannot read the job");
		goto out;
	}
	if (job == NULL || (res = json_pack("{s:i, s:i, s:i}", "ok", 0,
	    "refused", 0, "missing", 0)) == NULL ||
	    (arr = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((s = store_stmt(state_store(st), counts)) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_object_set_new(res, (const char *)sqlite3_column_text(s,
		    0), json_integer(sqlite3_column_int64(s, 1)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE || (s = store_stmt(state_store(st),
	    items)) == NULL) {
		r = rc != SQLITE_DONE ? store_err(state_store(st),
		    "cannot read the job's items") : CUST_E_DB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		o = json_pack("{s:I, s:s?, s:s, s:s, s:o?, s:s?}",
		    "seq", (json_int_t)sqlite3_column_int64(s, 0),
		    "fqdn", (const char *)sqlite3_column_text(s, 1),
		    "kind", (const char *)sqlite3_column_text(s, 2),
		    "result", (const char *)sqlite3_column_text(s, 3),
		    "version", sqlite3_column_type(s, 4) == SQLITE_NULL ? NULL :
		    json_integer(sqlite3_column_int64(s, 4)),
		    "detail", (const char *)sqlite3_column_text(s, 5));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			sqlite3_reset(s);
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		r = store_err(state_store(st), "cannot read the job's items");
		goto out;
	}
	if (json_object_set_new(job, "results", res) != 0 ||
	    (res = NULL, json_object_set_new(job, "items", arr)) != 0) {
		arr = NULL;
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	arr = NULL;
	*out = job;
	job = NULL;
	r = CUST_OK;
out:
	if (store_in_txn(state_store(st)))
		store_rollback(state_store(st));
	json_decref(job);
	json_decref(res);
	json_decref(arr);
	return r;
}
