"""The attention paths on a CUDA device (skipped without one; ``bash tools/gpu_checks.sh`` runs
them with the GPU benchmarks): folded, chunked and FlexAttention against the explicit (N, N)
bias, values and gradients of every position table within 1e-5 in fp32 and within 1e-2 of the
norm under fp16 autocast (issue 17's tolerances; bf16, whose own rounding exceeds 1e-2 in
places, as explained in the test), and what 'auto' runs on CUDA, at a global-block size where
the fused kernels and the row blocks actually run. Each test prints its measured errors (``-s``).

Imports only the backbone layers (no mmcv ops), so it also runs where mmcv was installed
without them."""
import pytest
import torch
from torch import nn

from mim_det.models.layers import Attention, ContextualRPE, DecomposedRelPos

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')

D, HEADS = 256, 4  # head width 64, as ViT-B
DECOMPOSED, CONTEXTUAL, TABLE = (dict(type='DecomposedRelPos'), dict(type='ContextualRPE'),
                                 dict(type='RelPosBiasTable'))
LAYOUTS = {'vitdet': [DECOMPOSED], 'lomar': [DECOMPOSED, CONTEXTUAL],
           'beit': [DECOMPOSED, TABLE]}
GRID = (32, 40)  # 1280 grid tokens: N^2 per head = 1.6M logits


@pytest.fixture(autouse=True, scope='module')
def enough_recompiles():
    """Each (shape, dtype, bias set) compiles FlexAttention once; this module asks for more of
    them than dynamo's default limit of 8 per function, past which it would run eagerly."""
    import torch._dynamo
    name = ('recompile_limit' if hasattr(torch._dynamo.config, 'recompile_limit')
            else 'cache_size_limit')
    old = getattr(torch._dynamo.config, name)
    setattr(torch._dynamo.config, name, 64)
    yield
    setattr(torch._dynamo.config, name, old)


@pytest.fixture(autouse=True)
def exact_fp32():
    """fp32 means fp32: no TF32 in matmuls or convolutions while these tests run."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _randomized(attn: nn.Module, std: float) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in attn.modules():
            for p in ([m.lookup_table_weight] if isinstance(m, ContextualRPE) else
                      [m.rel_pos_h, m.rel_pos_w] if isinstance(m, DecomposedRelPos) else []):
                p.copy_(torch.randn(p.shape, generator=gen) * std)
        for name, p in attn.named_parameters():
            if name.endswith('relative_position_bias_table'):
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return attn


def _pair(layout: str, impl: str, std: float = 0.1):
    """(attention with ``impl``, the explicit one with the same weights), on the GPU."""
    kwargs = dict(rel_pos_cfgs=LAYOUTS[layout], rel_pos_grid=(14, 14))
    torch.manual_seed(0)
    attn = _randomized(Attention(D, HEADS, rel_pos_impl=impl, **kwargs), std)
    ref = Attention(D, HEADS, rel_pos_impl='explicit', **kwargs)
    ref.load_state_dict(attn.state_dict())
    if impl == 'chunked':  # this size is under the ViT-B threshold: split it anyway
        attn.chunk_above_elements = 0
        attn.max_bias_elements = 2**20
    return attn.cuda(), ref.cuda()


def _run(attn, x, weight, dtype=None):
    """Output and the gradients of x and every parameter, in fp32."""
    attn.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    with torch.autocast('cuda', dtype=dtype or torch.float32, enabled=dtype is not None):
        out = attn(x, GRID, attn_mask=None)
    (out.float() * weight).sum().backward()
    res = {'output': out.detach().float(), 'input': x.grad.float()}
    res.update({n: p.grad.float() for n, p in attn.named_parameters()})
    return res


def _errors(res, ref, norm):
    """Per tensor: max |a - b| / max |b| (``norm=False``) or ||a - b|| / ||b||."""
    def err(a, b):
        return ((a - b).norm() / b.norm() if norm else
                (a - b).abs().max() / b.abs().max().clamp(min=1e-12)).item()
    assert res.keys() == ref.keys()
    return {name: err(res[name], ref[name]) for name in ref}


def _inputs(num_extra):
    gen = torch.Generator(device='cuda').manual_seed(1)
    n = GRID[0] * GRID[1] + num_extra
    return (torch.randn(2, n, D, device='cuda', generator=gen),
            torch.randn(2, n, D, device='cuda', generator=gen))


CASES = [('vitdet', 'folded', 0), ('vitdet', 'flex', 1), ('lomar', 'chunked', 0),
         ('lomar', 'flex', 0), ('beit', 'chunked', 1), ('beit', 'flex', 1)]


@pytest.mark.parametrize('layout,impl,num_extra', CASES)
def test_fp32_values_and_gradients_equal_the_explicit_bias(layout, impl, num_extra):
    attn, ref = _pair(layout, impl)
    x, weight = _inputs(num_extra)
    errors = _errors(_run(attn, x, weight), _run(ref, x, weight), norm=False)
    print(f'\n[fp32] {layout} {impl} cls={num_extra}: max error / max value: '
          + ', '.join(f'{k} {v:.1e}' for k, v in errors.items()))
    tables = [k for k in errors if 'rel_pos' in k or 'lookup' in k or 'bias_table' in k]
    assert tables, errors  # the tables get compared
    for name, value in errors.items():
        assert value < 1e-5, (name, errors)


@pytest.mark.parametrize('layout,impl,num_extra,dtype', [
    ('vitdet', 'folded', 0, torch.bfloat16), ('vitdet', 'folded', 1, torch.float16),
    ('lomar', 'chunked', 0, torch.bfloat16), ('lomar', 'chunked', 0, torch.float16),
    ('lomar', 'flex', 0, torch.bfloat16), ('beit', 'chunked', 1, torch.bfloat16),
    ('beit', 'chunked', 1, torch.float16), ('beit', 'flex', 1, torch.float16),
])
def test_amp_values_and_gradients_within_one_percent(layout, impl, num_extra, dtype):
    """Under autocast both paths round: in fp16 each stays within 1e-2 of the explicit path
    under the same autocast; in bf16 within 1e-2 of it, or close to the fp32 reference (see
    below; norm-relative errors)."""
    attn, ref = _pair(layout, impl)
    x, weight = _inputs(num_extra)
    exact = _run(ref, x, weight)
    low_ref = _run(ref, x, weight, dtype)
    low = _run(attn, x, weight, dtype)
    errors = _errors(low, low_ref, norm=True)
    own = _errors(low, exact, norm=True)
    base = _errors(low_ref, exact, norm=True)
    name = str(dtype).split('.')[-1]
    print(f'\n[{name}] {layout} {impl} cls={num_extra}: ||a - explicit {name}|| / ||.||: '
          + ', '.join(f'{k} {v:.1e}' for k, v in errors.items())
          + f'; vs fp32: {max(own.values()):.1e} (explicit {name}: {max(base.values()):.1e})')
    for key, value in errors.items():
        detail = (f'{key}: {value:.2e} from explicit {name}, {own[key]:.2e} from fp32 '
                  f'(explicit {name}: {base[key]:.2e} from fp32)')
        if dtype == torch.float16:  # 10 mantissa bits: 1e-2 of the explicit fp16 path
            assert value < 1e-2, detail
        else:
            # bf16 keeps 8 mantissa bits (unit roundoff u = 2^-8 = 3.9e-3), and two orders of
            # summing the same 1.6M products per head can differ by more than 1e-2 (H200:
            # LoMaR's table gradient is 2.0e-2 from fp32 in the explicit bf16 path, 2.0e-2 in
            # the chunked one, the two 2.5e-2 apart; the chunked decomposed-table gradient
            # 1.0-1.1e-2 from both). So: within 1e-2 of the explicit bf16 path, or within
            # 3u of the fp32 truth, or no further from it than 1.25x the explicit bf16 path
            assert (value < 1e-2 or own[key] < max(3 * 2**-8, 1.25 * base[key])), detail


def test_auto_runs_the_explicit_bias_on_cuda():
    """'auto' on CUDA is the explicit bias through SDPA (the fastest measured there): no
    fold, no row blocks, no FlexAttention, and the explicit path's values."""
    import mim_det.models.layers.attention as attention_module
    attn, ref = _pair('lomar', 'auto')
    attn.chunk_above_elements = 0  # would split on CPU
    x, weight = _inputs(0)
    fail = pytest.fail
    originals = (attention_module.checkpoint, attention_module.flex_biased_attention,
                 DecomposedRelPos.fold)
    try:
        attention_module.checkpoint = lambda *a, **k: fail('row blocks on CUDA')
        attention_module.flex_biased_attention = lambda *a, **k: fail('flex on CUDA')
        DecomposedRelPos.fold = lambda *a, **k: fail('fold on CUDA')
        res = _run(attn, x, weight)
    finally:
        (attention_module.checkpoint, attention_module.flex_biased_attention,
         DecomposedRelPos.fold) = originals
    errors = _errors(res, _run(ref, x, weight), norm=False)
    assert max(errors.values()) < 1e-6, errors


def test_auto_runs_flex_for_a_large_table_bias_on_cuda():
    """'auto' on CUDA reads BEiT's table per logit through FlexAttention in a large attention
    without mask (2.3x the explicit bias's speed at 1024 px on an H200), with the explicit
    path's values and gradients."""
    import mim_det.models.layers.attention as attention_module
    attn, ref = _pair('beit', 'auto')
    attn.chunk_above_elements = 0  # this 1280-token attention counts as large
    assert attn.auto_uses_flex_on_cuda(GRID[0] * GRID[1] + 1, None, 0.)
    x, weight = _inputs(1)
    calls = []
    real_flex = attention_module.flex_biased_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return real_flex(*args, **kwargs)
    attention_module.flex_biased_attention = spy
    try:
        res = _run(attn, x, weight)
    finally:
        attention_module.flex_biased_attention = real_flex
    assert calls == [1]
    errors = _errors(res, _run(ref, x, weight), norm=False)
    assert max(errors.values()) < 1e-5, errors
