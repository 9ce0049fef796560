/* SPDX-License-Identifier: MIT */
/* src/daemon/main.c - custodyd: start-up, signals, reloads, shutdown.
 *
 * The main thread owns the configuration and one state of its own. It
 * binds the listening sockets, builds the TLS context, starts the audit
 * group writer, the workers and the event loop thread, tells systemd it
 * is ready, then waits for signals (every other thread blocks them all):
 *
 *   SIGTERM, SIGINT  drain: stop accepting, finish the requests out to
 *                    workers and write their replies, flush the audit
 *                    writer, exit 0
 *   SIGHUP           reload: CA certificates, CRLs and the server
 *                    certificate; every worker forgets the identities it
 *                    derived (a new policy applies at the next request)
 *
 * Between signals (every RELOAD_MS) it checks whether the store changed
 * (store_stamp: another process revoked, rotated or renewed) and rebuilds
 * the TLS trust when it did, and pings the systemd watchdog when
 * WATCHDOG_USEC is set. CRLs near their nextUpdate are made again at
 * start (before the TLS trust is built from them) and then by the
 * scheduler thread (scheduler.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <systemd/sd-daemon.h>

#include "audit.h"
#include "ca.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "version.h"
#include "daemon_int.h"

#define RELOAD_MS	500		/* store checks for the TLS trust */

void
daemon_conf_defaults(struct daemon_conf *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN), tick;
	const char *e;

	memset(c, 0, sizeof(*c));
	c->listen[0] = "127.0.0.1:8443";
	c->listen[1] = "[::1]:8443";
	c->nlisten = 2;
	c->listen_default = 1;
	/* Reads sleep while their audit batch commits: more workers than
	 * cores keep the batches full. */
	c->workers = (int)(n > 0 ? n * 4 : 4);
	/* Push jobs at once (each drives up to AMT_CONCURRENCY devices);
	 * more wait their turn. */
	c->job_threads = 2;
	c->max_header_bytes = 16 * 1024;
	c->max_body_bytes = 1024 * 1024;
	c->header_timeout_ms = 10000;
	c->body_timeout_ms = 30000;
	c->idle_timeout_ms = 60000;
	c->write_timeout_ms = 30000;
	c->max_connections = 1024;
	c->drain_timeout_ms = 30000;
	c->log_level = LOG_LEVEL_INFO;
	c->tls_min_version = 12;
	c->session_tickets = 0;
	c->sched_interval_ms = 60000;
	/* Test hook (custodyd(8) ENVIRONMENT): a shorter tick, so that a
	 * test sees a second tick without waiting a minute. */
	if ((e = getenv("CUSTODY_TEST_TICK_MS")) != NULL) {
		if (util_parse_long(e, 100, 60000, &tick) == CUST_OK)
			c->sched_interval_ms = (int)tick;
		cust_clearerr();
	}
	/* No rotation by age until the configuration sets a maximum age;
	 * interrupted rotation jobs are always resumed. */
	c->sched.resume_jobs = 1;
	c->sched.server_renew_before = 30 * 86400;	/* custody.yaml(5) */
}

/* Seconds of the configuration as milliseconds for a timer. */
static int
ms_of(int64_t sec)
{
	return sec > INT32_MAX / 1000 ? INT32_MAX : (int)(sec * 1000);
}

/* Every field of cfg that the command line did not set, into c. */
static void
apply_all(struct daemon_conf *c, const struct cust_config *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;

	if (!c->given['L'] && getenv("CUSTODY_LOG_LEVEL") == NULL)
		c->log_level = cfg->log_level;
	c->sched.max_age_admin = cfg->rotation.max_age_admin;
	c->sched.max_age_mebx = cfg->rotation.max_age_mebx;
	c->sched.max_age_console = cfg->rotation.max_age_console;
	c->sched.jitter = cfg->rotation.jitter;
	c->sched.batch = cfg->rotation.batch_size;
	c->sched.tick_max = sched_tick_budget(cfg->rotation.rate_limit,
	    c->sched_interval_ms);
	c->sched.resume_jobs = 1;
	c->sched.server_renew_before = cfg->server_cert_renew_before;
	c->sched.crl_refresh_before = cfg->crl_refresh_before;
	c->sched.push = cfg->rotation.push;
	/* The AD device objects (directory.ad): their age is the
	 * directory's setting, 0 turning it off there too. */
	c->sched.krb_max_age = cfg->rotation.kerberos && cfg->ad.set ?
	    cfg->ad.object_max_age : 0;
	c->tls_min_version = cfg->tls.min_version;
	c->session_tickets = cfg->tls.session_tickets;
	snprintf(c->client_ca_file, sizeof(c->client_ca_file), "%s",
	    cfg->tls.client_ca_file != NULL ? cfg->tls.client_ca_file : "");
	snprintf(c->client_crl_file, sizeof(c->client_crl_file), "%s",
	    cfg->tls.client_crl_file != NULL ? cfg->tls.client_crl_file : "");
	c->client_crl_required = cfg->tls.client_crl_required;
	snprintf(c->negotiate_keytab, sizeof(c->negotiate_keytab), "%s",
	    cfg->auth.negotiate_keytab != NULL ? cfg->auth.negotiate_keytab :
	    "");
	if (!c->given['l']) {
		c->nlisten = 0;
		for (i = 0; i < cfg->nlisten && i < DAEMON_LISTEN_MAX; i++) {
			config_listen_format(&cfg->listen[i],
			    c->listen_buf[i], sizeof(c->listen_buf[i]));
			c->listen[c->nlisten++] = c->listen_buf[i];
		}
		/* The defaults (the file sets none): an address the host
		 * lacks (no IPv6) is skipped, not fatal. */
		c->listen_default = cfg->path == NULL || (cfg->nlisten == 2 &&
		    strcmp(c->listen[0], "127.0.0.1:8443") == 0 &&
		    strcmp(c->listen[1], "[::1]:8443") == 0);
	}
	if (!c->given['w'])
		/* 0: automatic, four per CPU (reads sleep while their audit
		 * batch commits; more workers keep the batches full). */
		c->workers = cfg->limits.workers > 0 ?
		    (int)cfg->limits.workers : (int)(n > 0 ? n * 4 : 4);
	if (!c->given['C'])
		c->max_connections = (int)cfg->limits.max_connections;
	if (!c->given['A'])
		c->max_per_address =
		    (int)cfg->limits.max_connections_per_address;
	if (!c->given['H'])
		c->max_header_bytes = (size_t)cfg->limits.max_header_bytes;
	if (!c->given['B'])
		c->max_body_bytes = (long long)cfg->limits.max_body_bytes;
	if (!c->given['T'])
		c->header_timeout_ms = ms_of(cfg->limits.header_timeout);
	if (!c->given['U'])
		c->body_timeout_ms = ms_of(cfg->limits.body_timeout);
}

void
daemon_conf_apply(struct daemon_conf *c, const struct cust_config *cfg,
    int reload)
{
	struct daemon_conf *n;
	size_t i;
	int differ;

	if (!reload) {
		apply_all(c, cfg);
		log_set_level(c->log_level);
		return;
	}
	/* While running, the loop and the workers read the limits and
	 * listen as they were started: work on a copy, take from it what
	 * may change, and say what needs a restart. */
	if ((n = malloc(sizeof(*n))) == NULL) {
		log_warnx("custody.yaml not reloaded: out of memory");
		return;
	}
	*n = *c;
	apply_all(n, cfg);
	differ = n->workers != c->workers || n->max_connections !=
	    c->max_connections || n->max_per_address != c->max_per_address || n->max_header_bytes != c->max_header_bytes ||
	    n->max_body_bytes != c->max_body_bytes || n->header_timeout_ms !=
	    c->header_timeout_ms || n->body_timeout_ms != c->body_timeout_ms ||
	    n->nlisten != c->nlisten;
	for (i = 0; !differ && i < n->nlisten; i++)
		differ = strcmp(n->listen[i], c->listen[i]) != 0;
	if (differ)
		log_warnx("custody.yaml: listen, workers and limits apply at "
		    "the next start");
	c->log_level = n->log_level;
	log_set_level(c->log_level);
	c->sched = n->sched;
	c->tls_min_version = n->tls_min_version;
	c->session_tickets = n->session_tickets;
	memcpy(c->client_ca_file, n->client_ca_file, sizeof(c->client_ca_file));
	memcpy(c->client_crl_file, n->client_crl_file,
	    sizeof(c->client_crl_file));
	c->client_crl_required = n->client_crl_required;
	free(n);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: custodyd --state-dir DIR [--listen HOST:PORT]... "
	    "[--foreground] [--check-config]\n"
	    "                [--workers N] [--max-connections N] "
	    "[--max-connections-per-address N]\n"
	    "                [--max-header-bytes N]"
	    "                [--max-body-bytes N] [--header-timeout MS] "
	    "[--body-timeout MS]\n"
	    "                [--idle-timeout MS] [--job-threads N] "
	    "[--log-level LEVEL]\n");
}

/* The numeric options: letter, name, bounds, field and its type (i: int,
 * z: size_t, l: long long). */
static const struct num_option {
	int ch;
	const char *name;
	long min, max;
	size_t off;
	char type;
} num_options[] = {
	{ 'w', "workers", 1, 256, offsetof(struct daemon_conf, workers),
	    'i' },
	{ 'C', "max-connections", 1, 1000000,
	    offsetof(struct daemon_conf, max_connections), 'i' },
	{ 'A', "max-connections-per-address", 0, 1000000,
	    offsetof(struct daemon_conf, max_per_address), 'i' },
	{ 'H', "max-header-bytes", 256, 1 << 20,
	    offsetof(struct daemon_conf, max_header_bytes), 'z' },
	{ 'B', "max-body-bytes", 0, 1L << 28,
	    offsetof(struct daemon_conf, max_body_bytes), 'l' },
	{ 'T', "header-timeout", 100, 3600000,
	    offsetof(struct daemon_conf, header_timeout_ms), 'i' },
	{ 'U', "body-timeout", 100, 3600000,
	    offsetof(struct daemon_conf, body_timeout_ms), 'i' },
	{ 'I', "idle-timeout", 100, 3600000,
	    offsetof(struct daemon_conf, idle_timeout_ms), 'i' },
	{ 'J', "job-threads", 1, 64, offsetof(struct daemon_conf, job_threads),
	    'i' },
};

static int
num_opt(struct daemon_conf *c, int ch, const char *v)
{
	const struct num_option *o = num_options;
	char *field;
	long n;

	while (o->ch != ch)
		o++;	/* every letter passed here is in the table */
	if (util_parse_long(v, o->min, o->max, &n) != CUST_OK) {
		fprintf(stderr, "custodyd: --%s: '%s' is not a number from %ld "
		    "to %ld\n", o->name, v, o->min, o->max);
		return -1;
	}
	field = (char *)c + o->off;
	if (o->type == 'i')
		*(int *)(void *)field = (int)n;
	else if (o->type == 'z')
		*(size_t *)(void *)field = (size_t)n;
	else
		*(long long *)(void *)field = n;
	return 0;
}

/* HOST:PORT or [V6]:PORT into host and port. */
static int
split_hostport(const char *s, char *host, size_t hlen, char *port,
    size_t plen)
{
	const char *c;

	if (s[0] == '[') {
		if ((c = strchr(s, ']')) == NULL || c[1] != ':')
			return -1;
		if ((size_t)(c - s - 1) >= hlen)
			return -1;
		memcpy(host, s + 1, (size_t)(c - s - 1));
		host[c - s - 1] = '\0';
		c++;
	} else {
		if ((c = strrchr(s, ':')) == NULL || (size_t)(c - s) >= hlen)
			return -1;
		memcpy(host, s, (size_t)(c - s));
		host[c - s] = '\0';
	}
	if (c[1] == '\0' || strlen(c + 1) >= plen)
		return -1;
	snprintf(port, plen, "%s", c + 1);
	return 0;
}

/* Bind one address; *fd_out the listening socket. */
/*
 * One custodyd per state directory: DIR/custodyd.lock, held exclusively
 * for the process's life, with its pid for the message a second one
 * prints. Two would both run schedulers and both answer; custodyctl is
 * not concerned (it shares DIR/lock as before).
 */
static int
service_lock(struct cust_state *st, int *fd_out)
{
	char buf[32];
	struct stat sb;
	ssize_t n;
	int fd;

	*fd_out = -1;
	fd = openat(state_dirfd(st), "custodyd.lock", O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		if (fd != -1)
			close(fd);
		return cust_fail(CUST_E_PERM, "%s/custodyd.lock: not a file "
		    "custodyd can lock: %s", state_dir(st), strerror(errno));
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strspn(buf, "0123456789")] = '\0';
		close(fd);
		return cust_fail(CUST_E_UNAVAIL, "another custodyd%s%s%s serves "
		    "%s already: stop it first", *buf ? " (pid " : "", buf,
		    *buf ? ")" : "", state_dir(st));
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warnx("%s/custodyd.lock: cannot record the pid: %s",
		    state_dir(st), strerror(errno));
	*fd_out = fd;
	return CUST_OK;
}

static int
bind_one(const char *spec, int *fd_out)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], shown[INET6_ADDRSTRLEN];
	int fd = -1, one = 1, e, r;
	long pn;

	*fd_out = -1;
	if (split_hostport(spec, host, sizeof(host), port, sizeof(port)) != 0
	    || util_parse_long(port, 0, 65535, &pn) != CUST_OK)
		return cust_fail(CUST_E_INVAL, "--listen %s: not HOST:PORT or "
		    "[ADDRESS]:PORT", spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &ai)) != 0)
		return cust_fail(CUST_E_INVAL, "--listen %s: %s", spec,
		    gai_strerror(e));
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0) {
		r = cust_fail(CUST_E_IO, "%s: socket: %s", spec,
		    strerror(errno));
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 511) != 0) {
		r = cust_fail(errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT ?
		    CUST_E_UNAVAIL : CUST_E_IO, "%s: %s", spec,
		    strerror(errno));
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, shown, sizeof(shown));
			log_info("listening on [%s]:%u", shown, ntohs(
			    ((struct sockaddr_in6 *)&ss)->sin6_port));
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, shown, sizeof(shown));
			log_info("listening on %s:%u", shown, ntohs(
			    ((struct sockaddr_in *)&ss)->sin_port));
		}
	}
	*fd_out = fd;
	fd = -1;
	r = CUST_OK;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}

static void *
loop_main(void *arg)
{
	struct daemon *d = arg;

	event_base_dispatch(d->base);
	return NULL;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A fingerprint of the files the TLS context is built from (their
 * inode, size and change time; DIR/ca's own, which changes when a file
 * is renamed into it; the enterprise CA and CRL files of custody.yaml):
 * another process may replace them. */
static uint64_t
files_sig(const struct daemon_conf *c)
{
	char *own[] = { util_path(c->state_dir, "tls/server.crt"),
	    util_path(c->state_dir, "tls/server.key"),
	    util_path(c->state_dir, "ca") };
	const char *paths[] = { own[0], own[1], own[2], c->client_ca_file,
	    c->client_crl_file };
	struct stat sb;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i] != NULL && paths[i][0] != '\0' &&
		    stat(paths[i], &sb) == 0)
			h = (h ^ ((uint64_t)sb.st_ino * 31 + (uint64_t)sb.st_size *
			    7 + (uint64_t)sb.st_ctim.tv_sec * 1000000007ULL +
			    (uint64_t)sb.st_ctim.tv_nsec)) * 1099511628211ULL;
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		free(own[i]);
	return h;
}

/* SIGHUP: custody.yaml again; a file with problems changes nothing. */
static void
reload_config(struct daemon *d)
{
	struct cust_config *cfg = NULL;

	if (config_load_dir(d->conf.state_dir, stderr, &cfg) != CUST_OK) {
		log_warnx("custody.yaml not reloaded: %s", cust_errmsg());
		return;
	}
	pthread_mutex_lock(&d->sched_mu);
	daemon_conf_apply(&d->conf, cfg, 1);
	pthread_mutex_unlock(&d->sched_mu);
	config_free(cfg);
}

/* Wait for signals; between them keep the TLS trust current. Returns on
 * SIGTERM or SIGINT. */
static void
serve(struct daemon *d, struct cust_state *st)
{
	struct store_stamp stamp;
	struct timespec ts = { 0, RELOAD_MS * 1000000L };
	sigset_t set;
	uint64_t wd_usec = 0;
	int64_t last_wd = 0, now;
	int sig, have_stamp;
	uint64_t files = files_sig(&d->conf), f;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	have_stamp = store_stamp(state_store(st), &stamp) == CUST_OK;
	for (;;) {
		sig = sigtimedwait(&set, NULL, &ts);
		now = daemon_now_us();
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: finishing the requests in flight",
			    sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (wd_usec > 0 && (uint64_t)(now - last_wd) >= wd_usec / 2) {
			(void)sd_notify(0, "WATCHDOG=1");
			last_wd = now;
		}
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading");
			(void)sd_notify(0, "RELOADING=1");
			reload_config(d);
			atomic_fetch_add(&d->id_gen, 1);
			(void)daemon_tls_reload(d, st, 1);
			(void)sd_notify(0, "READY=1");
		} else if (!have_stamp ||
		    !store_stamp_unchanged(state_store(st), &stamp) ||
		    (f = files_sig(&d->conf)) != files) {
			have_stamp = store_stamp(state_store(st), &stamp) ==
			    CUST_OK;
			files = files_sig(&d->conf);
			(void)daemon_tls_reload(d, st, 0);
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'w' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "max-connections-per-address", required_argument, NULL,
		    'A' },
		{ "max-header-bytes", required_argument, NULL, 'H' },
		{ "max-body-bytes", required_argument, NULL, 'B' },
		{ "header-timeout", required_argument, NULL, 'T' },
		{ "body-timeout", required_argument, NULL, 'U' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "job-threads", required_argument, NULL, 'J' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d;
	struct cust_config *cfg = NULL;
	struct cust_state *st = NULL;
	pthread_t loop;
	sigset_t all;
	int fds[DAEMON_LISTEN_MAX], nfds = 0, check = 0, ch, r, i, lockfd = -1;
	int loop_started = 0, rc = CUST_EXIT_FAIL;
	unsigned char dig[32];
	size_t made = 0;

	/* Before any other libevent call: its buffers hold request bodies
	 * (an import's passwords) and replies (secrets) in the clear, so
	 * every block it frees is wiped first. */
	event_set_mem_functions(cust_wipe_malloc, cust_wipe_realloc,
	    cust_wipe_free);
	memset(&d, 0, sizeof(d));
	daemon_conf_defaults(&d.conf);
	log_init("custodyd");
	log_set_level(LOG_LEVEL_INFO);
	if (getenv("CUSTODY_LOG_LEVEL") != NULL)
		log_init("custodyd");	/* the environment wins over info */
	while ((ch = getopt_long(argc, argv, "d:l:fnhV", longopts, NULL)) !=
	    -1) {
		if (ch > 0 && ch < 128)
			d.conf.given[ch] = 1;
		switch (ch) {
		case 'd':
			d.conf.state_dir = optarg;
			break;
		case 'l':
			if (d.conf.listen_default) {
				d.conf.nlisten = 0;
				d.conf.listen_default = 0;
			}
			if (d.conf.nlisten == DAEMON_LISTEN_MAX) {
				fprintf(stderr, "custodyd: at most %d --listen\n",
				    DAEMON_LISTEN_MAX);
				return CUST_EXIT_USAGE;
			}
			d.conf.listen[d.conf.nlisten++] = optarg;
			break;
		case 'f':
			break;	/* custodyd always runs in the foreground */
		case 'n':
			check = 1;
			break;
		case 'w': case 'C': case 'A': case 'H': case 'B': case 'T':
		case 'U': case 'I': case 'J':
			if (num_opt(&d.conf, ch, optarg) != 0)
				return CUST_EXIT_USAGE;
			break;
		case 'L':
			if (log_parse_level(optarg, &d.conf.log_level) !=
			    CUST_OK) {
				fprintf(stderr, "custodyd: --log-level: error, "
				    "warn, info or debug\n");
				return CUST_EXIT_USAGE;
			}
			log_set_level(d.conf.log_level);
			break;
		case 'h':
			usage(stdout);
			return CUST_EXIT_OK;
		case 'V':
			printf("custodyd %s\n", CUSTODY_VERSION);
			return CUST_EXIT_OK;
		default:
			usage(stderr);
			return CUST_EXIT_USAGE;
		}
	}
	if (optind != argc || d.conf.state_dir == NULL) {
		usage(stderr);
		return CUST_EXIT_USAGE;
	}
	if ((r = cust_init()) != CUST_OK) {
		log_error("start-up: %s", cust_errmsg());
		return CUST_EXIT_FAIL;
	}
	/* Each request allocates and frees the same few large blocks (TLS
	 * records, JSON, statement scratch) on several threads' arenas:
	 * with glibc's defaults the arenas are trimmed and grown again
	 * (madvise, page faults) request after request. Keep freed memory
	 * in the arenas and serve blocks up to 16 MiB from them: about 15%
	 * more credential fetches per second on one core (bench/api.sh),
	 * for a few MB of RSS. Freed memory is wiped by custody before it
	 * is freed wherever it held a secret. */
	(void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	(void)mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
	/* custody.yaml: under the command line, over the defaults. */
	if (check && (rc = config_check_cli(d.conf.state_dir, NULL, 0, stdout,
	    stderr)) != 0)
		return rc;
	if ((r = config_load_dir(d.conf.state_dir, stderr, &cfg)) != CUST_OK) {
		/* Its problems are on stderr already, each at FILE:LINE:COL. */
		log_error("not starting: %s/%s is not usable",
		    d.conf.state_dir, CONFIG_FILE);
		return r == CUST_E_PERM ? CUST_EXIT_UNAVAIL : CUST_EXIT_USAGE;
	}
	daemon_conf_apply(&d.conf, cfg, 0);
	config_free(cfg);
	cfg = NULL;
	rc = CUST_EXIT_FAIL;
	raise_nofile();
	for (i = 0; i < DAEMON_LISTEN_MAX; i++)
		fds[i] = -1;
	if ((r = state_open(d.conf.state_dir, &st)) != CUST_OK) {
		log_error("%s: %s", d.conf.state_dir, cust_errmsg());
		return cust_exit_code(r);
	}
	pthread_mutex_init(&d.ctx_mu, NULL);
	pthread_mutex_init(&d.q_mu, NULL);
	pthread_cond_init(&d.q_cv, NULL);
	pthread_mutex_init(&d.done_mu, NULL);
	/* CRLs due are made before the TLS trust is built from them. */
	if (ca_crl_refresh(st, "custodyd", &made) != CUST_OK)
		log_warnx("CRL refresh: %s", cust_errmsg());
	if ((r = daemon_tls_new(st, &d.conf, &d.ctx, dig)) !=
	    CUST_OK) {
		log_error("TLS: %s", cust_errmsg());
		rc = check ? CUST_EXIT_USAGE : cust_exit_code(r);
		goto out;
	}
	memcpy(d.trust_digest, dig, sizeof(dig));
	if (check) {
		printf("custodyd: %s: configuration ok\n", d.conf.state_dir);
		rc = CUST_EXIT_OK;
		goto out;
	}
	if ((r = service_lock(st, &lockfd)) != CUST_OK) {
		log_error("%s", cust_errmsg());
		rc = cust_exit_code(r);
		goto out;
	}
	for (i = 0; i < (int)d.conf.nlisten; i++) {
		r = bind_one(d.conf.listen[i], &fds[nfds]);
		if (r == CUST_E_UNAVAIL && d.conf.listen_default) {
			log_info("not listening on %s: %s", d.conf.listen[i],
			    cust_errmsg());
			continue;
		}
		if (r != CUST_OK) {
			log_error("%s", cust_errmsg());
			rc = r == CUST_E_INVAL ? CUST_EXIT_USAGE :
			    CUST_EXIT_UNAVAIL;
			goto out;
		}
		nfds++;
	}
	if (nfds == 0) {
		log_error("no address to listen on");
		rc = CUST_EXIT_UNAVAIL;
		goto out;
	}
	/* Signals go to this thread only: every thread started from here
	 * on inherits the mask. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((r = state_audit_group(d.conf.state_dir, 0, &d.group)) !=
	    CUST_OK) {
		log_error("audit writer: %s", cust_errmsg());
		goto out;
	}
	if ((r = daemon_workers_start(&d)) != CUST_OK) {
		log_error("workers: %s", cust_errmsg());
		goto out;
	}
	if ((r = daemon_jobs_start(&d)) != CUST_OK) {
		log_error("job threads: %s", cust_errmsg());
		goto out;
	}
	if ((r = daemon_sched_start(&d)) != CUST_OK) {
		log_error("scheduler: %s", cust_errmsg());
		goto out;
	}
	if (evthread_use_pthreads() != 0 ||
	    (r = daemon_loop_setup(&d, fds, (size_t)nfds)) != CUST_OK) {
		log_error("event loop: %s", cust_errmsg());
		goto out;
	}
	for (i = 0; i < nfds; i++)
		fds[i] = -1;	/* owned by the listeners */
	if (pthread_create(&loop, NULL, loop_main, &d) != 0) {
		log_error("cannot start the event loop thread");
		goto out;
	}
	loop_started = 1;
	log_info("custodyd %s ready: %d workers, %d job threads, state %s",
	    CUSTODY_VERSION, d.conf.workers, d.conf.job_threads,
	    d.conf.state_dir);
	(void)sd_notify(0, "READY=1");
	serve(&d, st);
	(void)sd_notify(0, "STOPPING=1");
	rc = CUST_EXIT_OK;
out:
	/* Jobs stop at their next device boundary ('interrupted'), and the
	 * clients waiting for them are answered during the drain. */
	if (d.jobs_init)
		daemon_jobs_stopping(&d);
	if (loop_started) {
		event_active(d.stop_ev, EV_READ, 0);
		pthread_join(loop, NULL);
	}
	daemon_sched_stop(&d);
	daemon_workers_stop(&d);
	daemon_jobs_stop(&d);
	/* Commits what is queued, then stops the writer; replies it still
	 * hands back (a drain cut short) are freed by the teardown. */
	audit_group_free(d.group);
	d.group = NULL;
	daemon_loop_teardown(&d);
	for (i = 0; i < DAEMON_LISTEN_MAX; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	SSL_CTX_free(d.ctx);
	if (lockfd != -1)
		close(lockfd);
	state_close(st);
	if (rc == CUST_EXIT_OK && !check)
		log_info("stopped");
	return rc;
}
