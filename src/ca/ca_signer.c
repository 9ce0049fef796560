/* SPDX-License-Identifier: MIT */
/* src/ca/ca_signer.c - the sealed-key signer: the only code that holds a CA
 * private key in the clear.
 *
 * Keys are generated here, serialised into a secret buffer, sealed with the
 * data key (associated data "custody:v1:ca_key:<gen>:<role>:1", so a sealed
 * key cannot be moved to another generation or role) and stored in table
 * ca_key. A session unseals one key for the duration of one signing
 * operation; close() frees it (OpenSSL clears key components on free) and
 * the serialised form is wiped as soon as it is parsed. Everything outside
 * this file reaches keys only through struct ca_signer_ops, which is the
 * seam for a PKCS#11 token or a separate key process.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "err.h"
#include "seal.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "ca_int.h"

struct sealed_sess {
	EVP_PKEY *key;
	int64_t gen;
	char role[8];
};

static int
key_ad(char *ad, size_t len, int64_t gen, const char *role, size_t *adlen)
{
	if (strcmp(role, "root") != 0 && strcmp(role, "issuing") != 0)
		return cust_fail(CUST_E_INTERNAL, "bad CA key role %s", role);
	*adlen = seal_ad(ad, len, "ca_key", gen, role, 1);
	if (*adlen == 0)
		return cust_fail(CUST_E_INTERNAL, "associated data too long");
	return CUST_OK;
}

static int
sealed_keygen(struct cust_state *st, int64_t gen, const char *role,
    const char *key_type, EVP_PKEY *made, EVP_PKEY **pub_out)
{
	const struct ca_keytype *kt = ca_keytype_find(key_type);
	EVP_PKEY *key = made, *pub = NULL;
	struct seal_secret *der = NULL;
	unsigned char *ct = NULL, *p, *pd = NULL;
	const unsigned char *q;
	size_t ctlen = 0, adlen = 0;
	char ad[128];
	sqlite3_stmt *s;
	int r = CUST_E_INTERNAL, n;

	*pub_out = NULL;
	if (kt == NULL) {
		EVP_PKEY_free(made);
		return ca_keytype_unknown(key_type);
	}
	if ((r = key_ad(ad, sizeof(ad), gen, role, &adlen)) != CUST_OK) {
		EVP_PKEY_free(made);
		return r;
	}
	if (key == NULL && (r = ca_key_generate(kt, &key)) != CUST_OK)
		return r;
	if ((n = i2d_PrivateKey(key, NULL)) <= 0) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot encode CA key");
		goto out;
	}
	if ((der = seal_secret_new((size_t)n)) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	p = seal_secret_data(der);
	if (i2d_PrivateKey(key, &p) != n) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot encode CA key");
		goto out;
	}
	if ((r = seal_encrypt(state_seal(st), seal_secret_data(der), (size_t)n,
	    ad, adlen, &ct, &ctlen)) != CUST_OK)
		goto out;
	/* Only the public half leaves: re-parse it from SubjectPublicKeyInfo. */
	if ((n = i2d_PUBKEY(key, &pd)) <= 0) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot encode CA public key");
		goto out;
	}
	q = pd;
	if ((pub = d2i_PUBKEY(NULL, &q, n)) == NULL) {
		r = ca_ossl_fail(CUST_E_CRYPTO, "cannot decode CA public key");
		goto out;
	}
	if ((s = store_stmt(state_store(st), "INSERT INTO ca_key(gen, role, "
	    "key_type, sealed, created, mac) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "custody_mac('ca_key', ?1, ?2, ?3, ?4, ?5))")) == NULL) {
		r = CUST_E_DB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, kt->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, ct, (int)ctlen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, util_now());
	if ((r = store_step_done(state_store(st), s,
	    "store CA key")) != CUST_OK)
		goto out;
	*pub_out = pub;
	pub = NULL;
	r = CUST_OK;
out:
	OPENSSL_free(pd);
	free(ct);
	seal_secret_free(der);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(key);
	return r;
}

/*
 * Before a CA key signs anything: the certificate published for it (in
 * the generation's MAC-checked row) must carry its public key, so that a
 * certificate and a key from different places never sign together. A
 * generation being made has no row yet: its key was made in this very
 * transaction.
 */
static int
key_matches_cert(struct cust_state *st, int64_t gen, const char *role,
    EVP_PKEY *key)
{
	sqlite3_stmt *s;
	X509 *x = NULL;
	int rc, r = CUST_OK;

	if ((s = store_stmt(state_store(st),
	    "SELECT CASE WHEN ?2 = 'root' THEN "
	    "root_cert ELSE issuing_cert END, " STORE_CHECK(STORE_ROW_CA_GEN)
	    " FROM ca_gen WHERE gen = ?1")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		x = ca_x509_from_der(sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0));
		if (x == NULL || X509_check_private_key(x, key) != 1)
			r = ca_ossl_fail(CUST_E_DB, "the %s certificate of CA "
			    "generation %lld does not match its sealed private "
			    "key (row ca_gen(gen=%lld) or ca_key(gen=%lld, "
			    "role=%s)): the store was altered; custody will "
			    "not sign with it", role, (long long)gen,
			    (long long)gen, (long long)gen, role);
	} else if (rc != SQLITE_DONE) {
		r = store_err(state_store(st), "read CA generation");
	}
	sqlite3_reset(s);
	X509_free(x);
	return r;
}

/*
 * Why the key of (gen, role) is not in the store. Retiring a generation
 * destroys its keys: a process that chose it as its issuer just before
 * another retired it finds the key gone, which is a conflict (ask again),
 * not damage. Anything else is a damaged or altered store. The state is
 * read from the generation's MAC-checked row, so an altered one cannot
 * pass a removed key off as a retirement.
 */
static int
key_missing(struct cust_state *st, int64_t gen, const char *role)
{
	sqlite3_stmt *s;
	int rc, retired = 0;

	if ((s = store_stmt(state_store(st), "SELECT state = 'retired', "
	    STORE_CHECK(STORE_ROW_CA_GEN) " FROM ca_gen WHERE gen = ?")) ==
	    NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		retired = sqlite3_column_int(s, 0);
	else if (rc != SQLITE_DONE) {
		rc = store_err(state_store(st), "read CA generation");
		sqlite3_reset(s);
		return rc;
	}
	sqlite3_reset(s);
	if (retired)
		return cust_fail(CUST_E_CONFLICT, "CA generation %lld was "
		    "retired meanwhile (its keys are destroyed): nothing was "
		    "signed; ask again", (long long)gen);
	return cust_fail(CUST_E_DB, "the %s key of CA generation %lld is "
	    "missing from the store (damaged or altered)", role,
	    (long long)gen);
}

static int
sealed_open(struct cust_state *st, int64_t gen, const char *role,
    void **sess_out)
{
	struct sealed_sess *ss = NULL;
	struct seal_secret *der = NULL;
	const unsigned char *p;
	size_t adlen = 0;
	char ad[128];
	sqlite3_stmt *s;
	int r = CUST_E_INTERNAL, rc;

	*sess_out = NULL;
	if ((r = key_ad(ad, sizeof(ad), gen, role, &adlen)) != CUST_OK)
		return r;
	if ((s = store_stmt(state_store(st), "SELECT sealed, "
	    STORE_CHECK(STORE_ROW_CA_KEY) " FROM ca_key WHERE gen = ? AND "
	    "role = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		r = key_missing(st, gen, role);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_err(state_store(st), "read CA key");
		goto out;
	}
	/* A sealed key that does not open, or opens to something that is not
	 * a key, is a damaged or altered store (exit 5), as for secrets. */
	if ((r = seal_decrypt(state_seal(st), sqlite3_column_blob(s, 0),
	    (size_t)sqlite3_column_bytes(s, 0), ad, adlen, &der)) != CUST_OK) {
		if (r == CUST_E_CRYPTO)
			r = cust_fail(CUST_E_DB, "the %s key of CA generation "
			    "%lld cannot be unsealed (the store is damaged or "
			    "was altered): %s", role, (long long)gen,
			    cust_errmsg());
		goto out;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		r = cust_fail(CUST_E_NOMEM, "out of memory");
		goto out;
	}
	p = seal_secret_data(der);
	if (seal_secret_len(der) > INT_MAX || (ss->key = d2i_AutoPrivateKey(
	    NULL, &p, (long)seal_secret_len(der))) == NULL) {
		r = ca_ossl_fail(CUST_E_DB, "the %s key of CA generation "
		    "%lld does not decode (the store is damaged or was "
		    "altered)", role, (long long)gen);
		goto out;
	}
	if ((r = key_matches_cert(st, gen, role, ss->key)) != CUST_OK)
		goto out;
	ss->gen = gen;
	snprintf(ss->role, sizeof(ss->role), "%s", role);
	*sess_out = ss;
	ss = NULL;
	r = CUST_OK;
out:
	sqlite3_reset(s);
	seal_secret_free(der);
	if (ss != NULL) {
		EVP_PKEY_free(ss->key);
		free(ss);
	}
	return r;
}

static int
sealed_sign_cert(void *sess, X509 *x, const EVP_MD *md)
{
	struct sealed_sess *ss = sess;

	if (X509_sign(x, ss->key, md) <= 0)
		return ca_ossl_fail(CUST_E_CRYPTO, "signing with the %s key of "
		    "CA generation %lld failed", ss->role, (long long)ss->gen);
	return CUST_OK;
}

static int
sealed_sign_crl(void *sess, X509_CRL *crl, const EVP_MD *md)
{
	struct sealed_sess *ss = sess;

	if (X509_CRL_sign(crl, ss->key, md) <= 0)
		return ca_ossl_fail(CUST_E_CRYPTO, "signing a CRL with the %s "
		    "key of CA generation %lld failed", ss->role,
		    (long long)ss->gen);
	return CUST_OK;
}

static void
sealed_close(void *sess)
{
	struct sealed_sess *ss = sess;

	if (ss == NULL)
		return;
	EVP_PKEY_free(ss->key);
	free(ss);
}

/* A retired generation's keys: the sealed copies are deleted (the store
 * runs with secure_delete, so their pages are overwritten too). */
static int
sealed_destroy(struct cust_state *st, int64_t gen)
{
	sqlite3_stmt *s;

	if ((s = store_stmt(state_store(st),
	    "DELETE FROM ca_key WHERE gen = ?")) == NULL)
		return CUST_E_DB;
	sqlite3_bind_int64(s, 1, gen);
	return store_step_done(state_store(st), s, "destroy CA keys");
}

const struct ca_signer_ops ca_signer_sealed = {
	"sealed",
	sealed_keygen,
	sealed_open,
	sealed_sign_cert,
	sealed_sign_crl,
	sealed_close,
	sealed_destroy,
};

static const struct ca_signer_ops *signer = &ca_signer_sealed;

void
ca_set_signer(const struct ca_signer_ops *ops)
{
	signer = ops != NULL ? ops : &ca_signer_sealed;
}

const struct ca_signer_ops *
ca_signer(void)
{
	return signer;
}
