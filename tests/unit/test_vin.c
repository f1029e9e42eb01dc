/* Unit tests for protocol/vin.c.  The check digits and model years below were
 * worked out apart from the code under test (with a separate Python
 * implementation of 49 CFR 565, and by hand for the year cycle); some VINs
 * are quoted in public examples (1HGCM82633A004352, Wikipedia's
 * 1M8GDM9AXKP042788), the others were made for the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/vin.h"

#define YEAR 2026 /* the current year the vectors assume */

struct vec {
    const char *vin;
    bool check_ok, valid;
    const char *manufacturer, *region;
    int year;
};

static const struct vec vectors[] = {
    /* A 2003 Honda Accord, the all-ones VIN, Wikipedia's worked example
     * (check digit X; 'K' is 1989 or 2019, the rule takes the later), a 2007
     * Accord, a 2012 Model S. */
    {"1HGCM82633A004352", true, true, "Honda", "North America", 2003},
    {"11111111111111111", true, true, NULL, "North America", 2001},
    {"1M8GDM9AXKP042788", true, true, NULL, "North America", 2019},
    {"JHMCM56557C404453", true, true, "Honda", "Asia", 2007},
    {"5YJSA1DN5CFP01303", true, true, "Tesla", "North America", 2012},
    /* A European VW: 'Z' filler where the check digit would be. */
    {"WVWZZZ1JZ3W386752", false, false, "Volkswagen", "Europe", 2003},
    /* Check digit 7, and the same VIN with a wrong one. */
    {"WBA3A5C57CF256651", true, true, "BMW", "Europe", 2012},
    {"WBA3A5C51CF256651", false, false, "BMW", "Europe", 2012},
    {"SALVA2BGXDH000001", true, true, "Land Rover", "Europe", 2013},
    {"WDDGF8AB7DR000001", true, true, "Mercedes-Benz", "Europe", 2013},
    {"WAUZZZ8V4KA000000", true, true, "Audi", "Europe", 2019},
    {"WP0AA2A76BL000000", true, true, "Porsche", "Europe", 2011},
    {"ZFF67NFA1A0000000", true, true, "Ferrari", "Europe", 2010},
    {"VF1RFA004A0000000", true, true, "Renault", "Europe", 2010},
    {"YV1MS382662000000", true, true, "Volvo", "Europe", 2006},
    {"SHHFK7H58HU000000", true, true, "Honda", "Europe", 2017},
    {"KNDJP3A50H7000000", true, true, "Kia", "Asia", 2017},
    {"KMHDH4AE1DU000000", true, true, "Hyundai", "Asia", 2013},
    {"HESCA2C48PS000000", true, true, "smart", "Asia", 2023},
    {"1FTFW1ET9DFC10312", true, true, "Ford", "North America", 2013},
    {"1GCNKPEC0EZ000000", true, true, "Chevrolet", "North America", 2014},
    {"1C4RJFBG8FC000000", true, true, "Chrysler", "North America", 2015},
    {"2T1BURHE8JC000000", true, true, "Toyota", "North America", 2018},
    {"3VWDX7AJ6BM000000", true, true, "Volkswagen", "North America", 2011},
    {"4T1BF1FK0CU000000", true, true, "Toyota", "North America", 2012},
    {"5NPE24AF1FH000000", true, true, "Hyundai", "North America", 2015},
    {"7SAYGDEE1NF000000", true, true, "Tesla", "North America", 2022},
    {"6T153BK0440000000", true, true, "Toyota", "Oceania", 2004},
    {"9BWAA05W9CP000000", true, true, "Volkswagen", "South America", 2012},
    {"AHTFZ29G4A9000000", true, true, "Toyota", "Africa", 2010},
    /* Position 10 not a year code: right check digit, still not valid. */
    {"ZFA31200200000000", true, false, "Fiat", "Europe", 0},
    {"ZFA312005U0000000", true, false, "Fiat", "Europe", 0},
    {"ZFA312006Z0000000", true, false, "Fiat", "Europe", 0},
    /* 7A-7E is New Zealand's; '0' leads no allocation. */
    {"7AT00000400000000", true, false, NULL, "Oceania", 0},
    {"0AB00000800000000", true, false, NULL, NULL, 0},
};

static void expect_str(const char *what, const char *vin, const char *got, const char *want) {
    if (want == NULL ? got != NULL : got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: %s is %s, want %s", vin, what, got ? got : "NULL", want ? want : "NULL");
}

static void test_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
        const struct vec *v = &vectors[i];
        struct vin_info info;
        if (vin_decode(v->vin, strlen(v->vin), YEAR, &info) != 0)
            fail_msg("%s: malformed", v->vin);
        if (info.check_digit_valid != v->check_ok || info.valid != v->valid)
            fail_msg("%s: checkDigitValid %d valid %d", v->vin, info.check_digit_valid, info.valid);
        assert_memory_equal(info.wmi, v->vin, 3);
        assert_int_equal(info.wmi[3], '\0');
        expect_str("manufacturer", v->vin, info.manufacturer, v->manufacturer);
        expect_str("region", v->vin, info.region, v->region);
        if (info.model_year != v->year)
            fail_msg("%s: model year %d, want %d", v->vin, info.model_year, v->year);
    }
}

/* Exactly one of the eleven check characters is right, and the remainder 10
 * is written X. */
static void test_check_digit_unique(void **state) {
    (void)state;
    const char *bases[] = {"1HGCM82633A004352", "1M8GDM9AXKP042788", "WBA3A5C57CF256651"};
    const char checks[] = "0123456789X";
    for (size_t b = 0; b < 3; b++) {
        char vin[VIN_LEN + 1];
        memcpy(vin, bases[b], sizeof vin);
        int right = 0;
        for (size_t k = 0; k < 11; k++) {
            vin[8] = checks[k];
            struct vin_info info;
            assert_int_equal(vin_decode(vin, VIN_LEN, YEAR, &info), 0);
            if (info.check_digit_valid) {
                right++;
                assert_int_equal(vin[8], bases[b][8]);
            }
        }
        assert_int_equal(right, 1);
    }
}

/* A single character changed to one of another transliterated value, at any
 * position but the check digit's, is caught (11 is prime and no weight is a
 * multiple of it). */
static void test_check_digit_catches_one_change(void **state) {
    (void)state;
    static const char base[] = "1HGCM82633A004352";
    for (size_t pos = 0; pos < VIN_LEN; pos++) {
        if (pos == 8)
            continue;
        char vin[VIN_LEN + 1];
        memcpy(vin, base, sizeof vin);
        /* '2' <-> '5' differ in value (2 vs 5); neither is in base at pos. */
        vin[pos] = base[pos] == '2' ? '5' : '2';
        struct vin_info info;
        assert_int_equal(vin_decode(vin, VIN_LEN, YEAR, &info), 0);
        if (info.check_digit_valid)
            fail_msg("change at position %zu not caught: %s", pos + 1, vin);
    }
    /* A and J both weigh 1: swapping them is invisible to the check digit. */
    struct vin_info info;
    assert_int_equal(vin_decode("1HGCM82633J004352", VIN_LEN, YEAR, &info), 0);
    assert_true(info.check_digit_valid);
}

static void expect_malformed(const char *s, size_t n) {
    struct vin_info info;
    memset(&info, 0x5a, sizeof info);
    if (vin_decode(s, n, YEAR, &info) != -1)
        fail_msg("accepted '%.*s' (%zu bytes)", (int)n, s, n);
    const unsigned char *p = (const unsigned char *)&info;
    for (size_t i = 0; i < sizeof info; i++)
        assert_int_equal(p[i], 0x5a); /* *out untouched */
}

static void test_forbidden_letters(void **state) {
    (void)state;
    static const char base[] = "1HGCM82633A004352";
    const char bad[] = {'I', 'O', 'Q'};
    for (size_t k = 0; k < 3; k++) {
        for (size_t pos = 0; pos < VIN_LEN; pos++) {
            char vin[VIN_LEN + 1];
            memcpy(vin, base, sizeof vin);
            vin[pos] = bad[k];
            expect_malformed(vin, VIN_LEN);
        }
    }
}

/* Every byte value in every position: exactly A-H, J-N, P, R-Z, 0-9 pass. */
static void test_alphabet(void **state) {
    (void)state;
    static const char allowed[] = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
    static const char base[] = "1HGCM82633A004352";
    for (int c = 0; c < 256; c++) {
        bool ok = c != 0 && strchr(allowed, c) != NULL;
        for (size_t pos = 0; pos < VIN_LEN; pos++) {
            char vin[VIN_LEN];
            memcpy(vin, base, VIN_LEN);
            vin[pos] = (char)c;
            struct vin_info info;
            int r = vin_decode(vin, VIN_LEN, YEAR, &info);
            if (r != (ok ? 0 : -1))
                fail_msg("byte 0x%02x at position %zu: %d", c, pos + 1, r);
        }
    }
}

static void test_malformed(void **state) {
    (void)state;
    expect_malformed("", 0);
    expect_malformed("1HGCM82633A00435", 16);
    expect_malformed("1HGCM82633A0043521", 18);
    expect_malformed("1HGCM82633A004352", 16); /* n, not the NUL, is the length */
    expect_malformed("1hgcm82633a004352", 17); /* lowercase */
    expect_malformed("1HGCM82633a004352", 17);
    expect_malformed("1HGCM82633A00435\0", 17);
    expect_malformed(" 1HGCM82633A00435", 17);
    expect_malformed("1HGCM82633A-04352", 17);
    expect_malformed("1HGCM82633A004352 ", 18);
}

/* The code of position 10 stands for a year every 30 years; the decoder
 * takes the latest that is not after next year. */
static int year_of(char code, int current_year) {
    char vin[VIN_LEN + 1] = "1HGCM82633A004352";
    vin[9] = code;
    struct vin_info info;
    assert_int_equal(vin_decode(vin, VIN_LEN, current_year, &info), 0);
    return info.model_year;
}

static void test_model_year_cycle(void **state) {
    (void)state;
    /* V is 1997 or 2027: 2027 is after 2025 + 1, so 1997; in 2026 it is
     * next year's model, 2027. */
    assert_int_equal(year_of('V', 2025), 1997);
    assert_int_equal(year_of('V', 2026), 2027);
    /* T is 1996 or 2026: next year's model is allowed. */
    assert_int_equal(year_of('T', 2025), 2026);
    assert_int_equal(year_of('T', 2024), 1996);
    assert_int_equal(year_of('A', 2008), 1980);
    assert_int_equal(year_of('A', 2009), 2010);
    assert_int_equal(year_of('A', 2040), 2040);
    assert_int_equal(year_of('Y', 2031), 2030);
    assert_int_equal(year_of('1', 2026), 2001);
    assert_int_equal(year_of('9', 2026), 2009);
    assert_int_equal(year_of('9', 2038), 2039);
    /* Before the first candidate: the cycle's first year. */
    assert_int_equal(year_of('Y', 1985), 2000);
    /* Every code, in cycle order, in 2026 (limit 2027). */
    static const char codes[] = "ABCDEFGHJKLMNPRSTVWXY123456789";
    static const int years[30] = {2010, 2011, 2012, 2013, 2014, 2015, 2016, 2017, 2018, 2019,
                                  2020, 2021, 2022, 2023, 2024, 2025, 2026, 2027, 1998, 1999,
                                  2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009};
    for (size_t i = 0; i < 30; i++)
        assert_int_equal(year_of(codes[i], 2026), years[i]);
    /* Not year codes. */
    assert_int_equal(year_of('0', 2026), 0);
    assert_int_equal(year_of('U', 2026), 0);
    assert_int_equal(year_of('Z', 2026), 0);
}

static const char *manufacturer_of(const char *wmi) {
    char vin[VIN_LEN + 1] = "00000000000000000";
    memcpy(vin, wmi, 3);
    struct vin_info info;
    if (vin_decode(vin, VIN_LEN, YEAR, &info) != 0)
        fail_msg("%s: malformed", vin);
    return info.manufacturer;
}

/* The table is sorted (bsearch needs it), holds no duplicate, covers at least
 * 60 identifiers, and each one decodes to a manufacturer. */
static void test_wmi_table(void **state) {
    (void)state;
    size_t n = vin_wmi_count();
    assert_true(n >= 60);
    assert_null(vin_wmi_code(n));
    for (size_t i = 0; i < n; i++) {
        const char *code = vin_wmi_code(i);
        assert_non_null(code);
        assert_int_equal(strlen(code), 3);
        if (i > 0 && strcmp(vin_wmi_code(i - 1), code) >= 0)
            fail_msg("table out of order at %zu: %s then %s", i, vin_wmi_code(i - 1), code);
        if (manufacturer_of(code) == NULL)
            fail_msg("%s decodes to no manufacturer", code);
    }
}

static void test_wmi_names(void **state) {
    (void)state;
    static const char *const want[][2] = {
        {"1HG", "Honda"},         {"1FA", "Ford"},       {"1FT", "Ford"},
        {"1FM", "Ford"},          {"1G1", "Chevrolet"},  {"1GC", "Chevrolet"},
        {"1GN", "Chevrolet"},     {"2T1", "Toyota"},     {"3VW", "Volkswagen"},
        {"4T1", "Toyota"},        {"5YJ", "Tesla"},      {"JHM", "Honda"},
        {"JTD", "Toyota"},        {"KMH", "Hyundai"},    {"KNA", "Kia"},
        {"SAL", "Land Rover"},    {"WBA", "BMW"},        {"WDB", "Mercedes-Benz"},
        {"WDD", "Mercedes-Benz"}, {"WVW", "Volkswagen"}, {"WAU", "Audi"},
        {"YV1", "Volvo"},         {"ZFA", "Fiat"},       {"VF1", "Renault"},
        {"JTH", "Lexus"},         {"1J4", "Jeep"},       {"TMB", "Škoda"},
        {"VF7", "Citroën"},       {"SCC", "Lotus"},      {"LRW", "Tesla"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        expect_str("manufacturer", want[i][0], manufacturer_of(want[i][0]), want[i][1]);
    /* Neighbours of listed codes are not guessed. */
    assert_null(manufacturer_of("1HH"));
    assert_null(manufacturer_of("WBB"));
    assert_null(manufacturer_of("000"));
    assert_null(manufacturer_of("ZZZ"));
}

/* The first character's continent, at both ends of each range, and 7's
 * split between New Zealand and the United States. */
static void test_regions(void **state) {
    (void)state;
    static const char *const want[][2] = {
        {"AA", "Africa"},        {"GZ", "Africa"},        {"HA", "Asia"},
        {"J0", "Asia"},          {"R1", "Asia"},          {"SA", "Europe"},
        {"Z9", "Europe"},        {"1A", "North America"}, {"50", "North America"},
        {"6A", "Oceania"},       {"60", "Oceania"},       {"7A", "Oceania"},
        {"7E", "Oceania"},       {"7F", "North America"}, {"7Z", "North America"},
        {"71", "North America"}, {"70", "North America"}, {"8A", "South America"},
        {"90", "South America"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char vin[VIN_LEN + 1] = "00000000000000000";
        memcpy(vin, want[i][0], 2);
        struct vin_info info;
        assert_int_equal(vin_decode(vin, VIN_LEN, YEAR, &info), 0);
        expect_str("region", vin, info.region, want[i][1]);
    }
    struct vin_info info;
    assert_int_equal(vin_decode("0A000000000000000", VIN_LEN, YEAR, &info), 0);
    assert_null(info.region);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_check_digit_unique),
        cmocka_unit_test(test_check_digit_catches_one_change),
        cmocka_unit_test(test_forbidden_letters),
        cmocka_unit_test(test_alphabet),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_model_year_cycle),
        cmocka_unit_test(test_wmi_table),
        cmocka_unit_test(test_wmi_names),
        cmocka_unit_test(test_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
