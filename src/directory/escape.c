/* SPDX-License-Identifier: MIT */
/* src/directory/escape.c - every value custody puts into an LDAP filter
 * (RFC 4515) or a DN (RFC 4514) is escaped here, in one place, and the
 * names it creates in AD are checked before anything is sent; binary SIDs
 * read back are decoded here too. Pure functions: no connection, no
 * allocation (the fuzz harness tests/fuzz/fuzz_ldap.c drives them). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "directory.h"
#include "err.h"

static const char hexd[] = "0123456789abcdef";

/* Append c to out[*o] within outlen (keeping room for the NUL). */
static int
put(char *out, size_t outlen, size_t *o, char c)
{
	if (*o + 1 >= outlen)
		return 0;
	out[(*o)++] = c;
	return 1;
}

static int
put_hex(char *out, size_t outlen, size_t *o, unsigned char c)
{
	return put(out, outlen, o, '\\') && put(out, outlen, o, hexd[c >> 4]) &&
	    put(out, outlen, o, hexd[c & 15]);
}

static int
too_big(char *out, size_t outlen)
{
	if (outlen > 0)
		out[0] = '\0';
	return cust_fail(CUST_E_TOOBIG, "a directory value is too long");
}

int
dir_filter_escape(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int ok = 1;

	if (outlen == 0)
		return too_big(out, outlen);
	for (i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 ||
		    c >= 0x7f)
			ok = put_hex(out, outlen, &o, c);
		else
			ok = put(out, outlen, &o, (char)c);
	}
	if (!ok)
		return too_big(out, outlen);
	out[o] = '\0';
	return CUST_OK;
}

int
dir_dn_escape(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int ok = 1;

	if (outlen == 0)
		return too_big(out, outlen);
	out[0] = '\0';
	if (len == 0)
		return cust_fail(CUST_E_INVAL, "an empty name cannot be part "
		    "of a DN");
	for (i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c >= 0x7f)
			ok = put_hex(out, outlen, &o, c);
		else if (strchr("\"+,;<>=\\", c) != NULL ||
		    (i == 0 && (c == '#' || c == ' ')) ||
		    (i == len - 1 && c == ' '))
			ok = put(out, outlen, &o, '\\') &&
			    put(out, outlen, &o, (char)c);
		else
			ok = put(out, outlen, &o, (char)c);
	}
	if (!ok)
		return too_big(out, outlen);
	out[o] = '\0';
	return CUST_OK;
}

int
dir_valid_name(const char *name, size_t max)
{
	size_t len = strlen(name), i;

	if (len == 0 || len > max)
		return cust_fail(CUST_E_INVAL, "an AD account name is 1-%zu "
		    "characters (sAMAccountName), not %zu", max, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f)
			return cust_fail(CUST_E_INVAL, "an AD account name "
			    "holds printable ASCII only, not byte 0x%02x", c);
		if (strchr("\"/\\[]:;|=,+*?<>@", c) != NULL)
			return cust_fail(CUST_E_INVAL, "an AD account name "
			    "cannot hold '%c'", c);
	}
	if (name[len - 1] == '.')
		return cust_fail(CUST_E_INVAL, "an AD account name cannot end "
		    "with '.'");
	return CUST_OK;
}

size_t
dir_sid_len(const unsigned char *p, size_t avail)
{
	size_t n;

	if (p == NULL || avail < 8 || p[0] != 1 || p[1] > 15)
		return 0;
	n = 8 + 4 * (size_t)p[1];
	return n <= avail ? n : 0;
}

int
dir_sid_to_str(const unsigned char *sid, size_t len, char *out, size_t outlen)
{
	uint64_t auth = 0;
	size_t n, i, o;
	int w;

	if (outlen > 0)
		out[0] = '\0';
	if (dir_sid_len(sid, len) != len || len == 0)
		return cust_fail(CUST_E_PARSE, "the directory sent a malformed "
		    "SID (%zu bytes)", len);
	n = sid[1];
	for (i = 2; i < 8; i++)
		auth = auth << 8 | sid[i];
	w = snprintf(out, outlen, "S-1-%" PRIu64, auth);
	if (w < 0 || (size_t)w >= outlen)
		return too_big(out, outlen);
	o = (size_t)w;
	for (i = 0; i < n; i++) {
		const unsigned char *p = sid + 8 + 4 * i;
		uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

		w = snprintf(out + o, outlen - o, "-%" PRIu32, v);
		if (w < 0 || (size_t)w >= outlen - o)
			return too_big(out, outlen);
		o += (size_t)w;
	}
	return CUST_OK;
}

/* A range bound: decimal digits only, at most 2^31 - 1. */
static int
range_num(const char *p, const char **end, unsigned long *out)
{
	unsigned long v = 0;

	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 0x7fffffffUL)
			return 0;
	}
	*end = p;
	*out = v;
	return 1;
}

int
dir_range_parse(const char *key, char *name, size_t len, unsigned long *lo,
    unsigned long *hi, int *last)
{
	const char *p = strcasestr(key, ";range="), *q;

	if (p == NULL || p == key || (size_t)(p - key) >= len)
		return 0;
	if (!range_num(p + 7, &q, lo) || *q != '-')
		return 0;
	q++;
	*last = strcmp(q, "*") == 0;
	if (*last) {
		*hi = 0;
	} else if (!range_num(q, &q, hi) || *q != '\0' || *hi < *lo) {
		return 0;
	}
	memcpy(name, key, (size_t)(p - key));
	name[p - key] = '\0';
	return 1;
}
