/* SPDX-License-Identifier: MIT */
/* src/cli/cli_remote.c - custodyctl's remote backend: operations posted to
 * custodyd over HTTPS with a client certificate (libcurl).
 *
 * The wire contract (doc/internals/SERVICE.md): POST {URL}/v1/ops/<op>
 * with the JSON request as body; 200 and the operation's JSON reply, or
 * an HTTP error status with {"error": cust_errname(code), "message": ...}.
 * The name is mapped back with cust_errcode(), so a command exits with
 * the code local mode would give for the same failure.
 *
 * Secrets: the client key is read once through a descriptor checked like
 * the master key (owner, 0600 or stricter, no symlink) into memory that is
 * wiped, and handed to curl as a blob; request and reply bodies (a reply
 * may carry a password) live in buffers wiped before they are freed, and
 * jansson's own blocks are wiped by the allocator cust_init() installs.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "cli.h"
#include "err.h"
#include "util.h"
#include "version.h"

/* A client key file larger than this is not a PEM key. */
#define KEY_MAX		(64 * 1024)

/* One connection to the server: a curl handle kept alive across
 * requests, and where curl puts its error text. */
struct conn {
	CURL *h;
	char err[CURL_ERROR_SIZE];
};

struct cli_remote {
	struct conn main;	/* every operation goes through it */
	struct conn watch;	/* job progress while main waits (--wait) */
	struct curl_slist *hdrs;
	char *server;		/* "https://host:port", no trailing '/' */
	char *cacert;		/* path shown in messages */
	char *cert;		/* client certificate path, or NULL */
	long timeout;
	unsigned char *key;	/* the client key (sodium_malloc), or NULL */
	size_t keylen;
	int global;		/* curl_global_init() done */
};

/* A growing buffer whose every old copy is wiped. */
struct rbuf {
	char *p;
	size_t len, cap;
	int over;		/* the reply went past CLI_REMOTE_MAX */
};

static void
rbuf_free(struct rbuf *b)
{
	if (b->p != NULL) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

static size_t
on_data(char *data, size_t size, size_t n, void *arg)
{
	struct rbuf *b = arg;
	size_t len = size * n, cap;
	char *p;

	if (len > CLI_REMOTE_MAX - b->len) {
		b->over = 1;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 16384;
		while (cap < b->len + len + 1)
			cap *= 2;
		/* No realloc(): it could leave the old copy unwiped. */
		if ((p = malloc(cap)) == NULL)
			return 0;
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			sodium_memzero(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* The server URL as given, checked: https only, no query or fragment,
 * nothing a terminal or a header would misread; *out new, without a
 * trailing '/'. */
static int
server_url(const char *url, char **out)
{
	size_t n;
	const char *p;

	*out = NULL;
	if (url == NULL || strncmp(url, "https://", 8) != 0 || url[8] == '\0' ||
	    url[8] == '/')
		return cust_fail(CUST_E_INVAL, "--server: '%s' is not an "
		    "https:// URL (https://HOST[:PORT])", url ? url : "");
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' ||
		    *p == '#')
			return cust_fail(CUST_E_INVAL, "--server: '%s' is not a "
			    "plain https://HOST[:PORT] URL", url);
	/* No user:password@ before the host: curl would send them, and a
	 * password does not belong in argv or the environment. */
	if ((p = strchr(url + 8, '@')) != NULL && p < url + 8 + strcspn(url +
	    8, "/"))
		return cust_fail(CUST_E_INVAL, "--server: '%s' carries a user "
		    "name before the host: give https://HOST[:PORT] (custodyd "
		    "knows its clients by their certificates)", url);
	n = strlen(url);
	while (n > 8 && url[n - 1] == '/')
		n--;
	if ((*out = strndup(url, n)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
}

/* Read the client key file into *key_out (sodium_malloc, wiped by
 * sodium_free): opened once, never through a symlink, refused unless a
 * regular file of ours with no group or other permissions. */
static int
read_key(const char *path, unsigned char **key_out, size_t *len_out)
{
	unsigned char *k = NULL;
	size_t len = 0;
	ssize_t got;
	int fd, r;

	*key_out = NULL;
	*len_out = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		if (errno == ELOOP)
			return cust_fail(CUST_E_PERM, "client key %s is a "
			    "symbolic link: refusing it", path);
		return cust_fail(CUST_E_INVAL, "cannot open client key %s: %s",
		    path, strerror(errno));
	}
	if ((r = util_check_secrecy_fd(fd, path)) != CUST_OK)
		goto out;
	if ((k = sodium_malloc(KEY_MAX)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		got = read(fd, k + len, KEY_MAX - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			r = cust_fail(CUST_E_IO, "cannot read client key %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len == KEY_MAX) {
			r = cust_fail(CUST_E_INVAL, "client key %s is larger "
			    "than %d bytes: not a key", path, KEY_MAX);
			goto out;
		}
	}
	if (len == 0) {
		r = cust_fail(CUST_E_INVAL, "client key %s is empty", path);
		goto out;
	}
	*key_out = k;
	*len_out = len;
	k = NULL;
	r = CUST_OK;
out:
	sodium_free(k);
	close(fd);
	return r;
}

/* A file curl is to read (certificate, CA bundle): there and readable,
 * so that the message names the option rather than a TLS failure. */
static int
readable(const char *what, const char *path)
{
	if (access(path, R_OK) == -1)
		return cust_fail(CUST_E_INVAL, "%s %s: %s", what, path,
		    strerror(errno));
	return CUST_OK;
}

/* curl's OpenSSL context: the decrypted records (replies: passwords)
 * are wiped once read, not left in OpenSSL's buffers. */
static CURLcode
ssl_ctx_setup(CURL *h, void *sslctx, void *arg)
{
	SSL_CTX_set_options((SSL_CTX *)sslctx, SSL_OP_CLEANSE_PLAINTEXT);
	return CURLE_OK;
}

/* Open connection co to rm's server with rm's TLS settings: TLS 1.2 or
 * later, the server verified against the CA bundle only, the client
 * certificate and key when given, https only, no redirects. */
static int
conn_open(struct cli_remote *rm, struct conn *co)
{
	struct curl_blob blob;
	CURL *h;

	if ((co->h = h = curl_easy_init()) == NULL)
		return cust_fail(CUST_E_NOMEM, "cannot start libcurl");
	if (curl_easy_setopt(h, CURLOPT_ERRORBUFFER, co->err) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_CAINFO, rm->cacert) ||
	    curl_easy_setopt(h, CURLOPT_CAPATH, NULL) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)CLI_REMOTE_MAX) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "custodyctl/" CUSTODY_VERSION) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, rm->hdrs) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_setup) ||
	    (rm->timeout > 0 && curl_easy_setopt(h, CURLOPT_TIMEOUT,
	    rm->timeout)))
		return cust_fail(CUST_E_INTERNAL, "libcurl refused an option");
	if (rm->key != NULL) {
		/* NOCOPY: curl reads our wiped buffer, no copy of its own. */
		blob.data = rm->key;
		blob.len = rm->keylen;
		blob.flags = CURL_BLOB_NOCOPY;
		if (curl_easy_setopt(h, CURLOPT_SSLCERT, rm->cert) ||
		    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob) ||
		    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM"))
			return cust_fail(CUST_E_INTERNAL, "libcurl refused an "
			    "option");
	}
	return CUST_OK;
}

int
cli_remote_new(const struct cli_remote_conf *conf, struct cli_remote **out)
{
	struct cli_remote *rm;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if ((rm = calloc(1, sizeof(*rm))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = server_url(conf->server, &rm->server)) != CUST_OK)
		goto out;
	if (conf->cacert == NULL || *conf->cacert == '\0') {
		r = cust_fail(CUST_E_INVAL, "remote mode needs --cacert FILE "
		    "(or CUSTODY_CACERT): custody's CA bundle, to verify "
		    "custodyd");
		goto out;
	}
	if ((conf->cert == NULL || *conf->cert == '\0') !=
	    (conf->key == NULL || *conf->key == '\0')) {
		r = cust_fail(CUST_E_INVAL, "give both --cert and --key (or "
		    "CUSTODY_CERT and CUSTODY_KEY), or neither");
		goto out;
	}
	if ((r = readable("--cacert", conf->cacert)) != CUST_OK)
		goto out;
	if (conf->cert != NULL && *conf->cert != '\0' &&
	    ((r = readable("--cert", conf->cert)) != CUST_OK ||
	    (r = read_key(conf->key, &rm->key, &rm->keylen)) != CUST_OK))
		goto out;
	if ((rm->cacert = strdup(conf->cacert)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (conf->cert != NULL && *conf->cert != '\0' &&
	    (rm->cert = strdup(conf->cert)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	rm->timeout = conf->timeout;
	/* Before any other libcurl call: what it allocates before would be
	 * freed by the other allocator. */
	if ((r = cust_curl_init()) != CUST_OK)
		goto out;
	rm->global = 1;
	rm->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (rm->hdrs != NULL)
		rm->hdrs = curl_slist_append(rm->hdrs,
		    "Accept: application/json");
	if (rm->hdrs != NULL)
		rm->hdrs = curl_slist_append(rm->hdrs, "Expect:");
	if (rm->hdrs == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = conn_open(rm, &rm->main)) != CUST_OK)
		goto out;
	cust_clearerr();
	*out = rm;
	rm = NULL;
	r = CUST_OK;
out:
	cli_remote_free(rm);
	return r;
}

void
cli_remote_free(struct cli_remote *rm)
{
	if (rm == NULL)
		return;
	if (rm->main.h != NULL)
		curl_easy_cleanup(rm->main.h);
	if (rm->watch.h != NULL)
		curl_easy_cleanup(rm->watch.h);
	if (rm->global)
		curl_global_cleanup();
	curl_slist_free_all(rm->hdrs);
	sodium_free(rm->key);
	free(rm->server);
	free(rm->cacert);
	free(rm->cert);
	free(rm);
}

/* The code an HTTP status stands for when the reply carries no error
 * name (a proxy's page, a server that failed before its JSON layer). */
static int
status_code(long status)
{
	switch (status) {
	case 400:
		return CUST_E_INVAL;
	case 401:
	case 403:
		return CUST_E_DENIED;
	case 404:
		return CUST_E_NOTFOUND;
	case 409:
		return CUST_E_CONFLICT;
	case 413:
		return CUST_E_TOOBIG;
	case 422:
		return CUST_E_VIOLATION;
	case 502:
	case 503:
	case 504:
		return CUST_E_UNAVAIL;
	default:
		/* A redirect: not the service (it never redirects). */
		if (status >= 300 && status < 400)
			return CUST_E_UNAVAIL;
		return CUST_E_INTERNAL;
	}
}

int
cli_remote_reply(const char *server, const char *op, long status,
    const char *body, size_t len, json_t **resp_out)
{
	json_t *v, *name, *msg;
	int code;

	*resp_out = NULL;
	v = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
	/* 202: custodyd runs a job it answered for at once ("async"). */
	if (status == 200 || status == 202) {
		if (!json_is_object(v)) {
			json_decref(v);
			return cust_fail(CUST_E_UNAVAIL, "custodyd at %s sent a "
			    "reply to %s that is not a JSON object", server, op);
		}
		*resp_out = v;
		return CUST_OK;
	}
	name = json_object_get(v, "error");
	msg = json_object_get(v, "message");
	if (json_is_string(name)) {
		code = cust_errcode(json_string_value(name));
		/* "ok" under an error status is no success. */
		if (code == CUST_OK)
			code = CUST_E_INTERNAL;
	} else {
		code = status_code(status);
	}
	/* The server's words, as local mode would print them (cust_fail()
	 * escapes anything a terminal would act on). */
	if (json_is_string(msg) && *json_string_value(msg) != '\0')
		cust_fail(code, "%s", json_string_value(msg));
	else if (status == 401)
		cust_fail(code, "custodyd at %s: %s needs a client certificate "
		    "custody knows (--cert, --key)", server, op);
	else if (status >= 300 && status < 400)
		cust_fail(code, "%s answered HTTP %ld (a redirect) to %s: "
		    "custodyctl does not follow redirects; give --server the "
		    "service's own URL", server, status, op);
	else
		cust_fail(code, "custodyd at %s answered HTTP %ld to %s (%s)",
		    server, status, op, cust_strerror(code));
	json_decref(v);
	return code;
}

/* The error for a request curl could not complete on co. */
static int
transport_error(struct cli_remote *rm, struct conn *co, CURLcode cc,
    const struct rbuf *b)
{
	const char *why = co->err[0] ? co->err : curl_easy_strerror(cc);

	if (b->over)
		return cust_fail(CUST_E_UNAVAIL, "custodyd at %s sent a reply "
		    "larger than %d bytes: refused", rm->server,
		    CLI_REMOTE_MAX);
	switch (cc) {
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return cust_fail(CUST_E_INVAL, "cannot use the client "
		    "certificate, key or CA bundle for %s: %s", rm->server,
		    why);
	case CURLE_PEER_FAILED_VERIFICATION:
		return cust_fail(CUST_E_UNAVAIL, "custodyd at %s: its "
		    "certificate does not verify against %s: %s", rm->server,
		    rm->cacert, why);
	case CURLE_OPERATION_TIMEDOUT:
		return cust_fail(CUST_E_UNAVAIL, "custodyd at %s did not "
		    "answer in time: %s", rm->server, why);
	default:
		return cust_fail(CUST_E_UNAVAIL, "cannot reach custodyd at "
		    "%s: %s", rm->server, why);
	}
}

/* POST op with req on connection co; as cli_remote_call(). */
static int
post(struct cli_remote *rm, struct conn *co, const char *op, json_t *req,
    json_t **resp_out)
{
	struct rbuf b = { 0 };
	char *url = NULL, *body = NULL;
	size_t blen = 2, need;
	const char *p;
	long status = 0;
	CURLcode cc;
	int r = CUST_E_INTERNAL;

	*resp_out = NULL;
	for (p = op; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-'))
			return cust_fail(CUST_E_INVAL, "bad operation name "
			    "'%s'", op);
	if (asprintf(&url, "%s/v1/ops/%s", rm->server, op) == -1) {
		url = NULL;
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	/* The request may hold secrets (an import's passwords): dumped
	 * into a buffer of ours, wiped below. */
	need = req != NULL ? json_dumpb(req, NULL, 0, JSON_COMPACT) : 0;
	blen = need > 0 ? need : 2;
	if ((body = malloc(blen)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (need == 0 || json_dumpb(req, body, need, JSON_COMPACT) != need)
		memcpy(body, "{}", 2);
	co->err[0] = '\0';
	if (curl_easy_setopt(co->h, CURLOPT_URL, url) ||
	    curl_easy_setopt(co->h, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(co->h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)blen) ||
	    curl_easy_setopt(co->h, CURLOPT_WRITEDATA, &b)) {
		r = cust_fail(CUST_E_INTERNAL, "libcurl refused an option");
		goto out;
	}
	cc = curl_easy_perform(co->h);
	if (cc != CURLE_OK) {
		r = transport_error(rm, co, cc, &b);
		goto out;
	}
	(void)curl_easy_getinfo(co->h, CURLINFO_RESPONSE_CODE, &status);
	r = cli_remote_reply(rm->server, op, status, b.p, b.len, resp_out);
out:
	/* Nothing of this request stays with curl past it. */
	(void)curl_easy_setopt(co->h, CURLOPT_POSTFIELDS, NULL);
	if (body != NULL) {
		sodium_memzero(body, blen);
		free(body);
	}
	rbuf_free(&b);
	free(url);
	return r;
}

/*
 * --wait in remote mode. custodyd answers a rotation when it is done, so
 * while the main connection waits, a thread asks for the job's progress
 * once a second on a second connection (job.list, the newest jobs) and
 * reports it. The job is the one resumed (job.resume: its id), or for
 * password.rotate the first rotation job newer than the newest job before
 * the request: another rotation started in the same second could be
 * shown instead, which only misleads the display, never the result.
 */
struct watch {
	struct cli_remote *rm;
	const char *kind;	/* job kind to look for, or NULL: id */
	json_int_t id;		/* the job (job.resume), or 0 */
	json_int_t above;	/* newest job id before the request */
	void (*progress)(void *arg, size_t done, size_t total);
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* One look at the jobs: report the watched one's progress. */
static void
watch_once(struct watch *w)
{
	json_t *req, *resp = NULL, *j;
	size_t i;

	if ((req = json_pack("{s:i}", "limit", 20)) == NULL)
		return;
	if (post(w->rm, &w->rm->watch, "job.list", req, &resp) == CUST_OK)
		json_array_foreach(json_object_get(resp, "jobs"), i, j) {
			json_int_t id = json_integer_value(json_object_get(j,
			    "id"));

			if (w->id != 0 ? id != w->id : id <= w->above ||
			    !json_is_string(json_object_get(j, "kind")) ||
			    strcmp(json_string_value(json_object_get(j,
			    "kind")), w->kind) != 0)
				continue;
			w->progress(w->arg, (size_t)json_integer_value(
			    json_object_get(j, "done")), (size_t)
			    json_integer_value(json_object_get(j, "total")));
			break;
		}
	json_decref(resp);
	json_decref(req);
}

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	struct timespec at;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += 1;
		if (pthread_cond_timedwait(&w->cv, &w->mu, &at) == 0 ||
		    w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		watch_once(w);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* What to watch for op and req: 1 (w filled) or 0 (nothing to watch, or
 * the jobs cannot be listed by this identity). */
static int
watch_setup(struct cli_remote *rm, struct watch *w, const char *op,
    json_t *req)
{
	json_t *lreq, *resp = NULL;
	int r;

	if (strcmp(op, "job.resume") == 0) {
		w->id = json_integer_value(json_object_get(req, "id"));
		return w->id > 0;
	}
	if (strcmp(op, "password.rotate") != 0)
		return 0;
	w->kind = op;		/* JOB_KIND_ROTATE */
	if ((lreq = json_pack("{s:i}", "limit", 1)) == NULL)
		return 0;
	r = post(rm, &rm->main, "job.list", lreq, &resp);
	json_decref(lreq);
	if (r == CUST_OK)
		w->above = json_integer_value(json_object_get(json_array_get(
		    json_object_get(resp, "jobs"), 0), "id"));
	json_decref(resp);
	cust_clearerr();
	return r == CUST_OK;
}

int
cli_remote_call(struct cli_remote *rm, const char *op, json_t *req,
    json_t **resp_out, void (*progress)(void *arg, size_t done,
    size_t total), void *arg)
{
	struct watch w = { .rm = rm, .progress = progress, .arg = arg };
	pthread_t t;
	int r, watching = 0;

	*resp_out = NULL;
	if (progress != NULL && watch_setup(rm, &w, op, req) &&
	    (rm->watch.h != NULL || conn_open(rm, &rm->watch) == CUST_OK)) {
		pthread_mutex_init(&w.mu, NULL);
		pthread_cond_init(&w.cv, NULL);
		watching = pthread_create(&t, NULL, watch_main, &w) == 0;
		if (!watching) {
			pthread_cond_destroy(&w.cv);
			pthread_mutex_destroy(&w.mu);
		}
	}
	cust_clearerr();
	r = post(rm, &rm->main, op, req, resp_out);
	if (watching) {
		pthread_mutex_lock(&w.mu);
		w.stop = 1;
		pthread_cond_signal(&w.cv);
		pthread_mutex_unlock(&w.mu);
		pthread_join(t, NULL);
		pthread_cond_destroy(&w.cv);
		pthread_mutex_destroy(&w.mu);
		/* The last word: where the job ended. */
		if (r == CUST_OK)
			watch_once(&w);
	}
	return r;
}
