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
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "ca_int.h"

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

static int
check_key(EVP_PKEY *pub, json_t *info)
{
	char group[64];
	size_t glen = 0, i;
	int bits;

	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pub);
		json_object_set_new(info, "key_type", json_string("RSA"));
		json_object_set_new(info, "bits", json_integer(bits));
		if (bits < CSR_RSA_MIN)
			return cust_fail(CUST_E_INVAL, "the CSR has an RSA key "
			    "of %d bits, below the minimum of %d", bits,
			    CSR_RSA_MIN);
		if (bits > CSR_RSA_MAX)
			return cust_fail(CUST_E_INVAL, "the CSR has an RSA key "
			    "of %d bits, over the maximum of %d", bits,
			    CSR_RSA_MAX);
		return CUST_OK;
	case EVP_PKEY_EC:
		json_object_set_new(info, "key_type", json_string("EC"));
		if (!EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen)) {
			ERR_clear_error();
			return cust_fail(CUST_E_INVAL, "the CSR has an EC key "
			    "without a named curve (explicit parameters are "
			    "not accepted)");
		}
		json_object_set_new(info, "curve", json_string(group));
		json_object_set_new(info, "bits",
		    json_integer(EVP_PKEY_get_bits(pub)));
		for (i = 0; curves[i] != NULL; i++)
			if (strcmp(group, curves[i]) == 0)
				return CUST_OK;
		return cust_fail(CUST_E_INVAL, "the CSR has an EC key on curve "
		    "%s; accepted curves are P-256 and P-384", group);
	default:
		json_object_set_new(info, "key_type",
		    json_string(EVP_PKEY_get0_type_name(pub) ?
		    EVP_PKEY_get0_type_name(pub) : "unknown"));
		return cust_fail(CUST_E_INVAL, "the CSR has a %s key; accepted "
		    "are RSA (%d to %d bits) and ECDSA P-256/P-384",
		    EVP_PKEY_get0_type_name(pub) ?
		    EVP_PKEY_get0_type_name(pub) : "unsupported", CSR_RSA_MIN,
		    CSR_RSA_MAX);
	}
}

/* Compare one requested name with fqdn; record it in names. */
static int
check_name(const char *what, const unsigned char *s, int n, const char *fqdn,
    json_t *names)
{
	char shown[80];

	safe_text(s, n < 0 ? 0 : (size_t)n, shown, sizeof(shown));
	json_array_append_new(names, json_string(shown));
	if (fqdn == NULL)
		return CUST_OK;
	if (n < 0 || (size_t)n != strlen(fqdn) || memchr(s, '\0', (size_t)n) ||
	    strncasecmp((const char *)s, fqdn, (size_t)n) != 0)
		return cust_fail(CUST_E_INVAL, "the CSR asks for %s \"%s\" but "
		    "the device is %s: refused", what, shown, fqdn);
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
	int r = CUST_E_INTERNAL, v;

	*req_out = NULL;
	if (info_out != NULL)
		*info_out = NULL;
	if (len > CA_CSR_MAX)
		return cust_fail(CUST_E_TOOBIG, "the CSR is %zu bytes, over the "
		    "limit of %d", len, CA_CSR_MAX);
	if (buf == NULL || len == 0)
		return cust_fail(CUST_E_PARSE, "the CSR is empty");
	ERR_clear_error();
	if (memmem(buf, len, "-----BEGIN", 10) != NULL) {
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
	if ((r = check_key(pub, info)) != CUST_OK)
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
