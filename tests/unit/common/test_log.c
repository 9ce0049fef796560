/* SPDX-License-Identifier: MIT */
/* tests/unit/common/test_log.c - the log module: format, levels, escaping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "log.h"
#include "util.h"

static FILE *sink;
static char got[2 * LOG_LINE_MAX + 1];

static int
setup(void **state)
{
	sink = tmpfile();
	if (sink == NULL)
		return -1;
	log_set_fd(fileno(sink));
	log_set_level(LOG_LEVEL_WARN);
	log_set_time(0);
	return 0;
}

static int
teardown(void **state)
{
	log_set_fd(-1);
	log_set_time(0);
	util_test_clock(0, 0);
	fclose(sink);
	return 0;
}

/* Everything written since the last call, as a string. */
static const char *
drain(void)
{
	ssize_t n;

	assert_int_equal(lseek(fileno(sink), 0, SEEK_SET), 0);
	n = read(fileno(sink), got, sizeof(got) - 1);
	assert_true(n >= 0);
	got[n] = '\0';
	assert_int_equal(ftruncate(fileno(sink), 0), 0);
	assert_int_equal(lseek(fileno(sink), 0, SEEK_SET), 0);
	return got;
}

static void
test_format(void **state)
{
	log_init("custodytest");
	log_warnx("device %s version %d", "a.corp.example", 3);
	assert_string_equal(drain(), "custodytest: warn: device a.corp.example "
	    "version 3\n");
	log_error_f("broken");
	assert_string_equal(drain(), "custodytest: error: test_format: "
	    "broken\n");
	errno = ENOENT;
	log_warn("open %s", "x");
	assert_string_equal(drain(), "custodytest: warn: open x: No such file "
	    "or directory\n");
	assert_int_equal(errno, ENOENT);	/* kept */
	/* The detail buffer of the thread is not touched. */
	cust_fail(CUST_E_INVAL, "the caller's error");
	log_warnx("something else");
	assert_string_equal(cust_errmsg(), "the caller's error");
	drain();
	/* With the time, from custody's clock. */
	util_test_clock(0, 1900000000);
	log_set_time(1);
	log_warnx("t");
	assert_string_equal(drain(), "2030-03-17T17:46:40Z custodytest: warn: "
	    "t\n");
}

static void
test_levels(void **state)
{
	int level = -1;

	log_set_level(LOG_LEVEL_WARN);
	log_info("hidden");
	log_debug("hidden");
	assert_string_equal(drain(), "");
	log_error("shown");
	log_warnx("shown");
	assert_int_equal(strlen(drain()) > 0, 1);
	assert_non_null(strstr(got, "error: shown\n"));
	assert_non_null(strstr(got, "warn: shown\n"));
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("now");
	assert_non_null(strstr(drain(), "debug: now\n"));
	log_set_level(LOG_LEVEL_ERROR);
	log_warnx("hidden");
	assert_string_equal(drain(), "");
	log_set_level(99);		/* clamped */
	assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
	assert_int_equal(log_parse_level("info", &level), CUST_OK);
	assert_int_equal(level, LOG_LEVEL_INFO);
	assert_int_equal(log_parse_level("verbose", &level), CUST_E_INVAL);
	assert_int_equal(log_parse_level(NULL, &level), CUST_E_INVAL);
	assert_int_equal(level, LOG_LEVEL_INFO);
	/* From the environment. */
	assert_int_equal(setenv("CUSTODY_LOG_LEVEL", "error", 1), 0);
	log_init(NULL);
	assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
	assert_int_equal(setenv("CUSTODY_LOG_LEVEL", "loud", 1), 0);
	log_init(NULL);
	assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
	unsetenv("CUSTODY_LOG_LEVEL");
}

/* A name from a request cannot forge a line or drive a terminal. */
static void
test_escaped(void **state)
{
	const char *s;

	log_init("custodytest");
	log_warnx("refused %s", "evil\ncustodytest: warn: forged\x1b[31m\r");
	s = drain();
	assert_string_equal(s, "custodytest: warn: refused evil\\ncustodytest:"
	    " warn: forged\\x1b[31m\\r\n");
	/* One line per event, always. */
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
}

/* A long message is cut at a character, ends in "..." and one newline. */
static void
test_long(void **state)
{
	char *big = malloc(3 * LOG_LINE_MAX);
	const char *s;
	size_t len;

	assert_non_null(big);
	memset(big, 'a', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	big[LOG_LINE_MAX - 40] = '\x01';	/* an escape near the cut */
	log_warnx("%s", big);
	s = drain();
	len = strlen(s);
	assert_true(len <= LOG_LINE_MAX);
	assert_string_equal(s + len - 4, "...\n");
	assert_ptr_equal(strchr(s, '\n'), s + len - 1);
	assert_non_null(strstr(s, "\\x01"));
	free(big);
}

/* Held lines (log_hold(): custodyd's loop, one write per pass): info
 * lines wait for log_flush(), a warning writes them first and itself at
 * once, a full buffer is written, nothing is lost or reordered. */
static void
test_hold(void **state)
{
	static char all[3 * LOG_HOLD_MAX];
	char want[64];
	const char *s, *p;
	size_t n;
	int i;

	log_init("custodytest");
	log_set_level(LOG_LEVEL_INFO);
	log_hold();
	log_info("one");
	log_info("two");
	assert_string_equal(drain(), "");
	log_warnx("three");
	assert_string_equal(drain(), "custodytest: info: one\n"
	    "custodytest: info: two\ncustodytest: warn: three\n");
	log_info("four");
	assert_string_equal(drain(), "");
	log_flush();
	assert_string_equal(drain(), "custodytest: info: four\n");
	log_info("five");	/* no longer held */
	assert_string_equal(drain(), "custodytest: info: five\n");
	/* More than the buffer holds (50 lines of about 100 bytes): whole
	 * lines written when it is full, the rest at the flush, in order. */
	log_hold();
	for (i = 0; i < 50; i++)
		log_info("line %03d %s", i, "................................"
		    "........................................");
	s = drain();
	n = strlen(s);
	assert_true(n > 0 && n <= LOG_HOLD_MAX && s[n - 1] == '\n');
	memcpy(all, s, n);
	log_flush();
	s = drain();
	assert_true(n + strlen(s) < sizeof(all));
	memcpy(all + n, s, strlen(s) + 1);
	for (p = all, i = 0; i < 50; i++) {
		snprintf(want, sizeof(want), "custodytest: info: line %03d ",
		    i);
		assert_memory_equal(p, want, strlen(want));
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	assert_string_equal(p, "");
	log_set_level(LOG_LEVEL_WARN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
