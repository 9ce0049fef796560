/* SPDX-License-Identifier: MIT */
/*
 * tests/amtsim/amtsim.h - the AMT simulator's shared types: simulated
 * devices (cheap fixed part for every device, the rest allocated on first
 * change), SOAP requests and replies, and the functions the modules share.
 *
 * Faithful to ../shared/reference/amt.md; section numbers (§n) below refer
 * to it. One event loop, one thread: nothing here is locked.
 */
#ifndef AMTSIM_H
#define AMTSIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* PT_STATUS return values (§4 "ReturnValue"). */
#define PT_SUCCESS		0
#define PT_INTERNAL_ERROR	1
#define PT_INVALID_NAME		12
#define PT_NOT_PERMITTED	16
#define PT_MAX_LIMIT_REACHED	23
#define PT_INVALID_INDEX	35
#define PT_INVALID_PARAMETER	36
#define PT_INVALID_HANDLE	2053
#define PT_INVALID_PASSWORD	2054
#define PT_INVALID_REALM	2055
#define PT_DUPLICATE		2058
#define PT_INVALID_KEY		2062
#define PT_INVALID_CERT		2063
#define PT_UNSUPPORTED		2066

/* Limits (§3 "ACL size": 7 digest users, 32 Kerberos users/groups). */
#define SIM_MAX_DIGEST_USERS	7
#define SIM_MAX_KERB_USERS	32
#define SIM_MAX_USERS		(SIM_MAX_DIGEST_USERS + SIM_MAX_KERB_USERS)
#define SIM_MAX_KEYS		8
#define SIM_MAX_CERTS		16
#define SIM_MAX_TRUSTED_CN	16
#define SIM_ENUM_PAGE		50	/* EnumerateUserAclEntries handles/call */
#define SIM_CERT_MAX_DER	4100	/* X509Certificate is uint8[4100] */

/* Injected faults (POST /fault), README.md "Faults". */
enum sim_fault {
	SIM_FAULT_NONE = 0,
	SIM_FAULT_DROP_AFTER_APPLY,
	SIM_FAULT_DELAY,
	SIM_FAULT_HTTP500,
	SIM_FAULT_MALFORMED_XML,
	SIM_FAULT_OVERSIZED,
	SIM_FAULT_ENTITY_EXPANSION,
	SIM_FAULT_DOCTYPE,
	SIM_FAULT_WRONG_RELATESTO,
	SIM_FAULT_DOWN,
	SIM_FAULT_ACCEPT_ANY,	/* an impostor: any digest response logs
				 * in (a known user name is enough) */
	SIM_FAULT_BODY_REALM,	/* a man in the middle on plain HTTP: the
				 * DigestRealm in the reply rewritten */
};

/* MEBx password policy (§2 "MEBx password"). */
enum sim_mebx_policy {
	SIM_MEBX_DEFAULT_ONLY = 0,
	SIM_MEBX_DURING_SETUP,
	SIM_MEBX_ANYTIME,
};

/* One user ACL entry (§1, §4 AMT_AuthorizationService). The password is
 * kept only as its digest HA1, as AMT does. */
struct sim_user {
	uint32_t handle;
	char name[17];			/* digest username; "" for Kerberos */
	unsigned char ha1[16];
	unsigned char sid[28];		/* KerberosUserSid (binary) */
	size_t sid_len;
	int access;			/* 0 local, 1 network, 2 any */
	uint32_t realms;		/* bit n set = realm n */
	int enabled;
};

struct sim_key {
	int handle;
	EVP_PKEY *pkey;
};

struct sim_cert {
	int handle;
	X509 *x509;
	int trusted_root;		/* AddTrustedRootCertificate */
	int key_handle;			/* matching key pair, or -1 */
};

/* AMT_TLSSettingData, remote (802.3) instance (§6). */
struct sim_tls_settings {
	int enabled;
	int mutual;
	int accept_nonsecure;
};

/* How a device takes SetHighAccuracyTimeSynch: sets its clock, refuses
 * it (PT_STATUS_NOT_PERMITTED), or answers 0 and keeps its clock (a
 * broken RTC). */
#define SIM_TIME_OK	0
#define SIM_TIME_REFUSE	1
#define SIM_TIME_IGNORE	2

struct sim_kerberos {
	char realm_name[192];
	long key_version;
	int krb_enabled;
	int has_master_key;
	int has_passphrase;
	long max_clock_tolerance;
	uint32_t configured_algs;	/* bit n = algorithm n */
	/* The keys as the device holds them (the state dump shows them to
	 * tests; WS-Man never returns them): the RC4 key (the MasterKey
	 * given, or derived from the Passphrase as AMT does: MD4 of its
	 * UTF-16LE), and the Passphrase, Salt and IterationCount. */
	unsigned char rc4_key[16];
	char passphrase[128];
	char salt[256];
	long iterations;
	unsigned long put_seq;		/* sim_dev.seq of the last Put */
	long put_clock_skew;		/* device clock - real clock then */
};

/* What a device holds once anything beyond the defaults changed. */
struct sim_devx {
	struct sim_user *users;		/* nusers of them, grown as added */
	int nusers;
	uint32_t next_handle;
	struct sim_key keys[SIM_MAX_KEYS];
	int nkeys;
	int next_key_handle;
	struct sim_cert certs[SIM_MAX_CERTS];
	int ncerts;
	int next_cert_handle;
	/* TLS: pending (Create/Put) and committed (CommitChanges) */
	int ctx_cert;			/* credential context cert, -1 none */
	struct sim_tls_settings pend;
	int pend_set;			/* pend differs from committed */
	int pend_local_enabled;
	struct sim_tls_settings tls;	/* committed */
	/* TrustedCN: applies at once, not at CommitChanges (§6) */
	char *trusted_cn[SIM_MAX_TRUSTED_CN];	/* owned */
	int ntrusted_cn;
	int tls_active;			/* TLS port serves this device */
	int tls_cert_handle;		/* committed certificate, -1 external */
	int local_tls_enabled;
	X509 *tls_x509;			/* committed leaf (owned ref) */
	EVP_PKEY *tls_pkey;		/* committed key (owned ref) */
	STACK_OF(X509) *tls_chain;	/* committed chain (owned) */
	X509_STORE *tls_roots;		/* mutual auth roots (owned) */
	struct sim_kerberos krb;
	unsigned char mebx_sha256[32];
	int mebx_set;
};

/* Nonces a device remembers for its nonce-count check: one answered after
 * this many newer challenges is stale (a fresh challenge, stale=true). */
#define SIM_NONCES_KEPT	8

struct sim_dev {
	int index;
	char *fqdn;			/* owned */
	char realm[40];			/* "Digest:" + 32 uppercase hex */
	char admin_user[17];
	unsigned char admin_ha1[16];
	int admin_changed;		/* GetAdminAclEntryStatus IsDefault */
	char version[24];		/* "16.1.27" */
	int build;
	int control_mode;		/* 1 CCM, 2 ACM */
	int mebx_policy;
	long clock_offset;		/* device clock - real clock, s */
	uint32_t acl_epoch;		/* bumped on every ACL change (§3) */
	/* The nonces issued last and the highest nonce count each was
	 * answered with (RFC 7616 §3.4.1 nc, replay check; auth.c). */
	struct {
		char nonce[49];
		unsigned long nc;
	} seen[SIM_NONCES_KEPT];
	int seen_next;
	uint32_t nonce_serial;		/* the last nonce's */
	int nonsecure_supported;	/* NonSecureConnectionsSupported */
	int time_sync;			/* SIM_TIME_*: SetHighAccuracyTimeSynch */
	unsigned long seq;		/* counts the changes made, for order */
	unsigned long time_set_seq;	/* seq of the last clock set, or 0 */
	/* fault injection */
	int fault;
	long fault_count;		/* -1 forever */
	long fault_ms;
	long fault_skip;		/* requests spared before the fault */
	long down_count;		/* -1 forever, 0 up */
	/* counters for the state dump */
	unsigned long n_requests, n_challenges, n_auth_fail, n_stale,
	    n_drops, n_faults, n_tls_handshakes, n_tls_full, n_replays;
	struct sim_devx *x;		/* NULL until first change */
};

#define SIM_MAX_ALIASES 16
struct sim {
	struct sim_dev *devs;
	int ndevs;
	unsigned char secret[32];	/* nonce MAC key */
	long nonce_lifetime;
	int accept_hex_digest;		/* §3: 32-hex DigestPassword "legacy" */
	int verbose;			/* one stderr line per WS-Man call */
	int no_tls_resume;		/* --no-tls-resume */
	unsigned long msgid;
	struct event_base *base;
	const char *default_tls_cert, *default_tls_key, *default_tls_dir;
	/* --alias NAME=FQDN: Host/SNI NAME reaches device FQDN */
	const char *alias_name[SIM_MAX_ALIASES], *alias_dev[SIM_MAX_ALIASES];
	int naliases;
};

extern struct sim *g_sim;

/* A parsed SOAP 1.2 request (§4). Strings point into the document. */
#define SIM_MAX_SELECTORS 8
struct soap_req {
	xmlDocPtr doc;
	const char *action;		/* full Action URI */
	const char *resource;		/* full ResourceURI */
	const char *cls;		/* class name: last path segment */
	const char *message_id;
	int nsel;
	const char *sel_name[SIM_MAX_SELECTORS];
	const char *sel_value[SIM_MAX_SELECTORS];
	xmlNodePtr body;		/* first element child of Body or NULL */
	char *strings[64];		/* owned copies (xmlFree'd) */
	int nstrings;
};

/* A reply: HTTP status, SOAP action for the header, body XML. */
struct soap_reply {
	int status;			/* 200, or 400 for a SOAP fault */
	char action[512];
	struct evbuffer *body;		/* contents of <a:Body> */
	int changed;			/* the request changed device state */
};

/* soap.c */
int soap_parse(const char *buf, size_t len, struct soap_req *req,
    const char **why_out);
void soap_req_free(struct soap_req *req);
const char *soap_selector(struct soap_req *req, const char *name);
xmlNodePtr soap_child(xmlNodePtr parent, const char *local);
/* Text of the first child element `local` of the method input; NULL if
 * absent. Owned by req. */
const char *soap_param(struct soap_req *req, const char *local);
const char *soap_node_text(struct soap_req *req, xmlNodePtr n);
/* InstanceID selector value of an EPR parameter `local`, or NULL. */
const char *soap_epr_selector(struct soap_req *req, xmlNodePtr parent,
    const char *local, const char *name);
void xml_esc(struct evbuffer *b, const char *s);
void soap_fault(struct soap_reply *rep, const char *subcode,
    const char *reason);
struct evbuffer *soap_envelope(const struct soap_reply *rep,
    const char *relates_to, const char *resource);

/* auth.c */
int sim_b64_decode(const char *in, unsigned char *out, size_t cap,
    size_t *len_out);
char *sim_b64_encode(const unsigned char *in, size_t len);
int sim_digest_password(const char *b64, unsigned char ha1_out[16]);
int sim_username_ok(const char *name);
int sim_password_ok(const char *pw);
void sim_md5_hex(const unsigned char in[16], char out[33]);
void sim_ha1(const char *user, const char *realm, const char *pw,
    unsigned char out[16]);
void sim_digest_response(const unsigned char ha1[16], const char *nonce,
    const char *nc, const char *cnonce, const char *qop, const char *method,
    const char *uri, char out[33]);
void sim_nonce_new(struct sim_dev *d, char *out, size_t cap);
/* Checks an Authorization header. Returns 0 and sets *who_out (-1
 * admin, else user index) when the credentials are right and the nonce
 * current; 1 when right but the nonce stale or from an earlier session
 * (challenge with stale="true"); -1 otherwise. */
int sim_digest_check(struct sim_dev *d, const char *hdr, const char *method,
    int *who_out);

/* methods.c */
void sim_dispatch(struct sim_dev *d, int who, int over_tls,
    struct soap_req *req, struct soap_reply *rep);
struct sim_devx *sim_devx(struct sim_dev *d);
/* A new zeroed entry at the end of d's user ACL (room for SIM_MAX_USERS
 * plus system entries); NULL when full. */
struct sim_user *sim_user_add(struct sim_dev *d);
time_t sim_dev_clock(const struct sim_dev *d);

/* pki.c */
EVP_PKEY *pki_rsa_new(int bits);
char *pki_spki_b64(EVP_PKEY *pkey);
char *pki_der_b64(X509 *x);
void pki_name(const X509_NAME *n, char *out, size_t cap);
void pki_sha256_hex(X509 *x, char out[65]);
int pki_commit_tls(struct sim_dev *d);
void pki_devx_free(struct sim_devx *x);
void *pki_server_ctx(int resume);
void pki_loaded_free(void);
int pki_load_default_tls(struct sim_dev *d, const char *cert,
    const char *key);

/* main.c */
struct sim_dev *sim_find(const char *host, size_t len);

#endif
