"""Read a verbalized confidence and an answer out of model text; count failures, never guess.

``parse_confidence(text, fmt)`` finds the cue word (``Probability``/``Confidence``, any case,
markdown stripped, so ``**Confidence:** 0.85`` works), skips filler (``level``, ``score``,
``is``, ``of``, ``about``, ``approximately``, ``that ...:``, ``:``, ``=``, ``-``) and reads
one value of the format's kind right after it, on the same line or the next. A failure returns
``value=None`` with ``error`` saying why: no cue and no unambiguous value, nothing readable
after the cue, a value out of range (``150%``, ``12`` in ``score_number``), a negative value,
a range (``80-90%``), a fraction with the wrong denominator, a letter or words outside the
level set, or different values after different cues (``conflicting``). The same value after
several cues is fine. Without any cue a value could be the answer itself (SmolLM2 answers a
``score_letter`` prompt with a bare ``"A"``, its option letter; ``"7"`` or ``"25%"`` may
answer a question), so the text is accepted only when it is, stripped of markdown and
punctuation, one ``score_text`` phrase (``"very high"``), or, for the percent and float
formats, it holds exactly one distinct explicit percentage within 40 characters of a word
such as sure, confident, certain, likely or chance (``"I am 85% sure"``); ``cue_found`` is
then False. (The ``prefill`` mode parses ``cue + generated value``, so it always has a cue.)

Numbers (percent formats ``probability``/``score_percent``; ``score_float``). The rule for
values the format does not pin down, always applied and always flagged ``ambiguous=True``:

- a value with ``%`` or ``percent`` is a percentage in every numeric format: X -> X/100,
  X in [0, 100], never ambiguous (``"0.01%"`` is 0.0001);
- percent formats, no sign: an integer is a percentage (``"85"`` -> 0.85, ``"0"`` -> 0,
  ``"100"`` -> 1); the integer ``1`` is read as 1% and flagged ambiguous (it may mean
  certainty, 1.0). A decimal ``<= 1`` (``"0.01"``, ``"0.85"``, ``"1.0"``) is read as a
  fraction (0.01, 0.85, 1.0) and flagged ambiguous (it may mean 0.01%), except a value equal to
  0, which is 0 either way. A decimal in (1, 100] (``"85.5"``) can only be a percentage and is
  not ambiguous;
- ``score_float``, no sign: a value in [0, 1] (``"0.85"``, ``"1"``, ``"0"``) is the value
  itself; a value in (1, 100] (``"85"``) is read as a percentage and flagged ambiguous;
- anything above 100 (percent read) is out of range: a failure.

``score_number`` accepts an integer 0..9 (also written ``"9.0"``) or ``N/9`` (``"8/9"``)
only; ``score_letter`` an upper-case letter A..E standing alone (``"B"``, ``"(B)"``,
``"**B**"``); ``score_text`` the five level phrases in any case (``"Very High"``,
``"very-high"``), also written before the cue (``"high confidence"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from confalign.confidence.formats import ConfidenceFormat, get_format
from confalign.data.example import LETTERS

_CUE_RE = re.compile(r"\b(probability|confidence)\b", re.IGNORECASE)
_FILLER_RE = re.compile(
    r"^(?:[\s:=>~]+|[-–—](?=\s)|(?:level|score|rating|estimate|is|of|about|around|approximately|"
    r"approx\.?|roughly|would be|i'd say|i would say)\b|(?:that|the)\b[^:\n]{0,80}?:)",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(
    r"^(?P<sign>[-−])?\s*(?P<num>\d+(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s*(?:%|per\s?cent\b))?"
    r"(?:\s*(?:/|out\s+of)\s*(?P<den>\d+))?"
)
_RANGE_RE = re.compile(r"^\s*(?:-|–|—|to)\s*\d")
_PERCENT_ANYWHERE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:%|per\s?cent\b)", re.IGNORECASE)
_CONFIDENT_WORD_RE = re.compile(
    r"\b(?:sure|confident|certain|certainty|likely|likelihood|chance|probably)\b", re.IGNORECASE
)
_LETTER_RE = re.compile(r"^[\(\[\"']?\s*(?P<letter>[A-Z])(?![A-Za-z0-9])")
_TEXT_RE = re.compile(r"^(?P<words>very[\s-]+high|very[\s-]+low|high|medium|low)\b", re.IGNORECASE)
_TEXT_BEFORE_CUE_RE = re.compile(r"(very[\s-]+high|very[\s-]+low|high|medium|low)\s+$", re.I)
_MARKDOWN_RE = re.compile(r"\*+|`+|(?<!\w)_{1,2}|_{1,2}(?!\w)|^#+\s*", re.MULTILINE)


@dataclass(frozen=True)
class ParsedConfidence:
    """A confidence read from text. ``value`` None means a failure and ``error`` says why.

    ``level``: the value as written (``"85%"``, ``"B"``, ``"very high"``); ``ambiguous``: the
    module's ambiguity rule decided the reading; ``cue_found``: the value followed a cue word.
    """

    value: float | None
    level: str | None = None
    ambiguous: bool = False
    error: str = ""
    cue_found: bool = True

    @property
    def failed(self) -> bool:
        return self.value is None


def _fail(error: str, cue_found: bool = True) -> ParsedConfidence:
    return ParsedConfidence(None, error=error, cue_found=cue_found)


def clean_text(text: str) -> str:
    """Drop markdown emphasis, code ticks and heading marks; unify the minus sign."""
    text = text.replace("\u2212", "-").replace("\uff05", "%").replace("\r\n", "\n")
    return _MARKDOWN_RE.sub("", text)


def _skip_filler(tail: str) -> str:
    for _ in range(8):
        m = _FILLER_RE.match(tail)
        if not m or not m.group(0):
            break
        tail = tail[m.end() :]
    return tail


def _read_number(tail: str, fmt: ConfidenceFormat) -> tuple[ParsedConfidence, int]:
    m = _NUMBER_RE.match(tail)
    if not m:
        return _fail("no number after the cue"), 0
    rest = tail[m.end() :]
    if rest[:1].isalnum() and not m.group("pct"):
        return _fail(f"number followed by text: {tail[: m.end() + 1]!r}"), 0
    if not m.group("den") and _RANGE_RE.match(rest):
        return _fail(f"a range, not a value: {tail[: m.end() + 6].strip()!r}"), 0
    return _number_value(m, tail[: m.end()].strip(), fmt), m.end()


def _number_value(m: re.Match[str], written: str, fmt: ConfidenceFormat) -> ParsedConfidence:
    """Apply the module's reading rule to a matched number."""
    x = float(m.group("num"))
    if m.group("sign"):
        return _fail(f"negative value {written!r}")
    is_int = "." not in m.group("num")
    den, pct = m.group("den"), m.group("pct")
    if fmt.value_kind == "number":
        if pct:
            return _fail(f"a percentage {written!r} is not a level of {fmt.name}")
        if den is not None and int(den) != 9:
            return _fail(f"fraction {written!r} is not out of 9")
        if not is_int and x != int(x):
            return _fail(f"{written!r} is not a whole number")
        if x > 9:
            return _fail(f"{written!r} is out of range 0..9")
        return ParsedConfidence(x / 9, level=str(int(x)))
    if den is not None:
        if int(den) == 100 and not pct:
            return _percent(x, written, ambiguous=False)
        return _fail(f"fraction {written!r} is not a level of {fmt.name}")
    if pct:
        return _percent(x, written, ambiguous=False)
    if fmt.value_kind == "float":
        if x <= 1:
            return ParsedConfidence(x, level=written)
        return _percent(x, written, ambiguous=True)
    # percent formats, no sign: integers are percentages, decimals <= 1 fractions.
    if is_int:
        return _percent(x, written, ambiguous=x == 1)
    if x <= 1:
        return ParsedConfidence(x, level=written, ambiguous=x != 0)
    return _percent(x, written, ambiguous=False)


def _percent(x: float, written: str, *, ambiguous: bool) -> ParsedConfidence:
    if x > 100:
        return _fail(f"{written!r} is out of range 0..100%")
    return ParsedConfidence(x / 100, level=written, ambiguous=ambiguous)


def _read_value(
    tail: str, fmt: ConfidenceFormat, *, search_line: bool = True
) -> tuple[ParsedConfidence, int]:
    """One value of ``fmt``'s kind at the start of ``tail`` (filler already skipped), and
    where it ends in ``tail``; ``search_line``: else a lone percentage later on the line."""
    if fmt.value_kind == "letter":
        m = _LETTER_RE.match(tail)
        if not m:
            return _fail("no letter after the cue"), 0
        letter = m.group("letter")
        if letter not in fmt.level_strings:
            return _fail(f"letter {letter!r} is not one of {', '.join(fmt.level_strings)}"), 0
        return ParsedConfidence(fmt.value_of(letter), level=letter), m.end()
    if fmt.value_kind == "text":
        m = _TEXT_RE.match(tail)
        if not m:
            word = tail.split("\n", 1)[0].strip()[:30]
            return _fail(f"{word!r} is not one of {', '.join(fmt.level_strings)}"), 0
        level = " ".join(re.split(r"[\s-]+", m.group("words").lower()))
        return ParsedConfidence(fmt.value_of(level), level=level), m.end()
    result, end = _read_number(tail, fmt)
    if search_line and result.failed and result.error == "no number after the cue":
        # "Confidence: high (80%)": take an explicit percentage later on the same line.
        # Only when the line holds exactly one ("from 0% to 100%" is an echoed instruction).
        line = tail.split("\n", 1)[0][:60]
        m = _PERCENT_ANYWHERE_RE.search(line)
        single = len(_PERCENT_ANYWHERE_RE.findall(line)) == 1
        if m and single and fmt.value_kind in ("percent", "float"):
            result, end = _read_number(line[m.start() :], fmt)
            return result, end + m.start()
    return result, end


def _bare_value(text: str, fmt: ConfidenceFormat) -> ParsedConfidence | None:
    """The whole text is one value (``"very high."``), else None."""
    core = text.strip().strip(".!;,\"'").strip()
    if not core or "\n" in core:
        return None
    result, end = _read_value(core, fmt, search_line=False)
    if result.failed or core[end:].strip(" )]"):
        return None
    return ParsedConfidence(result.value, result.level, result.ambiguous, cue_found=False)


def parse_confidence(text: str, fmt: ConfidenceFormat | str) -> ParsedConfidence:
    """Read ``fmt``'s confidence from ``text`` (a whole response, or cue plus value)."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    text = clean_text(text)
    found: list[ParsedConfidence] = []
    errors: list[str] = []
    for m in _CUE_RE.finditer(text):
        result, _ = _read_value(_skip_filler(text[m.end() :]), fmt)
        if result.failed and fmt.value_kind == "text":
            before = _TEXT_BEFORE_CUE_RE.search(text[: m.start()])
            if before:
                result, _ = _read_value(before.group(1), fmt)
        (errors.append(result.error) if result.failed else found.append(result))
    if found:
        values = {round(r.value or 0.0, 9) for r in found}
        if len(values) > 1:
            levels = ", ".join(str(r.level) for r in found)
            return _fail(f"conflicting values after the cue: {levels}")
        return found[-1]
    if errors:
        return _fail(errors[-1])
    bare = _bare_value(text, fmt) if fmt.value_kind == "text" else None
    if bare is not None:
        return bare
    if fmt.value_kind in ("percent", "float"):
        # Only percentages near a confidence word: "25%" alone may be an echoed option.
        hits = [
            m
            for m in _PERCENT_ANYWHERE_RE.finditer(text)
            if _CONFIDENT_WORD_RE.search(text[max(0, m.start() - 40) : m.end() + 40])
        ]
        if len({float(m.group(1)) for m in hits}) == 1:
            result, _ = _read_number(text[hits[0].start() :], fmt)
            if result.failed:
                return _fail(result.error, cue_found=False)
            return ParsedConfidence(result.value, result.level, result.ambiguous, cue_found=False)
        if hits:
            return _fail("no cue and several percentages", cue_found=False)
    return _fail("no confidence cue found", cue_found=False)


_ANSWER_CUE_RE = re.compile(
    r"\b(?i:answer)\b\s*(?:(?i:is)\s*:?|:|-|=)?\s*(?:(?i:option|choice)\s*)?[\(\[]?\s*"
    r"(?P<l>[A-Z])(?![A-Za-z0-9])"
)
_LEADING_LETTER_RE = re.compile(
    r"^\s*(?:(?i:option|choice)\s*)?[\(\[]?(?P<l>[A-Z])(?:[\)\]\.:,]|$|\s+(?![a-z]))"
)
_OPTION_WORD_RE = re.compile(r"\b(?i:option|choice)\s+\(?(?P<l>[A-Z])\b")
_CONF_LINE_RE = re.compile(r"\b(?:probability|confidence)\s*(?:level|score)?\s*:", re.IGNORECASE)


def parse_choice(text: str, n_options: int) -> str | None:
    """The option letter a response gives (``"Answer: C"``, ``"**C**"``, ``"C. Paris"``,
    ``"The answer is (C)"``, ``"option C"``), or None. Letters beyond ``n_options`` are
    rejected. The letter must be upper case (``"a"`` is an article), and a leading letter
    followed by a lower-case word is a word (``"I think"``, ``"A dog"``), not an answer."""
    text = clean_text(text)
    valid = LETTERS[:n_options]
    for pattern in (_ANSWER_CUE_RE, _LEADING_LETTER_RE, _OPTION_WORD_RE):
        m = pattern.search(text)
        if m:
            return m.group("l") if m.group("l") in valid else None
    return None


def parse_open_answer(text: str) -> str:
    """The answer text of an open-QA response: what follows ``Answer:`` on its line, else the
    first non-empty line; cut before a confidence cue; markdown stripped. "" if none."""
    text = clean_text(text)
    m = re.search(r"\banswer\s*:", text, re.IGNORECASE)
    if m:
        line = text[m.end() :].lstrip(" \t").split("\n", 1)[0]
    else:
        lines = [ln for ln in text.split("\n") if ln.strip()]
        line = lines[0] if lines else ""
        if _CONF_LINE_RE.match(line.strip()):
            line = ""
    cut = _CONF_LINE_RE.search(line)
    if cut:
        line = line[: cut.start()]
    return line.strip().rstrip(",;").strip()
