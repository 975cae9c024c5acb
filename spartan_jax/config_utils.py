"""`parse_arg`: the text after ':' in `--config=configs/glue.py:ARG`, typed (big_vision style)."""

import ast


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
    result[key] = _typed(value, defaults.get(key), key)
  return result


def _typed(value: str, default, key: str):
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
