# Strict warnings for our own code only (generated protobuf code is built without them).
function(macp_strict_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-unused-parameter)
endfunction()
