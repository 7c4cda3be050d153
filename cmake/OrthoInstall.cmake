# Installs the library, its public headers and a CMake package so find_package(ortho) works.
include(CMakePackageConfigHelpers)

install(TARGETS ortho EXPORT orthoTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(_dir core autograd layers optim data)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ortho
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/ortho.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ortho)

set(_ortho_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ortho)
install(EXPORT orthoTargets NAMESPACE ortho:: DESTINATION ${_ortho_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/orthoConfig.cmake.in
  ${PROJECT_BINARY_DIR}/orthoConfig.cmake INSTALL_DESTINATION ${_ortho_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/orthoConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/orthoConfig.cmake ${PROJECT_BINARY_DIR}/orthoConfigVersion.cmake
  DESTINATION ${_ortho_cmake_dir})
