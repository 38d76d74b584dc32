# Run by CPack before it packs: CPACK_STRIP_FILES strips executables and shared libraries, not
# archives, and the core's static library for embedders is 70 MB of debug information.
file(GLOB_RECURSE archives "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*.a")
foreach(archive IN LISTS archives)
  execute_process(COMMAND strip --strip-debug "${archive}" COMMAND_ERROR_IS_FATAL ANY)
endforeach()
