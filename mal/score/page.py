"""A static, self-contained HTML listening page: audio, spectrograms and scores per utterance.

Layout of ``page_dir`` (all links relative, so the folder can be copied or served anywhere)::

    index.html
    audio/<test_set>/<source>/<key>.wav     noisy, every system's enhanced audio, clean
    img/<test_set>/<key>.png                spectrograms side by side
    img/training/<system>.png               loss curves from <exp_dir>/<system>/log.csv

Audio sources: ``<data_root>/<test_set>/wav.scp`` (noisy) and ``spk1.scp`` (clean), and
``<enhanced_root>/<test_set>/<system>/wav.scp``. Missing audio is shown as such, not fatal.
"""
from __future__ import annotations

import datetime
import html
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import numpy as np

from mal.io.atomic import atomic_open
from mal.io.audio import read_audio, write_wav
from mal.io.scp import read_scp
from mal.score.curves import CurveError, plot_training_curves
from mal.score.results_md import NOISY, TestSetResults, format_mean, table_rows
from mal.score.spectrogram import plot_spectrograms

PathLike = Union[str, os.PathLike]
CLEAN = "clean"
LOG = logging.getLogger(__name__)

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.failed { color: #a00; }
section.utt { border-top: 2px solid #ddd; margin-top: 1.5em; }
img.spec { max-width: 100%; height: auto; }
img.curve { max-width: 48%; height: auto; margin: 0.3em; }
audio { width: 16em; }
"""


@dataclass
class AudioTables:
    """wav.scp-style tables of one test set: source name -> key -> entry."""

    tables: Dict[str, Dict[str, str]] = field(default_factory=dict)

    def entry(self, source: str, key: str) -> Optional[str]:
        return self.tables.get(source, {}).get(key)


def safe_name(key: str) -> str:
    """A file name for an utterance key; odd characters (Kaldi keys may hold '/') are replaced
    and a checksum of the key keeps such names distinct."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", key).lstrip(".")
    return name if name == key else f"{name}-{zlib.crc32(key.encode()):08x}"


def audio_tables(test_set: TestSetResults, data_root: Optional[PathLike], enhanced_root: Optional[PathLike]) -> AudioTables:
    """Find noisy/clean (data root) and each system's enhanced wav.scp; skip what is absent."""
    found = AudioTables()
    if data_root:
        for source, name in ((NOISY, "wav.scp"), (CLEAN, "spk1.scp")):
            path = Path(data_root) / test_set.name / name
            if path.is_file():
                found.tables[source] = read_scp(path)
    if enhanced_root:
        for system in test_set.systems:
            path = Path(enhanced_root) / test_set.name / system / "wav.scp"
            if system != NOISY and path.is_file():
                found.tables[system] = read_scp(path)
    return found


def pick_keys(test_set: TestSetResults, tables: AudioTables, count: int) -> List[str]:
    """The first ``count`` keys of the noisy wav.scp (file order), else of the scores (sorted)."""
    if NOISY in tables.tables:
        keys = list(tables.tables[NOISY])
    else:
        keys = sorted({k for scores in test_set.systems.values() for k in scores.keys})
    return keys[:count]


def _cell(scores, metric: str, key: str) -> str:
    value = scores.values.get(metric, {}).get(key)
    if value is not None:
        return f"<td>{format_mean(value)}</td>"
    reason = scores.failure_reasons(metric).get(key)
    if reason is not None:
        return f'<td class="failed" title="{html.escape(reason)}">failed</td>'
    return "<td>-</td>"


def _audio_tag(src: Optional[str], note: str) -> str:
    if src is None:
        return f"<td>{html.escape(note)}</td>"
    return f'<td><audio controls preload="metadata"><source src="{quote(src)}" type="audio/wav"></audio></td>'


def _summary_table(test_set: TestSetResults) -> str:
    header, rows = table_rows(test_set)
    out = ["<table class=\"summary\">", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out + ["</table>"])


class _UtteranceRenderer:
    """Copies one utterance's audio into the page, draws its spectrograms, renders its section."""

    def __init__(self, page_dir: Path, test_set: TestSetResults, tables: AudioTables):
        self.page_dir, self.test_set, self.tables = page_dir, test_set, tables
        systems = [s for s in test_set.systems if s not in (NOISY, CLEAN)]
        self.sources = [NOISY, *systems] + ([CLEAN] if CLEAN in tables.tables else [])

    def _copy(self, source: str, key: str) -> Tuple[Optional[str], Optional[np.ndarray], int, str]:
        entry = self.tables.entry(source, key)
        if entry is None:
            return None, None, 0, "audio not available"
        try:
            wav, rate = read_audio(entry, key=key)
        except ValueError as e:
            LOG.warning("listening page: %s: %s", source, e)
            return None, None, 0, f"unreadable: {e}"
        rel = f"audio/{safe_name(self.test_set.name)}/{safe_name(source)}/{safe_name(key)}.wav"
        write_wav(self.page_dir / rel, wav, rate)
        return rel, wav, rate, ""

    def render(self, key: str) -> str:
        columns = self.test_set.columns
        anchor = f"{safe_name(self.test_set.name)}-{safe_name(key)}"
        rows, panels = [], []
        for source in self.sources:
            rel, wav, rate, note = self._copy(source, key)
            if wav is not None:
                panels.append((source, wav, rate))
            label = "clean (reference)" if source == CLEAN else source
            cells = [f"<td>{html.escape(label)}</td>", _audio_tag(rel, note)]
            scores = self.test_set.systems.get(source)
            if scores is None:
                cells += ["<td>-</td>" for _ in columns]
            else:
                cells += [_cell(scores, metric, key) for metric in columns]
            rows.append("<tr>" + "".join(cells) + "</tr>")
        image = ""
        if panels:
            rel_png = f"img/{safe_name(self.test_set.name)}/{safe_name(key)}.png"
            plot_spectrograms(panels, self.page_dir / rel_png, title=f"{self.test_set.name} / {key}")
            alt = f"spectrograms of {key}: " + ", ".join(p[0] for p in panels)
            image = f'<img class="spec" src="{quote(rel_png)}" alt="{html.escape(alt)}">'
        header = "<tr><th>system</th><th>audio</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in columns) + "</tr>"
        return "\n".join([
            f'<section class="utt" id="{html.escape(anchor)}">',
            f"<h3>{html.escape(key)}</h3>",
            image,
            "<table>", header, *rows, "</table>",
            "</section>",
        ])


def training_section(page_dir: Path, exp_dir: PathLike, results: Sequence[TestSetResults]) -> List[str]:
    """HTML of a loss-curve PNG per system that has ``exp_dir/<system>/log.csv`` (none: [])."""
    systems = list(dict.fromkeys(s for t in results for s in t.systems))
    images = []
    for system in systems:
        log_csv = Path(exp_dir) / system / "log.csv"
        if not log_csv.is_file():
            continue
        rel = f"img/training/{safe_name(system)}.png"
        try:
            plot_training_curves(log_csv, page_dir / rel, title=system)
        except CurveError as e:
            LOG.warning("listening page: %s", e)
            continue
        images.append(f'<img class="curve" src="{quote(rel)}" alt="{html.escape(f"training curves of {system}")}">')
    if not images:
        return []
    return ['<h2 id="training">Training curves</h2>', "<p>From each system's log.csv (one point per epoch).</p>", *images]


def build_page(
    page_dir: PathLike,
    results: Sequence[TestSetResults],
    data_root: Optional[PathLike] = None,
    enhanced_root: Optional[PathLike] = None,
    num_utts: int = 3,
    title: str = "mal listening page",
    exp_dir: Optional[PathLike] = None,
) -> Path:
    """Write ``page_dir/index.html`` with its audio and images; returns the index path.

    With ``exp_dir``, systems trained there (``exp_dir/<system>/log.csv``) get loss curves.
    """
    page_dir = Path(page_dir)
    page_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>Generated by mal-report on {html.escape(generated)}.</p>"]
    body.append("<ul>" + "".join(
        f'<li><a href="#{quote(safe_name(t.name))}">{html.escape(t.name)}</a></li>' for t in results
    ) + "</ul>")
    if exp_dir:
        body += training_section(page_dir, exp_dir, results)
    for test_set in results:
        tables = audio_tables(test_set, data_root, enhanced_root)
        renderer = _UtteranceRenderer(page_dir, test_set, tables)
        keys = pick_keys(test_set, tables, num_utts)
        body += [
            f'<h2 id="{html.escape(safe_name(test_set.name))}">{html.escape(test_set.name)}</h2>',
            "<p>Mean over all utterances of the test set:</p>",
            _summary_table(test_set),
            f"<p>The first {len(keys)} utterances:</p>",
        ]
        body += [renderer.render(key) for key in keys]
    text = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        *body,
        "</body>",
        "</html>",
    ])
    index = page_dir / "index.html"
    with atomic_open(index) as f:
        f.write(text + "\n")
    return index
