/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_gen.c - generations: init, the rollover state
 * machine (rotate, activate, retire), cross-certificates, the bundle and
 * its version, CRLs made again before nextUpdate, the service certificate
 * and its files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <sodium.h>

#include "ca.h"
#include "err.h"
#include "ops.h"
#include "util.h"
#include "catest.h"
#include "ca/ca_int.h"

#define F1 "amt1.corp.example"

struct fx {
	struct cust_state *st;
	char *dir;
	char *csr;
	size_t len;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->st = ct_ca_state(&f->dir, "ecdsa-p256");
	ct_device(f->st, F1);
	f->csr = ct_csr("EC", 0, "P-256", F1, &f->len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tu_state_free(f->st, f->dir);
	free(f->csr);
	free(f);
	return 0;
}

static const char *
state_of(struct fx *f, int gen, json_t **keep)
{
	json_t *g;

	json_decref(*keep);
	assert_int_equal(ca_show(f->st, keep), CUST_OK);
	g = json_array_get(json_object_get(*keep, "generations"),
	    (size_t)gen - 1);
	return json_string_value(json_object_get(g, "state"));
}

/* Does the chain in pem verify against the bundle in bundle (OpenSSL)?
 * With crls (PEM, may be NULL), every certificate of the path is checked
 * against them. At util_now(). */
static int
verifies_crl(const char *bundle, const char *pem, const char *crls)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(bundle, -1);
	X509 *x, *leaf = NULL;
	int ok;

	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_STORE_add_cert(store, x);
		X509_free(x);
	}
	BIO_free(b);
	b = BIO_new_mem_buf(pem, -1);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (leaf == NULL)
			leaf = x;
		else
			sk_X509_push(chain, x);
	}
	BIO_free(b);
	if (crls != NULL) {
		X509_CRL *crl;

		b = BIO_new_mem_buf(crls, -1);
		while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) !=
		    NULL) {
			X509_STORE_add_crl(store, crl);
			X509_CRL_free(crl);
		}
		BIO_free(b);
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
		    X509_V_FLAG_CRL_CHECK_ALL);
	}
	ERR_clear_error();
	X509_STORE_CTX_init(ctx, store, leaf, chain);
	/* At the test's clock (tu_clock_to()). */
	X509_STORE_CTX_set_time(ctx, 0, (time_t)util_now());
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}

static int
verifies(const char *bundle, const char *pem)
{
	return verifies_crl(bundle, pem, NULL);
}

/* Is serial listed on CRL (gen, root)? */
static int
crl_lists(struct fx *f, int64_t gen, int root, const char *serial)
{
	json_t *crl = NULL, *v;
	size_t i;
	int found = 0;

	assert_int_equal(ca_crl(f->st, "t", gen, root, &crl), CUST_OK);
	json_array_foreach(json_object_get(crl, "serials"), i, v)
		found |= strcmp(json_string_value(v), serial) == 0;
	json_decref(crl);
	return found;
}

/* Every CRL as one PEM string (new). */
static char *
all_crls(struct fx *f)
{
	json_t *all = NULL, *one;
	size_t i, len = 0;
	char *pem = calloc(1, 1);

	assert_int_equal(ca_crl_all(f->st, "t", &all), CUST_OK);
	json_array_foreach(json_object_get(all, "crls"), i, one) {
		const char *p = json_string_value(json_object_get(one, "pem"));
		char *grown = realloc(pem, len + strlen(p) + 1);

		assert_non_null(grown);
		pem = grown;
		memcpy(pem + len, p, strlen(p) + 1);
		len += strlen(p);
	}
	json_decref(all);
	return pem;
}

/* A member of a member of generation gen in ca show. */
static const char *
gen_member(json_t *show, int gen, const char *cert, const char *key)
{
	return json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(show, "generations"),
	    (size_t)gen - 1), cert), key));
}

/* The PEM of a certificate by serial (new string). */
static char *
cert_pem(struct fx *f, const char *serial)
{
	json_t *o = NULL;
	char *pem;

	assert_int_equal(ca_cert_show(f->st, serial, &o), CUST_OK);
	pem = strdup(json_string_value(json_object_get(o, "certificate")));
	json_decref(o);
	return pem;
}

static void
test_init_once(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;

	assert_int_equal(ca_init(f->st, NULL, "t", &resp), CUST_E_EXISTS);
	assert_null(resp);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_gen"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind IN ('server', 'admin')"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'ca.init'"), 1);
}

static void
test_rollover(void **state)
{
	struct fx *f = *state;
	json_t *show = NULL, *b1 = NULL, *b2 = NULL, *c1 = NULL, *c2 = NULL;
	json_t *resp = NULL, *opts;
	const char *bundle1;

	assert_string_equal(state_of(f, 1, &show), "active");
	assert_int_equal(ca_bundle(f->st, &b1), CUST_OK);
	bundle1 = json_string_value(json_object_get(b1, "pem"));
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr, f->len, 0, &c1),
	    CUST_OK);
	assert_true(verifies(bundle1, json_string_value(json_object_get(c1,
	    "chain"))));
	/* Nothing to activate or retire yet. */
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_E_CONFLICT);
	assert_int_equal(ca_retire(f->st, "t", 0, &resp), CUST_E_CONFLICT);
	/* Rotate to a different key type. */
	opts = json_pack("{s:s}", "key_type", "ecdsa-p384");
	assert_int_equal(ca_rotate(f->st, "t", opts, &resp), CUST_OK);
	json_decref(opts);
	assert_string_equal(json_string_value(json_object_get(resp,
	    "key_type")), "ecdsa-p384");
	assert_non_null(json_object_get(resp, "cross_up"));
	json_decref(resp);
	assert_string_equal(state_of(f, 2, &show), "next");
	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_E_CONFLICT);
	assert_int_equal(ca_bundle(f->st, &b2), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(b2, "generations")),
	    2);
	assert_string_not_equal(json_string_value(json_object_get(b1,
	    "version")), json_string_value(json_object_get(b2, "version")));
	/* Still issued under generation 1, and valid against the bundle. */
	assert_true(verifies(json_string_value(json_object_get(b2, "pem")),
	    json_string_value(json_object_get(c1, "chain"))));
	json_decref(c1);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr, f->len, 0, &c1),
	    CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(c1,
	    "generation")), 1);
	/* Activate: new certificates come from generation 2, with the
	 * cross-certificate so the old root alone verifies them too. */
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_OK);
	json_decref(resp);
	assert_string_equal(state_of(f, 1, &show), "previous");
	assert_string_equal(state_of(f, 2, &show), "active");
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr, f->len, 0, &c2),
	    CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(c2,
	    "generation")), 2);
	assert_true(verifies(json_string_value(json_object_get(b2, "pem")),
	    json_string_value(json_object_get(c2, "chain"))));
	assert_true(verifies(bundle1, json_string_value(json_object_get(c2,
	    "chain"))));
	/* The service's own certificates moved; the old ones superseded. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind IN ('server', 'admin') AND status = 'valid' AND gen = 2"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind IN ('server', 'admin') AND status = 'revoked' AND gen = 1 "
	    "AND reason = 4"), 2);
	/* Retire: refused while generation 1 certificates are valid. */
	assert_int_equal(ca_retire(f->st, "t", 0, &resp), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "2 certificates issued under "
	    "generation 1 are still valid"));
	assert_string_equal(state_of(f, 1, &show), "previous");
	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_E_CONFLICT);
	/* Forced: they are revoked (superseded) and the root leaves. */
	assert_int_equal(ca_retire(f->st, "t", 1, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "revoked")),
	    2);
	json_decref(resp);
	assert_string_equal(state_of(f, 1, &show), "retired");
	json_decref(b2);
	assert_int_equal(ca_bundle(f->st, &b2), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(b2, "generations")),
	    1);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(b2,
	    "generations"), 0)), 2);
	assert_true(verifies(json_string_value(json_object_get(b2, "pem")),
	    json_string_value(json_object_get(c2, "chain"))));
	/* Regression: the retired generation no longer chains to the new
	 * root through the cross-certificate (revoked, on the new root's
	 * published CRL), and what --force revoked is on a CRL that is still
	 * served (the final one of generation 1). */
	{
		char *crls = all_crls(f), *down, *chain;
		const char *cd_serial = gen_member(show, 2, "cross_down",
		    "serial");

		assert_string_equal(gen_member(show, 2, "cross_down",
		    "status"), "revoked");
		assert_string_equal(gen_member(show, 2, "cross_up", "status"),
		    "revoked");
		assert_true(crl_lists(f, 2, 1, cd_serial));
		assert_true(crl_lists(f, 1, 1, gen_member(show, 2, "cross_up",
		    "serial")));
		assert_true(crl_lists(f, 1, 0, json_string_value(
		    json_object_get(c1, "serial"))));
		down = cert_pem(f, cd_serial);
		assert_true(asprintf(&chain, "%s%s", json_string_value(
		    json_object_get(c1, "chain")), down) > 0);
		assert_false(verifies_crl(json_string_value(json_object_get(b2,
		    "pem")), chain, crls));
		/* The active generation still verifies with CRLs checked. */
		assert_true(verifies_crl(json_string_value(json_object_get(b2,
		    "pem")), json_string_value(json_object_get(c2, "chain")),
		    crls));
		free(chain);
		free(down);
		free(crls);
	}
	/* Its final CRL outlives the regular period: its keys are gone. */
	assert_true(ct_count(f->st, "SELECT crl_next - strftime('%s','now') "
	    "FROM ca_gen WHERE gen = 1") > 365 * 86400);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_key WHERE "
	    "gen = 1"), 0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_key WHERE "
	    "gen = 2"), 2);
	/* Nothing of a retired generation can be revoked any more. */
	assert_int_equal(ca_revoke(f->st, "t", gen_member(show, 1, "issuing",
	    "serial"), "cACompromise", &resp), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "retired"));
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action IN ('ca.rotate', 'ca.activate', 'ca.retire') AND result = "
	    "'ok'"), 3);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action IN ('ca.rotate', 'ca.activate', 'ca.retire') AND result = "
	    "'refused'"), 5);
	/* And the next rotation can begin. */
	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "generation")), 3);
	json_decref(resp);
	json_decref(show);
	json_decref(b1);
	json_decref(b2);
	json_decref(c1);
	json_decref(c2);
}

static void
test_crl_refresh(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	long long n1;
	size_t made = 0;

	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	n1 = json_integer_value(json_object_get(resp, "number"));
	json_decref(resp);
	/* Nothing due. */
	assert_int_equal(ca_crl_refresh(f->st, "t", &made), CUST_OK);
	assert_int_equal(made, 0);
	/* Time moves on to a minute before the later nextUpdate of the two
	 * CRLs: both are due, made again, numbers grow. */
	tu_clock_to(ct_count(f->st, "SELECT max(crl_next, root_crl_next) "
	    "FROM ca_gen WHERE gen = 1") - 60);
	assert_int_equal(ca_crl_refresh(f->st, "t", &made), CUST_OK);
	assert_int_equal(made, 2);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "number")),
	    n1 + 1);
	json_decref(resp);
	/* Regression: reading a due CRL made it again (a read that signs).
	 * It is served as stored; the refresh makes it (time moves past
	 * the nextUpdate of both, made together above). */
	tu_clock_to(ct_count(f->st, "SELECT crl_next FROM ca_gen WHERE "
	    "gen = 1") + 60);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "number")),
	    n1 + 1);
	json_decref(resp);
	assert_int_equal(ca_crl_refresh(f->st, "t", &made), CUST_OK);
	assert_int_equal(made, 2);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "number")),
	    n1 + 2);
	json_decref(resp);
	assert_int_equal(ca_crl(f->st, "t", 1, 1, &resp), CUST_OK);
	assert_non_null(strstr(json_string_value(json_object_get(resp,
	    "issuer")), "Root CA G1"));
	json_decref(resp);
	assert_int_equal(ca_crl(f->st, "t", 7, 0, &resp), CUST_E_NOTFOUND);
}

/* Regression: ca_show() read at most 16 generations, so the newest ones
 * disappeared after 15 rotations. */
static void
test_show_all_generations(void **state)
{
	struct fx *f = *state;
	json_t *show = NULL, *gens;

	/* Twenty retired copies of generation 1 (as 2..21), then the active
	 * one renumbered last. */
	tu_sql_mac(f->st, "WITH RECURSIVE k(n) AS (SELECT 2 UNION ALL SELECT n + 1 "
	    "FROM k WHERE n < 21) INSERT INTO ca_gen(gen, state, key_type, "
	    "digest, root_cert, issuing_cert, created) SELECT n, 'retired', "
	    "key_type, digest, root_cert, issuing_cert, created FROM ca_gen, k "
	    "WHERE gen = 1");
	tu_sql_mac(f->st, "UPDATE ca_gen SET gen = 22 WHERE gen = 1");
	assert_int_equal(ca_show(f->st, &show), CUST_OK);
	gens = json_object_get(show, "generations");
	assert_int_equal(json_array_size(gens), 21);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    gens, 20), "generation")), 22);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    gens, 20), "state")), "active");
	json_decref(show);
}

/* Regression: the issuing CA could be revoked (cACompromise) and went on
 * issuing. Now nothing is issued under it (refused, audited) until a new
 * generation is active. */
static void
test_issuing_revoked(void **state)
{
	struct fx *f = *state;
	json_t *show = NULL, *resp = NULL;
	long long refused;

	assert_int_equal(ca_show(f->st, &show), CUST_OK);
	assert_int_equal(ca_revoke(f->st, "t", gen_member(show, 1, "issuing",
	    "serial"), "cACompromise", &resp), CUST_OK);
	json_decref(resp);
	assert_true(crl_lists(f, 1, 1, gen_member(show, 1, "issuing",
	    "serial")));
	refused = ct_count(f->st, "SELECT count(*) FROM audit WHERE result = "
	    "'refused'");
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr, f->len, 0,
	    &resp), CUST_E_CONFLICT);
	assert_null(resp);
	assert_non_null(strstr(cust_errmsg(), "ca rotate"));
	assert_int_equal(ca_issue(f->st, "t", F1, NULL, 0, 0, &resp),
	    CUST_E_CONFLICT);
	assert_int_equal(ca_console_add(f->st, "t", "ops", NULL, 0, &resp),
	    CUST_E_CONFLICT);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "result = 'refused' AND action IN ('cert.sign', 'cert.issue', "
	    "'console.add')"), refused + 3);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind IN ('device', 'console')"), 0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM console"), 0);
	/* The way out: a new generation. */
	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_sign_csr(f->st, "t", F1, f->csr, f->len, 0,
	    &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "generation")), 2);
	json_decref(resp);
	json_decref(show);
}

/* The service certificate is renewed within before seconds of its
 * notAfter, not earlier, and once: a new key and certificate under the
 * active generation on disk (verifying against the bundle), the old one
 * revoked (superseded) and listed on the CRL, audited as the actor. */
static void
test_server_renew(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	char *bpath = util_path(f->dir, "ca/bundle.pem"), *bundle = NULL;
	char *pem = NULL, *old_serial;
	X509 *before = ct_server_pair(f->dir, NULL), *after;
	long long na = ct_count(f->st, "SELECT not_after FROM cert WHERE "
	    "kind = 'server' AND status = 'valid'");
	size_t len = 0;
	sqlite3_stmt *s = NULL;

	assert_int_equal(sqlite3_prepare_v2(store_db(state_store(f->st)),
	    "SELECT serial FROM cert WHERE kind = 'server'", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	old_serial = strdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	/* Outside the window: nothing. */
	tu_clock_to(na - 31 * 86400);
	assert_int_equal(ca_server_renew(f->st, "sched", 30 * 86400, &resp),
	    CUST_OK);
	assert_false(json_is_true(json_object_get(resp, "renewed")));
	json_decref(resp);
	after = ct_server_pair(f->dir, NULL);
	assert_int_equal(X509_cmp(before, after), 0);
	X509_free(after);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server'"), 1);
	/* Inside: renewed once. */
	tu_clock_to(na - 29 * 86400);
	assert_int_equal(ca_server_renew(f->st, "sched", 30 * 86400, &resp),
	    CUST_OK);
	assert_true(json_is_true(json_object_get(resp, "renewed")));
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "superseded")), 1);
	json_decref(resp);
	assert_int_equal(ca_server_renew(f->st, "sched", 30 * 86400, &resp),
	    CUST_OK);
	assert_false(json_is_true(json_object_get(resp, "renewed")));
	json_decref(resp);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server'"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server' AND status = 'valid' AND gen = 1"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server' AND status = 'revoked' AND reason = 4"),
	    1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor = 'sched' AND action = 'ca.server-renew' AND result = "
	    "'ok'"), 1);
	assert_true(crl_lists(f, 1, 0, old_serial));
	/* Nothing staged is left, no reservation either. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 0);
	{
		char *tls = util_path(f->dir, "tls");

		assert_int_equal(tu_count_names(tls, ".new."), 0);
		free(tls);
	}
	after = ct_server_pair(f->dir, &pem);
	assert_int_not_equal(X509_cmp(before, after), 0);
	assert_int_equal(util_read_file(bpath, 1 << 20, &bundle, &len),
	    CUST_OK);
	assert_true(verifies(bundle, pem));
	X509_free(after);
	/* Forced (before < 0): renewed whatever the date. */
	assert_int_equal(ca_server_renew(f->st, "t", -1, &resp), CUST_OK);
	assert_true(json_is_true(json_object_get(resp, "renewed")));
	json_decref(resp);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server' AND status = 'valid'"), 1);
	X509_free(before);
	free(old_serial);
	free(bundle);
	free(bpath);
	free(pem);
}

/* Regression: a file write failing after the commit of ca rotate
 * --activate left the new generation active with its new service key
 * lost. The files are now written before the commit: the activation is
 * rolled back instead. */
static void
test_activate_files_first(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL, *show = NULL;
	char *tls = util_path(f->dir, "tls"), *aside, *key;

	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_OK);
	json_decref(resp);
	assert_true(asprintf(&aside, "%s.aside", tls) > 0);
	assert_int_equal(rename(tls, aside), 0);
	assert_int_equal(util_write_file(tls, "x\n", 2, 0644), CUST_OK);
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_E_IO);
	assert_null(resp);
	assert_string_equal(state_of(f, 2, &show), "next");
	assert_string_equal(state_of(f, 1, &show), "active");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "kind = 'server' AND status = 'valid' AND gen = 1"), 1);
	/* The serials it reserved are released. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 0);
	/* Nothing staged is left behind in the public directory. */
	key = util_path(f->dir, "ca");
	assert_int_equal(tu_count_names(key, ".new."), 0);
	free(key);
	assert_int_equal(unlink(tls), 0);
	assert_int_equal(rename(aside, tls), 0);
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_OK);
	json_decref(resp);
	assert_string_equal(state_of(f, 2, &show), "active");
	/* The key on disk belongs to the certificate on disk. */
	{
		char issuer[256];
		X509 *x = ct_server_pair(f->dir, NULL);

		X509_NAME_oneline(X509_get_issuer_name(x), issuer,
		    sizeof(issuer));
		assert_non_null(strstr(issuer, "Issuing CA G2"));
		X509_free(x);
	}
	json_decref(show);
	free(aside);
	free(tls);
}

/* The CN of the valid service certificate, or "" when it has none;
 * *crit_out: its SAN is critical. */
static void
server_cn(struct cust_state *st, char *cn, size_t len, int *crit_out)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *p;
	X509 *x;
	int i;

	assert_int_equal(sqlite3_prepare_v2(store_db(state_store(st)),
	    "SELECT der "
	    "FROM cert WHERE kind = 'server' AND status = 'valid'", -1, &s,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	p = sqlite3_column_blob(s, 0);
	x = d2i_X509(NULL, &p, sqlite3_column_bytes(s, 0));
	sqlite3_finalize(s);
	assert_non_null(x);
	cn[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
	    (int)len);
	i = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
	assert_true(i >= 0);
	*crit_out = X509_EXTENSION_get_critical(X509_get_ext(x, i));
	X509_free(x);
}

/* Init a CA with server_names (a JSON array, consumed); the CN of its
 * service certificate into cn and whether its SAN is critical. */
static int
init_names(json_t *names, char *cn, size_t len)
{
	struct cust_state *st;
	json_t *opts, *resp = NULL;
	char *dir = NULL;
	int crit = 0;

	st = tu_state_new(&dir);
	opts = json_pack("{s:s, s:o}", "key_type", "ecdsa-p256",
	    "server_names", names);
	assert_int_equal(ca_init(st, opts, "t", &resp), CUST_OK);
	json_decref(opts);
	json_decref(resp);
	server_cn(st, cn, len, &crit);
	tu_state_free(st, dir);
	return crit;
}

/* Regression: when the first server name was an IP address (or over 64
 * characters) the service certificate got CN=localhost, a name its SAN
 * did not hold. */
static void
test_server_names(void **state)
{
	char cn[128];

	(void)state;
	/* jansson's allocator first (tu_state_new() sets it too, later). */
	assert_int_equal(cust_init(), CUST_OK);
	assert_false(init_names(json_pack("[s, s, s]", "10.0.0.1",
	    "custody.corp.example", "other.example"), cn, sizeof(cn)));
	assert_string_equal(cn, "custody.corp.example");
	/* Only addresses: no CN, and the SAN (which names the service) is
	 * critical. */
	assert_true(init_names(json_pack("[s, s]", "10.0.0.1", "::1"), cn,
	    sizeof(cn)));
	assert_string_equal(cn, "");
}

static long long
crl_number(struct fx *f)
{
	return ct_count(f->st, "SELECT crl_number FROM ca_gen WHERE gen = 1");
}

/* Regression: every CA operation made due CRLs again, reads included
 * (cert list, ca bundle...): a read took the write lock and signed, and
 * two readers could each sign one. Reads serve the stored CRL; writes and
 * `ca crl --refresh` make due ones again. */
static void
test_crl_refresh_on_use(void **state)
{
	static const char *const reads[] = { "cert.list", "ca.bundle",
	    "ca.show", "ca.crl", "console.list" };
	struct fx *f = *state;
	struct ops_ctx ctx;
	json_t *req = json_object(), *resp = NULL;
	long long n1, made0;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.st = f->st;
	ctx.who = tu_local();
	n1 = crl_number(f);
	made0 = ct_count(f->st, "SELECT count(*) FROM audit WHERE action = "
	    "'ca.crl' AND result = 'ok'");
	/* Overdue (time moves past its nextUpdate): no read makes it
	 * again. */
	tu_clock_to(ct_count(f->st, "SELECT crl_next FROM ca_gen WHERE "
	    "gen = 1") + 60);
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		assert_int_equal(ops_call(&ctx, reads[i], req, &resp),
		    CUST_OK);
		json_decref(resp);
		assert_int_equal(crl_number(f), n1);
	}
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'ca.crl' AND result = 'ok'"), made0);
	/* The explicit refresh is a write: not for an auditor. */
	json_object_set_new(req, "refresh", json_true());
	{
		struct ops_identity *aud = NULL;

		assert_int_equal(ops_identity_new(OPS_ID_AUDITOR, "aud", &aud),
		    CUST_OK);
		ctx.who = aud;
		assert_int_equal(ops_call(&ctx, "ca.crl", req, &resp),
		    CUST_E_DENIED);
		assert_null(resp);
		ctx.who = tu_local();
		ops_identity_free(aud);
		assert_int_equal(crl_number(f), n1);
		assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit "
		    "WHERE action = 'ca.crl' AND result = 'denied'"), 1);
	}
	/* The explicit refresh makes it, once. */
	assert_int_equal(ops_call(&ctx, "ca.crl", req, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "number")),
	    n1 + 1);
	json_decref(resp);
	assert_int_equal(crl_number(f), n1 + 1);
	assert_true(ct_count(f->st, "SELECT crl_next FROM ca_gen WHERE "
	    "gen = 1") - util_now() > 6 * 86400);
	assert_int_equal(ops_call(&ctx, "ca.crl", req, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(crl_number(f), n1 + 1);
	json_decref(req);
	/* A write (cert sign) makes a due one again before it runs (time
	 * moves to a minute before its nextUpdate). */
	tu_clock_to(ct_count(f->st, "SELECT crl_next FROM ca_gen WHERE "
	    "gen = 1") - 60);
	req = json_pack("{s:s, s:s}", "fqdn", F1, "csr", f->csr);
	assert_int_equal(ops_call(&ctx, "cert.sign", req, &resp), CUST_OK);
	json_decref(resp);
	json_decref(req);
	assert_int_equal(crl_number(f), n1 + 2);
	/* Two refreshes, each making the issuing and the root CRL (time
	 * moves for both: they were made together). */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'ca.crl' AND result = 'ok'"), made0 + 4);
}

/* Regression: the refresh decided "due" outside its transaction, so two
 * processes that both read it due both signed a CRL. Two handles on one
 * state directory, both acting on the same (now stale) decision: one new
 * CRL number. */
static void
test_crl_refresh_race(void **state)
{
	struct fx *f = *state;
	struct cust_state *other = NULL;
	long long n1 = crl_number(f);
	int made = 0;

	/* The fixture's state came from init (exclusive lock): reopen. */
	state_close(f->st);
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_int_equal(state_open(f->dir, &other), CUST_OK);
	tu_clock_to(ct_count(f->st, "SELECT crl_next FROM ca_gen WHERE "
	    "gen = 1") - 60);
	assert_int_equal(ca_crl_refresh_gen(f->st, "a", 1, 0, CA_CRL_MARGIN,
	    &made), CUST_OK);
	assert_int_equal(made, 1);
	assert_int_equal(ca_crl_refresh_gen(other, "b", 1, 0, CA_CRL_MARGIN,
	    &made), CUST_OK);
	assert_int_equal(made, 0);
	assert_int_equal(crl_number(f), n1 + 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'ca.crl' AND actor = 'b'"), 0);
	state_close(other);
}

static int ca_gen_reads;

static int
trace_ca_gen(unsigned type, void *ctx, void *p, void *x)
{
	const char *sql = sqlite3_sql(p);

	if (sql != NULL && strstr(sql, "FROM ca_gen") != NULL)
		ca_gen_reads++;
	return 0;
}

static size_t
bundle_gens(struct cust_state *st, json_t **keep)
{
	json_t *b = NULL;
	size_t n;

	assert_int_equal(ca_bundle(st, &b), CUST_OK);
	n = json_array_size(json_object_get(b, "generations"));
	if (keep != NULL)
		*keep = b;
	else
		json_decref(b);
	return n;
}

/* Cross-process freshness: a state keeps the bundle it made (every
 * console fetches it) and must notice a change committed by another
 * process before serving it again. Two handles on one state directory;
 * the other one rotates the CA. */
static void
test_bundle_fresh_across_handles(void **state)
{
	struct fx *f = *state;
	struct cust_state *other = NULL;
	struct store_stamp s0;
	json_t *b1 = NULL, *b2 = NULL, *resp = NULL;
	static const char v[] = "1";

	state_close(f->st);
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_int_equal(state_open(f->dir, &other), CUST_OK);
	/* The stamp: unchanged by reads, changed by another handle's
	 * commit and by this handle's own changes. */
	assert_int_equal(store_stamp(state_store(f->st), &s0), CUST_OK);
	assert_int_equal(bundle_gens(f->st, &b1), 1);
	assert_true(store_stamp_unchanged(state_store(f->st), &s0));
	assert_int_equal(store_meta_set(state_store(other), "test.other", v, 1),
	    CUST_OK);
	assert_false(store_stamp_unchanged(state_store(f->st), &s0));
	assert_int_equal(store_stamp(state_store(f->st), &s0), CUST_OK);
	assert_int_equal(store_meta_set(state_store(f->st), "test.own", v, 1),
	    CUST_OK);
	assert_false(store_stamp_unchanged(state_store(f->st), &s0));
	/* Unchanged store: the bundle is served from the cache. */
	assert_int_equal(bundle_gens(f->st, NULL), 1);
	ca_gen_reads = 0;
	sqlite3_trace_v2(store_db(state_store(f->st)), SQLITE_TRACE_STMT,
	    trace_ca_gen, NULL);
	assert_int_equal(bundle_gens(f->st, NULL), 1);
	assert_int_equal(ca_gen_reads, 0);
	/* Another process starts a rollover: seen at once. */
	assert_int_equal(ca_rotate(other, "t", NULL, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(bundle_gens(f->st, &b2), 2);
	assert_true(ca_gen_reads > 0);
	sqlite3_trace_v2(store_db(state_store(f->st)), 0, NULL, NULL);
	assert_string_not_equal(json_string_value(json_object_get(b1,
	    "version")), json_string_value(json_object_get(b2, "version")));
	/* And a change made through this handle, too. */
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_retire(f->st, "t", 1, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(bundle_gens(other, NULL), 1);
	assert_int_equal(bundle_gens(f->st, NULL), 1);
	json_decref(b1);
	json_decref(b2);
	state_close(other);
}

/* Staged names: FINAL.new.PID-START-HEX16, or the temporary file one was
 * written through (.FINAL.new.TOKEN.tmp.PID); nothing else. */
static void
test_staged_names(void **state)
{
	long long pid, start;

	(void)state;
	assert_true(ca_files_staged_owner("server.key.new.123-456-"
	    "0123456789abcdef", &pid, &start));
	assert_true(pid == 123 && start == 456);
	assert_true(ca_files_staged_owner(".server.key.new.77--1-"
	    "0123456789abcdef.tmp.77", &pid, &start));
	assert_true(pid == 77 && start == -1);
	assert_false(ca_files_staged_owner("server.key", &pid, &start));
	assert_false(ca_files_staged_owner("server.key.new.0123456789abcdef",
	    &pid, &start));	/* an old token names no process */
	assert_false(ca_files_staged_owner("server.key.new.1-2-0123456789abcdef"
	    "x", &pid, &start));
	assert_false(ca_files_staged_owner("server.key.new.1-2-0123456789abcdef"
	    ".tmp.1", &pid, &start));	/* not hidden: not ours */
	assert_false(ca_files_staged_owner("server.key.new.0-2-0123456789abcdef",
	    &pid, &start));
	assert_false(ca_files_staged_owner(".new.1-2-0123456789abcdef", &pid,
	    &start));
}

/*
 * ca rotate --activate killed between staging its files and its commit:
 * the new service certificates (signed by generation 2) and their keys
 * are left staged. Their serials were reserved first, so the store knows
 * them; the next CA change removes what that dead process staged - not
 * what a live one is staging - and records the staged certificates as
 * revoked.
 */
static void
test_activate_killed(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL, *show = NULL;
	char *tls = util_path(f->dir, "tls"), *adm = util_path(f->dir, "admin");
	char live[128], *livepath;
	pid_t pid;
	int ws = 0;

	/* The fixture's state came from init (exclusive lock): reopen. */
	state_close(f->st);
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_OK);
	json_decref(resp);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cust_state *st = NULL;

		/* libsodium's generator refuses a forked child until stirred. */
		randombytes_stir();
		setenv("CUSTODY_TEST_CRASH_AT", "ca-staged", 1);
		if (state_open(f->dir, &st) != CUST_OK)
			_exit(1);
		_exit(ca_activate(st, "t", &resp) == CUST_OK ? 2 : 3);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 99);
	assert_int_equal(tu_count_names(tls, ".new."), 2);
	assert_int_equal(tu_count_names(adm, ".new."), 2);
	assert_string_equal(state_of(f, 2, &show), "next");
	assert_int_equal(json_integer_value(json_object_get(show,
	    "unrecorded_serials")), 2);
	/* A live process (this one) staging a file of its own. */
	snprintf(live, sizeof(live), "tls/server.crt.new.%lld-%lld-"
	    "0123456789abcdef", (long long)getpid(),
	    util_proc_start((long long)getpid()));
	livepath = util_path(f->dir, live);
	assert_int_equal(util_write_file(livepath, "x\n", 2, 0644), CUST_OK);
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_OK);
	json_decref(resp);
	assert_string_equal(state_of(f, 2, &show), "active");
	assert_int_equal(json_integer_value(json_object_get(show,
	    "unrecorded_serials")), 0);
	assert_int_equal(tu_count_names(tls, ".new."), 1);
	assert_int_equal(access(livepath, F_OK), 0);
	assert_int_equal(tu_count_names(adm, ".new."), 0);
	/* The two staged certificates: recorded, revoked, audited. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "gen = 2 AND kind IN ('server', 'admin') AND status = 'revoked' "
	    "AND reason = 5"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "gen = 2 AND kind IN ('server', 'admin') AND status = 'valid'"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'ca.recover'"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 0);
	assert_int_equal(ca_crl(f->st, "t", 2, 0, &resp), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "serials")), 2);
	json_decref(resp);
	unlink(livepath);
	free(livepath);
	json_decref(show);
	free(tls);
	free(adm);
}

/*
 * A process that chose generation 1 as its issuer just before another
 * activated generation 2 and retired 1 (destroying its keys) finds the
 * key gone when it signs: a refusal to ask again (CUST_E_CONFLICT,
 * audited "refused"), not "damaged or altered" (exit 5, audited as a
 * failure). A key missing from a generation that is not retired is still
 * damage.
 */
static void
test_issuer_retired_meanwhile(void **state)
{
	struct fx *f = *state;
	struct ca_issuer is;
	struct ca_leaf lf;
	char hex[1][CA_SERIAL_HEXLEN];
	EVP_PKEY *key = ct_key("EC", 0, "P-256");
	json_t *resp = NULL;
	X509 *x = NULL;
	void *sess = NULL;

	assert_int_equal(ca_issuer_open(f->st, "t", "cert.issue", "device:x",
	    &is), CUST_OK);
	assert_int_equal(is.g->gen, 1);
	assert_int_equal(ca_rotate(f->st, "t", NULL, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_activate(f->st, "t", &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_retire(f->st, "t", 1, &resp), CUST_OK);
	json_decref(resp);
	memset(&lf, 0, sizeof(lf));
	lf.kind = "device";
	lf.holder = F1;
	lf.cn = F1;
	lf.eku = "serverAuth";
	lf.days = 30;
	lf.actor = "t";
	lf.action = "cert.issue";
	lf.pub = key;
	assert_int_equal(ca_leaf_presign(f->st, &is, &lf, hex, &x),
	    CUST_E_CONFLICT);
	assert_null(x);
	assert_non_null(strstr(cust_errmsg(), "retired meanwhile"));
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.issue' AND result = 'refused' AND detail LIKE "
	    "'%retired meanwhile%'"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "result = 'failed'"), 0);
	ca_issuer_close(&is);
	EVP_PKEY_free(key);
	/* The active generation's key removed by hand: damage. */
	tu_sql(f->st, "DELETE FROM ca_key WHERE gen = 2 AND role = 'issuing'");
	assert_int_equal(ca_signer()->open(f->st, 2, "issuing", &sess),
	    CUST_E_DB);
	assert_null(sess);
	assert_non_null(strstr(cust_errmsg(), "missing from the store"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rollover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issuer_retired_meanwhile,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl_refresh, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_show_all_generations,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_issuing_revoked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_renew, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_activate_files_first,
		    setup, teardown),
		cmocka_unit_test(test_staged_names),
		cmocka_unit_test_setup_teardown(test_activate_killed, setup,
		    teardown),
		cmocka_unit_test(test_server_names),
		cmocka_unit_test_setup_teardown(test_crl_refresh_on_use,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl_refresh_race,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bundle_fresh_across_handles,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
