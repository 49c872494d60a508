"""Repository tools that run before any virtual environment exists (stdlib only)."""
