"""PanCancerSubtype: assign, discover and compare radiological tumour subtypes.

* Assign: load a trained model bundle and classify the rows of a features table (the current case
  or a cohort); the result table holds the subtype and one probability column per subtype, and the
  panel shows the first row's subtype in its colour.
* Discover: consensus clustering of a cohort features table (``pancancer-subtype discover`` in a
  background process); consensus CDF and delta-area plots as chart nodes, the classes as a table.
* Survival: Kaplan-Meier curves, one per group, from a table with time / event columns.

The batch script ``SlicerScripts/run_cohort.py`` runs a whole manifest through the scene without the GUI.
"""
import os
from typing import Annotated

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from slicer import vtkMRMLTableNode

import pathlib

from PanCancerSubtypeSlicerLib.widgets import PanelWidgetMixin


#
# PanCancerSubtype
#


class PanCancerSubtype(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("PanCancer Subtype")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Tables", "Plots"]
        self.parent.contributors = ["PanCancerSubtype developers"]
        self.parent.helpText = _("""
Radiological tumour subtypes across modality and histology (Wu et al. 2021): assign a subtype with
class probabilities from a trained model bundle; discover subtypes in a cohort by consensus
clustering (CDF and delta-area plots); compare survival between groups with Kaplan-Meier curves.
""")
        self.parent.acknowledgementText = _("""
Method: Wu et al., "Radiological tumour classification across imaging modality and histology",
Nature Machine Intelligence 2021. Consensus clustering: Monti et al. 2003, Wilkerson and Hayes 2010.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    from PanCancerSubtypeSlicerLib import sampledata

    sampledata.register(os.path.join(os.path.dirname(__file__), "Resources", "Icons",
                                     "PanCancerSubtype.png"))


#: colours of subtype labels in the panel (subtype index modulo the list)
#
# PanCancerSubtypeParameterNode
#


@parameterNodeWrapper
class PanCancerSubtypeParameterNode:
    """
    bundleDir - trained subtype classifier bundle; featuresTable - rows to classify;
    subtypeTable - result (subtype and probabilities).
    cohortTable, kMax, reps, pItem, seed, encode, preprocess, weighting - discovery settings.
    survivalTable, groupColumn - Kaplan-Meier curves per group.
    """

    bundleDir: pathlib.Path
    featuresTable: vtkMRMLTableNode
    subtypeTable: vtkMRMLTableNode
    cohortTable: vtkMRMLTableNode
    kMax: Annotated[int, WithinRange(2, 20)] = 10
    reps: Annotated[int, WithinRange(10, 100000)] = 1000
    pItem: Annotated[float, WithinRange(0.1, 1.0)] = 0.8
    seed: int = 1
    encode: Annotated[str, Choice(["none", "auto", "autoencoder", "pca"])] = "none"
    preprocess: Annotated[str, Choice(["standardize", "center", "none"])] = "standardize"
    weighting: Annotated[str, Choice(["family", "none"])] = "family"
    survivalTable: vtkMRMLTableNode
    groupColumn: str = "predicted_subtype"


#
# PanCancerSubtypeWidget
#


class PanCancerSubtypeWidget(PanelWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.initPanel()

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.setupPanel()

    def connectWidgets(self) -> None:
        self.ui.assignButton.connect("clicked(bool)", self.onAssign)
        self.ui.discoverButton.connect("clicked(bool)", self.onDiscover)
        self.ui.kmButton.connect("clicked(bool)", self.onKaplanMeier)

    def updateButtons(self) -> None:
        p = self._parameterNode
        self.ui.assignButton.enabled = bool(p and p.featuresTable
                                            and str(p.bundleDir) not in ("", "."))
        self.ui.discoverButton.enabled = self.idle and bool(p and p.cohortTable)
        self.ui.kmButton.enabled = bool(p and p.survivalTable and p.groupColumn)

    def onAssign(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Subtype assignment failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            table, df = self.logic.assign(p.featuresTable, str(p.bundleDir), p.subtypeTable)
            p.subtypeTable = table
            # the first row's subtype, or that it has none (never the previous case's)
            text, color = self.logic.subtypeLabel(df)
            self.ui.subtypeLabel.text = text
            self.ui.subtypeLabel.setStyleSheet(f"QLabel {{ color: {color}; font-weight: bold }}")

    def onDiscover(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Subtype discovery failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies(torch=p.encode in ("auto", "autoencoder")):
                return

            def shown(nodes):
                k = nodes.get("suggested_k")
                self.ui.suggestedKLabel.text = "-" if k is None else str(k)
                self.ui.suggestedKLabel.toolTip = nodes.get("suggested_k_rule", "")

            self.logic.startDiscovery(self.jobs, p.cohortTable, kMax=p.kMax, reps=p.reps,
                                      pItem=p.pItem, seed=p.seed, encode=p.encode,
                                      preprocess=p.preprocess, weighting=p.weighting,
                                      onDone=shown)

    def onKaplanMeier(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Kaplan-Meier curves failed."), waitCursor=True):
            p = self._parameterNode
            if not self.logic.ensureDependencies():
                return
            chart = self.logic.kaplanMeier(p.survivalTable, p.groupColumn)
            showChart(chart)


#
# PanCancerSubtypeLogic
#


class PanCancerSubtypeLogic(ScriptedLoadableModuleLogic):
    """Thin wrapper over ``PanCancerSubtypeSlicerLib.logic`` (usable without the GUI)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return PanCancerSubtypeParameterNode(super().getParameterNode())

    def ensureDependencies(self, torch: bool = False) -> bool:
        """Install the extension's Python packages on first use (after confirmation); with
        ``torch`` (autoencoder), PyTorch from the PyTorch extension and then MONAI.  False:
        declined."""
        from PanCancerSubtypeSlicerLib import dependencies

        if not dependencies.ensure("base", requester="PanCancerSubtype"):
            return False
        return not torch or dependencies.ensure("torch", requester="PanCancerSubtype")

    def subtypeLabel(self, subtypes):
        """``(text, colour)`` of the panel's subtype label for the first row of an assignment
        (``logic.subtype_label``)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.subtype_label(subtypes)

    def assign(self, featuresTableNode, bundleDir, outputTableNode=None):
        """Subtype and probabilities per row (fast: XGBoost prediction runs in this process)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.classify_table(featuresTableNode, bundleDir, outputTableNode,
                                    scene=slicer.mrmlScene)

    def discover(self, cohortTableNode, kMax=10, reps=1000, pItem=0.8, seed=1, encode="none",
                 preprocess="standardize", weighting="family"):
        """Blocking subtype discovery in this process (console / batch use)."""
        from PanCancerSubtypeSlicerLib import logic

        return logic.discover_subtypes(cohortTableNode, k_max=kMax, reps=reps, p_item=pItem,
                                       seed=seed, scene=slicer.mrmlScene, encode=encode,
                                       preprocess=preprocess, weighting=weighting)

    def startDiscovery(self, jobs, cohortTableNode, kMax=10, reps=1000, pItem=0.8, seed=1,
                       encode="none", preprocess="standardize", weighting="family",
                       onDone=None):
        """Run ``pancancer-subtype discover`` in a background process and show its results."""
        from PanCancerSubtypeSlicerLib import actions

        def shown(nodes):
            showChart(nodes.get("cdf") or nodes["delta_area"])
            if onDone:
                onDone(nodes)

        tmp = slicer.util.tempDirectory("PanCancerSubtype")
        jobs.run(actions.discovery(cohortTableNode, tmp, k_max=kMax, reps=reps, p_item=pItem,
                                   seed=seed, encode=encode, preprocess=preprocess,
                                   weighting=weighting, on_done=shown))

    def kaplanMeier(self, tableNode, groupColumn="predicted_subtype"):
        from PanCancerSubtypeSlicerLib import logic

        return logic.km_chart_from_table(tableNode, groupColumn, scene=slicer.mrmlScene)


def showChart(chartNode) -> None:
    """Show a plot chart node in the layout's plot view."""
    if chartNode is None or slicer.app.layoutManager() is None:
        return
    slicer.modules.plots.logic().ShowChartInLayout(chartNode)


#
# PanCancerSubtypeTest
#


class PanCancerSubtypeTest(ScriptedLoadableModuleTest):
    """Self-test: Kaplan-Meier chart of a small table (product-limit values known by hand) and the
    sample data registration. Model-bundle tests need a trained bundle (``testLogic = True``)."""

    testLogic = False

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SampleDataRegistered()
        self.test_KaplanMeier()

    def test_SampleDataRegistered(self):
        from PanCancerSubtypeSlicerLib import sampledata

        registerSampleData()
        import SampleData

        source = SampleData.SampleDataLogic().sourceForSampleName("PanCancerBrain1")
        self.assertIsNotNone(source)
        self.assertEqual(len(source.uris), 2)
        self.assertTrue(all(c.startswith("SHA256:") for c in source.checksums))
        self.assertIn("PanCancerLung1", sampledata.SAMPLES)

    def test_KaplanMeier(self):
        import pandas as pd

        from PanCancerSubtypeSlicerLib import mrml

        from PanCancerSubtypeSlicerLib import dependencies

        if dependencies.missing(["base"]):  # testing mode never installs packages
            self.skipTest("the extension's Python packages are not installed")
        df = pd.DataFrame({"ID": list("abcdef"), "Subtype": ["1", "1", "1", "2", "2", "2"],
                           "time": [1.0, 2.0, 3.0, 1.0, 4.0, 5.0], "event": [1, 1, 0, 0, 1, 1]})
        table = mrml.table_node_from_dataframe(df, scene=slicer.mrmlScene, name="clinical")
        chart = PanCancerSubtypeLogic().kaplanMeier(table, "Subtype")
        self.assertEqual(chart.GetNumberOfPlotSeriesNodes(), 2)
        x, y = mrml.chart_series_arrays(chart)["Kaplan-Meier by Subtype 1"]
        self.assertAlmostEqual(float(y[-1]), (2.0 / 3.0) * 0.5, places=9)
        self.delayDisplay("Kaplan-Meier passed")
