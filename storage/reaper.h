/* Server-enforced deadlines.
 *
 * A deadline is a member of the sorted set <prefix>deadlines:<kind>, scored by
 * its due time (unix ms).  Every instance polls each kind's set on a timer and
 * claims due members with one Lua script (reap.lua), so each member is handed
 * to exactly one instance.  The kind's fire function then runs the kind's own
 * transition script, which must ZREM the member in the same script as the
 * state change.  A claim is a lease: if the instance dies before acting, the
 * member becomes due again after the lease and another instance fires it, so
 * transition scripts must check state (they do anyway).
 *
 * The lease only has to outlast one fire command (bounded by the Redis
 * command deadline), so it is a few deadlines long: a claim that timed out
 * on our side but ran when a stalled Redis woke up delays its deadlines by
 * that much, not more. */
#ifndef ONAIR_REAPER_H
#define ONAIR_REAPER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "storage/redis.h"

#define REAPER_LEASE_DEADLINES 4 /* lease = this many Redis command deadlines */
#define REAPER_BATCH 100

typedef void (*reaper_fire_fn)(const char *member, size_t len, void *ud);

/* Registers a kind before reaper_start.  Returns 0, or -1 when the table is full. */
int reaper_register(const char *kind, reaper_fire_fn fire, void *ud);

void reaper_start(uv_loop_t *loop, rds_client *redis, uint64_t interval_ms,
                  uint64_t redis_timeout_ms);
void reaper_stop(void);

/* The sorted set of a kind, for scripts that schedule or cancel deadlines. */
size_t reaper_key(const char *kind, char *out);

/* ZADD a deadline (for kinds that schedule outside a script). */
int reaper_schedule(const char *kind, const char *member, size_t len, uint64_t due_ms, rds_cb cb,
                    void *ud);

/* Wall-clock time in unix ms: the scale of every deadline. */
uint64_t reaper_now_ms(void);

#endif
