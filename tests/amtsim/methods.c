/* SPDX-License-Identifier: MIT */
/*
 * tests/amtsim/methods.c - the AMT classes and methods the simulator
 * answers: identity (§8), the ACLs (§1-§4), time (§7), MEBx, keys,
 * certificates and TLS (§6), Kerberos settings (§5).
 *
 * Each handler validates its inputs in the order the reference gives the
 * rules and answers with the PT_STATUS of the first one broken; state
 * changes only when the answer is 0. Anything that changes an ACL entry
 * or the admin account bumps the device's ACL epoch, which ends every
 * digest session (auth.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "amtsim.h"

#define AMT_NS "http://intel.com/wbem/wscim/1/amt-schema/1/"
#define CIM_NS "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
#define IPS_NS "http://intel.com/wbem/wscim/1/ips-schema/1/"
#define XFER "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define ENUM "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define ANON "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

#define KEY_ID "Intel(r) AMT Key: Handle: "
#define CERT_ID "Intel(r) AMT Certificate: Handle: "
#define TLS_REMOTE_ID "Intel(r) AMT 802.3 TLS Settings"
#define TLS_LOCAL_ID "Intel(r) AMT LMS TLS Settings"
#define KRB_ID "Intel (r) AMT: Kerberos Settings"

#define REALM_ADMIN	3
#define REALM_NETTIME	12
#define REALM_GENINFO	13

struct sim_devx *
sim_devx(struct sim_dev *d)
{
	if (d->x == NULL) {
		d->x = calloc(1, sizeof(*d->x));
		if (d->x == NULL)
			abort();
		d->x->next_handle = 1;
		d->x->next_cert_handle = 0;
		d->x->ctx_cert = -1;
		d->x->tls_cert_handle = -1;
		d->x->tls.accept_nonsecure = 1;
		d->x->pend.accept_nonsecure = 1;
		d->x->krb.max_clock_tolerance = 5;
		d->x->krb.key_version = 1;
	}
	return d->x;
}

struct sim_user *
sim_user_add(struct sim_dev *d)
{
	struct sim_devx *x = sim_devx(d);
	struct sim_user *u;

	if (x->nusers >= SIM_MAX_USERS + 4)
		return NULL;
	u = realloc(x->users, (size_t)(x->nusers + 1) * sizeof(*u));
	if (u == NULL)
		return NULL;
	x->users = u;
	u = &x->users[x->nusers++];
	memset(u, 0, sizeof(*u));
	return u;
}

time_t
sim_dev_clock(const struct sim_dev *d)
{
	return time(NULL) + d->clock_offset;
}

/* Decimal in [lo, hi]; -1 when absent or not a number. */
static int
num(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
is_true(const char *s)
{
	return s != NULL && (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0);
}

static void
out_begin(struct soap_reply *rep, struct soap_req *req, const char *method)
{
	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	evbuffer_add_printf(rep->body, "<g:%s_OUTPUT>", method);
}

static void
out_end(struct soap_reply *rep, const char *method, int rv)
{
	evbuffer_add_printf(rep->body, "<g:ReturnValue>%d</g:ReturnValue>"
	    "</g:%s_OUTPUT>", rv, method);
}

static void
el(struct evbuffer *b, const char *name, const char *val)
{
	evbuffer_add_printf(b, "<g:%s>", name);
	xml_esc(b, val);
	evbuffer_add_printf(b, "</g:%s>", name);
}

static void
el_num(struct evbuffer *b, const char *name, long v)
{
	evbuffer_add_printf(b, "<g:%s>%ld</g:%s>", name, v, name);
}

static void
epr(struct evbuffer *b, const char *cls, const char *selname,
    const char *selval)
{
	evbuffer_add_printf(b, "<b:Address>" ANON "</b:Address>"
	    "<b:ReferenceParameters><c:ResourceURI>" AMT_NS "%s"
	    "</c:ResourceURI><c:SelectorSet><c:Selector Name=\"%s\">",
	    cls, selname);
	xml_esc(b, selval);
	evbuffer_add_printf(b, "</c:Selector></c:SelectorSet>"
	    "</b:ReferenceParameters>");
}

/* ------------------------------------------------------------------ */
/* Instances */

static void
inst_general(struct sim_dev *d, struct evbuffer *b)
{
	const char *dot = strchr(d->fqdn, '.');
	char host[64];

	snprintf(host, sizeof(host), "%.*s",
	    (int)(dot == NULL ? strlen(d->fqdn) : (size_t)(dot - d->fqdn)),
	    d->fqdn);
	evbuffer_add_printf(b, "<g:AMT_GeneralSettings>"
	    "<g:AMTNetworkEnabled>1</g:AMTNetworkEnabled>"
	    "<g:DDNSPeriodicUpdateInterval>1440</g:DDNSPeriodicUpdateInterval>"
	    "<g:DDNSTTL>900</g:DDNSTTL>"
	    "<g:DDNSUpdateByDHCPServerEnabled>true"
	    "</g:DDNSUpdateByDHCPServerEnabled>"
	    "<g:DDNSUpdateEnabled>false</g:DDNSUpdateEnabled>"
	    "<g:DHCPv6ConfigurationTimeout>0</g:DHCPv6ConfigurationTimeout>");
	el(b, "DigestRealm", d->realm);
	el(b, "DomainName", dot == NULL ? "" : dot + 1);
	evbuffer_add_printf(b, "<g:ElementName>Intel(r) AMT: General Settings"
	    "</g:ElementName>");
	el(b, "HostName", host);
	el(b, "HostOSFQDN", d->fqdn);
	evbuffer_add_printf(b, "<g:IdleWakeTimeout>65535</g:IdleWakeTimeout>"
	    "<g:InstanceID>Intel(r) AMT: General Settings</g:InstanceID>"
	    "<g:NetworkInterfaceEnabled>true</g:NetworkInterfaceEnabled>"
	    "<g:PingResponseEnabled>true</g:PingResponseEnabled>"
	    "<g:PowerSource>0</g:PowerSource>"
	    "<g:PreferredAddressFamily>0</g:PreferredAddressFamily>"
	    "<g:PresenceNotificationInterval>0</g:PresenceNotificationInterval>"
	    "<g:PrivacyLevel>0</g:PrivacyLevel>"
	    "<g:RmcpPingResponseEnabled>true</g:RmcpPingResponseEnabled>"
	    "<g:SharedFQDN>true</g:SharedFQDN>"
	    "<g:WsmanOnlyMode>false</g:WsmanOnlyMode>"
	    "</g:AMT_GeneralSettings>");
}

/* CIM_SoftwareIdentity instances (§8): InstanceID AMT carries the
 * version. */
static int
inst_software(struct sim_dev *d, int i, struct evbuffer *b)
{
	static const char *ids[] = { "Flash", "Netstack", "AMTApps", "AMT",
	    "Sku", "VendorID", "Build Number", "Recovery Version",
	    "Recovery Build Num", "Legacy Mode", "AMT FW Core Version" };
	char buf[32];
	const char *v = d->version;

	if (i >= (int)(sizeof(ids) / sizeof(ids[0])))
		return 0;
	if (b == NULL)
		return 1;
	switch (i) {
	case 4: v = "16392"; break;
	case 5: v = "8086"; break;
	case 6: case 8:
		snprintf(buf, sizeof(buf), "%d", d->build);
		v = buf;
		break;
	case 9: v = "False"; break;
	default: break;
	}
	evbuffer_add_printf(b, "<g:CIM_SoftwareIdentity>");
	el(b, "InstanceID", ids[i]);
	evbuffer_add_printf(b, "<g:IsEntity>true</g:IsEntity>");
	el(b, "VersionString", v);
	evbuffer_add_printf(b, "</g:CIM_SoftwareIdentity>");
	return 1;
}

static int
inst_key(struct sim_dev *d, int i, struct evbuffer *b)
{
	char *der;

	if (d->x == NULL || i >= d->x->nkeys)
		return 0;
	if (b == NULL)
		return 1;
	der = pki_spki_b64(d->x->keys[i].pkey);
	evbuffer_add_printf(b, "<g:AMT_PublicPrivateKeyPair>");
	el(b, "DERKey", der != NULL ? der : "");
	evbuffer_add_printf(b, "<g:ElementName>Intel(r) AMT Key</g:ElementName>"
	    "<g:InstanceID>" KEY_ID "%d</g:InstanceID>"
	    "</g:AMT_PublicPrivateKeyPair>", d->x->keys[i].handle);
	free(der);
	return 1;
}

static int
inst_cert(struct sim_dev *d, int i, struct evbuffer *b)
{
	struct sim_cert *c;
	char name[512], *der;

	if (d->x == NULL || i >= d->x->ncerts)
		return 0;
	if (b == NULL)
		return 1;
	c = &d->x->certs[i];
	evbuffer_add_printf(b, "<g:AMT_PublicKeyCertificate>"
	    "<g:ElementName>Intel(r) AMT Certificate</g:ElementName>"
	    "<g:InstanceID>" CERT_ID "%d</g:InstanceID>", c->handle);
	pki_name(X509_get_issuer_name(c->x509), name, sizeof(name));
	el(b, "Issuer", name);
	evbuffer_add_printf(b,
	    "<g:ReadOnlyCertificate>false</g:ReadOnlyCertificate>");
	pki_name(X509_get_subject_name(c->x509), name, sizeof(name));
	el(b, "Subject", name);
	el(b, "TrustedRootCertficate", c->trusted_root ? "true" : "false");
	der = pki_der_b64(c->x509);
	el(b, "X509Certificate", der != NULL ? der : "");
	free(der);
	evbuffer_add_printf(b, "</g:AMT_PublicKeyCertificate>");
	return 1;
}

static int
inst_tlsctx(struct sim_dev *d, int i, struct evbuffer *b)
{
	char id[64];

	if (d->x == NULL || d->x->ctx_cert < 0 || i > 0)
		return 0;
	if (b == NULL)
		return 1;
	snprintf(id, sizeof(id), CERT_ID "%d", d->x->ctx_cert);
	evbuffer_add_printf(b, "<g:AMT_TLSCredentialContext>"
	    "<g:ElementInContext>");
	epr(b, "AMT_PublicKeyCertificate", "InstanceID", id);
	evbuffer_add_printf(b, "</g:ElementInContext>"
	    "<g:ElementProvidingContext>");
	epr(b, "AMT_TLSProtocolEndpointCollection", "ElementName",
	    "TLSProtocolEndpointInstances Collection");
	evbuffer_add_printf(b, "</g:ElementProvidingContext>"
	    "</g:AMT_TLSCredentialContext>");
	return 1;
}

/* x: the device, for the remote (802.3) instance; NULL for the local. */
static void
write_tls_settings(struct evbuffer *b, const char *id,
    const struct sim_tls_settings *s, const struct sim_devx *x, int nonsecure)
{
	int local = x == NULL;

	evbuffer_add_printf(b, "<g:AMT_TLSSettingData>");
	if (!local)
		el(b, "AcceptNonSecureConnections",
		    s->accept_nonsecure ? "true" : "false");
	el(b, "ElementName", id);
	el(b, "Enabled", s->enabled ? "true" : "false");
	el(b, "InstanceID", id);
	el(b, "MutualAuthentication", s->mutual ? "true" : "false");
	/* §6: read-only, CSME 16.1 and later (the remote instance). */
	if (!local)
		el(b, "NonSecureConnectionsSupported", nonsecure ? "true" :
		    "false");
	for (int i = 0; x != NULL && i < x->ntrusted_cn; i++)
		el(b, "TrustedCN", x->trusted_cn[i]);
	evbuffer_add_printf(b, "</g:AMT_TLSSettingData>");
}

static int
inst_tls(struct sim_dev *d, int i, struct evbuffer *b)
{
	struct sim_tls_settings loc;
	struct sim_devx *x;

	if (i > 1)
		return 0;
	if (b == NULL)
		return 1;
	x = sim_devx(d);
	if (i == 0) {
		write_tls_settings(b, TLS_REMOTE_ID, &x->pend, x,
		    d->nonsecure_supported);
	} else {
		memset(&loc, 0, sizeof(loc));
		loc.enabled = x->pend_local_enabled;
		write_tls_settings(b, TLS_LOCAL_ID, &loc, NULL, 0);
	}
	return 1;
}

static void
inst_kerberos(struct sim_dev *d, struct evbuffer *b)
{
	struct sim_kerberos *k = &sim_devx(d)->krb;

	evbuffer_add_printf(b, "<g:AMT_KerberosSettingData>");
	for (int a = 0; a < 3; a++)
		if (k->configured_algs & (1u << a))
			el_num(b, "ConfiguredEncryptionAlgorithms", a);
	evbuffer_add_printf(b, "<g:ElementName>Intel(r) AMT Kerberos Settings"
	    "</g:ElementName><g:EncryptionAlgorithm>0</g:EncryptionAlgorithm>"
	    "<g:InstanceID>" KRB_ID "</g:InstanceID>");
	el_num(b, "KeyVersion", k->key_version);
	el(b, "KrbEnabled", k->krb_enabled ? "true" : "false");
	el_num(b, "MaximumClockTolerance", k->max_clock_tolerance);
	el(b, "RealmName", k->realm_name);
	for (int a = 0; a < 3; a++)
		el_num(b, "SupportedEncryptionAlgorithms", a);
	evbuffer_add_printf(b, "</g:AMT_KerberosSettingData>");
}

/* ------------------------------------------------------------------ */
/* AMT_AuthorizationService (§1-§4) */

static struct sim_user *
user_by_handle(struct sim_dev *d, const char *h, int *idx_out)
{
	long v;

	if (d->x == NULL || num(h, 0, 0xffffffffL, &v) < 0)
		return NULL;
	for (int i = 0; i < d->x->nusers; i++)
		if (d->x->users[i].handle == (uint32_t)v) {
			if (idx_out != NULL)
				*idx_out = i;
			return &d->x->users[i];
		}
	return NULL;
}

static int
realm_assignable(long r)
{
	/* §1: 0, 1, 22, 23 never; 24 is the last. */
	return r >= 2 && r <= 24 && r != 22 && r != 23;
}

static int
name_reserved(struct sim_dev *d, const char *name)
{
	return strcasecmp(name, "admin") == 0 ||
	    strcasecmp(name, "administrator") == 0 ||
	    strcmp(name, d->admin_user) == 0;
}

/*
 * The fields AddUserAclEntryEx and UpdateUserAclEntryEx share, checked
 * into `u`. `self` is the entry being updated (NULL on add), whose
 * current values fill what the request leaves out.
 */
static int
acl_fields(struct sim_dev *d, struct soap_req *req, struct sim_user *u,
    const struct sim_user *self)
{
	const char *name = soap_param(req, "DigestUsername");
	const char *pw = soap_param(req, "DigestPassword");
	const char *sid = soap_param(req, "KerberosUserSid");
	const char *acc = soap_param(req, "AccessPermission");
	struct sim_devx *x = sim_devx(d);
	int ndigest = 0, nkerb = 0;
	long v;

	if (self != NULL)
		*u = *self;
	else
		memset(u, 0, sizeof(*u));
	u->enabled = 1;
	if ((name != NULL) == (sid != NULL))
		return PT_INVALID_PARAMETER;
	if (name != NULL) {
		if (!sim_username_ok(name) || name_reserved(d, name))
			return PT_INVALID_NAME;
		/* HA1 covers the name: a new name needs a new password. */
		if (pw == NULL && (self == NULL || self->name[0] == '\0' ||
		    strcmp(self->name, name) != 0))
			return PT_INVALID_PARAMETER;
		if (pw != NULL && sim_digest_password(pw, u->ha1) < 0)
			return PT_INVALID_PASSWORD;
		snprintf(u->name, sizeof(u->name), "%s", name);
		u->sid_len = 0;
	} else {
		unsigned char raw[64];
		size_t len;

		/* MOF: 1-28 bytes, a multiple of 4; a SID is revision 1,
		 * its sub-authority count, 6 authority bytes, 4 each. */
		if (sim_b64_decode(sid, raw, sizeof(raw), &len) < 0 ||
		    len < 8 || len > 28 || len % 4 != 0 || raw[0] != 1 ||
		    (size_t)raw[1] * 4 + 8 != len)
			return PT_INVALID_PARAMETER;
		if (!x->krb.krb_enabled)
			return PT_NOT_PERMITTED;	/* §5 */
		memcpy(u->sid, raw, len);
		u->sid_len = len;
		u->name[0] = '\0';
		memset(u->ha1, 0, sizeof(u->ha1));
	}
	if (num(acc, 0, 2, &v) < 0)
		return PT_INVALID_PARAMETER;
	u->access = (int)v;
	u->realms = 0;
	for (xmlNodePtr c = req->body->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)c->name, "Realms") != 0)
			continue;
		if (num(soap_node_text(req, c), 0, 31, &v) < 0 ||
		    !realm_assignable(v))
			return PT_INVALID_REALM;
		u->realms |= 1u << v;
	}
	if (u->realms == 0)
		return PT_INVALID_REALM;
	for (int i = 0; i < x->nusers; i++) {
		const struct sim_user *o = &x->users[i];

		if (o == self)
			continue;
		if (u->name[0] != '\0' && strcmp(o->name, u->name) == 0)
			return PT_DUPLICATE;
		if (u->sid_len != 0 && o->sid_len == u->sid_len &&
		    memcmp(o->sid, u->sid, u->sid_len) == 0)
			return PT_DUPLICATE;
		if (strncmp(o->name, "$$", 2) == 0)
			continue;
		if (o->sid_len != 0)
			nkerb++;
		else
			ndigest++;
	}
	if ((u->name[0] != '\0' && ndigest >= SIM_MAX_DIGEST_USERS) ||
	    (u->sid_len != 0 && nkerb >= SIM_MAX_KERB_USERS))
		return PT_MAX_LIMIT_REACHED;
	return PT_SUCCESS;
}

static void
m_set_admin(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	const char *name = soap_param(req, "Username");
	const char *pw = soap_param(req, "DigestPassword");
	unsigned char ha1[16];
	int rv = PT_SUCCESS;

	if (name == NULL || !sim_username_ok(name))
		rv = PT_INVALID_NAME;
	else if (sim_digest_password(pw, ha1) < 0)
		rv = PT_INVALID_PASSWORD;
	if (rv == PT_SUCCESS && d->x != NULL)
		for (int i = 0; i < d->x->nusers; i++)
			if (strcmp(d->x->users[i].name, name) == 0)
				rv = PT_DUPLICATE;
	if (rv == PT_SUCCESS) {
		snprintf(d->admin_user, sizeof(d->admin_user), "%s", name);
		memcpy(d->admin_ha1, ha1, 16);
		d->admin_changed = 1;
		d->acl_epoch++;
		rep->changed = 1;
	}
	out_begin(rep, req, "SetAdminAclEntryEx");
	out_end(rep, "SetAdminAclEntryEx", rv);
}

static void
m_add_user(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	struct sim_user u;
	int rv = acl_fields(d, req, &u, NULL);

	out_begin(rep, req, "AddUserAclEntryEx");
	if (rv == PT_SUCCESS) {
		struct sim_user *slot = sim_user_add(d);

		if (slot == NULL) {
			out_end(rep, "AddUserAclEntryEx", PT_INTERNAL_ERROR);
			return;
		}
		u.handle = d->x->next_handle++;
		*slot = u;
		d->acl_epoch++;
		rep->changed = 1;
		el_num(rep->body, "Handle", u.handle);
	}
	out_end(rep, "AddUserAclEntryEx", rv);
}

static void
m_update_user(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	struct sim_user *self = user_by_handle(d, soap_param(req, "Handle"),
	    NULL);
	struct sim_user u;
	int rv;

	if (self == NULL)
		rv = PT_INVALID_HANDLE;
	else if (strncmp(self->name, "$$", 2) == 0)
		rv = PT_NOT_PERMITTED;
	else
		rv = acl_fields(d, req, &u, self);
	if (rv == PT_SUCCESS) {
		u.enabled = self->enabled;
		*self = u;
		d->acl_epoch++;
		rep->changed = 1;
	}
	out_begin(rep, req, "UpdateUserAclEntryEx");
	out_end(rep, "UpdateUserAclEntryEx", rv);
}

static void
m_remove_user(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	int i = 0, rv = PT_SUCCESS;
	struct sim_user *u = user_by_handle(d, soap_param(req, "Handle"), &i);

	if (u == NULL)
		rv = PT_INVALID_HANDLE;
	else if (strncmp(u->name, "$$", 2) == 0)
		rv = PT_NOT_PERMITTED;	/* §1: system accounts stay */
	if (rv == PT_SUCCESS) {
		struct sim_devx *x = d->x;

		memmove(&x->users[i], &x->users[i + 1],
		    (size_t)(x->nusers - i - 1) * sizeof(x->users[0]));
		x->nusers--;
		d->acl_epoch++;
		rep->changed = 1;
	}
	out_begin(rep, req, "RemoveUserAclEntry");
	out_end(rep, "RemoveUserAclEntry", rv);
}

static void
m_enum_users(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	int total = d->x == NULL ? 0 : d->x->nusers, rv = PT_SUCCESS;
	long start;

	out_begin(rep, req, "EnumerateUserAclEntries");
	if (num(soap_param(req, "StartIndex"), 0, 0xffffffffL, &start) < 0)
		rv = PT_INVALID_PARAMETER;
	else if (start < 1 || (start > total && !(total == 0 && start == 1)))
		rv = PT_INVALID_INDEX;
	if (rv == PT_SUCCESS) {
		int n = total - (int)start + 1;

		if (n > SIM_ENUM_PAGE)
			n = SIM_ENUM_PAGE;
		if (n < 0)
			n = 0;
		el_num(rep->body, "TotalCount", total);
		el_num(rep->body, "HandlesCount", n);
		for (int i = 0; i < n; i++)
			el_num(rep->body, "Handles",
			    d->x->users[start - 1 + i].handle);
	}
	out_end(rep, "EnumerateUserAclEntries", rv);
}

static void
m_get_user(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	struct sim_user *u = user_by_handle(d, soap_param(req, "Handle"),
	    NULL);

	out_begin(rep, req, "GetUserAclEntryEx");
	if (u == NULL) {
		out_end(rep, "GetUserAclEntryEx", PT_INVALID_HANDLE);
		return;
	}
	if (u->sid_len != 0) {
		char *s = sim_b64_encode(u->sid, u->sid_len);

		el(rep->body, "KerberosUserSid", s != NULL ? s : "");
		free(s);
	} else {
		el(rep->body, "DigestUsername", u->name);
	}
	el_num(rep->body, "AccessPermission", u->access);
	for (int r = 0; r < 32; r++)
		if (u->realms & (1u << r))
			el_num(rep->body, "Realms", r);
	out_end(rep, "GetUserAclEntryEx", PT_SUCCESS);
}

static void
m_acl_enabled(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep,
    int set)
{
	const char *m = set ? "SetAclEnabledState" : "GetAclEnabledState";
	struct sim_user *u = user_by_handle(d, soap_param(req, "Handle"),
	    NULL);
	const char *en = soap_param(req, "Enabled");

	out_begin(rep, req, m);
	if (u == NULL) {
		out_end(rep, m, PT_INVALID_HANDLE);
		return;
	}
	if (set) {
		if (en == NULL) {
			out_end(rep, m, PT_INVALID_PARAMETER);
			return;
		}
		u->enabled = is_true(en);
		d->acl_epoch++;
		rep->changed = 1;
	} else {
		el(rep->body, "Enabled", u->enabled ? "true" : "false");
	}
	out_end(rep, m, PT_SUCCESS);
}

/* ------------------------------------------------------------------ */
/* Time (§7) */

static void
m_get_time(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	out_begin(rep, req, "GetLowAccuracyTimeSynch");
	el_num(rep->body, "Ta0", (long)(uint32_t)sim_dev_clock(d));
	out_end(rep, "GetLowAccuracyTimeSynch", PT_SUCCESS);
}

/* NTP-style: offset = ((Tm1 - Ta0) + (Tm2 - Ta1)) / 2, Ta1 = AMT clock on
 * receipt. All must be after 2004-01-01. */
static void
m_set_time(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	long ta0, tm1, tm2, lo = 1072915200L;
	int rv = PT_SUCCESS;

	if (num(soap_param(req, "Ta0"), lo + 1, 0xffffffffL, &ta0) < 0 ||
	    num(soap_param(req, "Tm1"), lo + 1, 0xffffffffL, &tm1) < 0 ||
	    num(soap_param(req, "Tm2"), lo + 1, 0xffffffffL, &tm2) < 0)
		rv = PT_INVALID_PARAMETER;
	if (rv == PT_SUCCESS && d->time_sync == SIM_TIME_REFUSE)
		rv = PT_NOT_PERMITTED;
	if (rv == PT_SUCCESS) {
		long ta1 = (long)sim_dev_clock(d);

		if (d->time_sync == SIM_TIME_OK)
			d->clock_offset += ((tm1 - ta0) + (tm2 - ta1)) / 2;
		d->time_set_seq = ++d->seq;
		rep->changed = 1;
	}
	out_begin(rep, req, "SetHighAccuracyTimeSynch");
	out_end(rep, "SetHighAccuracyTimeSynch", rv);
}

/* ------------------------------------------------------------------ */
/* Setup and configuration */

/*
 * §2: SetMEBxPassword takes the plaintext, so the device checks the
 * password rules (2054). Refused (16) over plain HTTP (custody sends it
 * over TLS only), in client control mode, and by the MEBx policy:
 * "default only" once it was changed, "during setup" on a provisioned
 * device.
 */
static void
m_set_mebx(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep,
    int over_tls)
{
	const char *pw = soap_param(req, "Password");
	int rv = PT_SUCCESS;

	if (!over_tls || d->control_mode != 2 ||
	    d->mebx_policy == SIM_MEBX_DURING_SETUP ||
	    (d->mebx_policy == SIM_MEBX_DEFAULT_ONLY && d->x != NULL &&
	    d->x->mebx_set))
		rv = PT_NOT_PERMITTED;
	else if (pw == NULL || !sim_password_ok(pw))
		rv = PT_INVALID_PASSWORD;
	if (rv == PT_SUCCESS) {
		struct sim_devx *x = sim_devx(d);

		SHA256((const unsigned char *)pw, strlen(pw), x->mebx_sha256);
		x->mebx_set = 1;
		rep->changed = 1;
	}
	out_begin(rep, req, "SetMEBxPassword");
	out_end(rep, "SetMEBxPassword", rv);
}

static void
m_commit(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	int rv = pki_commit_tls(d);

	if (rv == PT_SUCCESS)
		rep->changed = 1;
	out_begin(rep, req, "CommitChanges");
	out_end(rep, "CommitChanges", rv);
}

/* ------------------------------------------------------------------ */
/* Keys and certificates (§6) */

static int
version_major(const char *v)
{
	long m = 0;
	char buf[8];

	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(v, "."), v);
	return num(buf, 0, 1000, &m) == 0 ? (int)m : 0;
}

/* The handle in an InstanceID "<prefix>N", or -1. */
static long
id_handle(const char *id, const char *prefix)
{
	long h;

	if (id == NULL || strncmp(id, prefix, strlen(prefix)) != 0 ||
	    num(id + strlen(prefix), 0, 1L << 30, &h) < 0)
		return -1;
	return h;
}

static struct sim_key *
key_by_id(struct sim_dev *d, const char *id)
{
	long h = id_handle(id, KEY_ID);

	for (int i = 0; d->x != NULL && h >= 0 && i < d->x->nkeys; i++)
		if (d->x->keys[i].handle == h)
			return &d->x->keys[i];
	return NULL;
}

static struct sim_cert *
cert_by_id(struct sim_dev *d, const char *id)
{
	long h = id_handle(id, CERT_ID);

	for (int i = 0; d->x != NULL && h >= 0 && i < d->x->ncerts; i++)
		if (d->x->certs[i].handle == h)
			return &d->x->certs[i];
	return NULL;
}

static void
m_genkey(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	long alg, len;
	int rv = PT_SUCCESS;
	EVP_PKEY *pk = NULL;
	char id[64];

	out_begin(rep, req, "GenerateKeyPair");
	if (num(soap_param(req, "KeyAlgorithm"), 0, 255, &alg) < 0 ||
	    num(soap_param(req, "KeyLength"), 0, 65535, &len) < 0)
		rv = PT_INVALID_PARAMETER;
	else if (alg != 0 || len != 2048)	/* RSA 2048 only (§6) */
		rv = PT_UNSUPPORTED;
	else if (sim_devx(d)->nkeys >= SIM_MAX_KEYS)
		rv = PT_MAX_LIMIT_REACHED;
	else if ((pk = pki_rsa_new(2048)) == NULL)
		rv = PT_INTERNAL_ERROR;
	if (rv == PT_SUCCESS) {
		struct sim_key *k = &d->x->keys[d->x->nkeys++];

		k->handle = d->x->next_key_handle++;
		k->pkey = pk;
		rep->changed = 1;
		snprintf(id, sizeof(id), KEY_ID "%d", k->handle);
		evbuffer_add_printf(rep->body, "<g:KeyPair>");
		epr(rep->body, "AMT_PublicPrivateKeyPair", "InstanceID", id);
		evbuffer_add_printf(rep->body, "</g:KeyPair>");
	}
	out_end(rep, "GenerateKeyPair", rv);
}

/*
 * §6: the console sends a CSR with a valid CertificationRequestInfo for
 * the pair's public key (its signature does not matter: "null signed");
 * AMT signs it with the private key, which never leaves the device.
 */
static void
m_pkcs10(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	const char *id = soap_epr_selector(req, req->body, "KeyPair",
	    "InstanceID");
	const char *csr64 = soap_param(req, "NullSignedCertificateRequest");
	struct sim_key *k = key_by_id(d, id);
	unsigned char *der = NULL, *p, *out = NULL;
	const unsigned char *cp;
	X509_REQ *xr = NULL;
	size_t len = 0;
	long alg;
	int rv = PT_SUCCESS, n;
	char *b64;

	out_begin(rep, req, "GeneratePKCS10RequestEx");
	if (k == NULL) {
		rv = PT_INVALID_HANDLE;
		goto out;
	}
	if (num(soap_param(req, "SigningAlgorithm"), 0, 255, &alg) < 0 ||
	    alg > 1 || csr64 == NULL || strlen(csr64) > 16384) {
		rv = PT_INVALID_PARAMETER;
		goto out;
	}
	if (alg == 0 && version_major(d->version) >= 18) {
		rv = PT_UNSUPPORTED;	/* SHA1-RSA removed in CSME 18 */
		goto out;
	}
	der = malloc(strlen(csr64));
	if (der == NULL || sim_b64_decode(csr64, der, strlen(csr64), &len) < 0
	    || (cp = der, xr = d2i_X509_REQ(NULL, &cp, (long)len)) == NULL) {
		rv = PT_INVALID_PARAMETER;
		goto out;
	}
	if (EVP_PKEY_eq(X509_REQ_get0_pubkey(xr), k->pkey) != 1) {
		rv = PT_INVALID_KEY;
		goto out;
	}
	if (X509_REQ_sign(xr, k->pkey, alg == 0 ? EVP_sha1() :
	    EVP_sha256()) <= 0 || (n = i2d_X509_REQ(xr, NULL)) <= 0 ||
	    (out = malloc((size_t)n)) == NULL) {
		rv = PT_INTERNAL_ERROR;
		goto out;
	}
	p = out;
	i2d_X509_REQ(xr, &p);
	b64 = sim_b64_encode(out, (size_t)n);
	el(rep->body, "SignedCertificateRequest", b64 != NULL ? b64 : "");
	free(b64);
out:
	out_end(rep, "GeneratePKCS10RequestEx", rv);
	X509_REQ_free(xr);
	free(der);
	free(out);
}

static void
m_addcert(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep,
    int root)
{
	const char *m = root ? "AddTrustedRootCertificate" : "AddCertificate";
	const char *blob = soap_param(req, "CertificateBlob");
	unsigned char der[8192];
	const unsigned char *cp = der;
	X509 *x509 = NULL;
	size_t len = 0;
	int rv = PT_SUCCESS;
	struct sim_devx *x = sim_devx(d);
	char id[64];

	out_begin(rep, req, m);
	if (blob == NULL || strlen(blob) > 4 * sizeof(der) / 3 ||
	    sim_b64_decode(blob, der, sizeof(der), &len) < 0) {
		rv = PT_INVALID_PARAMETER;
		goto out;
	}
	if (len > SIM_CERT_MAX_DER) {
		rv = PT_INVALID_PARAMETER;
		goto out;
	}
	if ((x509 = d2i_X509(NULL, &cp, (long)len)) == NULL ||
	    cp != der + len ||
	    (root && X509_check_issued(x509, x509) != X509_V_OK)) {
		rv = PT_INVALID_CERT;
		goto out;
	}
	for (int i = 0; i < x->ncerts; i++)
		if (X509_cmp(x->certs[i].x509, x509) == 0) {
			rv = PT_DUPLICATE;
			goto out;
		}
	if (x->ncerts >= SIM_MAX_CERTS) {
		rv = PT_MAX_LIMIT_REACHED;
		goto out;
	}
	{
		struct sim_cert *c = &x->certs[x->ncerts++];

		c->handle = x->next_cert_handle++;
		c->x509 = x509;
		x509 = NULL;
		c->trusted_root = root;
		c->key_handle = -1;
		/* §6: a certificate for a stored key is a usable leaf. */
		for (int i = 0; !root && i < x->nkeys; i++)
			if (EVP_PKEY_eq(X509_get0_pubkey(c->x509),
			    x->keys[i].pkey) == 1)
				c->key_handle = x->keys[i].handle;
		rep->changed = 1;
		snprintf(id, sizeof(id), CERT_ID "%d", c->handle);
		evbuffer_add_printf(rep->body, "<g:CreatedCertificate>");
		epr(rep->body, "AMT_PublicKeyCertificate", "InstanceID", id);
		evbuffer_add_printf(rep->body, "</g:CreatedCertificate>");
	}
out:
	X509_free(x509);
	out_end(rep, m, rv);
}

/* A certificate or key the TLS configuration (pending or live) uses. */
static int
cert_in_use(struct sim_dev *d, int handle)
{
	return d->x != NULL && (d->x->ctx_cert == handle ||
	    (d->x->tls_active && d->x->tls_cert_handle == handle));
}

static int
delete_cert(struct sim_dev *d, const char *id, struct soap_reply *rep)
{
	struct sim_cert *c = cert_by_id(d, id);
	struct sim_devx *x = d->x;
	int i;

	if (c == NULL) {
		soap_fault(rep, "c:InvalidSelectors", "no such certificate");
		return -1;
	}
	if (cert_in_use(d, c->handle)) {
		soap_fault(rep, "c:InvalidParameter",
		    "certificate is bound to TLS");
		return -1;
	}
	i = (int)(c - x->certs);
	X509_free(c->x509);
	memmove(&x->certs[i], &x->certs[i + 1],
	    (size_t)(x->ncerts - i - 1) * sizeof(x->certs[0]));
	x->ncerts--;
	return 0;
}

static int
delete_key(struct sim_dev *d, const char *id, struct soap_reply *rep)
{
	struct sim_key *k = key_by_id(d, id);
	struct sim_devx *x = d->x;
	int i;

	if (k == NULL) {
		soap_fault(rep, "c:InvalidSelectors", "no such key pair");
		return -1;
	}
	for (i = 0; i < x->ncerts; i++)
		if (x->certs[i].key_handle == k->handle &&
		    cert_in_use(d, x->certs[i].handle)) {
			soap_fault(rep, "c:InvalidParameter",
			    "key is bound to TLS");
			return -1;
		}
	for (i = 0; i < x->ncerts; i++)
		if (x->certs[i].key_handle == k->handle)
			x->certs[i].key_handle = -1;
	i = (int)(k - x->keys);
	EVP_PKEY_free(k->pkey);
	memmove(&x->keys[i], &x->keys[i + 1],
	    (size_t)(x->nkeys - i - 1) * sizeof(x->keys[0]));
	x->nkeys--;
	return 0;
}

/* ------------------------------------------------------------------ */
/* TLS binding (§6 "Binding"): nothing applies before CommitChanges. */

static void
put_tlsctx(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep,
    int create)
{
	xmlNodePtr inst = req->body;
	const char *id = soap_epr_selector(req, inst, "ElementInContext",
	    "InstanceID");
	struct sim_cert *c = cert_by_id(d, id);
	struct sim_devx *x = sim_devx(d);
	char cid[64];

	if (inst == NULL || strcmp((const char *)inst->name,
	    "AMT_TLSCredentialContext") != 0) {
		soap_fault(rep, "c:InvalidRepresentation",
		    "expected AMT_TLSCredentialContext");
		return;
	}
	if (create && x->ctx_cert >= 0) {
		soap_fault(rep, "c:AlreadyExists",
		    "a TLS credential context exists");
		return;
	}
	if (c == NULL || c->trusted_root || c->key_handle < 0) {
		soap_fault(rep, "c:InvalidParameter",
		    "ElementInContext is not a certificate with a key pair");
		return;
	}
	x->ctx_cert = c->handle;
	rep->changed = 1;
	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	snprintf(cid, sizeof(cid), CERT_ID "%d", c->handle);
	if (create) {
		evbuffer_add_printf(rep->body, "<t:ResourceCreated>"
		    "<b:Address>" ANON "</b:Address><b:ReferenceParameters>"
		    "<c:ResourceURI>" AMT_NS "AMT_TLSCredentialContext"
		    "</c:ResourceURI><c:SelectorSet>"
		    "<c:Selector Name=\"ElementInContext\">"
		    "<b:EndpointReference>");
		epr(rep->body, "AMT_PublicKeyCertificate", "InstanceID", cid);
		evbuffer_add_printf(rep->body, "</b:EndpointReference>"
		    "</c:Selector><c:Selector Name=\"ElementProvidingContext\">"
		    "<b:EndpointReference>");
		epr(rep->body, "AMT_TLSProtocolEndpointCollection",
		    "ElementName", "TLSProtocolEndpointInstances Collection");
		evbuffer_add_printf(rep->body, "</b:EndpointReference>"
		    "</c:Selector></c:SelectorSet></b:ReferenceParameters>"
		    "</t:ResourceCreated>");
	} else {
		inst_tlsctx(d, 0, rep->body);
	}
}

static void
put_tls(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	const char *id = soap_selector(req, "InstanceID");
	xmlNodePtr inst = req->body;
	struct sim_devx *x = sim_devx(d);
	struct sim_tls_settings s;
	const char *en, *cns[SIM_MAX_TRUSTED_CN];
	int ncn = 0;

	if (inst == NULL || strcmp((const char *)inst->name,
	    "AMT_TLSSettingData") != 0) {
		soap_fault(rep, "c:InvalidRepresentation",
		    "expected AMT_TLSSettingData");
		return;
	}
	if (id == NULL)
		id = soap_param(req, "InstanceID");
	en = soap_param(req, "Enabled");
	if (id == NULL || en == NULL) {
		soap_fault(rep, "c:InvalidParameter",
		    "InstanceID and Enabled are required");
		return;
	}
	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	if (strcmp(id, TLS_LOCAL_ID) == 0) {
		x->pend_local_enabled = is_true(en);
		x->pend_set = 1;
		inst_tls(d, 1, rep->body);
		return;
	}
	if (strcmp(id, TLS_REMOTE_ID) != 0) {
		soap_fault(rep, "c:InvalidSelectors", "no such instance");
		return;
	}
	memset(&s, 0, sizeof(s));
	s.enabled = is_true(en);
	s.mutual = is_true(soap_param(req, "MutualAuthentication"));
	s.accept_nonsecure = soap_param(req, "AcceptNonSecureConnections") ==
	    NULL ? 1 : is_true(soap_param(req, "AcceptNonSecureConnections"));
	for (xmlNodePtr c = inst->children; c != NULL; c = c->next) {
		const char *cn;

		if (c->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)c->name, "TrustedCN") != 0)
			continue;
		cn = soap_node_text(req, c);
		if (cn == NULL || *cn == '\0' || strlen(cn) > 255 ||
		    ncn == SIM_MAX_TRUSTED_CN) {
			soap_fault(rep, "c:InvalidParameter", "TrustedCN: at most "
			    "16 names of 1-255 characters");
			return;
		}
		cns[ncn++] = cn;
	}
	/* §6: NonSecureConnectionsSupported=false forbids plain HTTP. */
	if (!d->nonsecure_supported && (!s.enabled || s.accept_nonsecure)) {
		soap_fault(rep, "c:AccessDenied",
		    "PT_STATUS_NOT_PERMITTED: non-secure connections are not "
		    "supported");
		return;
	}
	if (s.enabled && x->ctx_cert < 0) {
		soap_fault(rep, "c:InvalidParameter",
		    "no TLS credential context");
		return;
	}
	x->pend = s;
	x->pend_set = 1;
	/* TrustedCN applies at once (IRG); the rest at CommitChanges. */
	for (int i = 0; i < x->ntrusted_cn; i++)
		free(x->trusted_cn[i]);
	x->ntrusted_cn = 0;
	for (int i = 0; i < ncn; i++)
		if ((x->trusted_cn[x->ntrusted_cn] = strdup(cns[i])) != NULL)
			x->ntrusted_cn++;
	rep->changed = 1;
	inst_tls(d, 0, rep->body);
}

/* ------------------------------------------------------------------ */
/* Kerberos (§5) */

/* AMT derives the RC4-HMAC key of a Passphrase as Windows does: MD4 of
 * its UTF-16LE (reference §5). MD4 is in OpenSSL's legacy provider,
 * loaded into a context of the simulator's own. */
static int
nt_hash(const char *pw, unsigned char out[16])
{
	static OSSL_LIB_CTX *lc;
	static EVP_MD *md4;
	unsigned char u16[256];
	unsigned int len = 0;
	size_t n = strlen(pw);

	if (md4 == NULL) {
		if (lc == NULL)
			lc = OSSL_LIB_CTX_new();
		if (lc == NULL || OSSL_PROVIDER_load(lc, "legacy") == NULL ||
		    (md4 = EVP_MD_fetch(lc, "MD4", NULL)) == NULL)
			return -1;
	}
	if (2 * n > sizeof(u16))
		return -1;
	for (size_t i = 0; i < n; i++) {
		u16[2 * i] = (unsigned char)pw[i];
		u16[2 * i + 1] = 0;
	}
	return EVP_Digest(u16, 2 * n, out, &len, md4, NULL) == 1 && len == 16 ?
	    0 : -1;
}

static void
put_kerberos(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep)
{
	struct sim_kerberos k = sim_devx(d)->krb;
	const char *realm = soap_param(req, "RealmName");
	const char *mk = soap_param(req, "MasterKey");
	const char *pp = soap_param(req, "Passphrase");
	const char *en = soap_param(req, "KrbEnabled");
	unsigned char raw[32];
	size_t len;
	long v;

	if (req->body == NULL || strcmp((const char *)req->body->name,
	    "AMT_KerberosSettingData") != 0 || en == NULL) {
		soap_fault(rep, "c:InvalidRepresentation",
		    "expected AMT_KerberosSettingData with KrbEnabled");
		return;
	}
	if ((mk != NULL && pp != NULL) || (mk != NULL && (sim_b64_decode(mk,
	    raw, sizeof(raw), &len) < 0 || len != 16))) {
		soap_fault(rep, "c:InvalidParameter",
		    "MasterKey is 16 bytes, and not with Passphrase");
		return;
	}
	k.krb_enabled = is_true(en);
	if (realm != NULL)
		snprintf(k.realm_name, sizeof(k.realm_name), "%s", realm);
	if (num(soap_param(req, "KeyVersion"), 0, 0xffffffffL, &v) == 0)
		k.key_version = v;
	if (soap_param(req, "MaximumClockTolerance") != NULL) {
		if (num(soap_param(req, "MaximumClockTolerance"), 1, 5,
		    &v) < 0) {
			soap_fault(rep, "c:InvalidParameter",
			    "MaximumClockTolerance is 1-5 minutes");
			return;
		}
		k.max_clock_tolerance = v;
	}
	if (pp != NULL && (strlen(pp) == 0 || strlen(pp) >=
	    sizeof(k.passphrase) || soap_param(req, "Salt") == NULL ||
	    strlen(soap_param(req, "Salt")) >= sizeof(k.salt) ||
	    num(soap_param(req, "IterationCount"), 1, 0xffffffffL, &v) < 0 ||
	    nt_hash(pp, k.rc4_key) < 0)) {
		soap_fault(rep, "c:InvalidParameter",
		    "a Passphrase needs its Salt and IterationCount");
		return;
	}
	if (pp != NULL) {
		snprintf(k.passphrase, sizeof(k.passphrase), "%s", pp);
		snprintf(k.salt, sizeof(k.salt), "%s", soap_param(req, "Salt"));
		k.iterations = v;
	}
	if (mk != NULL) {
		memcpy(k.rc4_key, raw, 16);
		k.passphrase[0] = k.salt[0] = '\0';
		k.iterations = 0;
	}
	if (mk != NULL || pp != NULL) {
		k.has_master_key = mk != NULL;
		k.has_passphrase = pp != NULL;
		k.configured_algs = 1u;		/* RC4 always */
		if (pp != NULL)
			k.configured_algs |= 6u;
	}
	k.put_seq = ++d->seq;
	k.put_clock_skew = d->clock_offset;
	sim_devx(d)->krb = k;
	rep->changed = 1;
	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	inst_kerberos(d, rep->body);
}

/* ------------------------------------------------------------------ */
/* Enumerate / Pull: contexts are stateless, "CCOOOOOO-0000-0000-0000-
 * DDDDDDDDDDDD" (class, next offset, device). */

typedef int (*enum_fn)(struct sim_dev *, int, struct evbuffer *);

static void
do_enumerate(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep,
    int clsid)
{
	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	evbuffer_add_printf(rep->body, "<n:EnumerateResponse>"
	    "<n:EnumerationContext>%02X000000-0000-0000-0000-%012X"
	    "</n:EnumerationContext></n:EnumerateResponse>", clsid,
	    (unsigned)d->index);
}

static void
do_pull(struct sim_dev *d, struct soap_req *req, struct soap_reply *rep,
    int clsid, enum_fn fn)
{
	const char *ctx = soap_param(req, "EnumerationContext");
	unsigned int c = 0, off = 0, dev = 0;
	long max = 1;
	int i, n = 0;

	if (ctx == NULL || strlen(ctx) != 36 || sscanf(ctx,
	    "%2x%6x-0000-0000-0000-%12x", &c, &off, &dev) != 3 ||
	    (int)c != clsid || (int)dev != d->index) {
		soap_fault(rep, "n:InvalidEnumerationContext",
		    "unknown enumeration context");
		return;
	}
	if (soap_param(req, "MaxElements") != NULL &&
	    num(soap_param(req, "MaxElements"), 1, 100000, &max) < 0) {
		soap_fault(rep, "c:InvalidParameter", "bad MaxElements");
		return;
	}
	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	evbuffer_add_printf(rep->body, "<n:PullResponse><n:Items>");
	for (i = (int)off; n < max && fn(d, i, rep->body); i++)
		n++;
	evbuffer_add_printf(rep->body, "</n:Items>");
	if (fn(d, i, NULL))
		evbuffer_add_printf(rep->body, "<n:EnumerationContext>"
		    "%02X%06X-0000-0000-0000-%012X</n:EnumerationContext>",
		    clsid, (unsigned)i, (unsigned)d->index);
	else
		evbuffer_add_printf(rep->body,
		    "<n:EndOfSequence></n:EndOfSequence>");
	evbuffer_add_printf(rep->body, "</n:PullResponse>");
}

/* ------------------------------------------------------------------ */
/* Dispatch */

enum op { OP_GET, OP_PUT, OP_CREATE, OP_DELETE, OP_ENUM, OP_PULL,
    OP_RELEASE, OP_INVOKE };

struct cls {
	const char *ns;
	const char *name;
	int realm;			/* needed by a non-admin user */
	enum_fn list;			/* enumerable: instance i */
};

static const struct cls classes[] = {
	{ AMT_NS, "AMT_GeneralSettings", REALM_GENINFO, NULL },
	{ CIM_NS, "CIM_SoftwareIdentity", REALM_GENINFO, inst_software },
	{ AMT_NS, "AMT_AuthorizationService", REALM_ADMIN, NULL },
	{ AMT_NS, "AMT_TimeSynchronizationService", REALM_NETTIME, NULL },
	{ AMT_NS, "AMT_SetupAndConfigurationService", REALM_ADMIN, NULL },
	{ IPS_NS, "IPS_HostBasedSetupService", REALM_GENINFO, NULL },
	{ AMT_NS, "AMT_PublicKeyManagementService", REALM_ADMIN, NULL },
	{ AMT_NS, "AMT_PublicPrivateKeyPair", REALM_ADMIN, inst_key },
	{ AMT_NS, "AMT_PublicKeyCertificate", REALM_ADMIN, inst_cert },
	{ AMT_NS, "AMT_TLSCredentialContext", REALM_ADMIN, inst_tlsctx },
	{ AMT_NS, "AMT_TLSSettingData", REALM_ADMIN, inst_tls },
	{ AMT_NS, "AMT_KerberosSettingData", REALM_ADMIN, NULL },
};


static void
simple_get(struct sim_dev *d, int ci, struct soap_req *req,
    struct soap_reply *rep)
{
	const char *name = classes[ci].name;
	struct evbuffer *b = rep->body;

	snprintf(rep->action, sizeof(rep->action), "%sResponse", req->action);
	if (strcmp(name, "AMT_GeneralSettings") == 0) {
		inst_general(d, b);
	} else if (strcmp(name, "AMT_AuthorizationService") == 0) {
		evbuffer_add_printf(b, "<g:AMT_AuthorizationService>"
		    "<g:AllowHttpQopAuthOnly>1</g:AllowHttpQopAuthOnly>"
		    "<g:CreationClassName>AMT_AuthorizationService"
		    "</g:CreationClassName><g:ElementName>Intel(r) AMT "
		    "Authorization Service</g:ElementName><g:EnabledState>5"
		    "</g:EnabledState><g:Name>Intel(r) AMT Authorization "
		    "Service</g:Name><g:RequestedState>12</g:RequestedState>"
		    "<g:SystemCreationClassName>CIM_ComputerSystem"
		    "</g:SystemCreationClassName><g:SystemName>Intel(r) AMT"
		    "</g:SystemName></g:AMT_AuthorizationService>");
	} else if (strcmp(name, "AMT_SetupAndConfigurationService") == 0) {
		evbuffer_add_printf(b, "<g:AMT_SetupAndConfigurationService>"
		    "<g:CreationClassName>AMT_SetupAndConfigurationService"
		    "</g:CreationClassName><g:ElementName>Intel(r) AMT Setup "
		    "and Configuration Service</g:ElementName>"
		    "<g:EnabledState>5</g:EnabledState><g:Name>Intel(r) AMT "
		    "Setup and Configuration Service</g:Name>"
		    "<g:PasswordModel>1</g:PasswordModel>"
		    "<g:ProvisioningMode>1</g:ProvisioningMode>"
		    "<g:ProvisioningState>2</g:ProvisioningState>"
		    "<g:SystemName>Intel(r) AMT</g:SystemName>"
		    "</g:AMT_SetupAndConfigurationService>");
	} else if (strcmp(name, "IPS_HostBasedSetupService") == 0) {
		evbuffer_add_printf(b, "<g:IPS_HostBasedSetupService>"
		    "<g:AllowedControlModes>2</g:AllowedControlModes>"
		    "<g:AllowedControlModes>1</g:AllowedControlModes>"
		    "<g:CreationClassName>IPS_HostBasedSetupService"
		    "</g:CreationClassName><g:CurrentControlMode>%d"
		    "</g:CurrentControlMode><g:ElementName>Intel(r) AMT Host "
		    "Based Setup Service</g:ElementName><g:Name>Intel(r) AMT "
		    "Host Based Setup Service</g:Name>"
		    "<g:SystemName>Intel(r) AMT</g:SystemName>"
		    "</g:IPS_HostBasedSetupService>", d->control_mode);
	} else if (strcmp(name, "AMT_KerberosSettingData") == 0) {
		inst_kerberos(d, b);
	} else if (strcmp(name, "AMT_TimeSynchronizationService") == 0) {
		evbuffer_add_printf(b, "<g:AMT_TimeSynchronizationService>"
		    "<g:ElementName>Intel(r) AMT Time Synchronization Service"
		    "</g:ElementName><g:LocalTimeSyncEnabled>0"
		    "</g:LocalTimeSyncEnabled><g:TimeSource>1</g:TimeSource>"
		    "</g:AMT_TimeSynchronizationService>");
	} else if (strcmp(name, "AMT_PublicKeyManagementService") == 0) {
		evbuffer_add_printf(b, "<g:AMT_PublicKeyManagementService>"
		    "<g:ElementName>Intel(r) AMT Certificate Store Service"
		    "</g:ElementName><g:EnabledState>5</g:EnabledState>"
		    "</g:AMT_PublicKeyManagementService>");
	} else if (classes[ci].list != NULL) {
		/* Get by selector on an enumerable class. */
		const char *id = soap_selector(req, "InstanceID");
		struct evbuffer *tmp = evbuffer_new();
		int hit = 0;

		for (int i = 0; id != NULL && classes[ci].list(d, i, NULL);
		    i++) {
			classes[ci].list(d, i, tmp);
			if (strstr((const char *)evbuffer_pullup(tmp, -1), id)
			    != NULL) {
				evbuffer_add_buffer(b, tmp);
				hit = 1;
				break;
			}
			evbuffer_drain(tmp, evbuffer_get_length(tmp));
		}
		evbuffer_free(tmp);
		if (!hit)
			soap_fault(rep, "c:InvalidSelectors",
			    "no such instance");
	} else {
		soap_fault(rep, "a:ActionNotSupported", "Get not supported");
	}
}

static void
invoke(struct sim_dev *d, const char *cls, const char *m, int over_tls,
    struct soap_req *req, struct soap_reply *rep)
{
	char input[96];

	snprintf(input, sizeof(input), "%s_INPUT", m);
	if (req->body == NULL || strcmp((const char *)req->body->name,
	    input) != 0) {
		soap_fault(rep, "c:InvalidRepresentation",
		    "method input element does not match the Action");
		return;
	}
#define IS(c, meth) (strcmp(cls, c) == 0 && strcmp(m, meth) == 0)
	if (IS("AMT_AuthorizationService", "SetAdminAclEntryEx"))
		m_set_admin(d, req, rep);
	else if (IS("AMT_AuthorizationService", "GetAdminAclEntry")) {
		out_begin(rep, req, m);
		el(rep->body, "Username", d->admin_user);
		out_end(rep, m, PT_SUCCESS);
	} else if (IS("AMT_AuthorizationService", "GetAdminAclEntryStatus") ||
	    IS("AMT_AuthorizationService", "GetAdminNetAclEntryStatus")) {
		out_begin(rep, req, m);
		el(rep->body, "IsDefault", d->admin_changed ? "false" : "true");
		out_end(rep, m, PT_SUCCESS);
	} else if (IS("AMT_AuthorizationService", "AddUserAclEntryEx"))
		m_add_user(d, req, rep);
	else if (IS("AMT_AuthorizationService", "UpdateUserAclEntryEx"))
		m_update_user(d, req, rep);
	else if (IS("AMT_AuthorizationService", "RemoveUserAclEntry"))
		m_remove_user(d, req, rep);
	else if (IS("AMT_AuthorizationService", "EnumerateUserAclEntries"))
		m_enum_users(d, req, rep);
	else if (IS("AMT_AuthorizationService", "GetUserAclEntryEx"))
		m_get_user(d, req, rep);
	else if (IS("AMT_AuthorizationService", "GetAclEnabledState"))
		m_acl_enabled(d, req, rep, 0);
	else if (IS("AMT_AuthorizationService", "SetAclEnabledState"))
		m_acl_enabled(d, req, rep, 1);
	else if (IS("AMT_TimeSynchronizationService",
	    "GetLowAccuracyTimeSynch"))
		m_get_time(d, req, rep);
	else if (IS("AMT_TimeSynchronizationService",
	    "SetHighAccuracyTimeSynch"))
		m_set_time(d, req, rep);
	else if (IS("AMT_SetupAndConfigurationService", "SetMEBxPassword"))
		m_set_mebx(d, req, rep, over_tls);
	else if (IS("AMT_SetupAndConfigurationService", "CommitChanges"))
		m_commit(d, req, rep);
	else if (IS("AMT_PublicKeyManagementService", "GenerateKeyPair"))
		m_genkey(d, req, rep);
	else if (IS("AMT_PublicKeyManagementService",
	    "GeneratePKCS10RequestEx"))
		m_pkcs10(d, req, rep);
	else if (IS("AMT_PublicKeyManagementService", "AddCertificate"))
		m_addcert(d, req, rep, 0);
	else if (IS("AMT_PublicKeyManagementService",
	    "AddTrustedRootCertificate"))
		m_addcert(d, req, rep, 1);
	else
		soap_fault(rep, "a:ActionNotSupported",
		    "method not supported by the simulator");
#undef IS
}

/*
 * Routes one authenticated request. `who` is -1 for the admin account or
 * the index of the user ACL entry that logged in; a user needs the
 * class's realm or PTAdministrationRealm (§1).
 */
void
sim_dispatch(struct sim_dev *d, int who, int over_tls, struct soap_req *req,
    struct soap_reply *rep)
{
	static const struct { const char *uri; enum op op; } ops[] = {
		{ XFER "Get", OP_GET }, { XFER "Put", OP_PUT },
		{ XFER "Create", OP_CREATE }, { XFER "Delete", OP_DELETE },
		{ ENUM "Enumerate", OP_ENUM }, { ENUM "Pull", OP_PULL },
		{ ENUM "Release", OP_RELEASE },
	};
	const struct cls *c = NULL;
	enum op op = OP_INVOKE;
	const char *method = NULL;
	int ci;

	for (ci = 0; ci < (int)(sizeof(classes) / sizeof(classes[0])); ci++)
		if (strcmp(req->cls, classes[ci].name) == 0 &&
		    strncmp(req->resource, classes[ci].ns,
		    strlen(classes[ci].ns)) == 0 &&
		    strlen(req->resource) == strlen(classes[ci].ns) +
		    strlen(classes[ci].name)) {
			c = &classes[ci];
			break;
		}
	if (c == NULL) {
		soap_fault(rep, "a:DestinationUnreachable",
		    "unknown ResourceURI");
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(req->action, ops[i].uri) == 0)
			op = ops[i].op;
	if (op == OP_INVOKE) {
		size_t rl = strlen(req->resource);

		if (strncmp(req->action, req->resource, rl) != 0 ||
		    req->action[rl] != '/' || req->action[rl + 1] == '\0') {
			soap_fault(rep, "a:ActionNotSupported",
			    "unknown Action");
			return;
		}
		method = req->action + rl + 1;
	}
	if (who >= 0) {
		uint32_t r = d->x->users[who].realms;

		if (!(r & (1u << REALM_ADMIN)) && !(r & (1u << c->realm))) {
			soap_fault(rep, "c:AccessDenied",
			    "the user lacks the realm for this class");
			return;
		}
	}
	switch (op) {
	case OP_GET:
		simple_get(d, ci, req, rep);
		break;
	case OP_ENUM:
		if (c->list == NULL)
			goto unsupported;
		do_enumerate(d, req, rep, ci);
		break;
	case OP_PULL:
		if (c->list == NULL)
			goto unsupported;
		do_pull(d, req, rep, ci, c->list);
		break;
	case OP_RELEASE:
		snprintf(rep->action, sizeof(rep->action), "%sResponse",
		    req->action);
		break;
	case OP_CREATE:
	case OP_PUT:
		if (strcmp(c->name, "AMT_TLSCredentialContext") == 0)
			put_tlsctx(d, req, rep, op == OP_CREATE);
		else if (op == OP_PUT &&
		    strcmp(c->name, "AMT_TLSSettingData") == 0)
			put_tls(d, req, rep);
		else if (op == OP_PUT &&
		    strcmp(c->name, "AMT_KerberosSettingData") == 0)
			put_kerberos(d, req, rep);
		else
			goto unsupported;
		break;
	case OP_DELETE: {
		const char *id = soap_selector(req, "InstanceID");
		int r = -1;

		if (strcmp(c->name, "AMT_PublicKeyCertificate") == 0)
			r = delete_cert(d, id, rep);
		else if (strcmp(c->name, "AMT_PublicPrivateKeyPair") == 0)
			r = delete_key(d, id, rep);
		else if (strcmp(c->name, "AMT_TLSCredentialContext") == 0) {
			if (d->x == NULL || d->x->ctx_cert < 0)
				soap_fault(rep, "c:InvalidSelectors",
				    "no TLS credential context");
			else if (d->x->tls_active && d->x->pend.enabled)
				soap_fault(rep, "c:InvalidParameter",
				    "TLS is enabled");
			else {
				d->x->ctx_cert = -1;
				r = 0;
			}
		} else
			goto unsupported;
		if (r == 0) {
			rep->changed = 1;
			snprintf(rep->action, sizeof(rep->action),
			    "%sResponse", req->action);
		}
		break;
	}
	case OP_INVOKE:
		invoke(d, c->name, method, over_tls, req, rep);
		break;
	}
	return;
unsupported:
	soap_fault(rep, "a:ActionNotSupported",
	    "operation not supported on this class");
}
