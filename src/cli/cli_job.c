/* SPDX-License-Identifier: MIT */
/* src/cli/cli_job.c - job list|show|resume, and following a job's
 * progress (--wait). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "err.h"
#include "util.h"

static const struct option page_opts[] = {
	{ "after", required_argument, NULL, 'a' },
	{ "limit", required_argument, NULL, 'n' },
	{ "wait", no_argument, NULL, 'w' },
	{ "no-wait", no_argument, NULL, 'W' },
	{ NULL, 0, NULL, 0 }
};

/* The options --after N and --limit N of a list command into req (NULL:
 * none taken), and --wait (c->wait) where wait_ok; 0, or the exit code of
 * a usage error. */
static int
page_args(struct cli *c, int wait_ok, json_t *req, int argc, char **argv)
{
	long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "a:n:", page_opts, NULL)) !=
	    -1) {
		if (ch == '?')
			return CUST_EXIT_USAGE;
		if ((ch == 'w' || ch == 'W') && !wait_ok)
			return cli_usage(cli_current(), "--wait is for job show "
			    "and job resume");
		if (ch == 'w') {
			c->wait = 1;
			continue;
		}
		if (ch == 'W') {
			if (req != NULL)
				return cli_usage(cli_current(), "--no-wait is "
				    "for job resume");
			if ((ch = cli_no_wait(c)) != 0)
				return ch;
			continue;
		}
		if (req == NULL)
			return cli_usage(cli_current(), "unexpected option");
		if (util_parse_long(optarg, ch == 'a' ? 0 : 1, ch == 'a' ?
		    LONG_MAX : OPS_LIST_MAX, &v) != CUST_OK)
			return cli_usage(cli_current(), "%s", cust_errmsg());
		json_object_set_new(req, ch == 'a' ? "after" : "limit",
		    json_integer(v));
	}
	return 0;
}

/* The job's id given as the one argument into req; 0 or an exit code. */
static int
id_arg(json_t *req, int argc, char **argv)
{
	long id;

	if (optind >= argc)
		return cli_usage(cli_current(), "a job id is needed");
	if (optind + 1 < argc)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind + 1]);
	if (util_parse_long(argv[optind], 1, LONG_MAX, &id) != CUST_OK)
		return cli_usage(cli_current(), "%s", cust_errmsg());
	json_object_set_new(req, "id", json_integer(id));
	return 0;
}

static void
job_line(json_t *j)
{
	char when[32];

	util_fmt_time(cli_num(j, "changed"), when, sizeof(when));
	printf("%lld %s %s %lld/%lld %s %s%s\n", cli_num(j, "id"),
	    cli_str(j, "kind"), cli_str(j, "state"), cli_num(j, "done"),
	    cli_num(j, "total"), when, cli_str(j, "actor"),
	    json_is_true(json_object_get(j, "resumable")) ? " (resumable)" :
	    "");
}

static void
render_list(struct cli *c, json_t *page, int first)
{
	json_t *j;
	size_t i;

	(void)c;
	(void)first;
	json_array_foreach(json_object_get(page, "jobs"), i, j)
		job_line(j);
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	json_t *req = json_object();
	int r;

	if ((r = page_args(c, 0, req, argc, argv)) != 0) {
		json_decref(req);
		return r;
	}
	return cli_list_tail(c, argc, argv, "job.list", req, "jobs", render_list);
}

static void
render_show(struct cli *c, json_t *page, int first)
{
	json_t *j = json_object_get(page, "job"), *res, *it;
	size_t i;

	(void)c;
	if (first) {
		res = json_object_get(j, "results");
		printf("job %lld: %s, %s\n", cli_num(j, "id"),
		    cli_str(j, "kind"), cli_str(j, "state"));
		printf("devices: %lld of %lld done; results (per device and "
		    "kind): %lld ok, %lld refused, %lld gone\n",
		    cli_num(j, "done"), cli_num(j, "total"),
		    cli_num(res, "ok"), cli_num(res, "refused"),
		    cli_num(res, "missing"));
		if (json_is_integer(json_object_get(res, "problem")))
			printf("problems (password verify): %lld\n",
			    cli_num(res, "problem"));
		printf("actor: %s\n", cli_str(j, "actor"));
		if (json_is_string(json_object_get(j, "message")))
			printf("message: %s\n", cli_str(j, "message"));
		if (json_is_true(json_object_get(j, "resumable")))
			printf("resumable: custodyctl job resume %lld\n",
			    cli_num(j, "id"));
	}
	json_array_foreach(json_object_get(page, "items"), i, it) {
		if (json_is_integer(json_object_get(it, "version")))
			printf("%s %s %s v%lld%s%s\n", cli_str(it, "fqdn"),
			    cli_str(it, "kind"), cli_str(it, "result"),
			    cli_num(it, "version"), json_is_string(
			    json_object_get(it, "detail")) ? ": " : "",
			    json_is_string(json_object_get(it, "detail")) ?
			    cli_str(it, "detail") : "");
		else
			printf("%s %s %s: %s\n", cli_str(it, "fqdn"),
			    cli_str(it, "kind"), cli_str(it, "result"),
			    cli_str(it, "detail"));
	}
}

/*
 * job show --wait: follow job id (a JSON integer, borrowed) until it is no
 * longer running, its progress on stderr (cli_progress()), asking once a
 * second: the same in both modes, and for a job another process or
 * custodyd runs.
 */
static int
wait_job(struct cli *c, json_t *id)
{
	const struct timespec second = { 1, 0 };
	json_t *req, *resp = NULL, *j;
	int r;

	c->following = 1;
	for (;;) {
		if ((req = json_pack("{s:O, s:i}", "id", id, "limit", 1)) ==
		    NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		r = cli_call(c, "job.show", req, &resp);
		json_decref(req);
		if (r != CUST_OK)
			break;
		j = json_object_get(resp, "job");
		cli_progress(c, (size_t)cli_num(j, "done"),
		    (size_t)cli_num(j, "total"));
		if (strcmp(cli_str(j, "state"), "running") != 0)
			break;
		json_decref(resp);
		resp = NULL;
		nanosleep(&second, NULL);
	}
	cli_progress_end(c);
	c->following = 0;
	json_decref(resp);
	return r;
}

int
cli_job_async(struct cli *c, const char *op, json_t *req)
{
	int job;

	if (c->server == NULL || !json_is_object(req))
		return 0;
	job = (strcmp(op, "device.push") == 0 && json_object_get(req,
	    "fqdn") == NULL) || (strcmp(op, "password.rotate") == 0 &&
	    json_is_true(json_object_get(req, "push"))) ||
	    strcmp(op, "job.resume") == 0;
	return job && json_object_set_new(req, "async", json_true()) == 0;
}

int
cli_no_wait(struct cli *c)
{
	if (c->server == NULL)
		return cli_usage(cli_current(), "--no-wait is for --server "
		    "(custodyd runs the job; custodyctl runs it in the call)");
	c->no_wait = 1;
	return 0;
}

int
cli_job_started(struct cli *c, json_t *resp)
{
	json_t *id = json_object_get(resp, "push_job");

	if (!json_is_true(json_object_get(resp, "async")))
		return 0;
	if (id == NULL)
		id = json_object_get(resp, "job");
	if (c->json)
		cli_print_json(resp);
	else
		printf("push job %lld started on %lld devices: follow it with "
		    "custodyctl job show --wait %lld\n", (long long)
		    json_integer_value(id), cli_num(resp, "selected"),
		    (long long)json_integer_value(id));
	return 1;
}

int
cli_job_finish(struct cli *c, json_t *req, json_t **resp)
{
	json_t *start = *resp, *id, *page = NULL, *items = json_array();
	json_t *res = NULL, *out = NULL, *q, *j, *v, *after = NULL;
	int rot = json_object_get(start, "push_job") != NULL, want, r;
	const char *k, *state;
	long long pushed = 0;

	want = json_is_true(json_object_get(req, "items")) || (rot &&
	    json_object_get(req, "fqdns") != NULL);
	id = json_object_get(start, rot ? "push_job" : "job");
	if (items == NULL || (res = json_object()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = wait_job(c, id)) != CUST_OK)
		goto out;
	/* Its results, and its items page by page when the reply names
	 * them. */
	do {
		if ((q = json_pack("{s:O, s:i}", "id", id, "limit", want ?
		    1000 : 1)) == NULL || (after != NULL && json_object_set(q,
		    "after", after) != 0)) {
			json_decref(q);
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		json_decref(page);
		page = NULL;
		r = cli_call(c, "job.show", q, &page);
		json_decref(q);
		if (r != CUST_OK)
			goto out;
		if (want && json_array_extend(items, json_object_get(page,
		    "items")) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		json_decref(after);
		after = json_incref(json_object_get(page, "next"));
	} while (want && json_is_integer(after));
	j = json_object_get(page, "job");
	state = cli_str(j, "state");
	if (strcmp(state, "done") != 0) {
		r = cust_fail(strcmp(state, "interrupted") == 0 ?
		    CUST_E_UNAVAIL : CUST_E_INTERNAL, "push job %lld %s: %s",
		    (long long)json_integer_value(id), state, cli_str(j,
		    "message"));
		goto out;
	}
	/* Counts by result as the operation gives them: those it had. */
	json_object_foreach(json_object_get(j, "results"), k, v) {
		if (json_integer_value(v) == 0)
			continue;
		if (strcmp(k, "ok") == 0 || strcmp(k, "reconciled") == 0)
			pushed += json_integer_value(v);
		json_object_set(res, k, v);
	}
	if (rot) {
		if ((out = json_copy(start)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		json_object_del(out, "async");
		json_object_del(out, "push_state");
		r = json_object_set_new(out, "pushed", json_integer(pushed)) ||
		    json_object_set(out, "push_results", res) ||
		    (want && json_object_set(out, "pushes", items));
	} else {
		/* The whole job's (a resumed one's results count the
		 * devices done before it stopped too). */
		out = json_pack("{s:O, s:O, s:I, s:O}", "job", id, "selected",
		    json_object_get(j, "total"), "pushed", (json_int_t)pushed,
		    "results", res);
		r = out == NULL || (want && json_object_set(out, "items",
		    items));
	}
	if (r != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_decref(*resp);
	*resp = out;
	out = NULL;
	r = CUST_OK;
out:
	json_decref(out);
	json_decref(page);
	json_decref(items);
	json_decref(res);
	json_decref(after);
	return r;
}

static int
cmd_show(struct cli *c, int argc, char **argv)
{
	json_t *req = json_object();
	int r;

	if ((r = page_args(c, 1, req, argc, argv)) != 0 ||
	    (r = id_arg(req, argc, argv)) != 0) {
		json_decref(req);
		return r;
	}
	if (c->wait && (r = wait_job(c, json_object_get(req, "id"))) !=
	    CUST_OK) {
		json_decref(req);
		return cli_error(c, r);
	}
	if ((r = cli_pages(c, "job.show", req, "items", render_show, NULL)) !=
	    CUST_OK)
		return cli_error(c, r);
	return CUST_EXIT_OK;
}

static int
cmd_resume(struct cli *c, int argc, char **argv)
{
	json_t *req = json_object(), *resp = NULL, *show;
	int r, apply;

	if ((r = page_args(c, 1, NULL, argc, argv)) != 0 ||
	    (r = id_arg(req, argc, argv)) != 0) {
		json_decref(req);
		return r;
	}
	/* A push job answers as device.push does. */
	show = json_pack("{s:O, s:i}", "id", json_object_get(req, "id"),
	    "limit", 1);
	r = cli_call(c, "job.show", show, &resp);
	json_decref(show);
	if (r == CUST_OK && strcmp(cli_str(json_object_get(resp, "job"),
	    "kind"), "device.push") == 0) {
		json_decref(resp);
		return cli_push_job(c, "job.resume", req);
	}
	/* An apply job (and a device kerberos one) answers as policy apply
	 * does; a provisioning job as
	 * cert provision --all. */
	apply = r != CUST_OK ? 0 : strcmp(cli_str(json_object_get(resp, "job"),
	    "kind"), "policy.apply") == 0 || strcmp(cli_str(json_object_get(
	    resp, "job"), "kind"), "device.kerberos") == 0 ? 1 : strcmp(cli_str(
	    json_object_get(resp, "job"), "kind"), "cert.provision") == 0 ? 2 :
	    0;
	json_decref(resp);
	resp = NULL;
	r = cli_call(c, "job.resume", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	r = apply == 1 ? cli_apply_result(c, resp) : apply == 2 ?
	    cli_provision_job_result(c, resp) : cli_rotate_result(c, resp);
	json_decref(resp);
	return r;
}

const struct cli_cmd cli_job_cmds[] = {
	{ "job", "list", cmd_list, 0, "[--after ID] [--limit N]",
	  "list jobs, newest first (all, or one page with --limit)" },
	{ "job", "show", cmd_show, 0, "[--after SEQ] [--limit N] [--wait] ID",
	  "a job's state, progress and per-device results" },
	{ "job", "resume", cmd_resume, 0, "[--wait | --no-wait] ID",
	  "finish an interrupted or failed job: the devices it has not done" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
