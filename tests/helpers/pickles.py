"""Fake NVIDIA ``torch_utils`` / ``dnnlib`` modules, present in ``sys.modules`` only while official-layout
network pickles are written, so that the pickles name them exactly as NVIDIA's ``torch_utils.persistence``
does without any NVIDIA code."""
from __future__ import annotations

import contextlib
import sys
import types

FAKE_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
MODULE_SRC = "# stand-in for the text of training/networks.py that persistence embeds\nclass Generator: pass\n"


def _fake_reconstruct_persistent_obj(meta):  # the real one exec's meta['module_src']
    raise AssertionError("the loader must never call torch_utils.persistence")


_fake_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
_fake_reconstruct_persistent_obj.__name__ = _fake_reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"


class FakeEasyDict(dict):
    """Pickles as ``dnnlib.util.EasyDict`` (a dict subclass, like the real one)."""


FakeEasyDict.__module__ = "dnnlib.util"
FakeEasyDict.__name__ = FakeEasyDict.__qualname__ = "EasyDict"


@contextlib.contextmanager
def fake_nvidia_modules():
    assert not any(name in sys.modules for name in FAKE_MODULES)
    tu, pers = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    pers._reconstruct_persistent_obj = _fake_reconstruct_persistent_obj
    tu.persistence = pers
    dn, du = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    du.EasyDict = FakeEasyDict
    dn.util, dn.EasyDict = du, FakeEasyDict
    sys.modules.update({"torch_utils": tu, "torch_utils.persistence": pers, "dnnlib": dn, "dnnlib.util": du})
    try:
        yield
    finally:
        for name in FAKE_MODULES:
            sys.modules.pop(name, None)
