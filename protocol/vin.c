/* VIN decoding: alphabet, check digit, WMI table, region and model year.
 * See vin.h for what each field promises. */
#include "protocol/vin.h"

#include <stdlib.h>
#include <string.h>

/* The 49 CFR 565.15 transliteration of a VIN character (its value in the
 * check-digit sum), or -1 for a character a VIN may not hold (I, O, Q,
 * lowercase, anything else). */
static int vin_value(unsigned char c) {
    /* A..Z; I, O and Q are -1 (too like 1, 0 and 9) */
    static const signed char letters[26] = {1, 2,  3, 4,  5, 6, 7, 8, -1, 1, 2, 3, 4,
                                            5, -1, 7, -1, 9, 2, 3, 4, 5,  6, 7, 8, 9};
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return letters[c - 'A'];
    return -1;
}

/* Position weights; position 9 (the check digit itself) weighs 0. */
static const int weights[VIN_LEN] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};

/* Position-10 codes in the order of the 30-year cycle: 1980..2009, then
 * again from 2010.  I, O, Q (not VIN characters), U, Z and 0 are not used. */
static const char year_codes[] = "ABCDEFGHJKLMNPRSTVWXY123456789";
#define YEAR_CYCLE 30
#define YEAR_FIRST 1980

/* The most recent year `code` stands for that is not after current_year + 1;
 * the cycle's first year when even that is later; 0 for a non-year code. */
static int model_year(char code, int current_year) {
    const char *p = code ? strchr(year_codes, code) : NULL;
    if (!p)
        return 0;
    int year = YEAR_FIRST + (int)(p - year_codes), latest = current_year + 1;
    if (year < latest)
        year += (latest - year) / YEAR_CYCLE * YEAR_CYCLE;
    return year;
}

/* The continent of the manufacturer, from the allocation of the first
 * character (ISO 3780; SAE International keeps the register):
 *   A-H Africa, J-R Asia, S-Z Europe, 1-5 North America, 6-7 Oceania,
 *   8-9 South America, 0 not assigned;
 * with the two later allocations that cross those lines: H went to China
 * (Asia) and 7F-70 to the United States (North America), 7A-7E staying New
 * Zealand's.  The second character runs A-Z (no I, O, Q), then 1-9, then 0. */
static const char *region_of(char c1, char c2) {
    if (c1 >= 'A' && c1 <= 'G')
        return "Africa";
    if (c1 >= 'H' && c1 <= 'R')
        return "Asia";
    if (c1 >= 'S' && c1 <= 'Z')
        return "Europe";
    if (c1 >= '1' && c1 <= '5')
        return "North America";
    if (c1 == '6')
        return "Oceania";
    if (c1 == '7')
        return c2 >= 'A' && c2 <= 'E' ? "Oceania" : "North America";
    if (c1 == '8' || c1 == '9')
        return "South America";
    return NULL;
}

/* World manufacturer identifiers, sorted by code (bytewise, for bsearch; a
 * unit test checks the order).  A '9' in third place marks a maker of fewer
 * than 1,000 vehicles a year, whose identifier goes on in positions 12-14;
 * none of those is listed. */
static const struct wmi {
    char code[4];
    const char *manufacturer;
} wmis[] = {
    /* North America: 1, 4, 5 United States; 2 Canada; 3 Mexico */
    {"19U", "Acura"},
    {"19X", "Honda"},
    {"1C3", "Chrysler"},
    {"1C4", "Chrysler"},
    {"1C6", "Ram"},
    {"1D7", "Dodge"},
    {"1FA", "Ford"},
    {"1FD", "Ford"},
    {"1FM", "Ford"},
    {"1FT", "Ford"},
    {"1FU", "Freightliner"},
    {"1G1", "Chevrolet"},
    {"1G2", "Pontiac"},
    {"1G4", "Buick"},
    {"1G6", "Cadillac"},
    {"1GC", "Chevrolet"},
    {"1GK", "GMC"},
    {"1GN", "Chevrolet"},
    {"1GT", "GMC"},
    {"1GY", "Cadillac"},
    {"1HD", "Harley-Davidson"},
    {"1HG", "Honda"},
    {"1J4", "Jeep"},
    {"1J8", "Jeep"},
    {"1LN", "Lincoln"},
    {"1ME", "Mercury"},
    {"1N4", "Nissan"},
    {"1N6", "Nissan"},
    {"1VW", "Volkswagen"},
    {"1YV", "Mazda"},
    {"2C3", "Chrysler"},
    {"2C4", "Chrysler"},
    {"2FA", "Ford"},
    {"2FM", "Ford"},
    {"2FT", "Ford"},
    {"2G1", "Chevrolet"},
    {"2HG", "Honda"},
    {"2HK", "Honda"},
    {"2T1", "Toyota"},
    {"2T2", "Lexus"},
    {"2T3", "Toyota"},
    {"3FA", "Ford"},
    {"3MZ", "Mazda"},
    {"3N1", "Nissan"},
    {"3VW", "Volkswagen"},
    {"4JG", "Mercedes-Benz"},
    {"4S3", "Subaru"},
    {"4S4", "Subaru"},
    {"4T1", "Toyota"},
    {"4T3", "Toyota"},
    {"4US", "BMW"},
    {"5FN", "Honda"},
    {"5J6", "Honda"},
    {"5J8", "Acura"},
    {"5NM", "Hyundai"},
    {"5NP", "Hyundai"},
    {"5TD", "Toyota"},
    {"5TF", "Toyota"},
    {"5UX", "BMW"},
    {"5XY", "Kia"},
    {"5YF", "Toyota"},
    {"5YJ", "Tesla"},
    /* Oceania: 6 Australia; 7A-7E New Zealand (7F-70: United States) */
    {"6FP", "Ford"},
    {"6G1", "Holden"},
    {"6MM", "Mitsubishi"},
    {"6T1", "Toyota"},
    /* United States (SAE allocated 7F-70 when 1, 4 and 5 ran out) */
    {"7FC", "Rivian"},
    {"7G2", "Tesla"},
    {"7PD", "Rivian"},
    {"7SA", "Tesla"},
    /* South America: 8 Argentina, Chile, ...; 9 Brazil, Colombia, ... */
    {"8AF", "Ford"},
    {"8AJ", "Toyota"},
    {"8AP", "Fiat"},
    {"8AW", "Volkswagen"},
    {"93H", "Honda"},
    {"93Y", "Renault"},
    {"9BD", "Fiat"},
    {"9BF", "Ford"},
    {"9BG", "Chevrolet"},
    {"9BR", "Toyota"},
    {"9BW", "Volkswagen"},
    /* Africa: A South Africa, ... */
    {"AAV", "Volkswagen"},
    {"ADM", "General Motors"},
    {"AFA", "Ford"},
    {"AHT", "Toyota"},
    /* China (SAE's newer allocation) */
    {"HES", "smart"},
    /* Asia: J Japan; K Korea; L China; M India, Thailand; N Turkey */
    {"JA3", "Mitsubishi"},
    {"JA4", "Mitsubishi"},
    {"JF1", "Subaru"},
    {"JF2", "Subaru"},
    {"JH4", "Acura"},
    {"JHL", "Honda"},
    {"JHM", "Honda"},
    {"JKA", "Kawasaki"},
    {"JM1", "Mazda"},
    {"JM3", "Mazda"},
    {"JN1", "Nissan"},
    {"JN8", "Nissan"},
    {"JS1", "Suzuki"},
    {"JS2", "Suzuki"},
    {"JT2", "Toyota"},
    {"JTD", "Toyota"},
    {"JTE", "Toyota"},
    {"JTH", "Lexus"},
    {"JTJ", "Lexus"},
    {"JTM", "Toyota"},
    {"JTN", "Toyota"},
    {"JYA", "Yamaha"},
    {"KL1", "GM Korea"},
    {"KM8", "Hyundai"},
    {"KMH", "Hyundai"},
    {"KNA", "Kia"},
    {"KND", "Kia"},
    {"KNM", "Renault Samsung"},
    {"KPT", "SsangYong"},
    {"LFV", "FAW-Volkswagen"},
    {"LGX", "BYD"},
    {"LRW", "Tesla"},
    {"LSG", "SAIC-GM"},
    {"LSV", "SAIC Volkswagen"},
    {"LVS", "Changan Ford"},
    {"MA1", "Mahindra"},
    {"MA3", "Maruti Suzuki"},
    {"MAL", "Hyundai"},
    {"MAT", "Tata"},
    {"MR0", "Toyota"},
    {"NM0", "Ford"},
    {"NMT", "Toyota"},
    /* Europe: S UK; T Czechia, Hungary; U Romania; V France, Spain; W Germany;
     * X Bulgaria..Russia; Y Sweden, Finland; Z Italy */
    {"SAJ", "Jaguar"},
    {"SAL", "Land Rover"},
    {"SAR", "Rover"},
    {"SB1", "Toyota"},
    {"SCA", "Rolls-Royce"},
    {"SCB", "Bentley"},
    {"SCC", "Lotus"},
    {"SCF", "Aston Martin"},
    {"SFZ", "Tesla"},
    {"SHH", "Honda"},
    {"SHS", "Honda"},
    {"SJN", "Nissan"},
    {"TMA", "Hyundai"},
    {"TMB", "Škoda"},
    {"TRU", "Audi"},
    {"TSM", "Suzuki"},
    {"UU1", "Dacia"},
    {"VF1", "Renault"},
    {"VF3", "Peugeot"},
    {"VF7", "Citroën"},
    {"VNK", "Toyota"},
    {"VR3", "Peugeot"},
    {"VSK", "Nissan"},
    {"VSS", "SEAT"},
    {"W0L", "Opel"},
    {"W0V", "Opel"},
    {"W1K", "Mercedes-Benz"},
    {"W1N", "Mercedes-Benz"},
    {"WA1", "Audi"},
    {"WAU", "Audi"},
    {"WBA", "BMW"},
    {"WBS", "BMW M"},
    {"WBX", "BMW"},
    {"WBY", "BMW"},
    {"WDB", "Mercedes-Benz"},
    {"WDC", "Mercedes-Benz"},
    {"WDD", "Mercedes-Benz"},
    {"WF0", "Ford"},
    {"WME", "smart"},
    {"WMW", "MINI"},
    {"WP0", "Porsche"},
    {"WP1", "Porsche"},
    {"WV1", "Volkswagen Commercial Vehicles"},
    {"WV2", "Volkswagen Commercial Vehicles"},
    {"WVG", "Volkswagen"},
    {"WVW", "Volkswagen"},
    {"XP7", "Tesla"},
    {"XTA", "Lada"},
    {"YS2", "Scania"},
    {"YS3", "Saab"},
    {"YV1", "Volvo"},
    {"YV4", "Volvo"},
    {"ZAM", "Maserati"},
    {"ZAR", "Alfa Romeo"},
    {"ZDM", "Ducati"},
    {"ZFA", "Fiat"},
    {"ZFF", "Ferrari"},
    {"ZHW", "Lamborghini"},
    {"ZLA", "Lancia"},
};
#define NWMIS (sizeof wmis / sizeof wmis[0])

static int wmi_cmp(const void *key, const void *entry) {
    return memcmp(key, ((const struct wmi *)entry)->code, 3);
}

size_t vin_wmi_count(void) {
    return NWMIS;
}

const char *vin_wmi_code(size_t i) {
    return i < NWMIS ? wmis[i].code : NULL;
}

int vin_decode(const char *s, size_t n, int current_year, struct vin_info *out) {
    if (n != VIN_LEN)
        return -1;
    int sum = 0;
    for (size_t i = 0; i < VIN_LEN; i++) {
        int v = vin_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        sum += v * weights[i];
    }
    int rem = sum % 11;
    memcpy(out->wmi, s, 3);
    out->wmi[3] = '\0';
    out->check_digit_valid = s[8] == (rem == 10 ? 'X' : '0' + rem);
    const struct wmi *w = bsearch(s, wmis, NWMIS, sizeof wmis[0], wmi_cmp);
    out->manufacturer = w ? w->manufacturer : NULL;
    out->region = region_of(s[0], s[1]);
    out->model_year = model_year(s[9], current_year);
    out->valid = out->check_digit_valid && out->model_year != 0;
    return 0;
}
