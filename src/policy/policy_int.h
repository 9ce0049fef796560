/* SPDX-License-Identifier: MIT */
/* src/policy/policy_int.h - internals of the policy module: the arena, the
 * positioned YAML tree, the parsed policy and the report.
 *
 * A policy document is read in three passes. ytree_build() (ytree.h,
 * shared with the service configuration) turns libyaml events into a tree
 * of nodes that keep their line and column (and rejects anchors, aliases,
 * tags, duplicate keys). parse.c walks the tree against
 * declarative key tables (unknown keys, wrong types) and fills struct
 * policy with pointers to the nodes. check.c applies the least-privilege
 * rules. Everything of one policy lives in one arena, freed at once.
 */
#ifndef CUST_POLICY_INT_H
#define CUST_POLICY_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "policy.h"
#include "ytree.h"

/* ---- rules: indexes into the table of catalogue.c ---- */

enum rule_idx {
	R_UNREADABLE,
	R_YAML_SYNTAX,
	R_YAML_FEATURE,
	R_DUPLICATE_KEY,
	R_UNKNOWN_KEY,
	R_WRONG_TYPE,
	R_MISSING_KEY,
	R_BAD_VALUE,
	R_OWNER,
	R_IDENTITY,
	R_NO_DUTIES,
	R_UNKNOWN_DUTY,
	R_DUTY_DEFINITION,
	R_UNKNOWN_REALM,
	R_UNASSIGNABLE_REALM,
	R_AVOIDED_REALM,
	R_LEGACY_REALM,
	R_EXCESS_REALM,
	R_REALM_MISSING,
	R_ADMIN_REALM,
	R_EXCLUSIVE_DUTY,
	R_AUDIT_ADMIN_LOSS,
	R_ACL_BUDGET,
	R_AUTH_METHOD,
	R_DIGEST_WITH_DIRECTORY,
	R_DIGEST_USERNAME,
	R_CASE_TWIN,
	R_COUNT
};

const struct policy_rule *policy_rule_get(enum rule_idx r);

/* ---- the parsed policy ---- */

enum auth_method {
	AUTH_DEFAULT,	/* kerberos with a directory and principal, else digest */
	AUTH_DIGEST,
	AUTH_KERBEROS,
};

struct pconsole {
	const char *name;
	const struct ynode *key;	/* its key in "consoles" */
	const struct ynode *identity, *certificate, *kerberos;
	const struct ynode *duties;	/* sequence or NULL */
	const struct ynode *realms;	/* sequence or NULL */
	const struct ynode *access, *auth, *username, *scope, *tags;
	int access_v;			/* 0 local, 1 network, 2 any */
	enum auth_method auth_v;
	/* Derived by the check. */
	int *duty_of;			/* per duties item: index into duties */
	int *realm_of;			/* per realms item: ID, or -1 */
	uint32_t need;			/* realms the duties need */
	uint32_t eff;			/* realms the console gets */
	enum auth_method auth_eff;	/* digest or kerberos */
	const char *user;		/* digest user name */
};

struct pduty {
	const char *name;
	uint32_t realms;
	int exclusive;
	const char *rationale;
	const struct ynode *key;	/* NULL for built-ins */
	const struct ynode *realm_list, *exclusive_n, *rationale_n;
	int *realm_of;			/* per realm_list item: ID, or -1 */
	int builtin;
};

struct policy {
	struct arena *arena;		/* owns everything below */
	const char *file;
	const struct ynode *root;
	const struct ynode *version, *owner, *directory, *dir_type,
	    *dir_realm, *options;
	int allow_avoided;
	struct pconsole *consoles;
	size_t nconsoles;
	const struct ynode *duty_defs;	/* the "duties" mapping or NULL */
	struct pduty *duties;		/* built-ins first, then the policy's */
	size_t nduties;
	int clean;			/* checked, no errors */
	struct policy_report *rep;	/* while loading only */
};

/* Walk the tree into p (parse.c). CUST_OK, or CUST_E_PARSE after input
 * findings. */
int policy_parse_tree(struct policy *p);

/* Apply the rules (check.c); sets p->clean. CUST_E_NOMEM only. */
int policy_check_rules(struct policy *p);

/* Index of duty name in p->duties, or -1. */
int policy_duty_find(const struct policy *p, const char *name);

/* ---- report internals ---- */

/* Record that file was read and, when consoles is not NULL, which
 * consoles it declares (for JUnit). Returns the report's copy of the name
 * (valid until the report is freed), NULL on ENOMEM. */
const char *policy_rep_file(struct policy_report *rep, const char *file);
int policy_rep_consoles(struct policy_report *rep, const char *file,
    const struct pconsole *c, size_t n);

/* Add a finding at node n (NULL: the whole file) for rule r with the
 * rule's default severity, or sev when non-zero. The message is formatted
 * and control characters in it replaced. Returns CUST_OK or CUST_E_NOMEM. */
int policy_rep_add(struct policy_report *rep, const char *file,
    const struct ynode *n, enum rule_idx r, enum policy_severity sev,
    const char *console, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
int policy_rep_addv(struct policy_report *rep, const char *file, unsigned line,
    unsigned col, enum rule_idx r, enum policy_severity sev,
    const char *console, const char *fmt, va_list ap)
	__attribute__((format(printf, 8, 0)));

/* Report files, in order: name, consoles (names), malformed flag. */
struct policy_rep_file {
	const char *name;
	const char **consoles;
	size_t nconsoles;
	int checked;	/* consoles recorded: the rules ran */
};
size_t policy_rep_nfiles(const struct policy_report *rep);
const struct policy_rep_file *policy_rep_file_get(
    const struct policy_report *rep,
    size_t i);
/* Sort findings by file order, line, column (stable). */
void policy_rep_sort(struct policy_report *rep);

/* Renderings (report.c, sarif.c, junit.c): text and JUnit are written to
 * fp; JSON and SARIF are built as new documents (NULL on ENOMEM). */
int policy_rep_write_text(struct policy_report *rep, FILE *fp);
json_t *policy_rep_json(struct policy_report *rep);
json_t *policy_rep_sarif(struct policy_report *rep);
int policy_rep_write_junit(struct policy_report *rep, unsigned flags, FILE *fp);

/* in as text safe for terminals, logs, XML and JSON: valid UTF-8 with
 * every C0/C1 control, DEL, bidirectional override and invalid byte
 * replaced by '?', cut (never inside a character) to fit out[0..len).
 * in and out may be the same buffer: the output is never longer. */
void policy_rep_clean(const char *in, char *out, size_t len);
/* The same into a new string of arena a; NULL on ENOMEM. */
char *policy_rep_clean_dup(struct arena *a, const char *in);

/* The identity of a finding that survives edits elsewhere in the file:
 * rule, console and message with every "line N" / "column N" in the message
 * turned into "line #", written into buf (truncated to len). Used to match
 * findings across two versions of a policy (diff) and for fingerprints. */
void policy_rep_finding_key(const struct policy_finding *f, char *buf,
    size_t len);

/* A stable fingerprint of finding f as 16 lower-case hex digits + NUL in
 * out: FNV-1a 64 of its file name, key and occurrence (the how-manyth
 * finding with the same file and key, from 0). Not a security function:
 * code-scanning services use it to follow a finding across commits. */
void policy_rep_fingerprint(const struct policy_finding *f, unsigned occurrence,
    char out[17]);

/* Occurrence numbers of the findings in their current order, as above: a
 * new array of policy_report_count() entries (free()), NULL on ENOMEM or
 * when there are no findings. */
unsigned *policy_rep_occurrences(const struct policy_report *rep);

/* A finding as {"file", "line", "column", "severity", "rule", "console",
 * "message"}: new, NULL on ENOMEM. */
json_t *policy_rep_finding_json(const struct policy_finding *f);

/* What SARIF and Code Quality say past POLICY_REPORT_MAX_RESULTS. */
#define REPORT_TRUNCATED \
	"more findings than a report holds: the rest are left out (run " \
	"custody-policy check for all of them)"

/* Code Quality (GitLab) rendering (codeclimate.c): a new JSON array. */
json_t *policy_rep_codeclimate(struct policy_report *rep);

/* Realm set as a new JSON array of sorted IDs, or of names when names. */
json_t *policy_realms_json(uint32_t set, int names);

#endif
