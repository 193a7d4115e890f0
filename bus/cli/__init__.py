"""The ``silian`` command line (:func:`bus.cli.main.main`). Each sub-command group lives in
a module of its own; ``python -m bus.cli`` runs it as the ``silian`` script does.

The package does not import :mod:`bus.cli.main` itself, so that ``python -m bus.cli.main``
runs it once, as ``__main__``.
"""
