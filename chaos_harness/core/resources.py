"""Where the harness's own files are: the manifests (the MySQL example, RBAC, kind configurations) and the
image build files. They ship inside the package (chaos_harness/_data), so an installed harness (`pip install .`,
not editable) finds them as a checkout does; in a checkout chaos_harness/_data links to the top-level folders."""

from __future__ import annotations

from pathlib import Path

# Resolved, so that in a checkout paths (and the image hashes made from them) are the top-level folders'.
_DATA = Path(__file__).resolve().parents[1] / "_data"
MANIFESTS = (_DATA / "manifests").resolve()
IMAGES = (_DATA / "images").resolve()
