/* SPDX-License-Identifier: MIT */
/* src/api/ops_kerberos.c - device.kerberos: AMT Kerberos settings on the
 * devices (reference/amt.md 5 and 7), from each device's AD object that
 * account sync made (include/directory.h).
 *
 * What a device gets: AMT_KerberosSettingData with RealmName =
 * directory.ad's realm, KeyVersion = the object's msDS-KeyVersionNumber
 * as the DC reports it (the kvno of the service tickets the KDC issues
 * for HTTP/FQDN:16992...), KrbEnabled, and the key as the object's
 * password (Passphrase) with the AD salt of a user object (REALM +
 * sAMAccountName, MS-KILE 3.1.1.2: account sync makes user objects) and
 * 4096 iterations, from which AMT 8.0+ derives the AES keys (the object
 * is AES-only) and the RC4 key. The password unlocks the device's
 * service tickets and travels in the body: it is sent over TLS only, to
 * a device custody provisioned (cert provision); another device is
 * refused without being contacted ("tls-required"). AMT before 8.0 takes
 * only the RC4 MasterKey, which an AES-only object cannot use: refused
 * ("unsupported").
 *
 * One conversation per device (amt_fleet_run()), as its admin with the
 * current password, over TLS:
 *  1. Get AMT_GeneralSettings: the DigestRealm must be the one the device
 *     logs in with (amt_reply_realm()) and the registered one; none
 *     registered, it is recorded unless another device has it
 *     (ops_first_realm(): realm-conflict; all the run's first contacts
 *     read before anything is sent, ops_realm.c);
 *  2. the clock (reference 7), before anything Kerberos: GetLow-
 *     AccuracyTimeSynch (Ta0), SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2),
 *     then GetLowAccuracyTimeSynch again: the device's clock must now be
 *     within KRB_CLOCK_SLACK of custody's, else nothing Kerberos is sent
 *     ("clock-failed": Kerberos refuses authenticators more than 5
 *     minutes off);
 *  3. Put AMT_KerberosSettingData;
 *  4. Get AMT_KerberosSettingData: RealmName, KeyVersion and KrbEnabled
 *     as sent, AES256 configured (the keys are never returned: the
 *     KeyVersion is the evidence). A Put whose answer was lost is settled
 *     by the same Get ("reconciled" when it shows the settings); a Put is
 *     harmless to repeat, so a device left "unknown" just needs the
 *     command again.
 *
 * Rotation (rotate, `device kerberos --rotate`; issue 10: the object's
 * password changed before the domain's maximum password age): per
 * device, before its conversation, dir_ad_device_key() commits a new
 * random password pending (sealed) and sets it in AD (unicodePwd: the DC
 * bumps msDS-KeyVersionNumber); the kvno is read after that, so the Put
 * carries the new password with KeyVersion old + 1; when the Get shows
 * the device took it, dir_ad_device_key_done() makes it current. A
 * pending password left by a run stopped anywhere in between (crash, DC
 * or device gone) is set in AD again and sent by the next run, rotate
 * or not: AD and the device converge on it, and a device holds a key AD
 * lacks only until then. Setting it again rather than asking AD which
 * one it holds: a device object is not an account custody can bind as.
 *
 * Not a dry run, it is a job (JOB_KIND_KERBEROS): the devices fixed when
 * it starts, one item (kind "kerberos") each as its conversation ends,
 * resumable by job.resume. Each device's outcome is audited
 * (device.kerberos), and reading the object password is audited by the
 * directory module (directory.password).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "amt.h"
#include "audit.h"
#include "config.h"
#include "cred.h"
#include "directory.h"
#include "err.h"
#include "job.h"
#include "ops_int.h"
#include "seal.h"
#include "state.h"
#include "util.h"

#define KRB_ITEM_KIND	"kerberos"
#define KRB_ADMIN	"admin"
/* How far the device clock may be from custody's after the sync, s. */
#define KRB_CLOCK_SLACK	60

enum kstep { K_START, K_REALM, K_TGET, K_TSET, K_TCHECK, K_PUT, K_VERIFY };

struct krb {
	struct ops_ctx *ctx;
	struct ops_jobrun *job;		/* NULL: dry run */
	struct amt_target t;
	char cafile[PATH_MAX];
	json_t *dev;
	const char *fqdn, *reg;
	struct seal_secret *admin;	/* current admin password */
	struct seal_secret *pw;		/* the AD object's password */
	char realm[AMT_REALM_MAX];	/* the device's DigestRealm */
	char regbuf[AMT_REALM_MAX];	/* reg, learnt by the run's first
					 * contacts (ops_realm.c) */
	const char *krealm;		/* directory.ad realm (borrowed) */
	char sam[64], dn[1024], salt[320];
	uint32_t kvno;
	int64_t pwver;
	int rotating;			/* pw is a pending (new) password */
	enum kstep step;
	unsigned long id;
	uint32_t ta0;
	uint32_t tm1;
	long skew;			/* device - custody before the sync */
	int put_lost;			/* the Put's answer was lost */
	const char *result;
	char detail[512];
	int err;
};

static void
done(struct krb *k, const char *result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
done(struct krb *k, const char *result, const char *fmt, ...)
{
	va_list ap;

	k->result = result;
	va_start(ap, fmt);
	vsnprintf(k->detail, sizeof(k->detail), fmt, ap);
	va_end(ap);
}

/* The device-level failure of a call. */
static const char *
fail_kind(int err)
{
	return err == CUST_E_DENIED ? "auth-failed" : err == CUST_E_UNAVAIL ?
	    "unreachable" : err == CUST_E_VIOLATION ? "realm-mismatch" :
	    err == CUST_E_CRYPTO ? "tls-failed" : err == CUST_E_CONFLICT ?
	    "refused" : "error";
}

static uint32_t
now32(void)
{
	return (uint32_t)util_now();
}

/* The settings this device gets; pw may be a stand-in (dry run). */
static int
put_msg(struct krb *k, const struct seal_secret *pw, struct amt_req **out)
{
	struct amt_krb_settings ks = { k->krealm, k->kvno, 1, NULL, pw,
	    k->salt, AMT_KRB_ITERATIONS,
	    AMT_KRB_RC4 | AMT_KRB_AES128 | AMT_KRB_AES256 };

	return amt_msg_kerberos_put(++k->id, &ks, out);
}

/* Whether reply rep (a Put's or a Get's instance) shows the settings. */
static int
shows(const struct krb *k, const struct amt_reply *rep, char *why,
    size_t len)
{
	const char *kv = amt_reply_value(rep, "KeyVersion");
	const char *rn = amt_reply_value(rep, "RealmName");
	const char *en = amt_reply_value(rep, "KrbEnabled");
	uint32_t v;

	if (kv == NULL || amt_parse_u32(kv, &v) != CUST_OK || v != k->kvno) {
		cust_clearerr();
		snprintf(why, len, "KeyVersion %s, not %lu", kv ? kv : "absent",
		    (unsigned long)k->kvno);
		return 0;
	}
	if (rn == NULL || strcmp(rn, k->krealm) != 0) {
		snprintf(why, len, "RealmName %.100s, not %s", rn ? rn :
		    "absent", k->krealm);
		return 0;
	}
	if (en == NULL || strcmp(en, "true") != 0) {
		snprintf(why, len, "KrbEnabled is not true");
		return 0;
	}
	return 1;
}

static int
has_aes256(void *arg, const char *v)
{
	if (strcmp(v, "2") != 0)
		return 0;
	*(int *)arg = 1;
	return 1;
}

static int
step(void *arg, const struct amt_reply *rep, int err, struct amt_req **out)
{
	struct krb *k = arg;
	const char *v;
	char why[256];
	uint32_t n;
	long off;
	int aes;

	switch (k->step) {
	case K_START:
		k->step = K_REALM;
		return amt_msg_get(++k->id, "AMT_GeneralSettings", out);
	case K_REALM:
		/* The realm the device logs in with, not a body value a
		 * man in the middle on plain HTTP could rewrite. */
		if (err == CUST_OK)
			err = amt_reply_realm(rep, k->realm);
		if (err != CUST_OK) {
			done(k, fail_kind(err), "%s", cust_errmsg());
			return CUST_OK;
		}
		if (k->reg != NULL && strcmp(k->reg, k->realm) != 0) {
			done(k, "realm-mismatch", "the device's DigestRealm %s "
			    "is not the registered %s: %s, nothing sent",
			    k->realm, k->reg, amt_realm_differs(k->realm,
			    k->reg));
			return CUST_OK;
		}
		if (k->reg == NULL) {	/* first contact */
			const char *res;
			int r;

			if ((r = ops_first_realm(k->ctx, k->fqdn, k->realm, 1,
			    &res)) != CUST_OK)
				return r;
			if (res != NULL) {
				done(k, res, "%s", cust_errmsg());
				return CUST_OK;
			}
		}
		k->step = K_TGET;
		return amt_msg_get_time(++k->id, out);
	case K_TGET:
	case K_TCHECK:
		if (err == CUST_OK)
			err = amt_reply_check(rep);
		if (err == CUST_OK && ((v = amt_reply_value(rep, "Ta0")) ==
		    NULL || amt_parse_u32(v, &n) != CUST_OK))
			err = cust_fail(CUST_E_PARSE, "GetLowAccuracyTimeSynch: "
			    "no Ta0");
		if (err != CUST_OK) {
			done(k, err == CUST_E_CONFLICT ? "clock-failed" :
			    fail_kind(err), "reading the device clock: %s%s",
			    cust_errmsg(), k->step == K_TCHECK ? " (after "
			    "setting it): nothing Kerberos sent" : "");
			return CUST_OK;
		}
		off = (long)n - (long)now32();
		if (k->step == K_TGET) {
			k->ta0 = n;
			k->tm1 = now32();
			k->skew = off;
			k->step = K_TSET;
			return amt_msg_set_time(++k->id, k->ta0, k->tm1, now32(),
			    out);
		}
		if (off > KRB_CLOCK_SLACK || off < -KRB_CLOCK_SLACK) {
			done(k, "clock-failed", "the device clock is %ld s off "
			    "after SetHighAccuracyTimeSynch (was %ld s): "
			    "Kerberos allows %d minutes, nothing Kerberos sent",
			    off, k->skew, AMT_KRB_CLOCK_TOLERANCE);
			return CUST_OK;
		}
		k->step = K_PUT;
		return put_msg(k, k->pw, out);
	case K_TSET:
		if (err == CUST_OK)
			err = amt_reply_check(rep);
		if (err != CUST_OK) {
			done(k, err == CUST_E_CONFLICT ? "clock-failed" :
			    fail_kind(err), "setting the device clock (%ld s "
			    "off): %s: nothing Kerberos sent", k->skew,
			    cust_errmsg());
			return CUST_OK;
		}
		k->step = K_TCHECK;
		return amt_msg_get_time(++k->id, out);
	case K_PUT:
		if (err == CUST_OK && !shows(k, rep, why, sizeof(why)))
			err = cust_fail(CUST_E_PARSE, "the Put's answer shows "
			    "other settings: %s", why);
		if (err == CUST_E_CONFLICT || err == CUST_E_DENIED ||
		    err == CUST_E_VIOLATION || err == CUST_E_CRYPTO) {
			/* a SOAP fault, or never logged in: not taken */
			done(k, fail_kind(err), "Put AMT_KerberosSettingData: "
			    "%s", cust_errmsg());
			return CUST_OK;
		}
		/* Taken, or its answer lost or unreadable: read the
		 * settings back. */
		k->put_lost = err != CUST_OK;
		if (k->put_lost)
			snprintf(k->detail, sizeof(k->detail), "%s",
			    cust_errmsg());
		k->t.fresh = k->put_lost;
		k->step = K_VERIFY;
		return amt_msg_get(++k->id, "AMT_KerberosSettingData", out);
	case K_VERIFY:
		if (err != CUST_OK) {
			done(k, k->put_lost ? "unknown" : fail_kind(err),
			    "reading the settings back: %s%s", cust_errmsg(),
			    k->put_lost ? "; the Put's answer was lost too: run "
			    "device kerberos again (the same settings)" : "");
			return CUST_OK;
		}
		if (!shows(k, rep, why, sizeof(why))) {
			done(k, k->put_lost ? "unknown" : "failed", "the "
			    "settings read back differ: %s", why);
			return CUST_OK;
		}
		aes = 0;
		(void)amt_reply_values(rep, "ConfiguredEncryptionAlgorithms",
		    has_aes256, &aes);
		if (!aes) {
			done(k, "failed", "the device did not configure "
			    "AES256-CTS-HMAC-SHA1-96 (the AD object is "
			    "AES-only)");
			return CUST_OK;
		}
		done(k, k->put_lost ? "reconciled" : "ok", "realm %s, KeyVersion "
		    "%lu, AES256/AES128/RC4 from the password of %s (v%lld); "
		    "clock was %ld s off, set first%s%s", k->krealm,
		    (unsigned long)k->kvno, k->sam, (long long)k->pwver,
		    k->skew, k->put_lost ? "; the Put's answer was lost (" :
		    "", k->put_lost ? "settled by reading it back)" : "");
		return CUST_OK;
	}
	return cust_fail(CUST_E_INTERNAL, "kerberos: bad step");
}

static int
result_ok(const char *res)
{
	return strcmp(res, "ok") == 0 || strcmp(res, "reconciled") == 0 ||
	    strcmp(res, "not-due") == 0;
}

/* A device's outcome: audited, and its job item; a rotation that the
 * device shows it took made current first. */
static int
record(void *arg)
{
	struct krb *k = arg;
	struct ops_ctx *ctx = k->ctx;
	int64_t dev;
	size_t n;
	int r;

	if (k->job == NULL)
		return CUST_OK;
	if (k->rotating && result_ok(k->result)) {
		/* AD and the device both hold it: now it is current */
		if ((r = dir_ad_device_key_done(ctx->st, ctx->actor, k->fqdn,
		    k->pwver, k->kvno)) != CUST_OK)
			return r;
		n = strlen(k->detail);
		snprintf(k->detail + n, sizeof(k->detail) - n, "; rotated: "
		    "password version %lld current", (long long)k->pwver);
	} else if (k->rotating) {
		n = strlen(k->detail);
		snprintf(k->detail + n, sizeof(k->detail) - n, "; AD holds the "
		    "new password version %lld (pending): run device kerberos "
		    "again", (long long)k->pwver);
	}
	if ((r = audit_append(state_audit(ctx->st), ctx->actor,
	    "device.kerberos", k->fqdn, k->result, k->detail)) != CUST_OK)
		return r;
	if ((r = cred_device_find(ctx->st, k->fqdn, &dev)) != CUST_OK)
		return r;
	return ops_job_item_done(ctx, k->job, dev, KRB_ITEM_KIND, k->result,
	    k->detail);
}

static int
krb_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **req_out)
{
	struct krb *k = arg;

	return ops_conv_next(k, &k->result, &k->err, step, record, prev, err,
	    req_out);
}

static void
krb_clear(struct krb *k)
{
	json_decref(k->dev);
	seal_secret_free(k->admin);
	seal_secret_free(k->pw);
	memset(k, 0, sizeof(*k));
}

/* Shared by a run: directory.ad, the DC connection, custody's objects. */
struct krun {
	struct cust_config *cfg;
	struct dir_ldap *l;
	json_t *objects;		/* dir_ad_list() */
	int due;			/* --due: only objects due rotate */
};

static int
run_open(struct ops_ctx *ctx, struct krun *kr)
{
	int r;

	memset(kr, 0, sizeof(*kr));
	if ((r = config_load_dir(state_dir(ctx->st), NULL, &kr->cfg)) !=
	    CUST_OK)
		return r;
	if (!kr->cfg->ad.set)
		return cust_fail(CUST_E_INVAL, "custody.yaml has no directory.ad "
		    "section: device kerberos needs the devices' AD objects "
		    "(custody.yaml(5))");
	if ((r = dir_ad_list(ctx->st, &kr->objects)) != CUST_OK)
		return r;
	return dir_ldap_open(&kr->cfg->ad, &kr->l);
}

static void
run_close(struct krun *kr)
{
	dir_ldap_free(kr->l);
	json_decref(kr->objects);
	config_free(kr->cfg);
	memset(kr, 0, sizeof(*kr));
}

/* The active AD object custody made for fqdn, or NULL. */
static json_t *
object_of(const struct krun *kr, const char *fqdn)
{
	json_t *o;
	size_t i;

	json_array_foreach(kr->objects, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *own = json_string_value(json_object_get(o, "owner"));
		const char *st = json_string_value(json_object_get(o, "state"));

		if (kind != NULL && own != NULL && st != NULL &&
		    strcmp(kind, "device") == 0 && strcasecmp(own, fqdn) == 0 &&
		    strcmp(st, "active") == 0)
			return o;
	}
	return NULL;
}

/* The object's kvno as the DC reports it (msDS-KeyVersionNumber). */
static int
kvno_of(struct krun *kr, const char *dn, uint32_t *out)
{
	static const char *const attrs[] = { "msDS-KeyVersionNumber", NULL };
	json_t *res = NULL, *e, *vals = NULL;
	const char *key;
	int r;

	*out = 0;
	if ((r = dir_ldap_search(kr->l, dn, 0, "(objectClass=*)", attrs,
	    &res)) != CUST_OK)
		return r;
	if ((e = json_array_get(res, 0)) == NULL)
		r = cust_fail(CUST_E_NOTFOUND, "the AD object %s is gone: run "
		    "account sync", dn);
	else {
		json_object_foreach(e, key, vals)
			if (strcasecmp(key, "msDS-KeyVersionNumber") == 0)
				break;
		if (key == NULL || amt_parse_u32(json_string_value(
		    json_array_get(vals, 0)) ? json_string_value(
		    json_array_get(vals, 0)) : "", out) != CUST_OK ||
		    *out == 0)
			r = cust_fail(CUST_E_LDAP, "the DC reports no "
			    "msDS-KeyVersionNumber for %s", dn);
	}
	json_decref(res);
	return r;
}

/* The major number of an AMT version "16.1.27" (0: not one). */
static long
major_of(const char *ver)
{
	char buf[8];
	size_t n = strspn(ver, "0123456789");
	long v = 0;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, ver, n);
	buf[n] = '\0';
	if (util_parse_long(buf, 1, 9999, &v) != CUST_OK) {
		cust_clearerr();
		return 0;
	}
	return v;
}

/*
 * k set up for fqdn: the target (TLS), the object, its kvno and (not a
 * dry run) the passwords. A device that cannot be done is a result
 * (k->result set), not an error; an error is custody's own.
 */
static int
prepare(struct ops_ctx *ctx, struct krun *kr, const char *fqdn, int dry,
    int rotate, struct krb *k)
{
	const char *state, *ver;
	json_t *o;
	int64_t v;
	int r;

	memset(k, 0, sizeof(*k));
	k->ctx = ctx;
	k->krealm = kr->cfg->ad.realm;
	if ((r = cred_device_get(ctx->st, fqdn, &k->dev)) != CUST_OK)
		return r;
	k->fqdn = json_string_value(json_object_get(k->dev, "fqdn"));
	k->reg = json_string_value(json_object_get(k->dev, "digest_realm"));
	k->t.fqdn = k->fqdn;
	k->t.address = json_string_value(json_object_get(k->dev, "address"));
	k->t.realm = k->reg;
	k->t.user = KRB_ADMIN;
	if ((r = ops_tls_target(ctx->st, k->fqdn, &k->t, k->cafile,
	    sizeof(k->cafile))) != CUST_OK)
		return r;
	ver = json_string_value(json_object_get(k->dev, "amt_version"));
	if ((o = object_of(kr, k->fqdn)) == NULL) {
		done(k, "no-object", "custody holds no active AD object for "
		    "%s: run account sync (the policy must give the device "
		    "Kerberos entries)", k->fqdn);
		return CUST_OK;
	}
	snprintf(k->sam, sizeof(k->sam), "%s", json_string_value(
	    json_object_get(o, "name")));
	snprintf(k->dn, sizeof(k->dn), "%s", json_string_value(
	    json_object_get(o, "dn")));
	if (rotate && kr->due) {
		int64_t max = kr->cfg->ad.object_max_age, age;
		int due;

		if ((r = dir_ad_device_due(ctx->st, k->fqdn, max, &due,
		    &age)) != CUST_OK)
			return r;
		if (!due) {
			done(k, "not-due", "the object password is %lld days "
			    "old; due at %lld days (object_max_age %lld days "
			    "less 10 %%): nothing sent", (long long)(age /
			    86400), (long long)((max - max / 10) / 86400),
			    (long long)(max / 86400));
			return CUST_OK;
		}
	}
	if (!k->t.tls) {
		done(k, "tls-required", "the Kerberos key is the AD object's "
		    "password: sent over TLS only, and custody has not "
		    "provisioned TLS on %s (cert provision): nothing sent",
		    k->fqdn);
		return CUST_OK;
	}
	if (ver != NULL && major_of(ver) > 0 && major_of(ver) < 8) {
		done(k, "unsupported", "AMT %s takes only an RC4 MasterKey; "
		    "the AD object is AES-only (AMT 8.0 or later needed)", ver);
		return CUST_OK;
	}
	if ((r = amt_krb_user_salt(k->krealm, k->sam, k->salt,
	    sizeof(k->salt))) != CUST_OK)
		return r;
	/* A rotation (or one left unfinished): the new password set in
	 * AD first, so the kvno read next is the one it got. */
	if (!dry && (r = dir_ad_device_key(ctx->st, ctx->actor, kr->l,
	    k->fqdn, rotate, &k->pw, &k->pwver, &k->rotating)) != CUST_OK) {
		if (r == CUST_E_UNAVAIL || r == CUST_E_NOMEM || r == CUST_E_DB)
			return r;	/* the DC gone: the run stops */
		done(k, r == CUST_E_CONFLICT ? "ad-refused" : "error", "%s",
		    cust_errmsg());
		cust_clearerr();
		return CUST_OK;
	}
	if ((r = kvno_of(kr, k->dn, &k->kvno)) != CUST_OK) {
		if (r == CUST_E_UNAVAIL || r == CUST_E_NOMEM)
			return r;	/* the DC gone: the run stops */
		done(k, "error", "%s%s", cust_errmsg(), k->rotating ? "; AD "
		    "holds a new password (pending): run device kerberos "
		    "again" : "");
		cust_clearerr();
		return CUST_OK;
	}
	if (dry)
		return CUST_OK;
	if ((r = cred_secret_read(ctx->st, ctx->actor, "device.kerberos",
	    "admin login", k->fqdn, CRED_KIND_ADMIN, CRED_VER_CURRENT,
	    &k->admin, &v, &state)) != CUST_OK)
		return r;
	k->t.password = k->admin;
	return CUST_OK;
}

/* What device.kerberos would send to fqdn, sending nothing. */
static int
dry_device(struct ops_ctx *ctx, struct krun *kr, const char *fqdn,
    int rotate, json_t **item_out)
{
	struct krb k;
	struct amt_req *q = NULL;
	struct seal_secret *blank = NULL;
	char url[AMT_URL_MAX], ct[AMT_CONNECT_TO_MAX], *env = NULL;
	static const char *const names[] = { "realm-check", "clock-read",
	    "clock-set", "clock-check", "kerberos-put", "kerberos-verify" };
	json_t *steps = NULL, *o;
	size_t i;
	int r;

	*item_out = NULL;
	if ((r = prepare(ctx, kr, fqdn, 1, 0, &k)) != CUST_OK)
		goto out;
	if (rotate)
		k.kvno++;	/* what AD gives the new password */
	if (k.result != NULL) {
		r = ops_reply(json_pack("{s:s, s:s, s:s}", "fqdn", k.fqdn,
		    "result", k.result, "detail", k.detail), item_out);
		goto out;
	}
	if ((r = amt_target_where(&k.t, url, sizeof(url), ct, sizeof(ct))) !=
	    CUST_OK)
		goto out;
	if ((steps = json_array()) == NULL || (blank = seal_secret_dup(
	    "***", 3)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		q = NULL;
		r = i == 0 ? amt_msg_get(++k.id, "AMT_GeneralSettings", &q) :
		    i == 1 || i == 3 ? amt_msg_get_time(++k.id, &q) :
		    i == 2 ? amt_msg_set_time(++k.id, 1700000000u, 1700000000u,
		    1700000000u, &q) : i == 4 ? put_msg(&k, blank, &q) :
		    amt_msg_get(++k.id, "AMT_KerberosSettingData", &q);
		if (r == CUST_OK)
			r = amt_req_redacted(q, 1, &env);
		if (r == CUST_OK && ((o = ops_step_json(names[i], q, "digest "
		    "admin, current, over TLS", env)) == NULL ||
		    json_array_append_new(steps, o) != 0))
			r = cust_fail(CUST_E_NOMEM, "out of memory");
		free(env);
		env = NULL;
		amt_req_free(q);
		if (r != CUST_OK)
			goto out;
	}
	r = ops_reply(json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:s, "
	    "s:O, s:s}", "title", "device kerberos", "fqdn", k.fqdn, "url", url, "connect_to", *ct ?
	    json_string(ct) : json_null(), "result", "dry-run", "realm",
	    k.krealm, "key_version", (json_int_t)k.kvno, "salt", k.salt,
	    "steps", steps, "note", rotate ? "a new random password is set "
	    "in AD first (unicodePwd), the KeyVersion is the one AD then "
	    "reports; the clock values are read from the device when it "
	    "runs; the Passphrase is never shown" : "the clock values are "
	    "read from the device when it runs; the Passphrase (the AD "
	    "object's password) is never shown"), item_out);
out:
	json_decref(steps);
	seal_secret_free(blank);
	krb_clear(&k);
	return r;
}

/* The devices fqdns as one fleet run; *items_out, *bad_out. */
static int
fleet(struct ops_ctx *ctx, struct krun *kr, json_t *fqdns, int rotate,
    struct ops_jobrun *job, json_t **items_out, size_t *bad_out)
{
	struct krb *ks = NULL;
	struct amt_conv *convs = NULL;
	struct ops_first *first = NULL;
	json_t *items = NULL, *it, *v;
	size_t i, k, n = json_array_size(fqdns), nc = 0, nf = 0, bad = 0;
	int r = CUST_OK;

	*items_out = NULL;
	*bad_out = 0;
	if ((ks = calloc(n ? n : 1, sizeof(*ks))) == NULL ||
	    (convs = calloc(n ? n : 1, sizeof(*convs))) == NULL ||
	    (first = calloc(n ? n : 1, sizeof(*first))) == NULL ||
	    (items = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(fqdns, i, v) {
		if ((r = prepare(ctx, kr, json_string_value(v), 0, rotate,
		    &ks[i])) != CUST_OK)
			goto out;
		ks[i].job = job;
		if (ks[i].result != NULL) {
			if ((r = record(&ks[i])) != CUST_OK)
				goto out;
			continue;
		}
		convs[nc++] = (struct amt_conv){ &ks[i].t, krb_next, &ks[i] };
		if (ks[i].reg == NULL) {	/* a first contact */
			snprintf(first[nf].fqdn, sizeof(first[nf].fqdn), "%s",
			    ks[i].fqdn);
			first[nf].t = &ks[i].t;
			first[nf++].index = i;
		}
	}
	/* The first contacts' realms, all read before anything is sent
	 * (ops_realm.c): one recorded makes its device a registered one;
	 * one refused ends it, nothing sent (ops_conv_next() asks its
	 * conversation for nothing). */
	if ((r = ops_first_contacts(ctx, first, nf, OPS_FIRST_RECORD)) !=
	    CUST_OK)
		goto out;
	for (k = 0; k < nf; k++) {
		struct krb *kb = &ks[first[k].index];

		if (first[k].result != NULL) {
			done(kb, first[k].result, "%s", first[k].detail);
			if ((r = record(kb)) != CUST_OK)
				goto out;
		} else if (first[k].known) {
			snprintf(kb->regbuf, sizeof(kb->regbuf), "%s",
			    first[k].realm);
			kb->reg = kb->t.realm = kb->regbuf;
		}
	}
	if ((r = amt_fleet_run(convs, nc, 0)) != CUST_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = ops_conv_end(&ks[i], ks[i].fqdn, &ks[i].result,
		    ks[i].detail, sizeof(ks[i].detail), ks[i].err, record)) !=
		    CUST_OK)
			goto out;
		bad += !result_ok(ks[i].result);
		it = json_pack("{s:s, s:s, s:s}", "fqdn", ks[i].fqdn, "result",
		    ks[i].result, "detail", ks[i].detail);
		if (it == NULL || json_array_append_new(items, it) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*items_out = items;
	items = NULL;
	*bad_out = bad;
out:
	for (i = 0; ks != NULL && i < n; i++)
		krb_clear(&ks[i]);
	free(ks);
	free(convs);
	free(first);
	json_decref(items);
	return r;
}

/* device.kerberos over ids[0..n) as a job (selector borrowed), or
 * (resume) the rest of job resume. */
static int
krb_job(struct ops_ctx *ctx, json_t *selector, const int64_t *ids, size_t n,
    int rotate, int due, int64_t resume, json_t **resp)
{
	struct ops_jobrun job = { 0, 0, 0 };
	struct krun kr;
	json_t *params = NULL, *fqdns = NULL, *items = NULL;
	int64_t *sorted = NULL;
	size_t m = 0, total, miss = 0, bad = 0;
	int r;

	*resp = NULL;
	if ((r = run_open(ctx, &kr)) != CUST_OK)
		goto out;
	kr.due = due;
	if (resume > 0) {
		if ((r = job_take(ctx->st, resume, JOB_KIND_KERBEROS, &params,
		    &sorted, &m, &total)) != CUST_OK)
			goto out;
		job.id = resume;
		rotate = json_is_true(json_object_get(params, "rotate"));
		kr.due = json_is_true(json_object_get(params, "due"));
	} else if ((params = json_pack("{s:b, s:b}", "rotate", rotate, "due",
	    due)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	} else if ((r = job_start(ctx->st, ctx->actor, JOB_KIND_KERBEROS,
	    selector, params, ids, n, &job.id, &sorted, &m)) != CUST_OK)
		goto out;
	job.total = m;
	if ((r = ops_job_targets(ctx, job.id, KRB_ITEM_KIND, sorted, m,
	    &fqdns, &miss)) == CUST_OK)
		r = fleet(ctx, &kr, fqdns, rotate, &job, &items, &bad);
	if ((r = job_end(ctx->st, job.id, r)) != CUST_OK)
		goto out;
	r = ops_job_reply(job.id, m, bad, miss, items, resp);
out:
	run_close(&kr);
	json_decref(params);
	json_decref(fqdns);
	json_decref(items);
	free(sorted);
	return r;
}

int
ops_kerberos_job(struct ops_ctx *ctx, int64_t resume, json_t **resp)
{
	return krb_job(ctx, NULL, NULL, 0, 0, 0, resume, resp);
}

/* due needs directory.ad object_max_age set (not off). */
static int
due_check(struct ops_ctx *ctx)
{
	struct cust_config *cfg = NULL;
	int r;

	if ((r = config_load_dir(state_dir(ctx->st), NULL, &cfg)) != CUST_OK)
		return r;
	if (cfg->ad.set && cfg->ad.object_max_age == 0)
		r = cust_fail(CUST_E_INVAL, "directory.ad object_max_age is "
		    "off: no object password is ever due (custody.yaml(5))");
	config_free(cfg);
	return r;
}

static int
op_kerberos(struct ops_ctx *ctx, json_t *req, json_t **resp)
{
	struct krun kr;
	json_t *sel = NULL, *fqdns = NULL, *items = NULL, *it, *v;
	int64_t *ids = NULL;
	size_t i, n = 0, miss = 0;
	int dry = 0, rotate = 0, due = 0, r;

	*resp = NULL;
	memset(&kr, 0, sizeof(kr));
	if ((r = ops_req_bool(req, "dry_run", &dry)) != CUST_OK ||
	    (r = ops_req_bool(req, "rotate", &rotate)) != CUST_OK ||
	    (r = ops_req_bool(req, "due", &due)) != CUST_OK)
		return r;
	if (due && !rotate)
		return cust_fail(CUST_E_INVAL, "due selects the objects due a "
		    "rotation: it goes with rotate");
	if ((r = ops_select(ctx, req, &ids, &n, &sel)) != CUST_OK)
		return r;
	if (due && (r = due_check(ctx)) != CUST_OK)
		goto out;
	if (!dry) {
		r = krb_job(ctx, sel, ids, n, rotate, due, 0, resp);
		goto out;
	}
	if ((r = run_open(ctx, &kr)) != CUST_OK ||
	    (r = ops_job_targets(ctx, 0, KRB_ITEM_KIND, ids, n, &fqdns,
	    &miss)) != CUST_OK)
		goto out;
	if ((items = json_array()) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	kr.due = due;
	json_array_foreach(fqdns, i, v) {
		if ((r = dry_device(ctx, &kr, json_string_value(v), rotate,
		    &it)) != CUST_OK)
			goto out;
		if (json_array_append_new(items, it) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	}
	r = ops_reply(json_pack("{s:b, s:I, s:I, s:O}", "dry_run", 1,
	    "devices", (json_int_t)json_array_size(fqdns), "failed",
	    (json_int_t)0, "items", items), resp);
out:
	run_close(&kr);
	json_decref(items);
	json_decref(fqdns);
	json_decref(sel);
	free(ids);
	return r;
}

const struct ops_entry ops_kerberos_table[] = {
	{ "device.kerberos", op_kerberos, 0, OPS_ADMIN, OPS_RES_NONE },
	{ NULL, NULL, 0, 0, OPS_RES_NONE }
};
