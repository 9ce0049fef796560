/* SPDX-License-Identifier: MIT */
/* include/scheduler.h - the scheduler: what custodyd does on its own, on a
 * timer, on its own state (doc/internals/SERVICE.md "The scheduler").
 *
 * One tick: interrupted jobs are swept and rotation jobs resumed where
 * they stopped, due CRLs are made again, the service TLS certificate is
 * renewed when it is about to expire, client certificates whose
 * renewal was not used within its grace period are revoked as superseded
 * (ca_supersede_sweep()), and devices whose current
 * password or console credential is older than the configured maximum
 * age (spread by a per-device jitter) get a rotation job, at most a batch
 * per tick and kind. Every step is a normal audited operation under the actor given;
 * a tick that fails part-way leaves what it committed and says what
 * failed.
 */
#ifndef CUST_SCHEDULER_H
#define CUST_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct cust_state;

struct sched_policy {
	int64_t max_age_admin;	/* seconds; 0: never rotate by age */
	int64_t max_age_mebx;	/* seconds; 0: never */
	/* Console credentials (console:NAME), each console its own job:
	 * only those a device holds (the policy grants them). */
	int64_t max_age_console;	/* seconds; 0: never */
	/* Each device's rotation is due at max_age + (a stable function of
	 * the device id) mod (jitter + 1), so a fleet added at once does not
	 * rotate at once. */
	int64_t jitter;
	size_t batch;		/* devices per tick and kind; 0: 1000 */
	/* Devices rotated per tick in all kinds together (the rate limit:
	 * sched_tick_budget()); 0: no limit beyond batch. */
	size_t tick_max;
	size_t pwlen;		/* password length; 0: the default */
	int resume_jobs;	/* resume interrupted rotation jobs */
	/* Renew DIR/tls/server.{crt,key} when it expires within this many
	 * seconds (ca_server_renew()); 0: never. */
	int64_t server_renew_before;
	/* Make a CRL again this many seconds before its nextUpdate
	 * (ca_crl_refresh_within()); 0: a day, as ca_crl_refresh(). */
	int64_t crl_refresh_before;
	/* custody.yaml rotation.push: custodyd pushes the admin passwords
	 * each tick rotated (sched_tick() itself has no network side and
	 * ignores it). */
	int push;
	/* custody.yaml rotation.kerberos with directory.ad: custodyd rotates
	 * the AD device objects due under this age (directory.ad
	 * object_max_age), at most batch per tick, as device.kerberos
	 * --rotate --due over exactly those devices; 0: not. sched_tick()
	 * ignores it (the ops layer's, like push). */
	int64_t krb_max_age;
};

/* The active devices whose current secret of kind ("admin", "mebx" or
 * "console:NAME") is
 * due at now under max_age and jitter and that have no pending version,
 * in id order, at most limit (1 or more): new array in *ids_out (free()),
 * *n_out of them. max_age 0 gives none. */
int sched_due(struct cust_state *st, const char *kind, int64_t max_age,
    int64_t jitter, int64_t now, size_t limit, int64_t **ids_out,
    size_t *n_out) __attribute__((warn_unused_result));

/* The devices a tick may rotate at rate_limit devices per second with
 * ticks every interval_ms: at least 1, at most 1000000; 0 (no limit)
 * when rate_limit is 0. */
size_t sched_tick_budget(unsigned rate_limit, int64_t interval_ms);

/* One tick at util_now() as actor. *report_out (may be NULL) = new
 * {"swept", "resumed": [job ids], "crls", "server_renewed" (0 or 1),
 * "superseded" (client certificates revoked),
 * "rotations": [{"kind", "job",
 * "devices", "rotated", "refused"}], "errors": [messages], and the
 * devices' outcomes of every rotation of the tick, resumed or new:
 * "rotated", "refused", "missing"}. Returns the
 * first error (the report says which steps ran); CUST_OK when every
 * step did. */
int sched_tick(struct cust_state *st, const char *actor,
    const struct sched_policy *p, json_t **report_out)
	__attribute__((warn_unused_result));

#endif
