"""Parts chosen by name from config: one small registry per kind (encoders, towers, losses...)."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from jaxlens.errors import JaxlensError


class _Named(Protocol):
  name: str


SpecT = TypeVar('SpecT', bound=_Named)


class Registry(Generic[SpecT]):
  """Specs by name; an unknown name is a `JaxlensError` listing the known ones."""

  def __init__(self, kind: str, config_key: str):
    self.kind = kind
    self.config_key = config_key
    self._specs: dict[str, SpecT] = {}

  def register(self, spec: SpecT) -> SpecT:
    if spec.name in self._specs:
      raise ValueError(f'{self.kind} {spec.name!r} registered twice')
    self._specs[spec.name] = spec
    return spec

  def get(self, name: str) -> SpecT:
    if name not in self._specs:
      raise JaxlensError(f'unknown {self.kind} {name!r} ({self.config_key}); known: '
                         f'{", ".join(self.names())}')
    return self._specs[name]

  def names(self) -> list[str]:
    return sorted(self._specs)
