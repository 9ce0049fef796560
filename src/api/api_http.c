/* SPDX-License-Identifier: MIT */
/* src/api/api_http.c - the HTTP/1.1 request head, parsed strictly
 * (include/api.h).
 *
 * custodyd speaks HTTP/1.1 itself on libevent bufferevents (why:
 * doc/internals/SERVICE.md "HTTP"), but the request line and the header
 * fields are parsed by Debian's http-parser 2.9 (Node's former parser): no
 * hand-written HTTP parsing (STYLE rule 9). Everything a client controls
 * passes through here before anything else looks at it, so on top of what
 * http-parser enforces custody accepts one spelling of each thing and
 * refuses the rest. Debian builds the library with HTTP_PARSER_STRICT=0,
 * and even its strict mode takes a bare LF and folded lines, so:
 *  - cheap checks on the bytes before http-parser sees them: a bare LF
 *    line end, a stray CR or NUL, obsolete line folding (it joins the
 *    lines), an over-long line, bytes after the head;
 *  - checks on what its callbacks hand over: exactly one SP between the
 *    request line's parts (it skips runs of spaces), HTTP/1.0 or 1.1 only
 *    (it reads any digit, and "GET /" as HTTP/0.9), an origin-form target
 *    of visible ASCII (it takes bytes over 0x7f), a field name of tchars
 *    (it takes a space in one, so "Host : x" too), no Transfer-Encoding
 *    (custody's bodies are small JSON documents with a length), one Host,
 *    one Content-Type, Expect only 100-continue, Host for HTTP/1.1.
 * Duplicate, empty and non-numeric Content-Length and control characters
 * in a value are http-parser's own errors, mapped onto the statuses and
 * messages below.
 */
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include <http_parser.h>

#include "api.h"

/* The header field whose value is being read. */
enum fld {
	FLD_OTHER = 0,
	FLD_CLEN,
	FLD_CTYPE,
	FLD_INM,
	FLD_AUTHZ,
	FLD_HOST,
	FLD_EXPECT,
};

struct hctx {
	struct api_http_head *h;
	const char *buf;
	size_t len;
	long long max_body;
	char *msg;
	size_t msglen;
	int status;		/* set by a callback that refused */
	enum fld fld;		/* the pending field, committed later */
	const char *fname;	/* its name in buf */
	const char *val;	/* its value, NULL: empty */
	size_t vlen;
	int in_field;		/* a field is pending */
	int seen_ctype;
	int seen_authz;
	int done;		/* on_headers_complete ran */
};

static int
fail(char *msg, size_t msglen, int status, const char *text)
{
	snprintf(msg, msglen, "%s", text);
	return status;
}

/* A callback refuses: remember the status, stop http-parser. */
static int
cb_fail(struct hctx *c, int status, const char *text)
{
	c->status = fail(c->msg, c->msglen, status, text);
	return -1;
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

/* v[0..n) equals the token t, case-insensitively. */
static int
tok_eq(const char *v, size_t n, const char *t)
{
	return strlen(t) == n && strncasecmp(v, t, n) == 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct hctx *c = p->data;
	size_t i;

	if (n > API_TARGET_MAX)
		return cb_fail(c, 400, "request target too long");
	if (at[0] != '/')
		return cb_fail(c, 400, "the request target must be a path "
		    "(origin-form)");
	for (i = 0; i < n; i++)
		if ((unsigned char)at[i] <= 0x20 || (unsigned char)at[i] >= 0x7f)
			return cb_fail(c, 400, "invalid byte in the request "
			    "target");
	c->h->target = at;
	c->h->target_len = n;
	return 0;
}

/* The pending field is complete (its value may be empty, when http-parser
 * calls no on_header_value for it): act on it. */
static int
commit_field(struct hctx *c)
{
	struct api_http_head *h = c->h;
	const char *v = c->val != NULL ? c->val : "";
	size_t vl = c->vlen;

	if (!c->in_field)
		return 0;
	c->in_field = 0;
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	switch (c->fld) {
	case FLD_CLEN:
		if (vl == 0)
			return cb_fail(c, 400, "bad Content-Length");
		break;
	case FLD_CTYPE:
		if (c->seen_ctype)
			return cb_fail(c, 400, "more than one Content-Type");
		c->seen_ctype = 1;
		h->ctype = v;
		h->ctype_len = vl;
		break;
	case FLD_INM:
		h->inm = v;
		h->inm_len = vl;
		break;
	case FLD_AUTHZ:
		if (c->seen_authz)
			return cb_fail(c, 400, "more than one Authorization");
		c->seen_authz = 1;
		/* "Negotiate" 1*SP token68; other schemes are not ours */
		if (vl > 10 && strncasecmp(v, "Negotiate", 9) == 0 &&
		    v[9] == ' ') {
			for (v += 9, vl -= 9; vl > 0 && *v == ' '; v++, vl--)
				;
			h->negotiate = v;
			h->negotiate_len = vl;
		}
		break;
	case FLD_HOST:
		if (h->has_host)
			return cb_fail(c, 400, "more than one Host");
		h->has_host = 1;
		break;
	case FLD_EXPECT:
		if (!tok_eq(v, vl, "100-continue"))
			return cb_fail(c, 417, "only 'Expect: 100-continue' "
			    "is understood");
		h->expect_continue = 1;
		break;
	case FLD_OTHER:
		break;
	}
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct hctx *c = p->data;
	size_t i;

	if (commit_field(c) != 0)
		return -1;
	/* Debian's build is not strict: it takes a space in a name. */
	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)at[i]))
			return cb_fail(c, 400, "malformed header name");
	if (tok_eq(at, n, "transfer-encoding"))
		return cb_fail(c, 501, "Transfer-Encoding is not accepted: "
		    "send a Content-Length");
	c->fld = tok_eq(at, n, "content-length") ? FLD_CLEN :
	    tok_eq(at, n, "content-type") ? FLD_CTYPE :
	    tok_eq(at, n, "if-none-match") ? FLD_INM :
	    tok_eq(at, n, "authorization") ? FLD_AUTHZ :
	    tok_eq(at, n, "host") ? FLD_HOST :
	    tok_eq(at, n, "expect") ? FLD_EXPECT : FLD_OTHER;
	c->fname = at;
	c->val = NULL;
	c->vlen = 0;
	c->in_field = 1;
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct hctx *c = p->data;

	/* The whole head is in one buffer, so a value comes in one piece. */
	c->val = at;
	c->vlen = n;
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct hctx *c = p->data;
	struct api_http_head *h = c->h;

	if (commit_field(c) != 0)
		return -1;
	if (p->flags & F_CONTENTLENGTH) {
		if (p->content_length > (unsigned long long)c->max_body)
			return cb_fail(c, 413, "request body too large");
		h->content_length = (long long)p->content_length;
	}
	/* HTTP/1.1 keeps the connection unless "Connection: close";
	 * HTTP/1.0 closes it unless "Connection: keep-alive". */
	h->keep_alive = http_should_keep_alive(p);
	c->done = 1;
	return 0;
}

/* Custody's checks on the bytes that http-parser's strict mode lets
 * through: every line ends in CRLF (it takes a bare LF), no CR or NUL
 * inside a line, no folded line (it joins them), no line longer than a
 * target and its method and version, and the head ends with the empty
 * line at buf[len - 2]. Sets *line1 to the request line's length. */
static int
precheck(const char *buf, size_t len, size_t *line1, char *msg,
    size_t msglen)
{
	const char *p = buf, *end = buf + len, *eol;
	int first = 1;

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
		if (first)
			*line1 = (size_t)(eol - 1 - p);
		else if (p[0] == ' ' || p[0] == '\t')
			return fail(msg, msglen, 400, "folded header lines are "
			    "not accepted");
		first = 0;
		p = eol + 1;
	}
	if (eol + 1 != end)
		return fail(msg, msglen, 400, "bytes after the request head");
	return 0;
}

/* http-parser refused: the status and message for its error. */
static int
map_errno(const struct hctx *c, enum http_errno e, size_t line1)
{
	const char *sp, *v, *eol;
	size_t i, n;

	switch (e) {
	case HPE_INVALID_METHOD:
		/* A token it does not know is a method custody does not
		 * implement; anything else is not a method at all. */
		sp = memchr(c->buf, ' ', line1);
		n = sp != NULL ? (size_t)(sp - c->buf) : 0;
		for (i = 0; i < n; i++)
			if (!is_tchar((unsigned char)c->buf[i]))
				break;
		if (sp == NULL || n == 0)
			return fail(c->msg, c->msglen, 400, "malformed request "
			    "line");
		if (i < n)
			return fail(c->msg, c->msglen, 400, "malformed method");
		return fail(c->msg, c->msglen, 501, "method not implemented");
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return fail(c->msg, c->msglen, 400, "more than one "
		    "Content-Length");
	case HPE_INVALID_CONTENT_LENGTH:
		/* Digits only, too many for http-parser to hold: too large
		 * a body, not a malformed length. */
		if (c->in_field && c->fld == FLD_CLEN) {
			n = (size_t)(c->buf + c->len - c->fname);
			v = (const char *)memchr(c->fname, ':', n) + 1;
			eol = memchr(v, '\r', n - (size_t)(v - c->fname));
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
				eol--;
			for (i = 0; v + i < eol; i++)
				if (v[i] < '0' || v[i] > '9')
					break;
			if (eol > v && v + i == eol)
				return fail(c->msg, c->msglen, 413, "request "
				    "body too large");
		}
		return fail(c->msg, c->msglen, 400, "bad Content-Length");
	case HPE_INVALID_HEADER_TOKEN:
		return fail(c->msg, c->msglen, 400, "malformed header line");
	case HPE_HEADER_OVERFLOW:
		return fail(c->msg, c->msglen, 400, "request head too large");
	default:
		snprintf(c->msg, c->msglen, "malformed request head (%s)",
		    http_errno_description(e));
		return 400;
	}
}

int
api_http_parse_head(const char *buf, size_t len, long long max_body,
    struct api_http_head *out, char *msg, size_t msglen)
{
	static const http_parser_settings settings = {
		.on_url = on_url,
		.on_header_field = on_header_field,
		.on_header_value = on_header_value,
		.on_headers_complete = on_headers_complete,
	};
	struct hctx c;
	http_parser p;
	enum http_errno e;
	const char *m;
	size_t line1 = 0, ml, n;
	int r;

	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	snprintf(msg, msglen, "%s", "");
	r = precheck(buf, len, &line1, msg, msglen);
	if (r != 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.h = out;
	c.buf = buf;
	c.len = len;
	c.max_body = max_body;
	c.msg = msg;
	c.msglen = msglen;
	http_parser_init(&p, HTTP_REQUEST);
	p.data = &c;
	n = http_parser_execute(&p, &settings, buf, len);
	e = HTTP_PARSER_ERRNO(&p);
	if (c.status != 0)
		return c.status;
	if (e != HPE_OK)
		return map_errno(&c, e, line1);
	/* buf ends with the head's empty line (precheck()), so http-parser
	 * stops there: waiting for a body, or done with a bodiless request. */
	if (!c.done || n != len || out->target == NULL)
		return fail(msg, msglen, 400, "malformed request head");
	/* "METHOD SP TARGET SP HTTP/1.x": http-parser skips runs of spaces
	 * and takes "GET /" as HTTP/0.9; custody takes one spelling. */
	m = http_method_str((enum http_method)p.method);
	ml = strlen(m);
	if (line1 != ml + 1 + out->target_len + 1 + 8 ||
	    out->target != buf + ml + 1)
		return fail(msg, msglen, 400, "malformed request line");
	if (p.http_major != 1 || p.http_minor > 1)
		return fail(msg, msglen, 505, "HTTP version not supported");
	if (ml >= sizeof(out->mbuf))
		return fail(msg, msglen, 501, "method not implemented");
	memcpy(out->mbuf, m, ml + 1);
	out->method = out->mbuf;
	out->minor = p.http_minor;
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
