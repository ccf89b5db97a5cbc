"""Reproducible benchmarks. Each ``bench/<name>.py`` has a ``main()`` that prints a side-by-side
table against a baseline measured in the same run and returns its figures as a dict.

Run them all with ``python -m bench`` (``make bench``), or some of them by name:
``python -m bench runtime_import runtime_overhead``. Modules whose name starts with ``_`` are helpers.
"""
