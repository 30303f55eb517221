"""Static checks of the Slicer extension files (no Slicer application needed).

* every Slicer-side Python file compiles with Python 3.9 syntax (Slicer's Python);
* every ``slicer.util.X`` and every MRML / Slicer VTK class (``vtkMRML...``, ``vtkSlicer...``,
  ``vtkSegment...``) named in the module files, in ``AddNewNodeByClass("...")``-style strings and
  in the ``.ui`` files' ``nodeTypes`` exists in the ``slicer-core`` wheel, and every CamelCase VTK
  method called exists on some VTK / MRML class; names that exist only in the full application
  (Qt, ``slicer.app``, ``slicer.modules``, ...) are in an explicit, documented allow-list;
* each module file has the four classes Slicer's base classes look up by name, a
  ``parameterNodeWrapper`` class whose fields match the ``.ui`` file's ``SlicerParameterName``
  properties, and only ``self.ui.<name>`` widgets that its ``.ui`` file defines;
* the CMake lists name only existing files; the top-level CMake has the ``EXTENSION_*`` fields; the
  extension-index JSON has only the schema's keys and its name matches ``project()``; icons are PNG;
* the core library never imports Slicer, VTK, Qt or the Slicer-side package.
"""
from __future__ import annotations

import ast
import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "PanCancerSubtype"
MODULES = ["PanCancerSegmentation", "PanCancerFeatures", "PanCancerSubtype"]
MODULE_FILES = [EXT / m / f"{m}.py" for m in MODULES]
SLICER_FILES = (MODULE_FILES + sorted((EXT / "PanCancerSubtypeSlicerLib").glob("*.py"))
                + [EXT / "PanCancerSubtype" / "SlicerScripts" / "run_cohort.py"])

#: Names used by the modules that exist only in the full Slicer application (not in slicer-core),
#: so this test cannot check them against a wheel.  Each was read from Slicer's sources / templates
#: (Utilities/Templates/Modules/Scripted/TemplateKey.py, Base/Python/slicer/*.py, SampleData.py,
#: SlicerPyTorch's PyTorchUtils.py) - see the README's testing section.
APP_ONLY_SLICER_ATTRS = {
    "app": "qSlicerApplication instance (slicer.app.connect, layoutManager, applicationLogic)",
    "mrmlScene": "the application's global scene",
    "modules": "loaded module objects (slicer.modules.tables / plots logic)",
    "packaging": "slicer.packaging.pip_ensure / load_requirements (Slicer >= 5.12)",
    "i18n": "slicer.i18n.tr / translate",
    "ScriptedLoadableModule": "ScriptedLoadableModule base classes",
    "parameterNodeWrapper": "parameterNodeWrapper, Choice, WithinRange",
}
#: attribute chains on app-only objects that are therefore unchecked
APP_ONLY_CHAINS = {
    "slicer.app.connect", "slicer.app.layoutManager", "slicer.app.applicationLogic",
    "slicer.modules.tables.logic", "slicer.modules.plots.logic",
    "slicer.packaging.pip_ensure", "slicer.packaging.load_requirements",
}
#: CamelCase attributes that are not VTK methods (Python classes of Slicer / extensions, enums)
NON_VTK_CAMELCASE = {
    "SampleDataLogic",            # SampleData module (full app)
    "PyTorchUtilsLogic",          # SlicerPyTorch extension
    "VTKObservationMixin",        # slicer.util (checked with the util names)
    "PackageNotFoundError",       # importlib.metadata
    "Requirement",                # packaging.requirements
    "KaplanMeierFitter",          # lifelines
    "ConsensusClustering",        # PanCancerSubtypeLib.consensus
    "Case", "FeatureSpec",        # PanCancerSubtypeLib
    "EmptyMaskError", "LabelNotFoundError", "UnreadableFileError", "ManifestError",
    "PanCancerSubtypeError",
    "QTimer",                     # qt
    "DataFrame", "Series",        # pandas
    # SimpleITK functions
    "ReadImage", "WriteImage", "GetArrayFromImage", "GetImageFromArray", "GetArrayViewFromImage",
    "Cast", "Resample", "Transform", "MinimumMaximumImageFilter", "BinaryDilate",
    "TransformIndexToPhysicalPoint", "TransformContinuousIndexToPhysicalPoint",
    "TransformPhysicalPointToIndex", "GetOrigin", "GetSpacing", "GetDirection", "GetSize",
    "SetOrigin", "SetSpacing", "SetDirection", "CopyInformation", "GetDimension",
    "GetNumberOfComponentsPerPixel", "GetPixelID", "GetMinimum", "Execute",
}


#: modules whose CamelCase attributes are not VTK methods
NON_VTK_MODULES = {"argparse", "pathlib", "subprocess", "psutil", "queue", "threading", "sitk",
                   "SimpleITK", "np", "pd", "metadata", "qt", "ctk", "SampleData", "PyTorchUtils"}


def _slicer():
    slicer = pytest.importorskip("slicer", reason="slicer-core wheel not installed: name checks "
                                                  "against real MRML skipped")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("the installed 'slicer' package is not slicer-core")
    return slicer


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))


def _chain(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


CLASS_RE = re.compile(r"^vtk(MRML|Slicer|Segment|Oriented|BinaryLabelmap|ClosedSurface)\w*$")


def _collect(paths):
    util_names, slicer_attrs, classes, methods = set(), set(), set(), set()
    for path in paths:
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "slicer.util":
                util_names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module == "slicer":
                for a in node.names:
                    (classes if a.name.startswith("vtk") else slicer_attrs).add(a.name)
            elif isinstance(node, ast.Attribute):
                ch = _chain(node)
                if ch.startswith("slicer.util.") and ch.count(".") >= 2:
                    util_names.add(ch.split(".")[2])
                elif ch.startswith("slicer.") and not ch.startswith("slicer.util"):
                    name = ch.split(".")[1]
                    (classes if name.startswith("vtk") else slicer_attrs).add(name)
                base = _chain(node.value)
                if (node.attr[:1].isupper() and not node.attr.isupper()
                        and base.split(".")[0] not in NON_VTK_MODULES and base != "slicer.util"):
                    methods.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if CLASS_RE.match(node.value):
                    classes.add(node.value)
    return util_names, slicer_attrs, classes, methods


@pytest.mark.parametrize("path", SLICER_FILES, ids=lambda p: p.name)
def test_python39_syntax(path):
    _tree(path)  # raises SyntaxError on 3.10+ syntax


@pytest.mark.slicer
def test_slicer_util_names_exist_in_slicer_core():
    slicer = _slicer()
    util_names, _, _, _ = _collect(SLICER_FILES)
    assert util_names, "no slicer.util names found: the collector is broken"
    missing = sorted(n for n in util_names if not hasattr(slicer.util, n))
    assert not missing, f"slicer.util has no {missing}"


@pytest.mark.slicer
def test_mrml_classes_exist_in_slicer_core():
    slicer = _slicer()
    _, slicer_attrs, classes, _ = _collect(SLICER_FILES)
    for ui in EXT.glob("*/Resources/UI/*.ui"):
        for el in ET.parse(ui).getroot().iter("property"):
            if el.get("name") == "nodeTypes":
                classes.update(s.text for s in el.iter("string"))
    assert {"vtkMRMLSegmentationNode", "vtkMRMLTableNode",
            "vtkSlicerSegmentationsModuleLogic"} <= classes
    missing = sorted(c for c in classes if not hasattr(slicer, c))
    assert not missing, f"classes not in slicer-core: {missing}"
    unknown = sorted(a for a in slicer_attrs if not hasattr(slicer, a)
                     and a not in APP_ONLY_SLICER_ATTRS)
    assert not unknown, (f"slicer.{unknown} neither in slicer-core nor in the documented "
                         f"app-only allow-list")


@pytest.mark.slicer
def test_vtk_methods_exist():
    """Every CamelCase attribute used is a method of some VTK / MRML class (typo catcher)."""
    slicer = _slicer()
    import vtk

    known = set()
    for mod in (slicer, vtk):
        for name in dir(mod):
            if name.startswith("vtk"):
                known.update(dir(getattr(mod, name)))
    _, _, _, methods = _collect(SLICER_FILES)
    methods -= {m for m in methods if m.startswith("vtk") or CLASS_RE.match(m)}
    unknown = sorted(m for m in methods if m not in known and m not in NON_VTK_CAMELCASE)
    assert not unknown, f"not a method of any VTK/MRML class (typo?): {unknown}"


def _ui(module):
    return ET.parse(EXT / module / "Resources" / "UI" / f"{module}.ui").getroot()


@pytest.mark.parametrize("module", MODULES)
def test_module_structure_and_ui(module):
    path = EXT / module / f"{module}.py"
    tree = _tree(path)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for suffix in ("", "Widget", "Logic", "Test", "ParameterNode"):
        assert module + suffix in classes, f"{path.name}: class {module + suffix} missing"
    pn = classes[module + "ParameterNode"]
    assert any(_chain(d) == "parameterNodeWrapper" or getattr(d, "id", "") == "parameterNodeWrapper"
               for d in pn.decorator_list)
    fields = {n.target.id for n in pn.body if isinstance(n, ast.AnnAssign)}

    root = _ui(module)
    assert root.find("class").text == module
    widget_names = {w.get("name") for w in root.iter("widget")}
    params = set()
    for w in root.iter("widget"):
        for p in w.findall("property"):
            if p.get("name") == "SlicerParameterName":
                params.add(p.find("string").text)
    assert params, f"{module}.ui binds no parameter"
    assert params <= fields, f"{module}.ui binds unknown parameters {sorted(params - fields)}"
    # every self.ui.<name> the module uses is a widget of its .ui file
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and _chain(n.value) == "self.ui"}
    assert used and used <= widget_names, f"{module}: unknown widgets {sorted(used - widget_names)}"
    # every qMRML widget gets the scene (mrmlSceneChanged connection, as the template does)
    mrml_widgets = {w.get("name") for w in root.iter("widget")
                    if w.get("class", "").startswith("qMRML") and w.get("name") != module}
    connected = {c.find("receiver").text for c in root.iter("connection")}
    assert mrml_widgets <= connected
    # icon
    icon = EXT / module / "Resources" / "Icons" / f"{module}.png"
    assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


#: widget class -> test on the parameter's annotation source, as Slicer's parameterNodeWrapper GUI
#: connectors accept them (Base/Python/slicer/parameterNodeWrapper/guiConnectors.py): an
#: unsupported pair raises "Unable to create GUI connector" when the panel opens
CONNECTORS = {
    "QCheckBox": lambda a: a == "bool",
    "QSpinBox": lambda a: a == "int" or a.startswith("Annotated[int"),
    "QDoubleSpinBox": lambda a: a == "float" or a.startswith("Annotated[float"),
    "ctkSliderWidget": lambda a: a.startswith("Annotated[float") and "WithinRange" in a,
    "QComboBox": lambda a: a.startswith("Annotated[") and "Choice(" in a,
    "QLineEdit": lambda a: a == "str",
    "ctkPathLineEdit": lambda a: a == "pathlib.Path",
    "qMRMLNodeComboBox": lambda a: a.startswith("vtkMRML"),
}


@pytest.mark.parametrize("module", MODULES)
def test_parameter_widgets_have_gui_connectors(module):
    tree = _tree(EXT / module / f"{module}.py")
    pn = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == module + "ParameterNode"][0]
    ann = {n.target.id: ast.unparse(n.annotation) for n in pn.body if isinstance(n, ast.AnnAssign)}
    for w in _ui(module).iter("widget"):
        for p in w.findall("property"):
            if p.get("name") != "SlicerParameterName":
                continue
            name, cls = p.find("string").text, w.get("class")
            assert cls in CONNECTORS, f"{module}.ui: no GUI connector for a {cls}"
            assert CONNECTORS[cls](ann[name]), \
                f"{module}: {cls} {w.get('name')!r} cannot represent {name}: {ann[name]}"
            if cls == "qMRMLNodeComboBox":
                types = [s.text for s in w.iter("string") if s.text and s.text.startswith("vtk")]
                assert ann[name] in types, f"{module}: {w.get('name')} nodeTypes {types} vs {ann[name]}"


def _cmake_list(text, var):
    m = re.search(r"set\(" + var + r"\s+(.*?)\)", text, re.S)
    assert m, var
    return [x for x in m.group(1).split() if x]


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_lists_existing_files(module):
    d = EXT / module
    text = (d / "CMakeLists.txt").read_text(encoding="utf-8")
    assert f"set(MODULE_NAME {module})" in text
    assert "WITH_GENERIC_TESTS" in text and "slicer_add_python_unittest" in text
    for var in ("MODULE_PYTHON_SCRIPTS", "MODULE_PYTHON_RESOURCES"):
        for f in _cmake_list(text, var):
            f = f.replace("${MODULE_NAME}", module)
            assert (d / f).is_file(), f"{module}/CMakeLists.txt lists missing {f}"
    assert (d / "Testing" / "CMakeLists.txt").is_file()
    assert (d / "Testing" / "Python" / "CMakeLists.txt").is_file()


def test_extension_cmake_and_index_entry():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    project = re.search(r"^project\((\w+)\)", text, re.M).group(1)
    assert project == "PanCancerSubtype"
    for field in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL",
                  "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf'set\(EXTENSION_{field} "[^"]+"\)', text), f"EXTENSION_{field} missing"
    for line in ("find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
                 "add_subdirectory(PanCancerSubtype)", "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
                 "include(${Slicer_EXTENSION_CPACK})"):
        assert line in text
    inner = (EXT / "CMakeLists.txt").read_text(encoding="utf-8")
    for m in MODULES:
        assert f"add_subdirectory({m})" in inner
    # icon / screenshot URLs point at files of this repository
    for url in re.findall(r"https://raw\.githubusercontent\.com/\S+?/main/(\S+?\.png)", text):
        assert (ROOT / url).is_file(), url
    png = (ROOT / "Resources" / "PanCancerSubtype.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (128, 128)
    # extension index entry: file name = project(), keys of schema v1.0.2 only
    entry = json.loads((ROOT / "Resources" / f"{project}.json").read_text(encoding="utf-8"))
    allowed = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
               "dicom_support_rule", "build_subdirectory", "enabled", "tier"}
    assert {"$schema", "category", "scm_url"} <= set(entry) <= allowed
    depends = re.search(r'set\(EXTENSION_DEPENDS "([^"]+)"\)', text).group(1).split()
    assert entry.get("build_dependencies", []) == [d for d in depends if d != "NA"]
    assert "slicer" in entry["scm_url"].lower()  # index CI: repository name contains "slicer"
    assert (ROOT / "LICENSE").is_file()


def test_core_never_imports_slicer():
    banned = {"slicer", "vtk", "qt", "ctk", "PanCancerSubtypeSlicerLib", "vtkmodules"}
    bad = []
    for path in (EXT / "PanCancerSubtypeLib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in banned]
    assert not bad, bad


def test_module_files_import_no_heavy_library_at_top():
    """Module files import only light modules at top level (heavy ones inside functions)."""
    light = {"logging", "os", "typing", "pathlib", "vtk", "slicer", "qt", "ctk", "enum",
             "argparse", "sys"}
    # the shared widget life cycle is imported at the top of every module file: it must itself
    # import only light modules
    light_lib = {"PanCancerSubtypeSlicerLib.widgets": EXT / "PanCancerSubtypeSlicerLib" / "widgets.py"}
    for path in (MODULE_FILES + [EXT / "PanCancerSubtype" / "SlicerScripts" / "run_cohort.py"]
                 + list(light_lib.values())):
        for node in _tree(path).body:
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for m in mods:
                assert m.split(".")[0] in light or m in light_lib, \
                    f"{path.name} imports {m} at module level"


def test_missing_requirements():
    from PanCancerSubtypeSlicerLib import dependencies

    assert dependencies.missing_requirements(["numpy>=1.0", "pandas"]) == []
    assert dependencies.missing_requirements(["numpy>=999", "no-such-dist-pcs-xyz>=1"]) == \
        ["numpy>=999", "no-such-dist-pcs-xyz>=1"]
    req_files = sorted((EXT / "PanCancerSubtypeSlicerLib").glob("requirements*.txt"))
    assert len(req_files) == 3
    for req in req_files:
        reqs = dependencies.read_requirements(str(req))
        assert reqs and all(not r.startswith("#") for r in reqs)
        assert not any(r.split(">")[0].split("=")[0].strip().lower() == "torch" for r in reqs), \
            "torch must come from the PyTorch extension, not pip"


@pytest.mark.slicer
def test_slicer_util_keyword_arguments_exist():
    """Keyword arguments passed to slicer.util functions are in their slicer-core signatures
    (e.g. launchConsoleProcess(blocking=..., logCallback=...) exists only in Slicer >= 5.12)."""
    import inspect

    slicer = _slicer()
    checked = 0
    for path in SLICER_FILES:
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Call):
                continue
            ch = _chain(node.func)
            if not ch.startswith("slicer.util.") or ch.count(".") != 2:
                continue
            fn = getattr(slicer.util, ch.split(".")[2])
            if not callable(fn) or inspect.isclass(fn):
                continue
            params = inspect.signature(fn).parameters
            takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
            for kw in node.keywords:
                if kw.arg is None:
                    continue
                checked += 1
                assert kw.arg in params or takes_kwargs, \
                    f"{path.name}: {ch}() has no keyword {kw.arg!r}"
    assert checked >= 5
