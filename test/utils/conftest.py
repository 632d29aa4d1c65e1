"""Fixtures for the utils/ tests: paths, a script runner, and a real single-node Slurm.

The ``slurm_env`` fixture starts munged, slurmctld and slurmd in a temporary directory
(own munge key and socket, free ports) and yields an environment with SLURM_CONF set.
Without root or the Debian packages (``make -C tools slurm``) the Slurm tests are skipped
with the reason; set MAL_REQUIRE_SLURM=1 to make that a failure instead (CI).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "utils"
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _run_tool(args: List[str], cwd: Path, env: Optional[Dict[str, str]] = None, stdin: Optional[str] = None,
             timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a utils/ script (first arg: its name) and capture text output."""
    cmd = [str(UTILS / args[0])] + [str(a) for a in args[1:]]
    return subprocess.run(cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def run_tool():
    """run_tool([script, args...], cwd, env=None, stdin=None) -> CompletedProcess (text)."""
    return _run_tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class LocalSlurm:
    """munged + slurmctld + slurmd for this host, all state under one temporary directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mal-slurm-", dir="/tmp"))
        self.procs: List[subprocess.Popen] = []
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.dir / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    def missing(self) -> Optional[str]:
        """Why this machine cannot run the cluster, or None."""
        if os.geteuid() != 0:
            return "a local Slurm needs root (slurmd launches the jobs)"
        progs = ["munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel"]
        absent = [p for p in progs if shutil.which(p, path=SBIN_PATH) is None]
        if absent:
            return f"not installed: {', '.join(absent)} (run `make -C tools slurm`)"
        try:
            pwd.getpwnam("munge")
        except KeyError:
            return "no 'munge' user (the munge package is incomplete)"
        return None

    def start(self) -> None:
        self.dir.chmod(0o755)
        self._start_munge()
        self._write_conf()
        for daemon in ("slurmctld", "slurmd"):
            args = [shutil.which(daemon, path=SBIN_PATH), "-D"] + (["-i"] if daemon == "slurmctld" else [])
            self._spawn(daemon, args, env=self.env)
        self._wait_idle(timeout=30)

    def _spawn(self, name: str, args: List[str], **kwargs) -> None:
        out = open(self.dir / f"{name}.out", "wb")
        self.procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs))
        out.close()

    def _start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        mdir = self.dir / "munge"
        mdir.mkdir()
        key = mdir / "munge.key"
        key.write_bytes(os.urandom(1024))
        for path in (mdir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        key.chmod(0o600)
        mdir.chmod(0o755)  # munged requires the socket directory to be world-executable
        self.munge_socket = mdir / "munge.socket"
        self._spawn("munged", [
            shutil.which("munged", path=SBIN_PATH), "--foreground", f"--socket={self.munge_socket}",
            f"--key-file={key}", f"--pid-file={mdir / 'munged.pid'}", f"--log-file={mdir / 'munged.log'}",
            f"--seed-file={mdir / 'munged.seed'}",
        ], user=munge.pw_uid, group=munge.pw_gid)
        deadline = time.time() + 10
        while not self.munge_socket.exists():
            if time.time() > deadline or self.procs[-1].poll() is not None:
                raise RuntimeError(f"munged did not start:\n{_tail(self.dir / 'munged.out')}")
            time.sleep(0.1)

    def _write_conf(self) -> None:
        d = self.dir
        for sub in ("state", "spool", "log"):
            (d / sub).mkdir()
        with open("/proc/meminfo") as f:
            mem_mb = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) // 1024
        self.conf.write_text(f"""\
ClusterName=maltest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
NodeName={self.host} NodeAddr=127.0.0.1 CPUs=2 RealMemory={int(mem_mb * 0.8)} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.time() + timeout
        state = ""
        while time.time() < deadline:
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead:
                break
            res = subprocess.run(["sinfo", "--noheader", "--format=%t", f"--nodes={self.host}"],
                                 env=self.env, capture_output=True, text=True)
            state = res.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.3)
        logs = "\n".join(f"--- {n}:\n{_tail(self.dir / n)}" for n in
                         ("slurmctld.out", "slurmd.out", "log/slurmctld.log", "log/slurmd.log"))
        raise RuntimeError(f"node {self.host} not idle (state '{state}'):\n{logs}")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_env() -> Iterator[Dict[str, str]]:
    """Environment (SLURM_CONF set) for a running single-node Slurm; skips if unavailable."""
    cluster = LocalSlurm()
    reason = cluster.missing()
    if reason is None:
        try:
            cluster.start()
        except (RuntimeError, OSError) as e:
            reason = f"could not start a local Slurm: {e}"
    if reason is not None:
        cluster.stop()
        if os.environ.get("MAL_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield cluster.env
    finally:
        cluster.stop()
