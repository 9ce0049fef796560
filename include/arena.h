/* SPDX-License-Identifier: MIT */
/* include/arena.h - bump allocation: many small objects freed as a whole
 * (the YAML trees of ytree.h, a policy, a report). libc only. */
#ifndef CUST_ARENA_H
#define CUST_ARENA_H

#include <stddef.h>

struct arena;

/* A new empty arena (free with arena_free()); NULL on ENOMEM. */
struct arena *arena_new(void);
/* Free a and everything allocated in it; NULL is a no-op. */
void arena_free(struct arena *a);
/* n zeroed bytes, 16-byte aligned, owned by a; NULL on ENOMEM. */
void *arena_alloc(struct arena *a, size_t n);
/* Copy of s[0..n) plus a NUL, owned by a; NULL on ENOMEM. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);

#endif
