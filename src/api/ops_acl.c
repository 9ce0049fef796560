/* SPDX-License-Identifier: MIT */
/* src/api/ops_acl.c - policy.apply and policy.drift: the per-console
 * digest users of the loaded policy's plan on the devices themselves.
 *
 * One conversation per device (amt_fleet_run()), authenticated as the
 * device's admin with its current password:
 *  1. Get AMT_GeneralSettings: the DigestRealm must be the registered one
 *     (none registered: the device's is recorded, as a push does, all
 *     the run's first contacts read before any change: ops_realm.c);
 *  2. EnumerateUserAclEntries, paged by StartIndex, and GetUserAclEntryEx
 *     of every handle: the entries actually on the device;
 *  3. drift: every difference from the plan is a finding (unknown-user,
 *     missing-user, extra-realm, missing-realm, wrong-access); apply: for
 *     each digest console of the plan, its console:NAME credential:
 *      - a version in flight (pending/pushed) is pushed with the push
 *        protocol (include/cred.h): cred_push_begin() ('pushed',
 *        committed) before AddUserAclEntryEx (or UpdateUserAclEntryEx when
 *        the user name is on the device already) with the plan's realms
 *        and access and the DigestPassword of the version (computed with
 *        the device's DigestRealm: the plaintext never travels); proven by
 *        a fresh digest login as that user (a Get of AMT_GeneralSettings,
 *        when the user may log in over the network and holds
 *        GeneralInfoRealm 13 or PTAdministrationRealm 3) followed by a
 *        login with a random wrong password, on the same digest session,
 *        that must be refused (deny_login()), otherwise by
 *        reading the entry back as admin (GetUserAclEntryEx: same name,
 *        realms and access; the hash is never returned, so this proves
 *        the entry, not the password); then current. A PT_STATUS refusal
 *        fails the version; an unknown outcome leaves it 'pushed' and the
 *        next apply sends it again (the same change);
 *      - a current version whose entry is missing or differs (realms,
 *        access) is written again with the current DigestPassword
 *        ("repaired");
 *      - a push whose outcome is not known is reconciled (rec_start()
 *        below); the device's result is then "reconciled";
 *    and the digest entries custody manages that the plan no longer
 *    grants are removed (RemoveUserAclEntry).
 *
 * A device custody provisioned TLS on (cert provision) is spoken to over
 * TLS, verified against custody's bundle (ops_tls_target(), as pushes
 * do); the others over HTTP digest.
 *
 * policy.apply (not a dry run) is a job (JOB_KIND_APPLY, include/job.h):
 * its devices are fixed when it starts, each gets one item (kind "acl")
 * as soon as its conversation ends: ok, reconciled, refused (a change
 * refused with a PT_STATUS, named in the detail), unreachable,
 * auth-failed (the admin password refused), tls-failed (a provisioned
 * device whose certificate does not verify against the bundle: never
 * retried over plain HTTP), realm-mismatch, realm-conflict (first
 * contact: the realm is another device's, ops_first_realm(); drift
 * checks it too, apply records it), unknown (the device stopped
 * answering after a change was sent), failed, error (a malformed answer)
 * or missing (removed since). One device never stops the others. A job
 * whose process died is resumed by job.resume (ops_apply_job()): the
 * devices without an item, against the same policy (a policy loaded since
 * refuses the resumption: apply it instead).
 *
 * Which users custody manages: a digest user whose name is the user name
 * of a console in some policy loaded into custody (every loaded policy is
 * kept). Anything else (a user added by hand, another tool's) is never
 * removed: drift reports it as unknown-user, and people decide. `$$`
 * system accounts are never touched nor reported.
 *
 * Kerberos entries: the plan's ${sid:PRINCIPAL} is the objectSid account
 * sync read back for the console's AD account (dir_ad_list(); none yet:
 * the entry fails naming account sync, drift says unresolved-sid). They
 * are compared by SID; a change is preceded, once per device, by a Get
 * of AMT_KerberosSettingData (AMT refuses Kerberos entries while
 * KrbEnabled is false: the entry fails naming device kerberos), sent as
 * Add/UpdateUserAclEntryEx with KerberosUserSid and read back. No secret
 * is involved, so nothing needs reconciling: an unknown outcome is
 * settled by the next apply's enumeration. A Kerberos entry whose SID is
 * an account custody made (any state) and that the plan no longer grants
 * is removed; any other SID is left alone.
 *
 * Group entries (directory.ad acl_sid auto, policy_plan_sid()): the
 * plan's ${group:DUTY} is the objectSid account sync read back for the
 * group group_prefix + DUTY (none yet: as a console without a SID). They
 * are compared, written and removed like the accounts' entries, by SID; a
 * group custody made counts as custody's SID for removal. The removals
 * come after the plan's entries are written, so a switch of acl_sid
 * never leaves a console without its realms in between.
 */
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "amt.h"
#include "config.h"
#include "cred.h"
#include "directory.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"
#include "policy.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define ACL_ADMIN	"admin"
#define ACL_MAX_HAVE	128	/* 7 digest + 32 Kerberos + system ones */
#define ACL_MAX_WANT	64
#define ACL_ITEM_KIND	"acl"	/* the kind of an apply job's items */
/* struct acl's apply: 0 drift, 1 apply, or ACL_RECONCILE: only the
 * versions left 'pushed' are settled (ops_acl_reconcile()). */
#define ACL_RECONCILE	2

struct want {
	const char *console, *user;	/* borrowed from the plan; a
					 * Kerberos entry's user is its
					 * principal */
	int krb;			/* a Kerberos entry */
	const char *duty;		/* a group entry's duty, else NULL */
	char what[192];			/* "console NAME" or "duty D" */
	char grp[128];			/* a group entry's user: the group */
	char sid[AMT_SID_B64_MAX];	/* its SID (base64), "": none synced */
	char kind[CRED_KIND_MAX];
	unsigned realms[32];
	size_t nrealms;
	uint32_t set;			/* realm bit set */
	unsigned access;
	int64_t ver;			/* in flight, or 0 */
	int64_t cur;			/* current, or 0 */
	int begun;			/* ver is 'pushed' */
};

struct have {
	uint32_t handle;
	char user[AMT_USER_MAX + 1];	/* "" for a Kerberos entry */
	char sid[AMT_SID_B64_MAX];	/* a Kerberos entry's SID, else "" */
	uint32_t set;
	unsigned access;
};

enum astep {
	A_START, A_REALM, A_ENUM, A_GETU, A_SEND, A_VERIFY, A_READBACK,
	A_REMOVE,
	A_REC_CAND,	/* reconciling: Get as the user with the candidate */
	A_REC_CUR,	/* reconciling: Get as the user, current password */
	A_KCHECK,	/* Kerberos entries: is Kerberos enabled? */
	A_KSEND,	/* a Kerberos entry written */
	A_KREADBACK,	/* ... and read back */
	A_DENY,		/* a wrong password as the user: refused? */
};

/* The job an apply belongs to, shared by its devices. */
struct acl {
	struct ops_ctx *ctx;
	struct ops_jobrun *job;		/* NULL: not a job (drift) */
	int apply;
	struct amt_target t;
	char cafile[PATH_MAX];		/* TLS: custody's bundle */
	json_t *dev, *plan, *managed;	/* managed: borrowed */
	json_t *accounts;		/* dir_ad_list(): borrowed */
	const struct ops_acl_sid *sidcfg; /* borrowed */
	int krb_on;			/* KrbEnabled: 0 not read, 1, -1 no */
	const char *fqdn, *reg;
	struct seal_secret *admin;	/* current admin password */
	struct seal_secret *pw;		/* the user's password being sent */
	struct seal_secret *cur_pw;	/* reconciling: its current one */
	struct seal_secret *wrong;	/* a random password no one holds */
	enum astep proven;		/* the login A_DENY completes */
	char why[256];			/* reconciling: why */
	int rec_pre;			/* reconciling before sending */
	char realm[AMT_REALM_MAX];
	char regbuf[AMT_REALM_MAX];	/* reg, learnt by the run's first
					 * contacts (ops_realm.c) */
	struct want w[ACL_MAX_WANT];
	size_t nw;
	struct have h[ACL_MAX_HAVE];
	size_t nh;
	uint32_t handles[ACL_MAX_HAVE];
	size_t nhandles, total, gi;	/* enumerated; read so far */
	size_t wi, ri;			/* apply: next want, next removal */
	uint32_t sent_handle;		/* the entry being written */
	enum astep step;
	unsigned long id;
	json_t *findings, *actions;
	const char *result;
	char detail[512];
	char refusal[256];		/* the first refusal's detail */
	int64_t epoch;			/* apply: dir_group_device's last seq
					 * before the enumeration */
	int failed, refused, reconciled;
	int err;
};

static uint32_t
set_of(const unsigned *realms, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (realms[i] < 32)
			s |= 1u << realms[i];
	return s;
}

static void
done(struct acl *a, const char *result, const char *detail)
{
	a->result = result;
	snprintf(a->detail, sizeof(a->detail), "%s", detail ? detail : "");
}

/* Record an action of apply (user, what, result, detail). */
static int
action(struct acl *a, const char *user, const char *what, const char *res,
    const char *detail)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "user", user, "action",
	    what, "result", res, "detail", detail ? detail : "");

	if (strcmp(res, "ok") != 0 && strcmp(res, "reconciled") != 0)
		a->failed = 1;
	if (strcmp(res, "reconciled") == 0)
		a->reconciled = 1;
	if (strcmp(res, "refused") == 0 && !a->refused++)
		snprintf(a->refusal, sizeof(a->refusal), "%s %s: %s", what,
		    user, detail ? detail : "");
	if (o == NULL || json_array_append_new(a->actions, o) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

static int
finding(struct acl *a, const char *user, const char *what,
    const char *detail)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "user", user, "finding",
	    what, "detail", detail);

	if (o == NULL || json_array_append_new(a->findings, o) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

static struct have *
have_user(struct acl *a, const char *user)
{
	size_t i;

	for (i = 0; i < a->nh; i++)
		if (a->h[i].user[0] != '\0' && strcmp(a->h[i].user, user) == 0)
			return &a->h[i];
	return NULL;
}

static const struct want *
want_user(const struct acl *a, const char *user)
{
	size_t i;

	for (i = 0; i < a->nw; i++)
		if (!a->w[i].krb && strcmp(a->w[i].user, user) == 0)
			return &a->w[i];
	return NULL;
}

/* The Kerberos entry of sid on the device, or NULL. */
static const struct have *
have_sid(const struct acl *a, const char *sid)
{
	size_t i;

	for (i = 0; i < a->nh; i++)
		if (a->h[i].sid[0] != '\0' && strcmp(a->h[i].sid, sid) == 0)
			return &a->h[i];
	return NULL;
}

static int
want_sid(const struct acl *a, const char *sid)
{
	size_t i;

	for (i = 0; i < a->nw; i++)
		if (a->w[i].krb && strcmp(a->w[i].sid, sid) == 0)
			return 1;
	return 0;
}

/* The AD account or duty group custody made whose SID is sid (any
 * state), or NULL. */
static json_t *
sid_account(const struct acl *a, const char *sid)
{
	json_t *o;
	size_t i;

	json_array_foreach(a->accounts, i, o) {
		const char *k = json_string_value(json_object_get(o, "kind"));

		if ((strcmp(k, "account") == 0 || strcmp(k, "group") == 0) &&
		    strcmp(json_string_value(json_object_get(o, "sid_b64")),
		    sid) == 0)
			return o;
	}
	return NULL;
}

/* How a Kerberos entry is named to people: the account custody made
 * with that SID, or the SID as S-1-... */
static void
sid_label(const struct acl *a, const char *sid, char *buf, size_t len)
{
	unsigned char bin[64];
	char txt[192];
	size_t n = 0;
	json_t *o = sid_account(a, sid);

	if (o != NULL) {
		snprintf(buf, len, "%s", json_string_value(json_object_get(o,
		    "name")));
		return;
	}
	if (sodium_base642bin(bin, sizeof(bin), sid, strlen(sid), NULL, &n,
	    NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    dir_sid_to_str(bin, n, txt, sizeof(txt)) == CUST_OK) {
		n = strnlen(txt, len - 1);	/* 5 sub-authorities fit */
		memcpy(buf, txt, n);
		buf[n] = '\0';
	} else
		snprintf(buf, len, "SID %s", sid);
	cust_clearerr();
}

static int
is_managed(const struct acl *a, const char *user)
{
	json_t *v;
	size_t i;

	json_array_foreach(a->managed, i, v)
		if (strcmp(json_string_value(v), user) == 0)
			return 1;
	return 0;
}

/* Realm numbers of set as "3,5,7" into buf. */
static void
realm_list(uint32_t set, char *buf, size_t len)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < 32 && o < len; i++)
		if (set & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%d",
			    o ? "," : "", i);
}

/* What a want's entry is named in messages. */
static const char *
krb_noun(const struct want *w)
{
	return !w->krb ? "user" : w->duty != NULL ? "group" : "principal";
}

/* Drift: every difference between the plan (a->w) and the device. */
static int
compare(struct acl *a)
{
	char d[256], l[128];
	size_t i;
	int r;

	for (i = 0; i < a->nh; i++) {
		const struct have *h = &a->h[i];

		if (h->sid[0] != '\0' && !want_sid(a, h->sid)) {
			sid_label(a, h->sid, l, sizeof(l));
			snprintf(d, sizeof(d), "handle %u: Kerberos entry %s is "
			    "not in the plan%s", h->handle, l, sid_account(a,
			    h->sid) ? " (an account or group of custody's: "
			    "policy apply removes it)" : " (not custody's: "
			    "policy apply leaves it)");
			if ((r = finding(a, l, "unknown-user", d)) != CUST_OK)
				return r;
			continue;
		}
		if (h->user[0] == '\0' || strncmp(h->user, "$$", 2) == 0 ||
		    want_user(a, h->user) != NULL)
			continue;
		snprintf(d, sizeof(d), "handle %u: digest user %s is not in "
		    "the plan%s", h->handle, h->user, is_managed(a, h->user) ?
		    " (a user of an earlier policy: policy apply removes it)" :
		    " (not custody's: policy apply leaves it)");
		if ((r = finding(a, h->user, "unknown-user", d)) != CUST_OK)
			return r;
	}
	for (i = 0; i < a->nw; i++) {
		const struct want *w = &a->w[i];
		const struct have *h = w->krb ? have_sid(a, w->sid) :
		    have_user(a, w->user);

		if (w->krb && w->sid[0] == '\0') {
			snprintf(d, sizeof(d), "%s: custody holds no SID "
			    "for %s: run account sync", w->what, w->user);
			if ((r = finding(a, w->user, "unresolved-sid", d)) !=
			    CUST_OK)
				return r;
			continue;
		}
		if (h == NULL) {
			snprintf(d, sizeof(d), "%s: %s %s is not on "
			    "the device", w->what, w->krb ? "Kerberos entry" :
			    "user", w->user);
			if ((r = finding(a, w->user, "missing-user", d)) !=
			    CUST_OK)
				return r;
			continue;
		}
		if (h->set & ~w->set) {
			realm_list(h->set & ~w->set, l, sizeof(l));
			snprintf(d, sizeof(d), "%s: %s %s holds "
			    "realms %s the plan does not grant", w->what,
			    krb_noun(w), w->user, l);
			if ((r = finding(a, w->user, "extra-realm", d)) !=
			    CUST_OK)
				return r;
		}
		if (w->set & ~h->set) {
			realm_list(w->set & ~h->set, l, sizeof(l));
			snprintf(d, sizeof(d), "%s: %s %s lacks "
			    "realms %s of the plan", w->what, krb_noun(w),
			    w->user, l);
			if ((r = finding(a, w->user, "missing-realm", d)) !=
			    CUST_OK)
				return r;
		}
		if (h->access != w->access) {
			snprintf(d, sizeof(d), "%s: %s %s has access "
			    "%u, the plan %u (0 local, 1 network, 2 any)",
			    w->what, krb_noun(w), w->user, h->access,
			    w->access);
			if ((r = finding(a, w->user, "wrong-access", d)) !=
			    CUST_OK)
				return r;
		}
	}
	return CUST_OK;
}

/* The message writing want w with password pw (its DigestPassword). */
static int
write_msg(struct acl *a, const struct want *w, const struct seal_secret *pw,
    struct amt_req **out)
{
	const struct have *h = have_user(a, w->user);
	struct seal_secret *dpw = NULL;
	int r;

	if ((r = amt_digest_password(w->user, a->realm, pw, &dpw)) != CUST_OK)
		return r;
	a->sent_handle = h != NULL ? h->handle : 0;
	r = h != NULL ? amt_msg_update_user(++a->id, h->handle, w->user, dpw,
	    w->access, w->realms, w->nrealms, out) : amt_msg_add_user(++a->id,
	    w->user, dpw, w->access, w->realms, w->nrealms, out);
	seal_secret_free(dpw);
	return r;
}

static void
as_admin(struct acl *a, int fresh)
{
	a->t.user = ACL_ADMIN;
	a->t.password = a->admin;
	a->t.fresh = fresh;
}

/* Whether a proof by login works for w: network access and a realm that
 * reads AMT_GeneralSettings (GeneralInfo 13, PTAdministration 3). */
static int
can_login(const struct want *w)
{
	return w->access != 0 && (w->set & ((1u << 13) | (1u << 3)));
}

static int rec_start(struct acl *a, struct want *w, int before_send,
    const char *why, struct amt_req **out);
static json_t *group_row(json_t *accounts, const char *prefix,
    const char *duty);

/*
 * Which devices may hold a group's entry (dir_group_device, read by
 * account sync before it adds a member: member_later() in
 * src/directory/ad_sync.c).
 *
 * Recorded, committed, before apply sends a group entry (an unknown
 * outcome keeps it), and only while the members account sync recorded
 * for the group are still those this apply planned with: a sync that
 * changes them first records them as not known (committed) and only
 * then reads this table, so either it sees this device or this apply
 * sees the members changed and sends nothing ("run policy apply
 * again"). SQLite orders the two writes; no lock is shared.
 * *ok_out 0 when the members changed.
 */
static int
hold_set(struct acl *a, const struct want *w, int *ok_out)
{
	struct store *db = state_store(a->ctx->st);
	json_t *g = group_row(a->accounts, a->sidcfg->prefix, w->duty), *m;
	sqlite3_stmt *s;
	int64_t id = 0;
	int r, rc;

	*ok_out = 0;
	if (g == NULL)
		return CUST_OK;
	if ((r = store_begin(db)) != CUST_OK)
		return r;
	if ((s = store_stmt(db, "SELECT id, members FROM dir_object WHERE "
	    "kind = 'group' AND name = ? AND state = 'active' AND "
	    STORE_CHECK(STORE_ROW_DIR_OBJECT))) == NULL) {
		store_rollback(db);
		return CUST_E_DB;
	}
	sqlite3_bind_text(s, 1, json_string_value(json_object_get(g, "name")),
	    -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_type(s, 1) == SQLITE_TEXT) {
		m = json_loadb((const char *)sqlite3_column_text(s, 1),
		    (size_t)sqlite3_column_bytes(s, 1), 0, NULL);
		if (json_is_array(m) && json_equal(m, json_object_get(g,
		    "members")))
			id = sqlite3_column_int64(s, 0);
		json_decref(m);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = store_err(db, "read a group's recorded members");
		store_rollback(db);
		return r;
	}
	if (id == 0) {
		store_rollback(db);
		return CUST_OK;
	}
	if ((s = store_stmt(db, "INSERT OR REPLACE INTO dir_group_device("
	    "group_id, fqdn, since) VALUES (?, ?, ?)")) == NULL) {
		store_rollback(db);
		return CUST_E_DB;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, a->fqdn, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, util_now());
	if ((r = store_step_done(db, s, "record a device that may hold a "
	    "group's entry")) != CUST_OK) {
		store_rollback(db);
		return r;
	}
	if ((r = store_commit(db)) != CUST_OK)
		return r;
	*ok_out = 1;
	return CUST_OK;
}

/*
 * Delete the records of a->fqdn (hold_set()) made before this apply
 * enumerated the device (seq <= a->epoch) whose group's SID the device
 * does not hold now (a->h: the enumeration, less the entries whose
 * removal it confirmed). A record made since (another apply about to
 * send the entry) stays.
 */
static int
holds_clear(struct acl *a)
{
	struct store *db = state_store(a->ctx->st);
	sqlite3_stmt *s;
	int64_t gone[ACL_MAX_HAVE];
	size_t n = 0, i;
	int r, rc;

	if ((r = store_begin(db)) != CUST_OK)
		return r;
	if ((s = store_stmt(db, "SELECT seq, sid FROM dir_group_device JOIN "
	    "dir_object ON id = group_id WHERE fqdn = ? AND seq <= ? AND "
	    STORE_CHECK(STORE_ROW_DIR_OBJECT))) == NULL) {
		store_rollback(db);
		return CUST_E_DB;
	}
	sqlite3_bind_text(s, 1, a->fqdn, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, a->epoch);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char b64[AMT_SID_B64_MAX] = "";
		int len = sqlite3_column_bytes(s, 1);

		/* a SID too long for AMT is on no device */
		if (len > 0 && (size_t)len < sizeof(b64) / 4 * 3)
			sodium_bin2base64(b64, sizeof(b64),
			    sqlite3_column_blob(s, 1), (size_t)len,
			    sodium_base64_VARIANT_ORIGINAL);
		if ((b64[0] == '\0' || have_sid(a, b64) == NULL) &&
		    n < sizeof(gone) / sizeof(gone[0]))
			gone[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		r = store_err(db, "read the groups a device may hold");
		store_rollback(db);
		return r;
	}
	for (i = 0; i < n; i++) {
		if ((s = store_stmt(db, "DELETE FROM dir_group_device WHERE "
		    "seq = ?")) == NULL) {
			store_rollback(db);
			return CUST_E_DB;
		}
		sqlite3_bind_int64(s, 1, gone[i]);
		if ((r = store_step_done(db, s, "forget a group's entry on a "
		    "device")) != CUST_OK) {
			store_rollback(db);
			return r;
		}
	}
	return store_commit(db);
}

/*
 * The change Kerberos want w needs, into *out (NULL: none, or it was
 * recorded as failed). The first one reads AMT_KerberosSettingData:
 * AMT refuses Kerberos entries while Kerberos is off (reference 5), and
 * that is device kerberos's to turn on.
 */
static int
krb_change(struct acl *a, const struct want *w, struct amt_req **out)
{
	const struct have *h = w->sid[0] != '\0' ? have_sid(a, w->sid) : NULL;
	char d[256];

	*out = NULL;
	if (w->sid[0] == '\0') {
		snprintf(d, sizeof(d), "%s: custody holds no SID for "
		    "%s: run account sync", w->what, w->user);
		return action(a, w->user, "add", "failed", d);
	}
	if (h != NULL && h->set == w->set && h->access == w->access)
		return CUST_OK;		/* nothing to send */
	if (a->krb_on == 0) {
		as_admin(a, 0);
		a->step = A_KCHECK;
		return amt_msg_get(++a->id, "AMT_KerberosSettingData", out);
	}
	if (a->krb_on < 0)
		return action(a, w->user, h ? "update" : "add", "failed",
		    "Kerberos is not enabled on the device: run device "
		    "kerberos first");
	if (w->duty != NULL) {
		int ok, r;

		/* tests: an account sync between the plan and the record */
		util_test_delay("acl-group-hold");
		if ((r = hold_set(a, w, &ok)) != CUST_OK)
			return r;
		if (!ok) {
			snprintf(d, sizeof(d), "%s: the members account sync "
			    "recorded for %s changed since this apply read "
			    "them: nothing sent, run policy apply again",
			    w->what, w->user);
			return action(a, w->user, h ? "update" : "add",
			    "failed", d);
		}
	}
	as_admin(a, 0);
	a->sent_handle = h != NULL ? h->handle : 0;
	a->step = A_KSEND;
	return h != NULL ? amt_msg_update_kerberos_user(++a->id, h->handle,
	    w->sid, w->access, w->realms, w->nrealms, out) :
	    amt_msg_add_kerberos_user(++a->id, w->sid, w->access, w->realms,
	    w->nrealms, out);
}

/* The next change of apply, or the end. */
static int
next_change(struct acl *a, struct amt_req **out)
{
	struct ops_ctx *ctx = a->ctx;
	char d[512];
	int r;

	for (; a->wi < a->nw; a->wi++) {
		struct want *w = &a->w[a->wi];
		const struct have *h = have_user(a, w->user);
		const char *state;
		int64_t v;

		/* Reconciling only: a version left 'pushed' of a user who
		 * may log in, tried as after a change whose answer was lost
		 * (the candidate, then the current password); nothing is
		 * sent. The others wait for the next apply. */
		if (a->apply == ACL_RECONCILE) {
			if (w->krb || w->ver == 0 || !w->begun ||
			    !can_login(w))
				continue;
			seal_secret_free(a->pw);
			a->pw = NULL;
			if ((r = cred_secret_read(ctx->st, ctx->actor,
			    "device.reconcile", "candidate", a->fqdn, w->kind,
			    w->ver, &a->pw, &v, &state)) != CUST_OK)
				return r;
			return rec_start(a, w, 0, "its push's outcome was not "
			    "known (the process that sent it stopped)", out);
		}
		if (w->krb) {
			if ((r = krb_change(a, w, out)) != CUST_OK ||
			    *out != NULL)
				return r;
			continue;
		}

		if (w->ver == 0 && w->cur == 0) {
			/* The sync has not granted it (yet). */
			snprintf(d, sizeof(d), "custody holds no %s credential "
			    "for %s: run credential sync", w->kind, a->fqdn);
			if ((r = action(a, w->user, "push", "failed", d)) !=
			    CUST_OK)
				return r;
			continue;
		}
		if (w->ver == 0 && h != NULL && h->set == w->set &&
		    h->access == w->access)
			continue;	/* nothing to send */
		seal_secret_free(a->pw);
		a->pw = NULL;
		if ((r = cred_secret_read(ctx->st, ctx->actor, "policy.apply",
		    w->ver ? "candidate" : "current", a->fqdn, w->kind, w->ver ?
		    w->ver : CRED_VER_CURRENT, &a->pw, &v, &state)) != CUST_OK)
			return r;
		/* Pushed by an apply that never learnt the outcome, and the
		 * user is on the device: does it hold the version already? */
		if (w->ver != 0 && w->begun && h != NULL && can_login(w))
			return rec_start(a, w, 1, "its push by an earlier apply "
			    "had an unknown outcome", out);
		as_admin(a, 0);
		if ((r = write_msg(a, w, a->pw, out)) != CUST_OK)
			return r;
		if (w->ver != 0 && !w->begun) {
			if ((r = cred_push_begin(ctx->st, ctx->actor, a->fqdn,
			    w->kind, &w->ver)) != CUST_OK)
				return r;
			w->begun = 1;
			util_test_stop("acl-begun");	/* tests arm a fault */
		}
		a->step = A_SEND;
		return CUST_OK;
	}
	/* Then the users custody manages that the plan no longer grants. */
	if (a->apply == ACL_RECONCILE)
		a->ri = a->nh;
	for (; a->ri < a->nh; a->ri++) {
		const struct have *h = &a->h[a->ri];

		if (h->sid[0] != '\0' && !want_sid(a, h->sid)) {
			char l[128];

			sid_label(a, h->sid, l, sizeof(l));
			if (sid_account(a, h->sid) == NULL) {
				snprintf(d, sizeof(d), "handle %u is not an "
				    "account custody made: left alone",
				    h->handle);
				if ((r = action(a, l, "keep", "ok", d)) !=
				    CUST_OK)
					return r;
				continue;
			}
			as_admin(a, 0);
			a->step = A_REMOVE;
			return amt_msg_remove_user(++a->id, h->handle, out);
		}
		if (h->user[0] == '\0' || strncmp(h->user, "$$", 2) == 0 ||
		    want_user(a, h->user) != NULL)
			continue;
		if (!is_managed(a, h->user)) {
			snprintf(d, sizeof(d), "handle %u is not custody's user "
			    "(no loaded policy names it): left alone",
			    h->handle);
			if ((r = action(a, h->user, "keep", "ok", d)) !=
			    CUST_OK)
				return r;
			continue;
		}
		as_admin(a, 0);
		a->step = A_REMOVE;
		return amt_msg_remove_user(++a->id, h->handle, out);
	}
	if (a->refused)
		snprintf(d, sizeof(d), "%d change(s) refused, first: %s",
		    a->refused, a->refusal);
	done(a, a->refused ? "refused" : a->failed ? "failed" :
	    a->reconciled ? "reconciled" : "ok", a->refused ? d : a->failed ?
	    "some changes did not apply (see actions)" : a->reconciled ?
	    "the device matches the plan; a change whose outcome was not "
	    "known is settled" : "the device matches the plan");
	return CUST_OK;
}

/* Settle the change in flight of w after its proof (or refusal). */
static int
settle(struct acl *a, struct want *w, int ok, const char *why)
{
	char d[256];
	int r;

	if (w->ver == 0)	/* a repair with the current password */
		return action(a, w->user, "repair", ok ? "ok" : "failed", why);
	if (ok) {
		if ((r = cred_push_end(a->ctx->st, a->ctx->actor, a->fqdn,
		    w->kind, w->ver, CRED_PUSH_APPLIED, why)) != CUST_OK)
			return r;
		snprintf(d, sizeof(d), "%s v%lld applied (%s): now current",
		    w->kind, (long long)w->ver, why);
		return action(a, w->user, "push", "ok", d);
	}
	return action(a, w->user, "push", "failed", why);
}

/* Parse a GetUserAclEntryEx answer into h. */
struct realm_acc {
	uint32_t set;
	int bad;
};

static int
realm_add(void *arg, const char *v)
{
	struct realm_acc *ra = arg;
	uint32_t n;

	if (amt_parse_u32(v, &n) != CUST_OK || n >= 32) {
		cust_clearerr();
		ra->bad = 1;
		return 1;
	}
	ra->set |= 1u << n;
	return 0;
}

static int
entry_of(const struct amt_reply *rep, uint32_t handle, struct have *h)
{
	struct realm_acc ra = { 0, 0 };
	const char *u = amt_reply_value(rep, "DigestUsername");
	const char *acc = amt_reply_value(rep, "AccessPermission");
	const char *sid = amt_reply_value(rep, "KerberosUserSid");
	uint32_t n;

	memset(h, 0, sizeof(*h));
	h->handle = handle;
	if (u == NULL && sid != NULL) {
		if (amt_sid_check_b64(sid) != CUST_OK)
			return cust_fail(CUST_E_PARSE, "entry %u: KerberosUserSid "
			    "is not a SID", handle);
		memcpy(h->sid, sid, strlen(sid) + 1);
	}
	if (u != NULL && strlen(u) > AMT_USER_MAX)
		return cust_fail(CUST_E_PARSE, "entry %u: user name too long",
		    handle);
	if (u != NULL)
		memcpy(h->user, u, strlen(u) + 1);
	if (acc == NULL || amt_parse_u32(acc, &n) != CUST_OK || n > 2)
		return cust_fail(CUST_E_PARSE, "entry %u: no valid "
		    "AccessPermission", handle);
	h->access = n;
	(void)amt_reply_values(rep, "Realms", realm_add, &ra);
	if (ra.bad)
		return cust_fail(CUST_E_PARSE, "entry %u: a realm is not a "
		    "realm number", handle);
	h->set = ra.set;
	return CUST_OK;
}

static int
handle_add(void *arg, const char *v)
{
	struct acl *a = arg;
	uint32_t n;

	if (amt_parse_u32(v, &n) != CUST_OK) {
		cust_clearerr();
		return -CUST_E_PARSE;
	}
	if (a->nhandles >= ACL_MAX_HAVE)
		return -CUST_E_TOOBIG;
	a->handles[a->nhandles++] = n;
	return 0;
}

/*
 * A login as w's user just worked (the answer to step proven: the proof
 * A_VERIFY, or a reconciliation's A_REC_CAND): it proves the password only
 * on a peer that refuses the others. The same Get as the user with a
 * random password made for the purpose (no one holds it: a peer cannot
 * tell it from any other wrong one), on the login's digest session (no
 * reset: the nonce just given, the next nonce count, the same connection):
 * one request more. A device refuses it; a peer that takes any login (an
 * impostor with the device's realm) takes it, and nothing is proven, as
 * for the admin push (ops_push.c deny_check(), SERVICE.md).
 */
static int
deny_login(struct acl *a, struct want *w, enum astep proven,
    struct amt_req **out)
{
	int r;

	if (a->wrong == NULL && (r = ops_wrong_password(&a->wrong)) !=
	    CUST_OK)
		return r;
	a->t.user = w->user;
	a->t.password = a->wrong;
	a->t.fresh = 0;
	a->proven = proven;
	a->step = A_DENY;
	return amt_msg_get(++a->id, "AMT_GeneralSettings", out);
}

/* The answer to deny_login()'s Get (err). */
static int
denied(struct acl *a, struct want *w, int err, struct amt_req **out)
{
	char d[512];
	int r;

	if (err == CUST_E_DENIED && a->proven == A_REC_CAND) {
		snprintf(d, sizeof(d), "%s; a digest login as %s with v%lld "
		    "works: now current", a->why, w->user, (long long)w->ver);
		if ((r = cred_push_end(a->ctx->st, a->ctx->actor, a->fqdn,
		    w->kind, w->ver, CRED_PUSH_APPLIED, "reconciled: a digest "
		    "login with it works (a wrong password refused)")) !=
		    CUST_OK ||
		    (r = action(a, w->user, "push", "reconciled", d)) !=
		    CUST_OK)
			return r;
	} else if (err == CUST_E_DENIED) {
		if ((r = settle(a, w, 1, "proven by a digest login as the "
		    "user (a wrong password refused)")) != CUST_OK)
			return r;
	} else {
		if (err == CUST_OK)
			snprintf(d, sizeof(d), "a digest login as %s worked, and "
			    "so did one with a wrong password: a peer that takes "
			    "any login proves nothing (not an AMT device, or a "
			    "man in the middle)%s", w->user, w->ver ? "; it stays "
			    "pushed" : "");
		else
			snprintf(d, sizeof(d), "a digest login as %s worked, but "
			    "whether a wrong password is refused could not be "
			    "seen (%s): not proven%s", w->user, cust_errmsg(),
			    w->ver ? "; it stays pushed" : "");
		if ((r = settle(a, w, 0, d)) != CUST_OK)
			return r;
	}
	a->wi++;
	return next_change(a, out);
}

/*
 * Reconciling a user's push whose outcome is not known (a timeout or a
 * dropped connection after the change was sent; or a version an earlier
 * apply left 'pushed', its process killed or the device gone), as the
 * admin push does (ops_push.c): a Get as the user on a fresh connection
 * with the candidate, then with the current password, and the one that
 * works is committed: the candidate current ("reconciled"), or the
 * candidate failed while the device keeps the current one
 * ("kept-current"). Neither: it stays 'pushed' ("unknown"), for the next
 * apply. Before sending (rec_pre: an earlier apply's push, the user on
 * the device) a candidate that does not log in is simply sent. Only for
 * a user who may log in (can_login()); another's change is sent again
 * (the same DigestPassword: sending it twice changes nothing).
 */
static int
rec_get(struct acl *a, const struct want *w, const struct seal_secret *pw,
    enum astep next, struct amt_req **out)
{
	a->t.user = w->user;
	a->t.password = pw;
	a->t.fresh = 1;
	a->step = next;
	return amt_msg_get(++a->id, "AMT_GeneralSettings", out);
}

static int
rec_start(struct acl *a, struct want *w, int before_send, const char *why,
    struct amt_req **out)
{
	size_t n = strnlen(why, sizeof(a->why) - 1);

	memcpy(a->why, why, n);		/* cut short if it must be */
	a->why[n] = '\0';
	a->rec_pre = before_send;
	return rec_get(a, w, a->pw, A_REC_CAND, out);
}

/* The answer to a reconciling Get (A_REC_CAND, A_REC_CUR). */
static int
rec_step(struct acl *a, struct want *w, int err, struct amt_req **out)
{
	struct ops_ctx *ctx = a->ctx;
	const char *state;
	char d[512];
	int64_t v;
	int r;

	if (a->step == A_REC_CAND && err == CUST_OK)
		return deny_login(a, w, A_REC_CAND, out);
	if (a->step == A_REC_CAND && a->rec_pre) {
		/* The device does not hold it: send it. */
		as_admin(a, 0);
		a->step = A_SEND;
		return write_msg(a, w, a->pw, out);
	}
	if (a->step == A_REC_CAND && w->cur != 0) {
		seal_secret_free(a->cur_pw);
		a->cur_pw = NULL;
		if ((r = cred_secret_read(ctx->st, ctx->actor, "policy.apply",
		    "current", a->fqdn, w->kind, CRED_VER_CURRENT, &a->cur_pw,
		    &v, &state)) != CUST_OK)
			return r;
		return rec_get(a, w, a->cur_pw, A_REC_CUR, out);
	}
	if (a->step == A_REC_CUR && err == CUST_OK) {
		snprintf(d, sizeof(d), "%s; the device still has %s's current "
		    "password (v%lld failed)", a->why, w->user,
		    (long long)w->ver);
		if ((r = cred_push_end(ctx->st, ctx->actor, a->fqdn, w->kind,
		    w->ver, CRED_PUSH_REFUSED, "reconciled: the device still "
		    "takes the current password")) != CUST_OK ||
		    (r = action(a, w->user, "push", "kept-current", d)) !=
		    CUST_OK)
			return r;
		a->wi++;
		return next_change(a, out);
	}
	snprintf(d, sizeof(d), "%s; no password of custody logs in as %s "
	    "(%s): v%lld stays pushed, the next apply reconciles it", a->why,
	    w->user, cust_errmsg(), (long long)w->ver);
	if ((r = action(a, w->user, "push", "unknown", d)) != CUST_OK)
		return r;
	done(a, "unknown", "the outcome of a change is not known");
	return CUST_OK;
}

/* The device-level failure of a read (realm, enumeration). */
static const char *
fail_kind(int err)
{
	/* CUST_E_VIOLATION: the transport refused the device's digest
	 * challenge for its realm, before any login. */
	return err == CUST_E_DENIED ? "auth-failed" : err == CUST_E_UNAVAIL ?
	    "unreachable" : err == CUST_E_VIOLATION ? "realm-mismatch" :
	    err == CUST_E_CRYPTO ? "tls-failed" : "error";
}

static int
step(void *arg, const struct amt_reply *rep, int err, struct amt_req **out)
{
	struct acl *a = arg;
	struct want *w = a->wi < a->nw ? &a->w[a->wi] : NULL;
	const char *v;
	char d[512];
	uint32_t n;
	int r;

	switch (a->step) {
	case A_START:
		as_admin(a, 0);
		a->step = A_REALM;
		return amt_msg_get(++a->id, "AMT_GeneralSettings", out);
	case A_REALM:
		if (err == CUST_OK)
			err = amt_reply_realm(rep, a->realm);
		if (err != CUST_OK) {
			done(a, fail_kind(err), cust_errmsg());
			return CUST_OK;
		}
		if (a->reg != NULL && strcmp(a->reg, a->realm) != 0) {
			snprintf(d, sizeof(d), "the device's DigestRealm %s is "
			    "not the registered %s: %s, nothing sent",
			    a->realm, a->reg, amt_realm_differs(a->realm,
			    a->reg));
			done(a, "realm-mismatch", d);
			return CUST_OK;
		}
		/* First contact: not a realm another device has (drift
		 * checks it, apply records it). */
		if (a->reg == NULL) {
			const char *res;

			if ((r = ops_first_realm(a->ctx, a->fqdn, a->realm,
			    a->apply, &res)) != CUST_OK)
				return r;
			if (res != NULL) {
				done(a, res, cust_errmsg());
				return CUST_OK;
			}
		}
		/* before the enumeration: holds_clear() */
		if (a->apply == 1 && (r = ops_sql_int(a->ctx->st, "SELECT "
		    "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = "
		    "'dir_group_device'), 0)", "read dir_group_device",
		    &a->epoch)) != CUST_OK)
			return r;
		a->step = A_ENUM;
		return amt_msg_enum_users(++a->id, 1, out);
	case A_ENUM:
		if (err == CUST_OK)
			err = amt_reply_check(rep);
		if (err == CUST_OK && ((v = amt_reply_value(rep,
		    "TotalCount")) == NULL || amt_parse_u32(v, &n) !=
		    CUST_OK))
			err = cust_fail(CUST_E_PARSE, "EnumerateUserAclEntries: "
			    "no TotalCount");
		if (err == CUST_OK) {
			size_t before = a->nhandles;

			a->total = n;
			if ((r = amt_reply_values(rep, "Handles", handle_add,
			    a)) < 0)
				err = cust_fail(-r, "EnumerateUserAclEntries: "
				    "bad or too many handles");
			else if (a->nhandles < a->total &&
			    a->nhandles > before)
				return amt_msg_enum_users(++a->id,
				    (unsigned)a->nhandles + 1, out);
		}
		if (err != CUST_OK) {
			done(a, fail_kind(err), cust_errmsg());
			return CUST_OK;
		}
		a->gi = 0;
		a->step = A_GETU;
		if (a->nhandles > 0)
			return amt_msg_get_user(++a->id, a->handles[0], out);
		rep = NULL;
		/* FALLTHROUGH */
	case A_GETU:
		if (rep != NULL || err != CUST_OK) {
			if (err == CUST_OK)
				err = amt_reply_check(rep);
			if (err == CUST_OK)
				err = entry_of(rep, a->handles[a->gi],
				    &a->h[a->nh]);
			if (err != CUST_OK) {
				done(a, fail_kind(err), cust_errmsg());
				return CUST_OK;
			}
			a->nh++;
			if (++a->gi < a->nhandles)
				return amt_msg_get_user(++a->id,
				    a->handles[a->gi], out);
		}
		if (!a->apply) {
			if ((r = compare(a)) != CUST_OK)
				return r;
			done(a, json_array_size(a->findings) ? "drift" : "ok",
			    json_array_size(a->findings) ? "the device differs "
			    "from the plan" : "the device matches the plan");
			return CUST_OK;
		}
		/* the whole ACL read: groups not on it are not */
		if (a->apply == 1 && a->nhandles >= a->total &&
		    (r = holds_clear(a)) != CUST_OK)
			return r;
		a->wi = a->ri = 0;
		return next_change(a, out);
	case A_SEND:
		util_test_crash("acl-sent");
		if (err == CUST_OK && amt_reply_check(rep) != CUST_OK) {
			/* A definite refusal: nothing changed. */
			if (w->ver != 0 && (r = cred_push_end(a->ctx->st,
			    a->ctx->actor, a->fqdn, w->kind, w->ver,
			    CRED_PUSH_REFUSED, cust_errmsg())) != CUST_OK)
				return r;
			if ((r = action(a, w->user, w->ver ? "push" : "repair",
			    "refused", cust_errmsg())) != CUST_OK)
				return r;
			a->wi++;
			return next_change(a, out);
		}
		if (err != CUST_OK && w->ver != 0 && can_login(w))
			return rec_start(a, w, 0, cust_errmsg(), out);
		if (err != CUST_OK) {
			snprintf(d, sizeof(d), "outcome unknown (%s): v%lld "
			    "stays pushed, the next apply sends it again",
			    cust_errmsg(), (long long)w->ver);
			if ((r = action(a, w->user, w->ver ? "push" : "repair",
			    "unknown", d)) != CUST_OK)
				return r;
			done(a, "unknown", "the device stopped answering after "
			    "a change was sent: the next apply settles it");
			return CUST_OK;
		}
		if (a->sent_handle == 0 && ((v = amt_reply_value(rep,
		    "Handle")) == NULL || amt_parse_u32(v, &a->sent_handle) !=
		    CUST_OK)) {
			cust_clearerr();
			a->sent_handle = 0;
		}
		if (can_login(w)) {
			a->t.user = w->user;
			a->t.password = a->pw;
			a->t.fresh = 1;
			a->step = A_VERIFY;
			return amt_msg_get(++a->id, "AMT_GeneralSettings", out);
		}
		if (a->sent_handle == 0) {
			if ((r = settle(a, w, 0, "the device answered no "
			    "handle for the new entry")) != CUST_OK)
				return r;
			a->wi++;
			return next_change(a, out);
		}
		as_admin(a, 1);
		a->step = A_READBACK;
		return amt_msg_get_user(++a->id, a->sent_handle, out);
	case A_VERIFY:
		if (err == CUST_OK)
			return deny_login(a, w, A_VERIFY, out);
		snprintf(d, sizeof(d), "a digest login as %s failed: %s",
		    w->user, cust_errmsg());
		if ((r = settle(a, w, 0, d)) != CUST_OK)
			return r;
		a->wi++;
		return next_change(a, out);
	case A_DENY:
		return denied(a, w, err, out);
	case A_READBACK: {
		struct have h;

		if (err == CUST_OK)
			err = amt_reply_check(rep);
		if (err == CUST_OK)
			err = entry_of(rep, a->sent_handle, &h);
		if (err == CUST_OK && (strcmp(h.user, w->user) != 0 ||
		    h.set != w->set || h.access != w->access))
			err = cust_fail(CUST_E_CONFLICT, "the entry read back "
			    "is not the one written");
		if (err != CUST_OK)
			snprintf(d, sizeof(d), "reading the entry back: %s",
			    cust_errmsg());
		if ((r = settle(a, w, err == CUST_OK, err == CUST_OK ?
		    "proven by reading the entry back (the user cannot log in "
		    "over the network to AMT_GeneralSettings)" : d)) !=
		    CUST_OK)
			return r;
		a->wi++;
		return next_change(a, out);
	}
	case A_REMOVE: {
		char l[128];

		if (err == CUST_OK)
			err = amt_reply_check(rep);
		snprintf(d, sizeof(d), "handle %u: %s", a->h[a->ri].handle,
		    err == CUST_OK ? "the policy no longer grants it" :
		    cust_errmsg());
		if (a->h[a->ri].sid[0] != '\0')
			sid_label(a, a->h[a->ri].sid, l, sizeof(l));
		else
			snprintf(l, sizeof(l), "%s", a->h[a->ri].user);
		if ((r = action(a, l, "remove", err == CUST_OK ?
		    "ok" : "failed", d)) != CUST_OK)
			return r;
		/* gone, as the device confirmed: no longer held there */
		if (err == CUST_OK && a->h[a->ri].sid[0] != '\0') {
			a->h[a->ri].sid[0] = '\0';
			if ((r = holds_clear(a)) != CUST_OK)
				return r;
		}
		a->ri++;
		return next_change(a, out);
	}
	case A_REC_CAND:
	case A_REC_CUR:
		return rec_step(a, w, err, out);
	case A_KCHECK:
		v = err == CUST_OK ? amt_reply_value(rep, "KrbEnabled") : NULL;
		if (err == CUST_OK && v == NULL)
			err = cust_fail(CUST_E_PARSE, "AMT_KerberosSettingData: "
			    "no KrbEnabled");
		if (err != CUST_OK) {
			snprintf(d, sizeof(d), "reading the Kerberos settings: "
			    "%s", cust_errmsg());
			done(a, fail_kind(err), d);
			return CUST_OK;
		}
		a->krb_on = strcmp(v, "true") == 0 ? 1 : -1;
		return next_change(a, out);
	case A_KSEND:
		if (err == CUST_OK && amt_reply_check(rep) != CUST_OK) {
			if ((r = action(a, w->user, a->sent_handle ? "update" :
			    "add", "refused", cust_errmsg())) != CUST_OK)
				return r;
			a->wi++;
			return next_change(a, out);
		}
		if (err != CUST_OK) {
			/* No secret: the next apply reads the device and
			 * settles it by what it finds. */
			snprintf(d, sizeof(d), "outcome unknown (%s): the next "
			    "apply reads the entries and settles it",
			    cust_errmsg());
			if ((r = action(a, w->user, a->sent_handle ? "update" :
			    "add", "unknown", d)) != CUST_OK)
				return r;
			done(a, "unknown", "the device stopped answering after "
			    "a change was sent: the next apply settles it");
			return CUST_OK;
		}
		if (a->sent_handle == 0 && ((v = amt_reply_value(rep,
		    "Handle")) == NULL || amt_parse_u32(v, &a->sent_handle) !=
		    CUST_OK)) {
			cust_clearerr();
			if ((r = action(a, w->user, "add", "failed", "the "
			    "device answered no handle for the new entry")) !=
			    CUST_OK)
				return r;
			a->wi++;
			return next_change(a, out);
		}
		as_admin(a, 1);
		a->step = A_KREADBACK;
		return amt_msg_get_user(++a->id, a->sent_handle, out);
	case A_KREADBACK: {
		struct have h;

		if (err == CUST_OK)
			err = amt_reply_check(rep);
		if (err == CUST_OK)
			err = entry_of(rep, a->sent_handle, &h);
		if (err == CUST_OK && (strcmp(h.sid, w->sid) != 0 ||
		    h.set != w->set || h.access != w->access))
			err = cust_fail(CUST_E_CONFLICT, "the entry read back "
			    "is not the one written");
		if (err != CUST_OK)
			snprintf(d, sizeof(d), "reading the entry back: %s",
			    cust_errmsg());
		else
			snprintf(d, sizeof(d), "handle %u: SID %s, realms and "
			    "access as the plan says (read back)",
			    a->sent_handle, w->sid);
		if ((r = action(a, w->user, have_sid(a, w->sid) ? "update" :
		    "add", err == CUST_OK ? "ok" : "failed", d)) != CUST_OK)
			return r;
		a->wi++;
		return next_change(a, out);
	}
	}
	return cust_fail(CUST_E_INTERNAL, "acl: bad step");
}

static int acl_record(void *arg);

static int
acl_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **req_out)
{
	struct acl *a = arg;

	return ops_conv_next(a, &a->result, &a->err, step, acl_record, prev,
	    err, req_out);
}

static void
acl_clear(struct acl *a)
{
	json_decref(a->dev);
	json_decref(a->plan);
	json_decref(a->findings);
	json_decref(a->actions);
	seal_secret_free(a->admin);
	seal_secret_free(a->pw);
	seal_secret_free(a->cur_pw);
	seal_secret_free(a->wrong);
	free(a->t.revoked);
	memset(a, 0, sizeof(*a));
}

/* The ${sid:PRINCIPAL} of the plan resolved: the SID account sync read
 * back for console's AD account (active, as AMT takes it), else "". */
static void
sid_of(const struct acl *a, const char *console, char *sid, size_t len)
{
	json_t *o;
	size_t i;

	sid[0] = '\0';
	json_array_foreach(a->accounts, i, o) {
		const char *b = json_string_value(json_object_get(o,
		    "sid_b64"));

		if (strcmp(json_string_value(json_object_get(o, "kind")),
		    "account") != 0 || strcmp(json_string_value(
		    json_object_get(o, "owner")), console) != 0 ||
		    strcmp(json_string_value(json_object_get(o, "state")),
		    "active") != 0 || b == NULL || strlen(b) >= len ||
		    amt_sid_check_b64(b) != CUST_OK) {
			cust_clearerr();
			continue;
		}
		memcpy(sid, b, strlen(b) + 1);
		return;
	}
}

/* The group row (of dir_ad_list() rows accounts) that stands for duty:
 * the first active row of kind group named prefix + duty (as AD compares
 * names) whose owner is duty, with a SID AMT takes; NULL when none. */
static json_t *
group_row(json_t *accounts, const char *prefix, const char *duty)
{
	char name[sizeof(((struct want *)0)->grp)];
	json_t *o;
	size_t i;

	snprintf(name, sizeof(name), "%s%s", prefix, duty);
	json_array_foreach(accounts, i, o) {
		const char *b = json_string_value(json_object_get(o,
		    "sid_b64"));

		if (strcmp(json_string_value(json_object_get(o, "kind")),
		    "group") != 0 || strcasecmp(json_string_value(
		    json_object_get(o, "name")), name) != 0 ||
		    strcmp(json_string_value(json_object_get(o, "owner")),
		    duty) != 0 ||
		    strcmp(json_string_value(json_object_get(o, "state")),
		    "active") != 0 || b == NULL ||
		    strlen(b) >= sizeof(((struct want *)0)->sid) ||
		    amt_sid_check_b64(b) != CUST_OK) {
			cust_clearerr();
			continue;
		}
		return o;
	}
	return NULL;
}

/* The ${group:DUTY} of the plan resolved: the SID account sync read back
 * for duty's group (group_row()), else "". */
static void
group_sid_of(const struct acl *a, const char *duty, char *sid, size_t len)
{
	json_t *o = group_row(a->accounts, a->sidcfg->prefix, duty);
	const char *b = json_string_value(json_object_get(o, "sid_b64"));

	sid[0] = '\0';
	if (b != NULL && strlen(b) < len)
		memcpy(sid, b, strlen(b) + 1);
}

int
ops_acl_synced(json_t *accounts, const char *prefix, json_t **out)
{
	json_t *o, *m, *synced = json_object();
	const char *duty;
	size_t i;

	*out = NULL;
	if (synced == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_array_foreach(accounts, i, o) {
		if ((duty = json_string_value(json_object_get(o,
		    "owner"))) == NULL || group_row(accounts, prefix, duty) != o)
			continue;
		m = json_object_get(o, "members");
		if (json_object_set_new(synced, duty, m != NULL ?
		    json_incref(m) : json_null()) != 0) {
			json_decref(synced);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	}
	*out = synced;
	return CUST_OK;
}

/* The entries of plan into a->w: digest ones with their credential
 * versions from hist, Kerberos ones with their SIDs. */
static int
wants_of(struct acl *a, json_t *hist)
{
	json_t *e, *rv;
	size_t i, k;
	int r;

	json_array_foreach(json_object_get(a->plan, "entries"), i, e) {
		struct want *w;
		const char *type = json_string_value(json_object_get(e, "type"));

		if (strcmp(type, "digest") != 0 && strcmp(type, "kerberos") != 0)
			continue;
		if (a->nw >= ACL_MAX_WANT)
			return cust_fail(CUST_E_TOOBIG, "too many consoles");
		w = &a->w[a->nw++];
		w->console = json_string_value(json_object_get(e, "console"));
		w->krb = strcmp(type, "kerberos") == 0;
		w->duty = json_string_value(json_object_get(e, "group"));
		if (w->krb && w->duty != NULL) {
			/* a duty's group: named by the group account sync
			 * makes for it */
			snprintf(w->grp, sizeof(w->grp), "%s%s",
			    a->sidcfg->prefix, w->duty);
			snprintf(w->what, sizeof(w->what), "duty %s",
			    w->duty);
			w->user = w->grp;
		} else {
			snprintf(w->what, sizeof(w->what), "console %s",
			    w->console);
			w->user = json_string_value(json_object_get(e,
			    w->krb ? "principal" : "username"));
		}
		w->access = (unsigned)json_integer_value(json_object_get(e,
		    "access"));
		json_array_foreach(json_object_get(e, "realms"), k, rv) {
			if (k >= sizeof(w->realms) / sizeof(w->realms[0]))
				break;
			w->realms[w->nrealms++] = (unsigned)
			    json_integer_value(rv);
		}
		w->set = set_of(w->realms, w->nrealms);
		if (w->krb) {
			if (w->duty != NULL)
				group_sid_of(a, w->duty, w->sid, sizeof(w->sid));
			else
				sid_of(a, w->console, w->sid, sizeof(w->sid));
			continue;
		}
		if ((r = cred_console_kind(w->console, w->kind,
		    sizeof(w->kind))) != CUST_OK)
			return r;
		if ((w->ver = ops_version_in(hist, w->kind, "pending")) == 0)
			w->ver = ops_version_in(hist, w->kind, "pushed");
		w->begun = w->ver != 0 &&
		    ops_version_in(hist, w->kind, "pushed") == w->ver;
		w->cur = ops_version_in(hist, w->kind, "current");
	}
	return CUST_OK;
}

/* a set up for device fqdn: its record, plan and wants (a->w). */
static int
acl_plan_of(struct ops_ctx *ctx, const struct policy *p, json_t *accounts,
    const struct ops_acl_sid *sidcfg, const char *fqdn, struct acl *a)
{
	json_t *hist = NULL, *synced = NULL;
	int r;

	memset(a, 0, sizeof(*a));
	a->ctx = ctx;
	a->accounts = accounts;
	a->sidcfg = sidcfg;
	if ((a->findings = json_array()) == NULL ||
	    (a->actions = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = cred_device_get(ctx->st, fqdn, &a->dev)) != CUST_OK ||
	    (r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		goto out;
	a->fqdn = json_string_value(json_object_get(a->dev, "fqdn"));
	a->reg = json_string_value(json_object_get(a->dev, "digest_realm"));
	a->t.fqdn = a->fqdn;
	a->t.address = json_string_value(json_object_get(a->dev, "address"));
	a->t.realm = json_string_value(json_object_get(a->dev,
	    "digest_realm"));
	/* A device custody provisioned TLS on: over TLS, as pushes. */
	if ((r = ops_tls_target(ctx->st, a->fqdn, &a->t, a->cafile,
	    sizeof(a->cafile))) != CUST_OK)
		goto out;
	/* a duty's group entry only where its members in AD are known to
	 * be the policy's holders of the duty */
	if ((r = ops_acl_synced(accounts, sidcfg->prefix, &synced)) !=
	    CUST_OK)
		goto out;
	if ((r = policy_plan_synced(p, a->fqdn, json_object_get(a->dev,
	    "tags"), (enum policy_sid_mode)sidcfg->mode, synced, &a->plan)) ==
	    CUST_OK)
		r = wants_of(a, hist);
out:
	json_decref(synced);
	json_decref(hist);
	return r;
}

static int
acl_prepare(struct ops_ctx *ctx, const struct policy *p, json_t *managed,
    json_t *accounts, const struct ops_acl_sid *sidcfg, int apply,
    const char *fqdn, struct acl *a)
{
	const char *state;
	int64_t v;
	int r;

	if ((r = acl_plan_of(ctx, p, accounts, sidcfg, fqdn, a)) != CUST_OK)
		return r;
	a->apply = apply;
	a->managed = managed;
	if ((r = cred_secret_read(ctx->st, ctx->actor, apply ? "policy.apply" :
	    "policy.drift", "admin login", a->fqdn, CRED_KIND_ADMIN,
	    CRED_VER_CURRENT, &a->admin, &v, &state)) != CUST_OK)
		return r;
	as_admin(a, 0);
	return CUST_OK;
}

/* Add step i of a dry run (q consumed) to steps; hide: every secret as
 * ***. */
static int
dry_step(json_t *steps, const char *name, struct amt_req *q, const char *auth,
    int hide)
{
	char *env = NULL;
	json_t *o;
	int r;

	if ((r = amt_req_redacted(q, hide, &env)) == CUST_OK) {
		o = ops_step_json(name, q, auth, env);
		if (o == NULL || json_array_append_new(steps, o) != 0)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	free(env);
	amt_req_free(q);
	return r;
}

/*
 * What policy apply would send to fqdn, sending nothing: the reads (the
 * realm check, the enumeration; then a GetUserAclEntryEx per handle),
 * and an AddUserAclEntryEx per digest console of the plan with the
 * DigestPassword of its version in flight (or current one) as it would
 * travel; which entries are updated instead, repaired or removed depends
 * on what the device holds, so it is said, not shown. Without a
 * registered digest realm the DigestPasswords are ***.
 */
static int
dry_device(struct ops_ctx *ctx, const struct policy *p,
    const struct ops_acl_sid *sidcfg, const char *fqdn, json_t **item_out)
{
	struct acl a;
	struct amt_req *q = NULL;
	struct seal_secret *blank = NULL, *pw = NULL;
	char url[AMT_URL_MAX], ct[AMT_CONNECT_TO_MAX], name[64], auth[96];
	const char *state;
	json_t *steps = NULL, *accounts = NULL;
	unsigned long id = 0;
	int64_t v;
	size_t i;
	int r;

	*item_out = NULL;
	memset(&a, 0, sizeof(a));
	if ((r = dir_ad_list(ctx->st, &accounts)) != CUST_OK ||
	    (r = acl_plan_of(ctx, p, accounts, sidcfg, fqdn, &a)) != CUST_OK ||
	    (r = amt_target_where(&a.t, url, sizeof(url), ct, sizeof(ct))) !=
	    CUST_OK)
		goto out;
	if ((steps = json_array()) == NULL || (blank = seal_secret_dup(
	    "AAAAAAAA", 8)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (a.reg != NULL)
		memcpy(a.realm, a.reg, strnlen(a.reg, sizeof(a.realm) - 1));
	else
		memcpy(a.realm, "Digest:00000000000000000000000000000000", 40);
	if ((r = amt_msg_get(++id, "AMT_GeneralSettings", &q)) != CUST_OK ||
	    (r = dry_step(steps, "realm-check", q, "digest admin, current",
	    a.reg == NULL)) != CUST_OK ||
	    (r = amt_msg_enum_users(++id, 1, &q)) != CUST_OK ||
	    (r = dry_step(steps, "enumerate-users", q, "digest admin, current "
	    "(then GetUserAclEntryEx of each handle)", a.reg == NULL)) !=
	    CUST_OK)
		goto out;
	a.id = id;	/* the writes' MessageIDs follow the reads' */
	for (i = 0; i < a.nw; i++) {
		const struct want *w = &a.w[i];

		if (w->krb) {
			if (w->sid[0] == '\0')
				continue;	/* apply says: account sync */
			snprintf(name, sizeof(name), "add-kerberos %s", w->user);
			q = NULL;
			if ((r = amt_msg_add_kerberos_user(++a.id, w->sid,
			    w->access, w->realms, w->nrealms, &q)) != CUST_OK ||
			    (r = dry_step(steps, name, q, "digest admin, current "
			    "(after a Get of AMT_KerberosSettingData: Kerberos "
			    "must be on)", a.reg == NULL)) != CUST_OK)
				goto out;
			continue;
		}
		if (w->ver == 0 && w->cur == 0)
			continue;
		seal_secret_free(pw);
		pw = NULL;
		if (a.reg != NULL && (r = cred_secret_read(ctx->st, ctx->actor,
		    "policy.apply", "dry-run", a.fqdn, w->kind, w->ver ? w->ver :
		    CRED_VER_CURRENT, &pw, &v, &state)) != CUST_OK)
			goto out;
		snprintf(name, sizeof(name), "add-user %s", w->user);
		snprintf(auth, sizeof(auth), "digest admin, current; %s v%lld",
		    w->kind, (long long)(w->ver ? w->ver : w->cur));
		q = NULL;
		if ((r = write_msg(&a, w, pw ? pw : blank, &q)) != CUST_OK ||
		    (r = dry_step(steps, name, q, auth, a.reg == NULL)) !=
		    CUST_OK)
			goto out;
	}
	r = ops_reply(json_pack("{s:s, s:s, s:o, s:s, s:O, s:s}", "fqdn",
	    a.fqdn, "url", url, "connect_to", *ct ? json_string(ct) :
	    json_null(), "result", "dry-run", "steps", steps, "note",
	    "UpdateUserAclEntryEx replaces an AddUserAclEntryEx for a user "
	    "already on the device; entries that differ from the plan are "
	    "written again and users of earlier policies removed, as read "
	    "from the device"), item_out);
out:
	json_decref(steps);
	json_decref(accounts);
	seal_secret_free(blank);
	seal_secret_free(pw);
	acl_clear(&a);
	return r;
}

/* The digest user names of every console of every loaded policy: the
 * users custody manages (new array). Policies that no longer parse are
 * skipped. */
static int
managed_users(struct cust_state *st, json_t **out)
{
	json_t *names = json_array(), *info;
	struct policy *p;
	sqlite3_stmt *s;
	const char *u;
	char why[256];
	size_t i;
	int rc, r = CUST_OK;

	*out = NULL;
	if (names == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((s = store_stmt(state_store(st), "SELECT file, body, "
	    STORE_CHECK(STORE_ROW_POLICY) " FROM policy ORDER BY id")) ==
	    NULL) {
		json_decref(names);
		return CUST_E_DB;
	}
	while (r == CUST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		p = NULL;
		if (ops_policy_checked((const char *)sqlite3_column_text(s, 0),
		    (const char *)sqlite3_column_text(s, 1), &p, why,
		    sizeof(why)) != CUST_OK) {
			cust_clearerr();
			continue;
		}
		for (i = 0; r == CUST_OK && policy_console_name(p, i) != NULL;
		    i++) {
			info = NULL;
			if ((r = policy_console_info(p, policy_console_name(p,
			    i), &info)) != CUST_OK)
				break;
			u = json_string_value(json_object_get(info,
			    "username"));
			if (u != NULL && json_array_append_new(names,
			    json_string(u)) != 0)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
			json_decref(info);
		}
		policy_free(p);
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "read the loaded policies");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		json_decref(names);
		return r;
	}
	*out = names;
	return CUST_OK;
}

/* The devices of the request's selection ("device", "tag" or "all",
 * exactly one): *ids_out (free()), *n_out of them, and *sel_out (new) the
 * selector as a job records it. */
static int
selection(struct ops_ctx *ctx, json_t *req, int64_t **ids_out, size_t *n_out,
    json_t **sel_out)
{
	const char *fqdn, *tag;
	int all, r;

	*ids_out = NULL;
	*n_out = 0;
	*sel_out = NULL;
	if ((r = ops_req_str(req, "device", 0, &fqdn)) != CUST_OK ||
	    (r = ops_req_str(req, "tag", 0, &tag)) != CUST_OK ||
	    (r = ops_req_bool(req, "all", &all)) != CUST_OK)
		return r;
	if ((fqdn != NULL) + (tag != NULL) + (all != 0) != 1)
		return cust_fail(CUST_E_INVAL, "give one of 'device', 'tag' or "
		    "'all'");
	if ((r = cred_select(ctx->st, fqdn != NULL ? &fqdn : NULL, fqdn !=
	    NULL, tag, all, ids_out, n_out)) != CUST_OK)
		return r;
	if (tag != NULL && *n_out == 0)
		r = cust_fail(CUST_E_NOTFOUND, "no device has tag '%s'", tag);
	else if ((*sel_out = fqdn != NULL ? json_pack("{s:s}", "device",
	    fqdn) : tag != NULL ? json_pack("{s:s}", "tag", tag) :
	    json_pack("{s:b}", "all", 1)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	if (r != CUST_OK) {
		free(*ids_out);
		*ids_out = NULL;
		*n_out = 0;
	}
	return r;
}

/* Whether a device's result is a success. */
static int
result_ok(const char *res)
{
	return strcmp(res, "ok") == 0 || strcmp(res, "reconciled") == 0;
}

/* A device's outcome is known: its job item (the outcome, then each
 * change in short), and the job's progress. */
static int
acl_record(void *arg)
{
	struct acl *a = arg;
	struct ops_ctx *ctx = a->ctx;
	char d[1024];
	size_t o;
	json_t *x;
	size_t i;

	if (a->job == NULL)
		return CUST_OK;
	o = (size_t)snprintf(d, sizeof(d), "%s", a->detail);
	json_array_foreach(a->actions, i, x) {
		if (o >= sizeof(d) || strcmp(json_string_value(json_object_get(
		    x, "action")), "keep") == 0)
			continue;
		o += (size_t)snprintf(d + o, sizeof(d) - o, "; %s %s %s",
		    json_string_value(json_object_get(x, "action")),
		    json_string_value(json_object_get(x, "user")),
		    json_string_value(json_object_get(x, "result")));
	}
	return ops_job_item_done(ctx, a->job, json_integer_value(
	    json_object_get(a->dev, "id")), ACL_ITEM_KIND, a->result, d);
}

int
ops_acl_sid_config(struct ops_ctx *ctx, struct ops_acl_sid *out)
{
	struct cust_config *cfg = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = config_load_dir(state_dir(ctx->st), NULL, &cfg)) != CUST_OK)
		return r;
	out->mode = cfg->ad.acl_sid == CONFIG_ACL_SID_ACCOUNT ?
	    POLICY_SID_ACCOUNT : POLICY_SID_AUTO;
	snprintf(out->prefix, sizeof(out->prefix), "%s",
	    cfg->ad.group_prefix != NULL ? cfg->ad.group_prefix : "AMT-");
	config_free(cfg);
	return CUST_OK;
}

/*
 * Apply (apply) or drift over the devices fqdns (strings), p the policy,
 * as one fleet run (amt_fleet_run()): *items_out a new array of device
 * items {"fqdn", "result", "detail", "actions" | "findings"}, *bad_out
 * how many are not ok. With job, each device's item is recorded as its
 * conversation ends. An error is custody's own (the store).
 */
static int
fleet(struct ops_ctx *ctx, const struct policy *p, int apply, json_t *fqdns,
    struct ops_jobrun *job, json_t **items_out, size_t *bad_out)
{
	struct acl *as = NULL;
	struct amt_conv *convs = NULL;
	struct ops_acl_sid sidcfg;
	struct ops_first *first = NULL;
	json_t *managed = NULL, *accounts = NULL, *items = NULL, *it, *v;
	size_t i, k, n = json_array_size(fqdns), nc = 0, nf = 0, bad = 0;
	int r;

	*items_out = NULL;
	*bad_out = 0;
	if ((r = managed_users(ctx->st, &managed)) != CUST_OK)
		return r;
	if ((r = ops_acl_sid_config(ctx, &sidcfg)) != CUST_OK ||
	    (r = dir_ad_list(ctx->st, &accounts)) != CUST_OK)
		goto out;
	if ((as = calloc(n ? n : 1, sizeof(*as))) == NULL ||
	    (convs = calloc(n ? n : 1, sizeof(*convs))) == NULL ||
	    (first = calloc(n ? n : 1, sizeof(*first))) == NULL ||
	    (items = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(fqdns, i, v) {
		r = acl_prepare(ctx, p, managed, accounts, &sidcfg, apply,
		    json_string_value(v), &as[i]);
		as[i].job = job;
		if (r == CUST_OK) {
			convs[nc++] = (struct amt_conv){ &as[i].t, acl_next,
			    &as[i] };
			if (as[i].reg == NULL) {	/* a first contact */
				snprintf(first[nf].fqdn, sizeof(first[nf].fqdn),
				    "%s", as[i].fqdn);
				first[nf].t = &as[i].t;
				first[nf++].index = i;
			}
			continue;
		}
		if (!ops_device_own_error(ctx->st, r))
			goto out;
		/* Custody's record of this device is unusable (gone, a
		 * secret that does not open, a row altered outside
		 * custody): its result, nothing sent; the others go on. */
		if (as[i].fqdn == NULL)
			as[i].fqdn = json_string_value(v);
		if ((as[i].findings == NULL &&
		    (as[i].findings = json_array()) == NULL) ||
		    (as[i].actions == NULL &&
		    (as[i].actions = json_array()) == NULL)) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		done(&as[i], r == CUST_E_NOTFOUND ? "missing" : "failed",
		    cust_errmsg());
		cust_clearerr();
		if (as[i].dev != NULL && (r = acl_record(&as[i])) != CUST_OK)
			goto out;
	}
	/* The first contacts' realms, all read before any change is sent
	 * (ops_realm.c; drift checks them): one recorded makes its device
	 * a registered one; one refused ends it, nothing sent (its
	 * conversation asks for nothing: ops_conv_next()). */
	if ((r = ops_first_contacts(ctx, first, nf, apply ? OPS_FIRST_RECORD :
	    OPS_FIRST_CHECK)) != CUST_OK)
		goto out;
	for (k = 0; k < nf; k++) {
		struct acl *a = &as[first[k].index];

		if (first[k].result != NULL) {
			done(a, first[k].result, first[k].detail);
			if ((r = acl_record(a)) != CUST_OK)
				goto out;
		} else if (first[k].known && apply) {
			snprintf(a->regbuf, sizeof(a->regbuf), "%s",
			    first[k].realm);
			a->reg = a->t.realm = a->regbuf;
		}
	}
	if ((r = amt_fleet_run(convs, nc, 0)) != CUST_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = ops_conv_end(&as[i], as[i].fqdn, &as[i].result,
		    as[i].detail, sizeof(as[i].detail), as[i].err,
		    acl_record)) != CUST_OK)
			goto out;
		bad += !result_ok(as[i].result);
		it = json_pack("{s:s, s:s, s:s, s:O}", "fqdn", as[i].fqdn,
		    "result", as[i].result, "detail", as[i].detail,
		    apply ? "actions" : "findings", apply ? as[i].actions :
		    as[i].findings);
		if (it == NULL || json_array_append_new(items, it) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*items_out = items;
	items = NULL;
	*bad_out = bad;
out:
	for (i = 0; as != NULL && i < n; i++)
		acl_clear(&as[i]);
	free(as);
	free(convs);
	free(first);
	json_decref(items);
	json_decref(managed);
	json_decref(accounts);
	return r;
}

/*
 * The console users' versions left 'pushed' on the devices fqdns
 * (strings), settled as an apply would (ops_int.h): no policy loaded, no
 * plan to know the users by, nothing done.
 */
int
ops_acl_reconcile(struct ops_ctx *ctx, json_t *fqdns, json_t **items_out,
    size_t *bad_out)
{
	struct policy *p = NULL;
	int r;

	*items_out = NULL;
	*bad_out = 0;
	if ((r = ops_policy_usable(ctx->st, &p)) != CUST_OK)
		return r;
	if (p == NULL)
		return (*items_out = json_array()) != NULL ? CUST_OK :
		    cust_fail(CUST_E_NOMEM, "out of memory");
	r = fleet(ctx, p, ACL_RECONCILE, fqdns, NULL, items_out, bad_out);
	policy_free(p);
	return r;
}

/* The loaded policy, usable: *out (policy_free()), else CUST_E_NOTFOUND. */
static int
usable(struct ops_ctx *ctx, struct policy **out)
{
	int r;

	if ((r = ops_policy_usable(ctx->st, out)) != CUST_OK)
		return r;
	if (*out == NULL)
		return cust_fail(CUST_E_NOTFOUND, "no usable policy is loaded "
		    "(custodyctl policy load FILE)");
	return CUST_OK;
}

/* The id of the latest loaded policy (0: none). */
static int
policy_id(struct ops_ctx *ctx, int64_t *out)
{
	return ops_sql_int(ctx->st, "SELECT COALESCE(MAX(id), 0) FROM policy",
	    "read the loaded policy", out);
}

/* Resuming apply job id is refused when another policy was loaded since
 * it began (pol: the latest). */
static int
same_policy(struct ops_ctx *ctx, int64_t id, int64_t pol)
{
	json_t *j = NULL, *was;
	int r;

	if ((r = job_show(ctx->st, id, 0, 0, &j)) != CUST_OK)
		return r;
	was = json_object_get(json_object_get(j, "params"), "policy");
	if (json_is_integer(was) && json_integer_value(was) != pol)
		r = cust_fail(CUST_E_CONFLICT, "job %lld applied policy %lld; "
		    "policy %lld was loaded since: run policy apply instead (it "
		    "brings the devices to the new plan)", (long long)id,
		    (long long)json_integer_value(was), (long long)pol);
	json_decref(j);
	return r;
}

/*
 * policy.apply as a job over devices ids[0..n) (selector: borrowed), or
 * (resume) the rest of apply job resume: *resp = {"job", "devices" (the
 * job's devices this run covers), "failed" (not ok, missing included),
 * "results" (counts by result), "items"}. Only custody's own errors are
 * errors; the job then ends 'failed', resumable.
 */
static int
apply_job(struct ops_ctx *ctx, const struct policy *p, json_t *selector,
    const int64_t *ids, size_t n, int64_t resume, json_t **resp)
{
	struct ops_jobrun job = { 0, 0, 0 };
	json_t *params = NULL, *fqdns = NULL, *items = NULL;
	int64_t *sorted = NULL, pol;
	size_t m = 0, total, miss = 0, bad = 0;
	int r;

	*resp = NULL;
	if ((r = policy_id(ctx, &pol)) != CUST_OK)
		return r;
	if (resume > 0) {
		if ((r = same_policy(ctx, resume, pol)) != CUST_OK ||
		    (r = job_take(ctx->st, resume, JOB_KIND_APPLY, &params,
		    &sorted, &m, &total)) != CUST_OK)
			goto out;
		job.id = resume;
	} else {
		if ((params = json_pack("{s:I}", "policy", (json_int_t)pol)) ==
		    NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		if ((r = job_start(ctx->st, ctx->actor, JOB_KIND_APPLY,
		    selector, params, ids, n, &job.id, &sorted, &m)) !=
		    CUST_OK)
			goto out;
	}
	job.total = m;
	if ((r = ops_job_targets(ctx, job.id, ACL_ITEM_KIND, sorted, m,
	    &fqdns, &miss)) == CUST_OK)
		r = fleet(ctx, p, 1, fqdns, &job, &items, &bad);
	if ((r = job_end(ctx->st, job.id, r)) != CUST_OK)
		goto out;
	r = ops_job_reply(job.id, m, bad, miss, items, resp);
out:
	json_decref(params);
	json_decref(fqdns);
	json_decref(items);
	free(sorted);
	return r;
}

int
ops_apply_job(struct ops_ctx *ctx, int64_t resume, json_t **resp)
{
	struct policy *p = NULL;
	int r;

	*resp = NULL;
	if ((r = usable(ctx, &p)) == CUST_OK)
		r = apply_job(ctx, p, NULL, NULL, 0, resume, resp);
	policy_free(p);
	return r;
}

/* policy.apply (apply) or policy.drift over the selection. */
static int
run(struct ops_ctx *ctx, json_t *req, int apply, json_t **resp)
{
	struct policy *p = NULL;
	struct ops_acl_sid sidcfg;
	json_t *sel = NULL, *fqdns = NULL, *items = NULL, *it, *v;
	int64_t *ids = NULL;
	size_t i, n = 0, miss = 0, bad = 0;
	int dry = 0, r;

	*resp = NULL;
	if (apply && (r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK)
		return r;
	if ((r = selection(ctx, req, &ids, &n, &sel)) != CUST_OK)
		return r;
	if ((r = usable(ctx, &p)) != CUST_OK)
		goto out;
	if (apply && !dry) {
		r = apply_job(ctx, p, sel, ids, n, 0, resp);
		goto out;
	}
	if ((r = ops_job_targets(ctx, 0, ACL_ITEM_KIND, ids, n, &fqdns,
	    &miss)) != CUST_OK)
		goto out;
	if (!dry) {
		if ((r = fleet(ctx, p, 0, fqdns, NULL, &items, &bad)) ==
		    CUST_OK)
			r = ops_reply(json_pack("{s:I, s:I, s:O}", "devices",
			    (json_int_t)json_array_size(fqdns), "drifted",
			    (json_int_t)bad, "items", items), resp);
		goto out;
	}
	if ((r = ops_acl_sid_config(ctx, &sidcfg)) != CUST_OK)
		goto out;
	if ((items = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(fqdns, i, v) {
		if ((r = dry_device(ctx, p, &sidcfg, json_string_value(v),
		    &it)) != CUST_OK)
			goto out;
		if (json_array_append_new(items, it) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	r = ops_reply(json_pack("{s:b, s:I, s:I, s:O}", "dry_run", 1,
	    "devices", (json_int_t)json_array_size(fqdns), "failed",
	    (json_int_t)0, "items", items), resp);
out:
	json_decref(items);
	json_decref(fqdns);
	json_decref(sel);
	free(ids);
	policy_free(p);
	return r;
}

static int
op_apply(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	return run(ctx, req, 1, resp);
}

static int
op_drift(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	return run(ctx, req, 0, resp);
}

const struct ops_entry ops_acl_table[] = {
	{ "policy.apply", op_apply, 0, OPS_ADMIN, OPS_RES_NONE },
	{ "policy.drift", op_drift, 0, OPS_ADMIN, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
