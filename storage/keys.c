#include "storage/keys.h"

#include <stdio.h>
#include <string.h>

static char prefix[64] = "onair:";

void keys_init(const char *p) {
    snprintf(prefix, sizeof prefix, "%s", p);
}

const char *keys_prefix(void) {
    return prefix;
}

size_t key_entity(char *out, const char *kind, const char *id, size_t idlen, const char *suffix) {
    int n =
        snprintf(out, KEY_MAX, "%s{%s:%.*s}%s", prefix, kind, (int)idlen, id, suffix ? suffix : "");
    return n > 0 && n < KEY_MAX ? (size_t)n : 0;
}

const char *key_entity_arena(arena *a, const char *kind, const char *id, size_t idlen,
                             size_t *len) {
    size_t plen = strlen(prefix), klen = strlen(kind);
    char *out = arena_alloc(a, plen + klen + idlen + 4), *o = out;
    memcpy(o, prefix, plen);
    o += plen;
    *o++ = '{';
    memcpy(o, kind, klen);
    o += klen;
    *o++ = ':';
    memcpy(o, id, idlen);
    o += idlen;
    *o++ = '}';
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

size_t key_named(char *out, const char *name) {
    int n = snprintf(out, KEY_MAX, "%s%s", prefix, name);
    return n > 0 && n < KEY_MAX ? (size_t)n : 0;
}
