/* SPDX-License-Identifier: MIT */
/* src/store/schema.c - every schema migration, per module, in apply order.
 *
 * Each entry is applied once, in array order, inside the transaction that
 * store_open() runs; schema_version(module, version) records it. Never edit
 * an applied migration: append a new (module, version + 1) entry instead.
 */
#include <stddef.h>

#include "store.h"

/* The triggers of cred/2 that keep the pending count on `secret` (a macro:
 * secretmodel/1 rebuilds the table and must make them again, the same). */
#define CRED_COUNT_SECRET_TRIGGERS \
	  "CREATE TRIGGER cred_count_secret_ins AFTER INSERT ON secret" \
	  "  WHEN new.state = 'pending' BEGIN" \
	  "  UPDATE cred_count SET n = n + 1" \
	  "    WHERE name = 'secret:pending'; END;" \
	  "CREATE TRIGGER cred_count_secret_del AFTER DELETE ON secret" \
	  "  WHEN old.state = 'pending' BEGIN" \
	  "  UPDATE cred_count SET n = n - 1" \
	  "    WHERE name = 'secret:pending'; END;" \
	  "CREATE TRIGGER cred_count_secret_upd AFTER UPDATE OF state ON secret" \
	  "  WHEN (old.state = 'pending') <> (new.state = 'pending') BEGIN" \
	  "  UPDATE cred_count" \
	  "    SET n = n + (CASE WHEN new.state = 'pending' THEN 1 ELSE -1 END)" \
	  "    WHERE name = 'secret:pending'; END;"

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
	  /* Keyed by (device, kind, version): one b-tree, no rowid. */
	  "CREATE TABLE secret("
	  "  device_id INTEGER NOT NULL REFERENCES device(id),"
	  "  kind TEXT NOT NULL,"
	  "  version INTEGER NOT NULL,"
	  /* ORs, not IN: an IN list in a CHECK builds a temporary b-tree on
	   * every insert (seen in callgrind as sqlite3BtreeCreateTable). */
	  "  state TEXT NOT NULL CHECK (state = 'pending' OR"
	  "    state = 'current' OR state = 'retired' OR state = 'failed'),"
	  "  sealed BLOB NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL,"
	  "  PRIMARY KEY (device_id, kind, version)) WITHOUT ROWID;"
	  "CREATE UNIQUE INDEX secret_one_pending ON secret(device_id, kind)"
	  "  WHERE state = 'pending';"
	  "CREATE UNIQUE INDEX secret_one_current ON secret(device_id, kind)"
	  "  WHERE state = 'current';"
	},
	/* The CA (src/ca): generations, sealed CA keys, every certificate
	 * ever issued (serials never reused), device CSRs kept for renewal,
	 * console identities. Hot paths (issuance, --expiring, per-device,
	 * CRLs, retire checks) each have an index. */
	{ "ca", 1,
	  "CREATE TABLE ca_gen("
	  "  gen INTEGER PRIMARY KEY,"
	  "  state TEXT NOT NULL"
	  "    CHECK (state IN ('next', 'active', 'previous', 'retired')),"
	  "  key_type TEXT NOT NULL,"
	  "  digest TEXT NOT NULL,"
	  "  root_cert BLOB NOT NULL,"
	  "  issuing_cert BLOB NOT NULL,"
	  "  cross_up BLOB,"
	  "  cross_down BLOB,"
	  "  crl BLOB,"
	  "  crl_number INTEGER NOT NULL DEFAULT 0,"
	  "  crl_next INTEGER,"
	  "  root_crl BLOB,"
	  "  root_crl_number INTEGER NOT NULL DEFAULT 0,"
	  "  root_crl_next INTEGER,"
	  "  created INTEGER NOT NULL,"
	  "  activated INTEGER,"
	  "  retired INTEGER);"
	  "CREATE UNIQUE INDEX ca_gen_state ON ca_gen(state)"
	  "  WHERE state <> 'retired';"
	  "CREATE TABLE ca_key("
	  "  gen INTEGER NOT NULL,"
	  "  role TEXT NOT NULL CHECK (role IN ('root', 'issuing')),"
	  "  key_type TEXT NOT NULL,"
	  "  sealed BLOB NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  PRIMARY KEY (gen, role)) WITHOUT ROWID;"
	  "CREATE TABLE ca_csr("
	  "  id INTEGER PRIMARY KEY,"
	  "  device_id INTEGER NOT NULL REFERENCES device(id),"
	  "  der BLOB NOT NULL,"
	  "  created INTEGER NOT NULL);"
	  "CREATE INDEX ca_csr_device ON ca_csr(device_id, id);"
	  "CREATE TABLE cert("
	  "  id INTEGER PRIMARY KEY,"
	  "  serial TEXT NOT NULL UNIQUE,"
	  "  kind TEXT NOT NULL CHECK (kind IN ('device', 'server', 'admin',"
	  "    'console', 'root', 'issuing', 'cross')),"
	  "  gen INTEGER NOT NULL,"
	  "  holder TEXT NOT NULL,"
	  "  device_id INTEGER REFERENCES device(id),"
	  "  csr_id INTEGER REFERENCES ca_csr(id),"
	  "  subject TEXT NOT NULL,"
	  "  not_before INTEGER NOT NULL,"
	  "  not_after INTEGER NOT NULL,"
	  "  status TEXT NOT NULL DEFAULT 'valid'"
	  "    CHECK (status IN ('valid', 'revoked')),"
	  "  revoked INTEGER,"
	  "  reason INTEGER,"
	  "  sha256 TEXT NOT NULL,"
	  "  der BLOB NOT NULL,"
	  "  created INTEGER NOT NULL);"
	  "CREATE INDEX cert_expiry ON cert(not_after) WHERE status = 'valid';"
	  "CREATE INDEX cert_device ON cert(device_id, id)"
	  "  WHERE device_id IS NOT NULL;"
	  "CREATE INDEX cert_holder ON cert(kind, holder, id);"
	  "CREATE INDEX cert_gen_valid ON cert(gen, not_after, kind)"
	  "  WHERE status = 'valid';"
	  "CREATE INDEX cert_gen_revoked ON cert(gen, not_after)"
	  "  WHERE status = 'revoked';"
	  "CREATE TABLE console("
	  "  id INTEGER PRIMARY KEY,"
	  "  name TEXT NOT NULL,"
	  "  subject TEXT NOT NULL,"
	  "  state TEXT NOT NULL DEFAULT 'active'"
	  "    CHECK (state IN ('active', 'revoked')),"
	  "  created INTEGER NOT NULL,"
	  "  revoked INTEGER);"
	  "CREATE UNIQUE INDEX console_name_active ON console(name)"
	  "  WHERE state = 'active';"
	},
	{ "policy", 1,
	  "CREATE TABLE policy("
	  "  id INTEGER PRIMARY KEY,"
	  "  loaded INTEGER NOT NULL,"
	  "  actor TEXT NOT NULL,"
	  "  file TEXT NOT NULL,"
	  "  sha256 TEXT NOT NULL,"
	  "  consoles INTEGER NOT NULL,"
	  "  body TEXT NOT NULL);"
	},
	/* Row MACs (src/store/rowmac.c). Rows that exist when this runs get
	 * theirs when the store is next opened with its master key
	 * (src/state/integrity.c); until then a NULL mac reads as tampered. */
	{ "rowmac", 1,
	  "ALTER TABLE secret ADD COLUMN mac BLOB;"
	  "ALTER TABLE ca_gen ADD COLUMN mac BLOB;"
	  "ALTER TABLE ca_key ADD COLUMN mac BLOB;"
	  "ALTER TABLE cert ADD COLUMN mac BLOB;"
	  "ALTER TABLE console ADD COLUMN mac BLOB;"
	  "ALTER TABLE policy ADD COLUMN mac BLOB;"
	},
	/* Counts for status and metrics (cred_counts()): kept exact by
	 * triggers, in the transaction of every change whatever the code
	 * path (add, import, remove, rotate, confirm, a recovery), so that
	 * reading them is three key lookups instead of COUNT(*) scans of
	 * 100k-row tables. Started from the rows already there. */
	{ "cred", 2,
	  "CREATE TABLE cred_count("
	  "  name TEXT PRIMARY KEY,"
	  "  n INTEGER NOT NULL) WITHOUT ROWID;"
	  "INSERT INTO cred_count(name, n) VALUES"
	  "  ('device:active',"
	  "   (SELECT COUNT(*) FROM device WHERE state = 'active')),"
	  "  ('device:retired',"
	  "   (SELECT COUNT(*) FROM device WHERE state = 'retired')),"
	  "  ('secret:pending',"
	  "   (SELECT COUNT(*) FROM secret WHERE state = 'pending'));"
	  "CREATE TRIGGER cred_count_device_ins AFTER INSERT ON device BEGIN"
	  "  UPDATE cred_count SET n = n + 1"
	  "    WHERE name = 'device:' || new.state; END;"
	  "CREATE TRIGGER cred_count_device_del AFTER DELETE ON device BEGIN"
	  "  UPDATE cred_count SET n = n - 1"
	  "    WHERE name = 'device:' || old.state; END;"
	  "CREATE TRIGGER cred_count_device_upd AFTER UPDATE OF state ON device"
	  "  WHEN old.state IS NOT new.state BEGIN"
	  "  UPDATE cred_count SET n = n - 1"
	  "    WHERE name = 'device:' || old.state;"
	  "  UPDATE cred_count SET n = n + 1"
	  "    WHERE name = 'device:' || new.state; END;"
	  CRED_COUNT_SECRET_TRIGGERS
	},
	/*
	 * The secret model, decided for what comes next (issue 9: pushes
	 * to devices, per-console digest users, directory accounts), so that
	 * `secret` is rebuilt once, now, not at every new use:
	 *
	 * - kind: 'admin', 'mebx', 'console:NAME' (a console's digest user
	 *   on the device), 'directory:NAME' (a directory account); NAME not
	 *   empty. GLOBs and ORs: no temporary b-tree per insert.
	 * - state: 'pending' (sealed and committed, not sent anywhere: the
	 *   device certainly does not have it), 'pushed' (sent, outcome not
	 *   known yet: the device may have it, so it is kept and tried at
	 *   reconciliation until proven or superseded), 'current', 'retired',
	 *   'failed'. At most one in flight (pending or pushed) and one
	 *   current per (device, kind).
	 *
	 * SQLite cannot change a CHECK in place: the table is copied (rows,
	 * MACs included, unchanged: a row MAC covers the table name and the
	 * column values, not the table's definition) and renamed back, and
	 * the triggers on it made again (the same text as cred/2): about
	 * 0.5 s at 100k devices, 200k rows (tests/unit/store/test_schema.c
	 * measures it).
	 */
	{ "secretmodel", 1,
	  "CREATE TABLE secret_new("
	  "  device_id INTEGER NOT NULL REFERENCES device(id),"
	  "  kind TEXT NOT NULL CHECK (kind = 'admin' OR kind = 'mebx' OR"
	  "    kind GLOB 'console:?*' OR kind GLOB 'directory:?*'),"
	  "  version INTEGER NOT NULL,"
	  "  state TEXT NOT NULL CHECK (state = 'pending' OR"
	  "    state = 'pushed' OR state = 'current' OR state = 'retired' OR"
	  "    state = 'failed'),"
	  "  sealed BLOB NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL,"
	  "  mac BLOB,"
	  "  PRIMARY KEY (device_id, kind, version)) WITHOUT ROWID;"
	  "INSERT INTO secret_new(device_id, kind, version, state, sealed,"
	  "  created, changed, mac) SELECT device_id, kind, version, state,"
	  "  sealed, created, changed, mac FROM secret"
	  "  ORDER BY device_id, kind, version;"
	  "DROP TABLE secret;"
	  "ALTER TABLE secret_new RENAME TO secret;"
	  "CREATE UNIQUE INDEX secret_one_pending ON secret(device_id, kind)"
	  "  WHERE state = 'pending' OR state = 'pushed';"
	  "CREATE UNIQUE INDEX secret_one_current ON secret(device_id, kind)"
	  "  WHERE state = 'current';"
	  /* DROP TABLE took the counting triggers of cred/2 with it. */
	  CRED_COUNT_SECRET_TRIGGERS
	},
	/* Serials reserved for a certificate being signed outside the write
	 * lock (src/ca/ca_db.c): committed before the signature, deleted in
	 * the transaction that records the certificate. A row left behind
	 * (the process died while signing) names a serial that no
	 * certificate carries; it stays, so the serial is never drawn again. */
	{ "ca", 2,
	  "CREATE TABLE ca_serial("
	  "  serial TEXT PRIMARY KEY,"
	  "  gen INTEGER NOT NULL,"
	  "  holder TEXT NOT NULL,"
	  "  reserved INTEGER NOT NULL) WITHOUT ROWID;"
	},
	/*
	 * Jobs (src/sched/job.c): bulk work that outlives one transaction and
	 * may outlive its process. job: what (kind, the selector and
	 * parameters as JSON, never a secret), the devices it covers (targets:
	 * their ids, 8 bytes big-endian each, sorted, fixed when it starts),
	 * who runs it (pid and the process's start time, so a job whose
	 * process died is told from one still running). job_item: one row
	 * per device and kind done, written in the same transaction as the
	 * work itself, so after a crash the items are exactly what committed
	 * and a resumed job never does a device twice.
	 */
	{ "job", 1,
	  "CREATE TABLE job("
	  "  id INTEGER PRIMARY KEY,"
	  "  kind TEXT NOT NULL,"
	  "  selector TEXT NOT NULL,"
	  "  params TEXT NOT NULL,"
	  "  state TEXT NOT NULL CHECK (state = 'running' OR"
	  "    state = 'done' OR state = 'failed' OR state = 'interrupted'),"
	  "  actor TEXT NOT NULL,"
	  "  pid INTEGER,"
	  "  pstart INTEGER,"
	  "  total INTEGER NOT NULL,"
	  "  targets BLOB NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL,"
	  "  message TEXT);"
	  "CREATE INDEX job_state ON job(state) WHERE state = 'running';"
	  "CREATE TABLE job_item("
	  "  seq INTEGER PRIMARY KEY,"
	  "  job_id INTEGER NOT NULL REFERENCES job(id),"
	  "  device_id INTEGER NOT NULL,"
	  "  kind TEXT NOT NULL,"
	  "  result TEXT NOT NULL,"
	  "  version INTEGER,"
	  "  detail TEXT);"
	  "CREATE UNIQUE INDEX job_item_device ON job_item(job_id, device_id,"
	  "  kind);"
	},
	/*
	 * Staged imports (src/cred/import.c). An import writes its devices in
	 * short batches, each its own transaction, marked with import_id: a
	 * device whose import is not 'published' is seen by no query
	 * (CRED_VISIBLE in src/cred/cred_int.h) and counted nowhere; the
	 * import becomes visible at once, all of it, when its row turns
	 * 'published' (one row, one short transaction). Afterwards its
	 * devices' import_id is cleared in batches and the row deleted. A
	 * staging import whose process died is deleted, in batches, by the
	 * next import or job sweep. Staged rows are 'active', so their names
	 * are taken (the unique index) while the import runs.
	 */
	{ "cred", 3,
	  "ALTER TABLE device ADD COLUMN import_id INTEGER;"
	  "CREATE INDEX device_import_id ON device(import_id)"
	  "  WHERE import_id IS NOT NULL;"
	  "CREATE TABLE device_import("
	  "  id INTEGER PRIMARY KEY,"
	  "  state TEXT NOT NULL CHECK (state = 'staging' OR"
	  "    state = 'published'),"
	  "  actor TEXT NOT NULL,"
	  "  pid INTEGER,"
	  "  pstart INTEGER,"
	  "  count INTEGER NOT NULL DEFAULT 0,"
	  "  created INTEGER NOT NULL);"
	  "DROP TRIGGER cred_count_device_ins;"
	  "CREATE TRIGGER cred_count_device_ins AFTER INSERT ON device"
	  "  WHEN new.import_id IS NULL BEGIN"
	  "  UPDATE cred_count SET n = n + 1"
	  "    WHERE name = 'device:' || new.state; END;"
	  "DROP TRIGGER cred_count_device_del;"
	  "CREATE TRIGGER cred_count_device_del AFTER DELETE ON device"
	  "  WHEN old.import_id IS NULL OR old.import_id IN (SELECT id FROM"
	  "  device_import WHERE state = 'published') BEGIN"
	  "  UPDATE cred_count SET n = n - 1"
	  "    WHERE name = 'device:' || old.state; END;"
	},
	/*
	 * What a killed process leaves behind (src/ca/ca_recover.c).
	 * ca_serial gains the process that reserved (pid and start time, as
	 * for jobs), so that a reservation whose process is gone is told
	 * from one being signed. ca_delivery: a certificate whose key custody
	 * made and returned (cert issue, console add) for a caller that asked
	 * to confirm it wrote the files; inserted in the transaction that
	 * records the certificate, deleted once the caller confirms (or the
	 * certificate is revoked). A row whose process is gone names a
	 * certificate whose key was lost: it is revoked.
	 */
	{ "ca", 3,
	  "ALTER TABLE ca_serial ADD COLUMN pid INTEGER;"
	  "ALTER TABLE ca_serial ADD COLUMN pstart INTEGER;"
	  "CREATE TABLE ca_delivery("
	  "  serial TEXT PRIMARY KEY,"
	  "  pid INTEGER NOT NULL,"
	  "  pstart INTEGER NOT NULL,"
	  "  created INTEGER NOT NULL) WITHOUT ROWID;"
	},
	/*
	 * Security staff (src/ca/ca_client.c, `staff add`): a name, a role
	 * (admin or auditor) and client certificates of cert kind 'admin'
	 * held by that name. Row-MAC'd like console: the role is what
	 * authorizes. init's bootstrap admin (holder 'admin') is staff with
	 * role admin without a row (stores made before this table have it
	 * too); the name is reserved.
	 */
	{ "staff", 1,
	  "CREATE TABLE staff("
	  "  id INTEGER PRIMARY KEY,"
	  "  name TEXT NOT NULL,"
	  "  role TEXT NOT NULL CHECK (role = 'admin' OR role = 'auditor'),"
	  "  state TEXT NOT NULL DEFAULT 'active'"
	  "    CHECK (state = 'active' OR state = 'revoked'),"
	  "  created INTEGER NOT NULL,"
	  "  revoked INTEGER,"
	  "  mac BLOB);"
	  "CREATE UNIQUE INDEX staff_name_active ON staff(name)"
	  "  WHERE state = 'active';"
	},
	/*
	 * A delivery row makes custody revoke a certificate once its process
	 * is gone: MAC'd like the certificate rows (STORE_ROW_CA_DELIVERY),
	 * so that writing custody.db without the master key cannot make
	 * custody revoke certificates. The data key is not known here: a
	 * row left waiting across this upgrade has no MAC and stops the
	 * next sweep (cert issue, console add) as altered; confirm or
	 * revoke its certificate, or delete it by hand.
	 */
	{ "ca", 4,
	  "ALTER TABLE ca_delivery ADD COLUMN mac BLOB;"
	},
	/*
	 * The push protocol (src/cred/push.c): 'pushed' is a version sent to
	 * a device whose outcome is not known yet. Custodyd looks for them
	 * at start (an index of exactly those rows), and the pending count
	 * of cred/2 becomes the count of versions in flight, pending or
	 * pushed (no row was 'pushed' before this migration, so the count
	 * stays exact).
	 */
	{ "push", 1,
	  "CREATE INDEX secret_pushed ON secret(device_id, kind)"
	  "  WHERE state = 'pushed';"
	  "DROP TRIGGER cred_count_secret_ins;"
	  "DROP TRIGGER cred_count_secret_del;"
	  "DROP TRIGGER cred_count_secret_upd;"
	  "CREATE TRIGGER cred_count_secret_ins AFTER INSERT ON secret"
	  "  WHEN new.state = 'pending' OR new.state = 'pushed' BEGIN"
	  "  UPDATE cred_count SET n = n + 1"
	  "    WHERE name = 'secret:pending'; END;"
	  "CREATE TRIGGER cred_count_secret_del AFTER DELETE ON secret"
	  "  WHEN old.state = 'pending' OR old.state = 'pushed' BEGIN"
	  "  UPDATE cred_count SET n = n - 1"
	  "    WHERE name = 'secret:pending'; END;"
	  "CREATE TRIGGER cred_count_secret_upd AFTER UPDATE OF state ON secret"
	  "  WHEN (old.state = 'pending' OR old.state = 'pushed') <>"
	  "    (new.state = 'pending' OR new.state = 'pushed') BEGIN"
	  "  UPDATE cred_count"
	  "    SET n = n + (CASE WHEN new.state = 'pending' OR"
	  "      new.state = 'pushed' THEN 1 ELSE -1 END)"
	  "    WHERE name = 'secret:pending'; END;"
	},
	/*
	 * A renewed client certificate's predecessors are revoked only once
	 * the new one is proven fetched (src/ca/ca_supersede.c): one row per
	 * predecessor still valid, naming the renewal that supersedes it and
	 * when it is revoked at the latest. MAC'd (STORE_ROW_CA_SUPERSEDE):
	 * a row makes custody revoke a certificate.
	 */
	{ "supersede", 1,
	  "CREATE TABLE ca_supersede("
	  "  old_serial TEXT PRIMARY KEY,"
	  "  new_serial TEXT NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  due INTEGER NOT NULL,"
	  "  mac BLOB) WITHOUT ROWID;"
	  "CREATE INDEX ca_supersede_new ON ca_supersede(new_serial);"
	},
	/*
	 * Where to reach a device when its FQDN does not lead there (port
	 * forwarding, the simulator): HOST[:PORT] (util_parse_address()),
	 * NULL for the FQDN itself. Not MAC'd: it only says where to
	 * connect; a device's identity is checked on the wire (its digest
	 * realm, and its TLS certificate for the FQDN).
	 */
	{ "cred", 4,
	  "ALTER TABLE device ADD COLUMN address TEXT;"
	},
	/*
	 * TLS provisioning of devices (src/api/ops_provision.c): a row per
	 * device custody configured TLS on, with the serial of the leaf it
	 * installed and the roots (hex SHA-256 of each DER, a JSON array)
	 * the device trusts from custody's bundle. Later conversations with
	 * the device go over TLS, verified against the bundle. Not MAC'd:
	 * it only chooses the transport, whose certificate check is the
	 * proof.
	 */
	{ "provision", 1,
	  "CREATE TABLE device_tls("
	  "  fqdn TEXT PRIMARY KEY,"
	  "  serial TEXT NOT NULL,"
	  "  roots TEXT NOT NULL,"
	  "  provisioned INTEGER NOT NULL,"
	  "  updated INTEGER NOT NULL) WITHOUT ROWID;"
	},
	/*
	 * MIT Kerberos principals custody created for consoles
	 * (src/directory/mit.c): only these are ever deleted, so the rows
	 * are MAC'd (STORE_ROW_MIT_PRINCIPAL): writing custody.db without
	 * the master key cannot make custody delete someone else's
	 * principal. 'creating' is recorded and committed before kadmind is
	 * asked, so a crash in between leaves a row that says the principal
	 * may be custody's; 'deleted' rows are history. prev_kvno stays in
	 * the keytab until prev_until.
	 */
	{ "directory", 1,
	  "CREATE TABLE mit_principal("
	  "  id INTEGER PRIMARY KEY,"
	  "  console TEXT NOT NULL,"
	  "  principal TEXT NOT NULL,"
	  "  state TEXT NOT NULL"
	  "    CHECK (state IN ('creating', 'active', 'deleted')),"
	  "  kvno INTEGER NOT NULL DEFAULT 0,"
	  "  prev_kvno INTEGER,"
	  "  prev_until INTEGER,"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL,"
	  "  mac BLOB);"
	  "CREATE UNIQUE INDEX mit_principal_live ON mit_principal(principal)"
	  "  WHERE state <> 'deleted';"
	  "CREATE UNIQUE INDEX mit_principal_console ON mit_principal(console)"
	  "  WHERE state <> 'deleted';"
	},
	/*
	 * Active Directory objects custody created (src/directory/
	 * ad_sync.c): service accounts of consoles, one group per duty, an
	 * object with the SPNs of each AMT device that uses Kerberos. A
	 * row is written ('creating', its DN) before the object is added to
	 * AD, so a sync that dies half-way knows on the next run what it
	 * began and resumes it; custody never changes or deletes an AD
	 * object it has no row for. sid: the objectSid read back (binary).
	 * dir_secret: the account passwords, sealed and versioned like
	 * device secrets (pending until AD took it, then current; the old
	 * current retired), bound by their associated data to
	 * (dir_secret, object id, account name, version).
	 */
	{ "ad", 1,
	  "CREATE TABLE dir_object("
	  "  id INTEGER PRIMARY KEY,"
	  "  kind TEXT NOT NULL CHECK (kind = 'account' OR kind = 'group' OR"
	  "    kind = 'device'),"
	  "  name TEXT NOT NULL,"
	  "  dn TEXT NOT NULL,"
	  "  owner TEXT NOT NULL,"
	  "  sid BLOB,"
	  "  state TEXT NOT NULL CHECK (state = 'creating' OR"
	  "    state = 'active' OR state = 'disabled' OR state = 'removed'),"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL);"
	  "CREATE UNIQUE INDEX dir_object_name ON dir_object(kind, name);"
	  "CREATE TABLE dir_secret("
	  "  object_id INTEGER NOT NULL REFERENCES dir_object(id),"
	  "  version INTEGER NOT NULL,"
	  "  state TEXT NOT NULL CHECK (state = 'pending' OR"
	  "    state = 'current' OR state = 'retired' OR state = 'failed'),"
	  "  sealed BLOB NOT NULL,"
	  "  created INTEGER NOT NULL,"
	  "  changed INTEGER NOT NULL,"
	  "  PRIMARY KEY (object_id, version)) WITHOUT ROWID;"
	  "CREATE UNIQUE INDEX dir_secret_one_pending ON dir_secret(object_id)"
	  "  WHERE state = 'pending';"
	  "CREATE UNIQUE INDEX dir_secret_one_current ON dir_secret(object_id)"
	  "  WHERE state = 'current';"
	},
	/*
	 * The rows of ad/1 MAC'd (STORE_ROW_DIR_OBJECT, STORE_ROW_DIR_SECRET):
	 * custody changes and deletes only AD objects it has a row for, and
	 * a group's objectSid decides which directory group a device's
	 * Kerberos ACL entry admits, so writing custody.db without the master
	 * key must not make custody delete another object of the domain or
	 * admit another group. The data key is not known here: a row made
	 * before this migration has no MAC and stops account sync as altered
	 * (ad/1 came in the same development line; no release has it).
	 */
	{ "ad", 2,
	  "ALTER TABLE dir_object ADD COLUMN mac BLOB;"
	  "ALTER TABLE dir_secret ADD COLUMN mac BLOB;"
	},
	/*
	 * A group's members as custody last made them true in AD (account
	 * sync, src/directory/ad_sync.c): a JSON array of the sorted names
	 * of the consoles whose accounts the group holds; NULL when not
	 * known (never synced, or a change of the members began and did not
	 * finish). policy apply and drift use a duty's group entry only when
	 * it equals the policy's holders of the duty. In the row's MAC
	 * (STORE_ROW_DIR_OBJECT) when not NULL, so the rows of ad/2 keep
	 * theirs (src/store/rowmac.c, tables[].opt).
	 */
	{ "ad", 3,
	  "ALTER TABLE dir_object ADD COLUMN members TEXT;"
	},
	/*
	 * The devices that may hold a Kerberos ACL entry of a group custody
	 * made (directory.ad acl_sid auto, src/api/ops_acl.c): recorded
	 * (committed) before policy apply sends the entry, deleted only once
	 * apply saw the device without it (its enumeration, or a removal the
	 * device confirmed); seq (AUTOINCREMENT: never reused) lets an apply
	 * delete only what was recorded before its enumeration. Account sync
	 * does not add a member to the group while a device recorded here is
	 * one where the plan does not grant it the group's duty
	 * (src/directory/ad_sync.c). No MAC: a row deleted without the key
	 * cannot be told from one never written (doc/internals/SECRETS.md).
	 * An apply before this recorded nothing (auto came in the same
	 * development line; no release has it): nothing is assumed.
	 */
	{ "ad", 4,
	  "CREATE TABLE dir_group_device("
	  "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	  "  group_id INTEGER NOT NULL REFERENCES dir_object(id),"
	  "  fqdn TEXT NOT NULL COLLATE NOCASE,"
	  "  since INTEGER NOT NULL);"
	  "CREATE UNIQUE INDEX dir_group_device_one ON"
	  "  dir_group_device(group_id, fqdn);"
	},
	/*
	 * Row MACs for device_tls (STORE_ROW_DEVICE_TLS): an altered row
	 * (its serial, its roots) is refused, not used; and a mark on the
	 * device row (tls_mac, STORE_ROW_DEVICE_TLSMARK: the MAC of its
	 * id and FQDN, set when custody records TLS on it), so that a
	 * deleted device_tls row cannot turn a provisioned device's pushes
	 * into plain HTTP (ops_tls_record()). Rows from before this have no
	 * MAC: refused until 'cert provision' records them again
	 * (doc/internals/SECRETS.md).
	 */
	{ "provision", 2,
	  "ALTER TABLE device_tls ADD COLUMN mac BLOB;"
	  "ALTER TABLE device ADD COLUMN tls_mac BLOB;"
	},
	/*
	 * The first-contact realm check (cred_device_first_realm()): which
	 * other active device has a DigestRealm recorded, without a scan
	 * of the registry. Not UNIQUE: a registry may already hold one
	 * realm twice (registered or imported so, or recorded before the
	 * check existed), and that must not stop custody from opening;
	 * a first contact is refused such a realm all the same, and the
	 * check and its write share one write transaction.
	 */
	{ "cred", 5,
	  "CREATE INDEX device_realm ON device(digest_realm COLLATE NOCASE)"
	  "  WHERE state = 'active' AND digest_realm IS NOT NULL;"
	},
	{ NULL, 0, NULL }
};
