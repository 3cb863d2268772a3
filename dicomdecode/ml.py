"""Stable import path: `dicomdecode.ml` is :mod:`dicomdecode.apps.ml` (same module object)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("dicomdecode.apps.ml")
