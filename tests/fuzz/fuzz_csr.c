/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_csr.c - libFuzzer harness for the CSR parser and its
 * checks (PEM or DER, key policy, names), the untrusted input of
 * cert sign. The first byte picks whether names are checked against an
 * FQDN; the rest is the CSR. */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ca.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *info = NULL;

	if (size < 1)
		return 0;
	(void)ca_csr_check(data + 1, size - 1, data[0] & 1 ?
	    "amt1.corp.example" : NULL, &info);
	json_decref(info);
	return 0;
}
