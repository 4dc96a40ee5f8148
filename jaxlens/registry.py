"""Parts chosen by name from config: one small registry per kind (encoders, towers, losses...).

A part owns its config: its keys and defaults live in a namespace of their own
(`config.model.grcn.layers`), declared beside its code in its `Part` registration, with the
check that validates them. `jaxlens.default_config` collects every registered part's namespace,
so adding a part is one file plus one registry line, and no central file names it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, Mapping, TypeVar

from jaxlens.errors import JaxlensError


@dataclasses.dataclass(frozen=True)
class Part:
  """What every registered part declares about its config.

  - `config`: its own keys and their defaults, found under `<section>.<namespace>` of the run's
    config (the namespace is the part's name unless `namespace` says otherwise: two item towers
    reading one feature table share `model.features`).
  - `check(config)`: raises `JaxlensError` for values the part cannot build with; called before
    any data is read, only for the parts the config uses.
  - `renamed`: flat keys of older configs (`model.num_blocks`) -> the key of this namespace
    that replaced them, so that an old key is a one-line error naming the new one.
  - `resumable`: keys of the namespace a resumed run may change (where files are, not what is
    trained).
  """

  name: str
  config: Mapping[str, Any] = dataclasses.field(default_factory=dict, kw_only=True)
  namespace: str = dataclasses.field(default='', kw_only=True)
  check: Callable[[Any], None] | None = dataclasses.field(default=None, kw_only=True)
  renamed: Mapping[str, str] = dataclasses.field(default_factory=dict, kw_only=True)
  resumable: tuple[str, ...] = dataclasses.field(default=(), kw_only=True)

  @property
  def config_namespace(self) -> str:
    return self.namespace or self.name


SpecT = TypeVar('SpecT', bound=Part)


class Registry(Generic[SpecT]):
  """Specs by name; an unknown name is a `JaxlensError` listing the known ones.

  `section` is the config section that holds the parts' namespaces ('model', 'loss', 'eval').
  """

  def __init__(self, kind: str, config_key: str, section: str = ''):
    self.kind = kind
    self.config_key = config_key
    self.section = section
    self._specs: dict[str, SpecT] = {}

  def register(self, spec: SpecT) -> SpecT:
    if spec.name in self._specs:
      raise ValueError(f'{self.kind} {spec.name!r} registered twice')
    self._specs[spec.name] = spec
    return spec

  def unregister(self, name: str) -> None:
    """For parts defined by a test or a notebook that are done with."""
    del self._specs[name]

  def get(self, name: str) -> SpecT:
    if name not in self._specs:
      raise JaxlensError(f'unknown {self.kind} {name!r} ({self.config_key}); known: '
                         f'{", ".join(self.names())}')
    return self._specs[name]

  def names(self) -> list[str]:
    return sorted(self._specs)

  def specs(self) -> list[SpecT]:
    return [self._specs[name] for name in self.names()]
