/* SPDX-License-Identifier: MIT */
/* src/amt/digest.c - the AMT DigestPassword. */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "amt.h"
#include "err.h"
#include "seal.h"

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

const char *
amt_realm_differs(const char *dev, const char *reg)
{
	return strcasecmp(dev, reg) == 0 ? "only the case differs, but the "
	    "device's DigestPasswords and HA1s are made with the registered "
	    "spelling, which must be the device's" : "not this device";
}
