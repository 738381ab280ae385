"""PeCo's perceptual VQ tokenizer: the quantiser (nearest codes, straight-through gradients,
dead-code restarts), the frozen-ViT perceptual loss, the token grid against the ViT patch grid,
the configs, and tiny training through tools/train_tokenizer.py with and without the
perceptual loss."""
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from conftest import (ROOT, TOKENIZER_ITERS, build_in_scope, logged_scalars, run_tool,
                      train_tiny_tokenizer)

TINY = 'configs/peco/vq-tokenizer_perceptual_tiny_embedded.py'
PAPER = 'configs/peco/vq-tokenizer_perceptual_vit-b_8xb64-100e_in1k.py'
TINY_VIT = 'configs/mae/mae_vit-tiny-p8_embedded.py'


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def _tokenizer(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='VQTokenizer', base_channels=8, channel_mults=(1, 2), num_codes=64,
               code_dim=8, restart_after=2)
    cfg.update(kwargs)
    return build_in_scope(cfg)


def _quantizer(codebook, restart_after=2):
    from mim_det.models.target_generators import VectorQuantizer
    q = VectorQuantizer(codebook.shape[0], codebook.shape[1], restart_after=restart_after)
    q.codebook.weight.data.copy_(codebook)
    return q


# ------------------------------------------------------------------------------- quantiser
def test_codes_are_the_nearest_neighbours():
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(50, 6, generator=g)
    z = torch.randn(3, 6, 4, 5, generator=g)
    q = _quantizer(codebook).eval()
    z_q, idx, stats = q(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 6)
    brute = torch.cdist(flat, codebook).argmin(1)
    assert torch.equal(idx.flatten(), brute)
    # the quantised map holds exactly those codes
    assert torch.allclose(z_q.permute(0, 2, 3, 1).reshape(-1, 6), codebook[brute], atol=1e-6)
    assert stats['codes_used'] == brute.unique().numel()
    assert 1 <= stats['perplexity'] <= brute.unique().numel() + 1e-4


def test_vq_losses_are_the_codebook_and_beta_commitment_terms():
    g = torch.Generator().manual_seed(1)
    codebook = torch.randn(10, 4, generator=g)
    z = torch.randn(2, 4, 3, 3, generator=g, requires_grad=True)
    q = _quantizer(codebook).eval()
    _, idx, stats = q(z)
    e = codebook[idx.flatten()]
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    expected = ((flat - e)**2).mean()
    assert torch.allclose(stats['loss_codebook'], expected)
    assert torch.allclose(stats['loss_commit'], 0.25 * expected)
    # the codebook term moves the codes only, the commitment term the encoder output only
    stats['loss_codebook'].backward()
    assert z.grad is None and q.codebook.weight.grad.abs().sum() > 0
    stats['loss_commit'].backward()
    assert z.grad.abs().sum() > 0


def test_straight_through_gradients_reach_the_encoder():
    tok = _tokenizer()
    x = torch.randn(2, 3, 16, 16)
    x_hat, idx, _ = tok.reconstruct(x)
    assert x_hat.shape == x.shape and idx.shape == (2, 4, 4)
    F.mse_loss(x_hat, x).backward()  # the pixel loss alone: only straight-through reaches E
    first_conv = tok.encoder[0].weight.grad
    assert first_conv is not None and first_conv.abs().sum() > 0
    assert tok.quantizer.codebook.weight.grad is None  # argmin is not differentiable


def test_a_dead_code_is_restarted_on_an_encoder_vector():
    g = torch.Generator().manual_seed(2)
    codebook = torch.randn(8, 4, generator=g)
    codebook[3] = 100.0  # far from every input: never the nearest
    q = _quantizer(codebook, restart_after=2).train()
    z = torch.randn(2, 4, 3, 3, generator=g)
    _, _, stats = q(z)
    assert stats['dead_codes'] == 0 and q.steps_unused[3] == 1
    _, _, stats = q(z)
    assert stats['dead_codes'] >= 1  # unused for 2 steps: restarted
    moved = q.codebook.weight[3]
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.cdist(moved[None], flat).min() < 0.1  # now on (near) an encoder vector
    assert q.steps_unused[3] == 0
    # codes are not touched outside training
    q.eval()
    before = q.codebook.weight.clone()
    for _ in range(3):
        q(z)
    assert torch.equal(before, q.codebook.weight)


# ----------------------------------------------------------------------------- token grid
@pytest.mark.parametrize('path, size, vit_config', [(PAPER, 224, None), (TINY, 96, TINY_VIT)])
def test_token_grid_is_the_vit_patch_grid(path, size, vit_config):
    """16x downsampling at 224 px gives ViT-B/16's 14 x 14 patches; the tiny tokenizer's 8x at
    96 px gives the tiny patch-8 ViTs' 12 x 12."""
    cfg = _cfg(path)
    tok = build_in_scope(cfg.model.tokenizer)
    patch = 16 if vit_config is None else _cfg(vit_config).model.backbone.patch_size
    x = torch.randn(1, 3, size, size)
    scores = tok(x)
    assert scores.shape == (1, tok.num_codes, size // patch, size // patch)
    assert torch.equal(scores.argmax(1), tok.tokens(x))  # BEiTV1Head's argmax is the token
    with pytest.raises(ValueError, match='multiple of its downsampling'):
        tok.encode(torch.randn(1, 3, size + 4, size))


def test_paper_config_holds_pecos_settings():
    model = _cfg(PAPER).model
    assert model.tokenizer.num_codes == 8192 and model.tokenizer.beta == 0.25
    assert 2 ** len(model.tokenizer.channel_mults) == 16
    net = model.perceptual_loss.backbone
    assert net.arch == 'b' and net.patch_size == 16 and net.window_size == 0
    assert tuple(net.out_indices) == (2, 5, 8, 11)  # blocks 3, 6, 9, 12


# ------------------------------------------------------------------------ perceptual loss
@pytest.fixture(scope='module')
def random_vit_file(tmp_path_factory):
    """A tiny ViT checkpoint (mmpretrain layout) in the tiny config's feature-network shape."""
    import mim_det.downstream  # noqa: F401
    net_cfg = _cfg(TINY).model.perceptual_loss.backbone
    cfg = {k: v for k, v in net_cfg.items() if k != 'init_cfg'}
    torch.manual_seed(0)
    vit = build_in_scope(cfg)
    vit.init_weights()
    path = str(tmp_path_factory.mktemp('vit') / 'vit.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in vit.state_dict().items()}}, path)
    return path


def _perceptual(path):
    cfg = _cfg(TINY).model.perceptual_loss
    cfg.backbone.init_cfg.checkpoint = path
    loss = build_in_scope(cfg)
    loss.init_weights()
    return loss


def test_perceptual_loss_is_zero_for_identical_images_and_grows_with_blur(random_vit_file):
    loss = _perceptual(random_vit_file)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 96, 96)
    assert loss(x, x.clone()).item() == 0.0

    def blur(img, k):
        return F.avg_pool2d(F.pad(img, [k // 2] * 4, mode='reflect'), k, stride=1)

    mild, strong = loss(x, blur(x, 3)).item(), loss(x, blur(x, 7)).item()
    assert 0 < mild < strong


def test_perceptual_network_is_frozen_and_gradients_reach_the_reconstruction(random_vit_file):
    loss = _perceptual(random_vit_file)
    loss.train()
    assert not loss.network.training  # stays in eval mode
    x = torch.randn(1, 3, 96, 96)
    x_hat = torch.randn(1, 3, 96, 96, requires_grad=True)
    loss(x, x_hat).backward()
    assert x_hat.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.network.parameters())


def test_perceptual_network_without_a_checkpoint_is_refused():
    cfg = _cfg(TINY).model.perceptual_loss
    cfg.backbone.pop('init_cfg')
    with pytest.raises(ValueError, match='no init_cfg'):
        build_in_scope(cfg)


# ------------------------------------------------------------------------- tiny training
def _rows(work):
    return [r for r in logged_scalars(str(work)) if 'loss' in r]


def test_tiny_training_lowers_the_loss_and_uses_many_codes(tmp_path, small_data,
                                                           random_vit_file):
    ckpt = train_tiny_tokenizer(tmp_path / 'perceptual', small_data,
                                '--perceptual-checkpoint', random_vit_file)
    rows = _rows(tmp_path / 'perceptual')
    assert rows[-1]['iter'] == TOKENIZER_ITERS and osp.isfile(ckpt)
    first, last = rows[0], rows[-1]
    assert 'loss_perceptual' in last
    assert last['loss'] < 0.9 * first['loss'], (first, last)
    # more than a handful of the 512 codes: the restarts keep the codebook in use
    assert any(r['dead_codes'] > 0 for r in rows), rows
    assert last['codes_used'] > 32 and last['perplexity'] > 16, last


def test_no_perceptual_switch_trains_the_plain_vq_vae(plain_tokenizer):
    rows = _rows(plain_tokenizer['work'])
    assert rows and all('loss_perceptual' not in r for r in rows)
    assert rows[-1]['loss_pixel'] < rows[0]['loss_pixel']
    assert rows[-1]['codes_used'] > 32, rows[-1]


def test_tokenizer_reconstruction_grid(plain_tokenizer, small_data, tmp_path):
    import glob

    import cv2
    images = sorted(glob.glob(f'{small_data}/pretrain/train/images/*.jpg'))[:2]
    result = run_tool([sys.executable, 'tools/visualize_reconstruction.py', TINY,
                       plain_tokenizer['ckpt'], *images, '--out-dir', str(tmp_path),
                       '--panel-size', '96'])
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'distinct codes of 512' in result.stdout
    grids = sorted(tmp_path.glob('*_tokens.png'))
    assert len(grids) == 2
    grid = cv2.imread(str(grids[0]))
    assert grid.shape == (96, 3 * 96 + 2 * 4, 3)  # original | reconstruction | tokens


def _restart_on_two_ranks(rank, port, out):
    import torch.distributed as dist
    from mim_det.models.target_generators import VectorQuantizer
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    torch.manual_seed(0)
    q = VectorQuantizer(6, 3, restart_after=1).train()
    with torch.no_grad():
        q.codebook.weight[5] = 100.0  # never picked: dead after one step
    torch.manual_seed(10 + rank)  # each rank sees other data and draws other restarts
    q(torch.randn(2, 3, 2, 2))
    torch.save(dict(codebook=q.codebook.weight.detach(), unused=q.steps_unused), f'{out}{rank}')
    dist.destroy_process_group()


def test_dead_code_restarts_keep_the_ranks_codebooks_identical(tmp_path):
    """Usage counts are summed over ranks and rank 0's restart vectors are broadcast: two
    gloo processes with different batches end with the same codebook."""
    import torch.multiprocessing as mp
    from conftest import free_port
    out = str(tmp_path / 'rank')
    mp.spawn(_restart_on_two_ranks, args=(free_port(), out), nprocs=2)
    r0, r1 = (torch.load(f'{out}{r}') for r in (0, 1))
    assert torch.equal(r0['codebook'], r1['codebook'])
    assert torch.equal(r0['unused'], r1['unused'])
    assert r0['codebook'][5].abs().max() < 10  # the dead code was moved
