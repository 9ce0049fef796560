/* SPDX-License-Identifier: MIT */
/* src/daemon/conn.c - the event loop: TLS connections and HTTP/1.1
 * framing on libevent's OpenSSL bufferevents.
 *
 * The loop never waits for an audit batch: it accepts, runs the TLS
 * handshakes, reads a request head (parsed by api_http_parse_head()) and
 * its body, matches the route (api_route_match()), and runs the request
 * itself when it is light (a secret read: its reply held until its audit
 * entry has committed) or hands it to the worker pool (worker.c); the
 * reply comes back through done_ev (from a worker, the audit writer or
 * the loop itself) and is written here. A connection has one request out
 * at a time (reading stops meanwhile; pipelined bytes wait in its
 * buffer).
 *
 * Limits (doc/internals/SERVICE.md "HTTP"): the head may take at most
 * max_header_bytes (413 beyond) and header_timeout_ms from the accept or
 * from its first byte (a total deadline: trickling bytes does not extend
 * it); the body at most max_body_bytes (413, from its Content-Length,
 * before any of it is read) and body_timeout_ms; an idle keep-alive
 * connection idle_timeout_ms; a reply write_timeout_ms.
 *
 * At max_connections a new connection takes the slot of the one that has
 * done least: the oldest still in its TLS handshake or before a complete
 * request head (d->q_fresh), else the oldest idle keep-alive or lingering
 * one (d->q_idle), which is closed; never one with a request being read,
 * served or answered. Only when every connection is that busy is the new
 * one answered 503 and closed. Silent or slow clients thus cannot lock
 * working ones out: each newcomer pushes out the oldest of them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <sodium.h>

#include "err.h"
#include "log.h"
#include "ops.h"
#include "util.h"
#include "daemon_int.h"

enum conn_state {
	C_HANDSHAKE,	/* TLS handshake (header deadline running) */
	C_IDLE,		/* keep-alive, no byte of the next request yet */
	C_HEAD,		/* reading a request head */
	C_BODY,		/* reading its body */
	C_BUSY,		/* out to a worker */
	C_WRITING,	/* reply being written */
	C_LINGER,	/* closing: reading what the client still sends */
};

/* After an error reply that leaves the request's bytes unread (a body
 * over the limit), the connection reads and drops what the client still
 * sends, for at most this long and this much, before it closes: closing
 * with unread data makes TCP send a reset, and the client may then lose
 * the reply it has not read yet. */
#define LINGER_MS	2000
#define LINGER_BYTES	(16u << 20)
/* Bytes read from a connection at once: with libevent's chain header,
 * one 4 KiB allocation. */
#define READ_CHUNK	(4096 - 128)
/* A connection quiet this long gives its TLS record buffers back (about
 * 35 KiB; conn_timeout()). One in use keeps them: OpenSSL's
 * SSL_MODE_RELEASE_BUFFERS freed them after every record, and with
 * SSL_OP_CLEANSE_PLAINTEXT wiped the whole read buffer each time. */
#define BUFS_QUIET_MS	500

struct daemon_conn {
	struct daemon *d;
	struct daemon_conn *prev, *next;
	/* In d->q[qk] (link[0]) and pe->q[qk] (link[1]); qk -1: neither. */
	struct qlink {
		struct daemon_conn *prev, *next;
	} link[2];
	int qk;
	struct daemon_peer *pe;	/* its address's count */
	struct bufferevent *bev;
	struct event *timer;
	enum conn_state state;
	int reject;		/* over max_connections: 503 and close */
	int dead;		/* closed while busy: free when it returns */
	int keep;		/* keep-alive after the current reply */
	unsigned char *der;	/* verified client leaf, or NULL */
	size_t der_len;
	unsigned char der_key[32];	/* its SHA-256 (worker.c's cache) */
	char peer[INET6_ADDRSTRLEN + 8];
	struct daemon_req *req;	/* being read */
	size_t need;		/* body bytes expected */
	size_t dropped;		/* C_LINGER: bytes read and dropped */
	int linger;		/* the request's bytes may be left unread */
	int rest_ms;		/* >= 0: the timer frees the TLS buffers,
				 * then runs this much longer */
};

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);

/* The connections of one peer address. */
struct daemon_peer {
	struct daemon_peer *next;	/* hash chain */
	unsigned char addr[16];		/* IPv4 mapped; IPv6 its /64 */
	int n;
	struct daemon_conn_q q[NQ];
};

static void
ql_del(struct daemon_conn_q *q, struct daemon_conn *c, int i)
{
	struct qlink *l = &c->link[i];

	if (l->prev != NULL)
		l->prev->link[i].next = l->next;
	else
		q->head = l->next;
	if (l->next != NULL)
		l->next->link[i].prev = l->prev;
	else
		q->tail = l->prev;
	l->prev = l->next = NULL;
}

static void
ql_add(struct daemon_conn_q *q, struct daemon_conn *c, int i)
{
	c->link[i].prev = q->tail;
	if (q->tail != NULL)
		q->tail->link[i].next = c;
	else
		q->head = c;
	q->tail = c;
}

/* Take c out of its eviction queues. */
static void
q_del(struct daemon_conn *c)
{
	if (c->qk < 0)
		return;
	ql_del(&c->d->q[c->qk], c, 0);
	ql_del(&c->pe->q[c->qk], c, 1);
	c->qk = -1;
}

/* Put c last (the youngest) in queue k, its own and its address's; a
 * connection refused with 503 holds no slot and stays out. */
static void
q_put(struct daemon_conn *c, int k)
{
	if (c->reject)
		return;
	q_del(c);
	c->qk = k;
	ql_add(&c->d->q[k], c, 0);
	ql_add(&c->pe->q[k], c, 1);
}

/* The peer table's bucket for addr. */
static struct daemon_peer **
peer_slot(struct daemon *d, const unsigned char addr[16])
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, addr, 16, d->peers_key);
	memcpy(&v, h, sizeof(v));
	return &d->peers[v & d->peers_mask];
}

/* addr's entry, or NULL. */
static struct daemon_peer *
peer_find(struct daemon *d, const unsigned char addr[16])
{
	struct daemon_peer *p;

	for (p = *peer_slot(d, addr); p != NULL; p = p->next)
		if (memcmp(p->addr, addr, 16) == 0)
			return p;
	return NULL;
}

/* One connection more from addr: its entry (made at the first); NULL
 * when out of memory. */
static struct daemon_peer *
peer_get(struct daemon *d, const unsigned char addr[16])
{
	struct daemon_peer **slot, *p;

	if ((p = peer_find(d, addr)) == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return NULL;
		memcpy(p->addr, addr, 16);
		slot = peer_slot(d, addr);
		p->next = *slot;
		*slot = p;
	}
	p->n++;
	return p;
}

/* The key a peer's connections are counted by: an IPv4 address (mapped
 * into IPv6), an IPv6 address's /64 (one host commonly has all of it). */
static void
peer_addr(const struct sockaddr *sa, unsigned char addr[16])
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0xff, 0xff };

	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(addr, v4mapped, 12);
		memcpy(addr + 12,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(addr,
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    16);
		if (memcmp(addr, v4mapped, 12) != 0)
			memset(addr + 8, 0, 8);
	}
}

/* One connection of p fewer: freed at none. */
static void
peer_put(struct daemon *d, struct daemon_peer *p)
{
	struct daemon_peer **pp;

	if (--p->n > 0)
		return;
	for (pp = peer_slot(d, p->addr); *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	free(p);
}

static void
timer_add(struct daemon_conn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

/* The phase's deadline, ms from now; a phase longer than BUFS_QUIET_MS
 * first fires then, to free the TLS buffers (conn_timeout()). */
static void
arm(struct daemon_conn *c, int ms)
{
	c->rest_ms = ms > BUFS_QUIET_MS ? ms - BUFS_QUIET_MS : -1;
	timer_add(c, c->rest_ms >= 0 ? BUFS_QUIET_MS : ms);
}

void
daemon_req_free(struct daemon_req *req)
{
	if (req == NULL)
		return;
	json_decref(req->m.req);
	free(req->inm);
	free(req->negotiate);
	free(req->authn_reply);
	ops_identity_free(req->neg_id);
	if (req->body != NULL) {
		sodium_memzero(req->body, req->body_len);
		free(req->body);
	}
	if (req->out != NULL) {
		sodium_memzero(req->out, req->out_len);
		free(req->out);
	}
	free(req);
}

static void
maybe_stop(struct daemon *d)
{
	if (d->draining && d->conns == NULL && d->busy == 0)
		event_base_loopbreak(d->base);
}

static void
conn_free(struct daemon_conn *c)
{
	struct daemon *d = c->d;

	if (c->bev != NULL) {
		bufferevent_free(c->bev);	/* frees the SSL, closes */
		c->bev = NULL;
	}
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	q_del(c);
	if (c->state == C_BUSY && !c->dead) {
		c->dead = 1;	/* the worker still holds it */
		return;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (d->conns == c)
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->reject)
		d->nreject--;
	else {
		d->nconn--;
		metrics_conn(-1);
	}
	if (c->pe != NULL)
		peer_put(d, c->pe);
	daemon_req_free(c->req);
	free(c->der);
	free(c);
	maybe_stop(d);
}

/* Close c now (or once its request is back). */
static void
conn_close(struct daemon_conn *c)
{
	if (c->state == C_BUSY) {
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		c->dead = 1;
		return;
	}
	conn_free(c);
}

static void
log_request(struct daemon_req *req)
{
	struct timespec now;
	int64_t us;
	const char *route = req->m.route != NULL ? req->m.route->pattern :
	    "-";

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - req->start.tv_sec) * 1000000 +
	    (now.tv_nsec - req->start.tv_nsec) / 1000;
	metrics_request(req->m.route != NULL ? req->m.index :
	    api_route_count(), req->status, us);
	/* The route's pattern and the operation, never the target: a path
	 * parameter or a query may be anything a client sent. */
	log_info("%s %s%s%s %d %s %lld.%03lldms %s", req->method, route,
	    req->opname[0] ? " " : "", req->opname, req->status,
	    req->actor[0] ? req->actor : "anonymous", (long long)(us / 1000),
	    (long long)(us % 1000), req->peer);
}

static void
cleanup_out(const void *data, size_t len, void *arg)
{
	sodium_memzero((void *)(uintptr_t)data, len);
	free(arg);
}

/*
 * What SSL_write() takes of p at once: bytes written (len when all), 0
 * when it would block or nothing may be written now, -1 when the
 * connection failed. libevent's OpenSSL bufferevent writes only once
 * epoll reports the socket writable: a pass of the loop and two
 * epoll_ctl(2) calls for every reply, although the socket almost always
 * has room. Only when libevent holds nothing to write (its buffer empty,
 * so no SSL_write of its own waits to be retried). When this one would
 * block, OpenSSL expects the retry with the same bytes: the caller hands
 * libevent exactly p and len (by reference, the same address), which its
 * next SSL_write passes on as they are.
 */
static ssize_t
write_now(struct daemon_conn *c, const unsigned char *p, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	int n, e;

	if (ssl == NULL || len == 0 || len > INT_MAX ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	ERR_clear_error();
	n = SSL_write(ssl, p, (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(ssl, n);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	return -1;
}

/* Write req's reply on c; req is consumed. */
static void
send_reply(struct daemon_conn *c, struct daemon_req *req)
{
	struct daemon *d = c->d;
	ssize_t n = 0;

	log_request(req);
	if (c->d->draining)
		req->close = 1;
	c->keep = !req->close;
	c->state = C_WRITING;
	q_del(c);
	evtimer_del(c->timer);
	/* Tests: the process stops with a reply built and not one byte of
	 * it sent (a secret's audit entry must be committed by then). */
	util_test_stop("daemon-reply");
	/* conn_event stays: without it a client gone (EOF, a reset, the
	 * write timeout) went unnoticed until the idle timeout, or for ever
	 * when its reply could not be written. */
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	/* A kept-alive connection's reply goes out at once when the socket
	 * takes it (the closing paths stay libevent's: close_notify, FIN,
	 * linger, after the last byte). Written, it goes on to the next
	 * request, which the loop may answer itself (a 404) and so come
	 * back here: that one goes libevent's way, so that pipelined
	 * requests do not nest one call per request (about 500 deep, as
	 * many as one read of the input holds). c may be freed by then:
	 * the depth is d's. */
	if (c->keep && !c->linger && d->write_depth == 0 &&
	    (n = write_now(c, req->out, req->out_len)) < 0) {
		daemon_req_free(req);	/* wipes the reply */
		conn_close(c);
		return;
	}
	if ((size_t)n == req->out_len) {
		daemon_req_free(req);
		d->write_depth++;
		conn_write(c->bev, c);	/* written: the next request */
		d->write_depth--;
		return;
	}
	/* The rest goes out by reference and is wiped after (it may hold a
	 * secret); what was written is wiped now. */
	sodium_memzero(req->out, (size_t)n);
	if (evbuffer_add_reference(bufferevent_get_output(c->bev),
	    req->out + n, req->out_len - (size_t)n, cleanup_out, req->out) !=
	    0) {
		daemon_req_free(req);
		conn_close(c);
		return;
	}
	req->out = NULL;
	daemon_req_free(req);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* An error answered by the loop itself; closes after it. */
static void
loop_error(struct daemon_conn *c, struct daemon_req *req, int status,
    const char *msg, const char *extra, int keep)
{
	const char *name = status == 413 ? "too_big" : status == 503 ?
	    "unavailable" : status == 404 ? "not_found" : "invalid";

	if (req == NULL) {
		if ((req = calloc(1, sizeof(*req))) == NULL) {
			conn_close(c);
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &req->start);
		snprintf(req->method, sizeof(req->method), "-");
		req->peer = c->peer;
	}
	if (daemon_reply_error(req, status, extra, name, msg, keep) !=
	    CUST_OK) {
		daemon_req_free(req);
		conn_close(c);
		return;
	}
	if (c->req == req)
		c->req = NULL;
	c->linger = !keep;	/* answered before the request was read */
	bufferevent_disable(c->bev, EV_READ);
	send_reply(c, req);
}

/* req's ticket completed (a worker or the audit writer): back to the
 * loop. */
static void
req_back(void *arg)
{
	struct daemon_req *req = arg;

	daemon_done(req->d, req);
}

static void
dispatch(struct daemon_conn *c)
{
	struct daemon_req *req = c->req;

	c->req = NULL;
	req->d = c->d;
	audit_ticket_init(&req->ticket, req_back, req);
	evtimer_del(c->timer);
	bufferevent_disable(c->bev, EV_READ);
	c->state = C_BUSY;
	q_del(c);
	c->d->busy++;
	daemon_submit(c->d, req);
}

/* A complete head of hlen bytes is in the input. */
static void
start_request(struct daemon_conn *c, size_t hlen)
{
	struct daemon *d = c->d;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct api_http_head h;
	struct daemon_req *req;
	const char *head;
	char msg[256], allow[64], extra[96];
	int st;

	q_del(c);	/* the head is in: no longer evicted */
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		conn_close(c);
		return;
	}
	c->req = req;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	req->conn = c;
	req->peer = c->peer;
	req->der = c->der;
	req->der_len = c->der_len;
	req->der_key = c->der_key;
	snprintf(req->method, sizeof(req->method), "-");
	head = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
	if (head == NULL) {
		conn_close(c);
		return;
	}
	st = api_http_parse_head(head, hlen, d->conf.max_body_bytes, &h, msg,
	    sizeof(msg));
	if (h.method != NULL)
		snprintf(req->method, sizeof(req->method), "%s", h.method);
	if (st != 0) {
		/* The framing is in doubt: answer and close. */
		loop_error(c, req, st, msg, NULL, 0);
		return;
	}
	c->keep = h.keep_alive;
	req->client_close = !h.keep_alive;
	if (h.ctype == NULL)
		req->ctype = DAEMON_CT_NONE;
	else if (api_http_ctype_is(h.ctype, h.ctype_len, "application/json"))
		req->ctype = DAEMON_CT_JSON;
	else if (api_http_ctype_is(h.ctype, h.ctype_len,
	    "application/pkcs10"))
		req->ctype = DAEMON_CT_CSR;
	else
		req->ctype = DAEMON_CT_OTHER;
	if (h.inm != NULL && (req->inm = strndup(h.inm, h.inm_len)) == NULL) {
		conn_close(c);
		return;
	}
	if (h.negotiate != NULL && (req->negotiate = strndup(h.negotiate,
	    h.negotiate_len)) == NULL) {
		conn_close(c);
		return;
	}
	st = api_route_match(req->method, h.target, h.target_len, &req->m,
	    msg, sizeof(msg), allow, sizeof(allow));
	c->need = h.content_length > 0 ? (size_t)h.content_length : 0;
	evbuffer_drain(in, hlen);
	if (st != 0) {
		/* The body (if any) is not read: close after the answer. */
		extra[0] = '\0';
		if (st == 405 && allow[0])
			snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
		loop_error(c, req, st, msg, extra, c->need == 0 && c->keep);
		return;
	}
	if (req->m.op[0])
		snprintf(req->opname, sizeof(req->opname), "%s", req->m.op);
	if (c->need == 0) {
		dispatch(c);
		return;
	}
	if (h.expect_continue)
		(void)bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n",
		    25);
	c->state = C_BODY;
	arm(c, d->conf.body_timeout_ms);
	conn_read(c->bev, c);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct daemon_conn *c = arg;
	struct daemon *d = c->d;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr p;
	size_t len;

	for (;;) {
		len = evbuffer_get_length(in);
		switch (c->state) {
		case C_IDLE:
			if (len == 0)
				return;
			/* The head's deadline runs from its first byte. */
			c->state = C_HEAD;
			q_put(c, Q_FRESH);
			arm(c, d->conf.header_timeout_ms);
			/* FALLTHROUGH */
		case C_HEAD:
			p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (p.pos < 0) {
				/* Bare LFs: the parser refuses them (400)
				 * rather than waiting for a CRLF that never
				 * comes. */
				p = evbuffer_search(in, "\n\n", 2, NULL);
				if (p.pos >= 0 && (size_t)p.pos + 2 <=
				    d->conf.max_header_bytes) {
					start_request(c, (size_t)p.pos + 2);
					return;
				}
				if (len > d->conf.max_header_bytes)
					loop_error(c, NULL, 413, "request head "
					    "too large", NULL, 0);
				return;
			}
			if ((size_t)p.pos + 4 > d->conf.max_header_bytes) {
				loop_error(c, NULL, 413, "request head too "
				    "large", NULL, 0);
				return;
			}
			start_request(c, (size_t)p.pos + 4);
			if (c->state != C_BODY)
				return;
			break;
		case C_BODY:
			if (len < c->need)
				return;
			if ((c->req->body = malloc(c->need)) == NULL ||
			    evbuffer_remove(in, c->req->body, c->need) !=
			    (int)c->need) {
				conn_close(c);
				return;
			}
			c->req->body_len = c->need;
			dispatch(c);
			return;
		case C_LINGER:
			c->dropped += len;
			evbuffer_drain(in, len);
			if (c->dropped > LINGER_BYTES)
				conn_close(c);
			return;
		default:
			return;	/* not reading now */
		}
	}
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct daemon_conn *c = arg;
	SSL *ssl;

	if (c->state != C_WRITING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (!c->keep && c->linger && !c->d->draining) {
		/* The reply is out: say so (close_notify, FIN) so that a
		 * client reading to the end sees it at once, then drop what
		 * it still sends for a moment. */
		ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl != NULL)
			(void)SSL_shutdown(ssl);
		(void)shutdown(bufferevent_getfd(bev), SHUT_WR);
		c->state = C_LINGER;
		q_put(c, Q_IDLE);
		arm(c, LINGER_MS);
		bufferevent_enable(bev, EV_READ);
		conn_read(bev, c);
		return;
	}
	if (!c->keep || c->d->draining) {
		conn_close(c);
		return;
	}
	c->state = C_IDLE;
	q_put(c, Q_IDLE);
	arm(c, c->d->conf.idle_timeout_ms);
	bufferevent_enable(bev, EV_READ);
	conn_read(bev, c);	/* a pipelined request may be waiting */
}

/* The leaf certificate the client proved it holds (verified). */
static int
keep_peer_cert(struct daemon_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	X509 *x = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
	unsigned char *p;
	int n;

	if (x == NULL)
		return 0;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	if ((n = i2d_X509(x, NULL)) <= 0 || (c->der = malloc((size_t)n)) ==
	    NULL)
		return -1;
	p = c->der;
	if (i2d_X509(x, &p) != n)
		return -1;
	c->der_len = (size_t)n;
	/* Once per connection, not per request. */
	crypto_hash_sha256(c->der_key, c->der, c->der_len);
	return 0;
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct daemon_conn *c = arg;
	unsigned long e;
	char buf[160];
	SSL *ssl;
	long v;

	if (what & BEV_EVENT_CONNECTED) {
		if (keep_peer_cert(c) != 0) {
			conn_close(c);
			return;
		}
		if (c->reject) {
			loop_error(c, NULL, 503, "too many connections", NULL,
			    0);
			return;
		}
		c->state = C_HEAD;	/* the header deadline keeps running */
		conn_read(bev, c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		ssl = bufferevent_openssl_get_ssl(bev);
		v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
		if (c->state == C_HANDSHAKE && v != X509_V_OK)
			log_info("%s: client certificate refused: %s", c->peer,
			    X509_verify_cert_error_string(v));
		else if ((e = bufferevent_get_openssl_error(bev)) != 0) {
			ERR_error_string_n(e, buf, sizeof(buf));
			log_debug("%s: TLS: %s", c->peer, buf);
		}
	}
	conn_close(c);
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_conn *c = arg;
	SSL *ssl;

	if (c->rest_ms >= 0) {
		/* Quiet for BUFS_QUIET_MS: the record buffers go (OpenSSL
		 * keeps them while a record is partly read or written, and
		 * wipes the read buffer as it frees it); the phase's deadline
		 * stays. */
		ssl = c->bev != NULL ? bufferevent_openssl_get_ssl(c->bev) :
		    NULL;
		if (ssl != NULL)
			(void)SSL_free_buffers(ssl);
		timer_add(c, c->rest_ms);
		c->rest_ms = -1;
		return;
	}
	log_debug("%s: timed out (%s)", c->peer, c->state == C_BODY ? "body" :
	    c->state == C_IDLE ? "idle" : "head");
	conn_close(c);
}

/* A limit is reached: close the connection of q (all of them, or one
 * address's) that has done least, if there is one that may go. */
static void
evict(const struct daemon_conn_q q[NQ])
{
	struct daemon_conn *c = q[Q_FRESH].head != NULL ? q[Q_FRESH].head :
	    q[Q_IDLE].head;

	if (c == NULL)
		return;
	log_debug("%s: closed for a new connection (%s)", c->peer,
	    c->state == C_HANDSHAKE ? "handshake" : c->state == C_HEAD ?
	    "head" : c->state == C_IDLE ? "idle" : "closing");
	metrics_evicted();
	conn_close(c);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *c = NULL;
	struct daemon_peer *pe = NULL;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char host[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	int reject = 0;
	struct timeval wt;

	if (d->draining) {
		evutil_closesocket(fd);
		return;
	}
	/* Room for it: at its address's limit, the oldest idle connection
	 * of that address goes; at max_connections, the oldest of all. */
	peer_addr(sa, addr);
	if ((pe = peer_find(d, addr)) != NULL && pe->n >= d->per_address)
		evict(pe->q);	/* may free pe */
	if (d->nconn >= d->conf.max_connections)
		evict(d->q);
	pe = peer_find(d, addr);
	if (d->nconn >= d->conf.max_connections || (pe != NULL && pe->n >=
	    d->per_address)) {
		metrics_rejected();
		/* Answered 503 while few; beyond, closed at once. */
		if (d->nreject >= 64) {
			evutil_closesocket(fd);
			return;
		}
		reject = 1;
	}
	pe = NULL;
	if ((!reject && (pe = peer_get(d, addr)) == NULL) ||
	    (c = calloc(1, sizeof(*c))) == NULL ||
	    (ctx = daemon_tls_get(d)) == NULL || (ssl = SSL_new(ctx)) ==
	    NULL)
		goto fail;
	SSL_CTX_free(ctx);
	ctx = NULL;
	c->d = d;
	c->qk = -1;
	c->rest_ms = -1;
	host[0] = '\0';
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr,
		    host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, host,
		    sizeof(host));
	snprintf(c->peer, sizeof(c->peer), sa->sa_family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", host, sa->sa_family == AF_INET6 ?
	    ntohs(((struct sockaddr_in6 *)(void *)sa)->sin6_port) :
	    ntohs(((struct sockaddr_in *)(void *)sa)->sin_port));
	if ((c->timer = evtimer_new(d->base, conn_timeout, c)) == NULL)
		goto fail;
	c->bev = bufferevent_openssl_socket_new(d->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail;
	ssl = NULL;	/* owned by the bufferevent */
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    d->conf.max_header_bytes + (size_t)d->conf.max_body_bytes + 1);
	/* libevent reserves its default single read (16 KiB) in the input
	 * buffer for every read: a 32 KiB chain, allocated through the
	 * wiping allocator and wiped whole when the request is drained,
	 * per request. A page-sized chain holds a request head; a body
	 * takes more reads (OpenSSL keeps the rest of its record). */
	bufferevent_set_max_single_read(c->bev, READ_CHUNK);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	wt.tv_sec = d->conf.write_timeout_ms / 1000;
	wt.tv_usec = (d->conf.write_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, NULL, &wt);
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->reject = reject;
	c->state = C_HANDSHAKE;
	arm(c, d->conf.header_timeout_ms);
	if (reject)
		d->nreject++;
	else {
		d->nconn++;
		metrics_conn(1);
		c->pe = pe;
		q_put(c, Q_FRESH);
	}
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	return;
fail:
	evutil_closesocket(fd);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (pe != NULL)
		peer_put(d, pe);
	if (c != NULL) {
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
	}
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	log_warnx("accept: %s", evutil_socket_error_to_string(e));
}

/* Replies from the workers. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct daemon_req *list, *req;
	struct daemon_conn *c;

	pthread_mutex_lock(&d->done_mu);
	list = d->done_head;
	d->done_head = d->done_tail = NULL;
	pthread_mutex_unlock(&d->done_mu);
	/* The access lines of these replies in one write (log_hold()). */
	log_hold();
	while ((req = list) != NULL) {
		list = req->next;
		req->next = NULL;
		c = req->conn;
		d->busy--;
		daemon_settle(req);
		if (c->dead) {
			log_request(req);
			daemon_req_free(req);
			c->state = C_IDLE;
			conn_free(c);
			continue;
		}
		send_reply(c, req);
	}
	log_flush();
	maybe_stop(d);
}

void
daemon_done(struct daemon *d, struct daemon_req *req)
{
	pthread_mutex_lock(&d->done_mu);
	daemon_queue_push(&d->done_head, &d->done_tail, req);
	pthread_mutex_unlock(&d->done_mu);
	event_active(d->done_ev, EV_READ, 0);
}

/* The pass's light requests (daemon_submit()). */
static void
on_light(evutil_socket_t fd, short what, void *arg)
{
	daemon_run_light(arg);
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	log_warnx("shutdown: %d requests still out after %d ms, stopping",
	    d->busy, d->conf.drain_timeout_ms);
	event_base_loopbreak(d->base);
}

/* SIGTERM: stop accepting, close what is idle or half-read, let the
 * requests out to workers finish and their replies be written. */
static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *c, *next;
	struct timeval tv;
	size_t i;

	d->draining = 1;
	for (i = 0; i < d->nlisteners; i++) {
		evconnlistener_free(d->listeners[i]);
		d->listeners[i] = NULL;
	}
	d->nlisteners = 0;
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != C_BUSY && c->state != C_WRITING)
			conn_close(c);
	}
	tv.tv_sec = d->conf.drain_timeout_ms / 1000;
	tv.tv_usec = (d->conf.drain_timeout_ms % 1000) * 1000;
	evtimer_add(d->drain_timer, &tv);
	maybe_stop(d);
}

int
daemon_loop_setup(struct daemon *d, const int *fds, size_t nfds)
{
	struct event_config *cfg;
	size_t i, nb;
	int max = d->conf.max_connections;

	/* Connections by address: a quarter of all unless configured. */
	d->per_address = d->conf.max_per_address > 0 ?
	    (d->conf.max_per_address < max ? d->conf.max_per_address : max) :
	    (max / 4 > 0 ? max / 4 : 1);
	for (nb = 64; nb < (size_t)max && nb < 65536; nb <<= 1)
		;
	if ((d->peers = calloc(nb, sizeof(*d->peers))) == NULL)
		return cust_fail(CUST_E_NOMEM, "cannot set up the event loop");
	d->peers_mask = nb - 1;
	crypto_shorthash_keygen(d->peers_key);

	/* The epoll backend's change list: a connection's read and write
	 * interest, switched off and on again within one pass of the loop
	 * (each request stops reading, each reply adds and drops the write
	 * interest), costs one epoll_ctl at most instead of one per switch. */
	if ((cfg = event_config_new()) == NULL)
		return cust_fail(CUST_E_NOMEM, "cannot set up the event loop");
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	d->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (d->base == NULL ||
	    (d->light_ev = event_new(d->base, -1, 0, on_light, d)) == NULL ||
	    (d->done_ev = event_new(d->base, -1, 0, on_done, d)) == NULL ||
	    (d->stop_ev = event_new(d->base, -1, 0, on_stop, d)) == NULL ||
	    (d->drain_timer = evtimer_new(d->base, on_drain_timeout, d)) ==
	    NULL)
		return cust_fail(CUST_E_NOMEM, "cannot set up the event loop");
	for (i = 0; i < nfds; i++) {
		d->listeners[i] = evconnlistener_new(d->base, on_accept, d,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fds[i]);
		if (d->listeners[i] == NULL)
			return cust_fail(CUST_E_IO, "cannot listen");
		evconnlistener_set_error_cb(d->listeners[i], on_accept_error);
		d->nlisteners++;
	}
	return CUST_OK;
}

void
daemon_loop_teardown(struct daemon *d)
{
	struct daemon_conn *c, *next;
	struct daemon_req *req;
	size_t i;

	/* Replies the loop never took (the drain timed out), requests it
	 * never ran. */
	while ((req = d->done_head) != NULL) {
		d->done_head = req->next;
		daemon_req_free(req);
	}
	d->done_tail = NULL;
	while ((req = d->light_head) != NULL) {
		d->light_head = req->next;
		daemon_req_free(req);
	}
	d->light_tail = NULL;
	for (i = 0; i < d->nlisteners; i++)
		evconnlistener_free(d->listeners[i]);
	d->nlisteners = 0;
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		c->state = C_IDLE;	/* workers are stopped by now */
		conn_free(c);
	}
	if (d->done_ev != NULL)
		event_free(d->done_ev);
	if (d->light_ev != NULL)
		event_free(d->light_ev);
	if (d->stop_ev != NULL)
		event_free(d->stop_ev);
	if (d->drain_timer != NULL)
		event_free(d->drain_timer);
	if (d->base != NULL)
		event_base_free(d->base);
	d->base = NULL;
	free(d->peers);	/* every entry went with its connections */
	d->peers = NULL;
}
