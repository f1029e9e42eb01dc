/* Unit tests for handlers/plans.c: parsing ONAIR_PLANS, the default plan,
 * the limits handed to tm_initialize.lua, and the usage month. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handlers/plans.h"

static void test_default_setting(void **state) {
    (void)state;
    assert_int_equal(plans_init("free:conferences=1000;pro:conferences=0"), 0);
    assert_string_equal(plans_default(), "free");
    assert_true(plans_exists("free"));
    assert_true(plans_exists("pro"));
    assert_false(plans_exists("gold"));
    assert_false(plans_exists(""));
    assert_string_equal(plans_conference_limits(), " free=1000 pro=0 ");
}

static void test_names_without_limits_are_unlimited(void **state) {
    (void)state;
    assert_int_equal(plans_init("team_2-b;solo:conferences=5"), 0);
    assert_string_equal(plans_default(), "team_2-b");
    assert_string_equal(plans_conference_limits(), " team_2-b=0 solo=5 ");
}

static void test_bad_settings(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",                                  /* no plan */
        ";",                                 /* no plan */
        ":conferences=1",                    /* no name */
        "Free:conferences=1",                /* upper case */
        "a b:conferences=1",                 /* space */
        "free:conferences",                  /* no value */
        "free:conferences=",                 /* no value */
        "free:conferences=-1",               /* not a number */
        "free:conferences=10x",              /* trailing junk */
        "free:minutes=10",                   /* unknown metric */
        "free;free",                         /* twice */
        "a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q", /* 17 plans */
        "abcdefghijklmnopqrstuvwxyz0123456", /* 33 characters */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(plans_init(bad[i]), -1);
    assert_int_equal(plans_init(NULL), -1);
}

static void test_month(void **state) {
    (void)state;
    char m[8];
    plans_month(0, m);
    assert_string_equal(m, "197001");
    plans_month(1798761599999ULL, m); /* 2026-12-31T23:59:59.999Z */
    assert_string_equal(m, "202612");
    plans_month(1798761600000ULL, m); /* 2027-01-01T00:00:00Z */
    assert_string_equal(m, "202701");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_setting),
        cmocka_unit_test(test_names_without_limits_are_unlimited),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_month),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
