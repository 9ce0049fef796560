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
#include "version.h"

#define SARIF_SCHEMA \
	"https://json.schemastore.org/sarif-2.1.0.json"
/* Where a reader learns about the tool: its manual page (an absolute URI;
 * the project has no web home that every installation can reach). */
#define SARIF_TOOL_URI	"man:custody-policy(1)"
/* partialFingerprints key: versioned, so a change of the fingerprint's
 * recipe shows as new keys instead of false matches. */
#define SARIF_FP_KEY	"custodyFindingHash/v1"

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

/* The rule's SARIF name: its ID in UpperCamelCase ("excess-realm" is
 * "ExcessRealm"). SARIF wants the id opaque and stable and the name
 * readable, and validators warn when the two are the same string. */
static void
rule_name(const char *id, char *buf, size_t len)
{
	/* One-word IDs would give the same name in another case, which
	 * validators also flag: these get names of their own. */
	static const char *const own[][2] = {
		{ "unreadable", "UnreadableInput" },
		{ "owner", "SingleOwner" },
		{ "identity", "UniqueIdentity" },
	};
	size_t o = 0, i;
	int up = 1;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(id, own[i][0]) == 0) {
			snprintf(buf, len, "%s", own[i][1]);
			return;
		}
	for (; *id != '\0' && o + 1 < len; id++) {
		if (*id == '-') {
			up = 1;
			continue;
		}
		buf[o++] = up && *id >= 'a' && *id <= 'z' ?
		    (char)(*id - 'a' + 'A') : *id;
		up = 0;
	}
	buf[o] = '\0';
}

static json_t *
rule_json(const struct policy_rule *r)
{
	char name[64];

	rule_name(r->id, name, sizeof(name));
	return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s}, "
	    "s:{s:s}, s:{s:[s, s], s:s}}",
	    "id", r->id, "name", name,
	    "shortDescription", "text", r->summary,
	    "fullDescription", "text", r->help,
	    "help", "text", r->help, "markdown", r->help,
	    "defaultConfiguration", "level", level(r->severity),
	    "properties", "tags", "security", "least-privilege",
	    "precision", "very-high");
}

static json_t *
result_json(const struct policy_finding *f, size_t rule_index,
    unsigned occurrence)
{
	char fp[17];

	json_t *res, *loc, *uri = path_uri(f->file);

	if (uri == NULL)
		return NULL;
	loc = json_pack("{s:{s:{s:o}}}", "physicalLocation",
	    "artifactLocation", "uri", uri);
	if (loc == NULL)
		return NULL;
	/* A finding about the whole file (line 0) points at its start:
	 * validators want a region on every result. */
	if (json_object_set_new(json_object_get(loc, "physicalLocation"),
	    "region", json_pack("{s:I, s:I}", "startLine",
	    (json_int_t)(f->line ? f->line : 1), "startColumn",
	    (json_int_t)(f->column ? f->column : 1))) != 0) {
		json_decref(loc);
		return NULL;
	}
	/* Line numbers stay out of the fingerprint: a finding keeps its
	 * identity when lines above it are added or removed. */
	policy_rep_fingerprint(f, occurrence, fp);
	res = json_pack("{s:s, s:I, s:s, s:{s:s}, s:[o], s:{s:s}}", "ruleId",
	    f->rule->id, "ruleIndex", (json_int_t)rule_index,
	    "level", level(f->severity), "message", "text", f->message,
	    "locations", loc, "partialFingerprints", SARIF_FP_KEY, fp);
	return res;
}

json_t *
policy_rep_sarif(struct policy_report *rep)
{
	const struct policy_rule *rules;
	json_t *doc, *run, *jrules, *results;
	unsigned *occ = NULL;
	size_t nrules, i;

	rules = policy_rules(&nrules);
	if (policy_report_count(rep) > 0 &&
	    (occ = policy_rep_occurrences(rep)) == NULL)
		return NULL;
	doc = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:s, s:[]}}, "
	    "s:[], s:s, s:[{s:b}]}]}",
	    "$schema", SARIF_SCHEMA, "version", "2.1.0",
	    "runs", "tool", "driver", "name", "custody-policy",
	    "version", CUSTODY_VERSION, "semanticVersion", CUSTODY_VERSION,
	    "informationUri", SARIF_TOOL_URI, "rules",
	    "results", "columnKind", "unicodeCodePoints",
	    "invocations", "executionSuccessful", 1);
	if (doc == NULL) {
		free(occ);
		return NULL;
	}
	run = json_array_get(json_object_get(doc, "runs"), 0);
	jrules = json_object_get(json_object_get(json_object_get(run, "tool"),
	    "driver"), "rules");
	results = json_object_get(run, "results");
	for (i = 0; i < nrules; i++)
		if (json_array_append_new(jrules, rule_json(&rules[i])) != 0)
			goto fail;
	for (i = 0; i < policy_report_count(rep) &&
	    i < POLICY_REPORT_MAX_RESULTS; i++) {
		const struct policy_finding *f = policy_report_get(rep, i);

		if (json_array_append_new(results, result_json(f,
		    (size_t)(f->rule - rules), occ[i])) != 0)
			goto fail;
	}
	if (i < policy_report_count(rep) && json_object_set_new(
	    json_array_get(json_object_get(run, "invocations"), 0),
	    "toolExecutionNotifications", json_pack("[{s:s, s:{s:s}}]",
	    "level", "warning", "message", "text", REPORT_TRUNCATED)) != 0)
		goto fail;
	free(occ);
	return doc;
fail:
	free(occ);
	json_decref(doc);
	return NULL;
}
