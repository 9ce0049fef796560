/* SPDX-License-Identifier: MIT */
/* src/amt/transport.c - WS-Man over libcurl: one exchange (amt_call) and
 * many devices at once (amt_fleet_run).
 *
 * One exchange is a POST of the envelope to http://FQDN:16992/wsman (or
 * https on 16993) with HTTP digest authentication; the URL always names
 * the device's FQDN, so the Host header, SNI and the certificate name
 * checked are the FQDN, and a registry address (HOST[:PORT]) only
 * changes where libcurl connects (CURLOPT_CONNECT_TO).
 *
 * Secrets: an envelope holding a secret (a DigestPassword, the MEBx
 * password) is rendered into sodium memory and handed to libcurl with
 * CURLOPT_POSTFIELDS, which does not copy it; one holding none (a Get)
 * is handed over from the request's own buffer. The digest password is
 * given with CURLOPT_PASSWORD, which libcurl does copy (a strdup in the
 * easy handle, freed without wiping on curl_easy_reset/cleanup, and the
 * HA1 it computes lives briefly on its stack): that copy is outside our
 * control, and doc/internals/SECRETS.md says so. The password never goes
 * in a URL, a header of ours or a log line.
 *
 * A change (a request that is not idempotent) goes on a new connection
 * unless its target says keep: libcurl silently sends a request again
 * when a reused connection dies before any answer, which for a change
 * that the device applied before dropping the connection would send it
 * twice (the simulator's drop-after-apply showed it: the resend met a
 * 401, the password having changed). keep is for a change that such a
 * resend cannot apply twice (SetAdminAclEntryEx authenticated with the
 * password it replaces: once applied, the resend's login is refused).
 *
 * TLS sessions: libcurl's session cache of the easy handle (on by
 * default, keyed by host name, port, CONNECT_TO target and the TLS
 * options, the CA bundle among them) offers the session of a device's
 * last full handshake on its next connection; the fleet driver's slot
 * keeps one handle for every exchange of its conversation, so a push's
 * later connections resume (when the device resumes: reference §6 is
 * silent, and a device that does not just makes a full handshake). A
 * resumed session authenticates the device as the full handshake did
 * (its certificate verified against custody's bundle with the device's
 * name, in this run), and it is still a new connection: the proof's
 * fresh login on a fresh connection keeps its meaning (SERVICE.md).
 *
 * Retries: only what cannot have changed the device twice. A refused
 * connection, a connection never established or HTTP 503 is retried for
 * every request; a timeout or dropped connection after the request was
 * sent only for idempotent requests (amt_req_idempotent()). 401, a SOAP
 * fault, a malformed reply are final. Backoff AMT_BACKOFF_MS, doubled.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "amt_int.h"
#include "err.h"
#include "seal.h"
#include "util.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void
curl_init_once(void)
{
	/* Wiping allocator: libcurl's copies of requests (DigestPasswords,
	 * the MEBx password) and replies are wiped when freed. */
	curl_ok = cust_curl_init() == CUST_OK;
}

/* One exchange's state, reused across retries and requests. */
struct xfer {
	CURL *h;
	const struct amt_target *t;
	const struct amt_req *q;
	struct seal_secret *body;	/* an envelope too big for bodybuf */
	struct seal_secret *bodybuf;	/* the handle's, reused: XFER_BODY */
	size_t bodylen;			/* what it holds now (0: nothing) */
	struct curl_slist *hdrs;
	struct curl_slist *connect_to;
	char *reply;
	size_t len, cap;
	int toobig;
	int status;		/* of the response whose headers arrive */
	int challenged;		/* this attempt met a digest challenge */
	int nchal;		/* digest challenges in this attempt */
	int primed;		/* the handle holds digest state (a nonce) */
	int need_chal;		/* this attempt must be challenged */
	int chal_rc;		/* the challenge was refused: why */
	int revoked;		/* the peer's certificate is revoked */
	char chal_why[512];
	char chal_realm[128];	/* the realm of the last challenge */
	int attempt;
	int64_t wake_ms;	/* fleet: retry not before (monotonic ms) */
	char errbuf[CURL_ERROR_SIZE];
};

/* An envelope with a secret (a SetAdminAclEntryEx: about 1.5 KB) is
 * rendered into a sodium region the handle keeps from request to request,
 * wiped when the next request is set up (xfer_clear()) and when the
 * handle goes: one region per handle instead of one (mmap,
 * mprotect, mlock and their undoing, each a TLB shootdown in a threaded
 * process) per change. A larger envelope gets a region of its own. */
#define XFER_BODY	4095

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t
on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	char *nb;

	if (n > AMT_REPLY_MAX - x->len) {
		x->toobig = 1;
		return 0;	/* aborts with CURLE_WRITE_ERROR */
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;

		while (cap < x->len + n + 1)
			cap *= 2;
		if ((nb = realloc(x->reply, cap)) == NULL)
			return 0;
		x->reply = nb;
		x->cap = cap;
	}
	memcpy(x->reply + x->len, p, n);
	x->len += n;
	x->reply[x->len] = '\0';
	return n;
}

/* The value of parameter key (realm, qop, algorithm) in the digest
 * challenge c, unquoted, into out; "" when absent. */
static void
chal_param(const char *c, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key), n = 0;
	const char *p = c;

	*out = '\0';
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, key, kl) == 0 && p[kl] == '=') {
			p += kl + 1;
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++)
					if (n + 1 < len)
						out[n++] = *p;
			} else {
				for (; *p != '\0' && *p != ',' && *p != ' ';
				    p++)
					if (n + 1 < len)
						out[n++] = *p;
			}
			out[n] = '\0';
			return;
		}
		/* Skip this parameter (a quoted value may hold commas). */
		while (*p != '\0' && *p != ',' && *p != '"')
			p++;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				;
			if (*p == '"')
				p++;
		}
	}
}

/* Whether the comma-separated list l has token t. */
static int
has_token(const char *l, const char *t)
{
	size_t tl = strlen(t);

	while (*l != '\0') {
		while (*l == ' ' || *l == ',')
			l++;
		if (strncasecmp(l, t, tl) == 0 && (l[tl] == '\0' ||
		    l[tl] == ',' || l[tl] == ' '))
			return 1;
		while (*l != '\0' && *l != ',')
			l++;
	}
	return 0;
}

/*
 * A digest challenge (the value of a WWW-Authenticate header of a 401),
 * before libcurl answers it: AMT's shape (reference 3: MD5, qop="auth")
 * and the registered realm, or refused with the reason in x->chal_why.
 * An impostor answering at the device's name or address learns nothing
 * computed from the password, and a downgrade to RFC 2069 digest (no
 * qop: no client nonce) or MD5-sess is not followed.
 */
static int
chal_check(struct xfer *x, const char *v, size_t n)
{
	char c[1024], realm[128], qop[64], alg[32];

	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' '))
		n--;
	if (n < 7 || strncasecmp(v, "Digest", 6) != 0 || (v[6] != ' ' &&
	    v[6] != '\t'))
		return CUST_OK;		/* not digest: libcurl ignores it */
	if (n >= sizeof(c)) {
		snprintf(x->chal_why, sizeof(x->chal_why), "a digest challenge "
		    "of %zu bytes (not AMT's)", n);
		return CUST_E_CRYPTO;
	}
	/* libcurl answers "stale" challenges for as long as they come:
	 * more than a challenge for the bare request and one for a nonce
	 * gone stale is a device looping on 401. */
	if (++x->nchal > 2) {
		snprintf(x->chal_why, sizeof(x->chal_why), "the device "
		    "challenged the login %d times in one exchange (a 401 "
		    "loop): given up", x->nchal);
		return CUST_E_DENIED;
	}
	memcpy(c, v + 7, n - 7);
	c[n - 7] = '\0';
	chal_param(c, "realm", realm, sizeof(realm));
	memcpy(x->chal_realm, realm, sizeof(x->chal_realm));
	chal_param(c, "qop", qop, sizeof(qop));
	chal_param(c, "algorithm", alg, sizeof(alg));
	/* As spelled: the DigestPasswords and HA1s custody makes for the
	 * device use the registered spelling (amt_realm_differs()). */
	if (x->t->realm != NULL && strcmp(realm, x->t->realm) != 0) {
		snprintf(x->chal_why, sizeof(x->chal_why), "the device's "
		    "digest realm '%.64s' is not the registered %.64s: %s, "
		    "no credentials sent", realm, x->t->realm,
		    amt_realm_differs(realm, x->t->realm));
		return CUST_E_VIOLATION;
	}
	if (!has_token(qop, "auth") || (*alg != '\0' &&
	    strcasecmp(alg, "MD5") != 0)) {
		snprintf(x->chal_why, sizeof(x->chal_why), "a digest challenge "
		    "with qop '%.20s' and algorithm '%.20s' is not AMT's "
		    "(qop=auth, MD5): no credentials sent", qop, *alg ? alg :
		    "MD5");
		return CUST_E_CRYPTO;
	}
	return CUST_OK;
}

/* Each header line of each response, the 401 included, before libcurl
 * acts on it. */
static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	int code;

	if (n > 12 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);

		x->status = sp != NULL && sscanf(sp, " %3d", &code) == 1 ?
		    code : 0;
		return n;
	}
	if (x->status == 401 && n > 17 &&
	    strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
		x->challenged = 1;
		if ((x->chal_rc = chal_check(x, p + 17, n - 17)) != CUST_OK)
			return 0;	/* aborts: CURLE_WRITE_ERROR */
	}
	return n;
}

static void
xfer_clear(struct xfer *x)
{
	seal_secret_free(x->body);
	x->body = NULL;
	if (x->bodylen > 0)
		sodium_memzero(seal_secret_data(x->bodybuf), x->bodylen + 1);
	x->bodylen = 0;
	curl_slist_free_all(x->connect_to);
	x->connect_to = NULL;
	free(x->reply);
	x->reply = NULL;
	x->len = x->cap = 0;
	x->toobig = 0;
	x->status = x->challenged = x->chal_rc = x->nchal = x->revoked = 0;
	x->chal_why[0] = x->chal_realm[0] = '\0';
	x->errbuf[0] = '\0';
}

/* The exchange's state let go: xfer_clear(), the body's region and the
 * headers. */
static void
xfer_free(struct xfer *x)
{
	xfer_clear(x);
	seal_secret_free(x->bodybuf);
	x->bodybuf = NULL;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
}

/* q's envelope, secrets included, into x->bodybuf (made once, reused),
 * or into a region of its own (x->body) when it does not fit. */
static int
xfer_body(struct xfer *x, const struct amt_req *q)
{
	if (x->bodybuf == NULL &&
	    (x->bodybuf = seal_secret_new(XFER_BODY)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((x->bodylen = amt_req_body_into(q, x->bodybuf)) > 0)
		return CUST_OK;
	return amt_req_body(q, &x->body);
}

int
amt_target_where(const struct amt_target *t, char *url, size_t ulen,
    char *connect_to, size_t clen)
{
	char host[UTIL_HOST_MAX + 1];
	unsigned port = 0, dport = t->tls ? AMT_PORT_TLS : AMT_PORT_HTTP;
	int n, r;

	*url = *connect_to = '\0';
	if (t->fqdn == NULL || util_valid_fqdn(t->fqdn) != CUST_OK)
		return cust_fail(CUST_E_INVAL, "'%.80s' is not a device FQDN",
		    t->fqdn ? t->fqdn : "");
	n = snprintf(url, ulen, "%s://%s:%u/wsman", t->tls ? "https" : "http",
	    t->fqdn, dport);
	if (n < 0 || (size_t)n >= ulen)
		return cust_fail(CUST_E_INVAL, "URL too long");
	if (t->address == NULL || *t->address == '\0')
		return CUST_OK;
	if ((r = util_parse_address(t->address, host, sizeof(host), &port)) !=
	    CUST_OK)
		return r;
	/* PORT is the device's HTTP port; its TLS port is the next one. */
	n = snprintf(connect_to, clen, "%s:%u:%s:%u", t->fqdn, dport, host,
	    port == 0 ? dport : port + (t->tls ? 1 : 0));
	if (n < 0 || (size_t)n >= clen)
		return cust_fail(CUST_E_INVAL, "address too long");
	return CUST_OK;
}

/* Whether the certificate ssl's peer presented has one of the serials in
 * list (hex, comma separated; compared as numbers). */
static int
serial_listed(SSL *ssl, const char *list)
{
	X509 *c = SSL_get0_peer_certificate(ssl);
	BIGNUM *have = NULL, *want = NULL;
	char hex[64];
	size_t n;
	int hit = 0;

	if (c == NULL || (have = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c),
	    NULL)) == NULL)
		return 1;	/* nothing to check: not trusted */
	while (!hit && *list != '\0') {
		n = strcspn(list, ",");
		if (n > 0 && n < sizeof(hex)) {
			memcpy(hex, list, n);
			hex[n] = '\0';
			if (BN_hex2bn(&want, hex) > 0 && BN_cmp(have, want) == 0)
				hit = 1;
		}
		list += n + (list[n] == ',');
	}
	BN_free(have);
	BN_free(want);
	return hit;
}

/*
 * Before a request goes on a TLS connection (new or reused; libcurl 7.80's
 * prerequest hook): a device certificate custody revoked verifies against
 * the bundle all the same (custody's CRLs are not handed to libcurl: its
 * CRL checking wants a current CRL for every CA of every chain and drops
 * the bundle cache); its serial is checked here, and nothing is sent to
 * a device presenting it.
 */
static int
on_prereq(void *arg, char *ip, char *local, int port, int lport)
{
	struct xfer *x = arg;
	const struct curl_tlssessioninfo *ti = NULL;

	if (curl_easy_getinfo(x->h, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK ||
	    ti == NULL || ti->backend != CURLSSLBACKEND_OPENSSL ||
	    ti->internals == NULL ||
	    serial_listed(ti->internals, x->t->revoked)) {
		x->revoked = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* Set x->h up for one attempt of q to t. */
static int
xfer_setup(struct xfer *x, const struct amt_target *t,
    const struct amt_req *q)
{
	char url[AMT_URL_MAX], ct[AMT_CONNECT_TO_MAX];
	int r;

	xfer_clear(x);
	/* A proof (t->fresh) starts with no digest state: libcurl would
	 * otherwise answer with an old nonce before any challenge, and
	 * whether the device asked for a login could not be told. */
	if (t->fresh && x->primed) {
		curl_easy_reset(x->h);
		x->primed = 0;
	}
	x->need_chal = !x->primed;
	x->t = t;
	x->q = q;
	if (amt_req_plain_secret(q) && !t->tls)
		return cust_fail(CUST_E_INVAL, "%s carries a plaintext secret: "
		    "TLS only", q->method);
	if (t->tls && (t->cafile == NULL || *t->cafile == '\0'))
		return cust_fail(CUST_E_INVAL, "TLS to %s needs a CA bundle",
		    t->fqdn);
	if (t->user == NULL || t->password == NULL)
		return cust_fail(CUST_E_INVAL, "no credentials for %s",
		    t->fqdn);
	if ((r = amt_target_where(t, url, sizeof(url), ct, sizeof(ct))) !=
	    CUST_OK)
		return r;
	if (*ct != '\0' &&
	    (x->connect_to = curl_slist_append(NULL, ct)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* The same header for every request: made once per handle. */
	if (x->hdrs == NULL && (x->hdrs = curl_slist_append(NULL,
	    "Content-Type: application/soap+xml; charset=utf-8")) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* An envelope with no secret in it is sent as built (q->xml: no
	 * copy, no sodium region of its own, whose mmap, mprotect and mlock
	 * cost every Get a handful of system calls and, in a threaded
	 * process, TLB shootdowns); one with a secret is rendered into
	 * sodium memory. */
	if (q->nsec > 0 && (r = xfer_body(x, q)) != CUST_OK)
		return r;
	if (curl_easy_setopt(x->h, CURLOPT_URL, url) ||
	    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(x->h, CURLOPT_CONNECT_TO, x->connect_to) ||
	    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs) ||
	    curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->bodylen > 0 ?
	    seal_secret_str(x->bodybuf) : x->body != NULL ?
	    seal_secret_str(x->body) : q->xml) ||
	    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, (long)(x->bodylen >
	    0 ? x->bodylen : x->body != NULL ? seal_secret_len(x->body) :
	    q->len)) ||
	    curl_easy_setopt(x->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_DIGEST) ||
	    curl_easy_setopt(x->h, CURLOPT_USERNAME, t->user) ||
	    curl_easy_setopt(x->h, CURLOPT_PASSWORD,
	    seal_secret_str(t->password)) ||
	    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS,
	    t->connect_ms > 0 ? t->connect_ms : (long)AMT_CONNECT_MS) ||
	    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS,
	    t->timeout_ms > 0 ? t->timeout_ms : (long)AMT_TIMEOUT_MS) ||
	    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x) ||
	    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header) ||
	    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x) ||
	    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf) ||
	    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(x->h, CURLOPT_PREREQFUNCTION, t->tls &&
	    t->revoked != NULL ? on_prereq : NULL) ||
	    curl_easy_setopt(x->h, CURLOPT_PREREQDATA, x) ||
	    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(x->h, CURLOPT_FRESH_CONNECT,
	    (long)((t->fresh || !q->idempotent) && !t->keep)) ||
	    (t->tls && (curl_easy_setopt(x->h, CURLOPT_CAINFO, t->cafile) ||
	    /* Only the bundle: libcurl's built-in CA path (Debian's:
	     * /etc/ssl/certs) would otherwise make any public CA's
	     * certificate for the FQDN pass for the device's. And so
	     * libcurl keeps the parsed bundle in the multi handle
	     * (CURLOPT_CA_CACHE_TIMEOUT, which it skips when a CAPATH is
	     * set) instead of reading it for every connection. */
	    curl_easy_setopt(x->h, CURLOPT_CAPATH, NULL) ||
	    curl_easy_setopt(x->h, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2))))
		return cust_fail(CUST_E_INTERNAL, "libcurl refused an option");
	return CUST_OK;
}

/*
 * The outcome of an attempt: CUST_OK with *out, or an error; *transient
 * says whether a retry may help and cannot apply a change twice.
 */
static int
xfer_finish(struct xfer *x, CURLcode cc, struct amt_reply **out,
    int *transient)
{
	const char *fqdn = x->t->fqdn, *m = x->q->method;
	long code = 0;
	curl_off_t connected = 0;
	int r;

	*out = NULL;
	*transient = 0;
	long nconn = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME_T, &connected);
	if (x->challenged && x->chal_rc == CUST_OK)
		x->primed = 1;
	if (x->chal_rc != CUST_OK)
		return cust_fail(x->chal_rc, "%s: %s: %s", fqdn, m,
		    x->chal_why);
	if (x->revoked)
		return cust_fail(CUST_E_CRYPTO, "%s: %s: TLS: the device "
		    "presents a certificate custody revoked (or none): not "
		    "trusted, nothing sent", fqdn, m);
	/* A reused connection (no new one made) was connected already: the
	 * request may have reached the device. */
	curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, &nconn);
	if (nconn == 0 && connected == 0)
		connected = 1;
	if (cc != CURLE_OK) {
		if (x->toobig)
			return cust_fail(CUST_E_TOOBIG, "%s: %s: reply over %u "
			    "bytes", fqdn, m, AMT_REPLY_MAX);
		switch (cc) {
		case CURLE_COULDNT_CONNECT:
			*transient = 1;
			break;
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			/* Never connected: nothing was sent. */
			*transient = connected == 0 || x->q->idempotent;
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_CACERT_BADFILE:
			return cust_fail(CUST_E_CRYPTO, "%s: %s: TLS: %.200s",
			    fqdn, m, x->errbuf[0] ? x->errbuf :
			    curl_easy_strerror(cc));
		default:
			break;
		}
		return cust_fail(CUST_E_UNAVAIL, "%s: %s: %.200s%s", fqdn, m,
		    x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc),
		    connected != 0 && !x->q->idempotent ? " (outcome unknown)" :
		    "");
	}
	if (code == 401)
		return cust_fail(CUST_E_DENIED, "%s: %s: the device refused the "
		    "digest login of %s (HTTP 401)", fqdn, m, x->t->user);
	if (code == 503) {
		*transient = 1;
		return cust_fail(CUST_E_UNAVAIL, "%s: %s: device busy (HTTP "
		    "503)", fqdn, m);
	}
	if (code >= 200 && code < 300 && x->need_chal && !x->challenged)
		return cust_fail(CUST_E_CRYPTO, "%s: %s: the device answered "
		    "HTTP %ld without asking for a digest login (not AMT: "
		    "nothing it says is trusted)", fqdn, m, code);
	if (code == 200 || code == 400 || code == 500) {
		/* 400 (and some firmware's 500) carries a SOAP fault. */
		r = amt_reply_parse(x->reply ? x->reply : "", x->len, x->q,
		    out);
		if (r == CUST_OK && code != 200) {
			amt_reply_free(*out);
			*out = NULL;
			return cust_fail(CUST_E_UNAVAIL, "%s: %s: HTTP %ld", fqdn,
			    m, code);
		}
		if (r != CUST_OK && code == 500 && r == CUST_E_PARSE)
			return cust_fail(CUST_E_UNAVAIL, "%s: %s: HTTP 500",
			    fqdn, m);
		if (r != CUST_OK) {
			/* Name the device in front of the parser's message. */
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", cust_errmsg());
			return cust_fail(r, "%s: %s", fqdn, msg);
		}
		if (x->challenged)
			amt_reply_set_auth_realm(*out, x->chal_realm);
		amt_reply_set_connects(*out, nconn);
		return CUST_OK;
	}
	return cust_fail(CUST_E_UNAVAIL, "%s: %s: HTTP %ld", fqdn, m, code);
}

static int
retries(const struct amt_target *t)
{
	return t->retries < 0 ? 0 : t->retries == 0 ? AMT_RETRIES : t->retries;
}

static long
backoff(int attempt)
{
	return (long)AMT_BACKOFF_MS << (attempt > 6 ? 6 : attempt);
}

int
amt_call(const struct amt_target *t, const struct amt_req *q,
    struct amt_reply **out)
{
	struct xfer x;
	CURLcode cc;
	int r, transient;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok)
		return cust_fail(CUST_E_INTERNAL, "libcurl cannot start");
	memset(&x, 0, sizeof(x));
	if ((x.h = curl_easy_init()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	for (x.attempt = 0;; x.attempt++) {
		if ((r = xfer_setup(&x, t, q)) != CUST_OK)
			break;
		cc = curl_easy_perform(x.h);
		r = xfer_finish(&x, cc, out, &transient);
		if (r == CUST_OK || !transient || x.attempt >= retries(t))
			break;
		struct timespec ts = { backoff(x.attempt) / 1000,
		    (backoff(x.attempt) % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	/* libcurl's copy of the password goes with the handle. */
	curl_easy_cleanup(x.h);
	xfer_free(&x);
	return r;
}

/*
 * The fleet driver. A slot runs one conversation at a time: it asks the
 * conversation for a request, runs it (with retries), hands the reply
 * over and asks for the next, until the conversation ends; then the slot
 * takes the next conversation not started. Slots: min(n, concurrency).
 *
 * Group commit: the answers of one round (what one curl_multi_perform()
 * finished) are all handed over first; a request a conversation held
 * (AMT_CONV_HOLD: it needs the caller's store commit first) waits in its
 * slot; then the flush hook runs once for the round, and its held hook
 * says which held requests go (their commit is durable), which wait (it
 * is not yet: a commit on the caller's other thread, whose end makes
 * hooks->wake_fd readable) and which are dropped. The other slots go on
 * meanwhile: a commit stalls only the conversations that wait for it.
 */
struct slot {
	struct xfer x;
	struct amt_conv *conv;
	struct amt_req *req;
	int busy;		/* an exchange is in the multi handle */
	int waiting;		/* a retry waits for x.wake_ms */
	int held;		/* req waits for the flush hook */
};

/* Start the slot's request (set up already) in the multi handle. */
static int
slot_start(CURLM *m, struct slot *s)
{
	if (curl_multi_add_handle(m, s->x.h) != CURLM_OK)
		return cust_fail(CUST_E_INTERNAL, "libcurl multi refused a "
		    "transfer");
	s->busy = 1;
	return CUST_OK;
}

/* Ask the slot's conversation for its next request and start it; move
 * to the next conversation while one ends. *next_conv: index of the next
 * conversation not started. */
static int
slot_advance(CURLM *m, struct slot *s, struct amt_conv *convs, size_t n,
    size_t *next_conv, const struct amt_reply *prev, int err, int *asked)
{
	struct amt_req *q;
	int r, hold;

	for (;;) {
		if (s->conv == NULL) {
			if (*next_conv == n)
				return CUST_OK;	/* nothing left */
			s->conv = &convs[(*next_conv)++];
			prev = NULL;
			err = CUST_OK;
			/* Another device: forget the last one's digest
			 * state (its realm and nonce), or libcurl answers
			 * this device's first challenge with them and takes
			 * the 401 for a refused password. xfer_setup() sets
			 * every option again. */
			curl_easy_reset(s->x.h);
			s->x.primed = 0;
		}
		q = NULL;
		r = s->conv->next(s->conv->arg, prev, err, &q);
		amt_req_free(s->req);
		s->req = NULL;
		*asked = 1;
		hold = r == AMT_CONV_HOLD;
		if (r < 0 || q == NULL) {
			amt_req_free(q);
			s->conv = NULL;
			prev = NULL;
			continue;
		}
		s->req = q;
		s->x.attempt = 0;
		if ((r = xfer_setup(&s->x, s->conv->target, q)) != CUST_OK) {
			prev = NULL;
			err = r;
			continue;	/* the conversation hears the error */
		}
		if (hold) {
			s->held = 1;
			return CUST_OK;
		}
		return slot_start(m, s);
	}
}

/* The round's flush: the hook (when a conversation was asked for a
 * request, or a request is held), then each held request is sent,
 * dropped or left waiting, as the held hook says. */
static int
flush(CURLM *m, struct slot *slots, size_t ns, struct amt_conv *convs,
    size_t n, size_t *next_conv, const struct amt_fleet_hooks *hooks,
    int asked)
{
	size_t i;
	int r, h, held = 0;

	for (i = 0; i < ns; i++)
		held |= slots[i].held;
	if (!asked && !held)
		return CUST_OK;
	asked = 0;
	if (hooks != NULL && hooks->flush != NULL &&
	    (r = hooks->flush(hooks->arg)) != CUST_OK)
		return r;
	for (i = 0; i < ns; i++) {
		struct slot *s = &slots[i];

		if (!s->held)
			continue;
		h = hooks != NULL && hooks->held != NULL ?
		    hooks->held(hooks->arg, s->conv->arg) : AMT_HELD_SEND;
		if (h == AMT_HELD_WAIT)
			continue;
		s->held = 0;
		if (h == AMT_HELD_DROP) {
			/* Never sent: the conversation hears why. */
			r = slot_advance(m, s, convs, n, next_conv, NULL,
			    CUST_E_CONFLICT, &asked);
		} else
			r = slot_start(m, s);
		if (r != CUST_OK)
			return r;
	}
	/* Requests held by conversations asked meanwhile: another round. */
	return asked ? flush(m, slots, ns, convs, n, next_conv, hooks, asked)
	    : CUST_OK;
}

int
amt_fleet_run(struct amt_conv *convs, size_t n, size_t concurrency)
{
	return amt_fleet_run_with(convs, n, concurrency, NULL);
}

int
amt_fleet_run_with(struct amt_conv *convs, size_t n, size_t concurrency,
    const struct amt_fleet_hooks *hooks)
{
	struct slot *slots = NULL;
	size_t ns, i, next_conv = 0, active;
	CURLM *m = NULL;
	CURLMsg *msg;
	int r = CUST_E_INTERNAL, left, transient, err, asked = 0;

	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok)
		return cust_fail(CUST_E_INTERNAL, "libcurl cannot start");
	if (n == 0)
		return CUST_OK;
	ns = concurrency == 0 ? AMT_CONCURRENCY : concurrency;
	if (ns > n)
		ns = n;
	if ((slots = calloc(ns, sizeof(*slots))) == NULL ||
	    (m = curl_multi_init()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)ns);
	for (i = 0; i < ns; i++)
		if ((slots[i].x.h = curl_easy_init()) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	for (i = 0; i < ns; i++)
		if ((r = slot_advance(m, &slots[i], convs, n, &next_conv, NULL,
		    CUST_OK, &asked)) != CUST_OK)
			goto out;
	if ((r = flush(m, slots, ns, convs, n, &next_conv, hooks, asked)) != CUST_OK)
		goto out;
	for (;;) {
		int running = 0, timeout = 1000;
		int64_t now = now_ms();
		struct curl_waitfd wfd;

		asked = 0;
		active = 0;
		for (i = 0; i < ns; i++) {
			struct slot *s = &slots[i];

			if (s->waiting && s->x.wake_ms <= now) {
				s->waiting = 0;
				if ((err = xfer_setup(&s->x, s->conv->target,
				    s->req)) != CUST_OK) {
					if ((r = slot_advance(m, s, convs, n,
					    &next_conv, NULL, err, &asked)) !=
					    CUST_OK)
						goto out;
				} else if ((r = slot_start(m, s)) != CUST_OK)
					goto out;
			}
			if (s->waiting && s->x.wake_ms - now < timeout)
				timeout = (int)(s->x.wake_ms - now);
			active += s->busy || s->waiting || s->held;
		}
		if (active == 0)
			break;
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			r = cust_fail(CUST_E_INTERNAL, "libcurl multi failed");
			goto out;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct amt_reply *rep = NULL;
			struct slot *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			for (i = 0; i < ns; i++)
				if (slots[i].busy && slots[i].x.h ==
				    msg->easy_handle)
					s = &slots[i];
			if (s == NULL)
				continue;
			curl_multi_remove_handle(m, s->x.h);
			s->busy = 0;
			err = xfer_finish(&s->x, msg->data.result, &rep,
			    &transient);
			if (err != CUST_OK && transient &&
			    s->x.attempt < retries(s->conv->target)) {
				s->x.wake_ms = now_ms() + backoff(s->x.attempt);
				s->x.attempt++;
				s->waiting = 1;
				continue;
			}
			r = slot_advance(m, s, convs, n, &next_conv, rep, err,
			    &asked);
			amt_reply_free(rep);
			if (r != CUST_OK)
				goto out;
		}
		/* The round's store work in one commit, then what waited
		 * for it is sent. */
		if ((r = flush(m, slots, ns, convs, n, &next_conv, hooks, asked)) != CUST_OK)
			goto out;
		/* Woken by the transfers, a retry's time, or the end of a
		 * commit that held requests wait for. */
		wfd.fd = hooks != NULL ? hooks->wake_fd : -1;
		wfd.events = CURL_WAIT_POLLIN;
		wfd.revents = 0;
		if (curl_multi_poll(m, &wfd, wfd.fd >= 0 ? 1 : 0,
		    timeout > 0 ? timeout : 0, NULL) != CURLM_OK) {
			r = cust_fail(CUST_E_INTERNAL, "libcurl multi failed");
			goto out;
		}
	}
	r = CUST_OK;
out:
	for (i = 0; slots != NULL && i < ns; i++) {
		if (slots[i].busy)
			curl_multi_remove_handle(m, slots[i].x.h);
		if (slots[i].x.h != NULL)
			curl_easy_cleanup(slots[i].x.h);
		xfer_free(&slots[i].x);
		amt_req_free(slots[i].req);
	}
	free(slots);
	if (m != NULL)
		curl_multi_cleanup(m);
	return r;
}
