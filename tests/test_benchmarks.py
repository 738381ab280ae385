"""The benchmark tools run end to end at a tiny size and print their tables (the figures
themselves are measured on a quiet machine and reported in the README, never asserted)."""
import json
import sys

from conftest import run_tool


def test_vitdet_backbone_benchmark_prints_every_variant(tmp_path):
    out = tmp_path / 'rows.json'
    result = run_tool([sys.executable, 'tools/analysis/benchmark_vitdet_backbone.py',
                       '--arch', 'deit-t', '--img-size', '96', '--variants', 'folded', 'sdpa',
                       'naive', '--json', str(out)], timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout.split('speed-up vs naive')[-1]  # the table after its header
    for variant in ('folded', 'sdpa', 'naive'):
        assert f'\n{variant} ' in table, variant
    rows = json.loads(out.read_text())['rows']
    assert [r['variant'] for r in rows] == ['folded', 'sdpa', 'naive']
    assert all(r['ms_per_iter'] > 0 and r['peak_bytes'] >= 0 for r in rows)
