# Finds llhttp as shipped by Debian's node-llhttp: C sources, not a library.
# Defines Llhttp::Llhttp, a static library compiled from those sources.
find_path(Llhttp_INCLUDE_DIR NAMES llhttp.h PATHS /usr/share/include/llhttp /usr/include/llhttp)
find_path(Llhttp_SOURCE_DIR NAMES llhttp.c api.c http.c PATHS /usr/share/llhttp)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Llhttp REQUIRED_VARS Llhttp_INCLUDE_DIR Llhttp_SOURCE_DIR)
if(Llhttp_FOUND AND NOT TARGET Llhttp::Llhttp)
  add_library(onair_llhttp STATIC ${Llhttp_SOURCE_DIR}/api.c ${Llhttp_SOURCE_DIR}/http.c
                                  ${Llhttp_SOURCE_DIR}/llhttp.c)
  target_include_directories(onair_llhttp SYSTEM PUBLIC ${Llhttp_INCLUDE_DIR})
  # Generated third-party code: build it without our warning flags.
  target_compile_options(onair_llhttp PRIVATE -w)
  set_target_properties(onair_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_library(Llhttp::Llhttp ALIAS onair_llhttp)
endif()
mark_as_advanced(Llhttp_INCLUDE_DIR Llhttp_SOURCE_DIR)
