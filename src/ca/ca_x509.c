/* SPDX-License-Identifier: MIT */
/* src/ca/ca_x509.c - X.509 building blocks: key types, keys, serials,
 * names, extensions, validity, encodings and OpenSSL error capture. */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "err.h"
#include "seal.h"
#include "util.h"
#include "ca_int.h"

/*
 * The signature digest follows the key: SHA-256 up to 128-bit security
 * (RSA-2048, P-256), SHA-384 above, so that the chain is never weaker in
 * its hash than in its keys.
 */
static const struct ca_keytype keytypes[] = {
	{ "rsa2048", 2048, NULL, "SHA256" },
	{ "rsa3072", 3072, NULL, "SHA384" },
	{ "rsa4096", 4096, NULL, "SHA384" },
	{ "ecdsa-p256", 0, "P-256", "SHA256" },
	{ "ecdsa-p384", 0, "P-384", "SHA384" },
	{ NULL, 0, NULL, NULL }
};

const struct ca_keytype *
ca_keytype_find(const char *name)
{
	const struct ca_keytype *kt;

	if (name == NULL)
		return NULL;
	for (kt = keytypes; kt->name != NULL; kt++)
		if (strcmp(kt->name, name) == 0)
			return kt;
	return NULL;
}

/*
 * OpenSSL reports through a per-thread queue of codes; fold the reasons
 * into the one error message so the caller sees why, and leave the queue
 * empty for the next operation.
 */
int
ca_ossl_fail(int code, const char *fmt, ...)
{
	char msg[512], ossl[512];
	size_t off = 0;
	unsigned long e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ossl[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		const char *why = ERR_reason_error_string(e);
		char one[256];
		int n;

		if (why == NULL) {
			ERR_error_string_n(e, one, sizeof(one));
			why = one;
		}
		if (off >= sizeof(ossl))
			continue;
		n = snprintf(ossl + off, sizeof(ossl) - off, "%s%s",
		    off ? "; " : "", why);
		if (n > 0)
			off += (size_t)n;
	}
	if (ossl[0] != '\0')
		return cust_fail(code, "%s (%s)", msg, ossl);
	return cust_fail(code, "%s", msg);
}

int
ca_key_generate(const struct ca_keytype *kt, EVP_PKEY **out)
{
	EVP_PKEY *k;

	*out = NULL;
	/* Tests stop here to see that no write lock is held meanwhile. */
	util_test_stop("ca-keygen");
	if (kt->rsa_bits != 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)kt->rsa_bits);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", kt->curve);
	if (k == NULL)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot generate a %s key",
		    kt->name);
	*out = k;
	return CUST_OK;
}

int
ca_premade_make(const struct ca_keytype *kt, struct ca_premade *pm)
{
	int r, i;

	memset(pm, 0, sizeof(*pm));
	if (kt == NULL)
		return CUST_OK;
	pm->kt = kt;
	for (i = 0; i < 2; i++)
		if ((r = ca_key_generate(kt, &pm->k[i])) != CUST_OK) {
			ca_premade_clear(pm);
			return r;
		}
	return CUST_OK;
}

EVP_PKEY *
ca_premade_take(struct ca_premade *pm, const struct ca_keytype *kt, int i)
{
	EVP_PKEY *k;

	if (pm == NULL || pm->kt == NULL || pm->kt != kt || i < 0 || i > 1)
		return NULL;
	k = pm->k[i];
	pm->k[i] = NULL;
	return k;
}

void
ca_premade_clear(struct ca_premade *pm)
{
	EVP_PKEY_free(pm->k[0]);
	EVP_PKEY_free(pm->k[1]);
	memset(pm, 0, sizeof(*pm));
}

/* Hex of b into hex (2n + 1 bytes): libsodium's encoder, upper case as
 * `openssl x509 -serial` prints serials. */
static void
hex_upper(const unsigned char *b, size_t n, char *hex)
{
	char *p;

	sodium_bin2hex(hex, 2 * n + 1, b, n);
	for (p = hex; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
}

int
ca_keytype_unknown(const char *name)
{
	return cust_fail(CUST_E_INVAL, "key type %.32s: one of " CA_KEYTYPES,
	    name != NULL ? name : "(none)");
}

/*
 * Serials are CA_SERIAL_BYTES random bytes with the first byte in
 * 0x01..0x7f, so every serial is positive, has exactly that many content
 * octets and prints the same way in every tool. The UNIQUE constraint on
 * cert.serial is the final guard; the lookup here only makes a collision
 * (2^-119 per pair) a retry instead of an error.
 */
int
ca_serial_new(struct cust_state *st, ASN1_INTEGER **out, char *hex,
    size_t hexlen)
{
	unsigned char b[CA_SERIAL_BYTES];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int tries, used;

	*out = NULL;
	if (hexlen < 2 * sizeof(b) + 1)
		return cust_fail(CUST_E_INTERNAL, "serial buffer too small");
	for (tries = 0; tries < 8; tries++) {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return ca_ossl_fail(CUST_E_CRYPTO,
			    "cannot draw a serial number");
		b[0] &= 0x7f;
		if (b[0] == 0)
			b[0] = 1;
		hex_upper(b, sizeof(b), hex);
		if ((used = ca_serial_used(st, hex)) < 0)
			return used;
		if (used == 0)
			break;
	}
	if (tries == 8)
		return cust_fail(CUST_E_INTERNAL, "no unused serial number");
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		BN_free(bn);
		return ca_ossl_fail(CUST_E_NOMEM, "cannot encode a serial");
	}
	BN_free(bn);
	*out = ai;
	return CUST_OK;
}

int
ca_serial_hex(const ASN1_INTEGER *ai, char *hex, size_t hexlen)
{
	const unsigned char *d = ASN1_STRING_get0_data(ai);
	int n = ASN1_STRING_length(ai);

	if (ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER || n < 0 ||
	    (size_t)n * 2 + 1 > hexlen)
		return cust_fail(CUST_E_INVAL, "unsupported serial number");
	if (n == 0) {
		if (hexlen < 3)
			return cust_fail(CUST_E_INVAL, "serial buffer too small");
		memcpy(hex, "00", 3);
		return CUST_OK;
	}
	hex_upper(d, (size_t)n, hex);
	return CUST_OK;
}

int
ca_serial_norm(const char *in, char *out, size_t outlen)
{
	char digits[2 * 20 + 2];
	size_t n = 0, skip = 0, i;
	const char *p = in;

	if (in == NULL)
		return cust_fail(CUST_E_INVAL, "no serial number");
	if (strncasecmp(p, "serial=", 7) == 0)
		p += 7;
	else if (strncasecmp(p, "0x", 2) == 0)
		p += 2;
	for (; *p != '\0'; p++) {
		if (*p == ':' || isspace((unsigned char)*p))
			continue;
		if (!isxdigit((unsigned char)*p) || n + 1 >= sizeof(digits))
			return cust_fail(CUST_E_INVAL, "'%.64s' is not a serial "
			    "number (hex, colons allowed, at most 20 octets)",
			    in);
		digits[n++] = (char)toupper((unsigned char)*p);
	}
	if (n == 0)
		return cust_fail(CUST_E_INVAL, "empty serial number");
	/* Whole octets, without leading zero octets: as DER holds it. */
	if (n % 2 == 1) {
		memmove(digits + 1, digits, n);
		digits[0] = '0';
		n++;
	}
	while (n - skip > 2 && digits[skip] == '0' && digits[skip + 1] == '0')
		skip += 2;
	if (n - skip > 40 || n - skip + 1 > outlen)
		return cust_fail(CUST_E_INVAL, "serial number longer than 20 "
		    "octets");
	for (i = 0; i < n - skip; i++)
		out[i] = digits[skip + i];
	out[n - skip] = '\0';
	return CUST_OK;
}

X509_NAME *
ca_name(const char *org, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL)
		return NULL;
	if (org != NULL && *org != '\0' &&
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)org, -1, -1, 0))
		goto fail;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	return n;
fail:
	X509_NAME_free(n);
	return NULL;
}

/* Copy the contents of a memory BIO into a new NUL-terminated string. */
static char *
bio_string(BIO *b)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	if (n > 0)	/* an empty BIO has no data pointer */
		memcpy(s, data, (size_t)n);
	s[n] = '\0';
	return s;
}

char *
ca_name_text(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0)
		s = bio_string(b);
	BIO_free(b);
	return s;
}

/*
 * Extensions are given in OpenSSL's configuration syntax. Every value is
 * built in this module from fixed strings and validated names (FQDNs,
 * console names, IP addresses), never from request bytes.
 */
int
ca_ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (e == NULL)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot make extension %s "
		    "= %s", OBJ_nid2sn(nid), value);
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!ok)
		return ca_ossl_fail(CUST_E_NOMEM, "cannot add extension %s",
		    OBJ_nid2sn(nid));
	return CUST_OK;
}

int
ca_set_validity(X509 *x, int64_t nb, int64_t na)
{
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot set validity");
	return CUST_OK;
}

int64_t
ca_time_of(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

int
ca_fingerprint(X509 *x, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot hash certificate");
	sodium_bin2hex(out, 65, md, n);
	return CUST_OK;
}

char *
ca_pem_certs(X509 *const *v, size_t n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;
	size_t i;

	if (b == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (v[i] != NULL && !PEM_write_bio_X509(b, v[i]))
			goto out;
	s = bio_string(b);
out:
	BIO_free(b);
	return s;
}

/*
 * A private key leaves OpenSSL only as PEM in a secret buffer. The memory
 * BIO is of the "secmem" kind and OpenSSL clears its buffer when freed.
 */
int
ca_pem_key(EVP_PKEY *key, struct seal_secret **out)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data;
	long n;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if (b == NULL)
		return ca_ossl_fail(CUST_E_NOMEM, "cannot encode key");
	if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) ||
	    (n = BIO_get_mem_data(b, &data)) <= 0) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot encode key");
		goto out;
	}
	if ((*out = seal_secret_dup(data, (size_t)n)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	r = CUST_OK;
out:
	BIO_free(b);
	return r;
}

int
ca_der(X509 *x, unsigned char **out, size_t *len_out)
{
	unsigned char *buf = NULL;
	int n;

	*out = NULL;
	*len_out = 0;
	if ((n = i2d_X509(x, &buf)) <= 0)
		return ca_ossl_fail(CUST_E_CRYPTO, "cannot encode certificate");
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_free(buf);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	memcpy(*out, buf, (size_t)n);
	OPENSSL_free(buf);
	*len_out = (size_t)n;
	return CUST_OK;
}

X509 *
ca_x509_from_der(const void *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (der == NULL || len == 0 || len > INT_MAX) {
		cust_fail(CUST_E_DB, "stored certificate missing");
		return NULL;
	}
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		ca_ossl_fail(CUST_E_DB, "stored certificate unreadable");
	return x;
}

json_t *
ca_json_b64(const void *buf, size_t len)
{
	size_t blen = sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(blen);
	json_t *j;

	if (b == NULL)
		return NULL;
	sodium_bin2base64(b, blen, buf, len, sodium_base64_VARIANT_ORIGINAL);
	j = json_string(b);
	sodium_memzero(b, blen);
	free(b);
	return j;
}

int
ca_b64_decode(const char *in, size_t max, unsigned char **out,
    size_t *len_out)
{
	size_t ilen, cap, n = 0, digits = 0, i;
	unsigned char *b;

	*out = NULL;
	*len_out = 0;
	if (in == NULL)
		return cust_fail(CUST_E_PARSE, "no base64 data");
	ilen = strlen(in);
	/* Over the bound? Only counted when it may be: every 4 digits are 3
	 * bytes, whitespace and padding are not digits. (libsodium's decoder
	 * does not tell "too long" from "not base64".) */
	if (ilen / 4 * 3 > max) {
		for (i = 0; i < ilen; i++)
			if (strchr(" \t\r\n=", in[i]) == NULL)
				digits++;
		if (digits / 4 * 3 + (digits % 4 > 1 ? digits % 4 - 1 : 0) >
		    max)
			return cust_fail(CUST_E_TOOBIG, "over the limit of %zu "
			    "bytes", max);
	}
	cap = ilen / 4 * 3 + 3;
	if (cap > max)
		cap = max;
	if ((b = malloc(cap + 1)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (sodium_base642bin(b, cap, in, ilen, " \t\r\n", &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0) {
		sodium_memzero(b, cap);
		free(b);
		return cust_fail(CUST_E_PARSE, "bad base64 data");
	}
	*out = b;
	*len_out = n;
	return CUST_OK;
}

int
ca_valid_name(const char *name)
{
	size_t n, i;

	if (name == NULL || (n = strlen(name)) == 0 || n > CA_NAME_MAX)
		return cust_fail(CUST_E_INVAL, "a console name has 1 to %d "
		    "characters", CA_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return cust_fail(CUST_E_INVAL, "a console name must not start "
		    "with '%c'", name[0]);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL)
			return cust_fail(CUST_E_INVAL, "a console name has only "
			    "letters, digits, '.', '_' and '-'");
	return CUST_OK;
}
