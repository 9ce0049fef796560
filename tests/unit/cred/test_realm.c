/* SPDX-License-Identifier: MIT */
/* tests/unit/cred/test_realm.c - cred_device_first_realm(): the DigestRealm
 * a device logs in with at first contact is recorded unless another
 * active device has it (CUST_E_CONFLICT naming that device, nothing
 * recorded), also when two connections (two processes: custodyd and
 * custodyctl) record the same realm at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "err.h"
#include "state.h"
#include "store.h"
#include "testutil.h"

#define ACTOR "tester"
#define R1 "Digest:A4070000000000000000000000000001"
#define R1_LOWER "Digest:a4070000000000000000000000000001"
#define R2 "Digest:A4070000000000000000000000000002"
#define R3 "Digest:A4070000000000000000000000000003"
#define R9 "Digest:A4070000000000000000000000000009"

static void
add(struct cust_state *st, const char *fqdn, const char *realm)
{
	struct cred_device_spec spec = { 0 };

	spec.fqdn = fqdn;
	spec.digest_realm = realm;
	if (cred_device_add(st, ACTOR, &spec, 16, NULL) != CUST_OK)
		fail_msg("add %s: %s", fqdn, cust_errmsg());
}

/* The realm recorded for fqdn, or "" (a new string). */
static char *
realm_of(struct cust_state *st, const char *fqdn)
{
	json_t *d = NULL;
	const char *v;
	char *out;

	if (cred_device_get(st, fqdn, &d) != CUST_OK)
		fail_msg("get %s: %s", fqdn, cust_errmsg());
	v = json_string_value(json_object_get(d, "digest_realm"));
	out = strdup(v != NULL ? v : "");
	json_decref(d);
	assert_non_null(out);
	return out;
}

static void
assert_realm(struct cust_state *st, const char *fqdn, const char *want)
{
	char *got = realm_of(st, fqdn);

	if (strcmp(got, want) != 0)
		fail_msg("%s: realm '%s', not '%s'", fqdn, got, want);
	free(got);
}

static void
test_first_realm(void **state)
{
	struct tu_fx *f = *state;
	struct cust_state *st = f->st;
	long long sets;

	add(st, "a.corp.example", NULL);
	add(st, "b.corp.example", NULL);
	add(st, "c.corp.example", R9);		/* registered so */
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM sqlite_master "
	    "WHERE type = 'index' AND name = 'device_realm'"), 1);

	/* The first device gets it, audited as device.set. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "a.corp.example",
	    R1, 1), CUST_OK);
	assert_realm(st, "a.corp.example", R1);
	sets = tu_sql_int(st, "SELECT COUNT(*) FROM audit WHERE action = "
	    "'device.set' AND object = 'a.corp.example'");
	assert_int_equal(sets, 1);

	/* Another device with it: refused, named, nothing recorded. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "b.corp.example",
	    R1, 1), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "recorded for a.corp.example"));
	assert_realm(st, "b.corp.example", "");
	/* Hex digits in another case are the same realm. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "b.corp.example",
	    R1_LOWER, 1), CUST_E_CONFLICT);
	/* A realm registered (not learnt) counts as much; check only too. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "b.corp.example",
	    R9, 0), CUST_E_CONFLICT);
	assert_non_null(strstr(cust_errmsg(), "c.corp.example"));
	assert_realm(st, "b.corp.example", "");
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.set' AND object = 'b.corp.example' AND "
	    "result = 'ok'"), 0);
	/* Each refused record is audited, naming the other device and the
	 * realm, and committed (the check's transaction is not rolled
	 * back over it); a check only (drift) records no refusal. */
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.set' AND object = 'b.corp.example' AND "
	    "result = 'refused' AND detail LIKE '%a.corp.example%' AND "
	    "detail LIKE '%" R1 "%'"), 2);
	assert_int_equal(store_in_txn(state_store(st)), 0);

	/* Check only: nothing written. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "b.corp.example",
	    R2, 0), CUST_OK);
	assert_realm(st, "b.corp.example", "");

	/* Recorded meanwhile (a concurrent first contact): the same realm
	 * is fine and not written again, another one is not this device. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "a.corp.example",
	    R1, 1), CUST_OK);
	assert_int_equal(tu_sql_int(st, "SELECT COUNT(*) FROM audit WHERE "
	    "action = 'device.set' AND object = 'a.corp.example'"), sets);
	assert_int_equal(cred_device_first_realm(st, ACTOR, "a.corp.example",
	    R2, 1), CUST_E_VIOLATION);
	assert_realm(st, "a.corp.example", R1);

	/* A retired device's realm is free again (the machine renamed). */
	assert_int_equal(cred_device_remove(st, ACTOR, "c.corp.example"),
	    CUST_OK);
	assert_int_equal(cred_device_first_realm(st, ACTOR, "b.corp.example",
	    R9, 1), CUST_OK);
	assert_realm(st, "b.corp.example", R9);

	/* Not a realm, no such device. */
	assert_int_equal(cred_device_first_realm(st, ACTOR, "b.corp.example",
	    "Digest:XYZ", 1), CUST_E_INVAL);
	assert_int_equal(cred_device_first_realm(st, ACTOR, "n.corp.example",
	    R3, 1), CUST_E_NOTFOUND);
}

/* Two connections on one store (custodyd's job and a custodyctl), each
 * recording the same realm for its own device at once, ROUNDS times,
 * with DELAY_MS between the check and the write: a check that is not in
 * the write's transaction lets both record it. */
#define ROUNDS 20
#define DELAY_MS "30"

struct racer {
	struct cust_state *st;		/* its own connection */
	char prefix;			/* its devices: PREFIXn.corp.example */
	pthread_barrier_t *bar;
	int rc[ROUNDS];
};

static void *
race(void *arg)
{
	struct racer *w = arg;
	char fqdn[64], realm[64];
	int i;

	for (i = 0; i < ROUNDS; i++) {
		snprintf(fqdn, sizeof(fqdn), "%c%d.corp.example", w->prefix,
		    i);
		snprintf(realm, sizeof(realm), "Digest:%032X", 0x100 + i);
		pthread_barrier_wait(w->bar);
		w->rc[i] = cred_device_first_realm(w->st, ACTOR, fqdn, realm,
		    1);
	}
	return NULL;
}

static void
test_first_realm_concurrent(void **state)
{
	struct tu_fx *f = *state;
	struct racer w[2];
	pthread_barrier_t bar;
	pthread_t t[2];
	char fqdn[64];
	int i, k;

	for (i = 0; i < ROUNDS; i++)
		for (k = 0; k < 2; k++) {
			snprintf(fqdn, sizeof(fqdn), "%c%d.corp.example",
			    "pq"[k], i);
			add(f->st, fqdn, NULL);
		}
	/* Opened here one after the other (an open takes the state
	 * directory's lock), each then used by its thread alone. */
	state_close(f->st);
	f->st = NULL;
	memset(w, 0, sizeof(w));
	for (k = 0; k < 2; k++)
		if (state_open(f->dir, &w[k].st) != CUST_OK)
			fail_msg("state_open: %s", cust_errmsg());
	assert_int_equal(setenv("CUSTODY_TEST_DELAY_AT", "first-realm", 1), 0);
	assert_int_equal(setenv("CUSTODY_TEST_DELAY_MS", DELAY_MS, 1), 0);
	assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
	for (k = 0; k < 2; k++) {
		w[k].prefix = "pq"[k];
		w[k].bar = &bar;
		assert_int_equal(pthread_create(&t[k], NULL, race, &w[k]), 0);
	}
	for (k = 0; k < 2; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	pthread_barrier_destroy(&bar);
	unsetenv("CUSTODY_TEST_DELAY_AT");
	state_close(w[1].st);
	f->st = w[0].st;	/* closed by the teardown */
	for (i = 0; i < ROUNDS; i++) {
		int ok = (w[0].rc[i] == CUST_OK) + (w[1].rc[i] == CUST_OK);
		int no = (w[0].rc[i] == CUST_E_CONFLICT) +
		    (w[1].rc[i] == CUST_E_CONFLICT);

		if (ok != 1 || no != 1)
			fail_msg("round %d: results %d and %d", i, w[0].rc[i],
			    w[1].rc[i]);
	}
	/* The registry agrees: each realm once. */
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(*) FROM device WHERE "
	    "digest_realm IS NOT NULL"), ROUNDS);
	assert_int_equal(tu_sql_int(f->st, "SELECT COUNT(DISTINCT "
	    "digest_realm) FROM device"), ROUNDS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_realm, tu_fx_setup,
		    tu_fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_realm_concurrent,
		    tu_fx_setup, tu_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
