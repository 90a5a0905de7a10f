# CMake toolchain file for a DIPC node on s390x (64-bit, big-endian), built on an x86-64
# Debian 12 machine with Debian's cross compiler (g++-s390x-linux-gnu).
#
# The C library and libstdc++ come with the cross compiler (/usr/s390x-linux-gnu). The
# other libraries (libsodium, spdlog, fmt, toml++, libsystemd, libsmartcols and the header
# only ones) come from Debian 12's s390x packages, unpacked into DIPC_CROSS_SYSROOT by
# scripts/cross.sh: that tree is searched for headers, libraries, CMake packages and
# pkg-config files, and is written as the run-time search path (DT_RPATH, so that it also
# serves the libraries' own dependencies) of every program built here. Programs run on
# this machine under qemu-user: `qemu-s390x-static -L /usr/s390x-linux-gnu PROG`.
# See docs/hetero.md.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(DIPC_CROSS_TRIPLET s390x-linux-gnu)

set(CMAKE_C_COMPILER ${DIPC_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${DIPC_CROSS_TRIPLET}-g++)

if(NOT DIPC_CROSS_SYSROOT)
  set(DIPC_CROSS_SYSROOT "$ENV{DIPC_CROSS_SYSROOT}")
endif()
if(NOT DIPC_CROSS_SYSROOT OR NOT IS_DIRECTORY "${DIPC_CROSS_SYSROOT}/usr/include")
  message(FATAL_ERROR "DIPC_CROSS_SYSROOT (${DIPC_CROSS_SYSROOT}) is not an unpacked s390x "
                      "library tree: make it with scripts/cross.sh")
endif()
# Passed on to try_compile projects, which read the toolchain file again.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DIPC_CROSS_SYSROOT)

set(CMAKE_FIND_ROOT_PATH "${DIPC_CROSS_SYSROOT}" /usr/${DIPC_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(ENV{PKG_CONFIG_LIBDIR}
    "${DIPC_CROSS_SYSROOT}/usr/lib/${DIPC_CROSS_TRIPLET}/pkgconfig:${DIPC_CROSS_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${DIPC_CROSS_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

set(_dipc_libdir "${DIPC_CROSS_SYSROOT}/usr/lib/${DIPC_CROSS_TRIPLET}")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${_dipc_libdir} -Wl,-rpath,${_dipc_libdir} -Wl,--disable-new-dtags")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_dipc_libdir}")
# How ctest or a script would run a program built here.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-s390x-static -L /usr/${DIPC_CROSS_TRIPLET})
