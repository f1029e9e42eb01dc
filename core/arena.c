#include "core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk *next;
    size_t size; /* usable bytes after the header */
    /* data follows, 16-aligned */
};

#define HDR_SIZE ((sizeof(arena_chunk) + 15) & ~(size_t)15)
#define CACHE_MAX 256 /* standard chunks kept for reuse: 1 MiB */

/* Standard-size chunks released by arena_reset, reused before malloc. */
static arena_chunk *chunk_cache;
static unsigned chunk_cache_len;

static void oom(size_t n) {
    fprintf(stderr, "onair: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t n) {
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

void arena_init(arena *a) {
    a->head = NULL;
    a->cur = a->end = NULL;
}

static arena_chunk *chunk_new(size_t size) {
    arena_chunk *c;
    if (size == ARENA_CHUNK_SIZE - HDR_SIZE && chunk_cache) {
        c = chunk_cache;
        chunk_cache = c->next;
        chunk_cache_len--;
        return c;
    }
    c = xmalloc(HDR_SIZE + size);
    c->size = size;
    return c;
}

void *arena_alloc(arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->cur) >= n && a->cur) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
    size_t std = ARENA_CHUNK_SIZE - HDR_SIZE;
    if (n > std / 4) {
        /* Large allocation: its own chunk, linked behind the head so the
         * head's remaining space stays usable. */
        arena_chunk *c = chunk_new(n);
        char *data = (char *)c + HDR_SIZE;
        if (a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = NULL;
            a->head = c;
            a->cur = a->end = data + n;
        }
        return data;
    }
    arena_chunk *c = chunk_new(std);
    c->next = a->head;
    a->head = c;
    a->cur = (char *)c + HDR_SIZE + n;
    a->end = (char *)c + HDR_SIZE + std;
    return (char *)c + HDR_SIZE;
}

void *arena_calloc(arena *a, size_t n) {
    return memset(arena_alloc(a, n), 0, n);
}

char *arena_strndup(arena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_reset(arena *a) {
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        if (c->size == ARENA_CHUNK_SIZE - HDR_SIZE && chunk_cache_len < CACHE_MAX) {
            c->next = chunk_cache;
            chunk_cache = c;
            chunk_cache_len++;
        } else {
            free(c);
        }
        c = next;
    }
    arena_init(a);
}
