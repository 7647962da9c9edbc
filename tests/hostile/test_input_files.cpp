// Hostile inputs: a FIFO, a directory, a missing or oversized file where npusim expects a file.
// Each is refused at once with the path and what it is (a FIFO would block the reader forever).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/input_file.h"
#include "compiler/graph.h"
#include "isa/assembler.h"
#include "isa/npub.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/workload/npy.h"

namespace npusim {
namespace {

/// A fresh FIFO, directory and socket under the test's temp dir.
struct SpecialFiles {
  std::string fifo = ::testing::TempDir() + "hostile.fifo";
  std::string dir = ::testing::TempDir() + "hostile.dir";
  std::string sock = ::testing::TempDir() + "hostile.sock";
  int sock_fd = -1;
  SpecialFiles() {
    ::unlink(fifo.c_str());
    ::mkfifo(fifo.c_str(), 0600);
    ::mkdir(dir.c_str(), 0700);
    ::unlink(sock.c_str());
    sock_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
    ::bind(sock_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~SpecialFiles() {
    ::close(sock_fd);
    ::unlink(fifo.c_str());
    ::unlink(sock.c_str());
    ::rmdir(dir.c_str());
  }
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(accepted)";
}

void expect_refused(const std::string& msg, const std::string& path, const char* kind) {
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(kind), std::string::npos) << msg;
}

TEST(HostileInput, SpecialFilesAreRefusedByEveryReader_bad) {
  const SpecialFiles f;
  for (const auto& [path, kind] : std::vector<std::pair<std::string, const char*>>{
           {f.fifo, "a FIFO"}, {f.dir, "a directory"}, {f.sock, "a socket"}, {"/dev/null", "a character device"}}) {
    expect_refused(error_of([&] { config::load_npu_config(path); }), path, kind);
    expect_refused(error_of([&] { isa::load_npub_file(path); }), path, kind);
    expect_refused(error_of([&] { isa::assemble_file(path, {}); }), path, kind);
    expect_refused(error_of([&] { compiler::import_onnx(path); }), path, kind);
    expect_refused(error_of([&] { read_input_file(path, "input"); }), path, kind);
  }
  expect_refused(error_of([&] { config::load_npu_config(f.dir + "/missing.yaml"); }), "missing.yaml", "No such file");
}

TEST(HostileInput, ConfigErrorsAreInputErrors_bad) {
  const SpecialFiles f;
  // The CLI maps InputError to exit 2: a config that cannot be read is the user's mistake.
  EXPECT_THROW(config::load_npu_config(f.dir), InputError);
}

TEST(HostileInput, OversizedFilesAreRefusedBeforeReading_bad) {
  const std::string path = ::testing::TempDir() + "big.bin";
  std::ofstream(path) << std::string(4096, 'x');
  expect_refused(error_of([&] { read_input_file(path, "table", 1024); }), path, "4096 bytes, more than the 1024");
  EXPECT_EQ(read_input_file(path, "table", 4096).size(), 4096u);
}

TEST(HostileInput, DataFilesAreBoundedByTheirRegionBeforeTheyAreRead_bad) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "blob.bin") << std::string(100000, 'x');
  const std::string src = ".npus 1\n.target mxu=16x16 line=64\n.region r role=const size=64\n.data r file=\"" + dir +
                          "blob.bin\"\n        finish\n";
  std::ofstream(dir + "data.npus") << src;
  isa::AssembleOptions o;
  o.allow_files = true;
  const std::string msg = error_of([&] { isa::assemble_file(dir + "data.npus", o); });
  EXPECT_NE(msg.find("100000 bytes, more than the 64 bytes accepted"), std::string::npos) << msg;
}

TEST(HostileInput, ASecondYamlDocumentIsAnError_bad) {
  const std::string msg =
      error_of([] { config::load_npu_config_text("name: a\ndram: {bandwidth: 1GB/s}\n---\nname: b\n", "two.yaml"); });
  EXPECT_NE(msg.find("two.yaml:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("one YAML document"), std::string::npos) << msg;
}

// yaml-cpp's LoadAll never returns on a ',' where no block is open (a document's start, or a line
// dedented below its first) (fuzz_config found it in a
// config whose comment line lost its '#'): refused at once, naming the line.
TEST(HostileInput, ADocumentBeginningWithACommaIsRefusedNotHung_bad) {
  for (const auto& [yaml, where] : std::vector<std::pair<std::string, std::string>>{
           {"# a comment\n, two DDR4-2133 channels\nname: x\n", "c.yaml:2:1"},
           {"name: x\n---\n  , y\n", "c.yaml:3:3"},
           {"--- , z\n", "c.yaml:1:5"},
           {"  dtypes: [i8]\n,scratchpad:\n", "c.yaml:2:1"}}) {
    const std::string msg = error_of([&] { config::load_npu_config_text(yaml, "c.yaml"); });
    EXPECT_NE(msg.find(where + ": error: invalid YAML: ',' where no mapping or list is open"), std::string::npos)
        << msg;
  }
  // Whatever else makes LoadAll loop (here a stray '%' line, then ','): at most two documents are
  // parsed, so it is an error at once.
  const std::string msg = error_of([] { config::load_npu_config_text("name: x\n%\n , y\n", "p.yaml"); });
  EXPECT_NE(msg.find("p.yaml:3: error: a config is one YAML document"), std::string::npos) << msg;
  // A flow collection continued on a line that begins with ',' is still valid YAML.
  EXPECT_NO_THROW(config::load_npu_config_text("name: x\ndram: {bandwidth: 1GB/s\n , latency: 10ns}\n", "ok.yaml"));
}

// Values that would overflow the model's integer femtoseconds, or divide by zero, are refused when
// the config is read, naming the key and its range (a 1e6 s tRCD gave fewer cycles than 18 ns; a
// 1e16 Hz clock killed the server with SIGFPE).
TEST(HostileInput, ConfigValuesThatWouldOverflowTimeAreRefused_bad) {
  const std::string base = "name: t\n";
  for (const auto& [yaml, fragments] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"clock: 1e16Hz\ndram: {bandwidth: 1GB/s}\n", {"t.yaml:2", "clock", "out of range [1MHz, 100GHz]"}},
           {"clock: 1Hz\ndram: {bandwidth: 1GB/s}\n", {"clock", "out of range"}},
           {"dram: {impl: banked, tRCD: 1000000s}\n", {"dram.tRCD", "out of range [0ns, 1ms]"}},
           {"dram: {bandwidth: 1GB/s, latency: 1e6s}\n", {"dram.latency", "out of range"}},
           {"dram: {bandwidth: 1e30B/s}\n", {"dram.bandwidth", "out of range"}},
           {"dram: {bandwidth: 1GB/s}\nthermal: {step: 0s}\n", {"thermal.step", "out of range"}},
           {"dram: {bandwidth: 1GB/s}\ndvfs: {operating_points: [[1e12, 0.8]]}\n",
            {"operating_points", "out of range"}},
       }) {
    const std::string msg = error_of([&] { config::load_npu_config_text(base + yaml, "t.yaml"); });
    for (const auto& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << yaml << " -> " << msg << "\nmissing " << f;
  }
}

// A few bytes of program can declare gigabytes of regions: a functional run refuses before it
// allocates (it took 3.2 GB for a 361-byte .npub); a timing-only run allocates no data.
TEST(HostileInput, HugeRegionsAreRefusedBeforeAllocation_bad) {
  const std::string src = ".npus 1\n.target mxu=16x16 line=64\n.region big role=scratch size=3GiB\n        finish\n";
  const isa::Program prog = isa::assemble(src, "huge.npus", {}).program;
  const config::NpuConfig cfg = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  RunOptions o;
  const std::string msg = error_of([&] { simulate(cfg, prog, {}, o); });
  EXPECT_NE(msg.find("largest region 'big' has 3221225472"), std::string::npos) << msg;
  o.timing_only = true;
  EXPECT_TRUE(simulate(cfg, prog, {}, o).ok);
}

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

/// A .npy file with header dict `dict` (padded as NumPy pads it) and `data_bytes` zero bytes.
std::string npy_file(const std::string& name, const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string f = std::string("\x93NUMPY\x01\x00", 8);
  f += static_cast<char>(header.size() & 0xff);
  f += static_cast<char>(header.size() >> 8);
  f += header + std::string(data_bytes, '\0');
  return write_file(name, f);
}

// .npy headers are read as NumPy writes them and nothing else: a shape of words or floats, a
// fortran_order of True (with "False" further on), a repeated or missing key are errors naming the
// file (a shape "(abc, 256)" was an internal error; "(64.0, 256)" and the misleading "False" were
// accepted).
TEST(HostileInput, NpyHeadersAreParsedStrictly_bad) {
  const auto good = npy_file("good.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
  const NpyArray a = read_npy(good);
  EXPECT_EQ(a.shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(read_npy(npy_file("scalar.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (), }", 4)).shape.size(),
            0u);
  EXPECT_EQ(read_npy(npy_file("one.npy", "{'descr': '|i1', 'fortran_order': False, 'shape': (5,), }", 5)).shape,
            (std::vector<uint64_t>{5}));
  for (const auto& [dict, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (abc, 256), }", "non-negative integers, got 'abc'"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (64.0, 256), }", "non-negative integers, got '64.0'"},
           {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), 'x': 'False'}", "Fortran order"},
           {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", "repeated key 'descr'"},
           {"{'descr': '<f4', 'shape': (2, 3), }", "lacks one of"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }",
            "overflows"},
           {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", "need 24"}}) {
    const std::string path = npy_file("bad.npy", dict, 8);
    const std::string msg = error_of([&] { read_npy(path); });
    EXPECT_NE(msg.find(path + ": not a valid .npy file"), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << dict << " -> " << msg;
  }
}

// A descriptor box of 200M stride-0 rows took 1.6 GB before its SRAM_BOUNDS fault, and one of
// 2^64 rows an "internal error ... vector::reserve": the SRAM side, which bounds the rows, is now
// checked before the DRAM walk.
TEST(HostileInput, HugeDescriptorBoxesFaultWithoutAllocating_bad) {
  const config::NpuConfig cfg = config::load_npu_config(std::string(NPUSIM_CONFIGS) + "/edge.yaml");
  for (const char* box : {"box=[64, 200000000] stride=[0]", "box=[64, 4294967295, 4294967295]"}) {
    const std::string src = std::string(".npus 1\n.target mxu=16x16 line=64\n.region a role=input size=64\n") +
                            ".desc A region=a dtype=i8 " + box + "\n.io A region=a dtype=i8 shape=[64]\n" +
                            "        load    s[0x000], A\n        finish\n";
    const isa::Program prog = isa::assemble(src, "box.npus", {}).program;
    const RunResult r = simulate(cfg, prog, {{"A", std::vector<uint8_t>(64, 1)}}, RunOptions{});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.fault_code, arch::FaultCode::SramBounds) << r.fault_message;
    EXPECT_NE(r.fault_message.find("exceed the scratchpad"), std::string::npos) << r.fault_message;
  }
}

}  // namespace
}  // namespace npusim
