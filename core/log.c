#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl) {
    min_level = lvl;
}

enum log_level log_get_level(void) {
    return min_level;
}

int log_level_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void log_write(enum log_level lvl, const char *mod, uint64_t reqid, const char *fmt, ...) {
    if (lvl < min_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s mod=%s pid=%d ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[lvl], mod, (int)getpid());
    if (reqid && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "req=%llx ", (unsigned long long)reqid);
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Quote the message, escaping what would break the one-line format. */
    memcpy(line + n, "msg=\"", 5);
    n += 5;
    for (const char *p = msg; *p && n < (int)sizeof line - 4; p++) {
        char c = *p;
        if (c == '"' || c == '\\') {
            line[n++] = '\\';
            line[n++] = c;
        } else {
            line[n++] = (c == '\n' || c == '\r') ? ' ' : c;
        }
    }
    line[n++] = '"';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
