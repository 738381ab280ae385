"""Training-loss curves from mmengine's scalar logs, grouped by what the loss measures.

"Revealing the Dark Secrets of Masked Image Modeling" (Xie et al., arXiv 2205.13543) finds that
a detector fine-tuned from MIM weights drives its localisation loss down faster than one from
supervised weights, and its classification loss more slowly. This module reads the logs of such
runs and splits their losses into those groups.

mmengine 0.10's ``LocalVisBackend`` (every mim_det runtime has it) writes one JSON object per
logged step to ``<work_dir>/<timestamp>/vis_data/scalars.json`` (the same rows go to
``<timestamp>.json`` beside it); training rows carry the window-averaged losses (``loss``,
``loss_rpn_cls``, ...) and ``step``/``iter``, validation rows the metrics. A resumed run adds
another ``<timestamp>`` folder; its rows replace the earlier ones from the iteration it resumed.

Writers: :func:`write_csv`, :func:`write_json` and :func:`plot_curves` (one panel per group, one
line per run).
"""
import csv
import glob
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: Mask R-CNN's losses (mmdet) by what they measure: what an object is, where it is, its mask.
#: A group's curve is the sum of its losses that the run logged.
DETECTION_LOSS_GROUPS: Dict[str, Tuple[str, ...]] = {
    'classification': ('loss_rpn_cls', 'loss_cls'),
    'localisation': ('loss_rpn_bbox', 'loss_bbox'),
    'mask': ('loss_mask', ),
}
SCALAR_LOG = 'scalars.json'


@dataclass
class Curve:
    """One curve: ``values[i]`` at iteration ``iters[i]``, and ``smoothed`` (same length)."""
    iters: List[int]
    values: List[float]
    smoothed: List[float] = field(default_factory=list)
    members: Tuple[str, ...] = ()  # the losses summed (a group), or the loss itself


@dataclass
class RunCurves:
    """The curves of one run: its groups and every single loss it logged."""
    name: str
    work_dir: str
    logs: List[str]
    groups: Dict[str, Curve]
    losses: Dict[str, Curve]


def find_scalar_logs(path: str) -> List[str]:
    """The scalar logs of one run, oldest first: ``path`` may be the work dir (every
    ``<timestamp>/vis_data/scalars.json`` below it, in timestamp order), one ``<timestamp>``
    folder, its ``vis_data`` folder or a ``.json`` log itself. ``ValueError`` naming ``path``
    when there is none."""
    if osp.isfile(path):
        return [path]
    candidates = [osp.join(path, SCALAR_LOG), osp.join(path, 'vis_data', SCALAR_LOG)]
    found = [p for p in candidates if osp.isfile(p)]
    if not found:
        # mmengine's timestamps (YYYYMMDD_HHMMSS) sort in time order
        found = sorted(glob.glob(osp.join(glob.escape(path), '*', 'vis_data', SCALAR_LOG)))
    if not found:
        what = 'does not exist' if not osp.exists(path) else 'holds no mmengine scalar log'
        raise ValueError(f"'{path}' {what} (looked for <work_dir>/<timestamp>/vis_data/"
                         f'{SCALAR_LOG}); give the --work-dir of a tools/train.py run that has '
                         'logged at least one step')
    return found


def read_training_rows(logs: Sequence[str]) -> List[dict]:
    """The training rows (those with a ``loss*`` key) of ``logs`` (:func:`read_scalar_rows`)."""
    return read_scalar_rows(logs, lambda row: any(k.startswith('loss') for k in row))


def read_scalar_rows(logs: Sequence[str], wanted: Callable[[dict], bool]) -> List[dict]:
    """The rows of ``logs`` for which ``wanted(row)`` holds, read in order and sorted by
    iteration; a later log's row replaces an earlier one of the same iteration (a resumed run).
    A cut-off last line (a run still writing) is skipped; any other unreadable line is a
    ``ValueError`` naming the file and line."""
    rows: Dict[int, dict] = {}
    for log in logs:
        with open(log) as f:
            lines = f.read().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                if number == len(lines):
                    continue  # being written right now
                raise ValueError(f"{log}:{number} is not a JSON object; is '{log}' an mmengine "
                                 'scalar log?') from None
            if not isinstance(row, dict) or not wanted(row):
                continue  # e.g. validation rows hold metrics, not losses
            step = row.get('iter', row.get('step'))
            if not isinstance(step, (int, float)):
                raise ValueError(f'{log}:{number} has no iter/step')
            rows[int(step)] = row
    return [rows[step] for step in sorted(rows)]


def ema(values: Sequence[float], weight: float) -> List[float]:
    """TensorBoard's smoothing: an exponential moving average with weight ``weight`` in
    [0, 1), debiased so that the first points are not pulled towards 0; 0 returns the values."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f'smoothing weight {weight} must be in [0, 1) (0: none)')
    out, last = [], 0.0
    for i, value in enumerate(values, 1):
        last = weight * last + (1.0 - weight) * value
        out.append(last / (1.0 - weight**i))
    return out


def _curve(rows: Sequence[dict], keys: Sequence[str], smooth: float) -> Optional[Curve]:
    """The sum of ``keys`` over the rows that have every one of them (``None`` if none has)."""
    iters, values = [], []
    for row in rows:
        if all(isinstance(row.get(k), (int, float)) for k in keys):
            iters.append(int(row.get('iter', row.get('step'))))
            values.append(float(sum(row[k] for k in keys)))
    if not iters:
        return None
    return Curve(iters, values, ema(values, smooth), tuple(keys))


def run_curves(name: str, work_dir: str,
               groups: Dict[str, Sequence[str]] = DETECTION_LOSS_GROUPS,
               smooth: float = 0.0) -> RunCurves:
    """Read one run's logs and build its group and single-loss curves.

    A group sums those of its losses the run logged (e.g. no ``loss_mask`` for a box-only
    detector: no mask group). ``ValueError`` naming the run when it logged none of them."""
    logs = find_scalar_logs(work_dir)
    rows = read_training_rows(logs)
    logged = sorted({k for row in rows for k in row if k.startswith('loss')})
    curves: Dict[str, Curve] = {}
    for group, members in groups.items():
        present = [k for k in members if k in logged]
        curve = _curve(rows, present, smooth) if present else None
        if curve is not None:
            curves[group] = curve
    if not curves:
        wanted = sorted({k for members in groups.values() for k in members})
        raise ValueError(f"run '{name}' ({work_dir}) logged none of {', '.join(wanted)} "
                         f"(its losses: {', '.join(logged) or 'none'}); is it a detection run?")
    losses = {k: c for k in logged if (c := _curve(rows, [k], smooth)) is not None}
    return RunCurves(name, work_dir, list(logs), curves, losses)


def convergence(curve: Curve) -> Dict[str, float]:
    """First and last (smoothed) value and their ratio: how far the loss came down."""
    first, last = curve.smoothed[0], curve.smoothed[-1]
    return dict(first_iter=curve.iters[0], last_iter=curve.iters[-1], first=first, last=last,
                last_over_first=last / first if first else math.nan)


def write_csv(runs: Sequence[RunCurves], path: str) -> None:
    """One row per (run, curve, iteration): ``run, curve, kind (group|loss), iter, value,
    smoothed``."""
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['run', 'curve', 'kind', 'iter', 'value', 'smoothed'])
        for run in runs:
            for kind, curves in (('group', run.groups), ('loss', run.losses)):
                for name, curve in curves.items():
                    for it, value, smoothed in zip(curve.iters, curve.values, curve.smoothed):
                        writer.writerow([run.name, name, kind, it, repr(value), repr(smoothed)])


def write_json(runs: Sequence[RunCurves], groups: Dict[str, Sequence[str]], smooth: float,
               path: str) -> None:
    """Every curve with its iterations, values and smoothed values, plus each group's
    convergence summary (:func:`convergence`)."""
    def as_dict(curve: Curve) -> dict:
        return dict(members=list(curve.members), iters=curve.iters, values=curve.values,
                    smoothed=curve.smoothed)

    data = dict(
        groups={g: list(m) for g, m in groups.items()}, smooth=smooth,
        runs={run.name: dict(work_dir=run.work_dir, logs=run.logs,
                             groups={g: dict(as_dict(c), summary=convergence(c))
                                     for g, c in run.groups.items()},
                             losses={k: as_dict(c) for k, c in run.losses.items()})
              for run in runs})
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)


def plot_curves(runs: Sequence[RunCurves], groups: Sequence[str], path: str,
                log_y: bool = False, panel_px: Tuple[int, int] = (480, 400),
                dpi: int = 100) -> None:
    """One panel per group (side by side), one line per run in the same colour in every
    panel; with smoothing, the raw values faintly behind the smoothed line. A PNG at
    ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    shown = [g for g in groups if any(g in run.groups for run in runs)]
    width, height = panel_px
    fig, axes = plt.subplots(1, len(shown), squeeze=False, dpi=dpi,
                             figsize=(width * len(shown) / dpi, height / dpi))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, group in zip(axes[0], shown):
        members = []
        for i, run in enumerate(runs):
            curve = run.groups.get(group)
            if curve is None:
                continue
            colour = colours[i % len(colours)]
            if curve.smoothed != curve.values:
                ax.plot(curve.iters, curve.values, color=colour, alpha=0.25, linewidth=1)
            ax.plot(curve.iters, curve.smoothed, color=colour, linewidth=1.8, label=run.name)
            members.extend(m for m in curve.members if m not in members)
        ax.set_title(f"{group} ({' + '.join(members)})", fontsize=10)
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss')
        if log_y:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
