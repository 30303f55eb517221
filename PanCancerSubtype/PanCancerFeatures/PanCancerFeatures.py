"""PanCancerFeatures: the 313 cross-modality features (and PyRadiomics) of segmented tumours.

Pick a volume, a segmentation and one or more tumour segments: the features are computed in a
background ``PythonSlicer`` process by the core library (``pancancer-subtype features``) and shown
as a table node, one row per segment, each column described from the feature registry.  The SPHARM
reconstruction of a segment at a chosen degree becomes a model node.  The cohort section runs a
manifest CSV (``pancancer-subtype cohort-features``) with progress, cancel and resume.
"""
import os
from typing import Annotated, List, Optional

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from slicer import (vtkMRMLModelNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode,
                    vtkMRMLTableNode)

import pathlib

from PanCancerSubtypeSlicerLib.widgets import PanelWidgetMixin, runShowingTable, showTable


#
# PanCancerFeatures
#


class PanCancerFeatures(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("PanCancer Features")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Segmentations", "Tables"]
        self.parent.contributors = ["PanCancerSubtype developers"]
        self.parent.helpText = _("""
Cross-modality tumour features of Wu et al. 2021: 293 SPHARM shape descriptors and 20
regional-variation features (optionally PyRadiomics features too), one table row per tumour segment.
Hover a column header of the table to read what the feature means. The SPHARM section shows the
shape reconstructed up to a chosen degree. The cohort section computes a whole manifest.
""")
        self.parent.acknowledgementText = _("""
Method: Wu et al., "Radiological tumour classification across imaging modality and histology",
Nature Machine Intelligence 2021. PyRadiomics: van Griethuysen et al., Cancer Research 2017.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    from PanCancerSubtypeSlicerLib import sampledata

    sampledata.register(os.path.join(os.path.dirname(__file__), "Resources", "Icons",
                                     "PanCancerFeatures.png"))


#
# PanCancerFeaturesParameterNode
#


@parameterNodeWrapper
class PanCancerFeaturesParameterNode:
    """
    inputVolume, segmentation - the image and the segmentation with tumour segments.
    modality - "auto", "CT" or "MR".
    crossModality - compute the 313 cross-modality features (shape + regional).
    radiomics - also compute PyRadiomics features.
    shapeMode - SPHARM parameterisation ("robust" or "reference").
    shapeInterpolation - robust mode's mask interpolation ("linear" or "shape"-based).
    regionalDefinition - regional features: "reference", "3d" or "cross-modality" (agrees
        between CT and MR).
    organ - organ of the tumours (parenchyma search when no parenchyma segment is given).
    outputTable - table that receives the features.
    spharmDegree - degree of the SPHARM reconstruction; outputModel - its model node.
    manifestPath, cohortOutput, workers - cohort batch run.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    modality: Annotated[str, Choice(["auto", "CT", "MR"])] = "auto"
    crossModality: bool = True
    radiomics: bool = False
    shapeMode: Annotated[str, Choice(["robust", "reference"])] = "robust"
    shapeInterpolation: Annotated[str, Choice(["linear", "shape"])] = "linear"
    regionalDefinition: Annotated[str, Choice(["reference", "3d", "cross-modality"])] = "reference"
    organ: Annotated[str, Choice(["lung", "brain", "breast", "soft-tissue", "other"])] = "lung"
    outputTable: vtkMRMLTableNode
    spharmDegree: Annotated[float, WithinRange(1, 15)] = 15
    outputModel: vtkMRMLModelNode
    manifestPath: pathlib.Path
    cohortOutput: pathlib.Path
    workers: Annotated[int, WithinRange(1, 64)] = max(1, min(64, os.cpu_count() or 1))


#
# PanCancerFeaturesWidget
#


class PanCancerFeaturesWidget(PanelWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    defaultNodes = {"inputVolume": "vtkMRMLScalarVolumeNode",
                    "segmentation": "vtkMRMLSegmentationNode"}

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.initPanel()

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.setupPanel()

    def connectWidgets(self) -> None:
        # the segment selectors follow the chosen segmentation (not parameter-node bound)
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)",
                                             self.ui.segmentSelector.setCurrentNode)
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)",
                                             self.ui.organSegmentSelector.setCurrentNode)
        # qMRMLSegmentSelectorWidget emits segmentSelectionChanged(QStringList) in multi-selection
        # mode (Slicer 5.8 to main; there is no selectedSegmentIDsChanged)
        self.ui.segmentSelector.connect("segmentSelectionChanged(QStringList)",
                                        lambda ids: self.checkCanApply())
        self.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.ui.spharmButton.connect("clicked(bool)", self.onSpharm)
        self.ui.runCohortButton.connect("clicked(bool)", self.onRunCohort)
        self.ui.registryButton.connect("clicked(bool)", self.onShowRegistry)

    def updateButtons(self) -> None:
        p = self._parameterNode
        ready = bool(p and p.inputVolume and p.segmentation and self._selectedSegments())
        self.ui.applyButton.enabled = self.idle and ready and (p.crossModality or p.radiomics)
        self.ui.spharmButton.enabled = self.idle and ready
        self.ui.runCohortButton.enabled = self.idle and bool(
            p and str(p.manifestPath) not in ("", ".") and str(p.cohortOutput) not in ("", "."))

    def _selectedSegments(self) -> List[str]:
        """The selected segments' ids (not names: two segments may share a name)."""
        seg = self._parameterNode.segmentation if self._parameterNode else None
        if seg is None:
            return []
        segmentation = seg.GetSegmentation()
        return [i for i in self.ui.segmentSelector.selectedSegmentIDs()
                if segmentation.GetSegment(i) is not None]

    def _organSegment(self) -> Optional[str]:
        """The organ segment's id."""
        sid = self.ui.organSegmentSelector.currentSegmentID()
        seg = self._parameterNode.segmentation
        if not sid or seg is None or seg.GetSegmentation().GetSegment(sid) is None:
            return None
        return sid

    def _groups(self) -> List[str]:
        p = self._parameterNode
        groups = ["shape", "regional"] if p.crossModality else []
        if p.radiomics:
            groups.append("radiomics")
        return groups

    def onApply(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Feature computation failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies(radiomics=p.radiomics):
                return
            if not p.outputTable:
                p.outputTable = slicer.mrmlScene.AddNewNodeByClass(
                    "vtkMRMLTableNode", p.inputVolume.GetName() + " features")
            self.logic.startFeatures(self.jobs, p.inputVolume, p.segmentation,
                                     self._selectedSegments(), p.outputTable,
                                     groups=self._groups(), organSegment=self._organSegment(),
                                     modality=None if p.modality == "auto" else p.modality,
                                     organ=None if p.organ == "other" else p.organ,
                                     shapeMode=p.shapeMode,
                                     shapeInterpolation=p.shapeInterpolation,
                                     regionalDefinition=p.regionalDefinition)

    def onSpharm(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("SPHARM reconstruction failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            if not p.outputModel:
                p.outputModel = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLModelNode", "SPHARM")
            self.logic.startSpharm(self.jobs, p.inputVolume, p.segmentation,
                                   self._selectedSegments()[0], int(p.spharmDegree),
                                   mode=p.shapeMode, modelNode=p.outputModel)

    def onShowRegistry(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not show the feature registry."),
                                             waitCursor=True):
            if not self.logic.ensureDependencies():
                return
            from PanCancerSubtypeSlicerLib import logic

            showTable(logic.registry_table(scene=slicer.mrmlScene))

    def onRunCohort(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Cohort run failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies(radiomics=p.radiomics):
                return
            self.logic.startCohort(self.jobs, str(p.manifestPath), str(p.cohortOutput),
                                   workers=p.workers, groups=self._groups(),
                                   shapeMode=p.shapeMode,
                                   shapeInterpolation=p.shapeInterpolation,
                                   regionalDefinition=p.regionalDefinition)


#
# PanCancerFeaturesLogic
#


class PanCancerFeaturesLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper over ``PanCancerSubtypeSlicerLib.logic`` (usable without the GUI)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return PanCancerFeaturesParameterNode(super().getParameterNode())

    def ensureDependencies(self, radiomics: bool = False) -> bool:
        """Install the extension's Python packages on first use (after confirmation); with
        ``radiomics``, PyRadiomics where a binary wheel exists, else a message naming the
        SlicerRadiomics extension.  False: declined."""
        from PanCancerSubtypeSlicerLib import dependencies

        if not dependencies.ensure("base", requester="PanCancerFeatures"):
            return False
        return not radiomics or dependencies.ensure("radiomics", requester="PanCancerFeatures")

    def computeFeatures(self, volumeNode, segmentationNode, segments, tableNode=None,
                        groups=("shape", "regional"), organSegment=None, modality=None):
        """Blocking feature computation in this process (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.compute_features(volumeNode, segmentationNode, segments, groups=groups,
                                      organ_segment=organSegment, modality=modality,
                                      table_node=tableNode, scene=slicer.mrmlScene)

    def startFeatures(self, jobs, volumeNode, segmentationNode, segments, tableNode,
                      groups=("shape", "regional"), organSegment=None, modality=None, organ=None,
                      shapeMode="robust", shapeInterpolation="linear",
                      regionalDefinition="reference"):
        """Compute the features of each segment in a background process, one after the other;
        the rows are put into ``tableNode`` when all are done."""
        from PanCancerSubtypeSlicerLib import actions, dependencies

        tmp = slicer.util.tempDirectory("PanCancerFeatures")
        job = actions.features(volumeNode, segmentationNode, segments, tableNode, tmp,
                               groups=groups, organ_segment=organSegment, modality=modality,
                               organ=organ, shape_mode=shapeMode,
                               shape_interpolation=shapeInterpolation,
                               regional_definition=regionalDefinition,
                               extra_paths=dependencies.radiomics_paths()
                               if "radiomics" in groups else ())
        runShowingTable(jobs, job)

    def startSpharm(self, jobs, volumeNode, segmentationNode, segment, degree, mode="robust",
                    modelNode=None):
        """SPHARM reconstruction in a background process, shown as ``modelNode``."""
        from PanCancerSubtypeSlicerLib import actions

        if modelNode is None:
            modelNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLModelNode", "SPHARM")
        tmp = slicer.util.tempDirectory("PanCancerFeatures")
        jobs.run(actions.spharm(volumeNode, segmentationNode, segment, degree, modelNode, tmp,
                                mode=mode))

    def spharmModel(self, volumeNode, segmentationNode, segment, degree, mode="robust",
                    modelNode=None):
        """Blocking SPHARM reconstruction (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.spharm_model(volumeNode, segmentationNode, segment, degree=degree, mode=mode,
                                  model_node=modelNode, scene=slicer.mrmlScene)

    def startCohort(self, jobs, manifestPath, outputCsv, workers=None, groups=("shape", "regional"),
                    shapeMode="robust", shapeInterpolation="linear",
                    regionalDefinition="reference"):
        """Run ``pancancer-subtype cohort-features`` in the background (resumes a partial run);
        the result is loaded as a table."""
        from PanCancerSubtypeSlicerLib import actions, dependencies

        job = actions.cohort_features(manifestPath, outputCsv, slicer.mrmlScene, workers=workers,
                                      groups=groups, shape_mode=shapeMode,
                                      shape_interpolation=shapeInterpolation,
                                      regional_definition=regionalDefinition,
                                      extra_paths=dependencies.radiomics_paths()
                                      if "radiomics" in groups else ())
        runShowingTable(jobs, job)


#
# PanCancerFeaturesTest
#


class PanCancerFeaturesTest(ScriptedLoadableModuleTest):
    """Self-test on PyRadiomics' lung1 case from SampleData.

    Checks the node -> core ``Case`` conversion against the sample's label map. The full feature
    computation runs only with ``testLogic = True`` (it needs the core's dependencies installed).
    """

    testLogic = False

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_CaseFromNodes()
        if self.testLogic:
            self.test_Features()

    def _loadSample(self):
        from PanCancerSubtypeSlicerLib import mrml, sampledata

        registerSampleData()
        volume, label = sampledata.load("PanCancerLung1", "")
        mask = slicer.util.arrayFromVolume(label) == 1
        seg = mrml.segmentation_node_from_masks({"tumour": mask}, volume, scene=slicer.mrmlScene)
        return volume, seg, mask

    def test_CaseFromNodes(self):
        import numpy as np
        import SimpleITK as sitk

        from PanCancerSubtypeSlicerLib import logic

        self.delayDisplay("Loading lung1")
        volume, seg, mask = self._loadSample()
        case = logic.case_from_nodes(volume, seg, "tumour", modality="CT")
        self.assertTrue(np.array_equal(sitk.GetArrayFromImage(case.mask) > 0, mask))
        self.assertEqual(case.image.GetSize(), tuple(volume.GetImageData().GetDimensions()))
        self.delayDisplay("Case from nodes passed")

    def test_Features(self):
        volume, seg, mask = self._loadSample()
        table = PanCancerFeaturesLogic().computeFeatures(volume, seg, ["tumour"])
        self.assertEqual(table.GetNumberOfRows(), 1)
        self.assertGreater(table.GetNumberOfColumns(), 313)
