/* SPDX-License-Identifier: MIT */
/* tests/unit/common/test_csv.c - RFC 4180 reader, good and malformed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "err.h"
#include "testutil.h"

struct got {
	char out[2048];
	size_t rows;
	size_t lines[16];
};

static int
collect(void *arg, size_t line, char **f, size_t n)
{
	struct got *g = arg;
	size_t i, used = strlen(g->out);

	if (g->rows < 16)
		g->lines[g->rows] = line;
	g->rows++;
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(g->out + used, sizeof(g->out) - used,
		    "%s%s", i ? "|" : "", f[i]);
	snprintf(g->out + used, sizeof(g->out) - used, ";");
	return 0;
}

static void
parse_ok(const char *in, const char *want, size_t rows)
{
	struct got g = { .rows = 0 };

	if (csv_parse(in, strlen(in), collect, &g) != CUST_OK)
		fail_msg("'%s': %s", in, cust_errmsg());
	assert_string_equal(g.out, want);
	assert_int_equal(g.rows, rows);
}

static void
test_good(void **state)
{
	(void)state;
	parse_ok("a,b,c\n1,2,3\n", "a|b|c;1|2|3;", 2);
	parse_ok("a,b\r\n1,2\r\n", "a|b;1|2;", 2);
	parse_ok("a,b\n1,2", "a|b;1|2;", 2);		/* no final newline */
	parse_ok("a,b\n\n1,2\n\n", "a|b;1|2;", 2);	/* blank lines */
	parse_ok("\"x,y\",\"he said \"\"hi\"\"\"\n", "x,y|he said \"hi\";", 1);
	parse_ok("a,,c\n", "a||c;", 1);			/* empty field */
	parse_ok("a,\n", "a|;", 1);			/* trailing empty */
	parse_ok("\xef\xbb\xbf" "a\n", "a;", 1);	/* BOM */
	parse_ok("\"multi\nline\",x\n", "multi\nline|x;", 1);
}

static void
test_lines(void **state)
{
	struct got g = { .rows = 0 };
	const char *in = "h\n\"a\nb\"\nc\n";

	(void)state;
	assert_int_equal(csv_parse(in, strlen(in), collect, &g), CUST_OK);
	assert_int_equal(g.rows, 3);
	assert_int_equal(g.lines[0], 1);
	assert_int_equal(g.lines[1], 2);
	assert_int_equal(g.lines[2], 4);
}

static void
parse_bad(const char *in, size_t len, const char *msg)
{
	struct got g = { .rows = 0 };

	assert_int_equal(csv_parse(in, len, collect, &g), CUST_E_PARSE);
	if (strstr(cust_errmsg(), msg) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", in, cust_errmsg(), msg);
}

static void
test_bad(void **state)
{
	char big[CSV_MAX_FIELD + 10];
	char many[CSV_MAX_FIELDS * 2 + 4];
	size_t i;

	(void)state;
	parse_bad("a\n\"open\n", 8, "line 2: quoted field is not closed");
	parse_bad("a\n\"x\"y\n", 7, "line 2: stray quote");
	parse_bad("a\nx\"y\n", 6, "line 2: stray quote");
	parse_bad("a\nx\0y\n", 6, "line 2: NUL byte");
	memset(big, 'x', sizeof(big));
	parse_bad(big, sizeof(big), "longer than");
	for (i = 0; i < sizeof(many); i += 2) {
		many[i] = 'a';
		many[i + 1] = ',';
	}
	parse_bad(many, sizeof(many), "more than");
	parse_bad("a\nq1,a\rb\n", 10, "line 2: carriage return");
}

/* Exactly CSV_MAX_FIELDS fields is fine, one more is not. */
static void
test_field_limit(void **state)
{
	char line[CSV_MAX_FIELDS * 2 + 2];
	struct got g = { .rows = 0 };
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < CSV_MAX_FIELDS; i++) {
		line[n++] = 'a';
		line[n++] = ',';
	}
	line[n - 1] = '\n';
	assert_int_equal(csv_parse(line, n, collect, &g), CUST_OK);
	assert_int_equal(g.rows, 1);
	line[n - 1] = ',';
	line[n++] = 'b';
	assert_int_equal(csv_parse(line, n, collect, &g), CUST_E_PARSE);
}

static int
stop_cb(void *arg, size_t line, char **f, size_t n)
{
	(void)arg;
	(void)f;
	(void)n;
	return line == 2 ? -42 : 0;
}

static void
test_stop(void **state)
{
	(void)state;
	assert_int_equal(csv_parse("a\nb\nc\n", 6, stop_cb, NULL), -42);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_field_limit),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
