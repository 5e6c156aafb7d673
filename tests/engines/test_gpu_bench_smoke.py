"""Smoke test of ``bench/gpu_engines.py``: its ``--tiny`` mode runs the same code path as the
full-size GPU benchmark (build on the device, random init, baseline, fast path with its
fallbacks, components, report) with tiny models on the CPU, in seconds.

On a CPU fp8 and the fast attention backends are unavailable: the run must say so and go
on, so this also checks the degradation path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_engines.py"


def test_tiny_run_reports_both_configurations(tmp_path: Path) -> None:
    """``--tiny --device cpu --json``: every case has a baseline and a fast configuration
    with positive step times, a speed-up ratio, compile seconds for the compiled fast path,
    the whole engine's memory, and the report names the command. The 480p case at Wan's
    native 16 fps (retimed to 24) keeps it well under 30 s on two cores."""
    out = tmp_path / "gpu.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu",
                           "--resolutions", "480p-16fps", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Command: `.venv/bin/python bench/gpu_engines.py --tiny --device cpu" in proc.stdout
    assert "| model | case |" in proc.stdout
    assert "| compile s |" in proc.stdout and "| engine peak GB |" in proc.stdout

    data = json.loads(out.read_text())
    assert data["tiny"] is True
    results = data["results"]
    assert {r["model"] for r in results} == {"wan22-a14b", "zimage"}
    assert {r["case"] for r in results if r["model"] == "wan22-a14b"} == {"480p-16fps"}
    for result in results:
        configs = result["configs"]
        assert set(configs) == {"baseline", "fast"}, result
        for name, config in configs.items():
            assert config["error"] is None, (result["case"], name, config["error"])
            assert config["s_per_step"] > 0
            assert config["s_per_output"] > config["s_per_step"]
            assert config["flops_per_step"] > 0
            assert config["finite"] is True
            assert config["warmup_s"] > 0
            # the whole engine (both experts / the DiT, text encoder, VAE), computed on the
            # CPU from the modules' bytes (fp32 here): more than the timed denoiser alone
            assert config["engine_resident_gb"] * 1e9 > 4 * result["params"], config
            assert config["engine_memory"].startswith("resident computed"), config
        base, fast = configs["baseline"], configs["fast"]
        assert base["compile_s"] is None                    # nothing compiled
        assert fast["compile"].startswith("repeated blocks, fullgraph")
        assert fast["compile_s"] is not None and fast["compile_s"] >= 0
        assert result["speedup"] is not None and result["speedup"] > 0
        assert result["step_speedup"] is not None and result["step_speedup"] > 0

    wan = next(r for r in results if r["model"] == "wan22-a14b")
    assert (wan["frames"], wan["fps"]) == (5, 16)           # 81 at 16 fps, scaled down
    base, fast = wan["configs"]["baseline"], wan["configs"]["fast"]
    assert (base["steps"], base["forwards_per_step"], base["text_encodes"]) == (40, 2, 2)
    assert (fast["steps"], fast["forwards_per_step"], fast["text_encodes"]) == (4, 1, 1)
    assert base["flops_per_step"] == 2 * fast["flops_per_step"]
    assert fast["retime_s"] > 0 and fast["encode_s"] > 0    # 16 → 24 fps, then H.264
    # two experts of the timed size at least
    assert base["engine_resident_gb"] * 1e9 > 2 * 4 * wan["params"]
    # fp8 needs a Hopper-class GPU: on the CPU it is reported, not fatal
    assert fast["quantize"].startswith("unavailable (")
    assert "unavailable (" in fast["attention"]


def test_a_case_the_engine_never_runs_is_refused() -> None:
    """``480p`` (121 frames generated natively) is gone: the engine generates 81 at 16 fps
    and retimes, so the bench says which case to use instead."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--resolutions", "480p"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "'480p' generated 121 frames natively" in proc.stderr
    assert "use '480p-16fps'" in proc.stderr
