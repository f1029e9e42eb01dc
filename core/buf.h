/* Growable byte buffer.
 *
 * Backed by an arena (the memory goes away with the request) or, when the arena
 * is NULL, by malloc (the owner calls buf_free).  Appends never fail: growth
 * aborts on out-of-memory like every allocation in onair. */
#ifndef ONAIR_BUF_H
#define ONAIR_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/arena.h"

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
    arena *a; /* NULL: malloc-backed */
} buf;

void buf_init(buf *b, arena *a);

/* Makes room for `extra` more bytes and returns a pointer to the free space;
 * the caller writes into it and then calls buf_commit. */
char *buf_reserve(buf *b, size_t extra);
void buf_commit(buf *b, size_t n);

void buf_append(buf *b, const void *p, size_t n);
void buf_appendc(buf *b, char c);
void buf_appends(buf *b, const char *s); /* NUL-terminated */
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Decimal integer, without printf. */
void buf_append_u64(buf *b, unsigned long long v);
/* Writes v in decimal at out (room for 20 bytes), without printf or NUL;
 * returns how many bytes. */
size_t buf_u64_digits(char *out, unsigned long long v);
void buf_append_i64(buf *b, long long v);

/* Empties the buffer, keeping its memory. */
void buf_clear(buf *b);

/* Releases a malloc-backed buffer (no-op for arena-backed ones). */
void buf_free(buf *b);

#endif
