/* Records (handlers/records.h). */
#include "handlers/records.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/handlers.h"
#include "core/log.h"
#include "handlers/auth.h"
#include "storage/keys.h"
#include "storage/reaper.h"

int record_read(const struct record_field *fields, size_t n, const redisReply *flat, void *out) {
    for (size_t f = 0; f < n; f++)
        *(const char **)((char *)out + fields[f].offset) = "";
    if (!flat || flat->type != REDIS_REPLY_ARRAY || flat->elements % 2)
        return -1;
    /* A hash keeps its fields in the order they were first written, which
     * is mostly the table's: the search starts after the last field found. */
    size_t next = 0;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        for (size_t j = 0; j < n; j++) {
            size_t f = (next + j) % n;
            if (strcmp(k->str, fields[f].name) == 0) {
                *(const char **)((char *)out + fields[f].offset) = v->str;
                next = f + 1;
                break;
            }
        }
    }
    return 0;
}

size_t record_split(arena *a, const char *s, const char **out, size_t max) {
    size_t n = 0;
    while (*s && n < max) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        out[n++] = arena_strndup(a, s, len);
        s += len + (comma ? 1 : 0);
    }
    return n;
}

bool record_tagged(const redisReply *r) {
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING;
}

void record_str_or_null(json_writer *w, const char *key, const char *v) {
    json_w_key(w, key);
    json_w_cstr(w, v[0] ? v : NULL);
}

void record_write_fields(json_writer *w, const struct record_field *fields, size_t n,
                         const void *rec) {
    for (size_t f = 0; f < n; f++)
        record_str_or_null(w, fields[f].name,
                           *(const char *const *)((const char *)rec + fields[f].offset));
}

void record_page_respond(http_request *req, const redisReply *reply, int err, const char *name,
                         record_write_fn write) {
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, name);
    json_w_arr_open(&r.w);
    const redisReply *page = reply->element[1];
    for (size_t i = 0; i < page->elements; i++)
        write(&r.w, &req->arena, page->element[i]);
    json_w_arr_close(&r.w);
    json_w_key(&r.w, "count");
    json_w_int(&r.w, reply->element[0]->integer);
    json_resp_send(req, &r, 200);
}

/* ?status=a,b as ",a,b," for the script's plain-text search ("" for all). */
static int status_filter(http_request *req, const char *const *statuses, size_t nstatuses,
                         buf *out) {
    const char *want = "";
    size_t wantlen = 0;
    if (http_query(req, "status", &want, &wantlen) == 0 && wantlen) {
        const char **wanted = arena_alloc(&req->arena, 2 * nstatuses * sizeof *wanted);
        size_t n = record_split(&req->arena, want, wanted, 2 * nstatuses);
        buf_appendc(out, ',');
        for (size_t i = 0; i < n; i++) {
            bool known = false;
            for (size_t k = 0; k < nstatuses; k++)
                known |= strcmp(statuses[k], wanted[i]) == 0;
            if (!known || want[wantlen - 1] == ',') {
                handler_invalid(req, 422, "invalid", "status", "names an unknown status");
                return -1;
            }
            buf_appends(out, wanted[i]);
            buf_appendc(out, ',');
        }
    }
    buf_appendc(out, '\0');
    return 0;
}

int record_page(http_request *req, const char *index_key, const char *kind,
                const char *const *statuses, size_t nstatuses, rds_cb cb) {
    long limit, offset;
    buf filter;
    buf_init(&filter, &req->arena);
    if (read_paging(req, &limit, &offset) < 0 ||
        status_filter(req, statuses, nstatuses, &filter) < 0)
        return -1;
    char slimit[16], soffset[16], prefix[KEY_MAX];
    snprintf(slimit, sizeof slimit, "%ld", limit);
    snprintf(soffset, sizeof soffset, "%ld", offset);
    snprintf(prefix, sizeof prefix, "%s{%s:", keys_prefix(), kind);
    const char *argv[5] = {index_key, prefix, filter.data, soffset, slimit};
    if (rds_eval(srv.redis, SCRIPT_index_page, cb, req, 1, 5, argv, NULL) < 0) {
        resp_unavailable(req);
        return -1;
    }
    return 0;
}

static void on_expired(redisReply *reply, int err, void *ud) {
    const struct record_expiry *e = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "expired") != 0) {
        if (err || !reply || reply->type == REDIS_REPLY_ERROR)
            log_warn("records", "expiring a %s failed; it is retried after the lease", e->kind);
        return;
    }
    arena a;
    arena_init(&a);
    e->done(&a, reply->element[1]->str, reply->element[2]);
    arena_reset(&a);
}

static void fire(const char *member, size_t len, void *ud) {
    const struct record_expiry *e = ud;
    char key[KEY_MAX], id[64], iso[32], now[24];
    if (len >= sizeof id)
        return;
    memcpy(id, member, len);
    id[len] = '\0';
    key_entity(key, e->kind, id, len, NULL);
    now_iso(iso);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    const char *argv[5] = {key, keys_prefix(), id, iso, now};
    rds_eval(srv.redis, e->script, on_expired, (void *)e, 1, 5, argv, NULL);
}

int record_expiry_register(const struct record_expiry *e) {
    return reaper_register(e->kind, fire, (void *)e);
}
