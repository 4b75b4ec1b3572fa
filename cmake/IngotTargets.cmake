# Compile settings for Ingot's own targets: warnings are errors, sanitizers on request.
set(INGOT_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wimplicit-fallthrough -Werror)
# GCC 12 reports false -Wrestrict errors at -O3 on std::string concatenation inside libstdc++
# (GCC bug 105651): keep the warning visible, but not fatal, on that compiler.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND INGOT_WARNINGS -Wno-error=restrict)
endif()

# LLVM's lld, when installed (scripts/deps.sh test installs it), links the ~90 test binaries
# with their debug info about 5x faster than GNU ld here: 0.35 s against 2.0 s for one test.
# -DINGOT_LLD=OFF keeps the compiler's default linker.
option(INGOT_LLD "Link with lld when it is installed" ON)
if(INGOT_LLD)
  include(CheckLinkerFlag)
  check_linker_flag(CXX -fuse-ld=lld INGOT_HAVE_LLD)
  if(INGOT_HAVE_LLD)
    add_link_options(-fuse-ld=lld)
  endif()
endif()

if(INGOT_SANITIZE)
  string(REPLACE "," ";" _ingot_sanitizers "${INGOT_SANITIZE}")
  foreach(_s IN LISTS _ingot_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "INGOT_SANITIZE: unknown sanitizer '${_s}'")
    endif()
  endforeach()
  add_compile_options(-fsanitize=${INGOT_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${INGOT_SANITIZE})
endif()

# INGOT_FUZZ: everything is built with libFuzzer's coverage instrumentation and ASan+UBSan
# (fuzzer-no-link: the fuzz targets alone link libFuzzer's main, with -fsanitize=fuzzer).
# scripts/fuzz builds at -O1 -gline-tables-only, as libFuzzer advises: inlining stays low, so
# coverage feedback stays fine-grained. It buys no build time: a server TU took 15.9 s at
# -O1 -gline-tables-only and 16.6 s at -O2 -g here (2 cores under load); headers dominate.
if(INGOT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "INGOT_FUZZ needs clang (libFuzzer): CXX=clang++-14 cmake …")
  endif()
  if(INGOT_SANITIZE)
    message(FATAL_ERROR "INGOT_FUZZ picks its own sanitizers; leave INGOT_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

function(ingot_target_defaults target)
  target_compile_options(${target} PRIVATE ${INGOT_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()
