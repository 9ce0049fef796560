/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_identity.c - who a TLS client certificate is
 * (ops_identity_from_cert()): the bootstrap admin, staff by role, a
 * console by the identity the loaded policy gives it; and refusals: a
 * revoked certificate, an unknown serial, DER that is not the recorded
 * one, a console no longer in the policy or whose identity changed.
 * Also the lifecycle: staff add/list/revoke, console and staff renewal,
 * self re-enrolment, the renewal window. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ca/catest.h"
#include "ca/ca_int.h"
#include "ops.h"

static const char policy_v1[] =
	"version: 1\n"
	"owner: sccm\n"
	"consoles:\n"
	"  sccm:\n"
	"    identity: {certificate: \"CN=sccm.corp.example,O=Corp\"}\n"
	"    duties: [setup, power]\n"
	"  pwr:\n"
	"    identity: {kerberos: \"svc-pwr@CORP.EXAMPLE\"}\n"
	"    duties: [inventory]\n";

/* The same without pwr, and sccm with another identity. */
static const char policy_v2[] =
	"version: 1\n"
	"owner: sccm\n"
	"consoles:\n"
	"  sccm:\n"
	"    identity: {certificate: \"CN=sccm2.corp.example,O=Corp\"}\n"
	"    duties: [setup, power]\n";

struct ifx {
	struct cust_state *st;
	char *dir;
};

static int
setup(void **state)
{
	struct ifx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->st = ct_ca_state(&f->dir, "ecdsa-p256");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct ifx *f = *state;

	tu_clock_to(0);
	tu_state_free(f->st, f->dir);
	free(f);
	return 0;
}

/* Run op locally with req (consumed); the reply (new) or a failure. */
static json_t *
call(struct cust_state *st, const struct ops_identity *who, const char *op,
    json_t *req, int want)
{
	struct ops_ctx ctx = { .st = st, .who = who ? who : tu_local() };
	json_t *resp = NULL;
	int r = ops_call(&ctx, op, req, &resp);

	json_decref(req);
	if (r != want)
		fail_msg("%s: %d (%s), want %d", op, r, cust_errmsg(), want);
	return resp;
}

static void
load(struct cust_state *st, const char *doc)
{
	json_decref(call(st, NULL, "policy.load", json_pack("{s:s, s:s}",
	    "file", "p.yaml", "text", doc), CUST_OK));
}

/* ops_identity_from_cert() on the leaf of PEM text (the first one). */
static int
from_pem(struct cust_state *st, const char *pem, struct ops_identity **id)
{
	X509 *x = ct_x509(pem);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der), r;

	assert_true(len > 0);
	r = ops_identity_from_cert(st, der, (size_t)len, id);
	OPENSSL_free(der);
	X509_free(x);
	return r;
}

/* The certificate of an issuance reply, as a new string. */
static char *
cert_of(json_t *resp)
{
	char *s = strdup(json_string_value(json_object_get(resp,
	    "certificate")));

	assert_non_null(s);
	return s;
}

/* Expect pem to map to kind with actor, or to be refused. */
static void
expect(struct cust_state *st, const char *pem, enum ops_kind kind,
    const char *actor)
{
	struct ops_identity *id = NULL;
	int r = from_pem(st, pem, &id);

	if (actor == NULL) {
		if (r != CUST_E_DENIED)
			fail_msg("mapped (%d) but should be refused", r);
		assert_null(id);
		return;
	}
	if (r != CUST_OK)
		fail_msg("%s: refused: %s", actor, cust_errmsg());
	assert_int_equal(ops_identity_kind(id), kind);
	assert_string_equal(ops_identity_actor(id), actor);
	ops_identity_free(id);
}

static char *
read_file(const char *dir, const char *rel)
{
	char path[512], *buf = NULL;
	size_t n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(getdelim(&buf, &n, '\0', fp) > 0, 1);
	fclose(fp);
	return buf;
}

static void
test_from_cert(void **state)
{
	struct ifx *f = *state;
	struct cust_state *st = f->st;
	char *boot, *ann, *udo, *sccm, *pwr, *other;
	json_t *resp;
	X509 *x;

	load(st, policy_v1);
	boot = read_file(f->dir, "admin/admin.crt");
	expect(st, boot, OPS_ID_ADMIN, "admin:admin");
	resp = call(st, NULL, "staff.add", json_pack("{s:s, s:s, s:s}", "name",
	    "Ann", "role", "admin", "key_type", "ecdsa-p256"), CUST_OK);
	ann = cert_of(resp);
	assert_string_equal(json_string_value(json_object_get(resp, "role")),
	    "admin");
	json_decref(resp);
	resp = call(st, NULL, "staff.add", json_pack("{s:s, s:s, s:s}", "name",
	    "udo", "role", "auditor", "key_type", "ecdsa-p256"), CUST_OK);
	udo = cert_of(resp);
	json_decref(resp);
	expect(st, ann, OPS_ID_ADMIN, "admin:ann");
	expect(st, udo, OPS_ID_AUDITOR, "auditor:udo");
	/* Consoles: the subject is the policy's identity (CN=NAME without
	 * one), and maps back to the console. */
	resp = call(st, NULL, "console.add", json_pack("{s:s, s:s}", "name",
	    "sccm", "key_type", "ecdsa-p256"), CUST_OK);
	sccm = cert_of(resp);
	assert_string_equal(json_string_value(json_object_get(resp,
	    "subject")), "CN=sccm.corp.example,O=Corp");
	json_decref(resp);
	resp = call(st, NULL, "console.add", json_pack("{s:s, s:s}", "name",
	    "PWR", "key_type", "ecdsa-p256"), CUST_OK);
	pwr = cert_of(resp);
	assert_string_equal(json_string_value(json_object_get(resp,
	    "subject")), "CN=pwr");
	json_decref(resp);
	expect(st, sccm, OPS_ID_CONSOLE, "console:sccm");
	expect(st, pwr, OPS_ID_CONSOLE, "console:pwr");
	/* Revoked staff. */
	json_decref(call(st, NULL, "staff.revoke", json_pack("{s:s}", "name",
	    "udo"), CUST_OK));
	expect(st, udo, 0, NULL);
	/* The bootstrap admin is not a staff record. */
	json_decref(call(st, NULL, "staff.revoke", json_pack("{s:s}", "name",
	    "admin"), CUST_E_INVAL));
	json_decref(call(st, NULL, "staff.add", json_pack("{s:s, s:s}", "name",
	    "admin", "role", "auditor"), CUST_E_EXISTS));
	/* A serial custody never issued: a self-signed certificate. */
	{
		EVP_PKEY *k = ct_key("EC", 0, "P-256");
		X509 *s = X509_new();
		unsigned char *der = NULL;
		struct ops_identity *id = NULL;
		int len;

		ASN1_INTEGER_set(X509_get_serialNumber(s), 0x5eed);
		X509_set_pubkey(s, k);
		X509_gmtime_adj(X509_getm_notBefore(s), 0);
		X509_gmtime_adj(X509_getm_notAfter(s), 3600);
		assert_true(X509_sign(s, k, EVP_sha256()) > 0);
		len = i2d_X509(s, &der);
		assert_int_equal(ops_identity_from_cert(st, der, (size_t)len,
		    &id), CUST_E_DENIED);
		assert_non_null(strstr(cust_errmsg(), "not issued"));
		OPENSSL_free(der);
		X509_free(s);
		/* ann's serial, another signature: not the recorded DER. */
		x = ct_x509(ann);
		assert_true(X509_sign(x, k, EVP_sha256()) > 0);
		der = NULL;
		len = i2d_X509(x, &der);
		assert_int_equal(ops_identity_from_cert(st, der, (size_t)len,
		    &id), CUST_E_DENIED);
		assert_non_null(strstr(cust_errmsg(), "not the one"));
		OPENSSL_free(der);
		X509_free(x);
		EVP_PKEY_free(k);
		assert_int_equal(ops_identity_from_cert(st,
		    (const unsigned char *)"junk", 4, &id), CUST_E_PARSE);
	}
	/* A policy without pwr, and sccm with another identity. */
	load(st, policy_v2);
	expect(st, pwr, 0, NULL);
	expect(st, sccm, 0, NULL);
	assert_non_null(strstr(cust_errmsg(), "renew it"));
	expect(st, ann, OPS_ID_ADMIN, "admin:ann");
	/* Renewed, sccm gets the new identity; the old one is superseded
	 * once the new one is first used (a lost reply locks no one out). */
	resp = call(st, NULL, "console.renew", json_pack("{s:s}", "name",
	    "sccm"), CUST_OK);
	other = cert_of(resp);
	assert_int_equal(json_array_size(json_object_get(resp, "supersedes")),
	    1);
	assert_non_null(json_object_get(resp, "key"));
	json_decref(resp);
	assert_int_equal(ct_count(st, "SELECT COUNT(*) FROM cert WHERE kind = "
	    "'console' AND holder = 'sccm' AND status = 'valid'"), 2);
	{
		struct ops_identity *id = NULL;

		assert_int_equal(from_pem(st, other, &id), CUST_OK);
		assert_int_equal(ops_identity_superseded(id), 1);
		ops_identity_free(id);
		assert_int_equal(from_pem(st, other, &id), CUST_OK);
		assert_int_equal(ops_identity_superseded(id), 0);
		ops_identity_free(id);
	}
	expect(st, other, OPS_ID_CONSOLE, "console:sccm");
	assert_int_equal(ct_count(st, "SELECT COUNT(*) FROM cert WHERE kind = "
	    "'console' AND holder = 'sccm' AND status = 'valid'"), 1);
	assert_int_equal(ct_count(st, "SELECT reason FROM cert WHERE kind = "
	    "'console' AND holder = 'sccm' AND status = 'revoked'"), 4);
	free(boot);
	free(ann);
	free(udo);
	free(sccm);
	free(pwr);
	free(other);
}

/* staff.list: the bootstrap admin, then by name; pages; renewal window. */
static void
test_staff_list(void **state)
{
	struct ifx *f = *state;
	struct cust_state *st = f->st;
	json_t *resp, *items, *next;
	int64_t na;

	json_decref(call(st, NULL, "staff.add", json_pack("{s:s, s:s, s:s}",
	    "name", "zed", "role", "auditor", "key_type", "ecdsa-p256"),
	    CUST_OK));
	json_decref(call(st, NULL, "staff.add", json_pack("{s:s, s:s, s:s}",
	    "name", "bea", "role", "admin", "key_type", "ecdsa-p256"),
	    CUST_OK));
	json_decref(call(st, NULL, "staff.add", json_pack("{s:s, s:s}",
	    "name", "x", "role", "root"), CUST_E_INVAL));
	resp = call(st, NULL, "staff.list", json_object(), CUST_OK);
	items = json_object_get(resp, "items");
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    items, 0), "name")), "admin");
	assert_true(json_is_true(json_object_get(json_array_get(items, 0),
	    "bootstrap")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    items, 1), "name")), "bea");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    items, 2), "role")), "auditor");
	assert_false(json_is_true(json_object_get(json_array_get(items, 2),
	    "renew_due")));
	json_decref(resp);
	/* Page by page: admin | bea | zed. */
	resp = call(st, NULL, "staff.list", json_pack("{s:i}", "limit", 1),
	    CUST_OK);
	next = json_object_get(resp, "next");
	assert_int_equal(json_integer_value(next), -1);
	resp = (json_decref(resp), call(st, NULL, "staff.list",
	    json_pack("{s:i, s:i}", "limit", 1, "after", -1), CUST_OK));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(resp, "items"), 0), "name")), "bea");
	json_decref(resp);
	/* 20 days before the end: within the 30-day window. */
	na = ct_count(st, "SELECT not_after FROM cert WHERE holder = 'zed'");
	tu_clock_to(na - 20 * 86400);
	resp = call(st, NULL, "staff.list", json_object(), CUST_OK);
	assert_true(json_is_true(json_object_get(json_array_get(
	    json_object_get(resp, "items"), 2), "renew_due")));
	json_decref(resp);
	/* Consoles too. */
	tu_clock_to(0);
	json_decref(call(st, NULL, "console.add", json_pack("{s:s, s:s}",
	    "name", "c1", "key_type", "ecdsa-p256"), CUST_OK));
	na = ct_count(st, "SELECT not_after FROM cert WHERE holder = 'c1'");
	tu_clock_to(na - 29 * 86400);
	resp = call(st, NULL, "console.list", json_object(), CUST_OK);
	assert_true(json_is_true(json_object_get(json_array_get(
	    json_object_get(resp, "items"), 0), "renew_due")));
	json_decref(resp);
	tu_clock_to(na - 31 * 86400);
	resp = call(st, NULL, "console.list", json_object(), CUST_OK);
	assert_false(json_is_true(json_object_get(json_array_get(
	    json_object_get(resp, "items"), 0), "renew_due")));
	json_decref(resp);
}

/* client.reenroll: the caller's own certificate from its CSR; the old
 * one superseded once the new one is used; a client without a valid certificate is refused; local
 * mode has none. staff.renew with a CSR keeps no key. */
static void
test_reenroll(void **state)
{
	struct ifx *f = *state;
	struct cust_state *st = f->st;
	struct ops_identity *id = NULL;
	char *csr, *old, *new;
	size_t len;
	json_t *resp;

	load(st, policy_v1);
	resp = call(st, NULL, "console.add", json_pack("{s:s, s:s}", "name",
	    "sccm", "key_type", "ecdsa-p256"), CUST_OK);
	old = cert_of(resp);
	json_decref(resp);
	assert_int_equal(from_pem(st, old, &id), CUST_OK);
	csr = ct_csr("EC", 0, "P-256", "whatever", &len);
	resp = call(st, id, "client.reenroll", json_pack("{s:s}", "csr", csr),
	    CUST_OK);
	new = cert_of(resp);
	assert_null(json_object_get(resp, "key"));
	assert_string_equal(json_string_value(json_object_get(resp,
	    "subject")), "CN=sccm.corp.example,O=Corp");
	json_decref(resp);
	/* The reply lost: the old certificate still maps, and re-enrols. */
	expect(st, old, OPS_ID_CONSOLE, "console:sccm");
	expect(st, new, OPS_ID_CONSOLE, "console:sccm");
	expect(st, old, 0, NULL);
	/* Expired: the identity (made before) cannot re-enrol. */
	tu_clock_to(ct_count(st, "SELECT MAX(not_after) FROM cert WHERE "
	    "holder = 'sccm'") + 1);
	json_decref(call(st, id, "client.reenroll", json_pack("{s:s}", "csr",
	    csr), CUST_E_DENIED));
	assert_non_null(strstr(cust_errmsg(), "cannot re-enrol"));
	util_test_clock(0, 0);		/* the real clock again */
	/* Revoked: the identity (made before) cannot re-enrol. */
	json_decref(call(st, NULL, "console.revoke", json_pack("{s:s}", "name",
	    "sccm"), CUST_OK));
	json_decref(call(st, id, "client.reenroll", json_pack("{s:s}", "csr",
	    csr), CUST_E_DENIED));
	assert_non_null(strstr(cust_errmsg(), "cannot re-enrol"));
	ops_identity_free(id);
	/* Local mode has no certificate; a CSR is required. */
	json_decref(call(st, NULL, "client.reenroll", json_pack("{s:s}", "csr",
	    csr), CUST_E_INVAL));
	/* Staff renewal with a CSR, by an admin. */
	json_decref(call(st, NULL, "staff.add", json_pack("{s:s, s:s, s:s}",
	    "name", "ann", "role", "auditor", "key_type", "ecdsa-p256"),
	    CUST_OK));
	resp = call(st, NULL, "staff.renew", json_pack("{s:s, s:s}", "name",
	    "ann", "csr", csr), CUST_OK);
	assert_null(json_object_get(resp, "key"));
	assert_int_equal(json_array_size(json_object_get(resp, "supersedes")),
	    1);
	free(new);
	new = cert_of(resp);
	json_decref(resp);
	expect(st, new, OPS_ID_AUDITOR, "auditor:ann");
	json_decref(call(st, NULL, "staff.renew", json_pack("{s:s}", "name",
	    "nobody"), CUST_E_NOTFOUND));
	free(csr);
	free(old);
	free(new);
}

/* A staff member whose key was lost (its issuing process died before the
 * files were written, CA_DELIVER): the next staff add revokes the
 * certificate and the record, so the name is free again; a renewal
 * with a CSR waits for no delivery. */
static void
test_staff_undelivered(void **state)
{
	struct ifx *f = *state;
	struct cust_state *st = f->st;
	json_t *resp = NULL;
	long long dead = tu_dead_pid();
	char sql[256];

	assert_int_equal(ca_staff_add(st, "t", "lost", "admin", "ecdsa-p256",
	    CA_DELIVER, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ct_count(st, "SELECT COUNT(*) FROM ca_delivery"), 1);
	/* Its process gone, as custody records it (the row is MAC'd). */
	snprintf(sql, sizeof(sql), "UPDATE ca_delivery SET pid = %lld, mac = "
	    "custody_mac('ca_delivery', serial, %lld, pstart, created)", dead,
	    dead);
	tu_sql(st, sql);
	assert_int_equal(ca_staff_add(st, "t", "lost", "auditor", "ecdsa-p256",
	    CA_DELIVER, &resp), CUST_OK);
	json_decref(resp);
	assert_int_equal(ct_count(st, "SELECT COUNT(*) FROM staff WHERE name = "
	    "'lost' AND state = 'revoked' AND role = 'admin'"), 1);
	assert_int_equal(ct_count(st, "SELECT COUNT(*) FROM staff WHERE name = "
	    "'lost' AND state = 'active' AND role = 'auditor'"), 1);
	assert_int_equal(ct_count(st, "SELECT COUNT(*) FROM cert WHERE holder = "
	    "'lost' AND status = 'valid'"), 1);
}

/* A self-signed certificate with subject dn (DN text, as a policy
 * writes it), as new DER: an enterprise CA's leaf as far as the mapping
 * cares (the service verified its chain before). */
static unsigned char *
ent_cert(const char *dn, int *len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = NULL;
	unsigned char *der = NULL;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(ca_dn_parse(dn, &n), CUST_OK);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*len = i2d_X509(x, &der);
	assert_true(*len > 0);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	return der;
}

/* Enterprise certificates map only to a console whose policy identity
 * is their subject: never staff, never a console identified otherwise,
 * never a look-alike; such a console cannot re-enrol at custody. */
static void
test_enterprise(void **state)
{
	static const struct { const char *dn, *actor; } cases[] = {
		{ "CN=sccm.corp.example,O=Corp", "console:sccm" },
		{ "CN=SCCM.corp.example,O=CORP", "console:sccm" },
		{ "CN=sccm.corp.example\\,O=Corp", NULL },	/* one CN */
		{ "O=Corp,CN=sccm.corp.example", NULL },	/* reversed */
		{ "CN=sccm.corp.example", NULL },
		{ "CN=sccm", NULL },		/* CN=NAME is custody's own */
		{ "CN=pwr", NULL },		/* identified by Kerberos */
		{ "CN=admin", NULL },		/* the bootstrap admin's */
		{ "CN=nobody,O=Corp", NULL },
	};
	struct ifx *f = *state;
	struct ops_identity *id, *other;
	unsigned char *der;
	char *csr;
	size_t i, len;
	int dlen, r;

	load(f->st, policy_v1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = ent_cert(cases[i].dn, &dlen);
		id = NULL;
		r = ops_identity_from_enterprise(f->st, der, (size_t)dlen, &id);
		if (cases[i].actor == NULL) {
			if (r != CUST_E_DENIED || id != NULL)
				fail_msg("%s: %d, want a refusal", cases[i].dn,
				    r);
		} else {
			if (r != CUST_OK)
				fail_msg("%s: %s", cases[i].dn, cust_errmsg());
			assert_string_equal(ops_identity_actor(id),
			    cases[i].actor);
			assert_int_equal(ops_identity_kind(id), OPS_ID_CONSOLE);
			assert_true(ops_identity_enterprise(id));
		}
		/* Custody's path refuses it whatever its subject. */
		assert_int_equal(ops_identity_from_cert(f->st, der,
		    (size_t)dlen, &other), CUST_E_DENIED);
		assert_null(other);
		if (cases[i].actor != NULL && i == 0) {
			csr = ct_csr("EC", 0, "P-256", "x", &len);
			json_decref(call(f->st, id, "client.reenroll",
			    json_pack("{s:s}", "csr", csr), CUST_E_DENIED));
			assert_non_null(strstr(cust_errmsg(), "enterprise"));
			free(csr);
		}
		ops_identity_free(id);
		OPENSSL_free(der);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_from_cert, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_staff_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reenroll, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_staff_undelivered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_enterprise, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
