/* SPDX-License-Identifier: MIT */
/* src/cli/cli_main.c - custodyctl: global options, command dispatch, the
 * local backend and shared output helpers. */
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "state.h"
#include "util.h"

#include "version.h"

/* Every command group's table. */
static const struct cli_cmd *const tables[] = {
	cli_core_cmds,
	cli_device_cmds,
	cli_password_cmds,
	cli_audit_cmds,
	cli_cert_cmds,
	cli_ca_cmds,
	cli_console_cmds,
	cli_policy_cmds,
	cli_store_cmds,
	cli_job_cmds,
	cli_config_cmds,
	cli_credential_cmds,
	cli_staff_cmds,
};

static const struct cli_cmd *current;
static char outbuf[8192];

const struct cli_cmd *
cli_current(void)
{
	return current;
}

static void
usage(FILE *f)
{
	const struct cli_cmd *c;
	size_t i;

	fprintf(f, "usage: custodyctl [--state-dir DIR] [--json] [-q] COMMAND "
	    "[ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (c = tables[i]; c->name != NULL; c++) {
			char head[64];

			snprintf(head, sizeof(head), "%s%s%s", c->group ?
			    c->group : "", c->group ? " " : "", c->name);
			fprintf(f, "  %-18s %s\n", head, c->help);
		}
	fprintf(f, "\nSee custodyctl(1). Exit codes: 0 ok, 1 failed or "
	    "violations, 2 usage, 3 denied, 4 not found, 5 unavailable.\n");
}

int
cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
	char msg[1024], esc[1024];
	va_list ap;

	/* Usage errors quote arguments: escaped like every message. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	util_escape(msg, esc, sizeof(esc));
	fprintf(stderr, "custodyctl: %s", esc);
	if (cmd != NULL)
		fprintf(stderr, "\nusage: custodyctl %s%s%s %s\n",
		    cmd->group ? cmd->group : "", cmd->group ? " " : "",
		    cmd->name, cmd->usage);
	else
		fputc('\n', stderr);
	return CUST_EXIT_USAGE;
}

int
cli_error(struct cli *c, int err)
{
	const char *m = cust_errmsg();

	(void)c;
	fprintf(stderr, "custodyctl: %s\n", *m ? m : cust_strerror(err));
	return cust_exit_code(err);
}

/*
 * Escaped copies made by cli_str() live until the process ends (custodyctl
 * runs one command): renderers print them without owning anything. Most
 * values need no escaping and are returned as they are.
 */
static char **escaped;
static size_t nescaped, capescaped;

static void
free_escaped(void)
{
	size_t i;

	for (i = 0; i < nescaped; i++)
		free(escaped[i]);
	free(escaped);
	escaped = NULL;
	nescaped = capescaped = 0;
}

const char *
cli_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *e, **n;

	if (s == NULL)
		return "-";
	if (!util_needs_escape(s))
		return s;
	if (nescaped == capescaped) {
		size_t cap = capescaped ? 2 * capescaped : 16;

		if ((n = realloc(escaped, cap * sizeof(*n))) == NULL)
			return "?";
		escaped = n;
		capescaped = cap;
	}
	if ((e = util_escape_dup(s)) == NULL)
		return "?";	/* never the raw text */
	escaped[nescaped++] = e;
	return e;
}

const char *
cli_raw(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

long long
cli_num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

void
cli_print_json(json_t *resp)
{
	json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

static void
progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	fprintf(stderr, "\r%zu/%zu devices (%zu%%)%s", done, total,
	    total ? done * 100 / total : 100, done == total ? "\n" : "");
}

int
cli_open(struct cli *c)
{
	if (c->st != NULL)
		return CUST_OK;
	return state_open(c->state_dir, &c->st);
}

int
cli_call(struct cli *c, const char *op, json_t *req, json_t **resp_out)
{
	struct ops_ctx ctx = { .who = c->who };
	const struct ops_entry *e = ops_find(op);
	int r;

	*resp_out = NULL;
	if (e != NULL && !(e->flags & OPS_NOSTATE) &&
	    (r = cli_open(c)) != CUST_OK)
		return r;
	ctx.st = c->st;
	if (util_isatty_err() && !c->quiet) {
		ctx.progress = progress;
		ctx.progress_arg = c;
	}
	return ops_call(&ctx, op, req, resp_out);
}

static const struct cli_cmd *
find(const char *group, const char *name)
{
	const struct cli_cmd *c;
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (c = tables[i]; c->name != NULL; c++) {
			if (c->group == NULL && group == NULL &&
			    strcmp(c->name, name) == 0)
				return c;
			if (c->group != NULL && group != NULL &&
			    strcmp(c->group, group) == 0 &&
			    strcmp(c->name, name) == 0)
				return c;
		}
	return NULL;
}

static int
is_group(const char *g)
{
	const struct cli_cmd *c;
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (c = tables[i]; c->name != NULL; c++)
			if (c->group != NULL && strcmp(c->group, g) == 0)
				return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "server", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli c = { 0 };
	const struct cli_cmd *cmd;
	struct passwd *pw;
	int ch, rc;

	/* stdout gets a buffer of ours, wiped at exit: passwords printed by
	 * 'password show' must not linger in libc's buffer. */
	setvbuf(stdout, outbuf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF,
	    sizeof(outbuf));
	if (cust_init() != CUST_OK) {
		fprintf(stderr, "custodyctl: %s\n", cust_errmsg());
		return CUST_EXIT_UNAVAIL;
	}
	log_init("custodyctl");
	c.state_dir = getenv("CUSTODY_STATE_DIR");
	if (c.state_dir == NULL || *c.state_dir == '\0')
		c.state_dir = "./var";
	/* "+": stop at the command name; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+d:jqhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			c.state_dir = optarg;
			break;
		case 'j':
			c.json = 1;
			break;
		case 'q':
			c.quiet = 1;
			break;
		case 's':
			fprintf(stderr, "custodyctl: remote mode (--server) "
			    "needs custodyd, which this version does not "
			    "ship yet; use --state-dir\n");
			return CUST_EXIT_USAGE;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("custodyctl %s\n", CUSTODY_VERSION);
			return 0;
		default:
			usage(stderr);
			return CUST_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return CUST_EXIT_USAGE;
	}
	if (is_group(argv[0])) {
		if (argc < 2)
			return cli_usage(NULL, "'%s' needs a subcommand (see "
			    "custodyctl --help)", argv[0]);
		cmd = find(argv[0], argv[1]);
		if (cmd == NULL)
			return cli_usage(NULL, "unknown command '%s %s' (see "
			    "custodyctl --help)", argv[0], argv[1]);
		argc--;
		argv++;
	} else if ((cmd = find(NULL, argv[0])) == NULL) {
		return cli_usage(NULL, "unknown command '%s' (see custodyctl "
		    "--help)", argv[0]);
	}
	/* Local mode: whoever opens the state directory holds its master
	 * key, and is the trusted local identity. */
	pw = getpwuid(geteuid());
	if (ops_identity_new(OPS_ID_LOCAL, pw ? pw->pw_name : "?", &c.who) !=
	    CUST_OK) {
		fprintf(stderr, "custodyctl: %s\n", cust_errmsg());
		return CUST_EXIT_UNAVAIL;
	}
	c.actor = ops_identity_actor(c.who);
	current = cmd;
	optind = 0;	/* reset getopt for the command's own options */
	rc = cmd->fn(&c, argc, argv);
	state_close(c.st);
	ops_identity_free(c.who);
	free_escaped();
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "custodyctl: cannot write output\n");
		if (rc == 0)
			rc = CUST_EXIT_FAIL;
	}
	sodium_memzero(outbuf, sizeof(outbuf));
	return rc;
}

/* Fold page into all: the key arrays joined, integer counts summed. */
static int
merge_page(json_t *all, json_t *page, const char *key, int items)
{
	const char *k;
	json_t *v, *a;

	json_object_foreach(page, k, v) {
		a = json_object_get(all, k);
		if (strcmp(k, key) == 0) {
			if (items && json_array_extend(a, v) != 0)
				return cust_fail(CUST_E_NOMEM, "out of memory");
		} else if (strcmp(k, "next") != 0 && json_is_integer(v) &&
		    json_is_integer(a) && json_integer_set(a,
		    json_integer_value(a) + json_integer_value(v)) != 0) {
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	}
	return CUST_OK;
}

int
cli_pages(struct cli *c, const char *op, json_t *req, const char *key,
    void (*render)(struct cli *c, json_t *page, int first),
    json_t **merged_out)
{
	json_t *resp = NULL, *all = NULL, *next;
	int one = json_object_get(req, "limit") != NULL, first = 1, r;

	if (merged_out != NULL)
		*merged_out = NULL;
	if (req == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if (!one && json_object_set_new(req, "limit",
	    json_integer(OPS_LIST_MAX)) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		if ((r = cli_call(c, op, req, &resp)) != CUST_OK)
			goto out;
		next = json_object_get(resp, "next");
		if (!c->json)
			render(c, resp, first);
		if (all == NULL) {
			all = resp;
			resp = NULL;
			/* Text keeps no page once printed: bounded memory. */
			if (!c->json && !one)
				json_array_clear(json_object_get(all, key));
		} else if ((r = merge_page(all, resp, key, c->json)) !=
		    CUST_OK) {
			goto out;
		}
		if (one || next == NULL || json_is_null(next))
			break;
		/* A cursor that does not move would loop for ever (a remote
		 * backend is not to be trusted with that). */
		if (json_equal(next, json_object_get(req, "after"))) {
			r = cust_fail(CUST_E_INTERNAL, "%s: the list does not "
			    "advance past its cursor", op);
			goto out;
		}
		/* The cursor is used as it came: never interpreted here. */
		if (json_object_set(req, "after", next) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		json_decref(resp);
		resp = NULL;
		first = 0;
	}
	if (one && !c->json && json_is_string(json_object_get(all, "next")))
		printf("(more: --after %s)\n", cli_str(all, "next"));
	else if (one && !c->json && json_is_integer(json_object_get(all,
	    "next")))
		printf("(more: --after %lld)\n", cli_num(all, "next"));
	if (!one && json_object_set_new(all, "next", json_null()) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (c->json)
		cli_print_json(all);
	if (merged_out != NULL) {
		*merged_out = all;
		all = NULL;
	}
	r = CUST_OK;
out:
	json_decref(resp);
	json_decref(all);
	json_decref(req);
	return r;
}

int
cli_run(struct cli *c, const char *op, json_t *req,
    void (*render)(struct cli *c, json_t *resp))
{
	json_t *resp = NULL;
	int r;

	if (req == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	r = cli_call(c, op, req, &resp);
	json_decref(req);
	if (r != CUST_OK) {
		json_decref(resp);
		return cli_error(c, r);
	}
	if (c->json)
		cli_print_json(resp);
	else if (render != NULL)
		render(c, resp);
	json_decref(resp);
	return CUST_EXIT_OK;
}
