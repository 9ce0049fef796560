/* SPDX-License-Identifier: MIT */
/* src/ca/ca_recover.c - what a killed process leaves behind in the CA, found
 * and made safe by the next process that changes it.
 *
 * Two windows leave a certificate signed by custody whose key is not
 * where its owner expects it, and that the store does not show as such:
 *
 * 1. Staged service files. `ca rotate --activate` (and init) sign the new
 *    service certificates and stage them with their keys under temporary
 *    names (ca_files.c) before the commit. A kill between the two leaves
 *    DIR/tls/server.{crt,key}.new.TOKEN and DIR/admin/admin.{crt,key}.new.TOKEN
 *    of a change that never happened. The activation reserves their
 *    serials first (committed, naming the process), and the staged names
 *    name the process too (TOKEN = PID-START-RANDOM). ca_stale_sweep()
 *    finds the staged files of processes that are gone - never a live
 *    process's, the directory being shared - and, under the write lock,
 *    skips those a committed change still has to install; a staged
 *    certificate whose serial is a reservation of a dead process and that
 *    the reserved generation's issuing CA signed is recorded and revoked
 *    (cessationOfOperation, audited, on the next CRL), then every such
 *    file is removed. A reservation whose certificate was never staged
 *    stays a reservation: no certificate carries the serial (`ca show`
 *    counts it among "unrecorded_serials", `cert show` explains it).
 *
 * 2. Undelivered keys. `cert issue` and `console add` return a key made
 *    by custody; the CLI writes it (with -o) after the operation
 *    committed. A caller that asks for it ("deliver") gets a row in
 *    ca_delivery in the same transaction as the certificate, naming its
 *    process, and deletes it (ca_delivered()) once its files are durably
 *    written. ca_delivery_sweep() revokes (cessationOfOperation, audited)
 *    the certificates of rows whose process is gone: their key was lost
 *    with it; and of rows older than CA_DELIVERY_MAX_AGE, whatever their
 *    process: over the API the waiting process is custodyd, which lives
 *    on when the remote CLI that was to write the key dies. The rows are
 *    MAC'd (STORE_ROW_CA_DELIVERY): a forged one stops the sweep as
 *    altered instead of revoking. A console (or staff member) whose
 *    certificate is revoked so and that holds no other valid one is
 *    revoked too, which frees its name; a renewal's holder keeps the
 *    certificate it renewed (ca_supersede.c). Rows of live processes are
 *    shown as "undelivered" by cert list / cert show.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "audit.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

/* RFC 5280 cessationOfOperation: the certificate was never put to use. */
#define RECOVER_REASON	5
/* Stale staged files handled per sweep (the next sweep does the rest). */
#define SWEEP_MAX	64

/* Is the process (pid, start time) gone? pid 0: unknown (a row from
 * before processes were recorded): not known to be gone. */
static int
proc_gone(long long pid, long long pstart)
{
	return pid > 0 && util_proc_start(pid) != pstart;
}

/* -- staged files -------------------------------------------------------- */

static const char *const staged_dirs[] = { "tls", "admin", "ca" };

struct stale {
	char rel[NAME_MAX + 8];	/* "tls/server.crt.new.TOKEN" */
	int keep;		/* part of a committed change: not ours */
};

/* The staged files of dead processes, up to SWEEP_MAX. */
static int
stale_collect(struct cust_state *st, struct stale *v, size_t *n_out)
{
	struct dirent *e;
	long long pid, pstart;
	size_t i, n = 0;
	DIR *d;
	int fd, r;

	*n_out = 0;
	for (i = 0; i < sizeof(staged_dirs) / sizeof(staged_dirs[0]); i++) {
		if ((r = util_open_dir_at(state_dirfd(st), staged_dirs[i],
		    &fd)) == CUST_E_NOTFOUND) {
			cust_clearerr();
			continue;
		}
		if (r != CUST_OK)
			return r;
		if ((d = fdopendir(fd)) == NULL) {
			close(fd);
			return cust_fail(CUST_E_IO, "cannot read %s/%s: %s",
			    state_dir(st), staged_dirs[i], strerror(errno));
		}
		while (n < SWEEP_MAX && (e = readdir(d)) != NULL) {
			if (!ca_files_staged_owner(e->d_name, &pid, &pstart) ||
			    !proc_gone(pid, pstart))
				continue;
			snprintf(v[n].rel, sizeof(v[n].rel), "%s/%s",
			    staged_dirs[i], e->d_name);
			v[n].keep = 0;
			n++;
		}
		closedir(d);
	}
	*n_out = n;
	return CUST_OK;
}

/* The first certificate of the staged file rel, or NULL. */
static X509 *
staged_cert(struct cust_state *st, const char *rel)
{
	X509 *x = NULL;
	FILE *f;
	int fd;

	fd = openat(state_dirfd(st), rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* The kind of service certificate a staged file rel is, or NULL. */
static const char *
staged_kind(const char *rel)
{
	static const char *const svc[][2] = {
		{ "tls/server.crt" STATE_STAGED_MARK, "server" },
		{ "admin/admin.crt" STATE_STAGED_MARK, "admin" },
	};
	size_t i;

	for (i = 0; i < sizeof(svc) / sizeof(svc[0]); i++)
		if (strncmp(rel, svc[i][0], strlen(svc[i][0])) == 0 &&
		    strstr(rel + strlen(svc[i][0]), ".tmp.") == NULL)
			return svc[i][1];
	return NULL;
}

/*
 * Record and revoke the certificate staged in rel when its serial is
 * reserved by a process that is gone and the reserved generation's
 * issuing CA signed it. Anything else (no reservation: the change that
 * staged it made its generation too and never committed; a reservation
 * still live) is left alone; the file goes either way.
 */
static int
record_staged(struct cust_state *st, const char *actor, const char *rel,
    struct ca_revset *rs)
{
	const char *kind = staged_kind(rel);
	char hex[CA_SERIAL_HEXLEN], holder[CUST_MAX_FQDN + 1], detail[256];
	char obj[CUST_MAX_FQDN + 16];
	struct ca_certrec rec;
	struct ca_gen *g = NULL;
	sqlite3_stmt *s;
	int64_t gen = 0, id = 0;
	long long pid = 0, pstart = 0;
	X509 *x = NULL;
	int rc, r = CUST_OK;

	if (kind == NULL || (x = staged_cert(st, rel)) == NULL)
		return CUST_OK;
	if (ca_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)) !=
	    CUST_OK) {
		cust_clearerr();
		goto out;
	}
	if ((s = store_stmt(state_store(st), "SELECT gen, holder, "
	    "coalesce(pid, 0), coalesce(pstart, 0) FROM ca_serial "
	    "WHERE serial = ?")) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		gen = sqlite3_column_int64(s, 0);
		snprintf(holder, sizeof(holder), "%s",
		    (const char *)sqlite3_column_text(s, 1));
		pid = sqlite3_column_int64(s, 2);
		pstart = sqlite3_column_int64(s, 3);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = store_err(state_store(st), "read reserved serials");
		goto out;
	}
	if (rc == SQLITE_DONE || !proc_gone(pid, pstart))
		goto out;
	if ((r = ca_gen_load(st, gen, &g)) != CUST_OK) {
		if (r == CUST_E_NOTFOUND) {
			cust_clearerr();
			r = CUST_OK;
		}
		goto out;
	}
	if (X509_verify(x, X509_get0_pubkey(g->issuing)) != 1) {
		ERR_clear_error();
		goto out;	/* not the reserved generation's certificate */
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = kind;
	rec.holder = holder;
	rec.gen = gen;
	rec.x = x;
	ca_object(obj, sizeof(obj), kind, holder);
	snprintf(detail, sizeof(detail), "serial=%s generation=%lld staged "
	    "by process %lld, which stopped before its change committed: "
	    "recorded to be revoked", hex, (long long)gen, pid);
	if ((r = ca_serial_consume(st, hex)) != CUST_OK ||
	    (r = ca_cert_insert(st, &rec, &id)) != CUST_OK ||
	    (r = audit_append(state_audit(st), actor, "ca.recover", obj,
	    "ok", detail)) != CUST_OK ||
	    (r = ca_revoke_row(st, actor, id, RECOVER_REASON,
	    "staged-never-committed", rs)) != CUST_OK)
		goto out;
out:
	ca_gen_free(g);
	X509_free(x);
	return r;
}

int
ca_stale_sweep(struct cust_state *st, const char *actor)
{
	struct stale *v;
	struct ca_revset rs;
	size_t n = 0, i;
	int r;

	if ((v = calloc(SWEEP_MAX, sizeof(*v))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = stale_collect(st, v, &n)) != CUST_OK || n == 0)
		goto out;
	memset(&rs, 0, sizeof(rs));
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	/* Under the write lock: no change commits meanwhile, and a change
	 * whose process died after its commit still has its files listed
	 * (the next open installs them). */
	for (i = 0; i < n && r == CUST_OK; i++) {
		if ((r = state_files_listed(st, v[i].rel)) < 0)
			break;
		v[i].keep = r;
		r = v[i].keep ? CUST_OK : record_staged(st, actor, v[i].rel,
		    &rs);
	}
	if (r != CUST_OK || (r = ca_revset_publish(st, &rs, NULL)) != CUST_OK ||
	    (r = store_commit(state_store(st))) != CUST_OK) {
		store_rollback(state_store(st));
		goto out;
	}
	/* After the commit: a kill before this leaves the files for the next
	 * sweep, which finds their serials recorded and only removes them. */
	for (i = 0; i < n; i++)
		if (!v[i].keep && util_unlink_at(state_dirfd(st), v[i].rel) !=
		    CUST_OK)
			cust_clearerr();	/* best effort, like unlink() */
out:
	free(v);
	return r;
}

int
ca_serial_unrecorded(struct cust_state *st, int64_t *count_out)
{
	sqlite3_stmt *s;
	int64_t n = 0, old = util_now() - 3600;
	int rc;

	*count_out = 0;
	if ((s = store_stmt(state_store(st), "SELECT coalesce(pid, 0), "
	    "coalesce(pstart, 0), reserved FROM ca_serial")) == NULL)
		return CUST_E_DB;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		/* A process is known: it is gone; else (older rows): old. */
		if (sqlite3_column_int64(s, 0) > 0 ?
		    proc_gone(sqlite3_column_int64(s, 0),
		    sqlite3_column_int64(s, 1)) :
		    sqlite3_column_int64(s, 2) < old)
			n++;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_err(state_store(st), "count reserved serials");
	*count_out = n;
	return CUST_OK;
}

/* -- undelivered keys ---------------------------------------------------- */

int
ca_delivery_mark(struct cust_state *st, const char *serial)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st), "INSERT INTO ca_delivery(serial, "
	    "pid, pstart, created, mac) VALUES (?1, ?2, ?3, ?4, "
	    "custody_mac('ca_delivery', ?1, ?2, ?3, ?4))")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)getpid());
	sqlite3_bind_int64(s, 3, util_proc_start((long long)getpid()));
	sqlite3_bind_int64(s, 4, util_now());
	return store_step_done(state_store(st), s, "record a delivery");
}

int
ca_delivery_clear(struct cust_state *st, const char *serial)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st),
	    "DELETE FROM ca_delivery WHERE serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	return store_step_done(state_store(st), s, "record a delivery");
}

int
ca_delivery_pending(struct cust_state *st, const char *serial)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(state_store(st),
	    "SELECT 1 FROM ca_delivery WHERE serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return store_err(state_store(st), "read deliveries");
}

int
ca_delivery_note(struct cust_state *st, json_t *info)
{
	const char *serial = json_string_value(json_object_get(info, "serial"));
	int r;

	if (serial == NULL || (r = ca_delivery_pending(st, serial)) == 0)
		return CUST_OK;
	if (r < 0)
		return r;
	return json_object_set_new(info, "undelivered", json_true()) == 0 ?
	    CUST_OK : cust_fail(CUST_E_NOMEM, "out of memory");
}

int
ca_delivered(struct cust_state *st, const char *actor, const char *serial,
    json_t **resp_out)
{
	char hex[CA_SERIAL_HEXLEN];
	struct ca_revset rs;
	json_t *serials;
	int r;

	*resp_out = NULL;
	if ((r = ca_serial_norm(serial, hex, sizeof(hex))) != CUST_OK)
		return cust_fail(r, "'%.64s' is not a serial number", serial);
	memset(&rs, 0, sizeof(rs));
	if ((rs.serials = serials = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto out;
	if ((r = ca_delivery_clear(st, hex)) != CUST_OK)
		goto fail;
	if (sqlite3_changes(store_db(state_store(st))) != 1) {
		r = cust_fail(CUST_E_NOTFOUND, "certificate %s is not waiting "
		    "for its delivery (unknown, delivered, or revoked as "
		    "undelivered)", hex);
		goto fail;
	}
	/* A renewal whose key is in its holder's hands: what it
	 * supersedes goes now (ca_supersede.c). */
	if ((r = ca_supersede_delivered(st, actor, hex, &rs)) != CUST_OK ||
	    (r = ca_revset_publish(st, &rs, NULL)) != CUST_OK ||
	    (r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	if ((*resp_out = json_pack("{s:s, s:O}", "serial", hex, "superseded",
	    serials)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	goto out;
fail:
	store_rollback(state_store(st));
out:
	json_decref(serials);
	return r;
}

/* Revoke the undelivered certificate serial (its process is gone), and
 * its console when it is one. */
static int
revoke_undelivered(struct cust_state *st, const char *actor,
    const char *serial, struct ca_revset *rs)
{
	char kind[16], holder[CUST_MAX_FQDN + 1];
	sqlite3_stmt *s;
	int64_t id = 0, left = 0;
	int rc, r;

	if ((s = store_stmt(state_store(st), "SELECT id, kind, holder FROM "
	    "cert WHERE serial = ? AND status = 'valid'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
		snprintf(kind, sizeof(kind), "%s",
		    (const char *)sqlite3_column_text(s, 1));
		snprintf(holder, sizeof(holder), "%s",
		    (const char *)sqlite3_column_text(s, 2));
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(state_store(st), "read certificate");
	/* Revoked (which clears the row) or unknown: nothing to do. */
	if (rc == SQLITE_DONE)
		return ca_delivery_clear(st, serial);
	if ((r = ca_revoke_row(st, actor, id, RECOVER_REASON,
	    "undelivered: the process that issued it stopped before its "
	    "key was written", rs)) != CUST_OK)
		return r;
	/* A renewal's holder keeps the certificate it had (the revocation
	 * dropped its pending supersedes): only a holder left with none is
	 * revoked. */
	if ((strcmp(kind, "console") == 0 || strcmp(kind, "admin") == 0) &&
	    ((r = ca_client_valid(st, kind, holder, &left)) != CUST_OK ||
	    left > 0))
		return r;
	if (strcmp(kind, "console") == 0)
		return ca_console_retire(st, actor, holder, "cessationOfOperation");
	if (strcmp(kind, "admin") == 0)	/* staff (ca_staff.c) */
		return ca_staff_retire(st, actor, holder, "cessationOfOperation");
	return CUST_OK;
}

int
ca_delivery_sweep(struct cust_state *st, const char *actor, size_t *count_out)
{
	struct ca_revset rs;
	sqlite3_stmt *s;
	char serial[CA_SERIAL_HEXLEN] = "";
	int rc, r, gone;

	if (count_out != NULL)
		*count_out = 0;
	/* Walked by key (one indexed read when no delivery is waiting, the
	 * usual case); each revocation in a transaction of its own. */
	for (;;) {
		/* The row decides a revocation: its MAC is checked. */
		if ((s = store_stmt(state_store(st), "SELECT serial, pid, "
		    "pstart, created, " STORE_CHECK(STORE_ROW_CA_DELIVERY)
		    " FROM "
		    "ca_delivery WHERE serial > ? ORDER BY serial LIMIT 1")) ==
		    NULL)
			return CUST_E_DB;
		sqlite3_bind_text(s, 1, serial, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(s);
		gone = 0;
		if (rc == SQLITE_ROW) {
			snprintf(serial, sizeof(serial), "%s",
			    (const char *)sqlite3_column_text(s, 0));
			gone = proc_gone(sqlite3_column_int64(s, 1),
			    sqlite3_column_int64(s, 2)) ||
			    sqlite3_column_int64(s, 3) + CA_DELIVERY_MAX_AGE <=
			    util_now();
		}
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return CUST_OK;
		if (rc != SQLITE_ROW)
			return store_err(state_store(st), "read deliveries");
		if (!gone)
			continue;
		if ((r = store_begin(state_store(st))) != CUST_OK)
			return r;
		memset(&rs, 0, sizeof(rs));
		/* Again under the write lock: delivered meanwhile? */
		if ((r = ca_delivery_pending(st, serial)) == 1)
			r = revoke_undelivered(st, actor, serial, &rs);
		if (r < 0 ||
		    (r = ca_revset_publish(st, &rs, NULL)) != CUST_OK ||
		    (r = store_commit(state_store(st))) != CUST_OK) {
			store_rollback(state_store(st));
			return r;
		}
		if (count_out != NULL)
			*count_out += rs.revoked;
	}
}
