"""The one safe reader of YAML and JSON text, for the model files and the scenario files alike.

Theory of operation: `parse_yaml` and `parse_json` turn text into plain data (dicts, lists, text,
numbers, booleans, null) and refuse, as a `DocumentError(place, problem)`, whatever could hurt
the program that reads it or hide a mistake in it. The caller (`handoff_fsm.model`, the scenario
adapter) names its file and turns the error into its own `HandoffError`. Nothing here does I/O:
the caller reads the bytes (the scenario adapter bounds them by `MAX_FILE_BYTES`) and `decode`s
them.

YAML is read in three moves, so that the checks hold with libyaml's C parser (`CSafeLoader`,
used where PyYAML was built with it) as with the pure-Python `SafeLoader`: compose the node graph,
check the graph, then construct the values. The graph check refuses duplicate keys, merge keys
(`<<`), keys that are not scalars, aliases that refer to what contains them, numbers written with
more than `MAX_NUMBER_DIGITS` digits, and a document that would expand to more than `MAX_VALUES`
values counting every copy an alias makes (so a few hundred bytes of nested aliases, "billion
laughs", are refused before anything is built). JSON is read with `json.loads`, duplicate keys
refused, long numbers kept aside until the check below names their place.

Then `check_plain` walks the values (YAML and JSON the same way) and refuses text that is not
valid Unicode (an unpaired surrogate such as `"\\ud800"`, which no UTF-8 output can carry), keys
holding control characters (they would break one-line messages; the message shows them escaped),
numbers that are not finite or have too many digits. Places are dotted paths
(`participants.rep-1.capacity`, `steps[3].accept`), or `line N` where only the text knows it;
every problem is one line.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable
from typing import Any, Final, NoReturn

import attrs
import yaml

MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""The largest file a reader accepts (16 MiB); checked by the caller that reads the bytes."""
MAX_NUMBER_DIGITS: Final = 100
"""The most digits a number may be written with (Python refuses to read whole numbers past
4,300 digits, and no count or time of this project needs more than a few dozen)."""
MAX_VALUES: Final = 100_000
"""The most values (mappings, lists and scalars) a YAML document may expand to, counting each
copy an alias makes."""

YAML_LOADER: type[yaml.SafeLoader] | type[Any] = (
    yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
)
"""libyaml's parser where PyYAML has it, the pure-Python one otherwise (the checks are the same;
tests set this to `yaml.SafeLoader` to prove it)."""

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BIGGEST_INT = 10**MAX_NUMBER_DIGITS


class DocumentError(ValueError):
    """Text that cannot be read as plain data, or holds what this reader refuses. `place` is a
    dotted path or `line N` (empty when the whole text is at fault); `problem` is one line."""

    def __init__(self, place: str, problem: str) -> None:
        self.place = place
        self.problem = problem
        super().__init__(place, problem)

    def __str__(self) -> str:
        return f"{self.place}: {self.problem}" if self.place else self.problem


def decode(raw: bytes) -> str:
    """UTF-8 text, with or without a byte order mark."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError("", f"is not UTF-8 text (bad byte at offset {exc.start})") from None


def one_line(text: str) -> str:
    """`text` with every run of white space (newlines included) made one space."""
    return " ".join(text.split())


def shown(text: str) -> str:
    """`text` quoted for a message, control characters escaped (`'a\\nb'`), so it stays one
    line."""
    return repr(text)


# -- YAML ---------------------------------------------------------------------------------------


def parse_yaml(text: str) -> object:
    """The plain data of one YAML document (`None` for an empty one); `DocumentError` if it
    cannot be read or breaks a rule of this module."""
    loader = YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _GraphCheck(loader.construct_object).size(node)
        data: object = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be parsed"
        raise DocumentError(_line(mark), one_line(f"is not valid YAML ({problem})")) from None
    except yaml.YAMLError as exc:
        raise DocumentError("", one_line(f"is not valid YAML ({exc})")) from None
    except RecursionError:
        raise DocumentError("", "is nested too deeply") from None
    finally:
        loader.dispose()
    check_plain(data)
    return data


def _line(mark: yaml.Mark | None) -> str:
    return "" if mark is None else f"line {mark.line + 1}"


@attrs.define
class _GraphCheck:
    """One walk over a composed YAML node graph, each node once (aliases share nodes), adding up
    what the document would expand to."""

    construct: Callable[[yaml.Node], Any]
    sizes: dict[int, int] = attrs.Factory(dict)
    open: set[int] = attrs.Factory(set)

    def fail(self, node: yaml.Node, problem: str) -> NoReturn:
        raise DocumentError(_line(node.start_mark), problem)

    def size(self, node: yaml.Node) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            self.fail(node, "an alias refers to a value that contains it")
        self.open.add(key)
        if isinstance(node, yaml.ScalarNode):
            self.scalar(node)
            total = 1
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(self.size(item) for item in node.value)
        else:
            assert isinstance(node, yaml.MappingNode)
            total = 1 + self.mapping(node)
        if total > MAX_VALUES:
            self.fail(
                node,
                f"expands to more than {MAX_VALUES:,} values (aliases copy what they name)",
            )
        self.open.discard(key)
        self.sizes[key] = total
        return total

    def scalar(self, node: yaml.ScalarNode) -> None:
        if node.tag in (_INT_TAG, _FLOAT_TAG):
            digits = sum(char.isalnum() for char in node.value)
            if digits > MAX_NUMBER_DIGITS:
                self.fail(node, _too_many_digits(digits))

    def mapping(self, node: yaml.MappingNode) -> int:
        total = 0
        seen: set[object] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.fail(key_node, "merge keys (<<) are not supported: write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, "has a key that is a mapping or a list")
            total += self.size(key_node)
            key = self.construct(key_node)
            if key in seen:
                self.fail(key_node, f"key {_describe_key(key)} is given twice in one mapping")
            seen.add(key)
            total += self.size(value_node)
        return total


def _describe_key(key: object) -> str:
    return shown(key) if isinstance(key, str) else repr(key)


def _too_many_digits(digits: int) -> str:
    return f"is a number of {digits:,} digits (at most {MAX_NUMBER_DIGITS} are read)"


# -- JSON ---------------------------------------------------------------------------------------


@attrs.frozen
class _LongNumber:
    """A JSON number written with too many digits, kept until `check_plain` names its place."""

    digits: int


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, value in pairs:
        if key in table:
            raise _DuplicateKey(key)
        table[key] = value
    return table


def _json_int(text: str) -> int | _LongNumber:
    digits = len(text) - text.startswith("-")
    return _LongNumber(digits) if digits > MAX_NUMBER_DIGITS else int(text)


def _json_float(text: str) -> float | _LongNumber:
    digits = sum(char.isdigit() for char in text)
    return _LongNumber(digits) if digits > MAX_NUMBER_DIGITS else float(text)


def parse_json(text: str) -> object:
    """The plain data of a JSON text; `DocumentError` if it cannot be read or breaks a rule of
    this module (`NaN` and `Infinity`, which Python would accept, are refused)."""
    try:
        data: object = json.loads(
            text, object_pairs_hook=_unique_pairs, parse_int=_json_int, parse_float=_json_float
        )
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"line {exc.lineno}", f"is not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except _DuplicateKey as exc:
        raise DocumentError("", f"gives key {shown(str(exc))} twice in one JSON object") from None
    except RecursionError:
        raise DocumentError("", "is nested too deeply") from None
    check_plain(data)
    return data


# -- the values ---------------------------------------------------------------------------------


_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def has_control_character(text: str) -> bool:
    """Whether `text` holds a control character (newline, tab, escape...) or a line or paragraph
    separator: what would break a one-line message."""
    return not text.isprintable() and any(
        unicodedata.category(char) in _CONTROL_CATEGORIES for char in text
    )


def check_plain(data: object, place: str = "") -> None:
    """Refuse, naming the place, what `data` must not hold: text that is not valid Unicode, keys
    with control characters, numbers that are not finite or have more than `MAX_NUMBER_DIGITS`
    digits. Values of other types pass: what a value may be is the caller's business."""
    try:
        _check(data, place)
    except RecursionError:
        raise DocumentError("", "is nested too deeply") from None


def _check(value: object, place: str) -> None:
    if isinstance(value, str):
        _check_text(value, place)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if abs(value) >= _BIGGEST_INT:
            raise DocumentError(place, f"is a number of more than {MAX_NUMBER_DIGITS} digits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DocumentError(place, f"must be a finite number, got {value!r}")
    elif isinstance(value, _LongNumber):
        raise DocumentError(place, _too_many_digits(value.digits))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{place}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                _check_key(key, place)
            _check(item, f"{place}.{key}" if place else str(key))


def _check_key(key: str, place: str) -> None:
    where = place or "top level"
    if has_control_character(key):
        raise DocumentError(where, f"has a key with a control character: {shown(key)}")
    _check_text(key, where)


def _check_text(text: str, place: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise DocumentError(
            place,
            f"holds an unpaired surrogate (\\u{code:04x}) at character {exc.start}: "
            "text must be valid Unicode",
        ) from None
