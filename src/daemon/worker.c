/* SPDX-License-Identifier: MIT */
/* src/daemon/worker.c - the worker pool: each worker owns one state
 * (state_open(): its own SQLite connection, audit handle and unsealed
 * keys) attached to the process's audit group writer, takes requests from
 * the queue, finds who asks, runs the operation with ops_call() and builds
 * the reply bytes, which the loop writes (conn.c). The loop has a worker
 * entry and a state of its own, on which it runs the light requests
 * itself (light()).
 *
 * Who asks: the verified client certificate goes through
 * ops_identity_from_cert() (custody issued it and still holds it valid,
 * and for a console, the loaded policy's duties and scope). Each worker
 * caches that per certificate and keeps using it only while its store
 * connection has seen no change (store_stamp) or for at most
 * ID_FRESH_MS after it was made: a console revoked, or a policy loaded,
 * by another process (custodyctl on the same directory) is seen within
 * that time, and a busy service does not re-read the policy for every
 * request. The certificate's own expiry ends the entry too: an unchanged
 * store does not keep an expired certificate working on a connection
 * opened (or a TLS session resumed) before it expired. A certificate that
 * maps to no identity is anonymous: public routes only, 401 for the rest.
 *
 * A secret's audit entry is committed by the operation (through the group
 * writer) before the operation returns it; when that fails the operation
 * fails (503) and the reply carries no secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "audit.h"
#include "cred.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "daemon_int.h"

#define ID_CACHE	64	/* certificates remembered per worker */
#define ID_FRESH_MS	250	/* longest use of an identity after a change */

struct id_entry {
	unsigned char key[32];	/* SHA-256 of the DER */
	int used;
	int anonymous;		/* maps to no identity */
	struct ops_identity *id;
	struct store_stamp stamp;
	int64_t made_us;
	int64_t expires_us;	/* the certificate's notAfter (now_us clock) */
	unsigned gen;
};

struct worker {
	struct daemon *d;
	struct cust_state *st;
	struct id_entry ids[ID_CACHE];
	int index;
	int ready;		/* 1 opened, -1 failed */
};

static struct worker *workers;

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int
daemon_reply(struct daemon_req *req, int status, const char *ctype,
    const char *extra, const void *body, size_t len, int keep)
{
	char head[1024];
	int n;

	/* The client said it closes after this reply (Connection: close,
	 * HTTP/1.0 without keep-alive): say so, and close. */
	if (req->client_close)
		keep = 0;
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Server: custodyd\r\n"
	    "%s%s%s"
	    "Content-Length: %zu\r\n"
	    "%s%s"
	    "Connection: %s\r\n\r\n", status, reason(status),
	    ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" :
	    "", len, extra ? extra : "", req->authn_reply != NULL ?
	    req->authn_reply : "", keep ? "keep-alive" : "close");
	if (n < 0 || (size_t)n >= sizeof(head))
		return cust_fail(CUST_E_INTERNAL, "reply head too long");
	if (status == 304)
		len = 0;
	if ((req->out = malloc((size_t)n + len)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	memcpy(req->out, head, (size_t)n);
	if (len > 0)
		memcpy(req->out + n, body, len);
	req->out_len = (size_t)n + len;
	req->status = status;
	req->close = !keep;
	return CUST_OK;
}

/* A JSON value as the reply body; the text is wiped after use. Most
 * replies (a credential: a few hundred bytes) fit the buffer on the
 * stack and are serialised once; a larger one is measured first. */
#define REPLY_STACK	2048
int
daemon_reply_json(struct daemon_req *req, int status, json_t *v, const char *extra,
    int keep)
{
	char small[REPLY_STACK], *buf = small;
	size_t n = json_dumpb(v, small, sizeof(small) - 1, JSON_COMPACT);
	int r;

	if (n == 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (n > sizeof(small) - 1) {
		sodium_memzero(small, sizeof(small));
		if ((buf = malloc(n + 1)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		if (json_dumpb(v, buf, n, JSON_COMPACT) != n) {
			sodium_memzero(buf, n);
			free(buf);
			return cust_fail(CUST_E_INTERNAL, "JSON output changed "
			    "size");
		}
	}
	buf[n] = '\n';
	r = daemon_reply(req, status, "application/json", extra, buf, n + 1,
	    keep);
	sodium_memzero(buf, n + 1);
	if (buf != small)
		free(buf);
	return r;
}

int
daemon_reply_error(struct daemon_req *req, int status, const char *extra,
    const char *name, const char *message, int keep)
{
	json_t *v = json_pack("{s:s, s:o}", "error", name, "message",
	    ops_text(message != NULL ? message : ""));
	int r;

	if (v == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	r = daemon_reply_json(req, status, v, extra, keep);
	json_decref(v);
	return r;
}

/* The reply for an error code of custody (cust_errmsg() the message). */
int
daemon_reply_code(struct daemon_req *req, int code)
{
	return daemon_reply_error(req, cust_http_status(code), NULL,
	    cust_errname(code), cust_errmsg(), 1);
}

static int64_t
now_us(void)
{
	return daemon_now_us();
}

/* When the certificate der expires, on the now_us() clock (0: already or
 * unreadable). */
static int64_t
cert_expires_us(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int days = 0, secs = 0;
	int64_t at = 0;

	if (x != NULL && ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(x)) == 1 && (days > 0 || (days == 0 &&
	    secs > 0)))
		at = now_us() + ((int64_t)days * 86400 + secs) * 1000000;
	X509_free(x);
	ERR_clear_error();
	return at;
}

/* Who req's client is: *id_out borrowed (from the cache) or NULL. */
static int
identify(struct worker *w, struct daemon_req *req,
    const struct ops_identity **id_out)
{
	struct id_entry *e;
	const unsigned char *key = req->der_key;
	unsigned gen = atomic_load(&w->d->id_gen);
	int r;

	*id_out = NULL;
	if (req->der == NULL)
		return CUST_OK;
	e = &w->ids[key[0] % ID_CACHE];
	if (e->used && memcmp(e->key, key, sizeof(e->key)) == 0 &&
	    e->gen == gen && now_us() < e->expires_us &&
	    (now_us() - e->made_us < ID_FRESH_MS * 1000 ||
	    store_stamp_unchanged(state_store(w->st), &e->stamp))) {
		*id_out = e->id;
		return CUST_OK;
	}
	ops_identity_free(e->id);
	memset(e, 0, sizeof(*e));
	/* The stamp before the reads: a change during them is seen. */
	if ((r = store_stamp(state_store(w->st), &e->stamp)) != CUST_OK)
		return r;
	e->made_us = now_us();
	e->expires_us = cert_expires_us(req->der, req->der_len);
	r = daemon_identity(w->d, w->st, req->der, req->der_len, &e->id);
	if (r == CUST_E_DENIED || r == CUST_E_PARSE) {
		log_info("%s: client certificate maps to no identity: %s",
		    req->peer, cust_errmsg());
		e->anonymous = 1;
		e->id = NULL;
	} else if (r != CUST_OK)
		return r;
	/* A renewal's first use revoked the certificates it supersedes:
	 * every worker forgets what it cached (as after an OPS_IDENTITY op). */
	if (ops_identity_superseded(e->id) > 0)
		gen = atomic_fetch_add(&w->d->id_gen, 1) + 1;
	memcpy(e->key, key, sizeof(e->key));
	e->gen = gen;
	e->used = 1;
	*id_out = e->id;
	return CUST_OK;
}

/* Members of the body (a JSON object) into the request, which holds the
 * path and query parameters: a member given twice is refused. */
static int
merge_body(struct daemon_req *req, json_t *into)
{
	json_error_t jerr;
	json_t *body = NULL, *v;
	const char *k;
	int r = CUST_OK;

	if (req->body_len == 0)
		return CUST_OK;
	if (!(req->m.route->flags & API_ROUTE_BODY))
		return cust_fail(CUST_E_INVAL, "this route takes no body");
	if (req->ctype == DAEMON_CT_CSR && (req->m.route->flags &
	    API_ROUTE_CSR))
		return api_csr_body(req->body, req->body_len, into);
	if (req->ctype != DAEMON_CT_JSON)
		return cust_fail(CUST_E_INVAL, "the body must be "
		    "application/json");
	body = json_loadb((const char *)req->body, req->body_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		/* Not jerr.text: it quotes the body (an import's passwords). */
		r = cust_fail(CUST_E_PARSE, "invalid JSON at line %d column "
		    "%d: %s", jerr.line, jerr.column,
		    cred_json_error_what(&jerr));
		sodium_memzero(&jerr, sizeof(jerr));
		return r;
	}
	if (!json_is_object(body)) {
		r = cust_fail(CUST_E_INVAL, "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(body, k, v) {
		if (json_object_get(into, k) != NULL) {
			r = cust_fail(CUST_E_INVAL, "'%s' is given by the path "
			    "or the query, not the body", k);
			goto out;
		}
		if (json_object_set(into, k, v) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
out:
	json_decref(body);
	return r;
}

/* Whether the If-None-Match list inm holds the entity tag etag
 * ("\"...\""). */
static int
etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t n = strlen(etag);

	if (inm == NULL)
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strcmp(p, "*") == 0)
		return 1;
	while ((p = strstr(p, etag)) != NULL) {
		if ((p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

/* Count a secret handed out (metrics). */
static void
count_secret(const char *op, json_t *req)
{
	const char *kind;

	if (strcmp(op, "password.show") == 0) {
		kind = json_string_value(json_object_get(req, "kind"));
		metrics_secret(kind != NULL ? kind : "admin");
	} else if (strcmp(op, "credential.show") == 0)
		metrics_secret("console");
	else if (strcmp(op, "cert.issue") == 0)
		metrics_secret("pkcs12");
}

/* Operations whose only effect outside the store is their reply: their
 * audit entries may commit while the worker goes on (audit_defer()), the
 * reply being held back until they have (daemon_settle()). Anything that
 * acts on a device or issues a certificate waits for its entry. */
static int
defers(const char *op)
{
	return strcmp(op, "credential.show") == 0 ||
	    strcmp(op, "password.show") == 0;
}

void
daemon_settle(struct daemon_req *req)
{
	int r = req->ticket.r;

	if (r == CUST_OK) {
		if (req->status == 200 && req->m.req != NULL)
			count_secret(req->m.op, req->m.req);
		return;
	}
	/* The entry is not durable: the secret does not leave. */
	if (req->out != NULL) {
		sodium_memzero(req->out, req->out_len);
		free(req->out);
		req->out = NULL;
	}
	if (daemon_reply_error(req, cust_http_status(r), NULL, cust_errname(r),
	    req->ticket.err, 1) != CUST_OK && daemon_reply(req, 503, NULL,
	    NULL, NULL, 0, 0) != CUST_OK)
		req->out_len = 0;
}

static int
render(struct worker *w, struct daemon_req *req, json_t *resp)
{
	const struct api_route *rt = req->m.route;
	const char *pem, *ver, *der;
	char extra[160], tag[80];
	unsigned char *bin = NULL;
	size_t blen = 0, dl;
	int r;

	switch (rt->render) {
	case API_RENDER_BUNDLE:
		pem = json_string_value(json_object_get(resp, "pem"));
		ver = json_string_value(json_object_get(resp, "version"));
		if (pem == NULL || ver == NULL)
			return cust_fail(CUST_E_INTERNAL, "bundle reply");
		snprintf(tag, sizeof(tag), "\"%.64s\"", ver);
		snprintf(extra, sizeof(extra), "ETag: %s\r\n"
		    "Cache-Control: no-cache\r\n", tag);
		if (etag_matches(req->inm, tag))
			return daemon_reply(req, 304, NULL, extra, NULL, 0, 1);
		return daemon_reply(req, 200, "application/x-pem-file", extra,
		    pem, strlen(pem), 1);
	case API_RENDER_CRL_PEM:
		pem = json_string_value(json_object_get(resp, "pem"));
		if (pem == NULL)
			return cust_fail(CUST_E_INTERNAL, "CRL reply");
		return daemon_reply(req, 200, "application/x-pem-file",
		    "Cache-Control: no-cache\r\n", pem, strlen(pem), 1);
	case API_RENDER_CRL_DER:
		der = json_string_value(json_object_get(resp, "der"));
		if (der == NULL)
			return cust_fail(CUST_E_INTERNAL, "CRL reply");
		dl = strlen(der);
		if ((bin = malloc(dl)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		if (sodium_base642bin(bin, dl, der, dl, "\r\n", &blen, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(bin);
			return cust_fail(CUST_E_INTERNAL, "CRL reply");
		}
		r = daemon_reply(req, 200, "application/pkix-crl",
		    "Cache-Control: no-cache\r\n", bin, blen, 1);
		free(bin);
		return r;
	case API_RENDER_KEYTAB:
		der = json_string_value(json_object_get(resp, "keytab"));
		if (der == NULL)
			return cust_fail(CUST_E_INTERNAL, "keytab reply");
		dl = strlen(der);
		if ((bin = malloc(dl)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		if (sodium_base642bin(bin, dl, der, dl, NULL, &blen, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0) {
			sodium_memzero(bin, dl);
			free(bin);
			return cust_fail(CUST_E_INTERNAL, "keytab reply");
		}
		r = daemon_reply(req, 200, "application/octet-stream",
		    "Cache-Control: no-store\r\n", bin, blen, 1);
		sodium_memzero(bin, dl);
		free(bin);
		return r;
	default:
		/* Operation replies are never cached: some hold secrets,
		 * and the rest change with the store. A versioned one (a
		 * credential) carries its version as ETag. */
		snprintf(extra, sizeof(extra), "Cache-Control: no-store\r\n");
		if ((rt->flags & API_ROUTE_ETAG) && json_is_integer(
		    json_object_get(resp, "version"))) {
			snprintf(tag, sizeof(tag), "\"%lld\"", (long long)
			    json_integer_value(json_object_get(resp,
			    "version")));
			snprintf(extra, sizeof(extra), "Cache-Control: "
			    "no-store\r\nETag: %s\r\n", tag);
			if (etag_matches(req->inm, tag))
				return daemon_reply(req, 304, NULL, extra,
				    NULL, 0, 1);
		}
		return daemon_reply_json(req, 200, resp, extra, 1);
	}
}

static int
handle_metrics(struct worker *w, struct daemon_req *req,
    const struct ops_identity *who)
{
	struct ops_ctx ctx = { .st = w->st, .who = who };
	json_t *status = NULL, *jobs = NULL, *q;
	char *text = NULL;
	size_t len = 0;
	int r;

	if ((r = ops_call(&ctx, "status", NULL, &status)) != CUST_OK)
		return daemon_reply_code(req, r);
	/* The newest jobs' states: one page, never a scan. */
	if ((q = json_pack("{s:i}", "limit", METRICS_JOBS)) == NULL ||
	    (r = ops_call(&ctx, "job.list", q, &jobs)) != CUST_OK)
		jobs = NULL;
	json_decref(q);
	r = metrics_text(w->d, status, json_object_get(jobs, "jobs"), &text,
	    &len);
	json_decref(status);
	json_decref(jobs);
	if (r != CUST_OK)
		return daemon_reply_code(req, r);
	r = daemon_reply(req, 200, "text/plain; version=0.0.4",
	    "Cache-Control: no-store\r\n", text, len, 1);
	free(text);
	return r;
}

/*
 * An operation handed its job to the job threads (jr->id): the client
 * that asked "async" gets 202 at once with the reply so far ("async":
 * true, the job's id, Location /v1/jobs/ID); any other waits, parked
 * with the job (HANDLE_PARKED), for the full reply the job thread gives
 * it at the end. r and resp: ops_call()'s (a job recorded by an
 * operation that then failed still runs).
 */
#define HANDLE_PARKED	1
static int
handed_over(struct worker *w, struct daemon_req *req,
    const struct ops_identity *who, const struct daemon_jobref *jr, int r,
    json_t *resp)
{
	int async = json_is_true(json_object_get(req->m.req, "async"));
	char extra[128];
	int s;

	s = daemon_jobs_submit(w->d, jr->id, req->m.op, req->m.req, resp, who,
	    r == CUST_OK && !async ? req : NULL);
	if (s != CUST_OK)
		log_warnx("job %lld: not handed over (%s): custodyd's next "
		    "start resumes it", jr->id, cust_errmsg());
	if (r != CUST_OK)
		return daemon_reply_code(req, r);
	if (s != CUST_OK)
		return daemon_reply_code(req, s);
	if (!async)
		return HANDLE_PARKED;
	snprintf(extra, sizeof(extra), "Location: /v1/jobs/%lld\r\n"
	    "Cache-Control: no-store\r\n", jr->id);
	if (json_object_set_new(resp, "async", json_true()) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return daemon_reply_json(req, 202, resp, extra, 1);
}

static int
handle(struct worker *w, struct daemon_req *req)
{
	const struct api_route *rt = req->m.route;
	const struct ops_identity *who = NULL;
	const struct ops_entry *e;
	struct daemon_jobref jr = { w->d, 0 };
	struct ops_ctx ctx;
	json_t *resp = NULL;
	int r;

	cust_clearerr();
	if ((r = identify(w, req, &who)) != CUST_OK)
		return daemon_reply_code(req, r);
	/* The certificate wins: a Negotiate token counts only when the
	 * connection's certificate (if any) maps to no identity. */
	if (who == NULL && req->negotiate != NULL) {
		if ((r = daemon_negotiate(w->d, w->st, req, &req->neg_id)) !=
		    CUST_OK)
			return daemon_reply_code(req, r);
		who = req->neg_id;
	}
	snprintf(req->actor, sizeof(req->actor), "%s",
	    ops_identity_actor(who));
	if (rt->render == API_RENDER_HEALTH)
		return daemon_reply(req, 200, "application/json",
		    "Cache-Control: no-store\r\n", "{\"status\":\"ok\"}\n", 16,
		    1);
	e = ops_find(req->m.op);
	/* Not authenticated on a route that is not public: 401, before
	 * anything about the request is looked at. A REST route onto an
	 * operation this build lacks is not public either; POST
	 * /v1/ops/NAME of an unknown NAME is a 400 for everyone. */
	if (who == NULL && ((rt->flags & API_ROUTE_ADMIN) ||
	    (e != NULL ? !(e->roles & OPS_ANYONE) : rt->op != NULL)))
		return daemon_reply_error(req, 401,
		    w->d->conf.negotiate_keytab[0] != '\0' ?
		    "WWW-Authenticate: Negotiate\r\n" : NULL, "denied",
		    w->d->conf.negotiate_keytab[0] != '\0' ? "a client "
		    "certificate issued by custody or a Kerberos ticket "
		    "(Negotiate) is required" : "a client certificate issued "
		    "by custody is required", 1);
	if ((rt->flags & API_ROUTE_ADMIN) &&
	    ops_identity_kind(who) != OPS_ID_ADMIN)
		return daemon_reply_error(req, 403, NULL, "denied", "admin "
		    "only", 1);
	if (rt->render == API_RENDER_METRICS)
		return handle_metrics(w, req, who);
	if (req->body_len > 0 && (rt->flags & API_ROUTE_BODY) &&
	    req->ctype != DAEMON_CT_JSON && !(req->ctype == DAEMON_CT_CSR &&
	    (rt->flags & API_ROUTE_CSR)))
		return daemon_reply_error(req, 415, NULL, "invalid", "the body "
		    "must be application/json", 1);
	if ((r = merge_body(req, req->m.req)) != CUST_OK)
		return daemon_reply_code(req, r);
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = w->st;
	ctx.who = who;
	/* A push job's devices are pushed by the job threads (jobs.c). */
	ctx.jobs = daemon_job_hook;
	ctx.job_arg = &jr;
	/* Tests: a request held at a worker (the process stops) while a
	 * SIGTERM arrives. */
	util_test_stop("daemon-request");
	if (defers(req->m.op))
		audit_defer(state_audit(w->st), &req->ticket);
	r = ops_call(&ctx, req->m.op, req->m.req, &resp);
	audit_defer(state_audit(w->st), NULL);
	if (r == CUST_OK)
		metrics_rotations(resp);
	if (jr.id != 0) {
		r = handed_over(w, req, who, &jr, r, resp);
		json_decref(resp);
		return r;
	}
	if (r != CUST_OK)
		return daemon_reply_code(req, r);
	if (e != NULL && (e->flags & OPS_IDENTITY))
		atomic_fetch_add(&w->d->id_gen, 1);
	r = render(w, req, resp);
	json_decref(resp);
	return r;
}

/* Run req on w and let it go back to the loop (now, or once its audit
 * entries have committed: the writer thread hands it over). */
static void
run(struct worker *w, struct daemon_req *req)
{
	int r = handle(w, req);

	if (r == HANDLE_PARKED)
		return;		/* the job thread answers */
	if (r != CUST_OK) {
		/* No reply could be built (out of memory): a bare one, and
		 * the connection closes. */
		free(req->out);
		req->out = NULL;
		if (daemon_reply(req, 503, NULL, NULL, NULL, 0, 0) != CUST_OK)
			req->out_len = 0;
	}
	audit_ticket_arm(&req->ticket);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->d;
	struct daemon_req *req;

	for (;;) {
		pthread_mutex_lock(&d->q_mu);
		while (d->q_head == NULL && !d->q_stop)
			pthread_cond_wait(&d->q_cv, &d->q_mu);
		req = d->q_head;
		if (req == NULL) {
			pthread_mutex_unlock(&d->q_mu);
			break;
		}
		d->q_head = req->next;
		if (d->q_head == NULL)
			d->q_tail = NULL;
		pthread_mutex_unlock(&d->q_mu);
		req->next = NULL;
		run(w, req);
	}
	return NULL;
}

/* Light requests: the health check, and the secret reads, whose only
 * wait (their audit entry) does not hold the thread (defers()). The loop
 * runs them itself, on a state of its own: no hand-over to a worker and
 * back, two thread switches per request fewer. */
static int
light(const struct daemon_req *req)
{
	const struct api_route *rt = req->m.route;

	/* GSSAPI reads a keytab and writes a replay cache: a worker's */
	if (req->negotiate != NULL)
		return 0;
	return rt != NULL && (rt->render == API_RENDER_HEALTH ||
	    (rt->render == API_RENDER_JSON && defers(req->m.op)));
}

/* A light request waits for the end of the loop's pass, then
 * daemon_run_light() runs the pass's light requests one after the other.
 * The first one makes light_ev active; libevent runs active events in the
 * order they became active, and epoll made every connection that was
 * ready active before the pass began, so light_ev runs after all of them
 * have been read. (Not a lower priority: libevent runs a lower one only
 * when no higher one is active, and a flood of new connections would
 * hold the reads back as long as it lasted.) */
void
daemon_submit(struct daemon *d, struct daemon_req *req)
{
	if (light(req)) {
		daemon_queue_push(&d->light_head, &d->light_tail, req);
		event_active(d->light_ev, EV_READ, 0);
		return;
	}
	pthread_mutex_lock(&d->q_mu);
	daemon_queue_push(&d->q_head, &d->q_tail, req);
	pthread_cond_signal(&d->q_cv);
	pthread_mutex_unlock(&d->q_mu);
}

/*
 * The pass's secret reads under one hold of the loop's seal: the data key
 * and the row-MAC key are readable from the first read's row check to
 * the last one's reply, and noaccess again before the loop goes back to
 * its connections (no TLS record or request head is parsed while they
 * are readable). One read alone held them for itself: two mprotect(2)
 * calls, each a TLB shootdown across the process's threads, per read
 * (about a tenth of the loop's CPU in bench/api); now two per pass.
 */
void
daemon_run_light(struct daemon *d)
{
	struct worker *w = &workers[d->conf.workers];
	struct daemon_req *list = d->light_head, *req;

	d->light_head = d->light_tail = NULL;
	if (list == NULL)
		return;
	seal_hold(state_seal(w->st));
	while ((req = list) != NULL) {
		list = req->next;
		req->next = NULL;
		run(w, req);
	}
	seal_release(state_seal(w->st));
}

int
daemon_workers_start(struct daemon *d)
{
	int i, r;

	/* One more than the threads: the loop's own (light()). */
	if ((workers = calloc((size_t)d->conf.workers + 1, sizeof(*workers))) ==
	    NULL || (d->threads = calloc((size_t)d->conf.workers,
	    sizeof(*d->threads))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* States are opened here, before the threads run: a worker that
	 * cannot open its state stops the start-up. */
	for (i = 0; i <= d->conf.workers; i++) {
		workers[i].d = d;
		workers[i].index = i;
		if ((r = state_open(d->conf.state_dir, &workers[i].st)) !=
		    CUST_OK)
			return r;
		state_use_audit_group(workers[i].st, d->group);
	}
	for (i = 0; i < d->conf.workers; i++) {
		if ((r = pthread_create(&d->threads[i], NULL, worker_main,
		    &workers[i])) != 0)
			return cust_fail(CUST_E_INTERNAL, "pthread_create: %s",
			    strerror(r));
		d->nthreads++;
	}
	return CUST_OK;
}

void
daemon_workers_stop(struct daemon *d)
{
	int i, j;

	pthread_mutex_lock(&d->q_mu);
	d->q_stop = 1;
	pthread_cond_broadcast(&d->q_cv);
	pthread_mutex_unlock(&d->q_mu);
	for (i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	d->nthreads = 0;
	if (workers == NULL)
		return;
	for (i = 0; i <= d->conf.workers; i++) {
		for (j = 0; j < ID_CACHE; j++)
			ops_identity_free(workers[i].ids[j].id);
		if (workers[i].st != NULL) {
			state_use_audit_group(workers[i].st, NULL);
			state_close(workers[i].st);
		}
	}
	free(workers);
	workers = NULL;
	free(d->threads);
	d->threads = NULL;
}
