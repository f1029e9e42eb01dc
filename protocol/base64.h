/* base64url without padding (RFC 4648 §5), as JWTs use it. */
#ifndef ONAIR_BASE64_H
#define ONAIR_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes. */
size_t b64url_encoded_len(size_t n);

/* Writes the encoding of in[0..n) to out (b64url_encoded_len(n) bytes, no NUL);
 * returns that length. */
size_t b64url_encode(char *out, const uint8_t *in, size_t n);

/* Largest decoded size of an n-character input. */
size_t b64url_decoded_max(size_t n);

/* Decodes in[0..n) into out (b64url_decoded_max(n) bytes of room).  Rejects '=',
 * '+', '/', whitespace, any other character, an impossible length (n % 4 == 1)
 * and non-zero trailing bits.  Returns 0 with *outlen set, or -1. */
int b64url_decode(uint8_t *out, size_t *outlen, const char *in, size_t n);

#endif
