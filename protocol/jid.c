/* JID shapes (protocol/jid.h). */
#include "protocol/jid.h"

#include <arpa/inet.h>
#include <string.h>

/* Whether s[i] starts a control character (Unicode Cc): C0, DEL, or C1
 * (U+0080..U+009F, "\xc2\x80".."\xc2\x9f" in UTF-8). */
static bool control_at(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
        return true;
    return c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f;
}

static bool node_ok(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (control_at(s, n, i) || c == ' ' || strchr("\"&'/:<>@", c))
            return false;
    }
    return true;
}

/* "[" an IPv6 address (RFC 4291's text form, an IPv4 tail allowed) "]". */
static bool ipv6_literal_ok(const char *s, size_t n) {
    char addr[INET6_ADDRSTRLEN];
    if (n < 4 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof addr)
        return false;
    memcpy(addr, s + 1, n - 2);
    addr[n - 2] = '\0';
    struct in6_addr parsed;
    return inet_pton(AF_INET6, addr, &parsed) == 1;
}

static bool domain_ok(const char *s, size_t n) {
    if (n && s[0] == '[')
        return ipv6_literal_ok(s, n);
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (c >= 0x80 && !control_at(s, n, i));
        if (!ok)
            return false;
        label++;
    }
    return label > 0;
}

static bool resource_ok(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (control_at(s, n, i))
            return false;
    return true;
}

bool jid_valid(const char *s, size_t n) {
    const char *slash = memchr(s, '/', n);
    size_t bare = slash ? (size_t)(slash - s) : n;
    if (slash && !resource_ok(slash + 1, n - bare - 1))
        return false;
    const char *at = memchr(s, '@', bare);
    if (!at)
        return false;
    size_t nodelen = (size_t)(at - s);
    return node_ok(s, nodelen) && domain_ok(at + 1, bare - nodelen - 1);
}
