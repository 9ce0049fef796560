/* SPDX-License-Identifier: MIT */
/* include/amt.h - WS-Management to Intel AMT devices: request envelopes,
 * reply validation, DigestPassword, and the libcurl transport.
 *
 * Three layers, each usable alone:
 *
 *  1. Messages (src/amt/wsman.c). One builder per AMT operation custody
 *     uses, to the shapes of reference/amt.md section 4, each returning a
 *     new struct amt_req (free with amt_req_free()). The XML is written
 *     by libxml2's writer, which escapes every value; secret parameters
 *     (DigestPassword, the MEBx password) are not in that text at all:
 *     the request records where they go, and amt_req_body() renders the
 *     envelope into a sodium_malloc'd secret with them escaped in, while
 *     amt_req_redacted() renders it for people (dry runs) with each
 *     plaintext secret as "***".
 *
 *  2. Replies (src/amt/reply.c). amt_reply_parse() takes the bytes a
 *     device answered and the request they answer, refuses anything over
 *     AMT_REPLY_MAX, any DTD or entity declaration, a RelatesTo that is
 *     not the request's MessageID, an Action that is not the request's
 *     plus "Response", and (for method invocations) a missing or
 *     non-numeric ReturnValue; a repeated Header, Body, RelatesTo,
 *     Action or ReturnValue too; a SOAP Fault becomes an error naming its
 *     subcode and reason. Outputs are read by element name.
 *
 *  3. Transport (src/amt/transport.c). amt_call() sends one request to a
 *     device (HTTP digest on 16992, or TLS on 16993 verified against a CA
 *     bundle) and parses the reply, retrying transient failures only;
 *     struct amt_fleet drives many devices at once with libcurl's multi
 *     interface, one request at a time per device.
 *
 * Errors: CUST_E_UNAVAIL (unreachable, timeout, HTTP 5xx), CUST_E_DENIED
 * (HTTP 401: the credentials were refused), CUST_E_PARSE (malformed or
 * hostile reply), CUST_E_TOOBIG (reply over the cap), CUST_E_CONFLICT
 * (SOAP fault, or a ReturnValue other than 0 where amt_reply_check()
 * is used), each with a message from cust_errmsg() that never holds a
 * secret.
 */
#ifndef CUST_AMT_H
#define CUST_AMT_H

#include <stddef.h>
#include <stdint.h>

struct seal_secret;
struct amt_req;
struct amt_reply;

/* Resource URI prefixes (reference/amt.md section 4). */
#define AMT_NS_AMT	"http://intel.com/wbem/wscim/1/amt-schema/1/"
#define AMT_NS_CIM	"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
#define AMT_NS_IPS	"http://intel.com/wbem/wscim/1/ips-schema/1/"

/* Ports (reference section 6). */
#define AMT_PORT_HTTP	16992
#define AMT_PORT_TLS	16993

/* The largest reply parsed: a Pull of many certificates (each at most
 * 4100 bytes DER) fits; anything larger is refused before parsing. */
#define AMT_REPLY_MAX	(1u << 20)

/* The DigestPassword: 24 base64 characters ending "==". */
#define AMT_DIGESTPW_LEN 24

/* AMT's digest user name limit (reference section 2). */
#define AMT_USER_MAX	16

/*
 * DigestPassword = base64(raw MD5(user ":" realm ":" password)), the
 * value SetAdminAclEntryEx, AddUserAclEntryEx and UpdateUserAclEntryEx
 * take (reference section 3). It logs in to that one device as the
 * password does, so it is a secret: *out is a new one (seal_secret_free)
 * of AMT_DIGESTPW_LEN characters.
 */
int amt_digest_password(const char *user, const char *realm,
    const struct seal_secret *pw, struct seal_secret **out)
	__attribute__((warn_unused_result));

/*
 * Messages. msgid is the a:MessageID (toolkits count up from 1 per
 * connection; the caller keeps the counter). Strings are borrowed for the
 * call; secrets are copied into the request. Every builder returns
 * CUST_OK and a new request in *out, or an error (bad argument: a user
 * name over AMT_USER_MAX, no realms...).
 */

/* Transfer Get of a class, no selector (e.g. "AMT_GeneralSettings": the
 * DigestRealm, HostName and DomainName). cls starts with AMT_, CIM_ or
 * IPS_ and picks its namespace. */
int amt_msg_get(unsigned long msgid, const char *cls, struct amt_req **out)
	__attribute__((warn_unused_result));

/* Enumerate a class (CIM_SoftwareIdentity, AMT_PublicPrivateKeyPair,
 * AMT_PublicKeyCertificate...); the reply's EnumerationContext feeds
 * amt_msg_pull(). */
int amt_msg_enumerate(unsigned long msgid, const char *cls,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_pull(unsigned long msgid, const char *cls, const char *context,
    struct amt_req **out) __attribute__((warn_unused_result));

/* AMT_AuthorizationService. dpw is a DigestPassword (amt_digest_password);
 * realms[0..nrealms) are realm numbers (reference section 1); access is
 * 0 local, 1 network, 2 any. */
int amt_msg_set_admin(unsigned long msgid, const char *user,
    const struct seal_secret *dpw, struct amt_req **out)
	__attribute__((warn_unused_result));
int amt_msg_get_admin(unsigned long msgid, struct amt_req **out)
	__attribute__((warn_unused_result));
int amt_msg_enum_users(unsigned long msgid, unsigned start,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_get_user(unsigned long msgid, uint32_t handle,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_add_user(unsigned long msgid, const char *user,
    const struct seal_secret *dpw, unsigned access, const unsigned *realms,
    size_t nrealms, struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_update_user(unsigned long msgid, uint32_t handle,
    const char *user, const struct seal_secret *dpw, unsigned access,
    const unsigned *realms, size_t nrealms, struct amt_req **out)
	__attribute__((warn_unused_result));
int amt_msg_remove_user(unsigned long msgid, uint32_t handle,
    struct amt_req **out) __attribute__((warn_unused_result));

/* Kerberos ACL entries (reference sections 4, 5): sid is a
 * KerberosUserSid, base64 of a binary SID (amt_sid_b64()); AMT refuses
 * them while Kerberos is not enabled (amt_msg_kerberos_put()). */
int amt_msg_add_kerberos_user(unsigned long msgid, const char *sid,
    unsigned access, const unsigned *realms, size_t nrealms,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_update_kerberos_user(unsigned long msgid, uint32_t handle,
    const char *sid, unsigned access, const unsigned *realms,
    size_t nrealms, struct amt_req **out)
	__attribute__((warn_unused_result));

/* AMT_TimeSynchronizationService (reference section 7). */
int amt_msg_get_time(unsigned long msgid, struct amt_req **out)
	__attribute__((warn_unused_result));
int amt_msg_set_time(unsigned long msgid, uint32_t ta0, uint32_t tm1,
    uint32_t tm2, struct amt_req **out) __attribute__((warn_unused_result));

/*
 * Kerberos (reference section 5). AMT_KerberosSettingData has one
 * instance, InstanceID AMT_KRB_INSTANCE; a Get is amt_msg_get(id,
 * "AMT_KerberosSettingData") (the keys are never returned).
 *
 * The key is either the RC4 MasterKey (the NT hash, amt_nt_hash()) or,
 * from AMT 8.0, the AD object's Passphrase with its Salt and
 * IterationCount, from which AMT derives the AES keys (RFC 3962) and
 * RC4 itself; AMT takes one or the other, never both. Both are secrets
 * that unlock the device's service tickets and travel in plain text in
 * the body: the request is sent over TLS only (amt_req_plain_secret()).
 */
#define AMT_KRB_INSTANCE	"Intel (r) AMT: Kerberos Settings"
#define AMT_KRB_ITERATIONS	4096	/* AD's PBKDF2 count (MS-KILE) */
#define AMT_KRB_CLOCK_TOLERANCE	5	/* minutes: AMT's default and max */
/* ConfiguredEncryptionAlgorithms bits (bit n: algorithm n). */
#define AMT_KRB_RC4	(1u << 0)
#define AMT_KRB_AES128	(1u << 1)
#define AMT_KRB_AES256	(1u << 2)
struct amt_krb_settings {
	const char *realm;		/* RealmName, the AD domain */
	uint32_t key_version;		/* KeyVersion: the object's kvno */
	int enabled;			/* KrbEnabled */
	const struct seal_secret *master_key;	/* amt_nt_hash(), or NULL */
	const struct seal_secret *passphrase;	/* or the password, with: */
	const char *salt;
	uint32_t iterations;
	unsigned algs;			/* ConfiguredEncryptionAlgorithms */
};
int amt_msg_kerberos_put(unsigned long msgid,
    const struct amt_krb_settings *ks, struct amt_req **out)
	__attribute__((warn_unused_result));

/* The RC4-HMAC key AMT's MasterKey takes: base64(MD4(UTF-16LE(pw))), the
 * NT hash, AMT_NTHASH_LEN characters (*out a new secret). pw is printable
 * ASCII (custody's passwords are). MD4 comes from OpenSSL's legacy
 * provider, loaded in a library context of its own (CUST_E_CRYPTO when
 * it is not installed). */
#define AMT_NTHASH_LEN	24
int amt_nt_hash(const struct seal_secret *pw, struct seal_secret **out)
	__attribute__((warn_unused_result));

/* The AES salt of an AD user object (MS-KILE 3.1.1.2): REALM in upper
 * case followed by the sAMAccountName, into out. */
int amt_krb_user_salt(const char *realm, const char *sam, char *out,
    size_t len) __attribute__((warn_unused_result));

/* SIDs. amt_sid_parse(): "S-1-A-S1-...-Sn" (1 <= n <= 5: AMT takes at
 * most 28 bytes) into bin (8 + 4n bytes: revision 1, n, the authority
 * 6 bytes big-endian, each sub-authority 4 bytes little-endian), *len.
 * amt_sid_b64(): the same as base64 into out (AMT_SID_B64_MAX is
 * enough). amt_sid_check_b64(): CUST_OK when b64 is such a SID. */
#define AMT_SID_MAX_SUBAUTH	5
#define AMT_SID_B64_MAX		48
int amt_sid_parse(const char *text, unsigned char *bin, size_t *len)
	__attribute__((warn_unused_result));
int amt_sid_b64(const char *text, char *out, size_t outlen)
	__attribute__((warn_unused_result));
int amt_sid_check_b64(const char *b64) __attribute__((warn_unused_result));

/* AMT_SetupAndConfigurationService. The MEBx password travels in plain
 * text: send it over TLS only. */
int amt_msg_set_mebx(unsigned long msgid, const struct seal_secret *pw,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_commit(unsigned long msgid, struct amt_req **out)
	__attribute__((warn_unused_result));

/* AMT_PublicKeyManagementService (reference section 6). keypair and the
 * certificate InstanceIDs come from earlier replies; csr and blob are
 * base64 DER. */
int amt_msg_gen_keypair(unsigned long msgid, unsigned bits,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_pkcs10(unsigned long msgid, const char *keypair,
    const char *csr, struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_add_cert(unsigned long msgid, const char *blob,
    struct amt_req **out) __attribute__((warn_unused_result));
int amt_msg_add_root(unsigned long msgid, const char *blob,
    struct amt_req **out) __attribute__((warn_unused_result));

/* TLS binding: Create AMT_TLSCredentialContext for certificate cert (an
 * AMT_PublicKeyCertificate InstanceID), and Put the remote ("802.3") or
 * local ("LMS") AMT_TLSSettingData; trusted_cn[0..ncn) is TrustedCN. */
int amt_msg_tls_context(unsigned long msgid, const char *cert,
    struct amt_req **out) __attribute__((warn_unused_result));
/* The same as a Put: rebinds an existing context to cert. */
int amt_msg_tls_context_put(unsigned long msgid, const char *cert,
    struct amt_req **out) __attribute__((warn_unused_result));
struct amt_tls_settings {
	int local;		/* the LMS instance, else 802.3 (remote) */
	int enabled;
	int mutual;
	int accept_nonsecure;
	const char *const *trusted_cn;
	size_t ncn;
};
int amt_msg_tls_put(unsigned long msgid, const struct amt_tls_settings *ts,
    struct amt_req **out) __attribute__((warn_unused_result));

/*
 * The admin password push (reference 10 and the rotation protocol of
 * DESIGN.md): in order, a Get of AMT_GeneralSettings to read the
 * DigestRealm (checked against the registered one) authenticated with
 * the current password; SetAdminAclEntryEx(user, dpw) authenticated with
 * the current password; a Get authenticated with the new password on
 * a fresh connection, which proves it; and the same Get authenticated
 * with the replaced password on the proof's digest session, which must be
 * refused (a peer that takes any login proves nothing). MessageIDs
 * first ... first+3. out[] gets new requests (amt_req_free() each); on
 * error none.
 */
enum { AMT_PUSH_REALM, AMT_PUSH_SET, AMT_PUSH_VERIFY, AMT_PUSH_DENY,
	AMT_PUSH_STEPS };
int amt_push_admin_plan(const char *user, const struct seal_secret *dpw,
    unsigned long first, struct amt_req *out[AMT_PUSH_STEPS])
	__attribute__((warn_unused_result));

/* Free a request, wiping its secrets; NULL is a no-op. */
void amt_req_free(struct amt_req *q);

/* The request's MessageID, Action and ResourceURI (borrowed, valid until
 * amt_req_free()). */
unsigned long amt_req_msgid(const struct amt_req *q);
const char *amt_req_action(const struct amt_req *q);
const char *amt_req_resource(const struct amt_req *q);

/* Whether the request carries a secret that travels in plain text (the
 * MEBx password): the transport refuses to send it without TLS. */
int amt_req_plain_secret(const struct amt_req *q);

/* Whether sending the request twice does no harm (Get, Enumerate, Pull,
 * and the read-only methods): the transport retries a timed-out exchange
 * only for these; a change is retried only when it never reached the
 * device (connection refused or never established, HTTP 503). */
int amt_req_idempotent(const struct amt_req *q);

/* The envelope as sent, secrets included: *out a new secret
 * (seal_secret_free). */
int amt_req_body(const struct amt_req *q, struct seal_secret **out)
	__attribute__((warn_unused_result));

/* The envelope as sent, secrets included, into buf (a secret of the
 * caller's, reused from request to request: no sodium region each),
 * NUL-terminated: its length, or 0 when it does not fit (then
 * amt_req_body()). The caller wipes it once sent. */
size_t amt_req_body_into(const struct amt_req *q, struct seal_secret *buf);

/* The envelope for people: DigestPasswords as they are sent (they are
 * hashes, and what operators compare), plaintext secrets as "***"; with
 * hide_digest every secret is "***". *out new string (free()). */
int amt_req_redacted(const struct amt_req *q, int hide_digest, char **out)
	__attribute__((warn_unused_result));

/*
 * Replies. amt_reply_parse() validates buf[0..len) as the answer to q
 * (see the top of this file) into *out (amt_reply_free()). A SOAP Fault
 * is CUST_E_CONFLICT with "SOAP fault: SUBCODE: REASON". Output values
 * are the text of the body's elements by local name, in document order;
 * an EPR output (KeyPair, CreatedCertificate) gives its selector's value
 * under the selector's Name ("InstanceID"). A Pull reply's items are
 * numbered from 0 (amt_reply_items()).
 */
int amt_reply_parse(const char *buf, size_t len, const struct amt_req *q,
    struct amt_reply **out) __attribute__((warn_unused_result));
void amt_reply_free(struct amt_reply *r);

/* ReturnValue of an invocation (amt_reply_parse() checked it exists and
 * is a number), or 0 for a transfer or enumeration reply. */
uint32_t amt_reply_rv(const struct amt_reply *r);

/* CUST_OK when the ReturnValue is 0, else CUST_E_CONFLICT with
 * "METHOD: PT_STATUS_NAME (N)". */
int amt_reply_check(const struct amt_reply *r)
	__attribute__((warn_unused_result));

/* The first value of output name (outside Pull items), or NULL; borrowed
 * until amt_reply_free(). */
const char *amt_reply_value(const struct amt_reply *r, const char *name);

/* Every value of output name (arrays: Handles, Realms): calls fn for each
 * in order; fn returns non-zero to stop (a negative value is returned). */
int amt_reply_values(const struct amt_reply *r, const char *name,
    int (*fn)(void *arg, const char *value), void *arg);

/* Pull replies: how many items, and the first value of name in item i. */
size_t amt_reply_items(const struct amt_reply *r);
const char *amt_reply_item_value(const struct amt_reply *r, size_t i,
    const char *name);

/* How many new connections the exchange that brought r opened (0: it
 * went on the connection already open to the device), as libcurl counts
 * them (CURLINFO_NUM_CONNECTS); set by the transport. */
long amt_reply_connects(const struct amt_reply *r);

/* Whether a Pull reply ended the enumeration (EndOfSequence). */
int amt_reply_end(const struct amt_reply *r);

/* The realm of the digest challenge this exchange logged in with, or
 * NULL (it reused an earlier login's nonce). Unlike the DigestRealm in a
 * reply's body, which nothing protects on plain HTTP, it is proven by
 * the login: a response computed for another realm is refused. Borrowed
 * until amt_reply_free(). */
const char *amt_reply_auth_realm(const struct amt_reply *r);

/* The DigestRealm of a Get of AMT_GeneralSettings into realm: "Digest:"
 * and 32 hex digits (else CUST_E_PARSE), and, when the exchange logged
 * in, the realm of that login (else CUST_E_VIOLATION: a man in the
 * middle on plain HTTP rewrote the body; DigestPasswords made with that
 * realm would log in nowhere, and recording it would make custody refuse
 * the real device). */
#define AMT_REALM_MAX	64
int amt_reply_realm(const struct amt_reply *r, char realm[AMT_REALM_MAX])
	__attribute__((warn_unused_result));
/* Why a device's realm dev is not the registered reg (they differ): the
 * end of a realm-mismatch message. A device is its registered realm only
 * as spelled: its DigestPasswords and the HA1s consoles fetch are made
 * with the registered spelling, so one that differs in case alone is
 * still refused, told so. */
const char *amt_realm_differs(const char *dev, const char *reg);

/* The PT_STATUS name of an AMT return code ("PT_STATUS_INVALID_PASSWORD"),
 * or "PT_STATUS_UNKNOWN"; static. */
const char *amt_pt_status(uint32_t rv);

/* A number from a reply value: decimal digits only, up to UINT32_MAX. */
int amt_parse_u32(const char *s, uint32_t *out)
	__attribute__((warn_unused_result));

/*
 * Transport.
 */
struct amt_target {
	const char *fqdn;	/* Host header, TLS name; the registry's key */
	const char *address;	/* NULL, or HOST[:PORT] (util_parse_address) */
	int tls;		/* TLS on AMT_PORT_TLS (or PORT + 1) */
	const char *cafile;	/* TLS: PEM bundle the device chain ends in */
	char *revoked;		/* TLS: NULL, or the serials (hex, comma
				 * separated) of certificates custody issued
				 * for this FQDN and revoked: a device
				 * presenting one is refused before any
				 * request is sent (the bundle alone would
				 * trust it); set (malloc) and freed by
				 * the owner of the target */
	const char *realm;	/* the registered DigestRealm, or NULL (first
				 * contact): a 401 naming another realm is
				 * refused before any credentials are sent */
	const char *user;	/* digest user */
	const struct seal_secret *password;	/* borrowed for the call */
	long connect_ms;	/* 0: AMT_CONNECT_MS */
	long timeout_ms;	/* whole exchange; 0: AMT_TIMEOUT_MS */
	int retries;		/* transient failures retried; <0: none, 0: default */
	int fresh;		/* a new digest login (after an ACL change):
				 * no digest state kept, the device must
				 * challenge it; on a new connection unless
				 * keep (changes get one too, unless keep) */
	int keep;		/* a fresh login or a change that may go on
				 * the device's open connection; a change
				 * only if a silent resend
				 * (libcurl's, when a reused connection dies)
				 * cannot apply twice, such as
				 * SetAdminAclEntryEx authenticated with the
				 * password it replaces */
};
#define AMT_CONNECT_MS	5000
#define AMT_TIMEOUT_MS	30000
#define AMT_RETRIES	2
#define AMT_BACKOFF_MS	250	/* doubled on each retry */

/* Where a request to t goes: the URL (always the FQDN: the Host header,
 * SNI and certificate name) into url, and the libcurl CONNECT_TO entry
 * "FQDN:PORT:HOST:PORT" into connect_to ("" when t has no address). */
#define AMT_URL_MAX		(253 + 32)
#define AMT_CONNECT_TO_MAX	(253 + 300)
int amt_target_where(const struct amt_target *t, char *url, size_t ulen,
    char *connect_to, size_t clen) __attribute__((warn_unused_result));

/* Send q to t and parse the answer into *out. Retries (with backoff)
 * transient failures only (see amt_req_idempotent()); a 401, a SOAP
 * fault or a malformed reply is final. A request carrying a plaintext secret is
 * refused (CUST_E_INVAL) unless t->tls.
 *
 * The device's digest challenge is checked before libcurl answers it:
 * a realm other than t->realm is CUST_E_VIOLATION ("not this device"),
 * and a challenge that is not AMT's (no qop=auth, an algorithm other
 * than MD5) is CUST_E_CRYPTO; neither gets a response computed from the
 * password. A device that answers 2xx to a request libcurl could only
 * have sent without credentials (the first of a call, or of a t->fresh
 * exchange) never asked for a login: CUST_E_CRYPTO too, as nothing it
 * says proves anything. */
int amt_call(const struct amt_target *t, const struct amt_req *q,
    struct amt_reply **out) __attribute__((warn_unused_result));

/*
 * Fleet work: many devices at once over one libcurl multi handle, at most
 * `concurrency` exchanges in flight and one request at a time per device
 * (a device is one conversation: its next request is asked for only after
 * its previous answer was handed over).
 */
#define AMT_CONCURRENCY	64

struct amt_conv {
	/* The device to talk to (borrowed while the conversation lives). */
	const struct amt_target *target;
	/* The next request (new; the driver frees it), or NULL when the
	 * conversation is over. prev/err: the previous request's reply
	 * (borrowed for the call; NULL on error or at the start) and its
	 * outcome (CUST_OK at the start). A negative return ends it too;
	 * AMT_CONV_HOLD with a request: it is sent only once the hooks
	 * (struct amt_fleet_hooks) let it go (the caller commits first
	 * what must be durable before the request goes). */
	int (*next)(void *arg, const struct amt_reply *prev, int err,
	    struct amt_req **req_out);
	void *arg;
};
#define AMT_CONV_HOLD	1

/* Group commit. flush(arg) runs after each round of answers handed to
 * the conversations (all that one pass of the multi handle finished)
 * while a request is held, and then held(arg, conv_arg) says for each
 * held request whether it goes now (AMT_HELD_SEND), waits
 * (AMT_HELD_WAIT: what it needs is not durable yet; asked again after
 * the next flush) or is dropped unsent (AMT_HELD_DROP: the
 * conversation's next() hears CUST_E_CONFLICT); held NULL: all go. A
 * flush may commit in the call, or hand the work to another thread and
 * return: then wake_fd (else -1) is a descriptor that thread makes
 * readable when it is done, which the driver waits on with the transfers
 * (the hook empties it), so that the other conversations run while a
 * commit is under way. flush's error ends amt_fleet_run_with() with that
 * error, nothing more being sent. conv_arg is the conversation's arg. */
struct amt_fleet_hooks {
	int (*flush)(void *arg);
	int (*held)(void *arg, void *conv_arg);
	int wake_fd;
	void *arg;
};
#define AMT_HELD_SEND	0
#define AMT_HELD_DROP	1
#define AMT_HELD_WAIT	2

/* Run convs[0..n) to their end with at most concurrency (0:
 * AMT_CONCURRENCY) in flight. Per-conversation errors go to their next();
 * the return value is an error of the driver itself (out of memory,
 * libcurl unusable) or of the flush hook (hooks NULL: none). */
int amt_fleet_run(struct amt_conv *convs, size_t n, size_t concurrency)
	__attribute__((warn_unused_result));
int amt_fleet_run_with(struct amt_conv *convs, size_t n, size_t concurrency,
    const struct amt_fleet_hooks *hooks) __attribute__((warn_unused_result));

#endif
