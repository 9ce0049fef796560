/* SPDX-License-Identifier: MIT */
/* include/err.h - the one error enum of custody, and its message buffer.
 *
 * Zero is success and every error is negative. A function that fails sets a
 * human-readable detail with cust_fail() (library messages captured at the
 * boundary, never secret values) and returns the code; callers print
 * cust_errmsg() and map the code to an exit status with cust_exit_code().
 */
#ifndef CUST_ERR_H
#define CUST_ERR_H

enum cust_err {
	CUST_OK = 0,
	CUST_E_INTERNAL = -1,	/* broken invariant or unexpected failure */
	CUST_E_NOMEM = -2,	/* allocation failed */
	CUST_E_INVAL = -3,	/* bad argument or input (usage/input error) */
	CUST_E_NOTFOUND = -4,	/* the object does not exist */
	CUST_E_EXISTS = -5,	/* the object already exists */
	CUST_E_DENIED = -6,	/* not authorized */
	CUST_E_CONFLICT = -7,	/* refused in the current state (e.g. pending) */
	CUST_E_SEALED = -8,	/* master key missing, wrong or unusable */
	CUST_E_DB = -9,		/* the store cannot be read or written */
	CUST_E_IO = -10,	/* file system error */
	CUST_E_CRYPTO = -11,	/* cryptographic failure (tampering, OpenSSL) */
	CUST_E_TOOBIG = -12,	/* input over its size bound */
	CUST_E_PARSE = -13,	/* malformed input */
	CUST_E_VIOLATION = -14,	/* a check found violations */
	CUST_E_UNAVAIL = -15,	/* a peer or resource is unavailable */
	CUST_E_PERM = -16,	/* unsafe file permissions or owner */
	CUST_E_LDAP = -17,
	CUST_E_KRB5 = -18,
};

/* Exit codes of the programs (DESIGN.md). */
#define CUST_EXIT_OK		0
#define CUST_EXIT_FAIL		1
#define CUST_EXIT_USAGE		2
#define CUST_EXIT_DENIED	3
#define CUST_EXIT_NOTFOUND	4
#define CUST_EXIT_UNAVAIL	5

/* Static text for a code; never NULL. */
const char *cust_strerror(int code);

/* Set the detail message for the current thread and return code.
 * The text must never contain secret values. Control characters and
 * invalid UTF-8 in it are escaped (util_escape()), so a message may quote
 * an untrusted name. */
int cust_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last detail set by cust_fail(), or "" when none; borrowed, valid until
 * the next cust_fail()/cust_clearerr() on this thread. */
const char *cust_errmsg(void);

/* Forget the last detail. */
void cust_clearerr(void);

/* Process exit code for an error code (0 for CUST_OK). */
int cust_exit_code(int code);

/* HTTP status for an error code, for the service's replies: 200 for
 * CUST_OK; 400/413 for input (exit 2), 403 denied (exit 3), 404 not found
 * (exit 4), 503 unavailable (exit 5, and out of memory: both worth a
 * retry), 409/422/500/502 for the rest. Unknown codes are 500. */
int cust_http_status(int code);

/* The stable wire name of an error code, for the service's error replies
 * ({"error": NAME, "message": ...}) and the remote CLI: "internal",
 * "nomem", "invalid", "not_found", "exists", "denied", "conflict",
 * "sealed", "db", "io", "crypto", "too_big", "parse", "violation",
 * "unavailable", "perm", "ldap", "krb5"; "ok" for CUST_OK, "internal" for
 * unknown codes. Static. */
const char *cust_errname(int code);

/* The code for a wire name of cust_errname() (CUST_OK for "ok");
 * CUST_E_INTERNAL for NULL or a name it does not know. */
int cust_errcode(const char *name);

#endif
