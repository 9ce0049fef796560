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

struct ops_ctx {
	struct cust_state *st;	/* borrowed; NULL for OPS_NOSTATE ops */
	const char *actor;	/* who asks, for authorization and audit */
	/* Optional progress report for long operations. */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
};

typedef int (*ops_fn)(struct ops_ctx *ctx, json_t *req, json_t **resp_out);

#define OPS_NOSTATE	0x1	/* runs without a state directory */

struct ops_entry {
	const char *name;	/* "device.add", "password.rotate" ... */
	ops_fn fn;
	unsigned flags;
};

/* Run operation name with request req (borrowed). On success *resp_out is a
 * new JSON value (json_decref). Errors: CUST_E_* with cust_errmsg(); an
 * unknown name is CUST_E_INVAL. */
int ops_call(struct ops_ctx *ctx, const char *name, json_t *req,
    json_t **resp_out) __attribute__((warn_unused_result));

/* The entry for name, or NULL. */
const struct ops_entry *ops_find(const char *name);

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
