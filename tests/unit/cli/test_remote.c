/* SPDX-License-Identifier: MIT */
/* tests/unit/cli/test_remote.c - custodyctl's remote backend without a
 * server: the meaning of every reply (error names back to codes, so exit
 * codes match local mode), global options wherever typed and from the
 * environment, refusal of loose client keys and bad settings, and a
 * server that cannot be reached. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "err.h"
#include "util.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	assert_int_equal(cust_init(), CUST_OK);
	unsetenv("CUSTODY_SERVER");
	unsetenv("CUSTODY_CERT");
	unsetenv("CUSTODY_KEY");
	unsetenv("CUSTODY_CACERT");
	unsetenv("CUSTODY_TIMEOUT");
	unsetenv("CUSTODY_STATE_DIR");
	return 0;
}

/* Every error code the server can name comes back as itself, with the
 * server's message: the exit code is local mode's. */
static void
test_reply_every_code(void **state)
{
	json_t *resp = (json_t *)1;
	char body[256];
	int code, r;

	(void)state;
	for (code = CUST_E_INTERNAL; code >= CUST_E_KRB5; code--) {
		snprintf(body, sizeof(body), "{\"error\": \"%s\", \"message\": "
		    "\"what went wrong %d\"}", cust_errname(code), code);
		r = cli_remote_reply("https://h", "device.show",
		    cust_http_status(code), body, strlen(body), &resp);
		assert_int_equal(r, code);
		assert_int_equal(cust_exit_code(r), cust_exit_code(code));
		assert_null(resp);
		snprintf(body, sizeof(body), "what went wrong %d", code);
		assert_string_equal(cust_errmsg(), body);
	}
}

static void
test_reply_ok(void **state)
{
	json_t *resp = NULL;
	const char *b = "{\"devices\": [], \"next\": null}";

	(void)state;
	assert_int_equal(cli_remote_reply("https://h", "device.list", 200, b,
	    strlen(b), &resp), CUST_OK);
	assert_true(json_is_array(json_object_get(resp, "devices")));
	json_decref(resp);
	/* 202: a job custodyd answered for at once ("async"). */
	b = "{\"job\": 7, \"async\": true}";
	assert_int_equal(cli_remote_reply("https://h", "device.push", 202, b,
	    strlen(b), &resp), CUST_OK);
	assert_int_equal(json_integer_value(json_object_get(resp, "job")), 7);
	json_decref(resp);
	/* 200 with anything but a JSON object is no reply. */
	assert_int_equal(cli_remote_reply("https://h", "device.list", 200,
	    "[1]", 3, &resp), CUST_E_UNAVAIL);
	assert_null(resp);
	assert_int_equal(cli_remote_reply("https://h", "device.list", 200,
	    "<html>", 6, &resp), CUST_E_UNAVAIL);
	assert_int_equal(cli_remote_reply("https://h", "device.list", 200,
	    "{\"a\":1,\"a\":2}", 13, &resp), CUST_E_UNAVAIL);
	assert_non_null(strstr(cust_errmsg(), "https://h"));
}

/* Replies without an error name (a proxy's page): the status decides. */
static void
test_reply_status_only(void **state)
{
	static const struct {
		long status;
		int code, exit;
	} t[] = {
		{ 400, CUST_E_INVAL, CUST_EXIT_USAGE },
		{ 401, CUST_E_DENIED, CUST_EXIT_DENIED },
		{ 403, CUST_E_DENIED, CUST_EXIT_DENIED },
		{ 404, CUST_E_NOTFOUND, CUST_EXIT_NOTFOUND },
		{ 413, CUST_E_TOOBIG, CUST_EXIT_USAGE },
		{ 502, CUST_E_UNAVAIL, CUST_EXIT_UNAVAIL },
		{ 503, CUST_E_UNAVAIL, CUST_EXIT_UNAVAIL },
		{ 500, CUST_E_INTERNAL, CUST_EXIT_FAIL },
		{ 302, CUST_E_UNAVAIL, CUST_EXIT_UNAVAIL },
		{ 308, CUST_E_UNAVAIL, CUST_EXIT_UNAVAIL },
	};
	json_t *resp = NULL;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r = cli_remote_reply("https://h:1", "status", t[i].status,
		    "<html>busy</html>", 17, &resp);
		assert_int_equal(r, t[i].code);
		assert_int_equal(cust_exit_code(r), t[i].exit);
		assert_non_null(strstr(cust_errmsg(), "https://h:1"));
	}
	/* An unknown name, or "ok" under an error status, is no success. */
	r = cli_remote_reply("https://h", "status", 403, "{\"error\":\"ok\"}",
	    14, &resp);
	assert_int_equal(r, CUST_E_INTERNAL);
	r = cli_remote_reply("https://h", "status", 403,
	    "{\"error\":\"martian\"}", 19, &resp);
	assert_int_equal(r, CUST_E_INTERNAL);
	/* 401 says what is missing. */
	r = cli_remote_reply("https://h", "device.list", 401, "", 0, &resp);
	assert_int_equal(r, CUST_E_DENIED);
	assert_non_null(strstr(cust_errmsg(), "--cert"));
}

/* The server's message reaches the terminal escaped. */
static void
test_reply_message_escaped(void **state)
{
	const char *b = "{\"error\":\"denied\",\"message\":\"no \\u001b[2J\"}";
	json_t *resp = NULL;

	(void)state;
	assert_int_equal(cli_remote_reply("https://h", "status", 403, b,
	    strlen(b), &resp), CUST_E_DENIED);
	assert_null(strchr(cust_errmsg(), 0x1b));
	assert_non_null(strstr(cust_errmsg(), "\\x1b"));
}

/* argv as main() gets it, taken apart by cli_args_take(). */
static int
take(struct cli_args *a, char **argv, int *argc_out)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	*argc_out = argc;
	return cli_args_take(a, argc_out, argv);
}

static void
test_args_after_command(void **state)
{
	char *argv[] = { "custodyctl", "device", "list", "--json", "--tag",
	    "lab", "-q", "--server=https://c:8443", "--cacert", "ca.pem",
	    NULL };
	struct cli_args a;
	int argc;

	(void)state;
	assert_int_equal(take(&a, argv, &argc), CUST_OK);
	assert_int_equal(argc, 5);
	assert_string_equal(argv[1], "device");
	assert_string_equal(argv[2], "list");
	assert_string_equal(argv[3], "--tag");
	assert_string_equal(argv[4], "lab");
	assert_null(argv[5]);
	assert_true(a.json);
	assert_true(a.quiet);
	assert_string_equal(a.remote.server, "https://c:8443");
	assert_string_equal(a.remote.cacert, "ca.pem");
}

static void
test_args_before_command(void **state)
{
	char *argv[] = { "custodyctl", "-jq", "-d", "DIR", "status", NULL };
	struct cli_args a;
	int argc;

	(void)state;
	assert_int_equal(take(&a, argv, &argc), CUST_OK);
	assert_int_equal(argc, 2);
	assert_string_equal(argv[1], "status");
	assert_true(a.json && a.quiet);
	assert_string_equal(a.state_dir, "DIR");
}

/* The command's own options stay its own: -d (--device), --version N,
 * and anything after "--". */
static void
test_args_command_options_kept(void **state)
{
	char *argv[] = { "custodyctl", "password", "show", "h.example.com",
	    "--version", "3", "-d", "x", "--", "--json", NULL };
	struct cli_args a;
	int argc;

	(void)state;
	assert_int_equal(take(&a, argv, &argc), CUST_OK);
	assert_int_equal(argc, 10);
	assert_false(a.json);
	assert_false(a.version);
	assert_null(a.state_dir);
	assert_string_equal(argv[9], "--json");
}

static void
test_args_errors(void **state)
{
	char *argv1[] = { "custodyctl", "status", "--server", NULL };
	char *argv2[] = { "custodyctl", "--bogus", "status", NULL };
	char *argv3[] = { "custodyctl", "--state-dir", "D", "status",
	    "--server", "https://x", NULL };
	struct cli_args a;
	int argc;

	(void)state;
	assert_int_equal(take(&a, argv1, &argc), CUST_E_INVAL);
	assert_int_equal(take(&a, argv2, &argc), CUST_E_INVAL);
	assert_int_equal(take(&a, argv3, &argc), CUST_OK);
	assert_int_equal(cli_args_env(&a), CUST_E_INVAL);
}

static void
test_args_env(void **state)
{
	char *argv1[] = { "custodyctl", "status", NULL };
	char *argv2[] = { "custodyctl", "--state-dir", "D", "status", NULL };
	char *argv3[] = { "custodyctl", "status", "--cert", "mine.pem", NULL };
	struct cli_args a;
	int argc;

	(void)state;
	/* Nothing set: local mode on ./var, or CUSTODY_STATE_DIR. */
	assert_int_equal(take(&a, argv1, &argc), CUST_OK);
	assert_int_equal(cli_args_env(&a), CUST_OK);
	assert_null(a.remote.server);
	assert_string_equal(a.state_dir, "./var");
	setenv("CUSTODY_SERVER", "https://env:1", 1);
	setenv("CUSTODY_CERT", "env.crt", 1);
	setenv("CUSTODY_KEY", "env.key", 1);
	setenv("CUSTODY_CACERT", "env-ca.pem", 1);
	setenv("CUSTODY_TIMEOUT", "30", 1);
	setenv("CUSTODY_STATE_DIR", "envdir", 1);
	assert_int_equal(take(&a, argv1, &argc), CUST_OK);
	assert_int_equal(cli_args_env(&a), CUST_OK);
	assert_string_equal(a.remote.server, "https://env:1");
	assert_string_equal(a.remote.cert, "env.crt");
	assert_string_equal(a.remote.key, "env.key");
	assert_string_equal(a.remote.cacert, "env-ca.pem");
	assert_int_equal(a.remote.timeout, 30);
	assert_null(a.state_dir);
	/* The command line wins: --state-dir over CUSTODY_SERVER, --cert
	 * over CUSTODY_CERT. */
	assert_int_equal(take(&a, argv2, &argc), CUST_OK);
	assert_int_equal(cli_args_env(&a), CUST_OK);
	assert_null(a.remote.server);
	assert_string_equal(a.state_dir, "D");
	assert_int_equal(take(&a, argv3, &argc), CUST_OK);
	assert_int_equal(cli_args_env(&a), CUST_OK);
	assert_string_equal(a.remote.cert, "mine.pem");
	setenv("CUSTODY_TIMEOUT", "soon", 1);
	assert_int_equal(take(&a, argv1, &argc), CUST_OK);
	assert_int_equal(cli_args_env(&a), CUST_E_INVAL);
	setup(NULL);
}

/* Files for cli_remote_new(): CA bundle, certificate, key (mode). */
struct files {
	char *dir, *ca, *crt, *key;
};

static void
files_new(struct files *f, unsigned keymode)
{
	f->dir = tu_tmpdir();
	f->ca = util_path(f->dir, "ca.pem");
	f->crt = util_path(f->dir, "c.crt");
	f->key = util_path(f->dir, "c.key");
	assert_int_equal(util_write_file(f->ca, "x\n", 2, 0644), CUST_OK);
	assert_int_equal(util_write_file(f->crt, "x\n", 2, 0644), CUST_OK);
	assert_int_equal(util_write_file(f->key, "k\n", 2, keymode), CUST_OK);
}

static void
files_free(struct files *f)
{
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->ca);
	free(f->crt);
	free(f->key);
}

static int
new_remote(const char *server, struct files *f, const char *key)
{
	struct cli_remote_conf conf = { server, f->crt, key, f->ca, 0 };
	struct cli_remote *rm = NULL;
	int r;

	r = cli_remote_new(&conf, &rm);
	if (r == CUST_OK)
		assert_non_null(rm);
	else
		assert_null(rm);
	cli_remote_free(rm);
	return r;
}

/* The client key is refused like the master key: group or other bits,
 * another owner, a symlink. */
static void
test_key_refused(void **state)
{
	struct files f;
	char *link;

	(void)state;
	files_new(&f, 0600);
	assert_int_equal(new_remote("https://h:1", &f, f.key), CUST_OK);
	/* A user name (and password) in the URL is refused; an '@' in the
	 * path is not a user name. */
	assert_int_equal(new_remote("https://u:pw@h:1", &f, f.key),
	    CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "user name"));
	assert_int_equal(new_remote("https://h:1/a@b", &f, f.key), CUST_OK);
	assert_int_equal(chmod(f.key, 0640), 0);
	assert_int_equal(new_remote("https://h:1", &f, f.key), CUST_E_PERM);
	assert_non_null(strstr(cust_errmsg(), "0640"));
	assert_int_equal(chmod(f.key, 0604), 0);
	assert_int_equal(new_remote("https://h:1", &f, f.key), CUST_E_PERM);
	assert_int_equal(chmod(f.key, 0400), 0);
	assert_int_equal(new_remote("https://h:1", &f, f.key), CUST_OK);
	link = util_path(f.dir, "link.key");
	assert_int_equal(symlink(f.key, link), 0);
	assert_int_equal(new_remote("https://h:1", &f, link), CUST_E_PERM);
	assert_int_equal(cust_exit_code(CUST_E_PERM), CUST_EXIT_UNAVAIL);
	if (geteuid() == 0) {
		assert_int_equal(chown(f.key, 1, 1), 0);
		assert_int_equal(new_remote("https://h:1", &f, f.key),
		    CUST_E_PERM);
		assert_non_null(strstr(cust_errmsg(), "owned by uid 1"));
	}
	free(link);
	files_free(&f);
}

static void
test_settings_refused(void **state)
{
	struct cli_remote_conf conf = { 0 };
	struct cli_remote *rm = NULL;
	struct files f;

	(void)state;
	files_new(&f, 0600);
	assert_int_equal(new_remote("http://h:1", &f, f.key), CUST_E_INVAL);
	assert_int_equal(new_remote("https://", &f, f.key), CUST_E_INVAL);
	assert_int_equal(new_remote("https://h/?a=1", &f, f.key),
	    CUST_E_INVAL);
	assert_int_equal(new_remote("https://h x", &f, f.key), CUST_E_INVAL);
	assert_int_equal(new_remote("https://h:1", &f, "/nonexistent/k"),
	    CUST_E_INVAL);
	/* No CA bundle; a certificate without its key. */
	conf.server = "https://h:1";
	assert_int_equal(cli_remote_new(&conf, &rm), CUST_E_INVAL);
	assert_non_null(strstr(cust_errmsg(), "--cacert"));
	conf.cacert = f.ca;
	conf.cert = f.crt;
	assert_int_equal(cli_remote_new(&conf, &rm), CUST_E_INVAL);
	assert_null(rm);
	/* Public operations need no certificate at all. */
	conf.cert = NULL;
	assert_int_equal(cli_remote_new(&conf, &rm), CUST_OK);
	cli_remote_free(rm);
	files_free(&f);
}

/* A port nobody listens on: unavailable (exit 5), naming the server. */
static void
test_unreachable(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct cli_remote_conf conf = { 0 };
	struct cli_remote *rm = NULL;
	json_t *resp = NULL;
	char url[64];
	struct files f;
	int s;

	(void)state;
	files_new(&f, 0600);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((s = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	close(s);	/* the port is free, nobody listens */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/",
	    ntohs(sa.sin_port));
	conf.server = url;
	conf.cacert = f.ca;
	assert_int_equal(cli_remote_new(&conf, &rm), CUST_OK);
	assert_int_equal(cli_remote_call(rm, "status", NULL, &resp, NULL, NULL),
	    CUST_E_UNAVAIL);
	assert_null(resp);
	url[strlen(url) - 1] = '\0';	/* named without the '/' */
	assert_non_null(strstr(cust_errmsg(), url));
	assert_int_equal(cli_remote_call(rm, "bad/../op", NULL, &resp, NULL,
	    NULL),
	    CUST_E_INVAL);
	cli_remote_free(rm);
	files_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_reply_every_code, setup),
		cmocka_unit_test_setup(test_reply_ok, setup),
		cmocka_unit_test_setup(test_reply_status_only, setup),
		cmocka_unit_test_setup(test_reply_message_escaped, setup),
		cmocka_unit_test_setup(test_args_after_command, setup),
		cmocka_unit_test_setup(test_args_before_command, setup),
		cmocka_unit_test_setup(test_args_command_options_kept, setup),
		cmocka_unit_test_setup(test_args_errors, setup),
		cmocka_unit_test_setup(test_args_env, setup),
		cmocka_unit_test_setup(test_key_refused, setup),
		cmocka_unit_test_setup(test_settings_refused, setup),
		cmocka_unit_test_setup(test_unreachable, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
