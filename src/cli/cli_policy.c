/* SPDX-License-Identifier: MIT */
/* src/cli/cli_policy.c - policy check|load|plan.
 *
 * check runs offline (no state directory, no secrets): it is what CI
 * runs on every change to policy files. load and plan go through the
 * operations; plan --tags is offline too.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "policy.h"
#include "util.h"

static int
cmd_check(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "strict", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	enum policy_format fmt = c->json ? POLICY_FMT_JSON : POLICY_FMT_TEXT;
	struct policy_report *rep;
	unsigned flags = 0;
	int ch, i, r;

	while ((ch = getopt_long(argc, argv, "f:s", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (policy_format_parse(optarg, &fmt) != CUST_OK)
				return cli_usage(cli_current(), "%s",
				    cust_errmsg());
			break;
		case 's':
			flags |= POLICY_STRICT;
			break;
		default:
			return CUST_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(cli_current(), "no policy file given");
	if ((rep = policy_report_new()) == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	for (i = optind; i < argc; i++)
		if ((r = policy_load_file(rep, argv[i], NULL)) == CUST_E_NOMEM) {
			policy_report_free(rep);
			return cli_error(c, cust_fail(r, "out of memory"));
		}
	if ((r = policy_report_write(rep, fmt, flags, stdout)) != CUST_OK) {
		policy_report_free(rep);
		return cli_error(c, r);
	}
	if (!c->quiet && fmt == POLICY_FMT_TEXT)
		fprintf(stderr, "custodyctl: %d file%s checked: %zu error%s, "
		    "%zu warning%s\n", argc - optind, argc - optind == 1 ?
		    "" : "s", policy_report_errors(rep),
		    policy_report_errors(rep) == 1 ? "" : "s",
		    policy_report_warnings(rep),
		    policy_report_warnings(rep) == 1 ? "" : "s");
	r = policy_report_exit(rep, flags);
	policy_report_free(rep);
	return r;
}

/* Read path and check it locally, printing the findings to stderr, so
 * that a refusal says where. *text_out is new (free()), NULL when the
 * file cannot be read. Returns the check's exit status (0, 1 or 2) or
 * that of an error it printed. */
static int
read_checked(struct cli *c, const char *path, char **text_out,
    struct policy **p_out)
{
	struct policy_report *rep = policy_report_new();
	size_t len;
	int r;

	*text_out = NULL;
	if (rep == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	if ((r = util_read_file(path, POLICY_MAX_BYTES, text_out, &len)) !=
	    CUST_OK) {
		policy_report_free(rep);
		return cli_error(c, r);
	}
	if (memchr(*text_out, '\0', len) != NULL) {
		free(*text_out);
		*text_out = NULL;
		policy_report_free(rep);
		return cli_error(c, cust_fail(CUST_E_PARSE, "%s contains a NUL "
		    "byte", path));
	}
	r = policy_load_buf(rep, path, *text_out, len, p_out);
	if (r == CUST_E_NOMEM)
		r = cli_error(c, cust_fail(r, "out of memory"));
	else
		r = policy_report_exit(rep, 0);
	if (policy_report_count(rep) > 0 &&
	    policy_report_write(rep, POLICY_FMT_TEXT, 0, stderr) != CUST_OK)
		r = CUST_EXIT_FAIL;
	policy_report_free(rep);
	return r;
}

static void
render_load(struct cli *c, json_t *r)
{
	(void)c;
	printf("loaded policy %s: %lld consoles, sha256 %s\n",
	    json_string_value(json_object_get(r, "file")),
	    json_integer_value(json_object_get(r, "consoles")),
	    json_string_value(json_object_get(r, "sha256")));
}

static int
cmd_load(struct cli *c, int argc, char **argv)
{
	char *text = NULL;
	json_t *req;
	int r;

	if (argc != 2)
		return cli_usage(cli_current(), "give one policy file");
	/* The findings are shown here; the operation decides (and audits
	 * a refusal) on its own check. */
	r = read_checked(c, argv[1], &text, NULL);
	if (text == NULL)
		return r;
	req = json_pack("{s:s, s:s}", "file", argv[1], "text", text);
	free(text);
	if (req == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	return cli_run(c, "policy.load", req, render_load);
}

static void
print_entry(json_t *e)
{
	json_t *x;
	size_t i;
	const char *type = json_string_value(json_object_get(e, "type"));

	printf("  %-16s %-8s %-32s %-7s ", json_string_value(json_object_get(e,
	    "console")), type, json_string_value(json_object_get(e,
	    strcmp(type, "kerberos") == 0 ? "principal" : "username")),
	    json_string_value(json_object_get(e, "access_name")));
	json_array_foreach(json_object_get(e, "realms"), i, x)
		printf("%s%lld", i ? "," : "", json_integer_value(x));
	putchar('\n');
}

static void
print_plan(json_t *plan)
{
	json_t *e;
	size_t i;

	printf("%s: %zu entries (%lld digest, %lld Kerberos)%s\n",
	    json_string_value(json_object_get(plan, "device")),
	    json_array_size(json_object_get(plan, "entries")),
	    json_integer_value(json_object_get(plan, "digest_entries")),
	    json_integer_value(json_object_get(plan, "kerberos_entries")),
	    json_is_true(json_object_get(plan, "within_limits")) ? "" :
	    " OVER THE AMT ACL LIMITS");
	json_array_foreach(json_object_get(plan, "entries"), i, e)
		print_entry(e);
}

/* Offline: the entries of a device that carries tags. */
static int
plan_tags(struct cli *c, const char *path, const char *tagarg)
{
	struct policy *p = NULL;
	json_t *tags = json_array(), *plan = NULL;
	char *text = NULL, *list = strdup(tagarg), *t, *next;
	char name[128];
	int r;

	if (tags == NULL || list == NULL) {
		r = cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
		goto out;
	}
	for (t = list; t != NULL; t = next) {
		if ((next = strchr(t, ',')) != NULL)
			*next++ = '\0';
		if (*t != '\0' && json_array_append_new(tags,
		    json_string(t)) != 0) {
			r = cli_error(c, cust_fail(CUST_E_NOMEM, "out of "
			    "memory"));
			goto out;
		}
	}
	if ((r = read_checked(c, path, &text, &p)) != CUST_EXIT_OK)
		goto out;
	snprintf(name, sizeof(name), "(a device tagged %.100s)", tagarg);
	if ((r = policy_plan(p, name, tags, &plan)) != CUST_OK) {
		r = cli_error(c, r);
		goto out;
	}
	if (c->json)
		cli_print_json(plan);
	else
		print_plan(plan);
	r = json_is_true(json_object_get(plan, "within_limits")) ?
	    CUST_EXIT_OK : CUST_EXIT_FAIL;
out:
	json_decref(plan);
	json_decref(tags);
	policy_free(p);
	free(text);
	free(list);
	return r;
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
	json_t *req, *resp = NULL, *plan;
	char *text = NULL;
	size_t i;
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
		if (optind == argc)
			return cli_usage(cli_current(), "--tags needs a policy "
			    "file");
		return plan_tags(c, argv[optind], tags);
	}
	if ((req = json_object()) == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	if (optind < argc) {
		if ((r = read_checked(c, argv[optind], &text, NULL)) !=
		    CUST_EXIT_OK) {
			json_decref(req);
			free(text);
			return r;
		}
		json_object_set_new(req, "file", json_string(argv[optind]));
		json_object_set_new(req, "text", json_string(text));
		free(text);
	}
	if (device != NULL)
		json_object_set_new(req, "device", json_string(device));
	else
		json_object_set_new(req, "all", json_true());
	r = cli_call(c, "policy.plan", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (c->json) {
		cli_print_json(resp);
	} else {
		json_array_foreach(json_object_get(resp, "devices"), i, plan)
			print_plan(plan);
	}
	r = json_integer_value(json_object_get(resp, "over_limits")) > 0 ?
	    CUST_EXIT_FAIL : CUST_EXIT_OK;
	json_decref(resp);
	return r;
}

const struct cli_cmd cli_policy_cmds[] = {
	{ "policy", "check", cmd_check, CLI_NOSTATE,
	  "[--format text|json|sarif|junit] [--strict] FILE...",
	  "check policy files offline (CI)" },
	{ "policy", "load", cmd_load, 0, "FILE",
	  "store a policy that passes the check (audited)" },
	{ "policy", "plan", cmd_plan, CLI_NOSTATE,
	  "[FILE] --device FQDN | --all | FILE --tags TAG,...",
	  "show the AMT ACL entries a policy puts on devices" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
