// Layer-level workloads: SCALE-Sim topology files (conv layers or GEMMs) and `.cfg` files, run
// layer by layer on the configured systolic array without a command stream (docs/topology.md).
//
// Each layer is the GEMM SCALE-Sim makes of it (im2col: M = output pixels, K = filter window x
// channels, N = filters). Compute cycles come from the configuration's MXU timing model (for
// `mxu: {impl: analytical}` SCALE-Sim v2's closed form, so they equal SCALE-Sim's stall-free
// cycles exactly); SRAM reads and writes are counted as SCALE-Sim's demand matrices count them;
// DRAM traffic and stalls come from npusim's own layer-level buffering model (below), and energy
// from the configuration's power model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/npu_config.h"

namespace npusim::topology {

/// One row of a topology file.
struct Layer {
  std::string name;         ///< layer name (first column)
  uint64_t ifmap_h = 0;     ///< input height (GEMM form: M)
  uint64_t ifmap_w = 0;     ///< input width (GEMM form: K)
  uint64_t filter_h = 0;    ///< filter height (GEMM form: 1)
  uint64_t filter_w = 0;    ///< filter width (GEMM form: K)
  uint64_t channels = 0;    ///< input channels (GEMM form: 1)
  uint64_t filters = 0;     ///< output channels (GEMM form: N)
  uint64_t stride_h = 1;    ///< vertical stride
  uint64_t stride_w = 1;    ///< horizontal stride
  bool gemm = false;        ///< read from the M,N,K form
  uint32_t sparsity_n = 1;  ///< N of the layer's N:M Sparsity column (SCALE-Sim v3): N nonzero weights
  uint32_t sparsity_m = 1;  ///< in every block of M along K; 1:1 is dense
  int line = 0;             ///< line in the file (messages)
};

/// The GEMM view of a layer (SCALE-Sim's im2col): C[M x N] = A[M x K] x B[K x N].
struct Gemm {
  uint64_t m = 0, n = 0, k = 0;       ///< output pixels, filters, window size
  uint64_t ofmap_h = 0, ofmap_w = 0;  ///< ceil((in - filter + stride) / stride), as SCALE-Sim
};
Gemm gemm_of(const Layer& l);

enum class Format { Auto, Conv, Gemm };

/// Reads a topology CSV: the conv form ("Layer name, IFMAP Height, IFMAP Width, Filter Height,
/// Filter Width, Channels, Num Filter, Strides[, Stride width | Sparsity]") or the GEMM form
/// ("Layer, M, N, K[, Sparsity]"), told apart by the header unless `fmt` says. SCALE-Sim's rules
/// (docs/topology.md): text after a row's last comma is a comment, columns past the ones the form
/// reads are ignored, rows without values are headings, a conv layer whose name contains "DP" is
/// depthwise and becomes one single-channel layer per channel. What is ignored is said once in
/// `notes` when given. Throws isa::InputError naming file:line and the column.
std::vector<Layer> load_topology(const std::string& path, Format fmt = Format::Auto,
                                 std::vector<std::string>* notes = nullptr);

/// The memory a layer-level run sees: SCALE-Sim's three SRAMs and its DRAM interface.
struct LayerMemory {
  uint64_t ifmap_sram_bytes = 0;            ///< input operand buffer
  uint64_t filter_sram_bytes = 0;           ///< weight buffer
  uint64_t ofmap_sram_bytes = 0;            ///< output / partial-sum buffer
  double dram_bytes_per_cycle = 0;          ///< DRAM bandwidth at the array clock
  bool ideal = false;                       ///< no stalls (SCALE-Sim's InterfaceBandwidth: CALC)
  uint32_t word_bytes = 1;                  ///< bytes per ifmap/filter/ofmap element (int8)
  uint32_t psum_bytes = 4;                  ///< bytes per partial sum (int32)
  bool sparsity_support = false;            ///< SCALE-Sim v3 [sparsity] SparsitySupport: weights compressed
  bool sparsity_optimized_mapping = false;  ///< v3 OptimizedMapping: row-wise blocks of sparsity_block_size
  uint32_t sparsity_block_size = 4;         ///< v3 BlockSize (M of the row-wise N:M)
};

/// The rows of a layer's filter matrix as SCALE-Sim v3 maps it onto the array (operand_matrix.py):
/// K without sparsity; layer-wise N:M keeps N of every M rows, floor(K/M) x N + min(N, K mod M);
/// the optimized mapping packs two blocks of B rows into B, ceil(K / 2B) x B.
uint64_t mapped_filter_rows(const Layer& l, const LayerMemory& mem, uint64_t k);

/// From an npusim configuration: the scratchpad split evenly between inputs and weights, the
/// accumulator for outputs, the DRAM's peak bandwidth.
LayerMemory memory_of(const config::NpuConfig& cfg);

/// Reads a SCALE-Sim v2 or v3 `.cfg` into an npusim configuration (1 GHz, the array, the SRAM
/// sizes; DRAM at Bandwidth words per cycle when InterfaceBandwidth is USER) and its layer memory
/// (ideal when CALC). Every section and key SCALE-Sim v2 and v3 define is accepted ([general],
/// [architecture_presets], [layout], [sparsity], [run_presets], [network_presets]) and its value
/// checked as SCALE-Sim reads it; a key that changes nothing npusim computes adds a line to `notes`
/// saying what it does in SCALE-Sim and why it does not apply. An unknown section or key, a
/// duplicate, or a value SCALE-Sim would not read is an error naming file:line (with the closest
/// known name).
config::NpuConfig load_scalesim_cfg(const std::string& path, LayerMemory& mem, std::string* run_name = nullptr,
                                    std::vector<std::string>* notes = nullptr);

/// One layer's results, in SCALE-Sim's report terms plus time and energy.
struct LayerResult {
  std::string name;                ///< layer name
  Gemm gemm;                       ///< its GEMM view
  uint64_t macs = 0;               ///< M x N x K
  uint64_t folds = 0;              ///< array passes
  uint64_t compute_cycles = 0;     ///< the MXU model's cycles (stall-free)
  uint64_t stall_cycles = 0;       ///< waiting for DRAM
  uint64_t total_cycles = 0;       ///< compute + stall
  double overall_util = 0;         ///< MACs / (total cycles x R x C)
  double mapping_efficiency = 0;   ///< used PEs / (R x C), averaged over folds
  double compute_util = 0;         ///< SCALE-Sim's per-fold compute utilization, averaged
  uint64_t ifmap_sram_reads = 0;   ///< words
  uint64_t filter_sram_reads = 0;  ///< words
  uint64_t ofmap_sram_writes = 0;  ///< words
  uint64_t ifmap_dram_reads = 0;   ///< words
  uint64_t filter_dram_reads = 0;  ///< words
  uint64_t ofmap_dram_writes = 0;  ///< words (final outputs)
  uint64_t psum_dram_bytes = 0;    ///< partial sums spilled and read back
  uint64_t dram_bytes = 0;         ///< all DRAM traffic
  double seconds = 0;              ///< total cycles at the clock
  double energy_j = 0;             ///< dynamic + leakage at the first operating point
};

/// Runs every layer. Throws isa::InputError for a layer the array cannot take.
std::vector<LayerResult> run_layers(const config::NpuConfig& cfg, const LayerMemory& mem,
                                    const std::vector<Layer>& layers);

/// SCALE-Sim-style reports (same column names where the quantity is the same).
std::string compute_report_csv(const std::vector<LayerResult>& r);
std::string bandwidth_report_csv(const std::vector<LayerResult>& r);
std::string access_report_csv(const std::vector<LayerResult>& r);
/// Everything as JSON text (stats::json_text of a tree), with totals.
std::string topology_json(const config::NpuConfig& cfg, const LayerMemory& mem, const std::vector<LayerResult>& r);

}  // namespace npusim::topology
