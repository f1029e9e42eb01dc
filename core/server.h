/* Process-wide state: the loop, the configuration, the store, and the
 * connections.  One instance, `srv`, owned by main. */
#ifndef ONAIR_SERVER_H
#define ONAIR_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "protocol/http1.h"
#include "storage/redis.h"

struct conn;

struct server {
    uv_loop_t *loop;
    struct config cfg;
    struct http_limits limits;
    rds_client *redis;
    bool draining;
    uint64_t conns_open;
    struct conn *conns; /* every open connection, for draining */
};

extern struct server srv;

#endif
