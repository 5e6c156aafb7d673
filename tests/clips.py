"""Reference clips made for tests: a camera move over a real photograph (scikit-image's
``coffee``) as H.264, and a tone as WAV; shared by the unit and acceptance suites."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
from skimage import data as photos

from framecast.media.video import VideoWriter


def camera_move(path: Path, seconds: float, width: int = 320, height: int = 240) -> Path:
    """Write an MP4 at 24 fps panning across ``coffee``, 2 px a frame; returns ``path``."""
    photo = np.asarray(photos.coffee())
    with VideoWriter(path, width, height, 24) as writer:
        for i in range(round(seconds * 24)):
            writer.write(np.ascontiguousarray(photo[:height, i * 2:i * 2 + width]))
    return path


def tone(seconds: float, rate: int = 22050) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        t = np.arange(round(seconds * rate)) / rate
        w.writeframes((np.sin(2 * np.pi * 440 * t) * 16000).astype(np.int16).tobytes())
    return out.getvalue()
