"""utils/parse_options.sh, sourced by a bash script as in Kaldi/ESPnet recipes."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PARSE_OPTIONS = Path(__file__).resolve().parents[2] / "utils" / "parse_options.sh"

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=1
stop_stage=100
nj=4
use_gpu=false
tag=""
help_message="Usage: demo.sh [options] <data-dir>
  --stage N     first stage"
. {PARSE_OPTIONS}
echo "stage=$stage stop_stage=$stop_stage nj=$nj use_gpu=$use_gpu tag=[$tag]"
echo "args=[$*] count=$#"
"""


@pytest.fixture
def demo(tmp_path):
    script = tmp_path / "demo.sh"
    script.write_text(SCRIPT)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    return run


def test_options_set_variables_and_leave_arguments(demo):
    res = demo("--stage", "3", "--stop-stage", "5", "--use-gpu", "true", "--tag=a b", "data/train", "--nj", "9")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["stage=3 stop_stage=5 nj=4 use_gpu=true tag=[a b]",
                                       "args=[data/train --nj 9] count=3"]
    res = demo("--stop_stage", "2", "--", "--not-an-option")  # ESPnet's underscore spelling; "--" ends options
    assert res.stdout.splitlines() == ["stage=1 stop_stage=2 nj=4 use_gpu=false tag=[]", "args=[--not-an-option] count=1"]


def test_help_prints_help_message_and_exits_zero(demo):
    for flag in ("--help", "-h"):
        res = demo("--stage", "2", flag)
        assert res.returncode == 0
        assert res.stdout == "Usage: demo.sh [options] <data-dir>\n  --stage N     first stage\n"


def test_unknown_option_fails_naming_it(demo):
    res = demo("--stgae", "3", "data")
    assert res.returncode == 1 and res.stdout == ""
    assert "unknown option --stgae" in res.stderr and "no variable 'stgae'" in res.stderr


def test_boolean_takes_only_true_or_false(demo):
    res = demo("--use-gpu", "yes")
    assert res.returncode == 1 and "--use-gpu (command line) takes true or false, got 'yes'" in res.stderr


def test_option_without_value_fails(demo):
    res = demo("--nj")
    assert res.returncode == 1 and "option --nj needs a value" in res.stderr


def test_config_file_then_command_line(demo, tmp_path):
    conf = tmp_path / "run.conf"
    conf.write_text("# stages\nstage=4\n\ntag = \"from conf\"   # trailing comment\n--nj=2\nuse_gpu=true\n")
    res = demo("--nj", "7", "--config", str(conf), "x")  # the command line wins wherever --config is
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "stage=4 stop_stage=100 nj=7 use_gpu=true tag=[from conf]"
    conf.write_text("stage=2\nnot_defined=1\n")
    res = demo("--config", str(conf))
    assert res.returncode == 1 and f"unknown option --not_defined ({conf} line 2)" in res.stderr
    conf.write_text("just words\n")
    res = demo("--config", str(conf))
    assert res.returncode == 1 and f"{conf} line 1: expected name=value" in res.stderr
    res = demo("--config", str(tmp_path / "absent.conf"))
    assert res.returncode == 1 and f"missing config '{tmp_path / 'absent.conf'}'" in res.stderr  # Kaldi's words
    res = demo("--config", str(tmp_path))  # a directory is no config either
    assert res.returncode == 1 and "missing config" in res.stderr
