"""Styles and aspects a review or search query talks about, each with a polarity.

``LexiconPreferenceExtractor`` is deterministic and fast (pure Python, ~0.1 ms a sentence): it
matches the store's style vocabulary (each ``StyleSpec``'s slug, name and keywords, merged with the
built-in synonyms of ``stylerec/data/style_lexicon.json``) and aspect words (fit, size, material,
colour, price, quality, comfort, delivery) in Chinese and English, then decides each mention's
polarity inside its clause:

1. "too retro", "太复古了": *too* + a style (or a size word: "too big", "有点小") is negative;
2. a word that judges its aspect by itself ("comfortable", "起球", "overpriced") gives its polarity;
3. otherwise the nearest opinion word in the clause ("love", "ugly", "喜欢", "难看");
4. otherwise a style named without an opinion ("retro midi dress") counts as liked, an aspect
   named without one ("the colour is blue") is no mention;

and a negator up to three tokens before the deciding word flips it ("don't like", "不喜欢",
"not too tight" = fit +1). Clauses end at punctuation and at contrast words (but, 但是, 不过), so
"love the retro look but the fabric is itchy" yields retro +1, material/comfort -1.

Sizing remarks also say which way a product's sizing is off: "runs big", "order a size down",
"偏大" give ``Mention("sizing", "large", -1)``, "runs small", "买大一码" ``("sizing", "small", -1)``,
"true to size" ``("sizing", "true", +1)`` (the lexicon's ``sizing`` section). The same phrases are
what the sentiment model leaves out of a review (``sizing_remarks_removed``): "runs big" is an
aspect of the product, not a judgement of it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from stylerec.ml.base import Mention, StyleSpec
from stylerec.ml.textutil import normalise, truncate

NEGATION_WINDOW = 3  # tokens between a negator and the word it negates ("don't really like", "不是很喜欢")
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\sa-z0-9]")
_CLAUSE_END = set('.,;:!?()[]{}"/|~…。，；：！？、（）【】「」『』《》~\n')


def tokens(text: str) -> list[str]:
    """Lower-case English words (with inner apostrophes/hyphens), single CJK characters, and
    single punctuation/emoji characters."""
    return _TOKEN.findall(text.lower().replace("’", "'").replace("‘", "'"))


@functools.cache
def builtin_lexicon() -> dict[str, Any]:
    source = resources.files("stylerec").joinpath("data/style_lexicon.json").read_text(encoding="utf-8")
    return json.loads(source)


@functools.cache
def _sizing_pattern() -> re.Pattern[str]:
    phrases = sorted(
        (phrase for group in builtin_lexicon()["sizing"].values() for phrase in group), key=len, reverse=True
    )
    alternatives = [r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in phrases]
    # ASCII phrases only at word boundaries ("size up" is not inside "downsize upgrade")
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])", re.IGNORECASE)


def sizing_remarks_removed(text: str) -> str:
    """``text`` without its sizing remarks ("runs big", "order a size down", "偏大"): what the
    sentiment model reads, so that a fit remark does not count as a negative opinion."""
    return " ".join(_sizing_pattern().sub(" ", text).split())


def default_style_specs() -> list[StyleSpec]:
    """A StyleSpec per built-in style group (for stores without their own list, and for eval)."""
    styles = builtin_lexicon()["styles"]
    return [
        StyleSpec(slug=slug, name=slug.replace("-", " "), keywords=tuple(words))
        for slug, words in styles.items()
    ]


@dataclass(frozen=True)
class _Entry:
    role: str  # style | aspect | opinion | negator | too | mild | contrast
    key: str = ""  # style slug or aspect name
    polarity: int = 0
    dim: bool = False  # a size word: a mention only after "too" / "a bit"


@dataclass(frozen=True)
class _Hit:
    entries: tuple[_Entry, ...]
    start: int
    end: int
    text: str

    def first(self, role: str) -> _Entry | None:
        return next((e for e in self.entries if e.role == role), None)


class _Matcher:
    """Greedy longest match of token sequences (phrases) over a token list."""

    def __init__(self) -> None:
        self.phrases: dict[tuple[str, ...], list[_Entry]] = {}
        self.max_len = 1

    def add(self, phrase: str, entry: _Entry) -> None:
        key = tuple(tokens(phrase))
        if not key:
            return
        bucket = self.phrases.setdefault(key, [])
        if entry not in bucket:
            bucket.append(entry)
        self.max_len = max(self.max_len, len(key))

    def _lookup(self, key: tuple[str, ...]) -> list[_Entry] | None:
        found = self.phrases.get(key)
        if found is None and len(key) == 1 and len(key[0]) > 3 and key[0].endswith("s"):
            found = self.phrases.get((key[0][:-1],))  # plural: "dresses" aside, "colours" -> "colour"
        return found

    def scan(self, toks: list[str]) -> list[_Hit]:
        hits, i = [], 0
        while i < len(toks):
            for n in range(min(self.max_len, len(toks) - i), 0, -1):
                found = self._lookup(tuple(toks[i : i + n]))
                if found:
                    joiner = "" if all(len(t) == 1 for t in toks[i : i + n]) else " "
                    hits.append(_Hit(tuple(found), i, i + n, joiner.join(toks[i : i + n])))
                    i += n
                    break
            else:
                i += 1
        return hits


class LexiconPreferenceExtractor:
    """See the module docstring. Options: ``use_builtin_synonyms`` (merge the built-in synonym
    groups into the store's styles; default True) and ``extra_lexicon`` (a dict shaped like
    ``style_lexicon.json`` whose lists are added to the built-in ones, e.g. store-specific aspect
    or opinion words)."""

    def __init__(
        self, use_builtin_synonyms: bool = True, extra_lexicon: dict[str, Any] | None = None
    ) -> None:
        self.use_builtin_synonyms = use_builtin_synonyms
        lexicon = json.loads(json.dumps(builtin_lexicon()))  # a private deep copy
        for section, value in (extra_lexicon or {}).items():
            if isinstance(value, dict):
                for key, items in value.items():
                    lexicon.setdefault(section, {}).setdefault(key, []).extend(items)
            elif isinstance(value, list):
                lexicon.setdefault(section, []).extend(value)
        self.lexicon = lexicon
        self.base = _Matcher()
        for aspect, items in lexicon["aspects"].items():
            for term, polarity in items:
                dim = polarity == "dim"
                self.base.add(term, _Entry("aspect", aspect, 0 if dim else int(polarity), dim))
        for term, polarity in lexicon["opinions"]:
            self.base.add(term, _Entry("opinion", polarity=int(polarity)))
        for role in ("negators", "too", "mild", "contrast"):
            for term in lexicon.get(role, []):
                self.base.add(term, _Entry(role.rstrip("s") if role == "negators" else role))
        for direction, phrases in lexicon.get("sizing", {}).items():
            for term in phrases:
                self.base.add(term, _Entry("sizing", direction, 1 if direction == "true" else -1))
        self._matchers: dict[tuple[StyleSpec, ...], _Matcher] = {}
        digest = json.dumps([use_builtin_synonyms, lexicon], sort_keys=True, ensure_ascii=False)
        self.version = f"lexicon@{hashlib.sha256(digest.encode()).hexdigest()[:10]}"

    # -- vocabulary ----------------------------------------------------------------------------
    def style_terms(self, styles: list[StyleSpec]) -> dict[str, set[str]]:
        """slug -> the words that name it (its own, plus a matching built-in synonym group)."""
        groups = {slug: {w.lower() for w in words} | {slug} for slug, words in self.lexicon["styles"].items()}
        out: dict[str, set[str]] = {}
        for spec in styles:
            own = {spec.slug.lower(), spec.slug.lower().replace("-", " "), spec.name.lower()}
            own |= {k.lower() for k in spec.keywords if k.strip()}
            terms = set(own)
            if self.use_builtin_synonyms:
                for words in groups.values():
                    if own & words:
                        terms |= words
            out[spec.slug] = {t for t in terms if t.strip()}
        return out

    def _matcher(self, styles: list[StyleSpec]) -> _Matcher:
        key = tuple(styles)
        matcher = self._matchers.get(key)
        if matcher is None:
            matcher = _Matcher()
            matcher.phrases = {k: list(v) for k, v in self.base.phrases.items()}
            matcher.max_len = self.base.max_len
            for slug, terms in self.style_terms(styles).items():
                for term in terms:
                    matcher.add(term, _Entry("style", slug))
            if len(self._matchers) > 32:  # a store's style list rarely changes; bound the cache anyway
                self._matchers.clear()
            self._matchers[key] = matcher
        return matcher

    # -- extraction ----------------------------------------------------------------------------
    def extract(self, texts: list[str], styles: list[StyleSpec]) -> list[list[Mention]]:
        matcher = self._matcher(list(styles))
        return [self._extract_one(truncate(normalise(text)), matcher) for text in texts]

    def _extract_one(self, text: str, matcher: _Matcher) -> list[Mention]:
        toks = tokens(text)
        mentions: list[Mention] = []
        for clause in _clauses(toks, matcher.scan(toks)):
            mentions.extend(_clause_mentions(clause))
        unique: dict[tuple[str, str, int], Mention] = {}
        for m in mentions:
            unique.setdefault((m.kind, m.key, m.polarity), m)
        return list(unique.values())


def _clauses(toks: list[str], hits: list[_Hit]) -> list[list[_Hit]]:
    """Hits grouped by clause: punctuation and contrast words close a clause."""
    boundaries = {i for i, t in enumerate(toks) if t in _CLAUSE_END}
    out: list[list[_Hit]] = [[]]
    last_end = 0
    for hit in hits:
        if any(last_end <= b < hit.start for b in boundaries) or hit.first("contrast"):
            out.append([])
        if not hit.first("contrast"):
            out[-1].append(hit)
        last_end = hit.end
    return [c for c in out if c]


def _negated(clause: list[_Hit], anchor: int) -> bool:
    """A negator ends within NEGATION_WINDOW tokens before the hit at index ``anchor``."""
    start = clause[anchor].start
    flips = 0
    for hit in clause[:anchor]:
        if hit.first("negator") and 0 <= start - hit.end < NEGATION_WINDOW:
            flips += 1
    return flips % 2 == 1


def _clause_mentions(clause: list[_Hit]) -> list[Mention]:
    mentions = []
    for i, hit in enumerate(clause):
        for entry in hit.entries:
            if entry.role == "sizing":  # which way the sizing is off; "size" (the aspect) judges it
                mentions.append(
                    Mention(kind="sizing", key=entry.key, polarity=entry.polarity, evidence=hit.text)
                )
                mentions.append(
                    Mention(kind="aspect", key="size", polarity=entry.polarity, evidence=hit.text)
                )
                continue
            if entry.role not in ("style", "aspect"):
                continue
            previous = clause[i - 1] if i > 0 and clause[i - 1].end == hit.start else None
            intensified = previous is not None and (
                previous.first("too") is not None or (entry.dim and previous.first("mild") is not None)
            )
            if intensified and (entry.role == "style" or entry.dim):
                polarity, anchor, evidence = -1, i - 1, f"{previous.text} {hit.text}"  # type: ignore[union-attr]
            elif entry.dim:
                continue  # "big", "长" alone judge nothing
            elif entry.polarity:
                polarity, anchor, evidence = entry.polarity, i, hit.text
            else:
                opinion = _nearest_opinion(clause, i)
                if opinion is not None:
                    polarity, anchor = _judgement(clause[opinion]), opinion
                    evidence = " ".join(h.text for h in clause[min(i, opinion) : max(i, opinion) + 1])
                elif entry.role == "style":
                    polarity, anchor, evidence = 1, i, hit.text
                else:
                    continue
            if _negated(clause, anchor):
                polarity = -polarity
                evidence = f"(negated) {evidence}"
            mentions.append(Mention(kind=entry.role, key=entry.key, polarity=polarity, evidence=evidence))
    return mentions


def _judgement(hit: _Hit) -> int:
    """The polarity a hit expresses: an opinion word's, or a judging aspect word's ("itchy")."""
    opinion = hit.first("opinion")
    if opinion is not None:
        return opinion.polarity
    return next(e.polarity for e in hit.entries if e.role == "aspect" and e.polarity)


def _nearest_opinion(clause: list[_Hit], i: int) -> int | None:
    """Index of the hit nearest to hit ``i`` that judges something: an opinion word, or an aspect
    word with its own polarity ("the fabric is itchy" -> material -1). Ties: the earlier one."""
    best, best_distance = None, None
    for j, hit in enumerate(clause):
        judging = hit.first("opinion") or next(
            (e for e in hit.entries if e.role == "aspect" and e.polarity), None
        )
        if j == i or judging is None or hit.first("style"):
            continue
        distance = hit.start - clause[i].end if j > i else clause[i].start - hit.end
        if best_distance is None or distance < best_distance:
            best, best_distance = j, distance
    return best


# --------------------------------------------------------------------------- evaluation
def preference_checkset() -> list[dict[str, Any]]:
    """The labelled check set: ``{"text", "lang", "styles": {slug: ±1}, "aspects": {name: ±1}}``."""
    source = (
        resources.files("stylerec").joinpath("data/preference_checkset.jsonl").read_text(encoding="utf-8")
    )
    return [json.loads(line) for line in source.splitlines() if line.strip()]


def evaluate_preferences(
    extractor: Any, rows: list[dict[str, Any]], styles: list[StyleSpec] | None = None
) -> dict[str, Any]:
    """Micro precision / recall / F1 over (kind, key, polarity) triples, overall and per language.

    A mention with the right key but the wrong polarity counts as one false positive and one
    false negative, so polarity errors cost both numbers.
    """
    styles = default_style_specs() if styles is None else styles
    predicted = extractor.extract([row["text"] for row in rows], styles)
    counts: dict[str, list[int]] = {}
    errors = []
    for row, mentions in zip(rows, predicted, strict=True):
        gold = {("style", k, int(v)) for k, v in row["styles"].items()}
        gold |= {("aspect", k, int(v)) for k, v in row["aspects"].items()}
        gold |= {("sizing", k, int(v)) for k, v in row.get("sizing", {}).items()}
        got = {(m.kind, m.key, m.polarity) for m in mentions if m.kind != "sizing" or "sizing" in row}
        for group in ("all", row.get("lang", "?")):
            c = counts.setdefault(group, [0, 0, 0])  # tp, fp, fn
            c[0] += len(gold & got)
            c[1] += len(got - gold)
            c[2] += len(gold - got)
        if gold != got:
            errors.append({"text": row["text"], "missed": sorted(gold - got), "extra": sorted(got - gold)})
    report: dict[str, Any] = {"n_sentences": len(rows)}
    for group, (tp, fp, fn) in counts.items():
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[group] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    report["errors"] = errors
    return report
