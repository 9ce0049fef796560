/* SPDX-License-Identifier: MIT */
/* src/directory/ad_sync.c - account sync: Active Directory brought in line
 * with the loaded policy (include/directory.h, dir_ad_sync()).
 *
 * Crash and failure safety. The store row of an object ('creating', with
 * its DN) and, for an account, its new password (sealed, 'pending') are
 * committed before anything is sent to AD. An account is added disabled
 * (userAccountControl 514), then given its password, then enabled: a
 * sync that stops between those steps (the DC goes down, a constraint is
 * refused) leaves at worst a disabled account with no usable password,
 * and the next sync finds the 'creating' row and finishes it with the
 * same pending password. Only then do the row turn 'active' and the
 * password 'current'. custody changes only objects it has a row for:
 * an object of the same name it did not create is refused, never
 * adopted, and nothing is ever deleted from AD.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "ca.h"
#include "config.h"
#include "cred.h"
#include "directory.h"
#include "directory_int.h"
#include "err.h"
#include "policy.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* userAccountControl: NORMAL_ACCOUNT (0x200), ACCOUNTDISABLE (0x2),
 * DONT_EXPIRE_PASSWORD (0x10000). Service accounts keep their password
 * until custody rotates it. */
#define UAC_DISABLED	"514"
#define UAC_ENABLED	"66048"
#define UAC_DISABLE_BIT	0x2
/* msDS-SupportedEncryptionTypes: AES128 + AES256 (no RC4 tickets), or
 * with RC4 too for a service account when directory.ad rc4 is on. */
#define ENCTYPES_AES	"24"
#define ENCTYPES_RC4	"28"
#define KVNO_ATTR	"msDS-KeyVersionNumber"
/* groupType: a global security group (0x80000002). */
#define GROUP_GLOBAL_SECURITY	"-2147483646"
/* Service account passwords: the AMT generator's classes satisfy AD's
 * complexity rule; the longest it makes. */
#define ACCOUNT_PW_LEN	CRED_PW_MAX

#define DN_MAX	1024

/*
 * The mark of an object custody adds: its info attribute (free text,
 * which AD and Samba give users and groups) holds MARK_PREFIX and a MAC
 * of the dir_object row it was added for (row_mark()). A row still
 * 'creating' has no objectSid to compare (custody stopped before reading
 * it back); the mark is how the next sync tells the object custody added
 * from one someone else made at the DN since, and the owner and
 * whenCreated the DC set (made_by_custody()) tell it from one made with
 * a copy of the mark.
 */
#define MARK_ATTR	"info"
#define MARK_PREFIX	"custody-mark:v1:"
#define MARK_MAX	(sizeof(MARK_PREFIX) + 32)
/* Seconds the DC's clock may be behind custody's when an object's
 * whenCreated is compared with the time custody began it (the Kerberos
 * default clock skew: a domain whose clocks differ more breaks Kerberos
 * first). */
#define CREATED_SKEW	300
/* Set by the DC on a computer object added by an account without the
 * right to create it there, through SeMachineAccountPrivilege (the
 * domain's ms-DS-MachineAccountQuota, 10 for every user by default):
 * its creator. The DC makes Domain Admins the owner of such an object
 * and grants the creator all its extended rights (password reset
 * included), so its owner says nothing of who made it. */
#define CREATOR_ATTR	"mS-DS-CreatorSID"

struct sync {
	struct cust_state *st;
	const char *actor;
	const struct config_ad *ad;
	struct dir_ldap *l;
	int dry_run;
	json_t *ops;		/* the LDAP changes, one line each */
	json_t *errors;
	json_t *accounts;
	json_t *groups;
	json_t *devices;	/* AMT device objects */
	json_t *rows;		/* dir_object rows */
	/* account sync: the policy, and each active device's tags (FQDN ->
	 * tags) for member_later() */
	const struct policy *p;
	json_t *tags;
	size_t changes;
	/* The Global Catalog for the duplicate-SPN check (spn_conflict()),
	 * opened on first use; gc_err why it could not be (said once). */
	struct dir_ldap *gc;
	int gc_tried;
	char gc_err[512];
	/* custody's own SIDs as the DC sees its connection (rootDSE
	 * tokenGroups, base64), read on first use (custody_owns()) */
	json_t *token;
};

/* ---- one change of AD at a time ---- */

#define SYNC_LOCK	"ad-sync.lock"

/*
 * Changes of AD (account sync, and the deletions and disablings of
 * device remove and console revoke) run one at a time per state
 * directory (dir_lock()): two at once (custodyd and custodyctl, or two
 * workers) could each make a pending password for the same account and
 * leave AD with one and custody with the other as current.
 * *fd_out to sync_unlock().
 */
static int
sync_lock(struct cust_state *st, int *fd_out)
{
	return dir_lock(st, SYNC_LOCK, "another account sync (or AD change "
	    "of device remove, console revoke)", fd_out);
}

static void
sync_unlock(int fd)
{
	dir_unlock(fd);
}

/* ---- the store ---- */

/*
 * A group row's members column: the JSON array of the sorted names of
 * the consoles whose accounts custody last made its members (strings
 * only; at most DIR_MEMBERS_MAX bytes), or JSON null when not known (NULL,
 * or anything else: the row is MAC'd, so only a bug of custody's could
 * store something else, and unknown only turns group entries off).
 */
#define DIR_MEMBERS_MAX	(1024 * 1024)

static json_t *
members_parse(const unsigned char *text, int len)
{
	json_t *a, *v;
	size_t i;

	if (text == NULL || len <= 0 || len > DIR_MEMBERS_MAX ||
	    (a = json_loadb((const char *)text, (size_t)len, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		return json_null();
	if (!json_is_array(a)) {
		json_decref(a);
		return json_null();
	}
	json_array_foreach(a, i, v)
		if (!json_is_string(v)) {
			json_decref(a);
			return json_null();
		}
	return a;
}

static int
rows_load(struct cust_state *st, json_t **out)
{
	/* every row checked: a row decides which AD object custody may
	 * change or delete, and a group's SID which group a device admits */
	sqlite3_stmt *s = store_stmt(state_store(st), "SELECT id, kind, name, "
	    "dn, owner, sid, state, changed, members, "
	    STORE_CHECK(STORE_ROW_DIR_OBJECT) " FROM dir_object ORDER BY id");
	json_t *a = json_array(), *o;
	char b64[512];
	int rc, r = CUST_OK;

	*out = NULL;
	if (s == NULL || a == NULL) {
		json_decref(a);
		return s == NULL ? CUST_E_DB : cust_fail(CUST_E_NOMEM,
		    "out of memory");
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(s, 5);

		b64[0] = '\0';
		if (n > 0 && n < 300)
			sodium_bin2base64(b64, sizeof(b64),
			    sqlite3_column_blob(s, 5), (size_t)n,
			    sodium_base64_VARIANT_ORIGINAL);
		o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
		    "id", (json_int_t)sqlite3_column_int64(s, 0), "kind",
		    (const char *)sqlite3_column_text(s, 1), "name",
		    (const char *)sqlite3_column_text(s, 2), "dn",
		    (const char *)sqlite3_column_text(s, 3), "owner",
		    (const char *)sqlite3_column_text(s, 4), "sid_b64", b64,
		    "state", (const char *)sqlite3_column_text(s, 6),
		    "changed", (json_int_t)sqlite3_column_int64(s, 7));
		if (o != NULL && json_object_set_new(o, "members",
		    members_parse(sqlite3_column_text(s, 8),
		    sqlite3_column_bytes(s, 8))) != 0) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL || json_array_append_new(a, o) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read directory objects");
	sqlite3_reset(s);
	if (r != CUST_OK) {
		json_decref(a);
		return r;
	}
	*out = a;
	return CUST_OK;
}

static json_t *
row_find(json_t *rows, const char *kind, const char *name)
{
	json_t *o;
	size_t i;

	json_array_foreach(rows, i, o)
		if (strcmp(json_string_value(json_object_get(o, "kind")),
		    kind) == 0 && strcasecmp(json_string_value(
		    json_object_get(o, "name")), name) == 0)
			return o;
	return NULL;
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

static int64_t
jid(json_t *o)
{
	return (int64_t)json_integer_value(json_object_get(o, "id"));
}

static int
begin(struct sync *y)
{
	return store_begin(state_store(y->st));
}

static int
commit(struct sync *y, int r)
{
	if (r == CUST_OK)
		return store_commit(state_store(y->st));
	store_rollback(state_store(y->st));
	return r;
}

/* A new 'creating' row (in the caller's transaction): the row as JSON,
 * appended to y->rows. */
static int
row_insert(struct sync *y, const char *kind, const char *name,
    const char *dn, const char *owner, json_t **row_out)
{
	sqlite3_stmt *s = store_stmt(state_store(y->st), "INSERT INTO "
	    "dir_object(kind, name, dn, owner, state, created, changed) "
	    "VALUES (?, ?, ?, ?, 'creating', ?, ?)");
	int64_t now = util_now(), id;
	json_t *o;
	int r;

	*row_out = NULL;
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, dn, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now);
	sqlite3_bind_int64(s, 6, now);
	if ((r = store_step_done(state_store(y->st), s,
	    "cannot record a directory object")) != CUST_OK)
		return r;
	id = sqlite3_last_insert_rowid(store_db(state_store(y->st)));
	if ((r = store_row_reseal(state_store(y->st), STORE_RESEAL_DIR_OBJECT,
	    id)) != CUST_OK)
		return r;
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:n}", "id",
	    (json_int_t)id, "kind", kind, "name", name, "dn", dn,
	    "owner", owner, "sid_b64", "", "state", "creating", "changed",
	    (json_int_t)now, "members");
	if (o == NULL || json_array_append_new(y->rows, o) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	*row_out = o;
	return CUST_OK;
}

/* Row's state (and sid, base64, when not NULL) in the caller's
 * transaction: the old row must be intact, the new one gets its MAC. */
static int
row_set(struct sync *y, json_t *row, const char *state, const char *sid_b64)
{
	/* an object made again ('creating') starts without members: what
	 * was recorded was another object's */
	sqlite3_stmt *s = store_stmt(state_store(y->st), "UPDATE dir_object "
	    "SET state = ?1, sid = COALESCE(?2, sid), changed = ?3, members = "
	    "CASE WHEN ?1 = 'creating' THEN NULL ELSE members END WHERE id = "
	    "?4 AND " STORE_CHECK(STORE_ROW_DIR_OBJECT));
	unsigned char bin[300];
	size_t binlen = 0;
	int64_t now = util_now();
	int r;

	if (s == NULL)
		return CUST_E_DB;
	if (sid_b64 != NULL && sid_b64[0] != '\0' && sodium_base642bin(bin,
	    sizeof(bin), sid_b64, strlen(sid_b64), NULL, &binlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return cust_fail(CUST_E_PARSE, "a malformed SID");
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	if (binlen > 0)
		sqlite3_bind_blob(s, 2, bin, (int)binlen, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, jid(row));
	if ((r = store_step_done(state_store(y->st), s,
	    "cannot update a directory object")) != CUST_OK ||
	    (r = store_row_reseal(state_store(y->st), STORE_RESEAL_DIR_OBJECT,
	    jid(row))) != CUST_OK)
		return r;
	if (json_object_set_new(row, "state", json_string(state)) != 0 ||
	    json_object_set_new(row, "changed", json_integer(now)) != 0 ||
	    (strcmp(state, "creating") == 0 && json_object_set_new(row,
	    "members", json_null()) != 0) ||
	    (binlen > 0 && json_object_set_new(row, "sid_b64",
	    json_string(sid_b64)) != 0))
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/*
 * A group row's recorded members (in the caller's transaction): text the
 * JSON array of members_text(), or NULL for not known. Not a change of
 * 'changed' (a 'creating' row's mark is computed over it).
 */
static int
row_members(struct sync *y, json_t *row, const char *text)
{
	sqlite3_stmt *s = store_stmt(state_store(y->st), "UPDATE dir_object "
	    "SET members = ? WHERE id = ? AND "
	    STORE_CHECK(STORE_ROW_DIR_OBJECT));
	int r;

	if (s == NULL)
		return CUST_E_DB;
	if (text != NULL)
		sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int64(s, 2, jid(row));
	if ((r = store_step_done(state_store(y->st), s,
	    "cannot update a directory object")) != CUST_OK ||
	    (r = store_row_reseal(state_store(y->st), STORE_RESEAL_DIR_OBJECT,
	    jid(row))) != CUST_OK)
		return r;
	if (json_object_set_new(row, "members", text != NULL ?
	    members_parse((const unsigned char *)text, (int)strlen(text)) :
	    json_null()) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

static size_t
secret_ad(char *buf, size_t len, json_t *row, int64_t version)
{
	return seal_ad(buf, len, "dir_secret", jid(row), jstr(row, "name"),
	    version);
}

/*
 * Versions of object obj in state from1 or from2 (NULL: only from1), all
 * of them or only version only (when > 0), but not version except, moved
 * to state to (in the caller's transaction). Every row moved must be
 * intact; the moved row gets its new MAC in the same statement.
 */
static int
secret_move(struct cust_state *st, int64_t obj, const char *from1,
    const char *from2, int64_t only, int64_t except, const char *to)
{
	sqlite3_stmt *s = store_stmt(state_store(st), "UPDATE dir_secret SET "
	    "state = ?1, changed = ?2, mac = custody_mac('dir_secret', "
	    "object_id, version, ?1, sealed, created, ?2) WHERE object_id = ?3 "
	    "AND state IN (?4, ?5) AND (?6 = 0 OR version = ?6) AND "
	    "version <> ?7 AND " STORE_CHECK(STORE_ROW_DIR_SECRET));

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, util_now());
	sqlite3_bind_int64(s, 3, obj);
	sqlite3_bind_text(s, 4, from1, -1, SQLITE_STATIC);
	if (from2 != NULL)
		sqlite3_bind_text(s, 5, from2, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, only);
	sqlite3_bind_int64(s, 7, except);
	return store_step_done(state_store(st), s, "cannot update a directory "
	    "secret");
}

/* A new pending password version of the account row (in the caller's
 * transaction); an older pending one is marked failed (never used). */
static int
secret_new(struct sync *y, json_t *row, struct seal_secret **pw_out,
    int64_t *version_out)
{
	struct store *db = state_store(y->st);
	struct seal_secret *pw = NULL;
	unsigned char *ct = NULL;
	size_t ctlen = 0, adlen;
	sqlite3_stmt *s;
	int64_t v = 1, now = util_now();
	char ad[256];
	int r;

	*pw_out = NULL;
	s = store_stmt(db, "SELECT COALESCE(MAX(version), 0) + 1 FROM "
	    "dir_secret WHERE object_id = ?");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, jid(row));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if ((r = secret_move(y->st, jid(row), "pending", NULL, 0, 0,
	    "failed")) != CUST_OK)
		return r;
	if ((r = cred_pw_generate(ACCOUNT_PW_LEN, &pw)) != CUST_OK)
		return r;
	if ((adlen = secret_ad(ad, sizeof(ad), row, v)) == 0) {
		r = cust_fail(CUST_E_INTERNAL, "associated data too long");
		goto out;
	}
	if ((r = seal_encrypt(state_seal(y->st), seal_secret_data(pw),
	    seal_secret_len(pw), ad, adlen, &ct, &ctlen)) != CUST_OK)
		goto out;
	s = store_stmt(db, "INSERT INTO dir_secret(object_id, version, state, "
	    "sealed, created, changed, mac) VALUES (?1, ?2, 'pending', ?3, ?4, "
	    "?5, custody_mac('dir_secret', ?1, ?2, 'pending', ?3, ?4, ?5))");
	if (s == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, jid(row));
	sqlite3_bind_int64(s, 2, v);
	sqlite3_bind_blob(s, 3, ct, (int)ctlen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, now);
	if ((r = store_step_done(db, s, "cannot record a directory secret")) !=
	    CUST_OK)
		goto out;
	*pw_out = pw;
	pw = NULL;
	*version_out = v;
out:
	free(ct);
	seal_secret_free(pw);
	return r;
}

/* The password of the account row in state ("pending" or "current"):
 * CUST_E_NOTFOUND when none. */
static int
secret_get(struct cust_state *st, json_t *row, const char *state,
    struct seal_secret **pw_out, int64_t *version_out)
{
	sqlite3_stmt *s = store_stmt(state_store(st), "SELECT version, "
	    "sealed, " STORE_CHECK(STORE_ROW_DIR_SECRET) " FROM dir_secret "
	    "WHERE object_id = ? AND state = ?");
	char ad[256];
	size_t adlen;
	int rc, r;

	*pw_out = NULL;
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, jid(row));
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return CUST_E_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(state_store(st), "cannot read a directory "
		    "secret");
		sqlite3_reset(s);
		return r;
	}
	*version_out = sqlite3_column_int64(s, 0);
	adlen = secret_ad(ad, sizeof(ad), row, *version_out);
	r = seal_decrypt(state_seal(st), sqlite3_column_blob(s, 1),
	    (size_t)sqlite3_column_bytes(s, 1), ad, adlen, pw_out);
	sqlite3_reset(s);
	if (r != CUST_OK)
		return cust_fail(CUST_E_DB, "the password of %s does not open: "
		    "the store is damaged", jstr(row, "name"));
	return CUST_OK;
}

static int
secret_pending(struct sync *y, json_t *row, struct seal_secret **pw_out,
    int64_t *version_out)
{
	return secret_get(y->st, row, "pending", pw_out, version_out);
}

/* Version v AD took: current, the previous current retired (in that
 * order: the unique index allows one current at a time). */
static int
secret_current(struct sync *y, json_t *row, int64_t v)
{
	int r;

	if ((r = secret_move(y->st, jid(row), "current", NULL, 0, v,
	    "retired")) != CUST_OK)
		return r;
	return secret_move(y->st, jid(row), "pending", "current", v, 0,
	    "current");
}

/* ---- reporting ---- */

static int __attribute__((format(printf, 2, 3)))
op(struct sync *y, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	y->changes++;
	if (json_array_append_new(y->ops, json_string(line)) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/* A refusal of one object: recorded, audited, the sync goes on. */
static int __attribute__((format(printf, 3, 4)))
refuse(struct sync *y, const char *object, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (json_array_append_new(y->errors, json_string(line)) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (!y->dry_run)
		(void)audit_note(state_audit(y->st), y->actor,
		    "directory.sync", object, "refused", line);
	return CUST_OK;
}

static int
audit(struct sync *y, const char *action, const char *object,
    const char *detail)
{
	return audit_append(state_audit(y->st), y->actor, action, object,
	    "ok", detail);
}

/* ---- AD reads ---- */

/* The entry at dn (attrs, and MARK_ATTR for not_ours()), or NULL in
 * *out when it does not exist. */
static int
read_dn(struct sync *y, const char *dn, const char *const *attrs,
    json_t **out)
{
	const char *all[16];
	json_t *a = NULL;
	size_t n;
	int r;

	*out = NULL;
	for (n = 0; attrs[n] != NULL; n++) {
		if (n + 2 >= sizeof(all) / sizeof(all[0]))
			return cust_fail(CUST_E_INTERNAL, "read_dn: too many "
			    "attributes");
		all[n] = attrs[n];
	}
	all[n++] = MARK_ATTR;
	all[n] = NULL;
	if ((r = dir_ldap_search(y->l, dn, 0, "(objectClass=*)", all, &a)) !=
	    CUST_OK)
		return r;
	if (json_array_size(a) > 0)
		*out = json_incref(json_array_get(a, 0));
	json_decref(a);
	return CUST_OK;
}

/* The domain's DN: base_dn from its first DC= component on. */
static const char *
domain_dn(struct sync *y)
{
	const char *base = strcasestr(y->ad->base_dn, "DC=");

	return base != NULL ? base : y->ad->base_dn;
}

/* Is sAMAccountName name taken anywhere under the domain of base_dn?
 * *dn_out (len bytes) the holder's DN, "" when free. */
static int
name_taken(struct sync *y, const char *name, char *dn_out, size_t len)
{
	static const char *const attrs[] = { "sAMAccountName", NULL };
	char esc[256], filter[320];
	json_t *a = NULL;
	int r;

	dn_out[0] = '\0';
	if ((r = dir_filter_escape(name, strlen(name), esc, sizeof(esc))) !=
	    CUST_OK)
		return r;
	snprintf(filter, sizeof(filter), "(sAMAccountName=%s)", esc);
	if ((r = dir_ldap_search(y->l, domain_dn(y), 2, filter, attrs, &a)) !=
	    CUST_OK)
		return r;
	if (json_array_size(a) > 0)
		snprintf(dn_out, len, "%s", jstr(json_array_get(a, 0), "dn"));
	json_decref(a);
	return CUST_OK;
}

static const char *
first(json_t *entry, const char *attr)
{
	return json_string_value(json_array_get(json_object_get(entry, attr),
	    0));
}

/* first() of attr however the DC spells its name (a check that must see
 * an attribute when it is there). */
static const char *
first_ci(json_t *entry, const char *attr)
{
	const char *k;
	json_t *v;

	json_object_foreach(entry, k, v)
		if (strcasecmp(k, attr) == 0)
			return json_string_value(json_array_get(v, 0));
	return NULL;
}

/* "CN=<name escaped>,<base_dn>" */
static int
make_dn(struct sync *y, const char *name, char *dn, size_t len)
{
	char esc[256];
	int r;

	if ((r = dir_dn_escape(name, strlen(name), esc, sizeof(esc))) !=
	    CUST_OK)
		return r;
	if ((size_t)snprintf(dn, len, "CN=%s,%s", esc, y->ad->base_dn) >= len)
		return cust_fail(CUST_E_TOOBIG, "a DN is too long");
	return CUST_OK;
}

static int
sid_text(const char *b64, char *out, size_t len)
{
	unsigned char bin[300];
	size_t n = 0;

	out[0] = '\0';
	if (b64 == NULL || b64[0] == '\0')
		return CUST_OK;
	if (sodium_base642bin(bin, sizeof(bin), b64, strlen(b64), NULL, &n,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return cust_fail(CUST_E_PARSE, "a malformed SID");
	return dir_sid_to_str(bin, n, out, len);
}

/*
 * The mark of row (MARK_ATTR) into out (MARK_MAX bytes): MARK_PREFIX and
 * 16 bytes (hex) of a keyed BLAKE2b, the key derived from the data key
 * ("dirmark1"), over the row's id, kind, name, DN and the time it was
 * last set 'creating' (changed: each new attempt after the object was
 * made and lost gets a new mark, so a mark read from an earlier object
 * does not fit). Not a secret once written (anyone who reads the object
 * reads it); what it proves is that custody wrote the object, since
 * only custody could compute it before it was written.
 */
static int
row_mark(struct sync *y, json_t *row, char *out, size_t len)
{
	struct seal_secret *key = NULL;
	unsigned char mac[16];
	char msg[DN_MAX + 512];
	int n, r;

	n = snprintf(msg, sizeof(msg), "custody:dir_object:%lld:%s:%s:%s:%lld",
	    (long long)jid(row), jstr(row, "kind"), jstr(row, "name"),
	    jstr(row, "dn"), (long long)json_integer_value(json_object_get(row,
	    "changed")));
	if (n < 0 || (size_t)n >= sizeof(msg) || len < MARK_MAX)
		return cust_fail(CUST_E_TOOBIG, "a directory object's mark "
		    "does not fit");
	if ((r = seal_derive(state_seal(y->st), "dirmark1", 1, 32, &key)) !=
	    CUST_OK)
		return r;
	seal_secret_hold(key);
	crypto_generichash(mac, sizeof(mac), (const unsigned char *)msg,
	    (size_t)n, seal_secret_data(key), seal_secret_len(key));
	seal_secret_release(key);
	seal_secret_free(key);
	memcpy(out, MARK_PREFIX, sizeof(MARK_PREFIX) - 1);
	sodium_bin2hex(out + sizeof(MARK_PREFIX) - 1, len - (sizeof(
	    MARK_PREFIX) - 1), mac, sizeof(mac));
	sodium_memzero(msg, sizeof(msg));
	return CUST_OK;
}

/* A refusal of the object at row's DN, flagged on the row so that the
 * later steps of this sync leave it alone: 1, or an error (< 0). */
static int
refused(struct sync *y, json_t *row, int r)
{
	if (r == CUST_OK && json_object_set_new(row, "refused",
	    json_true()) != 0)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	return r == CUST_OK ? 1 : r;
}

/*
 * Does binary SID sid[0..n) name custody itself, the account its
 * connection is bound as? It must be in custody's token as the DC sees
 * it (rootDSE tokenGroups: Samba, and AD, list the bound account's own
 * SID and every group SID of its session), and be either
 *  - an administrators' group: Domain Admins (S-1-5-21-...-512),
 *    Enterprise Admins (-519) or BUILTIN\Administrators (S-1-5-32-544),
 *    which the DC makes the owner of what a member of them creates
 *    (Samba: Domain Admins for an Administrator bind, checked in
 *    tests/integration/ad_takeover.sh); anyone else in those groups
 *    rules the domain anyway; or
 *  - a user (or computer) object: a token holds one, the bound account
 *    (every other SID in it is a group's, which a member who is not
 *    custody could set as owner).
 * *yes 1 when it does.
 */
static int
custody_owns(struct sync *y, const unsigned char *sid, size_t n, int *yes)
{
	static const char *const tg[] = { "tokenGroups", NULL };
	static const char *const attrs[] = { "objectClass", NULL };
	static const unsigned char ba[] = { 1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0,
	    0, 0x20, 2, 0, 0 };
	char b64[128], esc[4 * DIR_SID_MAX + 1], filter[sizeof(esc) + 48];
	json_t *a = NULL, *v;
	size_t i;
	uint32_t rid;
	int r, in = 0;

	*yes = 0;
	if (y->token == NULL) {
		if ((r = dir_ldap_search(y->l, "", 0, "(objectClass=*)", tg,
		    &a)) != CUST_OK)
			return r;
		v = json_object_get(json_array_get(a, 0), "tokenGroups");
		y->token = v != NULL ? json_incref(v) : json_array();
		json_decref(a);
		a = NULL;
		if (y->token == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	sodium_bin2base64(b64, sizeof(b64), sid, n,
	    sodium_base64_VARIANT_ORIGINAL);
	json_array_foreach(y->token, i, v)
		if (json_string_value(v) != NULL && strcmp(json_string_value(v),
		    b64) == 0)
			in = 1;
	if (!in)
		return CUST_OK;
	rid = (uint32_t)sid[n - 4] | (uint32_t)sid[n - 3] << 8 |
	    (uint32_t)sid[n - 2] << 16 | (uint32_t)sid[n - 1] << 24;
	if ((n == sizeof(ba) && memcmp(sid, ba, n) == 0) || (n == 28 &&
	    memcmp(sid + 2, "\0\0\0\0\0\5\x15\0\0\0", 10) == 0 &&
	    (rid == 512 || rid == 519))) {
		*yes = 1;
		return CUST_OK;
	}
	if ((r = dir_filter_escape((const char *)sid, n, esc, sizeof(esc))) !=
	    CUST_OK)
		return r;
	snprintf(filter, sizeof(filter), "(&(objectClass=user)(objectSid=%s))",
	    esc);
	if ((r = dir_ldap_search(y->l, domain_dn(y), 2, filter, attrs, &a)) !=
	    CUST_OK)
		return r;
	*yes = json_array_size(a) == 1;
	json_decref(a);
	return CUST_OK;
}

/*
 * Entry e at the DN of a 'creating' row carries the row's mark (want).
 * The mark is readable by anyone who may read the object: someone who
 * may delete and create in the OU could, between custody's crash and its
 * next sync, put an object of theirs there carrying a copy of it. What
 * they cannot set is what the DC sets: the owner of the object (its
 * creator: custody's bind account, or the administrators' group the DC
 * gives the objects of its members, custody_owns()) and whenCreated
 * (not before custody began the row: the row's changed time, less
 * CREATED_SKEW for the DC's clock). Both read again with the mark and
 * the objectSid in one search (dir_ldap_read_owner(), the owner only,
 * which any account that may read the object may read); either not
 * fitting, or not readable, is refused like a missing mark. 0 when the
 * object is custody's, 1 when refused, or an error (< 0).
 */
static int
made_by_custody(struct sync *y, json_t *row, json_t *e, const char *want,
    const char *what)
{
	static const char *const attrs[] = { "nTSecurityDescriptor",
	    "whenCreated", MARK_ATTR, "objectSid", CREATOR_ATTR, NULL };
	const char *sd64, *sid0, *sid1, *mark, *cr64;
	unsigned char sd[300], owner[DIR_SID_MAX], creator[DIR_SID_MAX];
	char why[320], who[192], t1[64], t2[64];
	size_t sdlen = 0, olen = 0, clen = 0;
	int64_t created, began = (int64_t)json_integer_value(
	    json_object_get(row, "changed"));
	json_t *o = NULL;
	int r, mine = 0;

	why[0] = '\0';
	if ((r = dir_ldap_read_owner(y->l, jstr(row, "dn"), attrs, &o)) !=
	    CUST_OK)
		return r;
	sd64 = first(o, "nTSecurityDescriptor");
	sid0 = first(e, "objectSid");
	sid1 = first(o, "objectSid");
	mark = first(o, MARK_ATTR);
	cr64 = first_ci(o, CREATOR_ATTR);
	if (o == NULL || mark == NULL || strlen(mark) != strlen(want) ||
	    sodium_memcmp(mark, want, strlen(want)) != 0 || (sid0 != NULL &&
	    (sid1 == NULL || strcmp(sid0, sid1) != 0))) {
		snprintf(why, sizeof(why), "it changed while custody read it");
	} else if (sd64 == NULL || sodium_base642bin(sd, sizeof(sd), sd64,
	    strlen(sd64), NULL, &sdlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    dir_sd_owner(sd, sdlen, owner, &olen) != CUST_OK) {
		snprintf(why, sizeof(why), "its owner cannot be read "
		    "(nTSecurityDescriptor)");
	} else if (cr64 != NULL && (sodium_base642bin(creator,
	    sizeof(creator), cr64, strlen(cr64), NULL, &clen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || clen == 0 ||
	    dir_sid_len(creator, clen) != clen)) {
		snprintf(why, sizeof(why), "its creator cannot be read (%s)",
		    CREATOR_ATTR);
	} else if (cr64 != NULL && (r = custody_owns(y, creator, clen,
	    &mine)) == CUST_OK && !mine) {
		if (dir_sid_to_str(creator, clen, who, sizeof(who)) != CUST_OK)
			snprintf(who, sizeof(who), "?");
		snprintf(why, sizeof(why), "it was made by %.100s (%s, the "
		    "DC making Domain Admins the owner), not the account "
		    "custody binds as", who, CREATOR_ATTR);
	} else if (r != CUST_OK) {
		goto out;
	} else if (cr64 == NULL && (r = custody_owns(y, owner, olen,
	    &mine)) != CUST_OK) {
		goto out;
	} else if (!mine) {
		if (dir_sid_to_str(owner, olen, who, sizeof(who)) != CUST_OK)
			snprintf(who, sizeof(who), "?");
		snprintf(why, sizeof(why), "its owner is %s, not the account "
		    "custody binds as nor an administrators' group it is in",
		    who);
	} else if (dir_generalized_time(first(o, "whenCreated"), &created) !=
	    CUST_OK) {
		snprintf(why, sizeof(why), "its whenCreated cannot be read");
	} else if (created < began - CREATED_SKEW) {
		util_fmt_time(created, t1, sizeof(t1));
		util_fmt_time(began, t2, sizeof(t2));
		snprintf(why, sizeof(why), "it was created at %s, before "
		    "custody began it at %s", t1, t2);
	}
	if (why[0] == '\0')
		goto out;
	r = refused(y, row, refuse(y, jstr(row, "name"), "%s '%s': custody "
	    "began an object at %s and stopped before finishing it; the "
	    "object there now carries custody's mark but %s: someone else "
	    "made it, copying the mark; refused, nothing changed. Delete "
	    "that object if it is not to be kept: custody then makes its own",
	    what, jstr(row, "name"), jstr(row, "dn"), why));
out:
	json_decref(o);
	return r;
}

/*
 * Entry e at the DN of a row still 'creating': custody added it (and
 * stopped before it was finished) only when it carries the row's mark.
 * An object someone else made there meanwhile is not custody's to set a
 * password on, enable, fill or delete: refused, audited, the row left
 * as it is for the operator (custody makes its own object once that one
 * is gone). 0 when it is custody's, 1 when refused, or an error (< 0).
 */
static int
not_marked(struct sync *y, json_t *row, json_t *e, const char *what)
{
	const char *has = first(e, MARK_ATTR);
	char want[MARK_MAX];
	int r;

	if ((r = row_mark(y, row, want, sizeof(want))) != CUST_OK)
		return r;
	if (has != NULL && strlen(has) == strlen(want) && sodium_memcmp(has,
	    want, strlen(want)) == 0)
		return made_by_custody(y, row, e, want, what);
	r = refuse(y, jstr(row, "name"), "%s '%s': custody began an object "
	    "at %s and stopped before finishing it, and the object there now "
	    "is not the one custody added (its %s attribute %s custody's "
	    "mark for it): someone else made it since; refused, nothing "
	    "changed. Delete that object if it is not to be kept: custody "
	    "then makes its own", what, jstr(row, "name"), jstr(row, "dn"),
	    MARK_ATTR, has != NULL ? "does not carry" : "is missing, not");
	return refused(y, row, r);
}

/*
 * Is entry e (read with objectSid) another object than the one custody
 * made for row? The row's DN names where custody put its object; the
 * objectSid it read back names the object. One deleted and made again
 * at the same DN by someone else (a group whose members they decide, a
 * user whose password they know) is not custody's to change, enable,
 * empty or delete: refused, with both SIDs. A row still 'creating' is
 * judged by its mark instead (not_marked(): custody may not have read
 * the SID of what it added, and the SID it keeps from an earlier object
 * is not the new one's). 0 when it is custody's, 1 when refused, or an
 * error (< 0).
 */
static int
not_ours(struct sync *y, json_t *row, json_t *e, const char *what)
{
	const char *had = jstr(row, "sid_b64"), *has = first(e, "objectSid");
	char s1[192], s2[192];
	int r;

	if (e != NULL && strcmp(jstr(row, "state"), "creating") == 0)
		return not_marked(y, row, e, what);
	if (had[0] == '\0' || e == NULL || (has != NULL && strcmp(had, has) ==
	    0))
		return 0;
	if (sid_text(had, s1, sizeof(s1)) != CUST_OK)
		snprintf(s1, sizeof(s1), "?");
	if (has == NULL || sid_text(has, s2, sizeof(s2)) != CUST_OK)
		snprintf(s2, sizeof(s2), "none");
	r = refuse(y, jstr(row, "name"), "%s '%s': the object at %s is not "
	    "the one custody made (objectSid %s, custody made %s): refused; "
	    "custody makes its own again once that object is gone", what,
	    jstr(row, "name"), jstr(row, "dn"), s2, s1);
	/* said once: the later steps of this sync leave the row alone */
	return refused(y, row, r);
}

/*
 * AD refused to add custody's object at dn: something is there already,
 * and it is not custody's (custody read dn just before and found
 * nothing; an object it added in an earlier run is found by that read,
 * never added again). A row still 'creating' is dropped with its pending
 * password: custody made nothing, and a row left behind would make the
 * next sync take the object at dn for its own half-made one (set its
 * password, enable it). Refused, the sync goes on.
 */
static int
add_exists(struct sync *y, json_t *row, const char *what, const char *who,
    const char *dn)
{
	struct store *db = state_store(y->st);
	sqlite3_stmt *s;
	size_t i;
	json_t *o;
	int r = CUST_OK;

	if (strcmp(jstr(row, "state"), "creating") == 0) {
		if ((r = begin(y)) != CUST_OK)
			return r;
		if ((s = store_stmt(db, "DELETE FROM dir_secret WHERE "
		    "object_id = ?")) == NULL)
			r = CUST_E_DB;
		if (r == CUST_OK) {
			sqlite3_bind_int64(s, 1, jid(row));
			r = store_step_done(db, s, "cannot drop a directory "
			    "secret");
		}
		if (r == CUST_OK && (s = store_stmt(db, "DELETE FROM "
		    "dir_object WHERE id = ? AND "
		    STORE_CHECK(STORE_ROW_DIR_OBJECT))) == NULL)
			r = CUST_E_DB;
		if (r == CUST_OK) {
			sqlite3_bind_int64(s, 1, jid(row));
			r = store_step_done(db, s, "cannot drop a directory "
			    "object");
		}
		if ((r = commit(y, r)) != CUST_OK)
			return r;
		json_array_foreach(y->rows, i, o)
			if (o == row) {
				(void)json_array_remove(y->rows, i);
				break;
			}
	}
	return refuse(y, who, "%s '%s': an object is at %s already and "
	    "custody did not create it: refused", what, who, dn);
}

/* ---- groups ---- */

static int
sync_group(struct sync *y, const char *duty)
{
	static const char *const attrs[] = { "objectSid", NULL };
	char name[DIR_GROUP_NAME_MAX + 64], dn[DN_MAX], other[DN_MAX],
	    sid[192], detail[DN_MAX + 256];
	json_t *row, *e = NULL, *g;
	const char *sid64;
	int r;

	snprintf(name, sizeof(name), "%s%s", y->ad->group_prefix ?
	    y->ad->group_prefix : "AMT-", duty);
	if (dir_valid_name(name, DIR_GROUP_NAME_MAX) != CUST_OK)
		return refuse(y, name, "group '%s' of duty '%s': %s", name,
		    duty, cust_errmsg());
	row = row_find(y->rows, "group", name);
	if (row != NULL)
		snprintf(dn, sizeof(dn), "%s", jstr(row, "dn"));
	else if ((r = make_dn(y, name, dn, sizeof(dn))) != CUST_OK)
		return refuse(y, name, "group '%s': %s", name, cust_errmsg());
	if (row != NULL && (r = read_dn(y, dn, attrs, &e)) != CUST_OK)
		return r;
	if (row != NULL && (r = not_ours(y, row, e, "group")) != 0) {
		json_decref(e);
		return r < 0 ? r : CUST_OK;
	}
	if (row == NULL) {
		if ((r = name_taken(y, name, other, sizeof(other))) != CUST_OK)
			return r;
		if (other[0] != '\0')
			return refuse(y, name, "group '%s' exists in AD (%s) "
			    "and custody did not create it: refused", name,
			    other);
	}
	if (e == NULL) {
		static const char *const oc[] = { "top", "group" };
		const char *nm[] = { name };
		static const char *const gt[] = { GROUP_GLOBAL_SECURITY };
		static const char *const desc[] = { "managed by custody" };
		const char *markv[1];
		char mark[MARK_MAX];
		const struct dir_attr add[] = {
			{ 0, "objectClass", oc, 2, NULL, 0 },
			{ 0, "sAMAccountName", nm, 1, NULL, 0 },
			{ 0, "groupType", gt, 1, NULL, 0 },
			{ 0, "description", desc, 1, NULL, 0 },
			{ 0, MARK_ATTR, markv, 1, NULL, 0 },
		};

		if ((r = op(y, "add %s (global security group %s)", dn, name)) !=
		    CUST_OK)
			return r;
		if (!y->dry_run) {
			/* 'creating' before the add (a group made again
			 * too): a sync stopped after the add finds its
			 * mark */
			if (row == NULL || strcmp(jstr(row, "state"),
			    "creating") != 0) {
				if ((r = begin(y)) != CUST_OK)
					return r;
				r = commit(y, row == NULL ? row_insert(y,
				    "group", name, dn, duty, &row) :
				    row_set(y, row, "creating", NULL));
				if (r != CUST_OK)
					return r;
			}
			util_test_crash("ad-group-begun");
			if ((r = row_mark(y, row, mark, sizeof(mark))) !=
			    CUST_OK)
				return r;
			markv[0] = mark;
			r = dir_ldap_add(y->l, dn, add, 5);
			if (r == CUST_E_EXISTS)
				return add_exists(y, row, "group", name, dn);
			if (r != CUST_OK)
				return r;
			if ((r = read_dn(y, dn, attrs, &e)) != CUST_OK)
				return r;
			if (e == NULL)
				return cust_fail(CUST_E_LDAP, "group %s was "
				    "added but cannot be read back", dn);
		}
	}
	sid64 = e != NULL ? first(e, "objectSid") : NULL;
	if (!y->dry_run && row != NULL && (strcmp(jstr(row, "state"),
	    "active") != 0 || (sid64 != NULL && strcmp(sid64,
	    jstr(row, "sid_b64")) != 0))) {
		if ((r = sid_text(sid64, sid, sizeof(sid))) != CUST_OK)
			goto out;
		snprintf(detail, sizeof(detail), "group %s sid %s", dn, sid);
		if ((r = begin(y)) != CUST_OK)
			goto out;
		r = row_set(y, row, "active", sid64);
		if (r == CUST_OK)
			r = audit(y, "directory.create", name, detail);
		if ((r = commit(y, r)) != CUST_OK)
			goto out;
	}
	if ((r = sid_text(sid64, sid, sizeof(sid))) != CUST_OK)
		goto out;
	g = json_pack("{s:s, s:s, s:s, s:s, s:s}", "duty", duty, "name", name,
	    "dn", dn, "sid", sid, "sid_b64", sid64 ? sid64 : "");
	r = g != NULL && json_array_append_new(y->groups, g) == 0 ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
out:
	json_decref(e);
	return r;
}

/* ---- the service accounts' keytabs ----
 *
 * A console's keytab is derived here from the password custody set (AD's
 * salt rule, string-to-key through libkrb5: str2key.c) at the kvno AD
 * reports after the set (msDS-KeyVersionNumber), and kept sealed like an
 * MIT principal's (ktfile.c) in DIR/keytabs/ad/CONSOLE.keytab, bound to
 * the account row and its current password version: a file of an older
 * version put back does not open. After a rotation it also holds the
 * previous kvno's keys until the retired password's change time plus
 * directory.ad keytab_grace. */

#define AD_KEYTABS	DIR_KEYTABS "/ad"

static const char *
enctypes(struct sync *y, const char *kind)
{
	return strcmp(kind, "account") == 0 && y->ad->rc4 ? ENCTYPES_RC4 :
	    ENCTYPES_AES;
}

/* The keytab file of account row at password version v; rel (128 bytes)
 * holds its path. */
static int
ad_ktfile(json_t *row, int64_t v, char *rel, size_t len,
    struct dir_ktfile *f)
{
	char tmp[128];
	int r;

	if ((r = dir_keytab_rel(jstr(row, "owner"), tmp, sizeof(tmp))) !=
	    CUST_OK)
		return r;
	if ((size_t)snprintf(rel, len, AD_KEYTABS "%s", tmp +
	    strlen(DIR_KEYTABS)) >= len)
		return cust_fail(CUST_E_TOOBIG, "a keytab path is too long");
	*f = (struct dir_ktfile){ rel, "ad_keytab", jid(row),
	    jstr(row, "owner"), v, "account sync makes it again", 0 };
	return CUST_OK;
}

/* AD's kvno of the entry e (read with KVNO_ATTR): 0 when absent. */
static int
entry_kvno(json_t *e)
{
	const char *v = first(e, KVNO_ATTR);
	long k = v != NULL ? strtol(v, NULL, 10) : 0;

	return k > 0 && k < 0x7fffffff ? (int)k : 0;
}

/* When the keys of the previous kvno of row's keytab stop being kept:
 * the last retirement of a password plus grace (0: none retired). */
static int
prev_until(struct cust_state *st, json_t *row, int64_t grace, int64_t *out)
{
	sqlite3_stmt *s = store_stmt(state_store(st), "SELECT MAX(changed) "
	    "FROM dir_secret WHERE object_id = ? AND state = 'retired'");
	int rc;

	*out = 0;
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, jid(row));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(s, 0) + grace;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st),
	    "cannot read a directory secret");
}

/*
 * Write the keytab of account row for password pw (version v) at kvno:
 * its keys, plus (keep_v > 0) the newest kvno's keys of the keytab of
 * version keep_v when that is another kvno (a rotation's grace).
 * *kept_out (may be NULL) the kvno kept, 0 for none.
 */
static int
write_keytab(struct cust_state *st, const struct config_ad *ad, json_t *row,
    const struct seal_secret *pw, int64_t v, int kvno, int64_t keep_v,
    int *kept_out)
{
	struct dir_keys *keys = NULL;
	struct dir_keytab *kt = NULL, *old = NULL;
	struct dir_ktfile f;
	char rel[128], salt[512], principal[300];
	int r, kept = 0;

	if (kept_out != NULL)
		*kept_out = 0;
	if ((size_t)snprintf(principal, sizeof(principal), "%s@%s",
	    jstr(row, "name"), ad->realm) >= sizeof(principal))
		return cust_fail(CUST_E_TOOBIG, "a principal is too long");
	if ((r = dir_ad_salt(ad->realm, jstr(row, "name"), salt,
	    sizeof(salt))) != CUST_OK ||
	    (r = dir_keys_from_password(ad->realm, salt, pw, kvno, ad->rc4,
	    &keys)) != CUST_OK)
		return r;
	if ((kt = dir_keytab_new()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = dir_keytab_add(kt, principal, keys, (uint32_t)util_now())) !=
	    CUST_OK)
		goto out;
	if (keep_v > 0) {
		/* the keytab of version keep_v; or, when a finish was
		 * interrupted after its write, the one of version v already */
		if ((r = ad_ktfile(row, keep_v, rel, sizeof(rel), &f)) !=
		    CUST_OK)
			goto out;
		r = dir_ktfile_read(st, &f, NULL, &old);
		if (r == CUST_E_SEALED || r == CUST_E_NOTFOUND) {
			f.version = v;
			r = dir_ktfile_read(st, &f, NULL, &old);
		}
		if (r == CUST_OK) {
			kept = dir_keytab_max_kvno(old, kvno);
			if (kept > 0 && (r = dir_keytab_copy_kvno(kt, old,
			    kept)) != CUST_OK)
				goto out;
		} else if (r == CUST_E_NOTFOUND || r == CUST_E_SEALED) {
			r = CUST_OK;	/* nothing to keep */
		} else {
			goto out;
		}
	}
	if ((r = ad_ktfile(row, v, rel, sizeof(rel), &f)) != CUST_OK ||
	    (r = dir_ktfile_write(st, &f, kt)) != CUST_OK)
		goto out;
	if (kept_out != NULL)
		*kept_out = kept;
out:
	dir_keys_free(keys);
	dir_keytab_free(kt);
	dir_keytab_free(old);
	return r;
}

/* *due 1 when keytab kt of account row holds a previous kvno whose
 * grace has passed. */
static int
expire_due(struct cust_state *st, const struct config_ad *ad, json_t *row,
    const struct dir_keytab *kt, int *due)
{
	int64_t until;
	int r;

	*due = 0;
	if (dir_keytab_kvnos(kt) <= 1)
		return CUST_OK;
	if ((r = prev_until(st, row, ad->keytab_grace, &until)) != CUST_OK)
		return r;
	*due = util_now() >= until;
	return CUST_OK;
}

/* Drop the previous kvno from row's keytab (version v) once its grace
 * has passed; audited. *kt the keytab read, replaced when rewritten. */
static int
expire_keytab(struct cust_state *st, const struct config_ad *ad,
    const char *actor, json_t *row, int64_t v, struct dir_keytab **kt)
{
	struct dir_keytab *nk = NULL;
	struct dir_ktfile f;
	char rel[128], detail[128];
	int r, due, cur = dir_keytab_max_kvno(*kt, 0);

	if ((r = expire_due(st, ad, row, *kt, &due)) != CUST_OK || !due)
		return r;
	if ((nk = dir_keytab_new()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = dir_keytab_copy_kvno(nk, *kt, cur)) != CUST_OK ||
	    (r = ad_ktfile(row, v, rel, sizeof(rel), &f)) != CUST_OK ||
	    (r = dir_ktfile_write(st, &f, nk)) != CUST_OK) {
		dir_keytab_free(nk);
		return r;
	}
	dir_keytab_free(*kt);
	*kt = nk;
	snprintf(detail, sizeof(detail), "console:%.40s: the keys before kvno "
	    "%d dropped from the keytab", jstr(row, "owner"), cur);
	return audit_append(state_audit(st), actor, "keytab.expire",
	    jstr(row, "name"), "ok", detail);
}

/* The pending password of account row failed: AD does not hold it. */
static int
secret_fail(struct cust_state *st, json_t *row)
{
	return secret_move(st, jid(row), "pending", NULL, 0, 0, "failed");
}

/* name@REALM of account row: its userPrincipalName. */
static int
account_upn(struct sync *y, json_t *row, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s@%s", jstr(row, "name"),
	    y->ad->realm) >= len)
		return cust_fail(CUST_E_TOOBIG, "a principal is too long");
	return CUST_OK;
}

/*
 * AD took pending password pw (version v) of account row: its kvno read
 * back, the keytab written (the new keys and, for keytab_grace, the
 * previous kvno's), then the password current and the old one retired,
 * audited with what. *kvno_out and *kept_out say which kvnos the keytab
 * holds.
 */
static int
rotate_finish(struct sync *y, json_t *row, const struct seal_secret *pw,
    int64_t v, const char *why, int *kvno_out, int *kept_out)
{
	static const char *const attrs[] = { KVNO_ATTR, NULL };
	struct seal_secret *cur = NULL;
	json_t *e = NULL;
	char detail[256];
	int64_t cv = 0;
	int r, kvno;

	*kvno_out = *kept_out = 0;
	if ((r = read_dn(y, jstr(row, "dn"), attrs, &e)) != CUST_OK)
		return r;
	kvno = entry_kvno(e);
	json_decref(e);
	if (kvno == 0)
		return cust_fail(CUST_E_LDAP, "AD did not report the key "
		    "version of %s (" KVNO_ATTR ")", jstr(row, "dn"));
	r = secret_get(y->st, row, "current", &cur, &cv);
	seal_secret_free(cur);
	if (r != CUST_OK && r != CUST_E_NOTFOUND)
		return r;
	if ((r = write_keytab(y->st, y->ad, row, pw, v, kvno,
	    y->ad->keytab_grace > 0 ? cv : 0, kept_out)) != CUST_OK)
		return r;
	util_test_crash("ad-rotate-keytab");
	util_test_stop("ad-rotate-keytab");	/* tests get the keytab here */
	snprintf(detail, sizeof(detail), "%s: password version %lld, kvno %d%s",
	    why, (long long)v, kvno, *kept_out > 0 ? " (the previous kvno "
	    "stays in the keytab for keytab_grace)" : "");
	if ((r = begin(y)) != CUST_OK)
		return r;
	r = secret_current(y, row, v);
	if (r == CUST_OK)
		r = audit(y, "directory.rotate", jstr(row, "name"), detail);
	if ((r = commit(y, r)) != CUST_OK)
		return r;
	*kvno_out = kvno;
	return CUST_OK;
}

/*
 * A password left pending on an active account is a rotation whose
 * outcome custody does not know (it stopped, or the DC went away, around
 * the LDAP modify). AD is asked: a bind as the account with the pending
 * password, then with the current one. The pending one works: the
 * rotation is finished. The current one: the pending is marked failed.
 * Neither: refused (changed outside custody). *done_out 1 when a rotation
 * was finished.
 */
static int
reconcile(struct sync *y, json_t *row, int *done_out)
{
	struct seal_secret *pw = NULL, *cur = NULL;
	struct dir_ldap *t = NULL;
	char upn[300];
	int64_t v = 0, cv = 0;
	int r, kvno, kept;

	*done_out = 0;
	if (strcmp(jstr(row, "state"), "active") != 0)
		return CUST_OK;
	if ((r = secret_get(y->st, row, "pending", &pw, &v)) != CUST_OK)
		return r == CUST_E_NOTFOUND ? CUST_OK : r;
	if ((r = account_upn(y, row, upn, sizeof(upn))) != CUST_OK)
		goto out;
	if (y->dry_run) {
		r = op(y, "bind as %s with password version %lld (pending "
		    "since an interrupted rotation), then the current one",
		    upn, (long long)v);
		goto out;
	}
	r = dir_ldap_open_as(y->ad, upn, pw, &t);
	dir_ldap_free(t);
	t = NULL;
	if (r == CUST_OK) {
		if ((r = op(y, "bind as %s: AD holds password version %lld "
		    "(an interrupted rotation, finished)", upn,
		    (long long)v)) == CUST_OK &&
		    (r = rotate_finish(y, row, pw, v, "reconciled", &kvno,
		    &kept)) == CUST_OK)
			*done_out = 1;
		goto out;
	}
	if (r != CUST_E_DENIED)
		goto out;	/* not an answer about the password */
	if ((r = secret_get(y->st, row, "current", &cur, &cv)) != CUST_OK)
		goto out;
	r = dir_ldap_open_as(y->ad, upn, cur, &t);
	dir_ldap_free(t);
	if (r == CUST_OK) {
		char detail[128];

		snprintf(detail, sizeof(detail), "password version %lld never "
		    "reached AD: version %lld stays current", (long long)v,
		    (long long)cv);
		if ((r = op(y, "bind as %s: AD holds password version %lld "
		    "(version %lld never reached it)", upn, (long long)cv,
		    (long long)v)) != CUST_OK || (r = begin(y)) != CUST_OK)
			goto out;
		r = secret_fail(y->st, row);
		if (r == CUST_OK)
			r = audit(y, "directory.rotate", jstr(row, "name"),
			    detail);
		r = commit(y, r);
		goto out;
	}
	if (r == CUST_E_DENIED)
		r = refuse(y, jstr(row, "name"), "account '%s': AD takes "
		    "neither its current nor its pending password (changed "
		    "outside custody?): account rotate %s sets a new one",
		    jstr(row, "name"), jstr(row, "owner"));
out:
	seal_secret_free(pw);
	seal_secret_free(cur);
	return r;
}

/*
 * The keytab of an active service account, checked on every sync: an
 * interrupted rotation reconciled first; then a keytab for the current
 * password at AD's kvno, derived again when it is missing or does not
 * open (DIR copied without it, a file of another version put back); its
 * previous kvno dropped when the grace has passed. A kvno in AD the
 * keytab does not have means the password was set outside custody:
 * refused, with what to do.
 */
static int
ensure_keytab(struct sync *y, json_t *row, json_t *e)
{
	static const char *const attrs[] = { KVNO_ATTR, NULL };
	struct seal_secret *pw = NULL;
	struct dir_keytab *kt = NULL;
	struct dir_ktfile f;
	json_t *e2 = NULL;
	char rel[128], detail[128];
	int64_t v = 0;
	int r, kvno, have, done;

	if ((r = reconcile(y, row, &done)) != CUST_OK)
		return r;
	if (done) {
		if ((r = read_dn(y, jstr(row, "dn"), attrs, &e2)) != CUST_OK)
			return r;
		e = e2;
	}
	kvno = entry_kvno(e);
	if ((r = secret_get(y->st, row, "current", &pw, &v)) != CUST_OK) {
		if (r == CUST_E_NOTFOUND)
			r = CUST_OK;	/* nothing AD took: nothing to derive */
		goto out;
	}
	if ((r = ad_ktfile(row, v, rel, sizeof(rel), &f)) != CUST_OK)
		goto out;
	r = dir_ktfile_read(y->st, &f, NULL, &kt);
	if (r == CUST_OK) {
		if ((have = dir_keytab_max_kvno(kt, 0)) == kvno &&
		    dir_keytab_has_enctype(kt, kvno, ENCTYPE_ARCFOUR_HMAC) !=
		    y->ad->rc4) {
			/* directory.ad rc4 changed: RC4 added or dropped */
			if ((r = op(y, "write %s (kvno %d, %s)", rel, kvno,
			    y->ad->rc4 ? "RC4 added" : "RC4 dropped")) !=
			    CUST_OK || y->dry_run)
				goto out;
			if ((r = write_keytab(y->st, y->ad, row, pw, v, kvno, v,
			    NULL)) != CUST_OK)
				goto out;
			r = audit(y, "keytab.write", jstr(row, "name"),
			    y->ad->rc4 ? "RC4 key added" : "RC4 key dropped");
			goto out;
		}
		if (have == kvno) {
			if (!y->dry_run)
				r = expire_keytab(y->st, y->ad, y->actor, row, v,
				    &kt);
			goto out;
		}
		r = refuse(y, jstr(row, "name"), "account '%s': AD's key "
		    "version is %d, its keytab's %d: the password was set "
		    "outside custody (account rotate %s sets a new one)",
		    jstr(row, "name"), kvno, have, jstr(row, "owner"));
		goto out;
	}
	if (r != CUST_E_NOTFOUND && r != CUST_E_SEALED)
		goto out;
	if (kvno == 0) {
		r = cust_fail(CUST_E_LDAP, "AD did not report the key version "
		    "of %s (" KVNO_ATTR ")", jstr(row, "dn"));
		goto out;
	}
	if ((r = op(y, "write %s (kvno %d, keys derived from password "
	    "version %lld)", rel, kvno, (long long)v)) != CUST_OK ||
	    y->dry_run)
		goto out;
	if ((r = write_keytab(y->st, y->ad, row, pw, v, kvno, 0, NULL)) !=
	    CUST_OK)
		goto out;
	snprintf(detail, sizeof(detail), "console:%.40s kvno %d",
	    jstr(row, "owner"), kvno);
	r = audit(y, "keytab.write", jstr(row, "name"), detail);
out:
	seal_secret_free(pw);
	dir_keytab_free(kt);
	json_decref(e2);
	return r;
}

/* ---- accounts ---- */

/* Password, then enabled: the last two steps of making an account. */
static int
finish_account(struct sync *y, const char *kind, const char *dn,
    struct seal_secret *pw, int64_t v)
{
	static const char *const uac[] = { UAC_ENABLED };
	const char *enc[] = { enctypes(y, kind) };
	const struct dir_attr en[] = {
		{ DIR_MOD_REPLACE, "userAccountControl", uac, 1, NULL, 0 },
		{ DIR_MOD_REPLACE, "msDS-SupportedEncryptionTypes", enc, 1,
		    NULL, 0 },
	};
	int r;

	if ((r = op(y, "modify %s: replace unicodePwd (password version "
	    "%lld, sealed in custody)", dn, (long long)v)) != CUST_OK ||
	    (r = op(y, "modify %s: replace userAccountControl %s (enabled, "
	    "password never expires), msDS-SupportedEncryptionTypes %s",
	    dn, UAC_ENABLED, enc[0])) != CUST_OK)
		return r;
	if (y->dry_run)
		return CUST_OK;
	if ((r = dir_ldap_set_password(y->l, dn, pw)) != CUST_OK)
		return r;
	return dir_ldap_modify(y->l, dn, en, 2);
}

int
dir_ad_gc_uri(const struct config_ad *ad, char *out, size_t len)
{
	const char *u = ad->uri, *h, *e;
	int ldaps;

	out[0] = '\0';
	if (ad->gc_uri != NULL) {
		if (strcmp(ad->gc_uri, "none") == 0)
			return CUST_OK;
		if ((size_t)snprintf(out, len, "%s", ad->gc_uri) >= len)
			return cust_fail(CUST_E_TOOBIG, "directory.ad gc_uri "
			    "is too long");
		return CUST_OK;
	}
	if (u == NULL)
		return cust_fail(CUST_E_INVAL, "directory.ad has no uri");
	ldaps = strncmp(u, "ldaps://", 8) == 0;
	if (!ldaps && strncmp(u, "ldap://", 7) != 0)
		return cust_fail(CUST_E_INVAL, "directory.ad uri is not an "
		    "LDAP URI");
	h = u + (ldaps ? 8 : 7);
	/* the host: a bracketed IPv6 literal, or up to a port or a path */
	if (*h == '[')
		e = strchr(h, ']') != NULL ? strchr(h, ']') + 1 : NULL;
	else
		e = h + strcspn(h, ":/");
	if (e == NULL || e == h)
		return cust_fail(CUST_E_INVAL, "directory.ad uri names no "
		    "host: set gc_uri");
	if ((size_t)snprintf(out, len, "%s%.*s:%d", ldaps ? "ldaps://" :
	    "ldap://", (int)(e - h), h, ldaps ? 3269 : 3268) >= len)
		return cust_fail(CUST_E_TOOBIG, "directory.ad uri is too long");
	return CUST_OK;
}

/* Does entry e hold value v in attribute attr (both compared without
 * case, as AD compares SPNs)? */
static int
has_value(json_t *e, const char *attr, const char *v)
{
	const char *key;
	json_t *vals, *x;
	size_t i;

	json_object_foreach(e, key, vals)
		if (strcasecmp(key, attr) == 0)
			json_array_foreach(vals, i, x)
				if (json_string_value(x) != NULL &&
				    strcasecmp(json_string_value(x), v) == 0)
					return 1;
	return 0;
}

/* The entries (attrs) that hold any of want's SPNs, found with one
 * search over l from base (subtree) into *out. */
static int
spn_search(struct dir_ldap *l, json_t *want, const char *base,
    const char *const *attrs, json_t **out)
{
	char esc[512], filter[8 * 600];
	json_t *spn;
	size_t i, n;
	int r;

	n = (size_t)snprintf(filter, sizeof(filter), "(|");
	json_array_foreach(json_object_get(want, "spns"), i, spn) {
		const char *v = json_string_value(spn);

		if ((r = dir_filter_escape(v, strlen(v), esc, sizeof(esc))) !=
		    CUST_OK)
			return r;
		n += (size_t)snprintf(filter + n, sizeof(filter) - n,
		    "(servicePrincipalName=%s)", esc);
		if (n >= sizeof(filter))
			return cust_fail(CUST_E_TOOBIG, "too many SPNs");
	}
	if ((size_t)snprintf(filter + n, sizeof(filter) - n, ")") >=
	    sizeof(filter) - n)
		return cust_fail(CUST_E_TOOBIG, "too many SPNs");
	return dir_ldap_search(l, base, 2, filter, attrs, out);
}

/*
 * The SPNs of want (a device object) another AD object holds: refused
 * (duplicate SPNs break AMT Kerberos). Searched in the domain over the
 * DC's connection (what it holds is authoritative at once), then in the
 * whole forest over the Global Catalog (dir_ad_gc_uri(): the domain's
 * subtree does not reach the forest's other domains; the GC holds
 * servicePrincipalName of every object of the forest); gc_uri none skips
 * the second. A GC that cannot be reached refuses the device (the check
 * could not be made), saying how to turn it off. 1 when refused, 0 when
 * free, or an error.
 */
static int
spn_conflict(struct sync *y, json_t *want, const char *dn)
{
	static const char *const attrs[] = { "servicePrincipalName", NULL };
	const char *base = strcasestr(y->ad->base_dn, "DC=");
	char gcuri[512];
	struct config_ad gad;
	json_t *a = NULL, *hit, *v = NULL;
	size_t k, j, pass;
	int r;

	if (json_array_size(json_object_get(want, "spns")) == 0)
		return 0;
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if ((r = dir_ad_gc_uri(y->ad, gcuri, sizeof(gcuri))) !=
			    CUST_OK)
				return r;
			if (gcuri[0] == '\0')
				break;		/* gc_uri: none */
			if (y->gc == NULL && !y->gc_tried) {
				y->gc_tried = 1;
				gad = *y->ad;
				gad.uri = gcuri;
				if (dir_ldap_open(&gad, &y->gc) != CUST_OK) {
					snprintf(y->gc_err, sizeof(y->gc_err),
					    "%s", cust_errmsg());
					cust_clearerr();
				}
			}
			if (y->gc == NULL) {
				r = refuse(y, jstr(want, "console"), "device "
				    "'%s': the duplicate-SPN check cannot "
				    "search the forest: the Global Catalog %s: "
				    "%s: refused (set directory.ad gc_uri to a "
				    "Global Catalog, or none to check the "
				    "domain only)", jstr(want, "console"),
				    gcuri, y->gc_err);
				return r == CUST_OK ? 1 : r;
			}
		}
		if ((r = spn_search(pass == 0 ? y->l : y->gc, want, pass == 0 ?
		    (base != NULL ? base : y->ad->base_dn) : "", attrs, &a)) !=
		    CUST_OK)
			return r;
		json_array_foreach(a, k, hit) {
			if (dir_dn_equal(jstr(hit, "dn"), dn))
				continue;
			/* the first of want's SPNs it holds */
			json_array_foreach(json_object_get(want, "spns"), j, v)
				if (has_value(hit, "servicePrincipalName",
				    json_string_value(v)))
					break;
			r = refuse(y, jstr(want, "console"), "device '%s': %s"
			    "%s is already on %s%s: refused (duplicate SPNs "
			    "break AMT Kerberos)", jstr(want, "console"),
			    v != NULL ? "SPN " : "one of its SPNs",
			    v != NULL ? json_string_value(v) : "",
			    jstr(hit, "dn"), pass == 1 ? " (found in the "
			    "forest's Global Catalog)" : "");
			json_decref(a);
			return r == CUST_OK ? 1 : r;
		}
		json_decref(a);
		a = NULL;
	}
	return 0;
}

/* The SPNs of want missing from entry e: added (an object custody made
 * whose SPNs someone removed). */
static int
spns_missing(struct sync *y, json_t *want, json_t *e, const char *dn)
{
	json_t *spn, *have = json_object_get(e, "servicePrincipalName");
	size_t i;
	int r;

	json_array_foreach(json_object_get(want, "spns"), i, spn) {
		const char *v = json_string_value(spn);
		const char *vals[] = { v };
		const struct dir_attr m = { DIR_MOD_ADD, "servicePrincipalName",
		    vals, 1, NULL, 0 };
		json_t *h;
		size_t k;
		int found = 0;

		json_array_foreach(have, k, h)
			if (strcasecmp(json_string_value(h), v) == 0)
				found = 1;
		if (found)
			continue;
		if ((r = op(y, "modify %s: add servicePrincipalName %s", dn,
		    v)) != CUST_OK)
			return r;
		if (!y->dry_run && (r = dir_ldap_modify(y->l, dn, &m, 1)) !=
		    CUST_OK)
			return r;
	}
	return CUST_OK;
}

/* The keytab of an account just made (password pw, version v; e read
 * back after the password was set), audited. */
static int
made_keytab(struct sync *y, json_t *row, json_t *e,
    const struct seal_secret *pw, int64_t v)
{
	char detail[128];
	int r, kvno = entry_kvno(e);

	if (kvno == 0)
		return cust_fail(CUST_E_LDAP, "AD did not report the key "
		    "version of %s (" KVNO_ATTR ")", jstr(row, "dn"));
	if ((r = write_keytab(y->st, y->ad, row, pw, v, kvno, 0, NULL)) !=
	    CUST_OK)
		return r;
	snprintf(detail, sizeof(detail), "console:%.40s kvno %d",
	    jstr(row, "owner"), kvno);
	return audit(y, "keytab.write", jstr(row, "name"), detail);
}

/* An account's msDS-SupportedEncryptionTypes as directory.ad rc4 says
 * (AES only, or with RC4). */
static int
account_enctypes(struct sync *y, const char *dn, json_t *e)
{
	const char *want[] = { enctypes(y, "account") };
	const char *have = first(e, "msDS-SupportedEncryptionTypes");
	const struct dir_attr m = { DIR_MOD_REPLACE,
	    "msDS-SupportedEncryptionTypes", want, 1, NULL, 0 };
	int r;

	if (have != NULL && strcmp(have, want[0]) == 0)
		return CUST_OK;
	if ((r = op(y, "modify %s: replace msDS-SupportedEncryptionTypes %s",
	    dn, want[0])) != CUST_OK || y->dry_run)
		return r;
	return dir_ldap_modify(y->l, dn, &m, 1);
}

/* A user object with a password custody keeps: a console's service
 * account (kind "account": want {"console", "name", "upn", "dn"}) or an
 * AMT device's object (kind "device": {"console": the FQDN, "name",
 * "dn", "spns"}). */
static int
sync_account(struct sync *y, json_t *want)
{
	static const char *const attrs[] = { "objectSid",
		"userAccountControl", "servicePrincipalName",
		"msDS-SupportedEncryptionTypes", KVNO_ATTR, NULL };
	const char *name = jstr(want, "name"), *console = jstr(want,
	    "console"), *sid64, *kind = json_object_get(want, "kind") ?
	    jstr(want, "kind") : "account";
	const char *who = strcmp(kind, "device") == 0 ? "device" : "console";
	char dn[DN_MAX], other[DN_MAX], sid[192], detail[DN_MAX + 256];
	struct seal_secret *pw = NULL;
	json_t *row, *e = NULL, *acc;
	int64_t v = 0;
	long uac;
	int r, made = 0;

	row = row_find(y->rows, kind, name);
	if (row != NULL && strcmp(jstr(row, "owner"), console) != 0)
		return refuse(y, name, "%s '%s': account '%s' belongs to "
		    "'%s'", who, console, name, jstr(row, "owner"));
	if (row != NULL)
		snprintf(dn, sizeof(dn), "%s", jstr(row, "dn"));
	else
		snprintf(dn, sizeof(dn), "%s", jstr(want, "dn"));
	if (row != NULL && (r = read_dn(y, dn, attrs, &e)) != CUST_OK)
		return r;
	if (row != NULL && (r = not_ours(y, row, e, kind)) != 0) {
		json_decref(e);
		return r < 0 ? r : CUST_OK;
	}
	if (row == NULL) {
		if ((r = name_taken(y, name, other, sizeof(other))) != CUST_OK)
			return r;
		if (other[0] != '\0')
			return refuse(y, name, "%s '%s': account '%s' "
			    "exists in AD (%s) and custody did not create it: "
			    "refused", who, console, name, other);
	}
	/* SPNs are checked before an object is made; once it holds them, AD
	 * refuses them to any other object */
	if (e == NULL && (r = spn_conflict(y, want, dn)) != 0)
		return r < 0 ? r : CUST_OK;
	if (e == NULL) {
		/* new, or begun and never added, or gone from AD */
		static const char *const oc[] = { "top", "person",
			"organizationalPerson", "user" };
		static const char *const dis[] = { UAC_DISABLED };
		static const char *const desc[] = { "AMT service account "
			"managed by custody" };
		const char *nm[] = { name }, *upn[] = { jstr(want, "upn") };
		const char *ddesc[1], *spnv[DIR_DEVICE_SPNS], *markv[1];
		char dtext[300], mark[MARK_MAX];
		struct dir_attr add[] = {
			{ 0, "objectClass", oc, 4, NULL, 0 },
			{ 0, "sAMAccountName", nm, 1, NULL, 0 },
			{ 0, "userAccountControl", dis, 1, NULL, 0 },
			{ 0, "description", desc, 1, NULL, 0 },
			{ 0, "userPrincipalName", upn, 1, NULL, 0 },
			{ 0, MARK_ATTR, markv, 1, NULL, 0 },
		};
		size_t nadd = 6, k;
		char what[300];

		if (strcmp(kind, "device") == 0) {
			json_t *x;

			snprintf(dtext, sizeof(dtext), "AMT device %s "
			    "(managed by custody)", console);
			ddesc[0] = dtext;
			add[3].vals = ddesc;
			json_array_foreach(json_object_get(want, "spns"), k, x)
				if (k < DIR_DEVICE_SPNS)
					spnv[k] = json_string_value(x);
			add[4].name = "servicePrincipalName";
			add[4].vals = spnv;
			add[4].n = json_array_size(json_object_get(want,
			    "spns"));
			if (add[4].n > DIR_DEVICE_SPNS)
				add[4].n = DIR_DEVICE_SPNS;
		}
		if (strcmp(kind, "device") == 0)
			snprintf(what, sizeof(what), "%zu SPNs of %s",
			    add[4].n, console);
		else
			snprintf(what, sizeof(what), "%s", upn[0]);
		if ((r = op(y, "add %s (user %s, %s, disabled)", dn, name,
		    what)) != CUST_OK)
			return r;
		if (!y->dry_run) {
			if ((r = begin(y)) != CUST_OK)
				return r;
			r = CUST_OK;
			if (row == NULL)
				r = row_insert(y, kind, name, dn, console,
				    &row);
			else if (strcmp(jstr(row, "state"), "creating") != 0)
				r = row_set(y, row, "creating", NULL);
			if (r == CUST_OK && (r = secret_pending(y, row, &pw,
			    &v)) == CUST_E_NOTFOUND)
				r = secret_new(y, row, &pw, &v);
			if (r == CUST_OK)
				r = audit(y, "directory.create", name, "object "
				    "begun (disabled until its password is set)");
			if ((r = commit(y, r)) != CUST_OK)
				goto out;
			/* tests stop here, the row 'creating', nothing
			 * added */
			util_test_crash("ad-account-begun");
			if ((r = row_mark(y, row, mark, sizeof(mark))) !=
			    CUST_OK)
				goto out;
			markv[0] = mark;
			r = dir_ldap_add(y->l, dn, add, nadd);
			if (r == CUST_E_EXISTS) {
				r = add_exists(y, row, who, console, dn);
				goto out;
			}
			if (r != CUST_OK)
				goto out;
			/* tests stop here and take the DC down */
			util_test_stop("ad-account-added");
		}
		made = 1;
	} else if (strcmp(jstr(row, "state"), "creating") == 0) {
		/* added, but its password or enabling did not happen */
		made = 1;
		if (!y->dry_run && (r = secret_pending(y, row, &pw, &v)) ==
		    CUST_E_NOTFOUND) {
			if ((r = begin(y)) != CUST_OK)
				goto out;
			if ((r = commit(y, secret_new(y, row, &pw, &v))) !=
			    CUST_OK)
				goto out;
		} else if (r != CUST_OK && !y->dry_run) {
			goto out;
		}
	}
	if (made) {
		if ((r = finish_account(y, kind, dn, pw, v)) != CUST_OK)
			goto out;
		if (y->dry_run && strcmp(kind, "account") == 0 &&
		    (r = op(y, "write " AD_KEYTABS "/%s.keytab (keys derived "
		    "from the new password)", console)) != CUST_OK)
			goto out;
		json_decref(e);
		e = NULL;
		if (!y->dry_run && (r = read_dn(y, dn, attrs, &e)) != CUST_OK)
			goto out;
		sid64 = e != NULL ? first(e, "objectSid") : NULL;
		if (!y->dry_run) {
			if ((r = sid_text(sid64, sid, sizeof(sid))) != CUST_OK)
				goto out;
			snprintf(detail, sizeof(detail), "%s %s sid %s "
			    "password version %lld", kind, dn, sid,
			    (long long)v);
			/* a console's keytab, before the password is
			 * current: a crash in between leaves the row
			 * 'creating', finished again by the next sync */
			if (strcmp(kind, "account") == 0 &&
			    (r = made_keytab(y, row, e, pw, v)) != CUST_OK)
				goto out;
			if ((r = begin(y)) != CUST_OK)
				goto out;
			r = row_set(y, row, "active", sid64);
			if (r == CUST_OK)
				r = secret_current(y, row, v);
			if (r == CUST_OK)
				r = audit(y, "directory.create", name, detail);
			if ((r = commit(y, r)) != CUST_OK)
				goto out;
		}
	} else {
		/* exists: its SPNs, and enabled as the policy wants it */
		if ((r = spns_missing(y, want, e, dn)) != CUST_OK)
			goto out;
		uac = strtol(first(e, "userAccountControl") ?
		    first(e, "userAccountControl") : "0", NULL, 10);
		if ((uac & UAC_DISABLE_BIT) || strcmp(jstr(row, "state"),
		    "active") != 0) {
			static const char *const en[] = { UAC_ENABLED };
			const struct dir_attr m[] = { { DIR_MOD_REPLACE,
			    "userAccountControl", en, 1, NULL, 0 } };

			if ((r = op(y, "modify %s: replace userAccountControl "
			    "%s (enabled)", dn, UAC_ENABLED)) != CUST_OK)
				goto out;
			if (!y->dry_run) {
				if ((r = dir_ldap_modify(y->l, dn, m, 1)) !=
				    CUST_OK)
					goto out;
				if ((r = begin(y)) != CUST_OK)
					goto out;
				r = row_set(y, row, "active", first(e,
				    "objectSid"));
				if (r == CUST_OK)
					r = audit(y, "directory.enable", name,
					    dn);
				if ((r = commit(y, r)) != CUST_OK)
					goto out;
			}
		}
		if (strcmp(kind, "account") == 0 &&
		    ((r = account_enctypes(y, dn, e)) != CUST_OK ||
		    (r = ensure_keytab(y, row, e)) != CUST_OK))
			goto out;
		sid64 = first(e, "objectSid");
	}
	if ((r = sid_text(sid64, sid, sizeof(sid))) != CUST_OK)
		goto out;
	acc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", who, console,
	    "name", name, "dn", dn, "sid", sid, "sid_b64", sid64 ? sid64 : "",
	    "state", y->dry_run && made ? "to be made" : "active");
	r = acc != NULL && json_array_append_new(strcmp(kind, "device") == 0 ?
	    y->devices : y->accounts, acc) == 0 ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
out:
	seal_secret_free(pw);
	json_decref(e);
	return r;
}

/* An account custody made whose console the policy no longer names (or
 * no longer gives a principal of this realm): disabled, kept. */
static int
retire_account(struct sync *y, json_t *row)
{
	static const char *const attrs[] = { "userAccountControl",
		"objectSid", NULL };
	static const char *const dis[] = { "66050" };
	const struct dir_attr m[] = { { DIR_MOD_REPLACE, "userAccountControl",
	    dis, 1, NULL, 0 } };
	const char *dn = jstr(row, "dn");
	json_t *e = NULL;
	long uac;
	int r;

	if ((r = read_dn(y, dn, attrs, &e)) != CUST_OK)
		return r;
	if ((r = not_ours(y, row, e, "account")) != 0) {
		json_decref(e);
		return r < 0 ? r : CUST_OK;
	}
	uac = e != NULL && first(e, "userAccountControl") ? strtol(first(e,
	    "userAccountControl"), NULL, 10) : UAC_DISABLE_BIT;
	json_decref(e);
	if (e != NULL && !(uac & UAC_DISABLE_BIT)) {
		if ((r = op(y, "modify %s: replace userAccountControl 66050 "
		    "(disabled: console '%s' is no longer in the policy)", dn,
		    jstr(row, "owner"))) != CUST_OK)
			return r;
		if (!y->dry_run && (r = dir_ldap_modify(y->l, dn, m, 1)) !=
		    CUST_OK)
			return r;
	}
	if (y->dry_run || strcmp(jstr(row, "state"), "disabled") == 0)
		return CUST_OK;
	if ((r = begin(y)) != CUST_OK)
		return r;
	r = row_set(y, row, "disabled", NULL);
	if (r == CUST_OK)
		r = audit(y, "directory.disable", jstr(row, "name"), dn);
	return commit(y, r);
}

/* ---- memberships ---- */

/* Does array a hold s: as a DN (dir_dn_equal()) when dn, else the same
 * string? */
static int
in_list(json_t *a, const char *s, int dn)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (json_string_value(v) != NULL && (dn ?
		    dir_dn_equal(json_string_value(v), s) :
		    strcmp(json_string_value(v), s) == 0))
			return 1;
	return 0;
}

/* Free p, made by json_dumps() with jansson's allocator (cust_init()). */
static void
jfree(void *p)
{
	json_free_t f;

	json_get_alloc_funcs(NULL, &f);
	f(p);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* consoles (an array of names) as the members column records them: a
 * compact JSON array, sorted (strcmp). New string (jansson's allocator:
 * jfree()), or NULL. */
static char *
members_text(json_t *consoles)
{
	size_t i, n = json_array_size(consoles);
	const char **v = calloc(n ? n : 1, sizeof(*v));
	json_t *a = json_array();
	char *t = NULL;

	if (v != NULL && a != NULL) {
		for (i = 0; i < n; i++)
			v[i] = json_string_value(json_array_get(consoles, i));
		qsort(v, n, sizeof(*v), name_cmp);
		for (i = 0; i < n; i++)
			if (json_array_append_new(a, json_string(v[i])) != 0)
				break;
		if (i == n)
			t = json_dumps(a, JSON_COMPACT);
	}
	free(v);
	json_decref(a);
	if (t == NULL)
		(void)cust_fail(CUST_E_NOMEM, "out of memory");
	return t;
}

/* The members group row (of duty) should have: accounts whose console
 * holds the duty (their DNs; *consoles_out those consoles' names). */
static int
members_wanted(struct sync *y, json_t *wants, const char *duty,
    json_t **out, json_t **consoles_out)
{
	json_t *a = json_array(), *c = json_array(), *w, *d;
	size_t i, j;

	*out = NULL;
	*consoles_out = NULL;
	if (a == NULL || c == NULL) {
		json_decref(a);
		json_decref(c);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	json_array_foreach(wants, i, w) {
		json_t *acc = NULL, *x;
		size_t k;

		/* only accounts that exist (or will, in a dry run) */
		json_array_foreach(y->accounts, k, x)
			if (strcmp(jstr(x, "name"), jstr(w, "name")) == 0)
				acc = x;
		if (acc == NULL)
			continue;
		json_array_foreach(json_object_get(w, "duties"), j, d)
			if (strcmp(json_string_value(d), duty) == 0 &&
			    (json_array_append_new(a, json_string(jstr(acc,
			    "dn"))) != 0 || json_array_append_new(c,
			    json_string(jstr(w, "console"))) != 0)) {
				json_decref(a);
				json_decref(c);
				return cust_fail(CUST_E_NOMEM, "out of memory");
			}
	}
	*out = a;
	*consoles_out = c;
	return CUST_OK;
}

/*
 * Record text (members_text(); NULL: not known) as group row's members
 * when it is not what the row holds, committed, audited when known.
 */
static int
members_record(struct sync *y, json_t *row, const char *text)
{
	json_t *now = json_object_get(row, "members");
	char *had = json_is_array(now) ? json_dumps(now, JSON_COMPACT) : NULL;
	char detail[512];
	int r, same = (text == NULL && had == NULL) || (text != NULL &&
	    had != NULL && strcmp(text, had) == 0);

	jfree(had);
	if (same)
		return CUST_OK;
	if ((r = begin(y)) != CUST_OK)
		return r;
	r = row_members(y, row, text);
	if (r == CUST_OK && text != NULL) {
		snprintf(detail, sizeof(detail), "members recorded: %.400s",
		    text);
		r = audit(y, "directory.members", jstr(row, "name"), detail);
	}
	return commit(y, r);
}

/* Add (DIR_MOD_ADD) or delete member m of group gname at gdn: one value
 * per change, so that a refusal names the member; audited. */
static int
member(struct sync *y, const char *gname, const char *gdn, const char *m,
    int how)
{
	const char *vals[] = { m };
	const struct dir_attr mod = { how, "member", vals, 1, NULL, 0 };
	const char *verb = how == DIR_MOD_ADD ? "add" : "delete";
	char detail[2 * DN_MAX + 32];
	int r;

	if ((r = op(y, "modify %s: %s member %s", gdn, verb, m)) != CUST_OK ||
	    y->dry_run)
		return r;
	if ((r = dir_ldap_modify(y->l, gdn, &mod, 1)) != CUST_OK)
		return r;
	snprintf(detail, sizeof(detail), "%s %s %s", m, how == DIR_MOD_ADD ?
	    "added to" : "removed from", gdn);
	return audit(y, "directory.member", gname, detail);
}

/*
 * The members of group entry e that AD does not list in its `member`: the
 * users and computers whose primaryGroupID is the group's RID (MS-ADTS
 * 3.1.1.4.5.x: AD drops the `member` value when the primary group is set;
 * the account still holds the group's SID in its tickets, so a group
 * entry on the devices admits it). Searched in the domain of base_dn; the
 * DNs into *out (an array, empty when none).
 */
static int
primary_members(struct sync *y, json_t *e, json_t **out)
{
	static const char *const attrs[] = { "primaryGroupID", NULL };
	const char *rid, *base = strcasestr(y->ad->base_dn, "DC=");
	char sid[200], filter[64];
	json_t *a = NULL, *x, *dns;
	size_t i;
	int r;

	*out = NULL;
	if ((r = sid_text(first(e, "objectSid"), sid, sizeof(sid))) !=
	    CUST_OK)
		return r;
	if ((dns = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	rid = strrchr(sid, '-');
	if (rid == NULL || rid[1] == '\0') {
		*out = dns;	/* no SID read: nothing to search for */
		return CUST_OK;
	}
	/* digits only (dir_sid_to_str()): nothing to escape */
	snprintf(filter, sizeof(filter), "(primaryGroupID=%s)", rid + 1);
	if ((r = dir_ldap_search(y->l, base != NULL ? base : y->ad->base_dn,
	    2, filter, attrs, &a)) != CUST_OK) {
		json_decref(dns);
		return r;
	}
	json_array_foreach(a, i, x)
		if (json_array_append_new(dns, json_string(jstr(x, "dn"))) !=
		    0) {
			json_decref(a);
			json_decref(dns);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	json_decref(a);
	*out = dns;
	return CUST_OK;
}

/*
 * Whether console's account must wait to join group row (gname, of
 * duty): while a device that may hold the group's Kerberos ACL entry
 * (dir_group_device: policy apply records it before it sends the entry
 * and deletes it once it saw the device without it) is one where the
 * plan does not grant console the duty as that entry would
 * (policy_group_admits()), the entry would admit it there the moment it
 * is a member. Refused, named (y->errors, audited); the members are then
 * recorded as not known, not the policy's, so policy apply moves the
 * duty to account entries and removes the group's entry from every
 * device, and the next sync adds the account. Devices custody no longer
 * holds as active are not asked (no apply reaches them). The caller
 * recorded the members as not known (committed) before: an apply that
 * records a device after this read finds them changed and sends nothing
 * (hold_set() in src/api/ops_acl.c). *later_out 1 when it must wait.
 */
static int
member_later(struct sync *y, json_t *row, const char *gname,
    const char *duty, const char *console, int *later_out)
{
	sqlite3_stmt *s;
	const char *fqdn;
	char first[256] = "";
	size_t n = 0;
	int rc;

	*later_out = 0;
	if (row == NULL || y->p == NULL)
		return CUST_OK;
	if ((s = store_stmt(state_store(y->st), "SELECT fqdn FROM "
	    "dir_group_device WHERE group_id = ? ORDER BY fqdn")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, jid(row));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *tags;

		fqdn = (const char *)sqlite3_column_text(s, 0);
		if (fqdn == NULL || (tags = json_object_get(y->tags, fqdn)) ==
		    NULL || policy_group_admits(y->p, duty, console, tags))
			continue;
		if (n++ == 0)
			snprintf(first, sizeof(first), "%s", fqdn);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_err(state_store(y->st), "read the devices that "
		    "may hold a group's entry");
	if (n == 0)
		return CUST_OK;
	*later_out = 1;
	return refuse(y, gname, "group '%s': console '%s' not added yet: %zu "
	    "device(s) may hold %s's entry where the policy does not grant "
	    "'%s' duty '%s' (%s%s): run policy apply first (it removes the "
	    "entry there), then account sync", gname, console, n, gname,
	    console, duty, first, n > 1 ? ", ..." : "");
}

static int
sync_members(struct sync *y, const char *gname, const char *gdn,
    const char *duty, json_t *wants)
{
	static const char *const attrs[] = { "member", "objectSid", NULL };
	json_t *want = NULL, *consoles = NULL, *e = NULL, *have, *v, *row;
	json_t *prim = NULL;
	char *text = NULL;
	size_t i, todo = 0, stray = 0, later = 0;
	int r, wait;

	if ((r = members_wanted(y, wants, duty, &want, &consoles)) != CUST_OK)
		return r;
	if ((text = members_text(consoles)) == NULL) {
		r = CUST_E_NOMEM;
		goto out;
	}
	if ((r = read_dn(y, gdn, attrs, &e)) != CUST_OK)
		goto out;
	if (e == NULL && !y->dry_run)
		goto out;	/* refused or gone: said already */
	/* a group custody made, not another one at its DN */
	if ((row = row_find(y->rows, "group", gname)) != NULL &&
	    (r = not_ours(y, row, e, "group")) != 0) {
		r = r < 0 ? r : CUST_OK;
		goto out;
	}
	have = json_object_get(e, "member");
	/* members by primary group: not in `member`, and custody cannot
	 * take them out (the account's own attribute): refused, named */
	if (e != NULL && (r = primary_members(y, e, &prim)) != CUST_OK)
		goto out;
	json_array_foreach(prim, i, v) {
		if (in_list(want, json_string_value(v), 1))
			continue;
		stray++;
		if ((r = refuse(y, gname, "group '%s': %s is a member through "
		    "its primaryGroupID, which AD does not list in member and "
		    "custody cannot remove: refused (give it another primary "
		    "group, such as Domain Users)", gname,
		    json_string_value(v))) != CUST_OK)
			goto out;
	}
	json_array_foreach(want, i, v)
		todo += !in_list(have, json_string_value(v), 1) &&
		    !in_list(prim, json_string_value(v), 1);
	json_array_foreach(have, i, v)
		todo += json_string_value(v) != NULL && !in_list(want,
		    json_string_value(v), 1);
	/*
	 * The members recorded are what policy apply trusts the group to
	 * hold (a duty's group entry is used only where they are the
	 * policy's holders of the duty): not known while they change, so a
	 * sync that stops half-way (the DC gone, a member refused, a crash)
	 * leaves no set recorded that AD may not have; recorded again once
	 * every change is made. A member through its primaryGroupID that
	 * the policy does not want (refused above) keeps it unknown.
	 */
	if (!y->dry_run && row != NULL && (todo > 0 || stray > 0) &&
	    (r = members_record(y, row, NULL)) != CUST_OK)
		goto out;
	json_array_foreach(want, i, v) {
		if (in_list(have, json_string_value(v), 1) ||
		    in_list(prim, json_string_value(v), 1))
			continue;
		/* after the record above: see member_later() */
		if ((r = member_later(y, row, gname, duty, json_string_value(
		    json_array_get(consoles, i)), &wait)) != CUST_OK)
			goto out;
		later += wait;
		if (!wait && (r = member(y, gname, gdn, json_string_value(v),
		    DIR_MOD_ADD)) != CUST_OK)
			goto out;
	}
	json_array_foreach(have, i, v)
		if (json_string_value(v) != NULL && !in_list(want,
		    json_string_value(v), 1) && (r = member(y, gname, gdn,
		    json_string_value(v), DIR_MOD_DELETE)) != CUST_OK)
			goto out;
	util_test_crash("ad-members-changed");
	if (!y->dry_run && row != NULL && stray == 0 && later == 0 &&
	    strcmp(jstr(row, "state"), "active") == 0)
		r = members_record(y, row, text);
out:
	json_decref(prim);
	jfree(text);
	json_decref(want);
	json_decref(consoles);
	json_decref(e);
	return r;
}

/* ---- AMT device objects ---- */

int
dir_device_spns(const char *fqdn, char spns[][300], size_t len)
{
	static const char *const ports[DIR_DEVICE_SPNS] = { "16992", "16993",
		"16994", "16995", "623", "664" };
	size_t i;

	for (i = 0; i < DIR_DEVICE_SPNS; i++)
		if ((size_t)snprintf(spns[i], len, "HTTP/%s:%s", fqdn,
		    ports[i]) >= len)
			return cust_fail(CUST_E_TOOBIG, "an SPN of %s is too "
			    "long", fqdn);
	return CUST_OK;
}

/* The sAMAccountName of device fqdn's object: "amt-" and 11 hex digits
 * of SHA-256 of the lower-case FQDN (15 characters: within AD's 20, and
 * the same for every spelling of the FQDN). */
static void
device_name(const char *fqdn, char out[16])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char low[256];
	size_t i, n = strlen(fqdn);

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (i = 0; i < n; i++)
		low[i] = (char)(fqdn[i] >= 'A' && fqdn[i] <= 'Z' ?
		    fqdn[i] - 'A' + 'a' : fqdn[i]);
	crypto_hash_sha256(h, (const unsigned char *)low, n);
	memcpy(out, "amt-", 4);
	sodium_bin2hex(out + 4, 13, h, 6);
	out[15] = '\0';
}

struct devplan {
	struct sync *y;
	const struct policy *p;
	json_t *wants;
	int r;
};

/* One active device: wanted when the plan gives it Kerberos entries. */
static int
plan_device(void *arg, json_t *dev)
{
	struct devplan *d = arg;
	const char *fqdn = json_string_value(json_object_get(dev, "fqdn"));
	char spns[DIR_DEVICE_SPNS][300], name[16], dn[DN_MAX];
	json_t *plan = NULL, *w, *a;
	size_t i;
	int r;

	if (fqdn == NULL)
		return 0;
	if (json_object_set(d->y->tags, fqdn, json_object_get(dev, "tags") ?
	    json_object_get(dev, "tags") : json_null()) != 0) {
		d->r = cust_fail(CUST_E_NOMEM, "out of memory");
		return 1;
	}
	r = policy_plan(d->p, fqdn, json_object_get(dev, "tags"), &plan);
	if (r != CUST_OK) {
		d->r = r;
		return 1;
	}
	r = json_integer_value(json_object_get(plan, "kerberos_entries")) > 0;
	json_decref(plan);
	if (!r)
		return 0;
	device_name(fqdn, name);
	if ((r = dir_device_spns(fqdn, spns, sizeof(spns[0]))) != CUST_OK ||
	    (r = make_dn(d->y, fqdn, dn, sizeof(dn))) != CUST_OK) {
		d->r = refuse(d->y, fqdn, "device '%s': %s", fqdn,
		    cust_errmsg());
		return d->r != CUST_OK;
	}
	if ((a = json_array()) == NULL) {
		d->r = cust_fail(CUST_E_NOMEM, "out of memory");
		return 1;
	}
	for (i = 0; i < DIR_DEVICE_SPNS; i++)
		if (json_array_append_new(a, json_string(spns[i])) != 0) {
			json_decref(a);
			d->r = cust_fail(CUST_E_NOMEM, "out of memory");
			return 1;
		}
	w = json_pack("{s:s, s:s, s:s, s:s, s:o}", "kind", "device",
	    "console", fqdn, "name", name, "dn", dn, "spns", a);
	if (w == NULL || json_array_append_new(d->wants, w) != 0) {
		d->r = cust_fail(CUST_E_NOMEM, "out of memory");
		return 1;
	}
	return 0;
}

/* The object of a device custody no longer holds, or that no longer
 * uses Kerberos: deleted from AD (custody made it; its SPNs would
 * otherwise keep the FQDN's Kerberos pointing at a key nobody applies),
 * the row kept as 'removed', its password retired. */
static int
remove_device(struct sync *y, json_t *row)
{
	static const char *const attrs[] = { "objectSid", NULL };
	const char *dn = jstr(row, "dn");
	json_t *e = NULL;
	int r;

	if ((r = read_dn(y, dn, attrs, &e)) != CUST_OK)
		return r;
	if ((r = not_ours(y, row, e, "device")) != 0) {
		json_decref(e);
		return r < 0 ? r : CUST_OK;
	}
	if (e != NULL) {
		json_decref(e);
		if ((r = op(y, "delete %s (device %s is gone or no longer uses "
		    "Kerberos)", dn, jstr(row, "owner"))) != CUST_OK)
			return r;
		if (!y->dry_run && (r = dir_ldap_delete(y->l, dn)) != CUST_OK &&
		    r != CUST_E_NOTFOUND)
			return r;
	}
	if (y->dry_run)
		return CUST_OK;
	if ((r = begin(y)) != CUST_OK)
		return r;
	r = row_set(y, row, "removed", NULL);
	if (r == CUST_OK)
		r = secret_move(y->st, jid(row), "pending", "current", 0, 0,
		    "retired");
	if (r == CUST_OK)
		r = audit(y, "directory.delete", jstr(row, "name"), dn);
	return commit(y, r);
}

/* ---- what the policy wants ---- */

/*
 * The outcome r of one object's sync: the DC refusing that object (a
 * constraint, such as a userPrincipalName another object holds) is a
 * refusal of it and the sync goes on with the others; anything else (the
 * DC gone, the store) stops it. What was begun stays recorded and the
 * next sync resumes it.
 */
static int
one(struct sync *y, int r, const char *what, const char *name)
{
	if (r != CUST_E_LDAP)
		return r;
	return refuse(y, name, "%s '%s': the directory refused: %s", what,
	    name, cust_errmsg());
}

/* wants: [{"console", "name", "upn", "dn", "duties"}]; duties: the union
 * of their duties. Consoles refused go to y->errors. */
static int
plan(struct sync *y, const struct policy *p, json_t *wants, json_t *duties)
{
	const char *cname, *krb, *at;
	char name[256], dn[DN_MAX];
	json_t *info = NULL, *w, *d;
	size_t i, j;
	int r = CUST_OK, revoked;

	for (i = 0; r == CUST_OK && (cname = policy_console_name(p, i)) !=
	    NULL; i++) {
		json_decref(info);
		info = NULL;
		if ((r = policy_console_info(p, cname, &info)) != CUST_OK)
			break;
		krb = json_string_value(json_object_get(info, "kerberos"));
		if (krb == NULL || (at = strrchr(krb, '@')) == NULL ||
		    strcmp(at + 1, y->ad->realm) != 0)
			continue;
		/* revoked: its account is disabled and leaves the groups */
		if ((r = ca_console_revoked(y->st, cname, &revoked)) != CUST_OK)
			break;
		if (revoked)
			continue;
		if ((size_t)(at - krb) >= sizeof(name)) {
			r = refuse(y, cname, "console '%s': the principal's "
			    "name is too long", cname);
			continue;
		}
		memcpy(name, krb, (size_t)(at - krb));
		name[at - krb] = '\0';
		if (dir_valid_name(name, DIR_USER_NAME_MAX) != CUST_OK) {
			r = refuse(y, cname, "console '%s': '%s' cannot be an "
			    "AD account name: %s", cname, name, cust_errmsg());
			continue;
		}
		if ((r = make_dn(y, name, dn, sizeof(dn))) != CUST_OK)
			break;
		w = json_pack("{s:s, s:s, s:s, s:s, s:O}", "console", cname,
		    "name", name, "upn", krb, "dn", dn, "duties",
		    json_object_get(info, "duties"));
		if (w == NULL || json_array_append_new(wants, w) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		json_array_foreach(json_object_get(info, "duties"), j, d)
			if (!in_list(duties, json_string_value(d), 0) &&
			    json_array_append(duties, d) != 0)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	json_decref(info);
	return r;
}

/* y for a sync or a rotation: its fields, and its ops, errors and
 * accounts arrays (freed by the caller's cleanup, even on failure). */
static int
sync_init(struct sync *y, struct cust_state *st, const char *actor,
    const struct config_ad *ad, int dry_run)
{
	memset(y, 0, sizeof(*y));
	y->st = st;
	y->actor = actor;
	y->ad = ad;
	y->dry_run = dry_run;
	if (!ad->set)
		return cust_fail(CUST_E_INVAL, "custody.yaml has no "
		    "directory.ad section (custody.yaml(5))");
	if ((y->ops = json_array()) == NULL || (y->errors = json_array()) ==
	    NULL || (y->accounts = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/* What sync_init() (or act_on()) and the sync made: the connections
 * and every list (NULL ones included). */
static void
sync_fini(struct sync *y)
{
	dir_ldap_free(y->l);
	dir_ldap_free(y->gc);
	json_decref(y->ops);
	json_decref(y->errors);
	json_decref(y->accounts);
	json_decref(y->groups);
	json_decref(y->devices);
	json_decref(y->rows);
	json_decref(y->token);
	json_decref(y->tags);
	memset(y, 0, sizeof(*y));
}

int
dir_ad_sync(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const struct policy *p, int dry_run,
    json_t **out)
{
	struct sync y;
	struct devplan dp;
	json_t *wants = NULL, *duties = NULL, *devwants = NULL, *row, *d;
	size_t i;
	int r = CUST_E_INTERNAL, r2, refusals = 0, lockfd = -1;

	*out = NULL;
	if ((r = sync_init(&y, st, actor, ad, dry_run)) != CUST_OK)
		goto out;
	y.p = p;
	if ((y.groups = json_array()) == NULL || (wants = json_array()) ==
	    NULL || (duties = json_array()) == NULL || (devwants =
	    json_array()) == NULL || (y.devices = json_array()) == NULL ||
	    (y.tags = json_object()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	/* a dry run changes nothing: it runs beside a sync */
	if (!dry_run && (r = sync_lock(st, &lockfd)) != CUST_OK)
		goto out;
	if ((r = rows_load(st, &y.rows)) != CUST_OK)
		goto out;
	if ((r = plan(&y, p, wants, duties)) != CUST_OK)
		goto out;
	dp.y = &y;
	dp.p = p;
	dp.wants = devwants;
	dp.r = CUST_OK;
	if ((r = cred_device_each(st, NULL, plan_device, &dp)) != CUST_OK ||
	    (r = dp.r) != CUST_OK)
		goto out;
	if ((r = dir_ldap_open(ad, &y.l)) != CUST_OK)
		goto out;
	json_array_foreach(duties, i, d)
		if ((r = one(&y, sync_group(&y, json_string_value(d)), "duty",
		    json_string_value(d))) != CUST_OK)
			goto out;
	json_array_foreach(wants, i, d)
		if ((r = one(&y, sync_account(&y, d), "console", jstr(d,
		    "console"))) != CUST_OK)
			goto out;
	json_array_foreach(devwants, i, d)
		if ((r = one(&y, sync_account(&y, d), "device", jstr(d,
		    "console"))) != CUST_OK)
			goto out;
	json_array_foreach(y.rows, i, row) {
		json_t *w;
		size_t k;
		int wanted = 0;

		if (strcmp(jstr(row, "kind"), "device") == 0 &&
		    strcmp(jstr(row, "state"), "removed") != 0) {
			json_array_foreach(devwants, k, w)
				if (strcasecmp(jstr(w, "name"),
				    jstr(row, "name")) == 0)
					wanted = 1;
			if (!wanted && (r = remove_device(&y, row)) != CUST_OK)
				goto out;
			continue;
		}
		if (strcmp(jstr(row, "kind"), "account") != 0)
			continue;
		json_array_foreach(wants, k, w)
			if (strcasecmp(jstr(w, "name"), jstr(row, "name")) == 0)
				wanted = 1;
		if (!wanted && (r = retire_account(&y, row)) != CUST_OK)
			goto out;
	}
	/* the groups of the policy's duties, then custody's groups of
	 * duties no longer held (emptied) */
	json_array_foreach(y.groups, i, d)
		if ((r = sync_members(&y, jstr(d, "name"), jstr(d, "dn"),
		    jstr(d, "duty"), wants)) != CUST_OK)
			goto out;
	json_array_foreach(y.rows, i, row) {
		json_t *g;
		size_t k;
		int listed = 0;

		if (strcmp(jstr(row, "kind"), "group") != 0)
			continue;
		json_array_foreach(y.groups, k, g)
			if (strcasecmp(jstr(g, "name"), jstr(row, "name")) == 0)
				listed = 1;
		/* a group sync_group() refused (not custody's object) */
		if (json_is_true(json_object_get(row, "refused")))
			listed = 1;
		if (!listed && (r = sync_members(&y, jstr(row, "name"),
		    jstr(row, "dn"), "", wants)) != CUST_OK)
			goto out;
	}
	refusals = json_array_size(y.errors) > 0;
	r = refusals ? cust_fail(CUST_E_CONFLICT, "%s",
	    json_string_value(json_array_get(y.errors, 0))) : CUST_OK;
out:
	/* CUST_E_CONFLICT means refusals (the reply lists them); a store
	 * constraint that stopped the sync is an error of its own */
	if (r == CUST_E_CONFLICT && !refusals)
		r = CUST_E_DB;
	if (r != CUST_OK && r != CUST_E_CONFLICT && !dry_run)
		(void)audit_note(state_audit(st), actor, "directory.sync",
		    ad->base_dn ? ad->base_dn : "ad", "failed", cust_errmsg());
	r2 = CUST_OK;
	if (y.ops != NULL && y.errors != NULL && y.accounts != NULL &&
	    y.groups != NULL && y.devices != NULL) {
		*out = json_pack("{s:O, s:O, s:O, s:O, s:O, s:I, s:b}",
		    "operations", y.ops, "accounts", y.accounts, "groups",
		    y.groups, "devices", y.devices, "errors", y.errors,
		    "changes", (json_int_t)y.changes, "dry_run", dry_run);
		if (*out == NULL)
			r2 = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	sync_fini(&y);
	sync_unlock(lockfd);
	json_decref(wants);
	json_decref(devwants);
	json_decref(duties);
	return r != CUST_OK ? r : r2;
}

int
dir_ad_list(struct cust_state *st, json_t **out)
{
	json_t *rows = NULL, *o;
	char sid[192];
	size_t i;
	int r;

	*out = NULL;
	if ((r = rows_load(st, &rows)) != CUST_OK)
		return r;
	json_array_foreach(rows, i, o) {
		if (sid_text(jstr(o, "sid_b64"), sid, sizeof(sid)) != CUST_OK)
			sid[0] = '\0';
		json_object_set_new(o, "sid", json_string(sid));
		json_object_del(o, "id");
	}
	*out = rows;
	return CUST_OK;
}

int
dir_ad_password(struct cust_state *st, const char *actor, const char *name,
    struct seal_secret **pw_out, int64_t *version_out)
{
	json_t *rows = NULL, *row;
	char detail[64];
	int r;

	*pw_out = NULL;
	*version_out = 0;
	if ((r = rows_load(st, &rows)) != CUST_OK)
		return r;
	if ((row = row_find(rows, "account", name)) == NULL &&
	    (row = row_find(rows, "device", name)) == NULL) {
		json_t *o;
		size_t i;

		json_array_foreach(rows, i, o)
			if (strcmp(jstr(o, "kind"), "device") == 0 &&
			    strcmp(jstr(o, "state"), "removed") != 0 &&
			    strcasecmp(jstr(o, "owner"), name) == 0)
				row = o;
	}
	if (row == NULL) {
		r = cust_fail(CUST_E_NOTFOUND, "custody made no AD account "
		    "'%s'", name);
		goto out;
	}
	r = secret_get(st, row, "current", pw_out, version_out);
	if (r == CUST_E_NOTFOUND)
		r = cust_fail(CUST_E_NOTFOUND, "account '%s' has no password "
		    "AD took yet: run account sync", name);
	if (r != CUST_OK)
		goto out;
	/* durable before the value is handed out */
	snprintf(detail, sizeof(detail), "version %lld",
	    (long long)*version_out);
	if ((r = audit_append(state_audit(st), actor, "directory.password",
	    name, "ok", detail)) != CUST_OK) {
		seal_secret_free(*pw_out);
		*pw_out = NULL;
	}
out:
	json_decref(rows);
	return r;
}

/*
 * owner of row o is owner: a device's FQDN compared without case; a
 * console's name exactly, as the policy spells it and as authorization
 * compares it. A policy may hold consoles "sec" and "Sec": without case,
 * console Sec asking for its own keytab got sec's account's (the first
 * row), and a revocation of sec could disable Sec's account instead.
 */
static int
owned_by(json_t *o, const char *kind, const char *owner)
{
	return strcmp(kind, "device") == 0 ?
	    strcasecmp(jstr(o, "owner"), owner) == 0 :
	    strcmp(jstr(o, "owner"), owner) == 0;
}

/* The active row of kind ("account", "device") owned by owner (a
 * console, a device's FQDN: owned_by()) in rows, or NULL. */
static json_t *
active_of(json_t *rows, const char *kind, const char *owner)
{
	json_t *o;
	size_t i;

	json_array_foreach(rows, i, o)
		if (strcmp(jstr(o, "kind"), kind) == 0 &&
		    strcmp(jstr(o, "state"), "active") == 0 &&
		    owned_by(o, kind, owner))
			return o;
	return NULL;
}

/*
 * The keytab of console's active account as it stands: *rows_out (the
 * rows read), *row_out (one of them), *kt_out, and *v_out the password
 * version it is sealed for. That is the current one, or during a
 * rotation (or after one cut short there) the pending one (*pending_out
 * 1): the file is the new password's once AD took that password, before
 * it turns current.
 */
static int
ad_keytab_read(struct cust_state *st, const char *console, json_t **rows_out,
    json_t **row_out, int64_t *v_out, int *pending_out,
    struct dir_keytab **kt_out)
{
	struct seal_secret *pw = NULL;
	struct dir_ktfile f;
	json_t *row;
	char rel[128], why[512];
	int64_t pv = 0;
	int r;

	*row_out = NULL;
	*kt_out = NULL;
	*pending_out = 0;
	if ((r = rows_load(st, rows_out)) != CUST_OK)
		return r;
	if ((row = active_of(*rows_out, "account", console)) == NULL)
		return cust_fail(CUST_E_NOTFOUND, "custody holds no active AD "
		    "service account for console %s (account sync makes it)",
		    console);
	r = secret_get(st, row, "current", &pw, v_out);
	seal_secret_free(pw);
	pw = NULL;
	if (r == CUST_E_NOTFOUND)
		return cust_fail(CUST_E_NOTFOUND, "the account of console %s "
		    "has no password AD took yet: run account sync", console);
	if (r != CUST_OK ||
	    (r = ad_ktfile(row, *v_out, rel, sizeof(rel), &f)) != CUST_OK)
		return r;
	r = dir_ktfile_read(st, &f, NULL, kt_out);
	if (r == CUST_E_SEALED) {
		snprintf(why, sizeof(why), "%s", cust_errmsg());
		if (secret_get(st, row, "pending", &pw, &pv) == CUST_OK) {
			seal_secret_free(pw);
			f.version = pv;
			if (dir_ktfile_read(st, &f, NULL, kt_out) == CUST_OK) {
				r = CUST_OK;
				*pending_out = 1;
			}
		}
		if (r != CUST_OK)
			(void)cust_fail(r, "%s", why);	/* the first error */
	}
	if (r == CUST_E_NOTFOUND)
		return cust_fail(CUST_E_NOTFOUND, "console %s has no keytab yet "
		    "(account sync makes it)", console);
	if (r == CUST_OK) {
		*row_out = row;
		*v_out = f.version;
	}
	return r;
}

/*
 * A keytab get never waits for a change of AD, nor holds one up: it
 * reads without the lock (ad_keytab_read(): the new keys, during a
 * rotation). Only when a previous kvno's grace has passed does it take
 * the lock (without waiting) to drop it: it reads again under the lock
 * and writes; a change running meanwhile leaves that to a later get or
 * sync (a write beside a rotation could put the old version's file
 * back over the rotation's).
 */
int
dir_ad_keytab(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *console,
    struct seal_secret **out)
{
	struct seal_secret *img = NULL;
	struct dir_keytab *kt = NULL;
	json_t *rows = NULL, *row;
	char detail[128];
	int64_t v = 0;
	int r, due = 0, pending = 0, lockfd = -1;

	*out = NULL;
	if ((r = ad_keytab_read(st, console, &rows, &row, &v, &pending,
	    &kt)) != CUST_OK || (!pending && (r = expire_due(st, ad, row, kt,
	    &due)) != CUST_OK))
		goto out;
	if (due && sync_lock(st, &lockfd) == CUST_OK) {
		dir_keytab_free(kt);
		json_decref(rows);
		kt = NULL;
		rows = NULL;
		if ((r = ad_keytab_read(st, console, &rows, &row, &v, &pending,
		    &kt)) != CUST_OK || (!pending && (r = expire_keytab(st, ad,
		    actor, row, v, &kt)) != CUST_OK))
			goto out;
	}
	cust_clearerr();
	if ((r = dir_keytab_serialize(kt, &img)) != CUST_OK)
		goto out;
	/* durable before the keys leave */
	snprintf(detail, sizeof(detail), "console:%.40s kvno %d", console,
	    dir_keytab_max_kvno(kt, 0));
	if ((r = audit_append(state_audit(st), actor, "keytab.get",
	    jstr(row, "name"), "ok", detail)) != CUST_OK)
		goto out;
	*out = img;
	img = NULL;
out:
	sync_unlock(lockfd);
	seal_secret_free(img);
	dir_keytab_free(kt);
	json_decref(rows);
	return r;
}

/* Is the object at row's DN still the one custody made (its objectSid
 * the recorded one: not_ours())? 1 (refused, said) when not, 0 when it
 * is or is gone, or an error. Every password set outside a sync asks
 * first: a new password on someone else's object at custody's DN would
 * hand its keys to a console or a device. */
static int
dn_not_ours(struct sync *y, json_t *row, const char *what)
{
	static const char *const attrs[] = { "objectSid", NULL };
	json_t *e = NULL;
	int r;

	if ((r = read_dn(y, jstr(row, "dn"), attrs, &e)) != CUST_OK)
		return r;
	r = not_ours(y, row, e, what);
	json_decref(e);
	return r;
}

/* One account's rotation: a new password pending (committed first), set
 * through unicodePwd, then finished (rotate_finish()). A refusal by the
 * DC marks the pending password failed; a lost connection leaves it
 * pending for the next sync to reconcile. The item goes to y->accounts. */
static int
rotate_one(struct sync *y, json_t *row)
{
	struct seal_secret *pw = NULL;
	json_t *item;
	size_t nerr = json_array_size(y->errors);
	int64_t v = 0, until = 0;
	int r, done, kvno = 0, kept = 0;

	if ((r = dn_not_ours(y, row, "account")) != 0)
		return r < 0 ? r : CUST_OK;
	if ((r = reconcile(y, row, &done)) != CUST_OK ||
	    json_array_size(y->errors) > nerr)
		return r;
	if ((r = begin(y)) != CUST_OK)
		return r;
	r = secret_new(y, row, &pw, &v);
	if (r == CUST_OK)
		r = audit(y, "directory.rotate", jstr(row, "name"), "begun: "
		    "a new password pending until AD takes it");
	if ((r = commit(y, r)) != CUST_OK)
		goto out;
	util_test_crash("ad-rotate-pending");
	if ((r = op(y, "modify %s: replace unicodePwd (password version "
	    "%lld, sealed in custody)", jstr(row, "dn"), (long long)v)) !=
	    CUST_OK)
		goto out;
	if ((r = dir_ldap_set_password(y->l, jstr(row, "dn"), pw)) != CUST_OK) {
		if (r != CUST_E_LDAP)
			goto out;	/* unknown: the next sync asks AD */
		/* the DC answered no (a constraint): nothing changed */
		(void)audit_note(state_audit(y->st), y->actor,
		    "directory.rotate", jstr(row, "name"), "failed",
		    cust_errmsg());
		if (secret_fail(y->st, row) != CUST_OK)
			goto out;
		r = refuse(y, jstr(row, "name"), "account '%s': %s",
		    jstr(row, "name"), cust_errmsg());
		goto out;
	}
	util_test_crash("ad-rotate-set");
	if ((r = rotate_finish(y, row, pw, v, "rotated", &kvno, &kept)) !=
	    CUST_OK)
		goto out;
	if (kept > 0 && (r = prev_until(y->st, row, y->ad->keytab_grace,
	    &until)) != CUST_OK)
		goto out;
	item = json_pack("{s:s, s:s, s:I, s:i, s:i, s:I}", "console",
	    jstr(row, "owner"), "name", jstr(row, "name"), "version",
	    (json_int_t)v, "kvno", kvno, "previous_kvno", kept,
	    "previous_until", (json_int_t)until);
	r = item != NULL && json_array_append_new(y->accounts, item) == 0 ?
	    CUST_OK : cust_fail(CUST_E_NOMEM, "out of memory");
out:
	seal_secret_free(pw);
	return r;
}

int
dir_ad_rotate(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *console, json_t **out)
{
	struct sync y;
	json_t *row;
	size_t i, n = 0;
	int r, lockfd = -1;

	*out = NULL;
	if ((r = sync_init(&y, st, actor, ad, 0)) != CUST_OK)
		goto out;
	/* a rotation changes AD like a sync: one at a time */
	if ((r = sync_lock(st, &lockfd)) != CUST_OK)
		goto out;
	if ((r = rows_load(st, &y.rows)) != CUST_OK)
		goto out;
	json_array_foreach(y.rows, i, row)
		if (strcmp(jstr(row, "kind"), "account") == 0 &&
		    strcmp(jstr(row, "state"), "active") == 0 &&
		    (console == NULL || strcasecmp(jstr(row, "owner"),
		    console) == 0))
			n++;
	if (n == 0) {
		r = console != NULL ? cust_fail(CUST_E_NOTFOUND, "custody "
		    "holds no active AD service account for console %s",
		    console) : CUST_OK;
		goto reply;
	}
	if ((r = dir_ldap_open(ad, &y.l)) != CUST_OK)
		goto out;
	json_array_foreach(y.rows, i, row) {
		if (strcmp(jstr(row, "kind"), "account") != 0 ||
		    strcmp(jstr(row, "state"), "active") != 0 ||
		    (console != NULL && strcasecmp(jstr(row, "owner"),
		    console) != 0))
			continue;
		if ((r = rotate_one(&y, row)) != CUST_OK)
			goto out;
	}
	r = json_array_size(y.errors) > 0 ? cust_fail(CUST_E_CONFLICT, "%s",
	    json_string_value(json_array_get(y.errors, 0))) : CUST_OK;
reply:
	if ((*out = json_pack("{s:O, s:O, s:O, s:I}", "items", y.accounts,
	    "operations", y.ops, "errors", y.errors, "changes",
	    (json_int_t)y.changes)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
out:
	if (r != CUST_OK && r != CUST_E_CONFLICT && r != CUST_E_NOTFOUND)
		(void)audit_note(state_audit(st), actor, "directory.rotate",
		    console != NULL ? console : "all", "failed", cust_errmsg());
	sync_fini(&y);
	sync_unlock(lockfd);
	return r;
}

/*
 * One object custody made, acted on outside a sync: the row of kind owned
 * by owner (not 'removed'), act() on it over a connection of its own.
 * *out {"name", "dn", key: true} when done, key false when not (the error
 * returned); NULL with CUST_OK when there is no such row. A failure is
 * audited as action "failed"; the next sync does what was not done.
 */
static int
act_on(struct cust_state *st, const char *actor, const struct config_ad *ad,
    const char *kind, const char *owner, int (*act)(struct sync *, json_t *),
    const char *action, const char *key, json_t **out)
{
	struct sync y;
	json_t *row = NULL, *o;
	size_t i;
	int r, lockfd = -1;

	*out = NULL;
	memset(&y, 0, sizeof(y));
	y.st = st;
	y.actor = actor;
	y.ad = ad;
	if ((r = rows_load(st, &y.rows)) != CUST_OK)
		return r;
	/* the name as the policy spells it first; else as typed (console
	 * revoke SEC) */
	json_array_foreach(y.rows, i, o)
		if (strcmp(jstr(o, "kind"), kind) == 0 &&
		    strcmp(jstr(o, "state"), "removed") != 0 &&
		    (owned_by(o, kind, owner) || (row == NULL &&
		    strcasecmp(jstr(o, "owner"), owner) == 0)))
			row = o;
	if (row == NULL) {
		json_decref(y.rows);
		return CUST_OK;
	}
	if ((y.ops = json_array()) == NULL || (y.errors = json_array()) ==
	    NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (ad == NULL || !ad->set)
		r = cust_fail(CUST_E_INVAL, "custody.yaml has no usable "
		    "directory.ad section");
	else if ((r = sync_lock(st, &lockfd)) == CUST_OK &&
	    (r = dir_ldap_open(ad, &y.l)) == CUST_OK)
		r = act(&y, row);
	if (r == CUST_OK && json_array_size(y.errors) > 0)
		r = cust_fail(CUST_E_CONFLICT, "%s", json_string_value(
		    json_array_get(y.errors, 0)));
	if (r != CUST_OK)
		(void)audit_note(state_audit(st), actor, action,
		    jstr(row, "name"), "failed", cust_errmsg());
	*out = json_pack("{s:s, s:s, s:b}", "name", jstr(row, "name"), "dn",
	    jstr(row, "dn"), key, r == CUST_OK);
	if (*out == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
out:
	sync_fini(&y);
	sync_unlock(lockfd);
	return r;
}

int
dir_ad_device_removed(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *fqdn, json_t **out)
{
	return act_on(st, actor, ad, "device", fqdn, remove_device,
	    "directory.delete", "deleted", out);
}

/* A revoked console's account: disabled, and out of every group of
 * custody's. */
static int
revoke_account(struct sync *y, json_t *row)
{
	static const char *const attrs[] = { "member", NULL };
	const char *dn = jstr(row, "dn");
	json_t *g, *e = NULL;
	size_t i;
	int r;

	if ((r = retire_account(y, row)) != CUST_OK)
		return r;
	json_array_foreach(y->rows, i, g) {
		if (strcmp(jstr(g, "kind"), "group") != 0)
			continue;
		if ((r = read_dn(y, jstr(g, "dn"), attrs, &e)) != CUST_OK)
			return r;
		/* the members change: not known until the next sync
		 * records them (sync_members()) */
		if (e != NULL && in_list(json_object_get(e, "member"), dn,
		    1) && (r = members_record(y, g, NULL)) == CUST_OK)
			r = member(y, jstr(g, "name"), jstr(g, "dn"), dn,
			    DIR_MOD_DELETE);
		json_decref(e);
		e = NULL;
		if (r != CUST_OK)
			return r;
	}
	return CUST_OK;
}

int
dir_ad_console_revoked(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *console, json_t **out)
{
	return act_on(st, actor, ad, "account", console, revoke_account,
	    "directory.disable", "disabled", out);
}

/* ---- device object rotation (the AD half; ops_kerberos.c the device's) */

int
dir_ad_device_key(struct cust_state *st, const char *actor,
    struct dir_ldap *l, const char *fqdn, int rotate,
    struct seal_secret **pw_out, int64_t *version_out, int *pending_out)
{
	struct sync y;
	struct seal_secret *pw = NULL;
	json_t *rows = NULL, *row;
	char detail[160];
	int64_t v = 0;
	int r, resumed, lockfd = -1;

	*pw_out = NULL;
	*version_out = 0;
	*pending_out = 0;
	memset(&y, 0, sizeof(y));
	y.st = st;
	y.actor = actor;
	y.l = l;
	/* one AD change at a time: two rotations of one object at once
	 * would each make a pending password */
	if ((r = sync_lock(st, &lockfd)) != CUST_OK)
		return r;
	if ((r = rows_load(st, &rows)) != CUST_OK)
		goto out;
	if ((row = active_of(rows, "device", fqdn)) == NULL) {
		r = cust_fail(CUST_E_NOTFOUND, "custody holds no active AD "
		    "object for %s: run account sync", fqdn);
		goto out;
	}
	/* the object at its DN custody's own, before any password */
	if ((y.errors = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = dn_not_ours(&y, row, "device")) != 0) {
		if (r > 0)
			r = cust_fail(CUST_E_VIOLATION, "%s",
			    json_string_value(json_array_get(y.errors, 0)));
		goto out;
	}
	r = secret_get(st, row, "pending", &pw, &v);
	if (r != CUST_OK && r != CUST_E_NOTFOUND)
		goto out;
	resumed = r == CUST_OK;
	if (!resumed && !rotate) {
		r = dir_ad_password(st, actor, fqdn, pw_out, version_out);
		goto out;
	}
	if (!resumed) {
		if ((r = begin(&y)) != CUST_OK)
			goto out;
		r = secret_new(&y, row, &pw, &v);
		if (r == CUST_OK)
			r = audit(&y, "directory.rotate", jstr(row, "name"),
			    "begun: a new password pending until AD and the "
			    "device take it");
		if ((r = commit(&y, r)) != CUST_OK)
			goto out;
	}
	util_test_crash("krb-rotate-pending");
	if ((r = dir_ldap_set_password(l, jstr(row, "dn"), pw)) != CUST_OK) {
		if (r != CUST_E_LDAP)
			goto out;	/* unknown: it stays pending */
		/* the DC answered no: nothing changed, the current stays */
		(void)audit_note(state_audit(st), actor, "directory.rotate",
		    jstr(row, "name"), "failed", cust_errmsg());
		if ((r = secret_fail(st, row)) == CUST_OK)
			r = cust_fail(CUST_E_CONFLICT, "the DC refused the new "
			    "password of %s: %s", jstr(row, "name"),
			    cust_errmsg());
		goto out;
	}
	/* durable before the value is handed out */
	snprintf(detail, sizeof(detail), "password version %lld set in AD%s; "
	    "the device next", (long long)v, resumed ? " (again: a rotation "
	    "left unfinished)" : "");
	if ((r = audit(&y, "directory.rotate", jstr(row, "name"), detail)) !=
	    CUST_OK)
		goto out;
	util_test_crash("krb-rotate-set");
	*pw_out = pw;
	pw = NULL;
	*version_out = v;
	*pending_out = 1;
out:
	sync_unlock(lockfd);
	seal_secret_free(pw);
	json_decref(y.errors);
	json_decref(rows);
	return r;
}

int
dir_ad_device_key_done(struct cust_state *st, const char *actor,
    const char *fqdn, int64_t version, uint32_t kvno)
{
	struct sync y;
	json_t *rows = NULL, *row;
	char detail[160];
	int r, lockfd = -1;

	memset(&y, 0, sizeof(y));
	y.st = st;
	y.actor = actor;
	if ((r = sync_lock(st, &lockfd)) != CUST_OK)
		return r;
	if ((r = rows_load(st, &rows)) != CUST_OK)
		goto out;
	if ((row = active_of(rows, "device", fqdn)) == NULL) {
		r = cust_fail(CUST_E_NOTFOUND, "custody holds no active AD "
		    "object for %s", fqdn);
		goto out;
	}
	snprintf(detail, sizeof(detail), "rotated: password version %lld "
	    "current, the device holds it (KeyVersion %lu)",
	    (long long)version, (unsigned long)kvno);
	if ((r = begin(&y)) != CUST_OK)
		goto out;
	r = secret_current(&y, row, version);
	if (r == CUST_OK)
		r = audit(&y, "directory.rotate", jstr(row, "name"), detail);
	r = commit(&y, r);
out:
	sync_unlock(lockfd);
	json_decref(rows);
	return r;
}

/* Whether the object of row is due under max_age (dir_ad_device_due()),
 * at now. */
static int
row_due(struct cust_state *st, json_t *row, int64_t max_age, int64_t now,
    int *due_out, int64_t *age_out)
{
	sqlite3_stmt *s;
	int64_t created = 0;
	int rc, r, pending = 0, current = 0;

	*due_out = 0;
	*age_out = -1;
	s = store_stmt(state_store(st), "SELECT state, created, "
	    STORE_CHECK(STORE_ROW_DIR_SECRET) " FROM dir_secret WHERE "
	    "object_id = ? AND state IN ('pending', 'current')");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, jid(row));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (strcmp((const char *)sqlite3_column_text(s, 0),
		    "pending") == 0) {
			pending = 1;
		} else {
			current = 1;
			created = sqlite3_column_int64(s, 1);
		}
	}
	r = rc == SQLITE_DONE ? CUST_OK : store_err(state_store(st),
	    "cannot read a directory secret");
	sqlite3_reset(s);
	if (r != CUST_OK)
		return r;
	if (current)
		*age_out = now > created ? now - created : 0;
	*due_out = pending || !current ||
	    *age_out >= max_age - max_age / 10;
	return CUST_OK;
}

int
dir_ad_device_due(struct cust_state *st, const char *fqdn,
    int64_t max_age, int *due_out, int64_t *age_out)
{
	json_t *rows = NULL, *row;
	int r;

	*due_out = 0;
	*age_out = -1;
	if ((r = rows_load(st, &rows)) != CUST_OK)
		return r;
	if ((row = active_of(rows, "device", fqdn)) == NULL)
		r = cust_fail(CUST_E_NOTFOUND, "custody holds no active AD "
		    "object for %s", fqdn);
	else
		r = row_due(st, row, max_age, util_now(), due_out, age_out);
	json_decref(rows);
	return r;
}

int
dir_ad_devices_due(struct cust_state *st, int64_t max_age, size_t limit,
    json_t **fqdns_out)
{
	json_t *rows = NULL, *row, *out = NULL;
	int64_t now = util_now(), age;
	size_t i;
	int r, due;

	*fqdns_out = NULL;
	if (max_age <= 0 || limit == 0)
		return cust_fail(CUST_E_INVAL, "no maximum age or limit");
	if ((r = rows_load(st, &rows)) != CUST_OK)
		return r;
	if ((out = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(rows, i, row) {
		if (json_array_size(out) >= limit)
			break;
		if (strcmp(jstr(row, "kind"), "device") != 0 ||
		    strcmp(jstr(row, "state"), "active") != 0)
			continue;
		if ((r = row_due(st, row, max_age, now, &due, &age)) !=
		    CUST_OK)
			goto out;
		if (due && json_array_append_new(out, json_string(jstr(row,
		    "owner"))) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*fqdns_out = out;
	out = NULL;
out:
	json_decref(out);
	json_decref(rows);
	return r;
}
