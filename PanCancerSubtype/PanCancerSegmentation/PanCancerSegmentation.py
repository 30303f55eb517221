"""PanCancerSegmentation: tumour, parenchyma and tumour-region segments for PanCancerSubtype.

Semi-automatic segmentation from seed points, automatic U-Net segmentation, organ parenchyma and
the TC / TIM / PM5 / PM10 regions, all as named, coloured segments of a segmentation node.  Heavy
work runs in a background ``PythonSlicer`` process (the core library's command line); the logic is
in ``PanCancerSubtypeSlicerLib.logic`` and also works from the Python console and batch scripts.
"""
import os
from typing import Annotated, Optional

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper

from slicer import (vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)

import pathlib

from PanCancerSubtypeSlicerLib.widgets import PanelWidgetMixin, runShowingTable


#
# PanCancerSegmentation
#


class PanCancerSegmentation(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("PanCancer Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["Markups", "Segmentations"]
        self.parent.contributors = ["PanCancerSubtype developers"]
        self.parent.helpText = _("""
Tumour segmentation for PanCancerSubtype: from seed points (no trained model needed) or with a
trained U-Net; organ parenchyma (lung, brain, breast) and the tumour regions TC, TIM, PM5, PM10 used
by the regional-variation features. Results are named, coloured segments.
See the <a href="https://github.com/PanCancerSubtype/SlicerPanCancerSubtype">documentation</a>.
""")
        self.parent.acknowledgementText = _("""
Method: Wu et al., "Radiological tumour classification across imaging modality and histology",
Nature Machine Intelligence 2021.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data (PyRadiomics' brain1 and lung1, see PanCancerSubtypeSlicerLib/sampledata.py)
#


def registerSampleData():
    from PanCancerSubtypeSlicerLib import sampledata

    sampledata.register(os.path.join(os.path.dirname(__file__), "Resources", "Icons",
                                     "PanCancerSegmentation.png"))


#
# PanCancerSegmentationParameterNode
#


@parameterNodeWrapper
class PanCancerSegmentationParameterNode:
    """
    inputVolume - CT or MR volume to segment.
    seeds - point list with seed points inside the tumour.
    box - optional ROI the tumour lies in.
    background - optional point list with points outside the tumour (click method).
    secondChannel - optional second image of the same region, e.g. FLAIR next to T1c (click method).
    method - "click" (default) or "region_growing".
    appearance - the click method's appearance model: "auto" (default), "lung", "bright" or
        "generic".
    modelDir - folder of a trained U-Net model (automatic segmentation).
    organ - organ of the tumour (parenchyma model).
    regionDefinition - how the tumour regions are drawn: "reference" (default), "3d" or
        "cross-modality", as the regional features' definition.
    modality - "auto", "CT" or "MR".
    outputSegmentation - segmentation that receives the segments.
    cohortManifest, cohortOutput - cohort batch run: a CSV of clicks and the output folder.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    seeds: vtkMRMLMarkupsFiducialNode
    box: vtkMRMLMarkupsROINode
    background: vtkMRMLMarkupsFiducialNode
    secondChannel: vtkMRMLScalarVolumeNode
    method: Annotated[str, Choice(["click", "region_growing"])] = "click"
    appearance: Annotated[str, Choice(["auto", "lung", "bright", "generic"])] = "auto"
    modelDir: pathlib.Path
    organ: Annotated[str, Choice(["lung", "brain", "breast", "other"])] = "lung"
    regionDefinition: Annotated[str, Choice(["reference", "3d", "cross-modality"])] = "reference"
    modality: Annotated[str, Choice(["auto", "CT", "MR"])] = "auto"
    outputSegmentation: vtkMRMLSegmentationNode
    cohortManifest: pathlib.Path
    cohortOutput: pathlib.Path


#
# PanCancerSegmentationWidget
#


class PanCancerSegmentationWidget(PanelWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    defaultNodes = {"inputVolume": "vtkMRMLScalarVolumeNode"}

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.initPanel()

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.setupPanel()

    def connectWidgets(self) -> None:
        self.ui.seedSegmentButton.connect("clicked(bool)", self.onSeedSegment)
        self.ui.autoSegmentButton.connect("clicked(bool)", self.onAutoSegment)
        self.ui.parenchymaButton.connect("clicked(bool)", self.onParenchyma)
        self.ui.regionsButton.connect("clicked(bool)", self.onRegions)
        self.ui.runCohortButton.connect("clicked(bool)", self.onRunCohort)

    def updateButtons(self) -> None:
        p = self._parameterNode
        hasVolume = bool(p and p.inputVolume)
        self.ui.seedSegmentButton.enabled = self.idle and hasVolume and bool(p.seeds)
        self.ui.autoSegmentButton.enabled = self.idle and hasVolume and bool(p.modelDir) and \
            str(p.modelDir) not in ("", ".")
        hasTumour = hasVolume and bool(p.outputSegmentation) and bool(
            p.outputSegmentation.GetSegmentation().GetSegmentIdBySegmentName("tumour"))
        self.ui.parenchymaButton.enabled = self.idle and hasTumour
        self.ui.regionsButton.enabled = self.idle and hasTumour
        self.ui.runCohortButton.enabled = self.idle and bool(
            p and str(p.cohortManifest) not in ("", ".") and str(p.cohortOutput) not in ("", "."))

    def _outputSegmentation(self):
        p = self._parameterNode
        if not p.outputSegmentation:
            p.outputSegmentation = self.logic.newSegmentation(p.inputVolume)
        return p.outputSegmentation

    def _modality(self) -> Optional[str]:
        m = self._parameterNode.modality
        return None if m == "auto" else m

    def onSeedSegment(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Seed-point segmentation failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            seg = self._outputSegmentation()
            self.ui.confidenceLabel.text = ""
            self.logic.startSegmentation(self.jobs, p.inputVolume, seg, seeds=p.seeds,
                                         modality=self._modality(), box=p.box,
                                         background=p.background,
                                         secondChannel=p.secondChannel, method=p.method,
                                         appearance=None if p.appearance == "auto" else
                                         p.appearance, onReport=self.showConfidence)

    def showConfidence(self, report) -> None:
        """The click method's confidence under the button; a low one is shown as a warning."""
        from PanCancerSubtypeSlicerLib import logic

        self.ui.confidenceLabel.text = logic.confidence_text(report, warnings=True)
        self.ui.confidenceLabel.setStyleSheet("QLabel { color: #c0392b; font-weight: bold }"
                                              if report.get("low") else "")

    def onAutoSegment(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("U-Net segmentation failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies(torch=True):
                return
            seg = self._outputSegmentation()
            self.logic.startSegmentation(self.jobs, p.inputVolume, seg, modelDir=str(p.modelDir),
                                         modality=self._modality())

    def onParenchyma(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Parenchyma segmentation failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            organ = None if p.organ == "other" else p.organ
            self.logic.startParenchyma(self.jobs, p.inputVolume, p.outputSegmentation,
                                       organ=organ, modality=self._modality())

    def onRegions(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Tumour regions failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            organ = None if p.organ == "other" else p.organ
            organSegment = organ if organ and p.outputSegmentation.GetSegmentation(
            ).GetSegmentIdBySegmentName(organ) else None
            self.logic.startRegions(self.jobs, p.inputVolume, p.outputSegmentation,
                                    organSegment=organSegment, modality=self._modality(),
                                    organ=organ, definition=p.regionDefinition)


    def onRunCohort(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Cohort segmentation failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            self.logic.startCohort(self.jobs, str(p.cohortManifest), str(p.cohortOutput),
                                   appearance=None if p.appearance == "auto" else p.appearance)


#
# PanCancerSegmentationLogic
#


class PanCancerSegmentationLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper over ``PanCancerSubtypeSlicerLib.logic`` (usable without the GUI)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return PanCancerSegmentationParameterNode(super().getParameterNode())

    def ensureDependencies(self, torch: bool = False) -> bool:
        """Install the extension's Python packages on first use (after confirmation); with
        ``torch``, PyTorch from the PyTorch extension and then MONAI.  False: declined."""
        from PanCancerSubtypeSlicerLib import dependencies

        if not dependencies.ensure("base", requester="PanCancerSegmentation"):
            return False
        return not torch or dependencies.ensure("torch", requester="PanCancerSegmentation")

    def newSegmentation(self, volumeNode):
        from PanCancerSubtypeSlicerLib import mrml

        return mrml.new_segmentation_node(volumeNode, scene=slicer.mrmlScene,
                                          name=volumeNode.GetName() + " segmentation")

    def segmentFromSeeds(self, volumeNode, seedsNode, segmentationNode=None, boxNode=None,
                         backgroundNode=None, secondChannelNode=None):
        """Blocking semi-automatic segmentation (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.segment_from_seeds(volumeNode, seedsNode, segmentationNode,
                                        scene=slicer.mrmlScene, box_node=boxNode,
                                        background_node=backgroundNode,
                                        second_channel_node=secondChannelNode)

    def segmentAutomatic(self, volumeNode, modelDir, segmentationNode=None):
        """Blocking U-Net segmentation (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.segment_automatic(volumeNode, modelDir, segmentationNode,
                                       scene=slicer.mrmlScene)

    def startSegmentation(self, jobs, volumeNode, segmentationNode, seeds=None, modelDir=None,
                          modality=None, box=None, background=None, secondChannel=None,
                          method="click", onReport=None, appearance=None):
        """Run ``pancancer-subtype segment`` in a background process; the result becomes the
        ``tumour`` segment of ``segmentationNode`` when the job completes; ``onReport`` gets the
        click method's report (confidence, warnings); ``appearance``: the click method's
        appearance model (``--appearance``; None: chosen from the modality and the click)."""
        from PanCancerSubtypeSlicerLib import actions

        tmp = slicer.util.tempDirectory("PanCancerSegmentation")
        if modelDir:
            job = actions.unet_segmentation(volumeNode, modelDir, segmentationNode, tmp,
                                            modality=modality, seeds=seeds)
        else:
            job = actions.seed_segmentation(volumeNode, seeds, segmentationNode, tmp,
                                            modality=modality, box=box, background=background,
                                            second_channel=secondChannel, method=method,
                                            on_done=onReport,
                                            settings={"appearance": appearance} if appearance
                                            else None)
        finish = job.finish

        def finishAndShow():
            finish()
            slicer.util.setSliceViewerLayers(background=volumeNode)

        job.finish = finishAndShow
        jobs.run(job)

    def startCohort(self, jobs, manifestPath, outputFolder, appearance=None):
        """Run ``pancancer-subtype cohort-segment`` in the background (resumes a partial run);
        ``segmentation.csv`` is loaded as a table and shown."""
        from PanCancerSubtypeSlicerLib import actions

        runShowingTable(jobs, actions.cohort_segmentation(manifestPath, outputFolder,
                                                          slicer.mrmlScene, appearance=appearance))

    def startParenchyma(self, jobs, volumeNode, segmentationNode, organ=None, modality=None):
        """Organ parenchyma in a background process; becomes a segment named after the organ."""
        from PanCancerSubtypeSlicerLib import actions

        tmp = slicer.util.tempDirectory("PanCancerSegmentation")
        jobs.run(actions.parenchyma(volumeNode, segmentationNode, tmp, organ=organ,
                                    modality=modality))

    def startRegions(self, jobs, volumeNode, segmentationNode, organSegment=None, modality=None,
                     organ=None, definition="reference"):
        """TC / TIM / PM5 / PM10 in a background process; added as four segments."""
        from PanCancerSubtypeSlicerLib import actions

        tmp = slicer.util.tempDirectory("PanCancerSegmentation")
        jobs.run(actions.regions(volumeNode, segmentationNode, tmp, organ_segment=organSegment,
                                 organ=organ, modality=modality, definition=definition))

    def addParenchyma(self, volumeNode, segmentationNode, organ=None, modality=None):
        """Blocking parenchyma segment (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.add_parenchyma_segment(volumeNode, segmentationNode, organ=organ,
                                            modality=modality)

    def addRegions(self, volumeNode, segmentationNode, organSegment=None, modality=None,
                   definition="reference"):
        """Blocking TC / TIM / PM5 / PM10 segments (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.add_region_segments(volumeNode, segmentationNode, organ_segment=organSegment,
                                         modality=modality, definition=definition)


#
# PanCancerSegmentationTest
#


class PanCancerSegmentationTest(ScriptedLoadableModuleTest):
    """Self-test on PyRadiomics' brain1 case from SampleData.

    The core computations (seed-point growing, parenchyma) are not run here by default: they are
    covered by the core library's pytest suite. Set ``testLogic = True`` to run them too.
    """

    testLogic = False

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegmentRoundTrip()
        if self.testLogic:
            self.test_SeedSegmentation()

    def _loadSample(self):
        from PanCancerSubtypeSlicerLib import sampledata

        registerSampleData()
        return sampledata.load("PanCancerBrain1", "")

    def test_SegmentRoundTrip(self):
        """Label map -> named segment -> mask gives the same voxels, on the volume's grid."""
        import numpy as np

        from PanCancerSubtypeSlicerLib import mrml

        self.delayDisplay("Loading brain1")
        volume, label = self._loadSample()
        mask = slicer.util.arrayFromVolume(label) == 1
        seg = mrml.segmentation_node_from_masks({"tumour": mask}, volume, scene=slicer.mrmlScene)
        back = mrml.mask_from_segment(seg, "tumour", volume)
        self.assertTrue(np.array_equal(back.astype(bool), mask))
        self.assertEqual(mrml.segment_names(seg), ["tumour"])
        self.delayDisplay("Segment round trip passed")

    def test_SeedSegmentation(self):
        import numpy as np

        from PanCancerSubtypeSlicerLib import mrml

        volume, label = self._loadSample()
        mask = slicer.util.arrayFromVolume(label) == 1
        kji = np.argwhere(mask).mean(axis=0).round().astype(int)
        ras = mrml.volume_ijk_to_ras(volume) @ np.array([kji[2], kji[1], kji[0], 1.0])
        seeds = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
        seeds.AddControlPoint(*ras[:3])
        seg = PanCancerSegmentationLogic().segmentFromSeeds(volume, seeds)
        got = mrml.mask_from_segment(seg, "tumour", volume).astype(bool)
        dice = 2.0 * (got & mask).sum() / (got.sum() + mask.sum())
        self.assertGreater(dice, 0.5)
        self.delayDisplay(f"Seed segmentation Dice {dice:.3f}")
