/* SPDX-License-Identifier: MIT */
/* src/policy/cmd.c - the offline policy commands (check, diff, plan) for
 * both front doors: `custodyctl policy ...` and the slim `custody-policy`
 * that CI images install. One implementation, so flags, formats, messages
 * and exit codes cannot drift apart between the two.
 *
 * Nothing here opens a state directory or touches a secret; this file and
 * everything it calls link with libyaml, jansson and libc only.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "policy.h"
#include "util.h"

static int
usage(const struct policy_cli *pc, const char *cmd, const char *synopsis,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
usage(const struct policy_cli *pc, const char *cmd, const char *synopsis,
    const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", pc->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s %s %s\n", pc->usage, cmd, synopsis);
	return CUST_EXIT_USAGE;
}

/* getopt_long's unknown or incomplete option, said once, by us. valued:
 * the command's short options that take a value. */
static int
bad_option(const struct policy_cli *pc, const char *cmd, const char *synopsis,
    const char *valued, char **argv)
{
	char opt[80];

	if (optopt != 0 && strchr(valued, optopt) != NULL)
		return usage(pc, cmd, synopsis, "option -%c (or its long form) "
		    "needs a value", optopt);
	if (optopt != 0)
		return usage(pc, cmd, synopsis, "option -%c is unknown",
		    optopt);
	util_escape(argv[optind - 1], opt, sizeof(opt));
	return usage(pc, cmd, synopsis, "option '%s' is unknown or needs a "
	    "value", opt);
}

/* --help of a command: its synopsis on stdout, exit 0. */
static int
help(const struct policy_cli *pc, const char *cmd, const char *synopsis)
{
	printf("usage: %s %s %s\nSee custody-policy(1).\n", pc->usage, cmd,
	    synopsis);
	return CUST_EXIT_OK;
}

static int
fail(const struct policy_cli *pc, int err)
{
	const char *m = cust_errmsg();

	fprintf(stderr, "%s: %s\n", pc->prog, *m ? m : cust_strerror(err));
	return cust_exit_code(err);
}

#define CHECK_SYNOPSIS \
	"[--format text|json|sarif|junit|codeclimate] [--strict] FILE..."

int
policy_cli_check(const struct policy_cli *pc, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "strict", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum policy_format fmt = pc->json ? POLICY_FMT_JSON : POLICY_FMT_TEXT;
	struct policy_report *rep;
	unsigned flags = 0;
	int ch, i, r, stdin_seen = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "f:sh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (policy_format_parse(optarg, &fmt) != CUST_OK)
				return usage(pc, "check", CHECK_SYNOPSIS, "%s",
				    cust_errmsg());
			break;
		case 's':
			flags |= POLICY_STRICT;
			break;
		case 'h':
			return help(pc, "check", CHECK_SYNOPSIS);
		default:
			return bad_option(pc, "check", CHECK_SYNOPSIS, "f", argv);
		}
	}
	if (optind >= argc)
		return usage(pc, "check", CHECK_SYNOPSIS, "no policy file "
		    "given");
	for (i = optind; i < argc; i++)
		if (strcmp(argv[i], "-") == 0 && stdin_seen++)
			return usage(pc, "check", CHECK_SYNOPSIS, "standard "
			    "input (-) can be read only once");
	if ((rep = policy_report_new()) == NULL)
		return fail(pc, cust_fail(CUST_E_NOMEM, "out of memory"));
	for (i = optind; i < argc; i++)
		if ((r = policy_load_file(rep, argv[i], NULL)) == CUST_E_NOMEM) {
			policy_report_free(rep);
			return fail(pc, cust_fail(r, "out of memory"));
		}
	if ((r = policy_report_write(rep, fmt, flags, stdout)) != CUST_OK) {
		policy_report_free(rep);
		return fail(pc, r);
	}
	if (!pc->quiet && fmt == POLICY_FMT_TEXT)
		fprintf(stderr, "%s: %d file%s checked: %zu error%s, "
		    "%zu warning%s\n", pc->prog, argc - optind,
		    argc - optind == 1 ? "" : "s", policy_report_errors(rep),
		    policy_report_errors(rep) == 1 ? "" : "s",
		    policy_report_warnings(rep),
		    policy_report_warnings(rep) == 1 ? "" : "s");
	r = policy_report_exit(rep, flags);
	policy_report_free(rep);
	return r;
}

/* Only blanks, or nothing: what `git show REV:PATH 2>/dev/null` gives for
 * a file that does not exist at REV. */
static int
blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (strchr(" \t\r\n", s[i]) == NULL)
			return 0;
	return 1;
}

/* The text of the policy file at path (- is stdin): *buf_out new
 * (free()), *len_out its length. A file that cannot be read, is too big
 * or holds a NUL byte is said on stderr; returns CUST_OK or the error. */
static int
read_text(const struct policy_cli *pc, const char *path, char **buf_out,
    size_t *len_out)
{
	int r;

	if ((r = util_read_file(path, POLICY_MAX_BYTES, buf_out, len_out)) !=
	    CUST_OK) {
		fprintf(stderr, "%s: %s\n", pc->prog, cust_errmsg());
		return r;
	}
	if (memchr(*buf_out, '\0', *len_out) != NULL) {
		char name[256];

		free(*buf_out);
		*buf_out = NULL;
		util_escape(path, name, sizeof(name));
		fprintf(stderr, "%s: %s contains a NUL byte\n", pc->prog, name);
		return CUST_E_PARSE;
	}
	return CUST_OK;
}

/* Read path (named name in findings) into rep. *p_out is the policy, or
 * NULL when the file is blank. A malformed file is an error (exit 2 after
 * its findings) unless as_nothing: then, with a warning, it counts as no
 * policy, so that a change that repairs a broken base still gets a diff
 * (and everything in it shows as new). Returns an exit status: 0, or 2
 * after printing why (unreadable or malformed). */
static int
load_side(const struct policy_cli *pc, struct policy_report *rep,
    const char *path, const char *name, int as_nothing,
    struct policy **p_out)
{
	char *buf = NULL, shown[256];
	size_t len = 0;
	int r;

	*p_out = NULL;
	util_escape(name, shown, sizeof(shown));
	if ((r = read_text(pc, path, &buf, &len)) != CUST_OK) {
		/* Too big or holding a NUL: malformed, as far as OLD goes. */
		if (as_nothing && (r == CUST_E_TOOBIG || r == CUST_E_PARSE)) {
			fprintf(stderr, "%s: warning: %s is not a policy: "
			    "compared as no policy\n", pc->prog, shown);
			return CUST_EXIT_OK;
		}
		return r == CUST_E_NOMEM ? cust_exit_code(r) : CUST_EXIT_USAGE;
	}
	if (blank(buf, len)) {
		free(buf);
		return CUST_EXIT_OK;
	}
	r = policy_load_buf(rep, name, buf, len, p_out);
	free(buf);
	if (r == CUST_E_NOMEM)
		return fail(pc, cust_fail(r, "out of memory"));
	if (r != CUST_OK) {
		if (policy_report_write(rep, POLICY_FMT_TEXT, 0, stderr) !=
		    CUST_OK)
			return CUST_EXIT_FAIL;
		if (as_nothing) {
			fprintf(stderr, "%s: warning: %s is malformed: compared "
			    "as no policy\n", pc->prog, shown);
			return CUST_EXIT_OK;
		}
		fprintf(stderr, "%s: %s is malformed: no diff\n", pc->prog,
		    shown);
		return CUST_EXIT_USAGE;
	}
	return CUST_EXIT_OK;
}

#define DIFF_SYNOPSIS "[--format text|markdown|json] [--fail-on-escalation] " \
	"[--old-name NAME] [--new-name NAME] OLD NEW"

int
policy_cli_diff(const struct policy_cli *pc, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "fail-on-escalation", no_argument, NULL, 'e' },
		{ "old-name", required_argument, NULL, 'o' },
		{ "new-name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum policy_diff_format fmt = pc->json ? POLICY_DIFF_JSON :
	    POLICY_DIFF_TEXT;
	struct policy_report *orep = NULL, *nrep = NULL;
	struct policy *op = NULL, *np = NULL;
	const char *oname = NULL, *nname = NULL;
	json_t *diff = NULL;
	int ch, gate = 0, r;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (policy_diff_format_parse(optarg, &fmt) != CUST_OK)
				return usage(pc, "diff", DIFF_SYNOPSIS, "%s",
				    cust_errmsg());
			break;
		case 'e':
			gate = 1;
			break;
		case 'o':
			oname = optarg;
			break;
		case 'n':
			nname = optarg;
			break;
		case 'h':
			return help(pc, "diff", DIFF_SYNOPSIS);
		default:
			return bad_option(pc, "diff", DIFF_SYNOPSIS, "f", argv);
		}
	}
	if (argc - optind != 2)
		return usage(pc, "diff", DIFF_SYNOPSIS, "give two policy files "
		    "(OLD NEW; - reads one of them from stdin)");
	if (strcmp(argv[optind], "-") == 0 &&
	    strcmp(argv[optind + 1], "-") == 0)
		return usage(pc, "diff", DIFF_SYNOPSIS, "only one of OLD and "
		    "NEW can be stdin");
	if (oname == NULL)
		oname = argv[optind];
	if (nname == NULL)
		nname = argv[optind + 1];
	if ((orep = policy_report_new()) == NULL ||
	    (nrep = policy_report_new()) == NULL) {
		r = fail(pc, cust_fail(CUST_E_NOMEM, "out of memory"));
		goto out;
	}
	if ((r = load_side(pc, orep, argv[optind], oname, 1, &op)) != 0 ||
	    (r = load_side(pc, nrep, argv[optind + 1], nname, 0, &np)) != 0)
		goto out;
	if ((r = policy_diff(op, orep, oname, np, nrep, nname, &diff)) !=
	    CUST_OK) {
		r = fail(pc, r);
		goto out;
	}
	if ((r = policy_diff_write(diff, fmt, stdout)) != CUST_OK) {
		r = fail(pc, r);
		goto out;
	}
	r = gate && policy_diff_escalates(diff) ? CUST_EXIT_FAIL :
	    CUST_EXIT_OK;
out:
	json_decref(diff);
	policy_free(op);
	policy_free(np);
	policy_report_free(orep);
	policy_report_free(nrep);
	return r;
}

int
policy_cli_load(const struct policy_cli *pc, const char *path,
    char **text_out, size_t *len_out, struct policy **p_out)
{
	struct policy_report *rep = policy_report_new();
	size_t len = 0;
	int r;

	*text_out = NULL;
	if (len_out != NULL)
		*len_out = 0;
	if (rep == NULL)
		return fail(pc, cust_fail(CUST_E_NOMEM, "out of memory"));
	if ((r = read_text(pc, path, text_out, &len)) != CUST_OK) {
		policy_report_free(rep);
		return cust_exit_code(r);
	}
	r = policy_load_buf(rep, path, *text_out, len, p_out);
	if (r == CUST_E_NOMEM)
		r = fail(pc, cust_fail(r, "out of memory"));
	else
		r = policy_report_exit(rep, 0);
	if (policy_report_count(rep) > 0 &&
	    policy_report_write(rep, POLICY_FMT_TEXT, 0, stderr) != CUST_OK)
		r = CUST_EXIT_FAIL;
	policy_report_free(rep);
	if (len_out != NULL)
		*len_out = len;
	return r;
}

static void
print_entry(json_t *e, FILE *fp)
{
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *kind = json_string_value(json_object_get(e, "sid_kind"));
	char who[64], members[256];
	json_t *x;
	size_t i, used = 0;

	members[0] = '\0';
	if (kind != NULL && strcmp(kind, "group") == 0) {
		/* a duty's group: named by the duty, then its members */
		snprintf(who, sizeof(who), "group:%s", json_string_value(
		    json_object_get(e, "group")));
		json_array_foreach(json_object_get(e, "members"), i, x)
			if (used < sizeof(members))
				used += (size_t)snprintf(members + used,
				    sizeof(members) - used, "%s%s", i ? "," :
				    "members ", json_string_value(x));
	}
	fprintf(fp, "  %-16s %-8s %-32s %-7s ", members[0] != '\0' ? who :
	    json_string_value(json_object_get(e, "console")), type,
	    members[0] != '\0' ? members :
	    json_string_value(json_object_get(e, strcmp(type, "kerberos") ==
	    0 ? "principal" : "username")),
	    json_string_value(json_object_get(e, "access_name")));
	json_array_foreach(json_object_get(e, "realms"), i, x)
		fprintf(fp, "%s%lld", i ? "," : "", json_integer_value(x));
	if (kind != NULL)
		fprintf(fp, "  (%s SID)", kind);
	fputc('\n', fp);
}

void
policy_plan_print(json_t *plan, FILE *fp)
{
	json_t *e;
	size_t i;

	fprintf(fp, "%s: %zu entries (%lld digest, %lld Kerberos)%s\n",
	    json_string_value(json_object_get(plan, "device")),
	    json_array_size(json_object_get(plan, "entries")),
	    json_integer_value(json_object_get(plan, "digest_entries")),
	    json_integer_value(json_object_get(plan, "kerberos_entries")),
	    json_is_true(json_object_get(plan, "within_limits")) ? "" :
	    " OVER THE AMT ACL LIMITS");
	json_array_foreach(json_object_get(plan, "entries"), i, e)
		print_entry(e, fp);
	json_array_foreach(json_object_get(plan, "groups_unsynced"), i, e)
		fprintf(fp, "%s%s%s", i ? ", " : "  no group entry (members "
		    "not as account sync recorded them): ",
		    json_string_value(e), i + 1 == json_array_size(
		    json_object_get(plan, "groups_unsynced")) ? "\n" : "");
}

#define PLAN_SYNOPSIS "FILE [--tags TAG,...] [--acl-sid auto|account]"

int
policy_cli_plan(const struct policy_cli *pc, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tags", required_argument, NULL, 't' },
		{ "acl-sid", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum policy_sid_mode mode = POLICY_SID_ACCOUNT;
	const char *tagarg = "";
	struct policy *p = NULL;
	json_t *tags = NULL, *plan = NULL;
	char *text = NULL, *list = NULL, *t, *next;
	char name[160];
	int ch, r;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "t:s:h", opts, NULL)) != -1) {
		if (ch == 'h')
			return help(pc, "plan", PLAN_SYNOPSIS);
		if (ch == 's') {
			/* custody.yaml directory.ad acl_sid, default account */
			if (strcmp(optarg, "auto") != 0 &&
			    strcmp(optarg, "account") != 0)
				return usage(pc, "plan", PLAN_SYNOPSIS,
				    "--acl-sid is auto or account");
			mode = strcmp(optarg, "auto") == 0 ? POLICY_SID_AUTO :
			    POLICY_SID_ACCOUNT;
			continue;
		}
		if (ch != 't')
			return bad_option(pc, "plan", PLAN_SYNOPSIS, "ts",
			    argv);
		tagarg = optarg;
	}
	if (argc - optind != 1)
		return usage(pc, "plan", PLAN_SYNOPSIS, "give one policy file");
	if ((tags = json_array()) == NULL || (list = strdup(tagarg)) == NULL) {
		r = fail(pc, cust_fail(CUST_E_NOMEM, "out of memory"));
		goto out;
	}
	for (t = list; t != NULL; t = next) {
		if ((next = strchr(t, ',')) != NULL)
			*next++ = '\0';
		if (*t == '\0')
			continue;
		if (util_valid_tag(t) != CUST_OK) {
			r = usage(pc, "plan", PLAN_SYNOPSIS, "%s",
			    cust_errmsg());
			goto out;
		}
		if (json_array_append_new(tags, json_string(t)) != 0) {
			r = fail(pc, cust_fail(CUST_E_NOMEM, "out of memory"));
			goto out;
		}
	}
	if ((r = policy_cli_load(pc, argv[optind], &text, NULL, &p)) !=
	    CUST_EXIT_OK)
		goto out;
	if (*tagarg != '\0')
		snprintf(name, sizeof(name), "(a device tagged %.100s)",
		    tagarg);
	else
		snprintf(name, sizeof(name), "(a device without tags)");
	if ((r = policy_plan_sid(p, name, tags, mode, &plan)) != CUST_OK) {
		r = fail(pc, r);
		goto out;
	}
	if (pc->json) {
		if (json_dumpf(plan, stdout, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) != 0 || putchar('\n') == EOF) {
			r = fail(pc, cust_fail(CUST_E_IO, "cannot write the "
			    "plan"));
			goto out;
		}
	} else {
		policy_plan_print(plan, stdout);
	}
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
