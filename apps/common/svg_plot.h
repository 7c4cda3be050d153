#pragma once

#include <string>
#include <vector>

namespace ortho::apps {

// One line of a plot: points (x[i], y[i]); non-finite points are left out.
struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
};

// One chart: axes with "nice" ticks fitted to its series, a title and a legend.
struct PlotPanel {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  double min_x_step = 0;  // the smallest x tick step, e.g. 1 when x counts epochs
};

struct PlotSize {
  int panel_width = 480;
  int panel_height = 320;
};

// A standalone SVG document with the panels side by side, left to right (e.g. loss and
// accuracy per epoch). Series take colours from a fixed palette in order; every point is
// also marked, so a one-point series stays visible.
std::string render_svg_plot(const std::vector<PlotPanel>& panels, PlotSize size = {});

// About `target` evenly spaced round values (steps of 1, 2 or 5 times a power of ten, and at
// least `min_step`) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 5, double min_step = 0);

}  // namespace ortho::apps
