/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_signer.c - the signer seam: CA keys are sealed and
 * bound to their generation and role; a replacement signer sees every
 * session closed; a failing signer issues nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ca.h"
#include "err.h"
#include "catest.h"
#include "ca/ca_int.h"

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

/* Three requests for FQDN into items, signed in bulk: all issued. */
static void
bulk3(struct fx *f, struct ca_bulk_item *items)
{
	json_t *resp = NULL;
	size_t issued = 0, i;

	for (i = 0; i < 3; i++) {
		items[i].fqdn = FQDN;
		items[i].csr = f->csr;
		items[i].len = f->len;
	}
	assert_int_equal(ca_sign_bulk(f->st, "t", items, 3, 2, &resp,
	    &issued), CUST_OK);
	json_decref(resp);
	assert_int_equal(issued, 3);
}

/* A signer that wraps the sealed one, counts sessions and can fail. */
static int opens, closes, signs, fail_sign, fail_open;

static int
w_keygen(struct cust_state *st, int64_t gen, const char *role,
    const char *kt, EVP_PKEY *made, EVP_PKEY **pub)
{
	return ca_signer_sealed.keygen(st, gen, role, kt, made, pub);
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
	size_t issued = 0;
	long long audit0;

	opens = closes = signs = fail_sign = 0;
	ca_set_signer(&wrapped);
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(signs, 1);
	assert_int_equal(opens, closes);
	bulk3(f, items);
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

/*
 * A signer that checks, at every signature, that the signing process holds
 * no transaction on the store and that another handle on the same state
 * directory can write meanwhile (with a busy timeout of 50 ms: a writer
 * behind a lock held across the signature would time out).
 */
static struct cust_state *signing, *other;
static int held, blocked, writes;
static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;

static int
o_sign_cert(void *sess, X509 *x, const EVP_MD *md)
{
	static const char v[] = "x";

	pthread_mutex_lock(&wlock);
	if (sqlite3_txn_state(store_db(state_store(signing)), NULL) !=
	    SQLITE_TXN_NONE)
		held++;
	if (store_begin(state_store(other)) != CUST_OK ||
	    store_meta_set(state_store(other), "test.write", v, 1) != CUST_OK ||
	    store_commit(state_store(other)) != CUST_OK) {
		store_rollback(state_store(other));
		blocked++;
	} else
		writes++;
	pthread_mutex_unlock(&wlock);
	return ca_signer_sealed.sign_cert(sess, x, md);
}

static const struct ca_signer_ops outside = {
	"outside", w_keygen, w_open, o_sign_cert, w_sign_crl, w_close, NULL
};

static void
reopen(struct fx *f)
{
	/* The fixture's state came from init (exclusive lock): reopen. */
	state_close(f->st);
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
}

/* Regression: a CSR was signed (and a key generated for cert issue and
 * console add) inside the write transaction that recorded it, so every other writer
 * of the state waited behind the signature, and behind whole chunks of
 * signatures in bulk. */
static void
test_sign_outside_txn(void **state)
{
	struct fx *f = *state;
	struct ca_bulk_item items[3];
	json_t *resp = NULL;

	reopen(f);
	assert_int_equal(state_open(f->dir, &other), CUST_OK);
	sqlite3_busy_timeout(store_db(state_store(other)), 50);
	signing = f->st;
	held = blocked = writes = 0;
	ca_set_signer(&outside);
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_issue(f->st, "t", FQDN, "ecdsa-p256", 0, 0, &resp),
	    CUST_OK);
	json_decref(resp);
	assert_int_equal(ca_renew(f->st, "t", FQDN, NULL, 0, 1, 1, &resp),
	    CUST_OK);
	json_decref(resp);
	bulk3(f, items);
	assert_int_equal(ca_console_add(f->st, "t", "ops", NULL, 0, &resp),
	    CUST_OK);
	json_decref(resp);
	ca_set_signer(NULL);
	assert_int_equal(held, 0);
	assert_int_equal(blocked, 0);
	assert_int_equal(writes, 7);
	assert_int_equal(ncerts(f), 6);
	/* Every reservation was consumed by its certificate. */
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 0);
	/* A signature that fails releases its reservation. */
	fail_sign = 1;
	ca_set_signer(&wrapped);
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_E_UNAVAIL);
	fail_sign = 0;
	ca_set_signer(NULL);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 0);
	state_close(other);
	other = NULL;
}

static int
die_sign_cert(void *sess, X509 *x, const EVP_MD *md)
{
	_exit(42);	/* the process dies between reserve and record */
}

static const struct ca_signer_ops dying = {
	"dying", w_keygen, w_open, die_sign_cert, w_sign_crl, w_close, NULL
};

/* A process that dies while signing leaves a reserved serial that no
 * certificate carries: never valid anywhere, shown for what it is, and
 * never drawn again. */
static void
test_crash_while_signing(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL, *crl = NULL;
	char hex[CA_SERIAL_HEXLEN];
	long long certs, status;
	pid_t pid;
	int ws = 0;

	reopen(f);
	certs = ncerts(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cust_state *st = NULL;

		if (state_open(f->dir, &st) != CUST_OK)
			_exit(1);
		ca_set_signer(&dying);
		if (ca_sign_csr(st, "t", FQDN, f->csr, f->len, 0, &resp) ==
		    CUST_OK)
			_exit(3);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 42);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 1);
	assert_int_equal(ncerts(f), certs);
	{
		sqlite3_stmt *s = store_stmt(state_store(f->st),
		    "SELECT serial FROM ca_serial");

		assert_non_null(s);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		snprintf(hex, sizeof(hex), "%s", sqlite3_column_text(s, 0));
		sqlite3_reset(s);
	}
	/* Not a certificate: cert show says what it is. */
	assert_int_equal(ca_cert_show(f->st, hex, &resp), CUST_E_NOTFOUND);
	assert_null(resp);
	assert_non_null(strstr(cust_errmsg(), "never recorded"));
	/* On no CRL, in no listing. */
	assert_int_equal(ca_crl(f->st, "t", 0, 0, &crl), CUST_OK);
	assert_int_equal(json_array_size(json_object_get(crl, "serials")), 0);
	json_decref(crl);
	/* Counted by ca show at once: the process that reserved it is
	 * gone (a live one's reservation is in flight, not counted). */
	assert_int_equal(ca_show(f->st, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "unrecorded_serials")), 1);
	json_decref(resp);
	tu_sql(f->st, "UPDATE ca_serial SET pid = NULL, pstart = NULL");
	/* A reservation from before processes were recorded: by its age. */
	assert_int_equal(ca_show(f->st, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "unrecorded_serials")), 0);
	json_decref(resp);
	tu_sql(f->st, "UPDATE ca_serial SET reserved = reserved - 7200");
	assert_int_equal(ca_show(f->st, &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "unrecorded_serials")), 1);
	json_decref(resp);
	/* Never drawn again; the next signature works. */
	status = ca_serial_used(f->st, hex);
	assert_int_equal(status, 1);
	assert_int_equal(ca_sign_csr(f->st, "t", FQDN, f->csr, f->len, 0,
	    &resp), CUST_OK);
	assert_string_not_equal(json_string_value(json_object_get(resp,
	    "serial")), hex);
	json_decref(resp);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_serial"), 1);
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
		cmocka_unit_test_setup_teardown(test_sign_outside_txn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_while_signing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bulk_refusal_survives,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
