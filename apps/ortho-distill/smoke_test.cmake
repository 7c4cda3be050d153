# End-to-end test of ortho-distill (ctest -R App.Distill): a tiny float64 run of every method,
# a minibatch run, and bad flags. Run as cmake -DAPP=<binary> -DOUT=<scratch dir> -P this file.

function(run_app)
  execute_process(COMMAND ${APP} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

# expect(<message> <condition...>): fails the test with <message> unless if(<condition>) holds.
function(expect message)
  if(NOT (${ARGN}))
    message(FATAL_ERROR "${message}")
  endif()
endfunction()

file(REMOVE_RECURSE ${OUT})
run_app(--width 8 --depth 2 --samples 32 --test-samples 16 --iters 30 --eval-every 10
        --dtype float64 --threads 1 --out ${OUT})
expect("full run exited ${rc}: ${err}" rc EQUAL 0)
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines count)
expect("expected one JSON line per method, got: ${out}" count EQUAL 6)

set(expected landing rsgd-exp rsgd-cayley rsgd-qr rsgd-polar trivialization)
foreach(i RANGE 5)
  list(GET lines ${i} line)
  list(GET expected ${i} want)
  string(JSON method GET "${line}" method)
  expect("line ${i} is ${method}, expected ${want}" method STREQUAL want)
  string(JSON initial GET "${line}" initial_loss)
  string(JSON final GET "${line}" final_loss)
  string(JSON test GET "${line}" final_test_loss)
  string(JSON max_distance GET "${line}" max_distance)
  string(JSON us GET "${line}" us_per_iter)
  expect("${method}: loss ${initial} -> ${final} did not decrease" final LESS initial)
  expect("${method}: test loss ${test}" test GREATER 0)
  expect("${method}: us_per_iter ${us}" us GREATER 0)
  if(method STREQUAL "landing")
    # The safe step keeps landing within epsilon = 0.5 of the manifold.
    expect("landing: distance ${max_distance} above epsilon" max_distance LESS_EQUAL 0.5)
  else()
    # Retractions and the trivialization stay on the manifold to float64 rounding.
    expect("${method}: distance ${max_distance} in float64" max_distance LESS 1e-10)
  endif()
endforeach()

foreach(file curves.csv summary.jsonl loss.svg distance.svg)
  expect("missing ${OUT}/${file}" EXISTS ${OUT}/${file})
endforeach()
file(STRINGS ${OUT}/curves.csv rows)
list(LENGTH rows row_count)
expect("curves.csv has ${row_count} lines, expected 1 + 6 * 31" row_count EQUAL 187)

run_app(--width 8 --depth 2 --samples 32 --batch 8 --iters 10 --methods landing,rsgd-cayley
        --threads 1 --out ${OUT}/minibatch)
expect("minibatch run exited ${rc}: ${err}" rc EQUAL 0)

run_app(--methods landing,bogus --out ${OUT}/bad)
expect("--methods bogus exited ${rc}" rc EQUAL 2)
string(REGEX MATCHALL "\n" newlines "${err}")
list(LENGTH newlines newline_count)
expect("--methods bogus: expected one line on stderr, got: ${err}" newline_count EQUAL 1)

run_app(--samples 32 --batch 64 --out ${OUT}/bad)
expect("--batch above --samples exited ${rc}: ${err}" rc EQUAL 2)
