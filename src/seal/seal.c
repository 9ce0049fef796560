/* SPDX-License-Identifier: MIT */
/* src/seal/seal.c - secret buffers and XChaCha20-Poly1305 envelope sealing.
 *
 * Sealed blob layout: nonce (24) || ciphertext || tag (16). The data key is
 * sealed the same way under the master key, with a fixed associated data
 * string, so a wrong master key is detected by the tag, not by guesswork.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"

#define NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define DATAKEY_AD "custody:v1:datakey"

struct seal_secret {
	size_t len;
	unsigned char *p;	/* sodium_malloc'd, len + 1 bytes */
};

struct seal {
	struct seal_secret *key;	/* the data key */
	const struct seal_keysrc_ops *src;	/* where the master key came from */
};

struct seal_secret *
seal_secret_new(size_t len)
{
	struct seal_secret *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->p = sodium_malloc(len + 1)) == NULL) {
		free(s);
		return NULL;
	}
	memset(s->p, 0, len + 1);
	s->len = len;
	return s;
}

struct seal_secret *
seal_secret_dup(const void *p, size_t len)
{
	struct seal_secret *s = seal_secret_new(len);

	if (s != NULL && len > 0)
		memcpy(s->p, p, len);
	return s;
}

unsigned char *
seal_secret_data(struct seal_secret *s)
{
	return s->p;
}

const char *
seal_secret_str(const struct seal_secret *s)
{
	return (const char *)s->p;
}

size_t
seal_secret_len(const struct seal_secret *s)
{
	return s->len;
}

void
seal_secret_free(struct seal_secret *s)
{
	if (s == NULL)
		return;
	sodium_free(s->p);	/* wipes before unmapping */
	free(s);
}

static int
aead_seal(const unsigned char *key, const void *pt, size_t len,
    const void *ad, size_t adlen, unsigned char *out)
{
	randombytes_buf(out, NONCEBYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCEBYTES, NULL,
	    pt, len, ad, adlen, NULL, out, key) != 0)
		return cust_fail(CUST_E_CRYPTO, "sealing failed");
	return CUST_OK;
}

static int
aead_open(const unsigned char *key, const unsigned char *ct, size_t ctlen,
    const void *ad, size_t adlen, struct seal_secret **pt_out)
{
	struct seal_secret *pt;
	size_t len;

	*pt_out = NULL;
	if (ctlen < SEAL_OVERHEAD)
		return cust_fail(CUST_E_CRYPTO, "sealed value is truncated");
	len = ctlen - SEAL_OVERHEAD;
	if ((pt = seal_secret_new(len)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of secure memory");
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt->p, NULL, NULL,
	    ct + NONCEBYTES, ctlen - NONCEBYTES, ad, adlen, ct, key) != 0) {
		seal_secret_free(pt);
		return cust_fail(CUST_E_CRYPTO, "sealed value failed "
		    "authentication (tampered, swapped or wrong key)");
	}
	*pt_out = pt;
	return CUST_OK;
}

int
seal_create_datakey(const struct seal_keysrc_ops *src, const char *state_dir,
    unsigned char **wrapped_out, size_t *wlen_out)
{
	struct seal_secret *mk = NULL, *dk = NULL;
	unsigned char *w = NULL;
	int r;

	*wrapped_out = NULL;
	*wlen_out = 0;
	if ((r = src->load(state_dir, &mk)) != CUST_OK)
		goto out;
	if (seal_secret_len(mk) != SEAL_KEYBYTES) {
		r = cust_fail(CUST_E_SEALED, "master key has the wrong size");
		goto out;
	}
	if ((dk = seal_secret_new(SEAL_KEYBYTES)) == NULL ||
	    (w = malloc(SEAL_OVERHEAD + SEAL_KEYBYTES)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	crypto_aead_xchacha20poly1305_ietf_keygen(dk->p);
	if ((r = aead_seal(mk->p, dk->p, SEAL_KEYBYTES, DATAKEY_AD,
	    strlen(DATAKEY_AD), w)) != CUST_OK)
		goto out;
	*wrapped_out = w;
	*wlen_out = SEAL_OVERHEAD + SEAL_KEYBYTES;
	w = NULL;
out:
	free(w);
	seal_secret_free(dk);
	seal_secret_free(mk);
	return r;
}

int
seal_open(const struct seal_keysrc_ops *src, const char *state_dir,
    const unsigned char *wrapped, size_t wlen, struct seal **seal_out)
{
	struct seal_secret *mk = NULL, *dk = NULL;
	struct seal *s = NULL;
	int r;

	*seal_out = NULL;
	if ((r = src->load(state_dir, &mk)) != CUST_OK)
		goto out;
	if (seal_secret_len(mk) != SEAL_KEYBYTES) {
		r = cust_fail(CUST_E_SEALED, "master key has the wrong size");
		goto out;
	}
	if (aead_open(mk->p, wrapped, wlen, DATAKEY_AD, strlen(DATAKEY_AD),
	    &dk) != CUST_OK || seal_secret_len(dk) != SEAL_KEYBYTES) {
		r = cust_fail(CUST_E_SEALED, "the master key does not unseal "
		    "this store (wrong key, or the store's key record is "
		    "damaged)");
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	s->key = dk;
	s->src = src;
	dk = NULL;
	*seal_out = s;
	r = CUST_OK;
out:
	seal_secret_free(dk);
	seal_secret_free(mk);
	return r;
}

const char *
seal_source(const struct seal *s)
{
	return s != NULL ? s->src->name : NULL;
}

void
seal_free(struct seal *s)
{
	if (s == NULL)
		return;
	seal_secret_free(s->key);
	free(s);
}

int
seal_encrypt_buf(struct seal *s, const void *pt, size_t len, const void *ad,
    size_t adlen, unsigned char *ct)
{
	return aead_seal(s->key->p, pt, len, ad, adlen, ct);
}

int
seal_encrypt(struct seal *s, const void *pt, size_t len, const void *ad,
    size_t adlen, unsigned char **ct_out, size_t *ctlen_out)
{
	unsigned char *ct;
	int r;

	*ct_out = NULL;
	*ctlen_out = 0;
	if (len > SIZE_MAX - SEAL_OVERHEAD)
		return cust_fail(CUST_E_TOOBIG, "value too large to seal");
	if ((ct = malloc(SEAL_OVERHEAD + len)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = seal_encrypt_buf(s, pt, len, ad, adlen, ct)) != CUST_OK) {
		free(ct);
		return r;
	}
	*ct_out = ct;
	*ctlen_out = SEAL_OVERHEAD + len;
	return CUST_OK;
}

int
seal_decrypt(struct seal *s, const unsigned char *ct, size_t ctlen,
    const void *ad, size_t adlen, struct seal_secret **pt_out)
{
	return aead_open(s->key->p, ct, ctlen, ad, adlen, pt_out);
}

int
seal_derive(struct seal *s, const char ctx[8], uint64_t id, size_t len,
    struct seal_secret **out)
{
	struct seal_secret *k;

	*out = NULL;
	if (len < crypto_kdf_BYTES_MIN || len > crypto_kdf_BYTES_MAX)
		return cust_fail(CUST_E_INVAL, "bad derived key length");
	if ((k = seal_secret_new(len)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of secure memory");
	if (crypto_kdf_derive_from_key(k->p, len, id, ctx, s->key->p) != 0) {
		seal_secret_free(k);
		return cust_fail(CUST_E_CRYPTO, "key derivation failed");
	}
	*out = k;
	return CUST_OK;
}

size_t
seal_ad(char *buf, size_t len, const char *table, int64_t id,
    const char *kind, int64_t version)
{
	int n = snprintf(buf, len, "custody:v1:%s:%lld:%s:%lld", table,
	    (long long)id, kind, (long long)version);

	if (n < 0 || (size_t)n >= len)
		return 0;
	return (size_t)n;
}
