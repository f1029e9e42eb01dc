/* WebRTC call quality from the peermetrics SDK's bodies (API.md §6.1): what
 * one `/stats` sample says about a connection, the issues an ingested event
 * reveals, and the Redis hash updates that fold samples into a connection's
 * running aggregates (docs/telemetry.md, "Quality aggregates").
 *
 * The SDK (@peermetrics/sdk with @peermetrics/webrtc-stats' parseStats) posts
 *   {peerId, connectionId, timeTaken, data:{
 *      audio:{inbound:[inbound-rtp…], outbound:[outbound-rtp…]},
 *      video:{inbound:[…], outbound:[…]},
 *      connection:{<selected candidate-pair>, local:{<candidate>}, remote:{<candidate>}},
 *      remote:{audio:{inbound:[remote-inbound-rtp…], outbound:[remote-outbound-rtp…]},
 *              video:{…}}}}      (remote only when the SDK's `remote` option is on)
 * where each report keeps the browser's RTCStats member names.
 *
 * Pure: works on protocol/json.h tokens over the request body, allocates
 * nothing, does no I/O.  Missing or mistyped members are ignored (a sample
 * with nothing usable yields only its sample count); nothing here fails on
 * malformed input. */
#ifndef ONAIR_RTCSTATS_H
#define ONAIR_RTCSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/json.h"

/* Issues detected on ingest, as bits; rtc_issue_name() gives the stored name. */
enum rtc_issue {
    RTC_ISSUE_TURN_USED = 1u << 0,          /* the selected pair has a relay candidate */
    RTC_ISSUE_TCP_USED = 1u << 1,           /* the selected pair runs over TCP (or TURN/TCP, TLS) */
    RTC_ISSUE_ICE_FAILED = 1u << 2,         /* oniceconnectionstatechange -> "failed" */
    RTC_ISSUE_CONNECTION_FAILED = 1u << 3,  /* onconnectionstatechange -> "failed" */
    RTC_ISSUE_GETUSERMEDIA_ERROR = 1u << 4, /* a getUserMedia event carrying an error */
    RTC_ISSUE_MULTIPLE_REJOINS = 1u << 5,   /* see rtc_multiple_rejoins() */
};
#define RTC_ISSUE_COUNT 6

/* "turn_used", "tcp_used", "ice_failed", "connection_failed",
 * "getusermedia_error", "multiple_rejoins"; NULL for anything but one bit. */
const char *rtc_issue_name(unsigned issue);

/* ICE candidate types and transport protocols of the selected pair. */
enum rtc_cand_type {
    RTC_CAND_NONE = 0,
    RTC_CAND_HOST,
    RTC_CAND_SRFLX,
    RTC_CAND_PRFLX,
    RTC_CAND_RELAY
};
enum rtc_proto { RTC_PROTO_NONE = 0, RTC_PROTO_UDP, RTC_PROTO_TCP };

/* "host", "srflx", "prflx", "relay" / "udp", "tcp"; NULL for NONE. */
const char *rtc_cand_type_name(enum rtc_cand_type t);
const char *rtc_proto_name(enum rtc_proto p);

/* One media kind of one sample, summed over its RTP streams (simulcast layers,
 * several tracks).  Counters are the browser's cumulative values. */
struct rtc_media {
    bool has_in, has_out, has_remote_in; /* at least one report of that list was read */
    int64_t packets_received, bytes_received, packets_lost; /* inbound-rtp */
    int64_t packets_sent, bytes_sent;                       /* outbound-rtp */
    int64_t remote_packets_lost; /* remote-inbound-rtp: what the peer lost of ours */
    bool has_jitter;
    double jitter_s; /* the largest inbound-rtp jitter, seconds */
    bool has_rtt;
    double rtt_s; /* the largest remote-inbound-rtp roundTripTime, seconds */
};

/* What one /stats body says about its connection. */
struct rtc_sample {
    struct rtc_media audio, video;
    bool has_time;
    int64_t time_ms; /* the latest report timestamp (ms since the epoch), rounded */
    /* Selected candidate pair. */
    bool has_pair_bytes;
    int64_t pair_bytes_sent, pair_bytes_received;
    bool has_rtt;
    double rtt_s; /* currentRoundTripTime, else the largest remote-inbound RTT */
    bool has_avail_out, has_avail_in;
    double avail_out_bps, avail_in_bps; /* available{Outgoing,Incoming}Bitrate */
    enum rtc_cand_type local_type, remote_type;
    enum rtc_proto protocol; /* TCP when the local candidate, or its relayProtocol, is */
    unsigned issues;         /* RTC_ISSUE_TURN_USED | RTC_ISSUE_TCP_USED */
};

/* Reads the sample of a /stats body whose root object is token `root` (the
 * body itself: it reads root.data).  Always fills *out (zeroed first). */
void rtc_stats_read(const json_doc *doc, int root, struct rtc_sample *out);

/* The issues of a connection event (a /connection body, or one item of a
 * /connection/batch `data` array): `obj` is its object token.  0 when none. */
unsigned rtc_connection_event_issues(const json_doc *doc, int obj);

/* The issues of a /events/get-user-media body (root object token). */
unsigned rtc_getusermedia_event_issues(const json_doc *doc, int obj);

/* A participant whose sessions in one conference reach this many has
 * rejoined more than once: `multiple_rejoins`. */
#define RTC_MULTIPLE_REJOINS_SESSIONS 3
static inline bool rtc_multiple_rejoins(unsigned sessions_in_conference) {
    return sessions_in_conference >= RTC_MULTIPLE_REJOINS_SESSIONS;
}

/* One hash update of a connection's aggregates.  The script applies, for each
 * (field, op, value) in order, on the connection's aggregate hash:
 *   "="  HSET field value                   (latest value)
 *   "+"  HINCRBY field value                (integer sums and counts)
 *   "f"  HINCRBYFLOAT field value           (real sums)
 *   ">"  HSET when absent or value is larger (maxima; monotone counters, so a
 *        retried, late sample cannot move a counter back)
 *   "<"  HSET when absent or value is smaller (the earliest sample's time:
 *        samples racing through several instances may arrive out of order)
 *   "^"  HSET when the latest "<" before it was taken (the value that goes
 *        with that earliest time)
 * storage/scripts/lib/rtcstats.lua does exactly that ("--! lib: rtcstats",
 * rtcstats_apply(key, argv, first)).  Values are decimal text. */
struct rtc_update {
    const char *field; /* static */
    const char *op;    /* static, one of "=", "+", "f", ">", "<", "^" */
    char value[32];
};

/* Upper bound on the updates of one sample. */
#define RTC_UPDATES_MAX 64

/* Writes the updates that fold sample `s` into the aggregates into
 * out[0..max) and returns how many (never more than RTC_UPDATES_MAX, nor
 * than max).  The field names and how the summary derives loss, jitter, RTT,
 * bitrate and duration from them are in docs/telemetry.md. */
size_t rtc_updates(const struct rtc_sample *s, struct rtc_update *out, size_t max);

#endif
