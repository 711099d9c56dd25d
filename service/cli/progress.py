"""A job's live progress on stderr (tqdm): one bar per stage, e.g.

training epoch 3/10 |██████        | 00:04, ce 0.213 aff 0.350 dis 0.120 comp 0.051 acc 96.94%
modularizing module 4/10 |████      | 00:01
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import tqdm

from service.cli.follow import follow_job
from service.cli.http import CliError, HubClient
from service.cli.tables import loss, pct

COUNTED_BAR = "{desc} {n_fmt}/{total_fmt} |{bar:24}| {elapsed}{postfix}"
STAGE_BAR = "{desc} … {elapsed}"
# progress key -> (its total's key, the unit shown); later stages first, since progress fields merge
# and a job making modules still reports its last training epoch.
COUNTERS = (("module", "modules", "module"), ("epoch", "epochs", "epoch"))
COUNTER_STAGES = {"module": "modularizing", "epoch": "training"}
LOSS_TERMS = (("ce", "ce"), ("affinity", "aff"), ("dispersion", "dis"), ("compactness", "comp"))


def _width_options() -> dict[str, Any]:
    """Follow the terminal's size. A terminal that reports 0×0 (`script`, some CI runners) gets a fixed
    size, since tqdm would cut every line to nothing and hide every bar. Not a terminal: no limit."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # a pipe, a file, a StringIO
        return {}
    options: dict[str, Any] = {"dynamic_ncols": True} if size.columns > 0 else {"ncols": 120}
    if size.lines <= 0:
        options["nrows"] = 24
    return options


def training_postfix(progress: dict[str, Any]) -> str:
    """`ce 0.213 aff 0.350 dis 0.120 comp 0.051 acc 96.94%` from a training job's progress."""
    parts = [f"{short} {loss(progress[key])}" for key, short in LOSS_TERMS if progress.get(key) is not None]
    if progress.get("test_accuracy") is not None:
        parts.append(f"acc {pct(progress['test_accuracy'])}")
    return " ".join(parts)


def _position(job: dict[str, Any]) -> tuple[dict[str, Any], str, tuple[str, str, str] | None]:
    """The job's progress, its stage, and the counter (key, total's key, unit) of COUNTERS it is at."""
    progress = job.get("progress") or {}
    stage = progress.get("stage") or job.get("status", "")
    return progress, stage, next((c for c in COUNTERS if progress.get(c[1])), None)


def describe_progress(job: dict[str, Any]) -> str:
    """One line for tables: `training epoch 3/10, acc 96.94%`, `modularizing module 4/10`, ..."""
    progress, stage, counter = _position(job)
    if counter is None:
        return stage
    key, total, unit = counter
    text = f"{stage} {unit} {progress.get(key, 0)}/{progress[total]}"
    if progress.get("test_accuracy") is not None:
        text += f", acc {pct(progress['test_accuracy'])}"
    return text


class JobProgress:
    """Renders successive snapshots of one job; a new bar whenever the stage (or attempt) changes."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.key: tuple[Any, ...] | None = None
        self.counted: set[tuple[Any, str]] = set()  # (attempt, counter) that had a bar

    def update(self, job: dict[str, Any]) -> None:
        if not self.enabled:
            return
        progress, stage, counter = _position(job)
        key = (job.get("attempts"), stage, counter[1] if counter else None)
        if key != self.key:
            # A later stage of the same attempt: the counted stage before it ran to its end, even if
            # its last report (the last epoch, say) was replaced before a heartbeat carried it.
            self.close(completed=self.key is not None and self.key[0] == key[0])
            self.key = key
            self._backfill(job.get("attempts"), progress, counter)
            if counter:
                self.counted.add((job.get("attempts"), counter[0]))
            self.bar = tqdm(
                total=progress[counter[1]] if counter else None,
                initial=int(progress.get(counter[0]) or 0) if counter else 0,
                postfix=training_postfix(progress) or None,
                desc=f"{stage} {counter[2]}" if counter else stage,
                bar_format=COUNTED_BAR if counter else STAGE_BAR,
                file=sys.stderr,
                leave=counter is not None,
                **_width_options(),
            )
        assert self.bar is not None
        if counter:
            self.bar.n = int(progress.get(counter[0]) or 0)
            self.bar.set_postfix_str(training_postfix(progress), refresh=False)
        self.bar.refresh()

    def _backfill(self, attempt: Any, progress: dict[str, Any], current: tuple[str, str, str] | None) -> None:
        """A stage too quick to be seen (training ran between two snapshots) still gets its finished
        bar: progress fields merge, so a later snapshot still carries its last epoch."""
        earlier = COUNTERS[COUNTERS.index(current) + 1 :] if current else ()
        for key, total, unit in reversed(earlier):
            if progress.get(total) and (attempt, key) not in self.counted:
                self.counted.add((attempt, key))
                bar = tqdm(total=progress[total], initial=int(progress.get(key) or 0),
                           desc=f"{COUNTER_STAGES[key]} {unit}", bar_format=COUNTED_BAR, file=sys.stderr,
                           postfix=training_postfix(progress) or None, **_width_options())  # fmt: skip
                bar.close()

    def close(self, completed: bool = False) -> None:
        if self.bar is not None:
            if completed and self.bar.total:
                self.bar.n = self.bar.total
                self.bar.refresh()
            self.bar.close()
            self.bar = None


def wait_for_job(client: HubClient, job: dict[str, Any], show: bool = True) -> dict[str, Any]:
    """Follow `job` to its end, drawing its progress; the final job. Ctrl-C stops following only."""
    progress = JobProgress(enabled=show)
    try:
        for snapshot in follow_job(client, job["id"]):
            progress.update(snapshot)
            job = snapshot
    except KeyboardInterrupt:
        progress.close()
        raise CliError(
            f"stopped following job {job['id']}; it keeps running on the server "
            f"(see 'moda job {job['id']}', stop it with 'moda cancel {job['id']}')",
            exit_code=130,
        ) from None
    finally:
        progress.close()
    return job


def check_succeeded(job: dict[str, Any]) -> None:
    """CliError (exit 1) with the job's error unless it succeeded."""
    if job["status"] == "succeeded":
        return
    reason = f": {job['error']}" if job.get("error") else ""
    verb = "was cancelled" if job["status"] == "cancelled" else job["status"]
    raise CliError(f"job {job['id']} {verb}{reason}")
