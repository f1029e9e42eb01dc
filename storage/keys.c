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

size_t key_named(char *out, const char *name) {
    int n = snprintf(out, KEY_MAX, "%s%s", prefix, name);
    return n > 0 && n < KEY_MAX ? (size_t)n : 0;
}
