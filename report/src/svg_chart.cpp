// SVG line and stacked-bar charts (see svg_chart.hpp).
#include "foresight/report/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/core.h>

namespace foresight::report::svg {

namespace {
constexpr double kLeft = 70, kRight = 20, kTop = 34, kBottom = 50, kLegendRow = 16;

std::string fmt_num(double v) {
  const double a = std::fabs(v);
  if (a == 0) return "0";
  if (a >= 1e6 || a < 1e-3) return fmt::format("{:.2g}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.3g}", v);
  return fmt::format("{:.3g}", v);
}

struct Frame {
  double x0, x1, y0, y1;       // data range
  double px0, px1, py0, py1;   // plot area in pixels (py0 bottom)
  bool log_x;
  double fx(double x) const {
    const double a = log_x ? std::log2(x) : x, lo = log_x ? std::log2(x0) : x0,
                 hi = log_x ? std::log2(x1) : x1;
    return px0 + (hi > lo ? (a - lo) / (hi - lo) : 0.5) * (px1 - px0);
  }
  double fy(double y) const { return py0 - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (py0 - py1); }
};

void header(std::string& o, int w, int h, const std::string& title) {
  o += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n"
      "<title>{2}</title>\n<rect width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<text x=\"{3}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
      "font-weight=\"bold\">{2}</text>\n",
      w, h, xml_escape(title), w / 2);
}

void y_axis(std::string& o, const Frame& f, const std::vector<double>& ticks,
            const std::string& label) {
  for (double t : ticks) {
    const double y = f.fy(t);
    o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" "
                     "stroke=\"#e5e5e5\"/>\n<text x=\"{:.1f}\" y=\"{:.1f}\" "
                     "text-anchor=\"end\">{}</text>\n",
                     f.px0, y, f.px1, y, f.px0 - 6, y + 4, fmt_num(t));
  }
  o += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" "
                   "stroke=\"#333\"/>\n",
                   f.px0, f.py0, f.py1);
  o += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" "
                   "text-anchor=\"middle\">{}</text>\n",
                   (f.py0 + f.py1) / 2, xml_escape(label));
}

void legend(std::string& o, const std::vector<std::pair<std::string, int>>& items, double x0,
            double y0, double width) {
  double x = x0, y = y0;
  for (const auto& [name, colour] : items) {
    const double w = 22 + 7.0 * static_cast<double>(name.size());
    if (x + w > x0 + width && x > x0) { x = x0; y += kLegendRow; }
    o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"10\" fill=\"{}\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
                     x, y - 9, palette(colour), x + 16, y, xml_escape(name));
    x += w;
  }
}

int legend_rows(const std::vector<std::string>& names, double width) {
  double x = 0;
  int rows = names.empty() ? 0 : 1;
  for (const auto& n : names) {
    const double w = 22 + 7.0 * static_cast<double>(n.size());
    if (x + w > width && x > 0) { x = 0; ++rows; }
    x += w;
  }
  return rows;
}
}  // namespace

const char* palette(int i) {
  static const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                  "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  return colours[((i % 8) + 8) % 8];
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  }
  return o;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) { step = m * mag; break; }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

bool has_data(const LineChart& c) {
  for (const auto& s : c.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i]) && std::isfinite(s.x[i]) && !(c.log_x && s.x[i] <= 0)) return true;
  return false;
}

bool has_data(const StackedBarChart& c) {
  for (const auto& s : c.segments)
    for (double v : s.values)
      if (v > 0) return true;
  return false;
}

std::string render(const LineChart& c) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y1 = 0;
  double ymin = std::numeric_limits<double>::infinity();
  for (const auto& s : c.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (std::isnan(s.y[i]) || (c.log_x && s.x[i] <= 0)) continue;
      x0 = std::min(x0, s.x[i]); x1 = std::max(x1, s.x[i]); y1 = std::max(y1, s.y[i]);
      ymin = std::min(ymin, s.y[i]);
    }
  for (const auto& h : c.hlines) y1 = std::max(y1, h.y);
  if (!std::isfinite(x0)) { x0 = c.log_x ? 1 : 0; x1 = c.log_x ? 2 : 1; }
  if (x1 == x0) x1 = c.log_x ? x0 * 2 : x0 + 1;
  if (y1 <= 0) y1 = 1;
  double ylo = 0;
  if (!c.y_from_zero && std::isfinite(ymin) && ymin < y1) {
    const double pad = (y1 - ymin) * 0.1;
    ylo = nice_ticks(ymin - pad, y1 + pad).front();
    if (ylo > ymin) ylo = ymin - pad;
  } else if (!c.y_from_zero && std::isfinite(ymin)) {
    ylo = ymin * 0.9;
  }
  const auto yt = nice_ticks(ylo, ylo == 0 ? y1 * 1.05 : y1 + (y1 - ylo) * 0.05);
  std::vector<std::string> names;
  for (const auto& s : c.series) names.push_back(s.name);
  const double plot_w = c.width - kLeft - kRight;
  const int rows = legend_rows(names, plot_w);
  Frame f{x0, x1, ylo, std::max(yt.back(), y1), kLeft, c.width - kRight,
          c.height - kBottom - rows * kLegendRow, kTop, c.log_x};

  std::string o;
  header(o, c.width, c.height, c.title);
  y_axis(o, f, yt, c.y_label);
  std::vector<double> xt;
  if (c.log_x) {
    for (double v = std::exp2(std::ceil(std::log2(x0))); v <= x1 * (1 + 1e-9); v *= 2) xt.push_back(v);
    while (xt.size() > 9) {  // thin to every other power of two
      std::vector<double> thin;
      for (std::size_t i = 0; i < xt.size(); i += 2) thin.push_back(xt[i]);
      xt = thin;
    }
  } else {
    xt = nice_ticks(x0, x1, 6);
  }
  for (double t : xt) {
    const double x = f.fx(t);
    o += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" "
                     "stroke=\"#333\"/><text x=\"{0:.1f}\" y=\"{3:.1f}\" "
                     "text-anchor=\"middle\">{4}</text>\n",
                     x, f.py0, f.py0 + 5, f.py0 + 18, fmt_num(t));
  }
  o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n",
                   f.px0, f.py0, f.px1, f.py0);
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                   (f.px0 + f.px1) / 2, f.py0 + 34,
                   xml_escape(c.x_label + (c.log_x ? " (log scale)" : "")));

  for (const auto& h : c.hlines) {
    const double y = f.fy(h.y);
    o += fmt::format("<line class=\"target\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" "
                     "y2=\"{:.1f}\" stroke=\"#c00\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#c00\">{}</text>\n",
                     f.px0, y, f.px1, y, f.px1 - 4, y - 5, xml_escape(h.label));
  }
  int marker_row = 0;
  for (const auto& v : c.vmarkers) {
    if (v.x < x0 || v.x > x1) continue;
    const double x = f.fx(v.x);
    const char* colour = v.series >= 0 ? palette(v.series) : "#777";
    o += fmt::format("<line class=\"marker\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" "
                     "y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/>"
                     "<text x=\"{4:.1f}\" y=\"{5:.1f}\" text-anchor=\"end\" fill=\"{3}\" "
                     "font-size=\"10\">{6}</text>\n",
                     x, f.py0, f.py1, colour, x - 3, f.py0 - 6 - 12 * marker_row,
                     xml_escape(v.label));
    ++marker_row;
  }
  for (std::size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    std::string d;
    bool pen_up = true;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (std::isnan(s.y[i]) || (c.log_x && s.x[i] <= 0)) { pen_up = true; continue; }
      d += fmt::format("{}{:.1f} {:.1f} ", pen_up ? "M" : "L", f.fx(s.x[i]), f.fy(s.y[i]));
      pen_up = false;
    }
    if (d.empty()) continue;
    const int ci = static_cast<int>(si);
    o += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", d,
                     palette(ci), s.dashed ? " stroke-dasharray=\"7 4\"" : "");
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (!std::isnan(s.y[i]) && !(c.log_x && s.x[i] <= 0))
        o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>", f.fx(s.x[i]),
                         f.fy(s.y[i]), palette(ci));
    o += "\n";
  }
  for (const auto& p : c.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || (c.log_x && p.x <= 0)) continue;
    const char* colour = p.series >= 0 ? palette(p.series) : "#777";
    o += fmt::format("<circle class=\"point-marker\" cx=\"{0:.1f}\" cy=\"{1:.1f}\" r=\"7\" fill=\"none\" "
                     "stroke=\"{2}\" stroke-width=\"2\"/><text x=\"{3:.1f}\" y=\"{4:.1f}\" fill=\"{2}\" "
                     "font-size=\"10\">{5}</text>\n",
                     f.fx(p.x), f.fy(p.y), colour, f.fx(p.x) + 9, f.fy(p.y) - 8, xml_escape(p.label));
  }
  std::vector<std::pair<std::string, int>> items;
  for (std::size_t i = 0; i < names.size(); ++i) items.emplace_back(names[i], static_cast<int>(i));
  legend(o, items, kLeft, c.height - (rows - 1) * kLegendRow - 6, plot_w);
  o += "</svg>\n";
  return o;
}

std::string render(const StackedBarChart& c) {
  double y1 = 0;
  for (std::size_t k = 0; k < c.categories.size(); ++k) {
    double total = 0;
    for (const auto& s : c.segments) total += k < s.values.size() ? std::max(0.0, s.values[k]) : 0;
    y1 = std::max(y1, total);
  }
  if (c.limit) y1 = std::max(y1, c.limit->y);
  if (y1 <= 0) y1 = 1;
  const auto yt = nice_ticks(0, y1 * 1.05);
  std::vector<std::string> names;
  std::vector<std::pair<std::string, int>> items;
  for (std::size_t si = 0; si < c.segments.size(); ++si) {
    const auto& s = c.segments[si];
    bool any = false;
    for (double v : s.values) any = any || v > 0;
    if (!any) continue;
    names.push_back(s.name);
    items.emplace_back(s.name, s.colour >= 0 ? s.colour : static_cast<int>(si));
  }
  const double plot_w = c.width - kLeft - kRight;
  const int rows = legend_rows(names, plot_w);
  Frame f{0, 1, 0, std::max(yt.back(), y1), kLeft, c.width - kRight,
          c.height - kBottom - rows * kLegendRow, kTop, false};
  std::string o;
  header(o, c.width, c.height, c.title);
  y_axis(o, f, yt, c.y_label);
  const double n = static_cast<double>(std::max<std::size_t>(1, c.categories.size()));
  const double slot = (f.px1 - f.px0) / n, bar = std::min(80.0, slot * 0.6);
  for (std::size_t k = 0; k < c.categories.size(); ++k) {
    const double cx = f.px0 + slot * (static_cast<double>(k) + 0.5);
    double base = 0;
    for (std::size_t si = 0; si < c.segments.size(); ++si) {
      const auto& s = c.segments[si];
      const double v = k < s.values.size() ? std::max(0.0, s.values[k]) : 0;
      if (v <= 0) continue;
      const double ytop = f.fy(base + v), ybot = f.fy(base);
      o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                       "fill=\"{}\"><title>{}: {}</title></rect>\n",
                       cx - bar / 2, ytop, bar, std::max(0.5, ybot - ytop),
                       palette(s.colour >= 0 ? s.colour : static_cast<int>(si)),
                       xml_escape(s.name), fmt_num(v));
      base += v;
    }
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">", cx, f.py0 + 16);
    std::size_t start = 0;
    for (int line = 0; start <= c.categories[k].size(); ++line) {
      const auto nl = c.categories[k].find('\n', start);
      const auto part = c.categories[k].substr(start, nl == std::string::npos ? nl : nl - start);
      o += fmt::format("<tspan x=\"{:.1f}\" dy=\"{}\">{}</tspan>", cx, line ? 13 : 0,
                       xml_escape(part));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    o += "</text>\n";
  }
  o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n",
                   f.px0, f.py0, f.px1, f.py0);
  if (c.limit) {
    const double y = f.fy(c.limit->y);
    o += fmt::format("<line class=\"target\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" "
                     "y2=\"{:.1f}\" stroke=\"#c00\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#c00\">{}</text>\n",
                     f.px0, y, f.px1, y, f.px1 - 4, y - 5, xml_escape(c.limit->label));
  }
  legend(o, items, kLeft, c.height - (rows - 1) * kLegendRow - 6, plot_w);
  o += "</svg>\n";
  return o;
}

}  // namespace foresight::report::svg
