/* Configuration: defaults, environment, flags winning over the environment,
 * and every kind of bad value naming its setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

static char err[8192];

static int load(struct config *cfg, int argc, const char **argv) {
    return config_load(cfg, argc, (char **)argv, err, sizeof err);
}

static void clear_env(void) {
    unsetenv("ONAIR_LISTEN");
    unsetenv("ONAIR_MAX_BODY_BYTES");
    unsetenv("ONAIR_TEST_HOOKS");
    unsetenv("ONAIR_SECRET");
    unsetenv("ONAIR_PUSHER_APP_ID");
    unsetenv("ONAIR_PUSHER_KEY");
    unsetenv("ONAIR_PUSHER_SECRET");
}

static void test_defaults(void **state) {
    clear_env();
    struct config cfg;
    const char *argv[] = {"onair"};
    assert_int_equal(load(&cfg, 1, argv), 0);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.redis, "redis://127.0.0.1:6379");
    assert_int_equal(cfg.max_body_bytes, 65536);
    assert_int_equal(cfg.token_ttl_s, 604800);
    assert_int_equal(cfg.gig_claim_timeout_ms, 60000);
    assert_false(cfg.test_hooks);
    assert_null(cfg.secret);
    config_free(&cfg);
}

static void test_env_and_flags(void **state) {
    clear_env();
    setenv("ONAIR_LISTEN", "127.0.0.1:9000", 1);
    setenv("ONAIR_MAX_BODY_BYTES", "1000", 1);
    setenv("ONAIR_TEST_HOOKS", "1", 1);
    struct config cfg;
    const char *argv[] = {"onair", "--listen", "[::1]:9001,127.0.0.1:9002",
                          "--max-body-bytes=2000"};
    assert_int_equal(load(&cfg, 4, argv), 0);
    assert_string_equal(cfg.listen, "[::1]:9001,127.0.0.1:9002"); /* the flag wins */
    assert_int_equal(cfg.max_body_bytes, 2000);
    assert_true(cfg.test_hooks);
    config_free(&cfg);
    clear_env();
}

static void test_flag_overrides_bad_env(void **state) {
    clear_env();
    /* The flag wins, so the environment's value is never used or judged. */
    setenv("ONAIR_LISTEN", "nonsense", 1);
    setenv("ONAIR_MAX_BODY_BYTES", "lots", 1);
    struct config cfg;
    const char *argv[] = {"onair", "--listen", "127.0.0.1:9000", "--max-body-bytes", "10"};
    assert_int_equal(load(&cfg, 5, argv), 0);
    assert_string_equal(cfg.listen, "127.0.0.1:9000");
    assert_int_equal(cfg.max_body_bytes, 10);
    config_free(&cfg);
    clear_env();
}

static void expect_error(int argc, const char **argv, const char *needle) {
    struct config cfg;
    assert_int_equal(load(&cfg, argc, argv), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not name '%s'", err, needle);
    config_free(&cfg);
}

static void test_bad_values(void **state) {
    clear_env();
    const char *a1[] = {"onair", "--listen", "nonsense"};
    expect_error(3, a1, "listen");
    const char *a2[] = {"onair", "--listen", "127.0.0.1:99999"};
    expect_error(3, a2, "listen");
    const char *a3[] = {"onair", "--max-body-bytes", "abc"};
    expect_error(3, a3, "max-body-bytes");
    const char *a4[] = {"onair", "--max-body-bytes", "-1"};
    expect_error(3, a4, "max-body-bytes");
    const char *a5[] = {"onair", "--redis", "http://x"};
    expect_error(3, a5, "redis");
    const char *a6[] = {"onair", "--secret", "abcd"};
    expect_error(3, a6, "secret");
    const char *a7[] = {"onair", "--no-such-flag", "1"};
    expect_error(3, a7, "no-such-flag");
    const char *a8[] = {"onair", "--listen"};
    expect_error(2, a8, "listen");
    const char *a9[] = {"onair", "--redis-timeout-ms", "5"};
    expect_error(3, a9, "redis-timeout-ms");
    const char *a10[] = {"onair", "--log-level", "loud"};
    expect_error(3, a10, "log-level");
    const char *a11[] = {"onair", "--trusted-proxies", "10.0.0.0/33"};
    expect_error(3, a11, "trusted-proxies");
    const char *a13[] = {"onair", "--cors-origins", "https://ok.example,https://x.example/path"};
    expect_error(3, a13, "cors-origins");
    const char *a14[] = {"onair", "--cors-origins", "ftp://x.example"};
    expect_error(3, a14, "cors-origins");
    /* the limiters' microsecond interval: 1 us at most 60 000 000 a minute */
    const char *a15[] = {"onair", "--telemetry-rate-per-min", "60000001"};
    expect_error(3, a15, "telemetry-rate-per-min");
    struct config cfg;
    const char *a16[] = {"onair", "--telemetry-rate-per-min", "60000000"};
    assert_int_equal(load(&cfg, 3, a16), 0);
    assert_int_equal(cfg.telemetry_rate_per_min, 60000000);
    config_free(&cfg);
    setenv("ONAIR_MAX_BODY_BYTES", "lots", 1);
    const char *a12[] = {"onair"};
    expect_error(1, a12, "ONAIR_MAX_BODY_BYTES");
    clear_env();
}

static void test_secret_and_help(void **state) {
    clear_env();
    struct config cfg;
    char hex[65];
    for (int i = 0; i < 64; i++)
        hex[i] = "0123456789abcdef"[i % 16];
    hex[64] = '\0';
    const char *argv[] = {"onair", "--secret", hex};
    assert_int_equal(load(&cfg, 3, argv), 0);
    assert_int_equal(cfg.secret_len, 32);
    assert_int_equal(cfg.secret_bin[0], 0x01);
    assert_int_equal(cfg.secret_bin[1], 0x23);
    config_free(&cfg);
    const char *help[] = {"onair", "--help"};
    assert_int_equal(load(&cfg, 2, help), 1);
    assert_non_null(strstr(err, "ONAIR_REDIS_TIMEOUT_MS"));
    config_free(&cfg);
}

/* The Pusher app: unset by default (/socket/auth then answers 503), each part
 * a flag or a variable, and a key without its app id and secret refused. */
static void test_pusher(void **state) {
    clear_env();
    struct config cfg;
    const char *none[] = {"onair"};
    assert_int_equal(load(&cfg, 1, none), 0);
    assert_null(cfg.pusher_app_id);
    assert_null(cfg.pusher_key);
    assert_null(cfg.pusher_secret);
    config_free(&cfg);

    setenv("ONAIR_PUSHER_APP_ID", "12345", 1);
    setenv("ONAIR_PUSHER_SECRET", "env-secret", 1);
    const char *argv[] = {"onair", "--pusher-key", "278d425bdf160c739803",
                          "--pusher-secret=7ad3773142a6692b25b8"};
    assert_int_equal(load(&cfg, 4, argv), 0);
    assert_string_equal(cfg.pusher_app_id, "12345");
    assert_string_equal(cfg.pusher_key, "278d425bdf160c739803");
    assert_string_equal(cfg.pusher_secret, "7ad3773142a6692b25b8"); /* the flag wins */
    config_free(&cfg);

    clear_env();
    const char *a1[] = {"onair", "--pusher-key", "k", "--pusher-secret", "s"};
    expect_error(5, a1, "ONAIR_PUSHER_KEY: needs");
    const char *a2[] = {"onair", "--pusher-key", "k", "--pusher-app-id", "1"};
    expect_error(5, a2, "ONAIR_PUSHER_KEY: needs");
    const char *help[] = {"onair", "--help"};
    assert_int_equal(load(&cfg, 2, help), 1);
    assert_non_null(strstr(err, "--pusher-app-id"));
    assert_non_null(strstr(err, "ONAIR_PUSHER_SECRET"));
    config_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_and_flags),
        cmocka_unit_test(test_flag_overrides_bad_env),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_secret_and_help),
        cmocka_unit_test(test_pusher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
