"""Which tokenizer a model uses, and how far off we are when we cannot run it.

OpenAI publishes its tokenizers: `o200k_base` (GPT-4o, GPT-4.1, GPT-5,
o-series) and `cl100k_base` (GPT-4, GPT-3.5). `bpe-openai` ships both
vocabularies inside the wheel, so counting works offline. Loading one takes
~20-80 ms and importing the package ~0.5 s, so both happen lazily, once per
process (`functools.lru_cache`), and never at import of `fleetcost.pricing`.

No tokenizer is published for Claude, Gemini or most open-weight models
served by hosts. For those we count with o200k and scale by a per-family
`EstimateProfile`: a multiplier and a relative error bound, with the source
of both. The profiles are plain values so that the pipeline can replace them
with ones calibrated against the usage providers return (observed
input_tokens / our o200k count, per model).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from bpe_openai import Encoding

EncodingName = Literal["o200k_base", "cl100k_base", "estimate"]

ESTIMATE_BASE: Final = "o200k_base"

_O200K: Final = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-[5-9]|o[1-9]|chatgpt-|gpt-oss|codex)")
_CL100K: Final = re.compile(r"^(gpt-4|gpt-3\.5|text-embedding-(3|ada))")


@dataclasses.dataclass(frozen=True, slots=True)
class EstimateProfile:
    """How to turn an o200k count into an estimate for a model we cannot tokenize.

    `multiplier` scales text tokens; `error_bound` is the relative half-width
    we claim around the scaled count; `tools_overhead` is what the provider
    adds to the prompt when tools are present; `image_tokens` is charged per
    image whose size we do not know. `source` says where the numbers come from.
    """

    name: str
    multiplier: float
    error_bound: float
    tools_overhead: int = 0
    image_tokens: int = 765
    source: str = ""


# Claude <= 4.6 (incl. 3.x): published side-by-side counts put Claude 3.5
# Sonnet at +16% (English prose) to +30% (code) over GPT-4o's o200k. Opus
# 4.7's tokenizer adds 1.0-1.35x more per Anthropic's migration guide, and
# independent count_tokens probes measured 1.2-1.47x on English and code; we
# assume later Claude generations keep it. Anthropic's pricing page lists a
# tool-use system prompt of 346 tokens (tool_choice auto/none) for Claude 4.x,
# and images cost about width x height / 750 tokens (~1,600 at the maximum).
CLAUDE: Final = EstimateProfile(
    "claude", 1.2, 0.15, tools_overhead=346, image_tokens=1600,
    source="Claude 3.5 vs GPT-4o comparisons (+16-30%); Anthropic tool-use prompt 346",
)
CLAUDE_2026: Final = EstimateProfile(
    "claude-2026", 1.55, 0.2, tools_overhead=346, image_tokens=1600,
    source="Claude profile x Opus 4.7 tokenizer (1.0-1.47x measured)",
)
# Gemini's 256k SentencePiece vocabulary is close to o200k on English; Google
# documents ~4 characters per token; images are 258 tokens per 768px tile.
GEMINI: Final = EstimateProfile(
    "gemini", 1.05, 0.15, image_tokens=1032,
    source="Gemini docs: ~4 chars/token; 258 tokens per 768px image tile",
)
# Llama 3 reuses cl100k's 100k merges plus 28k more; Qwen and DeepSeek use
# 128-152k BPE vocabularies: within a few percent of o200k on English, more
# on code and CJK.
OPEN_WEIGHTS: Final = EstimateProfile(
    "open-weights", 1.1, 0.15,
    source="Llama 3/Qwen/DeepSeek BPE vocabularies of 128-152k tokens",
)
UNKNOWN: Final = EstimateProfile(
    "unknown", 1.2, 0.3, image_tokens=1600,
    source="no tokenizer known for this model: wide default",
)

_PROFILES: Final[tuple[tuple[re.Pattern[str], EstimateProfile], ...]] = (
    (re.compile(r"claude-(opus-4-[7-9]|[a-z]+-[5-9]|[5-9])"), CLAUDE_2026),
    (re.compile(r"claude"), CLAUDE),
    (re.compile(r"gemini|gemma"), GEMINI),
    (re.compile(r"llama|qwen|qwq|deepseek|mixtral|mistral|kimi|glm"), OPEN_WEIGHTS),
)


def bare_model(model: str) -> str:
    """`model` without routing prefixes: `openai/gpt-4o` and `ft:gpt-4o:org::id` -> `gpt-4o...`."""
    name = model.rsplit("/", 1)[-1].lower()
    return name[3:] if name.startswith("ft:") else name


def encoding_for(model: str) -> EncodingName:
    """The OpenAI encoding `model` uses, or "estimate" when it uses none we ship."""
    name = bare_model(model)
    if _O200K.match(name):
        return "o200k_base"
    if _CL100K.match(name):
        return "cl100k_base"
    return "estimate"


def estimate_profile(model: str) -> EstimateProfile:
    """The estimate profile for a model without a local tokenizer."""
    name = model.lower()
    for pattern, profile in _PROFILES:
        if pattern.search(name):
            return profile
    return UNKNOWN


@functools.lru_cache(maxsize=4)
def get_encoding(name: str) -> Encoding:
    """A loaded `bpe_openai` encoding, built once per process."""
    # Imported here: 0.5 s that `fleetcost prices` should not pay. bpe-openai
    # 0.1.4 loads its vocabularies with the deprecated
    # `importlib.resources.open_binary`; that warning is about its code, not
    # ours, and would turn into an error under `-W error`.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="open_binary is deprecated", category=DeprecationWarning
        )
        import bpe_openai

        return bpe_openai.get_encoding(name)


# bpe-openai refuses inputs of 1,000,000 characters or more; longer texts are
# counted in pieces cut where the o200k and cl100k pre-tokenizers start a new
# word anyway, so the sum equals the count of the whole.
_PIECE: Final = 400_000


def encoded_length(text: str, encoding: str) -> int:
    if not text:
        return 0
    enc = get_encoding(encoding)
    if len(text) < _PIECE:
        return len(enc.encode_ordinary(text))
    total, start = 0, 0
    while start < len(text):
        end = min(start + _PIECE, len(text))
        if end < len(text):
            end = _boundary(text, start, end)
        total += len(enc.encode_ordinary(text[start:end]))
        start = end
    return total


def _boundary(text: str, start: int, end: int) -> int:
    """Where to cut `text[start:end]` so both sides tokenize as they would together.

    After a newline that starts a new word (the pre-tokenizers keep `.\n`
    and runs of newlines together, so a newline followed by more whitespace
    is no boundary), else before a space (a word takes its leading space).
    """
    cut = text.rfind("\n", start, end - 1)
    while cut > start and text[cut + 1].isspace():
        cut = text.rfind("\n", start, cut)
    if cut > start:
        return cut + 1
    space = text.rfind(" ", start + 1, end)
    return space if space > start else end
