/* JSON reading (strict RFC 8259, into flat tokens) and writing (streamed, no tree).
 *
 * Reading: json_parse() validates the whole document (grammar, UTF-8, nesting
 * depth) and tokenizes it in one pass, into tokens allocated from the caller's
 * arena.  Tokens reference the caller's buffer, which must outlive the
 * json_doc; raw slices (json_raw) let ingestion store a value without
 * re-encoding it.  Token 0 is the root.
 *
 * Writing: a json_writer appends to a buf; commas are inserted automatically,
 * strings are escaped (control characters, quote, backslash; U+2028/U+2029 as
 * \u2028/\u2029).  No intermediate tree. */
#ifndef ONAIR_JSON_H
#define ONAIR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"

#define JSON_MAX_DEPTH 64

enum json_type {
    JSON_INVALID = 0,
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

typedef struct json_tok {
    uint8_t type;   /* enum json_type */
    uint32_t start; /* offset of the value's first byte (for strings: after the quote) */
    uint32_t end;   /* offset one past the value (for strings: before the quote) */
    uint32_t size;  /* objects: number of keys; arrays: number of elements */
    uint32_t next;  /* index of the token following this value's whole subtree */
} json_tok;

typedef struct json_doc {
    const char *src;
    size_t len;
    json_tok *tok;
    int ntok;
} json_doc;

/* Parses src[0..len).  Returns 0, or -1 when the input is not exactly one valid
 * JSON value (surrounding whitespace allowed), is not valid UTF-8, nests deeper
 * than JSON_MAX_DEPTH, or is larger than INT_MAX bytes. */
int json_parse(json_doc *doc, arena *a, const char *src, size_t len);

enum json_type json_type(const json_doc *doc, int t);

/* Object member lookup by (unescaped) key; -1 when absent or `obj` is not an
 * object.  With duplicate keys the last one wins. */
int json_get(const json_doc *doc, int obj, const char *key);

/* Iteration: the first child of an array/object is obj+1 (for objects that is
 * the first key; its value is key+1); json_next() skips a whole subtree. */
static inline int json_next(const json_doc *doc, int t) {
    return (int)doc->tok[t].next;
}

/* The i-th element of an array, or -1. */
int json_array_at(const json_doc *doc, int arr, int i);

/* Typed accessors: 0 on success, -1 when the token has another type (or the
 * number does not fit).  json_string unescapes into the arena and
 * NUL-terminates: always a copy, so the result is a C string. */
int json_string(const json_doc *doc, int t, arena *a, const char **out, size_t *len);
int json_number(const json_doc *doc, int t, double *out);
int json_int64(const json_doc *doc, int t, int64_t *out); /* integral values only */
int json_bool(const json_doc *doc, int t, bool *out);

/* Compares a string token with a C string without unescaping when possible. */
bool json_string_eq(const json_doc *doc, int t, const char *s);

/* The value's exact bytes in the source (strings include their quotes). */
void json_raw(const json_doc *doc, int t, const char **p, size_t *len);

/* Table-driven extraction of an object's fields (lwan-style descriptions).
 * Each field names its key, the type it must have and where to store it:
 *   JSON_STRING -> const char ** (and optional size_t *len_out), length
 *                  checked against min_len/max_len (in bytes, or in
 *                  characters (code points) with `chars`; 0 = no limit)
 *   JSON_NUMBER -> double *
 *   JSON_BOOL   -> bool *
 *   JSON_OBJECT / JSON_ARRAY -> int * (the token index)
 * `present` (optional) is set to whether the key was there (and not null when
 * `null_ok`).  Returns 0, or -1 with *err_field and *err_reason set to the first
 * failing field and a short reason ("is required", "must be a string",
 * "is too long", ...). */
struct json_field {
    const char *name;
    enum json_type type;
    bool required;
    bool null_ok;
    size_t min_len;
    size_t max_len;
    void *out;
    size_t *len_out;
    bool *present;
    bool chars; /* min_len/max_len count characters, not bytes */
};

int json_extract(const json_doc *doc, int obj, arena *a, const struct json_field *fields,
                 size_t nfields, const char **err_field, const char **err_reason);

/* Writer. */
typedef struct json_writer {
    buf *b;
    int depth;
    uint64_t need_comma; /* bit per depth */
    bool after_key;
} json_writer;

void json_w_init(json_writer *w, buf *b);
void json_w_obj_open(json_writer *w);
void json_w_obj_close(json_writer *w);
void json_w_arr_open(json_writer *w);
void json_w_arr_close(json_writer *w);
void json_w_key(json_writer *w, const char *key);            /* key is emitted escaped */
void json_w_keyn(json_writer *w, const char *key, size_t n); /* may hold NUL bytes */
void json_w_str(json_writer *w, const char *s, size_t n);
void json_w_cstr(json_writer *w, const char *s); /* NULL writes null */
void json_w_int(json_writer *w, int64_t v);
void json_w_double(json_writer *w, double v); /* shortest round-trip form; NaN/Inf -> null */
void json_w_bool(json_writer *w, bool v);
void json_w_null(json_writer *w);
void json_w_raw(json_writer *w, const char *json, size_t n); /* already-valid JSON */

/* Appends s[0..n) escaped as a JSON string body (no quotes). */
void json_escape(buf *b, const char *s, size_t n);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool json_utf8_valid(const char *s, size_t n);

/* The number of code points (the contract's "characters") in s[0..n), which
 * must be valid UTF-8 (every string json_string returns is). */
size_t json_utf8_chars(const char *s, size_t n);

#endif
