/* SPDX-License-Identifier: MIT */
/* src/api/ops_push.c - device.push: custody applies a device's pending
 * admin password on the device (reference/amt.md 10; DESIGN.md, the
 * rotation state machine), or shows what it would send.
 *
 * The push, for a device whose admin password has a pending version
 * (written sealed and committed before anything is sent):
 *  1. Get AMT_GeneralSettings with the current password: the device's
 *     DigestRealm must be the registered one (when none is registered,
 *     the device's is recorded: first contact; the realms of all the
 *     run's first contacts are read, and recorded unless two report one,
 *     before any change is sent: ops_realm.c);
 *  2. SetAdminAclEntryEx(admin, DigestPassword of the candidate) with the
 *     current password, on the Get's connection: the plaintext never
 *     travels;
 *  3. a Get with the candidate: a fresh digest login (the device, whose
 *     digest sessions the change ended, challenges it again and closes;
 *     the login that answers is on a new connection) is the only proof
 *     that the device took it; then it becomes current.
 * The store steps of many devices commit together (group commit, below),
 * each before what depends on it is sent.
 * An outcome that is not known (a timeout or dropped connection after
 * the change was sent, a refused login, a malformed answer) is
 * reconciled: the candidate, then the current password, are tried with a
 * Get, and the one that works is committed (the candidate confirmed, or
 * the pending version kept for the next push); when both are refused,
 * the newest version marked failed newer than the current (a console
 * applied it after it was replaced, two pushers and a crash) is tried
 * last, and confirmed current if it logs in. Nothing is ever deleted:
 * until one is proven, both stay. A refusal (a ReturnValue other than 0)
 * fails the candidate only once the current password is seen to still
 * log in (a fresh Get); else it is reconciled too: a device that applied
 * the change and answered an error is not left holding a failed version.
 *
 * With "dry_run" the operation sends nothing: it answers the exact
 * envelopes, in order, that a push would send (amt_push_admin_plan()),
 * rendered for review by amt_req_redacted(): the DigestPassword of the
 * candidate as it would travel (a hash, and what an operator compares
 * with a console's ha1), plaintext secrets never. The candidate is the
 * admin version in flight ("candidate": "pending", the default), or a
 * password not generated yet ("new", for password rotate --push
 * --dry-run), whose DigestPassword is then "***"; so is every
 * DigestPassword when the device's digest realm is not registered yet
 * (the push reads it from the device first).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "amt.h"
#include "cred.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* How many devices push_many() prepares per transaction (with the 64 in
 * flight, their values fit one thread's pool of secret memory). */
#define PREPARE_CHUNK	128

/* The built-in admin account's name (reference 2). */
#define PUSH_ADMIN_USER	"admin"

/* The newest version of kind in state (a history entry), or 0
 * (ops_int.h). */
int64_t
ops_version_in(json_t *hist, const char *kind, const char *state)
{
	json_t *v;
	size_t i;
	int64_t best = 0;

	json_array_foreach(hist, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "kind")),
		    kind) != 0 || strcmp(json_string_value(json_object_get(v,
		    "state")), state) != 0)
			continue;
		if (json_integer_value(json_object_get(v, "version")) > best)
			best = json_integer_value(json_object_get(v,
			    "version"));
	}
	return best;
}

/* One step of a dry run (ops_int.h). */
json_t *
ops_step_json(const char *name, const struct amt_req *q, const char *auth,
    const char *env)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:s}", "step", name,
	    "message_id", (json_int_t)amt_req_msgid(q), "action",
	    amt_req_action(q), "auth", auth, "envelope", env);
}

/* The steps of an admin push of dpw (NULL: shown as ***) to target t. */
static int
plan_json(const struct amt_target *t, const struct seal_secret *dpw,
    int64_t cur, int64_t cand, json_t *out)
{
	static const char *names[AMT_PUSH_STEPS] = { "realm-check",
	    "set-admin", "verify", "refusal-check" };
	/* Stands in for an unknown DigestPassword; rendered as ***. */
	struct seal_secret *blank = NULL;
	struct amt_req *q[AMT_PUSH_STEPS] = { NULL };
	char url[AMT_URL_MAX], ct[AMT_CONNECT_TO_MAX], auth[AMT_PUSH_STEPS][96];
	char *env = NULL;
	json_t *steps = NULL, *s;
	int r, i;

	if ((r = amt_target_where(t, url, sizeof(url), ct, sizeof(ct))) !=
	    CUST_OK)
		return r;
	if (dpw == NULL && (dpw = blank = seal_secret_dup(
	    "AAAAAAAAAAAAAAAAAAAAAA==", AMT_DIGESTPW_LEN)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = amt_push_admin_plan(PUSH_ADMIN_USER, dpw, 1, q)) != CUST_OK)
		goto out;
	snprintf(auth[0], sizeof(auth[0]), "digest %s, current v%lld",
	    PUSH_ADMIN_USER, (long long)cur);
	snprintf(auth[1], sizeof(auth[1]), "digest %s, current v%lld",
	    PUSH_ADMIN_USER, (long long)cur);
	if (cand > 0)
		snprintf(auth[2], sizeof(auth[2]), "digest %s, candidate v%lld, "
		    "fresh connection", PUSH_ADMIN_USER, (long long)cand);
	else
		snprintf(auth[2], sizeof(auth[2]), "digest %s, the new "
		    "password, fresh connection", PUSH_ADMIN_USER);
	snprintf(auth[3], sizeof(auth[3]), "digest %s, the replaced v%lld on "
	    "the proof's digest session: must be refused", PUSH_ADMIN_USER,
	    (long long)cur);
	if ((steps = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < AMT_PUSH_STEPS; i++) {
		if ((r = amt_req_redacted(q[i], blank != NULL, &env)) !=
		    CUST_OK)
			goto out;
		s = ops_step_json(names[i], q[i], auth[i], env);
		free(env);
		env = NULL;
		if (s == NULL || json_array_append_new(steps, s) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if (json_object_set_new(out, "url", json_string(url)) != 0 ||
	    json_object_set_new(out, "connect_to", *ct ? json_string(ct) :
	    json_null()) != 0 ||
	    json_object_set(out, "steps", steps) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = CUST_OK;
out:
	json_decref(steps);
	for (i = 0; i < AMT_PUSH_STEPS; i++)
		amt_req_free(q[i]);
	seal_secret_free(blank);
	return r;
}

/*
 * One device's push as a conversation of the fleet driver
 * (amt_fleet_run()): each answer is handled, and the next request asked
 * for, in the driver's thread, so the store is written between requests
 * as the protocol needs; many devices run at once (at most
 * AMT_CONCURRENCY in flight, one request at a time per device).
 */
enum pstep {
	P_START,
	P_REALM,	/* Get with the current password */
	P_SET,		/* SetAdminAclEntryEx */
	P_VERIFY,	/* Get with the candidate, fresh connection */
	P_DENY,		/* Get with the replaced password: refused? */
	P_REFUSED,	/* refused: Get with the current, fresh connection */
	P_REC_CAND,	/* reconciling: Get with the candidate */
	P_REC_CUR,	/* reconciling: Get with the current password */
	P_REC_FAILED,	/* reconciling: Get with a version marked failed */
};

/* The job a push belongs to (NULL: none), shared by its devices. */
struct pjob {
	int64_t id;
	size_t done, total;
	size_t stopped;		/* devices left for a resumption */
};

struct push {
	struct ops_ctx *ctx;
	struct pjob *job;
	struct amt_target t;
	json_t *dev;			/* the device record, while it runs */
	const char *fqdn, *reg;		/* fqdnbuf (the name asked until
					 * prepared); reg from dev */
	char fqdnbuf[CUST_MAX_FQDN + 1];
	int64_t devid;
	size_t index;			/* in its group's ps[] */
	int prepared;
	int bad;			/* its own record failed: its item
					 * waits for the chunk's commit */
	struct seal_secret *cur, *cand;
	int64_t ver;
	int begun;			/* the version is 'pushed' */
	int recon;			/* reconcile only: send no change */
	enum pstep step;
	int rc_cand;			/* reconciling: the candidate's Get */
	int64_t failv;			/* the newest failed version newer
					 * than the current (0: none) */
	struct seal_secret *fail;	/* its value, while it is tried */
	char *why;			/* reconciling: why (malloc) */
	const char *result;		/* NULL while it runs */
	char *detail;			/* malloc, with result */
	double t0, elapsed;		/* monotonic seconds: start, length */
	int err;			/* custody's own error (the store) */
	int skipped;			/* not begun: the job is stopping */
	struct pgroup *g;		/* its group commit */
	const struct ops_first *first;	/* refused at the run's first
					 * contacts (ops_realm.c), or NULL */
	struct {			/* store steps queued for the group */
		int end;
		enum cred_push_end how;
		const char *why;	/* static, or p->detail */
	} op[2];
	int nop;
	int queued;			/* in g->q (ops, or its result) */
	int hold;			/* the request waits for the commit */
	int fresh_proof;		/* the proof went on a new connection */
	enum pstep proven;		/* the login P_DENY completes: P_VERIFY
					 * or P_REC_CAND */
};

/*
 * Group commit (amt_fleet_run_with()): the store steps of every device
 * that reached one in a round of answers - 'pushed' before the change is
 * sent, the settlement once known, the job item - go in one transaction
 * (cred_push_group()), committed before any request that waited for it
 * is sent: the order per device is the protocol's, the commit is shared.
 *
 * The commits run on a store thread of the push's own (with a state of
 * its own: one per thread), not on the fleet driver's: while one batch
 * commits (its WAL fsync and the rollback counter's fdatasync), the
 * driver keeps every other conversation going, and the steps of the
 * rounds that answer meanwhile queue up for the next batch. A device
 * whose step is in a batch waits for that batch only: its held change is
 * sent (push_held()), and its result counted, once the driver has seen
 * the batch durable (push_flush()). The same thread reads the devices'
 * values, a chunk ahead of the driver (prepare_chunk()). The driver
 * itself writes the store only on rare paths (a first contact's realm, a
 * failed version confirmed). SERVICE.md, "Push throughput".
 */
struct pchunk {
	int state;			/* CH_* */
	int r;				/* when CH_DONE */
	char msg[256];
};
enum { CH_NONE, CH_ASKED, CH_DONE };

struct pgroup {
	struct ops_ctx *ctx;
	struct pjob *job;
	struct push **q;		/* the driver's: queued for the next batch */
	size_t nq;
	struct push *ps;		/* every device, in order */
	size_t n;
	char cafile[PATH_MAX];		/* TLS: custody's bundle */
	size_t cready;			/* the driver's: chunks below are taken */
	/* The store thread's: its ctx (ctx with its own state), scratch. */
	struct ops_ctx sctx;
	char scafile[PATH_MAX];
	/* Shared, under mu: the batch handed over (b, nb; its ops) while
	 * busy, its result once bdone; the chunks' reads. */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* work for the store thread */
	pthread_cond_t done_cv;		/* work of the store thread done */
	pthread_t th;
	int th_started, stop;
	int wake[2];			/* the store thread -> the driver */
	struct push **b;
	size_t nb;
	struct cred_push_op *ops;	/* every op of the batch */
	size_t nops, opcap;
	int busy, bdone, br;
	char bmsg[512];
	struct pchunk *chunks;
	size_t nchunks;
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
outcome(struct push *p, const char *result, const char *detail)
{
	p->result = result;
	p->elapsed = p->t0 > 0 ? mono() - p->t0 : 0;
	free(p->detail);
	p->detail = strdup(detail ? detail : "");
}

/* A Get of AMT_GeneralSettings as pw, on a fresh connection or not. */
static int
get_as(struct push *p, const struct seal_secret *pw, int fresh,
    unsigned long id, enum pstep step, struct amt_req **out)
{
	p->t.password = pw;
	p->t.fresh = fresh;
	p->t.keep = 0;
	p->step = step;
	return amt_msg_get(id, "AMT_GeneralSettings", out);
}

/* The DigestRealm of a Get's answer into realm (AMT_REALM_MAX bytes), or
 * an error naming the device: the realm the device logs in with
 * (amt_reply_realm()), as a DigestPassword made with another realm than
 * the device's would leave its admin account without a working password. */
static int
realm_of(const struct push *p, const struct amt_reply *rep, char *realm)
{
	char m[256];
	int r;

	if ((r = amt_reply_realm(rep, realm)) == CUST_OK)
		return CUST_OK;
	snprintf(m, sizeof(m), "%s", cust_errmsg());
	return cust_fail(r, "%s: %s", p->fqdn, m);
}

/* Keep why (a copy, at most 255 bytes) in p->why. */
static int
set_why(struct push *p, const char *why)
{
	free(p->why);
	if ((p->why = strndup(why, 255)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/* Start reconciling after an unknown outcome (why). */
static int
reconcile(struct push *p, const char *why, struct amt_req **out)
{
	int r;

	if ((r = set_why(p, why)) != CUST_OK)
		return r;
	return get_as(p, p->cand, 1, 10, P_REC_CAND, out);
}

/* The store refused to begin or settle the version (r, its message
 * msg): another push (this process's or another's: custodyd and
 * custodyctl) settled it meanwhile, or a rotation replaced it. The
 * device's outcome, not custody's error. */
static int
superseded(struct push *p, int r, const char *msg)
{
	char d[512];

	if (r != CUST_E_CONFLICT && r != CUST_E_NOTFOUND)
		return cust_fail(r, "%s", msg);
	snprintf(d, sizeof(d), "another push settled v%lld, or a rotation "
	    "replaced it, while this one ran: %s", (long long)p->ver, msg);
	outcome(p, "superseded", d);
	return CUST_OK;
}

/* Put p in its group's queue (once per flush). */
static void
enqueue(struct push *p)
{
	if (!p->queued) {
		p->g->q[p->g->nq++] = p;
		p->queued = 1;
	}
}

/* What a device's push holds while it runs (its record, both values),
 * let go once its outcome is committed: a fleet's memory is that of the
 * devices in flight, not of all of them. */
static void
release(struct push *p)
{
	json_decref(p->dev);
	p->dev = NULL;
	p->reg = NULL;
	p->t.address = NULL;
	seal_secret_free(p->cur);
	seal_secret_free(p->cand);
	seal_secret_free(p->fail);
	p->cur = p->cand = p->fail = NULL;
	free(p->t.revoked);
	p->t.revoked = NULL;
	free(p->why);
	p->why = NULL;
}

/* Queue a store step of p for the group's next commit. */
static void
queue_op(struct push *p, int end, enum cred_push_end how, const char *why)
{
	p->op[p->nop].end = end;
	p->op[p->nop].how = how;
	p->op[p->nop].why = why;
	p->nop++;
	enqueue(p);
}

/* Settle the push: applied (the candidate proven) or refused; committed
 * with the group (before the device's result is reported). */
static int
settle(struct push *p, enum cred_push_end how, const char *why)
{
	if (!p->begun) {
		queue_op(p, 0, how, NULL);
		p->begun = 1;
	}
	queue_op(p, 1, how, why);
	return CUST_OK;
}

/* Neither the candidate nor the current logs in (why: so far): try the
 * newest version marked failed newer than the current, which a device
 * may hold all the same (a console applied it after it was replaced, two
 * pushers and a crash). */
static int
rec_failed(struct push *p, const char *why, struct amt_req **out)
{
	const char *state;
	int64_t v;
	int r;

	if ((r = set_why(p, why)) != CUST_OK)
		return r;
	if ((r = cred_secret_read(p->ctx->st, p->ctx->actor, "device.push",
	    "failed", p->fqdn, CRED_KIND_ADMIN, p->failv, &p->fail, &v,
	    &state)) != CUST_OK)
		return r;
	return get_as(p, p->fail, 1, 12, P_REC_FAILED, out);
}

/*
 * The candidate just logged in (the answer to the step 'proven'): a login
 * proves a password only on a peer that refuses the others. The same Get
 * with the password the candidate replaced, on the proof's digest session
 * (no reset: libcurl answers with the nonce the device just gave, next
 * nonce count, on the proof's connection): one request more, no
 * connection more. A device, holding one admin password, refuses it; a
 * peer that takes any login (an impostor with the device's realm, firmware
 * that answers 0 without applying) takes it. SERVICE.md, "The proof".
 */
static int
deny_check(struct push *p, enum pstep proven, struct amt_req **out)
{
	p->proven = proven;
	return get_as(p, p->cur, 0, p->fresh_proof ? 5 : 4, P_DENY, out);
}

/* The answer to deny_check()'s login (err): refused, the candidate is
 * proven; else nothing is, and the version stays as it is (pushed: the
 * next push reconciles it, and proves it the same way). */
static int
denied(struct push *p, int err)
{
	char d[640];

	if (err == CUST_E_DENIED && p->proven == P_VERIFY) {
		snprintf(d, sizeof(d), "v%lld applied and proven: now current",
		    (long long)p->ver);
		outcome(p, "ok", d);
		return settle(p, CRED_PUSH_APPLIED, "proven by a digest login "
		    "(the replaced password refused)");
	}
	if (err == CUST_E_DENIED) {
		snprintf(d, sizeof(d), "%s; the device accepts v%lld: now "
		    "current", p->why, (long long)p->ver);
		outcome(p, "reconciled", d);
		return settle(p, CRED_PUSH_APPLIED, "reconciled: a digest login "
		    "with it works (the replaced password refused)");
	}
	if (err == CUST_OK)
		snprintf(d, sizeof(d), "%s%sthe device took v%lld's login, and "
		    "then the replaced password's too: a peer that takes any "
		    "login proves nothing (not an AMT device, or a man in the "
		    "middle); v%lld stays %s", p->proven == P_REC_CAND ? p->why :
		    "", p->proven == P_REC_CAND ? "; " : "", (long long)p->ver,
		    (long long)p->ver, p->begun ? "pushed" : "pending");
	else
		snprintf(d, sizeof(d), "%s%sv%lld logged in, but whether the "
		    "replaced password is refused could not be seen (%s): not "
		    "proven, v%lld stays %s", p->proven == P_REC_CAND ? p->why :
		    "", p->proven == P_REC_CAND ? "; " : "", (long long)p->ver,
		    cust_errmsg(), (long long)p->ver, p->begun ? "pushed" :
		    "pending");
	outcome(p, err == CUST_OK ? "auth-failed" : "unknown", d);
	return CUST_OK;
}

/* The step after the answer (rep, err) to the last request. */
static int
step(struct push *p, const struct amt_reply *rep, int err,
    struct amt_req **out)
{
	struct ops_ctx *ctx = p->ctx;
	struct seal_secret *dpw = NULL;
	char realm[64], d[512];
	int r;

	switch (p->step) {
	case P_START:
		p->t0 = mono();
		if (p->recon)
			return reconcile(p, "its push's outcome was not known "
			    "(custody stopped before it was settled)", out);
		return get_as(p, p->cur, 0, 1, P_REALM, out);
	case P_REALM:
		/* Which device is this? A refused current password: a push
		 * whose outcome was lost may have applied the candidate. */
		if (err == CUST_E_DENIED)
			return reconcile(p, "the current password was refused",
			    out);
		if (err == CUST_OK)
			err = realm_of(p, rep, realm);
		if (err == CUST_E_VIOLATION) {	/* not the device's realm */
			outcome(p, "realm-mismatch", cust_errmsg());
			return CUST_OK;
		}
		if (err != CUST_OK) {
			outcome(p, "unreachable", cust_errmsg());
			return CUST_OK;
		}
		if (p->reg != NULL && strcmp(p->reg, realm) != 0) {
			snprintf(d, sizeof(d), "the device's DigestRealm %s is "
			    "not the registered %s: %s, nothing sent", realm,
			    p->reg, amt_realm_differs(realm, p->reg));
			outcome(p, "realm-mismatch", d);
			return CUST_OK;
		}
		/* First contact: not a realm another device has. */
		if (p->reg == NULL) {
			const char *res;

			if ((r = ops_first_realm(ctx, p->fqdn, realm, 1,
			    &res)) != CUST_OK)
				return r;
			if (res != NULL) {
				outcome(p, res, cust_errmsg());
				return CUST_OK;
			}
		}
		/* The change, with the current password: 'pushed' is
		 * committed before it is sent. */
		if ((r = amt_digest_password(PUSH_ADMIN_USER, realm, p->cand,
		    &dpw)) != CUST_OK)
			return r;
		r = amt_msg_set_admin(2, PUSH_ADMIN_USER, dpw, out);
		seal_secret_free(dpw);
		if (r != CUST_OK)
			return r;
		/* Sent once the group commit holding its begin is done
		 * (push_flush()), on the connection the Get logged in on:
		 * a resend of it (libcurl's, should that connection die)
		 * logs in with the password it replaces, which a device
		 * that applied it refuses. The begin takes only the version
		 * whose value was read (a rotation may have replaced it
		 * since, another push settled it): else 'superseded'. */
		queue_op(p, 0, CRED_PUSH_APPLIED, NULL);
		p->hold = 1;
		p->t.keep = 1;
		p->step = P_SET;
		return CUST_OK;
	case P_SET:
		util_test_crash("push-sent");
		if (err == CUST_OK && amt_reply_check(rep) != CUST_OK) {
			/* A refusal: nothing changed, if the device says true.
			 * The current password must still log in before the
			 * candidate is failed: a device that applied it and
			 * answered an error would be left holding a failed
			 * version, custody's current no longer working. */
			if ((r = set_why(p, cust_errmsg())) != CUST_OK)
				return r;
			return get_as(p, p->cur, 1, 4, P_REFUSED, out);
		}
		if (err != CUST_OK)	/* the message names the method */
			return reconcile(p, cust_errmsg(), out);
		/*
		 * Proof: a fresh digest login with the candidate (no digest
		 * state: the device must challenge it). Asked on the change's
		 * connection: the device, whose digest sessions the ACL
		 * change ended, challenges it again and closes that
		 * connection (AMT's 401 carries Connection: close), so the
		 * login that answers is a new one, with a new nonce, on a
		 * new connection (reference 3 and 10): one TLS handshake
		 * fewer than opening one for the challenge alone.
		 */
		r = get_as(p, p->cand, 1, 3, P_VERIFY, out);
		p->t.keep = 1;
		return r;
	case P_REFUSED:
		if (err == CUST_OK) {
			outcome(p, "refused", p->why);
			return settle(p, CRED_PUSH_REFUSED, p->detail);
		}
		snprintf(d, sizeof(d), "%.200s; yet the current password no "
		    "longer logs in: %.200s", p->why, cust_errmsg());
		return reconcile(p, d, out);
	case P_VERIFY:
		if (err != CUST_OK) {
			snprintf(d, sizeof(d), "the new password did not log "
			    "in: %s", cust_errmsg());
			return reconcile(p, d, out);
		}
		/* Answered on the change's connection without a new login
		 * (a device that kept its digest session): not a proof yet;
		 * again on a new connection. */
		if (amt_reply_connects(rep) == 0 && !p->fresh_proof) {
			p->fresh_proof = 1;
			return get_as(p, p->cand, 1, 4, P_VERIFY, out);
		}
		return deny_check(p, P_VERIFY, out);
	case P_DENY:
		return denied(p, err);
	case P_REC_CAND:
		if (err == CUST_OK)
			return deny_check(p, P_REC_CAND, out);
		p->rc_cand = err;
		return get_as(p, p->cur, 1, 11, P_REC_CUR, out);
	case P_REC_CUR:
		if (err == CUST_OK) {
			snprintf(d, sizeof(d), "%s; the device still has the "
			    "current password (v%lld %s)", p->why,
			    (long long)p->ver, p->begun ? "failed" :
			    "stays pending");
			outcome(p, "kept-current", d);
			return p->begun ? settle(p, CRED_PUSH_REFUSED,
			    "reconciled: the device still takes the current "
			    "password") : CUST_OK;
		}
		p->rc_cand = p->rc_cand == CUST_E_DENIED &&
		    err == CUST_E_DENIED;
		snprintf(d, sizeof(d), "%s; %s (%s): both are kept%s",
		    p->why, p->rc_cand ? "the device refuses both the "
		    "candidate and the current password" : "neither password "
		    "could be proven", cust_errmsg(), p->begun ? ", the "
		    "candidate stays pushed for reconciliation" : "");
		if (p->failv > 0 && p->rc_cand)
			return rec_failed(p, d, out);
		outcome(p, p->rc_cand ? "auth-failed" : "unknown", d);
		return CUST_OK;
	case P_REC_FAILED:
		if (err != CUST_OK) {
			snprintf(d, sizeof(d), "%.300s; nor v%lld (failed): %s",
			    p->why, (long long)p->failv, err == CUST_E_DENIED ?
			    "refused" : "not proven");
			outcome(p, err == CUST_E_DENIED ? "auth-failed" :
			    "unknown", d);
			return CUST_OK;
		}
		/* A version custody marked failed was applied after all:
		 * current (audited), the candidate kept in flight. */
		if ((r = cred_confirm(ctx->st, ctx->actor, p->fqdn,
		    CRED_KIND_ADMIN, p->failv)) != CUST_OK)
			return superseded(p, r, cust_errmsg());
		snprintf(d, sizeof(d), "%.300s; the device accepts v%lld, "
		    "marked failed: now current (v%lld stays %s)", p->why,
		    (long long)p->failv, (long long)p->ver, p->begun ?
		    "pushed" : "pending");
		outcome(p, "reconciled", d);
		return CUST_OK;
	}
	return cust_fail(CUST_E_INTERNAL, "push: bad step");
}

/* The device's outcome is known: its job item (in the caller's
 * transaction on st, or alone). */
static int
record_item(struct cust_state *st, struct push *p)
{
	if (p->job == NULL)
		return CUST_OK;
	return job_item_add(st, p->job->id, p->devid, CRED_KIND_ADMIN,
	    p->result, p->ver, p->detail);
}

/* ... and the job's progress, once the item is committed. */
static void
progress(struct push *p)
{
	struct ops_ctx *ctx = p->ctx;

	if (p->job == NULL)
		return;
	p->job->done++;
	if (ctx->progress != NULL)
		ctx->progress(ctx->progress_arg, p->job->done, p->job->total);
}

/* cred_push_group()'s extra writes, once its steps are done (on the
 * store thread): a device whose step the store refused on its own is
 * 'superseded' (or, for another refusal, fails); then the job items of
 * the devices whose outcome this commit settles. */
static int
group_items(void *arg)
{
	struct pgroup *g = arg;
	size_t i, k = 0;
	int r, n;

	for (i = 0; i < g->nb; i++) {
		struct push *p = g->b[i];

		for (n = 0; n < p->nop; n++, k++)
			if (g->ops[k].r != CUST_OK && p->err == CUST_OK &&
			    (p->result == NULL ||
			    strcmp(p->result, "superseded") != 0))
				p->err = superseded(p, g->ops[k].r,
				    g->ops[k].msg);
	}
	for (i = 0; i < g->nb; i++)
		if (g->b[i]->result != NULL && g->b[i]->err == CUST_OK &&
		    (r = record_item(g->sctx.st, g->b[i])) != CUST_OK)
			return r;
	return CUST_OK;
}

/* Whether the job of a push is asked to stop (ctx->stopping): a device
 * not begun yet is then left without an item, for the resumption. */
static int
stop_asked(const struct push *p)
{
	return p->job != NULL && p->ctx->stopping != NULL &&
	    p->ctx->stopping(p->ctx->job_arg);
}

static void
skip(struct push *p)
{
	p->skipped = 1;
	p->job->stopped++;
}

static int prepare_chunk(struct pgroup *g, size_t from);

/* Wake the driver (its poll): the store thread's work is done. */
static void
wake_driver(struct pgroup *g)
{
	char c = 1;

	/* Full: a wake-up is pending already. */
	(void)!write(g->wake[1], &c, 1);
}

/* The store thread: a batch handed over first (devices wait for it),
 * then the chunks asked for, until told to stop. */
static void *
store_main(void *arg)
{
	struct pgroup *g = arg;
	size_t c;
	int r;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		if (g->busy && !g->bdone) {
			pthread_mutex_unlock(&g->mu);
			util_test_delay("push-commit");
			r = cred_push_group(g->sctx.st, g->sctx.actor, g->ops,
			    g->nops, group_items, g);
			pthread_mutex_lock(&g->mu);
			g->br = r;
			snprintf(g->bmsg, sizeof(g->bmsg), "%s", r != CUST_OK ?
			    cust_errmsg() : "");
			g->bdone = 1;
			pthread_cond_broadcast(&g->done_cv);
			wake_driver(g);
			continue;
		}
		for (c = 0; !g->stop && c < g->nchunks; c++)
			if (g->chunks[c].state == CH_ASKED)
				break;
		if (!g->stop && c < g->nchunks) {
			pthread_mutex_unlock(&g->mu);
			r = prepare_chunk(g, c * PREPARE_CHUNK);
			pthread_mutex_lock(&g->mu);
			g->chunks[c].r = r;
			snprintf(g->chunks[c].msg, sizeof(g->chunks[c].msg),
			    "%s", r != CUST_OK ? cust_errmsg() : "");
			g->chunks[c].state = CH_DONE;
			pthread_cond_broadcast(&g->done_cv);
			continue;
		}
		if (g->stop)
			break;
		pthread_cond_wait(&g->cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Hand the queued steps over to the store thread as a batch (none is in
 * flight). */
static int
batch_start(struct pgroup *g)
{
	struct push **t;
	size_t i, k = 0;
	int n;

	if (2 * g->nq > g->opcap) {
		struct cred_push_op *o = realloc(g->ops, 2 * g->nq *
		    sizeof(*o));

		if (o == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		g->ops = o;
		g->opcap = 2 * g->nq;
	}
	for (i = 0; i < g->nq; i++)
		for (n = 0; n < g->q[i]->nop; n++) {
			struct push *p = g->q[i];
			struct cred_push_op *op = &g->ops[k++];

			memset(op, 0, sizeof(*op));
			op->fqdn = p->fqdn;
			op->kind = CRED_KIND_ADMIN;
			op->end = p->op[n].end;
			op->how = p->op[n].how;
			op->why = p->op[n].why;
			op->version = p->ver;
		}
	t = g->b;
	g->b = g->q;
	g->q = t;
	pthread_mutex_lock(&g->mu);
	g->nb = g->nq;
	g->nops = k;
	g->busy = 1;
	g->bdone = 0;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	g->nq = 0;
	return CUST_OK;
}

/* The batch is durable (or failed: the push fails, nothing that waited
 * for it being sent): the devices' steps take effect, the results it
 * settled are counted, the held changes may go (push_held()), and each
 * begun device's test stop point. */
static int
batch_done(struct pgroup *g)
{
	size_t i, k;
	int r, n;

	if ((r = g->br) != CUST_OK)
		return cust_fail(r, "%s", g->bmsg);
	for (i = 0, k = 0; i < g->nb; i++) {
		struct push *p = g->b[i];

		for (n = 0; n < p->nop; n++, k++) {
			/* A refused step: superseded (group_items()). */
			if (g->ops[k].r != CUST_OK)
				continue;
			if (!g->ops[k].end) {
				p->ver = g->ops[k].version;
				p->begun = 1;
			}
		}
		if (p->result != NULL && p->err == CUST_OK) {
			progress(p);
			release(p);
		}
	}
	for (i = 0; i < g->nb; i++) {
		struct push *p = g->b[i];

		if (p->hold && p->err == CUST_OK && p->result == NULL) {
			util_test_crash("push-begun");
			util_test_stop("push-begun");	/* tests arm a fault */
		}
		p->nop = 0;
		p->queued = 0;
		p->hold = 0;
	}
	g->nb = 0;
	return CUST_OK;
}

/*
 * The fleet driver's flush hook (on its thread): a batch the store thread
 * finished takes effect (batch_done()); then, when no batch is in
 * flight, the steps queued since go to the store thread as the next one.
 * It does not wait for the commit: the driver polls g->wake with the
 * transfers. A store error fails the push.
 */
static int
push_flush(void *arg)
{
	struct pgroup *g = arg;
	char buf[64];
	int done, r;

	while (read(g->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&g->mu);
	if ((done = g->busy && g->bdone))
		g->busy = g->bdone = 0;
	pthread_mutex_unlock(&g->mu);
	if (done && (r = batch_done(g)) != CUST_OK)
		return r;
	if (!g->busy && g->nq > 0)
		return batch_start(g);
	return CUST_OK;
}

/* Every queued step committed (the driver has ended: nothing else runs
 * meanwhile). */
static int
push_drain(struct pgroup *g)
{
	int r;

	for (;;) {
		pthread_mutex_lock(&g->mu);
		while (g->busy && !g->bdone)
			pthread_cond_wait(&g->done_cv, &g->mu);
		pthread_mutex_unlock(&g->mu);
		if ((r = push_flush(g)) != CUST_OK)
			return r;
		if (!g->busy && g->nq == 0)
			return CUST_OK;
	}
}

/* Whether p's held change goes: not before the batch holding its begin
 * is durable; never when that begin was refused (superseded, or an
 * error). */
static int
push_held(void *arg, void *conv_arg)
{
	struct push *p = conv_arg;

	(void)arg;
	if (p->hold)
		return AMT_HELD_WAIT;
	return p->err != CUST_OK || p->result != NULL ? AMT_HELD_DROP :
	    AMT_HELD_SEND;
}

/* Ask the store thread for chunk c's reads (when not asked yet). */
static void
chunk_ask(struct pgroup *g, size_t c)
{
	pthread_mutex_lock(&g->mu);
	if (c < g->nchunks && g->chunks[c].state == CH_NONE) {
		g->chunks[c].state = CH_ASKED;
		pthread_cond_signal(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
}

/* Whether chunk c was asked for. */
static int
chunk_asked(struct pgroup *g, size_t c)
{
	int a;

	pthread_mutex_lock(&g->mu);
	a = g->chunks[c].state != CH_NONE;
	pthread_mutex_unlock(&g->mu);
	return a;
}

/*
 * The driver reaches chunk c (conversations start in order): wait for
 * its reads (asked half a chunk ahead, push_next(): they are usually
 * done), and count the devices they settled (nothing to push, their own
 * record failed). Until then the store thread may be writing the chunk's
 * devices: the driver touches none.
 */
static int
chunk_take(struct pgroup *g, size_t c)
{
	size_t i, end;
	int r;

	chunk_ask(g, c);
	pthread_mutex_lock(&g->mu);
	while (g->chunks[c].state != CH_DONE)
		pthread_cond_wait(&g->done_cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	g->cready = c + 1;
	if ((r = g->chunks[c].r) != CUST_OK)
		return cust_fail(r, "%s", g->chunks[c].msg);
	end = (c + 1) * PREPARE_CHUNK < g->n ? (c + 1) * PREPARE_CHUNK : g->n;
	for (i = c * PREPARE_CHUNK; i < end; i++)
		if (g->ps[i].result != NULL && g->ps[i].err == CUST_OK)
			progress(&g->ps[i]);
	return CUST_OK;
}

/* The fleet driver's callback: a custody error ends the conversation and
 * is kept for the caller. */
static int
push_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **req_out)
{
	struct push *p = arg;
	size_t c = p->index / PREPARE_CHUNK;
	int r;

	*req_out = NULL;
	if (c >= p->g->cready) {
		/* A job stopping before its chunk was read: left for the
		 * resumption, nothing read. */
		if (stop_asked(p) && !chunk_asked(p->g, c)) {
			skip(p);
			return 0;
		}
		if ((r = chunk_take(p->g, c)) != CUST_OK)
			return r;
	}
	/* Half-way through a chunk, the next one is asked for, unless the
	 * job stops: read by the time it is reached, and the values held at
	 * once (the devices in flight and two half chunks) fit the store
	 * thread's pool of secret memory. */
	if (p->index % PREPARE_CHUNK == PREPARE_CHUNK / 2 &&
	    (c + 1) * PREPARE_CHUNK < p->g->n && !stop_asked(p))
		chunk_ask(p->g, c + 1);
	if (p->result != NULL || p->err != CUST_OK || p->skipped)
		return 0;
	if (p->step == P_START && stop_asked(p)) {
		skip(p);
		return 0;
	}
	if ((r = step(p, prev, err, req_out)) != CUST_OK) {
		amt_req_free(*req_out);
		*req_out = NULL;
		p->err = r;
		return r;
	}
	if (p->result != NULL) {	/* over: its item with the group */
		amt_req_free(*req_out);
		*req_out = NULL;
		enqueue(p);
		return 0;
	}
	return p->hold ? AMT_CONV_HOLD : 0;
}

static void
push_clear(struct push *p)
{
	release(p);
	free(p->detail);
	memset(p, 0, sizeof(*p));
}

/* Set p up for fqdn's admin version in flight: its record and both
 * values (read audited "device.push"); p->result is set already when
 * there is nothing to push (recon: nothing 'pushed' to reconcile). */
static int
push_prepare(struct ops_ctx *ctx, const char *fqdn, int recon,
    struct push *p)
{
	json_t *hist = NULL;
	const char *state;
	int64_t curv;
	int r;

	p->prepared = 1;
	if ((r = cred_device_get(ctx->st, fqdn, &p->dev)) != CUST_OK)
		goto out;
	snprintf(p->fqdnbuf, sizeof(p->fqdnbuf), "%s", json_string_value(
	    json_object_get(p->dev, "fqdn")));
	p->fqdn = p->fqdnbuf;
	p->devid = json_integer_value(json_object_get(p->dev, "id"));
	if ((r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	p->reg = json_string_value(json_object_get(p->dev, "digest_realm"));
	if ((p->ver = ops_version_in(hist, CRED_KIND_ADMIN, "pending")) == 0 &&
	    (p->ver = ops_version_in(hist, CRED_KIND_ADMIN, "pushed")) == 0) {
		outcome(p, "nothing-pending", "no admin password in flight");
		goto out;
	}
	p->begun = ops_version_in(hist, CRED_KIND_ADMIN, "pushed") == p->ver;
	if (p->first != NULL) {		/* nothing sent, no value read */
		outcome(p, p->first->result, p->first->detail);
		goto out;
	}
	if ((p->failv = ops_version_in(hist, CRED_KIND_ADMIN, "failed")) <=
	    ops_version_in(hist, CRED_KIND_ADMIN, "current"))
		p->failv = 0;
	if ((p->recon = recon) && !p->begun) {
		outcome(p, "nothing-pending", "no admin password pushed with "
		    "an outcome unknown");
		goto out;
	}
	if ((r = cred_secret_read(ctx->st, ctx->actor, "device.push",
	    "current", p->fqdn, CRED_KIND_ADMIN, CRED_VER_CURRENT, &p->cur,
	    &curv, &state)) != CUST_OK ||
	    (r = cred_secret_read(ctx->st, ctx->actor, "device.push",
	    "candidate", p->fqdn, CRED_KIND_ADMIN, p->ver, &p->cand, &p->ver,
	    &state)) != CUST_OK)
		goto out;
	p->t.fqdn = p->fqdn;
	p->t.address = json_string_value(json_object_get(p->dev, "address"));
	p->t.realm = p->reg;
	p->t.user = PUSH_ADMIN_USER;
	/* A device custody provisioned TLS on is spoken to over TLS (the
	 * bundle's path, the same for every device: the driver's copy). */
	if ((r = ops_tls_target(ctx->st, p->fqdn, &p->t, p->g->scafile,
	    sizeof(p->g->scafile))) != CUST_OK)
		goto out;
	if (p->t.tls)
		p->t.cafile = p->g->cafile;
	p->step = P_START;
out:
	json_decref(hist);
	return r;
}

/*
 * Prepare the devices of the group from index `from` on, PREPARE_CHUNK
 * of them (those not prepared yet), in one transaction: their values'
 * audit entries and the items of those with nothing to push commit
 * together, before any is sent. On the store thread, with its state:
 * the fleet driver starts conversations in order and asks for a chunk's
 * reads as it takes the one before (chunk_take()), so only the devices in
 * flight and the chunks ahead hold their values. A device whose own
 * record fails (ops_device_own_error(): its read rolled the transaction
 * back) ends 'error', nothing sent, and the chunk is read again without
 * it. Another error is the store's: every device of the chunk ends with
 * it.
 */
static int
prepare_chunk(struct pgroup *g, size_t from)
{
	struct cust_state *st = g->sctx.st;
	size_t i, j, end = from + PREPARE_CHUNK < g->n ? from + PREPARE_CHUNK :
	    g->n;
	char d[512];
	int r, gone;

again:
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto fail;
	for (i = from; i < end; i++) {
		struct push *p = &g->ps[i];

		if (p->prepared) {
			if (p->bad && (r = record_item(st, p)) != CUST_OK) {
				store_rollback(state_store(st));
				goto fail;
			}
			continue;
		}
		if ((r = push_prepare(&g->sctx, p->fqdn, p->recon, p)) !=
		    CUST_OK && ops_device_own_error(st, r)) {
			store_rollback(state_store(st));
			/* The others read so far: again, in a new
			 * transaction (their audited reads were undone). */
			for (j = from; j < i; j++)
				if (!g->ps[j].bad) {
					release(&g->ps[j]);
					g->ps[j].prepared = 0;
					g->ps[j].result = NULL;
				}
			gone = p->dev == NULL && r == CUST_E_NOTFOUND;
			release(p);
			snprintf(d, sizeof(d), gone ? "the device is no longer "
			    "registered" : "custody cannot use its own record "
			    "of this device: %.400s; nothing sent",
			    cust_errmsg());
			outcome(p, gone ? "missing" : "error", d);
			p->bad = 1;
			goto again;
		}
		if (r != CUST_OK || (p->result != NULL &&
		    (r = record_item(st, p)) != CUST_OK)) {
			store_rollback(state_store(st));
			goto fail;
		}
	}
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	/* Counted by the driver as it takes the chunk (chunk_take()). */
	for (i = from; i < end; i++) {
		g->ps[i].bad = 0;
		if (g->ps[i].result != NULL)
			release(&g->ps[i]);
	}
	return CUST_OK;
fail:
	for (i = from; i < end; i++) {
		g->ps[i].prepared = 1;
		g->ps[i].result = NULL;
		release(&g->ps[i]);
		if (g->ps[i].err == CUST_OK)
			g->ps[i].err = r;
	}
	return r;
}

/*
 * Push the admin version in flight of each of fqdns[0..n) (ids: their
 * device ids, or NULL; recon: only reconcile the 'pushed' ones), at most
 * concurrency devices at once: items_out a new array of {"fqdn", "kind",
 * "version", "result", "detail", "elapsed_ms"}. A device whose own
 * record fails is its item's 'error' (prepare_chunk()); an error is the
 * store's: the devices done by then are settled in the store, but not
 * reported.
 */
static int
push_many(struct ops_ctx *ctx, const char *const *fqdns,
    const int64_t *ids, size_t n, size_t concurrency, int recon, struct pjob *job, json_t **items_out)
{
	struct push *ps = NULL;
	struct amt_conv *convs = NULL;
	struct pgroup g;
	struct amt_fleet_hooks hooks = { push_flush, push_held, -1, &g };
	struct ops_first *first = NULL;
	json_t *items = NULL, *it;
	size_t i, nfirst = 0;
	int r = CUST_OK, sync = 0;

	*items_out = NULL;
	memset(&g, 0, sizeof(g));
	g.ctx = ctx;
	g.job = job;
	g.n = n;
	g.wake[0] = g.wake[1] = -1;
	g.nchunks = (n + PREPARE_CHUNK - 1) / PREPARE_CHUNK;
	if ((ps = calloc(n ? n : 1, sizeof(*ps))) == NULL ||
	    (convs = calloc(n ? n : 1, sizeof(*convs))) == NULL ||
	    (g.q = calloc(n ? n : 1, sizeof(*g.q))) == NULL ||
	    (g.b = calloc(n ? n : 1, sizeof(*g.b))) == NULL ||
	    (g.chunks = calloc(g.nchunks ? g.nchunks : 1,
	    sizeof(*g.chunks))) == NULL ||
	    (items = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	g.ps = ps;
	if ((size_t)snprintf(g.cafile, sizeof(g.cafile), "%s/ca/bundle.pem",
	    state_dir(ctx->st)) >= sizeof(g.cafile)) {
		r = cust_fail(CUST_E_INVAL, "state directory path too long");
		goto out;
	}
	/* The store thread, with a state of its own. */
	if (pthread_mutex_init(&g.mu, NULL) != 0) {
		r = cust_fail(CUST_E_NOMEM, "cannot make a mutex");
		goto out;
	}
	sync |= 1;
	if (pthread_cond_init(&g.cv, NULL) != 0) {
		r = cust_fail(CUST_E_NOMEM, "cannot make a condition variable");
		goto out;
	}
	sync |= 2;
	if (pthread_cond_init(&g.done_cv, NULL) != 0) {
		r = cust_fail(CUST_E_NOMEM, "cannot make a condition variable");
		goto out;
	}
	sync |= 4;
	if (pipe2(g.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		r = cust_fail(CUST_E_IO, "cannot make a pipe: %s",
		    strerror(errno));
		goto out;
	}
	hooks.wake_fd = g.wake[0];
	g.sctx = *ctx;
	g.sctx.st = NULL;
	if (n > 0 && (r = state_open(state_dir(ctx->st), &g.sctx.st)) !=
	    CUST_OK)
		goto out;
	if (n > 0 && pthread_create(&g.th, NULL, store_main, &g) != 0) {
		r = cust_fail(CUST_E_NOMEM, "cannot start the push's store "
		    "thread");
		goto out;
	}
	g.th_started = n > 0;
	for (i = 0; i < n; i++) {
		ps[i].ctx = ctx;
		ps[i].job = job;
		ps[i].g = &g;
		ps[i].index = i;
		ps[i].recon = recon;
		ps[i].fqdn = fqdns[i];
		ps[i].devid = ids != NULL ? ids[i] : 0;
		convs[i] = (struct amt_conv){ &ps[i].t, push_next, &ps[i] };
	}
	/* The first contacts' realms, all read before any change is sent
	 * (ops_realm.c): those recorded are prepared as registered ones;
	 * those refused end with their outcome, nothing read or sent. A
	 * reconciliation sends no change and records no realm. */
	if (!recon && (r = ops_first_contacts_of(ctx, "device.push", fqdns,
	    n, CRED_KIND_ADMIN, OPS_FIRST_RECORD, &first, &nfirst)) != CUST_OK)
		goto out;
	for (i = 0; i < nfirst; i++)
		if (first[i].result != NULL)
			ps[first[i].index].first = &first[i];
	chunk_ask(&g, 0);
	r = amt_fleet_run_with(convs, n, concurrency, &hooks);
	if (r != CUST_OK || (r = push_drain(&g)) != CUST_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (ps[i].result == NULL && ps[i].err == CUST_OK &&
		    !ps[i].skipped) {
			outcome(&ps[i], "unknown", "the push did not finish");
			enqueue(&ps[i]);
		}
	if ((r = push_drain(&g)) != CUST_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (ps[i].skipped)
			continue;
		if ((r = ps[i].err) != CUST_OK) {
			cust_fail(r, "%s: %s", ps[i].fqdn, cust_strerror(r));
			goto out;
		}
		it = json_pack("{s:s, s:s, s:o, s:s, s:s, s:I}", "fqdn",
		    ps[i].fqdn, "kind", CRED_KIND_ADMIN, "version", ps[i].ver ?
		    json_integer(ps[i].ver) : json_null(), "result",
		    ps[i].result, "detail", ps[i].detail ? ps[i].detail : "",
		    "elapsed_ms",
		    (json_int_t)(ps[i].elapsed * 1e3 + 0.5));
		if (it == NULL || json_array_append_new(items, it) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*items_out = items;
	items = NULL;
out:
	if (g.th_started) {
		/* A batch handed over is finished first (what waited for it
		 * is not sent: the driver has ended). */
		pthread_mutex_lock(&g.mu);
		g.stop = 1;
		pthread_cond_signal(&g.cv);
		pthread_mutex_unlock(&g.mu);
		pthread_join(g.th, NULL);
	}
	if (g.sctx.st != NULL) {
		if (store_in_txn(state_store(g.sctx.st)))
			store_rollback(state_store(g.sctx.st));
		state_close(g.sctx.st);
	}
	if (store_in_txn(state_store(ctx->st)))
		store_rollback(state_store(ctx->st));
	for (i = 0; ps != NULL && i < n; i++)
		push_clear(&ps[i]);
	if (g.wake[0] != -1)
		close(g.wake[0]);
	if (g.wake[1] != -1)
		close(g.wake[1]);
	if (sync & 4)
		pthread_cond_destroy(&g.done_cv);
	if (sync & 2)
		pthread_cond_destroy(&g.cv);
	if (sync & 1)
		pthread_mutex_destroy(&g.mu);
	free(ps);
	free(convs);
	free(g.q);
	free(g.b);
	free(g.chunks);
	free(g.ops);
	free(first);
	json_decref(items);
	return r;
}

int
ops_push_admin_many(struct ops_ctx *ctx, const char *const *fqdns,
    size_t n, size_t concurrency, json_t **items_out)
{
	return push_many(ctx, fqdns, NULL, n, concurrency, 0, NULL,
	    items_out);
}

/* How many versions a reconciliation reads from the store at once. */
#define RECONCILE_PAGE	1024

/*
 * device.reconcile: every admin version left 'pushed' (its push's
 * outcome unknown: custody was killed, or the device stopped answering)
 * for at least "min_age" seconds is settled against its device: the
 * candidate, then the current password, tried with a Get; the one that
 * works is committed (cred_push_end()). custodyd runs it at start-up
 * (min_age 0: no push of its own is under way) and on its scheduler's
 * ticks (a min_age longer than any push takes, so that a push running
 * in this or another process is left to finish). Answers {"checked",
 * "settled", "items"}: a device that cannot be reached stays 'pushed'
 * (its item says why) for the next time. The console users' versions
 * left 'pushed' (a policy apply that stopped) are settled the same way,
 * per device, by ops_acl_reconcile(): "consoles" {"checked" (devices),
 * "items" (policy.apply's device items)}.
 */
int
ops_device_reconcile(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *page = NULL, *items = NULL, *names = json_array(), *v;
	json_t *cnames = json_array(), *citems = NULL;
	const char **fqdns = NULL;
	long long min_age = 0;
	int64_t after = 0, before;
	char after_kind[CRED_KIND_MAX] = "";
	size_t i, n = 0, settled = 0, cbad = 0;
	int r;

	*resp = NULL;
	if (names == NULL || cnames == NULL) {
		json_decref(names);
		json_decref(cnames);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	if ((r = ops_req_int(req, "min_age", 0, 0, INT32_MAX, &min_age)) !=
	    CUST_OK)
		return r;
	before = util_now() - (int64_t)min_age;
	do {
		json_decref(page);
		if ((r = cred_push_list(ctx->st, after, after_kind,
		    RECONCILE_PAGE, &page)) != CUST_OK)
			goto out;
		json_array_foreach(page, i, v) {
			after = json_integer_value(json_object_get(v,
			    "device_id"));
			snprintf(after_kind, sizeof(after_kind), "%s",
			    json_string_value(json_object_get(v, "kind")));
			if (json_integer_value(json_object_get(v, "changed")) >
			    before)
				continue;
			/* A device once per console kind: in device order. */
			if (strncmp(after_kind, CRED_KIND_CONSOLE,
			    strlen(CRED_KIND_CONSOLE)) == 0) {
				if (json_array_size(cnames) > 0 && json_equal(
				    json_array_get(cnames, json_array_size(
				    cnames) - 1), json_object_get(v, "fqdn")))
					continue;
				if (json_array_append(cnames,
				    json_object_get(v, "fqdn")) != 0) {
					r = cust_fail(CUST_E_NOMEM, "out of "
					    "memory");
					goto out;
				}
				continue;
			}
			if (strcmp(after_kind, CRED_KIND_ADMIN) != 0)
				continue;
			if (json_array_append_new(names, json_string(
			    json_string_value(json_object_get(v, "fqdn")))) !=
			    0) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				goto out;
			}
		}
	} while (json_array_size(page) == RECONCILE_PAGE);
	n = json_array_size(names);
	if ((fqdns = calloc(n ? n : 1, sizeof(*fqdns))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(names, i, v)
		fqdns[i] = json_string_value(v);
	if ((r = push_many(ctx, fqdns, NULL, n, 0, 1, NULL, &items)) != CUST_OK)
		goto out;
	json_array_foreach(items, i, v)
		settled += ops_push_ok(v) || strcmp(json_string_value(
		    json_object_get(v, "result")), "kept-current") == 0;
	if (json_array_size(cnames) == 0)
		citems = json_array();
	else if ((r = ops_acl_reconcile(ctx, cnames, &citems, &cbad)) !=
	    CUST_OK)
		goto out;
	r = ops_reply(json_pack("{s:I, s:I, s:O, s:{s:I, s:I, s:O}}",
	    "checked", (json_int_t)n, "settled", (json_int_t)settled, "items",
	    items, "consoles", "checked", (json_int_t)json_array_size(cnames),
	    "failed", (json_int_t)cbad, "items", citems), resp);
out:
	json_decref(page);
	json_decref(items);
	json_decref(names);
	json_decref(cnames);
	json_decref(citems);
	free(fqdns);
	return r;
}

/* The FQDNs of the active devices among ids[0..n) (sorted): collected
 * by cred_device_each(). */
struct names {
	const int64_t *ids;
	size_t n;
	json_t *fqdns;		/* strings */
	json_t *devs;		/* their ids, in the same order */
};

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
name_of(void *arg, json_t *dev)
{
	struct names *nm = arg;
	int64_t id = json_integer_value(json_object_get(dev, "id"));

	if (bsearch(&id, nm->ids, nm->n, sizeof(*nm->ids), cmp_i64) == NULL)
		return 0;
	if (json_array_append(nm->fqdns, json_object_get(dev, "fqdn")) != 0 ||
	    json_array_append_new(nm->devs, json_integer(id)) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return 0;
}

/* How a push job is started or taken up. */
enum pj_mode {
	PJ_NEW,		/* a new job over the devices given */
	PJ_RESUME,	/* the rest of an interrupted or failed job */
	PJ_CONTINUE,	/* a job this process recorded (ctx->jobs) */
};

/*
 * A push of the admin versions in flight of devices ids[0..n) as a job
 * (JOB_KIND_PUSH, selector borrowed): one item per device as its outcome
 * is known (the same results as ops_push_admin()), progress through
 * ctx->progress; PJ_RESUME: the rest of job id instead; PJ_CONTINUE: job
 * id, which this process recorded and handed to its runner (ctx->jobs).
 * A device removed since the job began is 'missing'. *resp = {"job",
 * "selected", "pushed" (now current), "results" (counts by result),
 * "items" (when want_items)}; with ctx->jobs, {"job", "selected",
 * "state": "running"} as soon as the job is recorded (or claimed), the
 * devices left to the runner. Only custody's own errors (the store) are
 * errors; the job then ends 'failed', resumable. A job whose
 * ctx->stopping turns true is left 'interrupted' (CUST_E_UNAVAIL).
 */
static int
push_job(struct ops_ctx *ctx, json_t *selector, const int64_t *ids,
    size_t n, enum pj_mode mode, int64_t resume, int want_items,
    json_t **resp)
{
	struct pjob job = { 0, 0, 0, 0 };
	char why[256];
	struct names nm = { NULL, 0, json_array(), json_array() };
	json_t *params = json_object(), *items = NULL, *counts = NULL, *v;
	const char **fqdns = NULL;
	int64_t *sorted = NULL, *gone, *devs = NULL;
	size_t m = 0, i, j, ok = 0;
	int r;

	*resp = NULL;
	if (params == NULL || nm.fqdns == NULL || nm.devs == NULL ||
	    (counts = json_object()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (mode != PJ_NEW) {
		json_decref(params);
		params = NULL;
		job.id = resume;
		r = (mode == PJ_RESUME ? job_take : job_take_own)(ctx->st,
		    resume, JOB_KIND_PUSH, &params, &sorted, &m, &i);
	} else
		r = job_start(ctx->st, ctx->actor, JOB_KIND_PUSH, selector,
		    params, ids, n, &job.id, &sorted, &m);
	if (r != CUST_OK)
		goto out;
	job.total = m;
	if (mode != PJ_CONTINUE && ctx->jobs != NULL) {
		/* A service: its job runner pushes, this call answers. */
		if ((r = ctx->jobs(ctx->job_arg, job.id)) != CUST_OK)
			goto end;
		r = ops_reply(json_pack("{s:I, s:I, s:s}", "job",
		    (json_int_t)job.id, "selected", (json_int_t)m, "state",
		    "running"), resp);
		goto out;
	}
	nm.ids = sorted;
	nm.n = m;
	if ((r = cred_device_each(ctx->st, NULL, name_of, &nm)) != CUST_OK)
		goto end;
	/* The devices gone since: 'missing' (both lists in id order once
	 * nm.devs is: cred_device_each() goes by FQDN). */
	if (json_array_size(nm.fqdns) < m) {
		if ((gone = malloc(m * sizeof(*gone))) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto end;
		}
		memcpy(gone, sorted, m * sizeof(*gone));
		json_array_foreach(nm.devs, i, v) {
			int64_t id = json_integer_value(v), *at = bsearch(&id,
			    gone, m, sizeof(*gone), cmp_i64);

			if (at != NULL)
				*at = 0;
		}
		for (j = 0; j < m && r == CUST_OK; j++)
			if (gone[j] != 0)
				r = job_item_add(ctx->st, job.id, gone[j],
				    CRED_KIND_ADMIN, "missing", 0, "the device "
				    "is no longer registered");
		free(gone);
		if (r != CUST_OK)
			goto end;
	}
	if ((fqdns = calloc(json_array_size(nm.fqdns) + 1, sizeof(*fqdns))) ==
	    NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto end;
	}
	if ((devs = calloc(json_array_size(nm.devs) + 1, sizeof(*devs))) ==
	    NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto end;
	}
	json_array_foreach(nm.fqdns, i, v) {
		fqdns[i] = json_string_value(v);
		devs[i] = json_integer_value(json_array_get(nm.devs, i));
	}
	r = push_many(ctx, fqdns, devs, json_array_size(nm.fqdns), 0, 0, &job,
	    &items);
	if (r == CUST_OK && job.stopped > 0) {
		snprintf(why, sizeof(why), "stopped at a device boundary with "
		    "%zu of %zu devices left (its process was stopping): the "
		    "rest is pushed when it is resumed", job.stopped, m);
		(void)job_interrupt(ctx->st, job.id, why);
		r = cust_fail(CUST_E_UNAVAIL, "push job %lld %s", (long long)
		    job.id, why);
		goto out;
	}
end:
	r = job_end(ctx->st, job.id, r);
	if (r != CUST_OK)
		goto out;
	json_array_foreach(items, i, v) {
		const char *res = json_string_value(json_object_get(v,
		    "result"));

		ok += ops_push_ok(v) != 0;
		json_object_set_new(counts, res, json_integer(
		    json_integer_value(json_object_get(counts, res)) + 1));
	}
	if (m > json_array_size(nm.fqdns))
		json_object_set_new(counts, "missing", json_integer(
		    (json_int_t)(m - json_array_size(nm.fqdns))));
	r = ops_reply(json_pack("{s:I, s:I, s:I, s:O, s:O*}", "job",
	    (json_int_t)job.id, "selected", (json_int_t)m, "pushed",
	    (json_int_t)ok, "results", counts, "items", want_items ? items :
	    NULL), resp);
out:
	json_decref(params);
	json_decref(items);
	json_decref(counts);
	json_decref(nm.fqdns);
	json_decref(nm.devs);
	free(fqdns);
	free(devs);
	free(sorted);
	return r;
}

int
ops_push_job(struct ops_ctx *ctx, json_t *selector, const int64_t *ids,
    size_t n, int64_t resume, int want_items, json_t **resp)
{
	return push_job(ctx, selector, ids, n, resume > 0 ? PJ_RESUME : PJ_NEW,
	    resume, want_items, resp);
}

int
ops_push_job_continue(struct ops_ctx *ctx, int64_t id, int want_items,
    json_t **resp)
{
	return push_job(ctx, NULL, NULL, 0, PJ_CONTINUE, id, want_items, resp);
}

int
ops_push_admin(struct ops_ctx *ctx, const char *fqdn, json_t **item_out)
{
	json_t *items = NULL;
	int r;

	*item_out = NULL;
	if ((r = ops_push_admin_many(ctx, &fqdn, 1, 1, &items)) != CUST_OK)
		return r;
	*item_out = json_incref(json_array_get(items, 0));
	json_decref(items);
	return CUST_OK;
}

/* Whether a push item ended with the candidate current. */
int
ops_push_ok(json_t *item)
{
	const char *res = json_string_value(json_object_get(item, "result"));

	return res != NULL && (strcmp(res, "ok") == 0 ||
	    strcmp(res, "reconciled") == 0);
}

/*
 * The MEBx password push. SetMEBxPassword takes the password in plain
 * text, so it is sent only to a device custody provisioned TLS on (cert
 * provision), over TLS verified against the bundle, authenticated as the
 * admin with its current password. AMT offers no login with the MEBx
 * password, so the device's answer is the only proof there is:
 * ReturnValue 0 applied it (the version becomes current); another
 * ReturnValue refused it (failed, kept); no answer (a timeout, a dropped
 * connection, a crash) leaves it 'pushed', and the next push sends the
 * same value again, which SetMEBxPassword takes as often as it is sent.
 */
int
ops_push_mebx(struct ops_ctx *ctx, const char *fqdn, json_t **item_out)
{
	struct amt_target t = { 0 };
	struct seal_secret *cur = NULL, *cand = NULL;
	struct amt_reply *rep = NULL;
	struct amt_req *q = NULL;
	json_t *dev = NULL, *hist = NULL, *rec = NULL;
	const char *state, *result;
	char cafile[PATH_MAX], d[512];
	int64_t ver = 0, curv;
	int r, e;

	*item_out = NULL;
	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK ||
	    (r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	fqdn = json_string_value(json_object_get(dev, "fqdn"));
	if ((r = ops_tls_record(ctx->st, fqdn, &rec)) == CUST_E_NOTFOUND) {
		r = cust_fail(CUST_E_CONFLICT, "%s is not TLS-provisioned: the "
		    "MEBx password travels in plain text and is sent over TLS "
		    "only (run 'cert provision %s' first)", fqdn, fqdn);
		goto out;
	}
	if (r != CUST_OK)
		goto out;
	if ((ver = ops_version_in(hist, CRED_KIND_MEBX, "pending")) == 0 &&
	    (ver = ops_version_in(hist, CRED_KIND_MEBX, "pushed")) == 0) {
		result = "nothing-pending";
		snprintf(d, sizeof(d), "no MEBx password in flight");
		goto item;
	}
	t.fqdn = fqdn;
	t.address = json_string_value(json_object_get(dev, "address"));
	t.realm = json_string_value(json_object_get(dev, "digest_realm"));
	t.user = PUSH_ADMIN_USER;
	if ((r = ops_tls_target(ctx->st, fqdn, &t, cafile, sizeof(cafile))) !=
	    CUST_OK ||
	    (r = cred_secret_read(ctx->st, ctx->actor, "device.push",
	    "current", fqdn, CRED_KIND_ADMIN, CRED_VER_CURRENT, &cur, &curv,
	    &state)) != CUST_OK ||
	    (r = cred_secret_read(ctx->st, ctx->actor, "device.push",
	    "candidate", fqdn, CRED_KIND_MEBX, ver, &cand, &ver, &state)) !=
	    CUST_OK ||
	    (r = amt_msg_set_mebx(1, cand, &q)) != CUST_OK ||
	    /* 'pushed', committed, before it is sent. */
	    (r = cred_push_begin(ctx->st, ctx->actor, fqdn, CRED_KIND_MEBX,
	    &ver)) != CUST_OK)
		goto out;
	t.password = cur;
	t.fresh = 1;
	if ((e = amt_call(&t, q, &rep)) != CUST_OK) {
		result = e == CUST_E_DENIED ? "auth-failed" : "unknown";
		snprintf(d, sizeof(d), "%s; v%lld stays pushed: a push sends "
		    "it again (SetMEBxPassword takes the same value again)",
		    cust_errmsg(), (long long)ver);
		goto item;
	}
	if (amt_reply_check(rep) != CUST_OK) {
		result = "refused";
		snprintf(d, sizeof(d), "%s", cust_errmsg());
		if ((r = cred_push_end(ctx->st, ctx->actor, fqdn,
		    CRED_KIND_MEBX, ver, CRED_PUSH_REFUSED, d)) != CUST_OK)
			goto out;
		goto item;
	}
	result = "ok";
	snprintf(d, sizeof(d), "v%lld applied over TLS (ReturnValue 0): now "
	    "current", (long long)ver);
	if ((r = cred_push_end(ctx->st, ctx->actor, fqdn, CRED_KIND_MEBX, ver,
	    CRED_PUSH_APPLIED, "SetMEBxPassword over TLS answered "
	    "ReturnValue 0 (AMT has no MEBx login to prove it)")) != CUST_OK)
		goto out;
item:
	if ((*item_out = json_pack("{s:s, s:s, s:o, s:s, s:s}", "fqdn", fqdn,
	    "kind", CRED_KIND_MEBX, "version", ver ? json_integer(ver) :
	    json_null(), "result", result, "detail", d)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	else
		r = CUST_OK;
out:
	amt_req_free(q);
	amt_reply_free(rep);
	json_decref(dev);
	json_decref(hist);
	json_decref(rec);
	seal_secret_free(cur);
	seal_secret_free(cand);
	free(t.revoked);
	return r;
}

/* device.push with "fqdns", "tag" or "all": a push job of the admin
 * passwords ("items": the per-device results in the reply too). */
static int
push_selected(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	json_t *sel = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	const char *kind;
	int items, dry, r;

	if ((r = ops_req_bool(req, "items", &items)) != CUST_OK ||
	    (r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK ||
	    (r = ops_req_str(req, "kind", 0, &kind)) != CUST_OK)
		return r;
	if (dry)
		return cust_fail(CUST_E_INVAL, "a dry run takes one 'fqdn'");
	/* MEBx pushes go one device at a time over TLS, not as a job. */
	if (kind != NULL && strcmp(kind, CRED_KIND_ADMIN) != 0)
		return cust_fail(CUST_E_INVAL, "a push by selector sends the "
		    "admin password ('kind' mebx takes one 'fqdn')");
	if ((r = ops_select(ctx, req, &ids, &n, &sel)) != CUST_OK)
		return r;
	r = ops_push_job(ctx, sel, ids, n, 0, items, resp);
	json_decref(sel);
	free(ids);
	return r;
}

int
ops_device_push(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct amt_target t = { 0 };
	struct seal_secret *pw = NULL, *dpw = NULL;
	const char *fqdn, *kind = CRED_KIND_ADMIN, *cand = "pending", *realm;
	const char *state;
	char cafile[PATH_MAX];
	json_t *dev = NULL, *hist = NULL, *out = NULL;
	int64_t cur, ver = 0;
	int dry, r;

	*resp = NULL;
	if (json_object_get(req, "fqdn") == NULL)	/* a selector: a job */
		return push_selected(ctx, req, resp);
	if ((r = ops_req_str(req, "fqdn", 1, &fqdn)) != CUST_OK ||
	    (r = ops_req_str(req, "kind", 0, &kind)) != CUST_OK ||
	    (r = ops_req_str(req, "candidate", 0, &cand)) != CUST_OK ||
	    (r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK)
		return r;
	if (kind == NULL)
		kind = CRED_KIND_ADMIN;
	if (cand == NULL)
		cand = "pending";
	if (strcmp(kind, CRED_KIND_MEBX) == 0 && !dry)
		return ops_push_mebx(ctx, fqdn, resp);
	if (strcmp(kind, CRED_KIND_ADMIN) != 0)
		return cust_fail(CUST_E_INVAL, "'kind' is admin or mebx (dry "
		    "runs: admin)");
	if (strcmp(cand, "pending") != 0 && strcmp(cand, "new") != 0)
		return cust_fail(CUST_E_INVAL, "'candidate' is pending or new");
	if (!dry) {
		if (strcmp(cand, "pending") != 0)
			return cust_fail(CUST_E_INVAL, "a push sends the "
			    "pending version ('candidate' new is for dry "
			    "runs)");
		return ops_push_admin(ctx, fqdn, resp);
	}
	if ((r = cred_device_get(ctx->st, fqdn, &dev)) != CUST_OK ||
	    (r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	fqdn = json_string_value(json_object_get(dev, "fqdn"));
	realm = json_string_value(json_object_get(dev, "digest_realm"));
	cur = ops_version_in(hist, kind, "current");
	if (strcmp(cand, "pending") == 0) {
		if ((ver = ops_version_in(hist, kind, "pending")) == 0 &&
		    (ver = ops_version_in(hist, kind, "pushed")) == 0) {
			r = cust_fail(CUST_E_CONFLICT, "%s has no pending %s "
			    "password to push (password rotate it first)",
			    fqdn, kind);
			goto out;
		}
		/* The candidate's DigestPassword: reading the secret is
		 * audited, and the hash is only computed with the realm. */
		if (realm != NULL) {
			if ((r = cred_secret_read(ctx->st, ctx->actor,
			    "device.push", "dry-run", fqdn, kind, ver, &pw,
			    &ver, &state)) != CUST_OK ||
			    (r = amt_digest_password(PUSH_ADMIN_USER, realm, pw,
			    &dpw)) != CUST_OK)
				goto out;
		}
	}
	t.fqdn = fqdn;
	t.address = json_string_value(json_object_get(dev, "address"));
	t.user = PUSH_ADMIN_USER;
	if ((r = ops_tls_target(ctx->st, fqdn, &t, cafile, sizeof(cafile))) !=
	    CUST_OK)
		goto out;
	if ((out = json_pack("{s:s, s:s, s:b, s:s, s:I, s:o, s:o}", "fqdn",
	    fqdn, "kind", kind, "dry_run", 1, "candidate", cand, "current",
	    (json_int_t)cur, "version", ver ? json_integer(ver) : json_null(),
	    "digest_realm", realm ? json_string(realm) : json_null())) ==
	    NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = plan_json(&t, dpw, cur, ver, out)) != CUST_OK)
		goto out;
	if (realm == NULL && json_object_set_new(out, "note", json_string(
	    "the digest realm is not registered: the push reads it from the "
	    "device first, so the DigestPassword is shown as ***")) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	*resp = out;
	out = NULL;
	r = CUST_OK;
out:
	json_decref(out);
	json_decref(dev);
	json_decref(hist);
	seal_secret_free(pw);
	seal_secret_free(dpw);
	free(t.revoked);
	return r;
}
