/* SPDX-License-Identifier: MIT */
/* bench/api_client.c - HTTPS keep-alive load client for bench/api.sh.
 *
 * One thread, epoll, non-blocking OpenSSL: CONNS connections, each with a
 * client certificate, each sending GET PATH again as soon as the previous
 * response is complete, for SECONDS after a warm-up. Prints one JSON line:
 * requests, requests/s, p50/p99 latency (ms), non-200 answers and errors.
 * The same client measures custodyd and nginx, so the ratio compares the
 * servers, not the clients. Not a test: nothing is asserted.
 *
 *   api_client HOST PORT PATH CERT KEY CACERT CONNS SECONDS [WARMUP]
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define RBUF	(64 * 1024)
#define MAXLAT	(4 * 1024 * 1024)

struct conn {
	int fd;
	SSL *ssl;
	int handshaken;
	int sending;		/* request not fully written yet */
	size_t sent;
	char buf[RBUF];
	size_t len;
	double t0;
};

static char req[1024];
static size_t reqlen;
static double *lat;
static size_t nlat;
static unsigned long long nreq, non200, errors;
static int recording;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Length of a complete response at the start of c->buf, 0 when more is
 * needed, -1 when it cannot be parsed. *status gets the status code. */
static long
complete(struct conn *c, int *status)
{
	char *end, *p, *q;
	size_t hlen;
	long clen = -1;
	int chunked = 0;

	c->buf[c->len < RBUF ? c->len : RBUF - 1] = '\0';
	if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return c->len >= RBUF - 1 ? -1 : 0;
	hlen = (size_t)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
		return -1;
	for (p = c->buf; p < end; p = q + 2) {
		if ((q = strstr(p, "\r\n")) == NULL)
			break;
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "transfer-encoding:", 18) == 0 &&
		    strstr(p, "chunked") != NULL && strstr(p, "chunked") < q)
			chunked = 1;
	}
	if (chunked) {
		/* The last chunk: "0\r\n\r\n" at the end of what we have. */
		if (c->len >= hlen + 5 &&
		    memcmp(c->buf + c->len - 5, "0\r\n\r\n", 5) == 0)
			return (long)c->len;
		return c->len >= RBUF - 1 ? -1 : 0;
	}
	if (clen < 0)
		return -1;
	if (c->len < hlen + (size_t)clen)
		return hlen + (size_t)clen >= RBUF ? -1 : 0;
	return (long)(hlen + (size_t)clen);
}

static int
want(int ep, struct conn *c, int err)
{
	struct epoll_event ev = { 0 };

	ev.data.ptr = c;
	ev.events = err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Drive c as far as it goes without blocking; -1 on a dead connection. */
static int
step(int ep, struct conn *c)
{
	int n, e, status;
	long used;

	if (!c->handshaken) {
		if ((n = SSL_connect(c->ssl)) != 1) {
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return want(ep, c, e);
			return -1;
		}
		c->handshaken = 1;
		c->sending = 1;
		c->sent = 0;
		c->t0 = now();
	}
	for (;;) {
		if (c->sending) {
			n = SSL_write(c->ssl, req + c->sent,
			    (int)(reqlen - c->sent));
			if (n <= 0) {
				e = SSL_get_error(c->ssl, n);
				if (e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE)
					return want(ep, c, e);
				return -1;
			}
			if ((c->sent += (size_t)n) < reqlen)
				continue;
			c->sending = 0;
		}
		n = SSL_read(c->ssl, c->buf + c->len, (int)(RBUF - 1 - c->len));
		if (n <= 0) {
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return want(ep, c, e);
			return -1;
		}
		c->len += (size_t)n;
		if ((used = complete(c, &status)) < 0)
			return -1;
		if (used == 0)
			continue;
		if (recording) {
			nreq++;
			if (status != 200)
				non200++;
			if (nlat < MAXLAT)
				lat[nlat++] = (now() - c->t0) * 1e3;
		}
		memmove(c->buf, c->buf + used, c->len - (size_t)used);
		c->len -= (size_t)used;
		c->sending = 1;
		c->sent = 0;
		c->t0 = now();
	}
}

static int
dial(const char *host, const char *port)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	int fd;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, evs[64];
	struct conn *cs;
	SSL_CTX *ctx;
	double t, start, warm, secs;
	int ep, i, n, conns;

	if (argc < 9 || argc > 10) {
		fprintf(stderr, "usage: api_client HOST PORT PATH CERT KEY "
		    "CACERT CONNS SECONDS [WARMUP]\n");
		return 2;
	}
	conns = (int)strtol(argv[7], NULL, 10);
	secs = strtod(argv[8], NULL);
	warm = argc == 10 ? strtod(argv[9], NULL) : 1.0;
	if (conns < 1 || conns > 4096 || secs <= 0)
		return 2;
	reqlen = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\nConnection: keep-alive\r\n\r\n", argv[3], argv[1]);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, argv[4]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, argv[6], NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((lat = malloc(MAXLAT * sizeof(*lat))) == NULL ||
	    (cs = calloc((size_t)conns, sizeof(*cs))) == NULL ||
	    (ep = epoll_create1(0)) < 0)
		return 1;
	for (i = 0; i < conns; i++) {
		if ((cs[i].fd = dial(argv[1], argv[2])) < 0 ||
		    (cs[i].ssl = SSL_new(ctx)) == NULL) {
			fprintf(stderr, "api_client: cannot connect to %s:%s\n",
			    argv[1], argv[2]);
			return 1;
		}
		SSL_set_fd(cs[i].ssl, cs[i].fd);
		SSL_set_connect_state(cs[i].ssl);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLOUT;
		ev.data.ptr = &cs[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0)
			return 1;
	}
	start = now();
	for (;;) {
		t = now();
		if (!recording && t - start >= warm) {
			recording = 1;
			start = t;
		} else if (recording && t - start >= secs)
			break;
		if ((n = epoll_wait(ep, evs, 64, 100)) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->fd < 0 || step(ep, c) == 0)
				continue;
			errors++;
			(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			SSL_free(c->ssl);
			close(c->fd);
			c->fd = -1;
		}
	}
	t = now() - start;
	qsort(lat, nlat, sizeof(*lat), cmpd);
	printf("{\"requests\": %llu, \"seconds\": %.2f, \"rps\": %.0f, "
	    "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"non200\": %llu, "
	    "\"errors\": %llu}\n", nreq, t, (double)nreq / t,
	    nlat ? lat[nlat / 2] : 0.0,
	    nlat ? lat[(size_t)((double)nlat * 0.99)] : 0.0, non200, errors);
	return 0;
}
