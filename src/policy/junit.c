/* SPDX-License-Identifier: MIT */
/* src/policy/junit.c - the report as JUnit XML: one test suite per file,
 * one test case per rule per console (classname = console), plus the
 * policy-wide rules (classname "policy") and the input rules (classname
 * "document"). A malformed file has only its document cases: the other
 * rules did not run.
 *
 * Every string here was cleaned by the report (no control characters,
 * valid UTF-8), so escaping the five XML specials is enough.
 *
 * Findings of input rules are <error>s, errors are <failure>s; warnings
 * are <failure>s only with --strict, otherwise they go to <system-out> so
 * that CI dashboards show them without failing the build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"

#define DOCUMENT	"document"
#define POLICYWIDE	"policy"

struct jref {
	const struct policy_finding *f;
	size_t file;
	size_t rule;
	size_t seq;
};

struct jctx {
	struct policy_report *rep;
	const struct policy_rule *rules;
	size_t nrules;
	struct jref *refs;	/* sorted by file, console, rule, position */
	size_t nrefs;
	unsigned flags;
	FILE *fp;		/* NULL while counting */
	size_t tests, failures, errors;
};

static const char *
cons_of(const struct jref *r)
{
	enum policy_scope s = r->f->rule->scope;

	if (s == POLICY_SCOPE_INPUT)
		return DOCUMENT;
	if (s == POLICY_SCOPE_POLICY || r->f->console == NULL)
		return POLICYWIDE;
	return r->f->console;
}

static int
refcmp(const void *x, const void *y)
{
	const struct jref *a = x, *b = y;
	int c;

	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	if ((c = strcmp(cons_of(a), cons_of(b))) != 0)
		return c;
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* First ref not before (file, console, rule). */
static size_t
lower_bound(const struct jctx *c, size_t file, const char *cons, size_t rule)
{
	size_t lo = 0, hi = c->nrefs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct jref *m = &c->refs[mid];
		int cmp;

		if (m->file != file)
			cmp = m->file < file ? -1 : 1;
		else if ((cmp = strcmp(cons_of(m), cons)) == 0)
			cmp = m->rule < rule ? -1 : m->rule > rule;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
xml_put(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", fp);
			break;
		case '<':
			fputs("&lt;", fp);
			break;
		case '>':
			fputs("&gt;", fp);
			break;
		case '"':
			fputs("&quot;", fp);
			break;
		case '\'':
			fputs("&apos;", fp);
			break;
		default:
			fputc(*s, fp);
		}
	}
}

static void
finding_line(FILE *fp, const struct policy_finding *f)
{
	xml_put(fp, f->file);
	fprintf(fp, ":%u:%u: %s: ", f->line, f->column,
	    f->severity == POLICY_SEV_ERROR ? "error" : "warning");
	xml_put(fp, f->message);
	fputc('\n', fp);
}

/* One test case: counts it, and writes it when c->fp is set. */
static void
test_case(struct jctx *c, size_t file, const char *cons, size_t rule)
{
	size_t i = lower_bound(c, file, cons, rule), j, nfail = 0, nerr = 0;
	const struct jref *first = NULL;
	const char *tag;
	FILE *fp = c->fp;

	for (j = i; j < c->nrefs && c->refs[j].file == file &&
	    c->refs[j].rule == rule && strcmp(cons_of(&c->refs[j]),
	    cons) == 0; j++) {
		const struct policy_finding *f = c->refs[j].f;

		if (f->rule->scope == POLICY_SCOPE_INPUT)
			nerr++;
		else if (f->severity == POLICY_SEV_ERROR ||
		    (c->flags & POLICY_STRICT))
			nfail++;
		if (first == NULL && (nerr > 0 || nfail > 0))
			first = &c->refs[j];
	}
	c->tests++;
	c->errors += nerr > 0;
	c->failures += nerr == 0 && nfail > 0;
	if (fp == NULL)
		return;
	fputs("    <testcase classname=\"", fp);
	xml_put(fp, cons);
	fprintf(fp, "\" name=\"%s\" file=\"", c->rules[rule].id);
	xml_put(fp, policy_rep_file_get(c->rep, file)->name);
	fputs("\"", fp);
	if (i == j) {
		fputs("/>\n", fp);
		return;
	}
	fputs(">\n", fp);
	if (first != NULL) {
		tag = nerr > 0 ? "error" : "failure";
		fprintf(fp, "      <%s type=\"%s\" message=\"", tag,
		    c->rules[rule].id);
		xml_put(fp, first->f->message);
		fputs("\">", fp);
		for (; i < j; i++)
			finding_line(fp, c->refs[i].f);
		fprintf(fp, "</%s>\n", tag);
	} else {
		fputs("      <system-out>", fp);
		for (; i < j; i++)
			finding_line(fp, c->refs[i].f);
		fputs("</system-out>\n", fp);
	}
	fputs("    </testcase>\n", fp);
}

static void
suite(struct jctx *c, size_t file)
{
	const struct policy_rep_file *rf = policy_rep_file_get(c->rep, file);
	size_t k, r;

	for (r = 0; r < c->nrules; r++)
		if (c->rules[r].scope == POLICY_SCOPE_INPUT)
			test_case(c, file, DOCUMENT, r);
	if (!rf->checked)
		return;
	for (r = 0; r < c->nrules; r++)
		if (c->rules[r].scope == POLICY_SCOPE_POLICY)
			test_case(c, file, POLICYWIDE, r);
	for (k = 0; k < rf->nconsoles; k++)
		for (r = 0; r < c->nrules; r++)
			if (c->rules[r].scope == POLICY_SCOPE_CONSOLE)
				test_case(c, file, rf->consoles[k], r);
}

int
policy_rep_write_junit(struct policy_report *rep, unsigned flags, FILE *fp)
{
	struct jctx c;
	size_t i, f, n = policy_report_count(rep);
	size_t tt = 0, tf = 0, te = 0;

	memset(&c, 0, sizeof(c));
	c.rep = rep;
	c.flags = flags;
	c.rules = policy_rules(&c.nrules);
	if (n > 0 && (c.refs = calloc(n, sizeof(*c.refs))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < n; i++) {
		const struct policy_finding *pf = policy_report_get(rep, i);

		c.refs[i].f = pf;
		c.refs[i].rule = (size_t)(pf->rule - c.rules);
		c.refs[i].seq = i;
		for (f = 0; f < policy_rep_nfiles(rep); f++)
			if (policy_rep_file_get(rep, f)->name == pf->file)
				c.refs[i].file = f;
	}
	c.nrefs = n;
	if (n > 1)
		qsort(c.refs, n, sizeof(*c.refs), refcmp);
	/* Totals first: the root element carries them. */
	for (f = 0; f < policy_rep_nfiles(rep); f++)
		suite(&c, f);
	fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<testsuites name=\"custody policy check\" tests=\"%zu\" "
	    "failures=\"%zu\" errors=\"%zu\">\n", c.tests, c.failures,
	    c.errors);
	for (f = 0; f < policy_rep_nfiles(rep); f++) {
		c.tests = c.failures = c.errors = 0;
		suite(&c, f);
		tt = c.tests;
		tf = c.failures;
		te = c.errors;
		c.tests = c.failures = c.errors = 0;
		fputs("  <testsuite name=\"", fp);
		xml_put(fp, policy_rep_file_get(rep, f)->name);
		fprintf(fp, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		    "skipped=\"0\">\n", tt, tf, te);
		c.fp = fp;
		suite(&c, f);
		c.fp = NULL;
		fputs("  </testsuite>\n", fp);
	}
	fputs("</testsuites>\n", fp);
	free(c.refs);
	return ferror(fp) ? CUST_E_IO : CUST_OK;
}
