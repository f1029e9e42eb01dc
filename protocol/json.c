/* JSON reading and writing; see json.h.
 *
 * json_parse() checks the whole document against RFC 8259 (grammar, UTF-8,
 * surrogate pairs, nesting depth) and emits its tokens in the same pass, with
 * their `next` links, into one arena array.  It was jsmn behind a separate
 * validator, since jsmn alone is far too lenient (it takes "01", "1.",
 * "[1,]", lone surrogates and invalid UTF-8); the second pass, jsmn's and
 * the tokens' conversion, took 64% of the parse of a telemetry sample.
 *
 * Numbers are converted with strtod/snprintf, which assume the "C" locale for
 * the decimal point; onair never calls setlocale(). */
#include "protocol/json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes that stand for themselves inside a JSON string and need no escaping
 * when written: printable ASCII except '"' and '\\'. */
static const uint8_t str_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
};

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the well-formed UTF-8 sequence at p (Unicode Table 3-7), or 0
 * when it is overlong, a surrogate, above U+10FFFF, truncated or not a lead
 * byte.  p < end. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    size_t avail = (size_t)(end - p);
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0; /* continuation byte, or overlong 2-byte lead C0/C1 */
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (p[2] & 0xC0) != 0x80)
            return 0;
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F: overlong */
        unsigned hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF: surrogates */
        return p[1] >= lo && p[1] <= hi ? 3 : 0;
    }
    if (c < 0xF5) {
        if (avail < 4 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        unsigned lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F: overlong */
        unsigned hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90..: above U+10FFFF */
        return p[1] >= lo && p[1] <= hi ? 4 : 0;
    }
    return 0;
}

bool json_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = utf8_seq(p, end);
        if (!k)
            return false;
        p += k;
    }
    return true;
}

size_t json_utf8_chars(const char *s, size_t n) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80; /* every byte but a continuation */
    return chars;
}

/* Writes code point cp (<= U+10FFFF, not a surrogate) as UTF-8; returns the
 * number of bytes. */
static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ------------------------------------------------------------ validator */

static int hexval(unsigned c) {
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    return -1;
}

/* The code unit of the four hex digits at p, or -1 when there are fewer than
 * four bytes left or one is not a hex digit. */
static long hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Checks the escape sequence at p (which points at the backslash) and returns
 * the byte after it, or NULL.  A \u escape of a high surrogate must be
 * immediately followed by an escaped low surrogate; a lone low surrogate is
 * rejected too, so every string decodes to valid UTF-8. */
static const unsigned char *v_escape(const unsigned char *p, const unsigned char *end) {
    if (end - p < 2)
        return NULL;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return p + 2;
    case 'u': {
        long u = hex4(p + 2, end);
        if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
            return NULL;
        if (u < 0xD800 || u > 0xDBFF)
            return p + 6;
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
            return NULL;
        long lo = hex4(p + 8, end);
        return lo >= 0xDC00 && lo <= 0xDFFF ? p + 12 : NULL;
    }
    default:
        return NULL;
    }
}

/* Skips whole 8-byte words of plain string bytes (str_plain): a sample's
 * thousand keys and ids make this the validator's hottest loop.  A word
 * stops the skip when any byte is '"', '\\', below 0x20 or from 0x80 up
 * (the usual SWAR tests, which can only err towards stopping: the byte loop
 * after it decides). */
static const unsigned char *skip_plain8(const unsigned char *p, const unsigned char *end) {
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
        uint64_t stop =
            ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | (w - ones * 0x20) | w;
        if (stop & high)
            break;
        p += 8;
    }
    return p;
}

/* Checks the string starting at the opening quote p; returns the byte after
 * the closing quote, or NULL. */
static const unsigned char *v_string(const unsigned char *p, const unsigned char *end) {
    p++;
    for (;;) {
        p = skip_plain8(p, end);
        while (p < end && str_plain[*p])
            p++;
        if (p == end)
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            p = v_escape(p, end);
            if (!p)
                return NULL;
        } else if (*p >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (!k)
                return NULL;
            p += k;
        } else {
            return NULL; /* raw control character */
        }
    }
}

static bool is_digit(unsigned c) {
    return c - '0' < 10;
}

/* number = [ minus ] int [ frac ] [ exp ] (RFC 8259 §6).  Returns the byte
 * after the number or NULL; what may follow is the caller's grammar. */
static const unsigned char *v_number(const unsigned char *p, const unsigned char *end) {
    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return NULL;
    if (*p++ != '0')
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

static const unsigned char *v_literal(const unsigned char *p, const unsigned char *end,
                                      const char *lit, size_t n) {
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* --------------------------------------------------------------- parsing */

/* The parser's state: the input, and the tokens emitted so far, in an arena
 * array that doubles when full, up to `max`: however the input ends, every
 * token but the first takes at least two bytes (its own first byte and a
 * separator or closing bracket), less one per container left open, so a
 * document has at most len / 2 + JSON_MAX_DEPTH + 1 tokens, and a failed parse
 * allocates no more than a successful one could. */
typedef struct pstate {
    const unsigned char *begin, *end;
    arena *a;
    json_tok *tok;
    uint32_t ntok, cap, max;
} pstate;

/* Appends a token for the value or key starting at `start`, a leaf until the
 * caller says otherwise; returns its index. */
static uint32_t emit(pstate *s, uint8_t type, const unsigned char *start) {
    if (s->ntok == s->cap) {
        if (s->cap == s->max) {
            fprintf(stderr, "onair: json: more than %u tokens in %u bytes\n", s->max,
                    (unsigned)(s->end - s->begin));
            abort(); /* the bound above is wrong: a bug in this file, not bad input */
        }
        s->cap = s->cap < s->max / 2 ? s->cap * 2 : s->max;
        json_tok *t = arena_alloc(s->a, (size_t)s->cap * sizeof *t);
        memcpy(t, s->tok, (size_t)s->ntok * sizeof *t);
        s->tok = t;
    }
    uint32_t i = s->ntok++;
    s->tok[i] = (json_tok){type, (uint32_t)(start - s->begin), 0, 0, i + 1};
    return i;
}

/* Ends token i at `stop` (one past its last byte) and returns stop. */
static const unsigned char *close_tok(pstate *s, uint32_t i, const unsigned char *stop) {
    if (stop)
        s->tok[i].end = (uint32_t)(stop - s->begin);
    return stop;
}

/* A string value or key at p (the opening quote): its token spans the
 * contents, between the quotes.  Returns the byte after it, or NULL. */
static const unsigned char *p_string(pstate *s, const unsigned char *p) {
    uint32_t i = emit(s, JSON_STRING, p + 1);
    p = v_string(p, s->end);
    return p ? close_tok(s, i, p - 1) + 1 : NULL;
}

/* Checks the value at p, which is nested `depth` containers deep, and emits
 * its tokens; returns the byte after it, or NULL.  Recursion is bounded by
 * JSON_MAX_DEPTH. */
static const unsigned char *p_value(pstate *s, const unsigned char *p, int depth) {
    const unsigned char *end = s->end;
    if (p == end)
        return NULL;
    uint32_t i;
    switch (*p) {
    case '{':
    case '[': {
        bool obj = *p == '{';
        char close = obj ? '}' : ']';
        if (depth == JSON_MAX_DEPTH)
            return NULL;
        i = emit(s, obj ? JSON_OBJECT : JSON_ARRAY, p);
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
            return close_tok(s, i, p + 1);
        for (uint32_t n = 1;; n++) {
            if (obj) {
                if (p == end || *p != '"' || !(p = p_string(s, p)))
                    return NULL;
                p = skip_ws(p, end);
                if (p == end || *p != ':')
                    return NULL;
                p = skip_ws(p + 1, end);
            }
            p = p_value(s, p, depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p, end);
            if (p == end)
                return NULL;
            if (*p == close) {
                s->tok[i].size = n;
                s->tok[i].next = s->ntok;
                return close_tok(s, i, p + 1);
            }
            if (*p != ',')
                return NULL;
            p = skip_ws(p + 1, end);
        }
    }
    case '"':
        return p_string(s, p);
    case 't':
        i = emit(s, JSON_BOOL, p);
        return close_tok(s, i, v_literal(p, end, "true", 4));
    case 'f':
        i = emit(s, JSON_BOOL, p);
        return close_tok(s, i, v_literal(p, end, "false", 5));
    case 'n':
        i = emit(s, JSON_NULL, p);
        return close_tok(s, i, v_literal(p, end, "null", 4));
    default:
        i = emit(s, JSON_NUMBER, p);
        return close_tok(s, i, v_number(p, end));
    }
}

/* One pass: the grammar checks above, emitting each token as its value is
 * checked.  The first guess at the number of tokens, one per 8 bytes, holds a
 * telemetry sample's (one per 11); a document of short values doubles the
 * array a few times.  INT_MAX bytes keep every count and offset within
 * uint32_t. */
int json_parse(json_doc *doc, arena *a, const char *src, size_t len) {
    doc->src = src;
    doc->len = len;
    doc->tok = NULL;
    doc->ntok = 0;
    if (len == 0 || len > INT_MAX)
        return -1;
    const unsigned char *begin = (const unsigned char *)src, *end = begin + len;
    pstate s = {
        begin, end, a, NULL, 0, (uint32_t)(len / 8 + 16), (uint32_t)(len / 2 + JSON_MAX_DEPTH + 1)};
    s.tok = arena_alloc(a, (size_t)s.cap * sizeof *s.tok);
    const unsigned char *after = p_value(&s, skip_ws(begin, end), 0);
    if (!after || skip_ws(after, end) != end)
        return -1;
    doc->tok = s.tok;
    doc->ntok = (int)s.ntok;
    return 0;
}

/* ------------------------------------------------------------- accessors */

enum json_type json_type(const json_doc *doc, int t) {
    if (t < 0 || t >= doc->ntok)
        return JSON_INVALID;
    return (enum json_type)doc->tok[t].type;
}

/* Decodes the escape at p (a backslash in a validated string) into out (room
 * for 4 bytes); returns the number of bytes written and advances *pp past the
 * escape. */
static size_t unescape_one(const unsigned char **pp, char *out) {
    const unsigned char *p = *pp;
    char c;
    switch (p[1]) {
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    case 'u': {
        /* Validation guarantees the digits and the surrogate pairing. */
        uint32_t cp = (uint32_t)hex4(p + 2, p + 6);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = (uint32_t)hex4(p + 8, p + 12);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *pp = p + 12;
        } else {
            *pp = p + 6;
        }
        return utf8_put(out, cp);
    }
    default: /* '"', '\\', '/' */
        c = (char)p[1];
        break;
    }
    *pp = p + 2;
    out[0] = c;
    return 1;
}

/* Always copies into the arena, even without escapes, so that the result is
 * NUL-terminated and callers may treat it as a C string (json_extract hands
 * it out without a length). */
int json_string(const json_doc *doc, int t, arena *a, const char **out, size_t *len) {
    if (json_type(doc, t) != JSON_STRING)
        return -1;
    const json_tok *k = &doc->tok[t];
    const unsigned char *p = (const unsigned char *)doc->src + k->start;
    const unsigned char *end = (const unsigned char *)doc->src + k->end;
    const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
    if (!bs) {
        *out = arena_strndup(a, (const char *)p, (size_t)(end - p));
        if (len)
            *len = (size_t)(end - p);
        return 0;
    }
    /* Escapes never grow: "\uXXXX" is 6 bytes for at most 3 of UTF-8, a
     * surrogate pair 12 for 4. */
    char *dst = arena_alloc(a, (size_t)(end - p) + 1), *d = dst;
    while (p < end) {
        if (!bs) {
            memcpy(d, p, (size_t)(end - p));
            d += end - p;
            break;
        }
        memcpy(d, p, (size_t)(bs - p));
        d += bs - p;
        p = bs;
        d += unescape_one(&p, d);
        bs = memchr(p, '\\', (size_t)(end - p));
    }
    *d = '\0';
    *out = dst;
    if (len)
        *len = (size_t)(d - dst);
    return 0;
}

/* json_string_eq with the length of s known. */
static bool string_eq(const json_doc *doc, int t, const char *s, size_t n) {
    const json_tok *k = &doc->tok[t];
    const unsigned char *p = (const unsigned char *)doc->src + k->start;
    const unsigned char *end = (const unsigned char *)doc->src + k->end;
    const unsigned char *q = (const unsigned char *)s, *qend = q + n;
    /* Decoding only shrinks, so a shorter raw token cannot match. */
    if ((size_t)(end - p) < n)
        return false;
    while (p < end) {
        if (*p != '\\') {
            if (q == qend || *q != *p)
                return false;
            p++;
            q++;
            continue;
        }
        char tmp[4];
        size_t m = unescape_one(&p, tmp);
        if ((size_t)(qend - q) < m || memcmp(q, tmp, m) != 0)
            return false;
        q += m;
    }
    return q == qend;
}

bool json_string_eq(const json_doc *doc, int t, const char *s) {
    if (json_type(doc, t) != JSON_STRING)
        return false;
    return string_eq(doc, t, s, strlen(s));
}

int json_get(const json_doc *doc, int obj, const char *key) {
    if (json_type(doc, obj) != JSON_OBJECT)
        return -1;
    size_t n = strlen(key);
    int found = -1;
    int k = obj + 1;
    for (uint32_t i = 0; i < doc->tok[obj].size; i++) {
        if (string_eq(doc, k, key, n))
            found = k + 1;
        k = json_next(doc, k + 1);
    }
    return found;
}

int json_array_at(const json_doc *doc, int arr, int i) {
    if (json_type(doc, arr) != JSON_ARRAY || i < 0 || (uint32_t)i >= doc->tok[arr].size)
        return -1;
    int k = arr + 1;
    while (i-- > 0)
        k = json_next(doc, k);
    return k;
}

/* An invalid token index yields an empty slice. */
void json_raw(const json_doc *doc, int t, const char **p, size_t *len) {
    if (json_type(doc, t) == JSON_INVALID) {
        *p = doc->src;
        *len = 0;
        return;
    }
    const json_tok *k = &doc->tok[t];
    uint32_t quote = k->type == JSON_STRING;
    *p = doc->src + k->start - quote;
    *len = k->end - k->start + 2 * quote;
}

/* Parses an integer literal (-?(0|[1-9][0-9]*)) of n bytes at p; 0 when it
 * is one and fits in int64_t.  Validated input makes the syntax check short:
 * only a '.', 'e' or 'E' can make a JSON number non-integral. */
static int parse_int64(const char *p, size_t n, int64_t *out) {
    bool neg = *p == '-';
    size_t i = neg;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9 || v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Only integer literal syntax is accepted: "1.0", "1e3" and "-0.0" are
 * rejected even though their values are integral, so a caller asking for an
 * integer never sees a silently rounded float. */
int json_int64(const json_doc *doc, int t, int64_t *out) {
    if (json_type(doc, t) != JSON_NUMBER)
        return -1;
    const json_tok *k = &doc->tok[t];
    return parse_int64(doc->src + k->start, k->end - k->start, out);
}

/* Fails on numbers beyond the double range ("1e400"); underflow rounds to 0
 * or a subnormal as strtod does.  Integer literals that fit in int64_t skip
 * strtod: the int64_t to double conversion rounds to nearest just like it. */
int json_number(const json_doc *doc, int t, double *out) {
    if (json_type(doc, t) != JSON_NUMBER)
        return -1;
    const json_tok *k = &doc->tok[t];
    const char *p = doc->src + k->start;
    size_t n = k->end - k->start;
    int64_t iv;
    if (parse_int64(p, n, &iv) == 0) {
        *out = iv == 0 && *p == '-' ? -0.0 : (double)iv; /* "-0" is -0 */
        return 0;
    }
    /* strtod needs a terminator; the source may end right after the number. */
    char small[64];
    char *tmp = n < sizeof small ? small : xmalloc(n + 1);
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    double d = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    if (!isfinite(d))
        return -1;
    *out = d;
    return 0;
}

int json_bool(const json_doc *doc, int t, bool *out) {
    if (json_type(doc, t) != JSON_BOOL)
        return -1;
    *out = doc->src[doc->tok[t].start] == 't';
    return 0;
}

/* ------------------------------------------------------------ extraction */

static const char *type_reason(enum json_type type) {
    switch (type) {
    case JSON_STRING:
        return "must be a string";
    case JSON_NUMBER:
        return "must be a number";
    case JSON_BOOL:
        return "must be a boolean";
    case JSON_OBJECT:
        return "must be an object";
    case JSON_ARRAY:
        return "must be an array";
    default:
        return "has an unsupported field type";
    }
}

/* Checks and stores one field whose value is token v; returns NULL or the
 * failure reason. */
static const char *extract_one(const json_doc *doc, int v, arena *a, const struct json_field *f) {
    enum json_type have = json_type(doc, v);
    if (have != f->type)
        return type_reason(f->type);
    switch (f->type) {
    case JSON_STRING: {
        const char *s;
        size_t n;
        json_string(doc, v, a, &s, &n);
        /* A NUL would silently truncate the value for C-string users. */
        if (memchr(s, '\0', n))
            return "must not contain NUL characters";
        size_t len = n;
        if (f->chars) /* decoded strings are valid UTF-8: count the lead bytes */
            for (size_t i = len = 0; i < n; i++)
                len += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (len < f->min_len)
            return "is too short";
        if (f->max_len && len > f->max_len)
            return "is too long";
        *(const char **)f->out = s;
        if (f->len_out)
            *f->len_out = n;
        return NULL;
    }
    case JSON_NUMBER:
        if (json_number(doc, v, f->out) < 0)
            return "is out of range";
        return NULL;
    case JSON_BOOL:
        json_bool(doc, v, f->out);
        return NULL;
    case JSON_OBJECT:
    case JSON_ARRAY:
        *(int *)f->out = v;
        return NULL;
    default:
        return type_reason(f->type);
    }
}

/* Fields are checked in table order and outputs of fields before the failing
 * one are already written.  A required field must be present; with null_ok a
 * null value is accepted (present = false, out untouched) even when required.
 * When `obj` is not an object, *err_field is "" and the reason says so. */
int json_extract(const json_doc *doc, int obj, arena *a, const struct json_field *fields,
                 size_t nfields, const char **err_field, const char **err_reason) {
    if (json_type(doc, obj) != JSON_OBJECT) {
        *err_field = "";
        *err_reason = "must be an object";
        return -1;
    }
    for (size_t i = 0; i < nfields; i++) {
        const struct json_field *f = &fields[i];
        int v = json_get(doc, obj, f->name);
        bool absent = v < 0 || (f->null_ok && json_type(doc, v) == JSON_NULL);
        if (f->present)
            *f->present = !absent;
        const char *why = NULL;
        if (v < 0)
            why = f->required ? "is required" : NULL;
        else if (!absent)
            why = extract_one(doc, v, a, f);
        if (why) {
            *err_field = f->name;
            *err_reason = why;
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- writer */

/* Comma state lives in one bit per open container (the top level needs none:
 * it holds a single value), so the writer nests exactly as deep as the
 * parser accepts.  Misnesting is a programming error and aborts. */
static void w_misuse(const char *what) {
    fprintf(stderr, "onair: json writer: %s\n", what);
    abort();
}

/* Emits the comma a new value or key needs, if any. */
static void w_prefix(json_writer *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0)
        return;
    uint64_t bit = (uint64_t)1 << (w->depth - 1);
    if (w->need_comma & bit)
        buf_appendc(w->b, ',');
    else
        w->need_comma |= bit;
}

static void w_open(json_writer *w, char c) {
    if (w->depth == JSON_MAX_DEPTH)
        w_misuse("nesting deeper than JSON_MAX_DEPTH");
    w_prefix(w);
    buf_appendc(w->b, c);
    w->depth++;
    w->need_comma &= ~((uint64_t)1 << (w->depth - 1));
}

static void w_close(json_writer *w, char c) {
    if (w->depth == 0 || w->after_key)
        w_misuse("close without a matching open, or right after a key");
    w->depth--;
    buf_appendc(w->b, c);
}

void json_w_init(json_writer *w, buf *b) {
    w->b = b;
    w->depth = 0;
    w->need_comma = 0;
    w->after_key = false;
}

void json_w_obj_open(json_writer *w) {
    w_open(w, '{');
}

void json_w_obj_close(json_writer *w) {
    w_close(w, '}');
}

void json_w_arr_open(json_writer *w) {
    w_open(w, '[');
}

void json_w_arr_close(json_writer *w) {
    w_close(w, ']');
}

void json_w_keyn(json_writer *w, const char *key, size_t n) {
    if (w->after_key || w->depth == 0)
        w_misuse("key outside an object or right after a key");
    w_prefix(w);
    buf_appendc(w->b, '"');
    json_escape(w->b, key, n);
    buf_append(w->b, "\":", 2);
    w->after_key = true;
}

void json_w_key(json_writer *w, const char *key) {
    json_w_keyn(w, key, strlen(key));
}

void json_w_str(json_writer *w, const char *s, size_t n) {
    w_prefix(w);
    buf_appendc(w->b, '"');
    json_escape(w->b, s, n);
    buf_appendc(w->b, '"');
}

void json_w_cstr(json_writer *w, const char *s) {
    if (s)
        json_w_str(w, s, strlen(s));
    else
        json_w_null(w);
}

void json_w_int(json_writer *w, int64_t v) {
    w_prefix(w);
    buf_append_i64(w->b, v);
}

/* The shortest of %.15g, %.16g and %.17g that reads back as the same double;
 * %.17g always does.  -0 is written as "-0", which parses back to -0. */
void json_w_double(json_writer *w, double v) {
    if (!isfinite(v)) {
        json_w_null(w);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v) {
        n = snprintf(tmp, sizeof tmp, "%.16g", v);
        if (strtod(tmp, NULL) != v)
            n = snprintf(tmp, sizeof tmp, "%.17g", v);
    }
    w_prefix(w);
    buf_append(w->b, tmp, (size_t)n);
}

void json_w_bool(json_writer *w, bool v) {
    w_prefix(w);
    if (v)
        buf_append(w->b, "true", 4);
    else
        buf_append(w->b, "false", 5);
}

void json_w_null(json_writer *w) {
    w_prefix(w);
    buf_append(w->b, "null", 4);
}

void json_w_raw(json_writer *w, const char *json, size_t n) {
    w_prefix(w);
    buf_append(w->b, json, n);
}

/* Besides the escapes json.h lists, each byte that is not part of a
 * well-formed UTF-8 sequence becomes U+FFFD, so that whatever the input, the
 * writer's output is valid JSON that json_parse accepts. */
void json_escape(buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (n == 0)
        return;
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    while (p < end) {
        if (str_plain[*p]) {
            p++;
            continue;
        }
        buf_append(b, run, (size_t)(p - run));
        unsigned c = *p;
        if (c >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (k == 3 && c == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
                /* Line/paragraph separators are valid JSON but end a line in
                 * JavaScript, which matters when JSON is embedded in a script. */
                buf_append(b, p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                k = 3;
            } else if (k) {
                buf_append(b, p, k);
            } else {
                buf_append(b, "\xEF\xBF\xBD", 3);
                k = 1;
            }
            p += k;
            run = p;
            continue;
        }
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\':
            e[1] = (char)c;
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            elen = 6;
            break;
        }
        buf_append(b, e, elen);
        p++;
        run = p;
    }
    buf_append(b, run, (size_t)(p - run));
}
