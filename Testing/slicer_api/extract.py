"""Extract, from Slicer's, CTK's and Qt's own sources, the API the extension's modules use.

Writes ``Testing/slicer_api/slicer_api.json`` (committed; read by ``Testing/test_slicer_api.py``):

* for every Qt / CTK / qMRML / Slicer class the modules and ``.ui`` files use (``usage.py``) and
  its base classes: signals, public slots, ``Q_INVOKABLE`` methods and ``Q_PROPERTY`` names, per
  Slicer tag (CTK at the commit each tag pins in ``SuperBuild/External_CTK.cmake``; Qt classes per
  Qt major version, where PythonQt also wraps public methods);
* for the ``slicer.util``, ``SampleData``, ``slicer.packaging`` and ``PyTorchUtilsLogic``
  functions the modules call: parameters, what they return (a list, its first item, ...) and what
  they raise, per tag; which names the ``slicer.ScriptedLoadableModule`` / ``parameterNodeWrapper``
  / ``i18n`` modules define; whether ``slicer/__init__.py`` imports ``slicer.packaging``;
* per tag, the Python version and the Python packages Slicer itself ships (``==`` pins of
  ``SuperBuild/External_python-*.cmake``): the dependency-resolution targets.

Run it again after a change of the modules or to add a Slicer tag::

    # sources: git mirrors of Slicer/Slicer, commontk/CTK, fepegar/SlicerPyTorch, and the Qt 5 /
    # Qt 6 headers of Debian's qtbase5-dev / qt6-base-dev (unpacked, not installed):
    apt-get download qtbase5-dev qt6-base-dev
    for f in qtbase5-dev_*.deb qt6-base-dev_*.deb; do dpkg-deb -x "$f" /tmp/qt; done
    python Testing/slicer_api/extract.py --slicer-git PATH/Slicer.git --ctk-git PATH/CTK.git \\
        --pytorch-git PATH/SlicerPyTorch.git \\
        --qt5-include /tmp/qt/usr/include/x86_64-linux-gnu/qt5 \\
        --qt6-include /tmp/qt/usr/include/x86_64-linux-gnu/qt6 \\
        [--tags v5.8.1 v5.10.0 v5.12.3 main]

``--slicer-git`` and the others accept a bare repository or a checkout's ``.git`` folder; files
are read with ``git show <ref>:<path>``, nothing is checked out.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from slicer_api import usage  # noqa: E402

DEFAULT_TAGS = ["v5.8.1", "v5.10.0", "v5.12.3", "main"]
OUT = Path(__file__).resolve().parent / "slicer_api.json"

#: Qt major versions each Slicer tag can be built with (top-level CMakeLists.txt: Qt 5.15, and
#: Qt 6.8 when ``Qt6_DIR`` is given, since 5.12)
QT_FOR_TAG_RE = re.compile(r'set\(_required_qt_version "6\.\d+"\)')


class GitTree:
    """Files of one ref of a git repository."""

    def __init__(self, gitdir: str, ref: str):
        self.gitdir, self.ref = gitdir, ref
        self._files: Optional[Dict[str, str]] = None
        self.commit = self._git("rev-parse", f"{ref}^{{commit}}").strip()

    def _git(self, *args) -> str:
        return subprocess.run(["git", f"--git-dir={self.gitdir}", *args], check=True,
                              capture_output=True, text=True, encoding="utf-8",
                              errors="replace").stdout

    def read(self, path: str) -> Optional[str]:
        r = subprocess.run(["git", f"--git-dir={self.gitdir}", "show", f"{self.commit}:{path}"],
                           capture_output=True, text=True, encoding="utf-8", errors="replace")
        return r.stdout if r.returncode == 0 else None

    def find(self, basename: str) -> Optional[str]:
        if self._files is None:
            self._files = {}
            for p in self._git("ls-tree", "-r", "--name-only", self.commit).splitlines():
                self._files.setdefault(p.rsplit("/", 1)[-1], p)
        return self._files.get(basename)


class DirTree:
    """Header files of an unpacked Qt include folder."""

    def __init__(self, root: str):
        self.root = Path(root)
        self.commit = str(self.root)

    def find(self, basename: str) -> Optional[str]:
        for sub in ("QtCore", "QtGui", "QtWidgets"):
            if (self.root / sub / basename).is_file():
                return f"{sub}/{basename}"
        # a class declared in another class's header (QDoubleSpinBox in qspinbox.h)
        name = re.compile(r"\bclass\s+Q_\w+_EXPORT\s+" + re.escape(basename[:-2]) + r"\b",
                          re.I)
        for sub in ("QtCore", "QtGui", "QtWidgets"):
            for h in sorted((self.root / sub).glob("*.h")):
                if name.search(h.read_text(encoding="utf-8", errors="replace")):
                    return f"{sub}/{h.name}"
        return None

    def read(self, path: str) -> Optional[str]:
        p = self.root / path
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None


# ----------------------------------------------------------------------------------------------
# C++ headers
# ----------------------------------------------------------------------------------------------

_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_PREPROC_RE = re.compile(r"^\s*#.*?(?<!\\)$", re.M | re.S)
_ACCESS_RE = re.compile(r"^\s*(public|protected|private)?\s*(slots|Q_SLOTS)?\s*:\s*$|"
                        r"^\s*(signals|Q_SIGNALS)\s*:\s*$")
_DROP_MACROS_RE = re.compile(r"\b(Q_DECL_\w+|QT_DEPRECATED_X\s*\([^)]*\)|QT_DEPRECATED_VERSION_X_\d_\d+"
                             r"\s*\([^)]*\)|QT_DEPRECATED_VERSION_\d_\d+|QT_DEPRECATED|"
                             r"Q_REQUIRED_RESULT|Q_SLOT|Q_SIGNAL|virtual|static|inline|explicit|"
                             r"VTK_NEWINSTANCE|VTK_LEGACY\s*\([^)]*\))\b")


def _class_body(text: str, name: str):
    """(bases, body) of ``class [EXPORT] name [final] : public A, public B { ... };``."""
    m = re.search(r"\bclass\s+(?:\w+\s+)?" + re.escape(name) +
                  r"\s*(?:final\s*)?(?::\s*([^{;]+))?\{", text)
    if not m:
        return None
    bases = []
    for b in (m.group(1) or "").split(","):
        toks = b.split()
        if toks and toks[0] == "public":
            bases.append(re.sub(r"<.*", "", toks[-1]))
    depth, i = 1, m.end()
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return bases, text[m.end():i - 1]


_MACRO_LINE_RE = re.compile(r"^\s*(?:[A-Z][A-Z0-9_]+|vtkTypeMacro)\s*(?:\(|$)")


def _split_statements(body: str):
    """Top-level statements of a class body (inline function bodies and nested types skipped),
    with access-section labels and macro lines (``Q_OBJECT``, ``Q_PROPERTY(...)``) as their own
    items."""
    out, cur, depth, paren = [], [], 0, 0
    macro = False
    for line in body.split("\n"):
        if depth == 0 and paren == 0 and not "".join(cur).strip():
            if _ACCESS_RE.match(line):
                out.append(line.strip())
                continue
            macro = bool(_MACRO_LINE_RE.match(line))
        for ch in line + "\n":
            if ch == "{":
                depth += 1
                if depth == 1:
                    cur.append(";")  # a declaration with an inline body ends here
                    out.append("".join(cur))
                    cur = []
                continue
            if ch == "}":
                depth -= 1
                if depth == 0:
                    cur = []
                continue
            if depth:
                continue
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren -= 1
            cur.append(ch)
            if ch == ";" and paren == 0:
                out.append("".join(cur))
                cur = []
                macro = False
        if macro and paren == 0 and "".join(cur).strip():
            out.append("".join(cur))
            cur = []
            macro = False
    return [s.strip() for s in out if s.strip()]


def _norm_type(arg: str) -> Optional[str]:
    """Type of one parameter, normalised as Qt does (no name, no default, ``const T&`` -> T)."""
    arg = arg.split("=")[0].strip()
    if not arg or arg == "void":
        return None
    arg = re.sub(r"\s*([*&])\s*", r"\1 ", arg).strip()
    toks = arg.split()
    # drop the parameter name: the last token when it is an identifier after a complete type
    if len(toks) > 1 and re.fullmatch(r"[A-Za-z_]\w*", toks[-1]) and \
            toks[-1] not in ("int", "bool", "double", "float", "char", "long", "short",
                             "unsigned", "signed"):
        toks = toks[:-1]
    t = " ".join(toks).replace("* ", "*").replace("& ", "&").strip()
    if t.startswith("const ") and t.endswith("&"):
        t = t[len("const "):-1]
    t = t.replace(" *", "*").replace(" &", "&")
    return t


def _signatures(name: str, args: str) -> List[str]:
    """Every signature moc generates for a declaration (one per trailing default argument)."""
    parts, depth, cur = [], 0, []
    for ch in args:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    types = [_norm_type(p) for p in parts]
    types = [t for t in types if t]
    n_default = sum(1 for p in parts if "=" in p)
    return [f"{name}({','.join(types[:n])})" for n in range(len(types) - n_default, len(types) + 1)]


def parse_class(text: str, name: str, public_methods: bool):
    """Members of a class in a header: bases, signals, slots, invokables, properties, methods."""
    text = _PREPROC_RE.sub("", _COMMENT_RE.sub("", text))
    found = _class_body(text, name)
    if found is None:
        return None
    bases, body = found
    out = {"bases": bases, "signals": set(), "slots": set(), "invokables": set(),
           "properties": set(), "methods": set()}
    section = "private"
    for st in _split_statements(body):
        m = _ACCESS_RE.match(st)
        if m:
            if m.group(3):
                section = "signals"
            else:
                section = (m.group(1) or "private") + ("-slots" if m.group(2) else "")
            continue
        if st.startswith("Q_PROPERTY"):
            inner = st[st.index("(") + 1:st.rindex(")")]
            toks = inner.split()
            for i, t in enumerate(toks):
                if t in ("READ", "MEMBER", "WRITE"):
                    out["properties"].add(toks[i - 1].lstrip("*&"))
                    break
            continue
        invokable = "Q_INVOKABLE" in st
        st2 = _DROP_MACROS_RE.sub(" ", st.replace("Q_INVOKABLE", " "))
        m = re.search(r"([~\w]+)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)\s*(const)?\s*"
                      r"(override|final|noexcept|= *0|= *default|= *delete|\s)*;\s*$", st2, re.S)
        if not m or m.group(1) in ("Q_OBJECT", "Q_DISABLE_COPY", "Q_DECLARE_PRIVATE",
                                   "QVTK_OBJECT", "Q_ENUM", "Q_FLAG", "Q_ENUMS", "Q_FLAGS",
                                   "Q_DECLARE_PUBLIC", "Q_PRIVATE_SLOT", "vtkTypeMacro",
                                   "Q_DISABLE_COPY_MOVE", "Q_GADGET"):
            continue
        if "operator" in st2 or m.group(1).startswith("~") or m.group(1) == name:
            continue
        sigs = _signatures(m.group(1), m.group(2))
        if section == "signals":
            out["signals"].update(sigs)
        elif section == "public-slots":
            out["slots"].update(sigs)
            if invokable:
                out["invokables"].update(sigs)
        elif section == "public":
            if invokable:
                out["invokables"].update(sigs)
            if public_methods:
                out["methods"].add(m.group(1))
    return out


# ----------------------------------------------------------------------------------------------
# Python sources
# ----------------------------------------------------------------------------------------------

def _method(classes: Dict[str, ast.ClassDef], cls: str, name: str) -> Optional[ast.FunctionDef]:
    c = classes.get(cls)
    return None if c is None else next((n for n in c.body if isinstance(n, ast.FunctionDef)
                                        and n.name == name), None)


def _returns(fn: ast.FunctionDef, module_funcs: Dict[str, ast.FunctionDef], depth=0,
             classes: Optional[Dict[str, ast.ClassDef]] = None, owner: Optional[str] = None
             ) -> str:
    """What a function returns: "first item" (``return x[0]``), "list" (a list literal or a
    name bound to one), "none", the result of another function of the module, or "value"."""
    kinds = set()
    lists = {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) and
             isinstance(n.value, ast.List) for t in n.targets if isinstance(t, ast.Name)}
    for n in ast.walk(fn):
        if not isinstance(n, ast.Return):
            continue
        v = n.value
        if v is None or (isinstance(v, ast.Constant) and v.value is None):
            kinds.add("none")
        elif isinstance(v, ast.Subscript) and isinstance(v.slice, ast.Constant) and \
                v.slice.value == 0:
            kinds.add("first item")
        elif isinstance(v, (ast.List, ast.ListComp)) or (isinstance(v, ast.Name) and
                                                          v.id in lists):
            kinds.add("list")
        elif isinstance(v, ast.Call) and depth < 3:
            ch = usage.chain(v.func)
            base, _, callee = ch.rpartition(".")
            target, target_owner = None, None
            if base.endswith("()") and classes:  # Class().method(...)
                target_owner = base[:-2].split(".")[-1]
                target = _method(classes, target_owner, callee)
            elif base == "self" and owner and classes:
                target, target_owner = _method(classes, owner, callee), owner
            elif not base and callee in module_funcs:
                target = module_funcs[callee]
            if target is not None and target is not fn:
                kinds.add(_returns(target, module_funcs, depth + 1, classes, target_owner))
            else:
                kinds.add("value")
        else:
            kinds.add("value")
    kinds.discard("none") if len(kinds) > 1 else None
    return " or ".join(sorted(kinds)) if kinds else "none"


def _raises(fn: ast.FunctionDef) -> List[str]:
    out = set()
    for n in ast.walk(fn):
        if isinstance(n, ast.Raise) and n.exc is not None:
            e = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
            out.add(usage.chain(e).split(".")[-1])
    doc = ast.get_docstring(fn) or ""
    out.update(re.findall(r":raises\s+(?:\w+\.)*(\w+)\s*:", doc))
    return sorted(x for x in out if x)


def _signature(fn: ast.FunctionDef) -> dict:
    a = fn.args
    params = [p.arg for p in a.posonlyargs + a.args]
    is_method = bool(params) and params[0] in ("self", "cls")
    static = any(usage.chain(d) == "staticmethod" for d in fn.decorator_list)
    if is_method and not static:
        params = params[1:]
    n_required = len(a.posonlyargs + a.args) - len(a.defaults) - (1 if is_method and not static
                                                                   else 0)
    return {"params": params + [k.arg for k in a.kwonlyargs], "required": max(n_required, 0),
            "varargs": a.vararg is not None, "varkw": a.kwarg is not None}


def python_api(text: str, wanted: List[str]) -> Dict[str, dict]:
    """``{name: {params, required, varargs, varkw, returns, raises}}`` of module functions and
    ``Class.method`` names in ``wanted`` (a class name alone: it exists)."""
    tree = ast.parse(text)
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    out = {}
    for w in wanted:
        cls, _, meth = w.rpartition(".")
        if cls:
            c = classes.get(cls)
            fn = None if c is None else next((n for n in c.body if isinstance(n, ast.FunctionDef)
                                               and n.name == meth), None)
        else:
            fn = funcs.get(meth)
            if fn is None and meth in classes:
                out[w] = {"class": True}
                continue
        if fn is not None:
            out[w] = dict(_signature(fn), returns=_returns(fn, funcs, 0, classes, cls or None),
                          raises=_raises(fn))
    return out


def defined_names(text: str, read_sibling=None) -> List[str]:
    """Names a module defines or imports at top level (what ``from module import X`` finds);
    ``from .sub import *`` is followed with ``read_sibling(sub)`` (its ``__all__``, else its public
    top-level names)."""
    names = set()
    tree = ast.parse(text)
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Assign):
            names.update(t.id for t in n.targets if isinstance(t, ast.Name))
        elif isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names):
            sub = read_sibling(n.module) if read_sibling and n.level == 1 else None
            if sub:
                all_ = [v.value for st in ast.parse(sub).body if isinstance(st, ast.Assign)
                        and any(getattr(t, "id", "") == "__all__" for t in st.targets)
                        for v in getattr(st.value, "elts", []) if isinstance(v, ast.Constant)]
                names.update(all_ or [x for x in defined_names(sub) if not x.startswith("_")])
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
    return sorted(names)


# ----------------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------------

PY_SOURCES = {
    "slicer.util": "Base/Python/slicer/util.py",
    "SampleData": "Modules/Scripted/SampleData/SampleData.py",
    "slicer.packaging": "Base/Python/slicer/packaging.py",
    "slicer.ScriptedLoadableModule": "Base/Python/slicer/ScriptedLoadableModule.py",
    "slicer.parameterNodeWrapper": "Base/Python/slicer/parameterNodeWrapper/__init__.py",
    "slicer.i18n": "Base/Python/slicer/i18n.py",
}
PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][^\s\\]*)", re.M)


def _compact(per_version: Dict[str, set], versions: List[str]) -> Dict[str, object]:
    """``{member: "*" (in every version) or [versions]}``."""
    members = sorted(set().union(*per_version.values())) if per_version else []
    out = {}
    for m in members:
        have = [v for v in versions if m in per_version.get(v, ())]
        out[m] = "*" if have == versions else have
    return out


def _compact_python(per_tag: Dict[str, Optional[dict]]) -> dict:
    """``{"module_in": "*" | [tags], "names": {name: [{"tags": "*" | [tags], **entry}, ...]}}``:
    one entry per distinct signature, with the tags that have it."""
    tags = list(per_tag)
    present = [t for t in tags if per_tag[t] is not None]
    names: Dict[str, list] = {}
    for t in present:
        for name, entry in per_tag[t].items():
            groups = names.setdefault(name, [])
            for g in groups:
                if {k: v for k, v in g.items() if k != "tags"} == entry:
                    g["tags"].append(t)
                    break
            else:
                groups.append(dict(tags=[t], **entry))
    for groups in names.values():
        for g in groups:
            if g["tags"] == tags:
                g["tags"] = "*"
    return {"module_in": "*" if present == tags else present,
            "names": dict(sorted(names.items()))}


#: recorded even when the modules do not use them: the traps the conformance test documents
ALWAYS_FUNCTIONS = {"SampleData": ["downloadSample", "downloadSamples",
                                   "SampleDataLogic.registerCustomSampleDataCategory"],
                    "slicer.util": ["launchConsoleProcess", "exit"]}
ALWAYS_CLASSES = ["qMRMLSegmentSelectorWidget", "qMRMLNodeComboBox", "QProgressBar"]


def extract(args) -> dict:
    uses = usage.all_uses()
    classes = sorted(set(usage.used_classes(uses)) | set(ALWAYS_CLASSES))
    functions = usage.used_functions(uses)
    for mod, names in ALWAYS_FUNCTIONS.items():
        functions[mod] = sorted(set(functions.get(mod, [])) | set(names))
    tags = args.tags
    slicer_trees = {t: GitTree(args.slicer_git, t) for t in tags}
    ctk_trees, qt_for_tag, targets, init_imports = {}, {}, {}, {}
    for t, tree in slicer_trees.items():
        ext_ctk = tree.read("SuperBuild/External_CTK.cmake") or ""
        m = re.search(r'_GIT_TAG\s*\n?\s*"([0-9a-f]{40})"', ext_ctk)
        ctk_trees[t] = GitTree(args.ctk_git, m.group(1))
        top = tree.read("CMakeLists.txt") or ""
        qt_for_tag[t] = ["qt5", "qt6"] if QT_FOR_TAG_RE.search(top) else ["qt5"]
        pyver = re.search(r'set\(Slicer_REQUIRED_PYTHON_VERSION "([0-9.]+)"\)', top).group(1)
        pins = {}
        for path in sorted(tree._git("ls-tree", "--name-only", tree.commit,
                                     "SuperBuild/").split()):
            if re.search(r"External_python-[\w-]+\.cmake$", path):
                for name, ver in PIN_RE.findall(tree.read(path) or ""):
                    pins[name.lower()] = ver
        targets[t] = {"python": pyver, "shipped": dict(sorted(pins.items()))}
        init = tree.read("Base/Python/slicer/__init__.py") or ""
        init_imports[t] = sorted(
            a.name for n in ast.walk(ast.parse(init)) if isinstance(n, ast.ImportFrom)
            and n.module in (None, "slicer") for a in n.names) + sorted(
            a.name.split(".", 1)[1] for n in ast.walk(ast.parse(init)) if isinstance(n, ast.Import)
            for a in n.names if a.name.startswith("slicer."))
    qt_trees = {"qt5": DirTree(args.qt5_include), "qt6": DirTree(args.qt6_include)}

    result_classes: Dict[str, dict] = {}
    todo = list(classes)
    while todo:
        cls = todo.pop()
        if cls in result_classes:
            continue
        per: Dict[str, Dict[str, set]] = {k: {} for k in
                                          ("bases", "signals", "slots", "invokables",
                                           "properties", "methods")}
        if cls.startswith("Q") and not cls.startswith("QVTK"):
            kind, sources = "qt", qt_trees
        elif cls.startswith("ctk"):
            kind, sources = "ctk", ctk_trees
        else:
            kind, sources = "slicer", slicer_trees
        where = {}
        for ver, tree in sources.items():
            path = tree.find(f"{cls.lower()}.h" if kind == "qt" else f"{cls}.h")
            text = tree.read(path) if path else None
            parsed = parse_class(text, cls, public_methods=(kind == "qt" or cls.startswith("vtk"))) \
                if text else None
            if parsed is None:
                continue
            where[ver] = path
            for k in per:
                per[k][ver] = set(parsed[k])
            todo += [b for b in parsed["bases"] if b not in result_classes]
        versions = list(sources)
        entry = {"kind": kind, "header": sorted(set(where.values())),
                 "found_in": "*" if list(where) == versions else list(where)}
        for k, v in per.items():
            c = _compact(v, versions)
            if c:
                entry[k] = c
        result_classes[cls] = entry

    python: Dict[str, dict] = {}
    for mod, wanted in sorted(functions.items()):
        per_tag = {}
        if mod == "PyTorchUtils":
            tree = GitTree(args.pytorch_git, "HEAD")
            text = tree.read("PyTorchUtils/PyTorchUtils.py")
            per_tag = {"SlicerPyTorch@" + tree.commit[:12]: python_api(text, wanted)}
        else:
            for t, tree in slicer_trees.items():
                text = tree.read(PY_SOURCES[mod])
                if text is None:
                    per_tag[t] = None
                    continue
                folder = PY_SOURCES[mod].rsplit("/", 1)[0]

                def sibling(sub, tree=tree, folder=folder):
                    return tree.read(f"{folder}/{sub}.py")

                if mod in usage.IMPORTED_FROM and mod != "slicer.util":
                    names = set(defined_names(text, sibling))
                    per_tag[t] = {w: {"defined": True} for w in wanted if w in names}
                else:
                    api = python_api(text, wanted)
                    names = set(defined_names(text))
                    for w in wanted:  # names imported (``from slicer.util import X``)
                        if w not in api and w in names:
                            api[w] = {"defined": True}
                    per_tag[t] = api
        python[mod] = _compact_python(per_tag)
    if "slicer.packaging" not in python:
        python["slicer.packaging"] = _compact_python({t: (None if slicer_trees[t].read(
            PY_SOURCES["slicer.packaging"]) is None else {}) for t in tags})

    return {
        "generated_by": "Testing/slicer_api/extract.py (see its docstring to run it again)",
        "sources": {"Slicer": {t: slicer_trees[t].commit for t in tags},
                    "CTK": {t: ctk_trees[t].commit for t in tags},
                    "Qt": {"qt5": "Debian qtbase5-dev 5.15 headers",
                           "qt6": "Debian qt6-base-dev 6.4 headers"}},
        "slicer_tags": tags,
        "qt_for_tag": qt_for_tag,
        "targets": targets,
        "slicer_init_imports": init_imports,
        "classes": dict(sorted(result_classes.items())),
        "python": python,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slicer-git", required=True)
    p.add_argument("--ctk-git", required=True)
    p.add_argument("--pytorch-git", required=True)
    p.add_argument("--qt5-include", required=True)
    p.add_argument("--qt6-include", required=True)
    p.add_argument("--tags", nargs="+", default=DEFAULT_TAGS)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    data = extract(args)
    Path(args.out).write_text(json.dumps(data, indent=1, sort_keys=False) + "\n",
                              encoding="utf-8")
    print(f"wrote {args.out}: {len(data['classes'])} classes, "
          f"{sum(len(v) for v in data['python'].values())} module x tag entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
