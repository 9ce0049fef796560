/* SPDX-License-Identifier: MIT */
/* tests/unit/cred/test_import.c - device import from CSV and JSON on a real
 * state: good imports keep adopted passwords and tags; every bad, hostile
 * or malformed input is refused whole, with its line (CSV) or entry (JSON)
 * number, its error class, and no password text in the message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cred.h"
#include "cred/cred_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define ACTOR "tester"


static long long
devices(struct cust_state *st)
{
	return tu_sql_int(st, "SELECT COUNT(*) FROM device");
}

/* Rows of every table an import writes, as one number to compare. */
static long long
footprint(struct cust_state *st)
{
	return tu_sql_int(st, "SELECT (SELECT COUNT(*) FROM device) * 1000000 + "
	    "(SELECT COUNT(*) FROM secret) * 1000 + (SELECT COUNT(*) FROM "
	    "device_tag)");
}

static int
import(struct tu_fx *f, const char *text, size_t *count)
{
	*count = 12345;
	return cred_device_import(f->st, ACTOR, text, strlen(text), 16, count);
}

static void
pw_is(struct cust_state *st, const char *fqdn, const char *kind,
    const char *want)
{
	struct seal_secret *pw = NULL;
	int64_t v;
	const char *state;

	if (cred_secret_get(st, ACTOR, fqdn, kind, CRED_VER_CURRENT, &pw, &v,
	    &state) != CUST_OK)
		fail_msg("%s %s: %s", fqdn, kind, cust_errmsg());
	assert_int_equal(v, 1);
	assert_string_equal(state, "current");
	if (want != NULL) {
		assert_string_equal(seal_secret_str(pw), want);
	} else {	/* generated: 16 characters by the rules */
		assert_int_equal(seal_secret_len(pw), 16);
		assert_int_equal(cred_pw_check(seal_secret_str(pw), 16),
		    CUST_OK);
	}
	seal_secret_free(pw);
}

/* Tags of a device as "a,b,c" (sorted by the store). */
static void
tags_are(struct cust_state *st, const char *fqdn, const char *want)
{
	json_t *d = NULL, *t;
	char buf[256] = "";
	size_t i, used = 0;

	if (cred_device_get(st, fqdn, &d) != CUST_OK)
		fail_msg("device %s: %s", fqdn, cust_errmsg());
	json_array_foreach(json_object_get(d, "tags"), i, t) {
		int n = snprintf(buf + used, sizeof(buf) - used, "%s%s",
		    i ? "," : "", json_string_value(t));

		assert_true(n > 0 && (size_t)n < sizeof(buf) - used);
		used += (size_t)n;
	}
	json_decref(d);
	if (strcmp(buf, want) != 0)
		fail_msg("tags of %s: '%s', want '%s'", fqdn, buf, want);
}

/*
 * Expect the import of text to fail with code want (0: any input error,
 * exit 2), change nothing, and say msg (a substring) without ever quoting
 * secret (when not NULL) or jansson's "near '...'" token.
 */
static void
refused(struct tu_fx *f, const char *name, const char *text, int want,
    const char *msg, const char *secret)
{
	long long before = footprint(f->st);
	size_t count;
	int r = import(f, text, &count);

	if (r == CUST_OK)
		fail_msg("%s: imported (%zu devices)", name, count);
	if (want != 0 && r != want)
		fail_msg("%s: error %d (%s), want %d", name, r, cust_errmsg(),
		    want);
	if (want == 0 && cust_exit_code(r) != CUST_EXIT_USAGE)
		fail_msg("%s: error %d, exit %d (%s), want exit 2", name, r,
		    cust_exit_code(r), cust_errmsg());
	if (count != 0)
		fail_msg("%s: count %zu after a refused import", name, count);
	if (msg != NULL && strstr(cust_errmsg(), msg) == NULL)
		fail_msg("%s: message '%s' does not say '%s'", name,
		    cust_errmsg(), msg);
	if (secret != NULL && strstr(cust_errmsg(), secret) != NULL)
		fail_msg("%s: message leaks the password: %s", name,
		    cust_errmsg());
	if (strstr(cust_errmsg(), "near '") != NULL)
		fail_msg("%s: message quotes the input: %s", name,
		    cust_errmsg());
	if (footprint(f->st) != before)
		fail_msg("%s: the refused import left rows behind", name);
	if (store_in_txn(state_store(f->st)))
		fail_msg("%s: a transaction was left open", name);
}

static void
test_csv_good(void **state)
{
	struct tu_fx *f = *state;
	size_t count;
	int r;

	r = import(f, "fqdn,uuid,digest_realm,tags,admin_password,"
	    "mebx_password\n"
	    "A1.Corp.Example,,,\"a;b c\",Adm1n!pass,\n"
	    "\"a2.corp.example\",11111111-2222-3333-4444-555555555555,"
	    "Digest:A4070000000000000000000000000000,west,,M3bx#pass\r\n"
	    "\n"
	    "a3.corp.example,,,,\"Sp@ce Pw1\",\"B@ck\\sl4sh\"\n", &count);
	if (r != CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	assert_int_equal(count, 3);
	assert_int_equal(devices(f->st), 3);
	pw_is(f->st, "a1.corp.example", "admin", "Adm1n!pass");
	pw_is(f->st, "a1.corp.example", "mebx", NULL);
	pw_is(f->st, "a2.corp.example", "admin", NULL);
	pw_is(f->st, "a2.corp.example", "mebx", "M3bx#pass");
	pw_is(f->st, "a3.corp.example", "admin", "Sp@ce Pw1");
	pw_is(f->st, "a3.corp.example", "mebx", "B@ck\\sl4sh");
	tags_are(f->st, "a1.corp.example", "a,b,c");
	tags_are(f->st, "a2.corp.example", "west");
	tags_are(f->st, "a3.corp.example", "");
	/* Stored lowercase, with its UUID and realm. */
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device WHERE "
	    "fqdn = 'a1.corp.example'"), 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device WHERE "
	    "uuid = '11111111-2222-3333-4444-555555555555' AND digest_realm "
	    "= 'Digest:A4070000000000000000000000000000'"), 1);
	/* Columns in any order, fqdn only. */
	r = import(f, "tags, fqdn\nx y,b1.corp.example\n", &count);
	if (r != CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	assert_int_equal(count, 1);
	tags_are(f->st, "b1.corp.example", "x,y");
	pw_is(f->st, "b1.corp.example", "admin", NULL);
}

static void
test_json_good(void **state)
{
	struct tu_fx *f = *state;
	size_t count;
	int r;

	r = import(f, "  [{\"fqdn\": \"J1.corp.example\", \"tags\": [\"json\","
	    " \"x\"], \"admin_password\": \"Adm1n!pass\"},\n"
	    " {\"fqdn\": \"j2.corp.example\", \"tags\": \"a;b c\", \"uuid\": "
	    "null, \"mebx_password\": \"M3bx#p\\u0041ss\"},\n"
	    " {\"fqdn\": \"j3.corp.example\", \"admin_password\": "
	    "\"B@ck\\\\sl4sh\"}]", &count);
	if (r != CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	assert_int_equal(count, 3);
	assert_int_equal(devices(f->st), 3);
	pw_is(f->st, "j1.corp.example", "admin", "Adm1n!pass");
	pw_is(f->st, "j1.corp.example", "mebx", NULL);
	pw_is(f->st, "j2.corp.example", "mebx", "M3bx#pAss");
	pw_is(f->st, "j2.corp.example", "admin", NULL);
	pw_is(f->st, "j3.corp.example", "admin", "B@ck\\sl4sh");
	tags_are(f->st, "j1.corp.example", "json,x");
	tags_are(f->st, "j2.corp.example", "a,b,c");
	tags_are(f->st, "j3.corp.example", "");
}

/* Each malformed or hostile JSON document: refused, nothing imported. A
 * good first entry makes "nothing" mean a rollback. */
#define GOOD "{\"fqdn\": \"ok1.corp.example\", \"admin_password\": " \
	"\"Adm1n!pass\"}"
#define GOOD2 "{\"fqdn\": \"ok2.corp.example\", \"tags\": [\"lab\"]}"

static void
test_json_refused(void **state)
{
	struct tu_fx *f = *state;
	size_t count;

	/* Something already there, to see it stays. */
	assert_int_equal(import(f, "[{\"fqdn\": \"pre.corp.example\"}]",
	    &count), CUST_OK);
	assert_int_equal(devices(f->st), 1);

	refused(f, "object root", "{\"fqdn\": \"x.corp.example\"}", 0, NULL,
	    NULL);
	refused(f, "non-object entry", "[" GOOD ", \"y.corp.example\"]", 0,
	    "entry 2:", NULL);
	refused(f, "number entry", "[" GOOD ", 5]", 0, "entry 2:", NULL);
	refused(f, "non-string tag", "[" GOOD ", {\"fqdn\": \"y.corp.example\","
	    " \"tags\": [\"lab\", 5]}]", 0, "entry 2:", NULL);
	refused(f, "object tag", "[" GOOD ", {\"fqdn\": \"y.corp.example\","
	    " \"tags\": [{\"a\": \"b\"}]}]", 0, "entry 2:", NULL);
	refused(f, "unknown key", "[" GOOD ", " GOOD2 ", {\"fqdn\": "
	    "\"y.corp.example\", \"colour\": \"red\"}]", 0, "entry 3:", NULL);
	refused(f, "unknown key by position", "[{\"fqdn\": \"y.corp.example\", "
	    "\"colour\": \"red\"}]", 0, "entry 1: key 2 is not known", NULL);
	/* Values in the wrong keys: named by key, never quoted. */
	refused(f, "password in the fqdn key", "[{\"fqdn\": \"Sw4p!Secret#Pw\", "
	    "\"admin_password\": \"y.corp.example\"}]", 0,
	    "entry 1: fqdn: not a valid FQDN", "Sw4p!Secret#Pw");
	refused(f, "password in the uuid key", "[{\"fqdn\": \"y.corp.example\", "
	    "\"uuid\": \"Sw4p!Secret#Pw\"}]", 0, "entry 1: uuid:",
	    "Sw4p!Secret#Pw");
	refused(f, "password in the tags key", "[{\"fqdn\": \"y.corp.example\", "
	    "\"tags\": [\"Sw4p!Secret#Pw\"]}]", 0, "entry 1: tags:",
	    "Sw4p!Secret#Pw");
	refused(f, "duplicate keys", "[" GOOD ", {\"fqdn\": \"y.corp.example\","
	    " \"fqdn\": \"z.corp.example\"}]", 0, NULL, NULL);
	refused(f, "duplicate password keys", "[{\"fqdn\": \"y.corp.example\","
	    " \"admin_password\": \"Adm1n!pass\", \"admin_password\": "
	    "\"Zecr3t!Dup\"}]", 0, NULL, "Zecr3t!Dup");
	refused(f, "nested object value", "[" GOOD ", {\"fqdn\": {\"name\": "
	    "\"y.corp.example\"}}]", 0, "entry 2:", NULL);
	refused(f, "nested array value", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"uuid\": [\"a\"]}]", 0, "entry 2:", NULL);
	refused(f, "numeric password", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"admin_password\": 31415926}]", 0,
	    "entry 2:", "31415926");
	refused(f, "boolean password", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"mebx_password\": true}]", 0, "entry 2:",
	    NULL);
	refused(f, "invalid escape in a password", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"admin_password\": \"Sup3rS3cr3t!\\q\"}]", 0,
	    NULL, "S3cr3t");
	refused(f, "invalid unicode escape in a password", "[" GOOD ", {"
	    "\"fqdn\": \"y.corp.example\", \"admin_password\": "
	    "\"Sup3rS3cr3t!\\uZZZZ\"}]", 0, NULL, "S3cr3t");
	refused(f, "control character in a password", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"admin_password\": \"Sup3rS3cr3t\x01!\"}]", 0,
	    NULL, "S3cr3t");
	refused(f, "newline in a password string", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"admin_password\": \"Sup3rS3cr3t\n!\"}]", 0,
	    NULL, "S3cr3t");
	refused(f, "invalid UTF-8 in a password", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"admin_password\": \"Sup3rS3cr3t\xff!\"}]", 0,
	    NULL, "S3cr3t");
	refused(f, "truncated document", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\"", 0, NULL, NULL);
	refused(f, "truncated inside a password", "[" GOOD ", {\"fqdn\": "
	    "\"y.corp.example\", \"admin_password\": \"Sup3rS3cr3t", 0, NULL,
	    "S3cr3t");
	refused(f, "text after the document", "[" GOOD "] Sup3rS3cr3t!", 0,
	    NULL, "S3cr3t");
	refused(f, "weak password", "[" GOOD ", {\"fqdn\": \"y.corp.example\","
	    " \"admin_password\": \"weakling\"}]", 0, "entry 2:", "weakling");
	refused(f, "bad FQDN", "[" GOOD ", {\"fqdn\": \"bad_name.example\"}]",
	    0, "entry 2:", NULL);
	refused(f, "missing fqdn", "[" GOOD ", {\"tags\": \"lab\"}]", 0,
	    "entry 2:", NULL);
	refused(f, "bad tag", "[" GOOD ", {\"fqdn\": \"y.corp.example\", "
	    "\"tags\": [\"no/slash\"]}]", 0, "entry 2:", NULL);
	refused(f, "empty array", "[]", 0, NULL, NULL);
	refused(f, "duplicate FQDN in the document", "[" GOOD ", {\"fqdn\": "
	    "\"OK1.corp.example\"}]", CUST_E_EXISTS, "entry 2:", NULL);
	refused(f, "FQDN already registered", "[" GOOD ", {\"fqdn\": "
	    "\"Pre.Corp.Example\"}]", CUST_E_EXISTS, "entry 2:", NULL);
	assert_int_equal(devices(f->st), 1);
	/* And the store still takes a good import afterwards. */
	assert_int_equal(import(f, "[" GOOD "]", &count), CUST_OK);
	assert_int_equal(count, 1);
	pw_is(f->st, "ok1.corp.example", "admin", "Adm1n!pass");
}

static void
test_csv_refused(void **state)
{
	struct tu_fx *f = *state;
	size_t count;

	assert_int_equal(import(f, "fqdn\npre.corp.example\n", &count),
	    CUST_OK);
	assert_int_equal(count, 1);

	refused(f, "unknown column", "fqdn,colour\nx.corp.example,red\n", 0,
	    "line 1:", NULL);
	refused(f, "unknown column by position",
	    "fqdn,colour\nx.corp.example,red\n", 0, "line 1: field 2 is not "
	    "a column name", NULL);
	/* The cases: a missing header or mixed-up columns put
	 * passwords where names are expected; no message quotes them. */
	refused(f, "missing header", "Sw4p!Secret#Pw,x.corp.example\n", 0,
	    "line 1: field 1 is not a column name", "Sw4p!Secret#Pw");
	refused(f, "missing header, name first",
	    "x.corp.example,Sw4p!Secret#Pw\n", 0, "line 1: field 1",
	    "Sw4p!Secret#Pw");
	refused(f, "mixed-up columns", "admin_password,fqdn\n"
	    "x.corp.example,Sw4p!Secret#Pw\n", 0,
	    "line 2: fqdn (field 2): not a valid FQDN", "Sw4p!Secret#Pw");
	refused(f, "password under uuid", "fqdn,uuid,admin_password\n"
	    "x.corp.example,Sw4p!Secret#Pw,\n", 0, "line 2: uuid (field 2)",
	    "Sw4p!Secret#Pw");
	refused(f, "password under digest_realm", "fqdn,digest_realm\n"
	    "x.corp.example,Sw4p!Secret#Pw\n", 0,
	    "line 2: digest_realm (field 2)", "Sw4p!Secret#Pw");
	refused(f, "password under tags", "fqdn,tags,mebx_password\n"
	    "x.corp.example,Sw4p!Secret#Pw,\n", 0, "line 2: tags (field 2)",
	    "Sw4p!Secret#Pw");
	refused(f, "a name that is a password", "fqdn\nSw4p-Secret.Pw\n"
	    "Sw4p-Secret.Pw\n", CUST_E_EXISTS, "line 3: fqdn (field 1)",
	    "Sw4p-Secret");
	refused(f, "duplicate column", "fqdn,tags,fqdn\nx.corp.example,a,"
	    "y.corp.example\n", 0, "line 1:", NULL);
	refused(f, "no fqdn column", "uuid,tags\n,lab\n", 0, "line 1:", NULL);
	refused(f, "too many fields", "fqdn,tags\nx.corp.example,a\n"
	    "y.corp.example,b,extra\n", 0, "line 3:", NULL);
	refused(f, "too few fields", "fqdn,tags,uuid\nx.corp.example,a,\n"
	    "y.corp.example\n", 0, "line 3:", NULL);
	refused(f, "bad password", "fqdn,admin_password\n"
	    "b1.corp.example,Adm1n!pass\nb2.corp.example,weakling\n"
	    "b3.corp.example,\n", 0, "line 3:", "weakling");
	refused(f, "forbidden character in a password", "fqdn,mebx_password\n"
	    "b1.corp.example,\"Sup3r:S3cr3t!\"\n", 0, "line 2:", "S3cr3t");
	refused(f, "password too long", "fqdn,admin_password\n"
	    "b1.corp.example,Sup3rS3cr3t!Sup3rS3cr3t!Sup3rS3cr3t!\n", 0,
	    "line 2:", "S3cr3t");
	refused(f, "bad FQDN", "fqdn\nb1.corp.example\nbad_name.example\n", 0,
	    "line 3:", NULL);
	refused(f, "empty FQDN", "fqdn,tags\nb1.corp.example,\n,lab\n", 0,
	    "line 3:", NULL);
	refused(f, "bad UUID", "fqdn,uuid\nb1.corp.example,nope\n", 0,
	    "line 2:", NULL);
	refused(f, "bad tag", "fqdn,tags\nb1.corp.example,\"ok;no/slash\"\n",
	    0, "line 2:", NULL);
	/* A quoted field over two lines: the next record starts at line 4. */
	refused(f, "line numbers count physical lines", "fqdn,tags\n"
	    "b1.corp.example,\"a\nb\"\nbad_name.example,x\n", 0, "line 4:",
	    NULL);
	refused(f, "unterminated quote", "fqdn,admin_password\n"
	    "b1.corp.example,\"Sup3rS3cr3t!\n", 0, NULL, "S3cr3t");
	refused(f, "header only", "fqdn,uuid,tags\n", 0, NULL, NULL);
	refused(f, "header only, CRLF", "fqdn\r\n\r\n", 0, NULL, NULL);
	refused(f, "empty input", "", 0, NULL, NULL);
	refused(f, "duplicate FQDN in the file", "fqdn\nd1.corp.example\n"
	    "D1.Corp.Example\n", CUST_E_EXISTS, "line 3:", NULL);
	refused(f, "FQDN already registered", "fqdn\nd1.corp.example\n"
	    "d2.corp.example\nPRE.corp.example\n", CUST_E_EXISTS, "line 4:",
	    NULL);
	assert_int_equal(devices(f->st), 1);
}

/*
 * A store failure in the middle of an import (the disk fills: SQLite's
 * max_page_count gives SQLITE_FULL) keeps its class: unavailable (exit 5),
 * with the line and the disk named, and nothing imported.
 */
static void
test_store_full(void **state)
{
	struct tu_fx *f = *state;
	char *buf, sql[96];
	size_t len = 0, cap = 2000 * 64, count = 7, i;
	long long before, pages;
	int r;

	assert_non_null(buf = malloc(cap));
	len += (size_t)snprintf(buf, cap, "fqdn,tags\n");
	for (i = 0; i < 2000; i++)
		len += (size_t)snprintf(buf + len, cap - len,
		    "full%04zu.corp.example,bulk\n", i);
	assert_true(len < cap);
	before = footprint(f->st);
	pages = tu_sql_int(f->st, "PRAGMA page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", pages + 2);
	tu_sql(f->st, sql);

	r = cred_device_import(f->st, ACTOR, buf, len, 16, &count);
	if (cust_exit_code(r) != CUST_EXIT_UNAVAIL)
		fail_msg("import on a full store: error %d, exit %d (%s), want "
		    "exit 5", r, cust_exit_code(r), cust_errmsg());
	assert_int_equal(count, 0);
	if (strstr(cust_errmsg(), "disk is full") == NULL ||
	    strstr(cust_errmsg(), "line ") == NULL)
		fail_msg("message: %s", cust_errmsg());
	assert_false(store_in_txn(state_store(f->st)));
	assert_int_equal(footprint(f->st), before);

	/* Space again: the same import goes through. */
	tu_sql(f->st, "PRAGMA max_page_count = 1073741823");
	r = cred_device_import(f->st, ACTOR, buf, len, 16, &count);
	if (r != CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	assert_int_equal(count, 2000);
	assert_int_equal(devices(f->st), 2000);
	free(buf);
}

/* What a process killed while staging leaves: an import row of a dead
 * process and its devices (state 'staging', or published when publish). */
static void
leave_import(struct cust_state *st, int publish)
{
	static const char *const names[] = { "st1.corp.example",
	    "st2.corp.example", "st3.corp.example" };
	struct cred_device_spec spec = { 0 };
	char sql[256];
	size_t i;

	snprintf(sql, sizeof(sql), "INSERT INTO device_import(id, state, "
	    "actor, pid, pstart, count, created) VALUES (77, 'staging', 'x', "
	    "%lld, 1, 3, 0)", tu_dead_pid());
	assert_int_equal(store_begin(state_store(st)), CUST_OK);
	tu_sql(st, sql);
	for (i = 0; i < 3; i++) {
		spec.fqdn = names[i];
		if (cred_device_stage(st, ACTOR, &spec, 16, 77, NULL) !=
		    CUST_OK)
			fail_msg("stage: %s", cust_errmsg());
	}
	if (publish)	/* as stage_publish() does */
		tu_sql(st, "UPDATE device_import SET state = 'published';"
		    "UPDATE cred_count SET n = n + 3 WHERE name = "
		    "'device:active'");
	assert_int_equal(store_commit(state_store(st)), CUST_OK);
}

static int
count_cb(void *arg, json_t *dev)
{
	(void)dev;
	(*(size_t *)arg)++;
	return 0;
}

/* A staged import is seen by no query and counted nowhere; its names are
 * taken; the sweep deletes it (its process is gone) and frees them. */
static void
test_staged_invisible(void **state)
{
	struct tu_fx *f = *state;
	struct cred_counts c;
	int64_t id, *ids = NULL;
	size_t n = 0, found = 0, count;
	json_t *dev = NULL;

	leave_import(f->st, 0);
	assert_int_equal(devices(f->st), 3);
	assert_int_equal(cred_device_find(f->st, "st1.corp.example", &id),
	    CUST_E_NOTFOUND);
	assert_int_equal(cred_device_get(f->st, "st1.corp.example", &dev),
	    CUST_E_NOTFOUND);
	assert_int_equal(cred_device_each(f->st, NULL, count_cb, &n),
	    CUST_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cred_select(f->st, NULL, 0, NULL, 1, &ids, &n),
	    CUST_OK);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, 0);

	assert_int_equal(cred_import_sweep(f->st, &found), CUST_OK);
	assert_int_equal(found, 1);
	assert_int_equal(footprint(f->st), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM "
	    "device_import"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.add'"), 0);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, 0);
	assert_int_equal(import(f, "fqdn\nst1.corp.example\nst2.corp.example\n",
	    &count), CUST_OK);
	assert_int_equal(count, 2);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, 2);
}

/* A device add sweeps dead imports first: a name a killed import staged
 * is free at once; a live import's names stay taken. */
static void
test_add_sweeps_dead_import(void **state)
{
	struct tu_fx *f = *state;
	struct cred_device_spec spec = { .fqdn = "st2.corp.example" };
	char sql[256];
	int64_t id;

	leave_import(f->st, 0);
	assert_int_equal(cred_device_add(f->st, ACTOR, &spec, 16, NULL),
	    CUST_OK);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM "
	    "device_import"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device"), 1);
	assert_int_equal(cred_device_find(f->st, "st2.corp.example", &id),
	    CUST_OK);
	assert_int_equal(cred_device_find(f->st, "st1.corp.example", &id),
	    CUST_E_NOTFOUND);

	/* This process's import is alive: its name stays its own. */
	snprintf(sql, sizeof(sql), "INSERT INTO device_import(id, state, "
	    "actor, pid, pstart, count, created) VALUES (78, 'staging', 'x', "
	    "%lld, %lld, 1, 0)", (long long)getpid(),
	    util_proc_start((long long)getpid()));
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	tu_sql(f->st, sql);
	spec.fqdn = "st4.corp.example";
	assert_int_equal(cred_device_stage(f->st, ACTOR, &spec, 16, 78, NULL),
	    CUST_OK);
	assert_int_equal(store_commit(state_store(f->st)), CUST_OK);
	assert_int_equal(cred_device_add(f->st, ACTOR, &spec, 16, NULL),
	    CUST_E_EXISTS);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM "
	    "device_import"), 1);
}

/* Published but not settled (killed while writing the audit entries):
 * visible and counted; the sweep writes one device.add per device. */
static void
test_published_settled(void **state)
{
	struct tu_fx *f = *state;
	struct cred_counts c;
	size_t found = 0;
	int64_t id;

	leave_import(f->st, 1);
	assert_int_equal(cred_device_find(f->st, "st3.corp.example", &id),
	    CUST_OK);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, 3);
	assert_int_equal(cred_import_sweep(f->st, &found), CUST_OK);
	assert_int_equal(found, 1);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.add' AND detail = 'imported (import:77)'"), 3);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device WHERE "
	    "import_id IS NOT NULL"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM "
	    "device_import"), 0);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, 3);
	/* Settled once: a second sweep finds nothing. */
	assert_int_equal(cred_import_sweep(f->st, &found), CUST_OK);
	assert_int_equal(found, 0);
}

/* A bad row after several committed batches: every batch is deleted
 * again, nothing was audited, the counts are unchanged. */
static void
test_bad_row_after_batches(void **state)
{
	struct tu_fx *f = *state;
	size_t cap = 64 * 3000, len = 0, i, count;
	struct cred_counts c;
	char *buf;

	assert_non_null(buf = malloc(cap));
	len += (size_t)snprintf(buf, cap, "fqdn,tags\n");
	for (i = 0; i < 2 * CRED_IMPORT_BATCH + 400; i++)
		len += (size_t)snprintf(buf + len, cap - len,
		    "b%04zu.corp.example,bulk\n", i);
	len += (size_t)snprintf(buf + len, cap - len, "-bad-,bulk\n");
	assert_true(len < cap);
	assert_int_equal(cred_device_import(f->st, ACTOR, buf, len, 16,
	    &count), CUST_E_INVAL);
	if (strstr(cust_errmsg(), "line 2402") == NULL)
		fail_msg("message: %s", cust_errmsg());
	assert_int_equal(footprint(f->st), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM "
	    "device_import"), 0);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action IN ('device.add', 'device.import')"), 0);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, 0);
	/* Without the bad row it goes through, audited once per device. */
	len -= strlen("-bad-,bulk\n");
	assert_int_equal(cred_device_import(f->st, ACTOR, buf, len, 16,
	    &count), CUST_OK);
	assert_int_equal(count, 2 * CRED_IMPORT_BATCH + 400);
	assert_int_equal(cred_counts(f->st, &c), CUST_OK);
	assert_int_equal(c.devices, (int64_t)count);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.add'"), (long long)count);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.import'"), 1);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_csv_good, tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_good, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_json_refused, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_csv_refused, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_full, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_staged_invisible,
		    tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_add_sweeps_dead_import,
		    tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_published_settled,
		    tu_fx_setup, tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_row_after_batches,
		    tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
