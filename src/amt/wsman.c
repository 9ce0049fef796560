/* SPDX-License-Identifier: MIT */
/* src/amt/wsman.c - WS-Man request envelopes (reference/amt.md 4).
 *
 * Every envelope has one shape: Envelope with the SOAP default namespace
 * and the a (addressing), w (wsman), xsi and xsd prefixes; Header with
 * a:Action, a:To, w:ResourceURI, a:MessageID, a:ReplyTo/a:Address,
 * w:OperationTimeout and an optional w:SelectorSet, in that order; a Body
 * that is empty (Get), an Enumerate or Pull, or one wrapper element in
 * the h prefix (an invocation's METHOD_INPUT, or a class instance for
 * Put/Create) holding one element per parameter, arrays as repeated
 * elements, absent optional parameters omitted.
 *
 * libxml2's writer produces the text, so every value is escaped by the
 * library. Secret parameters are never given to it: their element is
 * written empty and its offset recorded, and amt_req_body() splices the
 * escaped value in, in sodium_malloc'd memory.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlwriter.h>

#include "amt_int.h"
#include "err.h"
#include "seal.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init_once(void)
{
	xmlInitParser();
}

void
amt_xml_init(void)
{
	pthread_once(&xml_once, xml_init_once);
}

enum pkind {
	P_TEXT,		/* text value */
	P_DIGEST,	/* a DigestPassword (secret) */
	P_PLAIN,	/* a plaintext secret */
	P_EPR,		/* endpoint reference: cls, selector sel = text */
};

struct param {
	enum pkind kind;
	const char *name;
	const char *text;
	const struct seal_secret *secret;
	const char *cls;
	const char *sel;
};

struct body {
	enum amt_kind kind;
	const char *wrapper;	/* invoke: METHOD_INPUT; instance: class */
	const struct param *p;
	size_t np;
	const char *context;	/* Pull */
};

/* The namespace of a class by its prefix. */
static int
resource_uri(const char *cls, char *buf, size_t len)
{
	const char *ns;
	int n;

	if (strncmp(cls, "AMT_", 4) == 0)
		ns = AMT_NS_AMT;
	else if (strncmp(cls, "CIM_", 4) == 0)
		ns = AMT_NS_CIM;
	else if (strncmp(cls, "IPS_", 4) == 0)
		ns = AMT_NS_IPS;
	else
		return cust_fail(CUST_E_INVAL, "'%.40s' is not an AMT, CIM or "
		    "IPS class", cls);
	n = snprintf(buf, len, "%s%s", ns, cls);
	if (n < 0 || (size_t)n >= len)
		return cust_fail(CUST_E_INVAL, "class name too long");
	return CUST_OK;
}

#define W(call) do { if ((call) < 0) goto werr; } while (0)

static int
write_epr(xmlTextWriterPtr w, const struct param *p)
{
	char uri[256];

	if (resource_uri(p->cls, uri, sizeof(uri)) != CUST_OK)
		return -1;
	W(xmlTextWriterWriteElement(w, BAD_CAST "a:Address",
	    BAD_CAST "/wsman"));
	W(xmlTextWriterStartElement(w, BAD_CAST "a:ReferenceParameters"));
	W(xmlTextWriterWriteElement(w, BAD_CAST "w:ResourceURI", BAD_CAST uri));
	W(xmlTextWriterStartElement(w, BAD_CAST "w:SelectorSet"));
	W(xmlTextWriterStartElement(w, BAD_CAST "w:Selector"));
	W(xmlTextWriterWriteAttribute(w, BAD_CAST "Name", BAD_CAST p->sel));
	W(xmlTextWriterWriteString(w, BAD_CAST p->text));
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterEndElement(w));
	return 0;
werr:
	return -1;
}

/* Write the parameters; a secret's element is left empty, its offset in
 * the output recorded in q. */
static int
write_params(xmlTextWriterPtr w, xmlBufferPtr buf, const struct body *b,
    struct amt_req *q)
{
	char name[80];
	size_t i;
	int n;

	for (i = 0; i < b->np; i++) {
		const struct param *p = &b->p[i];

		n = snprintf(name, sizeof(name), "h:%s", p->name);
		if (n < 0 || (size_t)n >= sizeof(name))
			return -1;
		W(xmlTextWriterStartElement(w, BAD_CAST name));
		switch (p->kind) {
		case P_TEXT:
			W(xmlTextWriterWriteString(w, BAD_CAST p->text));
			break;
		case P_EPR:
			W(write_epr(w, p));
			break;
		case P_DIGEST:
		case P_PLAIN:
			if (q->nsec == AMT_REQ_SECRETS)
				return -1;
			/* Close the start tag, then note where we are. */
			W(xmlTextWriterWriteString(w, BAD_CAST ""));
			W(xmlTextWriterFlush(w));
			q->sec[q->nsec].off = (size_t)xmlBufferLength(buf);
			q->sec[q->nsec].plain = p->kind == P_PLAIN;
			q->sec[q->nsec].val = seal_secret_dup(
			    seal_secret_str(p->secret),
			    seal_secret_len(p->secret));
			if (q->sec[q->nsec].val == NULL)
				return -1;
			q->nsec++;
			break;
		}
		W(xmlTextWriterEndElement(w));
	}
	return 0;
werr:
	return -1;
}

static int
write_envelope(xmlTextWriterPtr w, xmlBufferPtr buf, const struct body *b,
    const char *selname, const char *selvalue, struct amt_req *q)
{
	char id[32];

	snprintf(id, sizeof(id), "%lu", q->msgid);
	W(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL));
	W(xmlTextWriterStartElement(w, BAD_CAST "Envelope"));
	W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns", BAD_CAST AMT_NS_SOAP));
	W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:a",
	    BAD_CAST AMT_NS_ADDR));
	W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:w",
	    BAD_CAST AMT_NS_WSMAN));
	W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:xsi",
	    BAD_CAST "http://www.w3.org/2001/XMLSchema-instance"));
	W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:xsd",
	    BAD_CAST "http://www.w3.org/2001/XMLSchema"));
	W(xmlTextWriterStartElement(w, BAD_CAST "Header"));
	W(xmlTextWriterWriteElement(w, BAD_CAST "a:Action", BAD_CAST q->action));
	W(xmlTextWriterWriteElement(w, BAD_CAST "a:To", BAD_CAST "/wsman"));
	W(xmlTextWriterWriteElement(w, BAD_CAST "w:ResourceURI",
	    BAD_CAST q->resource));
	W(xmlTextWriterWriteElement(w, BAD_CAST "a:MessageID", BAD_CAST id));
	W(xmlTextWriterStartElement(w, BAD_CAST "a:ReplyTo"));
	W(xmlTextWriterWriteElement(w, BAD_CAST "a:Address",
	    BAD_CAST AMT_ANONYMOUS));
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterWriteElement(w, BAD_CAST "w:OperationTimeout",
	    BAD_CAST "PT60S"));
	if (selname != NULL) {
		W(xmlTextWriterStartElement(w, BAD_CAST "w:SelectorSet"));
		W(xmlTextWriterStartElement(w, BAD_CAST "w:Selector"));
		W(xmlTextWriterWriteAttribute(w, BAD_CAST "Name",
		    BAD_CAST selname));
		W(xmlTextWriterWriteString(w, BAD_CAST selvalue));
		W(xmlTextWriterEndElement(w));
		W(xmlTextWriterEndElement(w));
	}
	W(xmlTextWriterEndElement(w));		/* Header */
	W(xmlTextWriterStartElement(w, BAD_CAST "Body"));
	switch (b->kind) {
	case AMT_K_TRANSFER:	/* Put/Create carry an instance, Get none */
	case AMT_K_INVOKE: {
		char name[96];
		int n;

		if (b->wrapper == NULL)
			break;
		n = snprintf(name, sizeof(name), "h:%s", b->wrapper);
		if (n < 0 || (size_t)n >= sizeof(name))
			goto werr;
		W(xmlTextWriterStartElement(w, BAD_CAST name));
		W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:h",
		    BAD_CAST q->resource));
		W(write_params(w, buf, b, q));
		W(xmlTextWriterEndElement(w));
		break;
	}
	case AMT_K_ENUMERATE:
		W(xmlTextWriterStartElement(w, BAD_CAST "Enumerate"));
		W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns",
		    BAD_CAST AMT_NS_ENUM));
		W(xmlTextWriterEndElement(w));
		break;
	case AMT_K_PULL:
		W(xmlTextWriterStartElement(w, BAD_CAST "Pull"));
		W(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns",
		    BAD_CAST AMT_NS_ENUM));
		W(xmlTextWriterWriteElement(w, BAD_CAST "EnumerationContext",
		    BAD_CAST b->context));
		W(xmlTextWriterWriteElement(w, BAD_CAST "MaxElements",
		    BAD_CAST "999"));
		W(xmlTextWriterWriteElement(w, BAD_CAST "MaxCharacters",
		    BAD_CAST "99999"));
		W(xmlTextWriterEndElement(w));
		break;
	}
	W(xmlTextWriterEndElement(w));		/* Body */
	W(xmlTextWriterEndElement(w));		/* Envelope */
	W(xmlTextWriterEndDocument(w));
	W(xmlTextWriterFlush(w));
	return 0;
werr:
	return -1;
}

void
amt_req_free(struct amt_req *q)
{
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < q->nsec; i++)
		seal_secret_free(q->sec[i].val);
	free(q->action);
	free(q->resource);
	free(q->method);
	free(q->xml);
	free(q);
}

/*
 * The one builder: action is the full Action URI, cls the class (its
 * ResourceURI), method the name the reply's errors use.
 */
static int
build(unsigned long msgid, const char *cls, const char *action,
    const char *method, int idempotent, const char *selname,
    const char *selvalue, const struct body *b, struct amt_req **out)
{
	struct amt_req *q = NULL;
	xmlBufferPtr buf = NULL;
	xmlTextWriterPtr w = NULL;
	char uri[256];
	int r = CUST_E_INTERNAL;

	*out = NULL;
	amt_xml_init();
	if ((r = resource_uri(cls, uri, sizeof(uri))) != CUST_OK)
		return r;
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->resource = strdup(uri)) == NULL ||
	    (q->method = strdup(method)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	q->msgid = msgid;
	q->kind = b->kind;
	q->idempotent = idempotent;
	if (action == NULL) {
		/* An invocation: ResourceURI/Method. */
		size_t n = strlen(uri) + strlen(method) + 2;

		if ((q->action = malloc(n)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		snprintf(q->action, n, "%s/%s", uri, method);
	} else if ((q->action = strdup(action)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((buf = xmlBufferCreate()) == NULL ||
	    (w = xmlNewTextWriterMemory(buf, 0)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (write_envelope(w, buf, b, selname, selvalue, q) != 0) {
		r = cust_fail(CUST_E_INTERNAL, "cannot write the %s envelope",
		    method);
		goto out;
	}
	xmlFreeTextWriter(w);
	w = NULL;
	q->len = (size_t)xmlBufferLength(buf);
	if ((q->xml = malloc(q->len + 1)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(q->xml, xmlBufferContent(buf), q->len);
	q->xml[q->len] = '\0';
	*out = q;
	q = NULL;
	r = CUST_OK;
out:
	if (w != NULL)
		xmlFreeTextWriter(w);
	if (buf != NULL)
		xmlBufferFree(buf);
	amt_req_free(q);
	return r;
}

static int
invoke(unsigned long msgid, const char *cls, const char *method,
    int idempotent, const struct param *p, size_t np, struct amt_req **out)
{
	char wrapper[80];
	struct body b = { AMT_K_INVOKE, wrapper, p, np, NULL };

	snprintf(wrapper, sizeof(wrapper), "%s_INPUT", method);
	return build(msgid, cls, NULL, method, idempotent, NULL, NULL, &b,
	    out);
}

int
amt_msg_get(unsigned long msgid, const char *cls, struct amt_req **out)
{
	struct body b = { AMT_K_TRANSFER, NULL, NULL, 0, NULL };

	*out = NULL;
	return build(msgid, cls, AMT_NS_XFER "/Get", "Get", 1, NULL, NULL, &b,
	    out);
}

int
amt_msg_enumerate(unsigned long msgid, const char *cls, struct amt_req **out)
{
	struct body b = { AMT_K_ENUMERATE, NULL, NULL, 0, NULL };

	*out = NULL;
	return build(msgid, cls, AMT_NS_ENUM "/Enumerate", "Enumerate", 1,
	    NULL, NULL, &b, out);
}

int
amt_msg_pull(unsigned long msgid, const char *cls, const char *context,
    struct amt_req **out)
{
	struct body b = { AMT_K_PULL, NULL, NULL, 0, context };

	*out = NULL;
	if (context == NULL || *context == '\0' || strlen(context) > 256)
		return cust_fail(CUST_E_INVAL, "no enumeration context");
	return build(msgid, cls, AMT_NS_ENUM "/Pull", "Pull", 1, NULL, NULL,
	    &b, out);
}

/* A digest user name AMT takes (reference 2): 1-16 of ASCII 33-126
 * without : , < > & ", not starting with $$. */
static int
check_user(const char *user)
{
	size_t n = user ? strlen(user) : 0, i;

	if (n == 0 || n > AMT_USER_MAX)
		return cust_fail(CUST_E_INVAL, "an AMT user name has 1-%d "
		    "characters", AMT_USER_MAX);
	for (i = 0; i < n; i++)
		if (user[i] < 33 || user[i] > 126 ||
		    strchr(":,<>&\"", user[i]) != NULL)
			return cust_fail(CUST_E_INVAL, "an AMT user name is "
			    "printable ASCII without spaces or : , < > & \"");
	if (strncmp(user, "$$", 2) == 0)
		return cust_fail(CUST_E_INVAL, "AMT user names starting with "
		    "$$ are system accounts");
	return CUST_OK;
}

static int
check_dpw(const struct seal_secret *dpw)
{
	const char *s = dpw ? seal_secret_str(dpw) : NULL;

	if (s == NULL || seal_secret_len(dpw) != AMT_DIGESTPW_LEN ||
	    strcmp(s + AMT_DIGESTPW_LEN - 2, "==") != 0)
		return cust_fail(CUST_E_INVAL, "not a DigestPassword (24 "
		    "base64 characters)");
	return CUST_OK;
}

#define AUTHZ "AMT_AuthorizationService"

int
amt_msg_set_admin(unsigned long msgid, const char *user,
    const struct seal_secret *dpw, struct amt_req **out)
{
	struct param p[] = {
		{ P_TEXT, "Username", user, NULL, NULL, NULL },
		{ P_DIGEST, "DigestPassword", NULL, dpw, NULL, NULL },
	};
	int r;

	*out = NULL;
	if ((r = check_user(user)) != CUST_OK ||
	    (r = check_dpw(dpw)) != CUST_OK)
		return r;
	return invoke(msgid, AUTHZ, "SetAdminAclEntryEx", 0, p, 2, out);
}

int
amt_msg_get_admin(unsigned long msgid, struct amt_req **out)
{
	*out = NULL;
	return invoke(msgid, AUTHZ, "GetAdminAclEntry", 1, NULL, 0, out);
}

int
amt_msg_enum_users(unsigned long msgid, unsigned start, struct amt_req **out)
{
	char v[16];
	struct param p[] = { { P_TEXT, "StartIndex", v, NULL, NULL, NULL } };

	*out = NULL;
	if (start == 0)
		return cust_fail(CUST_E_INVAL, "StartIndex counts from 1");
	snprintf(v, sizeof(v), "%u", start);
	return invoke(msgid, AUTHZ, "EnumerateUserAclEntries", 1, p, 1, out);
}

static int
by_handle(unsigned long msgid, const char *method, int idempotent,
    uint32_t handle, struct amt_req **out)
{
	char v[16];
	struct param p[] = { { P_TEXT, "Handle", v, NULL, NULL, NULL } };

	*out = NULL;
	snprintf(v, sizeof(v), "%lu", (unsigned long)handle);
	return invoke(msgid, AUTHZ, method, idempotent, p, 1, out);
}

int
amt_msg_get_user(unsigned long msgid, uint32_t handle, struct amt_req **out)
{
	return by_handle(msgid, "GetUserAclEntryEx", 1, handle, out);
}

int
amt_msg_remove_user(unsigned long msgid, uint32_t handle,
    struct amt_req **out)
{
	return by_handle(msgid, "RemoveUserAclEntry", 0, handle, out);
}

/* Realms an ACL entry may be given (reference 1: the toolkits' safe
 * set, 2-13, 17-21, 24, plus 14-16 which MeshCommander offers). */
static int
check_realms(const unsigned *realms, size_t n)
{
	size_t i;

	if (n == 0 || n > 24)
		return cust_fail(CUST_E_INVAL, "an ACL entry needs 1-24 realms");
	for (i = 0; i < n; i++)
		if (realms[i] < 2 || realms[i] > 24 || realms[i] == 22 ||
		    realms[i] == 23)
			return cust_fail(CUST_E_INVAL, "realm %u cannot be "
			    "assigned", realms[i]);
	return CUST_OK;
}

/* Add (handle NULL) or update an ACL entry: a digest user's (user,
 * dpw) or a Kerberos one's (sid, user NULL). */
static int
user_entry(unsigned long msgid, const uint32_t *handle, const char *user,
    const struct seal_secret *dpw, const char *sid, unsigned access,
    const unsigned *realms, size_t nrealms, struct amt_req **out)
{
	struct param p[4 + 24];
	char hv[16], av[4], rv[24][4];
	size_t np = 0, i;
	int r;

	*out = NULL;
	if (sid != NULL)
		r = amt_sid_check_b64(sid);
	else if ((r = check_user(user)) == CUST_OK)
		r = check_dpw(dpw);
	if (r != CUST_OK || (r = check_realms(realms, nrealms)) != CUST_OK)
		return r;
	if (access > 2)
		return cust_fail(CUST_E_INVAL, "AccessPermission is 0 (local), "
		    "1 (network) or 2 (any)");
	memset(p, 0, sizeof(p));
	if (handle != NULL) {
		snprintf(hv, sizeof(hv), "%lu", (unsigned long)*handle);
		p[np++] = (struct param){ P_TEXT, "Handle", hv, NULL, NULL,
		    NULL };
	}
	if (sid != NULL) {
		p[np++] = (struct param){ P_TEXT, "KerberosUserSid", sid, NULL,
		    NULL, NULL };
	} else {
		p[np++] = (struct param){ P_TEXT, "DigestUsername", user, NULL,
		    NULL, NULL };
		p[np++] = (struct param){ P_DIGEST, "DigestPassword", NULL,
		    dpw, NULL, NULL };
	}
	snprintf(av, sizeof(av), "%u", access);
	p[np++] = (struct param){ P_TEXT, "AccessPermission", av, NULL, NULL,
	    NULL };
	for (i = 0; i < nrealms; i++) {
		snprintf(rv[i], sizeof(rv[i]), "%u", realms[i]);
		p[np++] = (struct param){ P_TEXT, "Realms", rv[i], NULL, NULL,
		    NULL };
	}
	return invoke(msgid, AUTHZ, handle ? "UpdateUserAclEntryEx" :
	    "AddUserAclEntryEx", 0, p, np, out);
}

int
amt_msg_add_user(unsigned long msgid, const char *user,
    const struct seal_secret *dpw, unsigned access, const unsigned *realms,
    size_t nrealms, struct amt_req **out)
{
	return user_entry(msgid, NULL, user, dpw, NULL, access, realms,
	    nrealms, out);
}

int
amt_msg_update_user(unsigned long msgid, uint32_t handle, const char *user,
    const struct seal_secret *dpw, unsigned access, const unsigned *realms,
    size_t nrealms, struct amt_req **out)
{
	return user_entry(msgid, &handle, user, dpw, NULL, access, realms,
	    nrealms, out);
}

int
amt_msg_add_kerberos_user(unsigned long msgid, const char *sid,
    unsigned access, const unsigned *realms, size_t nrealms,
    struct amt_req **out)
{
	*out = NULL;
	if (sid == NULL)
		return cust_fail(CUST_E_INVAL, "no KerberosUserSid");
	return user_entry(msgid, NULL, NULL, NULL, sid, access, realms,
	    nrealms, out);
}

int
amt_msg_update_kerberos_user(unsigned long msgid, uint32_t handle,
    const char *sid, unsigned access, const unsigned *realms, size_t nrealms,
    struct amt_req **out)
{
	*out = NULL;
	if (sid == NULL)
		return cust_fail(CUST_E_INVAL, "no KerberosUserSid");
	return user_entry(msgid, &handle, NULL, NULL, sid, access, realms,
	    nrealms, out);
}

#define KRB "AMT_KerberosSettingData"

/* A realm name AMT stores (RealmName: a DNS domain, at most 255). */
static int
check_krb_realm(const char *realm)
{
	size_t n = realm ? strlen(realm) : 0;

	if (n == 0 || n > 255 || strspn(realm, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
		return cust_fail(CUST_E_INVAL, "a Kerberos realm is a DNS "
		    "domain name (letters, digits, '.', '-')");
	return CUST_OK;
}

int
amt_msg_kerberos_put(unsigned long msgid, const struct amt_krb_settings *ks,
    struct amt_req **out)
{
	struct param p[16];
	struct body b = { AMT_K_TRANSFER, KRB, p, 0, NULL };
	char kv[16], it[16], tol[8], alg[3][4];
	size_t na = 0;
	int r, a;

	*out = NULL;
	if ((r = check_krb_realm(ks->realm)) != CUST_OK)
		return r;
	if ((ks->master_key != NULL) == (ks->passphrase != NULL))
		return cust_fail(CUST_E_INVAL, "AMT takes a MasterKey or a "
		    "Passphrase, one of them");
	if (ks->master_key != NULL && seal_secret_len(ks->master_key) !=
	    AMT_NTHASH_LEN)
		return cust_fail(CUST_E_INVAL, "a MasterKey is the base64 of 16 "
		    "bytes (amt_nt_hash())");
	if (ks->passphrase != NULL && (ks->salt == NULL || *ks->salt == '\0' ||
	    strlen(ks->salt) > 512 || ks->iterations == 0 ||
	    seal_secret_len(ks->passphrase) == 0))
		return cust_fail(CUST_E_INVAL, "a Passphrase goes with its Salt "
		    "and IterationCount");
	if (ks->key_version == 0 || ks->algs == 0 || ks->algs > 7)
		return cust_fail(CUST_E_INVAL, "KeyVersion counts from 1; "
		    "ConfiguredEncryptionAlgorithms are 0-2");
	memset(p, 0, sizeof(p));
	snprintf(kv, sizeof(kv), "%lu", (unsigned long)ks->key_version);
	snprintf(it, sizeof(it), "%lu", (unsigned long)ks->iterations);
	snprintf(tol, sizeof(tol), "%d", AMT_KRB_CLOCK_TOLERANCE);
	/* Field order of the class (GWM kerberos/types.go). */
	p[b.np++] = (struct param){ P_TEXT, "ElementName",
	    "Intel(r) AMT Kerberos Settings", NULL, NULL, NULL };
	p[b.np++] = (struct param){ P_TEXT, "InstanceID", AMT_KRB_INSTANCE,
	    NULL, NULL, NULL };
	p[b.np++] = (struct param){ P_TEXT, "RealmName", ks->realm, NULL, NULL,
	    NULL };
	p[b.np++] = (struct param){ P_TEXT, "KeyVersion", kv, NULL, NULL,
	    NULL };
	p[b.np++] = (struct param){ P_TEXT, "EncryptionAlgorithm", "0", NULL,
	    NULL, NULL };
	if (ks->master_key != NULL)
		p[b.np++] = (struct param){ P_PLAIN, "MasterKey", NULL,
		    ks->master_key, NULL, NULL };
	p[b.np++] = (struct param){ P_TEXT, "MaximumClockTolerance", tol,
	    NULL, NULL, NULL };
	p[b.np++] = (struct param){ P_TEXT, "KrbEnabled", ks->enabled ?
	    "true" : "false", NULL, NULL, NULL };
	if (ks->passphrase != NULL) {
		p[b.np++] = (struct param){ P_PLAIN, "Passphrase", NULL,
		    ks->passphrase, NULL, NULL };
		p[b.np++] = (struct param){ P_TEXT, "Salt", ks->salt, NULL,
		    NULL, NULL };
		p[b.np++] = (struct param){ P_TEXT, "IterationCount", it, NULL,
		    NULL, NULL };
	}
	for (a = 0; a < 3; a++) {
		if (!(ks->algs & (1u << a)))
			continue;
		snprintf(alg[na], sizeof(alg[na]), "%d", a);
		p[b.np++] = (struct param){ P_TEXT,
		    "ConfiguredEncryptionAlgorithms", alg[na], NULL, NULL,
		    NULL };
		na++;
	}
	return build(msgid, KRB, AMT_NS_XFER "/Put", "Put", 0, "InstanceID",
	    AMT_KRB_INSTANCE, &b, out);
}

#define TIMESYNC "AMT_TimeSynchronizationService"

int
amt_msg_get_time(unsigned long msgid, struct amt_req **out)
{
	*out = NULL;
	return invoke(msgid, TIMESYNC, "GetLowAccuracyTimeSynch", 1, NULL, 0,
	    out);
}

int
amt_msg_set_time(unsigned long msgid, uint32_t ta0, uint32_t tm1,
    uint32_t tm2, struct amt_req **out)
{
	char v[3][16];
	struct param p[] = {
		{ P_TEXT, "Ta0", v[0], NULL, NULL, NULL },
		{ P_TEXT, "Tm1", v[1], NULL, NULL, NULL },
		{ P_TEXT, "Tm2", v[2], NULL, NULL, NULL },
	};

	*out = NULL;
	snprintf(v[0], sizeof(v[0]), "%lu", (unsigned long)ta0);
	snprintf(v[1], sizeof(v[1]), "%lu", (unsigned long)tm1);
	snprintf(v[2], sizeof(v[2]), "%lu", (unsigned long)tm2);
	return invoke(msgid, TIMESYNC, "SetHighAccuracyTimeSynch", 0, p, 3,
	    out);
}

#define SETUP "AMT_SetupAndConfigurationService"

int
amt_msg_set_mebx(unsigned long msgid, const struct seal_secret *pw,
    struct amt_req **out)
{
	struct param p[] = { { P_PLAIN, "Password", NULL, pw, NULL, NULL } };

	*out = NULL;
	if (pw == NULL || seal_secret_len(pw) == 0)
		return cust_fail(CUST_E_INVAL, "no MEBx password");
	return invoke(msgid, SETUP, "SetMEBxPassword", 0, p, 1, out);
}

int
amt_msg_commit(unsigned long msgid, struct amt_req **out)
{
	*out = NULL;
	return invoke(msgid, SETUP, "CommitChanges", 0, NULL, 0, out);
}

#define PKM "AMT_PublicKeyManagementService"

/* base64 text (certificates, requests), bounded. */
static int
check_b64(const char *what, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
	    "ghijklmnopqrstuvwxyz0123456789+/=") != n)
		return cust_fail(CUST_E_INVAL, "%s is not base64 of at most "
		    "%zu characters", what, max);
	return CUST_OK;
}

int
amt_msg_gen_keypair(unsigned long msgid, unsigned bits, struct amt_req **out)
{
	char v[8];
	struct param p[] = {
		{ P_TEXT, "KeyAlgorithm", "0", NULL, NULL, NULL },
		{ P_TEXT, "KeyLength", v, NULL, NULL, NULL },
	};

	*out = NULL;
	if (bits != 2048 && bits != 3072 && bits != 4096)
		return cust_fail(CUST_E_INVAL, "RSA key length 2048, 3072 or "
		    "4096");
	snprintf(v, sizeof(v), "%u", bits);
	return invoke(msgid, PKM, "GenerateKeyPair", 0, p, 2, out);
}

int
amt_msg_pkcs10(unsigned long msgid, const char *keypair, const char *csr,
    struct amt_req **out)
{
	struct param p[] = {
		{ P_EPR, "KeyPair", keypair, NULL, "AMT_PublicPrivateKeyPair",
		  "InstanceID" },
		{ P_TEXT, "SigningAlgorithm", "1", NULL, NULL, NULL },
		{ P_TEXT, "NullSignedCertificateRequest", csr, NULL, NULL,
		  NULL },
	};
	int r;

	*out = NULL;
	if (keypair == NULL || *keypair == '\0' || strlen(keypair) > 256)
		return cust_fail(CUST_E_INVAL, "no key pair InstanceID");
	if ((r = check_b64("the certificate request", csr, 16384)) != CUST_OK)
		return r;
	return invoke(msgid, PKM, "GeneratePKCS10RequestEx", 0, p, 3, out);
}

/* 4100 bytes of DER at most (reference 6): 5468 base64 characters. */
#define CERT_B64_MAX 5468

static int
add_blob(unsigned long msgid, const char *method, const char *blob,
    struct amt_req **out)
{
	struct param p[] = {
		{ P_TEXT, "CertificateBlob", blob, NULL, NULL, NULL },
	};
	int r;

	*out = NULL;
	if ((r = check_b64("the certificate", blob, CERT_B64_MAX)) != CUST_OK)
		return r;
	return invoke(msgid, PKM, method, 0, p, 1, out);
}

int
amt_msg_add_cert(unsigned long msgid, const char *blob, struct amt_req **out)
{
	return add_blob(msgid, "AddCertificate", blob, out);
}

int
amt_msg_add_root(unsigned long msgid, const char *blob, struct amt_req **out)
{
	return add_blob(msgid, "AddTrustedRootCertificate", blob, out);
}

static int
tls_context(unsigned long msgid, const char *cert, int put,
    struct amt_req **out)
{
	struct param p[] = {
		{ P_EPR, "ElementInContext", cert, NULL,
		  "AMT_PublicKeyCertificate", "InstanceID" },
		{ P_EPR, "ElementProvidingContext",
		  "TLSProtocolEndpointInstances Collection", NULL,
		  "AMT_TLSProtocolEndpointCollection", "ElementName" },
	};
	struct body b = { AMT_K_TRANSFER, "AMT_TLSCredentialContext", p, 2,
	    NULL };

	*out = NULL;
	if (cert == NULL || *cert == '\0' || strlen(cert) > 256)
		return cust_fail(CUST_E_INVAL, "no certificate InstanceID");
	return build(msgid, "AMT_TLSCredentialContext", put ? AMT_NS_XFER
	    "/Put" : AMT_NS_XFER "/Create", put ? "Put" : "Create", 0, NULL,
	    NULL, &b, out);
}

int
amt_msg_tls_context(unsigned long msgid, const char *cert,
    struct amt_req **out)
{
	return tls_context(msgid, cert, 0, out);
}

int
amt_msg_tls_context_put(unsigned long msgid, const char *cert,
    struct amt_req **out)
{
	return tls_context(msgid, cert, 1, out);
}

int
amt_msg_tls_put(unsigned long msgid, const struct amt_tls_settings *ts,
    struct amt_req **out)
{
	const char *id = ts->local ? "Intel(r) AMT LMS TLS Settings" :
	    "Intel(r) AMT 802.3 TLS Settings";
	struct param p[5 + 16];
	struct body b = { AMT_K_TRANSFER, "AMT_TLSSettingData", p, 0, NULL };
	size_t i;

	*out = NULL;
	if (ts->ncn > 16)
		return cust_fail(CUST_E_INVAL, "at most 16 TrustedCN values");
	memset(p, 0, sizeof(p));
	/* Field order of the class (GWM tls/types.go). */
	p[b.np++] = (struct param){ P_TEXT, "ElementName", id, NULL, NULL,
	    NULL };
	p[b.np++] = (struct param){ P_TEXT, "InstanceID", id, NULL, NULL,
	    NULL };
	p[b.np++] = (struct param){ P_TEXT, "MutualAuthentication",
	    ts->mutual ? "true" : "false", NULL, NULL, NULL };
	p[b.np++] = (struct param){ P_TEXT, "Enabled",
	    ts->enabled ? "true" : "false", NULL, NULL, NULL };
	for (i = 0; i < ts->ncn; i++) {
		if (ts->trusted_cn[i] == NULL || *ts->trusted_cn[i] == '\0' ||
		    strlen(ts->trusted_cn[i]) > 255)
			return cust_fail(CUST_E_INVAL, "empty or long "
			    "TrustedCN");
		p[b.np++] = (struct param){ P_TEXT, "TrustedCN",
		    ts->trusted_cn[i], NULL, NULL, NULL };
	}
	if (!ts->local)
		p[b.np++] = (struct param){ P_TEXT,
		    "AcceptNonSecureConnections",
		    ts->accept_nonsecure ? "true" : "false", NULL, NULL, NULL };
	return build(msgid, "AMT_TLSSettingData", AMT_NS_XFER "/Put", "Put", 0,
	    "InstanceID", id, &b, out);
}

unsigned long
amt_req_msgid(const struct amt_req *q)
{
	return q->msgid;
}

const char *
amt_req_action(const struct amt_req *q)
{
	return q->action;
}

const char *
amt_req_resource(const struct amt_req *q)
{
	return q->resource;
}

int
amt_req_plain_secret(const struct amt_req *q)
{
	size_t i;

	for (i = 0; i < q->nsec; i++)
		if (q->sec[i].plain)
			return 1;
	return 0;
}

int
amt_req_idempotent(const struct amt_req *q)
{
	return q->idempotent;
}

/* Escape s[0..n) for element content into out (NULL: just count). */
static size_t
escape(const char *s, size_t n, char *out)
{
	size_t i, k = 0;
	const char *e;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		default: e = NULL; break;
		}
		if (e == NULL) {
			if (out)
				out[k] = s[i];
			k++;
		} else {
			if (out)
				memcpy(out + k, e, strlen(e));
			k += strlen(e);
		}
	}
	return k;
}

/*
 * Render the envelope: the text with each secret (or its stand-in) at
 * its offset. With out NULL, only the length. mode 0: the secrets;
 * 1: plaintext ones as ***; 2: all as ***.
 */
static size_t
render(const struct amt_req *q, int mode, char *out)
{
	size_t i, at = 0, k = 0, n;
	const char *v;

	for (i = 0; i <= q->nsec; i++) {
		size_t end = i < q->nsec ? q->sec[i].off : q->len;

		if (out)
			memcpy(out + k, q->xml + at, end - at);
		k += end - at;
		at = end;
		if (i == q->nsec)
			break;
		if (mode == 2 || (mode == 1 && q->sec[i].plain)) {
			v = "***";
			n = 3;
		} else {
			v = seal_secret_str(q->sec[i].val);
			n = seal_secret_len(q->sec[i].val);
		}
		k += escape(v, n, out ? out + k : NULL);
	}
	return k;
}

int
amt_req_body(const struct amt_req *q, struct seal_secret **out)
{
	struct seal_secret *s;
	size_t n = render(q, 0, NULL);

	*out = NULL;
	if ((s = seal_secret_new(n)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	render(q, 0, (char *)seal_secret_data(s));
	*out = s;
	return CUST_OK;
}

size_t
amt_req_body_into(const struct amt_req *q, struct seal_secret *buf)
{
	size_t n = render(q, 0, NULL);
	char *p = (char *)seal_secret_data(buf);

	if (n >= seal_secret_len(buf))
		return 0;
	render(q, 0, p);
	p[n] = '\0';
	return n;
}

int
amt_req_redacted(const struct amt_req *q, int hide_digest, char **out)
{
	int mode = hide_digest ? 2 : 1;
	size_t n = render(q, mode, NULL);
	char *s;

	*out = NULL;
	if ((s = malloc(n + 1)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	render(q, mode, s);
	s[n] = '\0';
	*out = s;
	return CUST_OK;
}

int
amt_push_admin_plan(const char *user, const struct seal_secret *dpw,
    unsigned long first, struct amt_req *out[AMT_PUSH_STEPS])
{
	int r, i;

	for (i = 0; i < AMT_PUSH_STEPS; i++)
		out[i] = NULL;
	if ((r = amt_msg_get(first, "AMT_GeneralSettings",
	    &out[AMT_PUSH_REALM])) != CUST_OK ||
	    (r = amt_msg_set_admin(first + 1, user, dpw,
	    &out[AMT_PUSH_SET])) != CUST_OK ||
	    (r = amt_msg_get(first + 2, "AMT_GeneralSettings",
	    &out[AMT_PUSH_VERIFY])) != CUST_OK ||
	    (r = amt_msg_get(first + 3, "AMT_GeneralSettings",
	    &out[AMT_PUSH_DENY])) != CUST_OK) {
		for (i = 0; i < AMT_PUSH_STEPS; i++) {
			amt_req_free(out[i]);
			out[i] = NULL;
		}
		return r;
	}
	return CUST_OK;
}
