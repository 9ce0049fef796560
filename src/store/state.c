/* SPDX-License-Identifier: MIT */
/* src/store/state.c - open or create a state directory as one unit. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define DB_NAME "custody.db"
#define DATAKEY_META "seal.datakey"

static const struct {
	const char *name;
	unsigned mode;
} subdirs[] = {
	{ "seal", 0700 }, { "ca", 0755 }, { "tls", 0700 },
	{ "admin", 0700 }, { "keytabs", 0700 },
};

void
state_close(struct cust_state *st)
{
	if (st == NULL)
		return;
	audit_free(st->audit);
	seal_secret_free(st->scratch);
	seal_free(st->seal);
	store_close(st->store);
	free(st->dir);
	free(st);
}

/* Unseal and open the audit log on an open store. */
static int
finish_open(struct cust_state *st, unsigned mode)
{
	unsigned char *w = NULL;
	size_t wlen = 0;
	int r;

	r = store_meta_get(st->store, DATAKEY_META, &w, &wlen);
	if (r == CUST_E_NOTFOUND)
		r = cust_fail(CUST_E_DB, "the store in %s has no sealed data "
		    "key: it is damaged or not a custody store", st->dir);
	if (r != CUST_OK)
		return r;
	r = seal_open(&seal_keysrc_file, st->dir, w, wlen, &st->seal);
	free(w);
	if (r != CUST_OK)
		return r;
	if ((st->scratch = seal_secret_new(STATE_SCRATCH)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of secure memory");
	if ((r = audit_open(st->store, st->seal, &st->audit)) != CUST_OK)
		return r;
	return state_integrity(st, mode);
}

/* Remove the regular files directly in dir/sub (certificates, keys and
 * bundles that belonged to the old state). */
static int
empty_subdir(const char *dir, const char *sub)
{
	struct dirent *de;
	char *d, *p;
	DIR *dp;
	int r = CUST_OK;

	if ((d = util_path(dir, sub)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((dp = opendir(d)) == NULL) {
		r = errno == ENOENT ? CUST_OK : cust_fail(CUST_E_IO,
		    "cannot read %s: %s", d, strerror(errno));
		free(d);
		return r;
	}
	while (r == CUST_OK && (de = readdir(dp)) != NULL) {
		if (de->d_type != DT_REG && de->d_type != DT_LNK)
			continue;
		if ((p = util_path(d, de->d_name)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		if (unlink(p) == -1 && errno != ENOENT)
			r = cust_fail(CUST_E_IO, "cannot remove %s: %s", p,
			    strerror(errno));
		free(p);
	}
	closedir(dp);
	free(d);
	return r;
}

int
state_wipe(const char *dir)
{
	static const char *files[] = {
		DB_NAME, DB_NAME "-wal", DB_NAME "-shm", "seal/master.key",
	};
	static const char *subs[] = { "ca", "tls", "admin" };
	size_t i;
	char *p;
	int r;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if ((r = empty_subdir(dir, subs[i])) != CUST_OK)
			return r;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((p = util_path(dir, files[i])) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		if (unlink(p) == -1 && errno != ENOENT) {
			int e = errno;

			free(p);
			return cust_fail(CUST_E_IO, "cannot remove %s/%s: %s",
			    dir, files[i], strerror(e));
		}
		free(p);
	}
	return CUST_OK;
}

int
state_init(const char *dir, int force, struct cust_state **out)
{
	struct cust_state *st = NULL;
	unsigned char *w = NULL;
	size_t wlen = 0, i;
	char *db = NULL, *key = NULL, *p;
	int r;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->dir = strdup(dir)) == NULL ||
	    (db = util_path(dir, DB_NAME)) == NULL ||
	    (key = util_path(dir, "seal/master.key")) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (access(db, F_OK) == 0 || access(key, F_OK) == 0) {
		if (!force) {
			r = cust_fail(CUST_E_EXISTS, "%s already holds a custody "
			    "state; use --force to destroy it and start over",
			    dir);
			goto out;
		}
		if ((r = state_wipe(dir)) != CUST_OK)
			goto out;
	}
	if ((r = util_mkdirs(dir, 0700)) != CUST_OK)
		goto out;
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if ((p = util_path(dir, subdirs[i].name)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		r = util_mkdirs(p, subdirs[i].mode);
		if (r == CUST_OK && chmod(p, subdirs[i].mode) == -1)
			r = cust_fail(CUST_E_IO, "cannot chmod %s: %s", p,
			    strerror(errno));
		free(p);
		if (r != CUST_OK)
			goto out;
	}
	if ((r = seal_keysrc_file.create(dir)) != CUST_OK)
		goto out;
	if ((r = store_open(db, STORE_CREATE, &st->store)) != CUST_OK)
		goto out;
	if ((r = seal_create_datakey(&seal_keysrc_file, dir, &w, &wlen)) !=
	    CUST_OK)
		goto out;
	if ((r = store_meta_set(st->store, DATAKEY_META, w, wlen)) != CUST_OK)
		goto out;
	if ((r = finish_open(st, STATE_INTEGRITY_NEW)) != CUST_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	free(w);
	free(db);
	free(key);
	state_close(st);
	return r;
}

int
state_open(const char *dir, struct cust_state **out)
{
	return state_open_flags(dir, 0, out);
}

int
state_open_flags(const char *dir, unsigned flags, struct cust_state **out)
{
	struct cust_state *st = NULL;
	struct stat sb;
	char *db = NULL;
	int r;

	*out = NULL;
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode))
		return cust_fail(CUST_E_UNAVAIL, "no custody state directory "
		    "at %s (create one with 'custodyctl --state-dir %s init')",
		    dir, dir);
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->dir = strdup(dir)) == NULL ||
	    (db = util_path(dir, DB_NAME)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (access(db, F_OK) == -1) {
		r = cust_fail(CUST_E_DB, "the store %s is missing: custody "
		    "cannot read its state (restore it, or run init)", db);
		goto out;
	}
	if ((r = store_open(db, 0, &st->store)) != CUST_OK)
		goto out;
	if ((r = finish_open(st, flags & STATE_OPEN_RESTORE)) != CUST_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	free(db);
	state_close(st);
	return r;
}
