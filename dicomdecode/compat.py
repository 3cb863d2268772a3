"""Stable import path: `dicomdecode.compat` is :mod:`dicomdecode.apps.compat` (same module object)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("dicomdecode.apps.compat")
