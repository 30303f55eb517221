"""Install the core library's Python dependencies into Slicer's Python on first use.

Nothing is installed at import or at startup.  A module calls :func:`ensure_requirements` from the
button handler that needs the packages (inside ``slicer.util.tryWithErrorDisplay``):

* Slicer >= 5.12: ``slicer.packaging.pip_ensure(load_requirements(file), requester=...)`` checks
  the requirements, asks the user, shows progress and suggests a restart when an already imported
  package was updated; it skips installing in testing mode.
* older Slicer: the missing requirements are listed, the user confirms
  (``slicer.util.confirmOkCancelDisplay``) and ``slicer.util.pip_install`` installs them.

PyTorch is never pip-installed here: :func:`ensure_torch` uses the SlicerPyTorch extension
(``PyTorchUtils``, declared in ``EXTENSION_DEPENDS``), which picks the CUDA / CPU build matching the
machine.
"""
from __future__ import annotations

import re
from typing import List, Optional

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def read_requirements(path: str) -> List[str]:
    """Requirement lines of a requirements.txt (comments and blank lines dropped)."""
    out = []
    with open(path) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def missing_requirements(requirements: List[str]) -> List[str]:
    """The requirements whose distribution is absent or whose version does not satisfy them."""
    from importlib import metadata

    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging ships with pip
        Requirement = None
    missing = []
    for req in requirements:
        if Requirement is not None:
            r = Requirement(req)
            try:
                have = metadata.version(r.name)
            except metadata.PackageNotFoundError:
                missing.append(req)
                continue
            if r.specifier and not r.specifier.contains(have, prereleases=True):
                missing.append(req)
        else:
            m = _NAME_RE.match(req)
            try:
                metadata.version(m.group(1) if m else req)
            except metadata.PackageNotFoundError:
                missing.append(req)
    return missing


def ensure_requirements(requirements_path: str, requester: str) -> bool:
    """Make sure the requirements of a module are installed; True when they are.

    Returns False when the user declined.  Raises on installation failure.
    """
    import slicer

    packaging = getattr(slicer, "packaging", None)
    if packaging is not None and hasattr(packaging, "pip_ensure"):
        reqs = packaging.load_requirements(requirements_path)
        result = packaging.pip_ensure(reqs, requester=requester)
        return result is not False
    missing = missing_requirements(read_requirements(requirements_path))
    if not missing:
        return True
    if not slicer.util.confirmOkCancelDisplay(
            f"{requester} needs these Python packages, which are not installed yet:\n\n"
            + "\n".join(missing) + "\n\nInstall them now? This can take a few minutes.",
            windowTitle=f"{requester}: install Python packages"):
        return False
    with slicer.util.WaitCursor():
        slicer.util.pip_install(missing)
    return True


def ensure_torch(minimum: str = ">=2.0", ask: bool = True) -> Optional[object]:
    """Import torch, installing it through SlicerPyTorch's ``PyTorchUtils`` if needed."""
    try:
        import torch

        return torch
    except ImportError:
        pass
    try:
        import PyTorchUtils
    except ImportError as exc:
        raise RuntimeError("PyTorch is needed for this step. Install the 'PyTorch' extension from "
                           "the Extensions Manager (PanCancerSubtype declares it as a dependency) "
                           "and restart Slicer.") from exc
    logic = PyTorchUtils.PyTorchUtilsLogic()
    if not logic.torchInstalled():
        torch = logic.installTorch(askConfirmation=ask, torchVersionRequirement=minimum)
        if torch is None:
            raise RuntimeError("PyTorch was not installed: this step cannot run without it")
        return torch
    import torch

    return torch
