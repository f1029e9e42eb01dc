/* One HTTP/1.1 connection: the socket, the parser, the request being handled,
 * and the output.
 *
 * Requests are handled one at a time in arrival order: the parser pauses at
 * each message's end, the handler runs, and parsing resumes when the response
 * is queued (at once for synchronous handlers, at the end of the loop turn for
 * ones that waited on Redis).  Bytes that arrive meanwhile wait in a buffer
 * (reading stops only when it passes 64 KiB, or while the output is above a
 * high-water mark).  Everything queued in one loop turn leaves in one write.
 *
 * A connection is never freed inside a callback that can still touch it: it is
 * closed (handles closing) and freed when both handles have closed and no
 * request of it is still waiting on Redis, so a late reply is harmless. */
#ifndef ONAIR_CONN_H
#define ONAIR_CONN_H

#include <stddef.h>
#include <uv.h>

#include "core/buf.h"
#include "protocol/http1.h"

/* Starts serving an accepted socket (server->data is unused). */
void conn_accept(uv_stream_t *server);

/* Installs the loop-turn hook that flushes output; call once at start-up. */
void conn_module_init(uv_loop_t *loop);
void conn_module_close(void);

/* Graceful shutdown: idle connections are closed now, busy ones after their
 * current response (which carries Connection: close). */
void conn_drain_all(void);

/* Closes every connection at once (the shutdown bound passed). */
void conn_close_all(void);

/* The TCP peer's address as text; 0, or -1 when unknown. */
int conn_peer_ip(const http_request *req, char *out, size_t outlen);

/* Responses.  Each request gets exactly one; after it the handler must not
 * touch req again.  `extra_headers` is zero or more "Name: value\r\n" lines. */
void resp_send(http_request *req, int status, const char *content_type, const char *extra_headers,
               const char *body, size_t len);
void resp_json(http_request *req, int status, const buf *body);
void resp_json_str(http_request *req, int status, const char *json);
void resp_error(http_request *req, int status, const char *code, const char *message);

/* 503 {"status":"unavailable"} with Retry-After: for when the store cannot answer. */
void resp_unavailable(http_request *req);

/* Streaming responses (Server-Sent Events).
 *
 * conn_stream_begin answers `req` with a 200 head that has no Content-Length
 * (the body ends when the connection does) followed by `first`, and turns the
 * connection into a stream: nothing more is parsed from it (what the client
 * sends is read and dropped, so its close is noticed), ops->on_tick runs
 * every interval_ms, and ops->on_close runs exactly once when the connection
 * is gone, at a safe point (never inside conn_stream_write or _end).
 * Returns the connection, or NULL when it was already closing: then the
 * request is finished, and neither callback will run. */
struct conn_stream_ops {
    void (*on_tick)(void *ud);
    void (*on_close)(void *ud);
};
struct conn *conn_stream_begin(http_request *req, const char *content_type,
                               const char *extra_headers, const char *first, size_t firstlen,
                               uint64_t interval_ms, size_t max_backlog,
                               const struct conn_stream_ops *ops, void *ud);

/* Queues bytes on a stream; they leave at the end of the loop turn.  Returns
 * 0; -1 when the stream is closing; -2 when the unsent output would pass
 * max_backlog: the slow reader is cut off (the connection closes). */
int conn_stream_write(struct conn *c, const char *data, size_t len);

/* Ends a stream from the server's side: what is queued is sent, then the
 * connection closes. */
void conn_stream_end(struct conn *c);

#endif
