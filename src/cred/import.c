/* SPDX-License-Identifier: MIT */
/* src/cred/import.c - bulk device import from CSV or JSON, all or nothing.
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
#include <string.h>

#include <sodium.h>

#include "csv.h"
#include "cred_int.h"
#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"

enum col { C_FQDN, C_UUID, C_REALM, C_TAGS, C_ADMIN, C_MEBX, C_N };
static const char *col_names[C_N] = {
	"fqdn", "uuid", "digest_realm", "tags", "admin_password",
	"mebx_password",
};

#define MAX_TAGS 32

struct import {
	struct cust_state *st;
	const char *actor;
	size_t pwlen;
	int col[C_N];		/* field index of each column, -1 if absent */
	size_t ncols;
	size_t count;
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
	spec.tags = tags;
	spec.admin_pw = pw[0];
	spec.mebx_pw = pw[1];
	r = cred_device_add(im->st, im->actor, &spec, im->pwlen, NULL);
	if (r == CUST_OK)
		im->count++;
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
				    "mebx_password)", line, i + 1);
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
			    "admin_password, mebx_password)", idx, nkey);
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

/* A description of a jansson error that quotes nothing from the input. */
static const char *
json_error_what(enum json_error_code code)
{
	switch (code) {
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
		    json_error_what(json_error_code(&jerr)));
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

int
cred_device_import(struct cust_state *st, const char *actor, const char *buf,
    size_t len, size_t pwlen, size_t *count_out)
{
	struct import im = { .st = st, .actor = actor, .pwlen = pwlen };
	size_t i = 0;
	int r;

	*count_out = 0;
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if ((r = store_begin(st->store)) != CUST_OK)
		return r;
	if (i < len && (buf[i] == '[' || buf[i] == '{'))
		r = import_json(&im, buf, len);
	else
		r = csv_parse(buf, len, csv_row, &im);
	if (r == CUST_OK && im.count == 0)
		r = cust_fail(CUST_E_PARSE, "no devices in the input");
	if (r != CUST_OK) {
		store_rollback(st->store);
		return r;
	}
	if ((r = store_commit(st->store)) != CUST_OK)
		return r;
	*count_out = im.count;
	return CUST_OK;
}
