/* Billing routes (billing.h): handed to the provider, or 501 without one. */
#include "handlers/billing.h"

#include <stddef.h>

#include "core/conn.h"
#include "handlers/handlers.h"

/* The providers built in, NULL-terminated; none yet. */
static const struct billing_provider *const providers[] = {NULL};

const struct billing_provider *billing_provider(void) {
    return providers[0];
}

static void not_configured(http_request *req) {
    resp_json_str(req, 501,
                  "{\"status\":\"billing-not-configured\",\"message\":\"No payment provider is "
                  "configured\",\"error_code\":\"billing-not-configured\"}");
}

void billing_payment_token(http_request *req) {
    const struct billing_provider *p = billing_provider();
    if (!p) {
        not_configured(req);
        return;
    }
    p->payment_token(req);
}

void billing_payment_method(http_request *req) {
    const struct billing_provider *p = billing_provider();
    if (!p) {
        not_configured(req);
        return;
    }
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    p->payment_method(req, &doc);
}
