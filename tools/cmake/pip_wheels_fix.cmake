# Injected with -DCMAKE_PROJECT_INCLUDE=... by tools/build_interfaces.sh when an interface
# package is built against the ROS 2 pip wheels (never on a real ROS 2 distro, whose
# CMakeLists.txt stay untouched).
#
# The wheels' exported *__rosidl_generator_py targets carry the include directories of
# the machine that built them (/opt/python/cp311-cp311/...), which do not exist here;
# CMake refuses to generate with "Imported target ... includes non-existent path".
# After the whole CMakeLists.txt has run (so every imported target exists), point those
# directories at this interpreter's Python and NumPy headers.
function(_gnesf_fix_pip_wheel_include_dirs)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
  get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs OR NOT _dirs MATCHES "/opt/python/")
      continue()
    endif()
    set(_fixed "")
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^/opt/python/.*numpy")
        list(APPEND _fixed ${Python3_NumPy_INCLUDE_DIRS})
      elseif(_dir MATCHES "^/opt/python/")
        list(APPEND _fixed ${Python3_INCLUDE_DIRS})
      else()
        list(APPEND _fixed "${_dir}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _fixed)
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()

if(CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _gnesf_fix_pip_wheel_include_dirs)
endif()
