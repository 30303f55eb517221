"""Sample data for the modules' self-tests, registered with Slicer's SampleData module.

PyRadiomics' public test cases (BSD-3-Clause): a brain MR and a lung CT, each an image and a tumour
label map (label 1).  Slicer extensions normally host such files as GitHub release assets addressed
by their SHA256; no release host of this extension exists yet, so the files are downloaded from
PyRadiomics' GitHub repository.  The SHA256 checksums were computed from the same files (the copies
in the project's shared test data, which are byte-identical to PyRadiomics' ``data/`` folder), and
SampleData verifies them after download.  When a release host exists, change only the URLs.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

_BASE = "https://raw.githubusercontent.com/AIM-Harvard/pyradiomics/master/data/"

#: sample name -> [(file name, url, "SHA256:<digest>"), ...] (image first, then tumour label)
SAMPLES: Dict[str, List[Tuple[str, str, str]]] = {
    "PanCancerBrain1": [
        ("brain1_image.nrrd", _BASE + "brain1_image.nrrd",
         "SHA256:fffdb111ee8b428ede7256707393c927a7d5be912f0604cf3c6f1bd5fc9644cf"),
        ("brain1_label.nrrd", _BASE + "brain1_label.nrrd",
         "SHA256:ae6d8e6b84f7e99d68c210ee2fa6aaaefa0b2df0a84f55efca4feebe2b216059"),
    ],
    "PanCancerLung1": [
        ("lung1_image.nrrd", _BASE + "lung1_image.nrrd",
         "SHA256:379fa48bf34cfa961e6f5ec19c0c38757a30b9aa884212ef28dc29b5061c64ed"),
        ("lung1_label.nrrd", _BASE + "lung1_label.nrrd",
         "SHA256:e9d9a88054d7bc1d3034193ff907ce6b8c6ba28a7bc3a16f23728982d1b6b50a"),
    ],
}

CATEGORY = "PanCancerSubtype"
_registered = False


def register(thumbnail: str) -> None:
    """Register the samples (once per session) under the "PanCancerSubtype" category."""
    global _registered
    if _registered:
        return
    import SampleData

    # the category (title of the sample group) can be registered only in Slicer >= 5.12
    if hasattr(SampleData.SampleDataLogic, "registerCustomSampleDataCategory"):
        SampleData.SampleDataLogic.registerCustomSampleDataCategory(CATEGORY, title=CATEGORY)
    for name, files in SAMPLES.items():
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category=CATEGORY,
            sampleName=name,
            thumbnailFileName=thumbnail,
            uris=[f[1] for f in files],
            fileNames=[f[0] for f in files],
            checksums=[f[2] for f in files],
            nodeNames=[name, name + "-label"],
        )
    _registered = True


def load(name: str, thumbnail: str):
    """Download (cached, checksum-verified) and load a sample: returns (volume, label volume).

    ``SampleData.downloadSamples`` returns every loaded node; ``downloadSample`` only the first.
    """
    import SampleData

    register(thumbnail)
    nodes = SampleData.downloadSamples(name)
    if not isinstance(nodes, (list, tuple)) or len(nodes) != 2:
        raise RuntimeError(f"sample {name!r}: expected an image and a label volume, got {nodes!r}")
    return nodes[0], nodes[1]
