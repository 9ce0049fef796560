/* SPDX-License-Identifier: MIT */
/* src/amt/reply.c - WS-Man replies: validation and outputs.
 *
 * A device's reply is untrusted input. It is refused before parsing when
 * it is over AMT_REPLY_MAX or declares a DTD or an entity; libxml2 then
 * parses it with no network access, no entity substitution and no DTD
 * loading (XML_PARSE_NOENT and XML_PARSE_DTDLOAD are never set), and a
 * document that still has a DTD is refused. The envelope must answer the
 * request (RelatesTo = its MessageID, Action = its Action + "Response");
 * an invocation's output must carry a numeric ReturnValue. The body's
 * leaf elements are copied out as (item, name, value) and the document is
 * freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "amt_int.h"
#include "err.h"
#include "util.h"

/* Outputs kept per reply: far more than any AMT answer has. */
#define REPLY_ENTRIES_MAX 20000

struct entry {
	long item;		/* Pull item index, or -1 */
	char *name;
	char *value;
};

struct amt_reply {
	char method[64];	/* for errors */
	uint32_t rv;
	int end;		/* EndOfSequence */
	char auth_realm[64];	/* the challenge's realm logged in with, or "" */
	long connects;		/* set by the transport */
	size_t nitems;
	size_t n, cap;
	struct entry *e;
};

void
amt_reply_free(struct amt_reply *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->e[i].name);
		free(r->e[i].value);
	}
	free(r->e);
	free(r);
}

static const struct {
	uint32_t rv;
	const char *name;
	const char *why;
} pt_status[] = {
	{ 0, "PT_STATUS_SUCCESS", NULL },
	{ 1, "PT_STATUS_INTERNAL_ERROR", "the device failed internally" },
	{ 2, "PT_STATUS_NOT_READY", "the device is not ready" },
	{ 3, "PT_STATUS_INVALID_PT_MODE", "not allowed in this mode" },
	{ 12, "PT_STATUS_INVALID_NAME", "the user name is not accepted" },
	{ 16, "PT_STATUS_NOT_PERMITTED", "not permitted (control mode, "
	  "policy or realm)" },
	{ 23, "PT_STATUS_MAX_LIMIT_REACHED", "a table of the device is full" },
	{ 25, "PT_STATUS_AUTHENTICATION_FAILED", "authentication failed" },
	{ 35, "PT_STATUS_INVALID_INDEX", "no such index" },
	{ 36, "PT_STATUS_INVALID_PARAMETER", "a parameter was refused" },
	{ 38, "PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED", "too many flash writes; "
	  "try later" },
	{ 2053, "PT_STATUS_INVALID_HANDLE", "no such ACL entry" },
	{ 2054, "PT_STATUS_INVALID_PASSWORD", "the password breaks AMT's "
	  "rules" },
	{ 2055, "PT_STATUS_INVALID_REALM", "a realm cannot be assigned" },
	{ 2058, "PT_STATUS_DUPLICATE", "it exists already" },
	{ 2062, "PT_STATUS_INVALID_KEY", "the key is not accepted" },
	{ 2063, "PT_STATUS_INVALID_CERT", "the certificate is not accepted" },
	{ 2065, "PT_STATUS_MAX_KERB_DOMAIN_REACHED", "too many Kerberos "
	  "domains" },
	{ 2066, "PT_STATUS_UNSUPPORTED", "not supported by this device" },
	{ 2068, "PT_STATUS_NOT_FOUND", "not found" },
	{ 2075, "PT_STATUS_AUDIT_FAIL", "the device's audit log refused it" },
	{ 2082, "PT_STATUS_OPERATION_IN_PROGRESS", "another operation is in "
	  "progress; try later" },
};

static size_t
pt_index(uint32_t rv)
{
	size_t i;

	for (i = 0; i < sizeof(pt_status) / sizeof(pt_status[0]); i++)
		if (pt_status[i].rv == rv)
			return i;
	return (size_t)-1;
}

const char *
amt_pt_status(uint32_t rv)
{
	size_t i = pt_index(rv);

	return i == (size_t)-1 ? "PT_STATUS_UNKNOWN" : pt_status[i].name;
}

int
amt_parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v = 0;
	size_t i;

	*out = 0;
	if (s == NULL || *s == '\0' || strlen(s) > 10)
		return CUST_E_PARSE;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CUST_E_PARSE;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return CUST_E_PARSE;
	*out = (uint32_t)v;
	return CUST_OK;
}

/* The name of element n, if it is in namespace ns (NULL: any). */
static int
is(const xmlNode *n, const char *ns, const char *name)
{
	if (n == NULL || n->type != XML_ELEMENT_NODE ||
	    strcmp((const char *)n->name, name) != 0)
		return 0;
	if (ns == NULL)
		return 1;
	return n->ns != NULL && n->ns->href != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0;
}

static xmlNode *
first_elem(xmlNode *n)
{
	for (; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static xmlNode *
child(xmlNode *parent, const char *ns, const char *name)
{
	xmlNode *n;

	for (n = parent ? parent->children : NULL; n != NULL; n = n->next)
		if (is(n, ns, name))
			return n;
	return NULL;
}

/* How many children of parent are ns:name. */
static int
count(xmlNode *parent, const char *ns, const char *name)
{
	xmlNode *n;
	int k = 0;

	for (n = parent ? parent->children : NULL; n != NULL; n = n->next)
		k += is(n, ns, name);
	return k;
}

static int
has_elem_child(const xmlNode *n)
{
	for (n = n->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return 1;
	return 0;
}

/* The text of n trimmed of surrounding white space: new string, or
 * NULL on allocation failure. */
static char *
text(xmlNode *n)
{
	xmlChar *c = xmlNodeGetContent(n);
	const char *s = c ? (const char *)c : "";
	size_t len;
	char *v;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	v = strndup(s, len);
	xmlFree(c);
	return v;
}

static int
add(struct amt_reply *r, long item, const char *name, xmlNode *n)
{
	struct entry *ne;

	if (r->n == REPLY_ENTRIES_MAX)
		return cust_fail(CUST_E_TOOBIG, "reply has over %d values",
		    REPLY_ENTRIES_MAX);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;

		if ((ne = realloc(r->e, cap * sizeof(*ne))) == NULL)
			return cust_fail(CUST_E_NOMEM, "out of memory");
		r->e = ne;
		r->cap = cap;
	}
	r->e[r->n].item = item;
	r->e[r->n].name = strdup(name);
	r->e[r->n].value = text(n);
	if (r->e[r->n].name == NULL || r->e[r->n].value == NULL) {
		free(r->e[r->n].name);
		free(r->e[r->n].value);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	r->n++;
	return CUST_OK;
}

/* Copy out the leaves under n (depth bounded by libxml2's own limit). A
 * Selector is named by its Name attribute. */
static int
walk(struct amt_reply *r, xmlNode *n, long item)
{
	xmlNode *c;
	int rc;

	for (c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is(c, NULL, "EndOfSequence"))
			r->end = 1;
		if (is(c, NULL, "Items") && item < 0) {
			xmlNode *it;

			for (it = c->children; it != NULL; it = it->next) {
				if (it->type != XML_ELEMENT_NODE)
					continue;
				if ((rc = walk(r, it, (long)r->nitems)) !=
				    CUST_OK)
					return rc;
				r->nitems++;
			}
			continue;
		}
		if (has_elem_child(c)) {
			if ((rc = walk(r, c, item)) != CUST_OK)
				return rc;
			continue;
		}
		if (is(c, NULL, "Selector")) {
			xmlChar *nm = xmlGetProp(c, BAD_CAST "Name");

			rc = add(r, item, nm ? (const char *)nm : "Selector",
			    c);
			xmlFree(nm);
		} else {
			rc = add(r, item, (const char *)c->name, c);
		}
		if (rc != CUST_OK)
			return rc;
	}
	return CUST_OK;
}

/* A SOAP Fault: its subcode and reason, bounded. */
static int
fault(xmlNode *f, const char *method)
{
	xmlNode *code = child(f, AMT_NS_SOAP, "Code");
	xmlNode *sub = child(code, AMT_NS_SOAP, "Subcode");
	xmlNode *val = child(sub ? sub : code, AMT_NS_SOAP, "Value");
	xmlNode *reason = child(f, AMT_NS_SOAP, "Reason");
	xmlNode *txt = child(reason, AMT_NS_SOAP, "Text");
	char *v = val ? text(val) : NULL, *t = txt ? text(txt) : NULL;
	int r;

	r = cust_fail(CUST_E_CONFLICT, "%s: SOAP fault: %.120s: %.200s",
	    method, v && *v ? v : "(no subcode)", t && *t ? t :
	    "(no reason)");
	free(v);
	free(t);
	return r;
}

/* Whether buf[0..len) has needle. */
static int
contains(const char *buf, size_t len, const char *needle)
{
	return memmem(buf, len, needle, strlen(needle)) != NULL;
}

int
amt_reply_parse(const char *buf, size_t len, const struct amt_req *q,
    struct amt_reply **out)
{
	struct amt_reply *r = NULL;
	xmlDoc *doc = NULL;
	xmlNode *root, *hdr, *body, *el, *rv;
	char *v = NULL, want[96];
	int rc = CUST_E_INTERNAL;

	*out = NULL;
	amt_xml_init();
	if (len > AMT_REPLY_MAX)
		return cust_fail(CUST_E_TOOBIG, "%s: reply of %zu bytes is "
		    "over the %u limit", q->method, len, AMT_REPLY_MAX);
	if (len == 0)
		return cust_fail(CUST_E_PARSE, "%s: empty reply", q->method);
	if (contains(buf, len, "<!DOCTYPE") || contains(buf, len, "<!ENTITY"))
		return cust_fail(CUST_E_PARSE, "%s: reply declares a DTD or "
		    "an entity (refused)", q->method);
	if (len > INT32_MAX)
		return cust_fail(CUST_E_TOOBIG, "reply too large");
	/* UTF-8 forced: a declared UTF-16 could hide a DOCTYPE from the
	 * scan above. */
	doc = xmlReadMemory(buf, (int)len, "reply.xml", "UTF-8", XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply is not well-formed "
		    "XML", q->method);
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply has a DTD (refused)",
		    q->method);
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!is(root, AMT_NS_SOAP, "Envelope") ||
	    (hdr = child(root, AMT_NS_SOAP, "Header")) == NULL ||
	    (body = child(root, AMT_NS_SOAP, "Body")) == NULL) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply is not a SOAP 1.2 "
		    "envelope with a header and a body", q->method);
		goto out;
	}
	/* One of each: with two, what custody checks (the first) and what
	 * another reader takes (the last) could differ. */
	if (count(root, AMT_NS_SOAP, "Header") > 1 ||
	    count(root, AMT_NS_SOAP, "Body") > 1 ||
	    count(hdr, AMT_NS_ADDR, "RelatesTo") > 1 ||
	    count(hdr, AMT_NS_ADDR, "Action") > 1) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply repeats its Header, "
		    "Body, RelatesTo or Action (refused)", q->method);
		goto out;
	}
	/* RelatesTo: the answer to this request, not an earlier one. */
	snprintf(want, sizeof(want), "%lu", q->msgid);
	el = child(hdr, AMT_NS_ADDR, "RelatesTo");
	if (el != NULL && (v = text(el)) == NULL) {
		rc = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (el != NULL && strcmp(v, want) != 0) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply relates to message "
		    "'%.32s', not %s", q->method, v, want);
		goto out;
	}
	if ((el = first_elem(body->children)) != NULL &&
	    is(el, AMT_NS_SOAP, "Fault")) {
		rc = fault(el, q->method);
		goto out;
	}
	if (v == NULL) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply has no RelatesTo",
		    q->method);
		goto out;
	}
	free(v);
	v = NULL;
	if ((el = child(hdr, AMT_NS_ADDR, "Action")) == NULL ||
	    (v = text(el)) == NULL || strncmp(v, q->action,
	    strlen(q->action)) != 0 || strcmp(v + strlen(q->action),
	    "Response") != 0) {
		rc = cust_fail(CUST_E_PARSE, "%s: reply Action is '%.120s', "
		    "not %sResponse", q->method, v ? v : "(none)", q->action);
		goto out;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(r->method, sizeof(r->method), "%s", q->method);
	el = first_elem(body->children);
	switch (q->kind) {
	case AMT_K_INVOKE:
		/* <METHOD_OUTPUT> with a numeric ReturnValue. */
		snprintf(want, sizeof(want), "%s_OUTPUT", q->method);
		if (!is(el, NULL, want) ||
		    (rv = child(el, NULL, "ReturnValue")) == NULL) {
			rc = cust_fail(CUST_E_PARSE, "%s: reply has no "
			    "ReturnValue", q->method);
			goto out;
		}
		if (count(el, NULL, "ReturnValue") > 1) {
			rc = cust_fail(CUST_E_PARSE, "%s: reply has more than "
			    "one ReturnValue (refused)", q->method);
			goto out;
		}
		free(v);
		if ((v = text(rv)) == NULL ||
		    amt_parse_u32(v, &r->rv) != CUST_OK) {
			rc = cust_fail(CUST_E_PARSE, "%s: ReturnValue "
			    "'%.20s' is not a number", q->method,
			    v ? v : "");
			goto out;
		}
		break;
	case AMT_K_ENUMERATE:
		if (!is(el, AMT_NS_ENUM, "EnumerateResponse") ||
		    child(el, AMT_NS_ENUM, "EnumerationContext") == NULL) {
			rc = cust_fail(CUST_E_PARSE, "%s: reply has no "
			    "EnumerationContext", q->method);
			goto out;
		}
		break;
	case AMT_K_PULL:
		if (!is(el, AMT_NS_ENUM, "PullResponse")) {
			rc = cust_fail(CUST_E_PARSE, "%s: reply is not a "
			    "PullResponse", q->method);
			goto out;
		}
		break;
	case AMT_K_TRANSFER:
		if (el == NULL && strcmp(q->method, "Get") == 0) {
			rc = cust_fail(CUST_E_PARSE, "%s: reply has an empty "
			    "body", q->method);
			goto out;
		}
		break;
	}
	if ((rc = walk(r, body, -1)) != CUST_OK)
		goto out;
	*out = r;
	r = NULL;
	rc = CUST_OK;
out:
	free(v);
	amt_reply_free(r);
	xmlFreeDoc(doc);
	return rc;
}

long
amt_reply_connects(const struct amt_reply *r)
{
	return r->connects;
}

void
amt_reply_set_connects(struct amt_reply *r, long n)
{
	r->connects = n;
}

uint32_t
amt_reply_rv(const struct amt_reply *r)
{
	return r->rv;
}

int
amt_reply_check(const struct amt_reply *r)
{
	size_t i;

	if (r->rv == 0)
		return CUST_OK;
	i = pt_index(r->rv);
	return cust_fail(CUST_E_CONFLICT, "%s: the device refused: %s "
	    "(%lu)%s%s", r->method, amt_pt_status(r->rv), (unsigned long)r->rv,
	    i != (size_t)-1 && pt_status[i].why ? ": " : "",
	    i != (size_t)-1 && pt_status[i].why ? pt_status[i].why : "");
}

const char *
amt_reply_value(const struct amt_reply *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[i].item < 0 && strcmp(r->e[i].name, name) == 0)
			return r->e[i].value;
	return NULL;
}

int
amt_reply_values(const struct amt_reply *r, const char *name,
    int (*fn)(void *arg, const char *value), void *arg)
{
	size_t i;
	int rc;

	for (i = 0; i < r->n; i++)
		if (r->e[i].item < 0 && strcmp(r->e[i].name, name) == 0 &&
		    (rc = fn(arg, r->e[i].value)) != 0)
			return rc < 0 ? rc : CUST_OK;
	return CUST_OK;
}

size_t
amt_reply_items(const struct amt_reply *r)
{
	return r->nitems;
}

const char *
amt_reply_item_value(const struct amt_reply *r, size_t item,
    const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[i].item == (long)item &&
		    strcmp(r->e[i].name, name) == 0)
			return r->e[i].value;
	return NULL;
}

int
amt_reply_end(const struct amt_reply *r)
{
	return r->end;
}

void
amt_reply_set_auth_realm(struct amt_reply *r, const char *realm)
{
	snprintf(r->auth_realm, sizeof(r->auth_realm), "%s", realm);
}

const char *
amt_reply_auth_realm(const struct amt_reply *r)
{
	return r->auth_realm[0] != '\0' ? r->auth_realm : NULL;
}

int
amt_reply_realm(const struct amt_reply *r, char realm[AMT_REALM_MAX])
{
	const char *v = amt_reply_value(r, "DigestRealm");

	*realm = '\0';
	if (v == NULL || util_valid_digest_realm(v) != CUST_OK ||
	    strlen(v) >= AMT_REALM_MAX)
		return cust_fail(CUST_E_PARSE, "the device reports no valid "
		    "DigestRealm");
	/* The body is not protected on plain HTTP; the login's realm is.
	 * Compared without case (hex digits, as the registry compares
	 * them); the login's spelling is the one answered, as the device
	 * makes its DigestPasswords with it. */
	if (r->auth_realm[0] != '\0' && strcasecmp(r->auth_realm, v) != 0)
		return cust_fail(CUST_E_VIOLATION, "the DigestRealm in the "
		    "device's reply, %.64s, is not the realm it logs in with, "
		    "%.64s: nothing sent", v, r->auth_realm);
	if (r->auth_realm[0] != '\0')
		v = r->auth_realm;
	memcpy(realm, v, strlen(v) + 1);
	return CUST_OK;
}
