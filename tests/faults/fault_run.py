"""The fault run of docs/reliability.md: each fault against the command line, as a user
meets it, then the same command again until the study is complete.

    PYTHONPATH=src python tests/faults/fault_run.py [FOLDER]

For each fault it records the exit status, the message the user sees, the finished trials
lost (a trial done before the fault that is missing or changed afterwards), the processes
left in the command's session after it ended, and whether a rerun completes the study.
Prints the table as Markdown. Real faults where the process may mount file systems (a
small tmpfs for the full disk, a read-only bind mount); run it as root.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faultkit import (  # noqa: E402
    done_trials,
    kill_session,
    launch,
    left_behind,
    read_only,
    run_cli,
    small_disk,
    training_in_progress,
    trial_statuses,
    wait_for,
    write_spec,
)

from dataset_fixtures import make_image_tree  # noqa: E402

ROWS: list[dict[str, str]] = []


def message(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " ".join(lines)
    return joined if len(joined) < 400 else joined[:400] + " ..."


def lost(before: dict, after: dict) -> int:
    return sum(1 for t, v in before.items() if after.get(t) != v)


def tracked(*args: str) -> tuple[int, str, int]:
    """Run ``noisewalk ARGS`` to its end: (exit status, stderr, processes left in its session)."""
    proc = launch(*args)
    _, err = proc.communicate()
    left = left_behind(proc.pid)
    kill_session(proc.pid)
    return proc.returncode, err.decode(), len(left)


def finish(args: list[str], folder: Path) -> tuple[str, dict]:
    """Rerun until the study completes; returns (what the rerun says, finished trials)."""
    code, err, left = tracked(*args)
    assert code == 0 and left == 0, err
    counts = trial_statuses(folder)
    return f"rerun: exit 0, {counts.get('done', 0)} of {sum(counts.values())} trials done", done_trials(folder)


def record(fault: str, happened: str, code, msg: str, lost_n: int, left: int, rerun: str) -> None:
    ROWS.append(
        {
            "fault": fault,
            "what happened": happened,
            "exit": str(code),
            "message": msg,
            "trials lost": str(lost_n),
            "processes left": str(left),
            "then": rerun,
        }
    )
    print(f"{fault}: exit {code}, lost {lost_n}, left {left}; {msg} | {rerun}", flush=True)


def sweep_args(spec: Path, folder: Path, workers: int = 1) -> list[str]:
    return ["sweep", str(spec), "--out", str(folder), "--quiet", "--workers", str(workers)]


def killpg_three_times(tmp: Path) -> None:
    rng = random.Random(0)
    spec = write_spec(tmp / "kill.toml", values=(0.3, 1.0, 3.0), epochs=8)
    folder = tmp / "kill"
    args = sweep_args(spec, folder)
    seen: dict = {}
    lost_n = left_n = kills = 0
    while kills < 3:
        proc = launch(*args)
        deadline = time.monotonic() + (300 if kills == 0 else rng.uniform(1.0, 4.0))
        while time.monotonic() < deadline and proc.poll() is None:
            if kills == 0 and training_in_progress(folder):
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.communicate()
        left_n += len(left_behind(proc.pid))
        now = done_trials(folder) if (folder / "study.sqlite").exists() else {}
        lost_n += lost(seen, now)
        seen = now
        if proc.returncode == 0:
            break
    rerun, after = finish(args, folder)
    record(
        "SIGKILL of the process group, 3 times (`--workers 1`)",
        f"{kills} kills at random moments (the first mid-training); each run ended at once",
        "-9",
        "(none: the process is killed)",
        lost_n + lost(seen, after),
        left_n,
        rerun + " (the interrupted training resumed from its checkpoint)",
    )


def driver_only(tmp: Path) -> None:
    spec = write_spec(tmp / "driver.toml", epochs=40)
    folder = tmp / "driver"
    args = sweep_args(spec, folder, workers=2)
    proc = launch(*args)
    assert wait_for(lambda: training_in_progress(folder), proc)
    before = done_trials(folder)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()  # its workers may still hold its output pipes
    left = left_behind(proc.pid, wait=30.0)
    kill_session(proc.pid)
    proc.communicate()
    rerun, after = finish(args, folder)
    record(
        "SIGKILL of the driver only (`--workers 2`)",
        "the driver died; its pool workers "
        + ("ended with it" if not left else f"were still running {len(left)} process(es) 30 s later"),
        "-9",
        "(none: the process is killed)",
        lost(before, after),
        len(left),
        rerun,
    )


def ctrl_c(tmp: Path, workers: int, signum=signal.SIGINT) -> None:
    name = f"int{workers}" if signum == signal.SIGINT else "term"
    spec = write_spec(tmp / f"{name}.toml", epochs=40)
    folder = tmp / name
    args = sweep_args(spec, folder, workers)
    proc = launch(*args)
    assert wait_for(lambda: training_in_progress(folder), proc)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate()
    left = left_behind(proc.pid)
    before = done_trials(folder)
    statuses = trial_statuses(folder)
    rerun, after = finish(args, folder)
    label = "SIGINT (Ctrl-C)" if signum == signal.SIGINT else "SIGTERM"
    record(
        f"{label} to the process group (`--workers {workers}`)",
        f"the driver stopped its jobs and workers; trials afterwards: {statuses}",
        proc.returncode,
        message(err.decode()),
        lost(before, after),
        len(left),
        rerun,
    )


def disk_full(tmp: Path) -> None:
    spec = write_spec(tmp / "full.toml", values=(0.1, 0.3, 1.0, 3.0), epochs=2)
    with small_disk(tmp / "disk", "600k") as grow:
        folder = tmp / "disk" / "study"
        args = sweep_args(spec, folder)
        code, err, left = tracked(*args)
        statuses = trial_statuses(folder)
        before = done_trials(folder)
        grow("50m")
        rerun, after = finish(args, folder)
        record(
            "Disk full (a 600 kB tmpfs)",
            f"the study stopped at the first write that failed; trials afterwards: {statuses}",
            code,
            message(err),
            lost(before, after),
            left,
            rerun + " once the disk was grown to 50 MB",
        )


def read_only_output(tmp: Path) -> None:
    spec = write_spec(tmp / "ro.toml", epochs=1)
    folder = tmp / "ro"
    args = sweep_args(spec, folder)
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    before = done_trials(folder)
    with read_only(folder):
        rerun = tracked(*args)
        export = tracked("export", str(folder))
        status = run_cli("status", str(folder))
        report = run_cli("report", str(folder), "--out", str(tmp / "ro-report" / "report.html"))
    after = done_trials(folder)
    record(
        "Read-only output (the study folder on a read-only bind mount)",
        f"sweep and export beside the study refused; status exit {status.returncode}, report elsewhere exit"
        f" {report.returncode} (the study is read from read-only storage)",
        f"{rerun[0]} / {export[0]}",
        message(rerun[1]) + " / " + message(export[1]),
        lost(before, after),
        rerun[2] + export[2],
        "nothing to rerun: the study was complete",
    )


def damaged_checkpoint(tmp: Path) -> None:
    spec = write_spec(tmp / "ckpt.toml", epochs=40)
    folder = tmp / "ckpt"
    args = sweep_args(spec, folder)
    proc = launch(*args)
    assert wait_for(lambda: training_in_progress(folder), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = done_trials(folder)
    damaged = sorted((folder / "checkpoints").glob("*.pt"))
    for path in damaged:
        path.write_bytes(b"")
    code, err, left = tracked(*args)
    after = done_trials(folder)
    notes = [line for line in err.splitlines() if "damaged" in line]
    record(
        "Damaged checkpoint (emptied after a kill)",
        f"{len(damaged)} checkpoint(s) set aside as .damaged, their networks trained from scratch",
        code,
        message(" ".join(notes)),
        lost(before, after),
        left,
        f"the same run completed the study: {trial_statuses(folder)}",
    )


def damaged_dataset_file(tmp: Path) -> None:
    root = tmp / "images"
    make_image_tree(root, {"train": 2, "test": 1}, ["a", "b"], size=(8, 8))
    bad = root / "train" / "b" / "b_0.png"
    good = bad.read_bytes()
    bad.write_bytes(b"not a png")
    args = ["train", "--data", "image_folder", "--data-root", str(root), "--epochs", "1", "--repeats", "1"]
    args += ["--sigma", "1", "--device", "cpu", "--out", str(tmp / "images-study")]
    code, err, left = tracked(*args)
    made = (tmp / "images-study").exists()
    bad.write_bytes(good)
    fixed = tracked(*args)
    record(
        "Damaged dataset file (an image that does not decode)",
        "refused before any training" + ("" if made else ", before the study folder was made"),
        code,
        message(err),
        0,
        left,
        f"after replacing the file: exit {fixed[0]}",
    )


def main() -> None:
    """``fault_run.py [FOLDER [STEP ...]]``: every step, or those named (function names)."""
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="noisewalk-faults-"))
    base.mkdir(parents=True, exist_ok=True)
    os.environ["NOISEWALK_CACHE"] = str(base / "cache")
    np.random.seed(0)
    steps = {
        "killpg_three_times": killpg_three_times,
        "driver_only": driver_only,
        "ctrl_c_one_worker": lambda t: ctrl_c(t, 1),
        "ctrl_c_two_workers": lambda t: ctrl_c(t, 2),
        "sigterm": lambda t: ctrl_c(t, 1, signal.SIGTERM),
        "disk_full": disk_full,
        "read_only_output": read_only_output,
        "damaged_checkpoint": damaged_checkpoint,
        "damaged_dataset_file": damaged_dataset_file,
    }
    for name in sys.argv[2:] or list(steps):
        steps[name](base)
    columns = list(ROWS[0])
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in ROWS:
        print("| " + " | ".join(row[c].replace("|", "\\|") for c in columns) + " |")
    shutil.rmtree(base / "cache", ignore_errors=True)


if __name__ == "__main__":
    main()
