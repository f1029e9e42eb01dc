/* Vehicle identification numbers (ISO 3779, with the North American rules of
 * 49 CFR 565): an offline decoder for GET /vin/:vinId.
 *
 * Pure: no allocation, no clock (the caller passes the year), no I/O.  The
 * strings it hands back are static. */
#ifndef ONAIR_VIN_H
#define ONAIR_VIN_H

#include <stdbool.h>
#include <stddef.h>

#define VIN_LEN 17

struct vin_info {
    char wmi[4];              /* positions 1-3, NUL-terminated */
    bool valid;               /* check digit right and position 10 a year code */
    bool check_digit_valid;   /* position 9 is the weighted sum's remainder */
    const char *manufacturer; /* NULL: the WMI is not in the table */
    const char *region;       /* NULL: the first character is not assigned ('0') */
    int model_year;           /* 0: position 10 is not a year code ('0', 'U', 'Z') */
};

/* Decodes s[0..n).  Returns 0, or -1 (leaving *out alone) when s is
 * malformed: not exactly 17 characters of A-H, J-N, P, R-Z, 0-9.  Lowercase
 * is malformed too: the contract's alphabet is uppercase and a VIN is printed
 * in capitals, so a client upper-cases what a person typed.
 *
 * `valid` is what 49 CFR 565 asks of every VIN (the US rule, the market of
 * the dealers this serves) beyond the alphabet and length: the check digit
 * matches and position 10 is a model-year code.  Many VINs of vehicles built
 * for Europe carry no check digit ('Z' filler) and are genuine but not
 * `valid`; `check_digit_valid` alone says which check failed.
 *
 * The model year is the most recent year that position 10 can stand for and
 * that is not after current_year + 1 (a model year goes on sale the year
 * before); when even the first one (1980..2009) is later, it is that one. */
int vin_decode(const char *s, size_t n, int current_year, struct vin_info *out);

/* The WMI table, for tests: its size, and entry i's code (3 characters, NUL
 * terminated) or NULL when i is past the end. */
size_t vin_wmi_count(void);
const char *vin_wmi_code(size_t i);

#endif
