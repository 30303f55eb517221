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

from slicer import (vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)

import pathlib

from PanCancerSubtypeSlicerLib.widgets import PanelWidgetMixin


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
    modelDir - folder of a trained U-Net model (automatic segmentation).
    organ - organ of the tumour (parenchyma model).
    modality - "auto", "CT" or "MR".
    outputSegmentation - segmentation that receives the segments.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    seeds: vtkMRMLMarkupsFiducialNode
    modelDir: pathlib.Path
    organ: Annotated[str, Choice(["lung", "brain", "breast", "other"])] = "lung"
    modality: Annotated[str, Choice(["auto", "CT", "MR"])] = "auto"
    outputSegmentation: vtkMRMLSegmentationNode


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
            self.logic.startSegmentation(self.jobs, p.inputVolume, seg, seeds=p.seeds)

    def onAutoSegment(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("U-Net segmentation failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies(torch=True):
                return
            seg = self._outputSegmentation()
            self.logic.startSegmentation(self.jobs, p.inputVolume, seg, modelDir=str(p.modelDir))

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
                                    organ=organ)


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
        from PanCancerSubtypeSlicerLib import dependencies

        req = os.path.join(os.path.dirname(__file__), "Resources",
                           "PanCancerSegmentation-requirements.txt")
        if not dependencies.ensure_requirements(req, requester="PanCancerSegmentation"):
            return False
        if torch:
            dependencies.ensure_torch()
        return True

    def newSegmentation(self, volumeNode):
        from PanCancerSubtypeSlicerLib import mrml

        return mrml.new_segmentation_node(volumeNode, scene=slicer.mrmlScene,
                                          name=volumeNode.GetName() + " segmentation")

    def segmentFromSeeds(self, volumeNode, seedsNode, segmentationNode=None):
        """Blocking semi-automatic segmentation (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.segment_from_seeds(volumeNode, seedsNode, segmentationNode,
                                        scene=slicer.mrmlScene)

    def segmentAutomatic(self, volumeNode, modelDir, segmentationNode=None):
        """Blocking U-Net segmentation (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.segment_automatic(volumeNode, modelDir, segmentationNode,
                                       scene=slicer.mrmlScene)

    def startSegmentation(self, jobs, volumeNode, segmentationNode, seeds=None, modelDir=None):
        """Run ``pancancer-subtype segment`` in a background process; the result becomes the
        ``tumour`` segment of ``segmentationNode`` when the job completes."""
        from PanCancerSubtypeSlicerLib import logic, process

        tmp = slicer.util.tempDirectory("PanCancerSegmentation")
        paths = logic.write_case_inputs(volumeNode, out_dir=tmp)
        out = os.path.join(tmp, "tumour_mask.nrrd")
        seedsLps = logic.seeds_lps_from_markups(seeds) if seeds is not None else None
        cmd = process.build_command("segment", logic.segment_args(paths["image"], out, seedsLps,
                                                                  modelDir))

        def done():
            logic.segment_from_file(out, segmentationNode, volumeNode, logic.TUMOUR_SEGMENT)
            slicer.util.setSliceViewerLayers(background=volumeNode)

        jobs.run(cmd, done, _("Tumour segmentation"))

    def startParenchyma(self, jobs, volumeNode, segmentationNode, organ=None, modality=None):
        """Organ parenchyma in a background process; becomes a segment named after the organ."""
        from PanCancerSubtypeSlicerLib import logic

        tmp = slicer.util.tempDirectory("PanCancerSegmentation")
        paths = logic.write_case_inputs(volumeNode, segmentationNode, logic.TUMOUR_SEGMENT,
                                        out_dir=tmp)
        out = os.path.join(tmp, "parenchyma.nrrd")
        args = ["--image", paths["image"], "--mask", paths["mask"], "--out", out]
        if organ:
            args += ["--organ", organ]
        if modality:
            args += ["--modality", modality]
        name = organ or logic.PARENCHYMA_SEGMENT
        jobs.run(logic.jobs_command("parenchyma", args),
                 lambda: logic.segment_from_file(out, segmentationNode, volumeNode, name),
                 _("Parenchyma segmentation"))

    def startRegions(self, jobs, volumeNode, segmentationNode, organSegment=None, modality=None,
                     organ=None):
        """TC / TIM / PM5 / PM10 in a background process; added as four segments."""
        from PanCancerSubtypeSlicerLib import logic

        tmp = slicer.util.tempDirectory("PanCancerSegmentation")
        paths = logic.write_case_inputs(volumeNode, segmentationNode, logic.TUMOUR_SEGMENT,
                                        organSegment, out_dir=tmp)
        out = os.path.join(tmp, "regions.nrrd")
        args = ["--image", paths["image"], "--mask", paths["mask"], "--out", out]
        if paths.get("organ_mask"):
            args += ["--organ-mask", paths["organ_mask"]]
        if organ:
            args += ["--organ", organ]
        if modality:
            args += ["--modality", modality]
        jobs.run(logic.jobs_command("regions", args),
                 lambda: logic.regions_from_file(out, segmentationNode, volumeNode),
                 _("Tumour regions"))

    def addParenchyma(self, volumeNode, segmentationNode, organ=None, modality=None):
        """Blocking parenchyma segment (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.add_parenchyma_segment(volumeNode, segmentationNode, organ=organ,
                                            modality=modality)

    def addRegions(self, volumeNode, segmentationNode, organSegment=None, modality=None):
        """Blocking TC / TIM / PM5 / PM10 segments (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.add_region_segments(volumeNode, segmentationNode, organ_segment=organSegment,
                                         modality=modality)


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
