# The Windows programs, built by a second CMake (this same tree configured
# with cmake/mingw-w64-x86_64.cmake) in build/windows/, and installed from
# there into the build tree's share/p2v/, where the converter finds its
# data files (p2v-firstboot.exe).  Without mingw-w64 the converter still
# builds; a Windows conversion then refuses, saying the service is missing.
if(NOT P2V_BUILD_WINDOWS)
  return()
endif()
find_program(P2V_MINGW_GCC x86_64-w64-mingw32-gcc)
if(NOT P2V_MINGW_GCC)
  message(STATUS "x86_64-w64-mingw32-gcc not found: no Windows programs "
                 "(Windows conversions will refuse; Debian: mingw-w64)")
  return()
endif()

include(ExternalProject)
set(p2v_windows_build_type ${CMAKE_BUILD_TYPE})
if(NOT p2v_windows_build_type)
  set(p2v_windows_build_type Release)
endif()
ExternalProject_Add(p2v-windows
  SOURCE_DIR ${PROJECT_SOURCE_DIR}
  BINARY_DIR ${PROJECT_BINARY_DIR}/windows
  PREFIX ${PROJECT_BINARY_DIR}/windows-ep
  CMAKE_ARGS
    -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/cmake/mingw-w64-x86_64.cmake
    -DCMAKE_BUILD_TYPE=${p2v_windows_build_type}
    -DP2V_WERROR=${P2V_WERROR}
    -DCMAKE_INSTALL_PREFIX=${PROJECT_BINARY_DIR}
    -DCMAKE_INSTALL_DATADIR=share
  # The sources are this tree's: let the sub-build decide what changed.
  BUILD_ALWAYS ON
  INSTALL_COMMAND ${CMAKE_COMMAND} --install <BINARY_DIR>
  BUILD_BYPRODUCTS ${PROJECT_BINARY_DIR}/share/p2v/p2v-firstboot.exe
  USES_TERMINAL_BUILD ON)

install(PROGRAMS ${PROJECT_BINARY_DIR}/share/p2v/p2v-firstboot.exe
        DESTINATION ${CMAKE_INSTALL_DATADIR}/p2v)
