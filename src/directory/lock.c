/* SPDX-License-Identifier: MIT */
/* src/directory/lock.c - one change of a directory at a time per state
 * directory: DIR/<file>, flock'd. Each call opens its own descriptor, so
 * the threads of one process (custodyd's workers) exclude each other as
 * well as custodyctl and custodyd do. Never waits: a change already
 * running is CUST_E_UNAVAIL (exit 5), try again.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "directory_int.h"
#include "err.h"
#include "state.h"

int
dir_lock(struct cust_state *st, const char *file, const char *busy,
    int *fd_out)
{
	int fd;

	*fd_out = -1;
	fd = openat(state_dirfd(st), file, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, 0600);
	if (fd == -1)
		return cust_fail(CUST_E_IO, "cannot open %s/%s: %s",
		    state_dir(st), file, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return cust_fail(CUST_E_UNAVAIL, "%s is running on %s: "
			    "try again when it ends", busy, state_dir(st));
		return cust_fail(CUST_E_IO, "cannot lock %s/%s: %s",
		    state_dir(st), file, strerror(errno));
	}
	*fd_out = fd;
	return CUST_OK;
}

void
dir_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}
