# invalidator_add_plugin(<kind>_<name> SOURCES ... [LIBRARIES ...] [INCLUDE_DIRS ...])
#
# Builds one plugin two ways from the same sources:
#   - libinvalidator_<kind>_<name>.so, loaded at run time through its descriptor;
#   - invalidator_<kind>_<name>_static, linked into a binary and registered in-process.
# Plugins link the SDK only, never the core. The same function serves this tree and, through
# find_package(invalidator), plugins built out of tree.
function(invalidator_add_plugin plugin_id)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES;INCLUDE_DIRS" ${ARGN})
  string(TOUPPER ${plugin_id} upper_id)
  option(INVALIDATOR_PLUGIN_${upper_id} "Build the ${plugin_id} plugin" ON)
  if(NOT INVALIDATOR_PLUGIN_${upper_id})
    return()
  endif()
  if(DEFINED INVALIDATOR_BUILD_PLUGIN_DIR)
    set(output_dir ${INVALIDATOR_BUILD_PLUGIN_DIR})
  else()
    set(output_dir ${CMAKE_BINARY_DIR}/plugins)
  endif()

  set(module invalidator_${plugin_id})
  add_library(${module} MODULE ${ARG_SOURCES})
  target_link_libraries(${module} PRIVATE invalidator::sdk ${ARG_LIBRARIES})
  target_include_directories(${module} PRIVATE ${ARG_INCLUDE_DIRS})
  set_target_properties(${module} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${output_dir})
  install(TARGETS ${module} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/invalidator/plugins)

  set(static_lib invalidator_${plugin_id}_static)
  add_library(${static_lib} STATIC ${ARG_SOURCES})
  target_link_libraries(${static_lib} PUBLIC invalidator::sdk ${ARG_LIBRARIES})
  target_include_directories(${static_lib} PRIVATE ${ARG_INCLUDE_DIRS})
  target_compile_definitions(${static_lib} PRIVATE INVALIDATOR_PLUGIN_STATIC)
  set_target_properties(${static_lib} PROPERTIES POSITION_INDEPENDENT_CODE ON)

  if(COMMAND invalidator_set_warnings)
    invalidator_set_warnings(${module})
    invalidator_set_warnings(${static_lib})
  endif()
endfunction()
