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

/* An allocator that wipes every block before it goes back to malloc's
 * (a header in front of each block keeps its size; realloc copies and
 * wipes the old block). jansson uses it after cust_init(); custodyd gives
 * it to libevent, whose buffers hold request and reply bodies. Blocks
 * are freed with cust_wipe_free() only. */
void *cust_wipe_malloc(size_t n);
void *cust_wipe_realloc(void *p, size_t n);
void cust_wipe_free(void *p);

/* curl_global_init() with the wiping allocator, so what libcurl buffers
 * (replies holding passwords, requests holding DigestPasswords) is wiped
 * when freed. Call it before any other libcurl call of the process (a
 * block allocated before would be freed by the other allocator); each
 * call is paired with curl_global_cleanup() or kept for the process. */
int cust_curl_init(void) __attribute__((warn_unused_result));

/* Read a whole file of at most max bytes into a new NUL-terminated buffer
 * (free with free(); wipe first if it may hold secrets). *len_out gets the
 * length without the NUL. Larger files: CUST_E_TOOBIG. "-" reads stdin. */
int util_read_file(const char *path, size_t max, char **buf_out,
    size_t *len_out) __attribute__((warn_unused_result));

/* The same from the open descriptor fd (not closed; path names it in
 * messages). */
int util_read_fd(int fd, const char *path, size_t max, char **buf_out,
    size_t *len_out) __attribute__((warn_unused_result));

/* Write buf to path atomically (temp file + fsync + rename + fsync of
 * the directory) with mode. The directories of path are followed as
 * given; the file itself is replaced, never written through a link. */
int util_write_file(const char *path, const void *buf, size_t len,
    unsigned mode) __attribute__((warn_unused_result));

/* The same, but an existing file (or link) at path is never replaced:
 * CUST_E_EXISTS, checked atomically with the rename. */
int util_create_file(const char *path, const void *buf, size_t len,
    unsigned mode) __attribute__((warn_unused_result));

/*
 * The same under an open directory: rel ("ca/bundle.pem") is resolved
 * relative to dirfd one component at a time with O_NOFOLLOW, so a symlink
 * anywhere below dirfd is refused (CUST_E_PERM), never followed.
 */
int util_write_file_at(int dirfd, const char *rel, const void *buf,
    size_t len, unsigned mode) __attribute__((warn_unused_result));

/* util_write_file_at(), but an existing file (or link) at rel is never
 * replaced: CUST_E_EXISTS, checked atomically with the rename. */
int util_create_file_at(int dirfd, const char *rel, const void *buf,
    size_t len, unsigned mode) __attribute__((warn_unused_result));

/* Open directory rel under dirfd without following any symlink ("." or ""
 * for dirfd itself); *fd_out is a new descriptor (close()). A symlink on
 * the way: CUST_E_PERM; absent: CUST_E_NOTFOUND; not a directory:
 * CUST_E_IO. */
int util_open_dir_at(int dirfd, const char *rel, int *fd_out)
	__attribute__((warn_unused_result));

/* Create the missing directories of rel under dirfd with mode (0700 for
 * output directories), each in its open parent, then opened without
 * following a symlink and refused unless owned by the effective user and
 * not writable by group or others (util_check_dir()); *fd_out is the last
 * one, open (close()). ".." in rel: CUST_E_INVAL; a symlink on the way:
 * CUST_E_PERM. */
int util_mkdirs_at(int dirfd, const char *rel, unsigned mode, int *fd_out)
	__attribute__((warn_unused_result));

/* Open the directory holding rel as util_open_dir_at() does; *leaf_out
 * points at the last component of rel (borrowed from rel). */
int util_open_parent_at(int dirfd, const char *rel, int *fd_out,
    const char **leaf_out) __attribute__((warn_unused_result));

/* Remove file rel under dirfd (no symlink followed on the way; a symlink
 * as the last component is removed itself). Absent: CUST_OK. */
int util_unlink_at(int dirfd, const char *rel)
	__attribute__((warn_unused_result));

/* Refuse the file whose fstat() is st (named shown in messages) unless it
 * is a regular file owned by the effective user and not writable by group
 * or others (CUST_E_PERM, with a message). */
struct stat;
int util_check_file(const struct stat *st, const char *shown)
	__attribute__((warn_unused_result));

/* Refuse the open directory fd (named shown in messages) unless it is a
 * directory owned by the effective user and not writable by group or
 * others (CUST_E_PERM, with a message). */
int util_check_dir(int fd, const char *shown)
	__attribute__((warn_unused_result));

/* Refuse a secret file that is not a regular file owned by the effective
 * user with no group/other permission bits (CUST_E_PERM, with a message). */
int util_check_secrecy(const char *path) __attribute__((warn_unused_result));

/* util_check_secrecy() of the open file fd (shown: its name in messages),
 * for a file opened once with O_NOFOLLOW and then read through fd. */
int util_check_secrecy_fd(int fd, const char *shown)
	__attribute__((warn_unused_result));

/* Parse a whole decimal string into [min, max]; CUST_E_INVAL otherwise. */
int util_parse_long(const char *s, long min, long max, long *out)
	__attribute__((warn_unused_result));

/* FQDN: 1-253 chars, dot-separated labels of 1-63 [A-Za-z0-9-], not
 * starting or ending with '-', at least two labels, the last one not all
 * digits (so no IPv4 address or number passes). CUST_E_INVAL when bad. */
int util_valid_fqdn(const char *s) __attribute__((warn_unused_result));

/* AMT UUID: 8-4-4-4-12 hex digits. */
int util_valid_uuid(const char *s) __attribute__((warn_unused_result));

/* AMT digest realm: "Digest:" + 32 hex digits. */
int util_valid_digest_realm(const char *s) __attribute__((warn_unused_result));

/* Tag: 1-64 chars of [A-Za-z0-9._-]. */
int util_valid_tag(const char *s) __attribute__((warn_unused_result));

/* A device's network address as the registry keeps it (device add|set
 * --address): HOST[:PORT], HOST a host name (one label or an FQDN), a
 * dotted IPv4 address or a bracketed IPv6 address, PORT 1-65534 without
 * leading zeros (the AMT HTTP port; TLS is PORT + 1). CUST_OK when s is
 * one, else CUST_E_INVAL with a message quoting at most 80 characters of
 * it. host_out (len bytes, may be NULL) gets HOST (brackets kept),
 * *port_out (may be NULL) PORT or 0 when absent. */
#define UTIL_HOST_MAX		255
#define UTIL_ADDRESS_MAX	(UTIL_HOST_MAX + 6)
int util_parse_address(const char *s, char *host_out, size_t len,
    unsigned *port_out) __attribute__((warn_unused_result));

/* Kerberos realm as custody writes it (the policy's directory, the
 * configuration's AD and MIT realms): upper case, 1 or more of
 * [A-Z0-9.-], such as CORP.EXAMPLE. */
int util_valid_realm(const char *s) __attribute__((warn_unused_result));

/* The valid UTF-8 character at s: its length (1-4) and *cp_out, or 0
 * when the byte at s starts none (overlong, surrogate, above U+10FFFF, cut
 * short, a stray continuation byte). */
size_t util_utf8_char(const unsigned char *s, uint32_t *cp_out);

/* Whether code point cp must not reach a terminal, a log, XML or a review
 * as it is: C0 and C1 controls, DEL, the bidirectional marks, overrides
 * and isolates that make text read differently from what it is, and the
 * Unicode noncharacters (not allowed in XML 1.0). */
int util_unsafe_cp(uint32_t cp);

/*
 * Text-safe form of untrusted text (names, CSR fields, file content echoed
 * in messages) for terminals and line-oriented output: every byte of an
 * unsafe character (util_unsafe_cp()) and every byte that is not part of
 * valid UTF-8 becomes \n, \r, \t or \xHH; everything else, printable
 * UTF-8 included, passes unchanged. A backslash is not escaped, so escaping is idempotent:
 * the output has nothing left to escape, and a message quoted into another
 * message (cust_fail("%s", cust_errmsg())) is not escaped twice.
 *
 * util_escape writes at most len - 1 bytes and a NUL into buf (len > 0),
 * never cutting an escape or a character, and returns the length the whole
 * escaped text needs without the NUL (as snprintf does).
 */
size_t util_escape(const char *s, char *buf, size_t len);

/* Whether util_escape() would change s. */
int util_needs_escape(const char *s);

/* The escaped form of s as a new string (free()); NULL on ENOMEM. */
char *util_escape_dup(const char *s);

/* Lowercase an ASCII string in place; returns s. */
char *util_lower(char *s);

/* 8 bytes big-endian: the one integer encoding of MACs and records. */
void util_be64_put(unsigned char b[8], uint64_t v);
uint64_t util_be64_get(const unsigned char b[8]);

/*
 * The one clock: current time, seconds since the epoch (UTC). Every read
 * of "now" in src/ goes through it (SQL included: bind it, never
 * strftime('%s','now')), so tests can move time instead of editing rows.
 *
 * Tests move it for a whole process with the environment variable
 * CUSTODY_TEST_NOW, read once: "+N" or "-N" runs the clock N seconds
 * ahead of (behind) the real one, "@N" stops it at the epoch time N.
 * Like CUSTODY_TEST_CRASH_AT it is a test hook; a malformed value is
 * ignored. Unit tests use util_test_clock() instead (it wins over the
 * environment). Thread-safe.
 */
int64_t util_now(void);

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks
 * since boot), -1 when it does not exist: with the pid, names a process
 * that a later one reusing the number is told apart from. */
long long util_proc_start(long long pid);

/* Test hook: from now on util_now() returns the real time plus offset, or
 * the fixed time `fixed` when fixed != 0 (offset then ignored).
 * util_test_clock(0, 0) gives the real clock back. */
void util_test_clock(int64_t offset, int64_t fixed);

/* Format t as RFC 3339 UTC ("2026-11-27T20:38:52Z") into buf (>= 21). */
void util_fmt_time(int64_t t, char *buf, size_t len);

/* Join dir and name into a new string (free with free()); NULL on ENOMEM. */
char *util_path(const char *dir, const char *name);

/* mkdir -p with mode for the last component. */
int util_mkdirs(const char *path, unsigned mode)
	__attribute__((warn_unused_result));

/* Test hook: when the environment variable CUSTODY_TEST_CRASH_AT equals
 * point, end the process at once with _exit(99), as a SIGKILL there would.
 * Harmless otherwise; lets tests stop a command at an exact step. */
void util_test_crash(const char *point);

/* Test hook: when the environment variable CUSTODY_TEST_STOP_AT equals
 * point, the process stops itself (SIGSTOP) there until sent SIGCONT, so
 * that a test can change the file system at an exact step. */
void util_test_stop(const char *point);

/* Test hook: when the environment variable CUSTODY_TEST_DELAY_AT equals
 * point, the calling thread sleeps CUSTODY_TEST_DELAY_MS (1..60000)
 * there, the process's other threads running on: a test watches what
 * they do meanwhile (a push's changes held while their commit waits). */
void util_test_delay(const char *point);

/* True when stdout is a terminal (progress output goes to stderr then). */
int util_isatty_err(void);

#endif
