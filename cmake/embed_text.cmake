# Writes OUTPUT, a C++ source defining `const char* const NAME` as the bytes of INPUT (a raw
# string literal), so a page is compiled into the program that serves it.
#   cmake -DINPUT=web/index.html -DOUTPUT=page.cpp -DNAME=abc::kServePage -P embed_text.cmake
file(READ "${INPUT}" text)
if(text MATCHES "\\)abc_embed\"")
  message(FATAL_ERROR "${INPUT} holds the raw string's end marker )abc_embed\"")
endif()
string(REGEX REPLACE "::[^:]*$" "" namespace "${NAME}")
string(REGEX REPLACE "^.*::" "" symbol "${NAME}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/embed_text.cmake: edit that file.\n#include \"abc/serve.hpp\"\n\nnamespace ${namespace} {\nconst char* const ${symbol} = R\"abc_embed(${text})abc_embed\";\n}\n")
