/* Media sessions for gig handshakes.  A provider turns (gig, party) into the
 * credentials a client joins the gig's one session with: the same session
 * for both parties, a token of the caller's own.
 *
 * Adding a provider is one file: define a `struct media_provider` and list it
 * in media.c's table. */
#ifndef ONAIR_MEDIA_H
#define ONAIR_MEDIA_H

#include "core/arena.h"
#include "protocol/json.h"

struct media_party {
    const char *gig_id;
    const char *account_id;
    const char *name; /* "First Last" */
};

struct media_provider {
    const char *name; /* ONAIR_MEDIA_PROVIDER */
    /* Checks the provider's settings at start-up: 0, or -1 with a log line. */
    int (*init)(void);
    /* Writes the members of the "stream" object: "id", "provider", "key",
     * "sessionId", "token".  Returns 0, or -1 when the provider cannot
     * answer now. */
    int (*credentials)(const struct media_party *who, json_writer *w, arena *a);
};

/* Selects ONAIR_MEDIA_PROVIDER; -1 (logged) when it is not built in. */
int media_init(const char *name);

/* The selected provider. */
const struct media_provider *media_provider(void);

#endif
