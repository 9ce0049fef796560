/* SPDX-License-Identifier: MIT */
/* src/cli/cli_audit.c - audit list|verify. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "err.h"
#include "util.h"

static void
render_list(struct cli *c, json_t *r, int first)
{
	json_t *e;
	size_t i;

	(void)c;
	(void)first;
	json_array_foreach(json_object_get(r, "entries"), i, e)
		printf("%lld %s %s %s %s %s%s%s\n",
		    json_integer_value(json_object_get(e, "seq")),
		    cli_str(e, "time"), cli_str(e, "actor"), cli_str(e, "action"),
		    cli_str(e, "object"), cli_str(e, "result"),
		    json_is_string(json_object_get(e, "detail")) ? " " : "",
		    json_is_string(json_object_get(e, "detail")) ?
		    cli_str(e, "detail") : "");
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "object", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "a:n:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
		case 'n':
			if (util_parse_long(optarg, ch == 'a' ? 0 : 1,
			    ch == 'a' ? LONG_MAX : OPS_LIST_MAX, &v) !=
			    CUST_OK) {
				json_decref(req);
				return cli_usage(cli_current(), "%s",
				    cust_errmsg());
			}
			json_object_set_new(req, ch == 'a' ? "after" : "limit",
			    json_integer(v));
			break;
		case 'o':
			json_object_set_new(req, "object", ops_text(optarg));
			break;
		default:
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	return cli_list_tail(c, argc, argv, "audit.list", req, "entries", render_list);
}

static int
cmd_verify(struct cli *c, int argc, char **argv)
{
	json_t *resp = NULL, *req;
	int r;

	if (argc > 1)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[1]);
	req = json_object();
	r = cli_call(c, "audit.verify", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (c->json)
		cli_print_json(resp);
	if (json_is_true(json_object_get(resp, "intact"))) {
		if (!c->json)
			printf("audit log intact: %lld entries verified\n",
			    json_integer_value(json_object_get(resp,
			    "entries")));
		r = CUST_EXIT_OK;
	} else {
		fprintf(stderr, "custodyctl: audit log broken at entry %lld: "
		    "%s\n", json_integer_value(json_object_get(resp,
		    "first_bad")), cli_str(resp, "message"));
		r = CUST_EXIT_FAIL;
	}
	json_decref(resp);
	return r;
}

const struct cli_cmd cli_audit_cmds[] = {
	{ "audit", "list", cmd_list, 0,
	  "[--after SEQ] [--limit N] [--object OBJECT]",
	  "list audit entries (all after SEQ, or one page with --limit)" },
	{ "audit", "verify", cmd_verify, 0, "",
	  "check the audit log's hash chain" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
