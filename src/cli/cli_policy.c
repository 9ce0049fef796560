/* SPDX-License-Identifier: MIT */
/* src/cli/cli_policy.c - policy check|load|plan.
 *
 * check and diff run offline (no state directory, no secrets): they are
 * what CI runs on every change to policy files, and live in the policy
 * module (policy_cli_*()) so that custody-policy runs the same code. load
 * and plan go through the operations; plan --tags is offline too.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "policy.h"
#include "util.h"

/* custodyctl's face of the shared policy commands. */
static struct policy_cli
front(const struct cli *c)
{
	struct policy_cli pc = { "custodyctl", "custodyctl policy", 0, 0 };

	pc.json = c->json;
	pc.quiet = c->quiet;
	return pc;
}

static int
cmd_check(struct cli *c, int argc, char **argv)
{
	struct policy_cli pc = front(c);

	return policy_cli_check(&pc, argc, argv);
}

static int
cmd_diff(struct cli *c, int argc, char **argv)
{
	struct policy_cli pc = front(c);

	return policy_cli_diff(&pc, argc, argv);
}

static void
render_load(struct cli *c, json_t *r)
{
	(void)c;
	printf("loaded policy %s: %lld consoles, sha256 %s\n",
	    cli_str(r, "file"), cli_num(r, "consoles"), cli_str(r, "sha256"));
}

static int
cmd_load(struct cli *c, int argc, char **argv)
{
	struct policy_cli pc;
	char *text = NULL;
	json_t *req;
	int r;

	if (argc != 2)
		return cli_usage(cli_current(), "give one policy file");
	/* The findings are shown here; the operation decides (and audits
	 * a refusal) on its own check. */
	pc = front(c);
	r = policy_cli_load(&pc, argv[1], &text, NULL, NULL);
	if (text == NULL)
		return r;
	req = json_pack("{s:o, s:s}", "file", ops_text(argv[1]), "text",
	    text);
	free(text);
	if (req == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	return cli_run(c, "policy.load", req, render_load);
}

static void
render_plans(struct cli *c, json_t *resp, int first)
{
	json_t *plan;
	size_t i;

	(void)c;
	(void)first;
	json_array_foreach(json_object_get(resp, "devices"), i, plan)
		policy_plan_print(plan, stdout);
}

static int
cmd_plan(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "all", no_argument, NULL, 'a' },
		{ "tags", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *device = NULL, *tags = NULL;
	json_t *req, *resp = NULL;
	char *text = NULL;
	int ch, all = 0, r;

	while ((ch = getopt_long(argc, argv, "d:at:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			device = optarg;
			break;
		case 'a':
			all = 1;
			break;
		case 't':
			tags = optarg;
			break;
		default:
			return CUST_EXIT_USAGE;
		}
	}
	if ((device != NULL) + all + (tags != NULL) != 1)
		return cli_usage(cli_current(), "give one of --device, --all "
		    "or --tags");
	if (argc - optind > 1)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind + 1]);
	if (tags != NULL) {
		struct policy_cli pc = front(c);

		if (optind == argc)
			return cli_usage(cli_current(), "--tags needs a policy "
			    "file");
		/* The shared offline plan parses argv again: reset getopt. */
		optind = 0;
		return policy_cli_plan(&pc, argc, argv);
	}
	if ((req = json_object()) == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	if (optind < argc) {
		struct policy_cli pc = front(c);

		if ((r = policy_cli_load(&pc, argv[optind], &text, NULL,
		    NULL)) != CUST_EXIT_OK) {
			json_decref(req);
			free(text);
			return r;
		}
		json_object_set_new(req, "file", ops_text(argv[optind]));
		json_object_set_new(req, "text", json_string(text));
		free(text);
	}
	if (device != NULL)
		json_object_set_new(req, "device", ops_text(device));
	else
		json_object_set_new(req, "all", json_true());
	/* --all: every device, page by page; over_limits is summed. */
	if ((r = cli_pages(c, "policy.plan", req, "devices", render_plans,
	    &resp)) != CUST_OK)
		return cli_error(c, r);
	r = json_integer_value(json_object_get(resp, "over_limits")) > 0 ?
	    CUST_EXIT_FAIL : CUST_EXIT_OK;
	json_decref(resp);
	return r;
}

const struct cli_cmd cli_policy_cmds[] = {
	{ "policy", "check", cmd_check, CLI_NOSTATE,
	  "[--format text|json|sarif|junit|codeclimate] [--strict] FILE...",
	  "check policy files offline (CI)" },
	{ "policy", "diff", cmd_diff, CLI_NOSTATE,
	  "[--format text|markdown|json] [--fail-on-escalation] "
	  "[--old-name NAME] [--new-name NAME] OLD NEW",
	  "privileges gained and lost between two policies (reviews)" },
	{ "policy", "load", cmd_load, 0, "FILE",
	  "store a policy that passes the check (audited)" },
	{ "policy", "plan", cmd_plan, CLI_NOSTATE,
	  "[FILE] --device FQDN | --all | FILE --tags TAG,...",
	  "show the AMT ACL entries a policy puts on devices" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
