# Finds the header-only jsmn tokenizer (libjsmn-dev); defines Jsmn::Jsmn.
find_path(Jsmn_INCLUDE_DIR NAMES jsmn.h)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Jsmn REQUIRED_VARS Jsmn_INCLUDE_DIR)
if(Jsmn_FOUND AND NOT TARGET Jsmn::Jsmn)
  add_library(Jsmn::Jsmn INTERFACE IMPORTED)
  set_target_properties(Jsmn::Jsmn PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Jsmn_INCLUDE_DIR}")
endif()
mark_as_advanced(Jsmn_INCLUDE_DIR)
