"""Unit tests of ``service/registry.py``: built-in ids, both vendors' spellings, and
``framecast.toml`` entries over built-ins."""

from __future__ import annotations

import pytest

from framecast.core.errors import NotFound
from framecast.service.registry import Registry, parse_config


def test_registry_resolves_both_spellings_case_insensitively() -> None:
    reg = Registry.load(None)
    for name in ("doubao-seedance-1-0-pro-250528", "seedance-1-0-pro-250528",
                 "bytedance/seedance-1-0-pro-i2v", "ByteDance/Image-To-Video-Seedance-V1",
                 "dreamina-seedance-2-0-260128"):
        assert reg.resolve(name).engine == "motion"
    assert reg.resolve("doubao-seedream-3-0-t2i-250415").engine == "testcard"
    with pytest.raises(NotFound) as e:
        reg.resolve("ep-20250101-nope")
    assert e.value.param == "model"
    with pytest.raises(NotFound):
        reg.resolve("seedream-3-0-t2i", kind="video")


def test_registry_config_overrides_builtin(tmp_path) -> None:
    cfg = tmp_path / "framecast.toml"
    cfg.write_text('[[models]]\nid = "my-wan"\nkind = "video"\nengine = "sleeps"\n'
                   'aliases = ["doubao-seedance-1-0-pro-250528"]\nsize_family = "seedance-1.5"\n'
                   '[models.options]\nseconds = 1\n')
    reg = Registry.load(cfg)
    entry = reg.resolve("doubao-seedance-1-0-pro-250528")
    assert entry.id == "my-wan" and entry.options == {"seconds": 1}
    assert reg.resolve("seedance-1-0-pro").engine == "motion"
    cfg.write_text('[[models]]\nid = "x"\nkind = "audio"\nengine = "motion"\n')
    with pytest.raises(Exception, match="kind must be video or image"):
        parse_config(cfg)
