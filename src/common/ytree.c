/* SPDX-License-Identifier: MIT */
/* src/common/ytree.c - libyaml events to a tree of positioned nodes, for
 * the policy and the service configuration alike.
 *
 * libyaml's document API loses nothing we need, but it expands aliases and
 * keeps no trace of duplicate keys, so the tree is built from the event
 * stream instead: every node keeps the start mark of its event (1-based
 * here), and everything a strict reader refuses is reported at its own
 * position.
 * Anchors and aliases are refused outright, which also closes the door on
 * alias bombs ("billion laughs"); depth and node count are bounded.
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "err.h"
#include "ytree.h"

struct frame {
	struct ynode *node;
	size_t start;		/* first pending child of this container */
};

struct builder {
	struct arena *a;
	const char *noun;	/* "policy", "configuration" */
	ytree_report_fn report;
	void *ctx;
	struct ynode **pend;	/* children of the open containers */
	size_t npend, cappend;
	struct frame frames[YAML_MAX_DEPTH];
	int depth;
	size_t nodes;
	struct ynode *root;
	int bad;		/* input findings were reported */
};

static int __attribute__((format(printf, 4, 5)))
at(struct builder *b, const yaml_mark_t *m, enum ytree_problem p,
    const char *fmt, ...)
{
	va_list ap;
	int rc;

	b->bad = 1;
	va_start(ap, fmt);
	rc = b->report(b->ctx, (unsigned)m->line + 1, (unsigned)m->column + 1,
	    p, fmt, ap);
	va_end(ap);
	return rc;
}

static int
streq(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return 1;
	return 0;
}

/*
 * How a YAML 1.1 resolver (PyYAML, libyaml-based tools, most CI linters)
 * would read a plain scalar. A policy or a configuration is read by people
 * and by other tools too, so a plain "no" must not be a string here and a boolean there.
 */
static enum yscalar
classify(const char *s, size_t len)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL",
	    NULL };
	static const char *const bools[] = { "true", "True", "TRUE", "false",
	    "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO", "on",
	    "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", NULL };
	size_t i = 0;

	if (streq(s, nulls))
		return YS_NULL;
	if (streq(s, bools))
		return YS_BOOL;
	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (i == len || len - i > 18)
		return YS_STR;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return YS_STR;
	return YS_INT;
}

static struct ynode *
node_new(struct builder *b, enum ynode_type t, const yaml_mark_t *m)
{
	struct ynode *n;

	if (++b->nodes > YAML_MAX_NODES)
		return NULL;
	if ((n = arena_alloc(b->a, sizeof(*n))) == NULL)
		return NULL;
	n->type = t;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	return n;
}

/* Attach a finished node to its parent (or make it the root). */
static int
attach(struct builder *b, struct ynode *n)
{
	if (b->depth == 0) {
		b->root = n;
		return CUST_OK;
	}
	if (b->npend == b->cappend) {
		size_t ncap = b->cappend ? b->cappend * 2 : 256;
		struct ynode **np = realloc(b->pend, ncap * sizeof(*np));

		if (np == NULL)
			return CUST_E_NOMEM;
		b->pend = np;
		b->cappend = ncap;
	}
	b->pend[b->npend++] = n;
	return CUST_OK;
}

/* Anchors and explicit tags are refused on any node. */
static int
refuse_props(struct builder *b, const yaml_mark_t *m,
    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	if (anchor != NULL && at(b, m, YT_FEATURE, "anchor '&%.64s' is "
	    "not allowed in a %s: write the value out in full",
	    (const char *)anchor, b->noun) != CUST_OK)
		return CUST_E_NOMEM;
	if (tag != NULL && at(b, m, YT_FEATURE, "tag '%.64s' is not "
	    "allowed in a %s", (const char *)tag, b->noun) != CUST_OK)
		return CUST_E_NOMEM;
	return CUST_OK;
}

struct keyref {
	const struct ynode *key;
	size_t idx;
};

static int
keycmp(const void *x, const void *y)
{
	const struct keyref *a = x, *b = y;
	size_t n = a->key->len < b->key->len ? a->key->len : b->key->len;
	int c = memcmp(a->key->str, b->key->str, n);

	if (c != 0)
		return c;
	if (a->key->len != b->key->len)
		return a->key->len < b->key->len ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/*
 * Every key must be a scalar, and no two equal: sorting keeps this
 * O(n log n) for the consoles mapping of a large fleet.
 */
static int
check_keys(struct builder *b, struct ynode *map)
{
	size_t n = map->nkids / 2, i, k = 0;
	struct keyref *refs;
	int r = CUST_OK;

	if (n < 2 && (n == 0 || map->kids[0]->type == YN_SCALAR))
		return CUST_OK;
	if ((refs = malloc(n * sizeof(*refs))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < n; i++) {
		struct ynode *key = map->kids[2 * i];

		if (key->type == YN_SCALAR) {
			refs[k].key = key;
			refs[k++].idx = i;
		} else if (key->type != YN_BAD) {
			yaml_mark_t m = { 0, key->line - 1, key->col - 1 };

			if ((r = at(b, &m, YT_WRONG_TYPE, "a mapping key must "
			    "be a scalar, not a %s", key->type == YN_SEQ ?
			    "sequence" : "mapping")) != CUST_OK)
				goto out;
		}
	}
	qsort(refs, k, sizeof(*refs), keycmp);
	for (i = 1; i < k; i++) {
		const struct ynode *first, *dup = refs[i].key;
		size_t j = i;
		yaml_mark_t m;

		while (j > 0 && refs[j - 1].key->len == dup->len &&
		    memcmp(refs[j - 1].key->str, dup->str, dup->len) == 0)
			j--;
		if (j == i)
			continue;
		first = refs[j].key;
		m.index = 0;
		m.line = dup->line - 1;
		m.column = dup->col - 1;
		if ((r = at(b, &m, YT_DUPLICATE_KEY, "duplicate key '%.64s' "
		    "(first at line %u, column %u)", dup->str, first->line,
		    first->col)) != CUST_OK)
			goto out;
	}
out:
	free(refs);
	return r;
}

static int
open_container(struct builder *b, enum ynode_type t, const yaml_mark_t *m)
{
	struct ynode *n;

	if (b->depth == YAML_MAX_DEPTH) {
		(void)at(b, m, YT_FEATURE, "nesting deeper than %d levels",
		    YAML_MAX_DEPTH);
		return CUST_E_PARSE;
	}
	if ((n = node_new(b, t, m)) == NULL)
		goto nomem;
	b->frames[b->depth].node = n;
	b->frames[b->depth].start = b->npend;
	b->depth++;
	return CUST_OK;
nomem:
	if (b->nodes > YAML_MAX_NODES) {
		(void)at(b, m, YT_FEATURE, "more than %d nodes",
		    YAML_MAX_NODES);
		return CUST_E_PARSE;
	}
	return CUST_E_NOMEM;
}

static int
close_container(struct builder *b)
{
	struct frame *f = &b->frames[--b->depth];
	struct ynode *n = f->node;
	size_t cnt = b->npend - f->start;

	if (cnt > 0) {
		n->kids = arena_alloc(b->a, cnt * sizeof(*n->kids));
		if (n->kids == NULL)
			return CUST_E_NOMEM;
		memcpy(n->kids, b->pend + f->start, cnt * sizeof(*n->kids));
	}
	n->nkids = cnt;
	b->npend = f->start;
	if (n->type == YN_MAP && check_keys(b, n) != CUST_OK)
		return CUST_E_NOMEM;
	return attach(b, n);
}

static int
scalar(struct builder *b, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct ynode *n;
	size_t len = ev->data.scalar.length;
	const char *v = (const char *)ev->data.scalar.value;

	if (refuse_props(b, m, ev->data.scalar.anchor,
	    ev->data.scalar.tag) != CUST_OK)
		return CUST_E_NOMEM;
	if ((n = node_new(b, YN_SCALAR, m)) == NULL) {
		if (b->nodes > YAML_MAX_NODES) {
			(void)at(b, m, YT_FEATURE, "more than %d nodes",
			    YAML_MAX_NODES);
			return CUST_E_PARSE;
		}
		return CUST_E_NOMEM;
	}
	if ((n->str = arena_strndup(b->a, v, len)) == NULL)
		return CUST_E_NOMEM;
	n->len = len;
	if (memchr(v, '\0', len) != NULL) {
		n->type = YN_BAD;
		if (at(b, m, YT_BAD_VALUE, "a string may not contain a NUL "
		    "character") != CUST_OK)
			return CUST_E_NOMEM;
	}
	n->cls = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ?
	    classify(n->str, len) : YS_STR;
	return attach(b, n);
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte
 * offset only: count lines and characters up to it. */
static yaml_mark_t
offset_mark(const char *buf, size_t len, size_t off)
{
	yaml_mark_t m = { off, 0, 0 };
	size_t i;

	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static int
syntax_error(struct builder *b, const yaml_parser_t *ps, const char *buf,
    size_t len)
{
	yaml_mark_t m = ps->error == YAML_READER_ERROR ?
	    offset_mark(buf, len, ps->problem_offset) : ps->problem_mark;
	const char *problem = ps->problem ? ps->problem : "syntax error";

	if (ps->error == YAML_MEMORY_ERROR)
		return CUST_E_NOMEM;
	if (ps->context != NULL)
		(void)at(b, &m, YT_SYNTAX, "%s (%s at line %u, column %u)",
		    problem, ps->context, (unsigned)ps->context_mark.line + 1,
		    (unsigned)ps->context_mark.column + 1);
	else
		(void)at(b, &m, YT_SYNTAX, "%s", problem);
	return CUST_E_PARSE;
}

/* One event into the tree. CUST_OK to go on, 1 at the end of the
 * stream, or an error. */
static int
event(struct builder *b, const yaml_event_t *ev, int *docs)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct ynode *n;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			(void)at(b, m, YT_FEATURE, "a %s file holds one "
			    "YAML document; this is a second one", b->noun);
			return 1;
		}
		if (ev->data.document_start.tag_directives.start !=
		    ev->data.document_start.tag_directives.end &&
		    at(b, m, YT_FEATURE, "%%TAG directives are not "
		    "allowed in a %s", b->noun) != CUST_OK)
			return CUST_E_NOMEM;
		return CUST_OK;
	case YAML_SCALAR_EVENT:
		return scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		if (refuse_props(b, m, ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag) != CUST_OK)
			return CUST_E_NOMEM;
		return open_container(b, YN_SEQ, m);
	case YAML_MAPPING_START_EVENT:
		if (refuse_props(b, m, ev->data.mapping_start.anchor,
		    ev->data.mapping_start.tag) != CUST_OK)
			return CUST_E_NOMEM;
		return open_container(b, YN_MAP, m);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_container(b);
	case YAML_ALIAS_EVENT:
		if (at(b, m, YT_FEATURE, "alias '*%.64s' is not allowed "
		    "in a %s: write the value out in full",
		    (const char *)ev->data.alias.anchor, b->noun) != CUST_OK)
			return CUST_E_NOMEM;
		if ((n = node_new(b, YN_BAD, m)) == NULL)
			return CUST_E_NOMEM;
		return attach(b, n);
	default:
		return CUST_OK;
	}
}

int
ytree_build(struct arena *a, const char *noun, ytree_report_fn report,
    void *ctx, const char *buf, size_t len, struct ynode **root_out,
    int *bad_out)
{
	struct builder b;
	yaml_parser_t ps;
	yaml_event_t ev;
	int r = CUST_OK, docs = 0;

	*root_out = NULL;
	*bad_out = 0;
	memset(&b, 0, sizeof(b));
	b.a = a;
	b.noun = noun;
	b.report = report;
	b.ctx = ctx;
	if (!yaml_parser_initialize(&ps))
		return CUST_E_NOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&ps, &ev)) {
			r = syntax_error(&b, &ps, buf, len);
			break;
		}
		r = event(&b, &ev, &docs);
		yaml_event_delete(&ev);
		if (r != CUST_OK)
			break;
	}
	yaml_parser_delete(&ps);
	free(b.pend);
	if (r < 0)
		return r;
	*root_out = b.root;
	*bad_out = b.bad;
	return CUST_OK;
}

const char *
ytree_type_name(const struct ynode *n)
{
	if (n->type == YN_SEQ)
		return "a sequence";
	if (n->type == YN_MAP)
		return "a mapping";
	switch (n->cls) {
	case YS_NULL:
		return "null";
	case YS_BOOL:
		return "a boolean";
	case YS_INT:
		return "an integer";
	default:
		return "a string";
	}
}

int
ytree_bool(const struct ynode *n)
{
	static const char *const truths[] = { "true", "True", "TRUE", "yes",
	    "Yes", "YES", "on", "On", "ON", "y", "Y", NULL };

	return n->type == YN_SCALAR && n->cls == YS_BOOL &&
	    streq(n->str, truths);
}
