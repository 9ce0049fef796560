/* SPDX-License-Identifier: MIT */
/* tests/unit/config/test_config.c - custody.yaml: every key's value and
 * default, every kind of problem at its exact line:column (unknown keys,
 * wrong types, bounds, durations, duplicates, YAML features, cross-key
 * rules), the file checks (missing, owner, mode, size), the default file
 * init writes, and the effective configuration read back. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "config.h"
#include "err.h"
#include "log.h"
#include "seal.h"
#include "util.h"

/* Parse text; the problems written, as one string (new, free()). */
static int
parse(const char *text, struct cust_config **cfg_out, char **errs_out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	assert_non_null(f);
	r = config_parse("t.yaml", text, strlen(text), f, cfg_out);
	fclose(f);
	*errs_out = buf;
	return r;
}

static struct cust_config *
parse_ok(const char *text)
{
	struct cust_config *cfg = NULL;
	char *errs = NULL;
	int r = parse(text, &cfg, &errs);

	if (r != CUST_OK)
		fail_msg("unexpected problems in:\n%s\n%s", text, errs);
	assert_string_equal(errs, "");
	free(errs);
	assert_non_null(cfg);
	return cfg;
}

/* The effective configuration as text (new, free()). */
static char *
dump(const struct cust_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(config_write(cfg, f), CUST_OK);
	fclose(f);
	return buf;
}

static void
test_defaults(void **state)
{
	struct cust_config *cfg;

	(void)state;
	/* empty file, comments only, explicit null document: defaults */
	cfg = parse_ok("");
	assert_null(cfg->path);
	assert_int_equal(cfg->nlisten, 2);
	assert_int_equal(cfg->listen[0].family, AF_INET);
	assert_string_equal(cfg->listen[0].host, "127.0.0.1");
	assert_int_equal(cfg->listen[0].port, 8443);
	assert_int_equal(cfg->listen[1].family, AF_INET6);
	assert_string_equal(cfg->listen[1].host, "::1");
	assert_int_equal(cfg->listen[1].port, 8443);
	assert_int_equal(cfg->tls.min_version, 12);
	assert_null(cfg->tls.client_ca_file);
	assert_null(cfg->tls.client_crl_file);
	assert_int_equal(cfg->tls.client_crl_required, 1);
	assert_int_equal(cfg->tls.session_tickets, 0);
	assert_int_equal(cfg->limits.max_header_bytes, 16384);
	assert_int_equal(cfg->limits.max_body_bytes, 1048576);
	assert_int_equal(cfg->limits.header_timeout, 10);
	assert_int_equal(cfg->limits.body_timeout, 30);
	assert_int_equal(cfg->limits.max_connections, 4096);
	assert_int_equal(cfg->limits.max_connections_per_address, 0);
	assert_int_equal(cfg->limits.workers, 0);
	assert_int_equal(cfg->rotation.max_age_admin, 90 * 86400);
	assert_int_equal(cfg->rotation.max_age_mebx, 180 * 86400);
	assert_int_equal(cfg->rotation.max_age_console, 90 * 86400);
	assert_int_equal(cfg->rotation.jitter, 86400);
	assert_int_equal(cfg->rotation.batch_size, 50);
	assert_int_equal(cfg->rotation.rate_limit, 10);
	assert_int_equal(cfg->rotation.push, 0);
	assert_int_equal(cfg->rotation.kerberos, 1);
	assert_int_equal(cfg->crl_refresh_before, 86400);
	assert_int_equal(cfg->server_cert_renew_before, 30 * 86400);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->ad.set, 0);
	assert_int_equal(cfg->mit.set, 0);
	config_free(cfg);
	config_free(parse_ok("# nothing set\n"));
	config_free(parse_ok("---\n...\n"));
	config_free(parse_ok("tls: {}\nlimits: {}\n"));
	config_free(NULL);
}

/* Every key set to a value that is not its default. */
static const char full[] =
    "listen:\n"
    "  - \"0.0.0.0:443\"\n"
    "  - \"[::]:8444\"\n"
    "  - \"[fe80::1]:9000\"\n"
    "tls:\n"
    "  min_version: \"1.3\"\n"
    "  client_ca_file: /etc/custody/ent-ca.pem\n"
    "  client_crl_file: /etc/custody/ent-crl.pem\n"
    "  client_crl_required: false\n"
    "  session_tickets: true\n"
    "limits:\n"
    "  max_header_bytes: 8192\n"
    "  max_body_bytes: 2097152\n"
    "  header_timeout: 5s\n"
    "  body_timeout: 2m\n"
    "  max_connections: 100\n"
    "  max_connections_per_address: 10\n"
    "  workers: 3\n"
    "rotation:\n"
    "  max_age:\n"
    "    admin: 30d\n"
    "    mebx: 12h\n"
    "    console: 7200\n"
    "  jitter: 30m\n"
    "  batch_size: 7\n"
    "  rate_limit: 2\n"
    "  push: yes\n"
    "  kerberos: no\n"
    "crl:\n"
    "  refresh_before: 6h\n"
    "server_cert:\n"
    "  renew_before: 10d\n"
    "log:\n"
    "  level: debug\n"
    "directory:\n"
    "  ad:\n"
    "    uri: ldap://dc1.corp.example:389\n"
    "    starttls: true\n"
    "    ca_file: /etc/custody/ad-ca.pem\n"
    "    bind: custody-svc@CORP.EXAMPLE\n"
    "    bind_password_file: /etc/custody/ad-bind.pw\n"
    "    base_dn: OU=AMT,DC=corp,DC=example\n"
    "    realm: CORP.EXAMPLE\n"
    "    group_prefix: \"X-\"\n"
    "    object_max_age: 30d\n"
    "    acl_sid: account\n"
    "    gc_uri: ldap://gc1.corp.example:3268\n"
    "  mit:\n"
    "    realm: MIT.CORP.EXAMPLE\n"
    "    kdc: 127.0.0.1:88\n"
    "    admin_server: kdc.mit.example:749\n"
    "    admin_principal: custody/admin@MIT.CORP.EXAMPLE\n"
    "    admin_keytab: /etc/custody/kadmin.keytab\n"
    "    keytab_grace: 2d\n";

static void
test_every_key(void **state)
{
	struct cust_config *cfg = parse_ok(full), *back;
	char *d1, *d2, *errs = NULL;

	(void)state;
	assert_int_equal(cfg->nlisten, 3);
	assert_string_equal(cfg->listen[0].host, "0.0.0.0");
	assert_int_equal(cfg->listen[0].port, 443);
	assert_int_equal(cfg->listen[1].family, AF_INET6);
	assert_string_equal(cfg->listen[1].host, "::");
	assert_int_equal(cfg->listen[1].port, 8444);
	assert_string_equal(cfg->listen[2].host, "fe80::1");
	assert_int_equal(cfg->tls.min_version, 13);
	assert_string_equal(cfg->tls.client_ca_file,
	    "/etc/custody/ent-ca.pem");
	assert_string_equal(cfg->tls.client_crl_file,
	    "/etc/custody/ent-crl.pem");
	assert_int_equal(cfg->tls.client_crl_required, 0);
	assert_int_equal(cfg->tls.session_tickets, 1);
	assert_int_equal(cfg->limits.max_header_bytes, 8192);
	assert_int_equal(cfg->limits.max_body_bytes, 2097152);
	assert_int_equal(cfg->limits.header_timeout, 5);
	assert_int_equal(cfg->limits.body_timeout, 120);
	assert_int_equal(cfg->limits.max_connections, 100);
	assert_int_equal(cfg->limits.max_connections_per_address, 10);
	assert_int_equal(cfg->limits.workers, 3);
	assert_int_equal(cfg->rotation.max_age_admin, 30 * 86400);
	assert_int_equal(cfg->rotation.max_age_mebx, 12 * 3600);
	assert_int_equal(cfg->rotation.max_age_console, 7200);
	assert_int_equal(cfg->rotation.jitter, 1800);
	assert_int_equal(cfg->rotation.batch_size, 7);
	assert_int_equal(cfg->rotation.rate_limit, 2);
	assert_int_equal(cfg->rotation.push, 1);
	assert_int_equal(cfg->rotation.kerberos, 0);
	assert_int_equal(cfg->crl_refresh_before, 6 * 3600);
	assert_int_equal(cfg->server_cert_renew_before, 10 * 86400);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->ad.set, 1);
	assert_string_equal(cfg->ad.uri, "ldap://dc1.corp.example:389");
	assert_int_equal(cfg->ad.starttls, 1);
	assert_string_equal(cfg->ad.ca_file, "/etc/custody/ad-ca.pem");
	assert_string_equal(cfg->ad.bind, "custody-svc@CORP.EXAMPLE");
	assert_string_equal(cfg->ad.bind_password_file,
	    "/etc/custody/ad-bind.pw");
	assert_string_equal(cfg->ad.base_dn, "OU=AMT,DC=corp,DC=example");
	assert_string_equal(cfg->ad.realm, "CORP.EXAMPLE");
	assert_string_equal(cfg->ad.group_prefix, "X-");
	assert_int_equal(cfg->ad.object_max_age, 30 * 86400);
	assert_int_equal(cfg->ad.acl_sid, CONFIG_ACL_SID_ACCOUNT);
	assert_string_equal(cfg->ad.gc_uri, "ldap://gc1.corp.example:3268");
	assert_null(cfg->ad.sasl);
	assert_int_equal(cfg->mit.set, 1);
	assert_string_equal(cfg->mit.realm, "MIT.CORP.EXAMPLE");
	assert_string_equal(cfg->mit.kdc, "127.0.0.1:88");
	assert_string_equal(cfg->mit.admin_server, "kdc.mit.example:749");
	assert_string_equal(cfg->mit.admin_principal,
	    "custody/admin@MIT.CORP.EXAMPLE");
	assert_string_equal(cfg->mit.admin_keytab,
	    "/etc/custody/kadmin.keytab");
	assert_null(cfg->mit.admin_password_file);
	assert_int_equal(cfg->mit.keytab_grace, 2 * 86400);

	/* the effective configuration reads back to the same values */
	d1 = dump(cfg);
	assert_int_equal(parse(d1, &back, &errs), CUST_OK);
	assert_string_equal(errs, "");
	d2 = dump(back);
	assert_string_equal(d1, d2);
	assert_non_null(strstr(d1, "  body_timeout: 2m\n"));
	assert_non_null(strstr(d1, "    console: 2h\n"));
	assert_non_null(strstr(d1, "    acl_sid: \"account\"\n"));
	free(d1);
	free(d2);
	free(errs);
	config_free(back);
	config_free(cfg);

	/* AD with SASL/GSSAPI instead of a bind password; ldaps:// */
	cfg = parse_ok("directory:\n  ad:\n    uri: ldaps://dc1:636\n"
	    "    sasl: gssapi\n    keytab: /etc/custody/ad.keytab\n"
	    "    base_dn: DC=x\n    realm: X\n");
	assert_string_equal(cfg->ad.sasl, "gssapi");
	assert_string_equal(cfg->ad.group_prefix, "AMT-");
	assert_int_equal(cfg->ad.acl_sid, CONFIG_ACL_SID_ACCOUNT);	/* default */
	assert_int_equal(cfg->ad.starttls, 0);
	config_free(cfg);
	cfg = parse_ok("directory: {mit: {realm: R, admin_principal: a@R, "
	    "admin_password_file: /p}}\nlog: {level: error}\n"
	    "tls: {min_version: \"1.2\"}\n");
	assert_int_equal(cfg->mit.keytab_grace, 7 * 86400);
	assert_int_equal(cfg->ad.object_max_age, 90 * 86400);
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
	assert_int_equal(cfg->tls.min_version, 12);
	config_free(cfg);
	/* max_age 0: that kind is never rotated by age; jitter is then
	 * measured against the others only */
	cfg = parse_ok("rotation:\n  max_age: {admin: 0, mebx: 0s, "
	    "console: 2d}\n  jitter: 1d\n");
	assert_int_equal(cfg->rotation.max_age_admin, 0);
	assert_int_equal(cfg->rotation.max_age_mebx, 0);
	assert_int_equal(cfg->rotation.max_age_console, 2 * 86400);
	config_free(cfg);
}

struct bad_case {
	const char *text;
	unsigned line, col;
	const char *msg;	/* a part of the one problem reported */
};

static const struct bad_case bad_cases[] = {
	/* unknown keys, at every level */
	{ "lissen: []\n", 1, 1, "unknown key 'lissen' in the configuration" },
	{ "tls:\n  min: \"1.2\"\n", 2, 3, "unknown key 'min' in tls" },
	{ "limits: {workerz: 1}\n", 1, 10, "unknown key 'workerz' in limits" },
	{ "rotation:\n  max_age: {admin: 2d, amt: 1d}\n", 2, 24,
	  "unknown key 'amt' in rotation.max_age" },
	{ "directory: {ldap: {}}\n", 1, 13, "unknown key 'ldap' in directory" },
	{ "log: {level: info, file: /x}\n", 1, 20, "unknown key 'file'" },

	/* wrong types */
	{ "- listen\n", 1, 1, "must be a mapping of keys, not a sequence" },
	{ "just text\n", 1, 1, "must be a mapping of keys, not a string" },
	{ "listen: \"127.0.0.1:1\"\n", 1, 9, "'listen' of the configuration "
	  "must be a sequence of HOST:PORT, not a string" },
	{ "listen: [127.0.0.1]\n", 1, 10, "is not HOST:PORT" },
	{ "listen: [[a]]\n", 1, 10, "items of 'listen' must be HOST:PORT "
	  "strings, not a sequence" },
	{ "tls: yes\n", 1, 6, "'tls' of the configuration must be a mapping, "
	  "not a boolean" },
	{ "tls: {session_tickets: \"true\"}\n", 1, 24, "must be a boolean "
	  "(true or false), not a string" },
	{ "tls: {session_tickets: 1}\n", 1, 24, "not an integer" },
	{ "tls: {client_ca_file: [a]}\n", 1, 23, "must be a string, not a "
	  "sequence" },
	{ "tls: {client_ca_file: ~}\n", 1, 23, "plain '~' reads as null "
	  "(quote it)" },
	{ "tls: {client_ca_file: /e/ca.pem}\n", 1, 23, "client_ca_file "
	  "needs client_crl_file" },
	{ "tls: {client_crl_file: /e/crl.pem}\n", 1, 24, "client_ca_file, "
	  "which is not set" },
	{ "directory: {ad: {uri: ldaps://x, realm: X, base_dn: no, "
	  "bind: b, bind_password_file: /p}}\n", 1, 53, "plain 'no' reads as "
	  "a boolean" },
	{ "limits: {workers: \"2\"}\n", 1, 19, "'workers' of limits must be "
	  "an integer, not a string" },
	{ "limits: {workers: 2.5}\n", 1, 19, "must be an integer" },
	{ "limits: {max_connections: {}}\n", 1, 27, "not a mapping" },
	{ "rotation: {push: maybe}\n", 1, 18, "'push' of rotation must be a "
	  "boolean" },
	{ "log: {level: 3}\n", 1, 14, "must be a string, not an integer" },

	/* values outside their sets and bounds */
	{ "tls: {min_version: \"1.1\"}\n", 1, 20, "'min_version' of tls must "
	  "be \"1.2\" or \"1.3\", not '1.1'" },
	{ "log: {level: loud}\n", 1, 14, "\"error\", \"warn\", \"info\" or "
	  "\"debug\", not 'loud'" },
	{ "limits: {max_header_bytes: 1023}\n", 1, 28, "from 1024 to 1048576, "
	  "not 1023" },
	{ "limits: {max_body_bytes: 67108865}\n", 1, 26, "not 67108865" },
	{ "limits: {max_connections: 0}\n", 1, 27, "from 1 to 1000000" },
	{ "limits: {workers: -1}\n", 1, 19, "from 0 to 1024, not -1" },
	{ "limits: {workers: 99999999999999999999}\n", 1, 19,
	  "must be an integer, not a string" },
	{ "rotation: {batch_size: 0}\n", 1, 24, "from 1 to 100000" },
	{ "rotation: {rate_limit: 100001}\n", 1, 24, "from 1 to 100000" },
	{ "listen: [\"127.0.0.1:0\"]\n", 1, 10, "the port must be a number "
	  "from 1 to 65535" },
	{ "listen: [\"127.0.0.1:65536\"]\n", 1, 10, "from 1 to 65535" },
	{ "listen: [\"::1:8443\"]\n", 1, 10, "IPv6 address in brackets" },
	{ "listen: [\"[::1]8443\"]\n", 1, 10, "is not HOST:PORT" },
	{ "listen: [\"localhost:8443\"]\n", 1, 10, "is not HOST:PORT" },
	{ "listen: [\"[127.0.0.1]:8443\"]\n", 1, 10, "is not HOST:PORT" },
	{ "listen: []\n", 1, 9, "at least one HOST:PORT" },
	{ "listen: [\"1.1.1.1:1\", \"1.1.1.1:2\", \"1.1.1.1:3\", "
	  "\"1.1.1.1:4\", \"1.1.1.1:5\", \"1.1.1.1:6\", \"1.1.1.1:7\", "
	  "\"1.1.1.1:8\", \"1.1.1.1:9\", \"1.1.1.1:10\", \"1.1.1.1:11\", "
	  "\"1.1.1.1:12\", \"1.1.1.1:13\", \"1.1.1.1:14\", \"1.1.1.1:15\", "
	  "\"1.1.1.1:16\", \"1.1.1.1:17\"]\n", 1, 9, "17 addresses; at most "
	  "16" },
	{ "listen: [\"[::1]:1\", \"[0::1]:1\"]\n", 1, 21, "listed twice" },
	{ "tls: {client_ca_file: ca.pem}\n", 1, 23, "must be an absolute path, "
	  "not 'ca.pem'" },
	{ "tls: {client_ca_file: \"\"}\n", 1, 23, "1-1024 printable" },
	{ "tls: {client_ca_file: \"/a\\tb\"}\n", 1, 23, "1-1024 printable" },
	{ "tls: {client_ca_file: \"/a\\0b\"}\n", 1, 23, "NUL character" },

	/* durations */
	{ "limits: {header_timeout: 0}\n", 1, 26, "from 1s to 1h, not 0" },
	{ "limits: {header_timeout: 2h}\n", 1, 26, "from 1s to 1h, not 2h" },
	{ "limits: {body_timeout: 10x}\n", 1, 24, "must be a duration (such "
	  "as 90d, 12h, 30m, 45s, or plain seconds), not '10x'" },
	{ "limits: {body_timeout: -5}\n", 1, 24, "not '-5'" },
	{ "limits: {body_timeout: d}\n", 1, 24, "not 'd'" },
	{ "limits: {body_timeout: 1 d}\n", 1, 24, "not '1 d'" },
	{ "limits: {body_timeout: 1w}\n", 1, 24, "not '1w'" },
	{ "limits: {body_timeout: 9999999999999d}\n", 1, 24, "must be a "
	  "duration" },
	{ "limits: {body_timeout: true}\n", 1, 24, "must be a duration (such "
	  "as 90d, 12h, 30m, 45s, or plain seconds), not a boolean" },
	{ "rotation: {max_age: {admin: 59m}}\n", 1, 29, "'admin' of "
	  "rotation.max_age must be 0 (off) or from 1h to 3650d, not 59m" },
	{ "rotation: {max_age: {mebx: 3651d}}\n", 1, 28, "not 3651d" },
	{ "rotation: {jitter: 31d}\n", 1, 20, "from 0s to 30d" },
	{ "crl: {refresh_before: 59s}\n", 1, 23, "'refresh_before' of crl "
	  "must be from 1m to 30d" },
	{ "server_cert: {renew_before: 23h}\n", 1, 29, "'renew_before' of "
	  "server_cert must be from 1d to 365d" },
	{ "directory: {mit: {realm: R, admin_principal: a@R, "
	  "admin_keytab: /k, keytab_grace: 366d}}\n", 1, 83, "not 366d" },

	/* cross-key rules */
	{ "rotation: {max_age: {mebx: 2h}, jitter: 2h}\n", 1, 41, "jitter "
	  "must be shorter than every max_age" },
	{ "directory:\n  ad:\n    uri: ldap://dc1:389\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n", 3,
	  10, "plain LDAP is refused" },
	{ "directory:\n  ad:\n    uri: ldap://dc1:389\n    starttls: false\n"
	  "    bind: b\n    bind_password_file: /p\n    base_dn: DC=x\n"
	  "    realm: X\n", 3, 10, "plain LDAP is refused" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    starttls: true\n"
	  "    bind: b\n    bind_password_file: /p\n    base_dn: DC=x\n"
	  "    realm: X\n", 4, 15, "ldaps:// is TLS already" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1 ldap://dc2\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n", 3,
	  10, "uri must be one URI, not a list" },
	{ "directory:\n  ad:\n    uri: \"ldaps://dc1,ldap://dc2\"\n"
	  "    bind: b\n    bind_password_file: /p\n    base_dn: DC=x\n"
	  "    realm: X\n", 3, 10, "uri must be one URI, not a list" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n"
	  "    gc_uri: ldap://gc1:3268\n", 8, 13, "gc_uri must be one URI "
	  "with the scheme of uri (ldaps://)" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n"
	  "    gc_uri: \"ldaps://gc1 ldaps://gc2\"\n", 8, 13, "gc_uri must be "
	  "one URI" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n"
	  "    gc_uri: ldaps://\n", 8, 13, "gc_uri must be one URI" },
	{ "directory:\n  ad:\n    uri: http://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n", 3,
	  10, "uri must start with ldaps://" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    base_dn: DC=x\n"
	  "    realm: X\n", 3, 5, "a simple bind needs bind and "
	  "bind_password_file" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    sasl: gssapi\n"
	  "    base_dn: DC=x\n    realm: X\n", 3, 5, "sasl: gssapi needs "
	  "keytab" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    sasl: gssapi\n"
	  "    keytab: /k\n    bind_password_file: /p\n    base_dn: DC=x\n"
	  "    realm: X\n", 6, 25, "bind_password_file is for simple binds" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n"
	  "    group_prefix: \"AMT*(\"\n", 8, 19, "group_prefix must be 1-32 "
	  "characters of [A-Za-z0-9._-], not 'AMT*('" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: OU=AMT\n    realm: X\n",
	  6, 14, "base_dn must be a DN under the domain" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    sasl: digest-md5\n"
	  "    keytab: /k\n    base_dn: DC=x\n    realm: X\n", 4, 11,
	  "'sasl' of directory.ad must be \"gssapi\", not 'digest-md5'" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: DC=x\n    realm: X\n"
	  "    acl_sid: group\n", 8, 14, "'acl_sid' of directory.ad must be "
	  "\"auto\" or \"account\", not 'group'" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    realm: X\n", 3, 5, "directory.ad "
	  "lacks the required key 'base_dn'" },
	{ "directory:\n  ad:\n    uri: ldaps://dc1\n    bind: b\n"
	  "    bind_password_file: /p\n    base_dn: x\n    realm: corp\n", 7,
	  12, "must be an upper-case Kerberos realm" },
	{ "directory: {mit: {realm: R, admin_principal: a@R}}\n", 1, 18,
	  "exactly one of admin_password_file and admin_keytab" },
	{ "directory: {mit: {realm: R, admin_principal: a@R, admin_keytab: /k, "
	  "admin_password_file: /p}}\n", 1, 18, "exactly one of" },
	{ "directory: {mit: {admin_principal: a@R, admin_keytab: /k}}\n", 1,
	  18, "directory.mit lacks the required key 'realm'" },
	{ "directory: {mit: {realm: R, admin_principal: a@R, admin_keytab: /k, "
	  "kdc: \"kdc:0\"}}\n", 1, 74, "'kdc' of directory.mit must be "
	  "HOST:PORT" },
	{ "directory: {mit: {realm: R, admin_principal: a@R, admin_keytab: /k, "
	  "admin_server: \"a b:749\"}}\n", 1, 83, "must be HOST:PORT" },
	/* kadmind would put an unqualified name in the default realm */
	{ "directory: {mit: {realm: R, admin_principal: a@S, "
	  "admin_keytab: /k}}\n", 1, 46, "admin_principal must be NAME@R" },
	{ "directory: {mit: {realm: R, admin_principal: a, "
	  "admin_keytab: /k}}\n", 1, 46, "admin_principal must be NAME@R" },

	/* duplicates: YAML tools disagree on which one wins */
	{ "log: {level: info}\nlog: {level: debug}\n", 2, 1, "duplicate key "
	  "'log' (first at line 1, column 1)" },
	{ "limits:\n  workers: 1\n  workers: 2\n", 3, 3, "duplicate key "
	  "'workers' (first at line 2, column 3)" },

	/* YAML features refused */
	{ "log: &l {level: info}\n", 1, 6, "anchor '&l' is not allowed in a "
	  "configuration" },
	{ "log: {level: !!str info}\n", 1, 14, "tag 'tag:yaml.org,2002:str' is not allowed" },
	{ "log: {level: info}\n---\nlog: {level: info}\n", 2, 1, "a "
	  "configuration file holds one YAML document" },
	{ "log: {level: info\n", 2, 1, "did not find expected" },
	{ "log:\n\tlevel: info\n", 2, 1, "found character that cannot start "
	  "any token" },
	{ "log: {level: \"\xff\"}\n", 1, 15, "invalid" },
};

static void
test_problems(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		/* cfg_out cleared on failure; the first problem is the error
		 * message too */
		struct cust_config *cfg = (struct cust_config *)1;
		char *errs = NULL, want[64], *nl;
		int r = parse(bc->text, &cfg, &errs);

		snprintf(want, sizeof(want), "t.yaml:%u:%u: ", bc->line,
		    bc->col);
		nl = strchr(errs, '\n');
		if (r != CUST_E_PARSE || cfg != NULL ||
		    strncmp(errs, want, strlen(want)) != 0 ||
		    strstr(errs, bc->msg) == NULL || nl == NULL ||
		    nl[1] != '\0' || strstr(cust_errmsg(), bc->msg) == NULL)
			fail_msg("case %zu:\n%s\nwant one problem %s...%s, "
			    "got r=%d:\n%s", i, bc->text, want, bc->msg, r,
			    errs);
		free(errs);
	}
}

/* All problems of a file are reported, in file order, not only the
 * first; errs may be NULL. */
static void
test_all_problems(void **state)
{
	const char *text = "log: {level: loud}\nlimits: {workers: x}\n"
	    "log: {}\nbogus: 1\n";
	struct cust_config *cfg = NULL;
	char *errs = NULL;

	(void)state;
	assert_int_equal(parse(text, &cfg, &errs), CUST_E_PARSE);
	assert_string_equal(errs,
	    "t.yaml:1:14: 'level' of log must be \"error\", \"warn\", "
	    "\"info\" or \"debug\", not 'loud'\n"
	    "t.yaml:2:19: 'workers' of limits must be an integer, not a "
	    "string\n"
	    "t.yaml:3:1: duplicate key 'log' (first at line 1, column 1)\n"
	    "t.yaml:4:1: unknown key 'bogus' in the configuration (known: "
	    "listen, tls, limits, rotation, crl, server_cert, log, "
	    "directory, auth)\n");
	assert_non_null(strstr(cust_errmsg(), "(and 3 more problems)"));
	free(errs);
	assert_int_equal(config_parse("t.yaml", text, strlen(text), NULL,
	    &cfg), CUST_E_PARSE);
	assert_null(cfg);
}

/* Untrusted text quoted in a message cannot reach a terminal raw. */
static void
test_escaped(void **state)
{
	struct cust_config *cfg = NULL;
	char *errs = NULL;

	(void)state;
	assert_int_equal(parse("\"a\\e[31mb\": 1\n", &cfg, &errs),
	    CUST_E_PARSE);
	assert_null(strchr(errs, '\033'));
	assert_non_null(strstr(errs, "unknown key 'a\\x1b[31mb'"));
	free(errs);
}

/* Bounds on the input: size, depth, node count. */
static void
test_bounds(void **state)
{
	size_t n = CONFIG_MAX_BYTES + 1, i;
	char *big = malloc(n + 1), *errs = NULL;
	struct cust_config *cfg = NULL;

	(void)state;
	assert_non_null(big);
	memset(big, '#', n);
	big[n] = '\0';
	assert_int_equal(parse(big, &cfg, &errs), CUST_E_TOOBIG);
	assert_non_null(strstr(errs, "t.yaml:1:1: the file is 262145 bytes, "
	    "over the limit of 262144"));
	assert_null(cfg);
	free(errs);
	/* just under: comments only, defaults */
	big[n - 1] = '\0';
	config_free(parse_ok(big));
	/* nesting */
	for (i = 0; i < 40; i++)
		big[i] = '[';
	big[40] = '\0';
	assert_int_equal(parse(big, &cfg, &errs), CUST_E_PARSE);
	assert_non_null(strstr(errs, "nesting deeper than 32 levels"));
	free(errs);
	free(big);
}

static void
test_durations(void **state)
{
	int64_t v = -1;

	(void)state;
	assert_int_equal(config_parse_duration("90d", 0, INT64_MAX, &v),
	    CUST_OK);
	assert_int_equal(v, 90 * 86400);
	assert_int_equal(config_parse_duration("12h", 0, INT64_MAX, &v),
	    CUST_OK);
	assert_int_equal(v, 12 * 3600);
	assert_int_equal(config_parse_duration("30m", 0, INT64_MAX, &v),
	    CUST_OK);
	assert_int_equal(v, 1800);
	assert_int_equal(config_parse_duration("45s", 0, INT64_MAX, &v),
	    CUST_OK);
	assert_int_equal(v, 45);
	assert_int_equal(config_parse_duration("3600", 0, INT64_MAX, &v),
	    CUST_OK);
	assert_int_equal(v, 3600);
	assert_int_equal(config_parse_duration("0", 0, INT64_MAX, &v),
	    CUST_OK);
	assert_int_equal(v, 0);
	/* 12 digits of days: the largest accepted, no overflow */
	assert_int_equal(config_parse_duration("999999999999d", 0, INT64_MAX,
	    &v), CUST_OK);
	assert_int_equal(v, INT64_C(999999999999) * 86400);
	v = 7;
	assert_int_equal(config_parse_duration("1000000000000d", 0,
	    INT64_MAX, &v), CUST_E_INVAL);
	assert_int_equal(config_parse_duration("", 0, 10, &v), CUST_E_INVAL);
	assert_int_equal(config_parse_duration("s", 0, 10, &v), CUST_E_INVAL);
	assert_int_equal(config_parse_duration("+5", 0, 10, &v),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_duration("5 s", 0, 10, &v),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_duration("5S", 0, 10, &v),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_duration("11", 0, 10, &v),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_duration("1m", 61, 100, &v),
	    CUST_E_INVAL);
	assert_int_equal(v, 7);	/* untouched on failure */
}

static void
test_listen(void **state)
{
	struct config_listen l;
	char buf[64];

	(void)state;
	assert_int_equal(config_parse_listen("10.0.0.1:443", &l), CUST_OK);
	assert_int_equal(l.family, AF_INET);
	assert_string_equal(l.host, "10.0.0.1");
	assert_int_equal(l.port, 443);
	config_listen_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1:443");
	assert_int_equal(config_parse_listen("[2001:db8::1]:65535", &l),
	    CUST_OK);
	assert_int_equal(l.family, AF_INET6);
	assert_string_equal(l.host, "2001:db8::1");
	assert_int_equal(l.port, 65535);
	config_listen_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:65535");
	/* canonical form */
	assert_int_equal(config_parse_listen("[2001:DB8:0::1]:1", &l), CUST_OK);
	assert_string_equal(l.host, "2001:db8::1");
	assert_int_equal(config_parse_listen("10.0.0.1:08443", &l),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_listen("10.0.0.1:", &l), CUST_E_INVAL);
	assert_int_equal(config_parse_listen(":443", &l), CUST_E_INVAL);
	assert_int_equal(config_parse_listen("[::1]", &l), CUST_E_INVAL);
	assert_int_equal(config_parse_listen("[]:1", &l), CUST_E_INVAL);
	assert_int_equal(config_parse_listen("10.0.0.256:1", &l),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_listen("example.com:1", &l),
	    CUST_E_INVAL);
	assert_int_equal(config_parse_listen("1.2.3.4:1 ", &l),
	    CUST_E_INVAL);
}

/* The file init writes parses to the defaults as it is, and with every
 * commented setting enabled: its comments do not lie. */
static void
test_default_text(void **state)
{
	const char *text = config_default_text();
	struct cust_config *def = config_defaults(), *cfg;
	char *on = malloc(strlen(text) + 1), *o = on, *d1, *d2;
	const char *p;

	(void)state;
	assert_non_null(on);
	cfg = parse_ok(text);
	d1 = dump(def);
	d2 = dump(cfg);
	assert_string_equal(d1, d2);
	free(d2);
	config_free(cfg);
	/* uncomment: "#key", "#  key" and "#  - item" are settings */
	for (p = text; *p != '\0';) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);

		if (p[0] == '#' && len > 2 && (p[1] != ' ' || p[2] == ' ')) {
			p++;
			len--;
		}
		memcpy(o, p, len);
		o += len;
		p += len;
	}
	*o = '\0';
	assert_non_null(strstr(on, "\nlisten:\n"));
	assert_non_null(strstr(on, "\n    console: 90d\n"));
	cfg = parse_ok(on);
	d2 = dump(cfg);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	free(on);
	config_free(cfg);
	config_free(def);
}

static char *
write_tmp(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = util_path(dir, name);
	FILE *f;

	assert_non_null(path);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* What config_load() refuses before it parses, and the missing file. */
static void
test_load(void **state)
{
	char *dir = tu_tmpdir(), *path, *errs = NULL;
	struct cust_config *cfg = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	/* absent: defaults, path NULL */
	assert_int_equal(config_load_dir(dir, NULL, &cfg), CUST_OK);
	assert_null(cfg->path);
	assert_int_equal(cfg->nlisten, 2);
	config_free(cfg);

	/* a good file: its path and values */
	path = write_tmp(dir, CONFIG_FILE, "log: {level: warn}\n", 0600);
	assert_int_equal(config_load_dir(dir, NULL, &cfg), CUST_OK);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
	config_free(cfg);
	/* readable by others is fine (no secrets in it), writable is not */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(path, NULL, &cfg), CUST_OK);
	config_free(cfg);
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(config_load(path, NULL, &cfg), CUST_E_PERM);
	assert_null(cfg);
	assert_non_null(strstr(cust_errmsg(), "mode 0620; it must not be "
	    "writable by group or others"));
	assert_int_equal(chmod(path, 0602), 0);
	f = open_memstream(&errs, &len);
	assert_int_equal(config_load(path, f, &cfg), CUST_E_PERM);
	fclose(f);
	assert_non_null(strstr(errs, "mode 0602"));
	free(errs);
	assert_int_equal(chmod(path, 0600), 0);

	/* owned by someone else */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 4242, 4242), 0);
		assert_int_equal(config_load(path, NULL, &cfg), CUST_E_PERM);
		assert_non_null(strstr(cust_errmsg(), "owned by uid 4242, not "
		    "by uid 0: refusing it"));
		assert_int_equal(chown(path, 0, 0), 0);
	} else {
		assert_int_equal(config_load("/etc/passwd", NULL, &cfg),
		    CUST_E_PERM);
		assert_non_null(strstr(cust_errmsg(), "owned by uid 0"));
	}

	/* not a regular file */
	assert_int_equal(config_load(dir, NULL, &cfg), CUST_E_PERM);
	assert_non_null(strstr(cust_errmsg(), "not a regular file"));
	assert_int_equal(config_load("/dev/null", NULL, &cfg), CUST_E_PERM);

	/* over the size bound on disk */
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, CONFIG_MAX_BYTES, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(config_load(path, NULL, &cfg), CUST_E_TOOBIG);

	/* problems carry the path */
	free(write_tmp(dir, CONFIG_FILE, "log: {level: x}\n", 0600));
	assert_int_equal(config_load(path, NULL, &cfg), CUST_E_PARSE);
	assert_non_null(strstr(cust_errmsg(), "custody.yaml:1:14: 'level'"));
	assert_non_null(strstr(cust_errmsg(), path));
	free(path);
	tu_rmrf(dir);
	free(dir);
}

/* The check custodyd --check-config and custodyctl config check run. */
static void
test_check_cli(void **state)
{
	char *dir = tu_tmpdir(), *path, *out = NULL, *err = NULL;
	size_t olen = 0, elen = 0;
	FILE *fo, *fe;

	(void)state;
	fo = open_memstream(&out, &olen);
	fe = open_memstream(&err, &elen);
	assert_int_equal(config_check_cli(dir, NULL, 0, fo, fe), 0);
	fflush(fo);
	assert_non_null(strstr(out, "custody.yaml: absent, the defaults "
	    "apply\n"));
	path = write_tmp(dir, CONFIG_FILE, "rotation: {batch_size: 5}\n",
	    0600);
	assert_int_equal(config_check_cli(dir, NULL, 1, fo, fe), 0);
	fflush(fo);
	assert_non_null(strstr(out, ": valid\nlisten:\n"));
	assert_non_null(strstr(out, "  batch_size: 5\n"));
	fflush(fe);
	assert_string_equal(err, "");
	free(write_tmp(dir, CONFIG_FILE, "rotation: {batch_size: 0}\n",
	    0600));
	assert_int_equal(config_check_cli(dir, NULL, 0, NULL, fe), 2);
	assert_int_equal(config_check_cli(NULL, path, 0, NULL, fe), 2);
	fflush(fe);
	assert_non_null(strstr(err, "custody.yaml:1:24: 'batch_size' of "
	    "rotation must be from 1 to 100000, not 0\n"));
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(config_check_cli(dir, NULL, 0, NULL, fe), 2);
	fclose(fo);
	fclose(fe);
	assert_non_null(strstr(err, "mode 0666"));
	free(out);
	free(err);
	free(path);
	tu_rmrf(dir);
	free(dir);
}

/* The secret files custody.yaml names: 0600 and ours, no link, the
 * newline off, refused (never read) otherwise. */
static void
test_read_secret(void **state)
{
	char *dir = tu_tmpdir(), *path, *link;
	struct seal_secret *s = (struct seal_secret *)1;

	(void)state;
	assert_int_equal(cust_init(), CUST_OK);	/* sodium memory */
	path = write_tmp(dir, "kadmin.pw", "s3cret pw\n", 0600);
	assert_int_equal(config_read_secret(path, &s), CUST_OK);
	assert_int_equal(seal_secret_len(s), 9);
	assert_memory_equal(seal_secret_data(s), "s3cret pw", 9);
	seal_secret_free(s);
	/* readable by the group: refused, and nothing returned */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_read_secret(path, &s), CUST_E_PERM);
	assert_null(s);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(config_read_secret(path, &s), CUST_E_PERM);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(config_read_secret(path, &s), CUST_OK);
	seal_secret_free(s);
	/* through a symbolic link: refused */
	link = util_path(dir, "link.pw");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(config_read_secret(link, &s), CUST_E_PERM);
	free(link);
	free(path);
	/* empty, and absent */
	path = write_tmp(dir, "empty.pw", "\n", 0600);
	assert_int_equal(config_read_secret(path, &s), CUST_E_INVAL);
	free(path);
	path = util_path(dir, "absent.pw");
	assert_int_equal(config_read_secret(path, &s), CUST_E_NOTFOUND);
	free(path);
	tu_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_problems),
		cmocka_unit_test(test_all_problems),
		cmocka_unit_test(test_escaped),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_default_text),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_check_cli),
		cmocka_unit_test(test_read_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
