// HardwareConfig: bandwidth curves, canonical JSON. Every number must carry a
// provenance entry ("measured: ...", "datasheet: ..." or "estimate: ...").
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config {

using nlohmann::json;

double BandwidthCurve::at(double xq) const {
  if (x.empty() || gbps.size() != x.size()) return 0.0;
  if (!(xq > x.front())) return gbps.front();  // also catches NaN and xq <= 0
  if (xq >= x.back()) return gbps.back();
  std::size_t hi = 1;
  while (x[hi] < xq) ++hi;
  const double l0 = std::log2(x[hi - 1]), l1 = std::log2(x[hi]);
  const double t = (std::log2(xq) - l0) / (l1 - l0);
  return gbps[hi - 1] + t * (gbps[hi] - gbps[hi - 1]);
}

double gather_gbps_16k(const HardwareConfig& h, bool bulk_copy, double ctas) {
  const BandwidthCurve& c = bulk_copy ? h.bulk_gather_by_ctas_16k : h.gather_by_ctas_16k;
  return c.x.empty() ? h.h2d_gbps : c.at(std::max(1.0, ctas));
}

namespace {
json curve_json(const BandwidthCurve& c) { return json{{"x", c.x}, {"gbps", c.gbps}}; }

BandwidthCurve curve_from(detail::Fields& parent, const std::string& key) {
  detail::Fields f = parent.table(key, true);
  BandwidthCurve c;
  c.x = f.numbers("x");
  c.gbps = f.numbers("gbps");
  f.finish();
  return c;
}
// provenance.<key>, which must say measured, datasheet or estimate.
std::string provenance_text(detail::Fields& p, const std::string& key) {
  std::string text = p.string(key);
  const bool ok = text.rfind("measured", 0) == 0 || text.rfind("datasheet", 0) == 0 ||
                  text.rfind("estimate", 0) == 0;
  if (!ok)
    p.fail(key, "must start with \"measured\", \"datasheet\" or \"estimate\", got \"" + text + "\"");
  return text;
}

// The optional numbers: a value other than the default needs a provenance
// like any other number; the default needs none (files before the key).
void optional_provenance(detail::Fields& p, HardwareConfig& h) {
  const std::pair<const char*, bool> optional[] = {
      {"gpu_workspace_bytes", h.gpu_workspace_bytes != kDefaultGpuWorkspaceBytes},
      {"host_reserve_bytes", h.host_reserve_bytes != kDefaultHostReserveBytes},
      {"l2_gbps", h.l2_gbps != kDefaultL2Gbps},
      {"bulk_gather_by_ctas_16k", !h.bulk_gather_by_ctas_16k.x.empty()}};
  for (const auto& [key, changed] : optional) {
    if (p.has(key)) {
      h.provenance[key] = provenance_text(p, key);
    } else if (changed) {
      throw ConfigError(fmt::format("{}: '{}' has no provenance: add provenance.{} = \"measured: ...\", "
                                    "\"datasheet: ...\" or \"estimate: <why>\"",
                                    p.where(), key, key));
    }
  }
}
}  // namespace

json to_json(const HardwareConfig& h) {
  json j{
      {"name", h.name},
      {"gpu_name", h.gpu_name},
      {"sm_count", h.sm_count},
      {"gpu_mem_bytes", h.gpu_mem_bytes},
      {"l2_bytes", h.l2_bytes},
      {"persisting_l2_max_bytes", h.persisting_l2_max_bytes},
      {"hbm_gbps", h.hbm_gbps},
      {"bf16_tflops", h.bf16_tflops},
      {"fp32_tflops", h.fp32_tflops},
      {"kernel_launch_us", h.kernel_launch_us},
      {"pcie_gen", h.pcie_gen},
      {"pcie_width", h.pcie_width},
      {"h2d_gbps", h.h2d_gbps},
      {"d2h_gbps", h.d2h_gbps},
      {"h2d_latency_us", h.h2d_latency_us},
      {"h2d_memcpy_by_size", curve_json(h.h2d_memcpy_by_size)},
      {"gather_by_ctas_16k", curve_json(h.gather_by_ctas_16k)},
      {"gather_compute_slowdown", h.gather_compute_slowdown},
      {"cpu_name", h.cpu_name},
      {"host_mem_bytes", h.host_mem_bytes},
      {"host_memcpy_gbps", h.host_memcpy_gbps},
      {"gpu_workspace_bytes", h.gpu_workspace_bytes},
      {"host_reserve_bytes", h.host_reserve_bytes},
      {"provenance", h.provenance},
  };
  if (h.l2_gbps != kDefaultL2Gbps) j["l2_gbps"] = h.l2_gbps;  // optional: configs and traces before it stay as they were
  if (!h.bulk_gather_by_ctas_16k.x.empty()) j["bulk_gather_by_ctas_16k"] = curve_json(h.bulk_gather_by_ctas_16k);
  return j;
}

HardwareConfig hardware_from_json(const json& j, const std::string& where) {
  detail::Fields f(j, where, "");
  return detail::hardware_from_fields(f, "");
}

namespace detail {

HardwareConfig hardware_from_fields(Fields& f, const std::string& fallback_name) {
  HardwareConfig h;
  h.name = fallback_name.empty() ? f.string("name") : f.string("name", fallback_name);
  h.gpu_name = f.string("gpu_name");
  h.sm_count = f.integer("sm_count");
  h.gpu_mem_bytes = f.integer("gpu_mem_bytes");
  h.l2_bytes = f.integer("l2_bytes");
  h.persisting_l2_max_bytes = f.integer("persisting_l2_max_bytes");
  h.hbm_gbps = f.number("hbm_gbps");
  h.bf16_tflops = f.number("bf16_tflops");
  h.fp32_tflops = f.number("fp32_tflops");
  h.kernel_launch_us = f.number("kernel_launch_us");
  h.pcie_gen = f.integer("pcie_gen");
  h.pcie_width = f.integer("pcie_width");
  h.h2d_gbps = f.number("h2d_gbps");
  h.d2h_gbps = f.number("d2h_gbps");
  h.h2d_latency_us = f.number("h2d_latency_us");
  h.h2d_memcpy_by_size = curve_from(f, "h2d_memcpy_by_size");
  h.gather_by_ctas_16k = curve_from(f, "gather_by_ctas_16k");
  h.gather_compute_slowdown = f.number("gather_compute_slowdown");
  h.cpu_name = f.string("cpu_name");
  h.host_mem_bytes = f.integer("host_mem_bytes");
  h.host_memcpy_gbps = f.number("host_memcpy_gbps");
  h.gpu_workspace_bytes = f.integer("gpu_workspace_bytes", h.gpu_workspace_bytes);
  h.host_reserve_bytes = f.integer("host_reserve_bytes", h.host_reserve_bytes);
  h.l2_gbps = f.number("l2_gbps", h.l2_gbps);
  if (f.has("bulk_gather_by_ctas_16k")) h.bulk_gather_by_ctas_16k = curve_from(f, "bulk_gather_by_ctas_16k");

  // Provenance: one string per numeric key above, nothing else.
  const std::vector<std::string> numeric = {
      "sm_count",       "gpu_mem_bytes",      "l2_bytes",           "persisting_l2_max_bytes",
      "hbm_gbps",       "bf16_tflops",        "fp32_tflops",        "kernel_launch_us",
      "pcie_gen",       "pcie_width",         "h2d_gbps",           "d2h_gbps",
      "h2d_latency_us", "h2d_memcpy_by_size", "gather_by_ctas_16k", "gather_compute_slowdown",
      "host_mem_bytes", "host_memcpy_gbps"};
  if (!f.has("provenance"))
    f.fail("provenance", "is required: every number must state where it comes from");
  Fields p = f.table("provenance", true);
  for (const auto& key : numeric) {
    if (!p.has(key))
      throw ConfigError(
          fmt::format("{}: '{}' has no provenance: add provenance.{} = \"measured: ...\", "
                      "\"datasheet: ...\" or \"estimate: <why>\"",
                      f.where(), key, key));
    h.provenance[key] = provenance_text(p, key);
  }
  optional_provenance(p, h);
  p.finish();
  f.adopt(p);
  f.finish();
  validate_hardware(h, f.where());
  return h;
}

}  // namespace detail
}  // namespace foresight::config
