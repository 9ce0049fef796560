/* SPDX-License-Identifier: MIT */
/* tests/unit/directory/test_sd.c - the owner of a self-relative
 * SECURITY_DESCRIPTOR (dir_sd_owner(): what Samba sends for the SD flags
 * control asking for the owner alone, and malformed ones: truncated,
 * offsets into the header or past the end, a SID running past the end
 * or with more than 15 sub-authorities, no owner, not self-relative),
 * the SID length check they share with dir_sid_to_str() (dir_sid_len()),
 * and whenCreated (dir_generalized_time()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "err.h"
#include "testutil.h"
#include "util.h"

/* Samba 4.17's nTSecurityDescriptor of a user an Administrator bind
 * added, OWNER_SECURITY_INFORMATION only: the header (revision 1,
 * control SE_SELF_RELATIVE, OffsetOwner 20, the others 0) and the owner
 * S-1-5-21-993038235-3919624073-3927071197-512 (Domain Admins). */
static const unsigned char samba_sd[] = {
	0x01, 0x00, 0x00, 0x80, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x05,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x15, 0x00, 0x00, 0x00, 0x9b,
	0x8f, 0x30, 0x3b, 0x89, 0xb7, 0xa0, 0xe9, 0xdd, 0x59, 0x12, 0xea,
	0x00, 0x02, 0x00, 0x00,
};
#define DA "S-1-5-21-993038235-3919624073-3927071197-512"

static void
owner_is(const unsigned char *sd, size_t len, const char *want)
{
	unsigned char o[DIR_SID_MAX];
	size_t n = 99;
	char s[192];

	assert_int_equal(dir_sd_owner(sd, len, o, &n), CUST_OK);
	assert_int_equal(dir_sid_to_str(o, n, s, sizeof(s)), CUST_OK);
	assert_string_equal(s, want);
}

static void
owner_bad(const unsigned char *sd, size_t len)
{
	unsigned char o[DIR_SID_MAX];
	size_t n = 99;

	assert_int_equal(dir_sd_owner(sd, len, o, &n), CUST_E_PARSE);
	assert_int_equal(n, 0);
}

static void
test_owner(void **state)
{
	unsigned char b[256];
	size_t i;

	(void)state;
	owner_is(samba_sd, sizeof(samba_sd), DA);
	/* trailing bytes, a DACL offset, another order: the owner alone is
	 * read, where OffsetOwner says */
	memset(b, 0xee, sizeof(b));
	memcpy(b, samba_sd, 20);
	b[4] = 40;
	b[16] = 20;	/* OffsetDacl, not looked at */
	memcpy(b + 40, samba_sd + 20, sizeof(samba_sd) - 20);
	owner_is(b, 40 + sizeof(samba_sd) - 20 + 7, DA);
	/* Everyone, S-1-1-0 (no sub-authority but one) */
	memcpy(b, samba_sd, 20);
	memcpy(b + 20, "\1\1\0\0\0\0\0\1\0\0\0\0", 12);
	owner_is(b, 32, "S-1-1-0");

	/* truncated: every length short of the whole is refused */
	for (i = 0; i < sizeof(samba_sd); i++)
		owner_bad(samba_sd, i);
	owner_bad(NULL, 0);
	/* no owner */
	memcpy(b, samba_sd, sizeof(samba_sd));
	memset(b + 4, 0, 4);
	owner_bad(b, sizeof(samba_sd));
	/* offsets into the header, at the end, past it, huge */
	memcpy(b, samba_sd, sizeof(samba_sd));
	for (i = 1; i < 20; i++) {
		b[4] = (unsigned char)i;
		owner_bad(b, sizeof(samba_sd));
	}
	b[4] = (unsigned char)sizeof(samba_sd);
	owner_bad(b, sizeof(samba_sd));
	b[4] = (unsigned char)(sizeof(samba_sd) - 7);	/* SID header cut */
	owner_bad(b, sizeof(samba_sd));
	memcpy(b + 4, "\xff\xff\xff\xff", 4);
	owner_bad(b, sizeof(samba_sd));
	memcpy(b + 4, "\x14\x00\x00\x80", 4);
	owner_bad(b, sizeof(samba_sd));
	/* SubAuthorityCount 6 (runs past the end), 16 and 255 (> 15) */
	memcpy(b, samba_sd, sizeof(samba_sd));
	b[21] = 6;
	owner_bad(b, sizeof(samba_sd));
	memset(b + sizeof(samba_sd), 0, sizeof(b) - sizeof(samba_sd));
	b[21] = 16;
	owner_bad(b, sizeof(b));
	b[21] = 255;
	owner_bad(b, sizeof(b));
	/* SID revision 2; SD revision 2; not self-relative (absolute) */
	memcpy(b, samba_sd, sizeof(samba_sd));
	b[20] = 2;
	owner_bad(b, sizeof(samba_sd));
	memcpy(b, samba_sd, sizeof(samba_sd));
	b[0] = 2;
	owner_bad(b, sizeof(samba_sd));
	memcpy(b, samba_sd, sizeof(samba_sd));
	b[3] = 0;
	owner_bad(b, sizeof(samba_sd));
}

static void
test_sid_len(void **state)
{
	(void)state;
	assert_int_equal(dir_sid_len(samba_sd + 20, 28), 28);
	assert_int_equal(dir_sid_len(samba_sd + 20, 100), 28);
	assert_int_equal(dir_sid_len(samba_sd + 20, 27), 0);
	assert_int_equal(dir_sid_len(samba_sd + 20, 7), 0);
	assert_int_equal(dir_sid_len(NULL, 28), 0);
	assert_int_equal(dir_sid_len((const unsigned char *)
	    "\1\0\0\0\0\0\0\5", 8), 8);
	assert_int_equal(dir_sid_len((const unsigned char *)
	    "\1\20\0\0\0\0\0\5", 8), 0);
}

static void
time_is(const char *s, int64_t want)
{
	int64_t t = -1;

	if (dir_generalized_time(s, &t) != CUST_OK)
		fail_msg("'%s' refused: %s", s, cust_errmsg());
	assert_int_equal(t, want);
}

static void
test_time(void **state)
{
	static const char *const bad[] = { "", "2026", "2026120123155.0Z",
	    "20261201231556", "20261201231556.0", "20261201231556.0Zx",
	    "20261201231556.Z", "20261201231556.0123456789Z",
	    "20261201231556+0100", "2026120123155 Z", "20261301000000Z",
	    "20260001000000Z", "20260100000000Z", "20260230000000Z",
	    "21000229000000Z", "20260101240000Z", "20260101006000Z",
	    "20260101000061Z", "16001231235959Z", "-2026120123155Z",
	    "2026-12-01T23:15:56Z", NULL };
	int64_t t;
	size_t i;

	(void)state;
	time_is("20261201231556.0Z", 1796166956);
	time_is("20261201231556Z", 1796166956);
	time_is("20261201231556,123456789Z", 1796166956);
	time_is("19700101000000.0Z", 0);
	time_is("20240229120000.0Z", 1709208000);
	time_is("16010101000000.0Z", -11644473600LL);
	for (i = 0; bad[i] != NULL; i++)
		if (dir_generalized_time(bad[i], &t) != CUST_E_PARSE)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(dir_generalized_time(NULL, &t), CUST_E_PARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_sid_len),
		cmocka_unit_test(test_time),
	};

	if (cust_init() != CUST_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
