/* SPDX-License-Identifier: MIT */
/* tests/unit/sched/test_sched.c - the scheduler: rotations due by age,
 * spread by jitter, bounded by the batch, never twice while pending;
 * interrupted rotation jobs resumed by a tick; the service certificate
 * renewed before it expires; renewed client certificates never used
 * supersede the old ones when their grace period ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ca.h"
#include "cred.h"
#include "err.h"
#include "job.h"
#include "scheduler.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"
#include "cred/cred_int.h"

#define NDEV	200
#define T0	1900000000LL
#define DAY	86400LL

static int64_t ids[NDEV];

static int
setup(void **state)
{
	struct tu_fx *f;
	struct cred_device_spec spec = { 0 };
	char fqdn[64];
	size_t i;

	/* Stopped at T0 while the devices are added (adding them takes
	 * seconds on a loaded machine: each must be made at T0 exactly for
	 * test_due's bounds), then running from T0. */
	util_test_clock(0, T0);
	if (tu_fx_setup(state) != 0)
		return -1;
	f = *state;
	if (store_begin(state_store(f->st)) != CUST_OK)
		return -1;
	for (i = 0; i < NDEV; i++) {
		snprintf(fqdn, sizeof(fqdn), "s%04zu.corp.example", i);
		spec.fqdn = fqdn;
		if (cred_device_add(f->st, "t", &spec, 16, &ids[i]) != CUST_OK)
			return -1;
	}
	if (store_commit(state_store(f->st)) != CUST_OK)
		return -1;
	tu_clock_to(T0);
	return 0;
}

static size_t
due(struct cust_state *st, int64_t max_age, int64_t jitter, int64_t now,
    size_t limit)
{
	int64_t *v = NULL;
	size_t n = 0, i;

	assert_int_equal(sched_due(st, "admin", max_age, jitter, now, limit,
	    &v, &n), CUST_OK);
	for (i = 1; i < n; i++)
		assert_true(v[i - 1] < v[i]);
	free(v);
	return n;
}

/* Nothing is due before the maximum age, everything at it without
 * jitter; with jitter, due times spread over [age, age + jitter] and
 * only grow in time; max age 0 never rotates. */
static void
test_due(void **state)
{
	struct tu_fx *f = *state;
	size_t prev = 0, n;
	int64_t t;

	assert_int_equal(due(f->st, 90 * DAY, 0, T0 + 89 * DAY, 1000), 0);
	assert_int_equal(due(f->st, 90 * DAY, 0, T0 + 90 * DAY, 1000), NDEV);
	assert_int_equal(due(f->st, 90 * DAY, 0, T0 + 90 * DAY, 7), 7);
	assert_int_equal(due(f->st, 0, 0, T0 + 900 * DAY, 1000), 0);
	assert_int_equal(due(f->st, 90 * DAY, 10 * DAY, T0 + 90 * DAY - 1,
	    1000), 0);
	for (t = 0; t <= 10; t++) {
		n = due(f->st, 90 * DAY, 10 * DAY, T0 + (90 + t) * DAY, 1000);
		assert_true(n >= prev);
		prev = n;
	}
	assert_int_equal(prev, NDEV);
	/* Spread: halfway through the window, neither none nor all. */
	n = due(f->st, 90 * DAY, 10 * DAY, T0 + 95 * DAY, 1000);
	assert_true(n > NDEV / 5 && n < NDEV * 4 / 5);
}

/* A tick rotates one batch of the due devices as a job; the next tick
 * the rest; a device with a pending version is not due again, so ticks
 * never stack versions. */
static void
test_tick_rotates_in_batches(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	json_t *rep = NULL, *rot;

	p.max_age_admin = 30 * DAY;
	p.batch = 150;
	tu_clock_to(T0 + 31 * DAY);
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	rot = json_array_get(json_object_get(rep, "rotations"), 0);
	assert_non_null(rot);
	assert_int_equal(json_integer_value(json_object_get(rot, "rotated")),
	    150);
	assert_true(json_integer_value(json_object_get(rot, "job")) > 0);
	assert_int_equal(json_array_size(json_object_get(rep, "errors")), 0);
	/* The tick's totals (what custodyd's metrics count). */
	assert_int_equal(json_integer_value(json_object_get(rep, "rotated")),
	    150);
	assert_int_equal(json_integer_value(json_object_get(rep, "refused")),
	    0);
	json_decref(rep);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "kind = 'admin' AND state = 'pending'"), 150);

	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	rot = json_array_get(json_object_get(rep, "rotations"), 0);
	assert_int_equal(json_integer_value(json_object_get(rot, "rotated")),
	    NDEV - 150);
	json_decref(rep);
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "rotations")),
	    0);
	json_decref(rep);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "kind = 'admin' AND state = 'pending'"), NDEV);
	assert_int_equal(tu_sql_int(f->st, "SELECT max(version) FROM secret "
	    "WHERE kind = 'admin'"), 2);
	/* Audited as the scheduler. */
	assert_true(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor = 'scheduler'") > 0);
}

/* A confirmed rotation restarts the age: due again only a max age after
 * the confirmation, not after the first version. */
static void
test_age_from_confirmation(void **state)
{
	struct tu_fx *f = *state;

	tu_clock_to(T0 + 31 * DAY);
	assert_int_equal(cred_rotate(f->st, "t", ids, 1, "admin", 16, 0, 0,
	    NULL, NULL, &(struct cred_rotate_result){ 0 }), CUST_OK);
	tu_clock_to(T0 + 40 * DAY);
	assert_int_equal(cred_confirm(f->st, "t", "s0000.corp.example",
	    "admin", 2), CUST_OK);
	tu_clock_to(T0 + 61 * DAY);
	/* Every other device is due (30 days since T0), s0000 is not. */
	assert_int_equal(due(f->st, 30 * DAY, 0, util_now(), 1000), NDEV - 1);
	tu_clock_to(T0 + 70 * DAY);
	assert_int_equal(due(f->st, 30 * DAY, 0, util_now(), 1000), NDEV);
}

/* A rotation job whose process died is resumed by the next tick (when
 * resume_jobs is set) and finishes its devices once each. */
static void
test_tick_resumes(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	json_t *rep = NULL, *j = NULL;
	char sql[512];
	long long dead = tu_dead_pid();

	snprintf(sql, sizeof(sql), "INSERT INTO job(id, kind, selector, "
	    "params, state, actor, pid, pstart, total, targets, created, "
	    "changed) VALUES (7, 'password.rotate', '{}', '{\"kind\": "
	    "\"admin\", \"length\": 16, \"replace_pending\": false}', "
	    "'running', 't', %lld, 1, 2, x'%016llx%016llx', 0, 0)", dead,
	    (long long)ids[3], (long long)ids[4]);
	tu_sql(f->st, sql);
	/* Without resume_jobs the job stays as it is. */
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "resumed")), 0);
	json_decref(rep);
	p.resume_jobs = 1;
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(
	    rep, "resumed"), 0)), 7);
	assert_true(json_integer_value(json_object_get(rep, "rotated")) > 0);
	json_decref(rep);
	assert_int_equal(job_show(f->st, 7, 0, 10, &j), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
	    "done");
	json_decref(j);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "state = 'pending'"), 2);
	/* Done jobs are not resumed again. */
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "resumed")), 0);
	json_decref(rep);
}

/* Bad arguments are refused, not clamped. */
static void
test_bad_args(void **state)
{
	struct tu_fx *f = *state;
	int64_t *v = NULL;
	size_t n = 0;

	assert_int_equal(sched_due(f->st, "admin", DAY, -1, T0, 10, &v, &n),
	    CUST_E_INVAL);
	assert_int_equal(sched_due(f->st, "admin", DAY, 0, T0, 0, &v, &n),
	    CUST_E_INVAL);
	assert_null(v);
}

/* A tick whose caller takes no report still says what failed: the
 * message is the failing step's (read before the report is freed: under
 * ASan a read after the free fails this test). */
static void
test_tick_error_without_report(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	json_t *rep = NULL;

	p.max_age_admin = 30 * DAY;
	p.batch = 2000000;	/* over sched_due()'s bound: the step fails */
	tu_clock_to(T0 + 31 * DAY);
	assert_int_equal(sched_tick(f->st, "scheduler", &p, NULL),
	    CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "bad limit"));
	/* The same with a report: the same first error, listed. */
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep),
	    CUST_E_INVAL);
	assert_non_null(strstr(json_string_value(json_array_get(
	    json_object_get(rep, "errors"), 0)), "bad limit"));
	json_decref(rep);
}

/* A CA in f's state (ecdsa-p256). */
static void
ca_up(struct tu_fx *f)
{
	json_t *opts = json_pack("{s:s}", "key_type", "ecdsa-p256");
	json_t *resp = NULL;

	assert_int_equal(ca_init(f->st, opts, "t", &resp), CUST_OK);
	json_decref(opts);
	json_decref(resp);
}

/* One tick with p, asserted to succeed with no error: member key of its
 * report. */
static long long
tick_num(struct tu_fx *f, const struct sched_policy *p, const char *key)
{
	json_t *rep = NULL;
	long long v;

	assert_int_equal(sched_tick(f->st, "scheduler", p, &rep), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "errors")), 0);
	v = json_integer_value(json_object_get(rep, key));
	json_decref(rep);
	return v;
}

/* The service certificate's notAfter in st (the valid one). */
static int64_t
server_not_after(struct cust_state *st)
{
	return tu_sql_int(st, "SELECT not_after FROM cert WHERE kind = "
	    "'server' AND status = 'valid'");
}

/* A tick renews the service TLS certificate within server_renew_before
 * of its notAfter, once (the renewed one is not due again), audited as
 * the scheduler; before the window, or with 0, it does nothing. */
static void
test_tick_renews_server_cert(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	int64_t na;

	ca_up(f);
	na = server_not_after(f->st);
	p.server_renew_before = 30 * DAY;
	tu_clock_to(na - 31 * DAY);
	assert_int_equal(tick_num(f, &p, "server_renewed"), 0);
	assert_int_equal(server_not_after(f->st), na);
	/* In the window, but off (0): nothing. */
	tu_clock_to(na - 29 * DAY);
	p.server_renew_before = 0;
	assert_int_equal(tick_num(f, &p, "server_renewed"), 0);
	assert_int_equal(server_not_after(f->st), na);
	p.server_renew_before = 30 * DAY;
	assert_int_equal(tick_num(f, &p, "server_renewed"), 1);
	assert_true(server_not_after(f->st) > na);
	assert_int_equal(tick_num(f, &p, "server_renewed"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server'"), 2);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor = 'scheduler' AND action = 'ca.server-renew'"), 1);
}

/* A tick revokes (superseded) a client certificate whose renewal was not
 * used within CA_SUPERSEDE_GRACE, once, audited as the scheduler. */
static void
test_tick_supersedes(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	json_t *resp = NULL;
	int64_t t;

	ca_up(f);
	assert_int_equal(ca_console_add(f->st, "t", "ops", "ecdsa-p256", 0,
	    &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_console_renew(f->st, "t", "ops", NULL,
	    "ecdsa-p256", NULL, 0, 0, &resp), CUST_OK);
	json_decref(resp);
	t = util_now();
	assert_int_equal(tick_num(f, &p, "superseded"), 0);
	tu_clock_to(t + CA_SUPERSEDE_GRACE + 1);
	assert_int_equal(tick_num(f, &p, "superseded"), 1);
	assert_int_equal(tick_num(f, &p, "superseded"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM cert WHERE "
	    "holder = 'ops' AND status = 'valid'"), 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor = 'scheduler' AND action = 'cert.revoke'"), 1);
}

/* A tick makes a CRL again crl_refresh_before ahead of its nextUpdate
 * (ca crl --refresh's day when 0), once. */
static void
test_tick_crl_margin(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	int64_t next;

	ca_up(f);
	next = tu_sql_int(f->st, "SELECT min(crl_next, root_crl_next) FROM "
	    "ca_gen WHERE gen = 1");
	tu_clock_to(next - 2 * DAY);
	assert_int_equal(tick_num(f, &p, "crls"), 0);
	p.crl_refresh_before = 3 * DAY;
	assert_true(tick_num(f, &p, "crls") >= 1);
	assert_true(tu_sql_int(f->st, "SELECT min(crl_next, root_crl_next) "
	    "FROM ca_gen WHERE gen = 1") > next);
	assert_int_equal(tick_num(f, &p, "crls"), 0);
}

/* Give device ids[i] a current console:NAME credential v1 made at now. */
static void
console_cred(struct tu_fx *f, size_t i, const char *name)
{
	unsigned char pw[16] = "0123456789abcdef";
	char kind[CRED_KIND_MAX], fqdn[64];

	snprintf(fqdn, sizeof(fqdn), "s%04zu.corp.example", i);
	assert_int_equal(cred_console_kind(name, kind, sizeof(kind)), CUST_OK);
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	assert_int_equal(cred_secret_put(f->st, ids[i], fqdn, kind, 1,
	    "current", pw, sizeof(pw), util_now()), CUST_OK);
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
}

/* Console credentials past max_age_console get a pending version, one
 * job per console, only on the devices holding one; each console's
 * pending version holds back that console only. */
static void
test_tick_rotates_consoles(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	json_t *rep = NULL;

	console_cred(f, 0, "ops");
	console_cred(f, 1, "ops");
	console_cred(f, 1, "noc");
	tu_clock_to(T0 + 20 * DAY);
	console_cred(f, 2, "noc");	/* younger: not due at T0 + 31d */
	p.max_age_console = 30 * DAY;
	tu_clock_to(T0 + 31 * DAY);
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(rep, "rotations")),
	    2);
	assert_int_equal(json_array_size(json_object_get(rep, "errors")), 0);
	json_decref(rep);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "kind = 'console:ops' AND state = 'pending' AND version = 2"), 2);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "kind = 'console:noc' AND state = 'pending'"), 1);
	/* No admin password was touched, and nothing is due twice. */
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "state = 'pending'"), 3);
	assert_int_equal(tick_num(f, &p, "crls"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "state = 'pending'"), 3);
	/* Device 2's noc credential comes due later; device 1's pending
	 * noc version does not hold it back. */
	tu_clock_to(T0 + 51 * DAY);
	assert_int_equal(tick_num(f, &p, "crls"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "kind = 'console:noc' AND state = 'pending'"), 2);
	/* Off (0): nothing. */
	p.max_age_console = 0;
	tu_clock_to(T0 + 400 * DAY);
	assert_int_equal(tick_num(f, &p, "crls"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "state = 'pending'"), 4);
}

/* A console kind rotates only where the device holds it: no credential
 * the policy did not grant is made by a rotation. */
static void
test_console_rotate_held_only(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;

	console_cred(f, 0, "ops");
	assert_int_equal(cred_rotate(f->st, "t", ids, 2, "console:ops", 16, 0,
	    0, NULL, NULL, &res), CUST_E_CONFLICT);
	assert_int_equal(res.rotated, 1);
	assert_int_equal(res.missing, 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "kind = 'console:ops'"), 2);
	assert_int_equal(cred_rotate(f->st, "t", ids, 1, "console:bad name",
	    16, 0, 0, NULL, NULL, &res), CUST_E_INVAL);
}

/* The rate limit as devices per tick: rate x interval, at least 1,
 * bounded; 0 is no limit. */
static void
test_tick_budget(void **state)
{
	(void)state;
	assert_int_equal(sched_tick_budget(10, 60000), 600);
	assert_int_equal(sched_tick_budget(1, 1500), 1);
	assert_int_equal(sched_tick_budget(3, 100), 1);
	assert_int_equal(sched_tick_budget(100000, 3600000), 1000000);
	assert_int_equal(sched_tick_budget(0, 60000), 0);
	assert_int_equal(sched_tick_budget(7, 0), 1);
}

/* tick_max caps the devices a tick rotates over all kinds together:
 * the admin batch first, the MEBx one gets what is left. */
static void
test_tick_rate_limited(void **state)
{
	struct tu_fx *f = *state;
	struct sched_policy p = { 0 };
	json_t *rep = NULL, *rot;

	p.max_age_admin = 30 * DAY;
	p.max_age_mebx = 30 * DAY;
	p.batch = 50;
	p.tick_max = 70;
	tu_clock_to(T0 + 31 * DAY);
	assert_int_equal(sched_tick(f->st, "scheduler", &p, &rep), CUST_OK);
	rot = json_object_get(rep, "rotations");
	assert_int_equal(json_array_size(rot), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    rot, 0), "devices")), 50);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    rot, 1), "devices")), 20);
	json_decref(rep);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "state = 'pending'"), 70);
	/* Without it, a batch per kind. */
	p.tick_max = 0;
	assert_int_equal(tick_num(f, &p, "crls"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM secret WHERE "
	    "state = 'pending'"), 170);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_due, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_rotates_in_batches,
		    setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_age_from_confirmation,
		    setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_resumes, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_error_without_report,
		    setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_supersedes, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_renews_server_cert,
		    setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_crl_margin, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tick_rotates_consoles,
		    setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_console_rotate_held_only,
		    setup, tu_fx_teardown),
		cmocka_unit_test(test_tick_budget),
		cmocka_unit_test_setup_teardown(test_tick_rate_limited, setup,
		    tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
