/* SPDX-License-Identifier: MIT */
/* src/amt/kerberos.c - AMT Kerberos values (reference/amt.md 5): the RC4
 * MasterKey (the NT hash), the AES salt of an AD user object, and
 * Windows SIDs in the binary form KerberosUserSid takes. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <sodium.h>

#include "amt.h"
#include "err.h"
#include "seal.h"

/*
 * MD4 lives in OpenSSL 3's legacy provider. It is loaded into a library
 * context of custody's own, so that nothing else in the process (libcurl,
 * libldap, the CA code) gets the legacy algorithms by default; the
 * context and the fetched digest live as long as the process.
 */
static pthread_once_t md4_once = PTHREAD_ONCE_INIT;
static EVP_MD *md4;

static void
md4_init(void)
{
	OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();

	if (lc == NULL || OSSL_PROVIDER_load(lc, "legacy") == NULL ||
	    (md4 = EVP_MD_fetch(lc, "MD4", NULL)) == NULL)
		md4 = NULL;
}

int
amt_nt_hash(const struct seal_secret *pw, struct seal_secret **out)
{
	struct seal_secret *u16 = NULL, *b64 = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const unsigned char *s;
	unsigned char *p;
	size_t n, i;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if (pw == NULL || (n = seal_secret_len(pw)) == 0)
		return cust_fail(CUST_E_INVAL, "no password for the NT hash");
	s = (const unsigned char *)seal_secret_str(pw);
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return cust_fail(CUST_E_INVAL, "the NT hash is taken of "
			    "printable ASCII passwords only");
	pthread_once(&md4_once, md4_init);
	if (md4 == NULL)
		return cust_fail(CUST_E_CRYPTO, "MD4 is not available (OpenSSL's "
		    "legacy provider, ossl-modules/legacy.so, is missing): "
		    "the AMT RC4 key cannot be made");
	if ((u16 = seal_secret_new(2 * n)) == NULL ||
	    (b64 = seal_secret_new(AMT_NTHASH_LEN)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	/* UTF-16LE of ASCII: each byte, then a zero. */
	p = seal_secret_data(u16);
	for (i = 0; i < n; i++) {
		p[2 * i] = s[i];
		p[2 * i + 1] = 0;
	}
	if (EVP_Digest(p, 2 * n, md, &mdlen, md4, NULL) != 1 || mdlen != 16) {
		r = cust_fail(CUST_E_CRYPTO, "MD4 failed");
		goto out;
	}
	sodium_bin2base64((char *)seal_secret_data(b64), AMT_NTHASH_LEN + 1,
	    md, 16, sodium_base64_VARIANT_ORIGINAL);
	*out = b64;
	b64 = NULL;
	r = CUST_OK;
out:
	sodium_memzero(md, sizeof(md));
	seal_secret_free(u16);
	seal_secret_free(b64);
	return r;
}

int
amt_krb_user_salt(const char *realm, const char *sam, char *out, size_t len)
{
	size_t rl = realm ? strlen(realm) : 0, sl = sam ? strlen(sam) : 0, i;

	if (rl == 0 || sl == 0)
		return cust_fail(CUST_E_INVAL, "the AES salt needs a realm and "
		    "an account name");
	if (rl + sl + 1 > len)
		return cust_fail(CUST_E_TOOBIG, "realm and account name too "
		    "long for a salt");
	/* MS-KILE 3.1.1.2: a user's salt is the realm in upper case and
	 * the sAMAccountName as it is (case preserved). */
	for (i = 0; i < rl; i++)
		out[i] = (char)toupper((unsigned char)realm[i]);
	memcpy(out + rl, sam, sl + 1);
	return CUST_OK;
}

int
amt_sid_parse(const char *text, unsigned char *bin, size_t *len)
{
	unsigned long long auth, v;
	const char *p = text;
	char *end;
	size_t n = 0;

	*len = 0;
	if (text == NULL || strncmp(text, "S-1-", 4) != 0)
		goto bad;
	p = text + 4;
	if (!isdigit((unsigned char)*p))
		goto bad;
	errno = 0;
	auth = strtoull(p, &end, 10);
	if (errno != 0 || auth > 0xffffffffffffULL)
		goto bad;
	p = end;
	bin[0] = 1;
	for (int i = 0; i < 6; i++)
		bin[2 + i] = (unsigned char)(auth >> (8 * (5 - i)));
	while (*p == '-') {
		p++;
		if (!isdigit((unsigned char)*p) || n == AMT_SID_MAX_SUBAUTH)
			goto bad;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0 || v > 0xffffffffULL)
			goto bad;
		p = end;
		/* sub-authorities little-endian */
		bin[8 + 4 * n] = (unsigned char)v;
		bin[9 + 4 * n] = (unsigned char)(v >> 8);
		bin[10 + 4 * n] = (unsigned char)(v >> 16);
		bin[11 + 4 * n] = (unsigned char)(v >> 24);
		n++;
	}
	if (*p != '\0' || n == 0)
		goto bad;
	bin[1] = (unsigned char)n;
	*len = 8 + 4 * n;
	return CUST_OK;
bad:
	return cust_fail(CUST_E_INVAL, "not a SID AMT takes (S-1-AUTHORITY-"
	    "SUB... with 1-%d sub-authorities)", AMT_SID_MAX_SUBAUTH);
}

int
amt_sid_check_b64(const char *b64)
{
	unsigned char bin[64];
	size_t n = b64 ? strlen(b64) : 0, len = 0;

	if (n == 0 || n > 44 || sodium_base642bin(bin, sizeof(bin), b64, n,
	    NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len < 12 || len > 8 + 4 * AMT_SID_MAX_SUBAUTH || len % 4 != 0 ||
	    bin[0] != 1 || (size_t)bin[1] * 4 + 8 != len)
		return cust_fail(CUST_E_INVAL, "not a KerberosUserSid (base64 "
		    "of a binary SID of 12-28 bytes)");
	return CUST_OK;
}

int
amt_sid_b64(const char *text, char *out, size_t outlen)
{
	unsigned char bin[8 + 4 * AMT_SID_MAX_SUBAUTH];
	size_t len;
	int r;

	if ((r = amt_sid_parse(text, bin, &len)) != CUST_OK)
		return r;
	if (outlen < sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL))
		return cust_fail(CUST_E_TOOBIG, "SID buffer too small");
	sodium_bin2base64(out, outlen, bin, len,
	    sodium_base64_VARIANT_ORIGINAL);
	return CUST_OK;
}
