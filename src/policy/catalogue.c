/* SPDX-License-Identifier: MIT */
/* src/policy/catalogue.c - the built-in realm, duty and rule catalogues.
 *
 * Realm IDs, names and assignability follow reference/amt.md section 1
 * (the AMT_AuthorizationService MOF value map). Each duty maps to the
 * smallest realm set that lets a console do it; policy/catalogue.md gives
 * the same tables for people. Rule IDs are stable: CI configurations and
 * SARIF baselines refer to them, so never rename one.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "policy_int.h"

#define B(id)	POLICY_REALM_BIT(id)

static const struct policy_realm realms[POLICY_REALM_MAX + 1] = {
	{ 0, "InvalidRealm", "none", POLICY_ASSIGN_NEVER },
	{ 1, "ReservedRealm0", "reserved", POLICY_ASSIGN_NEVER },
	{ 2, "RedirectionRealm",
	  "enable/disable SOL, IDER and KVM; redirection log",
	  POLICY_ASSIGN_YES },
	{ 3, "PTAdministrationRealm",
	  "ACLs, Kerberos, TLS, setup and configuration, network; grants "
	  "every realm", POLICY_ASSIGN_YES },
	{ 4, "HardwareAssetRealm", "hardware inventory", POLICY_ASSIGN_YES },
	{ 5, "RemoteControlRealm", "power control and boot options",
	  POLICY_ASSIGN_YES },
	{ 6, "StorageRealm", "third-party non-volatile storage read/write",
	  POLICY_ASSIGN_YES },
	{ 7, "EventManagerRealm", "alerts and event subscriptions",
	  POLICY_ASSIGN_YES },
	{ 8, "StorageAdminRealm", "third-party storage allocation",
	  POLICY_ASSIGN_YES },
	{ 9, "AgentPresenceLocalRealm", "local agent heartbeats",
	  POLICY_ASSIGN_YES },
	{ 10, "AgentPresenceRemoteRealm",
	  "agent registration and watchdog actions", POLICY_ASSIGN_YES },
	{ 11, "CircuitBreakerRealm", "System Defense filters and policies",
	  POLICY_ASSIGN_YES },
	{ 12, "NetworkTimeRealm", "set the AMT clock", POLICY_ASSIGN_YES },
	{ 13, "GeneralInfoRealm", "read-only settings and status",
	  POLICY_ASSIGN_YES },
	{ 14, "FirmwareUpdateRealm", "firmware update", POLICY_ASSIGN_AVOID },
	{ 15, "EITRealm", "legacy", POLICY_ASSIGN_AVOID },
	{ 16, "LocalUN", "user-notification system account",
	  POLICY_ASSIGN_AVOID },
	{ 17, "EndpointAccessControlRealm",
	  "NAC posture read; gone in CSME 18", POLICY_ASSIGN_LEGACY },
	{ 18, "EndpointAccessControlAdminRealm",
	  "NAC setup; gone in CSME 18", POLICY_ASSIGN_LEGACY },
	{ 19, "EventLogReaderRealm", "read the event log", POLICY_ASSIGN_YES },
	{ 20, "AuditLogRealm", "audit log (Auditor); AMT 4.0+",
	  POLICY_ASSIGN_YES },
	{ 21, "ACLRealm", "a user edits its own ACL entry; AMT 4.0+",
	  POLICY_ASSIGN_YES },
	{ 22, "ReservedRealm1", "reserved", POLICY_ASSIGN_NEVER },
	{ 23, "ReservedRealm2", "reserved (DTRealm, ME 5.1+)",
	  POLICY_ASSIGN_NEVER },
	{ 24, "LocalSystemRealm",
	  "local alerts, User Notification, local time sync",
	  POLICY_ASSIGN_YES },
};

const struct policy_realm *
policy_realm_by_id(long id)
{
	if (id < 0 || id > POLICY_REALM_MAX)
		return NULL;
	return &realms[id];
}

const struct policy_realm *
policy_realm_by_name(const char *name)
{
	size_t i;

	for (i = 0; i <= POLICY_REALM_MAX; i++)
		if (strcasecmp(realms[i].name, name) == 0)
			return &realms[i];
	return NULL;
}

static const struct policy_duty duties[] = {
	{ "setup", B(3), 0,
	  "initial setup and configuration (ACLs, TLS, Kerberos, network) "
	  "needs PTAdministrationRealm; owner only" },
	{ "power", B(5), 0,
	  "power actions and boot options are RemoteControlRealm" },
	{ "inventory", B(4) | B(13), 0,
	  "hardware inventory is HardwareAssetRealm; AMT version and "
	  "settings are read through GeneralInfoRealm" },
	{ "redirection", B(2), 0,
	  "enabling SOL, IDER and KVM sessions is RedirectionRealm" },
	{ "system-defense", B(11), 1,
	  "System Defense filters and policies are CircuitBreakerRealm; "
	  "two consoles would overwrite each other's policies" },
	{ "audit", B(20), 1,
	  "the audit log is AuditLogRealm; its holder takes audit rights "
	  "from the admin account, so one auditor only" },
	{ "event-log", B(19), 0,
	  "reading the firmware event log is EventLogReaderRealm" },
	{ "events", B(7), 0,
	  "alert and event subscriptions are EventManagerRealm" },
	{ "agent-presence", B(10), 0,
	  "registering agents and their watchdog actions is "
	  "AgentPresenceRemoteRealm" },
	{ "storage", B(6), 0,
	  "reading and writing third-party storage is StorageRealm" },
	{ "storage-admin", B(8), 0,
	  "allocating third-party storage is StorageAdminRealm" },
	{ "time", B(12), 0,
	  "setting the AMT clock (before Kerberos) is NetworkTimeRealm" },
};

const struct policy_duty *
policy_duties(size_t *n_out)
{
	*n_out = sizeof(duties) / sizeof(duties[0]);
	return duties;
}

const struct policy_duty *
policy_duty_builtin(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(duties) / sizeof(duties[0]); i++)
		if (strcmp(duties[i].name, name) == 0)
			return &duties[i];
	return NULL;
}

#define E	POLICY_SEV_ERROR
#define W	POLICY_SEV_WARNING
#define IN	POLICY_SCOPE_INPUT
#define PO	POLICY_SCOPE_POLICY
#define CO	POLICY_SCOPE_CONSOLE

/* Indexed by enum rule_idx: keep the two in the same order. */
static const struct policy_rule rules[R_COUNT] = {
	[R_UNREADABLE] = { "unreadable", E, IN,
	  "The policy file cannot be read",
	  "The file does not exist, is not a regular file, cannot be read, "
	  "or is larger than the size limit. Nothing in it was checked." },
	[R_YAML_SYNTAX] = { "yaml-syntax", E, IN,
	  "The file is not well-formed YAML",
	  "libyaml rejected the document at this position (bad indentation, "
	  "unclosed quote or bracket, invalid UTF-8, or an empty file). "
	  "Fix the syntax; nothing after this point was checked." },
	[R_YAML_FEATURE] = { "yaml-feature", E, IN,
	  "A YAML feature that policies do not allow",
	  "Anchors, aliases, tags, several documents in one file and "
	  "nesting deeper than 32 levels are refused: they hide what a "
	  "console gets from a reviewer and allow alias bombs. Write every "
	  "value out in full." },
	[R_DUPLICATE_KEY] = { "duplicate-key", E, IN,
	  "A mapping has the same key twice",
	  "YAML parsers disagree on which of two equal keys wins, so a "
	  "reviewer could read a different policy than custody applies. "
	  "Remove or merge one of the two entries." },
	[R_UNKNOWN_KEY] = { "unknown-key", E, IN,
	  "A key that the policy format does not define",
	  "Usually a typo (\"dutys\", \"realm\"). An ignored key could "
	  "silently drop a restriction, so every unknown key is an error. "
	  "See custody-policy(5) for the keys of each mapping." },
	[R_WRONG_TYPE] = { "wrong-type", E, IN,
	  "A value of the wrong type",
	  "A mapping, sequence or scalar was found where another is "
	  "expected, or a scalar of the wrong kind (for example a plain "
	  "yes/no where a string is expected: quote it)." },
	[R_MISSING_KEY] = { "missing-key", E, IN,
	  "A required key is missing",
	  "The policy needs version and consoles; a directory needs type "
	  "and realm." },
	[R_BAD_VALUE] = { "bad-value", E, IN,
	  "A value outside its allowed set",
	  "For example version other than 1, access other than "
	  "local/network/any, auth other than digest/kerberos, a console "
	  "or duty name with characters outside [A-Za-z0-9._-], or a "
	  "malformed device tag." },
	[R_OWNER] = { "owner", E, PO,
	  "The owner is missing or is not a declared console",
	  "Exactly one console, the owner, does initial setup and may read "
	  "the devices' admin passwords. Set owner to the name of a console "
	  "in consoles." },
	[R_IDENTITY] = { "identity", E, CO,
	  "A console's identity is missing, malformed or not unique",
	  "custody recognises a console by its certificate subject "
	  "(\"CN=...\") or Kerberos principal (\"name@REALM\"). Without a "
	  "unique identity it cannot tell which credentials to hand out." },
	[R_NO_DUTIES] = { "no-duties", E, CO,
	  "A console declares no duties",
	  "Realms follow from duties; a console without duties needs no "
	  "access. List its duties, or remove the console." },
	[R_UNKNOWN_DUTY] = { "unknown-duty", E, CO,
	  "A duty that is neither built in nor defined by the policy",
	  "Use a duty from the catalogue (custody-policy(5)) or define it "
	  "under the top-level duties mapping." },
	[R_DUTY_DEFINITION] = { "duty-definition", E, PO,
	  "A policy-defined duty is invalid",
	  "A duty defined by the policy must not reuse a built-in name, "
	  "must list at least one realm and must not include "
	  "PTAdministrationRealm (only the setup duty grants it)." },
	[R_UNKNOWN_REALM] = { "unknown-realm", E, CO,
	  "A realm name or number that AMT does not define",
	  "Realms are named as in the AMT MOF (\"RemoteControlRealm\") or "
	  "given by number 0-24." },
	[R_UNASSIGNABLE_REALM] = { "unassignable-realm", E, CO,
	  "A realm that can never be assigned",
	  "InvalidRealm (0), ReservedRealm0 (1), ReservedRealm1 (22) and "
	  "ReservedRealm2 (23) are never assignable to an ACL entry." },
	[R_AVOIDED_REALM] = { "avoided-realm", E, CO,
	  "A realm that custody refuses by default",
	  "FirmwareUpdateRealm (14), EITRealm (15) and LocalUN (16) are not "
	  "offered by the Intel toolkits. Set options: {allow-avoided-realms: "
	  "true} to accept them (then this is a warning)." },
	[R_LEGACY_REALM] = { "legacy-realm", W, CO,
	  "A legacy realm that newer firmware does not have",
	  "EndpointAccessControlRealm (17) and "
	  "EndpointAccessControlAdminRealm (18) are gone in CSME 18; the "
	  "entry fails on those devices." },
	[R_EXCESS_REALM] = { "excess-realm", E, CO,
	  "An explicit realm that none of the console's duties needs",
	  "Explicit realms may only narrow what the duties need. Remove the "
	  "realm, or add the duty that needs it." },
	[R_REALM_MISSING] = { "realm-missing", W, CO,
	  "Explicit realms leave out a realm that a declared duty needs",
	  "The console cannot perform that duty. Add the realm, or drop the "
	  "duty." },
	[R_ADMIN_REALM] = { "admin-realm", E, CO,
	  "PTAdministrationRealm or the setup duty on a console that is not "
	  "the owner",
	  "PTAdministrationRealm grants every realm, so it belongs to the "
	  "single owner console only (one source for setup and "
	  "configuration)." },
	[R_EXCLUSIVE_DUTY] = { "exclusive-duty", E, CO,
	  "An exclusive duty held by more than one console",
	  "System Defense and the audit log have one owner each "
	  "(separation of duties); a second holder (by the duty or by its "
	  "realms) is refused." },
	[R_AUDIT_ADMIN_LOSS] = { "audit-admin-loss", W, CO,
	  "A console gets AuditLogRealm without the audit duty",
	  "While any ACL entry holds AuditLogRealm the admin account loses "
	  "its audit-log rights (reference section 1). Give the console the "
	  "audit duty if that is intended." },
	[R_ACL_BUDGET] = { "acl-budget", E, PO,
	  "Too many ACL entries for one device",
	  "AMT accepts at most 7 digest users and 32 Kerberos entries per "
	  "device. Consoles without a scope apply to every device; consoles "
	  "scoped by tags add to every device carrying one of the tags." },
	[R_AUTH_METHOD] = { "auth-method", E, CO,
	  "Kerberos authentication that cannot work",
	  "auth: kerberos needs a top-level directory and a Kerberos "
	  "principal in the console's identity." },
	[R_DIGEST_WITH_DIRECTORY] = { "digest-with-directory", W, CO,
	  "Digest authentication although the policy declares a directory",
	  "With a directory, consoles should use Kerberos service accounts "
	  "mapped to realms; digest users count against the small limit of "
	  "7 per device." },
	[R_DIGEST_USERNAME] = { "digest-username", E, CO,
	  "The console's AMT digest user name is invalid or not unique",
	  "AMT user names are 1-16 characters of ASCII 33-126 without "
	  ": , < > & \", do not start with $$ and are not admin or "
	  "administrator. The console name is used unless username is "
	  "set." },
	[R_CASE_TWIN] = { "case-twin", W, CO,
	  "Two console names that differ only in case",
	  "custody tells them apart, but Active Directory and many tools "
	  "ignore case, so a reader or a script could take one console's "
	  "account, keytab or revocation for the other's. Rename one." },
};

const struct policy_rule *
policy_rule_get(enum rule_idx r)
{
	return &rules[r];
}

const struct policy_rule *
policy_rules(size_t *n_out)
{
	*n_out = R_COUNT;
	return rules;
}

const struct policy_rule *
policy_rule_by_id(const char *id)
{
	size_t i;

	for (i = 0; i < R_COUNT; i++)
		if (strcmp(rules[i].id, id) == 0)
			return &rules[i];
	return NULL;
}

int
policy_valid_username(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 16)
		return cust_fail(CUST_E_INVAL, "'%s' is %zu characters long; "
		    "AMT user names have 1 to 16", n > 16 ? "(too long)" : s,
		    n);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 33 || ch > 126)
			return cust_fail(CUST_E_INVAL, "AMT user names are "
			    "ASCII 33-126 (no spaces or control characters)");
		if (strchr(":,<>&\"", ch) != NULL)
			return cust_fail(CUST_E_INVAL, "'%s' contains '%c', "
			    "which AMT user names may not", s, ch);
	}
	if (strncmp(s, "$$", 2) == 0)
		return cust_fail(CUST_E_INVAL, "'%s' starts with $$, which "
		    "marks AMT system accounts", s);
	if (strcasecmp(s, "admin") == 0 || strcasecmp(s, "administrator") == 0)
		return cust_fail(CUST_E_INVAL, "'%s' is reserved for the AMT "
		    "admin account", s);
	return CUST_OK;
}
