/* SPDX-License-Identifier: MIT */
/* src/cli/cli_directory.c - principal sync|rotate|list and keytab get:
 * the consoles' MIT Kerberos principals and their keytabs. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "err.h"
#include "ops.h"
#include "seal.h"
#include "util.h"

void
cli_render_principals(struct cli *c, json_t *r)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(r, "items"), i, o) {
		if (c->quiet && strcmp(cli_str(o, "action"), "keep") == 0)
			continue;
		printf("%-8s %-24s %s", cli_str(o, "action"),
		    cli_str(o, "console"), cli_str(o, "principal"));
		if (cli_num(o, "kvno") > 0)
			printf(" kvno %lld", cli_num(o, "kvno"));
		if (json_object_get(o, "detail") != NULL)
			printf(": %s", cli_str(o, "detail"));
		printf("\n");
	}
	if (!c->quiet)
		printf("%s%lld created, %lld deleted, %lld unchanged, %lld "
		    "failed\n", json_is_true(json_object_get(r, "dry_run")) ?
		    "dry run: " : "", cli_num(r, "created"),
		    cli_num(r, "deleted"), cli_num(r, "unchanged"),
		    cli_num(r, "failed"));
}

static int
cmd_sync(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *resp = NULL;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		if (ch != 'n') {
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
		json_object_set_new(req, "dry_run", json_true());
	}
	if (argc != optind) {
		json_decref(req);
		return cli_usage(cli_current(), "takes no arguments");
	}
	r = cli_call(c, "principal.sync", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	if (c->json)
		cli_print_json(resp);
	else
		cli_render_principals(c, resp);
	/* a principal that failed (or is someone else's) fails the sync */
	r = cli_num(resp, "failed") > 0 ? CUST_EXIT_FAIL : CUST_EXIT_OK;
	json_decref(resp);
	return r;
}

static void
render_rotate(struct cli *c, json_t *r)
{
	char until[32];

	if (c->quiet)
		return;
	printf("%s: kvno %lld", cli_str(r, "principal"), cli_num(r, "kvno"));
	if (cli_num(r, "previous_kvno") > 0) {
		util_fmt_time(cli_num(r, "previous_until"), until,
		    sizeof(until));
		printf(" (kvno %lld stays in the keytab until %s)",
		    cli_num(r, "previous_kvno"), until);
	}
	printf("\n");
}

static int
cmd_rotate(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage(cli_current(), "give exactly one CONSOLE");
	return cli_run(c, "principal.rotate", json_pack("{s:o}", "name",
	    ops_text(argv[1])), render_rotate);
}

static void
render_list(struct cli *c, json_t *page, int first)
{
	json_t *o;
	size_t i;

	(void)c;
	if (first)
		printf("%-24s %-40s %-8s %s\n", "CONSOLE", "PRINCIPAL", "STATE",
		    "KVNO");
	json_array_foreach(json_object_get(page, "items"), i, o) {
		printf("%-24s %-40s %-8s %lld", cli_str(o, "console"),
		    cli_str(o, "principal"), cli_str(o, "state"),
		    cli_num(o, "kvno"));
		if (json_object_get(o, "previous_kvno") != NULL)
			printf(" (and %lld in the keytab)",
			    cli_num(o, "previous_kvno"));
		printf("\n");
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
	int ch;

	while ((ch = getopt_long(argc, argv, "l:A:", opts, NULL)) != -1) {
		switch (ch) {
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
	return cli_list_tail(c, argc, argv, "principal.list", req, "items",
	    render_list);
}

/* keytab get CONSOLE -o FILE: the file written 0600, atomically (a
 * service reading it never sees half a keytab); the keys never on
 * stdout. */
static int
cmd_keytab_get(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char *outf = NULL, *b64;
	struct seal_secret *bin = NULL;
	json_t *req, *resp = NULL;
	size_t bl = 0;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (ch != 'o')
			return CUST_EXIT_USAGE;
		outf = optarg;
	}
	if (argc - optind != 1 || outf == NULL)
		return cli_usage(cli_current(), "give one CONSOLE and -o FILE");
	req = json_pack("{s:o}", "name", ops_text(argv[optind]));
	r = cli_call(c, "keytab.get", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	b64 = json_string_value(json_object_get(resp, "keytab"));
	if (b64 == NULL || (bin = seal_secret_new(strlen(b64))) == NULL ||
	    sodium_base642bin(seal_secret_data(bin), strlen(b64), b64,
	    strlen(b64), NULL, &bl, NULL, sodium_base64_VARIANT_ORIGINAL) !=
	    0) {
		r = cust_fail(CUST_E_PARSE, "the reply holds no keytab");
		goto out;
	}
	r = util_write_file(outf, seal_secret_data(bin), bl, 0600);
	if (r == CUST_OK && c->json) {
		/* what was written where; the keys only in the file */
		json_t *o = json_pack("{s:O, s:o, s:s}", "console",
		    json_object_get(resp, "console"), "file", ops_text(outf),
		    "mode", "0600");

		if (o == NULL)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
		else
			cli_print_json(o);
		json_decref(o);
	} else if (r == CUST_OK && !c->quiet)
		fprintf(stderr, "custodyctl: keytab of %s written to %s "
		    "(0600)\n", cli_str(resp, "console"), outf);
out:
	seal_secret_free(bin);
	json_decref(resp);
	return r == CUST_OK ? CUST_EXIT_OK : cli_error(c, r);
}

void
cli_render_directory(struct cli *c, json_t *resp, const char *of,
    const char *done)
{
	json_t *d = json_object_get(resp, "directory");

	if (d == NULL)
		return;
	if (json_is_true(json_object_get(d, done))) {
		if (!c->quiet)
			printf("its AD object %s %s\n", cli_str(d, "dn"), done);
		return;
	}
	/* the change stands; the object is the next sync's to finish */
	fprintf(stderr, "custodyctl: warning: the AD object %s of %s was not "
	    "%s (%s); the next account sync does it\n",
	    json_object_get(d, "dn") ? cli_str(d, "dn") : "(unknown)", of,
	    done, cli_str(d, "error"));
}

const struct cli_cmd cli_directory_cmds[] = {
	{ "principal", "sync", cmd_sync, 0, "[--dry-run]",
	  "make the MIT realm's principals match the loaded policy" },
	{ "principal", "rotate", cmd_rotate, 0, "CONSOLE",
	  "new keys for a console's principal (kvno + 1)" },
	{ "principal", "list", cmd_list, 0, "[--limit N [--after CONSOLE]]",
	  "the MIT principals custody holds" },
	{ "keytab", "get", cmd_keytab_get, 0, "CONSOLE -o FILE",
	  "a console's keytab, written to FILE (0600; audited)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
