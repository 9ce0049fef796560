/* SPDX-License-Identifier: MIT */
/* src/cli/cli_staff.c - staff add|list|revoke|renew: security staff (role
 * admin or auditor) and their client certificates. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "util.h"

static int
cmd_add(struct cli *c, int argc, char **argv)
{
	return cli_client_cert(c, argc, argv, "staff.add");
}

static int
cmd_renew(struct cli *c, int argc, char **argv)
{
	return cli_client_cert(c, argc, argv, "staff.renew");
}

static void
render_list(struct cli *c, json_t *page, int first)
{
	json_t *o;
	size_t i;

	(void)c;
	if (first)
		printf("%-24s %-8s %-8s %-32s %-21s %s\n", "NAME", "ROLE",
		    "STATE", "SERIAL", "NOT_AFTER", "RENEW");
	json_array_foreach(json_object_get(page, "items"), i, o) {
		printf("%-24s %-8s %-8s %-32s %-21s %s", cli_str(o, "name"),
		    cli_str(o, "role"), cli_str(o, "state"),
		    cli_str(o, "serial"), cli_str(o, "not_after"),
		    json_is_true(json_object_get(o, "renew_due")) ? "due" :
		    "-");
		cli_supersede_print(o, " ");
		putchar('\n');
	}
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "l:A:", opts, NULL)) != -1) {
		if ((ch != 'l' && ch != 'A') || util_parse_long(optarg,
		    ch == 'l' ? 1 : -1, ch == 'l' ? OPS_LIST_MAX : LONG_MAX, &v)
		    != CUST_OK) {
			json_decref(req);
			return cli_usage(cli_current(), "bad option");
		}
		json_object_set_new(req, ch == 'l' ? "limit" : "after",
		    json_integer(v));
	}
	return cli_list_tail(c, argc, argv, "staff.list", req, "items", render_list);
}

static void
render_revoke(struct cli *c, json_t *resp)
{
	json_t *s;
	size_t i;

	(void)c;
	printf("staff member %s revoked", cli_str(resp, "name"));
	json_array_foreach(json_object_get(resp, "revoked"), i, s)
		printf("%s%s", i ? ", " : "; certificates ",
		    json_string_value(s));
	printf("\n");
}

static int
cmd_revoke(struct cli *c, int argc, char **argv)
{
	return cli_revoke_cmd(c, argc, argv, "staff.revoke", render_revoke);
}

const struct cli_cmd cli_staff_cmds[] = {
	{ "staff", "add", cmd_add, 0,
	  "NAME --role admin|auditor [-o DIR] [--force] [--key-type T]",
	  "issue a staff client certificate (NAME.crt/.key/-chain.pem)" },
	{ "staff", "list", cmd_list, 0, "[--limit N [--after ID]]",
	  "list staff, their roles and certificates" },
	{ "staff", "revoke", cmd_revoke, 0, "NAME [--reason REASON]",
	  "revoke a staff member's certificates" },
	{ "staff", "renew", cmd_renew, 0,
	  "NAME [--csr F | --key-type T] [-o DIR] [--force]",
	  "new certificate for a staff member; the old ones superseded" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
