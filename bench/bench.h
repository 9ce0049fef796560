/* SPDX-License-Identifier: MIT */
/* bench/bench.h - helpers shared by the benchmark programs. */
#ifndef CUST_BENCH_H
#define CUST_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

#endif
