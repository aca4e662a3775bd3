# gw_embed_text(<out.c> <symbol> <input file>)
# Turns a text file (the Lua scripts) into a C string constant at build time,
# so the scripts are reviewed as Lua but shipped inside the binary.
function(gw_embed_text out symbol input)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${input} -DOUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "embed ${input}"
    VERBATIM)
endfunction()
