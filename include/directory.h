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
int dir_keytab_has_kvno(const struct dir_keytab *kt, int kvno);

/* The file image: *out a new secret (the keys are in it). */
int dir_keytab_serialize(const struct dir_keytab *kt,
    struct seal_secret **out) __attribute__((warn_unused_result));

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

#endif
