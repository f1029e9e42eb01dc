/* GET /vin/:vinId (API.md §5): the offline VIN decoder, for shoppers before
 * they request a stream.  It needs no account and never touches the store. */
#include <time.h>

#include "handlers/handlers.h"
#include "protocol/vin.h"

/* The current calendar year, UTC. */
static int current_year(void) {
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm))
        return 1970;
    return tm.tm_year + 1900;
}

/* 200 {"vin": {vin, valid, checkDigitValid, wmi, manufacturer, region,
 * modelYear}}; 422 invalid naming vinId when it is not a VIN's 17
 * characters (or its percent-encoding is broken). */
void vin_get(http_request *req) {
    size_t n;
    const char *s = http_param(req, 0, &n);
    struct vin_info v;
    if (!s || vin_decode(s, n, current_year(), &v) < 0) {
        handler_invalid(req, 422, "invalid", "vinId",
                        "must be 17 characters of A-H, J-N, P, R-Z and 0-9");
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "vin");
    json_w_obj_open(&r.w);
    json_w_key(&r.w, "vin");
    json_w_str(&r.w, s, n);
    json_w_key(&r.w, "valid");
    json_w_bool(&r.w, v.valid);
    json_w_key(&r.w, "checkDigitValid");
    json_w_bool(&r.w, v.check_digit_valid);
    json_w_key(&r.w, "wmi");
    json_w_cstr(&r.w, v.wmi);
    json_w_key(&r.w, "manufacturer");
    json_w_cstr(&r.w, v.manufacturer);
    json_w_key(&r.w, "region");
    json_w_cstr(&r.w, v.region);
    json_w_key(&r.w, "modelYear");
    if (v.model_year)
        json_w_int(&r.w, v.model_year);
    else
        json_w_null(&r.w);
    json_w_obj_close(&r.w);
    json_resp_send(req, &r, 200);
}
