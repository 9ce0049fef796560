/* SPDX-License-Identifier: MIT */
/* src/state/state.c - open or create a state directory as one unit: its
 * lock, its owner and mode checks, and the file changes a commit left to
 * finish.
 *
 * Everything below the state directory is reached through its descriptor
 * without following symlinks (util_*_at), so a subdirectory replaced by a
 * link to elsewhere is refused instead of being written, chmod'ed or wiped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "err.h"
#include "log.h"
#include "seal.h"
#include "state.h"
#include "state_int.h"
#include "store.h"
#include "util.h"

#define DB_NAME		"custody.db"
#define KEY_NAME	"seal/master.key"
#define LOCK_NAME	"lock"
#define DATAKEY_META	"seal.datakey"
#define FILES_META	"files.pending"
#define UNFINISHED_META	"init.unfinished"
#define LOCK_POLL_MS	20

static const struct {
	const char *name;
	unsigned mode;
} subdirs[] = {
	{ "seal", 0700 }, { "ca", 0755 }, { "tls", 0700 },
	{ "admin", 0700 }, { "keytabs", 0700 },
};
#define NSUBDIRS	(sizeof(subdirs) / sizeof(subdirs[0]))

static const char *const db_files[] = {
	DB_NAME, DB_NAME "-wal", DB_NAME "-shm",
};

/* What an init created, so that its undo removes that and nothing else. */
struct state_undo {
	int made_dir;			/* the state directory itself */
	int made_sub[NSUBDIRS];		/* each subdirectory */
	int listed[NSUBDIRS];		/* pre[] is filled in */
	char **pre[NSUBDIRS];		/* names a subdirectory held before
					 * (NULL-terminated), kept on undo */
};

static void
undo_free(struct state_undo *u)
{
	size_t i, j;

	if (u == NULL)
		return;
	for (i = 0; i < NSUBDIRS; i++) {
		for (j = 0; u->pre[i] != NULL && u->pre[i][j] != NULL; j++)
			free(u->pre[i][j]);
		free(u->pre[i]);
	}
	free(u);
}

void
state_close(struct cust_state *st)
{
	if (st == NULL)
		return;
	if (st->ca_cache_free != NULL)
		st->ca_cache_free(st->ca_cache);
	audit_free(st->audit);
	seal_counter_free(st->counter);
	seal_secret_free(st->scratch);
	seal_free(st->seal);
	store_close(st->store);
	undo_free(st->undo);
	if (st->lockfd != -1)
		close(st->lockfd);	/* releases the lock */
	if (st->dirfd != -1)
		close(st->dirfd);
	free(st->dir);
	free(st);
}

const char *
state_dir(const struct cust_state *st)
{
	return st->dir;
}

struct store *
state_store(const struct cust_state *st)
{
	return st->store;
}

struct seal *
state_seal(const struct cust_state *st)
{
	return st->seal;
}

struct audit *
state_audit(const struct cust_state *st)
{
	return st->audit;
}

struct seal_secret *
state_scratch(const struct cust_state *st)
{
	return st->scratch;
}

int
state_dirfd(const struct cust_state *st)
{
	return st->dirfd;
}

void *
state_ca_cache(const struct cust_state *st)
{
	return st->ca_cache;
}

void
state_set_ca_cache(struct cust_state *st, void *cache,
    void (*cache_free)(void *cache))
{
	if (st->ca_cache_free != NULL && st->ca_cache != cache)
		st->ca_cache_free(st->ca_cache);
	st->ca_cache = cache;
	st->ca_cache_free = cache_free;
}

/* The audit group writer's state: closed once its thread has stopped. */
static void
release_writer(void *arg)
{
	state_close(arg);
}

int
state_audit_group(const char *dir, int64_t wait_ms, struct audit_group **out)
{
	struct cust_state *w = NULL;
	int r;

	*out = NULL;
	if ((r = state_open(dir, &w)) != CUST_OK)
		return r;
	if ((r = audit_group_new(w->audit, wait_ms, release_writer, w, out)) !=
	    CUST_OK)
		state_close(w);
	return r;
}

void
state_use_audit_group(struct cust_state *st, struct audit_group *g)
{
	audit_use_group(st->audit, g);
}

static struct cust_state *
state_new(const char *dir)
{
	struct cust_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->dirfd = st->lockfd = -1;
	if ((st->dir = strdup(dir)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

/* Open st->dir itself and refuse it unless it is ours and closed to
 * others. The path given by the operator is followed as given. */
static int
open_dir(struct cust_state *st)
{
	if ((st->dirfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return cust_fail(CUST_E_UNAVAIL, "no custody state "
			    "directory at %s (create one with 'custodyctl "
			    "--state-dir %s init')", st->dir, st->dir);
		return cust_fail(CUST_E_IO, "cannot open %s: %s", st->dir,
		    strerror(errno));
	}
	return util_check_dir(st->dirfd, st->dir);
}

/*
 * DIR/lock: shared by every process that uses the state, exclusive for
 * init (which may wipe it) and store accept-restore (which resets the
 * rollback counter). An exclusive request never waits: the holders
 * may be a daemon that runs for months. A shared request waits up to
 * STATE_LOCK_WAIT_MS for an init to finish, then fails.
 */
static int
take_lock(struct cust_state *st, int exclusive)
{
	int fd, waited = 0, op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
	struct stat sb;

	fd = openat(st->dirfd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		fd = openat(st->dirfd, LOCK_NAME, O_RDONLY | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return cust_fail(errno == ELOOP ? CUST_E_PERM : CUST_E_IO,
		    "cannot open the lock %s/" LOCK_NAME ": %s", st->dir,
		    strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cust_fail(CUST_E_PERM, "%s/" LOCK_NAME " is not a "
		    "regular file: refusing it", st->dir);
	}
	while (flock(fd, op) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK && !exclusive &&
		    waited < STATE_LOCK_WAIT_MS) {
			usleep(LOCK_POLL_MS * 1000);
			waited += LOCK_POLL_MS;
			continue;
		}
		close(fd);
		if (errno != EWOULDBLOCK)
			return cust_fail(CUST_E_IO, "cannot lock %s/" LOCK_NAME
			    ": %s", st->dir, strerror(errno));
		if (exclusive)
			return cust_fail(CUST_E_UNAVAIL, "%s is in use by "
			    "another custody process (it holds %s/" LOCK_NAME
			    "): this command needs the state directory to "
			    "itself; stop the other process (custodyd, "
			    "custodyctl) and try again", st->dir, st->dir);
		return cust_fail(CUST_E_UNAVAIL, "%s is locked by another "
		    "process (an init is replacing the state); try again "
		    "later", st->dir);
	}
	st->lockfd = fd;
	return CUST_OK;
}

/* Open subdirectory i without following a link, and refuse it unless it
 * is ours and closed to others; *fd_out is new. CUST_E_NOTFOUND when it
 * does not exist. */
static int
open_subdir(struct cust_state *st, size_t i, int *fd_out)
{
	char shown[PATH_MAX];
	int r;

	snprintf(shown, sizeof(shown), "%s/%s", st->dir, subdirs[i].name);
	r = util_open_dir_at(st->dirfd, subdirs[i].name, fd_out);
	if (r == CUST_E_PERM)
		return cust_fail(r, "%s is a symbolic link: refusing to follow "
		    "it", shown);
	if (r != CUST_OK)
		return r;
	if ((r = util_check_dir(*fd_out, shown)) != CUST_OK) {
		close(*fd_out);
		*fd_out = -1;
	}
	return r;
}

/* Check each subdirectory that exists. */
static int
check_subdirs(struct cust_state *st)
{
	size_t i;
	int fd, r;

	for (i = 0; i < NSUBDIRS; i++) {
		if ((r = open_subdir(st, i, &fd)) == CUST_E_NOTFOUND)
			continue;
		if (r != CUST_OK)
			return r;
		close(fd);
	}
	return CUST_OK;
}

/* Whether rel exists under the state directory (not followed if a link;
 * a link counts as existing). */
static int
exists(struct cust_state *st, const char *rel)
{
	struct stat sb;

	return fstatat(st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Remove the regular files and links directly in subdirectory sub, except
 * the names in keep (NULL-terminated, may be NULL). */
static int
empty_subdir(struct cust_state *st, const char *sub, char *const *keep)
{
	struct dirent *de;
	struct stat sb;
	DIR *dp;
	size_t k;
	int fd, r;

	if ((r = util_open_dir_at(st->dirfd, sub, &fd)) != CUST_OK)
		return r == CUST_E_NOTFOUND ? CUST_OK : r;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return cust_fail(CUST_E_IO, "cannot read %s/%s: %s", st->dir,
		    sub, strerror(errno));
	}
	r = CUST_OK;
	while (r == CUST_OK && (de = readdir(dp)) != NULL) {
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    (!S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)))
			continue;
		for (k = 0; keep != NULL && keep[k] != NULL; k++)
			if (strcmp(keep[k], de->d_name) == 0)
				break;
		if (keep != NULL && keep[k] != NULL)
			continue;
		if (unlinkat(fd, de->d_name, 0) == -1 && errno != ENOENT)
			r = cust_fail(CUST_E_IO, "cannot remove %s/%s/%s: %s",
			    st->dir, sub, de->d_name, strerror(errno));
	}
	closedir(dp);
	return r;
}

/* Destroy the old state (init --force, under the exclusive lock): the
 * store, the master key and the files of ca/, tls/ and admin/. */
static int
wipe(struct cust_state *st)
{
	static const char *const subs[] = { "ca", "tls", "admin" };
	size_t i;
	int r;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if ((r = empty_subdir(st, subs[i], NULL)) != CUST_OK)
			return r;
	for (i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++)
		if ((r = util_unlink_at(st->dirfd, db_files[i])) != CUST_OK)
			return r;
	return util_unlink_at(st->dirfd, KEY_NAME);
}

/* The names in subdirectory sub (NULL-terminated, new) into *out. */
static int
list_names(struct cust_state *st, const char *sub, char ***out)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0;
	DIR *dp;
	int fd, r;

	*out = NULL;
	if ((r = util_open_dir_at(st->dirfd, sub, &fd)) != CUST_OK)
		return r;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return cust_fail(CUST_E_IO, "cannot read %s/%s: %s", st->dir,
		    sub, strerror(errno));
	}
	r = CUST_OK;
	while ((de = readdir(dp)) != NULL) {
		if ((nv = realloc(v, (n + 2) * sizeof(*v))) == NULL ||
		    (nv[n] = strdup(de->d_name)) == NULL) {
			v = nv != NULL ? nv : v;
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		v = nv;
		v[++n] = NULL;
	}
	closedir(dp);
	if (r != CUST_OK) {
		while (n > 0)
			free(v[--n]);
		free(v);
		return r;
	}
	*out = v;
	return CUST_OK;
}

/* Create the subdirectories (recording which this run made and what the
 * others held) and set their modes through their descriptors. */
static int
make_subdirs(struct cust_state *st)
{
	size_t i;
	int fd, r;

	for (i = 0; i < NSUBDIRS; i++) {
		if (mkdirat(st->dirfd, subdirs[i].name, subdirs[i].mode) == 0)
			st->undo->made_sub[i] = 1;
		else if (errno != EEXIST)
			return cust_fail(CUST_E_IO, "cannot create %s/%s: %s",
			    st->dir, subdirs[i].name, strerror(errno));
		else if ((r = list_names(st, subdirs[i].name,
		    &st->undo->pre[i])) != CUST_OK)
			return r;
		st->undo->listed[i] = 1;
		if ((r = open_subdir(st, i, &fd)) != CUST_OK)
			return r;
		if (fchmod(fd, subdirs[i].mode) == -1)
			r = cust_fail(CUST_E_IO, "cannot chmod %s/%s: %s",
			    st->dir, subdirs[i].name, strerror(errno));
		close(fd);
		if (r != CUST_OK)
			return r;
	}
	return CUST_OK;
}

/* Create st->dir (its parents as needed), noting whether this run made
 * the directory itself. */
static int
make_dir(struct cust_state *st)
{
	char parent[PATH_MAX];
	char *slash;
	size_t n = strlen(st->dir);
	int r;

	if (mkdir(st->dir, 0700) == 0) {
		st->undo->made_dir = 1;
		return CUST_OK;
	}
	if (errno == EEXIST)
		return CUST_OK;
	if (errno != ENOENT || n >= sizeof(parent))
		return cust_fail(CUST_E_IO, "cannot create %s: %s", st->dir,
		    strerror(errno));
	memcpy(parent, st->dir, n + 1);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		if ((r = util_mkdirs(parent, 0755)) != CUST_OK)
			return r;
	}
	if (mkdir(st->dir, 0700) == 0)
		st->undo->made_dir = 1;
	else if (errno != EEXIST)
		return cust_fail(CUST_E_IO, "cannot create %s: %s", st->dir,
		    strerror(errno));
	return CUST_OK;
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

/* Whether the store of an existing state was left by an init that never
 * finished (STATE_INIT_UNFINISHED still set): nothing of value is in it.
 * Called under the exclusive lock, so the init that made it is gone. A
 * store that cannot be read is not called unfinished (only init --force
 * replaces it). */
static int
unfinished_store(const char *db)
{
	struct store *s = NULL;
	unsigned char *v = NULL;
	size_t len = 0;
	int u;

	if (store_open(db, 0, &s) != CUST_OK) {
		cust_clearerr();
		return 0;
	}
	u = store_meta_get(s, UNFINISHED_META, &v, &len) == CUST_OK;
	free(v);
	cust_clearerr();
	store_close(s);
	return u;
}

int
state_init(const char *dir, int force, struct cust_state **out)
{
	return state_init_flags(dir, force, 0, out);
}

int
state_init_done(struct cust_state *st, const char *actor, const char *detail)
{
	int r;

	if ((r = store_begin(st->store)) != CUST_OK)
		return r;
	if ((r = audit_append(st->audit, actor, "state.init", st->dir, "ok",
	    detail)) != CUST_OK ||
	    (r = store_exec(st->store, "DELETE FROM meta WHERE key = '"
	    UNFINISHED_META "'")) != CUST_OK ||
	    (r = store_commit(st->store)) != CUST_OK)
		store_rollback(st->store);
	return r;
}

int
state_init_flags(const char *dir, int force, unsigned flags,
    struct cust_state **out)
{
	struct cust_state *st = NULL;
	unsigned char *w = NULL;
	size_t wlen = 0;
	char *db = NULL;
	int r;

	*out = NULL;
	if ((st = state_new(dir)) == NULL ||
	    (st->undo = calloc(1, sizeof(*st->undo))) == NULL ||
	    (db = util_path(dir, DB_NAME)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	/* Nothing is removed or created before the exclusive lock is ours:
	 * a second init, or one run beside a working process, stops here. */
	if ((r = make_dir(st)) != CUST_OK || (r = open_dir(st)) != CUST_OK ||
	    (r = take_lock(st, 1)) != CUST_OK ||
	    (r = check_subdirs(st)) != CUST_OK)
		goto fail;
	if (exists(st, DB_NAME) || exists(st, KEY_NAME)) {
		if (!force && !(exists(st, DB_NAME) && unfinished_store(db))) {
			r = cust_fail(CUST_E_EXISTS, "%s already holds a custody "
			    "state; use --force to destroy it and start over",
			    dir);
			goto fail;
		}
		if ((r = wipe(st)) != CUST_OK)
			goto fail;
	}
	if ((r = make_subdirs(st)) != CUST_OK ||
	    (r = seal_keysrc_file.create(dir)) != CUST_OK ||
	    (r = store_open(db, STORE_CREATE, &st->store)) != CUST_OK ||
	    (r = seal_create_datakey(&seal_keysrc_file, dir, &w, &wlen)) !=
	    CUST_OK)
		goto undo;
	/* The data key and, for an init with more to do, the mark that it
	 * is not finished: together, so that no store has a key without it. */
	if ((r = store_begin(st->store)) != CUST_OK)
		goto undo;
	if (((flags & STATE_INIT_UNFINISHED) && (r = store_meta_set(st->store,
	    UNFINISHED_META, "1", 1)) != CUST_OK) ||
	    (r = store_meta_set(st->store, DATAKEY_META, w, wlen)) != CUST_OK ||
	    (r = store_commit(st->store)) != CUST_OK) {
		store_rollback(st->store);
		goto undo;
	}
	if ((r = finish_open(st, STATE_INTEGRITY_NEW)) != CUST_OK)
		goto undo;
	*out = st;
	st = NULL;
	goto out;
undo:
	if (state_init_undo(st) != CUST_OK)
		log_warnx("could not remove the half-made state: %s",
		    cust_errmsg());
	st = NULL;
	goto out;
fail:
	/* Before anything was made: a lock failure must not remove the
	 * directory another init is filling. */
	if (st != NULL && st->undo != NULL && st->undo->made_dir &&
	    st->lockfd != -1) {
		(void)unlinkat(st->dirfd, LOCK_NAME, 0);
		(void)rmdir(dir);
	}
out:
	free(w);
	free(db);
	state_close(st);
	return r;
}

int
state_init_undo(struct cust_state *st)
{
	struct state_undo *u;
	int r = CUST_OK, r2;
	size_t i;

	if (st == NULL)
		return CUST_OK;
	if ((u = st->undo) == NULL || st->lockfd == -1) {
		state_close(st);
		return cust_fail(CUST_E_INTERNAL, "no init to undo");
	}
	/* The store first: its files are closed before they are removed. */
	audit_free(st->audit);
	st->audit = NULL;
	seal_free(st->seal);
	st->seal = NULL;
	store_close(st->store);
	st->store = NULL;
	for (i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++)
		if ((r2 = util_unlink_at(st->dirfd, db_files[i])) != CUST_OK &&
		    r == CUST_OK)
			r = r2;
	for (i = 0; i < NSUBDIRS; i++) {
		/* A subdirectory neither made nor listed by this run was not
		 * touched by it. */
		if (!u->made_sub[i] && !u->listed[i])
			continue;
		if ((r2 = empty_subdir(st, subdirs[i].name, u->pre[i])) !=
		    CUST_OK && r == CUST_OK)
			r = r2;
		if (u->made_sub[i])
			(void)unlinkat(st->dirfd, subdirs[i].name, AT_REMOVEDIR);
	}
	if (u->made_dir) {
		(void)unlinkat(st->dirfd, LOCK_NAME, 0);
		(void)rmdir(st->dir);
	}
	state_close(st);
	return r;
}

/*
 * Pending file changes. A change of CA state writes its files under
 * staged names (NAME.new.TOKEN) before its commit, and records in the same
 * transaction the list of renames that install them (meta files.pending,
 * lines "STAGED\tFINAL"). A process killed after the commit leaves the list
 * behind; the next state_open() carries out the renames. The renames and
 * the clearing of the list run under the store's write lock, so that two
 * processes finishing the same list, or a new change staging its files,
 * never interleave with them.
 */

/* Rename staged to final (both relative to the state directory). A
 * staged file that is gone was installed already. */
static int
install_one(struct cust_state *st, const char *staged, const char *final)
{
	const char *sleaf, *fleaf;
	int sfd = -1, ffd = -1, r;

	if ((r = util_open_parent_at(st->dirfd, staged, &sfd, &sleaf)) !=
	    CUST_OK ||
	    (r = util_open_parent_at(st->dirfd, final, &ffd, &fleaf)) !=
	    CUST_OK)
		goto out;
	if (renameat(sfd, sleaf, ffd, fleaf) == -1 && errno != ENOENT) {
		r = cust_fail(CUST_E_IO, "the change is committed, but %s/%s "
		    "could not be renamed to %s/%s (%s); custody retries at "
		    "its next start", st->dir, staged, st->dir, final,
		    strerror(errno));
		goto out;
	}
	(void)fsync(ffd);
out:
	if (sfd != -1)
		close(sfd);
	if (ffd != -1)
		close(ffd);
	return r;
}

/* Carry out the renames of list j (modified in place). */
static int
replay(struct cust_state *st, char *j)
{
	char *line, *next, *tab;
	size_t flen;
	int r;

	for (line = j; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		/* Only FINAL.new.TOKEN -> FINAL, whatever the store says. */
		if ((tab = strchr(line, '\t')) == NULL)
			goto bad;
		*tab = '\0';
		flen = strlen(tab + 1);
		if (flen == 0 || strncmp(line, tab + 1, flen) != 0 ||
		    strncmp(line + flen, STATE_STAGED_MARK,
		    strlen(STATE_STAGED_MARK)) != 0 ||
		    strchr(line + flen, '/') != NULL)
			goto bad;
		if ((r = install_one(st, line, tab + 1)) != CUST_OK)
			return r;
		/* Tests stop here: one file renamed, the others not. */
		util_test_crash("files-install");
	}
	return CUST_OK;
bad:
	return cust_fail(CUST_E_DB, "the store's list of pending file changes "
	    "is damaged");
}

/* The pending list as a new NUL-terminated string ("" when none). */
static int
pending_get(struct cust_state *st, char **out)
{
	unsigned char *v = NULL;
	size_t len = 0;
	char *s;
	int r;

	*out = NULL;
	r = store_meta_get(st->store, FILES_META, &v, &len);
	if (r == CUST_E_NOTFOUND)
		len = 0;
	else if (r != CUST_OK)
		return r;
	if ((s = malloc(len + 1)) == NULL) {
		free(v);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	if (len > 0)
		memcpy(s, v, len);
	s[len] = '\0';
	free(v);
	*out = s;
	return CUST_OK;
}

int
state_files_pending(struct cust_state *st, const char *list)
{
	char *old = NULL;
	int r;

	if (!store_in_txn(st->store))
		return cust_fail(CUST_E_INTERNAL, "pending files outside a "
		    "transaction");
	/* A committed change not installed yet (its process died, or is
	 * between its commit and its renames): install it first, in order. */
	if ((r = pending_get(st, &old)) == CUST_OK && *old != '\0')
		r = replay(st, old);
	free(old);
	if (r != CUST_OK)
		return r;
	return store_meta_set(st->store, FILES_META, list, strlen(list));
}

int
state_files_listed(struct cust_state *st, const char *staged)
{
	char *j = NULL, *line, *next, *tab;
	int r, found = 0;

	if ((r = pending_get(st, &j)) != CUST_OK)
		return r;
	for (line = j; line != NULL && *line != '\0' && !found; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((tab = strchr(line, '\t')) != NULL)
			*tab = '\0';
		found = strcmp(line, staged) == 0;
	}
	free(j);
	return found;
}

int
state_files_finish(struct cust_state *st)
{
	char *j = NULL;
	int r;

	if ((r = pending_get(st, &j)) != CUST_OK || *j == '\0') {
		free(j);
		return r;
	}
	free(j);
	j = NULL;
	if ((r = store_begin(st->store)) != CUST_OK)
		return r;
	/* Read again under the write lock: another process may have
	 * finished it meanwhile. */
	if ((r = pending_get(st, &j)) != CUST_OK)
		goto fail;
	if (*j != '\0' && ((r = replay(st, j)) != CUST_OK ||
	    (r = store_meta_set(st->store, FILES_META, "", 0)) != CUST_OK))
		goto fail;
	free(j);
	return store_commit(st->store);
fail:
	free(j);
	store_rollback(st->store);
	return r;
}

/* A store whose init was stopped before it finished is no working state
 * (no CA, no init audited): refused, naming the way out. */
static int
refuse_unfinished(struct cust_state *st)
{
	unsigned char *v = NULL;
	size_t len = 0;
	int r;

	r = store_meta_get(st->store, UNFINISHED_META, &v, &len);
	free(v);
	if (r == CUST_E_NOTFOUND) {
		cust_clearerr();
		return CUST_OK;
	}
	if (r != CUST_OK)
		return r;
	return cust_fail(CUST_E_UNAVAIL, "the init of %s did not finish (it "
	    "was stopped before it was done): run 'custodyctl --state-dir %s "
	    "init' again", st->dir, st->dir);
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
	if ((st = state_new(dir)) == NULL ||
	    (db = util_path(dir, DB_NAME)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	/* Accepting a restored store resets the rollback counter and
	 * rewrites DIR/ca: like init, with the state to itself (a process
	 * still using the old store would move the counter on it). */
	if ((r = open_dir(st)) != CUST_OK || (r = take_lock(st,
	    (flags & STATE_OPEN_RESTORE) != 0)) != CUST_OK ||
	    (r = check_subdirs(st)) != CUST_OK)
		goto out;
	if (fstatat(st->dirfd, DB_NAME, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			r = cust_fail(CUST_E_IO, "cannot stat %s: %s", db,
			    strerror(errno));
		else if (!exists(st, KEY_NAME))
			r = cust_fail(CUST_E_UNAVAIL, "no custody state in %s "
			    "(create one with 'custodyctl --state-dir %s "
			    "init')", dir, dir);
		else
			r = cust_fail(CUST_E_DB, "the store %s is missing: "
			    "custody cannot read its state (restore it, or run "
			    "init)", db);
		goto out;
	}
	/* Others who could write it could put an older copy back. */
	if ((r = util_check_file(&sb, db)) != CUST_OK)
		goto out;
	if ((r = store_open(db, 0, &st->store)) != CUST_OK ||
	    (r = refuse_unfinished(st)) != CUST_OK ||
	    (r = finish_open(st, flags & STATE_OPEN_RESTORE)) != CUST_OK ||
	    (r = state_files_finish(st)) != CUST_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	free(db);
	state_close(st);
	return r;
}
