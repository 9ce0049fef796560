/* SPDX-License-Identifier: MIT */
/* src/sched/sched.c - the scheduler's tick (include/scheduler.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "ca.h"
#include "cred.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "scheduler.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define SCHED_BATCH_DEFAULT	1000
#define SCHED_RESUME_MAX	16	/* interrupted jobs resumed per tick */
#define SCHED_CONSOLES_MAX	64	/* console kinds rotated per tick */

/* A current secret s (of device d) due at ?4 under max age ?2 and jitter
 * ?3 with no pending version of its kind. The jitter is a stable function
 * of the device id (Knuth's multiplicative hash), so a device's due time
 * does not move between ticks. */
#define SCHED_DUE_SQL \
	"s.state = 'current' AND d.state = 'active' " \
	"AND s.changed + ?2 + ((s.device_id * 2654435761) % (?3 + 1)) " \
	"<= ?4 AND NOT EXISTS (SELECT 1 FROM secret p WHERE " \
	"p.device_id = s.device_id AND p.kind = s.kind AND " \
	"p.state = 'pending')"

int
sched_due(struct cust_state *st, const char *kind, int64_t max_age,
    int64_t jitter, int64_t now, size_t limit, int64_t **ids_out,
    size_t *n_out)
{
	/* Aggregate read: the rotation that follows checks each row
	 * again. */
	static const char sel[] = "SELECT s.device_id FROM secret s "
	    "JOIN device d ON d.id = s.device_id WHERE s.kind = ?1 AND "
	    SCHED_DUE_SQL " ORDER BY s.device_id LIMIT ?5";
	struct store *db = state_store(st);
	sqlite3_stmt *s;
	int64_t *ids;
	size_t n = 0;
	int rc, r;

	*ids_out = NULL;
	*n_out = 0;
	if (limit == 0 || limit > 1000000 || jitter < 0 || max_age < 0)
		return cust_fail(CUST_E_INVAL, "scheduler: bad limit, age or "
		    "jitter");
	if (max_age == 0)
		return CUST_OK;
	if ((ids = calloc(limit, sizeof(*ids))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(db, sel)) == NULL) {
		free(ids);
		return CUST_E_DB;
	}
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, max_age);
	sqlite3_bind_int64(s, 3, jitter);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < limit)
		ids[n++] = sqlite3_column_int64(s, 0);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		r = store_err(db, "cannot find the devices due for rotation");
		sqlite3_reset(s);
		free(ids);
		return r;
	}
	sqlite3_reset(s);
	*ids_out = ids;
	*n_out = n;
	return CUST_OK;
}

/* Record the first error r of a step in the report and in *first. */
static void
step_failed(json_t *rep, int r, int *first)
{
	json_array_append_new(json_object_get(rep, "errors"),
	    json_string(cust_errmsg()));
	log_warnx("scheduler: %s", cust_errmsg());
	if (*first == CUST_OK)
		*first = r;
}

/* Resume the interrupted rotation jobs (a process that died mid-way,
 * custodyd's own before a restart included). */
/* Add a rotation's outcome to the report's totals ("rotated", "refused",
 * "missing": what custodyd's metrics count). */
static void
add_outcome(json_t *rep, const struct cred_rotate_result *res)
{
	static const char *const keys[] = { "rotated", "refused", "missing" };
	size_t v[3], i;

	v[0] = res->rotated;
	v[1] = res->refused;
	v[2] = res->missing;
	for (i = 0; i < 3; i++)
		json_object_set_new(rep, keys[i], json_integer(
		    json_integer_value(json_object_get(rep, keys[i])) +
		    (json_int_t)v[i]));
}

static void
resume_jobs(struct cust_state *st, const char *actor, json_t *rep,
    int *first)
{
	static const char sel[] = "SELECT id FROM job WHERE state = "
	    "'interrupted' AND kind = '" JOB_KIND_ROTATE "' ORDER BY id "
	    "LIMIT 16";	/* SCHED_RESUME_MAX */
	struct cred_rotate_result res;
	int64_t ids[SCHED_RESUME_MAX];
	size_t n = 0, i, left, found = 0;
	sqlite3_stmt *s;
	int rc, r;

	if ((r = job_sweep(st, &found)) != CUST_OK) {
		step_failed(rep, r, first);
		return;
	}
	json_object_set_new(rep, "swept", json_integer((json_int_t)found));
	if ((s = store_stmt(state_store(st), sel)) == NULL) {
		step_failed(rep, CUST_E_DB, first);
		return;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < SCHED_RESUME_MAX)
		ids[n++] = sqlite3_column_int64(s, 0);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		r = store_err(state_store(st), "cannot read the jobs");
		sqlite3_reset(s);
		step_failed(rep, r, first);
		return;
	}
	sqlite3_reset(s);
	for (i = 0; i < n; i++) {
		memset(&res, 0, sizeof(res));
		r = job_resume(st, actor, ids[i], 0, NULL, NULL, &left, &res);
		if (r != CUST_OK && r != CUST_E_CONFLICT) {
			step_failed(rep, r, first);
			continue;
		}
		json_array_append_new(json_object_get(rep, "resumed"),
		    json_integer(ids[i]));
		add_outcome(rep, &res);
		log_info("scheduler: resumed job %lld: %zu devices rotated, "
		    "%zu refused", (long long)ids[i], res.rotated,
		    res.refused);
	}
}

/* Renew the service TLS certificate when it expires within before
 * seconds (custodyd reloads it: src/daemon/tls.c). */
static void
renew_server(struct cust_state *st, const char *actor, int64_t before,
    json_t *rep, int *first)
{
	json_t *resp = NULL;
	int r;

	if ((r = ca_server_renew(st, actor, before, &resp)) != CUST_OK) {
		step_failed(rep, r, first);
		return;
	}
	if (json_is_true(json_object_get(resp, "renewed"))) {
		json_object_set_new(rep, "server_renewed", json_integer(1));
		log_info("scheduler: renewed the service TLS certificate "
		    "under generation %lld", (long long)json_integer_value(
		    json_object_get(resp, "generation")));
	}
	json_decref(resp);
}

/* Revoke the client certificates whose renewal's grace period ended
 * before the renewal was used (ca_supersede_sweep()). */
static void
supersede_due(struct cust_state *st, const char *actor, json_t *rep,
    int *first)
{
	size_t n = 0;
	int r;

	if ((r = ca_supersede_sweep(st, actor, &n)) != CUST_OK) {
		step_failed(rep, r, first);
		return;
	}
	json_object_set_new(rep, "superseded", json_integer((json_int_t)n));
	if (n > 0)
		log_info("scheduler: revoked %zu client certificates whose "
		    "renewal was not used within its grace period", n);
}

size_t
sched_tick_budget(unsigned rate_limit, int64_t interval_ms)
{
	int64_t n;

	if (rate_limit == 0)
		return 0;
	if (interval_ms < 1)
		interval_ms = 1;
	n = interval_ms > INT64_MAX / (int64_t)rate_limit ? INT64_MAX :
	    (int64_t)rate_limit * interval_ms / 1000;
	return n < 1 ? 1 : n > 1000000 ? 1000000 : (size_t)n;
}

/* Rotate the devices due for kind, one batch, within *left devices for
 * the tick (SIZE_MAX: no limit), which it lowers. */
static void
rotate_due(struct cust_state *st, const char *actor, const char *kind,
    int64_t max_age, const struct sched_policy *p, size_t *left, json_t *rep,
    int *first)
{
	size_t limit = p->batch ? p->batch : SCHED_BATCH_DEFAULT;

	struct cred_rotate_result res;
	struct job_rotate_spec spec;
	json_t *sel = NULL;
	int64_t *ids = NULL, job = 0;
	size_t n = 0;
	int r;

	if (max_age == 0 || *left == 0)
		return;
	if (limit > *left)
		limit = *left;
	r = sched_due(st, kind, max_age, p->jitter, util_now(), limit, &ids,
	    &n);
	if (r != CUST_OK) {
		step_failed(rep, r, first);
		return;
	}
	if (n == 0) {
		free(ids);
		return;
	}
	if (*left != SIZE_MAX)
		*left -= n;
	memset(&res, 0, sizeof(res));
	spec.kind = kind;
	spec.pwlen = p->pwlen ? p->pwlen : CRED_PW_DEFAULT;
	spec.replace_pending = 0;
	/* rotation.push: custodyd pushes it, and what resumes it after an
	 * interruption too. */
	spec.push = p->push && strcmp(kind, "admin") == 0;
	if ((sel = json_pack("{s:s, s:s, s:I, s:I}", "scheduled", kind,
	    "kind", kind, "max_age", (json_int_t)max_age, "jitter",
	    (json_int_t)p->jitter)) == NULL) {
		free(ids);
		step_failed(rep, cust_fail(CUST_E_NOMEM, "out of memory"),
		    first);
		return;
	}
	r = job_rotate(st, actor, sel, ids, n, &spec, 0, NULL, NULL, &job,
	    &res);
	json_decref(sel);
	free(ids);
	if (r != CUST_OK && r != CUST_E_CONFLICT) {
		step_failed(rep, r, first);
		return;
	}
	add_outcome(rep, &res);
	json_array_append_new(json_object_get(rep, "rotations"),
	    json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind", kind, "job",
	    (json_int_t)job, "devices", (json_int_t)n, "rotated",
	    (json_int_t)res.rotated, "refused", (json_int_t)res.refused));
	log_info("scheduler: job %lld rotated %s on %zu of %zu due devices",
	    (long long)job, kind, res.rotated, n);
}

/* The console kinds (console:NAME) with a device due under max_age, by
 * name, at most SCHED_CONSOLES_MAX, appended to kinds (JSON strings). */
static int
console_kinds_due(struct cust_state *st, int64_t max_age, int64_t jitter,
    int64_t now, json_t *kinds)
{
	static const char sel[] = "SELECT DISTINCT s.kind FROM secret s "
	    "JOIN device d ON d.id = s.device_id WHERE s.kind GLOB ?1 AND "
	    SCHED_DUE_SQL " ORDER BY s.kind LIMIT ?5";
	struct store *db = state_store(st);
	sqlite3_stmt *s;
	int rc, r = CUST_OK;

	if ((s = store_stmt(db, sel)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, CRED_KIND_CONSOLE "*", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, max_age);
	sqlite3_bind_int64(s, 3, jitter);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, SCHED_CONSOLES_MAX);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (json_array_append_new(kinds, json_string((const char *)
		    sqlite3_column_text(s, 0))) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(db, "cannot find the console credentials due");
	sqlite3_reset(s);
	return r;
}

/* Rotate the console credentials due, one batch per console. */
static void
rotate_consoles(struct cust_state *st, const char *actor,
    const struct sched_policy *p, size_t *left, json_t *rep, int *first)
{
	json_t *kinds, *k;
	size_t i;
	int r;

	if (p->max_age_console == 0 || *left == 0)
		return;
	if ((kinds = json_array()) == NULL) {
		step_failed(rep, cust_fail(CUST_E_NOMEM, "out of memory"),
		    first);
		return;
	}
	if ((r = console_kinds_due(st, p->max_age_console, p->jitter,
	    util_now(), kinds)) != CUST_OK)
		step_failed(rep, r, first);
	json_array_foreach(kinds, i, k)
		rotate_due(st, actor, json_string_value(k), p->max_age_console,
		    p, left, rep, first);
	json_decref(kinds);
}

int
sched_tick(struct cust_state *st, const char *actor,
    const struct sched_policy *p, json_t **report_out)
{
	json_t *rep;
	size_t crls = 0, left = p->tick_max ? p->tick_max : SIZE_MAX;
	int first = CUST_OK, r;

	if (report_out != NULL)
		*report_out = NULL;
	if ((rep = json_pack("{s:i, s:[], s:i, s:i, s:i, s:[], s:[], s:i, "
	    "s:i, s:i}", "swept", 0, "resumed", "crls", 0, "server_renewed", 0,
	    "superseded", 0,
	    "rotations", "errors", "rotated", 0, "refused", 0, "missing", 0))
	    == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (p->resume_jobs)
		resume_jobs(st, actor, rep, &first);
	if ((r = p->crl_refresh_before > 0 ? ca_crl_refresh_within(st, actor,
	    p->crl_refresh_before, &crls) : ca_crl_refresh(st, actor, &crls))
	    != CUST_OK)
		step_failed(rep, r, &first);
	json_object_set_new(rep, "crls", json_integer((json_int_t)crls));
	if (p->server_renew_before > 0)
		renew_server(st, actor, p->server_renew_before, rep, &first);
	supersede_due(st, actor, rep, &first);
	rotate_due(st, actor, "admin", p->max_age_admin, p, &left, rep,
	    &first);
	rotate_due(st, actor, "mebx", p->max_age_mebx, p, &left, rep, &first);
	rotate_consoles(st, actor, p, &left, rep, &first);
	/* The first error's message, read from the report before it goes
	 * (the caller may not want it). */
	if (first != CUST_OK && json_array_size(json_object_get(rep,
	    "errors")) > 0)
		cust_fail(first, "%s", json_string_value(json_array_get(
		    json_object_get(rep, "errors"), 0)));
	if (report_out != NULL)
		*report_out = rep;
	else
		json_decref(rep);
	return first;
}
