#include "handlers/media.h"

#include <string.h>

#include "core/log.h"

extern const struct media_provider media_jitsi;

static const struct media_provider *const providers[] = {&media_jitsi};
static const struct media_provider *selected;

int media_init(const char *name) {
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i]->name, name) == 0) {
            selected = providers[i];
            return selected->init ? selected->init() : 0;
        }
    log_error("media", "media provider %s is not built into this server (available: jitsi)", name);
    return -1;
}

const struct media_provider *media_provider(void) {
    return selected;
}
