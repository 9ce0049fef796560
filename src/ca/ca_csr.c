/* SPDX-License-Identifier: MIT */
/* src/ca/ca_csr.c - parse and check certificate signing requests.
 *
 * A CSR is untrusted input from a device (or whoever speaks for it). It is
 * parsed within a size bound, its self-signature must verify (proof that
 * the requester holds the key), its key must be one AMT and custody accept,
 * and every name it asks for must be the registered FQDN. Nothing else of
 * the request is used: the certificate's subject, names and extensions are
 * built from the device record and the profile. tests/fuzz/fuzz_csr.c runs
 * this parser.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "ca_int.h"
#include "util.h"

#define CSR_RSA_MIN	2048
#define CSR_RSA_MAX	8192

/* Curves accepted for device keys (OpenSSL group names and aliases). */
static const char *const curves[] = {
	"prime256v1", "P-256", "secp384r1", "P-384", NULL
};

/* Printable ASCII copy of untrusted text for a message, bounded. */
static void
safe_text(const unsigned char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < outlen; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	out[o] = '\0';
}

/* No prime factor below this (SP 800-56B rev 2, 6.4.2.1). */
#define CSR_RSA_SMALL	752

/*
 * The smallest odd prime below CSR_RSA_SMALL that divides n, or 0. The
 * primes are taken in groups whose product fits a BN_ULONG: one bignum
 * division per group (about 22 for 64-bit words) instead of one per prime
 * (131), then word arithmetic. About 6 us for a 2048-bit n.
 */
static unsigned
small_factor(const BIGNUM *n)
{
	unsigned char composite[CSR_RSA_SMALL];
	unsigned group[sizeof(BN_ULONG) * 8 / 2], p, q;
	BN_ULONG prod = 1, rem;
	size_t g = 0, i;
	int last;

	memset(composite, 0, sizeof(composite));
	for (p = 3;; p += 2) {
		last = p >= CSR_RSA_SMALL;
		if (!last && composite[p])
			continue;
		if (g > 0 && (last || g == sizeof(group) / sizeof(group[0]) ||
		    prod > (BN_ULONG)-1 / p)) {
			rem = BN_mod_word(n, prod);
			for (i = 0; i < g; i++)
				if (rem % group[i] == 0)
					return group[i];
			prod = 1;
			g = 0;
		}
		if (last)
			return 0;
		for (q = p * p; q < CSR_RSA_SMALL; q += 2 * p)
			composite[q] = 1;
		prod *= p;
		group[g++] = p;
	}
}

/* Whether a is a square modulo m (m small). */
static int
square_mod(unsigned long a, unsigned long m)
{
	unsigned long x;

	for (x = 0; x < m; x++)
		if (x * x % m == a)
			return 1;
	return 0;
}

/*
 * Whether n is a perfect square: n = p^2 is factored by a square root.
 * Squares modulo 64, 63, 65 and 11 let through about 1 modulus in 150
 * (one word division); those get an integer square root by Newton's
 * method (a dozen bignum divisions). Returns 1, 0, or -1 on failure.
 */
static int
is_square(const BIGNUM *n)
{
	static const unsigned long mods[] = { 64, 63, 65, 11 };
	BN_CTX *bc = BN_CTX_new();
	BIGNUM *x, *y, *q;
	BN_ULONG rem = BN_mod_word(n, 64UL * 63 * 65 * 11);
	size_t i;
	int sq = -1;

	if (bc == NULL || rem == (BN_ULONG)-1)
		goto out;
	for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
		if (!square_mod(rem % mods[i], mods[i])) {
			sq = 0;
			goto out;
		}
	BN_CTX_start(bc);
	x = BN_CTX_get(bc);
	y = BN_CTX_get(bc);
	q = BN_CTX_get(bc);
	/* x starts at 2^ceil(bits/2) > sqrt(n) and decreases to
	 * floor(sqrt(n)): y = (x + n / x) / 2 until y >= x. */
	if (q == NULL || !BN_set_bit(x, (BN_num_bits(n) + 1) / 2))
		goto end;
	for (;;) {
		if (!BN_div(q, NULL, n, x, bc) || !BN_add(y, x, q) ||
		    !BN_rshift1(y, y))
			goto end;
		if (BN_cmp(y, x) >= 0)
			break;
		if (!BN_copy(x, y))
			goto end;
	}
	if (!BN_sqr(y, x, bc))
		goto end;
	sq = BN_cmp(y, n) == 0;
end:
	BN_CTX_end(bc);
out:
	BN_CTX_free(bc);
	return sq;
}

/*
 * RSA: the size bounds; a public exponent that is odd and at least 65537
 * (e = 1 makes "signatures" anyone can forge, small ones invite the
 * classic attacks; AMT uses 65537) and below 2^256; an odd modulus
 * without small prime factors that is not a perfect square. These are the public key checks of SP
 * 800-56B 6.4.2.1 that OpenSSL's EVP_PKEY_public_check() makes, but for
 * its Miller-Rabin round ("not a prime power"): that one costs 3.5 ms
 * for a 2048-bit modulus, more than the issuing CA's signature, and would
 * halve the issuance rate for a fault no device key generator makes.
 */
static int
check_rsa(EVP_PKEY *pub, json_t *info)
{
	BIGNUM *e = NULL, *n = NULL;
	char *dec;
	int bits = EVP_PKEY_get_bits(pub), r = CUST_OK;
	unsigned p;

	json_object_set_new(info, "key_type", json_string("RSA"));
	json_object_set_new(info, "bits", json_integer(bits));
	if (bits < CSR_RSA_MIN)
		return cust_fail(CUST_E_INVAL, "the CSR has an RSA key of %d "
		    "bits, below the minimum of %d", bits, CSR_RSA_MIN);
	if (bits > CSR_RSA_MAX)
		return cust_fail(CUST_E_INVAL, "the CSR has an RSA key of %d "
		    "bits, over the maximum of %d", bits, CSR_RSA_MAX);
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n)) {
		r = ca_ossl_fail(CUST_E_INVAL, "the CSR's RSA key cannot be "
		    "read");
		goto out;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) > 256 ||
	    (BN_num_bits(e) <= 17 && BN_get_word(e) < 65537)) {
		dec = BN_bn2dec(e);
		r = cust_fail(CUST_E_INVAL, "the CSR's RSA key has public "
		    "exponent %.24s%s; an odd exponent from 65537 to 2^256 is "
		    "required", dec != NULL ? dec : "?",
		    dec != NULL && strlen(dec) > 24 ? "..." : "");
		OPENSSL_free(dec);
		goto out;
	}
	if (!BN_is_odd(n)) {
		r = cust_fail(CUST_E_INVAL, "the CSR's RSA modulus is even");
		goto out;
	}
	if ((p = small_factor(n)) != 0) {
		r = cust_fail(CUST_E_INVAL, "the CSR's RSA modulus has the "
		    "factor %u", p);
		goto out;
	}
	switch (is_square(n)) {
	case 0:
		break;
	case 1:
		r = cust_fail(CUST_E_INVAL, "the CSR's RSA modulus is a perfect "
		    "square (p * p): refused");
		break;
	default:
		r = ca_ossl_fail(CUST_E_NOMEM, "cannot check the CSR's RSA "
		    "modulus");
		break;
	}
out:
	ERR_clear_error();
	BN_free(e);
	BN_free(n);
	return r;
}

/* EC: a named curve of ours (explicit parameters are refused by the SPKI
 * check before this), and a point on it. */
static int
check_ec(EVP_PKEY *pub, json_t *info)
{
	EVP_PKEY_CTX *ctx = NULL;
	char group[64];
	size_t glen = 0, i;
	int ok;

	json_object_set_new(info, "key_type", json_string("EC"));
	if (!EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen)) {
		ERR_clear_error();
		return cust_fail(CUST_E_INVAL, "the CSR has an EC key without "
		    "a named curve (explicit parameters are not accepted)");
	}
	json_object_set_new(info, "curve", json_string(group));
	json_object_set_new(info, "bits", json_integer(EVP_PKEY_get_bits(pub)));
	for (i = 0; curves[i] != NULL; i++)
		if (strcmp(group, curves[i]) == 0)
			break;
	if (curves[i] == NULL)
		return cust_fail(CUST_E_INVAL, "the CSR has an EC key on curve "
		    "%s; accepted curves are P-256 and P-384", group);
	ok = (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) != NULL &&
	    EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? CUST_OK : ca_ossl_fail(CUST_E_INVAL, "the CSR's EC key "
	    "fails the public key check");
}

/*
 * The key of the request, as the certificate will carry it: the
 * subjectPublicKeyInfo is copied into the certificate byte for byte
 * (ca_issue.c), so its algorithm parameters must be what a relying party
 * expects: an OID naming the curve for EC, NULL (or absent) for RSA. An
 * EC key with explicit curve parameters is refused here, before anything
 * is written, even when OpenSSL recognises the curve in them.
 */
static int
check_key(X509_REQ *req, EVP_PKEY *pub, json_t *info)
{
	X509_PUBKEY *spki = X509_REQ_get_X509_PUBKEY(req);
	X509_ALGOR *pa = NULL;
	const ASN1_OBJECT *aobj;
	const void *pval;
	const char *type = EVP_PKEY_get0_type_name(pub);
	int ptype = V_ASN1_UNDEF, id = EVP_PKEY_get_base_id(pub);

	if (spki == NULL || !X509_PUBKEY_get0_param(NULL, NULL, NULL, &pa,
	    spki) || pa == NULL)
		return ca_ossl_fail(CUST_E_INVAL, "the CSR has no usable public "
		    "key");
	X509_ALGOR_get0(&aobj, &ptype, &pval, pa);
	switch (id) {
	case EVP_PKEY_RSA:
		if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
			return cust_fail(CUST_E_INVAL, "the CSR's RSA key has "
			    "algorithm parameters; RSA keys have none");
		return check_rsa(pub, info);
	case EVP_PKEY_EC:
		if (ptype != V_ASN1_OBJECT) {
			json_object_set_new(info, "key_type",
			    json_string("EC"));
			return cust_fail(CUST_E_INVAL, "the CSR has an EC key "
			    "with explicit curve parameters; only named "
			    "curves (P-256, P-384) are accepted");
		}
		return check_ec(pub, info);
	default:
		json_object_set_new(info, "key_type",
		    json_string(type != NULL ? type : "unknown"));
		return cust_fail(CUST_E_INVAL, "the CSR has a %s key; accepted "
		    "are RSA (%d to %d bits) and ECDSA P-256/P-384",
		    type != NULL ? type : "unsupported", CSR_RSA_MIN,
		    CSR_RSA_MAX);
	}
}

/* Compare one requested name with fqdn; record it in names. A DNS name
 * must be one even without fqdn: not an IPv4 address or a number, which
 * a certificate would otherwise carry as DNS:1.2.3.4. */
static int
check_name(const char *what, const unsigned char *s, int n, const char *fqdn,
    json_t *names)
{
	char shown[CUST_MAX_FQDN + 2];

	safe_text(s, n < 0 ? 0 : (size_t)n, shown, sizeof(shown));
	json_array_append_new(names, json_string(shown));
	if (strcmp(what, "DNS name") == 0 && (n < 0 || (size_t)n !=
	    strlen(shown) || util_valid_fqdn(shown) != CUST_OK))
		return cust_fail(CUST_E_INVAL, "the CSR asks for DNS name "
		    "\"%.80s\", which is not a host name (an address or a "
		    "number is not): refused", shown);
	if (fqdn == NULL)
		return CUST_OK;
	if (n < 0 || (size_t)n != strlen(fqdn) || memchr(s, '\0', (size_t)n) ||
	    strncasecmp((const char *)s, fqdn, (size_t)n) != 0)
		return cust_fail(CUST_E_INVAL, "the CSR asks for %s \"%.80s\" "
		    "but the device is %s: refused", what, shown, fqdn);
	return CUST_OK;
}

static int
check_names(X509_REQ *req, const char *fqdn, json_t *info)
{
	X509_NAME *subj = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	json_t *names = json_array();
	char *text;
	int i, r = CUST_E_INTERNAL, crit = 0;

	if (names == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_object_set_new(info, "names", names);
	if ((text = ca_name_text(subj)) != NULL) {
		char shown[256];

		safe_text((unsigned char *)text, strlen(text), shown,
		    sizeof(shown));
		json_object_set_new(info, "subject", json_string(shown));
		free(text);
	}
	for (i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName,
	    i)) >= 0;) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i));
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, d);

		if (n < 0)
			return ca_ossl_fail(CUST_E_PARSE, "the CSR subject has "
			    "an undecodable CN");
		r = check_name("CN", u, n, fqdn, names);
		OPENSSL_free(u);
		if (r != CUST_OK)
			return r;
	}
	ERR_clear_error();
	exts = X509_REQ_get_extensions(req);
	if (exts == NULL && ERR_peek_error() != 0)
		return ca_ossl_fail(CUST_E_PARSE, "the CSR has malformed "
		    "extensions");
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit != -1) {
		/* -1: absent; anything else without a value is malformed. */
		r = ca_ossl_fail(CUST_E_PARSE, "the CSR has a malformed "
		    "subjectAltName");
		goto out;
	}
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_DNS) {
			r = cust_fail(CUST_E_INVAL, "the CSR asks for a "
			    "subjectAltName that is not a DNS name; only the "
			    "device's FQDN is issued: refused");
			goto out;
		}
		r = check_name("DNS name", ASN1_STRING_get0_data(g->d.dNSName),
		    ASN1_STRING_length(g->d.dNSName), fqdn, names);
		if (r != CUST_OK)
			goto out;
	}
	r = CUST_OK;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

int
ca_csr_parse(const void *buf, size_t len, const char *fqdn,
    X509_REQ **req_out, json_t **info_out)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	json_t *info = NULL;
	BIO *b = NULL;
	const char *begin;
	int r = CUST_E_INTERNAL, v;

	*req_out = NULL;
	if (info_out != NULL)
		*info_out = NULL;
	if (len > CA_CSR_MAX)
		return cust_fail(CUST_E_TOOBIG, "the CSR is over the limit of "
		    "%d bytes", CA_CSR_MAX);
	if (buf == NULL || len == 0)
		return cust_fail(CUST_E_PARSE, "the CSR is empty");
	ERR_clear_error();
	if ((begin = memmem(buf, len, "-----BEGIN", 10)) != NULL) {
		/* One request per file: with two, which one is meant? (A
		 * DER request with trailing data is refused alike.) */
		if (memmem(begin + 10, len - (size_t)(begin - (const char *)buf)
		    - 10, "-----BEGIN", 10) != NULL)
			return cust_fail(CUST_E_PARSE, "the PEM file holds more "
			    "than one block; give one certificate request");
		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
			return ca_ossl_fail(CUST_E_NOMEM, "out of memory");
		req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
		if (req == NULL)
			return ca_ossl_fail(CUST_E_PARSE, "not a PEM "
			    "certificate request");
	} else {
		const unsigned char *p = buf;

		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req == NULL)
			return ca_ossl_fail(CUST_E_PARSE, "not a certificate "
			    "request (neither PEM nor DER)");
		if (p != (const unsigned char *)buf + len) {
			r = cust_fail(CUST_E_PARSE, "the DER CSR has %zu bytes "
			    "of trailing data", len - (size_t)(p -
			    (const unsigned char *)buf));
			goto out;
		}
	}
	if ((info = json_object()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL) {
		r = ca_ossl_fail(CUST_E_INVAL, "the CSR has no usable public "
		    "key");
		goto out;
	}
	if ((r = check_key(req, pub, info)) != CUST_OK)
		goto out;
	if ((v = X509_REQ_verify(req, pub)) != 1) {
		r = ca_ossl_fail(CUST_E_INVAL, "the CSR signature does not "
		    "verify: refused");
		goto out;
	}
	if ((r = check_names(req, fqdn, info)) != CUST_OK)
		goto out;
	*req_out = req;
	req = NULL;
	if (info_out != NULL) {
		*info_out = info;
		info = NULL;
	}
	r = CUST_OK;
out:
	ERR_clear_error();
	json_decref(info);
	X509_REQ_free(req);
	return r;
}

int
ca_csr_check(const void *buf, size_t len, const char *fqdn,
    json_t **info_out)
{
	X509_REQ *req = NULL;
	int r;

	r = ca_csr_parse(buf, len, fqdn, &req, info_out);
	X509_REQ_free(req);
	return r;
}
