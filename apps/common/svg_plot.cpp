// A small SVG line-plot writer for the apps' curves (no dependency beyond the standard library).
#include "apps/common/svg_plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace ortho::apps {
namespace {

constexpr std::array<const char*, 8> kPalette = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                 "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
// Space around the plotting area of a panel: left, right, top, bottom.
constexpr double kLeft = 64, kRight = 16, kTop = 32, kBottom = 44;

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();

  void include(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // A range with room to draw: empty becomes [0, 1], a single value gets a margin.
  Range padded() const {
    if (lo > hi) return {0.0, 1.0};
    if (lo == hi)
      return {lo - std::max(std::abs(lo) * 0.1, 0.5), hi + std::max(std::abs(hi) * 0.1, 0.5)};
    return *this;
  }
};

// Maps data coordinates of a panel onto pixels.
struct Frame {
  double left, top, width, height;
  Range x, y;

  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", v);
  return text;
}

std::string tick_label(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", std::abs(v) < 1e-12 ? 0.0 : v);
  return text;
}

bool finite_point(const PlotSeries& s, std::size_t i) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
}

// The data ranges of a panel, stretched to its outermost ticks.
std::pair<Range, Range> panel_ranges(const PlotPanel& panel) {
  Range x, y;
  for (const PlotSeries& s : panel.series) {
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!finite_point(s, i)) continue;
      x.include(s.x[i]);
      y.include(s.y[i]);
    }
  }
  x = x.padded();
  y = y.padded();
  const std::vector<double> yt = nice_ticks(y.lo, y.hi);
  return {x, Range{std::min(y.lo, yt.front()), std::max(y.hi, yt.back())}};
}

void draw_axes(std::ostringstream& svg, const Frame& f, const PlotPanel& panel) {
  svg << "<rect x=\"" << number(f.left) << "\" y=\"" << number(f.top) << "\" width=\""
      << number(f.width) << "\" height=\"" << number(f.height)
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double t : nice_ticks(f.y.lo, f.y.hi)) {
    if (t < f.y.lo || t > f.y.hi) continue;
    svg << "<line x1=\"" << number(f.left) << "\" x2=\"" << number(f.left + f.width) << "\" y1=\""
        << number(f.py(t)) << "\" y2=\"" << number(f.py(t)) << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << number(f.left - 6) << "\" y=\"" << number(f.py(t) + 4)
        << "\" text-anchor=\"end\">" << tick_label(t) << "</text>\n";
  }
  for (double t : nice_ticks(f.x.lo, f.x.hi, 5, panel.min_x_step)) {
    if (t < f.x.lo || t > f.x.hi) continue;
    svg << "<text x=\"" << number(f.px(t)) << "\" y=\"" << number(f.top + f.height + 16)
        << "\" text-anchor=\"middle\">" << tick_label(t) << "</text>\n";
  }
  svg << "<text x=\"" << number(f.left + f.width / 2) << "\" y=\"" << number(f.top - 12)
      << "\" text-anchor=\"middle\" font-weight=\"bold\">" << escape_xml(panel.title) << "</text>\n"
      << "<text x=\"" << number(f.left + f.width / 2) << "\" y=\"" << number(f.top + f.height + 36)
      << "\" text-anchor=\"middle\">" << escape_xml(panel.x_label) << "</text>\n"
      << "<text transform=\"translate(" << number(f.left - 48) << ','
      << number(f.top + f.height / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
      << escape_xml(panel.y_label) << "</text>\n";
}

void draw_series(std::ostringstream& svg, const Frame& f, const PlotSeries& s, const char* color) {
  std::ostringstream points;
  for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
    if (!finite_point(s, i)) continue;
    points << number(f.px(s.x[i])) << ',' << number(f.py(s.y[i])) << ' ';
    svg << "<circle cx=\"" << number(f.px(s.x[i])) << "\" cy=\"" << number(f.py(s.y[i]))
        << "\" r=\"2.5\" fill=\"" << color << "\"/>\n";
  }
  svg << "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"" << color << "\" points=\""
      << points.str() << "\"/>\n";
}

void draw_legend(std::ostringstream& svg, const Frame& f, const PlotPanel& panel) {
  for (std::size_t i = 0; i < panel.series.size(); ++i) {
    const double y = f.top + 14 + 16 * static_cast<double>(i);
    const double x = f.left + f.width - 110;
    svg << "<line x1=\"" << number(x) << "\" x2=\"" << number(x + 18) << "\" y1=\"" << number(y)
        << "\" y2=\"" << number(y) << "\" stroke-width=\"2\" stroke=\""
        << kPalette[i % kPalette.size()] << "\"/>\n"
        << "<text x=\"" << number(x + 24) << "\" y=\"" << number(y + 4) << "\">"
        << escape_xml(panel.series[i].label) << "</text>\n";
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target, double min_step) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi <= lo || target < 1) return {lo};
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  step = std::max(step, min_step);
  std::vector<double> ticks;
  // Multiples of the step, not a running sum, so no rounding error accumulates.
  for (double k = std::floor(lo / step); k * step < hi + step * 0.999; k += 1) {
    ticks.push_back(k * step);
  }
  return ticks;
}

std::string render_svg_plot(const std::vector<PlotPanel>& panels, PlotSize size) {
  const int total_width = size.panel_width * std::max<int>(1, static_cast<int>(panels.size()));
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << total_width << "\" height=\""
      << size.panel_height << "\" viewBox=\"0 0 " << total_width << ' ' << size.panel_height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const auto [x, y] = panel_ranges(panels[p]);
    const Frame frame{static_cast<double>(p) * size.panel_width + kLeft,
                      kTop,
                      size.panel_width - kLeft - kRight,
                      size.panel_height - kTop - kBottom,
                      x,
                      y};
    draw_axes(svg, frame, panels[p]);
    for (std::size_t s = 0; s < panels[p].series.size(); ++s) {
      draw_series(svg, frame, panels[p].series[s], kPalette[s % kPalette.size()]);
    }
    draw_legend(svg, frame, panels[p]);
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace ortho::apps
