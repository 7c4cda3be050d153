# Runs an ortho app that must refuse its flags (the App.*Rejects* tests): it must exit with
# EXPECT_RC and print exactly one line on stderr, matching the regex EXPECT_ERROR, and nothing
# on stdout. Run as
#   cmake -DAPP=<binary> "-DARGS=<flags>" -DEXPECT_RC=2 "-DEXPECT_ERROR=<regex>" -P this file.

separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${APP} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(ran "${APP} ${ARGS}")
if(NOT rc STREQUAL "${EXPECT_RC}")
  message(FATAL_ERROR "${ran}: exit status ${rc}, expected ${EXPECT_RC}; stderr: ${err}")
endif()
if(NOT err MATCHES "${EXPECT_ERROR}")
  message(FATAL_ERROR "${ran}: stderr does not match '${EXPECT_ERROR}': ${err}")
endif()
string(REGEX MATCHALL "\n" newlines "${err}")
list(LENGTH newlines newline_count)
if(NOT newline_count EQUAL 1)
  message(FATAL_ERROR "${ran}: expected one line on stderr, got ${newline_count}: ${err}")
endif()
if(NOT out STREQUAL "")
  message(FATAL_ERROR "${ran}: expected nothing on stdout, got: ${out}")
endif()
