/* SPDX-License-Identifier: MIT */
/* src/policy/diff_out.c - the privilege diff as text (terminals, CI logs),
 * Markdown (a pull-request comment) or JSON.
 *
 * Every name in a diff comes from a policy file, which in a pull request
 * is written by whoever opened it. Both outputs first replace what
 * policy_rep_clean() refuses (controls, bidirectional overrides, invalid
 * UTF-8); Markdown output then backslash-escapes every ASCII punctuation
 * character (CommonMark allows that for all of them) so a console called
 * "[x](http://...)" or "<img ...>" stays literal text in the comment, and
 * never puts such names inside code spans, where escapes do not work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"

/* ---- text ---- */

/* s as policy_rep_clean() makes it safe, through put (NULL: as it is). */
static void
put_clean(FILE *fp, const char *s, void (*put)(FILE *, const char *))
{
	char buf[512], *p = buf;
	size_t len;

	if (s == NULL)
		return;
	len = strlen(s) + 1;
	if (len > sizeof(buf) && (p = malloc(len)) == NULL) {
		fputs("?", fp);
		return;
	}
	policy_rep_clean(s, p, len);
	if (put != NULL)
		put(fp, p);
	else
		fputs(p, fp);
	if (p != buf)
		free(p);
}

static void
put_text(FILE *fp, const char *s)
{
	put_clean(fp, s, NULL);
}

/* Items of a JSON array of strings, comma-separated, each prefixed. */
static void
put_list(FILE *fp, json_t *a, const char *prefix,
    void (*put)(FILE *, const char *))
{
	json_t *x;
	size_t i;

	json_array_foreach(a, i, x) {
		fputs(i ? ", " : "", fp);
		fputs(prefix, fp);
		put(fp, json_string_value(x));
	}
}

static void
put_scope(FILE *fp, json_t *s, void (*put)(FILE *, const char *))
{
	if (json_is_null(s)) {
		fputs("(none)", fp);
	} else if (json_is_string(s)) {
		put(fp, json_string_value(s));
	} else if (json_array_size(s) == 0) {
		fputs("no device", fp);
	} else {
		fputs("devices tagged ", fp);
		put_list(fp, s, "", put);
	}
}

static void
text_unit(FILE *fp, json_t *u)
{
	static const char *const keys[][2] = {
		{ "realms_gained", "gains " }, { "realms_lost", "loses " },
		{ "access_gained", "gains access " },
		{ "access_lost", "loses access " },
	};
	size_t k;
	int first = 1;

	fputs("    ", fp);
	put_text(fp, json_string_value(json_object_get(u, "scope")));
	fputs(":", fp);
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		json_t *a = json_object_get(u, keys[k][0]);

		if (json_array_size(a) == 0)
			continue;
		fprintf(fp, "%s %s", first ? "" : ";", keys[k][1]);
		put_list(fp, a, "", put_text);
		first = 0;
	}
	fputc('\n', fp);
}

static void
text_pair(FILE *fp, json_t *e, const char *key, const char *label)
{
	json_t *p = json_object_get(e, key);

	if (p == NULL)
		return;
	fprintf(fp, "    %s: ", label);
	put_text(fp, json_is_string(json_object_get(p, "old")) ?
	    json_string_value(json_object_get(p, "old")) : "(none)");
	fputs(" -> ", fp);
	put_text(fp, json_is_string(json_object_get(p, "new")) ?
	    json_string_value(json_object_get(p, "new")) : "(none)");
	fputc('\n', fp);
}

static void
text_finding(FILE *fp, const char *sign, json_t *f)
{
	fprintf(fp, "  %s ", sign);
	put_text(fp, json_string_value(json_object_get(f, "file")));
	if (json_integer_value(json_object_get(f, "line")) > 0)
		fprintf(fp, ":%lld:%lld", json_integer_value(json_object_get(f,
		    "line")), json_integer_value(json_object_get(f, "column")));
	fprintf(fp, ": %s: ", json_string_value(json_object_get(f,
	    "severity")));
	put_text(fp, json_string_value(json_object_get(f, "message")));
	fprintf(fp, " [%s]\n", json_string_value(json_object_get(f, "rule")));
}

static void
write_text(json_t *d, FILE *fp)
{
	json_t *owner = json_object_get(d, "owner"), *e, *u, *x;
	size_t i, k;

	fputs("policy diff: ", fp);
	put_text(fp, json_string_value(json_object_get(d, "old")));
	fputs(" -> ", fp);
	put_text(fp, json_string_value(json_object_get(d, "new")));
	fputc('\n', fp);
	if (json_is_true(json_object_get(owner, "changed")))
		text_pair(fp, d, "owner", "owner");
	text_pair(fp, d, "directory", "directory");
	json_array_foreach(json_object_get(d, "consoles"), i, e) {
		const char *ch = json_string_value(json_object_get(e,
		    "change"));

		fprintf(fp, "%c console ", ch[0] == 'a' ? '+' : ch[0] == 'r' ?
		    '-' : '~');
		put_text(fp, json_string_value(json_object_get(e, "console")));
		fprintf(fp, " (%s)%s\n", ch, json_is_true(json_object_get(e,
		    "escalation")) ? " ESCALATION" : "");
		text_pair(fp, e, "certificate", "certificate");
		text_pair(fp, e, "kerberos", "kerberos");
		text_pair(fp, e, "auth", "authentication");
		text_pair(fp, e, "username", "digest user");
		if ((x = json_object_get(e, "scope")) != NULL) {
			fputs("    scope: ", fp);
			put_scope(fp, json_object_get(x, "old"), put_text);
			fputs(" -> ", fp);
			put_scope(fp, json_object_get(x, "new"), put_text);
			fputc('\n', fp);
		}
		if (json_array_size(json_object_get(e, "duties_gained")) +
		    json_array_size(json_object_get(e, "duties_lost")) > 0) {
			fputs("    duties: ", fp);
			put_list(fp, json_object_get(e, "duties_gained"), "+",
			    put_text);
			if (json_array_size(json_object_get(e,
			    "duties_gained")) > 0 && json_array_size(
			    json_object_get(e, "duties_lost")) > 0)
				fputs(", ", fp);
			put_list(fp, json_object_get(e, "duties_lost"), "-",
			    put_text);
			fputc('\n', fp);
		}
		json_array_foreach(json_object_get(e, "scopes"), k, u)
			text_unit(fp, u);
	}
	json_array_foreach(json_object_get(d, "findings_added"), i, x)
		text_finding(fp, "+", x);
	json_array_foreach(json_object_get(d, "findings_removed"), i, x)
		text_finding(fp, "-", x);
	fprintf(fp, "%zu console%s changed, %zu finding%s new, %zu gone; ",
	    json_array_size(json_object_get(d, "consoles")),
	    json_array_size(json_object_get(d, "consoles")) == 1 ? "" : "s",
	    json_array_size(json_object_get(d, "findings_added")),
	    json_array_size(json_object_get(d, "findings_added")) == 1 ? "" :
	    "s", json_array_size(json_object_get(d, "findings_removed")));
	if (!json_is_true(json_object_get(d, "escalation"))) {
		fputs("no privilege escalation\n", fp);
		return;
	}
	fputs("privilege escalation:\n", fp);
	json_array_foreach(json_object_get(d, "escalations"), i, x) {
		fputs("  ! ", fp);
		put_text(fp, json_string_value(x));
		fputc('\n', fp);
	}
}

/* ---- Markdown ---- */

static void
md_escape(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f)
			fputc(' ', fp);
		else if (ch < 0x80 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
		    ch) != NULL)
			fprintf(fp, "\\%c", ch);
		else
			fputc(ch, fp);
	}
}

static void
put_md(FILE *fp, const char *s)
{
	put_clean(fp, s, md_escape);
}

static void
md_cell_list(FILE *fp, json_t *a)
{
	fputs(" | ", fp);
	put_list(fp, a, "", put_md);
}

static void
md_pair(FILE *fp, json_t *e, const char *key, const char *label)
{
	json_t *p = json_object_get(e, key), *o, *n;

	if (p == NULL)
		return;
	o = json_object_get(p, "old");
	n = json_object_get(p, "new");
	fprintf(fp, "- **");
	put_md(fp, json_string_value(json_object_get(e, "console")));
	fprintf(fp, "**: %s ", label);
	put_md(fp, json_is_string(o) ? json_string_value(o) : "(none)");
	fputs(" → ", fp);
	put_md(fp, json_is_string(n) ? json_string_value(n) : "(none)");
	fputc('\n', fp);
}

static void
md_finding(FILE *fp, const char *what, json_t *f)
{
	fprintf(fp, "| %s | %s | ", what, json_string_value(json_object_get(f,
	    "severity")));
	put_md(fp, json_string_value(json_object_get(f, "rule")));
	fputs(" | ", fp);
	put_md(fp, json_string_value(json_object_get(f, "file")));
	if (json_integer_value(json_object_get(f, "line")) > 0)
		fprintf(fp, "\\:%lld\\:%lld", json_integer_value(
		    json_object_get(f, "line")), json_integer_value(
		    json_object_get(f, "column")));
	fputs(" | ", fp);
	put_md(fp, json_string_value(json_object_get(f, "message")));
	fputs(" |\n", fp);
}

/* Does the diff take any right away (a console removed, a realm or
 * access lost on some scope)? */
static int
takes_away(json_t *d)
{
	json_t *e, *u;
	size_t i, k;

	json_array_foreach(json_object_get(d, "consoles"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "change")),
		    "removed") == 0)
			return 1;
		json_array_foreach(json_object_get(e, "scopes"), k, u)
			if (json_array_size(json_object_get(u, "realms_lost")) +
			    json_array_size(json_object_get(u,
			    "access_lost")) > 0)
				return 1;
	}
	return 0;
}

static void
write_markdown(json_t *d, FILE *fp)
{
	json_t *owner = json_object_get(d, "owner"), *e, *u, *x;
	json_t *cons = json_object_get(d, "consoles");
	size_t i, k, rows = 0, others = 0;

	fputs("### custody policy diff\n\n", fp);
	put_md(fp, json_string_value(json_object_get(d, "old")));
	fputs(" → ", fp);
	put_md(fp, json_string_value(json_object_get(d, "new")));
	fputs("\n\n", fp);
	if (json_is_true(json_object_get(d, "escalation"))) {
		fputs("> [!WARNING]\n> **Privilege escalation.** This change "
		    "grants:\n", fp);
		json_array_foreach(json_object_get(d, "escalations"), i, x) {
			fputs("> - ", fp);
			put_md(fp, json_string_value(x));
			fputc('\n', fp);
		}
		fputc('\n', fp);
	} else if (json_array_size(cons) == 0 &&
	    !json_is_true(json_object_get(owner, "changed")) &&
	    json_object_get(d, "directory") == NULL) {
		fputs("**No change in privileges.**\n\n", fp);
	} else if (takes_away(d)) {
		fputs("**No privilege escalation:** this change only takes "
		    "rights away.\n\n", fp);
	} else {
		fputs("**No privilege escalation.**\n\n", fp);
	}
	json_array_foreach(cons, i, e)
		rows += json_array_size(json_object_get(e, "scopes"));
	if (rows > 0) {
		fputs("| Console | Change | Devices | Realms gained | "
		    "Realms lost | Access gained | Access lost |\n"
		    "|---|---|---|---|---|---|---|\n", fp);
		json_array_foreach(cons, i, e) {
			json_array_foreach(json_object_get(e, "scopes"), k,
			    u) {
				fputs("| ", fp);
				put_md(fp, json_string_value(json_object_get(e,
				    "console")));
				fprintf(fp, " | %s | ", json_string_value(
				    json_object_get(e, "change")));
				put_md(fp, json_string_value(json_object_get(u,
				    "scope")));
				md_cell_list(fp, json_object_get(u,
				    "realms_gained"));
				md_cell_list(fp, json_object_get(u,
				    "realms_lost"));
				md_cell_list(fp, json_object_get(u,
				    "access_gained"));
				md_cell_list(fp, json_object_get(u,
				    "access_lost"));
				fputs(" |\n", fp);
			}
		}
		fputc('\n', fp);
	}
	json_array_foreach(cons, i, e) {
		json_t *dg = json_object_get(e, "duties_gained");
		json_t *dl = json_object_get(e, "duties_lost");

		if (json_object_get(e, "certificate") == NULL &&
		    json_object_get(e, "kerberos") == NULL &&
		    json_object_get(e, "auth") == NULL &&
		    json_object_get(e, "username") == NULL &&
		    json_array_size(dg) + json_array_size(dl) == 0 &&
		    (json_object_get(e, "scope") == NULL ||
		    strcmp(json_string_value(json_object_get(e, "change")),
		    "changed") != 0))
			continue;
		if (others++ == 0)
			fputs("Other changes:\n\n", fp);
		md_pair(fp, e, "certificate", "certificate");
		md_pair(fp, e, "kerberos", "Kerberos principal");
		md_pair(fp, e, "auth", "authentication");
		md_pair(fp, e, "username", "digest user");
		if ((x = json_object_get(e, "scope")) != NULL &&
		    strcmp(json_string_value(json_object_get(e, "change")),
		    "changed") == 0) {
			fputs("- **", fp);
			put_md(fp, json_string_value(json_object_get(e,
			    "console")));
			fputs("**: scope ", fp);
			put_scope(fp, json_object_get(x, "old"), put_md);
			fputs(" → ", fp);
			put_scope(fp, json_object_get(x, "new"), put_md);
			fputc('\n', fp);
		}
		if (json_array_size(dg) + json_array_size(dl) > 0) {
			fputs("- **", fp);
			put_md(fp, json_string_value(json_object_get(e,
			    "console")));
			fputs("**: duties", fp);
			if (json_array_size(dg) > 0) {
				fputs(" added ", fp);
				put_list(fp, dg, "", put_md);
			}
			if (json_array_size(dl) > 0) {
				fputs(json_array_size(dg) ? ";" : "", fp);
				fputs(" removed ", fp);
				put_list(fp, dl, "", put_md);
			}
			fputc('\n', fp);
		}
	}
	if (json_is_true(json_object_get(owner, "changed"))) {
		fputs(others++ == 0 ? "Other changes:\n\n" : "", fp);
		fputs("- **owner**: ", fp);
		put_md(fp, json_is_string(json_object_get(owner, "old")) ?
		    json_string_value(json_object_get(owner, "old")) :
		    "(none)");
		fputs(" → ", fp);
		put_md(fp, json_is_string(json_object_get(owner, "new")) ?
		    json_string_value(json_object_get(owner, "new")) :
		    "(none)");
		fputc('\n', fp);
	}
	if ((x = json_object_get(d, "directory")) != NULL) {
		fputs(others++ == 0 ? "Other changes:\n\n" : "", fp);
		fputs("- **directory**: ", fp);
		put_md(fp, json_is_string(json_object_get(x, "old")) ?
		    json_string_value(json_object_get(x, "old")) : "(none)");
		fputs(" → ", fp);
		put_md(fp, json_is_string(json_object_get(x, "new")) ?
		    json_string_value(json_object_get(x, "new")) : "(none)");
		fputc('\n', fp);
	}
	if (others > 0)
		fputc('\n', fp);
	if (json_array_size(json_object_get(d, "findings_added")) +
	    json_array_size(json_object_get(d, "findings_removed")) > 0) {
		fputs("#### Checker findings\n\n| | Severity | Rule | Where | "
		    "Message |\n|---|---|---|---|---|\n", fp);
		json_array_foreach(json_object_get(d, "findings_added"), i, x)
			md_finding(fp, "new", x);
		json_array_foreach(json_object_get(d, "findings_removed"), i,
		    x)
			md_finding(fp, "fixed", x);
		fputc('\n', fp);
	}
}

int
policy_diff_format_parse(const char *s, enum policy_diff_format *fmt_out)
{
	if (strcmp(s, "text") == 0)
		*fmt_out = POLICY_DIFF_TEXT;
	else if (strcmp(s, "markdown") == 0)
		*fmt_out = POLICY_DIFF_MARKDOWN;
	else if (strcmp(s, "json") == 0)
		*fmt_out = POLICY_DIFF_JSON;
	else
		return cust_fail(CUST_E_INVAL, "unknown diff format '%.64s' "
		    "(text, markdown or json)", s);
	return CUST_OK;
}

int
policy_diff_write(json_t *diff, enum policy_diff_format fmt, FILE *fp)
{
	switch (fmt) {
	case POLICY_DIFF_JSON:
		if (json_dumpf(diff, fp, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) != 0 || fputc('\n', fp) == EOF)
			return cust_fail(CUST_E_IO, "cannot write the diff");
		break;
	case POLICY_DIFF_MARKDOWN:
		write_markdown(diff, fp);
		break;
	default:
		write_text(diff, fp);
	}
	if (fflush(fp) == EOF || ferror(fp))
		return cust_fail(CUST_E_IO, "cannot write the diff");
	return CUST_OK;
}
