/* SPDX-License-Identifier: MIT */
/* src/cli/cli_main.c - custodyctl: command dispatch and help, the choice
 * of backend (local, or remote: cli_remote.c), progress and shared output
 * helpers. Global options: cli_args.c. */
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	cli_directory_cmds,
	cli_account_cmds,
};

static const struct cli_cmd *current;
static char outbuf[8192];

const struct cli_cmd *
cli_current(void)
{
	return current;
}

static void
cmd_head(const struct cli_cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->group ? c->group : "", c->group ?
	    " " : "", c->name);
}

/* The commands of group (NULL: every command) with their help lines. */
static void
list_cmds(FILE *f, const char *group)
{
	const struct cli_cmd *c;
	char head[64];
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		for (c = tables[i]; c->name != NULL; c++) {
			if (group != NULL && (c->group == NULL ||
			    strcmp(c->group, group) != 0))
				continue;
			cmd_head(c, head, sizeof(head));
			fprintf(f, "  %-22s %s\n", head, c->help);
		}
}

static const char global_opts[] =
    "global options (before or after the command):\n"
    "  --state-dir DIR        local mode on DIR (CUSTODY_STATE_DIR; "
    "default ./var)\n"
    "  --server URL           remote mode: custodyd at https://HOST[:PORT] "
    "(CUSTODY_SERVER)\n"
    "  --cert F --key F       client certificate and key (CUSTODY_CERT, "
    "CUSTODY_KEY)\n"
    "  --cacert F             custody's CA bundle, verifies the server "
    "(CUSTODY_CACERT)\n"
    "  --timeout SECONDS      per remote request (CUSTODY_TIMEOUT)\n"
    "  --json, -q, --help     JSON output, quiet, usage\n";

static void
usage(FILE *f)
{
	fprintf(f, "usage: custodyctl [--state-dir DIR | --server URL ...] "
	    "[--json] [-q] COMMAND [ARGS]\n       custodyctl help "
	    "[COMMAND]\n\ncommands:\n");
	list_cmds(f, NULL);
	fprintf(f, "\n%s\nSee custodyctl(1). Exit codes: 0 ok, 1 failed or "
	    "violations, 2 usage, 3 denied, 4 not found, 5 unavailable.\n",
	    global_opts);
}

/* custodyctl help GROUP, custodyctl GROUP --help. */
static void
group_usage(FILE *f, const char *group)
{
	fprintf(f, "usage: custodyctl %s COMMAND [ARGS]\n\ncommands:\n",
	    group);
	list_cmds(f, group);
	fprintf(f, "\n%s", global_opts);
}

/* custodyctl help COMMAND, custodyctl COMMAND --help. */
static void
cmd_usage(FILE *f, const struct cli_cmd *c)
{
	char head[64];

	cmd_head(c, head, sizeof(head));
	fprintf(f, "usage: custodyctl %s%s%s\n\n%s%s\n\n%s", head,
	    *c->usage ? " " : "", c->usage, c->help,
	    c->flags & CLI_LOCAL ? " (local mode only)" : "", global_opts);
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

/* The progress display of this process (one long job at a time). */
static struct {
	double start, last;	/* seconds (monotonic) */
	size_t first;		/* done at the first report */
	int began, ended;
} prog;

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds as "1:02:03" or "2:03". */
static void
fmt_secs(double secs, char *buf, size_t len)
{
	long s = secs < 0 ? 0 : secs > 359999 ? 359999 : (long)(secs + 0.5);

	if (s >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

void
cli_progress(struct cli *c, size_t done, size_t total)
{
	char bar[25], eta[48];
	double now = mono(), rate, el;
	int tty = util_isatty_err(), fill, pct, last = done >= total;
	size_t i;

	if (c->quiet || (!tty && !c->wait))
		return;
	if (!prog.began || (prog.ended && c->following)) {
		prog.began = 1;
		prog.ended = 0;
		prog.start = now;
		prog.last = 0;
		prog.first = done;
	}
	/* A terminal is redrawn ten times a second, a log gets a line every
	 * five seconds; the last report always shows. */
	if (!last && now - prog.last < (tty ? 0.1 : 5.0))
		return;
	prog.last = now;
	el = now - prog.start;
	rate = el > 0 && done > prog.first ? (double)(done - prog.first) /
	    el : 0;
	pct = total ? (int)(done * 100 / total) : 100;
	if (last)
		snprintf(eta, sizeof(eta), "0:00");
	else if (rate > 0)
		fmt_secs((double)(total - (done < total ? done : total)) /
		    rate, eta, sizeof(eta));
	else
		snprintf(eta, sizeof(eta), "?");
	if (tty) {
		fill = total ? (int)(done * (sizeof(bar) - 1) / total) :
		    (int)sizeof(bar) - 1;
		for (i = 0; i < sizeof(bar) - 1; i++)
			bar[i] = (int)i < fill ? '#' : '-';
		bar[sizeof(bar) - 1] = '\0';
		fprintf(stderr, "\r[%s] %zu/%zu %3d%% %.0f/s ETA %s\033[K%s",
		    bar, done, total, pct, rate, eta, last ? "\n" : "");
	} else {
		fprintf(stderr, "progress: %zu/%zu devices (%d%%), %.0f/s, "
		    "ETA %s\n", done, total, pct, rate, eta);
	}
	fflush(stderr);
	prog.ended = last;
}

void
cli_progress_end(struct cli *c)
{
	if (prog.began && !prog.ended && !c->quiet && util_isatty_err())
		fputc('\n', stderr);
	prog.ended = 1;
}

static void
progress(void *arg, size_t done, size_t total)
{
	cli_progress(arg, done, total);
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
	int r, async;

	*resp_out = NULL;
	/* A job's rate counts from the start of the operation that runs it
	 * (job show --wait counts from its first look instead). */
	if (!c->following) {
		prog.began = 1;
		prog.ended = 0;
		prog.start = mono();
		prog.last = 0;
		prog.first = 0;
	}
	/* The one choice of transport: every command comes through here. */
	if (c->server != NULL) {
		if (c->remote == NULL &&
		    (r = cli_remote_new(c->server, &c->remote)) != CUST_OK)
			return r;
		/* Progress as local mode shows it: on a terminal, or with
		 * --wait. */
		async = cli_job_async(c, op, req);
		r = cli_remote_call(c->remote, op, req, resp_out,
		    !c->quiet && (c->wait || util_isatty_err()) ? progress :
		    NULL, c);
		/* custodyd runs the job: follow it to its end. */
		if (r == CUST_OK && async && !c->no_wait && json_is_true(
		    json_object_get(*resp_out, "async")))
			r = cli_job_finish(c, req, resp_out);
		return r;
	}
	if (e != NULL && !(e->flags & OPS_NOSTATE) &&
	    (r = cli_open(c)) != CUST_OK)
		return r;
	ctx.st = c->st;
	ctx.progress = progress;
	ctx.progress_arg = c;
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

/*
 * The command named by argv (group and name, or a top-level name) into
 * *cmd_out, and how many words named it; 0 after printing a usage error
 * or (help) the group's usage into *exit_out.
 */
static int
resolve(int argc, char **argv, int help, const struct cli_cmd **cmd_out,
    int *exit_out)
{
	*cmd_out = NULL;
	*exit_out = CUST_EXIT_USAGE;
	if (is_group(argv[0])) {
		if (argc < 2 && help) {
			group_usage(stdout, argv[0]);
			*exit_out = CUST_EXIT_OK;
			return 0;
		}
		if (argc < 2) {
			cli_usage(NULL, "'%s' needs a subcommand (see "
			    "custodyctl help %s)", argv[0], argv[0]);
			return 0;
		}
		if ((*cmd_out = find(argv[0], argv[1])) == NULL) {
			cli_usage(NULL, "unknown command '%s %s' (see "
			    "custodyctl help %s)", argv[0], argv[1], argv[0]);
			return 0;
		}
		return 2;
	}
	if ((*cmd_out = find(NULL, argv[0])) == NULL) {
		cli_usage(NULL, "unknown command '%s' (see custodyctl help)",
		    argv[0]);
		return 0;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	struct cli_args a;
	struct cli c = { 0 };
	const struct cli_cmd *cmd;
	struct passwd *pw;
	int rc, n;

	/* stdout gets a buffer of ours, wiped at exit: passwords printed by
	 * 'password show' must not linger in libc's buffer. */
	setvbuf(stdout, outbuf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF,
	    sizeof(outbuf));
	if (cust_init() != CUST_OK) {
		fprintf(stderr, "custodyctl: %s\n", cust_errmsg());
		return CUST_EXIT_UNAVAIL;
	}
	log_init("custodyctl");
	if (cli_args_take(&a, &argc, argv) != CUST_OK ||
	    cli_args_env(&a) != CUST_OK) {
		fprintf(stderr, "custodyctl: %s (see custodyctl --help)\n",
		    cust_errmsg());
		return CUST_EXIT_USAGE;
	}
	if (a.version) {
		printf("custodyctl %s\n", CUSTODY_VERSION);
		return 0;
	}
	c.state_dir = a.state_dir;
	c.json = a.json;
	c.quiet = a.quiet;
	c.server = a.remote.server != NULL ? &a.remote : NULL;
	argc--;
	argv++;
	/* custodyctl help [COMMAND] is custodyctl [COMMAND] --help. */
	if (argc > 0 && strcmp(argv[0], "help") == 0) {
		a.help = 1;
		argc--;
		argv++;
	}
	if (argc < 1) {
		usage(a.help ? stdout : stderr);
		return a.help ? CUST_EXIT_OK : CUST_EXIT_USAGE;
	}
	if ((n = resolve(argc, argv, a.help, &cmd, &rc)) == 0)
		return rc;
	if (a.help) {
		cmd_usage(stdout, cmd);
		return CUST_EXIT_OK;
	}
	/* The command's argv starts at its name, as getopt expects. */
	argc -= n - 1;
	argv += n - 1;
	if (c.server != NULL && (cmd->flags & CLI_LOCAL)) {
		char head[64];

		cmd_head(cmd, head, sizeof(head));
		fprintf(stderr, "custodyctl: '%s' works on the files of a state "
		    "directory and cannot run through --server: run it on "
		    "custodyd's host with --state-dir DIR\n", head);
		return CUST_EXIT_USAGE;
	}
	if (c.server == NULL) {
		/* Local mode: whoever opens the state directory holds its
		 * master key, and is the trusted local identity. */
		pw = getpwuid(geteuid());
		if (ops_identity_new(OPS_ID_LOCAL, pw ? pw->pw_name : "?",
		    &c.who) != CUST_OK) {
			fprintf(stderr, "custodyctl: %s\n", cust_errmsg());
			return CUST_EXIT_UNAVAIL;
		}
		c.actor = ops_identity_actor(c.who);
	}
	current = cmd;
	optind = 0;	/* reset getopt for the command's own options */
	rc = cmd->fn(&c, argc, argv);
	state_close(c.st);
	cli_remote_free(c.remote);
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
cli_opt_num(json_t *req, const char *key, const char *arg, long min,
    long max)
{
	long n;

	if (util_parse_long(arg, min, max, &n) != CUST_OK) {
		cli_usage(cli_current(), "%s", cust_errmsg());
		return -1;
	}
	json_object_set_new(req, key, json_integer(n));
	return 0;
}

int
cli_list_tail(struct cli *c, int argc, char **argv, const char *op,
    json_t *req, const char *key,
    void (*render)(struct cli *c, json_t *page, int first))
{
	int r;

	if (optind != argc) {
		json_decref(req);
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	}
	if ((r = cli_pages(c, op, req, key, render, NULL)) != CUST_OK)
		return cli_error(c, r);
	return CUST_EXIT_OK;
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
