"""Reference clips (Seedance 2.x ``video_url`` / ``audio_url``): checked from their headers on
the API process, decoded in the worker.

``probe_clip`` opens untrusted bytes with PyAV and reads the container's header only (the
format, each stream's codec, the duration, a video's size); no frame or sample is decoded, so
a create costs about the same for any clip. A header that lies is caught later:
``video_keyframes``, ``video_frames_at`` and ``soundtrack`` decode in the worker, and a clip
that does not decode fails the task naming its field.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from framecast.core.errors import InvalidInput, PayloadTooLarge
from framecast.media.video import AudioTrack

MIB = 1024 * 1024

# Containers by what PyAV calls them (its format names hold several aliases each).
VIDEO_CONTAINERS: dict[str, str] = {"mov": "video/mp4", "mp4": "video/mp4",
                                    "matroska": "video/webm", "webm": "video/webm"}
AUDIO_CONTAINERS: dict[str, str] = {"mp3": "audio/mpeg", "wav": "audio/wav",
                                    "mov": "audio/mp4", "mp4": "audio/mp4", "ogg": "audio/ogg",
                                    "flac": "audio/flac"}
AUDIO_SAMPLE_RATE = 48_000       # the AAC track the engines write
AUDIO_CHANNELS = 2


@dataclass(frozen=True)
class ClipLimits:
    """Vendor limits on one reference clip (Seedance 2.5: 2–30 s; 2.0 sets its own range at
    create), and the bytes the server takes."""

    max_video_bytes: int = 50 * MIB
    max_audio_bytes: int = 15 * MIB
    min_seconds: float = 2.0
    max_seconds: float = 30.0
    min_side: int = 64
    max_side: int = 4096


@dataclass(frozen=True)
class ClipHeader:
    """What a clip's header says."""

    kind: str            # "video" | "audio"
    container: str       # "mp4", "webm", "mp3", "wav", …
    codec: str           # "h264", "aac", …
    seconds: float
    width: int | None = None
    height: int | None = None

    @property
    def content_type(self) -> str:
        """The clip's media type (``video/mp4``, ``audio/mpeg`` …)."""
        table = VIDEO_CONTAINERS if self.kind == "video" else AUDIO_CONTAINERS
        return table[self.container]

    @property
    def extension(self) -> str:
        """The file extension its stored copy gets."""
        return {"video/webm": "webm", "audio/mpeg": "mp3", "audio/wav": "wav",
                "audio/mp4": "m4a", "audio/ogg": "ogg", "audio/flac": "flac"}.get(
                    self.content_type, "mp4")


def probe_clip(data: bytes, *, kind: str, param: str,
               limits: ClipLimits = ClipLimits()) -> ClipHeader:
    """Check a reference clip from its header alone, or raise ``InvalidInput(param=...)``:
    a container and codec of its ``kind`` (``video``: MP4/MOV/WebM with a video stream;
    ``audio``: MP3/WAV/M4A/OGG/FLAC with an audio stream), a known duration within the
    limits, and a video's size. ``PayloadTooLarge`` when ``data`` is over the limit."""
    cap = limits.max_video_bytes if kind == "video" else limits.max_audio_bytes
    if len(data) > cap:
        raise PayloadTooLarge(f"`{param}` is larger than {cap // MIB} MiB", param=param)
    what = "a video (MP4, MOV or WebM)" if kind == "video" else \
        "an audio file (MP3, WAV, M4A, OGG or FLAC)"
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError):
        raise InvalidInput(f"`{param}` is not {what}: its header could not be read",
                           param=param) from None
    with container:
        names = set(container.format.name.split(","))
        table = VIDEO_CONTAINERS if kind == "video" else AUDIO_CONTAINERS
        known = [name for name in table if name in names]
        streams = container.streams.video if kind == "video" else container.streams.audio
        if not known or not streams:
            raise InvalidInput(f"`{param}` is not {what} (found {container.format.name} "
                               f"with no {kind} stream)" if known else
                               f"`{param}` is not {what} (found {container.format.name})",
                               param=param)
        stream = streams[0]
        seconds = _seconds(container, stream)
        header = ClipHeader(kind=kind, container=known[0], codec=stream.codec_context.name,
                            seconds=seconds,
                            width=stream.codec_context.width if kind == "video" else None,
                            height=stream.codec_context.height if kind == "video" else None)
    if seconds is None or seconds <= 0:
        raise InvalidInput(f"`{param}`: the clip's duration could not be read", param=param)
    if not limits.min_seconds <= seconds <= limits.max_seconds:
        raise InvalidInput(f"`{param}` must last {limits.min_seconds:g}–{limits.max_seconds:g} "
                           f"s, got {seconds:.2f} s", param=param)
    if kind == "video":
        for side in (header.width or 0, header.height or 0):
            if not limits.min_side <= side <= limits.max_side:
                raise InvalidInput(f"`{param}` must be {limits.min_side}–{limits.max_side} px "
                                   f"a side, got {header.width}x{header.height}", param=param)
    return header


def _seconds(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    """The clip's duration from the header: the stream's, else the container's."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


# ---- in the worker: decode --------------------------------------------------------------------

def video_keyframes(path: Path, count: int, *, param: str) -> list[np.ndarray]:
    """``count`` RGB frames of a reference video, evenly spaced from its first frame to its
    last. The frames are counted from the container's packets first (nothing decoded), then
    decoded front to back keeping only the chosen ones, so memory stays ``count`` frames
    whatever the clip holds."""
    try:
        with av.open(str(path)) as container:
            total = sum(1 for packet in container.demux(container.streams.video[0])
                        if packet.size)
        if total == 0:
            raise InvalidInput(f"`{param}` holds no frames", param=param)
        picks = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
        kept: list[np.ndarray] = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in picks:
                    kept.append(frame.to_ndarray(format="rgb24"))
                last = frame
        if len(kept) < len(picks):        # fewer frames decoded than packets: hold the last
            kept.extend([last.to_ndarray(format="rgb24")] * (len(picks) - len(kept)))
    except (av.FFmpegError, ValueError, OSError, IndexError, UnboundLocalError):
        raise InvalidInput(f"`{param}` could not be decoded", param=param) from None
    return kept


def video_frames_at(path: Path, fps: int, count: int, *, param: str) -> Iterator[np.ndarray]:
    """Exactly ``count`` RGB frames of a video at ``fps``: output frame ``i`` is the source
    frame showing at ``i / fps`` (frames repeat or drop to change the rate; the last one
    holds if the source ends early). Decodes front to back, holding one frame."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start = None
            current: np.ndarray | None = None
            emitted = 0
            for frame in container.decode(stream):
                at = float(frame.time) if frame.time is not None else emitted / fps
                start = at if start is None else start
                # every output frame due before this source frame shows the previous one
                while current is not None and emitted < count and \
                        emitted / fps < at - start - 1e-6:
                    yield current
                    emitted += 1
                current = frame.to_ndarray(format="rgb24")
                if emitted >= count:
                    return
    except (av.FFmpegError, ValueError, OSError, IndexError):
        raise InvalidInput(f"`{param}` could not be decoded", param=param) from None
    if current is None:
        raise InvalidInput(f"`{param}` holds no frames", param=param)
    while emitted < count:
        yield current
        emitted += 1


def last_video_frame(path: Path, *, param: str) -> np.ndarray:
    """A video's last frame, RGB: decoded from the last keyframe at least a second before
    the end (a seek), not from the start; held one frame at a time."""
    last = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if container.duration:   # (in av.time_base units; lands on a keyframe before it)
                container.seek(max(0, container.duration - av.time_base), backward=True)
            for frame in container.decode(stream):
                last = frame
    except (av.FFmpegError, ValueError, OSError, IndexError):
        raise InvalidInput(f"`{param}` could not be decoded", param=param) from None
    if last is None:
        raise InvalidInput(f"`{param}` holds no frames", param=param)
    return last.to_ndarray(format="rgb24")


def soundtrack(clips: list[tuple[Path, str]], seconds: float) -> tuple[AudioTrack, str]:
    """Reference audio clips ``(path, param)``, one after another, as the video's soundtrack:
    48 kHz stereo, cut or padded with silence to exactly ``seconds`` (decoding stops once
    there is enough); also which was done (``cut``, ``padded with silence``, ``kept``)."""
    wanted = round(Fraction(seconds).limit_denominator(1000) * AUDIO_SAMPLE_RATE)
    parts: list[np.ndarray] = []
    for path, param in clips:
        parts.append(_decoded_audio(path, param, wanted - sum(p.shape[1] for p in parts)))
        if sum(p.shape[1] for p in parts) > wanted:
            break
    samples = np.concatenate(parts, axis=1)
    fitted = "cut" if samples.shape[1] > wanted else \
        "padded with silence" if samples.shape[1] < wanted else "kept"
    if samples.shape[1] >= wanted:
        samples = samples[:, :wanted]
    else:
        samples = np.pad(samples, ((0, 0), (0, wanted - samples.shape[1])))
    return AudioTrack(samples=np.ascontiguousarray(np.clip(samples, -1.0, 1.0)),
                      sample_rate=AUDIO_SAMPLE_RATE), fitted


def _decoded_audio(path: Path, param: str, most: int) -> np.ndarray:
    """A clip's samples as float32 (2, n) at 48 kHz, at most about ``most`` of them (a
    clip whose header understates its length cannot fill the memory)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    got = 0
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    got += chunks[-1].shape[1]
                if got > most:        # one sample past: enough to know it is cut
                    break
            else:
                chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    except (av.FFmpegError, ValueError, OSError, IndexError):
        raise InvalidInput(f"`{param}` could not be decoded", param=param) from None
    if not chunks:
        raise InvalidInput(f"`{param}` holds no audio", param=param)
    return np.concatenate(chunks, axis=1).astype(np.float32)
