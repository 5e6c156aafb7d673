"""MP4 encoding with PyAV: H.264 yuv420p, faststart, exact size, frame count and fps.

:class:`VideoWriter` streams RGB frames straight into libx264, one output frame per
``write`` (pts = frame index in a 1/fps time base, so nothing is dropped or duplicated),
with an optional AAC track cut to the video's length and the "AI generated" mark. The same
frames and settings give the same bytes: x264 is deterministic for a fixed thread count and
the MP4 muxer stamps no wall-clock time.

RGB → yuv420p goes through OpenCV's I420 conversion, several times faster than swscale
for the same BT.601 limited-range result; the stream is tagged to match so players decode
the colors we meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image

from framecast.media.watermark import Overlay, overlay_for

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000,
                    11025, 8000, 7350)
AAC_BITRATE_BPS = 128_000
AAC_FRAME_SAMPLES = 1024  # AAC-LC encodes 1024 samples per frame
# x264 frame threads. A fixed count keeps the bytes the same on every machine: x264 writes
# its settings (threads=N included) into the stream, and below 6 threads the encoded
# pictures match single-threaded ones for all but very fast vertical motion.
ENCODER_THREADS = 4
# x264's macroblock-tree rate control made the same frames encode to different bytes (and
# slightly different pictures) now and then when other threads loaded the CPU: 2–3 distinct
# outputs in 30 encodes of near-flat noisy frames. Without it, 30 of 30 agree.
X264_EXTRA = {"x264-params": "mbtree=0"}


@dataclass
class AudioTrack:
    """Mono or stereo PCM audio for the AAC track: float32 samples in [-1, 1],
    shape (channels, samples)."""

    samples: np.ndarray
    sample_rate: int


@dataclass
class VideoInfo:
    """What a written or probed MP4 holds."""

    width: int
    height: int
    frames: int
    fps: int
    duration_s: float
    has_audio: bool
    size_bytes: int


class VideoWriter:
    """Stream RGB frames (H×W×3 uint8) into an MP4; use as a context manager.

    ``watermark=True`` stamps "AI generated" bottom-right on every frame.
    ``close()`` (or leaving the ``with``) finishes the file and returns ``VideoInfo``;
    leaving the ``with`` on an exception deletes the partial file instead.
    Same frames in, same bytes out, for a given ``threads`` (x264 frame threads; 0 lets
    x264 pick by CPU count, which ties the bytes to the machine).
    """

    def __init__(self, path: Path, width: int, height: int, fps: int, *,
                 watermark: bool = False, audio: AudioTrack | None = None,
                 crf: int = 18, preset: str = "veryfast",
                 threads: int = ENCODER_THREADS) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"video size must be positive and even for yuv420p, "
                             f"got {width}x{height}")
        if not isinstance(fps, int) or fps <= 0:
            raise ValueError(f"fps must be a positive integer, got {fps!r}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be within [0, 51], got {crf}")
        if threads < 0:
            raise ValueError(f"threads must be 0 (auto) or more, got {threads}")
        if preset not in X264_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(X264_PRESETS)}, got {preset!r}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self._audio_samples = _checked_audio(audio) if audio is not None else None
        self._sample_rate = audio.sample_rate if audio is not None else 0
        self._audio_sent = 0  # samples handed to the AAC encoder so far
        self._overlay = overlay_for(width, height) if watermark else None
        self._frames = 0
        self._info: VideoInfo | None = None
        self._container = av.open(str(self.path), "w", format="mp4",
                                  options={"movflags": "+faststart"})
        try:
            self._video = self._container.add_stream("libx264", rate=fps)
            self._video.width, self._video.height = width, height
            self._video.pix_fmt = "yuv420p"
            # The muxer swaps the stream's time base for its own when it writes the header,
            # so frames keep a copy of ours: one tick per frame.
            self._time_base = Fraction(1, fps)
            self._video.time_base = self._time_base
            context = self._video.codec_context
            context.time_base = self._time_base
            # PyAV defaults to SLICE, which gives x264 sliced threads: each count encodes
            # differently and compresses worse. Frame threads scale better too.
            context.thread_type = "FRAME"
            context.thread_count = threads
            # Tag what cv2's I420 conversion produces: BT.601 matrix, limited range, on
            # sRGB (BT.709) primaries; untagged HD is read as BT.709 and would shift hues.
            context.colorspace = Colorspace.ITU601
            context.color_range = ColorRange.MPEG
            context.color_primaries = ColorPrimaries.BT709
            context.color_trc = ColorTrc.BT709
            self._video.options = {"crf": str(crf), "preset": preset, **X264_EXTRA}
            self._audio = None
            if self._audio_samples is not None:
                self._audio = self._container.add_stream("aac", rate=self._sample_rate)
                self._audio.layout = "mono" if len(self._audio_samples) == 1 else "stereo"
                self._audio.format = "fltp"
                self._audio.bit_rate = AAC_BITRATE_BPS
                self._audio_time_base = Fraction(1, self._sample_rate)
                self._audio.time_base = self._audio_time_base
        except BaseException:
            self._abort()
            raise

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._frames

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (H×W×3 uint8 RGB, exactly width×height)."""
        if self._container is None:
            raise ValueError("the video writer is closed")
        _check_frame(frame, self.width, self.height)
        frame = np.ascontiguousarray(frame)
        yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
        if self._overlay is not None:
            _stamp_i420(yuv, frame, self._overlay)
        picture = VideoFrame.from_ndarray(yuv, format="yuv420p")
        picture.pts = self._frames
        picture.time_base = self._time_base
        self._container.mux(self._video.encode(picture))
        self._frames += 1
        if self._audio is not None:
            # Keep audio level with the video so the file interleaves as it is written.
            self._send_audio(self._frames * self._sample_rate // self.fps, whole_frames=True)

    def close(self) -> VideoInfo:
        """Flush the encoder, write the moov atom first (faststart), return what was written."""
        if self._info is not None:
            return self._info
        if self._container is None:
            raise ValueError("the video writer was aborted")
        try:
            if self._frames == 0:
                raise ValueError("no frames were written")
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._send_audio(round(self._frames * self._sample_rate / self.fps),
                                 whole_frames=False)
                self._container.mux(self._audio.encode(None))
            # faststart: the muxer rewrites the file here with moov ahead of mdat.
            self._container.close()
        except BaseException:
            self._abort()
            raise
        self._container = None
        self._info = VideoInfo(width=self.width, height=self.height, frames=self._frames,
                               fps=self.fps, duration_s=self._frames / self.fps,
                               has_audio=self._audio is not None,
                               size_bytes=self.path.stat().st_size)
        return self._info

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is not None:
            self._abort()
        else:
            self.close()

    def _send_audio(self, until: int, *, whole_frames: bool) -> None:
        """Encode track samples up to sample index ``until``, silence past the track's end.

        While frames are still coming only whole AAC frames are sent; the final call sends
        the remainder as a short last frame, so the track ends with the video.
        """
        assert self._audio is not None and self._audio_samples is not None
        channels, available = self._audio_samples.shape
        layout = self._audio.layout.name
        while self._audio_sent < until:
            count = min(AAC_FRAME_SAMPLES, until - self._audio_sent)
            if whole_frames and count < AAC_FRAME_SAMPLES:
                break
            start = self._audio_sent
            chunk = np.zeros((channels, count), np.float32)
            if start < available:
                taken = self._audio_samples[:, start:start + count]
                chunk[:, : taken.shape[1]] = taken
            sound = AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            sound.sample_rate = self._sample_rate
            sound.pts = start
            sound.time_base = self._audio_time_base
            self._container.mux(self._audio.encode(sound))
            self._audio_sent += count

    def _abort(self) -> None:
        """Close the container however it can be closed and delete the partial file."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # the file is being thrown away anyway
                pass
        self.path.unlink(missing_ok=True)


def apply_watermark(frame: np.ndarray) -> np.ndarray:
    """Return a copy of ``frame`` with "AI generated" bottom-right, sized to the frame."""
    _check_frame(frame)
    height, width = frame.shape[:2]
    return overlay_for(width, height).stamp(frame)


def save_png(frame: np.ndarray, path: Path, *, watermark: bool = False) -> None:
    """Write an RGB frame as PNG (deterministic bytes)."""
    _check_frame(frame)
    if watermark:
        frame = apply_watermark(frame)
    # A fresh image carries no metadata, and zlib at a fixed level is deterministic.
    Image.fromarray(np.ascontiguousarray(frame)).save(Path(path), format="PNG",
                                                      compress_level=6)


JPEG_QUALITY = 95   # what the hosted Seedream's JPEGs look like: no visible artefacts


def save_image(frame: np.ndarray, path: Path, *, fmt: str = "png",
               watermark: bool = False) -> None:
    """Write an RGB frame as PNG or JPEG (``fmt``: ``png`` | ``jpeg``; deterministic bytes)."""
    if fmt == "png":
        save_png(frame, path, watermark=watermark)
        return
    if fmt != "jpeg":
        raise ValueError(f"unknown image format {fmt!r}")
    _check_frame(frame)
    if watermark:
        frame = apply_watermark(frame)
    Image.fromarray(np.ascontiguousarray(frame)).save(Path(path), format="JPEG",
                                                      quality=JPEG_QUALITY)


def probe(path: Path) -> VideoInfo:
    """Read an MP4's size, exact frame count (decoded), fps, duration and audio presence.

    Frames are counted by decoding every one of them, not taken from the header; the
    duration runs from the first frame's timestamp to the end of the last frame.
    """
    path = Path(path)
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        fps = round(float(rate)) if rate else 0
        frames, first_pts, last_pts = 0, None, None
        for frame in container.decode(stream):
            frames += 1
            if frame.pts is not None:
                first_pts = frame.pts if first_pts is None else min(first_pts, frame.pts)
                last_pts = frame.pts if last_pts is None else max(last_pts, frame.pts)
        if first_pts is not None and fps:
            duration_s = float((last_pts - first_pts) * stream.time_base) + 1 / fps
        else:
            duration_s = frames / fps if fps else 0.0
        return VideoInfo(width=stream.codec_context.width, height=stream.codec_context.height,
                         frames=frames, fps=fps, duration_s=round(duration_s, 6),
                         has_audio=bool(container.streams.audio),
                         size_bytes=path.stat().st_size)


def _check_frame(frame: np.ndarray, width: int | None = None, height: int | None = None) -> None:
    """Frames are H×W×3 uint8 RGB, and exactly the video's size when one is given."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"a frame must be an H×W×3 uint8 RGB array, got {shape} {dtype}")
    if width is not None and frame.shape[:2] != (height, width):
        raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}; the video is "
                         f"{width}x{height}")


def _stamp_i420(yuv: np.ndarray, frame: np.ndarray, overlay: Overlay) -> None:
    """Stamp the mark into an I420 buffer in place by converting only the patch.

    The patch sits on even coordinates with even sides, so its own I420 conversion equals
    the same region of the whole frame's: each chroma sample comes from one 2×2 block.
    """
    height, width = frame.shape[:2]
    x, y, w, h = overlay.x, overlay.y, overlay.width, overlay.height
    patch = cv2.cvtColor(overlay.blend(frame[y:y + h, x:x + w]), cv2.COLOR_RGB2YUV_I420)
    yuv[y:y + h, x:x + w] = patch[:h]
    planes, patch_planes = yuv.reshape(-1), patch.reshape(-1)
    luma, patch_luma = width * height, w * h
    for index in (0, 1):  # U then V, each a quarter-size plane after Y
        plane = planes[luma + index * luma // 4: luma + (index + 1) * luma // 4]
        part = patch_planes[patch_luma + index * patch_luma // 4:
                            patch_luma + (index + 1) * patch_luma // 4]
        plane.reshape(height // 2, width // 2)[y // 2:(y + h) // 2, x // 2:(x + w) // 2] = \
            part.reshape(h // 2, w // 2)


def _checked_audio(audio: AudioTrack) -> np.ndarray:
    """Audio as contiguous float32 (channels, samples) in [-1, 1]; mono may be 1-D."""
    if audio.sample_rate not in AAC_SAMPLE_RATES:
        raise ValueError(f"audio sample rate must be one of {AAC_SAMPLE_RATES}, "
                         f"got {audio.sample_rate}")
    samples = np.asarray(audio.samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.ndim != 2 or samples.shape[0] not in (1, 2):
        raise ValueError(f"audio must be (channels, samples) with 1 or 2 channels, "
                         f"got shape {samples.shape}")
    return np.ascontiguousarray(np.clip(np.nan_to_num(samples), -1.0, 1.0))
