/* SPDX-License-Identifier: MIT */
/* src/cli/cli_account.c - account sync|list: the Active Directory service
 * accounts and duty groups custody keeps in line with the policy
 * (ops_account.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "util.h"

/* One line of an array of strings, escaped as every name printed. */
static void
line(FILE *f, const char *prefix, json_t *v)
{
	json_t *o = json_pack("{s:O}", "v", v);

	fprintf(f, "%s%s\n", prefix, o != NULL ? cli_str(o, "v") : "-");
	json_decref(o);
}

static void
render_sync(struct cli *c, json_t *r)
{
	json_t *v;
	size_t i;
	int dry = json_is_true(json_object_get(r, "dry_run"));

	json_array_foreach(json_object_get(r, "operations"), i, v)
		line(stdout, dry ? "would " : "", v);
	json_array_foreach(json_object_get(r, "errors"), i, v)
		line(stderr, "custodyctl: refused: ", v);
	if (json_object_get(r, "principals") != NULL)
		cli_render_principals(c, json_object_get(r, "principals"));
	if (c->quiet)
		return;
	json_array_foreach(json_object_get(r, "accounts"), i, v)
		printf("account %s (console %s) %s %s\n", cli_str(v, "name"),
		    cli_str(v, "console"), cli_str(v, "sid"),
		    cli_str(v, "state"));
	json_array_foreach(json_object_get(r, "groups"), i, v)
		printf("group %s (duty %s) %s\n", cli_str(v, "name"),
		    cli_str(v, "duty"), cli_str(v, "sid"));
	json_array_foreach(json_object_get(r, "devices"), i, v)
		printf("device %s (%s) %s %s\n", cli_str(v, "device"),
		    cli_str(v, "name"), cli_str(v, "sid"), cli_str(v, "state"));
	printf("%lld LDAP change%s %s\n", cli_num(r, "changes"),
	    cli_num(r, "changes") == 1 ? "" : "s", dry ? "would be made "
	    "(dry run)" : "made");
}

static int
sync_ok(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

static const struct option sync_opts[] = {
	{ "dry-run", no_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 }
};

static int
cmd_sync(struct cli *c, int argc, char **argv)
{
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "", sync_opts, NULL)) != -1) {
		if (ch != 'n') {
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
		json_object_set_new(req, "dry_run", json_true());
	}
	if (optind < argc) {
		json_decref(req);
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	}
	return cli_run_outcome(c, "account.sync", req, render_sync, sync_ok);
}

static void
render_rotate(struct cli *c, json_t *r)
{
	char until[32];
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(r, "operations"), i, v)
		line(stdout, "", v);
	json_array_foreach(json_object_get(r, "errors"), i, v)
		line(stderr, "custodyctl: refused: ", v);
	if (c->quiet)
		return;
	json_array_foreach(json_object_get(r, "items"), i, v) {
		printf("%s (console %s): password version %lld, kvno %lld",
		    cli_str(v, "name"), cli_str(v, "console"),
		    cli_num(v, "version"), cli_num(v, "kvno"));
		if (cli_num(v, "previous_kvno") > 0) {
			util_fmt_time(cli_num(v, "previous_until"), until,
			    sizeof(until));
			printf(" (kvno %lld stays in the keytab until %s)",
			    cli_num(v, "previous_kvno"), until);
		}
		printf("\n");
	}
}

static const struct option rotate_opts[] = {
	{ "all", no_argument, NULL, 'a' },
	{ NULL, 0, NULL, 0 }
};

static int
cmd_rotate(struct cli *c, int argc, char **argv)
{
	json_t *req = json_object();
	int ch, all = 0;

	while ((ch = getopt_long(argc, argv, "", rotate_opts, NULL)) != -1) {
		if (ch != 'a') {
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
		all = 1;
	}
	if (all ? optind != argc : optind + 1 != argc) {
		json_decref(req);
		return cli_usage(cli_current(), "takes a console, or --all");
	}
	if (all)
		json_object_set_new(req, "all", json_true());
	else
		json_object_set_new(req, "name", ops_text(argv[optind]));
	return cli_run_outcome(c, "account.rotate", req, render_rotate,
	    sync_ok);
}

static void
render_list(struct cli *c, json_t *r)
{
	json_t *v;
	size_t i;

	(void)c;
	json_array_foreach(json_object_get(r, "objects"), i, v)
		printf("%s %s %s %s %s (%s)\n", cli_str(v, "kind"),
		    cli_str(v, "name"), cli_str(v, "state"), cli_str(v, "sid"),
		    cli_str(v, "dn"), cli_str(v, "owner"));
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage(cli_current(), "takes no arguments");
	return cli_run(c, "account.list", json_object(), render_list);
}

static void
render_password(struct cli *c, json_t *r)
{
	(void)c;
	printf("%s\n", cli_raw(r, "password"));
}

static int
cmd_password(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage(cli_current(), "takes the account's name");
	return cli_run(c, "account.password", json_pack("{s:o}", "name",
	    ops_text(argv[1])), render_password);
}

const struct cli_cmd cli_account_cmds[] = {
	{ "account", "sync", cmd_sync, 0, "[--dry-run]",
	  "create the policy's AD service accounts and duty groups, set "
	  "memberships" },
	{ "account", "rotate", cmd_rotate, 0, "CONSOLE | --all",
	  "new passwords for AD service accounts (keytabs follow; the "
	  "previous kvno kept for keytab_grace)" },
	{ "account", "password", cmd_password, 0, "NAME",
	  "the current password of an AD account custody made (audited)" },
	{ "account", "list", cmd_list, 0, "",
	  "the AD objects custody created, with their SIDs" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
