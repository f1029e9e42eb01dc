/* Pusher channel authorization (what POST /socket/auth answers pusher-js).
 *
 * A client subscribing to a private or presence channel posts its socket_id
 * and the channel name; the server answers {"auth":"<key>:<signature>"} (and,
 * for a presence channel, the channel_data it signed).  The signature is the
 * hex HMAC-SHA256, keyed with the app secret, of "<socket_id>:<channel_name>",
 * or of "<socket_id>:<channel_name>:<channel_data>" for a presence channel.
 * Who may subscribe to what is the route's business, not this module's.
 *
 * Uses libsodium: main() must have called sodium_init(). */
#ifndef ONAIR_PUSHER_H
#define ONAIR_PUSHER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define PUSHER_SOCKET_ID_MAX 64     /* ours; Pusher's own ids are far shorter */
#define PUSHER_CHANNEL_NAME_MAX 164 /* Pusher's limit, prefix included */
#define PUSHER_SIGNATURE_HEX_LEN 64 /* HMAC-SHA256 in lowercase hex */

enum pusher_channel_kind {
    PUSHER_CHANNEL_PUBLIC,    /* no prefix: needs no authorization */
    PUSHER_CHANNEL_PRIVATE,   /* "private-": sign "<socket_id>:<channel_name>" */
    PUSHER_CHANNEL_ENCRYPTED, /* "private-encrypted-": also needs a shared_secret,
                                 which this server does not issue */
    PUSHER_CHANNEL_PRESENCE,  /* "presence-": sign with the channel_data too */
};

/* True when s[0..n) matches ^[0-9]+\.[0-9]+$ and n <= PUSHER_SOCKET_ID_MAX. */
bool pusher_socket_id_valid(const char *s, size_t n);

/* True when s[0..n) is a channel name Pusher accepts: 1 to
 * PUSHER_CHANNEL_NAME_MAX bytes of A-Z a-z 0-9 and _ - = @ , . ; */
bool pusher_channel_name_valid(const char *s, size_t n);

/* The kind of channel s[0..n) names, by its prefix.  Does not check the
 * name: call pusher_channel_name_valid() first. */
enum pusher_channel_kind pusher_channel_kind(const char *s, size_t n);

/* What a signature covers.  channel_data is NULL for a private channel; for
 * a presence channel it is the exact JSON text the response will carry. */
struct pusher_subscription {
    const char *socket_id;
    size_t socket_id_len;
    const char *channel;
    size_t channel_len;
    const char *channel_data;
    size_t channel_data_len;
};

/* Appends "<key>:<signature>" (strlen(key) + 1 + PUSHER_SIGNATURE_HEX_LEN
 * bytes, no NUL) to out: the "auth" value for sub, signed with `secret` (its
 * bytes as given, any length).  Signs whatever it is handed: validating the
 * socket id and the channel name is the caller's job. */
void pusher_auth(buf *out, const char *key, const char *secret,
                 const struct pusher_subscription *sub);

#endif
