/* SPDX-License-Identifier: MIT */
/* src/cred/cred_int.h - internals shared by the cred module's files. */
#ifndef CUST_CRED_INT_H
#define CUST_CRED_INT_H

#include <stdint.h>

#include "cred.h"

struct cust_state;
struct seal_secret;

/* Seal pw[0..len) and insert it as (device, kind, version, state). In the
 * caller's transaction. fqdn is the device's stored (lowercase) name. */
int cred_secret_put(struct cust_state *st, int64_t device_id,
    const char *fqdn, const char *kind, int64_t version, const char *state,
    const unsigned char *pw, size_t len, int64_t now);

/* Associated data of a sealed secret: binds it to the device row, the
 * device's name, the kind and the version, so a value moved to another
 * row, or a device renamed in the database, does not open. Writes into
 * buf (CRED_AD_MAX bytes); returns the length, 0 when it does not fit. */
#define CRED_AD_MAX 384
size_t cred_secret_ad(char *buf, int64_t device_id, const char *fqdn,
    const char *kind, int64_t version);

/* Generate a password of len characters into p (len + 1 bytes, secret
 * memory). See cred_pw_generate(). */
int cred_pw_fill(unsigned char *p, size_t len);

/* SQL: device row alias d is visible (not part of an import still being
 * staged, src/cred/import.c). Every query that finds or lists devices
 * adds it; the steady state (import_id NULL) costs one test per row. */
#define CRED_VISIBLE(d) \
	"(" d ".import_id IS NULL OR " d ".import_id IN (SELECT id FROM " \
	"device_import WHERE state = 'published'))"

/* cred_device_add() in the caller's transaction; import_id != 0 stages
 * the device for that import (invisible, not counted, not audited until
 * the import is published). */
int cred_device_stage(struct cust_state *st, const char *actor,
    const struct cred_device_spec *spec, size_t pwlen, int64_t import_id,
    int64_t *id_out);

/* Normalise and validate an FQDN into buf (lowercase). */
int cred_fqdn_norm(const char *in, char *buf, size_t len);

/* Kind argument: "admin" | "mebx" -> static string, else CUST_E_INVAL. */
int cred_kind(const char *in, const char **out);

/* cred_confirm() audited as action, with note (may be NULL) at the end
 * of the entry's detail: version N (in flight: pending or pushed, or
 * failed and newer than the current) becomes current, the previous
 * current retired, in one transaction. */
int cred_settle_in(struct cust_state *st, const char *actor,
    const char *action, const char *note, const char *norm, const char *kind,
    int64_t version, char *refused, size_t rlen)
	__attribute__((warn_unused_result));
int cred_settle(struct cust_state *st, const char *actor, const char *action,
    const char *note, const char *fqdn, const char *kind, int64_t version);

#endif
