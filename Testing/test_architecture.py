"""The core library's layout rules (ARCHITECTURE.md), checked on the source with ``ast``.

* no import cycle between the core's modules (imports inside functions count too);
* no private name (``_x``) imported from another stage: private modules and helpers are used
  only inside their own subpackage;
* no core file over 800 lines;
* one home for each shared rule: no second definition of the functions that own a rule.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

CORE = Path(__file__).resolve().parents[1] / "PanCancerSubtype" / "PanCancerSubtypeLib"
PKG = "PanCancerSubtypeLib"


def _module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _is_package(mod: str) -> bool:
    return MODULES[mod].name == "__init__.py"


def _resolve(mod: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if _is_package(mod) else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(mod: str):
    """(target module, imported name or None, lineno) for every import of ``mod`` in the core."""
    tree = ast.parse(MODULES[mod].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == PKG:
                    yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, node)
            if target.split(".")[0] != PKG:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                else:
                    yield target, a.name, node.lineno


def _graph() -> Dict[str, Set[str]]:
    g: Dict[str, Set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _, _ in _imports(m):
            if target in MODULES and target != m:
                # a submodule importing its own package's __init__ (for __version__) is no edge
                # into the package's contents
                if _is_package(target) and m.startswith(target + "."):
                    continue
                g[m].add(target)
    return g


def _cycles(g: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_cycle_detector_finds_a_planted_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_core():
    cycles = _cycles(_graph())
    assert not cycles, f"import cycles: {cycles}"


def _stage(mod: str) -> str:
    """The stage a module belongs to: its subpackage (``PanCancerSubtypeLib.shape``) or itself."""
    parts = mod.split(".")
    if len(parts) >= 3 or (len(parts) == 2 and _is_package(mod)):
        return ".".join(parts[:2])
    return mod


def test_no_private_name_crosses_a_stage():
    bad = []
    for m in MODULES:
        for target, name, line in _imports(m):
            private_module = any(p.startswith("_") and p != "__init__"
                                 for p in target.split(".")[1:])
            private_name = name is not None and name.startswith("_") and name != "__version__"
            if (private_module or private_name) and _stage(target) != _stage(m):
                bad.append(f"{m}:{line} imports {target}{'.' + name if name else ''}")
    assert not bad, bad


def test_no_core_file_over_800_lines():
    long = {str(p.relative_to(CORE)): n for p in CORE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 800}
    assert not long, long


RULE_OWNERS = {
    # function or constant name -> the one module allowed to define it
    "sha256_file": "PanCancerSubtypeLib.files",
    "atomic_write_text": "PanCancerSubtypeLib.files",
    "save_figure": "PanCancerSubtypeLib.files",
    "write_json": "PanCancerSubtypeLib.files",
    "json_default": "PanCancerSubtypeLib.files",
    "to_jsonable": "PanCancerSubtypeLib.files",
    "adjust_pvalues": "PanCancerSubtypeLib.multitest",
    "bh_fdr": "PanCancerSubtypeLib.multitest",
    "feature_columns": "PanCancerSubtypeLib.tables",
    "read_feature_table": "PanCancerSubtypeLib.tables",
    "read_table": "PanCancerSubtypeLib.tables",
    "choose_label_column": "PanCancerSubtypeLib.tables",
    "join_features_labels": "PanCancerSubtypeLib.tables",
    "META_COLUMNS": "PanCancerSubtypeLib.tables",
    "FeaturePreparer": "PanCancerSubtypeLib.preprocessing",
    "c_index": "PanCancerSubtypeLib.survival",
    "discover": "PanCancerSubtypeLib.discovery.pipeline",
    "discovery_validation": "PanCancerSubtypeLib.discovery.design",
    "feature_family": "PanCancerSubtypeLib.tables",
    "icc": "PanCancerSubtypeLib.reliability",
    "read_manifest": "PanCancerSubtypeLib.cohort.manifest",
    "consensus_cdf": "PanCancerSubtypeLib.consensus.statistics",
    "atomic_path": "PanCancerSubtypeLib.files",
    "check_output_path": "PanCancerSubtypeLib.files",
    "is_timing_column": "PanCancerSubtypeLib.tables",
    "exit_code": "PanCancerSubtypeLib.errors",
    "LABEL_RULE": "PanCancerSubtypeLib.io",
    "LPSOrder": "PanCancerSubtypeLib.voxel_order",
    "in_lps_order": "PanCancerSubtypeLib.voxel_order",
    "reordered_onto": "PanCancerSubtypeLib.voxel_order",
    "select_labels": "PanCancerSubtypeLib.io",
    "second_channel_fit": "PanCancerSubtypeLib.segmentation._points",
    "check_click_points": "PanCancerSubtypeLib.segmentation.semiauto",
    "check_not_constant": "PanCancerSubtypeLib.segmentation.semiauto",
    "read_second_channel": "PanCancerSubtypeLib.segmentation.semiauto",
    "read_click_manifest": "PanCancerSubtypeLib.cohort.manifest",
    "parse_points": "PanCancerSubtypeLib.cohort.manifest",
}


def _definitions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    yield t.id


@pytest.mark.parametrize("name,owner", sorted(RULE_OWNERS.items()))
def test_each_shared_rule_is_defined_once(name, owner):
    where = [m for m, p in MODULES.items() if name in set(_definitions(p))]
    assert where == [owner], f"{name} defined in {where}, expected only in {owner}"


def test_slicer_layer_keeps_no_copy_of_core_rules():
    """The Slicer layer calls the core for statistics, curves and clustering: it defines none of
    the rules above itself (a thin wrapper with the same name that calls the core is allowed only
    where it converts MRML nodes, which these do not need)."""
    slicer_lib = CORE.parent / "PanCancerSubtypeSlicerLib"
    banned = {"consensus_cdf", "cdf_from_consensus", "adjust_pvalues", "bh_fdr", "c_index",
              "FeaturePreparer", "META_COLUMNS", "NON_FEATURE_COLUMNS", "sha256_file"}
    found = {f"{p.name}: {n}" for p in slicer_lib.glob("*.py") for n in _definitions(p)
             if n in banned}
    assert not found, found
