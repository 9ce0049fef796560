/* SPDX-License-Identifier: MIT */
/* src/common/util.c - bounded file I/O, validation, time (libc only:
 * custody-policy links it without libsodium; process setup is init.c). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "err.h"
#include "util.h"

int
util_read_file(const char *path, size_t max, char **buf_out, size_t *len_out)
{
	int fd, r;

	*buf_out = NULL;
	*len_out = 0;
	if (strcmp(path, "-") == 0)
		return util_read_fd(STDIN_FILENO, path, max, buf_out, len_out);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : CUST_E_IO,
		    "cannot open %s: %s", path, strerror(errno));
	r = util_read_fd(fd, path, max, buf_out, len_out);
	close(fd);
	return r;
}

int
util_read_fd(int fd, const char *path, size_t max, char **buf_out,
    size_t *len_out)
{
	int r = CUST_E_INTERNAL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	struct stat st;

	*buf_out = NULL;
	*len_out = 0;
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
				explicit_bzero(buf, len);
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
		explicit_bzero(buf, len);
		free(buf);
	}
	return r;
}

/*
 * Files inside the state directory are reached relative to its descriptor,
 * one component at a time with O_NOFOLLOW: a symlink planted anywhere
 * below the state directory (a subdirectory pointing elsewhere, a file
 * pointing at /etc/shadow) makes the operation fail with ELOOP or ENOTDIR
 * instead of writing, chmod'ing or deleting outside it.
 */
static int
walk_dirs(int dirfd, const char *rel, int create, unsigned mode, int *fd_out)
{
	char buf[PATH_MAX], *p, *next;
	int fd, nfd, r;
	size_t n = strlen(rel);

	*fd_out = -1;
	if (n >= sizeof(buf) || rel[0] == '/')
		return cust_fail(CUST_E_INVAL, "bad relative path '%s'", rel);
	memcpy(buf, rel, n + 1);
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return cust_fail(CUST_E_IO, "cannot open directory: %s",
		    strerror(errno));
	for (p = buf; p != NULL && *p != '\0'; p = next) {
		if ((next = strchr(p, '/')) != NULL)
			*next++ = '\0';
		if (*p == '\0' || strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0) {
			close(fd);
			return cust_fail(CUST_E_INVAL, "bad relative path '%s'",
			    rel);
		}
		if (create && mkdirat(fd, p, mode) == -1 && errno != EEXIST) {
			int e = errno;

			close(fd);
			return cust_fail(e == ENOENT ? CUST_E_NOTFOUND :
			    CUST_E_IO, "cannot create %s: %s", rel,
			    strerror(e));
		}
		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1) {
			int e = errno;
			struct stat sb;

			/* A link is refused as unsafe; a file where a
			 * directory belongs is an I/O error. */
			if (e == ELOOP || (e == ENOTDIR && fstatat(fd, p, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))) {
				close(fd);
				return cust_fail(CUST_E_PERM, "%s is a symbolic "
				    "link: refusing to follow it", rel);
			}
			close(fd);
			return cust_fail(e == ENOENT ? CUST_E_NOTFOUND :
			    CUST_E_IO, "cannot open %s: %s", rel, strerror(e));
		}
		close(fd);
		fd = nfd;
		/* What we made (or found made in our place) must be ours. */
		if (create && (r = util_check_dir(fd, rel)) != CUST_OK) {
			close(fd);
			return r;
		}
	}
	*fd_out = fd;
	return CUST_OK;
}

int
util_open_dir_at(int dirfd, const char *rel, int *fd_out)
{
	return walk_dirs(dirfd, rel, 0, 0, fd_out);
}

/*
 * Missing output directories are made the same way, one component at a
 * time in their open parent (mkdirat), each opened again with O_NOFOLLOW
 * and checked: a link or a directory someone else slipped in between the
 * mkdir and the open is refused, never written into.
 */
int
util_mkdirs_at(int dirfd, const char *rel, unsigned mode, int *fd_out)
{
	return walk_dirs(dirfd, rel, 1, mode, fd_out);
}

int
util_open_parent_at(int dirfd, const char *rel, int *fd_out,
    const char **leaf_out)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(rel, '/');
	size_t n;

	*fd_out = -1;
	*leaf_out = NULL;
	if (slash == NULL) {
		if (*rel == '\0' || strcmp(rel, ".") == 0 ||
		    strcmp(rel, "..") == 0)
			return cust_fail(CUST_E_INVAL, "bad file path '%s'", rel);
		*leaf_out = rel;
		return util_open_dir_at(dirfd, ".", fd_out);
	}
	n = (size_t)(slash - rel);
	if (n >= sizeof(dir) || slash[1] == '\0')
		return cust_fail(CUST_E_INVAL, "bad file path '%s'", rel);
	memcpy(dir, rel, n);
	dir[n] = '\0';
	if (strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		return cust_fail(CUST_E_INVAL, "bad file path '%s'", rel);
	*leaf_out = slash + 1;
	return util_open_dir_at(dirfd, dir, fd_out);
}

/*
 * Write leaf in the open directory pfd: a temporary name created
 * exclusively (never through a symlink), fsync, rename over leaf (which
 * replaces a symlink rather than following it), fsync of the directory so
 * that the rename itself survives a power cut (a key file whose rename is
 * lost would leave the store sealed for good). shown: the name for messages.
 */
static int
write_in_dir(int pfd, const char *leaf, const char *shown, const void *buf,
    size_t len, unsigned mode, int noreplace)
{
	char tmp[NAME_MAX + 1];
	const unsigned char *p = buf;
	int fd, r, n;

	n = snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", leaf, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return cust_fail(CUST_E_INVAL, "file name too long: %s", shown);
	fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd == -1)
		return cust_fail(CUST_E_IO, "cannot create a file beside %s: %s",
		    shown, strerror(errno));
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
	/* noreplace: an existing file (or link) under the name wins, even
	 * one that appeared after the caller checked. */
	r = noreplace ? renameat2(pfd, tmp, pfd, leaf, RENAME_NOREPLACE) :
	    renameat(pfd, tmp, pfd, leaf);
	if (r == -1 && noreplace && errno == EEXIST) {
		(void)unlinkat(pfd, tmp, 0);
		return cust_fail(CUST_E_EXISTS, "%s exists; not replacing it",
		    shown);
	}
	if (r == -1)
		goto fail;
	(void)fsync(pfd);
	return CUST_OK;
fail:
	r = cust_fail(CUST_E_IO, "cannot write %s: %s", shown, strerror(errno));
	if (fd != -1)
		close(fd);
	(void)unlinkat(pfd, tmp, 0);
	return r;
}

/* util_write_file_at() and util_create_file_at(). */
static int
write_at(int dirfd, const char *rel, const void *buf, size_t len,
    unsigned mode, int noreplace)
{
	const char *leaf;
	int pfd, r;

	if ((r = util_open_parent_at(dirfd, rel, &pfd, &leaf)) != CUST_OK)
		return r;
	r = write_in_dir(pfd, leaf, rel, buf, len, mode, noreplace);
	close(pfd);
	return r;
}

int
util_write_file_at(int dirfd, const char *rel, const void *buf, size_t len,
    unsigned mode)
{
	return write_at(dirfd, rel, buf, len, mode, 0);
}

int
util_create_file_at(int dirfd, const char *rel, const void *buf, size_t len,
    unsigned mode)
{
	return write_at(dirfd, rel, buf, len, mode, 1);
}

/* util_write_file() and util_create_file(). */
static int
write_path(const char *path, const void *buf, size_t len, unsigned mode,
    int noreplace)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *leaf = path;
	size_t n;
	int pfd, r;

	/* The caller's own path: its directories are followed as given;
	 * only the file itself is never reached through a link. */
	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir) || slash[1] == '\0')
			return cust_fail(CUST_E_INVAL, "bad file path: %s",
			    path);
		memcpy(dir, path, n);
		dir[n] = '\0';
		leaf = slash + 1;
	}
	if ((pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : CUST_E_IO,
		    "cannot write %s: %s: %s", path, dir, strerror(errno));
	r = write_in_dir(pfd, leaf, path, buf, len, mode, noreplace);
	close(pfd);
	return r;
}

int
util_write_file(const char *path, const void *buf, size_t len, unsigned mode)
{
	return write_path(path, buf, len, mode, 0);
}

int
util_create_file(const char *path, const void *buf, size_t len, unsigned mode)
{
	return write_path(path, buf, len, mode, 1);
}

int
util_unlink_at(int dirfd, const char *rel)
{
	const char *leaf;
	int pfd, r;

	if ((r = util_open_parent_at(dirfd, rel, &pfd, &leaf)) != CUST_OK)
		return r == CUST_E_NOTFOUND ? CUST_OK : r;
	r = CUST_OK;
	if (unlinkat(pfd, leaf, 0) == -1 && errno != ENOENT)
		r = cust_fail(CUST_E_IO, "cannot remove %s: %s", rel,
		    strerror(errno));
	close(pfd);
	return r;
}

/* The owner and write bits of st (an object named shown) are safe: the
 * effective user's, not writable by group or others. */
static int
check_owner_mode(const struct stat *st, const char *shown)
{
	if (st->st_uid != geteuid())
		return cust_fail(CUST_E_PERM, "%s is owned by uid %u, not by "
		    "uid %u: refusing it", shown, (unsigned)st->st_uid,
		    (unsigned)geteuid());
	if ((st->st_mode & 022) != 0)
		return cust_fail(CUST_E_PERM, "%s has mode %04o; it must not be "
		    "writable by group or others (chmod go-w): refusing it",
		    shown, (unsigned)(st->st_mode & 07777));
	return CUST_OK;
}

int
util_check_file(const struct stat *st, const char *shown)
{
	if (!S_ISREG(st->st_mode))
		return cust_fail(CUST_E_PERM, "%s is not a regular file: "
		    "refusing it", shown);
	return check_owner_mode(st, shown);
}

int
util_check_dir(int fd, const char *shown)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return cust_fail(CUST_E_IO, "cannot stat %s: %s", shown,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cust_fail(CUST_E_PERM, "%s is not a directory", shown);
	return check_owner_mode(&st, shown);
}

/* The rule of util_check_secrecy() on what stat said of path. */
static int
check_secrecy(const struct stat *st, const char *path)
{
	if (!S_ISREG(st->st_mode))
		return cust_fail(CUST_E_PERM, "%s is not a regular file", path);
	if (st->st_uid != geteuid())
		return cust_fail(CUST_E_PERM, "%s is owned by uid %u, not by "
		    "uid %u: refusing it", path, (unsigned)st->st_uid,
		    (unsigned)geteuid());
	if ((st->st_mode & 077) != 0)
		return cust_fail(CUST_E_PERM, "%s has mode %04o; it must not be "
		    "accessible by group or others (chmod 600): refusing it",
		    path, (unsigned)(st->st_mode & 07777));
	return CUST_OK;
}

int
util_check_secrecy(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return cust_fail(errno == ENOENT ? CUST_E_SEALED : CUST_E_IO,
		    "cannot stat %s: %s", path, strerror(errno));
	return check_secrecy(&st, path);
}

int
util_check_secrecy_fd(int fd, const char *shown)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return cust_fail(CUST_E_IO, "cannot stat %s: %s", shown,
		    strerror(errno));
	return check_secrecy(&st, shown);
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
	int digits = 1;		/* the current label is all digits so far */

	if (len == 0 || len > CUST_MAX_FQDN)
		return CUST_E_INVAL;
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return CUST_E_INVAL;
			labels++;
			label = 0;
			if (c == '\0')
				break;
			digits = 1;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return CUST_E_INVAL;
		if (label == 0 && c == '-')
			return CUST_E_INVAL;
		digits &= isdigit((unsigned char)c) != 0;
		label++;
	}
	/* A numeric top-level label makes an address ("10.0.0.1", "127.1")
	 * or a number, not a host name (RFC 3696 2, RFC 1123 2.1). */
	return labels >= 2 && !digits ? CUST_OK : CUST_E_INVAL;
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

int
util_valid_realm(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '-'))
			return CUST_E_INVAL;
	return i > 0 ? CUST_OK : CUST_E_INVAL;
}

size_t
util_utf8_char(const unsigned char *s, uint32_t *cp_out)
{
	uint32_t cp, min;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp_out = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;	/* a continuation byte, or 0xf8 and above */
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_out = cp;
	return n;
}

int
util_unsafe_cp(uint32_t cp)
{
	/* Controls; the bidirectional marks, embeddings, overrides and
	 * isolates (Trojan Source), U+061C included; and the noncharacters
	 * (U+FDD0-FDEF, U+xFFFE/xFFFF), which XML 1.0 does not allow. */
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
	    (cp & 0xfffe) == 0xfffe;
}

/* How many bytes at p util_escape() copies as they are: the length of a
 * safe character, or 0 when the byte at p is escaped. An unsafe character
 * of several bytes is escaped one byte at a time. */
static size_t
safe_char(const unsigned char *p)
{
	uint32_t cp;
	size_t n = util_utf8_char(p, &cp);

	return n > 0 && !util_unsafe_cp(cp) ? n : 0;
}

size_t
util_escape(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t need = 0, n;
	char esc[5];
	const char *piece;

	while (*p != '\0') {
		if (*p >= 0x20 && *p < 0x7f) {
			/* Printable ASCII (most of a log line): as it is. */
			if (need + 1 < len)
				buf[need] = (char)*p;
			else if (need < len)
				len = need + 1;
			need++;
			p++;
			continue;
		}
		if ((n = safe_char(p)) > 0) {
			piece = (const char *)p;
		} else {
			piece = esc;
			n = 2;
			esc[0] = '\\';
			if (*p == '\n')
				esc[1] = 'n';
			else if (*p == '\r')
				esc[1] = 'r';
			else if (*p == '\t')
				esc[1] = 't';
			else {
				esc[1] = 'x';
				esc[2] = hex[*p >> 4];
				esc[3] = hex[*p & 0xf];
				n = 4;
			}
		}
		if (need + n < len)
			memcpy(buf + need, piece, n);
		else if (need < len)
			len = need + 1;	/* full: nothing more is written */
		need += n;
		p += piece == esc ? 1 : n;
	}
	if (len > 0)
		buf[need < len ? need : len - 1] = '\0';
	return need;
}

int
util_needs_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	for (; *p != '\0'; p += n)
		if ((n = safe_char(p)) == 0)
			return 1;
	return 0;
}

char *
util_escape_dup(const char *s)
{
	size_t n = util_escape(s, NULL, 0);
	char *d = malloc(n + 1);

	if (d != NULL)
		util_escape(s, d, n + 1);
	return d;
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

/*
 * The test clock. clk_mode: 0 not decided yet (the environment is read on
 * first use), 1 real time plus clk_offset, 2 fixed at clk_fixed. Two
 * threads reading the environment at once compute the same values, so
 * the race is benign; the atomics keep it defined.
 */
static _Atomic int clk_mode;
static _Atomic int64_t clk_offset, clk_fixed;

static void
clock_from_env(void)
{
	const char *v = getenv("CUSTODY_TEST_NOW");
	char *end = NULL;
	long long n = 0;
	int mode = 1;

	if (v != NULL && (v[0] == '+' || v[0] == '-' || v[0] == '@')) {
		errno = 0;
		n = strtoll(v[0] == '@' ? v + 1 : v, &end, 10);
	}
	if (end != NULL && *end == '\0' && end != v + 1 && errno == 0) {
		if (v[0] == '@') {
			mode = n > 0 ? 2 : 1;
			atomic_store(&clk_fixed, (int64_t)n);
		} else
			atomic_store(&clk_offset, (int64_t)n);
	}
	atomic_store(&clk_mode, mode);
}

int64_t
util_now(void)
{
	int mode = atomic_load(&clk_mode);

	if (mode == 0) {
		clock_from_env();
		mode = atomic_load(&clk_mode);
	}
	if (mode == 2)
		return atomic_load(&clk_fixed);
	return (int64_t)time(NULL) + atomic_load(&clk_offset);
}

void
util_test_clock(int64_t offset, int64_t fixed)
{
	atomic_store(&clk_offset, offset);
	atomic_store(&clk_fixed, fixed);
	atomic_store(&clk_mode, fixed != 0 ? 2 : 1);
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

void
util_test_crash(const char *point)
{
	const char *at = getenv("CUSTODY_TEST_CRASH_AT");

	if (at != NULL && strcmp(at, point) == 0)
		_exit(99);
}

void
util_test_stop(const char *point)
{
	const char *at = getenv("CUSTODY_TEST_STOP_AT");

	if (at != NULL && strcmp(at, point) == 0)
		(void)raise(SIGSTOP);
}

void
util_test_delay(const char *point)
{
	const char *at = getenv("CUSTODY_TEST_DELAY_AT");
	const char *ms = getenv("CUSTODY_TEST_DELAY_MS");
	struct timespec ts;
	long v;

	if (at == NULL || ms == NULL || strcmp(at, point) != 0)
		return;
	v = strtol(ms, NULL, 10);
	if (v < 1 || v > 60000)
		return;
	ts.tv_sec = v / 1000;
	ts.tv_nsec = (v % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
util_isatty_err(void)
{
	return isatty(STDERR_FILENO);
}

/*
 * Which process runs a job or an import: its pid and its start time (field 22 of
 * /proc/PID/stat, in clock ticks since boot). A pid alone is not enough:
 * after a crash the number may belong to another process by now.
 * -1 when the process does not exist.
 */
long long
util_proc_start(long long pid)
{
	char path[64], buf[1024], *p;
	long long v = -1;
	size_t len = 0;
	int field;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* The command name (field 2) may hold spaces: count from its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoll(p + 1, NULL, 10);
	return v;
}

/* A single-label host name ("localhost", "amt-gw"): letters, digits and
 * '-', not all digits, 1-63. */
static int
valid_host_label(const char *s, size_t n)
{
	size_t i, digits = 0;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
		digits += isdigit((unsigned char)s[i]) != 0;
	}
	return digits < n;
}

int
util_parse_address(const char *s, char *host_out, size_t len,
    unsigned *port_out)
{
	char host[UTIL_HOST_MAX + 1], bin[16];
	const char *colon;
	size_t hl;
	unsigned long port = 0;

	if (host_out != NULL && len > 0)
		*host_out = '\0';
	if (port_out != NULL)
		*port_out = 0;
	if (s == NULL || *s == '\0' || strlen(s) > UTIL_ADDRESS_MAX)
		goto bad;
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			goto bad;
		hl = (size_t)(end - s) + 1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			goto bad;
		if (hl - 2 >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
		if (inet_pton(AF_INET6, host, bin) != 1)
			goto bad;
	} else {
		colon = strchr(s, ':');
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, bin) != 1 &&
		    util_valid_fqdn(host) != CUST_OK &&
		    !valid_host_label(host, hl))
			goto bad;
	}
	if (colon != NULL) {
		const char *d = colon + 1;

		if (*d == '\0' || *d == '0' || strlen(d) > 5 ||
		    strspn(d, "0123456789") != strlen(d))
			goto bad;
		port = strtoul(d, NULL, 10);
		/* PORT is HTTP, PORT + 1 TLS: both must exist. */
		if (port < 1 || port > 65534)
			goto bad;
	}
	if (host_out != NULL) {
		if (hl >= len)
			goto bad;
		memcpy(host_out, s, hl);
		host_out[hl] = '\0';
	}
	if (port_out != NULL)
		*port_out = (unsigned)port;
	return CUST_OK;
bad:
	if (host_out != NULL && len > 0)
		*host_out = '\0';
	return cust_fail(CUST_E_INVAL, "'%.80s' is not an address (HOST or "
	    "HOST:PORT, HOST a host name, an IPv4 address or [IPv6], PORT "
	    "1-65534; TLS is PORT+1)", s ? s : "");
}
