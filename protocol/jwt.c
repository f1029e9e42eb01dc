/* HS256 JSON Web Tokens; see jwt.h.
 *
 * Verification order is chosen so that attacker-controlled bytes get as little
 * processing as possible before authentication: split, decode and check the
 * header (alg, typ, crit), then the signature, and only then decode and parse
 * the payload and check its claims. */
#include "protocol/jwt.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/base64.h"

/* base64url of {"alg":"HS256","typ":"JWT"}, the only header jwt_sign emits. */
#define JWT_HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_SIG_LEN crypto_auth_hmacsha256_BYTES
#define JWT_SIG_B64_LEN 43 /* b64url_encoded_len(32) */

/* sodium_init() is the application's job; this makes a forgotten call
 * harmless at the cost of one atomic load per token.  Racing first callers
 * may both call sodium_init(), which is thread-safe and idempotent. */
static atomic_bool sodium_ready;

static void ensure_sodium(void) {
    if (atomic_load_explicit(&sodium_ready, memory_order_acquire))
        return;
    if (sodium_init() < 0) {
        fprintf(stderr, "onair: sodium_init failed\n");
        abort();
    }
    atomic_store_explicit(&sodium_ready, true, memory_order_release);
}

/* HMAC-SHA256 of msg[0..n) with a key of any length (longer than the block
 * size is hashed first, as RFC 2104 requires). */
static void hs256(uint8_t mac[JWT_SIG_LEN], const uint8_t *key, size_t keylen, const char *msg,
                  size_t n) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st); /* holds the key-derived pads */
}

void jwt_sign(buf *out, const uint8_t *key, size_t keylen, const char *payload, size_t n) {
    ensure_sodium();
    size_t start = out->len;
    buf_append(out, JWT_HEADER_B64 ".", sizeof JWT_HEADER_B64);
    char *p = buf_reserve(out, b64url_encoded_len(n));
    buf_commit(out, b64url_encode(p, (const uint8_t *)payload, n));

    uint8_t mac[JWT_SIG_LEN];
    hs256(mac, key, keylen, out->data + start, out->len - start);
    buf_appendc(out, '.');
    p = buf_reserve(out, JWT_SIG_B64_LEN);
    buf_commit(out, b64url_encode(p, mac, sizeof mac));
}

/* Decodes a base64url segment into the arena and parses it; 0 when it is a
 * JSON object. */
static int decode_object(const char *seg, size_t n, arena *a, json_doc *doc) {
    uint8_t *raw = arena_alloc(a, b64url_decoded_max(n));
    size_t len;
    if (b64url_decode(raw, &len, seg, n) < 0)
        return -1;
    if (json_parse(doc, a, (const char *)raw, len) < 0 || json_type(doc, 0) != JSON_OBJECT)
        return -1;
    return 0;
}

/* Header checks, before any signature work.  A duplicated "alg" resolves to
 * the last one (json_get), and whatever it claims, only HS256 is ever
 * computed, so duplicates cannot downgrade the check.  "crit" names
 * extensions the recipient must understand (RFC 7515 §4.1.11); none are. */
static enum jwt_result check_header(const char *seg, size_t n, arena *a) {
    json_doc hdr;
    if (decode_object(seg, n, a, &hdr) < 0)
        return JWT_EMALFORMED;
    if (!json_string_eq(&hdr, json_get(&hdr, 0, "alg"), "HS256"))
        return JWT_EALG;
    int typ = json_get(&hdr, 0, "typ");
    if (typ >= 0 && !json_string_eq(&hdr, typ, "JWT"))
        return JWT_EMALFORMED;
    if (json_get(&hdr, 0, "crit") >= 0)
        return JWT_EMALFORMED;
    return JWT_OK;
}

/* exp and iat are NumericDates, which may be fractional, so they are compared
 * as doubles; every int64_t time of interest is exact in a double. */
static enum jwt_result check_claims(const json_doc *payload, int64_t now, int64_t leeway) {
    double exp, iat;
    if (json_number(payload, json_get(payload, 0, "exp"), &exp) < 0)
        return JWT_EEXPIRED;
    if ((double)now >= exp + (double)leeway)
        return JWT_EEXPIRED;
    int t = json_get(payload, 0, "iat");
    if (t >= 0 && (json_number(payload, t, &iat) < 0 || iat > (double)now + (double)leeway))
        return JWT_EIAT;
    return JWT_OK;
}

/* A signature segment of the wrong length cannot match and is JWT_ESIG; one
 * of the right length that is not base64url is JWT_EMALFORMED. */
enum jwt_result jwt_verify(const char *token, size_t n, const uint8_t *key, size_t keylen,
                           int64_t now, int64_t leeway, arena *a, json_doc *payload) {
    ensure_sodium();
    const char *end = token + n;
    const char *dot1 = n ? memchr(token, '.', n) : NULL;
    if (!dot1)
        return JWT_EMALFORMED;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        return JWT_EMALFORMED;

    enum jwt_result r = check_header(token, (size_t)(dot1 - token), a);
    if (r != JWT_OK)
        return r;

    const char *sig = dot2 + 1;
    if (end - sig != JWT_SIG_B64_LEN)
        return JWT_ESIG;
    uint8_t got[JWT_SIG_LEN], want[JWT_SIG_LEN];
    size_t gotlen;
    if (b64url_decode(got, &gotlen, sig, JWT_SIG_B64_LEN) < 0)
        return JWT_EMALFORMED;
    hs256(want, key, keylen, token, (size_t)(dot2 - token));
    if (crypto_verify_32(got, want) != 0)
        return JWT_ESIG;

    if (decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), a, payload) < 0)
        return JWT_EMALFORMED;
    return check_claims(payload, now, leeway);
}

const char *jwt_strerror(enum jwt_result r) {
    switch (r) {
    case JWT_OK:
        return "ok";
    case JWT_EMALFORMED:
        return "malformed token";
    case JWT_EALG:
        return "unsupported algorithm";
    case JWT_ESIG:
        return "bad signature";
    case JWT_EEXPIRED:
        return "token expired or without exp";
    case JWT_EIAT:
        return "token issued in the future";
    }
    return "unknown error";
}
