/* SPDX-License-Identifier: MIT */
/* tests/unit/cred/test_secret.c - secret versions on a real state: the
 * rotation state machine (pending -> current -> retired | failed), reads by
 * version, device selection, verify, and sealed values bound to their row. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit.h"
#include "cred.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#define ACTOR "tester"

/* A sealed value that does not open: a damaged store (CUST_E_DB, exit 5)
 * or a cryptographic failure; never success, never "not found". */
#define assert_unseal_fails(r) do {					\
	int r_ = (r);							\
	if (r_ != CUST_E_DB && r_ != CUST_E_CRYPTO)			\
		fail_msg("unsealing a damaged value gave %d (%s)", r_,	\
		    cust_errmsg());					\
} while (0)


static int64_t
add_dev(struct cust_state *st, const char *fqdn, const char *tag,
    const char *admin_pw)
{
	struct cred_device_spec spec = { 0 };
	struct seal_secret *pw = NULL;
	const char *tags[1] = { tag };
	int64_t id = 0;
	int r;

	spec.fqdn = fqdn;
	spec.tags = tags;
	spec.ntags = tag != NULL ? 1 : 0;
	if (admin_pw != NULL) {
		pw = seal_secret_dup(admin_pw, strlen(admin_pw));
		assert_non_null(pw);
		spec.admin_pw = pw;
	}
	r = cred_device_add(st, ACTOR, &spec, 16, &id);
	seal_secret_free(pw);
	if (r != CUST_OK)
		fail_msg("device add %s: %s", fqdn, cust_errmsg());
	assert_true(id > 0);
	return id;
}

/* The password (copied into *buf) of fqdn/kind at version ver; returns the
 * error code, fills *vout and *sout when CUST_OK. */
static int
get_pw(struct cust_state *st, const char *fqdn, const char *kind,
    int64_t ver, char buf[CRED_PW_MAX + 1], int64_t *vout, const char **sout)
{
	struct seal_secret *pw = NULL;
	int64_t v = -99;
	const char *state = NULL;
	int r;

	buf[0] = '\0';
	r = cred_secret_get(st, ACTOR, fqdn, kind, ver, &pw, &v, &state);
	if (r != CUST_OK) {
		assert_null(pw);
		return r;
	}
	assert_non_null(pw);
	assert_non_null(state);
	assert_true(seal_secret_len(pw) <= CRED_PW_MAX);
	memcpy(buf, seal_secret_str(pw), seal_secret_len(pw) + 1);
	seal_secret_free(pw);
	if (vout != NULL)
		*vout = v;
	if (sout != NULL)
		*sout = state;
	return CUST_OK;
}

/* History of a device as "admin1current admin2pending mebx1current". */
static void
history(struct cust_state *st, const char *fqdn, char *out, size_t len)
{
	json_t *h = NULL, *v;
	size_t i, used = 0;

	if (cred_secret_history(st, fqdn, &h) != CUST_OK)
		fail_msg("history %s: %s", fqdn, cust_errmsg());
	out[0] = '\0';
	json_array_foreach(h, i, v) {
		int n = snprintf(out + used, len - used, "%s%s%lld%s",
		    i ? " " : "",
		    json_string_value(json_object_get(v, "kind")),
		    (long long)json_integer_value(json_object_get(v,
		    "version")),
		    json_string_value(json_object_get(v, "state")));

		assert_true(n > 0 && (size_t)n < len - used);
		used += (size_t)n;
	}
	json_decref(h);
}

#define assert_history(st, fqdn, want) do {				\
	char h_[512];							\
	history((st), (fqdn), h_, sizeof(h_));				\
	if (strcmp(h_, (want)) != 0)					\
		fail_msg("history of %s: '%s', want '%s'", (fqdn), h_,	\
		    (want));						\
} while (0)

static int
rotate(struct cust_state *st, int64_t id, const char *kind, int replace,
    struct cred_rotate_result *res)
{
	return cred_rotate(st, ACTOR, &id, 1, kind, 16, replace, 0, NULL,
	    NULL, res);
}

/* Version numbers: v1 current at add; rotate makes v2 pending; a second
 * rotate is refused; --replace-pending fails the old pending; numbers are
 * never reused, whatever happened to the versions before. */
static void
test_version_numbering(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	char v1[CRED_PW_MAX + 1], p[CRED_PW_MAX + 1], q[CRED_PW_MAX + 1];
	int64_t id, ver;
	const char *st_name;
	int r;

	id = add_dev(f->st, "h1.corp.example", NULL, NULL);
	assert_history(f->st, "h1.corp.example", "admin1current mebx1current");
	assert_int_equal(get_pw(f->st, "h1.corp.example", "admin",
	    CRED_VER_CURRENT, v1, &ver, &st_name), CUST_OK);
	assert_int_equal(ver, 1);
	assert_string_equal(st_name, "current");
	assert_int_equal(strlen(v1), 16);

	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	assert_int_equal(res.rotated, 1);
	assert_int_equal(res.refused, 0);
	assert_int_equal(res.missing, 0);
	assert_null(res.items);
	assert_history(f->st, "h1.corp.example",
	    "admin1current admin2pending mebx1current");
	assert_int_equal(get_pw(f->st, "h1.corp.example", "admin",
	    CRED_VER_PENDING, p, &ver, &st_name), CUST_OK);
	assert_int_equal(ver, 2);
	assert_string_equal(st_name, "pending");
	assert_string_not_equal(p, v1);
	assert_int_equal(cred_pw_check(p, strlen(p)), CUST_OK);

	/* Second rotate: refused, nothing changes. */
	r = rotate(f->st, id, "admin", 0, &res);
	assert_int_equal(r, CUST_E_CONFLICT);
	assert_int_equal(res.refused, 1);
	assert_int_equal(res.rotated, 0);
	assert_int_equal(res.missing, 0);
	assert_history(f->st, "h1.corp.example",
	    "admin1current admin2pending mebx1current");
	assert_int_equal(get_pw(f->st, "h1.corp.example", "admin",
	    CRED_VER_PENDING, q, &ver, NULL), CUST_OK);
	assert_int_equal(ver, 2);
	assert_string_equal(q, p);

	/* Replace: v2 failed (kept, same value), v3 pending. */
	assert_int_equal(rotate(f->st, id, "admin", 1, &res), CUST_OK);
	assert_int_equal(res.rotated, 1);
	assert_int_equal(res.refused, 0);
	assert_history(f->st, "h1.corp.example",
	    "admin1current admin2failed admin3pending mebx1current");
	assert_int_equal(get_pw(f->st, "h1.corp.example", "admin", 2, q, &ver,
	    &st_name), CUST_OK);
	assert_int_equal(ver, 2);
	assert_string_equal(st_name, "failed");
	assert_string_equal(q, p);
	assert_int_equal(get_pw(f->st, "h1.corp.example", "admin",
	    CRED_VER_PENDING, q, &ver, NULL), CUST_OK);
	assert_int_equal(ver, 3);
	assert_string_not_equal(q, p);

	/* Replace again, confirm, rotate: 4, then 5; never a reused number. */
	assert_int_equal(rotate(f->st, id, "admin", 1, &res), CUST_OK);
	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.corp.example", "admin",
	    4), CUST_OK);
	assert_history(f->st, "h1.corp.example", "admin1retired admin2failed "
	    "admin3failed admin4current mebx1current");
	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	assert_int_equal(res.rotated, 1);
	assert_history(f->st, "h1.corp.example", "admin1retired admin2failed "
	    "admin3failed admin4current admin5pending mebx1current");
	/* The other kind has its own numbering. */
	assert_int_equal(rotate(f->st, id, "mebx", 0, &res), CUST_OK);
	assert_history(f->st, "h1.corp.example", "admin1retired admin2failed "
	    "admin3failed admin4current admin5pending mebx1current "
	    "mebx2pending");
	/* Exactly one pending and one current per kind, in the store too. */
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM secret WHERE "
	    "state = 'pending'"), 2);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM secret WHERE "
	    "state = 'current'"), 2);
}

/* confirm: pending -> current, old current -> retired; the value read as
 * current is the one that was pending. Refusals change nothing. */
static void
test_confirm(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	char v1[CRED_PW_MAX + 1], p[CRED_PW_MAX + 1], now[CRED_PW_MAX + 1];
	int64_t id, ver;
	const char *st_name;

	id = add_dev(f->st, "h1.corp.example", NULL, NULL);
	assert_int_equal(get_pw(f->st, "h1.corp.example", "mebx",
	    CRED_VER_CURRENT, v1, NULL, NULL), CUST_OK);
	assert_int_equal(rotate(f->st, id, "mebx", 0, &res), CUST_OK);
	assert_int_equal(get_pw(f->st, "h1.corp.example", "mebx",
	    CRED_VER_PENDING, p, NULL, NULL), CUST_OK);
	/* Confirming the current version (not pending, not failed): refused. */
	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.corp.example", "mebx",
	    1), CUST_E_CONFLICT);
	/* A version that does not exist. */
	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.corp.example", "mebx",
	    7), CUST_E_NOTFOUND);
	/* An unknown device. */
	assert_int_equal(cred_confirm(f->st, ACTOR, "nope.corp.example",
	    "mebx", 2), CUST_E_NOTFOUND);
	assert_history(f->st, "h1.corp.example",
	    "admin1current mebx1current mebx2pending");

	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.corp.example", "mebx",
	    2), CUST_OK);
	assert_history(f->st, "h1.corp.example",
	    "admin1current mebx1retired mebx2current");
	assert_int_equal(get_pw(f->st, "h1.corp.example", "mebx",
	    CRED_VER_CURRENT, now, &ver, &st_name), CUST_OK);
	assert_int_equal(ver, 2);
	assert_string_equal(st_name, "current");
	assert_string_equal(now, p);
	assert_int_equal(get_pw(f->st, "h1.corp.example", "mebx", 1, now, &ver,
	    &st_name), CUST_OK);
	assert_string_equal(st_name, "retired");
	assert_string_equal(now, v1);
	/* No pending left. */
	assert_int_equal(get_pw(f->st, "h1.corp.example", "mebx",
	    CRED_VER_PENDING, now, NULL, NULL), CUST_E_NOTFOUND);

	/* A retired version is refused, twice over; nothing moves. */
	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.corp.example", "mebx",
	    1), CUST_E_CONFLICT);
	assert_int_equal(cred_confirm(f->st, ACTOR, "H1.Corp.Example", "mebx",
	    1), CUST_E_CONFLICT);
	/* Confirming again what is already current: refused too. */
	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.corp.example", "mebx",
	    2), CUST_E_CONFLICT);
	assert_history(f->st, "h1.corp.example",
	    "admin1current mebx1retired mebx2current");
	/* The refusals left no transaction open: the store still takes
	 * changes. */
	assert_int_equal(store_in_txn(state_store(f->st)), 0);
	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
}

/* A --replace-pending race: the device took v2, the console then replaced
 * it by v3 (v2 failed). Confirming v2 (failed, newer than current v1) is
 * accepted; a failed version older than current is refused. */
static void
test_confirm_failed(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	char p2[CRED_PW_MAX + 1], p3[CRED_PW_MAX + 1], now[CRED_PW_MAX + 1];
	char v1[CRED_PW_MAX + 1];
	int64_t a, b, ver;
	const char *st_name;
	int r;

	a = add_dev(f->st, "a.corp.example", NULL, NULL);
	b = add_dev(f->st, "b.corp.example", NULL, NULL);

	/* Device a: the newer failed version is confirmed. */
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin", 1, v1, NULL,
	    NULL), CUST_OK);
	assert_int_equal(rotate(f->st, a, "admin", 0, &res), CUST_OK);
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin",
	    CRED_VER_PENDING, p2, NULL, NULL), CUST_OK);
	assert_int_equal(rotate(f->st, a, "admin", 1, &res), CUST_OK);
	assert_history(f->st, "a.corp.example",
	    "admin1current admin2failed admin3pending mebx1current");
	r = cred_confirm(f->st, ACTOR, "a.corp.example", "admin", 2);
	if (r != CUST_OK)
		fail_msg("confirm of failed v2 (newer than current v1): %d %s",
		    r, cust_errmsg());
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin",
	    CRED_VER_CURRENT, now, &ver, &st_name), CUST_OK);
	assert_int_equal(ver, 2);
	assert_string_equal(st_name, "current");
	assert_string_equal(now, p2);
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin", 1, now, &ver,
	    &st_name), CUST_OK);
	assert_string_equal(st_name, "retired");
	assert_string_equal(now, v1);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM secret s JOIN "
	    "device d ON d.id = s.device_id WHERE d.fqdn = 'a.corp.example' "
	    "AND s.kind = 'admin' AND s.state = 'current'"), 1);

	/* Device b: v3 confirmed; the failed v2 is now older: refused. */
	assert_int_equal(rotate(f->st, b, "admin", 0, &res), CUST_OK);
	assert_int_equal(rotate(f->st, b, "admin", 1, &res), CUST_OK);
	assert_int_equal(get_pw(f->st, "b.corp.example", "admin",
	    CRED_VER_PENDING, p3, NULL, NULL), CUST_OK);
	assert_int_equal(cred_confirm(f->st, ACTOR, "b.corp.example", "admin",
	    3), CUST_OK);
	assert_history(f->st, "b.corp.example",
	    "admin1retired admin2failed admin3current mebx1current");
	assert_int_equal(cred_confirm(f->st, ACTOR, "b.corp.example", "admin",
	    2), CUST_E_CONFLICT);
	assert_int_equal(cred_confirm(f->st, ACTOR, "b.corp.example", "admin",
	    1), CUST_E_CONFLICT);
	assert_history(f->st, "b.corp.example",
	    "admin1retired admin2failed admin3current mebx1current");
	assert_int_equal(get_pw(f->st, "b.corp.example", "admin",
	    CRED_VER_CURRENT, now, &ver, NULL), CUST_OK);
	assert_int_equal(ver, 3);
	assert_string_equal(now, p3);
}

/* Reads: current, pending, explicit version; NOTFOUND when absent;
 * adopted passwords come back as given; FQDNs are case-insensitive. */
static void
test_secret_get(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	struct seal_secret *pw = (struct seal_secret *)&res;
	char buf[CRED_PW_MAX + 1], cur[CRED_PW_MAX + 1];
	int64_t id, ver = 42;
	const char *st_name = "x";

	id = add_dev(f->st, "Adopt.Corp.Example", NULL, "Adm1n!pass");
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "admin",
	    CRED_VER_CURRENT, buf, &ver, &st_name), CUST_OK);
	assert_string_equal(buf, "Adm1n!pass");
	assert_int_equal(ver, 1);
	assert_string_equal(st_name, "current");
	/* Not adopted: generated, pwlen characters, valid. */
	assert_int_equal(get_pw(f->st, "ADOPT.corp.example", "mebx",
	    CRED_VER_CURRENT, cur, &ver, NULL), CUST_OK);
	assert_int_equal(strlen(cur), 16);
	assert_int_equal(cred_pw_check(cur, strlen(cur)), CUST_OK);
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "mebx", 1, buf,
	    &ver, &st_name), CUST_OK);
	assert_string_equal(buf, cur);

	/* None pending yet; no version 2; outputs cleared. */
	assert_int_equal(cred_secret_get(f->st, ACTOR, "adopt.corp.example",
	    "admin", CRED_VER_PENDING, &pw, &ver, &st_name), CUST_E_NOTFOUND);
	assert_null(pw);
	assert_int_equal(ver, 0);
	assert_null(st_name);
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "admin", 2, buf,
	    NULL, NULL), CUST_E_NOTFOUND);
	assert_int_equal(get_pw(f->st, "other.corp.example", "admin",
	    CRED_VER_CURRENT, buf, NULL, NULL), CUST_E_NOTFOUND);

	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "admin",
	    CRED_VER_PENDING, buf, &ver, &st_name), CUST_OK);
	assert_int_equal(ver, 2);
	assert_string_equal(st_name, "pending");
	assert_string_not_equal(buf, "Adm1n!pass");
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "admin", 2, cur,
	    &ver, &st_name), CUST_OK);
	assert_string_equal(cur, buf);
	assert_string_equal(st_name, "pending");
	/* Current is unchanged while v2 is pending. */
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "admin",
	    CRED_VER_CURRENT, buf, &ver, NULL), CUST_OK);
	assert_string_equal(buf, "Adm1n!pass");
	assert_int_equal(ver, 1);
	/* A removed device's secrets are not served. */
	assert_int_equal(cred_device_remove(f->st, ACTOR, "adopt.corp.example"),
	    CUST_OK);
	assert_int_equal(get_pw(f->st, "adopt.corp.example", "admin",
	    CRED_VER_CURRENT, buf, NULL, NULL), CUST_E_NOTFOUND);
}

/* Times the statements of st's connection were prepared again. */
static int
reprepares(struct cust_state *st)
{
	sqlite3 *db = store_db(state_store(st));
	sqlite3_stmt *s = NULL;
	int n = 0;

	while ((s = sqlite3_next_stmt(db, s)) != NULL)
		n += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_REPREPARE, 0);
	return n;
}

/* A read of the current (or pending) version is not prepared again each
 * time: a parameter that a partial index depends on (state = ?) made
 * SQLite re-prepare the statement at every step, a quarter of a read's
 * CPU in bench/audit. */
static void
test_secret_get_no_reprepare(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	char buf[CRED_PW_MAX + 1];
	unsigned char hash[32];
	int64_t id, ver, seq0, seq;
	int i, before;

	id = add_dev(f->st, "a.corp.example", NULL, NULL);
	(void)add_dev(f->st, "b.corp.example", NULL, NULL);
	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin",
	    CRED_VER_CURRENT, buf, &ver, NULL), CUST_OK);
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin",
	    CRED_VER_PENDING, buf, &ver, NULL), CUST_OK);
	before = reprepares(f->st);
	for (i = 0; i < 4; i++) {
		assert_int_equal(get_pw(f->st, i % 2 ? "a.corp.example" :
		    "b.corp.example", "admin", CRED_VER_CURRENT, buf, &ver,
		    NULL), CUST_OK);
		assert_int_equal(get_pw(f->st, "a.corp.example", "admin",
		    CRED_VER_PENDING, buf, &ver, NULL), CUST_OK);
		assert_int_equal(ver, 2);
	}
	assert_int_equal(reprepares(f->st), before);
	/* The read's own transaction ends on every path, before its audit
	 * entry is appended (committed on its own, or through the group
	 * writer), which is therefore kept. */
	assert_false(store_in_txn(state_store(f->st)));
	assert_int_equal(audit_head(state_audit(f->st), &seq0, hash), CUST_OK);
	assert_int_equal(get_pw(f->st, "b.corp.example", "admin",
	    CRED_VER_CURRENT, buf, &ver, NULL), CUST_OK);
	assert_int_equal(audit_head(state_audit(f->st), &seq, hash), CUST_OK);
	assert_int_equal(seq, seq0 + 1);
	assert_false(store_in_txn(state_store(f->st)));
	assert_int_equal(get_pw(f->st, "b.corp.example", "admin",
	    CRED_VER_PENDING, buf, &ver, NULL), CUST_E_NOTFOUND);
	assert_false(store_in_txn(state_store(f->st)));
	assert_int_equal(get_pw(f->st, "nowhere.corp.example", "admin",
	    CRED_VER_CURRENT, buf, &ver, NULL), CUST_E_NOTFOUND);
	assert_false(store_in_txn(state_store(f->st)));
	/* Inside the caller's transaction, the read joins it. */
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	assert_int_equal(get_pw(f->st, "b.corp.example", "admin",
	    CRED_VER_CURRENT, buf, &ver, NULL), CUST_OK);
	assert_true(store_in_txn(state_store(f->st)));
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
}

/* A device removed (or never there) between selection and rotation is
 * counted in res.missing; the others are rotated. */
static void
test_rotate_missing(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	int64_t ids[3];
	json_t *it;
	size_t i, errors = 0;
	int r;

	ids[0] = add_dev(f->st, "a.corp.example", NULL, NULL);
	ids[1] = add_dev(f->st, "b.corp.example", NULL, NULL);
	ids[2] = ids[1] + 1000;		/* never existed */
	assert_int_equal(cred_device_remove(f->st, ACTOR, "b.corp.example"),
	    CUST_OK);
	r = cred_rotate(f->st, ACTOR, ids, 3, "admin", 16, 0, 1, NULL, NULL,
	    &res);
	assert_int_not_equal(r, CUST_OK);
	assert_int_equal(res.rotated, 1);
	assert_int_equal(res.missing, 2);
	assert_int_equal(res.refused, 0);
	assert_non_null(res.items);
	assert_int_equal(json_array_size(res.items), 3);
	json_array_foreach(res.items, i, it) {
		if (json_object_get(it, "error") != NULL) {
			errors++;
			assert_null(json_object_get(it, "version"));
		} else {
			assert_string_equal(json_string_value(json_object_get(
			    it, "fqdn")), "a.corp.example");
			assert_int_equal(json_integer_value(json_object_get(it,
			    "version")), 2);
		}
	}
	assert_int_equal(errors, 2);
	json_decref(res.items);
	/* The removed device got no new version. */
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM secret WHERE "
	    "state = 'pending'"), 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT MAX(version) FROM secret s "
	    "JOIN device d ON d.id = s.device_id WHERE d.fqdn = "
	    "'b.corp.example'"), 1);
	/* A device named twice is rotated once. */
	ids[1] = ids[0];
	r = cred_rotate(f->st, ACTOR, ids, 2, "mebx", 16, 0, 0, NULL, NULL,
	    &res);
	assert_int_equal(r, CUST_OK);
	assert_int_equal(res.rotated, 1);
}

static size_t progress_calls, progress_last;

static void
progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	progress_calls++;
	progress_last = done;
	assert_true(done <= total);
}

/* kind "all" gives both secrets a new pending version; bad arguments are
 * refused before anything happens. */
static void
test_rotate_all_kinds(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	char buf[CRED_PW_MAX + 1];
	int64_t ids[2], ver;

	ids[0] = add_dev(f->st, "a.corp.example", NULL, NULL);
	ids[1] = add_dev(f->st, "b.corp.example", NULL, NULL);
	progress_calls = progress_last = 0;
	assert_int_equal(cred_rotate(f->st, ACTOR, ids, 2, "all", 12, 0, 0,
	    progress, NULL, &res), CUST_OK);
	assert_int_equal(res.rotated, 4);
	assert_int_equal(progress_calls, 1);
	assert_int_equal(progress_last, 2);
	assert_history(f->st, "a.corp.example",
	    "admin1current admin2pending mebx1current mebx2pending");
	assert_history(f->st, "b.corp.example",
	    "admin1current admin2pending mebx1current mebx2pending");
	assert_int_equal(get_pw(f->st, "b.corp.example", "mebx",
	    CRED_VER_PENDING, buf, &ver, NULL), CUST_OK);
	assert_int_equal(ver, 2);
	assert_int_equal(strlen(buf), 12);
	assert_int_equal(cred_pw_check(buf, strlen(buf)), CUST_OK);
	/* Again: every one of the four refused. */
	assert_int_equal(cred_rotate(f->st, ACTOR, ids, 2, "all", 12, 0, 0,
	    NULL, NULL, &res), CUST_E_CONFLICT);
	assert_int_equal(res.refused, 4);
	assert_int_equal(res.rotated, 0);

	/* Bad kind or length: refused, nothing written. */
	assert_int_equal(cred_rotate(f->st, ACTOR, ids, 2, "bios", 12, 1, 0,
	    NULL, NULL, &res), CUST_E_INVAL);
	assert_int_equal(cred_rotate(f->st, ACTOR, ids, 2, "all", 7, 1, 0,
	    NULL, NULL, &res), CUST_E_INVAL);
	assert_int_equal(cred_rotate(f->st, ACTOR, ids, 2, "all", 33, 1, 0,
	    NULL, NULL, &res), CUST_E_INVAL);
	assert_int_equal(tu_sql_int(f->st, "SELECT MAX(version) FROM secret"), 2);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM secret WHERE "
	    "state = 'failed'"), 0);
}

static int
has_id(const int64_t *ids, size_t n, int64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

static void
test_select(void **state)
{
	struct tu_fx *f = *state;
	const char *names[2];
	int64_t a, b, c, *ids = NULL;
	size_t n = 99;

	a = add_dev(f->st, "a.corp.example", "lab", NULL);
	b = add_dev(f->st, "b.corp.example", "lab", NULL);
	c = add_dev(f->st, "c.corp.example", "east", NULL);

	assert_int_equal(cred_select(f->st, NULL, 0, "lab", 0, &ids, &n),
	    CUST_OK);
	assert_int_equal(n, 2);
	assert_true(has_id(ids, n, a) && has_id(ids, n, b));
	free(ids);
	assert_int_equal(cred_select(f->st, NULL, 0, NULL, 1, &ids, &n),
	    CUST_OK);
	assert_int_equal(n, 3);
	assert_true(has_id(ids, n, a) && has_id(ids, n, b) &&
	    has_id(ids, n, c));
	free(ids);
	names[0] = "C.corp.example";
	names[1] = "a.corp.example";
	assert_int_equal(cred_select(f->st, names, 2, NULL, 0, &ids, &n),
	    CUST_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], c);
	assert_int_equal(ids[1], a);
	free(ids);

	/* An unknown FQDN fails the whole selection. */
	ids = (int64_t *)&n;
	names[1] = "zz.corp.example";
	assert_int_equal(cred_select(f->st, names, 2, NULL, 0, &ids, &n),
	    CUST_E_NOTFOUND);
	assert_null(ids);
	assert_int_equal(n, 0);
	/* Nothing selected at all. */
	assert_int_equal(cred_select(f->st, NULL, 0, NULL, 0, &ids, &n),
	    CUST_E_INVAL);

	/* Removed devices leave the tag and "all". */
	assert_int_equal(cred_device_remove(f->st, ACTOR, "B.Corp.Example"),
	    CUST_OK);
	assert_int_equal(cred_select(f->st, NULL, 0, "lab", 0, &ids, &n),
	    CUST_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], a);
	free(ids);
	assert_int_equal(cred_select(f->st, NULL, 0, NULL, 1, &ids, &n),
	    CUST_OK);
	assert_int_equal(n, 2);
	assert_false(has_id(ids, n, b));
	free(ids);
	names[0] = "b.corp.example";
	assert_int_equal(cred_select(f->st, names, 1, NULL, 0, &ids, &n),
	    CUST_E_NOTFOUND);
}

/* verify: a healthy state is OK; a damaged sealed value and a device that
 * lost its current version are each reported. */
static void
test_verify(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	json_t *out = NULL, *p;
	int64_t a;
	char sql[256];

	a = add_dev(f->st, "a.corp.example", NULL, NULL);
	add_dev(f->st, "b.corp.example", NULL, "Adm1n!pass");
	assert_int_equal(rotate(f->st, a, "admin", 0, &res), CUST_OK);
	assert_int_equal(cred_verify(f->st, ACTOR, &out), CUST_OK);
	assert_non_null(out);
	assert_int_equal(json_integer_value(json_object_get(out, "devices")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(out, "secrets")),
	    5);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "unreadable")), 0);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "no_current")), 0);
	assert_int_equal(json_array_size(json_object_get(out, "problems")), 0);
	json_decref(out);

	/* A pushed version (sent, outcome unknown) may be on the device: it
	 * is opened too, and a damaged one is a problem. */
	tu_sql_mac(f->st, "UPDATE secret SET state = 'pushed' WHERE state = "
	    "'pending'");
	out = NULL;
	assert_int_equal(cred_verify(f->st, ACTOR, &out), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(out, "secrets")),
	    5);
	json_decref(out);
	tu_sql_mac(f->st, "UPDATE secret SET sealed = zeroblob(64) WHERE "
	    "state = 'pushed'");
	out = NULL;
	assert_int_equal(cred_verify(f->st, ACTOR, &out), CUST_E_VIOLATION);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "unreadable")), 1);
	json_decref(out);
	tu_sql_mac(f->st, "DELETE FROM secret WHERE state = 'pushed'");

	snprintf(sql, sizeof(sql), "UPDATE secret SET sealed = zeroblob(64) "
	    "WHERE device_id = %lld AND kind = 'mebx' AND version = 1",
	    (long long)a);
	tu_sql(f->st, sql);
	out = NULL;
	assert_int_equal(cred_verify(f->st, ACTOR, &out), CUST_E_VIOLATION);
	assert_non_null(out);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "unreadable")), 1);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "no_current")), 0);
	assert_int_equal(json_array_size(json_object_get(out, "problems")), 1);
	p = json_array_get(json_object_get(out, "problems"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "fqdn")),
	    "a.corp.example");
	assert_string_equal(json_string_value(json_object_get(p, "kind")),
	    "mebx");
	assert_int_equal(json_integer_value(json_object_get(p, "version")), 1);
	json_decref(out);

	/* The damaged value cannot be read either. */
	{
		char buf[CRED_PW_MAX + 1];

		assert_unseal_fails(get_pw(f->st, "a.corp.example", "mebx",
		    CRED_VER_CURRENT, buf, NULL, NULL));
	}

	/* b loses its current admin version. */
	tu_sql(f->st, "UPDATE secret SET state = 'retired' WHERE kind = "
	    "'admin' AND device_id = (SELECT id FROM device WHERE fqdn = "
	    "'b.corp.example')");
	out = NULL;
	assert_int_equal(cred_verify(f->st, ACTOR, &out), CUST_E_VIOLATION);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "unreadable")), 1);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "no_current")), 1);
	assert_int_equal(json_array_size(json_object_get(out, "problems")), 2);
	json_decref(out);
}

/* Sealed values are bound to (device, kind, version): blobs moved between
 * rows do not unseal, so a swap never serves another row's password. */
static void
test_sealed_bound_to_row(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	char pa[CRED_PW_MAX + 1], pb[CRED_PW_MAX + 1], buf[CRED_PW_MAX + 1];
	char pending[CRED_PW_MAX + 1], sql[512];
	json_t *out = NULL;
	int64_t a, b;
	int r;

	a = add_dev(f->st, "a.corp.example", NULL, NULL);
	b = add_dev(f->st, "b.corp.example", NULL, NULL);
	assert_int_equal(get_pw(f->st, "a.corp.example", "admin",
	    CRED_VER_CURRENT, pa, NULL, NULL), CUST_OK);
	assert_int_equal(get_pw(f->st, "b.corp.example", "admin",
	    CRED_VER_CURRENT, pb, NULL, NULL), CUST_OK);
	assert_string_not_equal(pa, pb);

	snprintf(sql, sizeof(sql),
	    "CREATE TEMP TABLE sw AS SELECT device_id, sealed FROM secret "
	    "WHERE kind = 'admin' AND version = 1 AND device_id IN (%lld, %lld);"
	    "UPDATE secret SET sealed = (SELECT sw.sealed FROM sw WHERE "
	    "sw.device_id <> secret.device_id) WHERE kind = 'admin' AND "
	    "version = 1 AND device_id IN (%lld, %lld);",
	    (long long)a, (long long)b, (long long)a, (long long)b);
	tu_sql(f->st, sql);
	/* The swap did happen. */
	snprintf(sql, sizeof(sql), "SELECT (SELECT sealed FROM secret WHERE "
	    "device_id = %lld AND kind = 'admin' AND version = 1) = (SELECT "
	    "sealed FROM temp.sw WHERE device_id = %lld)", (long long)a,
	    (long long)b);
	assert_int_equal(tu_sql_int(f->st, sql), 1);
	tu_sql(f->st, "DROP TABLE temp.sw");

	r = get_pw(f->st, "a.corp.example", "admin", CRED_VER_CURRENT, buf,
	    NULL, NULL);
	if (r == CUST_OK)
		fail_msg("swapped blob unsealed (%s)", strcmp(buf, pb) == 0 ?
		    "it served the other device's password" : "?");
	assert_unseal_fails(r);
	r = get_pw(f->st, "b.corp.example", "admin", CRED_VER_CURRENT, buf,
	    NULL, NULL);
	assert_unseal_fails(r);
	/* The message names the row, never a value. */
	assert_null(strstr(cust_errmsg(), pa));
	assert_null(strstr(cust_errmsg(), pb));
	assert_int_equal(cred_verify(f->st, ACTOR, &out), CUST_E_VIOLATION);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "unreadable")), 2);
	json_decref(out);
	/* mebx rows untouched. */
	assert_int_equal(get_pw(f->st, "a.corp.example", "mebx",
	    CRED_VER_CURRENT, buf, NULL, NULL), CUST_OK);

	/* Within one device: version 1 moved onto version 2 (same kind). */
	assert_int_equal(rotate(f->st, a, "mebx", 0, &res), CUST_OK);
	assert_int_equal(get_pw(f->st, "a.corp.example", "mebx",
	    CRED_VER_PENDING, pending, NULL, NULL), CUST_OK);
	snprintf(sql, sizeof(sql), "UPDATE secret SET sealed = (SELECT sealed "
	    "FROM secret WHERE device_id = %lld AND kind = 'mebx' AND "
	    "version = 1) WHERE device_id = %lld AND kind = 'mebx' AND "
	    "version = 2", (long long)a, (long long)a);
	tu_sql(f->st, sql);
	assert_unseal_fails(get_pw(f->st, "a.corp.example", "mebx",
	    CRED_VER_PENDING, buf, NULL, NULL));
	/* And across kinds: the admin blob of b on its mebx row. */
	snprintf(sql, sizeof(sql), "UPDATE secret SET sealed = (SELECT sealed "
	    "FROM secret WHERE device_id = %lld AND kind = 'admin' AND "
	    "version = 1) WHERE device_id = %lld AND kind = 'mebx' AND "
	    "version = 1", (long long)a, (long long)b);
	tu_sql(f->st, sql);
	assert_unseal_fails(get_pw(f->st, "b.corp.example", "mebx",
	    CRED_VER_CURRENT, buf, NULL, NULL));
}

struct audit_scan {
	size_t entries;
	size_t upper;		/* objects with an uppercase letter */
	size_t shows;		/* password.show of h1.corp.example */
	size_t confirms;	/* password.confirm of h1.corp.example */
	char bad[256];
};

static int
scan_entry(void *arg, const struct audit_entry *e)
{
	struct audit_scan *a = arg;
	const char *p;

	a->entries++;
	for (p = e->object; *p; p++)
		if (isupper((unsigned char)*p)) {
			a->upper++;
			snprintf(a->bad, sizeof(a->bad), "%s %s", e->action,
			    e->object);
			break;
		}
	if (strcmp(e->object, "h1.corp.example") == 0) {
		if (strcmp(e->action, "password.show") == 0)
			a->shows++;
		if (strcmp(e->action, "password.confirm") == 0)
			a->confirms++;
	}
	return 0;
}

/* Audit objects are the normalised FQDN whatever case the caller typed. */
static void
test_audit_object_normalised(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	struct audit_scan scan = { 0 };
	char buf[CRED_PW_MAX + 1];
	int64_t id;

	id = add_dev(f->st, "H1.Corp.EXAMPLE", NULL, NULL);
	add_dev(f->st, "H2.corp.example", NULL, NULL);
	assert_int_equal(get_pw(f->st, "H1.CORP.example", "admin",
	    CRED_VER_CURRENT, buf, NULL, NULL), CUST_OK);
	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	assert_int_equal(cred_confirm(f->st, ACTOR, "h1.CORP.example", "admin",
	    1), CUST_E_CONFLICT);		/* refused: audited too */
	assert_int_equal(cred_confirm(f->st, ACTOR, "H1.corp.example", "admin",
	    2), CUST_OK);
	assert_int_equal(get_pw(f->st, "h1.corp.EXAMPLE", "admin", 1, buf,
	    NULL, NULL), CUST_OK);
	assert_int_equal(cred_device_remove(f->st, ACTOR, "H2.CORP.EXAMPLE"),
	    CUST_OK);
	assert_int_equal(audit_list(state_audit(f->st), 0, 0, NULL, scan_entry,
	    &scan), CUST_OK);
	assert_true(scan.entries >= 8);
	if (scan.upper != 0)
		fail_msg("%zu audit objects not normalised (last: %s)",
		    scan.upper, scan.bad);
	assert_int_equal(scan.shows, 2);
	assert_int_equal(scan.confirms, 2);
	/* audit list --object finds them under the normalised name. */
	memset(&scan, 0, sizeof(scan));
	assert_int_equal(audit_list(state_audit(f->st), 0, 0, "h2.corp.example",
	    scan_entry, &scan), CUST_OK);
	assert_int_equal(scan.entries, 2);	/* add, remove */
}

/* The push protocol's states: pending -> pushed (committed before the
 * send), then current when the device takes it, failed when it refused
 * it; a pushed version is never replaced by a rotation, is counted as in
 * flight, is listed for reconciliation, and a push of unknown outcome is
 * begun again on the same version. */
static void
test_push_states(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	struct cred_counts c;
	json_t *items = NULL;
	int64_t id, ver = 0, id2;

	id = add_dev(f->st, "p1.corp.example", NULL, NULL);
	id2 = add_dev(f->st, "p2.corp.example", NULL, NULL);
	assert_int_equal(cred_push_begin(f->st, ACTOR, "p1.corp.example",
	    "admin", &ver), CUST_E_NOTFOUND);
	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	assert_int_equal(cred_push_begin(f->st, ACTOR, "P1.corp.example",
	    "admin", &ver), CUST_OK);
	assert_int_equal(ver, 2);
	assert_history(f->st, "p1.corp.example",
	    "admin1current admin2pushed mebx1current");
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.pending_secrets, 1);
	/* Never replaced while its outcome is unknown. */
	assert_int_equal(rotate(f->st, id, "admin", 1, &res), CUST_E_CONFLICT);
	assert_history(f->st, "p1.corp.example",
	    "admin1current admin2pushed mebx1current");
	/* Listed for reconciliation, paged by (device, kind). */
	assert_int_equal(rotate(f->st, id2, "mebx", 0, &res), CUST_OK);
	ver = 0;
	assert_int_equal(cred_push_begin(f->st, ACTOR, "p2.corp.example",
	    "mebx", &ver), CUST_OK);
	assert_int_equal(cred_push_list(f->st, 0, NULL, 1, &items), CUST_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    items, 0), "fqdn")), "p1.corp.example");
	json_decref(items);
	assert_int_equal(cred_push_list(f->st, id, "admin", 10, &items),
	    CUST_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    items, 0), "kind")), "mebx");
	json_decref(items);
	/* Outcome unknown: begun again on the same version. */
	assert_int_equal(cred_push_begin(f->st, ACTOR, "p1.corp.example",
	    "admin", &ver), CUST_OK);
	assert_int_equal(ver, 2);
	/* Applied: current, v1 retired, no longer listed. */
	assert_int_equal(cred_push_end(f->st, ACTOR, "p1.corp.example",
	    "admin", 2, CRED_PUSH_APPLIED, "verified by a digest login"),
	    CUST_OK);
	assert_history(f->st, "p1.corp.example",
	    "admin1retired admin2current mebx1current");
	assert_int_equal(cred_push_list(f->st, 0, NULL, 10, &items), CUST_OK);
	assert_int_equal(json_array_size(items), 1);
	json_decref(items);
	/* Refused: failed (kept), the current stays; settled once only. */
	assert_int_equal(rotate(f->st, id, "admin", 0, &res), CUST_OK);
	/* The caller read v3's value, then --replace-pending made v4: v3
	 * must not be sent as v4 (the device would hold a password custody
	 * has marked failed), and v4 stays pending. */
	assert_int_equal(rotate(f->st, id, "admin", 1, &res), CUST_OK);
	ver = 3;
	assert_int_equal(cred_push_begin(f->st, ACTOR, "p1.corp.example",
	    "admin", &ver), CUST_E_CONFLICT);
	assert_history(f->st, "p1.corp.example",
	    "admin1retired admin2current admin3failed admin4pending "
	    "mebx1current");
	ver = 0;
	assert_int_equal(cred_push_begin(f->st, ACTOR, "p1.corp.example",
	    "admin", &ver), CUST_OK);
	assert_int_equal(ver, 4);
	assert_int_equal(cred_push_end(f->st, ACTOR, "p1.corp.example",
	    "admin", 4, CRED_PUSH_REFUSED, "PT_STATUS 2054 invalid password"),
	    CUST_OK);
	assert_history(f->st, "p1.corp.example",
	    "admin1retired admin2current admin3failed admin4failed "
	    "mebx1current");
	assert_int_equal(cred_push_end(f->st, ACTOR, "p1.corp.example",
	    "admin", 4, CRED_PUSH_REFUSED, NULL), CUST_E_CONFLICT);
	/* A console may confirm a pushed version like a pending one. */
	assert_int_equal(cred_confirm(f->st, ACTOR, "p2.corp.example", "mebx",
	    2), CUST_OK);
	assert_history(f->st, "p2.corp.example",
	    "admin1current mebx1retired mebx2current");
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.pending_secrets, 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'password.push'"), 6);
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'password.push' AND result = 'failed' AND detail LIKE "
	    "'%2054%'"), 1);
}

static int
fail_extra(void *arg)
{
	(void)arg;
	return cust_fail(CUST_E_DB, "the caller's write failed");
}

/* Group commit: the steps of several devices in one transaction, one
 * refused on its own without the others; any other error rolls the whole
 * group back. */
static void
test_push_group(void **state)
{
	struct tu_fx *f = *state;
	struct cred_rotate_result res;
	struct cred_push_op ops[4];
	int64_t a, b;

	a = add_dev(f->st, "g1.corp.example", NULL, NULL);
	b = add_dev(f->st, "g2.corp.example", NULL, NULL);
	(void)add_dev(f->st, "g3.corp.example", NULL, NULL);
	assert_int_equal(rotate(f->st, a, "admin", 0, &res), CUST_OK);
	assert_int_equal(rotate(f->st, b, "admin", 0, &res), CUST_OK);
	memset(ops, 0, sizeof(ops));
	ops[0] = (struct cred_push_op){ .fqdn = "g1.corp.example",
	    .kind = "admin" };
	ops[1] = (struct cred_push_op){ .fqdn = "g3.corp.example",
	    .kind = "admin" };		/* nothing in flight */
	ops[2] = (struct cred_push_op){ .fqdn = "g2.corp.example",
	    .kind = "admin" };
	/* A failing extra write: nothing of the group is committed. */
	assert_int_equal(cred_push_group(f->st, ACTOR, ops, 3, fail_extra,
	    NULL), CUST_E_DB);
	assert_history(f->st, "g1.corp.example", "admin1current admin2pending "
	    "mebx1current");
	assert_int_equal(ops[0].version, 0);
	assert_int_equal(cred_push_group(f->st, ACTOR, ops, 3, NULL, NULL),
	    CUST_OK);
	assert_int_equal(ops[0].r, CUST_OK);
	assert_int_equal(ops[0].version, 2);
	assert_int_equal(ops[1].r, CUST_E_NOTFOUND);
	assert_non_null(strstr(ops[1].msg, "g3.corp.example"));
	assert_int_equal(ops[2].r, CUST_OK);
	assert_history(f->st, "g1.corp.example", "admin1current admin2pushed "
	    "mebx1current");
	/* Ends: applied, refused, and one settled already. */
	memset(ops, 0, sizeof(ops));
	ops[0] = (struct cred_push_op){ .fqdn = "g1.corp.example",
	    .kind = "admin", .end = 1, .how = CRED_PUSH_APPLIED, .why = "proven",
	    .version = 2 };
	ops[1] = (struct cred_push_op){ .fqdn = "g2.corp.example",
	    .kind = "admin", .end = 1, .how = CRED_PUSH_REFUSED, .why = "2054",
	    .version = 2 };
	ops[2] = ops[0];
	assert_int_equal(cred_push_group(f->st, ACTOR, ops, 3, NULL, NULL),
	    CUST_OK);
	assert_int_equal(ops[0].r, CUST_OK);
	assert_int_equal(ops[1].r, CUST_OK);
	assert_int_equal(ops[2].r, CUST_E_CONFLICT);
	assert_history(f->st, "g1.corp.example", "admin1retired admin2current "
	    "mebx1current");
	assert_history(f->st, "g2.corp.example", "admin1current admin2failed "
	    "mebx1current");
	assert_int_equal(tu_sql_int(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'password.push' AND result = 'refused'"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_numbering, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_confirm, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_push_states, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_push_group, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_confirm_failed, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_secret_get, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_secret_get_no_reprepare,
		    tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_missing, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_all_kinds, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_select, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_sealed_bound_to_row, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_object_normalised,
		    tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
