file(WRITE "${CMAKE_BINARY_DIR}/stub_tests.txt" "")

macro(_stub_install_files _dest)
  foreach(_f ${ARGN})
    if(NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${_f}")
      message(FATAL_ERROR "given nonexistent file '${_f}' (in ${CMAKE_CURRENT_SOURCE_DIR})")
    endif()
    get_filename_component(_sub "${_f}" DIRECTORY)
    # all modules of an extension share one qt-scripted-modules folder: two files with the same
    # destination would silently overwrite each other in Slicer's build
    get_property(_seen GLOBAL PROPERTY STUB_INSTALLED_FILES)
    set(_key "${_dest}/${_f}")
    if(_key IN_LIST _seen)
      message(FATAL_ERROR "two files install to the same path ${_key}")
    endif()
    set_property(GLOBAL APPEND PROPERTY STUB_INSTALLED_FILES "${_key}")
    install(FILES "${CMAKE_CURRENT_SOURCE_DIR}/${_f}" DESTINATION "${_dest}/${_sub}")
  endforeach()
endmacro()

macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY_SLICER "WITH_GENERIC_TESTS;WITH_SUBDIR;VERBOSE" "NAME"
    "SCRIPTS;RESOURCES" ${ARGN})
  if(MY_SLICER_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "Unknown keywords: ${MY_SLICER_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT MY_SLICER_NAME)
    message(FATAL_ERROR "NAME is mandatory")
  endif()
  _stub_install_files("${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}" ${MY_SLICER_SCRIPTS}
    ${MY_SLICER_RESOURCES})
  if(MY_SLICER_WITH_GENERIC_TESTS)
    file(APPEND "${CMAKE_BINARY_DIR}/stub_tests.txt"
      "py_nomainwindow_qSlicer${MY_SLICER_NAME}ModuleGenericTest\n")
  endif()
endmacro()

macro(ctkMacroCompilePythonScript)
  cmake_parse_arguments(MY "NO_INSTALL_SUBDIR;GLOBAL_TARGET"
    "TARGET_NAME;SOURCE_DIR;DESTINATION_DIR;INSTALL_DIR" "SCRIPTS;RESOURCES" ${ARGN})
  foreach(_v TARGET_NAME SCRIPTS DESTINATION_DIR INSTALL_DIR)
    if(NOT DEFINED MY_${_v})
      message(FATAL_ERROR "${_v} is mandatory")
    endif()
  endforeach()
  _stub_install_files("${MY_INSTALL_DIR}" ${MY_SCRIPTS} ${MY_RESOURCES})
endmacro()

function(slicer_add_python_unittest)
  cmake_parse_arguments(MY "" "SCRIPT" "SLICER_ARGS" ${ARGN})
  get_filename_component(_name "${MY_SCRIPT}" NAME_WE)
  file(APPEND "${CMAKE_BINARY_DIR}/stub_tests.txt" "py_${_name}\n")
endfunction()
