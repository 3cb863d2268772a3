"""convert on a real Dask cluster on this machine gives what the local run gives.

The reference is the local engine's run of the same folder (itself checked against
dcm2niix, pydicom and the uncompressed originals in test_convert.py / test_batch_hostile.py):
the cluster must not change a voxel, a sidecar or a line of the report, also when a worker
is killed mid-run or a file kills every worker that touches it.

Every cluster test is marked ``dask`` and imports distributed inside the test, so
collection works without it; ``nox -s tests_dask`` installs ``dicomdecode[dask]`` and runs
``-m dask``, where a missing distributed is a failure, not a skip. The other sessions
deselect with ``-m "not dask"`` and run the unmarked checks of the option itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomdecode.apps.cli import main
from dicomdecode.apps.convert import CONVERTED, FAILED, KEPT, RESUMED, convert
from dicomdecode.options import parse_scheduler

from .conftest import ROOT, TEST_DATA
from .test_batch_hostile import _good_series

#: corpus folders mixed into one source folder for the scheduler + workers test: every
#: compressed syntax, enhanced and classic MR, CT, RT dose, duplicates and a broken file
MIXED = ("dcm_qa_ts", "dcm_qa_enh", "dcm_qa_12bit", "dcm_qa_philips", "dcm_qa_ct",
         "dcm_qa_nih", "pylibjpeg-data")


def _env() -> dict[str, str]:
    """Worker processes must import this checkout, not another install."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """LocalCluster(n_workers=2, processes=True); a task may kill one worker before it is
    given up (allowed-failures=1), to keep the killer test short."""
    import dask
    import distributed  # a hard failure here is intended: these tests need distributed

    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_scheduler_values_are_checked_before_anything_starts(tmp_path: Path, capsys) -> None:
    assert parse_scheduler("local:3") == 3
    assert parse_scheduler("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    for bad in ("local:0", "local:two", "127.0.0.1:8786", "tcp://", ""):
        with pytest.raises(ValueError, match="local:N|whole number"):
            parse_scheduler(bad)
    code = main(["convert", str(TEST_DATA / "series"), str(tmp_path / "out"), "--scheduler",
                 "127.0.0.1:8786"])
    assert code == 2 and "tcp://host:8786" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing touched


def test_a_missing_dask_names_the_extra(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = main(["convert", str(TEST_DATA / "series"), str(tmp_path / "out"), "--scheduler",
                 "local:2"])
    assert code == 2 and 'pip install "dicomdecode[dask]"' in capsys.readouterr().err


def _report(path: Path | dict[str, Any], dst: Path) -> str:
    data = path if isinstance(path, dict) else json.loads(path.read_text())
    return json.dumps(data, sort_keys=True, indent=1).replace(str(dst), "<DST>")


def assert_same_outputs(local: Path, cluster: Path) -> None:
    """Every output of the local run, and no other, with equal arrays, sidecars and
    source records (``.dicomdecode/``, what --resume compares against)."""
    names = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(cluster)) for p in cluster.rglob("*")
                           if p.is_file())
    assert any(n.endswith(".npy") for n in names)
    for name in names:
        a, b = local / name, cluster / name
        if name.endswith(".npy"):
            x, y = np.load(a), np.load(b)
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y, equal_nan=True), name
        elif name.endswith(".json"):
            assert (a.read_text().replace(str(local), "<DST>")
                    == b.read_text().replace(str(cluster), "<DST>")), name
        else:
            assert a.read_bytes() == b.read_bytes(), name


@pytest.mark.dask
def test_local_cluster_equals_local_convert(client: Any, tmp_path: Path) -> None:
    local = convert(TEST_DATA, tmp_path / "local", fmt="npy", workers=2, progress=False)
    remote = convert(TEST_DATA, tmp_path / "cluster", fmt="npy", client=client,
                     progress=False)
    assert local.counts[CONVERTED] > 0 and remote.counts == local.counts
    assert _report(remote.to_dict(), tmp_path / "cluster") == \
        _report(local.to_dict(), tmp_path / "local")
    assert_same_outputs(tmp_path / "local", tmp_path / "cluster")


@pytest.mark.dask
def test_resume_against_the_cluster(client: Any, tmp_path: Path) -> None:
    first = convert(TEST_DATA, tmp_path / "out", fmt="npy", client=client, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = convert(TEST_DATA, tmp_path / "out", fmt="npy", client=client, progress=False,
                    resume=True)
    assert again.counts[KEPT] == first.counts[CONVERTED] > 0
    assert again.counts[CONVERTED] == 0
    kept = [f for f in again.files if f.status == KEPT]
    assert kept and all(f.reason == RESUMED for f in kept)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == stamps
    # without --resume or --force an existing output is refused, on the cluster as here
    refused = convert(TEST_DATA, tmp_path / "out", fmt="npy", client=client, progress=False)
    assert all(f.status == FAILED and "output exists" in f.reason
               for f in refused.files if f.status != "skipped")


def _abort_on(path: str) -> Any:
    from distributed import WorkerPlugin

    class AbortOn(WorkerPlugin):  # type: ignore[misc]
        """In every worker, now and after restarts: the native codec aborts the process
        on one file, as a codec crashing on hostile input would."""

        name = "dicomdecode-test-abort-on"

        def setup(self, worker: Any) -> None:
            from dicomdecode.decode.handlers import native

            original = native.NativeHandler.read_into

            def aborting(handler: Any, source: Any, indices: Any, out: Any) -> Any:
                if source.path == path:
                    os.abort()
                return original(handler, source, indices, out)

            native.NativeHandler.read_into = aborting  # type: ignore[method-assign]

    return AbortOn()


@pytest.mark.dask
def test_a_file_that_kills_workers_fails_after_the_allowed_failures(client: Any,
                                                                     tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    good = _good_series(src, n_series=2, per_series=10)
    killer = str(good[13])
    client.register_plugin(_abort_on(killer))
    report = convert(src, tmp_path / "out", fmt="npy", client=client, progress=False)
    by_path = {f.path: f for f in report.files}
    assert len(report.files) == 20 and report.exit_code == 1
    assert by_path[killer].status == FAILED
    assert "allowed-failures=1" in by_path[killer].reason
    assert all(f.status == CONVERTED for p, f in by_path.items() if p != killer)
    # the series is converted without the killer, exactly as the local engine does
    shapes = sorted(np.load(p).shape for p in (tmp_path / "out").glob("*.npy"))
    assert shapes == [(9, 32, 32), (10, 32, 32)]
    assert not list((tmp_path / "out").glob(".dicomdecode-tmp-*"))


# ------------------------------------------------ a scheduler and two workers, over TCP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tcp_cluster(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes (each under a nanny that
    restarts it when it dies) on 127.0.0.1; yields the scheduler address."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m", "dask"]
    logs = [open(tmp_path / f"dask{i}.log", "w") for i in range(3)]  # noqa: SIM115
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              env=_env(), stdout=logs[0], stderr=subprocess.STDOUT)]
    try:
        for i in (1, 2):
            procs.append(subprocess.Popen(
                [*dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                 "--nthreads", "1", "--no-dashboard", "--death-timeout", "60"],
                env=_env(), stdout=logs[i], stderr=subprocess.STDOUT))
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def _kill_a_busy_worker(address: str, cli: subprocess.Popen[bytes]) -> int:
    """SIGKILL a worker process while it runs a series task of the CLI's conversion."""
    import distributed

    with distributed.Client(address, timeout=60) as watcher:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and cli.poll() is None:
            busy = [w for w, keys in watcher.processing().items()
                    if any(str(k).startswith("dicomdecode-convert_series") for k in keys)]
            if busy:
                pid = watcher.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                return int(pid)
            time.sleep(0.05)
    raise AssertionError("the conversion finished before a worker could be killed")


@pytest.mark.dask
def test_cli_on_scheduler_and_two_workers_survives_a_killed_worker(
        corpus: Path, tcp_cluster: str, tmp_path: Path) -> None:
    import distributed

    src = tmp_path / "src"
    for name in MIXED:
        shutil.copytree(corpus / name, src / name)
    (src / "notes.txt").write_text("not DICOM\n")
    with distributed.Client(tcp_cluster, timeout=60) as c:
        c.wait_for_workers(2, timeout=120)
    dst, report_path = tmp_path / "cluster", tmp_path / "R.json"
    cli = subprocess.Popen([sys.executable, "-m", "dicomdecode", "convert", str(src), str(dst),
                            "--scheduler", tcp_cluster, "--format", "npy",
                            "--report", str(report_path), "--quiet"],
                           env=_env(), cwd=ROOT, stderr=subprocess.PIPE)
    killed = _kill_a_busy_worker(tcp_cluster, cli)
    _, err = cli.communicate(timeout=400)
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # that worker process is gone; its task ran elsewhere

    local = convert(src, tmp_path / "local", fmt="npy", workers=2, progress=False,
                    report_path=tmp_path / "local.json")
    assert cli.returncode == local.exit_code, err.decode()[-2000:]
    report = json.loads(report_path.read_text())
    walked = sorted(os.path.join(d, f) for d, _, files in os.walk(src) for f in files)
    assert sorted(f["path"] for f in report["files"]) == walked  # every file, once
    assert not any("worker" in f["reason"] for f in report["files"])
    assert _report(report_path, dst) == _report(tmp_path / "local.json", tmp_path / "local")
    assert_same_outputs(tmp_path / "local", dst)
