"""Stable import path: `dicomdecode.monai` is :mod:`dicomdecode.apps.monai` (same module object)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("dicomdecode.apps.monai")
