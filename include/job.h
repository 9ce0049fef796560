/* SPDX-License-Identifier: MIT */
/* include/job.h - jobs: bulk work recorded in the store, with per-device
 * results, that survives the death of the process running it.
 *
 * A job fixes the devices it covers when it starts (its targets) and
 * records one item per device and kind in the same transaction as the
 * work on that device. A process killed mid-way leaves its job 'running'
 * with a process that no longer exists: job_sweep() (run by every job
 * operation, and by custodyd at start-up) marks it 'interrupted', its
 * items intact. job_resume() does the targets that have no item yet, so
 * no device is done twice.
 *
 * States: running, done, failed (an error stopped it; resumable),
 * interrupted (its process died; resumable).
 */
#ifndef CUST_JOB_H
#define CUST_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct cust_state;
struct cred_rotate_result;

/* Job kinds. */
#define JOB_KIND_ROTATE	"password.rotate"
#define JOB_KIND_IMPORT	"device.import"
#define JOB_KIND_VERIFY	"password.verify"
#define JOB_KIND_PUSH	"device.push"
#define JOB_KIND_APPLY	"policy.apply"
#define JOB_KIND_PROVISION "cert.provision"
#define JOB_KIND_KERBEROS "device.kerberos"

/* What a rotation job does to each device. */
struct job_rotate_spec {
	const char *kind;	/* "admin", "mebx" or "all" */
	size_t pwlen;
	int replace_pending;
	/* The rotation is pushed to the devices when it ends (password
	 * rotate --push): recorded in its params ("push": true), so that
	 * whoever resumes it pushes too. */
	int push;
};

/* Mark every 'running' job whose process is gone 'interrupted';
 * *found_out (may be NULL) = how many. */
int job_sweep(struct cust_state *st, size_t *found_out)
	__attribute__((warn_unused_result));

/* Rotate spec->kind on the devices ids[0..n) as a new job, recorded with
 * selector (a JSON object saying how the devices were chosen: borrowed,
 * never a secret). *id_out = the job's id as soon as it exists (also on
 * failure, 0 when it was never made). res as cred_rotate() fills it (its
 * items when want_items). Returns as cred_rotate() (CUST_E_CONFLICT: it
 * ran to the end with refusals), except that a store conflict that
 * stopped it part-way is CUST_E_INTERNAL; the job ends 'done' (every
 * device has its result, refusals included) or 'failed' (the message
 * says how to resume it). */
int job_rotate(struct cust_state *st, const char *actor, json_t *selector,
    const int64_t *ids, size_t n, const struct job_rotate_spec *spec,
    int want_items, void (*progress)(void *arg, size_t done, size_t total),
    void *arg, int64_t *id_out, struct cred_rotate_result *res)
	__attribute__((warn_unused_result));

/* Import devices (cred_device_import()) as a new job, recorded with
 * selector (a JSON object describing the input: borrowed, never a
 * secret) and parameters {"length": pwlen, "import": the staged import's
 * id}. Its total is the devices staged so far (its progress); it turns
 * 'done' in the very transaction that publishes the import, so a done
 * import job is exactly an import that is there. An import job is not
 * resumable (its input is not kept: it may hold passwords): one whose
 * process died is 'interrupted' and abandoned (its staged devices
 * deleted by the sweep; nothing of it was ever visible), one stopped by
 * an error 'failed', likewise nothing imported: run the import again.
 * *id_out as job_rotate(); returns as cred_device_import(). */
int job_import(struct cust_state *st, const char *actor, json_t *selector,
    const char *buf, size_t len, size_t pwlen, int64_t *id_out,
    size_t *count_out) __attribute__((warn_unused_result));

/* Verify every secret (cred_verify()) as a new job: one result per device
 * and kind, 'ok' (version: the newest checked) or 'problem' (detail: the
 * first problem found), written in batches when the check has run; total
 * = devices checked. Not resumable (it changes nothing: run it again).
 * *id_out as job_rotate(); *out and the return as cred_verify(). */
int job_verify(struct cust_state *st, const char *actor, int64_t *id_out,
    json_t **out) __attribute__((warn_unused_result));

/* Resume job id ('interrupted' or 'failed'): do the targets that have no
 * item yet (*left_out of them), with the job's own parameters.
 * CUST_E_NOTFOUND without such a job, CUST_E_CONFLICT (nothing done, *left_out
 * 0) when it is running or done, or an import; else as job_rotate(). */
int job_resume(struct cust_state *st, const char *actor, int64_t id,
    int want_items, void (*progress)(void *arg, size_t done, size_t total),
    void *arg, size_t *left_out, struct cred_rotate_result *res)
	__attribute__((warn_unused_result));

/*
 * The parts of a job, for work done outside src/sched (a push, whose
 * network side lives in src/api):
 * - job_start(): a new 'running' job of kind over the devices ids[0..n)
 *   (selector and params: JSON objects, borrowed, never a secret);
 *   *id_out its id, *sorted_out (free()) its targets in id order, each
 *   once, *m_out of them.
 * - job_item_add(): one device's result (version 0: none; detail may be
 *   NULL), in the caller's transaction or its own; again for the same
 *   device and kind replaces it.
 * - job_end(): its end from r, as job_rotate() ends (done when r is OK,
 *   or CUST_E_CONFLICT with every target done; failed otherwise, the
 *   message saying how to resume it); returns r, as job_rotate() would.
 * - job_take(): claim job id of kind want ('interrupted' or 'failed') for
 *   this process: *params_out (new), the targets without an item
 *   (*ids_out, free(), *n_out of them) and *total_out. Errors as
 *   job_resume() (CUST_E_CONFLICT for another kind, too).
 * - job_take_own(): as job_take(), for job id that this process started
 *   or claimed and runs ('running' with its pid): not claimed again
 *   (CUST_E_CONFLICT for any other job). A service that records a job in
 *   one thread and runs it in another (custodyd's job threads).
 * - job_interrupt(): job id, 'running', stopped at a device boundary
 *   (the process is stopping): 'interrupted' with why as its message, so
 *   that a resumption does the rest (custodyd's scheduler, job resume).
 * - job_kind_of(): the kind of job id into kind (len bytes).
 */
int job_start(struct cust_state *st, const char *actor, const char *kind,
    json_t *selector, json_t *params, const int64_t *ids, size_t n,
    int64_t *id_out, int64_t **sorted_out, size_t *m_out)
	__attribute__((warn_unused_result));
int job_item_add(struct cust_state *st, int64_t job, int64_t device_id,
    const char *kind, const char *result, int64_t version, const char *detail)
	__attribute__((warn_unused_result));
int job_end(struct cust_state *st, int64_t job, int r);
int job_take(struct cust_state *st, int64_t id, const char *want,
    json_t **params_out, int64_t **ids_out, size_t *n_out, size_t *total_out)
	__attribute__((warn_unused_result));
int job_take_own(struct cust_state *st, int64_t id, const char *want,
    json_t **params_out, int64_t **ids_out, size_t *n_out, size_t *total_out)
	__attribute__((warn_unused_result));
int job_interrupt(struct cust_state *st, int64_t id, const char *why);
/* The devices of job id with an item whose result is result ("ok"), in id
 * order: *ids_out (free()), *n_out of them. */
int job_item_ids(struct cust_state *st, int64_t id, const char *result,
    int64_t **ids_out, size_t *n_out) __attribute__((warn_unused_result));
int job_kind_of(struct cust_state *st, int64_t id, char *kind, size_t len)
	__attribute__((warn_unused_result));

/* One page of jobs, newest first: those with id < before (0: from the
 * newest), at most limit. *out = new JSON array of job objects
 * {"id", "kind", "state", "actor", "selector", "params", "total", "done",
 * "created", "changed", "message", "resumable"}. */
int job_list(struct cust_state *st, int64_t before, size_t limit,
    json_t **out) __attribute__((warn_unused_result));

/* Job id as a job object (as job_list) with "results" (counts by result:
 * ok, refused, missing) and "items": one page of per-device results
 * {"seq", "fqdn", "kind", "result", "version", "detail"} with seq > after,
 * at most limit. New object in *out. CUST_E_NOTFOUND without the job. */
int job_show(struct cust_state *st, int64_t id, int64_t after, size_t limit,
    json_t **out) __attribute__((warn_unused_result));

#endif
