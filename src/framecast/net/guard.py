"""The SSRF guard under every outbound connection: which addresses Framecast may reach.

``GuardedBackend`` is an httpcore network backend. For each new TCP connection it resolves the
host itself, refuses the connection if ANY resolved address is denied, and then connects to a
validated numeric address. The address checked is the address connected to, on every redirect
hop, so a DNS answer that changes between check and connect (rebinding) changes nothing. TLS
still verifies the certificate and sends SNI for the URL's hostname: httpcore takes both from the
request's origin, never from the socket.

The address rule (``deny_reason``): unwrap an IPv4 address embedded in IPv6 (mapped,
compatible, NAT64, 6to4), refuse anything in the explicit deny tables, and then also require
``is_global and not is_multicast``. The tables are defense in depth: they keep the answer the
same when ``ipaddress`` changes its idea of "global" between Python versions.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import anyio.to_thread
import httpcore

from framecast.core.errors import FetchFailed

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Table = tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]

PRIVATE_HINT = "Framecast does not fetch private addresses unless FRAMECAST_ALLOW_PRIVATE_URLS=1"


def _networks(*pairs: tuple[str, str]) -> Table:
    return tuple((ipaddress.ip_network(cidr), label) for cidr, label in pairs)


# Refused even when the operator allows private addresses: nothing a LAN deployment needs
# lives here, and the cloud metadata services (169.254.169.254, 169.254.170.2, fd00:ec2::254,
# Azure's 168.63.129.16, Alibaba's 100.100.100.200) do. Most specific first: the first match
# names the address in the error.
_NEVER = _networks(
    ("169.254.169.254/32", "cloud metadata"),
    ("169.254.170.2/32", "cloud metadata"),
    ("168.63.129.16/32", "cloud metadata"),
    ("100.100.100.200/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/10", "link-local"),
    ("0.0.0.0/8", "unspecified"),
    ("::/128", "unspecified"),
    ("255.255.255.255/32", "broadcast"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("2001::/32", "Teredo"),
)

# Refused unless the operator allows private addresses (FRAMECAST_ALLOW_PRIVATE_URLS=1).
_NON_PUBLIC = _networks(
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("fc00::/7", "unique-local"),
    ("fec0::/10", "site-local"),
    ("192.0.0.0/24", "IETF protocol"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("2001:db8::/32", "documentation"),
    ("198.18.0.0/15", "benchmarking"),
    ("192.88.99.0/24", "6to4 relay"),
    ("64:ff9b:1::/48", "local NAT64"),
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


class GuardRefusal(FetchFailed):
    """The guard refused a connection before opening it; ``detail`` finishes "<host> ..."."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"{host} {detail}")
        self.host = host
        self.detail = detail


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``ip`` really reaches, for the forms that embed one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    # NAT64, or the deprecated IPv4-compatible ::a.b.c.d (but ::1 is IPv6's own loopback).
    if ip in _NAT64 or (int(ip) >> 32 == 0 and ip != _LOOPBACK_V6):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _match(ip: IPAddress, table: Table) -> str | None:
    return next((label for net, label in table if ip.version == net.version and ip in net), None)


def deny_reason(address: str, *, allow_private: bool = False) -> str | None:
    """Why ``address`` must not be connected to, as "a private address; ...", or None if allowed.

    Private, loopback, CGNAT, unique-local, documentation and similar ranges are allowed with
    ``allow_private``; link-local (cloud metadata), multicast, unspecified, broadcast, reserved
    and Teredo addresses never are.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if (label := _match(ip, _NEVER)) is not None:
        return f"a {label} address, which Framecast never fetches"
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        # Judge the embedded IPv4 address, which is where the packets go; whether Python calls
        # the IPv6 wrapper "global" differs between versions.
        return deny_reason(str(inner), allow_private=allow_private)
    if allow_private:
        return None
    if (label := _match(ip, _NON_PUBLIC)) is not None:
        return f"a {label} address; {PRIVATE_HINT}"
    if not ip.is_global or ip.is_multicast:
        return f"a non-public address; {PRIVATE_HINT}"
    return None


def denied_address(addresses: list[str], *, allow_private: bool = False) -> str | None:
    """"<address>, <reason>" for the first of a name's addresses the guard refuses, or None:
    one refused address refuses the name, whichever one a connection would reach."""
    for address in addresses:
        if (reason := deny_reason(address, allow_private=allow_private)) is not None:
            return f"{address}, {reason}"
    return None


def is_denied(ip: str, *, allow_private: bool = False) -> bool:
    """True if the guard refuses to connect to the numeric address ``ip``."""
    return deny_reason(ip, allow_private=allow_private) is not None


def is_ambiguous_numeric_host(host: str) -> bool:
    """True for IPv4 spellings that resolvers accept but are not dotted quads (``2130706433``,
    ``0x7f000001``, ``127.1``): refused outright rather than trusted to resolve as expected."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


def ports_hint(allowed_ports: frozenset[int]) -> str:
    """The sentence that tells a user which ports Framecast connects to."""
    ports = sorted(allowed_ports)
    if not ports:
        return "no port is allowed"
    listed = ", ".join(map(str, ports[:-1])) + (" and " if len(ports) > 1 else "") + str(ports[-1])
    return f"Framecast connects only to port{'s' if len(ports) > 1 else ''} {listed}"


def getaddrinfo_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver to its TCP addresses, in the system's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def socket_backend() -> httpcore.AsyncNetworkBackend:
    """The real socket layer under the guard.

    This is the one test seam below the guard: tests replace it with a wire that routes the
    (public, allowed) addresses the guard connects to onto a loopback server, so that the guard
    runs unchanged with ``allow_private=False``.
    """
    return httpcore.AnyIOBackend()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks and connects by validated address."""

    def __init__(self, *, allow_private: bool, allowed_ports: frozenset[int] = frozenset({80, 443}),
                 resolver: Resolver | None = None) -> None:
        self._allow_private = allow_private
        self._allowed_ports = allowed_ports
        self._resolve = resolver or getaddrinfo_resolver
        self._inner = socket_backend()

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [host]  # a literal address is checked as is; no resolver can reinterpret it
        if is_ambiguous_numeric_host(host):
            raise GuardRefusal(host, "is a numeric host that is not a canonical IP address")
        try:
            with anyio.fail_after(timeout):
                addresses = await anyio.to_thread.run_sync(
                    self._resolve, host, port, abandon_on_cancel=True)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError:
            addresses = []
        if not addresses:
            raise GuardRefusal(host, "does not resolve to any address")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, refuse if any address is denied, then connect to the first that
        accepts. Every address is checked, not just the one used, so that a name mixing a
        public and a private answer is refused whichever one the connection would reach."""
        if not self._allow_private and port not in self._allowed_ports:
            raise GuardRefusal(host, f"uses port {port}; {ports_hint(self._allowed_ports)}")
        addresses = await self._addresses(host, port, timeout)
        if (refusal := denied_address(addresses, allow_private=self._allow_private)):
            raise GuardRefusal(host, f"resolves to {refusal}")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        """Refused: a guarded client only speaks TCP to checked addresses."""
        raise GuardRefusal(path, "is a Unix socket, which Framecast never connects to")

    async def sleep(self, seconds: float) -> None:
        """Sleep, as the socket layer does (httpcore uses it for retry backoff)."""
        await self._inner.sleep(seconds)
