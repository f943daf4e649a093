"""`handoff-fsm run FILE [--strict] [--store STORE]`: feed a scenario to the switchboard, print
effects as JSONL.

Theory of operation: the whole file is read and checked first (`load_scenario`); a bad file raises
`ScenarioError`, which `cli.main` prints as the one line `handoff-fsm run: FILE: PLACE: PROBLEM`
with exit status 2, before anything is written to standard output. Then a switchboard is built
from the file's config and each step is handed to it with its time (`ScenarioStep.now`) and id;
every effect it returns becomes one line, and a step it refuses (`StepRefused`) becomes one
`error` line, after which the run goes on, or, with `--strict`, stops with exit status 1. A refusal
can come after time passed: the timeouts that fired on the way (the refused `StepResult`'s
effects) did happen, so their lines are written first, then the error line.

Rules (SPEC §5, and docs/scenario-format.md):
- Keys come in a fixed order: `seq` (1, 2, ... over the whole run), `step` (from 0), `kind`,
  `conversation`, `to`, `state`, then the effect's own `fields()`. `state` is read after the whole
  step, so every line of a step carries the same state for the same conversation.
- Retried deliveries (an `id` seen before) are the switchboard's business: it returns no effects,
  so the runner writes nothing; the runner only passes the id through.
- Lines are byte-stable: compact separators, the contract's key order (never sorted), text kept as
  UTF-8 rather than `\\u` escapes, whatever the locale, and `\\n` line ends.
- `run_scenario` and the line formatters take no file names and open nothing, so the demo and the
  store adapter can reuse them on any text stream.
- `--store STORE` runs onto a durable store (`handoff_fsm.adapters.store`, docs/store.md): the
  first run creates it from the file's config; a later run checks that the file's config is the
  store's and that the file's steps up to the last logged one are the logged steps, then runs only
  the steps after it, numbering its lines on from the lines the store's log already made. So
  running one file twice applies nothing the second time, and a longer file goes on where the
  shorter one stopped; `handoff-fsm replay STORE` prints every run's lines back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from handoff_fsm.adapters.jsonl import BASE_KEYS as BASE_KEYS  # re-exported
from handoff_fsm.adapters.jsonl import format_line as format_line  # re-exported
from handoff_fsm.adapters.scenario import Scenario, ScenarioStep, load_scenario
from handoff_fsm.config import Config
from handoff_fsm.effects import Effect
from handoff_fsm.errors import StepRefused, StoreError
from handoff_fsm.events import Event
from handoff_fsm.lifecycle import State

if TYPE_CHECKING:
    from handoff_fsm.adapters.store import Store
    from handoff_fsm.switchboard import StepResult

HELP = "run a scenario file (JSON or YAML) and print one JSON line per effect"

ERROR_KIND = "error"


class SwitchboardLike(Protocol):
    """What the runner needs of `handoff_fsm.switchboard.Switchboard` (tests pass fakes)."""

    def step(self, event: Event, /, *, now: float | None, step_id: str | None) -> StepResult: ...

    def state_of(self, conversation: str, /) -> State | None: ...


SwitchboardFactory = Callable[[Config], SwitchboardLike]


def default_switchboard(config: Config) -> SwitchboardLike:
    """The real switchboard, imported on first use so that this module loads without it."""
    from handoff_fsm.switchboard import Switchboard

    board: SwitchboardLike = Switchboard(config)
    return board


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", type=Path, help="the scenario (.json, .yaml, .yml)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop with exit status 1 at the first refused step (after printing its error line)",
    )
    parser.add_argument(
        "--store",
        metavar="STORE",
        type=Path,
        default=None,
        help="log every step in this SQLite store (created from the file's config if missing); "
        "on an existing store, run only the file's steps after the last one it logged",
    )


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)  # a ScenarioError becomes cli.main's one stderr line
    store: Path | None = getattr(args, "store", None)
    try:
        with utf8_stdout() as out:
            if store is not None:
                return run_on_store(scenario, store, out, strict=args.strict)
            return run_scenario(scenario, out, strict=args.strict)
    except BrokenPipeError:
        # The reader went away (`handoff-fsm run x | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run_scenario(
    scenario: Scenario,
    out: TextIO,
    *,
    strict: bool = False,
    switchboard_factory: SwitchboardFactory | None = None,
) -> int:
    """Feed every step to a new switchboard and write its lines to `out`; return the exit status
    (0, or 1 when `strict` and a step was refused). `None` means `default_switchboard`."""
    board = (switchboard_factory or default_switchboard)(scenario.config)
    return run_steps(board, scenario.steps, out, strict=strict)


def run_steps(
    board: SwitchboardLike,
    steps: Iterable[ScenarioStep],
    out: TextIO,
    *,
    strict: bool = False,
    seq: int = 0,
) -> int:
    """Feed `steps` to `board` and write their lines, numbered from `seq + 1`; return the exit
    status as `run_scenario` does."""
    for step in steps:
        result = board.step(step.event, now=step.now, step_id=step.id)
        refused = result.error  # its effects are the timeouts that fired before the refusal
        lines = step_lines(board, seq, step, result.effects, refused)
        out.write("".join(line + "\n" for line in lines))
        seq += len(lines)
        if refused is not None and strict:
            return 1
    return 0


def run_on_store(scenario: Scenario, path: Path, out: TextIO, *, strict: bool = False) -> int:
    """Run `scenario` onto the store at `path` (created if missing), going on after the last step
    the store logged; write only the new steps' lines. `StoreError` if the store belongs to
    another config or another file (its logged steps are not the file's)."""
    from handoff_fsm.adapters.store import DurableSwitchboard, Store

    store = Store.open_or_create(path, scenario.config)
    try:
        last = _last_logged_index(scenario, store)  # before anything is written
        board = DurableSwitchboard(store)
    except BaseException:
        store.close()
        raise
    with board:
        pending = [step for step in scenario.steps if step.index > last]
        return run_steps(board, pending, out, strict=strict, seq=store.line_count())


def _last_logged_index(scenario: Scenario, store: Store) -> int:
    """The index of the last step the store logged (-1: none), once every logged step is found
    to be the file's step of that index (steps beyond the file came from a longer version of it,
    of which this file is a prefix)."""
    last = -1
    for logged in store.steps():
        last = max(last, logged.index)
        if logged.index >= len(scenario.steps):
            continue
        step = scenario.steps[max(logged.index, 0)]
        if logged.index < 0 or (step.event, step.now, step.id) != logged.call:
            raise StoreError(
                f"{store.path}: step {logged.index} of the file is not the step the store logged "
                "for it; a store goes on only with the file that started it, or a longer version "
                "of that file"
            )
    logged_last = store.last_step_index()  # a compacted log no longer holds the first steps
    return max(last, -1 if logged_last is None else logged_last)


def step_lines(
    board: SwitchboardLike,
    seq: int,
    step: ScenarioStep,
    effects: Sequence[Effect],
    refused: StepRefused | None = None,
) -> list[str]:
    """The lines of one step that `board` has just handled, numbered from `seq + 1`: one per
    effect, then the error line if the step was refused. States are read now, after the step."""
    about: list[str | None] = [effect.conversation for effect in effects]
    if refused is not None:
        about.append(step.event.conversation)
    states = {c: board.state_of(c) for c in dict.fromkeys(about) if c is not None}
    lines = [
        effect_line(
            seq + number,
            step.index,
            effect,
            None if effect.conversation is None else states[effect.conversation],
        )
        for number, effect in enumerate(effects, start=1)
    ]
    if refused is not None:
        conversation = step.event.conversation
        state = None if conversation is None else states[conversation]
        lines.append(error_line(seq + len(lines) + 1, step, state, str(refused)))
    return lines


def effect_line(seq: int, step: int, effect: Effect, state: State | None) -> str:
    return format_line(
        seq=seq,
        step=step,
        kind=effect.KIND,
        conversation=effect.conversation,
        to=effect.to,
        state=state,
        fields=effect.fields(),
    )


def error_line(seq: int, step: ScenarioStep, state: State | None, problem: str) -> str:
    """The line of a refused step: `error` names the step (index and kind) and the problem."""
    return format_line(
        seq=seq,
        step=step.index,
        kind=ERROR_KIND,
        conversation=step.event.conversation,
        to=None,
        state=state,
        fields={"error": f"step {step.index} ({step.event.STEP}): {problem}"},
    )


@contextlib.contextmanager
def utf8_stdout() -> Iterator[TextIO]:
    """Standard output as UTF-8 with `\\n` line ends, whatever the locale says, so the bytes of a
    run are the same everywhere. Falls back to `sys.stdout` itself if it has no byte buffer."""
    stdout = sys.stdout
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:
        yield stdout
        return
    stdout.flush()
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=True)
    try:
        yield out
    finally:
        out.flush()
        out.detach()  # leave sys.stdout's buffer open
