/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_x509.c - serial numbers, reason codes, CA options
 * and their validation, key types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "err.h"
#include "catest.h"
#include "ca/ca_int.h"

static void
norm(const char *in, const char *want)
{
	char out[CA_SERIAL_HEXLEN];
	int r = ca_serial_norm(in, out, sizeof(out));

	if (want == NULL) {
		assert_int_equal(r, CUST_E_INVAL);
		return;
	}
	if (r != CUST_OK)
		fail_msg("%s: %s", in, cust_errmsg());
	assert_string_equal(out, want);
}

static void
test_serial_norm(void **state)
{
	(void)state;
	norm("0A1B2C", "0A1B2C");
	norm("0a:1b:2c", "0A1B2C");
	norm("serial=0A1B2C", "0A1B2C");
	norm("0x0a1b2c", "0A1B2C");
	norm("A1B2C", "0A1B2C");		/* odd: a leading zero nibble */
	norm("00:00:0A:1B", "0A1B");		/* leading zero octets go */
	norm("00", "00");
	norm("7412F1496984F367958813C9AF584FF3", "7412F1496984F367958813C9AF584FF3");
	norm("112233445566778899001122334455667788990011", NULL); /* 21 */
	norm("0112233445566778899001122334455667788990011", NULL);
	norm("xyz", NULL);
	norm("", NULL);
	norm(":", NULL);
	norm(NULL, NULL);
}

static void
test_reasons(void **state)
{
	(void)state;
	assert_int_equal(ca_reason_code(NULL), 0);
	assert_int_equal(ca_reason_code("unspecified"), 0);
	assert_int_equal(ca_reason_code("keyCompromise"), 1);
	assert_int_equal(ca_reason_code("KEYCOMPROMISE"), 1);
	assert_int_equal(ca_reason_code("cACompromise"), 2);
	assert_int_equal(ca_reason_code("affiliationChanged"), 3);
	assert_int_equal(ca_reason_code("superseded"), 4);
	assert_int_equal(ca_reason_code("cessationOfOperation"), 5);
	assert_int_equal(ca_reason_code("certificateHold"), -1);
	assert_int_equal(ca_reason_code("removeFromCRL"), -1);
	assert_int_equal(ca_reason_code("privilegeWithdrawn"), 9);
	assert_int_equal(ca_reason_code("aACompromise"), 10);
	assert_int_equal(ca_reason_code("nope"), -1);
	assert_string_equal(ca_reason_name(4), "superseded");
	assert_string_equal(ca_reason_name(7), "unspecified");
	assert_string_equal(ca_reason_name(99), "unspecified");
}

static void
test_options(void **state)
{
	json_t *o = json_object();
	struct ca_conf c;

	(void)state;
	assert_int_equal(ca_opt_set(o, "key-type", "ecdsa-p384"), CUST_OK);
	assert_int_equal(ca_opt_set(o, "leaf-days", "90"), CUST_OK);
	assert_int_equal(ca_opt_set(o, "server-name", "ca.corp.example"),
	    CUST_OK);
	assert_int_equal(ca_opt_set(o, "server-name", "10.1.2.3"), CUST_OK);
	assert_int_equal(ca_opt_set(o, "server-name", "bad_name!"),
	    CUST_E_INVAL);
	/* An address is an IP name; a number is no host name at all. */
	assert_int_equal(ca_valid_host("10.1.2.3"), CUST_OK);
	assert_int_equal(ca_valid_host("::1"), CUST_OK);
	assert_int_equal(ca_valid_host("localhost"), CUST_OK);
	assert_int_equal(ca_valid_host("12345"), CUST_E_INVAL);
	assert_int_equal(ca_valid_host("10.1"), CUST_E_INVAL);
	assert_int_equal(ca_valid_host("1.2.3.4.5"), CUST_E_INVAL);
	json_array_remove(json_object_get(o, "server_names"), 2);
	assert_int_equal(ca_opt_set(o, "nope", "1"), CUST_E_INVAL);
	assert_int_equal(ca_opt_set(o, "leaf-days", "0"), CUST_E_INVAL);
	assert_int_equal(ca_opt_set(o, "leaf-days", "ten"), CUST_E_INVAL);
	json_object_set_new(o, "leaf_days", json_integer(90));
	assert_int_equal(ca_conf_apply(&c, o), CUST_OK);
	assert_string_equal(c.key_type, "ecdsa-p384");
	assert_int_equal(c.leaf_days, 90);
	assert_int_equal(c.root_days, 7300);
	assert_int_equal(json_array_size(c.server_names), 2);
	ca_conf_clear(&c);
	/* Renewal window inside the validity. */
	assert_int_equal(ca_opt_set(o, "renew-days", "90"), CUST_E_INVAL);
	json_object_del(o, "renew_days");
	/* Issuing CA within the root: root-days is not given yet, so the
	 * option itself is fine; the complete set is not. */
	assert_int_equal(ca_opt_set(o, "issuing-days", "8000"), CUST_OK);
	assert_int_equal(ca_opts_check(o), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "cannot outlive the root"));
	assert_int_equal(ca_opt_set(o, "root-days", "7000"), CUST_E_INVAL);
	json_object_del(o, "issuing_days");
	json_object_del(o, "root_days");
	/* legacy-amt is RSA-2048/SHA-256 and cannot take another key type. */
	assert_int_equal(ca_opt_set(o, "profile", "legacy-amt"), CUST_E_INVAL);
	json_object_del(o, "key_type");
	assert_int_equal(ca_opt_set(o, "profile", "legacy-amt"), CUST_OK);
	assert_int_equal(ca_conf_apply(&c, o), CUST_OK);
	assert_string_equal(c.key_type, "rsa2048");
	ca_conf_clear(&c);
	assert_int_equal(ca_opt_set(o, "profile", "fancy"), CUST_E_INVAL);
	assert_int_equal(ca_opt_set(o, "root-cn", ""), CUST_E_INVAL);
	assert_int_equal(ca_opt_set(o, "org", "a\nb"), CUST_E_INVAL);
	json_decref(o);
	/* Defaults. */
	assert_int_equal(ca_conf_apply(&c, NULL), CUST_OK);
	assert_string_equal(c.key_type, "rsa3072");
	assert_int_equal(c.issuing_days, 3650);
	assert_int_equal(c.leaf_days, 730);
	assert_int_equal(c.root_pathlen, 2);
	assert_int_equal(c.issuing_pathlen, 0);
	ca_conf_clear(&c);
}

/* The verdict on a set of options (each "name=value") given in order. */
static int
opts_in_order(const char *const *v, size_t n)
{
	json_t *o = json_object();
	size_t i;
	int r = CUST_OK;

	for (i = 0; i < n && r == CUST_OK; i++) {
		char name[32];
		const char *eq = strchr(v[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(eq - v[i]), v[i]);
		r = ca_opt_set(o, name, eq + 1);
	}
	if (r == CUST_OK)
		r = ca_opts_check(o);
	json_decref(o);
	return r;
}

/* Regression: ca_opt_set() checked the constraints between options
 * against the defaults of options not given yet, so "--leaf-days 20
 * --renew-days 10" was refused and "--renew-days 10 --leaf-days 20"
 * accepted. */
static void
test_option_order(void **state)
{
	static const char *const a[] = { "leaf-days=20", "renew-days=10" };
	static const char *const b[] = { "renew-days=10", "leaf-days=20" };
	static const char *const c[] = { "key-type=ecdsa-p256",
	    "profile=legacy-amt" };
	static const char *const d[] = { "profile=legacy-amt",
	    "key-type=ecdsa-p256" };
	static const char *const e[] = { "issuing-days=100", "root-days=50" };
	static const char *const f[] = { "root-days=50", "issuing-days=100" };
	static const char *const g[] = { "leaf-days=20" };

	(void)state;
	assert_int_equal(opts_in_order(a, 2), CUST_OK);
	assert_int_equal(opts_in_order(b, 2), CUST_OK);
	assert_int_equal(opts_in_order(c, 2), CUST_E_INVAL);
	assert_int_equal(opts_in_order(d, 2), CUST_E_INVAL);
	assert_int_equal(opts_in_order(e, 2), CUST_E_INVAL);
	assert_int_equal(opts_in_order(f, 2), CUST_E_INVAL);
	/* Alone, leaf-days 20 is below the default renewal window (30):
	 * accepted as an option, refused as a complete set. */
	assert_int_equal(opts_in_order(g, 1), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "renew-days (30) must be below "
	    "leaf-days (20)"));
}

/* Regression: path lengths that break every chain through a
 * cross-certificate (or every chain at all) were accepted. */
static void
test_pathlen(void **state)
{
	static const char *const ok1[] = { "root-pathlen=-1" };
	static const char *const ok2[] = { "root-pathlen=2",
	    "issuing-pathlen=-1" };
	static const char *const ok3[] = { "issuing-pathlen=1",
	    "root-pathlen=3" };
	static const char *const ok4[] = { "root-pathlen=-1",
	    "issuing-pathlen=5" };
	static const char *const bad1[] = { "root-pathlen=1" };
	static const char *const bad2[] = { "root-pathlen=0" };
	static const char *const bad3[] = { "root-pathlen=3",
	    "issuing-pathlen=2" };
	json_t *o, *resp = NULL;
	struct cust_state *st;
	char *dir = NULL;

	(void)state;
	assert_int_equal(opts_in_order(ok1, 1), CUST_OK);
	assert_int_equal(opts_in_order(ok2, 2), CUST_OK);
	assert_int_equal(opts_in_order(ok3, 2), CUST_OK);
	assert_int_equal(opts_in_order(ok4, 2), CUST_OK);
	assert_int_equal(opts_in_order(bad1, 1), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "at least 2"));
	assert_int_equal(opts_in_order(bad2, 1), CUST_E_INVAL);
	assert_int_equal(opts_in_order(bad3, 2), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "at least 4"));
	/* And the CA refuses to be made with them. (cust_init() in
	 * tu_state_new() sets jansson's allocator: objects after it.) */
	st = tu_state_new(&dir);
	o = json_object();
	json_object_set_new(o, "root_pathlen", json_integer(1));
	json_object_set_new(o, "key_type", json_string("ecdsa-p256"));
	assert_int_equal(ca_init(st, o, "t", &resp), CUST_E_INVAL);
	assert_null(resp);
	json_decref(o);
	tu_state_free(st, dir);
}

static void
test_keytypes(void **state)
{
	(void)state;
	assert_string_equal(ca_keytype_find("rsa2048")->digest, "SHA256");
	assert_string_equal(ca_keytype_find("rsa3072")->digest, "SHA384");
	assert_string_equal(ca_keytype_find("rsa4096")->digest, "SHA384");
	assert_string_equal(ca_keytype_find("ecdsa-p256")->digest, "SHA256");
	assert_string_equal(ca_keytype_find("ecdsa-p384")->digest, "SHA384");
	assert_null(ca_keytype_find("rsa1024"));
	assert_null(ca_keytype_find(NULL));
	assert_int_equal(ca_valid_name("sccm.corp.example"), CUST_OK);
	assert_int_equal(ca_valid_name("a"), CUST_OK);
	assert_int_equal(ca_valid_name(""), CUST_E_INVAL);
	assert_int_equal(ca_valid_name("-x"), CUST_E_INVAL);
	assert_int_equal(ca_valid_name(".x"), CUST_E_INVAL);
	assert_int_equal(ca_valid_name("a b"), CUST_E_INVAL);
	assert_int_equal(ca_valid_name("a/b"), CUST_E_INVAL);
	assert_int_equal(ca_valid_name("0123456789012345678901234567890123456789"
	    "01234567890123456789012345"), CUST_E_INVAL);
}

/* A name from (type, value, set, asn1 string type) entries in order,
 * most significant first; set -1: a new RDN, 0: joins the last one. */
struct ent { const char *type, *value; int set, stype; };

static X509_NAME *
name_of(const struct ent *e, size_t n)
{
	X509_NAME *nm = X509_NAME_new();
	size_t i;

	assert_non_null(nm);
	for (i = 0; i < n; i++)
		assert_int_equal(X509_NAME_add_entry_by_txt(nm, e[i].type,
		    e[i].stype, (const unsigned char *)e[i].value, -1, -1,
		    e[i].set), 1);
	return nm;
}

#define U	MBSTRING_UTF8
#define P	V_ASN1_PRINTABLESTRING

/*
 * The match of a certificate subject against a policy's certificate
 * identity (RFC 4514 text, most specific first): X509_NAME_cmp() of the
 * parsed text, so structure counts (how many RDNs, which attribute holds
 * which value, values in an RDN) and only the string form is
 * canonicalised (case, spaces, string type), as RFC 5280 compares names.
 */
static void
test_dn_match(void **state)
{
	static const struct ent corp[] = { { "O", "Corp", 0, U },
	    { "CN", "sccm", 0, U } };
	static const struct ent comma[] = { { "CN", "sccm,O=Corp", 0, U } };
	static const struct ent multi[] = { { "CN", "sccm", 0, U },
	    { "O", "Corp", -1, U } };
	static const struct ent reversed[] = { { "CN", "sccm", 0, U },
	    { "O", "Corp", 0, U } };
	static const struct ent upper[] = { { "O", "CORP", 0, P },
	    { "CN", "SCCM", 0, P } };
	static const struct ent more[] = { { "O", "Corp", 0, U },
	    { "OU", "IT", 0, U }, { "CN", "sccm", 0, U } };
	static const struct ent admin[] = { { "CN", "admin", 0, U } };
	static const struct ent ou[] = { { "O", "Corp", 0, U },
	    { "OU", "sccm", 0, U } };
	X509_NAME *n;

	(void)state;
	n = name_of(corp, 2);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 1);
	assert_int_equal(ca_dn_matches(n, "CN=sccm, O=Corp"), 1);
	assert_int_equal(ca_dn_matches(n, "CN=SCCM,O=corp"), 1);
	assert_int_equal(ca_dn_matches(n, "O=Corp,CN=sccm"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp,C=US"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm\\,O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm+O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp\\"), 0);
	assert_int_equal(ca_dn_matches(n, ""), 0);
	X509_NAME_free(n);
	/* One CN that contains ",O=Corp": only the escaped text is it. */
	n = name_of(comma, 1);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm\\,O=Corp"), 1);
	X509_NAME_free(n);
	/* One RDN with two values is not two RDNs. */
	n = name_of(multi, 2);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "O=Corp,CN=sccm"), 0);
	X509_NAME_free(n);
	/* The order of the RDNs counts. */
	n = name_of(reversed, 2);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "O=Corp,CN=sccm"), 1);
	X509_NAME_free(n);
	/* Case and string type do not (caseIgnoreMatch). */
	n = name_of(upper, 2);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 1);
	X509_NAME_free(n);
	n = name_of(more, 3);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,OU=IT,O=Corp"), 1);
	X509_NAME_free(n);
	n = name_of(admin, 1);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 0);
	assert_int_equal(ca_dn_matches(n, "CN=admin"), 1);
	X509_NAME_free(n);
	/* The attribute type counts, not only the value. */
	n = name_of(ou, 2);
	assert_int_equal(ca_dn_matches(n, "CN=sccm,O=Corp"), 0);
	X509_NAME_free(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_norm),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_option_order),
		cmocka_unit_test(test_pathlen),
		cmocka_unit_test(test_keytypes),
		cmocka_unit_test(test_dn_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
