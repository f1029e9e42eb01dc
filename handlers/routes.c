/* The route table: one line per route.  Order matters only for readability;
 * a path matches at most one pattern per method. */
#include "handlers/handlers.h"

#include <llhttp.h>

#include "core/conn.h"
#include "protocol/json.h"

const struct route routes[] = {
    {HTTP_GET, "/health", health_get, 0, 0},
    {HTTP_GET, "/ready", ready_get, 0, 0},
    {HTTP_GET, "/metrics", metrics_get, 0, 0},

    {HTTP_POST, "/_test/echo", testhook_echo, ROUTE_TEST_HOOK, 0},
    {HTTP_GET, "/_test/sleep", testhook_sleep, ROUTE_TEST_HOOK, 0},
    {HTTP_GET, "/_test/redis", testhook_redis, ROUTE_TEST_HOOK, 0},
    {HTTP_POST, "/_test/deadline", testhook_deadline, ROUTE_TEST_HOOK, 0},
};
const size_t nroutes = sizeof routes / sizeof routes[0];

int handlers_init(void) {
    return testhooks_init();
}

int handler_parse_json(http_request *req, json_doc *doc) {
    if (json_parse(doc, &req->arena, req->body.data ? req->body.data : "", req->body.len) < 0) {
        resp_error(req, 400, "bad-json", "The body is not valid JSON");
        return -1;
    }
    return 0;
}
