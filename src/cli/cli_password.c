/* SPDX-License-Identifier: MIT */
/* src/cli/cli_password.c - password show|history|rotate|confirm|verify. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cred.h"
#include "err.h"
#include "util.h"

static void
render_show(struct cli *c, json_t *r)
{
	(void)c;
	/* Only the value, so that scripts can capture it. */
	printf("%s\n", cli_str(r, "password"));
}

static int
set_version(json_t *req, const char *arg)
{
	long v;

	if (util_parse_long(arg, 1, LONG_MAX, &v) != CUST_OK)
		return cli_usage(cli_current(), "--version: %s", cust_errmsg());
	json_object_set_new(req, "version", json_integer(v));
	return 0;
}

/*
 * show and confirm take the same arguments: FQDN, --kind, --version, and
 * for show also --pending. confirm needs --version.
 */
static int
version_cmd(struct cli *c, int argc, char **argv, const char *op,
    int confirm, void (*render)(struct cli *, json_t *))
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "version", required_argument, NULL, 'v' },
		{ "pending", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, confirm ? "k:v:" : "k:v:p", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'k':
			json_object_set_new(req, "kind", ops_text(optarg));
			break;
		case 'v':
			if (set_version(req, optarg) != 0)
				goto usage;
			break;
		case 'p':
			if (confirm) {
				cli_usage(cli_current(), "confirm takes "
				    "--version, not --pending");
				goto usage;
			}
			json_object_set_new(req, "pending", json_true());
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1 || (confirm &&
	    json_object_get(req, "version") == NULL)) {
		cli_usage(cli_current(), confirm ? "give one FQDN and "
		    "--version N" : "give exactly one FQDN");
		goto usage;
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	return cli_run(c, op, req, render);
usage:
	json_decref(req);
	return CUST_EXIT_USAGE;
}

static int
cmd_show(struct cli *c, int argc, char **argv)
{
	return version_cmd(c, argc, argv, "password.show", 0, render_show);
}

static void
render_history(struct cli *c, json_t *r)
{
	json_t *v;
	size_t i;

	(void)c;
	printf("%-6s %-8s %-8s %-21s %s\n", "KIND", "VERSION", "STATE",
	    "CREATED", "CHANGED");
	json_array_foreach(json_object_get(r, "versions"), i, v)
		printf("%-6s %-8lld %-8s %-21s %s\n", cli_str(v, "kind"),
		    cli_num(v, "version"), cli_str(v, "state"), cli_str(v, "created"),
		    cli_str(v, "changed"));
}

static int
cmd_history(struct cli *c, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(cli_current(), "give exactly one FQDN");
	return cli_run(c, "password.history", json_pack("{s:o}", "fqdn",
	    ops_text(argv[1])), render_history);
}

static void render_rotate(struct cli *c, json_t *r);

/* Print a rotation's reply (password rotate, job resume) and return the
 * exit code: refusals and devices gone are a failure (1). */
int
cli_rotate_result(struct cli *c, json_t *r)
{
	int exit_code = CUST_EXIT_OK;

	if (c->json)
		cli_print_json(r);
	else
		render_rotate(c, r);
	if (cli_num(r, "refused") > 0 || cli_num(r, "missing") > 0) {
		fprintf(stderr, "custodyctl: %s\n", cli_str(r, "message"));
		exit_code = CUST_EXIT_FAIL;
	}
	return exit_code;
}

static void
render_rotate(struct cli *c, json_t *r)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(r, "items"), i, it) {
		if (json_object_get(it, "error") != NULL)
			printf("%s %s: refused: %s\n", cli_str(it, "fqdn"),
			    cli_str(it, "kind"), cli_str(it, "error"));
		else if (!c->quiet)
			printf("%s %s: v%lld pending\n", cli_str(it, "fqdn"),
			    cli_str(it, "kind"), cli_num(it, "version"));
	}
	if (!c->quiet)
		printf("%lld secrets rotated (pending), %lld refused, %lld on "
		    "devices gone; %lld devices selected (job %lld)\n",
		    cli_num(r, "rotated"), cli_num(r, "refused"),
		    cli_num(r, "missing"), cli_num(r, "selected"),
		    cli_num(r, "job"));
}

/* password rotate FQDN... --push --dry-run: nothing is rotated; the
 * envelopes a push of a new password would send, per device. */
static int
rotate_push_dry_run(struct cli *c, json_t *fqdns)
{
	json_t *req, *resp, *all = c->json ? json_array() : NULL, *f;
	size_t i;
	int r = CUST_OK;

	json_array_foreach(fqdns, i, f) {
		req = json_pack("{s:O, s:b, s:s}", "fqdn", f, "dry_run", 1,
		    "candidate", "new");
		r = cli_call(c, "device.push", req, &resp);
		json_decref(req);
		if (r != CUST_OK)
			break;
		if (c->json)
			json_array_append_new(all, resp);
		else {
			if (i > 0)
				printf("\n");
			cli_render_push(c, resp);
			json_decref(resp);
		}
	}
	if (r == CUST_OK && c->json)
		cli_print_json(all);
	json_decref(all);
	return r == CUST_OK ? CUST_EXIT_OK : cli_error(c, r);
}

static int
cmd_rotate(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "kind", required_argument, NULL, 'k' },
		{ "length", required_argument, NULL, 'l' },
		{ "replace-pending", no_argument, NULL, 'R' },
		{ "wait", no_argument, NULL, 'w' },
		{ "push", no_argument, NULL, 'P' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *fqdns = json_array(), *resp = NULL, *it;
	size_t i;
	long n;
	int ch, r, exit_code, push = 0, dry = 0;

	while ((ch = getopt_long(argc, argv, "t:ak:l:R", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			json_object_set_new(req, "tag", ops_text(optarg));
			break;
		case 'a':
			json_object_set_new(req, "all", json_true());
			break;
		case 'k':
			json_object_set_new(req, "kind", ops_text(optarg));
			break;
		case 'l':
			if (util_parse_long(optarg, CRED_PW_MIN, CRED_PW_MAX,
			    &n) != CUST_OK) {
				cli_usage(cli_current(), "--length: %s",
				    cust_errmsg());
				goto usage;
			}
			json_object_set_new(req, "length", json_integer(n));
			break;
		case 'R':
			json_object_set_new(req, "replace_pending",
			    json_true());
			break;
		case 'w':
			c->wait = 1;
			break;
		case 'P':
			push = 1;
			break;
		case 'n':
			dry = 1;
			break;
		case 'W':
			if (cli_no_wait(c) != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	for (; optind < argc; optind++)
		json_array_append_new(fqdns, ops_text(argv[optind]));
	if (dry && !push) {
		cli_usage(cli_current(), "--dry-run goes with --push");
		goto usage;
	}
	if (push && !dry)
		json_object_set_new(req, "push", json_true());
	if (dry) {
		if (json_array_size(fqdns) == 0 || json_object_size(req) > 0) {
			cli_usage(cli_current(), "--push --dry-run takes FQDNs "
			    "only");
			goto usage;
		}
		exit_code = rotate_push_dry_run(c, fqdns);
		json_decref(fqdns);
		json_decref(req);
		return exit_code;
	}
	/* Per-device lines for a handful of named devices only. */
	if (json_array_size(fqdns) > 0 && json_array_size(fqdns) <= 100)
		json_object_set_new(req, "items", json_true());
	json_object_set_new(req, "fqdns", fqdns);
	fqdns = NULL;
	r = cli_call(c, "password.rotate", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (c->json && json_is_true(json_object_get(resp, "async"))) {
		(void)cli_job_started(c, resp);		/* --no-wait */
		json_decref(resp);
		return CUST_EXIT_OK;
	}
	exit_code = cli_rotate_result(c, resp);
	if (push && cli_job_started(c, resp)) {
		/* --no-wait: the rotation is done, its push under way. */
	} else if (push) {
		r = cli_push_job_result(c, json_object_get(resp, "pushes"),
		    json_object_get(resp, "push_results"), cli_num(resp,
		    "push_job"), cli_num(resp, "selected"), cli_num(resp,
		    "pushed"));
		json_array_foreach(json_object_get(resp, "pushes"), i, it)
			if (!cli_push_ok(it))
				r = CUST_EXIT_FAIL;
		if (r != CUST_EXIT_OK)
			exit_code = r;
	}
	json_decref(resp);
	return exit_code;
usage:
	json_decref(fqdns);
	json_decref(req);
	return CUST_EXIT_USAGE;
}

static void
render_confirm(struct cli *c, json_t *r)
{
	if (!c->quiet)
		printf("%s %s password v%lld is now current\n", cli_str(r, "fqdn"),
		    cli_str(r, "kind"), cli_num(r, "version"));
}

static int
cmd_confirm(struct cli *c, int argc, char **argv)
{
	return version_cmd(c, argc, argv, "password.confirm", 1,
	    render_confirm);
}

static int
cmd_verify(struct cli *c, int argc, char **argv)
{
	json_t *resp = NULL, *req, *p;
	size_t i;
	int r;

	if (argc > 1)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[1]);
	req = json_object();
	r = cli_call(c, "password.verify", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (c->json) {
		cli_print_json(resp);
	} else {
		json_array_foreach(json_object_get(resp, "problems"), i, p) {
			if (json_object_get(p, "version") != NULL)
				printf("%s %s v%lld: %s\n", cli_str(p, "fqdn"),
				    cli_str(p, "kind"), cli_num(p, "version"),
				    cli_str(p, "problem"));
			else
				printf("%s %s: %s\n", cli_str(p, "fqdn"),
				    cli_str(p, "kind"), cli_str(p, "problem"));
		}
		printf("%lld devices, %lld secrets checked: %lld unreadable or "
		    "invalid, %lld without a current version\n",
		    cli_num(resp, "devices"), cli_num(resp, "secrets"),
		    cli_num(resp, "unreadable"), cli_num(resp, "no_current"));
	}
	r = cli_num(resp, "unreadable") || cli_num(resp, "no_current") ?
	    CUST_EXIT_FAIL : CUST_EXIT_OK;
	json_decref(resp);
	return r;
}

const struct cli_cmd cli_password_cmds[] = {
	{ "password", "show", cmd_show, 0,
	  "FQDN [--kind admin|mebx] [--version N | --pending]",
	  "print a device password (audited)" },
	{ "password", "history", cmd_history, 0, "FQDN",
	  "list secret versions and states (no values)" },
	{ "password", "rotate", cmd_rotate, 0,
	  "FQDN... | --tag TAG | --all [--kind admin|mebx|all] [--length N] "
	  "[--replace-pending] [--wait] [--push [--no-wait]] | FQDN... --push "
	  "--dry-run",
	  "create new pending passwords (--push: apply them on the devices)" },
	{ "password", "confirm", cmd_confirm, 0,
	  "FQDN --version N [--kind admin|mebx]",
	  "mark a pending password as applied (current)" },
	{ "password", "verify", cmd_verify, 0, "",
	  "unseal and check every current and pending secret" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
