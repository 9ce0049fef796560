/* SPDX-License-Identifier: MIT */
/* include/cred.h - devices and their secrets: AMT password generation and
 * the rotation state machine (pending [-> pushed] -> current -> retired,
 * or -> failed).
 *
 * A new secret is sealed and committed as 'pending' before anything else
 * happens; it becomes 'current' (the old one 'retired') only when confirmed.
 * 'pushed' (sent to a device, outcome unknown) belongs to the push
 * protocol (cred_push_begin() below). At most one
 * version in flight (pending or pushed) and one current exist per (device,
 * kind): partial unique indexes in the schema enforce it. Kinds: admin,
 * mebx, console:NAME, directory:NAME (the schema refuses any other).
 */
#ifndef CUST_CRED_H
#define CUST_CRED_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "util.h"

struct cust_state;
struct seal_secret;

/* AMT password rules (reference/amt.md section 2). */
#define CRED_PW_MIN		8
#define CRED_PW_MAX		32
#define CRED_PW_DEFAULT		24

/* Generate a password of len chars (CRED_PW_MIN..CRED_PW_MAX) uniformly
 * over all strings of the AMT alphabet that satisfy the AMT rules:
 * characters drawn with randombytes_uniform(), whole draws rejected until
 * the class rules hold. new secret (seal_secret_free). */
int cred_pw_generate(size_t len, struct seal_secret **out)
	__attribute__((warn_unused_result));

/* The generator's alphabet (NUL-terminated, borrowed). */
const char *cred_pw_alphabet(void);

/* CUST_OK when pw satisfies the AMT password rules, else CUST_E_INVAL with
 * a message naming the rule (never the password). */
int cred_pw_check(const char *pw, size_t len)
	__attribute__((warn_unused_result));

/* Secret kinds. */
#define CRED_KIND_ADMIN	"admin"
#define CRED_KIND_MEBX	"mebx"

/* Device record as JSON: {"id", "fqdn", "uuid", "digest_realm",
 * "amt_version", "address", "tags": [...], "state", "created"}; address
 * (HOST[:PORT], where to connect instead of the FQDN) is null when
 * unset. */

/* Find an active device by FQDN (case-insensitive): *id_out, or
 * CUST_E_NOTFOUND. */
int cred_device_find(struct cust_state *st, const char *fqdn, int64_t *id_out)
	__attribute__((warn_unused_result));

/* CUST_OK when fqdn is an active device carrying at least one of
 * tags[0..ntags); CUST_E_NOTFOUND (with a message saying so) when it is
 * not, does not exist or is not a valid FQDN: a scope check that must
 * not tell the two apart. */
int cred_device_in_scope(struct cust_state *st, const char *fqdn,
    const char *const *tags, size_t ntags)
	__attribute__((warn_unused_result));

/* What a secret read needs of the active device fqdn, in one indexed
 * read: its id, stored name, digest realm and tags. Free with
 * cred_device_ref_free(). */
struct cred_device_ref {
	int64_t id;
	char fqdn[CUST_MAX_FQDN + 1];	/* the stored (lowercase) name */
	char *realm;			/* digest realm, or NULL */
	json_t *tags;			/* array of strings, sorted */
};
int cred_device_ref_get(struct cust_state *st, const char *fqdn,
    struct cred_device_ref *out) __attribute__((warn_unused_result));
void cred_device_ref_free(struct cred_device_ref *ref);

/* The active device fqdn as a new JSON object (json_decref). */
int cred_device_get(struct cust_state *st, const char *fqdn, json_t **out)
	__attribute__((warn_unused_result));

/* Call fn for every active device (with tag, when tag is not NULL) in FQDN
 * order; dev is borrowed for the call. fn returns non-zero to stop; a
 * negative value (a CUST_E_* code) is returned as the error. */
int cred_device_each(struct cust_state *st, const char *tag,
    int (*fn)(void *arg, json_t *dev), void *arg)
	__attribute__((warn_unused_result));

/* One page of cred_device_each(): the devices whose FQDN sorts after
 * after (NULL: from the first), at most limit of them (0: no bound), by
 * the FQDN index, so a page costs its own size however deep it is. */
int cred_device_page(struct cust_state *st, const char *tag,
    const char *after, size_t limit, int (*fn)(void *arg, json_t *dev),
    void *arg) __attribute__((warn_unused_result));

/* The largest import (CSV or JSON text) an operation takes: 64 MiB, some
 * 500k devices with passwords. */
#define CRED_IMPORT_MAX	(64u << 20)

/* A device to register. Adopted passwords (an existing fleet's) are
 * validated against the AMT rules and sealed as version 1 'current';
 * absent ones are generated (pwlen characters). Strings borrowed. */
struct cred_device_spec {
	const char *fqdn;
	const char *uuid;		/* NULL when unknown */
	const char *digest_realm;	/* NULL when unknown */
	const char *address;		/* NULL: reach it by its FQDN */
	const char *const *tags;
	size_t ntags;
	const struct seal_secret *admin_pw;	/* NULL: generate */
	const struct seal_secret *mebx_pw;	/* NULL: generate */
};

/* Register a device with its admin and MEBx secrets. Joins an open store
 * transaction, else runs in its own. CUST_E_EXISTS when an active device
 * has that FQDN; CUST_E_INVAL for a bad FQDN, UUID, realm or tag. */
int cred_device_add(struct cust_state *st, const char *actor,
    const struct cred_device_spec *spec, size_t pwlen, int64_t *id_out)
	__attribute__((warn_unused_result));

/* Set or clear (value NULL or "") a field of the active device fqdn:
 * "address" (HOST[:PORT], util_parse_address(): where custody connects to
 * reach it) or "digest_realm" (what the device reported, when none was
 * registered). Audited ("device.set", "FIELD VALUE"). Joins an open store
 * transaction, else its own. CUST_E_INVAL for a bad field or value,
 * CUST_E_NOTFOUND for no such device. */
int cred_device_set(struct cust_state *st, const char *actor,
    const char *fqdn, const char *field, const char *value)
	__attribute__((warn_unused_result));

/* The DigestRealm realm that active device fqdn logs in with at first
 * contact (ops that reach devices, when none is registered), recorded
 * (record; else only checked) as cred_device_set() would, unless another
 * active device has it registered: CUST_E_CONFLICT naming that device,
 * nothing recorded (another machine answers at fqdn's address: a wrong
 * address or a port forwarding to another device; recording it would
 * send fqdn's secrets there); when recording, the refusal is audited
 * ("device.set", result "refused", naming the other device and realm)
 * and committed: in its own transaction, or in the caller's open one,
 * which the caller then commits (nothing else was written in it). When
 * fqdn has a realm registered meanwhile
 * (a concurrent first contact): CUST_OK if it is realm, else
 * CUST_E_VIOLATION. Check and write are one store transaction (its own
 * BEGIN IMMEDIATE, or the caller's open one), so two first contacts
 * anywhere cannot both record one realm. Realms compare without case. */
int cred_device_first_realm(struct cust_state *st, const char *actor,
    const char *fqdn, const char *realm, int record)
	__attribute__((warn_unused_result));

/* Audit a refused first-contact record of DigestRealm realm for device
 * fqdn: "device.set", result "refused", naming other (the device that
 * has it registered; or, when it holds a space, a phrase naming the
 * devices of one run that reported it too). Joins an open store
 * transaction, else commits in its own. */
int cred_device_realm_refused(struct cust_state *st, const char *actor,
    const char *fqdn, const char *realm, const char *other)
	__attribute__((warn_unused_result));

/* The stored FQDNs of the active devices with no DigestRealm registered
 * (first contacts to come), sorted: *out a new array of strings. */
int cred_device_unregistered(struct cust_state *st, json_t **out)
	__attribute__((warn_unused_result));

/* Retire an active device; its secret history is kept. Joins an open store
 * transaction, else runs in its own. */
int cred_device_remove(struct cust_state *st, const char *actor,
    const char *fqdn) __attribute__((warn_unused_result));

/* Import devices from a CSV (header line; columns fqdn, uuid, digest_realm,
 * tags (separated by ';' or spaces), admin_password, mebx_password,
 * address) or JSON
 * (array of objects with those keys) buffer. All or nothing: the first bad
 * row aborts with its line (CSV) or entry number (JSON) and changes
 * nothing. *count_out = devices added. Not inside a store transaction.
 *
 * All or nothing as any reader (any process) and a crash see it, without
 * holding the write lock for the import's length: the devices are staged
 * in batches of CRED_IMPORT_BATCH, each its own short transaction, and
 * no query sees or counts a staged device; the import is published, all
 * of it at once, by one short transaction whatever its size (its
 * "device.import" audit entry, object "import:ID"), and only then are its
 * devices' "device.add" audit entries written, in batches. A bad row
 * deletes what was staged, in batches. While an import runs its FQDNs
 * are taken (another add of one fails as already registered) but not
 * found. A process killed while staging leaves nothing visible; a killed
 * one's leftovers are deleted by cred_import_sweep() (run by every
 * import, every cred_device_add() outside a transaction and every job
 * sweep). A writer in another process waits at most about one batch
 * behind an import (bench/lockwait). */
#define CRED_IMPORT_BATCH 1000

/* What a caller of cred_device_import_with() hears while it runs (all
 * optional). Each runs inside the transaction named and writes with it;
 * a non-zero return rolls that transaction back and undoes the import. */
struct cred_import_hooks {
	/* In each staging batch's transaction: import_id, devices so far. */
	int (*staged)(void *arg, int64_t import_id, size_t staged);
	/* In the publishing transaction: the import appears, count devices. */
	int (*published)(void *arg, int64_t import_id, size_t count);
	void *arg;
};

/* cred_device_import() with hooks (NULL: none). */
int cred_device_import_with(struct cust_state *st, const char *actor,
    const char *buf, size_t len, size_t pwlen,
    const struct cred_import_hooks *h, size_t *count_out)
	__attribute__((warn_unused_result));
int cred_device_import(struct cust_state *st, const char *actor,
    const char *buf, size_t len, size_t pwlen, size_t *count_out)
	__attribute__((warn_unused_result));

/* What a jansson parse error is, quoting nothing of the input (jansson's
 * own text quotes the token it failed on, which may be part of a
 * password): for messages that say "line L, column C: WHAT". */
const char *cred_json_error_what(const json_error_t *e);

/* Finish the imports whose process is gone: a staging one is deleted
 * (nothing of it was ever visible), a published one settled (its audit
 * entries written). *found_out (may be NULL) = how many. */
int cred_import_sweep(struct cust_state *st, size_t *found_out)
	__attribute__((warn_unused_result));

/* Which version of a secret to read. */
#define CRED_VER_CURRENT	0
#define CRED_VER_PENDING	(-1)
#define CRED_VER_USABLE		(-2)	/* current, else the one in flight */

/* Unseal a secret of a device: version N, or CRED_VER_CURRENT /
 * CRED_VER_PENDING. Audited ("password.show"). *pw_out is a new secret;
 * *version_out and *state_out (static string) describe it. A stored value
 * that does not open (damaged, moved to another row, device renamed in the
 * database) is CUST_E_DB: the store is damaged, exit 5. */
int cred_secret_get(struct cust_state *st, const char *actor,
    const char *fqdn, const char *kind, int64_t version,
    struct seal_secret **pw_out, int64_t *version_out, const char **state_out)
	__attribute__((warn_unused_result));

/* cred_secret_get() audited as action (e.g. "credential.show") instead
 * of "password.show", with note (may be NULL; e.g. "format=ha1") after
 * "KIND vN" in the entry's detail. The entry is durable before the value
 * is returned (with the group writer too): when it cannot be written the
 * value is freed and the error returned. A read transaction the caller
 * opened (store_begin_read(): its other reads and this one on one
 * snapshot) is ended before the entry is queued, which never joins a
 * read transaction; a write transaction is joined, as by
 * cred_secret_get(). */
int cred_secret_read(struct cust_state *st, const char *actor,
    const char *action, const char *note, const char *fqdn, const char *kind,
    int64_t version, struct seal_secret **pw_out, int64_t *version_out,
    const char **state_out) __attribute__((warn_unused_result));
/* cred_secret_read() of the device dev, read by cred_device_ref_get() in
 * the caller's open transaction (CUST_E_INTERNAL outside one; a read
 * transaction is ended before the entry, as above): the device is not
 * looked up again. */
int cred_secret_read_ref(struct cust_state *st, const char *actor,
    const char *action, const char *note, const struct cred_device_ref *dev,
    const char *kind, int64_t version, struct seal_secret **pw_out,
    int64_t *version_out, const char **state_out)
	__attribute__((warn_unused_result));

/* Versions of every secret of the device (no values) as a new JSON array
 * of {"kind", "version", "state", "created", "changed"}. */
int cred_secret_history(struct cust_state *st, const char *fqdn,
    json_t **out) __attribute__((warn_unused_result));

/* Outcome of a bulk rotation. */
struct cred_rotate_result {
	size_t rotated;		/* new pending versions committed */
	size_t refused;		/* already pending (no --replace-pending) */
	size_t missing;		/* device gone meanwhile */
	json_t *items;		/* per device: {"fqdn","kind","version"|"error"} */
};

#define CRED_ROTATE_BATCH 1000

/* Rotate kind ("admin", "mebx", "all", or "console:NAME": only on devices
 * holding a current or pending version of it, the others count as
 * missing) on the devices ids[0..n): each
 * gets a new pending version, committed (with its audit entry) in batches
 * of CRED_ROTATE_BATCH before anything else happens. A device that already
 * has a pending version is refused unless replace_pending, which marks the
 * old pending 'failed' (kept, never deleted). progress(arg, done, n) after
 * each batch. res->items is new (json_decref) when want_items. */
int cred_rotate(struct cust_state *st, const char *actor,
    const int64_t *ids, size_t n, const char *kind, size_t pwlen,
    int replace_pending, int want_items,
    void (*progress)(void *arg, size_t done, size_t total), void *arg,
    struct cred_rotate_result *res) __attribute__((warn_unused_result));

/* What a caller of cred_rotate_with() hears while it runs (all optional). */
struct cred_rotate_hooks {
	/* After each committed batch, as cred_rotate()'s progress. */
	void (*progress)(void *arg, size_t done, size_t total);
	/* Inside the batch's transaction, once per device and kind decided:
	 * err CUST_OK (version is the new pending one), CUST_E_CONFLICT
	 * (refused: already pending) or CUST_E_NOTFOUND (device gone).
	 * Anything it writes commits with the batch or not at all; a
	 * non-zero return rolls the batch back and ends the rotation. */
	int (*item)(void *arg, int64_t device_id, const char *kind,
	    int64_t version, int err);
	void *arg;
};

/* cred_rotate() with hooks (NULL: none). */
int cred_rotate_with(struct cust_state *st, const char *actor,
    const int64_t *ids, size_t n, const char *kind, size_t pwlen,
    int replace_pending, int want_items, const struct cred_rotate_hooks *h,
    struct cred_rotate_result *res) __attribute__((warn_unused_result));

/* The owner console applied version N: it becomes 'current', the previous
 * current 'retired'. N must be pending, or failed and newer than the
 * current version (replaced with --replace-pending but applied anyway); a
 * newer pending version stays pending (it may still be applied).
 * CUST_E_CONFLICT otherwise. */
int cred_confirm(struct cust_state *st, const char *actor, const char *fqdn,
    const char *kind, int64_t version) __attribute__((warn_unused_result));

/*
 * The push protocol: custody applies a version in flight to its device
 * itself (over WS-Management, src/amt/).
 * - cred_push_begin(): the version in flight becomes 'pushed', committed
 *   and audited ("password.push", started) before anything is sent; a
 *   version already 'pushed' (an earlier outcome unknown) is pushed again.
 *   *version is in and out: 0 takes whichever version is in flight and
 *   sets its number; a version number takes only that version, and is
 *   CUST_E_CONFLICT (nothing changed) when another is in flight: the
 *   caller read that value before a rotation replaced it, and sending it
 *   while marking the new one 'pushed' would leave the device holding a
 *   password custody no longer counts on. CUST_E_NOTFOUND when none is
 *   in flight.
 * - The caller sends it, then proves it with a fresh digest login.
 * - cred_push_end(CRED_PUSH_APPLIED): it works on the device: current,
 *   the previous current retired (why: how it was proven, in the audit).
 * - cred_push_end(CRED_PUSH_REFUSED): the device refused it for sure (a
 *   PT_STATUS error), or reconciliation found the device still takes the
 *   current version and not this one: failed (kept, never deleted).
 *   CUST_E_CONFLICT when version is no longer in flight.
 * An unknown outcome (timeout, dropped connection, crash) leaves it
 * 'pushed'; cred_push_list() finds those for reconciliation (custodyd
 * at start): the caller tries the candidates (pushed, then current) with
 * a cheap request and ends the push accordingly. why is never a secret.
 */
enum cred_push_end { CRED_PUSH_APPLIED, CRED_PUSH_REFUSED };

int cred_push_begin(struct cust_state *st, const char *actor,
    const char *fqdn, const char *kind, int64_t *version)
	__attribute__((warn_unused_result));
int cred_push_end(struct cust_state *st, const char *actor, const char *fqdn,
    const char *kind, int64_t version, enum cred_push_end how,
    const char *why) __attribute__((warn_unused_result));

/*
 * Group commit of push steps: ops[0..n) in order in one transaction, then
 * fn(arg) (the caller's own writes in it, such as job items; NULL: none),
 * one commit. A begin takes version in and out (0 or the version the
 * caller read); an end takes version, how and why, as cred_push_begin()
 * and cred_push_end() do. A step refused on its own
 * (no version in flight, settled meanwhile, an unknown device) writes
 * nothing and sets its r and msg; the others go on. Any other error (the
 * store, fn's) rolls the whole group back and is returned: nothing of it
 * is committed, so nothing a begin allowed may be sent.
 */
struct cred_push_op {
	const char *fqdn;		/* borrowed */
	const char *kind;
	int end;			/* 0: begin; else an end (how, why) */
	enum cred_push_end how;
	const char *why;		/* never a secret */
	int64_t version;		/* begin: in and out; end: in */
	int r;				/* out: CUST_OK or the step's refusal */
	char msg[256];			/* out: its message when r != CUST_OK */
};
int cred_push_group(struct cust_state *st, const char *actor,
    struct cred_push_op *ops, size_t n, int (*fn)(void *arg), void *arg)
	__attribute__((warn_unused_result));

/* The versions in state 'pushed' after (after_device, after_kind) in
 * (device id, kind) order, at most limit: a new array of {"device_id",
 * "fqdn", "kind", "version", "changed" (when it became 'pushed')}. */
int cred_push_list(struct cust_state *st, int64_t after_device,
    const char *after_kind, size_t limit, json_t **items_out)
	__attribute__((warn_unused_result));

/* Resolve a device selector into ids (new array, free()): fqdns[0..nf),
 * or every device with tag, or all. Unknown FQDN: CUST_E_NOTFOUND. */
int cred_select(struct cust_state *st, const char *const *fqdns, size_t nf,
    const char *tag, int all, int64_t **ids_out, size_t *n_out)
	__attribute__((warn_unused_result));

/*
 * Scoped console credentials (src/cred/console.c): one digest password
 * per (device, console the policy's plan gives a digest user on it), kind
 * "console:NAME" (NAME as the policy spells it), versioned with the state
 * machine above: created 'pending' (applied to the device later, then
 * confirmed with cred_confirm() like an admin password), 'retired' when
 * the policy stops granting it, the device is removed or the console's
 * user name changes. A retired version is kept, never deleted.
 */
#define CRED_KIND_CONSOLE	"console:"
#define CRED_KIND_MAX		(sizeof(CRED_KIND_CONSOLE) + 64)

/* "console:NAME" into buf (len bytes, CRED_KIND_MAX is enough) for a
 * console name of 1-64 of [A-Za-z0-9._-] (not starting with . _ -);
 * CUST_E_INVAL otherwise. */
int cred_console_kind(const char *console, char *buf, size_t len)
	__attribute__((warn_unused_result));

/* Which consoles should hold a credential on which device: the policy's
 * plan, passed in by the caller (cred does not read policies). */
struct cred_console_planner {
	/* The consoles device fqdn (tags: JSON array, borrowed) should have
	 * a credential for: *want_out a new JSON array of names. */
	int (*plan)(void *arg, const char *fqdn, json_t *tags,
	    json_t **want_out);
	/* Optional: run at the start of each batch's transaction; an error
	 * stops the sync (e.g. another policy was loaded meanwhile). */
	int (*batch)(void *arg);
	/* Consoles whose live versions are withdrawn and made again (their
	 * user name changed); borrowed. */
	const char *const *renew;
	size_t nrenew;
	void *arg;
};

struct cred_console_result {
	size_t devices;		/* devices reconciled */
	size_t granted;		/* pending versions created */
	size_t withdrawn;	/* versions retired */
};

/* Devices per transaction of a sync. */
#define CRED_CONSOLE_BATCH	1000

/* Reconcile the console credentials of every active device whose id is
 * over after_id (only_id 0) or of device only_id with the planner: each device gets a pending
 * version (pwlen characters) of every kind it should have and has none
 * pending, pushed or current of, and its live versions of the kinds it
 * should not have are retired; each change audited ("credential.grant",
 * "credential.withdraw"). Every device: batches of CRED_CONSOLE_BATCH in
 * their own transactions (not inside one); progress(arg, devices done, 0)
 * after each. One device: joins an open transaction. Idempotent: a sync
 * stopped part-way is finished by running it again. */
int cred_console_sync(struct cust_state *st, const char *actor,
    int64_t after_id, int64_t only_id, size_t pwlen, const struct cred_console_planner *pl,
    void (*progress)(void *arg, size_t done, size_t total), void *arg,
    struct cred_console_result *res) __attribute__((warn_unused_result));

/* Retire every live console credential of device_id (called fqdn) in the
 * caller's transaction, audited with why; *n_out = versions retired. */
int cred_console_withdraw_all(struct cust_state *st, const char *actor,
    int64_t device_id, const char *fqdn, const char *why, size_t *n_out)
	__attribute__((warn_unused_result));

/* One page of the devices where console holds a live credential, by FQDN
 * after after (NULL: from the first), at most limit (0: no bound): new
 * JSON array of {"fqdn", "versions": [{"version", "state"}]}. No values. */
int cred_console_list(struct cust_state *st, const char *console,
    const char *after, size_t limit, json_t **out)
	__attribute__((warn_unused_result));

/* What status and metrics report about devices and secrets. */
struct cred_counts {
	int64_t devices;		/* active devices */
	int64_t retired_devices;
	int64_t pending_secrets;	/* versions waiting for a confirm */
};

/* The counts, exact and cheap at any fleet size: they are kept by the
 * store in the same transaction as every change (table cred_count), so
 * this is three key lookups, never a scan. */
int cred_counts(struct cust_state *st, struct cred_counts *out)
	__attribute__((warn_unused_result));

/* Unseal every current and pending secret and check it against the AMT
 * rules; report devices without a current admin or MEBx secret. Returns
 * a new JSON object {"devices", "secrets", "unreadable", "no_current",
 * "problems": [...]}; CUST_E_VIOLATION when anything is wrong. */
int cred_verify(struct cust_state *st, const char *actor, json_t **out)
	__attribute__((warn_unused_result));

/* cred_verify() that also tells item(arg, device_id, kind, version,
 * problem) about every secret it checks (problem NULL when it is sound)
 * and every device and kind without a current version (version 0), in
 * (FQDN, kind, version) order after the missing ones. A non-zero return
 * stops the check with that error. */
int cred_verify_with(struct cust_state *st, const char *actor,
    int (*item)(void *arg, int64_t device_id, const char *kind,
    int64_t version, const char *problem), void *arg, json_t **out)
	__attribute__((warn_unused_result));

#endif
