"""The device check: one call on a lent GPU machine that proves the six diffusers engines on
CUDA and measures the Wan2.2 fast path, within 9 minutes.

In order, against one deadline (``--budget-s``, 540 s by default):

1. **Install** the wheelhouse (``bench/wheelhouse.py``: diffusers, torchao, PyAV, pydantic,
   ...; carried as ``.whl/``) offline with ``pip install --no-index --no-deps --target``, beside
   the machine's own torch (the children get the folder on ``PYTHONPATH``; framecast itself
   runs from ``src/``, nothing of it installed).
2. **Engines**: each of ``wan_i2v``, ``wan_vace``, ``ltx2``, ``zimage``, ``flux``, ``sdxl``
   through its real engine class on a random pipeline saved with ``save_pretrained``
   (``bench/_device_engines.py``, one child process per engine, all six at once by default,
   each with a time limit): bf16 with the recommended options (``quantize = "fp8"``, cuDNN
   attention, ``compile = true``), plain bf16 when those fail; each output decoded and
   checked (pixel size, frames, fps, soundtrack). 480p video, 1024² images.
3. **Bench**: ``bench/gpu_engines.py --models wan22-a14b --resolutions 480p-16fps`` at full
   model size with what is left of the budget (baseline and fast path, compile seconds,
   MFU, speed-up, the engine's resident and peak memory).
4. **Report**: ``device-check.json`` and ``device-check.md`` under ``--out`` (device, driver,
   versions, per-engine pass/fail with the reason, seconds per step and per output, compile
   seconds, memory; the bench's table), plus ``bench.json``, ``bench.md`` and
   ``device-check.log`` (the children's last output).

On the device (``run`` tool; carry ``.whl``, timeout 600 s)::

    python3 bench/device_check.py --out $OUT

``--dry-run`` runs the same steps on the CPU with tiny pipelines and ``--tiny`` for the bench,
skipping the install; ``make test`` runs it (tests/engines/test_device_check.py). The exit
status is 0 when every engine passed with its recommended options and the bench completed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("wan_i2v", "wan_vace", "ltx2", "zimage", "flux", "sdxl")
BUDGET_S = 540.0              # the whole check: 9 minutes of a 10-minute call
ENGINES_BUDGET_S = 210.0      # the engines' share; the bench gets the rest
ENGINE_TIMEOUT_S = 150.0      # one engine child (build, two tries, two runs each)
MARGIN_S = 15.0               # kept back for the report
BENCH_STAGE_S = 45.0          # the bench starts no stage this close to its end
LOG_TAIL_CHARS = 6000


@dataclass
class Clock:
    """Seconds since the check began, and what is left of its budget."""

    budget_s: float
    began: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.began

    def left(self) -> float:
        """Seconds until the budget is spent (never below 0)."""
        return max(0.0, self.budget_s - self.elapsed())


def tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    """The end of ``text``, at most ``limit`` characters."""
    return text if len(text) <= limit else "…" + text[-limit:]


# -- 1. install -----------------------------------------------------------------------------


def install(wheels: Path, site: Path) -> dict[str, Any]:
    """``pip install`` every wheel of ``wheels`` into ``site``, offline and without
    dependencies (the README's recipe); the outcome, never raised."""
    found = sorted(wheels.glob("*.whl"))
    out: dict[str, Any] = {"wheels": [p.name for p in found], "site": str(site),
                           "mib": round(sum(p.stat().st_size for p in found) / 2**20, 2)}
    if not found:
        return {**out, "status": "failed", "error": f"no wheels in {wheels}: run "
                f"`python3 bench/wheelhouse.py` before the call and carry {wheels.name}"}
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index",
                           "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade",
                           "--target", str(site), *map(str, found)],
                          capture_output=True, text=True)
    out["seconds"] = round(time.monotonic() - began, 1)
    if proc.returncode != 0:
        return {**out, "status": "failed", "error": tail(proc.stderr, 2000)}
    return {**out, "status": "ok"}


def child_env(site: Path | None, work: Path) -> dict[str, str]:
    """The children's environment: the installed wheels and framecast's sources on the path,
    nothing fetched from the hub, one inductor cache for all of them."""
    paths = [str(p) for p in (site, ROOT / "src", ROOT) if p is not None]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor")}


def machine() -> dict[str, Any]:
    """The host and, where ``nvidia-smi`` answers, the GPU and its driver."""
    out: dict[str, Any] = {"python": platform.python_version(), "host": platform.node(),
                           "cpus": os.cpu_count(), "platform": platform.platform()}
    if shutil.which("nvidia-smi"):
        try:
            line = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                 "--format=csv,noheader"], capture_output=True, text=True, timeout=30,
                check=True).stdout.strip().splitlines()[0]
            name, driver, memory = (part.strip() for part in line.split(","))
            out.update(gpu=name, driver=driver, gpu_memory=memory)
        except (OSError, subprocess.SubprocessError, IndexError, ValueError) as exc:
            out["nvidia_smi_error"] = str(exc)[:300]
    return out


# -- 2. engines -----------------------------------------------------------------------------


@dataclass
class Child:
    """One running engine child: its engines, process, files and time limit."""

    engines: list[str]
    proc: subprocess.Popen[bytes]
    json_path: Path
    log_path: Path
    deadline: float
    began: float = field(default_factory=time.monotonic)


def start_child(engines: list[str], args: argparse.Namespace, work: Path,
                env: dict[str, str], timeout_s: float) -> Child:
    """Start ``bench/_device_engines.py`` on ``engines``."""
    tag = "-".join(engines) if len(engines) == 1 else "all"
    json_path, log_path = work / f"engines-{tag}.json", work / f"engines-{tag}.log"
    command = [sys.executable, str(ROOT / "bench" / "_device_engines.py"),
               "--engines", ",".join(engines), "--size", "tiny" if args.dry_run else "small",
               "--device", "cpu" if args.dry_run else "cuda", "--work", str(work / "engines"),
               "--json", str(json_path)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    return Child(engines, proc, json_path, log_path, time.monotonic() + timeout_s)


def finish_child(child: Child, timed_out: bool) -> tuple[list[dict[str, Any]], dict, str]:
    """What a child reported (one entry per engine it was given; those it did not finish
    are failures that say why), its environment, and its log's end."""
    log = child.log_path.read_text(errors="replace") if child.log_path.exists() else ""
    data: dict[str, Any] = {}
    if child.json_path.exists():
        try:
            data = json.loads(child.json_path.read_text())
        except ValueError:
            data = {}
    done = {e["engine"]: e for e in data.get("engines", [])}
    seconds = time.monotonic() - child.began
    why = (f"timed out after {seconds:.0f} s (the child was killed)" if timed_out else
           f"the child exited with {child.proc.returncode} before reporting it")
    last = [line for line in log.splitlines() if line.strip()][-1:] or [""]
    results = [done.get(name) or {"engine": name, "status": "fail", "attempts": [],
                                  "reason": f"{why}; last output: {last[0][:300]}"}
               for name in child.engines]
    return results, data.get("environment", {}), tail(log)


def run_engines(args: argparse.Namespace, work: Path, env: dict[str, str],
                clock: Clock) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Every engine of ``args.engines``, ``args.jobs`` children at a time (one child for all
    of them in a dry run, where importing torch per engine would cost more than the work),
    none started after the engines' share of the budget; results in ``args.engines`` order."""
    names = list(args.engines)
    groups = [names] if args.dry_run else [[n] for n in names]
    engines_end = time.monotonic() + min(args.engines_budget_s, clock.left() - MARGIN_S)
    pending, running = list(groups), []
    results: dict[str, dict[str, Any]] = {}
    environment: dict[str, Any] = {}
    logs: list[str] = []
    while pending or running:
        while pending and len(running) < args.jobs and time.monotonic() < engines_end - 20:
            limit = min(args.engine_timeout_s, engines_end - time.monotonic())
            running.append(start_child(pending.pop(0), args, work, env, limit))
        if not running:            # the share is spent: what is left is not started
            for group in pending:
                for name in group:
                    results[name] = {"engine": name, "status": "fail", "attempts": [],
                                     "reason": "not started: the engines' share of the "
                                               "time budget was spent"}
            break
        time.sleep(0.5)
        for child in list(running):
            timed_out = child.proc.poll() is None and time.monotonic() > child.deadline
            if timed_out:
                child.proc.kill()
                child.proc.wait()
            if child.proc.poll() is None:
                continue
            running.remove(child)
            done, child_env_info, log = finish_child(child, timed_out)
            environment = environment or child_env_info
            logs.append(f"== engines {', '.join(child.engines)} (exit "
                        f"{child.proc.returncode}) ==\n{log}")
            for result in done:
                results[result["engine"]] = result
                print(f"  {result['engine']}: {result['status']}"
                      f"{'' if result['status'] == 'pass' else ' - ' + str(result['reason'])}",
                      file=sys.stderr, flush=True)
    return [results[n] for n in names], environment, logs


# -- 3. bench -------------------------------------------------------------------------------


def run_bench(args: argparse.Namespace, out: Path, env: dict[str, str],
              clock: Clock) -> dict[str, Any]:
    """``bench/gpu_engines.py`` on the Wan2.2 480p case with what is left of the budget; its
    JSON and report are kept under ``out``."""
    seconds = clock.left() - MARGIN_S
    if args.skip_bench or seconds < 60:
        why = "--skip-bench" if args.skip_bench else f"only {seconds:.0f} s left"
        return {"status": "skipped", "reason": why}
    bench_json = out / "bench.json"
    command = [sys.executable, str(ROOT / "bench" / "gpu_engines.py"), "--models", "wan22-a14b",
               "--resolutions", "480p-16fps", "--json", str(bench_json),
               "--time-budget-s", f"{max(10.0, seconds - BENCH_STAGE_S):.0f}"]
    if args.dry_run:
        command += ["--tiny", "--device", "cpu", "--repeats", "1"]
    else:
        # cuDNN attention: no package or download needed, and fast on Hopper
        command += ["--repeats", "2", "--attention-backends", "_native_cudnn"]
    began = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=seconds)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        status = f"timed out after {seconds:.0f} s"
        stdout = (exc.stdout or b"").decode(errors="replace") if isinstance(
            exc.stdout, bytes) else (exc.stdout or "")
        stderr = (exc.stderr or b"").decode(errors="replace") if isinstance(
            exc.stderr, bytes) else (exc.stderr or "")
    if stdout:
        (out / "bench.md").write_text(stdout)
    results = json.loads(bench_json.read_text()) if bench_json.exists() else None
    return {"status": status, "seconds": round(time.monotonic() - began, 1),
            "command": shlex.join(["python3", *[str(Path(c).relative_to(ROOT))
                                                if c.startswith(str(ROOT)) else c
                                                for c in command[1:]]]),
            "results": results, "stderr_tail": tail(stderr, 3000)}


# -- 4. report ------------------------------------------------------------------------------


def chosen(result: dict[str, Any]) -> dict[str, Any]:
    """The try an engine's figures come from: the first that passed, else the last."""
    attempts = result.get("attempts") or [{}]
    return next((a for a in attempts if a.get("ok")), attempts[-1])


def cell(text: Any, limit: int = 300) -> str:
    """Text fit for one Markdown table cell."""
    return str(text).replace("|", "/").replace("\n", " ")[:limit]


def num(value: Any, spec: str = ".2f") -> str:
    """A number for a table cell; ``–`` when missing."""
    return "–" if value is None else f"{value:{spec}}"


def engine_rows(engines: list[dict[str, Any]]) -> list[str]:
    """The engines' table."""
    rows = ["| engine | request | result | options | load s | first run s | s/output "
            "| s/step | compile s | resident GB | peak GB | decoded | reason |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for result in engines:
        request = result.get("request") or {}
        if request.get("kind") == "video":
            asked = (f"{request['width']}×{request['height']}, {request['frames']} frames "
                     f"@ {request['fps']} fps{' + audio' if request.get('audio') else ''}")
        elif request:
            asked = f"{request['width']}×{request['height']} image"
        else:
            asked = "–"
        a = chosen(result)
        options = ", ".join(f"{k}={v}" for k, v in (a.get("options") or {}).items()
                            if k != "warmup") or "–"
        got = (a.get("checks") or {}).get("got")
        decoded = ", ".join(f"{k} {v}" for k, v in got.items()) if got else "–"
        runs = a.get("run_s") or []
        reason = cell(result.get("reason") or "")
        rows.append("| " + " | ".join([
            result["engine"], asked, f"**{result['status']}**" + (
                f" ({a.get('label')})" if a.get("label") else ""), options,
            num(a.get("load_s"), ".1f"), num(runs[0] if runs else None, ".1f"),
            num(a.get("s_per_output"), ".2f"), num(a.get("s_per_step"), ".3f"),
            num(a.get("compile_s"), ".1f"), num(a.get("resident_gb"), ".2f"),
            num(a.get("peak_gb"), ".2f"), cell(decoded), reason]) + " |")
    return rows


def bench_rows(bench: dict[str, Any]) -> list[str]:
    """The bench's headline table (its full report is bench.md)."""
    data = bench.get("results")
    if not data:
        return [f"Bench: {bench['status']}" + (f" ({bench.get('reason')})"
                                               if bench.get("reason") else "")]
    rows = [f"Bench: {bench['status']} in {bench.get('seconds')} s: `{bench.get('command')}`",
            "", "| case | config | attention | fp8 | compile | s/step | compile s | s/output "
            "| MFU (989) | speed-up | DiT peak GB | engine resident GB | engine peak GB |",
            "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in data.get("results", []):
        for name, c in case["configs"].items():
            speed = "1.0×" if name == "baseline" else (
                f"{case['speedup']:.1f}×" if case.get("speedup") else "–")
            mfu = c.get("mfu_vs_989")
            rows.append("| " + " | ".join([
                f"{case['model']} {case['case']}", name, cell(c["attention"], 60),
                cell(c["quantize"], 40), cell(c["compile"], 40),
                cell(c["error"], 80) if c.get("error") else num(c.get("s_per_step"), ".3f"),
                num(c.get("compile_s"), ".1f"), num(c.get("s_per_output"), ".1f"),
                f"{mfu:.0%}" if mfu else "–", speed, num(c.get("peak_gb"), ".1f"),
                num(c.get("engine_resident_gb"), ".1f"),
                num(c.get("engine_peak_gb"), ".1f")]) + " |")
    for check in (data.get("goal") or {}).get("checks", []):
        rows.append(f"\nGoal at {check['case']}: {num(check['fast_s_per_video'], '.1f')} s per "
                    f"video ({'met' if check['time_met'] else 'NOT met'}, goal ≤ 15 s), "
                    f"speed-up {num(check['speedup'], '.1f')}× "
                    f"({'met' if check['speedup_met'] else 'NOT met'}, goal ≥ 10×)")
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The Markdown summary."""
    m, e = report["machine"], report.get("environment") or {}
    device = m.get("gpu") or e.get("device_name") or e.get("device") or "CPU"
    lines = [f"# Device check{' (DRY RUN: CPU, tiny pipelines)' * report['dry_run']}", "",
             f"- device: {device}, driver {m.get('driver', '–')}, "
             f"{m.get('gpu_memory', '–')}; {m.get('cpus')} CPUs",
             f"- torch {e.get('torch', '–')} (CUDA {e.get('cuda') or '–'}), diffusers "
             f"{e.get('diffusers', '–')}, torchao {e.get('torchao', '–')}, transformers "
             f"{e.get('transformers', '–')}, PyAV {e.get('av', '–')}, OpenCV "
             f"{e.get('opencv-python-headless', '–')}, Python {e.get('python', m['python'])}",
             f"- wheelhouse: {report['install']['status']}"
             + (f" ({len(report['install'].get('wheels', []))} wheels, "
                f"{report['install'].get('mib')} MiB, {report['install'].get('seconds')} s)"
                if report["install"].get("wheels") else "")
             + (f": {report['install']['error']}" if report["install"].get("error") else ""),
             f"- {report['elapsed_s']:.0f} s of a {report['budget_s']:.0f} s budget; "
             f"engines passed: {report['summary']['engines_passed']} of "
             f"{report['summary']['engines']}", "",
             "## Engines", "",
             "Random pipelines saved with `save_pretrained`, loaded and run by the engine "
             "classes; each output decoded and checked. Children ran "
             f"{report['jobs']} at a time, so their seconds are a check that they run, not a "
             "benchmark. compile s = first run − second run.", "",
             *engine_rows(report["engines"]), "", "## Wan2.2-A14B at full size", "",
             *bench_rows(report["bench"]), "",
             f"Command: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Install, check the engines, run the bench, write the report; 0 when everything
    passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the report goes")
    parser.add_argument("--dry-run", action="store_true",
                        help="on the CPU with tiny pipelines, no install (make test runs it)")
    parser.add_argument("--wheels", type=Path, default=ROOT / ".whl",
                        help="the wheelhouse to install (default: .whl/)")
    parser.add_argument("--site", type=Path, default=Path("/tmp/framecast-site"),
                        help="where the wheels are installed (default: /tmp/framecast-site)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S,
                        help=f"the whole check's seconds (default: {BUDGET_S:.0f})")
    parser.add_argument("--engines-budget-s", type=float, default=ENGINES_BUDGET_S,
                        help=f"the engines' share (default: {ENGINES_BUDGET_S:.0f})")
    parser.add_argument("--engine-timeout-s", type=float, default=ENGINE_TIMEOUT_S,
                        help=f"one engine child's limit (default: {ENGINE_TIMEOUT_S:.0f})")
    parser.add_argument("--engines", type=lambda s: [e.strip() for e in s.split(",")],
                        default=list(ENGINES), help="comma-separated (default: all six)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="engine children at a time (default: all; 1 in a dry run)")
    parser.add_argument("--skip-bench", action="store_true", help="engines only")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {', '.join(unknown)} (of {', '.join(ENGINES)})")
    # all at once on the device: 16 cores share the compiles, and the bench gets the time
    args.jobs = args.jobs or (1 if args.dry_run else len(args.engines))
    clock = Clock(args.budget_s)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="framecast-device-check-"))
    print(f"device check{' (dry run)' * args.dry_run}: work in {work}", file=sys.stderr)

    if args.dry_run:
        installed: dict[str, Any] = {"status": "skipped (dry run: this interpreter's "
                                               "packages)"}
        site = None
    else:
        installed = install(args.wheels, args.site)
        site = args.site if installed["status"] == "ok" else None
        print(f"install: {installed['status']}", file=sys.stderr, flush=True)
    env = child_env(site, work)
    engines, environment, logs = run_engines(args, work, env, clock)
    bench = run_bench(args, args.out, env, clock)
    print(f"bench: {bench['status']}", file=sys.stderr, flush=True)

    passed = sum(1 for e in engines if e["status"] == "pass")
    report = {
        "dry_run": args.dry_run, "budget_s": args.budget_s, "elapsed_s": clock.elapsed(),
        "jobs": args.jobs, "command": shlex.join(["python3", "bench/device_check.py",
                                                  *(argv if argv is not None
                                                    else sys.argv[1:])]),
        "machine": machine(), "environment": environment, "install": installed,
        "engines": engines, "bench": {k: v for k, v in bench.items() if k != "results"},
        "summary": {"engines": len(engines), "engines_passed": passed,
                    "bench": bench["status"]}}
    report["bench"]["results"] = bench.get("results")
    (args.out / "device-check.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "device-check.md").write_text(markdown(report))
    (args.out / "device-check.log").write_text(
        "\n\n".join([*logs, "== bench stderr ==\n" + str(bench.get("stderr_tail", ""))]))
    shutil.rmtree(work, ignore_errors=True)
    print(markdown(report))
    return 0 if passed == len(engines) and bench["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
