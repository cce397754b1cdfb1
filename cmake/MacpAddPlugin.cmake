# macp_add_plugin(): the one way to build a macp-runtime plugin, shared by the in-tree plugins
# (included from cmake/MacpPlugin.cmake) and by out-of-tree authors (installed with the CMake
# package MacpPluginSDK and included by its config file), so both builds cannot drift apart.
#
#   macp_add_plugin(<kind>-<name>
#                   SOURCES <source>...
#                   [LIBRARIES <library>...]
#                   [INSTALL] [DESTINATION <dir>] [COMPONENT <component>]
#                   [WERROR | NO_WERROR])
#
# Builds a MODULE library named exactly <kind>-<name>.so (no "lib" prefix), where <kind> is
# storage or auth and <name> matches [a-z0-9][a-z0-9_-]* (at most 64 bytes; the descriptor's
# `name` must be the same string). It is compiled as C++17 (at least) with hidden visibility
# (inline functions too) and strict warnings (-Wall -Wextra; -Werror with WERROR), linked with
# -Wl,--no-undefined, and exports exactly one symbol, macp_plugin_entry_v1 (version script
# plugin_exports.map, next to this file). LIBRARIES are linked PRIVATE, after the SDK.
#
# INSTALL installs the plugin into DESTINATION, by default the runtime's plugin directory relative
# to the install prefix (MACP_PLUGIN_SDK_INSTALL_PLUGIN_DIR, e.g. lib/macp-runtime/plugins), in
# COMPONENT when given. A COMPONENT or DESTINATION without INSTALL implies INSTALL.
#
# Settings read from the calling scope (the SDK's config file, or the top-level CMakeLists.txt of
# macp-runtime, sets them; a project may override them before calling):
#   MACP_PLUGIN_SDK_TARGET              target providing the SDK headers (default Macp::PluginSDK)
#   MACP_PLUGIN_SDK_INSTALL_PLUGIN_DIR  default DESTINATION of INSTALL
#   MACP_PLUGIN_OUTPUT_DIRECTORY        where the .so is built (default: CMake's usual place)
#   MACP_PLUGIN_WERROR                  default for WERROR / NO_WERROR (default OFF)
#   MACP_PLUGIN_INSTALL_BY_DEFAULT      install even without INSTALL, COMPONENT defaulting to
#                                       <kind>-<name> (macp-runtime's own plugins)
include_guard(GLOBAL)

if(CMAKE_VERSION VERSION_LESS 3.17)
  message(FATAL_ERROR "macp_add_plugin needs CMake 3.17 or newer (this is ${CMAKE_VERSION})")
endif()

function(macp_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 P "INSTALL;WERROR;NO_WERROR" "DESTINATION;COMPONENT" "SOURCES;LIBRARIES")
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "macp_add_plugin(${target}): unexpected arguments: ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT target MATCHES "^(storage|auth)-([a-z0-9][a-z0-9_-]*)$")
    message(FATAL_ERROR "macp_add_plugin(${target}): a plugin is named <kind>-<name> with <kind> storage or "
                        "auth and <name> matching [a-z0-9][a-z0-9_-]*, e.g. storage-sqlite or auth-ldap; the "
                        "file is <kind>-<name>.so and the descriptor's name is <name>")
  endif()
  string(LENGTH "${CMAKE_MATCH_2}" _name_length)
  if(_name_length GREATER 64)
    message(FATAL_ERROR "macp_add_plugin(${target}): the name part '${CMAKE_MATCH_2}' is longer than 64 bytes")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "macp_add_plugin(${target}): SOURCES is required")
  endif()
  if(P_WERROR AND P_NO_WERROR)
    message(FATAL_ERROR "macp_add_plugin(${target}): WERROR and NO_WERROR are exclusive")
  endif()

  set(sdk_target Macp::PluginSDK)
  if(MACP_PLUGIN_SDK_TARGET)
    set(sdk_target ${MACP_PLUGIN_SDK_TARGET})
  endif()
  if(NOT TARGET ${sdk_target})
    message(FATAL_ERROR "macp_add_plugin(${target}): no target ${sdk_target}; call find_package(MacpPluginSDK) "
                        "in this directory or a parent directory first")
  endif()
  set(version_script ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/plugin_exports.map)

  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    OUTPUT_NAME ${target}
    CXX_STANDARD 17  # what the SDK promises; target_compile_features(... cxx_std_20) raises it
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LINK_DEPENDS ${version_script})
  if(MACP_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${MACP_PLUGIN_OUTPUT_DIRECTORY})
  endif()
  target_link_libraries(${target} PRIVATE ${sdk_target} ${P_LIBRARIES})
  # The entry point is the only symbol a plugin exports (weak std:: template instances included),
  # and every symbol must be resolved when the plugin is linked, not when the server loads it.
  # A sanitizer build is the exception: clang links the sanitizer runtime into executables only, so
  # a plugin's references to it stay open until the (sanitized) server loads it.
  if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
    target_link_options(${target} PRIVATE -Wl,--version-script=${version_script})
  else()
    target_link_options(${target} PRIVATE -Wl,--no-undefined -Wl,--version-script=${version_script})
  endif()

  set(werror ${MACP_PLUGIN_WERROR})
  if(P_WERROR)
    set(werror ON)
  elseif(P_NO_WERROR)
    set(werror OFF)
  endif()
  # The same set as macp-runtime's own code (MacpWarnings.cmake).
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter $<$<BOOL:${werror}>:-Werror>)
  # GCC 12's -O3 -Wrestrict false positives in std::string (GCC bugs 105329, 105651) stay warnings.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-error=restrict>)
  endif()
  # Clang in C++20: RapidJSON 1.1's member iterators trip -Wambiguous-reversed-operator (MacpWarnings.cmake).
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-ambiguous-reversed-operator>)
  endif()

  if(P_INSTALL OR P_DESTINATION OR P_COMPONENT OR MACP_PLUGIN_INSTALL_BY_DEFAULT)
    set(destination ${P_DESTINATION})
    if(NOT destination)
      set(destination ${MACP_PLUGIN_SDK_INSTALL_PLUGIN_DIR})
    endif()
    if(NOT destination)
      message(FATAL_ERROR "macp_add_plugin(${target}): INSTALL without DESTINATION, and "
                          "MACP_PLUGIN_SDK_INSTALL_PLUGIN_DIR is not set")
    endif()
    set(component)
    if(NOT P_COMPONENT AND MACP_PLUGIN_INSTALL_BY_DEFAULT)
      set(P_COMPONENT ${target})  # macp-runtime: one Debian package per plugin
    endif()
    if(P_COMPONENT)
      set(component COMPONENT ${P_COMPONENT})
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${destination} ${component})
  endif()
endfunction()
