/* SPDX-License-Identifier: MIT */
/* src/daemon/negotiate.c - Negotiate (GSSAPI/SPNEGO, RFC 4559) login to
 * custodyd.
 *
 * custody.yaml auth.negotiate_keytab names the keytab of custody's own
 * HTTP service principal (HTTP/host@REALM). A request whose client
 * certificate maps to no identity and that carries
 * `Authorization: Negotiate TOKEN` is authenticated here: the token is
 * accepted with gss_accept_sec_context() against credentials acquired
 * from that keytab through gss_acquire_cred_from() (a credential store
 * of the call's own: KRB5_KTNAME and the process's default keytab are
 * never used, and no global is set, so workers run it side by side),
 * and the client principal (NAME@REALM) is mapped to the console of the
 * loaded policy whose identity is {kerberos: NAME@REALM}. Only a ticket
 * for an HTTP/ service is a login: every principal of the keytab is an
 * acceptor, and a keytab shared with another service (host/ for ssh, a
 * file server's) would otherwise let an AP-REQ that service's client sent
 * there, seen on its way, log in here as that client within its lifetime
 * (the replay caches are the services' own)
 * (ops_identity_from_kerberos()). The keytab is refused unless a regular
 * file of ours without group or other permissions.
 *
 * Each request is a fresh single-leg exchange: no context is kept across
 * requests (a ticket's authenticator is checked against a replay cache,
 * so the same token twice is refused). The replay cache is named in the
 * same credential store: DIR/negotiate.rcache2 (0600 in the state
 * directory), never krb5's default, which the environment chooses
 * (KRB5RCACHENAME=none: turns replay detection off, KRB5RCACHEDIR moves
 * it) and which otherwise sits in /var/tmp, where any local user can
 * create the file under custody's name first and so refuse every login. A token that does not
 * complete in one leg is refused. The mutual-authentication token GSSAPI
 * gives back goes out in the reply's WWW-Authenticate header.
 *
 * Accepting needs the keytab (a file read) and the replay cache (a file
 * write): it runs on a worker thread, never on the loop (worker.c's
 * light() sends every request with a Negotiate token to the workers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sodium.h>

#include "err.h"
#include "log.h"
#include "ops.h"
#include "state.h"
#include "util.h"
#include "daemon_int.h"

/* The acceptor's replay cache, in the state directory. */
#define NEG_RCACHE	"negotiate.rcache2"

/* Longest token accepted (base64): a ticket with a large PAC fits. */
#define NEG_TOKEN_MAX	12288

/* GSSAPI's message for (major, minor) into buf. */
static void
gss_reason(OM_uint32 major, OM_uint32 minor, char *buf, size_t len)
{
	OM_uint32 min2, ctx = 0;
	gss_buffer_desc m = GSS_C_EMPTY_BUFFER;
	size_t at = 0;
	int type = GSS_C_GSS_CODE;
	OM_uint32 code = major;

	buf[0] = '\0';
	for (;;) {
		if (gss_display_status(&min2, code, type, GSS_C_NO_OID, &ctx,
		    &m) != GSS_S_COMPLETE)
			break;
		if (at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%.*s",
			    at ? ": " : "", (int)m.length,
			    (const char *)m.value);
		gss_release_buffer(&min2, &m);
		if (ctx != 0)
			continue;
		if (type == GSS_C_MECH_CODE || minor == 0)
			break;
		type = GSS_C_MECH_CODE;
		code = minor;
	}
}

int
daemon_negotiate(struct daemon *d, struct cust_state *st,
    struct daemon_req *req, struct ops_identity **out)
{
	const char *kt = d->conf.negotiate_keytab;
	char ktname[1040], rcname[4200], why[512], *name = NULL, *b64 = NULL;
	unsigned char *tok = NULL;
	size_t toklen = 0, tlen = strlen(req->negotiate), b64len;
	gss_key_value_element_desc el[2];
	gss_key_value_set_desc store = { 2, el };
	gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
	gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
	gss_name_t src = GSS_C_NO_NAME, target = GSS_C_NO_NAME;
	gss_buffer_desc in, outtok = GSS_C_EMPTY_BUFFER,
	    dn = GSS_C_EMPTY_BUFFER, tn = GSS_C_EMPTY_BUFFER;
	OM_uint32 major, minor, min2;
	int r;

	*out = NULL;
	if (kt[0] == '\0') {
		log_info("%s: Negotiate login is off (auth.negotiate_keytab): "
		    "the Authorization header is not used", req->peer);
		return CUST_OK;
	}
	if (tlen == 0 || tlen > NEG_TOKEN_MAX) {
		log_info("%s: Negotiate token refused: %s", req->peer,
		    tlen == 0 ? "empty" : "too long");
		return CUST_OK;
	}
	if ((tok = malloc(tlen)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (sodium_base642bin(tok, tlen, req->negotiate, tlen, NULL, &toklen,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || toklen == 0) {
		log_info("%s: Negotiate token refused: not base64", req->peer);
		r = CUST_OK;
		goto out;
	}
	/* The keytab checked on every use: it may be replaced meanwhile. */
	if ((r = util_check_secrecy(kt)) != CUST_OK) {
		log_warnx("auth.negotiate_keytab: %s", cust_errmsg());
		r = CUST_OK;	/* no login, the request is anonymous */
		goto out;
	}
	snprintf(ktname, sizeof(ktname), "FILE:%s", kt);
	if ((size_t)snprintf(rcname, sizeof(rcname), "file2:%s/" NEG_RCACHE,
	    state_dir(st)) >= sizeof(rcname)) {
		r = cust_fail(CUST_E_INTERNAL, "the state directory's path is "
		    "too long");
		goto out;
	}
	el[0].key = "keytab";
	el[0].value = ktname;
	el[1].key = "rcache";
	el[1].value = rcname;
	major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME,
	    GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_ACCEPT, &store, &cred,
	    NULL, NULL);
	if (GSS_ERROR(major)) {
		gss_reason(major, minor, why, sizeof(why));
		log_warnx("auth.negotiate_keytab %s: %s", kt, why);
		r = CUST_OK;
		goto out;
	}
	in.value = tok;
	in.length = toklen;
	major = gss_accept_sec_context(&minor, &ctx, cred, &in,
	    GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &outtok, NULL, NULL, NULL);
	if (major != GSS_S_COMPLETE) {
		if (major == GSS_S_CONTINUE_NEEDED)
			snprintf(why, sizeof(why), "more than one leg "
			    "(custodyd accepts a Kerberos ticket in one)");
		else
			gss_reason(major, minor, why, sizeof(why));
		log_info("%s: Negotiate login refused: %s", req->peer, why);
		r = CUST_OK;
		goto out;
	}
	/* the ticket's service: custody's HTTP one, not another of the
	 * keytab's */
	if (GSS_ERROR(gss_inquire_context(&minor, ctx, NULL, &target, NULL,
	    NULL, NULL, NULL, NULL)) || GSS_ERROR(gss_display_name(&minor,
	    target, &tn, NULL)) || tn.length < 5 ||
	    memcmp(tn.value, "HTTP/", 5) != 0) {
		log_info("%s: Negotiate login refused: the ticket is for "
		    "%.*s, not an HTTP/ service", req->peer,
		    tn.length < 256 ? (int)tn.length : 256,
		    tn.value != NULL ? (const char *)tn.value : "?");
		r = CUST_OK;
		goto out;
	}
	if (GSS_ERROR(gss_display_name(&minor, src, &dn, NULL)) ||
	    (name = strndup(dn.value, dn.length)) == NULL ||
	    strlen(name) != dn.length) {
		log_info("%s: Negotiate login refused: the client's name is "
		    "unreadable", req->peer);
		r = CUST_OK;
		goto out;
	}
	r = ops_identity_from_kerberos(st, name, out);
	if (r == CUST_E_DENIED) {
		log_info("%s: Negotiate login as %s maps to no identity: %s",
		    req->peer, name, cust_errmsg());
		r = CUST_OK;
		goto out;
	}
	if (r != CUST_OK)
		goto out;
	log_debug("%s: Negotiate login as %s", req->peer, name);
	if (outtok.length > 0) {
		b64len = sodium_base64_ENCODED_LEN(outtok.length,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(b64len)) == NULL ||
		    (req->authn_reply = malloc(b64len + 40)) == NULL) {
			ops_identity_free(*out);
			*out = NULL;
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		sodium_bin2base64(b64, b64len, outtok.value, outtok.length,
		    sodium_base64_VARIANT_ORIGINAL);
		snprintf(req->authn_reply, b64len + 40,
		    "WWW-Authenticate: Negotiate %s\r\n", b64);
	}
	r = CUST_OK;
out:
	free(b64);
	free(name);
	(void)gss_release_buffer(&min2, &dn);
	(void)gss_release_buffer(&min2, &tn);
	(void)gss_release_buffer(&min2, &outtok);
	(void)gss_release_name(&min2, &src);
	(void)gss_release_name(&min2, &target);
	if (ctx != GSS_C_NO_CONTEXT)
		(void)gss_delete_sec_context(&min2, &ctx, GSS_C_NO_BUFFER);
	if (cred != GSS_C_NO_CREDENTIAL)
		(void)gss_release_cred(&min2, &cred);
	if (tok != NULL) {
		sodium_memzero(tok, tlen);
		free(tok);
	}
	return r;
}
