/* Plans and their quotas (API.md §6.1 quota_exceeded, docs/telemetry.md).
 *
 * ONAIR_PLANS lists the plans an organization may be on and each one's
 * monthly limits: "free:conferences=1000;pro:conferences=0", 0 meaning
 * unlimited.  The first plan is the default: an organization whose `plan`
 * names no configured plan is held to it.  Usage is counted per organization
 * per calendar month (UTC) in the store, by the scripts that create what is
 * counted; this module only says what the limits are and which month it is. */
#ifndef ONAIR_PLANS_H
#define ONAIR_PLANS_H

#include <stdint.h>

/* Parses the setting.  Returns 0, or -1 with a log line naming the fault. */
int plans_init(const char *spec);

/* The default plan's name. */
const char *plans_default(void);

/* Whether `name` is a configured plan. */
int plans_exists(const char *name);

/* The conference limits as one script argument, " free=1000 pro=0 ": the
 * default plan first, each name followed by its limit (0 = unlimited). */
const char *plans_conference_limits(void);

/* The month usage is counted in, "YYYYMM" (UTC), for ms since the epoch. */
void plans_month(uint64_t ms, char out[8]);

#endif
