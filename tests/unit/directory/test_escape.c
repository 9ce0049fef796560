/* SPDX-License-Identifier: MIT */
/* tests/unit/directory/test_escape.c - RFC 4515 filter and RFC 4514 DN
 * value escaping (every special character, NUL, leading and trailing
 * space, '#'), checked against libldap's own DN parser; the AD account
 * name rules; the binary SID decoder. (The bind password file is read
 * by config_read_secret(), tested in tests/unit/config/.) And the Global
 * Catalog URI derived from directory.ad uri (dir_ad_gc_uri()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "config.h"
#include "directory.h"
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

static void
filter_is(const char *in, size_t len, const char *want)
{
	char out[256];

	assert_int_equal(dir_filter_escape(in, len, out, sizeof(out)), CUST_OK);
	assert_string_equal(out, want);
}

static void
test_filter(void **state)
{
	(void)state;
	filter_is("svc-amt", 7, "svc-amt");
	filter_is("*", 1, "\\2a");
	filter_is("(", 1, "\\28");
	filter_is(")", 1, "\\29");
	filter_is("\\", 1, "\\5c");
	filter_is("a\0b", 3, "a\\00b");
	/* an injection attempt stays one assertion value */
	filter_is("x)(cn=*", 7, "x\\29\\28cn=\\2a");
	filter_is("*)(|(objectClass=*", 18,
	    "\\2a\\29\\28|\\28objectClass=\\2a");
	/* bytes outside printable ASCII are hex too: UTF-8 stays exact */
	filter_is("\xc3\xa9", 2, "\\c3\\a9");
	filter_is("\n", 1, "\\0a");
	/* characters that are plain in a filter value */
	filter_is(",=+#<>;\" ", 9, ",=+#<>;\" ");
	filter_is("", 0, "");
}

static void
dn_is(const char *in, size_t len, const char *want)
{
	char out[256];

	assert_int_equal(dir_dn_escape(in, len, out, sizeof(out)), CUST_OK);
	assert_string_equal(out, want);
}

/* "CN=<escaped>,OU=AMT" parses, with libldap, into two RDNs whose first
 * value is exactly in[0..len). */
static void
dn_roundtrip(const char *in, size_t len)
{
	char esc[512], dn[600];
	LDAPDN parsed = NULL;

	assert_int_equal(dir_dn_escape(in, len, esc, sizeof(esc)), CUST_OK);
	snprintf(dn, sizeof(dn), "CN=%s,OU=AMT", esc);
	assert_int_equal(ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3),
	    LDAP_SUCCESS);
	assert_non_null(parsed[0]);
	assert_non_null(parsed[1]);
	assert_null(parsed[2]);
	assert_non_null(parsed[0][0]);
	assert_null(parsed[0][1]);		/* one AVA: no '+' split */
	assert_int_equal(parsed[0][0]->la_value.bv_len, len);
	assert_memory_equal(parsed[0][0]->la_value.bv_val, in, len);
	ldap_dnfree(parsed);
}

static void
test_dn(void **state)
{
	static const char *const specials[] = { "a,b", "a=b", "a+b", "a\\b",
		"a\"b", "a;b", "a<b>", "#a", " a", "a ", "  ", "#", "a#b",
		"x,OU=evil", "CN=admin+OU=x", "*(", "a)b", NULL };
	size_t i;

	(void)state;
	dn_is("svc-amt", 7, "svc-amt");
	dn_is("a,b", 3, "a\\,b");
	dn_is("a=b", 3, "a\\=b");
	dn_is("a+b", 3, "a\\+b");
	dn_is("a\\b", 3, "a\\\\b");
	dn_is("\"", 1, "\\\"");
	dn_is("#a", 2, "\\#a");
	dn_is("a#", 2, "a#");
	dn_is(" a ", 3, "\\ a\\ ");
	dn_is("a b", 3, "a b");
	dn_is("a\0b", 3, "a\\00b");
	dn_is("*()", 3, "*()");
	dn_is("x,OU=evil", 9, "x\\,OU\\=evil");
	for (i = 0; specials[i] != NULL; i++)
		dn_roundtrip(specials[i], strlen(specials[i]));
	dn_roundtrip("a\0b", 3);
	dn_roundtrip("\xc3\xa9t\xc3\xa9", 6);
	{
		char out[8];

		assert_int_equal(dir_dn_escape("", 0, out, sizeof(out)),
		    CUST_E_INVAL);
	}
}

static void
test_too_small(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(dir_filter_escape("abc", 3, out, sizeof(out)),
	    CUST_OK);
	assert_int_equal(dir_filter_escape("abcd", 4, out, sizeof(out)),
	    CUST_E_TOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(dir_filter_escape("*", 1, out, sizeof(out)),
	    CUST_OK);
	assert_int_equal(dir_filter_escape("a*", 2, out, sizeof(out)),
	    CUST_E_TOOBIG);
	assert_int_equal(dir_dn_escape(",,", 2, out, sizeof(out)),
	    CUST_E_TOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(dir_dn_escape("a", 1, out, 0), CUST_E_TOOBIG);
}

static void
test_names(void **state)
{
	static const char *const bad[] = { "", "a b", "a*", "a(b)=c", "a,b",
		"a+b", "a\\b", "a/b", "a\"b", "a[b]", "a:b", "a;b", "a|b",
		"a?b", "a<b", "a>b", "a@b", "dot.", "tab\t", "\xc3\xa9",
		"a-name-that-is-too-long", NULL };
	static const char *const good[] = { "svc-amt", "svc_amt.1",
		"#svc(a)", "a&b", "x{y}", "$x", NULL };
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		if (dir_valid_name(bad[i], DIR_USER_NAME_MAX) != CUST_E_INVAL)
			fail_msg("'%s' accepted", bad[i]);
	for (i = 0; good[i] != NULL; i++)
		if (dir_valid_name(good[i], DIR_USER_NAME_MAX) != CUST_OK)
			fail_msg("'%s' refused: %s", good[i], cust_errmsg());
	assert_int_equal(dir_valid_name("a-name-that-is-too-long",
	    DIR_GROUP_NAME_MAX), CUST_OK);
}

static void
test_sid(void **state)
{
	/* S-1-5-21-1593334036-1478673832-3738463470-1106 */
	static const unsigned char sid[] = { 1, 5, 0, 0, 0, 0, 0, 5,
		21, 0, 0, 0, 0x14, 0x59, 0xf8, 0x5e, 0xa8, 0xc5, 0x22, 0x58,
		0xee, 0x6c, 0xd4, 0xde, 0x52, 0x04, 0, 0 };
	static const unsigned char world[] = { 1, 1, 0, 0, 0, 0, 0, 1, 0, 0,
		0, 0 };
	unsigned char bad[sizeof(sid)];
	char out[192];

	(void)state;
	assert_int_equal(dir_sid_to_str(sid, sizeof(sid), out, sizeof(out)),
	    CUST_OK);
	assert_string_equal(out,
	    "S-1-5-21-1593334036-1478673832-3738463470-1106");
	assert_int_equal(dir_sid_to_str(world, sizeof(world), out,
	    sizeof(out)), CUST_OK);
	assert_string_equal(out, "S-1-1-0");
	/* wrong length, revision, count */
	assert_int_equal(dir_sid_to_str(sid, sizeof(sid) - 1, out,
	    sizeof(out)), CUST_E_PARSE);
	memcpy(bad, sid, sizeof(sid));
	bad[0] = 2;
	assert_int_equal(dir_sid_to_str(bad, sizeof(bad), out, sizeof(out)),
	    CUST_E_PARSE);
	memcpy(bad, sid, sizeof(sid));
	bad[1] = 4;
	assert_int_equal(dir_sid_to_str(bad, sizeof(bad), out, sizeof(out)),
	    CUST_E_PARSE);
	assert_int_equal(dir_sid_to_str(sid, 7, out, sizeof(out)),
	    CUST_E_PARSE);
	assert_int_equal(dir_sid_to_str(sid, sizeof(sid), out, 10),
	    CUST_E_TOOBIG);
}

static void
range_is(const char *key, const char *name, unsigned long lo,
    unsigned long hi, int last)
{
	char n[32];
	unsigned long l = 99, h = 99;
	int z = 99;

	if (!dir_range_parse(key, n, sizeof(n), &l, &h, &z))
		fail_msg("'%s' refused", key);
	assert_string_equal(n, name);
	assert_int_equal(l, lo);
	assert_int_equal(h, hi);
	assert_int_equal(z, last);
}

static void
test_range(void **state)
{
	static const char *const bad[] = { "member", "member;range=",
		";range=0-1", "member;range=0", "member;range=0-",
		"member;range=-1-5", "member;range=+1-5", "member;range=5-4",
		"member;range=0-1x", "member;range=0-*x", "member;range= 0-1",
		"member;range=0-2147483648", "member;range=99999999999999-*",
		"member;range=0-18446744073709551616",
		"a-very-long-attribute-name-beyond-the-buffer;range=0-1", NULL };
	char n[32];
	unsigned long l, h;
	int z;
	size_t i;

	(void)state;
	range_is("member;range=0-1499", "member", 0, 1499, 0);
	range_is("member;range=1500-*", "member", 1500, 0, 1);
	range_is("Member;Range=3-3", "Member", 3, 3, 0);
	range_is("member;range=0-2147483647", "member", 0, 2147483647, 0);
	for (i = 0; bad[i] != NULL; i++)
		if (dir_range_parse(bad[i], n, sizeof(n), &l, &h, &z))
			fail_msg("'%s' accepted", bad[i]);
}

static void
gc_is(const char *uri, const char *gc, const char *want)
{
	struct config_ad ad = { 0 };
	char out[128];

	ad.uri = (char *)uri;
	ad.gc_uri = (char *)gc;
	assert_int_equal(dir_ad_gc_uri(&ad, out, sizeof(out)), CUST_OK);
	assert_string_equal(out, want);
}

static void
test_gc_uri(void **state)
{
	struct config_ad ad = { 0 };
	char out[128];

	(void)state;
	gc_is("ldaps://dc1.corp.example:636", NULL,
	    "ldaps://dc1.corp.example:3269");
	gc_is("ldaps://dc1.corp.example", NULL,
	    "ldaps://dc1.corp.example:3269");
	gc_is("ldaps://dc1.corp.example/", NULL,
	    "ldaps://dc1.corp.example:3269");
	gc_is("ldap://dc1.corp.example:389", NULL,
	    "ldap://dc1.corp.example:3268");
	gc_is("ldaps://[::1]:636", NULL, "ldaps://[::1]:3269");
	gc_is("ldaps://127.0.0.1:636", NULL, "ldaps://127.0.0.1:3269");
	/* set: as it is; none: no forest search */
	gc_is("ldaps://dc1:636", "ldaps://gc.corp.example:3269",
	    "ldaps://gc.corp.example:3269");
	gc_is("ldaps://dc1:636", "none", "");
	/* no host to derive from */
	ad.uri = "ldaps://:636";
	assert_int_equal(dir_ad_gc_uri(&ad, out, sizeof(out)), CUST_E_INVAL);
	ad.uri = "ldaps://[::1";
	assert_int_equal(dir_ad_gc_uri(&ad, out, sizeof(out)), CUST_E_INVAL);
	ad.uri = "ldaps://dc1:636";
	assert_int_equal(dir_ad_gc_uri(&ad, out, 10), CUST_E_TOOBIG);
	cust_clearerr();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_dn),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_sid),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_gc_uri),
	};

	if (cust_init() != CUST_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
