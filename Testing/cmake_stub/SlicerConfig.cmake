# Minimal stand-in for Slicer's CMake package, used only by Testing/test_slicer_cmake.py to
# configure and install the extension without a Slicer build tree.  It implements the documented
# behaviour of the macros the extension uses (not Slicer's code):
#  - slicerMacroBuildScriptedModule(NAME SCRIPTS RESOURCES [WITH_GENERIC_TESTS]): every listed file
#    must exist (Slicer stops with FATAL_ERROR otherwise); scripts and resources are installed into
#    the qt-scripted-modules folder keeping their paths relative to the module folder;
#  - ctkMacroCompilePythonScript(TARGET_NAME SCRIPTS RESOURCES DESTINATION_DIR INSTALL_DIR
#    [NO_INSTALL_SUBDIR]): the same copy, relative paths kept;
#  - slicer_add_python_unittest(SCRIPT x.py): records "py_x" in the build tree's test list.
set(Slicer_FOUND TRUE)
set(Slicer_VERSION "5.13")
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR "lib/Slicer-5.13/qt-scripted-modules")
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR "lib/Slicer-5.13/qt-scripted-modules")
set(Slicer_USE_PYTHONQT ON)
set(BUILD_TESTING ON)
set(Slicer_USE_FILE "${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake")
set(Slicer_EXTENSION_GENERATE_CONFIG "${CMAKE_CURRENT_LIST_DIR}/ExtensionGenerateConfig.cmake")
set(Slicer_EXTENSION_CPACK "${CMAKE_CURRENT_LIST_DIR}/ExtensionCPack.cmake")
