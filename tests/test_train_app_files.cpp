#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/atomic_file.h"
#include "apps/common/csv.h"
#include "apps/common/svg_plot.h"

namespace ortho::apps {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(TrainAppFiles, CsvQuotesOnlyFieldsThatNeedIt) {
  CsvTable table({"name", "value"});
  table.add_row({"plain", "1"});
  table.add_row({"a,b", "say \"hi\""});
  EXPECT_EQ(table.num_rows(), 2u);
  EXPECT_EQ(table.str(), "name,value\nplain,1\n\"a,b\",\"say \"\"hi\"\"\"\n");
  EXPECT_THROW(table.add_row({"too", "many", "fields"}), std::invalid_argument);
}

TEST(TrainAppFiles, CsvNumbersReadBackExactly) {
  for (double v : {0.0, 1.0, 0.1, 2.0 / 3.0, 1e-300, -123456.789, 6.02214076e23}) {
    EXPECT_EQ(std::strtod(csv_number(v).c_str(), nullptr), v) << csv_number(v);
  }
  EXPECT_EQ(csv_number(0.5), "0.5");
}

TEST(TrainAppFiles, NiceTicksAreRoundAndCoverTheRange) {
  const std::vector<double> unit = nice_ticks(0.0, 1.0);
  ASSERT_EQ(unit.size(), 6u);
  for (std::size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * i, 1e-12);
  const std::vector<double> ticks = nice_ticks(1.3, 28.7);
  EXPECT_LE(ticks.front(), 1.3);
  EXPECT_GE(ticks.back(), 28.7);
  EXPECT_DOUBLE_EQ(ticks[1] - ticks[0], 10.0);
  EXPECT_EQ(nice_ticks(0.0, 0.0), std::vector<double>{0.0});
  EXPECT_EQ(nice_ticks(1.0, 2.0, 5, 1.0), (std::vector<double>{1.0, 2.0}));
}

TEST(TrainAppFiles, SvgPlotHasOneLinePerSeriesAndEscapesText) {
  const PlotPanel panel{"Loss <train & test>",
                        "epoch",
                        "loss",
                        {{"train", {1, 2, 3}, {2.3, 1.9, 1.5}}, {"test", {1}, {2.0}}}};
  const std::string svg = render_svg_plot({panel, panel});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("Loss &lt;train &amp; test&gt;"), std::string::npos);
  std::size_t polylines = 0;
  for (std::size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1)) {
    ++polylines;
  }
  EXPECT_EQ(polylines, 4u);
  EXPECT_NE(render_svg_plot({PlotPanel{}}).find("</svg>"), std::string::npos);
}

TEST(TrainAppFiles, AtomicWriteReplacesTheFileAndLeavesNoTemporary) {
  const fs::path dir = fs::temp_directory_path() / ("ortho_atomic_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "out.txt").string();
  write_file_atomically(path, "first");
  write_file_atomically(path, "second");
  EXPECT_EQ(read_file(path), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  const std::string bad = (dir / "out.txt" / "below-a-file").string();
  try {
    write_file_atomically(bad, "x");
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(bad), std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ortho::apps
