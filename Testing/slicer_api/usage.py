"""What the extension's Slicer-side code uses of Slicer, CTK, Qt, SampleData and PyTorchUtils.

Read from the source with ``ast`` and ``xml`` (nothing is imported or run), so the same list serves
``extract.py`` (which records only these classes and functions from Slicer's sources, keeping the
fixture small) and ``Testing/test_slicer_api.py`` (which checks each use against the fixture).

A *use* names a class (or Python module) and a member, and where in the code it happens:

* ``signal``: ``w.connect("sig(args)", ...)`` in Python, or a ``<connection>`` of a ``.ui`` file;
* ``slot``: the receiving slot of a ``.ui`` connection;
* ``property``: a ``<property>`` a ``.ui`` file sets on a widget;
* ``member``: any other attribute read, assigned or called on a widget / application object;
* ``function``: a call of a Slicer Python function (``slicer.util``, ``SampleData``,
  ``slicer.packaging``, ``PyTorchUtilsLogic``) with its keyword arguments, whether the call is
  guarded (``hasattr`` test, or a ``try`` that catches ``TypeError`` / ``AttributeError`` /
  ``ImportError``) and whether its result is used as a sequence (``len``, ``[i]``).

The widget type of an expression comes from the module's ``.ui`` file (``self.ui.<name>``), from
:data:`JOBRUNNER_WIDGETS` (the widgets ``JobRunner`` receives) or from :data:`TYPED_EXPRESSIONS`.
"""
from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "PanCancerSubtype"
MODULES = ["PanCancerSegmentation", "PanCancerFeatures", "PanCancerSubtype"]
LIB = EXT / "PanCancerSubtypeSlicerLib"


def slicer_files() -> List[Path]:
    """The extension's Slicer-side Python files (modules, Slicer library, batch script)."""
    return ([EXT / m / f"{m}.py" for m in MODULES] + sorted(LIB.glob("*.py"))
            + [EXT / "PanCancerSubtype" / "SlicerScripts" / "run_cohort.py"])


#: attribute names of ``process.JobRunner`` -> the ``.ui`` widget each panel passes for it
#: (``widgets.PanelWidgetMixin.setupPanel``: ``JobRunner(self.ui.progressBar, self.ui.statusLog,
#: self.ui.cancelButton)``)
JOBRUNNER_WIDGETS = {"progressBar": "progressBar", "logWidget": "statusLog",
                     "cancelButton": "cancelButton"}

#: expressions whose class is known: ``slicer.app`` and what its invokables return
TYPED_EXPRESSIONS = {
    "slicer.app": "qSlicerApplication",
    "slicer.app.layoutManager()": "qSlicerLayoutManager",
    "slicer.modules.tables.logic()": "vtkSlicerTablesLogic",
    "slicer.modules.plots.logic()": "vtkSlicerPlotsLogic",
}

#: Python modules whose functions are checked, and how the code refers to them
PY_MODULES = {"slicer.util": "slicer.util", "SampleData": "SampleData",
              "slicer_packaging": "slicer.packaging", "slicer.packaging": "slicer.packaging"}
#: Slicer Python modules whose names are imported with ``from X import name``
IMPORTED_FROM = ("slicer.util", "slicer.ScriptedLoadableModule", "slicer.parameterNodeWrapper",
                 "slicer.i18n")

GUARD_EXCEPTIONS = {"TypeError", "AttributeError", "ImportError", "ModuleNotFoundError"}


@dataclass
class Use:
    kind: str            # signal | slot | property | member | function
    owner: str           # class name, or Python module ("slicer.util", "SampleData", ...)
    name: str            # member name / normalised signature / function name
    where: str           # file:line
    keywords: Tuple[str, ...] = ()
    npos: int = 0
    guarded: bool = False
    as_sequence: bool = False
    method_of: Optional[str] = None   # Python class of a method (SampleDataLogic, ...)


# ----------------------------------------------------------------------------------------------
# .ui files
# ----------------------------------------------------------------------------------------------

def ui_path(module: str) -> Path:
    return EXT / module / "Resources" / "UI" / f"{module}.ui"


def ui_widgets(module: str) -> Dict[str, str]:
    """``{widget name: class}`` of a module's ``.ui`` file (the top widget included)."""
    root = ET.parse(ui_path(module)).getroot()
    return {w.get("name"): w.get("class") for w in root.iter("widget")}


def ui_uses(module: str) -> List[Use]:
    root = ET.parse(ui_path(module)).getroot()
    widgets = ui_widgets(module)
    where = f"{module}.ui"
    out = []
    for w in root.iter("widget"):
        for p in w.findall("property"):  # direct properties only (not layout items)
            if p.get("name") == "SlicerParameterName" or p.get("stdset") == "0":
                continue  # dynamic properties
            out.append(Use("property", w.get("class"), p.get("name"),
                           f"{where}: {w.get('name')}"))
    for c in root.iter("connection"):
        sender, receiver = c.find("sender").text, c.find("receiver").text
        out.append(Use("signal", widgets[sender], normalise(c.find("signal").text),
                       f"{where}: {sender}"))
        out.append(Use("slot", widgets[receiver], normalise(c.find("slot").text),
                       f"{where}: {receiver}"))
    return out


def normalise(signature: str) -> str:
    """Qt's normalised signature: no spaces, ``const T&`` -> ``T``."""
    name, _, rest = signature.strip().partition("(")
    args = [a.strip() for a in rest.rstrip(")").split(",") if a.strip()]
    norm = []
    for a in args:
        a = " ".join(a.split())
        if a.startswith("const ") and a.endswith("&"):
            a = a[len("const "):-1].strip()
        norm.append(a.replace(" *", "*").replace(" &", "&"))
    return f"{name.strip()}({','.join(norm)})"


# ----------------------------------------------------------------------------------------------
# Python files
# ----------------------------------------------------------------------------------------------

def chain(node) -> str:
    """``a.b.c`` of an attribute chain; a call without arguments in it is written ``f()``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = chain(node.value)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call) and not node.args and not node.keywords:
        base = chain(node.func)
        return f"{base}()" if base else ""
    return ""


def loadui_class() -> str:
    """Class of the top widget ``slicer.util.loadUI`` returns (the same in every module)."""
    tops = set()
    for m in MODULES:
        root = ET.parse(ui_path(m)).getroot()
        tops.add(root.find("widget").get("class"))
    return tops.pop() if len(tops) == 1 else f"<different top widgets {sorted(tops)}>"


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: Path, module: Optional[str]):
        self.path = path
        self.module = module
        self.widgets = ui_widgets(module) if module else {}
        self.uses: List[Use] = []
        self.parents: Dict[ast.AST, ast.AST] = {}
        self.local_types: Dict[str, str] = {}
        self.pytorch_logic_names = set()

    def where(self, node) -> str:
        return f"{self.path.name}:{node.lineno}"

    # -- types -----------------------------------------------------------------------------
    def widget_class(self, expr) -> Optional[str]:
        ch = chain(expr)
        if not ch:
            return None
        if ch in TYPED_EXPRESSIONS:
            return TYPED_EXPRESSIONS[ch]
        if ch in self.local_types:
            return self.local_types[ch]
        parts = ch.split(".")
        if self.module and len(parts) == 3 and parts[:2] == ["self", "ui"]:
            return self.widgets.get(parts[2])
        if self.path.name == "process.py" and len(parts) == 2 and parts[0] == "self" \
                and parts[1] in JOBRUNNER_WIDGETS:
            return "ui:" + JOBRUNNER_WIDGETS[parts[1]]
        if self.path.name == "process.py" and ch == "cancelButton":
            return "ui:cancelButton"
        return None

    def guarded(self, node, name: str) -> bool:
        cur = node
        while cur in self.parents:
            parent = self.parents[cur]
            if isinstance(parent, ast.Try) and cur in parent.body:
                for h in parent.handlers:
                    names = []
                    if h.type is None:
                        names = ["Exception"]
                    elif isinstance(h.type, ast.Tuple):
                        names = [chain(e) for e in h.type.elts]
                    else:
                        names = [chain(h.type)]
                    if any(n.split(".")[-1] in GUARD_EXCEPTIONS for n in names):
                        return True
            if isinstance(parent, (ast.If, ast.IfExp)) and cur is not parent.test:
                for n in ast.walk(parent.test):
                    if isinstance(n, ast.Call) and chain(n.func) == "hasattr" and \
                            len(n.args) == 2 and isinstance(n.args[1], ast.Constant) and \
                            n.args[1].value == name:
                        return True
            cur = parent
        return False

    def used_as_sequence(self, call) -> bool:
        parent = self.parents.get(call)
        if isinstance(parent, ast.Subscript) and parent.value is call:
            return True
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            t = parent.targets[0]
            if isinstance(t, (ast.Tuple, ast.List)):
                return True
            if isinstance(t, ast.Name):
                func = parent
                while func in self.parents and not isinstance(func, ast.FunctionDef):
                    func = self.parents[func]
                for n in ast.walk(func):
                    if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and \
                            n.value.id == t.id:
                        return True
                    if isinstance(n, ast.Call) and chain(n.func) == "len" and n.args and \
                            isinstance(n.args[0], ast.Name) and n.args[0].id == t.id:
                        return True
        return False

    # -- visiting --------------------------------------------------------------------------
    def visit_FunctionDef(self, node):
        saved = dict(self.local_types), set(self.pytorch_logic_names)
        self.generic_visit(node)
        self.local_types, self.pytorch_logic_names = saved

    def visit_ImportFrom(self, node):
        if node.module in IMPORTED_FROM:
            for a in node.names:
                self.uses.append(Use("name", node.module, a.name, self.where(node),
                                     guarded=self.guarded(node, a.name)))
        self.generic_visit(node)

    def visit_Assign(self, node):
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            ch = chain(node.value)
            if ch in TYPED_EXPRESSIONS:
                self.local_types[node.targets[0].id] = TYPED_EXPRESSIONS[ch]
            if isinstance(node.value, ast.Call) and chain(node.value.func) == "slicer.util.loadUI":
                self.local_types[node.targets[0].id] = loadui_class()
            if isinstance(node.value, ast.Call) and chain(node.value.func) == \
                    "PyTorchUtils.PyTorchUtilsLogic":
                self.pytorch_logic_names.add(node.targets[0].id)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        kws = tuple(k.arg for k in node.keywords if k.arg)
        if isinstance(func, ast.Attribute):
            owner = self.widget_class(func.value)
            if owner is not None:
                if func.attr == "connect" and node.args and isinstance(node.args[0], ast.Constant) \
                        and isinstance(node.args[0].value, str):
                    self.uses.append(Use("signal", owner, normalise(node.args[0].value),
                                         self.where(node)))
            ch = chain(func)
            base, _, name = ch.rpartition(".")
            if base in PY_MODULES:
                self.uses.append(Use("function", PY_MODULES[base], name, self.where(node), kws,
                                     len(node.args), self.guarded(node, name),
                                     self.used_as_sequence(node)))
            elif base in ("SampleData.SampleDataLogic", "SampleData.SampleDataLogic()"):
                self.uses.append(Use("function", "SampleData", name, self.where(node), kws,
                                     len(node.args), self.guarded(node, name),
                                     self.used_as_sequence(node), method_of="SampleDataLogic"))
            elif base in self.pytorch_logic_names:
                self.uses.append(Use("function", "PyTorchUtils", name, self.where(node), kws,
                                     len(node.args), self.guarded(node, name),
                                     method_of="PyTorchUtilsLogic"))
        self.generic_visit(node)

    def visit_Attribute(self, node):
        owner = self.widget_class(node.value)
        if owner is not None and node.attr != "connect":
            self.uses.append(Use("member", owner, node.attr, self.where(node)))
        ch = chain(node)
        if ch.startswith("slicer.packaging."):
            self.uses.append(Use("packaging-access", "slicer.packaging", ch, self.where(node),
                                 guarded=self._imports_packaging_before(node)))
        self.generic_visit(node)

    def _imports_packaging_before(self, node) -> bool:
        """True when the enclosing function runs ``import slicer.packaging`` first."""
        func = node
        while func in self.parents and not isinstance(func, ast.FunctionDef):
            func = self.parents[func]
        for n in ast.walk(func):
            if isinstance(n, ast.Import) and any(a.name == "slicer.packaging" for a in n.names) \
                    and n.lineno <= node.lineno:
                return True
        return False


def python_uses(path: Path) -> List[Use]:
    module = path.stem if path.stem in MODULES else None
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    v = _Visitor(path, module)
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            v.parents[child] = parent
    v.visit(tree)
    # getattr(slicer, "packaging") is None until something imports the submodule
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and chain(n.func) in ("getattr", "hasattr") and \
                len(n.args) >= 2 and chain(n.args[0]) == "slicer" and \
                isinstance(n.args[1], ast.Constant) and n.args[1].value == "packaging":
            v.uses.append(Use("packaging-access", "slicer.packaging", "getattr(slicer)",
                              v.where(n), guarded=False))
    return v.uses


def all_uses() -> List[Use]:
    """Every use in the ``.ui`` files and the Slicer-side Python files; ``ui:<name>`` owners
    (JobRunner's widgets) are resolved to the class each module's ``.ui`` gives that widget."""
    out: List[Use] = []
    for m in MODULES:
        out += ui_uses(m)
    for p in slicer_files():
        for u in python_uses(p):
            if u.owner.startswith("ui:"):
                name = u.owner[3:]
                for m in MODULES:
                    cls = ui_widgets(m).get(name)
                    out.append(Use(u.kind, cls or f"<no widget {name} in {m}.ui>", u.name,
                                   f"{u.where} ({m}.ui {name})"))
            else:
                out.append(u)
    return out


def used_classes(uses: Optional[List[Use]] = None) -> List[str]:
    """Qt / CTK / qMRML / Slicer classes whose members the code uses (plus every .ui class)."""
    names = set()
    for m in MODULES:
        names.update(c for c in ui_widgets(m).values()
                     if c and not c.endswith("Layout") and c != "Line")
    for u in uses or all_uses():
        if u.kind in ("signal", "slot", "property", "member"):
            names.add(u.owner)
    return sorted(names)


def used_functions(uses: Optional[List[Use]] = None) -> Dict[str, List[str]]:
    """``{python module: [function or Class.method, ...]}`` the code calls."""
    out: Dict[str, set] = {}
    for u in uses or all_uses():
        if u.kind in ("function", "name"):
            out.setdefault(u.owner, set()).add(
                f"{u.method_of}.{u.name}" if u.method_of else u.name)
    return {k: sorted(v) for k, v in out.items()}

