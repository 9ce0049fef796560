/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_csv.c - libFuzzer harness for the CSV reader. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "csv.h"
#include "err.h"

static int
row(void *arg, size_t line, char **f, size_t n)
{
	size_t i, *total = arg;

	for (i = 0; i < n; i++)
		*total += strlen(f[i]) + line;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t total = 0;

	(void)csv_parse((const char *)data, size, row, &total);
	return 0;
}
