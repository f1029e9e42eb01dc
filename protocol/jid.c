/* JID shapes (protocol/jid.h). */
#include "protocol/jid.h"

#include <string.h>

static bool is_control(unsigned char c) {
    return c < 0x20 || c == 0x7f;
}

static bool node_ok(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_control(c) || c == ' ' || strchr("\"&'/:<>@", c))
            return false;
    }
    return true;
}

/* "[" hex digits, ':' and '.' (an IPv4 tail) "]". */
static bool ipv6_literal_ok(const char *s, size_t n) {
    if (n < 4 || s[0] != '[' || s[n - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex && c != ':' && c != '.')
            return false;
    }
    return true;
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
                  c == '-' || c == '_' || c >= 0x80;
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
        if (is_control((unsigned char)s[i]))
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
