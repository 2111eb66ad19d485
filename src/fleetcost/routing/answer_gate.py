"""The cascade's gate, offline: how likely is the cheap model's own answer right?

A prompt-only router has to guess; a cascade has already paid for the cheap
answer and can read it. The answer tells a lot that the prompt does not:

- format: does it end with a final answer in the expected shape (`#### 18`,
  "the answer is 18"), is that an integer where the task counts things;
- arithmetic: every `a op b = c` it writes (including `<<a*b=c>>`
  calculator notes) is re-computed; one wrong step usually means a wrong
  answer, which is the weak model's most common failure on word problems;
- effort and doubt: its length against the prompt's, hedges and
  self-corrections, how many of the prompt's numbers it used;
- refusals and apologies, for open-ended chat.

A logistic regression over these (plus the prompt's cheap features) is fit on
the training split, its L2 strength chosen by 3-fold cross-validation; the
cascade escalates the answers least likely to be right first. A second cheap
sample to compare with would be a further signal, but the public data holds
one answer per model, so agreement is not used here.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetcost.routing.features import FeatureSpec, numeric
from fleetcost.routing.fit import Model, choose_l2, fit, sigmoid
from fleetcost.routing.trained import CLIP, MIN_STD

if TYPE_CHECKING:
    from fleetcost.routing.fit import Matrix

_NUM = r"-?\$?\d[\d,]*(?:\.\d+)?"
_EQUATION = re.compile(
    rf"(?<![\w.])((?:\(?\s*{_NUM}\s*\)?\s*[-+*/x×÷]\s*)+\(?\s*{_NUM}\s*\)?)\s*=\s*({_NUM})"
)
_FINAL = re.compile(rf"(?:####|answer is:?|\\boxed\{{)\s*({_NUM})", re.I)
_ANY_NUMBER = re.compile(_NUM)
_HEDGE = re.compile(
    r"\b(?:assum\w*|approximately|however|wait|actually|mistake|sorry|let me re|"
    r"unclear|not sure|cannot|can't|unable|correction)\b", re.I,
)
_REFUSAL = re.compile(r"\b(?:as an ai|i cannot|i can't|i'm sorry|i am sorry|i apologi[sz]e)\b",
                      re.I)
_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
ANSWER_FEATURES = (
    "has_final", "final_integer", "final_negative", "final_in_prompt", "equations",
    "wrong_equations", "any_wrong", "log_answer_chars", "answer_to_prompt", "hedges",
    "refusal", "prompt_numbers_used", "log_answer_numbers",
)


def _number(text: str) -> float | None:
    try:
        return float(text.replace("$", "").replace(",", ""))
    except ValueError:
        return None


def _calc(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _calc(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_calc(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_calc(node.left), _calc(node.right))
    raise ValueError("not arithmetic")


def check_equations(answer: str) -> tuple[int, int]:
    """(equations found, equations whose left side does not give the right side)."""
    found = wrong = 0
    for left, right in _EQUATION.findall(answer):
        expr = re.sub(r"[$,]", "", left).replace("×", "*").replace("x", "*").replace("÷", "/")
        value = _number(right)
        try:
            got = _calc(ast.parse(expr.strip(), mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
            continue
        if value is None:
            continue
        found += 1
        decimals = len(right.split(".")[1]) if "." in right else 0
        slack = max(0.5 * 10**-decimals, 1e-6 * abs(value))
        if abs(got - value) > slack + 1e-9:
            wrong += 1
    return found, wrong


def final_answer(answer: str) -> tuple[bool, float | None]:
    """(an explicit final-answer marker was found, the final number)."""
    marked = _FINAL.findall(answer)
    if marked:
        return True, _number(marked[-1])
    numbers = _ANY_NUMBER.findall(answer)
    return False, _number(numbers[-1]) if numbers else None


def answer_features(prompt: str, answer: str) -> list[float]:
    has_final, final = final_answer(answer)
    found, wrong = check_equations(answer)
    prompt_numbers = {_number(n) for n in _ANY_NUMBER.findall(prompt)} - {None}
    answer_numbers = {_number(n) for n in _ANY_NUMBER.findall(answer)} - {None}
    used = len(prompt_numbers & answer_numbers) / len(prompt_numbers) if prompt_numbers else 1.0
    return [
        float(has_final),
        float(final is not None and float(final).is_integer()),
        float(final is not None and final < 0),
        float(final is not None and final in prompt_numbers),
        math.log1p(found),
        math.log1p(wrong),
        float(wrong > 0),
        math.log1p(len(answer)),
        math.log1p(len(answer)) - math.log1p(len(prompt)),
        math.log1p(len(_HEDGE.findall(answer))),
        float(bool(_REFUSAL.search(answer))),
        used,
        math.log1p(len(answer_numbers)),
    ]


@dataclass(frozen=True)
class AnswerGate:
    """P(the cheap answer is at least as good as the strong model's would be)."""

    spec: FeatureSpec
    columns: tuple[int, ...]  # which of prompt numbers + answer features the model reads
    mean: list[float]
    std: list[float]
    model: Model
    cv_apgr: float

    def prob_ok(self, prompt: str, answer: str) -> float:
        raw = numeric(prompt, self.spec) + answer_features(prompt, answer)
        z = self.model.bias
        for w, j, m, s in zip(self.model.weights, self.columns, self.mean, self.std, strict=True):
            z += w * min(CLIP, max(-CLIP, (raw[j] - m) / s))
        return sigmoid(z)


def candidate_columns(spec: FeatureSpec) -> tuple[tuple[int, ...], ...]:
    """Prompt length alone, the prompt's numbers, then those plus the answer's
    features: with a few dozen training rows the richer sets only fit noise,
    and cross-validation on the training split says so."""
    n = len(spec.numeric)
    return ((spec.numeric.index("log_chars"),), tuple(range(n)),
            tuple(range(n + len(ANSWER_FEATURES))))


def train_gate(
    prompts: Sequence[str], answers: Sequence[str], label_ok: Sequence[bool],
    score: Callable[[Sequence[int], Matrix], float], *, seed: int = 0,
) -> AnswerGate:
    """Fit on the training split; `score` judges a fold's predictions (APGR)."""
    import numpy as np

    spec = FeatureSpec(hash_dim=0, bigrams=False)
    raw = np.array([numeric(p, spec) + answer_features(p, a)
                    for p, a in zip(prompts, answers, strict=True)], dtype=np.float64)
    mean, std = raw.mean(axis=0), np.maximum(raw.std(axis=0), MIN_STD)
    x = np.clip((raw - mean) / std, -CLIP, CLIP)
    y = np.array([1.0 if ok else 0.0 for ok in label_ok])
    best: tuple[float, tuple[int, ...], float] | None = None
    for cols in candidate_columns(spec):
        l2, cv, _ = choose_l2(x[:, cols], y, score, seed=seed, grid=(1.0, 0.3, 0.1, 0.03, 0.01))
        if best is None or cv > best[0] + 1e-9:
            best = (cv, cols, l2)
    assert best is not None
    cv, cols, l2 = best
    model = fit(x[:, cols], y, l2, iters=600)
    return AnswerGate(spec, cols, [float(mean[j]) for j in cols], [float(std[j]) for j in cols],
                      model, cv)
