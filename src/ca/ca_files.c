/* SPDX-License-Identifier: MIT */
/* src/ca/ca_files.c - the files of a change of CA state, written in two
 * steps around its commit.
 *
 * init and ca rotate --activate make new service keys (DIR/tls/server.key,
 * DIR/admin/admin.key) that exist nowhere else, and every change of CA
 * state rewrites the public files of DIR/ca. Written after the commit, a
 * full disk or a missing directory would leave a committed state whose new
 * keys are lost; written before, a failed commit would leave files that
 * match nothing. So each file is first written under a temporary name
 * (DIR/name.new.TOKEN, fsync'd; TOKEN is PID-START-RANDOM, naming the
 * process) before the commit - any failure there rolls
 * the change back - and renamed into place after it. The list of renames
 * is committed with the change (state_files_pending()), so that renames a
 * kill or a failure interrupted are finished at the next open.
 * Paths are relative to the state directory and reached without following
 * symlinks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"
#include "state.h"
#include "util.h"
#include "ca_int.h"

int
ca_files_add(struct ca_files *fs, const char *sub, const char *name,
    const void *data, size_t len, unsigned mode)
{
	if (fs->n == CA_FILES_MAX)
		return cust_fail(CUST_E_INTERNAL, "too many files");
	if ((fs->f[fs->n].path = util_path(sub, name)) == NULL ||
	    (fs->f[fs->n].data = seal_secret_dup(data, len)) == NULL) {
		free(fs->f[fs->n].path);
		fs->f[fs->n].path = NULL;
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	fs->f[fs->n].tmp = NULL;
	fs->f[fs->n].mode = mode;
	fs->n++;
	return CUST_OK;
}

/* Append "STAGED\tFINAL\n" to the list *l (new string, realloc'd). */
static int
list_add(char **l, size_t *len, const char *staged, const char *final)
{
	size_t add = strlen(staged) + strlen(final) + 2;
	char *n = realloc(*l, *len + add + 1);

	if (n == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	snprintf(n + *len, add + 1, "%s\t%s\n", staged, final);
	*l = n;
	*len += add;
	return CUST_OK;
}

int
ca_files_stage(struct cust_state *st, struct ca_files *fs)
{
	char token[64], hex[17], *list = NULL;
	unsigned char rnd[8];
	size_t i, llen = 0;
	int r = CUST_OK;

	/* Staged names of their own per change: a change that fails removes
	 * its staged files without touching another process's. The token
	 * names the process (pid and start time): what a process killed
	 * before its commit staged is told from what a live one is staging
	 * (ca_recover.c removes the former). */
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(token, sizeof(token), "%lld-%lld-%s", (long long)getpid(),
	    util_proc_start((long long)getpid()), hex);
	fs->dirfd = state_dirfd(st);
	for (i = 0; i < fs->n && r == CUST_OK; i++) {
		if (fs->f[i].tmp == NULL) {
			if (asprintf(&fs->f[i].tmp, "%s" STATE_STAGED_MARK "%s",
			    fs->f[i].path, token) == -1) {
				fs->f[i].tmp = NULL;
				r = cust_fail(CUST_E_NOMEM, "out of memory");
				break;
			}
			/* Itself written atomically: a crash leaves no half
			 * file under the staged name either. */
			if ((r = util_write_file_at(state_dirfd(st),
			    fs->f[i].tmp, seal_secret_data(fs->f[i].data),
			    seal_secret_len(fs->f[i].data), fs->f[i].mode)) !=
			    CUST_OK) {
				free(fs->f[i].tmp);
				fs->f[i].tmp = NULL;
				break;
			}
		}
		r = list_add(&list, &llen, fs->f[i].tmp, fs->f[i].path);
	}
	/* The renames go into the same transaction as the change: after a
	 * kill between the commit and the renames, the next open does them. */
	if (r == CUST_OK && list != NULL)
		r = state_files_pending(st, list);
	free(list);
	return r;
}

int
ca_files_install(struct cust_state *st, struct ca_files *fs)
{
	size_t i;
	int r;

	fs->committed = 1;
	if ((r = state_files_finish(st)) != CUST_OK)
		return cust_fail(r, "the change is committed, but its files are "
		    "not all in place yet (%s); the next command that opens the "
		    "state finishes them", cust_errmsg());
	for (i = 0; i < fs->n; i++) {
		free(fs->f[i].tmp);
		fs->f[i].tmp = NULL;
	}
	return CUST_OK;
}

void
ca_files_clear(struct ca_files *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++) {
		/* Staged for a change that did not commit: not wanted. */
		if (fs->f[i].tmp != NULL && !fs->committed &&
		    util_unlink_at(fs->dirfd, fs->f[i].tmp) != CUST_OK)
			cust_clearerr();	/* best effort, like unlink() */
		free(fs->f[i].tmp);
		free(fs->f[i].path);
		seal_secret_free(fs->f[i].data);
	}
	memset(fs, 0, sizeof(*fs));
}

int
ca_files_staged_owner(const char *name, long long *pid_out,
    long long *pstart_out)
{
	const char *m = strstr(name, STATE_STAGED_MARK), *rest;
	long long pid, pstart;
	char hex[17];
	int n = -1;

	*pid_out = 0;
	*pstart_out = 0;
	if (m == NULL || m == name)
		return 0;
	m += strlen(STATE_STAGED_MARK);
	if (sscanf(m, "%lld-%lld-%16[0-9a-f]%n", &pid, &pstart, hex, &n) != 3 ||
	    n < 0 || strlen(hex) != 16 || pid <= 0)
		return 0;
	rest = m + n;
	/* The staged file itself, or the temporary file it was being
	 * written through (util_write_file_at(): ".NAME.tmp.PID"). */
	if (*rest != '\0' && (name[0] != '.' || strncmp(rest, ".tmp.", 5) != 0))
		return 0;
	*pid_out = pid;
	*pstart_out = pstart;
	return 1;
}
