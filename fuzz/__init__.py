"""Deterministic mutation fuzzing of dicomdecode's public API.

Kept outside the ``dicomdecode`` package on purpose: the harness attacks the library the
way a user's hostile input would, through ``decode_file``, ``load`` and ``scan`` only, and
must never ship with it. ``fuzz.mutate`` makes the inputs, ``fuzz.run`` runs them in
sacrificial worker processes and classifies what happened, ``fuzz.worker`` is that worker.
"""
