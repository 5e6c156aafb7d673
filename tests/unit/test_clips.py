"""Reference clips: checked from their headers (container, stream, duration, size) without a
decode, then decoded in the worker as keyframes and as a soundtrack cut or padded to the
clip. The inputs are made here: a camera move over a photograph, and a tone."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from framecast.core.errors import InvalidInput, PayloadTooLarge
from framecast.media.clips import (
    ClipLimits,
    last_video_frame,
    probe_clip,
    soundtrack,
    video_keyframes,
)
from tests.clips import camera_move, tone


def test_a_video_is_checked_from_its_header(tmp_path: Path) -> None:
    data = camera_move(tmp_path / "a.mp4", 3).read_bytes()
    header = probe_clip(data, kind="video", param="content[1].video_url.url")
    assert (header.container, header.codec, header.width, header.height) == (
        "mov", "h264", 320, 240)
    assert header.seconds == pytest.approx(3.0, abs=0.05)
    assert (header.content_type, header.extension) == ("video/mp4", "mp4")


def test_an_audio_file_is_checked_from_its_header() -> None:
    header = probe_clip(tone(2.5), kind="audio", param="a")
    assert (header.container, header.codec) == ("wav", "pcm_s16le")
    assert header.seconds == pytest.approx(2.5)
    assert (header.content_type, header.extension) == ("audio/wav", "wav")


@pytest.mark.parametrize(("seconds", "ok"), [(1.9, False), (2.0, True), (30.0, True),
                                             (30.1, False)])
def test_clip_lengths_at_and_past_the_edges(seconds: float, ok: bool) -> None:
    data = tone(seconds, rate=8000)
    if ok:
        assert probe_clip(data, kind="audio", param="a").seconds == pytest.approx(seconds)
        return
    with pytest.raises(InvalidInput) as caught:
        probe_clip(data, kind="audio", param="content[2].audio_url.url")
    assert caught.value.param == "content[2].audio_url.url"
    assert "2–30 s" in caught.value.message


def test_what_is_not_a_clip_of_its_kind_is_refused_naming_the_field(tmp_path: Path) -> None:
    video = camera_move(tmp_path / "a.mp4", 2.5).read_bytes()
    for data, kind in ((b"not a video at all" * 50, "video"), (tone(3), "video"),
                       (video, "audio"), (b"\x89PNG\r\n\x1a\n" + bytes(200), "audio")):
        with pytest.raises(InvalidInput) as caught:
            probe_clip(data, kind=kind, param="p")
        assert caught.value.param == "p"
    at_edge = ClipLimits(max_video_bytes=len(video), max_audio_bytes=len(tone(3)))
    probe_clip(video, kind="video", param="p", limits=at_edge)            # exactly the cap
    probe_clip(tone(3), kind="audio", param="p", limits=at_edge)
    for data, kind, limits in (
            (video, "video", ClipLimits(max_video_bytes=len(video) - 1)),
            (tone(3), "audio", ClipLimits(max_audio_bytes=len(tone(3)) - 1))):
        with pytest.raises(PayloadTooLarge) as caught:
            probe_clip(data, kind=kind, param="p", limits=limits)
        assert caught.value.param == "p"
    with pytest.raises(InvalidInput, match="px a side"):
        probe_clip(video, kind="video", param="p", limits=ClipLimits(min_side=300))


def test_keyframes_are_evenly_spaced_from_first_to_last(tmp_path: Path) -> None:
    path = camera_move(tmp_path / "a.mp4", 2)
    frames = video_keyframes(path, 4, param="v")
    assert len(frames) == 4 and frames[0].shape == (240, 320, 3)
    with av.open(str(path)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert np.array_equal(frames[0], every[0]) and np.array_equal(frames[-1], every[-1])
    assert np.array_equal(frames[1], every[16]) and np.array_equal(frames[2], every[31])
    assert np.array_equal(last_video_frame(path, param="v"), every[-1])   # found by a seek


@pytest.mark.parametrize(("clip_s", "video_s"), [(3.0, 2.0), (2.0, 4.04)])
def test_a_soundtrack_is_cut_or_padded_to_the_video(tmp_path: Path, clip_s: float,
                                                    video_s: float) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(tone(clip_s))
    track, fitted = soundtrack([(path, "a")], video_s)
    assert fitted == ("cut" if clip_s > video_s else "padded with silence")
    assert track.sample_rate == 48000 and track.samples.shape == (2, round(video_s * 48000))
    sound = np.abs(track.samples[0]) > 0.01
    assert sound[: round(min(clip_s, video_s) * 48000) - 100].mean() > 0.9
    if clip_s < video_s:
        assert not sound[round(clip_s * 48000) + 100:].any()      # silence after the clip


def test_a_clip_that_does_not_decode_fails_naming_its_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(camera_move(tmp_path / "a.mp4", 2).read_bytes()[:400])
    with pytest.raises(InvalidInput) as caught:
        video_keyframes(path, 4, param="content[1].video_url.url")
    assert caught.value.param == "content[1].video_url.url"
