/* SPDX-License-Identifier: MIT */
/* src/cli/cli_ca.c - the cert, ca and console command groups, and the CA
 * part of init.
 *
 * cert sign|issue|renew|revoke|list|show, ca show|bundle|crl|rotate,
 * console add|list|revoke. Handlers build the request of the matching
 * operation (src/api/ops_ca.c), run it and render the answer; files are
 * written here, keys with mode 0600. Output files (-o) are checked before
 * the operation runs: never inside the state directory, never over an
 * existing file without --force.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ca.h"
#include "cli.h"
#include "config.h"
#include "err.h"
#include "util.h"

/* What the CLI reads of a CSR file at most: one byte over the CA's bound,
 * so that the CA sees an oversized file as such and refuses (and audits)
 * it, however large the file is. */
#define CLI_CSR_READ_MAX	(CA_CSR_MAX + 1)

/* Read the first max bytes of path ("-": standard input) into a new
 * buffer; a longer file is cut there, not refused. */
static int
read_head(const char *path, size_t max, char **buf_out, size_t *len_out)
{
	char *buf;
	size_t len = 0;
	ssize_t n = 0;
	int fd;

	*buf_out = NULL;
	*len_out = 0;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return cust_fail(errno == ENOENT ? CUST_E_NOTFOUND : CUST_E_IO,
		    "cannot open %s: %s", path, strerror(errno));
	if ((buf = malloc(max + 1)) == NULL) {
		if (fd != STDIN_FILENO)
			close(fd);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	while (len < max) {
		n = read(fd, buf + len, max - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n == -1) {
		int e = errno;

		free(buf);
		if (fd != STDIN_FILENO)
			close(fd);
		return cust_fail(e == EISDIR ? CUST_E_INVAL : CUST_E_IO,
		    "cannot read %s: %s", path, strerror(e));
	}
	if (fd != STDIN_FILENO)
		close(fd);
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = len;
	return CUST_OK;
}

/* Read a CSR file (PEM or DER; "-" for stdin) into req as "csr" (PEM
 * text) or "csr_der" (base64). */
static int
add_csr(json_t *req, const char *path)
{
	char *buf = NULL, *b64;
	size_t len = 0, i, blen;
	int r, text;

	if ((r = read_head(path, CLI_CSR_READ_MAX, &buf, &len)) != CUST_OK)
		return r;
	text = memmem(buf, len, "-----BEGIN", 10) != NULL;
	for (i = 0; text && i < len; i++)
		if (buf[i] == '\0' || (unsigned char)buf[i] >= 0x80)
			text = 0;
	if (text) {
		json_object_set_new(req, "csr", json_stringn(buf, len));
	} else {
		blen = sodium_base64_encoded_len(len,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(blen)) == NULL) {
			free(buf);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		sodium_bin2base64(b64, blen, (unsigned char *)buf, len,
		    sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(req, "csr_der", json_string(b64));
		free(b64);
	}
	free(buf);
	return CUST_OK;
}

/* DIR/NAME.EXT as a new string. */
static char *
out_path(const char *dir, const char *name, const char *ext)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", dir, name, ext) == -1)
		return NULL;
	return p;
}

/* The name path ends with: what is written in its (open) directory. */
static const char *
leaf_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/*
 * Whether the open directory dfd is the state directory or inside it: it
 * and each ancestor (reached by ".." from the descriptor, not by name) are
 * compared with the state directory by device and inode, so that links,
 * ".." and bind mounts make no difference, and neither does the path being
 * swapped once opened. 1: inside; 0: not; -1: cannot tell (an error).
 */
static int
in_state_dir(struct cli *c, int dfd)
{
	struct stat sd, sb, up;
	int fd, nfd, in = -1;

	/* Remote mode has no state directory here to protect. */
	if (c->state_dir == NULL || stat(c->state_dir, &sd) == -1)
		return 0;
	if ((fd = openat(dfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	while (fstat(fd, &sb) == 0) {
		if (sb.st_dev == sd.st_dev && sb.st_ino == sd.st_ino) {
			in = 1;
			break;
		}
		nfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (nfd == -1)
			break;
		close(fd);
		fd = nfd;
		if (fstat(fd, &up) == 0 && up.st_dev == sb.st_dev &&
		    up.st_ino == sb.st_ino) {
			in = 0;		/* the root: its ".." is itself */
			break;
		}
	}
	close(fd);
	return in;
}

/* Refuse the open directory dfd (named dir) when it is in the state
 * directory; closes it then. */
static int
not_in_state(struct cli *c, int dfd, const char *dir)
{
	int in = in_state_dir(c, dfd);

	if (in == 0)
		return CUST_OK;
	close(dfd);
	if (in == -1)
		return cust_fail(CUST_E_IO, "cannot tell whether %s is in the "
		    "state directory", dir);
	return cust_fail(CUST_E_INVAL, "%s is in the state directory %s: "
	    "output files are never written there", dir, c->state_dir);
}

/*
 * -o DIR that does not exist yet: its longest existing ancestor is opened
 * (as a path is, links followed) and checked not to be in the state
 * directory, then the missing rest is made below it, 0700, through
 * util_mkdirs_at() (no link followed, each new directory ours).
 */
static int
out_dir_create(struct cli *c, const char *dir, int *dfd_out)
{
	char top[PATH_MAX];
	const char *rest;
	size_t n = strlen(dir);
	int pfd, r;

	*dfd_out = -1;
	if (n == 0 || n >= sizeof(top))
		return cust_fail(CUST_E_INVAL, "bad directory '%s'", dir);
	memcpy(top, dir, n + 1);
	for (;;) {
		char *slash = strrchr(top, '/');

		while (slash != NULL && slash > top && slash[1] == '\0') {
			*slash = '\0';	/* trailing '/' */
			slash = strrchr(top, '/');
		}
		if (slash == NULL) {
			rest = dir;
			snprintf(top, sizeof(top), ".");
		} else {
			slash[slash == top ? 1 : 0] = '\0';
			rest = dir + (slash - top) + 1;
		}
		if ((pfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
			break;
		if (errno != ENOENT || slash == NULL)
			return cust_fail(errno == ENOTDIR ? CUST_E_NOTFOUND :
			    CUST_E_IO, "cannot create %s: %s", dir,
			    strerror(errno));
	}
	while (*rest == '/')
		rest++;
	if ((r = not_in_state(c, pfd, dir)) != CUST_OK)
		return r;
	r = util_mkdirs_at(pfd, rest, 0700, dfd_out);
	close(pfd);
	return r;
}

/*
 * Before anything is issued: open dir once (*dfd_out, close() it), and
 * check through that descriptor that it is not in the state directory and
 * takes new files (a probe file is made and removed). Files are then
 * written through the same descriptor, so replacing dir by a link after
 * this check cannot redirect them.
 * create (-o DIR of cert issue and console add): a missing dir is made
 * (out_dir_create()).
 */
static int
out_dir_open(struct cli *c, const char *dir, int create, int *dfd_out)
{
	char probe[NAME_MAX + 1];
	int dfd, fd, r;

	*dfd_out = -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && create) {
			if ((r = out_dir_create(c, dir, &dfd)) != CUST_OK)
				return r;
		} else if (errno == ENOENT || errno == ENOTDIR) {
			return cust_fail(CUST_E_NOTFOUND, "%s is not a "
			    "directory", dir);
		} else {
			return cust_fail(CUST_E_IO, "cannot open %s: %s", dir,
			    strerror(errno));
		}
	}
	if ((r = not_in_state(c, dfd, dir)) != CUST_OK)
		return r;
	snprintf(probe, sizeof(probe), ".custodyctl-probe.%ld",
	    (long)getpid());
	fd = openat(dfd, probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		int e = errno;

		close(dfd);
		return cust_fail(CUST_E_IO, "cannot write in %s: %s", dir,
		    strerror(e));
	}
	close(fd);
	(void)unlinkat(dfd, probe, 0);
	util_test_stop("output-checked");
	*dfd_out = dfd;
	return CUST_OK;
}

/* Refuse path (its last component, in the open directory dfd) if it
 * exists (unless force) or is a directory. */
static int
no_clobber(int dfd, const char *path, int force)
{
	struct stat sb;

	if (fstatat(dfd, leaf_of(path), &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(sb.st_mode))
			return cust_fail(CUST_E_INVAL, "%s is a directory",
			    path);
		if (force)
			return CUST_OK;
		return cust_fail(CUST_E_EXISTS, "%s exists; not overwriting it "
		    "(--force replaces it)", path);
	}
	if (errno != ENOENT)
		return cust_fail(CUST_E_IO, "cannot check %s: %s", path,
		    strerror(errno));
	return CUST_OK;
}

/* Close the output directory dfd (-1: none) and return exit. */
static int
out_close(int dfd, int exit)
{
	if (dfd != -1)
		close(dfd);
	return exit;
}

/* -o FILE of a single-file output, checked before the operation runs;
 * NULL and "-" (standard output) are fine. *dfd_out: its directory, open
 * (out_dir_open()), or -1 for standard output. */
static int
out_file_ok(struct cli *c, const char *path, int force, int *dfd_out)
{
	char dir[PATH_MAX];
	const char *slash;
	size_t n;
	int r;

	*dfd_out = -1;
	if (path == NULL || strcmp(path, "-") == 0)
		return CUST_OK;
	if ((slash = strrchr(path, '/')) == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return cust_fail(CUST_E_INVAL, "path too long: %s",
			    path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if (*leaf_of(path) == '\0')
		return cust_fail(CUST_E_INVAL, "%s is a directory", path);
	if ((r = out_dir_open(c, dir, 0, dfd_out)) != CUST_OK)
		return r;
	if ((r = no_clobber(*dfd_out, path, force)) != CUST_OK) {
		close(*dfd_out);
		*dfd_out = -1;
	}
	return r;
}

/* Before anything is issued: the output directory is fit and open
 * (out_dir_open(), *dfd_out) and, unless force, none of DIR/NAME<ext>
 * exists yet. */
static int
out_ready(struct cli *c, const char *dir, const char *name,
    const char *const *ext, size_t n, int force, int *dfd_out)
{
	char *p;
	size_t i;
	int r;

	if ((r = out_dir_open(c, dir, 1, dfd_out)) != CUST_OK)
		return r;
	for (i = 0; i < n && r == CUST_OK; i++) {
		if ((p = out_path(dir, name, ext[i])) == NULL) {
			r = cust_fail(CUST_E_NOMEM, "out of memory");
			break;
		}
		r = no_clobber(*dfd_out, p, force);
		free(p);
	}
	if (r != CUST_OK) {
		close(*dfd_out);
		*dfd_out = -1;
	}
	return r;
}

/* Write data to path, or to stdout when path is NULL or "-": its last
 * component, in the directory dfd opened and checked by out_dir_open()
 * (never by its name again). An existing file is replaced only with force
 * (atomically refused otherwise). */
static int
put(int dfd, const char *path, const void *data, size_t len, unsigned mode,
    int force)
{
	if (path == NULL || strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len)
			return cust_fail(CUST_E_IO, "cannot write output");
		return CUST_OK;
	}
	return force ? util_write_file_at(dfd, leaf_of(path), data, len, mode) :
	    util_create_file_at(dfd, leaf_of(path), data, len, mode);
}

static int
put_str(int dfd, const char *path, json_t *o, const char *key, unsigned mode,
    int force)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL)
		return cust_fail(CUST_E_INTERNAL, "response lacks %s", key);
	return put(dfd, path, s, strlen(s), mode, force);
}

static void
render_info(struct cli *c, json_t *o)
{
	(void)c;
	printf("serial       %s\n", cli_str(o, "serial"));
	printf("kind         %s\n", cli_str(o, "kind"));
	printf("holder       %s\n", cli_str(o, "holder"));
	printf("generation   %lld\n", cli_num(o, "generation"));
	printf("subject      %s\n", cli_str(o, "subject"));
	printf("not before   %s\n", cli_str(o, "not_before"));
	printf("not after    %s\n", cli_str(o, "not_after"));
	printf("status       %s\n", cli_str(o, "status"));
	if (json_is_string(json_object_get(o, "revoked")))
		printf("revoked      %s (%s)\n", cli_str(o, "revoked"),
		    cli_str(o, "reason"));
	printf("sha256       %s\n", cli_str(o, "sha256"));
	if (json_is_true(json_object_get(o, "undelivered")))
		printf("delivery     pending: its key file is not confirmed "
		    "written (revoked if its process is gone)\n");
	if (cli_supersede_print(o, "supersede    "))
		putchar('\n');
}

int
cli_supersede_print(json_t *o, const char *prefix)
{
	json_t *v = json_object_get(o, "supersedes"), *e;
	size_t i;

	if (json_is_string(json_object_get(o, "superseded_by"))) {
		printf("%ssuperseded once %s is used, at the latest %s", prefix,
		    cli_str(o, "superseded_by"), cli_str(o, "supersede_due"));
		return 1;
	}
	if (json_array_size(v) == 0)
		return 0;
	printf("%ssupersedes", prefix);
	json_array_foreach(v, i, e)
		printf("%s %s", i > 0 ? "," : "", cli_str(e, "serial"));
	printf(" once used, at the latest %s", cli_str(json_array_get(v, 0),
	    "due"));
	return 1;
}

/* Run op, then hand the response to done() (files, output); --json prints
 * the response (minus "drop" members) after done() succeeded. */
static int
run_then(struct cli *c, const char *op, json_t *req,
    int (*done)(struct cli *c, json_t *resp, void *arg), void *arg,
    const char *const *drop)
{
	json_t *resp = NULL;
	int r;

	/* A request that could not be built is not an empty request. */
	if (req == NULL)
		return cli_error(c, cust_fail(CUST_E_NOMEM, "out of memory"));
	r = cli_call(c, op, req, &resp);
	json_decref(req);
	if (r == CUST_OK && done != NULL)
		r = done(c, resp, arg);
	if (r != CUST_OK) {
		json_decref(resp);
		return cli_error(c, r);
	}
	if (c->json) {
		for (; drop != NULL && *drop != NULL; drop++)
			json_object_del(resp, *drop);
		cli_print_json(resp);
	}
	json_decref(resp);
	return CUST_EXIT_OK;
}

/* -- cert ------------------------------------------------------------ */

/* A single-file output: -o FILE (or NULL: stdout) and --force. */
struct sign_out {
	const char *path;
	int force;
	int dfd;		/* path's directory, open (out_file_ok()) */
};

static int
sign_done(struct cli *c, json_t *resp, void *arg)
{
	struct sign_out *so = arg;
	int r;

	if (c->json && so->path == NULL)
		return CUST_OK;
	if ((r = put_str(so->dfd, so->path, resp, "chain", 0644, so->force)) != CUST_OK)
		return r;
	if (so->path != NULL && !c->json && !c->quiet)
		printf("%s: serial %s, valid until %s, chain in %s\n",
		    cli_str(resp, "holder"), cli_str(resp, "serial"),
		    cli_str(resp, "not_after"), so->path);
	return CUST_OK;
}

struct issue_out {
	const char *dir;
	const char *name;
	int force;		/* --force: replace existing files */
	int dfd;		/* dir, open (out_ready()) */
	const char *what;	/* client certificates: "console", "staff" */
	const char *revoke_op;	/* ... and how to revoke the holder */
	int renew;		/* a renewal: the holder stays */
};

/*
 * Writing the files of a certificate that is already issued failed: its
 * key exists nowhere else, so the certificate is revoked (the revocation
 * is audited by its operation) and the error says so. console: the
 * console's name (its certificates are revoked, which frees the name), or
 * NULL for a device certificate (revoked by serial).
 */
static int
revoke_lost(struct cli *c, json_t *resp, const char *console,
    const char *revoke_op, int err)
{
	const char *serial = cli_str(resp, "serial");
	json_t *req, *out = NULL;
	char msg[1024];
	int r;

	snprintf(msg, sizeof(msg), "%s", cust_errmsg());
	req = console != NULL ? json_pack("{s:s, s:s}", "name", console,
	    "reason", "cessationOfOperation") : json_pack("{s:s, s:s}",
	    "serial", serial, "reason", "cessationOfOperation");
	r = req == NULL ? cust_fail(CUST_E_NOMEM, "out of memory") :
	    cli_call(c, console != NULL ? revoke_op : "cert.revoke", req,
	    &out);
	json_decref(req);
	json_decref(out);
	if (r != CUST_OK)
		return cust_fail(err, "%s; the new certificate %s, whose key "
		    "was not saved, could not be revoked (%s): revoke it with "
		    "'custodyctl %s %s'", msg, serial, cust_errmsg(),
		    console != NULL ? (strcmp(revoke_op, "staff.revoke") == 0 ?
		    "staff revoke" : "console revoke") : "cert revoke",
		    console != NULL ? console : serial);
	return cust_fail(err, "%s; the new certificate %s, whose key was not "
	    "saved, has been revoked", msg, serial);
}

/* The serials revoked just now move from resp's "supersedes" (waiting)
 * to its "superseded" (revoked). */
static int
superseded_now(json_t *resp, json_t *revoked)
{
	json_t *done = json_object_get(resp, "superseded");
	json_t *wait = json_object_get(resp, "supersedes"), *keep, *e, *v;
	size_t i, j;
	int gone;

	if ((keep = json_array()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	json_array_foreach(wait, i, e) {
		gone = 0;
		json_array_foreach(revoked, j, v)
			gone |= json_equal(json_object_get(e, "serial"), v);
		if (!gone && json_array_append(keep, e) != 0)
			goto nomem;
	}
	if ((!json_is_array(done) && json_object_set_new(resp, "superseded",
	    json_array()) != 0) || json_array_extend(json_object_get(resp,
	    "superseded"), revoked) != 0 ||
	    json_object_set_new(resp, "supersedes", keep) != 0)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	return CUST_OK;
nomem:
	json_decref(keep);
	return cust_fail(CUST_E_NOMEM, "out of memory");
}

/*
 * The files of a key custody made are durably written (fsync'd): say so
 * (cert.delivered). Until then the certificate is "undelivered", and
 * revoked as such if this process dies first (ca.h, CA_DELIVER). If the
 * store cannot take the confirmation the certificate would be revoked
 * later although its files exist: the error says so and names it.
 */
static int
delivered(struct cli *c, json_t *resp)
{
	const char *serial = cli_str(resp, "serial");
	json_t *req, *out = NULL;
	int r;

	req = json_pack("{s:s}", "serial", serial);
	r = req == NULL ? cust_fail(CUST_E_NOMEM, "out of memory") :
	    cli_call(c, "cert.delivered", req, &out);
	json_decref(req);
	/* A renewal delivered: what it superseded is revoked now, and no
	 * longer waits. */
	if (r == CUST_OK && json_array_size(json_object_get(out,
	    "superseded")) > 0)
		r = superseded_now(resp, json_object_get(out, "superseded"));
	json_decref(out);
	if (r != CUST_OK)
		return cust_fail(r, "the files of certificate %s are written, "
		    "but the store could not record it (%s): the next "
		    "'cert issue', 'console add' or 'staff add' will revoke "
		    "it as undelivered", serial, cust_errmsg());
	return CUST_OK;
}

/* Write NAME.key (0600), NAME.crt (the PEM in resp[crt]) and, with p12,
 * NAME.p12 (0600), and with chain, DIR/NAME-chain.pem, into io->dir; on
 * failure remove those written. paths[0..2] get crt, key, p12. */
static int
issue_files(json_t *resp, const struct issue_out *io, const char *crt,
    int p12, const char *chain, char **paths)
{
	unsigned char *der = NULL;
	size_t dlen = 0;
	const char *b64;
	int r, i, done[4] = { 0, 0, 0, 0 };

	/* Tests stop here: issued and committed, no file written yet. */
	util_test_crash("issued-unwritten");
	paths[0] = out_path(io->dir, io->name, ".crt");
	paths[1] = out_path(io->dir, io->name, ".key");
	paths[2] = p12 ? out_path(io->dir, io->name, ".p12") : NULL;
	if (paths[0] == NULL || paths[1] == NULL || (p12 && paths[2] == NULL))
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((r = put_str(io->dfd, paths[1], resp, "key", 0600, io->force)) != CUST_OK)
		goto fail;
	done[1] = 1;
	if ((r = put_str(io->dfd, paths[0], resp, crt, 0644, io->force)) != CUST_OK)
		goto fail;
	done[0] = 1;
	if (chain != NULL) {
		if ((r = put_str(io->dfd, chain, resp, "chain", 0644, io->force)) !=
		    CUST_OK)
			goto fail;
		done[3] = 1;
	}
	if (!p12)
		return CUST_OK;
	b64 = json_string_value(json_object_get(resp, "pkcs12"));
	if (b64 == NULL) {
		r = cust_fail(CUST_E_INTERNAL, "response lacks pkcs12");
		goto fail;
	}
	if (ca_b64_decode(b64, strlen(b64), &der, &dlen) != CUST_OK) {
		r = cust_fail(CUST_E_INTERNAL, "bad pkcs12 in response");
		goto fail;
	}
	r = put(io->dfd, paths[2], der, dlen, 0600, io->force);
	sodium_memzero(der, dlen);
	free(der);
	if (r == CUST_OK)
		return CUST_OK;
fail:
	for (i = 0; i < 4; i++)
		if (done[i])
			(void)unlinkat(io->dfd, leaf_of(i == 3 ? chain :
			    paths[i]), 0);
	return r;
}

static int
issue_done(struct cli *c, json_t *resp, void *arg)
{
	struct issue_out *io = arg;
	char *paths[3] = { NULL, NULL, NULL };
	int r, i;

	r = issue_files(resp, io, "chain", 1, NULL, paths);
	if (r != CUST_OK)
		r = revoke_lost(c, resp, NULL, NULL, r);
	else
		r = delivered(c, resp);
	if (r == CUST_OK && !c->json) {
		printf("%s: serial %s, valid until %s\n", cli_str(resp, "holder"),
		    cli_str(resp, "serial"), cli_str(resp, "not_after"));
		printf("wrote %s, %s (0600), %s (0600)\n", paths[0], paths[1],
		    paths[2]);
		printf("PKCS#12 password (shown once): %s\n",
		    cli_str(resp, "pkcs12_password"));
	}
	if (r == CUST_OK && c->json && json_object_set_new(resp, "files",
	    json_pack("[ooo]", ops_text(paths[0]), ops_text(paths[1]),
	    ops_text(paths[2]))) != 0)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	for (i = 0; i < 3; i++)
		free(paths[i]);
	return r;
}

static int
renew_done(struct cli *c, json_t *resp, void *arg)
{
	json_t *s;
	size_t i;
	int r;

	if ((r = sign_done(c, resp, arg)) != CUST_OK)
		return r;
	if (!c->json && !c->quiet)
		json_array_foreach(json_object_get(resp, "superseded"), i, s)
			fprintf(stderr, "revoked %s (superseded)\n",
			    json_string_value(s));
	return CUST_OK;
}

/*
 * cert sign and cert renew share their options: sign needs --csr and takes
 * --days; renew takes --csr (a rekey), --force and --supersede.
 */
static int
sign_or_renew(struct cli *c, int argc, char **argv, int renew)
{
	static const struct option opts[] = {
		{ "csr", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "days", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "supersede", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct sign_out so = { NULL, 0, -1 };
	const char *csr = NULL;
	json_t *req = json_object();
	int ch, r;

	while ((ch = getopt_long(argc, argv, "c:o:d:fs", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			csr = optarg;
			break;
		case 'o':
			so.path = optarg;
			break;
		case 'd':
			if (renew || cli_opt_num(req, "days", optarg, 1, 3650) != 0)
				goto usage;
			break;
		case 'f':
			/* sign: replace -o FILE; renew: also re-sign
			 * outside the renewal window. */
			so.force = 1;
			if (renew)
				json_object_set_new(req, "force", json_true());
			break;
		case 's':
			if (!renew)
				goto usage;
			json_object_set_new(req, "supersede", json_true());
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1 || (!renew && csr == NULL)) {
		json_decref(req);
		return cli_usage(cli_current(), renew ? "give exactly one FQDN" :
		    "give one FQDN and --csr FILE");
	}
	json_object_set_new(req, "fqdn", ops_text(argv[optind]));
	if ((r = out_file_ok(c, so.path, so.force, &so.dfd)) != CUST_OK ||
	    (csr != NULL && (r = add_csr(req, csr)) != CUST_OK)) {
		json_decref(req);
		return out_close(so.dfd, cli_error(c, r));
	}
	return out_close(so.dfd, run_then(c, renew ? "cert.renew" :
	    "cert.sign", req, renew ? renew_done : sign_done, &so, NULL));
usage:
	json_decref(req);
	return cli_usage(cli_current(), "bad option");
}

static int
cmd_sign(struct cli *c, int argc, char **argv)
{
	return sign_or_renew(c, argc, argv, 0);
}

static int
cmd_renew(struct cli *c, int argc, char **argv)
{
	return sign_or_renew(c, argc, argv, 1);
}

/* cert revoke SERIAL and console revoke NAME: one argument (put in
 * req[key]) and --reason. */
static int
revoke_cmd(struct cli *c, int argc, char **argv, const char *key,
    const char *op, void (*render)(struct cli *, json_t *))
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		if (ch != 'r') {
			json_decref(req);
			return cli_usage(cli_current(), "bad option");
		}
		json_object_set_new(req, "reason", ops_text(optarg));
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give exactly one %s", key);
	}
	json_object_set_new(req, key, ops_text(argv[optind]));
	return cli_run(c, op, req, render);
}

static int
cmd_revoke(struct cli *c, int argc, char **argv)
{
	return revoke_cmd(c, argc, argv, "serial", "cert.revoke", render_info);
}

static void
render_list(struct cli *c, json_t *resp, int first)
{
	json_t *o;
	size_t i;

	(void)c;
	if (first)
		printf("%-32s %-8s %-4s %-20s %-8s %s\n", "SERIAL", "KIND",
		    "GEN", "NOT_AFTER", "STATUS", "HOLDER");
	json_array_foreach(json_object_get(resp, "items"), i, o) {
		printf("%-32s %-8s %-4lld %-20s %-8s %s%s", cli_str(o, "serial"),
		    cli_str(o, "kind"), cli_num(o, "generation"), cli_str(o, "not_after"),
		    cli_str(o, "status"), cli_str(o, "holder"),
		    json_is_true(json_object_get(o, "undelivered")) ?
		    " (undelivered)" : "");
		cli_supersede_print(o, " ");
		putchar('\n');
	}
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expiring", required_argument, NULL, 'e' },
		{ "device", required_argument, NULL, 'D' },
		{ "kind", required_argument, NULL, 'k' },
		{ "all", no_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "e:D:k:al:A:", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'e':
			if (cli_opt_num(req, "expiring", optarg, 0, 36500) != 0)
				goto usage;
			break;
		case 'D':
			json_object_set_new(req, "device", ops_text(optarg));
			break;
		case 'k':
			json_object_set_new(req, "kind", ops_text(optarg));
			break;
		case 'a':
			json_object_set_new(req, "kind", json_string("all"));
			break;
		case 'l':
			if (cli_opt_num(req, "limit", optarg, 1, 100000) != 0)
				goto usage;
			break;
		case 'A':
			if (cli_opt_num(req, "after", optarg, 0, LONG_MAX) != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	return cli_list_tail(c, argc, argv, "cert.list", req, "items", render_list);
usage:
	json_decref(req);
	return CUST_EXIT_USAGE;
}

static void
render_show(struct cli *c, json_t *o)
{
	render_info(c, o);
	fputs(cli_raw(o, "certificate"), stdout);
}

static int
cmd_show(struct cli *c, int argc, char **argv)
{
	json_t *req;

	if (argc != 2)
		return cli_usage(cli_current(), "give exactly one SERIAL");
	req = json_pack("{s:o}", "serial", ops_text(argv[1]));
	return cli_run(c, "cert.show", req, render_show);
}

static void
render_provision(struct cli *c, json_t *r)
{
	json_t *st;
	size_t i;

	if (json_is_true(json_object_get(r, "dry_run"))) {
		printf("# %s: TLS provisioning over %s", cli_str(r, "fqdn"),
		    cli_str(r, "tls_url"));
		if (json_is_string(json_object_get(r, "connect_to")))
			printf(" (connect-to %s)", cli_str(r, "connect_to"));
		printf("\n# dry run: nothing was sent\n");
		json_array_foreach(json_object_get(r, "steps"), i, st)
			printf("%-10s %s\n", cli_str(st, "step"),
			    cli_str(st, "action"));
		return;
	}
	if (!c->quiet)
		json_array_foreach(json_object_get(r, "steps"), i, st)
			printf("  %-10s %-6s %s\n", cli_str(st, "step"),
			    cli_str(st, "result"), cli_str(st, "detail"));
	printf("%s: %s: %s\n", cli_str(r, "fqdn"), cli_str(r, "result"),
	    cli_str(r, "detail"));
}

static int
provision_ok(json_t *r)
{
	const char *res = json_string_value(json_object_get(r, "result"));

	return res == NULL || strcmp(res, "failed") != 0;
}

int
cli_provision_job_result(struct cli *c, json_t *resp)
{
	json_t *it;
	size_t i;

	if (c->json) {
		cli_print_json(resp);
	} else {
		json_array_foreach(json_object_get(resp, "items"), i, it)
			printf("%s: %s: %s\n", cli_str(it, "fqdn"),
			    cli_str(it, "result"), cli_str(it, "detail"));
		printf("%lld devices, %lld not ok (job %lld)\n", cli_num(resp,
		    "devices"), cli_num(resp, "failed"), cli_num(resp, "job"));
	}
	return cli_num(resp, "failed") > 0 ? CUST_EXIT_FAIL : CUST_EXIT_OK;
}

/* Take --renew out of argv[1..argc) (every form of cert provision has
 * it): whether it was there. */
static int
take_renew(int *argc, char **argv)
{
	int i, j, renew = 0;

	for (i = j = 1; i < *argc; i++)
		if (strcmp(argv[i], "--renew") == 0)
			renew = 1;
		else
			argv[j++] = argv[i];
	*argc = j;
	return renew;
}

/* cert provision --tag TAG | --all [--renew]: a provisioning job. */
static int
provision_job(struct cli *c, int argc, char **argv, int renew)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *resp = NULL;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "t:a", opts, NULL)) != -1) {
		if (ch == 't')
			json_object_set_new(req, "tag", ops_text(optarg));
		else if (ch == 'a')
			json_object_set_new(req, "all", json_true());
		else {
			json_decref(req);
			return CUST_EXIT_USAGE;
		}
	}
	if (optind != argc || json_object_size(req) != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give one of FQDN, --tag TAG or "
		    "--all");
	}
	if (renew)
		json_object_set_new(req, "renew", json_true());
	r = cli_call(c, "cert.provision", req, &resp);
	json_decref(req);
	if (r != CUST_OK)
		return cli_error(c, r);
	r = cli_provision_job_result(c, resp);
	json_decref(resp);
	return r;
}

/* cert provision FQDN [--dry-run] [--force] | --tag TAG | --all, each
 * with --renew: exit 1 when a device's run failed. --force: re-provision
 * over plain HTTP a device recorded as provisioned whose TLS no longer
 * verifies; --renew: a device whose TLS verifies gets a new certificate
 * over that TLS (the old one revoked, superseded). */
static int
cmd_provision(struct cli *c, int argc, char **argv)
{
	json_t *req;
	int r, i, renew = take_renew(&argc, argv);

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--all") == 0 || strncmp(argv[i], "--tag",
		    5) == 0)
			return provision_job(c, argc, argv, renew);
	if ((r = cli_fqdn_dry_run(argc, argv, 1, &req)) != CUST_EXIT_OK)
		return r;
	if (renew)
		json_object_set_new(req, "renew", json_true());
	return cli_run_outcome(c, "cert.provision", req, render_provision,
	    provision_ok);
}

/* With console add, below. */
static int cmd_issue(struct cli *c, int argc, char **argv);

const struct cli_cmd cli_cert_cmds[] = {
	{ "cert", "sign", cmd_sign, 0,
	  "FQDN --csr FILE [-o FILE [--force]] [--days N]",
	  "sign a device CSR (PEM or DER); prints leaf + chain" },
	{ "cert", "issue", cmd_issue, 0,
	  "FQDN [-o DIR] [--force] [--key-type T] [--days N]",
	  "issue a device key + certificate (PEM and PKCS#12)" },
	{ "cert", "renew", cmd_renew, 0,
	  "FQDN [--csr FILE] [--force] [--supersede] [-o FILE]",
	  "re-sign the device's last CSR (or a new one)" },
	{ "cert", "revoke", cmd_revoke, 0, "SERIAL [--reason REASON]",
	  "revoke a certificate (RFC 5280 reason name)" },
	{ "cert", "list", cmd_list, 0,
	  "[--expiring DAYS] [--device FQDN] [--kind K | --all] [--limit N] "
	  "[--after ID]", "list certificates" },
	{ "cert", "show", cmd_show, 0, "SERIAL",
	  "show one certificate (with its PEM)" },
	{ "cert", "provision", cmd_provision, 0,
	  "FQDN [--dry-run] [--force] | --tag TAG | --all [--renew]",
	  "configure TLS on devices with a custody certificate, verified" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

/* -- ca -------------------------------------------------------------- */

static void
render_ca_cert(const char *what, json_t *o)
{
	if (!json_is_object(o))
		return;
	printf("  %-10s %s\n", what, cli_str(o, "subject"));
	printf("  %-10s serial %s, until %s, %s\n", "", cli_str(o, "serial"),
	    cli_str(o, "not_after"), cli_str(o, "status"));
	printf("  %-10s sha256 %s\n", "", cli_str(o, "sha256"));
}

static void
render_gen(json_t *g)
{
	printf("generation %lld  %-8s  %s/%s  created %s\n",
	    cli_num(g, "generation"), cli_str(g, "state"), cli_str(g, "key_type"),
	    cli_str(g, "digest"), cli_str(g, "created"));
	render_ca_cert("root", json_object_get(g, "root"));
	render_ca_cert("issuing", json_object_get(g, "issuing"));
	render_ca_cert("cross-up", json_object_get(g, "cross_up"));
	render_ca_cert("cross-down", json_object_get(g, "cross_down"));
	if (json_is_integer(json_object_get(g, "valid_certs")))
		printf("  %-10s %lld valid certificates\n", "",
		    cli_num(g, "valid_certs"));
}

static void
render_ca_show(struct cli *c, json_t *resp)
{
	json_t *g;
	size_t i;

	(void)c;
	json_array_foreach(json_object_get(resp, "generations"), i, g)
		render_gen(g);
	printf("bundle version %s\n", cli_str(resp, "bundle_version"));
	/* Only when there are: a process died between reserving a serial
	 * and recording its certificate (ca/README.md). */
	if (cli_num(resp, "unrecorded_serials") > 0)
		printf("%lld serials reserved and never recorded (no "
		    "certificate carries them)\n",
		    cli_num(resp, "unrecorded_serials"));
}

static int
cmd_ca_show(struct cli *c, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[1]);
	return cli_run(c, "ca.show", json_object(), render_ca_show);
}

static int
bundle_done(struct cli *c, json_t *resp, void *arg)
{
	struct sign_out *bo = arg;
	int r;

	if (c->json && bo->path == NULL)
		return CUST_OK;
	if ((r = put_str(bo->dfd, bo->path, resp, "pem", 0644, bo->force)) != CUST_OK)
		return r;
	if (bo->path != NULL && !c->json && !c->quiet)
		printf("bundle version %s written to %s\n",
		    cli_str(resp, "version"), bo->path);
	return CUST_OK;
}

static int
cmd_bundle(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct sign_out bo = { NULL, 0, -1 };
	int ch, r;

	while ((ch = getopt_long(argc, argv, "o:f", opts, NULL)) != -1) {
		if (ch == 'o')
			bo.path = optarg;
		else if (ch == 'f')
			bo.force = 1;
		else
			return CUST_EXIT_USAGE;
	}
	if (optind != argc)
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	if ((r = out_file_ok(c, bo.path, bo.force, &bo.dfd)) != CUST_OK)
		return cli_error(c, r);
	return out_close(bo.dfd, run_then(c, "ca.bundle", json_object(),
	    bundle_done, &bo, NULL));
}

struct crl_out {
	const char *path;
	int pem;
	int force;
	int dfd;		/* path's directory, open (out_file_ok()) */
};

static int
crl_done(struct cli *c, json_t *resp, void *arg)
{
	struct crl_out *co = arg;
	json_t *crls = json_object_get(resp, "crls"), *one;
	unsigned char *der = NULL;
	const char *b64;
	size_t dlen, i;
	char *all = NULL;
	int r;

	if (c->json && co->path == NULL)
		return CUST_OK;
	if (crls != NULL) {		/* --all: concatenated PEM */
		size_t len = 0;

		json_array_foreach(crls, i, one) {
			const char *p = cli_raw(one, "pem");
			char *n = realloc(all, len + strlen(p) + 1);

			if (n == NULL) {
				free(all);
				return cust_fail(CUST_E_NOMEM, "out of memory");
			}
			all = n;
			memcpy(all + len, p, strlen(p) + 1);
			len += strlen(p);
		}
		r = put(co->dfd, co->path, all ? all : "", len, 0644, co->force);
		free(all);
		return r;
	}
	if (co->pem)
		return put_str(co->dfd, co->path, resp, "pem", 0644, co->force);
	if ((b64 = json_string_value(json_object_get(resp, "der"))) == NULL)
		return cust_fail(CUST_E_INTERNAL, "response lacks der");
	if (ca_b64_decode(b64, strlen(b64), &der, &dlen) != CUST_OK)
		return cust_fail(CUST_E_INTERNAL, "bad der in response");
	r = put(co->dfd, co->path, der, dlen, 0644, co->force);
	free(der);
	return r;
}

static int
cmd_crl(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "pem", no_argument, NULL, 'p' },
		{ "generation", required_argument, NULL, 'g' },
		{ "root", no_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "refresh", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	struct crl_out co = { NULL, 0, 0, -1 };
	json_t *req = json_object();
	int ch, r;

	while ((ch = getopt_long(argc, argv, "o:pg:raf", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			co.path = optarg;
			break;
		case 'f':
			co.force = 1;
			break;
		case 'p':
			co.pem = 1;
			break;
		case 'g':
			if (cli_opt_num(req, "generation", optarg, 1, 1000000) != 0)
				goto usage;
			break;
		case 'r':
			json_object_set_new(req, "root", json_true());
			break;
		case 'a':
			json_object_set_new(req, "all", json_true());
			co.pem = 1;
			break;
		case 'R':
			json_object_set_new(req, "refresh", json_true());
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc) {
		json_decref(req);
		return cli_usage(cli_current(), "unexpected argument '%s'",
		    argv[optind]);
	}
	if ((r = out_file_ok(c, co.path, co.force, &co.dfd)) != CUST_OK) {
		json_decref(req);
		return cli_error(c, r);
	}
	return out_close(co.dfd, run_then(c, "ca.crl", req, crl_done, &co,
	    NULL));
usage:
	json_decref(req);
	return CUST_EXIT_USAGE;
}

static void
render_rotate(struct cli *c, json_t *resp)
{
	(void)c;
	if (strcmp(cli_str(resp, "state"), "retired") == 0) {
		printf("generation %lld retired (%lld certificates revoked); "
		    "bundle version %s\n", cli_num(resp, "generation"),
		    cli_num(resp, "revoked"), cli_str(resp, "bundle_version"));
		return;
	}
	render_gen(resp);
	printf("bundle version %s\n", cli_str(resp, "bundle_version"));
	if (strcmp(cli_str(resp, "state"), "next") == 0)
		printf("next: let every console fetch the new bundle, then run "
		    "custodyctl ca rotate --activate\n");
	else
		printf("next: renew certificates of generation %lld, then run "
		    "custodyctl ca rotate --retire-old\n", cli_num(resp,
		    "previous"));
}

static int
cmd_rotate(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "activate", no_argument, NULL, 'a' },
		{ "retire-old", no_argument, NULL, 'R' },
		{ "force", no_argument, NULL, 'f' },
		CLI_CA_OPTIONS
		{ NULL, 0, NULL, 0 }
	};
	json_t *caopts = json_object(), *req;
	int ch, li = 0, activate = 0, retire = 0, force = 0;

	while ((ch = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (ch) {
		case 'a':
			activate = 1;
			break;
		case 'R':
			retire = 1;
			break;
		case 'f':
			force = 1;
			break;
		case 'C':
			if (cli_ca_opt(caopts, opts[li].name, optarg) != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || activate + retire > 1 ||
	    (force && !retire && !activate) ||
	    ((activate || retire) && json_object_size(caopts) != 0)) {
		json_decref(caopts);
		return cli_usage(cli_current(), "use one of: ca rotate "
		    "[CA options], --activate [--force], --retire-old "
		    "[--force]");
	}
	if (activate) {
		json_decref(caopts);
		req = json_pack("{s:b}", "force", force);
		return cli_run(c, "ca.activate", req, render_rotate);
	}
	if (retire) {
		json_decref(caopts);
		req = json_pack("{s:b}", "force", force);
		return cli_run(c, "ca.retire", req, render_rotate);
	}
	req = json_pack("{s:o}", "options", caopts);
	return cli_run(c, "ca.rotate", req, render_rotate);
usage:
	json_decref(caopts);
	return CUST_EXIT_USAGE;
}

static void
render_push_roots(struct cli *c, json_t *r)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(r, "items"), i, it)
		if (!c->quiet || strcmp(cli_str(it, "result"), "ok") != 0)
			printf("%s: %s: %s\n", cli_str(it, "fqdn"),
			    cli_str(it, "result"), cli_str(it, "detail"));
	printf("%lld device(s) trust every root of the bundle, %lld failed\n",
	    cli_num(r, "ok"), cli_num(r, "failed"));
}

static int
push_roots_ok(json_t *r)
{
	return cli_num(r, "failed") == 0;
}

/* ca push-roots FQDN... | --all: exit 1 when a device failed. */
static int
cmd_push_roots(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object(), *fq = json_array();
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'a') {
			json_decref(req);
			json_decref(fq);
			return CUST_EXIT_USAGE;
		}
		json_object_set_new(req, "all", json_true());
	}
	for (; optind < argc; optind++)
		json_array_append_new(fq, ops_text(argv[optind]));
	if ((json_array_size(fq) > 0) == (json_object_get(req, "all") !=
	    NULL)) {
		json_decref(req);
		json_decref(fq);
		return cli_usage(cli_current(), "give FQDNs or --all");
	}
	json_object_set_new(req, "fqdns", fq);
	return cli_run_outcome(c, "ca.push-roots", req, render_push_roots,
	    push_roots_ok);
}

static void
render_server_renew(struct cli *c, json_t *resp)
{
	(void)c;
	if (!json_is_true(json_object_get(resp, "renewed"))) {
		printf("the service certificate is not due for renewal\n");
		return;
	}
	printf("tls/server.crt and tls/server.key renewed under generation "
	    "%lld (%lld superseded); custodyd reloads them\n", cli_num(resp,
	    "generation"), cli_num(resp, "superseded"));
}

static int
cmd_renew_server(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "before", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int64_t before;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'b' || config_parse_duration(optarg, 0,
		    3650 * 86400LL, &before) != CUST_OK) {
			json_decref(req);
			return cli_usage(cli_current(), "ca renew-server "
			    "[--before DURATION]");
		}
		json_object_set_new(req, "before", json_integer(before));
	}
	if (optind != argc) {
		json_decref(req);
		return cli_usage(cli_current(), "ca renew-server "
		    "[--before DURATION]");
	}
	return cli_run(c, "ca.server-renew", req, render_server_renew);
}

const struct cli_cmd cli_ca_cmds[] = {
	{ "ca", "show", cmd_ca_show, 0, "",
	  "list CA generations and their states" },
	{ "ca", "bundle", cmd_bundle, 0, "[-o FILE [--force]]",
	  "the trust bundle (PEM roots) and its version" },
	{ "ca", "crl", cmd_crl, 0,
	  "[-o FILE [--force]] [--pem] [--generation N] [--root] [--all] "
	  "[--refresh]",
	  "the current CRL (DER unless --pem); --refresh makes due ones again" },
	{ "ca", "rotate", cmd_rotate, 0,
	  "[CA options] | --activate [--force] | --retire-old [--force]",
	  "root rollover: new generation, activate it, retire the old" },
	{ "ca", "push-roots", cmd_push_roots, 0, "FQDN... | --all",
	  "install every root of the bundle on TLS-provisioned devices" },
	{ "ca", "renew-server", cmd_renew_server, 0, "[--before DURATION]",
	  "renew the service TLS certificate (now, or when due)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

/* -- console --------------------------------------------------------- */

/* The client certificate commands: console add|renew here, staff
 * add|renew (cli_staff.c). */
#define CLIENT_RENEW	0x1	/* --csr F allowed; the holder exists */
#define CLIENT_ROLE	0x2	/* --role R (staff add) */

static int
console_done(struct cli *c, json_t *resp, void *arg)
{
	struct issue_out *io = arg;
	char *paths[3] = { NULL, NULL, NULL }, *chain;
	json_t *o;
	size_t k;
	int r, i, key = json_object_get(resp, "key") != NULL;

	if ((chain = out_path(io->dir, io->name, "-chain.pem")) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	else if (key)
		r = issue_files(resp, io, "certificate", 0, chain, paths);
	else if ((paths[0] = out_path(io->dir, io->name, ".crt")) == NULL)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	else if ((r = put_str(io->dfd, paths[0], resp, "certificate", 0644,
	    io->force)) == CUST_OK && (r = put_str(io->dfd, chain, resp,
	    "chain", 0644, io->force)) != CUST_OK)
		(void)unlinkat(io->dfd, leaf_of(paths[0]), 0);
	/* A new key that could not be saved: its certificate is revoked (a
	 * first issue frees the name again; a renewal only that serial);
	 * one that was is delivered (cert.delivered). */
	if (r != CUST_OK && key)
		r = revoke_lost(c, resp, io->renew ? NULL : io->name,
		    io->revoke_op, r);
	else if (r == CUST_OK && key)
		r = delivered(c, resp);
	if (r == CUST_OK && !c->json) {
		printf("%s %s: serial %s, valid until %s\nwrote %s, %s%s%s\n",
		    io->what, io->name, cli_str(resp, "serial"),
		    cli_str(resp, "not_after"), paths[0], key ? paths[1] : "",
		    key ? " (0600), " : "", chain);
		json_array_foreach(json_object_get(resp, "superseded"), k, o) {
			json_t *w = json_pack("{s:O}", "s", o);

			printf("revoked %s (superseded)\n", cli_str(w, "s"));
			json_decref(w);
		}
		json_array_foreach(json_object_get(resp, "supersedes"), k, o)
			printf("%s: superseded once %s is used, at the latest "
			    "%s\n", cli_str(o, "serial"), cli_str(resp,
			    "serial"), cli_str(o, "due"));
	}
	if (r == CUST_OK && c->json && json_object_set_new(resp, "files",
	    json_pack("[ooo]", ops_text(paths[0]), key ? ops_text(paths[1]) :
	    json_null(), ops_text(chain))) != 0)
		r = cust_fail(CUST_E_NOMEM, "out of memory");
	for (i = 0; i < 3; i++)
		free(paths[i]);
	free(chain);
	return r;
}

/*
 * cert issue FQDN, console add|renew NAME, staff add|renew NAME: a key
 * made by custody (or, renewing, the key of --csr F), files written into
 * -o DIR (checked before anything is issued).
 */
static int
issue_like(struct cli *c, int argc, char **argv, const char *op,
    unsigned flags)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "days", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "csr", required_argument, NULL, 'c' },
		{ "role", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const drop_issue[] = { "key", "pkcs12", NULL };
	static const char *const drop_console[] = { "key", NULL };
	static const char *const ext_issue[] = { ".crt", ".key", ".p12" };
	static const char *const ext_console[] = { ".crt", ".key",
	    "-chain.pem" };
	int console = strcmp(op, "cert.issue") != 0, staff = strncmp(op,
	    "staff.", 6) == 0, r, ch;
	struct issue_out io = { ".", NULL, 0, -1, staff ? "staff" : "console",
	    staff ? "staff.revoke" : "console.revoke", flags & CLIENT_RENEW };
	char lname[CA_NAME_MAX + 1];
	json_t *req = json_object();

	while ((ch = getopt_long(argc, argv, "o:k:d:f", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			io.dir = optarg;
			break;
		case 'f':
			io.force = 1;
			break;
		case 'k':
			json_object_set_new(req, "key_type",
			    ops_text(optarg));
			break;
		case 'd':
			if (console || cli_opt_num(req, "days", optarg, 1, 3650) !=
			    0)
				goto usage;
			break;
		case 'c':
			if (!(flags & CLIENT_RENEW))
				goto usage;
			if ((r = add_csr(req, optarg)) != CUST_OK) {
				json_decref(req);
				return cli_error(c, r);
			}
			break;
		case 'r':
			if (!(flags & CLIENT_ROLE))
				goto usage;
			json_object_set_new(req, "role", ops_text(optarg));
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1) {
		json_decref(req);
		return cli_usage(cli_current(), "give exactly one %s",
		    console ? "NAME" : "FQDN");
	}
	if ((flags & CLIENT_ROLE) && json_object_get(req, "role") == NULL) {
		json_decref(req);
		return cli_usage(cli_current(), "--role admin|auditor is "
		    "required");
	}
	io.name = argv[optind];
	/* Console and staff names are case-insensitive and issued in lower
	 * case: the files are named as the certificate is. */
	if (console && strlen(io.name) <= CA_NAME_MAX) {
		snprintf(lname, sizeof(lname), "%s", io.name);
		io.name = util_lower(lname);
	}
	if (!console && util_valid_fqdn(io.name) != CUST_OK) {
		json_decref(req);
		return cli_usage(cli_current(), "'%s' is not a valid FQDN",
		    io.name);
	}
	/* Bad console names are refused (and audited) by the operation;
	 * only look for files when the name can be a file name (a name over
	 * the bound made "File name too long", exit 5, unaudited). */
	if (strchr(io.name, '/') == NULL && io.name[0] != '.' &&
	    (!console || strlen(io.name) <= CA_NAME_MAX) &&
	    (r = out_ready(c, io.dir, io.name, console ? ext_console :
	    ext_issue, 3, io.force, &io.dfd)) != CUST_OK) {
		json_decref(req);
		return cli_error(c, r);
	}
	json_object_set_new(req, console ? "name" : "fqdn",
	    json_string(io.name));
	/* A key made by custody exists only in the reply until the files are
	 * written (a CSR's key is the client's). */
	if (json_object_get(req, "csr") == NULL &&
	    json_object_get(req, "csr_der") == NULL)
		json_object_set_new(req, "deliver", json_true());
	return out_close(io.dfd, run_then(c, op, req, console ? console_done :
	    issue_done, &io, console ? drop_console : drop_issue));
usage:
	json_decref(req);
	return cli_usage(cli_current(), "bad option");
}

int
cli_client_cert(struct cli *c, int argc, char **argv, const char *op)
{
	unsigned flags = strstr(op, ".renew") != NULL ? CLIENT_RENEW :
	    strcmp(op, "staff.add") == 0 ? CLIENT_ROLE : 0;

	return issue_like(c, argc, argv, op, flags);
}

static int
cmd_issue(struct cli *c, int argc, char **argv)
{
	return issue_like(c, argc, argv, "cert.issue", 0);
}

static int
cmd_console_add(struct cli *c, int argc, char **argv)
{
	return cli_client_cert(c, argc, argv, "console.add");
}

static int
cmd_console_renew(struct cli *c, int argc, char **argv)
{
	return cli_client_cert(c, argc, argv, "console.renew");
}

static void
render_consoles(struct cli *c, json_t *resp, int first)
{
	json_t *o;
	size_t i;

	(void)c;
	if (first)
		printf("%-24s %-8s %-32s %-21s %s\n", "NAME", "STATE", "SERIAL",
		    "NOT_AFTER", "RENEW");
	json_array_foreach(json_object_get(resp, "items"), i, o) {
		printf("%-24s %-8s %-32s %-21s %s", cli_str(o, "name"),
		    cli_str(o, "state"), cli_str(o, "serial"),
		    cli_str(o, "not_after"), json_is_true(json_object_get(o,
		    "renew_due")) ? "due" : "-");
		cli_supersede_print(o, " ");
		putchar('\n');
	}
}

static int
cmd_console_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *req = json_object();
	int ch;

	while ((ch = getopt_long(argc, argv, "l:A:", opts, NULL)) != -1) {
		if ((ch == 'l' && cli_opt_num(req, "limit", optarg, 1, OPS_LIST_MAX)
		    == 0) || (ch == 'A' && cli_opt_num(req, "after", optarg, 0,
		    LONG_MAX) == 0))
			continue;
		json_decref(req);	/* cli_opt_num() or getopt said why */
		return CUST_EXIT_USAGE;
	}
	return cli_list_tail(c, argc, argv, "console.list", req, "items", render_consoles);
}

static void
render_console_revoke(struct cli *c, json_t *resp)
{
	json_t *s;
	size_t i;

	printf("console %s revoked", cli_str(resp, "name"));
	json_array_foreach(json_object_get(resp, "revoked"), i, s)
		printf("%s%s", i ? ", " : "; certificates ",
		    json_string_value(s));
	printf("\n");
	cli_render_directory(c, resp, cli_str(resp, "name"), "disabled");
}

int
cli_revoke_cmd(struct cli *c, int argc, char **argv, const char *op,
    void (*render)(struct cli *c, json_t *resp))
{
	return revoke_cmd(c, argc, argv, "name", op, render);
}

static int
cmd_console_revoke(struct cli *c, int argc, char **argv)
{
	return revoke_cmd(c, argc, argv, "name", "console.revoke",
	    render_console_revoke);
}

const struct cli_cmd cli_console_cmds[] = {
	{ "console", "add", cmd_console_add, 0,
	  "NAME [-o DIR] [--force] [--key-type T]",
	  "issue a console client certificate (NAME.crt/.key/-chain.pem)" },
	{ "console", "renew", cmd_console_renew, 0,
	  "NAME [--csr F | --key-type T] [-o DIR] [--force]",
	  "new certificate for a console; the old ones superseded" },
	{ "console", "list", cmd_console_list, 0, "[--limit N [--after ID]]",
	  "list consoles and their certificates" },
	{ "console", "revoke", cmd_console_revoke, 0,
	  "NAME [--reason REASON]", "revoke a console's certificates" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

/* -- init ------------------------------------------------------------ */

int
cli_ca_opt(json_t *opts, const char *name, const char *value)
{
	if (ca_opt_set(opts, name, value) != CUST_OK) {
		cli_usage(cli_current(), "%s", cust_errmsg());
		return -1;
	}
	return 0;
}

int
cli_ca_init(struct cli *c, json_t *opts)
{
	json_t *resp = NULL, *root;
	int r;

	r = ca_init(c->st, opts, c->actor, &resp);
	json_decref(opts);
	if (r != CUST_OK)
		return cli_error(c, r);
	root = json_object_get(resp, "root");
	if (!c->json && !c->quiet) {
		printf("CA generation 1 (%s, %s, profile %s)\n",
		    cli_str(resp, "key_type"), cli_str(resp, "digest"),
		    cli_str(resp, "profile"));
		printf("  root     %s\n  sha256   %s\n", cli_str(root, "subject"),
		    cli_str(root, "sha256"));
		printf("  bundle   %s/ca/bundle.pem (version %.16s)\n",
		    c->state_dir, cli_str(resp, "bundle_version"));
		printf("  service  %s/tls/server.crt, admin %s/admin/admin.crt\n",
		    c->state_dir, c->state_dir);
	}
	json_decref(resp);
	return CUST_EXIT_OK;
}
