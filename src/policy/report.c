/* SPDX-License-Identifier: MIT */
/* src/policy/report.c - findings of one check run over one or more files,
 * and the text and JSON renderings.
 *
 * The report owns copies of every string it shows (file names, console
 * names, messages) in its own arena, so policies can be freed as soon as
 * they are checked; a CI run over many files keeps only the findings.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"
#include "util.h"

struct rfinding {
	struct policy_finding f;
	size_t file;		/* index into files */
	size_t seq;		/* order found: keeps sorting stable */
};

struct policy_report {
	struct arena *a;
	struct rfinding *v;
	size_t n, cap;
	struct policy_rep_file *files;
	size_t nfiles, capfiles;
	size_t errors, warnings;
	int input;		/* an input finding: exit 2 */
};

/* Cleaning replaces what util_escape() would escape with '?': findings
 * keep their columns and never grow. */
void
policy_rep_clean(const char *in, char *out, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, n;
	uint32_t cp;

	if (len == 0)
		return;
	while (*s != '\0') {
		n = util_utf8_char(s, &cp);
		if (n == 0 || util_unsafe_cp(cp)) {
			if (o + 1 >= len)
				break;
			out[o++] = '?';
			s += n ? n : 1;
			continue;
		}
		if (o + n >= len)
			break;		/* never cut a character in two */
		memmove(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
}

char *
policy_rep_clean_dup(struct arena *a, const char *in)
{
	size_t len = strlen(in) + 1;	/* cleaning never lengthens */
	char *out = arena_alloc(a, len);

	if (out != NULL)
		policy_rep_clean(in, out, len);
	return out;
}

struct policy_report *
policy_report_new(void)
{
	struct policy_report *rep = calloc(1, sizeof(*rep));

	if (rep == NULL)
		return NULL;
	if ((rep->a = arena_new()) == NULL) {
		free(rep);
		return NULL;
	}
	return rep;
}

void
policy_report_free(struct policy_report *rep)
{
	if (rep == NULL)
		return;
	arena_free(rep->a);
	free(rep->v);
	free(rep->files);
	free(rep);
}

const char *
policy_rep_file(struct policy_report *rep, const char *file)
{
	struct policy_rep_file *rf;

	if (rep->nfiles == rep->capfiles) {
		size_t ncap = rep->capfiles ? rep->capfiles * 2 : 8;
		struct policy_rep_file *nf = realloc(rep->files,
		    ncap * sizeof(*nf));

		if (nf == NULL)
			return NULL;
		rep->files = nf;
		rep->capfiles = ncap;
	}
	rf = &rep->files[rep->nfiles];
	memset(rf, 0, sizeof(*rf));
	if ((rf->name = policy_rep_clean_dup(rep->a, file)) == NULL)
		return NULL;
	rep->nfiles++;
	return rf->name;
}

/* The latest entry for file (files may repeat on a command line). */
static size_t
file_index(const struct policy_report *rep, const char *file)
{
	size_t i;

	for (i = rep->nfiles; i > 0; i--)
		if (rep->files[i - 1].name == file ||
		    strcmp(rep->files[i - 1].name, file) == 0)
			return i - 1;
	return rep->nfiles;
}

int
policy_rep_consoles(struct policy_report *rep, const char *file,
    const struct pconsole *c, size_t n)
{
	size_t fi = file_index(rep, file), i;
	struct policy_rep_file *rf;

	if (fi == rep->nfiles)
		return CUST_E_INTERNAL;
	rf = &rep->files[fi];
	if (n > 0 && (rf->consoles = arena_alloc(rep->a,
	    n * sizeof(*rf->consoles))) == NULL)
		return CUST_E_NOMEM;
	for (i = 0; i < n; i++)
		if ((rf->consoles[i] = policy_rep_clean_dup(rep->a, c[i].name)) ==
		    NULL)
			return CUST_E_NOMEM;
	rf->nconsoles = n;
	rf->checked = 1;
	return CUST_OK;
}

size_t
policy_rep_nfiles(const struct policy_report *rep)
{
	return rep->nfiles;
}

const struct policy_rep_file *
policy_rep_file_get(const struct policy_report *rep, size_t i)
{
	return i < rep->nfiles ? &rep->files[i] : NULL;
}

int
policy_rep_addv(struct policy_report *rep, const char *file, unsigned line,
    unsigned col, enum rule_idx r, enum policy_severity sev,
    const char *console, const char *fmt, va_list ap)
{
	char msg[1024];
	struct rfinding *f;
	size_t fi = file_index(rep, file);

	if (fi == rep->nfiles && (file = policy_rep_file(rep, file)) == NULL)
		return CUST_E_NOMEM;
	fi = file_index(rep, file);
	if (rep->n == rep->cap) {
		size_t ncap = rep->cap ? rep->cap * 2 : 32;
		struct rfinding *nv = realloc(rep->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return CUST_E_NOMEM;
		rep->v = nv;
		rep->cap = ncap;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Names come from the file: keep terminal escapes out of logs, and
	 * a character cut by the size limit out of JSON. */
	policy_rep_clean(msg, msg, sizeof(msg));
	f = &rep->v[rep->n];
	memset(f, 0, sizeof(*f));
	f->f.file = rep->files[fi].name;
	f->f.line = line;
	f->f.column = line ? col : 0;
	f->f.rule = policy_rule_get(r);
	f->f.severity = sev ? sev : f->f.rule->severity;
	if ((f->f.message = arena_strdup(rep->a, msg)) == NULL)
		return CUST_E_NOMEM;
	if (console != NULL &&
	    (f->f.console = policy_rep_clean_dup(rep->a, console)) == NULL)
		return CUST_E_NOMEM;
	f->file = fi;
	f->seq = rep->n;
	rep->n++;
	if (f->f.severity == POLICY_SEV_ERROR)
		rep->errors++;
	else
		rep->warnings++;
	if (f->f.rule->scope == POLICY_SCOPE_INPUT)
		rep->input = 1;
	return CUST_OK;
}

int
policy_rep_add(struct policy_report *rep, const char *file,
    const struct ynode *n,
    enum rule_idx r, enum policy_severity sev, const char *console,
    const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = policy_rep_addv(rep, file, n ? n->line : 0, n ? n->col : 0, r, sev,
	    console, fmt, ap);
	va_end(ap);
	return rc;
}

size_t
policy_report_count(const struct policy_report *rep)
{
	return rep->n;
}

const struct policy_finding *
policy_report_get(const struct policy_report *rep, size_t i)
{
	return i < rep->n ? &rep->v[i].f : NULL;
}

size_t
policy_report_errors(const struct policy_report *rep)
{
	return rep->errors;
}

size_t
policy_report_warnings(const struct policy_report *rep)
{
	return rep->warnings;
}

int
policy_report_exit(const struct policy_report *rep, unsigned flags)
{
	if (rep->input)
		return CUST_EXIT_USAGE;
	if (rep->errors > 0 || ((flags & POLICY_STRICT) && rep->warnings > 0))
		return CUST_EXIT_FAIL;
	return CUST_EXIT_OK;
}

static int
poscmp(const void *x, const void *y)
{
	const struct rfinding *a = x, *b = y;

	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	if (a->f.line != b->f.line)
		return a->f.line < b->f.line ? -1 : 1;
	if (a->f.column != b->f.column)
		return a->f.column < b->f.column ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void
policy_rep_sort(struct policy_report *rep)
{
	if (rep->n > 1)
		qsort(rep->v, rep->n, sizeof(*rep->v), poscmp);
}

void
policy_rep_finding_key(const struct policy_finding *f, char *buf, size_t len)
{
	const char *m = f->message;
	size_t o;
	int n;

	n = snprintf(buf, len, "%s\x1f%s\x1f", f->rule->id,
	    f->console ? f->console : "");
	if (n < 0 || (size_t)n >= len)
		return;
	o = (size_t)n;
	while (*m != '\0' && o + 1 < len) {
		size_t w = strncmp(m, "line ", 5) == 0 ? 5 :
		    strncmp(m, "column ", 7) == 0 ? 7 : 0;

		if (w > 0 && m[w] >= '0' && m[w] <= '9') {
			if (o + w + 2 > len)
				break;
			memcpy(buf + o, m, w);
			o += w;
			buf[o++] = '#';
			for (m += w; *m >= '0' && *m <= '9'; m++)
				;
			continue;
		}
		buf[o++] = *m++;
	}
	buf[o] = '\0';
}

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0) {
		h ^= *b++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void
policy_rep_fingerprint(const struct policy_finding *f, unsigned occurrence,
    char out[17])
{
	char key[1400];
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	policy_rep_finding_key(f, key, sizeof(key));
	h = fnv1a(h, f->file, strlen(f->file) + 1);
	h = fnv1a(h, key, strlen(key) + 1);
	h = fnv1a(h, &occurrence, sizeof(occurrence));
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

struct okey {
	size_t file, seq;
	char *key;
};

static int
okeycmp(const void *x, const void *y)
{
	const struct okey *a = x, *b = y;
	int c;

	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	if ((c = strcmp(a->key, b->key)) != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

unsigned *
policy_rep_occurrences(const struct policy_report *rep)
{
	char key[1400];
	struct okey *k = NULL;
	unsigned *occ = NULL;
	size_t i, n = rep->n;

	if (n == 0 || (occ = calloc(n, sizeof(*occ))) == NULL ||
	    (k = calloc(n, sizeof(*k))) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		policy_rep_finding_key(&rep->v[i].f, key, sizeof(key));
		k[i].file = rep->v[i].file;
		k[i].seq = i;
		if ((k[i].key = strdup(key)) == NULL)
			goto fail;
	}
	qsort(k, n, sizeof(*k), okeycmp);
	for (i = 1; i < n; i++)
		if (k[i].file == k[i - 1].file &&
		    strcmp(k[i].key, k[i - 1].key) == 0)
			occ[k[i].seq] = occ[k[i - 1].seq] + 1;
	for (i = 0; i < n; i++)
		free(k[i].key);
	free(k);
	return occ;
fail:
	for (i = 0; k != NULL && i < n; i++)
		free(k[i].key);
	free(k);
	free(occ);
	return NULL;
}

static const char *
sev_name(enum policy_severity s)
{
	return s == POLICY_SEV_ERROR ? "error" : "warning";
}

int
policy_rep_write_text(struct policy_report *rep, FILE *fp)
{
	size_t i;

	for (i = 0; i < rep->n; i++) {
		const struct policy_finding *f = &rep->v[i].f;

		if (f->line > 0)
			fprintf(fp, "%s:%u:%u: %s: %s [%s]\n", f->file, f->line,
			    f->column, sev_name(f->severity), f->message,
			    f->rule->id);
		else
			fprintf(fp, "%s: %s: %s [%s]\n", f->file,
			    sev_name(f->severity), f->message, f->rule->id);
	}
	return CUST_OK;
}

json_t *
policy_rep_finding_json(const struct policy_finding *f)
{
	return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s?, s:s}",
	    "file", f->file, "line", (json_int_t)f->line,
	    "column", (json_int_t)f->column, "severity", sev_name(f->severity),
	    "rule", f->rule->id, "console", f->console, "message", f->message);
}

json_t *
policy_rep_json(struct policy_report *rep)
{
	json_t *doc, *files, *findings;
	size_t i;

	doc = json_pack("{s:[], s:[], s:I, s:I}", "files", "findings",
	    "errors", (json_int_t)rep->errors,
	    "warnings", (json_int_t)rep->warnings);
	if (doc == NULL)
		return NULL;
	files = json_object_get(doc, "files");
	findings = json_object_get(doc, "findings");
	for (i = 0; i < rep->nfiles; i++) {
		const struct policy_rep_file *rf = &rep->files[i];

		if (json_array_append_new(files, json_pack("{s:s, s:b, s:I}",
		    "file", rf->name, "checked", rf->checked,
		    "consoles", (json_int_t)rf->nconsoles)) != 0)
			goto fail;
	}
	for (i = 0; i < rep->n; i++)
		if (json_array_append_new(findings,
		    policy_rep_finding_json(&rep->v[i].f)) != 0)
			goto fail;
	return doc;
fail:
	json_decref(doc);
	return NULL;
}

static int
write_json(json_t *doc, FILE *fp)
{
	int r;

	if (doc == NULL)
		return CUST_E_NOMEM;
	r = json_dumpf(doc, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
	    fputc('\n', fp) != EOF ? CUST_OK : CUST_E_IO;
	json_decref(doc);
	return r;
}

int
policy_format_parse(const char *s, enum policy_format *fmt_out)
{
	static const char *const names[] = { "text", "json", "sarif",
	    "junit", "codeclimate" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*fmt_out = (enum policy_format)i;
			return CUST_OK;
		}
	return cust_fail(CUST_E_INVAL, "unknown format '%.64s' (text, json, "
	    "sarif, junit or codeclimate)", s);
}

int
policy_report_write(struct policy_report *rep, enum policy_format fmt,
    unsigned flags, FILE *fp)
{
	int r;

	policy_rep_sort(rep);
	switch (fmt) {
	case POLICY_FMT_JSON:
		r = write_json(policy_rep_json(rep), fp);
		break;
	case POLICY_FMT_SARIF:
		r = write_json(policy_rep_sarif(rep), fp);
		break;
	case POLICY_FMT_JUNIT:
		r = policy_rep_write_junit(rep, flags, fp);
		break;
	case POLICY_FMT_CODECLIMATE:
		r = write_json(policy_rep_codeclimate(rep), fp);
		break;
	default:
		r = policy_rep_write_text(rep, fp);
	}
	if (r == CUST_OK && (fflush(fp) == EOF || ferror(fp)))
		r = cust_fail(CUST_E_IO, "cannot write the report");
	return r;
}
