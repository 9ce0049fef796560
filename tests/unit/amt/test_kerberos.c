/* SPDX-License-Identifier: MIT */
/* tests/unit/amt/test_kerberos.c - AMT Kerberos values (reference/amt.md
 * 5): the NT hash, SIDs, the AD user salt, and the Kerberos envelopes
 * (settings Put, Kerberos ACL entries) with their secrets kept out of
 * redacted text. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "amt.h"
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

static int
setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

static struct seal_secret *
sec(const char *s)
{
	struct seal_secret *p = seal_secret_dup(s, strlen(s));

	assert_non_null(p);
	return p;
}

static char *
nt(const char *pw)
{
	struct seal_secret *p = sec(pw), *h = NULL;
	char *s;

	assert_int_equal(amt_nt_hash(p, &h), CUST_OK);
	assert_int_equal(seal_secret_len(h), AMT_NTHASH_LEN);
	s = strdup(seal_secret_str(h));
	assert_non_null(s);
	seal_secret_free(h);
	seal_secret_free(p);
	return s;
}

/* reference 5: the IRG sample's MasterKey, and NT("password"). */
static void
test_nt_hash(void **state)
{
	unsigned char bin[16];
	char hex[33], *s;
	size_t len = 0;

	(void)state;
	s = nt("P@ssw0rd");
	assert_string_equal(s, "4ZzPde5U4GsGpZB68TzvQg==");
	free(s);
	s = nt("password");
	assert_int_equal(sodium_base642bin(bin, sizeof(bin), s, strlen(s), NULL,
	    &len, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(len, 16);
	sodium_bin2hex(hex, sizeof(hex), bin, 16);
	assert_string_equal(hex, "8846f7eaee8fb117ad06bdd830b7586c");
	free(s);
}

static void
test_nt_hash_refuses(void **state)
{
	struct seal_secret *p = sec("caf\xc3\xa9"), *h = NULL;

	(void)state;
	/* Not ASCII: UTF-16LE would need a real conversion. */
	assert_int_equal(amt_nt_hash(p, &h), CUST_E_INVAL);
	assert_null(h);
	seal_secret_free(p);
	assert_int_equal(amt_nt_hash(NULL, &h), CUST_E_INVAL);
}

/* reference 4: S-1-5-21-1004336348-1177238915-682003330-512. */
static void
test_sid(void **state)
{
	char b[AMT_SID_B64_MAX];
	unsigned char bin[28];
	size_t len;

	(void)state;
	assert_int_equal(amt_sid_b64("S-1-5-21-1004336348-1177238915-"
	    "682003330-512", b, sizeof(b)), CUST_OK);
	assert_string_equal(b, "AQUAAAAAAAUVAAAA3PTcO4M9K0aCi6YoAAIAAA==");
	assert_int_equal(amt_sid_check_b64(b), CUST_OK);
	/* A well-known SID with one sub-authority (BUILTIN). */
	assert_int_equal(amt_sid_parse("S-1-5-32", bin, &len), CUST_OK);
	assert_int_equal(len, 12);
	assert_int_equal(bin[1], 1);
	assert_int_equal(bin[7], 5);
	assert_int_equal(bin[8], 32);
	/* Six sub-authorities do not fit AMT's 28 bytes; junk is refused. */
	assert_int_equal(amt_sid_b64("S-1-5-21-1-2-3-4-5", b, sizeof(b)),
	    CUST_E_INVAL);
	assert_int_equal(amt_sid_b64("S-1-5", b, sizeof(b)), CUST_E_INVAL);
	assert_int_equal(amt_sid_b64("S-2-5-21", b, sizeof(b)), CUST_E_INVAL);
	assert_int_equal(amt_sid_b64("S-1-5-21-x", b, sizeof(b)),
	    CUST_E_INVAL);
	assert_int_equal(amt_sid_b64("S-1-5-4294967296", b, sizeof(b)),
	    CUST_E_INVAL);
	assert_int_equal(amt_sid_b64("S-1-5-21-", b, sizeof(b)), CUST_E_INVAL);
	assert_int_equal(amt_sid_b64("S-1-5-21-1", b, 8), CUST_E_TOOBIG);
	/* Base64 that is not a SID AMT takes. */
	assert_int_equal(amt_sid_check_b64("AQUAAAAAAAUVAAAA"), CUST_E_INVAL);
	assert_int_equal(amt_sid_check_b64("AgUAAAAAAAUVAAAA3PTcO4M9K0aCi6Yo"
	    "AAIAAA=="), CUST_E_INVAL);	/* revision 2 */
	assert_int_equal(amt_sid_check_b64("not base64!"), CUST_E_INVAL);
	assert_int_equal(amt_sid_check_b64(NULL), CUST_E_INVAL);
}

static void
test_salt(void **state)
{
	char s[64];

	(void)state;
	assert_int_equal(amt_krb_user_salt("custody.test", "amt-0123456789a",
	    s, sizeof(s)), CUST_OK);
	assert_string_equal(s, "CUSTODY.TESTamt-0123456789a");
	assert_int_equal(amt_krb_user_salt("X.Y", "abc", s, 6), CUST_E_TOOBIG);
	assert_int_equal(amt_krb_user_salt("", "abc", s, sizeof(s)),
	    CUST_E_INVAL);
}

static char *
body(const struct amt_req *q)
{
	struct seal_secret *b = NULL;
	char *s;

	assert_int_equal(amt_req_body(q, &b), CUST_OK);
	s = strdup(seal_secret_str(b));
	seal_secret_free(b);
	assert_non_null(s);
	return s;
}

static void
test_put_passphrase(void **state)
{
	struct seal_secret *pp = sec("Pa<ss&w0rd!");
	struct amt_krb_settings ks = { "custody.test", 3, 1, NULL, pp,
	    "CUSTODY.TESTamt-0123456789a", AMT_KRB_ITERATIONS,
	    AMT_KRB_RC4 | AMT_KRB_AES128 | AMT_KRB_AES256 };
	struct amt_req *q = NULL;
	char *b, *red;

	(void)state;
	assert_int_equal(amt_msg_kerberos_put(4, &ks, &q), CUST_OK);
	assert_string_equal(amt_req_action(q),
	    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put");
	assert_string_equal(amt_req_resource(q), AMT_NS_AMT
	    "AMT_KerberosSettingData");
	/* The passphrase is the AD object's password: TLS only. */
	assert_true(amt_req_plain_secret(q));
	assert_false(amt_req_idempotent(q));
	b = body(q);
	assert_non_null(strstr(b, "<w:SelectorSet><w:Selector Name=\"InstanceID"
	    "\">Intel (r) AMT: Kerberos Settings</w:Selector></w:SelectorSet>"));
	assert_non_null(strstr(b, "<h:AMT_KerberosSettingData xmlns:h=\""
	    AMT_NS_AMT "AMT_KerberosSettingData\"><h:ElementName>"));
	assert_non_null(strstr(b, "<h:RealmName>custody.test</h:RealmName>"
	    "<h:KeyVersion>3</h:KeyVersion><h:EncryptionAlgorithm>0"
	    "</h:EncryptionAlgorithm><h:MaximumClockTolerance>5"
	    "</h:MaximumClockTolerance><h:KrbEnabled>true</h:KrbEnabled>"
	    "<h:Passphrase>Pa&lt;ss&amp;w0rd!</h:Passphrase><h:Salt>"
	    "CUSTODY.TESTamt-0123456789a</h:Salt><h:IterationCount>4096"
	    "</h:IterationCount><h:ConfiguredEncryptionAlgorithms>0"
	    "</h:ConfiguredEncryptionAlgorithms>"
	    "<h:ConfiguredEncryptionAlgorithms>1"
	    "</h:ConfiguredEncryptionAlgorithms>"
	    "<h:ConfiguredEncryptionAlgorithms>2"
	    "</h:ConfiguredEncryptionAlgorithms></h:AMT_KerberosSettingData>"));
	assert_null(strstr(b, "MasterKey"));
	/* Never shown, not even to reviewers of a dry run. */
	assert_int_equal(amt_req_redacted(q, 0, &red), CUST_OK);
	assert_null(strstr(red, "Pa&lt;ss"));
	assert_non_null(strstr(red, "<h:Passphrase>***</h:Passphrase>"));
	free(red);
	free(b);
	amt_req_free(q);
	seal_secret_free(pp);
}

static void
test_put_master_key(void **state)
{
	struct seal_secret *pw = sec("P@ssw0rd"), *mk = NULL;
	struct amt_krb_settings ks = { "corp.example", 1, 1, NULL, NULL, NULL,
	    0, AMT_KRB_RC4 };
	struct amt_req *q = NULL;
	char *b, *red;

	(void)state;
	assert_int_equal(amt_nt_hash(pw, &mk), CUST_OK);
	ks.master_key = mk;
	assert_int_equal(amt_msg_kerberos_put(5, &ks, &q), CUST_OK);
	assert_true(amt_req_plain_secret(q));
	b = body(q);
	assert_non_null(strstr(b, "<h:KeyVersion>1</h:KeyVersion>"
	    "<h:EncryptionAlgorithm>0</h:EncryptionAlgorithm><h:MasterKey>"
	    "4ZzPde5U4GsGpZB68TzvQg==</h:MasterKey>"));
	assert_null(strstr(b, "Passphrase"));
	assert_int_equal(amt_req_redacted(q, 0, &red), CUST_OK);
	assert_null(strstr(red, "4ZzPde5U"));
	free(red);
	free(b);
	amt_req_free(q);
	/* Both keys, neither, a bad realm, KeyVersion 0: refused. */
	ks.passphrase = pw;
	ks.salt = "S";
	ks.iterations = 4096;
	assert_int_equal(amt_msg_kerberos_put(6, &ks, &q), CUST_E_INVAL);
	ks.master_key = NULL;
	ks.passphrase = NULL;
	assert_int_equal(amt_msg_kerberos_put(6, &ks, &q), CUST_E_INVAL);
	ks.passphrase = pw;
	ks.salt = NULL;
	assert_int_equal(amt_msg_kerberos_put(6, &ks, &q), CUST_E_INVAL);
	ks.salt = "S";
	ks.realm = "corp example</h:RealmName>";
	assert_int_equal(amt_msg_kerberos_put(6, &ks, &q), CUST_E_INVAL);
	ks.realm = "corp.example";
	ks.key_version = 0;
	assert_int_equal(amt_msg_kerberos_put(6, &ks, &q), CUST_E_INVAL);
	assert_null(q);
	seal_secret_free(mk);
	seal_secret_free(pw);
}

static void
test_kerberos_user(void **state)
{
	const unsigned realms[] = { 2, 5 };
	const char *sid = "AQUAAAAAAAUVAAAA3PTcO4M9K0aCi6YoAAIAAA==";
	struct amt_req *q = NULL;
	char *b;

	(void)state;
	assert_int_equal(amt_msg_add_kerberos_user(8, sid, 1, realms, 2, &q),
	    CUST_OK);
	assert_false(amt_req_plain_secret(q));
	b = body(q);
	assert_non_null(strstr(b, "<h:AddUserAclEntryEx_INPUT xmlns:h=\""
	    AMT_NS_AMT "AMT_AuthorizationService\"><h:KerberosUserSid>"
	    "AQUAAAAAAAUVAAAA3PTcO4M9K0aCi6YoAAIAAA==</h:KerberosUserSid>"
	    "<h:AccessPermission>1</h:AccessPermission><h:Realms>2</h:Realms>"
	    "<h:Realms>5</h:Realms></h:AddUserAclEntryEx_INPUT>"));
	assert_null(strstr(b, "Digest"));
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_update_kerberos_user(9, 4, sid, 2, realms, 1,
	    &q), CUST_OK);
	b = body(q);
	assert_non_null(strstr(b, "<h:UpdateUserAclEntryEx_INPUT xmlns:h=\""
	    AMT_NS_AMT "AMT_AuthorizationService\"><h:Handle>4</h:Handle>"
	    "<h:KerberosUserSid>"));
	free(b);
	amt_req_free(q);
	q = NULL;
	assert_int_equal(amt_msg_add_kerberos_user(8, "AQUA<x>", 1, realms, 2,
	    &q), CUST_E_INVAL);
	assert_int_equal(amt_msg_add_kerberos_user(8, NULL, 1, realms, 2, &q),
	    CUST_E_INVAL);
	assert_int_equal(amt_msg_add_kerberos_user(8, sid, 1, realms, 0, &q),
	    CUST_E_INVAL);
	assert_null(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nt_hash),
		cmocka_unit_test(test_nt_hash_refuses),
		cmocka_unit_test(test_sid),
		cmocka_unit_test(test_salt),
		cmocka_unit_test(test_put_passphrase),
		cmocka_unit_test(test_put_master_key),
		cmocka_unit_test(test_kerberos_user),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
