"""Train a VQ visual tokenizer (PeCo's perceptual codebook, or the plain VQ-VAE baseline).

    python tools/train_tokenizer.py CONFIG [--no-perceptual] [--perceptual-checkpoint CKPT]
        [any tools/train.py argument: --work-dir, --resume, --cfg-options, --launcher ...]

``--no-perceptual`` drops the perceptual loss (``model.perceptual_loss=None``): the plain VQ-VAE
that PeCo compares against. ``--perceptual-checkpoint`` sets the frozen feature network's
checkpoint (any ViT the shared loader reads; its architecture and position handling are the
config's ``model.perceptual_loss.backbone``). The rest is ``tools/train.py``; the work dir
defaults to ``work_dirs/<config name>[_no-perceptual]``. The codebook usage (perplexity, distinct
codes per batch, dead codes restarted) is logged next to the losses.
"""
import argparse
import os.path as osp

import _bootstrap  # noqa: F401

from mim_det.cli import run_cli

PROG = 'train_tokenizer'


def split_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0],
                                     add_help=False)
    parser.add_argument('--no-perceptual', action='store_true',
                        help='train without the perceptual loss (the plain VQ-VAE baseline)')
    parser.add_argument('--perceptual-checkpoint',
                        help='checkpoint of the frozen ViT feature network')
    return parser.parse_known_args(argv)


def train_argv(args, rest) -> list:
    """tools/train.py's argument list for these tokenizer options."""
    options = []
    if args.no_perceptual:
        options.append('model.perceptual_loss=None')
    elif args.perceptual_checkpoint:
        options.append('model.perceptual_loss.backbone.init_cfg.checkpoint='
                       f'{args.perceptual_checkpoint}')
    argv = list(rest)
    configs = [a for a in argv if a.endswith('.py')]
    if '--work-dir' not in argv and configs and not any(a in ('-h', '--help') for a in argv):
        name = osp.splitext(osp.basename(configs[0]))[0]
        argv += ['--work-dir', osp.join('work_dirs', name + '_no-perceptual' * args.no_perceptual)]
    if options:
        argv += ['--cfg-options', *options]
    return argv


def main(argv=None):
    args, rest = split_args(argv)
    import train
    return train.main(train_argv(args, rest))


if __name__ == '__main__':
    run_cli(main, PROG)
