/* Asynchronous Redis client (hiredis 0.14 on the libuv loop), written as an
 * explicit state machine:
 *
 *   DISCONNECTED -> CONNECTING -> (AUTH, SELECT, SCRIPT LOAD) -> READY
 *        ^                                                         |
 *        +------------- BACKOFF <----- error, EOF or timeout ------+
 *
 * Every command carries a deadline (hiredis 0.14 has none: one uv timer per
 * client watches the oldest command).  When a deadline passes, every command
 * in flight fails with RDS_ETIMEDOUT together and the connection is dropped and
 * re-established with exponential backoff and jitter, so a hung Redis costs a
 * request at most one deadline and later requests fail fast.
 *
 * Promises to callers:
 *  - rds_command() and friends return -1 at once when the client is not READY
 *    (the caller answers 503); otherwise the callback runs exactly once, later,
 *    never from inside the call.
 *  - The callback gets either a reply (possibly a Redis error reply) with
 *    err == 0, or reply == NULL with err < 0.  The reply is freed after the
 *    callback returns.
 *  - Scripts are loaded on every (re)connect and called with EVALSHA; a NOSCRIPT
 *    answer is retried once with EVAL transparently. */
#ifndef ONAIR_REDIS_H
#define ONAIR_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "storage/scripts_gen.h"

typedef struct rds_client rds_client;

enum rds_state { RDS_DISCONNECTED, RDS_CONNECTING, RDS_READY, RDS_BACKOFF, RDS_CLOSED };

enum rds_err {
    RDS_ETIMEDOUT = -1, /* the command's deadline passed */
    RDS_EDOWN = -2,     /* the connection was lost before the reply */
};

typedef void (*rds_cb)(redisReply *reply, int err, void *ud);
typedef void (*rds_state_cb)(rds_client *c, enum rds_state state, void *ud);
typedef void (*rds_message_cb)(const char *channel, size_t chlen, const char *msg, size_t len,
                               void *ud);

struct rds_options {
    const char *url;       /* redis://[user:pass@]host:port[/db] or unix:///path */
    uint32_t timeout_ms;   /* deadline of every command and of the handshake */
    rds_state_cb on_state; /* optional: told of every state change */
    void *ud;
    /* Set for a Pub/Sub subscriber connection.  Its handshake subscribes to
     * keepalive_channel instead of loading scripts; whenever it has had no
     * command in flight for keepalive_ms it subscribes to that channel again,
     * a round trip with a deadline that proves the connection alive (hiredis
     * 0.14 drops PING replies in subscribe mode).  Every message on a
     * subscribed channel goes to on_message. */
    rds_message_cb on_message;
    const char *keepalive_channel;
    uint32_t keepalive_ms;
};

/* Parses the URL (resolving a host name once, here, never on the loop) and
 * returns a client that is not yet connected, or NULL with a log line. */
rds_client *rds_new(uv_loop_t *loop, const struct rds_options *opt);

/* Starts connecting. */
void rds_start(rds_client *c);

/* Fails every command in flight with RDS_EDOWN and stops reconnecting.  The
 * client stays allocated, refusing every command (work finishing late, a
 * hash on the thread pool say, may still try one), until rds_free. */
void rds_close(rds_client *c);

/* Frees a closed client once the loop has run its handles' closes (after
 * uv_run returns). */
void rds_free(rds_client *c);

enum rds_state rds_state(const rds_client *c);
const char *rds_state_name(enum rds_state s);
static inline bool rds_ready(const rds_client *c) {
    return rds_state(c) == RDS_READY;
}

/* Total reconnections since start (for metrics). */
uint64_t rds_reconnects(const rds_client *c);

/* Commands since start that waited in onair for the connection's output
 * buffer to drain, because Redis was reading slower than onair wrote (for
 * metrics). */
uint64_t rds_held(const rds_client *c);

int rds_command(rds_client *c, rds_cb cb, void *ud, const char *fmt, ...);
int rds_command_argv(rds_client *c, rds_cb cb, void *ud, int argc, const char **argv,
                     const size_t *lens);

/* Subscriber connections only: (un)subscribes one channel.  The callback
 * runs once, with Redis' confirmation (an array reply) or an error, like any
 * command's.  Never unsubscribe a channel whose subscription is not
 * confirmed: hiredis 0.14 would drop the confirmation. */
int rds_subscribe(rds_client *c, const char *channel, size_t len, rds_cb cb, void *ud);
int rds_unsubscribe(rds_client *c, const char *channel, size_t len, rds_cb cb, void *ud);

/* The most arguments (keys and others) rds_eval passes to a script. */
#define RDS_EVAL_MAX_ARGC 253

/* EVALSHA script with argv[0..nkeys) as keys and the rest as arguments
 * (argc <= RDS_EVAL_MAX_ARGC; more: -1). */
int rds_eval(rds_client *c, enum script_id script, rds_cb cb, void *ud, int nkeys, int argc,
             const char **argv, const size_t *lens);

/* A command sent right behind a script by rds_eval_then, and its callback
 * (which gets the script's `ud`). */
struct rds_then {
    int argc;
    const char **argv;
    const size_t *lens; /* NULL: strlen */
    rds_cb cb;
};

/* As rds_eval, then `then` right behind the script on the same connection,
 * so that it runs after the script, before anything else this client sends:
 * a read of what the script wrote, without carrying it back through Lua.
 * Both callbacks run, the script's first.  A NOSCRIPT retry sends `then`
 * again after it (the first answer is dropped), so `then` always follows
 * the script.  Other clients (other instances) may still write in between. */
int rds_eval_then(rds_client *c, enum script_id script, rds_cb cb, void *ud, int nkeys, int argc,
                  const char **argv, const size_t *lens, const struct rds_then *then);

/* True when the reply is a Redis error whose message starts with `prefix`. */
bool rds_reply_is_error(const redisReply *r, const char *prefix);

#endif
