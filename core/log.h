/* Structured one-line logs (logfmt) on stderr:
 *
 *   ts=2026-11-23T09:52:14.123Z level=warn mod=redis req=5f2c-17 msg="..." k=v
 *
 * A line is written with one write(2) so lines from several processes sharing a
 * file do not interleave.  `req` is present when the line concerns a request. */
#ifndef ONAIR_LOG_H
#define ONAIR_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn", "error"; -1 if unknown. */
int log_level_parse(const char *s);

/* reqid is 0 when the line concerns no request.  The printf-style message is
 * written quoted as msg="...", with quotes and backslashes escaped. */
void log_write(enum log_level lvl, const char *mod, uint64_t reqid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(mod, ...)                                                                        \
    do {                                                                                           \
        if (log_get_level() <= LOG_DEBUG)                                                          \
            log_write(LOG_DEBUG, mod, 0, __VA_ARGS__);                                             \
    } while (0)
#define log_info(mod, ...) log_write(LOG_INFO, mod, 0, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, 0, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, 0, __VA_ARGS__)

#endif
