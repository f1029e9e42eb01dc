/* Router: static segments, :params, trailing slash, 404 vs 405 + Allow,
 * /v1 aliases and test-hook routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <llhttp.h>

#include "core/router.h"

static void h(struct http_request *req) {
    (void)req;
}

static const struct route table[] = {
    {HTTP_GET, "/health", h, 0, 0, 0, 0},
    {HTTP_POST, "/gigs", h, 0, 0, 0, 0},
    {HTTP_GET, "/gigs", h, 0, 0, 0, 0},
    {HTTP_GET, "/gigs/:gigId", h, 0, 0, 0, 0},
    {HTTP_POST, "/gigs/claim/:gigId", h, 0, 0, 0, 0},
    {HTTP_GET, "/map/:lat/:long", h, 0, 0, 0, 0},
    {HTTP_POST, "/stats", h, ROUTE_V1_ALIAS, 0, 0, 0},
    {HTTP_GET, "/_test/x", h, ROUTE_TEST_HOOK, 0, 0, 0},
    {HTTP_GET, "/", h, 0, 0, 0, 0},
};
#define N (sizeof table / sizeof table[0])

static const struct route *match(uint8_t method, const char *path, struct route_match *m) {
    router_match(method, path, strlen(path), m);
    return m->route;
}

static int setup(void **state) {
    (void)state;
    return router_init(table, N, false);
}

static void test_static(void **state) {
    struct route_match m;
    assert_ptr_equal(match(HTTP_GET, "/health", &m), &table[0]);
    assert_int_equal(m.index, 0);
    assert_int_equal(m.nparams, 0);
    assert_ptr_equal(match(HTTP_GET, "/", &m), &table[8]);
    assert_null(match(HTTP_GET, "/healthz", &m));
    assert_null(match(HTTP_GET, "/health/x", &m));
    assert_null(match(HTTP_GET, "", &m));
    assert_null(match(HTTP_GET, "health", &m));
}

static void test_trailing_slash(void **state) {
    struct route_match m;
    assert_ptr_equal(match(HTTP_GET, "/health/", &m), &table[0]);
    assert_ptr_equal(match(HTTP_GET, "/gigs/abc/", &m), &table[3]);
    assert_null(match(HTTP_GET, "/health//", &m));
    assert_null(match(HTTP_GET, "//health", &m));
}

static void test_params(void **state) {
    struct route_match m;
    assert_ptr_equal(match(HTTP_GET, "/map/52.5/-13.4", &m), &table[5]);
    assert_int_equal(m.nparams, 2);
    assert_int_equal(m.param_len[0], 4);
    assert_memory_equal(m.param[0], "52.5", 4);
    assert_memory_equal(m.param[1], "-13.4", 5);
    assert_ptr_equal(match(HTTP_POST, "/gigs/claim/g1", &m), &table[4]);
    assert_memory_equal(m.param[0], "g1", 2);
    /* An empty segment never fills a param. */
    assert_null(match(HTTP_GET, "/map//1", &m));
}

static void test_method_not_allowed(void **state) {
    struct route_match m;
    assert_null(match(HTTP_DELETE, "/gigs", &m));
    assert_int_equal(m.allow, (1u << HTTP_GET) | (1u << HTTP_POST));
    char allow[64];
    router_allow_header(m.allow, allow, sizeof allow);
    assert_string_equal(allow, "GET, HEAD, POST, OPTIONS"); /* HEAD wherever GET */
    assert_null(match(HTTP_POST, "/health", &m));
    assert_int_equal(m.allow, 1u << HTTP_GET);
    assert_int_equal(m.path_flags, 0);
    /* the flags of the path's routes, for CORS: matched or not */
    assert_null(match(HTTP_OPTIONS, "/stats", &m));
    assert_int_equal(m.path_flags, ROUTE_V1_ALIAS);
    assert_non_null(match(HTTP_POST, "/stats", &m));
    assert_int_equal(m.path_flags, ROUTE_V1_ALIAS);
    assert_null(match(HTTP_GET, "/nothing", &m));
    assert_int_equal(m.allow, 0);
}

static void test_v1_alias_and_hooks(void **state) {
    struct route_match m;
    assert_ptr_equal(match(HTTP_POST, "/stats", &m), &table[6]);
    assert_ptr_equal(match(HTTP_POST, "/v1/stats", &m), &table[6]);
    assert_int_equal(m.index, 6);
    assert_null(match(HTTP_POST, "/v1/gigs", &m));
    assert_null(match(HTTP_GET, "/_test/x", &m));
    assert_int_equal(router_init(table, N, true), 0);
    assert_ptr_equal(match(HTTP_GET, "/_test/x", &m), &table[7]);
    assert_int_equal(router_init(table, N, false), 0);
}

static void test_bad_patterns(void **state) {
    static const struct route bad1[] = {{HTTP_GET, "nope", h, 0, 0, 0, 0}};
    static const struct route bad2[] = {{HTTP_GET, "/:a/:b/:c/:d/:e", h, 0, 0, 0, 0}};
    assert_int_equal(router_init(bad1, 1, false), -1);
    assert_int_equal(router_init(bad2, 1, false), -1);
    assert_int_equal(router_init(table, N, false), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_v1_alias_and_hooks),
        cmocka_unit_test(test_bad_patterns),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
