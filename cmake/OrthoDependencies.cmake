# Third-party dependencies, all from Debian packages (scripts/install-deps.sh).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)

# OpenBLAS provides cblas and, through Debian's alternatives, LAPACK; LAPACKE is its C interface.
find_path(ORTHO_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas
  REQUIRED)
find_path(ORTHO_LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
find_library(ORTHO_OPENBLAS_LIBRARY openblas REQUIRED)
find_library(ORTHO_LAPACKE_LIBRARY lapacke REQUIRED)
set(ORTHO_BLAS_INCLUDE_DIRS ${ORTHO_CBLAS_INCLUDE_DIR} ${ORTHO_LAPACKE_INCLUDE_DIR})
set(ORTHO_BLAS_LIBRARIES ${ORTHO_LAPACKE_LIBRARY} ${ORTHO_OPENBLAS_LIBRARY})
message(STATUS "ortho: OpenBLAS ${ORTHO_OPENBLAS_LIBRARY}, LAPACKE ${ORTHO_LAPACKE_LIBRARY}")

# stb_image decodes image-folder datasets; Debian's libstb is the compiled stb_image(_write).
find_path(ORTHO_STB_INCLUDE_DIR stb/stb_image.h REQUIRED)
find_library(ORTHO_STB_LIBRARY stb REQUIRED)

# Header-only: nlohmann/json parses safetensors headers; CLI11 parses the apps' flags.
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 QUIET CONFIG)
if(NOT CLI11_FOUND)
  find_path(ORTHO_CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${ORTHO_CLI11_INCLUDE_DIR})
endif()
