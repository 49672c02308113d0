"""Every exception class platonic defines derives from PlatonicError (one thing to catch)."""

import importlib
import inspect
import pkgutil

import platonic
from platonic.errors import PlatonicError


def _modules():
    for info in pkgutil.walk_packages(platonic.__path__, prefix="platonic."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def test_every_platonic_exception_derives_from_platonic_error():
    offenders = []
    seen = 0
    for module in _modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Exception) or issubclass(cls, Warning):
                continue
            seen += 1
            if not issubclass(cls, PlatonicError):
                offenders.append(f"{cls.__module__}.{cls.__qualname__}")
    assert seen >= 20
    assert offenders == []
