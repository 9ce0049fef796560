/* SPDX-License-Identifier: MIT */
/* src/cli/cli.h - custodyctl internals: the command table and backends.
 *
 * One table of commands (group, name, handler, flags); handlers parse argv,
 * build a JSON request, call the backend with cli_call() and render the
 * response as text or, with --json, as JSON. The local backend runs the
 * operation in process on --state-dir; the remote backend (--server)
 * posts the same request to custodyd over HTTPS (cli_remote.c). The
 * handlers do not know which one runs.
 */
#ifndef CUST_CLI_H
#define CUST_CLI_H

#include <stdio.h>
#include <jansson.h>

#include "ops.h"

struct cust_state;
struct cli_remote;

/* How to reach custodyd (remote mode); borrowed strings. */
struct cli_remote_conf {
	const char *server;	/* https://HOST[:PORT] */
	const char *cert;	/* client certificate (PEM), or NULL */
	const char *key;	/* its key: 0600 or stricter, ours */
	const char *cacert;	/* custody's CA bundle, verifies the server */
	long timeout;		/* seconds per request; 0: none */
};

struct cli {
	const char *state_dir;
	int json;		/* --json: machine-readable output */
	int quiet;
	const char *actor;	/* "local:<user>" in local mode */
	struct ops_identity *who;	/* local mode: the trusted local
					 * identity that actor names */
	struct cust_state *st;	/* local backend, opened on demand */
	/* Remote mode: how to reach custodyd (NULL in local mode), and the
	 * remote backend, opened on demand like st. */
	const struct cli_remote_conf *server;
	struct cli_remote *remote;
	int wait;		/* --wait: follow a long job's progress */
	int following;		/* job show --wait is polling a job */
	int no_wait;		/* --no-wait: custodyd's job id, not its end */
};

#define CLI_NOSTATE	0x1	/* does not need the state directory */
#define CLI_LOCAL	0x2	/* works on the state directory's own files:
				 * local mode only */

struct cli_cmd {
	const char *group;	/* "device"; NULL for top-level commands */
	const char *name;	/* "add" */
	int (*fn)(struct cli *c, int argc, char **argv);
	unsigned flags;
	const char *usage;	/* argument synopsis */
	const char *help;	/* one line */
};

/*
 * Global options (cli_args.c). cli_args_take() fills a from argv: before
 * the command every global option, after it the long ones and -q, -j, -h
 * wherever they stand (up to "--"); argv keeps argv[0] and the remaining
 * words (NULL-terminated), *argc their count. cli_args_env() completes a
 * from the environment (CUSTODY_SERVER, CUSTODY_CERT, CUSTODY_KEY,
 * CUSTODY_CACERT, CUSTODY_TIMEOUT, CUSTODY_STATE_DIR; the command line
 * wins) and picks the mode: remote when a server is set (state_dir then
 * NULL), else local on state_dir. Both: CUST_OK or CUST_E_INVAL.
 */
struct cli_args {
	const char *state_dir;
	const char *timeout;	/* --timeout as typed */
	int json, quiet, help, version;
	struct cli_remote_conf remote;
};
int cli_args_take(struct cli_args *a, int *argc, char **argv)
	__attribute__((warn_unused_result));
int cli_args_env(struct cli_args *a) __attribute__((warn_unused_result));

/*
 * The remote backend (cli_remote.c): operations posted to custodyd as
 * POST {server}/v1/ops/<op> over TLS 1.2 or later, the server verified
 * against conf->cacert, with the client certificate when given (its key
 * refused unless owned by us and 0600 or stricter: CUST_E_PERM). One
 * connection, kept alive across calls. A reply is bounded by
 * CLI_REMOTE_MAX bytes.
 *
 * cli_remote_new(): *out new, free with cli_remote_free(); CUST_E_INVAL
 * for a bad URL or missing file. cli_remote_call(): as cli_call(); the
 * server's error names map back to their codes (exit codes as local
 * mode); a server that cannot be reached, fails TLS verification or
 * times out is CUST_E_UNAVAIL naming it. With progress (--wait), a
 * job the operation starts or resumes (password.rotate, job.resume) is
 * followed meanwhile on a second connection, its progress reported once
 * a second from a thread of its own. cli_remote_reply(): what an
 * HTTP reply (status, body of len bytes) means for op (exported for
 * tests).
 */
#define CLI_REMOTE_MAX	(64 * 1024 * 1024)
int cli_remote_new(const struct cli_remote_conf *conf,
    struct cli_remote **out) __attribute__((warn_unused_result));
void cli_remote_free(struct cli_remote *rm);
int cli_remote_call(struct cli_remote *rm, const char *op, json_t *req,
    json_t **resp_out, void (*progress)(void *arg, size_t done,
    size_t total), void *arg) __attribute__((warn_unused_result));
int cli_remote_reply(const char *server, const char *op, long status,
    const char *body, size_t len, json_t **resp_out)
	__attribute__((warn_unused_result));

/* Command tables, one per group file, each ended by a zeroed entry. */
extern const struct cli_cmd cli_core_cmds[];
extern const struct cli_cmd cli_device_cmds[];
extern const struct cli_cmd cli_password_cmds[];
extern const struct cli_cmd cli_audit_cmds[];
extern const struct cli_cmd cli_cert_cmds[];	/* cli_ca.c */
extern const struct cli_cmd cli_ca_cmds[];	/* cli_ca.c */
extern const struct cli_cmd cli_console_cmds[];	/* cli_ca.c */
extern const struct cli_cmd cli_policy_cmds[];	/* cli_policy.c */
extern const struct cli_cmd cli_store_cmds[];	/* cli_store.c */
extern const struct cli_cmd cli_job_cmds[];	/* cli_job.c */
extern const struct cli_cmd cli_config_cmds[];	/* cli_config.c */
extern const struct cli_cmd cli_credential_cmds[];	/* cli_credential.c */
extern const struct cli_cmd cli_staff_cmds[];	/* cli_staff.c */
extern const struct cli_cmd cli_directory_cmds[];	/* cli_directory.c */
extern const struct cli_cmd cli_account_cmds[];	/* cli_account.c */

/* Print the reply of a rotation (password rotate, job resume) as text or
 * JSON; the exit code (1 when devices were refused or gone). */
int cli_rotate_result(struct cli *c, json_t *resp);

/* CA options of init and ca rotate (cli_ca.c): getopt_long entries that
 * return 'C'; pass opts[longindex].name and optarg to cli_ca_opt(), which
 * records them in a JSON object (0, or -1 after a usage message). Then
 * cli_ca_init() creates the CA in c->st (consumes opts; exit code). */
#define CLI_CA_OPTIONS \
	{ "key-type", required_argument, NULL, 'C' }, \
	{ "profile", required_argument, NULL, 'C' }, \
	{ "org", required_argument, NULL, 'C' }, \
	{ "root-cn", required_argument, NULL, 'C' }, \
	{ "issuing-cn", required_argument, NULL, 'C' }, \
	{ "root-days", required_argument, NULL, 'C' }, \
	{ "issuing-days", required_argument, NULL, 'C' }, \
	{ "leaf-days", required_argument, NULL, 'C' }, \
	{ "console-days", required_argument, NULL, 'C' }, \
	{ "renew-days", required_argument, NULL, 'C' }, \
	{ "crl-days", required_argument, NULL, 'C' }, \
	{ "root-pathlen", required_argument, NULL, 'C' }, \
	{ "issuing-pathlen", required_argument, NULL, 'C' }, \
	{ "server-name", required_argument, NULL, 'C' },
int cli_ca_opt(json_t *opts, const char *name, const char *value);
int cli_ca_init(struct cli *c, json_t *opts);

/* console add|renew, staff add|renew (op "console.add" ...): NAME,
 * -o DIR, --force, --key-type T; renewals also --csr F (no key file
 * then), staff add --role R. Files NAME.crt, NAME.key (0600, when custody
 * made the key), NAME-chain.pem. (cli_ca.c) */
int cli_client_cert(struct cli *c, int argc, char **argv, const char *op);

/* console revoke, staff revoke: NAME [--reason R], op with {"name",
 * "reason"}, the reply through render. (cli_ca.c) */
int cli_revoke_cmd(struct cli *c, int argc, char **argv, const char *op,
    void (*render)(struct cli *c, json_t *resp));

/* Print a device.push dry run (the envelopes, in order) as text; a
 * push's outcome (an item of it: "FQDN KIND: RESULT: DETAIL"), and
 * whether the item ended with the candidate current (ok, reconciled).
 * (cli_device.c) */
void cli_render_push(struct cli *c, json_t *r);
/* The items and counts of a principal sync reply (cli_directory.c; also
 * under "principals" in account sync's). */
void cli_render_principals(struct cli *c, json_t *r);
void cli_render_pushed(struct cli *c, json_t *item);
int cli_push_ok(json_t *item);
/* The text of a push job's outcome: items (may be NULL) one per line,
 * then "PUSHED of SELECTED devices ... (job JOB)" with the counts of
 * results. Returns the exit code: CUST_EXIT_FAIL when a device did not
 * end with its password applied (ok, reconciled) or nothing to push. */
int cli_push_job_result(struct cli *c, json_t *items, json_t *results,
    long long job, long long selected, long long pushed);
/* Call op (device.push with a selector, job.resume of a push job) with
 * req (consumed) and print its push job's outcome; the exit code. */
int cli_push_job(struct cli *c, const char *op, json_t *req);
/* Print a policy.apply reply (also job resume of an apply job): JSON or
 * text; the exit code (1 when a device is not ok). (cli_policy.c) */
int cli_apply_result(struct cli *c, json_t *resp);
/* The same for a cert provision job (cert provision --tag|--all, job
 * resume of one). (cli_ca.c) */
int cli_provision_job_result(struct cli *c, json_t *resp);

/* The arguments "FQDN [--dry-run]" (with_force: and [--force]) into a
 * new *req_out {"fqdn"[, "dry_run": true][, "force": true]}: CUST_EXIT_OK, else
 * the usage exit code (said). (cli_device.c) */
int cli_fqdn_dry_run(int argc, char **argv, int with_force, json_t **req_out);

/* Call op with req (taken), print the reply (JSON, or through render) and
 * exit CUST_EXIT_OK when ok(reply), else CUST_EXIT_FAIL: commands whose
 * reply is a per-device outcome. (cli_device.c) */
/* The "directory" part of a reply (ops_account_follow()): the AD object
 * of `of` that was `done` ("deleted", "disabled"), or a warning on stderr
 * when it could not be. (cli_directory.c) */
void cli_render_directory(struct cli *c, json_t *resp, const char *of,
    const char *done);

int cli_run_outcome(struct cli *c, const char *op, json_t *req,
    void (*render)(struct cli *c, json_t *resp), int (*ok)(json_t *resp));

/* Call operation op with req (borrowed) through the backend; *resp_out is
 * new. On error prints nothing; returns CUST_E_*. */
int cli_call(struct cli *c, const char *op, json_t *req, json_t **resp_out);

/* Show the progress of a long job (done of total devices) on stderr: a
 * bar with rate and ETA on a terminal; plain lines (one at most every few
 * seconds, and the last) otherwise when --wait; nothing with -q. The
 * local backend reports through it; job show --wait too. */
void cli_progress(struct cli *c, size_t done, size_t total);

/* End a progress display that stopped short of its total (a job that
 * failed or was interrupted): the terminal line is finished. */
void cli_progress_end(struct cli *c);

/*
 * Jobs custodyd runs on its job threads (cli_job.c). cli_job_async(): in
 * remote mode, whether op with req may hand a push job over, and if so
 * asks it to ("async": true in req). cli_job_finish(): custodyd answered
 * such a request at once ("async": true in *resp): wait for the job (its
 * progress on stderr, as job show --wait) and make *resp the reply op
 * gives when it runs the job in the call; an interrupted or failed job is
 * an error saying so. cli_job_started(): with --no-wait, *resp is still
 * the "async" one: print the job to follow and return 1 (0 otherwise).
 * cli_no_wait(): --no-wait into c; a usage error's exit code in local
 * mode, else 0.
 */
int cli_job_async(struct cli *c, const char *op, json_t *req);
int cli_job_finish(struct cli *c, json_t *req, json_t **resp)
	__attribute__((warn_unused_result));
int cli_job_started(struct cli *c, json_t *resp);
int cli_no_wait(struct cli *c);

/* Open the state directory for the local backend if not yet open. */
int cli_open(struct cli *c);

/* Print "custodyctl: <msg>" for err to stderr and return its exit code. */
int cli_error(struct cli *c, int err);

/* Print a usage error for the command and return CUST_EXIT_USAGE. */
int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Member key of object o as a string for text rendering, escaped with
 * util_escape() (borrowed: from o, or a copy that lives until exit), or
 * "-" when absent or not a string; as an integer, or 0. Text output of
 * response values goes through cli_str() and nothing else. */
const char *cli_str(json_t *o, const char *key);
/* A certificate's pending supersede ("superseded_by" or "supersedes" of
 * cert info or a holder list item) as text after prefix, no newline; 1
 * when printed. */
int cli_supersede_print(json_t *o, const char *prefix);
long long cli_num(json_t *o, const char *key);

/* Member key of o as it is, or "" (borrowed from o): only for data the CA
 * made (PEM, with its newlines), never for names. */
const char *cli_raw(json_t *o, const char *key);

/* Print resp as indented JSON on stdout. */
void cli_print_json(json_t *resp);

/* The command being run (for usage messages). */
const struct cli_cmd *cli_current(void);

/* Run op with req (consumed: json_decref'd) and, on success, print the
 * response as JSON when --json, else through render (may be NULL: print
 * nothing). Returns the process exit code. */
int cli_run(struct cli *c, const char *op, json_t *req,
    void (*render)(struct cli *c, json_t *resp));

/*
 * A list operation (include/ops.h paging), all of it or one page. When req
 * has a "limit" the user asked for one page: one call, and in text a last
 * line "(more: --after CURSOR)" when there is more. Otherwise the pages are
 * followed to the end: each reply's "next" becomes the next request's
 * "after". Text: render(c, page, first) per page, printed as it comes.
 * JSON: one reply with the key arrays of every page joined, the integer
 * members (counts) summed, and "next" null. req is consumed. When
 * merged_out is not NULL it gets that reply (new; in text its key array
 * is empty) for callers that need the counts. Returns
 * CUST_OK or an error (not yet printed).
 */
int cli_pages(struct cli *c, const char *op, json_t *req, const char *key,
    void (*render)(struct cli *c, json_t *page, int first),
    json_t **merged_out);

/* Parse a whole number option arg (min..max) into req[key]: 0, or -1
 * after a usage message naming the problem. */
int cli_opt_num(json_t *req, const char *key, const char *arg, long min,
    long max);

/* The end of a list command once getopt is done: no argument may be left
 * (argv[optind]), then every page (cli_pages() with op, key and render).
 * req is consumed. Returns the process exit code. */
int cli_list_tail(struct cli *c, int argc, char **argv, const char *op,
    json_t *req, const char *key,
    void (*render)(struct cli *c, json_t *page, int first));

#endif
