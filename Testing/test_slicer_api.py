"""API conformance of the Slicer modules, checked against Slicer's, CTK's and Qt's own sources.

``Testing/slicer_api/slicer_api.json`` was extracted from the headers and Python sources of Slicer
v5.8.1, v5.10.0, v5.12.3 and main (CTK at the commit each pins, Qt 5.15 / 6 headers, SlicerPyTorch)
by ``Testing/slicer_api/extract.py``; ``Testing/slicer_api/usage.py`` lists what the modules, the
``.ui`` files and the Slicer library use.  Every use must exist in every supported Slicer version
(a use guarded by ``hasattr`` or by a ``try`` that catches ``TypeError`` / ``AttributeError`` /
``ImportError`` in at least one):

* each ``connect("signal(...)")`` and ``.ui`` connection names a real signal (PythonQt only prints a
  warning for a wrong name, and the panel silently never reacts), each ``.ui`` slot a real slot;
* each ``.ui`` property is a ``Q_PROPERTY`` of the widget's class or a base class;
* each attribute used on a widget is a property, signal, slot or invokable (or, for Qt and VTK
  classes, which PythonQt / VTK wrap whole, a public method);
* each ``slicer.util`` / ``SampleData`` / ``slicer.packaging`` / ``PyTorchUtilsLogic`` call exists
  with the keyword arguments given, and a result used as a sequence comes from a function that
  returns a list (``SampleData.downloadSample`` returns only the first node);
* ``slicer.packaging`` is imported before use (``slicer/__init__.py`` does not import it).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

from slicer_api import usage

FIXTURE = Path(__file__).resolve().parent / "slicer_api" / "slicer_api.json"
API = json.loads(FIXTURE.read_text(encoding="utf-8"))
TAGS = API["slicer_tags"]
USES = usage.all_uses()


def _versions_ok(spec, versions: List[str]) -> bool:
    return spec == "*" or all(v in spec for v in versions)


def _cls_versions(cls: str, tag: str) -> List[str]:
    """The versions of a class's own sources that Slicer ``tag`` is built with."""
    return API["qt_for_tag"][tag] if API["classes"][cls]["kind"] == "qt" else [tag]


def _has(cls: str, kinds, predicate, tag: str, seen=None) -> bool:
    """True when ``cls`` or a base class (as built for ``tag``) has a member of one of ``kinds``
    that satisfies ``predicate``."""
    seen = seen or set()
    if cls in seen or cls not in API["classes"]:
        return False
    seen.add(cls)
    entry = API["classes"][cls]
    versions = _cls_versions(cls, tag)
    for kind in kinds:
        for member, spec in entry.get(kind, {}).items():
            if predicate(member) and _versions_ok(spec, versions):
                return True
    for base, spec in entry.get("bases", {}).items():
        if _versions_ok(spec, versions) and _has(base, kinds, predicate, tag, seen):
            return True
    return False


def _problems(uses) -> List[str]:
    """Every use that does not exist in some supported Slicer version, as one line each."""
    out = []
    for u in uses:
        if u.kind in ("signal", "slot", "property", "member"):
            if u.owner not in API["classes"]:
                out.append(f"{u.where}: class {u.owner} is not in the fixture (run extract.py)")
                continue
            if u.kind == "signal":
                kinds, pred = ("signals",), (lambda m, n=u.name: m == n)
            elif u.kind == "slot":
                kinds, pred = ("slots",), (lambda m, n=u.name: m == n)
            elif u.kind == "property":
                kinds, pred = ("properties",), (lambda m, n=u.name: m == n)
            else:
                kinds = ("properties", "signals", "slots", "invokables")
                if API["classes"][u.owner]["kind"] == "qt" or u.owner.startswith("vtk"):
                    kinds += ("methods",)
                pred = (lambda m, n=u.name: m == n or m.split("(")[0] == n)
            missing = [t for t in TAGS if not _has(u.owner, kinds, pred, t)]
            if missing:
                out.append(f"{u.where}: {u.owner} has no {u.kind} {u.name} in Slicer {missing}")
        elif u.kind in ("function", "name"):
            mod = API["python"].get(u.owner)
            key = f"{u.method_of}.{u.name}" if u.method_of else u.name
            groups = (mod or {}).get("names", {}).get(key)
            if not groups:
                out.append(f"{u.where}: {u.owner}.{key} is not in the fixture (run extract.py)")
                continue
            module_tags = TAGS if mod["module_in"] == "*" else mod["module_in"]
            have = {t: g for g in groups for t in (TAGS if g["tags"] == "*" else g["tags"])}
            missing = [t for t in module_tags if t not in have]
            if missing and not u.guarded:
                out.append(f"{u.where}: {u.owner}.{key} does not exist in Slicer {missing} "
                           f"(guard it with hasattr / try)")
            for t, g in have.items():
                if "params" not in g:
                    continue
                bad = [k for k in u.keywords if k not in g["params"] and not g["varkw"]]
                accepted_somewhere = any(
                    "params" in h and all(k in h["params"] or h["varkw"] for k in u.keywords)
                    for h in groups)
                if bad and not (u.guarded and accepted_somewhere):
                    out.append(f"{u.where}: {u.owner}.{key} has no keyword {bad} in Slicer {t}")
                if u.npos > len(g["params"]) and not g["varargs"]:
                    out.append(f"{u.where}: {u.owner}.{key} takes at most {len(g['params'])} "
                               f"positional arguments in Slicer {t}")
                if u.as_sequence and ("first item" in g["returns"] or "list" not in g["returns"]):
                    out.append(f"{u.where}: the result of {u.owner}.{key} is used as a list, but "
                               f"in Slicer {t} it returns {g['returns']}")
        elif u.kind == "packaging-access" and not u.guarded:
            out.append(f"{u.where}: {u.name}: slicer.packaging is used without "
                       f"'import slicer.packaging' first (slicer/__init__.py does not import it)")
    return out


def test_fixture_covers_every_class_and_function_the_modules_use():
    missing_classes = [c for c in usage.used_classes(USES)
                       if c not in API["classes"] or not API["classes"][c]["found_in"]]
    assert not missing_classes, f"not extracted (run Testing/slicer_api/extract.py): " \
                                f"{missing_classes}"
    missing = [f"{m}.{n}" for m, names in usage.used_functions(USES).items()
               for n in names if n not in API["python"].get(m, {}).get("names", {})]
    assert not missing, f"not extracted (run Testing/slicer_api/extract.py): {missing}"
    assert set(TAGS) == {"v5.8.1", "v5.10.0", "v5.12.3", "main"}


@pytest.mark.parametrize("kind", ["signal", "slot", "property", "member"])
def test_qt_uses_exist_in_every_supported_slicer(kind):
    uses = [u for u in USES if u.kind == kind]
    if kind != "slot":
        assert uses, f"the collector found no {kind} use: it is broken"
    problems = _problems(uses)
    assert not problems, "\n".join(problems)


def test_python_calls_match_slicer_signatures():
    uses = [u for u in USES if u.kind in ("function", "name")]
    assert len(uses) > 20
    problems = _problems(uses)
    assert not problems, "\n".join(problems)


def test_slicer_packaging_is_imported_before_use():
    assert all("packaging" not in API["slicer_init_imports"][t] for t in TAGS)
    problems = _problems([u for u in USES if u.kind == "packaging-access"])
    assert not problems, "\n".join(problems)


def test_the_checker_rejects_wrong_names():
    """The checks fail on what Slicer does not have (so a passing run means something)."""
    bad = [
        usage.Use("signal", "qMRMLSegmentSelectorWidget", "selectedSegmentIDsChanged(QStringList)",
                  "planted"),
        usage.Use("property", "qMRMLNodeComboBox", "noSuchProperty", "planted"),
        usage.Use("member", "QProgressBar", "setMaximumValue", "planted"),
        usage.Use("function", "slicer.util", "launchConsoleProcess", "planted",
                  keywords=("blocking",)),  # 5.12+ only, not guarded
        usage.Use("function", "SampleData", "downloadSample", "planted", as_sequence=True),
        usage.Use("function", "SampleData", "registerCustomSampleDataCategory", "planted",
                  method_of="SampleDataLogic"),  # 5.12+ only
        usage.Use("packaging-access", "slicer.packaging", "getattr(slicer)", "planted"),
    ]
    for u in bad:
        problems = _problems([u])
        assert problems and "not in the fixture" not in problems[0], (u, problems)
    ok = [usage.Use("signal", "qMRMLSegmentSelectorWidget", "segmentSelectionChanged(QStringList)",
                    "planted"),
          usage.Use("signal", "QPushButton", "clicked(bool)", "planted"),
          usage.Use("property", "qMRMLSegmentSelectorWidget", "enabled", "planted"),
          usage.Use("function", "SampleData", "registerCustomSampleDataCategory", "planted",
                    method_of="SampleDataLogic", guarded=True)]
    assert _problems(ok) == []
