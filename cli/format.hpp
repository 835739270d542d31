// Numbers as people read them on a terminal: milliseconds with a sensible
// precision, bytes in GiB/MiB/KiB, rates as percentages. Files keep full
// precision (metrics.json); only printed text goes through here.
#pragma once

#include <string>

namespace foresight::cli {

// "4.384 ms"; 1 decimal from 100 ms, 3 from 1 ms, 4 below; "-" for NaN.
std::string format_ms(double ms);
// "1.50 GiB", "12.0 MiB", "3.0 KiB", "512 B" (binary units); "-" for NaN.
std::string format_bytes(double bytes);
// A metric by its name (docs/metrics.md): *_ms and *.ms.* as milliseconds,
// *bytes* as bytes, *rate* and *.fraction as percentages, whole numbers
// without decimals, anything else with 4 significant digits.
std::string format_metric(const std::string& name, double value);

}  // namespace foresight::cli
