/* SPDX-License-Identifier: MIT */
/* src/cli/cli_config.c - config check: the service configuration
 * (DIR/custody.yaml) checked as custodyd --check-config does, through the
 * same call (config_check_cli()). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "err.h"

static int
cmd_check(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL;
	int ch, verbose = 0;

	while ((ch = getopt_long(argc, argv, "d:f:v", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			c->state_dir = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			return cli_usage(cli_current(), "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	/* Remote mode has no state directory here: the file is local. */
	if (c->state_dir == NULL && file == NULL)
		return cli_usage(cli_current(), "in remote mode (--server) give "
		    "the file to check: --file PATH (or --state-dir DIR)");
	return config_check_cli(c->state_dir, file, verbose && !c->quiet,
	    c->quiet ? NULL : stdout, stderr);
}

const struct cli_cmd cli_config_cmds[] = {
	{ "config", "check", cmd_check, CLI_NOSTATE,
	  "[--state-dir DIR] [--file PATH] [-v]",
	  "check DIR/custody.yaml as custodyd --check-config does; -v prints "
	  "the effective configuration" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
