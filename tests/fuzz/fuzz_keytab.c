/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_keytab.c - libFuzzer harness for the keytab image
 * reader (src/directory/keytab.c): what it accepts must write back and
 * read again to the same entries. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "err.h"
#include "seal.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct dir_keytab *kt = NULL, *back = NULL;
	struct seal_secret *img = NULL, *img2 = NULL;

	if (!ready) {
		if (cust_init() != CUST_OK)
			abort();
		ready = 1;
	}
	if (dir_keytab_parse(data, size, &kt) != CUST_OK)
		return 0;
	/* accepted: its image reads back to the same count, and that
	 * image writes back byte for byte */
	if (dir_keytab_serialize(kt, &img) != CUST_OK ||
	    dir_keytab_parse(seal_secret_data(img), seal_secret_len(img),
	    &back) != CUST_OK ||
	    dir_keytab_count(back) != dir_keytab_count(kt) ||
	    dir_keytab_serialize(back, &img2) != CUST_OK ||
	    seal_secret_len(img2) != seal_secret_len(img) ||
	    memcmp(seal_secret_data(img2), seal_secret_data(img),
	    seal_secret_len(img)) != 0)
		abort();
	seal_secret_free(img);
	seal_secret_free(img2);
	dir_keytab_free(back);
	dir_keytab_free(kt);
	return 0;
}
