/* SPDX-License-Identifier: MIT */
/* src/config/config.c - DIR/custody.yaml: a declarative schema walked over
 * the positioned YAML tree of ytree.h.
 *
 * The defaults are set first (config_defaults()); the walk overwrites what
 * the file sets, so "absent" and "default" are the same thing and the
 * defaults live in one place. Every problem is reported at its node and
 * the walk goes on, so one run names all of them; a file with any problem
 * is refused whole (the service never runs on half a configuration).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "util.h"
#include "ytree.h"

#define DAY	INT64_C(86400)

enum kind {
	C_MAP,		/* mapping with its own table */
	C_BOOL,		/* int: 0 or 1 */
	C_U32,		/* unsigned, plain integer in [min, max] */
	C_U64,		/* uint64_t, plain integer in [min, max] */
	C_DUR,		/* int64_t seconds: "90d" "12h" "30m" "45s" or N */
	C_ENUM,		/* int: index into names[] mapped through vals[] */
	C_STR,		/* char *: a non-empty string without controls */
	C_PATH,		/* char *: an absolute path */
	C_HOSTPORT,	/* char *: HOST:PORT */
	C_REALM,	/* char *: upper-case Kerberos realm */
	C_LISTEN,	/* the listen sequence */
};

struct cctx;
struct table;

struct field {
	const char *key;
	enum kind kind;
	size_t off;		/* in struct cust_config */
	int64_t min, max;	/* C_U32, C_U64, C_DUR */
	const char *const *names;	/* C_ENUM */
	const int *vals;		/* C_ENUM: int values, or NULL to
					 * keep the name as a string */
	const struct table *sub;	/* C_MAP */
	int required;		/* within its section */
	int zero_off;		/* C_DUR: 0 is allowed below min ("off") */
};

struct table {
	const char *what;	/* "tls", "rotation.max_age" ... */
	const struct field *f;
	size_t n;
	size_t set_off;		/* int set to 1 when present, or NOSET */
	/* Checks across keys once the section is walked: CUST_OK,
	 * CUST_E_PARSE after reporting, CUST_E_NOMEM. */
	int (*finish)(struct cctx *c, const struct ynode *map);
};

#define NOSET	((size_t)-1)

/* Problems are kept and written in file order at the end: the tree
 * builder finds duplicates before the schema walk finds the rest. */
#define MAX_PROBLEMS	200

struct problem {
	unsigned line, col, seq;
	char msg[400];
};

struct cctx {
	const char *name;	/* file name in messages */
	struct cust_config *cfg;
	unsigned nerr;		/* all problems, kept or not */
	struct problem *probs;	/* the first MAX_PROBLEMS */
	size_t nprobs;
};

/* ---- reporting ---- */

static int __attribute__((format(printf, 4, 0)))
vreport(struct cctx *c, unsigned line, unsigned col, const char *fmt,
    va_list ap)
{
	struct problem *p;

	if (c->nerr++ >= MAX_PROBLEMS)
		return CUST_E_PARSE;
	if (c->probs == NULL && (c->probs = calloc(MAX_PROBLEMS,
	    sizeof(*c->probs))) == NULL)
		return CUST_E_PARSE;	/* counted; config_parse says ENOMEM */
	p = &c->probs[c->nprobs];
	p->line = line;
	p->col = col;
	p->seq = (unsigned)c->nprobs++;
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	return CUST_E_PARSE;
}

static int
probcmp(const void *x, const void *y)
{
	const struct problem *a = x, *b = y;

	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Write the problems in file order to errs (escaped, as untrusted text
 * may be quoted in them) and return CUST_E_PARSE with the first one as
 * the message. */
static int
flush_problems(struct cctx *c, FILE *errs)
{
	char line[1024], esc[1024];
	size_t i;

	if (c->probs == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	qsort(c->probs, c->nprobs, sizeof(*c->probs), probcmp);
	for (i = 0; errs != NULL && i < c->nprobs; i++) {
		snprintf(line, sizeof(line), "%s:%u:%u: %s", c->name,
		    c->probs[i].line, c->probs[i].col, c->probs[i].msg);
		(void)util_escape(line, esc, sizeof(esc));
		fprintf(errs, "%s\n", esc);
	}
	if (errs != NULL && c->nerr > c->nprobs)
		fprintf(errs, "%s: %u more problems not shown\n", c->name,
		    c->nerr - (unsigned)c->nprobs);
	if (c->nerr == 1)
		return cust_fail(CUST_E_PARSE, "%s:%u:%u: %s", c->name,
		    c->probs[0].line, c->probs[0].col, c->probs[0].msg);
	return cust_fail(CUST_E_PARSE, "%s:%u:%u: %s (and %u more problems)",
	    c->name, c->probs[0].line, c->probs[0].col, c->probs[0].msg,
	    c->nerr - 1);
}

static int __attribute__((format(printf, 3, 4)))
bad(struct cctx *c, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vreport(c, n ? n->line : 1, n ? n->col : 1, fmt, ap);
	va_end(ap);
	return r;
}

/* The tree builder's problems (syntax, anchors, duplicates...). */
static int __attribute__((format(printf, 5, 0)))
tree_problem(void *ctx, unsigned line, unsigned col, enum ytree_problem p,
    const char *fmt, va_list ap)
{
	(void)vreport(ctx, line, col, fmt, ap);
	return CUST_OK;
}

/* ---- scalar values ---- */

/* A whole decimal integer of the plain-integer class. */
static int
int_of(const struct ynode *v, int64_t *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v->str, &end, 10);
	if (errno != 0 || end == v->str || *end != '\0')
		return 0;
	*out = x;
	return 1;
}

int
config_parse_duration(const char *s, int64_t min, int64_t max, int64_t *out)
{
	static const struct { char u; int64_t secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', DAY },
	};
	int64_t n = 0, mul = 1;
	size_t len = strlen(s), i, digits = len;

	if (len > 0) {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (s[len - 1] == units[i].u) {
				mul = units[i].secs;
				digits = len - 1;
			}
	}
	if (digits == 0 || digits > 12)
		goto bad;
	for (i = 0; i < digits; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		n = n * 10 + (s[i] - '0');
	}
	n *= mul;	/* at most 12 digits * 86400: no overflow */
	if (n < min || n > max)
		return cust_fail(CUST_E_INVAL, "%s is outside %llds..%llds", s,
		    (long long)min, (long long)max);
	*out = n;
	return CUST_OK;
bad:
	return cust_fail(CUST_E_INVAL, "'%s' is not a duration (such as "
	    "90d, 12h, 30m, 45s, or plain seconds)", s);
}

/* "90d" for messages and config_write(): the largest unit that divides. */
static void
fmt_duration(int64_t s, char *buf, size_t len)
{
	if (s != 0 && s % DAY == 0)
		snprintf(buf, len, "%lldd", (long long)(s / DAY));
	else if (s != 0 && s % 3600 == 0)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else if (s != 0 && s % 60 == 0)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

int
config_parse_listen(const char *s, struct config_listen *out)
{
	struct config_listen l;
	const char *colon, *hs = s;
	size_t hlen;
	unsigned char addr[16];
	long port;

	memset(&l, 0, sizeof(l));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
		l.family = AF_INET6;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			goto bad;
		hlen = (size_t)(colon - s);
		l.family = AF_INET;
	}
	if (hlen == 0 || hlen >= sizeof(l.host))
		goto bad;
	memcpy(l.host, hs, hlen);
	l.host[hlen] = '\0';
	/* the canonical text, so that [0::1] and [::1] are one address */
	if (inet_pton(l.family, l.host, addr) != 1 ||
	    inet_ntop(l.family, addr, l.host, sizeof(l.host)) == NULL)
		goto bad;
	if (colon[1] == '0' || util_parse_long(colon + 1, 1, 65535, &port) !=
	    CUST_OK)
		return cust_fail(CUST_E_INVAL, "'%s': the port must be a "
		    "number from 1 to 65535", s);
	l.port = (uint16_t)port;
	*out = l;
	return CUST_OK;
bad:
	return cust_fail(CUST_E_INVAL, "'%s' is not HOST:PORT with HOST an "
	    "IPv4 address or an IPv6 address in brackets ([::1]:8443)", s);
}

void
config_listen_format(const struct config_listen *l, char *buf, size_t len)
{
	snprintf(buf, len, l->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    l->host, (unsigned)l->port);
}

/* Printable ASCII or UTF-8 without controls, 1-1024 bytes. */
static int
plain_text(const struct ynode *v)
{
	return v->len > 0 && v->len <= 1024 && !util_needs_escape(v->str);
}

/* HOST:PORT where HOST is a name, an IPv4 or a bracketed IPv6 address. */
static int
valid_hostport(const char *s)
{
	struct config_listen l;
	const char *colon = strrchr(s, ':');
	size_t i;
	long port;

	if (config_parse_listen(s, &l) == CUST_OK)
		return 1;
	if (colon == NULL || colon == s || (size_t)(colon - s) > 253 ||
	    util_parse_long(colon + 1, 1, 65535, &port) != CUST_OK)
		return 0;
	for (i = 0; s + i < colon; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '-'))
			return 0;
	return 1;
}

static const char *
kind_name(const struct field *f)
{
	switch (f->kind) {
	case C_MAP:
		return "a mapping";
	case C_BOOL:
		return "a boolean (true or false)";
	case C_U32:
	case C_U64:
		return "an integer";
	case C_DUR:
		return "a duration (such as 90d, 12h, 30m, 45s, or plain "
		    "seconds)";
	case C_LISTEN:
		return "a sequence of HOST:PORT";
	default:
		return "a string";
	}
}

/* Set a string slot (freeing a previous value). */
static int
set_str(struct cctx *c, const struct field *f, const char *s)
{
	char **slot = (char **)((char *)c->cfg + f->off);
	char *d = strdup(s);

	if (d == NULL)
		return CUST_E_NOMEM;
	free(*slot);
	*slot = d;
	return CUST_OK;
}

static int
walk_listen(struct cctx *c, const struct field *f, const struct ynode *v)
{
	struct cust_config *cfg = c->cfg;
	size_t i, j;
	int r = CUST_OK;

	if (v->nkids == 0)
		return bad(c, v, "'listen' must name at least one HOST:PORT");
	if (v->nkids > CONFIG_MAX_LISTEN)
		return bad(c, v, "'listen' names %zu addresses; at most %d",
		    v->nkids, CONFIG_MAX_LISTEN);
	cfg->nlisten = 0;
	for (i = 0; i < v->nkids; i++) {
		const struct ynode *it = v->kids[i];
		struct config_listen l;

		if (it->type == YN_BAD) {
			r = CUST_E_PARSE;
			continue;
		}
		if (it->type != YN_SCALAR || it->cls != YS_STR) {
			r = bad(c, it, "items of 'listen' must be HOST:PORT "
			    "strings, not %s", ytree_type_name(it));
			continue;
		}
		if (config_parse_listen(it->str, &l) != CUST_OK) {
			r = bad(c, it, "%s", cust_errmsg());
			continue;
		}
		for (j = 0; j < cfg->nlisten; j++)
			if (cfg->listen[j].family == l.family &&
			    cfg->listen[j].port == l.port &&
			    strcmp(cfg->listen[j].host, l.host) == 0)
				break;
		if (j < cfg->nlisten) {
			r = bad(c, it, "'%s' is listed twice in 'listen'",
			    it->str);
			continue;
		}
		cfg->listen[cfg->nlisten++] = l;
	}
	return r;
}

static int walk_map(struct cctx *c, const struct table *t,
    const struct ynode *map);

/* Check one value against its field and store it. */
static int
walk_value(struct cctx *c, const struct table *t, const struct field *f,
    const struct ynode *v)
{
	void *slot = (char *)c->cfg + f->off;
	int64_t x = 0;
	size_t i;

	if (v->type == YN_BAD)
		return CUST_E_PARSE;
	switch (f->kind) {
	case C_MAP:
		if (v->type != YN_MAP)
			break;
		return walk_map(c, f->sub, v);
	case C_LISTEN:
		if (v->type != YN_SEQ)
			break;
		return walk_listen(c, f, v);
	default:
		if (v->type != YN_SCALAR)
			break;
		switch (f->kind) {
		case C_BOOL:
			if (v->cls != YS_BOOL)
				goto type;
			*(int *)slot = ytree_bool(v);
			return CUST_OK;
		case C_U32:
		case C_U64:
			if (v->cls != YS_INT || !int_of(v, &x))
				goto type;
			if (x < f->min || x > f->max)
				return bad(c, v, "'%s' of %s must be from "
				    "%lld to %lld, not %s", f->key, t->what,
				    (long long)f->min, (long long)f->max,
				    v->str);
			if (f->kind == C_U32)
				*(unsigned *)slot = (unsigned)x;
			else
				*(uint64_t *)slot = (uint64_t)x;
			return CUST_OK;
		case C_DUR:
			if (v->cls != YS_INT && v->cls != YS_STR)
				goto type;
			if (config_parse_duration(v->str, 0, INT64_MAX, &x) !=
			    CUST_OK)
				return bad(c, v, "'%s' of %s must be %s, not "
				    "'%.64s'", f->key, t->what, kind_name(f),
				    v->str);
			if ((x < f->min && !(x == 0 && f->zero_off)) ||
			    x > f->max) {
				char lo[24], hi[24];

				fmt_duration(f->min, lo, sizeof(lo));
				fmt_duration(f->max, hi, sizeof(hi));
				return bad(c, v, "'%s' of %s must be %sfrom %s "
				    "to %s, not %s", f->key, t->what,
				    f->zero_off ? "0 (off) or " : "", lo, hi,
				    v->str);
			}
			*(int64_t *)slot = x;
			return CUST_OK;
		default:
			break;
		}
		/* the string kinds: plain integers are not strings here */
		if (v->cls != YS_STR) {
			if (v->cls == YS_BOOL || v->cls == YS_NULL)
				return bad(c, v, "'%s' of %s must be a string; "
				    "plain '%s' reads as %s (quote it)",
				    f->key, t->what, v->str,
				    ytree_type_name(v));
			goto type;
		}
		if (!plain_text(v))
			return bad(c, v, "'%s' of %s must be 1-1024 printable "
			    "characters", f->key, t->what);
		switch (f->kind) {
		case C_ENUM:
			for (i = 0; f->names[i] != NULL; i++)
				if (strcmp(v->str, f->names[i]) == 0) {
					if (f->vals == NULL)
						return set_str(c, f, v->str);
					*(int *)slot = f->vals[i];
					return CUST_OK;
				}
			{
				char set[160];
				size_t used = 0;

				set[0] = '\0';
				for (i = 0; f->names[i] != NULL &&
				    used < sizeof(set); i++)
					used += (size_t)snprintf(set + used,
					    sizeof(set) - used, "%s\"%s\"",
					    i == 0 ? "" : f->names[i + 1] ?
					    ", " : " or ", f->names[i]);
				return bad(c, v, "'%s' of %s must be %s, not "
				    "'%.64s'", f->key, t->what, set, v->str);
			}
		case C_PATH:
			if (v->str[0] != '/' || v->len >= PATH_MAX)
				return bad(c, v, "'%s' of %s must be an "
				    "absolute path, not '%.64s'", f->key,
				    t->what, v->str);
			break;
		case C_HOSTPORT:
			if (!valid_hostport(v->str))
				return bad(c, v, "'%s' of %s must be HOST:PORT "
				    "(such as kdc.example.com:88 or "
				    "127.0.0.1:88), not '%.64s'", f->key,
				    t->what, v->str);
			break;
		case C_REALM:
			if (util_valid_realm(v->str) != CUST_OK)
				return bad(c, v, "'%s' of %s must be an "
				    "upper-case Kerberos realm such as "
				    "CORP.EXAMPLE, not '%.64s'", f->key,
				    t->what, v->str);
			break;
		default:
			break;
		}
		return set_str(c, f, v->str);
	}
type:
	return bad(c, v, "'%s' of %s must be %s, not %s", f->key, t->what,
	    kind_name(f), ytree_type_name(v));
}

static int
walk_map(struct cctx *c, const struct table *t, const struct ynode *map)
{
	uint64_t seen = 0;
	size_t i, j;
	int r = CUST_OK, r2;
	char keys[400];

	if (t->set_off != NOSET)
		*(int *)((char *)c->cfg + t->set_off) = 1;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];

		if (k->type != YN_SCALAR) {
			r = CUST_E_PARSE;	/* reported by the tree */
			continue;
		}
		for (j = 0; j < t->n; j++)
			if (strcmp(k->str, t->f[j].key) == 0)
				break;
		if (j == t->n) {
			size_t used = 0;

			keys[0] = '\0';
			for (j = 0; j < t->n && used < sizeof(keys); j++)
				used += (size_t)snprintf(keys + used,
				    sizeof(keys) - used, "%s%s", j ? ", " : "",
				    t->f[j].key);
			r2 = bad(c, k, "unknown key '%.64s' in %s (known: %s)",
			    k->str, t->what, keys);
		} else {
			seen |= UINT64_C(1) << j;
			r2 = walk_value(c, t, &t->f[j], v);
		}
		if (r2 == CUST_E_NOMEM)
			return r2;
		if (r2 != CUST_OK)
			r = r2;
	}
	for (j = 0; j < t->n; j++)
		if (t->f[j].required && !(seen & (UINT64_C(1) << j)))
			r = bad(c, map, "%s lacks the required key '%s'",
			    t->what, t->f[j].key);
	/* cross-key rules only over valid keys: a bad value would make
	 * them report its consequences as well */
	if (r == CUST_OK && t->finish != NULL)
		r = t->finish(c, map);
	return r;
}

/* ---- cross-key checks ---- */

/* The value of key in map (where a cross-key problem is reported), or
 * the map itself when the key is not there. */
static const struct ynode *
value_of(const struct ynode *map, const char *key)
{
	size_t i;

	for (i = 0; i + 1 < map->nkids; i += 2)
		if (map->kids[i]->type == YN_SCALAR &&
		    strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	return map;
}

static int
finish_rotation(struct cctx *c, const struct ynode *map)
{
	const struct cust_config *cfg = c->cfg;
	const int64_t ages[] = { cfg->rotation.max_age_admin,
	    cfg->rotation.max_age_mebx, cfg->rotation.max_age_console };
	size_t i;

	for (i = 0; i < sizeof(ages) / sizeof(ages[0]); i++)
		if (ages[i] != 0 && cfg->rotation.jitter >= ages[i])
			return bad(c, value_of(map, "jitter"), "rotation: "
			    "jitter must be shorter than every max_age");
	return CUST_OK;
}

/* The enterprise client CA is checked for revocation unless the file
 * says not to: without its CRLs, a certificate its owner revoked would
 * still open the service. */
static int
finish_tls(struct cctx *c, const struct ynode *map)
{
	const struct cust_config *cfg = c->cfg;

	if (cfg->tls.client_crl_file != NULL && cfg->tls.client_ca_file ==
	    NULL)
		return bad(c, value_of(map, "client_crl_file"), "tls: "
		    "client_crl_file is the CRLs of client_ca_file, which is "
		    "not set");
	if (cfg->tls.client_ca_file != NULL && cfg->tls.client_crl_file ==
	    NULL && cfg->tls.client_crl_required)
		return bad(c, value_of(map, "client_ca_file"), "tls: "
		    "client_ca_file needs client_crl_file (the enterprise "
		    "CA's CRLs), or client_crl_required: false to accept its "
		    "certificates without revocation checks");
	return CUST_OK;
}

static int
finish_ad(struct cctx *c, const struct ynode *map)
{
	struct config_ad *ad = &c->cfg->ad;
	int r = CUST_OK;

	if (ad->uri == NULL) {
		/* reported as a missing key */
	} else if (strpbrk(ad->uri, CONFIG_URI_LIST_SEPS) != NULL) {
		/* libldap takes a list and falls back to the next URI: an
		 * ldap:// one after ldaps:// would get the bind in clear */
		r = bad(c, value_of(map, "uri"), "directory.ad: uri must be "
		    "one URI, not a list (a DC that is down would make libldap "
		    "try the next one, whatever its scheme)");
	} else if (strncmp(ad->uri, "ldaps://", 8) == 0) {
		if (ad->starttls)
			r = bad(c, value_of(map, "starttls"), "directory.ad: "
			    "starttls is for ldap:// URIs; ldaps:// is TLS "
			    "already");
	} else if (strncmp(ad->uri, "ldap://", 7) == 0) {
		if (!ad->starttls)
			r = bad(c, value_of(map, "uri"), "directory.ad: plain "
			    "LDAP is refused: use an ldaps:// URI or set "
			    "starttls: true");
	} else {
		r = bad(c, value_of(map, "uri"), "directory.ad: uri must "
		    "start with ldaps:// (or ldap:// with starttls: true), "
		    "not '%.64s'", ad->uri);
	}
	/* The Global Catalog: one URI of uri's scheme (the same TLS, and the
	 * same bind goes over it), with a host, or none. */
	if (ad->gc_uri != NULL && strcmp(ad->gc_uri, "none") != 0) {
		size_t sl = ad->uri != NULL && strncmp(ad->uri, "ldaps://",
		    8) == 0 ? 8 : 7;

		if (ad->uri == NULL || strpbrk(ad->gc_uri,
		    CONFIG_URI_LIST_SEPS) != NULL || strncmp(ad->gc_uri,
		    ad->uri, sl) != 0 || strlen(ad->gc_uri) <= sl)
			r = bad(c, value_of(map, "gc_uri"), "directory.ad: "
			    "gc_uri must be one URI with the scheme of uri "
			    "(%s), or none, not '%.64s'", sl == 8 ? "ldaps://" :
			    "ldap:// with starttls", ad->gc_uri);
	}
	/* The groups are named group_prefix + duty, in AD and in filters:
	 * the prefix is kept to characters that need no escaping anywhere
	 * and that AD allows in a group's sAMAccountName. */
	if (ad->group_prefix != NULL && (strlen(ad->group_prefix) > 32 ||
	    strspn(ad->group_prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    strlen(ad->group_prefix)))
		r = bad(c, value_of(map, "group_prefix"), "directory.ad: "
		    "group_prefix must be 1-32 characters of [A-Za-z0-9._-], "
		    "not '%.64s'", ad->group_prefix);
	/* base_dn is under the domain's DN (DC=...), which custody also
	 * searches for names already taken */
	if (ad->base_dn != NULL && strcasestr(ad->base_dn, "DC=") == NULL)
		r = bad(c, value_of(map, "base_dn"), "directory.ad: base_dn "
		    "must be a DN under the domain (...,DC=corp,DC=example), "
		    "not '%.64s'", ad->base_dn);
	if (ad->sasl != NULL) {
		if (ad->keytab == NULL)
			r = bad(c, map, "directory.ad: sasl: gssapi needs "
			    "keytab");
		if (ad->bind_password_file != NULL)
			r = bad(c, value_of(map, "bind_password_file"),
			    "directory.ad: bind_password_file is "
			    "for simple binds; with sasl, custody uses the "
			    "keytab");
	} else if (ad->bind == NULL || ad->bind_password_file == NULL) {
		r = bad(c, map, "directory.ad: a simple bind needs bind and "
		    "bind_password_file (or sasl: gssapi with keytab)");
	}
	return r;
}

static int
finish_mit(struct cctx *c, const struct ynode *map)
{
	const struct config_mit *mit = &c->cfg->mit;

	const char *at;
	int r = CUST_OK;

	if ((mit->admin_password_file == NULL) == (mit->admin_keytab == NULL))
		r = bad(c, map, "directory.mit needs exactly one of "
		    "admin_password_file and admin_keytab");
	/* Always NAME@REALM of this realm: kadmind would put an
	 * unqualified name in the profile's default realm, and custody
	 * administers one realm. */
	if ((at = strrchr(mit->admin_principal, '@')) == NULL ||
	    at == mit->admin_principal || strcmp(at + 1, mit->realm) != 0)
		r = bad(c, value_of(map, "admin_principal"), "directory.mit: "
		    "admin_principal must be NAME@%s (the realm's own), not "
		    "'%.64s'", mit->realm, mit->admin_principal);
	return r;
}

/* ---- the schema ---- */

#define O(m)	offsetof(struct cust_config, m)
#define N(a)	(sizeof(a) / sizeof((a)[0]))
#define KEY(k, kind, m)	{ k, kind, O(m), 0, 0, NULL, NULL, NULL, 0, 0 }
#define REQ(k, kind, m)	{ k, kind, O(m), 0, 0, NULL, NULL, NULL, 1, 0 }
#define NUM(k, kind, m, lo, hi) \
	{ k, kind, O(m), lo, hi, NULL, NULL, NULL, 0, 0 }
#define NUM0(k, kind, m, lo, hi) \
	{ k, kind, O(m), lo, hi, NULL, NULL, NULL, 0, 1 }
#define ENUM(k, m, n, v) { k, C_ENUM, O(m), 0, 0, n, v, NULL, 0, 0 }
#define MAP(k, t)	{ k, C_MAP, 0, 0, 0, NULL, NULL, &t, 0, 0 }

static const char *const tls_names[] = { "1.2", "1.3", NULL };
static const int tls_vals[] = { 12, 13 };
static const char *const level_names[] = { "error", "warn", "info", "debug",
	NULL };
static const int level_vals[] = { LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
	LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
static const char *const sasl_names[] = { "gssapi", NULL };
static const char *const acl_sid_names[] = { "auto", "account", NULL };
static const int acl_sid_vals[] = { CONFIG_ACL_SID_AUTO,
	CONFIG_ACL_SID_ACCOUNT };

static const struct field tls_f[] = {
	ENUM("min_version", tls.min_version, tls_names, tls_vals),
	KEY("client_ca_file", C_PATH, tls.client_ca_file),
	KEY("client_crl_file", C_PATH, tls.client_crl_file),
	KEY("client_crl_required", C_BOOL, tls.client_crl_required),
	KEY("session_tickets", C_BOOL, tls.session_tickets),
};
static const struct table tls_t = { "tls", tls_f, N(tls_f), NOSET,
	finish_tls };

static const struct field limits_f[] = {
	NUM("max_header_bytes", C_U64, limits.max_header_bytes, 1024,
	    1024 * 1024),
	NUM("max_body_bytes", C_U64, limits.max_body_bytes, 1024,
	    64 * 1024 * 1024),
	NUM("header_timeout", C_DUR, limits.header_timeout, 1, 3600),
	NUM("body_timeout", C_DUR, limits.body_timeout, 1, 3600),
	NUM("max_connections", C_U32, limits.max_connections, 1, 1000000),
	NUM("max_connections_per_address", C_U32,
	    limits.max_connections_per_address, 0, 1000000),
	NUM("workers", C_U32, limits.workers, 0, 1024),
};
static const struct table limits_t = { "limits", limits_f, N(limits_f),
	NOSET, NULL };

static const struct field max_age_f[] = {
	NUM0("admin", C_DUR, rotation.max_age_admin, 3600, 3650 * DAY),
	NUM0("mebx", C_DUR, rotation.max_age_mebx, 3600, 3650 * DAY),
	NUM0("console", C_DUR, rotation.max_age_console, 3600, 3650 * DAY),
};
static const struct table max_age_t = { "rotation.max_age", max_age_f,
	N(max_age_f), NOSET, NULL };

static const struct field rotation_f[] = {
	MAP("max_age", max_age_t),
	NUM("jitter", C_DUR, rotation.jitter, 0, 30 * DAY),
	NUM("batch_size", C_U32, rotation.batch_size, 1, 100000),
	NUM("rate_limit", C_U32, rotation.rate_limit, 1, 100000),
	KEY("push", C_BOOL, rotation.push),
	KEY("kerberos", C_BOOL, rotation.kerberos),
};
static const struct table rotation_t = { "rotation", rotation_f,
	N(rotation_f), NOSET, finish_rotation };

static const struct field crl_f[] = {
	NUM("refresh_before", C_DUR, crl_refresh_before, 60, 30 * DAY),
};
static const struct table crl_t = { "crl", crl_f, N(crl_f), NOSET, NULL };

static const struct field server_cert_f[] = {
	NUM("renew_before", C_DUR, server_cert_renew_before, DAY, 365 * DAY),
};
static const struct table server_cert_t = { "server_cert", server_cert_f,
	N(server_cert_f), NOSET, NULL };

static const struct field log_f[] = {
	ENUM("level", log_level, level_names, level_vals),
};
static const struct table log_t = { "log", log_f, N(log_f), NOSET, NULL };

static const struct field ad_f[] = {
	REQ("uri", C_STR, ad.uri),
	KEY("starttls", C_BOOL, ad.starttls),
	KEY("ca_file", C_PATH, ad.ca_file),
	KEY("bind", C_STR, ad.bind),
	KEY("bind_password_file", C_PATH, ad.bind_password_file),
	ENUM("sasl", ad.sasl, sasl_names, NULL),
	KEY("keytab", C_PATH, ad.keytab),
	REQ("base_dn", C_STR, ad.base_dn),
	REQ("realm", C_REALM, ad.realm),
	KEY("group_prefix", C_STR, ad.group_prefix),
	KEY("rc4", C_BOOL, ad.rc4),
	NUM("keytab_grace", C_DUR, ad.keytab_grace, 0, 365 * DAY),
	NUM("object_max_age", C_DUR, ad.object_max_age, 0, 3650 * DAY),
	ENUM("acl_sid", ad.acl_sid, acl_sid_names, acl_sid_vals),
	KEY("gc_uri", C_STR, ad.gc_uri),
};
static const struct table ad_t = { "directory.ad", ad_f, N(ad_f), O(ad.set),
	finish_ad };

static const struct field mit_f[] = {
	REQ("realm", C_REALM, mit.realm),
	KEY("kdc", C_HOSTPORT, mit.kdc),
	KEY("admin_server", C_HOSTPORT, mit.admin_server),
	REQ("admin_principal", C_STR, mit.admin_principal),
	KEY("admin_password_file", C_PATH, mit.admin_password_file),
	KEY("admin_keytab", C_PATH, mit.admin_keytab),
	NUM("keytab_grace", C_DUR, mit.keytab_grace, 0, 365 * DAY),
};
static const struct table mit_t = { "directory.mit", mit_f, N(mit_f),
	O(mit.set), finish_mit };

static const struct field directory_f[] = {
	MAP("ad", ad_t),
	MAP("mit", mit_t),
};
static const struct table directory_t = { "directory", directory_f,
	N(directory_f), NOSET, NULL };

static const struct field auth_f[] = {
	KEY("negotiate_keytab", C_PATH, auth.negotiate_keytab),
};
static const struct table auth_t = { "auth", auth_f, N(auth_f), NOSET,
	NULL };

static const struct field top_f[] = {
	KEY("listen", C_LISTEN, nlisten),
	MAP("tls", tls_t),
	MAP("limits", limits_t),
	MAP("rotation", rotation_t),
	MAP("crl", crl_t),
	MAP("server_cert", server_cert_t),
	MAP("log", log_t),
	MAP("directory", directory_t),
	MAP("auth", auth_t),
};
static const struct table top_t = { "the configuration", top_f, N(top_f),
	NOSET, NULL };

/* ---- loading ---- */

struct cust_config *
config_defaults(void)
{
	struct cust_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->nlisten = 2;
	cfg->listen[0] = (struct config_listen){ AF_INET, "127.0.0.1", 8443 };
	cfg->listen[1] = (struct config_listen){ AF_INET6, "::1", 8443 };
	cfg->tls.min_version = 12;
	cfg->tls.client_crl_required = 1;
	cfg->limits.max_header_bytes = 16384;
	cfg->limits.max_body_bytes = 1024 * 1024;
	cfg->limits.header_timeout = 10;
	cfg->limits.body_timeout = 30;
	cfg->limits.max_connections = 4096;
	cfg->rotation.max_age_admin = 90 * DAY;
	cfg->rotation.max_age_mebx = 180 * DAY;
	cfg->rotation.max_age_console = 90 * DAY;
	cfg->rotation.jitter = DAY;
	cfg->rotation.batch_size = 50;
	cfg->rotation.rate_limit = 10;
	cfg->rotation.kerberos = 1;
	cfg->crl_refresh_before = DAY;
	cfg->server_cert_renew_before = 30 * DAY;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->mit.keytab_grace = 7 * DAY;
	cfg->ad.keytab_grace = 7 * DAY;
	cfg->ad.object_max_age = 90 * DAY;
	cfg->ad.acl_sid = CONFIG_ACL_SID_ACCOUNT;
	if ((cfg->ad.group_prefix = strdup("AMT-")) == NULL) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct cust_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->tls.client_ca_file);
	free(cfg->tls.client_crl_file);
	free(cfg->auth.negotiate_keytab);
	free(cfg->ad.uri);
	free(cfg->ad.ca_file);
	free(cfg->ad.bind);
	free(cfg->ad.bind_password_file);
	free(cfg->ad.sasl);
	free(cfg->ad.keytab);
	free(cfg->ad.base_dn);
	free(cfg->ad.realm);
	free(cfg->ad.group_prefix);
	free(cfg->ad.gc_uri);
	free(cfg->mit.realm);
	free(cfg->mit.kdc);
	free(cfg->mit.admin_server);
	free(cfg->mit.admin_principal);
	free(cfg->mit.admin_password_file);
	free(cfg->mit.admin_keytab);
	free(cfg);
}

int
config_parse(const char *name, const char *buf, size_t len, FILE *errs,
    struct cust_config **cfg_out)
{
	struct cctx c;
	struct arena *a = NULL;
	struct ynode *root = NULL;
	int r = CUST_E_INTERNAL, bad_tree = 0;

	*cfg_out = NULL;
	memset(&c, 0, sizeof(c));
	c.name = name;
	if (len > CONFIG_MAX_BYTES) {
		if (errs != NULL)
			fprintf(errs, "%s:1:1: the file is %zu bytes, over the "
			    "limit of %u\n", name, len, CONFIG_MAX_BYTES);
		return cust_fail(CUST_E_TOOBIG, "%s:1:1: the file is %zu bytes, "
		    "over the limit of %u", name, len, CONFIG_MAX_BYTES);
	}
	if ((c.cfg = config_defaults()) == NULL || (a = arena_new()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = ytree_build(a, "configuration", tree_problem, &c, buf, len, &root,
	    &bad_tree);
	if (r == CUST_E_NOMEM) {
		r = cust_fail(r, "out of memory");
		goto out;
	}
	if (r == CUST_OK && root != NULL && !(root->type == YN_SCALAR &&
	    root->cls == YS_NULL)) {
		if (root->type != YN_MAP)
			(void)bad(&c, root, "the configuration must be a "
			    "mapping of keys, not %s", ytree_type_name(root));
		else if (walk_map(&c, &top_t, root) == CUST_E_NOMEM) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if (c.nerr > 0) {
		r = flush_problems(&c, errs);
		goto out;
	}
	*cfg_out = c.cfg;
	c.cfg = NULL;
	r = CUST_OK;
out:
	free(c.probs);
	arena_free(a);
	config_free(c.cfg);
	return r;
}

int
config_load(const char *path, FILE *errs, struct cust_config **cfg_out)
{
	struct cust_config *cfg = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, r = CUST_E_INTERNAL;

	*cfg_out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		if (errno != ENOENT) {
			r = cust_fail(CUST_E_IO, "cannot open %s: %s", path,
			    strerror(errno));
			goto report;
		}
		if ((cfg = config_defaults()) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		*cfg_out = cfg;
		return CUST_OK;
	}
	if (fstat(fd, &st) == -1) {
		r = cust_fail(CUST_E_IO, "cannot stat %s: %s", path,
		    strerror(errno));
		goto report;
	}
	if ((r = util_check_file(&st, path)) != CUST_OK)
		goto report;
	if ((r = util_read_fd(fd, path, CONFIG_MAX_BYTES, &buf, &len)) !=
	    CUST_OK)
		goto report;
	if ((r = config_parse(path, buf, len, errs, &cfg)) != CUST_OK)
		goto out;
	if ((cfg->path = strdup(path)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	*cfg_out = cfg;
	cfg = NULL;
	r = CUST_OK;
	goto out;
report:
	if (errs != NULL && r != CUST_E_NOMEM) {
		char esc[1024];

		(void)util_escape(cust_errmsg(), esc, sizeof(esc));
		fprintf(errs, "%s\n", esc);
	}
out:
	free(buf);
	if (fd != -1)
		close(fd);
	config_free(cfg);
	return r;
}

int
config_load_dir(const char *state_dir, FILE *errs,
    struct cust_config **cfg_out)
{
	char *path;
	int r;

	*cfg_out = NULL;
	if ((path = util_path(state_dir, CONFIG_FILE)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	r = config_load(path, errs, cfg_out);
	free(path);
	return r;
}
