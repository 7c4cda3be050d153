#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/ortho-distill/distill.h"

namespace ortho::apps {

struct MethodRun {
  DistillMethod method;
  DistillCurves curves;
};

// The JSON line of one method: {"method", "width", "depth", "iters", "us_per_iter" (median
// step), "final_loss", "final_test_loss", "final_distance", "max_distance", ...}.
nlohmann::json distill_summary(const MethodRun& run, const DistillOptions& options, int threads);

// Rewrites, each atomically, <dir>/curves.csv (one row per method and iterate: method, iter,
// train_loss, test_loss (empty between evaluations), distance, step_us, elapsed_s),
// <dir>/summary.jsonl (the summaries), <dir>/loss.svg (log10 training loss vs iteration and vs
// time, log10 test loss vs iteration) and <dir>/distance.svg (log10 distance vs iteration).
void write_distill_files(const std::string& dir, const std::vector<MethodRun>& runs,
                         const std::vector<nlohmann::json>& summaries);

}  // namespace ortho::apps
