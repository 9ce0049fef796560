/* SPDX-License-Identifier: MIT */
/* include/config.h - the service configuration, DIR/custody.yaml.
 *
 * One YAML mapping read as strictly as a policy (ytree.h): unknown keys,
 * values of the wrong type or outside their bounds, duplicates, anchors
 * and tags are errors at FILE:LINE:COL. Every key is optional; what is not
 * set keeps the default documented in custody.yaml(5) and below. A missing
 * file means all defaults. The result is a plain struct: the daemon reads
 * its fields directly and frees it with config_free().
 */
#ifndef CUST_CONFIG_H
#define CUST_CONFIG_H

#include <stdint.h>
#include <stdio.h>

/* The file's name inside the state directory. */
#define CONFIG_FILE		"custody.yaml"
/* Larger files are refused (CUST_E_TOOBIG). */
#define CONFIG_MAX_BYTES	(256u * 1024)
/* At most this many listen addresses. */
#define CONFIG_MAX_LISTEN	16

/* One listen address: a literal IPv4 or IPv6 address and a port. */
struct config_listen {
	int family;		/* AF_INET or AF_INET6 */
	char host[46];		/* the address, IPv6 without brackets */
	uint16_t port;
};

/* Characters that make directory.ad.uri a list to libldap (which then
 * falls back from one URI to the next, whatever its scheme): refused. */
#define CONFIG_URI_LIST_SEPS	" \t\r\n,"

/* directory.ad (issue 10; parsed and checked now, used later). */
struct config_ad {
	int set;		/* the section is present */
	char *uri;		/* ldaps://HOST[:PORT], or ldap:// with starttls */
	int starttls;		/* ldap:// upgraded with StartTLS */
	char *ca_file;		/* absolute path or NULL (system CAs) */
	char *bind;		/* bind DN or user@REALM, or NULL with sasl */
	char *bind_password_file; /* absolute path or NULL */
	char *sasl;		/* NULL (simple bind) or "gssapi" */
	char *keytab;		/* absolute path, for sasl: gssapi */
	char *base_dn;
	char *realm;		/* upper-case Kerberos realm */
	char *group_prefix;	/* default "AMT-" */
	int rc4;		/* default 0: service accounts' keytabs and
				 * tickets AES only; 1 adds RC4-HMAC */
	int64_t keytab_grace;	/* seconds the previous kvno stays in a
				 * rotated account's keytab, default 7d */
	int64_t object_max_age;	/* seconds a device object's password is
				 * used before device kerberos --rotate
				 * --due replaces it, default 90d; 0 off */
	int acl_sid;		/* the SID of devices' Kerberos ACL entries:
				 * CONFIG_ACL_SID_AUTO (default: a duty's
				 * group where least privilege allows) or
				 * CONFIG_ACL_SID_ACCOUNT (each console's
				 * account) */
	/* The Global Catalog the duplicate-SPN check searches (the whole
	 * forest): NULL, uri's host on port 3269 (ldaps) or 3268
	 * (StartTLS); "none": the domain only. Same scheme as uri. */
	char *gc_uri;
};

#define CONFIG_ACL_SID_AUTO	0
#define CONFIG_ACL_SID_ACCOUNT	1

/* directory.mit. */
struct config_mit {
	int set;
	char *realm;
	char *kdc;		/* HOST:PORT or NULL (krb5.conf) */
	char *admin_server;	/* HOST:PORT or NULL (krb5.conf) */
	char *admin_principal;
	char *admin_password_file; /* absolute path; or admin_keytab */
	char *admin_keytab;
	int64_t keytab_grace;	/* seconds the previous kvno is kept */
};

struct cust_config {
	char *path;		/* the file read; NULL when it was absent */

	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t nlisten;		/* default 127.0.0.1:8443 and [::1]:8443 */

	struct {
		int min_version;	/* 12 (TLS 1.2, default) or 13 */
		char *client_ca_file;	/* enterprise CA or NULL */
		char *client_crl_file;	/* its CRLs (PEM or DER) or NULL */
		int client_crl_required; /* default 1: no CRL file, an
					  * error */
		int session_tickets;	/* default 0 */
	} tls;

	struct {
		uint64_t max_header_bytes;	/* default 16384 */
		uint64_t max_body_bytes;	/* default 1048576 */
		int64_t header_timeout;		/* seconds, default 10 */
		int64_t body_timeout;		/* seconds, default 30 */
		unsigned max_connections;	/* default 4096 */
		/* 0 (default): a quarter of max_connections */
		unsigned max_connections_per_address;
		unsigned workers;		/* 0 (default): four per CPU */
	} limits;

	struct {
		/* seconds; 0: never rotated by age (as sched_policy) */
		int64_t max_age_admin;		/* default 90d */
		int64_t max_age_mebx;		/* default 180d */
		int64_t max_age_console;	/* default 90d */
		int64_t jitter;			/* default 1d */
		unsigned batch_size;		/* default 50 */
		unsigned rate_limit;		/* devices/s, default 10 */
		int push;			/* default 0 */
		/* custodyd's scheduler rotates the AD device objects due
		 * under directory.ad object_max_age (device kerberos
		 * --rotate --due); default 1 */
		int kerberos;
	} rotation;

	int64_t crl_refresh_before;		/* seconds, default 1d */
	int64_t server_cert_renew_before;	/* seconds, default 30d */
	int log_level;		/* LOG_LEVEL_* of log.h, default info */

	struct config_ad ad;
	struct config_mit mit;

	struct {
		/* HTTP service keytab for Negotiate (GSSAPI/SPNEGO) login
		 * to custodyd, or NULL: Negotiate off */
		char *negotiate_keytab;
	} auth;
};

/* A configuration with every default (what a missing file gives): new,
 * free with config_free(); NULL on ENOMEM. */
struct cust_config *config_defaults(void);

/*
 * Parse buf[0..len) (name is the file name in messages). Each problem
 * found is written to errs as "NAME:LINE:COL: message" when errs is not
 * NULL; all of them are reported, not only the first. Returns CUST_OK
 * with a new *cfg_out (config_free()), CUST_E_PARSE when the file has
 * problems (cust_errmsg(): the first one and how many more),
 * CUST_E_TOOBIG over CONFIG_MAX_BYTES, CUST_E_NOMEM.
 */
int config_parse(const char *name, const char *buf, size_t len, FILE *errs,
    struct cust_config **cfg_out) __attribute__((warn_unused_result));

/*
 * Load the file at path as config_parse() does. A missing file gives the
 * defaults (cfg->path NULL). A file that is not a regular file owned by
 * the effective user, or that group or others may write, is refused
 * (CUST_E_PERM): whoever can edit it can redirect the service.
 */
int config_load(const char *path, FILE *errs, struct cust_config **cfg_out)
	__attribute__((warn_unused_result));

/* config_load() of STATE_DIR/custody.yaml. */
int config_load_dir(const char *state_dir, FILE *errs,
    struct cust_config **cfg_out) __attribute__((warn_unused_result));

/* Free cfg and its strings; NULL is a no-op. */
void config_free(struct cust_config *cfg);

/* Parse "HOST:PORT" (HOST an IPv4 literal or a bracketed IPv6 literal,
 * PORT 1-65535) into *out, for the config and custodyd --listen alike.
 * CUST_E_INVAL with a message when malformed. */
int config_parse_listen(const char *s, struct config_listen *out)
	__attribute__((warn_unused_result));

/* "127.0.0.1:8443" / "[::1]:8443" into buf (at least 56 bytes). */
void config_listen_format(const struct config_listen *l, char *buf,
    size_t len);

/* Parse a duration: "90d", "12h", "30m", "45s" or plain seconds, into
 * [min, max] seconds. CUST_E_INVAL with a message otherwise. */
int config_parse_duration(const char *s, int64_t min, int64_t max,
    int64_t *out) __attribute__((warn_unused_result));

/* The effective configuration as YAML that config_parse() reads back to
 * the same values (custodyd -T, custodyctl config check -v). */
int config_write(const struct cust_config *cfg, FILE *out);

/*
 * custodyd --check-config and custodyctl config check: load
 * STATE_DIR/custody.yaml (or path when not NULL), write every problem to
 * err and, when valid, one line to out (NULL: nothing): "PATH: valid" or
 * "PATH: absent, the defaults apply", followed by the effective configuration when
 * verbose. Returns the exit status: 0 valid, 2 invalid or unreadable.
 */
int config_check_cli(const char *state_dir, const char *path, int verbose,
    FILE *out, FILE *err);

/*
 * Read a secret file the configuration names (directory.mit
 * admin_password_file, directory.ad bind_password_file): opened without
 * following a link, refused unless a regular file owned by the effective
 * user with no group or other permissions (CUST_E_PERM, saying so), at
 * most CONFIG_SECRET_MAX bytes (CUST_E_TOOBIG), not empty after one
 * trailing newline is taken off (CUST_E_INVAL). *out a new secret
 * (sodium memory) without that newline; the read buffer is wiped.
 */
#define CONFIG_SECRET_MAX	4096
struct seal_secret;
int config_read_secret(const char *path, struct seal_secret **out)
	__attribute__((warn_unused_result));

/* The commented default custody.yaml that init writes (static text; it
 * parses to config_defaults()). */
const char *config_default_text(void);

#endif
