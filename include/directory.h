/* SPDX-License-Identifier: MIT */
/* include/directory.h - directory services: MIT Kerberos principals of
 * the consoles (kadm5 client API) and the keytabs custody hands them.
 *
 * custody talks to kadmind itself (src/directory/kadm.c), never through
 * the kadmin program, with a private krb5 context whose profile holds
 * only what custody.yaml's directory.mit says (no /etc/krb5.conf, no DNS).
 * Each console of the loaded policy whose Kerberos identity is in the MIT
 * realm gets its principal (random keys), and custody keeps the keys in
 * DIR/keytabs/CONSOLE.keytab (sealed under the data key, bound to the
 * console and its row; 0600 in a 0700 directory, replaced atomically). A rotation gives new random keys (kvno + 1) and keeps the
 * previous kvno's keys in the keytab for directory.mit keytab_grace.
 * custody records the principals it created (table mit_principal, row
 * MAC'd) and deletes only those. Every change is audited.
 * doc/internals/DIRECTORY.md says more.
 */
#ifndef CUST_DIRECTORY_H
#define CUST_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct config_mit;
struct cust_state;
struct seal_secret;

/* ---- kadm5 connection (kadm.c) ---- */

/* one authenticated kadm5 handle, one thread's; one at a time in the
 * process (dir_kadm_open() waits for the previous one to be closed) */
struct dir_kadm;

/* Keys of one principal at one kvno: enctypes[i] and keys[i]
 * (sodium memory). Free with dir_keys_free(). */
#define DIR_KEYS_MAX	16
struct dir_keys {
	int kvno;
	size_t n;
	int32_t enctypes[DIR_KEYS_MAX];
	struct seal_secret *keys[DIR_KEYS_MAX];
};
void dir_keys_free(struct dir_keys *k);

/*
 * Connect to mit->admin_server (or the realm's admin server of the
 * profile) as mit->admin_principal with the password in
 * admin_password_file or the keys in admin_keytab (each refused unless a
 * regular file of ours with no group or other permissions: CUST_E_PERM).
 * New connection, free with dir_kadm_close(). Errors: CUST_E_UNAVAIL
 * (kadmind or the KDC unreachable), CUST_E_KRB5 (refused: wrong
 * password, no such admin principal...), CUST_E_PERM, CUST_E_IO. The
 * message names the server and krb5's reason, never the password.
 */
int dir_kadm_open(const struct config_mit *mit, struct dir_kadm **out)
	__attribute__((warn_unused_result));
void dir_kadm_close(struct dir_kadm *k);

/* principal is always NAME@REALM (an unqualified name would get the
 * profile's default realm). */

/* The principal's current kvno into *kvno_out; CUST_E_NOTFOUND when
 * there is no such principal. */
int dir_kadm_get(struct dir_kadm *k, const char *principal, int *kvno_out)
	__attribute__((warn_unused_result));

/* Whether principal was last changed (kadm5 mod_name: set by create,
 * randkey and every other change) by the admin principal k logged in as:
 * *ours 1 then; by (len bytes) the name of who did. */
int dir_kadm_made_by_us(struct dir_kadm *k, const char *principal, int *ours,
    char *by, size_t len) __attribute__((warn_unused_result));

/* Create principal with random keys (kadmind 1.18+); CUST_E_EXISTS when
 * it exists. */
int dir_kadm_create(struct dir_kadm *k, const char *principal)
	__attribute__((warn_unused_result));

/* New random keys for principal (kvno + 1, the old keys dropped in the
 * KDC): *keys_out new (dir_keys_free()). */
int dir_kadm_randkey(struct dir_kadm *k, const char *principal,
    struct dir_keys **keys_out) __attribute__((warn_unused_result));

/* Delete principal; CUST_E_NOTFOUND when there is none. */
int dir_kadm_delete(struct dir_kadm *k, const char *principal)
	__attribute__((warn_unused_result));

/* ---- keytab files (keytab.c) ---- */

struct dir_keytab;	/* entries of a keytab, keys in sodium memory */

/* New empty keytab (dir_keytab_free()); NULL on ENOMEM. */
struct dir_keytab *dir_keytab_new(void);
void dir_keytab_free(struct dir_keytab *kt);

/* Parse a keytab file image (format 0x0502, as MIT writes it):
 * CUST_E_PARSE when malformed. */
int dir_keytab_parse(const unsigned char *buf, size_t len,
    struct dir_keytab **out) __attribute__((warn_unused_result));

/* Add keys (all of them, copied) for principal NAME@REALM (components
 * split at unescaped '/', '\' escapes) with timestamp ts. */
int dir_keytab_add(struct dir_keytab *kt, const char *principal,
    const struct dir_keys *keys, uint32_t ts)
	__attribute__((warn_unused_result));

/* Copy into dst the entries of src whose kvno is kvno. */
int dir_keytab_copy_kvno(struct dir_keytab *dst, const struct dir_keytab *src,
    int kvno) __attribute__((warn_unused_result));

/* How many entries; how many distinct kvnos; whether kvno is there. */
size_t dir_keytab_count(const struct dir_keytab *kt);
size_t dir_keytab_kvnos(const struct dir_keytab *kt);
int dir_keytab_has_kvno(const struct dir_keytab *kt, int kvno);
/* The highest kvno of kt's entries, of those below below when below > 0
 * (0 when there is none). */
int dir_keytab_max_kvno(const struct dir_keytab *kt, int below);
/* Whether kt holds a key of enctype at kvno. */
int dir_keytab_has_enctype(const struct dir_keytab *kt, int kvno,
    int32_t enctype);

/* The file image: *out a new secret (the keys are in it). */
int dir_keytab_serialize(const struct dir_keytab *kt,
    struct seal_secret **out) __attribute__((warn_unused_result));

/* ---- keys from a password (str2key.c) ---- */

/* AD's salt for a user object (MS-KILE 3.1.1.2; Samba's
 * smb_krb5_salt_principal): the realm in upper case followed by the
 * account's name exactly as AD holds it (sAMAccountName, or the first
 * component of its userPrincipalName, which custody makes the same). */
int dir_ad_salt(const char *realm, const char *name, char *out, size_t len)
	__attribute__((warn_unused_result));

/* The keys a KDC derives from password pw with salt (RFC 3961
 * string-to-key through libkrb5, in a private context): AES256 and
 * AES128 (default parameters, 4096 iterations, as AD), and RC4 (the NT
 * hash) when rc4. *out new (dir_keys_free()) at kvno. */
int dir_keys_from_password(const char *realm, const char *salt,
    const struct seal_secret *pw, int kvno, int rc4, struct dir_keys **out)
	__attribute__((warn_unused_result));

/* ---- the consoles' principals (mit.c) ---- */

/* One principal the loaded policy wants: a console and its Kerberos
 * identity in the MIT realm. Borrowed strings. */
struct dir_want {
	const char *console;
	const char *principal;
};

/*
 * Make the realm match the policy: for every want, the principal exists
 * (created with random keys, its keytab written) and is recorded as
 * custody's; every principal custody created whose console is not
 * wanted any more (or wants another principal) is deleted with its
 * keytab. A principal that exists in the realm without custody having
 * created it is never adopted nor deleted: that console's item says
 * "foreign". Keytabs whose previous kvno passed its grace are rewritten
 * without it. dry_run: nothing is changed, the items say what would be.
 * *out new: {"created", "deleted", "unchanged", "failed", "dry_run",
 * "items": [{"console", "principal", "action": create|delete|keep|
 * rekey|foreign|error, "kvno", "detail"}]}. A principal whose kvno in
 * the realm is not the keytab's, or whose keytab is missing, gets new
 * keys (rekey); a reserved name (krbtgt/, kadmin/, kiprop/, changepw/,
 * K/, an admin component) is an error item. (The caller leaves revoked
 * consoles out of want: their principals are deleted.) One failed principal does not stop
 * the others (it is counted in "failed"); an error is custody's own
 * (store, configuration) or the admin connection.
 */
int dir_mit_sync(struct cust_state *st, const struct config_mit *mit,
    const struct dir_want *want, size_t n, int dry_run, const char *actor,
    json_t **out) __attribute__((warn_unused_result));

/* New random keys for console's principal (kvno + 1); its keytab holds
 * the new keys and, until now + keytab_grace, the previous kvno's.
 * CUST_E_NOTFOUND when custody holds no principal for console. *out new
 * {"console", "principal", "kvno", "previous_kvno", "previous_until"}. */
int dir_mit_rotate(struct cust_state *st, const struct config_mit *mit,
    const char *console, const char *actor, json_t **out)
	__attribute__((warn_unused_result));

/* Delete console's principal (console removed or revoked) and its
 * keytab; CUST_E_NOTFOUND when custody holds none. */
int dir_mit_delete(struct cust_state *st, const struct config_mit *mit,
    const char *console, const char *actor)
	__attribute__((warn_unused_result));

/* The principals custody holds: *out new {"items": [{"console",
 * "principal", "kvno", "previous_kvno", "previous_until", "created",
 * "changed"}]}. No secrets; no connection. */
int dir_mit_list(struct cust_state *st, json_t **out)
	__attribute__((warn_unused_result));

/* console's keytab file image (the previous kvno dropped first when its
 * grace passed), audited as keytab.get before it is returned: *out a new
 * secret. CUST_E_NOTFOUND when custody holds no principal for console. */
int dir_mit_keytab(struct cust_state *st, const char *console,
    const char *actor, struct seal_secret **out)
	__attribute__((warn_unused_result));

/* The keytab's path relative to the state directory,
 * "keytabs/CONSOLE.keytab", into buf. */
#define DIR_KEYTABS	"keytabs"
int dir_keytab_rel(const char *console, char *buf, size_t len)
	__attribute__((warn_unused_result));

/* ==== Active Directory (libldap: ldap.c, escape.c, ad_sync.c) ====
 *
 * Everything sent to the directory is built here: every value put into a
 * search filter goes through dir_filter_escape() (RFC 4515) and every
 * value put into a DN through dir_dn_escape() (RFC 4514); names AD would
 * reject anyway (sAMAccountName rules) are refused before anything is
 * sent (dir_valid_account()). Connections are TLS only (ldaps://, or
 * ldap:// with StartTLS), the DC's certificate verified against the
 * configured CA with its host name; binds are simple binds over that TLS
 * with the password from a 0600 file, held in sodium memory.
 */

struct config_ad;
struct policy;
struct dir_ldap;

/* ---- escaping (RFC 4515, RFC 4514) ---- */

/*
 * in[0..len) (may hold NUL) as an RFC 4515 assertion value into out
 * (outlen bytes, NUL-terminated): '*', '(', ')', '\\', NUL and every byte
 * outside printable ASCII as \XX (two lower-case hex digits). CUST_OK, or
 * CUST_E_TOOBIG when out is too small (out is then "").
 */
int dir_filter_escape(const char *in, size_t len, char *out, size_t outlen)
	__attribute__((warn_unused_result));

/*
 * in[0..len) as an RFC 4514 attribute value into out: '"', '+', ',', ';',
 * '<', '>', '=', '\\' as \c; a leading '#' or space and a trailing space
 * as "\#" / "\ "; NUL and every other byte outside printable ASCII as \XX.
 * An empty value is CUST_E_INVAL (an RDN needs one); CUST_E_TOOBIG as
 * above.
 */
int dir_dn_escape(const char *in, size_t len, char *out, size_t outlen)
	__attribute__((warn_unused_result));

/* CUST_OK when name may be an AD sAMAccountName custody creates: 1 to
 * max bytes (20 for a user, DIR_GROUP_NAME_MAX for a group) of printable
 * ASCII without " / \ [ ] : ; | = , + * ? < > @ and space, not ending
 * with '.'; CUST_E_INVAL with a message saying why. Characters AD allows
 * but LDAP treats specially (#, parentheses...) pass, and are escaped. */
#define DIR_USER_NAME_MAX	20
#define DIR_GROUP_NAME_MAX	64
int dir_valid_name(const char *name, size_t max)
	__attribute__((warn_unused_result));

/* The length of the binary SID (MS-DTYP 2.4.2.2) at p, of which avail
 * bytes are readable: 8 + 4n for revision 1 and n <= 15
 * sub-authorities, all within avail; 0 when there is no well-formed SID
 * there. The one SID check (dir_sid_to_str(), dir_sd_owner()). */
#define DIR_SID_MAX	(8 + 4 * 15)
size_t dir_sid_len(const unsigned char *p, size_t avail);

/* The binary SID sid[0..len) as "S-1-5-21-..." into out (outlen bytes;
 * 192 is always enough). CUST_E_PARSE when it is not a well-formed SID
 * (revision 1, at most 15 sub-authorities, exactly 8 + 4n bytes). */
int dir_sid_to_str(const unsigned char *sid, size_t len, char *out,
    size_t outlen) __attribute__((warn_unused_result));

/*
 * The owner of the self-relative SECURITY_DESCRIPTOR sd[0..len) (MS-DTYP
 * 2.4.6: Revision 1, Sbz1, Control with SE_SELF_RELATIVE (0x8000),
 * OffsetOwner, OffsetGroup, OffsetSacl, OffsetDacl, little-endian) into
 * owner (DIR_SID_MAX bytes), its length in *owner_len. Bounded: only the
 * 20-byte header and the owner SID are read, each within len (an offset
 * into the header, past the end, or a SID running past it is refused);
 * the other parts are not looked at (custody asks for the owner alone).
 * CUST_E_PARSE when sd is truncated, not revision 1 or not self-relative,
 * has no owner (OffsetOwner 0) or a malformed one.
 */
int dir_sd_owner(const unsigned char *sd, size_t len, unsigned char *owner,
    size_t *owner_len) __attribute__((warn_unused_result));

/*
 * An LDAP GeneralizedTime as AD sends it (whenCreated:
 * "YYYYMMDDHHMMSS.0Z", RFC 4517 3.3.13, UTC, fraction optional and
 * ignored) as seconds since the epoch in *out. CUST_E_PARSE for anything
 * else (a time zone offset, a field out of range, trailing bytes).
 */
int dir_generalized_time(const char *s, int64_t *out)
	__attribute__((warn_unused_result));

/* An attribute description of a ranged reply, "NAME;range=LO-HI" or
 * "NAME;range=LO-*" (MS-ADTS 3.1.1.3.1.3.3; bounds decimal, below 2^31,
 * HI >= LO): 1 with NAME in name (len bytes), *last 1 for "*" (*hi 0
 * then); 0 when key is not one. */
int dir_range_parse(const char *key, char *name, size_t len,
    unsigned long *lo, unsigned long *hi, int *last);

/* ---- the LDAP connection ---- */

/* Bounds on what a DC may send: one reply message, entries per search. */
#define DIR_LDAP_MAX_MSG	(4u << 20)
#define DIR_LDAP_MAX_ENTRIES	10000
/* Bytes of one search's entries (DNs, names, values) at most. */
#define DIR_LDAP_MAX_REPLY	(64u << 20)
/* Values of one ranged attribute (a group's member) at most. */
#define DIR_LDAP_MAX_VALUES	100000
/* Seconds: connect (TCP + TLS), and each operation. */
#define DIR_LDAP_CONNECT_TIMEOUT	10
#define DIR_LDAP_OP_TIMEOUT		30

/*
 * Connect to ad->uri over TLS (ldaps://, or ldap:// then StartTLS when
 * ad->starttls; plain LDAP is refused), verifying the DC's certificate
 * against ad->ca_file (the system CAs when NULL) and its name against the
 * URI's host, TLS 1.2 at least; then a simple bind as ad->bind with the
 * password of ad->bind_password_file. *out new, dir_ldap_free().
 * CUST_E_UNAVAIL when the DC cannot be reached or TLS fails (certificate
 * refused, name mismatch), CUST_E_PERM for a loose password file,
 * CUST_E_LDAP otherwise (refused credentials too: the DC refusing
 * custody is not the caller being refused by custody); the
 * message has the LDAP result code and the DC's diagnostic, never the
 * password.
 */
int dir_ldap_open(const struct config_ad *ad, struct dir_ldap **out)
	__attribute__((warn_unused_result));
void dir_ldap_free(struct dir_ldap *l);

/* dir_ldap_open() bound as bind (a UPN or DN) with password pw instead of
 * the configured account: whether AD takes pw for that account. Invalid
 * credentials (LDAP 49) are CUST_E_DENIED; any other refusal is
 * CUST_E_LDAP, an unreachable DC CUST_E_UNAVAIL. */
int dir_ldap_open_as(const struct config_ad *ad, const char *bind,
    const struct seal_secret *pw, struct dir_ldap **out)
	__attribute__((warn_unused_result));

/* One attribute of an add or a modify: its values are text (vals[0..n))
 * or one binary value (bin[0..binlen), n 0). */
#define DIR_MOD_ADD	0
#define DIR_MOD_DELETE	1
#define DIR_MOD_REPLACE	2
struct dir_attr {
	int op;			/* DIR_MOD_*: modify only */
	const char *name;
	const char *const *vals;
	size_t n;
	const void *bin;
	size_t binlen;
};

/*
 * Search base (scope: 0 base, 2 subtree) with filter (already escaped)
 * for the attributes attrs (NULL-terminated). *out a new JSON array of
 * {"dn": DN, ATTR: [values]}: text values as strings, the binary
 * attributes objectSid and objectGUID as base64. A missing base is an
 * empty array. More than DIR_LDAP_MAX_ENTRIES entries is CUST_E_TOOBIG.
 */
int dir_ldap_search(struct dir_ldap *l, const char *base, int scope,
    const char *filter, const char *const *attrs, json_t **out)
	__attribute__((warn_unused_result));

/*
 * Entry dn's attrs (a base search), nTSecurityDescriptor among them
 * holding its owner only: the search carries the LDAP_SERVER_SD_FLAGS
 * control (1.2.840.113556.1.4.801, critical) asking for
 * OWNER_SECURITY_INFORMATION, which a bind without administrative rights
 * may read. Binary values (nTSecurityDescriptor, objectSid) in base64.
 * *out the entry, or NULL when dn does not exist.
 */
int dir_ldap_read_owner(struct dir_ldap *l, const char *dn,
    const char *const *attrs, json_t **out)
	__attribute__((warn_unused_result));

/* Add entry dn with attrs[0..n). CUST_E_EXISTS when it exists. */
int dir_ldap_add(struct dir_ldap *l, const char *dn,
    const struct dir_attr *attrs, size_t n)
	__attribute__((warn_unused_result));
/* Modify entry dn. CUST_E_NOTFOUND when it does not exist. */
int dir_ldap_modify(struct dir_ldap *l, const char *dn,
    const struct dir_attr *mods, size_t n)
	__attribute__((warn_unused_result));
/* Delete entry dn. CUST_E_NOTFOUND when it does not exist. */
int dir_ldap_delete(struct dir_ldap *l, const char *dn)
	__attribute__((warn_unused_result));
/* Replace dn's unicodePwd with pw (printable ASCII): the quoted password
 * in UTF-16LE, built in sodium memory and wiped. AD takes it only over
 * an encrypted connection, which every dir_ldap is. */
int dir_ldap_set_password(struct dir_ldap *l, const char *dn,
    const struct seal_secret *pw) __attribute__((warn_unused_result));

/* The Global Catalog URI of ad for the forest-wide duplicate-SPN check
 * into out (len bytes): ad->gc_uri when set, "" for "none", else uri's
 * scheme and host with port 3269 (ldaps://) or 3268 (ldap://, then
 * StartTLS as uri). CUST_E_INVAL when uri names no host. */
int dir_ad_gc_uri(const struct config_ad *ad, char *out, size_t len)
	__attribute__((warn_unused_result));

/* The same DN? Compared after RFC 4514 normalisation, case-insensitive
 * (AD compares DNs so). 0 when either does not parse. */
int dir_dn_equal(const char *a, const char *b);

/* ---- account sync ---- */

/*
 * Bring AD in line with policy p (account sync): for each console whose
 * Kerberos identity is name@REALM with REALM ad->realm, a user account
 * sAMAccountName=name under ad->base_dn (created disabled, given a random
 * password sealed in the store as a versioned directory secret, then
 * enabled with a password that never expires, AES only); one global
 * security group per duty those consoles hold (ad->group_prefix + duty);
 * each custody group's members exactly the accounts whose console holds
 * its duty; accounts of consoles the policy no longer names disabled;
 * for each active device the policy gives Kerberos ACL entries (a
 * console with auth kerberos in whose scope it is), a user object
 * CN=FQDN with sAMAccountName "amt-" + 11 hex digits of SHA-256(fqdn),
 * the DIR_DEVICE_SPNS SPNs and its own random password (sealed,
 * versioned): refused when another AD object holds any of the SPNs;
 * deleted once the device is removed or no longer uses Kerberos. It
 * touches only objects custody created (recorded in the store), and reads
 * back every object's objectSid. A sync stopped half-way (DC down, a
 * constraint refused) leaves an account disabled at worst; the next sync
 * resumes it from what the store recorded. Every change is audited
 * ("directory.create", "directory.password", "directory.member" ...).
 *
 * dry_run: read AD, change nothing. *out new object {"operations": [one
 * line per LDAP change made or, dry run, to be made; no secret],
 * "accounts": [{"console", "name", "dn", "sid", "state"}], "groups":
 * [{"duty", "name", "dn", "sid"}], "devices": [{"device", "name", "dn",
 * "sid", "state"}], "errors": [lines], "changes": n}.
 * Returns CUST_OK, CUST_E_CONFLICT when some console or group was
 * refused (errors say why; the others are synced), or the error that
 * stopped it (the DC unreachable...), with *out as far as it got.
 */
int dir_ad_sync(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const struct policy *p, int dry_run,
    json_t **out) __attribute__((warn_unused_result));

/*
 * Device fqdn was removed from custody: the AD object custody made for it
 * (a live "device" row owned by fqdn) deleted now rather than at the next
 * sync, its row 'removed' and its password retired, audited
 * ("directory.delete"). No such row: CUST_OK, *out NULL. Otherwise *out
 * new {"name", "dn", "deleted": bool}; when ad is NULL or not set (the
 * configuration unreadable, or directory.ad gone), or the DC cannot be
 * reached or refuses, the error is returned with *out set (deleted false)
 * and the row stays live: the next account sync deletes the object (the
 * device is no longer active, so no sync wants it).
 */
int dir_ad_device_removed(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *fqdn, json_t **out)
	__attribute__((warn_unused_result));

/*
 * Console console was revoked: the service account custody made for it
 * disabled and removed from every group custody made, now rather than at
 * the next sync (which no longer wants a revoked console), audited
 * ("directory.disable", "directory.member"). *out as
 * dir_ad_device_removed(), with "disabled" for "deleted".
 */
int dir_ad_console_revoked(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *console, json_t **out)
	__attribute__((warn_unused_result));

/* The SPNs of an AMT device's AD object (reference/amt.md section 5):
 * HTTP/FQDN:16992 (WS-Man), :16993 (WS-Man TLS), :16994 and :16995
 * (redirection, TLS), :623 and :664 (DASH, TLS). */
#define DIR_DEVICE_SPNS	6

/* The SPNs of device fqdn into spns[DIR_DEVICE_SPNS] (each len bytes,
 * 300 is enough). CUST_E_TOOBIG when one does not fit. */
int dir_device_spns(const char *fqdn, char spns[][300], size_t len)
	__attribute__((warn_unused_result));

/* The current password of AD account name (one custody made; a device
 * object's by its name or its device's FQDN): *pw_out
 * new secret, *version_out its version; audited ("directory.password")
 * before it is returned. CUST_E_NOTFOUND for no such account or none AD
 * has taken yet. */
int dir_ad_password(struct cust_state *st, const char *actor,
    const char *name, struct seal_secret **pw_out, int64_t *version_out)
	__attribute__((warn_unused_result));

/*
 * The keytab of console's AD service account (derived from its current
 * password at AD's kvno by account sync and rotation; sealed at rest in
 * DIR/keytabs/ad/CONSOLE.keytab), the previous kvno dropped first when
 * ad->keytab_grace has passed since the rotation; audited as keytab.get
 * before it is returned: *out a new secret (the 0x0502 image).
 * CUST_E_NOTFOUND when custody holds no active account for console, or
 * no keytab yet; CUST_E_SEALED when the file does not open for the
 * account's current password (an older file put back).
 */
int dir_ad_keytab(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *console,
    struct seal_secret **out) __attribute__((warn_unused_result));

/*
 * New random passwords for the service account of console (NULL: every
 * active account custody made): each committed pending first, set through
 * unicodePwd, the keytab rewritten at AD's new kvno with the previous
 * kvno's keys kept for ad->keytab_grace, then current (the old retired),
 * audited. A connection lost around the modify leaves it pending: the
 * next sync (or rotation) binds as the account with the pending, then the
 * current password, and finishes or drops it. *out new {"items":
 * [{"console", "name", "version", "kvno", "previous_kvno",
 * "previous_until"}], "operations", "errors", "changes"}. CUST_E_NOTFOUND
 * for a console without an account; CUST_E_CONFLICT when some account was
 * refused (errors say why).
 */
int dir_ad_rotate(struct cust_state *st, const char *actor,
    const struct config_ad *ad, const char *console, json_t **out)
	__attribute__((warn_unused_result));

/*
 * The key device fqdn's AD object is to have on the device (device
 * kerberos): *pw_out a new secret, *version_out its version, *pending_out
 * 1 when it is a new password (a rotation) rather than the current one.
 * A pending password is one of a rotation not finished: it is set in AD
 * again (unicodePwd; AD bumps msDS-KeyVersionNumber) and handed out,
 * whatever rotate says, so that a run stopped anywhere in a rotation is
 * finished by the next. Else rotate 1: a new random password committed
 * pending (sealed, audited) before it is set in AD over l; rotate 0: the
 * current password (as dir_ad_password()). The caller gives the device
 * the pending password and, once the device shows it took it, calls
 * dir_ad_device_key_done(). CUST_E_NOTFOUND for no active object;
 * CUST_E_CONFLICT when the DC refused the password (marked failed, the
 * current stays); another error leaves it pending.
 */
int dir_ad_device_key(struct cust_state *st, const char *actor,
    struct dir_ldap *l, const char *fqdn, int rotate,
    struct seal_secret **pw_out, int64_t *version_out, int *pending_out)
	__attribute__((warn_unused_result));

/*
 * Whether device fqdn's object password is due for rotation (device
 * kerberos --rotate --due): *due_out 1 when its current version was
 * created at or before now - (max_age - max_age / 10), or when a
 * rotation is pending (unfinished: it is to be finished), or when the
 * object has no current password; 0 otherwise. *age_out the current
 * version's age in seconds (-1 when none). Rows MAC-checked.
 * CUST_E_NOTFOUND for no active object.
 */
int dir_ad_device_due(struct cust_state *st, const char *fqdn,
    int64_t max_age, int *due_out, int64_t *age_out)
	__attribute__((warn_unused_result));

/*
 * The FQDNs (owners) of the active device objects due for rotation under
 * max_age as dir_ad_device_due() says, in row order, at most limit: a new
 * array in *fqdns_out. From the store alone (no DC connection, nothing
 * audited): custodyd's scheduler asks it each tick and starts a job only
 * when it is not empty. Rows MAC-checked.
 */
int dir_ad_devices_due(struct cust_state *st, int64_t max_age, size_t limit,
    json_t **fqdns_out) __attribute__((warn_unused_result));

/* Pending password version of device fqdn's object the device took (at
 * kvno): current, the previous one retired, audited (directory.rotate). */
int dir_ad_device_key_done(struct cust_state *st, const char *actor,
    const char *fqdn, int64_t version, uint32_t kvno)
	__attribute__((warn_unused_result));

/* The directory objects custody tracks, as a new JSON array of
 * {"kind", "name", "dn", "console", "sid", "sid_b64", "state",
 * "version"}. */
int dir_ad_list(struct cust_state *st, json_t **out)
	__attribute__((warn_unused_result));

#endif
