/* SPDX-License-Identifier: MIT */
/* src/cli/cli_core.c - top-level commands: init, status. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ca.h"
#include "cli.h"
#include "config.h"
#include "err.h"
#include "state.h"
#include "util.h"

static int
cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		CLI_CA_OPTIONS
		{ NULL, 0, NULL, 0 }
	};
	json_t *caopts = json_object();	/* CA options (cli_ca.c) */
	int ch, li = 0, force = 0, r;

	while ((ch = getopt_long(argc, argv, "f", opts, &li)) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		case 'C':
			if (cli_ca_opt(caopts, opts[li].name, optarg) == 0)
				break;
			json_decref(caopts);
			return CUST_EXIT_USAGE;
		default:
			json_decref(caopts);
			return cli_usage(cli_current(), "bad option");
		}
	}
	if (optind != argc) {
		json_decref(caopts);
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	}
	/* All option checks before anything is created or (--force) wiped. */
	if ((r = ca_opts_check(caopts)) != CUST_OK) {
		json_decref(caopts);
		return cli_usage(cli_current(), "%s", cust_errmsg());
	}
	if ((r = state_init_flags(c->state_dir, force, STATE_INIT_UNFINISHED,
	    &c->st)) != CUST_OK) {
		json_decref(caopts);
		return cli_error(c, r);
	}
	/* Modules that create state at init (the CA) hook in here. */
	if ((r = cli_ca_init(c, caopts)) != CUST_EXIT_OK)
		goto undo;
	/* Tests stop here: store and CA made, the init not finished. */
	util_test_crash("init-unfinished");
	/* Audited and marked finished together: a kill before leaves a
	 * state that every command refuses and the next init replaces. */
	if ((r = state_init_done(c->st, c->actor, force ? "forced" : NULL)) !=
	    CUST_OK) {
		r = cli_error(c, r);
		goto undo;
	}
	/* The service configuration, every key commented out at its
	 * default; an operator's existing file is kept (init --force). */
	r = util_create_file_at(state_dirfd(c->st), CONFIG_FILE,
	    config_default_text(), strlen(config_default_text()), 0600);
	if (r != CUST_OK && r != CUST_E_EXISTS)
		/* The state is whole and usable (an absent custody.yaml is
		 * the built-in defaults): say so, and succeed. */
		fprintf(stderr, "custodyctl: warning: initialised %s, but "
		    "could not write %s (%s); custodyd uses its built-in "
		    "defaults until one is written (see custody.yaml(5))\n",
		    c->state_dir, CONFIG_FILE, cust_errmsg());
	if (c->json) {
		json_t *ca = NULL, *req = json_object(), *out;

		r = cli_call(c, "ca.show", req, &ca);
		json_decref(req);
		out = json_pack("{s:o, s:b, s:o*}", "state_dir",
		    ops_text(c->state_dir), "initialised", 1, "ca", r == CUST_OK ?
		    ca : NULL);
		if (r != CUST_OK)
			json_decref(ca);
		/* The state exists: say so on stderr if the reply cannot. */
		if (out == NULL)
			return cli_error(c, cust_fail(CUST_E_NOMEM, "initialised "
			    "%s, but out of memory for the reply",
			    c->state_dir));
		cli_print_json(out);
		json_decref(out);
	} else if (!c->quiet) {
		printf("initialised custody state in %s\n", c->state_dir);
	}
	return CUST_EXIT_OK;
undo:
	/* Half a state is worse than none: the next init would refuse it.
	 * Only what this init created goes, under its exclusive lock. */
	if (state_init_undo(c->st) != CUST_OK)
		fprintf(stderr, "custodyctl: could not remove the half-made "
		    "state: %s\n", cust_errmsg());
	c->st = NULL;
	return r;
}

/* The sum of an object's integer values ({kind: count}). */
static long long
sum(json_t *counts)
{
	long long n = 0;
	const char *k;
	json_t *v;

	json_object_foreach(counts, k, v)
		n += (long long)json_integer_value(v);
	return n;
}

static void
render_status(struct cli *c, json_t *r)
{
	json_t *certs;

	(void)c;
	printf("state directory  %s\n", cli_str(r, "state_dir"));
	if (json_is_string(json_object_get(r, "key_source")))
		printf("seal             %s (master key from %s)\n",
		    cli_str(r, "seal"), cli_str(r, "key_source"));
	else
		printf("seal             %s\n", cli_str(r, "seal"));
	printf("devices          %lld (%lld retired)\n",
	    json_integer_value(json_object_get(r, "devices")),
	    json_integer_value(json_object_get(r, "retired_devices")));
	printf("pending secrets  %lld\n",
	    json_integer_value(json_object_get(r, "pending_secrets")));
	printf("audit entries    %lld\n",
	    json_integer_value(json_object_get(r, "audit_entries")));
	if ((certs = json_object_get(r, "certificates")) != NULL) {
		printf("certificates     %lld expiring within %lld days, "
		    "%lld due for renewal\n", sum(json_object_get(certs,
		    "expiring")), json_integer_value(json_object_get(certs,
		    "within_days")), sum(json_object_get(certs,
		    "renew_due")));
	}
}

static int
cmd_status(struct cli *c, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[1]);
	return cli_run(c, "status", json_object(), render_status);
}

const struct cli_cmd cli_core_cmds[] = {
	{ NULL, "init", cmd_init, CLI_NOSTATE | CLI_LOCAL,
	  "[--force] [--key-type T] [--profile default|legacy-amt] [CA options]",
	  "create a state directory (master key, store, audit log)" },
	{ NULL, "status", cmd_status, 0, "",
	  "show the state directory's status" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
