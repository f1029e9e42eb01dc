#include "core/workq.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/arena.h"

struct task {
    uv_work_t req;
    void *job;
    workq_fn work, done;
};

static uv_loop_t *loop;
static size_t max_jobs, pending;

void workq_init(uv_loop_t *l, size_t max) {
    loop = l;
    max_jobs = max;
}

/* Pool threads run at a lower priority (Linux: nice is per thread), so that
 * with every core hashing the loop thread still gets the CPU the moment it
 * has a request: logins wait a little longer, everything else does not. */
static void lower_priority_once(void) {
    static __thread bool done;
    if (!done) {
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
        done = true;
    }
}

static void run(uv_work_t *w) {
    struct task *t = w->data;
    lower_priority_once();
    t->work(t->job);
}

static void after(uv_work_t *w, int status) {
    struct task *t = w->data;
    pending--;
    t->done(t->job);
    free(t);
}

int workq_submit(void *job, workq_fn work, workq_fn done) {
    if (pending >= max_jobs)
        return -1;
    struct task *t = xmalloc(sizeof *t);
    t->req.data = t;
    t->job = job;
    t->work = work;
    t->done = done;
    if (uv_queue_work(loop, &t->req, run, after) < 0) {
        free(t);
        return -1;
    }
    pending++;
    return 0;
}
