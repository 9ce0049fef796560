/* SPDX-License-Identifier: MIT */
/* src/daemon/jobs.c - custodyd's job threads: the long part of a job that
 * talks to many devices (a push) runs here, not on the worker that took
 * the request nor on the scheduler thread (doc/internals/SERVICE.md
 * "Push jobs").
 *
 * The operation runs on its worker as usual with ctx->jobs set
 * (daemon_job_hook()): it records the job in the store ('running',
 * custodyd's pid) and answers at once; the worker then hands the job over
 * with daemon_jobs_submit(). A request that asked "async" is answered
 * 202 at once (the job's id, Location /v1/jobs/ID); any other waits,
 * parked here and holding no worker, for the reply the operation gives
 * when it runs the job in the call. conf.job_threads threads (each with
 * its own state) run the jobs in order; the rest wait in the queue, their
 * jobs 'running' with nothing done yet.
 *
 * SIGTERM (daemon_jobs_stopping()): a job stops at the next device
 * boundary (the devices under way finish) and is left 'interrupted', as
 * is every job still queued; custodyd's scheduler resumes them when it
 * starts again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "ops.h"
#include "state.h"
#include "daemon_int.h"

/* Jobs waiting for a thread at most; beyond, a new one is refused. */
#define JOBS_QUEUE_MAX	1024

struct djob {
	struct djob *next;
	int64_t id;
	char op[API_OP_MAX];
	json_t *req;			/* the operation's request */
	json_t *start;			/* its reply when it handed over */
	struct ops_identity *who;	/* who asked (a copy) */
	struct daemon_req *parked;	/* the client waiting, or NULL */
};

static void
djob_free(struct djob *j)
{
	if (j == NULL)
		return;
	json_decref(j->req);
	json_decref(j->start);
	ops_identity_free(j->who);
	free(j);
}

int
daemon_job_hook(void *arg, long long job)
{
	struct daemon_jobref *jr = arg;
	struct daemon *d = jr->d;
	size_t queued;

	if (jr->id != 0)
		return cust_fail(CUST_E_INTERNAL, "one job per request");
	pthread_mutex_lock(&d->jobs_mu);
	queued = d->jobs_queued;
	pthread_mutex_unlock(&d->jobs_mu);
	if (queued >= JOBS_QUEUE_MAX)
		return cust_fail(CUST_E_UNAVAIL, "custodyd has %zu jobs waiting "
		    "already: try again later", queued);
	jr->id = job;
	return CUST_OK;
}

int
daemon_job_stopping(void *arg)
{
	const struct daemon_jobref *jr = arg;

	return atomic_load(&jr->d->jobs_stopping);
}

/* A copy of who for the job thread (the worker's cache may free it):
 * the operations that hand jobs over are staff's or local's. */
static int
identity_copy(const struct ops_identity *who, struct ops_identity **out)
{
	enum ops_kind k = ops_identity_kind(who);

	*out = NULL;
	if (k == OPS_ID_CONSOLE)
		return cust_fail(CUST_E_INTERNAL, "a console's job");
	return ops_identity_new(k, ops_identity_name(who), out);
}

int
daemon_jobs_submit(struct daemon *d, int64_t id, const char *op,
    json_t *req, json_t *start, const struct ops_identity *who,
    struct daemon_req *parked)
{
	struct djob *j;
	int r;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	j->id = id;
	snprintf(j->op, sizeof(j->op), "%s", op);
	/* Copies: jansson's reference counts are not shared across
	 * threads. */
	if ((j->req = req != NULL ? json_deep_copy(req) : json_object()) ==
	    NULL || (j->start = start != NULL ? json_deep_copy(start) :
	    json_object()) == NULL) {
		djob_free(j);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	if ((r = identity_copy(who, &j->who)) != CUST_OK) {
		djob_free(j);
		return r;
	}
	j->parked = parked;
	pthread_mutex_lock(&d->jobs_mu);
	if (d->jobs_tail != NULL)
		d->jobs_tail->next = j;
	else
		d->jobs_head = j;
	d->jobs_tail = j;
	d->jobs_queued++;
	pthread_cond_signal(&d->jobs_cv);
	pthread_mutex_unlock(&d->jobs_mu);
	return CUST_OK;
}

/* Run job j on st; answer its parked client. */
static void
run(struct daemon *d, struct cust_state *st, struct djob *j)
{
	struct daemon_jobref jr = { d, 0 };
	struct ops_ctx ctx = { .st = st, .who = j->who,
	    .stopping = daemon_job_stopping, .job_arg = &jr };
	struct daemon_req *req = j->parked;
	json_t *resp = NULL;
	int r;

	cust_clearerr();
	r = ops_job_continue(&ctx, j->op, j->req, j->start, j->id, &resp);
	if (r == CUST_OK)
		log_info("job %lld (%s, %s) done: %lld of %lld devices now hold "
		    "their new admin password", (long long)j->id, j->op,
		    ops_identity_actor(j->who), (long long)json_integer_value(
		    json_object_get(resp, "pushed")), (long long)
		    json_integer_value(json_object_get(resp, "selected")));
	else
		log_warnx("job %lld (%s, %s): %s", (long long)j->id, j->op,
		    ops_identity_actor(j->who), cust_errmsg());
	if (req != NULL) {
		r = r == CUST_OK ? daemon_reply_json(req, 200, resp,
		    "Cache-Control: no-store\r\n", 1) :
		    daemon_reply_code(req, r);
		if (r != CUST_OK) {
			free(req->out);
			req->out = NULL;
			if (daemon_reply(req, 503, NULL, NULL, NULL, 0, 0) !=
			    CUST_OK)
				req->out_len = 0;
		}
		audit_ticket_arm(&req->ticket);
	}
	json_decref(resp);
}

struct jthread {
	struct daemon *d;
	struct cust_state *st;
};

static void *
jobs_main(void *arg)
{
	struct jthread *t = arg;
	struct daemon *d = t->d;
	struct djob *j;

	for (;;) {
		pthread_mutex_lock(&d->jobs_mu);
		while (d->jobs_head == NULL && !d->jobs_quit)
			pthread_cond_wait(&d->jobs_cv, &d->jobs_mu);
		if ((j = d->jobs_head) == NULL) {
			pthread_mutex_unlock(&d->jobs_mu);
			break;
		}
		d->jobs_head = j->next;
		if (d->jobs_head == NULL)
			d->jobs_tail = NULL;
		d->jobs_queued--;
		pthread_mutex_unlock(&d->jobs_mu);
		j->next = NULL;
		run(d, t->st, j);
		djob_free(j);
	}
	return NULL;
}

static struct jthread *jthreads;

int
daemon_jobs_start(struct daemon *d)
{
	int i, r;

	pthread_mutex_init(&d->jobs_mu, NULL);
	pthread_cond_init(&d->jobs_cv, NULL);
	d->jobs_init = 1;
	if ((jthreads = calloc((size_t)d->conf.job_threads,
	    sizeof(*jthreads))) == NULL || (d->job_threads = calloc(
	    (size_t)d->conf.job_threads, sizeof(*d->job_threads))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	for (i = 0; i < d->conf.job_threads; i++) {
		jthreads[i].d = d;
		if ((r = state_open(d->conf.state_dir, &jthreads[i].st)) !=
		    CUST_OK)
			return r;
		state_use_audit_group(jthreads[i].st, d->group);
	}
	for (i = 0; i < d->conf.job_threads; i++) {
		if ((r = pthread_create(&d->job_threads[i], NULL, jobs_main,
		    &jthreads[i])) != 0)
			return cust_fail(CUST_E_INTERNAL, "pthread_create: %s",
			    strerror(r));
		d->njob_threads++;
	}
	return CUST_OK;
}

void
daemon_jobs_stopping(struct daemon *d)
{
	atomic_store(&d->jobs_stopping, 1);
}

void
daemon_jobs_stop(struct daemon *d)
{
	struct djob *j;
	int i;

	if (!d->jobs_init)
		return;
	atomic_store(&d->jobs_stopping, 1);
	pthread_mutex_lock(&d->jobs_mu);
	d->jobs_quit = 1;
	pthread_cond_broadcast(&d->jobs_cv);
	pthread_mutex_unlock(&d->jobs_mu);
	/* The threads empty the queue before they end: each job left there
	 * stops before its first device ('interrupted'). */
	for (i = 0; i < d->njob_threads; i++)
		pthread_join(d->job_threads[i], NULL);
	d->njob_threads = 0;
	/* None ran (a start-up that failed): the sweep of the next start
	 * marks their jobs interrupted. */
	while ((j = d->jobs_head) != NULL) {
		d->jobs_head = j->next;
		daemon_req_free(j->parked);
		djob_free(j);
	}
	d->jobs_tail = NULL;
	for (i = 0; jthreads != NULL && i < d->conf.job_threads; i++)
		if (jthreads[i].st != NULL) {
			state_use_audit_group(jthreads[i].st, NULL);
			state_close(jthreads[i].st);
		}
	free(jthreads);
	jthreads = NULL;
	free(d->job_threads);
	d->job_threads = NULL;
	pthread_cond_destroy(&d->jobs_cv);
	pthread_mutex_destroy(&d->jobs_mu);
	d->jobs_init = 0;
}
