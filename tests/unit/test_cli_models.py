"""``framecast models`` and the start-up weights check of ``serve`` and ``worker``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from framecast.cli import app

RUNNER = CliRunner()


def write_config(tmp_path: Path, weights: str) -> Path:
    """A framecast.toml with one diffusers model whose weights are ``weights``."""
    path = tmp_path / "framecast.toml"
    path.write_text(f"""
[[models]]
id = "wan-local"
kind = "video"
engine = "wan_i2v"
weights = "{weights}"
aliases = ["my-video"]
""")
    return path


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No model is ever in this test's hub cache."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("FRAMECAST_CONFIG", "FRAMECAST_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_models_lists_builtins_and_configured_entries(tmp_path: Path) -> None:
    weights = tmp_path / "wan"
    weights.mkdir()
    result = RUNNER.invoke(app, ["models", "--config", str(write_config(tmp_path, str(weights)))])
    assert result.exit_code == 0, result.output
    assert "seedance-1-0-pro" in result.output and "motion" in result.output
    assert "not needed" in result.output            # CPU engines need no weights
    assert "wan-local" in result.output and "wan_i2v" in result.output
    assert "missing" not in result.output


def test_models_names_missing_weights_and_the_fetch_command(tmp_path: Path) -> None:
    config = write_config(tmp_path, "Wan-AI/Wan2.2-I2V-A14B-Diffusers")
    result = RUNNER.invoke(app, ["models", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "missing" in result.output
    assert "model `wan-local` (engine wan_i2v)" in result.output
    assert "hf download Wan-AI/Wan2.2-I2V-A14B-Diffusers" in result.output


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_worker_refuses_to_start_without_its_weights(tmp_path: Path, command: str) -> None:
    config = write_config(tmp_path, "/nonexistent/wan22")
    result = RUNNER.invoke(app, [command, "--config", str(config),
                                 "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "model `wan-local` (engine wan_i2v): weights folder /nonexistent/wan22 does not " \
           "exist" in result.output
    assert "hf download <org>/<repo> --local-dir /nonexistent/wan22" in result.output
    assert "--allow-missing-weights" in result.output


def test_an_api_only_server_does_not_need_weights(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda app_, **kw: started.append(app_))
    config = write_config(tmp_path, "/nonexistent/wan22")
    result = RUNNER.invoke(app, ["serve", "--no-worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert len(started) == 1
