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


def test_vitdet_backbone_benchmark_lomar_layout_compares_chunked_with_explicit(tmp_path):
    out = tmp_path / 'rows.json'
    result = run_tool([sys.executable, 'tools/analysis/benchmark_vitdet_backbone.py',
                       '--rel-pos', 'lomar', '--arch', 'deit-t', '--img-size', '96',
                       '--variants', 'chunked', 'sdpa', '--json', str(out)], timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'rel pos lomar' in result.stdout
    table = result.stdout.split('memory vs sdpa')[-1]
    assert '\nchunked ' in table and '\nsdpa ' in table
    rows = json.loads(out.read_text())['rows']
    assert [(r['variant'], r['rel_pos']) for r in rows] == [('chunked', 'lomar'),
                                                            ('sdpa', 'lomar')]


def test_throughput_benchmark_profiles_the_gemm_share(tmp_path):
    out = tmp_path / 'rows.json'
    result = run_tool([sys.executable, 'tools/analysis/benchmark_pretrain_throughput.py',
                       '--sizes', '160', '--batch-size', '1', '--iters', '1', '--warmup', '0',
                       '--profile', '--json', str(out)], timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'GEMM %' in result.stdout and 'bound' in result.stdout
    rows = json.loads(out.read_text())['rows']
    assert [r['method'] for r in rows] == ['mae', 'lomar']
    # ViT-B steps are mostly matrix products, but not only
    assert all(0.3 < r['gemm_share'] < 1 for r in rows), [r['gemm_share'] for r in rows]


def test_throughput_benchmark_names_a_missing_official_checkout(tmp_path):
    result = run_tool([sys.executable, 'tools/analysis/benchmark_pretrain_throughput.py',
                       '--sizes', '160', '--official-lomar', str(tmp_path)], timeout=120)
    assert result.returncode != 0
    assert f'--official-lomar {tmp_path}: no models_lomar.py there' in (result.stdout +
                                                                       result.stderr)
