/* SPDX-License-Identifier: MIT */
/* tests/unit/directory/test_keytab.c - keytab images (src/directory/
 * keytab.c): the exact bytes of one entry, read back by custody and by
 * MIT krb5's own FILE: keytab reader, kvnos kept and dropped, escapes,
 * malformed images refused, and more keys than a keytab holds refused
 * as too big. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <krb5.h>

#include "testutil.h"

#include "directory.h"
#include "err.h"
#include "seal.h"
#include "util.h"

static struct dir_keys *
keys_of(int kvno, int32_t enctype, unsigned char fill, size_t len)
{
	struct dir_keys *k = calloc(1, sizeof(*k));
	unsigned char buf[64];

	assert_non_null(k);
	memset(buf, fill, len);
	k->kvno = kvno;
	k->n = 1;
	k->enctypes[0] = enctype;
	assert_non_null(k->keys[0] = seal_secret_dup(buf, len));
	return k;
}

/* One entry, byte for byte (format 0x0502). */
static void
test_known_bytes(void **state)
{
	static const unsigned char want_head[] = {
		0x05, 0x02, 0x00, 0x00, 0x00, 0x3c,	/* version, size 60 */
		0x00, 0x02,				/* two components */
		0x00, 0x01, 'R', 0x00, 0x01, 'a', 0x00, 0x01, 'b',
		0x00, 0x00, 0x00, 0x01,			/* KRB5_NT_PRINCIPAL */
		0x01, 0x02, 0x03, 0x04,			/* timestamp */
		0x02,					/* kvno (8 bits) */
		0x00, 0x12,				/* aes256-cts */
		0x00, 0x20,				/* 32 key bytes */
	};
	static const unsigned char want_tail[] = { 0x00, 0x00, 0x00, 0x02 };
	struct dir_keytab *kt = dir_keytab_new();
	struct dir_keys *k = keys_of(2, 18, 0xab, 32);
	struct seal_secret *img = NULL;
	const unsigned char *p;
	size_t i;

	(void)state;
	assert_int_equal(dir_keytab_add(kt, "a/b@R", k, 0x01020304), CUST_OK);
	assert_int_equal(dir_keytab_serialize(kt, &img), CUST_OK);
	assert_int_equal(seal_secret_len(img), 6 + 60);
	p = seal_secret_data(img);
	assert_memory_equal(p, want_head, sizeof(want_head));
	for (i = 0; i < 32; i++)
		assert_int_equal(p[sizeof(want_head) + i], 0xab);
	assert_memory_equal(p + sizeof(want_head) + 32, want_tail, 4);
	seal_secret_free(img);
	dir_keys_free(k);
	dir_keytab_free(kt);
}

/* Two kvnos written, read back by krb5's FILE: keytab and by custody;
 * one kvno copied out of it. */
static void
test_krb5_reads_it(void **state)
{
	struct dir_keytab *kt = dir_keytab_new(), *back = NULL, *one;
	struct dir_keys *k2 = keys_of(2, 18, 0x11, 32), *k3 =
	    keys_of(3, 17, 0x22, 16);
	struct seal_secret *img = NULL, *img2 = NULL;
	char *dir = tu_tmpdir(), *path = util_path(dir, "t.keytab"), name[300];
	krb5_context ctx;
	krb5_keytab ktab;
	krb5_kt_cursor cur;
	krb5_keytab_entry e;
	krb5_principal pr;
	int seen2 = 0, seen3 = 0;

	(void)state;
	assert_int_equal(dir_keytab_add(kt, "svc-x@MIT.TEST", k2, 1), CUST_OK);
	assert_int_equal(dir_keytab_add(kt, "svc-x@MIT.TEST", k3, 2), CUST_OK);
	assert_int_equal(dir_keytab_serialize(kt, &img), CUST_OK);
	assert_int_equal(util_write_file(path, seal_secret_data(img),
	    seal_secret_len(img), 0600), CUST_OK);

	assert_int_equal(krb5_init_context(&ctx), 0);
	snprintf(name, sizeof(name), "FILE:%s", path);
	assert_int_equal(krb5_kt_resolve(ctx, name, &ktab), 0);
	assert_int_equal(krb5_kt_start_seq_get(ctx, ktab, &cur), 0);
	while (krb5_kt_next_entry(ctx, ktab, &e, &cur) == 0) {
		char *un = NULL;

		assert_int_equal(krb5_unparse_name(ctx, e.principal, &un), 0);
		assert_string_equal(un, "svc-x@MIT.TEST");
		krb5_free_unparsed_name(ctx, un);
		if (e.vno == 2) {
			assert_int_equal(e.key.enctype, 18);
			assert_int_equal(e.key.length, 32);
			assert_int_equal(e.key.contents[0], 0x11);
			seen2++;
		} else {
			assert_int_equal(e.vno, 3);
			assert_int_equal(e.key.enctype, 17);
			assert_int_equal(e.key.length, 16);
			seen3++;
		}
		krb5_free_keytab_entry_contents(ctx, &e);
	}
	krb5_kt_end_seq_get(ctx, ktab, &cur);
	assert_int_equal(seen2, 1);
	assert_int_equal(seen3, 1);
	/* krb5 finds the newest kvno for the principal */
	assert_int_equal(krb5_parse_name(ctx, "svc-x@MIT.TEST", &pr), 0);
	assert_int_equal(krb5_kt_get_entry(ctx, ktab, pr, 0, 0, &e), 0);
	assert_int_equal(e.vno, 3);
	krb5_free_keytab_entry_contents(ctx, &e);
	krb5_free_principal(ctx, pr);
	krb5_kt_close(ctx, ktab);
	krb5_free_context(ctx);

	assert_int_equal(dir_keytab_parse(seal_secret_data(img),
	    seal_secret_len(img), &back), CUST_OK);
	assert_int_equal(dir_keytab_count(back), 2);
	assert_true(dir_keytab_has_kvno(back, 2));
	assert_true(dir_keytab_has_kvno(back, 3));
	assert_false(dir_keytab_has_kvno(back, 4));
	/* same bytes again */
	assert_int_equal(dir_keytab_serialize(back, &img2), CUST_OK);
	assert_int_equal(seal_secret_len(img2), seal_secret_len(img));
	assert_memory_equal(seal_secret_data(img2), seal_secret_data(img),
	    seal_secret_len(img));
	/* kvno 3 alone */
	one = dir_keytab_new();
	assert_int_equal(dir_keytab_copy_kvno(one, back, 3), CUST_OK);
	assert_int_equal(dir_keytab_count(one), 1);
	assert_false(dir_keytab_has_kvno(one, 2));

	dir_keytab_free(one);
	dir_keytab_free(back);
	dir_keytab_free(kt);
	seal_secret_free(img);
	seal_secret_free(img2);
	dir_keys_free(k2);
	dir_keys_free(k3);
	tu_rmrf(dir);
	free(path);
	free(dir);
}

/* '/' and '@' inside a component are escaped in the name and plain in
 * the file; malformed names are refused. */
static void
test_names(void **state)
{
	struct dir_keytab *kt = dir_keytab_new(), *back = NULL;
	struct dir_keys *k = keys_of(5, 18, 0x33, 32);
	struct seal_secret *img = NULL;
	static const char *const bad[] = { "noreal", "a@", "@R", "a//b@R",
	    "a@R@S", "a@R/x", "/a@R", NULL };
	size_t i;

	(void)state;
	assert_int_equal(dir_keytab_add(kt, "a\\/b/host.x@R.TEST", k, 9),
	    CUST_OK);
	assert_int_equal(dir_keytab_serialize(kt, &img), CUST_OK);
	/* components "a/b" and "host.x" */
	assert_non_null(memmem(seal_secret_data(img), seal_secret_len(img),
	    "\x00\x03" "a/b\x00\x06" "host.x", 13));
	assert_int_equal(dir_keytab_parse(seal_secret_data(img),
	    seal_secret_len(img), &back), CUST_OK);
	assert_int_equal(dir_keytab_count(back), 1);
	seal_secret_free(img);
	assert_int_equal(dir_keytab_serialize(back, &img), CUST_OK);
	assert_non_null(memmem(seal_secret_data(img), seal_secret_len(img),
	    "\x00\x03" "a/b\x00\x06" "host.x", 13));
	for (i = 0; bad[i] != NULL; i++)
		if (dir_keytab_add(kt, bad[i], k, 1) != CUST_E_INVAL)
			fail_msg("'%s' accepted as a principal", bad[i]);
	assert_int_equal(dir_keytab_count(kt), 1);
	seal_secret_free(img);
	dir_keytab_free(back);
	dir_keytab_free(kt);
	dir_keys_free(k);
}

/* Every truncation of a valid image, a wrong version, a NUL in a
 * component name: CUST_E_PARSE, never a crash or a half keytab. */
static void
test_malformed(void **state)
{
	struct dir_keytab *kt = dir_keytab_new(), *back = NULL;
	struct dir_keys *k = keys_of(2, 18, 0x44, 32);
	struct seal_secret *img = NULL;
	unsigned char *buf;
	size_t len, cut;

	(void)state;
	assert_int_equal(dir_keytab_add(kt, "a/b@R", k, 1), CUST_OK);
	assert_int_equal(dir_keytab_serialize(kt, &img), CUST_OK);
	len = seal_secret_len(img);
	buf = malloc(len);
	assert_non_null(buf);
	memcpy(buf, seal_secret_data(img), len);
	for (cut = 0; cut < len; cut++) {
		int r = dir_keytab_parse(buf, cut, &back);

		/* the bare header is an empty keytab */
		if (cut == 2) {
			assert_int_equal(r, CUST_OK);
			assert_int_equal(dir_keytab_count(back), 0);
			dir_keytab_free(back);
			continue;
		}
		if (r != CUST_E_PARSE)
			fail_msg("cut at %zu: %d", cut, r);
		assert_null(back);
	}
	/* a hole of INT32_MIN bytes: longer than the image */
	{
		static const unsigned char h[] = { 0x05, 0x02, 0x80, 0, 0, 0 };

		assert_int_equal(dir_keytab_parse(h, sizeof(h), &back),
		    CUST_E_PARSE);
	}
	buf[1] = 0x01;		/* format 0x0501 */
	assert_int_equal(dir_keytab_parse(buf, len, &back), CUST_E_PARSE);
	buf[1] = 0x02;
	buf[13] = 0x00;		/* a NUL byte in component "a" */
	assert_int_equal(dir_keytab_parse(buf, len, &back), CUST_E_PARSE);
	free(buf);
	seal_secret_free(img);
	dir_keytab_free(kt);
	dir_keys_free(k);
}

/* More entries than a keytab holds (4096): refused as too big, saying
 * so (it was "out of memory"). */
static void
test_too_many(void **state)
{
	struct dir_keytab *kt = dir_keytab_new(), *back = NULL;
	struct dir_keys *k = keys_of(2, 18, 0x55, 32);
	struct seal_secret *img = NULL;
	unsigned char *buf;
	size_t one, i, n = 4097;

	(void)state;
	assert_int_equal(dir_keytab_add(kt, "a@R", k, 1), CUST_OK);
	assert_int_equal(dir_keytab_serialize(kt, &img), CUST_OK);
	one = seal_secret_len(img) - 2;
	buf = malloc(2 + n * one);
	assert_non_null(buf);
	memcpy(buf, seal_secret_data(img), 2);
	for (i = 0; i < n; i++)
		memcpy(buf + 2 + i * one, seal_secret_data(img) + 2, one);
	assert_int_equal(dir_keytab_parse(buf, 2 + (n - 1) * one, &back),
	    CUST_OK);
	assert_int_equal(dir_keytab_count(back), 4096);
	dir_keytab_free(back);
	back = NULL;
	assert_int_equal(dir_keytab_parse(buf, 2 + n * one, &back),
	    CUST_E_TOOBIG);
	assert_null(back);
	assert_non_null(strstr(cust_errmsg(), "at most 4096 keys"));
	free(buf);
	seal_secret_free(img);
	dir_keytab_free(kt);
	dir_keys_free(k);
}

static int
setup(void **state)
{
	(void)state;
	return cust_init() == CUST_OK ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_bytes),
		cmocka_unit_test(test_krb5_reads_it),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_many),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
