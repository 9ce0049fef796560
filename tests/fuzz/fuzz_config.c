/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_config.c - libFuzzer harness for the service
 * configuration (custody.yaml): YAML events, schema walk, cross-key
 * rules, the problem list, and for a valid file the effective
 * configuration written out and read back to the same text. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* config_write() into a new string (free()), NULL on failure. */
static char *
dump(const struct cust_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	(void)config_write(cfg, f);
	fclose(f);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct cust_config *cfg = NULL, *back = NULL;
	char *d1 = NULL, *d2 = NULL;

	if (sink == NULL)
		sink = fopen("/dev/null", "w");
	if (config_parse("fuzz.yaml", (const char *)data, size, sink, &cfg) !=
	    CUST_OK)
		return 0;
	/* what is accepted is written so that it reads back the same */
	d1 = dump(cfg);
	if (d1 != NULL && config_parse("dump.yaml", d1, strlen(d1), NULL,
	    &back) != CUST_OK) {
		fprintf(stderr, "effective configuration does not parse: %s\n"
		    "%s", cust_errmsg(), d1);
		abort();
	}
	if (back != NULL && (d2 = dump(back)) != NULL && strcmp(d1, d2) != 0) {
		fprintf(stderr, "round trip differs:\n%s---\n%s", d1, d2);
		abort();
	}
	free(d1);
	free(d2);
	config_free(back);
	config_free(cfg);
	return 0;
}
