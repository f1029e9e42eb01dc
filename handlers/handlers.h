/* Every route handler, and the table that maps routes to them. */
#ifndef ONAIR_HANDLERS_H
#define ONAIR_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/router.h"
#include "protocol/http1.h"
#include "protocol/json.h"

extern const struct route routes[];
extern const size_t nroutes;

/* Registers deadline kinds and anything else handlers need at start-up. */
int handlers_init(void);

/* The store became ready (again). */
void handlers_on_ready(void);

/* Shutdown: stops what handlers_init started (connections are closed), then,
 * once the loop has stopped, frees it. */
void handlers_close(void);
void handlers_free(void);

/* health.c */
void health_get(http_request *req);
void ready_get(http_request *req);
void metrics_get(http_request *req);

/* accounts.c */
void accounts_create(http_request *req);
void auth_register(http_request *req);
void auth_login(http_request *req);
void auth_change_password(http_request *req);
void auth_logout(http_request *req);
void accounts_me(http_request *req);
void accounts_online(http_request *req);
void accounts_offline(http_request *req);
void accounts_location(http_request *req);
void accounts_update(http_request *req);
void accounts_init(void);
void accounts_on_ready(void); /* the store is reachable: ensure the admin */
/* The shapes of an email address and of a phone number (identities, leads). */
bool valid_email(const char *s, size_t n);
bool valid_phone(const char *s, size_t n);

/* organizations.c */
void orgs_create(http_request *req);
void orgs_list(http_request *req);
void orgs_get(http_request *req);
void orgs_update(http_request *req);
void orgs_delete(http_request *req);

/* map.c */
void map_get(http_request *req);

/* gigs.c */
void gigs_create(http_request *req);
void gigs_list(http_request *req);
void gigs_get(http_request *req);
void gigs_claim(http_request *req);
void gigs_confirm(http_request *req);
void gigs_reject(http_request *req);
void gigs_cancel(http_request *req);
void gigs_handshake(http_request *req);
void gigs_start(http_request *req);
void gigs_stop(http_request *req);
void gigs_rate(http_request *req);
int gigs_init(void); /* the media provider and the gig deadline kind */

/* leads.c, chat.c (API.md §5, docs/streams.md) */
void leads_create(http_request *req);
void leads_list(http_request *req);
void chat_post(http_request *req);
void chat_get(http_request *req);

/* vin.c */
void vin_get(http_request *req);

/* streams.c */
void streams_request(http_request *req);
void streams_accept(http_request *req);
void streams_stop(http_request *req);
void streams_note(http_request *req);
void streams_get(http_request *req);
void streams_list(http_request *req);
void streams_ping(http_request *req);
int streams_init(void); /* the stream deadline kind */

/* chatrooms.c (API.md §8, docs/chatrooms.md) */
void chatrooms_add(http_request *req);
void chatrooms_message(http_request *req);
void chatrooms_list(http_request *req);
void chatrooms_select(http_request *req);
void chatrooms_stop(http_request *req);
void chatrooms_camera_on(http_request *req);
void chatrooms_camera_off(http_request *req);
int chatrooms_init(void); /* the room idleness deadline kind */

/* prosody.c (API.md §7, docs/prosody.md) */
void prosody_room_create(http_request *req);
void prosody_room_end(http_request *req);
void prosody_room_get(http_request *req);
void prosody_occupant_create(http_request *req);
void prosody_occupant_update(http_request *req);
void prosody_occupant_destroy(http_request *req);

/* socket.c */
void socket_auth(http_request *req);

/* apps.c (API.md §6.3) */
void apps_create(http_request *req);
void apps_get(http_request *req);
void apps_update(http_request *req);
void apps_delete(http_request *req);
void apps_reset_key(http_request *req);

/* telemetry_ingest.c, telemetry_events.c: the SDK's routes (API.md §6.1) */
void tm_initialize(http_request *req);
void tm_sessions_create(http_request *req);
void tm_sessions_update(http_request *req);
void tm_events_getusermedia(http_request *req);
void tm_events_browser(http_request *req);
void tm_connection(http_request *req);
void tm_connection_batch(http_request *req);
void tm_stats(http_request *req);
void tm_tracks_create(http_request *req);
void tm_tracks_update(http_request *req);

/* telemetry_query.c: the dashboard's queries (API.md §6.3) */
void tmq_conferences(http_request *req);
void tmq_conference(http_request *req);
void tmq_events(http_request *req);
void tmq_issues(http_request *req);
void tmq_summary(http_request *req);
void tmq_participants(http_request *req);
void tmq_participant(http_request *req);
void tmq_sessions(http_request *req);
void tmq_session(http_request *req);
void tmq_search(http_request *req);

/* organizations.c: PUT /subscription/:organizationId; billing.c */
void orgs_subscription(http_request *req);
void billing_payment_token(http_request *req);
void billing_payment_method(http_request *req);

/* Reads ?limit (1..200, default 50) and ?offset; answers 422 itself (-1). */
int read_paging(http_request *req, long *limit, long *offset);

/* auth.c: the pipeline the router runs for every route. */
void pipeline_run(http_request *req);

/* testhooks.c: only routed with --test-hooks. */
void testhook_echo(http_request *req);
void testhook_sleep(http_request *req);
void testhook_redis(http_request *req);
void testhook_redis_push(http_request *req);
void testhook_deadline(http_request *req);
void testhook_notify(http_request *req);
int testhooks_init(void);

/* A JSON object response written straight into the request's arena:
 *   struct json_resp r;
 *   json_resp_begin(req, &r);          -> {
 *   json_w_key(&r.w, "data"); ...      ->  "data": ...
 *   json_resp_send(req, &r, 200);      -> }, sent */
struct json_resp {
    buf b;
    json_writer w;
};
void json_resp_begin(http_request *req, struct json_resp *r);
void json_resp_send(http_request *req, struct json_resp *r, int status);

/* Answers {"status": code, "message": "<field> <reason>", "errors": {field: reason}}. */
void handler_invalid(http_request *req, int status, const char *code, const char *field,
                     const char *reason);

/* Reads the body's fields (json_extract), answering 422 itself when the
 * body is not an object or a field is wrong.  Returns 0, or -1 when it
 * answered. */
int handler_extract(http_request *req, const json_doc *doc, const struct json_field *f, size_t n);

/* A point on Earth: 0, or -1 after answering 422 naming the bad field. */
int check_location(http_request *req, double lat, double lon, const char *latname,
                   const char *lonname);

/* Server-made ids are lowercase UUIDs; anything else names nothing. */
bool is_uuid(const char *s, size_t n);

/* The route's first parameter when it is such an id, or NULL after
 * answering 404 not-found with `message` ("No such gig"). */
const char *id_param(http_request *req, size_t *len, const char *message);

/* Parses the request body as JSON (whatever the Content-Type), answering
 * 400 bad-json itself when it is not.  Returns 0, or -1 when it answered. */
struct json_doc;
int handler_parse_json(http_request *req, struct json_doc *doc);

#endif
