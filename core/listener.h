/* Listening sockets for every address of --listen (IPv4 or IPv6), each with
 * SO_REUSEPORT so several onair processes can share one port. */
#ifndef ONAIR_LISTENER_H
#define ONAIR_LISTENER_H

#include <uv.h>

/* Binds and listens on every address of `spec` ("host:port[,[v6]:port]").
 * Returns 0, or -1 with a log line naming the address. */
int listener_start(uv_loop_t *loop, const char *spec);

/* Stops accepting: closes every listening socket. */
void listener_stop(void);

#endif
