/* SPDX-License-Identifier: MIT */
/* tests/unit/amt/test_transport.c - the libcurl transport against a small
 * digest-authenticating WS-Man peer on loopback (a thread of this test):
 * digest login, the FQDN kept as Host while connecting to the registry
 * address, 401 final, 503 retried, timeouts, oversized replies, and the
 * fleet driver's concurrency bound and per-device pacing. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "amt.h"
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

#define REALM "Digest:0123456789ABCDEF0123456789ABCDEF"
#define PASSWORD "P@ssw0rd-Un1t"

/*
 * libcurl's options as the transport sets them: this definition takes
 * the place of libcurl's for the library linked into this test, notes
 * the CA options, and hands every call on to libcurl.
 */
static struct {
	int capath_set;		/* CURLOPT_CAPATH was set ... */
	const void *capath;	/* ... to this */
	long sslversion;
} opts_seen;

#undef curl_easy_setopt
CURLcode
curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	static CURLcode (*real)(CURL *, CURLoption, ...);
	CURLcode r;
	va_list ap;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "curl_easy_setopt");
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);

		if (opt == CURLOPT_SSLVERSION)
			opts_seen.sslversion = v;
		r = real(h, opt, v);
	} else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB) {
		r = real(h, opt, va_arg(ap, curl_off_t));
	} else {
		void *p = va_arg(ap, void *);

		if (opt == CURLOPT_CAPATH) {
			opts_seen.capath_set = 1;
			opts_seen.capath = p;
		}
		r = real(h, opt, p);
	}
	va_end(ap);
	return r;
}

/* What the peer does and saw. */
static struct {
	pthread_mutex_t mu;
	int fd;
	unsigned short port;
	int fail503;		/* answer 503 to this many authorized requests */
	int delay_ms;		/* before answering an authorized request */
	int big;		/* answer with a reply over AMT_REPLY_MAX */
	int authorized;		/* authorized requests answered or refused */
	int unauthorized;	/* 401s sent for a wrong password */
	int open, max_open;	/* connections being served */
	int per_host_max;	/* most simultaneous requests for one Host */
	int max_inflight;	/* most simultaneous requests */
	int accepted;		/* connections accepted */
	char chal[256];		/* WWW-Authenticate value, "" the default */
	int noauth;		/* answer without asking for a login */
	int refuse_all;		/* a 401 to every request, good or not */
	int with_auth;		/* requests that carried Authorization */
	char host[128];		/* the last Host header */
	char hosts[64][64];	/* in-flight Host values */
} peer = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void
md5hex(const char *s, char out[33])
{
	unsigned char md[16];
	unsigned int n = 0;
	int i;

	EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The value of key="..." or key=... in an Authorization header. */
static int
field(const char *h, const char *key, char *out, size_t len)
{
	char pat[32];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = h; (p = strstr(p, pat)) != NULL; p++)
		if (p == h || p[-1] == ' ' || p[-1] == ',')
			break;
	if (p == NULL)
		return 0;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"' && n + 1 < len)
			n++;
	} else {
		while (p[n] && p[n] != ',' && p[n] != '\r' && n + 1 < len)
			n++;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

static int
digest_ok(const char *auth)
{
	char user[64], nonce[64], uri[64], resp[64], nc[16], cnonce[64];
	char buf[512], ha1[33], ha2[33], want[33];

	if (!field(auth, "username", user, sizeof(user)) ||
	    !field(auth, "nonce", nonce, sizeof(nonce)) ||
	    !field(auth, "uri", uri, sizeof(uri)) ||
	    !field(auth, "response", resp, sizeof(resp)) ||
	    !field(auth, "nc", nc, sizeof(nc)) ||
	    !field(auth, "cnonce", cnonce, sizeof(cnonce)))
		return 0;
	snprintf(buf, sizeof(buf), "%s:%s:%s", user, REALM, PASSWORD);
	md5hex(buf, ha1);
	snprintf(buf, sizeof(buf), "POST:%s", uri);
	md5hex(buf, ha2);
	snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, nonce, nc,
	    cnonce, ha2);
	md5hex(buf, want);
	return strcmp(user, "admin") == 0 && strcmp(uri, "/wsman") == 0 &&
	    strcmp(resp, want) == 0;
}

static void
send_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0 && (w = send(fd, s, n, MSG_NOSIGNAL)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

static void
answer(int fd, int code, const char *extra, const char *body, size_t blen)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\n%s"
	    "Content-Type: application/soap+xml; charset=UTF-8\r\n"
	    "Content-Length: %zu\r\n\r\n", code, extra, blen);

	send_all(fd, head, (size_t)n);
	send_all(fd, body, blen);
}

/* The reply to the envelope in req: RelatesTo its MessageID, Action its
 * Action + Response, a DigestRealm for Gets, ReturnValue 0 otherwise. */
static void
respond(int fd, const char *req)
{
	char id[32] = "", action[256] = "", body[2048];
	const char *p, *e;
	int n;

	if ((p = strstr(req, "<a:MessageID>")) != NULL &&
	    (e = strstr(p, "</")) != NULL && e - p - 13 < 31)
		memcpy(id, p + 13, (size_t)(e - p - 13));
	if ((p = strstr(req, "<a:Action>")) != NULL &&
	    (e = strstr(p, "</")) != NULL && e - p - 10 < 255)
		memcpy(action, p + 10, (size_t)(e - p - 10));
	n = snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><a:Envelope "
	    "xmlns:a=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:b=\""
	    "http://schemas.xmlsoap.org/ws/2004/08/addressing\"><a:Header>"
	    "<b:RelatesTo>%s</b:RelatesTo><b:Action>%sResponse</b:Action>"
	    "</a:Header><a:Body>%s</a:Body></a:Envelope>", id, action,
	    strstr(action, "transfer/Get") ? "<g:AMT_GeneralSettings xmlns:g="
	    "\"x\"><g:DigestRealm>" REALM "</g:DigestRealm>"
	    "</g:AMT_GeneralSettings>" : "<g:SetAdminAclEntryEx_OUTPUT "
	    "xmlns:g=\"x\"><g:ReturnValue>0</g:ReturnValue>"
	    "</g:SetAdminAclEntryEx_OUTPUT>");
	answer(fd, 200, "", body, (size_t)n);
}

static void
in_flight(const char *host, int delta)
{
	int i, same = 0, all = 0, slot = -1;

	pthread_mutex_lock(&peer.mu);
	for (i = 0; i < 64; i++) {
		if (delta > 0 && slot < 0 && peer.hosts[i][0] == '\0')
			slot = i;
		if (delta < 0 && strcmp(peer.hosts[i], host) == 0 &&
		    slot < 0)
			slot = i;
	}
	if (slot >= 0) {
		if (delta > 0)
			snprintf(peer.hosts[slot], 64, "%s", host);
		else
			peer.hosts[slot][0] = '\0';
	}
	for (i = 0; i < 64; i++) {
		same += strcmp(peer.hosts[i], host) == 0;
		all += peer.hosts[i][0] != '\0';
	}
	if (delta > 0 && same > peer.per_host_max)
		peer.per_host_max = same;
	if (all > peer.max_inflight)
		peer.max_inflight = all;
	pthread_mutex_unlock(&peer.mu);
}

/* Serve one connection: requests until the client closes. */
static void *
serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(65536), *hdr_end, auth[1024], host[128];
	size_t len = 0;
	ssize_t n;

	pthread_mutex_lock(&peer.mu);
	if (++peer.open > peer.max_open)
		peer.max_open = peer.open;
	pthread_mutex_unlock(&peer.mu);
	while (buf != NULL) {
		const char *cl, *hp, *ap;
		size_t clen, need;

		while ((hdr_end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
			if ((n = read(fd, buf + len, 65535 - len)) <= 0)
				goto done;
			len += (size_t)n;
		}
		buf[len] = '\0';
		cl = strcasestr(buf, "Content-Length:");
		clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
		need = (size_t)(hdr_end - buf) + 4 + clen;
		while (len < need && len < 65535) {
			if ((n = read(fd, buf + len, 65535 - len)) <= 0)
				goto done;
			len += (size_t)n;
		}
		buf[len] = '\0';
		host[0] = auth[0] = '\0';
		if ((hp = strcasestr(buf, "\r\nHost: ")) != NULL)
			sscanf(hp + 8, "%127[^\r]", host);
		if ((ap = strcasestr(buf, "\r\nAuthorization: ")) != NULL)
			sscanf(ap + 17, "%1023[^\r]", auth);
		pthread_mutex_lock(&peer.mu);
		snprintf(peer.host, sizeof(peer.host), "%s", host);
		peer.with_auth += auth[0] != '\0';
		pthread_mutex_unlock(&peer.mu);
		if (peer.noauth) {
			respond(fd, hdr_end + 4);
		} else if (auth[0] == '\0' || !digest_ok(auth) ||
		    peer.refuse_all) {
			char ch[320];

			pthread_mutex_lock(&peer.mu);
			peer.unauthorized += auth[0] != '\0';
			snprintf(ch, sizeof(ch), "WWW-Authenticate: %s\r\n",
			    peer.chal[0] ? peer.chal : "Digest realm=\"" REALM
			    "\", nonce=\"abcdef0123456789\", stale=\"false\", "
			    "qop=\"auth\"");
			pthread_mutex_unlock(&peer.mu);
			answer(fd, 401, ch, "", 0);
		} else {
			int busy, delay, big;

			in_flight(host, 1);
			pthread_mutex_lock(&peer.mu);
			peer.authorized++;
			busy = peer.fail503 > 0 ? peer.fail503-- : 0;
			delay = peer.delay_ms;
			big = peer.big;
			pthread_mutex_unlock(&peer.mu);
			if (delay > 0)
				usleep((useconds_t)delay * 1000);
			if (busy) {
				answer(fd, 503, "", "", 0);
			} else if (big) {
				size_t bl = AMT_REPLY_MAX + 100;
				char *b = malloc(bl);

				memset(b, ' ', bl);
				answer(fd, 200, "", b, bl);
				free(b);
			} else {
				respond(fd, hdr_end + 4);
			}
			in_flight(host, -1);
		}
		memmove(buf, buf + need, len - need);
		len -= need;
	}
done:
	pthread_mutex_lock(&peer.mu);
	peer.open--;
	pthread_mutex_unlock(&peer.mu);
	free(buf);
	close(fd);
	return NULL;
}

static void *
acceptor(void *arg)
{
	pthread_t t;
	int c;

	(void)arg;
	while ((c = accept(peer.fd, NULL, NULL)) >= 0) {
		pthread_mutex_lock(&peer.mu);
		peer.accepted++;
		pthread_mutex_unlock(&peer.mu);
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c) != 0) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static int
setup(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	pthread_t t;
	int one = 1;

	(void)state;
	if (cust_init() != CUST_OK)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer.fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(peer.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(peer.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(peer.fd, 128) != 0 ||
	    getsockname(peer.fd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	peer.port = ntohs(sa.sin_port);
	return pthread_create(&t, NULL, acceptor, NULL) == 0 &&
	    pthread_detach(t) == 0 ? 0 : -1;
}

static void
reset(void)
{
	pthread_mutex_lock(&peer.mu);
	peer.fail503 = peer.delay_ms = peer.big = 0;
	peer.authorized = peer.unauthorized = 0;
	peer.chal[0] = '\0';
	peer.noauth = peer.with_auth = peer.refuse_all = 0;
	peer.per_host_max = peer.max_inflight = 0;
	peer.host[0] = '\0';
	pthread_mutex_unlock(&peer.mu);
}

/* A target at the peer, by a name that does not resolve. */
static void
target(struct amt_target *t, char *addr, size_t len, struct seal_secret *pw)
{
	memset(t, 0, sizeof(*t));
	snprintf(addr, len, "127.0.0.1:%u", peer.port);
	t->fqdn = "dev00001.amtsim.test";
	t->address = addr;
	t->user = "admin";
	t->password = pw;
	t->connect_ms = 2000;
	t->timeout_ms = 5000;
}

static void
test_digest_get(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	unsigned long regions0, regions1, pools;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	seal_pool_stats(&regions0, &pools);
	assert_int_equal(amt_call(&t, q, &r), CUST_OK);
	/* A Get holds no secret: its envelope goes as built, with no
	 * sodium region of its own (the peer read its MessageID from it). */
	seal_pool_stats(&regions1, &pools);
	assert_int_equal(regions1, regions0);
	assert_string_equal(amt_reply_value(r, "DigestRealm"), REALM);
	/* The realm the login used, proven by it (the body's is not). */
	assert_non_null(amt_reply_auth_realm(r));
	assert_string_equal(amt_reply_auth_realm(r), REALM);
	/* The Host header is the FQDN (and port), not the address. */
	assert_string_equal(peer.host, "dev00001.amtsim.test:16992");
	amt_reply_free(r);
	amt_req_free(q);
	seal_secret_free(pw);
}

/* A wrong password is a 401: final, never retried. */
static void
test_denied_not_retried(void **state)
{
	struct seal_secret *pw = seal_secret_dup("Wr0ng-pass!", 11);
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	t.retries = 3;
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_E_DENIED);
	assert_null(r);
	assert_non_null(strstr(cust_errmsg(), "HTTP 401"));
	assert_null(strstr(cust_errmsg(), "Wr0ng"));
	assert_int_equal(peer.unauthorized, 1);
	amt_req_free(q);
	seal_secret_free(pw);
}

/* 503 is retried (even for a change: it was not processed). */
static void
test_503_retried(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct seal_secret *dpw = seal_secret_dup("arkZL7pYoE1eDE34m5pDUA==",
	    24);
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	peer.fail503 = 2;
	assert_int_equal(amt_msg_set_admin(4, "admin", dpw, &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_OK);
	assert_int_equal(amt_reply_check(r), CUST_OK);
	assert_int_equal(peer.authorized, 3);
	amt_reply_free(r);
	/* Without retries the 503 is the answer. */
	reset();
	peer.fail503 = 1;
	t.retries = -1;
	assert_int_equal(amt_call(&t, q, &r), CUST_E_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(), "503"));
	assert_int_equal(peer.authorized, 1);
	amt_req_free(q);
	seal_secret_free(dpw);
	seal_secret_free(pw);
}

/* A change that timed out after it was sent is not sent again: its
 * outcome is unknown, and the caller reconciles. */
static void
test_timeout_change_not_retried(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct seal_secret *dpw = seal_secret_dup("arkZL7pYoE1eDE34m5pDUA==",
	    24);
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	t.timeout_ms = 300;
	t.retries = 2;
	peer.delay_ms = 600;
	assert_int_equal(amt_msg_set_admin(5, "admin", dpw, &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_E_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(), "outcome unknown"));
	usleep(700 * 1000);
	assert_int_equal(peer.authorized, 1);
	amt_req_free(q);
	/* A Get is retried. */
	reset();
	peer.delay_ms = 600;
	assert_int_equal(amt_msg_get(6, "AMT_GeneralSettings", &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_E_UNAVAIL);
	usleep(700 * 1000);
	assert_int_equal(peer.authorized, 3);
	amt_req_free(q);
	seal_secret_free(dpw);
	seal_secret_free(pw);
}

static void
test_refused_and_big(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	peer.big = 1;
	assert_int_equal(amt_call(&t, q, &r), CUST_E_TOOBIG);
	peer.big = 0;
	/* Port 1 on loopback: refused, retried, then unavailable. */
	t.address = "127.0.0.1:1";
	t.retries = 1;
	assert_int_equal(amt_call(&t, q, &r), CUST_E_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(), "dev00001.amtsim.test"));
	/* A plaintext secret never goes without TLS. */
	amt_req_free(q);
	assert_int_equal(amt_msg_set_mebx(2, pw, &q), CUST_OK);
	t.address = addr;
	assert_int_equal(amt_call(&t, q, &r), CUST_E_INVAL);
	assert_int_equal(peer.authorized, 1);
	amt_req_free(q);
	seal_secret_free(pw);
}

/* Fleet: every conversation runs to its end, at most `concurrency`
 * requests in flight and one at a time per device. */
#define FLEET 24
#define STEPS 3

struct conv_state {
	char fqdn[64];
	struct amt_target t;
	int step;
	int ok;
	unsigned long id;
};

static int
next(void *arg, const struct amt_reply *prev, int err, struct amt_req **out)
{
	struct conv_state *c = arg;

	*out = NULL;
	if (c->step > 0 && err == CUST_OK && prev != NULL &&
	    amt_reply_value(prev, "DigestRealm") != NULL)
		c->ok++;
	if (c->step++ == STEPS)
		return 0;
	return amt_msg_get(++c->id, "AMT_GeneralSettings", out);
}

static void
test_fleet(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct conv_state *cs = calloc(FLEET, sizeof(*cs));
	struct amt_conv convs[FLEET];
	char addr[64];
	size_t i;

	(void)state;
	reset();
	peer.delay_ms = 20;
	for (i = 0; i < FLEET; i++) {
		target(&cs[i].t, addr, sizeof(addr), pw);
		snprintf(cs[i].fqdn, sizeof(cs[i].fqdn), "dev%05zu.amtsim.test",
		    i);
		cs[i].t.fqdn = cs[i].fqdn;
		cs[i].t.address = addr;
		convs[i] = (struct amt_conv){ &cs[i].t, next, &cs[i] };
	}
	assert_int_equal(amt_fleet_run(convs, FLEET, 5), CUST_OK);
	for (i = 0; i < FLEET; i++)
		assert_int_equal(cs[i].ok, STEPS);
	assert_int_equal(peer.authorized, FLEET * STEPS);
	assert_int_equal(peer.per_host_max, 1);
	/* Bounded, and actually parallel. */
	assert_true(peer.max_inflight <= 5);
	assert_true(peer.max_inflight >= 2);
	free(cs);
	seal_secret_free(pw);
}

/* One conversation of two Gets: the second on a fresh connection when
 * fresh (after an ACL change AMT drops digest sessions), else on the
 * first one's. */
struct two {
	struct amt_target t;
	int step, fresh, ok;
};

static int
two_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **out)
{
	struct two *c = arg;

	*out = NULL;
	c->ok += err == CUST_OK && prev != NULL;
	if (c->step == 2)
		return 0;
	c->t.fresh = c->step == 1 && c->fresh;
	return amt_msg_get((unsigned long)++c->step, "AMT_GeneralSettings",
	    out);
}

/* Run one conversation on t (at the peer, logging in with pw): how many
 * connections the peer accepted. */
static int
accepted_by(struct amt_conv *conv, struct amt_target *t,
    struct seal_secret *pw)
{
	char addr[64];
	int n;

	reset();
	target(t, addr, sizeof(addr), pw);
	pthread_mutex_lock(&peer.mu);
	peer.accepted = 0;
	pthread_mutex_unlock(&peer.mu);
	assert_int_equal(amt_fleet_run(conv, 1, 1), CUST_OK);
	pthread_mutex_lock(&peer.mu);
	n = peer.accepted;
	pthread_mutex_unlock(&peer.mu);
	return n;
}

static int
connections_for(int fresh)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct two c = { .fresh = fresh };
	struct amt_conv conv = { &c.t, two_next, &c };
	int n = accepted_by(&conv, &c.t, pw);

	assert_int_equal(c.ok, 2);
	seal_secret_free(pw);
	return n;
}

/* The realm of the device's challenge is checked before libcurl answers
 * it: an impostor naming another realm gets no digest response. */
static void
test_realm_before_login(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	t.realm = REALM;
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_OK);	/* the right one */
	amt_reply_free(r);
	r = NULL;
	reset();
	snprintf(peer.chal, sizeof(peer.chal), "Digest realm=\"Digest:"
	    "FFFF0000000000000000000000000000\", nonce=\"0123\", "
	    "stale=\"false\", qop=\"auth\"");
	assert_int_equal(amt_call(&t, q, &r), CUST_E_VIOLATION);
	assert_non_null(strstr(cust_errmsg(), "not the registered"));
	assert_int_equal(peer.with_auth, 0);
	assert_null(r);
	amt_req_free(q);
	seal_secret_free(pw);
}

/* A challenge that is not AMT's (RFC 2069 without qop, MD5-sess,
 * SHA-256) is not answered. */
static void
test_weak_challenge(void **state)
{
	static const char *chals[] = {
		"Digest realm=\"" REALM "\", nonce=\"0123\"",
		"Digest realm=\"" REALM "\", nonce=\"0123\", qop=\"auth\", "
		    "algorithm=MD5-sess",
		"Digest realm=\"" REALM "\", nonce=\"0123\", qop=\"auth-int\"",
		"Digest realm=\"" REALM "\", nonce=\"0123\", qop=\"auth\", "
		    "algorithm=SHA-256",
	};
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];
	size_t i;

	(void)state;
	target(&t, addr, sizeof(addr), pw);
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	for (i = 0; i < sizeof(chals) / sizeof(chals[0]); i++) {
		reset();
		snprintf(peer.chal, sizeof(peer.chal), "%s", chals[i]);
		assert_int_equal(amt_call(&t, q, &r), CUST_E_CRYPTO);
		assert_int_equal(peer.with_auth, 0);
	}
	/* qop listing auth among others, algorithm MD5 spelt out: fine. */
	reset();
	snprintf(peer.chal, sizeof(peer.chal), "Digest realm=\"" REALM "\", "
	    "nonce=\"abcdef0123456789\", qop=\"auth,auth-int\", "
	    "algorithm=MD5");
	assert_int_equal(amt_call(&t, q, &r), CUST_OK);
	amt_reply_free(r);
	amt_req_free(q);
	seal_secret_free(pw);
}

/* A peer that answers without asking for a login (not AMT: a device
 * that would "accept" any password, so a proof by login proves nothing)
 * is refused, by a call and by the fleet driver, first exchange and
 * fresh ones alike. */
static int noauth_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **req_out);

struct noauth_conv {
	int n;
	int errs[4];
	int fresh_second;
	struct amt_target *t;
};

static int
noauth_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **req_out)
{
	struct noauth_conv *c = arg;

	(void)prev;
	*req_out = NULL;
	if (c->n > 0)
		c->errs[c->n - 1] = err;
	if (c->n == 2)
		return 0;
	if (c->n == 1 && c->fresh_second) {
		c->t->fresh = 1;
		peer.noauth = 1;
	}
	c->n++;
	return amt_msg_get((unsigned long)c->n, "AMT_GeneralSettings",
	    req_out);
}

static void
test_unauthenticated_answer(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	struct noauth_conv c = { 0 };
	struct amt_conv conv;
	char addr[64];

	(void)state;
	reset();
	peer.noauth = 1;
	target(&t, addr, sizeof(addr), pw);
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_E_CRYPTO);
	assert_non_null(strstr(cust_errmsg(), "without asking"));
	assert_null(r);
	amt_req_free(q);
	/* Fleet: a first exchange with a login, then the peer stops asking
	 * for one: a fresh exchange (a proof) must see it. */
	reset();
	c.t = &t;
	c.fresh_second = 1;
	conv = (struct amt_conv){ &t, noauth_next, &c };
	assert_int_equal(amt_fleet_run(&conv, 1, 1), CUST_OK);
	assert_int_equal(c.errs[0], CUST_OK);
	assert_int_equal(c.errs[1], CUST_E_CRYPTO);
	seal_secret_free(pw);
}

/* A device that calls every response stale (a 401 loop) ends as a
 * refused login after a bounded number of tries. */
static void
test_stale_loop(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	snprintf(peer.chal, sizeof(peer.chal), "Digest realm=\"" REALM "\", "
	    "nonce=\"0000\", stale=\"true\", qop=\"auth\"");
	peer.refuse_all = 1;
	target(&t, addr, sizeof(addr), pw);
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	assert_int_equal(amt_call(&t, q, &r), CUST_E_DENIED);
	assert_non_null(strstr(cust_errmsg(), "401 loop"));
	assert_in_range(peer.with_auth, 1, 2);
	amt_req_free(q);
	seal_secret_free(pw);
}

/* TLS to a device trusts custody's bundle only: libcurl's built-in CA
 * path is switched off (else a public CA's certificate for the FQDN would
 * pass), and nothing older than TLS 1.2 is spoken. */
static void
test_tls_bundle_only(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_target t;
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char addr[64];

	(void)state;
	reset();
	target(&t, addr, sizeof(addr), pw);
	t.tls = 1;
	t.cafile = "/nonexistent/bundle.pem";
	t.retries = -1;
	memset(&opts_seen, 0, sizeof(opts_seen));
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	/* The peer speaks plain HTTP: the handshake fails, after setup. */
	assert_int_not_equal(amt_call(&t, q, &r), CUST_OK);
	assert_true(opts_seen.capath_set);
	assert_null(opts_seen.capath);
	assert_int_equal(opts_seen.sslversion, CURL_SSLVERSION_TLSv1_2);
	amt_req_free(q);
	seal_secret_free(pw);
}

static void
test_fresh_connection(void **state)
{
	(void)state;
	assert_int_equal(connections_for(0), 1);
	assert_int_equal(connections_for(1), 2);
}

/* A change with keep goes on the connection the Get opened (without it,
 * on a new one); the replies say which exchange opened a connection. */
struct kept {
	struct amt_target t;
	struct seal_secret *dpw;
	int step, keep;
	long connects[2];
};

static int
kept_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **out)
{
	struct kept *c = arg;

	*out = NULL;
	if (c->step > 0) {
		assert_int_equal(err, CUST_OK);
		c->connects[c->step - 1] = amt_reply_connects(prev);
	}
	if (c->step++ == 2)
		return 0;
	if (c->step == 1)
		return amt_msg_get(1, "AMT_GeneralSettings", out);
	c->t.keep = c->keep;
	return amt_msg_set_admin(2, "admin", c->dpw, out);
}

static int
accepted_with(int keep, long connects[2])
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct kept c = { .keep = keep };
	struct amt_conv conv = { &c.t, kept_next, &c };
	int n;

	c.dpw = seal_secret_dup("arkZL7pYoE1eDE34m5pDUA==", 24);
	n = accepted_by(&conv, &c.t, pw);
	assert_int_equal(peer.authorized, 2);
	memcpy(connects, c.connects, sizeof(c.connects));
	seal_secret_free(c.dpw);
	seal_secret_free(pw);
	return n;
}

static void
test_keep_change(void **state)
{
	long connects[2];

	(void)state;
	assert_int_equal(accepted_with(1, connects), 1);
	assert_int_equal(connects[0], 1);
	assert_int_equal(connects[1], 0);
	assert_int_equal(accepted_with(0, connects), 2);
	assert_int_equal(connects[1], 1);
}

/* A change's envelope (it holds a DigestPassword) goes in sodium memory
 * that the slot's handle keeps from change to change and wipes after
 * each: one region per slot for the whole fleet, not one per change
 * (mmap, mprotect and mlock, and a TLB shootdown to undo it). */
static void
test_change_body_region(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct kept c[6];
	struct amt_conv conv[6];
	unsigned long regions0, regions1, pools;
	char addr[64];
	size_t i;

	(void)state;
	reset();
	memset(c, 0, sizeof(c));
	for (i = 0; i < 6; i++) {
		target(&c[i].t, addr, sizeof(addr), pw);
		c[i].keep = 1;
		c[i].dpw = seal_secret_dup("arkZL7pYoE1eDE34m5pDUA==", 24);
		conv[i] = (struct amt_conv){ &c[i].t, kept_next, &c[i] };
	}
	seal_pool_stats(&regions0, &pools);
	assert_int_equal(amt_fleet_run(conv, 6, 2), CUST_OK);
	seal_pool_stats(&regions1, &pools);
	assert_int_equal(peer.authorized, 12);
	assert_true(regions1 - regions0 <= 2);
	for (i = 0; i < 6; i++) {
		assert_int_equal(c[i].step, 3);
		seal_secret_free(c[i].dpw);
	}
	seal_secret_free(pw);
}

/* A kept change that times out on the reused connection reached the
 * device (no connection was opened for it): its outcome is unknown and
 * it is not sent again. */
static int
timeout_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **out)
{
	struct kept *c = arg;

	(void)prev;
	*out = NULL;
	if (c->step == 1) {
		pthread_mutex_lock(&peer.mu);
		peer.delay_ms = 600;
		pthread_mutex_unlock(&peer.mu);
	}
	if (c->step == 2) {
		c->connects[0] = err;
		assert_non_null(strstr(cust_errmsg(), "outcome unknown"));
	}
	if (c->step++ == 2)
		return 0;
	if (c->step == 1)
		return amt_msg_get(1, "AMT_GeneralSettings", out);
	c->t.keep = 1;
	return amt_msg_set_admin(2, "admin", c->dpw, out);
}

static void
test_keep_timeout_not_retried(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct kept c = { .keep = 1 };
	struct amt_conv conv = { &c.t, timeout_next, &c };
	char addr[64];

	(void)state;
	c.dpw = seal_secret_dup("arkZL7pYoE1eDE34m5pDUA==", 24);
	reset();
	target(&c.t, addr, sizeof(addr), pw);
	c.t.timeout_ms = 300;
	c.t.retries = 2;
	assert_int_equal(amt_fleet_run(&conv, 1, 1), CUST_OK);
	assert_int_equal(c.connects[0], CUST_E_UNAVAIL);
	usleep(700 * 1000);
	/* The Get and one Set: never a second. */
	assert_int_equal(peer.authorized, 2);
	reset();
	seal_secret_free(c.dpw);
	seal_secret_free(pw);
}

/* Group commit: a held request goes only after the flush hook, which
 * runs once for the round; a failing flush ends the run unsent; a
 * dropped one is never sent and its conversation hears it. */
struct held {
	struct amt_target t;
	int step, err2;
};

static struct {
	int calls, fail, drop, sent_at_flush;
} hk;

static int
held_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **out)
{
	struct held *c = arg;

	(void)prev;
	*out = NULL;
	if (c->step == 2)
		c->err2 = err;
	if (c->step++ == 2)
		return 0;
	if (amt_msg_get((unsigned long)c->step, "AMT_GeneralSettings", out)
	    != CUST_OK)
		return -1;
	return c->step == 2 ? AMT_CONV_HOLD : 0;
}

static int
hk_flush(void *arg)
{
	(void)arg;
	hk.calls++;
	pthread_mutex_lock(&peer.mu);
	if (hk.calls == 2)	/* the round of the first Get's answer */
		hk.sent_at_flush = peer.authorized;
	pthread_mutex_unlock(&peer.mu);
	return hk.fail ? cust_fail(CUST_E_DB, "flush failed") : CUST_OK;
}

static int
hk_dropped(void *arg, void *conv_arg)
{
	(void)arg;
	(void)conv_arg;
	return hk.drop;
}

static int
run_held(int fail, int drop, struct held *cs, size_t n)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_fleet_hooks hooks = { hk_flush, hk_dropped, -1, NULL };
	struct amt_conv convs[4];
	char addr[64];
	size_t i;
	int r;

	reset();
	memset(&hk, 0, sizeof(hk));
	hk.fail = fail;
	hk.drop = drop;
	for (i = 0; i < n; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		target(&cs[i].t, addr, sizeof(addr), pw);
		convs[i] = (struct amt_conv){ &cs[i].t, held_next, &cs[i] };
	}
	r = amt_fleet_run_with(convs, n, n, &hooks);
	seal_secret_free(pw);
	return r;
}

static void
test_hold_flush(void **state)
{
	struct held cs[4];

	(void)state;
	assert_int_equal(run_held(0, 0, cs, 1), CUST_OK);
	/* At the flush before it, only the first Get had been answered. */
	assert_int_equal(hk.sent_at_flush, 1);
	assert_int_equal(peer.authorized, 2);
	assert_int_equal(cs[0].err2, CUST_OK);
	/* A failing flush: its error, the held request never sent. */
	assert_int_equal(run_held(1, 0, cs, 1), CUST_E_DB);
	usleep(100 * 1000);
	assert_int_equal(peer.authorized, 0);
	/* Dropped: not sent, the conversation hears CUST_E_CONFLICT. */
	assert_int_equal(run_held(0, 1, cs, 3), CUST_OK);
	assert_int_equal(peer.authorized, 3);
	assert_int_equal(cs[1].err2, CUST_E_CONFLICT);
}

/* A held request that waits for a commit made on another thread: the
 * other conversations go on meanwhile (the driver never waits for the
 * commit), and the held one goes once the commit's end woke the driver. */
struct waiter {
	int fds[2];
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	int done;		/* the "commit" is durable */
	int others_during;	/* answers the others had when it ended */
	int others;		/* answers the other conversations had */
};

static struct waiter wt;

static void *
wait_commit(void *arg)
{
	char c = 1;

	(void)arg;
	usleep(300 * 1000);
	pthread_mutex_lock(&wt.mu);
	wt.done = 1;
	wt.others_during = wt.others;
	pthread_mutex_unlock(&wt.mu);
	if (write(wt.fds[1], &c, 1) != 1)
		abort();
	return NULL;
}

static int
wt_flush(void *arg)
{
	char buf[16];

	(void)arg;
	while (read(wt.fds[0], buf, sizeof(buf)) > 0)
		;
	if (!wt.started) {
		wt.started = 1;
		if (pthread_create(&wt.th, NULL, wait_commit, NULL) != 0)
			return cust_fail(CUST_E_INTERNAL, "thread");
	}
	return CUST_OK;
}

static int
wt_held(void *arg, void *conv_arg)
{
	int d;

	(void)arg;
	(void)conv_arg;
	pthread_mutex_lock(&wt.mu);
	d = wt.done;
	pthread_mutex_unlock(&wt.mu);
	return d ? AMT_HELD_SEND : AMT_HELD_WAIT;
}

/* Many Gets, one after another (the others). */
static int
busy_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **out)
{
	struct held *c = arg;

	(void)prev;
	*out = NULL;
	if (c->step > 0 && err == CUST_OK) {
		pthread_mutex_lock(&wt.mu);
		wt.others++;
		pthread_mutex_unlock(&wt.mu);
	}
	if (c->step++ == 40)
		return 0;
	return amt_msg_get((unsigned long)c->step, "AMT_GeneralSettings",
	    out) == CUST_OK ? 0 : -1;
}

static void
test_hold_wait(void **state)
{
	struct seal_secret *pw = seal_secret_dup(PASSWORD, strlen(PASSWORD));
	struct amt_fleet_hooks hooks = { wt_flush, wt_held, -1, NULL };
	struct held cs[3];
	struct amt_conv convs[3];
	char addr[64];
	size_t i;

	(void)state;
	reset();
	memset(&wt, 0, sizeof(wt));
	pthread_mutex_init(&wt.mu, NULL);
	assert_int_equal(pipe2(wt.fds, O_NONBLOCK | O_CLOEXEC), 0);
	hooks.wake_fd = wt.fds[0];
	peer.delay_ms = 5;
	for (i = 0; i < 3; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		target(&cs[i].t, addr, sizeof(addr), pw);
		convs[i] = (struct amt_conv){ &cs[i].t, i == 0 ? held_next :
		    busy_next, &cs[i] };
	}
	assert_int_equal(amt_fleet_run_with(convs, 3, 3, &hooks), CUST_OK);
	assert_int_equal(pthread_join(wt.th, NULL), 0);
	/* The held Get went, after the commit. */
	assert_int_equal(cs[0].err2, CUST_OK);
	assert_int_equal(peer.authorized, 2 + 2 * 40);
	/* The others did not wait for it: they had answers in the 300 ms
	 * the commit took. */
	assert_true(wt.others_during >= 5);
	close(wt.fds[0]);
	close(wt.fds[1]);
	pthread_mutex_destroy(&wt.mu);
	seal_secret_free(pw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_get),
		cmocka_unit_test(test_denied_not_retried),
		cmocka_unit_test(test_503_retried),
		cmocka_unit_test(test_timeout_change_not_retried),
		cmocka_unit_test(test_refused_and_big),
		cmocka_unit_test(test_fleet),
		cmocka_unit_test(test_fresh_connection),
		cmocka_unit_test(test_realm_before_login),
		cmocka_unit_test(test_weak_challenge),
		cmocka_unit_test(test_unauthenticated_answer),
		cmocka_unit_test(test_stale_loop),
		cmocka_unit_test(test_tls_bundle_only),
		cmocka_unit_test(test_keep_change),
		cmocka_unit_test(test_change_body_region),
		cmocka_unit_test(test_keep_timeout_not_retried),
		cmocka_unit_test(test_hold_flush),
		cmocka_unit_test(test_hold_wait),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
