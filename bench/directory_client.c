/* SPDX-License-Identifier: MIT */
/* bench/directory_client.c - custody's side of bench/directory.sh: N
 * service principals created through custody's kadm5 code (one
 * connection, dir_kadm_create() then dir_kadm_randkey() per principal:
 * what principal sync does for each new console, keys included). Prints
 * the elapsed seconds.
 *
 *   directory_client REALM KDC ADMIN_SERVER ADMIN PWFILE PREFIX N
 *
 * The principals are PREFIX-0 ... PREFIX-(N-1) @REALM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "config.h"
#include "directory.h"
#include "err.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct config_mit mit;
	struct dir_kadm *k = NULL;
	struct dir_keys *keys = NULL;
	char name[512];
	double t0;
	long n, i;

	if (argc != 8 || util_parse_long(argv[7], 1, 1000000, &n) != CUST_OK) {
		fprintf(stderr, "usage: directory_client REALM KDC "
		    "ADMIN_SERVER ADMIN PWFILE PREFIX N\n");
		return 2;
	}
	if (cust_init() != CUST_OK)
		bench_die(argv[0], "init");
	memset(&mit, 0, sizeof(mit));
	mit.set = 1;
	mit.realm = argv[1];
	mit.kdc = argv[2];
	mit.admin_server = argv[3];
	mit.admin_principal = argv[4];
	mit.admin_password_file = argv[5];
	t0 = bench_now();
	if (dir_kadm_open(&mit, &k) != CUST_OK)
		bench_die(argv[0], "connect");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%ld@%s", argv[6], i, argv[1]);
		if (dir_kadm_create(k, name) != CUST_OK ||
		    dir_kadm_randkey(k, name, &keys) != CUST_OK)
			bench_die(argv[0], name);
		dir_keys_free(keys);
		keys = NULL;
	}
	dir_kadm_close(k);
	printf("%.3f\n", bench_now() - t0);
	return 0;
}
