/* SPDX-License-Identifier: MIT */
/* src/directory/str2key.c - Kerberos keys derived from a password, the way
 * a KDC derives them (RFC 3961 string-to-key): the keytab of an AD service
 * account is made locally from the password custody set, with AD's salt.
 *
 * The derivation is libkrb5's (krb5_c_string_to_key), in a context of
 * custody's own (dir_krb5_context(): no krb5.conf read), never crypto
 * written here. AES keys use the enctype's default parameters (4096
 * PBKDF2 iterations), which is what AD uses; RC4's key is the NT hash and
 * takes no salt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krb5.h>

#include "directory.h"
#include "directory_int.h"
#include "err.h"
#include "seal.h"

int
dir_ad_salt(const char *realm, const char *name, char *out, size_t len)
{
	size_t i, n = strlen(realm);

	if (n == 0 || name[0] == '\0' || n + strlen(name) + 1 > len)
		return cust_fail(CUST_E_TOOBIG, "the salt of %.64s does not "
		    "fit", name);
	for (i = 0; i < n; i++)
		out[i] = (char)(realm[i] >= 'a' && realm[i] <= 'z' ?
		    realm[i] - 'a' + 'A' : realm[i]);
	snprintf(out + n, len - n, "%s", name);
	return CUST_OK;
}

int
dir_keys_from_password(const char *realm, const char *salt,
    const struct seal_secret *pw, int kvno, int rc4, struct dir_keys **out)
{
	static const krb5_enctype aes[] = { ENCTYPE_AES256_CTS_HMAC_SHA1_96,
		ENCTYPE_AES128_CTS_HMAC_SHA1_96 };
	krb5_context ctx = NULL;
	krb5_keyblock kb;
	krb5_data pd, sd;
	krb5_error_code kr;
	struct dir_keys *k = NULL;
	size_t i, n = rc4 ? 3 : 2;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if (kvno <= 0)
		return cust_fail(CUST_E_INVAL, "no key version to derive keys "
		    "for");
	if ((r = dir_krb5_context(realm, NULL, NULL, &ctx)) != CUST_OK)
		return r;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	k->kvno = kvno;
	pd.magic = KV5M_DATA;
	pd.data = (char *)seal_secret_str(pw);
	pd.length = (unsigned int)seal_secret_len(pw);
	sd.magic = KV5M_DATA;
	sd.data = (char *)salt;
	sd.length = (unsigned int)strlen(salt);
	for (i = 0; i < n; i++) {
		krb5_enctype et = i < 2 ? aes[i] : ENCTYPE_ARCFOUR_HMAC;

		memset(&kb, 0, sizeof(kb));
		if ((kr = krb5_c_string_to_key(ctx, et, &pd, &sd, &kb)) != 0) {
			const char *m = krb5_get_error_message(ctx, kr);

			r = cust_fail(CUST_E_KRB5, "string-to-key (enctype "
			    "%d): %s", (int)et, m);
			krb5_free_error_message(ctx, m);
			goto out;
		}
		k->keys[i] = seal_secret_dup(kb.contents, kb.length);
		k->enctypes[i] = et;
		krb5_free_keyblock_contents(ctx, &kb);
		if (k->keys[i] == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		k->n = i + 1;
	}
	*out = k;
	k = NULL;
	r = CUST_OK;
out:
	dir_keys_free(k);
	if (ctx != NULL)
		krb5_free_context(ctx);
	return r;
}
