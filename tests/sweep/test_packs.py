"""Studies with packs: jobs that differ in seed and level train together; every job keeps
its checkpoint and its outcome, and the results are those of jobs trained one at a time."""

from __future__ import annotations

import pytest

from noisewalk.errors import InvalidParameterError
from noisewalk.sweep import packs
from noisewalk.sweep.packs import PackTask, group_tasks, pack_size
from noisewalk.sweep.plan import job_config
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import parse_spec
from noisewalk.sweep.worker import JobTask


def _spec(noise: str = "matched", model: str = "mlp"):
    return parse_spec(
        {
            "name": "packs",
            "repetitions": 2,
            "model": {"name": model},
            "sigma": {"kind": "explicit", "values": [0.3, 1.0]},
            "training": {"epochs": 1, "noise": noise, "batch_size": 128},
            "evaluation": {"repeats": 1},
        }
    )


def test_a_study_in_packs_gives_the_results_of_one_job_at_a_time(tmp_path):
    spec = _spec()
    alone = run_study(spec, tmp_path / "alone", pack=1)
    packed = run_study(spec, tmp_path / "packed", pack=4)
    assert packed.counts["done"] == packed.counts["total"] == alone.counts["total"] == 4
    assert packed.trained == 4
    a = {(c.selection, c.train_noise): c.mean for c in alone.curves}
    p = {(c.selection, c.train_noise): c.mean for c in packed.curves}
    assert a.keys() == p.keys()
    for key in a:
        assert p[key] == pytest.approx(a[key], abs=0.02)
    assert len(list((tmp_path / "packed" / "checkpoints").glob("*.pt"))) == 4  # one checkpoint per job
    again = run_study(spec, tmp_path / "packed", pack=4)  # nothing left to train
    assert again.trained == 0


def test_jobs_group_by_everything_but_seed_and_level():
    def task(seed, sigma, epochs=1, noise="matched"):
        config = {"data": {"name": "digits"}, "model": {"name": "mlp"}}
        config["training"] = {"seed": seed, "sigma": sigma, "epochs": epochs, "noise": noise}
        return JobTask(f"{seed}-{sigma}-{epochs}", config, [], checkpoint=f"/x/{seed}-{sigma}-{epochs}.pt")

    tasks = [task(s, sigma) for s in range(3) for sigma in (0.5, 1.0)] + [task(0, 0.5, epochs=2)]
    units = group_tasks(tasks, 4)
    sizes = sorted(len(u.jobs) if isinstance(u, PackTask) else 1 for u in units)
    assert sizes == [1, 2, 4]  # six jobs in packs of at most four; the two-epoch job alone
    vant = [task(s, 0.5, noise="vant") for s in range(3)]
    assert all(isinstance(u, JobTask) for u in group_tasks(vant, 4))  # levels drawn per sample: alone
    assert group_tasks(tasks, 1) == tasks


def test_pack_size_auto_is_one_on_the_cpu():
    assert pack_size(None, "cpu") == 1
    assert pack_size(5, "cpu") == 5
    with pytest.raises(InvalidParameterError, match="pack=0 is not allowed"):
        pack_size(0, "cpu")


def test_a_pack_that_cannot_train_together_trains_one_at_a_time(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise InvalidParameterError("these networks cannot train as one pack: a reason")

    monkeypatch.setattr(packs, "train_pack", refuse)
    result = run_study(_spec(), tmp_path / "s", pack=4)
    assert result.counts["done"] == 4 and result.trained == 4
    assert any("could not train as one pack" in n and "a reason" in n for n in result.notes)


def test_job_configs_of_a_pack_differ_only_in_seed_and_level():
    spec = _spec()
    a = job_config(spec, 0, 0.3, None)
    b = job_config(spec, 1, 1.0, None)
    assert packs.pack_key(a) == packs.pack_key(b)
