/* Unit tests for protocol/jwt.c.  Expected tokens were computed independently
 * (Python's hmac/hashlib) or come from jwt.io and RFC 7515 Appendix A.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "protocol/base64.h"
#include "protocol/jwt.h"

#define HS256_HDR "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" /* {"alg":"HS256","typ":"JWT"} */
#define NOW 1700000000

static const uint8_t key[] = "test key";
#define KEYLEN (sizeof key - 1)

static arena a;

static int reset_arena(void **state) {
    (void)state;
    arena_reset(&a);
    return 0;
}

static enum jwt_result verify_at(const char *tok, const uint8_t *k, size_t klen, int64_t now,
                                 int64_t leeway, json_doc *doc) {
    json_doc scratch;
    return jwt_verify(tok, strlen(tok), k, klen, now, leeway, &a, doc ? doc : &scratch);
}

static enum jwt_result verify(const char *tok) {
    return verify_at(tok, key, KEYLEN, NOW, 0, NULL);
}

static void b64_append(buf *b, const char *s, size_t n) {
    if (n == 0)
        return; /* buf_reserve(b, 0) on an empty buf yields NULL + 0 */
    char *p = buf_reserve(b, b64url_encoded_len(n));
    buf_commit(b, b64url_encode(p, (const uint8_t *)s, n));
}

/* Builds "<hdr>.<payload>.<HS256 signature>" from raw segment text, signed
 * independently of jwt.c, so that tokens jwt_sign would never produce (odd
 * headers, bad payload encodings) still carry a valid signature. */
static const char *forge(const char *hdr_seg, const char *payload_seg) {
    buf b;
    buf_init(&b, &a);
    buf_printf(&b, "%s.%s", hdr_seg, payload_seg);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, KEYLEN);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)b.data, b.len);
    crypto_auth_hmacsha256_final(&st, mac);
    buf_appendc(&b, '.');
    b64_append(&b, (const char *)mac, sizeof mac);
    buf_appendc(&b, '\0');
    return b.data;
}

/* A correctly signed token for a JSON header and payload given as text. */
static const char *forge_json(const char *hdr, const char *payload) {
    buf h, p;
    buf_init(&h, &a);
    buf_init(&p, &a);
    b64_append(&h, hdr, strlen(hdr));
    buf_appendc(&h, '\0');
    b64_append(&p, payload, strlen(payload));
    buf_appendc(&p, '\0');
    return forge(h.data, p.data);
}

static const char *sign(const char *payload) {
    buf b;
    buf_init(&b, &a);
    jwt_sign(&b, key, KEYLEN, payload, strlen(payload));
    buf_appendc(&b, '\0');
    return b.data;
}

static void expect(const char *tok, enum jwt_result want) {
    enum jwt_result r = verify(tok);
    if (r != want)
        fail_msg("%s: got %s, want %s", tok, jwt_strerror(r), jwt_strerror(want));
}

static void test_jwt_io_example(void **state) {
    (void)state;
    static const char tok[] =
        HS256_HDR ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
                  "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    static const uint8_t secret[] = "your-256-bit-secret";
    /* The signature checks (a wrong key says so), but there is no exp. */
    assert_int_equal(verify_at(tok, secret, sizeof secret - 1, NOW, 0, NULL), JWT_EEXPIRED);
    assert_int_equal(verify_at(tok, key, KEYLEN, NOW, 0, NULL), JWT_ESIG);
    /* jwt_sign reproduces the token byte for byte. */
    static const char payload[] =
        "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}";
    buf b;
    buf_init(&b, &a);
    jwt_sign(&b, secret, sizeof secret - 1, payload, sizeof payload - 1);
    assert_int_equal(b.len, sizeof tok - 1);
    assert_memory_equal(b.data, tok, b.len);
}

/* RFC 7515 A.1: a header with another member order and CRLFs, a 64-byte key. */
static void test_rfc7515_example(void **state) {
    (void)state;
    static const char tok[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                              "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                              "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
                              "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    static const char k64[] =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    uint8_t k[64];
    size_t klen;
    assert_int_equal(b64url_decode(k, &klen, k64, sizeof k64 - 1), 0);
    assert_int_equal(klen, 64);
    json_doc doc;
    assert_int_equal(verify_at(tok, k, klen, 1300819379, 0, &doc), JWT_OK);
    assert_true(json_string_eq(&doc, json_get(&doc, 0, "iss"), "joe"));
    bool root;
    assert_int_equal(json_bool(&doc, json_get(&doc, 0, "http://example.com/is_root"), &root), 0);
    assert_true(root);
    assert_int_equal(verify_at(tok, k, klen, 1300819380, 0, NULL), JWT_EEXPIRED);
    assert_int_equal(verify_at(tok, k, klen, 1300819380, 1, NULL), JWT_OK);
    k[0] ^= 1;
    assert_int_equal(verify_at(tok, k, klen, 1300819379, 0, NULL), JWT_ESIG);
}

/* Keys longer than the SHA-256 block are hashed first (RFC 2104). */
static void test_long_key(void **state) {
    (void)state;
    static const char tok[] = HS256_HDR ".eyJzdWIiOiJsb25nIiwiZXhwIjoyMDAwMDAwMDAwfQ."
                                        "pUQ2CMuOgy_DmnefIzEouliWgtWgAUyii5SknkgmZHE";
    uint8_t k[100];
    for (int i = 0; i < 100; i++)
        k[i] = (uint8_t)i;
    assert_int_equal(verify_at(tok, k, sizeof k, NOW, 0, NULL), JWT_OK);
    assert_int_equal(verify_at(tok, k, sizeof k - 1, NOW, 0, NULL), JWT_ESIG);
    buf b;
    buf_init(&b, &a);
    jwt_sign(&b, k, sizeof k, "{\"sub\":\"long\",\"exp\":2000000000}", 31);
    assert_int_equal(b.len, sizeof tok - 1);
    assert_memory_equal(b.data, tok, b.len);
}

static void test_sign_verify(void **state) {
    (void)state;
    const char *tok = sign("{\"sub\":\"alice\",\"exp\":1700000100,\"iat\":1700000000}");
    assert_memory_equal(tok, HS256_HDR ".", sizeof HS256_HDR);
    json_doc doc;
    assert_int_equal(verify_at(tok, key, KEYLEN, NOW, 0, &doc), JWT_OK);
    const char *sub;
    size_t n;
    assert_int_equal(json_string(&doc, json_get(&doc, 0, "sub"), &a, &sub, &n), 0);
    assert_string_equal(sub, "alice");
    /* Appending to a non-empty buffer signs only the token. */
    buf b;
    buf_init(&b, &a);
    buf_appends(&b, "Bearer ");
    jwt_sign(&b, key, KEYLEN, "{\"exp\":1700000100}", 18);
    assert_int_equal(jwt_verify(b.data + 7, b.len - 7, key, KEYLEN, NOW, 0, &a, &doc), JWT_OK);
}

static void test_alg(void **state) {
    (void)state;
    static const char payload[] = "{\"exp\":1700000100}";
    expect(forge_json("{\"alg\":\"HS256\"}", payload), JWT_OK);
    expect(forge_json("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"k1\"}", payload), JWT_OK);
    expect(forge_json("{\"alg\":\"HS\\u0032\\u0035\\u0036\"}", payload), JWT_OK);
    expect(forge_json("{\"alg\":\"none\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"HS384\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"RS256\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"hs256\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"HS256 \"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"HS256\\u0000\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":256}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":null}", payload), JWT_EALG);
    expect(forge_json("{\"typ\":\"JWT\"}", payload), JWT_EALG);
    expect(forge_json("{}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload), JWT_EALG);
    expect(forge_json("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", payload), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\",\"typ\":1}", payload), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", payload), JWT_EMALFORMED);
    expect(forge_json("[\"HS256\"]", payload), JWT_EMALFORMED);
    expect(forge_json("\"HS256\"", payload), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\",}", payload), JWT_EMALFORMED);
    expect(forge_json("", payload), JWT_EMALFORMED);

    /* alg none with an empty signature, as attackers send it. */
    expect("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjE3MDAwMDAxMDB9.", JWT_EALG);
    /* The alg is checked before the signature: an HS512 header is refused
     * whatever follows it. */
    expect("eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAxMDB9.x", JWT_EALG);
}

static void test_structure(void **state) {
    (void)state;
    const char *good = sign("{\"exp\":1700000100}");
    size_t n = strlen(good);
    char *t = malloc(n + 64);

    expect("", JWT_EMALFORMED);
    expect(".", JWT_EMALFORMED);
    expect("..", JWT_EMALFORMED);
    expect("abc", JWT_EMALFORMED);
    expect(HS256_HDR, JWT_EMALFORMED);
    expect(HS256_HDR ".eyJleHAiOjE3MDAwMDAxMDB9", JWT_EMALFORMED);
    /* An extra segment. */
    snprintf(t, n + 64, "%s.", good);
    expect(t, JWT_EMALFORMED);
    snprintf(t, n + 64, "%s.e30", good);
    expect(t, JWT_EMALFORMED);
    /* Padding on the header or the signature. */
    snprintf(t, n + 64, "%s=", good);
    expect(t, JWT_ESIG);
    char *dot = strchr(good, '.');
    snprintf(t, n + 64, "%.*s=%s", (int)(dot - good), good, dot);
    expect(t, JWT_EMALFORMED);
    /* Truncated or lengthened signature. */
    memcpy(t, good, n - 1);
    t[n - 1] = '\0';
    expect(t, JWT_ESIG);
    memcpy(t, good, n - 2);
    t[n - 2] = '\0';
    expect(t, JWT_ESIG);
    snprintf(t, n + 64, "%sA", good);
    expect(t, JWT_ESIG);
    /* Bad base64url in the signature, with the right length. */
    memcpy(t, good, n + 1);
    t[n - 5] = '+';
    expect(t, JWT_EMALFORMED);
    memcpy(t, good, n + 1);
    t[n - 5] = '*';
    expect(t, JWT_EMALFORMED);
    /* Non-zero trailing bits in the signature: same bytes, other text. */
    memcpy(t, good, n + 1);
    t[n - 1] = (char)(t[n - 1] ^ 1);
    assert_int_not_equal(verify(t), JWT_OK);
    /* Whitespace anywhere. */
    snprintf(t, n + 64, " %s", good);
    expect(t, JWT_EMALFORMED);
    snprintf(t, n + 64, "%s\n", good);
    expect(t, JWT_ESIG);
    /* Bad base64 in a header of the right content. */
    expect("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9x.e30.x", JWT_EMALFORMED);
    expect("eyJhbGciOiJIUzI1NiIsInR5c+I6IkpXVCJ9.e30.x", JWT_EMALFORMED);
    free(t);
}

static void test_tampering(void **state) {
    (void)state;
    /* A copy outside the arena, which is reset inside the loop. */
    char *good = strdup(sign("{\"sub\":\"bob\",\"admin\":false,\"exp\":1700000100}"));
    size_t n = strlen(good);
    expect(good, JWT_OK);
    /* Swap in another payload under the same signature. */
    const char *evil = sign("{\"sub\":\"bob\",\"admin\":true,\"exp\":1700000100}");
    const char *gdot = strrchr(good, '.'), *edot = strrchr(evil, '.');
    char *t = malloc(n + 64);
    snprintf(t, n + 64, "%.*s%s", (int)(edot - evil), evil, gdot);
    expect(t, JWT_ESIG);
    /* No single-character change of any position verifies. */
    for (size_t i = 0; i < n; i++) {
        for (int delta = 1; delta < 128; delta *= 2) {
            memcpy(t, good, n + 1);
            t[i] = (char)(t[i] ^ delta);
            if (t[i] == '\0')
                continue;
            if (verify(t) == JWT_OK)
                fail_msg("flipping 0x%x at %zu still verifies: %s", delta, i, t);
        }
        arena_reset(&a);
    }
    free(t);
    free(good);
}

/* Tokens signed correctly whose payload is unusable. */
static void test_payload(void **state) {
    (void)state;
    expect(forge(HS256_HDR, ""), JWT_EMALFORMED);
    expect(forge(HS256_HDR, "e30="), JWT_EMALFORMED);
    expect(forge(HS256_HDR, "e3+9"), JWT_EMALFORMED);
    expect(forge(HS256_HDR, "eyJleHAiOjE3MDAwMDAxMDB"), JWT_EMALFORMED); /* n % 4 == 3, bad bits */
    expect(forge_json("{\"alg\":\"HS256\"}", "[1700000100]"), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\"}", "1700000100"), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\"}", "{\"exp\":1700000100"), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\"}", "{\"exp\":1700000100,}"), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\"}", "{\"exp\":1700000100} x"), JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\"}", "{\"s\":\"\xff\",\"exp\":1700000100}"),
           JWT_EMALFORMED);
    expect(forge_json("{\"alg\":\"HS256\"}", " {\"exp\":1700000100} "), JWT_OK);
}

static void test_exp(void **state) {
    (void)state;
    const char *h = "{\"alg\":\"HS256\"}";
    expect(forge_json(h, "{}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":\"1700000100\"}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":null}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":true}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":[1700000100]}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":1e999}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"sub\":{\"exp\":1700000100}}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":1699999999}"), JWT_EEXPIRED);
    expect(forge_json(h, "{\"exp\":1700000000}"), JWT_EEXPIRED); /* now >= exp */
    expect(forge_json(h, "{\"exp\":1700000000.5}"), JWT_OK);
    expect(forge_json(h, "{\"exp\":1700000001}"), JWT_OK);
    expect(forge_json(h, "{\"exp\":1.7000001e9}"), JWT_OK);
    expect(forge_json(h, "{\"exp\":1e300}"), JWT_OK);
    expect(forge_json(h, "{\"exp\":0,\"exp\":1700000100}"), JWT_OK); /* last wins */
    expect(forge_json(h, "{\"exp\":1700000100,\"exp\":0}"), JWT_EEXPIRED);

    /* Leeway: expired when now >= exp + leeway. */
    const char *t = forge_json(h, "{\"exp\":1699999995}");
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 0, NULL), JWT_EEXPIRED);
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 5, NULL), JWT_EEXPIRED);
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 6, NULL), JWT_OK);
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 60, NULL), JWT_OK);
}

static void test_iat(void **state) {
    (void)state;
    const char *h = "{\"alg\":\"HS256\"}";
    expect(forge_json(h, "{\"exp\":1700000100,\"iat\":1700000000}"), JWT_OK);
    expect(forge_json(h, "{\"exp\":1700000100,\"iat\":1}"), JWT_OK);
    expect(forge_json(h, "{\"exp\":1700000100,\"iat\":1700000001}"), JWT_EIAT);
    expect(forge_json(h, "{\"exp\":1700000100,\"iat\":\"1700000000\"}"), JWT_EIAT);
    expect(forge_json(h, "{\"exp\":1700000100,\"iat\":null}"), JWT_EIAT);
    expect(forge_json(h, "{\"exp\":1700000100,\"iat\":1e999}"), JWT_EIAT);
    /* exp is checked first. */
    expect(forge_json(h, "{\"exp\":1,\"iat\":1800000000}"), JWT_EEXPIRED);

    const char *t = forge_json(h, "{\"exp\":1800000000,\"iat\":1700000030}");
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 0, NULL), JWT_EIAT);
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 29, NULL), JWT_EIAT);
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 30, NULL), JWT_OK);
    assert_int_equal(verify_at(t, key, KEYLEN, NOW, 300, NULL), JWT_OK);
}

static void test_strerror(void **state) {
    (void)state;
    static const enum jwt_result all[] = {JWT_OK,   JWT_EMALFORMED, JWT_EALG,
                                          JWT_ESIG, JWT_EEXPIRED,   JWT_EIAT};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        const char *s = jwt_strerror(all[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, jwt_strerror(all[j]));
    }
    assert_non_null(jwt_strerror((enum jwt_result)42));
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_jwt_io_example, reset_arena),
        cmocka_unit_test_teardown(test_rfc7515_example, reset_arena),
        cmocka_unit_test_teardown(test_long_key, reset_arena),
        cmocka_unit_test_teardown(test_sign_verify, reset_arena),
        cmocka_unit_test_teardown(test_alg, reset_arena),
        cmocka_unit_test_teardown(test_structure, reset_arena),
        cmocka_unit_test_teardown(test_tampering, reset_arena),
        cmocka_unit_test_teardown(test_payload, reset_arena),
        cmocka_unit_test_teardown(test_exp, reset_arena),
        cmocka_unit_test_teardown(test_iat, reset_arena),
        cmocka_unit_test_teardown(test_strerror, reset_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
