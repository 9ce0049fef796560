/* SPDX-License-Identifier: MIT */
/* src/directory/directory_int.h - what the directory module's files share
 * and nobody else uses: the private krb5 context (kadm.c) and the sealed
 * keytab files under DIR/keytabs (ktfile.c), one code path for the MIT
 * principals' keytabs (mit.c) and the AD service accounts' (ad_sync.c).
 */
#ifndef CUST_DIRECTORY_INT_H
#define CUST_DIRECTORY_INT_H

#include <stdint.h>

#include <krb5.h>

struct cust_state;
struct dir_keytab;
struct seal_secret;

/*
 * A krb5 context of custody's own whose profile is a table in memory:
 * realm as the default realm, no DNS or reverse lookups, and, when not
 * NULL, the realm's kdc and admin_server (HOST:PORT). Made with
 * KRB5_INIT_CONTEXT_SECURE: neither /etc/krb5.conf nor KRB5_CONFIG nor
 * KRB5_KDC_PROFILE is read. *out new, krb5_free_context().
 */
int dir_krb5_context(const char *realm, const char *kdc,
    const char *admin_server, krb5_context *out)
	__attribute__((warn_unused_result));

/*
 * A console's keytab file, sealed at rest: KT_MAGIC || seal_encrypt(the
 * 0x0502 image) with associated data
 * custody:v1:<table>:<id>:<owner>:<version>, so no key is ever on disk in
 * the clear and a file copied over another console's, or left by another
 * row (or, for AD, by another password version), does not open.
 */
struct dir_ktfile {
	const char *rel;	/* path under the state directory */
	const char *table;	/* "keytab" (MIT row) or "ad_keytab" */
	int64_t id;		/* the row it belongs to */
	const char *owner;	/* the console */
	int64_t version;	/* MIT: 1; AD: the password version */
	const char *remedy;	/* said when it does not open */
	int migrate;		/* a plaintext 0x0502 keytab is sealed in place */
};

/* Read and open f: *img_out the image (a new secret) and/or *kt_out it
 * parsed (either may be NULL). CUST_E_NOTFOUND when there is no file,
 * CUST_E_SEALED when it does not open for f. */
int dir_ktfile_read(struct cust_state *st, const struct dir_ktfile *f,
    struct seal_secret **img_out, struct dir_keytab **kt_out)
	__attribute__((warn_unused_result));

/* Replace f's file with kt, sealed: the directory made 0700 when
 * missing, the file 0600, written atomically. */
int dir_ktfile_write(struct cust_state *st, const struct dir_ktfile *f,
    const struct dir_keytab *kt) __attribute__((warn_unused_result));

/*
 * One change of a directory at a time per state directory (lock.c):
 * DIR/file flock'd, without waiting. Held elsewhere: CUST_E_UNAVAIL
 * "<busy> is running on DIR: try again when it ends". *fd_out to
 * dir_unlock().
 */
int dir_lock(struct cust_state *st, const char *file, const char *busy,
    int *fd_out) __attribute__((warn_unused_result));
void dir_unlock(int fd);

/* Remove the file at rel (none there is no error). */
int dir_ktfile_remove(struct cust_state *st, const char *rel)
	__attribute__((warn_unused_result));

#endif
