/* SPDX-License-Identifier: MIT */
/* src/directory/keytab.c - keytab file images, made and read in sodium
 * memory.
 *
 * custody writes the keytabs it hands out itself rather than through
 * krb5's FILE: keytab type: that type writes in place (a reader could see
 * half a file), creates the file with the process umask, and keeps key
 * bytes in ordinary heap memory. The image is built in a secret buffer
 * and written with util_write_file_at() (temp file, fsync, rename).
 *
 * Format 0x0502 (MIT's, read by every Kerberos implementation):
 *   2 bytes 0x05 0x02, then entries, each
 *   int32 size of what follows (big-endian, as every integer here),
 *   uint16 number of components, counted string realm, counted string
 *   per component (uint16 length + bytes), uint32 name type, uint32
 *   timestamp, uint8 kvno (low 8 bits), uint16 enctype, counted string
 *   key, uint32 kvno (the full one).
 * A negative size is a hole (a deleted entry) and is skipped.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "directory.h"
#include "err.h"
#include "seal.h"

#define KT_NAME_MAX	1024
#define KT_COMP_MAX	8
#define KT_ENTRIES_MAX	4096
#define NT_PRINCIPAL	1

struct kt_entry {
	char *principal;	/* NAME/INSTANCE@REALM, escaped */
	uint32_t ts, kvno;
	int32_t enctype;
	struct seal_secret *key;
};

struct dir_keytab {
	struct kt_entry *e;
	size_t n, cap;
};

struct dir_keytab *
dir_keytab_new(void)
{
	return calloc(1, sizeof(struct dir_keytab));
}

void
dir_keytab_free(struct dir_keytab *kt)
{
	size_t i;

	if (kt == NULL)
		return;
	for (i = 0; i < kt->n; i++) {
		free(kt->e[i].principal);
		seal_secret_free(kt->e[i].key);
	}
	free(kt->e);
	free(kt);
}

size_t
dir_keytab_count(const struct dir_keytab *kt)
{
	return kt->n;
}

int
dir_keytab_has_kvno(const struct dir_keytab *kt, int kvno)
{
	size_t i;

	for (i = 0; i < kt->n; i++)
		if (kt->e[i].kvno == (uint32_t)kvno)
			return 1;
	return 0;
}

int
dir_keytab_max_kvno(const struct dir_keytab *kt, int below)
{
	uint32_t m = 0;
	size_t i;

	for (i = 0; i < kt->n; i++)
		if (kt->e[i].kvno > m && (below <= 0 ||
		    kt->e[i].kvno < (uint32_t)below))
			m = kt->e[i].kvno;
	return m > 0x7fffffffu ? 0x7fffffff : (int)m;
}

int
dir_keytab_has_enctype(const struct dir_keytab *kt, int kvno, int32_t enctype)
{
	size_t i;

	for (i = 0; i < kt->n; i++)
		if (kt->e[i].kvno == (uint32_t)kvno &&
		    kt->e[i].enctype == enctype)
			return 1;
	return 0;
}

size_t
dir_keytab_kvnos(const struct dir_keytab *kt)
{
	size_t i, j, n = 0;

	for (i = 0; i < kt->n; i++) {
		for (j = 0; j < i && kt->e[j].kvno != kt->e[i].kvno; j++)
			;
		n += j == i;
	}
	return n;
}

/* Append an entry; takes principal (a new string) and key. */
static int
push(struct dir_keytab *kt, char *principal, uint32_t ts, uint32_t kvno,
    int32_t enctype, struct seal_secret *key)
{
	struct kt_entry *ne;

	if (kt->n == KT_ENTRIES_MAX) {
		free(principal);
		seal_secret_free(key);
		return cust_fail(CUST_E_TOOBIG, "a keytab holds at most %d "
		    "keys", KT_ENTRIES_MAX);
	}
	if (kt->n == kt->cap) {
		size_t nc = kt->cap ? kt->cap * 2 : 8;

		if ((ne = realloc(kt->e, nc * sizeof(*ne))) == NULL) {
			free(principal);
			seal_secret_free(key);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		kt->e = ne;
		kt->cap = nc;
	}
	kt->e[kt->n++] = (struct kt_entry){ principal, ts, kvno, enctype,
	    key };
	return CUST_OK;
}

/*
 * Split NAME[/INSTANCE...]@REALM into components: comp[i] = start and
 * length inside buf (unescaped copies there), *ncomp, *realm. '\' takes
 * the next character literally.
 */
struct pname {
	char buf[KT_NAME_MAX];
	const char *comp[KT_COMP_MAX + 1];	/* +1: the realm */
	size_t len[KT_COMP_MAX + 1];
	size_t ncomp;	/* components, the realm not counted */
};

static int
split_name(const char *name, struct pname *pn)
{
	const char *s = name;
	size_t o = 0, start = 0, n = 0;
	int realm = 0;

	memset(pn, 0, sizeof(*pn));
	for (; *s != '\0'; s++) {
		char c = *s;

		if (c == '\\' && s[1] != '\0') {
			c = *++s;
		} else if ((c == '/' && !realm) || (c == '@' && !realm)) {
			if (n == KT_COMP_MAX || o == start)
				goto bad;
			pn->comp[n] = pn->buf + start;
			pn->len[n++] = o - start;
			start = o;
			realm = c == '@';
			continue;
		} else if (c == '@' || c == '/') {
			goto bad;	/* in the realm */
		}
		if (o + 1 >= sizeof(pn->buf))
			goto bad;
		pn->buf[o++] = c;
	}
	if (!realm || o == start)
		goto bad;
	pn->comp[n] = pn->buf + start;
	pn->len[n] = o - start;
	pn->ncomp = n;
	return CUST_OK;
bad:
	return cust_fail(CUST_E_INVAL, "'%.200s' is not a principal "
	    "NAME[/INSTANCE]@REALM", name);
}

int
dir_keytab_add(struct dir_keytab *kt, const char *principal,
    const struct dir_keys *keys, uint32_t ts)
{
	struct pname pn;
	struct seal_secret *k;
	char *p;
	size_t i;
	int r;

	if ((r = split_name(principal, &pn)) != CUST_OK)
		return r;
	for (i = 0; i < keys->n; i++) {
		k = seal_secret_dup(seal_secret_data(keys->keys[i]),
		    seal_secret_len(keys->keys[i]));
		if ((p = strdup(principal)) == NULL || k == NULL) {
			free(p);
			seal_secret_free(k);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		if ((r = push(kt, p, ts, (uint32_t)keys->kvno,
		    keys->enctypes[i], k)) != CUST_OK)
			return r;
	}
	return CUST_OK;
}

int
dir_keytab_copy_kvno(struct dir_keytab *dst, const struct dir_keytab *src,
    int kvno)
{
	struct seal_secret *k;
	char *p;
	size_t i;
	int r;

	for (i = 0; i < src->n; i++) {
		if (src->e[i].kvno != (uint32_t)kvno)
			continue;
		k = seal_secret_dup(seal_secret_data(src->e[i].key),
		    seal_secret_len(src->e[i].key));
		if ((p = strdup(src->e[i].principal)) == NULL || k == NULL) {
			free(p);
			seal_secret_free(k);
			return cust_fail(CUST_E_NOMEM, "out of memory");
		}
		if ((r = push(dst, p, src->e[i].ts, src->e[i].kvno,
		    src->e[i].enctype, k)) != CUST_OK)
			return r;
	}
	return CUST_OK;
}

/* ---- writing ---- */

static void
put16(unsigned char **p, uint32_t v)
{
	(*p)[0] = (unsigned char)(v >> 8);
	(*p)[1] = (unsigned char)v;
	*p += 2;
}

static void
put32(unsigned char **p, uint32_t v)
{
	(*p)[0] = (unsigned char)(v >> 24);
	(*p)[1] = (unsigned char)(v >> 16);
	(*p)[2] = (unsigned char)(v >> 8);
	(*p)[3] = (unsigned char)v;
	*p += 4;
}

static void
putstr(unsigned char **p, const void *s, size_t n)
{
	put16(p, (uint32_t)n);
	memcpy(*p, s, n);
	*p += n;
}

int
dir_keytab_serialize(const struct dir_keytab *kt, struct seal_secret **out)
{
	struct seal_secret *img = NULL;
	struct pname pn;
	unsigned char *p;
	size_t i, c, total = 2, size;
	int r;

	*out = NULL;
	for (i = 0; i < kt->n; i++) {
		if ((r = split_name(kt->e[i].principal, &pn)) != CUST_OK)
			return r;
		size = 2 + 4 + 4 + 1 + 2 + 2 + seal_secret_len(kt->e[i].key) +
		    4;
		for (c = 0; c <= pn.ncomp; c++)
			size += 2 + pn.len[c];
		total += 4 + size;
	}
	if ((img = seal_secret_new(total)) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	p = seal_secret_data(img);
	*p++ = 0x05;
	*p++ = 0x02;
	for (i = 0; i < kt->n; i++) {
		const struct kt_entry *e = &kt->e[i];

		(void)split_name(e->principal, &pn);
		size = 2 + 4 + 4 + 1 + 2 + 2 + seal_secret_len(e->key) + 4;
		for (c = 0; c <= pn.ncomp; c++)
			size += 2 + pn.len[c];
		put32(&p, (uint32_t)size);
		put16(&p, (uint32_t)pn.ncomp);
		putstr(&p, pn.comp[pn.ncomp], pn.len[pn.ncomp]);	/* realm */
		for (c = 0; c < pn.ncomp; c++)
			putstr(&p, pn.comp[c], pn.len[c]);
		put32(&p, NT_PRINCIPAL);
		put32(&p, e->ts);
		*p++ = (unsigned char)(e->kvno & 0xff);
		put16(&p, (uint32_t)e->enctype & 0xffff);
		putstr(&p, seal_secret_data(e->key), seal_secret_len(e->key));
		put32(&p, e->kvno);
	}
	sodium_memzero(&pn, sizeof(pn));
	*out = img;
	return CUST_OK;
}

/* ---- reading ---- */

struct rd {
	const unsigned char *p;
	size_t n;
};

static int
get(struct rd *r, size_t n, const unsigned char **out)
{
	if (r->n < n)
		return 0;
	*out = r->p;
	r->p += n;
	r->n -= n;
	return 1;
}

static int
get16(struct rd *r, uint32_t *v)
{
	const unsigned char *b;

	if (!get(r, 2, &b))
		return 0;
	*v = (uint32_t)b[0] << 8 | b[1];
	return 1;
}

static int
get32(struct rd *r, uint32_t *v)
{
	const unsigned char *b;

	if (!get(r, 4, &b))
		return 0;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 1;
}

/* Append s[0..n) escaped ('/', '@', '\' get a '\') at o in buf. */
static int
esc(char *buf, size_t *o, const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || *o + 3 >= KT_NAME_MAX)
			return 0;
		if (s[i] == '/' || s[i] == '@' || s[i] == '\\')
			buf[(*o)++] = '\\';
		buf[(*o)++] = (char)s[i];
	}
	return 1;
}

static int
parse_entry(struct dir_keytab *kt, struct rd *r)
{
	const unsigned char *realm, *s, *key;
	uint32_t ncomp, rlen, l, nt, ts, enctype, klen, kvno32;
	const unsigned char *kvno8;
	char name[KT_NAME_MAX];
	struct seal_secret *k;
	size_t o = 0, c;
	char *p;

	if (!get16(r, &ncomp) || ncomp == 0 || ncomp > KT_COMP_MAX ||
	    !get16(r, &rlen) || rlen == 0 || !get(r, rlen, &realm))
		return 0;
	for (c = 0; c < ncomp; c++) {
		if (!get16(r, &l) || l == 0 || !get(r, l, &s))
			return 0;
		if (c > 0) {
			if (o + 1 >= sizeof(name))
				return 0;
			name[o++] = '/';
		}
		if (!esc(name, &o, s, l))
			return 0;
	}
	name[o++] = '@';
	if (!esc(name, &o, realm, rlen))
		return 0;
	name[o] = '\0';
	if (!get32(r, &nt) || !get32(r, &ts) || !get(r, 1, &kvno8) ||
	    !get16(r, &enctype) || !get16(r, &klen) || klen == 0 ||
	    !get(r, klen, &key))
		return 0;
	kvno32 = *kvno8;
	if (r->n >= 4) {
		uint32_t v;

		(void)get32(r, &v);
		if (v != 0)
			kvno32 = v;
	}
	(void)nt;
	k = seal_secret_dup(key, klen);
	if ((p = strdup(name)) == NULL || k == NULL) {
		free(p);
		seal_secret_free(k);
		return -1;
	}
	switch (push(kt, p, ts, kvno32, (int32_t)(int16_t)enctype, k)) {
	case CUST_OK:
		return 1;
	case CUST_E_TOOBIG:
		return -2;	/* push() said so */
	default:
		return -1;
	}
}

int
dir_keytab_parse(const unsigned char *buf, size_t len,
    struct dir_keytab **out)
{
	struct dir_keytab *kt;
	struct rd r = { buf, len }, er;
	const unsigned char *b;
	uint32_t size;
	int ok;

	*out = NULL;
	if (len < 2 || buf[0] != 0x05 || buf[1] != 0x02)
		return cust_fail(CUST_E_PARSE, "not a keytab (format 0x0502)");
	if ((kt = dir_keytab_new()) == NULL)
		return cust_fail(CUST_E_NOMEM, "out of memory");
	r.p += 2;
	r.n -= 2;
	while (r.n > 0) {
		if (!get32(&r, &size))
			goto bad;
		if (size & 0x80000000u) {	/* a hole */
			size = 0u - size;	/* its length, unsigned */
			if (!get(&r, size, &b))
				goto bad;
			continue;
		}
		if (size == 0)
			break;
		if (!get(&r, size, &b))
			goto bad;
		er.p = b;
		er.n = size;
		if ((ok = parse_entry(kt, &er)) < 0) {
			dir_keytab_free(kt);
			return ok == -2 ? CUST_E_TOOBIG : cust_fail(CUST_E_NOMEM,
			    "out of memory");
		}
		if (ok == 0)
			goto bad;
	}
	*out = kt;
	return CUST_OK;
bad:
	dir_keytab_free(kt);
	return cust_fail(CUST_E_PARSE, "malformed keytab entry");
}
