/* XMPP addresses (RFC 7622) as the Prosody routes take them (API.md §7):
 * node@domain[/resource], the node required.  A shape check, not the full
 * PRECIS profiles: Prosody has already prepared the addresses it sends.
 *
 * Pure: no allocation, no I/O. */
#ifndef ONAIR_JID_H
#define ONAIR_JID_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is node@domain or node@domain/resource:
 * - the resource is everything after the first '/': non-empty, and no
 *   control characters (C0, DEL or C1; it may hold spaces, '@' and '/');
 * - the node is everything before the one '@' of the rest: non-empty, with no
 *   spaces, control characters nor any of " & ' / : < > @;
 * - the domain is dot-separated non-empty labels of letters, digits, '-',
 *   '_' and non-ASCII characters other than C1 controls (an IDN in UTF-8),
 *   or an IPv6 address in brackets (inet_pton's syntax).
 * The caller checks UTF-8 and the length in characters. */
bool jid_valid(const char *s, size_t n);

#endif
