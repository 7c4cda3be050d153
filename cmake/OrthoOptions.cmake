# Compiler flags shared by every ortho target: warnings, sanitizers, optimization.
add_library(ortho_warnings INTERFACE)
target_compile_options(ortho_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unknown-pragmas>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${ORTHO_WERROR}>>:-Werror>)

if(ORTHO_NATIVE AND NOT ORTHO_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  # GCC 12 emits wrong code for AVX-512 constant vectors (a std::vector<double>{1, 1, 0, 0}
  # built as {1, 1, 1, 1} at -O2 -mavx512f, reproduced by Elementwise tests); stay at AVX2.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-mno-avx512f>)
  endif()
endif()

if(ORTHO_SANITIZE)
  string(REPLACE "," ";" _ortho_sanitizers "${ORTHO_SANITIZE}")
  foreach(_s IN LISTS _ortho_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "ORTHO_SANITIZE: unknown sanitizer '${_s}'")
    endif()
  endforeach()
  set(_ortho_san_flags -fsanitize=${ORTHO_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${_ortho_san_flags}>")
  add_link_options(${_ortho_san_flags})
endif()
