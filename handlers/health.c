/* Liveness, readiness and metrics: what a load balancer and Prometheus read. */
#include "core/conn.h"
#include "core/metrics.h"
#include "core/server.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "handlers/map.h"

static const char ok_body[] = "{\"status\":\"ok\"}";

/* 200 while the process runs: it never touches the store. */
void health_get(http_request *req) {
    resp_send(req, 200, "application/json; charset=utf-8", NULL, ok_body, sizeof ok_body - 1);
}

static void on_ping(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type == REDIS_REPLY_ERROR)
        resp_unavailable(req);
    else
        resp_send(req, 200, "application/json; charset=utf-8", NULL, ok_body, sizeof ok_body - 1);
}

/* 200 when the store answers a PING within its deadline and the events
 * subscriber is connected, else 503: a load balancer drains an instance that
 * cannot reach Redis. */
void ready_get(http_request *req) {
    if (srv.draining || !events_ready() || rds_command(srv.redis, on_ping, req, "PING") < 0)
        resp_unavailable(req);
}

void metrics_get(http_request *req) {
    buf b;
    buf_init(&b, &req->arena);
    metrics_render(&b);
    events_metrics(&b);
    map_metrics(&b);
    resp_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.data, b.len);
}
