#include "storage/reaper.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "core/log.h"
#include "storage/keys.h"

#define MAX_KINDS 16

struct kind {
    char name[32];
    char key[KEY_MAX];
    size_t key_len;
    reaper_fire_fn fire;
    void *ud;
    bool in_flight; /* a claim is outstanding: do not claim twice at once */
};

static struct kind kinds[MAX_KINDS];
static int nkinds;
static uv_timer_t timer;
static bool running;
static rds_client *store;
static uint64_t lease_ms;

uint64_t reaper_now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

size_t reaper_key(const char *kind, char *out) {
    char name[64];
    snprintf(name, sizeof name, "deadlines:%s", kind);
    return key_named(out, name);
}

int reaper_register(const char *name, reaper_fire_fn fire, void *ud) {
    if (nkinds == MAX_KINDS || strlen(name) >= sizeof kinds[0].name)
        return -1;
    struct kind *k = &kinds[nkinds++];
    snprintf(k->name, sizeof k->name, "%s", name);
    k->key_len = reaper_key(name, k->key);
    k->fire = fire;
    k->ud = ud;
    return 0;
}

static void claim(struct kind *k);

static void on_claimed(redisReply *reply, int err, void *ud) {
    struct kind *k = ud;
    k->in_flight = false;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("reaper", "claiming %s deadlines failed: %s", k->name, reply->str);
        return; /* the next tick tries again */
    }
    for (size_t i = 0; i < reply->elements; i++) {
        redisReply *m = reply->element[i];
        if (m->type == REDIS_REPLY_STRING)
            k->fire(m->str, m->len, k->ud);
    }
    /* A full batch means more may be due: go on without waiting a tick. */
    if (reply->elements == REAPER_BATCH && running)
        claim(k);
}

static void claim(struct kind *k) {
    if (k->in_flight)
        return;
    char now[24], lease[16], batch[8];
    snprintf(now, sizeof now, "%llu", (unsigned long long)reaper_now_ms());
    snprintf(lease, sizeof lease, "%llu", (unsigned long long)lease_ms);
    snprintf(batch, sizeof batch, "%d", REAPER_BATCH);
    const char *argv[4] = {k->key, now, lease, batch};
    if (rds_eval(store, SCRIPT_reap, on_claimed, k, 1, 4, argv, NULL) == 0)
        k->in_flight = true;
}

static void on_tick(uv_timer_t *t) {
    if (!rds_ready(store))
        return;
    for (int i = 0; i < nkinds; i++)
        claim(&kinds[i]);
}

void reaper_start(uv_loop_t *loop, rds_client *redis, uint64_t interval_ms,
                  uint64_t redis_timeout_ms) {
    store = redis;
    lease_ms = REAPER_LEASE_DEADLINES * redis_timeout_ms + interval_ms;
    running = true;
    uv_timer_init(loop, &timer);
    uv_timer_start(&timer, on_tick, interval_ms, interval_ms);
    uv_unref((uv_handle_t *)&timer);
}

void reaper_stop(void) {
    if (!running)
        return;
    running = false;
    uv_timer_stop(&timer);
    uv_close((uv_handle_t *)&timer, NULL);
}

int reaper_schedule(const char *kind, const char *member, size_t len, uint64_t due_ms, rds_cb cb,
                    void *ud) {
    char key[KEY_MAX], due[24];
    size_t klen = reaper_key(kind, key);
    int dlen = snprintf(due, sizeof due, "%llu", (unsigned long long)due_ms);
    const char *argv[4] = {"ZADD", key, due, member};
    size_t lens[4] = {4, klen, (size_t)dlen, len};
    return rds_command_argv(store, cb, ud, 4, argv, lens);
}
