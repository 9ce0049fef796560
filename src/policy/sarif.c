/* SPDX-License-Identifier: MIT */
/* src/policy/sarif.c - the report as SARIF 2.1.0 for code scanning.
 *
 * GitHub code scanning needs: one run with tool.driver.name and its rules
 * (id, short and full description, help, default level), and results with
 * ruleId, level, message.text and a physicalLocation whose artifactLocation
 * is a URI relative to the repository root and whose region starts at line
 * 1 or later. Columns are characters, as libyaml counts them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy_int.h"

#define SARIF_SCHEMA \
	"https://json.schemastore.org/sarif-2.1.0.json"

static const char *
level(enum policy_severity s)
{
	return s == POLICY_SEV_ERROR ? "error" : "warning";
}

/* A file name as a URI reference: relative paths stay relative (GitHub
 * resolves them against the checkout); absolute ones become file: URIs.
 * Everything outside the unreserved set and '/' is percent-encoded. */
static json_t *
path_uri(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path), i, o = 0;
	char *buf;
	json_t *j;

	if (n > (SIZE_MAX - 16) / 3 || (buf = malloc(3 * n + 16)) == NULL)
		return NULL;
	if (path[0] == '/') {
		memcpy(buf, "file://", 7);
		o = 7;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)path[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~/", ch) != NULL) {
			buf[o++] = (char)ch;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	buf[o] = '\0';
	j = json_string(buf);
	free(buf);
	return j;
}

static json_t *
rule_json(const struct policy_rule *r)
{
	return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s}, "
	    "s:{s:s}, s:{s:[s, s], s:s}}",
	    "id", r->id, "name", r->id,
	    "shortDescription", "text", r->summary,
	    "fullDescription", "text", r->help,
	    "help", "text", r->help, "markdown", r->help,
	    "defaultConfiguration", "level", level(r->severity),
	    "properties", "tags", "security", "least-privilege",
	    "precision", "very-high");
}

static json_t *
result_json(const struct policy_finding *f, size_t rule_index)
{
	json_t *res, *loc, *uri = path_uri(f->file);

	if (uri == NULL)
		return NULL;
	loc = json_pack("{s:{s:{s:o}}}", "physicalLocation",
	    "artifactLocation", "uri", uri);
	if (loc == NULL)
		return NULL;
	if (f->line > 0 && json_object_set_new(json_object_get(loc,
	    "physicalLocation"), "region", json_pack("{s:I, s:I}",
	    "startLine", (json_int_t)f->line, "startColumn",
	    (json_int_t)(f->column ? f->column : 1))) != 0) {
		json_decref(loc);
		return NULL;
	}
	res = json_pack("{s:s, s:I, s:s, s:{s:s}, s:[o]}", "ruleId",
	    f->rule->id, "ruleIndex", (json_int_t)rule_index,
	    "level", level(f->severity), "message", "text", f->message,
	    "locations", loc);
	return res;
}

json_t *
report_sarif(struct policy_report *rep)
{
	const struct policy_rule *rules;
	json_t *doc, *run, *jrules, *results;
	size_t nrules, i;

	rules = policy_rules(&nrules);
	doc = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:[]}}, "
	    "s:[], s:s, s:[{s:b}]}]}",
	    "$schema", SARIF_SCHEMA, "version", "2.1.0",
	    "runs", "tool", "driver", "name", "custody-policy",
	    "semanticVersion", "1.0.0", "rules",
	    "results", "columnKind", "unicodeCodePoints",
	    "invocations", "executionSuccessful", 1);
	if (doc == NULL)
		return NULL;
	run = json_array_get(json_object_get(doc, "runs"), 0);
	jrules = json_object_get(json_object_get(json_object_get(run, "tool"),
	    "driver"), "rules");
	results = json_object_get(run, "results");
	for (i = 0; i < nrules; i++)
		if (json_array_append_new(jrules, rule_json(&rules[i])) != 0)
			goto fail;
	for (i = 0; i < policy_report_count(rep); i++) {
		const struct policy_finding *f = policy_report_get(rep, i);

		if (json_array_append_new(results, result_json(f,
		    (size_t)(f->rule - rules))) != 0)
			goto fail;
	}
	return doc;
fail:
	json_decref(doc);
	return NULL;
}
