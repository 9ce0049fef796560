/* SPDX-License-Identifier: MIT */
/* src/api/ops_realm.c - the first contacts of one run (a push, a policy
 * apply or drift, a device kerberos), read before anything is sent.
 *
 * A device with no DigestRealm registered has the realm it logs in with
 * recorded at its first contact (ops_first_realm()). Two names of one
 * run that lead to one machine (a wrong --address, a port forwarding,
 * two records of one device) would both reach it: whichever answered
 * first recorded the realm and got the change, so the machine took the
 * other name's password, and the real device's name was then refused,
 * blaming the impostor. So each run reads the realms of all its first
 * contacts first, concurrently (one Get of AMT_GeneralSettings as the
 * admin with the current password each, as the run's own first request),
 * before any change goes to any of them: a realm that two or more of
 * them report is recorded for none, each of them ending realm-conflict
 * naming the others (audited, when the run records: device.set refused);
 * a realm reported once goes through ops_first_realm() (another device
 * may have it registered), and the run then treats the device as a
 * registered one. A device whose read fails is left to the run's own
 * Get, which learns its realm as before (SERVICE.md, "First contact:
 * another device's realm").
 */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amt.h"
#include "cred.h"
#include "err.h"
#include "ops_int.h"
#include "seal.h"
#include "state.h"

/* The first-contact admin login (reference 2). */
#define FIRST_ADMIN	"admin"
/* Reads of a first contact's realm that failed for a passing reason:
 * made this many times in all, FIRST_PAUSE_MS more apart each time. */
#define FIRST_TRIES	3
#define FIRST_PAUSE_MS	250

/* One device's read: a Get, then over. */
struct fget {
	struct ops_first *f;
	int sent;
	int err;		/* the read's, CUST_OK once read */
	char msg[256];		/* with err */
};

static int
fget_next(void *arg, const struct amt_reply *prev, int err,
    struct amt_req **req_out)
{
	struct fget *g = arg;

	*req_out = NULL;
	if (!g->sent) {
		g->sent = 1;
		return amt_msg_get(1, "AMT_GeneralSettings", req_out);
	}
	/* A failed read: "" (the run's own Get settles the device). */
	if (err == CUST_OK)
		err = amt_reply_realm(prev, g->f->realm);
	if ((g->err = err) != CUST_OK) {
		g->f->realm[0] = '\0';
		snprintf(g->msg, sizeof(g->msg), "%s", cust_errmsg());
	}
	cust_clearerr();
	return 0;
}

static int
by_realm(const void *a, const void *b)
{
	const struct ops_first *x = *(struct ops_first *const *)a;
	const struct ops_first *y = *(struct ops_first *const *)b;
	int c = strcasecmp(x->realm, y->realm);

	/* Then in the caller's order: the names listed in it. */
	return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

/* The devices g[0..n) (n > 1) all report one realm: each refused, named
 * with the others. */
static int
duplicates(struct ops_ctx *ctx, struct ops_first **g, size_t n, int record)
{
	char others[400], who[440];
	size_t i, j, o;
	int r;

	for (i = 0; i < n; i++) {
		others[0] = '\0';
		for (j = 0, o = 0; j < n; j++)
			if (j != i && o < sizeof(others))
				o += (size_t)snprintf(others + o,
				    sizeof(others) - o, "%s%s", o ? ", " : "",
				    g[j]->fqdn);
		g[i]->result = "realm-conflict";
		snprintf(g[i]->detail, sizeof(g[i]->detail), "the device's "
		    "DigestRealm %.64s is also the one of %.280s in this "
		    "run: one machine answers at more than one device's "
		    "address (device set --address), nothing recorded, "
		    "nothing sent", g[i]->realm, others);
		snprintf(who, sizeof(who), "reported in the same run by %s",
		    others);
		if (record && (r = cred_device_realm_refused(ctx->st,
		    ctx->actor, g[i]->fqdn, g[i]->realm, who)) != CUST_OK)
			return r;
	}
	return CUST_OK;
}

int
ops_first_contacts(struct ops_ctx *ctx, struct ops_first *f, size_t n,
    int record)
{
	struct amt_conv *convs = NULL;
	struct amt_target *tc = NULL;
	struct fget *gets = NULL;
	struct ops_first **by = NULL;
	const char *res;
	size_t i, j, k, m = 0;
	int r, t;

	for (i = 0; i < n; i++) {
		f[i].result = NULL;
		f[i].realm[0] = '\0';
		f[i].known = 0;
	}
	/* One alone shares its realm with no other of the run: its own Get
	 * learns it, as ever (no request more). */
	if (n < 2)
		return CUST_OK;
	if ((convs = calloc(n, sizeof(*convs))) == NULL ||
	    (tc = calloc(n, sizeof(*tc))) == NULL ||
	    (gets = calloc(n, sizeof(*gets))) == NULL ||
	    (by = calloc(n, sizeof(*by))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	/* The transport's own retries off (tc: copies of the targets): the
	 * loop below is the only one, so that a device that takes the
	 * connection and never answers holds the run up three timeouts, not
	 * nine. */
	for (i = 0; i < n; i++) {
		tc[i] = *f[i].t;
		tc[i].retries = -1;
		gets[i].f = &f[i];
		convs[i] = (struct amt_conv){ &tc[i], fget_next, &gets[i] };
	}
	/* A read that failed for a passing reason (a timeout, a 500 or 503,
	 * a dropped connection: CUST_E_UNAVAIL) is made again: a device of
	 * a pair left unread would make the other's realm look unique, and
	 * that one would be recorded and sent its change. Nothing else: a
	 * refused password, a rewritten realm, a TLS or challenge refusal
	 * is the same when asked again. */
	for (k = n, t = 0; k > 0 && t < FIRST_TRIES; t++) {
		if (t > 0)
			(void)poll(NULL, 0, FIRST_PAUSE_MS * t);
		if ((r = amt_fleet_run(convs, k, 0)) != CUST_OK)
			goto out;
		for (i = 0, k = 0; i < n; i++)
			if (gets[i].err == CUST_E_UNAVAIL) {
				gets[i].sent = 0;
				convs[k++] = (struct amt_conv){ &tc[i],
				    fget_next, &gets[i] };
			}
	}
	for (i = 0; i < n; i++) {
		if (f[i].realm[0] != '\0')
			by[m++] = &f[i];
		/* The reply's realm is not the one the device logs in with
		 * (rewritten on the way): as the run's own Get would say. */
		else if (gets[i].err == CUST_E_VIOLATION) {
			f[i].result = "realm-mismatch";
			snprintf(f[i].detail, sizeof(f[i].detail), "%s",
			    gets[i].msg);
		}
	}
	qsort(by, m, sizeof(*by), by_realm);
	for (i = 0; i < m; i = j) {
		for (j = i + 1; j < m && strcasecmp(by[i]->realm,
		    by[j]->realm) == 0; j++)
			;
		if (j - i > 1) {
			if ((r = duplicates(ctx, by + i, j - i, record !=
			    OPS_FIRST_CHECK)) != CUST_OK)
				goto out;
			continue;
		}
		/* Refusing only: the run's own step records it (after the
		 * checks it makes first: the provisioning's login-check). */
		if (record == OPS_FIRST_REFUSE)
			continue;
		if ((r = ops_first_realm(ctx, by[i]->fqdn, by[i]->realm,
		    record == OPS_FIRST_RECORD, &res)) != CUST_OK)
			goto out;
		if (res != NULL) {
			by[i]->result = res;
			snprintf(by[i]->detail, sizeof(by[i]->detail), "%s",
			    cust_errmsg());
			cust_clearerr();
		}
	}
	for (k = 0; k < n; k++)
		if (f[k].result == NULL && f[k].realm[0] != '\0' &&
		    record != OPS_FIRST_REFUSE)
			f[k].known = 1;
	r = CUST_OK;
out:
	free(convs);
	free(tc);
	free(gets);
	free(by);
	return r;
}

/* What ops_first_contacts_of() holds per device while it reads. */
struct fdev {
	json_t *dev;
	struct amt_target t;
	struct seal_secret *pw;
	char cafile[PATH_MAX];
};

/* Whether device fqdn (stored name) has a version of kind in flight. */
static int
in_flight(struct ops_ctx *ctx, const char *fqdn, const char *kind, int *out)
{
	json_t *hist = NULL;
	int r;

	*out = 0;
	if ((r = cred_secret_history(ctx->st, fqdn, &hist)) != CUST_OK)
		return r;
	*out = ops_version_in(hist, kind, "pending") > 0 ||
	    ops_version_in(hist, kind, "pushed") > 0;
	json_decref(hist);
	return CUST_OK;
}

static int
cmp_name(const void *key, const void *el)
{
	return strcasecmp(key, json_string_value(*(json_t *const *)el));
}

int
ops_first_contacts_of(struct ops_ctx *ctx, const char *action,
    const char *const *fqdns, size_t n, const char *kind, int record,
    struct ops_first **out, size_t *n_out)
{
	struct ops_first *f = NULL;
	struct fdev *d = NULL;
	json_t *un = NULL, **names = NULL;
	const char *state;
	size_t i, j, m = 0, nu;
	int64_t v;
	int r, want;

	*out = NULL;
	*n_out = 0;
	if ((r = cred_device_unregistered(ctx->st, &un)) != CUST_OK)
		return r;
	/* None, or one (no other in the run to share its realm): the run's
	 * own Get learns it, as ever. The usual case: one empty query. */
	if ((nu = json_array_size(un)) < 2 || n < 2)
		goto done;
	if ((names = calloc(nu, sizeof(*names))) == NULL ||
	    (f = calloc(n, sizeof(*f))) == NULL ||
	    (d = calloc(n, sizeof(*d))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nu; i++)
		names[i] = json_array_get(un, i);
	for (i = 0; i < n; i++) {
		if (bsearch(fqdns[i], names, nu, sizeof(*names), cmp_name) ==
		    NULL)
			continue;
		/* Its own record unusable, gone: the run says so. */
		if (cred_device_get(ctx->st, fqdns[i], &d[m].dev) != CUST_OK) {
			cust_clearerr();
			continue;
		}
		snprintf(f[m].fqdn, sizeof(f[m].fqdn), "%s",
		    json_string_value(json_object_get(d[m].dev, "fqdn")));
		f[m].index = i;
		f[m].t = &d[m].t;
		if (kind != NULL && (in_flight(ctx, f[m].fqdn, kind, &want) !=
		    CUST_OK || !want)) {
			cust_clearerr();
			json_decref(d[m].dev);
			d[m].dev = NULL;
			continue;
		}
		m++;
	}
	if (m < 2) {
		m = 0;
		goto done;
	}
	/* Their targets, as the run's: the current admin password read
	 * (audited) only now, for a run with two or more of them. */
	for (i = 0, j = 0; i < m; i++) {
		struct fdev *x = &d[i];

		/* The record's own name, not f[i].fqdn: f is compacted
		 * below, and f[i] may then hold another device's name
		 * (this device's password sent to that one's host). */
		x->t.fqdn = json_string_value(json_object_get(x->dev,
		    "fqdn"));
		x->t.address = json_string_value(json_object_get(x->dev,
		    "address"));
		x->t.user = FIRST_ADMIN;
		if (ops_tls_target(ctx->st, f[i].fqdn, &x->t, x->cafile,
		    sizeof(x->cafile)) != CUST_OK ||
		    cred_secret_read(ctx->st, ctx->actor, action,
		    "first-contact realm", f[i].fqdn, CRED_KIND_ADMIN,
		    CRED_VER_CURRENT, &x->pw, &v, &state) != CUST_OK) {
			/* the run meets the same error, and says it */
			cust_clearerr();
			continue;
		}
		x->t.password = x->pw;
		f[j++] = f[i];
	}
	m = j;
	if ((r = ops_first_contacts(ctx, f, m, record)) != CUST_OK)
		goto out;
done:
	*out = f;
	*n_out = m;
	f = NULL;
	r = CUST_OK;
out:
	for (i = 0; d != NULL && i < n; i++) {
		free(d[i].t.revoked);
		seal_secret_free(d[i].pw);
		json_decref(d[i].dev);
	}
	free(d);
	free(f);
	free(names);
	json_decref(un);
	return r;
}
