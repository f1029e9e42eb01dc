/* The key schema.  Every key starts with the configured prefix; keys of one
 * entity carry a hash tag so a script touching them stays within one slot:
 *
 *   <prefix>{gig:<id>}            an entity
 *   <prefix>{gig:<id>}:offers     something of that entity
 *   <prefix><name>                a process-wide structure (deadlines:<kind>, ...)
 *
 * Functions write into the caller's buffer and return the length, or 0 when it
 * does not fit (callers size buffers with KEY_MAX). */
#ifndef ONAIR_KEYS_H
#define ONAIR_KEYS_H

#include <stddef.h>

#include "core/arena.h"

#define KEY_MAX 512

void keys_init(const char *prefix);
const char *keys_prefix(void);

/* <prefix>{kind:id}[suffix] */
size_t key_entity(char *out, const char *kind, const char *id, size_t idlen, const char *suffix);

/* <prefix>{kind:id}, allocated in the arena: for ids that clients choose
 * and that may be longer than KEY_MAX allows (a Prosody session or JID of
 * 255 characters is up to 1020 bytes).  Sets *len. */
const char *key_entity_arena(arena *a, const char *kind, const char *id, size_t idlen, size_t *len);

/* <prefix>name */
size_t key_named(char *out, const char *name);

#endif
