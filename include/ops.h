/* SPDX-License-Identifier: MIT */
/* include/ops.h - the operations custody offers, as JSON in / JSON out.
 *
 * Every command of custodyctl is "parse argv -> JSON request -> operation ->
 * JSON response -> render". The local backend calls ops_call() in process on
 * a state directory (like kadmin.local); the HTTPS service maps its routes
 * onto the same operations, and a remote CLI backend posts the same requests.
 * Operations are registered in tables (one per group, src/api/ops_*.c)
 * listed in src/api/ops.c.
 *
 * Secret values in responses are JSON strings; jansson's allocator wipes
 * every block it frees (cust_init()).
 */
#ifndef CUST_OPS_H
#define CUST_OPS_H

#include <stddef.h>
#include <jansson.h>

struct cust_state;
struct ops_identity;

/*
 * Authorization (doc/internals/SERVICE.md, "Authorization"). Every call
 * carries who asks, as a structured identity:
 *
 *   OPS_ID_NOBODY   not authenticated: OPS_ANYONE operations only; never
 *                   audited (a flood of anonymous refusals must not grow
 *                   the audit log).
 *   OPS_ID_LOCAL    custodyctl on the state directory: whoever can open it
 *                   holds the master key already; trusted for everything.
 *   OPS_ID_ADMIN    staff with role admin: every operation but nothing
 *                   more than local.
 *   OPS_ID_AUDITOR  staff with role auditor: read-only, and no secret
 *                   values.
 *   OPS_ID_CONSOLE  a console of the loaded policy, with that policy's
 *                   duties, owner flag and device scope (tags).
 *
 * Each operation names the roles allowed (OPS_ANYONE ... OPS_CONSOLE) and
 * the resource its request targets: a device ("fqdn"), a console ("name")
 * or none. ops_call() refuses an identity outside the roles, a console
 * scoped to tags asking for a device that carries none of them (or does
 * not exist: both are the same refusal, so scope does not reveal which
 * devices exist), and a console asking for another console's resource,
 * with CUST_E_DENIED (exit 3, HTTP 403). Refusals of an authenticated
 * identity are audited (result "denied").
 */
enum ops_kind {
	OPS_ID_NOBODY = 0,
	OPS_ID_LOCAL,
	OPS_ID_ADMIN,
	OPS_ID_AUDITOR,
	OPS_ID_CONSOLE,
};

/* Roles an operation allows (struct ops_entry.roles); local is always
 * allowed. */
#define OPS_ANYONE	0x01	/* everyone, even not authenticated */
#define OPS_ADMIN	0x02	/* staff admin */
#define OPS_AUDITOR	0x04	/* staff auditor */
#define OPS_OWNER	0x08	/* the policy's owner console */
#define OPS_CONSOLE	0x10	/* every console of the policy */

/* What the request of an operation targets. */
enum ops_resource {
	OPS_RES_NONE = 0,
	OPS_RES_DEVICE,		/* the device named by "fqdn" */
	OPS_RES_CONSOLE,	/* the console named by "name" */
};

/* A new identity of kind OPS_ID_NOBODY, LOCAL, ADMIN or AUDITOR called
 * name (the local user or staff name; ignored for nobody); free with
 * ops_identity_free(). CUST_E_INVAL for OPS_ID_CONSOLE (see below) or a
 * name that is empty, too long or holds control characters. */
int ops_identity_new(enum ops_kind kind, const char *name,
    struct ops_identity **out) __attribute__((warn_unused_result));

/* A new identity for console name of the policy loaded in st (the latest
 * policy.load), with its duties, owner flag and scope; free with
 * ops_identity_free(). CUST_E_DENIED when no policy is loaded or it has
 * no such console (an identity custody does not know is not authorized);
 * errors reading the store as such. */
int ops_identity_console(struct cust_state *st, const char *name,
    struct ops_identity **out) __attribute__((warn_unused_result));

/* The identity of a TLS client whose certificate (DER, the leaf the TLS
 * layer has verified against custody's CA chain and CRL) is der: the
 * certificate must be one custody issued and recorded, still valid in the
 * store (status and the SHA-256 of der match the row); a staff
 * certificate gives its staff identity, a console certificate the
 * console's identity from the loaded policy (ops_identity_console()).
 * CUST_E_DENIED (with the reason) when it maps to no identity custody
 * authorizes; the service then treats the client as nobody (public
 * endpoints only). CUST_E_PARSE for DER that is not a certificate.
 * The first time a renewed certificate maps, the certificates it
 * supersedes are revoked (ca_supersede_used(), a write transaction):
 * ops_identity_superseded() then says how many, and the caller must
 * forget the identities it cached for other certificates. */
int ops_identity_from_cert(struct cust_state *st, const unsigned char *der,
    size_t len, struct ops_identity **out)
	__attribute__((warn_unused_result));

/*
 * The identity of a TLS client whose certificate der the service has
 * verified against the enterprise client CA (custody.yaml
 * tls.client_ca_file, with its CRLs), not custody's: only a console of
 * the loaded policy whose identity names a certificate subject
 * (`identity: {certificate: "DN"}`) equal to the certificate's subject,
 * compared as X.509 names (ca_dn_matches()); never staff, never a console
 * that names no certificate (the CN=NAME default is custody's own). No
 * such console, or more than one: CUST_E_DENIED. The identity is marked
 * as enterprise (ops_identity_enterprise()).
 */
int ops_identity_from_enterprise(struct cust_state *st,
    const unsigned char *der, size_t len, struct ops_identity **out)
	__attribute__((warn_unused_result));

/* The identity of a client that proved Kerberos principal (NAME@REALM,
 * as GSSAPI displays it; Negotiate login, src/daemon/negotiate.c): the
 * one console of the loaded policy whose identity is
 * `{kerberos: principal}` (compared exactly), unless that console is
 * revoked. None, several, or revoked: CUST_E_DENIED. */
int ops_identity_from_kerberos(struct cust_state *st, const char *principal,
    struct ops_identity **out) __attribute__((warn_unused_result));

/* 1 when id was made from an enterprise CA's certificate. */
int ops_identity_enterprise(const struct ops_identity *id);
/* How many certificates making id revoked as superseded (its certificate
 * was a renewal used for the first time): cached identities are stale. */
size_t ops_identity_superseded(const struct ops_identity *id);

void ops_identity_free(struct ops_identity *id);

/* The kind of id (OPS_ID_NOBODY for NULL). */
enum ops_kind ops_identity_kind(const struct ops_identity *id);

/* The name of id: the local user, staff member or console (as the loaded
 * policy spells it); "" for nobody and NULL. Borrowed, valid as long as
 * id. */
const char *ops_identity_name(const struct ops_identity *id);

/* How id appears in the audit log: "local:USER", "admin:NAME",
 * "auditor:NAME", "console:NAME" or "anonymous" (NULL too). Borrowed,
 * valid as long as id. */
const char *ops_identity_actor(const struct ops_identity *id);

struct ops_ctx {
	struct cust_state *st;	/* borrowed; NULL for OPS_NOSTATE ops */
	/* Who asks; borrowed; NULL is OPS_ID_NOBODY. */
	const struct ops_identity *who;
	/* For the handlers: ops_call() sets it to ops_identity_actor(who)
	 * (a caller's value is ignored), the actor of audit entries. */
	const char *actor;
	/* Optional progress report for long operations. */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
	/*
	 * A service's job runner (custodyd); NULL: a job runs in the call
	 * (custodyctl). When set, an operation whose job does network I/O
	 * on many devices (a push by selector, password.rotate with push,
	 * job.resume of a push) records the job, hands its id to
	 * jobs(job_arg, id) and answers at once with the job "running"
	 * (doc/internals/SERVICE.md "Push jobs"); the runner then calls
	 * ops_job_continue() in a thread of its own. A non-OK return of
	 * jobs() fails the job (resumable) and the operation.
	 */
	int (*jobs)(void *arg, long long job);
	/* When set and non-zero, a job stops at the next device boundary
	 * (its devices under way finish) and is left 'interrupted'. */
	int (*stopping)(void *arg);
	void *job_arg;
};

typedef int (*ops_fn)(struct ops_ctx *ctx, json_t *req, json_t **resp_out);

#define OPS_NOSTATE	0x1	/* runs without a state directory */
/* A console may name only itself in the request's "console" member (absent
 * means itself): a console's own credentials. */
#define OPS_SELF	0x2
/* When it succeeds, certificates may map to other identities (or none):
 * a service forgets the identities it cached, at once rather than within
 * its cache's lifetime. */
#define OPS_IDENTITY	0x4

struct ops_entry {
	const char *name;	/* "device.add", "password.rotate" ... */
	ops_fn fn;
	unsigned flags;
	unsigned roles;		/* OPS_ANYONE | OPS_ADMIN | ... */
	enum ops_resource resource;
};

/* Run operation name with request req (borrowed) as ctx->who. On success
 * *resp_out is a new JSON value (json_decref). Errors: CUST_E_* with
 * cust_errmsg(); an unknown name is CUST_E_INVAL; an identity the
 * operation does not allow, or a resource outside its scope, is
 * CUST_E_DENIED (see above). */
int ops_call(struct ops_ctx *ctx, const char *name, json_t *req,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Run the job id that operation op (its request req and its reply
 * start, both borrowed) handed to ctx->jobs: *resp_out is then the reply
 * op gives when it runs the job in the call. A job stopped by
 * ctx->stopping is left 'interrupted' and answered CUST_E_UNAVAIL. */
int ops_job_continue(struct ops_ctx *ctx, const char *op, json_t *req,
    json_t *start, long long id, json_t **resp_out)
	__attribute__((warn_unused_result));

/* The entry for name, or NULL. */
const struct ops_entry *ops_find(const char *name);

/* Every operation, one by one: the i-th entry (0-based), NULL past the
 * last. Static. */
const struct ops_entry *ops_entry_at(size_t i);

/* CUST_OK when ctx->who may run e with request req (borrowed; NULL is an
 * empty request), else CUST_E_DENIED with a message saying why (not
 * audited: ops_call() does that), or an error reading the store for a
 * device scope. What ops_call() checks before running e. */
int ops_authorize(struct ops_ctx *ctx, const struct ops_entry *e,
    json_t *req) __attribute__((warn_unused_result));

/* Request helpers: fetch a member with type checks; CUST_E_INVAL with a
 * message naming the member when missing (required) or of the wrong type.
 * Strings are borrowed from req. */
int ops_req_str(json_t *req, const char *key, int required, const char **out)
	__attribute__((warn_unused_result));
int ops_req_int(json_t *req, const char *key, int required, long long min,
    long long max, long long *out) __attribute__((warn_unused_result));
int ops_req_bool(json_t *req, const char *key, int *out)
	__attribute__((warn_unused_result));

/*
 * Paging. Every list operation answers one page: the request's "limit"
 * (1 to OPS_LIST_MAX; OPS_LIST_DEFAULT when absent; 0 is refused, it never
 * means "everything") and "after" (the cursor: absent for the first page);
 * the reply's "next" is the cursor of the following page, or null after
 * the last one. Pass "next" back as "after", unchanged. A reply is bounded
 * however large the fleet or the audit log is.
 */
#define OPS_LIST_DEFAULT	1000
#define OPS_LIST_MAX		10000

/* The "limit" member of a list request into *out (see above). */
int ops_req_limit(json_t *req, long long *out)
	__attribute__((warn_unused_result));

/* Untrusted text (stored names and details, command-line arguments) as a
 * JSON string, escaped with util_escape() when it holds control characters
 * or is not UTF-8 (which JSON cannot carry): a name that is not UTF-8 is
 * then refused by name, escaped, instead of going missing. New reference;
 * NULL on ENOMEM. */
json_t *ops_text(const char *s);

#endif
