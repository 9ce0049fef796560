/* SPDX-License-Identifier: MIT */
/* src/cred/password.c - AMT password generation and rule checks.
 *
 * AMT accepts 8-32 characters of 7-bit printable ASCII except ':' ',' '"',
 * with at least one digit, one lowercase letter, one uppercase letter and
 * one special character, where '_' and space do not count as special
 * (reference/amt.md section 2). The generator leaves space out of its
 * alphabet (it breaks too many consoles and shells) and draws every
 * character with randombytes_uniform(), so there is no modulo bias; a draw
 * that misses a class is thrown away whole, which keeps the result uniform
 * over every valid password of that length.
 */
#include <ctype.h>
#include <string.h>

#include <sodium.h>

#include "cred_int.h"
#include "err.h"
#include "seal.h"

/* 0x21-0x7e without ':', ',' and '"'. A constant, not built on first
 * use: threads call the generator at once (doc/internals/SERVICE.md). */
static const char alphabet[] =
    "!#$%&'()*+-./0123456789;<=>?@ABCDEFGHIJKLMNOP"
    "QRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
#define ALPHABET_LEN (sizeof(alphabet) - 1)

const char *
cred_pw_alphabet(void)
{
	return alphabet;
}

static int
is_special(int c)
{
	return c > 0x20 && c < 0x7f && !isalnum(c) && c != '_';
}

int
cred_pw_check(const char *pw, size_t len)
{
	int digit = 0, lower = 0, upper = 0, special = 0;
	size_t i;

	if (len < CRED_PW_MIN || len > CRED_PW_MAX)
		return cust_fail(CUST_E_INVAL, "an AMT password must have %d "
		    "to %d characters (this one has %zu)", CRED_PW_MIN,
		    CRED_PW_MAX, len);
	for (i = 0; i < len; i++) {
		int c = (unsigned char)pw[i];

		if (c < 0x20 || c > 0x7e)
			return cust_fail(CUST_E_INVAL, "an AMT password may only "
			    "hold printable 7-bit ASCII (character %zu is "
			    "not)", i + 1);
		if (c == ':' || c == ',' || c == '"')
			return cust_fail(CUST_E_INVAL, "an AMT password must not "
			    "contain ':' ',' or '\"' (character %zu does)",
			    i + 1);
		digit |= isdigit(c) != 0;
		lower |= islower(c) != 0;
		upper |= isupper(c) != 0;
		special |= is_special(c);
	}
	if (!digit || !lower || !upper || !special)
		return cust_fail(CUST_E_INVAL, "an AMT password needs at least "
		    "one digit, one lowercase, one uppercase and one special "
		    "character other than '_' and space (missing: %s%s%s%s)",
		    digit ? "" : "digit ", lower ? "" : "lowercase ",
		    upper ? "" : "uppercase ", special ? "" : "special");
	return CUST_OK;
}

int
cred_pw_fill(unsigned char *p, size_t len)
{
	size_t i;
	int classes;

	if (len < CRED_PW_MIN || len > CRED_PW_MAX)
		return cust_fail(CUST_E_INVAL, "password length must be %d to "
		    "%d", CRED_PW_MIN, CRED_PW_MAX);
	do {
		classes = 0;
		for (i = 0; i < len; i++) {
			int c = alphabet[randombytes_uniform(
			    (uint32_t)ALPHABET_LEN)];

			p[i] = (unsigned char)c;
			if (isdigit(c))
				classes |= 1;
			else if (islower(c))
				classes |= 2;
			else if (isupper(c))
				classes |= 4;
			else if (is_special(c))
				classes |= 8;
		}
	} while (classes != 15);
	p[len] = '\0';
	return CUST_OK;
}

int
cred_pw_generate(size_t len, struct seal_secret **out)
{
	struct seal_secret *s;
	int r;

	*out = NULL;
	if ((s = seal_secret_new(len)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of secure memory");
	if ((r = cred_pw_fill(seal_secret_data(s), len)) != CUST_OK) {
		seal_secret_free(s);
		return r;
	}
	*out = s;
	return CUST_OK;
}
