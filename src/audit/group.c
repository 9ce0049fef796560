/* SPDX-License-Identifier: MIT */
/* src/audit/group.c - the group writer: one thread per process commits
 * the audit entries of all the others in batches (include/audit.h).
 *
 * Callers queue a request on their stack and sleep on its done word (a
 * futex); the writer takes the whole queue, appends it in one write
 * transaction on its own connection (the chain and the head record exactly
 * as audit_append() does for one entry) and wakes that batch's callers.
 * No batch is formed by waiting: the entries that arrive while one batch
 * commits make up the next, so under load a batch holds about one entry
 * per waiting thread, and with one caller it is one entry. A second thread
 * writes the rollback counter with the newest committed head.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit.h"
#include "audit_int.h"
#include "err.h"
#include "store.h"

#define ERRLEN 1024	/* cust_errmsg()'s buffer */

/* One caller's entry, on its stack until done is set. The caller sleeps
 * on done itself (a futex), not on a condition variable: woken, it takes
 * no lock, so a batch's callers do not queue on the writer's mutex one
 * after the other. */
struct group_req {
	const struct audit_entry *e;
	struct group_req *next;
	/* Deferred (audit_defer()): a copy on the heap, which the writer
	 * frees; the result goes to t instead of r and err. */
	struct audit_ticket *t;
	_Atomic uint32_t done;	/* set (release) once r and err are final */
	int r;
	char err[ERRLEN];
};

/* Sleep while *w is 0. */
static void
done_wait(_Atomic uint32_t *w)
{
	while (atomic_load_explicit(w, memory_order_acquire) == 0)
		(void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, 0,
		    NULL, NULL, 0);
}

/* Set *w and wake its sleeper. Once *w is set the request may be gone
 * (its caller returned): the wake then goes to a stale address of a
 * live stack, which at worst wakes some other futex there spuriously
 * (futex users, glibc's included, allow for that), or to an unmapped
 * one (EFAULT, ignored). */
static void
done_set(_Atomic uint32_t *w)
{
	atomic_store_explicit(w, 1, memory_order_release);
	(void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL,
	    NULL, 0);
}

static void ticket_put(struct audit_ticket *t);

struct audit_group {
	/* Set before the threads start, then only read. */
	struct audit *a;		/* the writer thread's only */
	int64_t wait_ms;
	/* The writer handle's after-commit callback (the rollback counter),
	 * run by a thread of its own (cthread) with the newest committed
	 * head, so that its fdatasync overlaps the next batch's commit: it
	 * may lag the store by the batches in flight, never lead it. */
	void (*committed)(void *arg, int64_t seq, const unsigned char *hash);
	void *committed_arg;
	void (*release)(void *arg);
	void *release_arg;
	pthread_t thread, cthread;
	int cstarted;

	pthread_mutex_t mu;		/* guards everything below */
	pthread_cond_t work;		/* a request queued, or stop */
	struct group_req *head, **tailp;
	int stop;
	pthread_cond_t cwork;		/* a head to record, or cstop */
	int cpending, cstop;
	int64_t cseq;
	unsigned char chash[32];
	struct audit_group_stats stats;
};

/* One transaction for the whole batch; CUST_OK once committed. */
static int
commit_batch(struct audit_group *g, struct group_req *batch,
    unsigned *retries_out)
{
	struct store *st = audit_store(g->a);
	struct group_req *q;
	int r;

	if ((r = store_begin_wait(st, g->wait_ms, retries_out)) != CUST_OK)
		return r;
	audit_hold(g->a);	/* the chain key: once per batch */
	for (q = batch; q != NULL; q = q->next) {
		if ((r = audit_append_locked(g->a, q->e)) != CUST_OK) {
			store_rollback(st);
			goto out;
		}
	}
	/* The head record is written by a commit hook: once per batch. */
	r = store_commit(st);
out:
	audit_release(g->a);
	return r;
}

static void *
writer_main(void *arg)
{
	struct audit_group *g = arg;
	struct group_req *batch, *q, *next;
	unsigned char hash[32];
	int64_t seq = 0;
	unsigned retries;
	uint64_t n;
	int r;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (g->head == NULL && !g->stop)
			pthread_cond_wait(&g->work, &g->mu);
		if (g->head == NULL)
			break;		/* stopping, and nothing is left */
		batch = g->head;
		g->head = NULL;
		g->tailp = &g->head;
		pthread_mutex_unlock(&g->mu);

		cust_clearerr();
		r = commit_batch(g, batch, &retries);
		if (r == CUST_OK)
			audit_last(g->a, &seq, hash);

		for (q = batch, n = 0; q != NULL; q = q->next, n++) {
			q->r = r;
			if (r != CUST_OK && q->t == NULL)
				snprintf(q->err, sizeof(q->err), "%s",
				    cust_errmsg());
			else if (r != CUST_OK && q->t->r == CUST_OK) {
				/* Only this thread writes t->r while the
				 * ticket is held. */
				q->t->r = r;
				snprintf(q->t->err, sizeof(q->t->err), "%s",
				    cust_errmsg());
			}
		}
		/* The counters first, so that a caller that returns sees its
		 * batch counted. */
		pthread_mutex_lock(&g->mu);
		g->stats.busy_retries += retries;
		if (r == CUST_OK) {
			g->stats.entries += n;
			g->stats.batches++;
			if (n > g->stats.max_batch)
				g->stats.max_batch = n;
		} else {
			g->stats.failed += n;
		}
		/* The callers go on (their entries are durable); the counter
		 * thread records the newest head while the next batch
		 * commits. */
		if (r == CUST_OK && g->committed != NULL) {
			g->cseq = seq;
			memcpy(g->chash, hash, sizeof(g->chash));
			g->cpending = 1;
			pthread_cond_signal(&g->cwork);
		}
		pthread_mutex_unlock(&g->mu);
		for (q = batch; q != NULL; q = next) {
			next = q->next;	/* q is the caller's once done */
			if (q->t != NULL) {
				ticket_put(q->t);
				free(q);
			} else
				done_set(&q->done);
		}
		pthread_mutex_lock(&g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* The rollback counter thread: writes the newest committed head, once for
 * each batch it has not caught up with (several batches committed during
 * one write need one write). */
static void *
counter_main(void *arg)
{
	struct audit_group *g = arg;
	unsigned char hash[32];
	int64_t seq;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->cpending && !g->cstop)
			pthread_cond_wait(&g->cwork, &g->mu);
		if (!g->cpending)
			break;		/* stopping, and up to date */
		seq = g->cseq;
		memcpy(hash, g->chash, sizeof(hash));
		g->cpending = 0;
		pthread_mutex_unlock(&g->mu);
		g->committed(g->committed_arg, seq, hash);
		pthread_mutex_lock(&g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int
audit_group_submit(struct audit_group *g, const struct audit_entry *e)
{
	struct group_req q = { .e = e };

	atomic_init(&q.done, 0);
	pthread_mutex_lock(&g->mu);
	if (g->stop) {
		pthread_mutex_unlock(&g->mu);
		return cust_fail(CUST_E_UNAVAIL, "the audit writer has "
		    "stopped: nothing more can be recorded");
	}
	/* q lives on this stack until the writer has set q.done (below). */
	*g->tailp = &q;
	// cppcheck-suppress autoVariables
	g->tailp = &q.next;
	pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->mu);
	done_wait(&q.done);
	if (q.r != CUST_OK)
		return cust_fail(q.r, "%s", q.err);
	return CUST_OK;
}

void
audit_ticket_init(struct audit_ticket *t, void (*done)(void *arg), void *arg)
{
	atomic_init(&t->refs, 1);
	t->r = CUST_OK;
	t->err[0] = '\0';
	t->done = done;
	t->arg = arg;
}

/* Drop one reference of t; the last one runs done (its r and err final:
 * acquire pairs with the release of every other reference's drop). */
static void
ticket_put(struct audit_ticket *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		t->done(t->arg);
}

void
audit_ticket_arm(struct audit_ticket *t)
{
	ticket_put(t);
}

/* A copy of the string s at *p (NULL stays NULL). */
static const char *
put_str(char **p, const char *s)
{
	size_t n;
	char *d = *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(d, s, n);
	*p = d + n;
	return d;
}

int
audit_group_submit_deferred(struct audit_group *g, const struct audit_entry *e,
    struct audit_ticket *t)
{
	struct {
		struct group_req q;
		struct audit_entry e;
		char strs[];
	} *d;
	size_t n = strlen(e->actor) + strlen(e->action) + strlen(e->object) +
	    strlen(e->result) + (e->detail != NULL ? strlen(e->detail) : 0) +
	    5;
	char *p;

	if ((d = malloc(sizeof(*d) + n)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	memset(d, 0, sizeof(*d));
	p = d->strs;
	d->e.seq = e->seq;
	d->e.time = e->time;
	d->e.actor = put_str(&p, e->actor);
	d->e.action = put_str(&p, e->action);
	d->e.object = put_str(&p, e->object);
	d->e.result = put_str(&p, e->result);
	d->e.detail = put_str(&p, e->detail);
	d->q.e = &d->e;
	d->q.t = t;
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	pthread_mutex_lock(&g->mu);
	if (g->stop) {
		pthread_mutex_unlock(&g->mu);
		atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed);
		free(d);
		return cust_fail(CUST_E_UNAVAIL, "the audit writer has "
		    "stopped: nothing more can be recorded");
	}
	*g->tailp = &d->q;
	g->tailp = &d->q.next;
	pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->mu);
	return CUST_OK;
}

/* Let the counter thread record what is pending, then stop it. */
static void
stop_counter(struct audit_group *g)
{
	if (!g->cstarted)
		return;
	pthread_mutex_lock(&g->mu);
	g->cstop = 1;
	pthread_cond_signal(&g->cwork);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->cthread, NULL);
	g->cstarted = 0;
}

int
audit_group_new(struct audit *writer, int64_t wait_ms,
    void (*release)(void *arg), void *arg, struct audit_group **out)
{
	struct audit_group *g;
	sigset_t all, old;
	int r = CUST_E_INTERNAL, inited = 0;

	*out = NULL;
	/* One connection per thread needs SQLite built for threads. */
	if (sqlite3_threadsafe() == 0)
		return cust_fail(CUST_E_INTERNAL, "SQLite was built without "
		    "thread support: no group writer");
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	g->a = writer;
	g->wait_ms = wait_ms > 0 ? wait_ms : AUDIT_GROUP_WAIT_MS;
	g->release = release;
	g->release_arg = arg;
	audit_take_committed(writer, &g->committed, &g->committed_arg);
	g->tailp = &g->head;
	if (pthread_mutex_init(&g->mu, NULL) != 0)
		goto out;
	inited++;
	if (pthread_cond_init(&g->work, NULL) != 0)
		goto out;
	inited++;
	if (pthread_cond_init(&g->cwork, NULL) != 0)
		goto out;
	inited++;
	/* Signals are the main thread's business: these threads block all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (g->committed != NULL &&
	    pthread_create(&g->cthread, NULL, counter_main, g) == 0)
		g->cstarted = 1;
	if ((g->committed != NULL && !g->cstarted) ||
	    pthread_create(&g->thread, NULL, writer_main, g) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		stop_counter(g);
		goto out;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*out = g;
	g = NULL;
	r = CUST_OK;
out:
	if (g != NULL) {
		audit_on_committed(writer, g->committed, g->committed_arg);
		if (inited > 2)
			pthread_cond_destroy(&g->cwork);
		if (inited > 1)
			pthread_cond_destroy(&g->work);
		if (inited > 0)
			pthread_mutex_destroy(&g->mu);
		free(g);
		r = cust_fail(r, "cannot start the audit writer thread");
	}
	return r;
}

void
audit_group_free(struct audit_group *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = 1;
	pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	stop_counter(g);	/* after the head of the last batch */
	audit_on_committed(g->a, g->committed, g->committed_arg);
	if (g->release != NULL)
		g->release(g->release_arg);
	pthread_cond_destroy(&g->cwork);
	pthread_cond_destroy(&g->work);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void
audit_group_stats(struct audit_group *g, struct audit_group_stats *out)
{
	pthread_mutex_lock(&g->mu);
	*out = g->stats;
	pthread_mutex_unlock(&g->mu);
}
