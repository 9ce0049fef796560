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
struct audit;

struct cust_state {
	char *dir;		/* state directory path */
	struct store *store;
	struct seal *seal;
	struct audit *audit;
	/* Secret scratch space (STATE_SCRATCH bytes, sodium_malloc'd) for
	 * short-lived values in bulk paths, so they need no allocation each;
	 * one user at a time, wiped after each use. */
	struct seal_secret *scratch;
};

#define STATE_SCRATCH 256

/* Create a new state directory (CUST_E_EXISTS if it holds one, unless
 * force, which wipes the old store and key). new state, state_close(). */
int state_init(const char *dir, int force, struct cust_state **out)
	__attribute__((warn_unused_result));

/* Open an existing state directory. */
int state_open(const char *dir, struct cust_state **out)
	__attribute__((warn_unused_result));

/* state_open() with flags. STATE_OPEN_RESTORE: skip the rollback check
 * (DIR/seal/counter against the store), for state_accept_restore() only. */
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

/* Destroy the state in dir: the store, the master key, and the files in
 * ca/, tls/ and admin/ (init --force, or an init that failed half-way).
 * Keeps the directories and anything else. */
int state_wipe(const char *dir) __attribute__((warn_unused_result));

#endif
