"""The comparison table of the main job: every pretraining method against training from scratch.

A *run* is one fine-tuning outcome: ``RunResult(method, seed, bbox_mAP, segm_mAP, mIoU,
pretrain_s, twin)``, where ``twin`` names the from-scratch run trained with the same downstream
recipe (same configs, same seed, no checkpoint). Gains are paired: for each seed the
pretrained metric minus its twin's, then mean and sample standard deviation over seeds, so the
seed-to-seed spread of a gain is the figure to compare it with.

Units follow the papers: box and mask AP in points (mmdet ``CocoMetric`` reports 0-1 floats,
multiplied by 100 here), mIoU in percent (mmseg ``IoUMetric`` already reports percent).

Writers: :func:`write_csv`, :func:`format_markdown`, :func:`format_console` and
:func:`plot_bar_chart` (a PNG of the gains with their spreads, or of the metrics when there is
nothing to compare).
"""
import csv
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

#: (table key, metric name in test_metrics.json, scale to table units)
METRICS = (
    ('bbox_mAP', 'coco/bbox_mAP', 100.0),
    ('segm_mAP', 'coco/segm_mAP', 100.0),
    ('mIoU', 'mIoU', 1.0),
)
METRIC_KEYS = tuple(key for key, _, _ in METRICS)
METRIC_LABELS = {'bbox_mAP': 'bbox mAP', 'segm_mAP': 'segm mAP', 'mIoU': 'mIoU'}


@dataclass
class RunResult:
    """One method at one seed. Metrics in table units; ``pretrain_s`` 0 for scratch runs."""
    method: str
    seed: int
    bbox_mAP: float
    segm_mAP: float
    mIoU: float
    pretrain_s: float = 0.0
    twin: Optional[str] = None  # the scratch run's method name; None for scratch itself


@dataclass
class Stat:
    """Mean and sample standard deviation over seeds (std is nan for one seed)."""
    mean: float
    std: float
    n: int

    def format(self, digits: int = 1, signed: bool = False) -> str:
        sign = '+' if signed else ''
        text = f'{self.mean:{sign}.{digits}f}'
        if self.n > 1:
            text += f' ± {self.std:.{digits}f}'
        return text


@dataclass
class TableRow:
    """One line of the table: a method's metrics and, for pretrained methods, its paired gains
    over its scratch twin (``gains`` empty for scratch rows)."""
    method: str
    seeds: List[int]
    pretrain_s: Stat
    metrics: Dict[str, Stat]
    gains: Dict[str, Stat]
    twin: Optional[str]

    def beats_scratch(self, key: str) -> Optional[bool]:
        """True when the mean gain exceeds its seed-to-seed spread (one seed: is positive)."""
        if key not in self.gains:
            return None
        gain = self.gains[key]
        spread = gain.std if gain.n > 1 else 0.0
        return gain.mean > spread


def summarise(values: Sequence[float]) -> Stat:
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1)) if n > 1 else float('nan')
    return Stat(mean, std, n)


def metrics_from_reports(det_report: dict, seg_report: dict) -> Dict[str, float]:
    """Table metrics from ``tools/test.py``'s ``test_metrics.json`` ``metrics`` dicts of the
    detection and the segmentation run."""
    out = {}
    for key, name, scale in METRICS:
        report = seg_report if key == 'mIoU' else det_report
        if name not in report:
            raise KeyError(f'metric {name!r} missing from the test report (has: '
                           f'{", ".join(sorted(report))})')
        out[key] = float(report[name]) * scale
    return out


def build_table(runs: Sequence[RunResult]) -> List[TableRow]:
    """Group runs by method (first-seen order, scratch twins first) and pair every pretrained
    run with its twin of the same seed."""
    by_method: Dict[str, Dict[int, RunResult]] = {}
    for run in runs:
        by_method.setdefault(run.method, {})[run.seed] = run
    order = sorted(by_method, key=lambda m: (next(iter(by_method[m].values())).twin is not None,
                                             list(by_method).index(m)))
    rows = []
    for method in order:
        seeds = sorted(by_method[method])
        its = [by_method[method][s] for s in seeds]
        twin = its[0].twin
        gains = {}
        if twin is not None:
            if twin not in by_method:
                raise ValueError(f'{method}: its scratch twin {twin!r} has no runs')
            missing = [s for s in seeds if s not in by_method[twin]]
            if missing:
                raise ValueError(f'{method}: scratch twin {twin!r} lacks seeds {missing}')
            for key in METRIC_KEYS:
                gains[key] = summarise([getattr(r, key) - getattr(by_method[twin][r.seed], key)
                                        for r in its])
        rows.append(TableRow(
            method=method, seeds=seeds, twin=twin,
            pretrain_s=summarise([r.pretrain_s for r in its]),
            metrics={key: summarise([getattr(r, key) for r in its]) for key in METRIC_KEYS},
            gains=gains))
    return rows


def _format_time(seconds: float) -> str:
    if seconds <= 0:
        return '-'
    minutes, sec = divmod(int(round(seconds)), 60)
    return f'{minutes}m{sec:02d}s' if minutes else f'{sec}s'


def _cells(row: TableRow) -> List[str]:
    cells = [row.method, _format_time(row.pretrain_s.mean)]
    cells += [row.metrics[key].format() for key in METRIC_KEYS]
    if row.gains:
        cells.append(' / '.join(row.gains[key].format(signed=True) for key in METRIC_KEYS)
                     + f' (vs {row.twin})')
    else:
        cells.append('-')
    return cells


HEADER = ['method', 'pretrain time', 'bbox mAP', 'segm mAP', 'mIoU',
          'gain over scratch (bbox / segm / mIoU)']


def format_markdown(rows: Sequence[TableRow]) -> str:
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '|'.join(['---'] * len(HEADER)) + '|']
    lines += ['| ' + ' | '.join(_cells(row)) + ' |' for row in rows]
    return '\n'.join(lines) + '\n'


def format_console(rows: Sequence[TableRow]) -> str:
    table = [HEADER] + [_cells(row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    out = []
    for i, r in enumerate(table):
        out.append('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append('  '.join('-' * w for w in widths))
    return '\n'.join(out) + '\n'


def write_csv(rows: Sequence[TableRow], path: str) -> None:
    """One line per method: metrics and gains as mean and std columns (std empty for one
    seed), the seeds, the twin."""
    fields = ['method', 'seeds', 'pretrain_s']
    for key in METRIC_KEYS:
        fields += [key, f'{key}_std']
    for key in METRIC_KEYS:
        fields += [f'gain_{key}', f'gain_{key}_std']
    fields += ['scratch_twin']

    def num(stat: Optional[Stat], attr: str) -> str:
        if stat is None:
            return ''
        value = getattr(stat, attr)
        return '' if isinstance(value, float) and math.isnan(value) else f'{value:.4f}'

    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for row in rows:
            line = [row.method, ' '.join(map(str, row.seeds)), f'{row.pretrain_s.mean:.1f}']
            for key in METRIC_KEYS:
                line += [num(row.metrics[key], 'mean'), num(row.metrics[key], 'std')]
            for key in METRIC_KEYS:
                gain = row.gains.get(key)
                line += [num(gain, 'mean'), num(gain, 'std')]
            line.append(row.twin or '')
            writer.writerow(line)


def plot_bar_chart(rows: Sequence[TableRow], path: str, width_px: int = 1200,
                   height_px: int = 500, dpi: int = 100) -> None:
    """Grouped bars, one group per metric, one bar per pretrained method: the mean gain over
    scratch with the seed spread as error bars. Without pretrained rows, the metrics of every
    row instead. Written as a ``width_px`` x ``height_px`` PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    pretrained = [r for r in rows if r.gains]
    shown = pretrained or list(rows)
    fig, ax = plt.subplots(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    group = len(shown) + 1
    for i, row in enumerate(shown):
        stats = [(row.gains if pretrained else row.metrics)[key] for key in METRIC_KEYS]
        xs = [g * group + i for g in range(len(METRIC_KEYS))]
        errs = [0.0 if s.n < 2 else s.std for s in stats]
        ax.bar(xs, [s.mean for s in stats], width=0.9, yerr=errs, capsize=3, label=row.method)
    ax.set_xticks([g * group + (len(shown) - 1) / 2 for g in range(len(METRIC_KEYS))])
    ax.set_xticklabels([METRIC_LABELS[k] for k in METRIC_KEYS])
    if pretrained:
        ax.axhline(0.0, color='black', linewidth=0.8)
        ax.set_ylabel('gain over scratch (AP points / mIoU %)')
        seeds = max(s.n for r in pretrained for s in r.gains.values())
        ax.set_title('Pretraining vs scratch' + (f' (mean over {seeds} seeds, bars: seed std)'
                                                 if seeds > 1 else ' (one seed)'))
    else:
        ax.set_ylabel('AP points / mIoU %')
        ax.set_title('Fine-tuning results')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
