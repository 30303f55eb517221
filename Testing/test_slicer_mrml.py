"""MRML adapter tests against real MRML (Kitware's ``slicer-core`` wheel, no GUI).

Independent references: Slicer's own NRRD reader (``vtkMRMLVolumeArchetypeStorageNode``) for the
geometry, ``slicerio`` (a separate reader of ``.seg.nrrd``) for saved segmentations, SimpleITK for
the images and masks, and explicit analytic values for tables, plots and meshes.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slicer

slicer = pytest.importorskip("slicer", reason="slicer-core wheel not installed (pip install "
                                              "slicer-core vtk==9.6.2): MRML tests skipped")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' package is not slicer-core (no vtkMRMLScene)",
                allow_module_level=True)

import SimpleITK as sitk  # noqa: E402
import vtk  # noqa: E402

from PanCancerSubtypeSlicerLib import mrml  # noqa: E402


@pytest.fixture()
def scene():
    s = slicer.vtkMRMLScene()
    yield s
    s.Clear(1)


def _read_with_slicer(scene, path, labelmap=False):
    """Read a file with Slicer's own reader (independent of mrml.py's geometry code)."""
    cls = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(cls, "slicer_read")
    st = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    st.SetFileName(str(path))
    st.SetSingleFile(1)
    assert st.ReadData(node) == 1, f"Slicer could not read {path}"
    return node


def _ras_to_ras_index_map(node_a, node_b):
    """Integer 4x4 that maps IJK of node_a to IJK of node_b through RAS (must be a permutation)."""
    a = mrml.volume_ijk_to_ras(node_a)
    b = mrml.volume_ijk_to_ras(node_b)
    m = np.linalg.inv(b) @ a
    assert np.allclose(m, np.round(m), atol=1e-5), f"grids are not aligned:\n{m}"
    return np.round(m).astype(int)


def _resample_by_index_map(arr_a, m):
    """arr_a (k, j, i) re-indexed into node_b's (k, j, i) via the integer IJK map m (a->b)."""
    perm = m[:3, :3]
    off = m[:3, 3]
    nk, nj, ni = arr_a.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()])
    out_ijk = perm @ ijk + off[:, None]
    shape_b = tuple(int(x) for x in np.abs(perm) @ np.array([ni, nj, nk]))  # (ni, nj, nk) of b
    out = np.zeros((shape_b[2], shape_b[1], shape_b[0]), dtype=arr_a.dtype)
    out[out_ijk[2], out_ijk[1], out_ijk[0]] = arr_a.ravel()
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize("case_id", ["brain1", "lung1", "brats_pat0001"])
def test_volume_geometry_matches_slicer_reader(scene, shared_cases, case_id):
    """Our SimpleITK -> node conversion puts every voxel at the RAS position Slicer's reader does."""
    path = shared_cases[case_id]["image"]
    img = sitk.ReadImage(path)
    ours = mrml.volume_node_from_sitk(img, scene=scene, name="ours")
    theirs = _read_with_slicer(scene, path)
    m = _ras_to_ras_index_map(theirs, ours)
    assert abs(round(np.linalg.det(m[:3, :3]))) == 1
    a_theirs = slicer.util.arrayFromVolume(theirs)
    a_ours = slicer.util.arrayFromVolume(ours)
    np.testing.assert_array_equal(_resample_by_index_map(a_theirs, m), a_ours)


@pytest.mark.shared_data
@pytest.mark.parametrize("case_id", ["brain1", "ibsi_nsclc"])
def test_volume_round_trip_identical(scene, shared_cases, case_id):
    img = sitk.ReadImage(shared_cases[case_id]["image"])
    node = mrml.volume_node_from_sitk(img, scene=scene, name=case_id)
    back = mrml.sitk_from_volume_node(node)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert back.GetPixelID() == img.GetPixelID()
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-6)


def test_oblique_geometry_round_trip(scene):
    """A rotated, anisotropic grid: IJK-to-RAS is F @ [D S | o] and converts back exactly."""
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(5, 6, 7)).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    c, s = np.cos(0.3), np.sin(0.3)
    d = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.diag([1, -1, -1.0])
    img.SetDirection(d.ravel().tolist())
    img.SetSpacing((0.7, 1.3, 2.9))
    img.SetOrigin((10.0, -20.0, 35.5))
    node = mrml.volume_node_from_sitk(img, scene=scene)
    # an independent check of one voxel position: ITK's index->physical, flipped to RAS
    lps = np.array(img.TransformIndexToPhysicalPoint((3, 2, 4)))
    ras = mrml.volume_ijk_to_ras(node) @ np.array([3, 2, 4, 1.0])
    np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-9)
    back = mrml.sitk_from_volume_node(node)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-12)
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-12)
    np.testing.assert_allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-12)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), arr)


@pytest.mark.shared_data
def test_segmentation_round_trip_and_seg_nrrd(scene, shared_cases, tmp_path):
    """Mask -> segment -> mask is identical; the saved .seg.nrrd reads back with slicerio."""
    slicerio = pytest.importorskip("slicerio")
    row = shared_cases["brain1"]
    img = sitk.ReadImage(row["image"])
    mask = sitk.GetArrayFromImage(sitk.ReadImage(row["mask"])) == 1
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="brain1")
    # a second, overlapping segment (dilated tumour) checks that segments stay independent
    ring = sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(mask.astype(np.uint8)),
                                                    [2, 2, 1]))
    seg = mrml.segmentation_node_from_masks({"tumour": mask, "PM5": ring}, vol, scene=scene)
    assert mrml.segment_names(seg) == ["tumour", "PM5"]
    np.testing.assert_array_equal(mrml.mask_from_segment(seg, "tumour", vol), mask)
    np.testing.assert_array_equal(mrml.mask_from_segment(seg, "PM5", vol), ring)
    color = seg.GetSegmentation().GetSegment(mrml.segment_id(seg, "tumour")).GetColor()
    np.testing.assert_allclose(color, mrml.SEGMENT_COLORS["tumour"], atol=1e-6)

    m_img = mrml.mask_sitk_from_segment(seg, "tumour", vol)
    np.testing.assert_allclose(m_img.GetOrigin(), img.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(m_img.GetDirection(), img.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(m_img.GetSpacing(), img.GetSpacing(), atol=1e-6)

    out = mrml.save_segmentation(seg, str(tmp_path / "brain1.seg.nrrd"))
    s = slicerio.read_segmentation(out)
    names = [x["name"] for x in s["segments"]]
    assert names == ["tumour", "PM5"]
    tum = slicerio.extract_segments(s, [("tumour", 1)])
    # slicerio gives voxels [i, j, k] on an IJK->LPS grid; compare in physical space
    ijk_to_lps = np.asarray(s["ijkToLPS"])
    vox = np.asarray(tum["voxels"])
    ii, jj, kk = np.nonzero(vox)
    lps = (ijk_to_lps @ np.stack([ii, jj, kk, np.ones_like(ii)]))[:3].T
    ours_idx = np.array([img.TransformPhysicalPointToIndex(tuple(p)) for p in lps])
    got = np.zeros_like(mask)
    got[ours_idx[:, 2], ours_idx[:, 1], ours_idx[:, 0]] = True
    np.testing.assert_array_equal(got, mask)


def test_segment_errors(scene):
    img = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16))
    vol = mrml.volume_node_from_sitk(img, scene=scene)
    seg = mrml.new_segmentation_node(vol, scene=scene)
    with pytest.raises(ValueError, match="shape"):
        mrml.set_segment_from_mask(seg, np.zeros((4, 5, 7), bool), vol, "tumour")
    shifted = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.uint8))
    shifted.SetOrigin((5.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="geometry differs"):
        mrml.set_segment_from_mask(seg, shifted, vol, "tumour")
    with pytest.raises(KeyError, match="no segment 'nope'"):
        mrml.mask_from_segment(seg, "nope", vol)


def test_regions_labelmap_to_named_segments(scene):
    lab = np.zeros((6, 6, 6), np.uint8)
    lab[2:4, 2:4, 2:4] = 1
    lab[1, :, :] = 2
    lab[0, :3, :] = 3
    vol = mrml.volume_node_from_array(np.zeros((6, 6, 6), np.int16), np.diag([-1, -1, 1, 1.0]),
                                      scene=scene)
    seg = mrml.segmentation_node_from_labelmap(lab, vol, mrml.REGION_LABELS, scene=scene)
    assert mrml.segment_names(seg) == ["TC", "TIM", "PM5 ring", "PM10 ring"]
    for v, nm in mrml.REGION_LABELS.items():
        np.testing.assert_array_equal(mrml.mask_from_segment(seg, nm, vol), lab == v)


def test_features_table_types_and_descriptions(scene, tmp_path):
    pd = pytest.importorskip("pandas")
    from PanCancerSubtypeLib import registry
    from PanCancerSubtypeLib.registry import FeatureSpec

    spec = FeatureSpec(name="test_mrml_feature_a", group="test_mrml",
                       description="a test feature for the table adapter", unit="mm")
    registry.register([spec])
    df = pd.DataFrame({
        "ID": ["lung1", "brain1", None],
        "Modality": ["CT", "MR", "MR"],
        "test_mrml_feature_a": [1.5, np.nan, -2.0 / 3.0],
        "n_voxels": [10, 20, 30],
        "flag": [True, False, True],
    })
    node = mrml.table_node_from_dataframe(df, scene=scene, name="features",
                                          descriptions={"n_voxels": "voxel count"})
    t = node.GetTable()
    assert [t.GetColumn(i).GetName() for i in range(t.GetNumberOfColumns())] == list(df.columns)
    assert isinstance(t.GetColumnByName("ID"), vtk.vtkStringArray)
    assert isinstance(t.GetColumnByName("Modality"), vtk.vtkStringArray)
    assert t.GetColumnByName("test_mrml_feature_a").GetDataType() == vtk.VTK_DOUBLE
    assert t.GetColumnByName("n_voxels").GetDataType() == vtk.VTK_INT
    assert node.GetNumberOfRows() == 3
    assert node.GetCellText(1, 0) == "brain1"
    assert node.GetCellText(2, 0) == ""
    assert node.GetColumnDescription("test_mrml_feature_a") == spec.description
    assert node.GetColumnUnitLabel("test_mrml_feature_a") == "mm"
    assert node.GetColumnDescription("n_voxels") == "voxel count"

    back = mrml.dataframe_from_table_node(node)
    assert list(back["ID"]) == ["lung1", "brain1", ""]
    np.testing.assert_array_equal(back["n_voxels"].to_numpy(), [10, 20, 30])
    np.testing.assert_array_equal(back["flag"].to_numpy(), [1, 0, 1])
    np.testing.assert_allclose(back["test_mrml_feature_a"].to_numpy(), [1.5, np.nan, -2.0 / 3.0],
                               rtol=0, atol=0)

    # saved as CSV, read back by pandas: values exact (Slicer's own writer keeps 6 digits only)
    path = mrml.save_table(node, str(tmp_path / "features.csv"))
    csv = pd.read_csv(path, float_precision="round_trip")
    assert list(csv.columns) == list(df.columns)
    np.testing.assert_array_equal(csv["test_mrml_feature_a"].to_numpy(),
                                  df["test_mrml_feature_a"].to_numpy())
    assert csv["ID"].fillna("").tolist() == ["lung1", "brain1", ""]
    # Slicer's schema beside it, with the column description, so Slicer reloads types
    schema = pd.read_csv(tmp_path / "features.schema.csv")
    row = schema.set_index("columnName").loc["test_mrml_feature_a"]
    assert row["type"] == "double" and row["description"] == spec.description


def test_nullable_integer_column_becomes_double(scene):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"k": pd.array([1, None, 3], dtype="Int64")})
    node = mrml.table_node_from_dataframe(df, scene=scene)
    assert node.GetTable().GetColumnByName("k").GetDataType() == vtk.VTK_DOUBLE
    np.testing.assert_allclose(mrml.dataframe_from_table_node(node)["k"], [1.0, np.nan, 3.0])


def test_string_table_converts_numeric_columns(scene):
    """A table of strings (CSV loaded without schema) gives numbers back for numeric columns."""
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", "strings")
    for name, vals in (("ID", ["a", "b"]), ("x", ["1.5", "2"]), ("y", ["3", ""])):
        col = vtk.vtkStringArray()
        col.SetName(name)
        for v in vals:
            col.InsertNextValue(v)
        node.AddColumn(col)
    df = mrml.dataframe_from_table_node(node)
    assert df["ID"].tolist() == ["a", "b"]
    np.testing.assert_allclose(df["x"].to_numpy(), [1.5, 2.0])
    np.testing.assert_allclose(df["y"].to_numpy(), [3.0, np.nan])


def test_km_chart_one_series_per_group(scene):
    curves = {"subtype 1": ([0, 2, 5, 9], [1.0, 0.8, 0.5, 0.5]),
              "subtype 2": ([0, 1, 3], [1.0, 0.6, 0.2]),
              "subtype 3": ([0, 4], [1.0, 0.9])}
    chart = mrml.km_chart(curves, scene=scene, time_title="months")
    assert chart.GetNumberOfPlotSeriesNodes() == 3
    got = mrml.chart_series_arrays(chart)
    assert sorted(got) == sorted(f"Kaplan-Meier {g}" for g in curves)
    x, y = got["Kaplan-Meier subtype 2"]
    # a right-continuous step: flat until each event time, then a vertical drop
    np.testing.assert_allclose(x, [0, 1, 1, 3, 3])
    np.testing.assert_allclose(y, [1.0, 1.0, 0.6, 0.6, 0.2])
    assert chart.GetXAxisTitle() == "months"
    # distinct colours per group
    colors = {tuple(chart.GetNthPlotSeriesNode(i).GetColor()) for i in range(3)}
    assert len(colors) == 3


def test_consensus_charts(scene):
    cdfs = {2: ([0.0, 0.5, 1.0], [0.4, 0.5, 1.0]), 3: ([0.0, 0.5, 1.0], [0.6, 0.7, 1.0])}
    chart = mrml.consensus_cdf_chart(cdfs, scene=scene)
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    assert [chart.GetNthPlotSeriesNode(i).GetName() for i in range(2)] == \
        ["Consensus CDF k=2", "Consensus CDF k=3"]
    da = mrml.delta_area_chart([2, 3, 4], [0.5, 0.2, 0.05], scene=scene)
    (x, y), = mrml.chart_series_arrays(da).values()
    np.testing.assert_allclose(x, [2, 3, 4])
    np.testing.assert_allclose(y, [0.5, 0.2, 0.05])


def test_model_node_from_mesh(scene):
    """An octahedron in LPS: the model holds the same points flipped to RAS, and the same faces."""
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 3], [0, 0, -3]], float)
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                  [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    node = mrml.model_node_from_mesh(v, f, scene=scene, name="spharm")
    pts = slicer.util.arrayFromModelPoints(node)
    np.testing.assert_allclose(pts, v * [-1, -1, 1])
    v2, f2 = mrml.mesh_from_model_node(node)
    np.testing.assert_allclose(v2, v)
    np.testing.assert_array_equal(f2, f)
    # volume of the octahedron 4/3 * a*b*c survives (vtkMassProperties on the RAS mesh)
    mp = vtk.vtkMassProperties()
    mp.SetInputData(node.GetPolyData())
    mp.Update()
    assert mp.GetVolume() == pytest.approx(4.0 / 3.0 * 1 * 2 * 3, rel=1e-9)
    with pytest.raises(ValueError, match="outside"):
        mrml.model_node_from_mesh(v, f + 10, scene=scene)


def test_transformed_node_rejected(scene):
    img = sitk.GetImageFromArray(np.zeros((3, 3, 3), np.int16))
    vol = mrml.volume_node_from_sitk(img, scene=scene)
    t = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 5.0)
    t.SetMatrixTransformToParent(m)
    vol.SetAndObserveTransformNodeID(t.GetID())
    with pytest.raises(ValueError, match="harden"):
        mrml.sitk_from_volume_node(vol)


def test_no_global_scene_message():
    if getattr(slicer, "mrmlScene", None) is not None:
        pytest.skip("running inside the Slicer application")
    with pytest.raises(RuntimeError, match="pass scene="):
        mrml.get_scene(None)
