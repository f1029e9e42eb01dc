#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

struct strmap_entry {
    struct strmap_entry *next;
    uint64_t hash;
    void *value;
    size_t len;
    char key[];
};

static uint64_t hash_of(const char *key, size_t len) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

void strmap_init(strmap *m) {
    memset(m, 0, sizeof *m);
}

void strmap_free(strmap *m) {
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct strmap_entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(m->buckets);
    strmap_init(m);
}

static struct strmap_entry **slot(const strmap *m, const char *key, size_t len, uint64_t h) {
    struct strmap_entry **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && !((*p)->hash == h && (*p)->len == len && memcmp((*p)->key, key, len) == 0))
        p = &(*p)->next;
    return p;
}

void *strmap_get(const strmap *m, const char *key, size_t len) {
    if (!m->count)
        return NULL;
    struct strmap_entry *e = *slot(m, key, len, hash_of(key, len));
    return e ? e->value : NULL;
}

static void grow(strmap *m) {
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct strmap_entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct strmap_entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void strmap_put(strmap *m, const char *key, size_t len, void *value) {
    if (m->count >= m->nbuckets)
        grow(m);
    uint64_t h = hash_of(key, len);
    struct strmap_entry **p = slot(m, key, len, h);
    if (*p) {
        (*p)->value = value;
        return;
    }
    struct strmap_entry *e = xmalloc(sizeof *e + len);
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->len = len;
    memcpy(e->key, key, len);
    *p = e;
    m->count++;
}

void *strmap_del(strmap *m, const char *key, size_t len) {
    if (!m->count)
        return NULL;
    struct strmap_entry **p = slot(m, key, len, hash_of(key, len));
    struct strmap_entry *e = *p;
    if (!e)
        return NULL;
    void *v = e->value;
    *p = e->next;
    free(e);
    m->count--;
    return v;
}
