/* Real-time events (API.md §9, docs/events.md): GET /events streams, and the
 * API every handler uses to tell someone that something happened.
 *
 * An event goes to a recipient (today an account; `kind` leaves room for
 * other kinds).  events_notify appends it to the recipient's event log (a
 * capped Redis Stream, for Last-Event-ID replay) and publishes it on the
 * recipient's channel in one script; every instance with a stream of that
 * recipient is subscribed to the channel (one subscriber connection per
 * process) and writes the event to its streams. */
#ifndef ONAIR_EVENTS_H
#define ONAIR_EVENTS_H

#include <stddef.h>

#include "core/buf.h"
#include "protocol/http1.h"
#include "storage/keys.h"
#include "storage/redis.h"

/* Starts the subscriber connection.  Returns 0, or -1 when it cannot be set up. */
int events_init(void);
void events_close(void);
void events_free(void); /* after the loop has stopped */

/* The command connection is ready (again): streams that could not read the
 * log meanwhile do it now. */
void events_on_store_ready(void);

/* True when new streams can be served: the subscriber is connected. */
bool events_ready(void);

/* Sends `event` with the JSON `data` (one value, normally an object) to the
 * recipient's open streams on every instance, and keeps it for replay.
 * Fire-and-forget: the events of one turn of the loop are published by one
 * script call after the turn's I/O, in the order they were made; a failure is
 * logged (the event is lost only if Redis cannot take it). */
void events_notify(const char *kind, const char *id, size_t idlen, const char *event,
                   const char *data, size_t datalen);

/* The same event to several recipients of one kind. */
void events_notify_many(const char *kind, const char *const *ids, size_t n, const char *event,
                        const char *data, size_t datalen);

/* events_notify at once, with a completion: cb gets an array reply holding
 * the event's id, or an error.  Returns -1 at once when the store is not
 * ready. */
int events_publish(const char *kind, const char *id, size_t idlen, const char *event,
                   const char *data, size_t datalen, rds_cb cb, void *ud);

/* For a script that publishes an event together with the change it reports
 * (storage/scripts/lib/events.lua): the recipient's log and the log's limits.
 * Returns -1 when the key cannot be built. */
struct events_target {
    char key[KEY_MAX];
    size_t keylen;
    char keep[24], ttl[24];
};
int events_target(struct events_target *t, const char *kind, const char *id, size_t idlen);

/* GET /events */
void events_get(http_request *req);

/* Appends the events metrics (Prometheus text). */
void events_metrics(buf *out);

#endif
