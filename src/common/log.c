/* SPDX-License-Identifier: MIT */
/* src/common/log.c - one line per event on stderr, by level (log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"

/* Settings: written at start-up (or by tests), read by every thread. */
static _Atomic int log_level = LOG_LEVEL_WARN;
static _Atomic int log_time;
static _Atomic int log_fd = -1;
static const char *_Atomic log_ident = "custody";

static const char *const names[] = { "error", "warn", "info", "debug" };

void
log_set_level(int level)
{
	if (level < LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	atomic_store(&log_level, level);
}

int
log_get_level(void)
{
	return atomic_load(&log_level);
}

int
log_parse_level(const char *s, int *level_out)
{
	int i;

	for (i = LOG_LEVEL_ERROR; s != NULL && i <= LOG_LEVEL_DEBUG; i++)
		if (strcmp(s, names[i]) == 0) {
			*level_out = i;
			return CUST_OK;
		}
	return CUST_E_INVAL;
}

void
log_init(const char *ident)
{
	int level;

	if (ident != NULL)
		atomic_store(&log_ident, ident);
	if (log_parse_level(getenv("CUSTODY_LOG_LEVEL"), &level) == CUST_OK)
		log_set_level(level);
}

void
log_set_time(int on)
{
	atomic_store(&log_time, on != 0);
}

void
log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

/* This thread's held lines (log_hold()). */
_Static_assert(LOG_LINE_MAX <= LOG_HOLD_MAX, "a line fits in the held buffer");
static _Thread_local struct {
	int on;
	size_t len;
	char buf[LOG_HOLD_MAX];
} held;

static void
out(int fd, const char *p, size_t len)
{
	if (write(fd >= 0 ? fd : STDERR_FILENO, p, len) < 0) {
		/* Nowhere left to say so. */
	}
}

void
log_hold(void)
{
	held.on = 1;
}

static void
held_write(int fd)
{
	if (held.len > 0)
		out(fd, held.buf, held.len);
	held.len = 0;
}

void
log_flush(void)
{
	held_write(atomic_load(&log_fd));
	held.on = 0;
}

/*
 * Build the whole line in one buffer, then one write(2): the prefix, the
 * message formatted into a scratch buffer and escaped into the line (so
 * nothing a caller passes can end the line early), "..." when cut.
 */
void
log_emit(int level, const char *func, int errnum, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], msg[LOG_LINE_MAX], when[32];
	int saved = errno, fd = atomic_load(&log_fd), n;
	size_t len = 0, room, need;
	va_list ap;

	if (level > atomic_load(&log_level))
		return;
	if (level < LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	if (errnum != 0) {
		size_t m = strlen(msg);

		snprintf(msg + m, sizeof(msg) - m, ": %s", strerror(errnum));
	}
	if (atomic_load(&log_time)) {
		util_fmt_time(util_now(), when, sizeof(when));
		len = (size_t)snprintf(line, sizeof(line), "%s ", when);
	}
	len += (size_t)snprintf(line + len, sizeof(line) - len, "%s: %s: ",
	    atomic_load(&log_ident), names[level]);
	if (func != NULL && len < sizeof(line))
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s: ",
		    func);
	/* Room for the message, "..." and the newline. */
	room = len + 5 < sizeof(line) ? sizeof(line) - len - 4 : 1;
	if (len >= sizeof(line) - 5)
		len = sizeof(line) - 5;
	need = util_escape(msg, line + len, room);
	len += strlen(line + len);
	if (need >= room || (size_t)n >= sizeof(msg)) {
		memcpy(line + len, "...", 3);
		len += 3;
	}
	line[len++] = '\n';
	if (held.on && level >= LOG_LEVEL_INFO) {
		if (held.len + len > sizeof(held.buf))
			held_write(fd);
		memcpy(held.buf + held.len, line, len);
		held.len += len;
	} else {
		held_write(fd);
		out(fd, line, len);
	}
	errno = saved;
}
