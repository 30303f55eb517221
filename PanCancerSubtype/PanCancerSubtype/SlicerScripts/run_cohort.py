"""Run a cohort manifest through 3D Slicer without the GUI.

Usage (the script is installed with the extension, next to the modules)::

    Slicer --no-splash --no-main-window --python-script /path/to/run_cohort.py \\
        --manifest cases.csv --out DIR [--groups shape,regional[,radiomics]] [--parenchyma] \\
        [--regions]

To find the installed script from Slicer's Python console::

    import os; os.path.join(os.path.dirname(slicer.modules.pancancersubtype.path), "SlicerScripts",
                            "run_cohort.py")

The manifest uses PyRadiomics' batch columns: ``Image``, ``Mask``, optional ``Label`` (``1`` or
``1,3,4``; empty: the label rule of every command, ``PanCancerSubtypeLib.io.LABEL_RULE``), ``ID``,
``Organ``, ``CancerType``, ``Modality``, ``OrganMask``, ``OrganLabel``; relative paths are relative
to the manifest.  For each case the image is loaded into a volume node, the tumour (and
organ) masks into a segmentation node (``--parenchyma`` / ``--regions`` add the parenchyma and the
TC / TIM / PM5 / PM10 segments), the features are computed from the nodes with the modules' logic,
and the segmentation is saved as ``DIR/segmentations/<ID>.seg.nrrd``.  ``DIR/features.csv`` (with
Slicer's ``.schema.csv``) holds one row per case; a failing case is recorded in its ``error``
column and the run goes on.

Exit code: 0 all cases succeeded, 1 some case failed (see the ``error`` column), 2 bad arguments
or manifest.  The same function is ``PanCancerSubtypeSlicerLib.logic.run_manifest`` in the Python
console.  Outside the Slicer application (e.g. with the ``slicer-core`` wheel) the script makes
its own MRML scene.
"""
import argparse
import os
import sys


def _add_library_path() -> None:
    """Make PanCancerSubtypeLib / PanCancerSubtypeSlicerLib importable (installed or source tree)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for up in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isdir(os.path.join(up, "PanCancerSubtypeSlicerLib")) and up not in sys.path:
            sys.path.insert(0, up)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run_cohort.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True, help="manifest CSV (Image, Mask, Label, ID, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--groups", default="shape,regional",
                   help="feature groups, comma separated (default: shape,regional = the 313 "
                        "cross-modality features; add radiomics for PyRadiomics)")
    p.add_argument("--parenchyma", action="store_true",
                   help="segment the organ parenchyma when the manifest has no OrganMask")
    p.add_argument("--regions", action="store_true",
                   help="add the TC / TIM / PM5 / PM10 region segments")
    return p.parse_args(argv)


def main(argv=None, scene=None, instances=None) -> int:
    """Run the manifest; returns the exit code (``instances``: feature groups, for tests)."""
    _add_library_path()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    import slicer

    from PanCancerSubtypeLib.errors import PanCancerSubtypeError
    from PanCancerSubtypeSlicerLib import logic

    if scene is None:
        scene = getattr(slicer, "mrmlScene", None) or slicer.vtkMRMLScene()
    groups = [g for g in args.groups.split(",") if g.strip()]

    def progress(i, n, cid):
        if cid:
            print(f"[{i + 1}/{n}] {cid}", flush=True)

    try:
        df, _table = logic.run_manifest(args.manifest, args.out, scene=scene, groups=groups,
                                        regions=args.regions, parenchyma=args.parenchyma,
                                        instances=instances, progress=progress)
    except (PanCancerSubtypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = df[df["error"].astype(str) != ""]
    print(f"{len(df) - len(failed)} of {len(df)} cases done; features: "
          f"{os.path.join(args.out, 'features.csv')}", flush=True)
    for _, r in failed.iterrows():
        print(f"failed: {r['ID']}: {r['error']}", file=sys.stderr)
    return 1 if len(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
