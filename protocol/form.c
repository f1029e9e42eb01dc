/* application/x-www-form-urlencoded reading; see form.h.
 *
 * One pass over the body checks every field and remembers where the first
 * field with the wanted name keeps its value; only that value is then copied
 * into the arena.  Names are compared while they are decoded, without a copy. */
#include "protocol/form.h"

#include <string.h>
#include <strings.h>

#define FORM_MEDIA_TYPE "application/x-www-form-urlencoded"

static bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

bool form_is_urlencoded(const char *content_type, size_t n) {
    const size_t tlen = sizeof FORM_MEDIA_TYPE - 1;
    size_t i = 0;
    while (i < n && is_ows(content_type[i]))
        i++;
    if (n - i < tlen || strncasecmp(content_type + i, FORM_MEDIA_TYPE, tlen) != 0)
        return false;
    for (i += tlen; i < n && is_ows(content_type[i]); i++)
        ;
    return i == n || content_type[i] == ';';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the byte at s[*i] (one character, or a three-character escape) and
 * advances *i past it.  Returns the byte, or -1 for a malformed escape or a
 * NUL byte. */
static int next_byte(const char *s, size_t n, size_t *i) {
    char c = s[*i];
    if (c == '%') {
        int hi = n - *i >= 3 ? hexval(s[*i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[*i + 2]) : -1;
        if (lo < 0)
            return -1;
        c = (char)(hi << 4 | lo);
        *i += 3;
    } else {
        if (c == '+')
            c = ' ';
        *i += 1;
    }
    return c == '\0' ? -1 : (unsigned char)c;
}

/* Checks that s[0..n) decodes and, when `name` is not NULL, whether it
 * decodes to exactly name[0..nlen) (into *match).  Returns 0 or -1. */
static int scan(const char *s, size_t n, const char *name, size_t nlen, bool *match) {
    bool same = true;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        int c = next_byte(s, n, &i);
        if (c < 0)
            return -1;
        if (name && same && (j >= nlen || (unsigned char)name[j++] != c))
            same = false;
    }
    if (name)
        *match = same && j == nlen;
    return 0;
}

enum form_result form_get(arena *a, const char *body, size_t n, const char *name, const char **val,
                          size_t *len) {
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t found_len = 0;
    for (size_t at = 0; at < n;) {
        const char *field = body + at;
        const char *amp = memchr(field, '&', n - at);
        size_t flen = amp ? (size_t)(amp - field) : n - at;
        at += flen + 1;
        if (flen == 0)
            continue;
        const char *eq = memchr(field, '=', flen);
        size_t klen = eq ? (size_t)(eq - field) : flen;
        const char *v = eq ? eq + 1 : field + flen;
        size_t vlen = flen - (size_t)(v - field);
        bool match;
        if (scan(field, klen, name, nlen, &match) < 0 || scan(v, vlen, NULL, 0, NULL) < 0)
            return FORM_EMALFORMED;
        if (match && !found) {
            found = v;
            found_len = vlen;
        }
    }
    if (!found)
        return FORM_EABSENT;
    char *out = arena_alloc(a, found_len + 1);
    size_t o = 0;
    for (size_t i = 0; i < found_len;)
        out[o++] = (char)next_byte(found, found_len, &i);
    out[o] = '\0';
    *val = out;
    if (len)
        *len = o;
    return FORM_OK;
}
