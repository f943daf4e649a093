"""`make mutate`: mutation testing of the core with mutmut, and a report of what it found.

Theory of operation: the scope (which files are mutated, which tests judge them, the sample size
and seed) lives in `mutation/config.toml`, as globs, so moving the core's files needs no change
here. A run copies the repository into `mutation/.work/` (mutmut 3 works in a copied tree and wants
its own `setup.cfg`; the repository is never written to), writes mutmut's configuration there,
lets mutmut make every mutant and record which test reaches which function, then runs either a
seeded random sample of the mutants (default) or all of them (`--all`). It writes
`mutation/report.json` and `mutation/report.md`: each mutant's verdict, the diff of every one that
was not killed, and the score.

Rules:
- Verdicts are mutmut's: killed (a test failed), timeout (the tests ran far longer than on the
  clean code: the mutant hung them, it is detected), survived, no tests (no selected test reaches
  the function), caught by type check (not used here).
- A surviving mutant is either a gap (write the test that kills it) or equivalent: it changes no
  behaviour. Equivalents are listed, with the reason, in `mutation/equivalent.toml`, matched by
  function name and by the changed line before and after, never by mutmut's running number, so
  the list survives edits elsewhere in the file and the move of a function to another module.
- score = (killed + timeout) / (total - equivalent).
- The same code, configuration and seed always test the same mutants with the same verdicts
  (the Hypothesis profile of a run is derandomized, see `mutation_hypothesis.py`).
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tokenize
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"

#: What is not copied into the work tree.
IGNORED = (
    ".git",
    ".venv",
    "mutation",
    "mutants",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
    "dist",
    "*.egg-info",
    "out",
)

DETECTED = ("killed", "timeout")
#: Added to every test run (mutmut adds -x); the plugin sets the small Hypothesis budget.
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "-p", "mutation_hypothesis"]
_NO_MATCH = "no-such-mutant-just-list-them"


@dataclass
class Mutant:
    name: str
    status: str
    function: str = ""
    before: str = ""
    after: str = ""
    diff: str = ""
    equivalent: str = ""  # the reason, when listed as equivalent
    text_only: bool = False  # the mutant changes only string literals (a message, a key)


@dataclass
class Report:
    tool: str
    seed: int
    sample: int | None  # None: every mutant
    targets: list[str]
    tests: list[str]
    seconds: float
    generated: int
    counts: dict[str, int] = field(default_factory=dict)
    score: float | None = None
    mutants: list[Mutant] = field(default_factory=list)
    unused_equivalents: list[dict[str, str]] = field(default_factory=list)


# ----------------------------------------------------------------------------- configuration


def load_config(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def expand(patterns: list[str]) -> list[str]:
    """Globs relative to the repository root, as sorted relative paths (a glob may match none)."""
    found: set[str] = set()
    for pattern in patterns:
        for hit in glob.glob(pattern, root_dir=ROOT):
            if (ROOT / hit).is_file():
                found.add(Path(hit).as_posix())
    return sorted(found)


def write_setup_cfg(
    work: Path, package: str, targets: list[str], tests: list[str], timeout_multiplier: float
) -> None:
    also_copy = sorted(p.name for p in work.iterdir() if p.name not in (package, "setup.cfg"))

    def lines(values: list[str]) -> str:
        return "".join(f"\n    {v}" for v in values)

    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        f"source_paths = {package}\n"
        f"only_mutate ={lines(targets)}\n"
        f"also_copy ={lines(also_copy)}\n"
        f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
        f"pytest_add_cli_args ={lines(PYTEST_ARGS)}\n"
        "use_git_change_detection = false\n"
        f"timeout_multiplier = {timeout_multiplier}\n",
        encoding="utf-8",
    )


def prepare(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    scope = config["scope"]
    targets = expand(scope["targets"])
    tests = expand(scope["tests"])
    if not targets:
        sys.exit(f"mutate: no file matches the targets {scope['targets']} in mutation/config.toml")
    if not tests:
        sys.exit(f"mutate: no file matches the tests {scope['tests']} in mutation/config.toml")
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT, WORK, ignore=shutil.ignore_patterns(*IGNORED))
    timeout = float(config["run"].get("timeout_multiplier", 15.0))
    write_setup_cfg(WORK, scope["package"], targets, tests, timeout)
    return targets, tests


# ----------------------------------------------------------------------------- running mutmut


def mutmut(args: list[str], env: dict[str, str], *, check: bool = True) -> int:
    exe = Path(sys.executable).with_name("mutmut")
    command = [str(exe) if exe.exists() else "mutmut", *args]
    done = subprocess.run(
        command, cwd=WORK, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log = WORK / "mutmut.log"
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ mutmut {' '.join(args[:3])}{' ...' if len(args) > 3 else ''}\n")
        f.write(done.stdout)
    if check and done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-30:])
        sys.exit(f"mutate: mutmut failed (exit {done.returncode}); see {log}\n{tail}")
    return done.returncode


def environment(config: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["HYPOTHESIS_PROFILE"] = "mutate"
    env["MUTATION_MAX_EXAMPLES"] = str(config["run"]["max_examples"])
    env["MUTATION_MAX_STEPS"] = str(config["run"]["max_steps"])
    env.pop("CI", None)  # the test selection needs no system program; CI only changes profiles
    return env


def all_mutant_names() -> list[str]:
    names: list[str] = []
    for meta in sorted((WORK / "mutants").rglob("*.py.meta")):
        names += json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return sorted(names)


# ----------------------------------------------------------------------------- results


_SUFFIX = re.compile(r"__mutmut_\d+$")


def function_of(name: str) -> str:
    """`pkg.module.xǁClassǁmethod__mutmut_7` -> `xǁClassǁmethod` (stable across a module move)."""
    return _SUFFIX.sub("", name.rsplit(".", 1)[-1])


def changed_lines(diff: str) -> tuple[str, str]:
    before = [ln[1:].strip() for ln in diff.splitlines() if ln[:1] == "-" and ln[:3] != "---"]
    after = [ln[1:].strip() for ln in diff.splitlines() if ln[:1] == "+" and ln[:3] != "+++"]
    return " / ".join(before), " / ".join(after)


_FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", -1)
_FIELDS = re.compile(r"\{[^{}]*\}")


def _code_tokens(source: str) -> list[str] | None:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    code = []
    for t in tokens:
        if t.type == _FSTRING_MIDDLE:
            continue  # literal text of an f-string (Python 3.12+ tokenizes f-strings)
        if t.type == tokenize.STRING:
            # Python 3.11 keeps an f-string whole: its {fields} are code, the rest is text.
            prefix = t.string[: len(t.string) - len(t.string.lstrip("rRbBfFuU"))]
            code += _FIELDS.findall(t.string) if "f" in prefix.lower() else []
            continue
        code.append(t.string)
    return code


def text_only(before: str, after: str) -> bool:
    """Whether two lines differ only inside string literals (a message text, a dict key)."""
    a, b = _code_tokens(before), _code_tokens(after)
    return a is not None and a == b and before != after


def collect(names: list[str]) -> list[Mutant]:
    """Read mutmut's verdicts, and the diff of every mutant that was not killed."""
    os.chdir(WORK)  # mutmut reads its configuration from the working directory at import
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    codes: dict[str, int | None] = {}
    paths: dict[str, Path] = {}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        source = Path(str(meta.relative_to("mutants"))[: -len(".meta")])
        for name, code in json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].items():
            codes[name] = code
            paths[name] = source
    mutants = []
    for name in names:
        status = status_by_exit_code[codes.get(name)]
        mutant = Mutant(name=name, status=status, function=function_of(name))
        if status not in DETECTED:
            mutant.diff = get_diff_for_mutant(name, path=paths[name])
            mutant.before, mutant.after = changed_lines(mutant.diff)
            mutant.text_only = text_only(mutant.before, mutant.after)
        mutants.append(mutant)
    os.chdir(ROOT)
    return mutants


def equivalent_files() -> list[Path]:
    """`equivalent.toml` and one `equivalent_<area>.toml` per area of the core (so that people
    killing the survivors of different modules never edit the same file)."""
    return [HERE / "equivalent.toml", *sorted(HERE.glob("equivalent_*.toml"))]


def load_equivalents(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        entries: list[dict[str, str]] = tomllib.load(f).get("mutant", [])
    for entry in entries:
        missing = {"function", "before", "after", "reason"} - entry.keys()
        if missing:
            sys.exit(f"mutate: an entry of {path.name} lacks {sorted(missing)}: {entry}")
    return entries


def mark_equivalents(mutants: list[Mutant], entries: list[dict[str, str]]) -> list[dict[str, str]]:
    """Mark the listed equivalents among the undetected; return the entries that matched none."""
    used: set[int] = set()
    for mutant in mutants:
        if mutant.status in DETECTED:
            continue
        for i, entry in enumerate(entries):
            if entry["function"] == mutant.function and (
                (entry["before"], entry["after"]) in (("*", "*"), (mutant.before, mutant.after))
            ):
                mutant.equivalent = entry["reason"]
                used.add(i)
                break
    return [e for i, e in enumerate(entries) if i not in used]


def summarise(report: Report) -> None:
    counts: dict[str, int] = {}
    for mutant in report.mutants:
        key = "equivalent" if mutant.equivalent else mutant.status
        counts[key] = counts.get(key, 0) + 1
    counts["total"] = len(report.mutants)
    undetected = [m for m in report.mutants if m.status not in DETECTED and not m.equivalent]
    counts["undetected, text only"] = sum(m.text_only for m in undetected)
    report.counts = dict(sorted(counts.items()))
    judged = counts["total"] - counts.get("equivalent", 0)
    detected = sum(counts.get(s, 0) for s in DETECTED)
    report.score = detected / judged if judged else None


_NOT_VERDICTS = ("total", "undetected, text only")


def render(report: Report) -> str:
    c = report.counts
    scope = "every mutant" if report.sample is None else f"a sample of {report.sample}"
    score = "n/a" if report.score is None else f"{report.score:.1%}"
    judged = c["total"] - c.get("equivalent", 0)
    detected = c.get("killed", 0) + c.get("timeout", 0)
    out = [
        "# Mutation report",
        "",
        f"Written by `make mutate` ({report.tool}); {scope} of {report.generated} mutants "
        f"(seed {report.seed}), in {report.seconds:.0f} s.",
        "",
        f"Targets: {', '.join(f'`{t}`' for t in report.targets)}.",
        "",
        f"Tests: {', '.join(f'`{t}`' for t in report.tests)}.",
        "",
        "| verdict | mutants |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in c.items() if k not in _NOT_VERDICTS),
        f"| **total** | **{c['total']}** |",
        "",
        f"Of the undetected, {c['undetected, text only']} change only a string literal (a message "
        "text or a key): a test that reads the message or the key kills them.",
        "",
        f"Score: (killed + timeout) / (total - equivalent) = {detected} / {judged} = **{score}**.",
        "",
    ]
    undetected = [m for m in report.mutants if m.status not in DETECTED and not m.equivalent]
    out += ["## Not killed", ""]
    if not undetected:
        out += ["None: every mutant was killed or is listed as equivalent.", ""]
    for m in sorted(undetected, key=lambda m: (m.text_only, m.name)):
        text = ", text only" if m.text_only else ""
        out += [f"### `{m.name}` ({m.status}{text})", "", "```diff", m.diff, "```", ""]
    out += ["## Equivalent (from mutation/equivalent.toml)", ""]
    equivalents = [m for m in report.mutants if m.equivalent]
    if not equivalents:
        out += ["None in this run.", ""]
    for m in equivalents:
        out += [f"- `{m.name}`: `{m.before}` -> `{m.after}`. {m.equivalent}"]
    if report.unused_equivalents and report.sample is None:
        out += ["", "Listed as equivalent but not found (stale entries):", ""]
        out += [f"- `{e['function']}`: `{e['before']}` -> `{e['after']}`"
                for e in report.unused_equivalents]  # fmt: skip
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mutation/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--all", action="store_true", help="test every mutant, not a sample")
    parser.add_argument("--sample", type=int, help="mutants to sample (config: run.sample)")
    parser.add_argument("--seed", type=int, help="the sample's seed (config: run.seed)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="test only the mutants whose name matches (fnmatch, repeatable), e.g. "
        "'handoff_fsm.routing.world.*' or 'handoff_fsm.lifecycle.x_step__mutmut_*': the loop "
        "for killing one module's survivors",
    )
    parser.add_argument("--jobs", type=int, help="parallel mutant runs (0: one per CPU)")
    parser.add_argument("--config", type=Path, default=HERE / "config.toml")
    parser.add_argument("--out", type=Path, default=HERE, help="where report.md/json go")
    parser.add_argument("--work", type=Path, help="the copied tree mutmut runs in (mutation/.work)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report from the last run's verdicts (after editing equivalent.toml)",
    )
    args = parser.parse_args(argv)
    global WORK
    if args.work is not None:
        WORK = args.work.resolve()

    config = load_config(args.config)
    run = config["run"]
    seed = run["seed"] if args.seed is None else args.seed
    size = run["sample"] if args.sample is None else args.sample
    jobs = run["jobs"] if args.jobs is None else args.jobs
    jobs = jobs or os.cpu_count() or 1

    started = time.monotonic()
    if args.report_only:
        targets, tests = expand(config["scope"]["targets"]), expand(config["scope"]["tests"])
    else:
        targets, tests = prepare(config)
        env = environment(config)
        print(f"mutate: {len(targets)} target files, {len(tests)} test files; work tree {WORK}")
        # Make every mutant and record which test reaches which function, testing none: mutmut
        # refuses the unknown name only after that, and its records are reused by the next call.
        mutmut(["run", "--max-children", str(jobs), _NO_MATCH], env, check=False)
    names = all_mutant_names()
    if not (WORK / "mutants" / "mutmut-stats.json").exists() or not names:
        log = WORK / "mutmut.log"
        sys.exit(f"mutate: mutmut made no mutants or could not run the tests; see {log}")
    if args.only:
        chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in args.only)]
        if not chosen:
            sys.exit(f"mutate: no mutant matches {args.only}")
    elif args.all:
        chosen = names
    else:
        chosen = sorted(random.Random(seed).sample(names, min(size, len(names))))
    if not args.report_only:
        print(f"mutate: {len(names)} mutants; testing {len(chosen)} with {jobs} jobs")
        mutmut(["run", "--max-children", str(jobs), *chosen], env)

    report = Report(
        tool="mutmut " + _version("mutmut"),
        seed=seed,
        sample=None if args.all and not args.only else len(chosen),
        targets=targets,
        tests=tests,
        seconds=0.0,
        generated=len(names),
    )
    report.mutants = collect(chosen)
    entries = [e for path in equivalent_files() for e in load_equivalents(path)]
    report.unused_equivalents = mark_equivalents(report.mutants, entries)
    summarise(report)
    report.seconds = round(time.monotonic() - started, 1)
    previous = args.out / "report.json"
    if args.report_only and previous.exists():  # the time of the run that gave the verdicts
        report.seconds = json.loads(previous.read_text(encoding="utf-8"))["seconds"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(
        json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (args.out / "report.md").write_text(render(report), encoding="utf-8")
    score = "n/a" if report.score is None else f"{report.score:.1%}"
    print(f"mutate: {report.counts} score {score}; report in {args.out / 'report.md'}")
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
