/* Unit tests for protocol/rtcstats.c.  The bodies have the shape the
 * peermetrics SDK posts (@peermetrics/webrtc-stats parseStats: data.audio,
 * data.video, data.connection with local/remote candidates, data.remote) with
 * Chrome's member names; the expected figures were worked out by hand from
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/rtcstats.h"

/* A 2-party call's sample: one audio and one video stream each way, the
 * peer's remote-inbound reports, a srflx/host UDP pair.  The pair's report is
 * the latest (…000.5 ms), so it gives the sample's time. */
static const char two_party[] =
    "{\"data\":{\"audio\":{\"inbound\":[{\"id\":\"IT01A1975030420\",\"timestamp\":1763900010000.25,"
    "\"type\":\"inbound-rtp\",\"codecId\":\"CIT01_111\",\"kind\":\"audio\",\"mediaType\":\"audio\","
    "\"ssrc\":1975030420,\"transportId\":\"T01\",\"jitter\":0.004,\"packetsLost\":2,"
    "\"packetsReceived\":498,\"bytesReceived\":39840,\"headerBytesReceived\":5976,"
    "\"trackIdentifier\":\"0d3593ad-699f\",\"mid\":\"0\",\"audioLevel\":0.0213,"
    "\"totalSamplesReceived\":480000,\"concealedSamples\":0,\"clockRate\":48000,"
    "\"mimeType\":\"audio/opus\",\"payloadType\":111,\"track\":{\"id\":\"DEPRECATED_TI1\","
    "\"kind\":\"audio\"}}],\"outbound\":[{\"id\":\"OT01A3269294234\",\"timestamp\":"
    "1763900010000.25,\"type\":\"outbound-rtp\",\"kind\":\"audio\",\"mediaType\":\"audio\","
    "\"ssrc\":3269294234,\"packetsSent\":500,\"bytesSent\":40000,\"headerBytesSent\":6000,"
    "\"retransmittedPacketsSent\":0,\"mediaSourceId\":\"S1\",\"targetBitrate\":32000,\"track\":{"
    "\"id\":\"S1\",\"type\":\"media-source\",\"kind\":\"audio\",\"audioLevel\":0.0412},"
    "\"clockRate\":48000,\"mimeType\":\"audio/opus\",\"payloadType\":111}]},"
    "\"video\":{\"inbound\":[{\"id\":\"IT01V1245651114\",\"timestamp\":1763900010000.25,"
    "\"type\":\"inbound-rtp\",\"kind\":\"video\",\"mediaType\":\"video\",\"ssrc\":1245651114,"
    "\"jitter\":0.012,\"packetsLost\":5,\"packetsReceived\":1095,\"bytesReceived\":1496000,"
    "\"framesDecoded\":300,\"frameWidth\":1280,\"frameHeight\":720,\"framesPerSecond\":30,"
    "\"decoderImplementation\":\"libvpx\",\"bitrate\":1196800,\"packetLossRate\":0.0045}],"
    "\"outbound\":[{\"id\":\"OT01V4090907383\",\"timestamp\":1763900010000.25,\"type\":"
    "\"outbound-rtp\",\"kind\":\"video\",\"mediaType\":\"video\",\"packetsSent\":1100,"
    "\"bytesSent\":1500000,\"framesEncoded\":300,\"qualityLimitationReason\":\"none\","
    "\"qualityLimitationDurations\":{\"other\":0,\"cpu\":0,\"bandwidth\":0,\"none\":10},"
    "\"encoderImplementation\":\"libvpx\"}]},"
    "\"connection\":{\"id\":\"CPa1b2c3d4_e5f6a7b8\",\"timestamp\":1763900010000.5,\"type\":"
    "\"candidate-pair\",\"transportId\":\"T01\",\"localCandidateId\":\"Ia1b2c3d4\","
    "\"remoteCandidateId\":\"Ie5f6a7b8\",\"state\":\"succeeded\",\"priority\":"
    "9114723795186310000,\"nominated\":true,\"writable\":true,\"packetsSent\":1610,"
    "\"packetsReceived\":1603,\"bytesSent\":1541000,\"bytesReceived\":1536840,"
    "\"totalRoundTripTime\":0.16,\"currentRoundTripTime\":0.04,\"availableOutgoingBitrate\":"
    "1520000,\"requestsReceived\":4,\"requestsSent\":5,\"responsesReceived\":4,"
    "\"local\":{\"id\":\"Ia1b2c3d4\",\"type\":\"local-candidate\",\"isRemote\":false,"
    "\"networkType\":\"wifi\",\"ip\":\"93.184.216.34\",\"address\":\"93.184.216.34\",\"port\":"
    "50123,\"protocol\":\"udp\",\"candidateType\":\"srflx\",\"priority\":1686052607,\"url\":"
    "\"stun:stun.example.net:19302\",\"relatedAddress\":\"192.168.1.20\"},\"remote\":{\"id\":"
    "\"Ie5f6a7b8\",\"type\":\"remote-candidate\",\"isRemote\":true,\"ip\":\"192.168.1.31\","
    "\"port\":61002,\"protocol\":\"udp\",\"candidateType\":\"host\",\"priority\":2122260223}},"
    "\"remote\":{\"audio\":{\"inbound\":[{\"id\":\"RIA3269294234\",\"timestamp\":1763900009587.75,"
    "\"type\":\"remote-inbound-rtp\",\"kind\":\"audio\",\"jitter\":0.0044,\"packetsLost\":1,"
    "\"roundTripTime\":0.041,\"totalRoundTripTime\":0.205,\"fractionLost\":0,"
    "\"roundTripTimeMeasurements\":5}],\"outbound\":[{\"id\":\"ROA1975030420\",\"type\":"
    "\"remote-outbound-rtp\",\"packetsSent\":500,\"bytesSent\":40000}]},\"video\":{\"inbound\":[{"
    "\"id\":\"RIV4090907383\",\"timestamp\":1763900009587.75,\"type\":\"remote-inbound-rtp\","
    "\"kind\":\"video\",\"packetsLost\":3,\"roundTripTime\":0.043}],\"outbound\":[]}}},"
    "\"peerId\":\"p-42\",\"connectionId\":\"c-42\",\"timeTaken\":3,\"token\":\"x.y.z\"}";

static arena a;

static void parse(json_doc *doc, const char *body) {
    assert_int_equal(json_parse(doc, &a, body, strlen(body)), 0);
}

static void read_body(const char *body, struct rtc_sample *s) {
    json_doc doc;
    parse(&doc, body);
    rtc_stats_read(&doc, 0, s);
}

struct want {
    const char *field, *op, *value;
};

/* The updates of s are exactly want[0..n). */
static void check_updates(const struct rtc_sample *s, const struct want *want, size_t n) {
    struct rtc_update u[RTC_UPDATES_MAX];
    size_t got = rtc_updates(s, u, RTC_UPDATES_MAX);
    for (size_t i = 0; i < got && i < n; i++) {
        if (strcmp(u[i].field, want[i].field) || strcmp(u[i].op, want[i].op) ||
            strcmp(u[i].value, want[i].value))
            fail_msg("update %zu: got %s %s %s, want %s %s %s", i, u[i].field, u[i].op, u[i].value,
                     want[i].field, want[i].op, want[i].value);
    }
    assert_int_equal(got, n);
}

static void test_two_party_sample(void **state) {
    (void)state;
    struct rtc_sample s;
    read_body(two_party, &s);
    assert_true(s.has_time);
    assert_int_equal(s.time_ms, 1763900010001); /* ….5 rounds up */
    assert_true(s.audio.has_in && s.audio.has_out && s.audio.has_remote_in);
    assert_int_equal(s.audio.packets_received, 498);
    assert_int_equal(s.audio.bytes_received, 39840);
    assert_int_equal(s.audio.packets_lost, 2);
    assert_int_equal(s.audio.packets_sent, 500);
    assert_int_equal(s.audio.bytes_sent, 40000);
    assert_int_equal(s.audio.remote_packets_lost, 1);
    assert_true(s.audio.has_jitter && s.audio.jitter_s == 0.004);
    assert_true(s.audio.has_rtt && s.audio.rtt_s == 0.041);
    assert_int_equal(s.video.packets_received, 1095);
    assert_int_equal(s.video.bytes_received, 1496000);
    assert_int_equal(s.video.packets_lost, 5);
    assert_int_equal(s.video.packets_sent, 1100);
    assert_int_equal(s.video.bytes_sent, 1500000);
    assert_int_equal(s.video.remote_packets_lost, 3);
    assert_true(s.video.has_jitter && s.video.jitter_s == 0.012);
    assert_true(s.video.has_rtt && s.video.rtt_s == 0.043);
    assert_true(s.has_pair_bytes);
    assert_int_equal(s.pair_bytes_sent, 1541000);
    assert_int_equal(s.pair_bytes_received, 1536840);
    assert_true(s.has_rtt && s.rtt_s == 0.04); /* the pair's, not remote-inbound's */
    assert_true(s.has_avail_out && s.avail_out_bps == 1520000);
    assert_false(s.has_avail_in);
    assert_int_equal(s.local_type, RTC_CAND_SRFLX);
    assert_int_equal(s.remote_type, RTC_CAND_HOST);
    assert_int_equal(s.protocol, RTC_PROTO_UDP);
    assert_int_equal(s.issues, 0);

    static const struct want want[] = {
        {"samples", "+", "1"},
        {"t_first", "<", "1763900010001"},
        {"t_last", ">", "1763900010001"},
        {"bytes_out", ">", "1541000"},
        {"pair_t_first", "<", "1763900010001"},
        {"pair_t_last", ">", "1763900010001"},
        {"bytes_out_first", "^", "1541000"},
        {"bytes_in", ">", "1536840"},
        {"bytes_in_first", "^", "1536840"},
        {"rtt_sum", "f", "0.04"},
        {"rtt_n", "+", "1"},
        {"rtt_max", ">", "0.04"},
        {"avail_out_sum", "f", "1520000"},
        {"avail_out_n", "+", "1"},
        {"avail_out_max", ">", "1520000"},
        {"local_type", "=", "srflx"},
        {"remote_type", "=", "host"},
        {"protocol", "=", "udp"},
        {"a_pkts_in", ">", "498"},
        {"a_lost_in", ">", "2"},
        {"a_bytes_in", ">", "39840"},
        {"a_t_in_first", "<", "1763900010001"},
        {"a_t_in_last", ">", "1763900010001"},
        {"a_bytes_in_first", "^", "39840"},
        {"a_pkts_out", ">", "500"},
        {"a_bytes_out", ">", "40000"},
        {"a_t_out_first", "<", "1763900010001"},
        {"a_t_out_last", ">", "1763900010001"},
        {"a_bytes_out_first", "^", "40000"},
        {"a_lost_out", ">", "1"},
        {"a_jitter_sum", "f", "0.004"},
        {"a_jitter_n", "+", "1"},
        {"a_jitter_max", ">", "0.004"},
        {"a_rtt_sum", "f", "0.041"},
        {"a_rtt_n", "+", "1"},
        {"a_rtt_max", ">", "0.041"},
        {"v_pkts_in", ">", "1095"},
        {"v_lost_in", ">", "5"},
        {"v_bytes_in", ">", "1496000"},
        {"v_t_in_first", "<", "1763900010001"},
        {"v_t_in_last", ">", "1763900010001"},
        {"v_bytes_in_first", "^", "1496000"},
        {"v_pkts_out", ">", "1100"},
        {"v_bytes_out", ">", "1500000"},
        {"v_t_out_first", "<", "1763900010001"},
        {"v_t_out_last", ">", "1763900010001"},
        {"v_bytes_out_first", "^", "1500000"},
        {"v_lost_out", ">", "3"},
        {"v_jitter_sum", "f", "0.012"},
        {"v_jitter_n", "+", "1"},
        {"v_jitter_max", ">", "0.012"},
        {"v_rtt_sum", "f", "0.043"},
        {"v_rtt_n", "+", "1"},
        {"v_rtt_max", ">", "0.043"},
    };
    check_updates(&s, want, sizeof want / sizeof *want);
    arena_reset(&a);
}

/* A TURN relay reached over TCP: the pair's local candidate is a UDP relay
 * whose relayProtocol is tcp. */
static void test_turn_over_tcp(void **state) {
    (void)state;
    struct rtc_sample s;
    read_body("{\"data\":{\"connection\":{\"local\":{\"candidateType\":\"relay\",\"protocol\":"
              "\"udp\",\"relayProtocol\":\"tcp\",\"url\":\"turn:t.example.net:443?transport=tcp\"},"
              "\"remote\":{\"candidateType\":\"prflx\",\"protocol\":\"udp\"}}}}",
              &s);
    assert_int_equal(s.local_type, RTC_CAND_RELAY);
    assert_int_equal(s.remote_type, RTC_CAND_PRFLX);
    assert_int_equal(s.protocol, RTC_PROTO_TCP);
    assert_int_equal(s.issues, RTC_ISSUE_TURN_USED | RTC_ISSUE_TCP_USED);

    /* A relay over UDP: turn_used only; a TCP host pair: tcp_used only. */
    read_body("{\"data\":{\"connection\":{\"local\":{\"candidateType\":\"relay\",\"protocol\":"
              "\"udp\",\"relayProtocol\":\"udp\"},\"remote\":{\"candidateType\":\"srflx\"}}}}",
              &s);
    assert_int_equal(s.issues, RTC_ISSUE_TURN_USED);
    assert_int_equal(s.protocol, RTC_PROTO_UDP);
    read_body("{\"data\":{\"connection\":{\"local\":{\"candidateType\":\"host\",\"protocol\":"
              "\"tcp\",\"tcpType\":\"active\"},\"remote\":{\"candidateType\":\"host\",\"protocol\":"
              "\"tcp\"}}}}",
              &s);
    assert_int_equal(s.issues, RTC_ISSUE_TCP_USED);
    assert_int_equal(s.local_type, RTC_CAND_HOST);
    /* Only the remote side relayed (the peer uses TURN). */
    read_body("{\"data\":{\"connection\":{\"local\":{\"candidateType\":\"srflx\"},\"remote\":{"
              "\"candidateType\":\"relay\"}}}}",
              &s);
    assert_int_equal(s.issues, RTC_ISSUE_TURN_USED);
    arena_reset(&a);
}

/* Simulcast: three outbound video layers are summed; two inbound audio
 * streams are summed and the larger jitter kept; with no
 * currentRoundTripTime the RTT is the largest remote-inbound one. */
static void test_streams_summed(void **state) {
    (void)state;
    struct rtc_sample s;
    read_body("{\"data\":{\"audio\":{\"inbound\":[{\"packetsReceived\":100,\"bytesReceived\":8000,"
              "\"packetsLost\":1,\"jitter\":0.002,\"timestamp\":1000},{\"packetsReceived\":50,"
              "\"bytesReceived\":4000,\"packetsLost\":-1,\"jitter\":0.009,\"timestamp\":999}],"
              "\"outbound\":[]},\"video\":{\"outbound\":[{\"rid\":\"q\",\"packetsSent\":10,"
              "\"bytesSent\":1000},{\"rid\":\"h\",\"packetsSent\":20,\"bytesSent\":5000},{\"rid\":"
              "\"f\",\"packetsSent\":30,\"bytesSent\":20000}]},\"connection\":{},\"remote\":{"
              "\"audio\":{\"inbound\":[{\"roundTripTime\":0.25}]},\"video\":{\"inbound\":[{"
              "\"roundTripTime\":0.125},{\"roundTripTime\":0.375}]}}}}",
              &s);
    assert_int_equal(s.audio.packets_received, 150);
    assert_int_equal(s.audio.bytes_received, 12000);
    assert_int_equal(s.audio.packets_lost, 0);
    assert_true(s.audio.jitter_s == 0.009);
    assert_false(s.audio.has_out); /* an empty list reads nothing */
    assert_true(s.video.has_out);
    assert_false(s.video.has_in);
    assert_int_equal(s.video.packets_sent, 60);
    assert_int_equal(s.video.bytes_sent, 26000);
    assert_true(s.audio.rtt_s == 0.25 && s.video.rtt_s == 0.375);
    assert_true(s.has_rtt && s.rtt_s == 0.375);
    assert_int_equal(s.time_ms, 1000);
    assert_false(s.has_pair_bytes);
    assert_int_equal(s.local_type, RTC_CAND_NONE);

    static const struct want want[] = {
        {"samples", "+", "1"},
        {"t_first", "<", "1000"},
        {"t_last", ">", "1000"},
        {"rtt_sum", "f", "0.375"},
        {"rtt_n", "+", "1"},
        {"rtt_max", ">", "0.375"},
        {"a_pkts_in", ">", "150"},
        {"a_lost_in", ">", "0"},
        {"a_bytes_in", ">", "12000"},
        {"a_t_in_first", "<", "1000"},
        {"a_t_in_last", ">", "1000"},
        {"a_bytes_in_first", "^", "12000"},
        {"a_lost_out", ">", "0"}, /* remote-inbound without packetsLost */
        {"a_jitter_sum", "f", "0.009"},
        {"a_jitter_n", "+", "1"},
        {"a_jitter_max", ">", "0.009"},
        {"a_rtt_sum", "f", "0.25"},
        {"a_rtt_n", "+", "1"},
        {"a_rtt_max", ">", "0.25"},
        {"v_pkts_out", ">", "60"},
        {"v_bytes_out", ">", "26000"},
        {"v_t_out_first", "<", "1000"},
        {"v_t_out_last", ">", "1000"},
        {"v_bytes_out_first", "^", "26000"},
        {"v_lost_out", ">", "0"},
        {"v_rtt_sum", "f", "0.375"},
        {"v_rtt_n", "+", "1"},
        {"v_rtt_max", ">", "0.375"},
    };
    check_updates(&s, want, sizeof want / sizeof *want);
    arena_reset(&a);
}

/* Without a report timestamp no time field is written, and no first value
 * (it could not be paired with a time); a negative count is written signed. */
static void test_no_time(void **state) {
    (void)state;
    struct rtc_sample s;
    read_body("{\"data\":{\"audio\":{\"inbound\":[{\"packetsReceived\":7,\"packetsLost\":-3}]},"
              "\"connection\":{\"bytesSent\":10,\"bytesReceived\":20,\"availableIncomingBitrate\":"
              "2500.5}}}",
              &s);
    static const struct want want[] = {
        {"samples", "+", "1"},           {"bytes_out", ">", "10"}, {"bytes_in", ">", "20"},
        {"avail_in_sum", "f", "2500.5"}, {"avail_in_n", "+", "1"}, {"avail_in_max", ">", "2500.5"},
        {"a_pkts_in", ">", "7"},         {"a_lost_in", ">", "-3"}, {"a_bytes_in", ">", "0"},
    };
    check_updates(&s, want, sizeof want / sizeof *want);
    arena_reset(&a);
}

/* Whatever the body holds, reading never fails and only usable figures count. */
static void test_malformed(void **state) {
    (void)state;
    static const char *const bodies[] = {
        "{}",
        "[]",
        "null",
        "{\"data\":null}",
        "{\"data\":[1,2]}",
        "{\"data\":\"audio\"}",
        "{\"data\":{\"audio\":[],\"video\":7,\"connection\":\"x\",\"remote\":[]}}",
        "{\"data\":{\"audio\":{\"inbound\":{},\"outbound\":\"x\"}}}",
        "{\"data\":{\"connection\":{\"local\":\"relay\",\"remote\":[\"relay\"]}}}",
        "{\"data\":{\"connection\":{\"local\":{\"candidateType\":\"RELAY\",\"protocol\":\"TCP\"}}}"
        "}",
        "{\"data\":{\"connection\":{\"local\":{\"candidateType\":7,\"protocol\":null}}}}",
    };
    struct rtc_sample s;
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        read_body(bodies[i], &s);
        struct rtc_update u[RTC_UPDATES_MAX];
        size_t n = rtc_updates(&s, u, RTC_UPDATES_MAX);
        if (n != 1 || strcmp(u[0].field, "samples") || s.issues)
            fail_msg("body %zu gave %zu updates, issues %u", i, n, s.issues);
    }

    /* Reports of the wrong type are skipped; members of the wrong type, out
     * of range, negative gauges and non-finite-looking numbers are absent. */
    read_body("{\"data\":{\"audio\":{\"inbound\":[7,\"x\",null,[],{\"packetsReceived\":\"12\","
              "\"bytesReceived\":1e300,\"packetsLost\":true,\"jitter\":-0.5,\"timestamp\":-5},{"
              "\"packetsReceived\":3}]},\"connection\":{\"currentRoundTripTime\":\"0.1\","
              "\"availableOutgoingBitrate\":-1,\"bytesSent\":5,\"timestamp\":1e300}}}",
              &s);
    assert_true(s.audio.has_in);
    assert_int_equal(s.audio.packets_received, 3);
    assert_int_equal(s.audio.bytes_received, 0);
    assert_int_equal(s.audio.packets_lost, 0);
    assert_false(s.audio.has_jitter);
    assert_false(s.has_time);
    assert_false(s.has_rtt);
    assert_false(s.has_avail_out);
    assert_false(s.has_pair_bytes); /* bytesReceived missing */
    arena_reset(&a);
}

/* Duplicate members: the last wins (as json_get); an escaped key is still
 * that key; a later member of the wrong type hides an earlier good one. */
static void test_keys(void **state) {
    (void)state;
    struct rtc_sample s;
    read_body("{\"data\":{\"audio\":{\"inbound\":[{\"packetsReceived\":1,\"packetsReceived\":2,"
              "\"\\u0070acketsLost\":4,\"jitter\":0.5,\"jitter\":\"bad\"}]}}}",
              &s);
    assert_int_equal(s.audio.packets_received, 2);
    assert_int_equal(s.audio.packets_lost, 4);
    assert_false(s.audio.has_jitter);
    arena_reset(&a);
}

/* A short output array gets the first updates and nothing is written past it. */
static void test_updates_bounded(void **state) {
    (void)state;
    struct rtc_sample s;
    read_body(two_party, &s);
    struct rtc_update u[5];
    memset(u, 0x5a, sizeof u);
    assert_int_equal(rtc_updates(&s, u, 3), 3);
    assert_string_equal(u[2].field, "t_last");
    assert_int_equal((unsigned char)u[3].value[0], 0x5a);
    assert_int_equal(rtc_updates(&s, u, 0), 0);
    arena_reset(&a);
}

/* The largest sample there is fits RTC_UPDATES_MAX; counters at the edge of
 * the exact range are written exactly. */
static void test_updates_max(void **state) {
    (void)state;
    struct rtc_sample s;
    memset(&s, 0, sizeof s);
    s.has_time = s.has_pair_bytes = s.has_rtt = s.has_avail_in = s.has_avail_out = true;
    s.local_type = RTC_CAND_RELAY;
    s.remote_type = RTC_CAND_HOST;
    s.protocol = RTC_PROTO_TCP;
    struct rtc_media *kinds[] = {&s.audio, &s.video};
    for (int i = 0; i < 2; i++) {
        kinds[i]->has_in = kinds[i]->has_out = kinds[i]->has_remote_in = true;
        kinds[i]->has_jitter = kinds[i]->has_rtt = true;
    }
    s.audio.packets_lost = -9007199254740991;
    s.video.bytes_sent = 9007199254740991;
    s.rtt_s = 1e-7;
    struct rtc_update u[RTC_UPDATES_MAX + 1];
    size_t n = rtc_updates(&s, u, RTC_UPDATES_MAX + 1);
    assert_true(n <= RTC_UPDATES_MAX);
    assert_int_equal(n, 57);
    bool seen_lost = false, seen_bytes = false, seen_rtt = false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(u[i].field, "a_lost_in"))
            seen_lost = !strcmp(u[i].value, "-9007199254740991");
        if (!strcmp(u[i].field, "v_bytes_out"))
            seen_bytes = !strcmp(u[i].value, "9007199254740991");
        if (!strcmp(u[i].field, "rtt_sum"))
            seen_rtt = !strcmp(u[i].value, "0.0000001");
    }
    assert_true(seen_lost && seen_bytes && seen_rtt);
}

/* Reals: integral ones as integers, others with up to nine decimals
 * (rounding may carry into the integer), large ones exactly. */
static void test_real_format(void **state) {
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.004, "0.004"},
        {1234.5, "1234.5"},
        {12345.678901234, "12345.678901234"},
        {0.9999999999, "1"},
        {0.0000000004, "0"},
        {1520000, "1520000"},
        {1e9 + 0.5, "1000000000.5"},
        {1e300, "1.0000000000000001e+300"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct rtc_sample s;
        memset(&s, 0, sizeof s);
        s.has_avail_out = true;
        s.avail_out_bps = cases[i].v;
        struct rtc_update u[RTC_UPDATES_MAX];
        assert_int_equal(rtc_updates(&s, u, RTC_UPDATES_MAX), 4);
        assert_string_equal(u[1].field, "avail_out_sum");
        if (strcmp(u[1].value, cases[i].want))
            fail_msg("%.17g: got %s, want %s", cases[i].v, u[1].value, cases[i].want);
        assert_string_equal(u[3].value, cases[i].want);
    }
}

static unsigned conn_issues(const char *body) {
    json_doc doc;
    parse(&doc, body);
    return rtc_connection_event_issues(&doc, 0);
}

static void test_connection_events(void **state) {
    (void)state;
    assert_int_equal(conn_issues("{\"eventName\":\"oniceconnectionstatechange\",\"peerId\":\"p\","
                                 "\"connectionId\":\"c\",\"data\":\"failed\"}"),
                     RTC_ISSUE_ICE_FAILED);
    assert_int_equal(conn_issues("{\"eventName\":\"onconnectionstatechange\",\"data\":\"failed\"}"),
                     RTC_ISSUE_CONNECTION_FAILED);
    assert_int_equal(
        conn_issues("{\"eventName\":\"iceconnectionstatechange\",\"data\":\"failed\"}"),
        RTC_ISSUE_ICE_FAILED);
    assert_int_equal(conn_issues("{\"eventName\":\"connectionstatechange\",\"data\":\"failed\"}"),
                     RTC_ISSUE_CONNECTION_FAILED);
    static const char *const none[] = {
        "{\"eventName\":\"oniceconnectionstatechange\",\"data\":\"disconnected\"}",
        "{\"eventName\":\"onconnectionstatechange\",\"data\":\"connected\"}",
        "{\"eventName\":\"onicegatheringstatechange\",\"data\":\"failed\"}",
        "{\"eventName\":\"addConnection\",\"peerId\":\"p\",\"connectionState\":\"failed\"}",
        "{\"eventName\":\"oniceconnectionstatechange\",\"data\":{\"state\":\"failed\"}}",
        "{\"eventName\":\"oniceconnectionstatechange\"}",
        "{\"eventName\":\"on\",\"data\":\"failed\"}",
        "{\"eventName\":\"\",\"data\":\"failed\"}",
        "{\"data\":\"failed\"}",
        "{\"eventName\":7,\"data\":\"failed\"}",
        "[\"oniceconnectionstatechange\",\"failed\"]",
        "\"failed\"",
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (conn_issues(none[i]))
            fail_msg("%s: an issue", none[i]);

    /* Items of a /connection/batch body are objects of the same shape. */
    json_doc doc;
    parse(&doc,
          "{\"token\":\"t\",\"data\":[{\"eventName\":\"onicecandidate\",\"data\":{}},"
          "{\"eventName\":\"onconnectionstatechange\",\"peerId\":\"p\",\"data\":\"failed\"}]}");
    int arr = json_get(&doc, 0, "data");
    assert_int_equal(rtc_connection_event_issues(&doc, json_array_at(&doc, arr, 0)), 0);
    assert_int_equal(rtc_connection_event_issues(&doc, json_array_at(&doc, arr, 1)),
                     RTC_ISSUE_CONNECTION_FAILED);
    assert_int_equal(rtc_connection_event_issues(&doc, -1), 0);
    arena_reset(&a);
}

static unsigned gum_issues(const char *body) {
    json_doc doc;
    parse(&doc, body);
    return rtc_getusermedia_event_issues(&doc, 0);
}

static void test_getusermedia_events(void **state) {
    (void)state;
    assert_int_equal(gum_issues("{\"eventName\":\"getUserMedia\",\"data\":{\"error\":{\"name\":"
                                "\"NotAllowedError\",\"message\":\"Permission denied\"}}}"),
                     RTC_ISSUE_GETUSERMEDIA_ERROR);
    assert_int_equal(gum_issues("{\"eventName\":\"getUserMedia\",\"data\":{\"constraints\":{"
                                "\"audio\":true},\"error\":\"NotFoundError\"}}"),
                     RTC_ISSUE_GETUSERMEDIA_ERROR);
    static const char *const none[] = {
        "{\"eventName\":\"getUserMedia\",\"data\":{\"constraints\":{\"audio\":true,\"video\":true}}"
        "}",
        "{\"eventName\":\"getUserMedia\",\"data\":{\"error\":null}}",
        "{\"eventName\":\"getUserMedia\",\"error\":{\"name\":\"NotAllowedError\"}}",
        "{\"eventName\":\"getUserMedia\",\"data\":\"error\"}",
        "{\"eventName\":\"getUserMedia\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (gum_issues(none[i]))
            fail_msg("%s: an issue", none[i]);
    arena_reset(&a);
}

static void test_names(void **state) {
    (void)state;
    static const char *const names[RTC_ISSUE_COUNT] = {
        "turn_used",         "tcp_used",           "ice_failed",
        "connection_failed", "getusermedia_error", "multiple_rejoins",
    };
    for (unsigned i = 0; i < RTC_ISSUE_COUNT; i++)
        assert_string_equal(rtc_issue_name(1u << i), names[i]);
    assert_null(rtc_issue_name(0));
    assert_null(rtc_issue_name(RTC_ISSUE_TURN_USED | RTC_ISSUE_TCP_USED));
    assert_null(rtc_issue_name(1u << RTC_ISSUE_COUNT));
    assert_string_equal(rtc_cand_type_name(RTC_CAND_HOST), "host");
    assert_string_equal(rtc_cand_type_name(RTC_CAND_SRFLX), "srflx");
    assert_string_equal(rtc_cand_type_name(RTC_CAND_PRFLX), "prflx");
    assert_string_equal(rtc_cand_type_name(RTC_CAND_RELAY), "relay");
    assert_null(rtc_cand_type_name(RTC_CAND_NONE));
    assert_null(rtc_cand_type_name((enum rtc_cand_type)99));
    assert_string_equal(rtc_proto_name(RTC_PROTO_UDP), "udp");
    assert_string_equal(rtc_proto_name(RTC_PROTO_TCP), "tcp");
    assert_null(rtc_proto_name(RTC_PROTO_NONE));
    assert_false(rtc_multiple_rejoins(1));
    assert_false(rtc_multiple_rejoins(2));
    assert_true(rtc_multiple_rejoins(3));
}

int main(void) {
    arena_init(&a);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_party_sample),
        cmocka_unit_test(test_turn_over_tcp),
        cmocka_unit_test(test_streams_summed),
        cmocka_unit_test(test_no_time),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_updates_bounded),
        cmocka_unit_test(test_updates_max),
        cmocka_unit_test(test_connection_events),
        cmocka_unit_test(test_getusermedia_events),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_real_format),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    arena_destroy(&a);
    return r;
}
