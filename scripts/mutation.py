"""Mutation testing of the modules that guard the doors: `make mutation` runs mutmut and prints a score per module.

mutmut reads its settings from `[tool.mutmut]` in pyproject.toml (which modules, which fast tests). It leaves
decorated functions alone, and much of what guards the doors is cached (`@lru_cache`) or a property, so this
script works on a copy of the project in `.mutation/` where those decorators are applied after the definition
(`name = lru_cache(maxsize=...)(name)` at the end of the module, line numbers kept) and the caches are cleared
before each test, as are in-process Django caches, and a forked run makes its own thread pools
(`mutation_plugin.py`: a result cached, a request counted or a pool thread lost by an earlier run in the same
process must not decide a mutant's fate).
It runs mutmut there from a fresh copy (a reused one could keep verdicts from older tests), with mutmut's
output in `.mutation/run.log`, then prints every surviving mutant with its line, to be checked against the
accepted survivors in docs/mutation.md, and one row per module. It exits 1 when a module scores below target.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"  # the copy mutmut runs in; mutmut's own copy, with the mutants, is WORK / "mutants"
MUTANTS = WORK / "mutants"
COPIED = ["awsmcp", "mcp_gateway", "docs_proxy", "ops", "oauth", "tests", "manage.py", "pyproject.toml"]
TARGET = 90.0
KEPT_DECORATORS = {"staticmethod", "classmethod"}  # mutmut mutates methods with these as they are

# mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into the columns of the table.
KILLED_CODES = {1, 3, 37}  # a failing test, pytest's internal error, the type checker
TIMEOUT_CODES = {24, -24, 36, 152, 255}
SURVIVED_CODES = {0, 5, 33}  # no test failed, or no test reached the code: either way nothing noticed

# mutmut runs the tests several times in one process (and forks mutants from it): each test must start as it
# would in `make test`, without results cached or requests counted by an earlier run.
PLUGIN = """\"\"\"pytest plugin for mutation runs: each test starts without caches or counters of earlier runs.\"\"\"

import os
import sys

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from awsmcp import pools

MODULES = {modules!r}

# mutmut forks each mutant's run from a process whose thread pools had threads: the child inherits the pools
# without them, and work sent there would wait forever (a false "timeout"). The child makes its own.
os.register_at_fork(after_in_child=pools._pools.clear)


@pytest.fixture(autouse=True)
def _clear_mutated_caches():
    for name in MODULES:
        module = sys.modules.get(name)
        for value in list(vars(module).values()) if module else []:
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()
    for cache in caches.all(initialized_only=True):
        if isinstance(cache, LocMemCache):
            cache.clear()
    yield
"""


def mutated_modules() -> list[str]:
    """The files `[tool.mutmut] only_mutate` names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def _lifted(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    names = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
    return bool(node.decorator_list) and not (len(node.decorator_list) == 1 and names & KEPT_DECORATORS)


def lift_decorators(text: str) -> str:
    """The module with decorated functions and methods decorated at its end instead, so mutmut mutates them.

    Decorator lines become blank lines, so every line keeps its number; applying a decorator later gives the
    same object, since these modules call nothing decorated while they are imported.
    """
    lines = text.splitlines()
    appended = []

    def lift(node: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None) -> None:
        for number in range(node.decorator_list[0].lineno, node.lineno):
            lines[number - 1] = ""
        current = f'{owner}.__dict__["{node.name}"]' if owner else node.name
        for decorator in reversed(node.decorator_list):
            current = f"{ast.get_source_segment(text, decorator)}({current})"
        appended.append(f"{owner + '.' if owner else ''}{node.name} = {current}")

    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _lifted(node):
            lift(node, None)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and _lifted(member):
                    lift(member, node.name)
    if appended:
        lines += [
            "",
            "",
            "# Decorators lifted by scripts/mutation.py so mutmut mutates these functions too.",
            *appended,
        ]
    return "\n".join(lines) + "\n"


def prepare(modules: list[str]) -> None:
    """A fresh copy of the project in WORK, decorators lifted in the mutated modules, the cache plugin beside."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, WORK / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, WORK / name)
    for module in modules:
        path = WORK / module
        path.write_text(lift_decorators(path.read_text()))
    dotted = [module.removesuffix(".py").replace("/", ".") for module in modules]
    (WORK / "mutation_plugin.py").write_text(PLUGIN.format(modules=dotted))


def run_mutmut(children: int) -> float:
    """Run mutmut in WORK; return the seconds it took."""
    started = time.monotonic()
    with open(WORK / "run.log", "w") as log:
        code = subprocess.call(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(children)],
            cwd=WORK,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        print((WORK / "run.log").read_text()[-4000:])
        raise SystemExit(f"mutmut run failed with exit code {code} (log: .mutation/run.log)")
    return time.monotonic() - started


@dataclass
class ModuleScore:
    """What became of one module's mutants."""

    module: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def score(self) -> float:
        caught = self.counts["killed"] + self.counts["timeout"]
        return 100.0 * caught / self.total if self.total else 100.0


def verdict(exit_code: int | None) -> str:
    """The table column an exit code counts in."""
    if exit_code in KILLED_CODES:
        return "killed"
    if exit_code in TIMEOUT_CODES:
        return "timeout"
    if exit_code in SURVIVED_CODES:
        return "survived"
    return "other"  # not checked, skipped, suspicious or a crash: shown so a broken run cannot pass for a good one


def collect(modules: list[str]) -> list[ModuleScore]:
    """One score per mutated module, from the `.meta` file mutmut leaves beside each mutated copy."""
    scores = []
    for module in modules:
        score = ModuleScore(module)
        meta = MUTANTS / f"{module}.meta"
        results = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        for name, exit_code in results.items():
            column = verdict(exit_code)
            score.counts[column] += 1
            if column not in ("killed", "timeout"):
                score.survivors.append(name)
        scores.append(score)
    return scores


def changed_lines(mutant: str, module: str) -> tuple[list[str], list[str]]:
    """The original and mutated lines of a mutant, from mutmut's diff of its function."""
    os.chdir(WORK)  # mutmut finds its mutants relative to the working directory
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(mutant, path=module).splitlines()[3:]  # past the ---, +++ and @@ headers
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:] for line in diff if line.startswith("+")]
    return removed, added


def locate(module: str, mutant: str, removed: list[str]) -> int:
    """The line in the original file of the first line the mutant changed (the function's first when unsure)."""
    key = mutant.rpartition(".")[2].rsplit("__mutmut_", 1)[0]  # x_name, or xǁClassǁname for a method
    name = key.split("ǁ")[-1] if "ǁ" in key else key.removeprefix("x_")
    text = (ROOT / module).read_text()
    first, last = 1, len(text.splitlines())
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first, last = node.lineno, node.end_lineno or node.lineno
            break
    lines = text.splitlines()
    wanted = removed[0].strip() if removed else ""
    for number in range(first, last + 1):
        if wanted and lines[number - 1].strip() == wanted:
            return number
    return first


def print_survivors(scores: list[ModuleScore]) -> None:
    for score in scores:
        for mutant in score.survivors:
            removed, added = changed_lines(mutant, score.module)
            line = locate(score.module, mutant, removed)
            before = " / ".join(text.strip() for text in removed)
            after = " / ".join(text.strip() for text in added) or "(removed)"
            print(f"{score.module}:{line}  {mutant.rpartition('.')[2]}\n    - {before}\n    + {after}")


def print_table(scores: list[ModuleScore]) -> None:
    header = f"{'module':<40} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeout':>7} {'other':>5} {'score':>7}"
    print(header)
    print("-" * len(header))
    for s in scores:
        c = s.counts
        print(
            f"{s.module:<40} {s.total:>7} {c['killed']:>7} {c['survived']:>8} {c['timeout']:>7} {c['other']:>5}"
            f" {s.score:>6.1f}%"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--report-only", action="store_true", help="print the last run's results, run nothing")
    args = parser.parse_args()
    modules = mutated_modules()
    seconds = 0.0
    if not args.report_only:
        started = time.monotonic()
        prepare(modules)
        run_mutmut(args.children)
        seconds = time.monotonic() - started
    scores = collect(modules)
    print("Surviving mutants (each should be listed in docs/mutation.md with why it is harmless):")
    print_survivors(scores)
    print()
    print_table(scores)
    if seconds:
        print(f"\nmutmut ran for {seconds:.0f} s; target: at least {TARGET:.0f}% of mutants killed in each module")
    below = [s.module for s in scores if s.score < TARGET or not s.total]
    if below:
        print(f"Below target (or not mutated): {', '.join(below)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
