"""The one safe reader of YAML and JSON (`handoff_fsm.loading`): what it reads, what it refuses.

Every YAML test runs twice, with libyaml's parser and with the pure-Python one (`yaml_loader`
fixture), since the checks must hold for both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from handoff_fsm import loading
from handoff_fsm.loading import (
    MAX_NUMBER_DIGITS,
    MAX_VALUES,
    DocumentError,
    check_plain,
    decode,
    has_control_character,
    parse_json,
    parse_yaml,
)
from handoff_fsm.model import bundled_models_dir, load_model

LOADERS = [pytest.param(yaml.SafeLoader, id="pure")]
if getattr(yaml, "__with_libyaml__", False):
    LOADERS.insert(0, pytest.param(yaml.CSafeLoader, id="libyaml"))

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
"""Nine levels of nine aliases each: a few hundred bytes that expand to 9**9 texts."""


@pytest.fixture(params=LOADERS, autouse=True)
def yaml_loader(request: pytest.FixtureRequest) -> Iterator[type[yaml.SafeLoader]]:
    before = loading.YAML_LOADER
    loading.YAML_LOADER = request.param
    yield request.param
    loading.YAML_LOADER = before


def refusal_of_yaml(text: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse_yaml(text)
    assert "\n" not in str(caught.value)
    return caught.value


def refusal_of_json(text: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse_json(text)
    assert "\n" not in str(caught.value)
    return caught.value


# -- what is read ------------------------------------------------------------------------------


def test_the_model_files_load_with_either_parser(yaml_loader: type[yaml.SafeLoader]) -> None:
    for path in sorted(bundled_models_dir().glob("*.yaml")):
        assert load_model(path).states, path


def test_the_chosen_parser_is_the_one_that_runs(
    yaml_loader: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[type[object]] = []
    original = yaml_loader.dispose

    def dispose(self: yaml.SafeLoader) -> None:
        used.append(type(self))
        original(self)

    monkeypatch.setattr(yaml_loader, "dispose", dispose)
    parse_yaml("a: 1\n")
    assert used == [yaml_loader]


def test_yaml_gives_plain_data_and_shares_an_aliased_value() -> None:
    data = parse_yaml("x: &x {a: [1, 2.5, true, null, text]}\ny: *x\n")
    assert data == {
        "x": {"a": [1, 2.5, True, None, "text"]},
        "y": {"a": [1, 2.5, True, None, "text"]},
    }


def test_an_empty_yaml_document_is_none() -> None:
    assert parse_yaml("") is None


def test_json_gives_plain_data() -> None:
    assert parse_json('{"a": [1, -2, 2.5e3, "é", null]}') == {"a": [1, -2, 2500.0, "é", None]}


def test_a_byte_order_mark_is_dropped_and_bad_utf8_named() -> None:
    assert decode(b"\xef\xbb\xbfa") == "a"
    with pytest.raises(DocumentError, match="bad byte at offset 1"):
        decode(b"a\xe9")


# -- aliases ------------------------------------------------------------------------------------


def test_billion_laughs_is_refused_at_once() -> None:
    assert len(BILLION_LAUGHS.encode()) < 600
    error = refusal_of_yaml(BILLION_LAUGHS)
    assert f"expands to more than {MAX_VALUES:,} values" in error.problem
    assert error.place.startswith("line ")


def aliased(copies: int) -> str:
    """A 99-item list (100 values with the list) copied `copies` times by alias: the document
    counts 4 + 100 * (copies + 1) values."""
    items = ", ".join(["0"] * 99)
    return f"x: &x [{items}]\ny: [{', '.join(['*x'] * copies)}]\n"


def test_each_copy_an_alias_makes_counts_up_to_the_bound() -> None:
    assert 4 + 100 * (998 + 1) <= MAX_VALUES < 4 + 100 * (999 + 1)
    assert len(parse_yaml(aliased(998))["y"]) == 998  # type: ignore[index]
    assert "expands to more than" in refusal_of_yaml(aliased(999)).problem


def test_an_alias_inside_what_it_names_is_refused() -> None:
    assert "refers to a value that contains it" in refusal_of_yaml("a: &a [1, *a]\n").problem


# -- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "place", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", "line 3", "key 'a' is given twice"),
        ("a: {1: x, 0x1: y}\n", "line 1", "key 1 is given twice"),
        ("a: &a {k: 1}\nb: {<<: *a}\n", "line 2", "merge keys (<<) are not supported"),
        ("? [1, 2]\n: x\n", "line 1", "a key that is a mapping or a list"),
        ('"a\\nb": 1\n', "top level", "a key with a control character: 'a\\nb'"),
        ('x: {"\\u2028": 1}\n', "x", "a key with a control character: '\\u2028'"),
    ],
)
def test_bad_yaml_keys_are_refused(text: str, place: str, fragment: str) -> None:
    error = refusal_of_yaml(text)
    assert (error.place, fragment in error.problem) == (place, True), error


@pytest.mark.parametrize(
    ("text", "place", "fragment"),
    [
        ('{"a": 1, "a": 2}', "", "gives key 'a' twice"),
        ('{"x": {"a\\tb": 1}}', "x", "a key with a control character: 'a\\tb'"),
        ('{"\\u001b[31m": 1}', "top level", "control character: '\\x1b[31m'"),
    ],
)
def test_bad_json_keys_are_refused(text: str, place: str, fragment: str) -> None:
    error = refusal_of_json(text)
    assert (error.place, fragment in error.problem) == (place, True), error


def test_text_values_may_hold_newlines_and_keys_may_hold_spaces_and_letters() -> None:
    assert parse_json('{"a b é": "line\\nline"}') == {"a b é": "line\nline"}


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", [MAX_NUMBER_DIGITS + 1, 5_000])
def test_a_number_with_too_many_digits_is_refused(digits: int) -> None:
    number = "9" * digits
    yaml_error = refusal_of_yaml(f"a:\n  b: {number}\n")
    assert (yaml_error.place, yaml_error.problem) == (
        "line 2",
        f"is a number of {digits:,} digits (at most {MAX_NUMBER_DIGITS} are read)",
    )
    json_error = refusal_of_json(f'{{"a": [{number}]}}')
    assert json_error.place == "a[0]"
    assert f"{digits:,} digits" in json_error.problem
    assert "digits" in refusal_of_json(f'{{"a": -{number}.5}}').problem


def test_a_number_of_the_most_digits_is_read() -> None:
    number = "9" * MAX_NUMBER_DIGITS
    assert parse_json(f"[{number}]") == [int(number)]
    assert parse_yaml(f"[{number}]") == [int(number)]


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": -Infinity}', '{"a": 1e999}'])
def test_json_numbers_that_are_not_finite_are_refused(text: str) -> None:
    error = refusal_of_json(text)
    assert (error.place, error.problem.startswith("must be a finite number")) == ("a", True)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.Inf"])
def test_yaml_numbers_that_are_not_finite_are_refused(value: str) -> None:
    error = refusal_of_yaml(f"a: [{value}]\n")
    assert (error.place, error.problem.startswith("must be a finite number")) == ("a[0]", True)


# -- text ---------------------------------------------------------------------------------------


def test_an_unpaired_surrogate_is_refused_in_json_values_and_keys() -> None:
    error = refusal_of_json('{"steps": [{"text": "x\\ud800"}]}')
    assert error.place == "steps[0].text"
    assert "unpaired surrogate (\\ud800) at character 1" in error.problem
    assert refusal_of_json('{"\\udfff": 1}').place == "top level"


def test_a_surrogate_pair_is_one_character_and_read() -> None:
    assert parse_json('["\\ud83d\\ude00"]') == ["\U0001f600"]


def test_an_unpaired_surrogate_is_refused_in_yaml() -> None:
    # libyaml refuses the escape itself; the pure-Python parser builds the text, then the check
    # refuses it
    error = refusal_of_yaml('a: "x\\ud800"\n')
    assert "surrogate" in error.problem or "invalid Unicode" in error.problem


# -- check_plain on data built in Python --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "place"),
    [
        ({"a": [float("nan")]}, "a[0]"),
        ({"a": 10**MAX_NUMBER_DIGITS}, "a"),
        ({"a": -(10**MAX_NUMBER_DIGITS)}, "a"),
        ({"a": {"b\nc": 1}}, "a"),
        ({"a": ("x", "\udc80")}, "a[1]"),
    ],
)
def test_check_plain_refuses_data_built_in_python(data: object, place: str) -> None:
    with pytest.raises(DocumentError) as caught:
        check_plain(data)
    assert caught.value.place == place
    assert "\n" not in str(caught.value)


def test_check_plain_accepts_what_json_can_carry() -> None:
    check_plain({"a": [1, 2.5, True, None, "é\n", {"b": 10**MAX_NUMBER_DIGITS - 1}]})


def test_deep_nesting_is_one_error() -> None:
    assert refusal_of_json("[" * 100_000 + "]" * 100_000).problem == "is nested too deeply"
    # libyaml stops at its own depth limit, the pure-Python parser at Python's
    assert "nest" in refusal_of_yaml("[" * 5_000 + "]" * 5_000).problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", False), ("a b é 😀", False), ("a\nb", True), ("\t", True), ("a\u2029", True)],
)
def test_control_characters_are_told_apart(text: str, expected: bool) -> None:
    assert has_control_character(text) is expected
