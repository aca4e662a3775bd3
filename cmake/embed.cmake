# Script mode: writes OUT, a C file defining `const char SYMBOL[]` with the
# contents of IN.
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\n")
file(APPEND ${OUT} "const char ${SYMBOL}[] = {${bytes} 0x00};\n")
