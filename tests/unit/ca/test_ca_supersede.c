/* SPDX-License-Identifier: MIT */
/* tests/unit/ca/test_ca_supersede.c - a renewed client certificate's
 * predecessors are revoked (superseded) only once the new one is proven
 * fetched: its first use, its key's delivery, or the end of the grace
 * period; a renewal of a renewal never used replaces it at once; revoking
 * either side drops the wait; forged rows revoke nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "ca.h"
#include "err.h"
#include "catest.h"

#define SERIAL_MAX	64

struct fx {
	struct cust_state *st;
	char *dir;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->st = ct_ca_state(&f->dir, "ecdsa-p256");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	util_test_clock(0, 0);
	tu_state_free(f->st, f->dir);
	free(f);
	return 0;
}

/* The status of certificate serial. */
static const char *
status(struct fx *f, const char *serial)
{
	static char buf[16];
	json_t *o = NULL;

	assert_int_equal(ca_cert_show(f->st, serial, &o), CUST_OK);
	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(o,
	    "status")));
	json_decref(o);
	return buf;
}

static long long
valid_of(struct fx *f, const char *holder)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM cert WHERE holder = "
	    "'%s' AND status = 'valid'", holder);
	return ct_count(f->st, sql);
}

/* Console name added (a key made here); its serial into out. */
static void
add(struct fx *f, const char *name, unsigned flags, char *out)
{
	json_t *resp = NULL;

	assert_int_equal(ca_console_add(f->st, "t", name, "ecdsa-p256", flags,
	    &resp), CUST_OK);
	snprintf(out, SERIAL_MAX, "%s", json_string_value(json_object_get(resp,
	    "serial")));
	json_decref(resp);
}

/* Renew console name; its new serial into out; *resp_out (may be NULL)
 * the response. */
static void
renew(struct fx *f, const char *name, unsigned flags, char *out,
    json_t **resp_out)
{
	json_t *resp = NULL;

	assert_int_equal(ca_console_renew(f->st, "t", name, NULL, "ecdsa-p256",
	    NULL, 0, flags, &resp), CUST_OK);
	snprintf(out, SERIAL_MAX, "%s", json_string_value(json_object_get(resp,
	    "serial")));
	if (resp_out != NULL)
		*resp_out = resp;
	else
		json_decref(resp);
}

/* The renewal waits for its first use; until then both work; the use
 * revokes the old one (superseded, audited, on the CRL) once. */
static void
test_used(void **state)
{
	struct fx *f = *state;
	char o[SERIAL_MAX], n[SERIAL_MAX];
	json_t *resp = NULL, *info = NULL;
	size_t k = 9;

	add(f, "ops", 0, o);
	renew(f, "ops", 0, n, &resp);
	assert_int_equal(json_array_size(json_object_get(resp, "superseded")),
	    0);
	assert_int_equal(json_array_size(json_object_get(resp, "supersedes")),
	    1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(resp, "supersedes"), 0), "serial")), o);
	json_decref(resp);
	assert_string_equal(status(f, o), "valid");
	assert_int_equal(valid_of(f, "ops"), 2);
	/* Shown: the old one by whom and until when; the new one what. */
	assert_int_equal(ca_cert_show(f->st, o, &info), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(info,
	    "superseded_by")), n);
	assert_non_null(json_object_get(info, "supersede_due"));
	json_decref(info);
	assert_int_equal(ca_console_list(f->st, 0, 10, &info), CUST_OK);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(json_object_get(info, "items"), 0),
	    "supersedes"), 0), "serial")), o);
	json_decref(info);
	/* The old one in use: nothing happens. */
	assert_int_equal(ca_supersede_used(f->st, "console:ops", o, &k),
	    CUST_OK);
	assert_int_equal(k, 0);
	assert_string_equal(status(f, o), "valid");
	/* The new one used. */
	assert_int_equal(ca_supersede_used(f->st, "console:ops", n, &k),
	    CUST_OK);
	assert_int_equal(k, 1);
	assert_string_equal(status(f, o), "revoked");
	assert_string_equal(status(f, n), "valid");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_supersede"),
	    0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM cert WHERE "
	    "status = 'revoked' AND reason = 4"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor = 'console:ops' AND action = 'cert.revoke' AND detail LIKE "
	    "'%reason=superseded%authenticated a client%'"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.supersede'"), 1);
	assert_int_equal(ca_supersede_used(f->st, "console:ops", n, &k),
	    CUST_OK);
	assert_int_equal(k, 0);
	assert_true(ct_crl_lists(f->st, o));
}

/* Renewed again before the first renewal was used (its reply lost): the
 * unused one is revoked at once, the one in use waits for the newest;
 * never more than two valid, one once the newest is used. */
static void
test_renewed_twice(void **state)
{
	struct fx *f = *state;
	char o[SERIAL_MAX], n1[SERIAL_MAX], n2[SERIAL_MAX], n3[SERIAL_MAX];
	json_t *resp = NULL;
	size_t k = 0;

	add(f, "ops", 0, o);
	renew(f, "ops", 0, n1, NULL);
	renew(f, "ops", 0, n2, &resp);
	assert_int_equal(json_array_size(json_object_get(resp, "superseded")),
	    1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    resp, "superseded"), 0)), n1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(resp, "supersedes"), 0), "serial")), o);
	json_decref(resp);
	assert_string_equal(status(f, n1), "revoked");
	assert_string_equal(status(f, o), "valid");
	assert_int_equal(valid_of(f, "ops"), 2);
	/* The lost one used after all: it is revoked, nothing more. */
	assert_int_equal(ca_supersede_used(f->st, "console:ops", n1, &k),
	    CUST_OK);
	assert_int_equal(k, 0);
	assert_int_equal(ca_supersede_used(f->st, "console:ops", n2, &k),
	    CUST_OK);
	assert_int_equal(k, 1);
	assert_int_equal(valid_of(f, "ops"), 1);
	assert_string_equal(status(f, n2), "valid");
	/* The next renewal waits on the one now in use. */
	renew(f, "ops", 0, n3, &resp);
	assert_int_equal(json_array_size(json_object_get(resp, "superseded")),
	    0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(resp, "supersedes"), 0), "serial")), n2);
	json_decref(resp);
	/* Revoking the holder revokes all at once, and the waits go. */
	assert_int_equal(ca_console_revoke(f->st, "t", "ops", NULL, &resp),
	    CUST_OK);
	assert_int_equal(json_array_size(json_object_get(resp, "revoked")), 2);
	json_decref(resp);
	assert_int_equal(valid_of(f, "ops"), 0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_supersede"),
	    0);
}

/* A key made by custody and confirmed written: the renewal is fetched. */
static void
test_delivered(void **state)
{
	struct fx *f = *state;
	char o[SERIAL_MAX], n[SERIAL_MAX];
	json_t *resp = NULL;

	add(f, "ops", 0, o);
	renew(f, "ops", CA_DELIVER, n, NULL);
	assert_string_equal(status(f, o), "valid");
	assert_int_equal(ca_delivered(f->st, "t", n, &resp), CUST_OK);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    resp, "superseded"), 0)), o);
	json_decref(resp);
	assert_string_equal(status(f, o), "revoked");
	assert_int_equal(valid_of(f, "ops"), 1);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "action = 'cert.revoke' AND detail LIKE "
	    "'%superseded%key was delivered%'"), 1);
}

/* A renewal that failed (its key lost with its process, or revoked by an
 * operator) leaves the holder with the certificate it had: still valid,
 * waiting for nothing, the holder active. */
static void
test_renewal_failed(void **state)
{
	struct fx *f = *state;
	char o[SERIAL_MAX], n[SERIAL_MAX], x[SERIAL_MAX], sql[512];
	json_t *resp = NULL;
	pid_t pid;
	int ws = 0;

	add(f, "ops", 0, o);
	renew(f, "ops", CA_DELIVER, n, NULL);
	/* Its process gone: the next issuance sweeps it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	snprintf(sql, sizeof(sql), "UPDATE ca_delivery SET pid = %lld, "
	    "mac = custody_mac('ca_delivery', serial, %lld, pstart, created) "
	    "WHERE serial = '%s'", (long long)pid, (long long)pid, n);
	tu_sql(f->st, sql);
	add(f, "other", 0, x);
	assert_string_equal(status(f, n), "revoked");
	assert_string_equal(status(f, o), "valid");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_supersede"),
	    0);
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM console WHERE "
	    "name = 'ops' AND state = 'active'"), 1);
	/* An operator revokes the renewal: the old one stays. */
	renew(f, "ops", 0, n, NULL);
	assert_int_equal(ca_revoke(f->st, "t", n, NULL, &resp), CUST_OK);
	json_decref(resp);
	assert_string_equal(status(f, o), "valid");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_supersede"),
	    0);
}

/* Never used: the old one goes when the grace period ends (or at its own
 * notAfter when sooner), swept by the next renewal or the scheduler. */
static void
test_grace(void **state)
{
	struct fx *f = *state;
	char o[SERIAL_MAX], n[SERIAL_MAX], p[SERIAL_MAX], q[SERIAL_MAX];
	size_t k = 9;

	add(f, "ops", 0, o);
	renew(f, "ops", 0, n, NULL);
	util_test_clock(CA_SUPERSEDE_GRACE - 60, 0);
	assert_int_equal(ca_supersede_sweep(f->st, "scheduler", &k), CUST_OK);
	assert_int_equal(k, 0);
	assert_string_equal(status(f, o), "valid");
	util_test_clock(CA_SUPERSEDE_GRACE + 1, 0);
	assert_int_equal(ca_supersede_sweep(f->st, "scheduler", &k), CUST_OK);
	assert_int_equal(k, 1);
	assert_string_equal(status(f, o), "revoked");
	assert_string_equal(status(f, n), "valid");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM audit WHERE "
	    "actor = 'scheduler' AND action = 'cert.revoke' AND detail LIKE "
	    "'%superseded%grace period%'"), 1);
	/* A renewal sweeps too (another holder's due wait). */
	util_test_clock(0, 0);
	add(f, "two", 0, p);
	renew(f, "two", 0, q, NULL);
	util_test_clock(CA_SUPERSEDE_GRACE + 1, 0);
	renew(f, "ops", 0, n, NULL);
	assert_string_equal(status(f, p), "revoked");
	assert_string_equal(status(f, q), "valid");
}

/* Someone who can write custody.db without the master key cannot make
 * custody revoke a certificate with a forged wait: the MAC fails, the
 * operation stops as altered, nothing is revoked. A row with a good MAC
 * that pairs two holders' certificates only goes away. */
static void
test_forged(void **state)
{
	struct fx *f = *state;
	char a[SERIAL_MAX], b[SERIAL_MAX], sql[512];
	size_t k = 0;

	add(f, "ops", 0, a);
	add(f, "two", 0, b);
	snprintf(sql, sizeof(sql), "INSERT INTO ca_supersede(old_serial, "
	    "new_serial, created, due) VALUES ('%s', '%s', 0, 0)", a, b);
	tu_sql(f->st, sql);
	assert_int_equal(ca_supersede_used(f->st, "console:two", b, &k),
	    CUST_E_DB);
	assert_non_null(strstr(cust_errmsg(), "row ca_supersede(old_serial="));
	assert_int_equal(ca_supersede_sweep(f->st, "scheduler", &k),
	    CUST_E_DB);
	assert_string_equal(status(f, a), "valid");
	tu_sql(f->st, "UPDATE ca_supersede SET mac = custody_mac("
	    "'ca_supersede', old_serial, new_serial, created, due)");
	assert_int_equal(ca_supersede_used(f->st, "console:two", b, &k),
	    CUST_OK);
	assert_int_equal(k, 0);
	assert_string_equal(status(f, a), "valid");
	assert_int_equal(ct_count(f->st, "SELECT count(*) FROM ca_supersede"),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renewed_twice, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delivered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_renewal_failed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
