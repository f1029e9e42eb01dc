/* Unit tests for protocol/jid.c: the node@domain[/resource] shape of the
 * Prosody routes' jid and roomJid (API.md §7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/jid.h"

static bool valid(const char *s) {
    return jid_valid(s, strlen(s));
}

static void test_valid_shapes(void **state) {
    static const char *const ok[] = {
        "user@example.com",
        "a@b",
        "room1@conference.meet.jitsi",
        "focus@auth.meet.jitsi/focus",
        "room1@conference.meet.jitsi/4f2a9c1e",
        "user@example.com/res with spaces",
        "user@example.com/res/with/slashes@and@ats", /* everything after the first '/' */
        "j\xc3\xbcrgen@example.com",                 /* a non-ASCII node */
        "user@b\xc3\xbc\x63her.example",             /* an IDN domain in UTF-8 */
        "user@192.168.0.1",
        "user@[::1]",
        "user@[2001:db8::1]/phone",
        "first.last+tag@my-host_1.example",
        "user@example.com/\xe2\x98\x83",
        "user@[::ffff:192.0.2.1]",        /* an IPv4 tail */
        "\xc2\xa0x@example.com/\xc2\xa0", /* U+00A0 is not a control */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!valid(ok[i]))
            fail_msg("should be valid: %s", ok[i]);
    }
}

static void test_invalid_shapes(void **state) {
    static const char *const bad[] = {
        "",
        "example.com",          /* no node */
        "@example.com",         /* empty node */
        "user@",                /* empty domain */
        "user@/res",            /* empty domain before a resource */
        "user@example.com/",    /* empty resource */
        "user/res@example.com", /* the '/' starts the resource: no '@' before it */
        "a@b@c",                /* two '@' */
        "us er@example.com",    /* space in the node */
        "us\"er@example.com",   /* " & ' : < > in the node */
        "us&er@example.com",
        "us'er@example.com",
        "us:er@example.com",
        "<user>@example.com",
        "user@exa mple.com", /* space in the domain */
        "user@.example.com", /* empty labels */
        "user@example..com",
        "user@example.com.",
        "user@exa!mple.com", /* not a hostname character */
        "user@[::1",         /* unclosed literal */
        "user@[zz::1]",      /* not hex */
        "user@[]",
        "user@[...]", /* hex digits, ':' and '.' that are no IPv6 address */
        "user@[1.2]",
        "user@[abc]",
        "user@[:::::]",
        "user@[1:2:3:4:5:6:7:8:9]",
        "user@[fe80::1%eth0]",   /* no zone */
        "user@example.com/a\tb", /* control characters in the resource */
        "user@example.com/a\x7f",
        "us\ter@example.com",
        "a\xc2\x85"
        "b@example.com", /* C1 controls (U+0085, U+009F, U+0080) */
        "a\xc2\x9f@example.com",
        "user@example.com/r\xc2\x85",
        "user@example.com/\xc2\x80",
        "user@exa\xc2\x85mple.com",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (valid(bad[i]))
            fail_msg("should be invalid: %s", bad[i]);
    }
}

/* The length given is the one checked: bytes past it do not count, and a NUL
 * within it is a control character. */
static void test_length_is_respected(void **state) {
    assert_true(jid_valid("user@example.com/x", 16));
    assert_false(jid_valid("user@example.com", 5));
    assert_false(jid_valid("user@exa\0mple.com", 17));
    assert_false(jid_valid("user@example.com/a\0b", 20));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_shapes),
        cmocka_unit_test(test_invalid_shapes),
        cmocka_unit_test(test_length_is_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
