/* Unit tests for protocol/json.c: the strict validator, tokens, accessors,
 * extraction and the writer. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "protocol/json.h"

/* A literal with its exact length, so cases may contain NUL bytes. */
struct lit {
    const char *s;
    size_t n;
};
#define L(x)                                                                                       \
    { x, sizeof(x) - 1 }

static int parse_lit(const struct lit *c, arena *a, json_doc *doc) {
    return json_parse(doc, a, c->s, c->n);
}

/* Prints a table case readably (escaping non-printables) before failing. */
static void fail_case(const char *what, size_t i, const struct lit *c) {
    char shown[256];
    size_t o = 0;
    for (size_t k = 0; k < c->n && o + 5 < sizeof shown; k++) {
        unsigned char ch = (unsigned char)c->s[k];
        if (ch >= 0x20 && ch < 0x7f)
            shown[o++] = (char)ch;
        else
            o += (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", ch);
    }
    shown[o] = '\0';
    fail_msg("%s: case %zu: '%s'", what, i, shown);
}

static const struct lit valid[] = {
    L("[]"),
    L("{}"),
    L("[[]]"),
    L(" [1] "),
    L("\t\r\n [ ] \n"),
    L("1"),
    L("0"),
    L("-0"),
    L("-0.0e-0"),
    L("-1.5e+10"),
    L("1E-2"),
    L("1e400"),
    L("123456789012345678901234567890"),
    L("\"a\""),
    L("\"\""),
    L("true"),
    L("false"),
    L("null"),
    L(" null "),
    L("{\"a\":1}"),
    L("{ \"a\" : 1 , \"b\" : [ ] }"),
    L("{\"a\":[1,{\"b\":null}]}"),
    L("{\"\":0}"),
    L("{\"a\":1,\"a\":2}"),
    L("[1,2 , 3]"),
    L("[\"\\u0000\"]"),
    L("[\"\\ud83d\\ude00\"]"),
    L("[\"\\uD834\\uDD1E\"]"),
    L("[\"\\uDBFF\\uDFFF\"]"),
    L("[\"\\uFFFF\"]"),
    L("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
    L("[\"\xc3\xa9\"]"),                 /* U+00E9 */
    L("[\"\xed\x9f\xbf\"]"),             /* U+D7FF, just below the surrogates */
    L("[\"\xee\x80\x80\"]"),             /* U+E000, just above */
    L("[\"\xef\xbf\xbf\"]"),             /* U+FFFF */
    L("[\"\xf0\x90\x80\x80\"]"),         /* U+10000 */
    L("[\"\xf0\x9f\x98\x80\"]"),         /* U+1F600 */
    L("[\"\xf4\x8f\xbf\xbf\"]"),         /* U+10FFFF */
    L("[\"\xe2\x80\xa8\xe2\x80\xa9\"]"), /* U+2028, U+2029 raw are fine in JSON */
    L("[\"\x7f\"]"),                     /* DEL is not a control char in JSON */
    L("[1e1,0.5,-0.25E-3,10E+2]"),
    L("[true,false,null]"),
};

static const struct lit invalid[] = {
    L(""),
    L(" "),
    L("["),
    L("]"),
    L("{"),
    L("[1,]"),
    L("{\"a\":1,}"),
    L("[,1]"),
    L("[,]"),
    L("[1,,2]"),
    L("[1 2]"),
    L("1 2"),
    L("[] []"),
    L("{}x"),
    L("[1]]"),
    L("[1}"),
    L("{\"a\":1]"),
    L("{\"a\" 1}"),
    L("{\"a\":}"),
    L("{\"a\"}"),
    L("{a:1}"),
    L("{'a':1}"),
    L("{1:1}"),
    L("{null:1}"),
    L("{\"a\":1 \"b\":2}"),
    L("{\"a\":1,,\"b\":2}"),
    L("[\"a\",]"),
    L("01"),
    L("-01"),
    L("[00]"),
    L("1."),
    L("[1.]"),
    L(".1"),
    L("[.1]"),
    L("-"),
    L("[-]"),
    L("+1"),
    L("1e"),
    L("1e+"),
    L("[1.e1]"),
    L("[1e1.0]"),
    L("0x10"),
    L("Infinity"),
    L("-Infinity"),
    L("NaN"),
    L("tru"),
    L("True"),
    L("nul"),
    L("nulll"),
    L("truefalse"),
    L("[true false]"),
    L("'single'"),
    L("\"abc"),
    L("[\"abc]"),
    L("\"\\\""),
    L("\"\\x\""),
    L("\"\\a\""),
    L("\"\\u12\""),
    L("\"\\u12G4\""),
    L("\"\\U0041\""),
    L("\"\\ud800\""),
    L("\"\\udc00\""),
    L("\"\\udfff\\ud800\""),
    L("\"\\ud800\\u0041\""),
    L("\"\\ud800\\ud800\""),
    L("\"\\ud800x\""),
    L("\"\\ud800\\n\""),
    L("\"\\ud800\\"),
    L("\"\xc0\x80\""),         /* overlong NUL */
    L("\"\xc1\xbf\""),         /* overlong */
    L("\"\xe0\x80\xaf\""),     /* overlong '/' */
    L("\"\xe0\x9f\xbf\""),     /* overlong U+07FF */
    L("\"\xf0\x80\x80\xaf\""), /* overlong */
    L("\"\xf0\x8f\xbf\xbf\""), /* overlong U+FFFF */
    L("\"\xed\xa0\x80\""),     /* UTF-8-encoded surrogate U+D800 */
    L("\"\xed\xbf\xbf\""),     /* U+DFFF */
    L("\"\xf4\x90\x80\x80\""), /* U+110000 */
    L("\"\xf5\x80\x80\x80\""),
    L("\"\xf8\x88\x80\x80\x80\""),
    L("\"\xfe\""),
    L("\"\xff\""),
    L("\"\x80\""), /* lone continuation */
    L("\"\xbf\""),
    L("\"\xc3\""),         /* truncated 2-byte */
    L("\"\xe2\x82\""),     /* truncated 3-byte */
    L("\"\xf0\x9f\x98\""), /* truncated 4-byte */
    L("\"\xc3\x28\""),     /* bad continuation */
    L("\"\x01\""),
    L("\"\x1f\""),
    L("\"a\nb\""),
    L("\"\t\""),
    L("\"\0\""),
    L("1\0"),
    L("[1]\0"),
    L("\f[]"),
    L("[\v]"),
    L("\xc2\xa0[]"),     /* NBSP is not JSON whitespace */
    L("\xef\xbb\xbf[]"), /* byte order mark */
    L("[\xff]"),
    L("[\"a\"\xff]"),
    L("/* c */ []"),
    L("[1]//"),
    L("[1];"),
};

static void test_valid_table(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        json_doc doc;
        if (parse_lit(&valid[i], &a, &doc) != 0)
            fail_case("should parse", i, &valid[i]);
        assert_true(doc.ntok >= 1);
        assert_int_equal(doc.tok[0].next, doc.ntok);
    }
    arena_reset(&a);
}

static void test_invalid_table(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        json_doc doc;
        if (parse_lit(&invalid[i], &a, &doc) != -1)
            fail_case("should be rejected", i, &invalid[i]);
        assert_int_equal(doc.ntok, 0);
    }
    arena_reset(&a);
}

/* Every proper prefix of a valid container document is incomplete. */
static void test_truncations_rejected(void **state) {
    (void)state;
    static const char full[] =
        "{\"a\":[1,-2.5e3,\"x\\u00e9\\ud83d\\ude00\",true,null,{}],\"b\":false}";
    arena a;
    arena_init(&a);
    json_doc doc;
    assert_int_equal(json_parse(&doc, &a, full, sizeof full - 1), 0);
    for (size_t n = 0; n < sizeof full - 1; n++)
        assert_int_equal(json_parse(&doc, &a, full, n), -1);
    arena_reset(&a);
}

static char *nested(const char *open, const char *mid, const char *close, int depth) {
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc((size_t)depth * (lo + lc) + lm + 1), *p = s;
    for (int i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static void test_depth_limit(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    json_doc doc;
    char *s = nested("[", "", "]", JSON_MAX_DEPTH);
    assert_int_equal(json_parse(&doc, &a, s, strlen(s)), 0);
    assert_int_equal(doc.ntok, JSON_MAX_DEPTH);
    free(s);
    s = nested("[", "", "]", JSON_MAX_DEPTH + 1);
    assert_int_equal(json_parse(&doc, &a, s, strlen(s)), -1);
    free(s);
    s = nested("{\"k\":", "1", "}", JSON_MAX_DEPTH);
    assert_int_equal(json_parse(&doc, &a, s, strlen(s)), 0);
    free(s);
    s = nested("{\"k\":", "1", "}", JSON_MAX_DEPTH + 1);
    assert_int_equal(json_parse(&doc, &a, s, strlen(s)), -1);
    free(s);
    /* Far deeper than any stack could recurse: rejected, not crashed. */
    s = nested("[", "", "", 1000000);
    assert_int_equal(json_parse(&doc, &a, s, strlen(s)), -1);
    free(s);
    arena_reset(&a);
}

static void test_tokens(void **state) {
    (void)state;
    static const char src[] = " {\"a\":[1,2,{\"b\":\"c\"}],\"d\":true,\"e\":null} ";
    arena a;
    arena_init(&a);
    json_doc doc;
    assert_int_equal(json_parse(&doc, &a, src, sizeof src - 1), 0);
    /* 0 obj, 1 "a", 2 arr, 3 1, 4 2, 5 obj, 6 "b", 7 "c", 8 "d", 9 true, 10 "e", 11 null */
    assert_int_equal(doc.ntok, 12);
    static const uint8_t types[] = {JSON_OBJECT, JSON_STRING, JSON_ARRAY,  JSON_NUMBER,
                                    JSON_NUMBER, JSON_OBJECT, JSON_STRING, JSON_STRING,
                                    JSON_STRING, JSON_BOOL,   JSON_STRING, JSON_NULL};
    static const uint32_t next[] = {12, 2, 8, 4, 5, 8, 7, 8, 9, 10, 11, 12};
    for (int i = 0; i < 12; i++) {
        assert_int_equal(json_type(&doc, i), types[i]);
        assert_int_equal(doc.tok[i].next, next[i]);
        assert_int_equal(json_next(&doc, i), (int)next[i]);
    }
    assert_int_equal(doc.tok[0].size, 3);
    assert_int_equal(doc.tok[2].size, 3);
    assert_int_equal(doc.tok[5].size, 1);
    assert_int_equal(doc.tok[1].size, 0);
    assert_int_equal(doc.tok[0].start, 1);
    assert_int_equal(doc.tok[0].end, sizeof src - 2);
    assert_int_equal(doc.tok[1].start, 3); /* after the quote */
    assert_int_equal(doc.tok[1].end, 4);   /* before the quote */

    const char *p;
    size_t n;
    json_raw(&doc, 2, &p, &n);
    assert_int_equal(n, strlen("[1,2,{\"b\":\"c\"}]"));
    assert_memory_equal(p, "[1,2,{\"b\":\"c\"}]", n);
    json_raw(&doc, 7, &p, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\"c\"", 3);
    json_raw(&doc, 9, &p, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "true", 4);
    json_raw(&doc, 99, &p, &n);
    assert_int_equal(n, 0);

    assert_int_equal(json_array_at(&doc, 2, 0), 3);
    assert_int_equal(json_array_at(&doc, 2, 1), 4);
    assert_int_equal(json_array_at(&doc, 2, 2), 5);
    assert_int_equal(json_array_at(&doc, 2, 3), -1);
    assert_int_equal(json_array_at(&doc, 2, -1), -1);
    assert_int_equal(json_array_at(&doc, 0, 0), -1);
    assert_int_equal(json_array_at(&doc, -1, 0), -1);

    assert_int_equal(json_type(&doc, -1), JSON_INVALID);
    assert_int_equal(json_type(&doc, 12), JSON_INVALID);
    arena_reset(&a);
}

static void test_top_level_scalars(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    json_doc doc;
    const char *s;
    size_t n;
    double d;
    bool b;

    assert_int_equal(json_parse(&doc, &a, "  \"x\\ny\"\n", 9), 0);
    assert_int_equal(doc.ntok, 1);
    assert_int_equal(json_type(&doc, 0), JSON_STRING);
    assert_int_equal(json_string(&doc, 0, &a, &s, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(s, "x\ny");
    json_raw(&doc, 0, &s, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(s, "\"x\\ny\"", 6);

    assert_int_equal(json_parse(&doc, &a, " -12.5 ", 7), 0);
    assert_int_equal(json_type(&doc, 0), JSON_NUMBER);
    assert_int_equal(json_number(&doc, 0, &d), 0);
    assert_true(d == -12.5);
    assert_int_equal(doc.tok[0].start, 1);
    assert_int_equal(doc.tok[0].end, 6);

    assert_int_equal(json_parse(&doc, &a, "\tfalse", 6), 0);
    assert_int_equal(json_type(&doc, 0), JSON_BOOL);
    assert_int_equal(json_bool(&doc, 0, &b), 0);
    assert_false(b);
    assert_int_equal(json_parse(&doc, &a, "true", 4), 0);
    assert_int_equal(json_bool(&doc, 0, &b), 0);
    assert_true(b);
    assert_int_equal(json_parse(&doc, &a, "null", 4), 0);
    assert_int_equal(json_type(&doc, 0), JSON_NULL);
    arena_reset(&a);
}

/* The source need not be NUL-terminated: numbers at the very end of the
 * buffer are read from a copy. */
static void test_unterminated_source(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    json_doc doc;
    double d;
    char *src = malloc(5);
    memcpy(src, "[1.5]", 5);
    assert_int_equal(json_parse(&doc, &a, src, 5), 0);
    assert_int_equal(json_number(&doc, 1, &d), 0);
    assert_true(d == 1.5);
    memcpy(src, "0.125", 5);
    assert_int_equal(json_parse(&doc, &a, src, 5), 0);
    assert_int_equal(json_number(&doc, 0, &d), 0);
    assert_true(d == 0.125);
    free(src);
    arena_reset(&a);
}

static void test_type_mismatch(void **state) {
    (void)state;
    /* Tokens: 0 array, 1 "s", 2 1, 3 true, 4 null, 5 {}, 6 [], 7 1.5. */
    static const char src[] = "[\"s\",1,true,null,{},[],1.5]";
    arena a;
    arena_init(&a);
    json_doc doc;
    assert_int_equal(json_parse(&doc, &a, src, sizeof src - 1), 0);
    const char *s;
    size_t n;
    double d;
    int64_t i;
    bool b;
    assert_int_equal(json_string(&doc, 2, &a, &s, &n), -1);
    assert_int_equal(json_number(&doc, 1, &d), -1);
    assert_int_equal(json_int64(&doc, 1, &i), -1);
    assert_int_equal(json_bool(&doc, 1, &b), -1);
    assert_int_equal(json_bool(&doc, 4, &b), -1);
    assert_int_equal(json_number(&doc, 3, &d), -1);
    assert_int_equal(json_string(&doc, 3, &a, &s, &n), -1);
    assert_int_equal(json_bool(&doc, 3, &b), 0);
    assert_int_equal(json_string(&doc, 4, &a, &s, &n), -1);
    assert_int_equal(json_number(&doc, 5, &d), -1);
    assert_int_equal(json_int64(&doc, 7, &i), -1);
    assert_false(json_string_eq(&doc, 2, "1"));
    assert_false(json_string_eq(&doc, 0, "s"));
    assert_false(json_string_eq(&doc, 1, "S"));
    assert_true(json_string_eq(&doc, 1, "s"));
    assert_int_equal(json_number(&doc, 6, &d), -1);
    assert_int_equal(json_bool(&doc, 7, &b), -1);
    /* Out-of-range indices behave like a type mismatch. */
    assert_int_equal(json_string(&doc, -1, &a, &s, &n), -1);
    assert_int_equal(json_number(&doc, 100, &d), -1);
    assert_int_equal(json_bool(&doc, -1, &b), -1);
    assert_false(json_string_eq(&doc, -1, "s"));
    assert_int_equal(json_get(&doc, 0, "s"), -1);
    assert_int_equal(json_get(&doc, 5, "s"), -1);
    assert_int_equal(json_get(&doc, -1, "s"), -1);
    arena_reset(&a);
}

struct int_case {
    const char *src;
    int ok;
    int64_t want;
};

static void test_int64(void **state) {
    (void)state;
    static const struct int_case cases[] = {
        {"0", 0, 0},
        {"-0", 0, 0},
        {"7", 0, 7},
        {"-42", 0, -42},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", -1, 0},
        {"-9223372036854775809", -1, 0},
        {"18446744073709551616", -1, 0},
        {"100000000000000000000", -1, 0},
        {"1.0", -1, 0},
        {"1e3", -1, 0},
        {"1E0", -1, 0},
        {"-0.0", -1, 0},
        {"0.5", -1, 0},
    };
    arena a;
    arena_init(&a);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        json_doc doc;
        int64_t v = 12345;
        assert_int_equal(json_parse(&doc, &a, cases[k].src, strlen(cases[k].src)), 0);
        int r = json_int64(&doc, 0, &v);
        if (r != cases[k].ok)
            fail_msg("json_int64(%s) returned %d", cases[k].src, r);
        if (r == 0 && v != cases[k].want)
            fail_msg("json_int64(%s) gave %lld", cases[k].src, (long long)v);
    }
    arena_reset(&a);
}

static void test_number(void **state) {
    (void)state;
    static const struct {
        const char *src;
        int ok;
        double want;
    } cases[] = {
        {"0", 0, 0.0},
        {"-1.5", 0, -1.5},
        {"1e3", 0, 1000.0},
        {"1E-2", 0, 0.01},
        {"2.5e+2", 0, 250.0},
        {"9007199254740993", 0, 9007199254740992.0}, /* rounds to nearest even */
        {"9223372036854775807", 0, 9223372036854775808.0},
        {"123456789012345678901234567890", 0, 1.2345678901234568e29},
        {"1e308", 0, 1e308},
        {"1e400", -1, 0},
        {"-1e400", -1, 0},
        {"1e-400", 0, 0.0},
        {"0.1000000000000000055511151231257827021181583404541015625000000000000000001", 0, 0.1},
    };
    arena a;
    arena_init(&a);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        json_doc doc;
        double v = 0;
        assert_int_equal(json_parse(&doc, &a, cases[k].src, strlen(cases[k].src)), 0);
        int r = json_number(&doc, 0, &v);
        if (r != cases[k].ok)
            fail_msg("json_number(%s) returned %d", cases[k].src, r);
        if (r == 0 && v != cases[k].want)
            fail_msg("json_number(%s) gave %.17g", cases[k].src, v);
    }
    json_doc doc;
    double v;
    assert_int_equal(json_parse(&doc, &a, "-0.0", 4), 0);
    assert_int_equal(json_number(&doc, 0, &v), 0);
    assert_true(v == 0 && signbit(v));
    assert_int_equal(json_parse(&doc, &a, "-0", 2), 0);
    assert_int_equal(json_number(&doc, 0, &v), 0);
    assert_true(v == 0 && signbit(v));
    arena_reset(&a);
}

static void test_string_decode(void **state) {
    (void)state;
    static const struct {
        struct lit src;
        struct lit want;
    } cases[] = {
        {L("\"plain\""), L("plain")},
        {L("\"\""), L("")},
        {L("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), L("\"\\/\b\f\n\r\t")},
        {L("\"\\u0041\\u00e9\\u20AC\""), L("A\xc3\xa9\xe2\x82\xac")},
        {L("\"\\ud83d\\ude00\""), L("\xf0\x9f\x98\x80")},
        {L("\"\\uDBFF\\uDFFF\""), L("\xf4\x8f\xbf\xbf")},
        {L("\"\\uD800\\uDC00\""), L("\xf0\x90\x80\x80")},
        {L("\"a\\u0000b\""), L("a\0b")},
        {L("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\""),
         L("\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf")},
        {L("\"x\xc3\xa9y\\n\""), L("x\xc3\xa9y\n")},
        {L("\"\\\\u0041\""), L("\\u0041")},
    };
    arena a;
    arena_init(&a);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        json_doc doc;
        const char *s;
        size_t n = 999;
        if (parse_lit(&cases[k].src, &a, &doc) != 0)
            fail_case("should parse", k, &cases[k].src);
        assert_int_equal(json_string(&doc, 0, &a, &s, &n), 0);
        if (n != cases[k].want.n || memcmp(s, cases[k].want.s, n) != 0)
            fail_case("decoded wrongly", k, &cases[k].src);
        assert_int_equal(s[n], '\0');
        assert_int_equal(json_string(&doc, 0, &a, &s, NULL), 0);
        /* json_string_eq agrees whenever the decoded value has no NUL. */
        if (!memchr(cases[k].want.s, '\0', cases[k].want.n)) {
            assert_true(json_string_eq(&doc, 0, cases[k].want.s));
            char *longer = malloc(cases[k].want.n + 2);
            memcpy(longer, cases[k].want.s, cases[k].want.n);
            memcpy(longer + cases[k].want.n, "x", 2);
            assert_false(json_string_eq(&doc, 0, longer));
            if (cases[k].want.n) {
                longer[cases[k].want.n - 1] = '\0';
                assert_false(json_string_eq(&doc, 0, longer));
            }
            free(longer);
        } else {
            assert_false(json_string_eq(&doc, 0, "a"));
        }
    }
    arena_reset(&a);
}

static void test_get(void **state) {
    (void)state;
    static const char src[] = "{\"a\\u0062\":1,\"\\n\":2,\"\\ud83d\\ude00\":3,\"a\\\\b\":4,"
                              "\"dup\":5,\"x\":{\"dup\":6},\"dup\":7,\"a\\u0000b\":8,\"\":9}";
    arena a;
    arena_init(&a);
    json_doc doc;
    int64_t v;
    assert_int_equal(json_parse(&doc, &a, src, sizeof src - 1), 0);
#define GET(key, want)                                                                             \
    do {                                                                                           \
        int t_ = json_get(&doc, 0, key);                                                           \
        assert_true(t_ > 0);                                                                       \
        assert_int_equal(json_int64(&doc, t_, &v), 0);                                             \
        assert_int_equal(v, want);                                                                 \
    } while (0)
    GET("ab", 1);
    GET("\n", 2);
    GET("\xf0\x9f\x98\x80", 3);
    GET("a\\b", 4);
    GET("dup", 7); /* last wins, and the nested "dup" is not a member */
    GET("", 9);
#undef GET
    assert_int_equal(json_get(&doc, 0, "a"), -1);
    assert_int_equal(json_get(&doc, 0, "a\\u0062"), -1);
    assert_int_equal(json_get(&doc, 0, "missing"), -1);
    int x = json_get(&doc, 0, "x");
    assert_int_equal(json_type(&doc, x), JSON_OBJECT);
    assert_int_equal(json_int64(&doc, json_get(&doc, x, "dup"), &v), 0);
    assert_int_equal(v, 6);
    arena_reset(&a);
}

/* A wide object must parse in linear time; 200k members would take minutes
 * if anything were quadratic. */
static void test_wide_object(void **state) {
    (void)state;
    const int n = 200000;
    buf b;
    buf_init(&b, NULL);
    buf_appendc(&b, '{');
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s\"k%d\":[%d]", i ? "," : "", i, i);
    buf_appendc(&b, '}');
    arena a;
    arena_init(&a);
    json_doc doc;
    int64_t v;
    assert_int_equal(json_parse(&doc, &a, b.data, b.len), 0);
    assert_int_equal(doc.ntok, 1 + 3 * n);
    assert_int_equal(doc.tok[0].size, n);
    int t = json_get(&doc, 0, "k199999");
    assert_int_equal(json_int64(&doc, json_array_at(&doc, t, 0), &v), 0);
    assert_int_equal(v, n - 1);
    arena_reset(&a);
    buf_free(&b);
}

/* The densest documents, one token per two bytes, grow the token array from
 * its first guess (one per 8 bytes); the densest prefixes of failing ones,
 * with every container left open, stay within its bound (an abort). */
static void test_densest_documents(void **state) {
    (void)state;
    const int n = 100000;
    buf b;
    buf_init(&b, NULL);
    for (int i = 0; i < JSON_MAX_DEPTH - 1; i++)
        buf_appendc(&b, '[');
    buf_appendc(&b, '[');
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s%d", i ? "," : "", i % 10);
    size_t open = b.len;
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf_appendc(&b, ']');
    arena a;
    arena_init(&a);
    json_doc doc;
    int64_t v;
    assert_int_equal(json_parse(&doc, &a, b.data, b.len), 0);
    assert_int_equal(doc.ntok, JSON_MAX_DEPTH + n);
    int inner = JSON_MAX_DEPTH - 1;
    assert_int_equal(doc.tok[inner].size, n);
    assert_int_equal(doc.tok[0].next, doc.ntok);
    for (int i = 0; i < n; i += 9973) {
        assert_int_equal(json_int64(&doc, json_array_at(&doc, inner, i), &v), 0);
        assert_int_equal(v, i % 10);
    }
    assert_int_equal(json_parse(&doc, &a, b.data, open), -1);
    assert_int_equal(json_parse(&doc, &a, b.data, open - 1), -1); /* ends in "," */
    assert_int_equal(json_parse(&doc, &a, b.data, JSON_MAX_DEPTH + 1), -1);
    arena_reset(&a);
    buf_free(&b);
}

static void test_utf8_valid(void **state) {
    (void)state;
    static const struct lit good[] = {
        L(""),
        L("abc"),
        L("\0"),
        L("\xc2\x80"),
        L("\xdf\xbf"),
        L("\xe0\xa0\x80"),
        L("\xed\x9f\xbf"),
        L("\xee\x80\x80"),
        L("\xef\xbf\xbf"),
        L("\xf0\x90\x80\x80"),
        L("\xf4\x8f\xbf\xbf"),
    };
    static const struct lit bad[] = {
        L("\x80"),
        L("\xc0\x80"),
        L("\xc1\xbf"),
        L("\xc2"),
        L("\xc2\x7f"),
        L("\xe0\x9f\xbf"),
        L("\xed\xa0\x80"),
        L("\xed\xbf\xbf"),
        L("\xe1\x80"),
        L("\xf0\x8f\xbf\xbf"),
        L("\xf4\x90\x80\x80"),
        L("\xf5\x80\x80\x80"),
        L("\xf0\x90\x80"),
        L("\xff"),
        L("a\xfe"),
        L("\xe1\x80\xc0"),
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!json_utf8_valid(good[i].s, good[i].n))
            fail_case("should be valid UTF-8", i, &good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (json_utf8_valid(bad[i].s, bad[i].n))
            fail_case("should be invalid UTF-8", i, &bad[i]);
}

/* Strings are scanned a word at a time: each kind of byte, at every offset
 * of strings longer than a few words, is judged as it is alone. */
static void test_long_strings_every_offset(void **state) {
    (void)state;
    static const struct {
        const char *ins;
        int ok;
    } cases[] = {
        {"\x01", 0},
        {"\x1f", 0},
        {"\n", 0},
        {"\"", 0},
        {"\\", 0},
        {"\x80", 0},
        {"\xff", 0},
        {"\xc2\x80", 1},
        {"\x7f", 1},
        {" ", 1},
        {"\\\"", 1},
        {"\\u00e9", 1},
        {"\xf0\x90\x80\x80", 1},
    };
    arena a;
    arena_init(&a);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (size_t at = 0; at <= 33; at++) {
            char doc_src[96];
            int n = snprintf(doc_src, sizeof doc_src, "[\"%.*s%s%.*s\"]", (int)at,
                             "abcdefghijklmnopqrstuvwxyz0123456789", cases[c].ins, (int)(33 - at),
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
            json_doc doc;
            int r = json_parse(&doc, &a, doc_src, (size_t)n);
            if (r != (cases[c].ok ? 0 : -1)) {
                fprintf(stderr, "case %zu at offset %zu: %s\n", c, at, doc_src);
                fail();
            }
        }
    arena_reset(&a);
}

static void test_utf8_chars(void **state) {
    (void)state;
    assert_int_equal(json_utf8_chars("", 0), 0);
    assert_int_equal(json_utf8_chars("abc", 3), 3);
    assert_int_equal(json_utf8_chars("a\0b", 3), 3);
    assert_int_equal(json_utf8_chars("\xc3\xa9t\xc3\xa9", 5), 3);                /* été */
    assert_int_equal(json_utf8_chars("\xe2\x82\xac", 3), 1);                     /* € */
    assert_int_equal(json_utf8_chars("\xf0\x9f\x9a\x97\xf0\x9f\x9a\x97", 8), 2); /* 🚗🚗 */
}

/* Writer */

static void assert_buf(const buf *b, const char *want) {
    if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
        fail_msg("wrote '%.*s', want '%s'", (int)b->len, b->data, want);
}

static void test_writer_structure(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    buf b;
    buf_init(&b, &a);
    json_writer w;
    json_w_init(&w, &b);
    json_w_obj_open(&w);
    json_w_key(&w, "a");
    json_w_int(&w, 1);
    json_w_key(&w, "b");
    json_w_arr_open(&w);
    json_w_bool(&w, true);
    json_w_bool(&w, false);
    json_w_null(&w);
    json_w_cstr(&w, "x");
    json_w_cstr(&w, NULL);
    json_w_double(&w, 1.5);
    json_w_arr_open(&w);
    json_w_arr_close(&w);
    json_w_obj_open(&w);
    json_w_obj_close(&w);
    json_w_raw(&w, "{\"r\":[1]}", 9);
    json_w_arr_close(&w);
    json_w_key(&w, "c");
    json_w_obj_open(&w);
    json_w_key(&w, "d");
    json_w_int(&w, INT64_MIN);
    json_w_key(&w, "e");
    json_w_int(&w, INT64_MAX);
    json_w_obj_close(&w);
    json_w_key(&w, "q\"");
    json_w_str(&w, "a\0b", 3);
    json_w_obj_close(&w);
    assert_int_equal(w.depth, 0);
    assert_buf(&b, "{\"a\":1,\"b\":[true,false,null,\"x\",null,1.5,[],{},{\"r\":[1]}],"
                   "\"c\":{\"d\":-9223372036854775808,\"e\":9223372036854775807},"
                   "\"q\\\"\":\"a\\u0000b\"}");
    json_doc doc;
    assert_int_equal(json_parse(&doc, &a, b.data, b.len), 0);
    arena_reset(&a);
}

static void test_writer_top_level_and_depth(void **state) {
    (void)state;
    buf b;
    buf_init(&b, NULL);
    json_writer w;
    json_w_init(&w, &b);
    json_w_str(&w, "", 0);
    assert_buf(&b, "\"\"");

    buf_clear(&b);
    json_w_init(&w, &b);
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        json_w_arr_open(&w);
        json_w_int(&w, i);
    }
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_w_arr_close(&w);
    arena a;
    arena_init(&a);
    json_doc doc;
    assert_int_equal(json_parse(&doc, &a, b.data, b.len), 0);
    assert_int_equal(doc.ntok, 2 * JSON_MAX_DEPTH);
    /* Commas at the deepest level were tracked independently. */
    assert_memory_equal(b.data, "[0,[1,[2,", 9);
    assert_memory_equal(b.data + b.len - 4, "]]]]", 4);
    arena_reset(&a);
    buf_free(&b);
}

/* Runs fn in a child process; true when it dies of SIGABRT. */
static bool aborts(void (*fn)(json_writer *)) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(2);
        buf b;
        buf_init(&b, NULL);
        json_writer w;
        json_w_init(&w, &b);
        fn(&w);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void misuse_too_deep(json_writer *w) {
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        json_w_arr_open(w);
}

static void misuse_close_unopened(json_writer *w) {
    json_w_obj_close(w);
}

static void misuse_key_after_key(json_writer *w) {
    json_w_obj_open(w);
    json_w_key(w, "a");
    json_w_key(w, "b");
}

static void misuse_close_after_key(json_writer *w) {
    json_w_obj_open(w);
    json_w_key(w, "a");
    json_w_obj_close(w);
}

static void misuse_key_at_top(json_writer *w) {
    json_w_key(w, "a");
}

static void fine_max_depth(json_writer *w) {
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_w_arr_open(w);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_w_arr_close(w);
}

/* Writer misuse is a programming error: it aborts rather than emitting
 * invalid JSON. */
static void test_writer_misuse(void **state) {
    (void)state;
    assert_true(aborts(misuse_too_deep));
    assert_true(aborts(misuse_close_unopened));
    assert_true(aborts(misuse_key_after_key));
    assert_true(aborts(misuse_close_after_key));
    assert_true(aborts(misuse_key_at_top));
    assert_false(aborts(fine_max_depth));
}

static void test_escape(void **state) {
    (void)state;
    static const struct {
        struct lit in;
        const char *want;
    } cases[] = {
        {L("plain"), "plain"},
        {L("\"\\"), "\\\"\\\\"},
        {L("\b\f\n\r\t"), "\\b\\f\\n\\r\\t"},
        {L("\0\x01\x1f\x7f"), "\\u0000\\u0001\\u001f\x7f"},
        {L("/"), "/"},
        {L("\xe2\x80\xa8|\xe2\x80\xa9"), "\\u2028|\\u2029"},
        {L("\xe2\x80\xaa"), "\xe2\x80\xaa"},
        {L("\xc3\xa9\xf0\x9f\x98\x80"), "\xc3\xa9\xf0\x9f\x98\x80"},
        {L("a\xff"), "a\xef\xbf\xbd"},
        {L("\xc0\x80"), "\xef\xbf\xbd\xef\xbf\xbd"},
        {L("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {L("\xe2\x80"), "\xef\xbf\xbd\xef\xbf\xbd"},
    };
    buf b;
    buf_init(&b, NULL);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        buf_clear(&b);
        json_escape(&b, cases[k].in.s, cases[k].in.n);
        if (b.len != strlen(cases[k].want) || memcmp(b.data, cases[k].want, b.len) != 0)
            fail_case("escaped wrongly", k, &cases[k].in);
    }
    buf_clear(&b);
    json_escape(&b, NULL, 0);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

/* Write then parse then compare: every byte value and some multi-byte
 * characters come back unchanged. */
static void test_escape_round_trip(void **state) {
    (void)state;
    char all[128 + 32];
    size_t n = 0;
    for (int c = 0; c < 128; c++)
        all[n++] = (char)c;
    memcpy(all + n, "\xc3\xa9\xe2\x80\xa8\xe2\x80\xa9\xef\xbf\xbf\xf4\x8f\xbf\xbf", 15);
    n += 15;
    arena a;
    arena_init(&a);
    buf b;
    buf_init(&b, &a);
    json_writer w;
    json_w_init(&w, &b);
    json_w_obj_open(&w);
    json_w_key(&w, "k\"\\\n\xe2\x80\xa8");
    json_w_str(&w, all, n);
    json_w_obj_close(&w);
    json_doc doc;
    assert_int_equal(json_parse(&doc, &a, b.data, b.len), 0);
    assert_false(memchr(b.data, '\n', b.len));
    int t = json_get(&doc, 0, "k\"\\\n\xe2\x80\xa8");
    const char *s;
    size_t len;
    assert_int_equal(json_string(&doc, t, &a, &s, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(s, all, n);
    arena_reset(&a);
}

static void test_write_double(void **state) {
    (void)state;
    static const double vals[] = {
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.3,
        0.1 + 0.2,
        1.0 / 3.0,
        1e300,
        1e-300,
        5e-324,
        DBL_MAX,
        DBL_MIN,
        -DBL_MAX,
        123.456,
        1e21,
        1e15,
        2e-7,
        3.14159,
        9007199254740993.0,
        1234567890123456789.0,
        100,
    };
    arena a;
    arena_init(&a);
    for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
        buf b;
        buf_init(&b, &a);
        json_writer w;
        json_w_init(&w, &b);
        json_w_double(&w, vals[k]);
        json_doc doc;
        double back;
        assert_int_equal(json_parse(&doc, &a, b.data, b.len), 0);
        assert_int_equal(json_number(&doc, 0, &back), 0);
        if (memcmp(&back, &vals[k], sizeof back) != 0)
            fail_msg("%.17g wrote '%.*s' read %.17g", vals[k], (int)b.len, b.data, back);
        assert_true(b.len <= 24);
    }
    struct {
        double v;
        const char *want;
    } shortest[] = {{0.1, "0.1"},
                    {0.3, "0.3"},
                    {100, "100"},
                    {-0.0, "-0"},
                    {0.1 + 0.2, "0.30000000000000004"},
                    {1.5, "1.5"},
                    {1e21, "1e+21"}};
    for (size_t k = 0; k < sizeof shortest / sizeof *shortest; k++) {
        buf b;
        buf_init(&b, &a);
        json_writer w;
        json_w_init(&w, &b);
        json_w_double(&w, shortest[k].v);
        assert_buf(&b, shortest[k].want);
    }
    buf b;
    buf_init(&b, &a);
    json_writer w;
    json_w_init(&w, &b);
    json_w_arr_open(&w);
    json_w_double(&w, NAN);
    json_w_double(&w, INFINITY);
    json_w_double(&w, -INFINITY);
    json_w_arr_close(&w);
    assert_buf(&b, "[null,null,null]");
    arena_reset(&a);
}

/* json_extract */

struct target {
    const char *name;
    size_t name_len;
    double age;
    bool admin;
    int tags;
    int meta;
    const char *nick;
    bool has_admin, has_nick, has_meta;
};

static int run_extract(const char *src, struct target *t, const char **field, const char **why) {
    static arena a;
    arena_reset(&a);
    static json_doc doc;
    if (json_parse(&doc, &a, src, strlen(src)) < 0)
        fail_msg("bad test input %s", src);
    const struct json_field fields[] = {
        {"name", JSON_STRING, true, false, 1, 8, &t->name, &t->name_len, NULL, false},
        {"age", JSON_NUMBER, true, false, 0, 0, &t->age, NULL, NULL, false},
        {"admin", JSON_BOOL, false, false, 0, 0, &t->admin, NULL, &t->has_admin, false},
        {"tags", JSON_ARRAY, false, false, 0, 0, &t->tags, NULL, NULL, false},
        {"meta", JSON_OBJECT, false, true, 0, 0, &t->meta, NULL, &t->has_meta, false},
        {"nick", JSON_STRING, false, true, 0, 0, &t->nick, NULL, &t->has_nick, false},
    };
    return json_extract(&doc, 0, &a, fields, sizeof fields / sizeof *fields, field, why);
}

static void expect_extract_error(const char *src, const char *field, const char *why) {
    struct target t;
    memset(&t, 0, sizeof t);
    const char *f = NULL, *r = NULL;
    if (run_extract(src, &t, &f, &r) != -1)
        fail_msg("%s: extracted", src);
    if (!f || !r || strcmp(f, field) != 0 || strcmp(r, why) != 0)
        fail_msg("%s: got '%s' '%s', want '%s' '%s'", src, f ? f : "(null)", r ? r : "(null)",
                 field, why);
}

static void test_extract_ok(void **state) {
    (void)state;
    struct target t;
    memset(&t, 0, sizeof t);
    t.has_admin = t.has_nick = t.has_meta = true;
    const char *f = NULL, *r = NULL;
    assert_int_equal(run_extract("{\"age\":41.5,\"name\":\"b\\u00e9a\",\"tags\":[1],"
                                 "\"meta\":null,\"extra\":{}}",
                                 &t, &f, &r),
                     0);
    assert_string_equal(t.name, "b\xc3\xa9\x61");
    assert_int_equal(t.name_len, 4);
    assert_true(t.age == 41.5);
    assert_false(t.has_admin);
    assert_false(t.has_nick);
    assert_false(t.has_meta);
    assert_true(t.tags > 0);

    memset(&t, 0, sizeof t);
    assert_int_equal(run_extract("{\"age\":1,\"name\":\"12345678\",\"admin\":true,"
                                 "\"meta\":{\"a\":1},\"nick\":\"\"}",
                                 &t, &f, &r),
                     0);
    assert_true(t.admin);
    assert_true(t.has_admin);
    assert_true(t.has_meta);
    assert_true(t.meta > 0);
    assert_true(t.has_nick);
    assert_string_equal(t.nick, "");
}

static void test_extract_errors(void **state) {
    (void)state;
    expect_extract_error("{\"age\":1}", "name", "is required");
    expect_extract_error("{\"name\":\"x\"}", "age", "is required");
    expect_extract_error("{\"name\":1,\"age\":1}", "name", "must be a string");
    expect_extract_error("{\"name\":null,\"age\":1}", "name", "must be a string");
    expect_extract_error("{\"name\":\"\",\"age\":1}", "name", "is too short");
    expect_extract_error("{\"name\":\"123456789\",\"age\":1}", "name", "is too long");
    /* Lengths are bytes of the decoded value: 4 x U+00E9 is 8 bytes, 5 is 10. */
    expect_extract_error("{\"name\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\",\"age\":1}", "name",
                         "is too long");
    expect_extract_error("{\"name\":\"a\\u0000b\",\"age\":1}", "name",
                         "must not contain NUL characters");
    expect_extract_error("{\"name\":\"x\",\"age\":\"1\"}", "age", "must be a number");
    expect_extract_error("{\"name\":\"x\",\"age\":1e999}", "age", "is out of range");
    expect_extract_error("{\"name\":\"x\",\"age\":1,\"admin\":1}", "admin", "must be a boolean");
    expect_extract_error("{\"name\":\"x\",\"age\":1,\"admin\":null}", "admin", "must be a boolean");
    expect_extract_error("{\"name\":\"x\",\"age\":1,\"tags\":{}}", "tags", "must be an array");
    expect_extract_error("{\"name\":\"x\",\"age\":1,\"meta\":[]}", "meta", "must be an object");
    expect_extract_error("{\"name\":\"x\",\"age\":1,\"nick\":false}", "nick", "must be a string");
    /* The first failing field in table order is reported. */
    expect_extract_error("{\"name\":5,\"age\":\"x\"}", "name", "must be a string");
    expect_extract_error("[]", "", "must be an object");
    expect_extract_error("\"name\"", "", "must be an object");
    /* Duplicate keys: the last one is checked. */
    expect_extract_error("{\"name\":\"ok\",\"age\":1,\"name\":7}", "name", "must be a string");
}

/* .chars: lengths in characters (code points) of the decoded value. */
static int extract_chars(const char *src) {
    static arena a;
    arena_reset(&a);
    static json_doc doc;
    if (json_parse(&doc, &a, src, strlen(src)) < 0)
        fail_msg("bad test input %s", src);
    const char *s, *f, *r;
    size_t n;
    const struct json_field fields[] = {
        {.name = "s",
         .type = JSON_STRING,
         .required = true,
         .min_len = 2,
         .max_len = 3,
         .out = &s,
         .len_out = &n,
         .chars = true},
    };
    return json_extract(&doc, 0, &a, fields, 1, &f, &r);
}

static void test_extract_chars(void **state) {
    (void)state;
    assert_int_equal(extract_chars("{\"s\":\"ab\"}"), 0);
    assert_int_equal(extract_chars("{\"s\":\"abc\"}"), 0);
    assert_int_equal(extract_chars("{\"s\":\"a\"}"), -1);
    assert_int_equal(extract_chars("{\"s\":\"abcd\"}"), -1);
    /* 3 characters of 2, 3 and 4 bytes: 9 bytes */
    assert_int_equal(extract_chars("{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}"), 0);
    assert_int_equal(extract_chars("{\"s\":\"\\u00e9\\u00e9\\u00e9\"}"), 0);
    assert_int_equal(extract_chars("{\"s\":\"\\u00e9\\u00e9\\u00e9\\u00e9\"}"), -1);
    /* one 4-byte character is too short */
    assert_int_equal(extract_chars("{\"s\":\"\\ud83d\\ude00\"}"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),
        cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_truncations_rejected),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_unterminated_source),
        cmocka_unit_test(test_type_mismatch),
        cmocka_unit_test(test_int64),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_string_decode),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_wide_object),
        cmocka_unit_test(test_densest_documents),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_long_strings_every_offset),
        cmocka_unit_test(test_utf8_chars),
        cmocka_unit_test(test_writer_structure),
        cmocka_unit_test(test_writer_top_level_and_depth),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_round_trip),
        cmocka_unit_test(test_write_double),
        cmocka_unit_test(test_extract_ok),
        cmocka_unit_test(test_extract_errors),
        cmocka_unit_test(test_extract_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
