/* SPDX-License-Identifier: MIT */
/* tests/unit/seal/test_seal.c - envelope sealing and the key file. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"
#include "state.h"
#include "testutil.h"
#include "util.h"

static void
test_roundtrip(void **state)
{
	struct tu_fx *f = *state;
	struct seal_secret *pt = NULL;
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	char ad[64];
	size_t adlen = seal_ad(ad, sizeof(ad), "secret", 7, "admin", 3);

	assert_string_equal(ad, "custody:v1:secret:7:admin:3");
	assert_int_equal(seal_encrypt(state_seal(f->st), "hunter2!A", 9, ad,
	    adlen, &ct, &ctlen), CUST_OK);
	assert_int_equal(ctlen, 9 + SEAL_OVERHEAD);
	assert_null(memmem(ct, ctlen, "hunter2!A", 9));
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, ctlen, ad, adlen,
	    &pt), CUST_OK);
	assert_int_equal(seal_secret_len(pt), 9);
	assert_string_equal(seal_secret_str(pt), "hunter2!A");
	seal_secret_free(pt);
	free(ct);
}

/* Flipping any bit of nonce, ciphertext or tag, or changing the
 * associated data (another record, kind or version) is refused. */
static void
test_tamper(void **state)
{
	struct tu_fx *f = *state;
	struct seal_secret *pt = NULL;
	unsigned char *ct = NULL;
	size_t ctlen = 0, i;
	char ad[64], ad2[64];
	size_t adlen = seal_ad(ad, sizeof(ad), "secret", 7, "admin", 3), ad2len;

	assert_int_equal(seal_encrypt(state_seal(f->st), "Secr3t!x", 8, ad,
	    adlen, &ct, &ctlen), CUST_OK);
	for (i = 0; i < ctlen; i++) {	/* nonce 0-23, body, tag */
		ct[i] ^= 0x01;
		assert_int_equal(seal_decrypt(state_seal(f->st), ct, ctlen, ad,
		    adlen, &pt), CUST_E_CRYPTO);
		assert_null(pt);
		ct[i] ^= 0x01;
	}
	ad2len = seal_ad(ad2, sizeof(ad2), "secret", 8, "admin", 3);
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, ctlen, ad2, ad2len,
	    &pt), CUST_E_CRYPTO);
	ad2len = seal_ad(ad2, sizeof(ad2), "secret", 7, "mebx", 3);
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, ctlen, ad2, ad2len,
	    &pt), CUST_E_CRYPTO);
	ad2len = seal_ad(ad2, sizeof(ad2), "secret", 7, "admin", 4);
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, ctlen, ad2, ad2len,
	    &pt), CUST_E_CRYPTO);
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, SEAL_OVERHEAD - 1,
	    ad, adlen, &pt), CUST_E_CRYPTO);
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, ctlen, ad, adlen,
	    &pt), CUST_OK);
	seal_secret_free(pt);
	free(ct);
}

/* Two seals of the same value differ (random nonces). */
static void
test_nonce_unique(void **state)
{
	struct tu_fx *f = *state;
	unsigned char a[SEAL_OVERHEAD + 8], b[SEAL_OVERHEAD + 8];

	assert_int_equal(seal_encrypt_buf(state_seal(f->st), "Secr3t!x", 8, "x",
	    1, a), CUST_OK);
	assert_int_equal(seal_encrypt_buf(state_seal(f->st), "Secr3t!x", 8, "x",
	    1, b), CUST_OK);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void
write_key(const char *dir, const unsigned char *k, size_t n, unsigned mode)
{
	char *p = util_path(dir, "seal/master.key");

	assert_int_equal(util_write_file(p, k, n, mode), CUST_OK);
	free(p);
}

/* A wrong master key, a damaged one, a missing one, a loose mode: the
 * store stays sealed with a clear error, never opens. */
static void
test_master_key(void **state)
{
	struct tu_fx *f = *state;
	struct cust_state *st = NULL;
	unsigned char key[SEAL_KEYBYTES], other[SEAL_KEYBYTES];
	char *p = util_path(f->dir, "seal/master.key");
	char *buf;
	size_t len;

	assert_int_equal(util_read_file(p, 64, &buf, &len), CUST_OK);
	assert_int_equal(len, SEAL_KEYBYTES);
	memcpy(key, buf, len);
	free(buf);
	state_close(f->st);
	f->st = NULL;

	randombytes_buf(other, sizeof(other));
	write_key(f->dir, other, sizeof(other), 0600);
	assert_int_equal(state_open(f->dir, &st), CUST_E_SEALED);
	assert_non_null(strstr(cust_errmsg(), "does not unseal"));

	write_key(f->dir, key, 16, 0600);
	assert_int_equal(state_open(f->dir, &st), CUST_E_SEALED);
	assert_non_null(strstr(cust_errmsg(), "damaged"));

	write_key(f->dir, key, sizeof(key), 0640);
	assert_int_equal(state_open(f->dir, &st), CUST_E_PERM);
	assert_non_null(strstr(cust_errmsg(), "chmod 600"));

	write_key(f->dir, key, sizeof(key), 0600);
	assert_int_equal(chown(p, 1234, 1234), 0);
	assert_int_equal(state_open(f->dir, &st), CUST_E_PERM);
	assert_non_null(strstr(cust_errmsg(), "owned by uid 1234"));

	unlink(p);
	assert_int_equal(state_open(f->dir, &st), CUST_E_SEALED);
	assert_non_null(strstr(cust_errmsg(), "missing"));
	assert_int_equal(cust_exit_code(CUST_E_SEALED), 5);
	assert_int_equal(cust_exit_code(CUST_E_PERM), 5);

	write_key(f->dir, key, sizeof(key), 0600);
	assert_int_equal(state_open(f->dir, &st), CUST_OK);
	f->st = st;
	free(p);
}

static void
test_secret_buffer(void **state)
{
	struct seal_secret *s = seal_secret_dup("abc", 3);

	(void)state;
	assert_non_null(s);
	assert_string_equal(seal_secret_str(s), "abc");
	assert_int_equal(seal_secret_len(s), 3);
	seal_secret_free(s);
	seal_secret_free(NULL);
	s = seal_secret_new(0);
	assert_non_null(s);
	assert_string_equal(seal_secret_str(s), "");
	seal_secret_free(s);
}

static int
grp_setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

static void
put_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char *p = util_path(dir, name);
	FILE *fp = fopen(p, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	fclose(fp);
	free(p);
}

static size_t
get_file(const char *dir, const char *name, unsigned char *buf, size_t max)
{
	char *p = util_path(dir, name);
	FILE *fp = fopen(p, "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, max, fp);
	fclose(fp);
	free(p);
	return n;
}

/* The rollback counter: starts at 0 with init, only moves forward unless
 * forced, survives one damaged slot, and is refused when forged, damaged
 * or another store's. */
static void
test_counter(void **state)
{
	struct tu_fx *f = *state;
	struct cust_state *other;
	unsigned char h1[32], h2[32], got[32], file[512];
	int64_t seq = -1;
	size_t n;
	char *odir = NULL;

	memset(h1, 0x11, sizeof(h1));
	memset(h2, 0x22, sizeof(h2));
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_true(seq >= 0);
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 100, h1,
	    0), CUST_OK);
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 101, h2,
	    0), CUST_OK);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 101);
	assert_memory_equal(got, h2, 32);
	/* Not backwards (another process recorded a newer commit). */
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 50, h1,
	    0), CUST_OK);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 101);
	/* A torn write of the newest slot leaves the one before. */
	n = get_file(f->dir, "seal/counter", file, sizeof(file));
	assert_int_equal(n, 160);
	/* init filled both slots; 100 went to the second, 101 to the
	 * first (never the slot holding the newest value) */
	file[20] ^= 1;
	put_file(f->dir, "seal/counter", file, n);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 100);
	assert_memory_equal(got, h1, 32);
	/* Forged: a higher seq without the key's MAC. */
	file[20] ^= 1;
	file[8 + 7] = 0x7f;
	file[80 + 8 + 7] = 0x7f;
	put_file(f->dir, "seal/counter", file, n);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "damaged or belongs to another"));
	/* Forced: both slots, even backwards. */
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 7, h1,
	    1), CUST_OK);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 7);
	/* Another store's counter (another data key). */
	other = tu_state_new(&odir);
	assert_int_equal(seal_counter_write(state_seal(other), odir, 9, h2, 0),
	    CUST_OK);
	n = get_file(odir, "seal/counter", file, sizeof(file));
	put_file(f->dir, "seal/counter", file, n);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_E_DB);
	tu_state_free(other, odir);
	/* None at all. */
	put_file(f->dir, "seal/counter", "", 0);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_E_DB);
	{
		char *p = util_path(f->dir, "seal/counter");

		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_E_NOTFOUND);
}

/* The counter derives its MAC key once per read or write and holds it
 * once: six changes of the key region's protection (derive, hold and
 * release, wipe: two each), not six per slot MAC'd (a write checks both
 * slots and MACs one: it was 18; custodyd's counter thread writes after
 * every audit batch). */
static void
test_counter_key_once(void **state)
{
	struct tu_fx *f = *state;
	unsigned char h[32], got[32];
	unsigned long n0, n1, n2;
	int64_t seq = -1;

	memset(h, 0x33, sizeof(h));
	n0 = seal_protect_count();
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 200, h,
	    0), CUST_OK);
	n1 = seal_protect_count();
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	n2 = seal_protect_count();
	assert_int_equal(seq, 200);
	assert_memory_equal(got, h, 32);
	assert_int_equal(n1 - n0, 6);
	assert_int_equal(n2 - n1, 6);
	/* A write that finds a newer value writes nothing and still
	 * derives once. */
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 150, h,
	    0), CUST_OK);
	assert_int_equal(seal_protect_count() - n2, 6);
}

/* A writer's handle (custodyd's counter thread): the key stays derived
 * between writes (a later write changes the key region's protection twice,
 * to hold it, not six times), nothing read is kept (a newer value another
 * writer recorded is not overwritten), and a counter file removed under
 * it is written again at its path, not into the removed file. */
static void
test_counter_handle(void **state)
{
	struct tu_fx *f = *state;
	struct seal_counter *c = NULL;
	unsigned char h[32], got[32];
	unsigned long n0;
	int64_t seq = -1;
	char *p;

	memset(h, 0x44, sizeof(h));
	assert_int_equal(seal_counter_new(state_seal(f->st), f->dir, &c),
	    CUST_OK);
	assert_int_equal(seal_counter_put(c, 300, h, 0), CUST_OK);
	n0 = seal_protect_count();
	assert_int_equal(seal_counter_put(c, 301, h, 0), CUST_OK);
	assert_int_equal(seal_protect_count() - n0, 2);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 301);
	/* Another writer (custodyctl) went further: not moved back. */
	assert_int_equal(seal_counter_write(state_seal(f->st), f->dir, 400, h,
	    0), CUST_OK);
	assert_int_equal(seal_counter_put(c, 350, h, 0), CUST_OK);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 400);
	/* Removed: made again at its path. */
	p = util_path(f->dir, "seal/counter");
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(seal_counter_put(c, 500, h, 0), CUST_OK);
	assert_int_equal(seal_counter_read(state_seal(f->st), f->dir, &seq,
	    got), CUST_OK);
	assert_int_equal(seq, 500);
	assert_memory_equal(got, h, 32);
	seal_counter_free(c);
	seal_counter_free(NULL);
}

/* Small secrets come from the thread's pool: no region (and no system
 * call) per secret; slots are wiped when given back and reused. Large
 * ones, and the overflow of a full pool, get a region each. */
static void
test_pool(void **state)
{
	struct seal_secret *many[600], *big;
	unsigned long reg0, pools0, reg, pools;
	const unsigned char *old;
	size_t i;

	/* This thread's pool exists once any secret was made in it. */
	seal_secret_free(seal_secret_new(8));
	seal_pool_stats(&reg0, &pools0);
	for (i = 0; i < 10000; i++) {
		struct seal_secret *x = seal_secret_dup("Adm1n!pass", 10);

		assert_non_null(x);
		assert_string_equal(seal_secret_str(x), "Adm1n!pass");
		seal_secret_free(x);
	}
	seal_pool_stats(&reg, &pools);
	assert_int_equal(reg, reg0);		/* no region per secret */
	assert_int_equal(pools, pools0);	/* the same pool, reused */
	/* A slot is wiped when given back (the pool stays mapped). */
	big = seal_secret_dup("0123456789abcdef0123456789abcdef", 32);
	old = seal_secret_data(big);
	seal_secret_free(big);
	for (i = 0; i < 33; i++)
		assert_int_equal(old[i], 0);
	/* Too large for a slot: its own region. */
	big = seal_secret_new(4096);
	seal_pool_stats(&reg, &pools);
	assert_int_equal(reg, reg0 + 1);
	seal_secret_free(big);
	/* A full pool: the rest get regions, every secret distinct. */
	for (i = 0; i < 600; i++) {
		many[i] = seal_secret_new(100);
		assert_non_null(many[i]);
		memset(seal_secret_data(many[i]), (int)(i & 0x7f) + 1, 100);
	}
	for (i = 0; i < 600; i++)
		assert_int_equal(seal_secret_data(many[i])[99],
		    (int)(i & 0x7f) + 1);
	seal_pool_stats(&reg, &pools);
	assert_true(reg >= reg0 + 1 + 600 - 512);
	for (i = 0; i < 600; i++)
		seal_secret_free(many[i]);
}

static void *
make_in_thread(void *arg)
{
	*(struct seal_secret **)arg = seal_secret_dup("from a thread", 13);
	return NULL;
}

/* A secret made in a thread that has ended is still good, and freeing it
 * frees that thread's pool (ASan reports a leak otherwise). */
static void
test_pool_threads(void **state)
{
	struct seal_secret *s = NULL;
	unsigned long reg0, pools0, reg, pools;
	pthread_t t;

	seal_pool_stats(&reg0, &pools0);
	assert_int_equal(pthread_create(&t, NULL, make_in_thread, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(s);
	seal_pool_stats(&reg, &pools);
	assert_int_equal(pools, pools0 + 1);	/* the thread's own */
	assert_int_equal(reg, reg0);
	assert_string_equal(seal_secret_str(s), "from a thread");
	seal_secret_free(s);
}

/* The data key is noaccess between uses; holds nest, and every operation
 * works with and without an outer hold. */
static void
test_hold(void **state)
{
	struct tu_fx *f = *state;
	struct seal_secret *pt = NULL;
	unsigned char ct[SEAL_OVERHEAD + 4];

	seal_hold(state_seal(f->st));
	seal_hold(state_seal(f->st));
	assert_int_equal(seal_encrypt_buf(state_seal(f->st), "abcd", 4, "x", 1,
	    ct), CUST_OK);
	seal_release(state_seal(f->st));
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, sizeof(ct), "x", 1,
	    &pt), CUST_OK);
	seal_release(state_seal(f->st));
	seal_secret_free(pt);
	assert_int_equal(seal_decrypt(state_seal(f->st), ct, sizeof(ct), "x", 1,
	    &pt), CUST_OK);
	assert_string_equal(seal_secret_str(pt), "abcd");
	seal_secret_free(pt);
}

/* Read the first byte of k in a child; held: with k held around it.
 * Returns 1 when the child read it and exited normally. */
static int
child_reads(struct seal_secret *k, int held)
{
	volatile unsigned char c;
	pid_t pid;
	int status;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		signal(SIGSEGV, SIG_DFL);	/* not the test runner's */
		signal(SIGBUS, SIG_DFL);
		if (held)
			seal_secret_hold(k);
		c = seal_secret_data(k)[0];
		(void)c;
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Keys derived from the data key (the audit chain key, the row-MAC key,
 * the counter key) are noaccess like the data key except while held, by
 * themselves or through the seal; they outlive seal_free() of their seal
 * and are wiped when freed. */
static void
test_derived_noaccess(void **state)
{
	struct tu_fx *f = *state;
	struct seal_secret *k = NULL, *k2 = NULL, *other = NULL;
	unsigned char copy[32];

	assert_int_equal(seal_derive(state_seal(f->st), "testkey1", 1, 32, &k),
	    CUST_OK);
	assert_int_equal(seal_derive(state_seal(f->st), "testkey1", 1, 32, &k2),
	    CUST_OK);
	assert_int_equal(seal_derive(state_seal(f->st), "testkey2", 1, 32,
	    &other), CUST_OK);
	assert_int_equal(seal_secret_len(k), 32);
	/* Unheld: reading faults. Held (the key, or its seal): it reads. */
	assert_false(child_reads(k, 0));
	assert_true(child_reads(k, 1));
	seal_hold(state_seal(f->st));
	assert_int_equal(child_reads(k, 0), 1);
	/* Deterministic per context, different across contexts. */
	memcpy(copy, seal_secret_data(k), sizeof(copy));
	assert_memory_equal(copy, seal_secret_data(k2), sizeof(copy));
	assert_memory_not_equal(copy, seal_secret_data(other), sizeof(copy));
	seal_release(state_seal(f->st));
	assert_false(child_reads(k, 0));
	seal_secret_free(k2);
	seal_secret_free(other);
	/* Still noaccess when the other holders are gone. */
	assert_false(child_reads(k, 0));
	seal_secret_free(k);
	sodium_memzero(copy, sizeof(copy));
}

/* A derived key stays valid after its seal is freed (the state that
 * made it closed), until the key itself is freed. */
static void
test_derived_outlives_seal(void **state)
{
	struct seal_secret *k = NULL, *k2 = NULL;
	struct tu_fx *f = *state;

	assert_int_equal(seal_derive(state_seal(f->st), "testkey1", 1, 32, &k),
	    CUST_OK);
	state_close(f->st);
	f->st = NULL;
	assert_int_equal(state_open(f->dir, &f->st), CUST_OK);
	assert_int_equal(seal_derive(state_seal(f->st), "testkey1", 1, 32, &k2),
	    CUST_OK);
	seal_secret_hold(k);
	seal_secret_hold(k2);
	assert_memory_equal(seal_secret_data(k), seal_secret_data(k2), 32);
	seal_secret_release(k2);
	seal_secret_release(k);
	assert_false(child_reads(k, 0));
	seal_secret_free(k);
	seal_secret_free(k2);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_fx_setup, tu_fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_roundtrip), T(test_tamper), T(test_nonce_unique),
		T(test_master_key), T(test_counter),
		T(test_counter_key_once), T(test_counter_handle),
		T(test_hold), T(test_derived_noaccess),
		T(test_derived_outlives_seal),
		cmocka_unit_test(test_secret_buffer),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_pool_threads),
	};

	return cmocka_run_group_tests(tests, grp_setup, NULL);
}
