/* SPDX-License-Identifier: MIT */
/* tests/unit/common/test_util.c - validation, bounded file reading, and
 * writing below a directory without following links. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "testutil.h"
#include "util.h"

static void
test_fqdn(void **state)
{
	char long_label[80], too_long[300];
	size_t i;

	(void)state;
	assert_int_equal(util_valid_fqdn("host1.corp.example"), CUST_OK);
	assert_int_equal(util_valid_fqdn("a-b.c"), CUST_OK);
	assert_int_equal(util_valid_fqdn("localhost"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn(""), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("-a.b"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("a-.b"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("a..b"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("a.b."), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("a_b.c"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("a b.c"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("a.b/c"), CUST_E_INVAL);
	/* Addresses and numbers are not host names. */
	assert_int_equal(util_valid_fqdn("10.0.0.1"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("1.2.3.4"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("127.1"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("123.456"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("host.example.42"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("0x7f.1"), CUST_E_INVAL);
	assert_int_equal(util_valid_fqdn("1.2.3.4.example"), CUST_OK);
	assert_int_equal(util_valid_fqdn("42.corp.example"), CUST_OK);
	assert_int_equal(util_valid_fqdn("host.b1"), CUST_OK);
	assert_int_equal(util_valid_fqdn("host.1b"), CUST_OK);
	memset(long_label, 'a', 64);
	snprintf(long_label + 64, 16, ".example");
	assert_int_equal(util_valid_fqdn(long_label), CUST_E_INVAL);
	for (i = 0; i < 299; i++)
		too_long[i] = i % 2 ? '.' : 'a';
	too_long[299] = '\0';
	assert_int_equal(util_valid_fqdn(too_long), CUST_E_INVAL);
}

static void
test_ids(void **state)
{
	(void)state;
	assert_int_equal(util_valid_uuid("12345678-abcd-ABCD-1234-123456789abc"),
	    CUST_OK);
	assert_int_equal(util_valid_uuid("12345678-abcd-ABCD-1234-123456789ab"),
	    CUST_E_INVAL);
	assert_int_equal(util_valid_uuid("12345678abcd-ABCD-1234-123456789abcd"),
	    CUST_E_INVAL);
	assert_int_equal(util_valid_uuid("g2345678-abcd-ABCD-1234-123456789abc"),
	    CUST_E_INVAL);
	assert_int_equal(util_valid_digest_realm(
	    "Digest:A4070000000000000000000000000000"), CUST_OK);
	assert_int_equal(util_valid_digest_realm(
	    "Digest:A40700000000000000000000000000"), CUST_E_INVAL);
	assert_int_equal(util_valid_digest_realm(
	    "digest:A4070000000000000000000000000000"), CUST_E_INVAL);
	assert_int_equal(util_valid_tag("lab-1.east_2"), CUST_OK);
	assert_int_equal(util_valid_tag("a b"), CUST_E_INVAL);
	assert_int_equal(util_valid_tag(""), CUST_E_INVAL);
	assert_int_equal(util_valid_realm("CORP.EXAMPLE-2"), CUST_OK);
	assert_int_equal(util_valid_realm("corp.example"), CUST_E_INVAL);
	assert_int_equal(util_valid_realm("CORP EXAMPLE"), CUST_E_INVAL);
	assert_int_equal(util_valid_realm(""), CUST_E_INVAL);
}

static void
test_parse_long(void **state)
{
	long v = 0;

	(void)state;
	assert_int_equal(util_parse_long("42", 0, 100, &v), CUST_OK);
	assert_int_equal(v, 42);
	assert_int_equal(util_parse_long("101", 0, 100, &v), CUST_E_INVAL);
	assert_int_equal(util_parse_long("4x", 0, 100, &v), CUST_E_INVAL);
	assert_int_equal(util_parse_long("", 0, 100, &v), CUST_E_INVAL);
	assert_int_equal(util_parse_long("99999999999999999999", 0, 100, &v),
	    CUST_E_INVAL);
}

static void
test_read_bounded(void **state)
{
	char *dir = tu_tmpdir(), *p = util_path(dir, "f"), *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(util_write_file(p, "hello", 5, 0600), CUST_OK);
	assert_int_equal(util_read_file(p, 5, &buf, &len), CUST_OK);
	assert_string_equal(buf, "hello");
	free(buf);
	assert_int_equal(util_read_file(p, 4, &buf, &len), CUST_E_TOOBIG);
	assert_null(buf);
	assert_int_equal(util_check_secrecy(p), CUST_OK);
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(util_check_secrecy(p), CUST_E_PERM);
	assert_int_equal(util_read_file(dir, 100, &buf, &len), CUST_E_INVAL);
	free(p);
	p = util_path(dir, "missing");
	assert_int_equal(util_read_file(p, 100, &buf, &len), CUST_E_NOTFOUND);
	tu_rmrf(dir);
	free(p);
	free(dir);
}

/* Escaped text: controls and bad UTF-8 become visible escapes, printable
 * UTF-8 passes, escaping twice changes nothing, truncation never cuts an
 * escape. */
static void
test_escape(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "host1.corp.example", "host1.corp.example" },
		{ "a\nb", "a\\nb" },
		{ "x\r\ty", "x\\r\\ty" },
		{ "\x1b[31mred", "\\x1b[31mred" },
		{ "del\x7f", "del\\x7f" },
		{ "bell\x07", "bell\\x07" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },		/* U+00E9 */
		{ "\xe2\x82\xac", "\xe2\x82\xac" },	/* U+20AC */
		{ "\xf0\x9f\x94\x91", "\xf0\x9f\x94\x91" },	/* U+1F511 */
		{ "csi\xc2\x9b", "csi\\xc2\\x9b" },	/* C1 U+009B */
		{ "bad\xff", "bad\\xff" },
		{ "cut\xc3", "cut\\xc3" },
		{ "over\xc0\xaf", "over\\xc0\\xaf" },	/* overlong '/' */
		{ "sur\xed\xa0\x80", "sur\\xed\\xa0\\x80" },	/* U+D800 */
		{ "back\\slash", "back\\slash" },
		/* Bidirectional override U+202E and isolate U+2066. */
		{ "abc\xe2\x80\xae" "cba", "abc\\xe2\\x80\\xae" "cba" },
		{ "\xe2\x81\xa6x", "\\xe2\\x81\\xa6x" },
	};
	char buf[64], *d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(util_escape(cases[i].in, buf, sizeof(buf)),
		    strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
		assert_int_equal(util_needs_escape(cases[i].in),
		    strcmp(cases[i].in, cases[i].out) != 0);
		assert_false(util_needs_escape(buf));
		d = util_escape_dup(buf);
		assert_non_null(d);
		assert_string_equal(d, buf);	/* idempotent */
		free(d);
	}
	/* Truncation: "ab\x1b" does not fit in 5 bytes; nothing of the
	 * escape is written, and the needed length is still returned. */
	assert_int_equal(util_escape("ab\x1b" "c", buf, 5), 7);
	assert_string_equal(buf, "ab");
	assert_int_equal(util_escape("ab\x1b" "c", buf, 7), 7);
	assert_string_equal(buf, "ab\\x1b");
	assert_int_equal(util_escape("\xc3\xa9\xc3\xa9", buf, 4), 4);
	assert_string_equal(buf, "\xc3\xa9");
	assert_int_equal(util_escape("x", NULL, 0), 1);
}

/* Every error message is escaped: a name quoted in it cannot break the
 * line or reach the terminal as an escape sequence. */
static void
test_fail_escapes(void **state)
{
	(void)state;
	assert_int_equal(cust_fail(CUST_E_INVAL, "'%s' is not a valid FQDN",
	    "x\n99 forged ok\x1b[31m"), CUST_E_INVAL);
	assert_string_equal(cust_errmsg(),
	    "'x\\n99 forged ok\\x1b[31m' is not a valid FQDN");
	/* Quoting a message again does not escape it twice. */
	cust_fail(CUST_E_INVAL, "%s", cust_errmsg());
	assert_string_equal(cust_errmsg(),
	    "'x\\n99 forged ok\\x1b[31m' is not a valid FQDN");
}

/* Writes under a directory descriptor never go through a link; a plain
 * write replaces a link at the name instead of following it; a create
 * never replaces anything. */
static void
test_write_at(void **state)
{
	char *dir = tu_tmpdir(), *p, *q, *buf = NULL;
	size_t len = 0;
	int dfd, fd;

	(void)state;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	p = util_path(dir, "real");
	q = util_path(dir, "sub");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(symlink(p, q), 0);
	free(q);
	assert_int_equal(util_write_file_at(dfd, "sub/f", "x", 1, 0600),
	    CUST_E_PERM);
	assert_int_equal(util_write_file_at(dfd, "real/../real/f", "x", 1,
	    0600), CUST_E_INVAL);
	assert_int_equal(util_unlink_at(dfd, "sub/f"), CUST_E_PERM);
	assert_int_equal(util_open_dir_at(dfd, "sub", &fd), CUST_E_PERM);
	assert_int_equal(util_write_file_at(dfd, "real/f", "x", 1, 0600),
	    CUST_OK);
	free(p);
	p = util_path(dir, "real/f");
	assert_int_equal(util_read_file(p, 10, &buf, &len), CUST_OK);
	assert_string_equal(buf, "x");
	free(buf);
	/* A link at the final name is replaced, its target untouched. */
	q = util_path(dir, "real/g");
	assert_int_equal(symlink(p, q), 0);
	assert_int_equal(util_write_file_at(dfd, "real/g", "y", 1, 0600),
	    CUST_OK);
	assert_int_equal(util_read_file(p, 10, &buf, &len), CUST_OK);
	assert_string_equal(buf, "x");
	free(buf);
	assert_int_equal(util_create_file(q, "z", 1, 0600), CUST_E_EXISTS);
	assert_int_equal(util_read_file(q, 10, &buf, &len), CUST_OK);
	assert_string_equal(buf, "y");
	free(buf);
	assert_int_equal(util_create_file_at(dfd, "real/g", "z", 1, 0600),
	    CUST_E_EXISTS);
	assert_int_equal(util_create_file_at(dfd, "sub/h", "z", 1, 0600),
	    CUST_E_PERM);
	assert_int_equal(util_read_file(q, 10, &buf, &len), CUST_OK);
	assert_string_equal(buf, "y");
	free(buf);
	assert_int_equal(util_unlink_at(dfd, "real/g"), CUST_OK);
	assert_int_equal(util_create_file_at(dfd, "real/g", "w", 1, 0600),
	    CUST_OK);
	assert_int_equal(util_read_file(q, 10, &buf, &len), CUST_OK);
	assert_string_equal(buf, "w");
	free(buf);
	assert_int_equal(util_unlink_at(dfd, "real/g"), CUST_OK);
	assert_int_equal(util_create_file(q, "z", 1, 0600), CUST_OK);
	assert_int_equal(util_unlink_at(dfd, "real/none"), CUST_OK);
	/* Directories: ours, not writable by others. */
	assert_int_equal(util_check_dir(dfd, dir), CUST_OK);
	assert_int_equal(chmod(dir, 0722), 0);
	assert_int_equal(util_check_dir(dfd, dir), CUST_E_PERM);
	assert_int_equal(chmod(dir, 0700), 0);
	close(dfd);
	tu_rmrf(dir);
	free(p);
	free(q);
	free(dir);
}

/* util_mkdirs_at(): missing directories made with the mode, never
 * through a link, and refused when what stands there is not ours. */
static void
test_mkdirs_at(void **state)
{
	char *dir = tu_tmpdir(), *p;
	struct stat sb;
	int dfd, fd = -1;

	(void)state;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(util_mkdirs_at(dfd, "a/b/c", 0700, &fd), CUST_OK);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	close(fd);
	p = util_path(dir, "a/b");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	free(p);
	/* Existing and ours: fine (the same path again). */
	assert_int_equal(util_mkdirs_at(dfd, "a/b/c", 0700, &fd), CUST_OK);
	close(fd);
	/* A link on the way is refused, nothing made behind it. */
	p = util_path(dir, "l");
	assert_int_equal(symlink("a", p), 0);
	free(p);
	assert_int_equal(util_mkdirs_at(dfd, "l/x", 0700, &fd), CUST_E_PERM);
	assert_int_equal(fd, -1);
	p = util_path(dir, "a/x");
	assert_int_equal(stat(p, &sb), -1);
	free(p);
	/* A directory writable by others in the place of one to make. */
	p = util_path(dir, "w");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 0777), 0);
	free(p);
	assert_int_equal(util_mkdirs_at(dfd, "w/x", 0700, &fd), CUST_E_PERM);
	assert_int_equal(util_mkdirs_at(dfd, "../x", 0700, &fd),
	    CUST_E_INVAL);
	close(dfd);
	tu_rmrf(dir);
	free(dir);
}

/* The clock: CUSTODY_TEST_NOW is read at the first util_now() of the
 * process (this test runs first), util_test_clock() overrides it. */
static void
test_clock(void **state)
{
	int64_t real;

	assert_int_equal(setenv("CUSTODY_TEST_NOW", "@1900000000", 1), 0);
	assert_int_equal(util_now(), 1900000000);
	sleep(1);
	assert_int_equal(util_now(), 1900000000);	/* stopped */
	real = (int64_t)time(NULL);
	util_test_clock(-86400, 0);
	assert_true(util_now() >= real - 86400 &&
	    util_now() <= (int64_t)time(NULL) - 86400);
	util_test_clock(0, 42);
	assert_int_equal(util_now(), 42);
	util_test_clock(0, 0);
	assert_true(util_now() >= real && util_now() <= (int64_t)time(NULL));
}

/* Device addresses (device add|set --address). */
static void
test_address(void **state)
{
	char host[UTIL_HOST_MAX + 1];
	unsigned port;
	static const char *bad[] = { "", ":1", "host:", "host:0", "host:65535",
	    "host:99999", "host:12a", "host:+1", "-host", "a..b", "[::1",
	    "[::1]x", "[zz::1]:5", "1.2.3", "host name", "host:01",
	    "h/o", "1.2.3.4:5:6", NULL };
	size_t i;

	(void)state;
	assert_int_equal(util_parse_address("127.0.0.1:20000", host,
	    sizeof(host), &port), CUST_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 20000);
	assert_int_equal(util_parse_address("gw.example.com", host,
	    sizeof(host), &port), CUST_OK);
	assert_string_equal(host, "gw.example.com");
	assert_int_equal(port, 0);
	assert_int_equal(util_parse_address("localhost:16992", host,
	    sizeof(host), &port), CUST_OK);
	assert_int_equal(util_parse_address("[::1]:8080", host, sizeof(host),
	    &port), CUST_OK);
	assert_string_equal(host, "[::1]");
	assert_int_equal(port, 8080);
	assert_int_equal(util_parse_address("host:65534", NULL, 0, NULL),
	    CUST_OK);
	for (i = 0; bad[i] != NULL; i++)
		if (util_parse_address(bad[i], host, sizeof(host), &port) !=
		    CUST_E_INVAL)
			fail_msg("'%s' accepted", bad[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),	/* first: reads the environment */
		cmocka_unit_test(test_fqdn),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_read_bounded),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_fail_escapes),
		cmocka_unit_test(test_write_at),
		cmocka_unit_test(test_mkdirs_at),
		cmocka_unit_test(test_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
