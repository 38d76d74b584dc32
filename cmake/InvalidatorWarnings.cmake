# Every target of the project gets the same strict warnings.
function(invalidator_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wpedantic -Wshadow
                                           -Wnon-virtual-dtor -Wold-style-cast)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports std::variant and std::optional members as maybe-uninitialized when
    # inlined at -O2 (GCC bug 105562 and relatives); the warning is noise there.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
endfunction()
