#include "arch/mxu_table.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "base/input_file.h"

namespace npusim::arch {
namespace {

Dataflow flow_of(const std::string& d) {
  return d == "os" ? Dataflow::OutputStationary : d == "is" ? Dataflow::InputStationary : Dataflow::WeightStationary;
}

/// The streamed dimension T of a tile for a dataflow (scalesim_closed_form's).
uint64_t streamed(Dataflow f, const MatmulShape& s) {
  return f == Dataflow::WeightStationary ? s.m : f == Dataflow::OutputStationary ? s.k : s.n;
}

}  // namespace

LatencyTable LatencyTable::load(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(read_input_file(path, "latency table", uint64_t{256} << 20));
  } catch (const InputError& e) {
    throw std::invalid_argument(e.what());
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument(path + ": cannot read the latency table: " + e.msg);
  }
  auto need = [&](const char* key) {
    if (!root.IsMap() || !root[key]) throw std::invalid_argument(path + ": latency table lacks '" + key + "'");
    return root[key];
  };
  LatencyTable t;
  try {
    t.rows = need("rows").as<uint32_t>();
    t.cols = need("cols").as<uint32_t>();
    t.dataflow = need("dataflow").as<std::string>();
    if (root["source"]) t.source = root["source"].as<std::string>();
    const YAML::Node e = need("entries");
    if (!e.IsSequence() || e.size() == 0) throw std::invalid_argument(path + ": entries must be a non-empty list");
    for (size_t i = 0; i < e.size(); ++i) {
      const YAML::Node row = e[i];
      if (!row.IsSequence() || row.size() != 5)
        throw std::invalid_argument(path + ": entry " + std::to_string(i) + " must be [m, n, k, reuse_b, cycles]");
      const auto m = row[0].as<uint32_t>(), n = row[1].as<uint32_t>(), k = row[2].as<uint32_t>();
      if (!m || !n || !k) throw std::invalid_argument(path + ": entry " + std::to_string(i) + " has a zero dimension");
      t.cycles[{m, n, k, row[3].as<uint32_t>() != 0}] = row[4].as<uint64_t>();
    }
  } catch (const YAML::Exception& ex) {
    throw std::invalid_argument(path + ": malformed latency table: " + ex.msg);
  }
  if (t.dataflow != "ws" && t.dataflow != "os" && t.dataflow != "is")
    throw std::invalid_argument(path + ": dataflow must be ws, os or is");
  t.fit();
  return t;
}

std::string LatencyTable::to_yaml() const {
  std::ostringstream os;
  os << "# npusim MXU latency table (written by npusim calibrate; read by mxu: {impl: table})\n"
     << "rows: " << rows << "\ncols: " << cols << "\ndataflow: " << dataflow << "\nsource: \"" << source
     << "\"\nentries:  # [m, n, k, reuse_b, cycles]\n";
  for (const auto& [key, c] : cycles) {
    const auto& [m, n, k, reuse] = key;
    os << "  - [" << m << ", " << n << ", " << k << ", " << (reuse ? 1 : 0) << ", " << c << "]\n";
  }
  return os.str();
}

void LatencyTable::fit() {
  // c0 = mean over entries without reuse of (cycles + 1) / folds - T.
  double sum = 0;
  size_t n = 0;
  for (const auto& [key, c] : cycles) {
    const auto& [m, nn, k, reuse] = key;
    if (reuse) continue;
    const MatmulShape s{m, nn, k, false};
    const MxuTile t = scalesim_closed_form(rows, cols, flow_of(dataflow), s);
    sum +=
        static_cast<double>(c + 1) / static_cast<double>(t.folds) - static_cast<double>(streamed(flow_of(dataflow), s));
    ++n;
  }
  fold_cost = n ? sum / static_cast<double>(n) : 0;
}

uint64_t LatencyTable::lookup(const MatmulShape& s) const {
  auto it = cycles.find({s.m, s.n, s.k, s.reuse_b});
  if (it != cycles.end()) return it->second;
  const Dataflow f = flow_of(dataflow);
  const MxuTile t = scalesim_closed_form(rows, cols, f, s);
  double c = static_cast<double>(t.folds) * (fold_cost + static_cast<double>(streamed(f, s))) - 1;
  if (s.reuse_b && f == Dataflow::WeightStationary && t.folds == 1) c -= rows;  // no weight preload
  return static_cast<uint64_t>(std::llround(std::max(1.0, c)));
}

namespace {

class TableMxu final : public MxuTiming {
 public:
  explicit TableMxu(const MxuConfig& c) : c_(c), table_(LatencyTable::load(c.table_file)) {}
  MxuTile tile(const MatmulShape& s) const override {
    MxuTile t = scalesim_closed_form(c_.rows, c_.cols, c_.flow(), s);
    t.cycles = table_.lookup(s);
    return t;
  }

 private:
  MxuConfig c_;
  LatencyTable table_;
};

const bool registered = MxuRegistry::add(
    {"table", "latencies from a table measured on the RTL (npusim calibrate), fitted between entries",
     [](config::Section& s, MxuConfig& c) {
       s.file("file", c.table_file, "latency table written by npusim calibrate (path as given)");
       s.check([&c] {
         const LatencyTable t = LatencyTable::load(c.table_file);
         if (t.rows != c.rows || t.cols != c.cols || t.dataflow != c.dataflow)
           throw std::invalid_argument(c.table_file + " was measured on a " + std::to_string(t.rows) + "x" +
                                       std::to_string(t.cols) + " " + t.dataflow + " array; this mxu is " +
                                       std::to_string(c.rows) + "x" + std::to_string(c.cols) + " " + c.dataflow);
       });
     },
     [](const MxuConfig& c) { return std::make_unique<TableMxu>(c); }});

}  // namespace
}  // namespace npusim::arch
