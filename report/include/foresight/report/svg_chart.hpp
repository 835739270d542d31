// A small SVG chart writer for the report: line charts (axes, ticks, labels,
// legend, optional log2 x axis, horizontal target lines, vertical markers,
// labelled point markers) and
// stacked bar charts. Output is one self-contained <svg> element (no scripts,
// no external fonts), so the HTML report opens offline.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace foresight::report::svg {

struct Series {
  std::string name;
  std::vector<double> x, y;      // same length; NaN y = gap (point not drawn)
  bool dashed = false;
};

struct HLine {
  double y = 0;
  std::string label;             // e.g. "target 50 ms"
};

struct VMarker {
  double x = 0;
  std::string label;             // e.g. "sparda: memory limit"
  int series = -1;               // colour of this series; -1 = grey
};

struct PointMarker {
  double x = 0, y = 0;
  std::string label;             // e.g. "knee (chosen)"
  int series = -1;               // colour of this series; -1 = grey
};

struct LineChart {
  std::string title, x_label, y_label;
  bool log_x = false;            // log2 x axis (ticks at powers of two)
  bool y_from_zero = true;       // false: the y axis spans the data's range only
  std::vector<Series> series;
  std::vector<HLine> hlines;
  std::vector<VMarker> vmarkers;
  std::vector<PointMarker> points;  // ringed points with a label (drawn over the series)
  int width = 640, height = 360; // pixels
};

struct BarSegment {
  std::string name;              // legend entry (left out when every value is 0)
  std::vector<double> values;    // one per category
  int colour = -1;               // palette index; -1 = the segment's position
};

struct StackedBarChart {
  std::string title, y_label;
  std::vector<std::string> categories;   // one bar each; '\n' breaks the label
  std::vector<BarSegment> segments;      // stacked bottom to top
  std::optional<HLine> limit;            // e.g. GPU capacity
  int width = 640, height = 360;
};

std::string render(const LineChart& c);
std::string render(const StackedBarChart& c);

// Whether a chart has anything to draw (a finite point / a positive bar).
bool has_data(const LineChart& c);
bool has_data(const StackedBarChart& c);

// Escapes &, <, >, " and ' for XML text and attributes.
std::string xml_escape(const std::string& s);
// Colour of series i (a fixed palette, cycled).
const char* palette(int i);
// "Nice" axis ticks covering [lo, hi] (about `target` of them, steps 1/2/5 x 10^k).
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace foresight::report::svg
