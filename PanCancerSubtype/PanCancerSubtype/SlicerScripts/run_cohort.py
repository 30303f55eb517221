"""Run a cohort manifest through 3D Slicer without the GUI.

Usage (the script is installed with the extension, next to the modules)::

    Slicer --no-splash --no-main-window --python-script /path/to/run_cohort.py \\
        --manifest cases.csv --out DIR [--groups shape,regional[,radiomics]] [--parenchyma] \\
        [--regions] [--install-dependencies]

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
column and the run goes on.  The nodes a case added are removed after it; nodes already in the
scene are left alone.

A manifest of clicks (a ``Seed`` column and no ``Mask``: ``pancancer-subtype cohort-segment``'s
manifest, ``Image``, ``Seed``, optional ``Box``, ``Background``, ``SecondChannel``, ...) is
segmented first, with the core's ``cohort.run_segmentation_cohort`` into ``DIR/clicks/``
(masks, ``segmentation.csv`` with each case's confidence and ``needs_check``, ``manifest.csv``),
and the cases segmented then run as above; a case whose segmentation failed is named on a
``failed:`` line and the exit code is 1.

Before any work the Python packages are checked; with ``--install-dependencies`` the missing ones
are installed (the extension's one requirement set, see ``PanCancerSubtypeSlicerLib.dependencies``),
without it the script stops and names them.

Exit code: 0 all cases done, 1 some case failed (each named on a ``failed:`` line) or an error
during the run (named with the case it happened in), 2 bad arguments, an unreadable or malformed
manifest, an output folder that cannot be made, or missing dependencies.  Every path ends the
process: ``Slicer --python-script`` without ``--testing`` keeps running after a script ends or
raises, so inside Slicer the script ends with ``slicer.util.exit(code)``.  The same function is
``PanCancerSubtypeSlicerLib.logic.run_manifest`` in the Python console.  Outside the Slicer
application (e.g. with the ``slicer-core`` wheel) the script makes its own MRML scene.
"""
import argparse
import os
import sys

EXIT_OK, EXIT_CASE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _add_library_path() -> None:
    """Make PanCancerSubtypeLib / PanCancerSubtypeSlicerLib importable (installed or source tree)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for up in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isdir(os.path.join(up, "PanCancerSubtypeSlicerLib")) and up not in sys.path:
            sys.path.insert(0, up)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run_cohort.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True,
                   help="manifest CSV (Image, Mask, Label, ID, ...), or of clicks (Image, "
                        "Seed, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--groups", default="shape,regional",
                   help="feature groups, comma separated (default: shape,regional = the 313 "
                        "cross-modality features; add radiomics for PyRadiomics)")
    p.add_argument("--parenchyma", action="store_true",
                   help="segment the organ parenchyma when the manifest has no OrganMask")
    p.add_argument("--regions", action="store_true",
                   help="add the TC / TIM / PM5 / PM10 region segments")
    p.add_argument("--install-dependencies", action="store_true",
                   help="install missing Python packages before the run (else: stop, naming them)")
    return p.parse_args(argv)


def _error(text: str) -> None:
    print(f"error: {text}", file=sys.stderr, flush=True)


def check_dependencies(groups, install: bool) -> bool:
    """True when the packages the run needs are there (installed now with ``install``)."""
    from PanCancerSubtypeSlicerLib import dependencies

    purposes = ["base"] + (["radiomics"] if "radiomics" in groups else [])
    need = dependencies.missing(purposes)
    if not need:
        return True
    if not install:
        _error(f"missing Python packages: {', '.join(need)}. Run again with "
               f"--install-dependencies, or install them into Slicer's Python")
        return False
    for p in purposes:
        if not dependencies.ensure(p, requester="run_cohort.py", prompt=False):
            _error(f"the {p} packages were not installed")
            return False
    return True


def main(argv=None, scene=None, instances=None) -> int:
    """Run the manifest; returns the exit code (``instances``: feature groups, for tests)."""
    _add_library_path()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help (0) or bad arguments (2)
        return EXIT_OK if exc.code in (0, None) else EXIT_BAD_INPUT
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    try:
        if not check_dependencies(groups, args.install_dependencies):
            return EXIT_BAD_INPUT
    except Exception as exc:  # pip failed, PyRadiomics unavailable, ...
        _error(f"dependencies: {type(exc).__name__}: {exc}")
        return EXIT_BAD_INPUT

    import slicer

    from PanCancerSubtypeSlicerLib import logic

    from PanCancerSubtypeLib.cohort import is_click_manifest, read_click_manifest

    clicks = is_click_manifest(args.manifest)
    try:
        (read_click_manifest if clicks else logic.read_manifest)(args.manifest)
    except Exception as exc:  # missing, unreadable, malformed: one line naming the file
        _error(f"manifest {args.manifest}: {type(exc).__name__}: {exc}")
        return EXIT_BAD_INPUT
    try:
        os.makedirs(os.path.join(args.out, "segmentations"), exist_ok=True)
    except OSError as exc:
        _error(f"output folder {args.out}: {exc}")
        return EXIT_BAD_INPUT
    if scene is None:
        scene = getattr(slicer, "mrmlScene", None) or slicer.vtkMRMLScene()

    current = {"case": None}

    def progress(i, n, cid):
        current["case"] = cid  # "" once every case is done
        if cid:
            print(f"[{i + 1}/{n}] {cid}", flush=True)

    manifest, unsegmented = args.manifest, []
    if clicks:  # segment first (the core's cohort-segment), then the cases segmented
        from PanCancerSubtypeLib.cohort import cases_to_check, run_segmentation_cohort

        seg_dir = os.path.join(args.out, "clicks")
        print(f"segmenting the clicks of {args.manifest} into {seg_dir}", flush=True)
        seg = run_segmentation_cohort(args.manifest, seg_dir, workers=1, progress=False,
                                      command="run_cohort.py")   # (no fork of Slicer)
        unsegmented = [(r["ID"], r["error"]) for _, r in seg.iterrows() if r["error"]]
        check = cases_to_check(seg)
        print(f"{len(seg) - len(unsegmented)} of {len(seg)} cases segmented"
              + (f"; to check: {', '.join(check)}" if check else ""), flush=True)
        manifest = os.path.join(seg_dir, "manifest.csv")
        if len(unsegmented) == len(seg):
            for cid, err in unsegmented:
                print(f"failed: {cid}: {err}", file=sys.stderr)
            return EXIT_CASE_FAILED
    try:
        df, _table = logic.run_manifest(manifest, args.out, scene=scene, groups=groups,
                                        regions=args.regions, parenchyma=args.parenchyma,
                                        instances=instances, progress=progress)
    except Exception as exc:
        import traceback

        where = f"case {current['case']}" if current["case"] else f"manifest {args.manifest}"
        traceback.print_exc()
        _error(f"{where}: {type(exc).__name__}: {exc}")
        return EXIT_CASE_FAILED
    failed = df[df["error"].astype(str) != ""]
    n = len(df) + len(unsegmented)
    print(f"{len(df) - len(failed)} of {n} cases done; features: "
          f"{os.path.join(args.out, 'features.csv')}", flush=True)
    for cid, err in unsegmented + [(r["ID"], r["error"]) for _, r in failed.iterrows()]:
        print(f"failed: {cid}: {err}", file=sys.stderr)
    return EXIT_CASE_FAILED if len(failed) or unsegmented else EXIT_OK


def finish(code: int) -> None:
    """End the process with ``code``: ``slicer.util.exit`` inside the Slicer application (which
    otherwise keeps running after a ``--python-script``), ``sys.exit`` elsewhere."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        import slicer

        app = getattr(slicer, "app", None)
    except ImportError:
        app = None
    if app is not None:
        slicer.util.exit(code)
    else:
        sys.exit(code)


def run(argv=None) -> None:
    """Entry point: :func:`main`, any exception reported, then :func:`finish` on every path."""
    try:
        code = main(argv)
    except BaseException as exc:  # noqa: B902 - KeyboardInterrupt and SystemExit included
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        else:
            import traceback

            traceback.print_exc()
            _error(f"{type(exc).__name__}: {exc}")
            code = EXIT_CASE_FAILED
    finish(code)


if __name__ == "__main__":
    run()
