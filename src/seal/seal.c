/* SPDX-License-Identifier: MIT */
/* src/seal/seal.c - secret buffers and XChaCha20-Poly1305 envelope sealing.
 *
 * Sealed blob layout: nonce (24) || ciphertext || tag (16). The data key is
 * sealed the same way under the master key, with a fixed associated data
 * string, so a wrong master key is detected by the tag, not by guesswork.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"

#define NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define DATAKEY_AD "custody:v1:datakey"

/*
 * Secret memory. Unsealing used to take one sodium_malloc() region per
 * value: guard pages, mlock, canary, then munmap on free, about ten
 * system calls per secret (password verify at 100k devices spent most of
 * its time in the kernel). Small secrets (passwords, keys: up to
 * POOL_SLOT - 1 bytes) now come from a pool per thread: one sodium_malloc
 * region (guard pages around it, mlocked, never swapped) of POOL_SLOTS
 * slots, taken and given back with no system call. A slot is wiped when
 * it is given back. What the pool does not give: no guard page between
 * two slots of one pool, so a write past a secret's end reaches its
 * neighbour (custody writes secrets through their length only).
 *
 * Slots are taken by the pool's own thread only; any thread may give one
 * back (a secret handed to another thread), hence the atomics. A pool
 * lives while its thread does or while any of its slots is in use,
 * whichever is longer: `refs` counts the slots in use plus one for the
 * thread, and whoever drops it to zero frees the region.
 *
 * Larger secrets (CA keys) still get a region each. The data key and the
 * keys derived from it (seal_derive(): the audit chain key, the row-MAC
 * key, the counter key) share one region per seal, kept
 * sodium_mprotect_noaccess() except while held (seal_hold()): one hold
 * makes all of them readable, so a read that checks a row MAC and
 * unseals, or an audit batch that hashes and MACs, costs one pair of
 * mprotect(2) calls, not one per key.
 */
#define POOL_SLOT	128
#define POOL_SLOTS	512		/* 64 KiB */
#define POOL_WORDS	(POOL_SLOTS / 64)

struct pool {
	unsigned char *mem;		/* sodium_malloc'd, POOL_SLOT each */
	_Atomic uint64_t used[POOL_WORDS];	/* one bit per slot */
	_Atomic long refs;		/* slots in use + 1 for the thread */
};

struct seal_secret {
	size_t len;
	unsigned char *p;	/* len + 1 bytes, in a pool or a region */
	struct pool *pool;	/* NULL: p is its own sodium_malloc region */
	struct seal *owner;	/* a derived key in owner's region */
};

/* The seal's region: the data key, then SEAL_DSLOTS slots of derived
 * keys (up to crypto_kdf_BYTES_MAX + NUL each). */
#define DSLOTS		8
#define DSLOT		72
#define REGION_LEN	(SEAL_KEYBYTES + DSLOTS * DSLOT)

struct seal {
	struct seal_secret *key;	/* the region; data key first */
	const struct seal_keysrc_ops *src;	/* where the master key came from */
	pthread_mutex_t lock;		/* guards everything below */
	long users;			/* holders; noaccess when 0 */
	long refs;			/* 1 until seal_free(), + derived keys */
	unsigned dused;			/* derived-key slots in use */
};

static void seal_unref(struct seal *s);
static void derived_free(struct seal_secret *k);

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_key_t pool_key;
static int pool_key_ok;
static _Thread_local struct pool *tpool;
/* Counters for tests and benchmarks (seal_pool_stats(),
 * seal_protect_count()). */
static _Atomic unsigned long n_regions, n_pools, n_protect;

/* Change the protection of a seal's key region (the data key and the
 * keys derived from it): one mprotect(2), counted. */
#define RP_NOACCESS	0
#define RP_READONLY	1
#define RP_READWRITE	2
static void
region_protect(struct seal *s, int mode)
{
	atomic_fetch_add_explicit(&n_protect, 1, memory_order_relaxed);
	if (mode == RP_NOACCESS)
		sodium_mprotect_noaccess(s->key->p);
	else if (mode == RP_READONLY)
		sodium_mprotect_readonly(s->key->p);
	else
		sodium_mprotect_readwrite(s->key->p);
}

static void
pool_unref(struct pool *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1) {
		sodium_free(p->mem);
		free(p);
	}
}

/* Thread exit: the thread's reference goes. */
static void
pool_thread_end(void *arg)
{
	pool_unref(arg);
}

static void
pool_key_init(void)
{
	pool_key_ok = pthread_key_create(&pool_key, pool_thread_end) == 0;
}

/* This thread's pool, made on first use; NULL when none can be had (the
 * caller then takes a region of its own). */
static struct pool *
pool_get(void)
{
	struct pool *p;

	if (tpool != NULL)
		return tpool;
	pthread_once(&pool_once, pool_key_init);
	if (!pool_key_ok || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->mem = sodium_malloc(POOL_SLOT * POOL_SLOTS)) == NULL) {
		free(p);
		return NULL;
	}
	atomic_store(&p->refs, 1);
	if (pthread_setspecific(pool_key, p) != 0) {
		sodium_free(p->mem);
		free(p);
		return NULL;
	}
	atomic_fetch_add(&n_pools, 1);
	tpool = p;
	return p;
}

/* A free slot of this thread's pool, or NULL (full, or no pool). */
static unsigned char *
slot_take(struct pool **pool_out)
{
	struct pool *p = pool_get();
	uint64_t v;
	int w, bit;

	*pool_out = NULL;
	if (p == NULL)
		return NULL;
	for (w = 0; w < POOL_WORDS; w++) {
		v = atomic_load(&p->used[w]);
		while (~v != 0) {
			bit = __builtin_ctzll(~v);
			if (atomic_compare_exchange_weak(&p->used[w], &v,
			    v | (UINT64_C(1) << bit))) {
				atomic_fetch_add(&p->refs, 1);
				*pool_out = p;
				return p->mem + (size_t)(w * 64 + bit) *
				    POOL_SLOT;
			}
		}
	}
	return NULL;
}

static void
slot_give(struct pool *p, unsigned char *mem)
{
	size_t i = (size_t)(mem - p->mem) / POOL_SLOT;

	atomic_fetch_and(&p->used[i / 64], ~(UINT64_C(1) << (i % 64)));
	pool_unref(p);
}

/* A secret of len bytes (+ NUL), zeroed: from the pool unless own_region
 * (a key to be kept sodium_mprotect_noaccess) or too large. */
static struct seal_secret *
secret_new(size_t len, int own_region)
{
	struct seal_secret *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (!own_region && len < POOL_SLOT)
		s->p = slot_take(&s->pool);
	if (s->p == NULL) {
		if ((s->p = sodium_malloc(len + 1)) == NULL) {
			free(s);
			return NULL;
		}
		atomic_fetch_add(&n_regions, 1);
	}
	memset(s->p, 0, len + 1);
	s->len = len;
	return s;
}

struct seal_secret *
seal_secret_new(size_t len)
{
	return secret_new(len, 0);
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
	if (s->owner != NULL) {
		derived_free(s);
		return;
	}
	if (s->pool != NULL) {
		sodium_memzero(s->p, s->len + 1);
		slot_give(s->pool, s->p);
	} else
		sodium_free(s->p);	/* wipes before unmapping */
	free(s);
}

void
seal_pool_stats(unsigned long *regions_out, unsigned long *pools_out)
{
	*regions_out = atomic_load(&n_regions);
	*pools_out = atomic_load(&n_pools);
}

unsigned long
seal_protect_count(void)
{
	return atomic_load(&n_protect);
}

/*
 * The data key is readable only while someone uses it: seal_hold() makes
 * it readable for the first holder, seal_release() noaccess again after
 * the last (two mprotect(2) calls per outermost hold). A bulk loop holds
 * it once around the loop; every single operation holds it for itself.
 */
void
seal_hold(struct seal *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->users++ == 0)
		region_protect(s, RP_READONLY);
	pthread_mutex_unlock(&s->lock);
}

void
seal_release(struct seal *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->users == 0)
		region_protect(s, RP_NOACCESS);
	pthread_mutex_unlock(&s->lock);
}

void
seal_secret_hold(struct seal_secret *k)
{
	if (k != NULL && k->owner != NULL)
		seal_hold(k->owner);
}

void
seal_secret_release(struct seal_secret *k)
{
	if (k != NULL && k->owner != NULL)
		seal_release(k->owner);
}

/* With s->lock held: the region writable, then back as the holders need
 * it. */
static void
region_writable(struct seal *s)
{
	region_protect(s, RP_READWRITE);
}

static void
region_restore(struct seal *s)
{
	if (s->users > 0)
		region_protect(s, RP_READONLY);
	else
		region_protect(s, RP_NOACCESS);
}

/* Wipe a derived key's slot and give it back. */
static void
derived_free(struct seal_secret *k)
{
	struct seal *s = k->owner;
	size_t slot = (size_t)(k->p - s->key->p - SEAL_KEYBYTES) / DSLOT;

	pthread_mutex_lock(&s->lock);
	region_writable(s);
	sodium_memzero(k->p, DSLOT);
	region_restore(s);
	s->dused &= ~(1U << slot);
	pthread_mutex_unlock(&s->lock);
	free(k);
	seal_unref(s);
}

/* Drop a reference; the last one wipes and frees the region. */
static void
seal_unref(struct seal *s)
{
	long left;

	pthread_mutex_lock(&s->lock);
	left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left > 0)
		return;
	region_protect(s, RP_READWRITE);	/* sodium_free wipes it */
	seal_secret_free(s->key);
	pthread_mutex_destroy(&s->lock);
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
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->key = secret_new(REGION_LEN, 1)) == NULL) {
		free(s);
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(s->key->p, dk->p, SEAL_KEYBYTES);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		seal_secret_free(s->key);
		free(s);
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	region_protect(s, RP_NOACCESS);
	s->refs = 1;
	s->src = src;
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
	seal_unref(s);	/* the region stays while derived keys do */
}

int
seal_encrypt_buf(struct seal *s, const void *pt, size_t len, const void *ad,
    size_t adlen, unsigned char *ct)
{
	int r;

	seal_hold(s);
	r = aead_seal(s->key->p, pt, len, ad, adlen, ct);
	seal_release(s);
	return r;
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
	int r;

	seal_hold(s);
	r = aead_open(s->key->p, ct, ctlen, ad, adlen, pt_out);
	seal_release(s);
	return r;
}

int
seal_derive(struct seal *s, const char ctx[8], uint64_t id, size_t len,
    struct seal_secret **out)
{
	struct seal_secret *k;
	unsigned slot;
	int rc;

	*out = NULL;
	if (len < crypto_kdf_BYTES_MIN || len > crypto_kdf_BYTES_MAX ||
	    len >= DSLOT)
		return cust_fail(CUST_E_INVAL, "bad derived key length");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	pthread_mutex_lock(&s->lock);
	for (slot = 0; slot < DSLOTS && (s->dused & (1U << slot)); slot++)
		;
	if (slot == DSLOTS) {
		pthread_mutex_unlock(&s->lock);
		free(k);
		return cust_fail(CUST_E_NOMEM, "too many keys derived from "
		    "one data key at once");
	}
	k->p = s->key->p + SEAL_KEYBYTES + (size_t)slot * DSLOT;
	k->len = len;
	region_writable(s);
	rc = crypto_kdf_derive_from_key(k->p, len, id, ctx, s->key->p);
	if (rc != 0)
		sodium_memzero(k->p, DSLOT);
	region_restore(s);
	if (rc != 0) {
		pthread_mutex_unlock(&s->lock);
		free(k);
		return cust_fail(CUST_E_CRYPTO, "key derivation failed");
	}
	s->dused |= 1U << slot;
	s->refs++;
	k->owner = s;
	pthread_mutex_unlock(&s->lock);
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
