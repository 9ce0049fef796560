/* SPDX-License-Identifier: MIT */
/* src/ca/ca_list.c - listing and showing certificates.
 *
 * Every query is driven by an index so that the cost follows the size of
 * the answer, not of the table: --expiring walks the not_after index of
 * valid certificates from now, --device the (device_id, id) index, and the
 * plain listing pages by primary key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "cred.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

#define LIST_DEFAULT	1000
#define LIST_MAX	100000

/* ?4 is the kind filter: "ee" end-entity kinds, "all", or one kind. */
#define KIND_FILTER "(?4 = 'all' OR kind = ?4 OR (?4 = 'ee' AND kind IN " \
	CA_EE_KINDS "))"

static const char *const kinds[] = {
	"device", "server", "admin", "console", "root", "issuing", "cross",
	"all", NULL
};

/*
 * The device a listing is about: the active one of that name (by id), or
 * else a removed one, found through the holder of its certificates (the
 * lower-case FQDN, on the (kind, holder, id) index). *dev_out 0 and
 * holder filled in for the latter; CUST_E_NOTFOUND when neither exists.
 */
static int
list_device(struct cust_state *st, const char *fqdn, int64_t *dev_out,
    char *holder, size_t hlen)
{
	sqlite3_stmt *s;
	int rc, r;

	*dev_out = 0;
	holder[0] = '\0';
	r = cred_device_find(st, fqdn, dev_out);
	if (r != CUST_E_NOTFOUND)
		return r;
	snprintf(holder, hlen, "%s", fqdn);
	util_lower(holder);
	if ((s = store_stmt(state_store(st), "SELECT 1 FROM cert WHERE kind = "
	    "'device' AND holder = ? LIMIT 1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, holder, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return CUST_OK;
	if (rc != SQLITE_DONE)
		return store_err(state_store(st), "list certificates");
	return cust_fail(CUST_E_NOTFOUND, "device %s is not registered and "
	    "has no certificates", fqdn);
}

/* not_after of the certificate with id (the --expiring cursor). */
static int
cursor_of(struct cust_state *st, int64_t id, int64_t *na_out)
{
	sqlite3_stmt *s;
	int rc;

	*na_out = 0;
	if ((s = store_stmt(state_store(st),
	    "SELECT not_after FROM cert WHERE id = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	*na_out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return cust_fail(CUST_E_INVAL, "--after %lld: no such "
		    "certificate", (long long)id);
	return rc == SQLITE_ROW ? CUST_OK : store_err(state_store(st),
	    "list certificates");
}

/*
 * Three shapes, each on its index: --expiring in (not_after, id) order
 * from max(now, the cursor's not_after), so a page costs its own size
 * whatever page it is; --device by (device_id, id) or, for a removed
 * device, by (kind, holder, id); else by id.
 */
int
ca_cert_list(struct cust_state *st, const struct ca_list_filter *f,
    json_t **resp_out)
{
	const char *kind = f->kind != NULL ? f->kind : "ee";
	int64_t limit = f->limit > 0 ? f->limit : LIST_DEFAULT, dev = 0;
	int64_t now = util_now(), last = 0, from, na = 0;
	char holder[CUST_MAX_FQDN + 1];
	sqlite3_stmt *s;
	json_t *items = NULL, *o;
	size_t i, n = 0;
	int rc, r = CUST_OK;

	*resp_out = NULL;
	holder[0] = '\0';
	if (limit > LIST_MAX)
		limit = LIST_MAX;
	if (f->kind != NULL) {
		for (i = 0; kinds[i] != NULL; i++)
			if (strcmp(kinds[i], f->kind) == 0)
				break;
		if (kinds[i] == NULL)
			return cust_fail(CUST_E_INVAL, "unknown certificate "
			    "kind %.32s", f->kind);
	}
	if (f->device != NULL && (r = list_device(st, f->device, &dev, holder,
	    sizeof(holder))) != CUST_OK)
		return r;
	if (f->expiring_days >= 0) {
		if (f->after_id > 0 &&
		    (r = cursor_of(st, f->after_id, &na)) != CUST_OK)
			return r;
		from = na > now ? na : now;
		s = store_stmt(state_store(st),
		    "SELECT " CA_CERT_COLS " FROM cert "
		    "WHERE status = 'valid' AND not_after >= ?1 AND "
		    "not_after < ?2 AND (not_after > ?6 OR id > ?7) AND "
		    "(?3 = 0 OR device_id = ?3) AND (?8 = '' OR (kind = "
		    "'device' AND holder = ?8)) AND " KIND_FILTER
		    " ORDER BY not_after, id LIMIT ?5");
		if (s == NULL)
			return CUST_E_DB;
		sqlite3_bind_int64(s, 1, from);
		sqlite3_bind_int64(s, 2, now + f->expiring_days * CA_DAY);
		sqlite3_bind_int64(s, 3, dev);
		sqlite3_bind_int64(s, 6, f->after_id > 0 ? na : INT64_MIN);
		sqlite3_bind_int64(s, 7, f->after_id);
		sqlite3_bind_text(s, 8, holder, -1, SQLITE_STATIC);
	} else if (dev != 0) {
		s = store_stmt(state_store(st),
		    "SELECT " CA_CERT_COLS " FROM cert "
		    "WHERE device_id = ?1 AND id > ?2 AND " KIND_FILTER
		    " ORDER BY id LIMIT ?5");
		if (s == NULL)
			return CUST_E_DB;
		sqlite3_bind_int64(s, 1, dev);
		sqlite3_bind_int64(s, 2, f->after_id);
	} else if (holder[0] != '\0') {
		s = store_stmt(state_store(st),
		    "SELECT " CA_CERT_COLS " FROM cert "
		    "WHERE kind = 'device' AND holder = ?1 AND id > ?2 AND "
		    KIND_FILTER " ORDER BY id LIMIT ?5");
		if (s == NULL)
			return CUST_E_DB;
		sqlite3_bind_text(s, 1, holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, f->after_id);
	} else {
		s = store_stmt(state_store(st),
		    "SELECT " CA_CERT_COLS " FROM cert "
		    "WHERE id > ?1 AND " KIND_FILTER " ORDER BY id LIMIT ?5");
		if (s == NULL)
			return CUST_E_DB;
		sqlite3_bind_int64(s, 1, f->after_id);
	}
	sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, limit);
	if ((items = json_array()) == NULL) {
		sqlite3_reset(s);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((o = ca_cert_info_row(s)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		last = sqlite3_column_int64(s, 0);
		json_array_append_new(items, o);
		n++;
	}
	if (r == CUST_OK && rc != SQLITE_DONE)
		r = store_err(state_store(st), "list certificates");
	sqlite3_reset(s);
	/* Keys not yet delivered (ca_recover.c), supersedes waiting
	 * (ca_supersede.c): lookups per item. */
	for (i = 0; r == CUST_OK && i < json_array_size(items); i++)
		if ((r = ca_delivery_note(st, json_array_get(items, i))) ==
		    CUST_OK)
			r = ca_supersede_note(st, json_array_get(items, i));
	if (r != CUST_OK) {
		json_decref(items);
		return r;
	}
	/* A full page may have more after it: its last id is the cursor. */
	*resp_out = json_pack("{s:o, s:o}", "items", items, "next",
	    (int64_t)n == limit ? json_integer(last) : json_null());
	return *resp_out != NULL ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}

int
ca_cert_show(struct cust_state *st, const char *serial, json_t **resp_out)
{
	char hex[CA_SERIAL_HEXLEN];
	sqlite3_stmt *s;
	json_t *o = NULL;
	X509 *x = NULL;
	char *pem = NULL;
	int rc, r;

	*resp_out = NULL;
	if ((r = ca_serial_norm(serial, hex, sizeof(hex))) != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st),
	    "SELECT " CA_CERT_COLS ", der FROM cert "
	    "WHERE serial = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		o = ca_cert_info_row(s);
		x = ca_x509_from_der(sqlite3_column_blob(s, 13),
		    (size_t)sqlite3_column_bytes(s, 13));
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE) {
		int64_t when = 0;
		char t[32];

		if ((r = ca_serial_reserved(st, hex, &when)) < 0)
			return r;
		if (r == 0)
			return cust_fail(CUST_E_NOTFOUND, "no certificate with "
			    "serial %s", hex);
		util_fmt_time(when, t, sizeof(t));
		return cust_fail(CUST_E_NOTFOUND, "no certificate with serial "
		    "%s: it was reserved at %s for a certificate that is "
		    "being signed or was never recorded (the process signing "
		    "it stopped); no certificate carries it and it is never "
		    "used again", hex, t);
	}
	if (rc != SQLITE_ROW)
		r = store_err(state_store(st), "read certificate");
	else if (o == NULL || x == NULL || (pem = ca_pem_certs(&x, 1)) == NULL)
		r = cust_fail(CUST_E_DB, "certificate %s unreadable", hex);
	else if (json_object_set_new(o, "certificate", json_string(pem)))
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	else if ((r = ca_delivery_note(st, o)) == CUST_OK)
		r = ca_supersede_note(st, o);
	free(pem);
	X509_free(x);
	if (r != CUST_OK) {
		json_decref(o);
		return r;
	}
	*resp_out = o;
	return CUST_OK;
}

/* Valid certificates with notAfter at or before until, counted by kind
 * into obj (a range of the cert_expiry index: as many rows as expire). */
static int
count_until(struct cust_state *st, int64_t until, json_t *obj)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(state_store(st), "SELECT kind, count(*) FROM "
	    "cert WHERE status = 'valid' AND not_after <= ?1 GROUP BY kind"))
	    == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, until);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (json_object_set_new(obj, (const char *)sqlite3_column_text(
		    s, 0), json_integer(sqlite3_column_int64(s, 1))) != 0) {
			sqlite3_reset(s);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? CUST_OK :
	    store_err(state_store(st), "read certificates");
}

int
ca_cert_expiry(struct cust_state *st, int within_days, json_t **resp_out)
{
	struct ca_conf conf;
	json_t *exp = json_object(), *due = json_object();
	int64_t now = util_now();
	int r;

	*resp_out = NULL;
	if (exp == NULL || due == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = ca_conf_load(st, &conf)) != CUST_OK)
		goto out;
	r = count_until(st, now + (int64_t)within_days * CA_DAY, exp);
	if (r == CUST_OK)
		r = count_until(st, now + (int64_t)conf.renew_days * CA_DAY,
		    due);
	if (r == CUST_OK && (*resp_out = json_pack("{s:i, s:O, s:i, s:O}",
	    "within_days", within_days, "expiring", exp, "renew_days",
	    conf.renew_days, "renew_due", due)) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	ca_conf_clear(&conf);
out:
	json_decref(exp);
	json_decref(due);
	return r;
}
