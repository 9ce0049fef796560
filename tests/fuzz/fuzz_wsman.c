/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_wsman.c - libFuzzer harness for WS-Man reply parsing:
 * the bytes as the answer to an invocation, a Get and a Pull, with every
 * output read back (a KerberosUserSid checked as a SID, as policy apply
 * does with a device's Kerberos entries; the input as a SID string too).
 * The request MessageIDs are 1, 2 and 3 (the seeds in
 * tests/fuzz/corpus/wsman/ relate to them). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "amt.h"
#include "err.h"
#include "seal.h"
#include "util.h"

static struct amt_req *q[3];

static int
each(void *arg, const char *v)
{
	size_t *n = arg;

	*n += strlen(v);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amt_reply *r;
	unsigned char sid[8 + 4 * AMT_SID_MAX_SUBAUTH];
	char text[128];
	const char *v;
	size_t i, k, n = 0, len;

	if (q[0] == NULL) {
		if (cust_init() != CUST_OK ||
		    amt_msg_enum_users(1, 1, &q[0]) != CUST_OK ||
		    amt_msg_get(2, "AMT_GeneralSettings", &q[1]) != CUST_OK ||
		    amt_msg_pull(3, "CIM_SoftwareIdentity", "ctx", &q[2]) !=
		    CUST_OK)
			return 0;
	}
	for (i = 0; i < 3; i++) {
		if (amt_reply_parse((const char *)data, size, q[i], &r) !=
		    CUST_OK)
			continue;
		(void)amt_reply_check(r);
		(void)amt_reply_values(r, "Handles", each, &n);
		n += amt_reply_rv(r) + (size_t)amt_reply_end(r);
		if (amt_reply_value(r, "DigestRealm") != NULL)
			n++;
		if ((v = amt_reply_value(r, "KerberosUserSid")) != NULL &&
		    amt_sid_check_b64(v) == CUST_OK)
			n++;
		for (k = 0; k < amt_reply_items(r); k++)
			if (amt_reply_item_value(r, k, "InstanceID") != NULL)
				n++;
		amt_reply_free(r);
	}
	if (size < sizeof(text)) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (amt_sid_parse(text, sid, &len) == CUST_OK && len > 28)
			__builtin_trap();	/* AMT takes 28 bytes at most */
	}
	cust_clearerr();
	return n == (size_t)-1;
}
