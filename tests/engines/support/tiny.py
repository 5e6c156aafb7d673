"""Shared pieces of the tiny pipelines: local tokenizers (no hub) and saving a pipeline as a
diffusers folder that the registry loads exactly like real weights.

The tokenizer recipe follows research/engines-performance.md §5.2: a WordLevel vocabulary
over a few words, in the shapes T5, CLIP and Qwen-style (chat template) tokenizers have.
Seed with ``torch.manual_seed`` before building each module; text encoders go in ``eval()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WORDS = (
    "a", "the", "of", "and", "in", "on", "with", "cat", "dog", "robot", "red", "wall",
    "dance", "camera", "static", "fixed", "shot", "stays", "no", "movement", "locked-off",
    "user", "assistant", "system")


def local_tokenizer(kind: str = "t5", model_max_length: int = 512) -> Any:
    """A small fast tokenizer built in code: ``t5``, ``clip`` or ``qwen`` (with a chat
    template, as pipelines that call ``apply_chat_template`` need)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = {"t5": ["<pad>", "</s>", "<unk>"],
                "clip": ["<|startoftext|>", "<|endoftext|>", "<unk>"],
                "qwen": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]}[kind]
    vocab = {t: i for i, t in enumerate([*specials, *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if kind == "t5":
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", 1)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                       unk_token="<unk>", model_max_length=model_max_length)
    if kind == "clip":
        tok.post_processor = processors.TemplateProcessing(
            single="<|startoftext|> $A <|endoftext|>",
            special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|startoftext|>",
                                       eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                       unk_token="<unk>", model_max_length=77)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>",
                                  eos_token="<|im_end|>", unk_token="<unk>",
                                  model_max_length=model_max_length)
    out.chat_template = (
        "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> "
        "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")
    return out


def save_pipeline(pipe: Any, folder: Path) -> Path:
    """Write ``pipe`` with ``save_pretrained`` (safetensors) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder
