/* SPDX-License-Identifier: MIT */
/* src/daemon/scheduler.c - custodyd's scheduler thread: sched_tick()
 * (include/scheduler.h) on a state of its own, at start and then every
 * sched_interval_ms: interrupted rotation jobs are resumed where they
 * stopped (custodyd's own after a restart, or a killed custodyctl's), due
 * CRLs are made again, passwords past their maximum age are rotated
 * (when the configuration sets one; none by default), and so are the AD
 * device objects (rotation.kerberos with directory.ad).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cred.h"
#include "directory.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "ops.h"
#include "state.h"
#include "util.h"
#include "daemon_int.h"

#define SCHED_ACTOR	"scheduler"
/* A push left 'pushed' this long (seconds) is not under way any more: a
 * push's requests (a Get, the change, the proof, two Gets reconciling)
 * each end within AMT_TIMEOUT_MS. */
#define SCHED_RECONCILE_AGE	600
/* An AD device object whose scheduled rotation failed (the device
 * unreachable, no TLS yet, the DC refusing) is tried again after this
 * long (seconds), not every tick: each try is a job, and one that set
 * the password in AD again is one more kvno. */
#define SCHED_KRB_RETRY		3600

/*
 * op with req as the scheduler (ctx: its identity and state), a job it
 * starts handed to the job threads (jobs.c) rather than run on this
 * thread: *resp_out the operation's reply; *job_out the job handed over
 * (0: none).
 */
static int
call(struct daemon *d, struct ops_ctx *ctx, const char *op, json_t *req,
    json_t **resp_out, long long *job_out)
{
	struct daemon_jobref jr = { d, 0 };
	int r;

	ctx->jobs = daemon_job_hook;
	ctx->job_arg = &jr;
	r = ops_call(ctx, op, req, resp_out);
	ctx->jobs = NULL;
	ctx->job_arg = NULL;
	*job_out = jr.id;
	if (jr.id != 0 && daemon_jobs_submit(d, jr.id, op, req, *resp_out,
	    ctx->who, NULL) != CUST_OK) {
		log_warnx("scheduler: job %lld not handed over (%s): custodyd's "
		    "next start resumes it", jr.id, cust_errmsg());
		*job_out = 0;
	}
	return r;
}

/* The kinds of jobs that talk to devices, which sched_tick() (src/sched,
 * no network side) leaves to the ops layer: resumed here. */
static int
device_job(const char *kind)
{
	return kind != NULL && (strcmp(kind, JOB_KIND_PUSH) == 0 ||
	    strcmp(kind, JOB_KIND_APPLY) == 0 ||
	    strcmp(kind, JOB_KIND_PROVISION) == 0 ||
	    strcmp(kind, JOB_KIND_KERBEROS) == 0);
}

/* Resume the interrupted device jobs (pushes, policy applies, TLS
 * provisioning, AMT Kerberos) among the newest 100 (job.resume):
 * network work, so sched_tick() (src/sched) leaves them to the ops
 * layer, which hands pushes to the job threads (an apply, a provisioning
 * or an AMT Kerberos job runs on this thread, the tick after it
 * waiting). */
static void
resume_pushes(struct daemon *d, struct ops_ctx *ctx)
{
	json_t *req = json_pack("{s:i}", "limit", 100), *resp = NULL, *j;
	json_t *rr, *pr;
	long long job;
	size_t i;

	/* SIGTERM: a job interrupted now is resumed by the next start. */
	if (atomic_load(&d->jobs_stopping))
		goto out;
	if (req == NULL || ops_call(ctx, "job.list", req, &resp) != CUST_OK)
		goto out;
	json_array_foreach(json_object_get(resp, "jobs"), i, j) {
		const char *kind = json_string_value(json_object_get(j,
		    "kind"));

		if (!device_job(kind) || strcmp(json_string_value(
		    json_object_get(j, "state")), "interrupted") != 0)
			continue;
		rr = json_pack("{s:O}", "id", json_object_get(j, "id"));
		pr = NULL;
		if (rr != NULL && call(d, ctx, "job.resume", rr, &pr, &job) ==
		    CUST_OK)
			log_info("scheduler: resumed %s job %lld%s", kind,
			    (long long)json_integer_value(json_object_get(j,
			    "id")), job ? " (job threads)" : "");
		else
			log_warnx("scheduler: resume %s job %lld: %s", kind,
			    (long long)json_integer_value(json_object_get(j,
			    "id")), cust_errmsg());
		json_decref(rr);
		json_decref(pr);
	}
out:
	json_decref(req);
	json_decref(resp);
}

/* Settle the admin versions left 'pushed' for min_age seconds against
 * their devices (device.reconcile), then resume interrupted push jobs,
 * as the scheduler. */
static void
reconcile(struct daemon *d, long long min_age)
{
	struct ops_identity *id = NULL;
	struct ops_ctx ctx = { 0 };
	json_t *req = json_pack("{s:I}", "min_age", (json_int_t)min_age);
	json_t *resp = NULL;

	if (req == NULL || ops_identity_new(OPS_ID_LOCAL, SCHED_ACTOR, &id) !=
	    CUST_OK) {
		log_warnx("scheduler: reconcile: %s", req ? cust_errmsg() :
		    "out of memory");
		goto out;
	}
	ctx.st = d->sched_st;
	ctx.who = id;
	if (ops_call(&ctx, "device.reconcile", req, &resp) != CUST_OK)
		log_warnx("scheduler: reconcile: %s", cust_errmsg());
	else if (json_integer_value(json_object_get(resp, "checked")) > 0)
		log_info("scheduler: %lld pushes with an unknown outcome "
		    "checked, %lld settled", (long long)json_integer_value(
		    json_object_get(resp, "checked")), (long long)
		    json_integer_value(json_object_get(resp, "settled")));
	if (resp != NULL && json_integer_value(json_object_get(json_object_get(
	    resp, "consoles"), "checked")) > 0)
		log_info("scheduler: console users with an unknown outcome "
		    "checked on %lld devices, %lld not settled", (long long)
		    json_integer_value(json_object_get(json_object_get(resp,
		    "consoles"), "checked")), (long long)json_integer_value(
		    json_object_get(json_object_get(resp, "consoles"),
		    "failed")));
	resume_pushes(d, &ctx);
out:
	json_decref(req);
	json_decref(resp);
	ops_identity_free(id);
	cust_clearerr();
}

/* Push the admin passwords rotation job job made (its items 'ok', page by
 * page) as a push job (device.push), as the scheduler: rotation.push
 * (new: every admin rotation of the tick), and a resumed rotation whose
 * params say push (password rotate --push, or rotation.push's, that an
 * interruption stopped before its push). */
static void
push_rotated(struct daemon *d, int64_t job, int resumed)
{
	struct ops_identity *id = NULL;
	struct ops_ctx ctx = { 0 };
	json_t *page = NULL, *fqdns = json_array(), *req = NULL, *resp = NULL;
	json_t *it;
	int64_t after = 0;
	long long pj;
	size_t i, got;

	if (fqdns == NULL || ops_identity_new(OPS_ID_LOCAL, SCHED_ACTOR, &id) !=
	    CUST_OK)
		goto fail;
	if (resumed) {		/* a rotation that does not push: nothing */
		if (job_show(d->sched_st, job, 0, 1, &page) != CUST_OK)
			goto fail;
		if (!json_is_true(json_object_get(json_object_get(page,
		    "params"), "push")))
			goto out;
	}
	do {
		json_decref(page);
		page = NULL;
		if (job_show(d->sched_st, job, after, 1000, &page) != CUST_OK)
			goto fail;
		got = json_array_size(json_object_get(page, "items"));
		json_array_foreach(json_object_get(page, "items"), i, it) {
			after = json_integer_value(json_object_get(it, "seq"));
			if (strcmp(json_string_value(json_object_get(it,
			    "result")), "ok") == 0 && json_array_append(fqdns,
			    json_object_get(it, "fqdn")) != 0)
				goto fail;
		}
	} while (got == 1000);
	if (json_array_size(fqdns) == 0)
		goto out;
	ctx.st = d->sched_st;
	ctx.who = id;
	if ((req = json_pack("{s:O}", "fqdns", fqdns)) == NULL ||
	    call(d, &ctx, "device.push", req, &resp, &pj) != CUST_OK)
		goto fail;
	log_info("scheduler: push job %lld of rotation job %lld%s: %zu "
	    "rotated devices to push (job threads)", (long long)
	    json_integer_value(json_object_get(resp, "job")), (long long)job,
	    resumed ? " (resumed)" : "", json_array_size(fqdns));
	goto out;
fail:
	log_warnx("scheduler: push of rotation job %lld: %s", (long long)job,
	    cust_errmsg());
out:
	json_decref(page);
	json_decref(fqdns);
	json_decref(req);
	json_decref(resp);
	ops_identity_free(id);
	cust_clearerr();
}

/* Whether fqdn's scheduled object rotation waits (it failed less than
 * SCHED_KRB_RETRY ago). */
static int
krb_waits(struct daemon *d, const char *fqdn, int64_t now)
{
	json_t *at = json_object_get(d->krb_retry, fqdn);

	return at != NULL && json_integer_value(at) > now;
}

/* Entries of krb_retry that make nobody wait any more (their hour is
 * over: the device was tried again, or was removed, retired or rotated
 * otherwise meanwhile) dropped, so the map holds only the devices that
 * failed within the last SCHED_KRB_RETRY, not every device that ever
 * failed. Returns how many are left. */
static size_t
krb_prune(struct daemon *d, int64_t now)
{
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(d->krb_retry, tmp, k, v)
		if (!krb_waits(d, k, now))
			json_object_del(d->krb_retry, k);
	return json_object_size(d->krb_retry);
}

/* The outcome of the scheduled rotation of the devices fqdns (resp: the
 * op's reply, NULL when it failed as a whole): the failed ones wait
 * SCHED_KRB_RETRY, the others are tried whenever due. */
static void
krb_outcome(struct daemon *d, json_t *fqdns, json_t *resp)
{
	int64_t again = util_now() + SCHED_KRB_RETRY;
	json_t *v, *it;
	size_t i;

	if (d->krb_retry == NULL && (d->krb_retry = json_object()) == NULL)
		return;
	json_array_foreach(fqdns, i, v)		/* until the reply says */
		json_object_set_new(d->krb_retry, json_string_value(v),
		    json_integer(again));
	json_array_foreach(json_object_get(resp, "items"), i, it) {
		const char *res = json_string_value(json_object_get(it,
		    "result")), *f = json_string_value(json_object_get(it,
		    "fqdn"));

		if (res != NULL && f != NULL && (strcmp(res, "ok") == 0 ||
		    strcmp(res, "reconciled") == 0 || strcmp(res,
		    "not-due") == 0))
			json_object_del(d->krb_retry, f);
	}
}

/*
 * The AD device objects due for rotation (rotation.kerberos, directory.ad
 * object_max_age): found in the store first (dir_ad_devices_due(): no DC
 * connection, nothing audited), among the active devices, less those
 * whose last scheduled try failed within SCHED_KRB_RETRY; only when some
 * are due, device.kerberos --rotate --due over exactly those, as the
 * scheduler, a job run on this thread. A tick with nothing due costs no
 * job, no audit entry and no DC connection.
 */
static void
rotate_objects(struct daemon *d, const struct sched_policy *p)
{
	struct ops_identity *id = NULL;
	struct ops_ctx ctx = { 0 };
	json_t *due = NULL, *fqdns = NULL, *req = NULL, *resp = NULL, *f;
	int64_t dev, now = util_now();
	long long job;
	size_t i, batch = p->batch > 0 ? p->batch : 1000;
	int r;

	if (p->krb_max_age <= 0 || atomic_load(&d->jobs_stopping))
		return;
	if ((fqdns = json_array()) == NULL) {
		log_warnx("scheduler: AD device objects: out of memory");
		return;
	}
	/* a batch besides those waiting, so that they do not keep the
	 * others out */
	if (dir_ad_devices_due(d->sched_st, p->krb_max_age, batch +
	    krb_prune(d, now), &due) != CUST_OK)
		goto fail;
	json_array_foreach(due, i, f) {
		if (json_array_size(fqdns) >= batch)
			break;
		if (krb_waits(d, json_string_value(f), now))
			continue;
		/* a device removed or retired since: not ours to rotate */
		if ((r = cred_device_find(d->sched_st, json_string_value(f),
		    &dev)) == CUST_E_NOTFOUND) {
			cust_clearerr();
			continue;
		}
		if (r != CUST_OK || json_array_append(fqdns, f) != 0)
			goto fail;
	}
	if (json_array_size(fqdns) == 0)
		goto out;
	if (ops_identity_new(OPS_ID_LOCAL, SCHED_ACTOR, &id) != CUST_OK ||
	    (req = json_pack("{s:O, s:b, s:b}", "fqdns", fqdns, "rotate", 1,
	    "due", 1)) == NULL)
		goto fail;
	ctx.st = d->sched_st;
	ctx.who = id;
	r = call(d, &ctx, "device.kerberos", req, &resp, &job);
	krb_outcome(d, fqdns, r == CUST_OK ? resp : NULL);
	if (r != CUST_OK)
		goto fail;
	log_info("scheduler: AMT Kerberos job %lld: %zu AD device objects "
	    "due, %lld not rotated", (long long)json_integer_value(
	    json_object_get(resp, "job")), json_array_size(fqdns), (long long)
	    json_integer_value(json_object_get(resp, "failed")));
	goto out;
fail:
	log_warnx("scheduler: rotation of the AD device objects: %s%s",
	    cust_errmsg(), json_array_size(fqdns) > 0 ? " (tried again in an "
	    "hour)" : "");
out:
	json_decref(due);
	json_decref(fqdns);
	json_decref(req);
	json_decref(resp);
	ops_identity_free(id);
	cust_clearerr();
}

/* One tick; *interval_ms the wait before the next (read with the
 * policy, under the lock a SIGHUP reload holds while it changes d->conf). */
static void
tick(struct daemon *d, int *interval_ms)
{
	struct sched_policy p;
	json_t *rep = NULL, *e;
	size_t i;
	int r;

	pthread_mutex_lock(&d->sched_mu);	/* SIGHUP may change it */
	p = d->conf.sched;
	*interval_ms = d->conf.sched_interval_ms;
	pthread_mutex_unlock(&d->sched_mu);
	r = sched_tick(d->sched_st, SCHED_ACTOR, &p, &rep);
	metrics_rotations(rep);
	json_array_foreach(json_object_get(rep, "errors"), i, e)
		log_warnx("scheduler: %s", json_string_value(e));
	if (r != CUST_OK && json_array_size(json_object_get(rep, "errors")) ==
	    0)
		log_warnx("scheduler: %s", cust_errmsg());
	if (json_array_size(json_object_get(rep, "resumed")) > 0 ||
	    json_array_size(json_object_get(rep, "rotations")) > 0 ||
	    json_integer_value(json_object_get(rep, "crls")) > 0)
		log_info("scheduler: %zu jobs resumed, %lld CRLs made, %zu "
		    "rotation jobs", json_array_size(json_object_get(rep,
		    "resumed")), (long long)json_integer_value(
		    json_object_get(rep, "crls")), json_array_size(
		    json_object_get(rep, "rotations")));
	json_array_foreach(json_object_get(rep, "rotations"), i, e)
		if (p.push && strcmp(json_string_value(json_object_get(e,
		    "kind")), "admin") == 0)
			push_rotated(d, json_integer_value(json_object_get(e,
			    "job")), 0);
	/* Rotations resumed: pushed when they were started to be. */
	json_array_foreach(json_object_get(rep, "resumed"), i, e)
		push_rotated(d, json_integer_value(e), 1);
	rotate_objects(d, &p);
	json_decref(rep);
	cust_clearerr();
}

static void *
sched_main(void *arg)
{
	struct daemon *d = arg;
	struct timespec at;
	int stop, first = 1, ms = 0;

	for (;;) {
		/* At start-up every push left 'pushed' is one whose process
		 * died; later, only those older than any push takes. */
		reconcile(d, first ? 0 : SCHED_RECONCILE_AGE);
		first = 0;
		tick(d, &ms);
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += ms / 1000;
		at.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&d->sched_mu);
		while (!d->sched_stop && pthread_cond_timedwait(&d->sched_cv,
		    &d->sched_mu, &at) != ETIMEDOUT)
			;
		stop = d->sched_stop;
		pthread_mutex_unlock(&d->sched_mu);
		if (stop)
			break;
	}
	return NULL;
}

int
daemon_sched_start(struct daemon *d)
{
	pthread_condattr_t ca;
	int r;

	pthread_mutex_init(&d->sched_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->sched_cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((r = state_open(d->conf.state_dir, &d->sched_st)) != CUST_OK)
		return r;
	if ((r = pthread_create(&d->sched_thread, NULL, sched_main, d)) != 0)
		return cust_fail(CUST_E_INTERNAL, "pthread_create: %s",
		    strerror(r));
	d->sched_started = 1;
	return CUST_OK;
}

void
daemon_sched_stop(struct daemon *d)
{
	if (d->sched_started) {
		pthread_mutex_lock(&d->sched_mu);
		d->sched_stop = 1;
		pthread_cond_signal(&d->sched_cv);
		pthread_mutex_unlock(&d->sched_mu);
		pthread_join(d->sched_thread, NULL);
		d->sched_started = 0;
	}
	state_close(d->sched_st);
	d->sched_st = NULL;
	json_decref(d->krb_retry);
	d->krb_retry = NULL;
}
