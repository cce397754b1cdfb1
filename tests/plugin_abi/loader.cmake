# Loader tests of the plugin ABI: fixture plugins + the loader test executable.
# Included from tests/plugin_abi/CMakeLists.txt (include(${CMAKE_CURRENT_LIST_DIR}/loader.cmake)).
# Needs the targets macp_plugin_host (core/src), macp_plugin_sdk (core) and macp_catch_main (tests).

set(MACP_FIXTURE_PLUGIN_DIR ${CMAKE_CURRENT_BINARY_DIR}/fixture-plugins)
add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/fixtures ${CMAKE_CURRENT_BINARY_DIR}/fixtures)

add_executable(macp_plugin_abi_loader_test ${CMAKE_CURRENT_LIST_DIR}/loader_test.cpp)
target_link_libraries(macp_plugin_abi_loader_test PRIVATE macp_plugin_host macp_plugin_sdk macp_catch_main)
target_compile_definitions(macp_plugin_abi_loader_test PRIVATE
  MACP_FIXTURE_PLUGIN_DIR="${MACP_FIXTURE_PLUGIN_DIR}")
target_compile_options(macp_plugin_abi_loader_test PRIVATE -Wall -Wextra -Werror)
# The test dlopen()s the fixtures by path at run time; make sure they are built first.
add_dependencies(macp_plugin_abi_loader_test macp_plugin_abi_fixtures)

add_test(NAME plugin_abi.loader COMMAND macp_plugin_abi_loader_test)
set_tests_properties(plugin_abi.loader PROPERTIES LABELS "plugin_abi;unit")

# The contract suite rejects a plugin whose append_log_batch marks items OK and then fails the
# call (issue #9): the run must fail, and fail on exactly that rule.
add_dependencies(macp_plugin_abi_storage_contract_test macp_plugin_abi_fixtures)
add_test(NAME plugin_abi.storage_contract.rejects_lying_batch COMMAND macp_plugin_abi_storage_contract_test
  "append_log_batch: the return and the item statuses agree with what is stored")
set_tests_properties(plugin_abi.storage_contract.rejects_lying_batch PROPERTIES
  ENVIRONMENT "MACP_CONTRACT_PLUGIN=${MACP_FIXTURE_PLUGIN_DIR}/storage-lyingbatch.so"
  PASS_REGULAR_EXPRESSION "CHECK\\( status\\[i\\] != MACP_STATUS_OK \\)"
  LABELS "plugin_abi;unit")
