/* SPDX-License-Identifier: MIT */
/* src/config/secret.c - the secret files custody.yaml names (the MIT
 * admin password, the AD bind password): read once into sodium memory,
 * refused when anyone but us could read them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "err.h"
#include "seal.h"
#include "util.h"

int
config_read_secret(const char *path, struct seal_secret **out)
{
	struct seal_secret *s = NULL;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, r = CUST_E_INTERNAL;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		r = cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : errno ==
		    ELOOP ? CUST_E_PERM : CUST_E_IO, "cannot open %s: %s%s",
		    path, strerror(errno), errno == ELOOP ? " (a secret file "
		    "is not read through a symbolic link)" : "");
		goto out;
	}
	if ((r = util_check_secrecy_fd(fd, path)) != CUST_OK)
		goto out;
	if ((r = util_read_fd(fd, path, CONFIG_SECRET_MAX, &buf, &len)) !=
	    CUST_OK)
		goto out;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		r = cust_fail(CUST_E_INVAL, "%s: the secret is empty or holds "
		    "a NUL byte", path);
		goto out;
	}
	if ((s = seal_secret_dup(buf, len)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	*out = s;
	r = CUST_OK;
out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	if (fd != -1)
		close(fd);
	return r;
}
