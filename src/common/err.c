/* SPDX-License-Identifier: MIT */
/* src/common/err.c - error codes, texts and the per-thread detail buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "util.h"

static _Thread_local char errbuf[1024];

const char *
cust_strerror(int code)
{
	switch (code) {
	case CUST_OK:		return "success";
	case CUST_E_INTERNAL:	return "internal error";
	case CUST_E_NOMEM:	return "out of memory";
	case CUST_E_INVAL:	return "invalid argument";
	case CUST_E_NOTFOUND:	return "not found";
	case CUST_E_EXISTS:	return "already exists";
	case CUST_E_DENIED:	return "not authorized";
	case CUST_E_CONFLICT:	return "conflict";
	case CUST_E_SEALED:	return "store is sealed";
	case CUST_E_DB:		return "store unavailable";
	case CUST_E_IO:		return "I/O error";
	case CUST_E_CRYPTO:	return "cryptographic failure";
	case CUST_E_TOOBIG:	return "input too large";
	case CUST_E_PARSE:	return "malformed input";
	case CUST_E_VIOLATION:	return "violations found";
	case CUST_E_UNAVAIL:	return "unavailable";
	case CUST_E_PERM:	return "unsafe permissions";
	case CUST_E_LDAP:	return "directory (LDAP) error";
	case CUST_E_KRB5:	return "Kerberos error";
	}
	return "unknown error";
}

int
cust_fail(int code, const char *fmt, ...)
{
	char tmp[sizeof(errbuf)];
	va_list ap;

	/* Format aside first: callers may pass cust_errmsg() as an argument.
	 * Messages quote untrusted names and file content: whatever prints
	 * or stores them (terminal, audit detail, JSON) gets them escaped. */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	util_escape(tmp, errbuf, sizeof(errbuf));
	return code;
}

const char *
cust_errmsg(void)
{
	return errbuf;
}

void
cust_clearerr(void)
{
	errbuf[0] = '\0';
}

int
cust_exit_code(int code)
{
	switch (code) {
	case CUST_OK:
		return CUST_EXIT_OK;
	case CUST_E_INVAL:
	case CUST_E_PARSE:
	case CUST_E_TOOBIG:
		return CUST_EXIT_USAGE;
	case CUST_E_DENIED:
		return CUST_EXIT_DENIED;
	case CUST_E_NOTFOUND:
		return CUST_EXIT_NOTFOUND;
	case CUST_E_SEALED:
	case CUST_E_DB:
	case CUST_E_IO:
	case CUST_E_UNAVAIL:
	case CUST_E_PERM:
		return CUST_EXIT_UNAVAIL;
	default:
		return CUST_EXIT_FAIL;
	}
}

int
cust_http_status(int code)
{
	switch (code) {
	case CUST_OK:		return 200;
	case CUST_E_INVAL:
	case CUST_E_PARSE:	return 400;
	case CUST_E_DENIED:	return 403;
	case CUST_E_NOTFOUND:	return 404;
	case CUST_E_EXISTS:
	case CUST_E_CONFLICT:	return 409;
	case CUST_E_TOOBIG:	return 413;
	case CUST_E_VIOLATION:	return 422;	/* checked, found wanting */
	case CUST_E_LDAP:
	case CUST_E_KRB5:	return 502;	/* a directory behind us */
	case CUST_E_NOMEM:
	case CUST_E_SEALED:
	case CUST_E_DB:
	case CUST_E_IO:
	case CUST_E_UNAVAIL:
	case CUST_E_PERM:	return 503;	/* exit 5: try again later */
	case CUST_E_INTERNAL:
	case CUST_E_CRYPTO:
	default:		return 500;
	}
}

static const struct {
	int code;
	const char *name;
} errnames[] = {
	{ CUST_OK, "ok" },
	{ CUST_E_INTERNAL, "internal" },
	{ CUST_E_NOMEM, "nomem" },
	{ CUST_E_INVAL, "invalid" },
	{ CUST_E_NOTFOUND, "not_found" },
	{ CUST_E_EXISTS, "exists" },
	{ CUST_E_DENIED, "denied" },
	{ CUST_E_CONFLICT, "conflict" },
	{ CUST_E_SEALED, "sealed" },
	{ CUST_E_DB, "db" },
	{ CUST_E_IO, "io" },
	{ CUST_E_CRYPTO, "crypto" },
	{ CUST_E_TOOBIG, "too_big" },
	{ CUST_E_PARSE, "parse" },
	{ CUST_E_VIOLATION, "violation" },
	{ CUST_E_UNAVAIL, "unavailable" },
	{ CUST_E_PERM, "perm" },
	{ CUST_E_LDAP, "ldap" },
	{ CUST_E_KRB5, "krb5" },
};

const char *
cust_errname(int code)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].code == code)
			return errnames[i].name;
	return "internal";
}

int
cust_errcode(const char *name)
{
	if (name == NULL)
		return CUST_E_INTERNAL;
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (strcmp(errnames[i].name, name) == 0)
			return errnames[i].code;
	return CUST_E_INTERNAL;
}
