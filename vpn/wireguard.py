"""WireGuard peers: keys, tunnel addresses, per-application routes and client configs.

Everything here is pure: the service stores the peer (public key, address) in the
database, whose unique constraint on the address is what finally keeps two people from
getting the same one; ``allocate`` is the retry loop around that constraint.

A client config holds the person's private key: hand it out once (download or QR code)
and never log or store it.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import random
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

KEY_BYTES = 32
#: length of a key in base64, as ``wg genkey`` and ``wg pubkey`` print it
KEY_TEXT_LENGTH = 44

#: an endpoint host: a DNS name, an IPv4 address, or an IPv6 address in brackets
_ENDPOINT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r":(?P<port>[0-9]{1,5})"
)
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class PoolExhausted(Exception):
    """Every address of a tunnel address pool is taken."""


class AllocationFailed(Exception):
    """No address could be stored within the allowed attempts (heavy contention)."""


# --- keys -----------------------------------------------------------------------------


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _decode_key(key: str, what: str) -> bytes:
    """The 32 raw bytes of a base64 WireGuard key; anything else is a ``ValueError``."""
    if not isinstance(key, str) or len(key) != KEY_TEXT_LENGTH:
        raise ValueError(f"{what} is not a WireGuard key (44 base64 characters).")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not a WireGuard key (44 base64 characters).") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{what} is not a WireGuard key (44 base64 characters).")
    return raw


def is_key(key: str) -> bool:
    """True if ``key`` is a well-formed WireGuard key (32 bytes, standard base64)."""
    try:
        _decode_key(key, "key")
    except ValueError:
        return False
    return True


def public_key(private_key: str) -> str:
    """The public key for a base64 private key, as ``wg pubkey`` prints it."""
    key = X25519PrivateKey.from_private_bytes(_decode_key(private_key, "The private key"))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _encode(raw)


def generate_keypair() -> tuple[str, str]:
    """A new (private, public) X25519 key pair in base64, like ``wg genkey | wg pubkey``.

    The private key is clamped exactly as ``wg genkey`` does, so the text looks the same
    as one made by the WireGuard tools and every implementation reads it alike.
    """
    raw = bytearray(secrets.token_bytes(KEY_BYTES))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    private = _encode(bytes(raw))
    return private, public_key(private)


def generate_preshared_key() -> str:
    """A random preshared key in base64, like ``wg genpsk``."""
    return _encode(secrets.token_bytes(KEY_BYTES))


# --- addresses ------------------------------------------------------------------------


def _address(text: str) -> IPAddress:
    """An address from ``10.66.0.7`` or ``10.66.0.7/32``; ``ValueError`` otherwise."""
    return ipaddress.ip_interface(text.strip()).ip


class AddressPool:
    """The tunnel addresses of a WireGuard network, handed out lowest first.

    The first ``reserved`` host addresses stay for the gateway (``10.66.0.1`` in
    ``10.66.0.0/24``); the network and broadcast addresses are never handed out.
    """

    def __init__(self, network: str, reserved: int = 1) -> None:
        self.network: IPNetwork = ipaddress.ip_network(network, strict=True)
        if reserved < 0:
            raise ValueError("reserved cannot be negative.")
        self.reserved = reserved
        self.capacity = max(self.network.num_addresses - self._excluded() - reserved, 0)
        if self.capacity == 0:
            raise ValueError(f"{self.network} has no addresses left after {reserved} reserved.")

    def __repr__(self) -> str:
        return f"<AddressPool {self.network} reserved={self.reserved}>"

    def _excluded(self) -> int:
        """How many addresses of the network ``hosts()`` leaves out.

        Network and broadcast address for IPv4, the subnet-router anycast address for
        IPv6, and none in the tiny /31, /32, /127 and /128 networks.
        """
        if self.network.max_prefixlen - self.network.prefixlen < 2:
            return 0
        return 2 if self.network.version == 4 else 1

    def _candidates(self) -> Iterator[IPAddress]:
        return islice(self.network.hosts(), self.reserved, None)

    @property
    def reserved_addresses(self) -> list[str]:
        """The host addresses kept back for the gateway."""
        return [str(a) for a in islice(self.network.hosts(), self.reserved)]

    def contains(self, address: str) -> bool:
        """True if ``address`` is one this pool may hand out (not reserved, not outside).

        Raises ``ValueError`` for text that is not an IP address.
        """
        ip = _address(address)
        if ip.version != self.network.version or ip not in self.network:
            return False
        first = next(self._candidates(), None)
        if first is None or ip < first:
            return False
        is_broadcast = self._excluded() == 2 and ip == self.network.broadcast_address
        return not is_broadcast

    def free(self, used: Iterable[str], limit: int) -> list[str]:
        """The lowest ``limit`` addresses of the pool that are not in ``used``.

        ``used`` may hold addresses with or without a prefix (``10.66.0.7/32``) and
        addresses of other networks (ignored); text that is no address is a ``ValueError``.
        """
        taken = {_address(a) for a in used}
        free = (candidate for candidate in self._candidates() if candidate not in taken)
        return [str(a) for a in islice(free, limit)]

    def next_free(self, used: Iterable[str]) -> str:
        """The lowest address of the pool that is not in ``used``.

        Raises ``PoolExhausted`` when none is left.
        """
        free = self.free(used, limit=1)
        if not free:
            raise PoolExhausted(
                f"The VPN address pool {self.network} is full: all {self.capacity} addresses "
                "are in use. Free addresses by removing ended peers, or configure a larger "
                "network."
            )
        return free[0]


#: after a refused insert, ``allocate`` picks at random among this many lowest free
#: addresses, so parallel requests stop racing for the very same one
RETRY_SPREAD = 32


def allocate(
    pool: AddressPool,
    used: Iterable[str],
    try_insert: Callable[[str], bool],
    attempts: int = 32,
    *,
    reread: Callable[[], Iterable[str]] | None = None,
) -> str:
    """Take a free address by storing it with ``try_insert``; retry on conflict.

    ``used`` is the caller's snapshot of taken addresses. ``try_insert(address)`` stores
    the peer and returns ``False`` when the database's unique constraint refused the
    address because another request took it meanwhile; that address is then counted as
    used and another one tried. ``reread``, if given, returns the addresses taken now
    (a fresh query) and is called after each refusal: under sustained parallel
    issuance, learning one refused address per round falls behind the others.

    The first try is the lowest free address; retries pick at random among the lowest
    free ones, because with lowest-first every parallel request would aim at the same
    address again and only one per round could win. Other errors from ``try_insert``
    pass through. Raises ``PoolExhausted`` when the pool is full and
    ``AllocationFailed`` after ``attempts`` refusals.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1.")
    taken = {str(_address(a)) for a in used}
    for attempt in range(attempts):
        if attempt == 0:
            address = pool.next_free(taken)
        else:
            if reread is not None:
                taken |= {str(_address(a)) for a in reread()}
            candidates = pool.free(taken, limit=RETRY_SPREAD)
            if not candidates:
                pool.next_free(taken)  # raises PoolExhausted with its message
            address = random.choice(candidates)
        if try_insert(address):
            return address
        taken.add(address)
    raise AllocationFailed(
        f"No VPN address in {pool.network} could be stored after {attempts} attempts, "
        "because other requests took each one first. Please try again."
    )


# --- per-application routes -----------------------------------------------------------


@dataclass(frozen=True)
class Application:
    """A specialised application (Fachverfahren) and the networks it is served from.

    ``remote_access=False`` marks an office-only application, such as the resident
    registry, that must never be reachable through the VPN.
    """

    name: str
    networks: tuple[str, ...]
    remote_access: bool

    def __post_init__(self) -> None:
        for network in self.networks:
            ipaddress.ip_network(network, strict=False)


def _collapse(networks: Iterable[IPNetwork]) -> list[IPNetwork]:
    networks = list(networks)
    v4 = [n for n in networks if n.version == 4]
    v6 = [n for n in networks if n.version == 6]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _subtract(network: IPNetwork, holes: list[IPNetwork]) -> list[IPNetwork]:
    """``network`` without the parts that ``holes`` cover."""
    parts = [network]
    for hole in holes:
        remaining: list[IPNetwork] = []
        for part in parts:
            if part.version != hole.version or not part.overlaps(hole):
                remaining.append(part)
            elif not part.subnet_of(hole):
                remaining.extend(part.address_exclude(hole))
        parts = remaining
    return parts


def allowed_networks(applications: Iterable[Application]) -> list[str]:
    """The networks a VPN client may route into: those of remote-access applications.

    Office-only applications are left out, and their networks are cut out of any wider
    remote-access network that contains them, so the resident registry's subnet never
    appears in a client's AllowedIPs even if a neighbour application declares its /16.
    The result is de-duplicated and collapsed, IPv4 before IPv6.
    """
    apps = list(applications)
    office_only = _collapse(
        ipaddress.ip_network(n, strict=False)
        for a in apps
        if not a.remote_access
        for n in a.networks
    )
    remote = _collapse(
        ipaddress.ip_network(n, strict=False) for a in apps if a.remote_access for n in a.networks
    )
    kept = [part for network in remote for part in _subtract(network, office_only)]
    return [str(n) for n in _collapse(kept)]


# --- client configuration -------------------------------------------------------------


def _endpoint(endpoint: str) -> str:
    match = _ENDPOINT.fullmatch(endpoint.strip())
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"{endpoint!r} is not an endpoint like vpn.example.de:51820.")
    host = match["host"]
    if host.startswith("["):
        ipaddress.IPv6Address(host[1:-1])
    return f"{host}:{int(match['port'])}"


def _dns_entry(entry: str) -> str:
    try:
        return str(ipaddress.ip_address(entry.strip()))
    except ValueError:
        if _HOSTNAME.fullmatch(entry.strip()):  # wg-quick takes search domains here too
            return entry.strip()
        raise ValueError(f"{entry!r} is neither a DNS server address nor a domain.") from None


def _interface_address(address: str) -> str:
    interface = ipaddress.ip_interface(address.strip())
    if "/" not in address:
        interface = ipaddress.ip_interface(f"{interface.ip}/{interface.max_prefixlen}")
    return str(interface)


def client_config(
    *,
    private_key: str,
    address: str,
    dns: list[str],
    server_public_key: str,
    endpoint: str,
    allowed_ips: list[str],
    preshared_key: str | None = None,
    keepalive: int | None = 25,
) -> str:
    """The peer's configuration file as ``wg-quick`` and the WireGuard apps read it.

    ``allowed_ips`` are the only networks routed into the tunnel: pass
    ``allowed_networks(...)`` for the person's applications. Every value is checked
    before it is written, because a line break smuggled into a value would let a
    ``PostUp`` command into the file, which wg-quick runs on the person's computer.
    """
    _decode_key(private_key, "The private key")
    _decode_key(server_public_key, "The server's public key")
    if preshared_key is not None:
        _decode_key(preshared_key, "The preshared key")
    routes = _collapse(ipaddress.ip_network(n.strip(), strict=True) for n in allowed_ips)
    if not routes:
        raise ValueError("No network is allowed for remote access; there is nothing to route.")
    if keepalive is not None and not 0 <= keepalive <= 65535:
        raise ValueError("keepalive must be between 0 and 65535 seconds.")
    lines = [
        "[Interface]",
        f"PrivateKey = {private_key}",
        f"Address = {_interface_address(address)}",
    ]
    if dns:
        lines.append(f"DNS = {', '.join(_dns_entry(d) for d in dns)}")
    lines += ["", "[Peer]", f"PublicKey = {server_public_key}"]
    if preshared_key is not None:
        lines.append(f"PresharedKey = {preshared_key}")
    lines += [
        f"Endpoint = {_endpoint(endpoint)}",
        f"AllowedIPs = {', '.join(str(n) for n in routes)}",
    ]
    if keepalive:
        lines.append(f"PersistentKeepalive = {keepalive}")
    return "\n".join(lines) + "\n"


def qr_svg(text: str) -> str:
    """A QR code of ``text`` as a standalone SVG document, for the WireGuard mobile app.

    The SVG holds only paths (no script, no text, no external reference) and carries
    its namespace and a viewBox, so it works as an ``<img src="data:image/svg+xml,...">``
    and scales cleanly. It has a white background so phones read it in dark mode too.
    """
    code = segno.make(text, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
    )
    return buffer.getvalue().decode("utf-8")


def qr_data_uri(text: str) -> str:
    """``qr_svg(text)`` as a ``data:image/svg+xml`` URL for an ``<img src>``."""
    svg = base64.b64encode(qr_svg(text).encode("utf-8")).decode("ascii")
    return f"data:image/svg+xml;base64,{svg}"
