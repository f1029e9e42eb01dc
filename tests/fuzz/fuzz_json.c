/* Fuzzes protocol/json.c.  Any input must be either rejected or parsed into a
 * consistent token tree; every accessor is run on every token and checked
 * against the others; the document is written back with the writer and must
 * parse to the same structure; and the input itself, escaped as a string,
 * must always produce valid JSON that decodes back to it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_json: invariant failed at line %d: %s\n", __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static arena a;

/* Checks the links and sizes of the subtree at t; returns its end. */
static int check_tree(const json_doc *doc, int t) {
    const json_tok *k = &doc->tok[t];
    CHECK(k->start <= k->end && k->end <= doc->len);
    CHECK((int)k->next > t && (int)k->next <= doc->ntok);
    int c = t + 1;
    if (k->type == JSON_ARRAY) {
        for (uint32_t i = 0; i < k->size; i++) {
            CHECK(json_array_at(doc, t, (int)i) == c);
            c = check_tree(doc, c);
        }
        CHECK(json_array_at(doc, t, (int)k->size) == -1);
    } else if (k->type == JSON_OBJECT) {
        for (uint32_t i = 0; i < k->size; i++) {
            CHECK(json_type(doc, c) == JSON_STRING);
            CHECK(doc->tok[c].next == (uint32_t)c + 1);
            c = check_tree(doc, c + 1);
        }
    } else {
        CHECK(k->size == 0);
    }
    CHECK(c == (int)k->next);
    return c;
}

/* Runs every accessor on token t and checks that they agree with its type
 * and with each other. */
static void check_accessors(const json_doc *doc, int t) {
    enum json_type type = json_type(doc, t);
    CHECK(type >= JSON_NULL && type <= JSON_OBJECT);
    const char *s;
    size_t n;
    double d;
    int64_t i;
    bool b;

    int rs = json_string(doc, t, &a, &s, &n);
    CHECK((rs == 0) == (type == JSON_STRING));
    if (rs == 0) {
        CHECK(s[n] == '\0');
        CHECK(n <= doc->tok[t].end - doc->tok[t].start);
        CHECK(json_utf8_valid(s, n));
        if (!memchr(s, '\0', n))
            CHECK(json_string_eq(doc, t, s));
        if (n > 0) {
            char *shorter = arena_strndup(&a, s, n - 1);
            CHECK(!json_string_eq(doc, t, shorter));
        }
        char *longer = arena_alloc(&a, n + 2);
        memcpy(longer, s, n);
        memcpy(longer + n, "x", 2);
        CHECK(!json_string_eq(doc, t, longer));
    } else {
        CHECK(!json_string_eq(doc, t, ""));
    }

    int rd = json_number(doc, t, &d);
    int ri = json_int64(doc, t, &i);
    CHECK(rd == -1 || type == JSON_NUMBER);
    CHECK(ri == -1 || (rd == 0 && d == (double)i));
    CHECK((json_bool(doc, t, &b) == 0) == (type == JSON_BOOL));

    /* A value's raw bytes are a JSON document of the same shape. */
    const char *raw;
    size_t rawlen;
    json_raw(doc, t, &raw, &rawlen);
    CHECK(raw >= doc->src && raw + rawlen <= doc->src + doc->len);
    json_doc sub;
    CHECK(json_parse(&sub, &a, raw, rawlen) == 0);
    CHECK(sub.ntok == (int)doc->tok[t].next - t);
    CHECK(json_type(&sub, 0) == type);
}

/* json_get must find the value of the last key equal to each key, judged
 * by comparing decoded keys rather than with json_string_eq. */
static void check_get(const json_doc *doc, int obj) {
    int k = obj + 1;
    for (uint32_t m = 0; m < doc->tok[obj].size; m++, k = json_next(doc, k + 1)) {
        const char *key, *other;
        size_t klen, olen;
        CHECK(json_string(doc, k, &a, &key, &klen) == 0);
        if (memchr(key, '\0', klen))
            continue;
        int want = -1, j = obj + 1;
        for (uint32_t q = 0; q < doc->tok[obj].size; q++, j = json_next(doc, j + 1)) {
            CHECK(json_string(doc, j, &a, &other, &olen) == 0);
            if (olen == klen && memcmp(other, key, klen) == 0)
                want = j + 1;
        }
        CHECK(want >= k + 1);
        CHECK(json_get(doc, obj, key) == want);
    }
}

/* Exercises json_extract on the object's first member with every field type;
 * it succeeds exactly when the type matches (or the value is an allowed null). */
static void check_extract(const json_doc *doc, int obj) {
    if (doc->tok[obj].size == 0)
        return;
    const char *key;
    size_t klen;
    CHECK(json_string(doc, obj + 1, &a, &key, &klen) == 0);
    if (memchr(key, '\0', klen))
        return;
    int v = json_get(doc, obj, key);
    static const enum json_type types[] = {JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_OBJECT,
                                           JSON_ARRAY};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        union {
            const char *s;
            double d;
            bool b;
            int t;
        } out;
        bool present;
        struct json_field f = {key, types[i], true, true, 0, 0, &out, NULL, &present, false};
        const char *field = NULL, *why = NULL;
        int r = json_extract(doc, obj, &a, &f, 1, &field, &why);
        enum json_type have = json_type(doc, v);
        if (have == JSON_NULL) {
            CHECK(r == 0 && !present);
        } else if (have != types[i]) {
            CHECK(r == -1 && field == key && why != NULL);
        } else if (r == -1) {
            CHECK(field == key && why != NULL);
            CHECK(have == JSON_STRING || have == JSON_NUMBER);
        } else {
            CHECK(present);
        }
    }
}

/* Writes the subtree at t; numbers alternate between raw copies and
 * re-encoded values to exercise both paths. */
static void write_value(json_writer *w, const json_doc *doc, int t) {
    const char *s;
    size_t n;
    double d;
    int64_t i;
    bool b;
    switch (json_type(doc, t)) {
    case JSON_OBJECT: {
        json_w_obj_open(w);
        int k = t + 1;
        for (uint32_t m = 0; m < doc->tok[t].size; m++, k = json_next(doc, k + 1)) {
            json_string(doc, k, &a, &s, &n);
            json_w_key(w, s); /* a key with a NUL is cut there: still valid */
            write_value(w, doc, k + 1);
        }
        json_w_obj_close(w);
        break;
    }
    case JSON_ARRAY: {
        json_w_arr_open(w);
        int k = t + 1;
        for (uint32_t m = 0; m < doc->tok[t].size; m++, k = json_next(doc, k))
            write_value(w, doc, k);
        json_w_arr_close(w);
        break;
    }
    case JSON_STRING:
        json_string(doc, t, &a, &s, &n);
        json_w_str(w, s, n);
        break;
    case JSON_NUMBER:
        if (t % 3 == 0) {
            json_raw(doc, t, &s, &n);
            json_w_raw(w, s, n);
        } else if (json_int64(doc, t, &i) == 0) {
            json_w_int(w, i);
        } else if (json_number(doc, t, &d) == 0) {
            json_w_double(w, d);
        } else {
            json_w_double(w, HUGE_VAL); /* out of double range: written as null */
        }
        break;
    case JSON_BOOL:
        json_bool(doc, t, &b);
        json_w_bool(w, b);
        break;
    default:
        json_w_null(w);
        break;
    }
}

/* The rewritten document has the same shape, strings and numbers. */
static void check_rewrite(const json_doc *doc) {
    buf b;
    buf_init(&b, &a);
    json_writer w;
    json_w_init(&w, &b);
    write_value(&w, doc, 0);
    CHECK(w.depth == 0);
    json_doc out;
    CHECK(json_parse(&out, &a, b.data, b.len) == 0);
    CHECK(out.ntok == doc->ntok);
    for (int t = 0; t < doc->ntok; t++) {
        enum json_type type = json_type(doc, t);
        double d1, d2;
        if (type == JSON_NUMBER && json_number(doc, t, &d1) < 0) {
            CHECK(json_type(&out, t) == JSON_NULL || t % 3 == 0);
            continue;
        }
        CHECK(json_type(&out, t) == type);
        CHECK(out.tok[t].size == doc->tok[t].size);
        CHECK(out.tok[t].next == doc->tok[t].next);
        if (type == JSON_NUMBER) {
            CHECK(json_number(&out, t, &d2) == 0);
            CHECK(memcmp(&d1, &d2, sizeof d1) == 0 || (d1 == 0 && d2 == 0 && t % 3 != 0));
        } else if (type == JSON_STRING) {
            const char *s1, *s2;
            size_t n1, n2;
            json_string(doc, t, &a, &s1, &n1);
            json_string(&out, t, &a, &s2, &n2);
            if (!memchr(s1, '\0', n1))
                CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0);
        }
    }

    /* The root's values copied raw into a new array, which is no deeper
     * than the root itself; an object loses its keys. */
    enum json_type root = json_type(doc, 0);
    if (root != JSON_ARRAY && root != JSON_OBJECT)
        return;
    buf_clear(&b);
    json_w_init(&w, &b);
    json_w_arr_open(&w);
    int k = root == JSON_OBJECT ? 2 : 1;
    for (uint32_t m = 0; m < doc->tok[0].size; m++) {
        const char *raw;
        size_t n;
        json_raw(doc, k, &raw, &n);
        json_w_raw(&w, raw, n);
        k = json_next(doc, k) + (root == JSON_OBJECT);
    }
    json_w_arr_close(&w);
    CHECK(json_parse(&out, &a, b.data, b.len) == 0);
    CHECK(out.ntok == doc->ntok - (root == JSON_OBJECT ? (int)doc->tok[0].size : 0));
}

/* Escaping arbitrary bytes always yields a valid JSON string, free of raw
 * control characters and U+2028/U+2029, that decodes to the input when the
 * input is valid UTF-8. */
static void check_escape(const char *src, size_t size, bool utf8) {
    buf b;
    buf_init(&b, &a);
    json_writer w;
    json_w_init(&w, &b);
    json_w_str(&w, src, size);
    for (size_t i = 0; i < b.len; i++) {
        CHECK((unsigned char)b.data[i] >= 0x20);
        if (i + 2 < b.len && b.data[i] == '\xe2' && b.data[i + 1] == '\x80')
            CHECK(b.data[i + 2] != '\xa8' && b.data[i + 2] != '\xa9');
    }
    json_doc doc;
    CHECK(json_parse(&doc, &a, b.data, b.len) == 0);
    const char *s;
    size_t n;
    CHECK(json_string(&doc, 0, &a, &s, &n) == 0);
    if (utf8)
        CHECK(n == size && memcmp(s, src, size) == 0);
    else
        CHECK(json_utf8_valid(s, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    bool utf8 = json_utf8_valid(src, size);
    json_doc doc;
    if (json_parse(&doc, &a, src, size) == 0) {
        CHECK(utf8);
        CHECK(doc.ntok >= 1);
        CHECK(check_tree(&doc, 0) == doc.ntok);
        for (int t = 0; t < doc.ntok; t++) {
            check_accessors(&doc, t);
            if (json_type(&doc, t) == JSON_OBJECT) {
                check_get(&doc, t);
                check_extract(&doc, t);
            }
        }
        CHECK(json_type(&doc, doc.ntok) == JSON_INVALID);
        check_rewrite(&doc);
    } else {
        CHECK(doc.ntok == 0);
    }
    check_escape(src, size, utf8);
    arena_reset(&a);
    return 0;
}
