/* SPDX-License-Identifier: MIT */
/* src/cli/cli_store.c - store accept-restore.
 *
 * Local only, like init: it works on the state directory itself, before
 * the store is trusted, so it does not go through the operations layer.
 */
#include <stdio.h>

#include "ca.h"
#include "cli.h"
#include "err.h"
#include "state.h"

/*
 * After a deliberate restore of custody.db from a backup, every command
 * refuses the store as older than the rollback counter. This accepts it:
 * the audit chain must verify, then the counter is reset to the restored
 * store (audited).
 */
static int
cmd_accept_restore(struct cli *c, int argc, char **argv)
{
	int64_t store_seq = 0, ctr_seq = 0;
	json_t *out, *pub = NULL, *stale;
	size_t i;
	int r;

	if (argc > 1)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[1]);
	if ((r = state_open_flags(c->state_dir, STATE_OPEN_RESTORE, &c->st)) !=
	    CUST_OK)
		return cli_error(c, r);
	if ((r = state_accept_restore(c->st, c->actor, &store_seq, &ctr_seq))
	    != CUST_OK)
		return cli_error(c, r);
	/* The files of DIR/ca may be a newer state's: rewritten from the
	 * store. The service keys are not in it: stale ones are named. */
	if ((r = ca_republish(c->st, &pub)) != CUST_OK)
		return cli_error(c, r);
	stale = json_object_get(pub, "stale");
	for (i = 0; i < json_array_size(stale); i++)
		fprintf(stderr, "custodyctl: warning: %s/%s is not a valid "
		    "certificate of the restored store (its key is not kept "
		    "there); issue new service certificates with 'custodyctl "
		    "ca rotate' then 'custodyctl ca rotate --activate'\n",
		    c->state_dir, json_string_value(json_array_get(stale, i)));
	if (c->json) {
		out = json_pack("{s:s, s:b, s:I, s:I, s:O}", "state_dir",
		    c->state_dir, "accepted", 1, "audit_seq",
		    (json_int_t)store_seq, "previous_counter",
		    (json_int_t)ctr_seq, "stale_service_certs", stale);
		cli_print_json(out);
		json_decref(out);
	} else if (!c->quiet) {
		if (ctr_seq >= 0)
			printf("store accepted: the rollback counter was at "
			    "audit entry %lld, now %lld\n", (long long)ctr_seq,
			    (long long)store_seq);
		else
			printf("store accepted: no readable rollback counter; "
			    "now at audit entry %lld\n", (long long)store_seq);
		printf("CA files rewritten from the store: %s/ca (bundle "
		    "version %.16s)\n", c->state_dir, json_string_value(
		    json_object_get(pub, "bundle_version")));
	}
	json_decref(pub);
	return CUST_EXIT_OK;
}

const struct cli_cmd cli_store_cmds[] = {
	{ "store", "accept-restore", cmd_accept_restore,
	  CLI_NOSTATE | CLI_LOCAL, "",
	  "accept custody.db restored from a backup as the newest (resets "
	  "the rollback counter)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};
