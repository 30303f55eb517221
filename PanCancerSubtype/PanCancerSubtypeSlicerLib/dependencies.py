"""The extension's one dependency plan: what is installed into Slicer's Python, in which order, how.

Nothing is installed at import or at startup: a button handler calls :func:`ensure` (inside
``slicer.util.tryWithErrorDisplay``), the batch script :func:`missing` / :func:`install`.

1. ``requirements.txt`` -- one set for all three modules, installed together, so no module
   installs a package another replaces (one at a time, pandas 3 for one module and then lifelines,
   which needs pandas < 3, downgraded a pandas the running Slicer had imported).
2. ``requirements-torch.txt`` (monai, safetensors) -- only for the U-Net and the autoencoder, and
   only after torch came from the PyTorch extension (``PyTorchUtils`` picks the CUDA / CPU build);
   installed first, monai would pull PyPI's default torch, which on Linux is the CUDA build.
3. ``requirements-radiomics.txt`` -- only when PyRadiomics is ticked: from pip where a binary
   wheel exists (Python <= 3.9, Slicer 5.8), else from the SlicerRadiomics extension.

Every ``pip install`` gets a constraints file (:func:`constraints_lines`): binary wheels only
(no compiler; :data:`PURE_PYTHON_SDISTS` excepted), the packages Slicer ships
(:data:`SLICER_SHIPPED`) pinned to their installed versions, torch pinned when installed and
excluded otherwise, and ``xgboost`` (which pulls ``nvidia-nccl``) excluded where ``xgboost-cpu``
exists.  ``Testing/test_slicer_dependencies.py`` resolves the whole plan with pip for each
supported Slicer (Python version and shipped packages read from Slicer's sources).

Slicer >= 5.12 installs through ``slicer.packaging.pip_ensure`` (confirmation, progress, restart
prompt); it is a submodule that ``slicer/__init__.py`` does not import, so it is imported here.
Older Slicer: ``slicer.util.confirmOkCancelDisplay`` + ``slicer.util.pip_install``.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = {
    "base": os.path.join(HERE, "requirements.txt"),
    "torch": os.path.join(HERE, "requirements-torch.txt"),
    "radiomics": os.path.join(HERE, "requirements-radiomics.txt"),
}

#: distributions Slicer itself installs (SuperBuild/External_python-*.cmake of 5.8 to main, and
#: SimpleITK / VTK built by Slicer): pinned to the installed version, never replaced by pip
SLICER_SHIPPED = (
    "numpy", "scipy", "simpleitk", "vtk", "pydicom", "pillow", "packaging", "pyparsing", "six",
    "requests", "urllib3", "certifi", "idna", "charset-normalizer", "chardet",
    "typing-extensions", "python-dateutil", "retrying", "dicomweb-client", "highdicom",
    "pyjpegls", "dcmqi", "wrapt", "deprecated", "gitpython", "gitdb", "smmap", "pygithub",
    "pynacl", "pyjwt", "cryptography", "cffi", "pycparser", "couchdb", "pip", "setuptools",
    "wheel",
)

#: never installed from PyPI by this plan unless already present: torch comes from the PyTorch
#: extension; xgboost (not -cpu) pulls nvidia-nccl on Linux / Windows
EXCLUDED = {
    "torch": None, "torchvision": None,
    "xgboost": 'sys_platform != "darwin"',
    "nvidia-nccl-cu12": None, "nvidia-nccl-cu13": None,
}

#: packages on PyPI only as source, pure Python (no compiler): autograd-gamma (lifelines),
#: docopt (pykwalify, PyRadiomics); the resolution test builds each and checks its wheel is
#: ``py3-none-any``
PURE_PYTHON_SDISTS = ("autograd-gamma", "docopt")


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def read_requirements(path: str) -> List[str]:
    """Requirement lines of a requirements.txt (comments, blank lines and options dropped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                out.append(line)
    return out


def requirements(purpose: str = "base") -> List[str]:
    return read_requirements(REQUIREMENTS[purpose])


def missing_requirements(reqs: Sequence[str]) -> List[str]:
    """The requirements (whose markers apply here) that no installed distribution satisfies."""
    from importlib import metadata

    from packaging.requirements import Requirement

    missing = []
    for req in reqs:
        r = Requirement(req)
        if r.marker is not None and not r.marker.evaluate():
            continue
        try:
            have = metadata.version(r.name)
        except metadata.PackageNotFoundError:
            missing.append(req)
            continue
        if r.specifier and not r.specifier.contains(have, prereleases=True):
            missing.append(req)
    return missing


def installed_versions(names: Sequence[str] = SLICER_SHIPPED + ("torch", "torchvision")
                       ) -> Dict[str, str]:
    """``{canonical name: version}`` of those distributions that are installed."""
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[canonical(n)] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def constraints_lines(installed: Mapping[str, str], pip_options: bool = True) -> List[str]:
    """The constraints every install of the plan uses.

    ``installed``: ``{name: version}`` of what is in Slicer's Python (:func:`installed_versions`;
    the tests pass the packages a Slicer release ships).  Pinned: each of them that Slicer ships,
    and torch / torchvision when present.  Excluded (``name<0``, no version satisfies it):
    :data:`EXCLUDED` otherwise.  ``pip_options``: also ``--only-binary=:all:`` and a
    ``--no-binary`` for each pure-Python source package.
    """
    lines = []
    if pip_options:
        lines.append("--only-binary=:all:")
        lines += [f"--no-binary={n}" for n in PURE_PYTHON_SDISTS]
    have = {canonical(k): v for k, v in installed.items()}
    for name in SLICER_SHIPPED + ("torch", "torchvision"):
        if name in have:
            lines.append(f"{name}=={have[name]}")
    for name, marker in EXCLUDED.items():
        if name not in have:
            lines.append(f"{name}<0" + (f"; {marker}" if marker else ""))
    return lines


def write_constraints(installed: Optional[Mapping[str, str]] = None) -> str:
    """A temporary constraints file for pip (delete it after use)."""
    fd, path = tempfile.mkstemp(prefix="PanCancerSubtype-constraints-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(constraints_lines(installed_versions() if installed is None
                                             else installed)) + "\n")
    return path


def packaging_module():
    """``slicer.packaging`` (Slicer >= 5.12) or None.

    It is a submodule that ``slicer/__init__.py`` does not import: ``getattr(slicer,
    "packaging")`` is None until something imports it, so it is imported here.
    """
    try:
        import slicer.packaging as slicer_packaging
    except ImportError:
        return None
    return slicer_packaging if hasattr(slicer_packaging, "pip_ensure") else None


def _app_running() -> bool:
    try:
        import slicer
    except ImportError:
        return False
    return getattr(slicer, "app", None) is not None


def missing(purposes: Sequence[str] = ("base",)) -> List[str]:
    """The requirements of ``purposes`` not installed yet (radiomics: importable or not)."""
    out: List[str] = []
    for p in purposes:
        if p == "radiomics":
            if radiomics_route() != "installed":
                out += requirements("radiomics")
        else:
            out += missing_requirements(requirements(p))
    return out


def _declined(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and "declined" in str(exc).lower()


def install(reqs: Sequence[str], requester: str, prompt: bool = True,
            progress: bool = True) -> bool:
    """Install ``reqs`` with the plan's constraints; True when they are installed afterwards,
    False when the user declined.  Raises ``DependencyError`` when pip fails (or when Slicer's
    testing mode skipped the install)."""
    from PanCancerSubtypeLib.errors import DependencyError

    reqs = list(reqs)
    if not reqs:
        return True
    cpath = write_constraints()
    try:
        if not _app_running():  # PythonSlicer, plain Python, batch runs outside the application
            subprocess.run([sys.executable, "-m", "pip", "install", "-c", cpath] + reqs,
                           check=True)
        else:
            import slicer

            slicer_packaging = packaging_module()
            if slicer_packaging is not None:
                try:
                    slicer_packaging.pip_ensure(reqs, constraints=cpath, requester=requester,
                                                prompt_install=prompt, show_progress=progress)
                except RuntimeError as exc:
                    if _declined(exc):
                        return False
                    raise DependencyError(f"{requester}: installing {', '.join(reqs)} failed: "
                                          f"{exc}") from exc
            else:
                if prompt and not slicer.util.confirmOkCancelDisplay(
                        f"{requester} needs these Python packages, which are not installed yet:"
                        "\n\n" + "\n".join(reqs) + "\n\nInstall them now? This can take a few "
                        "minutes.", windowTitle=f"{requester}: install Python packages"):
                    return False
                with slicer.util.WaitCursor():
                    slicer.util.pip_install(["-c", cpath] + reqs)
    except subprocess.CalledProcessError as exc:
        raise DependencyError(f"{requester}: pip could not install {', '.join(reqs)} (exit code "
                              f"{exc.returncode}); pip's messages are in the Python console"
                              ) from exc
    finally:
        os.remove(cpath)
    importlib.invalidate_caches()
    still = missing_requirements(reqs)
    if still:
        raise DependencyError(f"{requester}: still missing after the install: {', '.join(still)}"
                              " (Slicer's testing mode skips installs)")
    return True


def ensure(purpose: str = "base", requester: str = "PanCancerSubtype", prompt: bool = True
           ) -> bool:
    """Make the packages of ``purpose`` ("base", "torch", "radiomics") importable.

    True when they are (installed now or before), False when the user declined; raises
    ``DependencyError`` with what to do when they cannot be installed.
    """
    if purpose == "radiomics":
        return ensure_radiomics(requester, prompt)
    if purpose == "torch":
        ensure_torch()
    return install(missing_requirements(requirements(purpose)), requester, prompt)


# ----------------------------------------------------------------------------------------------
# PyRadiomics and torch: from other extensions
# ----------------------------------------------------------------------------------------------

def radiomics_route(python_version=None) -> str:
    """"installed" (importable, e.g. from the SlicerRadiomics extension), "pip" (a binary wheel
    of pyradiomics exists for this Python: <= 3.9) or "extension" (SlicerRadiomics needed)."""
    if python_version is None:
        try:
            import radiomics  # noqa: F401

            return "installed"
        except ImportError:
            python_version = sys.version_info[:2]
    return "pip" if tuple(python_version) <= (3, 9) else "extension"


RADIOMICS_EXTENSION_MESSAGE = (
    "PyRadiomics has no binary build for Python {py} (Slicer 5.10 and later), and pip would have "
    "to compile it. Install the SlicerRadiomics extension from the Extensions Manager (it builds "
    "PyRadiomics for Slicer), restart Slicer and tick PyRadiomics again; the 313 cross-modality "
    "features need no PyRadiomics.")


def ensure_radiomics(requester: str = "PanCancerFeatures", prompt: bool = True) -> bool:
    from PanCancerSubtypeLib.errors import DependencyError

    route = radiomics_route()
    if route == "installed":
        return True
    if route == "pip":
        return install(missing_requirements(requirements("radiomics")), requester, prompt)
    raise DependencyError(RADIOMICS_EXTENSION_MESSAGE.format(
        py=".".join(map(str, sys.version_info[:2]))))


def radiomics_paths() -> List[str]:
    """Folders to put on a child process's PYTHONPATH so it imports the PyRadiomics this process
    imports (SlicerRadiomics installs it into the extension's own folder, which a bare
    ``PythonSlicer`` child does not search)."""
    try:
        import radiomics
    except ImportError:
        return []
    return [os.path.dirname(os.path.dirname(os.path.abspath(radiomics.__file__)))]


def ensure_torch(minimum: str = ">=2.0", ask: bool = True):
    """Import torch, installing it through SlicerPyTorch's ``PyTorchUtils`` if needed."""
    from PanCancerSubtypeLib.errors import DependencyError

    try:
        import torch

        return torch
    except ImportError:
        pass
    try:
        import PyTorchUtils
    except ImportError as exc:
        raise DependencyError("PyTorch is needed for this step. Install the 'PyTorch' extension "
                              "from the Extensions Manager (PanCancerSubtype declares it as a "
                              "dependency) and restart Slicer.") from exc
    logic = PyTorchUtils.PyTorchUtilsLogic()
    if not logic.torchInstalled():
        torch = logic.installTorch(askConfirmation=ask, torchVersionRequirement=minimum)
        if torch is None:
            raise DependencyError("PyTorch was not installed: this step cannot run without it")
        return torch
    import torch

    return torch
