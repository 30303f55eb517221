"""MRML adapters: Slicer scene nodes <-> NumPy / SimpleITK / pandas.

This module is the only place where the extension converts between MRML nodes and the plain data
types of the core library (:mod:`PanCancerSubtypeLib`, which never imports Slicer).  It imports
``slicer`` and ``vtk`` but no Qt, so it runs inside the Slicer application, in ``PythonSlicer`` and
with Kitware's standalone ``slicer-core`` wheel (which is how the pytest suite tests it against real
MRML).

Conventions
-----------
* **Arrays** are indexed ``[k, j, i]`` (slice, row, column), as both ``SimpleITK.GetArrayFromImage``
  and ``slicer.util.arrayFromVolume`` return them.
* **Physical space.**  SimpleITK / ITK / DICOM / the core library work in LPS millimetres; MRML works
  in RAS millimetres.  ``RAS = diag(-1, -1, 1) * LPS``.  A SimpleITK image with origin ``o``,
  spacing ``s`` and direction ``D`` (columns = axis directions) has
  ``IJKToRAS = F @ [[D @ diag(s), o], [0, 1]]`` with ``F = diag(-1, -1, 1, 1)``.
* **Meshes** from the core (SPHARM reconstruction) are LPS millimetres; they are flipped to RAS
  when turned into model nodes.
* **Scene.**  Every function that creates nodes takes the scene as a parameter.  ``scene=None``
  means ``slicer.mrmlScene`` (only defined inside the application); with ``slicer-core`` pass a
  ``slicer.vtkMRMLScene()``.
* **Transforms.**  Nodes under a (non-identity) parent transform are rejected: harden the
  transform first (Data module, right click, "Harden transform"); silently ignoring it would give
  features of a mis-placed mask.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

import slicer
import vtk

#: LPS <-> RAS flip (its own inverse)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: default colours (RGB 0-1) of the segments the extension creates, by segment name
SEGMENT_COLORS: Dict[str, Tuple[float, float, float]] = {
    "tumour": (0.90, 0.20, 0.20),
    "parenchyma": (0.85, 0.75, 0.55),
    "lung": (0.77, 0.70, 0.55),
    "brain": (0.98, 0.82, 0.70),
    "breast": (0.95, 0.80, 0.75),
    "TC": (0.85, 0.10, 0.10),
    "TIM": (0.95, 0.60, 0.10),
    "PM5 ring": (0.20, 0.60, 0.90),
    "PM10 ring": (0.30, 0.80, 0.40),
}

#: label values of the core's ``regions.regions_labelmap`` and their segment names: tumour core,
#: tumour-interface margin, and the 0-5 mm and 5-10 mm rings of peritumoural parenchyma (the PM5 /
#: PM10 regions of the features are these rings plus, in the reference definition, the tumour)
REGION_LABELS: Dict[int, str] = {1: "TC", 2: "TIM", 3: "PM5 ring", 4: "PM10 ring"}

#: a qualitative palette for plot series (tab10)
PLOT_COLORS: List[Tuple[float, float, float]] = [
    (0.122, 0.467, 0.706), (1.000, 0.498, 0.055), (0.173, 0.627, 0.173), (0.839, 0.153, 0.157),
    (0.580, 0.404, 0.741), (0.549, 0.337, 0.294), (0.890, 0.467, 0.761), (0.498, 0.498, 0.498),
    (0.737, 0.741, 0.133), (0.090, 0.745, 0.812),
]


# ----------------------------------------------------------------------------------------------
# scene helpers
# ----------------------------------------------------------------------------------------------

def get_scene(scene=None):
    """Return ``scene``, or the application's ``slicer.mrmlScene`` when it is None."""
    if scene is not None:
        return scene
    s = getattr(slicer, "mrmlScene", None)
    if s is None:
        raise RuntimeError("no MRML scene: pass scene=slicer.vtkMRMLScene() outside the Slicer "
                           "application (slicer.mrmlScene exists only inside it)")
    return s


def ensure_segmentation_converters() -> None:
    """Register the segmentation representation converter rules if nobody did.

    The Slicer application registers them when the Segmentations module starts; a bare
    ``slicer-core`` process has none, and then segments cannot hold a binary labelmap.
    """
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    have = {type(r).__name__ for r in factory.GetConverterRules()}
    for cls in (slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule,
                slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule,
                slicer.vtkClosedSurfaceToFractionalLabelmapConversionRule,
                slicer.vtkFractionalLabelmapToClosedSurfaceConversionRule):
        if cls.__name__ not in have:
            factory.RegisterConverterRule(cls())


def _check_untransformed(node) -> None:
    tnode = node.GetParentTransformNode()
    if tnode is None:
        return
    m = vtk.vtkMatrix4x4()
    if tnode.IsTransformToWorldLinear():
        tnode.GetMatrixTransformToWorld(m)
        if np.allclose(slicer.util.arrayFromVTKMatrix(m), np.eye(4)):
            return
    raise ValueError(f"node {node.GetName()!r} is under the transform {tnode.GetName()!r}: harden "
                     f"the transform first (Data module: right click > Harden transform)")


# ----------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------

def ijk_to_ras_from_geometry(origin_lps: Sequence[float], spacing: Sequence[float],
                             direction_lps: Sequence[float]) -> np.ndarray:
    """4x4 IJK-to-RAS matrix of a SimpleITK-style (LPS) origin, spacing and 3x3 direction."""
    d = np.asarray(direction_lps, dtype=float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = d @ np.diag(np.asarray(spacing, dtype=float))
    m[:3, 3] = np.asarray(origin_lps, dtype=float)
    return LPS_TO_RAS @ m


def geometry_from_ijk_to_ras(ijk_to_ras) -> Tuple[Tuple[float, ...], Tuple[float, ...],
                                                   Tuple[float, ...]]:
    """(origin, spacing, direction) in LPS, SimpleITK order, of a 4x4 IJK-to-RAS matrix."""
    if isinstance(ijk_to_ras, vtk.vtkMatrix4x4):
        ijk_to_ras = slicer.util.arrayFromVTKMatrix(ijk_to_ras)
    m = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)
    cols = m[:3, :3]
    spacing = np.linalg.norm(cols, axis=0)
    if np.any(spacing <= 0):
        raise ValueError(f"degenerate IJK-to-RAS matrix (zero spacing): {ijk_to_ras.tolist()}")
    direction = cols / spacing
    return (tuple(float(x) for x in m[:3, 3]), tuple(float(x) for x in spacing),
            tuple(float(x) for x in direction.ravel()))


def ijk_to_ras_from_sitk(image) -> np.ndarray:
    """4x4 IJK-to-RAS matrix of a 3D SimpleITK image."""
    return ijk_to_ras_from_geometry(image.GetOrigin(), image.GetSpacing(), image.GetDirection())


def volume_ijk_to_ras(node) -> np.ndarray:
    """The 4x4 IJK-to-RAS matrix of a volume node as a NumPy array."""
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return slicer.util.arrayFromVTKMatrix(m)


def _as_kji_array(image_or_array) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(array [k, j, i], IJK-to-RAS or None) of a SimpleITK image or a NumPy array."""
    if isinstance(image_or_array, np.ndarray):
        return image_or_array, None
    import SimpleITK as sitk

    if image_or_array.GetDimension() != 3:
        raise ValueError(f"expected a 3D image, got {image_or_array.GetDimension()}D")
    if image_or_array.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("expected a scalar image, got "
                         f"{image_or_array.GetNumberOfComponentsPerPixel()} components per voxel")
    return sitk.GetArrayFromImage(image_or_array), ijk_to_ras_from_sitk(image_or_array)


# ----------------------------------------------------------------------------------------------
# volumes
# ----------------------------------------------------------------------------------------------

def volume_node_from_array(array: np.ndarray, ijk_to_ras, scene=None, name: str = "Volume",
                           node=None, labelmap: bool = False):
    """Put a [k, j, i] array with its IJK-to-RAS matrix into a (new or given) volume node."""
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"volume {name!r}: expected a 3D [k, j, i] array, got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype == np.int64:
        # Slicer rejects 'long long' voxels (not rendered correctly)
        if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
            raise ValueError(f"volume {name!r}: int64 values do not fit int32")
        array = array.astype(np.int32)
    if node is None:
        cls = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        node = get_scene(scene).AddNewNodeByClass(cls, name)
    else:
        _check_untransformed(node)
    m = ijk_to_ras if isinstance(ijk_to_ras, vtk.vtkMatrix4x4) else \
        slicer.util.vtkMatrixFromArray(np.asarray(ijk_to_ras, dtype=float))
    node.SetIJKToRASMatrix(m)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def volume_node_from_sitk(image, scene=None, name: str = "Volume", node=None,
                          labelmap: bool = False):
    """A (new or given) scalar or label-map volume node holding a 3D SimpleITK image.

    Voxel values and type are kept (bool -> uint8, int64 -> int32); geometry is converted LPS ->
    RAS exactly (see the module docstring).
    """
    arr, m = _as_kji_array(image)
    return volume_node_from_array(arr, m, scene=scene, name=name, node=node, labelmap=labelmap)


def array_from_volume_node(node, copy: bool = True) -> np.ndarray:
    """Voxels of a volume node as a [k, j, i] array (a copy unless ``copy=False``)."""
    if node is None or node.GetImageData() is None:
        raise ValueError(f"volume {getattr(node, 'GetName', lambda: None)()!r} has no image data")
    arr = slicer.util.arrayFromVolume(node)
    return arr.copy() if copy else arr


def sitk_from_volume_node(node):
    """A SimpleITK image (LPS geometry) with the voxels and geometry of a volume node."""
    import SimpleITK as sitk

    _check_untransformed(node)
    arr = array_from_volume_node(node)
    if arr.ndim != 3:
        raise ValueError(f"volume {node.GetName()!r}: only scalar volumes are supported "
                         f"(array shape {arr.shape})")
    img = sitk.GetImageFromArray(arr)
    origin, spacing, direction = geometry_from_ijk_to_ras(volume_ijk_to_ras(node))
    img.SetOrigin(origin)
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    return img


def reference_matches(node_a, node_b, tol: float = 1e-6) -> bool:
    """True when two volume nodes have the same grid (dimensions and IJK-to-RAS within tol)."""
    da = node_a.GetImageData().GetDimensions()
    db = node_b.GetImageData().GetDimensions()
    return tuple(da) == tuple(db) and np.allclose(volume_ijk_to_ras(node_a),
                                                  volume_ijk_to_ras(node_b), atol=tol)


# ----------------------------------------------------------------------------------------------
# segmentations
# ----------------------------------------------------------------------------------------------

def new_segmentation_node(reference_volume_node, scene=None, name: str = "Segmentation"):
    """An empty segmentation node whose geometry is that of ``reference_volume_node``."""
    ensure_segmentation_converters()
    seg = get_scene(scene).AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    seg.CreateDefaultDisplayNodes()
    seg.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    return seg


def set_segment_from_mask(segmentation_node, mask, reference_volume_node, segment_name: str,
                          color: Optional[Sequence[float]] = None, scene=None) -> str:
    """Create or replace the segment ``segment_name`` from a binary mask; returns its segment id.

    ``mask`` is a [k, j, i] array on the reference volume's grid, or a SimpleITK image on that
    grid (its geometry is checked against the reference to 1e-4 mm).  Non-zero voxels are inside.
    """
    ensure_segmentation_converters()
    arr, m = _as_kji_array(mask)
    ref_m = volume_ijk_to_ras(reference_volume_node)
    dims = tuple(reversed(reference_volume_node.GetImageData().GetDimensions()))
    if arr.shape != dims:
        raise ValueError(f"segment {segment_name!r}: mask shape {arr.shape} differs from the "
                         f"reference volume {reference_volume_node.GetName()!r} shape {dims}")
    if m is not None and not np.allclose(m, ref_m, atol=1e-4):
        raise ValueError(f"segment {segment_name!r}: mask geometry differs from the reference "
                         f"volume {reference_volume_node.GetName()!r}:\n{m}\nvs\n{ref_m}")
    segmentation = segmentation_node.GetSegmentation()
    sid = segmentation.GetSegmentIdBySegmentName(segment_name)
    if not sid:
        rgb = color if color is not None else SEGMENT_COLORS.get(segment_name, (0.5, 0.5, 0.5))
        sid = segmentation.AddEmptySegment(segment_name, segment_name, list(map(float, rgb)))
    elif color is not None:
        segmentation.GetSegment(sid).SetColor(*map(float, color))
    segmentation.GetSegment(sid).SetNameAutoGenerated(False)
    # a temporary label map outside the scene: no subject-hierarchy items, no undo entries
    tmp = slicer.vtkMRMLLabelMapVolumeNode()
    volume_node_from_array((np.asarray(arr) != 0).astype(np.uint8), ref_m, node=tmp)
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(sid)
    if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            tmp, segmentation_node, ids):
        raise RuntimeError(f"importing segment {segment_name!r} into "
                           f"{segmentation_node.GetName()!r} failed")
    return sid


def segmentation_node_from_masks(masks: Mapping[str, Any], reference_volume_node, scene=None,
                                 name: str = "Segmentation", node=None,
                                 colors: Optional[Mapping[str, Sequence[float]]] = None):
    """A segmentation node with one named, coloured segment per mask (name -> array/image)."""
    if node is None:
        node = new_segmentation_node(reference_volume_node, scene=scene, name=name)
    colors = dict(colors or {})
    for seg_name, mask in masks.items():
        set_segment_from_mask(node, mask, reference_volume_node, seg_name,
                              color=colors.get(seg_name), scene=scene)
    return node


def segmentation_node_from_labelmap(labels, reference_volume_node, names: Mapping[int, str],
                                    scene=None, name: str = "Segmentation", node=None):
    """Segments from a multi-label [k, j, i] map: one segment per label value in ``names``.

    Used for the regions map (``REGION_LABELS``: TC=1, TIM=2, PM5 ring=3, PM10 ring=4).  Labels absent from
    the map still get an (empty) segment so the segment list is always the same.
    """
    arr, _ = _as_kji_array(labels)
    masks = {nm: (arr == int(v)) for v, nm in names.items()}
    return segmentation_node_from_masks(masks, reference_volume_node, scene=scene, name=name,
                                        node=node)


def segment_names(segmentation_node) -> List[str]:
    seg = segmentation_node.GetSegmentation()
    return [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())]


def segment_id(segmentation_node, segment: str) -> str:
    """Segment id of ``segment`` given as an id or a name (error lists the segments)."""
    seg = segmentation_node.GetSegmentation()
    if seg.GetSegment(segment) is not None:
        return segment
    sid = seg.GetSegmentIdBySegmentName(segment)
    if not sid:
        raise KeyError(f"segmentation {segmentation_node.GetName()!r} has no segment "
                       f"{segment!r} (segments: {segment_names(segmentation_node)})")
    return sid


def segment_labels(segmentation_node, segments: Sequence[str]) -> List[str]:
    """The names to show for ``segments`` (ids or names): each segment's name, with its id in
    brackets where two of them share a name (Slicer allows equal names)."""
    seg = segmentation_node.GetSegmentation()
    ids = [segment_id(segmentation_node, s) for s in segments]
    names = [seg.GetSegment(i).GetName() for i in ids]
    return [f"{n} ({i})" if names.count(n) > 1 else n for i, n in zip(ids, names)]


def mask_from_segment(segmentation_node, segment: str, reference_volume_node,
                      scene=None) -> np.ndarray:
    """Binary uint8 [k, j, i] mask of one segment (id or name) on the reference volume's grid."""
    ensure_segmentation_converters()
    scene = segmentation_node.GetScene() or get_scene(scene)
    _check_untransformed(segmentation_node)
    sid = segment_id(segmentation_node, segment)
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(sid)
    tmp = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__pcs_temp__")
    try:
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, tmp, reference_volume_node):
            raise RuntimeError(f"exporting segment {segment!r} of "
                               f"{segmentation_node.GetName()!r} failed")
        arr = array_from_volume_node(tmp)
    finally:
        _remove_node(scene, tmp)
    return (arr != 0).astype(np.uint8)


def mask_sitk_from_segment(segmentation_node, segment: str, reference_volume_node, scene=None):
    """Like :func:`mask_from_segment` but a uint8 SimpleITK image with the reference geometry."""
    import SimpleITK as sitk

    arr = mask_from_segment(segmentation_node, segment, reference_volume_node, scene=scene)
    img = sitk.GetImageFromArray(arr)
    o, s, d = geometry_from_ijk_to_ras(volume_ijk_to_ras(reference_volume_node))
    img.SetOrigin(o)
    img.SetSpacing(s)
    img.SetDirection(d)
    return img


def save_segmentation(segmentation_node, path: str, scene=None) -> str:
    """Write a segmentation node to a Slicer ``.seg.nrrd`` file; returns the path."""
    scene = segmentation_node.GetScene() or get_scene(scene)
    if not str(path).endswith(".seg.nrrd"):
        raise ValueError(f"segmentation file name must end with .seg.nrrd: {path}")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    try:
        storage.SetFileName(str(path))
        if not storage.WriteData(segmentation_node):
            raise OSError(f"could not write segmentation {segmentation_node.GetName()!r} to {path}")
    finally:
        _remove_node(scene, storage)
    return str(path)


def load_volume(path: str, scene=None, name: Optional[str] = None, labelmap: bool = False):
    """Read an image file with SimpleITK into a new volume node (works without the app's IO)."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    if name is None:
        import os

        name = os.path.basename(str(path)).split(".")[0]
    return volume_node_from_sitk(img, scene=scene, name=name, labelmap=labelmap)


def _remove_node(scene, node) -> None:
    if node is None:
        return
    disp = node.GetDisplayNode() if hasattr(node, "GetDisplayNode") else None
    if disp is not None and hasattr(disp, "GetColorNode"):
        color = disp.GetColorNode()
        # a temporary label map may get its own generated colour table; never remove shared ones
        if color is not None and color.GetName() and "__pcs_temp__" in color.GetName():
            scene.RemoveNode(color)
    scene.RemoveNode(node)


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------

def _is_numeric_series(s) -> bool:
    import pandas as pd

    return (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype))


def _registry_lookup(column: str):
    try:
        from PanCancerSubtypeLib import registry
    except ImportError:
        return None
    try:
        return registry.get(column)
    except Exception:   # registry groups whose optional dependency is missing
        return None


def table_node_from_dataframe(df, scene=None, name: str = "Table", node=None,
                              descriptions: Optional[Mapping[str, str]] = None,
                              use_registry: bool = True):
    """A (new or given) table node with the DataFrame's columns, types kept.

    Numeric columns become ``vtkDoubleArray`` (integers ``vtkIntArray`` / ``vtkLongLongArray``;
    booleans ``vtkIntArray`` 0/1), others ``vtkStringArray`` (missing values -> ``""``).  Each
    column's description and unit come from ``descriptions`` or, with ``use_registry``, from the
    feature registry (:mod:`PanCancerSubtypeLib.registry`), so the Tables module shows what every
    feature means.  The index is dropped; reset it first if it holds data.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    if node is None:
        node = get_scene(scene).AddNewNodeByClass("vtkMRMLTableNode", name)
    descriptions = dict(descriptions or {})
    from vtk.util import numpy_support

    table = vtk.vtkTable()
    for col in df.columns:
        s = df[col]
        cname = str(col)
        if ((pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype))
                and not s.isna().any()):
            values = s.to_numpy().astype(np.int64)
            fits32 = not len(values) or (values.min() >= np.iinfo(np.int32).min
                                         and values.max() <= np.iinfo(np.int32).max)
            arr = numpy_support.numpy_to_vtk(values.astype(np.int32) if fits32 else values,
                                             deep=True)
        elif _is_numeric_series(s):  # floats; nullable integers with missing values -> NaN
            arr = numpy_support.numpy_to_vtk(s.to_numpy(dtype=float, na_value=np.nan), deep=True,
                                             array_type=vtk.VTK_DOUBLE)
        else:
            arr = vtk.vtkStringArray()
            arr.SetNumberOfValues(len(s))
            for i, v in enumerate(s.tolist()):
                missing = v is None or (isinstance(v, float) and math.isnan(v))
                arr.SetValue(i, "" if missing else str(v))
        arr.SetName(cname)
        table.AddColumn(arr)
    was = node.StartModify()
    try:
        node.SetAndObserveTable(table)
        for col in df.columns:
            cname = str(col)
            node.RemoveAllColumnProperties(cname)
            desc = descriptions.get(cname)
            unit = ""
            if use_registry:
                spec = _registry_lookup(cname)
                if spec is not None:
                    desc = desc or spec.description
                    unit = spec.unit
            if desc:
                node.SetColumnDescription(cname, desc)
            if unit:
                node.SetColumnUnitLabel(cname, unit)
    finally:
        node.EndModify(was)
    return node


def dataframe_from_table_node(node, convert_numeric: bool = True, text: Sequence[str] = ()):
    """A DataFrame of a table node (empty text cells stay ""). With ``convert_numeric`` (tables
    read from CSV without a schema are all strings), a string column whose every non-empty
    value parses as a number becomes numeric (empty cells NaN), except identifier and metadata
    columns (``ID``, ``Segment``, ... :func:`PanCancerSubtypeLib.tables.is_metadata_column`) and
    columns holding a number written with leading zeros (``007``): those stay text, as do the
    columns named in ``text`` (a group column: "1", not 1.0).
    """
    import re

    import pandas as pd

    from PanCancerSubtypeLib.tables import is_metadata_column

    leading_zero = re.compile(r"^\s*[-+]?0\d")
    table = node.GetTable()
    data = {}
    for c in range(table.GetNumberOfColumns()):
        col = table.GetColumn(c)
        name = col.GetName()
        n = col.GetNumberOfTuples()
        if isinstance(col, vtk.vtkStringArray):
            values = [col.GetValue(i) for i in range(n)]
            s = pd.Series(values, dtype=object)
            if convert_numeric:
                empty = s.str.strip() == ""
                nonempty = s[~empty]
                conv = pd.to_numeric(nonempty, errors="coerce")
                if (len(nonempty) and not conv.isna().any() and not is_metadata_column(name)
                        and name not in text
                        and not nonempty.map(lambda v: bool(leading_zero.match(v))).any()):
                    s = pd.to_numeric(s.where(~empty, np.nan), errors="coerce")
        else:
            from vtk.util import numpy_support

            if col.GetNumberOfComponents() != 1:
                raise ValueError(f"table {node.GetName()!r}: column {name!r} has "
                                 f"{col.GetNumberOfComponents()} components")
            s = pd.Series(numpy_support.vtk_to_numpy(col).copy())
        data[name] = s
    return pd.DataFrame(data)


def column_descriptions(node) -> Dict[str, str]:
    """{column: description} of a table node (empty descriptions left out)."""
    out = {}
    for c in range(node.GetNumberOfColumns()):
        nm = node.GetColumnName(c)
        d = node.GetColumnDescription(nm)
        if d:
            out[nm] = d
    return out


def save_table(node, path: str, scene=None) -> str:
    """Write a table node as CSV with full precision, and Slicer's ``.schema.csv`` beside it.

    Slicer's own table writer keeps only 6 significant digits of doubles, which would change
    feature values (relative error ~1e-6); so the values are written by pandas (shortest
    round-trip representation) and the schema (column types, descriptions, units) by Slicer's
    writer, which lets Slicer load the CSV back with its types.  Returns the path.
    """
    import os
    import shutil
    import tempfile

    scene = node.GetScene() or get_scene(scene)
    path = str(path)
    storage = scene.AddNewNodeByClass("vtkMRMLTableStorageNode")
    tmp = tempfile.mkdtemp(prefix="pcs_table_")
    try:
        tmp_csv = os.path.join(tmp, os.path.basename(path))
        storage.SetFileName(tmp_csv)
        if not storage.WriteData(node):
            raise OSError(f"could not write table {node.GetName()!r} to {path}")
        schema = tmp_csv[:-4] + ".schema.csv" if tmp_csv.lower().endswith(".csv") else None
        if schema and os.path.isfile(schema):
            shutil.move(schema, path[:-4] + ".schema.csv")
        df = dataframe_from_table_node(node, convert_numeric=False)
        for c in df.columns:
            if df[c].dtype.kind == "f":  # shortest repr that reads back to the same double
                df[c] = [("" if v != v else repr(float(v))) for v in df[c].tolist()]
        df.to_csv(path, index=False)
    finally:
        _remove_node(scene, storage)
        shutil.rmtree(tmp, ignore_errors=True)
    return path


# ----------------------------------------------------------------------------------------------
# plots
# ----------------------------------------------------------------------------------------------

def step_xy(x: Sequence[float], y: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Points of a right-continuous step function through (x, y), for a line plot.

    Slicer's line plots join points by straight segments; a survival curve S(t) that drops at t
    must be drawn flat until t and then vertically, so every jump becomes two points.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"step_xy: x and y must be 1D of the same length ({x.shape}, {y.shape})")
    if len(x) == 0:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def plot_chart_from_series(series: Sequence[Mapping[str, Any]], scene=None, name: str = "Chart",
                           title: str = "", x_title: str = "", y_title: str = "", node=None,
                           plot_type: str = "line"):
    """A chart node with one plot series per entry of ``series``.

    Each entry is ``{"name": str, "x": array, "y": array}`` with optional ``"color"`` (RGB 0-1),
    ``"step": True`` (draw as a step function) and ``"type"`` ("line", "scatter", "bar").
    Each series gets its own table node (two columns) so series may differ in length.
    Returns the chart node; the series are ``chart.GetNthPlotSeriesNode(i)``.
    """
    scene = get_scene(scene)
    types = {"line": slicer.vtkMRMLPlotSeriesNode.PlotTypeLine,
             "scatter": slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter,
             "bar": slicer.vtkMRMLPlotSeriesNode.PlotTypeBar}
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    else:
        node.RemoveAllPlotSeriesNodeIDs()
    node.SetTitle(title or name)
    node.SetXAxisTitle(x_title)
    node.SetYAxisTitle(y_title)
    node.SetLegendVisibility(True)
    for i, s in enumerate(series):
        sname = str(s["name"])
        x = np.asarray(s["x"], dtype=float)
        y = np.asarray(s["y"], dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"plot series {sname!r}: x and y lengths differ ({x.shape}, {y.shape})")
        if s.get("step"):
            x, y = step_xy(x, y)
        tnode = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{name} {sname} data")
        slicer.util.updateTableFromArray(tnode, [x, y], columnNames=["x", "y"])
        pnode = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", f"{name} {sname}")
        pnode.SetAndObserveTableNodeID(tnode.GetID())
        pnode.SetXColumnName("x")
        pnode.SetYColumnName("y")
        pnode.SetPlotType(types[s.get("type", plot_type)])
        if s.get("type", plot_type) == "line":
            pnode.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
        pnode.SetColor(*map(float, s.get("color", PLOT_COLORS[i % len(PLOT_COLORS)])))
        node.AddAndObservePlotSeriesNodeID(pnode.GetID())
    return node


def chart_series_arrays(chart_node) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """{series name: (x, y)} of a chart node (reads back what :func:`plot_chart_from_series` wrote)."""
    out = {}
    for i in range(chart_node.GetNumberOfPlotSeriesNodes()):
        p = chart_node.GetNthPlotSeriesNode(i)
        t = p.GetTableNode()
        x = slicer.util.arrayFromTableColumn(t, p.GetXColumnName()).copy()
        y = slicer.util.arrayFromTableColumn(t, p.GetYColumnName()).copy()
        out[p.GetName()] = (x, y)
    return out


def km_chart(curves: Mapping[str, Tuple[Sequence[float], Sequence[float]]], scene=None,
             name: str = "Kaplan-Meier", time_title: str = "time", node=None):
    """Kaplan-Meier chart: one step series per group; ``curves[group] = (times, survival)``.

    ``times`` must start at 0 with survival 1 (as lifelines' ``survival_function_`` does).
    """
    series = [{"name": str(g), "x": t, "y": s, "step": True} for g, (t, s) in curves.items()]
    return plot_chart_from_series(series, scene=scene, name=name, title=name,
                                  x_title=time_title, y_title="survival probability", node=node)


def consensus_cdf_chart(cdfs: Mapping[int, Tuple[Sequence[float], Sequence[float]]], scene=None,
                        name: str = "Consensus CDF", node=None):
    """Consensus CDF per k: ``cdfs[k] = (consensus index values, CDF)`` -> one series per k."""
    series = [{"name": f"k={k}", "x": x, "y": y, "step": True} for k, (x, y) in sorted(cdfs.items())]
    return plot_chart_from_series(series, scene=scene, name=name, title=name,
                                  x_title="consensus index", y_title="CDF", node=node)


def delta_area_chart(ks: Sequence[int], delta_area: Sequence[float], scene=None,
                     name: str = "Delta area", node=None):
    """Relative change in area under the consensus CDF against k (ConsensusClusterPlus' plot)."""
    series = [{"name": "delta area", "x": ks, "y": delta_area, "type": "line"}]
    chart = plot_chart_from_series(series, scene=scene, name=name, title=name, x_title="k",
                                   y_title="relative change in CDF area", node=node)
    chart.GetNthPlotSeriesNode(0).SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
    return chart


# ----------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------

def polydata_from_mesh(vertices, faces, lps: bool = True):
    """vtkPolyData of a triangle mesh (vertices N x 3 mm, faces M x 3 vertex indices)."""
    from vtk.util import numpy_support

    v = np.asarray(vertices, dtype=float)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"mesh vertices must be N x 3, got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"mesh faces must be M x 3 triangles, got {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"mesh faces index vertices outside 0..{len(v) - 1}")
    if lps:
        v = v * np.array([-1.0, -1.0, 1.0])
    points = vtk.vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(v), deep=True))
    cells = vtk.vtkCellArray()
    offsets = numpy_support.numpy_to_vtkIdTypeArray(np.arange(0, 3 * len(f) + 1, 3,
                                                              dtype=np.int64), deep=True)
    conn = numpy_support.numpy_to_vtkIdTypeArray(np.ascontiguousarray(f.ravel()), deep=True)
    cells.SetData(offsets, conn)
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    if lps:
        # the LPS->RAS flip has determinant +1 (two axes), so triangle orientation is kept
        pass
    return poly


def model_node_from_mesh(vertices, faces, scene=None, name: str = "Model", node=None,
                         lps: bool = True, color: Optional[Sequence[float]] = None):
    """A (new or given) model node of a triangle mesh; ``lps=True`` flips LPS vertices to RAS."""
    poly = polydata_from_mesh(vertices, faces, lps=lps)
    if node is None:
        node = get_scene(scene).AddNewNodeByClass("vtkMRMLModelNode", name)
    node.SetAndObservePolyData(poly)
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    if color is not None and node.GetDisplayNode() is not None:
        node.GetDisplayNode().SetColor(*map(float, color))
    return node


def mesh_from_model_node(node, lps: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """(vertices, triangle faces) of a model node, vertices in LPS when ``lps``."""
    from vtk.util import numpy_support

    poly = node.GetPolyData()
    v = numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(float).copy()
    if lps:
        v = v * np.array([-1.0, -1.0, 1.0])
    polys = poly.GetPolys()
    conn = numpy_support.vtk_to_numpy(polys.GetConnectivityArray()).astype(np.int64)
    offs = numpy_support.vtk_to_numpy(polys.GetOffsetsArray()).astype(np.int64)
    if np.any(np.diff(offs) != 3):
        raise ValueError(f"model {node.GetName()!r} has non-triangle cells")
    return v, conn.reshape(-1, 3)
