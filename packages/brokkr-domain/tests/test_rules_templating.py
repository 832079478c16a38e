"""Template rules: Tera syntax on a sandboxed Jinja2, errors with lines, bounds, parameter schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.errors import ValidationError
from brokkr_domain.templating import (
    MAX_TEMPLATE_BYTES,
    check_parameters_schema,
    check_template_syntax,
    render_template,
    validate_parameters,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def render_error(text: str, params: Any = None) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        render_template(text, params or {})
    return caught.value


# ---- Tera behaviour -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "replicas: 1"),
        ({"replicas": 3}, "replicas: 3"),
        ({"replicas": None}, "replicas: 1"),
        ({"replicas": 0}, "replicas: 0"),
    ],
)
def test_default_filter_in_tera_keyword_form(params: dict[str, Any], expected: str) -> None:
    assert render_template("replicas: {{ replicas | default(value=1) }}", params) == expected


def test_default_filter_also_accepts_positional_and_nested_paths() -> None:
    assert render_template("{{ x | default(2) }}", {}) == "2"
    assert render_template("{{ a.b.c | default(value='deep') }}", {"a": {}}) == "deep"
    assert render_template("{{ a.b.c | default(value='deep') }}", {}) == "deep"
    assert render_template("{{ x | default(value=y) }}", {"y": "from-y"}) == "from-y"


def test_e2e_style_deployment_template() -> None:
    template = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ name }}\n"
        "spec:\n  replicas: {{ replicas | default(value=1) }}\n"
    )
    assert render_template(template, {"name": "web"}).endswith("replicas: 1\n")


def test_loops_expose_index_first_and_last() -> None:
    text = (
        "{% for x in xs %}{{ loop.index }}:{{ x }}{% if loop.first %}(first){% endif %}"
        "{% if not loop.last %},{% endif %}{% endfor %}"
    )
    assert render_template(text, {"xs": ["a", "b", "c"]}) == "1:a(first),2:b,3:c"
    assert render_template("{% for x in xs %}{{ loop.index0 }}{% endfor %}", {"xs": [7, 8]}) == "01"


def test_key_value_loops_walk_objects_in_key_order() -> None:
    text = "{% for k, v in labels -%}\n{{ k }}={{ v }};{% endfor %}"
    assert render_template(text, {"labels": {"b": 2, "a": 1}}) == "a=1;b=2;"
    assert "needs an object" in render_error("{% for k, v in xs %}{% endfor %}", {"xs": [1]}).message


def test_raw_blocks_are_left_alone() -> None:
    text = "{% raw %}{% for k, v in m %}{{ x }}{% endraw %}"
    assert render_template(text, {}) == "{% for k, v in m %}{{ x }}"


def test_conditionals_and_undefined_in_conditions() -> None:
    text = "{% if n > 2 %}big{% elif n == 2 %}two{% else %}small{% endif %}"
    assert [render_template(text, {"n": n}) for n in (3, 2, 1)] == ["big", "two", "small"]
    assert render_template("{% if missing %}yes{% else %}no{% endif %}", {}) == "no"
    assert render_template("{% if not missing %}yes{% endif %}", {}) == "yes"
    assert (
        render_template("{% if x is defined %}d{% endif %}{% if y is undefined %}u{% endif %}", {"x": 1})
        == "du"
    )
    assert render_template("{% if 'b' in xs %}in{% endif %}", {"xs": ["a", "b"]}) == "in"


def test_comments_whitespace_control_and_trailing_newline() -> None:
    assert render_template("a {# hidden #}b\n", {}) == "a b\n"
    assert render_template("x  {%- if true -%}  y  {%- endif -%}  z", {}) == "xyz"
    assert render_template("{{- ' a ' -}}\n", {}) == " a "
    assert render_template("line\n", {}) == "line\n"


def test_values_print_as_tera_prints_them() -> None:
    params = {"t": True, "f": False, "n": None, "xs": [1, "a", True, None], "obj": {"a": 1}, "x": 1.5}
    assert render_template("{{ t }} {{ f }} [{{ n }}] {{ xs }} {{ obj }} {{ x }}", params) == (
        "true false [] [1, a, true, ] [object] 1.5"
    )


@pytest.mark.parametrize(
    ("text", "params", "expected"),
    [
        ("{{ s | upper }}|{{ s | lower }}|{{ '  p  ' | trim }}", {"s": "MiX"}, "MIX|mix|p"),
        (
            "{{ xs | length }} {{ s | length }} {{ m | length }}",
            {"xs": [1, 2], "s": "abc", "m": {"a": 1}},
            "2 3 1",
        ),
        ("{{ xs | join(sep=', ') }}", {"xs": ["a", 1, True]}, "a, 1, true"),
        ("{{ s | replace(from='-', to='_') }}", {"s": "a-b-c"}, "a_b_c"),
        ("{{ s | replace('-', '+') }}", {"s": "a-b"}, "a+b"),
        ("{{ v | json_encode }}", {"v": {"b": [1, None], "a": "x"}}, '{"a":"x","b":[1,null]}'),
        ("{{ v | json_encode(pretty=true) }}", {"v": {"a": 1}}, '{\n  "a": 1\n}'),
        ("{{ s | capitalize }} {{ s | title }}", {"s": "hello wORLD"}, "Hello world Hello World"),
        ("{{ xs | first }} {{ xs | last }} {{ xs | nth(n=1) }}", {"xs": [1, 2, 3]}, "1 3 2"),
        ("{{ xs | reverse | join(sep='') }} {{ 'abc' | reverse }}", {"xs": [1, 2]}, "21 cba"),
        ("{{ xs | sort | join(sep='') }}{{ xs | unique | length }}", {"xs": [3, 1, 3]}, "1332"),
        ("{{ ps | map(attribute='n') | join(sep=',') }}", {"ps": [{"n": "a"}, {"n": "b"}]}, "a,b"),
        (
            "{{ ps | filter(attribute='on', value=true) | length }}",
            {"ps": [{"on": True}, {"on": False}]},
            "1",
        ),
        ("{{ 'a,b' | split(pat=',') | last }} {{ '42' | int + 1 }} {{ '1.5' | float }}", {}, "b 43 1.5"),
        ("{{ 2.5 | round }} {{ 2.4 | round(method='ceil') }} {{ -3 | abs }}", {}, "3.0 3.0 3"),
        ("{{ m | get(key='a') }} {{ m | get(key='z', default='d') }}", {"m": {"a": 1}}, "1 d"),
        ("{{ 'abcdef' | truncate(length=3) }}|{{ 'a\nb' | indent(prefix='> ') }}", {}, "abc…|a\n> b"),
        (
            "{{ '<b>x</b>' | striptags }} {{ '<a>' | escape }} {{ 'a b/c' | urlencode }}",
            {},
            "x &lt;a&gt; a%20b/c",
        ),
        ("{{ n }} item{{ n | pluralize }}", {"n": 2}, "2 items"),
        ("{{ 'x' ~ 1 ~ s }}", {"s": "y"}, "x1y"),
        ("{{ 7 % 3 }} {{ 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }}", {}, "1 6 3.5 3"),
        ("{% for i in range(end=3) %}{{ i }}{% endfor %}", {}, "012"),
        ("{% for x in xs %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", {"xs": [1, 2, 3]}, "1"),
        ("{% set y = x * 2 %}{{ y }}", {"x": 4}, "8"),
        ("{{ d.items }} {{ d['keys'] }}", {"d": {"items": "i", "keys": "k"}}, "i k"),
        (
            "{% if n is odd %}odd{% endif %}{% if s is starting_with('ab') %}!{% endif %}",
            {"n": 3, "s": "abc"},
            "odd!",
        ),
    ],
)
def test_common_tera_filters_and_tests(text: str, params: dict[str, Any], expected: str) -> None:
    assert render_template(text, params) == expected


# ---- errors ---------------------------------------------------------------------------------------


def test_undefined_variable_is_a_render_error_with_the_line() -> None:
    error = render_error("ok\nname: {{ name }}\n")
    assert error.code == "template_render_failed"
    assert "'name' is undefined" in error.message
    assert "line 2" in error.message
    assert error.details == {"line": 2}


@pytest.mark.parametrize(
    "text",
    [
        "{{ m.missing }}",
        "{% for x in nope %}{% endfor %}",
        "{{ nope | upper }}",
        "{{ nope == 1 }}",
        "{{ 1 / 0 }}",
        "{{ s | upper | abs }}",
        "{{ throw(message='stop here') }}",
        "{{ s.upper() }}",
        "{{ s.__class__ }}",
        "{{ m.__class__.__mro__ }}",
    ],
)
def test_render_failures_are_validation_errors(text: str) -> None:
    assert render_error(text, {"m": {}, "s": "x"}).code == "template_render_failed"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("{% if x %}", 1),
        ("a\nb\n{{ x ", 3),
        ("{% for %}", 1),
        ("{% endif %}", 1),
        ("ok\n{{ x | no_such_filter }}", 2),
        ("{% if x is no_such_test %}{% endif %}", 1),
        ("{% if x %}\n{{ x | hidden_unknown }}{% endif %}", 2),
        ("{% set_global x = 1 %}", 1),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(ValidationError) as caught:
        check_template_syntax(text)
    assert caught.value.code == "invalid_template_syntax"
    assert caught.value.details == {"line": line}
    assert f"line {line}" in caught.value.message
    with pytest.raises(ValidationError):
        render_template(text, {})


def test_resource_bounds() -> None:
    with pytest.raises(ValidationError, match="too large"):
        check_template_syntax("x" * (MAX_TEMPLATE_BYTES + 1))
    assert "operator is only supported between numbers" in render_error("{{ 'a' * 1000000000 }}").message
    assert "only supported between numbers" in render_error("{{ '%999999999d' % 1 }}").message
    assert "only supported between numbers" in render_error("{{ 2 ** 1000000000 }}").message
    assert "64-bit" in render_error("{{ 9999999999 * 9999999999 * 9999999999 }}").message
    assert "range is limited" in render_error("{{ range(end=100000000) | length }}").message
    big = render_error("{% for i in range(end=90000) %}{{ s }}{% endfor %}", {"s": "x" * 100})
    assert "rendered template too large" in big.message


def test_parameters_that_are_not_an_object_give_an_empty_context() -> None:
    assert render_template("static", [1, 2]) == "static"
    assert render_template("static", "text") == "static"
    assert render_error("{{ x }}", [1]).code == "template_render_failed"


@given(st.text(alphabet=st.characters(blacklist_characters="{}%#\r"), max_size=200))
def test_text_without_delimiters_renders_unchanged(text: str) -> None:
    assert render_template(text, {}) == text


def test_line_endings_come_out_as_newlines() -> None:
    assert render_template("a: 1\r\nb: {{ x }}\r\n", {"x": 2}) == "a: 1\nb: 2\n"


@given(st.text(max_size=80))
def test_any_text_checks_and_renders_or_raises_validation_error(text: str) -> None:
    try:
        check_template_syntax(text)
        render_template(text, {"x": 1, "xs": [1, 2]})
    except ValidationError as exc:
        assert exc.code in {"invalid_template_syntax", "template_render_failed"}


@given(st.text(max_size=30))
def test_string_parameters_are_printed_verbatim(value: str) -> None:
    assert render_template("{{ v }}", {"v": value}) == value


@given(json_values)
def test_json_encode_round_trips(value: Any) -> None:
    assert json.loads(render_template("{{ v | json_encode }}", {"v": value})) == value


# ---- parameter schemas ----------------------------------------------------------------------------


def test_schema_must_be_json_object_and_valid_schema() -> None:
    assert check_parameters_schema('{"type": "object"}') == {"type": "object"}
    cases = {
        '{"type": ': "not valid JSON: Expecting value at line 1, column 10",
        "[]": "must be a JSON object",
        "NaN": "not valid JSON",
        '{"type": "nope"}': "not a valid JSON Schema",
        '{"properties": {"a": {"minimum": "x"}}}': "not a valid JSON Schema at /properties/a/minimum",
        '{"$schema": "http://example.com/custom"}': "unsupported $schema",
        '{"$schema": 7}': "unsupported $schema",
    }
    for text, fragment in cases.items():
        with pytest.raises(ValidationError) as caught:
            check_parameters_schema(text)
        assert caught.value.code == "invalid_parameters_schema"
        assert fragment in caught.value.message, (text, caught.value.message)


@pytest.mark.parametrize(
    "uri",
    [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ],
)
def test_declared_drafts_are_respected(uri: str) -> None:
    schema = check_parameters_schema(json.dumps({"$schema": uri, "type": "object"}))
    validate_parameters(schema, {})


def test_draft_specific_keywords_follow_the_declared_draft() -> None:
    draft4 = check_parameters_schema(
        '{"$schema": "http://json-schema.org/draft-04/schema#", '
        '"properties": {"n": {"maximum": 5, "exclusiveMaximum": true}}}'
    )
    with pytest.raises(ValidationError):
        validate_parameters(draft4, {"n": 5})
    draft7 = check_parameters_schema('{"properties": {"n": {"exclusiveMaximum": 5}}}')
    with pytest.raises(ValidationError):
        validate_parameters(draft7, {"n": 5})


def test_validation_collects_every_error_with_its_path() -> None:
    schema = check_parameters_schema(
        json.dumps(
            {
                "type": "object",
                "required": ["name", "replicas"],
                "properties": {
                    "replicas": {"type": "integer", "minimum": 1},
                    "ports": {"type": "array", "items": {"type": "integer"}},
                },
            }
        )
    )
    with pytest.raises(ValidationError) as caught:
        validate_parameters(schema, {"replicas": 0, "ports": [80, "http", "x/y"]})
    error = caught.value
    assert error.code == "invalid_parameters"
    messages = error.details["validation_errors"]
    assert isinstance(messages, list)
    assert sorted(messages) == sorted(
        [
            "/: 'name' is a required property",
            "/replicas: 0 is less than the minimum of 1",
            "/ports/1: 'http' is not of type 'integer'",
            "/ports/2: 'x/y' is not of type 'integer'",
        ]
    )
    validate_parameters(schema, {"name": "web", "replicas": 2})


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d/e", "f~g"]), json_values))
def test_one_error_per_non_integer_value(params: dict[str, Any]) -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}

    def is_integer(v: Any) -> bool:  # JSON Schema: 1.0 is an integer, true is not
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())

    bad = {k for k, v in params.items() if not is_integer(v)}
    if not bad:
        validate_parameters(schema, params)
        return
    with pytest.raises(ValidationError) as caught:
        validate_parameters(schema, params)
    paths = {m.split(": ", 1)[0] for m in caught.value.details["validation_errors"]}  # type: ignore[attr-defined]
    assert paths == {"/" + k.replace("~", "~0").replace("/", "~1") for k in bad}


def test_unresolvable_reference_is_a_schema_error_not_a_crash() -> None:
    schema = check_parameters_schema('{"properties": {"a": {"$ref": "https://example.com/remote.json"}}}')
    with pytest.raises(ValidationError) as caught:
        validate_parameters(schema, {"a": 1})
    assert caught.value.code == "invalid_parameters_schema"
