/* SPDX-License-Identifier: MIT */
/* bench/bench.h - helpers shared by the benchmark programs. */
#ifndef CUST_BENCH_H
#define CUST_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"

/* Monotonic seconds. */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Report the failed step with the error detail and exit 1. */
static inline void __attribute__((noreturn))
bench_die(const char *prog, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, cust_errmsg());
	exit(1);
}

/* A PEM CSR (CN=fqdn) signed by key, as a new string; exits on failure. */
static inline char *
bench_csr(const char *prog, EVP_PKEY *key, const char *fqdn)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long len;

	if (req == NULL || n == NULL || b == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)fqdn, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, n) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_sign(req, key, EVP_sha256()) ||
	    !PEM_write_bio_X509_REQ(b, req) ||
	    (len = BIO_get_mem_data(b, &data)) <= 0 ||
	    (s = strndup(data, (size_t)len)) == NULL)
		bench_die(prog, "make CSR");
	BIO_free(b);
	X509_NAME_free(n);
	X509_REQ_free(req);
	return s;
}

#endif
