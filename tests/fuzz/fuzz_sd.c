/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_sd.c - libFuzzer harness for what custody reads of an
 * object's provenance from a DC (src/directory/sd.c): the owner of a
 * self-relative SECURITY_DESCRIPTOR (dir_sd_owner()) and whenCreated
 * (dir_generalized_time()). An owner accepted must be a well-formed SID
 * (it decodes with dir_sid_to_str()) of at most DIR_SID_MAX bytes, found
 * whole inside the input past its 20-byte header, where OffsetOwner
 * says; a time accepted must be of the years 1601-9999. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char owner[DIR_SID_MAX];
	char s[192], *t;
	size_t n = 0;
	int64_t when;

	if (dir_sd_owner(data, size, owner, &n) == CUST_OK) {
		uint32_t off = (uint32_t)data[4] | (uint32_t)data[5] << 8 |
		    (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24;

		if (n < 8 || n > DIR_SID_MAX || off < 20 || off > size ||
		    n > size - off || memcmp(owner, data + off, n) != 0 ||
		    dir_sid_to_str(owner, n, s, sizeof(s)) != CUST_OK)
			abort();
	} else if (n != 0) {
		abort();
	}
	if (size > 64)
		return 0;
	if ((t = strndup((const char *)data, size)) == NULL)
		return 0;
	if (dir_generalized_time(t, &when) == CUST_OK &&
	    (when < -11644473600LL || when >= 253402300800LL))
		abort();
	free(t);
	return 0;
}
