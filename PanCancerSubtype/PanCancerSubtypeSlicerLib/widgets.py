"""The widget life cycle shared by the three panels (Slicer's scripted-module template, once).

:class:`PanelWidgetMixin` is mixed into each module's ``...Widget`` (next to
``ScriptedLoadableModuleWidget`` and ``VTKObservationMixin``).  It loads ``UI/<Module>.ui``,
creates the module's logic and a :class:`~.process.JobRunner` for background jobs, observes scene
close, and binds the parameter node to the GUI on ``enter`` / after a scene close, exactly as the
template does.  A panel provides:

* ``<Module>Logic`` in the same file -- found by name, as Slicer finds ``<Module>Test``;
* ``updateButtons()`` -- enable / disable its buttons from the parameter node and
  ``self.idle``;
* optionally ``defaultNodes`` -- ``{parameter: MRML class}``: an empty node parameter gets the
  scene's first node of that class when the panel is entered;
* optionally ``connectWidgets()`` -- its own signal connections, called by :meth:`setupPanel`.

:func:`runShowingTable` runs a job whose result is a table node and shows the table (the cohort
runs of the Segmentation and Features panels).
"""
import sys

import slicer
import vtk


class PanelWidgetMixin:
    defaultNodes = {}

    def initPanel(self) -> None:
        """Call in the widget's ``__init__`` after the base classes' ``__init__``."""
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self.jobs = None

    def setupPanel(self) -> None:
        """Call in ``setup()`` after ``ScriptedLoadableModuleWidget.setup(self)``."""
        name = self.moduleName
        uiWidget = slicer.util.loadUI(self.resourcePath(f"UI/{name}.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = getattr(sys.modules[type(self).__module__], f"{name}Logic")()
        from .process import JobRunner

        self.jobs = JobRunner(self.ui.progressBar, self.ui.statusLog, self.ui.cancelButton,
                              busyChanged=lambda busy: self.checkCanApply())
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.connectWidgets()
        self.initializeParameterNode()

    def connectWidgets(self) -> None:
        """The panel's own signal connections (override)."""

    @property
    def idle(self) -> bool:
        return self.jobs is None or not self.jobs.busy

    # -- Slicer's widget life cycle ------------------------------------------------------------
    def cleanup(self) -> None:
        self.removeObservers()
        if self.jobs is not None:
            self.jobs.cancel()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self.checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        p = self._parameterNode
        for name, cls in self.defaultNodes.items():
            if not getattr(p, name):
                node = slicer.mrmlScene.GetFirstNodeByClass(cls)
                if node:
                    setattr(p, name, node)

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                self.checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                             self.checkCanApply)
            self.checkCanApply()

    def checkCanApply(self, caller=None, event=None) -> None:
        if self._parameterNode is not None:
            self.updateButtons()

    def updateButtons(self) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError


def runShowingTable(jobs, job) -> None:
    """Run a panel job whose result is a table node, and show that table when it is done."""
    finish = job.finish

    def finishAndShow():
        table = finish()
        showTable(table)
        return table

    job.finish = finishAndShow
    jobs.run(job)


def showTable(tableNode) -> None:
    """Show a table node in the layout's table view."""
    layoutManager = slicer.app.layoutManager()
    if layoutManager is None:
        return
    layoutManager.setLayout(slicer.modules.tables.logic().GetLayoutWithTable(layoutManager.layout))
    slicer.app.applicationLogic().GetSelectionNode().SetReferenceActiveTableID(tableNode.GetID())
    slicer.app.applicationLogic().PropagateTableSelection()
