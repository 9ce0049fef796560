/* SPDX-License-Identifier: MIT */
/* src/api/api_route.c - the route table of the HTTPS API and the strict
 * decoding of request targets (include/api.h).
 *
 * One table, data only: a route is a method, a path pattern and the
 * operation it calls, with what it takes from the path and the query. To
 * add a route onto an operation is to add a row. The decoding refuses
 * every target whose meaning depends on who decodes it (an encoded '/',
 * a ".." after decoding, bytes that are not UTF-8): custody answers 400,
 * never the resource another reading would name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "err.h"
#include "util.h"

static const struct api_route routes[] = {
	/* Every operation of the ops table (the remote CLI's transport). */
	{ "POST", "/v1/ops/{op!}", NULL, API_RENDER_JSON, API_ROUTE_BODY, "" },
	/* Public: trust roots and revocations, liveness. */
	{ "GET", "/v1/trust/bundle", "ca.bundle", API_RENDER_BUNDLE, 0, "" },
	{ "GET", "/v1/trust/crl", "ca.crl", API_RENDER_CRL_DER, 0, "" },
	{ "GET", "/v1/trust/crl.pem", "ca.crl", API_RENDER_CRL_PEM, 0, "" },
	{ "GET", "/healthz", NULL, API_RENDER_HEALTH, 0, "" },
	{ "GET", "/metrics", "status", API_RENDER_METRICS, API_ROUTE_ADMIN,
	    "" },
	/* Inventory. */
	{ "GET", "/v1/devices", "device.list", API_RENDER_JSON, 0,
	    "after:s limit:i tag:s" },
	{ "POST", "/v1/devices", "device.add", API_RENDER_JSON,
	    API_ROUTE_BODY, "" },
	{ "GET", "/v1/devices/{fqdn}", "device.show", API_RENDER_JSON, 0, "" },
	{ "DELETE", "/v1/devices/{fqdn}", "device.remove", API_RENDER_JSON, 0,
	    "" },
	/* Secrets. */
	{ "GET", "/v1/devices/{fqdn}/admin-password", "password.show",
	    API_RENDER_JSON, API_ROUTE_SECRET,
	    "kind:s version:i pending:b" },
	{ "GET", "/v1/devices/{fqdn}/credential", "credential.show",
	    API_RENDER_JSON, API_ROUTE_SECRET | API_ROUTE_ETAG,
	    "format:s console:s" },
	/* A console's keytab (its MIT principal's keys), as the file. */
	{ "GET", "/v1/consoles/{name}/keytab", "keytab.get",
	    API_RENDER_KEYTAB, API_ROUTE_SECRET, "" },
	/* Changes. */
	{ "POST", "/v1/devices/{fqdns[]}/rotate", "password.rotate",
	    API_RENDER_JSON, API_ROUTE_BODY, "" },
	{ "POST", "/v1/devices/{fqdn}/certificate", "cert.sign",
	    API_RENDER_JSON, API_ROUTE_BODY | API_ROUTE_CSR, "" },
	/* The caller's own client certificate, renewed from its CSR (EST
	 * simplereenroll's request; the reply is the operation's JSON). */
	{ "POST", "/v1/clients/self/certificate", "client.reenroll",
	    API_RENDER_JSON, API_ROUTE_BODY | API_ROUTE_CSR, "" },
	{ "POST", "/v1/rotations", "password.rotate", API_RENDER_JSON,
	    API_ROUTE_BODY, "" },
	{ "GET", "/v1/jobs/{id#}", "job.show", API_RENDER_JSON, 0,
	    "after:i limit:i" },
	{ "GET", "/v1/audit", "audit.list", API_RENDER_JSON, 0,
	    "after:i limit:i object:s" },
};

#define NROUTES	(sizeof(routes) / sizeof(routes[0]))
#define CSR_BODY_MAX	(1 << 20)	/* the body limit bounds it first */
#define SEG_MAX	16	/* segments in a path */

const struct api_route *
api_route_at(size_t i)
{
	return i < NROUTES ? &routes[i] : NULL;
}

size_t
api_route_count(void)
{
	return NROUTES;
}

int
api_csr_body(const unsigned char *body, size_t len, json_t *into)
{
	const char *key = "csr_der";
	char *b64 = NULL;
	json_t *v;
	size_t i, bl;

	if (body == NULL || len == 0 || len > CSR_BODY_MAX)
		return cust_fail(CUST_E_PARSE, "the CSR body is empty or too "
		    "long");
	if (body[0] == 0x30) {
		/* DER: carried as base64 like a "csr_der" member. */
		bl = sodium_base64_ENCODED_LEN(len,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(bl)) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		sodium_bin2base64(b64, bl, body, len,
		    sodium_base64_VARIANT_ORIGINAL);
		v = json_string(b64);
		free(b64);
	} else {
		/* Text: PEM, or base64 DER (EST). Printable ASCII and line
		 * breaks only; the operation reads it strictly. */
		for (i = 0; i < len; i++)
			if ((body[i] < 0x20 || body[i] >= 0x7f) &&
			    body[i] != '\r' && body[i] != '\n' &&
			    body[i] != '\t')
				return cust_fail(CUST_E_PARSE, "the CSR body is "
				    "neither PEM, DER nor base64 DER");
		if (len > 10 && memcmp(body, "-----BEGIN", 10) == 0)
			key = "csr";
		v = json_stringn((const char *)body, len);
	}
	if (v == NULL || json_object_set_new(into, key, v) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
api_pct_decode(const char *s, size_t n, int path, char *out)
{
	size_t i, o = 0, k, l;
	int hi, lo;
	uint32_t cp;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			/* Raw bytes: visible ASCII only (the parser let
			 * nothing else through; a pure caller might). */
			if ((unsigned char)s[i] <= 0x20 ||
			    (unsigned char)s[i] >= 0x7f)
				return -1;
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 ||
		    (lo = hexval(s[i + 2])) < 0)
			return -1;
		out[o] = (char)(hi * 16 + lo);
		if (out[o] == '\0' || (path && out[o] == '/'))
			return -1;
		o++;
		i += 2;
	}
	out[o] = '\0';
	/* UTF-8, and nothing a log or a terminal would show otherwise. */
	for (k = 0; k < o; k += l) {
		if ((l = util_utf8_char((const unsigned char *)out + k, &cp))
		    == 0 || util_unsafe_cp(cp))
			return -1;
	}
	return (long)o;
}

/* Decoded path segments of path[0..n), into segs (pointers into buf). */
static int
split_path(const char *path, size_t n, char *buf, char **segs,
    size_t *nsegs, char *msg, size_t msglen)
{
	size_t i = 1, s;
	long l;

	*nsegs = 0;
	if (n == 1)
		return 0;	/* "/" */
	while (i <= n) {
		s = i;
		while (i < n && path[i] != '/')
			i++;
		if (*nsegs == SEG_MAX) {
			snprintf(msg, msglen, "path too deep");
			return 400;
		}
		if (i == s) {
			snprintf(msg, msglen, "empty path segment");
			return 400;
		}
		if ((l = api_pct_decode(path + s, i - s, 1, buf)) < 0) {
			snprintf(msg, msglen, "malformed path: bad percent "
			    "encoding, an encoded '/' or NUL, or not UTF-8");
			return 400;
		}
		if (strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0) {
			snprintf(msg, msglen, "'.' and '..' are not path "
			    "segments here");
			return 400;
		}
		segs[(*nsegs)++] = buf;
		buf += l + 1;
		i++;
	}
	return 0;
}

/* Number of segments of a pattern and whether segs match it (literals). */
static int
pattern_matches(const char *pat, char **segs, size_t nsegs)
{
	const char *p = pat + 1, *e;
	size_t k = 0, l;

	if (strcmp(pat, "/") == 0)
		return nsegs == 0;
	while (*p != '\0') {
		e = strchr(p, '/');
		l = e ? (size_t)(e - p) : strlen(p);
		if (k == nsegs)
			return 0;
		if (p[0] != '{' && (strlen(segs[k]) != l ||
		    memcmp(segs[k], p, l) != 0))
			return 0;
		k++;
		p += l + (e != NULL);
	}
	return k == nsegs;
}

static int
valid_op(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= API_OP_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* A typed value: T 's', 'i' or 'b'. NULL when it does not parse. */
static json_t *
typed(char t, const char *v)
{
	long n;

	switch (t) {
	case 'i':
		if (v[0] < '0' || v[0] > '9' ||
		    util_parse_long(v, 0, INT64_MAX, &n) != 0)
			return NULL;
		return json_integer(n);
	case 'b':
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			return json_true();
		if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
			return json_false();
		return NULL;
	default:
		return json_string(v);
	}
}

/* Path parameters of route rt from segs into req (and op). */
static int
path_params(const struct api_route *rt, char **segs, json_t *req,
    struct api_match *out, char *msg, size_t msglen)
{
	const char *p = rt->pattern + 1, *e;
	char name[32];
	size_t k = 0, l;
	json_t *v;
	char t;

	while (*p != '\0') {
		e = strchr(p, '/');
		l = e ? (size_t)(e - p) : strlen(p);
		if (p[0] == '{' && l > 2 && l - 2 < sizeof(name)) {
			memcpy(name, p + 1, l - 2);
			name[l - 2] = '\0';
			t = 's';
			if (l > 3 && name[l - 3] == '#')
				t = 'i', name[l - 3] = '\0';
			else if (l > 3 && name[l - 3] == '!')
				t = '!', name[l - 3] = '\0';
			else if (l > 4 && strcmp(name + l - 4, "[]") == 0)
				t = 'a', name[l - 4] = '\0';
			if (t == '!') {
				if (!valid_op(segs[k])) {
					snprintf(msg, msglen, "not an "
					    "operation name");
					return 400;
				}
				snprintf(out->op, sizeof(out->op), "%s",
				    segs[k]);
			} else {
				v = t == 'a' ? json_pack("[s]", segs[k]) :
				    typed(t, segs[k]);
				if (v == NULL) {
					snprintf(msg, msglen, "path parameter "
					    "'%s' is not %s", name, t == 'i' ?
					    "a number" : "valid");
					return 400;
				}
				if (json_object_set_new(req, name, v) != 0) {
					snprintf(msg, msglen, "out of memory");
					return 503;
				}
			}
		}
		k++;
		p += l + (e != NULL);
	}
	return 0;
}

/* The type of query parameter key in spec ("name:T ..."), or 0. */
static char
query_type(const char *spec, const char *key)
{
	size_t kl = strlen(key);
	const char *p = spec;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == spec || p[-1] == ' ') && p[kl] == ':')
			return p[kl + 1];
		p += kl;
	}
	return 0;
}

static int
query_params(const struct api_route *rt, const char *q, size_t n,
    json_t *req, char *msg, size_t msglen)
{
	char *buf = NULL, *key, *val;
	size_t i = 0, s, eq;
	long kl, vl;
	json_t *v;
	char t;
	int r = 400;

	if (n == 0)
		return 0;
	if ((buf = malloc(2 * n + 2)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return 503;
	}
	while (i <= n) {
		s = i;
		while (i < n && q[i] != '&')
			i++;
		for (eq = s; eq < i && q[eq] != '='; eq++)
			;
		if (eq == s || eq == i) {
			snprintf(msg, msglen, "malformed query: each "
			    "parameter is name=value");
			goto out;
		}
		key = buf;
		if ((kl = api_pct_decode(q + s, eq - s, 0, key)) < 0 ||
		    (vl = api_pct_decode(q + eq + 1, i - eq - 1, 0, val =
		    key + kl + 1)) < 0) {
			snprintf(msg, msglen, "malformed query: bad percent "
			    "encoding, NUL or not UTF-8");
			goto out;
		}
		if ((t = query_type(rt->query, key)) == 0) {
			snprintf(msg, msglen, "unknown query parameter '%.64s'",
			    key);
			goto out;
		}
		if (json_object_get(req, key) != NULL) {
			snprintf(msg, msglen, "query parameter '%.64s' given "
			    "twice", key);
			goto out;
		}
		if ((v = typed(t, val)) == NULL) {
			snprintf(msg, msglen, "query parameter '%.64s' is not "
			    "%s", key, t == 'i' ? "a number" : t == 'b' ?
			    "true or false" : "valid");
			goto out;
		}
		if (json_object_set_new(req, key, v) != 0) {
			snprintf(msg, msglen, "out of memory");
			r = 503;
			goto out;
		}
		i++;
	}
	r = 0;
out:
	free(buf);
	return r;
}

int
api_route_match(const char *method, const char *target, size_t len,
    struct api_match *out, char *msg, size_t msglen, char *allow,
    size_t allowlen)
{
	const char *qm;
	char *buf = NULL, *segs[SEG_MAX];
	size_t plen, nsegs, i, al = 0;
	const struct api_route *rt = NULL;
	json_t *req = NULL;
	int r, path_found = 0;

	memset(out, 0, sizeof(*out));
	snprintf(msg, msglen, "%s", "");
	if (allow != NULL && allowlen > 0)
		allow[0] = '\0';
	if (len == 0 || target[0] != '/' || len > API_TARGET_MAX) {
		snprintf(msg, msglen, "the request target must be a path");
		return 400;
	}
	qm = memchr(target, '?', len);
	plen = qm ? (size_t)(qm - target) : len;
	if (memchr(target, '#', len) != NULL) {
		snprintf(msg, msglen, "a fragment is not part of a request");
		return 400;
	}
	if ((buf = malloc(plen + SEG_MAX + 1)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return 503;
	}
	if ((r = split_path(target, plen, buf, segs, &nsegs, msg, msglen))
	    != 0)
		goto out;
	for (i = 0; i < NROUTES; i++) {
		if (!pattern_matches(routes[i].pattern, segs, nsegs))
			continue;
		path_found = 1;
		if (strcmp(routes[i].method, method) == 0) {
			if (rt == NULL) {
				rt = &routes[i];
				out->index = i;
			}
		} else if (allow != NULL && strstr(allow, routes[i].method) ==
		    NULL) {
			al += (size_t)snprintf(allow + al, allowlen - al,
			    "%s%s", al ? ", " : "", routes[i].method);
			if (al >= allowlen)
				al = allowlen - 1;
		}
	}
	if (rt == NULL) {
		r = path_found ? 405 : 404;
		if (path_found)
			snprintf(msg, msglen, "method %.8s is not allowed "
			    "here", method);
		else
			snprintf(msg, msglen, "no such resource");
		goto out;
	}
	if ((req = json_object()) == NULL) {
		snprintf(msg, msglen, "out of memory");
		r = 503;
		goto out;
	}
	if (rt->op != NULL)
		snprintf(out->op, sizeof(out->op), "%s", rt->op);
	if ((r = path_params(rt, segs, req, out, msg, msglen)) != 0 ||
	    (r = query_params(rt, qm ? qm + 1 : "", qm ? len - plen - 1 : 0,
	    req, msg, msglen)) != 0)
		goto out;
	out->route = rt;
	out->req = req;
	req = NULL;
out:
	if (r != 0)
		out->op[0] = '\0';
	json_decref(req);
	free(buf);
	return r;
}
