"""GUI-free logic of the three PanCancerSubtype modules.

The modules' ``...Logic`` classes delegate here, so the same calls work from the Python console, from
``Slicer --python-script`` batch scripts, and from pytest with the ``slicer-core`` wheel.  Each
function takes MRML nodes, converts them with :mod:`.mrml`, calls the core library
(:mod:`PanCancerSubtypeLib`) and puts the results back into nodes.  No Qt here.

Core APIs used (imported lazily, where they are needed):

* ``io.load_case``, ``io.read_mask``; ``features.extract_features`` (feature groups ``shape``,
  ``regional``, ``radiomics``)
* ``segmentation.segment_from_seeds(image, seeds_lps_mm)``, ``segmentation.segment_image(image,
  model_dir)``; ``regions.case_regions(case, definition)`` (regions and parenchyma)
* ``shape.spharm_decompose(mask_zyx, spacing_xyz, mode)``, ``shape.reconstruct(result, degree)``
* ``classifier.load_bundle(dir).predict_frame(df)``; ``discovery.discover(table)``;
  ``survival.kaplan_meier``; ``tables.feature_columns``; ``cohort.read_manifest``

Nothing here computes a statistic, a curve or a clustering itself: every number comes from the core.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import mrml

log = logging.getLogger(__name__)

#: segment names the extension writes
TUMOUR_SEGMENT = "tumour"
PARENCHYMA_SEGMENT = "parenchyma"


# ----------------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------------

def guess_modality(image) -> str:
    """"CT" or "MR" as the core guesses it (``io.guess_modality``: DICOM tag, else the values);
    the panels let the user override it."""
    from PanCancerSubtypeLib.io import guess_modality as core_guess

    return core_guess(image)


def make_case(image, mask, organ_mask=None, modality: Optional[str] = None,
              case_id: Optional[str] = None, organ: Optional[str] = None,
              cancer_type: Optional[str] = None):
    """A core ``Case`` from SimpleITK image and masks, validated by the core's ``io.load_case``."""
    from PanCancerSubtypeLib.io import load_case

    case = load_case(image, mask, organ_mask=organ_mask, modality=modality or guess_modality(image),
                     case_id=case_id or "case")
    if organ is not None:
        case.organ = organ
    if cancer_type is not None:
        case.cancer_type = cancer_type
    return case


def case_from_nodes(volume_node, segmentation_node, segment: str = TUMOUR_SEGMENT,
                    organ_segment: Optional[str] = None, modality: Optional[str] = None,
                    case_id: Optional[str] = None, organ: Optional[str] = None,
                    cancer_type: Optional[str] = None):
    """A core ``Case`` from a volume node and segments of a segmentation node (LPS, image grid)."""
    image = mrml.sitk_from_volume_node(volume_node)
    mask = mrml.mask_sitk_from_segment(segmentation_node, segment, volume_node)
    organ_mask = None
    if organ_segment:
        organ_mask = mrml.mask_sitk_from_segment(segmentation_node, organ_segment, volume_node)
    return make_case(image, mask, organ_mask=organ_mask, modality=modality,
                     case_id=case_id or volume_node.GetName(), organ=organ,
                     cancer_type=cancer_type)


def placed_points(markups_node) -> int:
    """How many control points of a markups node are placed (position status "defined"): an
    unplaced point ("Clear position") and the preview point under the mouse in place mode are
    not points the user gave."""
    return int(markups_node.GetNumberOfDefinedControlPoints()) if markups_node is not None else 0


def seeds_lps_from_markups(markups_node) -> List[Tuple[float, float, float]]:
    """World positions of a markups node's placed control points (:func:`placed_points`),
    converted RAS -> LPS (mm)."""
    out = []
    pos = [0.0, 0.0, 0.0]
    for i in range(markups_node.GetNumberOfControlPoints()):
        if markups_node.GetNthControlPointPositionStatus(i) != markups_node.PositionDefined:
            continue
        markups_node.GetNthControlPointPositionWorld(i, pos)
        out.append((-float(pos[0]), -float(pos[1]), float(pos[2])))
    if not out:
        raise ValueError(f"markups {markups_node.GetName()!r} has no placed control points: "
                         f"place at least one seed point inside the tumour")
    return out


def box_lps_from_roi(roi_node) -> List[float]:
    """``[x0, y0, z0, x1, y1, z1]`` (LPS mm) of a markups ROI's world bounds (RAS -> LPS), as
    ``segment --bbox`` takes it."""
    b = [0.0] * 6
    roi_node.GetRASBounds(b)
    if not all(np.isfinite(b)) or b[1] <= b[0] or b[3] <= b[2] or b[5] <= b[4]:
        raise ValueError(f"ROI {roi_node.GetName()!r} has no extent: place the box around the "
                         f"tumour")
    return [-b[1], -b[3], b[4], -b[0], -b[2], b[5]]


# ----------------------------------------------------------------------------------------------
# segmentation panel
# ----------------------------------------------------------------------------------------------

def _output_segmentation(volume_node, segmentation_node, scene, name):
    if segmentation_node is None:
        return mrml.new_segmentation_node(volume_node, scene=scene, name=name)
    if segmentation_node.GetNodeReference(
            segmentation_node.GetReferenceImageGeometryReferenceRole()) is None:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    return segmentation_node


def segment_from_seeds(volume_node, markups_node, segmentation_node=None, scene=None,
                       segment_name: str = TUMOUR_SEGMENT, box_node=None, background_node=None,
                       second_channel_node=None, **options):
    """Semi-automatic tumour segmentation from seed points (optional ROI box, background points
    and second-channel volume); result as a named, coloured segment."""
    from PanCancerSubtypeLib import segmentation

    image = mrml.sitk_from_volume_node(volume_node)
    if box_node is not None:
        options["bbox"] = box_lps_from_roi(box_node)
    if placed_points(background_node):
        options["background_lps_mm"] = seeds_lps_from_markups(background_node)
    if second_channel_node is not None:
        options["second_channel"] = mrml.sitk_from_volume_node(second_channel_node)
    mask = segmentation.segment_from_seeds(image, seeds_lps_from_markups(markups_node), **options)
    seg = _output_segmentation(volume_node, segmentation_node, scene,
                               f"{volume_node.GetName()} segmentation")
    mrml.set_segment_from_mask(seg, _mask_array(mask), volume_node, segment_name)
    return seg


def segment_automatic(volume_node, model_dir: str, segmentation_node=None, scene=None,
                      segment_name: str = TUMOUR_SEGMENT, **options):
    """U-Net segmentation with a trained model folder (run this in a background process for
    large images: see :mod:`.process`)."""
    from PanCancerSubtypeLib import segmentation

    image = mrml.sitk_from_volume_node(volume_node)
    mask = segmentation.segment_image(image, model_dir, **options)
    seg = _output_segmentation(volume_node, segmentation_node, scene,
                               f"{volume_node.GetName()} segmentation")
    mrml.set_segment_from_mask(seg, _mask_array(mask), volume_node, segment_name)
    return seg


def add_parenchyma_segment(volume_node, segmentation_node, tumour_segment: str = TUMOUR_SEGMENT,
                           organ: Optional[str] = None, modality: Optional[str] = None,
                           segment_name: Optional[str] = None) -> str:
    """Add the organ parenchyma (lung / brain / breast) found by the core as a segment."""
    from .jobs import parenchyma

    case = case_from_nodes(volume_node, segmentation_node, tumour_segment, modality=modality,
                           organ=organ)
    mask = parenchyma(case)
    name = segment_name or (organ.lower() if organ else PARENCHYMA_SEGMENT)
    return mrml.set_segment_from_mask(segmentation_node, _mask_array(mask), volume_node, name)


def add_region_segments(volume_node, segmentation_node, tumour_segment: str = TUMOUR_SEGMENT,
                        organ_segment: Optional[str] = None, modality: Optional[str] = None,
                        organ: Optional[str] = None, definition: str = "reference"):
    """Add the tumour regions of the regional-variation features as segments: TC, TIM and the
    0-5 mm / 5-10 mm rings of peritumoural parenchyma ("PM5 ring", "PM10 ring")."""
    from .jobs import region_labels

    case = case_from_nodes(volume_node, segmentation_node, tumour_segment,
                           organ_segment=organ_segment, modality=modality, organ=organ)
    labels = region_labels(case, definition)
    return mrml.segmentation_node_from_labelmap(_mask_array(labels, binary=False), volume_node,
                                                mrml.REGION_LABELS, node=segmentation_node)


def _register_specs(instances) -> None:
    """Put the specs of explicitly given feature-group instances into the registry, so the table
    node gets their column descriptions too (named groups register themselves)."""
    if not instances:
        return
    from PanCancerSubtypeLib import registry

    for inst in instances:
        try:
            registry.register(inst.specs())
        except ValueError as exc:  # same name, other meaning: keep the first, say so
            log.warning("feature specs not registered: %s", exc)


def _mask_array(mask, binary: bool = True) -> np.ndarray:
    """[k, j, i] array of a SimpleITK image or array (binary -> uint8 0/1)."""
    if not isinstance(mask, np.ndarray):
        import SimpleITK as sitk

        mask = sitk.GetArrayFromImage(mask)
    return (mask != 0).astype(np.uint8) if binary else np.asarray(mask)


# ----------------------------------------------------------------------------------------------
# features panel
# ----------------------------------------------------------------------------------------------

def registry_table(scene=None, group: Optional[str] = None, table_node=None):
    """The feature registry (name, group, description, formula, unit, invariances) as a table
    node, so users can read what every column of a features table means."""
    from PanCancerSubtypeLib import registry

    df = registry.to_frame(group)
    return mrml.table_node_from_dataframe(df, scene=scene, name="PanCancerSubtype feature registry",
                                          node=table_node, use_registry=False)


def compute_features(volume_node, segmentation_node, segments: Sequence[str],
                     groups=("shape", "regional"), group_options=None,
                     organ_segment: Optional[str] = None, modality: Optional[str] = None,
                     table_node=None, scene=None, on_error: str = "record",
                     instances=None, progress: Optional[Callable[[int, int], None]] = None,
                     organ: Optional[str] = None):
    """Features of each segment (one row each) in a table node; returns the table node.

    ``groups``: the core's feature groups ("shape", "regional" = the paper's 313 cross-modality
    features; add "radiomics" for PyRadiomics).  Column descriptions come from the registry.
    ``organ`` (lung, brain, breast, soft-tissue) or ``organ_segment`` (a segment of the organ)
    sets the parenchyma of the regional features, as the command line's ``--organ`` /
    ``--organ-mask``; without either only a CT lung tumour's is found by itself.
    """
    import pandas as pd

    from PanCancerSubtypeLib.features import extract_features

    rows = []
    labels = mrml.segment_labels(segmentation_node, segments)
    for n, (seg_name, label) in enumerate(zip(segments, labels)):
        if progress:
            progress(n, len(segments))
        case = case_from_nodes(volume_node, segmentation_node, seg_name,
                               organ_segment=organ_segment, modality=modality,
                               case_id=f"{volume_node.GetName()}:{label}", organ=organ)
        row = extract_features(case, groups=groups, group_options=group_options,
                               on_error=on_error, instances=instances)
        row = {"Segment": label, **row}
        rows.append(row)
    if progress:
        progress(len(segments), len(segments))
    df = pd.DataFrame(rows)
    _register_specs(instances)
    return mrml.table_node_from_dataframe(df, scene=scene or volume_node.GetScene(),
                                          name=f"{volume_node.GetName()} features", node=table_node)


def spharm_model(volume_node, segmentation_node, segment: str = TUMOUR_SEGMENT, degree: int = 15,
                 mode: str = "robust", model_node=None, scene=None):
    """SPHARM reconstruction of a segment up to ``degree`` as a model node.

    The core's reconstruction is in the object's (centred) frame in mm along the image axes; it
    is placed at the segment's centroid and turned into patient space with the image direction.
    """
    from .jobs import spharm_mesh_lps

    image = mrml.sitk_from_volume_node(volume_node)
    mask = mrml.mask_from_segment(segmentation_node, segment, volume_node)
    v_lps, faces = spharm_mesh_lps(mask, image, int(degree), mode)
    return mrml.model_node_from_mesh(v_lps, faces, scene=scene or volume_node.GetScene(),
                                     name=f"{segment} SPHARM degree {degree}", node=model_node,
                                     color=mrml.SEGMENT_COLORS.get(segment))


# ----------------------------------------------------------------------------------------------
# cohorts in the scene (batch script)
# ----------------------------------------------------------------------------------------------

def scene_node_ids(scene) -> set:
    """IDs of the nodes now in ``scene``."""
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def remove_nodes_added(scene, before: set) -> None:
    """Remove the nodes that are not in ``before`` (the IDs :func:`scene_node_ids` gave), except
    singletons (the scene's own selection / interaction / view nodes)."""
    added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    for node in added:
        if node is not None and node.GetID() not in before and \
                not node.GetSingletonTag() and scene.IsNodePresent(node):
            scene.RemoveNode(node)


def read_manifest(path: str):
    """A cohort manifest read and validated by the core (``cohort.read_manifest``: PyRadiomics'
    ``Image`` / ``Mask`` / ``Label`` columns plus ``ID``, ``Organ``, ``CancerType``, ``Modality``,
    ``OrganMask``; paths made absolute relative to the file)."""
    from PanCancerSubtypeLib.cohort import read_manifest as core_read_manifest

    return core_read_manifest(path)


def run_manifest(manifest: str, out_dir: str, scene=None, groups=("shape", "regional"),
                 group_options=None, regions: bool = False, parenchyma: bool = False,
                 instances=None, clear_scene: bool = True,
                 progress: Optional[Callable[[int, int, str], None]] = None):
    """Run a cohort manifest through the scene, case by case, as the batch script does.

    For each case: load the image into a volume node, the tumour mask (and organ mask) into a
    segmentation node (optionally with parenchyma and TC/TIM/PM5/PM10 segments), compute the
    features from the nodes, save ``segmentations/<ID>.seg.nrrd``; at the end write
    ``features.csv`` with Slicer's table writer.  A failing case is recorded in the ``error``
    column and the run goes on.  Returns ``(features DataFrame, table node)``.

    ``clear_scene``: remove the nodes each case added once it is done (the nodes that were in the
    scene before, a console user's own, are left alone).
    """
    import pandas as pd

    from PanCancerSubtypeLib.features import extract_features
    from PanCancerSubtypeLib.io import read_image, read_mask

    scene = mrml.get_scene(scene)
    df = read_manifest(manifest)
    seg_dir = os.path.join(out_dir, "segmentations")
    os.makedirs(seg_dir, exist_ok=True)
    rows = []
    for n, r in enumerate(df.to_dict("records")):
        cid = r["ID"]
        before = scene_node_ids(scene)
        if progress:
            progress(n, len(df), cid)
        base = {"ID": cid, "Image": r["Image"], "Mask": r["Mask"], "Label": r.get("Label", ""),
                "Organ": r.get("Organ", ""), "CancerType": r.get("CancerType", ""),
                "Modality": r.get("Modality", "")}
        try:
            import SimpleITK as sitk

            image = read_image(r["Image"])
            vol = mrml.volume_node_from_sitk(image, scene=scene, name=cid)
            mask = read_mask(r["Mask"], r.get("Label", ""), image)
            seg = mrml.segmentation_node_from_masks({TUMOUR_SEGMENT: sitk.GetArrayFromImage(mask)},
                                                    vol, scene=scene, name=f"{cid} segmentation")
            organ_seg = None
            if r.get("OrganMask"):
                om = read_mask(r["OrganMask"], r.get("OrganLabel") or None, image,
                               outside="warn")
                organ_seg = (r.get("Organ") or PARENCHYMA_SEGMENT).lower()
                mrml.set_segment_from_mask(seg, sitk.GetArrayFromImage(om), vol, organ_seg)
            elif parenchyma:
                organ_seg = (r.get("Organ") or PARENCHYMA_SEGMENT).lower()
                add_parenchyma_segment(vol, seg, organ=r.get("Organ") or None,
                                       modality=r.get("Modality") or None, segment_name=organ_seg)
            if regions:
                add_region_segments(vol, seg, organ_segment=organ_seg,
                                    modality=r.get("Modality") or None,
                                    organ=r.get("Organ") or None)
            case = case_from_nodes(vol, seg, TUMOUR_SEGMENT, organ_segment=organ_seg,
                                   modality=r.get("Modality") or None, case_id=cid,
                                   organ=r.get("Organ") or None,
                                   cancer_type=r.get("CancerType") or None)
            row = extract_features(case, groups=groups, group_options=group_options,
                                   on_error="record", instances=instances)
            row.update({k: v for k, v in base.items() if k in ("ID", "Image", "Mask", "Label")})
            mrml.save_segmentation(seg, os.path.join(seg_dir, f"{cid}.seg.nrrd"))
        except Exception as exc:  # record and go on, as the core's cohort runner does
            log.warning("case %s failed: %s", cid, exc)
            row = dict(base, error=f"{type(exc).__name__}: {exc}")
        rows.append(row)
        if clear_scene:
            remove_nodes_added(scene, before)
    if progress:
        progress(len(df), len(df), "")
    out = pd.DataFrame(rows)
    if "error" not in out.columns:
        out["error"] = ""
    out["error"] = out["error"].fillna("")
    out = out[[c for c in out.columns if c != "error"] + ["error"]]
    _register_specs(instances)
    table = mrml.table_node_from_dataframe(out, scene=scene, name="cohort features")
    mrml.save_table(table, os.path.join(out_dir, "features.csv"))
    return out, table


# ----------------------------------------------------------------------------------------------
# subtype panel
# ----------------------------------------------------------------------------------------------

def feature_columns(df) -> List[str]:
    """The feature columns of a features table (the core's rule, ``tables.feature_columns``)."""
    from PanCancerSubtypeLib.tables import feature_columns as core_feature_columns

    return core_feature_columns(df)


#: colours of subtypes 1, 2, ... on the Subtype panel (matplotlib's tab10)
SUBTYPE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf"]


def subtype_label(subtypes) -> Tuple[str, str]:
    """``(text, colour)`` saying the subtype of the first row of a :func:`classify_table`
    result: ``"A  (p = 0.67)"`` in the subtype's colour, with a red warning when the case lies
    outside the training cohort; ``"no subtype assigned ..."`` in grey when the row has none
    (its features failed), never the previous case's subtype."""
    if not len(subtypes):
        return "", "#808080"
    row = subtypes.iloc[0]
    subtype = row.get("predicted_subtype")
    if subtype is None or subtype != subtype or str(subtype) == "":
        return "no subtype assigned (see the table's error column)", "#808080"
    subtype = str(subtype)
    classes = [c[len("prob_"):] for c in subtypes.columns if c.startswith("prob_")]
    color = SUBTYPE_COLORS[classes.index(subtype) % len(SUBTYPE_COLORS)] \
        if subtype in classes else "#000000"
    prob = row.get(f"prob_{subtype}")
    text = subtype if prob is None or prob != prob else f"{subtype}  (p = {float(prob):.2f})"
    if "novel" in subtypes.columns and bool(row["novel"]):
        # outside the training cohort: the subtype is not to be trusted
        text += (f"  - outside the training cohort (novelty "
                 f"{float(row['novelty_score']):.2f} > 1, {row['novelty_family']})")
        color = "#b00000"
    return text, color


def classify_table(features_table_node, bundle_dir: str, output_table_node=None, scene=None):
    """Subtype probabilities for each row of a features table with a saved model bundle.

    Returns ``(output table node, DataFrame)`` with ``ID``, ``predicted_subtype`` (most probable)
    and one ``prob_<subtype>`` column per class, as ``pancancer-subtype classify`` writes them.
    Feature columns the model does not use are ignored; missing ones are an error that names them.
    """
    from PanCancerSubtypeLib import classifier

    df = mrml.dataframe_from_table_node(features_table_node)
    model = classifier.load_bundle(bundle_dir)
    out = model.predict_frame(df, strict=False, source=features_table_node.GetName())
    out["predicted_subtype"] = out["predicted_subtype"].map(lambda v: "" if v is None else str(v))
    node = mrml.table_node_from_dataframe(
        out, scene=scene or features_table_node.GetScene(), name="subtype assignment",
        node=output_table_node,
        descriptions={"predicted_subtype": "most probable subtype of the bundle's classifier"})
    return node, out


def discover_subtypes(features_table_node, k_max: int = 10, reps: int = 1000, p_item: float = 0.8,
                      seed: int = 1, scene=None, purity_repeats: int = 0, **settings):
    """Subtype discovery of a cohort features table: the core's ``discovery.discover``, the same
    call the ``discover`` command and the demo make (same table, settings and seed -> same
    subtypes).

    ``settings`` are further ``DiscoverySettings`` (``preprocess``, ``encode``, ``k_min``,
    ``r_compatible``, ``n_jobs``...).  Returns a dict: ``result`` (the core's ``DiscoveryResult``),
    ``classes`` (table: ID and one column per k), ``per_k`` (table), ``cdf`` (chart: one series
    per k), ``delta_area`` (chart), ``suggested_k``.
    """
    from PanCancerSubtypeLib.consensus import consensus_cdf_curves
    from PanCancerSubtypeLib.discovery import discover

    scene = scene or features_table_node.GetScene()
    df = mrml.dataframe_from_table_node(features_table_node)
    res = discover(df, k_max=int(k_max), reps=int(reps), p_item=float(p_item), seed=int(seed),
                   purity_repeats=int(purity_repeats), **settings)
    per_k = res.consensus.per_k_
    return {
        "result": res,
        "classes": mrml.table_node_from_dataframe(res.classes.reset_index(), scene=scene,
                                                  name="consensus classes"),
        "per_k": mrml.table_node_from_dataframe(per_k, scene=scene, name="consensus per k"),
        "cdf": mrml.consensus_cdf_chart(consensus_cdf_curves(res.consensus), scene=scene),
        "delta_area": mrml.delta_area_chart(per_k["k"].to_numpy(),
                                            per_k["delta_area"].to_numpy(), scene=scene),
        "model": res.consensus,
        "suggested_k": res.suggested_k,
    }


def survival_columns(df) -> Optional[Tuple[str, str]]:
    """(time, event) column names if the table has survival data, else None.

    Recognised: ``time``/``event``, ``OS_time``/``OS_event``, ``survival_time``/``status``.
    """
    pairs = [("time", "event"), ("OS_time", "OS_event"), ("survival_time", "status"),
             ("os_time", "os_event"), ("PFS_time", "PFS_event")]
    for t, e in pairs:
        if t in df.columns and e in df.columns:
            return t, e
    return None


def kaplan_meier_curves(table, time: str, event: str, group: str
                        ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Kaplan-Meier survival curves per group from the core (``survival.kaplan_meier``, which
    also validates the table: event coding, negative times, incomplete rows):
    ``{group: (times from 0, S(t))}``."""
    from PanCancerSubtypeLib.survival import kaplan_meier

    km = kaplan_meier(table, time, event, group)
    out = {}
    for g, kmf in km.fitters.items():
        sf = kmf.survival_function_
        out[str(g)] = (sf.index.to_numpy(dtype=float), sf.iloc[:, 0].to_numpy(dtype=float))
    return out


def km_chart_from_table(table_node, group_column: str, time_column: Optional[str] = None,
                        event_column: Optional[str] = None, scene=None, time_title: str = "time"):
    """Kaplan-Meier chart (one series per group) from a table with survival columns; rows with
    an empty group (a case without a subtype) are left out, as missing."""
    df = mrml.dataframe_from_table_node(table_node, text=(group_column,))  # ("1", not 1.0)
    if group_column in df.columns and df[group_column].dtype == object:      # "" is missing
        df[group_column] = df[group_column].where(df[group_column].astype(str).str.strip() != "")
    if time_column is None or event_column is None:
        cols = survival_columns(df)
        if cols is None:
            raise ValueError(f"table {table_node.GetName()!r} has no survival columns (time/event, "
                             f"OS_time/OS_event, survival_time/status)")
        time_column, event_column = cols
    if group_column not in df.columns:
        raise KeyError(f"table {table_node.GetName()!r} has no column {group_column!r}")
    curves = kaplan_meier_curves(df, time_column, event_column, group_column)
    return mrml.km_chart(curves, scene=scene or table_node.GetScene(),
                         name=f"Kaplan-Meier by {group_column}", time_title=time_title)


# ----------------------------------------------------------------------------------------------
# background jobs: files in, files out (the panels run the core's CLI in PythonSlicer)
# ----------------------------------------------------------------------------------------------

def write_volume(volume_node, path: str) -> str:
    """Write a volume node as an image file for a child process (exact LPS geometry)."""
    import SimpleITK as sitk

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sitk.WriteImage(mrml.sitk_from_volume_node(volume_node), path, True)
    return path


def write_case_inputs(volume_node, segmentation_node=None, segment: Optional[str] = None,
                      organ_segment: Optional[str] = None, out_dir: str = ".") -> Dict[str, str]:
    """Write the image (and tumour / organ masks) of nodes as NRRD files for a child process.

    Returns ``{"image": path, "mask": path?, "organ_mask": path?}``; geometry is exact (LPS).
    """
    import SimpleITK as sitk

    os.makedirs(out_dir, exist_ok=True)
    paths = {"image": os.path.join(out_dir, "image.nrrd")}
    sitk.WriteImage(mrml.sitk_from_volume_node(volume_node), paths["image"], True)
    if segmentation_node is not None and segment:
        paths["mask"] = os.path.join(out_dir, "mask.nrrd")
        sitk.WriteImage(mrml.mask_sitk_from_segment(segmentation_node, segment, volume_node),
                        paths["mask"], True)
    if segmentation_node is not None and organ_segment:
        paths["organ_mask"] = os.path.join(out_dir, "organ_mask.nrrd")
        sitk.WriteImage(mrml.mask_sitk_from_segment(segmentation_node, organ_segment, volume_node),
                        paths["organ_mask"], True)
    return paths


def cli_option(name: str, value) -> List[str]:
    """``["--name=value"]`` for a command line (``["--name"]`` for True; ``[]`` for None, False
    or ""; a list or tuple as comma-separated numbers).

    Always one ``--name=value`` word: argparse takes a separate value that starts with ``-``
    (``--seed -21.9,3,4``: a seed at negative x) for an option and fails.
    """
    if value is None or value is False or (isinstance(value, str) and value == ""):
        return []
    if value is True:
        return [f"--{name}"]
    if isinstance(value, (list, tuple)):
        value = ",".join(f"{float(v):.6g}" if isinstance(v, (float, np.floating)) else str(v)
                         for v in value)
    return [f"--{name}={value}"]


def cli_options(values: Optional[Mapping[str, Any]]) -> List[str]:
    """:func:`cli_option` for each ``{name: value}`` in order."""
    out: List[str] = []
    for k, v in (values or {}).items():
        out += cli_option(k, v)
    return out


def features_args(paths: Mapping[str, str], out_csv: str, modality: Optional[str] = None,
                  groups: Sequence[str] = ("shape", "regional"),
                  case_id: Optional[str] = None, organ: Optional[str] = None,
                  shape_mode: Optional[str] = None,
                  shape_interpolation: Optional[str] = None,
                  regional_definition: Optional[str] = None) -> List[str]:
    """Arguments of ``pancancer-subtype features`` for files written by write_case_inputs."""
    return (cli_option("image", paths["image"]) + cli_option("mask", paths["mask"])
            + cli_option("out", out_csv) + cli_option("groups", ",".join(groups))
            + cli_option("organ-mask", paths.get("organ_mask")) + cli_option("modality", modality)
            + cli_option("id", case_id) + cli_option("organ", organ)
            + cli_option("shape-mode", shape_mode)
            + cli_option("shape-interpolation", shape_interpolation)
            + cli_option("regional-definition", regional_definition))


def segment_args(image_path: str, out_path: str, seeds_lps=None,
                 model_dir: Optional[str] = None, modality: Optional[str] = None,
                 settings: Optional[Mapping[str, Any]] = None, bbox_lps=None,
                 background_lps=None, second_channel_path: Optional[str] = None,
                 method: Optional[str] = None, report_path: Optional[str] = None) -> List[str]:
    """Arguments of ``pancancer-subtype segment`` (seeds in LPS mm, or a U-Net model folder;
    optional box and background points in LPS mm, a second-channel image file, the method and
    a report file for the confidence; ``settings``: further options by their command-line name,
    e.g. ``{"max-radius": 40}``).  A second channel on another grid is resampled by the core
    (``--resample-second-channel``): Slicer volumes of one patient often have different grids."""
    args = cli_option("image", image_path) + cli_option("out", out_path)
    for s in seeds_lps or ():
        args += cli_option("seed", tuple(float(c) for c in s))
    args += cli_option("bbox", tuple(float(c) for c in bbox_lps) if bbox_lps is not None
                       else None)
    for s in background_lps or ():
        args += cli_option("background", tuple(float(c) for c in s))
    args += cli_option("second-channel", second_channel_path)
    args += cli_option("resample-second-channel", bool(second_channel_path))
    args += cli_option("method", method)
    args += cli_option("report", report_path)
    args += cli_option("model", str(model_dir) if model_dir else None)
    args += cli_option("modality", modality)
    return args + cli_options(settings)


def read_segment_report(path: str) -> Dict[str, Any]:
    """The ``segment --report`` JSON (confidence, warnings, model, modality used) with ``low``:
    True when the confidence is below the report's warning threshold or the method says the
    mask needs checking (``needs_check``: a mask smaller than the click's ball, one that hardly
    fills or fills up the box or spans less than a third of it along an axis, the box's own
    ellipsoid where the image showed no boundary, or one whose enhancement goes on past it)."""
    import json

    with open(path, encoding="utf-8") as fh:
        rep = json.load(fh)
    conf = rep.get("confidence")
    rep["low"] = bool(rep.get("needs_check")) or \
        (conf is not None and conf < float(rep.get("warn_below", 0.8)))
    return rep


def confidence_text(report: Optional[Mapping[str, Any]], warnings: bool = False) -> str:
    """One line for the panel: the confidence, and what to do when it is low (with
    ``warnings``, the method's other warnings too)."""
    if not report:
        return ""
    conf = report.get("confidence")
    if conf is None:
        text = "Confidence not computed."
    elif report.get("low") and conf < float(report.get("warn_below", 0.8)) and conf > 0:
        text = (f"Low confidence {conf:.2f} (< {report.get('warn_below', 0.8)}): the mask depends "
                f"on where one clicks; check it, add seeds, a box or background points.")
    elif report.get("low"):
        text = f"Confidence {conf:.2f}: check the mask (see the warnings)."
    else:
        text = f"Confidence {conf:.2f} (agreement of the masks from other clicks)."
    guessed = " (guessed)" if report.get("modality_guessed") else ""
    text = f"{text} Model {report.get('model')}, modality {report.get('modality')}{guessed}."
    if warnings:
        text += "".join(f" Warning: {w}." for w in report.get("warnings", [])
                        if "depends on where one clicks" not in w)
    return text


def jobs_command(job: str, args: Sequence[str], python: Optional[str] = None) -> List[str]:
    """``[python, -m, PanCancerSubtypeSlicerLib.jobs, job, *args]`` (see :mod:`.jobs`)."""
    from .process import python_executable

    return [python or python_executable(), "-m", "PanCancerSubtypeSlicerLib.jobs", job] + \
        [str(a) for a in args]


def model_from_npz(path: str, scene=None, name: str = "SPHARM", model_node=None,
                   segment: str = TUMOUR_SEGMENT):
    """Model node of a mesh written by the ``spharm`` job (vertices in LPS mm)."""
    with np.load(path) as z:
        return mrml.model_node_from_mesh(z["vertices"], z["faces"], scene=scene, name=name,
                                         node=model_node, color=mrml.SEGMENT_COLORS.get(segment))


def regions_from_file(path: str, segmentation_node, volume_node) -> None:
    """TC / TIM / PM5 / PM10 segments from a region label map file (``regions`` job)."""
    for value, name in mrml.REGION_LABELS.items():
        segment_from_file(path, segmentation_node, volume_node, name, label=value)


def segment_from_file(path: str, segmentation_node, volume_node, segment_name: str = TUMOUR_SEGMENT,
                      label: Optional[int] = None) -> str:
    """Read a mask file (any SimpleITK format; non-zero or == label inside) into a segment.

    A mask on another grid is put on the volume's grid by the core (``io.align_to_reference``:
    nearest neighbour where the extents overlap, an error naming both grids otherwise).
    """
    import SimpleITK as sitk

    from PanCancerSubtypeLib.io import align_to_reference, read_image

    m = align_to_reference(read_image(path, check=False), mrml.sitk_from_volume_node(volume_node),
                           source=str(path))
    arr = sitk.GetArrayFromImage(m)
    arr = (arr == label) if label is not None else (arr != 0)
    return mrml.set_segment_from_mask(segmentation_node, arr.astype(np.uint8), volume_node,
                                      segment_name)


def read_core_csv(path: str):
    """A CSV the core wrote as a DataFrame: text columns stay text even when empty everywhere
    (an all-empty ``error`` column would otherwise be read as NaN floats); empty text is ""."""
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=True,
                     dtype={c: str for c in ("ID", "error", "Image", "Mask", "Label")})
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].fillna("")
    return df


def table_from_csv(path: str, table_node=None, scene=None, name: Optional[str] = None):
    """Read a CSV written by the core into a table node (types kept, registry descriptions)."""
    df = read_core_csv(path)
    return mrml.table_node_from_dataframe(df, scene=scene, node=table_node,
                                          name=name or os.path.splitext(os.path.basename(path))[0])


def load_discovery_results(out_dir: str, scene=None) -> Dict[str, Any]:
    """Nodes from a ``pancancer-subtype discover`` output folder.

    Reads ``per_k.csv`` (k, cdf_area, delta_area, pac, ...), ``classes.csv`` (ID and one column per
    k), ``consensus_k{K}.npz`` (``cdf`` at 100 bins, else the ``consensus`` matrix) and
    ``suggested_k.json``; returns the tables, the CDF chart (one series per k), the delta-area
    chart and ``suggested_k`` / ``suggested_k_rule``.
    """
    import pandas as pd

    from PanCancerSubtypeLib.consensus import consensus_cdf_curves

    per_k = pd.read_csv(os.path.join(out_dir, "per_k.csv"))
    classes = pd.read_csv(os.path.join(out_dir, "classes.csv"), dtype={"ID": str})
    if "ID" not in classes.columns:
        classes = classes.rename(columns={classes.columns[0]: "ID"})
    ks = set(per_k["k"].astype(int).tolist())
    try:
        cdfs = {k: xy for k, xy in consensus_cdf_curves(out_dir).items() if k in ks}
    except ValueError:  # no consensus_k{K}.npz in the folder
        cdfs = {}
    nodes: Dict[str, Any] = {
        "per_k": mrml.table_node_from_dataframe(per_k, scene=scene, name="consensus per k"),
        "classes": mrml.table_node_from_dataframe(classes, scene=scene, name="consensus classes"),
        "delta_area": mrml.delta_area_chart(per_k["k"].to_numpy(), per_k["delta_area"].to_numpy(),
                                            scene=scene),
    }
    if cdfs:
        nodes["cdf"] = mrml.consensus_cdf_chart(cdfs, scene=scene)
    sk = os.path.join(out_dir, "suggested_k.json")
    if os.path.isfile(sk):
        import json

        with open(sk) as fh:
            info = json.load(fh)
        nodes["suggested_k"] = info.get("k")
        nodes["suggested_k_rule"] = info.get("rule", "")
    return nodes
