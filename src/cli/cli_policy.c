/* SPDX-License-Identifier: MIT */
/* src/cli/cli_policy.c - policy check|load|plan|apply|drift.
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
#include "version.h"

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
		{ "acl-sid", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *device = NULL, *tags = NULL, *aclsid = NULL;
	json_t *req, *resp = NULL;
	char *text = NULL;
	int ch, all = 0, r;

	while ((ch = getopt_long(argc, argv, "d:at:s:", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			aclsid = optarg;
			break;
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
	if (aclsid != NULL && tags == NULL)
		return cli_usage(cli_current(), "--acl-sid goes with --tags "
		    "(for the devices, custody.yaml directory.ad acl_sid "
		    "decides)");
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

/* policy apply --dry-run: per device, the envelopes it would send. */
static void
render_apply_dry(json_t *r)
{
	json_t *it, *st;
	size_t i, k, n;

	json_array_foreach(json_object_get(r, "items"), i, it) {
		if (!json_is_array(json_object_get(it, "steps"))) {
			/* refused before any envelope */
			printf("%s# %s: %s: %s\n", i ? "\n" : "", cli_str(it,
			    "fqdn"), cli_str(it, "result"), cli_str(it,
			    "detail"));
			continue;
		}
		n = json_array_size(json_object_get(it, "steps"));
		printf("%s# %s: %s over %s", i ? "\n" : "",
		    cli_str(it, "fqdn"), json_is_string(json_object_get(it,
		    "title")) ? cli_str(it, "title") : "policy apply",
		    cli_str(it, "url"));
		if (json_is_string(json_object_get(it, "connect_to")))
			printf(" (connect-to %s)", cli_str(it, "connect_to"));
		printf("\n# dry run: nothing was sent\n# note: %s\n",
		    cli_str(it, "note"));
		json_array_foreach(json_object_get(it, "steps"), k, st)
			printf("\n# %zu/%zu %s: MessageID %lld, %s\n%s", k + 1,
			    n, cli_str(st, "step"), cli_num(st, "message_id"),
			    cli_str(st, "auth"), cli_raw(st, "envelope"));
	}
}

/* policy apply: each device's outcome and its changes. */
static void
render_apply(json_t *r)
{
	json_t *it, *a;
	size_t i, k;

	if (json_is_true(json_object_get(r, "dry_run"))) {
		render_apply_dry(r);
		return;
	}
	json_array_foreach(json_object_get(r, "items"), i, it) {
		printf("%s: %s: %s\n", cli_str(it, "fqdn"), cli_str(it,
		    "result"), cli_str(it, "detail"));
		json_array_foreach(json_object_get(it, "actions"), k, a)
			printf("  %s %s: %s: %s\n", cli_str(a, "action"),
			    cli_str(a, "user"), cli_str(a, "result"),
			    cli_str(a, "detail"));
	}
	printf("%lld devices, %lld not ok (job %lld)\n", cli_num(r,
	    "devices"), cli_num(r, "failed"), cli_num(r, "job"));
}

int
cli_apply_result(struct cli *c, json_t *resp)
{
	if (c->json)
		cli_print_json(resp);
	else
		render_apply(resp);
	return cli_num(resp, "failed") > 0 ? CUST_EXIT_FAIL : CUST_EXIT_OK;
}

/* policy drift: every finding, one a line. */
static void
render_drift(json_t *r)
{
	json_t *it, *f;
	size_t i, k;

	json_array_foreach(json_object_get(r, "items"), i, it) {
		if (strcmp(cli_str(it, "result"), "drift") != 0) {
			printf("%s: %s: %s\n", cli_str(it, "fqdn"), cli_str(it,
			    "result"), cli_str(it, "detail"));
			continue;
		}
		json_array_foreach(json_object_get(it, "findings"), k, f)
			printf("%s: %s %s: %s\n", cli_str(it, "fqdn"),
			    cli_str(f, "finding"), cli_str(f, "user"),
			    cli_str(f, "detail"));
	}
	printf("%lld devices, %lld not matching the plan\n",
	    cli_num(r, "devices"), cli_num(r, "drifted"));
}

/* policy drift as SARIF 2.1.0: one result per finding (ruleId the
 * finding's kind), located by the device's FQDN (a logical location:
 * devices are not files); a device that could not be read is an error
 * result "unreadable". Same tool name and schema as policy check. */
static json_t *
drift_sarif(json_t *r)
{
	static const char *const rules[] = { "unknown-user", "missing-user",
	    "extra-realm", "missing-realm", "wrong-access", "unresolved-sid",
	    "unreadable" };
	json_t *res = json_array(), *rl = json_array(), *it, *f, *o;
	size_t i, k;

	for (i = 0; rl != NULL && i < sizeof(rules) / sizeof(rules[0]); i++)
		json_array_append_new(rl, json_pack("{s:s, s:{s:s}}", "id",
		    rules[i], "shortDescription", "text", rules[i]));
	json_array_foreach(json_object_get(r, "items"), i, it) {
		const char *fqdn = json_string_value(json_object_get(it,
		    "fqdn"));
		const char *result = json_string_value(json_object_get(it,
		    "result"));

		if (res == NULL)
			break;
		if (strcmp(result, "ok") != 0 && strcmp(result, "drift") != 0)
			json_array_append_new(res, json_pack("{s:s, s:s, "
			    "s:{s:s}, s:[{s:[{s:s, s:s}]}]}", "ruleId",
			    "unreadable", "level", "error", "message", "text",
			    json_string_value(json_object_get(it, "detail")),
			    "locations", "logicalLocations", "name", fqdn,
			    "kind", "device"));
		json_array_foreach(json_object_get(it, "findings"), k, f)
			json_array_append_new(res, json_pack("{s:s, s:s, "
			    "s:{s:s}, s:[{s:[{s:s, s:s}]}]}", "ruleId",
			    json_string_value(json_object_get(f, "finding")),
			    "level", "error", "message", "text",
			    json_string_value(json_object_get(f, "detail")),
			    "locations", "logicalLocations", "name", fqdn,
			    "kind", "device"));
	}
	o = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:o}]}",
	    "$schema", "https://json.schemastore.org/sarif-2.1.0.json",
	    "version", "2.1.0", "runs", "tool", "driver", "name",
	    "custodyctl policy drift", "version", CUSTODY_VERSION,
	    "informationUri", "man:custodyctl(1)", "rules", rl, "results", res);
	return o;
}

/* policy apply [--dry-run] | drift [--format F]: --device FQDN | --tag T | --all. */
static int
acl_cmd(struct cli *c, int argc, char **argv, int apply)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "tag", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	const char *device = NULL, *tag = NULL, *fmt = c->json ? "json" :
	    "text";
	json_t *req, *resp = NULL, *sarif;
	int ch, all = 0, dry = 0, r;

	while ((ch = getopt_long(argc, argv, "d:t:af:n", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			device = optarg;
			break;
		case 't':
			tag = optarg;
			break;
		case 'a':
			all = 1;
			break;
		case 'f':
			if (apply)
				return CUST_EXIT_USAGE;
			fmt = optarg;
			break;
		case 'n':
			if (!apply)
				return CUST_EXIT_USAGE;
			dry = 1;
			break;
		default:
			return CUST_EXIT_USAGE;
		}
	}
	if ((device != NULL) + (tag != NULL) + all != 1)
		return cli_usage(cli_current(), "give one of --device, --tag "
		    "or --all");
	if (optind != argc)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	if (strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0 &&
	    strcmp(fmt, "sarif") != 0)
		return cli_usage(cli_current(), "--format is text, json or "
		    "sarif");
	if ((req = json_object()) == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	if (device != NULL)
		json_object_set_new(req, "device", ops_text(device));
	else if (tag != NULL)
		json_object_set_new(req, "tag", ops_text(tag));
	else
		json_object_set_new(req, "all", json_true());
	if (dry)
		json_object_set_new(req, "dry_run", json_true());
	r = cli_call(c, apply ? "policy.apply" : "policy.drift", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (strcmp(fmt, "json") == 0) {
		cli_print_json(resp);
	} else if (strcmp(fmt, "sarif") == 0) {
		if ((sarif = drift_sarif(resp)) == NULL) {
			json_decref(resp);
			return cli_error(c, cust_fail(CUST_E_NOMEM, "out of "
			    "memory"));
		}
		cli_print_json(sarif);
		json_decref(sarif);
	} else if (apply) {
		r = cli_apply_result(c, resp);
		json_decref(resp);
		return r;
	} else {
		render_drift(resp);
	}
	r = cli_num(resp, apply ? "failed" : "drifted") > 0 ? CUST_EXIT_FAIL :
	    CUST_EXIT_OK;
	json_decref(resp);
	return r;
}

static int
cmd_apply(struct cli *c, int argc, char **argv)
{
	return acl_cmd(c, argc, argv, 1);
}

static int
cmd_drift(struct cli *c, int argc, char **argv)
{
	return acl_cmd(c, argc, argv, 0);
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
	  "[FILE] --device FQDN | --all | FILE --tags TAG,... "
	  "[--acl-sid auto|account]",
	  "show the AMT ACL entries a policy puts on devices" },
	{ "policy", "apply", cmd_apply, 0,
	  "[--dry-run] --device FQDN | --tag TAG | --all",
	  "put the loaded policy's digest users on the devices" },
	{ "policy", "drift", cmd_drift, 0,
	  "[--format text|json|sarif] --device FQDN | --tag TAG | --all",
	  "compare the ACL entries on devices with the plan (audit)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
