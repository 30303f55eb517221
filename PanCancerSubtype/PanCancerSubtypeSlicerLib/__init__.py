"""Slicer side of PanCancerSubtype: MRML adapters and GUI-free module logic.

* :mod:`.mrml`  -- MRML nodes <-> NumPy / SimpleITK / pandas (imports ``slicer`` and ``vtk``, no Qt)
* :mod:`.logic` -- what the three modules' Logic classes do, callable from the Python console,
  batch scripts and tests (no Qt)
* :mod:`.process` -- background ``PythonSlicer`` jobs for long computations (imports Qt lazily)

The core library :mod:`PanCancerSubtypeLib` never imports this package.
"""
