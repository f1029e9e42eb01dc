/* Plans and their quotas, from ONAIR_PLANS (plans.h). */
#include "handlers/plans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define PLANS_MAX 16
#define PLAN_NAME_MAX 32

static struct plan {
    char name[PLAN_NAME_MAX + 1];
    uint64_t conferences; /* per month; 0: unlimited */
} plans[PLANS_MAX];
static int nplans;
static char conference_limits[PLANS_MAX * (PLAN_NAME_MAX + 24) + 2];

static int bad(const char *why, const char *near) {
    log_error("config", "ONAIR_PLANS: %s near \"%s\"", why, near);
    return -1;
}

/* One "name:metric=limit,metric=limit" entry (modified in place). */
static int parse_plan(char *entry, struct plan *p) {
    char *colon = strchr(entry, ':');
    size_t n = colon ? (size_t)(colon - entry) : strlen(entry);
    if (n == 0 || n > PLAN_NAME_MAX)
        return bad("a plan needs a name of 1 to 32 characters", entry);
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", entry[i]))
            return bad("plan names are lowercase letters, digits, '_' and '-'", entry);
    memcpy(p->name, entry, n);
    p->name[n] = '\0';
    p->conferences = 0;
    if (!colon)
        return 0;
    char *save;
    for (char *q = strtok_r(colon + 1, ",", &save); q; q = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(q, '='), *end;
        if (!eq)
            return bad("a limit is metric=number", q);
        *eq = '\0';
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (eq[1] < '0' || eq[1] > '9' || *end)
            return bad("a limit is metric=number", q);
        if (strcmp(q, "conferences") != 0)
            return bad("the only metric is \"conferences\"", q);
        p->conferences = v;
    }
    return 0;
}

int plans_init(const char *spec) {
    char tmp[1024];
    if (!spec || strlen(spec) >= sizeof tmp)
        return bad("missing or too long", spec ? spec : "");
    snprintf(tmp, sizeof tmp, "%s", spec);
    nplans = 0;
    char *save;
    for (char *e = strtok_r(tmp, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
        if (nplans == PLANS_MAX)
            return bad("at most 16 plans", e);
        if (parse_plan(e, &plans[nplans]) < 0)
            return -1;
        if (plans_exists(plans[nplans].name))
            return bad("a plan is named twice", e);
        nplans++;
    }
    if (nplans == 0)
        return bad("at least one plan", spec);
    size_t off = 0;
    conference_limits[off++] = ' ';
    for (int i = 0; i < nplans; i++)
        off += (size_t)snprintf(conference_limits + off, sizeof conference_limits - off, "%s=%llu ",
                                plans[i].name, (unsigned long long)plans[i].conferences);
    return 0;
}

const char *plans_default(void) {
    return plans[0].name;
}

int plans_exists(const char *name) {
    for (int i = 0; i < nplans; i++)
        if (!strcmp(plans[i].name, name))
            return 1;
    return 0;
}

const char *plans_conference_limits(void) {
    return conference_limits;
}

void plans_month(uint64_t ms, char out[8]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 8, "%Y%m", &tm);
}
