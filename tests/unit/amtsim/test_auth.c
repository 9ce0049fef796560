/* SPDX-License-Identifier: MIT */
/* tests/unit/amtsim/test_auth.c - the simulator's digest module against
 * known answers: the DigestPassword vector of reference/amt.md §3, the
 * RFC 2617 §3.5 digest example, nonce life, the §2 name and password
 * rules. */
#include <stdlib.h>
#include <string.h>

#include "amtsim.h"
#include "testutil.h"

struct sim *g_sim;
static struct sim the_sim;

static void
hex(const unsigned char *p, char out[33])
{
	sim_md5_hex(p, out);
}

/* §3: admin / Digest:A407... / P@ssw0rd -> 6ab9...50 ->
 * arkZL7pYoE1eDE34m5pDUA== */
static void
test_digest_password_vector(void **state)
{
	unsigned char ha1[16], from_b64[16];
	char h[33];

	(void)state;
	sim_ha1("admin", "Digest:A4070000000000000000000000000000",
	    "P@ssw0rd", ha1);
	hex(ha1, h);
	assert_string_equal(h, "6ab9192fba58a04d5e0c4df89b9a4350");
	assert_int_equal(sim_digest_password("arkZL7pYoE1eDE34m5pDUA==",
	    from_b64), 0);
	assert_memory_equal(ha1, from_b64, 16);
	char *enc = sim_b64_encode(ha1, 16);
	assert_string_equal(enc, "arkZL7pYoE1eDE34m5pDUA==");
	free(enc);
}

static void
test_digest_password_bad(void **state)
{
	unsigned char ha1[16];

	(void)state;
	g_sim->accept_hex_digest = 0;
	assert_int_equal(sim_digest_password(NULL, ha1), -1);
	assert_int_equal(sim_digest_password("", ha1), -1);
	assert_int_equal(sim_digest_password("arkZL7pYoE1eDE34m5pDUA=", ha1),
	    -1);
	assert_int_equal(sim_digest_password("arkZL7pYoE1eDE34m5pD!A==",
	    ha1), -1);
	/* 18 bytes is not an MD5 */
	assert_int_equal(sim_digest_password("arkZL7pYoE1eDE34m5pDUAAA", ha1),
	    -1);
	/* base64Binary allows white space */
	assert_int_equal(sim_digest_password("arkZL7pYoE1e\r\nDE34m5pDUA==",
	    ha1), 0);
	assert_int_equal(ha1[0], 0x6a);
	{
		unsigned char out[16];
		size_t len;

		assert_int_equal(sim_b64_decode("arkZL7pYoE1e\r\nDE34m5pDUA==",
		    out, sizeof(out), &len), 0);
		assert_int_equal(len, 16);
		assert_int_equal(sim_b64_decode("arkZL7pYoE1eDE34m5pDUA==",
		    out, 15, &len), -1);
		assert_int_equal(sim_b64_decode("a=bc", out, 16, &len), -1);
	}
	/* the 32-hex form only with --accept-hex-digest */
	assert_int_equal(sim_digest_password(
	    "6ab9192fba58a04d5e0c4df89b9a4350", ha1), -1);
	g_sim->accept_hex_digest = 1;
	assert_int_equal(sim_digest_password(
	    "6ab9192fba58a04d5e0c4df89b9a4350", ha1), 0);
	assert_int_equal(ha1[0], 0x6a);
	assert_int_equal(ha1[15], 0x50);
	g_sim->accept_hex_digest = 0;
}

/* RFC 2617 §3.5 */
static void
test_rfc2617_example(void **state)
{
	unsigned char ha1[16];
	char out[33];

	(void)state;
	sim_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
	sim_digest_response(ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093",
	    "00000001", "0a4f113b", "auth", "GET", "/dir/index.html", out);
	assert_string_equal(out, "6629fae49393a05397450978507c4ef1");
}

static int
check(struct sim_dev *d, const char *user, const char *pw, const char *nonce,
    const char *qop, int *who)
{
	unsigned char ha1[16];
	char resp[33], hdr[512];

	sim_ha1(user, d->realm, pw, ha1);
	sim_digest_response(ha1, nonce, "00000001", "abc", "auth", "POST",
	    "/wsman", resp);
	snprintf(hdr, sizeof(hdr), "Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"/wsman\", cnonce=\"abc\", nc=00000001, "
	    "qop=%s, response=\"%s\", algorithm=MD5", user, d->realm, nonce,
	    qop, resp);
	return sim_digest_check(d, hdr, "POST", who);
}

static void
test_digest_check(void **state)
{
	struct sim_dev d;
	char nonce[64];
	int who = 0;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.index = 3;
	snprintf(d.realm, sizeof(d.realm),
	    "Digest:A4070000000000000000000000000000");
	snprintf(d.admin_user, sizeof(d.admin_user), "admin");
	assert_int_equal(sim_digest_password("arkZL7pYoE1eDE34m5pDUA==",
	    d.admin_ha1), 0);
	sim_nonce_new(&d, nonce, sizeof(nonce));
	assert_int_equal(check(&d, "admin", "P@ssw0rd", nonce, "auth", &who),
	    0);
	assert_int_equal(who, -1);
	assert_int_equal(check(&d, "admin", "P@ssw0rd!", nonce, "auth",
	    &who), -1);
	assert_int_equal(check(&d, "root", "P@ssw0rd", nonce, "auth", &who),
	    -1);
	assert_int_equal(check(&d, "admin", "P@ssw0rd", nonce, "auth-int",
	    &who), -1);
	assert_int_equal(sim_digest_check(&d, "Basic YWRtaW46eA==", "POST",
	    &who), -1);
	assert_int_equal(sim_digest_check(&d, NULL, "POST", &who), -1);
	/* a forged nonce */
	nonce[30] = nonce[30] == '0' ? '1' : '0';
	assert_int_equal(check(&d, "admin", "P@ssw0rd", nonce, "auth", &who),
	    -1);
	/* another device's nonce */
	d.index = 4;
	sim_nonce_new(&d, nonce, sizeof(nonce));
	d.index = 3;
	assert_int_equal(check(&d, "admin", "P@ssw0rd", nonce, "auth", &who),
	    -1);
	/* an ACL change ends the session: right password, stale nonce */
	sim_nonce_new(&d, nonce, sizeof(nonce));
	d.acl_epoch++;
	assert_int_equal(check(&d, "admin", "P@ssw0rd", nonce, "auth", &who),
	    1);
	assert_int_equal(check(&d, "admin", "wrong", nonce, "auth", &who),
	    -1);
	/* an expired nonce */
	sim_nonce_new(&d, nonce, sizeof(nonce));
	g_sim->nonce_lifetime = -1;
	assert_int_equal(check(&d, "admin", "P@ssw0rd", nonce, "auth", &who),
	    1);
	g_sim->nonce_lifetime = 300;
}

/* §2 */
static void
test_rules(void **state)
{
	static const char *good_pw[] = { "P@ssw0rd", "Mebx#Pass 1",
	    "abcdEFG1!", "0123456789abcdefghijklmnopqrST!#" };
	static const char *bad_pw[] = { "P@ssw0r", "Location_1",
	    "password1!", "PASSWORD1!", "Password!!", "Password12",
	    "Pass:word1!", "Pass,word1!", "Pass\"word1!", "Pässword1!",
	    "0123456789abcdefghijklmnopqrST!#x" };
	static const char *good_u[] = { "ops1", "a", "sixteen-chars-xx",
	    "~!@#$%^*()" };
	static const char *bad_u[] = { "", "seventeen-chars-x", "$$uns",
	    "a:b", "a,b", "a<b", "a>b", "a&b", "a\"b", "a b" };

	(void)state;
	for (size_t i = 0; i < sizeof(good_pw) / sizeof(*good_pw); i++)
		assert_true(sim_password_ok(good_pw[i]));
	for (size_t i = 0; i < sizeof(bad_pw) / sizeof(*bad_pw); i++)
		if (sim_password_ok(bad_pw[i]))
			fail_msg("accepted password '%s'", bad_pw[i]);
	for (size_t i = 0; i < sizeof(good_u) / sizeof(*good_u); i++)
		assert_true(sim_username_ok(good_u[i]));
	for (size_t i = 0; i < sizeof(bad_u) / sizeof(*bad_u); i++)
		if (sim_username_ok(bad_u[i]))
			fail_msg("accepted username '%s'", bad_u[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_password_vector),
		cmocka_unit_test(test_digest_password_bad),
		cmocka_unit_test(test_rfc2617_example),
		cmocka_unit_test(test_digest_check),
		cmocka_unit_test(test_rules),
	};

	g_sim = &the_sim;
	the_sim.nonce_lifetime = 300;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
