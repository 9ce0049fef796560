/* SPDX-License-Identifier: MIT */
/* src/directory/ktfile.c - the consoles' keytab files under DIR/keytabs,
 * sealed at rest: one code path for the MIT principals' keytabs (mit.c)
 * and the keytabs derived from the AD service accounts' passwords
 * (ad_sync.c). doc/internals/DIRECTORY.md says why they are sealed and
 * what the associated data binds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "directory.h"
#include "directory_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "util.h"

#define KT_MAGIC	"CUSTKT1\n"
#define KT_MAGIC_LEN	8

static int
ktfile_ad(const struct dir_ktfile *f, char *ad, size_t len, size_t *adlen)
{
	if ((*adlen = seal_ad(ad, len, f->table, f->id, f->owner,
	    f->version)) == 0)
		return cust_fail(CUST_E_INTERNAL, "associated data too long");
	return CUST_OK;
}

/* Seal img[0..len) into f's file. */
static int
ktfile_store(struct cust_state *st, const struct dir_ktfile *f,
    const unsigned char *img, size_t len)
{
	unsigned char *file = NULL;
	char ad[256], dir[256];
	const char *slash;
	size_t adlen, flen = KT_MAGIC_LEN + SEAL_OVERHEAD + len;
	int fd = -1, r;

	if ((r = ktfile_ad(f, ad, sizeof(ad), &adlen)) != CUST_OK)
		return r;
	if ((slash = strrchr(f->rel, '/')) == NULL ||
	    (size_t)(slash - f->rel) >= sizeof(dir))
		return cust_fail(CUST_E_INTERNAL, "a keytab path without its "
		    "directory");
	memcpy(dir, f->rel, (size_t)(slash - f->rel));
	dir[slash - f->rel] = '\0';
	if ((r = util_mkdirs_at(state_dirfd(st), dir, 0700, &fd)) != CUST_OK)
		return r;
	close(fd);
	if ((file = malloc(flen)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	memcpy(file, KT_MAGIC, KT_MAGIC_LEN);
	if ((r = seal_encrypt_buf(state_seal(st), img, len, ad, adlen,
	    file + KT_MAGIC_LEN)) == CUST_OK)
		r = util_write_file_at(state_dirfd(st), f->rel, file, flen,
		    0600);
	free(file);
	return r;
}

int
dir_ktfile_read(struct cust_state *st, const struct dir_ktfile *f,
    struct seal_secret **img_out, struct dir_keytab **kt_out)
{
	char ad[256], *buf = NULL;
	const char *leaf;
	struct seal_secret *img = NULL;
	struct dir_keytab *kt = NULL;
	size_t len = 0, adlen;
	int dfd = -1, fd = -1, r;

	if (img_out != NULL)
		*img_out = NULL;
	if (kt_out != NULL)
		*kt_out = NULL;
	if ((r = ktfile_ad(f, ad, sizeof(ad), &adlen)) != CUST_OK)
		return r;
	if ((r = util_open_parent_at(state_dirfd(st), f->rel, &dfd, &leaf)) !=
	    CUST_OK)
		return r;
	if ((fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK)) == -1) {
		r = cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : CUST_E_IO,
		    "cannot open %s: %s", f->rel, strerror(errno));
		goto out;
	}
	if ((r = util_check_secrecy_fd(fd, f->rel)) != CUST_OK ||
	    (r = util_read_fd(fd, f->rel, 1 << 20, &buf, &len)) != CUST_OK)
		goto out;
	if (len >= KT_MAGIC_LEN && memcmp(buf, KT_MAGIC, KT_MAGIC_LEN) == 0) {
		if (seal_decrypt(state_seal(st), (unsigned char *)buf +
		    KT_MAGIC_LEN, len - KT_MAGIC_LEN, ad, adlen, &img) !=
		    CUST_OK) {
			r = cust_fail(CUST_E_SEALED, "%s does not open: it was "
			    "not sealed for console %s%s (copied from another "
			    "console's, or altered); %s", f->rel, f->owner,
			    f->version > 1 ? " and its current password" : "",
			    f->remedy);
			goto out;
		}
	} else if (f->migrate && len >= 2 && buf[0] == 0x05 && buf[1] == 0x02) {
		/* plaintext from before sealing: seal it now */
		if ((img = seal_secret_dup(buf, len)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		if ((r = dir_keytab_parse(seal_secret_data(img), len, &kt)) !=
		    CUST_OK) {
			r = cust_fail(r, "%s: %s", f->rel, cust_errmsg());
			goto out;
		}
		if ((r = ktfile_store(st, f, seal_secret_data(img), len)) !=
		    CUST_OK)
			goto out;
	} else {
		r = cust_fail(CUST_E_SEALED, "%s is not a keytab custody "
		    "sealed", f->rel);
		goto out;
	}
	if (kt_out != NULL && kt == NULL && (r = dir_keytab_parse(
	    seal_secret_data(img), seal_secret_len(img), &kt)) != CUST_OK) {
		r = cust_fail(r, "%s: %s", f->rel, cust_errmsg());
		goto out;
	}
	if (kt_out != NULL) {
		*kt_out = kt;
		kt = NULL;
	}
	if (img_out != NULL) {
		*img_out = img;
		img = NULL;
	}
	r = CUST_OK;
out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	dir_keytab_free(kt);
	seal_secret_free(img);
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	return r;
}

int
dir_ktfile_write(struct cust_state *st, const struct dir_ktfile *f,
    const struct dir_keytab *kt)
{
	struct seal_secret *img = NULL;
	int r;

	if ((r = dir_keytab_serialize(kt, &img)) != CUST_OK)
		return r;
	r = ktfile_store(st, f, seal_secret_data(img), seal_secret_len(img));
	seal_secret_free(img);
	return r;
}

int
dir_ktfile_remove(struct cust_state *st, const char *rel)
{
	return util_unlink_at(state_dirfd(st), rel);
}
