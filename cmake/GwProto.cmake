# gw_protobuf_c(<target> <proto root> <proto files...>)
# Generates protobuf-c sources under the build directory (never committed) and
# builds them into a static library <target>.
function(gw_protobuf_c target root)
  set(srcs)
  set(hdrs)
  foreach(proto ${ARGN})
    get_filename_component(abs ${root}/${proto} ABSOLUTE)
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(c ${CMAKE_CURRENT_BINARY_DIR}/${stem}.pb-c.c)
    set(h ${CMAKE_CURRENT_BINARY_DIR}/${stem}.pb-c.h)
    add_custom_command(
      OUTPUT ${c} ${h}
      COMMAND ${PROTOC_C} --proto_path=${root} --c_out=${CMAKE_CURRENT_BINARY_DIR} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc-c ${proto}"
      VERBATIM)
    list(APPEND srcs ${c})
    list(APPEND hdrs ${h})
  endforeach()
  add_library(${target} STATIC ${srcs} ${hdrs})
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUFC)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
