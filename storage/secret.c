#include "storage/secret.h"

#include <sodium.h>
#include <string.h>

#include "core/log.h"
#include "storage/keys.h"

#define SECRET_BYTES 32

static uint8_t key[128];
static size_t key_len;
static bool fetching;

void secret_init(const uint8_t *configured, size_t len) {
    if (len && len <= sizeof key) {
        memcpy(key, configured, len);
        key_len = len;
    }
}

const uint8_t *secret_key(size_t *len) {
    *len = key_len;
    return key_len ? key : NULL;
}

static void on_secret(redisReply *reply, int err, void *ud) {
    fetching = false;
    if (err || !reply || reply->type != REDIS_REPLY_STRING || reply->len != 2 * SECRET_BYTES ||
        sodium_hex2bin(key, sizeof key, reply->str, reply->len, NULL, &key_len, NULL) != 0) {
        key_len = 0;
        log_error("secret", "cannot fetch the shared secret; retrying at the next connect");
        return;
    }
    log_warn("secret", "ONAIR_SECRET is not set: using the secret shared through Redis; set "
                       "ONAIR_SECRET in production");
}

void secret_on_ready(rds_client *redis) {
    if (key_len || fetching)
        return;
    uint8_t candidate[SECRET_BYTES];
    char hex[2 * SECRET_BYTES + 1], k[KEY_MAX];
    randombytes_buf(candidate, sizeof candidate);
    sodium_bin2hex(hex, sizeof hex, candidate, sizeof candidate);
    key_named(k, "secret");
    const char *argv[2] = {k, hex};
    if (rds_eval(redis, SCRIPT_secret_init, on_secret, NULL, 1, 2, argv, NULL) == 0)
        fetching = true;
}
