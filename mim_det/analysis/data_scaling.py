"""Read, summarise and plot a data-scaling grid (``tools/analysis/data_scaling.py``).

Xie et al., *On Data Scaling in Masked Image Modeling* (CVPR 2023, arXiv 2206.04664):
- Sec. 4.2 / Fig. 3-4: with little data and long training a large model overfits: its training
  MIM loss keeps falling while its validation MIM loss rises, and its fine-tuned accuracy drops;
- Sec. 4.3 / Fig. 5: across models, data sizes and lengths, the validation MIM loss is a good
  proxy of the fine-tuned performance (lower loss, higher accuracy), the training loss is not.

A cell's curves come from mmengine's JSON scalars (``<work>/<timestamp>/vis_data/scalars.json``):
the LoggerHook's ``loss`` lines (window-smoothed training loss) and the
``ValidationMIMLossHook``'s ``val_mim_loss`` lines.
"""
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .loss_curves import find_scalar_logs, read_scalar_rows

Curve = List[Tuple[int, float]]  # (step, value), sorted by step


def read_loss_curves(work_dir: str) -> Tuple[Curve, Curve]:
    """(training loss, held-out MIM loss) curves of a training run's work dir; a resumed run's
    several timestamp folders are merged (the later value of a step wins)."""
    try:
        logs = find_scalar_logs(work_dir)
    except ValueError as exc:
        raise FileNotFoundError(str(exc)) from None
    # two passes: a step can have both a training row and a held-out row
    val = read_scalar_rows(logs, lambda row: 'val_mim_loss' in row)
    train = read_scalar_rows(logs, lambda row: 'loss' in row and 'val_mim_loss' not in row)
    return ([(int(r.get('iter', r.get('step'))), float(r['loss'])) for r in train],
            [(int(r.get('iter', r.get('step'))), float(r['val_mim_loss'])) for r in val])


@dataclass
class CellResult:
    """One grid cell: its coordinates, loss summary and downstream metric."""
    model: str
    fraction: float
    iters: int
    train_loss: float  # the last logged (smoothed) training loss
    val_loss: float  # the held-out MIM loss at the end
    val_loss_min: float
    val_loss_min_step: int
    metric: Optional[float] = None  # the fine-tuned downstream metric
    train_curve: Curve = field(default_factory=list)
    val_curve: Curve = field(default_factory=list)

    @property
    def name(self) -> str:
        return f'{self.model} {self.fraction:g} {self.iters}it'

    def overfits(self, tolerance: float = 0.002) -> bool:
        """The paper's overfitting sign: the held-out loss ended above its minimum (by more
        than ``tolerance``) while the training loss kept falling after that minimum."""
        if self.val_loss - self.val_loss_min <= tolerance:
            return False
        before = [v for s, v in self.train_curve if s <= self.val_loss_min_step]
        return bool(before) and self.train_loss < before[-1]

    def to_row(self) -> dict:
        row = {k: v for k, v in asdict(self).items() if not k.endswith('_curve')}
        row['overfits'] = self.overfits()
        return row


def summarise_cell(model: str, fraction: float, iters: int, work_dir: str,
                   metric: Optional[float] = None) -> CellResult:
    train, val = read_loss_curves(work_dir)
    if not train or not val:
        missing = 'training loss' if not train else 'val_mim_loss'
        raise ValueError(f'{work_dir}: the scalar log has no {missing} lines; the pretraining '
                         'config needs the LoggerHook and the ValidationMIMLossHook')
    min_step, min_val = min(val, key=lambda sv: sv[1])
    return CellResult(model, fraction, iters, train_loss=train[-1][1], val_loss=val[-1][1],
                      val_loss_min=min_val, val_loss_min_step=min_step, metric=metric,
                      train_curve=train, val_curve=val)


def pearson_r(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Pearson's correlation coefficient, or None with fewer than 3 points or no spread."""
    if len(x) != len(y) or len(x) < 3:
        return None
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def proxy_correlations(cells: List[CellResult]) -> Dict[str, Optional[float]]:
    """r(downstream metric, final held-out MIM loss) and r(metric, final training loss) over the
    cells that have a metric. The paper: strongly negative for the held-out loss, weak or
    misleading for the training loss."""
    done = [c for c in cells if c.metric is not None]
    metric = [c.metric for c in done]
    return dict(val_loss=pearson_r([c.val_loss for c in done], metric),
                train_loss=pearson_r([c.train_loss for c in done], metric))


def plot_loss_curves(cells: List[CellResult], path: str, dpi: int = 100):
    """One panel per (model, fraction); per length the training loss (dashed) and the held-out
    MIM loss (solid), as the paper's Fig. 4."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    models = list(dict.fromkeys(c.model for c in cells))
    fractions = sorted({c.fraction for c in cells})
    lengths = sorted({c.iters for c in cells})
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    fig, axes = plt.subplots(len(models), len(fractions), squeeze=False,
                             figsize=(3.2 * len(fractions), 2.6 * len(models)), sharex=True)
    for c in cells:
        ax = axes[models.index(c.model)][fractions.index(c.fraction)]
        colour = colours[lengths.index(c.iters) % len(colours)]
        ax.plot(*zip(*c.train_curve), '--', color=colour, lw=1, label=f'train {c.iters}it')
        ax.plot(*zip(*c.val_curve), '-o', color=colour, ms=2.5, lw=1.5,
                label=f'held-out {c.iters}it')
        ax.set_title(f'{c.model}, {c.fraction:g} of the data', fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel('iteration')
    for row in axes:
        row[0].set_ylabel('MIM loss')
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_proxy(cells: List[CellResult], path: str, metric_name: str = 'mIoU', dpi: int = 100):
    """The downstream metric against the final held-out MIM loss and against the final
    training loss, with Pearson's r (the paper's Fig. 5)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    done = [c for c in cells if c.metric is not None]
    corr = proxy_correlations(cells)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, key, label in ((axes[0], 'val_loss', 'held-out MIM loss (end)'),
                           (axes[1], 'train_loss', 'training MIM loss (end)')):
        xs = [getattr(c, key) for c in done]
        ax.scatter(xs, [c.metric for c in done], s=18)
        for c, x in zip(done, xs):
            ax.annotate(c.name, (x, c.metric), fontsize=6, xytext=(2, 2),
                        textcoords='offset points')
        r = corr[key]
        ax.set_title(f'Pearson r = {r:+.2f}' if r is not None else 'r: needs 3+ cells',
                     fontsize=9)
        ax.set_xlabel(label)
    axes[0].set_ylabel(metric_name)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
