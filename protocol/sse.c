#include "protocol/sse.h"

#include <string.h>

static int parse_u64(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int sse_id_parse(const char *s, size_t n, struct sse_id *out) {
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return -1;
    size_t left = (size_t)(dash - s);
    return parse_u64(s, left, &out->ms) < 0 || parse_u64(dash + 1, n - left - 1, &out->seq) < 0 ? -1
                                                                                                : 0;
}

void sse_event(buf *out, const char *id, size_t idlen, const char *event, size_t eventlen,
               const char *data, size_t datalen) {
    buf_append(out, "id: ", 4);
    buf_append(out, id, idlen);
    buf_append(out, "\nevent: ", 8);
    buf_append(out, event, eventlen);
    buf_appendc(out, '\n');
    const char *p = data, *end = data + datalen;
    for (;;) {
        const char *q = p;
        while (q < end && *q != '\n' && *q != '\r')
            q++;
        buf_append(out, "data: ", 6);
        buf_append(out, p, (size_t)(q - p));
        buf_appendc(out, '\n');
        if (q == end)
            break;
        if (*q == '\r' && q + 1 < end && q[1] == '\n')
            q++;
        p = q + 1;
    }
    buf_appendc(out, '\n');
}

void sse_comment(buf *out, const char *text) {
    buf_appendc(out, ':');
    buf_appends(out, text);
    buf_append(out, "\n\n", 2);
}
