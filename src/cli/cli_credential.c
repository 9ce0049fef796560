/* SPDX-License-Identifier: MIT */
/* src/cli/cli_credential.c - credential show|list|sync: the scoped digest
 * credentials of consoles (kind console:NAME), from the loaded policy. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "ops.h"
#include "util.h"

static void
render_show(struct cli *c, json_t *r)
{
	(void)c;
	/* Only the value (password or HA1), so that scripts can capture
	 * it; --json for the rest. */
	printf("%s\n", json_object_get(r, "ha1") != NULL ? cli_str(r, "ha1") :
	    cli_str(r, "password"));
}

static int
cmd_show(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "console", required_argument, NULL, 'c' },
		{ "ha1", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "c:H", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			json_object_set_new(req, "console", ops_text(optarg));
			break;
		case 'H':
			json_object_set_new(req, "format", json_string("ha1"));
			break;
		default:
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give exactly one FQDN");
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	return cli_run(c, "credential.show", req, render_show);
}

static void
render_list(struct cli *c, json_t *page, int first)
{
	json_t *o, *v;
	size_t i, k;

	(void)c;
	if (first)
		printf("%-40s %s\n", "DEVICE", "VERSIONS");
	json_array_foreach(json_object_get(page, "items"), i, o) {
		printf("%-40s", cli_str(o, "fqdn"));
		json_array_foreach(json_object_get(o, "versions"), k, v)
			printf(" v%lld %s", cli_num(v, "version"),
			    cli_str(v, "state"));
		printf("\n");
	}
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "console", required_argument, NULL, 'c' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "c:l:A:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			json_object_set_new(req, "console", ops_text(optarg));
			break;
		case 'A':
			json_object_set_new(req, "after", ops_text(optarg));
			break;
		case 'l':
			if (cli_opt_num(req, "limit", optarg, 1,
			    OPS_LIST_MAX) != 0) {
				json_decref(req);
				return CUST_EXIT_USAGE;
			}
			break;
		default:
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	return cli_list_tail(c, argc, argv, "credential.list", req, "items", render_list);
}

static void
render_sync(struct cli *c, json_t *r)
{
	if (!c->quiet)
		printf("%lld devices synced: %lld credentials granted "
		    "(pending), %lld retired\n", cli_num(r, "devices"),
		    cli_num(r, "granted"), cli_num(r, "withdrawn"));
}

static int
cmd_sync(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage(cli_current(), "takes no arguments");
	return cli_run(c, "credential.sync", json_object(), render_sync);
}

const struct cli_cmd cli_credential_cmds[] = {
	{ "credential", "show", cmd_show, 0, "FQDN [--console NAME] [--ha1]",
	  "a console's digest credential on a device (audited)" },
	{ "credential", "list", cmd_list, 0,
	  "[--console NAME] [--limit N [--after FQDN]]",
	  "devices where a console holds a credential (no secrets)" },
	{ "credential", "sync", cmd_sync, 0, "",
	  "reconcile console credentials with the loaded policy" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
