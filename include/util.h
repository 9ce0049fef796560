/* SPDX-License-Identifier: MIT */
/* include/util.h - small utilities shared by every module: bounded file
 * reading, safe file creation, number parsing, name validation, time. */
#ifndef CUST_UTIL_H
#define CUST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CUST_MAX_FQDN 253

/* Process-wide start-up: libsodium init with its fast userspace CSPRNG,
 * core dumps and ptrace attach disabled, jansson set to wipe what it frees.
 * Returns CUST_OK or an error. Call once before anything else. */
int cust_init(void) __attribute__((warn_unused_result));

/* Read a whole file of at most max bytes into a new NUL-terminated buffer
 * (free with free(); wipe first if it may hold secrets). *len_out gets the
 * length without the NUL. Larger files: CUST_E_TOOBIG. "-" reads stdin. */
int util_read_file(const char *path, size_t max, char **buf_out,
    size_t *len_out) __attribute__((warn_unused_result));

/* Write buf to path atomically (temp file + fsync + rename) with mode. */
int util_write_file(const char *path, const void *buf, size_t len,
    unsigned mode) __attribute__((warn_unused_result));

/* Refuse a secret file that is not a regular file owned by the effective
 * user with no group/other permission bits (CUST_E_PERM, with a message). */
int util_check_secrecy(const char *path) __attribute__((warn_unused_result));

/* Parse a whole decimal string into [min, max]; CUST_E_INVAL otherwise. */
int util_parse_long(const char *s, long min, long max, long *out)
	__attribute__((warn_unused_result));

/* FQDN: 1-253 chars, dot-separated labels of 1-63 [A-Za-z0-9-], not
 * starting or ending with '-', at least two labels. CUST_E_INVAL when bad. */
int util_valid_fqdn(const char *s) __attribute__((warn_unused_result));

/* AMT UUID: 8-4-4-4-12 hex digits. */
int util_valid_uuid(const char *s) __attribute__((warn_unused_result));

/* AMT digest realm: "Digest:" + 32 hex digits. */
int util_valid_digest_realm(const char *s) __attribute__((warn_unused_result));

/* Tag: 1-64 chars of [A-Za-z0-9._-]. */
int util_valid_tag(const char *s) __attribute__((warn_unused_result));

/* Lowercase an ASCII string in place; returns s. */
char *util_lower(char *s);

/* 8 bytes big-endian: the one integer encoding of MACs and records. */
void util_be64_put(unsigned char b[8], uint64_t v);
uint64_t util_be64_get(const unsigned char b[8]);

/* Current time, seconds since the epoch (UTC). */
int64_t util_now(void);

/* Format t as RFC 3339 UTC ("2026-11-27T20:38:52Z") into buf (>= 21). */
void util_fmt_time(int64_t t, char *buf, size_t len);

/* Join dir and name into a new string (free with free()); NULL on ENOMEM. */
char *util_path(const char *dir, const char *name);

/* mkdir -p with mode for the last component. */
int util_mkdirs(const char *path, unsigned mode)
	__attribute__((warn_unused_result));

/* True when stdout is a terminal (progress output goes to stderr then). */
int util_isatty_err(void);

#endif
