"""Environment self-check, config checks and the CLI error wrapper."""
from .cli import CLIError, run_cli
from .config_checks import (ConfigCheckError, check_cfg_options, check_checkpoint_paths,
                            check_data_paths, describe_registry_error)
from .env_check import EnvCheckError, run_self_check

__all__ = ['CLIError', 'run_cli', 'ConfigCheckError', 'check_cfg_options',
           'check_checkpoint_paths', 'check_data_paths', 'describe_registry_error',
           'EnvCheckError', 'run_self_check']
