/* Jitsi Meet with token authentication (prosody's "token" module): every gig
 * is a room, and each party gets a JWT for it signed with the app secret. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/server.h"
#include "handlers/media.h"
#include "protocol/jwt.h"
#include "storage/secret.h"

#define TOKEN_TTL_S 7200
#define ROOM_PREFIX "onair-"

/* Prosody takes app_secret as text: ONAIR_JITSI_SECRET as given, else the
 * server secret as lowercase hex (ONAIR_SECRET's own spelling). */
static int secret_text(char *out, size_t outlen) {
    if (srv.cfg.jitsi_secret) {
        snprintf(out, outlen, "%s", srv.cfg.jitsi_secret);
        return 0;
    }
    size_t n;
    const uint8_t *key = secret_key(&n);
    if (!key || 2 * n + 1 > outlen)
        return -1;
    sodium_bin2hex(out, outlen, key, n);
    return 0;
}

static int jitsi_credentials(const struct media_party *who, json_writer *w, arena *a) {
    char secret[512], room[64];
    if (secret_text(secret, sizeof secret) < 0)
        return -1;
    snprintf(room, sizeof room, ROOM_PREFIX "%s", who->gig_id);
    int64_t now = (int64_t)time(NULL);
    buf claims;
    buf_init(&claims, a);
    json_writer cw;
    json_w_init(&cw, &claims);
    json_w_obj_open(&cw);
    json_w_key(&cw, "aud");
    json_w_cstr(&cw, "jitsi");
    json_w_key(&cw, "iss");
    json_w_cstr(&cw, srv.cfg.jitsi_app_id);
    json_w_key(&cw, "sub");
    json_w_cstr(&cw, srv.cfg.jitsi_domain);
    json_w_key(&cw, "room");
    json_w_cstr(&cw, room);
    json_w_key(&cw, "iat");
    json_w_int(&cw, now);
    json_w_key(&cw, "nbf");
    json_w_int(&cw, now - 10);
    json_w_key(&cw, "exp");
    json_w_int(&cw, now + TOKEN_TTL_S);
    json_w_key(&cw, "context");
    json_w_obj_open(&cw);
    json_w_key(&cw, "user");
    json_w_obj_open(&cw);
    json_w_key(&cw, "id");
    json_w_cstr(&cw, who->account_id);
    json_w_key(&cw, "name");
    json_w_cstr(&cw, who->name);
    json_w_obj_close(&cw);
    json_w_obj_close(&cw);
    json_w_obj_close(&cw);
    buf token;
    buf_init(&token, a);
    jwt_sign(&token, (const uint8_t *)secret, strlen(secret), claims.data, claims.len);
    sodium_memzero(secret, sizeof secret);

    json_w_key(w, "id");
    json_w_cstr(w, room);
    json_w_key(w, "provider");
    json_w_cstr(w, "jitsi");
    json_w_key(w, "key");
    json_w_cstr(w, srv.cfg.jitsi_app_id);
    json_w_key(w, "sessionId");
    json_w_cstr(w, room);
    json_w_key(w, "token");
    json_w_str(w, token.data, token.len);
    return 0;
}

const struct media_provider media_jitsi = {
    .name = "jitsi",
    .init = NULL,
    .credentials = jitsi_credentials,
};
