/* SPDX-License-Identifier: MIT */
/*
 * tests/amtsim/soap.c - SOAP 1.2 / WS-Management requests in, replies out
 * (reference §4).
 *
 * Requests are parsed by libxml2 with no network, no entity substitution,
 * no DTD loading, and refused outright when they carry a DOCTYPE, so a
 * hostile client cannot make the simulator expand entities or read files.
 * Replies are written in the shape of the GWM response fixtures: prefixes
 * a (SOAP), b (addressing), c (wsman), g (the resource's own namespace),
 * n (enumeration), t (transfer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "amtsim.h"

#define NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define NS_ADDR "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_WSMAN "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_ENUM "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define NS_XFER "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define ANON "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

static int
is_el(xmlNodePtr n, const char *ns, const char *local)
{
	return n != NULL && n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, local) == 0 &&
	    (ns == NULL || (n->ns != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0));
}

static xmlNodePtr
child_ns(xmlNodePtr parent, const char *ns, const char *local)
{
	if (parent == NULL)
		return NULL;
	for (xmlNodePtr c = parent->children; c != NULL; c = c->next)
		if (is_el(c, ns, local))
			return c;
	return NULL;
}

/* First child element named `local`, in any namespace. */
xmlNodePtr
soap_child(xmlNodePtr parent, const char *local)
{
	return child_ns(parent, NULL, local);
}

/* Text content, trimmed of surrounding white space; owned by req. */
const char *
soap_node_text(struct soap_req *req, xmlNodePtr n)
{
	xmlChar *t;
	char *s, *e;

	if (n == NULL || req->nstrings >= (int)(sizeof(req->strings) /
	    sizeof(req->strings[0])))
		return NULL;
	t = xmlNodeGetContent(n);
	if (t == NULL)
		return NULL;
	req->strings[req->nstrings++] = (char *)t;
	s = (char *)t;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

const char *
soap_param(struct soap_req *req, const char *local)
{
	return soap_node_text(req, soap_child(req->body, local));
}

const char *
soap_selector(struct soap_req *req, const char *name)
{
	for (int i = 0; i < req->nsel; i++)
		if (strcmp(req->sel_name[i], name) == 0)
			return req->sel_value[i];
	return NULL;
}

/* Depth-first search for a wsman Selector Name=`name` under n. */
static xmlNodePtr
find_selector(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		xmlNodePtr r;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_el(c, NS_WSMAN, "Selector")) {
			xmlChar *a = xmlGetProp(c, (const xmlChar *)"Name");
			int hit = a != NULL && strcmp((char *)a, name) == 0;

			xmlFree(a);
			if (hit)
				return c;
		}
		if ((r = find_selector(c, name)) != NULL)
			return r;
	}
	return NULL;
}

const char *
soap_epr_selector(struct soap_req *req, xmlNodePtr parent, const char *local,
    const char *name)
{
	xmlNodePtr p = soap_child(parent, local);

	if (p == NULL)
		return NULL;
	p = find_selector(p, name);
	return p == NULL ? NULL : soap_node_text(req, p);
}

/*
 * Parses one request. Returns 0, or -1 with a reason for the SOAP fault.
 * The size cap is the HTTP layer's (evhttp max body size).
 */
int
soap_parse(const char *buf, size_t len, struct soap_req *req,
    const char **why_out)
{
	xmlNodePtr env, hdr, body, c;

	memset(req, 0, sizeof(*req));
	*why_out = "malformed XML";
	if (buf == NULL || len == 0 || len > (size_t)1 << 20)
		return -1;
	/* Refused before libxml2 sees it: no DTD means no entities to
	 * expand and no external subset to fetch. */
	*why_out = "DOCTYPE not allowed";
	if (memmem(buf, len, "<!DOCTYPE", 9) != NULL ||
	    memmem(buf, len, "<!ENTITY", 8) != NULL)
		return -1;
	*why_out = "malformed XML";
	req->doc = xmlReadMemory(buf, (int)len, "wsman.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
	if (req->doc == NULL)
		return -1;
	if (req->doc->intSubset != NULL || req->doc->extSubset != NULL) {
		*why_out = "DOCTYPE not allowed";
		return -1;
	}
	env = xmlDocGetRootElement(req->doc);
	*why_out = "not a SOAP 1.2 envelope";
	if (!is_el(env, NS_SOAP, "Envelope"))
		return -1;
	hdr = child_ns(env, NS_SOAP, "Header");
	body = child_ns(env, NS_SOAP, "Body");
	if (hdr == NULL || body == NULL)
		return -1;
	req->action = soap_node_text(req, child_ns(hdr, NS_ADDR, "Action"));
	req->resource = soap_node_text(req, child_ns(hdr, NS_WSMAN,
	    "ResourceURI"));
	req->message_id = soap_node_text(req, child_ns(hdr, NS_ADDR,
	    "MessageID"));
	*why_out = "missing Action, ResourceURI or MessageID";
	if (req->action == NULL || req->resource == NULL ||
	    req->message_id == NULL || req->message_id[0] == '\0')
		return -1;
	req->cls = strrchr(req->resource, '/');
	req->cls = req->cls == NULL ? req->resource : req->cls + 1;
	c = child_ns(hdr, NS_WSMAN, "SelectorSet");
	for (c = c == NULL ? NULL : c->children; c != NULL; c = c->next) {
		xmlChar *a;

		if (!is_el(c, NS_WSMAN, "Selector"))
			continue;
		*why_out = "too many selectors";
		if (req->nsel == SIM_MAX_SELECTORS)
			return -1;
		a = xmlGetProp(c, (const xmlChar *)"Name");
		if (a == NULL)
			continue;
		req->strings[req->nstrings++] = (char *)a;
		req->sel_name[req->nsel] = (char *)a;
		req->sel_value[req->nsel] = soap_node_text(req, c);
		if (req->sel_value[req->nsel] != NULL)
			req->nsel++;
	}
	for (c = body->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE) {
			req->body = c;
			break;
		}
	*why_out = NULL;
	return 0;
}

void
soap_req_free(struct soap_req *req)
{
	for (int i = 0; i < req->nstrings; i++)
		xmlFree(req->strings[i]);
	if (req->doc != NULL)
		xmlFreeDoc(req->doc);
	memset(req, 0, sizeof(*req));
}

void
xml_esc(struct evbuffer *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': evbuffer_add(b, "&amp;", 5); break;
		case '<': evbuffer_add(b, "&lt;", 4); break;
		case '>': evbuffer_add(b, "&gt;", 4); break;
		case '"': evbuffer_add(b, "&quot;", 6); break;
		case '\'': evbuffer_add(b, "&apos;", 6); break;
		default: evbuffer_add(b, s, 1); break;
		}
	}
}

/*
 * A SOAP fault (HTTP 400, §4): Code Sender, the wsman/addressing subcode
 * and a reason. Replaces whatever body the handler had started.
 */
void
soap_fault(struct soap_reply *rep, const char *subcode, const char *reason)
{
	evbuffer_drain(rep->body, evbuffer_get_length(rep->body));
	rep->status = 400;
	snprintf(rep->action, sizeof(rep->action),
	    "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault");
	evbuffer_add_printf(rep->body, "<a:Fault><a:Code><a:Value>a:Sender"
	    "</a:Value><a:Subcode><a:Value>%s</a:Value></a:Subcode></a:Code>"
	    "<a:Reason><a:Text xml:lang=\"en-US\">", subcode);
	xml_esc(rep->body, reason);
	evbuffer_add_printf(rep->body, "</a:Text></a:Reason><a:Detail>"
	    "</a:Detail></a:Fault>");
}

/* The whole reply document around rep->body. New buffer, caller frees. */
struct evbuffer *
soap_envelope(const struct soap_reply *rep, const char *relates_to,
    const char *resource)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return NULL;
	evbuffer_add_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<a:Envelope xmlns:a=\"" NS_SOAP "\" xmlns:b=\"" NS_ADDR "\" "
	    "xmlns:c=\"" NS_WSMAN "\" "
	    "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/02/trust\" "
	    "xmlns:e=\"http://docs.oasis-open.org/wss/2004/01/"
	    "oasis-200401-wss-wssecurity-secext-1.0.xsd\" "
	    "xmlns:f=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" "
	    "xmlns:g=\"");
	xml_esc(b, resource != NULL ? resource : "");
	evbuffer_add_printf(b, "\" xmlns:n=\"" NS_ENUM "\" xmlns:t=\""
	    NS_XFER "\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
	    "<a:Header><b:To>" ANON "</b:To><b:RelatesTo>");
	xml_esc(b, relates_to);
	evbuffer_add_printf(b, "</b:RelatesTo><b:Action a:mustUnderstand="
	    "\"true\">");
	xml_esc(b, rep->action);
	evbuffer_add_printf(b, "</b:Action><b:MessageID>uuid:00000000-8086-"
	    "8086-8086-%012lX</b:MessageID>", ++g_sim->msgid);
	if (resource != NULL) {
		evbuffer_add_printf(b, "<c:ResourceURI>");
		xml_esc(b, resource);
		evbuffer_add_printf(b, "</c:ResourceURI>");
	}
	evbuffer_add_printf(b, "</a:Header><a:Body>");
	evbuffer_add_buffer(b, rep->body);
	evbuffer_add_printf(b, "</a:Body></a:Envelope>");
	return b;
}
