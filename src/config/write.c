/* SPDX-License-Identifier: MIT */
/* src/config/write.c - the configuration back out: the effective values
 * (custodyd -T, config check -v), the check both programs run, and the
 * commented default file that init writes. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "log.h"

#define DAY	INT64_C(86400)

/* Duration in the largest unit that divides it ("90d", "45s"). */
static void
put_duration(FILE *out, const char *indent, const char *key, int64_t s)
{
	if (s != 0 && s % DAY == 0)
		fprintf(out, "%s%s: %lldd\n", indent, key, (long long)(s / DAY));
	else if (s != 0 && s % 3600 == 0)
		fprintf(out, "%s%s: %lldh\n", indent, key,
		    (long long)(s / 3600));
	else if (s != 0 && s % 60 == 0)
		fprintf(out, "%s%s: %lldm\n", indent, key, (long long)(s / 60));
	else
		fprintf(out, "%s%s: %llds\n", indent, key, (long long)s);
}

/* A double-quoted YAML string; values were checked free of control
 * characters when parsed, so quote and backslash are all there is. */
static void
put_str(FILE *out, const char *indent, const char *key, const char *s)
{
	if (s == NULL)
		return;
	fprintf(out, "%s%s: \"", indent, key);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputs("\"\n", out);
}

static void
put_bool(FILE *out, const char *indent, const char *key, int b)
{
	fprintf(out, "%s%s: %s\n", indent, key, b ? "true" : "false");
}

int
config_write(const struct cust_config *cfg, FILE *out)
{
	static const char *const levels[] = {
		[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARN] = "warn",
		[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
	};
	const struct config_ad *ad = &cfg->ad;
	const struct config_mit *mit = &cfg->mit;
	char addr[64];
	size_t i;

	fputs("listen:\n", out);
	for (i = 0; i < cfg->nlisten; i++) {
		config_listen_format(&cfg->listen[i], addr, sizeof(addr));
		fprintf(out, "  - \"%s\"\n", addr);
	}
	fprintf(out, "tls:\n  min_version: \"1.%d\"\n",
	    cfg->tls.min_version - 10);
	put_str(out, "  ", "client_ca_file", cfg->tls.client_ca_file);
	put_str(out, "  ", "client_crl_file", cfg->tls.client_crl_file);
	put_bool(out, "  ", "client_crl_required",
	    cfg->tls.client_crl_required);
	put_bool(out, "  ", "session_tickets", cfg->tls.session_tickets);
	fprintf(out, "limits:\n  max_header_bytes: %llu\n"
	    "  max_body_bytes: %llu\n",
	    (unsigned long long)cfg->limits.max_header_bytes,
	    (unsigned long long)cfg->limits.max_body_bytes);
	put_duration(out, "  ", "header_timeout", cfg->limits.header_timeout);
	put_duration(out, "  ", "body_timeout", cfg->limits.body_timeout);
	fprintf(out, "  max_connections: %u\n"
	    "  max_connections_per_address: %u\n  workers: %u\n",
	    cfg->limits.max_connections,
	    cfg->limits.max_connections_per_address, cfg->limits.workers);
	fputs("rotation:\n  max_age:\n", out);
	put_duration(out, "    ", "admin", cfg->rotation.max_age_admin);
	put_duration(out, "    ", "mebx", cfg->rotation.max_age_mebx);
	put_duration(out, "    ", "console", cfg->rotation.max_age_console);
	put_duration(out, "  ", "jitter", cfg->rotation.jitter);
	fprintf(out, "  batch_size: %u\n  rate_limit: %u\n",
	    cfg->rotation.batch_size, cfg->rotation.rate_limit);
	put_bool(out, "  ", "push", cfg->rotation.push);
	put_bool(out, "  ", "kerberos", cfg->rotation.kerberos);
	fputs("crl:\n", out);
	put_duration(out, "  ", "refresh_before", cfg->crl_refresh_before);
	fputs("server_cert:\n", out);
	put_duration(out, "  ", "renew_before", cfg->server_cert_renew_before);
	fprintf(out, "log:\n  level: %s\n", levels[cfg->log_level]);
	if (ad->set || mit->set)
		fputs("directory:\n", out);
	if (ad->set) {
		fputs("  ad:\n", out);
		put_str(out, "    ", "uri", ad->uri);
		put_bool(out, "    ", "starttls", ad->starttls);
		put_str(out, "    ", "ca_file", ad->ca_file);
		put_str(out, "    ", "bind", ad->bind);
		put_str(out, "    ", "bind_password_file",
		    ad->bind_password_file);
		put_str(out, "    ", "sasl", ad->sasl);
		put_str(out, "    ", "keytab", ad->keytab);
		put_str(out, "    ", "base_dn", ad->base_dn);
		put_str(out, "    ", "realm", ad->realm);
		put_str(out, "    ", "group_prefix", ad->group_prefix);
		put_bool(out, "    ", "rc4", ad->rc4);
		put_duration(out, "    ", "keytab_grace", ad->keytab_grace);
		put_duration(out, "    ", "object_max_age",
		    ad->object_max_age);
		put_str(out, "    ", "acl_sid", ad->acl_sid ==
		    CONFIG_ACL_SID_ACCOUNT ? "account" : "auto");
		put_str(out, "    ", "gc_uri", ad->gc_uri);
	}
	if (mit->set) {
		fputs("  mit:\n", out);
		put_str(out, "    ", "realm", mit->realm);
		put_str(out, "    ", "kdc", mit->kdc);
		put_str(out, "    ", "admin_server", mit->admin_server);
		put_str(out, "    ", "admin_principal", mit->admin_principal);
		put_str(out, "    ", "admin_password_file",
		    mit->admin_password_file);
		put_str(out, "    ", "admin_keytab", mit->admin_keytab);
		put_duration(out, "    ", "keytab_grace", mit->keytab_grace);
	}
	if (cfg->auth.negotiate_keytab != NULL) {
		fputs("auth:\n", out);
		put_str(out, "  ", "negotiate_keytab",
		    cfg->auth.negotiate_keytab);
	}
	return ferror(out) ? cust_fail(CUST_E_IO, "cannot write the "
	    "configuration") : CUST_OK;
}

int
config_check_cli(const char *state_dir, const char *path, int verbose,
    FILE *out, FILE *err)
{
	struct cust_config *cfg = NULL;
	int r;

	if (path != NULL)
		r = config_load(path, err, &cfg);
	else
		r = config_load_dir(state_dir, err, &cfg);
	if (r == CUST_E_NOMEM)
		fprintf(err, "out of memory\n");
	if (r != CUST_OK)
		return CUST_EXIT_USAGE;
	if (out != NULL && cfg->path != NULL)
		fprintf(out, "%s: valid\n", cfg->path);
	else if (out != NULL && path != NULL)
		fprintf(out, "%s: absent, the defaults apply\n", path);
	else if (out != NULL)
		fprintf(out, "%s/%s: absent, the defaults apply\n", state_dir,
		    CONFIG_FILE);
	if (out != NULL && verbose)
		r = config_write(cfg, out);
	config_free(cfg);
	return r == CUST_OK ? CUST_EXIT_OK : CUST_EXIT_USAGE;
}

/*
 * Every key with its default, commented out: the file parses to the
 * defaults as it is, and still does with every setting line uncommented
 * (a line starting "#" and a key or "-" is a setting; "# " starts prose).
 * tests/unit/config/test_config.c checks both.
 */
static const char default_text[] =
"# custody.yaml - custodyd configuration; see custody.yaml(5).\n"
"# Every key is optional; the value after each \"#\" is the default.\n"
"# Check a change with: custodyctl config check --state-dir DIR\n"
"\n"
"# Addresses to listen on: literal IPv4, or IPv6 in brackets.\n"
"#listen:\n"
"#  - \"127.0.0.1:8443\"\n"
"#  - \"[::1]:8443\"\n"
"\n"
"#tls:\n"
"#  min_version: \"1.2\"        # or \"1.3\"\n"
"#  session_tickets: false     # resumption by ticket (weakens forward secrecy)\n"
"# client_ca_file: /etc/custody/enterprise-ca.pem  (extra CA for clients)\n"
"# client_crl_file: /etc/custody/enterprise-crl.pem  (its CRLs, PEM or DER)\n"
"# client_crl_required: true  (false: enterprise certificates unchecked)\n"
"\n"
"#limits:\n"
"#  max_header_bytes: 16384    # 413 beyond\n"
"#  max_body_bytes: 1048576    # 413 beyond\n"
"#  header_timeout: 10s\n"
"#  body_timeout: 30s\n"
"#  max_connections: 4096     # then the oldest idle one goes\n"
"#  max_connections_per_address: 0   # 0: a quarter of max_connections\n"
"#  workers: 0                 # 0: four per CPU\n"
"\n"
"#rotation:\n"
"#  max_age:\n"
"#    admin: 90d\n"
"#    mebx: 180d\n"
"#    console: 90d\n"
"#  jitter: 1d\n"
"#  batch_size: 50\n"
"#  rate_limit: 10             # devices per second\n"
"#  push: false\n"
"#  kerberos: true             # AD device objects (directory.ad)\n"
"\n"
"#crl:\n"
"#  refresh_before: 1d         # before the CRL's nextUpdate\n"
"\n"
"#server_cert:\n"
"#  renew_before: 30d\n"
"\n"
"#log:\n"
"#  level: info                # error, warn, info or debug\n"
"\n"
"# directory: (Active Directory and MIT Kerberos; see custody.yaml(5))\n";

const char *
config_default_text(void)
{
	return default_text;
}
