// Forecast calibration raises the Forecast's recall of the query's selection.
#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/calibrate.hpp"

using namespace foresight;
using namespace foresight::runtime;

TEST_CASE("ridge-fitted Forecast selects more of the query's blocks than a random one") {
  auto m = config::load_model("tiny");
  auto w = make_synthetic_weights(m, 2);
  auto before = w.layers[0].wqkvf;
  auto be = make_cpu_backend();
  CalibrateOptions o;
  o.context_tokens = {400, 300};
  o.recall_steps = 2;
  auto r = calibrate_forecast(m, w, *be, o);
  REQUIRE(r.recall_after.size() == static_cast<std::size_t>(m.n_layers));
  REQUIRE(r.fit_rel_error.size() == static_cast<std::size_t>(m.n_layers));  // L-1 Forecasts + selector
  double mean_before = 0, mean_after = 0;
  for (std::size_t l = 0; l < r.recall_after.size(); ++l) {
    mean_before += r.recall_before[l];
    mean_after += r.recall_after[l];
  }
  CHECK(mean_after > mean_before + 0.2 * static_cast<double>(m.n_layers));
  CHECK(r.recall_after[0] > 0.8);  // the selector predicts its own layer's query almost exactly
  CHECK(r.fit_rel_error.back() < 0.1);
  CHECK(w.forecast_loaded);
  // Only the Forecast rows changed: the Q/K/V rows are untouched.
  CHECK(w.layers[0].wqkvf[5].bits == before[5].bits);
}
