/* SPDX-License-Identifier: MIT */
/* include/seal.h - envelope encryption of secret values (libsodium).
 *
 * Every secret value is sealed with XChaCha20-Poly1305 under one data key;
 * associated data binds a sealed value to its record, kind and version so
 * that rows cannot be swapped. The data key is itself sealed ("wrapped") by a
 * master key that comes from a key source (a key file now; a passphrase,
 * Shamir shares or a PKCS#11 token later) behind struct seal_keysrc_ops.
 *
 * Secret plaintext only ever lives in struct seal_secret: sodium_malloc'd,
 * guard-paged, mlocked where possible, wiped by seal_secret_free().
 */
#ifndef CUST_SEAL_H
#define CUST_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEYBYTES		32
/* Sealed blob: 24-byte nonce || ciphertext || 16-byte tag. */
#define SEAL_OVERHEAD		(24 + 16)

struct seal_secret;
struct seal;

/* New zero-filled secret buffer of len bytes (len may be 0); free with
 * seal_secret_free(). NULL on allocation failure. The buffer always has one
 * extra NUL byte after len so text secrets can be used as C strings. */
struct seal_secret *seal_secret_new(size_t len);

/* New secret holding a copy of p[0..len). */
struct seal_secret *seal_secret_dup(const void *p, size_t len);

/* Borrowed pointer to the bytes; valid until seal_secret_free(). */
unsigned char *seal_secret_data(struct seal_secret *s);
const char *seal_secret_str(const struct seal_secret *s);
size_t seal_secret_len(const struct seal_secret *s);

/* Wipe and free; NULL is a no-op. Any thread may free a secret. */
void seal_secret_free(struct seal_secret *s);

/* Secrets shorter than 127 bytes come from a guarded pool per thread (no
 * system call); larger ones get a sodium_malloc region each
 * (doc/internals/SECRETS.md). How many regions were made for single
 * secrets, and how many pools, since the process started: for tests and
 * benchmarks. */
void seal_pool_stats(unsigned long *regions_out, unsigned long *pools_out);
/* How many times the protection of a seal's key region (the data key and
 * its derived keys, noaccess while nobody holds them) was changed since
 * the process started: each is one mprotect(2) and, in a threaded
 * process, a TLB shootdown. For tests and benchmarks. */
unsigned long seal_protect_count(void);

/*
 * A master-key source. create() makes new key material under state_dir
 * (refusing to overwrite); load() fills key with the master key, checking
 * the material's permissions first (CUST_E_PERM when looser than 0600 or
 * owned by someone else, CUST_E_SEALED when missing or unusable).
 */
struct seal_keysrc_ops {
	const char *name;
	int (*create)(const char *state_dir);
	int (*load)(const char *state_dir, struct seal_secret **key_out);
};

/* The key-file source: DIR/seal/master.key, 32 random bytes, mode 0600. */
extern const struct seal_keysrc_ops seal_keysrc_file;

/* Make a new data key, wrap it with the master key from src and return the
 * wrapped blob (new, free with free()) for the store to keep. */
int seal_create_datakey(const struct seal_keysrc_ops *src,
    const char *state_dir, unsigned char **wrapped_out, size_t *wlen_out)
	__attribute__((warn_unused_result));

/* Unwrap the data key: new struct seal, free with seal_free(). A wrong
 * master key or a tampered blob gives CUST_E_SEALED. */
int seal_open(const struct seal_keysrc_ops *src, const char *state_dir,
    const unsigned char *wrapped, size_t wlen, struct seal **seal_out)
	__attribute__((warn_unused_result));

void seal_free(struct seal *s);

/* The data key is kept sodium_mprotect_noaccess while nobody uses it; every
 * operation below makes it readable for its own duration. A bulk loop
 * (verify, rotation batches) holds it once around the loop instead:
 * seal_hold() ... seal_release(), nested and across threads (counted). */
void seal_hold(struct seal *s);
void seal_release(struct seal *s);

/* The name of the key source s was unsealed with ("file"), or NULL when
 * s is NULL (sealed). Static. */
const char *seal_source(const struct seal *s);

/* Seal len bytes of pt with associated data ad. *ct_out is new (free()),
 * SEAL_OVERHEAD + len bytes. */
int seal_encrypt(struct seal *s, const void *pt, size_t len,
    const void *ad, size_t adlen, unsigned char **ct_out, size_t *ctlen_out)
	__attribute__((warn_unused_result));

/* Seal into a caller buffer of at least SEAL_OVERHEAD + len bytes. */
int seal_encrypt_buf(struct seal *s, const void *pt, size_t len,
    const void *ad, size_t adlen, unsigned char *ct)
	__attribute__((warn_unused_result));

/* Open a sealed blob; any change to ct, nonce or ad gives CUST_E_CRYPTO.
 * *pt_out is a new secret. */
int seal_decrypt(struct seal *s, const unsigned char *ct, size_t ctlen,
    const void *ad, size_t adlen, struct seal_secret **pt_out)
	__attribute__((warn_unused_result));

/* Derive a subkey (16..64 bytes) for a purpose named by an 8-char context
 * (e.g. "auditmac") from the data key; out is a new secret, free with
 * seal_secret_free() (before or after seal_free(s)). It lives in s's
 * region, noaccess like the data key: its bytes may be read only between
 * seal_secret_hold(out) and seal_secret_release(out) (or while s is held
 * by seal_hold(): one hold covers the data key and every key derived from
 * it). At most 8 derived keys of one seal exist at once. */
int seal_derive(struct seal *s, const char ctx[8], uint64_t id, size_t len,
    struct seal_secret **out) __attribute__((warn_unused_result));

/* Hold a derived key readable (its seal's region: seal_hold()); nested,
 * counted, any thread. No-op for a secret that is not a derived key. */
void seal_secret_hold(struct seal_secret *k);
void seal_secret_release(struct seal_secret *k);

/* Build the associated data that binds a sealed value to its record:
 * "custody:v1:<table>:<id>:<kind>:<version>" into buf; returns its length
 * or 0 when it does not fit. */
size_t seal_ad(char *buf, size_t len, const char *table, int64_t id,
    const char *kind, int64_t version);

/*
 * The rollback counter (src/seal/counter.c): DIR/seal/counter records the
 * newest committed point of the audit chain (seq and entry hash), MAC'd
 * with a key derived from the data key, outside the store. read:
 * CUST_E_NOTFOUND when there is no file, CUST_E_DB when no slot of it
 * verifies (damaged, forged, or another store's). write: records (seq,
 * hash) durably (fdatasync) unless the file already holds seq or newer;
 * force records it even when older (a new store, a deliberate restore).
 */
#define SEAL_COUNTER_HASHLEN 32
int seal_counter_read(struct seal *s, const char *dir, int64_t *seq_out,
    unsigned char hash_out[SEAL_COUNTER_HASHLEN])
	__attribute__((warn_unused_result));
int seal_counter_write(struct seal *s, const char *dir, int64_t seq,
    const unsigned char hash[SEAL_COUNTER_HASHLEN], int force)
	__attribute__((warn_unused_result));

/*
 * A handle for a thread that writes the counter again and again
 * (custodyd's counter thread): the file stays open and its key derived
 * between writes. put is write's behaviour exactly (each put reads the
 * file again under its lock, and opens the path again when the file it
 * holds was removed). A handle is one thread's at a time; free(NULL) is
 * a no-op. write is new, put, free.
 */
struct seal_counter;
int seal_counter_new(struct seal *s, const char *dir,
    struct seal_counter **out) __attribute__((warn_unused_result));
int seal_counter_put(struct seal_counter *c, int64_t seq,
    const unsigned char hash[SEAL_COUNTER_HASHLEN], int force)
	__attribute__((warn_unused_result));
void seal_counter_free(struct seal_counter *c);

#endif
