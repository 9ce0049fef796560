/* SPDX-License-Identifier: MIT */
/* src/policytool/main.c - custody-policy: the policy checker for CI.
 *
 * The offline policy commands of custodyctl (check, diff, plan --tags) as
 * a program of their own, for slim CI images and pre-commit hooks: it
 * links only libyaml, jansson and libc, needs no state directory and
 * never touches a secret. The commands are the policy module's
 * (policy_cli_*()), the same code custodyctl runs. See custody-policy(1).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "policy.h"
#include "version.h"

static const struct {
	const char *name;
	int (*fn)(const struct policy_cli *, int, char **);
	const char *help;
} cmds[] = {
	{ "check", policy_cli_check, "check policy files (exit 1 on errors)" },
	{ "diff", policy_cli_diff, "privileges gained and lost: OLD NEW" },
	{ "plan", policy_cli_plan, "the AMT ACL entries of a tagged device" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: custody-policy [--json] [-q] COMMAND [ARGS]\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\nSee custody-policy(1) and custody-policy(5). Exit codes: "
	    "0 ok, 1 findings or escalation, 2 usage or malformed input.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct policy_cli pc = { "custody-policy", "custody-policy", 0, 0 };
	size_t i;
	int ch, rc;

	/* "+": stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			pc.json = 1;
			break;
		case 'q':
			pc.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return CUST_EXIT_OK;
		case 'V':
			printf("custody-policy %s\n", CUSTODY_VERSION);
			return CUST_EXIT_OK;
		default:
			usage(stderr);
			return CUST_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return CUST_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[0], cmds[i].name) != 0)
			continue;
		optind = 0;	/* reset getopt for the command's options */
		rc = cmds[i].fn(&pc, argc, argv);
		if (fflush(stdout) == EOF) {
			fprintf(stderr, "custody-policy: cannot write output\n");
			if (rc == CUST_EXIT_OK)
				rc = CUST_EXIT_FAIL;
		}
		return rc;
	}
	fprintf(stderr, "custody-policy: unknown command '%.64s' (see "
	    "custody-policy --help)\n", argv[0]);
	return CUST_EXIT_USAGE;
}
