/* Server-Sent Events framing (WHATWG HTML, "Server-sent events"): events and
 * comments as they go on the wire of a text/event-stream response, and the
 * event ids onair uses (Redis Stream IDs, "<ms>-<seq>"). */
#ifndef ONAIR_SSE_H
#define ONAIR_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* An event id: the position in a recipient's Redis Stream.  Ordered by
 * (ms, seq); {0, 0} precedes every real id. */
struct sse_id {
    uint64_t ms, seq;
};

/* Parses "<digits>-<digits>" (each part fitting 64 bits).  Returns 0, or -1
 * for anything else. */
int sse_id_parse(const char *s, size_t n, struct sse_id *out);

/* a > b */
static inline bool sse_id_after(struct sse_id a, struct sse_id b) {
    return a.ms > b.ms || (a.ms == b.ms && a.seq > b.seq);
}

/* Appends "id: <id>\nevent: <event>\n" and one "data: " line per line of
 * `data` (split at CR, LF or CRLF, as the spec's parser would), then the blank
 * line that dispatches the event.  `id` and `event` must not contain line
 * breaks; the caller guarantees it (they come from our own code). */
void sse_event(buf *out, const char *id, size_t idlen, const char *event, size_t eventlen,
               const char *data, size_t datalen);

/* Appends ":<text>\n\n", a comment that clients ignore. */
void sse_comment(buf *out, const char *text);

#endif
