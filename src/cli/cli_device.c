/* SPDX-License-Identifier: MIT */
/* src/cli/cli_device.c - device add|list|show|remove|import. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "cred.h"
#include "err.h"
#include "util.h"

static int
opt_len(const char *arg, json_t *req, const char *key)
{
	long n;

	if (util_parse_long(arg, CRED_PW_MIN, CRED_PW_MAX, &n) != CUST_OK)
		return cli_usage(cli_current(), "%s", cust_errmsg());
	json_object_set_new(req, key, json_integer(n));
	return 0;
}

static void
tags_str(json_t *d, char *buf, size_t len)
{
	json_t *t;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(d, "tags"), i, t) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "",
		    json_string_value(t));

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, len, "-");
}

static void
render_device(struct cli *c, json_t *d)
{
	char tags[1024];
	json_t *s;
	size_t i;

	(void)c;
	tags_str(d, tags, sizeof(tags));
	printf("fqdn          %s\n", cli_str(d, "fqdn"));
	printf("uuid          %s\n", cli_str(d, "uuid"));
	printf("digest realm  %s\n", cli_str(d, "digest_realm"));
	printf("address       %s\n", cli_str(d, "address"));
	printf("tags          %s\n", tags);
	printf("state         %s\n", cli_str(d, "state"));
	printf("created       %s\n", cli_str(d, "created"));
	json_array_foreach(json_object_get(d, "secrets"), i, s)
		printf("%-13s %-5s v%-4lld %-8s since %s\n", i == 0 ?
		    "secrets" : "", cli_str(s, "kind"),
		    json_integer_value(json_object_get(s, "version")),
		    cli_str(s, "state"), cli_str(s, "changed"));
}

static int
cmd_add(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "uuid", required_argument, NULL, 'u' },
		{ "digest-realm", required_argument, NULL, 'r' },
		{ "tag", required_argument, NULL, 't' },
		{ "password-length", required_argument, NULL, 'l' },
		{ "address", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *tags = json_array();
	int ch;

	json_object_set_new(req, "tags", tags);
	while ((ch = getopt_long(argc, argv, "u:r:t:l:A:", opts, NULL)) != -1) {
		switch (ch) {
		case 'A':
			json_object_set_new(req, "address", ops_text(optarg));
			break;
		case 'u':
			json_object_set_new(req, "uuid", ops_text(optarg));
			break;
		case 'r':
			json_object_set_new(req, "digest_realm",
			    ops_text(optarg));
			break;
		case 't':
			json_array_append_new(tags, ops_text(optarg));
			break;
		case 'l':
			if (opt_len(optarg, req, "password_length") != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give exactly one FQDN");
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	return cli_run(c, "device.add", req, render_device);
usage:
	json_decref(req);
	return CUST_EXIT_USAGE;
}

static void
render_list(struct cli *c, json_t *resp, int first)
{
	json_t *d;
	size_t i;
	char tags[1024];

	(void)c;
	if (first)
		printf("%-40s %-36s %s\n", "FQDN", "UUID", "TAGS");
	json_array_foreach(json_object_get(resp, "devices"), i, d) {
		tags_str(d, tags, sizeof(tags));
		printf("%-40s %-36s %s\n", cli_str(d, "fqdn"), cli_str(d, "uuid"),
		    tags);
	}
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'n' },
		{ "after", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "t:n:a:", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
		case 'a':
			json_object_set_new(req, ch == 't' ? "tag" : "after",
			    ops_text(optarg));
			break;
		case 'n':
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
	return cli_list_tail(c, argc, argv, "device.list", req, "devices", render_list);
}

/* Commands that take exactly one FQDN and nothing else. */
static int
one_fqdn(struct cli *c, int argc, char **argv, const char *op,
    void (*render)(struct cli *, json_t *))
{
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(cli_current(), "give exactly one FQDN");
	return cli_run(c, op, json_pack("{s:o}", "fqdn", ops_text(argv[1])),
	    render);
}

static int
cmd_show(struct cli *c, int argc, char **argv)
{
	return one_fqdn(c, argc, argv, "device.show", render_device);
}

static int
cmd_set(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'A' },
		{ "no-address", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "A:N", opts, NULL)) != -1) {
		switch (ch) {
		case 'A':
			json_object_set_new(req, "address", ops_text(optarg));
			break;
		case 'N':
			json_object_set_new(req, "address", json_null());
			break;
		default:
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || json_object_size(req) == 0) {
		json_decref(req);
		return cli_usage(cli_current(), "give one FQDN and --address "
		    "HOST[:PORT] or --no-address");
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	return cli_run(c, "device.set", req, render_device);
}

void
cli_render_push(struct cli *c, json_t *r)
{
	json_t *st, *ct = json_object_get(r, "connect_to");
	size_t i, n = json_array_size(json_object_get(r, "steps"));

	(void)c;
	if (json_object_get(r, "version") != NULL &&
	    !json_is_null(json_object_get(r, "version")))
		printf("# %s: push of %s password v%lld (candidate %s) over %s",
		    cli_str(r, "fqdn"), cli_str(r, "kind"), cli_num(r, "version"),
		    cli_str(r, "candidate"), cli_str(r, "url"));
	else
		printf("# %s: push of a new %s password over %s",
		    cli_str(r, "fqdn"), cli_str(r, "kind"), cli_str(r, "url"));
	if (json_is_string(ct))
		printf(" (connect-to %s)", cli_str(r, "connect_to"));
	printf("\n# dry run: nothing was sent\n");
	if (json_object_get(r, "note") != NULL)
		printf("# note: %s\n", cli_str(r, "note"));
	json_array_foreach(json_object_get(r, "steps"), i, st)
		printf("\n# %zu/%zu %s: MessageID %lld, %s\n%s", i + 1, n,
		    cli_str(st, "step"), cli_num(st, "message_id"),
		    cli_str(st, "auth"), cli_raw(st, "envelope"));
}

int
cli_push_ok(json_t *item)
{
	const char *res = json_string_value(json_object_get(item, "result"));

	return res != NULL && (strcmp(res, "ok") == 0 ||
	    strcmp(res, "reconciled") == 0);
}

void
cli_render_pushed(struct cli *c, json_t *it)
{
	if (c->quiet && cli_push_ok(it))
		return;
	printf("%s %s: %s: %s\n", cli_str(it, "fqdn"), cli_str(it, "kind"),
	    cli_str(it, "result"), cli_str(it, "detail"));
}

int
cli_fqdn_dry_run(int argc, char **argv, int with_force, json_t **req_out)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	*req_out = NULL;
	while ((ch = getopt_long(argc, argv, with_force ? "nf" : "n", opts,
	    NULL)) != -1) {
		if (ch == 'f' && with_force)
			json_object_set_new(req, "force", json_true());
		else if (ch == 'n')
			json_object_set_new(req, "dry_run", json_true());
		else {
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give exactly one FQDN");
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	*req_out = req;
	return CUST_EXIT_OK;
}

int
cli_push_job_result(struct cli *c, json_t *items, json_t *results,
    long long job, long long selected, long long pushed)
{
	const char *k;
	json_t *v, *it;
	size_t i;
	int bad = 0;

	json_array_foreach(items, i, it)
		if (!c->json)
			cli_render_pushed(c, it);
	json_object_foreach(results, k, v)
		if (strcmp(k, "ok") != 0 && strcmp(k, "reconciled") != 0 &&
		    strcmp(k, "nothing-pending") != 0 && json_integer_value(v) >
		    0)
			bad = 1;
	if (!c->quiet && !c->json) {
		printf("%lld of %lld devices now hold their new admin password "
		    "(push job %lld):", pushed, selected, job);
		json_object_foreach(results, k, v)
			printf(" %s %lld", k, (long long)json_integer_value(v));
		printf("\n");
	}
	return bad ? CUST_EXIT_FAIL : CUST_EXIT_OK;
}

/* A push job (device push FQDN...|--tag T|--all, job resume of a push):
 * its reply printed; the exit code. req is consumed. */
int
cli_push_job(struct cli *c, const char *op, json_t *req)
{
	json_t *resp = NULL;
	int r;

	r = cli_call(c, op, req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (cli_job_started(c, resp)) {		/* --no-wait */
		json_decref(resp);
		return CUST_EXIT_OK;
	}
	if (c->json)
		cli_print_json(resp);
	r = cli_push_job_result(c, json_object_get(resp, "items"),
	    json_object_get(resp, "results"), cli_num(resp, "job"),
	    cli_num(resp, "selected"), cli_num(resp, "pushed"));
	json_decref(resp);
	return r;
}

static int
cmd_push(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "kind", required_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "wait", no_argument, NULL, 'w' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *fqdns;
	int ch, sel = 0, r;

	while ((ch = getopt_long(argc, argv, "nk:t:aw", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			json_object_set_new(req, "dry_run", json_true());
			break;
		case 'k':
			json_object_set_new(req, "kind", ops_text(optarg));
			break;
		case 't':
			json_object_set_new(req, "tag", ops_text(optarg));
			sel = 1;
			break;
		case 'a':
			json_object_set_new(req, "all", json_true());
			sel = 1;
			break;
		case 'w':
			c->wait = 1;
			break;
		case 'W':
			if ((r = cli_no_wait(c)) != 0) {
				json_decref(req);
				return r;
			}
			break;
		default:
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	if (sel || argc - optind > 1) {
		if (json_object_get(req, "dry_run") != NULL ||
		    json_object_get(req, "kind") != NULL) {
			json_decref(req);
			return cli_usage(cli_current(), "--dry-run and --kind "
			    "take one FQDN (a push job sends admin passwords)");
		}
		if (argc - optind > 0) {
			fqdns = json_array();
			for (; optind < argc; optind++)
				json_array_append_new(fqdns,
				    ops_text(argv[optind]));
			json_object_set_new(req, "fqdns", fqdns);
		}
		/* Per-device lines for a handful of named devices only. */
		if (json_array_size(json_object_get(req, "fqdns")) > 0 &&
		    json_array_size(json_object_get(req, "fqdns")) <= 100)
			json_object_set_new(req, "items", json_true());
		return cli_push_job(c, "device.push", req);
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give FQDNs, --tag or --all");
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	if (json_object_get(req, "dry_run") != NULL)
		return cli_run(c, "device.push", req, cli_render_push);
	return cli_run_outcome(c, "device.push", req, cli_render_pushed,
	    cli_push_ok);
}

int
cli_run_outcome(struct cli *c, const char *op, json_t *req,
    void (*render)(struct cli *c, json_t *resp), int (*ok)(json_t *resp))
{
	json_t *resp = NULL;
	int r;

	r = cli_call(c, op, req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (c->json)
		cli_print_json(resp);
	else
		render(c, resp);
	r = ok(resp) ? CUST_EXIT_OK : CUST_EXIT_FAIL;
	json_decref(resp);
	return r;
}

static void
render_removed(struct cli *c, json_t *r)
{
	if (!c->quiet)
		printf("%s retired (its secret history is kept; %lld "
		    "certificates revoked)\n", cli_str(r, "fqdn"),
		    cli_num(r, "certificates_revoked"));
	cli_render_directory(c, r, cli_str(r, "fqdn"), "deleted");
}

static int
cmd_remove(struct cli *c, int argc, char **argv)
{
	return one_fqdn(c, argc, argv, "device.remove", render_removed);
}

static void
render_import(struct cli *c, json_t *r)
{
	if (!c->quiet)
		printf("imported %lld devices (job %lld)\n",
		    json_integer_value(json_object_get(r, "imported")),
		    json_integer_value(json_object_get(r, "job")));
}

static int
cmd_import(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "password-length", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *data;
	char *buf = NULL;
	size_t len = 0;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
		if (ch != 'l' || opt_len(optarg, req, "password_length") != 0) {
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give exactly one FILE (CSV or "
		    "JSON; - for standard input)");
	}
	if ((r = util_read_file(argv[optind], CRED_IMPORT_MAX, &buf, &len)) !=
	    CUST_OK) {
		json_decref(req);
		return cli_error(c, r);
	}
	data = json_stringn(buf, len);
	sodium_memzero(buf, len);
	free(buf);
	if (data == NULL) {
		json_decref(req);
		return cli_error(c, cust_fail(CUST_E_PARSE, "%s is not UTF-8 "
		    "text", argv[optind]));
	}
	json_object_set_new(req, "data", data);
	return cli_run(c, "device.import", req, render_import);
}

/* device kerberos FQDN... | --tag TAG | --all [--rotate [--due]]
 * [--dry-run]: a
 * job (exit 1 when a device is not ok); answered as policy apply. */
static int
cmd_kerberos(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "rotate", no_argument, NULL, 'r' },
		{ "due", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *fq = json_array(), *resp = NULL;
	int ch, r, sel = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 't' && util_valid_tag(optarg) == CUST_OK) {
			json_object_set_new(req, "tag", ops_text(optarg));
			sel++;
		} else if (ch == 'a') {
			json_object_set_new(req, "all", json_true());
			sel++;
		} else if (ch == 'n') {
			json_object_set_new(req, "dry_run", json_true());
		} else if (ch == 'r') {
			json_object_set_new(req, "rotate", json_true());
		} else if (ch == 'd') {
			json_object_set_new(req, "due", json_true());
		} else {
			json_decref(req);
			json_decref(fq);
			return ch == 't' ? cli_usage(cli_current(), "'%s' is "
			    "not a valid tag", optarg) : CUST_EXIT_USAGE;
		}
	}
	for (; optind < argc; optind++)
		json_array_append_new(fq, ops_text(argv[optind]));
	if (json_array_size(fq) > 0)
		sel++;
	if (sel != 1) {
		json_decref(req);
		json_decref(fq);
		return cli_usage(cli_current(), "give FQDNs, --tag TAG or "
		    "--all");
	}
	if (json_array_size(fq) > 0)
		json_object_set_new(req, "fqdns", fq);
	else
		json_decref(fq);
	r = cli_call(c, "device.kerberos", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	r = cli_apply_result(c, resp);
	json_decref(resp);
	return r;
}

const struct cli_cmd cli_device_cmds[] = {
	{ "device", "add", cmd_add, 0,
	  "FQDN [--uuid UUID] [--digest-realm REALM] [--tag TAG]... "
	  "[--address HOST[:PORT]] [--password-length N]",
	  "register a device and give it passwords" },
	{ "device", "set", cmd_set, 0,
	  "FQDN --address HOST[:PORT] | --no-address",
	  "change where custody connects to reach a device" },
	{ "device", "list", cmd_list, 0,
	  "[--tag TAG] [--limit N [--after FQDN]]",
	  "list devices (all, or one page with --limit)" },
	{ "device", "show", cmd_show, 0, "FQDN",
	  "show a device and its secret versions" },
	{ "device", "push", cmd_push, 0,
	  "FQDN [--kind admin|mebx] [--dry-run] | FQDN... | --tag TAG | --all "
	  "[--wait | --no-wait]",
	  "apply the pending admin passwords on the devices (a job; MEBx: one "
	  "device over TLS), or show what that sends" },
	{ "device", "kerberos", cmd_kerberos, 0,
	  "FQDN... | --tag TAG | --all [--rotate [--due]] [--dry-run]",
	  "set the device clock, then AMT Kerberos settings from the device's "
	  "AD object (a job, over TLS); --rotate: a new object password "
	  "first; --due: only for objects whose password is due "
	  "(directory.ad object_max_age)" },
	{ "device", "remove", cmd_remove, 0, "FQDN",
	  "retire a device (history is kept)" },
	{ "device", "import", cmd_import, 0, "FILE [--password-length N]",
	  "import devices from CSV or JSON, all or nothing" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
