/* SPDX-License-Identifier: MIT */
/* src/store/store.c - SQLite store: open, checks, migrations, statements. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "store.h"
#include "store_int.h"

#define STMT_CACHE_MIN 64	/* first allocation of the statement cache */
#define MAX_HOOKS 8

struct store_hook {
	int (*fn)(void *arg);
	void *arg;
};

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *stmt;
};

/* The transaction statements, prepared at open (in the statement cache):
 * with sqlite3_exec() each BEGIN, COMMIT and ROLLBACK was parsed again,
 * a tenth of a secret read's CPU in custodyd (a BEGIN and a ROLLBACK per
 * read, a BEGIN and a COMMIT per audit batch). */
enum { TX_DEFERRED, TX_IMMEDIATE, TX_COMMIT, TX_ROLLBACK, TX_N };
static const char *const tx_sql[TX_N] = { "BEGIN DEFERRED",
	"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK" };

struct store {
	sqlite3 *db;
	int in_txn;
	int txn_read;		/* the open one is store_begin_read()'s */
	sqlite3_stmt *tx[TX_N];	/* tx_sql's, borrowed from the cache */
	uint64_t txn_id;
	/* Run just before COMMIT (a failure rolls back), and after a
	 * successful one (the rollback counter; results ignored). */
	size_t nhooks, nafter;
	struct store_hook hooks[MAX_HOOKS], after[MAX_HOOKS];
	struct store_rowmac *rowmac;
	int tampered;		/* the last store_err() was a row MAC */
	/* The statement cache: grows, never evicts (see store_stmt()). */
	size_t nstmt, capstmt;
	struct stmt_slot *stmts;
	/* The database file opened (its path, device and inode): a commit
	 * checks that it is still there (store_commit()). */
	char *path;
	dev_t dev;
	ino_t ino;
};

int
store_err(struct store *st, const char *what)
{
	int ec = sqlite3_extended_errcode(st->db), prim = ec & 0xff;
	const char *msg = sqlite3_errmsg(st->db);

	st->tampered = store_rowmac_take_tamper(st->rowmac);
	if (sqlite3_system_errno(st->db) == ENOSPC)
		prim = SQLITE_FULL;
	switch (prim) {
	case SQLITE_CONSTRAINT:
		return cust_fail(CUST_E_CONFLICT, "%s: %s", what, msg);
	case SQLITE_FULL:
		return cust_fail(CUST_E_IO, "%s: the disk is full (%s); "
		    "this transaction was not committed", what, msg);
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return cust_fail(CUST_E_IO, "%s: cannot write the store (%s); "
		    "is the state directory read-only?", what, msg);
	case SQLITE_IOERR:
		return cust_fail(CUST_E_IO, "%s: I/O error in the store (%s)",
		    what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return cust_fail(CUST_E_UNAVAIL, "%s: the store is locked by "
		    "another process (%s)", what, msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return cust_fail(CUST_E_DB, "%s: the store is damaged (%s); "
		    "restore it from a backup", what, msg);
	default:
		return cust_fail(CUST_E_DB, "%s: %s", what, msg);
	}
}

/*
 * SQLite reads a truncated file as if the missing pages were absent and
 * may answer a query with fewer rows instead of an error. Compare the
 * size recorded in the header with the file's real size first. Not while
 * a WAL holds frames: a checkpoint writes page 1 (with the new size)
 * before the pages that grow the file, and a checkpoint cut short by a
 * crash is finished from the WAL at open; the header alone says nothing
 * then.
 */
static int
check_header(sqlite3 *db, const char *path)
{
	unsigned char h[100];
	char wal[PATH_MAX];
	struct stat wsb;
	sqlite3_file *f = NULL;
	sqlite3_int64 size = 0;
	uint32_t pgsz, npages, change, valid;
	ssize_t n;

	/* Through SQLite's own descriptor: opening the file with open(2)
	 * and closing it would drop every POSIX lock this process holds on
	 * it (fcntl locks belong to the process and go with any close), so
	 * the other connections of a threaded process (custodyd's workers)
	 * would lose theirs, and another process closing its connection
	 * would take itself for the last one and checkpoint and delete the
	 * WAL under them. */
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) !=
	    SQLITE_OK || f == NULL || f->pMethods == NULL)
		return cust_fail(CUST_E_DB, "cannot open store %s", path);
	if (f->pMethods->xFileSize(f, &size) != SQLITE_OK)
		return cust_fail(CUST_E_IO, "cannot read store %s", path);
	n = size == 0 ? 0 : size < (sqlite3_int64)sizeof(h) ? -1 :
	    f->pMethods->xRead(f, h, sizeof(h), 0) == SQLITE_OK ?
	    (ssize_t)sizeof(h) : -1;
	if (n == 0)
		return CUST_OK;	/* new, empty database */
	if (n != (ssize_t)sizeof(h) ||
	    memcmp(h, "SQLite format 3", 16) != 0)
		return cust_fail(CUST_E_DB, "store %s is not a custody "
		    "database or is damaged (bad header)", path);
	pgsz = (uint32_t)h[16] << 8 | h[17];
	if (pgsz == 1)
		pgsz = 65536;
	npages = (uint32_t)h[28] << 24 | (uint32_t)h[29] << 16 |
	    (uint32_t)h[30] << 8 | h[31];
	change = (uint32_t)h[24] << 24 | (uint32_t)h[25] << 16 |
	    (uint32_t)h[26] << 8 | h[27];
	valid = (uint32_t)h[92] << 24 | (uint32_t)h[93] << 16 |
	    (uint32_t)h[94] << 8 | h[95];
	if (pgsz < 512 || (pgsz & (pgsz - 1)) != 0)
		return cust_fail(CUST_E_DB, "store %s is damaged (bad page "
		    "size)", path);
	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) < sizeof(wal) &&
	    stat(wal, &wsb) == 0 && wsb.st_size > 0)
		return CUST_OK;
	if (change == valid && npages > 0 &&
	    (uint64_t)size < (uint64_t)npages * pgsz)
		return cust_fail(CUST_E_DB, "store %s is truncated (%lld "
		    "bytes, header says %llu); restore it from a backup", path,
		    (long long)size, (unsigned long long)npages * pgsz);
	return CUST_OK;
}

int
store_exec(struct store *st, const char *sql)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_err(st, "store");
	return CUST_OK;
}

int
store_schema_version(struct store *st, const char *module)
{
	sqlite3_stmt *s = store_stmt(st,
	    "SELECT version FROM schema_version WHERE module = ?");
	int v = 0;

	if (s == NULL)
		return 0;
	sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return v;
}

static int
migrate(struct store *st)
{
	const struct store_migration *m;
	sqlite3_stmt *s;
	int r, need = 0;

	if ((r = store_exec(st, "CREATE TABLE IF NOT EXISTS schema_version("
	    "module TEXT PRIMARY KEY, version INTEGER NOT NULL)")) != CUST_OK)
		return r;
	for (m = store_migrations; m->module != NULL; m++)
		if (store_schema_version(st, m->module) < m->version)
			need = 1;
	if (!need)
		return CUST_OK;
	if ((r = store_begin(st)) != CUST_OK)
		return r;
	for (m = store_migrations; m->module != NULL; m++) {
		if (store_schema_version(st, m->module) >= m->version)
			continue;
		if ((r = store_exec(st, m->sql)) != CUST_OK)
			goto fail;
		if ((s = store_stmt(st, "INSERT INTO schema_version(module, "
		    "version) VALUES (?, ?) ON CONFLICT(module) DO UPDATE SET "
		    "version = excluded.version")) == NULL) {
			r = CUST_E_DB;
			goto fail;
		}
		sqlite3_bind_text(s, 1, m->module, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, m->version);
		if ((r = store_step_done(st, s, "schema migration")) != CUST_OK)
			goto fail;
	}
	return store_commit(st);
fail:
	store_rollback(st);
	return r;
}

int
store_open(const char *path, unsigned flags, struct store **out)
{
	struct store *st;
	struct stat sb;
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, k, r;

	*out = NULL;
	if (flags & STORE_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	else if (stat(path, &sb) != 0)
		return cust_fail(errno == ENOENT ? CUST_E_DB : CUST_E_IO,
		    "cannot open store %s: %s", path, strerror(errno));
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (sqlite3_open_v2(path, &st->db, oflags, NULL) != SQLITE_OK) {
		r = st->db ? store_err(st, "cannot open the store") :
		    cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	if (!(flags & STORE_CREATE) && (r = check_header(st->db, path)) !=
	    CUST_OK)
		goto fail;
	sqlite3_extended_result_codes(st->db, 1);
	if ((r = store_rowmac_register(st->db, &st->rowmac)) != CUST_OK)
		goto fail;
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		r = cust_fail(CUST_E_IO, "store %s is read-only: custody must "
		    "be able to write it (audit log)", path);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	for (k = 0; k < TX_N; k++)
		if ((st->tx[k] = store_stmt(st, tx_sql[k])) == NULL) {
			r = CUST_E_DB;
			goto fail;
		}
	/*
	 * WAL for concurrent readers; synchronous=FULL because a pending
	 * secret must be durable before it is sent anywhere.
	 */
	if ((r = store_exec(st, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	    "PRAGMA secure_delete=ON; PRAGMA trusted_schema=OFF")) != CUST_OK)
		goto fail;
	if ((r = migrate(st)) != CUST_OK)
		goto fail;
	if ((st->path = strdup(path)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto fail;
	}
	if (stat(path, &sb) == 0) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
	*out = st;
	return CUST_OK;
fail:
	store_close(st);
	return r;
}

/* Whether st's database file is still at its path: a commit to a file
 * that was removed (the state directory deleted under a running
 * custodyd) or replaced (a restore) would be lost with the process, and
 * an audit entry that nobody can read is no audit entry. */
static int
check_file(struct store *st)
{
	struct stat sb;

	if (st->ino == 0)
		return CUST_OK;
	if (stat(st->path, &sb) != 0 || sb.st_dev != st->dev ||
	    sb.st_ino != st->ino)
		return cust_fail(CUST_E_UNAVAIL, "%s was removed or replaced "
		    "since it was opened: nothing is committed to it (restart "
		    "on the state directory)", st->path);
	return CUST_OK;
}

void
store_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nstmt; i++)
		sqlite3_finalize(st->stmts[i].stmt);
	free(st->stmts);
	if (st->in_txn)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(st->db);
	store_rowmac_free(st->rowmac);
	free(st->path);
	free(st);
}

void
store_set_row_key(struct store *st, struct seal_secret *key)
{
	store_rowmac_setkey(st->rowmac, key);
}

int
store_row_reseal(struct store *st, const char *sql, int64_t id)
{
	sqlite3_stmt *s = store_stmt(st, sql);
	int r;

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	if ((r = store_step_done(st, s, "record a row MAC")) != CUST_OK)
		return r;
	if (sqlite3_changes(st->db) != 1)
		return cust_fail(CUST_E_INTERNAL, "record a row MAC: no row "
		    "%lld", (long long)id);
	return CUST_OK;
}

void
store_set_tampered(struct store *st)
{
	st->tampered = 1;
}

int
store_tampered(struct store *st)
{
	return st->tampered;
}

sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

/*
 * The cache is keyed by the SQL pointer, and callers hold what it returns
 * (often across calls that prepare other statements, e.g. an outer loop
 * over rows), with no call that says they are done. So it never finalises
 * a statement before store_close(): evicting one, even the least recently
 * used, can free a statement a caller is still stepping or binding. What
 * keeps it bounded is that keys are string literals: a program has a fixed
 * number of them (about a hundred). Passing built SQL would grow it without
 * end, so past STORE_STMT_MAX it refuses instead of evicting.
 */
sqlite3_stmt *
store_stmt(struct store *st, const char *sql)
{
	struct stmt_slot *slots;
	sqlite3_stmt *s;
	size_t i, cap;

	for (i = 0; i < st->nstmt; i++) {
		if (st->stmts[i].sql == sql) {
			s = st->stmts[i].stmt;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return s;
		}
	}
	if (st->nstmt == STORE_STMT_MAX) {
		cust_fail(CUST_E_INTERNAL, "more than %d distinct SQL "
		    "statements on one connection: store_stmt() takes string "
		    "literals", STORE_STMT_MAX);
		return NULL;
	}
	if (st->nstmt == st->capstmt) {
		cap = st->capstmt == 0 ? STMT_CACHE_MIN : 2 * st->capstmt;
		if (cap > STORE_STMT_MAX)
			cap = STORE_STMT_MAX;
		if ((slots = realloc(st->stmts, cap * sizeof(*slots))) ==
		    NULL) {
			cust_fail(CUST_E_NOMEM, "out of memory");
			return NULL;
		}
		st->stmts = slots;
		st->capstmt = cap;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
	    NULL) != SQLITE_OK) {
		store_err(st, "cannot prepare a query");
		return NULL;
	}
	st->stmts[st->nstmt].sql = sql;
	st->stmts[st->nstmt].stmt = s;
	st->nstmt++;
	return s;
}

/* Run the transaction statement k: SQLITE_OK or SQLite's error (the
 * connection's error, for store_err(), stays after the reset). */
static int
tx_run(struct store *st, int k)
{
	int rc = sqlite3_step(st->tx[k]);

	(void)sqlite3_reset(st->tx[k]);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
begin(struct store *st, int k)
{
	if (st->in_txn)
		return cust_fail(CUST_E_INTERNAL, "nested transaction");
	if (tx_run(st, k) != SQLITE_OK)
		return store_err(st, "cannot start a transaction");
	st->in_txn = 1;
	st->txn_read = k == TX_DEFERRED;
	st->txn_id++;
	st->nhooks = 0;
	st->nafter = 0;
	return CUST_OK;
}

int
store_begin(struct store *st)
{
	return begin(st, TX_IMMEDIATE);
}

/*
 * Another connection (a bulk import in another process, a rotation batch
 * on another thread) may hold the write lock longer than the busy timeout.
 * Those who can wait (the audit writer, whose callers wait for it anyway)
 * try again until wait_ms has passed, instead of failing after 5 s.
 */
int
store_begin_wait(struct store *st, int64_t wait_ms, unsigned *retries_out)
{
	struct timespec t0, t;
	int64_t ms;
	int r;

	*retries_out = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((r = begin(st, TX_IMMEDIATE)) == CUST_OK ||
		    (sqlite3_extended_errcode(st->db) & 0xff) != SQLITE_BUSY)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (int64_t)(t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= wait_ms)
			return cust_fail(r, "%s (waited %lld ms for the write "
			    "lock)", cust_errmsg(), (long long)ms);
		(*retries_out)++;
		/* The busy handler has slept already; this only keeps a busy
		 * answer that skips it (a WAL being recovered) from spinning. */
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

int
store_begin_read(struct store *st)
{
	return begin(st, TX_DEFERRED);
}

uint64_t
store_txn_id(struct store *st)
{
	return st->txn_id;
}

int
store_stamp(struct store *st, struct store_stamp *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((s = store_stmt(st, "PRAGMA data_version")) == NULL)
		return CUST_E_DB;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		out->data_version = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_err(st, "read the data version");
	out->changes = sqlite3_total_changes64(st->db);
	return CUST_OK;
}

int
store_stamp_unchanged(struct store *st, const struct store_stamp *stamp)
{
	struct store_stamp now;

	if (store_stamp(st, &now) != CUST_OK) {
		cust_clearerr();
		return 0;
	}
	return now.data_version == stamp->data_version &&
	    now.changes == stamp->changes;
}

static int
add_hook(struct store *st, struct store_hook *hooks, size_t *n,
    int (*fn)(void *arg), void *arg)
{
	size_t i;

	if (!st->in_txn)
		return cust_fail(CUST_E_INTERNAL, "commit hook outside a "
		    "transaction");
	for (i = 0; i < *n; i++)
		if (hooks[i].fn == fn && hooks[i].arg == arg)
			return CUST_OK;
	if (*n == MAX_HOOKS)
		return cust_fail(CUST_E_INTERNAL, "too many commit hooks");
	hooks[*n].fn = fn;
	hooks[*n].arg = arg;
	(*n)++;
	return CUST_OK;
}

int
store_on_commit(struct store *st, int (*fn)(void *arg), void *arg)
{
	return add_hook(st, st->hooks, &st->nhooks, fn, arg);
}

int
store_after_commit(struct store *st, int (*fn)(void *arg), void *arg)
{
	return add_hook(st, st->after, &st->nafter, fn, arg);
}

int
store_commit(struct store *st)
{
	size_t i, nafter;
	int r;

	for (i = 0; i < st->nhooks; i++) {
		if ((r = st->hooks[i].fn(st->hooks[i].arg)) != CUST_OK) {
			store_rollback(st);
			return r;
		}
	}
	st->nhooks = 0;
	if ((r = check_file(st)) != CUST_OK) {
		store_rollback(st);
		return r;
	}
	if (tx_run(st, TX_COMMIT) != SQLITE_OK) {
		r = store_err(st, "cannot commit");
		store_rollback(st);
		return r;
	}
	st->in_txn = 0;
	nafter = st->nafter;
	st->nafter = 0;
	for (i = 0; i < nafter; i++)
		(void)st->after[i].fn(st->after[i].arg);
	return CUST_OK;
}

void
store_rollback(struct store *st)
{
	if (!st->in_txn)
		return;
	if (sqlite3_get_autocommit(st->db) == 0)
		(void)tx_run(st, TX_ROLLBACK);
	st->in_txn = 0;
	st->nhooks = 0;
	st->nafter = 0;
}

int
store_in_txn(struct store *st)
{
	return st->in_txn;
}

int
store_in_read_txn(struct store *st)
{
	return st->in_txn && st->txn_read;
}

int
store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s), r = CUST_OK;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_err(st, what);
	sqlite3_reset(s);
	return r;
}

int
store_meta_get(struct store *st, const char *key, unsigned char **val_out,
    size_t *len_out)
{
	sqlite3_stmt *s = store_stmt(st,
	    "SELECT value FROM meta WHERE key = ?");
	const void *v;
	int rc, n;

	*val_out = NULL;
	*len_out = 0;
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return cust_fail(CUST_E_NOTFOUND, "no %s in the store", key);
	}
	if (rc != SQLITE_ROW) {
		rc = store_err(st, "cannot read metadata");
		sqlite3_reset(s);
		return rc;
	}
	v = sqlite3_column_blob(s, 0);
	n = sqlite3_column_bytes(s, 0);
	if ((*val_out = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
		sqlite3_reset(s);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	if (n > 0)
		memcpy(*val_out, v, (size_t)n);
	*len_out = (size_t)n;
	sqlite3_reset(s);
	return CUST_OK;
}

int
store_meta_set(struct store *st, const char *key, const void *val, size_t len)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO meta(key, value) "
	    "VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
	    "excluded.value");

	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC);
	return store_step_done(st, s, "cannot write metadata");
}
