"""Configs from the command line: `load_config('configs/glue.py:ARG')`, `parse_arg` (the text after ':',
big_vision style) and `apply_overrides` (`--config.x=v`), all typed by `parse_value`.
"""

import ast
import importlib.util
import os

import ml_collections

_PREFIX = '--config.'


def load_config(path_with_arg: str) -> ml_collections.ConfigDict:
  """The config `--config=PATH[:ARG]` gives: 'configs/glue.py:sst2,k=16' -> get_config('sst2,k=16')."""
  path, sep, arg = path_with_arg.partition(':')
  if not os.path.exists(path):
    raise FileNotFoundError(f'No config file {path!r}.')
  name = '_config_' + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if sep else module.get_config()


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
  """Sets each '--config.train.learning_rate=3e-4' in `config` (in place), typed as the current value."""
  for override in overrides:
    if not override.startswith(_PREFIX) or '=' not in override:
      raise ValueError(f'Override {override!r}: expected {_PREFIX}FIELD=VALUE.')
    key, value = override[len(_PREFIX):].split('=', 1)
    *parents, field = key.split('.')
    node = config
    for parent in parents:
      node = node.get(parent) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(node, ml_collections.ConfigDict) or field not in node:
      raise KeyError(f'{override}: the config has no field {key!r}.')
    node[field] = parse_value(value, node[field], key)
  return config


def parse_arg(arg: str | None, lazy: bool = False, **defaults) -> dict:
  """'rte,method=houlsby,k=16,runlocal' -> {'task': 'rte', 'method': 'houlsby', 'k': 16, 'runlocal': True, ...}.

  A bare first value sets the first default's key; other bare names mean True. Values take the
  type of their default (or a Python literal when there is none, unless `lazy`); unknown keys fail.
  """
  result = dict(defaults)
  first_key = next(iter(defaults), None)
  for i, part in enumerate(p.strip() for p in (arg or '').split(',') if p.strip()):
    if '=' in part:
      key, value = (s.strip() for s in part.split('=', 1))
    elif i == 0 and first_key is not None and not isinstance(defaults[first_key], bool):
      key, value = first_key, part
    else:
      key, value = part, 'True'
    if key not in defaults and not lazy:
      raise ValueError(f'Unknown config argument {key!r} in {arg!r}; known: {sorted(defaults)}.')
    result[key] = parse_value(value, defaults.get(key), key)
  return result


def parse_value(value: str, default, key: str):
  """`value` typed as `default`: strict bools (true/false/1/0), int, float, str; else a Python literal or str."""
  if isinstance(default, bool):
    if value.lower() not in ('true', 'false', '1', '0'):
      raise ValueError(f'Config argument {key}={value!r} must be true or false.')
    return value.lower() in ('true', '1')
  if isinstance(default, (int, float)):
    try:
      return type(default)(value)
    except ValueError:
      raise ValueError(f'Config argument {key}={value!r} must be a {type(default).__name__}.') from None
  if isinstance(default, str):
    return value
  try:
    return ast.literal_eval(value)
  except (ValueError, SyntaxError):
    return value
