/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_signer.c - the signer seam: CA keys are sealed and
 * bound to their generation and role; a replacement signer sees every
 * session closed; a failing signer issues nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "err.h"
#include "catest.h"

#define FQDN "amt1.corp.example"

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
	ct_device(f->st, FQDN);
	f->csr = ct_csr("EC", 0, "P-256", FQDN, &f->len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	ca_set_signer(NULL);
	tu_state_free(f->st, f->dir);
	free(f->csr);
	free(f);
	return 0;
}

static long long
ncerts(struct fx *f)
{
	return ct_count(f->st, "SELECT count(*) FROM cert WHERE kind = "
	    "'device'");
}

static void
test_keys_sealed(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;

	/* Two keys of generation 1, neither holding a DER private key. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_key WHERE "
	    "gen = 1"), 2);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_key WHERE "
	    "instr(sealed, X'3077020101') > 0"), 0);	/* ECPrivateKey */
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	/* Swap the two sealed keys: their rows' MACs (and the associated
	 * data of the sealed keys) no longer match, so nothing can be signed.
	 * The store is damaged (exit 5, not 1) and the failure is audited,
	 * not rolled back with the rest. */
	tu_sql(f->st, "UPDATE ca_key SET gen = 9 WHERE role = 'root';"
	    "UPDATE ca_key SET role = 'root' WHERE role = 'issuing';"
	    "UPDATE ca_key SET gen = 1, role = 'issuing' WHERE gen = 9;");
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_E_DB);
	assert_int_equal(cust_exit_code(CUST_E_DB), CUST_EXIT_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(),
	    "row ca_key(gen=1, role=issuing)"));
	assert_null(resp);
	assert_int_equal(ncerts(f), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.sign' AND result = 'failed' AND detail LIKE "
	    "'%ca_key(gen=1, role=issuing)%'"), 1);
	/* A missing key: an error, never a new key. */
	tu_sql(f->st, "DELETE FROM ca_key");
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_E_DB);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_key"), 0);
	assert_int_equal(ncerts(f), 1);
}

/* A certificate that does not carry its key's public key (here the
 * generation's root put in the issuing CA's place, the row MAC'd as if
 * custody had written it): the issuing key does not sign under it. */
static void
test_key_matches_cert(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;

	tu_sql_mac(f->st, "UPDATE ca_gen SET issuing_cert = root_cert "
	    "WHERE gen = 1");
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_E_DB);
	assert_null(resp);
	assert_non_null(strstr(cust_errmsg(), "does not match its sealed "
	    "private key"));
	assert_int_equal(ncerts(f), 0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.sign' AND result = 'failed'"), 1);
}

/* A signer that wraps the sealed one, counts sessions and can fail. */
static int opens, closes, signs, fail_sign, fail_open;

static int
w_keygen(struct cust_state *st, int64_t gen, const char *role,
    const char *kt, EVP_PKEY **pub)
{
	return ca_signer_sealed.keygen(st, gen, role, kt, pub);
}

static int
w_open(struct cust_state *st, int64_t gen, const char *role, void **sess)
{
	int r;

	if (fail_open)
		return cust_fail(CUST_E_UNAVAIL, "token not present");
	r = ca_signer_sealed.open(st, gen, role, sess);
	if (r == CUST_OK)
		opens++;
	return r;
}

static int
w_sign_cert(void *sess, X509 *x, const EVP_MD *md)
{
	if (fail_sign)
		return cust_fail(CUST_E_UNAVAIL, "token removed");
	signs++;
	return ca_signer_sealed.sign_cert(sess, x, md);
}

static int
w_sign_crl(void *sess, X509_CRL *crl, const EVP_MD *md)
{
	return ca_signer_sealed.sign_crl(sess, crl, md);
}

static void
w_close(void *sess)
{
	if (sess != NULL)
		closes++;
	ca_signer_sealed.close(sess);
}

static const struct ca_signer_ops wrapped = {
	"wrapped", w_keygen, w_open, w_sign_cert, w_sign_crl, w_close, NULL
};

static void
test_replacement_signer(void **state)
{
	struct fx *f = *state;
	struct ca_bulk_item items[3];
	json_t *resp = NULL;
	size_t issued = 0, i;
	long long audit0;

	opens = closes = signs = fail_sign = 0;
	ca_set_signer(&wrapped);
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(signs, 1);
	assert_int_equal(opens, closes);
	for (i = 0; i < 3; i++) {
		items[i].fqdn = FQDN;
		items[i].csr = f->csr;
		items[i].len = f->len;
	}
	assert_int_equal(ca_sign_bulk(f->st, "t", items, 3, 2, &resp,
	    &issued), CUST_OK);
	json_decref(resp);
	assert_int_equal(issued, 3);
	assert_int_equal(signs, 4);
	assert_int_equal(opens, closes);
	/* A signer that fails: nothing recorded, nothing audited as ok. */
	fail_sign = 1;
	audit0 = ct_count(f->st, "SELECT count(*) FROM audit");
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_E_UNAVAIL);
	assert_null(resp);
	assert_non_null(strstr(cust_errmsg(), "token removed"));
	assert_int_equal(ncerts(f), 4);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit"),
	    audit0);
	assert_int_equal(ca_sign_bulk(f->st, "t", items, 3, 2, &resp,
	    &issued), CUST_OK);
	assert_int_equal(issued, 0);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(resp, 2), "message")), "token removed");
	json_decref(resp);
	assert_int_equal(ncerts(f), 4);
	assert_int_equal(opens, closes);
	ca_set_signer(NULL);
}

/* Regression: bulk refusals were audited inside the chunk's transaction,
 * so a chunk that failed later (here: no signer session) took them back
 * with it. */
static void
test_bulk_refusal_survives(void **state)
{
	struct fx *f = *state;
	struct ca_bulk_item items[2] = {
		{ "nope.corp.example", NULL, 0 },
		{ FQDN, NULL, 0 },
	};
	json_t *resp = NULL;
	size_t issued = 0;

	items[0].csr = items[1].csr = f->csr;
	items[0].len = items[1].len = f->len;
	opens = closes = signs = fail_sign = 0;
	fail_open = 1;
	ca_set_signer(&wrapped);
	assert_int_equal(ca_sign_bulk(f->st, "t", items, 2, 1, &resp,
	    &issued), CUST_E_UNAVAIL);
	assert_null(resp);
	assert_int_equal(issued, 0);
	assert_int_equal(ncerts(f), 0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.sign' AND result = 'refused' AND object = "
	    "'nope.corp.example'"), 1);
	fail_open = 0;
	ca_set_signer(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keys_sealed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_key_matches_cert, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replacement_signer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bulk_refusal_survives,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
