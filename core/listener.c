#include "core/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"

#define BACKLOG 4096

static uv_tcp_t listeners[CONFIG_MAX_LISTEN];
static int nlisteners;

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) {
        log_warn("listener", "accept failed: %s", uv_strerror(status));
        return;
    }
    conn_accept(server);
}

/* Parses "1.2.3.4:80", "localhost:80" or "[::1]:80" into addr. */
static int parse_addr(const char *hostport, struct sockaddr_storage *addr) {
    char host[64];
    const char *colon;
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        if (!close || (size_t)(close - hostport - 1) >= sizeof host)
            return -1;
        memcpy(host, hostport + 1, (size_t)(close - hostport - 1));
        host[close - hostport - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof host)
            return -1;
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
    }
    int port = atoi(colon + 1);
    if (strchr(host, ':'))
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr);
    return uv_ip4_addr(host, port, (struct sockaddr_in *)addr);
}

static int listen_one(uv_loop_t *loop, const char *hostport) {
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    if (parse_addr(hostport, &addr) < 0) {
        log_error("listener", "bad address %s", hostport);
        return -1;
    }
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("listener", "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Several processes on one port: the kernel spreads connections. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    socklen_t len =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, BACKLOG) < 0) {
        log_error("listener", "cannot listen on %s: %s", hostport, strerror(errno));
        close(fd);
        return -1;
    }
    uv_tcp_t *t = &listeners[nlisteners];
    uv_tcp_init(loop, t);
    int rc = uv_tcp_open(t, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)t, BACKLOG, on_connection);
    if (rc < 0) {
        log_error("listener", "cannot listen on %s: %s", hostport, uv_strerror(rc));
        uv_close((uv_handle_t *)t, NULL);
        return -1;
    }
    nlisteners++;
    log_info("listener", "listening on %s", hostport);
    return 0;
}

int listener_start(uv_loop_t *loop, const char *spec) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", spec);
    for (char *save, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (nlisteners == CONFIG_MAX_LISTEN || listen_one(loop, tok) < 0)
            return -1;
    }
    return 0;
}

void listener_stop(void) {
    for (int i = 0; i < nlisteners; i++)
        uv_close((uv_handle_t *)&listeners[i], NULL);
    nlisteners = 0;
}
