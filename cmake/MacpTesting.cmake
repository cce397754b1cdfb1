# Test timeouts under sanitizers. ASan, UBSan and TSan make the suite several times slower, so a
# sanitizer tree (make test-asan / test-tsan) sets MACP_TEST_TIMEOUT_SCALE and every directory that
# adds tests calls macp_scale_test_timeouts() once at its end: each test's TIMEOUT, as written for
# the normal build, is multiplied. The default of 1 leaves the normal build's timeouts as they are.
set(MACP_TEST_TIMEOUT_SCALE 1 CACHE STRING "Factor applied to every test's TIMEOUT (sanitizer builds)")

function(macp_scale_test_timeouts)
  if(MACP_TEST_TIMEOUT_SCALE EQUAL 1)
    return()
  endif()
  get_directory_property(tests TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} TIMEOUT seconds)
    if(NOT seconds)
      set(seconds 1500)  # ctest's own default
    endif()
    math(EXPR scaled "${seconds} * ${MACP_TEST_TIMEOUT_SCALE}")
    set_tests_properties(${t} PROPERTIES TIMEOUT ${scaled})
  endforeach()
endfunction()
