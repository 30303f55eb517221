"""PanCancerSubtype core library: cross-modality tumour imaging subtypes.

Pipeline stages, one module each (none imports Slicer, Qt, CTK or VTK):

- :mod:`.io`             images and masks (NRRD, NIfTI, MHA, DICOM series, RTSTRUCT, .seg.nrrd)
- :mod:`.regions`        parenchyma masks and tumour regions TC / TIM / PM5 / PM10
- :mod:`.shape`          SPHARM shape descriptors (293)
- :mod:`.heterogeneity`  regional-variation features (20)
- :mod:`.radiomics`      PyRadiomics features
- :mod:`.features`       feature groups, single-case extraction
- :mod:`.cohort`         cohort runner (parallel, resumable)
- :mod:`.encoder`        feature preparation and autoencoder
- :mod:`.consensus`      consensus clustering (ConsensusClusterPlus semantics), IGP, purity
- :mod:`.classifier`     subtype classifier and model bundles
- :mod:`.survival`       Kaplan-Meier, log-rank, Cox, C-index, radiomic signatures
- :mod:`.segmentation`   tumour segmentation (U-Net, semi-automatic), evaluation; a subpackage
                         by role (networks, transforms, training, inference, semiauto,
                         metrics, robustness)

Command line: ``pancancer-subtype --help``.
"""
__version__ = "0.1.0"
