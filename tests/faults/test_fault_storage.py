"""Item 4: file-system errors are one line naming the path and the fix (exit status 2), never
a traceback: an unwritable --out, a read-only study folder, a full disk or an exceeded
quota. A full disk stops the study with its finished trials kept and the others pending
(not failed); a rerun once there is space finishes it. A closed study on read-only
storage can still be read (status, report, export elsewhere)."""

from __future__ import annotations

import errno
import shutil
import sqlite3

import pytest
from faultkit import done_trials, no_traceback, read_only, small_disk, trial_statuses, write_spec
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.errors import StorageError
from noisewalk.results import database
from noisewalk.results.store import Store
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import read_spec
from noisewalk.train import checkpoint

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    no_traceback(result.output)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A finished small study (4 trials, 4 networks) and its spec file."""
    tmp = tmp_path_factory.mktemp("study")
    spec = write_spec(tmp / "spec.toml", epochs=1)
    run_study(read_spec(spec), tmp / "study")
    return tmp / "study", spec


def test_an_unwritable_out_is_one_line(tmp_path, study):
    folder, spec = study
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = {
        "sweep": ["sweep", spec, "--out", blocker / "study", "--quiet"],
        "train": ["train", "--epochs", "1", "--sigma", "1", "--out", blocker / "study"],
        "report": ["report", folder, "--out", blocker / "report.html"],
        "export": ["export", folder, "--out", blocker / "trials.csv"],
        "robustness": ["robustness", "--epochs", "1", "--repeats", "1", "--device", "cpu", "--out", blocker / "r"],
    }
    for command, args in cases.items():
        result = invoke(*args)
        assert result.exit_code == 2, (command, result.output)
        assert "cannot write" in result.output and str(blocker) in result.output, (command, result.output)
        assert "a part of the path is a file" in result.output and "--out" in result.output, (command, result.output)


def test_a_closed_study_on_read_only_storage_can_be_read(tmp_path, study):
    folder, spec = study
    copy = tmp_path / "ro"
    shutil.copytree(folder, copy)
    with read_only(copy):
        status = invoke("status", copy)
        assert status.exit_code == 0 and "4 done" in status.output
        report = invoke("report", copy, "--out", tmp_path / "report" / "report.html")
        assert report.exit_code == 0, report.output
        export = invoke("export", copy, "--out", tmp_path / "trials.csv")
        assert export.exit_code == 0 and (tmp_path / "trials.csv").exists()
        beside = invoke("export", copy)
        assert beside.exit_code == 2 and "read-only storage" in beside.output and "--out" in beside.output
        rerun = invoke("sweep", spec, "--out", copy, "--quiet")
        assert rerun.exit_code == 2 and "read-only storage" in rerun.output and str(copy) in rerun.output


def test_a_study_whose_driver_died_is_read_with_its_log_from_read_only_storage(tmp_path, study):
    folder, _ = study
    live = tmp_path / "live"
    shutil.copytree(folder, live)
    con = sqlite3.connect(live / "study.sqlite")  # a driver that wrote and then died: its log is not merged
    con.execute("PRAGMA wal_autocheckpoint=0")
    with con:
        con.execute("UPDATE trials SET status='pending' WHERE rowid=1")
    copy = tmp_path / "ro"
    copy.mkdir()
    for name in ("study.sqlite", "study.sqlite-wal"):
        shutil.copyfile(live / name, copy / name)
    con.close()
    with read_only(copy):
        status = invoke("status", copy)
        assert status.exit_code == 0 and "3 done" in status.output and "1 pending" in status.output


def test_read_only_storage_simulated(tmp_path, study, monkeypatch):
    """Without mounts: SQLite cannot create the index file beside the database."""
    folder, _ = study
    connect = sqlite3.connect

    def refusing(database, *args, **kwargs):
        if isinstance(database, str) and database.endswith("?mode=ro"):
            raise sqlite3.OperationalError("unable to open database file")
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(database.sqlite3, "connect", refusing)
    status = invoke("status", folder)
    assert status.exit_code == 0 and "4 done" in status.output
    report = invoke("report", folder, "--out", tmp_path / "report.html")
    assert report.exit_code == 0, report.output


def test_a_full_disk_stops_the_study_and_a_rerun_finishes_it(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", values=(0.1, 0.3, 1.0, 3.0), epochs=2)
    disk = tmp_path / "disk"
    with small_disk(disk, "600k") as grow:
        folder = disk / "study"
        full = invoke("sweep", spec, "--out", folder, "--quiet")
        assert full.exit_code == 2, full.output
        assert "no space left on the device" in full.output and str(folder) in full.output
        assert "run the same command again" in full.output
        statuses = trial_statuses(folder)
        assert statuses.get("failed", 0) == 0 and statuses.get("running", 0) == 0
        kept = done_trials(folder)
        grow("50m")
        again = invoke("sweep", spec, "--out", folder, "--quiet")
        assert again.exit_code == 0, again.output
        assert trial_statuses(folder) == {"done": 8}
        after = done_trials(folder)
        assert all(after[t] == kept[t] for t in kept)


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "no space left"), (errno.EDQUOT, "disk quota exceeded")])
def test_a_full_disk_while_checkpointing_simulated(tmp_path, monkeypatch, code, words):
    spec = read_spec(write_spec(tmp_path / "spec.toml", epochs=2))
    writes = []
    real = checkpoint.write_atomic

    def filling(path, data):
        writes.append(path)
        if len(writes) > 3:  # the disk fills during the second network's training
            raise OSError(code, "simulated")
        return real(path, data)

    monkeypatch.setattr(checkpoint, "write_atomic", filling)
    with pytest.raises(StorageError, match=words) as info:
        run_study(spec, tmp_path / "study")
    assert "checkpoints" in str(info.value) and "run the same command again" in str(info.value)
    assert trial_statuses(tmp_path / "study") == {"done": 1, "pending": 3}
    monkeypatch.setattr(checkpoint, "write_atomic", real)
    assert run_study(spec, tmp_path / "study").counts["done"] == 4


def test_a_full_database_simulated(tmp_path, monkeypatch):
    spec = read_spec(write_spec(tmp_path / "spec.toml", epochs=1))
    real = Store.record
    calls = []

    def record(self, outcome):
        calls.append(outcome)
        if len(calls) == 2:
            with database.transaction(self.db, self.path):
                self.db.execute("UPDATE jobs SET status='done' WHERE job_id=?", (outcome.job_id,))
                raise sqlite3.OperationalError("database or disk is full")
        return real(self, outcome)

    monkeypatch.setattr(Store, "record", record)
    with pytest.raises(StorageError) as info:
        run_study(spec, tmp_path / "study")
    message = str(info.value)
    assert str(tmp_path / "study" / "study.sqlite") in message and "no space left on the device" in message
    assert trial_statuses(tmp_path / "study") == {"done": 1, "pending": 3}  # the failed write left nothing
