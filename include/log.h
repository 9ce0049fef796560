/* SPDX-License-Identifier: MIT */
/* include/log.h - one line per event on stderr, by level. */
#ifndef CUST_LOG_H
#define CUST_LOG_H

/*
 * What modules report that is not an answer to the caller: a warning that
 * cannot change the result (a counter that lags, an audit entry that could
 * not be written after a failure), progress and debugging detail. Answers
 * and refusals still go through cust_fail()/cust_errmsg(); a program's own
 * messages to its user (custodyctl's usage and errors) stay in the program.
 *
 * One event is one line, written with a single write(2) so lines from
 * several threads or processes never interleave:
 *
 *     [TIME ]IDENT: LEVEL: [FUNC: ]MESSAGE[: STRERROR]
 *
 * TIME (RFC 3339, from util_now()) only with log_set_time(1), as a daemon
 * logging to a plain file wants; IDENT is "custody" unless log_init() set
 * the program's name. The message is escaped with util_escape() (control
 * characters, ESC and newlines included, become \n, \xHH...), so a name
 * from a request cannot forge a line or drive a terminal; a line longer
 * than LOG_LINE_MAX is cut (at a character boundary) and ends in "...".
 *
 * Never a secret: the API takes format strings and plain values only, no
 * struct seal_secret; name devices, kinds, versions, key IDs and
 * fingerprints, as error messages do.
 *
 * Thread-safe. libc only (custody-policy may link it).
 */

/* Levels, most severe first; an event is written when its level is at or
 * above (numerically at most) the level set. */
#define LOG_LEVEL_ERROR	0
#define LOG_LEVEL_WARN	1
#define LOG_LEVEL_INFO	2
#define LOG_LEVEL_DEBUG	3

/* The longest line written, newline included. */
#define LOG_LINE_MAX	2048

/* Name the program in every line (borrowed: a string literal or argv[0]
 * that outlives logging) and take the level from the environment variable
 * CUSTODY_LOG_LEVEL when set and valid (error, warn, info, debug). */
void log_init(const char *ident);

/* Set the level (LOG_LEVEL_*; values outside are clamped). Default: warn. */
void log_set_level(int level);

/* The level set. */
int log_get_level(void);

/* "error", "warn", "info" or "debug" to LOG_LEVEL_*, into *level_out;
 * CUST_E_INVAL (nothing set) for anything else. */
int log_parse_level(const char *s, int *level_out)
	__attribute__((warn_unused_result));

/* Prefix each line with the time (1) or not (0, the default). */
void log_set_time(int on);

/* Write to fd instead of stderr (-1: back to stderr). The fd is borrowed;
 * for tests and for a daemon's log file. */
void log_set_fd(int fd);

/*
 * Hold this thread's info and debug lines (custodyd's loop: the access
 * lines of the replies of one pass) in a buffer of LOG_HOLD_MAX bytes
 * until log_flush(), which writes them in one write(2) (one system call
 * per pass instead of per request); a full buffer is written first.
 * Warnings and errors are never held: they write what waits, then
 * themselves, at once, so nothing held delays or reorders them. Holds do
 * not nest; other threads are not affected. At most LOG_HOLD_MAX bytes
 * per write, no more than PIPE_BUF: a write to a pipe is not split.
 */
#define LOG_HOLD_MAX	4096
void log_hold(void);
void log_flush(void);

/* Write one event at level: func (may be NULL) names the function (the
 * _f macros pass __func__), errnum != 0 appends strerror(errnum). Keeps
 * errno and the thread's cust_errmsg() as they were. */
void log_emit(int level, const char *func, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The usual entries (OpenBSD log.h): log_warn adds strerror(errno),
 * log_warnx does not; the _f forms add the function's name. */
#define log_error(...)	log_emit(LOG_LEVEL_ERROR, NULL, 0, __VA_ARGS__)
#define log_warn(...)	log_emit(LOG_LEVEL_WARN, NULL, errno, __VA_ARGS__)
#define log_warnx(...)	log_emit(LOG_LEVEL_WARN, NULL, 0, __VA_ARGS__)
#define log_info(...)	log_emit(LOG_LEVEL_INFO, NULL, 0, __VA_ARGS__)
#define log_debug(...)	log_emit(LOG_LEVEL_DEBUG, NULL, 0, __VA_ARGS__)
#define log_error_f(...) log_emit(LOG_LEVEL_ERROR, __func__, 0, __VA_ARGS__)
#define log_warn_f(...)	log_emit(LOG_LEVEL_WARN, __func__, errno, __VA_ARGS__)
#define log_warnx_f(...) log_emit(LOG_LEVEL_WARN, __func__, 0, __VA_ARGS__)
#define log_info_f(...)	log_emit(LOG_LEVEL_INFO, __func__, 0, __VA_ARGS__)
#define log_debug_f(...) log_emit(LOG_LEVEL_DEBUG, __func__, 0, __VA_ARGS__)

#endif
