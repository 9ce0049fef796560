/* SPDX-License-Identifier: MIT */
/* tests/unit/sched/test_job.c - jobs: a rotation stopped by an error or by
 * the death of its process is resumable and finishes without doing any
 * device twice; listing and paging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "cred.h"
#include "err.h"
#include "job.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#define NDEV 2500	/* three batches */

static int64_t ids[NDEV];

static int
setup(void **state)
{
	struct tu_fx *f;
	struct cred_device_spec spec = { 0 };
	char fqdn[64];
	size_t i;

	if (tu_fx_setup(state) != 0)
		return -1;
	f = *state;
	if (store_begin(state_store(f->st)) != CUST_OK)	/* one commit */
		return -1;
	for (i = 0; i < NDEV; i++) {
		snprintf(fqdn, sizeof(fqdn), "d%05zu.corp.example", i);
		spec.fqdn = fqdn;
		if (cred_device_add(f->st, "t", &spec, 16, &ids[i]) != CUST_OK)
			return -1;
	}
	return store_commit(state_store(f->st)) == CUST_OK ? 0 : -1;
}

static const struct job_rotate_spec admin = { "admin", 16, 0, 0 };

static json_t *
show(struct cust_state *st, int64_t id)
{
	json_t *j = NULL;

	assert_int_equal(job_show(st, id, 0, 10, &j), CUST_OK);
	return j;
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long
jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* An error stops the job after its first batch: 'failed', its message
 * says how to resume, and resuming does the other two batches only. */
static void
test_failed_resumed(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	json_t *sel = json_pack("{s:b}", "all", 1), *j;
	int64_t id = 0;
	size_t left = 0;

	/* A fault after the first batch: the 1001st item cannot be written. */
	tu_sql(f->st, "CREATE TEMP TRIGGER boom BEFORE INSERT ON job_item "
	    "WHEN (SELECT count(*) FROM job_item) >= 1000 BEGIN "
	    "SELECT RAISE(ABORT, 'injected fault'); END");
	/* An error, not "refusals" (the fault is a constraint, which the
	 * store reports as a conflict). */
	assert_int_equal(job_rotate(f->st, "t", sel, ids, NDEV, &admin, 0,
	    NULL, NULL, &id, &res), CUST_E_INTERNAL);
	assert_true(id > 0);
	if (strstr(cust_errmsg(), "custodyctl job resume") == NULL)
		fail_msg("%s", cust_errmsg());
	j = show(f->st, id);
	assert_string_equal(jstr(j, "state"), "failed");
	assert_true(json_is_true(json_object_get(j, "resumable")));
	assert_int_equal(jint(j, "done"), 1000);
	assert_int_equal(jint(j, "total"), NDEV);
	assert_non_null(strstr(jstr(j, "message"), "injected fault"));
	json_decref(j);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret "
	    "WHERE state = 'pending'"), 1000);

	tu_sql(f->st, "DROP TRIGGER boom");
	assert_int_equal(job_resume(f->st, "t", id, 0, NULL, NULL, &left,
	    &res), CUST_OK);
	assert_int_equal(left, NDEV - 1000);
	assert_int_equal(res.rotated, NDEV - 1000);
	assert_int_equal(res.refused, 0);
	j = show(f->st, id);
	assert_string_equal(jstr(j, "state"), "done");
	assert_false(json_is_true(json_object_get(j, "resumable")));
	assert_int_equal(jint(j, "done"), NDEV);
	assert_int_equal(jint(json_object_get(j, "results"), "ok"), NDEV);
	json_decref(j);
	/* Every device once: one new version each, never two. */
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret "
	    "WHERE state = 'pending'"), NDEV);
	assert_int_equal(tu_sql_int(f->st, "SELECT max(version) FROM secret"),
	    2);
	/* Done: not again. */
	assert_int_equal(job_resume(f->st, "t", id, 0, NULL, NULL, &left,
	    &res), CUST_E_CONFLICT);
	assert_int_equal(left, 0);
	assert_int_equal(job_resume(f->st, "t", id + 1, 0, NULL, NULL, &left,
	    &res), CUST_E_NOTFOUND);
	json_decref(sel);
}

/* A 'running' job whose process is gone (a pid that no longer exists, or
 * one that exists with another start time) is found interrupted; one of
 * this very process is left alone. */
static void
test_sweep(void **state)
{
	struct tu_fx *f = *state;
	char sql[512];
	size_t found = 0;
	json_t *j;
	pid_t dead;

	dead = (pid_t)tu_dead_pid();
	snprintf(sql, sizeof(sql), "INSERT INTO job(id, kind, selector, "
	    "params, state, actor, pid, pstart, total, targets, created, "
	    "changed) VALUES (1, 'password.rotate', '{}', '{\"kind\": "
	    "\"admin\", \"length\": 16, \"replace_pending\": false}', "
	    "'running', 't', %d, 1, 1, x'%016llx', 0, 0), (2, "
	    "'password.rotate', '{}', '{}', 'running', 't', %d, 1, 0, x'', "
	    "0, 0)", (int)dead, (long long)ids[0], (int)getpid());
	tu_sql(f->st, sql);
	/* Job 2 claims this process but with another start time: a pid
	 * reused since. */
	assert_int_equal(job_sweep(f->st, &found), CUST_OK);
	assert_int_equal(found, 2);
	j = show(f->st, 1);
	assert_string_equal(jstr(j, "state"), "interrupted");
	assert_true(json_is_true(json_object_get(j, "resumable")));
	assert_non_null(strstr(jstr(j, "message"), "ended before it "
	    "finished"));
	json_decref(j);
	assert_int_equal(job_sweep(f->st, &found), CUST_OK);
	assert_int_equal(found, 0);
}

/* Listing: newest first, paged by id. */
static void
test_list(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	json_t *sel = json_pack("{s:s}", "tag", "none"), *arr = NULL;
	int64_t id[3];
	int i;

	for (i = 0; i < 3; i++) {
		int r = job_rotate(f->st, "t", sel, ids, 5, &admin, 0, NULL,
		    NULL, &id[i], &res);

		assert_true(r == CUST_OK || r == CUST_E_CONFLICT);
	}
	assert_int_equal(job_list(f->st, 0, 2, &arr), CUST_OK);
	assert_int_equal(json_array_size(arr), 2);
	assert_int_equal(jint(json_array_get(arr, 0), "id"), id[2]);
	assert_int_equal(jint(json_array_get(arr, 1), "id"), id[1]);
	assert_string_equal(jstr(json_object_get(json_array_get(arr, 0),
	    "selector"), "tag"), "none");
	json_decref(arr);
	assert_int_equal(job_list(f->st, id[1], 2, &arr), CUST_OK);
	assert_int_equal(json_array_size(arr), 1);
	assert_int_equal(jint(json_array_get(arr, 0), "id"), id[0]);
	json_decref(arr);
	/* The second and third were refused (already pending): done all the
	 * same, with those results. */
	arr = show(f->st, id[2]);
	assert_string_equal(jstr(arr, "state"), "done");
	assert_int_equal(jint(json_object_get(arr, "results"), "refused"), 5);
	json_decref(arr);
	json_decref(sel);
}

/* An import runs as a job: 'done' with its count in the transaction that
 * publishes it; stopped by a bad row 'failed', nothing imported, and not
 * resumable (its input is not kept); its process dead while staging,
 * 'interrupted' and abandoned by the sweep (its staged devices deleted). */
static void
test_import_job(void **state)
{
	struct tu_fx *f = *state;
	static const char good[] = "fqdn\nimp1.corp.example\nimp2.corp.example\n";
	static const char bad[] = "fqdn\nimp3.corp.example\n-bad-\n";
	json_t *sel = json_pack("{s:s}", "test", "import"), *j;
	struct cred_rotate_result res;
	int64_t id = 0, id2 = 0;
	size_t count = 9, left, found;
	char sql[512];
	pid_t dead;

	assert_int_equal(job_import(f->st, "t", sel, good, strlen(good), 16,
	    &id, &count), CUST_OK);
	assert_int_equal(count, 2);
	assert_true(id > 0);
	j = show(f->st, id);
	assert_string_equal(jstr(j, "kind"), JOB_KIND_IMPORT);
	assert_string_equal(jstr(j, "state"), "done");
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
	assert_true(json_is_integer(json_object_get(json_object_get(j,
	    "params"), "import")));
	json_decref(j);

	assert_int_equal(job_import(f->st, "t", sel, bad, strlen(bad), 16,
	    &id2, &count), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "line 3"));
	j = show(f->st, id2);
	assert_string_equal(jstr(j, "state"), "failed");
	assert_false(json_is_true(json_object_get(j, "resumable")));
	assert_non_null(strstr(jstr(j, "message"), "line 3"));
	json_decref(j);
	assert_int_equal(job_resume(f->st, "t", id2, 0, NULL, NULL, &left,
	    &res), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "not resumable"));
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device WHERE "
	    "fqdn = 'imp3.corp.example'"), 0);

	/* What a process killed while staging leaves: its job running, its
	 * import staging, one staged device. */
	dead = (pid_t)tu_dead_pid();
	snprintf(sql, sizeof(sql), "INSERT INTO job(id, kind, selector, "
	    "params, state, actor, pid, pstart, total, targets, created, "
	    "changed) VALUES (90, 'device.import', '{}', '{\"length\": 16}', "
	    "'running', 't', %d, 1, 1, x'', 0, 0);"
	    "INSERT INTO device_import(id, state, actor, pid, pstart, count, "
	    "created) VALUES (91, 'staging', 't', %d, 1, 1, 0);"
	    "INSERT INTO device(fqdn, state, created, import_id) VALUES "
	    "('imp4.corp.example', 'active', 0, 91)", (int)dead, (int)dead);
	tu_sql(f->st, sql);
	assert_int_equal(job_sweep(f->st, &found), CUST_OK);
	assert_int_equal(found, 1);
	j = show(f->st, 90);
	assert_string_equal(jstr(j, "state"), "interrupted");
	assert_false(json_is_true(json_object_get(j, "resumable")));
	assert_non_null(strstr(jstr(j, "message"), "abandoned"));
	json_decref(j);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device WHERE "
	    "fqdn = 'imp4.corp.example'"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM "
	    "device_import"), 0);
	json_decref(sel);
}

/* password verify runs as a job with one result per device and kind:
 * 'ok', or 'problem' naming what is wrong; not resumable. */
static void
test_verify_job(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	json_t *out = NULL, *j;
	int64_t id = 0;
	size_t left;
	char sql[256];

	assert_int_equal(job_verify(f->st, "t", &id, &out), CUST_OK);
	assert_true(id > 0);
	assert_int_equal(jint(out, "devices"), NDEV);
	json_decref(out);
	j = show(f->st, id);
	assert_string_equal(jstr(j, "kind"), JOB_KIND_VERIFY);
	assert_string_equal(jstr(j, "state"), "done");
	assert_int_equal(jint(j, "total"), NDEV);
	assert_int_equal(jint(j, "done"), NDEV);
	assert_int_equal(jint(json_object_get(j, "results"), "ok"), 2 * NDEV);
	assert_false(json_is_true(json_object_get(j, "resumable")));
	json_decref(j);

	/* One altered secret: its device and kind is a problem, the rest ok,
	 * and the check still ran to the end. */
	snprintf(sql, sizeof(sql), "UPDATE secret SET sealed = x'00' WHERE "
	    "device_id = %lld AND kind = 'mebx'", (long long)ids[7]);
	tu_sql(f->st, sql);
	assert_int_equal(job_verify(f->st, "t", &id, &out), CUST_E_VIOLATION);
	json_decref(out);
	j = show(f->st, id);
	assert_string_equal(jstr(j, "state"), "done");
	assert_int_equal(jint(json_object_get(j, "results"), "ok"),
	    2 * NDEV - 1);
	assert_int_equal(jint(json_object_get(j, "results"), "problem"), 1);
	json_decref(j);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM job_item WHERE "
	    "job_id = %lld AND device_id = %lld AND kind = 'mebx' AND result = "
	    "'problem' AND detail LIKE 'altered%%'", (long long)id,
	    (long long)ids[7]);
	assert_int_equal(tu_sql_int(f->st, sql), 1);
	assert_int_equal(job_resume(f->st, "t", id, 0, NULL, NULL, &left,
	    &res), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "not resumable"));
}

/* The parts custodyd's job threads use: a job started here is taken up
 * by job_take_own() (not claimed again, its targets without an item),
 * which refuses any job not running in this process; job_interrupt()
 * leaves it resumable by job_take(); job_item_ids() lists the devices of
 * a result; a rotation that pushes says so in its params, resumed too. */
static void
test_own_interrupt(void **state)
{
	struct tu_fx *f = *state;
	struct job_rotate_spec push = { "admin", 16, 0, 1 };
	struct cred_rotate_result res;
	json_t *sel = json_pack("{s:b}", "all", 1), *params = json_object();
	json_t *p = NULL, *j;
	int64_t id = 0, *sorted = NULL, *got = NULL, rid = 0;
	size_t m = 0, n = 0, total = 0;

	assert_int_equal(job_start(f->st, "t", JOB_KIND_PUSH, sel, params, ids,
	    10, &id, &sorted, &m), CUST_OK);
	free(sorted);
	assert_int_equal(job_item_add(f->st, id, ids[0], "admin", "ok", 0,
	    NULL), CUST_OK);
	assert_int_equal(job_take_own(f->st, id, JOB_KIND_PUSH, &p, &got, &n,
	    &total), CUST_OK);
	assert_int_equal(n, 9);
	assert_int_equal(total, 10);
	assert_int_equal(got[0], ids[1]);
	free(got);
	json_decref(p);
	/* Still running: job_take() cannot claim it, nor job_take_own()
	 * another kind. */
	assert_int_equal(job_take(f->st, id, JOB_KIND_PUSH, &p, &got, &n,
	    &total), CUST_E_CONFLICT);
	assert_int_equal(job_take_own(f->st, id, JOB_KIND_ROTATE, &p, &got,
	    &n, &total), CUST_E_CONFLICT);
	assert_int_equal(job_interrupt(f->st, id, "stopping"), CUST_OK);
	j = show(f->st, id);
	assert_string_equal(jstr(j, "state"), "interrupted");
	assert_string_equal(jstr(j, "message"), "stopping");
	assert_true(json_is_true(json_object_get(j, "resumable")));
	json_decref(j);
	/* Not running here any more: job_take_own() refuses it. */
	assert_int_equal(job_take_own(f->st, id, JOB_KIND_PUSH, &p, &got, &n,
	    &total), CUST_E_CONFLICT);
	assert_int_equal(job_take(f->st, id, JOB_KIND_PUSH, &p, &got, &n,
	    &total), CUST_OK);
	assert_int_equal(n, 9);
	free(got);
	json_decref(p);
	assert_int_equal(job_item_ids(f->st, id, "ok", &got, &n), CUST_OK);
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[0]);
	free(got);

	/* A rotation that pushes records it. */
	assert_int_equal(job_rotate(f->st, "t", sel, ids, 3, &push, 0, NULL,
	    NULL, &rid, &res), CUST_OK);
	j = show(f->st, rid);
	assert_true(json_is_true(json_object_get(json_object_get(j, "params"),
	    "push")));
	json_decref(j);
	assert_int_equal(job_item_ids(f->st, rid, "ok", &got, &n), CUST_OK);
	assert_int_equal(n, 3);
	free(got);
	json_decref(sel);
	json_decref(params);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failed_resumed, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify_job, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_job, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_own_interrupt, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_list, setup,
		    tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
