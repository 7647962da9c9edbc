// Simulator speed benchmark (not a test): ResNet-50's convolution and FC layers as GEMM tiles
// (im2col shapes, batch 1, 224x224), generated as one program per config and run
// timing-only and functional. Prints simulated cycles per wall-second, instructions per second,
// and the functional run's wall time against a plain Eigen int32 GEMM of the same work.
//
//   bench_sim [--timing-only] [CONFIG.yaml ...]   (default: configs/edge.yaml configs/tpu_v1.yaml)
#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "../tests/sim/fork_run.h"
#include "isa_ops.h"
#include "sim/simulator.h"

using namespace npusim;
namespace f = isa::fields;

namespace {

struct Gemm {
  uint32_t m, n, k;  ///< output pixels, output channels, Cin*kh*kw
};

/// ResNet-50 v1.5 (batch 1): conv1, 16 bottleneck blocks (1x1, 3x3, 1x1, projections), fc.
std::vector<Gemm> resnet50() {
  std::vector<Gemm> g{{112 * 112, 64, 3 * 7 * 7}};
  struct Stage {
    uint32_t hw, mid, out, blocks;
  };
  uint32_t in_ch = 64, in_hw = 56;
  for (const Stage s :
       {Stage{56, 64, 256, 3}, Stage{28, 128, 512, 4}, Stage{14, 256, 1024, 6}, Stage{7, 512, 2048, 3}}) {
    for (uint32_t b = 0; b < s.blocks; ++b) {
      const uint32_t hw_in = b == 0 ? in_hw : s.hw;
      g.push_back({hw_in * hw_in, s.mid, in_ch});            // 1x1 reduce
      g.push_back({s.hw * s.hw, s.mid, s.mid * 9});          // 3x3 (stride 2 in the first block of stages 2-4)
      g.push_back({s.hw * s.hw, s.out, s.mid});              // 1x1 expand
      if (b == 0) g.push_back({s.hw * s.hw, s.out, in_ch});  // projection shortcut
      in_ch = s.out;
    }
    in_hw = s.hw;
  }
  g.push_back({1, 1000, 2048});
  return g;
}

isa::Instruction make(isa::Opcode op) {
  isa::Instruction i;
  i.w[0] = static_cast<uint32_t>(op);
  return i;
}
void wait_on(isa::Instruction& i, uint32_t sem, uint32_t n = 1) {
  i.set(isa::header::wait_en, 1);
  i.set(isa::header::wait_sem, sem);
  i.set(isa::header::wait_cnt, n - 1);
}
void signal(isa::Instruction& i, uint32_t sem) {
  i.set(isa::header::sig_en, 1);
  i.set(isa::header::sig_sem, sem);
}

/// One program for all layers: per output tile, K-tiles double-buffered through two A/B buffers,
/// then requant and store; a barrier on the VPU before the accumulator is reused.
isa::Program build(const config::NpuConfig& c, const std::vector<Gemm>& layers, uint64_t& macs) {
  isa::Program p;
  const uint32_t line = c.spad.line_bytes;
  p.target.line_bytes = line;
  p.target.mxu_rows = static_cast<uint16_t>(c.mxu.rows);
  p.target.mxu_cols = static_cast<uint16_t>(c.mxu.cols);
  // Tiles: TN = 4 array widths, TM and TK as large as the SRAMs allow (two buffers of A and B).
  const uint32_t tn = std::min<uint32_t>(4 * c.mxu.cols, 1024);
  uint32_t tm = 1024, tk = 1024;
  auto lines = [&](uint64_t rows, uint64_t cols, unsigned es) { return rows * ((cols * es + line - 1) / line); };
  while (lines(tm, tn, 4) * line > c.acc.size_bytes) tm /= 2;
  while (2 * (lines(tm, tk, 1) + lines(tk, tn, 1)) * line + lines(tm, tn, 1) * line > c.spad.size_bytes) tk /= 2;
  const uint32_t buf_a[2] = {0, static_cast<uint32_t>(lines(tm, tk, 1))};
  const uint32_t buf_b[2] = {static_cast<uint32_t>(2 * lines(tm, tk, 1)),
                             static_cast<uint32_t>(2 * lines(tm, tk, 1) + lines(tk, tn, 1))};
  const uint32_t out_line = static_cast<uint32_t>(2 * (lines(tm, tk, 1) + lines(tk, tn, 1)));
  enum { kFree, kFull, kAccDone, kOut };
  p.sems = {{"free", isa::Engine::Load, 2},
            {"full", isa::Engine::Mxu, 0},
            {"acc_done", isa::Engine::Vpu, 0},
            {"out", isa::Engine::Store, 0}};
  isa::Param q;
  q.name = "q";
  q.bytes[0] = isa::params::requant::kKind;
  const int32_t mult = 1 << 30, shift = 8, lo = -128, hi = 127;
  std::memcpy(&q.bytes[isa::params::requant::multiplier], &mult, 4);
  std::memcpy(&q.bytes[isa::params::requant::shift], &shift, 4);
  std::memcpy(&q.bytes[isa::params::requant::min], &lo, 4);
  std::memcpy(&q.bytes[isa::params::requant::max], &hi, 4);
  p.params.push_back(q);
  // Three regions shared by all layers (their contents do not matter for speed).
  uint64_t max_a = 0, max_b = 0, max_c = 0;
  for (const Gemm& g : layers) {
    max_a = std::max<uint64_t>(max_a, uint64_t{g.m} * g.k);
    max_b = std::max<uint64_t>(max_b, uint64_t{g.k} * g.n);
    max_c = std::max<uint64_t>(max_c, uint64_t{g.m} * g.n);
  }
  p.regions.push_back({"a", isa::RegionRole::Scratch, max_a, 64, {}});
  p.regions.push_back({"b", isa::RegionRole::Const, max_b, 64, {}});
  p.regions.push_back({"c", isa::RegionRole::Scratch, max_c, 64, {}});
  const uint8_t region = 0;
  // One descriptor per (region, box, row stride); the element offset travels in each instruction.
  std::map<std::tuple<uint8_t, uint32_t, uint32_t, uint32_t>, uint32_t> desc_ids;
  auto desc = [&](uint8_t reg, uint32_t cols, uint32_t rows, uint32_t stride) {
    const auto key = std::make_tuple(reg, cols, rows, stride);
    auto it = desc_ids.find(key);
    if (it != desc_ids.end()) return it->second;
    const auto id = static_cast<uint32_t>(p.descs.size());
    p.descs.push_back(
        {"d" + std::to_string(id), reg, isa::TensorType::I8, 2, 0, 0, {cols, rows, 0, 0}, {stride, 0, 0}});
    desc_ids.emplace(key, id);
    return id;
  };
  int buf = 0;
  macs = 0;
  for (size_t li = 0; li < layers.size(); ++li) {
    const Gemm g = layers[li];
    macs += uint64_t{g.m} * g.n * g.k;
    const std::string L = "l" + std::to_string(li);
    p.markers.push_back(L);
    auto mark = make(isa::Opcode::Mark);
    mark.set(f::mark::marker, static_cast<uint32_t>(li));
    p.text.push_back(mark);
    for (uint32_t m0 = 0; m0 < g.m; m0 += tm)
      for (uint32_t n0 = 0; n0 < g.n; n0 += tn) {
        const uint32_t mm = std::min(tm, g.m - m0), nn = std::min(tn, g.n - n0);
        for (uint32_t k0 = 0; k0 < g.k; k0 += tk) {
          const uint32_t kk = std::min(tk, g.k - k0);
          // Descriptors for this tile's A (mm x kk of an m x k matrix) and B (kk x nn of k x n).
          auto la = make(isa::Opcode::Load);
          la.set(f::load::dst, buf_a[buf]);
          la.set(f::load::desc, desc(region, kk, mm, g.k));
          la.set(f::load::off, m0 * g.k + k0);
          wait_on(la, kFree);
          auto lb = make(isa::Opcode::Load);
          lb.set(f::load::dst, buf_b[buf]);
          lb.set(f::load::desc, desc(region + 1, nn, kk, g.n));
          lb.set(f::load::off, k0 * g.n + n0);
          signal(lb, kFull);
          auto mm_i = make(isa::Opcode::Matmul);
          mm_i.set(f::matmul::a, buf_a[buf]);
          mm_i.set(f::matmul::b, buf_b[buf]);
          mm_i.set(f::matmul::c, 0);
          mm_i.set(f::matmul::m, mm);
          mm_i.set(f::matmul::n, nn);
          mm_i.set(f::matmul::k, kk);
          mm_i.set(f::matmul::accumulate, k0 > 0);
          wait_on(mm_i, kFull);
          signal(mm_i, k0 + tk >= g.k ? kAccDone : kFree);
          p.text.push_back(la);
          p.text.push_back(lb);
          p.text.push_back(mm_i);
          buf ^= 1;
        }
        auto rq = make(isa::Opcode::Requant);
        rq.set(f::requant::dst, out_line);
        rq.set(f::requant::src, 0);
        rq.set(f::requant::rows, mm);
        rq.set(f::requant::cols, nn);
        rq.set(f::requant::q, 0);
        wait_on(rq, kAccDone);
        signal(rq, kOut);
        auto st = make(isa::Opcode::Store);
        st.set(f::store::src, out_line);
        st.set(f::store::desc, desc(region + 2, nn, mm, g.n));
        st.set(f::store::off, m0 * g.n + n0);
        wait_on(st, kOut);
        p.text.push_back(rq);
        p.text.push_back(st);
        // The last matmul signalled acc_done instead of free: return that buffer's credit, and
        // keep the accumulator until the requant has read it (one wait per instruction).
        auto credit = make(isa::Opcode::SemSet);
        auto bar = make(isa::Opcode::Barrier);
        bar.set(f::barrier::engines,
                (1u << static_cast<int>(isa::Engine::Vpu)) | (1u << static_cast<int>(isa::Engine::Store)) |
                    (1u << static_cast<int>(isa::Engine::Load)) | (1u << static_cast<int>(isa::Engine::Mxu)));
        p.text.push_back(bar);
        credit.set(f::sem_set::sem, kFree);
        credit.set(f::sem_set::value, 2);
        p.text.push_back(credit);
        buf = 0;
      }
    auto end = make(isa::Opcode::Mark);
    end.set(f::mark::edge, f::mark::edge_end);
    end.set(f::mark::marker, static_cast<uint32_t>(li));
    p.text.push_back(end);
  }
  p.text.push_back(make(isa::Opcode::Finish));
  isa::validate_program(p);
  std::printf("  tiles: TM=%u TN=%u TK=%u; %zu instructions, %zu descriptors\n", tm, tn, tk, p.text.size(),
              p.descs.size());
  return p;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Plain Eigen int32 GEMMs of the same shapes (the functional path's reference cost).
double eigen_baseline(const std::vector<Gemm>& layers) {
  const auto t0 = std::chrono::steady_clock::now();
  int64_t sink = 0;
  for (const Gemm& g : layers) {
    Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> a =
        Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic>::Constant(g.m, g.k, 3);
    Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> b =
        Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic>::Constant(g.k, g.n, -2);
    Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic> c = a * b;
    sink += c(0, 0);
  }
  if (sink == 42) std::puts("");
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> configs;
  bool only_timing = false;  // --timing-only: skip the functional runs (for profiling)
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--timing-only")
      only_timing = true;
    else
      configs.push_back(argv[i]);
  }
  if (configs.empty())
    configs = {std::string(NPUSIM_CONFIGS) + "/edge.yaml", std::string(NPUSIM_CONFIGS) + "/tpu_v1.yaml"};
  const auto layers = resnet50();
  const double eigen_s = only_timing ? 0 : eigen_baseline(layers);
  for (const auto& path : configs) {
    const config::NpuConfig c = config::load_npu_config(path);
    uint64_t macs = 0;
    std::printf("%s (%ux%u @ %.0f MHz), ResNet-50 as %zu GEMM layers:\n", c.name.c_str(), c.mxu.rows, c.mxu.cols,
                c.clock_hz / 1e6, layers.size());
    const isa::Program p = build(c, layers, macs);
    for (bool timing_only : {true, false}) {
      if (only_timing && !timing_only) continue;
      const std::string out = testing::in_child([&] {
        RunOptions o;
        o.timing_only = timing_only;
        const auto t0 = std::chrono::steady_clock::now();
        const RunResult r = simulate(c, p, {}, o);
        const double wall = seconds_since(t0);
        char b[512];
        std::snprintf(b, sizeof b,
                      "  %-11s %s: %llu cycles (%.3f ms simulated), MXU util %.1f%%, wall %.3f s, %.3g sim cycles/s, "
                      "%.3g instr/s\n",
                      timing_only ? "timing-only" : "functional", r.ok ? "ok" : r.fault_message.c_str(),
                      static_cast<unsigned long long>(r.total_cycles), r.seconds * 1e3, 100 * r.mxu_utilization, wall,
                      r.total_cycles / wall, p.text.size() / wall);
        return std::string(b) + "#" + std::to_string(wall);
      });
      const auto hash = out.rfind('#');
      std::fputs(out.substr(0, hash).c_str(), stdout);
      if (!timing_only && hash != std::string::npos) {
        const double wall = std::stod(out.substr(hash + 1));
        std::printf("  functional vs plain Eigen int32 GEMM of the same %.3g MACs (%.3f s): %.2fx\n",
                    static_cast<double>(macs), eigen_s, wall / eigen_s);
      }
    }
  }
  return 0;
}
