/* SPDX-License-Identifier: MIT */
/* src/common/init.c - process setup: libsodium, hardening, jansson's
 * wiping allocator. Kept apart from util.c so that the pure utilities link
 * without libsodium (custody-policy links only libyaml and jansson). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "err.h"
#include "util.h"

/*
 * jansson allocates every string it parses or builds with these (and
 * custodyd's libevent every buffer a request or reply passes through).
 * Some of those strings are secrets on their way to or from a caller, so
 * every block is wiped before it goes back to the allocator. The size
 * lives in a header in front of the block because free() is not told it.
 */
struct wipe_hdr {
	size_t len;
	size_t pad;	/* keep the user block 16-byte aligned */
};

void *
cust_wipe_malloc(size_t n)
{
	struct wipe_hdr *h;

	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (h == NULL)
		return NULL;
	h->len = n;
	return h + 1;
}

void
cust_wipe_free(void *p)
{
	struct wipe_hdr *h;

	if (p == NULL)
		return;
	h = (struct wipe_hdr *)p - 1;
	sodium_memzero(p, h->len);
	free(h);
}

void *
cust_wipe_realloc(void *p, size_t n)
{
	struct wipe_hdr *h;
	void *q;

	if (p == NULL)
		return cust_wipe_malloc(n);
	if (n == 0) {
		cust_wipe_free(p);
		return NULL;
	}
	/* Never realloc(): it could leave the old block unwiped. */
	h = (struct wipe_hdr *)p - 1;
	if ((q = cust_wipe_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, h->len < n ? h->len : n);
	cust_wipe_free(p);
	return q;
}

static void *
wipe_calloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if ((p = cust_wipe_malloc(n * size)) != NULL)
		memset(p, 0, n * size);
	return p;
}

static char *
wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = cust_wipe_malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

int
cust_curl_init(void)
{
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, cust_wipe_malloc,
	    cust_wipe_free, cust_wipe_realloc, wipe_strdup, wipe_calloc) ==
	    CURLE_OK ? CUST_OK : cust_fail(CUST_E_NOMEM, "cannot start "
	    "libcurl");
}

int
cust_init(void)
{
	struct rlimit rl = { 0, 0 };

	/* No core dumps and no ptrace attach: secrets live in this process. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Everything custody creates (store, WAL, keys) is for its user. */
	(void)umask(077);
	/*
	 * The internal ChaCha20 generator, seeded from getrandom(), makes
	 * randombytes_uniform() a userspace call instead of a syscall per
	 * character: bulk rotation draws millions of characters.
	 */
	if (randombytes_set_implementation(
	    &randombytes_internal_implementation) != 0)
		return cust_fail(CUST_E_CRYPTO, "cannot select libsodium RNG");
	if (sodium_init() < 0)
		return cust_fail(CUST_E_CRYPTO, "libsodium initialisation failed");
	json_set_alloc_funcs(cust_wipe_malloc, cust_wipe_free);
	return CUST_OK;
}
