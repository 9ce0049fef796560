/* SPDX-License-Identifier: MIT */
/* src/ca/ca_int.h - internals shared by the files of the CA module.
 *
 * ca_x509.c   keys, names, extensions, serials, encodings, OpenSSL errors
 * ca_csr.c    CSR parsing and policy checks (the untrusted parser)
 * ca_signer.c the sealed-key signer (the only code that unseals CA keys)
 * ca_db.c     configuration, generations and certificate rows
 * ca_gen.c    init, rotation, bundle, public files
 * ca_issue.c  device and service certificates, renewal
 * ca_bulk.c   bulk signing with parallel signer sessions
 * ca_console.c console client certificates
 * ca_crl.c    revocation and CRLs
 * ca_files.c  files written for a change of CA state (staged, then
 *             renamed into place once the change is committed)
 * ca_recover.c what a killed process left: staged files of a change that
 *             never committed, certificates whose key was never delivered
 * ca_list.c   listings
 */
#ifndef CUST_CA_INT_H
#define CUST_CA_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca.h"

struct cust_state;
struct seal_secret;

/* Key types: name, algorithm, size or curve, and the digest it signs with. */
struct ca_keytype {
	const char *name;	/* "rsa3072" */
	int rsa_bits;		/* 0 for EC */
	const char *curve;	/* "P-256"; NULL for RSA */
	const char *digest;	/* "SHA384" */
};

/* The key type named name, or NULL. */
const struct ca_keytype *ca_keytype_find(const char *name);
/* The names of the key types, for messages. */
#define CA_KEYTYPES	"rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384"
/* CUST_E_INVAL: "key type NAME: one of ..." (the one message for it). */
int ca_keytype_unknown(const char *name);

/* Certificate kinds as SQL lists: what the CA issues to holders (end
 * entities, the CRL of an issuing CA) and what a root signs besides
 * itself (the root's CRL). */
#define CA_EE_KINDS	"('device', 'server', 'admin', 'console')"
#define CA_SUB_KINDS	"('issuing', 'cross')"

/* Configuration kept in meta "ca.config" (JSON, see ca.h). */
struct ca_conf {
	char key_type[16];
	char profile[16];
	char org[CA_NAME_MAX + 1];
	char root_cn[CA_NAME_MAX + 1];
	char issuing_cn[CA_NAME_MAX + 1];
	int root_days, issuing_days, leaf_days, console_days;
	int renew_days, crl_days;
	int root_pathlen, issuing_pathlen;
	json_t *server_names;	/* array of strings; owned */
};

#define CA_PROFILE_DEFAULT	"default"
#define CA_PROFILE_LEGACY	"legacy-amt"
#define CA_DAY			86400
/* Leaf notBefore is back-dated this far for devices with a slow clock. */
#define CA_BACKDATE		300
/* A CRL is made again when its nextUpdate is this close. */
#define CA_CRL_MARGIN		CA_DAY

/* Fill c with defaults, then apply opts (may be NULL): each member checked
 * on its own, then the constraints between members once (issuing CA
 * within the root, renewal window within the validity, legacy-amt's key
 * type, path lengths). CUST_E_INVAL with a message for unknown members or
 * bad values. ca_conf_clear() frees. */
int ca_conf_apply(struct ca_conf *c, json_t *opts);
void ca_conf_clear(struct ca_conf *c);
/* Apply opts on top of a loaded configuration (ca rotate). */
int ca_conf_merge(struct ca_conf *c, json_t *opts);
int ca_conf_load(struct cust_state *st, struct ca_conf *c);
int ca_conf_save(struct cust_state *st, const struct ca_conf *c);

/* A generation as loaded from ca_gen. */
struct ca_gen {
	int64_t gen;
	char state[12];
	const struct ca_keytype *kt;
	const EVP_MD *md;
	X509 *root;
	X509 *issuing;
	X509 *cross_up;		/* this root certified by the previous root */
	X509 *cross_down;	/* the previous root certified by this root */
	int64_t created, activated, retired;
};

/* Load generation gen; CUST_E_NOTFOUND when absent. ca_gen_free(). */
int ca_gen_load(struct cust_state *st, int64_t gen, struct ca_gen **out);
/* The generation in state (active, next, previous); CUST_E_NOTFOUND. */
int ca_gen_by_state(struct cust_state *st, const char *state,
    struct ca_gen **out);
void ca_gen_free(struct ca_gen *g);
/* The first generation after gen (0: from the start), of every state or
 * (published) of next, active and previous only; *gen_out 0 when none.
 * For walking generations by key, so a walk has no bound and survives
 * commits in between. */
int ca_gen_next(struct cust_state *st, int64_t gen, int published,
    int64_t *gen_out);

/* A certificate about to be recorded. */
struct ca_certrec {
	const char *kind;
	const char *holder;
	int64_t gen;
	int64_t device_id;	/* 0: none */
	int64_t csr_id;		/* 0: none */
	X509 *x;		/* borrowed */
};

/* Insert a cert row; *id_out (may be NULL) = its id. */
int ca_cert_insert(struct cust_state *st, const struct ca_certrec *rec,
    int64_t *id_out);
/* Cert info JSON (see ca.h) for a certificate just made. */
json_t *ca_cert_info(const struct ca_certrec *rec);
/* Cert info JSON from a row selected with CA_CERT_COLS (which checks the
 * row's MAC: column 12 is that check, so extra columns start at 13). */
#define CA_CERT_COLS "id, serial, kind, gen, holder, subject, not_before, " \
	"not_after, status, revoked, reason, sha256, " \
	STORE_CHECK(STORE_ROW_CERT)
json_t *ca_cert_info_row(sqlite3_stmt *s);
/* Insert a CSR row for device_id; *id_out = its id. */
int ca_csr_insert(struct cust_state *st, int64_t device_id, X509_REQ *req,
    int64_t *id_out);
/* Is serial (normalised hex) in use, by a certificate or a reservation?
 * 1 yes, 0 no, < 0 error. */
int ca_serial_used(struct cust_state *st, const char *hex);
/* Reserve n fresh serials for holder under generation gen, in a short
 * write transaction of its own (none may be open), committed: the
 * certificates can then be signed with no transaction open. */
int ca_serial_reserve(struct cust_state *st, int64_t gen, const char *holder,
    char (*hex)[CA_SERIAL_HEXLEN], size_t n);
/* Inside the transaction that records its certificate: delete the
 * reservation of hex; CUST_E_CONFLICT when there is none (never record a
 * certificate twice, or one whose reservation was taken away). */
int ca_serial_consume(struct cust_state *st, const char *hex);
/* After a failure between reserve and record: drop the reservations of
 * hex[0..n) (entries "" skipped) in a transaction of their own, best
 * effort (what is left stays reserved, never reused); keeps the error
 * message. */
void ca_serial_release(struct cust_state *st, char (*hex)[CA_SERIAL_HEXLEN],
    size_t n);
/* Is hex a reserved serial without a certificate? 1 (and *when_out, when
 * it was reserved), 0 no, < 0 error. */
int ca_serial_reserved(struct cust_state *st, const char *hex,
    int64_t *when_out);

/* ca_x509.c */

/* Fail with code and msg, with the OpenSSL error queue appended (and
 * cleared). Returns code. */
int ca_ossl_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Generate a key of type kt; new key (EVP_PKEY_free). */
int ca_key_generate(const struct ca_keytype *kt, EVP_PKEY **out);
/* Keys made before a write transaction (key generation is CPU work that
 * must not hold other writers back) for a step inside it that needs two
 * keys of type kt: taken one by one; none when kt is NULL. */
struct ca_premade {
	const struct ca_keytype *kt;
	EVP_PKEY *k[2];
};
/* Make both keys of type kt (NULL: none) into pm. */
int ca_premade_make(const struct ca_keytype *kt, struct ca_premade *pm);
/* Key i of pm when pm (may be NULL) has one of type kt (taken: the caller
 * owns it), else NULL (the caller makes one). */
EVP_PKEY *ca_premade_take(struct ca_premade *pm, const struct ca_keytype *kt,
    int i);
void ca_premade_clear(struct ca_premade *pm);
/* A fresh random serial not yet used: ASN1 form (new) and hex. */
int ca_serial_new(struct cust_state *st, ASN1_INTEGER **out, char *hex,
    size_t hexlen);
/* Upper-case hex of an ASN1 serial into hex; CUST_E_INVAL if too long. */
int ca_serial_hex(const ASN1_INTEGER *ai, char *hex, size_t hexlen);
/* Name from O (may be NULL or "") and CN. new name (X509_NAME_free). */
X509_NAME *ca_name(const char *org, const char *cn);
/* RFC 2253 text of a name; new string (free()). */
char *ca_name_text(const X509_NAME *n);
/* Add one extension by OpenSSL's text form (trusted, built here). */
int ca_ext_add(X509 *x, X509 *issuer, int nid, const char *value);
/* Set validity to [nb, na] (seconds since the epoch). */
int ca_set_validity(X509 *x, int64_t nb, int64_t na);
/* notAfter / notBefore of x as seconds since the epoch. */
int64_t ca_time_of(const ASN1_TIME *t);
/* SHA-256 of the DER of x as lower-case hex (65 bytes). */
int ca_fingerprint(X509 *x, char out[65]);
/* PEM of one or more certificates appended to a new string (free()). */
char *ca_pem_certs(X509 *const *v, size_t n);
/* PEM of a private key into a new secret (seal_secret_free). */
int ca_pem_key(EVP_PKEY *key, struct seal_secret **out);
/* DER of x as a new buffer; *len_out its length. */
int ca_der(X509 *x, unsigned char **out, size_t *len_out);
/* X509 from DER; NULL with the error set on failure. */
X509 *ca_x509_from_der(const void *der, size_t len);
/* base64 of buf as a new JSON string. */
json_t *ca_json_b64(const void *buf, size_t len);
/* A host name for the service certificate: an IP address, a single label
 * ("localhost") or an FQDN. CUST_E_INVAL otherwise (no message). */
int ca_valid_host(const char *s);
/* Validate a console name; CUST_E_INVAL with a message. */
int ca_valid_name(const char *name);

/* The X509_NAME of DN text in RFC 4514 order ("CN=a,O=b": the CN is the
 * most specific RDN, printed first), backslash escapes allowed; new name
 * in *out. CUST_E_INVAL (with a message) for an unknown attribute type,
 * an empty value or a multi-valued RDN ('+'). (ca_client.c) */
int ca_dn_parse(const char *dn, X509_NAME **out);

/*
 * Client certificates (consoles, staff): one issuance path
 * (ca_client.c). The holder's table is described by SQL literals (the
 * statement cache is keyed by their address).
 */
struct ca_holders {
	const char *kind;	/* cert kind: "console" or "admin" */
	const char *objkind;	/* audit objects: "console:NAME", "staff:NAME" */
	const char *what;	/* "console", "staff member" */
	const char *sel_active;	/* id of the active row of name ?1; MAC'd */
	const char *sel_valid;	/* first valid cert id of holder ?1 */
	const char *upd_revoke;	/* revoke row ?2 at ?1, old MAC checked */
	const char *reseal;	/* STORE_RESEAL_* of the table */
};
extern const struct ca_holders ca_console_holders, ca_staff_holders;

/* Check a console or staff name and copy it in lower case into out
 * (CA_NAME_MAX + 1 bytes); CUST_E_INVAL with a message. */
int ca_client_name(const char *name, char *out);

/* The id of the active row of name in h's table (0: none). */
int ca_holder_active(struct cust_state *st, const struct ca_holders *h,
    const char *name, int64_t *id_out);

/* What to issue, and what to do in the transaction that records it. */
struct ca_client {
	const struct ca_holders *h;
	const char *action;	/* "console.add", "staff.renew" ... */
	const char *name;	/* holder, checked, lower case */
	const char *dn;		/* subject DN text; NULL: CN=name */
	const char *eku;
	/* Before anything (write 0, no transaction: refuse early) and in
	 * the recording transaction before the leaf (write 1): refuse (and
	 * audit: ca_refuse()) or, writing, make the holder's row. */
	int (*record)(struct cust_state *st, const char *actor,
	    const char *obj, int write, void *arg);
	/* After the leaf is recorded, in its transaction (may be NULL):
	 * serial is the new certificate's. */
	int (*after)(struct cust_state *st, const char *actor,
	    const char *obj, const char *serial, void *arg);
	void *arg;
};

/* Issue a client certificate for c: a key made here (key_type, NULL:
 * rsa2048; the PEM in "key", not kept) or the public key of csr (PEM or
 * DER, checked by ca_csr_parse(); no "key"). Signed outside the write
 * lock, recorded with c->record/after in one transaction. flags:
 * CA_DELIVER (a key made here waits for ca_delivered()). Undelivered keys
 * of dead processes are swept first (ca_delivery_sweep()). Response: cert
 * info + "certificate", "chain" [+ "key"]. */
int ca_client_issue(struct cust_state *st, const char *actor,
    const struct ca_client *c, const char *key_type, const void *csr,
    size_t csrlen, unsigned flags, json_t **resp_out);

/* In the open transaction: mark the active holder name of h revoked (the
 * name is free again), audited as action with reason; nothing when none
 * is active. Its certificates are the caller's. */
int ca_holder_retire(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *action, const char *name,
    const char *reason);

/* Revoke every valid certificate of h's holder name (reason code, why
 * for the detail) except the one with serial keep (may be NULL), in the
 * open transaction, noting the CRLs in rs. */
struct ca_revset;
int ca_holder_revoke_certs(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *name, const char *keep,
    int reason, struct ca_revset *rs);

/* Revoke holder name of h: its valid certificates (reason NULL:
 * cessationOfOperation), then its row; audited as action. Response:
 * {"name", "revoked": [serials]}. CUST_E_NOTFOUND (refused) when no
 * such holder is active. */
int ca_holder_revoke(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *action, const char *name,
    const char *reason, json_t **resp_out);

/* Renew holder name of h (must be active): a new certificate (subject dn,
 * NULL: CN=name) with a new key (key_type) or the key of csr; its other
 * valid certificates wait to be superseded by it (ca_supersede_plan(), in
 * the transaction that records it). Response: ca_client_issue()'s +
 * "superseded": [serials revoked at once: never used], "supersedes":
 * [{"serial", "due"}: revoked once the new one is used or delivered, at
 * the latest at due]. */
int ca_holder_renew(struct cust_state *st, const char *actor,
    const struct ca_holders *h, const char *action, const char *name,
    const char *dn, const char *eku, const char *key_type, const void *csr,
    size_t csrlen, unsigned flags, json_t **resp_out);

/* For each item of a console or staff list ({"name", ...}): "serial",
 * "not_after" of the holder's latest certificate of kind, and
 * "renew_due": true when it is valid and expires within the CA's renewal
 * window (renew_days, default 30), and "supersedes": [{"serial", "due"}]
 * while that certificate is a renewal not used yet. (ca_staff.c) */
int ca_client_renew_flags(struct cust_state *st, json_t *items,
    const char *kind);

/* ca_csr.c: parse and check, returning the parsed request (new). */
int ca_csr_parse(const void *buf, size_t len, const char *fqdn,
    X509_REQ **req_out, json_t **info_out);

/* ca_signer.c */
const struct ca_signer_ops *ca_signer(void);

/* ca_issue.c: an issuer = active generation + open signer session. */
struct ca_issuer {
	struct ca_gen *g;	/* owned */
	struct ca_gen *prev;	/* previous generation, when one; owned */
	void *sess;		/* signer session of g's issuing key */
	struct ca_conf conf;
	/* For the audit of failures (borrowed from ca_issuer_open()). */
	const char *actor, *action, *object;
};
/* Open the issuer inside the open transaction. Refused (CUST_E_CONFLICT,
 * audited as actor/action/object, the transaction rolled back) when the
 * active issuing CA, or the cross-certificate its chains carry during a
 * rollover, is revoked: nothing more is issued until a new generation is
 * activated. A generation or CA key altered in the store (CUST_E_DB) is
 * audited as failed, here or when the key is first used. */
int ca_issuer_open(struct cust_state *st, const char *actor,
    const char *action, const char *object, struct ca_issuer *is);
void ca_issuer_close(struct ca_issuer *is);

/* What an end-entity certificate is for. */
struct ca_leaf {
	const char *kind;		/* device, server, admin, console */
	const char *holder;
	const char *cn;
	const char *dn;			/* subject as DN text ("CN=a,O=b"),
					 * instead of cn; NULL: cn */
	const char *san;		/* OpenSSL SAN text or NULL */
	const char *eku;		/* OpenSSL EKU text */
	int64_t device_id, csr_id;
	int days;
	EVP_PKEY *pub;			/* borrowed */
	X509_PUBKEY *spki;		/* borrowed; copied as is when set */
	const char *serial;		/* a reserved serial (hex), consumed
					 * when recorded; NULL: drawn by
					 * ca_leaf_build() in the open
					 * transaction */
	const char *actor;		/* audit: who */
	const char *action;		/* audit: "cert.sign" ... */
};
/* Build, sign and record a leaf inside the open transaction; audit it with
 * action and object. *x_out new; *info_out new cert info. */
int ca_leaf_issue(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf, X509 **x_out, json_t **info_out);
/* The two halves around the signature: the complete TBS (new, unsigned),
 * and recording a signed leaf with its audit entry (new cert info). */
int ca_leaf_build(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf, X509 **x_out);
/*
 * Signing outside the write lock (ca_sign_csr, ca_issue, ca_renew, bulk):
 * ca_leaf_presign(), with no transaction open, opens the signer session,
 * reserves a serial into hex[0] (a short committed transaction), sets
 * lf->serial to it, builds and signs: *x_out is signed, not recorded. The
 * caller then opens its write transaction, calls ca_issuer_recheck() and
 * records with ca_leaf_record() (which consumes the reservation); on any
 * failure after presign, ca_serial_release(hex). ca_issuer_recheck():
 * CUST_E_CONFLICT (refused, audited) when the active or previous
 * generation changed or the issuer was revoked since ca_issuer_open().
 */
int ca_leaf_presign(struct cust_state *st, struct ca_issuer *is,
    struct ca_leaf *lf, char (*hex)[CA_SERIAL_HEXLEN], X509 **x_out);
int ca_issuer_recheck(struct cust_state *st, struct ca_issuer *is);
int ca_leaf_record(struct cust_state *st, struct ca_issuer *is,
    const struct ca_leaf *lf, X509 *x, json_t **info_out);
/* Device certificates (ca_issue.c), shared with ca_bulk.c. Refuse (and
 * audit) a request before anything is written; with req_out the CSR is
 * parsed and checked too. Runs outside any transaction. */
int ca_device_precheck(struct cust_state *st, const char *actor,
    const char *action, const char *fqdn, const void *csr, size_t len,
    int64_t *id_out, X509_REQ **req_out);
/* Inside the issuing transaction: is fqdn still the active device dev
 * (not removed since the precheck)? CUST_E_NOTFOUND with a message. */
int ca_device_current(struct cust_state *st, const char *fqdn, int64_t dev);
/* Fill lf for a device certificate of name (lower case, borrowed with
 * san, which must hold CUST_MAX_FQDN + 8 bytes) from req. */
void ca_device_leaf(struct ca_leaf *lf, struct ca_issuer *is,
    const char *actor, const char *action, const char *fqdn, char *name,
    char *san, int64_t device_id, X509_REQ *req, int days);
/* Add "certificate" and "chain" PEM to an issuance response. */
int ca_add_pems(json_t *resp, struct ca_issuer *is, X509 *x);
/* Chain PEM for a leaf of is (leaf + issuing [+ cross]), new string. */
char *ca_chain_pem(struct ca_issuer *is, X509 *leaf);
/* Issue a server-side-keyed leaf: key PEM into *key_out and, when
 * pkey_out is not NULL, the key itself (new; EVP_PKEY_free). made: a key
 * of key_type made beforehand (taken over), or NULL to make one. */
int ca_leaf_with_key(struct cust_state *st, struct ca_issuer *is,
    struct ca_leaf *lf, const char *key_type, EVP_PKEY *made, X509 **x_out,
    struct seal_secret **key_out, EVP_PKEY **pkey_out, json_t **info_out);
/* The key type of the service certificates under configuration c. */
const char *ca_service_keytype(const struct ca_conf *c);
/* (Re)issue DIR/tls/server.{crt,key} and DIR/admin/admin.{crt,key} under
 * is inside the open transaction, queued into files (ca_files.c). hex:
 * NULL (serials drawn in the transaction), or the serials reserved for
 * them (holders "custodyd" and "admin", consumed when recorded), so that
 * what a kill before the commit leaves staged is known (ca_recover.c).
 * pm: keys of ca_service_keytype() made beforehand, or NULL. */
struct ca_files;
#define CA_SERVICE_CERTS	2
int ca_service_certs(struct cust_state *st, struct ca_issuer *is,
    const char *actor, char (*hex)[CA_SERIAL_HEXLEN],
    struct ca_premade *pm, struct ca_files *files);
/* The first half of it: DIR/tls/server.{crt,key} alone (hex: NULL or
 * the serial reserved for holder "custodyd"; pm: key 0 of it). */
int ca_server_cert(struct cust_state *st, struct ca_issuer *is,
    const char *actor, char *hex, struct ca_premade *pm,
    struct ca_files *files);

/*
 * Files of a change of CA state (service keys and certificates, public
 * CA files). They are written under temporary names before the change
 * commits (a full disk or a missing directory then rolls it back) and
 * renamed into place after; a rename that fails after the commit leaves
 * the new file under its temporary name and says so.
 */
#define CA_FILES_MAX	24
struct ca_files {
	size_t n;
	int committed;		/* staged files are kept from now on */
	int dirfd;		/* the state directory (borrowed), once staged */
	struct {
		char *path;	/* final name, relative to the state dir */
		char *tmp;	/* staged copy, or NULL */
		struct seal_secret *data;
		unsigned mode;
	} f[CA_FILES_MAX];
};
/* Queue SUB/NAME of the state directory with data (copied into a secret
 * buffer) and mode. */
int ca_files_add(struct ca_files *fs, const char *sub, const char *name,
    const void *data, size_t len, unsigned mode);
/* Write every queued file under its temporary name and record the renames
 * in the open transaction (before the commit; once per change). */
int ca_files_stage(struct cust_state *st, struct ca_files *fs);
/* Rename the staged files into place (after the commit). */
int ca_files_install(struct cust_state *st, struct ca_files *fs);
/* Forget the queue; staged files of an uncommitted change are removed. */
void ca_files_clear(struct ca_files *fs);
/* Is name (a file name in a subdirectory of the state directory) a
 * staged file of ca_files_stage(), or the temporary file one was being
 * written through? 1 with the staging process's pid and start time
 * (util_proc_start()), 0 otherwise. */
int ca_files_staged_owner(const char *name, long long *pid_out,
    long long *pstart_out);
/* Queue the public files of DIR/ca (bundle, chain, per-generation root
 * and issuing CA) as the open transaction has them. */
int ca_public_stage(struct cust_state *st, struct ca_files *fs);
/* Remove the public files of retired generations from DIR/ca. */
int ca_public_prune(struct cust_state *st);

/* ca_gen.c: the bundle PEM, its version (hex SHA-256) and generations. */
int ca_bundle_pem(struct cust_state *st, char **pem_out, char hash[65],
    json_t **gens_out);

/* ca_crl.c: make and store the CRL of g (root or issuing) in the open
 * transaction, valid for conf's crl_days. */
int ca_crl_make(struct cust_state *st, struct ca_gen *g, int root,
    const struct ca_conf *conf);
/* The last CRL of a generation being retired: its nextUpdate is the
 * notAfter of the CA certificate that signs it, so it stays current once
 * the generation's keys are gone. */
int ca_crl_final(struct cust_state *st, struct ca_gen *g, int root);
/* Make the CRL of gen (root or issuing) again in its own audited
 * transaction if, checked inside it, it is still due (missing or within
 * margin seconds of its nextUpdate, generation not retired); *made_out 1
 * when it made one. */
int ca_crl_refresh_gen(struct cust_state *st, const char *actor, int64_t gen,
    int root, int64_t margin, int *made_out);

/*
 * Revocations in one transaction and the CRLs they touch. Every path that
 * revokes (cert revoke, renew --supersede, console revoke, activation,
 * retirement, device removal) goes through ca_revoke_row() or
 * ca_revoke_each() with a set, then ca_revset_publish(): one place where
 * "revoked" turns into "listed on a published CRL".
 */
#define CA_REVSET_MAX	8
struct ca_revset {
	size_t n;			/* CRLs noted */
	struct {
		int64_t gen;
		int root;		/* the root's CRL, else the issuing CA's */
	} crl[CA_REVSET_MAX];
	int overflow;			/* more than CA_REVSET_MAX: remake all */
	size_t revoked;			/* rows revoked */
	json_t *serials;		/* borrowed, may be NULL: serials added */
};
/* Revoke row id (valid) with reason at time now, in the open transaction;
 * audit with actor (why, may be NULL, goes into the detail); note its CRL
 * in rs. */
int ca_revoke_row(struct cust_state *st, const char *actor, int64_t id,
    int reason, const char *why, struct ca_revset *rs);
/* Revoke every row s selects (prepared and bound by the caller; first
 * column the cert id). s must select valid rows only, so that each
 * revocation takes a row out of its answer: it is stepped again after
 * each one. */
int ca_revoke_each(struct cust_state *st, const char *actor,
    sqlite3_stmt *s, int reason, const char *why, struct ca_revset *rs);
/* Make again every CRL rs noted (conf NULL: loaded here). A retired
 * generation keeps its final CRLs: nothing valid of it is left to list. */
int ca_revset_publish(struct cust_state *st, const struct ca_revset *rs,
    const struct ca_conf *conf);
/* Is the certificate x recorded as revoked? 1 yes, 0 no, < 0 error. */
int ca_cert_revoked(struct cust_state *st, X509 *x);

/* ca_console.c: inside the open transaction, mark the active console
 * name revoked (its name is free again) and audit it with reason; nothing
 * when none is active. Its certificates are revoked by the caller. */
int ca_console_retire(struct cust_state *st, const char *actor,
    const char *name, const char *reason);
/* ca_staff.c: the same for staff member name (the bootstrap admin has no
 * record: nothing). */
int ca_staff_retire(struct cust_state *st, const char *actor,
    const char *name, const char *reason);

/* ca_recover.c: what a killed process left behind (see there). */
/* Remove the staged files of processes that are gone (not those of a
 * committed change still to install); a staged service certificate
 * whose serial a dead process reserved is recorded and revoked. Its own
 * transaction; none may be open. */
int ca_stale_sweep(struct cust_state *st, const char *actor);
/* Reserved serials without a certificate whose process is gone (or,
 * reserved before processes were recorded, over an hour ago). */
int ca_serial_unrecorded(struct cust_state *st, int64_t *count_out);
/* In the transaction recording serial: its key is to be delivered by
 * this process. */
int ca_delivery_mark(struct cust_state *st, const char *serial);
/* In the open transaction: serial no longer waits for its delivery. */
int ca_delivery_clear(struct cust_state *st, const char *serial);
/* Does serial wait for its delivery? 1 yes, 0 no, < 0 error. */
int ca_delivery_pending(struct cust_state *st, const char *serial);
/* Cert info (list, show): "undelivered": true when its key still waits
 * for its delivery (its process is alive, or gone and not swept yet). */
int ca_delivery_note(struct cust_state *st, json_t *info);
/* Revoke the certificates whose delivering process is gone, each in a
 * transaction of its own (none may be open); *count_out (may be NULL) =
 * how many. */
int ca_delivery_sweep(struct cust_state *st, const char *actor,
    size_t *count_out);

/* ca_supersede.c (see there), each in the open transaction. plan: the
 * holder's other valid certificates wait for serial, its new one (rows
 * appended to pending as {"serial", "due"}); one that waits to supersede
 * others itself (never used) is revoked at once instead. drop: serial
 * (revoked) neither waits nor is waited for. delivered: serial's key was
 * delivered: revoke what it supersedes. note: cert info gains
 * "superseded_by" + "supersede_due", or "supersedes": [{"serial",
 * "due"}]. */
int ca_supersede_plan(struct cust_state *st, const char *actor,
    const char *kind, const char *holder, const char *serial,
    json_t *pending, struct ca_revset *rs);
int ca_supersede_drop(struct cust_state *st, const char *serial);
int ca_supersede_delivered(struct cust_state *st, const char *actor,
    const char *serial, struct ca_revset *rs);
int ca_supersede_note(struct cust_state *st, json_t *info);

/* Audit a refusal (audit_note(): an open transaction is rolled back
 * first); keeps the current error message, returns code. */
int ca_refuse(struct cust_state *st, const char *actor, const char *action,
    const char *object, int code);
/* The same for a failure that is not the requester's (result "failed"). */
int ca_failed(struct cust_state *st, const char *actor, const char *action,
    const char *object, int code);
/* Audit object for a holder of kind (the FQDN, "console:x", "service:x",
 * "ca:gN") into buf. */
void ca_object(char *buf, size_t len, const char *kind, const char *holder);

#endif
