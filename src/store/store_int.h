/* SPDX-License-Identifier: MIT */
/* src/store/store_int.h - internals shared by the files of the store module.
 *
 * store.c     the connection, migrations, statements, transactions
 * rowmac.c    the row MAC SQL functions (custody_mac, custody_row)
 * integrity.c what a state directory checks when it is opened: row MACs
 *             enabled, the rollback counter against the audit head
 */
#ifndef CUST_STORE_INT_H
#define CUST_STORE_INT_H

#include <sqlite3.h>

struct seal_secret;
struct store_rowmac;

/* Register custody_mac() and custody_row() on db; new context, free with
 * store_rowmac_free() after the connection is closed. */
int store_rowmac_register(sqlite3 *db, struct store_rowmac **rm_out);
void store_rowmac_free(struct store_rowmac *rm);
/* Hand over the row MAC key (owned from now on; NULL forgets it). */
void store_rowmac_setkey(struct store_rowmac *rm, struct seal_secret *key);
/* Was the last failure of custody_row() a MAC mismatch? Clears the flag. */
int store_rowmac_take_tamper(struct store_rowmac *rm);

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
