/* SPDX-License-Identifier: MIT */
/* src/api/ops_int.h - the operation tables of each group (src/api/ops_*.c)
 * and helpers shared by their handlers. */
#ifndef CUST_OPS_INT_H
#define CUST_OPS_INT_H

#include <stdint.h>
#include <stdlib.h>

#include "ops.h"
#include "util.h"

extern const struct ops_entry ops_core_table[];
extern const struct ops_entry ops_device_table[];
extern const struct ops_entry ops_password_table[];
extern const struct ops_entry ops_audit_table[];
extern const struct ops_entry ops_credential_table[];
extern const struct ops_entry ops_client_table[];

/* device.push (ops_push.c): push a device's pending admin password
 * to it, or (dry_run) answer the envelopes that sends, in order. */
int ops_device_push(struct ops_ctx *ctx, json_t *req, json_t **resp)
	__attribute__((warn_unused_result));

/* The push of fqdn's pending admin password (password rotate --push):
 * *item_out a new {"fqdn", "kind", "version", "result", "detail"},
 * result ok, reconciled, kept-current, unreachable, auth-failed, refused,
 * realm-mismatch, realm-conflict, unknown or nothing-pending; an error
 * is custody's own (the store), not the device's. ops_push_ok(): ok or
 * reconciled. */
int ops_push_admin(struct ops_ctx *ctx, const char *fqdn, json_t **item_out)
	__attribute__((warn_unused_result));

/* The push of fqdn's MEBx password in flight, over TLS only
 * (CUST_E_CONFLICT when the device is not TLS-provisioned): *item_out as
 * ops_push_admin()'s, result ok (ReturnValue 0), refused, unknown,
 * auth-failed or nothing-pending. */
int ops_push_mebx(struct ops_ctx *ctx, const char *fqdn, json_t **item_out)
	__attribute__((warn_unused_result));
/* The same for fqdns[0..n), concurrency (0: AMT_CONCURRENCY) devices at
 * once over the fleet driver: *items_out a new array of items. */
int ops_push_admin_many(struct ops_ctx *ctx, const char *const *fqdns,
    size_t n, size_t concurrency, json_t **items_out)
	__attribute__((warn_unused_result));
int ops_push_ok(json_t *item);
/* The devices a request selects: "fqdns", "tag" or "all" (exactly one):
 * *ids_out (free()), *n_out of them, and *sel_out (new) the selector as a
 * job records it. A tag no device carries is CUST_E_NOTFOUND. */
int ops_select(struct ops_ctx *ctx, json_t *req, int64_t **ids_out,
    size_t *n_out, json_t **sel_out) __attribute__((warn_unused_result));
/* A push by selector as a job, or (resume) the rest of push job resume
 * (ops_push.c, which says more). */
int ops_push_job(struct ops_ctx *ctx, json_t *selector, const int64_t *ids,
    size_t n, int64_t resume, int want_items, json_t **resp)
	__attribute__((warn_unused_result));
/* The devices of push job id, which this process recorded (ctx->jobs),
 * pushed: *resp as ops_push_job()'s. */
int ops_push_job_continue(struct ops_ctx *ctx, int64_t id, int want_items,
    json_t **resp) __attribute__((warn_unused_result));
/* Add a push job's reply pr (ops_push_job()) to a rotation's reply resp:
 * "push_job", "pushed", "push_results" and, with items, "pushes".
 * (ops_password.c) */
int ops_push_into(json_t *resp, json_t *pr, int items)
	__attribute__((warn_unused_result));
/* device.reconcile (ops_push.c): settle the admin versions left 'pushed'
 * for "min_age" seconds against their devices. */
int ops_device_reconcile(struct ops_ctx *ctx, json_t *req, json_t **resp)
	__attribute__((warn_unused_result));

/* The newest version of kind in state in a cred_secret_history() array,
 * or 0. (ops_push.c) */
int64_t ops_version_in(json_t *hist, const char *kind, const char *state);

/* One step of a dry run: {"step": name, "message_id", "action", "auth",
 * "envelope": env} of request q; NULL on ENOMEM. (ops_push.c) */
struct amt_req;
json_t *ops_step_json(const char *name, const struct amt_req *q,
    const char *auth, const char *env);

/* principal.*, keytab.get (ops_directory.c). ops_principal_sync():
 * make the MIT realm match the loaded policy (the reply of
 * principal.sync), for account sync to call as well. */
extern const struct ops_entry ops_directory_table[];
int ops_principal_sync(struct ops_ctx *ctx, int dry_run, json_t **resp)
	__attribute__((warn_unused_result));

/* After console.revoke of name: delete the MIT principal custody holds
 * for it (and its keytab), saying in resp "principal": "deleted", or
 * "principal_error" with the reason (the revocation stands; the next
 * principal sync deletes it, a revoked console being wanted no more).
 * Nothing when there is no directory.mit or no such principal. */
void ops_principal_revoked(struct ops_ctx *ctx, const char *name,
    json_t *resp);

/* policy.apply and policy.drift (ops_acl.c). ops_apply_job(): the rest
 * of policy apply job resume (job.resume), as policy.apply answers. */
extern const struct ops_entry ops_acl_table[];
int ops_apply_job(struct ops_ctx *ctx, int64_t resume, json_t **resp)
	__attribute__((warn_unused_result));

/* The registered devices among a job's targets ids[0..n) (sorted, as
 * job_start() and job_take() give them): *fqdns_out a new array of their
 * FQDNs, *missing_out how many are registered no more; with job (not 0)
 * each of those gets its 'missing' item of kind. (ops_targets.c) */
int ops_job_targets(struct ops_ctx *ctx, int64_t job, const char *kind,
    const int64_t *ids, size_t n, json_t **fqdns_out, size_t *missing_out)
	__attribute__((warn_unused_result));
/* A job run over devices, one conversation each (device.kerberos, policy
 * apply): its id, and how many of its devices are done of how many. */
struct ops_jobrun {
	int64_t id;
	size_t done, total;
};
/* A device's outcome in job: its item (device id, kind, result, detail),
 * then the job's progress (ctx->progress). (ops_targets.c) */
int ops_job_item_done(struct ops_ctx *ctx, struct ops_jobrun *job,
    int64_t device, const char *kind, const char *result, const char *detail)
	__attribute__((warn_unused_result));
/*
 * The next request of a device's conversation (struct amt_conv's next,
 * include/amt.h) for an op whose per-device state arg keeps its outcome
 * in *result (set by step() once known) and its own error in *errp:
 * nothing once either is set; else step(arg, prev, err, req_out) gives
 * the next request, and when it sets the outcome instead, no request and
 * record(arg) (the op's job item and audit). An error of step() or
 * record() is kept in *errp and ends the conversation. (ops_targets.c)
 */
struct amt_reply;
struct amt_req;
int ops_conv_next(void *arg, const char *const *result, int *errp,
    int (*step)(void *, const struct amt_reply *, int, struct amt_req **),
    int (*record)(void *), const struct amt_reply *prev, int err,
    struct amt_req **req_out);
/* After the fleet run, the end of a device's conversation of ops_conv_next()
 * (arg, *result, err: its *errp, record): custody's error err is the
 * run's, returned naming fqdn; a conversation that ended without an
 * outcome is "unknown" (detail, dlen bytes, says so) and recorded.
 * (ops_targets.c) */
int ops_conv_end(void *arg, const char *fqdn, const char **result,
    char *detail, size_t dlen, int err, int (*record)(void *))
	__attribute__((warn_unused_result));
/* The reply of such a job's run: {"job", "devices", "failed" (bad +
 * missing), "results" (counts of items by "result", and missing), "items"
 * (borrowed)}. (ops_targets.c) */
int ops_job_reply(int64_t job, size_t devices, size_t bad, size_t missing,
    json_t *items, json_t **resp) __attribute__((warn_unused_result));

/* Array of strings member: *out is a new array of borrowed strings (free()
 * the array only), NULL and 0 when absent; more than OPS_STRINGS_MAX is
 * CUST_E_TOOBIG. */
#define OPS_STRINGS_MAX	100000
int ops_req_strings(json_t *req, const char *key, const char ***out,
    size_t *n) __attribute__((warn_unused_result));

/* Publish a reply built by json_pack() or json_object(): *resp_out = v
 * and CUST_OK, or CUST_E_NOMEM when v is NULL (a failed json_pack). Never
 * OK with no reply. */
int ops_reply(json_t *v, json_t **resp_out)
	__attribute__((warn_unused_result));

/* Audit the refusal of e (the message is cust_errmsg(), kept) when the
 * identity is authenticated (ops_identity.c). */
void ops_audit_denied(struct ops_ctx *ctx, const struct ops_entry *e,
    json_t *req);

/* Parse and check a policy document text called file: *out a new policy
 * (policy_free()); a policy over POLICY_MAX_BYTES (CUST_E_TOOBIG),
 * malformed (CUST_E_PARSE) or with errors (CUST_E_VIOLATION) is refused
 * with a message saying why, and why[0..whylen) summarises the findings.
 * (ops_policy.c) */
struct policy;
int ops_policy_checked(const char *file, const char *text,
    struct policy **out, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* What the Kerberos ACL entries need of custody.yaml (directory.ad):
 * acl_sid as an enum policy_sid_mode, and the group_prefix that names a
 * duty's group (account sync). (ops_acl.c) */
struct ops_acl_sid {
	int mode;		/* enum policy_sid_mode */
	char prefix[40];	/* group_prefix: 1-32 characters */
};
int ops_acl_sid_config(struct ops_ctx *ctx, struct ops_acl_sid *out)
	__attribute__((warn_unused_result));
/* What account sync recorded of the duties' groups, from the rows of
 * dir_ad_list() (accounts) and group_prefix: *out a new JSON object duty
 * -> the members recorded for the group that resolves ${group:DUTY}
 * (an array of console names, or null: not known), as
 * policy_plan_synced() takes it. (ops_acl.c) */
int ops_acl_synced(json_t *accounts, const char *prefix, json_t **out)
	__attribute__((warn_unused_result));

/* The latest loaded policy: *file_out and *text_out new (free());
 * CUST_E_NOTFOUND when none is loaded. (ops_policy.c) */
int ops_policy_latest(struct cust_state *st, char **file_out,
    char **text_out) __attribute__((warn_unused_result));

/* Console holder (a certificate holder, lower case) in policy p: its
 * name as p spells it (*name_out, borrowed from p) and the subject DN
 * p gives it (its certificate identity, else "CN=NAME"), copied into cn
 * (cnlen bytes; *dn_out points there). CUST_E_NOTFOUND when p has no
 * such console (names compared case-insensitively). (ops_identity.c) */
int ops_policy_console(const struct policy *p, const char *holder,
    const char **name_out, const char **dn_out, char *cn, size_t cnlen)
	__attribute__((warn_unused_result));

/* The subject DN a certificate of console name gets: the certificate
 * identity the loaded policy gives it, into buf (*dn_out = buf); NULL
 * (CN=name) when the policy gives none, has no such console or none is
 * loaded. (ops_client.c) */
#define OPS_DN_MAX	1100
int ops_console_dn(struct cust_state *st, const char *name, char *buf,
    size_t len, const char **dn_out) __attribute__((warn_unused_result));

/* The CSR of a request ("csr" PEM or "csr_der" base64; see ops_ca.c) and
 * the CRL refresh before a CA write, for the client operations. */
int ops_req_csr(struct ops_ctx *ctx, const char *action, const char *object,
    json_t *req, int required, const void **buf, size_t *len,
    unsigned char **owned) __attribute__((warn_unused_result));
void ops_crl_tick(struct ops_ctx *ctx);

/* TLS provisioning (ops_provision.c). ops_tls_record(): the device_tls
 * row of fqdn as {"serial", "roots": [hex SHA-256], "provisioned",
 * "updated"}, CUST_E_NOTFOUND (no message) when custody did not provision
 * it. ops_tls_target(): for a provisioned device, t->tls, t->cafile
 * (the bundle, its path written into cafile[0..len)) and t->revoked
 * (ops_tls_revoked(); the owner of t frees it), else t unchanged.
 * ops_tls_revoked(): the serials of the device certificates custody
 * revoked for fqdn, "S1,S2," (malloc) or NULL; rows MAC-checked. */
struct amt_target;
int ops_tls_record(struct cust_state *st, const char *fqdn, json_t **out)
	__attribute__((warn_unused_result));
int ops_tls_target(struct cust_state *st, const char *fqdn,
    struct amt_target *t, char *cafile, size_t len)
	__attribute__((warn_unused_result));
int ops_tls_revoked(struct cust_state *st, const char *fqdn, char **out)
	__attribute__((warn_unused_result));
/* Whether error r, from reading what custody holds about one device (its
 * record, a secret, its TLS record), is that device's own: it is gone
 * (CUST_E_NOTFOUND), a secret does not open (CUST_E_CRYPTO), a row of it
 * was altered outside custody (its MAC). A fleet operation makes it that
 * device's result and goes on; anything else (the store unavailable,
 * memory) is the store's and ends it. */
int ops_device_own_error(struct cust_state *st, int r);
/* The DigestRealm realm that device fqdn logged in with (amt_reply_realm())
 * at first contact, none registered: cred_device_first_realm(), recorded
 * (record) or only checked. CUST_OK with *result NULL: fqdn's own; with
 * *result "realm-conflict" (another device has it registered: another
 * machine answers at fqdn's address) or "realm-mismatch" (fqdn got
 * another one meanwhile), why in cust_errmsg(): that device's outcome,
 * nothing more to send it. Any other return is custody's own error.
 * (ops_provision.c) */
int ops_first_realm(struct ops_ctx *ctx, const char *fqdn,
    const char *realm, int record, const char **result)
	__attribute__((warn_unused_result));
/*
 * The first contacts of one run, read before anything is sent to any
 * (ops_realm.c): f[0..n) the devices of the run with no DigestRealm
 * registered, each with its target (t: borrowed, as the admin with the
 * current password, no realm). Their realms are read concurrently (a Get
 * each); a realm reported by two or more is recorded for none: each gets
 * result "realm-conflict" naming the others (audited device.set refused
 * when record); one reported once goes through ops_first_realm() (record
 * it, else check it): its result then, or known set (the realm is the
 * device's: recorded, or free when checking). A reply whose realm is not
 * the one the device logs in with is "realm-mismatch"; a device whose
 * read failed otherwise has neither (the run's own Get reads it). Fewer
 * than two: nothing read (none to compare), nothing set. Any other return is custody's
 * own error.
 */
struct amt_target;
struct ops_first {
	char fqdn[CUST_MAX_FQDN + 1];
	const struct amt_target *t;	/* borrowed */
	size_t index;			/* the caller's */
	const char *result;		/* out: NULL, or the device's outcome:
					 * nothing more is sent to it */
	char detail[512];		/* out, with result */
	char realm[64];			/* out: as read, "" when not */
	int known;			/* out: realm recorded (checked) */
};
/* record: what is done with the realms read. */
#define OPS_FIRST_CHECK		0	/* nothing recorded nor audited (drift) */
#define OPS_FIRST_RECORD	1	/* a unique realm recorded, a shared one
					 * refused (audited) */
#define OPS_FIRST_REFUSE	2	/* a shared one refused (audited), a
					 * unique one left to the run's step,
					 * which records it after its own checks
					 * (the provisioning's login-check) */
int ops_first_contacts(struct ops_ctx *ctx, struct ops_first *f, size_t n,
    int record) __attribute__((warn_unused_result));
/* The same for the devices among fqdns[0..n) with no realm registered
 * (and, kind not NULL, a version of kind pending or pushed), their
 * targets made here (the current admin password read audited as action):
 * *out a new array (free()) of *n_out of them, index into fqdns. A
 * device whose record cannot be used is left out (the run says why). */
int ops_first_contacts_of(struct ops_ctx *ctx, const char *action,
    const char *const *fqdns, size_t n, const char *kind, int record,
    struct ops_first **out, size_t *n_out)
	__attribute__((warn_unused_result));
/* A random password no one holds (32 hex digits), made to be refused: a
 * peer that takes a login with it takes any (an impostor, or a man in the
 * middle), and nothing it says proves anything. *out a new secret. */
struct seal_secret;
int ops_wrong_password(struct seal_secret **out)
	__attribute__((warn_unused_result));
/* The rest of device kerberos job resume (job.resume; ops_kerberos.c). */
int ops_kerberos_job(struct ops_ctx *ctx, int64_t resume, json_t **resp)
	__attribute__((warn_unused_result));
/* device.reconcile's part for console users (ops_acl.c): on each device of
 * fqdns (strings), every console:NAME version left 'pushed' whose user
 * may log in is tried as an apply's reconciliation does (a digest login
 * as the user with the candidate, then the current password; nothing
 * sent): current, failed, or left 'pushed'. *items_out a new array of
 * device items as policy.apply's; *bad_out those not ok. */
int ops_acl_reconcile(struct ops_ctx *ctx, json_t *fqdns, json_t **items_out,
    size_t *bad_out) __attribute__((warn_unused_result));
/* The rest of cert provision job resume (job.resume). */
int ops_provision_job(struct ops_ctx *ctx, int64_t resume, json_t **resp)
	__attribute__((warn_unused_result));
/* The provisioned devices that lack a root of the bundle (by the roots
 * recorded for them): a new array of FQDNs. */
int ops_roots_missing(struct cust_state *st, json_t **out)
	__attribute__((warn_unused_result));

/* The integer the one-row query sql (a string literal: statements are
 * cached by address) answers into *out; a store error says what. */
struct cust_state;
int ops_sql_int(struct cust_state *st, const char *sql, const char *what,
    int64_t *out) __attribute__((warn_unused_result));

/* The latest loaded policy, checked: *out new (policy_free()), or NULL
 * (and CUST_OK) when none is loaded or it no longer passes the check
 * (it then authorizes no console). Errors reading the store as such.
 * (ops_policy.c) */
/* Whether console name's latest record (its certificate holder, names
 * compared without case) is revoked; a console without a record
 * (Kerberos only) is not. Row MAC checked. */
int ops_console_revoked(struct cust_state *st, const char *name, int *out)
	__attribute__((warn_unused_result));

/*
 * After a change custody made (a device removed, a console revoked): fn
 * (dir_ad_device_removed(), dir_ad_console_revoked()) on the AD object
 * custody made for name, its outcome in reply's "directory" ({"name",
 * "dn", "deleted" | "disabled", and "error" when not done: the change
 * stands and the next account sync finishes it}); nothing when custody
 * made no object for name. (ops_account.c)
 */
struct config_ad;
void ops_account_follow(struct ops_ctx *ctx, const char *name,
    int (*fn)(struct cust_state *, const char *, const struct config_ad *,
    const char *, json_t **), json_t *reply);

int ops_policy_usable(struct cust_state *st, struct policy **out)
	__attribute__((warn_unused_result));

/* The same, borrowed: *out (NULL: none usable) stays valid until the next
 * call in this thread. It is parsed again only when the latest row is
 * another than last time (its id, file and digest are read at each call);
 * for the reads that every request makes (credential.show). */
int ops_policy_current(struct cust_state *st, const struct policy **out)
	__attribute__((warn_unused_result));

/* Console credentials (ops_credential.c): the plan of the loaded policy,
 * for syncing them; new (ops_cred_plan_free()). Without a policy loaded,
 * or with one that no longer passes the check, the plan grants nothing
 * (but a sync still notices a policy loaded since). prev
 * (may be NULL): the policy loaded before, whose consoles' user names are
 * compared (a changed one renews that console's credentials). */
struct ops_cred_plan;
struct cred_console_result;
int ops_cred_plan_open(struct cust_state *st, const struct policy *prev,
    struct ops_cred_plan **out) __attribute__((warn_unused_result));
void ops_cred_plan_free(struct ops_cred_plan *pl);

/* cred_console_sync() with pl as ctx->actor. CUST_E_CONFLICT when
 * another policy was loaded since pl was made (a sync of every device
 * stops there: that policy's own sync takes over; one device in the
 * caller's transaction: roll back and try again with a new plan). */
int ops_cred_plan_sync(struct ops_ctx *ctx, struct ops_cred_plan *pl,
    int64_t after_id, int64_t only_id, struct cred_console_result *res)
	__attribute__((warn_unused_result));

/* {"devices", "granted", "withdrawn"} of res; NULL on ENOMEM. */
json_t *ops_cred_counts(const struct cred_console_result *res);

#endif
