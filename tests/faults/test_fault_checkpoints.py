"""Item 3: a damaged checkpoint (empty, garbage, cut short, another network's) is named,
set aside as ``<name>.damaged``, and its network is trained again from scratch: the job
succeeds with the results of an undamaged run, on the first rerun."""

from __future__ import annotations

import io

import pytest
import torch
from faultkit import no_traceback, write_spec
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.results.store import Store
from noisewalk.sweep.plan import grid_points, plan_jobs
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import check_sites, read_spec
from noisewalk.train.checkpoint import load_checkpoint


def _garbage_torch_file() -> bytes:
    buffer = io.BytesIO()
    torch.save({"epoch": 1}, buffer)  # readable, but not a training state
    return buffer.getvalue()


DAMAGE = {
    "empty": b"",
    "garbage": b"\x80\x04not a checkpoint at all" * 10,
    "cut short": None,  # a real checkpoint's first half
    "not a training state": _garbage_torch_file(),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A one-network study run without damage: its trials and its checkpoint file."""
    tmp = tmp_path_factory.mktemp("reference")
    spec = read_spec(write_spec(tmp / "spec.toml", repetitions=1, values=(0.3, 1.0), noise="none", epochs=2))
    run_study(spec, tmp / "study")
    with Store(tmp / "study", readonly=True) as store:
        rows = {r["trial_id"]: r["accuracies"] for r in store.rows()}
    job = plan_jobs(spec, grid_points(spec, check_sites(spec)))[0].job_id
    return spec, rows, (tmp / "study" / "checkpoints" / f"{job}.pt").read_bytes(), job


def test_a_damaged_checkpoint_of_a_finished_network_in_a_report(tmp_path, reference):
    """The report reads every finished network's weights: a damaged file is one line naming it."""
    spec, _, _, job = reference
    folder = tmp_path / "study"
    run_study(spec, folder)
    checkpoint = folder / "checkpoints" / f"{job}.pt"
    checkpoint.write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["report", str(folder), "--out", str(tmp_path / "report.html")])
    assert result.exit_code == 2, result.output
    no_traceback(result.output)
    assert f"checkpoint {checkpoint} is damaged" in " ".join(result.output.split())
    checkpoint.rename(checkpoint.with_name(f"{job}.pt.damaged"))  # as the message says
    again = CliRunner().invoke(app, ["report", str(folder), "--out", str(tmp_path / "report.html")])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_is_set_aside_and_the_network_trained_again(tmp_path, reference, damage):
    spec, expected, good, job = reference
    folder = tmp_path / "study"
    checkpoint = folder / "checkpoints" / f"{job}.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(good[: len(good) // 2] if DAMAGE[damage] is None else DAMAGE[damage])
    result = run_study(spec, folder)
    assert result.counts["done"] == result.counts["total"] == 2, result.failures
    assert result.resumed == 0 and result.trained == 1  # from scratch
    with Store(folder, readonly=True) as store:
        assert {r["trial_id"]: r["accuracies"] for r in store.rows()} == expected
    assert (checkpoint.parent / f"{job}.pt.damaged").exists()
    assert len(result.notes) == 1 and str(checkpoint) in result.notes[0] and "damaged" in result.notes[0]
    assert load_checkpoint(checkpoint)["epoch"] == 2  # a good checkpoint again


def test_the_command_line_names_the_damaged_checkpoint(tmp_path, reference):
    spec, _, _, job = reference
    spec_path = write_spec(tmp_path / "spec.toml", repetitions=1, values=(0.3, 1.0), noise="none", epochs=2)
    folder = tmp_path / "study"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / f"{job}.pt").write_bytes(b"")
    result = CliRunner().invoke(app, ["sweep", str(spec_path), "--out", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"checkpoints/{job}.pt is damaged (it is empty); set aside as {job}.pt.damaged" in result.output
    no_traceback(result.output)


def test_load_checkpoint_sets_a_damaged_file_aside(tmp_path):
    path = tmp_path / "job.pt"
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="damaged"):
        assert load_checkpoint(path) is None
    assert not path.exists() and (tmp_path / "job.pt.damaged").read_bytes() == b"garbage"
