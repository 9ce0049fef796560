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
	/* Issuing CA within the root. */
	assert_int_equal(ca_opt_set(o, "issuing-days", "8000"), CUST_E_INVAL);
	json_object_del(o, "issuing_days");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_norm),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_keytypes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
