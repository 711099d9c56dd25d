"""A job's live progress on stderr: one bar per stage, with its own figures and an ETA, e.g.

training epoch 3/10 ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 0:00:04 eta 0:00:09 ce 0.213 aff 0.350 … acc 96.94%
modularizing module 4/10 ━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 0:00:01 eta 0:00:02

On a terminal the bars redraw in place (rich); redirected to a file or a pipe, each change is one
plain line (no `\r` frames). A stage shows only its own figures: the training losses are not repeated
while the job decomposes, although the job's progress fields still carry them.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

from service.cli.follow import follow_job
from service.cli.http import CliError, HubClient
from service.cli.tables import duration, loss, pct

# progress key -> (its total's key, the unit shown); later stages first, since progress fields merge
# and a job making modules still reports its last training epoch.
COUNTERS = (("module", "modules", "module"), ("epoch", "epochs", "epoch"))
COUNTER_STAGES = {"module": "modularizing", "epoch": "training"}
LOSS_TERMS = (("ce", "ce"), ("affinity", "aff"), ("dispersion", "dis"), ("compactness", "comp"))
Counter = tuple[str, str, str]


def training_postfix(progress: dict[str, Any]) -> str:
    """`ce 0.213 aff 0.350 dis 0.120 comp 0.051 acc 96.94%` from a training job's progress."""
    parts = [f"{short} {loss(progress[key])}" for key, short in LOSS_TERMS if progress.get(key) is not None]
    if progress.get("test_accuracy") is not None:
        parts.append(f"acc {pct(progress['test_accuracy'])}")
    return " ".join(parts)


def _position(job: dict[str, Any]) -> tuple[dict[str, Any], str, Counter | None]:
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
    if key == "epoch" and progress.get("test_accuracy") is not None:  # a training figure: not while decomposing
        text += f", acc {pct(progress['test_accuracy'])}"
    return text


def stage_figures(progress: dict[str, Any], counter: Counter | None) -> str:
    """The figures of the stage the counter belongs to: training's losses, nothing for the others."""
    return training_postfix(progress) if counter is not None and counter[0] == "epoch" else ""


class StageLines:
    """Redirected output: one line per change of a stage's count, with its elapsed time and ETA."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last: tuple[str, int, str] | None = None

    def show(self, description: str, done: int, total: int | None, figures: str) -> None:
        if (description, done, figures) == self.last:
            return  # a snapshot with nothing new (a poll, a heartbeat): the times alone are no news
        self.last = (description, done, figures)
        elapsed = time.monotonic() - self.started
        text = description if total is None else f"{description} {done}/{total}"
        if total and 0 < done < total:
            text += f"  {duration(elapsed)} eta {duration(elapsed / done * (total - done))}"
        elif total and done >= total:
            text += f"  {duration(elapsed)}"
        print(f"{text}  {figures}".rstrip(), file=sys.stderr, flush=True)


class JobProgress:
    """Renders successive snapshots of one job; a new bar whenever the stage (or attempt) changes."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(file=sys.stderr)
        self.live: Progress | None = None  # on a terminal
        self.task: TaskID | None = None
        self.lines: StageLines | None = None  # redirected
        self.stage: tuple[str, int | None] = ("", None)  # the bar's description and total
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
            self._end_stage(completed=self.key is not None and self.key[0] == key[0])
            self.key = key
            self._backfill(job.get("attempts"), progress, counter)
            if counter:
                self.counted.add((job.get("attempts"), counter[0]))
            self._start_stage(f"{stage} {counter[2]}" if counter else stage, progress[counter[1]] if counter else None)
        done = int(progress.get(counter[0]) or 0) if counter else 0
        self._show(done, stage_figures(progress, counter))

    def _start_stage(self, description: str, total: int | None) -> None:
        self.stage = (description, total)
        if not self.console.is_terminal:
            self.lines = StageLines()
            return
        if self.live is None:
            # Fixed columns keep their width; the figures take what is left and are cut, never wrapped.
            def fixed(width: int) -> Column:
                return Column(no_wrap=True, min_width=width)

            self.live = Progress(
                TextColumn("{task.description} {task.fields[count]}", table_column=fixed(24)),
                BarColumn(bar_width=20, table_column=fixed(20)),
                TimeElapsedColumn(table_column=fixed(7)),
                TextColumn("eta", table_column=fixed(3)),
                TimeRemainingColumn(table_column=fixed(7)),
                TextColumn("{task.fields[figures]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                console=self.console,
                expand=True,
            )
            self.live.start()
        self.task = self.live.add_task(description, total=total, count="", figures="")

    def _show(self, done: int, figures: str | None) -> None:
        """Draw the stage at `done`; figures None keeps the bar's last ones."""
        description, total = self.stage
        if self.lines is not None:
            self.lines.show(description, done, total, figures or "")
        elif self.live is not None and self.task is not None:
            count = f"{done}/{total}" if total else ""
            if figures is None:
                self.live.update(self.task, completed=done, count=count)
            else:
                self.live.update(self.task, completed=done, count=count, figures=figures)

    def _end_stage(self, completed: bool) -> None:
        _, total = self.stage
        if completed and total:
            self._show(total, None)
        if self.live is not None and self.task is not None and not total:
            self.live.remove_task(self.task)  # a stage without a count leaves no line behind
        self.task, self.lines = None, None

    def _backfill(self, attempt: Any, progress: dict[str, Any], current: Counter | None) -> None:
        """A stage too quick to be seen (training ran between two snapshots) still gets its finished
        bar: progress fields merge, so a later snapshot still carries its last epoch."""
        earlier = COUNTERS[COUNTERS.index(current) + 1 :] if current else ()
        for counter in reversed(earlier):
            key, total, unit = counter
            if progress.get(total) and (attempt, key) not in self.counted:
                self.counted.add((attempt, key))
                self._start_stage(f"{COUNTER_STAGES[key]} {unit}", progress[total])
                self._show(int(progress.get(key) or 0), stage_figures(progress, counter))
                self._end_stage(completed=False)

    def close(self, completed: bool = False) -> None:
        self._end_stage(completed)
        if self.live is not None:
            self.live.stop()
            self.live = None


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
