/* SPDX-License-Identifier: MIT */
/* src/directory/kadm.c - the kadm5 client API: custody's own connection to
 * kadmind, with a private krb5 context.
 *
 * The context's profile is an in-memory table made from directory.mit
 * (profile_init_vtable): the realm as default realm, its KDC and admin
 * server, no DNS, no reverse lookups. So neither /etc/krb5.conf nor
 * KRB5_CONFIG decides where custody's admin password goes. kadm5's own
 * errors (a com_err table) and krb5's are turned into messages at this
 * boundary; no password ever reaches one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krb5.h>
#include <profile.h>
#include <kadm5/admin.h>
#include <kadm5/kadm_err.h>

#include "config.h"
#include "directory.h"
#include "directory_int.h"
#include "err.h"
#include "seal.h"
#include "util.h"

/*
 * One kadm5 connection at a time in the process. The kadm5 client and
 * its gssrpc transport keep process-wide state (the memory ccache names
 * of their logins, the RPC client setup) that is not documented as
 * thread-safe, and custodyd runs operations on several workers; the
 * realm's administration is rare and short, so custodyd's workers take
 * turns (held from dir_kadm_open() to dir_kadm_close()).
 */
static pthread_mutex_t kadm_lock = PTHREAD_MUTEX_INITIALIZER;

struct dir_kadm {
	int locked;
	krb5_context ctx;
	void *handle;		/* kadm5 server handle */
	char server[300];	/* for messages */
	char realm[256];
	char admin[1100];	/* the principal it logged in as */
};

/* ---- the in-memory profile ---- */

#define PROF_MAX	12

struct prof {
	char realm[256];	/* a section name: [realms] REALM */
	size_t n;
	struct { const char *n1, *n2, *n3; char *v; } rel[PROF_MAX];
};

static long
prof_get(void *cb, const char *const *names, char ***ret)
{
	struct prof *p = cb;
	char **vals;
	size_t i, k = 0, depth;

	for (depth = 0; names[depth] != NULL; depth++)
		;
	if ((vals = calloc(PROF_MAX + 1, sizeof(*vals))) == NULL)
		return ENOMEM;
	for (i = 0; i < p->n; i++) {
		if (strcmp(names[0], p->rel[i].n1) != 0 || depth < 2 ||
		    strcmp(names[1], p->rel[i].n2) != 0)
			continue;
		if ((p->rel[i].n3 == NULL && depth == 2) || (p->rel[i].n3 !=
		    NULL && depth == 3 && strcmp(names[2], p->rel[i].n3) ==
		    0)) {
			if ((vals[k++] = strdup(p->rel[i].v)) == NULL)
				goto nomem;
		}
	}
	if (k == 0) {
		free(vals);
		return PROF_NO_RELATION;
	}
	*ret = vals;
	return 0;
nomem:
	for (i = 0; i < k; i++)
		free(vals[i]);
	free(vals);
	return ENOMEM;
}

static void
prof_free_values(void *cb, char **vals)
{
	size_t i;

	for (i = 0; vals != NULL && vals[i] != NULL; i++)
		free(vals[i]);
	free(vals);
}

static void
prof_cleanup(void *cb)
{
	struct prof *p = cb;
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->rel[i].v);
	free(p);
}

static long
prof_copy(void *cb, void **ret)
{
	struct prof *p = cb, *q;
	size_t i;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return ENOMEM;
	*q = *p;
	for (i = 0; i < p->n; i++) {
		if (p->rel[i].n2 == p->realm)
			q->rel[i].n2 = q->realm;
		q->rel[i].v = NULL;
	}
	for (i = 0; i < p->n; i++)
		if ((q->rel[i].v = strdup(p->rel[i].v)) == NULL) {
			q->n = i;
			prof_cleanup(q);
			return ENOMEM;
		}
	*ret = q;
	return 0;
}

static int
prof_add(struct prof *p, const char *n1, const char *n2, const char *n3,
    const char *v)
{
	if (p->n == PROF_MAX)
		return CUST_E_INTERNAL;
	if ((p->rel[p->n].v = strdup(v)) == NULL)
		return CUST_E_NOMEM;
	p->rel[p->n].n1 = n1;
	p->rel[p->n].n2 = n2;
	p->rel[p->n].n3 = n3;
	p->n++;
	return CUST_OK;
}

/* The profile: [libdefaults] and [realms] REALM (directory_int.h). */
int
dir_krb5_context(const char *realm, const char *kdc, const char *admin_server,
    krb5_context *out)
{
	static struct profile_vtable vt = {
		1, prof_get, prof_free_values, prof_cleanup, prof_copy,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	};
	struct prof *p;
	profile_t prof = NULL;
	krb5_context ctx = NULL;
	krb5_error_code kr;
	int r = CUST_E_NOMEM;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	snprintf(p->realm, sizeof(p->realm), "%s", realm);
	if (prof_add(p, "libdefaults", "default_realm", NULL, realm) ||
	    prof_add(p, "libdefaults", "dns_lookup_kdc", NULL, "false") ||
	    prof_add(p, "libdefaults", "dns_lookup_realm", NULL, "false") ||
	    prof_add(p, "libdefaults", "dns_canonicalize_hostname", NULL,
	    "false") ||
	    prof_add(p, "libdefaults", "rdns", NULL, "false") ||
	    prof_add(p, "libdefaults", "udp_preference_limit", NULL, "1"))
		goto fail;
	if ((kdc != NULL && prof_add(p, "realms", p->realm, "kdc", kdc)) ||
	    (admin_server != NULL && prof_add(p, "realms", p->realm,
	    "admin_server", admin_server)))
		goto fail;
	if (profile_init_vtable(&vt, p, &prof) != 0)
		goto fail;
	p = NULL;	/* the profile's now */
	if ((kr = krb5_init_context_profile(prof, KRB5_INIT_CONTEXT_SECURE, &ctx))
	    != 0) {
		r = cust_fail(CUST_E_KRB5, "krb5 context: %s",
		    error_message(kr));
		goto out;
	}
	*out = ctx;
	r = CUST_OK;
	goto out;
fail:
	r = cust_fail(r, "out of memory");
out:
	if (p != NULL)
		prof_cleanup(p);
	profile_release(prof);	/* the context holds its own copy */
	return r;
}

/* A kadm5 or krb5 error as CUST_E_* with krb5's message. */
static int
kfail(struct dir_kadm *k, krb5_error_code kr, const char *what,
    const char *name)
{
	const char *m = krb5_get_error_message(k->ctx, kr);
	int code = CUST_E_KRB5;

	switch (kr) {
	case KADM5_UNK_PRINC:
		code = CUST_E_NOTFOUND;
		break;
	case KADM5_DUP:
		code = CUST_E_EXISTS;
		break;
	case KADM5_AUTH_ADD:
	case KADM5_AUTH_DELETE:
	case KADM5_AUTH_GET:
	case KADM5_AUTH_MODIFY:
	case KADM5_AUTH_CHANGEPW:
	case KADM5_AUTH_SETKEY:
	case KADM5_AUTH_LIST:
		code = CUST_E_DENIED;
		break;
	case KADM5_RPC_ERROR:
	case KADM5_GSS_ERROR:
	case KADM5_NO_SRV:
	case KRB5_KDC_UNREACH:
	case KRB5_REALM_CANT_RESOLVE:
		code = CUST_E_UNAVAIL;
		break;
	default:
		break;
	}
	cust_fail(code, "kadm5 %s%s%s on %s: %s", what, name ? " " : "",
	    name ? name : "", k->server, m);
	krb5_free_error_message(k->ctx, m);
	return code;
}

int
dir_kadm_open(const struct config_mit *mit, struct dir_kadm **out)
{
	struct dir_kadm *k = NULL;
	struct seal_secret *pw = NULL;
	kadm5_config_params params;
	char host[256], ktname[4200];
	const char *colon;
	krb5_error_code kr;
	long port;
	int r = CUST_E_INTERNAL;

	*out = NULL;
	if (mit == NULL || !mit->set)
		return cust_fail(CUST_E_UNAVAIL, "custody.yaml has no "
		    "directory.mit section");
	if (mit->kdc == NULL || mit->admin_server == NULL)
		return cust_fail(CUST_E_INVAL, "directory.mit needs kdc and "
		    "admin_server: custody reads no krb5.conf");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	pthread_mutex_lock(&kadm_lock);
	k->locked = 1;
	snprintf(k->server, sizeof(k->server), "kadmind %s",
	    mit->admin_server ? mit->admin_server : mit->realm);
	snprintf(k->realm, sizeof(k->realm), "%s", mit->realm);
	snprintf(k->admin, sizeof(k->admin), "%s", mit->admin_principal);
	if ((r = dir_krb5_context(mit->realm, mit->kdc, mit->admin_server,
	    &k->ctx)) != CUST_OK)
		goto out;
	memset(&params, 0, sizeof(params));
	params.mask = KADM5_CONFIG_REALM;
	params.realm = k->realm;
	if (mit->admin_server != NULL) {
		colon = strrchr(mit->admin_server, ':');
		if (colon == NULL || (size_t)(colon - mit->admin_server) >=
		    sizeof(host) || util_parse_long(colon + 1, 1, 65535,
		    &port) != CUST_OK) {
			r = cust_fail(CUST_E_INVAL, "directory.mit admin_server "
			    "'%s' is not HOST:PORT", mit->admin_server);
			goto out;
		}
		/* brackets of an IPv6 literal off */
		if (mit->admin_server[0] == '[')
			snprintf(host, sizeof(host), "%.*s",
			    (int)(colon - mit->admin_server - 2),
			    mit->admin_server + 1);
		else
			snprintf(host, sizeof(host), "%.*s",
			    (int)(colon - mit->admin_server), mit->admin_server);
		params.mask |= KADM5_CONFIG_ADMIN_SERVER |
		    KADM5_CONFIG_KADMIND_PORT;
		params.admin_server = host;
		params.kadmind_port = (int)port;
	}
	if (mit->admin_password_file != NULL) {
		if ((r = config_read_secret(mit->admin_password_file, &pw)) !=
		    CUST_OK)
			goto out;
		kr = kadm5_init_with_password(k->ctx, mit->admin_principal,
		    (char *)seal_secret_str(pw), KADM5_ADMIN_SERVICE, &params,
		    KADM5_STRUCT_VERSION, KADM5_API_VERSION_4, NULL,
		    &k->handle);
	} else {
		if ((r = util_check_secrecy(mit->admin_keytab)) != CUST_OK)
			goto out;
		snprintf(ktname, sizeof(ktname), "FILE:%s", mit->admin_keytab);
		kr = kadm5_init_with_skey(k->ctx, mit->admin_principal, ktname,
		    KADM5_ADMIN_SERVICE, &params, KADM5_STRUCT_VERSION,
		    KADM5_API_VERSION_4, NULL, &k->handle);
	}
	if (kr != 0) {
		k->handle = NULL;
		r = kfail(k, kr, "login as", mit->admin_principal);
		goto out;
	}
	*out = k;
	k = NULL;
	r = CUST_OK;
out:
	seal_secret_free(pw);
	dir_kadm_close(k);
	return r;
}

void
dir_kadm_close(struct dir_kadm *k)
{
	if (k == NULL)
		return;
	if (k->handle != NULL)
		kadm5_destroy(k->handle);
	if (k->ctx != NULL)
		krb5_free_context(k->ctx);
	if (k->locked)
		pthread_mutex_unlock(&kadm_lock);
	free(k);
}

/* The principal, which must name the connection's realm. */
static int
parse(struct dir_kadm *k, const char *name, krb5_principal *out)
{
	const char *at = strrchr(name, '@');
	krb5_error_code kr;

	*out = NULL;
	if (at == NULL || at == name || (at > name && at[-1] == '\\') ||
	    strcmp(at + 1, k->realm) != 0)
		return cust_fail(CUST_E_INVAL, "'%s' is not a principal of "
		    "%s (NAME@%s)", name, k->realm, k->realm);
	if ((kr = krb5_parse_name_flags(k->ctx, name,
	    KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, out)) != 0)
		return kfail(k, kr, "parse", name);
	return CUST_OK;
}

/* principal's entry (mask and KADM5_PRINCIPAL) into *ent
 * (kadm5_free_principal_ent()). */
static int
get_ent(struct dir_kadm *k, const char *principal, long mask,
    kadm5_principal_ent_rec *ent)
{
	krb5_principal p = NULL;
	kadm5_ret_t kr;
	int r;

	memset(ent, 0, sizeof(*ent));
	if ((r = parse(k, principal, &p)) != CUST_OK)
		return r;
	kr = kadm5_get_principal(k->handle, p, ent, KADM5_PRINCIPAL | mask);
	krb5_free_principal(k->ctx, p);
	return kr != 0 ? kfail(k, kr, "get", principal) : CUST_OK;
}

int
dir_kadm_get(struct dir_kadm *k, const char *principal, int *kvno_out)
{
	kadm5_principal_ent_rec ent;
	int r;

	*kvno_out = 0;
	if ((r = get_ent(k, principal, KADM5_KVNO, &ent)) != CUST_OK)
		return r;
	*kvno_out = (int)ent.kvno;
	kadm5_free_principal_ent(k->handle, &ent);
	return CUST_OK;
}

int
dir_kadm_made_by_us(struct dir_kadm *k, const char *principal, int *ours,
    char *by, size_t len)
{
	kadm5_principal_ent_rec ent;
	krb5_principal me = NULL;
	char *name = NULL;
	int r;

	*ours = 0;
	snprintf(by, len, "?");
	if ((r = get_ent(k, principal, KADM5_MOD_NAME, &ent)) != CUST_OK)
		return r;
	if (ent.mod_name != NULL &&
	    krb5_unparse_name(k->ctx, ent.mod_name, &name) == 0) {
		snprintf(by, len, "%s", name);
		krb5_free_unparsed_name(k->ctx, name);
	}
	if (ent.mod_name != NULL && krb5_parse_name_flags(k->ctx, k->admin,
	    KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &me) == 0) {
		*ours = krb5_principal_compare(k->ctx, ent.mod_name, me) != 0;
		krb5_free_principal(k->ctx, me);
	}
	kadm5_free_principal_ent(k->handle, &ent);
	return CUST_OK;
}

int
dir_kadm_create(struct dir_kadm *k, const char *principal)
{
	kadm5_principal_ent_rec ent;
	kadm5_ret_t kr;
	int r;

	memset(&ent, 0, sizeof(ent));
	if ((r = parse(k, principal, &ent.principal)) != CUST_OK)
		return r;
	/* A NULL password: random keys, in one step (kadmind 1.18+). */
	kr = kadm5_create_principal(k->handle, &ent, KADM5_PRINCIPAL, NULL);
	krb5_free_principal(k->ctx, ent.principal);
	return kr != 0 ? kfail(k, kr, "create", principal) : CUST_OK;
}

void
dir_keys_free(struct dir_keys *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		seal_secret_free(ks->keys[i]);
	free(ks);
}

int
dir_kadm_randkey(struct dir_kadm *k, const char *principal,
    struct dir_keys **keys_out)
{
	krb5_principal p = NULL;
	krb5_keyblock *kb = NULL;
	struct dir_keys *ks = NULL;
	kadm5_ret_t kr;
	int nk = 0, i, kvno, r;

	*keys_out = NULL;
	if ((r = parse(k, principal, &p)) != CUST_OK)
		return r;
	kr = kadm5_randkey_principal_3(k->handle, p, FALSE, 0, NULL, &kb, &nk);
	krb5_free_principal(k->ctx, p);
	if (kr != 0)
		return kfail(k, kr, "randkey", principal);
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	if (nk <= 0 || nk > DIR_KEYS_MAX) {
		r = cust_fail(CUST_E_KRB5, "kadm5 randkey %s on %s: %d keys",
		    principal, k->server, nk);
		goto out;
	}
	for (i = 0; i < nk; i++) {
		ks->enctypes[i] = kb[i].enctype;
		if ((ks->keys[i] = seal_secret_dup(kb[i].contents,
		    kb[i].length)) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			goto out;
		}
		ks->n++;
	}
	/* The kvno the new keys have: read back (randkey does not say). */
	if ((r = dir_kadm_get(k, principal, &kvno)) != CUST_OK)
		goto out;
	ks->kvno = kvno;
	*keys_out = ks;
	ks = NULL;
	r = CUST_OK;
out:
	for (i = 0; i < nk; i++)
		krb5_free_keyblock_contents(k->ctx, &kb[i]);
	free(kb);
	dir_keys_free(ks);
	return r;
}

int
dir_kadm_delete(struct dir_kadm *k, const char *principal)
{
	krb5_principal p = NULL;
	kadm5_ret_t kr;
	int r;

	if ((r = parse(k, principal, &p)) != CUST_OK)
		return r;
	kr = kadm5_delete_principal(k->handle, p);
	krb5_free_principal(k->ctx, p);
	return kr != 0 ? kfail(k, kr, "delete", principal) : CUST_OK;
}
