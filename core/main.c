/* onair: one process serving every API on a single-threaded libuv loop, with
 * all shared state in Redis.  main wires the modules together, runs the loop
 * and shuts down gracefully on SIGTERM/SIGINT. */
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/cors.h"
#include "core/conn.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/router.h"
#include "core/server.h"
#include "core/workq.h"
#include "handlers/handlers.h"
#include "storage/keys.h"
#include "storage/reaper.h"
#include "storage/secret.h"

struct server srv;

static uv_signal_t sig_term, sig_int;
static uv_timer_t shutdown_timer;
static uint64_t shutdown_started;
static bool shutdown_forced;

static void on_redis_state(rds_client *c, enum rds_state s, void *ud) {
    log_info("redis", "state %s", rds_state_name(s));
    if (s == RDS_READY) {
        secret_on_ready(c);
        handlers_on_ready();
    }
}

static void finish_shutdown(void) {
    uv_timer_stop(&shutdown_timer);
    uv_close((uv_handle_t *)&shutdown_timer, NULL);
    reaper_stop();
    handlers_close();
    rds_close(srv.redis);
    conn_module_close();
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

/* Polls until every connection has finished, or the bound passes. */
static void on_shutdown_tick(uv_timer_t *t) {
    if (!srv.conns) {
        log_info("main", "all connections finished; exiting");
        finish_shutdown();
        return;
    }
    if (uv_now(srv.loop) - shutdown_started >= srv.cfg.shutdown_timeout_ms) {
        log_warn("main", "shutdown bound reached with %llu connections open; closing them",
                 (unsigned long long)srv.conns_open);
        conn_close_all();
        finish_shutdown();
        /* Work still pending in handlers (a timer, a hash on the thread
         * pool) must not keep the process alive past the bound. */
        shutdown_forced = true;
        uv_stop(srv.loop);
    }
}

static void on_signal(uv_signal_t *h, int signum) {
    if (srv.draining)
        return;
    log_info("main", "%s: no longer accepting; finishing in-flight requests",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    srv.draining = true;
    listener_stop();
    conn_drain_all();
    shutdown_started = uv_now(srv.loop);
    uv_timer_init(srv.loop, &shutdown_timer);
    uv_timer_start(&shutdown_timer, on_shutdown_tick, 0, 20);
}

int main(int argc, char **argv) {
    char err[8192];
    int rc = config_load(&srv.cfg, argc, argv, err, sizeof err);
    if (rc != 0) {
        fprintf(rc > 0 ? stdout : stderr, "%s\n", err);
        return rc > 0 ? 0 : 2;
    }
    log_set_level((enum log_level)log_level_parse(srv.cfg.log_level));
    if (sodium_init() < 0) {
        log_error("main", "libsodium failed to initialize");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Responses of some KiB are built and freed at thousands a second; with
     * glibc's defaults each free at the top of the heap gave the pages back
     * (brk) and the next request faulted them in again, a quarter of GET
     * /map's CPU.  Keep up to 32 MiB of free heap, and serve blocks under
     * 4 MiB from the heap rather than from fresh mmaps. */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    srv.loop = uv_default_loop();
    srv.limits = (struct http_limits){
        .max_header_bytes = srv.cfg.max_header_bytes,
        .max_headers = (uint32_t)srv.cfg.max_headers,
        .max_url_bytes = srv.cfg.max_url_bytes,
        .max_body_bytes = srv.cfg.max_body_bytes,
    };
    keys_init(srv.cfg.key_prefix);
    secret_init(srv.cfg.secret_bin, srv.cfg.secret_len);
    if (router_init(routes, nroutes, srv.cfg.test_hooks) < 0 || cors_init(srv.cfg.cors_origins) < 0)
        return 1;
    metrics_init(nroutes);

    struct rds_options ro = {.url = srv.cfg.redis,
                             .timeout_ms = (uint32_t)srv.cfg.redis_timeout_ms,
                             .on_state = on_redis_state};
    srv.redis = rds_new(srv.loop, &ro);
    if (!srv.redis)
        return 2;
    workq_init(srv.loop, srv.cfg.hash_queue);
    if (handlers_init() < 0)
        return 1;
    conn_module_init(srv.loop);
    if (listener_start(srv.loop, srv.cfg.listen) < 0)
        return 1;
    rds_start(srv.redis);
    reaper_start(srv.loop, srv.redis, srv.cfg.reaper_interval_ms, srv.cfg.redis_timeout_ms);

    uv_signal_init(srv.loop, &sig_term);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_init(srv.loop, &sig_int);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    log_info("main", "onair started");

    uv_run(srv.loop, UV_RUN_DEFAULT);
    if (shutdown_forced) {
        uv_run(srv.loop, UV_RUN_NOWAIT); /* let the closes started above complete */
        log_warn("main", "stopped with in-flight work abandoned");
        return 0;
    }
    handlers_free();
    rds_free(srv.redis);
    rc = uv_loop_close(srv.loop);
    if (rc != 0)
        log_warn("main", "loop closed with handles open: %s", uv_strerror(rc));
    cors_free();
    config_free(&srv.cfg);
    log_info("main", "stopped");
    return 0;
}
