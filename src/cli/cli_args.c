/* SPDX-License-Identifier: MIT */
/* src/cli/cli_args.c - custodyctl's global options, wherever they are
 * typed, and the environment that stands in for them.
 *
 * Users type options after the command ("custodyctl device list --json")
 * as often as before it. Before the command every global option is read
 * as getopt does (short forms and clusters too); after it the long forms
 * and the short ones no command uses (-q, -j, -h) are taken out of argv
 * wherever they stand, up to a "--", and the rest is left to the
 * command. -d and --version stay the command's after it: they mean
 * --device and a secret version there.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "util.h"

static const struct option opts[] = {
	{ "state-dir", required_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "server", required_argument, NULL, 's' },
	{ "cert", required_argument, NULL, 'c' },
	{ "key", required_argument, NULL, 'k' },
	{ "cacert", required_argument, NULL, 'a' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
set(struct cli_args *a, int ch, const char *val)
{
	switch (ch) {
	case 'd':
		a->state_dir = val;
		break;
	case 'j':
		a->json = 1;
		break;
	case 'q':
		a->quiet = 1;
		break;
	case 's':
		a->remote.server = val;
		break;
	case 'c':
		a->remote.cert = val;
		break;
	case 'k':
		a->remote.key = val;
		break;
	case 'a':
		a->remote.cacert = val;
		break;
	case 't':
		a->timeout = val;
		break;
	case 'h':
		a->help = 1;
		break;
	case 'V':
		a->version = 1;
		break;
	}
}

/* Whether word is a global option allowed after the command: its letter,
 * and in *val_out its value when given as --name=value (NULL otherwise,
 * and *needs_out set when the value is the next word). 0 when it is not
 * one (the command's own). */
static int
global_after(const char *w, const char **val_out, int *needs_out)
{
	const struct option *o;
	size_t n;

	*val_out = NULL;
	*needs_out = 0;
	if (strcmp(w, "-q") == 0 || strcmp(w, "-j") == 0 ||
	    strcmp(w, "-h") == 0)
		return w[1];
	if (strncmp(w, "--", 2) != 0)
		return 0;
	w += 2;
	for (o = opts; o->name != NULL; o++) {
		if (o->val == 'V')
			continue;	/* password show --version N */
		n = strlen(o->name);
		if (strncmp(w, o->name, n) != 0)
			continue;
		if (w[n] == '\0') {
			*needs_out = o->has_arg == required_argument;
			return o->val;
		}
		if (w[n] == '=' && o->has_arg == required_argument) {
			*val_out = w + n + 1;
			return o->val;
		}
	}
	return 0;
}

int
cli_args_take(struct cli_args *a, int *argcp, char **argv)
{
	int argc = *argcp, ch, i, j, needs, letter, ended = 0;
	const char *val;

	memset(a, 0, sizeof(*a));
	optind = 0;
	opterr = 0;
	/* "+": stop at the command name. */
	while ((ch = getopt_long(argc, argv, "+d:jqhV", opts, NULL)) != -1) {
		if (ch == '?' || ch == ':') {
			opterr = 1;
			return cust_fail(CUST_E_INVAL, "bad option '%s'",
			    argv[optind - 1]);
		}
		set(a, ch, optarg);
	}
	opterr = 1;
	/* The command and its words, with the global options taken out. */
	for (i = optind, j = 1; i < argc; i++) {
		if (!ended && strcmp(argv[i], "--") == 0)
			ended = 1;
		letter = ended ? 0 : global_after(argv[i], &val, &needs);
		if (letter == 0) {
			argv[j++] = argv[i];
			continue;
		}
		if (needs) {
			if (i + 1 >= argc)
				return cust_fail(CUST_E_INVAL, "option '%s' "
				    "needs a value", argv[i]);
			val = argv[++i];
		}
		set(a, letter, val);
	}
	argv[j] = NULL;
	*argcp = j;
	return CUST_OK;
}

/* value, or the environment variable name when value is unset; NULL for
 * an empty one. */
static const char *
or_env(const char *value, const char *name)
{
	if (value == NULL)
		value = getenv(name);
	return value != NULL && *value != '\0' ? value : NULL;
}

int
cli_args_env(struct cli_args *a)
{
	const char *t;
	long secs;

	if (a->state_dir != NULL && a->remote.server != NULL)
		return cust_fail(CUST_E_INVAL, "give --state-dir (local mode) "
		    "or --server (remote mode), not both");
	/* A --state-dir on the command line wins over CUSTODY_SERVER, as
	 * --server wins over CUSTODY_STATE_DIR. */
	if (a->state_dir == NULL)
		a->remote.server = or_env(a->remote.server, "CUSTODY_SERVER");
	a->remote.cert = or_env(a->remote.cert, "CUSTODY_CERT");
	a->remote.key = or_env(a->remote.key, "CUSTODY_KEY");
	a->remote.cacert = or_env(a->remote.cacert, "CUSTODY_CACERT");
	if ((t = or_env(a->timeout, "CUSTODY_TIMEOUT")) != NULL) {
		if (util_parse_long(t, 1, 86400, &secs) != CUST_OK)
			return cust_fail(CUST_E_INVAL, "--timeout: %s",
			    cust_errmsg());
		a->remote.timeout = secs;
	}
	if (a->remote.server != NULL) {
		a->state_dir = NULL;
		return CUST_OK;
	}
	if ((a->state_dir = or_env(a->state_dir, "CUSTODY_STATE_DIR")) ==
	    NULL)
		a->state_dir = "./var";
	return CUST_OK;
}
