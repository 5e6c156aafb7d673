"""What the Wiro dialect needs beyond the task service, built by the composition root from
settings (``app.state.wiro``): the key store for signature secrets and nonces, the static
key's API secret, and the prices a task's ``totalcost`` is fixed from."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from framecast.db.keys import KeyStore


@dataclass(frozen=True)
class WiroSettings:
    """The Wiro dialect's configuration (``FRAMECAST_WIRO_*``)."""

    keys: KeyStore
    static_api_secret: str | None = None    # makes the static key require signatures
    price_video_per_s: dict[str, float] = field(default_factory=dict)   # USD by resolution
    price_per_image: float = 0.0            # USD per generated image


def wiro_settings(connection: HTTPConnection) -> WiroSettings:
    """This app's Wiro settings."""
    return connection.app.state.wiro
