/* SPDX-License-Identifier: MIT */
/*
 * tests/amtsim/auth.c - HTTP digest authentication (RFC 2617, MD5,
 * qop=auth) as AMT does it (reference §3), the DigestPassword encoding,
 * and AMT's username and password rules (§2).
 *
 * Nonces are stateless: issue time, the device's ACL epoch, its index and
 * a serial (two challenges in one second differ), under an HMAC with a per-run secret. A nonce older than the lifetime is
 * stale; one issued before the last ACL change belongs to a digest session
 * AMT has dropped (§3: "any ACL change resets that cache and forces a new
 * challenge"). Both get a fresh challenge with stale="true" when the
 * response was otherwise right, as RFC 2617 §3.2.1 asks, so a client that
 * still has the right password retries; a wrong password gets
 * stale="false".
 *
 * Nonce counts (RFC 7616 §3.4 and 3.4.1, RFC 2617 §3.2.2): each nonce a
 * device issues is remembered (the last SIM_NONCES_KEPT of them) with the
 * highest nc it was answered with; a response whose nc is not above it is
 * a replay (a captured Authorization sent again) and is refused like a
 * wrong password (401, stale="false"). A valid nonce the device no longer
 * remembers is stale, so a client with the right password gets a fresh
 * one.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>

#include "amtsim.h"

/*
 * xs:base64Binary: white space anywhere is allowed (a PEM body with its
 * line breaks, as MeshCentral sends certificates, §6). Returns 0 and the
 * bytes, or -1 when the text is not base64 or does not fit cap.
 */
int
sim_b64_decode(const char *in, unsigned char *out, size_t cap,
    size_t *len_out)
{
	size_t n = 0, pad = 0, len = strlen(in);
	char *s = malloc(len + 1);
	unsigned char *tmp = NULL;
	int m, r = -1;

	*len_out = 0;
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)in[i]))
			s[n++] = in[i];
	s[n] = '\0';
	if (n == 0 || n % 4 != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' &&
		    s[i] != '/' && !(s[i] == '=' && i >= n - 2))
			goto out;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	if (pad == 1 && s[n - 2] == '=')
		goto out;
	if ((tmp = malloc(n / 4 * 3 + 1)) == NULL)
		goto out;
	m = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (m < 0 || (size_t)m < pad || (size_t)m - pad > cap)
		goto out;
	memcpy(out, tmp, (size_t)m - pad);
	*len_out = (size_t)m - pad;
	r = 0;
out:
	free(tmp);
	free(s);
	return r;
}

char *
sim_b64_encode(const unsigned char *in, size_t len)
{
	char *out = malloc(len / 3 * 4 + 5);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

void
sim_md5_hex(const unsigned char in[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void
md5_parts(unsigned char out[16], const char **parts, int n)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len = 0;

	if (c == NULL || !EVP_DigestInit_ex(c, EVP_md5(), NULL))
		abort();
	for (int i = 0; i < n; i++) {
		if (i > 0)
			EVP_DigestUpdate(c, ":", 1);
		EVP_DigestUpdate(c, parts[i], strlen(parts[i]));
	}
	EVP_DigestFinal_ex(c, out, &len);
	EVP_MD_CTX_free(c);
}

void
sim_ha1(const char *user, const char *realm, const char *pw,
    unsigned char out[16])
{
	const char *p[3] = { user, realm, pw };

	md5_parts(out, p, 3);
}

/*
 * DigestPassword (§3): base64 of the raw 16-byte MD5 of
 * user:DigestRealm:password. With --accept-hex-digest the 32-hex form some
 * tools send is taken too, as "unverified legacy". Returns 0 and the HA1,
 * or -1 (the caller answers 2054 INVALID_PASSWORD).
 */
int
sim_digest_password(const char *b64, unsigned char ha1_out[16])
{
	unsigned char raw[32];
	size_t len;

	memset(ha1_out, 0, 16);
	if (b64 == NULL)
		return -1;
	if (sim_b64_decode(b64, raw, sizeof(raw), &len) == 0 && len == 16) {
		memcpy(ha1_out, raw, 16);
		return 0;
	}
	if (g_sim != NULL && g_sim->accept_hex_digest && strlen(b64) == 32) {
		for (int i = 0; i < 16; i++) {
			unsigned int v;

			if (!isxdigit((unsigned char)b64[2 * i]) ||
			    !isxdigit((unsigned char)b64[2 * i + 1]) ||
			    sscanf(b64 + 2 * i, "%2x", &v) != 1)
				return -1;
			ha1_out[i] = (unsigned char)v;
		}
		return 0;
	}
	return -1;
}

/* §2: 7-bit ASCII 33-126, 1-16 chars, none of : , < > & ", not "$$..." */
int
sim_username_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > 16 || strncmp(name, "$$", 2) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 33 || c > 126 || strchr(":,<>&\"", c) != NULL)
			return 0;
	}
	return 1;
}

/*
 * §2: 7-bit ASCII 32-126, 8-32 chars, none of : , ", at least one digit,
 * one lowercase, one uppercase and one non-alphanumeric above 0x20 other
 * than '_' ("Location_1" fails).
 */
int
sim_password_ok(const char *pw)
{
	size_t n = strlen(pw);
	int dig = 0, lo = 0, up = 0, sp = 0;

	if (n < 8 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];

		if (c < 32 || c > 126 || c == ':' || c == ',' || c == '"')
			return 0;
		if (isdigit(c))
			dig = 1;
		else if (islower(c))
			lo = 1;
		else if (isupper(c))
			up = 1;
		else if (c > 0x20 && c != '_')
			sp = 1;
	}
	return dig && lo && up && sp;
}

static void
nonce_mac(unsigned long t, uint32_t epoch, int idx, uint32_t serial,
    char out[17])
{
	unsigned char mac[32];
	unsigned int len = 0;
	char msg[64];

	snprintf(msg, sizeof(msg), "%lx/%x/%d/%x", t, (unsigned)epoch, idx,
	    (unsigned)serial);
	HMAC(EVP_sha256(), g_sim->secret, sizeof(g_sim->secret),
	    (const unsigned char *)msg, strlen(msg), mac, &len);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

void
sim_nonce_new(struct sim_dev *d, char *out, size_t cap)
{
	unsigned long t = (unsigned long)time(NULL);
	uint32_t serial = ++d->nonce_serial;	/* two in one second differ */
	char mac[17];

	nonce_mac(t, d->acl_epoch, d->index, serial, mac);
	snprintf(out, cap, "%08lx%08x%08x%08x%s", t, (unsigned)d->acl_epoch,
	    (unsigned)d->index, (unsigned)serial, mac);
	snprintf(d->seen[d->seen_next].nonce, sizeof(d->seen[0].nonce), "%s",
	    out);
	d->seen[d->seen_next].nc = 0;
	d->seen_next = (d->seen_next + 1) % SIM_NONCES_KEPT;
}

/* The nonce count nc (8 hex digits) for nonce: 0 above the highest seen
 * (now the highest), -1 a replay or not a count, 1 a nonce not
 * remembered. */
static int
nc_check(struct sim_dev *d, const char *nonce, const char *nc)
{
	unsigned long v;
	char *end;

	if (strlen(nc) != 8 || !isxdigit((unsigned char)nc[0]))
		return -1;
	v = strtoul(nc, &end, 16);
	if (*end != '\0' || v == 0)
		return -1;
	for (int i = 0; i < SIM_NONCES_KEPT; i++) {
		if (strcmp(d->seen[i].nonce, nonce) != 0)
			continue;
		if (v <= d->seen[i].nc)
			return -1;
		d->seen[i].nc = v;
		return 0;
	}
	return 1;
}

/* 0 valid and current, 1 valid MAC but stale or old session, -1 bad */
static int
nonce_state(struct sim_dev *d, const char *nonce)
{
	unsigned long t;
	unsigned int epoch, idx, serial;
	char mac[17];

	if (strlen(nonce) != 48 ||
	    sscanf(nonce, "%8lx%8x%8x%8x", &t, &epoch, &idx, &serial) != 4)
		return -1;
	nonce_mac(t, epoch, (int)idx, serial, mac);
	if (CRYPTO_memcmp(mac, nonce + 32, 16) != 0 || (int)idx != d->index)
		return -1;
	if (epoch != d->acl_epoch)
		return 1;
	if ((long)((unsigned long)time(NULL) - t) > g_sim->nonce_lifetime)
		return 1;
	return 0;
}

/* One key="value" or key=token pair of a Digest header; returns the
 * position after it or NULL at the end. */
static const char *
next_param(const char *p, char *key, size_t kcap, char *val, size_t vcap)
{
	size_t k = 0, v = 0;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (*p == '\0')
		return NULL;
	while (*p != '\0' && *p != '=' && *p != ',' && *p != ' ') {
		if (k + 1 < kcap)
			key[k++] = (char)tolower((unsigned char)*p);
		p++;
	}
	key[k] = '\0';
	while (*p == ' ')
		p++;
	if (*p != '=') {
		val[0] = '\0';
		return p;
	}
	p++;
	while (*p == ' ')
		p++;
	if (*p == '"') {
		p++;
		while (*p != '\0' && *p != '"') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (v + 1 < vcap)
				val[v++] = *p;
			p++;
		}
		if (*p == '"')
			p++;
	} else {
		while (*p != '\0' && *p != ',' && *p != ' ') {
			if (v + 1 < vcap)
				val[v++] = *p;
			p++;
		}
	}
	val[v] = '\0';
	return p;
}

/* RFC 2617 §3.2.2.1 with qop=auth: MD5(HA1:nonce:nc:cnonce:qop:HA2),
 * HA2 = MD5(method:uri), as 32 lowercase hex. */
void
sim_digest_response(const unsigned char ha1[16], const char *nonce,
    const char *nc, const char *cnonce, const char *qop, const char *method,
    const char *uri, char out[33])
{
	char ha1hex[33], ha2hex[33];
	unsigned char r[16];
	const char *h2[2] = { method, uri };
	const char *p[6] = { ha1hex, nonce, nc, cnonce, qop, ha2hex };

	md5_parts(r, h2, 2);
	sim_md5_hex(r, ha2hex);
	sim_md5_hex(ha1, ha1hex);
	md5_parts(r, p, 6);
	sim_md5_hex(r, out);
}

/* Does this HA1 produce `response`? */
static int
response_ok(const unsigned char ha1[16], const char *nonce, const char *nc,
    const char *cnonce, const char *qop, const char *method, const char *uri,
    const char *response)
{
	char want[33];

	sim_digest_response(ha1, nonce, nc, cnonce, qop, method, uri, want);
	return strlen(response) == 32 &&
	    CRYPTO_memcmp(want, response, 32) == 0;
}

int
sim_digest_check(struct sim_dev *d, const char *hdr, const char *method,
    int *who_out)
{
	char key[32], val[512];
	char user[64] = "", realm[64] = "", nonce[64] = "", uri[256] = "",
	    resp[64] = "", qop[16] = "", nc[16] = "", cnonce[128] = "",
	    alg[16] = "";
	const char *p;
	int ns, who = -2;
	/* The accept-any fault: the response is not checked. */
	int any = d->fault == SIM_FAULT_ACCEPT_ANY && d->fault_count != 0;

	*who_out = -2;
	if (hdr == NULL || strncasecmp(hdr, "Digest ", 7) != 0)
		return -1;
	p = hdr + 7;
	while ((p = next_param(p, key, sizeof(key), val, sizeof(val))) != NULL) {
		struct { const char *k; char *dst; size_t cap; } f[] = {
			{ "username", user, sizeof(user) },
			{ "realm", realm, sizeof(realm) },
			{ "nonce", nonce, sizeof(nonce) },
			{ "uri", uri, sizeof(uri) },
			{ "response", resp, sizeof(resp) },
			{ "qop", qop, sizeof(qop) },
			{ "nc", nc, sizeof(nc) },
			{ "cnonce", cnonce, sizeof(cnonce) },
			{ "algorithm", alg, sizeof(alg) },
		};
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			if (strcmp(key, f[i].k) == 0)
				snprintf(f[i].dst, f[i].cap, "%s", val);
	}
	/* AMT offers qop=auth only (§3); MD5, the realm of this device. */
	if (strcmp(qop, "auth") != 0 || nc[0] == '\0' || cnonce[0] == '\0' ||
	    (alg[0] != '\0' && strcasecmp(alg, "MD5") != 0) ||
	    strcmp(realm, d->realm) != 0 || strcmp(uri, "/wsman") != 0)
		return -1;
	if (strcmp(user, d->admin_user) == 0) {
		if (any || response_ok(d->admin_ha1, nonce, nc, cnonce, qop,
		    method, uri, resp))
			who = -1;
	} else if (d->x != NULL) {
		for (int i = 0; i < d->x->nusers; i++) {
			struct sim_user *u = &d->x->users[i];

			/* LocalAccessPermission entries cannot log in over
			 * the network; disabled ones not at all. */
			if (u->name[0] == '\0' || strcmp(u->name, user) != 0 ||
			    u->access == 0 || !u->enabled)
				continue;
			if (any || response_ok(u->ha1, nonce, nc, cnonce,
			    qop, method, uri, resp))
				who = i;
			break;
		}
	}
	if (who == -2)
		return -1;
	ns = nonce_state(d, nonce);
	if (ns < 0)
		return -1;
	if (ns > 0)
		return 1;
	if ((ns = nc_check(d, nonce, nc)) < 0) {
		d->n_replays++;
		return -1;
	}
	if (ns > 0)
		return 1;
	*who_out = who;
	return 0;
}
