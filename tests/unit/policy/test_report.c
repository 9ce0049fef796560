/* SPDX-License-Identifier: MIT */
/* tests/unit/policy/test_report.c - the four output formats. SARIF is
 * checked against the parts of the SARIF 2.1.0 schema that GitHub code
 * scanning relies on (required properties, their types, allowed keys and
 * values, rule references), shipped here: nothing is fetched. */
#include <stdlib.h>
#include <strings.h>

#include "ptest.h"

/* b: admin-realm at 9:21 and 10:14 (errors), realm-missing at 10:13
 * (warning) */
#define BAD HEAD \
	"  b:\n" \
	"    identity: {certificate: \"CN=b & <c>\"}\n" \
	"    duties: [power, setup]\n" \
	"    realms: [PTAdministrationRealm]\n"

/* Render rep in fmt into a new string. */
static char *
render(struct policy_report *rep, enum policy_format fmt, unsigned flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(policy_report_write(rep, fmt, flags, fp), CUST_OK);
	fclose(fp);
	return buf;
}

/* Two files: a bad policy and a malformed one. */
static struct policy_report *
two_files(void)
{
	struct policy_report *rep = policy_report_new();

	assert_non_null(rep);
	assert_int_equal(policy_load_buf(rep, "dir/bad.yaml", BAD, strlen(BAD),
	    NULL), CUST_OK);
	assert_int_equal(policy_load_buf(rep, "my file.yaml", "version: [\n",
	    11, NULL), CUST_E_PARSE);
	return rep;
}

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
test_text(void **state)
{
	struct policy_report *rep = two_files();
	char *out = render(rep, POLICY_FMT_TEXT, 0), *line2;

	(void)state;
	/* sorted by position; GCC style */
	assert_true(starts(out, "dir/bad.yaml:9:21: error: console 'b' is "
	    "not the owner ('a') but has duty 'setup', which grants "
	    "PTAdministrationRealm (3) [admin-realm]\n"));
	line2 = strchr(out, '\n') + 1;
	assert_true(starts(line2, "dir/bad.yaml:10:13: warning: console 'b': "
	    "realms leave out RemoteControlRealm (5), which duty 'power' "
	    "needs [realm-missing]\n"));
	line2 = strchr(line2, '\n') + 1;
	assert_true(starts(line2, "dir/bad.yaml:10:14: error: "));
	assert_non_null(strstr(out, "\nmy file.yaml:2:1: error: "));
	assert_non_null(strstr(out, "[yaml-syntax]\n"));
	free(out);
	policy_report_free(rep);
}

static void
test_json(void **state)
{
	struct policy_report *rep = two_files();
	char *out = render(rep, POLICY_FMT_JSON, 0);
	json_error_t e;
	json_t *doc = json_loads(out, 0, &e), *f;
	size_t i;

	(void)state;
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "errors")),
	    policy_report_errors(rep));
	assert_int_equal(json_array_size(json_object_get(doc, "files")), 2);
	assert_true(json_is_true(json_object_get(json_array_get(
	    json_object_get(doc, "files"), 0), "checked")));
	assert_true(json_is_false(json_object_get(json_array_get(
	    json_object_get(doc, "files"), 1), "checked")));
	assert_int_equal(json_array_size(json_object_get(doc, "findings")),
	    policy_report_count(rep));
	json_array_foreach(json_object_get(doc, "findings"), i, f) {
		assert_true(json_is_string(json_object_get(f, "file")));
		assert_true(json_is_integer(json_object_get(f, "line")));
		assert_true(json_is_integer(json_object_get(f, "column")));
		assert_non_null(policy_rule_by_id(json_string_value(
		    json_object_get(f, "rule"))));
		assert_true(json_is_string(json_object_get(f, "message")));
	}
	f = json_array_get(json_object_get(doc, "findings"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "console")),
	    "b");
	assert_string_equal(json_string_value(json_object_get(f, "severity")),
	    "error");
	json_decref(doc);
	free(out);
	policy_report_free(rep);
}

/* ---- SARIF 2.1.0, the parts code scanning reads ---- */

/* Every key of o is in allowed (the schema's additionalProperties:
 * false). */
static void
only_keys(json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;

	assert_true(json_is_object(o));
	json_object_foreach(o, k, v) {
		size_t i;
		int ok = 0;

		for (i = 0; allowed[i] != NULL; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok)
			print_message("key '%s' not allowed\n", k);
		assert_true(ok);
	}
}

static const char *
text_of(json_t *o, const char *key)
{
	json_t *m = json_object_get(o, key);
	static const char *const msg_keys[] = { "text", "markdown", "id",
	    "arguments", "properties", NULL };

	assert_true(json_is_object(m));
	only_keys(m, msg_keys);
	assert_true(json_is_string(json_object_get(m, "text")));
	assert_true(strlen(json_string_value(json_object_get(m, "text"))) > 0);
	return json_string_value(json_object_get(m, "text"));
}

static int
is_level(json_t *v)
{
	const char *s = json_string_value(v);

	return s && (strcmp(s, "none") == 0 || strcmp(s, "note") == 0 ||
	    strcmp(s, "warning") == 0 || strcmp(s, "error") == 0);
}

static void
check_rule(json_t *r)
{
	static const char *const keys[] = { "id", "name", "guid",
	    "shortDescription", "fullDescription", "help", "helpUri",
	    "defaultConfiguration", "properties", "messageStrings",
	    "deprecatedIds", "relationships", NULL };
	json_t *dc = json_object_get(r, "defaultConfiguration");

	only_keys(r, keys);
	assert_true(json_is_string(json_object_get(r, "id")));
	text_of(r, "shortDescription");
	text_of(r, "fullDescription");
	text_of(r, "help");
	assert_true(json_is_object(dc));
	assert_true(is_level(json_object_get(dc, "level")));
	assert_true(json_is_array(json_object_get(json_object_get(r,
	    "properties"), "tags")));
}

static void
check_result(json_t *res, json_t *rules)
{
	static const char *const keys[] = { "ruleId", "ruleIndex", "rule",
	    "kind", "level", "message", "locations", "partialFingerprints",
	    "fingerprints", "properties", "suppressions", "baselineState",
	    NULL };
	static const char *const loc_keys[] = { "id", "physicalLocation",
	    "logicalLocations", "message", "annotations", "relationships",
	    "properties", NULL };
	json_t *locs = json_object_get(res, "locations"), *loc, *pl, *al, *rg;
	json_int_t idx;
	const char *uri;

	only_keys(res, keys);
	assert_true(json_is_string(json_object_get(res, "ruleId")));
	assert_true(json_is_integer(json_object_get(res, "ruleIndex")));
	idx = json_integer_value(json_object_get(res, "ruleIndex"));
	assert_true(idx >= 0 && (size_t)idx < json_array_size(rules));
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(rules, (size_t)idx), "id")),
	    json_string_value(json_object_get(res, "ruleId")));
	assert_true(is_level(json_object_get(res, "level")));
	text_of(res, "message");
	assert_true(json_is_array(locs) && json_array_size(locs) >= 1);
	loc = json_array_get(locs, 0);
	only_keys(loc, loc_keys);
	pl = json_object_get(loc, "physicalLocation");
	assert_true(json_is_object(pl));
	al = json_object_get(pl, "artifactLocation");
	assert_true(json_is_object(al));
	uri = json_string_value(json_object_get(al, "uri"));
	assert_non_null(uri);
	/* a URI reference: no spaces, relative paths stay relative */
	assert_null(strchr(uri, ' '));
	assert_true(uri[0] != '/');
	rg = json_object_get(pl, "region");
	if (rg != NULL) {
		assert_true(json_is_integer(json_object_get(rg, "startLine")));
		assert_true(json_integer_value(json_object_get(rg,
		    "startLine")) >= 1);
		assert_true(json_integer_value(json_object_get(rg,
		    "startColumn")) >= 1);
	}
}

static void
validate_sarif(json_t *doc)
{
	static const char *const log_keys[] = { "$schema", "version", "runs",
	    "inlineExternalProperties", "properties", NULL };
	static const char *const run_keys[] = { "tool", "invocations",
	    "results", "columnKind", "artifacts", "automationDetails",
	    "originalUriBaseIds", "properties", "language", NULL };
	static const char *const drv_keys[] = { "name", "fullName", "version",
	    "semanticVersion", "informationUri", "rules", "organization",
	    "properties", NULL };
	json_t *run, *drv, *rules, *results, *inv, *x;
	size_t i, k;

	only_keys(doc, log_keys);
	assert_string_equal(json_string_value(json_object_get(doc, "version")),
	    "2.1.0");
	assert_true(json_is_string(json_object_get(doc, "$schema")));
	assert_true(json_is_array(json_object_get(doc, "runs")));
	assert_int_equal(json_array_size(json_object_get(doc, "runs")), 1);
	run = json_array_get(json_object_get(doc, "runs"), 0);
	only_keys(run, run_keys);
	drv = json_object_get(json_object_get(run, "tool"), "driver");
	only_keys(drv, drv_keys);
	assert_true(strlen(json_string_value(json_object_get(drv,
	    "name"))) > 0);
	rules = json_object_get(drv, "rules");
	assert_true(json_is_array(rules));
	json_array_foreach(rules, i, x) {
		check_rule(x);
		for (k = 0; k < i; k++)
			assert_string_not_equal(json_string_value(
			    json_object_get(x, "id")), json_string_value(
			    json_object_get(json_array_get(rules, k), "id")));
	}
	results = json_object_get(run, "results");
	assert_true(json_is_array(results));
	json_array_foreach(results, i, x)
		check_result(x, rules);
	inv = json_array_get(json_object_get(run, "invocations"), 0);
	assert_true(json_is_boolean(json_object_get(inv,
	    "executionSuccessful")));
	x = json_object_get(run, "columnKind");
	assert_true(strcmp(json_string_value(x), "unicodeCodePoints") == 0 ||
	    strcmp(json_string_value(x), "utf16CodeUnits") == 0);
}

static void
test_sarif(void **state)
{
	struct policy_report *rep = two_files();
	char *out = render(rep, POLICY_FMT_SARIF, 0);
	json_error_t e;
	json_t *doc = json_loads(out, 0, &e), *results, *r0, *reg;
	size_t nrules;

	(void)state;
	assert_non_null(doc);
	validate_sarif(doc);
	policy_rules(&nrules);
	assert_int_equal(json_array_size(json_object_get(json_object_get(
	    json_object_get(json_array_get(json_object_get(doc, "runs"), 0),
	    "tool"), "driver"), "rules")), nrules);
	results = json_object_get(json_array_get(json_object_get(doc, "runs"),
	    0), "results");
	assert_int_equal(json_array_size(results), policy_report_count(rep));
	r0 = json_array_get(results, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "ruleId")),
	    "admin-realm");
	reg = json_object_get(json_object_get(json_array_get(json_object_get(
	    r0, "locations"), 0), "physicalLocation"), "region");
	assert_int_equal(json_integer_value(json_object_get(reg, "startLine")),
	    9);
	assert_int_equal(json_integer_value(json_object_get(reg,
	    "startColumn")), 21);
	/* the space in "my file.yaml" is percent-encoded */
	assert_non_null(strstr(out, "\"my%20file.yaml\""));
	json_decref(doc);
	free(out);
	policy_report_free(rep);

	/* an unreadable file points at its start (validators want a
	 * region); an absolute path is a file: URI */
	rep = policy_report_new();
	assert_int_equal(policy_load_file(rep, "/nonexistent/x.yaml", NULL),
	    CUST_E_PARSE);
	out = render(rep, POLICY_FMT_SARIF, 0);
	assert_non_null(doc = json_loads(out, 0, &e));
	r0 = json_array_get(json_object_get(json_array_get(json_object_get(
	    doc, "runs"), 0), "results"), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_object_get(json_array_get(json_object_get(r0, "locations"),
	    0), "physicalLocation"), "region"), "startLine")), 1);
	assert_non_null(strstr(out, "\"file:///nonexistent/x.yaml\""));
	json_decref(doc);
	free(out);
	policy_report_free(rep);
}

static size_t
occurrences(const char *s, const char *needle)
{
	size_t n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

static void
test_junit(void **state)
{
	struct policy_report *rep = two_files();
	char *out = render(rep, POLICY_FMT_JUNIT, 0), want[128];
	const struct policy_rule *rules;
	size_t n, i, per_doc = 0, per_policy = 0, per_console = 0, tests;

	(void)state;
	rules = policy_rules(&n);
	for (i = 0; i < n; i++) {
		per_doc += rules[i].scope == POLICY_SCOPE_INPUT;
		per_policy += rules[i].scope == POLICY_SCOPE_POLICY;
		per_console += rules[i].scope == POLICY_SCOPE_CONSOLE;
	}
	/* bad.yaml: all cases for its 2 consoles; the malformed file: its
	 * document cases only */
	tests = per_doc + per_policy + 2 * per_console + per_doc;
	assert_int_equal(occurrences(out, "<testcase "), tests);
	snprintf(want, sizeof(want), "<testsuites name=\"custody policy "
	    "check\" tests=\"%zu\" failures=\"1\" errors=\"1\">", tests);
	assert_non_null(strstr(out, want));
	assert_memory_equal(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
	    39);
	/* b failed admin-realm; the warning is output, not a failure */
	assert_non_null(strstr(out, "<testcase classname=\"b\" "
	    "name=\"admin-realm\" file=\"dir/bad.yaml\">\n      <failure "
	    "type=\"admin-realm\""));
	assert_non_null(strstr(out, "<testcase classname=\"b\" "
	    "name=\"realm-missing\" file=\"dir/bad.yaml\">\n      "
	    "<system-out>"));
	assert_non_null(strstr(out, "<testcase classname=\"a\" "
	    "name=\"admin-realm\" file=\"dir/bad.yaml\"/>"));
	assert_non_null(strstr(out, "<testcase classname=\"document\" "
	    "name=\"yaml-syntax\" file=\"my file.yaml\">\n      <error "));
	assert_non_null(strstr(out, "&apos;"));
	assert_null(strstr(out, "'b'"));
	assert_int_equal(occurrences(out, "<testsuite "), 2);
	assert_int_equal(occurrences(out, "</testsuite>"), 2);
	free(out);

	/* --strict: warnings fail too */
	out = render(rep, POLICY_FMT_JUNIT, POLICY_STRICT);
	assert_non_null(strstr(out, "<testcase classname=\"b\" "
	    "name=\"realm-missing\" file=\"dir/bad.yaml\">\n      "
	    "<failure "));
	assert_non_null(strstr(out, "failures=\"2\" errors=\"1\""));
	free(out);
	policy_report_free(rep);
}

static void
test_format_names(void **state)
{
	enum policy_format f;

	(void)state;
	assert_int_equal(policy_format_parse("sarif", &f), CUST_OK);
	assert_int_equal(f, POLICY_FMT_SARIF);
	assert_int_equal(policy_format_parse("junit", &f), CUST_OK);
	assert_int_equal(f, POLICY_FMT_JUNIT);
	assert_int_equal(policy_format_parse("codeclimate", &f), CUST_OK);
	assert_int_equal(f, POLICY_FMT_CODECLIMATE);
	assert_int_equal(policy_format_parse("xml", &f), CUST_E_INVAL);
}

/* Names from the file cannot put control characters into reports. */
static void
test_sanitised(void **state)
{
	struct policy_report *rep;
	char *out;

	(void)state;
	rep = pt_load(HEAD "  b:\n    identity: {certificate: \"CN=b\"}\n"
	    "    duties: [\"\\e[31mred\"]\n", NULL, NULL);
	out = render(rep, POLICY_FMT_TEXT, 0);
	assert_null(strchr(out, '\033'));
	assert_non_null(strstr(out, "?[31mred"));
	free(out);
	policy_report_free(rep);
}

/* Fingerprints of the SARIF results of doc, in result order, into fp
 * (n entries at most); returns the count. */
static size_t
sarif_fps(const char *doc, char fp[][17], size_t n)
{
	struct policy_report *rep = pt_load(doc, NULL, NULL);
	char *out = render(rep, POLICY_FMT_SARIF, 0);
	json_t *d, *res, *r;
	json_error_t e;
	size_t i, k = 0;

	assert_non_null(d = json_loads(out, 0, &e));
	res = json_object_get(json_array_get(json_object_get(d, "runs"), 0),
	    "results");
	json_array_foreach(res, i, r) {
		const char *v = json_string_value(json_object_get(
		    json_object_get(r, "partialFingerprints"),
		    "custodyFindingHash/v1"));

		assert_non_null(v);
		assert_int_equal(strlen(v), 16);
		if (k < n)
			snprintf(fp[k++], 17, "%s", v);
	}
	json_decref(d);
	free(out);
	policy_report_free(rep);
	return k;
}

static void
test_sarif_identity(void **state)
{
	const struct policy_rule *rules;
	struct policy_report *rep;
	char a[4][17], b[4][17], *out;
	size_t n, i;
	json_t *d, *jr;
	json_error_t e;

	(void)state;
	/* Rule names are readable and never the ID in another case. */
	rep = pt_load(BAD, NULL, NULL);
	out = render(rep, POLICY_FMT_SARIF, 0);
	assert_non_null(d = json_loads(out, 0, &e));
	jr = json_object_get(json_object_get(json_object_get(json_array_get(
	    json_object_get(d, "runs"), 0), "tool"), "driver"), "rules");
	rules = policy_rules(&n);
	assert_int_equal(json_array_size(jr), n);
	for (i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(
		    json_array_get(jr, i), "name"));

		assert_non_null(name);
		assert_true(strcasecmp(name, rules[i].id) != 0);
		assert_null(strchr(name, '-'));
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    jr, 17), "name")), "ExcessRealm");
	assert_non_null(json_object_get(json_object_get(json_object_get(
	    json_array_get(json_object_get(d, "runs"), 0), "tool"), "driver"),
	    "informationUri"));
	json_decref(d);
	free(out);
	policy_report_free(rep);

	/* Fingerprints: distinct per finding, unchanged when lines move. */
	assert_int_equal(sarif_fps(BAD, a, 4), 3);
	assert_true(strcmp(a[0], a[1]) != 0 && strcmp(a[0], a[2]) != 0 &&
	    strcmp(a[1], a[2]) != 0);
	assert_int_equal(sarif_fps("# moved\n# down\n" BAD, b, 4), 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(a[i], b[i]);
}

static void
test_codeclimate(void **state)
{
	struct policy_report *rep = two_files();
	char *out = render(rep, POLICY_FMT_CODECLIMATE, 0);
	json_t *d, *x;
	json_error_t e;
	size_t i, blockers = 0;

	(void)state;
	assert_non_null(d = json_loads(out, 0, &e));
	assert_true(json_is_array(d));
	assert_int_equal(json_array_size(d), policy_report_count(rep));
	json_array_foreach(d, i, x) {
		const char *sev = json_string_value(json_object_get(x,
		    "severity"));
		json_t *loc = json_object_get(x, "location");

		assert_non_null(json_string_value(json_object_get(x,
		    "description")));
		assert_non_null(json_string_value(json_object_get(x,
		    "check_name")));
		assert_int_equal(strlen(json_string_value(json_object_get(x,
		    "fingerprint"))), 16);
		assert_true(strcmp(sev, "blocker") == 0 ||
		    strcmp(sev, "major") == 0 || strcmp(sev, "minor") == 0);
		blockers += strcmp(sev, "blocker") == 0;
		assert_non_null(json_string_value(json_object_get(loc,
		    "path")));
		assert_true(json_integer_value(json_object_get(json_object_get(
		    loc, "lines"), "begin")) >= 1);
	}
	/* the malformed file's syntax error blocks; b's warning is minor */
	assert_int_equal(blockers, 1);
	assert_non_null(strstr(out, "\"severity\": \"minor\""));
	json_decref(d);
	free(out);
	policy_report_free(rep);
}

static void
test_hostile_names(void **state)
{
	/* A file name a pull request chose: XML specials, a terminal escape,
	 * a bidirectional override and a byte that is not UTF-8. */
	static const char name[] = "a&b<c>\"\033]0;x\007\342\200\256\377"
	    "\357\277\277\330\234.yaml";	/* ... U+FFFF, U+061C */
	struct policy_report *rep = policy_report_new();
	enum policy_format fmt;
	json_error_t e;
	json_t *j;

	(void)state;
	assert_non_null(rep);
	assert_int_equal(policy_load_buf(rep, name, BAD, strlen(BAD), NULL),
	    CUST_OK);
	for (fmt = POLICY_FMT_TEXT; fmt <= POLICY_FMT_CODECLIMATE; fmt++) {
		char *out = render(rep, fmt, POLICY_STRICT), *p;

		assert_null(strchr(out, '\033'));
		assert_null(strchr(out, '\007'));
		assert_null(strstr(out, "\342\200\256"));
		assert_null(strstr(out, "\357\277\277"));
		assert_null(strstr(out, "\330\234"));
		assert_null(strchr(out, 0xff));
		if (fmt == POLICY_FMT_JUNIT) {
			/* every & starts an entity, no raw < inside text */
			for (p = strchr(out, '&'); p != NULL;
			    p = strchr(p + 1, '&'))
				assert_true(strncmp(p, "&amp;", 5) == 0 ||
				    strncmp(p, "&lt;", 4) == 0 ||
				    strncmp(p, "&gt;", 4) == 0 ||
				    strncmp(p, "&quot;", 6) == 0 ||
				    strncmp(p, "&apos;", 6) == 0);
			assert_null(strstr(out, "a&b<c>"));
			assert_non_null(strstr(out, "a&amp;b&lt;c&gt;&quot;"));
		} else if (fmt != POLICY_FMT_TEXT) {
			assert_non_null(j = json_loads(out, 0, &e));
			json_decref(j);
		}
		free(out);
	}
	policy_report_free(rep);
}

static void
test_result_cap(void **state)
{
	/* More findings than a report holds: one unknown realm each. */
	size_t n = POLICY_REPORT_MAX_RESULTS + 5, i, len = 0;
	char *doc = malloc(n * 16 + 256), *out;
	struct policy_report *rep;
	json_t *d, *run;
	json_error_t e;

	(void)state;
	assert_non_null(doc);
	len += (size_t)snprintf(doc, 256, HEAD "    realms: [");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(doc + len, 16, "%sX%zu", i ? "," : "",
		    i);
	len += (size_t)snprintf(doc + len, 8, "]\n");
	rep = pt_load(doc, NULL, NULL);
	assert_true(policy_report_count(rep) > POLICY_REPORT_MAX_RESULTS);
	out = render(rep, POLICY_FMT_SARIF, 0);
	assert_non_null(d = json_loads(out, 0, &e));
	run = json_array_get(json_object_get(d, "runs"), 0);
	assert_int_equal(json_array_size(json_object_get(run, "results")),
	    POLICY_REPORT_MAX_RESULTS);
	assert_non_null(json_object_get(json_array_get(json_object_get(run,
	    "invocations"), 0), "toolExecutionNotifications"));
	json_decref(d);
	free(out);
	out = render(rep, POLICY_FMT_CODECLIMATE, 0);
	assert_non_null(d = json_loads(out, 0, &e));
	assert_int_equal(json_array_size(d), POLICY_REPORT_MAX_RESULTS + 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(d,
	    POLICY_REPORT_MAX_RESULTS), "check_name")), "report-truncated");
	json_decref(d);
	free(out);
	policy_report_free(rep);
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_cap),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_sarif_identity),
		cmocka_unit_test(test_codeclimate),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_sarif),
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_sanitised),
	};

	return cmocka_run_group_tests_name("policy/report", tests, NULL, NULL);
}
