/* SPDX-License-Identifier: MIT */
/* src/cred/import.c - bulk device import from CSV or JSON, all or nothing.
 *
 * All or nothing without one long transaction: devices are staged in
 * batches of CRED_IMPORT_BATCH, each its own short transaction, marked
 * with the import's id (a device_import row); no query sees a staged
 * device (CRED_VISIBLE) and no count includes it. Publishing is one
 * short transaction whatever the size: the import's row turns
 * 'published' (all its devices appear at once) and the active count
 * grows by its count. Then each device's import_id is cleared and its
 * "device.add" audit entry written, in batches ("settling"). A bad row
 * deletes what was staged, in batches. A process killed while staging
 * leaves an import nobody sees, deleted by the next import or job sweep
 * (cred_import_sweep()); killed while settling, the sweep settles the rest.
 *
 * Rows may carry an existing fleet's admin and MEBx passwords; they are
 * validated, copied into secret memory and sealed at once, and the input
 * buffer is wiped by the caller. A bad row rolls the whole import back.
 *
 * Errors name the line (CSV) or entry (JSON), the column and the field
 * number, never a value: with columns mixed up or the header missing, any
 * field may hold a password, and a message quoting "the bad FQDN" would
 * print it (the messages of cred_device_add() quote values, so rows are
 * checked here first, by column).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "csv.h"
#include "cred_int.h"
#include "err.h"
#include "log.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

enum col { C_FQDN, C_UUID, C_REALM, C_TAGS, C_ADMIN, C_MEBX, C_ADDR, C_N };
static const char *col_names[C_N] = {
	"fqdn", "uuid", "digest_realm", "tags", "admin_password",
	"mebx_password", "address",
};

#define MAX_TAGS 32

struct import {
	struct cust_state *st;
	const char *actor;
	size_t pwlen;
	int col[C_N];		/* field index of each column, -1 if absent */
	size_t ncols;
	size_t count;
	const struct cred_import_hooks *h;	/* never NULL */
	int64_t import_id;	/* 0 until the first batch makes it */
	size_t in_batch;	/* devices staged in the open transaction */
	double began;		/* when it began (mono_ms()) */
};

/* Split tags on ';', ',' or white space into tags[] (pointers into buf,
 * which is modified). */
static int
split_tags(char *buf, const char **tags, size_t *ntags)
{
	char *p = buf;

	*ntags = 0;
	while (*p) {
		while (*p && (*p == ';' || *p == ',' || isspace((unsigned char)*p)))
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (*ntags == MAX_TAGS)
			return cust_fail(CUST_E_INVAL, "more than %d tags",
			    MAX_TAGS);
		tags[(*ntags)++] = p;
		while (*p && *p != ';' && *p != ',' &&
		    !isspace((unsigned char)*p))
			p++;
	}
	return CUST_OK;
}

/* The column k as "fqdn (field 3)" in CSV, "fqdn" in JSON, into buf. */
static const char *
col_where(const struct import *im, enum col k, char *buf, size_t len)
{
	if (im->ncols > 0 && im->col[k] >= 0)
		snprintf(buf, len, "%s (field %d)", col_names[k],
		    im->col[k] + 1);
	else
		snprintf(buf, len, "%s", col_names[k]);
	return buf;
}

/*
 * The checks cred_device_add() makes, with messages that name the column
 * and not the value. Returns CUST_OK or CUST_E_INVAL (message set).
 */
static int
check_row(const struct import *im, const char *v[C_N], const char **tags,
    size_t ntags)
{
	static const char *const why[C_N] = {
		("not a valid FQDN (dot-separated labels of letters, "
		    "digits and '-', not an address)"),
		"not an AMT UUID (8-4-4-4-12 hex digits)",
		"not an AMT digest realm ('Digest:' and 32 hex digits)",
		"not a valid tag (1-64 of A-Z a-z 0-9 . _ -)",
		[C_ADDR] = ("not an address (HOST or HOST:PORT, HOST a host "
		    "name, an IPv4 address or [IPv6], PORT 1-65534)"),
	};
	char where[64];
	enum col bad = C_N;
	size_t i;

	if (v[C_FQDN] == NULL || *v[C_FQDN] == '\0')
		return cust_fail(CUST_E_INVAL, "%s is empty", col_where(im,
		    C_FQDN, where, sizeof(where)));
	if (util_valid_fqdn(v[C_FQDN]) != CUST_OK)
		bad = C_FQDN;
	else if (v[C_UUID] != NULL && *v[C_UUID] != '\0' &&
	    util_valid_uuid(v[C_UUID]) != CUST_OK)
		bad = C_UUID;
	else if (v[C_REALM] != NULL && *v[C_REALM] != '\0' &&
	    util_valid_digest_realm(v[C_REALM]) != CUST_OK)
		bad = C_REALM;
	for (i = 0; bad == C_N && i < ntags; i++)
		if (util_valid_tag(tags[i]) != CUST_OK)
			bad = C_TAGS;
	if (bad == C_N && v[C_ADDR] != NULL && *v[C_ADDR] != '\0' &&
	    util_parse_address(v[C_ADDR], NULL, 0, NULL) != CUST_OK)
		bad = C_ADDR;
	if (bad != C_N)
		return cust_fail(CUST_E_INVAL, "%s: %s", col_where(im, bad,
		    where, sizeof(where)), why[bad]);
	/* cred_pw_check() says what is wrong by position, not by value. */
	for (i = C_ADMIN; i <= C_MEBX; i++)
		if (v[i] != NULL && *v[i] != '\0' &&
		    cred_pw_check(v[i], strlen(v[i])) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "%s: %s", col_where(im,
			    (enum col)i, where, sizeof(where)), cust_errmsg());
	return CUST_OK;
}

/*
 * Between two batches, leave the write lock free long enough for a writer
 * in another process to take it. SQLite's busy handler sleeps between
 * tries (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms): a batch begun
 * right after a commit keeps winning and starves it (bench/lockwait: 2.5 s
 * waits with no pause). A waiter that began during a batch held for H ms
 * has slept at most about H since its last try (each sleep is no longer
 * than the time waited before it, up to 25 ms until it has waited 128 ms),
 * so a pause as long as the batch, up to CRED_IMPORT_PAUSE_MS, lets it in.
 * The batches stay short (CRED_IMPORT_BATCH) so that it never reaches the
 * 50 and 100 ms sleeps.
 */
#define CRED_IMPORT_PAUSE_MS 25

static double
mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void
pause_for_writers(double since_ms)
{
	double held = mono_ms() - since_ms;
	struct timespec t = { 0, 0 };

	if (held > CRED_IMPORT_PAUSE_MS)
		held = CRED_IMPORT_PAUSE_MS;
	if (held < 1)
		held = 1;
	t.tv_nsec = (long)(held * 1e6);
	nanosleep(&t, NULL);
}

/* Run sql, in the open transaction, with ?1 = id and (when it has one)
 * ?2 = n. */
static int
step_id(struct cust_state *st, const char *sql, int64_t id, int64_t n,
    const char *what)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st), sql)) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_int64(s, 2, n);
	return store_step_done(state_store(st), s, what);
}

/*
 * Open the batch transaction when none is open; the first one also makes
 * the import's row (so an import that fails in its first batch leaves
 * nothing at all).
 */
static int
stage_open(struct import *im)
{
	struct cust_state *st = im->st;
	sqlite3_stmt *s;
	int r;

	if (store_in_txn(state_store(st)))
		return CUST_OK;
	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	im->began = mono_ms();
	if (im->import_id != 0)
		return CUST_OK;
	s = store_stmt(state_store(st),
	    "INSERT INTO device_import(state, actor, "
	    "pid, pstart, count, created) VALUES ('staging', ?, ?, ?, 0, ?)");
	if (s == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, im->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)getpid());
	sqlite3_bind_int64(s, 3, util_proc_start((long long)getpid()));
	sqlite3_bind_int64(s, 4, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "cannot start the import")) != CUST_OK)
		return r;
	im->import_id = sqlite3_last_insert_rowid(store_db(state_store(st)));
	return CUST_OK;
}

/* Commit the open batch with its count (a no-op without one). */
static int
stage_flush(struct import *im)
{
	struct cust_state *st = im->st;
	int r;

	if (!store_in_txn(state_store(st)))
		return CUST_OK;
	if ((r = step_id(st, "UPDATE device_import SET count = count + ?2 "
	    "WHERE id = ?1", im->import_id, (int64_t)im->in_batch,
	    "cannot record the import")) == CUST_OK && im->h->staged != NULL)
		r = im->h->staged(im->h->arg, im->import_id, im->count);
	if (r == CUST_OK)
		r = store_commit(state_store(st));
	else
		store_rollback(state_store(st));
	im->in_batch = 0;
	if (r == CUST_OK)
		pause_for_writers(im->began);
	return r;
}

/* Run the statements sql[0..n) with ?1 = id, ?2 = batch, in the open
 * transaction; *changes_out = rows changed by the last. */
static int
run_batch(struct cust_state *st, const char *const *sql, size_t n,
    int64_t id, int *changes_out)
{
	size_t i;
	int r = CUST_OK;

	for (i = 0; i < n && r == CUST_OK; i++)
		r = step_id(st, sql[i], id, CRED_IMPORT_BATCH, "cannot undo a "
		    "staged import");
	*changes_out = sqlite3_changes(store_db(state_store(st)));
	return r;
}

/*
 * Delete what a staging import wrote, a batch per transaction, then its
 * row. Nobody ever saw it: nothing is audited.
 */
static int
stage_abandon(struct cust_state *st, int64_t id)
{
	static const char *const del[] = {
		"DELETE FROM secret WHERE device_id IN (SELECT id FROM device "
		    "WHERE import_id = ?1 ORDER BY id LIMIT ?2)",
		"DELETE FROM device_tag WHERE device_id IN (SELECT id FROM "
		    "device WHERE import_id = ?1 ORDER BY id LIMIT ?2)",
		"DELETE FROM device WHERE id IN (SELECT id FROM device WHERE "
		    "import_id = ?1 ORDER BY id LIMIT ?2)",
		"DELETE FROM device_import WHERE id = ?1 AND state = "
		    "'staging'",
	};
	int r, changed, last = 0;
	double began;

	while (!last) {
		if ((r = store_begin(state_store(st))) != CUST_OK)
			return r;
		began = mono_ms();
		r = run_batch(st, del, 3, id, &changed);
		if (r == CUST_OK && changed == 0) {
			r = run_batch(st, del + 3, 1, id, &changed);
			last = 1;
		}
		if (r != CUST_OK) {
			store_rollback(state_store(st));
			return r;
		}
		if ((r = store_commit(state_store(st))) != CUST_OK)
			return r;
		if (!last)
			pause_for_writers(began);
	}
	return CUST_OK;
}

/* Add one device from its column values (NULL when absent). */
static int
add_row(struct import *im, const char *v[C_N], char *tagbuf)
{
	struct cred_device_spec spec = { 0 };
	struct seal_secret *pw[2] = { NULL, NULL };
	const char *tags[MAX_TAGS];
	char where[64];
	size_t i;
	int r;

	if (tagbuf != NULL && (r = split_tags(tagbuf, tags, &spec.ntags)) !=
	    CUST_OK)
		return r;
	if ((r = check_row(im, v, tags, spec.ntags)) != CUST_OK)
		return r;
	for (i = 0; i < 2; i++) {
		const char *p = v[C_ADMIN + i];

		if (p == NULL || *p == '\0')
			continue;
		if ((pw[i] = seal_secret_dup(p, strlen(p))) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of secure memory");
			goto out;
		}
	}
	spec.fqdn = v[C_FQDN];
	spec.uuid = v[C_UUID];
	spec.digest_realm = v[C_REALM];
	spec.address = v[C_ADDR];
	spec.tags = tags;
	spec.admin_pw = pw[0];
	spec.mebx_pw = pw[1];
	if ((r = stage_open(im)) != CUST_OK)
		goto out;
	r = cred_device_stage(im->st, im->actor, &spec, im->pwlen,
	    im->import_id, NULL);
	if (r == CUST_OK) {
		im->count++;
		if (++im->in_batch == CRED_IMPORT_BATCH)
			r = stage_flush(im);
	}
	else if (r == CUST_E_EXISTS)	/* its message quotes the FQDN */
		r = cust_fail(r, "%s: a device of this name is already "
		    "registered or earlier in the input", col_where(im, C_FQDN,
		    where, sizeof(where)));
	else if (r == CUST_E_INVAL || r == CUST_E_PARSE)
		r = cust_fail(r, "%s", cust_strerror(r));	/* unforeseen */
out:
	seal_secret_free(pw[0]);
	seal_secret_free(pw[1]);
	return r;
}

static int
csv_row(void *arg, size_t line, char **f, size_t n)
{
	struct import *im = arg;
	const char *v[C_N] = { 0 };
	size_t i, k;
	int r;

	if (im->ncols == 0) {	/* header line */
		for (k = 0; k < C_N; k++)
			im->col[k] = -1;
		for (i = 0; i < n; i++) {
			char *name = f[i], *end;

			while (isspace((unsigned char)*name))
				name++;
			end = name + strlen(name);
			while (end > name && isspace((unsigned char)end[-1]))
				*--end = '\0';
			for (k = 0; k < C_N; k++)
				if (strcmp(name, col_names[k]) == 0)
					break;
			/* Not quoted: without a header line, this is
			 * a row's value, perhaps a password. */
			if (k == C_N)
				return cust_fail(CUST_E_PARSE, "line %zu: field "
				    "%zu is not a column name (is the header "
				    "line missing? columns: fqdn, uuid, "
				    "digest_realm, tags, admin_password, "
				    "mebx_password, address)", line, i + 1);
			if (im->col[k] != -1)
				return cust_fail(CUST_E_PARSE, "line %zu: column "
				    "'%s' appears twice", line, col_names[k]);
			im->col[k] = (int)i;
		}
		if (im->col[C_FQDN] == -1)
			return cust_fail(CUST_E_PARSE, "line %zu: the header "
			    "has no fqdn column", line);
		im->ncols = n;
		return CUST_OK;
	}
	if (n != im->ncols)
		return cust_fail(CUST_E_PARSE, "line %zu: %zu fields, the header "
		    "has %zu", line, n, im->ncols);
	for (k = 0; k < C_N; k++)
		if (im->col[k] >= 0)
			v[k] = f[im->col[k]];
	r = add_row(im, v, im->col[C_TAGS] >= 0 ? f[im->col[C_TAGS]] : NULL);
	if (r != CUST_OK)	/* keep the class: input, duplicate, store */
		return cust_fail(r, "line %zu: %s", line, cust_errmsg());
	return CUST_OK;
}

static int
json_entry(struct import *im, size_t idx, json_t *o)
{
	const char *v[C_N] = { 0 }, *key;
	char tagbuf[4096] = "";
	size_t k, used = 0, ti, nkey = 0;
	json_t *val, *t;
	int r;

	if (!json_is_object(o))
		return cust_fail(CUST_E_PARSE, "entry %zu: not an object", idx);
	json_object_foreach(o, key, val) {
		nkey++;
		for (k = 0; k < C_N; k++)
			if (strcmp(key, col_names[k]) == 0)
				break;
		/* Not quoted, like an unknown CSV column. */
		if (k == C_N)
			return cust_fail(CUST_E_PARSE, "entry %zu: key %zu is "
			    "not known (keys: fqdn, uuid, digest_realm, tags, "
			    "admin_password, mebx_password, address)", idx,
			    nkey);
		if (k == C_TAGS && json_is_array(val)) {
			json_array_foreach(val, ti, t) {
				int w;

				if (!json_is_string(t))
					return cust_fail(CUST_E_PARSE, "entry "
					    "%zu: tags must be strings", idx);
				w = snprintf(tagbuf + used, sizeof(tagbuf) - used,
				    "%s;", json_string_value(t));
				if (w < 0 || (size_t)w >= sizeof(tagbuf) - used)
					return cust_fail(CUST_E_TOOBIG, "entry "
					    "%zu: tags too long", idx);
				used += (size_t)w;
			}
			continue;
		}
		if (json_is_null(val))
			continue;
		if (!json_is_string(val))
			return cust_fail(CUST_E_PARSE, "entry %zu: '%s' must be a "
			    "string", idx, key);
		if (k == C_TAGS) {
			if (json_string_length(val) >= sizeof(tagbuf))
				return cust_fail(CUST_E_TOOBIG, "entry %zu: tags "
				    "too long", idx);
			memcpy(tagbuf, json_string_value(val),
			    json_string_length(val) + 1);
			continue;
		}
		v[k] = json_string_value(val);
	}
	r = add_row(im, v, tagbuf);
	if (r != CUST_OK)
		return cust_fail(r, "entry %zu: %s", idx, cust_errmsg());
	return CUST_OK;
}

const char *
cred_json_error_what(const json_error_t *e)
{
	switch (json_error_code(e)) {
	case json_error_end_of_input_expected:
		return "text after the end of the document";
	case json_error_premature_end_of_input:
		return "the document ends early";
	case json_error_invalid_syntax:
		return "invalid syntax";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_invalid_format:
		return "invalid string, number or escape";
	case json_error_duplicate_key:
		return "a key appears twice in an object";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "NUL character";
	case json_error_numeric_overflow:
		return "number out of range";
	default:
		return "cannot parse";
	}
}

static int
import_json(struct import *im, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *root, *o;
	size_t i;
	int r = CUST_OK;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* Not jerr.text: jansson quotes the token it failed on, which
		 * may be part of a password. */
		r = cust_fail(CUST_E_PARSE, "line %d, column %d: malformed "
		    "JSON (%s)", jerr.line, jerr.column,
		    cred_json_error_what(&jerr));
		sodium_memzero(&jerr, sizeof(jerr));
		return r;
	}
	if (!json_is_array(root)) {
		json_decref(root);
		return cust_fail(CUST_E_PARSE, "a JSON import is an array of "
		    "device objects");
	}
	json_array_foreach(root, i, o) {
		if ((r = json_entry(im, i + 1, o)) != CUST_OK)
			break;
	}
	json_decref(root);
	return r;
}

/*
 * Publish: the import's row turns 'published', so every staged device
 * appears at once, and the active count grows by the import's count; one
 * short transaction whatever the import's size. Audited as device.import
 * (object "import:ID").
 */
static int
stage_publish(struct cust_state *st, const char *actor, int64_t id,
    size_t count, const struct cred_import_hooks *h)
{
	char object[32], detail[48];
	int r;

	if ((r = store_begin(state_store(st))) != CUST_OK)
		return r;
	if ((r = step_id(st, "UPDATE device_import SET state = 'published' "
	    "WHERE id = ?1 AND state = 'staging'", id, 0, "cannot publish "
	    "the import")) != CUST_OK)
		goto out;
	if (sqlite3_changes(store_db(state_store(st))) != 1) {
		r = cust_fail(CUST_E_CONFLICT, "import %lld was undone while it "
		    "ran (its process was taken for dead)", (long long)id);
		goto out;
	}
	if ((r = step_id(st, "UPDATE cred_count SET n = n + (SELECT count "
	    "FROM device_import WHERE id = ?1) WHERE name = 'device:active'",
	    id, 0, "cannot count the import")) != CUST_OK)
		goto out;
	snprintf(object, sizeof(object), "import:%lld", (long long)id);
	snprintf(detail, sizeof(detail), "%zu devices", count);
	if ((r = audit_append(state_audit(st), actor, "device.import", object,
	    "ok", detail)) != CUST_OK)
		goto out;
	if (h->published != NULL && (r = h->published(h->arg, id, count)) !=
	    CUST_OK)
		goto out;
	return store_commit(state_store(st));
out:
	store_rollback(state_store(st));
	return r;
}

/*
 * Settle a published import: in batches, write each device's device.add
 * audit entry and clear its import_id in the same transaction (so a
 * device is audited once, however often settling is interrupted), then
 * delete the import's row.
 */
static int
stage_settle(struct cust_state *st, const char *actor, int64_t id)
{
	char detail[48];
	sqlite3_stmt *s;
	int64_t ids[CRED_IMPORT_BATCH];
	size_t n, i;
	int r, rc;
	double began;

	snprintf(detail, sizeof(detail), "imported (import:%lld)",
	    (long long)id);
	do {
		if ((r = store_begin(state_store(st))) != CUST_OK)
			return r;
		began = mono_ms();
		s = store_stmt(state_store(st),
		    "SELECT id, fqdn FROM device WHERE "
		    "import_id = ? ORDER BY id LIMIT ?");
		if (s == NULL) {
			r = CUST_E_DB;
			goto out;
		}
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, CRED_IMPORT_BATCH);
		n = 0;
		while (r == CUST_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			ids[n++] = sqlite3_column_int64(s, 0);
			r = audit_append(state_audit(st), actor, "device.add",
			    (const char *)sqlite3_column_text(s, 1), "ok",
			    detail);
		}
		if (r == CUST_OK && rc != SQLITE_DONE)
			r = store_err(state_store(st),
			    "cannot read the import");
		sqlite3_reset(s);
		for (i = 0; r == CUST_OK && i < n; i++)
			r = step_id(st, "UPDATE device SET import_id = NULL "
			    "WHERE id = ?1", ids[i], 0, "cannot settle the "
			    "import");
		if (r == CUST_OK && n == 0)
			r = step_id(st, "DELETE FROM device_import WHERE id = ?1 "
			    "AND state = 'published'", id, 0, "cannot settle "
			    "the import");
		if (r != CUST_OK)
			goto out;
		if ((r = store_commit(state_store(st))) != CUST_OK)
			return r;
		if (n > 0)
			pause_for_writers(began);
	} while (n > 0);
	return CUST_OK;
out:
	store_rollback(state_store(st));
	return r;
}

int
cred_import_sweep(struct cust_state *st, size_t *found_out)
{
	int64_t id[16], pub[16];
	char actor[16][128];
	sqlite3_stmt *s;
	size_t n = 0, i, found = 0;
	int rc, r = CUST_OK;

	if (found_out != NULL)
		*found_out = 0;
	/* An import whose process is alive is its process's to finish. */
	s = store_stmt(state_store(st),
	    "SELECT id, state = 'published', actor, pid, "
	    "pstart FROM device_import ORDER BY id");
	if (s == NULL)
		return CUST_E_DB;
	while (n < 16 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 3) != SQLITE_NULL &&
		    util_proc_start(sqlite3_column_int64(s, 3)) ==
		    sqlite3_column_int64(s, 4))
			continue;
		id[n] = sqlite3_column_int64(s, 0);
		pub[n] = sqlite3_column_int(s, 1);
		snprintf(actor[n], sizeof(actor[n]), "%s",
		    (const char *)sqlite3_column_text(s, 2));
		n++;
	}
	if (n < 16 && rc != SQLITE_DONE)
		r = store_err(state_store(st), "cannot read the imports");
	sqlite3_reset(s);
	for (i = 0; r == CUST_OK && i < n; i++) {
		r = pub[i] ? stage_settle(st, actor[i], id[i]) :
		    stage_abandon(st, id[i]);
		if (r == CUST_OK)
			found++;
	}
	if (found_out != NULL)
		*found_out = found;
	return r;
}

int
cred_device_import(struct cust_state *st, const char *actor, const char *buf,
    size_t len, size_t pwlen, size_t *count_out)
{
	return cred_device_import_with(st, actor, buf, len, pwlen, NULL,
	    count_out);
}

int
cred_device_import_with(struct cust_state *st, const char *actor,
    const char *buf, size_t len, size_t pwlen,
    const struct cred_import_hooks *h, size_t *count_out)
{
	static const struct cred_import_hooks none = { NULL, NULL, NULL };
	struct import im = { .st = st, .actor = actor, .pwlen = pwlen,
	    .h = h != NULL ? h : &none };
	char msg[512];
	size_t i = 0;
	int r;

	*count_out = 0;
	if (store_in_txn(state_store(st)))
		return cust_fail(CUST_E_INTERNAL, "an import runs its own "
		    "transactions");
	/* Leftovers of an import whose process died free their names. */
	if ((r = cred_import_sweep(st, NULL)) != CUST_OK)
		return r;
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if (i < len && (buf[i] == '[' || buf[i] == '{'))
		r = import_json(&im, buf, len);
	else
		r = csv_parse(buf, len, csv_row, &im);
	if (r == CUST_OK && im.count == 0)
		r = cust_fail(CUST_E_PARSE, "no devices in the input");
	if (r == CUST_OK)
		r = stage_flush(&im);
	if (r == CUST_OK)
		r = stage_publish(st, actor, im.import_id, im.count, im.h);
	if (r != CUST_OK) {
		if (store_in_txn(state_store(st)))
			store_rollback(state_store(st));
		/* The error is the import's, not the undo's: an undo that
		 * fails (the disk full) is finished by the next sweep. */
		snprintf(msg, sizeof(msg), "%s", cust_errmsg());
		if (im.import_id != 0 && stage_abandon(st, im.import_id) !=
		    CUST_OK)
			log_warnx("import:%lld could not be undone yet (%s); the "
			    "next import or job sweep will", (long long)
			    im.import_id, cust_errmsg());
		return cust_fail(r, "%s", msg);
	}
	*count_out = im.count;
	/* Visible and counted already; a failure to settle is the sweep's
	 * to finish and does not undo the import. */
	if (stage_settle(st, actor, im.import_id) != CUST_OK)
		log_warnx("import:%lld is published but its audit entries are "
		    "not all written yet (%s); the next sweep will",
		    (long long)im.import_id, cust_errmsg());
	return CUST_OK;
}
