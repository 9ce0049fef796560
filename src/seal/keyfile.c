/* SPDX-License-Identifier: MIT */
/* src/seal/keyfile.c - master key source: DIR/seal/master.key.
 *
 * 32 random bytes, mode 0600, owned by the service user. Refused when its
 * mode is looser or its owner differs (OpenSMTPD check_file_secrecy).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"
#include "util.h"

static int
keyfile_create(const char *state_dir)
{
	char *dir = NULL, *path = NULL;
	struct seal_secret *k = NULL;
	int r;

	if ((dir = util_path(state_dir, "seal")) == NULL ||
	    (path = util_path(dir, "master.key")) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = util_mkdirs(dir, 0700)) != CUST_OK)
		goto out;
	if (chmod(dir, 0700) == -1) {
		r = cust_fail(CUST_E_IO, "cannot chmod %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if (access(path, F_OK) == 0) {
		r = cust_fail(CUST_E_EXISTS, "%s already exists", path);
		goto out;
	}
	if ((k = seal_secret_new(SEAL_KEYBYTES)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of secure memory");
		goto out;
	}
	randombytes_buf(seal_secret_data(k), SEAL_KEYBYTES);
	r = util_write_file(path, seal_secret_data(k), SEAL_KEYBYTES, 0600);
out:
	seal_secret_free(k);
	free(path);
	free(dir);
	return r;
}

static int
keyfile_load(const char *state_dir, struct seal_secret **key_out)
{
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	int r;

	*key_out = NULL;
	if ((path = util_path(state_dir, "seal/master.key")) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = util_check_secrecy(path)) != CUST_OK) {
		if (r == CUST_E_SEALED)
			r = cust_fail(CUST_E_SEALED, "master key %s is missing: "
			    "the store stays sealed", path);
		goto out;
	}
	if ((r = util_read_file(path, 4096, &buf, &len)) != CUST_OK) {
		if (r != CUST_E_PERM)
			r = cust_fail(CUST_E_SEALED, "cannot read master key "
			    "%s: %s", path, cust_errmsg());
		goto out;
	}
	if (len != SEAL_KEYBYTES) {
		r = cust_fail(CUST_E_SEALED, "master key %s is damaged (%zu "
		    "bytes, want %d)", path, len, SEAL_KEYBYTES);
		goto out;
	}
	if ((*key_out = seal_secret_dup(buf, len)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of secure memory");
out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	free(path);
	return r;
}

const struct seal_keysrc_ops seal_keysrc_file = {
	.name = "file",
	.create = keyfile_create,
	.load = keyfile_load,
};
