"""Stable import path: `dicomdecode.index` is :mod:`dicomdecode.apps.index` (same module object)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("dicomdecode.apps.index")
