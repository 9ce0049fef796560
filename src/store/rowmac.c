/* SPDX-License-Identifier: MIT */
/* src/store/rowmac.c - row MACs: a keyed BLAKE2b over the security-relevant
 * columns of a row, computed and checked inside SQL.
 *
 * Someone who can write custody.db but has no master key must not be able to
 * change a row that custody trusts (a CA certificate, a certificate's status,
 * a secret's state, a console, the loaded policy) without custody noticing.
 * Each such row carries mac = BLAKE2b-256 keyed by K_row (derived from the
 * data key) over a canonical encoding of its table name and its columns,
 * primary key first (see doc/internals/SECRETS.md for the encoding).
 *
 * Two SQL functions on the connection do the work, so the modules keep their
 * own SQL and a check costs no extra query:
 *
 *   custody_mac(table, c1, ..., cn)       the MAC of a row, for writes
 *   custody_row(mac, table, c1, ..., cn)  1 when mac matches; otherwise the
 *                                         statement fails with an error that
 *                                         names the row (table and key)
 *
 * The column lists are the STORE_ROW_* macros of store.h: a write and a read
 * of one table use the same list, so they cannot drift apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define MACLEN 32
#define MAXARGS 24

struct store_rowmac {
	struct seal_secret *key;	/* K_row; NULL until unsealed */
	int tampered;			/* the last error was a MAC failure */
};

/* Primary key columns of each protected table, for naming a row; opt: how
 * many of its last columns were added after rows had MACs (a migration
 * cannot compute a MAC: no data key), which count only when not NULL, so a
 * row that never had them keeps its MAC. */
static const struct {
	const char *table;
	int npk;
	const char *pk[3];
	int opt;
} tables[] = {
	{ "secret", 3, { "device_id", "kind", "version" }, 0 },
	{ "ca_gen", 1, { "gen", NULL, NULL }, 0 },
	{ "ca_key", 2, { "gen", "role", NULL }, 0 },
	{ "cert", 1, { "id", NULL, NULL }, 0 },
	{ "console", 1, { "id", NULL, NULL }, 0 },
	{ "policy", 1, { "id", NULL, NULL }, 0 },
	{ "staff", 1, { "id", NULL, NULL }, 0 },
	{ "ca_delivery", 1, { "serial", NULL, NULL }, 0 },
	{ "ca_supersede", 1, { "old_serial", NULL, NULL }, 0 },
	{ "mit_principal", 1, { "id", NULL, NULL }, 0 },
	/* members (ad/3): the group's members custody last made true */
	{ "dir_object", 1, { "id", NULL, NULL }, 1 },
	{ "dir_secret", 2, { "object_id", "version", NULL }, 0 },
	{ "device_tls", 1, { "fqdn", NULL, NULL }, 0 },
	{ "device", 1, { "id", NULL, NULL }, 0 },
};

static int
table_index(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(tables) / sizeof(tables[0]);
	    i++)
		if (strcmp(tables[i].table, name) == 0)
			return (int)i;
	return -1;
}

/* One value into the MAC: its type byte and 8 bytes (the integer, the
 * real's bits, or the length of the bytes that follow). */
static void
put_val(crypto_generichash_state *h, unsigned char type, uint64_t v,
    const void *p, size_t n)
{
	unsigned char b[9];

	b[0] = type;
	util_be64_put(b + 1, v);
	crypto_generichash_update(h, b, sizeof(b));
	if (n > 0)
		crypto_generichash_update(h, p, n);
}

/*
 * MAC of (tables[ti], argv[0..argc)), less the table's optional last
 * columns that are NULL (tables[].opt). Each value is its SQLite storage class
 * (one byte) then 8 bytes big-endian: an integer's value, a real's IEEE
 * bits, or the length of a text or blob followed by its bytes; NULL has
 * zero. A value stored with another type than custody wrote (text '5'
 * for 5) does not match. The table name and the column count lead.
 */
static void
row_mac(const struct store_rowmac *rm, int ti, int argc,
    sqlite3_value **argv, unsigned char out[MACLEN])
{
	const char *table = tables[ti].table;
	crypto_generichash_state h;
	double d;
	uint64_t u;
	int i, t, opt = tables[ti].opt;

	while (opt-- > 0 && argc > 0 &&
	    sqlite3_value_type(argv[argc - 1]) == SQLITE_NULL)
		argc--;

	/* The key is noaccess but while held; init takes it into h. A
	 * caller that checks many rows (or unseals too) holds the seal
	 * around them, so this costs no mprotect(2). */
	seal_secret_hold(rm->key);
	crypto_generichash_init(&h, seal_secret_data(rm->key),
	    seal_secret_len(rm->key), MACLEN);
	seal_secret_release(rm->key);
	crypto_generichash_update(&h, (const unsigned char *)"custody:row:v1",
	    14);
	put_val(&h, SQLITE_TEXT, strlen(table), table, strlen(table));
	put_val(&h, 0, (uint64_t)argc, NULL, 0);
	for (i = 0; i < argc; i++) {
		t = sqlite3_value_type(argv[i]);
		switch (t) {
		case SQLITE_INTEGER:
			put_val(&h, (unsigned char)t,
			    (uint64_t)sqlite3_value_int64(argv[i]), NULL, 0);
			break;
		case SQLITE_FLOAT:
			d = sqlite3_value_double(argv[i]);
			memcpy(&u, &d, sizeof(u));
			put_val(&h, (unsigned char)t, u, NULL, 0);
			break;
		case SQLITE_TEXT:
			u = (uint64_t)sqlite3_value_bytes(argv[i]);
			put_val(&h, (unsigned char)t, u,
			    sqlite3_value_text(argv[i]), (size_t)u);
			break;
		case SQLITE_BLOB:
			u = (uint64_t)sqlite3_value_bytes(argv[i]);
			put_val(&h, (unsigned char)t, u,
			    sqlite3_value_blob(argv[i]), (size_t)u);
			break;
		default:
			put_val(&h, (unsigned char)t, 0, NULL, 0);
			break;
		}
	}
	crypto_generichash_final(&h, out, MACLEN);
	sodium_memzero(&h, sizeof(h));
}

/* "table(k1=v1, k2=v2)" for the row whose columns start at argv[0]. */
static void
row_name(int ti, int argc, sqlite3_value **argv, char *buf, size_t len)
{
	size_t off;
	int i, n;

	n = snprintf(buf, len, "%s(", tables[ti].table);
	off = n > 0 && (size_t)n < len ? (size_t)n : len - 1;
	for (i = 0; i < tables[ti].npk && i < argc && off < len - 1; i++) {
		const unsigned char *v = sqlite3_value_text(argv[i]);

		n = snprintf(buf + off, len - off, "%s%s=%.64s", i ? ", " : "",
		    tables[ti].pk[i], v != NULL ? (const char *)v : "NULL");
		off = n > 0 && (size_t)n < len - off ? off + (size_t)n :
		    len - 1;
	}
	if (off < len - 1)
		snprintf(buf + off, len - off, ")");
	/* Names are stored text an attacker may have chosen: no controls. */
	for (off = 0; buf[off] != '\0'; off++)
		if ((unsigned char)buf[off] < 0x20 || buf[off] == 0x7f)
			buf[off] = '?';
}

static int
args_ok(sqlite3_context *ctx, struct store_rowmac *rm, int argc,
    sqlite3_value **argv, int *ti_out)
{
	*ti_out = -1;
	if (rm->key == NULL) {
		sqlite3_result_error(ctx, "row MACs need the unsealed data key",
		    -1);
		return 0;
	}
	if (argc < 1 || argc > MAXARGS || (*ti_out = table_index((const char *)
	    sqlite3_value_text(argv[0]))) < 0) {
		sqlite3_result_error(ctx, "custody_mac: unknown table", -1);
		return 0;
	}
	return 1;
}

static void
fn_mac(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct store_rowmac *rm = sqlite3_user_data(ctx);
	unsigned char mac[MACLEN];
	int ti;

	if (!args_ok(ctx, rm, argc, argv, &ti))
		return;
	row_mac(rm, ti, argc - 1, argv + 1, mac);
	sqlite3_result_blob(ctx, mac, MACLEN, SQLITE_TRANSIENT);
}

/* Does argv[0] hold the MAC of the row in argv[1..argc)? 1 yes, 0 no, -1
 * when the arguments are wrong (the result error is set). *have_out: a
 * MAC-sized blob was there at all. */
static int
row_matches(sqlite3_context *ctx, int argc, sqlite3_value **argv,
    int *ti_out, int *have_out)
{
	struct store_rowmac *rm = sqlite3_user_data(ctx);
	unsigned char mac[MACLEN];

	*have_out = 0;
	if (argc < 2) {
		sqlite3_result_error(ctx, "custody_row: too few arguments", -1);
		return -1;
	}
	if (!args_ok(ctx, rm, argc - 1, argv + 1, ti_out))
		return -1;
	*have_out = sqlite3_value_type(argv[0]) == SQLITE_BLOB &&
	    sqlite3_value_bytes(argv[0]) == MACLEN;
	row_mac(rm, *ti_out, argc - 2, argv + 2, mac);
	return *have_out && sodium_memcmp(mac, sqlite3_value_blob(argv[0]),
	    MACLEN) == 0;
}

/* custody_row_ok(mac, table, ...): 1 or 0, for reports that list every
 * altered row instead of stopping at the first. */
static void
fn_row_ok(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int ti, have, m = row_matches(ctx, argc, argv, &ti, &have);

	if (m >= 0)
		sqlite3_result_int(ctx, m);
}

static void
fn_row(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct store_rowmac *rm = sqlite3_user_data(ctx);
	char name[256], msg[512];
	int ti, have, m = row_matches(ctx, argc, argv, &ti, &have);

	if (m < 0)
		return;
	if (m == 1) {
		sqlite3_result_int(ctx, 1);
		return;
	}
	row_name(ti, argc - 2, argv + 2, name, sizeof(name));
	snprintf(msg, sizeof(msg), "row %s was altered outside custody (%s): "
	    "the store cannot be trusted; restore it from a backup", name,
	    have ? "its MAC does not match" : "it has no MAC");
	rm->tampered = 1;
	sqlite3_result_error(ctx, msg, -1);
}

int
store_rowmac_register(sqlite3 *db, struct store_rowmac **rm_out)
{
	struct store_rowmac *rm;
	int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;

	*rm_out = NULL;
	if ((rm = calloc(1, sizeof(*rm))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	/* Not SQLITE_INNOCUOUS: with trusted_schema=OFF the schema (views,
	 * triggers an attacker may add) cannot call them. */
	if (sqlite3_create_function(db, "custody_mac", -1, flags, rm, fn_mac,
	    NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "custody_row", -1, flags, rm, fn_row,
	    NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "custody_row_ok", -1, flags, rm,
	    fn_row_ok, NULL, NULL) != SQLITE_OK) {
		free(rm);
		return cust_fail(CUST_E_DB, "cannot register the row MAC "
		    "functions: %s", sqlite3_errmsg(db));
	}
	*rm_out = rm;
	return CUST_OK;
}

void
store_rowmac_free(struct store_rowmac *rm)
{
	if (rm == NULL)
		return;
	seal_secret_free(rm->key);
	free(rm);
}

void
store_rowmac_setkey(struct store_rowmac *rm, struct seal_secret *key)
{
	seal_secret_free(rm->key);
	rm->key = key;
}

int
store_rowmac_take_tamper(struct store_rowmac *rm)
{
	int t = rm != NULL && rm->tampered;

	if (rm != NULL)
		rm->tampered = 0;
	return t;
}
