/* A hash map from byte-string keys to pointers (chained, power-of-two
 * buckets, grows at load 1).  The map copies keys; values belong to the
 * caller.  Keys here come from authenticated callers (account ids), so a
 * plain FNV-1a hash is enough. */
#ifndef ONAIR_STRMAP_H
#define ONAIR_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_entry;

typedef struct strmap {
    struct strmap_entry **buckets;
    size_t nbuckets; /* 0 until the first insert */
    size_t count;
} strmap;

void strmap_init(strmap *m);

/* Frees the map's own memory (not the values). */
void strmap_free(strmap *m);

void *strmap_get(const strmap *m, const char *key, size_t len);

/* Sets key to value, replacing any earlier value. */
void strmap_put(strmap *m, const char *key, size_t len, void *value);

/* Removes key; returns its value, or NULL when absent. */
void *strmap_del(strmap *m, const char *key, size_t len);

#endif
