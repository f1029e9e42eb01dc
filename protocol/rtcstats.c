/* Quality figures of peermetrics /stats bodies, issue detection and the
 * aggregate updates.  See rtcstats.h for the body's shape and what each
 * figure promises; docs/telemetry.md for the stored fields. */
#include "protocol/rtcstats.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

static const char *const issue_names[RTC_ISSUE_COUNT] = {
    "turn_used",         "tcp_used",           "ice_failed",
    "connection_failed", "getusermedia_error", "multiple_rejoins",
};

const char *rtc_issue_name(unsigned issue) {
    for (unsigned i = 0; i < RTC_ISSUE_COUNT; i++)
        if (issue == 1u << i)
            return issue_names[i];
    return NULL;
}

static const char *const cand_names[] = {NULL, "host", "srflx", "prflx", "relay"};
static const char *const proto_names[] = {NULL, "udp", "tcp"};

const char *rtc_cand_type_name(enum rtc_cand_type t) {
    return (unsigned)t < sizeof cand_names / sizeof *cand_names ? cand_names[t] : NULL;
}

const char *rtc_proto_name(enum rtc_proto p) {
    return (unsigned)p < sizeof proto_names / sizeof *proto_names ? proto_names[p] : NULL;
}

/* Whether key token k spells name[0..n).  Keys as browsers write them carry
 * no escapes, so the raw bytes decide; an escaped key is decoded to compare. */
static bool key_is(const json_doc *doc, int k, const char *name, size_t n) {
    const json_tok *t = &doc->tok[k];
    size_t len = t->end - t->start;
    const char *raw = doc->src + t->start;
    if (len == 0 || (raw[0] != name[0] && raw[0] != '\\'))
        return false; /* most keys fail here */
    if (len == n && memcmp(raw, name, n) == 0)
        return true;
    return len > n && memchr(raw, '\\', len) && json_string_eq(doc, k, name);
}

/* Where a report member's value goes in the sample (lwan-style table):
 * added to an int64_t counter of the media kind, kept as the largest of a
 * double gauge (with its `has` flag), or taken as a candidate sample time. */
enum sink { SINK_NONE, SINK_SUM, SINK_MAX, SINK_TIME };

/* A numeric member a reader wants. */
struct wanted {
    const char *name;
    size_t len;
    enum sink sink;
    size_t off, has_off; /* in struct rtc_media */
};
#define WANT(s)                                                                                    \
    { s, sizeof s - 1, SINK_NONE, 0, 0 }
#define SUM(s, field)                                                                              \
    { s, sizeof s - 1, SINK_SUM, offsetof(struct rtc_media, field), 0 }
#define MAX(s, field, has)                                                                         \
    {                                                                                              \
        s, sizeof s - 1, SINK_MAX, offsetof(struct rtc_media, field),                              \
            offsetof(struct rtc_media, has)                                                        \
    }
#define TIME(s)                                                                                    \
    { s, sizeof s - 1, SINK_TIME, 0, 0 }
#define WANTED_MAX 6

/* Reads the wanted numeric members of object `obj` in one pass over its
 * members (the last duplicate wins, as json_get does) into vals; bit i of
 * the result says w[i] was there as a finite number.  A member of another
 * type is treated as absent. */
static unsigned read_numbers(const json_doc *doc, int obj, const struct wanted *w, size_t nw,
                             double *vals) {
    unsigned have = 0;
    if (json_type(doc, obj) != JSON_OBJECT)
        return 0;
    int k = obj + 1;
    for (uint32_t m = 0; m < doc->tok[obj].size; m++, k = json_next(doc, k + 1)) {
        for (size_t i = 0; i < nw; i++) {
            if (!key_is(doc, k, w[i].name, w[i].len))
                continue;
            if (json_number(doc, k + 1, &vals[i]) == 0)
                have |= 1u << i;
            else
                have &= ~(1u << i);
            break;
        }
    }
    return have;
}

/* A counter as an integer: negative counts are kept (packetsLost may be
 * negative), values past +-2^53 are not counters and read as 0. */
static int64_t counter(double v) {
    return fabs(v) < 9007199254740992.0 ? (int64_t)v : 0;
}

/* Keeps the latest report time of the sample. */
static void note_time(struct rtc_sample *s, double ms) {
    if (!(ms >= 0 && ms < 9007199254740992.0))
        return;
    int64_t t = (int64_t)llround(ms);
    if (!s->has_time || t > s->time_ms)
        s->time_ms = t;
    s->has_time = true;
}

/* Keeps the largest non-negative value seen into *into. */
static void keep_max(bool *has, double *into, double v) {
    if (!(v >= 0))
        return;
    if (!*has || v > *into)
        *into = v;
    *has = true;
}

/* One list of RTP reports: its members and the flag saying it was read. */
struct report_kind {
    const struct wanted *wanted;
    size_t n;
    size_t flag_off; /* in struct rtc_media */
};

/* inbound-rtp: what we received of the peer's media. */
static const struct wanted inbound_members[] = {
    SUM("packetsReceived", packets_received),
    SUM("bytesReceived", bytes_received),
    SUM("packetsLost", packets_lost),
    MAX("jitter", jitter_s, has_jitter),
    TIME("timestamp"),
};
/* outbound-rtp: what we sent. */
static const struct wanted outbound_members[] = {
    SUM("packetsSent", packets_sent),
    SUM("bytesSent", bytes_sent),
    TIME("timestamp"),
};
/* remote-inbound-rtp: the peer's view of what we sent. */
static const struct wanted remote_inbound_members[] = {
    SUM("packetsLost", remote_packets_lost),
    MAX("roundTripTime", rtt_s, has_rtt),
    TIME("timestamp"),
};
#define REPORT_KIND(members, flag)                                                                 \
    { members, sizeof members / sizeof *members, offsetof(struct rtc_media, flag) }
_Static_assert(sizeof inbound_members / sizeof *inbound_members <= WANTED_MAX, "the largest list");
static const struct report_kind inbound = REPORT_KIND(inbound_members, has_in);
static const struct report_kind outbound = REPORT_KIND(outbound_members, has_out);
static const struct report_kind remote_inbound = REPORT_KIND(remote_inbound_members, has_remote_in);

/* Folds one report into the sample and its media kind m. */
static void read_report(const json_doc *doc, int r, const struct report_kind *k,
                        struct rtc_sample *s, struct rtc_media *m) {
    double v[WANTED_MAX];
    unsigned have = read_numbers(doc, r, k->wanted, k->n, v);
    char *base = (char *)m;
    *(bool *)(base + k->flag_off) = true;
    for (size_t i = 0; i < k->n; i++) {
        if (!(have & 1u << i))
            continue;
        const struct wanted *w = &k->wanted[i];
        if (w->sink == SINK_SUM)
            *(int64_t *)(base + w->off) += counter(v[i]);
        else if (w->sink == SINK_MAX)
            keep_max((bool *)(base + w->has_off), (double *)(base + w->off), v[i]);
        else if (w->sink == SINK_TIME)
            note_time(s, v[i]);
    }
}

/* Reads every object element of the array kind.dir as a report of k. */
static void each_report(const json_doc *doc, int kind, const char *dir, const struct report_kind *k,
                        struct rtc_sample *s, struct rtc_media *m) {
    int arr = json_get(doc, kind, dir);
    if (json_type(doc, arr) != JSON_ARRAY)
        return;
    int e = arr + 1;
    for (uint32_t i = 0; i < doc->tok[arr].size; i++, e = json_next(doc, e))
        if (json_type(doc, e) == JSON_OBJECT)
            read_report(doc, e, k, s, m);
}

/* data.<kind>.{inbound,outbound} and, when present, data.remote.<kind>.inbound. */
static void read_kind(const json_doc *doc, int data, int remote, const char *name,
                      struct rtc_sample *s, struct rtc_media *m) {
    int kind = json_get(doc, data, name);
    each_report(doc, kind, "inbound", &inbound, s, m);
    each_report(doc, kind, "outbound", &outbound, s, m);
    each_report(doc, json_get(doc, remote, name), "inbound", &remote_inbound, s, m);
}

static enum rtc_cand_type cand_type(const json_doc *doc, int cand) {
    int t = json_get(doc, cand, "candidateType");
    for (int i = RTC_CAND_HOST; i <= RTC_CAND_RELAY; i++)
        if (json_string_eq(doc, t, cand_names[i]))
            return (enum rtc_cand_type)i;
    return RTC_CAND_NONE;
}

static enum rtc_proto proto_of(const json_doc *doc, int t) {
    if (json_string_eq(doc, t, "udp"))
        return RTC_PROTO_UDP;
    if (json_string_eq(doc, t, "tcp") || json_string_eq(doc, t, "tls"))
        return RTC_PROTO_TCP;
    return RTC_PROTO_NONE;
}

static const struct wanted pair_members[] = {
    WANT("bytesSent"),
    WANT("bytesReceived"),
    WANT("currentRoundTripTime"),
    WANT("availableOutgoingBitrate"),
    WANT("availableIncomingBitrate"),
    WANT("timestamp"),
};
#define PAIR_WANTED (sizeof pair_members / sizeof *pair_members)
_Static_assert(PAIR_WANTED <= WANTED_MAX, "read_numbers' values fit");

/* data.connection: the selected candidate pair with its local and remote
 * candidates copied in.  A local candidate over TCP, or a relay reached
 * over TCP/TLS (relayProtocol), is TCP. */
static void read_pair(const json_doc *doc, int pair, struct rtc_sample *s) {
    double v[WANTED_MAX];
    unsigned have = read_numbers(doc, pair, pair_members, PAIR_WANTED, v);
    if ((have & 3) == 3) {
        s->has_pair_bytes = true;
        s->pair_bytes_sent = counter(v[0]);
        s->pair_bytes_received = counter(v[1]);
    }
    if (have & 4)
        keep_max(&s->has_rtt, &s->rtt_s, v[2]);
    if (have & 8)
        keep_max(&s->has_avail_out, &s->avail_out_bps, v[3]);
    if (have & 16)
        keep_max(&s->has_avail_in, &s->avail_in_bps, v[4]);
    if (have & 32)
        note_time(s, v[5]);

    int local = json_get(doc, pair, "local"), remote = json_get(doc, pair, "remote");
    s->local_type = cand_type(doc, local);
    s->remote_type = cand_type(doc, remote);
    s->protocol = proto_of(doc, json_get(doc, local, "protocol"));
    if (proto_of(doc, json_get(doc, local, "relayProtocol")) == RTC_PROTO_TCP)
        s->protocol = RTC_PROTO_TCP;
    if (s->local_type == RTC_CAND_RELAY || s->remote_type == RTC_CAND_RELAY)
        s->issues |= RTC_ISSUE_TURN_USED;
    if (s->protocol == RTC_PROTO_TCP)
        s->issues |= RTC_ISSUE_TCP_USED;
}

void rtc_stats_read(const json_doc *doc, int root, struct rtc_sample *out) {
    memset(out, 0, sizeof *out);
    int data = json_get(doc, root, "data");
    if (json_type(doc, data) != JSON_OBJECT)
        return;
    int remote = json_get(doc, data, "remote");
    read_kind(doc, data, remote, "audio", out, &out->audio);
    read_kind(doc, data, remote, "video", out, &out->video);
    read_pair(doc, json_get(doc, data, "connection"), out);
    if (!out->has_rtt) {
        if (out->audio.has_rtt)
            keep_max(&out->has_rtt, &out->rtt_s, out->audio.rtt_s);
        if (out->video.has_rtt)
            keep_max(&out->has_rtt, &out->rtt_s, out->video.rtt_s);
    }
}

/* Whether the event named `name` (with or without the SDK's "on" prefix)
 * reports the state "failed" in its data. */
static bool state_failed(const json_doc *doc, int obj, int name, const char *event) {
    return (json_string_eq(doc, name, event) || json_string_eq(doc, name, event + 2)) &&
           json_string_eq(doc, json_get(doc, obj, "data"), "failed");
}

unsigned rtc_connection_event_issues(const json_doc *doc, int obj) {
    int name = json_get(doc, obj, "eventName");
    unsigned issues = 0;
    if (state_failed(doc, obj, name, "oniceconnectionstatechange"))
        issues |= RTC_ISSUE_ICE_FAILED;
    if (state_failed(doc, obj, name, "onconnectionstatechange"))
        issues |= RTC_ISSUE_CONNECTION_FAILED;
    return issues;
}

unsigned rtc_getusermedia_event_issues(const json_doc *doc, int obj) {
    int error = json_get(doc, json_get(doc, obj, "data"), "error");
    enum json_type t = json_type(doc, error);
    return t != JSON_INVALID && t != JSON_NULL ? RTC_ISSUE_GETUSERMEDIA_ERROR : 0;
}

/* The updates' writer: bounded by max, never overflowing a value. */
struct updates {
    struct rtc_update *out;
    size_t n, max;
};

static struct rtc_update *next_update(struct updates *u, const char *field, const char *op) {
    if (u->n >= u->max)
        return NULL;
    struct rtc_update *d = &u->out[u->n++];
    d->field = field;
    d->op = op;
    return d;
}

/* Writes the decimal digits of m, at least `width` of them (zero-padded), at
 * p; returns the end. */
static char *digits(char *p, uint64_t m, int width) {
    char tmp[20];
    size_t n = buf_u64_digits(tmp, m);
    for (; (size_t)width > n; width--)
        *p++ = '0';
    memcpy(p, tmp, n);
    return p + n;
}

/* Numbers are formatted by hand: a sample makes dozens of them and this is
 * the ingest's hot path (snprintf's %g alone cost more than reading the
 * sample). */
static void put_int(struct updates *u, const char *field, const char *op, int64_t v) {
    struct rtc_update *d = next_update(u, field, op);
    if (!d)
        return;
    char *p = d->value;
    if (v < 0)
        *p++ = '-';
    *digits(p, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 1) = '\0';
}

#define REAL_DECIMALS 9
#define REAL_SCALE 1e9

/* Reals are non-negative here (keep_max drops the rest): integral ones (most
 * bitrates) as integers, others below 1e9 with nine decimals at most,
 * trailing zeros dropped; anything else with %.17g. */
static void put_real(struct updates *u, const char *field, const char *op, double v) {
    if (v == floor(v) && fabs(v) < 1e15) {
        put_int(u, field, op, (int64_t)v);
        return;
    }
    struct rtc_update *d = next_update(u, field, op);
    if (!d)
        return;
    if (!(v >= 0 && v < 1e9)) {
        snprintf(d->value, sizeof d->value, "%.17g", v);
        return;
    }
    uint64_t whole = (uint64_t)v;
    uint64_t frac = (uint64_t)llround((v - (double)whole) * REAL_SCALE);
    if (frac >= (uint64_t)REAL_SCALE) { /* rounded up to the next integer */
        whole++;
        frac = 0;
    }
    char *p = digits(d->value, whole, 1);
    if (frac) {
        *p++ = '.';
        p = digits(p, frac, REAL_DECIMALS);
        while (p[-1] == '0')
            p--;
    }
    *p = '\0';
}

static void put_str(struct updates *u, const char *field, const char *v) {
    struct rtc_update *d = next_update(u, field, "=");
    if (d)
        snprintf(d->value, sizeof d->value, "%s", v);
}

/* A gauge averaged over samples: its sum, count and maximum. */
struct gauge_fields {
    const char *sum, *n, *max;
};

static void put_gauge(struct updates *u, const struct gauge_fields *f, double v) {
    put_real(u, f->sum, "f", v);
    put_int(u, f->n, "+", 1);
    put_real(u, f->max, ">", v);
}

/* A cumulative byte counter of one direction: its latest value, and the
 * first value with its time, so that a bitrate is (last - first) * 8 /
 * (t_last - t_first). */
struct counter_fields {
    const char *last, *first, *t_first, *t_last;
};

static void put_counter(struct updates *u, const struct rtc_sample *s,
                        const struct counter_fields *f, int64_t v) {
    put_int(u, f->last, ">", v);
    if (!s->has_time)
        return;
    if (f->t_first) {
        put_int(u, f->t_first, "<", s->time_ms);
        put_int(u, f->t_last, ">", s->time_ms);
    }
    put_int(u, f->first, "^", v); /* with the time above (the pair's: pair_out's) */
}

/* The field names of one media kind. */
struct media_fields {
    const char *pkts_in, *lost_in, *pkts_out, *lost_out;
    struct counter_fields bytes_in, bytes_out;
    struct gauge_fields jitter, rtt;
};

#define MEDIA_FIELDS(p)                                                                            \
    {                                                                                              \
        p "pkts_in", p "lost_in", p "pkts_out", p "lost_out",                                      \
            {p "bytes_in", p "bytes_in_first", p "t_in_first", p "t_in_last"},                     \
            {p "bytes_out", p "bytes_out_first", p "t_out_first", p "t_out_last"},                 \
            {p "jitter_sum", p "jitter_n", p "jitter_max"}, {p "rtt_sum", p "rtt_n", p "rtt_max"}, \
    }

static const struct media_fields audio_fields = MEDIA_FIELDS("a_");
static const struct media_fields video_fields = MEDIA_FIELDS("v_");

static void put_media(struct updates *u, const struct rtc_sample *s, const struct rtc_media *m,
                      const struct media_fields *f) {
    if (m->has_in) {
        put_int(u, f->pkts_in, ">", m->packets_received);
        put_int(u, f->lost_in, ">", m->packets_lost);
        put_counter(u, s, &f->bytes_in, m->bytes_received);
    }
    if (m->has_out) {
        put_int(u, f->pkts_out, ">", m->packets_sent);
        put_counter(u, s, &f->bytes_out, m->bytes_sent);
    }
    if (m->has_remote_in)
        put_int(u, f->lost_out, ">", m->remote_packets_lost);
    if (m->has_jitter)
        put_gauge(u, &f->jitter, m->jitter_s);
    if (m->has_rtt)
        put_gauge(u, &f->rtt, m->rtt_s);
}

/* The pair's two counters share one first/last time, written with the
 * outgoing one, which rtc_updates therefore puts first. */
static const struct counter_fields pair_in = {"bytes_in", "bytes_in_first", NULL, NULL};
static const struct counter_fields pair_out = {"bytes_out", "bytes_out_first", "pair_t_first",
                                               "pair_t_last"};
static const struct gauge_fields rtt_fields = {"rtt_sum", "rtt_n", "rtt_max"};
static const struct gauge_fields avail_out_fields = {"avail_out_sum", "avail_out_n",
                                                     "avail_out_max"};
static const struct gauge_fields avail_in_fields = {"avail_in_sum", "avail_in_n", "avail_in_max"};

size_t rtc_updates(const struct rtc_sample *s, struct rtc_update *out, size_t max) {
    struct updates u = {out, 0, max < RTC_UPDATES_MAX ? max : RTC_UPDATES_MAX};
    put_int(&u, "samples", "+", 1);
    if (s->has_time) {
        put_int(&u, "t_first", "<", s->time_ms);
        put_int(&u, "t_last", ">", s->time_ms);
    }
    if (s->has_pair_bytes) {
        put_counter(&u, s, &pair_out, s->pair_bytes_sent);
        put_counter(&u, s, &pair_in, s->pair_bytes_received);
    }
    if (s->has_rtt)
        put_gauge(&u, &rtt_fields, s->rtt_s);
    if (s->has_avail_out)
        put_gauge(&u, &avail_out_fields, s->avail_out_bps);
    if (s->has_avail_in)
        put_gauge(&u, &avail_in_fields, s->avail_in_bps);
    if (s->local_type)
        put_str(&u, "local_type", rtc_cand_type_name(s->local_type));
    if (s->remote_type)
        put_str(&u, "remote_type", rtc_cand_type_name(s->remote_type));
    if (s->protocol)
        put_str(&u, "protocol", rtc_proto_name(s->protocol));
    put_media(&u, s, &s->audio, &audio_fields);
    put_media(&u, s, &s->video, &video_fields);
    return u.n;
}
