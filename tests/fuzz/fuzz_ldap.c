/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_ldap.c - libFuzzer harness for what custody does with
 * directory data it does not control: binary SIDs read back from AD
 * (dir_sid_to_str()), ranged attribute descriptions (dir_range_parse():
 * "member;range=0-1499"), DNs compared (dir_dn_equal(): the group members AD
 * returns), and the escaping of names that reach filters and DNs. For
 * every input the escaped DN value must parse back, with libldap's own
 * parser, into exactly one RDN holding exactly the input, and the
 * escaped filter value must hold no unescaped '*', '(', ')' or NUL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "directory.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[4 * 256 + 16], dn[4 * 256 + 32], *a, *b;
	LDAPDN parsed = NULL;
	size_t i, half;

	(void)dir_sid_to_str(data, size, out, sizeof(out));
	if (size > 256)
		return 0;
	/* a ranged attribute description, as a DC sends it */
	a = strndup((const char *)data, size);
	if (a != NULL) {
		unsigned long lo, hi;
		int last;

		if (dir_range_parse(a, out, 64, &lo, &hi, &last) &&
		    (strlen(out) >= 64 || strlen(out) == 0 ||
		    (!last && hi < lo) || lo > 0x7fffffffUL ||
		    hi > 0x7fffffffUL))
			abort();
		free(a);
	}
	if (dir_filter_escape((const char *)data, size, out, sizeof(out)) ==
	    CUST_OK) {
		for (i = 0; out[i] != '\0'; i++)
			if (out[i] == '*' || out[i] == '(' || out[i] == ')')
				abort();
		if (i != strlen(out))
			abort();
	}
	if (size > 0 && dir_dn_escape((const char *)data, size, out,
	    sizeof(out)) == CUST_OK) {
		memcpy(dn, "CN=", 3);
		memcpy(dn + 3, out, strlen(out));
		memcpy(dn + 3 + strlen(out), ",OU=AMT", 8);
		if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) !=
		    LDAP_SUCCESS || parsed == NULL || parsed[0] == NULL ||
		    parsed[1] == NULL || parsed[2] != NULL ||
		    parsed[0][1] != NULL ||
		    parsed[0][0]->la_value.bv_len != size ||
		    memcmp(parsed[0][0]->la_value.bv_val, data, size) != 0)
			abort();
		ldap_dnfree(parsed);
		parsed = NULL;
	}
	/* two NUL-terminated strings: the DN comparison */
	half = size / 2;
	a = strndup((const char *)data, half);
	b = strndup((const char *)data + half, size - half);
	if (a != NULL && b != NULL) {
		int eq = dir_dn_equal(a, b);

		if (eq != dir_dn_equal(b, a))
			abort();
		if (dir_dn_equal(a, a) == 0 && ldap_str2dn(a, &parsed,
		    LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && parsed != NULL) {
			/* a DN that parses equals itself */
			char *n = NULL;

			if (ldap_dn_normalize(a, LDAP_DN_FORMAT_LDAPV3, &n,
			    LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && n != NULL)
				abort();
			ldap_memfree(n);
		}
		if (parsed != NULL)
			ldap_dnfree(parsed);
		parsed = NULL;
	}
	free(a);
	free(b);
	return 0;
}
