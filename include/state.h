/* SPDX-License-Identifier: MIT */
/* include/state.h - a custody state directory opened as one unit: the
 * store, the unsealed data key and the audit log.
 *
 * Layout: DIR/custody.db, DIR/seal/master.key (0600), DIR/ca/, DIR/tls/,
 * DIR/admin/, DIR/keytabs/ (0700). Opening fails closed: a missing or wrong
 * master key, loose key-file permissions or an unreadable database are
 * errors (exit 5), never an empty state.
 */
#ifndef CUST_STATE_H
#define CUST_STATE_H

#include <stdint.h>

struct store;
struct seal;
struct seal_secret;
struct audit;
struct audit_group;

/*
 * Threads (doc/internals/SERVICE.md). A struct cust_state is one thread's:
 * nothing in it is locked, and nothing in it is shared with another
 * state. A multi-threaded process opens one state per worker thread
 * (state_open() each: its own SQLite connection and statement cache, its
 * own audit handle and chain cache, its own scratch buffer, its own copy
 * of the unsealed keys), never hands a state to another thread while in
 * use, and runs one audit group writer (state_audit_group()) that every
 * worker state uses (state_use_audit_group()), so that the audit entries
 * of secret reads commit in batches. custodyctl has one thread, one state
 * and no group writer.
 */
struct cust_state;	/* opaque: src/state/state_int.h */

/*
 * What a state is made of. All borrowed from st: valid until
 * state_close(st), never freed or closed by the caller, and (like st)
 * used by one thread at a time.
 */
/* The state directory's path, as given to state_open()/state_init(). */
const char *state_dir(const struct cust_state *st);
/* The open store (custody.db). */
struct store *state_store(const struct cust_state *st);
/* The unsealed keys. */
struct seal *state_seal(const struct cust_state *st);
/* The audit log. */
struct audit *state_audit(const struct cust_state *st);
/* Secret scratch space (STATE_SCRATCH bytes, sodium_malloc'd) for
 * short-lived values in bulk paths, so they need no allocation each; one
 * user at a time, wiped after each use. */
struct seal_secret *state_scratch(const struct cust_state *st);
/* The state directory's descriptor: files below it are reached through
 * it (util_*_at), never through links. */
int state_dirfd(const struct cust_state *st);

/* The CA module's cache of what it read (ca_gen.c: the bundle), checked
 * with store_stamp_unchanged() before it is served. Per state, so per
 * thread. state_ca_cache(): borrowed, NULL when none was set.
 * state_set_ca_cache(): st owns cache from now on and frees it with
 * cache_free (state_close(), or the next state_set_ca_cache()). */
void *state_ca_cache(const struct cust_state *st);
void state_set_ca_cache(struct cust_state *st, void *cache,
    void (*cache_free)(void *cache));

#define STATE_SCRATCH 256

/* How long opening waits for an init (exclusive lock) to finish before it
 * fails with CUST_E_UNAVAIL. init itself never waits. */
#define STATE_LOCK_WAIT_MS 2000

/*
 * Locking and ownership. Every open state holds a flock on DIR/lock:
 * shared for normal use (several processes at once), exclusive for init,
 * which may wipe the directory. Opening refuses (CUST_E_PERM) a state
 * directory or subdirectory that is not owned by the effective user, is
 * writable by group or others, or (subdirectories) is a symbolic link.
 */

/* Create a new state directory (CUST_E_EXISTS if it holds one, unless
 * force, which wipes the old store, key and CA files). Takes the exclusive
 * lock without waiting (CUST_E_UNAVAIL when another process holds the lock)
 * and keeps it until state_close(). new state: state_close(), or
 * state_init_undo() when the steps that follow init fail. */
int state_init(const char *dir, int force, struct cust_state **out)
	__attribute__((warn_unused_result));

/* state_init() with flags. STATE_INIT_UNFINISHED: the caller has more to
 * make before the state is usable (custodyctl init: the CA). The store is
 * marked unfinished until state_init_done(); a state left so (the init was
 * killed) is refused by state_open() (CUST_E_UNAVAIL, "did not finish")
 * and replaced by the next init without force. */
#define STATE_INIT_UNFINISHED	0x1
int state_init_flags(const char *dir, int force, unsigned flags,
    struct cust_state **out) __attribute__((warn_unused_result));

/* The init of st is done: audit "state.init" on the state directory as
 * actor (detail may be NULL) and clear the unfinished mark, in one
 * transaction. */
int state_init_done(struct cust_state *st, const char *actor,
    const char *detail) __attribute__((warn_unused_result));

/* Undo a state_init() whose follow-up failed: remove what that init
 * created (the store, the key, new files in the subdirectories, the
 * subdirectories and the directory it made) and nothing that was there
 * before; then close st (consumed). */
int state_init_undo(struct cust_state *st);

/* Open an existing state directory with the shared lock (waits up to
 * STATE_LOCK_WAIT_MS for an init), then finish any file change that a
 * committed transaction left pending (state_files_pending()). */
int state_open(const char *dir, struct cust_state **out)
	__attribute__((warn_unused_result));

/* state_open() with flags. STATE_OPEN_RESTORE: skip the rollback check
 * (DIR/seal/counter against the store), for state_accept_restore() only;
 * it takes DIR/lock exclusively, as init does (CUST_E_UNAVAIL while
 * another process uses the state). */
#define STATE_OPEN_RESTORE	0x1
int state_open_flags(const char *dir, unsigned flags, struct cust_state **out)
	__attribute__((warn_unused_result));

/* Accept the store in an opened state (STATE_OPEN_RESTORE) as the newest
 * after a deliberate restore from a backup: its audit chain must verify;
 * rows without a MAC get one (a backup from before row MACs); the audit
 * log records it; the rollback counter is reset to the new head.
 * *store_seq_out = that head; *counter_seq_out = what the counter held
 * (-1 when none or unreadable). */
int state_accept_restore(struct cust_state *st, const char *actor,
    int64_t *store_seq_out, int64_t *counter_seq_out)
	__attribute__((warn_unused_result));

void state_close(struct cust_state *st);

/* Start the process's audit group writer (audit.h) on a state of its own
 * for dir (state_open(), closed when the group is freed). wait_ms: how
 * long a batch waits for the write lock (0: AUDIT_GROUP_WAIT_MS). new
 * group, free with audit_group_free() after every state using it is
 * closed or detached. */
int state_audit_group(const char *dir, int64_t wait_ms,
    struct audit_group **out) __attribute__((warn_unused_result));

/* From now on st's audit appends outside a transaction (secret reads,
 * refusals) go through g and return once their batch has committed; NULL
 * detaches. g is borrowed. */
void state_use_audit_group(struct cust_state *st, struct audit_group *g);

/*
 * Files installed after a commit (ca_files.c). Inside the open write
 * transaction, state_files_pending() records list: lines "STAGED\tFINAL"
 * of paths relative to the state directory, each STAGED being
 * FINAL.new.TOKEN and already written; an older list still pending is
 * carried out first. After the commit, state_files_finish() renames them
 * into place and clears the list (in a write transaction of its own); if
 * the process dies first, the next state_open() does it.
 */
#define STATE_STAGED_MARK ".new."	/* FINAL STATE_STAGED_MARK TOKEN */
int state_files_pending(struct cust_state *st, const char *list)
	__attribute__((warn_unused_result));
int state_files_finish(struct cust_state *st)
	__attribute__((warn_unused_result));
/* Is staged (a path relative to the state directory) named in the
 * pending list, i.e. part of a committed change not installed yet? 1 yes,
 * 0 no, < 0 error. Read it in the write transaction that acts on the
 * answer. */
int state_files_listed(struct cust_state *st, const char *staged)
	__attribute__((warn_unused_result));

#endif
