"""Built-in converter edges. Each module registers itself with ``@converter``; bridge loads them
through the ``bridge.converters`` entry-point group declared in pyproject.toml."""
