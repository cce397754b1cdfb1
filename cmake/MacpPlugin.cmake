set(MACP_PLUGIN_VERSION_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/plugin_exports.map)
# macp_add_plugin(<kind>-<name> SOURCES ...)
# Builds a MODULE library named exactly <kind>-<name>.so into ${MACP_BUILD_PLUGIN_DIR} (so the
# uninstalled server finds it) and installs it into the plugin dir as its own CPack component.
function(macp_add_plugin target)
  cmake_parse_arguments(P "" "COMPONENT" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${target}
    LIBRARY_OUTPUT_DIRECTORY ${MACP_BUILD_PLUGIN_DIR}
    CXX_STANDARD 17
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(${target} PRIVATE macp_plugin_sdk ${P_LIBRARIES})
  # The entry point is the only symbol a plugin exports (weak std:: template instances included).
  target_link_options(${target} PRIVATE -Wl,--no-undefined
    -Wl,--version-script=${MACP_PLUGIN_VERSION_SCRIPT})
  macp_strict_warnings(${target})
  if(NOT P_COMPONENT)
    set(P_COMPONENT ${target})
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${MACP_INSTALL_PLUGIN_DIR} COMPONENT ${P_COMPONENT})
endfunction()
