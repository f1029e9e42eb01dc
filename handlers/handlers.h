/* Every route handler, and the table that maps routes to them. */
#ifndef ONAIR_HANDLERS_H
#define ONAIR_HANDLERS_H

#include <stddef.h>

#include "core/router.h"
#include "protocol/http1.h"

extern const struct route routes[];
extern const size_t nroutes;

/* Registers deadline kinds and anything else handlers need at start-up. */
int handlers_init(void);

/* health.c */
void health_get(http_request *req);
void ready_get(http_request *req);
void metrics_get(http_request *req);

/* testhooks.c: only routed with --test-hooks. */
void testhook_echo(http_request *req);
void testhook_sleep(http_request *req);
void testhook_redis(http_request *req);
void testhook_deadline(http_request *req);
int testhooks_init(void);

/* Parses the request body as JSON (whatever the Content-Type), answering
 * 400 bad-json itself when it is not.  Returns 0, or -1 when it answered. */
struct json_doc;
int handler_parse_json(http_request *req, struct json_doc *doc);

#endif
