"""Print jaxnn's direct dependencies (the base ones and the ``test`` extra): declared floor
and installed version. ``lowest``: exit 1 unless every one is installed at exactly its floor
(so the lowest-versions job really tests the floors pyproject.toml declares)."""

import sys
from importlib.metadata import requires, version

from packaging.requirements import Requirement
from packaging.version import Version

mode = sys.argv[1] if len(sys.argv) > 1 else "newest"
off_floor = []
for line in requires("jaxnn"):
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
        continue  # another extra (lint, bench, cuda12), or another platform
    floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
    installed = Version(version(req.name))
    floor = max(floors) if floors else None
    note = ""
    if mode == "lowest" and floor is not None and installed != floor:
        note = "  <- not at the declared floor"
        off_floor.append(req.name)
    print(f"{req.name:<22} floor {floor!s:<10} installed {installed}{note}")
if off_floor:
    print(f"lowest: {', '.join(off_floor)} not installed at the declared floor", file=sys.stderr)
    sys.exit(1)
