/* SPDX-License-Identifier: MIT */
/* src/amt/digest.c - the AMT DigestPassword, and device addresses. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "amt.h"
#include "err.h"
#include "seal.h"
#include "util.h"

/*
 * base64(MD5(user:realm:password)) (reference/amt.md 3): the RFC 2617
 * HA1 as raw bytes, base64 with padding, 24 characters. The input is
 * assembled in secret memory; the digest is wiped.
 */
int
amt_digest_password(const char *user, const char *realm,
    const struct seal_secret *pw, struct seal_secret **out)
{
	struct seal_secret *in = NULL, *b64 = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t ul, rl, pl;
	unsigned int mdlen = 0;
	unsigned char *p;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if (user == NULL || realm == NULL || pw == NULL)
		return cust_fail(CUST_E_INVAL, "DigestPassword needs a user, "
		    "a realm and a password");
	ul = strlen(user);
	rl = strlen(realm);
	pl = seal_secret_len(pw);
	if ((in = seal_secret_new(ul + rl + pl + 2)) == NULL ||
	    (b64 = seal_secret_new(AMT_DIGESTPW_LEN)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	p = seal_secret_data(in);
	memcpy(p, user, ul);
	p[ul] = ':';
	memcpy(p + ul + 1, realm, rl);
	p[ul + 1 + rl] = ':';
	memcpy(p + ul + rl + 2, seal_secret_str(pw), pl);
	if (EVP_Digest(p, ul + rl + pl + 2, md, &mdlen, EVP_md5(), NULL) != 1 ||
	    mdlen != 16) {
		r = cust_fail(CUST_E_CRYPTO, "MD5 is not available");
		goto out;
	}
	sodium_bin2base64((char *)seal_secret_data(b64), AMT_DIGESTPW_LEN + 1,
	    md, 16, sodium_base64_VARIANT_ORIGINAL);
	*out = b64;
	b64 = NULL;
	r = CUST_OK;
out:
	sodium_memzero(md, sizeof(md));
	seal_secret_free(in);
	seal_secret_free(b64);
	return r;
}

/* A single-label host name ("localhost", "amt-gw"): letters, digits and
 * '-', not all digits, 1-63. */
static int
valid_label(const char *s, size_t n)
{
	size_t i, digits = 0;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
		digits += isdigit((unsigned char)s[i]) != 0;
	}
	return digits < n;
}

int
amt_address_parse(const char *s, char *host_out, size_t len,
    unsigned *port_out)
{
	char host[AMT_HOST_MAX + 1], bin[16];
	const char *colon;
	size_t hl;
	unsigned long port = 0;

	if (host_out != NULL && len > 0)
		*host_out = '\0';
	if (port_out != NULL)
		*port_out = 0;
	if (s == NULL || *s == '\0' || strlen(s) > AMT_ADDRESS_MAX)
		goto bad;
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			goto bad;
		hl = (size_t)(end - s) + 1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			goto bad;
		if (hl - 2 >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
		if (inet_pton(AF_INET6, host, bin) != 1)
			goto bad;
	} else {
		colon = strchr(s, ':');
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, bin) != 1 &&
		    util_valid_fqdn(host) != CUST_OK &&
		    !valid_label(host, hl))
			goto bad;
	}
	if (colon != NULL) {
		const char *d = colon + 1;

		if (*d == '\0' || *d == '0' || strlen(d) > 5 ||
		    strspn(d, "0123456789") != strlen(d))
			goto bad;
		port = strtoul(d, NULL, 10);
		/* PORT is HTTP, PORT + 1 TLS: both must exist. */
		if (port < 1 || port > 65534)
			goto bad;
	}
	if (host_out != NULL) {
		if (hl >= len)
			goto bad;
		memcpy(host_out, s, hl);
		host_out[hl] = '\0';
	}
	if (port_out != NULL)
		*port_out = (unsigned)port;
	return CUST_OK;
bad:
	if (host_out != NULL && len > 0)
		*host_out = '\0';
	return cust_fail(CUST_E_INVAL, "'%.80s' is not an address (HOST or "
	    "HOST:PORT, HOST a host name, an IPv4 address or [IPv6], PORT "
	    "1-65534; TLS is PORT+1)", s ? s : "");
}
