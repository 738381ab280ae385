"""Self-check of the installed stack: mmcv ops (RoIAlign, nms on CPU), toolbox imports, versions.

    python tools/check_env.py

Exit status 0 when everything works; otherwise one line naming the failed step and the fix.
"""
import sys

import _bootstrap  # noqa: F401


def main() -> int:
    try:
        from mim_det.cli.env_check import EnvCheckError, run_self_check
    except Exception as exc:  # mim_det itself (or mmengine below it) does not import
        print(f'check_env: error: step "import mim_det" failed: {type(exc).__name__}: {exc}; '
              'fix: run `bash tools/setup_env.sh`', file=sys.stderr)
        return 1
    print('mim_det self-check:')
    try:
        run_self_check(verbose=True)
    except EnvCheckError as exc:
        print(f'check_env: error: {exc}', file=sys.stderr)
        return 1
    print('self-check passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
