// Memory feasibility of a simulated run (see memory_model.hpp).
#include "foresight/sim/memory_model.hpp"

#include "foresight/config/footprint.hpp"

namespace foresight::sim {

MemoryPlan plan_memory(const config::ModelConfig& m, const config::HardwareConfig& hw,
                       const config::RunConfig& run) {
  const config::Footprint f = config::footprint(m, run, hw);
  MemoryPlan p;
  p.entries = f.items;
  p.gpu_bytes = f.gpu_bytes();
  p.host_bytes = f.host_bytes();
  p.fits = f.fits();
  p.reason = f.shortfall();
  return p;
}

}  // namespace foresight::sim
