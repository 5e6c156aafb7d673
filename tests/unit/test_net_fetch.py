"""Unit tests for the fetch door and its SSRF guard, with no real network.

The address table is checked on ``is_denied`` directly, and the guard on the httpcore backend
and through ``fetch_image``, with the real socket layer replaced by a recorder that refuses to
connect: a refusal must come from the guard before the recorder is ever asked.
Real loopback servers live in tests/integration/test_net_fetch_live.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import httpcore
import pytest
from PIL import Image

from framecast.core.errors import FetchFailed, PayloadTooLarge
from framecast.net import guard as netguard
from framecast.net.fetch import (
    FetchedImage,
    FetchPolicy,
    fetch_image,
    guarded_client,
    guarded_request,
    is_denied,
    sniff_image_format,
)
from framecast.net.guard import GuardedBackend, GuardRefusal, deny_reason

PARAM = "content[1].image_url.url"
PUBLIC = "93.184.216.34"


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(out, fmt)
    return out.getvalue()


IMAGES = {name: _image(fmt) for name, fmt in
          [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("tiff", "TIFF"),
           ("gif", "GIF")]}

# Every range the guard must refuse, with one address each, plus the IPv6 forms that embed
# a denied IPv4 address. The second field is the word the error must use.
DENIED = [
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
    ("10.0.0.5", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata"), ("169.254.170.2", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("168.63.129.16", "cloud metadata"), ("100.100.100.200", "cloud metadata"),
    ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.255", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "broadcast"),
    ("192.0.2.1", "documentation"), ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"), ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"), ("192.0.0.8", "IETF protocol"),
    ("192.88.99.1", "6to4 relay"),
    # not in any table, caught by the "is_global" rule
    ("100::1", "non-public"), ("2001:2::1", "non-public"), ("2001:10::1", "non-public"),
    ("::1", "loopback"), ("::", "unspecified"), ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"), ("fe80::1", "link-local"), ("fec0::1", "site-local"),
    ("ff02::1", "multicast"), ("fd00:ec2::254", "cloud metadata"),
    ("2001:db8::1", "documentation"), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    # IPv4-mapped
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:10.0.0.5", "private"), ("::ffff:100.64.0.1", "carrier-grade NAT"),
    # IPv4-compatible (deprecated ::a.b.c.d)
    ("::7f00:1", "loopback"), ("::a9fe:a9fe", "cloud metadata"),
    # NAT64, well-known and local-use prefixes
    ("64:ff9b::7f00:1", "loopback"), ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("64:ff9b::a00:5", "private"), ("64:ff9b:1::a00:5", "local NAT64"),
    # 6to4
    ("2002:7f00:1::", "loopback"), ("2002:a9fe:a9fe::1", "cloud metadata"),
    ("2002:c0a8:101::1", "private"),
]

ALLOWED = [
    PUBLIC, "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
    # just outside a denied range
    "172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255", "11.0.0.1",
    "192.169.0.1", "198.20.0.1", "223.255.255.254",
    # IPv6 wrappers of a public IPv4 address reach that public address
    "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
]

# Refused even with allow_private: nothing on a LAN needs them, and metadata services live there.
NEVER = ["169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200",
         "fd00:ec2::254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1",
         "255.255.255.255", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"]
LAN = ["127.0.0.1", "10.0.0.5", "172.20.1.1", "192.168.1.1", "100.64.0.1", "::1",
       "fd12:3456::1", "::ffff:192.168.1.1", "64:ff9b::a00:5", "192.0.2.1"]


class RecordingSocket(httpcore.AsyncNetworkBackend):
    """The socket layer under the guard, replaced: records what it is asked, connects nothing."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("recording socket: no network in unit tests")


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> RecordingSocket:
    recorder = RecordingSocket()
    monkeypatch.setattr(netguard, "socket_backend", lambda: recorder)
    return recorder


class Resolver:
    """A DNS stand-in: names map to the given addresses; every lookup is recorded."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.table.get(host, [])


def refused(url: str, policy: FetchPolicy, error: type[Exception] = FetchFailed) -> str:
    """Run fetch_image, expect ``error`` naming PARAM, return its message."""
    with pytest.raises(error) as info:
        asyncio.run(fetch_image(url, param=PARAM, policy=policy))
    assert info.value.param == PARAM
    assert str(info.value).startswith(f"`{PARAM}`")
    return str(info.value)


# 1. The address table


@pytest.mark.parametrize(("address", "label"), DENIED)
def test_denied_addresses(address: str, label: str) -> None:
    assert is_denied(address)
    assert label in deny_reason(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_denied(address)


@pytest.mark.parametrize("address", NEVER)
def test_allow_private_still_refuses_metadata_link_local_and_multicast(address: str) -> None:
    assert is_denied(address, allow_private=True)


@pytest.mark.parametrize("address", LAN)
def test_allow_private_allows_lan_ranges(address: str) -> None:
    assert is_denied(address)
    assert not is_denied(address, allow_private=True)


@pytest.mark.parametrize("text", ["", "localhost", "2130706433", "0x7f000001", "127.1", "1.2.3"])
def test_anything_but_a_canonical_address_is_denied(text: str) -> None:
    assert is_denied(text)
    assert is_denied(text, allow_private=True)


def test_private_refusal_tells_how_to_allow_it() -> None:
    assert "FRAMECAST_ALLOW_PRIVATE_URLS=1" in deny_reason("10.0.0.5")
    assert "never" in deny_reason("169.254.169.254")


# 2. Sniffing


@pytest.mark.parametrize("image_format", sorted(IMAGES))
def test_sniff_recognises_each_format(image_format: str) -> None:
    assert sniff_image_format(IMAGES[image_format]) == image_format


@pytest.mark.parametrize("data", [
    b"", b"<!doctype html><html></html>", b"%PDF-1.7", b"RIFF\x00\x00\x00\x00WAVEfmt ",
    b"BM is not a bitmap, just text that starts with BM", b"GIF88a", b"\xff\xd8",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
])
def test_sniff_refuses_non_images(data: bytes) -> None:
    assert sniff_image_format(data) is None


# 3. Data URIs


def _data_uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize("image_format", sorted(IMAGES))
def test_data_uri_happy_path(image_format: str) -> None:
    uri = _data_uri(IMAGES[image_format], f"image/{image_format}")
    fetched = asyncio.run(fetch_image(uri, param=PARAM))
    assert fetched == FetchedImage(IMAGES[image_format], image_format, "data")


def test_data_uri_accepts_jpg_alias_and_any_case() -> None:
    uri = "DATA:Image/JPG;BASE64," + base64.b64encode(IMAGES["jpeg"]).decode()
    assert asyncio.run(fetch_image(uri, param=PARAM)).format == "jpeg"


def test_data_uri_format_comes_from_the_bytes_not_the_label() -> None:
    fetched = asyncio.run(fetch_image(_data_uri(IMAGES["jpeg"], "image/png"), param=PARAM))
    assert fetched.format == "jpeg"


@pytest.mark.parametrize("payload", ["not base64!", "iVBORw0KGgo=\n", "iVBORw0KGgo", "====",
                                     "iVBO Rw0K"])
def test_data_uri_bad_base64(payload: str) -> None:
    assert "not valid base64" in refused(f"data:image/png;base64,{payload}", FetchPolicy())


def test_data_uri_of_a_non_image() -> None:
    uri = _data_uri(b"<html><script>alert(1)</script></html>")
    assert "is not an image (jpeg, png, webp, bmp, tiff or gif)" in refused(uri, FetchPolicy())


@pytest.mark.parametrize(("uri", "words"), [
    ("data:image/svg+xml;base64,PHN2Zy8+", "image/svg+xml"),
    ("data:image/heic;base64,AAAA", "image/heic"),
    ("data:text/html;base64,PGgxPg==", "data:image/<format>;base64,"),
    ("data:image/png,rawbytes", "data:image/<format>;base64,"),
    ("data:;base64,AAAA", "data:image/<format>;base64,"),
])
def test_data_uri_unsupported_format_or_shape(uri: str, words: str) -> None:
    assert words in refused(uri, FetchPolicy())


def test_oversize_data_uri_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("b64decode called on an oversize data URI")

    monkeypatch.setattr(base64, "b64decode", must_not_decode)
    huge = "data:image/png;base64," + "A" * (41 * 1024 * 1024)  # decodes to ~30.75 MB
    assert "is larger than 30 MB" in refused(huge, FetchPolicy(), PayloadTooLarge)


def test_data_uri_cap_boundary() -> None:
    data = IMAGES["png"] + b"\0" * (300 - len(IMAGES["png"]))  # 300 bytes: 400 base64 chars
    assert asyncio.run(fetch_image(_data_uri(data), param=PARAM,
                                   policy=FetchPolicy(max_bytes=300))).data == data
    refused(_data_uri(data), FetchPolicy(max_bytes=299), PayloadTooLarge)


# 4. URL shape


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://public.test/cat.png", "not an http or https URL (scheme ftp)"),
    ("file:///etc/passwd", "not an http or https URL (scheme file)"),
    ("gopher://public.test:70/_", "scheme gopher"),
    ("javascript:alert(1)", "scheme javascript"),
    ("public.test/cat.png", "no scheme"),
    ("", "no scheme"),
    ("http://user@public.test/cat.png", "user name or password"),
    ("http://user:secret@public.test/cat.png", "user name or password"),
    ("http://169.254.169.254@public.test/", "user name or password"),
    ("http://public.test:8080/cat.png",
     "uses port 8080; Framecast connects only to ports 80 and 443"),
    ("https://public.test:22/", "uses port 22"),
    ("http:///cat.png", "no host"),
    ("http://2130706433/", "has the numeric host"),
    ("http://0x7f000001/", "has the numeric host"),
    ("http://127.1/", "has the numeric host"),
    ("http://0x7f.1/", "has the numeric host"),
    ("http://0177.0.0.1/", "not a valid URL"),
    ("http://[::1/", "not a valid URL"),
])
def test_url_shape_is_refused_before_any_lookup(sockets: RecordingSocket, url: str,
                                                  words: str) -> None:
    resolver = Resolver({"public.test": [PUBLIC]})
    assert words in refused(url, FetchPolicy(resolver=resolver))
    assert resolver.lookups == []
    assert sockets.connects == []


def test_allowed_ports_are_configurable(sockets: RecordingSocket) -> None:
    policy = FetchPolicy(allowed_ports=frozenset({8443}),
                         resolver=Resolver({"public.test": [PUBLIC]}))
    assert "uses port 443; Framecast connects only to port 8443" in refused(
        "https://public.test/", policy)
    # 8443 passes the shape check and the guard, and reaches the socket layer
    assert "could not be reached" in refused("https://public.test:8443/", policy)
    assert sockets.connects == [(PUBLIC, 8443)]


# 5. The guard through fetch_image: refused at connect, before the socket layer is asked


@pytest.mark.parametrize(("address", "label"), DENIED)
def test_fetch_refuses_a_name_resolving_to_a_denied_address(sockets: RecordingSocket,
                                                            address: str, label: str) -> None:
    resolver = Resolver({"evil.test": [address]})
    message = refused("http://evil.test/cat.png", FetchPolicy(resolver=resolver))
    assert f"`{PARAM}` resolves to {address}, a" in message
    assert label in message
    assert resolver.lookups == ["evil.test"]
    assert sockets.connects == []


def test_the_message_a_user_sees(sockets: RecordingSocket) -> None:
    message = refused("https://evil.test/a.png",
                      FetchPolicy(resolver=Resolver({"evil.test": ["10.0.0.5"]})))
    assert message == (f"`{PARAM}` resolves to 10.0.0.5, a private address; Framecast does not "
                       "fetch private addresses unless FRAMECAST_ALLOW_PRIVATE_URLS=1")


@pytest.mark.parametrize("answer", [[PUBLIC, "10.0.0.5"], ["10.0.0.5", PUBLIC],
                                    ["2606:4700:4700::1111", "::ffff:127.0.0.1"]])
def test_every_resolved_address_is_checked(sockets: RecordingSocket, answer: list[str]) -> None:
    refused("http://evil.test/", FetchPolicy(resolver=Resolver({"evil.test": answer})))
    assert sockets.connects == []


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://[::1]/", "http://10.0.0.5/",
                                 "http://169.254.169.254/latest/meta-data/",
                                 "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/",
                                 "http://[fd00:ec2::254]/", "http://[2002:7f00:1::]/"])
def test_literal_addresses_are_checked_without_the_resolver(sockets: RecordingSocket,
                                                            url: str) -> None:
    resolver = Resolver({})
    assert "resolves to" in refused(url, FetchPolicy(resolver=resolver))
    assert resolver.lookups == []
    assert sockets.connects == []


def test_allow_private_still_refuses_metadata(sockets: RecordingSocket) -> None:
    policy = FetchPolicy(allow_private=True, resolver=Resolver({"meta.test": ["169.254.169.254"]}))
    assert "which Framecast never fetches" in refused("http://meta.test/", policy)
    assert "never fetches" in refused("http://[fd00:ec2::254]/", policy)
    assert sockets.connects == []


def test_allow_private_lets_lan_addresses_and_any_port_through_to_connect(
        sockets: RecordingSocket) -> None:
    policy = FetchPolicy(allow_private=True, resolver=Resolver({"nas.lan": ["192.168.1.20"]}))
    assert "could not be reached" in refused("http://nas.lan:8080/cat.png", policy)
    assert sockets.connects == [("192.168.1.20", 8080)]


def test_public_name_connects_to_the_checked_address_not_the_name(
        sockets: RecordingSocket) -> None:
    refused("https://public.test/cat.png",
            FetchPolicy(resolver=Resolver({"public.test": [PUBLIC]})))
    assert sockets.connects == [(PUBLIC, 443)]  # a numeric address: nothing is resolved twice


def test_unresolvable_name(sockets: RecordingSocket) -> None:
    message = refused("http://nowhere.test/", FetchPolicy(resolver=Resolver({})))
    assert message == f"`{PARAM}` does not resolve to any address"
    assert sockets.connects == []


def test_resolver_errors_are_mapped(sockets: RecordingSocket) -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    assert "does not resolve" in refused("http://nowhere.test/", FetchPolicy(resolver=failing))


# 6. The backend, for callers that hold a guarded client directly (webhooks)


def _connect(backend: GuardedBackend, host: str, port: int = 80) -> None:
    asyncio.run(backend.connect_tcp(host, port, timeout=1.0))


@pytest.mark.parametrize(("host", "words"), [
    ("evil.test", "resolves to 169.254.169.254"),
    ("10.0.0.5", "resolves to 10.0.0.5"),
    # A resolver that would read these as a public address is never asked.
    ("2130706433", "not a canonical IP address"),
    ("0x7f000001", "not a canonical IP address"),
])
def test_backend_refuses_denied_hosts(sockets: RecordingSocket, host: str, words: str) -> None:
    resolver = Resolver({"evil.test": [PUBLIC, "169.254.169.254"], "2130706433": [PUBLIC],
                         "0x7f000001": [PUBLIC]})
    backend = GuardedBackend(allow_private=False, resolver=resolver)
    with pytest.raises(GuardRefusal, match=words):
        _connect(backend, host)
    assert sockets.connects == []


def test_backend_refuses_ports_and_unix_sockets(sockets: RecordingSocket) -> None:
    backend = GuardedBackend(allow_private=False, resolver=Resolver({"public.test": [PUBLIC]}))
    with pytest.raises(GuardRefusal, match="uses port 6379"):
        _connect(backend, "public.test", 6379)
    with pytest.raises(GuardRefusal, match="Unix socket"):
        asyncio.run(backend.connect_unix_socket("/var/run/docker.sock"))
    assert sockets.connects == []


def test_backend_tries_each_checked_address_in_order(sockets: RecordingSocket) -> None:
    backend = GuardedBackend(allow_private=False,
                             resolver=Resolver({"public.test": [PUBLIC, "8.8.8.8"]}))
    with pytest.raises(httpcore.ConnectError):
        _connect(backend, "public.test")
    assert sockets.connects == [(PUBLIC, 80), ("8.8.8.8", 80)]


def test_guarded_client_refuses_at_connect(sockets: RecordingSocket) -> None:
    async def get() -> None:
        policy = FetchPolicy(resolver=Resolver({"evil.test": ["10.1.2.3"]}))
        async with guarded_client(policy) as client:
            await client.get("http://evil.test/hook")

    with pytest.raises(GuardRefusal, match=r"evil\.test resolves to 10\.1\.2\.3"):
        asyncio.run(get())
    assert sockets.connects == []


@pytest.mark.parametrize("argument", ["transport", "proxy", "mounts", "trust_env",
                                      "follow_redirects"])
def test_guarded_client_refuses_arguments_that_bypass_it(argument: str) -> None:
    with pytest.raises(TypeError, match=argument):
        guarded_client(FetchPolicy(), **{argument: None})


def test_guarded_client_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    client = guarded_client(FetchPolicy())
    assert client.trust_env is False
    assert client.follow_redirects is False
    assert client.headers["accept-encoding"] == "identity"


def test_guarded_request_refuses_like_fetch(sockets: RecordingSocket) -> None:
    policy = FetchPolicy(resolver=Resolver({"hooks.test": ["192.168.0.10"]}))
    with pytest.raises(FetchFailed, match=r"`webhook_url` resolves to 192\.168\.0\.10") as info:
        asyncio.run(guarded_request("POST", "https://hooks.test/cb", policy=policy,
                                    param="webhook_url", json={"id": "t1"}))
    assert info.value.param == "webhook_url"
    with pytest.raises(FetchFailed, match="user name or password"):
        asyncio.run(guarded_request("POST", "https://u:p@hooks.test/", policy=policy))
    with pytest.raises(TypeError):
        asyncio.run(guarded_request("POST", "https://hooks.test/", policy=policy,
                                    follow_redirects=True))
    assert sockets.connects == []
