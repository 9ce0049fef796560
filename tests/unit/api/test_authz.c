/* SPDX-License-Identifier: MIT */
/* tests/unit/api/test_authz.c - authorization in the operations layer:
 * every operation called by every kind of identity (nobody, local, staff
 * admin and auditor, the owner console scoped to a tag, another console)
 * through ops_call(). An identity the matrix below does not allow must
 * get CUST_E_DENIED, audited as "denied" unless it is anonymous; an
 * allowed one must never get CUST_E_DENIED. The matrix is written out
 * here, independently of the operation tables: widening an operation's
 * roles, or adding an operation without a row here, fails the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "ops.h"
#include "state.h"
#include "testutil.h"

static const char policy_doc[] =
	"version: 1\n"
	"owner: prov\n"
	"consoles:\n"
	"  prov:\n"
	"    identity: {certificate: \"CN=prov\"}\n"
	"    duties: [setup, redirection, power, inventory]\n"
	"    scope: {tags: [odd]}\n"
	"  pwr:\n"
	"    identity: {certificate: \"CN=pwr\"}\n"
	"    duties: [event-log]\n";

/*
 * Who may call what (DESIGN.md, "HTTPS API"; doc/internals/SERVICE.md):
 * N nobody, L local, A staff admin, U staff auditor, O the owner console
 * (in its scope), C any other console. Requests address d01 (tagged odd:
 * in the owner's scope) unless they would destroy it.
 */
static const struct row {
	const char *op;
	const char *allowed;
	const char *req;	/* JSON */
} matrix[] = {
	{ "status", "LAU", "{}" },
	{ "device.add", "LA", "{\"fqdn\": \"new.corp.example\"}" },
	{ "device.list", "LAU", "{}" },
	{ "device.show", "LAU", "{\"fqdn\": \"d01.corp.example\"}" },
	{ "device.set", "LA", "{\"fqdn\": \"d02.corp.example\", "
	  "\"address\": \"127.0.0.1:20000\"}" },
	{ "device.push", "LA", "{\"fqdn\": \"d01.corp.example\", "
	  "\"dry_run\": true, \"candidate\": \"new\"}" },
	{ "device.reconcile", "LA", "{}" },
	{ "device.remove", "LA", "{\"fqdn\": \"d03.corp.example\"}" },
	{ "device.import", "LA", "{\"data\": \"fqdn\\nimp.corp.example\\n\"}" },
	{ "password.show", "LAO", "{\"fqdn\": \"d01.corp.example\"}" },
	{ "password.history", "LAUO", "{\"fqdn\": \"d01.corp.example\"}" },
	{ "password.rotate", "LA", "{\"fqdns\": [\"d05.corp.example\"]}" },
	{ "password.confirm", "LAO", "{\"fqdn\": \"d01.corp.example\", "
	    "\"version\": 99}" },
	{ "password.verify", "LA", "{}" },
	{ "job.list", "LAU", "{}" },
	{ "job.show", "LAU", "{\"id\": 1}" },
	{ "job.resume", "LA", "{\"id\": 1}" },
	{ "audit.list", "LAU", "{\"limit\": 1}" },
	{ "audit.verify", "LAU", "{}" },
	{ "cert.sign", "LAO", "{\"fqdn\": \"d01.corp.example\", "
	    "\"csr\": \"not a CSR\"}" },
	{ "cert.issue", "LA", "{\"fqdn\": \"d05.corp.example\", "
	    "\"key_type\": \"ecdsa-p256\"}" },
	{ "ca.push-roots", "LA", "{\"fqdns\": [\"d01.corp.example\"]}" },
	{ "cert.provision", "LA", "{\"fqdn\": \"d01.corp.example\", "
	    "\"dry_run\": true}" },
	{ "cert.delivered", "LA", "{\"serial\": \"01\"}" },
	{ "cert.renew", "LAO", "{\"fqdn\": \"d01.corp.example\"}" },
	{ "cert.revoke", "LA", "{\"serial\": \"01\"}" },
	{ "cert.list", "LAU", "{}" },
	{ "cert.show", "LAU", "{\"serial\": \"01\"}" },
	{ "ca.show", "LAU", "{}" },
	{ "ca.bundle", "NLAUOC", "{}" },
	{ "ca.crl", "NLAUOC", "{}" },
	{ "ca.rotate", "LA", "{\"options\": {\"key_type\": \"ecdsa-p256\"}}" },
	{ "ca.activate", "LA", "{}" },
	{ "ca.retire", "LA", "{}" },
	{ "ca.server-renew", "LA", "{}" },
	{ "console.add", "LA", "{\"name\": \"x1\", \"key_type\": "
	    "\"ecdsa-p256\"}" },
	{ "console.revoke", "LA", "{\"name\": \"x1\"}" },
	{ "console.list", "LAU", "{}" },
	{ "policy.load", "LA", "{\"file\": \"p.yaml\", \"text\": \"\"}" },
	{ "policy.plan", "LAU", "{\"device\": \"d01.corp.example\"}" },
	/* They unseal admin passwords to log in to devices: admins only. */
	{ "policy.apply", "LA", "{\"device\": \"d01.corp.example\"}" },
	{ "policy.drift", "LA", "{\"device\": \"d01.corp.example\"}" },
	/* A console reads its own credential only (the other console asks
	 * for prov's here); admins any console's; auditors none. */
	{ "credential.show", "LAO", "{\"fqdn\": \"d01.corp.example\", "
	    "\"console\": \"prov\"}" },
	{ "credential.list", "LAO", "{\"console\": \"prov\"}" },
	{ "credential.sync", "LA", "{}" },
	{ "console.renew", "LA", "{\"name\": \"x1\"}" },
	{ "staff.add", "LA", "{\"name\": \"s1\", \"role\": \"auditor\", "
	    "\"key_type\": \"ecdsa-p256\"}" },
	{ "staff.list", "LAU", "{}" },
	{ "staff.revoke", "LA", "{\"name\": \"s1\"}" },
	{ "staff.renew", "LA", "{\"name\": \"s1\"}" },
	/* The MIT realm is the admin's; the list holds no secret; a
	 * keytab is its console's (the other console asks for prov's). */
	{ "principal.sync", "LA", "{\"dry_run\": true}" },
	{ "principal.rotate", "LA", "{\"name\": \"prov\"}" },
	{ "principal.list", "LAU", "{}" },
	{ "keytab.get", "LAO", "{\"name\": \"prov\"}" },
	/* AD accounts: creating and changing them is the admins'. */
	{ "account.sync", "LA", "{\"dry_run\": true}" },
	{ "account.rotate", "LA", "{\"all\": true}" },
	{ "account.list", "LAU", "{}" },
	{ "account.password", "LA", "{\"name\": \"svc\"}" },
	/* Kerberos keys on devices: the admins'. */
	{ "device.kerberos", "LA", "{\"fqdns\": [\"d01.corp.example\"], "
	    "\"dry_run\": true}" },
	/* Every client with a certificate renews its own. */
	{ "client.reenroll", "LAUOC", "{\"csr\": \"not a CSR\"}" },
};
#define NROWS (sizeof(matrix) / sizeof(matrix[0]))

/* The identities, in the order they call each operation (the local and
 * admin calls last: they may change what the others would see). */
static const char who_letters[] = "NCOUAL";
#define NWHO (sizeof(who_letters) - 1)

struct afx {
	struct tu_fx *f;
	struct ops_identity *who[NWHO];
};

static int
call_as(struct cust_state *st, const struct ops_identity *who,
    const char *op, json_t *req, json_t **resp)
{
	struct ops_ctx ctx = { .st = st, .who = who };

	return ops_call(&ctx, op, req, resp);
}

static int
local_call(struct cust_state *st, const char *op, json_t *req)
{
	json_t *resp = NULL;
	int r = call_as(st, tu_local(), op, req, &resp);

	json_decref(resp);
	json_decref(req);
	return r;
}

/* d00..d05.corp.example, the odd ones tagged "odd"; the policy above
 * loaded; one identity of each kind. */
static int
setup(void **state)
{
	struct afx *a = calloc(1, sizeof(*a));
#define R_ "Digest:A4070000000000000000000000000000"
	static const char csv[] = "fqdn,digest_realm,tags\n"
	    "d00.corp.example," R_ ",\nd01.corp.example," R_ ",odd\n"
	    "d02.corp.example," R_ ",\nd03.corp.example," R_ ",odd\n"
	    "d04.corp.example," R_ ",\nd05.corp.example," R_ ",odd\n";
#undef R_
	size_t count, i;

	assert_non_null(a);
	tu_fx_setup(state);
	a->f = *state;
	*state = a;
	if (cred_device_import(a->f->st, "t", csv, strlen(csv), 16, &count) !=
	    CUST_OK)
		fail_msg("import: %s", cust_errmsg());
	if (local_call(a->f->st, "policy.load", json_pack("{s:s, s:s}",
	    "file", "p.yaml", "text", policy_doc)) != CUST_OK)
		fail_msg("policy.load: %s", cust_errmsg());
	for (i = 0; i < NWHO; i++) {
		int r;

		switch (who_letters[i]) {
		case 'N':
			r = ops_identity_new(OPS_ID_NOBODY, NULL, &a->who[i]);
			break;
		case 'L':
			r = ops_identity_new(OPS_ID_LOCAL, "root", &a->who[i]);
			break;
		case 'A':
			r = ops_identity_new(OPS_ID_ADMIN, "ann", &a->who[i]);
			break;
		case 'U':
			r = ops_identity_new(OPS_ID_AUDITOR, "udo", &a->who[i]);
			break;
		case 'O':
			r = ops_identity_console(a->f->st, "prov", &a->who[i]);
			break;
		default:
			r = ops_identity_console(a->f->st, "pwr", &a->who[i]);
			break;
		}
		if (r != CUST_OK)
			fail_msg("identity %c: %s", who_letters[i],
			    cust_errmsg());
	}
	return 0;
}

static int
teardown(void **state)
{
	struct afx *a = *state;
	size_t i;

	for (i = 0; i < NWHO; i++)
		ops_identity_free(a->who[i]);
	*state = a->f;
	tu_fx_teardown(state);
	free(a);
	return 0;
}

static long long
audit_last(struct cust_state *st)
{
	return tu_sql_int(st, "SELECT COALESCE(MAX(seq), 0) FROM audit");
}

static json_t *
req_of(const struct row *w)
{
	json_error_t err;
	json_t *req = json_loads(w->req, 0, &err);

	if (req == NULL)
		fail_msg("%s: bad request in the matrix: %s", w->op, err.text);
	return req;
}

/* Was the last audit entry the denial of op to who? */
static void
assert_denial_audited(struct cust_state *st, const struct ops_identity *who,
    const char *op, long long seq)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM audit WHERE seq = "
	    "%lld AND result = 'denied' AND action = '%s' AND actor = '%s'",
	    seq, op, ops_identity_actor(who));
	if (tu_sql_int(st, sql) != 1)
		fail_msg("%s denied to %s: not audited as denied", op,
		    ops_identity_actor(who));
}

/* Every operation is in the matrix, and the matrix names no other. */
static void
test_matrix_complete(void **state)
{
	const struct ops_entry *e;
	size_t i, k, n = 0;

	(void)state;
	for (i = 0; (e = ops_entry_at(i)) != NULL; i++, n++) {
		for (k = 0; k < NROWS; k++)
			if (strcmp(matrix[k].op, e->name) == 0)
				break;
		if (k == NROWS)
			fail_msg("operation %s has no row in the authorization "
			    "matrix", e->name);
	}
	assert_int_equal(n, NROWS);
	for (k = 0; k < NROWS; k++)
		assert_non_null(ops_find(matrix[k].op));
}

static void
test_matrix(void **state)
{
	struct afx *a = *state;
	struct cust_state *st = a->f->st;
	json_t *req, *resp;
	size_t k, i;
	long long before;
	int r;

	for (k = 0; k < NROWS; k++) {
		const struct row *w = &matrix[k];

		for (i = 0; i < NWHO; i++) {
			int allowed = strchr(w->allowed, who_letters[i]) !=
			    NULL;

			req = req_of(w);
			before = audit_last(st);
			resp = NULL;
			r = call_as(st, a->who[i], w->op, req, &resp);
			json_decref(req);
			if (allowed && r == CUST_E_DENIED)
				fail_msg("%s by %s: denied, but allowed: %s",
				    w->op, ops_identity_actor(a->who[i]),
				    cust_errmsg());
			if (!allowed && r != CUST_E_DENIED)
				fail_msg("%s by %s: %d (%s), but not allowed",
				    w->op, ops_identity_actor(a->who[i]), r,
				    cust_errmsg());
			if (r != CUST_OK)
				assert_null(resp);
			json_decref(resp);
			if (allowed)
				continue;
			assert_int_equal(cust_exit_code(r), CUST_EXIT_DENIED);
			assert_int_equal(cust_http_status(r), 403);
			assert_non_null(strstr(cust_errmsg(), w->op));
			if (who_letters[i] == 'N')	/* anonymous: never */
				assert_int_equal(audit_last(st), before);
			else
				assert_denial_audited(st, a->who[i], w->op,
				    before + 1);
		}
	}
}

/* The owner console is scoped to tag "odd": a device without it, or one
 * that does not exist, or none named, is refused the same way, for every
 * device operation it may call. */
static void
test_owner_scope(void **state)
{
	struct afx *a = *state;
	struct cust_state *st = a->f->st;
	const struct ops_identity *owner = a->who[strchr(who_letters, 'O') -
	    who_letters];
	static const char *const outside[] = { "d00.corp.example",
	    "nx.corp.example", "D02.Corp.Example", NULL };	/* d02: no tag */
	json_t *req, *resp = NULL;
	size_t k, o, tried = 0;
	long long before;
	int r;

	for (k = 0; k < NROWS; k++) {
		int devop;

		if (strchr(matrix[k].allowed, 'O') == NULL ||
		    strchr(matrix[k].allowed, 'N') != NULL)
			continue;	/* not the owner's, or anyone's */
		req = req_of(&matrix[k]);
		devop = json_object_get(req, "fqdn") != NULL;
		json_decref(req);
		if (!devop)
			continue;
		tried++;
		for (o = 0; o <= 3; o++) {
			req = req_of(&matrix[k]);
			if (outside[o] != NULL)
				json_object_set_new(req, "fqdn",
				    json_string(outside[o]));
			else
				json_object_del(req, "fqdn");
			before = audit_last(st);
			r = call_as(st, owner, matrix[k].op, req, &resp);
			json_decref(req);
			if (r != CUST_E_DENIED)
				fail_msg("%s by the scoped owner on %s: %d (%s)",
				    matrix[k].op, outside[o] ? outside[o] :
				    "no device", r, cust_errmsg());
			assert_null(resp);
			assert_denial_audited(st, owner, matrix[k].op,
			    before + 1);
		}
	}
	assert_true(tried >= 5);	/* password.*, cert.sign, cert.renew */
	/* In scope, the owner reads the password (and it is audited as a
	 * read by that console). */
	req = json_pack("{s:s}", "fqdn", "D01.corp.example");
	assert_int_equal(call_as(st, owner, "password.show", req, &resp),
	    CUST_OK);
	json_decref(req);
	assert_non_null(json_object_get(resp, "password"));
	json_decref(resp);
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM audit WHERE "
	    "actor = 'console:prov' AND action = 'password.show' AND "
	    "result = 'ok'"), 1);
}

/* A console's own resource only (the mechanism, with an operation made
 * here: the console operations of today are staff-only), and an unscoped
 * console reaches every device. */
static void
test_console_resource(void **state)
{
	struct afx *a = *state;
	struct ops_ctx ctx = { .st = a->f->st };
	const struct ops_entry mine = { "t.mine", NULL, 0, OPS_CONSOLE,
	    OPS_RES_CONSOLE };
	const struct ops_entry dev = { "t.dev", NULL, 0, OPS_CONSOLE,
	    OPS_RES_DEVICE };
	json_t *req;

	ctx.who = a->who[strchr(who_letters, 'C') - who_letters];
	req = json_pack("{s:s}", "name", "pwr");
	assert_int_equal(ops_authorize(&ctx, &mine, req), CUST_OK);
	json_object_set_new(req, "name", json_string("prov"));
	assert_int_equal(ops_authorize(&ctx, &mine, req), CUST_E_DENIED);
	assert_non_null(strstr(cust_errmsg(), "only ask for itself"));
	json_object_del(req, "name");
	assert_int_equal(ops_authorize(&ctx, &mine, req), CUST_E_DENIED);
	assert_int_equal(ops_authorize(&ctx, &mine, NULL), CUST_E_DENIED);
	json_object_set_new(req, "fqdn", json_string("d00.corp.example"));
	assert_int_equal(ops_authorize(&ctx, &dev, req), CUST_OK);
	json_decref(req);
	/* Staff are not consoles. */
	ctx.who = a->who[strchr(who_letters, 'A') - who_letters];
	assert_int_equal(ops_authorize(&ctx, &mine, NULL), CUST_E_DENIED);
}

/* Identities: consoles come from the loaded policy only; names are
 * checked; the actor names the kind. */
static void
test_identities(void **state)
{
	struct afx *a = *state;
	struct ops_identity *id = NULL;
	char longname[200];

	assert_int_equal(ops_identity_console(a->f->st, "nosuch", &id),
	    CUST_E_DENIED);
	assert_null(id);
	assert_int_equal(ops_identity_new(OPS_ID_CONSOLE, "pwr", &id),
	    CUST_E_INVAL);
	assert_int_equal(ops_identity_new(OPS_ID_ADMIN, "", &id),
	    CUST_E_INVAL);
	assert_int_equal(ops_identity_new(OPS_ID_ADMIN, "a\nb", &id),
	    CUST_E_INVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(ops_identity_new(OPS_ID_ADMIN, longname, &id),
	    CUST_E_INVAL);
	assert_null(id);
	assert_string_equal(ops_identity_actor(a->who[0]), "anonymous");
	assert_string_equal(ops_identity_actor(NULL), "anonymous");
	assert_int_equal(ops_identity_kind(NULL), OPS_ID_NOBODY);
	assert_string_equal(ops_identity_actor(a->who[1]), "console:pwr");
	assert_string_equal(ops_identity_actor(a->who[2]), "console:prov");
	assert_string_equal(ops_identity_actor(a->who[3]), "auditor:udo");
	assert_int_equal(ops_identity_kind(a->who[2]), OPS_ID_CONSOLE);
	/* The caller's actor never reaches the audit log: the identity's
	 * does. */
	{
		struct ops_ctx ctx = { .st = a->f->st, .who = a->who[4],
		    .actor = "local:forged" };
		json_t *req = json_pack("{s:s}", "fqdn", "d01.corp.example");
		json_t *resp = NULL;

		assert_int_equal(ops_call(&ctx, "password.show", req, &resp),
		    CUST_OK);
		json_decref(req);
		json_decref(resp);
		assert_int_equal(tu_sql_int(a->f->st, "SELECT COUNT(*) FROM "
		    "audit WHERE actor = 'local:forged'"), 0);
		assert_int_equal(tu_sql_int(a->f->st, "SELECT COUNT(*) FROM "
		    "audit WHERE actor = 'admin:ann' AND action = "
		    "'password.show'"), 1);
	}
	/* A loaded policy that no longer passes the check (a stricter
	 * checker) authorizes no console. */
	tu_sql_mac(a->f->st, "UPDATE policy SET body = replace(body, "
	    "'duties: [event-log]', 'duties: [event-log, nosuchduty]')");
	assert_int_equal(ops_identity_console(a->f->st, "pwr", &id),
	    CUST_E_DENIED);
	assert_non_null(strstr(cust_errmsg(), "fails the check"));
	assert_null(id);
	/* Without a policy, no console is authorized. */
	tu_sql(a->f->st, "DELETE FROM policy");
	assert_int_equal(ops_identity_console(a->f->st, "prov", &id),
	    CUST_E_DENIED);
	assert_non_null(strstr(cust_errmsg(), "no policy"));
}

/* Every value (password and HA1) of console's credentials, as the
 * admin reads them, appended to vals. */
static void
collect_creds(struct cust_state *st, const char *console, json_t *vals)
{
	static const char *const fmts[] = { "plain", "ha1" };
	json_t *req, *resp;
	char fqdn[32];
	size_t d, f;

	for (d = 0; d <= 5; d++)
		for (f = 0; f < 2; f++) {
			snprintf(fqdn, sizeof(fqdn), "d%02zu.corp.example", d);
			req = json_pack("{s:s, s:s, s:s}", "fqdn", fqdn,
			    "console", console, "format", fmts[f]);
			resp = NULL;
			if (call_as(st, tu_local(), "credential.show", req,
			    &resp) == CUST_OK)
				json_array_append(vals, json_object_get(resp,
				    f ? "ha1" : "password"));
			json_decref(req);
			json_decref(resp);
		}
}

/* No reply to a console ever carries another console's credential
 * (password or HA1): every operation a console may call, on every
 * device, naming itself, the other console or nobody. */
static void
test_no_foreign_credential(void **state)
{
	struct afx *a = *state;
	struct cust_state *st = a->f->st;
	static const char *const names[] = { "prov", "pwr" };
	static const char cons[] = "OC";
	json_t *theirs[2], *req, *resp, *v;
	char fqdn[32], *dump;
	json_free_t jfree = free;
	size_t c, k, d, n, i, seen = 0;
	int r;

	for (c = 0; c < 2; c++) {
		theirs[c] = json_array();
		collect_creds(st, names[c], theirs[c]);
	}
	/* prov (tag odd): d01, d03, d05; pwr: every device. */
	assert_int_equal(json_array_size(theirs[0]), 3 * 2);
	assert_int_equal(json_array_size(theirs[1]), 6 * 2);
	for (c = 0; c < 2; c++) {
		const struct ops_identity *who = a->who[strchr(who_letters,
		    cons[c]) - who_letters];
		json_t *other = theirs[1 - c];

		for (k = 0; k < NROWS; k++) {
			/* Denied ones too: the request changes below. */
			for (d = 0; d < 6 * 3; d++) {
				req = req_of(&matrix[k]);
				snprintf(fqdn, sizeof(fqdn), "d%02zu.corp.example",
				    d % 6);
				if (json_object_get(req, "fqdn") != NULL)
					json_object_set_new(req, "fqdn",
					    json_string(fqdn));
				if (d / 6 == 1)
					json_object_del(req, "console");
				else if (d / 6 == 2)
					json_object_set_new(req, "console",
					    json_string(names[c]));
				else if (json_object_get(req, "console"))
					json_object_set_new(req, "console",
					    json_string(names[1 - c]));
				resp = NULL;
				r = call_as(st, who, matrix[k].op, req, &resp);
				json_decref(req);
				if (r != CUST_OK)
					continue;
				dump = json_dumps(resp, JSON_COMPACT);
				assert_non_null(dump);
				n = json_array_size(other);
				for (i = 0; i < n; i++) {
					v = json_array_get(other, i);
					if (strstr(dump, json_string_value(v)))
						fail_msg("%s by %s carries a "
						    "credential of console %s",
						    matrix[k].op, names[c],
						    names[1 - c]);
				}
				if (strcmp(matrix[k].op, "credential.show") == 0)
					seen++;
				json_get_alloc_funcs(NULL, &jfree);
				jfree(dump);
				json_decref(resp);
			}
		}
	}
	/* Each console did read its own credentials (prov 3 devices x 2
	 * requests; pwr 6 x 2). */
	assert_int_equal(seen, 3 * 2 + 6 * 2);
	json_decref(theirs[0]);
	json_decref(theirs[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix_complete),
		cmocka_unit_test_setup_teardown(test_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_scope, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_console_resource, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_identities, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_foreign_credential,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
