/* SPDX-License-Identifier: MIT */
/* include/ytree.h - strict YAML reading shared by the policy and the
 * service configuration: libyaml events to a tree of positioned nodes.
 *
 * Every node keeps its 1-based line and column (columns count characters,
 * not bytes). Anchors, aliases, tags, %TAG directives, second documents,
 * non-scalar and duplicate mapping keys are refused at their position;
 * depth and node count are bounded. What a document's keys mean is for
 * its reader (src/policy/parse.c, src/config/config.c). Needs libyaml and
 * libc only: custody-policy links it.
 */
#ifndef CUST_YTREE_H
#define CUST_YTREE_H

#include <stdarg.h>
#include <stddef.h>

#include "arena.h"

enum ynode_type {
	YN_SCALAR,
	YN_SEQ,
	YN_MAP,
	YN_BAD,		/* an alias or otherwise refused node: skipped */
};

/* Scalar classes, as YAML 1.1/1.2 resolvers would read a plain scalar. */
enum yscalar {
	YS_STR,		/* any quoted scalar, or plain that is nothing else */
	YS_NULL,	/* plain "", "~", "null" */
	YS_BOOL,	/* plain true/false/yes/no/on/off */
	YS_INT,		/* plain decimal integer */
};

struct ynode {
	enum ynode_type type;
	enum yscalar cls;	/* scalars only */
	unsigned line, col;	/* 1-based */
	const char *str;	/* scalars: NUL-terminated value */
	size_t len;
	struct ynode **kids;	/* seq: items; map: key, value, key, value */
	size_t nkids;
};

#define YAML_MAX_DEPTH	32
#define YAML_MAX_NODES	500000

/* What the tree builder refuses, for the reader to file under its own
 * rule names. */
enum ytree_problem {
	YT_SYNTAX,		/* libyaml could not parse the text */
	YT_FEATURE,		/* anchor, alias, tag, 2nd document, limits */
	YT_DUPLICATE_KEY,
	YT_WRONG_TYPE,		/* a mapping key that is not a scalar */
	YT_BAD_VALUE,		/* a NUL inside a string */
};

/* Called once per problem with its position and message; returns CUST_OK
 * or CUST_E_NOMEM (which stops the build). */
typedef int (*ytree_report_fn)(void *ctx, unsigned line, unsigned col,
    enum ytree_problem p, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/*
 * Build the tree of buf[0..len) into arena a (nodes and strings are owned
 * by a). noun names the document in messages ("policy": "an anchor is not
 * allowed in a policy"). Problems go to report(ctx, ...). Returns CUST_OK
 * with *root_out (NULL for an empty stream), or CUST_E_PARSE after a
 * syntax error (no tree), or CUST_E_NOMEM. *bad_out is set when the tree
 * was built but problems were reported: it may be walked, but the input is
 * malformed.
 */
int ytree_build(struct arena *a, const char *noun, ytree_report_fn report,
    void *ctx, const char *buf, size_t len, struct ynode **root_out,
    int *bad_out) __attribute__((warn_unused_result));

/* "a sequence", "a mapping", "null", "a boolean", "an integer", "a string":
 * what node n is, for messages. */
const char *ytree_type_name(const struct ynode *n);

/* The value of a YS_BOOL scalar: 1 for true/yes/on/y in any of their
 * spellings, 0 otherwise. */
int ytree_bool(const struct ynode *n);

#endif
