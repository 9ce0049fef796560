/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_gen.c - generations: init, the rollover state
 * machine (rotate, activate, retire), cross-certificates, the bundle and
 * its version, CRLs made again before nextUpdate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "ca.h"
#include "err.h"
#include "catest.h"

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

/* Does the chain in pem verify against the bundle in bundle (OpenSSL)? */
static int
verifies(const char *bundle, const char *pem)
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
	ERR_clear_error();
	X509_STORE_CTX_init(ctx, store, leaf, chain);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return ok;
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
	assert_int_equal(ca_crl(f->st, "t", 1, 0, &resp), CUST_E_NOTFOUND);
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
	/* Both CRLs near their nextUpdate: made again, numbers grow. */
	tu_sql(f->st, "UPDATE ca_gen SET crl_next = strftime('%s','now') + "
	    "60, root_crl_next = strftime('%s','now') + 60");
	assert_int_equal(ca_crl_refresh(f->st, "t", &made), CUST_OK);
	assert_int_equal(made, 2);
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "number")),
	    n1 + 1);
	json_decref(resp);
	/* Reading a due CRL makes it again, too. */
	tu_sql(f->st, "UPDATE ca_gen SET crl_next = 0");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rollover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl_refresh, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
