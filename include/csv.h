/* SPDX-License-Identifier: MIT */
/* include/csv.h - RFC 4180 CSV reader for device import.
 *
 * Fields may be quoted ("a ""b"", c"), quoted fields may span lines, CRLF
 * or LF ends a record, blank lines are skipped. Limits: CSV_MAX_FIELDS
 * fields per record, CSV_MAX_FIELD bytes per field. Field memory is wiped
 * after each callback because imported rows may carry passwords.
 */
#ifndef CUST_CSV_H
#define CUST_CSV_H

#include <stddef.h>

#define CSV_MAX_FIELDS	32
#define CSV_MAX_FIELD	4096

/* Call row(arg, line, fields, n) for each record; line is the 1-based line
 * where the record starts; fields are borrowed NUL-terminated strings. A
 * non-zero return from row stops and is returned. Malformed input gives
 * CUST_E_PARSE with "line N: ..." in cust_errmsg(). */
int csv_parse(const char *buf, size_t len,
    int (*row)(void *arg, size_t line, char **fields, size_t n), void *arg)
	__attribute__((warn_unused_result));

#endif
