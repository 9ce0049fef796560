/* SPDX-License-Identifier: MIT */
/* src/common/csv.c - RFC 4180 CSV reader (see include/csv.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "csv.h"
#include "err.h"

struct rec {
	char *buf;			/* all fields, NUL-separated */
	size_t len, cap;
	size_t start[CSV_MAX_FIELDS + 1];
	size_t n;
};

static int
put(struct rec *r, char c, size_t line)
{
	if (r->len - r->start[r->n] >= CSV_MAX_FIELD)
		return cust_fail(CUST_E_PARSE, "line %zu: field %zu is longer "
		    "than %d bytes", line, r->n + 1, CSV_MAX_FIELD);
	r->buf[r->len++] = c;
	return CUST_OK;
}

static int
end_field(struct rec *r, size_t line)
{
	r->buf[r->len++] = '\0';
	if (r->n >= CSV_MAX_FIELDS)
		return cust_fail(CUST_E_PARSE, "line %zu: more than %d fields",
		    line, CSV_MAX_FIELDS);
	r->n++;
	r->start[r->n] = r->len;
	return CUST_OK;
}

static void
reset(struct rec *r)
{
	sodium_memzero(r->buf, r->len);
	r->len = 0;
	r->n = 0;
	r->start[0] = 0;
}

int
csv_parse(const char *buf, size_t len,
    int (*row)(void *arg, size_t line, char **fields, size_t n), void *arg)
{
	struct rec r = { 0 };
	char *fields[CSV_MAX_FIELDS];
	size_t i = 0, line = 1, recline = 1, k;
	int ret = CUST_OK, inq, quoted, empty;

	/* Each field is at most CSV_MAX_FIELD bytes plus a NUL. */
	r.cap = (size_t)(CSV_MAX_FIELDS + 1) * (CSV_MAX_FIELD + 1);
	if ((r.buf = malloc(r.cap)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;	/* UTF-8 byte order mark */
	while (i < len) {
		reset(&r);
		recline = line;
		empty = 1;
		for (;;) {	/* fields of one record */
			inq = quoted = 0;
			if (i < len && buf[i] == '"') {
				inq = quoted = 1;
				i++;
				empty = 0;
			}
			for (; i < len; i++) {
				char c = buf[i];

				if (c == '\0') {
					ret = cust_fail(CUST_E_PARSE, "line %zu: "
					    "NUL byte in the input", line);
					goto out;
				}
				if (inq) {
					if (c == '"' && i + 1 < len &&
					    buf[i + 1] == '"') {
						i++;
					} else if (c == '"') {
						inq = 0;
						continue;
					}
					if (c == '\n')
						line++;
					if ((ret = put(&r, c, line)) != CUST_OK)
						goto out;
					continue;
				}
				if (c == '\r' && (i + 1 == len ||
				    buf[i + 1] != '\n')) {
					/* CR ends a line only as CRLF: a lone
					 * one would make line numbers lie. */
					ret = cust_fail(CUST_E_PARSE, "line %zu: "
					    "carriage return without a line feed "
					    "(quote the field, or use LF or CRLF "
					    "line ends)", line);
					goto out;
				}
				if (c == ',' || c == '\n' || c == '\r')
					break;
				if (quoted || c == '"') {
					ret = cust_fail(CUST_E_PARSE, "line %zu: "
					    "stray quote or text after a quoted "
					    "field", line);
					goto out;
				}
				empty = 0;
				if ((ret = put(&r, c, line)) != CUST_OK)
					goto out;
			}
			if (inq) {
				ret = cust_fail(CUST_E_PARSE, "line %zu: quoted "
				    "field is not closed", recline);
				goto out;
			}
			if ((ret = end_field(&r, line)) != CUST_OK)
				goto out;
			if (i < len && buf[i] == ',') {
				i++;
				empty = 0;
				continue;
			}
			break;
		}
		if (i < len && buf[i] == '\r')
			i++;
		if (i < len && buf[i] == '\n')
			i++;
		line++;
		if (empty && r.n == 1 && r.buf[0] == '\0')
			continue;	/* blank line */
		for (k = 0; k < r.n; k++)
			fields[k] = r.buf + r.start[k];
		if ((ret = row(arg, recline, fields, r.n)) != 0)
			goto out;
	}
out:
	sodium_memzero(r.buf, r.cap);
	free(r.buf);
	return ret;
}
