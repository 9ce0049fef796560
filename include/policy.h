/* SPDX-License-Identifier: MIT */
/* include/policy.h - AMT realm least-privilege policy: the realm and duty
 * catalogues, the policy file parser and checker, and the ACL planner.
 *
 * A policy (policy/NAME.yaml, custody-policy(5)) names the owner console and,
 * for every console, its identity, duties and optionally explicit realms,
 * access, AMT authentication method and device scope. The checker proves
 * that every console gets only the realms its duties need and reports each
 * finding with file, line and column under a stable rule ID. The planner
 * turns a checked policy into the AMT ACL entries of one device.
 *
 * Everything here is pure: no state directory, no network, no secrets.
 */
#ifndef CUST_POLICY_H
#define CUST_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* ---- realm catalogue (reference/amt.md section 1) ---- */

#define POLICY_REALM_MAX	24	/* highest realm ID */
#define POLICY_REALM_BIT(id)	(UINT32_C(1) << (id))
#define POLICY_REALM_ADMIN	3	/* PTAdministrationRealm */
#define POLICY_REALM_AUDITLOG	20	/* AuditLogRealm */

enum policy_assign {
	POLICY_ASSIGN_YES,	/* assignable */
	POLICY_ASSIGN_NEVER,	/* 0, 1, 22, 23: never on a device */
	POLICY_ASSIGN_AVOID,	/* 14-16: refused unless the policy allows */
	POLICY_ASSIGN_LEGACY,	/* 17-18: gone in CSME 18, warned */
};

struct policy_realm {
	int id;
	const char *name;	/* MOF name, e.g. "RedirectionRealm" */
	const char *meaning;	/* one line */
	enum policy_assign assign;
};

/* The realm with this ID, or NULL outside 0..POLICY_REALM_MAX. Static. */
const struct policy_realm *policy_realm_by_id(long id);

/* The realm with this MOF name (ASCII case-insensitive), or NULL. */
const struct policy_realm *policy_realm_by_name(const char *name);

/* ---- duty catalogue ---- */

struct policy_duty {
	const char *name;	/* "power" */
	uint32_t realms;	/* POLICY_REALM_BIT() set: the minimal realms */
	int exclusive;		/* at most one console may hold it */
	const char *rationale;	/* one line: why exactly these realms */
};

/* The built-in duties (static array of *n_out entries). */
const struct policy_duty *policy_duties(size_t *n_out);

/* The built-in duty called name, or NULL. */
const struct policy_duty *policy_duty_builtin(const char *name);

/* ---- rules ---- */

enum policy_severity {
	POLICY_SEV_WARNING = 1,
	POLICY_SEV_ERROR = 2,
};

/* What a rule is about: the input (malformed: exit 2), the policy as a
 * whole, or one console (JUnit reports one test case per console). */
enum policy_scope {
	POLICY_SCOPE_INPUT,
	POLICY_SCOPE_POLICY,
	POLICY_SCOPE_CONSOLE,
};

struct policy_rule {
	const char *id;			/* stable: "excess-realm" */
	enum policy_severity severity;	/* default severity */
	enum policy_scope scope;
	const char *summary;		/* one line */
	const char *help;		/* what it means and how to fix it */
};

/* All rules (static array of *n_out entries, in a fixed order). */
const struct policy_rule *policy_rules(size_t *n_out);

/* The rule with this ID, or NULL. */
const struct policy_rule *policy_rule_by_id(const char *id);

/* ---- findings and reports ---- */

struct policy_report;

struct policy_finding {
	const char *file;
	unsigned line;		/* 1-based; 0 when the whole file is meant */
	unsigned column;	/* 1-based, in characters; 0 with line 0 */
	enum policy_severity severity;
	const struct policy_rule *rule;
	const char *console;	/* the console concerned, or NULL */
	const char *message;	/* names the console, realm and duty */
};

/* New empty report; free with policy_report_free(). NULL on ENOMEM. */
struct policy_report *policy_report_new(void);
void policy_report_free(struct policy_report *rep);

/* Findings so far, in the order they were found; borrowed, valid until
 * the next finding is added or the report is written (writing sorts them
 * by position) or freed. */
size_t policy_report_count(const struct policy_report *rep);
const struct policy_finding *policy_report_get(const struct policy_report *rep,
    size_t i);

/* Counts of error and warning findings. */
size_t policy_report_errors(const struct policy_report *rep);
size_t policy_report_warnings(const struct policy_report *rep);

#define POLICY_STRICT	0x1	/* warnings fail the check too */

/* The exit status the findings call for: 2 when any input was unreadable
 * or malformed, else 1 when there are errors (or, with POLICY_STRICT,
 * warnings), else 0. */
int policy_report_exit(const struct policy_report *rep, unsigned flags);

enum policy_format {
	POLICY_FMT_TEXT,	/* file:line:col: error|warning: msg [rule] */
	POLICY_FMT_JSON,
	POLICY_FMT_SARIF,	/* SARIF 2.1.0 for code scanning */
	POLICY_FMT_JUNIT,	/* one test case per rule per console */
	POLICY_FMT_CODECLIMATE,	/* GitLab Code Quality report */
};

/* "text", "json", "sarif", "junit" or "codeclimate" into *fmt_out;
 * CUST_E_INVAL otherwise. */
int policy_format_parse(const char *s, enum policy_format *fmt_out)
	__attribute__((warn_unused_result));

/* Most results in a SARIF or Code Quality report (code scanning takes
 * at most 25,000 per run; a hostile policy can make millions of
 * findings): past it, the report says how many were left out. */
#define POLICY_REPORT_MAX_RESULTS	10000

/* Write the report to fp (sorting the findings by file and position).
 * CUST_E_IO when fp fails, CUST_E_NOMEM. */
int policy_report_write(struct policy_report *rep, enum policy_format fmt,
    unsigned flags, FILE *fp) __attribute__((warn_unused_result));

/* ---- policies ---- */

struct policy;

/* Largest policy document accepted, in bytes. */
#define POLICY_MAX_BYTES	(8u * 1024 * 1024)

/* Parse and check the policy document buf[0..len) (need not be
 * NUL-terminated) called file in the findings. Every finding goes into
 * rep. Returns:
 *   CUST_OK with *p_out a new policy (policy_free()) when the document is
 *     well-formed, whether or not the check found violations (see
 *     policy_clean());
 *   CUST_E_PARSE when it is malformed (findings say where), *p_out NULL;
 *   CUST_E_TOOBIG over POLICY_MAX_BYTES; CUST_E_NOMEM.
 * p_out may be NULL when only the findings matter. */
int policy_load_buf(struct policy_report *rep, const char *file,
    const char *buf, size_t len, struct policy **p_out)
	__attribute__((warn_unused_result));

/* The same for a file ("-" reads stdin). An unreadable file is a finding
 * (rule "unreadable") and CUST_E_PARSE, like malformed input. */
int policy_load_file(struct policy_report *rep, const char *path,
    struct policy **p_out) __attribute__((warn_unused_result));

void policy_free(struct policy *p);

/* True when the check found no error (warnings allowed). */
int policy_clean(const struct policy *p);

/* Number of consoles declared. */
size_t policy_console_count(const struct policy *p);

/* The name of the i-th console of p (0-based, in the file's order),
 * NULL past the last. Borrowed, valid as long as p. */
const char *policy_console_name(const struct policy *p, size_t i);

/* What console name of p may do, as a new JSON object (json_decref):
 * {"name", "owner": true when it is the policy's owner, "duties": [names
 * as written], "tags": [device tags of its scope], "certificate": the
 * certificate subject of its identity, "kerberos": its Kerberos
 * principal, "username": its AMT digest user
 * name}; "tags" is absent when the console applies to every device,
 * "certificate" ("kerberos") when its identity names none, "username" when it does not
 * use digest (or p is not clean). CUST_E_NOTFOUND when p declares no
 * console name; CUST_E_NOMEM. For the authorization of custody's API. */
int policy_console_info(const struct policy *p, const char *name,
    json_t **info_out) __attribute__((warn_unused_result));

/* ---- ACL plan ---- */

/* The AMT ACL entries custody applies to a device called fqdn that carries
 * tags (a JSON array of strings, borrowed; NULL = no tags), as a new JSON
 * object (json_decref):
 *   {"device": fqdn, "entries": [ {"console", "type": "digest"|"kerberos",
 *    "username" | "principal" + "sid" + "sid_kind": "account", "access",
 *    "access_name", "realms": [sorted IDs], "realm_names", "duties"} ... ],
 *    "digest_entries": n,
 *    "kerberos_entries": n, "within_limits": bool}
 * A policy that is not clean gives CUST_E_VIOLATION. */
int policy_plan(const struct policy *p, const char *fqdn, json_t *tags,
    json_t **plan_out) __attribute__((warn_unused_result));
/* Which SID a device's Kerberos entries name (custody.yaml directory.ad
 * acl_sid). */
enum policy_sid_mode {
	POLICY_SID_ACCOUNT,	/* one entry per console: its AD account */
	POLICY_SID_AUTO,	/* a duty's AD group where least privilege
				 * allows (src/policy/plan.c says when) */
};

/* policy_plan() with Kerberos entries as mode says: in POLICY_SID_AUTO,
 * a duty whose every Kerberos holder is granted it on this device alike
 * gets one entry {"type": "kerberos", "sid_kind": "group", "group": duty,
 * "sid": "${group:DUTY}", "members": [consoles], "access", "realms" (the
 * duty's), ...} (no "console"), and the account entries ("sid_kind":
 * "account") carry only the realms no group entry gives their console
 * (none left: no account entry). The plan adds "acl_sid": "auto" |
 * "account" and "group_entries": n; "kerberos_entries" counts both
 * kinds. policy_plan() is POLICY_SID_ACCOUNT. */
int policy_plan_sid(const struct policy *p, const char *fqdn, json_t *tags,
    enum policy_sid_mode mode, json_t **plan_out)
	__attribute__((warn_unused_result));
/* policy_plan_sid() as custody applies it: a duty gets its group entry
 * only when synced (a JSON object, borrowed: duty -> the array of console
 * names account sync recorded as its group's members, or null when not
 * known) holds for it the same set as the group entry's "members" (the
 * policy's consoles with a Kerberos principal that hold the duty); a duty
 * that would otherwise get one gets account entries and is listed in the
 * plan's "groups_unsynced". synced NULL: every group taken to hold the
 * policy's members (policy_plan_sid(): a preview without custody's
 * state). */
int policy_plan_synced(const struct policy *p, const char *fqdn,
    json_t *tags, enum policy_sid_mode mode, json_t *synced,
    json_t **plan_out) __attribute__((warn_unused_result));
/* 1 when recorded and members are JSON arrays of the same strings, each
 * once, in any order; else 0 (null, not an array, a non-string, a
 * duplicate). */
int policy_members_same(json_t *recorded, json_t *members);
/* 1 when a group entry of duty's group on a device carrying tags
 * gives console nothing the plan does not (the test every member passes
 * for the planner to use the group entry there: console holds duty with
 * a Kerberos principal, its scope covers the device, it uses Kerberos,
 * has every realm of the duty and the access of the duty's other
 * holders); else 0 (an unknown duty or console too). Account sync asks
 * it before adding console's account to the group while devices may
 * hold the group's entry (src/directory/ad_sync.c). */
int policy_group_admits(const struct policy *p, const char *duty,
    const char *console, json_t *tags);
/* The entry of console alone in the plan of a device carrying tags (the
 * same object as in policy_plan()'s "entries"), as a new JSON object, or
 * CUST_E_NOTFOUND when the policy puts no entry of that console there
 * (no such console, or out of its scope). Not clean: CUST_E_VIOLATION. */
int policy_plan_entry(const struct policy *p, json_t *tags,
    const char *console, json_t **entry_out)
	__attribute__((warn_unused_result));

/* AMT ACL limits per device (reference/amt.md section 3). */
#define POLICY_MAX_DIGEST	7
#define POLICY_MAX_KERBEROS	32

/* CUST_OK when s is a valid additional AMT digest user name (reference
 * section 2: 1-16 chars of ASCII 33-126 without : , < > & ", not starting
 * with $$, not admin or administrator in any case); CUST_E_INVAL with a
 * message saying why otherwise. */
int policy_valid_username(const char *s) __attribute__((warn_unused_result));

/* ---- privilege diff (custody-policy diff) ---- */

enum policy_diff_format {
	POLICY_DIFF_TEXT,
	POLICY_DIFF_MARKDOWN,	/* a pull-request comment */
	POLICY_DIFF_JSON,
};

/* "text", "markdown" or "json" into *fmt_out; CUST_E_INVAL otherwise. */
int policy_diff_format_parse(const char *s,
    enum policy_diff_format *fmt_out) __attribute__((warn_unused_result));

/* What changes in privileges from old to new, as a new JSON object
 * (json_decref) in *diff_out:
 *   {"old", "new": names; "owner": {"old", "new", "changed"};
 *    "consoles": [ {"console", "change": added|removed|changed,
 *      "certificate"|"kerberos"|"auth"|"username": {"old", "new"} when
 *      changed, "scope": {"old", "new"} when changed, "duties_gained",
 *      "duties_lost", "scopes": [ {"scope": label, "tag": tag|absent,
 *      "realms_gained", "realms_lost", "access_gained", "access_lost"} ],
 *      "escalation": bool} ] (consoles without a change are left out);
 *    "findings_added", "findings_removed": findings as in the JSON report,
 *      matched by rule, console and message (not position);
 *    "escalations": [sentences], "escalation": bool}
 * old or new may be NULL for "no policy" (a file being added or removed);
 * the reports (may be NULL) hold each side's findings. All borrowed. */
int policy_diff(const struct policy *old, const struct policy_report *old_rep,
    const char *old_name, const struct policy *new,
    const struct policy_report *new_rep, const char *new_name,
    json_t **diff_out) __attribute__((warn_unused_result));

/* True when the diff gives any identity more than it had (a new console,
 * a realm or access gained on any device scope, a changed identity or
 * owner). */
int policy_diff_escalates(json_t *diff);

/* Render a diff; CUST_E_IO when fp fails. */
int policy_diff_write(json_t *diff, enum policy_diff_format fmt, FILE *fp)
	__attribute__((warn_unused_result));

/* ---- the command front door: custodyctl policy and custody-policy ----
 *
 * One implementation of the offline commands for both programs: argument
 * parsing, reading the files, output and exit status (0 ok, 1 findings or
 * escalation, 2 usage or malformed input). argv[0] is the subcommand's
 * name; getopt_long is used, so reset optind before calling. */
struct policy_cli {
	const char *prog;	/* message prefix: "custody-policy" */
	const char *usage;	/* usage prefix: "custodyctl policy" */
	int json;		/* a global --json: default format json */
	int quiet;		/* no summary on stderr */
};

int policy_cli_check(const struct policy_cli *pc, int argc, char **argv);
int policy_cli_diff(const struct policy_cli *pc, int argc, char **argv);
/* plan FILE --tags TAG,... (offline: a device carrying these tags). */
int policy_cli_plan(const struct policy_cli *pc, int argc, char **argv);

/* Read and check the policy at path, printing any findings to stderr (so
 * a refusal says where). *text_out is the file's text (free()), NULL when
 * it cannot be read; *len_out (may be NULL) its length; *p_out (may be
 * NULL) the policy. Returns the check's exit status (0, 1 or 2) or that
 * of an error it printed. */
int policy_cli_load(const struct policy_cli *pc, const char *path,
    char **text_out, size_t *len_out, struct policy **p_out);

/* Print one device's plan (policy_plan()) as text. */
void policy_plan_print(json_t *plan, FILE *fp);

#endif
