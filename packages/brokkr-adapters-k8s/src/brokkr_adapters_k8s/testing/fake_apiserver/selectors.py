"""Label and field selectors with the semantics of ``k8s.io/apimachinery``.

Label selectors: ``a=b``, ``a==b``, ``a!=b`` (also true when ``a`` is absent), ``a in (x,y)``,
``a notin (x,y)`` (also true when absent), ``a`` (exists), ``!a`` (absent), ``a>1``/``a<1``
(integer comparison). Requirements are ANDed. Field selectors: ``path=value``/``==``/``!=``, ANDed,
with ``\\,``, ``\\=`` and ``\\\\`` escapes in values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .names import label_value_errors, qualified_name_errors


class SelectorError(ValueError):
    """An unparsable selector; the API server answers 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == "gt" else number < bound


_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|<|>|[^\s,()=!<>]+)")


def _tokenize(text: str) -> list[str]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:  # pragma: no cover - the pattern accepts every non-space character
            raise SelectorError(f"unable to parse requirement: unexpected input at {pos}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise SelectorError("unable to parse requirement: unexpected end of selector")
        self.pos += 1
        return token

    def expect(self, token: str) -> None:
        found = self.take()
        if found != token:
            raise SelectorError(f"unable to parse requirement: found '{found}', expected: '{token}'")

    def identifier(self, what: str) -> str:
        token = self.take()
        if token in ("==", "!=", "=", "!", "(", ")", ",", "<", ">"):
            raise SelectorError(f"unable to parse requirement: found '{token}', expected: {what}")
        return token

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(_checked_key(self.identifier("identifier")), "!")
        key = _checked_key(self.identifier("identifier"))
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        self.take()
        if op in ("=", "==", "!="):
            value = "" if self.peek() in (None, ",") else self.identifier("identifier")
            return Requirement(key, "=" if op != "!=" else "!=", (_checked_value(value),))
        if op in ("in", "notin"):
            return Requirement(key, op, self.value_set())
        if op in (">", "<"):
            bound = self.identifier("integer")
            if not re.fullmatch(r"-?\d+", bound):
                raise SelectorError(
                    f"unable to parse requirement: for 'gt', 'lt' operators, {bound!r} is not an integer"
                )
            return Requirement(key, "gt" if op == ">" else "lt", (bound,))
        raise SelectorError(
            f"unable to parse requirement: found '{op}', expected: in, notin, =, ==, !=, gt, lt"
        )

    def value_set(self) -> tuple[str, ...]:
        self.expect("(")
        values: list[str] = []
        while self.peek() != ")":
            if values:
                self.expect(",")
            values.append(_checked_value(self.identifier("identifier")))
        self.expect(")")
        if not values:
            raise SelectorError(
                "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty"
            )
        return tuple(values)


def _checked_key(key: str) -> str:
    errors = qualified_name_errors(key)
    if errors:
        raise SelectorError(f'unable to parse requirement: key: Invalid value: "{key}": {"; ".join(errors)}')
    return key


def _checked_value(value: str) -> str:
    errors = label_value_errors(value)
    if errors:
        raise SelectorError(f'unable to parse requirement: values[0]: Invalid value: "{value}": {errors[0]}')
    return value


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a label selector; an empty or missing one selects everything."""
    parser = _Parser(text or "")
    requirements: list[Requirement] = []
    while parser.peek() is not None:
        if requirements:
            parser.expect(",")
        requirements.append(parser.requirement())
    return requirements


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    negate: bool
    value: str


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise SelectorError(f"invalid field selector: {text!r} ends with an escape")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str | None) -> list[FieldRequirement]:
    """Parse a field selector; which paths are allowed is decided per kind by the caller."""
    requirements = []
    for term in _split_unescaped(text or "", ","):
        if not term.strip():
            continue
        for op in ("!=", "==", "="):
            index = term.find(op)
            if index > 0:
                path, value = term[:index].strip(), term[index + len(op) :]
                requirements.append(FieldRequirement(path, op == "!=", _unescape(value)))
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
    return requirements


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form the API server compares a field selector against ("" when absent)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return ""
        current = current[part]
    if isinstance(current, bool):
        return "true" if current else "false"
    if current is None:
        return ""
    if isinstance(current, Mapping):
        # "source" on Events is an object; the API server selects on its component.
        return str(current.get("component", ""))
    return str(current)


def fields_match(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all((field_value(obj, r.path) == r.value) != r.negate for r in requirements)
