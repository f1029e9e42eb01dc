/* Unit tests for protocol/pusher.c: socket ids, channel names and kinds, and
 * the auth signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "protocol/pusher.h"

/* The credentials of Pusher's worked example (pusher.com/docs/auth_signatures). */
#define KEY "278d425bdf160c739803"
#define SECRET "7ad3773142a6692b25b8"

/* Signs and compares with the expected "auth" value. */
static void expect_auth(const char *key, const char *secret, const char *socket_id,
                        const char *channel, const char *channel_data, const char *want) {
    arena a;
    arena_init(&a);
    buf out;
    buf_init(&out, &a);
    buf_appends(&out, "prefix "); /* pusher_auth appends */
    const struct pusher_subscription sub = {
        .socket_id = socket_id,
        .socket_id_len = strlen(socket_id),
        .channel = channel,
        .channel_len = strlen(channel),
        .channel_data = channel_data,
        .channel_data_len = channel_data ? strlen(channel_data) : 0,
    };
    pusher_auth(&out, key, secret, &sub);
    assert_int_equal(out.len, 7 + strlen(key) + 1 + PUSHER_SIGNATURE_HEX_LEN);
    assert_int_equal(out.len, 7 + strlen(want));
    assert_memory_equal(out.data, "prefix ", 7);
    if (memcmp(out.data + 7, want, strlen(want)) != 0)
        fail_msg("got %.*s\nwant %s", (int)(out.len - 7), out.data + 7, want);
    arena_reset(&a);
}

/* Pusher's worked example, verbatim. */
static void test_private_worked_example(void **state) {
    (void)state;
    expect_auth(KEY, SECRET, "1234.1234", "private-foobar", NULL,
                "278d425bdf160c739803:"
                "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
}

/* A presence channel signs "<socket_id>:<channel_name>:<channel_data>".
 * Expected value computed independently:
 *   python3 -c 'import hmac,hashlib;print(hmac.new(b"7ad3773142a6692b25b8",
 *     b"1234.1234:presence-foobar:{\"user_id\":\"42\",\"user_info\":{\"name\":\"Ada\"}}",
 *     hashlib.sha256).hexdigest())' */
static void test_presence(void **state) {
    (void)state;
    const char *data = "{\"user_id\":\"42\",\"user_info\":{\"name\":\"Ada\"}}";
    expect_auth(KEY, SECRET, "1234.1234", "presence-foobar", data,
                "278d425bdf160c739803:"
                "2dd237d15169f64419c5ec1e665080928cfd1ba3c10f631f1b09dcd7c03069d6");
}

/* The channel_data is part of what is signed: other data, another signature;
 * and empty channel_data ("...:") is not the same as none. */
static void test_channel_data_is_signed(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    buf none, empty, other;
    buf_init(&none, &a);
    buf_init(&empty, &a);
    buf_init(&other, &a);
    struct pusher_subscription sub = {"1234.1234", 9, "presence-foobar", 15, NULL, 0};
    pusher_auth(&none, KEY, SECRET, &sub);
    sub.channel_data = "";
    pusher_auth(&empty, KEY, SECRET, &sub);
    sub.channel_data = "{\"user_id\":\"43\"}";
    sub.channel_data_len = strlen(sub.channel_data);
    pusher_auth(&other, KEY, SECRET, &sub);
    assert_int_equal(none.len, empty.len);
    assert_memory_not_equal(none.data, empty.data, none.len);
    assert_memory_not_equal(none.data, other.data, none.len);
    assert_memory_not_equal(empty.data, other.data, none.len);
    arena_reset(&a);
}

/* Only the given lengths are signed, not what follows them in memory. */
static void test_lengths_are_respected(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    buf out;
    buf_init(&out, &a);
    const struct pusher_subscription sub = {"1234.1234XYZ", 9, "private-foobarXYZ", 14, NULL, 0};
    pusher_auth(&out, KEY, SECRET, &sub);
    assert_int_equal(out.len, 20 + 1 + 64);
    assert_memory_equal(out.data,
                        "278d425bdf160c739803:"
                        "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
                        out.len);
    arena_reset(&a);
}

/* A secret longer than SHA-256's 64-byte block is hashed first (RFC 2104):
 *   python3 -c 'import hmac,hashlib;print(hmac.new(b"k"*100,b"1.2:private-x",
 *     hashlib.sha256).hexdigest())' */
static void test_long_secret(void **state) {
    (void)state;
    char secret[101];
    memset(secret, 'k', 100);
    secret[100] = '\0';
    expect_auth("key", secret, "1.2", "private-x", NULL,
                "key:38e16491b52e817a6170eef2316b873e96bc39e4e9577a51011511120b299f12");
}

static void test_socket_id(void **state) {
    (void)state;
    static const char *good[] = {"1.2", "1234.1234", "0.0", "123456789012.987654321", "007.007"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!pusher_socket_id_valid(good[i], strlen(good[i])))
            fail_msg("refused '%s'", good[i]);
    static const char *bad[] = {"",     "1.",    ".1",   "a.1",  "1.a",  "1.2.3", "1",
                                ".",    "12",    "1..2", "-1.2", "1.-2", "+1.2",  " 1.2",
                                "1.2 ", "1.2\n", "1,2",  "1_2",  "1:2",  "1.2e3", "0x1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (pusher_socket_id_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted '%s'", bad[i]);
    /* Non-ASCII digits are not \d here. */
    assert_false(pusher_socket_id_valid("1.\xd9\xa3", 4)); /* ARABIC-INDIC DIGIT THREE */
    /* Only n bytes are looked at: a valid prefix of a longer string passes... */
    assert_true(pusher_socket_id_valid("1.2.3", 3));
    /* ...and a NUL inside the length does not end the id early. */
    assert_false(pusher_socket_id_valid("1.2\0", 4));
    assert_false(pusher_socket_id_valid("1\0.2", 4));
}

/* At most PUSHER_SOCKET_ID_MAX bytes. */
static void test_socket_id_length(void **state) {
    (void)state;
    char s[PUSHER_SOCKET_ID_MAX + 2];
    memset(s, '1', sizeof s);
    s[10] = '.';
    assert_true(pusher_socket_id_valid(s, PUSHER_SOCKET_ID_MAX));
    assert_false(pusher_socket_id_valid(s, PUSHER_SOCKET_ID_MAX + 1));
    assert_false(pusher_socket_id_valid(s, PUSHER_SOCKET_ID_MAX + 2));
    s[PUSHER_SOCKET_ID_MAX - 2] = '.';
    s[10] = '1';
    assert_true(pusher_socket_id_valid(s, PUSHER_SOCKET_ID_MAX));
}

static void test_channel_name(void **state) {
    (void)state;
    static const char *good[] = {
        "private-foobar",    "presence-org-ABC",
        "private-chat_0a1b", "a",
        "x=y@z,w.v;u-t_s",   "private-gig-1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!pusher_channel_name_valid(good[i], strlen(good[i])))
            fail_msg("refused '%s'", good[i]);
    static const char *bad[] = {
        "",          "private foo", "private-foo/bar", "private-foo:bar", "private-%41",
        "#server-x", "private-é",   "private-foo\n",   "private-foo\"",   "private-a+b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (pusher_channel_name_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted '%s'", bad[i]);
    assert_false(pusher_channel_name_valid("private-a\0b", 11));
    /* Every byte: exactly the 62 alphanumerics and 7 punctuation marks. */
    int accepted = 0;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        accepted += pusher_channel_name_valid(&ch, 1);
    }
    assert_int_equal(accepted, 62 + 7);
}

static void test_channel_name_length(void **state) {
    (void)state;
    char s[PUSHER_CHANNEL_NAME_MAX + 1];
    memset(s, 'a', sizeof s);
    assert_true(pusher_channel_name_valid(s, PUSHER_CHANNEL_NAME_MAX));
    assert_false(pusher_channel_name_valid(s, PUSHER_CHANNEL_NAME_MAX + 1));
}

static void test_channel_kind(void **state) {
    (void)state;
    static const struct {
        const char *name;
        enum pusher_channel_kind kind;
    } cases[] = {
        {"private-foobar", PUSHER_CHANNEL_PRIVATE},
        {"private-", PUSHER_CHANNEL_PRIVATE},
        {"private-encrypted-foobar", PUSHER_CHANNEL_ENCRYPTED},
        {"private-encryptedfoo", PUSHER_CHANNEL_PRIVATE},
        {"presence-org-abc", PUSHER_CHANNEL_PRESENCE},
        {"presence-", PUSHER_CHANNEL_PRESENCE},
        {"foobar", PUSHER_CHANNEL_PUBLIC},
        {"", PUSHER_CHANNEL_PUBLIC},
        {"private", PUSHER_CHANNEL_PUBLIC},
        {"presence", PUSHER_CHANNEL_PUBLIC},
        {"Private-foo", PUSHER_CHANNEL_PUBLIC},
        {"xprivate-foo", PUSHER_CHANNEL_PUBLIC},
        {"public-private-foo", PUSHER_CHANNEL_PUBLIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (pusher_channel_kind(cases[i].name, strlen(cases[i].name)) != cases[i].kind)
            fail_msg("'%s': kind %d, want %d", cases[i].name,
                     pusher_channel_kind(cases[i].name, strlen(cases[i].name)), cases[i].kind);
    /* The length bounds the prefix check. */
    assert_int_equal(pusher_channel_kind("private-foo", 7), PUSHER_CHANNEL_PUBLIC);
    assert_int_equal(pusher_channel_kind("private-foo", 8), PUSHER_CHANNEL_PRIVATE);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_worked_example),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_channel_data_is_signed),
        cmocka_unit_test(test_lengths_are_respected),
        cmocka_unit_test(test_long_secret),
        cmocka_unit_test(test_socket_id),
        cmocka_unit_test(test_socket_id_length),
        cmocka_unit_test(test_channel_name),
        cmocka_unit_test(test_channel_name_length),
        cmocka_unit_test(test_channel_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
