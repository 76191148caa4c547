"""The parsers of stylerec's API views (set on the views, never on the host's ``REST_FRAMEWORK``).

``DepthLimitedJSONParser``: JSON nested deeper than ``MAX_JSON_DEPTH`` levels is a 400. Python's
``json`` recurses once per level, so a body of 1,000 ``[`` was a ``RecursionError``: a 500 from a
request of 2 KB. The depth is counted on the text before it is parsed (strings skipped), so a deep
body never reaches the decoder, nor the serializers that would walk it again.
"""

from __future__ import annotations

import codecs
import io
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.utils import json

# No request stylerec takes nests deeper than 4 levels; 32 leaves room and costs nothing.
MAX_JSON_DEPTH = 32

# Linear-time scans (every pattern matches without backtracking): escapes go first, so the quotes
# left delimit strings; strings go next, so only structural brackets remain.
_ESCAPED_BACKSLASH = "\\\\"
_ESCAPED_QUOTE = '\\"'
_STRINGS = re.compile(r'"[^"]*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def json_nested_deeper_than(text: str, max_depth: int) -> bool:
    """Whether the arrays and objects of ``text`` nest deeper than ``max_depth`` (brackets inside
    strings do not count). Each round strips the innermost pairs, so valid JSON nested ``d`` deep
    is empty after ``d`` rounds; what is left after ``max_depth`` rounds is deeper (or unbalanced,
    which the decoder refuses anyway)."""
    text = text.replace(_ESCAPED_BACKSLASH, "").replace(_ESCAPED_QUOTE, "")
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            return True  # unbalanced: nothing pairs up (``[[[[...``)
    return bool(brackets)


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``max_depth`` with a 400."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = codecs.getreader(encoding)(stream).read()
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} text") from exc
        if json_nested_deeper_than(text, self.max_depth):
            raise ParseError(f"JSON parse error - nested deeper than {self.max_depth} levels")
        try:
            parse_constant = json.strict_constant if self.strict else None
            return json.load(io.StringIO(text), parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


# What stylerec's API views parse: DRF's default set, with the JSON parser depth-limited. Form and
# multipart bodies are flat (a QueryDict), so they need no limit.
API_PARSER_CLASSES: list[type[BaseParser]] = [DepthLimitedJSONParser, FormParser, MultiPartParser]
