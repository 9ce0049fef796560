/* SPDX-License-Identifier: MIT */
/* src/directory/sd.c - what the DC says about who made an AD object and
 * when: the owner SID of its nTSecurityDescriptor (a self-relative
 * SECURITY_DESCRIPTOR, MS-DTYP 2.4.6) and its whenCreated
 * (GeneralizedTime). The account sync trusts an object it began and did
 * not finish only when both fit (ad_sync.c, made_by_custody()). Pure,
 * bounded parsers of bytes the DC sends: no connection, no allocation
 * (the fuzz harness tests/fuzz/fuzz_sd.c drives them). */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "directory.h"
#include "err.h"

/* The fixed header: Revision, Sbz1, Control (2), four offsets (4 each). */
#define SD_HEADER	20
#define SD_REVISION	1
#define SE_SELF_RELATIVE	0x8000u

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

int
dir_sd_owner(const unsigned char *sd, size_t len, unsigned char *owner,
    size_t *owner_len)
{
	uint32_t off;
	size_t n;

	*owner_len = 0;
	if (sd == NULL || len < SD_HEADER)
		return cust_fail(CUST_E_PARSE, "the directory sent a truncated "
		    "security descriptor (%zu bytes)", len);
	if (sd[0] != SD_REVISION || (((unsigned)sd[2] | (unsigned)sd[3] << 8) &
	    SE_SELF_RELATIVE) == 0)
		return cust_fail(CUST_E_PARSE, "the directory sent a security "
		    "descriptor that is not a self-relative revision 1 one");
	off = le32(sd + 4);
	if (off == 0)
		return cust_fail(CUST_E_PARSE, "the directory sent a security "
		    "descriptor without an owner");
	/* inside the buffer, past the header (never overlapping it) */
	if (off < SD_HEADER || off >= len)
		return cust_fail(CUST_E_PARSE, "the directory sent a security "
		    "descriptor whose owner offset (%" PRIu32 ") is outside "
		    "its %zu bytes", off, len);
	if ((n = dir_sid_len(sd + off, len - off)) == 0)
		return cust_fail(CUST_E_PARSE, "the directory sent a security "
		    "descriptor with a malformed owner SID");
	memcpy(owner, sd + off, n);
	*owner_len = n;
	return CUST_OK;
}

/* n decimal digits at s as *v; 0 when one is not a digit. */
static int
digits(const char *s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days_from_civil), without timegm() and its time zone. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
dir_generalized_time(const char *s, int64_t *out)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h, mi, sec, leap;
	size_t i = 14;

	*out = 0;
	if (s == NULL || strnlen(s, 16) < 15 || !digits(s, 4, &y) ||
	    !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) ||
	    !digits(s + 8, 2, &h) || !digits(s + 10, 2, &mi) ||
	    !digits(s + 12, 2, &sec))
		goto bad;
	/* an optional fraction: '.' or ',' and 1-9 digits, ignored */
	if (s[i] == '.' || s[i] == ',') {
		size_t f = ++i;

		while (i - f < 9 && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			goto bad;
	}
	if (s[i] != 'Z' || s[i + 1] != '\0')
		goto bad;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1601 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
		goto bad;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return CUST_OK;
bad:
	return cust_fail(CUST_E_PARSE, "the directory sent a malformed time "
	    "(GeneralizedTime)");
}
