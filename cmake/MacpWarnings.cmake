# Strict warnings for our own code only (generated protobuf code is built without them).
#
# GCC 12 at -O3 (the Release build type) reports -Wrestrict inside libstdc++'s std::string for
# ordinary concatenations such as "r" + std::to_string(i) (GCC bugs 105329, 105651): a false
# positive, so it stays a warning there instead of failing the build.
#
# Clang (the sanitizer and fuzz builds) in C++20 reports -Wambiguous-reversed-operator for every
# range-for over a RapidJSON 1.1 object: its member iterator declares operator!= with a non-const
# this, which C++20's rewritten candidates make formally ambiguous. The unique best candidate is the
# one meant, and the code is Debian's RapidJSON, not ours, so the warning is off in clang builds.
function(macp_strict_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(MACP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-error=restrict>)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-ambiguous-reversed-operator>)
  endif()
endfunction()
