/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_ops.c - libFuzzer harness for JSON request bodies: the
 * bytes custodyd hands to ops_call() after a route matched. The first
 * byte picks an operation, the rest is the body, parsed as custodyd parses
 * it. Every operation must answer CUST_OK or a CUST_E_* code with a
 * message, never crash or leak, and never leave a transaction open. The
 * state lives in /tmp/custody-fuzz.XXXXXX, removed at exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "ops.h"
#include "state.h"
#include "store.h"
#include "util.h"

static struct cust_state *st;
static struct ops_identity *who;
static char dir[] = "/tmp/custody-fuzz.XXXXXX";
static int made;

/* Operations reachable with a body; the bulk ones (rotate all, verify,
 * import) are left to their own harnesses and benchmarks. */
static const char *const opnames[] = {
	"device.add", "device.show", "device.list", "device.remove",
	"password.show", "password.history", "password.confirm",
	"cert.sign", "cert.list", "cert.show", "cert.revoke",
	"console.list", "ca.show", "ca.bundle", "audit.list", "job.show",
	"job.list", "policy.plan", "status", "credential.show",
	"credential.list", "staff.list", "no.such.op",
};
#define NOPS (sizeof(opnames) / sizeof(opnames[0]))

static void
remove_state(void)
{
	pid_t pid;
	int status;

	if (!made)
		return;
	made = 0;
	ops_identity_free(who);
	if (st != NULL) {
		state_close(st);
		st = NULL;
	}
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(stderr, "fuzz_ops: could not remove %s\n", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ops_ctx ctx = { 0 };
	json_error_t jerr;
	json_t *req, *resp = NULL;
	const char *op;
	char *sd;
	int r;

	if (st == NULL) {
		if (cust_init() != CUST_OK || mkdtemp(dir) == NULL)
			abort();
		made = 1;
		if (atexit(remove_state) != 0)
			abort();
		sd = util_path(dir, "state");
		if (state_init(sd, 0, &st) != CUST_OK ||
		    ops_identity_new(OPS_ID_LOCAL, "fuzz", &who) != CUST_OK)
			abort();
		free(sd);
	}
	if (size < 1 || size > 1 << 16)
		return 0;
	op = opnames[data[0] % NOPS];
	/* As custodyd reads a body: bounded, duplicates refused, an
	 * object or nothing. */
	req = json_loadb((const char *)data + 1, size - 1,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		json_decref(req);
		return 0;
	}
	ctx.st = st;
	ctx.who = who;
	r = ops_call(&ctx, op, req, &resp);
	if (r == CUST_OK && resp == NULL)
		abort();	/* success without an answer */
	if (r != CUST_OK && (resp != NULL || cust_exit_code(r) == 0 ||
	    cust_errmsg()[0] == '\0'))
		abort();	/* an error must say what and give nothing */
	if (store_in_txn(state_store(st)))
		abort();	/* an operation left its transaction open */
	json_decref(resp);
	json_decref(req);
	return 0;
}
