"""Unit tests of ``dialects/ark/flags.py``: ``--flag value`` prompt parameters, long and
short, anywhere in the text, in linear time."""

from __future__ import annotations

import pytest

from framecast.core.errors import (
    InvalidInput,
)
from framecast.dialects.ark import flags

# -- prompt flags -----------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "field", "raw"), [
    ("a cat --resolution 720p", "resolution", "720p"),
    ("a cat --rs 720p", "resolution", "720p"),
    ("a cat --ratio 4:3", "ratio", "4:3"),
    ("a cat --rt 4:3", "ratio", "4:3"),
    ("a cat --duration 7", "duration", "7"),
    ("a cat --dur 7", "duration", "7"),
    ("a cat --frames 29", "frames", "29"),
    ("a cat --framespersecond 24", "framespersecond", "24"),
    ("a cat --fps 24", "framespersecond", "24"),
    ("a cat --seed 42", "seed", "42"),
    ("a cat --camerafixed true", "camera_fixed", "true"),
    ("a cat --cf true", "camera_fixed", "true"),
    ("a cat --watermark false", "watermark", "false"),
    ("a cat --wm false", "watermark", "false"),
])
def test_every_flag_long_and_short_is_parsed_and_stripped(prompt: str, field: str,
                                                          raw: str) -> None:
    parsed = flags.parse_prompt_flags(prompt)
    assert parsed.prompt == "a cat"
    assert parsed.values == {field: raw}


def test_flags_anywhere_with_odd_spacing_quotes_and_case() -> None:
    parsed = flags.parse_prompt_flags(
        '  --RS 480p a red\tfox   --rt "9:16"  jumps --dur=3 over\n--seed  -1 the fence --CF   '
        "'false'")
    assert parsed.prompt == "a red\tfox jumps over the fence"
    assert parsed.values == {"resolution": "480p", "ratio": "9:16", "duration": "3", "seed": "-1",
                            "camera_fixed": "false"}


def test_unknown_flags_and_dashes_stay_in_the_prompt() -> None:
    parsed = flags.parse_prompt_flags("a cat --fr 29 --foo bar -- fast, x--rs 720p --rsx 1")
    assert parsed.prompt == "a cat --fr 29 --foo bar -- fast, x--rs 720p --rsx 1"
    assert parsed.values == {}


def test_repeated_flag_keeps_the_last_value_and_trailing_punctuation_is_dropped() -> None:
    parsed = flags.parse_prompt_flags("a cat --rs 480p --rs 720p. --dur 4,")
    assert parsed.values == {"resolution": "720p", "duration": "4"}
    assert parsed.prompt == "a cat"


@pytest.mark.parametrize("prompt", ["a cat --rs", "a cat --rs --rt 16:9", "a cat --cf "])
def test_flag_without_a_value_is_rejected(prompt: str) -> None:
    with pytest.raises(InvalidInput):
        flags.parse_prompt_flags(prompt)


def test_parsing_is_linear_and_the_raw_text_is_capped() -> None:
    import time

    started = time.perf_counter()
    assert flags.parse_prompt_flags(" " * 19_980 + "x --rs 480p").prompt == "x"
    assert flags.parse_prompt_flags("--rs 480p " * 1_900).values == {"resolution": "480p"}
    assert time.perf_counter() - started < 1.0
    with pytest.raises(InvalidInput) as caught:
        flags.parse_prompt_flags(" " * 20_001)
    assert caught.value.param == "content"
