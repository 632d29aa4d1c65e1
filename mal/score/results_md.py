"""RESULTS.md, ESPnet style: environment, then one table per test set (a row per system).

Scores are read from ``<scores_root>/<test_set>/<system>/<metric>`` (see mal.score.summary);
every metric file present becomes a column, so extra scorers (e.g. WER) need no change here.
A cell is the set-level value of :func:`mal.score.summary.summarize`: the mean over utterances,
or total errors / total length for error rates with a ``<metric>.counts`` file (WER, CER).
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mal.io.atomic import atomic_open
from mal.score.metrics import ALL_METRICS
from mal.score.summary import FAILED, Scores, is_metric_file, read_scores_dir, summarize

PathLike = Union[str, os.PathLike]
NOISY = "noisy"
MISSING = "-"


@dataclass
class TestSetResults:
    """Scores of every system on one test set, systems in display order."""

    name: str
    systems: Dict[str, Scores]

    @property
    def columns(self) -> List[str]:
        return metric_columns(self.systems.values())


def order_systems(names: Sequence[str], preferred: Optional[Sequence[str]] = None) -> List[str]:
    """``noisy`` first, then ``preferred`` (in its order), then the rest alphabetically."""
    preferred = [n for n in (preferred or []) if n in names and n != NOISY]
    rest = sorted(n for n in names if n != NOISY and n not in preferred)
    return ([NOISY] if NOISY in names else []) + preferred + rest


def metric_columns(systems) -> List[str]:
    """Known metrics in their canonical order, then any other metric (e.g. wer) alphabetically."""
    present = set()
    for scores in systems:
        present.update(scores.metrics)
    return [m for m in ALL_METRICS if m in present] + sorted(present - set(ALL_METRICS))


def _is_system_dir(path: Path) -> bool:
    return path.is_dir() and any(is_metric_file(p) or p.name == FAILED for p in path.iterdir())


def collect_results(scores_root: PathLike, system_order: Optional[Sequence[str]] = None) -> List[TestSetResults]:
    """Every ``<test_set>/<system>`` scores directory under ``scores_root``, test sets sorted."""
    root = Path(scores_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: scores root not found")
    results = []
    for test_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        names = [p.name for p in test_dir.iterdir() if _is_system_dir(p)]
        if names:
            systems = {name: read_scores_dir(test_dir / name) for name in order_systems(names, system_order)}
            results.append(TestSetResults(test_dir.name, systems))
    if not results:
        raise FileNotFoundError(f"{root}: no <test_set>/<system>/<metric> score files found")
    return results


def format_mean(value: float) -> str:
    return f"{value:.3f}"


def summary_cell(summary: Optional[Dict[str, object]], total: Optional[int] = None) -> str:
    """Set-level value, annotated with the count when it covers fewer than ``total`` utterances
    (failures, or a metric scored on a subset such as DNSMOS); '-' if absent."""
    if summary is None:
        return MISSING
    if not summary["count"]:
        return f"{MISSING} ({summary['failed']} failed)"
    if summary["value"] is None:  # an error rate over references of total length 0
        return MISSING
    text = format_mean(summary["value"])
    if summary["failed"]:
        text += f" (n={summary['count']}, {summary['failed']} failed)"
    elif total is not None and summary["count"] < total:
        text += f" (n={summary['count']})"
    return text


def table_rows(test_set: TestSetResults) -> Tuple[List[str], List[List[str]]]:
    """Header and rows (strings) of a test set's summary table: system, n, failed, metrics."""
    columns = test_set.columns
    header = ["system", "n", "failed", *columns]
    rows = []
    for name, scores in test_set.systems.items():
        summary = summarize(scores)
        cells = [summary_cell(summary.get(metric), len(scores.keys)) for metric in columns]
        rows.append([name, str(len(scores.keys)), str(len(scores.failures)), *cells])
    return header, rows


def rate_metrics(results: Sequence[TestSetResults]) -> List[str]:
    """Metrics shown as total errors / total length (they have ``<metric>.counts`` files)."""
    return sorted({m for t in results for scores in t.systems.values() for m in scores.counts})


def _git_dir(start: Path) -> Optional[Path]:
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot_git.read_text().strip()
            if text.startswith("gitdir:"):
                return (directory / text.split(":", 1)[1].strip()).resolve()
    return None


def git_revision(start: Optional[PathLike] = None) -> Optional[Tuple[str, Optional[str]]]:
    """(commit hash, commit date) of the repository holding ``start`` (default: cwd), from .git files."""
    git = _git_dir(Path(start or os.getcwd()).resolve())
    if git is None:
        return None
    head = (git / "HEAD").read_text().strip()
    if not head.startswith("ref:"):
        commit = head
    else:
        ref = head.split(":", 1)[1].strip()
        common = Path(git / "commondir").read_text().strip() if (git / "commondir").is_file() else "."
        common_dir = (git / common).resolve()
        commit = None
        for base in (git, common_dir):
            if (base / ref).is_file():
                commit = (base / ref).read_text().strip()
                break
        if commit is None and (common_dir / "packed-refs").is_file():
            for line in (common_dir / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    commit = line.split()[0]
        if commit is None:
            return None
    return commit, _commit_date(git, commit)


def _commit_date(git: Path, commit: str) -> Optional[str]:
    """Committer date of a loose commit object (None if packed or unreadable)."""
    common = Path(git / "commondir").read_text().strip() if (git / "commondir").is_file() else "."
    path = (git / common / "objects" / commit[:2] / commit[2:]).resolve()
    try:
        data = zlib.decompress(path.read_bytes()).decode("utf-8", "replace")
    except (OSError, zlib.error):
        return None
    for line in data.split("\n"):
        if line.startswith("committer "):
            seconds, offset = line.rsplit(" ", 2)[-2:]
            sign = -1 if offset.startswith("-") else 1
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
            return datetime.datetime.fromtimestamp(int(seconds), tz).strftime("%a %b %d %H:%M:%S %Y %z")
    return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _gpu_name() -> str:
    try:
        import torch
    except ImportError:
        return "unknown (torch not importable)"
    if not torch.cuda.is_available():
        return "none (CUDA not available)"
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


def environment(repo_dir: Optional[PathLike] = None) -> List[Tuple[str, str]]:
    """(label, value) pairs describing where and with what the results were made."""
    import mal

    env = [
        ("date", datetime.datetime.now().astimezone().strftime("%a %b %d %H:%M:%S %Z %Y")),
        ("python version", f"{sys.version.split()[0]} ({platform.platform()})"),
        ("torch version", _version("torch")),
        ("mal version", mal.__version__),
    ]
    revision = git_revision(repo_dir)
    if revision:
        env.append(("Git hash", revision[0]))
        if revision[1]:
            env.append(("Commit date", revision[1]))
    env.append(("CPU", f"{_cpu_name()} x {os.cpu_count()}"))
    env.append(("GPU", _gpu_name()))
    return env


def _markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["|" + "|".join(header) + "|", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["|" + "|".join(cell.replace("|", "\\|") for cell in row) + "|" for row in rows]
    return "\n".join(lines)


def render_results_md(
    results: Sequence[TestSetResults],
    env: Sequence[Tuple[str, str]],
    scores_root: Optional[str] = None,
    page_link: Optional[str] = None,
    extra_lines: Sequence[str] = (),
) -> str:
    """The RESULTS.md text; ``extra_lines`` (e.g. a paired-differences section) go after the tables."""
    out = ["<!-- Generated by mal-report -->", "# RESULTS", "## Environments"]
    for label, value in env:
        indent = "  " if label == "Commit date" else ""
        out.append(f"{indent}- {label}: `{value}`")
    out.append("")
    notes = [
        "Mean over utterances. `n`: utterances of the system; `failed`: metric failures (listed in each "
        "scores directory's `failed` file and never averaged). A cell with failures shows how many "
        "utterances it averages; `-`: metric not scored for that system.",
    ]
    rates = rate_metrics(results)
    if rates:
        notes.append(
            f"{', '.join(f'`{m}`' for m in rates)}: error rate of the whole set in % "
            "(total errors / total reference length, from `<metric>.counts`), not the mean of per-utterance rates."
        )
    if scores_root:
        notes.append(f"Per-utterance scores: `{scores_root}/<test_set>/<system>/<metric>`.")
    if page_link:
        notes.append(f"Listening page (audio, spectrograms, per-utterance scores): [{page_link}]({page_link}).")
    for note in notes:
        out += [note, ""]
    out.pop()
    for test_set in results:
        header, rows = table_rows(test_set)
        out += ["", f"## {test_set.name}", "", _markdown_table(header, rows)]
    out += list(extra_lines)
    return "\n".join(out) + "\n"


def write_results_md(
    path: PathLike,
    results: Sequence[TestSetResults],
    scores_root: Optional[PathLike] = None,
    page_index: Optional[PathLike] = None,
    repo_dir: Optional[PathLike] = None,
    extra_lines: Sequence[str] = (),
) -> str:
    """Write RESULTS.md atomically; links the listening page relative to the file. Returns the text."""
    path = Path(path)
    here = path.resolve().parent
    link = os.path.relpath(Path(page_index).resolve(), here) if page_index else None
    root = os.path.relpath(Path(scores_root).resolve(), here) if scores_root else None
    text = render_results_md(results, environment(repo_dir), root, link, extra_lines)
    with atomic_open(path) as f:
        f.write(text)
    return text
