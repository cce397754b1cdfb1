# In-tree settings of macp_add_plugin(<kind>-<name> SOURCES ... [LIBRARIES ...] [COMPONENT ...]).
# The function itself is MacpAddPlugin.cmake, the very file the macp-runtime-dev package installs
# for out-of-tree plugins (see there for every option). In this tree every plugin is built into
# ${MACP_BUILD_PLUGIN_DIR} (so the uninstalled server finds it), with -Werror if MACP_WERROR, against the
# macp_plugin_sdk target, and installed into the plugin dir as its own CPack component.
set(MACP_PLUGIN_VERSION_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/plugin_exports.map)
set(MACP_PLUGIN_SDK_TARGET macp_plugin_sdk)
set(MACP_PLUGIN_SDK_INSTALL_PLUGIN_DIR ${MACP_INSTALL_PLUGIN_DIR})
set(MACP_PLUGIN_OUTPUT_DIRECTORY ${MACP_BUILD_PLUGIN_DIR})
set(MACP_PLUGIN_WERROR ${MACP_WERROR})
set(MACP_PLUGIN_INSTALL_BY_DEFAULT ON)
include(${CMAKE_CURRENT_LIST_DIR}/MacpAddPlugin.cmake)
