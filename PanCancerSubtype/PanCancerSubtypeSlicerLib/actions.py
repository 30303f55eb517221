"""What each panel button runs in the background, without Qt: command lines and result loading.

A button handler of a module calls one function here with the panel's nodes and options and a
temporary folder; it gets a :class:`PanelJob`: the inputs are already written to the folder, its
``calls`` are the command lines (``pancancer-subtype ...`` of the core, or the
``PanCancerSubtypeSlicerLib.jobs`` helper) that produce the results, and its ``finish()`` reads the
results back into MRML nodes.  :class:`~.process.JobRunner` runs the commands in a child process
tree and calls ``finish``; tests run the same ``calls`` through the real argument parsers and then
execute them, so what a panel sends is what the command line accepts.

Every option value is written as ``--name=value``: a value that starts with ``-`` (a seed at
negative x, a bounding box) would otherwise be taken by argparse for an option.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import logic, mrml

#: which program a call runs: the core's command line or the Slicer library's job helper
CORE = "PanCancerSubtypeLib"
JOBS = "PanCancerSubtypeSlicerLib.jobs"


@dataclass
class PanelJob:
    """Commands to run in order, then ``finish()``; ``workdir`` is deleted by ``cleanup()``."""

    description: str
    calls: List[Tuple[str, List[str]]]
    finish: Callable[[], Any]
    workdir: Optional[str] = None
    extra_paths: List[str] = field(default_factory=list)
    python: Optional[str] = None
    #: ``partial(rc, output_lines)`` -> True marks a non-zero exit of the last command as a
    #: result with errors (``cohort-features`` exits 1 when some case failed but writes every
    #: row): ``finish`` still runs and the log says so
    partial: Optional[Callable[[int, List[str]], bool]] = None

    @property
    def commands(self) -> List[List[str]]:
        from .process import python_executable

        py = self.python or python_executable()
        return [[py, "-m", prog] + [str(a) for a in args] for prog, args in self.calls]

    def cleanup(self) -> None:
        if self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)


option = logic.cli_option


def _removes_workdir_on_error(builder):
    """A job builder whose ``workdir`` (the job's own temporary folder, deleted by
    ``PanelJob.cleanup``) is deleted when the builder itself fails: inputs are written before
    the seeds, box and segment names are checked, and a failed click left a copy of the image
    in Slicer's temporary folder."""
    import functools
    import inspect

    signature = inspect.signature(builder)

    @functools.wraps(builder)
    def build(*args, **kwargs):
        workdir = signature.bind(*args, **kwargs).arguments.get("workdir")
        existed = bool(workdir) and os.path.isdir(workdir) and bool(os.listdir(workdir))
        try:
            return builder(*args, **kwargs)
        except BaseException:
            if workdir and not existed and os.path.isdir(workdir):
                shutil.rmtree(workdir, ignore_errors=True)
            raise

    return build


# ----------------------------------------------------------------------------------------------
# segmentation panel
# ----------------------------------------------------------------------------------------------

@_removes_workdir_on_error
def seed_segmentation(volume, seeds, segmentation, workdir: str,
                      modality: Optional[str] = None,
                      settings: Optional[Mapping[str, Any]] = None, box=None, background=None,
                      second_channel=None, method: Optional[str] = None,
                      on_done: Optional[Callable[[Dict[str, Any]], None]] = None) -> PanelJob:
    """``pancancer-subtype segment --seed=x,y,z ...`` (LPS mm); result: the ``tumour`` segment.

    ``box``: a markups ROI node (``--bbox``); ``background``: a markups point list
    (``--background``, click method); ``second_channel``: a scalar volume node (e.g. FLAIR,
    ``--second-channel``); ``method``: ``"click"`` (default) or ``"region_growing"``.  With the
    click method ``finish()`` returns the ``--report`` (confidence, ``low``, warnings, model,
    modality used; :func:`.logic.read_segment_report`) and passes it to ``on_done``.
    ``settings``: further ``segment`` options by their command-line name (``max-radius``,
    ``warn-below``...), each written ``--name=value``.
    """
    paths = logic.write_case_inputs(volume, out_dir=workdir)
    out = os.path.join(workdir, "tumour_mask.nrrd")
    click = method in (None, "click")
    report = os.path.join(workdir, "report.json") if click else None
    ch2 = None
    if second_channel is not None:
        ch2 = os.path.join(workdir, "second_channel.nrrd")
        logic.write_volume(second_channel, ch2)
    bg = None
    if logic.placed_points(background):
        bg = logic.seeds_lps_from_markups(background)
    args = logic.segment_args(paths["image"], out, logic.seeds_lps_from_markups(seeds),
                              modality=modality, settings=settings,
                              bbox_lps=logic.box_lps_from_roi(box) if box is not None else None,
                              background_lps=bg, second_channel_path=ch2, method=method,
                              report_path=report)

    def finish():
        logic.segment_from_file(out, segmentation, volume, logic.TUMOUR_SEGMENT)
        rep = logic.read_segment_report(report) if report and os.path.isfile(report) else None
        if on_done and rep is not None:
            on_done(rep)
        return rep

    return PanelJob("Tumour segmentation", [(CORE, ["segment"] + args)], finish, workdir)


def cohort_segmentation(manifest: str, out_dir: str, scene,
                        appearance: Optional[str] = None) -> PanelJob:
    """``pancancer-subtype cohort-segment`` (a manifest of clicks; resumes a partial run): the
    masks, ``segmentation.csv`` and ``manifest.csv`` (for the Features panel's cohort run) in
    ``out_dir``; ``segmentation.csv`` becomes a table (confidence, ``needs_check``, errors)."""
    args = ["cohort-segment"] + option("manifest", manifest) + option("out-dir", out_dir) + \
        option("appearance", appearance)

    def finish():
        return logic.table_from_csv(os.path.join(out_dir, "segmentation.csv"), scene=scene)

    # exit code 1 with the summary line: every case recorded, some failed (error column)
    return PanelJob("Cohort segmentation", [(CORE, args)], finish, None,
                    partial=lambda rc, lines: rc == 1 and any(" with errors, " in ln
                                                              for ln in lines))


@_removes_workdir_on_error
def unet_segmentation(volume, model_dir: str, segmentation, workdir: str,
                      modality: Optional[str] = None, seeds=None) -> PanelJob:
    """``pancancer-subtype segment --model=DIR`` (seeds, if given, pick the components to keep)."""
    paths = logic.write_case_inputs(volume, out_dir=workdir)
    out = os.path.join(workdir, "tumour_mask.nrrd")
    args = logic.segment_args(paths["image"], out,
                              logic.seeds_lps_from_markups(seeds) if seeds is not None else None,
                              model_dir=model_dir, modality=modality)

    def finish():
        logic.segment_from_file(out, segmentation, volume, logic.TUMOUR_SEGMENT)

    return PanelJob("Tumour segmentation (U-Net)", [(CORE, ["segment"] + args)], finish, workdir)


@_removes_workdir_on_error
def parenchyma(volume, segmentation, workdir: str, organ: Optional[str] = None,
               modality: Optional[str] = None) -> PanelJob:
    """Organ parenchyma around the ``tumour`` segment, as a segment named after the organ."""
    paths = logic.write_case_inputs(volume, segmentation, logic.TUMOUR_SEGMENT, out_dir=workdir)
    out = os.path.join(workdir, "parenchyma.nrrd")
    args = ["parenchyma"] + option("image", paths["image"]) + option("mask", paths["mask"]) + \
        option("out", out) + option("organ", organ) + option("modality", modality)
    name = organ or logic.PARENCHYMA_SEGMENT

    def finish():
        return logic.segment_from_file(out, segmentation, volume, name)

    return PanelJob("Parenchyma segmentation", [(JOBS, args)], finish, workdir)


@_removes_workdir_on_error
def regions(volume, segmentation, workdir: str, organ_segment: Optional[str] = None,
            organ: Optional[str] = None, modality: Optional[str] = None,
            definition: str = "reference") -> PanelJob:
    """TC / TIM / PM5 / PM10 around the ``tumour`` segment, as four segments (``definition``:
    the regional features' region definition, see ``regions.DEFINITIONS``)."""
    paths = logic.write_case_inputs(volume, segmentation, logic.TUMOUR_SEGMENT, organ_segment,
                                    out_dir=workdir)
    out = os.path.join(workdir, "regions.nrrd")
    args = ["regions"] + option("image", paths["image"]) + option("mask", paths["mask"]) + \
        option("out", out) + option("organ-mask", paths.get("organ_mask")) + \
        option("organ", organ) + option("modality", modality) + option("definition", definition)

    def finish():
        logic.regions_from_file(out, segmentation, volume)

    return PanelJob("Tumour regions", [(JOBS, args)], finish, workdir)


# ----------------------------------------------------------------------------------------------
# features panel
# ----------------------------------------------------------------------------------------------

@_removes_workdir_on_error
def features(volume, segmentation, segments: Sequence[str], table, workdir: str,
             groups: Sequence[str] = ("shape", "regional"), organ_segment: Optional[str] = None,
             modality: Optional[str] = None, organ: Optional[str] = None,
             shape_mode: str = "robust", shape_interpolation: str = "linear",
             regional_definition: Optional[str] = None,
             extra_paths: Sequence[str] = ()) -> PanelJob:
    """``pancancer-subtype features`` once per segment (ids or names: the panel passes ids, so
    two segments of the same name are each measured); the rows go into ``table`` (one per
    segment, first column ``Segment``, :func:`.mrml.segment_labels`)."""
    calls, outs = [], []
    labels = mrml.segment_labels(segmentation, segments)
    for i, (segment, label) in enumerate(zip(segments, labels)):
        d = os.path.join(workdir, f"segment{i}")
        paths = logic.write_case_inputs(volume, segmentation, segment, organ_segment, out_dir=d)
        out = os.path.join(d, "features.csv")
        args = logic.features_args(paths, out, modality, groups, f"{volume.GetName()}:{label}",
                                   organ=organ, shape_mode=shape_mode,
                                   shape_interpolation=shape_interpolation,
                                   regional_definition=regional_definition)
        calls.append((CORE, ["features"] + args))
        outs.append((label, out))

    def finish():
        import pandas as pd

        frames = []
        for segment, out in outs:
            df = logic.read_core_csv(out)
            df.insert(0, "Segment", segment)
            frames.append(df)
        return mrml.table_node_from_dataframe(pd.concat(frames, ignore_index=True), node=table)

    return PanelJob("Features", calls, finish, workdir, list(extra_paths))


@_removes_workdir_on_error
def spharm(volume, segmentation, segment: str, degree: int, model, workdir: str,
           mode: str = "robust") -> PanelJob:
    """SPHARM reconstruction of ``segment`` up to ``degree`` into the model node ``model``."""
    paths = logic.write_case_inputs(volume, segmentation, segment, out_dir=workdir)
    out = os.path.join(workdir, "spharm.npz")
    degree = int(degree)
    args = ["spharm"] + option("image", paths["image"]) + option("mask", paths["mask"]) + \
        option("degree", degree) + option("mode", mode) + option("out", out)

    label = mrml.segment_labels(segmentation, [segment])[0]

    def finish():
        node = logic.model_from_npz(out, scene=model.GetScene(), model_node=model, segment=label)
        node.SetName(f"{label} SPHARM degree {degree}")
        return node

    return PanelJob("SPHARM reconstruction", [(JOBS, args)], finish, workdir)


def cohort_features(manifest: str, out_csv: str, scene, workers: Optional[int] = None,
                    groups: Sequence[str] = ("shape", "regional"), shape_mode: str = "robust",
                    shape_interpolation: str = "linear", regional_definition: Optional[str] = None,
                    extra_paths: Sequence[str] = ()) -> PanelJob:
    """``pancancer-subtype cohort-features`` (resumes a partial run; ``workers``: default the
    machine's cores); the CSV becomes a table."""
    args = ["cohort-features"] + option("manifest", manifest) + option("out", out_csv) + \
        option("workers", None if workers is None else int(workers)) + \
        option("groups", ",".join(groups)) + \
        option("shape-mode", shape_mode) + option("shape-interpolation", shape_interpolation) + \
        option("regional-definition", regional_definition)

    def finish():
        return logic.table_from_csv(out_csv, scene=scene)

    # exit code 1 with the summary line: every row written, some cases failed (error column)
    return PanelJob("Cohort features", [(CORE, args)], finish, None, list(extra_paths),
                    partial=lambda rc, lines: rc == 1 and any(" with errors)" in ln
                                                              for ln in lines))


# ----------------------------------------------------------------------------------------------
# subtype panel
# ----------------------------------------------------------------------------------------------

@_removes_workdir_on_error
def discovery(cohort_table, workdir: str, k_max: int = 10, reps: int = 1000,
              p_item: float = 0.8, seed: int = 1, encode: str = "none",
              preprocess: str = "standardize", weighting: str = "family",
              on_done: Optional[Callable[[Dict[str, Any]], None]] = None) -> PanelJob:
    """``pancancer-subtype discover`` on a features table node; results as tables and charts.

    ``encode``: ``"none"``, ``"auto"`` (autoencoder or PCA, the better on held-out tumours),
    ``"autoencoder"`` or ``"pca"`` (``True`` / ``False`` mean autoencoder / none);
    ``preprocess`` and ``weighting`` as ``discover --preprocess`` / ``--weighting``."""
    if isinstance(encode, bool):
        encode = "autoencoder" if encode else "none"
    os.makedirs(workdir, exist_ok=True)
    features_csv = os.path.join(workdir, "features.csv")
    mrml.dataframe_from_table_node(cohort_table).to_csv(features_csv, index=False)
    out_dir = os.path.join(workdir, "discover")
    args = ["discover"] + option("features", features_csv) + option("out", out_dir) + \
        option("k-max", int(k_max)) + option("reps", int(reps)) + \
        option("p-item", float(p_item)) + option("seed", int(seed)) + \
        option("encode", encode) + option("preprocess", preprocess) + \
        option("weighting", weighting) + ["--no-plots"]
    scene = cohort_table.GetScene()

    def finish():
        nodes = logic.load_discovery_results(out_dir, scene=scene)
        if on_done:
            on_done(nodes)
        return nodes

    return PanelJob("Consensus clustering", [(CORE, args)], finish, workdir)
