/* The route table: one line per route, with who may call it and the limits
 * that apply before its handler runs.  A path matches at most one pattern per
 * method. */
#include "handlers/handlers.h"

#include <llhttp.h>
#include <math.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/events.h"
#include "handlers/map.h"
#include "handlers/plans.h"
#include "protocol/json.h"

#define ROUTE(m, p, f, ...)                                                                        \
    { .method = HTTP_##m, .pattern = p, .fn = f, __VA_ARGS__ }
#define ACCOUNT .auth = AUTH_ACCOUNT
#define OPTIONAL .auth = AUTH_OPTIONAL
#define GUEST .auth = AUTH_GUEST
#define CLAIMS .auth = AUTH_CLAIMS
#define IP_LIMITED .rate = RATE_AUTH_IP
#define TEST_ONLY .flags = ROUTE_TEST_HOOK
#define TOKEN_IN_QUERY .flags = ROUTE_TOKEN_QUERY

const struct route routes[] = {
    ROUTE(GET, "/health", health_get, .auth = AUTH_NONE),
    ROUTE(GET, "/ready", ready_get, .auth = AUTH_NONE),
    ROUTE(GET, "/metrics", metrics_get, .auth = AUTH_NONE),

    /* Accounts and authentication (API.md §3) */
    ROUTE(POST, "/accounts", accounts_create, OPTIONAL, IP_LIMITED),
    ROUTE(POST, "/auth/register", auth_register, IP_LIMITED),
    ROUTE(POST, "/auth", auth_login, IP_LIMITED),
    ROUTE(POST, "/auth/changepassword", auth_change_password, IP_LIMITED),
    ROUTE(POST, "/auth/logout", auth_logout, ACCOUNT),
    ROUTE(GET, "/accounts/me", accounts_me, ACCOUNT),
    ROUTE(POST, "/accounts/status/online", accounts_online, ACCOUNT),
    ROUTE(POST, "/accounts/status/offline", accounts_offline, ACCOUNT),
    ROUTE(POST, "/accounts/location", accounts_location, ACCOUNT),
    ROUTE(PUT, "/accounts/:id", accounts_update, ACCOUNT),

    /* Organizations (API.md §6.3) */
    ROUTE(POST, "/organizations", orgs_create, ACCOUNT),
    ROUTE(GET, "/organizations", orgs_list, ACCOUNT),
    ROUTE(GET, "/organizations/:id", orgs_get, ACCOUNT),
    ROUTE(PUT, "/organizations/:id", orgs_update, ACCOUNT),
    ROUTE(DELETE, "/organizations/:id", orgs_delete, ACCOUNT),

    /* Gigs (API.md §4) */
    ROUTE(GET, "/map/:lat/:long", map_get, ACCOUNT),
    ROUTE(POST, "/gigs", gigs_create, CLAIMS),
    ROUTE(GET, "/gigs", gigs_list, ACCOUNT),
    ROUTE(GET, "/gigs/:gigId", gigs_get, ACCOUNT),
    ROUTE(POST, "/gigs/claim/:gigId", gigs_claim, CLAIMS),
    ROUTE(POST, "/gigs/confirm/:gigId", gigs_confirm, CLAIMS),
    ROUTE(POST, "/gigs/reject/:gigId", gigs_reject, CLAIMS),
    ROUTE(POST, "/gigs/cancel/:gigId", gigs_cancel, CLAIMS),
    ROUTE(POST, "/gigs/handshake/:gigId", gigs_handshake, CLAIMS),
    ROUTE(POST, "/gigs/start/:gigId", gigs_start, CLAIMS),
    ROUTE(POST, "/gigs/stop/:gigId", gigs_stop, CLAIMS),
    ROUTE(POST, "/gigs/rate/:gigId", gigs_rate, CLAIMS),

    /* Leads and chat (API.md §5) */
    ROUTE(POST, "/leads", leads_create, .auth = AUTH_NONE, IP_LIMITED),
    ROUTE(GET, "/leads", leads_list, ACCOUNT),
    ROUTE(POST, "/chat/:streamId", chat_post, GUEST),
    ROUTE(GET, "/chat/:streamId", chat_get, GUEST),

    /* Dealer streams (API.md §5) */
    ROUTE(GET, "/vin/:vinId", vin_get, .auth = AUTH_NONE),
    ROUTE(POST, "/streams/request/:organizationCode", streams_request, .auth = AUTH_NONE,
          .rate = RATE_AUTH_IP),
    ROUTE(POST, "/streams/accept/:streamId", streams_accept, ACCOUNT),
    ROUTE(POST, "/streams/stop/:streamId", streams_stop, GUEST),
    ROUTE(POST, "/streams/note/:streamId", streams_note, ACCOUNT),
    ROUTE(GET, "/streams/:streamId", streams_get, GUEST),
    ROUTE(GET, "/streams", streams_list, ACCOUNT),
    ROUTE(POST, "/ping", streams_ping, CLAIMS),

    /* Chat rooms (API.md §8) */
    ROUTE(POST, "/room/add", chatrooms_add, ACCOUNT),
    ROUTE(GET, "/room/list", chatrooms_list, ACCOUNT),
    ROUTE(POST, "/room/list", chatrooms_message, CLAIMS),
    ROUTE(POST, "/room/message", chatrooms_message, CLAIMS),
    ROUTE(GET, "/room/select/:id", chatrooms_select, ACCOUNT),
    ROUTE(GET, "/room/stop/:id", chatrooms_stop, ACCOUNT),
    ROUTE(GET, "/webrtc/cameraOn", chatrooms_camera_on, ACCOUNT),
    ROUTE(GET, "/webrtc/cameraOff", chatrooms_camera_off, ACCOUNT),

    /* Prosody rooms and occupants (API.md §7), for the Prosody component */
    ROUTE(POST, "/api/v1/rooms", prosody_room_create, .auth = AUTH_SERVICE),
    ROUTE(GET, "/api/v1/rooms/:session", prosody_room_get, .auth = AUTH_SERVICE),
    ROUTE(DELETE, "/api/v1/rooms/:session", prosody_room_end, .auth = AUTH_SERVICE),
    ROUTE(POST, "/api/v1/occupants", prosody_occupant_create, .auth = AUTH_SERVICE),
    ROUTE(PUT, "/api/v1/occupants/:jid", prosody_occupant_update, .auth = AUTH_SERVICE),
    ROUTE(DELETE, "/api/v1/occupants/:jid", prosody_occupant_destroy, .auth = AUTH_SERVICE),

    /* Pusher (API.md §5) */
    ROUTE(POST, "/socket/auth", socket_auth, GUEST),

    /* Real-time events (API.md §9) */
    ROUTE(GET, "/events", events_get, GUEST, TOKEN_IN_QUERY),

/* Telemetry apps (API.md §6.3) and the SDK's routes (§6.1), these also under /v1 */
#define SDK .auth = AUTH_NONE, .flags = ROUTE_V1_ALIAS | ROUTE_CORS_ANY
#define MIB .body_limit = 1048576
    ROUTE(POST, "/apps", apps_create, ACCOUNT),
    ROUTE(GET, "/apps/:id", apps_get, ACCOUNT),
    ROUTE(PUT, "/apps/:id", apps_update, ACCOUNT),
    ROUTE(DELETE, "/apps/:id", apps_delete, ACCOUNT),
    ROUTE(POST, "/apps/:id/reset-key", apps_reset_key, ACCOUNT),
    ROUTE(POST, "/initialize", tm_initialize, SDK),
    ROUTE(POST, "/sessions", tm_sessions_create, SDK),
    ROUTE(PUT, "/sessions", tm_sessions_update, SDK),
    ROUTE(POST, "/events/get-user-media", tm_events_getusermedia, SDK),
    ROUTE(POST, "/events/browser", tm_events_browser, SDK),
    ROUTE(POST, "/connection", tm_connection, SDK),
    ROUTE(POST, "/connection/batch", tm_connection_batch, SDK, MIB),
    ROUTE(POST, "/stats", tm_stats, SDK, MIB),
    ROUTE(POST, "/tracks", tm_tracks_create, SDK),
    ROUTE(PUT, "/tracks", tm_tracks_update, SDK),

    /* Telemetry queries, plans and billing for the dashboard (API.md §6.3) */
    ROUTE(GET, "/conferences", tmq_conferences, ACCOUNT),
    ROUTE(GET, "/conferences/:id", tmq_conference, ACCOUNT),
    ROUTE(GET, "/conferences/:id/events", tmq_events, ACCOUNT),
    ROUTE(GET, "/conferences/:id/issues", tmq_issues, ACCOUNT),
    ROUTE(GET, "/conferences/:id/summary", tmq_summary, ACCOUNT),
    ROUTE(GET, "/participants", tmq_participants, ACCOUNT),
    ROUTE(GET, "/participants/:id", tmq_participant, ACCOUNT),
    ROUTE(GET, "/sessions", tmq_sessions, ACCOUNT),
    ROUTE(GET, "/sessions/:id", tmq_session, ACCOUNT),
    ROUTE(GET, "/search", tmq_search, ACCOUNT),
    ROUTE(PUT, "/subscription/:id", orgs_subscription, ACCOUNT),
    ROUTE(GET, "/billing/payment-token", billing_payment_token, ACCOUNT),
    ROUTE(POST, "/billing/payment-method", billing_payment_method, ACCOUNT),

    /* Black-box test support, only with --test-hooks */
    ROUTE(POST, "/_test/echo", testhook_echo, TEST_ONLY),
    ROUTE(GET, "/_test/sleep", testhook_sleep, TEST_ONLY),
    ROUTE(GET, "/_test/redis", testhook_redis, TEST_ONLY),
    ROUTE(POST, "/_test/redis", testhook_redis_push, TEST_ONLY),
    ROUTE(POST, "/_test/deadline", testhook_deadline, TEST_ONLY),
    ROUTE(POST, "/_test/notify", testhook_notify, TEST_ONLY),
};
const size_t nroutes = sizeof routes / sizeof routes[0];

int handlers_init(void) {
    router_set_runner(pipeline_run);
    if (trusted_proxies_init(srv.cfg.trusted_proxies) < 0)
        return -1;
    if (plans_init(srv.cfg.plans) < 0)
        return -1;
    accounts_init();
    map_init();
    if (events_init() < 0 || gigs_init() < 0 || streams_init() < 0)
        return -1;
    if (chatrooms_init() < 0)
        return -1;
    return testhooks_init();
}

void handlers_close(void) {
    events_close();
    map_close();
}

void handlers_free(void) {
    events_free();
    map_free();
}

void handlers_on_ready(void) {
    accounts_on_ready();
    events_on_store_ready();
}

int handler_parse_json(http_request *req, json_doc *doc) {
    if (json_parse(doc, &req->arena, req->body.data ? req->body.data : "", req->body.len) < 0) {
        resp_error(req, 400, "bad-json", "The body is not valid JSON");
        return -1;
    }
    return 0;
}

void json_resp_begin(http_request *req, struct json_resp *r) {
    buf_init(&r->b, &req->arena);
    json_w_init(&r->w, &r->b);
    json_w_obj_open(&r->w);
}

void json_resp_send(http_request *req, struct json_resp *r, int status) {
    json_w_obj_close(&r->w);
    resp_json(req, status, &r->b);
}

void handler_invalid(http_request *req, int status, const char *code, const char *field,
                     const char *reason) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "status");
    json_w_cstr(&r.w, code);
    json_w_key(&r.w, "message");
    char msg[160];
    snprintf(msg, sizeof msg, "%s %s", field, reason);
    json_w_cstr(&r.w, msg);
    json_w_key(&r.w, "errors");
    json_w_obj_open(&r.w);
    json_w_key(&r.w, field);
    json_w_cstr(&r.w, reason);
    json_w_obj_close(&r.w);
    json_resp_send(req, &r, status);
}

int handler_extract(http_request *req, const json_doc *doc, const struct json_field *f, size_t n) {
    if (json_type(doc, 0) != JSON_OBJECT) {
        handler_invalid(req, 422, "invalid", "body", "must be a JSON object");
        return -1;
    }
    const char *field, *reason;
    if (json_extract(doc, 0, &req->arena, f, n, &field, &reason) < 0) {
        handler_invalid(req, 422, "invalid", field, reason);
        return -1;
    }
    return 0;
}

int check_location(http_request *req, double lat, double lon, const char *latname,
                   const char *lonname) {
    if (!isfinite(lat) || lat < -90 || lat > 90) {
        handler_invalid(req, 422, "invalid", latname, "must be within -90..90");
        return -1;
    }
    if (!isfinite(lon) || lon < -180 || lon > 180) {
        handler_invalid(req, 422, "invalid", lonname, "must be within -180..180");
        return -1;
    }
    return 0;
}

const char *id_param(http_request *req, size_t *len, const char *message) {
    const char *id = http_param(req, 0, len);
    if (!id || !is_uuid(id, *len)) {
        resp_error(req, 404, "not-found", message);
        return NULL;
    }
    return id;
}

bool is_uuid(const char *s, size_t n) {
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}
