"""The fetch door against a real HTTP server on loopback.

Two ways in:

- ``allow_private=True`` and the server's own 127.0.0.1 URL: happy paths, caps, deadline,
  redirect rules.
- ``allow_private=False``, the guard unchanged, and a ``wire`` in place of the socket layer
  below it (``netguard.socket_backend``, the one seam there). The resolver says
  ``public.test`` is 93.184.216.34; the guard checks that public address and connects to it,
  and the wire carries the connection to the loopback server (TLS is pretended: the wire
  records the SNI name and passes bytes in the clear). This is how a redirect from an allowed
  server to a denied address is tested for real: the refused hop must never reach the server.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpcore
import pytest
from PIL import Image

from framecast.core.errors import FetchFailed, PayloadTooLarge
from framecast.net import guard as netguard
from framecast.net.fetch import FetchedImage, FetchPolicy, fetch_image, guarded_request

PARAM = "content[0].image_url.url"
PUBLIC = "93.184.216.34"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(out, "PNG")
    return out.getvalue()


PNG = _png()
HTML = b"<!doctype html><html><body>not an image</body></html>"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ImageServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        path, _, query = self.path.partition("?")
        route = ROUTES.get(path.rsplit("/", 1)[0] + "/*") or ROUTES.get(path, Handler.not_found)
        try:
            route(self, path, unquote(query))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on purpose (cap, deadline)

    def do_POST(self) -> None:
        self.do_GET()

    def send(self, status: int, body: bytes, content_type: str = "image/png",
             **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def not_found(self, path: str, query: str) -> None:
        self.send(404, b"no", "text/plain")

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", "text/plain", Location=location)

    def chunked(self, chunks: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _endless() -> Iterator[bytes]:
    started = time.monotonic()
    while time.monotonic() - started < 10:
        yield PNG + b"\0" * 16384


def _dribble(handler: Handler, path: str, query: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Content-Length", str(len(PNG) + 100))
    handler.end_headers()
    handler.wfile.write(PNG)
    for _ in range(100):  # 1 byte per 100 ms: never idle long enough for a read timeout
        time.sleep(0.1)
        handler.wfile.write(b"\0")
        handler.wfile.flush()


def _declare_then_stall(handler: Handler, path: str, query: str) -> None:
    # Only the declared length can refuse this in time: the body never comes.
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Content-Length", str(2 * 1024 * 1024))
    handler.end_headers()
    handler.wfile.flush()
    time.sleep(3)


def _slow_redirect(handler: Handler, path: str, query: str) -> None:
    left = int(path.rsplit("/", 1)[1])
    time.sleep(0.4)
    if left:
        handler.redirect(f"/slow-redirect/{left - 1}")
    else:
        handler.send(200, PNG)


def _echo(handler: Handler, path: str, query: str) -> None:
    length = int(handler.headers.get("Content-Length", "0"))
    handler.send(200, handler.rfile.read(length), "application/json")


ROUTES: dict[str, Callable[[Handler, str, str], None]] = {
    "/cat.png": lambda h, p, q: h.send(200, PNG),
    "/png-as-html": lambda h, p, q: h.send(200, PNG, "text/html"),
    "/html-as-png": lambda h, p, q: h.send(200, HTML, "image/png"),
    "/gzip": lambda h, p, q: h.send(200, gzip.compress(PNG), Content_Encoding="gzip"),
    "/big-declared": _declare_then_stall,
    "/big-chunked": lambda h, p, q: h.chunked(_endless()),
    "/png-chunked": lambda h, p, q: h.chunked(iter([PNG[:10], PNG[10:]])),
    "/slow": _dribble,
    "/to": lambda h, p, q: h.redirect(q),
    "/moved": lambda h, p, q: h.redirect(q, 301),
    "/hops/*": lambda h, p, q: (h.redirect(f"/hops/{int(p.rsplit('/', 1)[1]) - 1}")
                                if int(p.rsplit("/", 1)[1]) else h.send(200, PNG)),
    "/slow-redirect/*": _slow_redirect,
    "/echo": _echo,
}


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: list[str] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[ImageServer]:
    httpd = ImageServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


class _PretendTLS(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream, wire: Wire) -> None:
        self._stream = stream
        self._wire = wire

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        self._wire.sni.append(server_hostname)
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class Wire(httpcore.AsyncNetworkBackend):
    """The socket layer under the guard: whatever address it is asked for, it reaches the
    loopback server, and it records the (address, port) it was asked for."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connects: list[tuple[str, int]] = []
        self.sni: list[str | None] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        stream = await self._real.connect_tcp("127.0.0.1", self.port, timeout=timeout)
        return _PretendTLS(stream, self)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


@pytest.fixture
def wire(server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> Wire:
    routed = Wire(server.port)
    monkeypatch.setattr(netguard, "socket_backend", lambda: routed)
    return routed


def resolver(**table: list[str]) -> Callable[[str, int], list[str]]:
    names = {name.replace("_", "."): addresses for name, addresses in table.items()}
    return lambda host, port: names.get(host, [])


LAN = FetchPolicy(allow_private=True)
GUARDED = FetchPolicy(resolver=resolver(public_test=[PUBLIC], evil_test=["10.0.0.5"],
                                        meta_test=["169.254.169.254"]))


def fetch(url: str, policy: FetchPolicy = LAN) -> FetchedImage:
    return asyncio.run(fetch_image(url, param=PARAM, policy=policy))


def refused(url: str, policy: FetchPolicy = LAN, error: type[Exception] = FetchFailed) -> str:
    with pytest.raises(error) as info:
        fetch(url, policy)
    assert info.value.param == PARAM
    return str(info.value)


# 1. Happy paths on a LAN policy


def test_fetches_an_image(server: ImageServer) -> None:
    assert fetch(server.url("/cat.png")) == FetchedImage(PNG, "png", "url")
    assert server.hits == ["/cat.png"]


def test_content_type_is_ignored_in_favour_of_the_bytes(server: ImageServer) -> None:
    assert fetch(server.url("/png-as-html")).format == "png"
    assert "is not an image (jpeg, png, webp, bmp, tiff or gif)" in refused(
        server.url("/html-as-png"))


def test_chunked_image(server: ImageServer) -> None:
    assert fetch(server.url("/png-chunked")).data == PNG


def test_http_errors_and_compressed_bodies_are_refused(server: ImageServer) -> None:
    assert refused(server.url("/missing.png")) == f"`{PARAM}` answered HTTP 404"
    assert "sent compressed (gzip)" in refused(server.url("/gzip"))


def test_unreachable_port(server: ImageServer) -> None:
    server.shutdown()
    server.server_close()  # nothing listens on that port any more
    assert refused(server.url("/cat.png")) == f"`{PARAM}` could not be reached"


# 2. Size cap


def test_cap_by_content_length_before_any_body(server: ImageServer) -> None:
    started = time.monotonic()
    message = refused(server.url("/big-declared"),
                      FetchPolicy(allow_private=True, max_bytes=1024 * 1024, deadline_s=2),
                      PayloadTooLarge)
    assert message == f"`{PARAM}` is larger than 1 MB"
    assert time.monotonic() - started < 1


def test_cap_while_streaming_without_content_length(server: ImageServer) -> None:
    # The server would stream for 10 s; only the cap can end this in time.
    started = time.monotonic()
    refused(server.url("/big-chunked"), FetchPolicy(allow_private=True, max_bytes=256 * 1024,
                                                    deadline_s=5), PayloadTooLarge)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("path", ["/cat.png", "/png-chunked"])
def test_cap_boundary(server: ImageServer, path: str) -> None:
    assert fetch(server.url(path), FetchPolicy(allow_private=True, max_bytes=len(PNG))).data == PNG
    refused(server.url(path), FetchPolicy(allow_private=True, max_bytes=len(PNG) - 1),
            PayloadTooLarge)


# 3. Deadline


def test_a_dribbling_body_hits_the_deadline(server: ImageServer) -> None:
    started = time.monotonic()
    message = refused(server.url("/slow"), FetchPolicy(allow_private=True, deadline_s=1))
    assert message == f"`{PARAM}` took longer than 1 s"
    assert time.monotonic() - started < 2


def test_the_deadline_covers_all_redirect_hops(server: ImageServer) -> None:
    # Each hop takes 0.4 s, well within any per-hop limit: two hops fit in 1.5 s, four do not.
    policy = FetchPolicy(allow_private=True, deadline_s=1.5)
    assert fetch(server.url("/slow-redirect/1"), policy).data == PNG
    assert "took longer than 1.5 s" in refused(server.url("/slow-redirect/3"), policy)


# 4. Redirects


def test_follows_redirects_up_to_the_cap(server: ImageServer) -> None:
    assert fetch(server.url("/hops/3")).data == PNG
    assert len(server.hits) == 4
    server.hits.clear()
    assert refused(server.url("/hops/4")) == f"`{PARAM}` redirected more than 3 times"
    assert len(server.hits) == 4  # the fifth request is never sent


def test_redirect_cap_is_configurable(server: ImageServer) -> None:
    policy = FetchPolicy(allow_private=True, max_redirects=0)
    assert "redirected more than 0 times" in refused(server.url("/hops/1"), policy)
    assert fetch(server.url("/cat.png"), policy).data == PNG


def test_relative_and_absolute_redirects(server: ImageServer) -> None:
    assert fetch(server.url("/to?/cat.png")).data == PNG
    assert fetch(server.url("/moved?" + server.url("/cat.png"))).data == PNG


@pytest.mark.parametrize(("location", "words"), [
    ("file:///etc/passwd", "redirected to file:/etc/passwd, which is not an http or https"),
    ("ftp://127.0.0.1/cat.png", "which is not an http or https URL (scheme ftp)"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "scheme gopher"),
    ("http://user:pw@127.0.0.1/cat.png", "which contains a user name or password"),
    ("http://2130706433/cat.png", "not a canonical IP address"),
    ("http://169.254.169.254/latest/meta-data/", "resolves to 169.254.169.254, a cloud metadata"),
    ("http://[fd00:ec2::254]/", "a cloud metadata address"),
])
def test_each_redirect_hop_is_rechecked_even_on_a_lan(server: ImageServer, location: str,
                                                       words: str) -> None:
    assert words in refused(server.url(f"/to?{location}"))
    assert server.hits == [f"/to?{location}"]


# 5. The guard with allow_private=False, through the wire


def test_public_name_is_connected_by_checked_address_with_sni_for_the_name(
        server: ImageServer, wire: Wire) -> None:
    assert fetch("https://public.test/cat.png", GUARDED).data == PNG
    assert wire.connects == [(PUBLIC, 443)]
    assert wire.sni == ["public.test"]


@pytest.mark.parametrize(("location", "words"), [
    ("http://evil.test/cat.png", "redirected to http://evil.test, which resolves to 10.0.0.5, "
                                 "a private address"),
    ("http://meta.test/latest/", "which resolves to 169.254.169.254, a cloud metadata"),
    ("http://127.0.0.1/cat.png", "which resolves to 127.0.0.1, a loopback address"),
    ("http://[::ffff:127.0.0.1]/cat.png", "a loopback address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "a cloud metadata address"),
    ("http://public.test:8080/cat.png", "which uses port 8080"),
    ("http://nowhere.test/cat.png", "which does not resolve"),
])
def test_redirect_from_an_allowed_server_to_a_denied_target(
        server: ImageServer, wire: Wire, location: str, words: str) -> None:
    assert words in refused(f"http://public.test/to?{location}", GUARDED)
    assert wire.connects == [(PUBLIC, 80)]
    assert server.hits == [f"/to?{location}"]


def test_https_to_http_downgrade_is_refused(server: ImageServer, wire: Wire) -> None:
    assert fetch("https://public.test/to?/cat.png", GUARDED).data == PNG  # stays on https
    server.hits.clear()
    message = refused("https://public.test/to?http://public.test/cat.png", GUARDED)
    assert "redirected from https to http (http://public.test)" in message
    assert server.hits == ["/to?http://public.test/cat.png"]


def test_dns_rebinding_between_hops(server: ImageServer, wire: Wire) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    policy = FetchPolicy(resolver=lambda host, port: next(answers))
    # A different port is a new connection, so the name is resolved and checked again.
    message = refused("http://rebind.test/to?http://rebind.test:443/cat.png", policy)
    assert "which resolves to 127.0.0.1, a loopback address" in message
    assert wire.connects == [(PUBLIC, 80)]


# One address in every denied range, and the IPv6 forms that embed a denied IPv4 address.
DENIED = [
    "127.0.0.1", "10.0.0.5", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.170.2",
    "168.63.129.16", "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "192.0.0.8",
    "::1", "::", "fc00::1", "fe80::1", "fec0::1", "ff02::1", "fd00:ec2::254", "2001:db8::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "::7f00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:5", "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
]


@pytest.mark.parametrize("address", DENIED)
def test_a_denied_address_never_reaches_a_listening_server(server: ImageServer, wire: Wire,
                                                          address: str) -> None:
    # Were the guard to let the connection through, the wire would deliver it to the server.
    policy = FetchPolicy(resolver=resolver(evil_test=[address]))
    assert f"resolves to {address}, a" in refused("http://evil.test/cat.png", policy)
    assert wire.connects == []
    assert server.hits == []


def test_loopback_is_refused_on_a_real_socket(server: ImageServer) -> None:
    # No wire: the real socket layer, and the server's own port allowed.
    policy = FetchPolicy(allowed_ports=frozenset({server.port}),
                         resolver=resolver(evil_test=["127.0.0.1"]))
    assert "resolves to 127.0.0.1, a loopback address" in refused(
        f"http://evil.test:{server.port}/cat.png", policy)
    assert "a loopback address" in refused(server.url("/cat.png"), policy)
    # and through the system resolver
    no_override = FetchPolicy(allowed_ports=frozenset({server.port}))
    assert "a loopback address" in refused(f"http://localhost:{server.port}/", no_override)
    assert server.hits == []


def test_system_resolver_on_a_lan(server: ImageServer) -> None:
    # localhost may answer ::1 first; the server listens on 127.0.0.1 only, so this also
    # shows the next checked address being tried.
    assert fetch(f"http://localhost:{server.port}/cat.png").data == PNG


def test_proxy_environment_is_ignored(server: ImageServer,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # With trust_env the request would go to this dead proxy and fail.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert fetch(server.url("/cat.png")).data == PNG
    assert server.hits == ["/cat.png"]


# 6. guarded_request, for webhooks


def test_guarded_request_posts_and_reads_the_reply(server: ImageServer) -> None:
    response = asyncio.run(guarded_request("POST", server.url("/echo"), policy=LAN,
                                           json={"id": "cgt-1"}))
    assert response.status_code == 200
    assert response.json() == {"id": "cgt-1"}


def test_guarded_request_returns_redirects_as_they_are(server: ImageServer) -> None:
    response = asyncio.run(guarded_request("POST", server.url("/to?/cat.png"), policy=LAN))
    assert response.status_code == 302
    assert response.headers["location"] == "/cat.png"
    assert server.hits == ["/to?/cat.png"]


def test_guarded_request_caps_deadline_and_compression(server: ImageServer) -> None:
    with pytest.raises(PayloadTooLarge, match=r"`url` is larger than 1 MB$"):
        asyncio.run(guarded_request("GET", server.url("/big-chunked"),
                                    policy=FetchPolicy(allow_private=True, max_bytes=1024 * 1024)))
    with pytest.raises(FetchFailed, match=r"took longer than 0\.5 s"):
        asyncio.run(guarded_request("GET", server.url("/slow"),
                                    policy=FetchPolicy(allow_private=True, deadline_s=0.5)))
    response = asyncio.run(guarded_request("GET", server.url("/gzip"), policy=LAN))
    assert response.content == gzip.compress(PNG)  # as received: never inflated
