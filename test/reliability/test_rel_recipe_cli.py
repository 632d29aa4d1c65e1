"""egs/TEMPLATE/mal.sh as a user drives it (issue #18): impossible stage ranges and non-numbers are
refused before anything runs; an error names the line that failed (not the line of ``die``); the
replay file ``exp/<tag>/run.sh`` records the full quoted command line of the last run that ran a
stage, and replaying it runs that stage again."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_rel_stage_jobs import REPO, make_recipe

MAL_SH = (REPO / "egs/TEMPLATE/mal.sh").read_text().splitlines()


def env() -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    out.update(MAL_CMD_BACKEND="local", OMP_NUM_THREADS="1")
    return out


def mal_sh(recipe: Path, *args: str, script: str = "./mal.sh") -> subprocess.CompletedProcess:
    return subprocess.run([script, *args], cwd=recipe, env=env(), capture_output=True, text=True, timeout=300)


def error_at(stderr: str) -> tuple:
    """(message, line of mal.sh it names, the text of that line) of the one ERROR line."""
    errors = [line for line in stderr.splitlines() if "ERROR:" in line]
    assert len(errors) == 1, stderr
    match = re.search(r"\(mal\.sh:(\d+)[ )]", errors[0])
    return errors[0], int(match.group(1)), MAL_SH[int(match.group(1)) - 1]


@pytest.mark.parametrize("args,expected", [
    (["--stage", "9"], "--stage 9: no such stage (the stages are 1-8)"),
    (["--stage", "0"], "--stage 0: no such stage"),
    (["--stage", "5", "--stop_stage", "3"], "--stop_stage 3 is before --stage 5: no stage would run"),
    (["--stage", "five"], "--stage takes a whole number, got 'five'"),
    (["--nj", "2x", "--stage", "5"], "--nj takes a whole number, got '2x'"),
    (["--stage", "7", "--stop_stage", "7", "--self_consistency_passes", "0"], "no stage would run"),
])
def test_impossible_stages_are_refused_before_anything_runs(tmp_path, args, expected):
    recipe = make_recipe(tmp_path)
    res = mal_sh(recipe, *args)
    assert res.returncode == 1 and "Successfully" not in res.stdout + res.stderr
    message, _, line = error_at(res.stderr)
    assert expected in message and "integer expression" not in res.stderr
    assert "die" in line  # the line that refused, not log()/die()'s own definition
    assert not (recipe / "exp" / "warmup" / "run.sh").exists()
    assert not (recipe / "exp" / "warmup" / "enhanced").exists()


def test_error_names_the_failing_line_and_its_caller(tmp_path):
    recipe = make_recipe(tmp_path)
    (recipe / "data" / "test" / "wav.scp").write_text("")
    res = mal_sh(recipe, "--stage", "5", "--stop_stage", "5", "--peer_systems", "")
    assert res.returncode != 0
    errors = [line for line in res.stderr.splitlines() if "ERROR:" in line]
    assert "data/test/wav.scp is empty" in errors[0], res.stderr
    where = re.search(r"\(mal\.sh:(\d+) in split_keys, called at mal\.sh:(\d+)\)", errors[0])
    assert where, errors[0]
    assert 'die "${scp} is empty"' in MAL_SH[int(where.group(1)) - 1]
    assert "split_keys" in MAL_SH[int(where.group(2)) - 1]


def test_a_failing_command_outside_die_names_its_line(tmp_path):
    recipe = make_recipe(tmp_path)  # no local/data.sh: stage 1 fails with bash's exit code 127
    res = mal_sh(recipe, "--stage", "1", "--stop_stage", "1")
    assert res.returncode == 127
    message, _, line = error_at(res.stderr)
    assert "exit code 127 from: local/data.sh" in message and line.strip().startswith("local/data.sh")


def test_replay_file_records_the_full_command_and_replays_it(tmp_path):
    recipe = make_recipe(tmp_path)
    args = ["--stage", "5", "--stop_stage", "5", "--nj", "2", "--peer_systems", "",
            "--local_data_opts", "--note 'two words' $HOME;x"]
    res = mal_sh(recipe, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    replay = recipe / "exp" / "warmup" / "run.sh"
    text = replay.read_text()
    assert os.access(replay, os.X_OK) and f"\ncd {recipe} || exit 1\n" in text
    command = text.splitlines()[-1]
    # bash re-reads the recorded line into exactly the arguments the run got
    words = subprocess.run(["bash", "-c", f"set -- {command}; printf '%s\\n' \"$@\""], capture_output=True, text=True).stdout
    assert words.splitlines() == ["./mal.sh", *args]
    recorded = text
    for bad in (["--stage", "9"], ["--stage", "5", "--stop_stage", "3"], ["--stage", "five"], ["--bogus", "1"]):
        assert mal_sh(recipe, *bad).returncode != 0
    assert replay.read_text() == recorded  # calls that ran no stage leave it alone

    enhanced = recipe / "exp" / "warmup" / "enhanced"
    shutil.rmtree(enhanced)
    res = subprocess.run(["bash", str(replay)], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Successfully finished stages 5-5" in res.stdout + res.stderr
    (recipe / "exp/warmup/warmup/config.yaml").write_text("model: {name: tiny, conf: {channels: 4, depth: 2}}\n")
    res = mal_sh(recipe, "--stage", "8", "--stop_stage", "100", "--pack_system", "warmup")  # beyond 8: up to the last
    assert "Successfully finished stages 8-8" in res.stdout + res.stderr, res.stdout + res.stderr
    for system in ("warmup", "mal"):
        assert len((enhanced / "test" / system / "wav.scp").read_text().splitlines()) == 6
