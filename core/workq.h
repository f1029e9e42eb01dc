/* CPU-heavy work (Argon2id) on libuv's thread pool, behind a bounded queue.
 *
 * workq_submit() refuses at once (-1) when the configured number of jobs are
 * already waiting or running, so a burst of logins becomes fast 503s instead
 * of an unbounded backlog.  `work` runs on a pool thread and must touch only
 * its own job memory (no arena, no Redis, no logging through shared state);
 * `done` runs on the loop afterwards. */
#ifndef ONAIR_WORKQ_H
#define ONAIR_WORKQ_H

#include <stddef.h>
#include <uv.h>

typedef void (*workq_fn)(void *job);

void workq_init(uv_loop_t *loop, size_t max_jobs);

/* Returns 0, or -1 when the queue is full.  `job` must stay valid until done. */
int workq_submit(void *job, workq_fn work, workq_fn done);

#endif
