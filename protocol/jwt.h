/* HS256 JSON Web Tokens (RFC 7519), signed and verified with libsodium.
 *
 * Only {"alg":"HS256"} is accepted: "none", HS384/HS512, RS*, a missing alg,
 * a header that is not a JSON object and a token with other than three
 * base64url segments are all rejected, before the signature is even computed.
 * The signature is compared in constant time.  Claims checked here: `exp`
 * (required, a number; expired when now >= exp + leeway) and `iat` (optional;
 * rejected when iat > now + leeway).  The header's typ, when present, must be
 * "JWT", and a crit header is refused.  The payload's own claims (typ, sub,
 * jti, revocation) are the caller's business, from the payload returned. */
#ifndef ONAIR_JWT_H
#define ONAIR_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "protocol/json.h"

enum jwt_result {
    JWT_OK = 0,
    JWT_EMALFORMED = -1, /* not three segments, bad base64url, header/payload not JSON objects */
    JWT_EALG = -2,       /* header alg is not HS256 */
    JWT_ESIG = -3,       /* signature does not match */
    JWT_EEXPIRED = -4,   /* exp missing, not a number, or in the past */
    JWT_EIAT = -5,       /* iat in the future beyond the leeway, or not a number */
};

/* Appends header.payload.signature to out.  payload must be a JSON object's
 * bytes; the header is {"alg":"HS256","typ":"JWT"}. */
void jwt_sign(buf *out, const uint8_t *key, size_t keylen, const char *payload, size_t n);

/* Verifies token[0..n) at time `now` (seconds since the epoch) with `leeway`
 * seconds of tolerance.  On JWT_OK, *payload is the parsed payload (its
 * source lives in the arena). */
enum jwt_result jwt_verify(const char *token, size_t n, const uint8_t *key, size_t keylen,
                           int64_t now, int64_t leeway, arena *a, json_doc *payload);

const char *jwt_strerror(enum jwt_result r);

#endif
