/* SPDX-License-Identifier: MIT */
/* src/amt/amt_int.h - internals shared by the WS-Man client's files. */
#ifndef CUST_AMT_INT_H
#define CUST_AMT_INT_H

#include <stddef.h>

#include "amt.h"

/* WS-Addressing / WS-Transfer / WS-Enumeration URIs (reference 4). */
#define AMT_NS_SOAP	"http://www.w3.org/2003/05/soap-envelope"
#define AMT_NS_ADDR	"http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define AMT_NS_WSMAN	"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define AMT_NS_XFER	"http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define AMT_NS_ENUM	"http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define AMT_ANONYMOUS	AMT_NS_ADDR "/role/anonymous"

/* How a request's answer is checked: an invocation has a ReturnValue,
 * a Pull has items. */
enum amt_kind {
	AMT_K_TRANSFER,
	AMT_K_ENUMERATE,
	AMT_K_PULL,
	AMT_K_INVOKE,
};

/* Secret parameters per request (SetAdminAclEntryEx has one, the user
 * ACL methods one; two is room to spare). */
#define AMT_REQ_SECRETS 2

struct amt_req {
	unsigned long msgid;
	enum amt_kind kind;
	int idempotent;
	char *action;		/* malloc */
	char *resource;		/* malloc */
	char *method;		/* malloc; the invoked method or the op name */
	char *xml;		/* the envelope without its secrets; malloc */
	size_t len;
	size_t nsec;
	struct {
		size_t off;	/* where in xml the value goes */
		int plain;	/* plaintext (MEBx, Kerberos keys), else a
				 * DigestPassword */
		struct seal_secret *val;
	} sec[AMT_REQ_SECRETS];
};

/* The transport notes the realm of the digest challenge the exchange
 * logged in with (amt_reply_auth_realm()). */
void amt_reply_set_auth_realm(struct amt_reply *r, const char *realm);
/* The transport records how many new connections a reply's exchange
 * opened (amt_reply_connects()). */
void amt_reply_set_connects(struct amt_reply *r, long n);

/* One-time libxml2 initialisation (thread-safe). */
void amt_xml_init(void);

#endif
