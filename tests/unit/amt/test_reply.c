/* SPDX-License-Identifier: MIT */
/* tests/unit/amt/test_reply.c - WS-Man replies: outputs read back, and
 * malformed or hostile replies refused with a clear error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amt.h"
#include "../../../src/amt/amt_int.h"	/* amt_reply_set_auth_realm() */
#include "err.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"

#define AUTHZ AMT_NS_AMT "AMT_AuthorizationService"
#define XFER "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define ENUMNS "http://schemas.xmlsoap.org/ws/2004/09/enumeration"

static int
setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

/* A reply envelope as AMT writes one (GWM's fixtures). */
#define FMT "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
    "<a:Envelope xmlns:a=\"http://www.w3.org/2003/05/soap-envelope\" " \
    "xmlns:b=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" " \
    "xmlns:c=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" " \
    "xmlns:e=\"" ENUMNS "\" " \
    "xmlns:g=\"" AUTHZ "\"><a:Header><b:To>http://schemas.xmlsoap.org" \
    "/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>%s" \
    "</b:RelatesTo><b:Action a:mustUnderstand=\"true\">%s</b:Action>" \
    "<b:MessageID>uuid:00000000-8086-8086-8086-000000000001" \
    "</b:MessageID></a:Header><a:Body>%s</a:Body></a:Envelope>"

static char *
reply(const char *action, const char *relates, const char *body)
{
	size_t n = strlen(FMT) + strlen(action) + strlen(relates) +
	    strlen(body) + 1;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, FMT, relates, action, body);
	return s;
}

static struct amt_req *
set_admin(unsigned long id)
{
	struct seal_secret *dpw = seal_secret_dup("arkZL7pYoE1eDE34m5pDUA==",
	    24);
	struct amt_req *q = NULL;

	assert_int_equal(amt_msg_set_admin(id, "admin", dpw, &q), CUST_OK);
	seal_secret_free(dpw);
	return q;
}

static int
parse(const char *s, const struct amt_req *q, struct amt_reply **r)
{
	return amt_reply_parse(s, strlen(s), q, r);
}

static void
test_return_value(void **state)
{
	struct amt_req *q = set_admin(7);
	struct amt_reply *r = NULL;
	char *s;

	(void)state;
	s = reply(AUTHZ "/SetAdminAclEntryExResponse", "7",
	    "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>0</g:ReturnValue>"
	    "</g:SetAdminAclEntryEx_OUTPUT>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_int_equal(amt_reply_rv(r), 0);
	assert_int_equal(amt_reply_check(r), CUST_OK);
	amt_reply_free(r);
	free(s);
	s = reply(AUTHZ "/SetAdminAclEntryExResponse", "7",
	    "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>2054</g:ReturnValue>"
	    "</g:SetAdminAclEntryEx_OUTPUT>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_int_equal(amt_reply_rv(r), 2054);
	assert_int_equal(amt_reply_check(r), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "SetAdminAclEntryEx"));
	assert_non_null(strstr(cust_errmsg(), "PT_STATUS_INVALID_PASSWORD "
	    "(2054)"));
	amt_reply_free(r);
	free(s);
	amt_req_free(q);
	assert_string_equal(amt_pt_status(16), "PT_STATUS_NOT_PERMITTED");
	assert_string_equal(amt_pt_status(99999), "PT_STATUS_UNKNOWN");
}

static void
expect(const char *s, const struct amt_req *q, int code, const char *msg)
{
	struct amt_reply *r = NULL;

	assert_int_equal(amt_reply_parse(s, strlen(s), q, &r), code);
	assert_null(r);
	if (strstr(cust_errmsg(), msg) == NULL)
		fail_msg("error '%s' lacks '%s'", cust_errmsg(), msg);
}

static void
test_hostile(void **state)
{
	struct amt_req *q = set_admin(7);
	const char *ok = "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>0"
	    "</g:ReturnValue></g:SetAdminAclEntryEx_OUTPUT>";
	const char *act = AUTHZ "/SetAdminAclEntryExResponse";
	char *s, *big;
	size_t n;

	(void)state;
	/* Wrong RelatesTo: the answer to another request. */
	s = reply(act, "6", ok);
	expect(s, q, CUST_E_PARSE, "relates to message '6', not 7");
	free(s);
	s = reply(act, "7x", ok);
	expect(s, q, CUST_E_PARSE, "relates to");
	free(s);
	/* Wrong Action. */
	s = reply(AUTHZ "/SetAdminAclEntryEx", "7", ok);
	expect(s, q, CUST_E_PARSE, "Action");
	free(s);
	s = reply(AUTHZ "/GetAdminAclEntryResponse", "7", ok);
	expect(s, q, CUST_E_PARSE, "Action");
	free(s);
	/* Missing and non-numeric ReturnValue. */
	s = reply(act, "7", "<g:SetAdminAclEntryEx_OUTPUT/>");
	expect(s, q, CUST_E_PARSE, "no ReturnValue");
	free(s);
	s = reply(act, "7", "<g:Other_OUTPUT><g:ReturnValue>0</g:ReturnValue>"
	    "</g:Other_OUTPUT>");
	expect(s, q, CUST_E_PARSE, "no ReturnValue");
	free(s);
	s = reply(act, "7", "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>"
	    "zero</g:ReturnValue></g:SetAdminAclEntryEx_OUTPUT>");
	expect(s, q, CUST_E_PARSE, "not a number");
	free(s);
	s = reply(act, "7", "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>"
	    "-1</g:ReturnValue></g:SetAdminAclEntryEx_OUTPUT>");
	expect(s, q, CUST_E_PARSE, "not a number");
	free(s);
	s = reply(act, "7", "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>"
	    "4294967296</g:ReturnValue></g:SetAdminAclEntryEx_OUTPUT>");
	expect(s, q, CUST_E_PARSE, "not a number");
	free(s);
	/* Repeated elements: what is checked must be all there is. */
	s = reply(act, "7</b:RelatesTo><b:RelatesTo>6", ok);
	expect(s, q, CUST_E_PARSE, "repeats");
	free(s);
	s = reply(act, "7", ok);
	{
		char *d = malloc(strlen(s) + 200), *at = strstr(s, "</a:Header>");

		assert_non_null(d);
		snprintf(d, strlen(s) + 200, "%.*s<b:Action>%s</b:Action>%s",
		    (int)(at - s), s, AUTHZ "/OtherResponse", at);
		expect(d, q, CUST_E_PARSE, "repeats");
		snprintf(d, strlen(s) + 200, "%.*s<a:Body/></a:Envelope>",
		    (int)(strstr(s, "</a:Envelope>") - s), s);
		expect(d, q, CUST_E_PARSE, "repeats");
		free(d);
	}
	free(s);
	s = reply(act, "7", "<g:SetAdminAclEntryEx_OUTPUT><g:ReturnValue>0"
	    "</g:ReturnValue><g:ReturnValue>2054</g:ReturnValue>"
	    "</g:SetAdminAclEntryEx_OUTPUT>");
	expect(s, q, CUST_E_PARSE, "more than one ReturnValue");
	free(s);
	/* Nesting past libxml2's depth limit is not parsed. */
	{
		size_t depth = 3000, k;
		char *b = malloc(depth * 11 + 64), *p = b;

		assert_non_null(b);
		for (k = 0; k < depth; k++, p += 5)
			memcpy(p, "<g:x>", 5);
		for (k = 0; k < depth; k++, p += 6)
			memcpy(p, "</g:x>", 6);
		*p = '\0';
		s = reply(act, "7", b);
		expect(s, q, CUST_E_PARSE, "not well-formed");
		free(s);
		free(b);
	}
	/* A DOCTYPE, and the billion laughs. */
	expect("<?xml version=\"1.0\"?><!DOCTYPE a:Envelope SYSTEM "
	    "\"http://evil.example/x.dtd\"><a:Envelope/>", q, CUST_E_PARSE,
	    "DTD");
	expect("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
	    "<lolz>&lol2;</lolz>", q, CUST_E_PARSE, "DTD");
	/* External entity through a UTF-16 declaration is not read as such. */
	expect("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>", q,
	    CUST_E_PARSE, "");
	/* Oversized: refused before parsing. */
	n = AMT_REPLY_MAX + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	assert_int_equal(amt_reply_parse(big, n, q, &(struct amt_reply *){
	    NULL }), CUST_E_TOOBIG);
	free(big);
	/* Not XML, not SOAP, empty. */
	expect("<a:Envelope", q, CUST_E_PARSE, "not well-formed");
	expect("<Envelope><Header/><Body/></Envelope>", q, CUST_E_PARSE,
	    "SOAP 1.2");
	assert_int_equal(amt_reply_parse("", 0, q, &(struct amt_reply *){
	    NULL }), CUST_E_PARSE);
	/* No RelatesTo at all. */
	s = reply(act, "7", ok);
	memcpy(strstr(s, "<b:RelatesTo>") + 3, "Xelate", 6);
	memcpy(strstr(s, "</b:RelatesTo>") + 4, "Xelate", 6);
	expect(s, q, CUST_E_PARSE, "no RelatesTo");
	free(s);
	amt_req_free(q);
}

static void
test_fault(void **state)
{
	struct amt_req *q = set_admin(3);
	char *s;

	(void)state;
	s = reply("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", "3",
	    "<a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>"
	    "c:AccessDenied</a:Value></a:Subcode></a:Code><a:Reason><a:Text "
	    "xml:lang=\"en-US\">The sender was not authorized to access the "
	    "resource.</a:Text></a:Reason></a:Fault>");
	expect(s, q, CUST_E_CONFLICT, "SetAdminAclEntryEx: SOAP fault: "
	    "c:AccessDenied: The sender was not authorized");
	free(s);
	amt_req_free(q);
}

static void
test_get_outputs(void **state)
{
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char *s;

	(void)state;
	assert_int_equal(amt_msg_get(1, "AMT_GeneralSettings", &q), CUST_OK);
	s = reply(XFER "/GetResponse", "1", "<g:AMT_GeneralSettings xmlns:g="
	    "\"" AMT_NS_AMT "AMT_GeneralSettings\"><g:DigestRealm>\n  Digest:"
	    "A4070000000000000000000000000000 </g:DigestRealm><g:DomainName>"
	    "corp.example</g:DomainName><g:HostName>pc1</g:HostName>"
	    "</g:AMT_GeneralSettings>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_string_equal(amt_reply_value(r, "DigestRealm"),
	    "Digest:A4070000000000000000000000000000");
	assert_string_equal(amt_reply_value(r, "HostName"), "pc1");
	assert_string_equal(amt_reply_value(r, "DomainName"), "corp.example");
	assert_null(amt_reply_value(r, "Nothing"));
	amt_reply_free(r);
	free(s);
	/* An empty body is no answer to a Get. */
	s = reply(XFER "/GetResponse", "1", "");
	expect(s, q, CUST_E_PARSE, "empty body");
	free(s);
	amt_req_free(q);
}

static int
collect(void *arg, const char *v)
{
	char *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 64 - n, "%s,", v);
	return 0;
}

/* amt_realm_differs(): why a device's realm is not the registered one; a
 * difference in case alone is said as such (still refused: the
 * DigestPasswords are made with the registered spelling). */
static void
test_realm_differs(void **state)
{
	(void)state;
	assert_non_null(strstr(amt_realm_differs(
	    "Digest:A4070000000000000000000000000000",
	    "Digest:a4070000000000000000000000000000"), "only the case"));
	assert_string_equal(amt_realm_differs(
	    "Digest:A4070000000000000000000000000000",
	    "Digest:B4070000000000000000000000000000"), "not this device");
}

/* amt_reply_realm(): the body's DigestRealm, valid, and the realm the
 * exchange logged in with when it did (a rewritten body is refused). */
static void
test_realm(void **state)
{
	static const char *const bodies[] = {
	    "<g:AMT_GeneralSettings><g:DigestRealm>"
	    "Digest:A4070000000000000000000000000000</g:DigestRealm>"
	    "</g:AMT_GeneralSettings>",
	    "<g:AMT_GeneralSettings><g:DigestRealm>Digest:XYZ</g:DigestRealm>"
	    "</g:AMT_GeneralSettings>",
	    "<g:AMT_GeneralSettings><g:HostName>x</g:HostName>"
	    "</g:AMT_GeneralSettings>",
	};
	char realm[AMT_REALM_MAX], body[512];
	struct amt_reply *r = NULL;
	struct amt_req *q = NULL;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(amt_msg_get(5, "AMT_GeneralSettings", &q),
		    CUST_OK);
		snprintf(body, sizeof(body), "%s", bodies[i]);
		s = reply(XFER "/GetResponse", "5", body);
		assert_int_equal(parse(s, q, &r), CUST_OK);
		if (i == 0) {
			/* No login seen (a reused nonce): the body's. */
			assert_int_equal(amt_reply_realm(r, realm), CUST_OK);
			assert_string_equal(realm,
			    "Digest:A4070000000000000000000000000000");
			amt_reply_set_auth_realm(r,
			    "Digest:A4070000000000000000000000000000");
			assert_int_equal(amt_reply_realm(r, realm), CUST_OK);
			/* The same hex digits in another case: the same realm
			 * (as the registry compares them), answered as the
			 * login spells it (the DigestPasswords' realm). */
			amt_reply_set_auth_realm(r,
			    "Digest:a4070000000000000000000000000000");
			assert_int_equal(amt_reply_realm(r, realm), CUST_OK);
			assert_string_equal(realm,
			    "Digest:a4070000000000000000000000000000");
			/* The login's realm differs: rewritten on the way. */
			amt_reply_set_auth_realm(r,
			    "Digest:A4070000000000000000000000000001");
			assert_int_equal(amt_reply_realm(r, realm),
			    CUST_E_VIOLATION);
			assert_string_equal(realm, "");
			assert_non_null(strstr(cust_errmsg(),
			    "not the realm it logs in with"));
		} else {
			assert_int_equal(amt_reply_realm(r, realm),
			    CUST_E_PARSE);
		}
		amt_reply_free(r);
		r = NULL;
		free(s);
		amt_req_free(q);
		q = NULL;
	}
}

static void
test_arrays_and_epr(void **state)
{
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char *s, got[64] = "";

	(void)state;
	assert_int_equal(amt_msg_enum_users(2, 1, &q), CUST_OK);
	s = reply(AUTHZ "/EnumerateUserAclEntriesResponse", "2",
	    "<g:EnumerateUserAclEntries_OUTPUT><g:TotalCount>3</g:TotalCount>"
	    "<g:HandlesCount>3</g:HandlesCount><g:Handles>4</g:Handles>"
	    "<g:Handles>9</g:Handles><g:Handles>12</g:Handles><g:ReturnValue>0"
	    "</g:ReturnValue></g:EnumerateUserAclEntries_OUTPUT>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_int_equal(amt_reply_values(r, "Handles", collect, got),
	    CUST_OK);
	assert_string_equal(got, "4,9,12,");
	amt_reply_free(r);
	free(s);
	amt_req_free(q);
	assert_int_equal(amt_msg_gen_keypair(3, 2048, &q), CUST_OK);
	s = reply(AMT_NS_AMT "AMT_PublicKeyManagementService/"
	    "GenerateKeyPairResponse", "3", "<g:GenerateKeyPair_OUTPUT>"
	    "<g:KeyPair><b:Address>/wsman</b:Address><b:ReferenceParameters>"
	    "<c:ResourceURI>" AMT_NS_AMT "AMT_PublicPrivateKeyPair"
	    "</c:ResourceURI><c:SelectorSet><c:Selector Name=\"InstanceID\">"
	    "Intel(r) AMT Key: Handle: 0</c:Selector></c:SelectorSet>"
	    "</b:ReferenceParameters></g:KeyPair><g:ReturnValue>0"
	    "</g:ReturnValue></g:GenerateKeyPair_OUTPUT>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_string_equal(amt_reply_value(r, "InstanceID"),
	    "Intel(r) AMT Key: Handle: 0");
	amt_reply_free(r);
	free(s);
	amt_req_free(q);
	/* The longest method name custody invokes: its <METHOD_OUTPUT>
	 * (32 characters) is found whole. */
	assert_int_equal(amt_msg_add_root(4, "MIIB", &q), CUST_OK);
	s = reply(AMT_NS_AMT "AMT_PublicKeyManagementService/"
	    "AddTrustedRootCertificateResponse", "4",
	    "<g:AddTrustedRootCertificate_OUTPUT><g:ReturnValue>2058"
	    "</g:ReturnValue></g:AddTrustedRootCertificate_OUTPUT>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_int_equal(amt_reply_rv(r), 2058);
	amt_reply_free(r);
	free(s);
	amt_req_free(q);
}

static void
test_enumerate_pull(void **state)
{
	struct amt_req *q = NULL;
	struct amt_reply *r = NULL;
	char *s;

	(void)state;
	assert_int_equal(amt_msg_enumerate(4, "CIM_SoftwareIdentity", &q),
	    CUST_OK);
	s = reply(ENUMNS "/EnumerateResponse", "4", "<e:EnumerateResponse>"
	    "<e:EnumerationContext>0B000000-0000-0000-0000-000000000000"
	    "</e:EnumerationContext></e:EnumerateResponse>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_string_equal(amt_reply_value(r, "EnumerationContext"),
	    "0B000000-0000-0000-0000-000000000000");
	amt_reply_free(r);
	free(s);
	s = reply(ENUMNS "/EnumerateResponse", "4", "<e:EnumerateResponse/>");
	expect(s, q, CUST_E_PARSE, "no EnumerationContext");
	free(s);
	amt_req_free(q);
	assert_int_equal(amt_msg_pull(5, "CIM_SoftwareIdentity", "0B", &q),
	    CUST_OK);
	s = reply(ENUMNS "/PullResponse", "5", "<e:PullResponse><e:Items>"
	    "<h:CIM_SoftwareIdentity xmlns:h=\"x\"><h:InstanceID>Flash"
	    "</h:InstanceID><h:VersionString>12.0.67</h:VersionString>"
	    "</h:CIM_SoftwareIdentity><h:CIM_SoftwareIdentity xmlns:h=\"x\">"
	    "<h:InstanceID>AMT</h:InstanceID><h:VersionString>12.0.68"
	    "</h:VersionString></h:CIM_SoftwareIdentity></e:Items>"
	    "<e:EndOfSequence/></e:PullResponse>");
	assert_int_equal(parse(s, q, &r), CUST_OK);
	assert_int_equal(amt_reply_items(r), 2);
	assert_string_equal(amt_reply_item_value(r, 1, "InstanceID"), "AMT");
	assert_string_equal(amt_reply_item_value(r, 1, "VersionString"),
	    "12.0.68");
	assert_string_equal(amt_reply_item_value(r, 0, "VersionString"),
	    "12.0.67");
	assert_null(amt_reply_item_value(r, 2, "InstanceID"));
	assert_null(amt_reply_value(r, "InstanceID"));
	assert_true(amt_reply_end(r));
	amt_reply_free(r);
	free(s);
	amt_req_free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_return_value),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_fault),
		cmocka_unit_test(test_get_outputs),
		cmocka_unit_test(test_arrays_and_epr),
		cmocka_unit_test(test_realm),
		cmocka_unit_test(test_realm_differs),
		cmocka_unit_test(test_enumerate_pull),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
