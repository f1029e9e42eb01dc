/* The secret that signs every token.  From ONAIR_SECRET when set; otherwise
 * generated once and kept in Redis (SET NX), so every instance behind the load
 * balancer agrees, with a warning in the log.  Until it is known (Redis not
 * reached yet), routes that sign or verify tokens answer 503. */
#ifndef ONAIR_SECRET_H
#define ONAIR_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/redis.h"

/* Takes the configured secret, if any (len 0: none). */
void secret_init(const uint8_t *configured, size_t len);

/* Called whenever the store becomes ready: fetches or creates the shared
 * secret if it is not known yet. */
void secret_on_ready(rds_client *redis);

/* The key; NULL until ready. */
const uint8_t *secret_key(size_t *len);

#endif
