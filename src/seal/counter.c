/* SPDX-License-Identifier: MIT */
/* src/seal/counter.c - the rollback counter: DIR/seal/counter.
 *
 * The store cannot tell that it was replaced by an older copy of itself:
 * every row and the audit head of the copy carry valid MACs. So the newest
 * point of the audit chain that committed (its last seq and hash) is also
 * kept outside the store, beside the master key, MAC'd with a key derived
 * from the data key (context "rollback").
 *
 * The file has two slots of SLOTLEN bytes:
 *   magic "CUSTCTR1" (8) || seq (8, big-endian) || hash (32) || MAC (32)
 * MAC = BLAKE2b-256 keyed by K_rollback over the first 48 bytes. An update
 * writes the slot that does not hold the newest value and fdatasync()s it,
 * so a crash or a torn write leaves the other slot intact; a read takes the
 * valid slot with the highest seq. Updates are serialised by an flock on
 * the file and never move it backwards unless forced (init, accept-restore).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "err.h"
#include "seal.h"
#include "util.h"

#define MAGIC		"CUSTCTR1"
#define HASHLEN		SEAL_COUNTER_HASHLEN
#define BODYLEN		(8 + 8 + HASHLEN)
#define SLOTLEN		(BODYLEN + 32)
#define COUNTER_FILE	"seal/counter"
#define COUNTER_LOCK_WAIT_MS	3000
#define COUNTER_LOCK_POLL_MS	5

/*
 * The slots' MAC key (K_rollback), derived once per read or write and
 * held readable for it: one derivation, one hold and one wipe for the
 * two slots checked and the one written, instead of one each (six
 * mprotect(2) calls per MAC; custodyd's counter thread writes after
 * every audit batch).
 */
static int
key_get(struct seal *s, struct seal_secret **out)
{
	int r;

	if ((r = seal_derive(s, "rollback", 1, 32, out)) != CUST_OK)
		return r;
	seal_secret_hold(*out);
	return CUST_OK;
}

static void
key_put(struct seal_secret *k)
{
	if (k == NULL)
		return;
	seal_secret_release(k);
	seal_secret_free(k);
}

static void
slot_mac(struct seal_secret *k, const unsigned char body[BODYLEN],
    unsigned char mac[32])
{
	crypto_generichash(mac, 32, body, BODYLEN, seal_secret_data(k),
	    seal_secret_len(k));
}

static void
slot_make(struct seal_secret *k, int64_t seq,
    const unsigned char hash[HASHLEN], unsigned char slot[SLOTLEN])
{
	memcpy(slot, MAGIC, 8);
	util_be64_put(slot + 8, (uint64_t)seq);
	memcpy(slot + 16, hash, HASHLEN);
	slot_mac(k, slot, slot + BODYLEN);
}

/* 1 and *seq_out when slot is valid, 0 when not. */
static int
slot_parse(struct seal_secret *k, const unsigned char slot[SLOTLEN],
    int64_t *seq_out)
{
	unsigned char mac[32];
	uint64_t v;

	if (memcmp(slot, MAGIC, 8) != 0)
		return 0;
	slot_mac(k, slot, mac);
	if (sodium_memcmp(mac, slot + BODYLEN, 32) != 0)
		return 0;
	v = util_be64_get(slot + 8);
	if (v > INT64_MAX)
		return 0;
	*seq_out = (int64_t)v;
	return 1;
}

/* The newest valid slot of buf (n bytes read): index, or -1 when none. */
static int
newest(struct seal_secret *k, const unsigned char *buf, size_t n,
    int64_t *seq_out)
{
	int64_t seq = 0, best = -1;
	int i, idx = -1;

	for (i = 0; i < 2; i++) {
		if (n < (size_t)(i + 1) * SLOTLEN)
			break;
		if (slot_parse(k, buf + i * SLOTLEN, &seq) == 1 && seq > best) {
			best = seq;
			idx = i;
		}
	}
	*seq_out = best;
	return idx;
}

static ssize_t
read_all(int fd, unsigned char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = pread(fd, buf + off, len - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

int
seal_counter_read(struct seal *s, const char *dir, int64_t *seq_out,
    unsigned char hash_out[SEAL_COUNTER_HASHLEN])
{
	unsigned char buf[2 * SLOTLEN];
	struct seal_secret *k = NULL;
	struct stat sb;
	char *path;
	ssize_t n;
	int64_t seq = -1;
	int fd, idx = -1, r;

	*seq_out = 0;
	memset(hash_out, 0, HASHLEN);
	if ((path = util_path(dir, COUNTER_FILE)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		r = errno == ENOENT ? cust_fail(CUST_E_NOTFOUND, "no rollback "
		    "counter %s", path) : cust_fail(CUST_E_IO, "cannot open "
		    "the rollback counter %s: %s", path, strerror(errno));
		free(path);
		return r;
	}
	/* Others who could write it could put an older value back (with
	 * an older store). */
	if (fstat(fd, &sb) == -1) {
		r = cust_fail(CUST_E_IO, "cannot stat the rollback counter %s: "
		    "%s", path, strerror(errno));
		close(fd);
		free(path);
		return r;
	}
	if ((r = util_check_file(&sb, path)) != CUST_OK) {
		close(fd);
		free(path);
		return r;
	}
	n = read_all(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		r = cust_fail(CUST_E_IO, "cannot read the rollback counter "
		    "%s: %s", path, strerror(errno));
		free(path);
		return r;
	}
	if ((r = key_get(s, &k)) == CUST_OK)
		idx = newest(k, buf, (size_t)n, &seq);
	key_put(k);
	if (r == CUST_OK && idx < 0)
		r = cust_fail(CUST_E_DB, "the rollback counter %s is damaged "
		    "or belongs to another store", path);
	if (r == CUST_OK) {
		*seq_out = seq;
		memcpy(hash_out, buf + idx * SLOTLEN + 16, HASHLEN);
	}
	free(path);
	return r;
}

static int
sync_dir(const char *dir)
{
	char *d = util_path(dir, "seal");
	int fd, r = CUST_OK;

	if (d == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	if ((fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1)
		r = cust_fail(CUST_E_IO, "cannot sync %s: %s", d,
		    strerror(errno));
	if (fd != -1)
		close(fd);
	free(d);
	return r;
}

/*
 * The counter's lock, waited for at most COUNTER_LOCK_WAIT_MS: writers
 * hold it for one write and fdatasync, so a longer wait means a holder
 * that is stopped or hung (a custodyd under SIGSTOP), which must not hang
 * every other process. Callers treat a failure as a lagging counter.
 */
static int
lock_bounded(int fd, const char *path)
{
	int waited = 0;

	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return cust_fail(CUST_E_IO, "cannot lock the rollback "
			    "counter %s: %s", path, strerror(errno));
		if (waited >= COUNTER_LOCK_WAIT_MS)
			return cust_fail(CUST_E_UNAVAIL, "the rollback counter "
			    "%s has been locked by another process for %d ms "
			    "(is a custodyd or custodyctl stopped?)", path,
			    waited);
		usleep(COUNTER_LOCK_POLL_MS * 1000);
		waited += COUNTER_LOCK_POLL_MS;
	}
	return CUST_OK;
}

/*
 * A writer's handle (custodyd's counter thread writes after every audit
 * batch): the file stays open and K_rollback stays derived between
 * writes, so a write is a lock, a read, one hold of the key, a write, an
 * fdatasync and an unlock; opening, closing and deriving the key again
 * each time (with its mprotect(2) calls) cost a fifth of the thread's
 * CPU. Nothing read from the file is kept: each write reads both slots
 * again under the lock, as another process may have written since.
 */
struct seal_counter {
	struct seal *s;
	char *dir;
	char *path;
	int fd;				/* -1: open at the next write */
	struct seal_secret *key;	/* K_rollback, or NULL */
};

int
seal_counter_new(struct seal *s, const char *dir, struct seal_counter **out)
{
	struct seal_counter *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	c->s = s;
	c->fd = -1;
	if ((c->dir = strdup(dir)) == NULL ||
	    (c->path = util_path(dir, COUNTER_FILE)) == NULL) {
		seal_counter_free(c);
		return cust_fail(CUST_E_NOMEM, "out of memory");
	}
	*out = c;
	return CUST_OK;
}

void
seal_counter_free(struct seal_counter *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	if (c->key != NULL)
		seal_secret_free(c->key);
	free(c->path);
	free(c->dir);
	free(c);
}

/* c->fd open on the file that is DIR/seal/counter now: a file removed
 * since it was opened (st_nlink 0) is let go and the path opened again
 * (created when missing, as the first write creates it); *created_out
 * when it is empty. */
static int
counter_fd(struct seal_counter *c, int *created_out)
{
	struct stat sb;

	*created_out = 0;
	if (c->fd != -1 && (fstat(c->fd, &sb) == -1 || sb.st_nlink == 0)) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->fd == -1) {
		if ((c->fd = open(c->path, O_RDWR | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) == -1)
			return cust_fail(CUST_E_IO, "cannot open the rollback "
			    "counter %s: %s", c->path, strerror(errno));
		if (fstat(c->fd, &sb) == -1) {
			close(c->fd);
			c->fd = -1;
			return cust_fail(CUST_E_IO, "cannot open the rollback "
			    "counter %s: %s", c->path, strerror(errno));
		}
	}
	*created_out = sb.st_size == 0;
	return CUST_OK;
}

int
seal_counter_put(struct seal_counter *c, int64_t seq,
    const unsigned char hash[SEAL_COUNTER_HASHLEN], int force)
{
	unsigned char buf[2 * SLOTLEN], slot[SLOTLEN];
	ssize_t n;
	int64_t cur;
	int idx, created, locked = 0, r;

	if ((r = counter_fd(c, &created)) != CUST_OK)
		return r;
	if ((r = lock_bounded(c->fd, c->path)) != CUST_OK)
		goto out;
	locked = 1;
	if ((n = read_all(c->fd, buf, sizeof(buf))) < 0) {
		r = cust_fail(CUST_E_IO, "cannot read the rollback counter "
		    "%s: %s", c->path, strerror(errno));
		goto out;
	}
	if (c->key == NULL &&
	    (r = seal_derive(c->s, "rollback", 1, 32, &c->key)) != CUST_OK)
		goto out;
	seal_secret_hold(c->key);	/* not held over the fdatasync */
	idx = newest(c->key, buf, (size_t)n, &cur);
	/* Another process may have recorded a newer commit already. */
	if (!force && idx >= 0 && cur >= seq) {
		seal_secret_release(c->key);
		goto out;
	}
	slot_make(c->key, seq, hash, slot);
	seal_secret_release(c->key);
	/* Forced (a new or restored store): both slots, so that no older,
	 * higher value survives; else the slot without the newest value. */
	if (force || idx < 0) {
		memcpy(buf, slot, SLOTLEN);
		memcpy(buf + SLOTLEN, slot, SLOTLEN);
		n = pwrite(c->fd, buf, sizeof(buf), 0);
		if (n != (ssize_t)sizeof(buf))
			n = -1;
	} else {
		n = pwrite(c->fd, slot, SLOTLEN,
		    (off_t)(idx == 0 ? SLOTLEN : 0));
		if (n != SLOTLEN)
			n = -1;
	}
	if (n == -1 || fdatasync(c->fd) == -1) {
		r = cust_fail(CUST_E_IO, "cannot write the rollback counter "
		    "%s: %s", c->path, n == -1 && errno == 0 ? "short write" :
		    strerror(errno));
		goto out;
	}
	if (created)
		r = sync_dir(c->dir);
out:
	if (r != CUST_OK && c->fd != -1) {
		close(c->fd);	/* releases the lock; opened again next time */
		c->fd = -1;
	} else if (locked)
		(void)flock(c->fd, LOCK_UN);
	return r;
}

int
seal_counter_write(struct seal *s, const char *dir, int64_t seq,
    const unsigned char hash[SEAL_COUNTER_HASHLEN], int force)
{
	struct seal_counter *c;
	int r;

	if ((r = seal_counter_new(s, dir, &c)) != CUST_OK)
		return r;
	r = seal_counter_put(c, seq, hash, force);
	seal_counter_free(c);
	return r;
}
