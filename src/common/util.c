/* SPDX-License-Identifier: MIT */
/* src/common/util.c - bounded file I/O, validation, time, process setup. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "err.h"
#include "util.h"

/*
 * jansson allocates every string it parses or builds with these. Some of
 * those strings are secrets on their way to a caller, so every block is
 * wiped before it goes back to the allocator. The size lives in a header
 * in front of the block because free() is not told it.
 */
struct wipe_hdr {
	size_t len;
	size_t pad;	/* keep the user block 16-byte aligned */
};

static void *
wipe_malloc(size_t n)
{
	struct wipe_hdr *h;

	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (h == NULL)
		return NULL;
	h->len = n;
	return h + 1;
}

static void
wipe_free(void *p)
{
	struct wipe_hdr *h;

	if (p == NULL)
		return;
	h = (struct wipe_hdr *)p - 1;
	sodium_memzero(p, h->len);
	free(h);
}

int
cust_init(void)
{
	struct rlimit rl = { 0, 0 };

	/* No core dumps and no ptrace attach: secrets live in this process. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Everything custody creates (store, WAL, keys) is for its user. */
	(void)umask(077);
	/*
	 * The internal ChaCha20 generator, seeded from getrandom(), makes
	 * randombytes_uniform() a userspace call instead of a syscall per
	 * character: bulk rotation draws millions of characters.
	 */
	if (randombytes_set_implementation(
	    &randombytes_internal_implementation) != 0)
		return cust_fail(CUST_E_CRYPTO, "cannot select libsodium RNG");
	if (sodium_init() < 0)
		return cust_fail(CUST_E_CRYPTO, "libsodium initialisation failed");
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	return CUST_OK;
}

int
util_read_file(const char *path, size_t max, char **buf_out, size_t *len_out)
{
	int fd = -1, r = CUST_E_INTERNAL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	struct stat st;

	*buf_out = NULL;
	*len_out = 0;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : CUST_E_IO,
		    "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		r = cust_fail(CUST_E_IO, "cannot stat %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = cust_fail(CUST_E_INVAL, "%s is a directory", path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		r = cust_fail(CUST_E_TOOBIG, "%s is %lld bytes, over the "
		    "limit of %zu", path, (long long)st.st_size, max);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;

			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap <= cap) {
				r = cust_fail(CUST_E_TOOBIG, "%s is over the "
				    "limit of %zu bytes", path, max);
				goto out;
			}
			if ((nb = malloc(ncap + 1)) == NULL) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				goto out;
			}
			if (buf != NULL) {
				memcpy(nb, buf, len);
				sodium_memzero(buf, len);
				free(buf);
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = cust_fail(CUST_E_IO, "cannot read %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = cust_fail(CUST_E_TOOBIG, "%s is over the limit of "
			    "%zu bytes", path, max);
			goto out;
		}
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = len;
	buf = NULL;
	r = CUST_OK;
out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	if (fd > STDIN_FILENO)
		close(fd);
	return r;
}

/* The directory holding path, opened for fsync; -1 on failure. */
static int
open_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
util_write_file(const char *path, const void *buf, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	const unsigned char *p = buf;
	int fd, r = CUST_E_IO, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return cust_fail(CUST_E_INVAL, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd == -1)
		return cust_fail(CUST_E_IO, "cannot create %s: %s", tmp,
		    strerror(errno));
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	/* Make the rename itself durable: a key file whose rename is lost
	 * in a power cut would leave the store sealed for good. */
	if ((fd = open_parent(path)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	return CUST_OK;
fail:
	r = cust_fail(CUST_E_IO, "cannot write %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return r;
}

int
util_check_secrecy(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return cust_fail(errno == ENOENT ? CUST_E_SEALED : CUST_E_IO,
		    "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cust_fail(CUST_E_PERM, "%s is not a regular file", path);
	if (st.st_uid != geteuid())
		return cust_fail(CUST_E_PERM, "%s is owned by uid %u, not by "
		    "uid %u: refusing it", path, (unsigned)st.st_uid,
		    (unsigned)geteuid());
	if ((st.st_mode & 077) != 0)
		return cust_fail(CUST_E_PERM, "%s has mode %04o; it must not be "
		    "accessible by group or others (chmod 600): refusing it",
		    path, (unsigned)(st.st_mode & 07777));
	return CUST_OK;
}

int
util_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return cust_fail(CUST_E_INVAL, "empty number");
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return cust_fail(CUST_E_INVAL, "'%s' is not a number from %ld "
		    "to %ld", s, min, max);
	*out = v;
	return CUST_OK;
}

int
util_valid_fqdn(const char *s)
{
	size_t len = strlen(s), label = 0, labels = 0, i;

	if (len == 0 || len > CUST_MAX_FQDN)
		return CUST_E_INVAL;
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return CUST_E_INVAL;
			labels++;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return CUST_E_INVAL;
		if (label == 0 && c == '-')
			return CUST_E_INVAL;
		label++;
	}
	return labels >= 2 ? CUST_OK : CUST_E_INVAL;
}

static int
all_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int
util_valid_uuid(const char *s)
{
	static const size_t groups[] = { 8, 4, 4, 4, 12 };
	size_t i;

	for (i = 0; i < 5; i++) {
		if (strlen(s) < groups[i] || !all_hex(s, groups[i]))
			return CUST_E_INVAL;
		s += groups[i];
		if (i < 4 && *s++ != '-')
			return CUST_E_INVAL;
	}
	return *s == '\0' ? CUST_OK : CUST_E_INVAL;
}

int
util_valid_digest_realm(const char *s)
{
	if (strncmp(s, "Digest:", 7) != 0 || strlen(s) != 39 ||
	    !all_hex(s + 7, 32))
		return CUST_E_INVAL;
	return CUST_OK;
}

int
util_valid_tag(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64)
		return CUST_E_INVAL;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return CUST_E_INVAL;
	return CUST_OK;
}

char *
util_lower(char *s)
{
	char *p;

	for (p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

void
util_be64_put(unsigned char b[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t
util_be64_get(const unsigned char b[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

int64_t
util_now(void)
{
	return (int64_t)time(NULL);
}

void
util_fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

char *
util_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) == -1)
		return NULL;
	return p;
}

int
util_mkdirs(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	char *p;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return cust_fail(CUST_E_INVAL, "bad directory path");
	memcpy(buf, path, n + 1);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return cust_fail(CUST_E_IO, "cannot create %s: %s", buf,
			    strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return cust_fail(CUST_E_IO, "cannot create %s: %s", buf,
		    strerror(errno));
	return CUST_OK;
}

int
util_isatty_err(void)
{
	return isatty(STDERR_FILENO);
}
