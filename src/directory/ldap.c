/* SPDX-License-Identifier: MIT */
/* src/directory/ldap.c - the LDAP connection to Active Directory (libldap).
 *
 * TLS only, set up per connection: libldap's process-wide defaults (and
 * the LDAPTLS_* variables and ldap.conf files that feed them) are
 * overridden on the handle, and only take effect after
 * LDAP_OPT_X_TLS_NEWCTX (test-services.md, pitfall 30). A TLS failure
 * surfaces from libldap as "Can't contact LDAP server" with no detail
 * (pitfall 31): the message says what to check. Replies are bounded in
 * size (DIR_LDAP_MAX_MSG per message, DIR_LDAP_MAX_ENTRIES per search)
 * and time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <ldap.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sasl/sasl.h>
#include <sodium.h>

#include "config.h"
#include "directory.h"
#include "directory_int.h"
#include "err.h"
#include "seal.h"
#include "util.h"

struct dir_ldap {
	LDAP *ld;
	char uri[256];
	struct ldap_conncb cb;		/* adds the deadline layer */
	struct timespec deadline;	/* of the step under way */
};

/*
 * Every read and write on the DC's socket waits at most until the
 * deadline of the step under way: connecting (TCP and the TLS handshake
 * of ldaps://, DIR_LDAP_CONNECT_TIMEOUT), then each operation
 * (DIR_LDAP_OP_TIMEOUT). libldap bounds the TCP connect and each
 * operation's wait for its answer, but not the TLS handshake: with
 * GnuTLS it retries a read that would block without waiting, so a DC
 * (or anything on its port) that accepts the connection and then says
 * nothing kept custody spinning a CPU forever. A layer of custody's own
 * sits under TLS (LBER_SBIOD_LEVEL_PROVIDER + 5, above the TCP one), put
 * there by a connect callback: it polls the socket until the deadline,
 * then fails the read or write with ETIMEDOUT, which TLS and libldap
 * take as a lost connection (LDAP_SERVER_DOWN).
 */
#define GUARD_LEVEL	(LBER_SBIOD_LEVEL_PROVIDER + 5)

static void
arm(struct dir_ldap *l, int secs)
{
	clock_gettime(CLOCK_MONOTONIC, &l->deadline);
	l->deadline.tv_sec += secs;
}

/* 0 when the socket of d is ready for ev before the deadline. */
static int
guard_wait(Sockbuf_IO_Desc *d, short ev)
{
	const struct dir_ldap *l = d->sbiod_pvt;
	struct timespec now;
	struct pollfd p;
	long long ms;
	int fd = -1, rc;

	if (ber_sockbuf_ctrl(d->sbiod_sb, LBER_SB_OPT_GET_FD, &fd) != 1 ||
	    fd < 0)
		return 0;	/* the layer below says what is wrong */
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long long)(l->deadline.tv_sec - now.tv_sec) * 1000 +
		    (l->deadline.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		p.fd = fd;
		p.events = ev;
		p.revents = 0;
		rc = poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
		if (rc > 0)
			return 0;	/* ready, or an error the I/O reports */
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static int
guard_setup(Sockbuf_IO_Desc *d, void *arg)
{
	d->sbiod_pvt = arg;
	return 0;
}

static int
guard_ctrl(Sockbuf_IO_Desc *d, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(d, opt, arg);
}

static ber_slen_t
guard_read(Sockbuf_IO_Desc *d, void *buf, ber_len_t len)
{
	if (guard_wait(d, POLLIN) < 0)
		return -1;
	return LBER_SBIOD_READ_NEXT(d, buf, len);
}

static ber_slen_t
guard_write(Sockbuf_IO_Desc *d, void *buf, ber_len_t len)
{
	if (guard_wait(d, POLLOUT) < 0)
		return -1;
	return LBER_SBIOD_WRITE_NEXT(d, buf, len);
}

static Sockbuf_IO guard_io = {
	guard_setup, NULL, guard_ctrl, guard_read, guard_write, NULL
};

static int
guard_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
    struct ldap_conncb *ctx)
{
	(void)ld;
	(void)srv;
	(void)addr;
	return ber_sockbuf_add_io(sb, &guard_io, GUARD_LEVEL, ctx->lc_arg) ==
	    0 ? 0 : -1;
}

static void
guard_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void)ld;
	(void)sb;
	(void)ctx;
}

/*
 * A DC that goes away mid-write would kill the process with SIGPIPE:
 * libldap writes to its socket without MSG_NOSIGNAL. Every call into
 * libldap blocks SIGPIPE in the calling thread, consumes one it raised,
 * and restores the mask, so the write fails with EPIPE and the caller
 * gets "Can't contact LDAP server" instead. The process's disposition is
 * not touched (custodyctl piped into head still ends quietly).
 */
struct pipe_guard {
	sigset_t old;
	int pending;		/* a SIGPIPE was pending before */
};

static void
guard_on(struct pipe_guard *g)
{
	sigset_t s, p;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	g->pending = sigpending(&p) == 0 && sigismember(&p, SIGPIPE);
	(void)pthread_sigmask(SIG_BLOCK, &s, &g->old);
}

static void
guard_off(struct pipe_guard *g)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t s, p;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	if (!g->pending && sigpending(&p) == 0 && sigismember(&p, SIGPIPE))
		(void)sigtimedwait(&s, NULL, &zero);
	(void)pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* The system CA bundle when the configuration names no CA file. */
#define SYSTEM_CA_FILE	"/etc/ssl/certs/ca-certificates.crt"

/* The code for an LDAP result, with the DC's diagnostic. */
static int
ldap_fail(struct dir_ldap *l, int rc, const char *what)
{
	char *diag = NULL;
	int code;

	if (l->ld != NULL)
		(void)ldap_get_option(l->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE,
		    &diag);
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_TIMEOUT:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
		code = CUST_E_UNAVAIL;
		break;
	case LDAP_ALREADY_EXISTS:
		code = CUST_E_EXISTS;
		break;
	case LDAP_NO_SUCH_OBJECT:
		code = CUST_E_NOTFOUND;
		break;
	case LDAP_SIZELIMIT_EXCEEDED:
		code = CUST_E_TOOBIG;
		break;
	default:
		code = CUST_E_LDAP;
		break;
	}
	if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR)
		(void)cust_fail(code, "%s: %s (LDAP %d)%s%s; is the DC up, "
		    "and does its certificate verify against ca_file and name "
		    "the host of %s?", what, ldap_err2string(rc), rc,
		    diag && *diag ? ": " : "", diag ? diag : "", l->uri);
	else
		(void)cust_fail(code, "%s: %s (LDAP %d)%s%.300s", what,
		    ldap_err2string(rc), rc, diag && *diag ? ": " : "",
		    diag ? diag : "");
	ldap_memfree(diag);
	return code;
}

static int
set_opt(struct dir_ldap *l, int opt, const void *v, const char *what)
{
	int rc = ldap_set_option(l->ld, opt, v);

	if (rc != LDAP_OPT_SUCCESS)
		return ldap_fail(l, rc, what);
	return CUST_OK;
}

/* SASL prompts: GSSAPI asks at most for an authorization identity, and
 * none is the bound principal's own. */
static int
sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	sasl_interact_t *it;

	(void)ld;
	(void)flags;
	(void)defaults;
	for (it = in; it->id != SASL_CB_LIST_END; it++) {
		it->result = it->defresult != NULL ? it->defresult : "";
		it->len = (unsigned)strlen(it->result);
	}
	return LDAP_SUCCESS;
}

static int
kfail_(krb5_context ctx, krb5_error_code kr, const char *what)
{
	const char *m = krb5_get_error_message(ctx, kr);
	int r = cust_fail(CUST_E_KRB5, "directory.ad: %s: %s", what, m);

	krb5_free_error_message(ctx, m);
	return r;
}

/*
 * The SASL GSSAPI bind with the keytab's first principal. The keytab is
 * opened once without following links, refused when looser than 0600,
 * and read by krb5 through that descriptor. Tickets come from the DC's
 * KDC (the URI's host, port 88) through custody's private krb5 context
 * (no krb5.conf), into a MEMORY ccache of this call: the TGT and the
 * ticket for ldap/HOST (HOST as written in the URI, not canonicalized).
 * Cyrus SASL's GSSAPI plugin takes the default ccache only; it is named
 * for this thread alone with gss_krb5_ccache_name (thread-local in MIT
 * krb5) and restored after the bind. maxssf=0: over TLS, AD refuses
 * SASL signing and sealing.
 */
static int
gssapi_bind(struct dir_ldap *l, const struct config_ad *ad)
{
	krb5_context ctx = NULL;
	krb5_keytab kt = NULL;
	krb5_ccache cc = NULL;
	krb5_principal me = NULL, svc = NULL;
	krb5_creds tgt, in, *got = NULL;
	krb5_kt_cursor cur;
	krb5_keytab_entry ent;
	krb5_error_code kr;
	LDAPURLDesc *lud = NULL;
	OM_uint32 min;
	const char *prev = NULL;
	char ktname[64], ccname[300], kdc[300], *oldcc = NULL, *name = NULL;
	int fd = -1, r = CUST_E_INTERNAL, rc, swapped = 0;

	memset(&tgt, 0, sizeof(tgt));
	memset(&in, 0, sizeof(in));
	if (ad->keytab == NULL || ad->realm == NULL)
		return cust_fail(CUST_E_INVAL, "directory.ad: sasl: gssapi "
		    "needs keytab and realm");
	if ((fd = open(ad->keytab, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK)) == -1) {
		r = cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : errno ==
		    ELOOP ? CUST_E_PERM : CUST_E_IO, "cannot open %s: %s",
		    ad->keytab, strerror(errno));
		goto out;
	}
	if ((r = util_check_secrecy_fd(fd, ad->keytab)) != CUST_OK)
		goto out;
	if (ldap_url_parse(ad->uri, &lud) != LDAP_URL_SUCCESS ||
	    lud->lud_host == NULL || lud->lud_host[0] == '\0') {
		r = cust_fail(CUST_E_INVAL, "directory.ad: uri has no host");
		goto out;
	}
	(void)snprintf(kdc, sizeof(kdc), "%s:88", lud->lud_host);
	if ((r = dir_krb5_context(ad->realm, kdc, NULL, &ctx)) != CUST_OK)
		goto out;
	(void)snprintf(ktname, sizeof(ktname), "FILE:/proc/self/fd/%d", fd);
	if ((kr = krb5_kt_resolve(ctx, ktname, &kt)) != 0) {
		r = kfail_(ctx, kr, ad->keytab);
		goto out;
	}
	if ((kr = krb5_kt_start_seq_get(ctx, kt, &cur)) != 0) {
		r = kfail_(ctx, kr, ad->keytab);
		goto out;
	}
	kr = krb5_kt_next_entry(ctx, kt, &ent, &cur);
	if (kr == 0) {
		kr = krb5_copy_principal(ctx, ent.principal, &me);
		(void)krb5_free_keytab_entry_contents(ctx, &ent);
	}
	(void)krb5_kt_end_seq_get(ctx, kt, &cur);
	if (kr != 0) {
		r = kr == KRB5_KT_END ? cust_fail(CUST_E_INVAL, "%s: the "
		    "keytab is empty", ad->keytab) : kfail_(ctx, kr,
		    ad->keytab);
		goto out;
	}
	if ((kr = krb5_unparse_name(ctx, me, &name)) != 0) {
		r = kfail_(ctx, kr, "keytab principal");
		goto out;
	}
	if ((kr = krb5_get_init_creds_keytab(ctx, &tgt, me, kt, 0, NULL,
	    NULL)) != 0) {
		const char *m = krb5_get_error_message(ctx, kr);

		r = cust_fail(CUST_E_KRB5, "directory.ad: %s (from %s) gets "
		    "no ticket from the KDC %s: %s", name, ad->keytab, kdc, m);
		krb5_free_error_message(ctx, m);
		goto out;
	}
	if ((kr = krb5_cc_new_unique(ctx, "MEMORY", NULL, &cc)) != 0 ||
	    (kr = krb5_cc_initialize(ctx, cc, me)) != 0 ||
	    (kr = krb5_cc_store_cred(ctx, cc, &tgt)) != 0) {
		r = kfail_(ctx, kr, "memory ccache");
		goto out;
	}
	if ((kr = krb5_sname_to_principal(ctx, lud->lud_host, "ldap",
	    KRB5_NT_SRV_HST, &svc)) != 0) {
		r = kfail_(ctx, kr, "the DC's service name");
		goto out;
	}
	in.client = me;
	in.server = svc;
	if ((kr = krb5_get_credentials(ctx, 0, cc, &in, &got)) != 0) {
		const char *m = krb5_get_error_message(ctx, kr);

		r = cust_fail(CUST_E_KRB5, "directory.ad: no ticket for "
		    "ldap/%s: %s", lud->lud_host, m);
		krb5_free_error_message(ctx, m);
		goto out;
	}
	(void)snprintf(ccname, sizeof(ccname), "MEMORY:%s",
	    krb5_cc_get_name(ctx, cc));
	if (gss_krb5_ccache_name(&min, ccname, &prev) != GSS_S_COMPLETE) {
		r = cust_fail(CUST_E_KRB5, "directory.ad: cannot name the "
		    "memory ccache");
		goto out;
	}
	swapped = 1;
	if (prev != NULL && (oldcc = strdup(prev)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = set_opt(l, LDAP_OPT_X_SASL_SECPROPS, "maxssf=0",
	    "SASL security properties")) ||
	    (r = set_opt(l, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON,
	    "SASL host name")))
		goto out;
	rc = ldap_sasl_interactive_bind_s(l->ld, NULL, "GSSAPI", NULL, NULL,
	    LDAP_SASL_QUIET, sasl_interact, NULL);
	if (rc != LDAP_SUCCESS) {
		r = ldap_fail(l, rc, "SASL GSSAPI bind to the directory");
		goto out;
	}
	r = CUST_OK;
out:
	if (swapped)
		(void)gss_krb5_ccache_name(&min, oldcc, NULL);
	free(oldcc);
	if (ctx != NULL) {
		if (got != NULL)
			krb5_free_creds(ctx, got);
		krb5_free_cred_contents(ctx, &tgt);
		if (cc != NULL)
			(void)krb5_cc_destroy(ctx, cc);
		if (kt != NULL)
			(void)krb5_kt_close(ctx, kt);
		krb5_free_unparsed_name(ctx, name);
		krb5_free_principal(ctx, svc);
		krb5_free_principal(ctx, me);
		krb5_free_context(ctx);
	}
	if (lud != NULL)
		ldap_free_urldesc(lud);
	if (fd != -1)
		(void)close(fd);
	return r;
}

/*
 * The CA file can be read and holds a PEM certificate: a missing or
 * wrong one named, where libldap says only "Can't contact LDAP server"
 * (pitfall 31). Whoever can write it chooses the DC custody sends its
 * bind password and the accounts' passwords to: it must be a regular
 * file of custody's user or root, not writable by group or others.
 */
static int
ca_file_check(const char *path)
{
	FILE *f = fopen(path, "re");
	struct stat sb;
	X509 *x;

	if (f == NULL)
		return cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : CUST_E_IO,
		    "directory.ad ca_file %s: %s (the PEM file of the CA that "
		    "issued the DC's certificate)", path, strerror(errno));
	if (fstat(fileno(f), &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (sb.st_uid != geteuid() && sb.st_uid != 0) ||
	    (sb.st_mode & 022) != 0) {
		fclose(f);
		return cust_fail(CUST_E_PERM, "directory.ad ca_file %s must be "
		    "a regular file of custody's user (uid %u) or root, not "
		    "writable by group or others: whoever can write it "
		    "chooses the DC custody sends passwords to (chown, chmod "
		    "go-w)", path, (unsigned)geteuid());
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (x == NULL)
		return cust_fail(CUST_E_INVAL, "directory.ad ca_file %s holds "
		    "no PEM certificate (it must be the CA that issued the "
		    "DC's certificate)", path);
	X509_free(x);
	return CUST_OK;
}

/* Bound as ad->bind with the password of its file, or (pw_as not NULL)
 * as bind_as with pw_as. */
static int
dir_ldap_open_(const struct config_ad *ad, const char *bind_as,
    const struct seal_secret *pw_as, struct dir_ldap **out)
{
	struct dir_ldap *l = NULL;
	struct seal_secret *pw = NULL;
	struct berval cred;
	struct timeval tv;
	Sockbuf *sb = NULL;
	ber_len_t max = DIR_LDAP_MAX_MSG;
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND;
	int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, zero = 0, rc;
	int r = CUST_E_INTERNAL, ldaps, gss;
	const char *cafile = ad->ca_file != NULL ? ad->ca_file :
	    SYSTEM_CA_FILE;

	*out = NULL;
	gss = pw_as == NULL && ad->sasl != NULL;
	if (ad->sasl != NULL && strcmp(ad->sasl, "gssapi") != 0)
		return cust_fail(CUST_E_INVAL, "directory.ad: sasl: %s is not "
		    "supported (gssapi is)", ad->sasl);
	if (ad->uri == NULL || (!gss && (ad->bind == NULL ||
	    (ad->bind_password_file == NULL && pw_as == NULL))))
		return cust_fail(CUST_E_INVAL, "directory.ad needs uri, and "
		    "bind and bind_password_file or sasl: gssapi and keytab "
		    "(custody.yaml(5))");
	if (strpbrk(ad->uri, CONFIG_URI_LIST_SEPS) != NULL)
		return cust_fail(CUST_E_INVAL, "directory.ad: uri must be one "
		    "URI, not a list");
	ldaps = strncmp(ad->uri, "ldaps://", 8) == 0;
	if (!ldaps && !(strncmp(ad->uri, "ldap://", 7) == 0 && ad->starttls))
		return cust_fail(CUST_E_INVAL, "directory.ad: plain LDAP is "
		    "refused: use an ldaps:// URI, or ldap:// with starttls");
	if (pw_as != NULL)
		pw = seal_secret_dup(seal_secret_str(pw_as),
		    seal_secret_len(pw_as));
	else if (!gss && (r = config_read_secret(ad->bind_password_file,
	    &pw)) != CUST_OK)
		return r;
	if (pw == NULL && !gss)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	(void)snprintf(l->uri, sizeof(l->uri), "%s", ad->uri);
	if ((rc = ldap_initialize(&l->ld, ad->uri)) != LDAP_SUCCESS) {
		r = ldap_fail(l, rc, "directory.ad uri");
		goto out;
	}
	tv.tv_sec = DIR_LDAP_CONNECT_TIMEOUT;
	tv.tv_usec = 0;
	l->cb.lc_add = guard_add;
	l->cb.lc_del = guard_del;
	l->cb.lc_arg = l;
	if ((r = set_opt(l, LDAP_OPT_CONNECT_CB, &l->cb, "connect callback")) ||
	    (r = set_opt(l, LDAP_OPT_PROTOCOL_VERSION, &v3, "LDAPv3")) ||
	    (r = set_opt(l, LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals")) ||
	    (r = set_opt(l, LDAP_OPT_NETWORK_TIMEOUT, &tv, "timeout")))
		goto out;
	tv.tv_sec = DIR_LDAP_OP_TIMEOUT;
	if ((r = ca_file_check(cafile)) ||
	    (r = set_opt(l, LDAP_OPT_TIMEOUT, &tv, "timeout")) ||
	    (r = set_opt(l, LDAP_OPT_X_TLS_CACERTFILE, cafile,
	    "the CA file")) ||
	    (r = set_opt(l, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand,
	    "certificate checks")) ||
	    (r = set_opt(l, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12,
	    "TLS version")) ||
	    (r = set_opt(l, LDAP_OPT_X_TLS_NEWCTX, &zero, "TLS context")))
		goto out;
	/* TCP, and TLS for ldaps://, within the connect timeout; then the
	 * StartTLS or bind within an operation's */
	arm(l, DIR_LDAP_CONNECT_TIMEOUT);
	if ((rc = ldap_connect(l->ld)) != LDAP_SUCCESS) {
		r = ldap_fail(l, rc, "connect to the directory");
		goto out;
	}
	arm(l, DIR_LDAP_OP_TIMEOUT);
	if (!ldaps && (rc = ldap_start_tls_s(l->ld, NULL, NULL)) !=
	    LDAP_SUCCESS) {
		r = ldap_fail(l, rc, "StartTLS");
		goto out;
	}
	if (gss) {
		if ((r = gssapi_bind(l, ad)) != CUST_OK)
			goto out;
		goto bound;
	}
	cred.bv_val = (char *)seal_secret_data(pw);
	cred.bv_len = seal_secret_len(pw);
	rc = ldap_sasl_bind_s(l->ld, pw_as != NULL ? bind_as : ad->bind,
	    LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		r = ldap_fail(l, rc, "bind to the directory");
		/* bound as an account to test its password: only the wrong
		 * password says the password is not the account's */
		if (pw_as != NULL && rc == LDAP_INVALID_CREDENTIALS)
			r = CUST_E_DENIED;
		goto out;
	}
bound:
	/* Encrypted for sure before anything else is sent. */
	if (!ldap_tls_inplace(l->ld)) {
		r = cust_fail(CUST_E_INTERNAL, "the directory connection is "
		    "not encrypted");
		goto out;
	}
	if (ldap_get_option(l->ld, LDAP_OPT_SOCKBUF, &sb) ==
	    LDAP_OPT_SUCCESS && sb != NULL)
		(void)ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_MAX_INCOMING, &max);
	*out = l;
	l = NULL;
	r = CUST_OK;
out:
	seal_secret_free(pw);
	dir_ldap_free(l);
	return r;
}

void
dir_ldap_free(struct dir_ldap *l)
{
	if (l == NULL)
		return;
	if (l->ld != NULL) {
		struct pipe_guard g;

		guard_on(&g);
		arm(l, DIR_LDAP_CONNECT_TIMEOUT);
		(void)ldap_unbind_ext_s(l->ld, NULL, NULL);
		guard_off(&g);
	}
	free(l);
}

static int
is_binary(const char *attr)
{
	return strcasecmp(attr, "objectSid") == 0 ||
	    strcasecmp(attr, "objectGUID") == 0 ||
	    strcasecmp(attr, "nTSecurityDescriptor") == 0 ||
	    strcasecmp(attr, "tokenGroups") == 0 ||
	    strcasecmp(attr, "mS-DS-CreatorSID") == 0;
}

/* One entry as {"dn", ATTR: [values]}; *bytes grows by its size (DN,
 * names and values). */
static int
entry_json(LDAP *ld, LDAPMessage *e, json_t **out, size_t *bytes)
{
	BerElement *ber = NULL;
	struct berval **vals;
	json_t *o = json_object(), *a;
	char *dn = ldap_get_dn(ld, e), *attr, b64[512];
	int i, r = CUST_OK;

	*out = NULL;
	if (o == NULL || dn == NULL || json_object_set_new(o, "dn",
	    json_stringn(dn, strlen(dn))) != 0) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	*bytes += strlen(dn);
	for (attr = ldap_first_attribute(ld, e, &ber); r == CUST_OK &&
	    attr != NULL; attr = ldap_next_attribute(ld, e, ber)) {
		vals = ldap_get_values_len(ld, e, attr);
		a = json_array();
		*bytes += strlen(attr);
		for (i = 0; a != NULL && vals != NULL && vals[i] != NULL; i++) {
			json_t *v;

			*bytes += vals[i]->bv_len + 16;

			if (is_binary(attr)) {
				if (vals[i]->bv_len > 300) {
					r = cust_fail(CUST_E_PARSE, "the "
					    "directory sent an oversized %s",
					    attr);
					break;
				}
				sodium_bin2base64(b64, sizeof(b64),
				    (unsigned char *)vals[i]->bv_val,
				    vals[i]->bv_len,
				    sodium_base64_VARIANT_ORIGINAL);
				v = json_string(b64);
			} else {
				/* NULL when not UTF-8: dropped below */
				v = json_stringn(vals[i]->bv_val,
				    vals[i]->bv_len);
			}
			if (v != NULL && json_array_append_new(a, v) != 0)
				r = cust_fail(CUST_E_NOMEM, "out of memory");
		}
		ldap_value_free_len(vals);
		if (a == NULL || json_object_set_new(o, attr, a) != 0)
			r = cust_fail(CUST_E_NOMEM, "out of memory");
		ldap_memfree(attr);
	}
	if (r == CUST_OK) {
		*out = o;
		o = NULL;
	}
out:
	if (ber != NULL)
		ber_free(ber, 0);
	ldap_memfree(dn);
	json_decref(o);
	return r;
}

/*
 * Test hook: CUSTODY_TEST_LDAP_RANGE=N makes custody ask for the values of
 * a ranged attribute (member) N at a time, as a DC whose MaxValRange is N
 * answers (Samba gives every value unless a range is asked for). 0: off.
 */
static long
test_range(void)
{
	const char *v = getenv("CUSTODY_TEST_LDAP_RANGE");
	long n = v != NULL ? strtol(v, NULL, 10) : 0;

	return n > 0 && n < 1000000 ? n : 0;
}

static int search_once(struct dir_ldap *l, const char *base, int scope,
    const char *filter, const char *const *attrs, LDAPControl **ctrls,
    json_t **out);

/* The values of attribute name of dn after hi (the last had), appended
 * to all. */
static int
range_rest(struct dir_ldap *l, const char *dn, const char *name,
    unsigned long hi, json_t *all)
{
	char attr[192], got_name[128];
	const char *attrs[] = { attr, NULL }, *k;
	unsigned long lo, nhi;
	long step = test_range();
	json_t *got, *page, *v;
	int last = 0, r;

	while (!last) {
		if (json_array_size(all) >= DIR_LDAP_MAX_VALUES)
			return cust_fail(CUST_E_LDAP, "the directory sent more "
			    "than %d values of %s of %s", DIR_LDAP_MAX_VALUES,
			    name, dn);
		if (step > 0)
			snprintf(attr, sizeof(attr), "%s;range=%lu-%lu", name,
			    hi + 1, hi + (unsigned long)step);
		else
			snprintf(attr, sizeof(attr), "%s;range=%lu-*", name,
			    hi + 1);
		if ((r = search_once(l, dn, 0, "(objectClass=*)", attrs, NULL,
		    &got)) != CUST_OK)
			return r;
		page = NULL;
		lo = nhi = 0;
		json_object_foreach(json_array_get(got, 0), k, v)
			if (dir_range_parse(k, got_name, sizeof(got_name), &lo,
			    &nhi, &last) && strcasecmp(got_name, name) == 0)
				break;
		page = k != NULL ? v : NULL;
		/* each page follows on and, unless the last, moves forward */
		if (page == NULL || lo != hi + 1 || (!last &&
		    (json_array_size(page) == 0 || nhi < lo))) {
			json_decref(got);
			return cust_fail(CUST_E_LDAP, "the directory sent %s "
			    "of %s in ranges that do not follow on", name, dn);
		}
		r = json_array_extend(all, page) == 0 ? CUST_OK :
		    cust_fail(CUST_E_NOMEM, "out of memory");
		json_decref(got);
		if (r != CUST_OK)
			return r;
		hi = nhi;
	}
	return CUST_OK;
}

/*
 * AD gives at most MaxValRange (1500) values of an attribute such as
 * member at once, as "member;range=0-1499", and the rest on request
 * ("member;range=1500-*"; MS-ADTS 3.1.1.3.1.3.3). Every ranged attribute
 * of entry o is fetched whole and put under its plain name. A DC whose
 * ranges do not follow on, or that gives more than DIR_LDAP_MAX_VALUES
 * values, is refused.
 */
static int
range_fill(struct dir_ldap *l, json_t *o)
{
	const char *dn = json_string_value(json_object_get(o, "dn")), *k;
	char name[128];
	unsigned long lo, hi;
	json_t *keys = json_array(), *v, *all;
	size_t i;
	int last, r = CUST_OK;

	if (keys == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_object_foreach(o, k, v)
		if (strcasestr(k, ";range=") != NULL &&
		    json_array_append_new(keys, json_string(k)) != 0) {
			json_decref(keys);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
	json_array_foreach(keys, i, v) {
		k = json_string_value(v);
		if (!dir_range_parse(k, name, sizeof(name), &lo, &hi, &last) ||
		    lo != 0 || dn == NULL) {
			r = cust_fail(CUST_E_LDAP, "the directory sent %.100s "
			    "of %.300s, not a range from the first value", k,
			    dn ? dn : "?");
			break;
		}
		all = json_incref(json_object_get(o, k));
		if (!last)
			r = range_rest(l, dn, name, hi, all);
		if (r == CUST_OK) {
			(void)json_object_del(o, k);
			r = json_object_set(o, name, all) == 0 ? CUST_OK :
			    cust_fail(CUST_E_NOMEM, "out of memory");
		}
		json_decref(all);
		if (r != CUST_OK)
			break;
	}
	json_decref(keys);
	return r;
}

static int
dir_ldap_search_(struct dir_ldap *l, const char *base, int scope,
    const char *filter, const char *const *attrs, json_t **out)
{
	const char *asked[16];
	char ranged[16][160];
	json_t *e;
	size_t i;
	long step = test_range();
	int r;

	/* the test hook: ranged attributes asked for step values at first */
	for (i = 0; step > 0 && attrs != NULL && attrs[i] != NULL && i < 15;
	    i++) {
		asked[i] = attrs[i];
		if (strcasecmp(attrs[i], "member") == 0) {
			snprintf(ranged[i], sizeof(ranged[i]),
			    "%s;range=0-%ld", attrs[i], step - 1);
			asked[i] = ranged[i];
		}
	}
	if (step > 0 && attrs != NULL && attrs[i] == NULL) {
		asked[i] = NULL;
		attrs = asked;
	}
	if ((r = search_once(l, base, scope, filter, attrs, NULL, out)) !=
	    CUST_OK)
		return r;
	json_array_foreach(*out, i, e)
		if ((r = range_fill(l, e)) != CUST_OK) {
			json_decref(*out);
			*out = NULL;
			return r;
		}
	return CUST_OK;
}

/* Seconds left until deadline (CLOCK_MONOTONIC), at most 0. */
static long
left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec >= deadline->tv_sec ? 0 :
	    (long)(deadline->tv_sec - now.tv_sec);
}

/*
 * One search, its reply read a message at a time and bounded on custody's
 * side: the sizelimit sent is only a request, and a DC that ignores it
 * (or sends a few huge entries) must not make custody hold whatever it
 * sends. More than DIR_LDAP_MAX_ENTRIES entries or references, more than
 * DIR_LDAP_MAX_REPLY bytes, or no answer within DIR_LDAP_OP_TIMEOUT:
 * the search is abandoned and refused. References (and a referral
 * result) are never followed (LDAP_OPT_REFERRALS is off).
 */
static int
search_once(struct dir_ldap *l, const char *base, int scope,
    const char *filter, const char *const *attrs, LDAPControl **ctrls,
    json_t **out)
{
	LDAPMessage *msg = NULL;
	struct timeval tv = { DIR_LDAP_OP_TIMEOUT, 0 };
	struct timespec deadline;
	json_t *arr = NULL, *o;
	size_t n = 0, bytes = 0;
	int msgid = -1, rc, err = LDAP_OTHER, t, r = CUST_OK, done = 0;

	*out = NULL;
	arm(l, DIR_LDAP_OP_TIMEOUT);
	deadline = l->deadline;
	if ((arr = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	rc = ldap_search_ext(l->ld, base, scope == 0 ? LDAP_SCOPE_BASE :
	    LDAP_SCOPE_SUBTREE, filter, (char **)(uintptr_t)attrs, 0, ctrls,
	    NULL, &tv, DIR_LDAP_MAX_ENTRIES, &msgid);
	if (rc != LDAP_SUCCESS) {
		r = ldap_fail(l, rc, "search the directory");
		goto out;
	}
	while (!done && r == CUST_OK) {
		tv.tv_sec = left(&deadline);
		tv.tv_usec = 0;
		t = tv.tv_sec > 0 ? ldap_result(l->ld, msgid, LDAP_MSG_ONE, &tv,
		    &msg) : 0;
		if (t == 0) {
			r = cust_fail(CUST_E_UNAVAIL, "the directory did not "
			    "answer a search within %d s (%s)",
			    DIR_LDAP_OP_TIMEOUT, l->uri);
			break;
		}
		if (t < 0) {
			(void)ldap_get_option(l->ld, LDAP_OPT_RESULT_CODE, &rc);
			msgid = -1;	/* the connection is gone */
			r = ldap_fail(l, rc, "search the directory");
			break;
		}
		if (t == LDAP_RES_SEARCH_ENTRY ||
		    t == LDAP_RES_SEARCH_REFERENCE) {
			if (++n > DIR_LDAP_MAX_ENTRIES) {
				r = cust_fail(CUST_E_LDAP, "the directory sent "
				    "more than %d entries for one search (%s)",
				    DIR_LDAP_MAX_ENTRIES, l->uri);
			} else if (t == LDAP_RES_SEARCH_ENTRY &&
			    (r = entry_json(l->ld, msg, &o, &bytes)) ==
			    CUST_OK && json_array_append_new(arr, o) != 0) {
				r = cust_fail(CUST_E_NOMEM, "out of memory");
			} else if (r == CUST_OK && bytes > DIR_LDAP_MAX_REPLY) {
				r = cust_fail(CUST_E_LDAP, "the directory sent "
				    "more than %u MiB for one search (%s)",
				    DIR_LDAP_MAX_REPLY >> 20, l->uri);
			}
		} else if (t == LDAP_RES_SEARCH_RESULT) {
			done = 1;
			msgid = -1;
			rc = ldap_parse_result(l->ld, msg, &err, NULL, NULL,
			    NULL, NULL, 0);
			if (rc != LDAP_SUCCESS)
				err = rc;
		}
		ldap_msgfree(msg);
		msg = NULL;
	}
	if (r != CUST_OK)
		goto out;
	if (err == LDAP_NO_SUCH_OBJECT) {
		json_array_clear(arr);
	} else if (err != LDAP_SUCCESS) {
		r = ldap_fail(l, err, "search the directory");
		goto out;
	}
	*out = arr;
	arr = NULL;
out:
	if (r != CUST_OK && msgid >= 0)
		(void)ldap_abandon_ext(l->ld, msgid, NULL, NULL);
	json_decref(arr);
	return r;
}

/* The LDAPMod array for attrs[0..n), values pointing into attrs (and
 * bvals, the binary values' holders); freed with free() of each. */
static int
build_mods(const struct dir_attr *attrs, size_t n, int with_op,
    LDAPMod ***mods_out, struct berval *bvals, struct berval **bptrs)
{
	LDAPMod **mods = calloc(n + 1, sizeof(*mods)), *m;
	size_t i;

	*mods_out = NULL;
	if (mods == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			while (i-- > 0)
				free(mods[i]);
			free(mods);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		mods[i] = m;
		m->mod_op = !with_op ? LDAP_MOD_ADD :
		    attrs[i].op == DIR_MOD_DELETE ? LDAP_MOD_DELETE :
		    attrs[i].op == DIR_MOD_REPLACE ? LDAP_MOD_REPLACE :
		    LDAP_MOD_ADD;
		m->mod_type = (char *)(uintptr_t)attrs[i].name;
		if (attrs[i].bin != NULL) {
			bvals[i].bv_val = (char *)(uintptr_t)attrs[i].bin;
			bvals[i].bv_len = attrs[i].binlen;
			bptrs[2 * i] = &bvals[i];
			bptrs[2 * i + 1] = NULL;
			m->mod_op |= LDAP_MOD_BVALUES;
			m->mod_bvalues = &bptrs[2 * i];
		} else {
			m->mod_values = (char **)(uintptr_t)attrs[i].vals;
		}
	}
	*mods_out = mods;
	return CUST_OK;
}

static void
free_mods(LDAPMod **mods)
{
	size_t i;

	for (i = 0; mods != NULL && mods[i] != NULL; i++)
		free(mods[i]);
	free(mods);
}

/* Text values must be NULL-terminated arrays for libldap: copy them. */
static int
change(struct dir_ldap *l, const char *dn, const struct dir_attr *attrs,
    size_t n, int modify)
{
	struct berval *bvals = NULL, **bptrs = NULL;
	struct dir_attr *copy = NULL;
	const char ***valv = NULL;
	LDAPMod **mods = NULL;
	struct pipe_guard g;
	size_t i, j;
	int rc, r = CUST_E_INTERNAL;

	if (n == 0 || n > 64)
		return cust_fail(CUST_E_INTERNAL, "%zu attributes", n);
	if ((bvals = calloc(n, sizeof(*bvals))) == NULL ||
	    (bptrs = calloc(2 * n, sizeof(*bptrs))) == NULL ||
	    (copy = calloc(n, sizeof(*copy))) == NULL ||
	    (valv = calloc(n, sizeof(*valv))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		copy[i] = attrs[i];
		if (attrs[i].bin != NULL)
			continue;
		if ((valv[i] = calloc(attrs[i].n + 1, sizeof(char *))) ==
		    NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		for (j = 0; j < attrs[i].n; j++)
			valv[i][j] = attrs[i].vals[j];
		copy[i].vals = valv[i];
	}
	if ((r = build_mods(copy, n, modify, &mods, bvals, bptrs)) != CUST_OK)
		goto out;
	guard_on(&g);
	arm(l, DIR_LDAP_OP_TIMEOUT);
	rc = modify ? ldap_modify_ext_s(l->ld, dn, mods, NULL, NULL) :
	    ldap_add_ext_s(l->ld, dn, mods, NULL, NULL);
	guard_off(&g);
	r = rc == LDAP_SUCCESS ? CUST_OK : ldap_fail(l, rc, modify ?
	    "modify a directory object" : "add a directory object");
out:
	free_mods(mods);
	for (i = 0; valv != NULL && i < n; i++)
		free(valv[i]);
	free(valv);
	free(copy);
	free(bptrs);
	free(bvals);
	return r;
}

int
dir_ldap_add(struct dir_ldap *l, const char *dn, const struct dir_attr *attrs,
    size_t n)
{
	return change(l, dn, attrs, n, 0);
}

int
dir_ldap_modify(struct dir_ldap *l, const char *dn,
    const struct dir_attr *mods, size_t n)
{
	return change(l, dn, mods, n, 1);
}

static int
dir_ldap_delete_(struct dir_ldap *l, const char *dn)
{
	int rc;

	arm(l, DIR_LDAP_OP_TIMEOUT);
	rc = ldap_delete_ext_s(l->ld, dn, NULL, NULL);

	return rc == LDAP_SUCCESS ? CUST_OK : ldap_fail(l, rc,
	    "delete a directory object");
}

int
dir_ldap_set_password(struct dir_ldap *l, const char *dn,
    const struct seal_secret *pw)
{
	const unsigned char *p = (const unsigned char *)seal_secret_str(pw);
	size_t len = seal_secret_len(pw), i;
	struct seal_secret *u16;
	struct dir_attr m;
	unsigned char *q;
	int r;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return cust_fail(CUST_E_INVAL, "a directory password "
			    "must be printable ASCII");
	/* "PASSWORD" in UTF-16LE: ASCII is one unit each. */
	if ((u16 = seal_secret_new(2 * (len + 2))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	q = seal_secret_data(u16);
	q[0] = '"';
	for (i = 0; i < len; i++)
		q[2 * (i + 1)] = p[i];
	q[2 * (len + 1)] = '"';
	memset(&m, 0, sizeof(m));
	m.op = DIR_MOD_REPLACE;
	m.name = "unicodePwd";
	m.bin = q;
	m.binlen = 2 * (len + 2);
	r = dir_ldap_modify(l, dn, &m, 1);
	seal_secret_free(u16);
	return r;
}

int
dir_dn_equal(const char *a, const char *b)
{
	char *na = NULL, *nb = NULL;
	int eq = 0;

	if (ldap_dn_normalize(a, LDAP_DN_FORMAT_LDAPV3, &na,
	    LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
	    ldap_dn_normalize(b, LDAP_DN_FORMAT_LDAPV3, &nb,
	    LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && na != NULL &&
	    nb != NULL)
		eq = strcasecmp(na, nb) == 0;
	ldap_memfree(na);
	ldap_memfree(nb);
	return eq;
}

int
dir_ldap_open(const struct config_ad *ad, struct dir_ldap **out)
{
	struct pipe_guard g;
	int r;

	guard_on(&g);
	r = dir_ldap_open_(ad, NULL, NULL, out);
	guard_off(&g);
	return r;
}

int
dir_ldap_open_as(const struct config_ad *ad, const char *bind,
    const struct seal_secret *pw, struct dir_ldap **out)
{
	struct pipe_guard g;
	int r;

	guard_on(&g);
	r = dir_ldap_open_(ad, bind, pw, out);
	guard_off(&g);
	return r;
}

int
dir_ldap_search(struct dir_ldap *l, const char *base, int scope,
    const char *filter, const char *const *attrs, json_t **out)
{
	struct pipe_guard g;
	int r;

	guard_on(&g);
	r = dir_ldap_search_(l, base, scope, filter, attrs, out);
	guard_off(&g);
	return r;
}

/*
 * LDAP_SERVER_SD_FLAGS_OID (MS-ADTS 3.1.1.3.4.1.11): which parts of
 * nTSecurityDescriptor a search returns. Its value is the BER of
 * SEQUENCE { INTEGER flags }; OWNER_SECURITY_INFORMATION (1) alone, the
 * part any account that may read the object may read (without the
 * control AD returns the whole descriptor, SACL included, and only to
 * accounts that may read the SACL). Critical: a DC that does not know
 * it refuses the search rather than answer something else.
 */
#define SD_FLAGS_OID	"1.2.840.113556.1.4.801"

int
dir_ldap_read_owner(struct dir_ldap *l, const char *dn,
    const char *const *attrs, json_t **out)
{
	static char owner_only[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	LDAPControl c = { (char *)(uintptr_t)SD_FLAGS_OID,
	    { sizeof(owner_only), owner_only }, 'T' }, *ctrls[] = { &c, NULL };
	struct pipe_guard g;
	json_t *a = NULL;
	int r;

	*out = NULL;
	guard_on(&g);
	r = search_once(l, dn, 0, "(objectClass=*)", attrs, ctrls, &a);
	guard_off(&g);
	if (r == CUST_OK && json_array_size(a) > 0)
		*out = json_incref(json_array_get(a, 0));
	json_decref(a);
	return r;
}

int
dir_ldap_delete(struct dir_ldap *l, const char *dn)
{
	struct pipe_guard g;
	int r;

	guard_on(&g);
	r = dir_ldap_delete_(l, dn);
	guard_off(&g);
	return r;
}
