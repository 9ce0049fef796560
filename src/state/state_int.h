/* SPDX-License-Identifier: MIT */
/* src/state/state_int.h - internals shared by the files of the state
 * module, which composes a state directory from the modules below it
 * (store, seal, audit).
 *
 * state.c     open or create the directory: lock, owner and mode checks,
 *             the file changes a commit left to finish
 * integrity.c what a state directory checks when it is opened: row MACs
 *             enabled, the rollback counter against the audit head
 */
#ifndef CUST_STATE_INT_H
#define CUST_STATE_INT_H

struct cust_state;

/* Integrity checks of a state being opened (integrity.c), once the data key
 * is unsealed and the audit log open: the row MAC key, the one-time MAC
 * backfill of an older store, the rollback counter. mode: 0 for an
 * existing state, STATE_INTEGRITY_NEW for one state_init() just created,
 * or STATE_OPEN_RESTORE (state.h: no rollback check). */
#define STATE_INTEGRITY_NEW	0x100
int state_integrity(struct cust_state *st, unsigned mode)
	__attribute__((warn_unused_result));

#endif
