/* SPDX-License-Identifier: MIT */
/* src/api/api_http.c - the HTTP/1.1 request head, parsed strictly
 * (include/api.h).
 *
 * custodyd speaks HTTP/1.1 itself on libevent bufferevents (why:
 * doc/internals/SERVICE.md "HTTP"). Everything a client controls passes
 * through here before anything else looks at it, so the parser accepts
 * one spelling of each thing and refuses the rest: lines end in CRLF, a
 * field name is a token followed at once by ':', no folded lines, one
 * Content-Length of digits only, no Transfer-Encoding (custody's bodies
 * are small JSON documents with a length).
 */
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include "api.h"

static int
fail(char *msg, size_t msglen, int status, const char *text)
{
	snprintf(msg, msglen, "%s", text);
	return status;
}

/* RFC 9110 tchar. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value bytes: visible ASCII, obs-text, SP and HTAB. */
static int
is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* v[0..n) equals the token t, case-insensitively. */
static int
tok_eq(const char *v, size_t n, const char *t)
{
	return strlen(t) == n && strncasecmp(v, t, n) == 0;
}

/* Whether the comma-separated list v[0..n) holds token t. */
static int
list_has(const char *v, size_t n, const char *t)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && tok_eq(v + s, e - s, t))
			return 1;
	}
	return 0;
}

static int
parse_line(const char *p, size_t n, struct api_http_head *h, char *msg,
    size_t msglen)
{
	const char *sp1, *sp2, *ver;
	size_t ml, i;

	sp1 = memchr(p, ' ', n);
	if (sp1 == NULL || sp1 == p)
		return fail(msg, msglen, 400, "malformed request line");
	ml = (size_t)(sp1 - p);
	for (i = 0; i < ml; i++)
		if (!is_tchar((unsigned char)p[i]))
			return fail(msg, msglen, 400, "malformed method");
	if (ml >= sizeof(h->mbuf))
		return fail(msg, msglen, 501, "method not implemented");
	memcpy(h->mbuf, p, ml);
	h->mbuf[ml] = '\0';
	h->method = h->mbuf;
	sp2 = memchr(sp1 + 1, ' ', n - ml - 1);
	if (sp2 == NULL || sp2 == sp1 + 1)
		return fail(msg, msglen, 400, "malformed request line");
	h->target = sp1 + 1;
	h->target_len = (size_t)(sp2 - h->target);
	if (h->target_len > API_TARGET_MAX)
		return fail(msg, msglen, 400, "request target too long");
	if (h->target[0] != '/')
		return fail(msg, msglen, 400, "the request target must be a "
		    "path (origin-form)");
	for (i = 0; i < h->target_len; i++)
		if ((unsigned char)h->target[i] <= 0x20 ||
		    (unsigned char)h->target[i] >= 0x7f)
			return fail(msg, msglen, 400, "invalid byte in the "
			    "request target");
	ver = sp2 + 1;
	if ((size_t)(p + n - ver) != 8 || memcmp(ver, "HTTP/1.", 7) != 0) {
		if ((size_t)(p + n - ver) == 8 && memcmp(ver, "HTTP/", 5) == 0
		    && ver[5] >= '0' && ver[5] <= '9' && ver[6] == '.' &&
		    ver[7] >= '0' && ver[7] <= '9')
			return fail(msg, msglen, 505, "HTTP version not "
			    "supported");
		return fail(msg, msglen, 400, "malformed request line");
	}
	if (ver[7] != '0' && ver[7] != '1')
		return fail(msg, msglen, 505, "HTTP version not supported");
	h->minor = ver[7] - '0';
	h->keep_alive = h->minor == 1;
	return 0;
}

static int
parse_field(const char *p, size_t n, long long max_body,
    struct api_http_head *h, char *msg, size_t msglen)
{
	const char *colon = memchr(p, ':', n), *v;
	size_t nl, vl, i;
	long long cl = 0;

	if (p[0] == ' ' || p[0] == '\t')
		return fail(msg, msglen, 400, "folded header lines are not "
		    "accepted");
	if (colon == NULL || colon == p)
		return fail(msg, msglen, 400, "malformed header line");
	nl = (size_t)(colon - p);
	for (i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)p[i]))
			return fail(msg, msglen, 400, "malformed header name");
	v = colon + 1;
	vl = n - nl - 1;
	for (i = 0; i < vl; i++)
		if (!is_vchar((unsigned char)v[i]))
			return fail(msg, msglen, 400, "invalid byte in a header "
			    "value");
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (tok_eq(p, nl, "content-length")) {
		if (h->content_length >= 0)
			return fail(msg, msglen, 400, "more than one "
			    "Content-Length");
		if (vl == 0)
			return fail(msg, msglen, 400, "bad Content-Length");
		for (i = 0; i < vl; i++) {
			if (v[i] < '0' || v[i] > '9')
				return fail(msg, msglen, 400, "bad "
				    "Content-Length");
			if (cl > (max_body + 1) / 10 + 1)
				return fail(msg, msglen, 413, "request body "
				    "too large");
			cl = cl * 10 + (v[i] - '0');
		}
		if (cl > max_body)
			return fail(msg, msglen, 413, "request body too large");
		h->content_length = cl;
	} else if (tok_eq(p, nl, "transfer-encoding")) {
		return fail(msg, msglen, 501, "Transfer-Encoding is not "
		    "accepted: send a Content-Length");
	} else if (tok_eq(p, nl, "content-type")) {
		if (h->ctype != NULL)
			return fail(msg, msglen, 400, "more than one "
			    "Content-Type");
		h->ctype = v;
		h->ctype_len = vl;
	} else if (tok_eq(p, nl, "if-none-match")) {
		h->inm = v;
		h->inm_len = vl;
	} else if (tok_eq(p, nl, "host")) {
		if (h->has_host)
			return fail(msg, msglen, 400, "more than one Host");
		h->has_host = 1;
	} else if (tok_eq(p, nl, "connection")) {
		if (list_has(v, vl, "close"))
			h->keep_alive = 0;
		else if (list_has(v, vl, "keep-alive"))
			h->keep_alive = 1;
	} else if (tok_eq(p, nl, "expect")) {
		if (!tok_eq(v, vl, "100-continue"))
			return fail(msg, msglen, 417, "only "
			    "'Expect: 100-continue' is understood");
		h->expect_continue = 1;
	}
	return 0;
}

int
api_http_parse_head(const char *buf, size_t len, long long max_body,
    struct api_http_head *out, char *msg, size_t msglen)
{
	const char *p = buf, *end = buf + len, *eol;
	int first = 1, r;

	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	snprintf(msg, msglen, "%s", "");
	for (;;) {
		eol = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (eol == NULL)
			return fail(msg, msglen, 400, "the request head does "
			    "not end with an empty line");
		if (eol == p || eol[-1] != '\r')
			return fail(msg, msglen, 400, "header lines must end "
			    "in CRLF");
		if (memchr(p, '\r', (size_t)(eol - 1 - p)) != NULL ||
		    memchr(p, '\0', (size_t)(eol - p)) != NULL)
			return fail(msg, msglen, 400, "stray CR or NUL in the "
			    "request head");
		if (eol - 1 == p) {	/* the empty line */
			if (first)
				return fail(msg, msglen, 400, "empty request "
				    "line");
			break;
		}
		if ((size_t)(eol - 1 - p) > API_TARGET_MAX + 32)
			return fail(msg, msglen, 400, "header line too long");
		r = first ? parse_line(p, (size_t)(eol - 1 - p), out, msg,
		    msglen) : parse_field(p, (size_t)(eol - 1 - p), max_body,
		    out, msg, msglen);
		if (r != 0)
			return r;
		first = 0;
		p = eol + 1;
	}
	if (eol + 1 != end)
		return fail(msg, msglen, 400, "bytes after the request head");
	if (out->minor == 1 && !out->has_host)
		return fail(msg, msglen, 400, "HTTP/1.1 requires a Host header");
	return 0;
}

int
api_http_ctype_is(const char *v, size_t n, const char *type)
{
	size_t e = 0;

	if (v == NULL)
		return 0;
	while (e < n && v[e] != ';' && v[e] != ' ' && v[e] != '\t')
		e++;
	return tok_eq(v, e, type);
}
