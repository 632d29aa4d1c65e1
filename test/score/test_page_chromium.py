"""The listening page in headless Debian Chromium: it loads, its audio exists, its images decode."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from score_helpers import build_experiment

from mal.bin.report import main as report

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "tools" / "installers" / "install_chromium.sh"

#: Appended to a copy of the page: reports every image's decode state and every audio's metadata
#: (polling, so media that loads after the 'load' event is still seen) into <pre id="mal-check">.
CHECK_SCRIPT = """
<img id="control" src="does-not-exist.png" alt="negative control">
<script>
function report(tries) {
  var audios = Array.from(document.querySelectorAll('audio'));
  var pending = audios.filter(function (a) { return a.readyState < 1 && !a.error; });
  if (pending.length && tries < 100) { setTimeout(function () { report(tries + 1); }, 100); return; }
  var out = {
    title: document.title,
    images: Array.from(document.images).map(function (i) {
      return {src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth};
    }),
    audio: audios.map(function (a) {
      var s = a.querySelector('source');
      return {src: s ? s.getAttribute('src') : a.getAttribute('src'), ready: a.readyState,
              duration: a.duration, error: a.error ? a.error.code : null};
    })
  };
  var pre = document.createElement('pre');
  pre.id = 'mal-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
window.addEventListener('load', function () { report(0); });
</script>
"""


def _chromium() -> str:
    """Chromium's path, installing it first if needed; skip (fail when MAL_REQUIRE_CHROMIUM=1)
    only when it cannot be installed."""
    found = shutil.which("chromium")
    if found:
        return found
    proc = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900)
    found = shutil.which("chromium")
    if not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        reason = f"Debian chromium cannot be installed here ({INSTALLER.name} exit {proc.returncode}: {tail[0]})"
        if os.environ.get("MAL_REQUIRE_CHROMIUM") == "1":  # CI: a missing browser is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _dump_dom(chromium: str, page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--autoplay-policy=no-user-gesture-required", "--mute-audio", f"--user-data-dir={profile}",
             "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=180,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def page(speech, tmp_path_factory):
    root = tmp_path_factory.mktemp("chromium")
    exp = build_experiment(root, speech, metrics="stoi,sisdr")
    page_dir = root / "report"
    assert report([
        "--results-md", str(root / "RESULTS.md"), "--scores-root", str(exp["scores_root"]),
        "--page-dir", str(page_dir), "--data-root", str(exp["data_root"]),
        "--enhanced-root", str(exp["enhanced_root"]), "--num-utts", "2",
    ]) == 0
    return page_dir


def test_page_loads_with_every_audio_and_image_in_chromium(page):
    chromium = _chromium()
    index = (page / "index.html").read_text()
    check = page / "check.html"
    check.write_text(index.replace("</body>", CHECK_SCRIPT + "</body>"))
    dom = _dump_dom(chromium, check)

    found = re.search(r'<pre id="mal-check">(.*?)</pre>', dom, re.S)
    assert found, "the page did not finish loading in Chromium:\n" + dom[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result["title"] == "mal listening page"
    assert "<h2 id=\"test_a\">test_a</h2>" in dom and "sys_b" in dom

    images = {i["src"]: i for i in result["images"]}
    assert images.pop("does-not-exist.png")["width"] == 0  # the check does see a broken image
    assert sorted(images) == ["img/test_a/utt1.png", "img/test_a/utt2.png"]
    assert all(i["complete"] and i["width"] > 300 for i in images.values()), images

    sources = re.findall(r'<source src="([^"]+)"', dom)
    assert len(sources) == 8 and sorted(a["src"] for a in result["audio"]) == sorted(sources)
    for src in sources:
        assert (page / src).is_file(), src
    # Chromium decoded each wav's header: a real duration of 2-4 s (flite sentences)
    assert all(a["error"] is None and 1.5 < a["duration"] < 5.0 for a in result["audio"]), result["audio"]
