/* SPDX-License-Identifier: MIT */
/* tests/unit/amt/test_wsman.c - WS-Man request envelopes: exact shapes
 * (reference/amt.md 4), escaping, secrets kept out of redacted text. */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "amt.h"
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

#define ENV_OPEN "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Envelope " \
    "xmlns=\"http://www.w3.org/2003/05/soap-envelope\" " \
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" " \
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" " \
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" " \
    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><Header>"
#define HDR_TAIL "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/" \
    "2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>" \
    "<w:OperationTimeout>PT60S</w:OperationTimeout>"
#define AUTHZ AMT_NS_AMT "AMT_AuthorizationService"

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

/* The body as sent, as a C string (test only). */
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

/* Well-formed XML. */
static void
parses(const char *s)
{
	xmlDoc *d = xmlReadMemory(s, (int)strlen(s), "t.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

	if (d == NULL)
		fail_msg("not well-formed: %s", s);
	xmlFreeDoc(d);
}

static void
test_set_admin_exact(void **state)
{
	struct seal_secret *dpw = sec("arkZL7pYoE1eDE34m5pDUA==");
	struct amt_req *q = NULL;
	char *b, *red;
	const char *want = ENV_OPEN
	    "<a:Action>" AUTHZ "/SetAdminAclEntryEx</a:Action>"
	    "<a:To>/wsman</a:To><w:ResourceURI>" AUTHZ "</w:ResourceURI>"
	    "<a:MessageID>7</a:MessageID>" HDR_TAIL "</Header><Body>"
	    "<h:SetAdminAclEntryEx_INPUT xmlns:h=\"" AUTHZ "\">"
	    "<h:Username>admin</h:Username>"
	    "<h:DigestPassword>arkZL7pYoE1eDE34m5pDUA==</h:DigestPassword>"
	    "</h:SetAdminAclEntryEx_INPUT></Body></Envelope>\n";

	(void)state;
	assert_int_equal(amt_msg_set_admin(7, "admin", dpw, &q), CUST_OK);
	assert_int_equal(amt_req_msgid(q), 7);
	assert_string_equal(amt_req_action(q), AUTHZ "/SetAdminAclEntryEx");
	assert_false(amt_req_idempotent(q));
	assert_false(amt_req_plain_secret(q));
	b = body(q);
	assert_string_equal(b, want);
	/* A DigestPassword is shown to reviewers; with hide_digest not. */
	assert_int_equal(amt_req_redacted(q, 0, &red), CUST_OK);
	assert_string_equal(red, want);
	free(red);
	assert_int_equal(amt_req_redacted(q, 1, &red), CUST_OK);
	assert_null(strstr(red, "arkZL7"));
	assert_non_null(strstr(red, "<h:DigestPassword>***</h:DigestPassword>"));
	free(red);
	free(b);
	amt_req_free(q);
	seal_secret_free(dpw);
}

static void
test_get_exact(void **state)
{
	struct amt_req *q = NULL;
	char *b;
	const char *want = ENV_OPEN
	    "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
	    "</a:Action><a:To>/wsman</a:To><w:ResourceURI>" AMT_NS_AMT
	    "AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID>"
	    HDR_TAIL "</Header><Body/></Envelope>\n";

	(void)state;
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	assert_true(amt_req_idempotent(q));
	b = body(q);
	assert_string_equal(b, want);
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_get(2, "Foo_Bar", &q), CUST_E_INVAL);
	assert_null(q);
}

/* Arrays are repeated elements, in order, after the scalar inputs. */
static void
test_add_user_realms(void **state)
{
	struct seal_secret *dpw = sec("qLR4XU9J/alhj3PEDaBdTg==");
	unsigned realms[] = { 2, 5, 13 };
	struct amt_req *q = NULL;
	char *b;

	(void)state;
	assert_int_equal(amt_msg_add_user(3, "ops1", dpw, 1, realms, 3, &q),
	    CUST_OK);
	b = body(q);
	parses(b);
	assert_non_null(strstr(b, "<a:MessageID>3</a:MessageID>"));
	assert_non_null(strstr(b, "<h:AddUserAclEntryEx_INPUT xmlns:h=\""
	    AUTHZ "\"><h:DigestUsername>ops1</h:DigestUsername>"
	    "<h:DigestPassword>qLR4XU9J/alhj3PEDaBdTg==</h:DigestPassword>"
	    "<h:AccessPermission>1</h:AccessPermission><h:Realms>2</h:Realms>"
	    "<h:Realms>5</h:Realms><h:Realms>13</h:Realms>"
	    "</h:AddUserAclEntryEx_INPUT>"));
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_update_user(4, 12, "ops1", dpw, 2, realms, 1,
	    &q), CUST_OK);
	b = body(q);
	assert_non_null(strstr(b, "<h:UpdateUserAclEntryEx_INPUT xmlns:h=\""
	    AUTHZ "\"><h:Handle>12</h:Handle><h:DigestUsername>ops1"));
	assert_non_null(strstr(b, "<h:AccessPermission>2</h:AccessPermission>"
	    "<h:Realms>2</h:Realms></h:UpdateUserAclEntryEx_INPUT>"));
	free(b);
	amt_req_free(q);
	/* Refused inputs. */
	assert_int_equal(amt_msg_add_user(1, "a<b", dpw, 1, realms, 1, &q),
	    CUST_E_INVAL);
	assert_int_equal(amt_msg_add_user(1, "$$OsAdmin", dpw, 1, realms, 1,
	    &q), CUST_E_INVAL);
	assert_int_equal(amt_msg_add_user(1, "abcdefghijklmnopq", dpw, 1,
	    realms, 1, &q), CUST_E_INVAL);
	realms[0] = 23;
	assert_int_equal(amt_msg_add_user(1, "ops1", dpw, 1, realms, 1, &q),
	    CUST_E_INVAL);
	assert_int_equal(amt_msg_add_user(1, "ops1", dpw, 1, realms, 0, &q),
	    CUST_E_INVAL);
	realms[0] = 2;
	assert_int_equal(amt_msg_add_user(1, "ops1", dpw, 3, realms, 1, &q),
	    CUST_E_INVAL);
	assert_null(q);
	seal_secret_free(dpw);
}

/* A plaintext secret is escaped by the splice and never in the redacted
 * text, whatever the mode. */
static void
test_mebx_escaped(void **state)
{
	struct seal_secret *pw = sec("Pa<&>ss1x");
	struct amt_req *q = NULL;
	char *b, *red;

	(void)state;
	assert_int_equal(amt_msg_set_mebx(9, pw, &q), CUST_OK);
	assert_true(amt_req_plain_secret(q));
	b = body(q);
	parses(b);
	assert_non_null(strstr(b, "<h:SetMEBxPassword_INPUT xmlns:h=\""
	    AMT_NS_AMT "AMT_SetupAndConfigurationService\"><h:Password>"
	    "Pa&lt;&amp;&gt;ss1x</h:Password></h:SetMEBxPassword_INPUT>"));
	assert_int_equal(amt_req_redacted(q, 0, &red), CUST_OK);
	assert_null(strstr(red, "ss1x"));
	assert_non_null(strstr(red, "<h:Password>***</h:Password>"));
	parses(red);
	free(red);
	free(b);
	amt_req_free(q);
	seal_secret_free(pw);
}

static void
test_enumerate_pull(void **state)
{
	struct amt_req *q = NULL;
	char *b;

	(void)state;
	assert_int_equal(amt_msg_enumerate(5, "CIM_SoftwareIdentity", &q),
	    CUST_OK);
	b = body(q);
	assert_non_null(strstr(b, "<w:ResourceURI>" AMT_NS_CIM
	    "CIM_SoftwareIdentity</w:ResourceURI>"));
	assert_non_null(strstr(b, "<Body><Enumerate xmlns=\"http://schemas."
	    "xmlsoap.org/ws/2004/09/enumeration\"/></Body>"));
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_pull(6, "AMT_PublicKeyCertificate",
	    "03000000-0000-0000-0000-000000000000", &q), CUST_OK);
	assert_string_equal(amt_req_action(q),
	    "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull");
	b = body(q);
	assert_non_null(strstr(b, "<Body><Pull xmlns=\"http://schemas."
	    "xmlsoap.org/ws/2004/09/enumeration\"><EnumerationContext>"
	    "03000000-0000-0000-0000-000000000000</EnumerationContext>"
	    "<MaxElements>999</MaxElements><MaxCharacters>99999"
	    "</MaxCharacters></Pull></Body>"));
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_pull(6, "AMT_PublicKeyCertificate", "", &q),
	    CUST_E_INVAL);
}

/* EPR parameters and instances; TrustedCN values are escaped. */
static void
test_pki_and_tls(void **state)
{
	const char *cns[] = { "a&b.example", "c.example" };
	struct amt_tls_settings ts = { 0, 1, 1, 0, cns, 2 };
	struct amt_req *q = NULL;
	char *b;

	(void)state;
	assert_int_equal(amt_msg_pkcs10(8, "Intel(r) AMT Key: Handle: 0",
	    "MIIBCgKCAQEA", &q), CUST_OK);
	b = body(q);
	parses(b);
	assert_non_null(strstr(b, "<h:GeneratePKCS10RequestEx_INPUT xmlns:h=\""
	    AMT_NS_AMT "AMT_PublicKeyManagementService\"><h:KeyPair>"
	    "<a:Address>/wsman</a:Address><a:ReferenceParameters>"
	    "<w:ResourceURI>" AMT_NS_AMT "AMT_PublicPrivateKeyPair"
	    "</w:ResourceURI><w:SelectorSet><w:Selector Name=\"InstanceID\">"
	    "Intel(r) AMT Key: Handle: 0</w:Selector></w:SelectorSet>"
	    "</a:ReferenceParameters></h:KeyPair><h:SigningAlgorithm>1"
	    "</h:SigningAlgorithm><h:NullSignedCertificateRequest>MIIBCgKCAQEA"
	    "</h:NullSignedCertificateRequest>"));
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_add_cert(1, "not base64!", &q), CUST_E_INVAL);
	assert_int_equal(amt_msg_tls_context(10, "Intel(r) AMT Certificate: "
	    "Handle: 1", &q), CUST_OK);
	assert_string_equal(amt_req_action(q),
	    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create");
	b = body(q);
	parses(b);
	assert_non_null(strstr(b, "<Body><h:AMT_TLSCredentialContext xmlns:h=\""
	    AMT_NS_AMT "AMT_TLSCredentialContext\"><h:ElementInContext>"));
	assert_non_null(strstr(b, "<w:Selector Name=\"ElementName\">"
	    "TLSProtocolEndpointInstances Collection</w:Selector>"));
	free(b);
	amt_req_free(q);
	assert_int_equal(amt_msg_tls_put(11, &ts, &q), CUST_OK);
	b = body(q);
	parses(b);
	assert_non_null(strstr(b, "<w:SelectorSet><w:Selector Name=\""
	    "InstanceID\">Intel(r) AMT 802.3 TLS Settings</w:Selector>"
	    "</w:SelectorSet></Header>"));
	assert_non_null(strstr(b, "<h:MutualAuthentication>true</h:Mutual"
	    "Authentication><h:Enabled>true</h:Enabled><h:TrustedCN>"
	    "a&amp;b.example</h:TrustedCN><h:TrustedCN>c.example</h:TrustedCN>"
	    "<h:AcceptNonSecureConnections>false</h:AcceptNonSecure"
	    "Connections></h:AMT_TLSSettingData>"));
	free(b);
	amt_req_free(q);
}

/* Every other builder makes a well-formed envelope with its method. */
static void
test_all_builders(void **state)
{
	struct amt_req *q[8] = { NULL };
	const char *want[8] = { "GetAdminAclEntry", "EnumerateUserAclEntries",
	    "GetUserAclEntryEx", "RemoveUserAclEntry",
	    "GetLowAccuracyTimeSynch", "SetHighAccuracyTimeSynch",
	    "GenerateKeyPair", "CommitChanges" };
	size_t i;
	char *b;

	(void)state;
	assert_int_equal(amt_msg_get_admin(1, &q[0]), CUST_OK);
	assert_int_equal(amt_msg_enum_users(2, 1, &q[1]), CUST_OK);
	assert_int_equal(amt_msg_get_user(3, 4294967295u, &q[2]), CUST_OK);
	assert_int_equal(amt_msg_remove_user(4, 17, &q[3]), CUST_OK);
	assert_int_equal(amt_msg_get_time(5, &q[4]), CUST_OK);
	assert_int_equal(amt_msg_set_time(6, 1700000000u, 1700000001u,
	    1700000002u, &q[5]), CUST_OK);
	assert_int_equal(amt_msg_gen_keypair(7, 2048, &q[6]), CUST_OK);
	assert_int_equal(amt_msg_commit(8, &q[7]), CUST_OK);
	for (i = 0; i < 8; i++) {
		b = body(q[i]);
		parses(b);
		assert_non_null(strstr(amt_req_action(q[i]), want[i]));
		assert_non_null(strstr(b, want[i]));
		free(b);
	}
	b = body(q[2]);
	assert_non_null(strstr(b, "<h:Handle>4294967295</h:Handle>"));
	free(b);
	b = body(q[5]);
	assert_non_null(strstr(b, "<h:Ta0>1700000000</h:Ta0><h:Tm1>1700000001"
	    "</h:Tm1><h:Tm2>1700000002</h:Tm2>"));
	free(b);
	b = body(q[6]);
	assert_non_null(strstr(b, "<h:KeyAlgorithm>0</h:KeyAlgorithm>"
	    "<h:KeyLength>2048</h:KeyLength>"));
	free(b);
	assert_true(amt_req_idempotent(q[0]));
	assert_false(amt_req_idempotent(q[3]));
	for (i = 0; i < 8; i++)
		amt_req_free(q[i]);
	assert_int_equal(amt_msg_enum_users(2, 0, &q[0]), CUST_E_INVAL);
	assert_int_equal(amt_msg_gen_keypair(2, 1024, &q[0]), CUST_E_INVAL);
	amt_req_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_admin_exact),
		cmocka_unit_test(test_get_exact),
		cmocka_unit_test(test_add_user_realms),
		cmocka_unit_test(test_mebx_escaped),
		cmocka_unit_test(test_enumerate_pull),
		cmocka_unit_test(test_pki_and_tls),
		cmocka_unit_test(test_all_builders),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
