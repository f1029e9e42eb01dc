/* Fuzzes protocol/rtcstats.c.  Any JSON document is read as a /stats body,
 * as a connection event and as a getUserMedia event, from its root and from
 * every object in it; the sample's figures and its updates must keep their
 * promises (bounded count, known fields and ops, decimal values, issue bits
 * that match the selected pair). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/rtcstats.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_rtcstats: invariant failed at line %d: %s\n", __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static arena a;

/* A value is a whole decimal number, a real strtod reads entirely, or (for
 * "=") a candidate type or protocol name. */
static void check_value(const struct rtc_update *u) {
    size_t n = strnlen(u->value, sizeof u->value);
    CHECK(n > 0 && n < sizeof u->value);
    if (!strcmp(u->op, "=")) {
        CHECK(!strcmp(u->value, "host") || !strcmp(u->value, "srflx") ||
              !strcmp(u->value, "prflx") || !strcmp(u->value, "relay") ||
              !strcmp(u->value, "udp") || !strcmp(u->value, "tcp"));
        return;
    }
    char *end;
    double d = strtod(u->value, &end);
    CHECK(*end == '\0' && isfinite(d));
    if (!strcmp(u->op, "+") || !strcmp(u->op, "?"))
        CHECK(strspn(u->value + (u->value[0] == '-'), "0123456789") == n - (u->value[0] == '-'));
}

static void check_sample(const json_doc *doc, int root) {
    struct rtc_sample s;
    rtc_stats_read(doc, root, &s);
    CHECK(!s.has_time || s.time_ms >= 0);
    CHECK(!s.has_rtt || s.rtt_s >= 0);
    CHECK(!s.audio.has_jitter || s.audio.jitter_s >= 0);
    CHECK(!s.video.has_jitter || s.video.jitter_s >= 0);
    CHECK((s.issues & ~(unsigned)(RTC_ISSUE_TURN_USED | RTC_ISSUE_TCP_USED)) == 0);
    CHECK(!!(s.issues & RTC_ISSUE_TURN_USED) ==
          (s.local_type == RTC_CAND_RELAY || s.remote_type == RTC_CAND_RELAY));
    CHECK(!!(s.issues & RTC_ISSUE_TCP_USED) == (s.protocol == RTC_PROTO_TCP));

    struct rtc_update u[RTC_UPDATES_MAX];
    size_t n = rtc_updates(&s, u, RTC_UPDATES_MAX);
    CHECK(n >= 1 && n <= RTC_UPDATES_MAX);
    CHECK(!strcmp(u[0].field, "samples"));
    for (size_t i = 0; i < n; i++) {
        CHECK(u[i].field && u[i].op);
        CHECK(strlen(u[i].op) == 1 && strchr("=+f><^", u[i].op[0]));
        check_value(&u[i]);
    }
    struct rtc_update few[2];
    CHECK(rtc_updates(&s, few, 2) == (n < 2 ? n : 2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_doc doc;
    if (json_parse(&doc, &a, (const char *)data, size) == 0) {
        for (int t = 0; t < doc.ntok; t++) {
            if (t != 0 && json_type(&doc, t) != JSON_OBJECT)
                continue;
            check_sample(&doc, t);
            unsigned c = rtc_connection_event_issues(&doc, t);
            CHECK((c & ~(unsigned)(RTC_ISSUE_ICE_FAILED | RTC_ISSUE_CONNECTION_FAILED)) == 0);
            CHECK(c != (RTC_ISSUE_ICE_FAILED | RTC_ISSUE_CONNECTION_FAILED));
            unsigned g = rtc_getusermedia_event_issues(&doc, t);
            CHECK(g == 0 || g == RTC_ISSUE_GETUSERMEDIA_ERROR);
        }
    }
    arena_reset(&a);
    return 0;
}
