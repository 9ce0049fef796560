/* SPDX-License-Identifier: MIT */
/* src/store/schema.c - every schema migration, per module, in apply order.
 *
 * Each entry is applied once, in array order, inside the transaction that
 * store_open() runs; schema_version(module, version) records it. Never edit
 * an applied migration: append a new (module, version + 1) entry instead.
 */
#include <stddef.h>

#include "store.h"

const struct store_migration store_migrations[] = {
	{ "core", 1,
	  "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	  "CREATE TABLE audit("
	  "  seq INTEGER PRIMARY KEY,"
	  "  time INTEGER NOT NULL,"
	  "  actor TEXT NOT NULL,"
	  "  action TEXT NOT NULL,"
	  "  object TEXT NOT NULL,"
	  "  result TEXT NOT NULL,"
	  "  detail TEXT,"
	  "  prev BLOB NOT NULL,"
	  "  hash BLOB NOT NULL);"
	  "CREATE INDEX audit_object ON audit(object, seq);"
	  /* Append-only: the store itself refuses to change or delete. */
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
	  "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
	  "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	},
	{ "cred", 1,
	  "CREATE TABLE device("
	  "  id INTEGER PRIMARY KEY,"
	  "  fqdn TEXT NOT NULL,"
	  "  uuid TEXT,"
	  "  digest_realm TEXT,"
	  "  amt_version TEXT,"
	  "  state TEXT NOT NULL DEFAULT 'active'"
	  "    CHECK (state IN ('active', 'retired')),"
	  "  created INTEGER NOT NULL,"
	  "  retired INTEGER);"
	  "CREATE UNIQUE INDEX device_fqdn_active ON device(fqdn)"
	  "  WHERE state = 'active';"
	  "CREATE INDEX device_fqdn ON device(fqdn);"
	  "CREATE TABLE device_tag("
	  "  device_id INTEGER NOT NULL REFERENCES device(id),"
	  "  tag TEXT NOT NULL,"
	  "  PRIMARY KEY (device_id, tag)) WITHOUT ROWID;"
	  "CREATE INDEX device_tag_tag ON device_tag(tag, device_id);"
	  "CREATE TABLE secret("
	  "  id INTEGER PRIMARY KEY,"
	  "  device_id INTEGER NOT NULL REFERENCES device(id),"
	  "  kind TEXT NOT NULL,"
	  "  version INTEGER NOT NULL,"
	  "  state TEXT NOT NULL"
	  "    CHECK (state IN ('pending', 'current', 'retired', 'failed')),"
	  "  sealed BLOB NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL,"
	  "  UNIQUE (device_id, kind, version));"
	  "CREATE UNIQUE INDEX secret_one_pending ON secret(device_id, kind)"
	  "  WHERE state = 'pending';"
	  "CREATE UNIQUE INDEX secret_one_current ON secret(device_id, kind)"
	  "  WHERE state = 'current';"
	},
	{ NULL, 0, NULL }
};
