"""``python -m cli``: the ``leadscore`` command without its installed script.

The server starts its promotion job this way (``serving.jobs``), as the simulation starts
its server.
"""

from cli.app import app

app()
