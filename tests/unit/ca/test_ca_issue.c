/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_issue.c - device certificates (CSR, server-side
 * key with PKCS#12, renewal, bulk), revocation and CRLs, consoles,
 * listings; refusals recorded in the audit log and nothing issued. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pkcs12.h>
#include <sodium.h>

#include "audit.h"
#include "ca.h"
#include "err.h"
#include "ops.h"
#include "catest.h"

#define F1 "amt1.corp.example"
#define F2 "amt2.corp.example"

struct fx {
	struct cust_state *st;
	char *dir;
	char *csr1, *csr2;
	size_t len1, len2;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->st = ct_ca_state(&f->dir, "ecdsa-p256");
	ct_device(f->st, F1);
	ct_device(f->st, F2);
	f->csr1 = ct_csr("RSA", 2048, NULL, F1, &f->len1);
	f->csr2 = ct_csr("EC", 0, "P-384", F2, &f->len2);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tu_state_free(f->st, f->dir);
	free(f->csr1);
	free(f->csr2);
	free(f);
	return 0;
}

static const char *
js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	assert_non_null(s);
	return s;
}

static long long
refusals(struct fx *f)
{
	return ct_count(f->st, "SELECT count(*) FROM audit WHERE result = "
	    "'refused'");
}

static void
test_sign(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL, *resp2 = NULL;
	X509 *x;
	GENERAL_NAMES *san;
	const GENERAL_NAME *g;
	EXTENDED_KEY_USAGE *eku;

	assert_int_equal(ca_sign_csr(f->st, "t", "AMT1.corp.example", f->csr1,
	    f->len1, 0, &resp), CUST_OK);
	assert_string_equal(js(resp, "kind"), "device");
	assert_string_equal(js(resp, "holder"), F1);
	assert_string_equal(js(resp, "status"), "valid");
	assert_int_equal(strlen(js(resp, "serial")), 32);
	assert_non_null(strstr(js(resp, "chain"), "BEGIN CERTIFICATE"));
	x = ct_x509(js(resp, "certificate"));
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	g = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(g->type, GEN_DNS);
	assert_string_equal((const char *)ASN1_STRING_get0_data(
	    g->d.dNSName), F1);
	GENERAL_NAMES_free(san);
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)),
	    NID_server_auth);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	assert_true(X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	/* The key is the CSR's, byte for byte (copied, not re-encoded). */
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 2048);
	X509_free(x);
	/* Serials are never reused. */
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 30,
	    &resp2), CUST_OK);
	assert_string_not_equal(js(resp, "serial"), js(resp2, "serial"));
	json_decref(resp);
	json_decref(resp2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.sign' AND result = 'ok' AND object = '" F1 "'"),
	    2);
	/* days out of range: refused and audited */
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 5000,
	    &resp), CUST_E_INVAL);
}

static void
test_refusals(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	long long r0 = refusals(f), c0;

	c0 = ct_count(f->st, "SELECT count(*) FROM cert");
	assert_int_equal(ca_sign_csr(f->st, "t", "nope.corp.example",
	    f->csr1, f->len1, 0, &resp), CUST_E_NOTFOUND);
	assert_int_equal(ca_sign_csr(f->st, "t", F2, f->csr1, f->len1, 0,
	    &resp), CUST_E_INVAL);		/* CSR for F1 */
	assert_int_equal(ca_sign_csr(f->st, "t", "bad..name", f->csr1,
	    f->len1, 0, &resp), CUST_E_INVAL);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, "garbage", 7, 0, &resp),
	    CUST_E_PARSE);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, CA_CSR_MAX + 1,
	    0, &resp), CUST_E_TOOBIG);
	assert_int_equal(ca_issue(f->st, "t", F1, "rsa1024", 0, 0, &resp),
	    CUST_E_INVAL);
	assert_int_equal(ca_issue(f->st, "t", "nope.corp.example", NULL, 0, 0,
	    &resp), CUST_E_NOTFOUND);
	assert_null(resp);
	assert_int_equal(refusals(f), r0 + 7);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert"), c0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_csr"), 0);
}

static void
test_issue_pkcs12(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	unsigned char *der;
	const unsigned char *p;
	size_t len = 0;
	const char *b64;
	PKCS12 *p12;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *ca = NULL;

	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	assert_int_equal(strlen(js(resp, "pkcs12_password")), 24);
	/* PKCS#8 PEM armour (spelled in two parts so no scanner takes this
	 * file for a key) */
	assert_non_null(strstr(js(resp, "key"), "-----BEGIN "));
	assert_non_null(strstr(js(resp, "key"), "PRIVATE KEY-----"));
	b64 = js(resp, "pkcs12");
	der = malloc(strlen(b64));
	assert_int_equal(sodium_base642bin(der, strlen(b64), b64, strlen(b64),
	    NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	p = der;
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	assert_non_null(p12);
	assert_false(PKCS12_parse(p12, "wrong", &key, &x, &ca));
	assert_true(PKCS12_parse(p12, js(resp, "pkcs12_password"), &key, &x,
	    &ca));
	assert_int_equal(X509_check_private_key(x, key), 1);
	assert_int_equal(sk_X509_num(ca), 1);		/* the issuing CA */
	EVP_PKEY_free(key);
	X509_free(x);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	free(der);
	json_decref(resp);
	/* The key is not kept: the store holds no private key. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "instr(der, 'PRIVATE') > 0"), 0);
}

static void
test_renew(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL, *first = NULL;

	/* Nothing on file yet. */
	assert_int_equal(ca_renew(f->st, "t", F1, NULL, 0, 1, 0, &resp),
	    CUST_E_NOTFOUND);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 0,
	    &first), CUST_OK);
	/* Outside the renewal window: refused unless forced. */
	assert_int_equal(ca_renew(f->st, "t", F1, NULL, 0, 0, 0, &resp),
	    CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "renewal window"));
	/* Inside the window (the current one expires in 10 days). */
	tu_clock_to(ct_count(f->st, "SELECT not_after FROM cert WHERE "
	    "kind = 'device'") - 864000);
	assert_int_equal(ca_renew(f->st, "t", F1, NULL, 0, 0, 1, &resp),
	    CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "superseded")),
	    1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(resp, "superseded"), 0)), js(first, "serial"));
	json_decref(resp);
	/* The old one is revoked (superseded) and in the CRL. */
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(resp, "serials"), 0)), js(first, "serial"));
	json_decref(resp);
	/* A new CSR for another key: always allowed. */
	assert_int_equal(ca_renew(f->st, "t", F2, f->csr2, f->len2, 0, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	json_decref(first);
}

static void
test_revoke_crl(void **state)
{
	struct fx *f = *state;
	json_t *a = NULL, *b = NULL, *resp = NULL, *crl = NULL;
	char colons[128];
	const char *s;
	size_t i, o = 0;
	long long num;

	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 0, &a),
	    CUST_OK);
	assert_int_equal(ca_sign_csr(f->st, "t", F2, f->csr2, f->len2, 0, &b),
	    CUST_OK);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &crl), CUST_OK);
	num = json_integer_value(json_object_get(crl, "number"));
	assert_int_equal(json_array_size(json_object_get(crl, "serials")), 0);
	json_decref(crl);
	/* lower case with colons, as people paste it */
	for (s = js(a, "serial"), i = 0; s[i] != '\0'; i++) {
		if (i > 0 && i % 2 == 0)
			colons[o++] = ':';
		colons[o++] = (char)(s[i] | 0x20);
	}
	colons[o] = '\0';
	assert_int_equal(ca_revoke(f->st, "t", colons, "keyCompromise",
	    &resp), CUST_OK);
	assert_string_equal(js(resp, "status"), "revoked");
	assert_string_equal(js(resp, "reason"), "keyCompromise");
	json_decref(resp);
	assert_int_equal(ca_revoke(f->st, "t", js(a, "serial"), NULL, &resp),
	    CUST_E_CONFLICT);
	assert_int_equal(ca_revoke(f->st, "t", "0102030405", NULL, &resp),
	    CUST_E_NOTFOUND);
	assert_int_equal(ca_revoke(f->st, "t", js(b, "serial"),
	    "certificateHold", &resp), CUST_E_INVAL);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &crl), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(crl, "serials")), 1);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(crl, "serials"), 0)), js(a, "serial"));
	assert_true(json_integer_value(json_object_get(crl, "number")) > num);
	json_decref(crl);
	/* Set back to valid in the store, then a CRL is due (time moves to
	 * its nextUpdate): the CRL is not made without it. */
	tu_sql(f->st, "UPDATE cert SET status = 'valid', revoked = NULL, "
	    "reason = NULL WHERE status = 'revoked'");
	tu_clock_to(ct_count(f->st, "SELECT crl_next FROM ca_gen WHERE "
	    "gen = 1"));
	{
		size_t made = 0;

		assert_int_equal(ca_crl_refresh(f->st, "t", &made), CUST_E_DB);
		assert_int_equal(made, 0);
	}
	assert_non_null(strstr(cust_errmsg(), "row cert(id="));
	assert_non_null(strstr(cust_errmsg(), ") was altered outside custody"));
	/* Revoking the issuing CA goes to the root CRL; a root cannot be. */
	assert_int_equal(ca_show(f->st, &resp), CUST_OK);
	s = json_string_value(json_object_get(json_object_get(json_array_get(
	    json_object_get(resp, "generations"), 0), "root"), "serial"));
	assert_int_equal(ca_revoke(f->st, "t", s, NULL, &crl), CUST_E_INVAL);
	json_decref(resp);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.revoke' AND result = 'ok'"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.revoke' AND result = 'refused'"), 4);
	json_decref(a);
	json_decref(b);
}

static void
test_bulk(void **state)
{
	struct fx *f = *state;
	struct ca_bulk_item items[5] = {
		{ F1, f->csr1, f->len1 },
		{ "nope.corp.example", f->csr1, f->len1 },
		{ F2, f->csr2, f->len2 },
		{ F2, "junk", 4 },
		{ F1, f->csr1, f->len1 },
	};
	json_t *res = NULL;
	size_t issued = 0;

	assert_int_equal(ca_sign_bulk(f->st, "t", items, 5, 3, &res, &issued),
	    CUST_OK);
	assert_int_equal(issued, 3);
	assert_int_equal(json_array_size(res), 5);
	assert_string_equal(js(json_array_get(res, 0), "holder"), F1);
	assert_string_equal(js(json_array_get(res, 1), "error"), "not found");
	assert_string_equal(js(json_array_get(res, 2), "holder"), F2);
	assert_string_equal(js(json_array_get(res, 3), "error"),
	    "malformed input");
	assert_non_null(json_object_get(json_array_get(res, 4), "chain"));
	json_decref(res);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'device'"), 3);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_csr"), 3);
	assert_int_equal(refusals(f), 2);
	assert_int_equal(ca_sign_bulk(f->st, "t", items, 0, 0, &res, &issued),
	    CUST_OK);
	assert_int_equal(json_array_size(res), 0);
	json_decref(res);
}

/* The query plan of sql names index. */
static void
uses_index(struct fx *f, const char *sql, const char *index)
{
	sqlite3_stmt *s = NULL;
	char *q;
	int found = 0;

	assert_true(asprintf(&q, "EXPLAIN QUERY PLAN %s", sql) > 0);
	assert_int_equal(sqlite3_prepare_v2(store_db(state_store(f->st)), q, -1,
	    &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		found |= strstr((const char *)sqlite3_column_text(s, 3),
		    index) != NULL;
	sqlite3_finalize(s);
	free(q);
	if (!found)
		fail_msg("%s does not use %s", sql, index);
}

static void
test_list(void **state)
{
	struct fx *f = *state;
	struct ca_list_filter lf;
	json_t *resp = NULL;

	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_sign_csr(f->st, "t", F2, f->csr2, f->len2, 20,
	    &resp), CUST_OK);
	json_decref(resp);
	memset(&lf, 0, sizeof(lf));
	lf.expiring_days = -1;
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
	/* server + admin + 2 devices */
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 4);
	json_decref(resp);
	lf.expiring_days = 30;
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 1);
	assert_string_equal(js(json_array_get(json_object_get(resp, "items"),
	    0), "holder"), F2);
	json_decref(resp);
	lf.expiring_days = -1;
	lf.device = F1;
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 1);
	json_decref(resp);
	lf.device = NULL;
	lf.kind = "all";
	lf.limit = 2;
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 2);
	lf.after_id = json_integer_value(json_object_get(resp, "next"));
	json_decref(resp);
	lf.limit = 0;
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 4);
	json_decref(resp);
	lf.kind = "bogus";
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_E_INVAL);
	lf.kind = NULL;
	lf.device = "nope.corp.example";
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_E_NOTFOUND);
	assert_int_equal(ca_cert_show(f->st, "01", &resp), CUST_E_NOTFOUND);
	/* The hot paths use their indexes. */
	uses_index(f, "SELECT id FROM cert WHERE status = 'valid' AND "
	    "not_after >= 1 AND not_after < 2 AND (0 = 0 OR device_id = 0)",
	    "cert_expiry");
	uses_index(f, "SELECT id FROM cert WHERE device_id = 1 AND id > 0 "
	    "ORDER BY id", "cert_device");
	uses_index(f, "SELECT count(*) FROM cert WHERE gen = 1 AND status = "
	    "'valid' AND not_after > 5", "cert_gen_valid");
	uses_index(f, "SELECT 1 FROM cert WHERE serial = 'AB'", "serial");
}

static void
test_console(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL, *rev = NULL;
	X509 *x;
	EXTENDED_KEY_USAGE *eku;
	int i, amt = 0, client = 0;

	assert_int_equal(ca_console_add(f->st, "t", "sccm.corp.example", NULL, 0,
	    &resp), CUST_OK);
	x = ct_x509(js(resp, "certificate"));
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		char oid[64];

		OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i), 1);
		amt |= strcmp(oid, "2.16.840.1.113741.1.2.1") == 0;
		client |= strcmp(oid, "1.3.6.1.5.5.7.3.2") == 0;
	}
	assert_true(amt && client);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 2048);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	X509_free(x);
	assert_int_equal(ca_console_add(f->st, "t", "sccm.corp.example", NULL, 0,
	    &rev), CUST_E_EXISTS);
	assert_int_equal(ca_console_add(f->st, "t", "bad name", NULL, 0, &rev),
	    CUST_E_INVAL);
	assert_int_equal(ca_console_revoke(f->st, "t", "sccm.corp.example",
	    "affiliationChanged", &rev), CUST_OK);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    rev, "revoked"), 0)), js(resp, "serial"));
	json_decref(rev);
	assert_int_equal(ca_console_revoke(f->st, "t", "sccm.corp.example",
	    NULL, &rev), CUST_E_NOTFOUND);
	json_decref(resp);
	assert_int_equal(ca_console_add(f->st, "t", "sccm.corp.example",
	    "ecdsa-p256", 0, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_console_list(f->st, 0, 1000, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 2);
	json_decref(resp);
	assert_int_equal(refusals(f), 3);
}

/* Regression: cert list --expiring stopped at the page size with "next"
 * null and ignored --after. It pages on (not_after, id) now. */
static void
test_list_expiring_pages(void **state)
{
	struct fx *f = *state;
	struct ca_list_filter lf;
	json_t *resp = NULL, *seen = json_array(), *it;
	long long prev_na = 0;
	size_t i, pages = 0;
	int days[5] = { 40, 10, 40, 20, 10 };

	for (i = 0; i < 5; i++) {
		assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1,
		    days[i], &resp), CUST_OK);
		json_decref(resp);
	}
	memset(&lf, 0, sizeof(lf));
	lf.expiring_days = 100;
	lf.limit = 2;
	do {
		assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
		json_array_foreach(json_object_get(resp, "items"), i, it)
			json_array_append(seen, json_object_get(it, "id"));
		lf.after_id = json_is_integer(json_object_get(resp, "next")) ?
		    json_integer_value(json_object_get(resp, "next")) : 0;
		pages++;
		json_decref(resp);
	} while (lf.after_id != 0 && pages < 10);
	/* 5 certificates in pages of 2, each once, soonest first. */
	assert_int_equal(json_array_size(seen), 5);
	assert_int_equal(pages, 3);
	json_array_foreach(seen, i, it) {
		char sql[128];
		size_t j;
		long long na;

		for (j = 0; j < i; j++)
			assert_int_not_equal(json_integer_value(it),
			    json_integer_value(json_array_get(seen, j)));
		snprintf(sql, sizeof(sql), "SELECT not_after FROM cert WHERE "
		    "id = %lld", (long long)json_integer_value(it));
		na = ct_count(f->st, sql);
		assert_true(na >= prev_na);
		prev_na = na;
	}
	json_decref(seen);
}

/* Regression (ca_device_retire, for device removal): the certificates of
 * a removed device stayed valid. */
static void
test_device_retire(void **state)
{
	struct fx *f = *state;
	struct ca_list_filter lf;
	json_t *a = NULL, *b = NULL, *c = NULL, *resp = NULL;
	int64_t dev = 0;
	size_t n = 9;
	long long revoked0;

	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 0, &a),
	    CUST_OK);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 0, &b),
	    CUST_OK);
	assert_int_equal(ca_sign_csr(f->st, "t", F2, f->csr2, f->len2, 0, &c),
	    CUST_OK);
	assert_int_equal(cred_device_find(f->st, F1, &dev), CUST_OK);
	/* In the caller's transaction: rolled back with it. */
	assert_int_equal(store_begin(state_store(f->st)), CUST_OK);
	assert_int_equal(ca_device_retire(f->st, "t", dev, F1, &n), CUST_OK);
	assert_int_equal(n, 2);
	assert_true(store_in_txn(state_store(f->st)));
	store_rollback(state_store(f->st));
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "status = 'revoked'"), 0);
	/* On its own. */
	revoked0 = ct_count(f->st, "SELECT count(*) FROM audit WHERE action = "
	    "'cert.revoke' AND result = 'ok'");
	assert_int_equal(ca_device_retire(f->st, "t", dev, F1, &n), CUST_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.revoke' AND result = 'ok'"), revoked0 + 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "status = 'revoked' AND reason = 5 AND holder = '" F1 "'"), 2);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "serials")), 2);
	json_decref(resp);
	/* Nothing left: 0, and the other device untouched. */
	assert_int_equal(ca_device_retire(f->st, "t", dev, F1, &n), CUST_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "status = 'valid' AND holder = '" F2 "'"), 1);
	/* A removed device's certificates can still be listed. */
	assert_int_equal(cred_device_remove(f->st, "t", F1), CUST_OK);
	memset(&lf, 0, sizeof(lf));
	lf.expiring_days = -1;
	lf.device = "AMT1.corp.example";
	assert_int_equal(ca_cert_list(f->st, &lf, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 2);
	json_decref(resp);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void
test_device_retire_without_ca(void **state)
{
	struct cust_state *st;
	char *dir = NULL;
	size_t n = 9;

	(void)state;
	st = tu_state_new(&dir);
	assert_int_equal(ca_device_retire(st, "t", 1, F1, &n), CUST_OK);
	assert_int_equal(n, 0);
	tu_state_free(st, dir);
}

/* Regression: console names were case-sensitive, so Ops1, ops1 and OPS1
 * could all be active at once. */
static void
test_console_case(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;

	assert_int_equal(ca_console_add(f->st, "t", "Ops1", "ecdsa-p256", 0,
	    &resp), CUST_OK);
	assert_string_equal(js(resp, "holder"), "ops1");
	assert_string_equal(js(resp, "subject"), "CN=ops1");
	json_decref(resp);
	assert_int_equal(ca_console_add(f->st, "t", "ops1", NULL, 0, &resp),
	    CUST_E_EXISTS);
	assert_int_equal(ca_console_add(f->st, "t", "OPS1", NULL, 0, &resp),
	    CUST_E_EXISTS);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM console"), 1);
	assert_int_equal(ca_console_revoke(f->st, "t", "oPs1", NULL, &resp),
	    CUST_OK);
	assert_string_equal(js(resp, "name"), "ops1");
	assert_int_equal(json_array_size(json_object_get(resp, "revoked")), 1);
	json_decref(resp);
}

/* SQL that ran outside any transaction (trace hook). */
static int outside;

static int
trace_outside(unsigned type, void *ctx, void *p, void *x)
{
	sqlite3 *db = ctx;
	const char *sql = sqlite3_sql(p);

	(void)type;
	(void)x;
	if (sqlite3_get_autocommit(db) && sql != NULL &&
	    (strstr(sql, "FROM cert") != NULL ||
	    strstr(sql, "FROM ca_csr") != NULL ||
	    strstr(sql, "FROM ca_gen") != NULL ||
	    strstr(sql, "FROM meta") != NULL))
		outside++;
	return 0;
}

/* Regression: cert renew read the last CSR, the newest certificate and
 * the CA state before its transaction began. */
static void
test_renew_reads_in_txn(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = store_db(state_store(f->st));
	json_t *resp = NULL;

	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr1, f->len1, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	outside = 0;
	sqlite3_trace_v2(db, SQLITE_TRACE_STMT, trace_outside, db);
	assert_int_equal(ca_renew(f->st, "t", F1, NULL, 0, 1, 1, &resp),
	    CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_renew(f->st, "t", F1, NULL, 0, 0, 0, &resp),
	    CUST_E_CONFLICT);
	sqlite3_trace_v2(db, 0, NULL, NULL);
	assert_int_equal(outside, 0);
}

/* Regression: a csr_der that is not base64, or a CSR over the bound in
 * base64, was refused by the ops layer without an audit entry. */
static void
test_transport_refusals(void **state)
{
	struct fx *f = *state;
	struct ops_ctx ctx;
	json_t *req, *resp = NULL;
	long long r0 = refusals(f);
	size_t blen = (CA_CSR_MAX + 1000) / 3 * 4 + 4, i;
	char *big = malloc(blen + 1);

	memset(&ctx, 0, sizeof(ctx));
	ctx.st = f->st;
	ctx.who = tu_local();
	req = json_pack("{s:s, s:s}", "fqdn", F1, "csr_der", "!!not base64!!");
	assert_int_equal(ops_call(&ctx, "cert.sign", req, &resp),
	    CUST_E_PARSE);
	json_decref(req);
	assert_int_equal(refusals(f), r0 + 1);
	for (i = 0; i < blen; i++)
		big[i] = 'A';
	big[blen] = '\0';
	req = json_pack("{s:s, s:s}", "fqdn", F1, "csr_der", big);
	assert_int_equal(ops_call(&ctx, "cert.sign", req, &resp),
	    CUST_E_TOOBIG);
	assert_non_null(strstr(cust_errmsg(), "over the limit"));
	json_decref(req);
	assert_int_equal(refusals(f), r0 + 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "result = 'refused' AND object = '" F1 "' AND action = "
	    "'cert.sign'"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'device'"), 0);
	free(big);
}

/* Regression: an EC key with explicit parameters got through the checks
 * and failed inside the transaction, unaudited. */
static void
test_explicit_curve_audited(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = ct_key("EC", 0, "P-256");
	X509_REQ *req;
	json_t *resp = NULL;
	long long r0 = refusals(f);
	size_t len;
	char *pem;

	assert_true(EVP_PKEY_set_utf8_string_param(k, "encoding",
	    "explicit"));
	req = ct_req(k, F1, NULL);
	pem = ct_pem(req, &len);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, pem, len, 0, &resp),
	    CUST_E_INVAL);
	assert_int_equal(refusals(f), r0 + 1);
	free(pem);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

/* console.list pages: limit rows at a time in (name, id) order, "next"
 * the last id of a full page; following it gives every console once,
 * revoked rows of a reused name included, and a null "next" at the end. */
static void
test_console_list_pages(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "e.corp.example",
	    "a.corp.example", "d.corp.example", "b.corp.example",
	    "c.corp.example" };
	const char *want[] = { "a.corp.example", "a.corp.example",
	    "b.corp.example", "c.corp.example", "d.corp.example",
	    "e.corp.example" };
	json_t *resp, *o, *next;
	int64_t after = 0;
	size_t i, seen = 0, pages = 0, k;

	for (i = 0; i < 5; i++) {
		assert_int_equal(ca_console_add(f->st, "t", names[i],
		    "ecdsa-p256", 0, &resp), CUST_OK);
		json_decref(resp);
	}
	/* a.corp.example twice: revoked, then added again */
	assert_int_equal(ca_console_revoke(f->st, "t", "a.corp.example", NULL,
	    &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_console_add(f->st, "t", "a.corp.example",
	    "ecdsa-p256", 0, &resp), CUST_OK);
	json_decref(resp);
	do {
		assert_int_equal(ca_console_list(f->st, after, 4, &resp),
		    CUST_OK);
		pages++;
		assert_true(json_array_size(json_object_get(resp, "items")) <=
		    4);
		json_array_foreach(json_object_get(resp, "items"), k, o) {
			assert_true(seen < 6);
			assert_string_equal(js(o, "name"), want[seen]);
			seen++;
		}
		next = json_object_get(resp, "next");
		after = json_is_integer(next) ? json_integer_value(next) : 0;
		json_decref(resp);
	} while (after != 0);
	assert_int_equal(seen, 6);
	assert_int_equal(pages, 2);
	/* A page that ends exactly at the last console says so next time. */
	assert_int_equal(ca_console_list(f->st, 0, 6, &resp), CUST_OK);
	next = json_object_get(resp, "next");
	assert_true(json_is_integer(next));
	after = json_integer_value(next);
	json_decref(resp);
	assert_int_equal(ca_console_list(f->st, after, 6, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "items")), 0);
	assert_true(json_is_null(json_object_get(resp, "next")));
	json_decref(resp);
}

/* The pid of a process that is gone (forked, exited, reaped). */
static long long
dead_pid(void)
{
	pid_t pid = fork();
	int ws = 0;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	return (long long)pid;
}

/* Whether the certificate serial is shown undelivered / its status. */
static int
undelivered(struct cust_state *st, const char *serial, char *status,
    size_t len)
{
	json_t *o = NULL;
	int u;

	assert_int_equal(ca_cert_show(st, serial, &o), CUST_OK);
	u = json_is_true(json_object_get(o, "undelivered"));
	snprintf(status, len, "%s", js(o, "status"));
	json_decref(o);
	return u;
}

/*
 * Keys custody made wait for their delivery (CA_DELIVER) until the caller
 * confirms; one whose process is gone is revoked by the next issuance of
 * that kind (a console's name is freed); a live process's is left alone;
 * revoking clears the wait.
 */
/* The delivery row of serial as custody would record it for a process
 * that is gone (MAC'd: this test's connection has the row key). */
static void
dead_delivery(struct cust_state *st, const char *serial)
{
	long long pid = dead_pid();
	char sql[512];

	snprintf(sql, sizeof(sql), "UPDATE ca_delivery SET pid = %lld, "
	    "mac = custody_mac('ca_delivery', serial, %lld, pstart, created) "
	    "WHERE serial = '%s'", pid, pid, serial);
	tu_sql(st, sql);
}

/* Someone who can write custody.db but has no master key cannot make
 * custody revoke a certificate by forging a delivery row (or editing one
 * to name a dead process): the row's MAC does not match, the sweep stops
 * with an error naming the row, and the certificate stays valid. */
static void
test_delivery_forged(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	char a[CA_SERIAL_HEXLEN], b[CA_SERIAL_HEXLEN], st[16], sql[256];

	assert_int_equal(ca_issue(f->st, "t", F1, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	snprintf(a, sizeof(a), "%s", js(resp, "serial"));
	json_decref(resp);
	snprintf(sql, sizeof(sql), "INSERT INTO ca_delivery(serial, pid, "
	    "pstart, created) VALUES ('%s', %lld, 1, 0)", a, dead_pid());
	tu_sql(f->st, sql);
	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, 0, &resp),
	    CUST_E_DB);
	assert_null(resp);
	assert_non_null(strstr(cust_errmsg(), "row ca_delivery(serial="));
	tu_sql(f->st, "DELETE FROM ca_delivery");
	(void)undelivered(f->st, a, st, sizeof(st));
	assert_string_equal(st, "valid");
	/* A real row (this live process's) with its pid changed. */
	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, CA_DELIVER,
	    &resp), CUST_OK);
	snprintf(b, sizeof(b), "%s", js(resp, "serial"));
	json_decref(resp);
	snprintf(sql, sizeof(sql), "UPDATE ca_delivery SET pid = %lld",
	    dead_pid());
	tu_sql(f->st, sql);
	assert_int_equal(ca_console_add(f->st, "t", "ops", "ecdsa-p256", 0,
	    &resp), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "was altered outside custody"));
	assert_true(undelivered(f->st, b, st, sizeof(st)));
	assert_string_equal(st, "valid");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "status = 'revoked'"), 0);
}

static void
test_delivery(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	char a[CA_SERIAL_HEXLEN], b[CA_SERIAL_HEXLEN], con[CA_SERIAL_HEXLEN];
	char st[16];

	/* Without CA_DELIVER nothing waits. */
	assert_int_equal(ca_issue(f->st, "t", F1, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	snprintf(a, sizeof(a), "%s", js(resp, "serial"));
	json_decref(resp);
	assert_false(undelivered(f->st, a, st, sizeof(st)));
	/* With it: waits until confirmed, once. */
	assert_int_equal(ca_issue(f->st, "t", F1, "ecdsa-p256", 0, CA_DELIVER,
	    &resp), CUST_OK);
	snprintf(a, sizeof(a), "%s", js(resp, "serial"));
	json_decref(resp);
	assert_true(undelivered(f->st, a, st, sizeof(st)));
	assert_int_equal(ca_delivered(f->st, "t", a, &resp), CUST_OK);
	json_decref(resp);
	assert_false(undelivered(f->st, a, st, sizeof(st)));
	assert_int_equal(ca_delivered(f->st, "t", a, &resp), CUST_E_NOTFOUND);
	assert_null(resp);
	/* This process is alive: the next issuance leaves its wait alone. */
	assert_int_equal(ca_issue(f->st, "t", F1, "ecdsa-p256", 0, CA_DELIVER,
	    &resp), CUST_OK);
	snprintf(a, sizeof(a), "%s", js(resp, "serial"));
	json_decref(resp);
	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, CA_DELIVER,
	    &resp), CUST_OK);
	snprintf(b, sizeof(b), "%s", js(resp, "serial"));
	json_decref(resp);
	assert_true(undelivered(f->st, a, st, sizeof(st)));
	assert_string_equal(st, "valid");
	/* Its process gone (killed before writing the key): revoked by the
	 * next cert issue, on the CRL; the other one waits on. */
	dead_delivery(f->st, a);
	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	json_decref(resp);
	assert_false(undelivered(f->st, a, st, sizeof(st)));
	assert_string_equal(st, "revoked");
	assert_true(undelivered(f->st, b, st, sizeof(st)));
	assert_true(ct_crl_lists(f->st, a));
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.revoke' AND detail LIKE '%undelivered%'"), 1);
	/* Revoking clears the wait. */
	assert_int_equal(ca_revoke(f->st, "t", b, NULL, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_delivery"),
	    0);
	/* A console whose key was lost: revoked, and its name free again. */
	assert_int_equal(ca_console_add(f->st, "t", "ops", "ecdsa-p256",
	    CA_DELIVER, &resp), CUST_OK);
	snprintf(con, sizeof(con), "%s", js(resp, "serial"));
	json_decref(resp);
	dead_delivery(f->st, con);
	assert_int_equal(ca_console_add(f->st, "t", "ops", "ecdsa-p256",
	    CA_DELIVER, &resp), CUST_OK);
	json_decref(resp);
	assert_false(undelivered(f->st, con, st, sizeof(st)));
	assert_string_equal(st, "revoked");
}

/* A wait whose process lives on (custodyd, for a remote CLI that died)
 * is given up after CA_DELIVERY_MAX_AGE: the next issuance revokes it. */
static void
test_delivery_abandoned(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	char a[CA_SERIAL_HEXLEN], st[16];

	assert_int_equal(ca_issue(f->st, "t", F1, "ecdsa-p256", 0, CA_DELIVER,
	    &resp), CUST_OK);
	snprintf(a, sizeof(a), "%s", js(resp, "serial"));
	json_decref(resp);
	tu_clock_to(util_now() + CA_DELIVERY_MAX_AGE - 60);
	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	json_decref(resp);
	assert_true(undelivered(f->st, a, st, sizeof(st)));
	assert_string_equal(st, "valid");
	tu_clock_to(util_now() + 120);
	assert_int_equal(ca_issue(f->st, "t", F2, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	json_decref(resp);
	assert_false(undelivered(f->st, a, st, sizeof(st)));
	assert_string_equal(st, "revoked");
	/* Delivered too late: said so. */
	assert_int_equal(ca_delivered(f->st, "t", a, &resp), CUST_E_NOTFOUND);
	util_test_clock(0, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_list_pages, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_pkcs12, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_crl, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bulk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_expiring_pages, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_device_retire, setup,
		    teardown),
		cmocka_unit_test(test_device_retire_without_ca),
		cmocka_unit_test_setup_teardown(test_console_case, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_renew_reads_in_txn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_transport_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_explicit_curve_audited,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delivery_abandoned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delivery_forged, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
