/* SPDX-License-Identifier: MIT */
/* include/ca.h - custody's certificate authority (OpenSSL 3).
 *
 * A CA generation is a self-signed root and an issuing CA signed by it.
 * Generation 1 is made by ca_init(); ca_rotate() starts a rollover with a
 * generation N+1 in state "next" (cross-certified both ways with the
 * previous root, published in the bundle, not yet issuing); activating it
 * makes it "active" and the old one "previous"; retiring the old one makes
 * it "retired" (out of the bundle, both cross-certificates revoked, final
 * CRLs made, its keys destroyed). States: next -> active -> previous ->
 * retired. Exactly one generation is active.
 *
 * CA private keys exist only sealed in the store (table ca_key). They are
 * unsealed inside a signer session (struct ca_signer_ops) for the time of
 * one signing operation and wiped after; nothing else ever sees them.
 *
 * Every issuance and revocation is an audit entry committed in the same
 * store transaction as the record it describes; every refusal is an audit
 * entry of its own, written after any open transaction is rolled back.
 * Results are returned as new JSON objects (json_decref); the member names
 * are listed at each function and are the wire format of the ops layer.
 */
#ifndef CUST_CA_H
#define CUST_CA_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct cust_state;

/* Size bound of a CSR (PEM or DER) handed to custody. */
#define CA_CSR_MAX		(64 * 1024)
/* Console names: 1..CA_NAME_MAX of [A-Za-z0-9._-] (it becomes the CN). */
#define CA_NAME_MAX		64
/* Serial numbers are this many random bytes (first byte 0x01..0x7f). */
#define CA_SERIAL_BYTES		16
/* Hex serial text of any RFC 5280 serial (at most 20 octets) plus NUL. */
#define CA_SERIAL_HEXLEN	(2 * 20 + 1)

/*
 * CA options, a JSON object whose members may be absent (defaults apply):
 *   key_type        "rsa2048" | "rsa3072" (default) | "rsa4096" |
 *                   "ecdsa-p256" | "ecdsa-p384" (root and issuing CA)
 *   profile         "default" | "legacy-amt" (whole chain RSA-2048/SHA-256)
 *   org             O= of the CA names (default "custody")
 *   root_cn         root CN prefix (default "custody Root CA"; " G<n>" added)
 *   issuing_cn      issuing CA CN prefix (default "custody Issuing CA")
 *   root_days       root validity (7300)      issuing_days (3650)
 *   leaf_days       device certificates (730) console_days (730)
 *   renew_days      renewal window before expiry (30)
 *   crl_days        CRL nextUpdate period (7)
 *   root_pathlen    root pathLenConstraint (2: issuing CA + cross-cert;
 *                   -1 for none)  issuing_pathlen (0; -1 for none).
 *                   root_pathlen is -1 or at least issuing_pathlen + 2
 *                   (an issuing pathlen of -1 counting as 0), else
 *                   chains through a cross-certificate break
 *   server_names    array of DNS names / IP addresses for DIR/tls/server.crt
 *                   (default: the host name, "localhost", 127.0.0.1, ::1)
 * Unknown members are CUST_E_INVAL.
 */

/* Map a command-line option of `init` or `ca rotate` ("key-type", "profile",
 * "org", "root-cn", "issuing-cn", "root-days", "issuing-days", "leaf-days",
 * "console-days", "renew-days", "crl-days", "root-pathlen",
 * "issuing-pathlen", "server-name" (repeatable)) onto opts. CUST_E_INVAL
 * with a message for an unknown name or a bad value. Only the option
 * itself is checked (and, of the constraints between options, those whose
 * options are all given, so the order never matters); ca_opts_check()
 * checks the whole set once all are given. */
int ca_opt_set(json_t *opts, const char *name, const char *value)
	__attribute__((warn_unused_result));

/* Check a complete set of CA options (as ca_init() would), including
 * every constraint between them, without any state. CUST_E_INVAL with a
 * message. */
int ca_opts_check(json_t *opts) __attribute__((warn_unused_result));

/* Create generation 1 (root + issuing CA, keys sealed in the store), the
 * service TLS certificate DIR/tls/server.{crt,key} and the bootstrap admin
 * client certificate DIR/admin/admin.{crt,key} (keys 0600), and the public
 * files DIR/ca/{bundle.pem,root-g1.pem,issuing-g1.pem}. opts borrowed (NULL:
 * defaults). CUST_E_EXISTS when a CA is present. Response: {"generation",
 * "key_type", "digest", "root": {cert info}, "issuing": {...},
 * "bundle_version"}. */
int ca_init(struct cust_state *st, json_t *opts, const char *actor,
    json_t **resp_out) __attribute__((warn_unused_result));

/*
 * Certificate info objects (cert list/show, issuance responses):
 * {"serial" (hex, as `openssl x509 -serial`), "kind" (device | server |
 * admin | console | root | issuing | cross), "holder", "generation",
 * "subject", "not_before", "not_after" (RFC 3339), "status" (valid |
 * revoked | expired), "revoked", "reason", "sha256"}.
 */

/* Issuance (ca_sign_csr, ca_issue, ca_renew, ca_sign_bulk) signs, and
 * generates keys, outside the store's write transaction: a serial is
 * reserved (committed), the certificate signed, then recorded in a short
 * transaction that checks again the issuer and the device
 * (CUST_E_CONFLICT, audited, when the active generation changed
 * meanwhile). Call them with no transaction open. */

/* Sign a device CSR (PEM or DER, at most CA_CSR_MAX bytes: callers pass
 * longer input through, at least CA_CSR_MAX + 1 bytes of it, so that the
 * refusal is audited here) for the
 * registered device fqdn with the active issuing CA. The CSR signature must
 * verify, its key must be RSA >= 2048 bits or ECDSA P-256/P-384, and any
 * CN or DNS name it asks for must be fqdn; subject CN and DNS SAN come from
 * the device record. days 0 = the configured leaf_days. Refusals are
 * audited. Response: cert info + "certificate" (leaf PEM) and "chain" (leaf
 * + issuing CA [+ cross-certificate during a rollover], PEM). */
int ca_sign_csr(struct cust_state *st, const char *actor, const char *fqdn,
    const void *csr, size_t len, int days, json_t **resp_out)
	__attribute__((warn_unused_result));

/*
 * Keys made by custody (ca_issue(), ca_console_add()) exist only in the
 * response. With CA_DELIVER the caller (custodyctl, which writes them to
 * files) promises to confirm with ca_delivered() once they are durably
 * written: until then the certificate is "undelivered" (cert list, cert
 * show), and if the process that issued it is gone before (killed between
 * the commit and the files), the next ca_issue() or ca_console_add()
 * revokes it (cessationOfOperation, audited; a console or staff member
 * left with no valid certificate is revoked too, which frees its name;
 * a renewal's holder keeps the certificate it had): its key was lost.
 */
#define CA_DELIVER	0x1

/* Server-side key generation for a device that cannot make a CSR:
 * key_type NULL = "rsa2048". The key is not kept. flags: 0 or CA_DELIVER.
 * Response: as ca_sign_csr() plus "key" (PEM), "pkcs12" (base64 of a
 * PKCS#12 with key, leaf and chain) and "pkcs12_password" (generated;
 * shown once). */
int ca_issue(struct cust_state *st, const char *actor, const char *fqdn,
    const char *key_type, int days, unsigned flags, json_t **resp_out)
	__attribute__((warn_unused_result));

/* A key not delivered this long after its certificate committed is taken
 * for lost even when the process that waits for it lives (custodyd, for
 * a remote CLI that died): ca_delivery_sweep(). */
#define CA_DELIVERY_MAX_AGE	(15 * 60)

/*
 * Renewed client certificates (src/ca/ca_supersede.c). A renewal of a
 * console or staff member does not revoke the holder's other valid
 * certificates at once: each is revoked (superseded) once the new one is
 * proven fetched - it authenticates a client of the service
 * (ca_supersede_used()), or its key made by custody is confirmed delivered
 * (ca_delivered()) - and at the latest CA_SUPERSEDE_GRACE after the
 * renewal (or at its own notAfter, when sooner): ca_supersede_sweep().
 */
#define CA_SUPERSEDE_GRACE	(7 * 86400)

/* The certificate serial authenticated actor: revoke the certificates it
 * supersedes (its own transaction; none may be open; one indexed read
 * when there are none). *count_out = how many were revoked. */
int ca_supersede_used(struct cust_state *st, const char *actor,
    const char *serial, size_t *count_out)
    __attribute__((warn_unused_result));
/* Revoke the certificates whose grace period after their renewal ended
 * (one transaction; none may be open). count_out may be NULL. */
int ca_supersede_sweep(struct cust_state *st, const char *actor,
    size_t *count_out) __attribute__((warn_unused_result));

/* The key of the certificate serial (issued with CA_DELIVER) is durably
 * written: it no longer waits for its delivery. CUST_E_NOTFOUND when it
 * does not wait (never did, confirmed already, or revoked as undelivered).
 * A renewal's key delivered proves it fetched: the certificates it
 * supersedes are revoked in the same transaction. Response: {"serial",
 * "superseded": [serials]}. */
int ca_delivered(struct cust_state *st, const char *actor, const char *serial,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Renew the device certificate of fqdn: with csr, sign that one (a rekey);
 * without, re-sign the last CSR on file (CUST_E_NOTFOUND when the device
 * never sent one). Refused (CUST_E_CONFLICT) when the newest valid
 * certificate is not yet within the renewal window, unless force or a new
 * csr. supersede revokes the device's previous valid certificates
 * (reason superseded). Response as ca_sign_csr() plus "superseded": [...]. */
int ca_renew(struct cust_state *st, const char *actor, const char *fqdn,
    const void *csr, size_t len, int force, int supersede, json_t **resp_out)
	__attribute__((warn_unused_result));

/* RFC 5280 reason code for a name ("keyCompromise" ...), -1 when unknown
 * or not usable for a permanent revocation (certificateHold,
 * removeFromCRL). */
int ca_reason_code(const char *name);
/* The name of an RFC 5280 reason code; "unspecified" when unknown. */
const char *ca_reason_name(int code);

/* Normalise a hex serial ("0A:1b...", any case, colons allowed) into
 * upper-case hex without colons as `openssl x509 -serial` prints it.
 * CUST_E_INVAL when it is not hex. out has CA_SERIAL_HEXLEN bytes at
 * least; longer serials are CUST_E_INVAL. */
int ca_serial_norm(const char *in, char *out, size_t outlen)
	__attribute__((warn_unused_result));

/* Revoke a certificate by serial with reason (NULL: "unspecified") and
 * regenerate the CRL that lists it. CUST_E_NOTFOUND for an unknown serial,
 * CUST_E_CONFLICT when already revoked or of a retired generation,
 * CUST_E_INVAL for a root or a bad reason; refusals are audited. Revoking
 * the active issuing CA (or the cross-certificate its chains carry during
 * a rollover) is accepted and stops all issuance until a new generation
 * is activated (ca_rotate(), ca_activate()). Response: cert info. */
int ca_revoke(struct cust_state *st, const char *actor, const char *serial,
    const char *reason, json_t **resp_out)
	__attribute__((warn_unused_result));

/* Listing filter. */
struct ca_list_filter {
	int64_t expiring_days;	/* >= 0: valid, unexpired, not_after within */
	const char *device;	/* FQDN, or NULL */
	const char *kind;	/* NULL: end-entity kinds; "all": every kind */
	int64_t after_id;	/* paging cursor: the "next" of the last page */
	int64_t limit;		/* 0: 1000 */
};

/* List certificates (index-driven: --expiring walks the not_after index
 * of valid certificates in (not_after, id) order, --device the device
 * index, else the primary key). device may name a removed device: its
 * certificates are found by holder. Response: {"items": [cert info +
 * "id"], "next": the id of the last item when the page is full (pass it
 * as after_id for the next page, in either order), else null}. */
int ca_cert_list(struct cust_state *st, const struct ca_list_filter *f,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Valid certificates that expire soon, by kind (device, server, console,
 * admin, auditor): {"within_days": within_days, "expiring": {kind: n},
 * "renew_days": the CA's renewal window, "renew_due": {kind: n}}, counting
 * those already past notAfter. Index ranges, never a scan of every
 * certificate: what /metrics shows on each scrape. */
int ca_cert_expiry(struct cust_state *st, int within_days, json_t **resp_out)
	__attribute__((warn_unused_result));

/* One certificate by serial: cert info + "certificate" (PEM). */
int ca_cert_show(struct cust_state *st, const char *serial, json_t **resp_out)
	__attribute__((warn_unused_result));

/* Generations and their states: {"generations": [{"generation", "state",
 * "key_type", "digest", "root": info, "issuing": info, "valid_certs",
 * "created", "activated", "retired"}], "bundle_version"}. */
int ca_show(struct cust_state *st, json_t **resp_out)
	__attribute__((warn_unused_result));

/* The trust bundle: every root of a published generation (next, active,
 * previous) as PEM, oldest first. {"pem", "version" (hex SHA-256 of pem),
 * "generations": [n...]}. */
int ca_bundle(struct cust_state *st, json_t **resp_out)
	__attribute__((warn_unused_result));

/* Rewrite the public files of DIR/ca from the store (after a restore of
 * custody.db: the files on disk may be a newer state's) and check the
 * service certificates DIR/tls/server.crt and DIR/admin/admin.crt, whose
 * keys the store does not hold: {"bundle_version", "stale": [path...]},
 * stale listing those that are missing or not a valid certificate the
 * store issued. */
int ca_republish(struct cust_state *st, json_t **resp_out)
	__attribute__((warn_unused_result));

/* The CRL of generation gen (0: the active one), of its issuing CA or with
 * root set of its root (listing revoked CA certificates), as stored: a
 * read never makes a CRL (ca_crl_refresh() does; CUST_E_NOTFOUND when a
 * generation has none yet). A retired generation has its final CRL, valid
 * until its CA certificate expires. actor is unused. {"generation", "issuer", "number", "this_update",
 * "next_update", "serials": [...], "der" (base64), "pem"}. */
int ca_crl(struct cust_state *st, const char *actor, int64_t gen, int root,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Every CRL, root's first, of every generation, as stored (retired ones'
 * final CRLs): {"crls": [ca_crl() response + "root" (boolean)]}. */
int ca_crl_all(struct cust_state *st, const char *actor, json_t **resp_out)
	__attribute__((warn_unused_result));

/* Regenerate every CRL of a published generation that is due (missing or
 * within a day of nextUpdate), each in its own audited transaction that
 * checks again, under the write lock, that it is still due: processes
 * refreshing at once make each CRL once. *count_out = CRLs made. One
 * indexed read when nothing is due. Called by `ca crl --refresh` and by the ops layer before every CA operation that
 * writes; never by a read. */
int ca_crl_refresh(struct cust_state *st, const char *actor,
    size_t *count_out) __attribute__((warn_unused_result));
/* The same with a margin of its own (seconds before nextUpdate, 1 or
 * more; the scheduler's crl.refresh_before); ca_crl_refresh() is a day. */
int ca_crl_refresh_within(struct cust_state *st, const char *actor,
    int64_t margin, size_t *count_out) __attribute__((warn_unused_result));

/* Root rollover. ca_rotate(): new generation in state "next" (opts as for
 * ca_init, NULL: the stored configuration), cross-certified with the active
 * root; CUST_E_CONFLICT while a next or previous generation exists.
 * ca_activate(): next -> active, active -> previous; the service and admin
 * certificates are re-issued under the new generation. ca_retire(): previous
 * -> retired; CUST_E_CONFLICT while any unexpired, unrevoked end-entity
 * certificate of it exists, unless force, which revokes those (superseded).
 * In the same transaction it revokes both cross-certificates (superseded;
 * the one the active root signed goes on its published root CRL), makes
 * the retired generation's final CRLs and destroys its keys (signer
 * destroy). Responses: {"generation", "state", "bundle_version", ...}. The
 * files a step writes (service keys, public files) are written before its
 * transaction commits and renamed into place after. */
int ca_rotate(struct cust_state *st, const char *actor, json_t *opts,
    json_t **resp_out) __attribute__((warn_unused_result));
int ca_activate(struct cust_state *st, const char *actor, json_t **resp_out)
	__attribute__((warn_unused_result));
int ca_retire(struct cust_state *st, const char *actor, int force,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Renew the service TLS certificate DIR/tls/server.{crt,key} when the
 * newest valid one expires within before seconds (none valid: due; < 0:
 * now, CUST_E_NOTFOUND without a CA): a new key and certificate under the
 * active generation, staged and renamed into place as ca_activate()
 * re-issues them, the old ones revoked (superseded) in the same audited
 * transaction, which checks again that it is due (processes renewing at
 * once renew once). Not due, or no CA: {"renewed": false}; else
 * {"renewed": true, "superseded", "generation", ...}. */
int ca_server_renew(struct cust_state *st, const char *actor, int64_t before,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Console client certificates: EKU clientAuth + Intel AMT remote console
 * (2.16.840.1.113741.1.2.1), CN = name. Console names are case-insensitive:
 * kept, issued and audited in lower case. key_type NULL = "rsa2048" (what
 * AMT mutual TLS accepts everywhere). CUST_E_EXISTS when an active console
 * has the name. flags: 0 or CA_DELIVER. Response: cert info +
 * "certificate", "key" (PEM, not kept), "chain" (issuing CA [+ cross] +
 * root, PEM). */
int ca_console_add(struct cust_state *st, const char *actor, const char *name,
    const char *key_type, unsigned flags, json_t **resp_out)
	__attribute__((warn_unused_result));

/* ca_console_add() (flags: 0 or CA_DELIVER) whose certificate subject is
 * the DN text dn ("CN=a,
 * O=b", most specific first, as a policy's certificate identity gives
 * it; NULL: CN=name). CUST_E_INVAL for a DN that cannot be a subject. */
int ca_console_issue(struct cust_state *st, const char *actor,
    const char *name, const char *dn, const char *key_type, unsigned flags,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Renew console name (active): a new certificate with subject dn (NULL:
 * CN=name) and a new key (key_type, NULL: rsa2048; "key" in the
 * response, not kept) or the public key of csr (PEM or DER, checked;
 * no "key"). Its other valid certificates are revoked as superseded
 * once the new one is proven fetched (CA_SUPERSEDE_GRACE above): until
 * then the one in use keeps working, so a lost reply locks no client
 * out; one that was itself a renewal never used is revoked at once.
 * Response: cert info + "certificate", "chain" [+ "key"], "superseded":
 * [serials revoked at once], "supersedes": [{"serial", "due"}]. */
int ca_console_renew(struct cust_state *st, const char *actor,
    const char *name, const char *dn, const char *key_type, const void *csr,
    size_t csrlen, unsigned flags, json_t **resp_out) __attribute__((warn_unused_result));

/*
 * Security staff (ca_staff.c): client certificates of cert kind 'admin'
 * (CN = name, EKU clientAuth) held by a name with a role, admin or
 * auditor. init's bootstrap admin (holder "admin") is staff with role
 * admin; that name is reserved. Names are case-insensitive (lower case).
 */
/* CUST_OK for "admin" or "auditor", else CUST_E_INVAL. */
int ca_staff_valid_role(const char *role) __attribute__((warn_unused_result));
/* Issue a staff member's certificate (key as ca_console_add()); response
 * as ca_console_add() + "role". CUST_E_EXISTS while one is active. */
int ca_staff_add(struct cust_state *st, const char *actor, const char *name,
    const char *role, const char *key_type, unsigned flags,
    json_t **resp_out)
	__attribute__((warn_unused_result));
/* As ca_console_revoke(), for staff (the bootstrap admin is refused:
 * revoke its certificate with ca_revoke()). */
int ca_staff_revoke(struct cust_state *st, const char *actor,
    const char *name, const char *reason, json_t **resp_out)
	__attribute__((warn_unused_result));
/* As ca_console_renew(), for staff (subject CN=name). flags of the
 * renewals: 0 or CA_DELIVER (with a key made by custody). */
int ca_staff_renew(struct cust_state *st, const char *actor,
    const char *name, const char *key_type, const void *csr, size_t csrlen,
    unsigned flags, json_t **resp_out) __attribute__((warn_unused_result));
/* The role ("admin" or "auditor", static) of active staff member name
 * (lower case), from its row (MAC checked); CUST_E_NOTFOUND when none. */
int ca_staff_role(struct cust_state *st, const char *name,
    const char **role_out) __attribute__((warn_unused_result));
/* One page of staff: the bootstrap admin first (id 0), then by (name,
 * id) after after_id (0: from the first; -1: after the bootstrap admin),
 * at most limit: {"items": [{"id", "name", "role", "state", "created",
 * "bootstrap", "serial", "not_after", "renew_due"}], "next"}. */
int ca_staff_list(struct cust_state *st, int64_t after_id, int64_t limit,
    json_t **resp_out) __attribute__((warn_unused_result));

/* *n_out = the valid, unexpired client certificates of holder (lower
 * case) of cert kind ("console" or "admin"), their rows MAC-checked. */
int ca_client_valid(struct cust_state *st, const char *kind,
    const char *holder, int64_t *n_out) __attribute__((warn_unused_result));

/* 1 when name equals the DN text dn (as X509_NAME_cmp() compares them:
 * case and spaces as OpenSSL canonicalises), else 0 (also for a dn that
 * does not parse). */
int ca_dn_matches(const X509_NAME *name, const char *dn);

/* *out 1 when console name's latest record (its certificate holder,
 * names compared without case) is revoked; a console without a record
 * (Kerberos only) is not. Row MAC checked. */
int ca_console_revoked(struct cust_state *st, const char *name, int *out)
	__attribute__((warn_unused_result));

/* Revoke every valid certificate of console name (reason NULL:
 * "cessationOfOperation") and mark it revoked. Response: {"name",
 * "revoked": [serials]}. */
int ca_console_revoke(struct cust_state *st, const char *actor,
    const char *name, const char *reason, json_t **resp_out)
	__attribute__((warn_unused_result));

/* One page of consoles in (name, id) order: those after the console
 * after_id (0: from the first), at most limit (1 or more). {"items":
 * [{"id", "name", "state", "serial", "not_after", "renew_due",
 * "created"}], "next":
 * the last id of a full page (pass it as after_id), else null}. */
int ca_console_list(struct cust_state *st, int64_t after_id, int64_t limit,
    json_t **resp_out) __attribute__((warn_unused_result));

/* Parse and check a CSR without any state: PEM or DER, size bound,
 * signature, one request (a PEM file with two blocks is refused), key
 * policy (RSA: 2048..8192 bits, an odd public exponent
 * from 65537 to 2^256, an odd modulus without prime factors below 752
 * that is not a perfect square;
 * EC: P-256 or P-384 named by OID, a point on the curve), and
 * (when fqdn is not NULL) that every name it asks for is fqdn. *info_out (may be NULL) gets {"key_type", "bits",
 * "subject", "names": [...]}. Errors: CUST_E_TOOBIG, CUST_E_PARSE (not a
 * CSR), CUST_E_INVAL (signature, key, name) with a message. */
int ca_csr_check(const void *buf, size_t len, const char *fqdn,
    json_t **info_out) __attribute__((warn_unused_result));

/*
 * The signer: the one place where CA private keys are used. A session
 * holds the key of (generation, role) unsealed from open() until close();
 * keygen() makes a new CA key and keeps it (sealed, or inside a token) and
 * returns only the public key; made, when not NULL, is a key of key_type
 * its caller made before the write transaction (the CPU work of a key),
 * taken over by keygen() whatever it returns (a token signer frees it and
 * makes its own). Replace it with ca_set_signer() (a PKCS#11
 * token, a separate key process) without touching the rest of the CA.
 * role is "root" or "issuing". Functions return CUST_E_*.
 */
struct ca_signer_ops {
	const char *name;
	int (*keygen)(struct cust_state *st, int64_t gen, const char *role,
	    const char *key_type, EVP_PKEY *made, EVP_PKEY **pub_out);
	int (*open)(struct cust_state *st, int64_t gen, const char *role,
	    void **sess_out);
	/* Sign a complete TBS (everything but the signature) in place. */
	int (*sign_cert)(void *sess, X509 *x, const EVP_MD *md);
	int (*sign_crl)(void *sess, X509_CRL *crl, const EVP_MD *md);
	void (*close)(void *sess);	/* wipes; NULL is a no-op */
	/* Destroy both keys of a retired generation, inside the open
	 * transaction; NULL: the signer keeps them. */
	int (*destroy)(struct cust_state *st, int64_t gen);
};

/* The software signer: keys sealed with the seal module in table ca_key. */
extern const struct ca_signer_ops ca_signer_sealed;

/* Select the signer for this process (NULL restores ca_signer_sealed). */
void ca_set_signer(const struct ca_signer_ops *ops);

/* One device CSR of a bulk request (all borrowed). */
struct ca_bulk_item {
	const char *fqdn;
	const void *csr;
	size_t len;
};

/* Transactions of ca_sign_bulk() hold this many certificates at most. */
#define CA_BULK_CHUNK	256

/*
 * Sign many device CSRs (fleet enrolment, imports): each item is checked
 * and refused (audited) exactly as by ca_sign_csr(); the certificates of a
 * chunk get their serials reserved (one short committed transaction), are
 * built, then signed by `threads` signer sessions in parallel (0: one per
 * online CPU) with no transaction open, then recorded with their audit
 * entries and committed, CA_BULK_CHUNK per transaction: only that last
 * step holds the write lock. The key is unsealed per
 * session and chunk and wiped after. *results_out is a new array with one
 * element per item: the ca_sign_csr() response, or {"fqdn", "error" (code
 * text), "message"}; *issued_out = certificates issued. Returns an error
 * (after rolling back the current chunk; earlier chunks stay committed)
 * only when the store or the signer fails.
 */
int ca_sign_bulk(struct cust_state *st, const char *actor,
    const struct ca_bulk_item *items, size_t n, int threads,
    json_t **results_out, size_t *issued_out)
	__attribute__((warn_unused_result));

/*
 * A device leaves the fleet (called by the device-removal operation):
 * revoke every valid, unexpired certificate of device_id (reason
 * cessationOfOperation), each audited, and make the CRLs that list them
 * again. Joins the caller's open store transaction when there is one
 * (store_in_txn()), else runs in its own. fqdn (borrowed) names the device
 * in messages. *revoked_out = certificates revoked; CUST_OK with 0 when
 * there is nothing to revoke (also on a state without a CA).
 */
int ca_device_retire(struct cust_state *st, const char *actor,
    int64_t device_id, const char *fqdn, size_t *revoked_out)
	__attribute__((warn_unused_result));

/* Decode base64 (standard alphabet, whitespace ignored) into a new buffer
 * (free(); wipe first when secret) of at most max bytes. CUST_E_TOOBIG
 * when the input holds more, CUST_E_PARSE when it is not base64. */
int ca_b64_decode(const char *in, size_t max, unsigned char **out,
    size_t *len_out) __attribute__((warn_unused_result));

#endif
