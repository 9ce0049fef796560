/* SPDX-License-Identifier: MIT */
/*
 * tests/amtsim/main.c - amtsim: N simulated Intel AMT devices on loopback
 * for custody's tests (README.md in this directory; reference/amt.md).
 *
 * One HTTP port P and one TLS port P+1 serve every device, routed by the
 * Host header (and SNI on TLS), so 10,000 devices need two sockets and a
 * few hundred bytes each until something on them changes. A control port
 * (loopback, no auth) dumps state as JSON and injects faults.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "amtsim.h"

#define DEFAULT_PASSWORD "P@ssw0rd"
#define DEFAULT_VERSION "16.1.27"
#define DEFAULT_BUILD 2176
#define MAX_BODY (256 * 1024)
#define OVERSIZED_BYTES (16 * 1024 * 1024)

struct sim *g_sim;
static SSL_CTX *g_tls_ctx;

static const char *fault_names[] = {
	[SIM_FAULT_NONE] = "none",
	[SIM_FAULT_DROP_AFTER_APPLY] = "drop-after-apply",
	[SIM_FAULT_DELAY] = "delay",
	[SIM_FAULT_HTTP500] = "http500",
	[SIM_FAULT_MALFORMED_XML] = "malformed-xml",
	[SIM_FAULT_OVERSIZED] = "oversized",
	[SIM_FAULT_ENTITY_EXPANSION] = "entity-expansion",
	[SIM_FAULT_DOCTYPE] = "doctype",
	[SIM_FAULT_WRONG_RELATESTO] = "wrong-relatesto",
	[SIM_FAULT_DOWN] = "down",
	[SIM_FAULT_ACCEPT_ANY] = "accept-any",
	[SIM_FAULT_BODY_REALM] = "body-realm",
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: amtsim --port P [--count N | --devices FILE.json] [options]\n"
"Simulates Intel AMT devices (WS-Management over HTTP digest and TLS) on\n"
"loopback for custody's tests. See tests/amtsim/README.md.\n"
"\n"
"  --port P             HTTP port for every device; TLS is P+1 (0: pick)\n"
"  --host ADDR          listen address: 127.0.0.1 (default) or ::1\n"
"  --count N            N devices dev00000.amtsim.test ... (default 1)\n"
"  --first I            with --count: the first is devI (a slice of a\n"
"                       larger fleet; realms as in the whole fleet)\n"
"  --devices FILE.json  devices listed in FILE (README.md) instead\n"
"  --seed S             seed for the default DigestRealms (default 1)\n"
"  --control-port C     control API port (0: pick; default: none)\n"
"  --ready-file F       written (port=, tls_port=, control_port=) once\n"
"                       listening\n"
"  --nonce-lifetime S   digest nonce lifetime in seconds (default 300)\n"
"  --accept-hex-digest  also accept a 32-hex DigestPassword (legacy)\n"
"  --tls-cert F --tls-key F  every device starts with TLS committed,\n"
"                       serving this certificate (PEM; leaf, then chain)\n"
"  --tls-dir D --tls-key F  the same, each device serving D/FQDN.crt\n"
"  --no-tls-resume      full TLS handshakes only (no session resumption)\n"
"  --alias NAME=FQDN    Host/SNI NAME reaches device FQDN (a port\n"
"                       forwarding to another machine; repeatable, 16)\n"
"  --verbose, -v        one line per WS-Man call on stderr (device, user,\n"
"                       Action, HTTP status, fault; never parameters)\n"
"  --help               this text\n"
"Default admin account: admin / " DEFAULT_PASSWORD ".\n");
}

/* ------------------------------------------------------------------ */
/* Devices */

static int
dev_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct sim_dev *)a)->fqdn,
	    ((const struct sim_dev *)b)->fqdn);
}

/* The device named by a Host header or SNI value ("name[:port]"). */
struct sim_dev *
sim_find(const char *host, size_t len)
{
	struct sim_dev key;
	char name[256];
	const char *colon = memchr(host, ':', len);

	if (host[0] == '[')
		return NULL;
	if (colon != NULL)
		len = (size_t)(colon - host);
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(name))
		return NULL;
	memcpy(name, host, len);
	name[len] = '\0';
	key.fqdn = name;
	for (int i = 0; i < g_sim->naliases; i++)
		if (strcasecmp(name, g_sim->alias_name[i]) == 0) {
			snprintf(name, sizeof(name), "%s", g_sim->alias_dev[i]);
			break;
		}
	return bsearch(&key, g_sim->devs, (size_t)g_sim->ndevs,
	    sizeof(g_sim->devs[0]), dev_cmp);
}

static int
realm_ok(const char *r)
{
	if (strlen(r) != 39 || strncmp(r, "Digest:", 7) != 0)
		return 0;
	for (int i = 7; i < 39; i++)
		if (!((r[i] >= '0' && r[i] <= '9') ||
		    (r[i] >= 'A' && r[i] <= 'F')))
			return 0;
	return 1;
}

/* Default realm: "Digest:" + uppercase hex of MD5(seed/index). */
static void
default_realm(long seed, int idx, char out[40])
{
	unsigned char md[16];
	char msg[64];
	unsigned int len = 0;

	snprintf(msg, sizeof(msg), "amtsim/%ld/%d", seed, idx);
	EVP_Digest(msg, strlen(msg), md, &len, EVP_md5(), NULL);
	memcpy(out, "Digest:", 7);
	for (int i = 0; i < 16; i++)
		snprintf(out + 7 + 2 * i, 3, "%02X", md[i]);
}

static void
dev_defaults(struct sim_dev *d, long seed, int idx)
{
	memset(d, 0, sizeof(*d));
	d->index = idx;
	default_realm(seed, idx, d->realm);
	snprintf(d->admin_user, sizeof(d->admin_user), "admin");
	snprintf(d->version, sizeof(d->version), DEFAULT_VERSION);
	d->build = DEFAULT_BUILD;
	d->control_mode = 2;
	d->mebx_policy = SIM_MEBX_ANYTIME;
	d->nonsecure_supported = 1;
}

static const char *
jstr(json_t *o, const char *k, const char *def)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : def;
}

/*
 * --devices FILE.json: an array of objects (README.md "Devices file").
 * Returns 0, or -1 after saying what is wrong.
 */
static int
load_devices(const char *path, long seed)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr), *o;
	size_t i;
	int r = -1;

	if (root == NULL) {
		fprintf(stderr, "amtsim: %s:%d: %s\n", path, jerr.line,
		    jerr.text);
		return -1;
	}
	if (json_is_object(root) && json_is_array(json_object_get(root,
	    "devices")))
		o = json_object_get(root, "devices");
	else
		o = root;
	if (!json_is_array(o) || json_array_size(o) == 0) {
		fprintf(stderr, "amtsim: %s: expected an array of devices\n",
		    path);
		goto out;
	}
	g_sim->ndevs = (int)json_array_size(o);
	g_sim->devs = calloc((size_t)g_sim->ndevs, sizeof(*g_sim->devs));
	if (g_sim->devs == NULL)
		goto out;
	for (i = 0; i < json_array_size(o); i++) {
		json_t *e = json_array_get(o, i);
		struct sim_dev *d = &g_sim->devs[i];
		const char *fqdn = jstr(e, "fqdn", NULL);
		const char *realm = jstr(e, "realm", NULL);
		const char *user = jstr(e, "admin_user", "admin");
		const char *pw = jstr(e, "admin_password", DEFAULT_PASSWORD);
		const char *cm = jstr(e, "control_mode", "acm");
		const char *mp = jstr(e, "mebx_policy", "anytime");

		dev_defaults(d, seed, (int)i);
		if (fqdn == NULL || strlen(fqdn) > 255 || fqdn[0] == '\0') {
			fprintf(stderr, "amtsim: %s: device %zu: fqdn\n", path,
			    i);
			goto out;
		}
		d->fqdn = strdup(fqdn);
		if (realm != NULL) {
			if (!realm_ok(realm)) {
				fprintf(stderr, "amtsim: %s: %s: realm must be "
				    "Digest: and 32 uppercase hex\n", path,
				    fqdn);
				goto out;
			}
			snprintf(d->realm, sizeof(d->realm), "%s", realm);
		}
		if (!sim_username_ok(user)) {
			fprintf(stderr, "amtsim: %s: %s: admin_user\n", path,
			    fqdn);
			goto out;
		}
		snprintf(d->admin_user, sizeof(d->admin_user), "%s", user);
		snprintf(d->version, sizeof(d->version), "%s",
		    jstr(e, "amt_version", DEFAULT_VERSION));
		if (json_is_integer(json_object_get(e, "build")))
			d->build = (int)json_integer_value(json_object_get(e,
			    "build"));
		d->control_mode = strcmp(cm, "ccm") == 0 ? 1 : 2;
		d->mebx_policy = strcmp(mp, "default-only") == 0 ?
		    SIM_MEBX_DEFAULT_ONLY : strcmp(mp, "during-setup") == 0 ?
		    SIM_MEBX_DURING_SETUP : SIM_MEBX_ANYTIME;
		if (json_is_integer(json_object_get(e, "clock_offset")))
			d->clock_offset = (long)json_integer_value(
			    json_object_get(e, "clock_offset"));
		if (strcmp(jstr(e, "time_sync", "ok"), "refuse") == 0)
			d->time_sync = SIM_TIME_REFUSE;
		else if (strcmp(jstr(e, "time_sync", "ok"), "ignore") == 0)
			d->time_sync = SIM_TIME_IGNORE;
		if (json_is_false(json_object_get(e, "nonsecure_supported")))
			d->nonsecure_supported = 0;
		sim_ha1(d->admin_user, d->realm, pw, d->admin_ha1);
		if (json_is_true(json_object_get(e, "system_accounts"))) {
			struct sim_user *u = sim_user_add(d);

			/* §1: $$uns, realm 16, AccessPermission 0. */
			if (u == NULL)
				goto out;
			u->handle = d->x->next_handle++;
			snprintf(u->name, sizeof(u->name), "$$uns");
			u->realms = 1u << 16;
			u->enabled = 1;
		}
		if (jstr(e, "tls_cert", NULL) != NULL &&
		    pki_load_default_tls(d, jstr(e, "tls_cert", NULL),
		    jstr(e, "tls_key", "")) < 0) {
			fprintf(stderr, "amtsim: %s: %s: cannot load tls_cert "
			    "and tls_key\n", path, fqdn);
			goto out;
		}
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

static int
make_devices(int count, long first, long seed)
{
	char name[64];

	g_sim->ndevs = count;
	g_sim->devs = calloc((size_t)count, sizeof(*g_sim->devs));
	if (g_sim->devs == NULL)
		return -1;
	for (int i = 0; i < count; i++) {
		struct sim_dev *d = &g_sim->devs[i];

		dev_defaults(d, seed, (int)first + i);
		snprintf(name, sizeof(name), "dev%05ld.amtsim.test",
		    first + i);
		d->fqdn = strdup(name);
		if (d->fqdn == NULL)
			return -1;
		sim_ha1(d->admin_user, d->realm, DEFAULT_PASSWORD,
		    d->admin_ha1);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* WS-Man over HTTP and TLS */

struct port_ctx {
	int tls;
};

static void
add_common_headers(struct evhttp_request *req, struct sim_dev *d)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char server[96];

	snprintf(server, sizeof(server),
	    "Intel(R) Active Management Technology %s.%d",
	    d != NULL ? d->version : DEFAULT_VERSION,
	    d != NULL ? d->build : DEFAULT_BUILD);
	evhttp_add_header(h, "Server", server);
}

/* Closes the connection without an answer: the peer sees EOF. */
static void
drop(struct evhttp_request *req, struct sim_dev *d)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon == NULL ? NULL :
	    evhttp_connection_get_bufferevent(evcon);
	evutil_socket_t fd = bev == NULL ? -1 : bufferevent_getfd(bev);

	if (d != NULL)
		d->n_drops++;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	/* The write fails on the shut socket; evhttp then frees both. */
	evhttp_send_reply(req, 500, "Dropped", NULL);
}

static void
challenge(struct evhttp_request *req, struct sim_dev *d, int stale)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char nonce[64], v[256];

	d->n_challenges++;
	if (stale)
		d->n_stale++;
	sim_nonce_new(d, nonce, sizeof(nonce));
	/* §3: the shape of a real AMT 11.8 challenge. */
	snprintf(v, sizeof(v), "Digest realm=\"%s\", nonce=\"%s\",stale=\"%s\","
	    "qop=\"auth\"", d->realm, nonce, stale ? "true" : "false");
	add_common_headers(req, d);
	evhttp_add_header(h, "WWW-Authenticate", v);
	evhttp_add_header(h, "Content-Type", "text/html");
	evhttp_add_header(h, "Connection", "close");
	evhttp_send_reply(req, 401, "Unauthorized", NULL);
}

static void
plain(struct evhttp_request *req, struct sim_dev *d, int code,
    const char *reason)
{
	struct evbuffer *b = evbuffer_new();

	add_common_headers(req, d);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	if (b != NULL)
		evbuffer_add_printf(b, "%s\n", reason);
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
}

/* The device's DigestRealm in the reply (a Get of AMT_GeneralSettings)
 * rewritten as a man in the middle on plain HTTP can: another valid
 * realm, its last hex digit changed; the login's realm is untouched. */
static void
body_realm(const struct sim_dev *d, struct evbuffer *env)
{
	size_t len = evbuffer_get_length(env), rl = strlen(d->realm);
	char *s = (char *)evbuffer_pullup(env, -1), *at;

	if (s == NULL || rl == 0 ||
	    (at = memmem(s, len, d->realm, rl)) == NULL)
		return;
	at[rl - 1] = at[rl - 1] == '0' ? '1' : '0';
}

/* The reply replaced by hostile content (README.md "Faults"). */
static struct evbuffer *
hostile(int kind, struct evbuffer *env)
{
	size_t len = evbuffer_get_length(env);
	char *s = (char *)evbuffer_pullup(env, -1);
	struct evbuffer *b = evbuffer_new();
	const char *decl_end, *body;

	if (b == NULL || s == NULL)
		return b;
	decl_end = strstr(s, "?>");
	body = strstr(s, "<a:Body>");
	if (decl_end == NULL || body == NULL) {
		evbuffer_add(b, s, len);
		return b;
	}
	decl_end += 2;
	body += strlen("<a:Body>");
	switch (kind) {
	case SIM_FAULT_MALFORMED_XML:
		/* Cut mid-document, then a stray end tag. */
		evbuffer_add(b, s, (size_t)(body - s));
		evbuffer_add_printf(b, "<g:Broken attr=\"x></g:Oops>&");
		break;
	case SIM_FAULT_OVERSIZED: {
		char *pad = malloc(OVERSIZED_BYTES);

		evbuffer_add(b, s, (size_t)(decl_end - s));
		evbuffer_add_printf(b, "<!-- ");
		if (pad != NULL) {
			memset(pad, 'x', OVERSIZED_BYTES);
			evbuffer_add(b, pad, OVERSIZED_BYTES);
			free(pad);
		}
		evbuffer_add_printf(b, " -->");
		evbuffer_add(b, decl_end, len - (size_t)(decl_end - s));
		break;
	}
	case SIM_FAULT_ENTITY_EXPANSION:
		evbuffer_add(b, s, (size_t)(decl_end - s));
		evbuffer_add_printf(b, "<!DOCTYPE a:Envelope [<!ENTITY l0 "
		    "\"lol\">");
		for (int i = 1; i < 10; i++) {
			evbuffer_add_printf(b, "<!ENTITY l%d \"", i);
			for (int j = 0; j < 10; j++)
				evbuffer_add_printf(b, "&l%d;", i - 1);
			evbuffer_add_printf(b, "\">");
		}
		evbuffer_add_printf(b, "]>");
		evbuffer_add(b, decl_end, (size_t)(body - decl_end));
		evbuffer_add_printf(b, "<g:Lol>&l9;</g:Lol>");
		evbuffer_add(b, body, len - (size_t)(body - s));
		break;
	case SIM_FAULT_DOCTYPE:
		evbuffer_add(b, s, (size_t)(decl_end - s));
		evbuffer_add_printf(b, "<!DOCTYPE a:Envelope [<!ENTITY xxe "
		    "SYSTEM \"file:///etc/passwd\">]>");
		evbuffer_add(b, decl_end, (size_t)(body - decl_end));
		evbuffer_add_printf(b, "<g:Xxe>&xxe;</g:Xxe>");
		evbuffer_add(b, body, len - (size_t)(body - s));
		break;
	default:
		evbuffer_add(b, s, len);
		break;
	}
	return b;
}

struct delayed {
	struct evhttp_request *req;
	struct sim_dev *d;
	int status;
	struct evbuffer *body;
};

static void
send_soap(struct evhttp_request *req, struct sim_dev *d, int status,
    struct evbuffer *body)
{
	add_common_headers(req, d);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/soap+xml; charset=UTF-8");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Bad Request",
	    body);
}

static void
delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *dl = arg;

	(void)fd;
	(void)what;
	send_soap(dl->req, dl->d, dl->status, dl->body);
	evbuffer_free(dl->body);
	free(dl);
}

/* Takes one use of the device's fault, if it has one. */
static int
take_fault(struct sim_dev *d, long *ms_out)
{
	int kind = d->fault;

	*ms_out = d->fault_ms;
	if (kind == SIM_FAULT_NONE || d->fault_count == 0)
		return SIM_FAULT_NONE;
	if (d->fault_skip > 0) {
		d->fault_skip--;
		return SIM_FAULT_NONE;
	}
	if (d->fault_count > 0 && --d->fault_count == 0)
		d->fault = SIM_FAULT_NONE;
	d->n_faults++;
	return kind;
}

static void
wsman_cb(struct evhttp_request *req, void *arg)
{
	struct port_ctx *pc = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *host = evhttp_find_header(in, "Host");
	const char *sni = NULL;
	struct evbuffer *inbuf = evhttp_request_get_input_buffer(req);
	struct sim_dev *d;
	struct soap_req sreq;
	struct soap_reply rep;
	struct evbuffer *env = NULL, *out = NULL;
	const char *why, *uri = evhttp_request_get_uri(req);
	int who, ar, kind;
	long ms = 0;
	char wrong[160];

	if (pc->tls) {
		struct evhttp_connection *evcon =
		    evhttp_request_get_connection(req);
		SSL *ssl = bufferevent_openssl_get_ssl(
		    evhttp_connection_get_bufferevent(evcon));

		sni = ssl == NULL ? NULL : SSL_get_servername(ssl,
		    TLSEXT_NAMETYPE_host_name);
	}
	if (host == NULL || (d = sim_find(host, strlen(host))) == NULL) {
		plain(req, NULL, 404, "Unknown host");
		return;
	}
	if (pc->tls && (sni == NULL || sim_find(sni, strlen(sni)) != d)) {
		plain(req, d, 421, "Host does not match the TLS server name");
		return;
	}
	d->n_requests++;
	if (d->down_count != 0) {
		if (d->down_count > 0)
			d->down_count--;
		drop(req, d);
		return;
	}
	/* §6: with TLS on and AcceptNonSecureConnections false, 16992 is
	 * closed for this device. */
	if (!pc->tls && d->x != NULL && d->x->tls_active &&
	    !d->x->tls.accept_nonsecure) {
		drop(req, d);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST ||
	    uri == NULL || strcmp(uri, "/wsman") != 0) {
		plain(req, d, 404, "Not Found");
		return;
	}
	ar = sim_digest_check(d, evhttp_find_header(in, "Authorization"),
	    "POST", &who);
	if (ar != 0) {
		if (ar < 0 && evhttp_find_header(in, "Authorization") != NULL)
			d->n_auth_fail++;
		challenge(req, d, ar > 0);
		return;
	}
	kind = take_fault(d, &ms);
	if (kind == SIM_FAULT_HTTP500) {
		plain(req, d, 500, "Internal Server Error");
		return;
	}
	memset(&rep, 0, sizeof(rep));
	rep.status = 200;
	rep.body = evbuffer_new();
	if (rep.body == NULL) {
		plain(req, d, 500, "Internal Server Error");
		return;
	}
	if (soap_parse((const char *)evbuffer_pullup(inbuf, -1),
	    evbuffer_get_length(inbuf), &sreq, &why) < 0) {
		soap_fault(&rep, "c:SchemaValidationError", why);
		env = soap_envelope(&rep, sreq.message_id != NULL ?
		    sreq.message_id : "", NULL);
	} else {
		const char *relates = sreq.message_id;
		char user[sizeof(d->admin_user)];

		/* before the call: it may remove the caller's own entry */
		snprintf(user, sizeof(user), "%s", who < 0 ? d->admin_user :
		    d->x->users[who].name);
		sim_dispatch(d, who, pc->tls, &sreq, &rep);
		if (kind == SIM_FAULT_WRONG_RELATESTO) {
			snprintf(wrong, sizeof(wrong), "%s0", relates);
			relates = wrong;
		}
		env = soap_envelope(&rep, relates, rep.status == 200 ?
		    sreq.resource : NULL);
		/* Action and outcome only: never a parameter (secrets). */
		if (g_sim->verbose)
			fprintf(stderr, "amtsim: %s %s%s %s -> %d%s%s%s\n",
			    d->fqdn, pc->tls ? "tls " : "", user, sreq.action,
			    rep.status, rep.changed ? " changed" : "",
			    kind != SIM_FAULT_NONE ? " fault " : "",
			    kind != SIM_FAULT_NONE ? fault_names[kind] : "");
	}
	soap_req_free(&sreq);
	evbuffer_free(rep.body);
	if (env == NULL) {
		plain(req, d, 500, "Internal Server Error");
		return;
	}
	switch (kind) {
	case SIM_FAULT_DROP_AFTER_APPLY:
		drop(req, d);
		break;
	case SIM_FAULT_DELAY: {
		struct delayed *dl = calloc(1, sizeof(*dl));
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		if (dl == NULL)
			break;
		dl->req = req;
		dl->d = d;
		dl->status = rep.status;
		dl->body = env;
		env = NULL;
		event_base_once(g_sim->base, -1, EV_TIMEOUT, delayed_cb, dl,
		    &tv);
		break;
	}
	case SIM_FAULT_BODY_REALM:
		body_realm(d, env);
		send_soap(req, d, rep.status, env);
		break;
	case SIM_FAULT_MALFORMED_XML:
	case SIM_FAULT_OVERSIZED:
	case SIM_FAULT_ENTITY_EXPANSION:
	case SIM_FAULT_DOCTYPE:
		out = hostile(kind, env);
		send_soap(req, d, rep.status, out);
		break;
	default:
		send_soap(req, d, rep.status, env);
		break;
	}
	if (out != NULL)
		evbuffer_free(out);
	if (env != NULL)
		evbuffer_free(env);
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(g_tls_ctx);

	(void)arg;
	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* ------------------------------------------------------------------ */
/* Control API */

static json_t *
hex_json(const unsigned char *p, size_t n)
{
	char buf[129];

	for (size_t i = 0; i < n && i < 64; i++)
		snprintf(buf + 2 * i, 3, "%02x", p[i]);
	buf[2 * (n < 64 ? n : 64)] = '\0';
	return json_string(buf);
}

static json_t *
tls_json(const struct sim_tls_settings *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "enabled", json_boolean(s->enabled));
	json_object_set_new(o, "mutual_auth", json_boolean(s->mutual));
	json_object_set_new(o, "accept_nonsecure",
	    json_boolean(s->accept_nonsecure));
	return o;
}

static json_t *
dev_json(struct sim_dev *d)
{
	json_t *o = json_object(), *a, *users = json_array(),
	    *keys = json_array(), *certs = json_array(), *tls, *st, *f;
	struct sim_devx *x = d->x;
	char buf[512];

	json_object_set_new(o, "fqdn", json_string(d->fqdn));
	json_object_set_new(o, "realm", json_string(d->realm));
	json_object_set_new(o, "amt_version", json_string(d->version));
	json_object_set_new(o, "build", json_integer(d->build));
	json_object_set_new(o, "control_mode",
	    json_string(d->control_mode == 1 ? "ccm" : "acm"));
	a = json_object();
	json_object_set_new(a, "username", json_string(d->admin_user));
	json_object_set_new(a, "ha1", hex_json(d->admin_ha1, 16));
	json_object_set_new(a, "is_default", json_boolean(!d->admin_changed));
	json_object_set_new(o, "admin", a);
	for (int i = 0; x != NULL && i < x->nusers; i++) {
		struct sim_user *u = &x->users[i];
		json_t *uo = json_object(), *rl = json_array();

		json_object_set_new(uo, "handle", json_integer(u->handle));
		if (u->sid_len != 0) {
			char *s = sim_b64_encode(u->sid, u->sid_len);

			json_object_set_new(uo, "kerberos_sid",
			    json_string(s != NULL ? s : ""));
			free(s);
		} else {
			json_object_set_new(uo, "username",
			    json_string(u->name));
			json_object_set_new(uo, "ha1", hex_json(u->ha1, 16));
		}
		json_object_set_new(uo, "access", json_integer(u->access));
		for (int r = 0; r < 32; r++)
			if (u->realms & (1u << r))
				json_array_append_new(rl, json_integer(r));
		json_object_set_new(uo, "realms", rl);
		json_object_set_new(uo, "enabled", json_boolean(u->enabled));
		json_array_append_new(users, uo);
	}
	json_object_set_new(o, "users", users);
	for (int i = 0; x != NULL && i < x->nkeys; i++) {
		json_t *ko = json_object();
		char *der = pki_spki_b64(x->keys[i].pkey);

		json_object_set_new(ko, "handle",
		    json_integer(x->keys[i].handle));
		snprintf(buf, sizeof(buf), "Intel(r) AMT Key: Handle: %d",
		    x->keys[i].handle);
		json_object_set_new(ko, "instance_id", json_string(buf));
		json_object_set_new(ko, "der_key", json_string(der != NULL ?
		    der : ""));
		free(der);
		json_array_append_new(keys, ko);
	}
	json_object_set_new(o, "keys", keys);
	for (int i = 0; x != NULL && i < x->ncerts; i++) {
		struct sim_cert *c = &x->certs[i];
		json_t *co = json_object();
		char fp[65];

		json_object_set_new(co, "handle", json_integer(c->handle));
		snprintf(buf, sizeof(buf), "Intel(r) AMT Certificate: Handle: "
		    "%d", c->handle);
		json_object_set_new(co, "instance_id", json_string(buf));
		pki_name(X509_get_subject_name(c->x509), buf, sizeof(buf));
		json_object_set_new(co, "subject", json_string(buf));
		pki_name(X509_get_issuer_name(c->x509), buf, sizeof(buf));
		json_object_set_new(co, "issuer", json_string(buf));
		pki_sha256_hex(c->x509, fp);
		json_object_set_new(co, "sha256", json_string(fp));
		json_object_set_new(co, "trusted_root",
		    json_boolean(c->trusted_root));
		json_object_set_new(co, "key_handle",
		    json_integer(c->key_handle));
		json_array_append_new(certs, co);
	}
	json_object_set_new(o, "certificates", certs);
	tls = json_object();
	json_object_set_new(tls, "active", json_boolean(x != NULL &&
	    x->tls_active));
	if (x != NULL && x->tls_active && x->tls_x509 != NULL) {
		char fp[65];

		pki_sha256_hex(x->tls_x509, fp);
		json_object_set_new(tls, "cert_sha256", json_string(fp));
	}
	json_object_set_new(tls, "cert_handle", json_integer(x == NULL ? -1 :
	    x->tls_cert_handle));
	json_object_set_new(tls, "context_cert_handle",
	    json_integer(x == NULL ? -1 : x->ctx_cert));
	if (x != NULL) {
		json_object_set_new(tls, "committed", tls_json(&x->tls));
		json_object_set_new(tls, "pending", tls_json(&x->pend));
		json_object_set_new(tls, "uncommitted",
		    json_boolean(x->pend_set));
		a = json_array();
		for (int i = 0; i < x->ntrusted_cn; i++)
			json_array_append_new(a, json_string(x->trusted_cn[i]));
		json_object_set_new(tls, "trusted_cn", a);
	}
	json_object_set_new(o, "tls", tls);
	json_object_set_new(o, "clock", json_integer((json_int_t)
	    sim_dev_clock(d)));
	json_object_set_new(o, "clock_offset", json_integer(d->clock_offset));
	json_object_set_new(o, "time_set_seq",
	    json_integer((json_int_t)d->time_set_seq));
	a = json_object();
	json_object_set_new(a, "set", json_boolean(x != NULL && x->mebx_set));
	if (x != NULL && x->mebx_set)
		json_object_set_new(a, "sha256", hex_json(x->mebx_sha256, 32));
	json_object_set_new(a, "policy", json_string(d->mebx_policy ==
	    SIM_MEBX_ANYTIME ? "anytime" : d->mebx_policy ==
	    SIM_MEBX_DEFAULT_ONLY ? "default-only" : "during-setup"));
	json_object_set_new(o, "mebx", a);
	if (x != NULL) {
		a = json_object();
		json_object_set_new(a, "realm_name",
		    json_string(x->krb.realm_name));
		json_object_set_new(a, "enabled",
		    json_boolean(x->krb.krb_enabled));
		json_object_set_new(a, "key_version",
		    json_integer(x->krb.key_version));
		json_object_set_new(a, "max_clock_tolerance",
		    json_integer(x->krb.max_clock_tolerance));
		if (x->krb.has_master_key || x->krb.has_passphrase) {
			char *mk = sim_b64_encode(x->krb.rc4_key, 16);

			json_object_set_new(a, "master_key",
			    json_string(mk != NULL ? mk : ""));
			free(mk);
			json_object_set_new(a, "key_from", json_string(
			    x->krb.has_master_key ? "MasterKey" :
			    "Passphrase"));
		}
		if (x->krb.has_passphrase) {
			json_object_set_new(a, "passphrase",
			    json_string(x->krb.passphrase));
			json_object_set_new(a, "salt",
			    json_string(x->krb.salt));
			json_object_set_new(a, "iteration_count",
			    json_integer(x->krb.iterations));
		}
		json_t *algs = json_array();
		for (int k = 0; k < 3; k++)
			if (x->krb.configured_algs & (1u << k))
				json_array_append_new(algs, json_integer(k));
		json_object_set_new(a, "configured_algorithms", algs);
		json_object_set_new(a, "put_seq",
		    json_integer((json_int_t)x->krb.put_seq));
		json_object_set_new(a, "put_clock_skew",
		    json_integer(x->krb.put_clock_skew));
		json_object_set_new(o, "kerberos", a);
	}
	json_object_set_new(o, "acl_epoch", json_integer(d->acl_epoch));
	f = json_object();
	json_object_set_new(f, "kind", json_string(fault_names[d->fault]));
	json_object_set_new(f, "count", json_integer(d->fault_count));
	json_object_set_new(f, "ms", json_integer(d->fault_ms));
	json_object_set_new(o, "fault", f);
	json_object_set_new(o, "down", json_integer(d->down_count));
	st = json_object();
	json_object_set_new(st, "requests", json_integer((json_int_t)
	    d->n_requests));
	json_object_set_new(st, "challenges", json_integer((json_int_t)
	    d->n_challenges));
	json_object_set_new(st, "auth_failures", json_integer((json_int_t)
	    d->n_auth_fail));
	json_object_set_new(st, "stale", json_integer((json_int_t)
	    d->n_stale));
	json_object_set_new(st, "drops", json_integer((json_int_t)
	    d->n_drops));
	json_object_set_new(st, "faults", json_integer((json_int_t)
	    d->n_faults));
	json_object_set_new(st, "tls_handshakes", json_integer((json_int_t)
	    d->n_tls_handshakes));
	json_object_set_new(st, "tls_full_handshakes", json_integer(
	    (json_int_t)d->n_tls_full));
	json_object_set_new(st, "replays", json_integer((json_int_t)
	    d->n_replays));
	json_object_set_new(o, "stats", st);
	return o;
}

static void
json_reply(struct evhttp_request *req, int code, json_t *j)
{
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(j, JSON_COMPACT);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	if (b != NULL && s != NULL) {
		evbuffer_add(b, s, strlen(s));
		evbuffer_add(b, "\n", 1);
	}
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	free(s);
	json_decref(j);
	if (b != NULL)
		evbuffer_free(b);
}

static void
json_error(struct evhttp_request *req, int code, const char *msg)
{
	json_reply(req, code, json_pack("{ss}", "error", msg));
}

static void
control_state(struct evhttp_request *req)
{
	struct evkeyvalq q;
	const char *dev;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	struct evbuffer *b;

	memset(&q, 0, sizeof(q));
	q.tqh_last = &q.tqh_first;
	if (evhttp_uri_get_query(u) != NULL)
		evhttp_parse_query_str(evhttp_uri_get_query(u), &q);
	dev = evhttp_find_header(&q, "device");
	if (dev != NULL) {
		struct sim_dev *d = sim_find(dev, strlen(dev));

		if (d == NULL)
			json_error(req, 404, "no such device");
		else
			json_reply(req, 200, dev_json(d));
		evhttp_clear_headers(&q);
		return;
	}
	evhttp_clear_headers(&q);
	/* One device at a time: 10,000 devices never sit in one tree. */
	if ((b = evbuffer_new()) == NULL) {
		json_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add_printf(b, "{\"devices\":[");
	for (int i = 0; i < g_sim->ndevs; i++) {
		json_t *j = dev_json(&g_sim->devs[i]);
		char *s = json_dumps(j, JSON_COMPACT);

		if (s != NULL)
			evbuffer_add_printf(b, "%s%s", i > 0 ? "," : "", s);
		free(s);
		json_decref(j);
	}
	evbuffer_add_printf(b, "]}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static json_t *
body_json(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	json_error_t err;

	return json_loadb((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0, &err);
}

/* POST /fault {"device": FQDN or "*", "fault": NAME, "count": n, "ms": t,
 * "skip": s} */
static void
control_fault(struct evhttp_request *req)
{
	json_t *j = body_json(req);
	const char *dev = j == NULL ? NULL : jstr(j, "device", NULL);
	const char *name = j == NULL ? NULL : jstr(j, "fault", NULL);
	json_t *cnt = j == NULL ? NULL : json_object_get(j, "count");
	json_t *msj = j == NULL ? NULL : json_object_get(j, "ms");
	json_t *skj = j == NULL ? NULL : json_object_get(j, "skip");
	int kind = -1, lo = 0, hi = g_sim->ndevs;
	long count;

	if (dev == NULL || name == NULL) {
		json_error(req, 400, "need device and fault");
		goto out;
	}
	for (int k = 0; k < (int)(sizeof(fault_names) /
	    sizeof(fault_names[0])); k++)
		if (strcmp(name, fault_names[k]) == 0)
			kind = k;
	if (strcmp(name, "clear") == 0 || strcmp(name, "up") == 0)
		kind = SIM_FAULT_NONE;
	if (kind < 0) {
		json_error(req, 400, "unknown fault");
		goto out;
	}
	count = kind == SIM_FAULT_DOWN ? -1 : 1;
	if (cnt != NULL && (!json_is_integer(cnt) ||
	    json_integer_value(cnt) < -1)) {
		json_error(req, 400, "count is an integer >= -1");
		goto out;
	}
	if (cnt != NULL)
		count = (long)json_integer_value(cnt);
	if (msj != NULL && (!json_is_integer(msj) ||
	    json_integer_value(msj) < 0 ||
	    json_integer_value(msj) > 600000)) {
		json_error(req, 400, "ms is 0-600000");
		goto out;
	}
	if (skj != NULL && (!json_is_integer(skj) ||
	    json_integer_value(skj) < 0 || json_integer_value(skj) > 1000)) {
		json_error(req, 400, "skip is 0-1000");
		goto out;
	}
	if (strcmp(dev, "*") != 0) {
		struct sim_dev *d = sim_find(dev, strlen(dev));

		if (d == NULL) {
			json_error(req, 404, "no such device");
			goto out;
		}
		lo = (int)(d - g_sim->devs);
		hi = lo + 1;
	}
	for (int i = lo; i < hi; i++) {
		struct sim_dev *d = &g_sim->devs[i];

		if (kind == SIM_FAULT_DOWN) {
			d->down_count = count;
		} else if (kind == SIM_FAULT_NONE) {
			d->fault = SIM_FAULT_NONE;
			d->fault_count = 0;
			d->fault_skip = 0;
			if (strcmp(name, "clear") == 0 ||
			    strcmp(name, "up") == 0)
				d->down_count = 0;
		} else {
			d->fault = count == 0 ? SIM_FAULT_NONE : kind;
			d->fault_count = count;
			d->fault_ms = msj == NULL ? 0 :
			    (long)json_integer_value(msj);
			d->fault_skip = skj == NULL ? 0 :
			    (long)json_integer_value(skj);
		}
	}
	json_reply(req, 200, json_pack("{sb}", "ok", 1));
out:
	json_decref(j);
}

/* POST /clock {"device": FQDN, "offset": seconds} */
static void
control_clock(struct evhttp_request *req)
{
	json_t *j = body_json(req);
	const char *dev = j == NULL ? NULL : jstr(j, "device", NULL);
	json_t *off = j == NULL ? NULL : json_object_get(j, "offset");
	struct sim_dev *d = dev == NULL ? NULL : sim_find(dev, strlen(dev));

	if (d == NULL || !json_is_integer(off))
		json_error(req, 400, "need a known device and an integer offset");
	else {
		d->clock_offset = (long)json_integer_value(off);
		json_reply(req, 200, json_pack("{sb}", "ok", 1));
	}
	json_decref(j);
}

static void
control_cb(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(
	    evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	(void)arg;
	if (path == NULL)
		json_error(req, 404, "not found");
	else if (strcmp(path, "/state") == 0 && cmd == EVHTTP_REQ_GET)
		control_state(req);
	else if (strcmp(path, "/fault") == 0 && cmd == EVHTTP_REQ_POST)
		control_fault(req);
	else if (strcmp(path, "/clock") == 0 && cmd == EVHTTP_REQ_POST)
		control_clock(req);
	else
		json_error(req, 404, "not found");
}

/* ------------------------------------------------------------------ */

static int
bound_port(struct evhttp_bound_socket *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss,
	    &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int
parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || *out < lo ||
	    *out > hi ? -1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "count", required_argument, NULL, 'n' },
		{ "first", required_argument, NULL, 'f' },
		{ "devices", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "control-port", required_argument, NULL, 'c' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "nonce-lifetime", required_argument, NULL, 'l' },
		{ "accept-hex-digest", no_argument, NULL, 'x' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-dir", required_argument, NULL, 'D' },
		{ "no-tls-resume", no_argument, NULL, 'R' },
		{ "alias", required_argument, NULL, 'A' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sim sim;
	static struct port_ctx http_pc = { 0 }, tls_pc = { 1 };
	struct evhttp *http = NULL, *https = NULL, *ctl = NULL;
	struct evhttp_bound_socket *hs = NULL, *ts = NULL, *cs = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	const char *host = "127.0.0.1", *devices = NULL, *ready = NULL;
	long port = -1, count = 1, first = 0, seed = 1, cport = -1, v;
	char path[4096];
	int ch, rc = 1, p;

	g_sim = &sim;
	sim.nonce_lifetime = 300;
	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (parse_long(optarg, 0, 65534, &port) < 0)
				goto usage;
			break;
		case 'H':
			host = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 1, 1000000, &count) < 0)
				goto usage;
			break;
		case 'f':
			if (parse_long(optarg, 0, 999999, &first) < 0)
				goto usage;
			break;
		case 'd':
			devices = optarg;
			break;
		case 's':
			if (parse_long(optarg, 0, 1L << 30, &seed) < 0)
				goto usage;
			break;
		case 'c':
			if (parse_long(optarg, 0, 65535, &cport) < 0)
				goto usage;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'l':
			if (parse_long(optarg, 1, 86400, &v) < 0)
				goto usage;
			sim.nonce_lifetime = v;
			break;
		case 'x':
			sim.accept_hex_digest = 1;
			break;
		case 'C':
			sim.default_tls_cert = optarg;
			break;
		case 'K':
			sim.default_tls_key = optarg;
			break;
		case 'D':
			sim.default_tls_dir = optarg;
			break;
		case 'R':
			sim.no_tls_resume = 1;
			break;
		case 'A': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || eq == optarg || eq[1] == '\0' ||
			    sim.naliases == SIM_MAX_ALIASES)
				goto usage;
			*eq = '\0';
			sim.alias_name[sim.naliases] = optarg;
			sim.alias_dev[sim.naliases++] = eq + 1;
			break;
		}
		case 'v':
			sim.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc || port < 0 || (strcmp(host, "127.0.0.1") != 0 &&
	    strcmp(host, "::1") != 0) || (sim.default_tls_cert != NULL &&
	    sim.default_tls_dir != NULL) || (sim.default_tls_cert == NULL &&
	    sim.default_tls_dir == NULL) != (sim.default_tls_key == NULL) ||
	    first + count > 1000000)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	xmlInitParser();
	if (RAND_bytes(sim.secret, sizeof(sim.secret)) != 1)
		goto out;
	if ((devices != NULL ? load_devices(devices, seed) :
	    make_devices((int)count, first, seed)) < 0)
		goto out;
	qsort(sim.devs, (size_t)sim.ndevs, sizeof(sim.devs[0]), dev_cmp);
	for (int i = 0; i < sim.ndevs; i++) {
		sim.devs[i].index = i;
		if (i > 0 && dev_cmp(&sim.devs[i - 1], &sim.devs[i]) == 0) {
			fprintf(stderr, "amtsim: duplicate device %s\n",
			    sim.devs[i].fqdn);
			goto out;
		}
		if (sim.default_tls_key == NULL || (sim.devs[i].x != NULL &&
		    sim.devs[i].x->tls_active))
			continue;
		if (sim.default_tls_dir != NULL)
			snprintf(path, sizeof(path), "%s/%s.crt",
			    sim.default_tls_dir, sim.devs[i].fqdn);
		else
			snprintf(path, sizeof(path), "%s",
			    sim.default_tls_cert);
		if (pki_load_default_tls(&sim.devs[i], path,
		    sim.default_tls_key) < 0) {
			fprintf(stderr, "amtsim: cannot load %s with the key "
			    "%s\n", path, sim.default_tls_key);
			goto out;
		}
	}
	for (int i = 0; i < sim.naliases; i++)
		if (sim_find(sim.alias_dev[i], strlen(sim.alias_dev[i])) ==
		    NULL) {
			fprintf(stderr, "amtsim: --alias %s: no device %s\n",
			    sim.alias_name[i], sim.alias_dev[i]);
			goto out;
		}
	if ((sim.base = event_base_new()) == NULL ||
	    (g_tls_ctx = pki_server_ctx(!sim.no_tls_resume)) == NULL ||
	    (http = evhttp_new(sim.base)) == NULL ||
	    (https = evhttp_new(sim.base)) == NULL)
		goto out;
	evhttp_set_max_body_size(http, MAX_BODY);
	evhttp_set_max_body_size(https, MAX_BODY);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_headers_size(https, 16384);
	evhttp_set_timeout(http, 120);
	evhttp_set_timeout(https, 120);
	evhttp_set_gencb(http, wsman_cb, &http_pc);
	evhttp_set_gencb(https, wsman_cb, &tls_pc);
	evhttp_set_bevcb(https, tls_bevcb, NULL);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_allowed_methods(https, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	/* Port 0: find P with P and P+1 both free. */
	for (int tries = 0; tries < 50; tries++) {
		hs = evhttp_bind_socket_with_handle(http, host,
		    (ev_uint16_t)port);
		if (hs == NULL)
			break;
		p = bound_port(hs);
		if (p > 0 && p < 65535)
			ts = evhttp_bind_socket_with_handle(https, host,
			    (ev_uint16_t)(p + 1));
		if (ts != NULL || port != 0)
			break;
		evhttp_del_accept_socket(http, hs);
		hs = NULL;
	}
	if (hs == NULL || ts == NULL) {
		fprintf(stderr, "amtsim: cannot listen on %s:%ld and the next "
		    "port\n", host, port);
		goto out;
	}
	if (cport >= 0) {
		if ((ctl = evhttp_new(sim.base)) == NULL)
			goto out;
		evhttp_set_gencb(ctl, control_cb, NULL);
		evhttp_set_max_body_size(ctl, 65536);
		if ((cs = evhttp_bind_socket_with_handle(ctl, host,
		    (ev_uint16_t)cport)) == NULL) {
			fprintf(stderr, "amtsim: cannot listen on control port "
			    "%ld\n", cport);
			goto out;
		}
	}
	sigint = evsignal_new(sim.base, SIGINT, on_signal, sim.base);
	sigterm = evsignal_new(sim.base, SIGTERM, on_signal, sim.base);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) < 0 ||
	    event_add(sigterm, NULL) < 0)
		goto out;
	if (ready != NULL) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
		if ((f = fopen(tmp, "w")) == NULL) {
			fprintf(stderr, "amtsim: %s: %s\n", tmp,
			    strerror(errno));
			goto out;
		}
		fprintf(f, "host=%s\nport=%d\ntls_port=%d\ncontrol_port=%d\n"
		    "count=%d\npid=%ld\n", host, bound_port(hs), bound_port(ts),
		    cs == NULL ? 0 : bound_port(cs), sim.ndevs,
		    (long)getpid());
		if (fclose(f) != 0 || rename(tmp, ready) != 0)
			goto out;
	}
	event_base_dispatch(sim.base);
	rc = 0;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (ctl != NULL)
		evhttp_free(ctl);
	if (https != NULL)
		evhttp_free(https);
	if (http != NULL)
		evhttp_free(http);
	if (sim.base != NULL)
		event_base_free(sim.base);
	SSL_CTX_free(g_tls_ctx);
	pki_loaded_free();
	for (int i = 0; i < sim.ndevs; i++) {
		free(sim.devs[i].fqdn);
		pki_devx_free(sim.devs[i].x);
	}
	free(sim.devs);
	xmlCleanupParser();
	return rc;
usage:
	usage(stderr);
	return 2;
}
