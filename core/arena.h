/* Per-request memory pool.
 *
 * An arena hands out memory that lives until arena_reset()/arena_destroy():
 * one request's parsed headers, JSON tokens and response scratch all come from
 * it and are released together.  Chunks come from a small process-wide cache so
 * a steady stream of requests does not call malloc.  Single-threaded: never
 * touch an arena from the libuv thread pool.
 *
 * Allocation failure aborts the process (as Redis' zmalloc does): a server that
 * cannot get 4 KiB has no useful way to continue. */
#ifndef ONAIR_ARENA_H
#define ONAIR_ARENA_H

#include <stddef.h>

#define ARENA_CHUNK_SIZE 4096

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head; /* newest chunk first */
    char *cur;         /* next free byte in head */
    char *end;         /* end of head's usable space */
} arena;

/* A zeroed arena is valid and owns nothing until the first allocation. */
void arena_init(arena *a);

/* Returns n bytes aligned to 16, never NULL. */
void *arena_alloc(arena *a, size_t n);

/* Like arena_alloc, but zero-filled. */
void *arena_calloc(arena *a, size_t n);

/* Copies s[0..n) and NUL-terminates it. */
char *arena_strndup(arena *a, const char *s, size_t n);

/* Releases everything; the arena may be used again afterwards. */
void arena_reset(arena *a);
#define arena_destroy arena_reset

/* Allocation helpers for long-lived objects; abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
