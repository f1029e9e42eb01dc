/* The telemetry SDK's event routes (API.md §6.1, docs/telemetry.md):
 * /events/get-user-media, /events/browser, /connection, /connection/batch,
 * /stats and /tracks.  Each event is validated here and described to
 * tm_event.lua by offsets into the body, so its raw JSON is stored as sent
 * (never re-encoded), and a request is one script call whatever its size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "handlers/telemetry.h"
#include "protocol/rtcstats.h"

/* The SDK's own limit (@peermetrics/sdk CONSTRAINTS.customEvent.eventNameLength:
 * addEvent() refuses a longer name), in characters; the SDK counts UTF-16
 * units, never fewer than characters, so every name it sends is taken. */
#define EVENT_NAME_MAX 120
#define TRACK_ID_MAX 256 /* bytes */

/* One event as tm_event.lua reads it. */
struct tm_event {
    char cat;
    char eff;
    const char *type, *conn, *peer;
    size_t type_len, conn_len, peer_len;
    uint64_t at; /* ms since the epoch, backdated by the deltas */
    int data;    /* the token of its `data`, or -1 */
    const char *x[4];
};

/* What the event lists of one request share. */
struct tm_events {
    http_request *req;
    const json_doc *doc;
    buf desc;
    int n;
    /* The span of the body from the first event's data to the end of the
     * last's: what the script gets, so that a one-event request's data is
     * the argument itself rather than a copy cut from it.  Events are added
     * in body order. */
    const char *span;
    size_t span_len;
    /* Answer "" whatever the events did (a batch: API.md §6.1 gives it no
     * other answer, even when it adds a connection). */
    bool answer_empty;
};

static void netstring(buf *b, const char *s, size_t n) {
    buf_append_u64(b, n);
    buf_appendc(b, ':');
    buf_append(b, s, n);
}

static void netstring_u64(buf *b, uint64_t v) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    netstring(b, tmp, (size_t)n);
}

/* Appends an event to the description (see tm_event.lua for the layout). */
static void events_add(struct tm_events *ev, const struct tm_event *e) {
    buf *b = &ev->desc;
    netstring(b, &e->cat, 1);
    netstring(b, e->type, e->type_len);
    netstring(b, e->conn, e->conn_len);
    netstring(b, e->peer, e->peer_len);
    netstring_u64(b, e->at);
    if (e->data >= 0) {
        const char *p;
        size_t n;
        json_raw(ev->doc, e->data, &p, &n);
        if (!ev->span)
            ev->span = p;
        ev->span_len = (size_t)(p + n - ev->span);
        netstring_u64(b, (uint64_t)(p - ev->span));
        netstring_u64(b, n);
    } else {
        netstring(b, "", 0);
        netstring(b, "", 0);
    }
    netstring(b, e->eff ? &e->eff : "", e->eff ? 1 : 0);
    for (int i = 0; i < 4; i++)
        netstring(b, e->x[i] ? e->x[i] : "", e->x[i] ? strlen(e->x[i]) : 0);
    ev->n++;
}

static bool in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

static const char *const connection_states[] = {"new",    "connecting", "connected", "disconnected",
                                                "failed", "closed",     NULL};
static const char *const ice_states[] = {"new",    "checking",     "connected", "completed",
                                         "failed", "disconnected", "closed",    NULL};
static const char *const gathering_states[] = {"new", "gathering", "complete", NULL};
static const char *const signaling_states[] = {"stable",
                                               "have-local-offer",
                                               "have-remote-offer",
                                               "have-local-pranswer",
                                               "have-remote-pranswer",
                                               "closed",
                                               NULL};

/* The `data` member of an event as a string, or NULL. */
static const char *data_str(http_request *req, const json_doc *doc, int obj) {
    const char *s;
    size_t n;
    return tm_member_str(req, doc, obj, "data", &s, &n) == 1 ? s : NULL;
}

/* Records the issue an event shows (protocol/rtcstats.h: one at most for
 * the events that have one): with a state change, or as the event's effect. */
static void event_issue(struct tm_event *e, unsigned issues) {
    const char *name = issues ? rtc_issue_name(issues) : NULL;
    if (!name)
        return;
    if (e->eff == 'S') {
        e->x[1] = name;
    } else if (!e->eff) {
        e->eff = 'I';
        e->x[0] = name;
    }
}

/* A connection event's enum values and effect.  0, or -1 when a value is not
 * one the contract lists (400 invalid_parameters). */
static int connection_event(http_request *req, const json_doc *doc, int obj, struct tm_event *e) {
    const char *t = e->type;
    /* A state event's name, with or without the SDK's "on" prefix (as issue
     * detection reads it: protocol/rtcstats.c). */
    const char *bare = strncmp(t, "on", 2) ? t : t + 2;
    if (!strcmp(t, "addConnection")) {
        char *ids = arena_alloc(&req->arena, 2 * 37);
        uuid_v4(ids);
        uuid_v4(ids + 37);
        /* connectionState, when given, is the pc's RTCPeerConnectionState */
        const char *state, *name;
        size_t n;
        int r = tm_member_str(req, doc, obj, "connectionState", &state, &n);
        if (r < 0 || (r == 1 && !in_list(state, connection_states)) ||
            tm_member_str(req, doc, obj, "peerName", &name, &n) < 0 || n > 256)
            return -1;
        e->eff = 'A';
        e->x[0] = ids, e->x[1] = ids + 37, e->x[2] = state, e->x[3] = name;
    } else if (!strcmp(t, "removeConnection")) {
        e->eff = 'R';
    } else if (!strcmp(bare, "connectionstatechange")) {
        const char *s = data_str(req, doc, obj);
        if (!s || !in_list(s, connection_states))
            return -1;
        e->eff = 'S';
        e->x[0] = s;
    } else if (!strcmp(bare, "iceconnectionstatechange")) {
        const char *s = data_str(req, doc, obj);
        if (!s || !in_list(s, ice_states))
            return -1;
    } else if (!strcmp(bare, "icegatheringstatechange")) {
        const char *s = data_str(req, doc, obj);
        if (!s || !in_list(s, gathering_states))
            return -1;
    } else if (!strcmp(bare, "signalingstatechange")) {
        /* The state itself, or peermetrics' {signalingState} */
        const char *s = data_str(req, doc, obj);
        int d = json_get(doc, obj, "data");
        size_t n;
        if (!s && d >= 0 && tm_member_str(req, doc, d, "signalingState", &s, &n) != 1)
            s = NULL;
        if (!s || !in_list(s, signaling_states))
            return -1;
    }
    event_issue(e, rtc_connection_event_issues(doc, obj));
    return 0;
}

/* Reads the common members of an event object: eventName (required unless
 * `type` is given), peerId, connectionId, delta (`delta_name`), data.
 * 0; 1 when eventName or a required peerId is missing; -1 when a member has
 * the wrong type or a delta is bad. */
static int event_read(http_request *req, const json_doc *doc, int obj, struct tm_event *e,
                      bool need_peer, const char *delta_name, double base_delta) {
    int r;
    if (!e->type) {
        r = tm_member_str(req, doc, obj, "eventName", &e->type, &e->type_len);
        if (r < 0 || json_utf8_chars(e->type, e->type_len) > EVENT_NAME_MAX)
            return -1;
        if (r == 0 || e->type_len == 0)
            return 1;
    }
    r = tm_member_str(req, doc, obj, "peerId", &e->peer, &e->peer_len);
    if (r < 0 || e->peer_len > 256)
        return -1;
    if (need_peer && e->peer_len == 0)
        return 1;
    if (tm_member_str(req, doc, obj, "connectionId", &e->conn, &e->conn_len) < 0 ||
        (e->conn_len && !is_uuid(e->conn, e->conn_len)))
        return -2;
    double delta;
    if (tm_member_delta(doc, obj, delta_name, &delta) < 0)
        return -1;
    e->at = tm_backdate(delta + base_delta);
    e->data = json_get(doc, obj, "data");
    return 0;
}

/* ---- the script call ---- */

static void on_stored(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (tm_reply_check(req, reply, err) < 0)
        return;
    if (reply->elements == 3 && reply->element[1]->type == REDIS_REPLY_STRING) {
        /* addConnection: the server's ids of the peer and the connection */
        struct json_resp r;
        json_resp_begin(req, &r);
        json_w_key(&r.w, "peer_id");
        json_w_str(&r.w, reply->element[1]->str, reply->element[1]->len);
        json_w_key(&r.w, "connection_id");
        json_w_str(&r.w, reply->element[2]->str, reply->element[2]->len);
        json_resp_send(req, &r, 200);
        return;
    }
    if (reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_ARRAY) {
        /* a track event: the track */
        const redisReply *t = reply->element[1];
        struct json_resp r;
        json_resp_begin(req, &r);
        json_w_key(&r.w, "data");
        json_w_obj_open(&r.w);
        for (size_t i = 0; i + 1 < t->elements; i += 2) {
            const char *k = t->element[i]->str;
            const redisReply *v = t->element[i + 1];
            if (!strcmp(k, "createdMs"))
                continue;
            json_w_key(&r.w, k);
            if (!strcmp(k, "muted") || !strcmp(k, "ended"))
                json_w_bool(&r.w, v->str[0] == '1');
            else
                json_w_str(&r.w, v->str, v->len);
        }
        json_w_obj_close(&r.w);
        json_resp_send(req, &r, 200);
        return;
    }
    tm_ok_empty(req);
}

/* A batch's answer once stored: "" (see answer_empty). */
static void on_stored_empty(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (tm_reply_check(req, reply, err) == 0)
        tm_ok_empty(req);
}

/* Stores the described events, and the aggregate updates of a stats
 * sample (`nextra` field, op, value strings): one script call. */
static void events_store(struct tm_events *ev, const struct tm_claims *c, int nextra,
                         const char **extra) {
    http_request *req = ev->req;
    if (ev->n == 0) {
        tm_ok_empty(req);
        return;
    }
    enum { FIXED = 6 }; /* + at most 3 * RTC_UPDATES_MAX: within RDS_EVAL_MAX_ARGC */
    const char *argv[RDS_EVAL_MAX_ARGC] = {
        c->app, c->conference, c->participant, c->session, ev->span ? ev->span : "", ev->desc.data};
    size_t lens[RDS_EVAL_MAX_ARGC] = {36, 36, 36, 36, ev->span_len, ev->desc.len};
    for (int i = 0; i < nextra; i++) {
        argv[FIXED + i] = extra[i];
        lens[FIXED + i] = strlen(extra[i]);
    }
    tm_eval(req, SCRIPT_tm_event, ev->answer_empty ? on_stored_empty : on_stored, req,
            FIXED + nextra, argv, lens);
}

/* Starts a session-token request: the body, its token, the event list. */
static int events_begin(http_request *req, json_doc *doc, struct tm_claims *c,
                        struct tm_events *ev) {
    if (tm_begin(req, doc, TM_SESSION, c) < 0)
        return -1;
    ev->req = req;
    ev->doc = doc;
    ev->n = 0;
    ev->span = NULL;
    ev->span_len = 0;
    ev->answer_empty = false;
    buf_init(&ev->desc, &req->arena);
    return 0;
}

/* Answers event_read's refusal. */
static void read_refused(http_request *req, int r) {
    if (r == 1)
        tm_missing(req, "eventName or peerId");
    else if (r == -2)
        tm_error(req, 400, "connection_not_found", "No such connection");
    else
        tm_invalid(req, "event");
}

/* /events/get-user-media and /events/browser: one event of category `cat`. */
static void single_event(http_request *req, char cat) {
    json_doc doc;
    struct tm_claims c;
    struct tm_events ev;
    if (events_begin(req, &doc, &c, &ev) < 0)
        return;
    struct tm_event e = {.cat = cat};
    int r = event_read(req, &doc, 0, &e, false, "delta", 0);
    if (r) {
        read_refused(req, r);
        return;
    }
    if (cat == 'B' && (!strcmp(e.type, "beforeunload") || !strcmp(e.type, "unload") ||
                       !strcmp(e.type, "endCall")))
        e.eff = 'E';
    if (cat == 'M')
        event_issue(&e, rtc_getusermedia_event_issues(&doc, 0));
    events_add(&ev, &e);
    events_store(&ev, &c, 0, NULL);
}

void tm_events_getusermedia(http_request *req) {
    single_event(req, 'M');
}

void tm_events_browser(http_request *req) {
    single_event(req, 'B');
}

/* Reads connection event `obj` into the list.  0 when added; 1 when it
 * lacks eventName or peerId and `skip` allows skipping it; -1 after
 * answering the refusal. */
static int connection_add(struct tm_events *ev, int obj, const char *delta_name, double base_delta,
                          bool skip) {
    struct tm_event e = {.cat = 'C'};
    int r = event_read(ev->req, ev->doc, obj, &e, true, delta_name, base_delta);
    if (r == 1 && skip)
        return 1;
    if (r || connection_event(ev->req, ev->doc, obj, &e) < 0) {
        read_refused(ev->req, r ? r : -1);
        return -1;
    }
    events_add(ev, &e);
    return 0;
}

void tm_connection(http_request *req) {
    json_doc doc;
    struct tm_claims c;
    struct tm_events ev;
    if (events_begin(req, &doc, &c, &ev) == 0 && connection_add(&ev, 0, "delta", 0, false) == 0)
        events_store(&ev, &c, 0, NULL);
}

/* Items missing eventName or peerId are skipped (API.md §6.1); a malformed
 * one refuses the whole batch, which then stores nothing. */
void tm_connection_batch(http_request *req) {
    json_doc doc;
    struct tm_claims c;
    struct tm_events ev;
    if (events_begin(req, &doc, &c, &ev) < 0)
        return;
    ev.answer_empty = true;
    double delta;
    if (tm_member_delta(&doc, 0, "delta", &delta) < 0) {
        tm_invalid(req, "delta");
        return;
    }
    int items = json_get(&doc, 0, "data");
    if (items < 0 || json_type(&doc, items) != JSON_ARRAY) {
        tm_invalid(req, "data: an array of events");
        return;
    }
    for (int t = items + 1; t < json_next(&doc, items); t = json_next(&doc, t)) {
        /* The SDK names an item's delay timeDelta; delta is taken too. */
        const char *dname = json_get(&doc, t, "delta") >= 0 ? "delta" : "timeDelta";
        if (json_type(&doc, t) == JSON_OBJECT && connection_add(&ev, t, dname, delta, true) < 0)
            return;
    }
    events_store(&ev, &c, 0, NULL);
}

/* ---- /stats ---- */

void tm_stats(http_request *req) {
    json_doc doc;
    struct tm_claims c;
    struct tm_events ev;
    if (events_begin(req, &doc, &c, &ev) < 0)
        return;
    struct tm_event e = {.cat = 'S', .eff = 'X', .type = "stats", .type_len = 5};
    int r = event_read(req, &doc, 0, &e, false, "delta", 0);
    if (r) {
        read_refused(req, r);
        return;
    }
    if (e.data < 0 || json_type(&doc, e.data) != JSON_OBJECT) {
        tm_invalid(req, "data: the stats object");
        return;
    }
    /* What the sample says of its connection: the selected pair's local
     * candidate type, its issues (relay -> turn_used, TCP -> tcp_used) and
     * the updates of its quality aggregates. */
    struct rtc_sample sample;
    rtc_stats_read(&doc, 0, &sample);
    e.x[0] = rtc_cand_type_name(sample.local_type);
    e.x[1] = rtc_issue_name(sample.issues & RTC_ISSUE_TURN_USED);
    e.x[2] = rtc_issue_name(sample.issues & RTC_ISSUE_TCP_USED);
    struct rtc_update *up = arena_alloc(&req->arena, RTC_UPDATES_MAX * sizeof *up);
    size_t nup = rtc_updates(&sample, up, RTC_UPDATES_MAX);
    events_add(&ev, &e);
    const char **extra = arena_alloc(&req->arena, 3 * nup * sizeof *extra);
    for (size_t i = 0; i < nup; i++) {
        extra[3 * i] = up[i].field;
        extra[3 * i + 1] = up[i].op;
        extra[3 * i + 2] = up[i].value;
    }
    events_store(&ev, &c, (int)(3 * nup), extra);
}

/* ---- /tracks ---- */

/* POST (ontrack) and PUT (mute, unmute, ended, overconstrained). */
static void track_event(http_request *req, bool create) {
    static const char *const changes[] = {"mute", "unmute", "ended", "overconstrained", NULL};
    json_doc doc;
    struct tm_claims c;
    struct tm_events ev;
    if (events_begin(req, &doc, &c, &ev) < 0)
        return;
    struct tm_event e = {.cat = 'T', .eff = create ? 'T' : 'M'};
    const char *track;
    size_t tlen;
    int r = tm_member_str(req, &doc, 0, "event", &e.type, &e.type_len);
    if (r == 0 || e.type_len == 0) {
        tm_missing(req, "event");
        return;
    }
    if (r < 0 || (create ? strcmp(e.type, "ontrack") != 0 : !in_list(e.type, changes))) {
        tm_invalid(req, "event");
        return;
    }
    r = tm_member_str(req, &doc, 0, "trackId", &track, &tlen);
    if (r <= 0 || tlen == 0 || tlen > TRACK_ID_MAX) {
        if (r < 0 || tlen > TRACK_ID_MAX)
            tm_invalid(req, "trackId");
        else
            tm_missing(req, "trackId");
        return;
    }
    r = event_read(req, &doc, 0, &e, false, "delta", 0);
    if (r) {
        read_refused(req, r);
        return;
    }
    e.x[0] = track;
    if (create) {
        const char *kind = "", *dir = "", *label = "";
        size_t n;
        if (e.data >= 0 && json_type(&doc, e.data) == JSON_OBJECT) {
            tm_member_str(req, &doc, e.data, "kind", &kind, &n);
            tm_member_str(req, &doc, e.data, "direction", &dir, &n);
            tm_member_str(req, &doc, e.data, "label", &label, &n);
        }
        e.x[1] = kind;
        e.x[2] = dir[0] ? dir : "inbound";
        e.x[3] = label;
    } else {
        e.x[1] = e.type;
    }
    events_add(&ev, &e);
    events_store(&ev, &c, 0, NULL);
}

void tm_tracks_create(http_request *req) {
    track_event(req, true);
}

void tm_tracks_update(http_request *req) {
    track_event(req, false);
}
