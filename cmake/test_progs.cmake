# The helper programs of the shell scenarios (tests/progs/*.c: plain C System V IPC
# programs) as targets tp_NAME, built into BUILD/tests/progs/NAME. Included by
# tests/CMakeLists.txt, and by the top level in a cross build (scripts/cross.sh), whose
# programs the mixed-cluster scenarios run on a node of that architecture.
file(GLOB DIPC_TEST_PROGS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/progs/*.c)
foreach(src ${DIPC_TEST_PROGS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(tp_${name} ${src})
  target_include_directories(tp_${name} PRIVATE ${CMAKE_SOURCE_DIR}/include)
  set_target_properties(tp_${name} PROPERTIES OUTPUT_NAME ${name}
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/progs)
endforeach()
