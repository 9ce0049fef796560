/* SPDX-License-Identifier: MIT */
/* src/store/store_int.h - internals shared by the files of the store module.
 *
 * store.c     the connection, migrations, statements, transactions
 * rowmac.c    the row MAC SQL functions (custody_mac, custody_row)
 *
 * The state directory that composes the store with the seal and the audit
 * log is a module above them: src/state/.
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

#endif
