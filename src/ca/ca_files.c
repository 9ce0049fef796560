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
 * (DIR/name.new, fsync'd) before the commit - any failure there rolls the
 * change back - and renamed into place after it, which is all that can
 * still fail; a failed rename names the file that holds the new content.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "seal.h"
#include "util.h"
#include "ca_int.h"

#define STAGE_SUFFIX	".new"

int
ca_files_add(struct ca_files *fs, const char *dir, const char *name,
    const void *data, size_t len, unsigned mode)
{
	if (fs->n == CA_FILES_MAX)
		return cust_fail(CUST_E_INTERNAL, "too many files");
	if ((fs->f[fs->n].path = util_path(dir, name)) == NULL ||
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

int
ca_files_stage(struct ca_files *fs)
{
	size_t i;
	int r;

	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].tmp != NULL)
			continue;
		if (asprintf(&fs->f[i].tmp, "%s" STAGE_SUFFIX,
		    fs->f[i].path) == -1) {
			fs->f[i].tmp = NULL;
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		/* Itself written atomically: a crash leaves no half file
		 * under the staged name either. */
		if ((r = util_write_file(fs->f[i].tmp,
		    seal_secret_data(fs->f[i].data),
		    seal_secret_len(fs->f[i].data), fs->f[i].mode)) !=
		    CUST_OK) {
			free(fs->f[i].tmp);
			fs->f[i].tmp = NULL;
			return r;
		}
	}
	return CUST_OK;
}

int
ca_files_install(struct ca_files *fs)
{
	size_t i;

	fs->committed = 1;
	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].tmp == NULL)
			continue;
		if (rename(fs->f[i].tmp, fs->f[i].path) == -1)
			return cust_fail(CUST_E_IO, "the change is committed, "
			    "but %s could not be renamed to %s (%s): rename it "
			    "by hand%s", fs->f[i].tmp, fs->f[i].path,
			    strerror(errno), i + 1 < fs->n ? ", and the other "
			    "*" STAGE_SUFFIX " files of this change" : "");
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
		if (fs->f[i].tmp != NULL && !fs->committed)
			unlink(fs->f[i].tmp);
		free(fs->f[i].tmp);
		free(fs->f[i].path);
		seal_secret_free(fs->f[i].data);
	}
	memset(fs, 0, sizeof(*fs));
}
