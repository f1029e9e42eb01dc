#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, arena *a) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->a = a;
}

char *buf_reserve(buf *b, size_t extra) {
    if (b->data && b->cap - b->len >= extra)
        return b->data + b->len;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap - b->len < extra)
        cap *= 2;
    if (b->a) {
        char *p = arena_alloc(b->a, cap);
        if (b->len)
            memcpy(p, b->data, b->len);
        b->data = p;
    } else {
        b->data = xrealloc(b->data, cap);
    }
    b->cap = cap;
    return b->data + b->len;
}

void buf_commit(buf *b, size_t n) {
    b->len += n;
}

void buf_append(buf *b, const void *p, size_t n) {
    if (!n)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

void buf_appendc(buf *b, char c) {
    *buf_reserve(b, 1) = c;
    b->len++;
}

void buf_appends(buf *b, const char *s) {
    buf_append(b, s, strlen(s));
}

void buf_vprintf(buf *b, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n <= 0)
        return;
    char *p = buf_reserve(b, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

size_t buf_u64_digits(char *out, unsigned long long v) {
    /* Two digits per division: the Redis command writer formats a length
     * per argument, about 170 of them for a telemetry sample. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[20];
    size_t i = sizeof tmp;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        tmp[--i] = pairs[d + 1];
        tmp[--i] = pairs[d];
    }
    if (v >= 10) {
        tmp[--i] = pairs[v * 2 + 1];
        tmp[--i] = pairs[v * 2];
    } else {
        tmp[--i] = (char)('0' + v);
    }
    memcpy(out, tmp + i, sizeof tmp - i);
    return sizeof tmp - i;
}

void buf_append_u64(buf *b, unsigned long long v) {
    char tmp[20];
    buf_append(b, tmp, buf_u64_digits(tmp, v));
}

void buf_append_i64(buf *b, long long v) {
    if (v < 0) {
        buf_appendc(b, '-');
        buf_append_u64(b, 0ULL - (unsigned long long)v);
    } else {
        buf_append_u64(b, (unsigned long long)v);
    }
}

void buf_clear(buf *b) {
    b->len = 0;
}

void buf_free(buf *b) {
    if (!b->a)
        free(b->data);
    buf_init(b, b->a);
}
