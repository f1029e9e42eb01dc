/* Billing (API.md §6.3): the payment token a dashboard's card form needs and
 * the payment method it sends back, through a payment provider.
 *
 * No provider is built in yet (there is no payment service to reach), so both
 * routes answer 501 billing-not-configured.  Adding one is one file,
 * handlers/billing_<name>.c: define a `struct billing_provider` and list it in
 * billing.c's table; the first listed is the one used. */
#ifndef ONAIR_BILLING_H
#define ONAIR_BILLING_H

#include "protocol/http1.h"
#include "protocol/json.h"

struct billing_provider {
    const char *name;
    /* GET /billing/payment-token: answers the request (a client token for
     * the provider's card form). */
    void (*payment_token)(http_request *req);
    /* POST /billing/payment-method: answers the request, given its parsed
     * body (the provider's payment-method nonce). */
    void (*payment_method)(http_request *req, const json_doc *body);
};

/* The provider in use, or NULL when none is built in. */
const struct billing_provider *billing_provider(void);

#endif
