/* SPDX-License-Identifier: MIT */
/* src/policy/codeclimate.c - the report as a GitLab Code Quality report:
 * a JSON array of Code Climate issues, each with description, check_name,
 * fingerprint, severity and location (path, lines.begin).
 *
 * GitLab shows these in merge requests and compares them with the target
 * branch's report by fingerprint, so the fingerprint leaves line numbers
 * out (policy_rep_fingerprint()): a finding that only moved is not "new".
 * Severities: malformed input is a blocker (nothing else was checked),
 * an error is major, a warning minor.
 */
#include <stdlib.h>

#include "err.h"
#include "policy_int.h"

static const char *
severity(const struct policy_finding *f)
{
	if (f->rule->scope == POLICY_SCOPE_INPUT)
		return "blocker";
	return f->severity == POLICY_SEV_ERROR ? "major" : "minor";
}

json_t *
policy_rep_codeclimate(struct policy_report *rep)
{
	size_t i, n = policy_report_count(rep);
	unsigned *occ = NULL;
	json_t *doc;
	char fp[17];

	if ((doc = json_array()) == NULL)
		return NULL;
	if (n > 0 && (occ = policy_rep_occurrences(rep)) == NULL)
		goto fail;
	for (i = 0; i < n && i < POLICY_REPORT_MAX_RESULTS; i++) {
		const struct policy_finding *f = policy_report_get(rep, i);

		policy_rep_fingerprint(f, occ[i], fp);
		if (json_array_append_new(doc, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s, s:[s], s:{s:s, s:{s:I}}}",
		    "type", "issue", "description", f->message,
		    "check_name", f->rule->id, "fingerprint", fp,
		    "severity", severity(f), "categories", "Security",
		    "location", "path", f->file, "lines", "begin",
		    (json_int_t)(f->line > 0 ? f->line : 1))) != 0)
			goto fail;
	}
	if (i < n && json_array_append_new(doc, json_pack("{s:s, s:s, s:s, "
	    "s:s, s:s, s:[s], s:{s:s, s:{s:I}}}", "type", "issue",
	    "description", REPORT_TRUNCATED,
	    "check_name", "report-truncated", "fingerprint",
	    "report-truncated", "severity", "info", "categories", "Security",
	    "location", "path", policy_report_get(rep, i)->file, "lines",
	    "begin", (json_int_t)1)) != 0)
		goto fail;
	free(occ);
	return doc;
fail:
	free(occ);
	json_decref(doc);
	return NULL;
}
