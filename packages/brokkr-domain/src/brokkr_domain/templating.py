"""Stack templates: Tera syntax rendered by a locked-down Jinja2, and their JSON-Schema parameters.

Templates stored by the reference are written for Tera 1.x (``{{ replicas | default(value=1) }}``), so those
must keep rendering. Jinja2 parses the same tag syntax; the Tera semantics are added on top:

* filters and tests are Tera's (keyword arguments as Tera names them, positional ones accepted too);
* values print as Tera prints them (``true``/``false``, nothing for null, ``[1, 2]`` for arrays);
* an undefined variable is an error when printed, iterated or compared, but false in a condition, and
  ``default`` replaces undefined and null values only; ``x.y`` only looks up keys, never Python attributes;
* ``{% for key, value in object %}`` walks an object's entries in key order (Tera's context is a BTreeMap).

Known differences: line endings in the template text come out as ``\n`` (Jinja normalises them), and
Jinja-only syntax (inline ``if``, macros) is accepted rather than rejected.

Rendering runs in an immutable sandbox without loader, autoescaping or Python globals, the arithmetic
operators that could allocate without bound (``*`` on strings, ``%`` formatting, ``**``) accept numbers only,
``range`` is capped, and template, output and schema sizes are bounded.
"""

from __future__ import annotations

import functools
import json
import re
import traceback
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, NoReturn
from urllib.parse import quote

import jinja2
import jsonschema
from jinja2 import nodes
from jinja2.runtime import ChainableUndefined, LoopContext, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema.validators import validator_for

from brokkr_domain.errors import ValidationError

MAX_TEMPLATE_BYTES = 1024 * 1024
MAX_RENDERED_CHARS = 8 * 1024 * 1024
MAX_SCHEMA_BYTES = 1024 * 1024
MAX_RANGE = 100_000
MAX_VALIDATION_ERRORS = 1000
_INT_LIMIT = 2**64
_MISSING: Any = object()
_TEMPLATE_NAME = "<template>"


class _TeraUndefined(ChainableUndefined, StrictUndefined):
    """Fails when printed, iterated or compared; false in ``if``; ``a.b.c`` on it stays undefined (Tera)."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]  # deliberately not strict here
        return False


def _fail(message: str) -> NoReturn:
    """Raise a render error; usable inside expressions (``x if ok else _fail(...)``)."""
    raise jinja2.TemplateRuntimeError(message)


def _show(value: Any) -> str:
    """A value as Tera prints it."""
    if isinstance(value, Undefined):
        return str(value)  # raises the undefined-variable error
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "[object]"
    return str(value)


def _finalize(value: Any) -> Any:
    return value if isinstance(value, str | Undefined) else _show(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any, name: str) -> str:
    return (
        value if isinstance(value, str) else _fail(f"filter `{name}` expects a string, got {_show(value)!r}")
    )


def _seq(value: Any, name: str) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else _fail(f"filter `{name}` expects an array")


def _path(value: Any, attribute: str) -> Any:
    for part in str(attribute).split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _round(value: Any, method: str = "common", precision: int = 0) -> Any:
    modes = {"common": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}
    if method not in modes or not _is_number(value):
        _fail("filter `round` expects a number and method common, ceil or floor")
    result = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(precision)), rounding=modes[method])
    return float(result)


def _to_int(value: Any, default: Any = 0, base: int = 10) -> Any:
    try:
        if isinstance(value, str):
            return int(value.strip().replace("_", "") if base == 10 else value.strip(), base)
        return int(value) if _is_number(value) else default
    except (TypeError, ValueError, OverflowError):
        return default


def _to_float(value: Any, default: Any = 0.0) -> Any:
    try:
        return float(value) if isinstance(value, str) or _is_number(value) else default
    except ValueError:
        return default


def _unique(value: Any, attribute: str | None = None, case_sensitive: bool = False) -> list[Any]:
    seen: set[Any] = set()
    result = []
    for item in _seq(value, "unique"):
        key = _path(item, attribute) if attribute else item
        key = key.lower() if isinstance(key, str) and not case_sensitive else json.dumps(key, sort_keys=True)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def _group_by(value: Any, attribute: str) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in _seq(value, "group_by"):
        key = _path(item, attribute)
        if key is not None:
            groups.setdefault(_show(key), []).append(item)
    return groups


def _filter(items_: Any, /, attribute: str, value_: Any = _MISSING, **kwargs: Any) -> list[Any]:
    wanted = kwargs.get("value", value_)
    items = _seq(items_, "filter")
    if wanted is _MISSING:
        return [item for item in items if _path(item, attribute) is not None]
    return [item for item in items if _path(item, attribute) == wanted]


def _get(value: Any, key: str, default: Any = _MISSING) -> Any:
    if isinstance(value, Mapping) and key in value:
        return value[key]
    return default if default is not _MISSING else _fail(f"filter `get`: no key {key!r}")


def _trim_matches(value: Any, pat: str, *, start: bool) -> str:
    text = _text(value, "trim_start_matches" if start else "trim_end_matches")
    while pat and (text.startswith(pat) if start else text.endswith(pat)):
        text = text[len(pat) :] if start else text[: -len(pat)]
    return text


def _truncate(value: Any, length: int = 255, end: str = "…") -> str:
    text = _text(value, "truncate")
    return text if len(text) <= length else text[:length] + end


def _indent(value: Any, prefix: str = "    ", first: bool = False, blank: bool = False) -> str:
    lines = _text(value, "indent").split("\n")
    out = [
        line if (i == 0 and not first) or (not line.strip() and not blank) else prefix + line
        for i, line in enumerate(lines)
    ]
    return "\n".join(out)


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "/": "&#x2F;"})
_XML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})
_WORD = re.compile(r"\b([\w'])([\w']*)\b")


def _replace(value: Any, /, *args: Any, **kwargs: Any) -> str:
    """Tera's ``replace(from=..., to=...)`` (``from`` is a Python keyword); ``replace(a, b)`` works too."""
    old = kwargs.get("from", args[0] if args else None)
    new = kwargs.get("to", args[1] if len(args) > 1 else None)
    if not isinstance(old, str) or not isinstance(new, str):
        _fail("filter `replace` expects string arguments `from` and `to`")
    return _text(value, "replace").replace(old, new)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _default(value: Any, /, value_: Any = _MISSING, **kwargs: Any) -> Any:
    default = kwargs.get("value", value_)
    if default is _MISSING:
        _fail("the `default` filter requires a `value` argument")
    return default if value is None or isinstance(value, Undefined) else value


_FILTERS: dict[str, Callable[..., Any]] = {
    "upper": lambda v: _text(v, "upper").upper(),
    "lower": lambda v: _text(v, "lower").lower(),
    "capitalize": lambda v: _text(v, "capitalize").capitalize(),
    "title": lambda v: _WORD.sub(lambda m: m[1].upper() + m[2].lower(), _text(v, "title")),
    "trim": lambda v: _text(v, "trim").strip(),
    "trim_start": lambda v: _text(v, "trim_start").lstrip(),
    "trim_end": lambda v: _text(v, "trim_end").rstrip(),
    "trim_start_matches": lambda v, pat: _trim_matches(v, pat, start=True),
    "trim_end_matches": lambda v, pat: _trim_matches(v, pat, start=False),
    "replace": _replace,
    "split": lambda v, pat: _text(v, "split").split(pat),
    "truncate": _truncate,
    "indent": _indent,
    "wordcount": lambda v: len(_text(v, "wordcount").split()),
    "striptags": lambda v: re.sub(r"<[^>]*>", "", _text(v, "striptags")),
    "linebreaksbr": lambda v: _text(v, "linebreaksbr").replace("\r\n", "<br>").replace("\n", "<br>"),
    "spaceless": lambda v: re.sub(r">\s+<", "><", _text(v, "spaceless")),
    "addslashes": lambda v: re.sub(r"([\\'\"])", r"\\\1", _text(v, "addslashes")),
    "escape": lambda v: _text(v, "escape").translate(_HTML),
    "escape_xml": lambda v: _text(v, "escape_xml").translate(_XML),
    "safe": lambda v: v,
    "urlencode": lambda v: quote(_text(v, "urlencode"), safe="/"),
    "urlencode_strict": lambda v: quote(_text(v, "urlencode_strict"), safe=""),
    "length": lambda v: (
        len(v) if isinstance(v, str | list | tuple | Mapping) else _fail("`length` needs a container")
    ),
    "join": lambda v, sep="": str(sep).join(_show(item) for item in _seq(v, "join")),
    "first": lambda v: (_seq(v, "first") or [""])[0],
    "last": lambda v: (_seq(v, "last") or [""])[-1],
    "nth": lambda v, n: _seq(v, "nth")[int(n)] if 0 <= int(n) < len(v) else "",
    "reverse": lambda v: v[::-1] if isinstance(v, str) else _seq(v, "reverse")[::-1],
    "sort": lambda v, attribute=None: sorted(
        _seq(v, "sort"), key=(lambda item: _path(item, attribute)) if attribute else None
    ),
    "unique": _unique,
    "slice": lambda v, start=0, end=None: _seq(v, "slice")[int(start) : None if end is None else int(end)],
    "concat": lambda v, *a, **k: _seq(v, "concat") + _as_list(k.get("with", a[0] if a else None)),
    "map": lambda v, attribute: [_path(item, attribute) for item in _seq(v, "map")],
    "filter": _filter,
    "group_by": _group_by,
    "get": _get,
    "int": _to_int,
    "float": _to_float,
    "as_str": _show,
    "abs": lambda v: abs(v) if _is_number(v) else _fail("filter `abs` expects a number"),
    "round": _round,
    "pluralize": lambda v, singular="", plural="s": singular if _is_number(v) and abs(v) == 1 else plural,
    "json_encode": lambda v, pretty=False: json.dumps(
        v,
        sort_keys=True,
        ensure_ascii=False,
        indent=2 if pretty else None,
        separators=None if pretty else (",", ":"),
    ),
}

_TESTS: dict[str, Callable[..., bool]] = {
    "defined": lambda v: not isinstance(v, Undefined),
    "undefined": lambda v: isinstance(v, Undefined),
    "odd": lambda v: _is_number(v) and v % 2 == 1,
    "even": lambda v: _is_number(v) and v % 2 == 0,
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "divisibleby": lambda v, n: _is_number(v) and n != 0 and v % n == 0,
    "iterable": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, Mapping),
    "starting_with": lambda v, pat: isinstance(v, str) and v.startswith(pat),
    "ending_with": lambda v, pat: isinstance(v, str) and v.endswith(pat),
    "containing": lambda v, pat: pat in v if isinstance(v, str | list | tuple | Mapping) else False,
    "matching": lambda v, pat: isinstance(v, str) and re.search(pat, v) is not None,
}


def _strict(function: Callable[..., Any]) -> Callable[..., Any]:
    """Undefined inputs make a filter fail (Tera) instead of flowing through as Python objects."""

    @functools.wraps(function)
    def wrapper(value: Any, /, *args: Any, **kwargs: Any) -> Any:
        for item in (value, *args, *kwargs.values()):
            if isinstance(item, Undefined):
                str(item)  # raises the undefined-variable error
        return function(value, *args, **kwargs)

    return wrapper


def _range(end: int, start: int = 0, step_by: int = 1) -> list[int]:
    if step_by == 0 or not all(isinstance(n, int) for n in (end, start, step_by)):
        _fail("range(end, start=0, step_by=1) needs integers and a non-zero step")
    if abs(end - start) // abs(step_by) > MAX_RANGE:
        _fail(f"range is limited to {MAX_RANGE} items")
    return list(range(start, end, step_by))


def _pairs(container: Any) -> list[tuple[str, Any]]:
    if not isinstance(container, Mapping):
        _fail("`for key, value in ...` needs an object")
    return sorted(container.items())


class _TeraEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "%", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, LoopContext):
            return super().getattr(obj, attribute)
        return self.getitem(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, LoopContext):
            return super().getitem(obj, argument)
        try:
            if isinstance(obj, Mapping):
                return obj[argument]
            if isinstance(obj, list | tuple | str) and isinstance(argument, int | slice | str):
                return obj[int(argument) if isinstance(argument, str) else argument]
        except (KeyError, IndexError, TypeError, ValueError):
            pass
        return self.undefined(obj=obj, name=argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" or not (_is_number(left) and _is_number(right)):
            _fail(f"the {operator} operator is only supported between numbers")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, int) and abs(result) >= _INT_LIMIT:
            _fail(f"{left} {operator} {right} is out of the 64-bit integer range")
        return result


def _environment() -> _TeraEnvironment:
    env = _TeraEnvironment(
        autoescape=False,
        undefined=_TeraUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.loopcontrols"],
    )
    env.filters = {
        name: function if name == "default" else _strict(function) for name, function in _FILTERS.items()
    }
    env.filters["default"] = _default
    env.tests = dict(_TESTS)
    env.globals = {"range": _range, "throw": lambda message="": _fail(str(message)), "__brokkr_pairs": _pairs}
    return env


_ENV = _environment()
_RAW_BLOCK = re.compile(r"(\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\})", re.DOTALL)
_KEY_VALUE_FOR = re.compile(
    r"(\{%-?\s*for\s+[A-Za-z_]\w*\s*,\s*[A-Za-z_]\w*\s+in\s+)(.+?)(\s*-?%\})", re.DOTALL
)


def _to_jinja(text: str) -> str:
    """Rewrite Tera's key/value loops; raw blocks are left alone and no line breaks change (line numbers)."""
    parts = _RAW_BLOCK.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = _KEY_VALUE_FOR.sub(lambda m: f"{m[1]}__brokkr_pairs(({m[2]})){m[3]}", parts[i])
    return "".join(parts)


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@functools.lru_cache(maxsize=64)
def _compile(text: str) -> jinja2.Template:
    """Parse, check names and compile once per distinct template text (instantiation re-renders often)."""
    tree = _ENV.parse(_to_jinja(text))
    _check_names(tree)
    return _ENV.from_string(tree)


def _check_names(tree: nodes.Template) -> None:
    """Unknown filters and tests anywhere (Jinja defers those inside ``if`` blocks to render time)."""
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = _ENV.filters if isinstance(node, nodes.Filter) else _ENV.tests
        if node.name not in known:
            what = "filter" if isinstance(node, nodes.Filter) else "test"
            raise jinja2.TemplateSyntaxError(f"unknown {what} `{node.name}`", node.lineno)


def check_template_syntax(text: str) -> None:
    """Raise ``ValidationError(code="invalid_template_syntax")``, naming the line, for an invalid template.

    Unknown filters and tests are reported here too, so they surface when the template is stored.
    """
    if _size(text) > MAX_TEMPLATE_BYTES:
        raise ValidationError(
            f"template too large: at most {MAX_TEMPLATE_BYTES} bytes", code="invalid_template_syntax"
        )
    try:
        _compile(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationError(
            f"invalid template syntax at line {exc.lineno}: {exc.message}",
            code="invalid_template_syntax",
            details={"line": exc.lineno},
        ) from None
    except RecursionError:
        raise ValidationError(
            "invalid template syntax: nested too deeply", code="invalid_template_syntax"
        ) from None


def _template_line(exc: BaseException) -> int | None:
    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == _TEMPLATE_NAME
    ]
    return lines[-1] if lines else None


def render_template(text: str, parameters: Any) -> str:
    """Render ``text`` with the top-level keys of ``parameters`` (anything but an object gives no variables).

    Every failure (undefined variable, wrong type for a filter, output too large...) is a
    ``ValidationError(code="template_render_failed")`` naming the template line when known.
    """
    check_template_syntax(text)
    template = _compile(text)
    context = {str(k): v for k, v in parameters.items()} if isinstance(parameters, Mapping) else {}
    parts: list[str] = []
    total = 0
    try:
        for chunk in template.generate(context):
            total += len(chunk)
            if total > MAX_RENDERED_CHARS:
                raise ValidationError(
                    f"rendered template too large: more than {MAX_RENDERED_CHARS} characters",
                    code="template_render_failed",
                )
            parts.append(chunk)
    except ValidationError:
        raise
    except Exception as exc:  # user code: every failure is the template's
        line = _template_line(exc)
        where = f" at line {line}" if line else ""
        message = (
            exc.message
            if isinstance(exc, jinja2.TemplateError) and exc.message
            else str(exc) or type(exc).__name__
        )
        raise ValidationError(
            f"template rendering failed{where}: {message}",
            code="template_render_failed",
            details={"line": line} if line else None,
        ) from None
    return "".join(parts)


_SCHEMA_ALIASES = {"https://json-schema.org/": "http://json-schema.org/"}


def _validator_class(schema: Mapping[str, Any]) -> type[Any]:
    declared = schema.get("$schema")
    if declared is None:
        return jsonschema.Draft7Validator
    if isinstance(declared, str):
        for alias, canonical in _SCHEMA_ALIASES.items():
            for candidate in (declared, declared.replace(alias, canonical, 1)):
                found = validator_for({"$schema": candidate}, default=None)  # type: ignore[arg-type]
                if found is not None:
                    return found
    raise ValidationError(
        f"unsupported $schema {declared!r} (use draft-04, draft-06, draft-07, 2019-09 or 2020-12)",
        code="invalid_parameters_schema",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_parameters_schema(schema_text: str) -> dict[str, Any]:
    """Parse a template's parameters schema: a JSON object and a valid JSON Schema (draft 7 by default)."""
    if _size(schema_text) > MAX_SCHEMA_BYTES:
        raise ValidationError(
            f"parameters schema too large: at most {MAX_SCHEMA_BYTES} bytes", code="invalid_parameters_schema"
        )
    try:
        schema = json.loads(schema_text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"parameters schema is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            code="invalid_parameters_schema",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ValidationError(
            f"parameters schema is not valid JSON: {exc}", code="invalid_parameters_schema"
        ) from None
    if not isinstance(schema, dict):
        raise ValidationError("parameters schema must be a JSON object", code="invalid_parameters_schema")
    cls = _validator_class(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/" + "/".join(str(part) for part in exc.path) if exc.path else "/"
        raise ValidationError(
            f"parameters schema is not a valid JSON Schema at {where}: {exc.message}",
            code="invalid_parameters_schema",
        ) from None
    except RecursionError:
        raise ValidationError(
            "parameters schema is nested too deeply", code="invalid_parameters_schema"
        ) from None
    return schema


def _pointer(path: Any) -> str:
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in path]
    return "/" + "/".join(parts)


def validate_parameters(schema: Mapping[str, Any], params: Any) -> None:
    """Raise ``ValidationError(code="invalid_parameters")`` listing violations as ``"<pointer>: <message>"``.

    The root is shown as ``/``. Schema ``default`` values are not injected (as in the reference).
    """
    cls = _validator_class(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    messages: list[str] = []
    try:
        for error in validator.iter_errors(params):
            messages.append(f"{_pointer(error.absolute_path)}: {error.message}")
            if len(messages) >= MAX_VALIDATION_ERRORS:
                break
    except Exception as exc:  # e.g. an unresolvable $ref: the schema's fault
        raise ValidationError(
            f"the template's parameters schema cannot be applied: {exc}", code="invalid_parameters_schema"
        ) from None
    if messages:
        shown = "; ".join(messages[:5]) + (f" (and {len(messages) - 5} more)" if len(messages) > 5 else "")
        raise ValidationError(
            f"invalid parameters: {shown}", code="invalid_parameters", details={"validation_errors": messages}
        )


__all__ = [
    "MAX_RENDERED_CHARS",
    "MAX_SCHEMA_BYTES",
    "MAX_TEMPLATE_BYTES",
    "check_parameters_schema",
    "check_template_syntax",
    "render_template",
    "validate_parameters",
]
