"""The ``leadscore`` command line: the top floor, above ``training/`` and ``serving/``.

Floors: ``scoring/`` is the ground (data contract, features, model, registry access);
``training/`` and ``serving/`` stand on it side by side and never import each other; this
package stands on all three and composes them into commands (``leadscore train`` trains,
``leadscore serve`` serves, ``leadscore rescore`` scores the store with the champion).

:mod:`cli.app` assembles the ``leadscore`` application from one module per command
group; importing any of them does no work (heavy imports happen inside the commands).
"""
