"""GET /vin/:vinId (API.md §5): the offline VIN decoder, through the real
binary.  No account, no store.

The expected check digits and years are known answers (published VINs) or
come from the small reference below, written apart from the C decoder."""

import time

from accounts_util import expect, expect_invalid
from harness import RawConn, assert_error

KEYS = {"vin", "valid", "checkDigitValid", "wmi", "manufacturer", "region", "modelYear"}

# 49 CFR 565 transliteration and weights; position 10's 30-year cycle from 1980.
VALUES = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ0123456789",
                  [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9,
                   0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def check_digit(vin):
    r = sum(VALUES[c] * w for c, w in zip(vin, WEIGHTS)) % 11
    return "X" if r == 10 else str(r)


def with_check_digit(vin):
    """vin with position 9 (whatever holds it; it weighs 0) set right."""
    vin = vin[:8] + "0" + vin[9:]
    return vin[:8] + check_digit(vin) + vin[9:]


def this_year():
    return time.gmtime().tm_year


def get_vin(srv, vin, **kw):
    return srv.get(f"/vin/{vin}", **kw)


def decode(srv, vin):
    body = expect(get_vin(srv, vin), 200)
    assert set(body) == {"vin"}, body
    v = body["vin"]
    assert set(v) == KEYS, v
    assert isinstance(v["vin"], str) and isinstance(v["wmi"], str), v
    assert isinstance(v["valid"], bool) and isinstance(v["checkDigitValid"], bool), v
    for k in ("manufacturer", "region"):
        assert v[k] is None or (isinstance(v[k], str) and v[k]), v
    assert v["modelYear"] is None or (type(v["modelYear"]) is int), v
    return v


def test_known_vins(shared_onair):
    # a 2003 Honda Accord, the published example
    assert decode(shared_onair, "1HGCM82633A004352") == {
        "vin": "1HGCM82633A004352", "valid": True, "checkDigitValid": True, "wmi": "1HG",
        "manufacturer": "Honda", "region": "North America", "modelYear": 2003}
    # the all-ones VIN has a right check digit; 111 is nobody's WMI
    assert decode(shared_onair, "11111111111111111") == {
        "vin": "11111111111111111", "valid": True, "checkDigitValid": True, "wmi": "111",
        "manufacturer": None, "region": "North America", "modelYear": 2001}
    # Wikipedia's worked example: remainder 10 is written X
    v = decode(shared_onair, "1M8GDM9AXKP042788")
    assert v["checkDigitValid"] is True and v["valid"] is True, v
    assert v["manufacturer"] is None and v["wmi"] == "1M8", v
    # a 2007 Accord built in Japan
    v = decode(shared_onair, "JHMCM56557C404453")
    assert (v["manufacturer"], v["region"], v["modelYear"], v["valid"]) == \
        ("Honda", "Asia", 2007, True), v


def test_manufacturers_and_regions(shared_onair):
    cases = [
        ("WBA3A5C5_CF256651", "BMW", "Europe"),
        ("WDDGF8AB_DR000001", "Mercedes-Benz", "Europe"),
        ("SALVA2BG_DH000001", "Land Rover", "Europe"),
        ("KMHDH4AE_DU000000", "Hyundai", "Asia"),
        ("KNDJP3A5_H7000000", "Kia", "Asia"),
        ("1FTFW1ET_DFC10312", "Ford", "North America"),
        ("3VWDX7AJ_BM000000", "Volkswagen", "North America"),
        ("5YJSA1DN_CFP01303", "Tesla", "North America"),
        ("6T153BK0_40000000", "Toyota", "Oceania"),
        ("9BWAA05W_CP000000", "Volkswagen", "South America"),
        ("AHTFZ29G_A9000000", "Toyota", "Africa"),
    ]
    for pattern, maker, region in cases:
        vin = with_check_digit(pattern)
        v = decode(shared_onair, vin)
        assert v["vin"] == vin and v["wmi"] == vin[:3], v
        assert (v["manufacturer"], v["region"]) == (maker, region), v
        assert v["checkDigitValid"] is True and v["valid"] is True, v


def test_wrong_check_digit(shared_onair):
    v = decode(shared_onair, "1HGCM82643A004352")  # 4 where 3 belongs
    assert v["checkDigitValid"] is False and v["valid"] is False, v
    assert (v["manufacturer"], v["modelYear"]) == ("Honda", 2003), v
    # a European VIN with 'Z' filler in place of a check digit
    v = decode(shared_onair, "WVWZZZ1JZ3W386752")
    assert v["checkDigitValid"] is False and v["valid"] is False, v
    assert (v["manufacturer"], v["region"], v["modelYear"]) == ("Volkswagen", "Europe", 2003), v


def test_position_10_not_a_year(shared_onair):
    for code in "0UZ":
        vin = with_check_digit(f"ZFA31200_{code}0000000")
        v = decode(shared_onair, vin)
        assert v["checkDigitValid"] is True, v
        assert v["modelYear"] is None and v["valid"] is False, v


def test_model_year_edge(shared_onair):
    """Next year's models are on sale; the year after is not yet: its code
    stands for the year 30 years earlier."""
    y = this_year()
    for year, want in ((y + 1, y + 1), (y + 2, y + 2 - 30), (y, y)):
        code = YEAR_CODES[(year - 1980) % 30]
        vin = with_check_digit(f"1HGCM826_{code}A004352")
        v = decode(shared_onair, vin)
        assert v["modelYear"] == want, (code, v)


def test_malformed_is_422(shared_onair):
    for bad in ["1HGCM82633A00435",            # 16
                "1HGCM82633A0043521",          # 18
                "1",
                "1HGCM82633A0O4352",           # O
                "1HGCM82633A0I4352",           # I
                "1HGCM82633A0Q4352",           # Q
                "1hgcm82633a004352",           # lowercase
                "1HGCM82633a004352",
                "1HGCM82633A00435-",
                "1HGCM82633A00435%20",         # space
                "%201HGCM82633A00435",
                "1HGCM82633A00435%C3%A9",      # é
                "1HGCM82633A0043%2F2",         # an encoded slash
                "1HGCM82633A00435%00",         # NUL
                "1HGCM82633A00435%",           # broken escapes
                "1HGCM82633A00435%zz",
                "1HGCM82633A00435%4",
                "1HGCM82633A004352" * 20]:
        r = get_vin(shared_onair, bad)
        v = expect_invalid(r, "vinId")
        assert "vin" not in v, (bad, v)


def test_raw_junk_targets(shared_onair):
    with RawConn(shared_onair.port) as c:
        for target in ["/vin/%ff%fe%fd%fc%fb%fa%f9%f8%f7%f6%f5%f4%f3%f2%f1%f0%ef",
                       "/vin/..%2F..%2F..%2Fetc%2Fpasswd",
                       "/vin/1HGCM82633A00435%2",
                       "/vin/'%20OR%201=1--%20%20%20%20",
                       "/vin/%3Cscript%3E%3C%2Fscript%3E1234"]:
            r = c.request("GET", target)
            assert_error(r, 422, "invalid")
        # the connection is still good
        assert c.request("GET", "/vin/1HGCM82633A004352").status == 200


def test_percent_encoded_vin_decodes(shared_onair):
    v = decode(shared_onair, "%31HGCM82633%41004352")
    assert v["vin"] == "1HGCM82633A004352" and v["valid"] is True, v


def test_path_forms(shared_onair):
    assert decode(shared_onair, "1HGCM82633A004352/")["vin"] == "1HGCM82633A004352"
    assert decode(shared_onair, "1HGCM82633A004352?x=1")["vin"] == "1HGCM82633A004352"
    assert_error(shared_onair.get("/vin"), 404, "not-found")
    assert_error(shared_onair.get("/vin/1HGCM82633A004352/x"), 404, "not-found")
    r = shared_onair.post("/vin/1HGCM82633A004352", body=b"")
    assert_error(r, 405, "method-not-allowed")
    assert r.header("Allow") == "GET, HEAD, OPTIONS", r


def test_no_auth_needed(shared_onair):
    want = decode(shared_onair, "1HGCM82633A004352")
    for auth in ("Bearer not-a-token", "JWT x.y.z", "Basic Zm9vOmJhcg=="):
        r = get_vin(shared_onair, "1HGCM82633A004352", headers={"Authorization": auth})
        assert expect(r, 200) == {"vin": want}, r


def test_needs_no_redis(onair, redis_server):
    redis_server.stop()
    r = get_vin(onair, "1HGCM82633A004352")
    assert r.elapsed < 1.0, r.elapsed
    assert expect(r, 200)["vin"]["valid"] is True, r
    expect_invalid(get_vin(onair, "1HGCM82633A00435"), "vinId")
