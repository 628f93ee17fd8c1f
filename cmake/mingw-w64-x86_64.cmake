# Cross-compiling the Windows programs (firstboot/, later the agent) with
# mingw-w64 (Debian: mingw-w64).  Use:
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
# The native build does this by itself into build/windows/ (P2V_BUILD_WINDOWS).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(P2V_MINGW_TRIPLET x86_64-w64-mingw32)

set(CMAKE_C_COMPILER   ${P2V_MINGW_TRIPLET}-gcc)
set(CMAKE_RC_COMPILER  ${P2V_MINGW_TRIPLET}-windres)
set(CMAKE_AR           ${P2V_MINGW_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB       ${P2V_MINGW_TRIPLET}-ranlib CACHE FILEPATH "")

# Headers and libraries from the mingw-w64 sysroot only; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${P2V_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
