"""The supervisor behind `soldout serve --workers N`, run in a process of its own so that
signals can be sent to it; its children are small Python programs that leave their pid
(one line per start) and the word "term" (on SIGTERM) in files the test reads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SUPERVISOR = """
import json, logging, sys
from soldout.scaleout import supervisor
from soldout.scaleout.supervisor import Child, Supervisor
logging.basicConfig(level=logging.INFO, format="%(message)s")
spec = json.loads(sys.argv[1])
supervisor.STOP_TIMEOUT = spec.pop("stop_timeout", supervisor.STOP_TIMEOUT)
children = [Child(name, argv) for name, argv in spec.pop("children")]
sys.exit(Supervisor(children, **spec).run())
"""

# argv: its name, the folder, then "serve" (run until SIGTERM), "stubborn" (ignore SIGTERM),
# "exit STATUS" (exit at once) or "exit STATUS AFTER" (exit once AFTER has started)
CHILD = """
import os, signal, sys, time
name, folder, mode, *rest = sys.argv[1:]
def on_term(signum, frame):
    with open(os.path.join(folder, name + ".term"), "a") as f:
        f.write("term\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)
fd = os.open(os.path.join(folder, name + ".pids"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.write(fd, f"{os.getpid()}\\n".encode())
os.close(fd)
if mode == "exit":
    if rest[1:]:
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(folder, rest[1] + ".pids")):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    sys.exit(int(rest[0]))
while True:
    signal.pause()
"""

DEADLINE = 10.0


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE} s: {what}")
        time.sleep(0.01)


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): a signal 0 answers, zombies counted as running
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


class Run:
    """A supervisor process over children named as given, in `folder`."""

    def __init__(self, folder: Path, children: dict[str, list[str]], **options: object) -> None:
        self.folder = folder
        spec = {
            "children": [
                [name, [sys.executable, "-c", CHILD, name, str(folder), *mode]]
                for name, mode in children.items()
            ],
            "restart_delay": 0.05,
            **options,
        }
        self.log = folder / "supervisor.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SUPERVISOR, json.dumps(spec)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def pids(self, name: str) -> list[int]:
        path = self.folder / f"{name}.pids"
        text = path.read_text() if path.exists() else ""
        return [int(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def started(self, name: str, times: int = 1) -> list[int]:
        wait_for(f"{name} started {times} times", lambda: len(self.pids(name)) >= times)
        return self.pids(name)

    def terms(self, name: str) -> str:
        path = self.folder / f"{name}.term"
        return path.read_text() if path.exists() else ""

    def exit_status(self) -> int:
        return self.process.wait(timeout=DEADLINE)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(children: dict[str, list[str]], **options: object) -> Run:
        runs.append(Run(tmp_path, children, **options))
        return runs[-1]

    yield start
    for run in runs:  # a failed test leaves nothing running: its children die with it
        if run.process.poll() is None:
            run.process.kill()
        run.process.wait()
        for name in {p.stem for p in tmp_path.glob("*.pids")}:
            for pid in run.pids(name):
                if is_running(pid):
                    os.kill(pid, signal.SIGKILL)


def test_a_killed_child_is_started_again_and_the_others_keep_running(
    supervise: Callable[..., Run],
) -> None:
    run = supervise({"owner": ["serve"], "worker 1": ["serve"]})
    [owner] = run.started("owner")
    [worker] = run.started("worker 1")

    os.kill(worker, signal.SIGKILL)

    _, restarted = run.started("worker 1", times=2)
    assert restarted != worker
    assert is_running(restarted)
    assert run.pids("owner") == [owner]
    assert is_running(owner)
    wait_for("the restart logged", lambda: "worker 1 exited with status -9" in run.output())
    assert "worker 1 exited with status -9 (SIGKILL); restarting" in run.output()
    run.process.send_signal(signal.SIGTERM)
    assert run.exit_status() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_stops_every_child_and_exits_0(
    supervise: Callable[..., Run], sig: signal.Signals
) -> None:
    run = supervise({"owner": ["serve"], "worker 1": ["serve"], "worker 2": ["serve"]})
    pids = {name: run.started(name)[0] for name in ("owner", "worker 1", "worker 2")}

    run.process.send_signal(sig)

    assert run.exit_status() == 0
    for name, pid in pids.items():
        assert run.terms(name) == "term\n", name
        assert not is_running(pid), name
        assert run.pids(name) == [pid], name  # not restarted while stopping


def test_a_child_exiting_with_status_3_stops_the_others_and_exits_3(
    supervise: Callable[..., Run],
) -> None:
    run = supervise({"owner": ["serve"], "worker 1": ["exit", "3", "owner"]})

    assert run.exit_status() == 3
    [owner] = run.pids("owner")
    assert run.terms("owner") == "term\n"
    assert not is_running(owner)
    assert len(run.pids("worker 1")) == 1  # never restarted
    assert "worker 1 exited with status 3 (start-up failed)" in run.output()


def test_a_child_that_keeps_exiting_makes_it_give_up_and_exit_1(
    supervise: Callable[..., Run],
) -> None:
    run = supervise(
        {"owner": ["serve"], "worker 1": ["exit", "1", "owner"]},
        give_up_after=3,
        give_up_window=60.0,
    )

    assert run.exit_status() == 1
    assert len(run.pids("worker 1")) == 4  # started once, restarted give_up_after times
    [owner] = run.pids("owner")
    assert not is_running(owner)
    assert "worker 1 exited 4 times within 60 s" in run.output()
    assert "giving up" in run.output()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_the_children_die_with_a_killed_supervisor(supervise: Callable[..., Run]) -> None:
    run = supervise({"owner": ["serve"], "worker 1": ["serve"]})
    pids = [run.started("owner")[0], run.started("worker 1")[0]]

    run.process.kill()
    run.process.wait()

    for pid in pids:
        wait_for(f"pid {pid} gone", lambda pid=pid: not is_running(pid))


def test_a_child_ignoring_sigterm_is_killed_after_the_stop_timeout(
    supervise: Callable[..., Run],
) -> None:
    run = supervise({"owner": ["serve"], "worker 1": ["stubborn"]}, stop_timeout=0.3)
    owner, worker = run.started("owner")[0], run.started("worker 1")[0]

    run.process.send_signal(signal.SIGTERM)

    assert run.exit_status() == 0
    assert run.terms("owner") == "term\n"
    assert not is_running(owner)
    assert not is_running(worker)
    assert "worker 1 still running 0.3 s after SIGTERM; killing" in run.output()


SERVE_SUPERVISED = """
import sys
from soldout.scaleout.serve import supervise
from soldout.settings import Settings
folder, port = sys.argv[1], int(sys.argv[2])
child = [sys.executable, "-c", sys.argv[3]]
settings = Settings(log_format="json", port=port, data=folder)
owner, worker = [*child, "owner", folder, "serve"], [*child, "worker", folder, "serve"]
sys.exit(supervise(settings, owner, worker, 1))
"""


def test_the_supervisors_own_lines_follow_the_log_format(tmp_path: Path) -> None:
    """`SOLDOUT_LOG_FORMAT=json`: its restart lines, which an operator alerts on, were
    plain text among the JSON ones."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_SUPERVISED, str(tmp_path), str(port), CHILD],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    run = Run.__new__(Run)  # (its helpers, over this folder and process)
    run.folder, run.process, run.log = tmp_path, process, log
    try:
        [worker] = run.started("worker")
        os.kill(worker, signal.SIGKILL)
        run.started("worker", times=2)
        wait_for("the restart logged", lambda: "exited with status -9" in run.output())
        lines = [json.loads(line) for line in run.output().splitlines() if line.strip()]
        assert any("worker 1 exited with status -9" in line["message"] for line in lines)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE)
