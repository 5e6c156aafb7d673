"""The device check's dry run: ``bench/device_check.py --dry-run`` runs the same steps as on a
GPU machine (every diffusers engine through its engine class on a random pipeline saved with
``save_pretrained``, each output decoded and checked, then the Wan2.2 bench) on the CPU with
tiny pipelines, and writes the same report. So the script a lent GPU runs once has run here
first, and its report is known to hold what it should.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "device_check.py"
ENGINES = ("wan_i2v", "wan_vace", "ltx2", "zimage", "flux", "sdxl")
pytestmark = pytest.mark.slow       # about 30 s on two cores


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """One dry run for the module: its out folder, its JSON report and its stdout."""
    out = tmp_path_factory.mktemp("device-check")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    return out, json.loads((out / "device-check.json").read_text()), proc.stdout


def test_every_engine_passes_with_outputs_of_the_exact_size_frames_and_fps(
        dry_run: tuple[Path, dict, str]) -> None:
    """One pass row per engine, from its first (recommended) try; what was decoded from the
    file equals what was asked for: pixel size, and for video the frame count, fps and the
    soundtrack (LTX-2 asks for one), with pixels that are not all one value."""
    _, report, _ = dry_run
    assert report["dry_run"] is True
    assert [e["engine"] for e in report["engines"]] == list(ENGINES)
    for engine in report["engines"]:
        assert engine["status"] == "pass", engine
        first = engine["attempts"][0]
        assert first["label"] == "recommended" and first["ok"], first
        assert first["options"]["compile"] is True          # traced full-graph (eager)
        assert first["dropped"] == [], first["dropped"]     # framecast knows every option
        request, checks = engine["request"], first["checks"]
        assert checks["expected"] == checks["got"], checks
        assert checks["got"]["width"] == request["width"]
        assert checks["got"]["height"] == request["height"]
        if request["kind"] == "video":
            assert checks["got"]["frames"] == request["frames"]
            assert checks["got"]["fps"] == request["fps"] == 24
            assert checks["got"]["audio"] is request["audio"]
        assert checks["pixel_std"] > 1.0
        assert len(first["run_s"]) == 2 and first["steps"] >= 1
        assert first["s_per_step"] > 0 and first["compile_s"] is not None
    by_name = {e["engine"]: e for e in report["engines"]}
    # Wan generates natively at 16 fps and retimes; LTX-2 makes sound
    assert "flow-retimed" in by_name["wan_i2v"]["attempts"][0]["info"].get("retimed", "")
    assert by_name["ltx2"]["request"]["audio"] is True
    assert report["summary"] == {"engines": 6, "engines_passed": 6, "bench": "ok"}


def test_the_bench_reports_both_paths_compile_time_and_engine_memory(
        dry_run: tuple[Path, dict, str]) -> None:
    """The Wan2.2 bench ran its native-16-fps 480p case, baseline and fast path, with
    compile seconds and the whole engine's resident memory, and kept its own files."""
    out, report, _ = dry_run
    bench = report["bench"]
    assert bench["status"] == "ok"
    assert "--resolutions 480p-16fps" in bench["command"]
    (case,) = bench["results"]["results"]
    assert (case["model"], case["case"], case["fps"]) == ("wan22-a14b", "480p-16fps", 16)
    base, fast = case["configs"]["baseline"], case["configs"]["fast"]
    assert base["error"] is None and fast["error"] is None
    assert fast["compile_s"] is not None and base["compile_s"] is None
    assert base["engine_resident_gb"] > 0 and fast["engine_resident_gb"] > 0
    assert case["speedup"] > 0
    assert (out / "bench.json").is_file() and (out / "bench.md").is_file()


def test_the_markdown_summary_has_a_row_per_engine_and_the_bench(
        dry_run: tuple[Path, dict, str]) -> None:
    """device-check.md (also printed last) names each engine with its result, the bench's
    rows and the command; at most 8 files come back from a device call, all named plainly."""
    out, _, stdout = dry_run
    summary = (out / "device-check.md").read_text()
    assert summary.strip() == stdout.strip()
    assert "# Device check (DRY RUN" in summary
    for name in ENGINES:
        assert f"| {name} | " in summary and "**pass**" in summary
    assert "| wan22-a14b 480p-16fps | baseline |" in summary
    assert "| wan22-a14b 480p-16fps | fast |" in summary
    assert "Command: `python3 bench/device_check.py --dry-run" in summary
    files = sorted(p.name for p in out.iterdir())
    assert files == ["bench.json", "bench.md", "device-check.json", "device-check.log",
                     "device-check.md"]
