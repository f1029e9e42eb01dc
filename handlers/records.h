/* Records: entities kept as Redis hashes (gigs, streams) read into structs
 * of string fields through a table, and pages of an entity index with a
 * status filter. */
#ifndef ONAIR_RECORDS_H
#define ONAIR_RECORDS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "protocol/http1.h"
#include "protocol/json.h"
#include "storage/redis.h"

/* One string field of a record struct, and its name in the hash. */
struct record_field {
    const char *name;
    size_t offset; /* of a `const char *` in the struct */
};

/* Reads an HGETALL-style reply (field, value, ...) into `out`: each field of
 * the table points into the reply, or is "" when absent.  Returns -1 when the
 * reply is not such an array. */
int record_read(const struct record_field *fields, size_t n, const redisReply *flat, void *out);

/* Splits a comma-separated list into the arena; returns how many (<= max). */
size_t record_split(arena *a, const char *s, const char **out, size_t max);

/* "key": the string, or null when it is "". */
void record_str_or_null(json_writer *w, const char *key, const char *v);

/* Writes each field of a record read with `fields` as "<name>": value, in
 * the table's order, null for "" (the members of an object the caller
 * opened). */
void record_write_fields(json_writer *w, const struct record_field *fields, size_t n,
                         const void *rec);

/* Writes one entity of a page into an answer's array; false skips it. */
typedef bool (*record_write_fn)(json_writer *w, arena *a, const redisReply *entity);

/* Answers 200 {"<name>": [...], "count": N} from a {count, {entity, ...}}
 * reply, or 503 when the store failed or the reply is not that. */
void record_page_respond(http_request *req, const redisReply *reply, int err, const char *name,
                         record_write_fn write);

/* A kind of entity whose deadlines the reaper fires: its script takes (the
 * entity's key; prefix, id, now ISO, now ms) and answers {'expired', what,
 * HGETALL} or {'none'}; `done` tells whom it concerns. */
typedef void (*record_expired_fn)(arena *a, const char *what, const redisReply *entity);
struct record_expiry {
    const char *kind; /* reaper kind and key kind: "gig", "stream" */
    enum script_id script;
    record_expired_fn done;
};

/* Registers the kind with the reaper (`e` must outlive the process). */
int record_expiry_register(const struct record_expiry *e);

/* Runs index_page.lua over an index (a zset of ids by time, newest first)
 * of entities of `kind` ("gig", "stream"), keeping those whose status is
 * in ?status= (comma-separated names among `statuses`; 422 answered here
 * and -1 for an unknown one).  cb gets {count, {HGETALL reply, ...}}.
 * Answers 503 itself when the store is down (-1). */
int record_page(http_request *req, const char *index_key, const char *kind,
                const char *const *statuses, size_t nstatuses, rds_cb cb);

#endif
