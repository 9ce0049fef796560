/* SPDX-License-Identifier: MIT */
/* include/cred.h - devices and their secrets: AMT password generation and
 * the rotation state machine (pending -> current -> retired | failed).
 *
 * A new secret is sealed and committed as 'pending' before anything else
 * happens; it becomes 'current' (the old one 'retired') only when confirmed.
 * At most one pending and one current version exist per (device, kind):
 * partial unique indexes in the schema enforce it.
 */
#ifndef CUST_CRED_H
#define CUST_CRED_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct cust_state;
struct seal_secret;

/* AMT password rules (reference/amt.md section 2). */
#define CRED_PW_MIN		8
#define CRED_PW_MAX		32
#define CRED_PW_DEFAULT		24

/* Generate a password of len chars (CRED_PW_MIN..CRED_PW_MAX) uniformly
 * over all strings of the AMT alphabet that satisfy the AMT rules:
 * characters drawn with randombytes_uniform(), whole draws rejected until
 * the class rules hold. new secret (seal_secret_free). */
int cred_pw_generate(size_t len, struct seal_secret **out)
	__attribute__((warn_unused_result));

/* The generator's alphabet (NUL-terminated, borrowed). */
const char *cred_pw_alphabet(void);

/* CUST_OK when pw satisfies the AMT password rules, else CUST_E_INVAL with
 * a message naming the rule (never the password). */
int cred_pw_check(const char *pw, size_t len)
	__attribute__((warn_unused_result));

/* Secret kinds. */
#define CRED_KIND_ADMIN	"admin"
#define CRED_KIND_MEBX	"mebx"

/* Device record as JSON: {"id", "fqdn", "uuid", "digest_realm",
 * "amt_version", "tags": [...], "state", "created"}. */

/* Find an active device by FQDN (case-insensitive): *id_out, or
 * CUST_E_NOTFOUND. */
int cred_device_find(struct cust_state *st, const char *fqdn, int64_t *id_out)
	__attribute__((warn_unused_result));

/* The active device fqdn as a new JSON object (json_decref). */
int cred_device_get(struct cust_state *st, const char *fqdn, json_t **out)
	__attribute__((warn_unused_result));

/* Call fn for every active device (with tag, when tag is not NULL) in FQDN
 * order; dev is borrowed for the call. fn returns non-zero to stop. */
int cred_device_each(struct cust_state *st, const char *tag,
    int (*fn)(void *arg, json_t *dev), void *arg)
	__attribute__((warn_unused_result));

#endif
