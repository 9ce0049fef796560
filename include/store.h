/* SPDX-License-Identifier: MIT */
/* include/store.h - the SQLite store: open, migrations, transactions,
 * cached prepared statements, key/value metadata.
 *
 * Modules keep their own SQL and run it through store_stmt(). Schema changes
 * are migrations registered in src/store/schema.c as (module, version, SQL);
 * store_open() applies the missing ones in order in one transaction.
 */
#ifndef CUST_STORE_H
#define CUST_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

struct store;

#define STORE_CREATE	0x1	/* create the database file if absent */

/* Open (or with STORE_CREATE create) the database at path: WAL, foreign
 * keys, busy timeout, migrations. new store, free with store_close(). An
 * unreadable, corrupt or non-database file gives CUST_E_DB. */
int store_open(const char *path, unsigned flags, struct store **out)
	__attribute__((warn_unused_result));

/* Close; NULL is a no-op. */
void store_close(struct store *st);

/* The connection; borrowed. */
sqlite3 *store_db(struct store *st);

/* A prepared statement for sql, cached by the sql pointer (pass string
 * literals), reset and with bindings cleared. Borrowed; valid until
 * store_close() (the cache never finalises a statement before: a caller
 * may hold it across other store_stmt() calls). NULL with the error set
 * (cust_errmsg) on failure, and CUST_E_INTERNAL past STORE_STMT_MAX
 * distinct statements (built SQL strings passed as keys). */
#define STORE_STMT_MAX 1024
sqlite3_stmt *store_stmt(struct store *st, const char *sql);

/* Transactions. store_begin() takes the write lock (BEGIN IMMEDIATE).
 * Nesting is not supported: store_in_txn() tells whether one is open. */
int store_begin(struct store *st) __attribute__((warn_unused_result));
/* store_begin(), but while another connection holds the write lock it
 * tries again (each try waits the busy timeout, 5 s) until wait_ms have
 * passed; then CUST_E_UNAVAIL. *retries_out = how many times it tried
 * again. */
int store_begin_wait(struct store *st, int64_t wait_ms, unsigned *retries_out)
	__attribute__((warn_unused_result));
/* A read transaction (BEGIN DEFERRED): several reads see one snapshot.
 * End it with store_commit() or store_rollback(). */
int store_begin_read(struct store *st) __attribute__((warn_unused_result));
/* Commit (hooks first). CUST_E_UNAVAIL, rolled back, when the database
 * file is no longer the one at the path it was opened from (removed or
 * replaced: what would be committed is lost). */
int store_commit(struct store *st) __attribute__((warn_unused_result));
void store_rollback(struct store *st);
int store_in_txn(struct store *st);
/* Whether the open transaction is a read transaction (store_begin_read()). */
int store_in_read_txn(struct store *st);

/* A number that changes with every store_begin(): lets a module cache
 * what it read inside one transaction and know when the cache is stale. */
uint64_t store_txn_id(struct store *st);

/*
 * Cross-process freshness. A stamp of the store's content as this
 * connection sees it: it changes with every commit of another connection
 * to the same database (another process, another thread's state: PRAGMA
 * data_version) and with every change this connection makes (its total
 * change count). A cache of what was read keeps the stamp taken before it
 * read and serves its copy only while store_stamp_unchanged() says so; it
 * is filled only outside a transaction (a change that is later rolled
 * back must never be cached).
 */
struct store_stamp {
	int64_t data_version;
	int64_t changes;
};
int store_stamp(struct store *st, struct store_stamp *out)
	__attribute__((warn_unused_result));
/* 1 when the store is as *stamp saw it, 0 when it changed (or cannot be
 * read: a cache is then not served). */
int store_stamp_unchanged(struct store *st, const struct store_stamp *stamp);

/* Run fn(arg) inside the open transaction just before it commits, once
 * per transaction (registering the same fn and arg again is a no-op). A
 * hook that fails makes store_commit() roll back and return its error.
 * Hooks are forgotten at commit or rollback. */
int store_on_commit(struct store *st, int (*fn)(void *arg), void *arg)
	__attribute__((warn_unused_result));

/* Run fn(arg) after the open transaction has committed, once per
 * transaction (same fn and arg again: no-op). It cannot undo the commit:
 * what it returns is ignored (the rollback counter, which may lag). */
int store_after_commit(struct store *st, int (*fn)(void *arg), void *arg)
	__attribute__((warn_unused_result));

/* Run one or more SQL statements without results. */
int store_exec(struct store *st, const char *sql)
	__attribute__((warn_unused_result));

/* Record the SQLite error of the last call as the error detail, prefixed by
 * what, and return CUST_E_DB (or CUST_E_CONFLICT for constraint failures,
 * CUST_E_IO for a full disk or read-only file). */
int store_err(struct store *st, const char *what);

/* Step a statement that returns no row (INSERT/UPDATE/DELETE): CUST_OK on
 * SQLITE_DONE, else store_err(). Resets the statement. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
	__attribute__((warn_unused_result));

/* Metadata blobs (table meta). get: new buffer (free()), CUST_E_NOTFOUND
 * when absent. */
int store_meta_get(struct store *st, const char *key, unsigned char **val_out,
    size_t *len_out) __attribute__((warn_unused_result));
int store_meta_set(struct store *st, const char *key, const void *val,
    size_t len) __attribute__((warn_unused_result));

/*
 * Row MACs (src/store/rowmac.c, doc/internals/SECRETS.md). Every row custody
 * trusts carries mac = keyed BLAKE2b over its table name and the columns
 * below, primary key first. SQL writes it with custody_mac(STORE_ROW_X) and
 * reads check it with STORE_CHECK(STORE_ROW_X) in the select list (or a
 * WHERE term): a row that does not match fails the statement with an error
 * naming the row; store_err() then gives CUST_E_DB (exit 5) and
 * store_tampered() tells it was a MAC.
 */
#define STORE_ROW_SECRET "'secret', device_id, kind, version, state, " \
	"sealed, created, changed"
#define STORE_ROW_CA_GEN "'ca_gen', gen, state, key_type, digest, " \
	"root_cert, issuing_cert, cross_up, cross_down, crl, crl_number, " \
	"crl_next, root_crl, root_crl_number, root_crl_next, created, " \
	"activated, retired"
#define STORE_ROW_CA_KEY "'ca_key', gen, role, key_type, sealed, created"
#define STORE_ROW_CERT "'cert', id, serial, kind, gen, holder, device_id, " \
	"csr_id, subject, not_before, not_after, status, revoked, reason, " \
	"sha256, der, created"
#define STORE_ROW_CONSOLE "'console', id, name, subject, state, created, " \
	"revoked"
#define STORE_ROW_POLICY "'policy', id, loaded, actor, file, sha256, " \
	"consoles, body"
#define STORE_ROW_STAFF "'staff', id, name, role, state, created, revoked"
#define STORE_ROW_CA_DELIVERY "'ca_delivery', serial, pid, pstart, created"
#define STORE_ROW_CA_SUPERSEDE "'ca_supersede', old_serial, new_serial, " \
	"created, due"
#define STORE_ROW_MIT_PRINCIPAL "'mit_principal', id, console, " \
	"principal, state, kvno, prev_kvno, prev_until, created, changed"
#define STORE_ROW_DIR_OBJECT "'dir_object', id, kind, name, dn, owner, sid, " \
	"state, created, changed, members"
#define STORE_ROW_DIR_SECRET "'dir_secret', object_id, version, state, " \
	"sealed, created, changed"
#define STORE_ROW_DEVICE_TLS "'device_tls', fqdn, serial, roots, " \
	"provisioned, updated"
/* The device row's mark that custody provisioned TLS on it (column
 * tls_mac; the row has no other MAC). */
#define STORE_ROW_DEVICE_TLSMARK "'device', id, fqdn, 'tls'"
#define STORE_CHECK(row) "custody_row(mac, " row ")"
/* The same check as a 0/1 value, for reports that list every bad row. */
#define STORE_MAC_OK(row) "custody_row_ok(mac, " row ")"
#define STORE_MAC(row) "custody_mac(" row ")"
/* Statements that give the row with integer key ? its MAC again, after an
 * INSERT or an UPDATE (which checks the old MAC in its WHERE). */
#define STORE_RESEAL_CA_GEN "UPDATE ca_gen SET mac = " \
	STORE_MAC(STORE_ROW_CA_GEN) " WHERE gen = ?"
#define STORE_RESEAL_CERT "UPDATE cert SET mac = " \
	STORE_MAC(STORE_ROW_CERT) " WHERE id = ?"
#define STORE_RESEAL_CONSOLE "UPDATE console SET mac = " \
	STORE_MAC(STORE_ROW_CONSOLE) " WHERE id = ?"
#define STORE_RESEAL_POLICY "UPDATE policy SET mac = " \
	STORE_MAC(STORE_ROW_POLICY) " WHERE id = ?"
#define STORE_RESEAL_MIT_PRINCIPAL "UPDATE mit_principal SET mac = " \
	STORE_MAC(STORE_ROW_MIT_PRINCIPAL) " WHERE id = ?"
#define STORE_RESEAL_STAFF "UPDATE staff SET mac = " \
	STORE_MAC(STORE_ROW_STAFF) " WHERE id = ?"
#define STORE_RESEAL_DIR_OBJECT "UPDATE dir_object SET mac = " \
	STORE_MAC(STORE_ROW_DIR_OBJECT) " WHERE id = ?"

/* Run a STORE_RESEAL_* statement for key id: CUST_OK when it changed
 * exactly that row. */
int store_row_reseal(struct store *st, const char *sql, int64_t id)
	__attribute__((warn_unused_result));

/* Give the store the row MAC key (owned from now on; freed with the
 * store). Until then custody_mac() and custody_row() fail. */
struct seal_secret;
void store_set_row_key(struct store *st, struct seal_secret *key);

/* 1 when the last store_err() was a row that failed its MAC check. */
int store_tampered(struct store *st);
/* Say the last error (set by the caller) was a row found altered, as a MAC
 * failure would: for a row whose absence another row's MAC shows. */
void store_set_tampered(struct store *st);

/* Schema version of a module (0 when none applied). */
int store_schema_version(struct store *st, const char *module);

/* Migration registry entry (src/store/schema.c). */
struct store_migration {
	const char *module;
	int version;
	const char *sql;
};
extern const struct store_migration store_migrations[];

#endif
