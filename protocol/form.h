/* application/x-www-form-urlencoded bodies (the WHATWG URL standard's
 * "application/x-www-form-urlencoded parsing"), as pusher-js posts them to
 * /socket/auth: `socket_id=1234.1234&channel_name=private-foobar`.
 *
 * Reading is strict where the standard is lenient: a '%' not followed by two
 * hex digits (either case) is an error rather than a literal '%', and so is a
 * NUL byte, raw or as %00, because values are handed out as C strings.  '+'
 * is a space; %2B is a '+'.  Names are decoded before they are compared, so
 * `socket%5Fid` is the field `socket_id`.  Decoded bytes are not checked for
 * UTF-8: that is the caller's business, field by field. */
#ifndef ONAIR_FORM_H
#define ONAIR_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

enum form_result {
    FORM_OK = 0,
    FORM_EABSENT = -1,    /* no field has that name */
    FORM_EMALFORMED = -2, /* a bad escape or a NUL byte somewhere in the body */
};

/* True when a Content-Type header value names application/x-www-form-urlencoded:
 * the media type compared case-insensitively, optional whitespace around it,
 * parameters (`; charset=UTF-8`) allowed and ignored. */
bool form_is_urlencoded(const char *content_type, size_t n);

/* Looks up the field `name` in body[0..n) (fields separated by '&', the name
 * ending at the field's first '=').
 *
 * The whole body is checked, whatever field is asked for, so the answer does
 * not depend on the order of the fields: any malformed field makes every
 * lookup FORM_EMALFORMED.  With duplicate names the first field wins.  Empty
 * fields (`a=1&&b=2`) are skipped.  A field without '=' (`flag`) has the
 * empty value, like `flag=`: FORM_OK with *len 0, which is not FORM_EABSENT.
 *
 * On FORM_OK, *val is the decoded value, a NUL-terminated copy in `a`, and
 * *len (when len is not NULL) its length.  Otherwise *val and *len are left
 * alone. */
enum form_result form_get(arena *a, const char *body, size_t n, const char *name, const char **val,
                          size_t *len);

#endif
