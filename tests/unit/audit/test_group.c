/* SPDX-License-Identifier: MIT */
/* tests/unit/audit/test_group.c - the audit group writer with real
 * threads: many readers, each with its own state, read secrets at once;
 * every read gets exactly one entry, the chain stays intact, a secret is
 * handed out only once its entry has committed, a failed batch fails every
 * read in it, and a reader waits out a writer that holds the lock longer
 * than the busy timeout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cred.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#define NDEV 8
#define NTHREADS 32
#define NREADS 20

struct reader {
	pthread_t thread;
	const char *dir;
	struct audit_group *group;	/* NULL: each read commits alone */
	int id, nreads;
	int ok;			/* reads that gave the right secret */
	int failed;		/* reads that gave an error (and no secret) */
	int leaked;		/* secrets handed out with an error */
	int wrong;		/* a wrong secret, or none with CUST_OK */
	int unseen;		/* CUST_OK before its entry was committed */
	int last_r;
	char err[256];
	_Atomic int done;
};

static void
dev_name(int i, char *buf, size_t len)
{
	snprintf(buf, len, "dev%d.fleet.example", i);
}

static void
dev_pw(int i, char *buf, size_t len)
{
	snprintf(buf, len, "Adm1n-Pw#%03d", i);
}

/* NDEV devices with known admin passwords. */
static int
setup(void **state)
{
	struct cred_device_spec spec = { 0 };
	struct seal_secret *pw;
	struct tu_fx *f;
	char fqdn[64], p[32];
	int i;

	if (tu_fx_setup(state) != 0)
		return -1;
	f = *state;
	for (i = 0; i < NDEV; i++) {
		dev_name(i, fqdn, sizeof(fqdn));
		dev_pw(i, p, sizeof(p));
		pw = seal_secret_dup(p, strlen(p));
		assert_non_null(pw);
		spec.fqdn = fqdn;
		spec.admin_pw = pw;
		if (cred_device_add(f->st, "tester", &spec, 16, NULL) !=
		    CUST_OK)
			fail_msg("device add: %s", cust_errmsg());
		seal_secret_free(pw);
	}
	/* init holds the exclusive lock: reopen as a process in use does. */
	state_close(f->st);
	f->st = NULL;
	if (state_open(f->dir, &f->st) != CUST_OK)
		fail_msg("reopen: %s", cust_errmsg());
	return 0;
}

/* Is the entry of actor committed, as this thread's own connection (not
 * the writer's) sees it? */
static int
committed(struct cust_state *st, const char *actor)
{
	sqlite3_stmt *s = store_stmt(state_store(st),
	    "SELECT count(*) FROM audit "
	    "WHERE actor = ? AND action = 'password.show' AND result = 'ok'");
	int n = -1;

	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, actor, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return n;
}

/* A worker thread: its own state, nreads reads of admin passwords, each
 * with an actor of its own so that its entry can be found. No cmocka
 * asserts here (they long-jump): the main thread checks the counts. */
static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	struct cust_state *st = NULL;
	struct seal_secret *pw;
	const char *sstate;
	char actor[32], fqdn[64], want[32];
	int64_t ver;
	int i, r;

	if ((r = state_open(rd->dir, &st)) != CUST_OK) {
		rd->last_r = r;
		snprintf(rd->err, sizeof(rd->err), "open: %s", cust_errmsg());
		rd->failed = rd->nreads;
		rd->done = 1;
		return NULL;
	}
	if (rd->group != NULL)
		state_use_audit_group(st, rd->group);
	for (i = 0; i < rd->nreads; i++) {
		snprintf(actor, sizeof(actor), "reader%d-%d", rd->id, i);
		dev_name((rd->id + i) % NDEV, fqdn, sizeof(fqdn));
		dev_pw((rd->id + i) % NDEV, want, sizeof(want));
		pw = NULL;
		r = cred_secret_get(st, actor, fqdn, CRED_KIND_ADMIN,
		    CRED_VER_CURRENT, &pw, &ver, &sstate);
		rd->last_r = r;
		if (r != CUST_OK) {
			rd->failed++;
			if (pw != NULL)
				rd->leaked++;
			snprintf(rd->err, sizeof(rd->err), "%s",
			    cust_errmsg());
		} else if (pw == NULL || strcmp(seal_secret_str(pw), want)) {
			rd->wrong++;
		} else if (committed(st, actor) != 1) {
			rd->unseen++;
		} else {
			rd->ok++;
		}
		seal_secret_free(pw);
	}
	state_use_audit_group(st, NULL);
	state_close(st);
	rd->done = 1;
	return NULL;
}

static void
start(struct reader *rd, const char *dir, struct audit_group *g, int id,
    int nreads)
{
	memset(rd, 0, sizeof(*rd));
	rd->dir = dir;
	rd->group = g;
	rd->id = id;
	rd->nreads = nreads;
	assert_int_equal(pthread_create(&rd->thread, NULL, reader_main, rd),
	    0);
}

static long long
count_reads(struct tu_fx *f)
{
	return tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE action = "
	    "'password.show' AND actor LIKE 'reader%'");
}

static void
assert_chain(struct tu_fx *f)
{
	unsigned char hh[32], ch[32];
	int64_t bad = -1, n = -1, hs = 0, cs = 0;

	if (audit_verify(state_audit(f->st), &bad, &n) != CUST_OK)
		fail_msg("audit verify: %s", cust_errmsg());
	/* The rollback counter followed the batches to the head. */
	assert_int_equal(audit_head(state_audit(f->st), &hs, hh), CUST_OK);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &cs, ch),
	    CUST_OK);
	assert_int_equal(cs, hs);
	assert_memory_equal(ch, hh, 32);
}

/* 32 threads read at once through one group writer: one entry per read,
 * none lost, none twice, each committed before its secret was handed out;
 * the chain intact; and the reads really were batched. */
static void
test_hammer(void **state)
{
	struct tu_fx *f = *state;
	struct reader rd[NTHREADS];
	struct audit_group *g = NULL;
	struct audit_group_stats gs;
	long long before;
	int i, ok = 0;

	before = tu_sql_int(f->st, "SELECT count(*) FROM audit");
	if (state_audit_group(f->dir, 0, &g) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	for (i = 0; i < NTHREADS; i++)
		start(&rd[i], f->dir, g, i, NREADS);
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(rd[i].thread, NULL);
		if (rd[i].failed || rd[i].wrong || rd[i].unseen)
			fail_msg("reader %d: %d failed (%d: %s), %d wrong, %d "
			    "handed out before their entry committed", i,
			    rd[i].failed, rd[i].last_r, rd[i].err, rd[i].wrong,
			    rd[i].unseen);
		ok += rd[i].ok;
	}
	assert_int_equal(ok, NTHREADS * NREADS);
	audit_group_stats(g, &gs);
	audit_group_free(g);
	assert_int_equal(gs.entries, NTHREADS * NREADS);
	assert_int_equal(gs.failed, 0);
	/* Batched: fewer transactions than entries. */
	assert_true(gs.max_batch > 1);
	assert_true(gs.batches < gs.entries);
	/* Exactly one entry per read, each read's own. */
	assert_int_equal(count_reads(f), NTHREADS * NREADS);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(DISTINCT actor) FROM "
	    "audit WHERE actor LIKE 'reader%'"), NTHREADS * NREADS);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit"),
	    before + NTHREADS * NREADS);
	assert_chain(f);
}

/* The same without a group writer (as custodyctl, but threaded): each read
 * commits alone; still one entry per read and an intact chain. */
static void
test_alone(void **state)
{
	struct tu_fx *f = *state;
	struct reader rd[4];
	int i;

	for (i = 0; i < 4; i++)
		start(&rd[i], f->dir, NULL, i, 10);
	for (i = 0; i < 4; i++) {
		pthread_join(rd[i].thread, NULL);
		if (rd[i].ok != 10)
			fail_msg("reader %d: %d ok, %d failed (%s)", i,
			    rd[i].ok, rd[i].failed, rd[i].err);
	}
	assert_int_equal(count_reads(f), 40);
	assert_chain(f);
}

/*
 * A batch whose commit fails (here its head record cannot be written, after
 * every entry of the batch was inserted) fails every read in it: no caller
 * gets its secret, every one gets the error, nothing is recorded. The
 * writer then goes on with the next batch.
 */
static void
test_batch_fails(void **state)
{
	struct tu_fx *f = *state;
	struct reader rd[8];
	struct audit_group *g = NULL;
	struct audit_group_stats gs;
	long long before;
	int i;

	if (state_audit_group(f->dir, 0, &g) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	before = tu_sql_int(f->st, "SELECT count(*) FROM audit");
	tu_sql(f->st, "CREATE TRIGGER fail_head BEFORE UPDATE ON meta WHEN "
	    "NEW.key = 'audit.head' BEGIN SELECT RAISE(ABORT, 'injected "
	    "commit failure'); END");
	for (i = 0; i < 8; i++)
		start(&rd[i], f->dir, g, i, 5);
	for (i = 0; i < 8; i++) {
		pthread_join(rd[i].thread, NULL);
		assert_int_equal(rd[i].ok + rd[i].wrong + rd[i].unseen, 0);
		assert_int_equal(rd[i].leaked, 0);
		assert_int_equal(rd[i].failed, 5);
		assert_int_not_equal(rd[i].last_r, CUST_OK);
		assert_non_null(strstr(rd[i].err, "injected commit failure"));
	}
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit"),
	    before);
	audit_group_stats(g, &gs);
	assert_int_equal(gs.failed, 40);
	assert_int_equal(gs.entries, 0);
	/* The fault gone, the same writer serves again. */
	tu_sql(f->st, "DROP TRIGGER fail_head");
	start(&rd[0], f->dir, g, 0, 3);
	pthread_join(rd[0].thread, NULL);
	assert_int_equal(rd[0].ok, 3);
	audit_group_free(g);
	assert_int_equal(count_reads(f), 3);
	assert_chain(f);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * Another connection holds the write lock for longer than the busy timeout
 * (5 s), as a long import does. A reader behind it waits and gets its
 * secret once the lock is free, instead of failing after 5 s; with a
 * shorter wait configured it fails (unavailable) and gets no secret.
 */
static void
test_busy_wait(void **state)
{
	struct tu_fx *f = *state;
	struct reader rd;
	struct audit_group *g = NULL;
	struct audit_group_stats gs;

	if (state_audit_group(f->dir, 0, &g) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	start(&rd, f->dir, g, 0, 1);
	sleep_ms(6500);
	assert_int_equal(rd.done, 0);	/* still waiting, not failed */
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
	pthread_join(rd.thread, NULL);
	if (rd.ok != 1)
		fail_msg("the read behind a long writer failed: %s", rd.err);
	audit_group_stats(g, &gs);
	assert_true(gs.busy_retries >= 1);
	audit_group_free(g);

	/* A wait shorter than the lock is held: unavailable, no secret. */
	if (state_audit_group(f->dir, 100, &g) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	start(&rd, f->dir, g, 1, 1);
	pthread_join(rd.thread, NULL);
	store_rollback(state_store(f->st));
	assert_int_equal(rd.failed, 1);
	assert_int_equal(rd.leaked, 0);
	assert_int_equal(rd.last_r, CUST_E_UNAVAIL);
	assert_non_null(strstr(rd.err, "waited"));
	audit_group_free(g);
	assert_int_equal(count_reads(f), 1);
	assert_chain(f);
}

/* A ticket's completion (audit_defer()), reported by the writer thread. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void
ticket_done(void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int
waiter_done(struct waiter *w)
{
	int n;

	pthread_mutex_lock(&w->mu);
	n = w->done;
	pthread_mutex_unlock(&w->mu);
	return n;
}

static void
waiter_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->done == 0)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* NDEV deferred reads on f's state, actors "deferred-N": each gives its
 * secret at once (which the caller must hold back). */
static void
deferred_reads(struct tu_fx *f, struct audit_group *g, struct audit_ticket *t)
{
	struct seal_secret *pw;
	const char *sstate;
	char actor[32], fqdn[64], want[32];
	int64_t ver;
	int i;

	state_use_audit_group(f->st, g);
	audit_defer(state_audit(f->st), t);
	for (i = 0; i < NDEV; i++) {
		snprintf(actor, sizeof(actor), "deferred-%d", i);
		dev_name(i, fqdn, sizeof(fqdn));
		dev_pw(i, want, sizeof(want));
		pw = NULL;
		if (cred_secret_get(f->st, actor, fqdn, CRED_KIND_ADMIN,
		    CRED_VER_CURRENT, &pw, &ver, &sstate) != CUST_OK)
			fail_msg("deferred read: %s", cust_errmsg());
		assert_non_null(pw);
		assert_string_equal(seal_secret_str(pw), want);
		seal_secret_free(pw);
	}
	audit_defer(state_audit(f->st), NULL);
}

/*
 * Deferred completion: the reads do not wait, the ticket completes once
 * (never while its caller still holds it), and by then every entry counted
 * on it is committed, as the caller's own connection sees.
 */
static void
test_deferred(void **state)
{
	struct tu_fx *f = *state;
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	    0 };
	struct audit_ticket t;
	struct audit_group *g = NULL;
	struct audit_group_stats gs;

	if (state_audit_group(f->dir, 0, &g) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	/* Nothing queued: done runs at once, in this thread. */
	audit_ticket_init(&t, ticket_done, &w);
	audit_ticket_arm(&t);
	assert_int_equal(waiter_done(&w), 1);
	w.done = 0;
	audit_ticket_init(&t, ticket_done, &w);
	deferred_reads(f, g, &t);
	/* Give the writer time to commit them all: still held. */
	sleep_ms(100);
	assert_int_equal(waiter_done(&w), 0);
	audit_ticket_arm(&t);
	waiter_wait(&w);
	assert_int_equal(t.r, CUST_OK);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor LIKE 'deferred-%' AND action = 'password.show' AND result "
	    "= 'ok'"), NDEV);
	state_use_audit_group(f->st, NULL);
	audit_group_stats(g, &gs);
	audit_group_free(g);
	assert_int_equal(gs.entries, NDEV);
	assert_int_equal(waiter_done(&w), 1);
	assert_chain(f);
}

/* A deferred read whose batch fails: the ticket carries the error and its
 * message, and nothing is recorded. */
static void
test_deferred_fails(void **state)
{
	struct tu_fx *f = *state;
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	    0 };
	struct audit_ticket t;
	struct audit_group *g = NULL;
	long long before;

	if (state_audit_group(f->dir, 0, &g) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	before = tu_sql_int(f->st, "SELECT count(*) FROM audit");
	tu_sql(f->st, "CREATE TRIGGER fail_head BEFORE UPDATE ON meta WHEN "
	    "NEW.key = 'audit.head' BEGIN SELECT RAISE(ABORT, 'injected "
	    "commit failure'); END");
	audit_ticket_init(&t, ticket_done, &w);
	deferred_reads(f, g, &t);
	audit_ticket_arm(&t);
	waiter_wait(&w);
	assert_int_not_equal(t.r, CUST_OK);
	assert_non_null(strstr(t.err, "injected commit failure"));
	state_use_audit_group(f->st, NULL);
	audit_group_free(g);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit"),
	    before);
	tu_sql(f->st, "DROP TRIGGER fail_head");
}

/* A writer never used stops at once; a handle detached from its writer
 * commits alone again. */
static void
test_stopped(void **state)
{
	struct tu_fx *f = *state;
	struct audit_group *g = NULL, *g2 = NULL;

	if (state_audit_group(f->dir, 0, &g) != CUST_OK ||
	    state_audit_group(f->dir, 0, &g2) != CUST_OK)
		fail_msg("group: %s", cust_errmsg());
	state_use_audit_group(f->st, g);
	assert_int_equal(audit_append(state_audit(f->st), "tester", "x.y",
	    "obj", "ok", NULL), CUST_OK);
	audit_group_free(g2);	/* never used: stops at once */
	state_use_audit_group(f->st, NULL);
	audit_group_free(g);
	assert_int_equal(audit_append(state_audit(f->st), "tester", "x.y",
	    "obj", "ok", NULL), CUST_OK);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'x.y'"), 2);
	assert_chain(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hammer, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_alone, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_fails, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_busy_wait, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_stopped, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_deferred, setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_deferred_fails, setup,
		    tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
