/* SPDX-License-Identifier: MIT */
/* include/api.h - the HTTPS API's request parsing and routing, as pure
 * functions (no network, no state): custodyd (src/daemon/) reads bytes
 * from a TLS connection and asks these what they mean; the fuzz harness
 * tests/fuzz/fuzz_route.c feeds them anything.
 *
 * Routes are one data table (src/api/api_route.c): each row maps a method
 * and a path pattern onto an operation of the ops table (include/ops.h),
 * with the path parameters and query parameters it takes. A route is a
 * second way to call an operation: POST /v1/ops/NAME calls every one.
 */
#ifndef CUST_API_H
#define CUST_API_H

#include <stddef.h>
#include <jansson.h>

/*
 * HTTP/1.1 request head (RFC 9112), parsed by Debian's http-parser with
 * custody's stricter checks on top (src/api/api_http.c): the request line
 * "METHOD SP TARGET SP HTTP/1.x" and header fields, each line ending in
 * CRLF (a bare LF, obsolete line folding, whitespace before a colon, a
 * control character, a duplicate or non-numeric Content-Length, and a
 * Transfer-Encoding are refused: the ambiguities request smuggling lives
 * on). The head is buf[0..len), the bytes up to and including the empty
 * line. Strings point into buf (borrowed).
 */
struct api_http_head {
	const char *method;	/* NUL-terminated copy in mbuf */
	char mbuf[8];
	const char *target;	/* origin-form, "/..." */
	size_t target_len;
	int minor;		/* HTTP/1.minor: 0 or 1 */
	long long content_length;	/* -1: none */
	const char *ctype;	/* Content-Type value or NULL */
	size_t ctype_len;
	const char *inm;	/* If-None-Match value or NULL */
	size_t inm_len;
	const char *negotiate;	/* Authorization: Negotiate's token or NULL */
	size_t negotiate_len;
	int expect_continue;	/* Expect: 100-continue */
	int keep_alive;		/* by version and Connection */
	int has_host;
};

/* Longest request target and header line the parser accepts. */
#define API_TARGET_MAX	4096

/* Parse the head in buf[0..len) into *out (cleared first). Returns 0 when
 * it is well formed, else the HTTP status to answer (400 malformed, 501
 * a method or transfer coding custody does not implement, 505 another
 * HTTP version, 413 a Content-Length over max_body) with a message in
 * msg[0..msglen) (no request bytes in it beyond a method name). */
int api_http_parse_head(const char *buf, size_t len, long long max_body,
    struct api_http_head *out, char *msg, size_t msglen);

/* Whether the Content-Type value v[0..n) is the media type type (case
 * insensitive, with or without parameters such as charset=utf-8). */
int api_http_ctype_is(const char *v, size_t n, const char *type);

/* What a route answers with. */
enum api_render {
	API_RENDER_JSON = 0,	/* the operation's JSON response */
	API_RENDER_BUNDLE,	/* ca.bundle: PEM text, ETag = its version */
	API_RENDER_CRL_DER,	/* ca.crl: the DER */
	API_RENDER_CRL_PEM,	/* ca.crl: the PEM */
	API_RENDER_HEALTH,	/* liveness, no operation */
	API_RENDER_METRICS,	/* Prometheus text, admin only */
	API_RENDER_KEYTAB,	/* keytab.get: the keytab file's bytes */
};

/* Route flags. */
#define API_ROUTE_BODY		0x1	/* takes a JSON body (merged) */
#define API_ROUTE_SECRET	0x2	/* answers a secret: no-store */
#define API_ROUTE_ADMIN		0x4	/* admin only, whatever the op */
#define API_ROUTE_CSR		0x8	/* also takes a PKCS#10 body */
#define API_ROUTE_ETAG		0x10	/* ETag = the reply's "version";
					 * If-None-Match gives 304 */

struct api_route {
	const char *method;
	/* Literal segments and parameters: {name} a string, {name#} an
	 * integer, {name[]} an array of one string, {op!} the operation's
	 * name (generic route). Each parameter becomes the request member
	 * name. */
	const char *pattern;
	const char *op;		/* NULL: {op!} or no operation */
	enum api_render render;
	unsigned flags;
	/* Query parameters allowed, "name:T ..." with T s (string), i
	 * (integer >= 0) or b (true/false); anything else is refused. */
	const char *query;
};

/*
 * The body of an application/pkcs10 request (API_ROUTE_CSR routes) as
 * request members, added to into: PEM text ("-----BEGIN ...") becomes
 * "csr"; DER (a SEQUENCE, first byte 0x30) becomes "csr_der", base64;
 * anything else must be base64 of the DER, as EST clients send it (RFC
 * 7030 4.2.1, RFC 8951: line breaks and spaces allowed), and becomes
 * "csr_der" as it is (the operation decodes and checks it). A body that
 * is none of these, or that carries a NUL or other control byte, is
 * CUST_E_PARSE. No CSR is parsed here: the operation does that.
 */
int api_csr_body(const unsigned char *body, size_t len, json_t *into);

/* The i-th route (0-based), NULL past the last. Static. */
const struct api_route *api_route_at(size_t i);

/* How many routes there are. */
size_t api_route_count(void);

#define API_OP_MAX	64	/* operation names: [a-z0-9._-]{1,63} */

struct api_match {
	const struct api_route *route;	/* NULL unless matched */
	size_t index;			/* of route */
	char op[API_OP_MAX];		/* the operation ("" for none) */
	json_t *req;	/* new: path and query parameters; json_decref */
};

/*
 * Match method and target (the request target, origin-form) against the
 * route table. The path is split into segments, each percent-decoded
 * strictly: a bad escape, an encoded '/' or NUL, a "." or ".." segment, an
 * empty segment, a control character or text that is not UTF-8 is a 400,
 * never a path that means something else. Query parameters are decoded
 * the same way and checked against the route's list (unknown, repeated
 * or mistyped: 400). Returns 0 with *out filled (out->req new), or the
 * HTTP status (400, 404 no such path, 405 no such method on that path)
 * with a message in msg (out->req NULL). On 405, allow (when not NULL)
 * gets the methods the path takes, comma-separated.
 */
int api_route_match(const char *method, const char *target, size_t len,
    struct api_match *out, char *msg, size_t msglen, char *allow,
    size_t allowlen);

/* Percent-decode s[0..n) strictly into out (at least n + 1 bytes, NUL
 * added) as described above; path: an encoded '/' is refused too.
 * Returns the decoded length, or -1. */
long api_pct_decode(const char *s, size_t n, int path, char *out);

#endif
