/* Pusher channel authorization; see pusher.h.
 *
 * The signed string is fed to HMAC-SHA256 piece by piece (libsodium's
 * streaming interface) rather than assembled first: no copy of channel_data,
 * and no bound on its length to get wrong. */
#include "protocol/pusher.h"

#include <sodium.h>
#include <string.h>

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool pusher_socket_id_valid(const char *s, size_t n) {
    if (n > PUSHER_SOCKET_ID_MAX)
        return false;
    size_t i = 0;
    while (i < n && is_digit(s[i]))
        i++;
    if (i == 0 || i == n || s[i] != '.')
        return false;
    size_t frac = ++i;
    while (i < n && is_digit(s[i]))
        i++;
    return i == n && i > frac;
}

/* Pusher's channel name characters: letters, digits and _ - = @ , . ; */
static bool is_channel_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           (c != '\0' && strchr("_-=@,.;", c) != NULL);
}

bool pusher_channel_name_valid(const char *s, size_t n) {
    if (n == 0 || n > PUSHER_CHANNEL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_channel_char(s[i]))
            return false;
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *prefix) {
    size_t plen = strlen(prefix);
    return n >= plen && memcmp(s, prefix, plen) == 0;
}

enum pusher_channel_kind pusher_channel_kind(const char *s, size_t n) {
    if (has_prefix(s, n, "private-encrypted-"))
        return PUSHER_CHANNEL_ENCRYPTED;
    if (has_prefix(s, n, "private-"))
        return PUSHER_CHANNEL_PRIVATE;
    if (has_prefix(s, n, "presence-"))
        return PUSHER_CHANNEL_PRESENCE;
    return PUSHER_CHANNEL_PUBLIC;
}

static void mac_update(crypto_auth_hmacsha256_state *st, const char *s, size_t n) {
    crypto_auth_hmacsha256_update(st, (const unsigned char *)s, n);
}

void pusher_auth(buf *out, const char *key, const char *secret,
                 const struct pusher_subscription *sub) {
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    /* Any key length: a secret longer than SHA-256's block is hashed first,
     * as RFC 2104 requires. */
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    mac_update(&st, sub->socket_id, sub->socket_id_len);
    mac_update(&st, ":", 1);
    mac_update(&st, sub->channel, sub->channel_len);
    if (sub->channel_data) {
        mac_update(&st, ":", 1);
        mac_update(&st, sub->channel_data, sub->channel_data_len);
    }
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st); /* holds the key-derived pads */

    buf_appends(out, key);
    buf_appendc(out, ':');
    /* sodium_bin2hex writes a NUL after the digits: reserve room for it but
     * commit only the digits. */
    char *hex = buf_reserve(out, PUSHER_SIGNATURE_HEX_LEN + 1);
    sodium_bin2hex(hex, PUSHER_SIGNATURE_HEX_LEN + 1, mac, sizeof mac);
    buf_commit(out, PUSHER_SIGNATURE_HEX_LEN);
}
