/* SPDX-License-Identifier: MIT */
/* src/state/state_int.h - internals shared by the files of the state
 * module, which composes a state directory from the modules below it
 * (store, seal, audit).
 *
 * state.c     open or create the directory: lock, owner and mode checks,
 *             the file changes a commit left to finish; the accessors
 * integrity.c what a state directory checks when it is opened: row MACs
 *             enabled, the rollback counter against the audit head
 *
 * Outside this module a struct cust_state is opaque (include/state.h).
 */
#ifndef CUST_STATE_INT_H
#define CUST_STATE_INT_H

struct store;
struct seal;
struct seal_secret;
struct audit;
struct state_undo;

struct cust_state {
	char *dir;		/* state directory path */
	struct store *store;
	struct seal *seal;
	struct audit *audit;
	struct seal_counter *counter;	/* the rollback counter's writer
					 * (counter_update(), integrity.c) */
	struct seal_secret *scratch;	/* state_scratch() */
	int dirfd;		/* the state directory: files below it are
				 * reached through it, never through links */
	int lockfd;		/* holds the flock on DIR/lock */
	struct state_undo *undo;	/* what init created (init only) */
	void *ca_cache;			/* state_ca_cache() */
	void (*ca_cache_free)(void *cache);
};

/* Integrity checks of a state being opened (integrity.c), once the data key
 * is unsealed and the audit log open: the row MAC key, the one-time MAC
 * backfill of an older store, the rollback counter. mode: 0 for an
 * existing state, STATE_INTEGRITY_NEW for one state_init() just created,
 * or STATE_OPEN_RESTORE (state.h: no rollback check). */
#define STATE_INTEGRITY_NEW	0x100
int state_integrity(struct cust_state *st, unsigned mode)
	__attribute__((warn_unused_result));

#endif
