"""Op handler families, one module each (``elementwise``, ``conv``, ``pool``, ...).

Importing this package imports every family module in it, which registers their handlers; modules whose
names start with ``_`` hold shared helpers and register nothing.
"""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
