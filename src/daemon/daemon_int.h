/* SPDX-License-Identifier: MIT */
/* src/daemon/daemon_int.h - custodyd's parts and what they share
 * (doc/internals/SERVICE.md "The threading model").
 *
 *   main.c    options, start-up, signals, the reload of TLS trust, shutdown
 *   tls.c     the TLS context: protocol and suites, server key, client
 *             verification against custody's CA chain and CRLs
 *   conn.c    the event loop: connections, HTTP/1.1 framing, limits
 *   worker.c  the worker pool: identity, routes onto ops_call(), replies
 *   metrics.c counters and the Prometheus text
 *   scheduler.c the scheduler thread (sched_tick())
 *   jobs.c    the job threads: the devices of a push job
 */
#ifndef CUST_DAEMON_INT_H
#define CUST_DAEMON_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "api.h"
#include "audit.h"
#include "scheduler.h"

struct event_base;
struct event;
struct evconnlistener;
struct audit_group;
struct cust_state;

#define DAEMON_LISTEN_MAX	16

/*
 * What custodyd is told: built-in defaults, then the command line. Kept
 * as one plain struct so that the configuration file (custody.yaml) can
 * fill the same fields.
 */
struct daemon_conf {
	const char *state_dir;
	const char *listen[DAEMON_LISTEN_MAX];
	size_t nlisten;
	int listen_default;		/* nothing given: the defaults */
	int workers;			/* worker threads */
	int job_threads;		/* jobs run at once (jobs.c) */
	size_t max_header_bytes;	/* request head, 413 beyond */
	long long max_body_bytes;	/* request body, 413 beyond */
	int header_timeout_ms;		/* TLS handshake + head, total */
	int body_timeout_ms;		/* body, total */
	int idle_timeout_ms;		/* keep-alive between requests */
	int write_timeout_ms;		/* a reply not taken by the client */
	int max_connections;		/* 503 beyond */
	int max_per_address;		/* 0: max_connections / 4 */
	int drain_timeout_ms;		/* SIGTERM: in-flight requests */
	int log_level;			/* LOG_LEVEL_* */
	int sched_interval_ms;		/* scheduler ticks */
	struct sched_policy sched;	/* what a tick does (sched_mu) */
	int tls_min_version;		/* 12: TLS 1.2 and 1.3; 13: 1.3 */
	int session_tickets;		/* resumption by tickets */
	/* The enterprise client CA and its CRLs ("" none; tls.c). */
	char client_ca_file[1025];
	char client_crl_file[1025];
	int client_crl_required;
	/* The HTTP service keytab for Negotiate ("" off; negotiate.c). */
	char negotiate_keytab[1025];
	/* Set on the command line: custody.yaml does not change them
	 * (indexed by the option's letter). */
	unsigned char given[128];
	char listen_buf[DAEMON_LISTEN_MAX][64];	/* from custody.yaml */
};

void daemon_conf_defaults(struct daemon_conf *c);

/* Apply custody.yaml (include/config.h) to c: every field the command
 * line did not set (c->given). At start, all of them; on SIGHUP (reload
 * 1) only what can change while running (log level, scheduler policy,
 * TLS options), with a warning naming what needs a restart. */
struct cust_config;
void daemon_conf_apply(struct daemon_conf *c, const struct cust_config *cfg,
    int reload);

/* One request, from the loop to a worker and back. */
struct daemon_conn;
struct daemon;
struct daemon_req {
	struct daemon_req *next;
	struct daemon *d;
	struct daemon_conn *conn;	/* kept alive while the request is out */
	/* The audit entries of a secret read not yet committed: the reply
	 * goes back to the loop when the last one is (worker.c). */
	struct audit_ticket ticket;
	/* In (from the loop). */
	char method[8];
	struct api_match m;		/* m.req owned */
	int ctype;			/* DAEMON_CT_* */
	char *inm;			/* If-None-Match, or NULL */
	char *negotiate;		/* Authorization: Negotiate's token */
	char *authn_reply;		/* WWW-Authenticate head line, or NULL */
	struct ops_identity *neg_id;	/* who the Negotiate token proved */
	unsigned char *body;		/* content_length bytes, or NULL */
	size_t body_len;
	const unsigned char *der;	/* client leaf (borrowed from conn) */
	size_t der_len;
	const unsigned char *der_key;	/* its SHA-256 (borrowed from conn) */
	const char *peer;		/* borrowed from conn */
	int client_close;		/* Connection: close, or HTTP/1.0 */
	struct timespec start;
	/* Out (from the worker). */
	int status;
	unsigned char *out;		/* the whole reply: head and body */
	size_t out_len;
	int close;			/* close the connection after it */
	char actor[160];
	char opname[API_OP_MAX];
};

/* Negotiate login (negotiate.c): who req's Authorization: Negotiate
 * token proves, *out new or NULL (no login configured, a bad token, a
 * principal of no console: logged, the request stays anonymous); the
 * mutual-authentication reply header set on req. Errors: CUST_E_NOMEM,
 * the store's. Runs on a worker. */
struct ops_identity;
struct cust_state;
int daemon_negotiate(struct daemon *d, struct cust_state *st,
    struct daemon_req *req, struct ops_identity **out)
	__attribute__((warn_unused_result));

#define DAEMON_CT_NONE	0
#define DAEMON_CT_JSON	1
#define DAEMON_CT_CSR	2	/* application/pkcs10 */
#define DAEMON_CT_OTHER	3

/* Append req to the list head..tail (under the list's mutex). */
static inline void
daemon_queue_push(struct daemon_req **head, struct daemon_req **tail,
    struct daemon_req *req)
{
	req->next = NULL;
	if (*tail != NULL)
		(*tail)->next = req;
	else
		*head = req;
	*tail = req;
}

/* Connections in the order they became evictable (conn.c): Q_FRESH
 * (TLS handshake or request head not complete), Q_IDLE (kept-alive
 * between requests, or lingering after an error reply). */
enum { Q_FRESH, Q_IDLE, NQ };
struct daemon_conn_q {
	struct daemon_conn *head, *tail;	/* oldest first */
};
struct daemon_peer;
struct djob;

/* The process. */
struct daemon {
	struct daemon_conf conf;
	struct event_base *base;
	struct evconnlistener *listeners[DAEMON_LISTEN_MAX];
	size_t nlisteners;
	struct event *done_ev;		/* workers -> loop */
	/* The light requests of one pass of the loop, run together once
	 * the pass has read every connection that was ready (light_ev):
	 * one hold of the data key for all of them. */
	struct event *light_ev;
	struct daemon_req *light_head, *light_tail;
	struct event *stop_ev;		/* main -> loop: drain and stop */
	struct event *drain_timer;
	/* TLS context for new connections, swapped by the reload. */
	pthread_mutex_t ctx_mu;
	SSL_CTX *ctx;
	unsigned char trust_digest[32];
	/* Work queue. */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	struct daemon_req *q_head, *q_tail;
	int q_stop;
	/* Replies back to the loop. */
	pthread_mutex_t done_mu;
	struct daemon_req *done_head, *done_tail;
	/* Workers. */
	pthread_t *threads;
	int nthreads;
	struct audit_group *group;
	/* Bumped by SIGHUP and trust reloads: workers forget identities. */
	atomic_uint id_gen;
	/* The scheduler thread (scheduler.c). */
	pthread_t sched_thread;
	pthread_mutex_t sched_mu;
	pthread_cond_t sched_cv;
	struct cust_state *sched_st;
	int sched_stop, sched_started;
	/* Scheduler thread only: AD device objects whose scheduled rotation
	 * failed, FQDN -> the time (util_now()) it is tried again. */
	json_t *krb_retry;
	/* The job threads (jobs.c). */
	pthread_mutex_t jobs_mu;
	pthread_cond_t jobs_cv;
	struct djob *jobs_head, *jobs_tail;
	size_t jobs_queued;
	int jobs_quit, jobs_init;
	atomic_int jobs_stopping;	/* SIGTERM: jobs stop */
	pthread_t *job_threads;
	int njob_threads;
	/* Loop-owned. */
	struct daemon_conn *conns;	/* list of live connections */
	int nconn;			/* counted against max_connections */
	int nreject;			/* being refused with 503 */
	/* At max_connections a new connection closes the oldest of these
	 * (Q_FRESH first) instead of being refused. */
	struct daemon_conn_q q[NQ];
	/* Connections by peer address (IPv6 by its /64), each counted
	 * against per_address, with their own queues. */
	struct daemon_peer **peers;
	size_t peers_mask;
	unsigned char peers_key[16];	/* crypto_shorthash's */
	int per_address;
	int busy;			/* requests out to workers */
	int write_depth;		/* send_reply()s going on to the next
					 * request after a reply written at
					 * once (conn.c): at most one */
	int draining;
};

/* Monotonic microseconds (metrics.c). */
int64_t daemon_now_us(void);

/* tls.c: a new server context from DIR/tls and the CA state in st (its
 * own thread's state); *digest_out identifies the trust it holds. */
int daemon_tls_new(struct cust_state *st, const struct daemon_conf *conf,
    SSL_CTX **out, unsigned char digest_out[32])
	__attribute__((warn_unused_result));
/* Reload into d when the trust material changed (force: always build).
 * 1 when swapped, 0 unchanged, < 0 an error (the old context stays). */
int daemon_tls_reload(struct daemon *d, struct cust_state *st, int force);
/* The current context with a reference (SSL_CTX_free it). */
SSL_CTX *daemon_tls_get(struct daemon *d);
/* Who the client with the verified leaf certificate der is: a
 * certificate of the enterprise client CA (verified again here against
 * it and its CRLs, as the current context holds them) maps by subject to
 * a console the policy names (ops_identity_from_enterprise()), any other
 * is custody's (ops_identity_from_cert()). */
struct ops_identity;
int daemon_identity(struct daemon *d, struct cust_state *st,
    const unsigned char *der, size_t len, struct ops_identity **out)
	__attribute__((warn_unused_result));

/* conn.c */
int daemon_loop_setup(struct daemon *d, const int *fds, size_t nfds)
	__attribute__((warn_unused_result));
void daemon_loop_teardown(struct daemon *d);
/* Queue req's reply to the loop (worker threads). */
void daemon_done(struct daemon *d, struct daemon_req *req);
void daemon_req_free(struct daemon_req *req);

/* worker.c */
int daemon_workers_start(struct daemon *d)
	__attribute__((warn_unused_result));
void daemon_workers_stop(struct daemon *d);
void daemon_submit(struct daemon *d, struct daemon_req *req);
/* The loop: run the light requests daemon_submit() queued (light_ev). */
void daemon_run_light(struct daemon *d);
/* The loop, when req is back: its audit entries committed, or failed (the
 * reply is then replaced by the error, and the secret in it wiped); counts
 * a secret handed out. */
void daemon_settle(struct daemon_req *req);
/* Build the reply: status, extra header lines (each ending in CRLF, may
 * be NULL), body. keep: the connection may stay open. */
int daemon_reply(struct daemon_req *req, int status, const char *ctype,
    const char *extra, const void *body, size_t len, int keep);
/* A JSON reply (the text wiped after use). */
int daemon_reply_json(struct daemon_req *req, int status, json_t *v,
    const char *extra, int keep);
/* The error reply for a code of custody, cust_errmsg() the message. */
int daemon_reply_code(struct daemon_req *req, int code);
/* An error reply {"error", "message"} for an HTTP status. */
int daemon_reply_error(struct daemon_req *req, int status, const char *extra,
    const char *name, const char *message, int keep);

/* jobs.c. A job recorded by an operation called with ctx->jobs =
 * daemon_job_hook and ctx->job_arg = a daemon_jobref (its id is then in
 * the ref; the hook refuses when too many wait) is handed over with
 * daemon_jobs_submit(): req and start (the operation's request and reply)
 * are copied, who too; parked (may be NULL) is the client waiting for the
 * operation's full reply: the job thread answers it (audit_ticket_arm()).
 * daemon_jobs_stopping() (SIGTERM): jobs stop at a device boundary,
 * 'interrupted'; daemon_jobs_stop(): the threads end once the queue is
 * empty. */
struct daemon_jobref {
	struct daemon *d;
	long long id;		/* the job handed over, or 0 */
};
int daemon_job_hook(void *arg, long long job);
int daemon_job_stopping(void *arg);
int daemon_jobs_submit(struct daemon *d, int64_t id, const char *op,
    json_t *req, json_t *start, const struct ops_identity *who,
    struct daemon_req *parked) __attribute__((warn_unused_result));
int daemon_jobs_start(struct daemon *d) __attribute__((warn_unused_result));
void daemon_jobs_stopping(struct daemon *d);
void daemon_jobs_stop(struct daemon *d);

/* scheduler.c: start the scheduler thread on a state of its own (a first
 * tick at once); stop it (after its current tick) and close the state. */
int daemon_sched_start(struct daemon *d) __attribute__((warn_unused_result));
void daemon_sched_stop(struct daemon *d);

/* metrics.c */
void metrics_request(size_t route, int status, int64_t usec);
void metrics_secret(const char *kind);
void metrics_conn(int delta);
/* Add a rotation's outcomes: the integers "rotated", "refused" and
 * "missing" of res (an op's response or a scheduler report); nothing
 * when res has no "rotated". */
void metrics_rotations(json_t *res);
void metrics_rejected(void);
void metrics_evicted(void);
/* The Prometheus text in *buf_out (new, free()); status is the "status"
 * operation's reply, jobs the METRICS_JOBS newest jobs (job.list's
 * "jobs"); both borrowed, may be NULL. */
#define METRICS_JOBS	100
int metrics_text(struct daemon *d, json_t *status, json_t *jobs,
    char **buf_out, size_t *len_out) __attribute__((warn_unused_result));

#endif
