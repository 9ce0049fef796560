/* SPDX-License-Identifier: MIT */
/* src/directory/mit.c - the consoles' MIT Kerberos principals: created,
 * rotated and deleted through kadm5 (kadm.c), their keys kept in
 * DIR/keytabs/CONSOLE.keytab (keytab.c), what custody created recorded in
 * the store (table mit_principal), every change audited.
 *
 * Order of the steps, so that a crash anywhere leaves nothing custody
 * would lose track of (doc/internals/DIRECTORY.md):
 *   create  row 'creating' committed -> kadm5 create -> randkey -> keytab
 *           written -> row 'active' (kvno) + audit, one transaction
 *   rotate  randkey -> keytab (new keys + the previous kvno's) -> row
 *           (kvno, prev_kvno, prev_until) + audit
 *   delete  kadm5 delete -> keytab removed -> row 'deleted' + audit
 * A 'creating' row found later is finished when the principal is
 * custody's: the row was there first, and the realm says custody's admin
 * principal changed it last (creating_ours()); made by someone else
 * meanwhile, the row is dropped. A principal found in the realm without
 * a row is someone else's: never adopted, never deleted.
 *
 * Changes run one at a time per state directory (DIR/mit.lock,
 * dir_lock()), the rows read under the lock: two rotations at once
 * (custodyctl beside custodyd, or two workers) would each randkey, and
 * the keytab last written could hold keys the realm no longer has, or
 * keys labelled with the other's kvno. A keytab get never waits for
 * the lock: it reads (the keytab is written before its row, so the row's
 * kvno is always in it), and takes the lock (without waiting) only to
 * drop a previous kvno whose grace has passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "config.h"
#include "directory.h"
#include "directory_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define NAME_MAX_LEN	1100
#define MIT_LOCK	"mit.lock"
#define MIT_BUSY	"another principal sync, rotate or delete"

struct prow {
	int64_t id;
	char console[128];
	char principal[NAME_MAX_LEN];
	char state[16];
	int kvno, prev_kvno;	/* prev_kvno 0: none */
	int64_t prev_until, created, changed;
	int seen;		/* sync: a want matched it */
};

int
dir_keytab_rel(const char *console, char *buf, size_t len)
{
	size_t i;

	/* console names of a policy: [A-Za-z0-9._-], not starting with
	 * '.'; checked again here since this is a file name */
	if (console[0] == '\0' || console[0] == '.' || strlen(console) > 64)
		goto bad;
	for (i = 0; console[i] != '\0'; i++)
		if (!((console[i] >= 'a' && console[i] <= 'z') ||
		    (console[i] >= 'A' && console[i] <= 'Z') ||
		    (console[i] >= '0' && console[i] <= '9') ||
		    console[i] == '.' || console[i] == '_' ||
		    console[i] == '-'))
			goto bad;
	if ((size_t)snprintf(buf, len, DIR_KEYTABS "/%s.keytab", console) >=
	    len)
		goto bad;
	return CUST_OK;
bad:
	return cust_fail(CUST_E_INVAL, "'%.64s' is not a console name",
	    console);
}

/*
 * Principals custody never makes for a console, whatever the policy says:
 * the realm's own (krbtgt/ keys would let the holder forge tickets,
 * kadmin/ and kiprop/ are the admin service's, K/M the master key,
 * RFC 6111's WELLKNOWN/: making WELLKNOWN/ANONYMOUS turns anonymous
 * PKINIT on for the whole realm, RFC 6112) and
 * any with an "admin" component, which kadm5.acl files commonly grant
 * rights to by pattern (* /admin@REALM). Such a name is already in the
 * realm (and so foreign) in the usual case; this holds when it is not.
 */
static const char *
reserved(const char *principal)
{
	static const char *const first[] = { "krbtgt", "kadmin", "kiprop",
	    "K", "changepw", "WELLKNOWN", NULL };
	const char *p = principal, *e;
	size_t i, l, comp = 0;

	for (;; comp++) {
		for (e = p; *e != '\0' && *e != '/' && *e != '@'; e++)
			if (*e == '\\' && e[1] != '\0')
				e++;
		l = (size_t)(e - p);
		if (l == 5 && strncmp(p, "admin", 5) == 0)
			return "it has an admin component";
		for (i = 0; comp == 0 && first[i] != NULL; i++)
			if (l == strlen(first[i]) && strncmp(p, first[i], l) ==
			    0 && *e == '/')
				return "it is a name of the realm's own "
				    "services";
		if (*e != '/')
			return NULL;
		p = e + 1;
	}
}

/* ---- keytab files ----
 *
 * DIR/keytabs/CONSOLE.keytab is sealed (ktfile.c, doc/internals/
 * DIRECTORY.md) with associated data custody:v1:keytab:<row id>:<console>:1,
 * so the keys are never on disk in the clear and a file copied over
 * another console's (or left from a deleted row of the same console) does
 * not open. */

/* p's keytab file; rel (128 bytes) holds its path. */
static int
ktfile_of(const struct prow *p, char *rel, size_t len, struct dir_ktfile *f)
{
	int r;

	if ((r = dir_keytab_rel(p->console, rel, len)) != CUST_OK)
		return r;
	*f = (struct dir_ktfile){ rel, "keytab", p->id, p->console, 1,
	    "principal sync makes new keys", 1 };
	return CUST_OK;
}

/* The keytab of p's console, opened and parsed: CUST_E_NOTFOUND when
 * there is none, CUST_E_SEALED when it does not open for p. A plaintext
 * keytab (written before keytabs were sealed) is sealed in place. */
static int
keytab_read(struct cust_state *st, const struct prow *p,
    struct seal_secret **img_out, struct dir_keytab **kt_out)
{
	struct dir_ktfile f;
	char rel[128];
	int r;

	if (img_out != NULL)
		*img_out = NULL;
	if (kt_out != NULL)
		*kt_out = NULL;
	if ((r = ktfile_of(p, rel, sizeof(rel), &f)) != CUST_OK)
		return r;
	return dir_ktfile_read(st, &f, img_out, kt_out);
}

/* Replace p's console's keytab with kt, sealed. */
static int
keytab_write(struct cust_state *st, const struct prow *p,
    const struct dir_keytab *kt)
{
	struct dir_ktfile f;
	char rel[128];
	int r;

	if ((r = ktfile_of(p, rel, sizeof(rel), &f)) != CUST_OK)
		return r;
	return dir_ktfile_write(st, &f, kt);
}

static int
keytab_remove(struct cust_state *st, const char *console)
{
	char rel[128];
	int r;

	if ((r = dir_keytab_rel(console, rel, sizeof(rel))) != CUST_OK)
		return r;
	return dir_ktfile_remove(st, rel);
}

/* ---- rows ---- */

#define ROW_COLS "id, console, principal, state, kvno, prev_kvno, " \
	"prev_until, created, changed, " STORE_CHECK(STORE_ROW_MIT_PRINCIPAL)

static void
row_from(sqlite3_stmt *s, struct prow *p)
{
	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(s, 0);
	snprintf(p->console, sizeof(p->console), "%s",
	    (const char *)sqlite3_column_text(s, 1));
	snprintf(p->principal, sizeof(p->principal), "%s",
	    (const char *)sqlite3_column_text(s, 2));
	snprintf(p->state, sizeof(p->state), "%s",
	    (const char *)sqlite3_column_text(s, 3));
	p->kvno = sqlite3_column_int(s, 4);
	p->prev_kvno = sqlite3_column_int(s, 5);
	p->prev_until = sqlite3_column_int64(s, 6);
	p->created = sqlite3_column_int64(s, 7);
	p->changed = sqlite3_column_int64(s, 8);
}

/* Every live row (not 'deleted'), by console: *rows_out (free()). */
static int
rows_live(struct cust_state *st, struct prow **rows_out, size_t *n_out)
{
	struct store *db = state_store(st);
	sqlite3_stmt *s;
	struct prow *rows = NULL, *nr;
	size_t n = 0, cap = 0;
	int rc;

	*rows_out = NULL;
	*n_out = 0;
	if ((s = store_stmt(db, "SELECT " ROW_COLS " FROM mit_principal "
	    "WHERE state <> 'deleted' ORDER BY console")) == NULL)
		return CUST_E_DB;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nr = realloc(rows, cap * sizeof(*rows))) == NULL) {
				sqlite3_reset(s);
				free(rows);
				return cust_fail(CUST_E_NOMEM, "out of memory");
			}
			rows = nr;
		}
		row_from(s, &rows[n++]);
	}
	if (rc != SQLITE_DONE) {
		rc = store_err(db, "read the MIT principals");
		sqlite3_reset(s);
		free(rows);
		return rc;
	}
	sqlite3_reset(s);
	*rows_out = rows;
	*n_out = n;
	return CUST_OK;
}

/* The live row of console: CUST_E_NOTFOUND when custody holds none. */
static int
row_of(struct cust_state *st, const char *console, struct prow *out)
{
	struct store *db = state_store(st);
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(db, "SELECT " ROW_COLS " FROM mit_principal "
	    "WHERE console = ? AND state <> 'deleted'")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, console, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row_from(s, out);
	else if (rc == SQLITE_DONE)
		rc = cust_fail(CUST_E_NOTFOUND, "custody holds no MIT "
		    "principal for console %s (principal sync creates it)",
		    console);
	else
		rc = store_err(db, "read the MIT principal");
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? CUST_OK : rc;
}

/* Write p (state, kvno, prev_*) to its row with the audit entry action
 * on "principal:NAME", in one transaction; p->id 0: insert (p->id set). */
static int
row_save(struct cust_state *st, struct prow *p, const char *actor,
    const char *action, const char *detail)
{
	struct store *db = state_store(st);
	sqlite3_stmt *s;
	char obj[NAME_MAX_LEN + 16];
	int64_t now = util_now();
	int r;

	snprintf(obj, sizeof(obj), "principal:%s", p->principal);
	if ((r = store_begin(db)) != CUST_OK)
		return r;
	if (p->id == 0) {
		s = store_stmt(db, "INSERT INTO mit_principal(console, "
		    "principal, state, kvno, prev_kvno, prev_until, created, "
		    "changed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
	} else {
		s = store_stmt(db, "UPDATE mit_principal SET console = ?1, "
		    "principal = ?2, state = ?3, kvno = ?4, prev_kvno = ?5, "
		    "prev_until = ?6, changed = ?7, mac = NULL WHERE id = ?8 "
		    "AND " STORE_CHECK(STORE_ROW_MIT_PRINCIPAL));
	}
	if (s == NULL) {
		r = CUST_E_DB;
		goto fail;
	}
	sqlite3_bind_text(s, 1, p->console, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, p->principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, p->state, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, p->kvno);
	if (p->prev_kvno > 0) {
		sqlite3_bind_int(s, 5, p->prev_kvno);
		sqlite3_bind_int64(s, 6, p->prev_until);
	}
	sqlite3_bind_int64(s, 7, now);
	if (p->id != 0)
		sqlite3_bind_int64(s, 8, p->id);
	if ((r = store_step_done(db, s, "record the MIT principal")) !=
	    CUST_OK)
		goto fail;
	if (p->id == 0) {
		p->id = sqlite3_last_insert_rowid(store_db(db));
		p->created = now;
	} else if (sqlite3_changes(store_db(db)) != 1) {
		r = cust_fail(CUST_E_CONFLICT, "the MIT principal %s changed "
		    "meanwhile", p->principal);
		goto fail;
	}
	p->changed = now;
	if ((r = store_row_reseal(db, STORE_RESEAL_MIT_PRINCIPAL, p->id)) !=
	    CUST_OK ||
	    (r = audit_append(state_audit(st), actor, action, obj, "ok",
	    detail)) != CUST_OK)
		goto fail;
	return store_commit(db);
fail:
	store_rollback(db);
	return r;
}

/* A failed change to principal, audited (result failed) with the error
 * kept. */
static int
note_failed(struct cust_state *st, const char *actor, const char *action,
    const char *principal, int r)
{
	char obj[NAME_MAX_LEN + 16], msg[512];

	snprintf(obj, sizeof(obj), "principal:%s", principal);
	snprintf(msg, sizeof(msg), "%s", cust_errmsg());
	(void)audit_note(state_audit(st), actor, action, obj, "failed", msg);
	return r;
}

/* ---- the steps ---- */

/* New keys for p's principal, and its keytab: the new keys, plus the
 * keys of keep_kvno (> 0) from the keytab it had. */
static int
rekey(struct cust_state *st, struct dir_kadm *k, const struct prow *p,
    int keep_kvno, int *kvno_out)
{
	struct dir_keys *keys = NULL;
	struct dir_keytab *old = NULL, *kt = NULL;
	int r;

	*kvno_out = 0;
	if ((r = dir_kadm_randkey(k, p->principal, &keys)) != CUST_OK)
		return r;
	util_test_crash("mit-randkey");
	util_test_stop("mit-randkey");	/* tests run another change here */
	if ((kt = dir_keytab_new()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = dir_keytab_add(kt, p->principal, keys,
	    (uint32_t)util_now())) != CUST_OK)
		goto out;
	if (keep_kvno > 0) {
		r = keytab_read(st, p, NULL, &old);
		if (r == CUST_OK)
			r = dir_keytab_copy_kvno(kt, old, keep_kvno);
		else if (r == CUST_E_NOTFOUND)
			r = CUST_OK;	/* nothing to keep */
		if (r != CUST_OK)
			goto out;
	}
	if ((r = keytab_write(st, p, kt)) != CUST_OK)
		goto out;
	*kvno_out = keys->kvno;
out:
	dir_keys_free(keys);
	dir_keytab_free(old);
	dir_keytab_free(kt);
	return r;
}

/*
 * Is the principal of p, a 'creating' row, custody's own half-made one?
 * The row was committed before the create, so a principal found under its
 * name is custody's from a crash after the create, or someone else's made
 * between the row and the create (a sync stopped there, kadmind refusing
 * the create, or the principal deleted and made again behind custody's
 * back). The realm records who changed a principal last (mod_name: the
 * create, randkey, any change): custody's admin principal, or it is not
 * custody's. *ours 1 when it is, or when there is no such principal; by
 * (len) who made it otherwise.
 */
static int
creating_ours(struct dir_kadm *k, const struct prow *p, int *ours, char *by,
    size_t len)
{
	int r = dir_kadm_made_by_us(k, p->principal, ours, by, len);

	if (r == CUST_E_NOTFOUND) {
		*ours = 1;	/* nothing there to be anyone's */
		cust_clearerr();
		return CUST_OK;
	}
	return r;
}

/* p, a 'creating' row whose principal someone else made (by): the row is
 * dropped (the principal left alone: neither adopted nor, later, deleted),
 * audited; the next sync sees a foreign principal. CUST_E_EXISTS (the
 * message says so) once done. */
static int
forget_row(struct cust_state *st, struct prow *p, const char *actor,
    const char *by)
{
	char detail[1300];
	int r;

	snprintf(detail, sizeof(detail), "console:%.40s: not custody's: %s "
	    "was made by %s while the row was 'creating'; left alone, the row "
	    "dropped", p->console, p->principal, by);
	snprintf(p->state, sizeof(p->state), "deleted");
	if ((r = row_save(st, p, actor, "principal.forget", detail)) !=
	    CUST_OK)
		return r;
	return cust_fail(CUST_E_EXISTS, "the principal exists and custody did "
	    "not create it (made by %s while custody's row was 'creating'): "
	    "it is neither adopted nor deleted", by);
}

/* Create (or finish creating) p's principal: p is a 'creating' row.
 * *foreign 1 (the row dropped) when the principal is someone else's. */
static int
finish_create(struct cust_state *st, struct dir_kadm *k, struct prow *p,
    const char *actor, int *foreign)
{
	char detail[64], by[1100];
	int r, kvno, ours = 0;

	*foreign = 0;
	r = dir_kadm_create(k, p->principal);
	if (r == CUST_E_EXISTS &&
	    (r = creating_ours(k, p, &ours, by, sizeof(by))) == CUST_OK &&
	    !ours) {
		r = forget_row(st, p, actor, by);
		*foreign = r == CUST_E_EXISTS;
		return r;
	}
	if (r == CUST_OK)
		util_test_crash("mit-created");
	if (r != CUST_OK || (r = rekey(st, k, p, 0, &kvno)) != CUST_OK)
		return note_failed(st, actor, "principal.create",
		    p->principal, r);
	snprintf(p->state, sizeof(p->state), "active");
	p->kvno = kvno;
	p->prev_kvno = 0;
	snprintf(detail, sizeof(detail), "console:%.40s kvno %d", p->console,
	    kvno);
	return row_save(st, p, actor, "principal.create", detail);
}

/* Drop the previous kvno from p's keytab once its grace has passed. */
static int
expire_prev(struct cust_state *st, struct prow *p, const char *actor)
{
	struct dir_keytab *old = NULL, *kt = NULL;
	char detail[64];
	int r;

	if (p->prev_kvno <= 0 || util_now() < p->prev_until)
		return CUST_OK;
	r = keytab_read(st, p, NULL, &old);
	if (r == CUST_OK) {
		if ((kt = dir_keytab_new()) == NULL)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
		else if ((r = dir_keytab_copy_kvno(kt, old, p->kvno)) ==
		    CUST_OK)
			r = keytab_write(st, p, kt);
	} else if (r == CUST_E_NOTFOUND) {
		r = CUST_OK;
	}
	dir_keytab_free(old);
	dir_keytab_free(kt);
	if (r != CUST_OK)
		return r;
	snprintf(detail, sizeof(detail), "kvno %d dropped from the keytab",
	    p->prev_kvno);
	p->prev_kvno = 0;
	p->prev_until = 0;
	return row_save(st, p, actor, "keytab.expire", detail);
}

static int
delete_row(struct cust_state *st, struct dir_kadm *k, struct prow *p,
    const char *actor, const char *why)
{
	char by[1100];
	int r, ours = 1;

	/* a 'creating' row's principal may be someone else's: not deleted */
	if (strcmp(p->state, "creating") == 0 &&
	    (r = creating_ours(k, p, &ours, by, sizeof(by))) != CUST_OK)
		return note_failed(st, actor, "principal.delete",
		    p->principal, r);
	if (!ours)
		return forget_row(st, p, actor, by);
	r = dir_kadm_delete(k, p->principal);
	if (r == CUST_E_NOTFOUND)
		r = CUST_OK;	/* gone already (a crash after the delete) */
	if (r != CUST_OK || (r = keytab_remove(st, p->console)) != CUST_OK)
		return note_failed(st, actor, "principal.delete",
		    p->principal, r);
	snprintf(p->state, sizeof(p->state), "deleted");
	return row_save(st, p, actor, "principal.delete", why);
}

/* ---- sync ---- */

/* An item of the sync's reply about w, or (w NULL) about row p. */
static int
item(json_t *items, const struct dir_want *w, const struct prow *p,
    const char *action, int kvno, const char *detail)
{
	const char *console = w != NULL ? w->console : p != NULL ?
	    p->console : "", *principal = w != NULL ? w->principal : p !=
	    NULL ? p->principal : "";
	json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "console", console,
	    "principal", principal, "action", action, "kvno", kvno);

	if (o != NULL && detail != NULL && json_object_set_new(o, "detail",
	    json_string(detail)) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL || json_array_append_new(items, o) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/* One want: ensure its principal. Counts into cnt[0..3) created,
 * unchanged, failed. */
static int
ensure(struct cust_state *st, struct dir_kadm *k, const struct dir_want *w,
    struct prow *rows, size_t nrows, int dry_run, const char *actor,
    json_t *items, long long *cnt)
{
	struct prow fresh, *p = NULL;
	const char *why;
	size_t i;
	int r, kvno = 0, foreign = 0;

	for (i = 0; i < nrows; i++)
		if (strcmp(rows[i].console, w->console) == 0 &&
		    strcmp(rows[i].principal, w->principal) == 0)
			p = &rows[i];
	if (strlen(w->principal) >= NAME_MAX_LEN ||
	    strlen(w->console) >= sizeof(fresh.console)) {
		cnt[2]++;
		return item(items, w, NULL, "error", 0, "name too long");
	}
	if (p == NULL && (why = reserved(w->principal)) != NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "custody makes no such principal: "
		    "%s", why);
		cnt[2]++;
		return item(items, w, NULL, "error", 0, msg);
	}
	for (i = 0; p == NULL && i < nrows; i++)
		if (strcmp(rows[i].console, w->console) == 0) {
			cnt[2]++;
			return item(items, w, NULL, "error", 0, "the console's "
			    "previous principal is not deleted yet");
		}
	r = dir_kadm_get(k, w->principal, &kvno);
	if (r != CUST_OK && r != CUST_E_NOTFOUND)
		goto failed;
	if (p == NULL) {
		if (r == CUST_OK) {
			/* in the realm, not made by custody: left alone */
			cnt[2]++;
			return item(items, w, NULL, "foreign", kvno, "the "
			    "principal exists and custody did not create it: "
			    "it is neither adopted nor deleted");
		}
		if (dry_run) {
			cnt[0]++;
			return item(items, w, NULL, "create", 0, NULL);
		}
		memset(&fresh, 0, sizeof(fresh));
		snprintf(fresh.console, sizeof(fresh.console), "%s",
		    w->console);
		snprintf(fresh.principal, sizeof(fresh.principal), "%s",
		    w->principal);
		snprintf(fresh.state, sizeof(fresh.state), "creating");
		p = &fresh;
		if ((r = row_save(st, p, actor, "principal.create",
		    "started")) != CUST_OK)
			return r;	/* the store: custody's own error */
		util_test_crash("mit-begun");	/* the row, no principal */
	} else if (strcmp(p->state, "creating") == 0 || r == CUST_E_NOTFOUND) {
		/* a crash mid-create, or deleted behind custody's back */
		if (dry_run) {
			cnt[0]++;
			return item(items, w, p, "create", 0, NULL);
		}
		snprintf(p->state, sizeof(p->state), "creating");
	} else {
		/* active: the same keys as the keytab, or new ones */
		int lost = 0;

		if (kvno == p->kvno) {
			struct seal_secret *img = NULL;

			/* missing, or not sealed for this console: new
			 * keys replace it */
			if ((r = keytab_read(st, p, &img, NULL)) ==
			    CUST_E_NOTFOUND || r == CUST_E_SEALED)
				lost = 1;
			else if (r != CUST_OK)
				goto failed;
			seal_secret_free(img);
		}
		if (kvno != p->kvno || lost) {
			if (dry_run) {
				cnt[0]++;
				return item(items, w, p, "rekey", kvno, lost ?
				    "the keytab is missing" : "the realm's "
				    "kvno is not the keytab's");
			}
			if ((r = rekey(st, k, p, 0, &kvno)) != CUST_OK) {
				(void)note_failed(st, actor, "principal.rekey",
				    p->principal, r);
				goto failed;
			}
			p->kvno = kvno;
			p->prev_kvno = 0;
			if ((r = row_save(st, p, actor, "principal.rekey",
			    lost ? "the keytab was missing" : "the realm's "
			    "kvno was not the keytab's")) != CUST_OK)
				return r;
			cnt[0]++;
			return item(items, w, p, "rekey", kvno, NULL);
		}
		if (!dry_run && (r = expire_prev(st, p, actor)) != CUST_OK)
			return r;
		cnt[1]++;
		return item(items, w, p, "keep", p->kvno, NULL);
	}
	if ((r = finish_create(st, k, p, actor, &foreign)) != CUST_OK) {
		if (r == CUST_E_DB || r == CUST_E_NOMEM)
			return r;
		if (foreign) {
			cnt[2]++;
			return item(items, w, NULL, "foreign", kvno,
			    cust_errmsg());
		}
		goto failed;
	}
	cnt[0]++;
	return item(items, w, p, "create", p->kvno, NULL);
failed:
	cnt[2]++;
	return item(items, w, p, "error", 0, cust_errmsg());
}

int
dir_mit_sync(struct cust_state *st, const struct config_mit *mit,
    const struct dir_want *want, size_t n, int dry_run, const char *actor,
    json_t **out)
{
	struct dir_kadm *k = NULL;
	struct prow *rows = NULL;
	json_t *items = NULL, *res;
	long long cnt[3] = { 0, 0, 0 }, deleted = 0, failed_del = 0;
	size_t nrows = 0, i, j;
	int r, lockfd = -1;

	*out = NULL;
	if ((items = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (!dry_run && (r = dir_lock(st, MIT_LOCK, MIT_BUSY, &lockfd)) !=
	    CUST_OK)
		goto out;
	if ((r = rows_live(st, &rows, &nrows)) != CUST_OK)
		goto out;
	if ((r = dir_kadm_open(mit, &k)) != CUST_OK)
		goto out;
	/* Deletions first: a console whose principal changed frees its
	 * name for the new one. */
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(rows[i].console, want[j].console) == 0 &&
			    strcmp(rows[i].principal, want[j].principal) == 0)
				break;
		if (j < n)
			continue;
		if (dry_run) {
			deleted++;
			if ((r = item(items, NULL, &rows[i], "delete",
			    rows[i].kvno, NULL)) != CUST_OK)
				goto out;
			continue;
		}
		r = delete_row(st, k, &rows[i], actor, "the policy no longer "
		    "gives the console this principal");
		if (r == CUST_E_DB || r == CUST_E_NOMEM)
			goto out;
		if (r == CUST_OK)
			deleted++;
		else
			failed_del++;
		if ((r = item(items, NULL, &rows[i], r == CUST_OK ? "delete" :
		    r == CUST_E_EXISTS ? "foreign" : "error", rows[i].kvno,
		    r == CUST_OK ? NULL : cust_errmsg())) != CUST_OK)
			goto out;
		rows[i].seen = 1;	/* gone from the candidates */
		rows[i].console[0] = '\0';
	}
	for (j = 0; j < n; j++)
		if ((r = ensure(st, k, &want[j], rows, nrows, dry_run, actor,
		    items, cnt)) != CUST_OK)
			goto out;
	res = json_pack("{s:I, s:I, s:I, s:I, s:b, s:o}", "created",
	    (json_int_t)cnt[0], "deleted", (json_int_t)deleted, "unchanged",
	    (json_int_t)cnt[1], "failed", (json_int_t)(cnt[2] + failed_del),
	    "dry_run", dry_run, "items", items);
	items = NULL;
	if (res == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	*out = res;
	r = CUST_OK;
out:
	json_decref(items);
	free(rows);
	dir_kadm_close(k);
	dir_unlock(lockfd);
	return r;
}

/* ---- one console ---- */

/* dir_mit_rotate() under the lock: the row read there. */
static int
mit_rotate(struct cust_state *st, const struct config_mit *mit,
    const char *console, const char *actor, json_t **out)
{
	struct dir_kadm *k = NULL;
	struct prow p;
	char detail[96];
	int r, kvno, old;

	if ((r = row_of(st, console, &p)) != CUST_OK)
		return r;
	if (strcmp(p.state, "active") != 0)
		return cust_fail(CUST_E_CONFLICT, "the principal of console %s "
		    "is not made yet (principal sync)", console);
	if ((r = dir_kadm_open(mit, &k)) != CUST_OK)
		return r;
	old = p.kvno;
	r = rekey(st, k, &p, mit->keytab_grace > 0 ? old : 0, &kvno);
	dir_kadm_close(k);
	if (r != CUST_OK)
		return note_failed(st, actor, "principal.rotate", p.principal,
		    r);
	p.kvno = kvno;
	p.prev_kvno = mit->keytab_grace > 0 ? old : 0;
	p.prev_until = mit->keytab_grace > 0 ? util_now() +
	    mit->keytab_grace : 0;
	snprintf(detail, sizeof(detail), "kvno %d -> %d, kvno %d kept %llds",
	    old, kvno, old, (long long)mit->keytab_grace);
	if ((r = row_save(st, &p, actor, "principal.rotate", detail)) !=
	    CUST_OK)
		return r;
	*out = json_pack("{s:s, s:s, s:i, s:i, s:I}", "console", p.console,
	    "principal", p.principal, "kvno", p.kvno, "previous_kvno",
	    p.prev_kvno, "previous_until", (json_int_t)p.prev_until);
	return *out != NULL ? CUST_OK : cust_fail(CUST_E_NOMEM, "out of "
	    "memory");
}

int
dir_mit_rotate(struct cust_state *st, const struct config_mit *mit,
    const char *console, const char *actor, json_t **out)
{
	int r, lockfd = -1;

	*out = NULL;
	if ((r = dir_lock(st, MIT_LOCK, MIT_BUSY, &lockfd)) != CUST_OK)
		return r;
	r = mit_rotate(st, mit, console, actor, out);
	dir_unlock(lockfd);
	return r;
}

int
dir_mit_delete(struct cust_state *st, const struct config_mit *mit,
    const char *console, const char *actor)
{
	struct dir_kadm *k = NULL;
	struct prow p;
	int r, lockfd = -1;

	if ((r = dir_lock(st, MIT_LOCK, MIT_BUSY, &lockfd)) != CUST_OK)
		return r;
	if ((r = row_of(st, console, &p)) == CUST_OK &&
	    (r = dir_kadm_open(mit, &k)) == CUST_OK) {
		r = delete_row(st, k, &p, actor, "console removed");
		dir_kadm_close(k);
	}
	dir_unlock(lockfd);
	return r;
}

int
dir_mit_list(struct cust_state *st, json_t **out)
{
	struct prow *rows = NULL;
	json_t *items, *o;
	size_t n = 0, i;
	int r;

	*out = NULL;
	if ((r = rows_live(st, &rows, &n)) != CUST_OK)
		return r;
	if ((items = json_array()) == NULL) {
		free(rows);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "console",
		    rows[i].console, "principal", rows[i].principal, "state",
		    rows[i].state, "kvno", rows[i].kvno, "created",
		    (json_int_t)rows[i].created, "changed",
		    (json_int_t)rows[i].changed);
		if (o != NULL && rows[i].prev_kvno > 0 &&
		    (json_object_set_new(o, "previous_kvno",
		    json_integer(rows[i].prev_kvno)) != 0 ||
		    json_object_set_new(o, "previous_until",
		    json_integer(rows[i].prev_until)) != 0)) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL || json_array_append_new(items, o) != 0) {
			free(rows);
			json_decref(items);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	}
	free(rows);
	if ((*out = json_pack("{s:o}", "items", items)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

int
dir_mit_keytab(struct cust_state *st, const char *console,
    const char *actor, struct seal_secret **out)
{
	struct seal_secret *img = NULL;
	struct dir_keytab *kt = NULL;
	struct prow p;
	char obj[NAME_MAX_LEN + 16], detail[64];
	int r, lockfd = -1;

	*out = NULL;
	if ((r = row_of(st, console, &p)) != CUST_OK)
		return r;
	/* a previous kvno past its grace: dropped under the lock, the row
	 * read again there; a change running meanwhile: the keytab as it
	 * is (a keytab get never holds a change up for long) */
	if (p.prev_kvno > 0 && util_now() >= p.prev_until &&
	    dir_lock(st, MIT_LOCK, MIT_BUSY, &lockfd) == CUST_OK) {
		if ((r = row_of(st, console, &p)) == CUST_OK &&
		    strcmp(p.state, "active") == 0)
			r = expire_prev(st, &p, actor);
		dir_unlock(lockfd);
		if (r != CUST_OK)
			return r;
	}
	cust_clearerr();
	if (strcmp(p.state, "active") != 0)
		return cust_fail(CUST_E_NOTFOUND, "the principal of console %s "
		    "is not made yet (principal sync)", console);
	if ((r = keytab_read(st, &p, &img, &kt)) != CUST_OK)
		return r == CUST_E_NOTFOUND ? cust_fail(CUST_E_NOTFOUND,
		    "console %s has no keytab (principal rotate %s makes one)",
		    console, console) : r;
	/* an older sealed file of this console put back holds old keys */
	r = dir_keytab_has_kvno(kt, p.kvno);
	dir_keytab_free(kt);
	if (!r) {
		seal_secret_free(img);
		return cust_fail(CUST_E_SEALED, "the keytab of console %s does "
		    "not hold kvno %d, the one custody recorded (an older file "
		    "put back?); principal sync makes new keys", console,
		    p.kvno);
	}
	/* durable before the keys leave */
	snprintf(obj, sizeof(obj), "principal:%s", p.principal);
	snprintf(detail, sizeof(detail), "console:%.40s kvno %d", console,
	    p.kvno);
	if ((r = audit_append(state_audit(st), actor, "keytab.get", obj, "ok",
	    detail)) != CUST_OK) {
		seal_secret_free(img);
		return r;
	}
	*out = img;
	return CUST_OK;
}
