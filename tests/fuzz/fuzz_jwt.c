/* Fuzzes protocol/jwt.c with a fixed key and clock.  The input is used four
 * ways: as a whole token; as the payload of a token jwt_sign makes; as the
 * header of a correctly signed token; and as a string claim inside a fixed
 * valid payload.  Random bytes almost never carry a valid HMAC, so the last
 * three are what drive the fuzzer past the signature check into header and
 * claim handling.  Verdicts are checked against an independent reading of
 * the segments with the JSON API. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/base64.h"
#include "protocol/jwt.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_jwt: invariant failed at line %d: %s\n", __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NOW 1700000000
#define LEEWAY 30

static const uint8_t key[] = "fuzz key";
#define KEYLEN (sizeof key - 1)

static arena a;

static enum jwt_result verify(const char *tok, size_t n, json_doc *payload) {
    enum jwt_result r = jwt_verify(tok, n, key, KEYLEN, NOW, LEEWAY, &a, payload);
    CHECK(r <= JWT_OK && r >= JWT_EIAT);
    CHECK(jwt_strerror(r) != NULL);
    return r;
}

static void b64_append(buf *b, const void *p, size_t n) {
    if (n == 0)
        return; /* buf_reserve(b, 0) on an empty buf yields NULL + 0 */
    char *o = buf_reserve(b, b64url_encoded_len(n));
    buf_commit(b, b64url_encode(o, p, n));
}

/* The verdict on a payload, read independently of jwt.c. */
static enum jwt_result expected_claims(const char *p, size_t n) {
    json_doc doc;
    if (json_parse(&doc, &a, p, n) < 0 || json_type(&doc, 0) != JSON_OBJECT)
        return JWT_EMALFORMED;
    double exp, iat;
    if (json_number(&doc, json_get(&doc, 0, "exp"), &exp) < 0 || NOW >= exp + LEEWAY)
        return JWT_EEXPIRED;
    int t = json_get(&doc, 0, "iat");
    if (t >= 0 && (json_number(&doc, t, &iat) < 0 || iat > NOW + LEEWAY))
        return JWT_EIAT;
    return JWT_OK;
}

/* The verdict on a header, read independently of jwt.c. */
static enum jwt_result expected_header(const char *p, size_t n) {
    json_doc doc;
    if (json_parse(&doc, &a, p, n) < 0 || json_type(&doc, 0) != JSON_OBJECT)
        return JWT_EMALFORMED;
    const char *alg;
    size_t len;
    if (json_string(&doc, json_get(&doc, 0, "alg"), &a, &alg, &len) < 0 || len != 5 ||
        memcmp(alg, "HS256", 5) != 0)
        return JWT_EALG;
    int typ = json_get(&doc, 0, "typ");
    if (typ >= 0 && !json_string_eq(&doc, typ, "JWT"))
        return JWT_EMALFORMED;
    if (json_get(&doc, 0, "crit") >= 0)
        return JWT_EMALFORMED;
    return JWT_OK;
}

/* Any single-bit change of a valid token must make it fail. */
static void check_flip(const char *tok, size_t n, const uint8_t *data, size_t size) {
    if (n == 0)
        return;
    size_t pos = size ? ((size_t)data[0] * 257 + data[size - 1]) % n : 0;
    char *t = arena_strndup(&a, tok, n);
    t[pos] = (char)(t[pos] ^ (1 << (size ? data[size / 2] % 8 : 0)));
    json_doc doc;
    CHECK(verify(t, n, &doc) != JWT_OK);
}

/* The input as a token. */
static void fuzz_token(const char *src, size_t size) {
    json_doc doc;
    if (verify(src, size, &doc) == JWT_OK) {
        double exp;
        CHECK(json_type(&doc, 0) == JSON_OBJECT);
        CHECK(json_number(&doc, json_get(&doc, 0, "exp"), &exp) == 0 && NOW < exp + LEEWAY);
    }
}

/* The input as the payload of a token jwt_sign makes. */
static void fuzz_payload(const uint8_t *data, size_t size) {
    buf b;
    buf_init(&b, &a);
    jwt_sign(&b, key, KEYLEN, (const char *)data, size);
    json_doc doc;
    enum jwt_result r = verify(b.data, b.len, &doc);
    CHECK(r == expected_claims((const char *)data, size));
    if (r == JWT_OK) {
        CHECK(doc.len == size && memcmp(doc.src, data, size) == 0);
        check_flip(b.data, b.len, data, size);
    }
}

/* The input as the header of a correctly signed token with a valid payload. */
static void fuzz_header(const uint8_t *data, size_t size) {
    static const char payload[] = "{\"exp\":1700000100}";
    buf b;
    buf_init(&b, &a);
    b64_append(&b, data, size);
    buf_appendc(&b, '.');
    b64_append(&b, payload, sizeof payload - 1);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, KEYLEN);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)b.data, b.len);
    crypto_auth_hmacsha256_final(&st, mac);
    buf_appendc(&b, '.');
    b64_append(&b, mac, sizeof mac);
    json_doc doc;
    CHECK(verify(b.data, b.len, &doc) == expected_header((const char *)data, size));
}

/* The input as a string claim: sign then verify must round-trip. */
static void fuzz_claim(const uint8_t *data, size_t size) {
    buf p;
    buf_init(&p, &a);
    json_writer w;
    json_w_init(&w, &p);
    json_w_obj_open(&w);
    json_w_key(&w, "sub");
    json_w_str(&w, (const char *)data, size);
    json_w_key(&w, "exp");
    json_w_int(&w, NOW + 100);
    json_w_key(&w, "iat");
    json_w_int(&w, NOW);
    json_w_obj_close(&w);
    buf b;
    buf_init(&b, &a);
    jwt_sign(&b, key, KEYLEN, p.data, p.len);
    json_doc doc;
    CHECK(verify(b.data, b.len, &doc) == JWT_OK);
    const char *sub;
    size_t n;
    CHECK(json_string(&doc, json_get(&doc, 0, "sub"), &a, &sub, &n) == 0);
    if (json_utf8_valid((const char *)data, size))
        CHECK(n == size && memcmp(sub, data, size) == 0);
    check_flip(b.data, b.len, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_token((const char *)data, size);
    fuzz_payload(data, size);
    fuzz_header(data, size);
    fuzz_claim(data, size);
    arena_reset(&a);
    return 0;
}
