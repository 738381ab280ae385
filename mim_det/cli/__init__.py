"""The command-line layer: config checks, the environment self-check, runner set-up and the
wrapper that prints known errors as one line (tools only; model code never imports this)."""
from .cli import CLIError, parse_named_values, run_cli
from .errors import UserError
from .config_checks import (ConfigCheckError, check_cfg_options, check_checkpoint_paths,
                            check_data_paths, describe_registry_error)
from .env_check import EnvCheckError, run_self_check

__all__ = ['CLIError', 'run_cli', 'ConfigCheckError', 'check_cfg_options',
           'check_checkpoint_paths', 'check_data_paths', 'describe_registry_error',
           'EnvCheckError', 'run_self_check', 'UserError']
