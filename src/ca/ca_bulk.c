/* SPDX-License-Identifier: MIT */
/* src/ca/ca_bulk.c - bulk signing of device CSRs with parallel signer
 * sessions.
 *
 * The signature is nearly all of the cost of a certificate, and one core
 * signs only so fast; a fleet enrolment of many devices would otherwise
 * leave the other cores idle. Each chunk goes through four phases, and
 * only the last holds the write lock (so another writer waits behind one
 * chunk's inserts, never behind its signatures):
 *   0. (this thread, no transaction) check every item, refusing and
 *      auditing bad ones exactly as ca_sign_csr() does: a refusal is
 *      recorded on its own, so no later failure of the chunk takes it back;
 *   1. (this thread) open the issuer, reserve the chunk's serials in one
 *      short committed transaction, build the complete TBS of each;
 *   2. (workers, no transaction) sign: each worker has its own signer
 *      session (so a token or key process can hand out one per thread),
 *      opened before and closed (wiped) after by this thread, and takes
 *      items from a shared counter;
 *   3. (this thread, in the chunk's write transaction) check the issuer
 *      again, record each certificate whose device is still registered
 *      (one removed meanwhile is refused, audited once the transaction has
 *      ended), its CSR and its audit entry, consuming its reservation;
 *      commit. Reservations of what was not recorded are released.
 * The store, the seal and the audit chain are only touched from this
 * thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

#define BULK_THREADS_MAX	16

struct pending {
	size_t idx;			/* item index */
	int64_t dev;
	X509_REQ *req;
	X509 *x;
	int r;				/* signing result */
	int refused;			/* device gone: audited after the txn */
	char name[CUST_MAX_FQDN + 1];
	char san[CUST_MAX_FQDN + 8];
	char msg[256];			/* worker error text */
};

struct signjob {
	struct ca_gen *g;
	struct pending *p;
	size_t n;
	size_t next;			/* shared counter (under lock) */
	pthread_mutex_t lock;
};

struct signer_thread {
	struct signjob *job;
	void *sess;
};

static struct pending *
take(struct signjob *j)
{
	struct pending *p = NULL;

	pthread_mutex_lock(&j->lock);
	if (j->next < j->n)
		p = &j->p[j->next++];
	pthread_mutex_unlock(&j->lock);
	return p;
}

/* A worker only signs: it touches neither the store nor the seal. */
static void *
worker(void *arg)
{
	struct signer_thread *t = arg;
	struct pending *p;

	while ((p = take(t->job)) != NULL) {
		if (p->x == NULL)
			continue;	/* refused in phase 1 */
		p->r = ca_signer()->sign_cert(t->sess, p->x, t->job->g->md);
		if (p->r != CUST_OK)
			snprintf(p->msg, sizeof(p->msg), "%s", cust_errmsg());
	}
	return NULL;
}

/*
 * Sign p[0..n) with up to nthreads sessions. The sessions are opened (the
 * key unsealed, from the store) here, one per worker, before any thread
 * starts, and closed (wiped) here after the last one ends. Fewer sessions
 * than asked for mean fewer workers; none is an error.
 */
static int
sign_all(struct cust_state *st, struct ca_gen *g, struct pending *p,
    size_t n, int nthreads)
{
	const struct ca_signer_ops *sg = ca_signer();
	struct signjob j;
	struct signer_thread th[BULK_THREADS_MAX];
	pthread_t tid[BULK_THREADS_MAX];
	int nsess = 0, started = 0, i, r = CUST_OK;

	if (n == 0)
		return CUST_OK;
	memset(&j, 0, sizeof(j));
	j.g = g;
	j.p = p;
	j.n = n;
	if ((size_t)nthreads > n)
		nthreads = (int)n;
	for (i = 0; i < nthreads; i++) {
		th[i].job = &j;
		if ((r = sg->open(st, g->gen, "issuing", &th[i].sess)) !=
		    CUST_OK)
			break;
		nsess++;
	}
	if (nsess == 0)
		return r;
	if (pthread_mutex_init(&j.lock, NULL) != 0) {
		r = cust_fail(CUST_E_INTERNAL, "cannot create a lock");
		goto out;
	}
	/* The first share is signed on this thread. */
	for (i = 1; i < nsess; i++) {
		if (pthread_create(&tid[started], NULL, worker, &th[i]) != 0)
			break;
		started++;
	}
	worker(&th[0]);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&j.lock);
	r = CUST_OK;
out:
	for (i = 0; i < nsess; i++)
		sg->close(th[i].sess);
	return r;
}

static json_t *
item_error(const char *fqdn, int code, const char *msg)
{
	return json_pack("{s:s?, s:s, s:s}", "fqdn", fqdn, "error",
	    cust_strerror(code), "message", msg);
}

/* Errors that end the whole bulk request rather than refuse one item. */
static int
fatal(int r)
{
	return r == CUST_E_DB || r == CUST_E_IO || r == CUST_E_SEALED ||
	    r == CUST_E_NOMEM || r == CUST_E_INTERNAL;
}

/* Phase 0 for one item, outside any transaction: refuse it (audited, the
 * error into results; CUST_OK with p->req NULL), or keep its device and
 * parsed CSR in p. */
static int
precheck(struct cust_state *st, const char *actor,
    const struct ca_bulk_item *it, struct pending *p, json_t *results)
{
	int r;

	r = ca_device_precheck(st, actor, "cert.sign", it->fqdn, it->csr,
	    it->len, &p->dev, &p->req);
	if (r == CUST_OK || fatal(r))
		return r;
	return json_array_set_new(results, p->idx, item_error(it->fqdn, r,
	    cust_errmsg())) == 0 ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}

/* Phase 1 for one item, no transaction open: build its TBS into p with
 * its reserved serial. */
static int
prepare(struct cust_state *st, struct ca_issuer *is, const char *actor,
    const struct ca_bulk_item *it, struct pending *p, const char *hex)
{
	struct ca_leaf lf;

	ca_device_leaf(&lf, is, actor, "cert.sign", it->fqdn, p->name,
	    p->san, p->dev, p->req, 0);
	lf.serial = hex;
	return ca_leaf_build(st, is, &lf, &p->x);
}

/* After the chunk's transaction: audit what phase 1 refused. */
static int
late_refusals(struct cust_state *st, const char *actor,
    const struct ca_bulk_item *items, struct pending *p, size_t n,
    json_t *results)
{
	char obj[CUST_MAX_FQDN + 16];
	size_t i;
	int r = CUST_OK;

	for (i = 0; i < n; i++) {
		if (!p[i].refused)
			continue;
		ca_object(obj, sizeof(obj), "device", items[p[i].idx].fqdn);
		cust_fail(CUST_E_NOTFOUND, "%s", p[i].msg);
		(void)ca_refuse(st, actor, "cert.sign", obj, CUST_E_NOTFOUND);
		if (r == CUST_OK && json_array_set_new(results, p[i].idx,
		    item_error(items[p[i].idx].fqdn, CUST_E_NOTFOUND,
		    p[i].msg)) != 0)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
	}
	return r;
}

/* Phase 3 for one signed item, in the transaction: CSR, certificate,
 * audit, response; or refused when its device is gone (audited after the
 * transaction). */
static int
record(struct cust_state *st, struct ca_issuer *is, const char *actor,
    const struct ca_bulk_item *it, struct pending *p, const char *hex,
    json_t *results, size_t *issued)
{
	struct ca_leaf lf;
	json_t *info = NULL;
	int r;

	if (p->r != CUST_OK)
		return json_array_set_new(results, p->idx, item_error(p->name,
		    p->r, p->msg)) == 0 ? CUST_OK :
		    cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = ca_device_current(st, it->fqdn, p->dev)) != CUST_OK) {
		if (r != CUST_E_NOTFOUND)
			return r;
		p->refused = 1;
		snprintf(p->msg, sizeof(p->msg), "%s", cust_errmsg());
		return CUST_OK;
	}
	ca_device_leaf(&lf, is, actor, "cert.sign", p->name, p->name, p->san,
	    p->dev, p->req, 0);
	lf.serial = hex;
	if ((r = ca_csr_insert(st, p->dev, p->req, &lf.csr_id)) != CUST_OK ||
	    (r = ca_leaf_record(st, is, &lf, p->x, &info)) != CUST_OK ||
	    (r = ca_add_pems(info, is, p->x)) != CUST_OK) {
		json_decref(info);
		return r;
	}
	(*issued)++;
	return json_array_set_new(results, p->idx, info) == 0 ? CUST_OK :
	    cust_fail(CUST_E_NOMEM, "out of memory");
}

static void
pending_clear(struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		X509_free(p[i].x);
		X509_REQ_free(p[i].req);
	}
	memset(p, 0, n * sizeof(*p));
}

static int
bulk_chunk(struct cust_state *st, const char *actor,
    const struct ca_bulk_item *items, size_t from, size_t n, int nthreads,
    struct pending *p, char (*hex)[CA_SERIAL_HEXLEN], json_t *results,
    size_t *issued)
{
	struct ca_issuer is;
	size_t i, k = 0, done = 0;
	int r;

	memset(&is, 0, sizeof(is));
	/* Phase 0: no transaction is open, each refusal is its own record. */
	for (i = 0; i < n; i++) {
		p[k].idx = from + i;
		if ((r = precheck(st, actor, &items[from + i], &p[k],
		    results)) != CUST_OK) {
			pending_clear(p, k + 1);
			return r;
		}
		if (p[k].req != NULL)
			k++;
		else
			pending_clear(&p[k], 1);
	}
	if (k == 0)
		return CUST_OK;
	memset(hex, 0, k * sizeof(*hex));
	/* Phase 1: the serials are reserved (committed) before any
	 * signature, so no transaction is open while the workers sign. */
	if ((r = ca_issuer_open(st, actor, "cert.sign", "ca:bulk", &is)) !=
	    CUST_OK) {
		pending_clear(p, k);
		return r;
	}
	if ((r = ca_serial_reserve(st, is.g->gen, "bulk", hex, k)) !=
	    CUST_OK) {
		memset(hex, 0, k * sizeof(*hex));
		goto fail;
	}
	for (i = 0; i < k; i++)
		if ((r = prepare(st, &is, actor, &items[p[i].idx], &p[i],
		    hex[i])) != CUST_OK)
			goto fail;
	if ((r = sign_all(st, is.g, p, k, nthreads)) != CUST_OK)
		goto fail;
	/* Phase 3: the only part under the write lock. */
	if ((r = store_begin(state_store(st))) != CUST_OK)
		goto fail;
	if ((r = ca_issuer_recheck(st, &is)) != CUST_OK)
		goto fail;
	for (i = 0; i < k; i++)
		if ((r = record(st, &is, actor, &items[p[i].idx], &p[i],
		    hex[i], results, &done)) != CUST_OK)
			goto fail;
	if ((r = store_commit(state_store(st))) != CUST_OK)
		goto fail;
	*issued += done;
	/* Recorded ones consumed their reservation; release the rest. */
	for (i = 0; i < k; i++)
		if (p[i].r == CUST_OK && !p[i].refused)
			hex[i][0] = '\0';
	ca_serial_release(st, hex, k);
	r = late_refusals(st, actor, items, p, k, results);
	pending_clear(p, k);
	ca_issuer_close(&is);
	return r;
fail:
	store_rollback(state_store(st));
	ca_serial_release(st, hex, k);
	(void)late_refusals(st, actor, items, p, k, results);
	pending_clear(p, k);
	ca_issuer_close(&is);
	return r;
}

int
ca_sign_bulk(struct cust_state *st, const char *actor,
    const struct ca_bulk_item *items, size_t n, int threads,
    json_t **results_out, size_t *issued_out)
{
	struct pending *p = NULL;
	char (*hex)[CA_SERIAL_HEXLEN] = NULL;
	json_t *results = NULL;
	size_t from, i;
	long ncpu;
	int r = CUST_OK;

	*results_out = NULL;
	*issued_out = 0;
	if (threads <= 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = ncpu > 0 ? (int)ncpu : 1;
	}
	if (threads > BULK_THREADS_MAX)
		threads = BULK_THREADS_MAX;
	if ((results = json_array()) == NULL ||
	    (p = calloc(CA_BULK_CHUNK, sizeof(*p))) == NULL ||
	    (hex = calloc(CA_BULK_CHUNK, sizeof(*hex))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (json_array_append_new(results, json_null()) != 0) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
	for (from = 0; from < n && r == CUST_OK; from += CA_BULK_CHUNK)
		r = bulk_chunk(st, actor, items, from, n - from < CA_BULK_CHUNK ?
		    n - from : CA_BULK_CHUNK, threads, p, hex, results,
		    issued_out);
	if (r == CUST_OK) {
		*results_out = results;
		results = NULL;
	}
out:
	free(p);
	free(hex);
	json_decref(results);
	return r;
}
