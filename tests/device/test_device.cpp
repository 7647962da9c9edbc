// The device a driver sees, through the C API (include/npusim/npu.h) and raw MMIO: every
// register's reset value and access type (against arch/regs.yaml, read independently here), ring
// wrap-around with phase bits, several queues, each fault class with its documented error and a
// reset that recovers, and the same job giving the cycles and outputs of a direct simulation.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include "isa/assembler.h"
#include "isa/npub.h"
#include "npusim/npu.h"
#include "npusim/wire.h"
#include "sim/npu_config.h"
#include "sim/simulator.h"
#include "tools/device/server.h"
#include "tools/device/wire_io.h"

namespace {

const std::string kConfig = std::string(NPUSIM_CONFIGS) + "/edge.yaml";

/// A device with the MLP trace loaded and its regions bound, ready to submit.
struct Fixture {
  npu_device* dev = nullptr;
  npu_job job{};
  std::vector<uint8_t> npub;
  npu_region_info regions[16];
  uint64_t region_addr[16] = {};  ///< device address of each bound region (0: the container's data)
  uint64_t program_addr = 0;      ///< device address of the program's buffer
  uint32_t count = 16;
  explicit Fixture(const std::string& trace = "mlp_i8", const std::string& uri = "sim:" + kConfig) {
    EXPECT_EQ(npu_open(uri.c_str(), &dev), NPU_OK);
    npub =
        npusim::isa::write_npub(npusim::isa::assemble_file(std::string(NPUSIM_TRACES) + "/" + trace + ".npus").program);
    EXPECT_EQ(npu_program_regions(npub.data(), npub.size(), regions, &count), NPU_OK);
    job.struct_size = sizeof job;
    job.flags = NPU_JOB_FLAG_IRQ_ON_DONE;
    uint64_t addr;
    EXPECT_EQ(npu_bo_create(dev, npub.size(), &job.program_bo, &program_addr), NPU_OK);
    std::memcpy(npu_bo_map(dev, job.program_bo), npub.data(), npub.size());
    job.program_bytes = npub.size();
    job.region_count = count;
    for (uint32_t i = 0; i < count; ++i) {
      if (regions[i].role == NPU_REGION_CONST) continue;
      EXPECT_EQ(npu_bo_create(dev, regions[i].size, &job.region_bo[i], &addr), NPU_OK);
      region_addr[i] = addr;
      auto* p = static_cast<uint8_t*>(npu_bo_map(dev, job.region_bo[i]));
      for (uint64_t k = 0; k < regions[i].size; ++k) p[k] = static_cast<uint8_t>(k * 13 + 1);
    }
  }
  ~Fixture() { npu_close(dev); }
  uint32_t reg(uint32_t off) {
    uint32_t v = 0;
    EXPECT_EQ(npu_mmio_read(dev, off, &v), NPU_OK);
    return v;
  }
  int run(npu_result& r, uint32_t queue = 0) {
    uint64_t s;
    EXPECT_EQ(npu_submit(dev, queue, &job, &s), NPU_OK);
    return npu_wait(dev, s, npu_time_ns(dev) + 1000000000ull, &r);
  }
  std::vector<uint8_t> output() {
    for (uint32_t i = 0; i < count; ++i)
      if (regions[i].role == NPU_REGION_OUTPUT) {
        auto* p = static_cast<uint8_t*>(npu_bo_map(dev, job.region_bo[i]));
        return std::vector<uint8_t>(p, p + regions[i].size);
      }
    return {};
  }
};

TEST(Device, EveryRegisterHasItsResetValueAndAccess) {
  // arch/regs.yaml read here independently of the generated header.
  const YAML::Node root = YAML::LoadFile(std::string(NPUSIM_SOURCE) + "/arch/regs.yaml");
  npu_device* dev = nullptr;
  ASSERT_EQ(npu_open(("sim:" + kConfig).c_str(), &dev), NPU_OK);
  // npu_open programmed the rings and CTRL/INT_ENABLE: a hard reset shows the true reset values.
  ASSERT_EQ(npu_mmio_write(dev, NPU_REG_RESET, NPU_RESET_HARD_MASK), NPU_OK);
  ASSERT_EQ(npu_mmio_write(dev, NPU_REG_INT_STATUS, 0xFFFFFFFF), NPU_OK);  // RESET_DONE
  int checked = 0;
  for (const auto& r : root["registers"]) {
    const auto name = r["name"].as<std::string>();
    const uint32_t count = r["count"] ? r["count"].as<uint32_t>() : 1,
                   stride = r["stride"] ? r["stride"].as<uint32_t>() : 4;
    const std::string access = r["access"].as<std::string>();
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t off = r["offset"].as<uint32_t>() + i * stride;
      uint32_t v = 0;
      ASSERT_EQ(npu_mmio_read(dev, off, &v), NPU_OK);
      if (r["reset"].as<std::string>() != "config" && access != "WO" && name != "SCRATCH") {
        EXPECT_EQ(v, r["reset"].as<uint32_t>()) << name << " reset";
      }
      if (access == "WO") {
        EXPECT_EQ(v, 0u) << name << " reads as 0";
      }
      if (access == "RO" && name.rfind("CYCLE", 0) != 0) {
        npu_mmio_write(dev, off, ~v);
        uint32_t after = 0;
        npu_mmio_read(dev, off, &after);
        EXPECT_EQ(after, v) << name << " is read-only";
      }
      if (access == "RW" && name != "CTRL" && name != "PMCR" && name != "FI_CTRL" && name != "INT_ENABLE") {
        npu_mmio_write(dev, off, 0x5A5A0000u | i);
        uint32_t after = 0;
        npu_mmio_read(dev, off, &after);
        EXPECT_EQ(after, name == "SCRATCH" ? ~(0x5A5A0000u | i) : 0x5A5A0000u | i) << name << " read/write";
        npu_mmio_write(dev, off, 0);
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
  // W1C: INT_SET raises, a written 1 clears; the level interrupt follows INT_STATUS & INT_ENABLE.
  npu_mmio_write(dev, NPU_REG_INT_ENABLE, NPU_INT_STATUS_USER_MASK);
  npu_mmio_write(dev, NPU_REG_INT_SET, NPU_INT_STATUS_USER_MASK | NPU_INT_STATUS_ERROR_MASK);
  uint32_t st = 0;
  npu_mmio_read(dev, NPU_REG_INT_STATUS, &st);
  EXPECT_EQ(st, NPU_INT_STATUS_USER_MASK | NPU_INT_STATUS_ERROR_MASK);
  EXPECT_EQ(npu_irq_level(dev), 1);
  npu_mmio_write(dev, NPU_REG_INT_STATUS, NPU_INT_STATUS_USER_MASK);
  npu_mmio_read(dev, NPU_REG_INT_STATUS, &st);
  EXPECT_EQ(st, NPU_INT_STATUS_ERROR_MASK);
  EXPECT_EQ(npu_irq_level(dev), 0);  // ERROR is not enabled
  // Outside the window or unaligned: an error, not a crash.
  uint32_t v;
  EXPECT_EQ(npu_mmio_read(dev, NPU_MMIO_WINDOW_BYTES, &v), NPU_EINVAL);
  EXPECT_EQ(npu_mmio_write(dev, 2, 1), NPU_EINVAL);
  npu_close(dev);
}

TEST(Device, RingsWrapWithPhaseBits) {
  Fixture f;
  npu_result r;
  // 150 jobs through 64-entry rings: both wrap twice; every completion is found by its phase bit.
  for (int i = 0; i < 150; ++i) ASSERT_EQ(f.run(r), NPU_OK) << i << ": " << r.err_code;
  EXPECT_EQ(f.reg(NPU_Q_SQ_HEAD(0)), 150u % 64);
  EXPECT_EQ(f.reg(NPU_Q_CQ_TAIL(0)), 150u % 64);
  EXPECT_EQ(r.status, NPU_JOB_OK);
  // The cycle counter (reading LO latches HI) adds up the jobs.
  const uint64_t lo = f.reg(NPU_REG_CYCLE_LO), hi = f.reg(NPU_REG_CYCLE_HI);
  EXPECT_EQ(lo | (hi << 32), 150 * r.cycles);
}

TEST(Device, ManyJobsOnSeveralQueues) {
  Fixture f;
  npu_result r;
  ASSERT_EQ(f.run(r), NPU_OK);
  const std::vector<uint8_t> want = f.output();
  const uint64_t cycles = r.cycles;
  std::vector<uint64_t> seqnos;
  for (int i = 0; i < 40; ++i) {
    uint64_t s;
    ASSERT_EQ(npu_submit(f.dev, i % 4, &f.job, &s), NPU_OK);
    seqnos.push_back(s);
  }
  for (uint64_t s : seqnos) {
    ASSERT_EQ(npu_wait(f.dev, s, npu_time_ns(f.dev) + 1, &r), NPU_OK) << s;
    EXPECT_EQ(r.cycles, cycles) << s;  // every job the same program: the same cycles, whatever the queue
  }
  EXPECT_EQ(f.output(), want);
  for (uint32_t q = 0; q < 4; ++q) EXPECT_EQ(f.reg(NPU_Q_SQ_HEAD(q)), 1u * (q == 0 ? 11 : 10) % 64) << q;
}

TEST(Device, EachFaultClassReportsItsErrorAndAResetRecovers_bad) {
  Fixture f;
  npu_result r;
  ASSERT_EQ(f.run(r), NPU_OK);
  const uint64_t ok_cycles = r.cycles;
  const std::vector<uint8_t> want = f.output();
  // A bus error on the store to the output buffer: ERR_ADDR is the device address it wrote, the
  // output buffer's (the store's descriptor starts at offset 0).
  {
    ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_BUS_ERROR, 1, 10), NPU_OK);
    ASSERT_EQ(f.run(r), NPU_EIO);
    EXPECT_EQ(r.err_insn, 12u);
    uint64_t out_addr = 0;
    for (uint32_t i = 0; i < f.count; ++i)
      if (f.regions[i].role == NPU_REGION_OUTPUT) out_addr = f.region_addr[i];
    EXPECT_EQ((uint64_t{f.reg(NPU_REG_ERR_ADDR_HI)} << 32) | f.reg(NPU_REG_ERR_ADDR_LO), out_addr);
    ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
  }
  // Bus error and ECC: ERROR with the code and the instruction, first-error capture, ERROR interrupt.
  for (auto [type, code] : {std::pair{NPU_FI_BUS_ERROR, NPU_ERR_BUS_ERROR}, std::pair{NPU_FI_ECC, NPU_ERR_ECC}}) {
    // From instruction 3 on (a bus error lands on the bias load #3, from the container's constant
    // data) and, for the address, from 10 on (the store #12 to the bound output buffer).
    ASSERT_EQ(npu_fault_inject(f.dev, type, 1, 3), NPU_OK);
    uint64_t s;
    ASSERT_EQ(npu_submit(f.dev, 0, &f.job, &s), NPU_OK);
    EXPECT_NE(f.reg(NPU_REG_INT_STATUS) & NPU_INT_STATUS_ERROR_MASK, 0u);
    ASSERT_EQ(npu_wait(f.dev, s, npu_time_ns(f.dev) + 1, &r), NPU_EIO);
    EXPECT_EQ(r.status, NPU_JOB_ERROR);
    EXPECT_EQ(r.err_code, code);
    EXPECT_GE(r.err_insn, 3u);
    EXPECT_EQ(f.reg(NPU_REG_ERR_INFO0) & 0xFF, code);
    // The opcode of the failing instruction (a load or store for a bus error).
    const uint32_t opcode = (f.reg(NPU_REG_ERR_INFO0) & NPU_ERR_INFO0_OPCODE_MASK) >> NPU_ERR_INFO0_OPCODE_SHIFT;
    EXPECT_EQ(opcode, static_cast<uint32_t>(npusim::isa::read_npub(f.npub).text[r.err_insn].opcode()));
    if (type == NPU_FI_BUS_ERROR) {
      EXPECT_TRUE(opcode == 0x20 || opcode == 0x40) << opcode;  // load, store (isa.yaml)
      // ERR_ADDR: 0 for the container's own constant data (no buffer of the driver's to name).
      EXPECT_EQ(f.reg(NPU_REG_ERR_ADDR_LO) | f.reg(NPU_REG_ERR_ADDR_HI), 0u);
    }
    EXPECT_EQ(f.reg(NPU_REG_ERR_INSN), r.err_insn);
    EXPECT_EQ(f.reg(NPU_REG_ERR_SEQNO_LO), static_cast<uint32_t>(s));
    ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
    EXPECT_EQ(f.reg(NPU_REG_ERR_STATUS), 0u);
    ASSERT_EQ(f.run(r), NPU_OK);
    EXPECT_EQ(f.output(), want);
  }
  // A hung engine with the watchdog on: TIMEOUT with the WATCHDOG error.
  ASSERT_EQ(npu_mmio_write(f.dev, NPU_REG_WATCHDOG, 100000), NPU_OK);
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_HANG_ENGINE, 1, 2), NPU_OK);
  EXPECT_EQ(f.run(r), NPU_EIO);
  EXPECT_EQ(r.status, NPU_JOB_TIMEOUT);
  EXPECT_EQ(r.err_code, NPU_ERR_WATCHDOG);
  npu_mmio_write(f.dev, NPU_REG_WATCHDOG, 0);
  // ... and with it off: the job never completes; the wait times out, STATUS shows BUSY, a soft
  // reset aborts the job and the device works again.
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_HANG_ENGINE, 1, 2), NPU_OK);
  uint64_t hung;
  ASSERT_EQ(npu_submit(f.dev, 0, &f.job, &hung), NPU_OK);
  EXPECT_EQ(npu_wait(f.dev, hung, npu_time_ns(f.dev) + 5000000, &r), NPU_ETIMEDOUT);
  EXPECT_NE(f.reg(NPU_REG_STATUS) & NPU_STATUS_BUSY_MASK, 0u);
  ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
  EXPECT_EQ(npu_wait(f.dev, hung, 0, &r), NPU_EIO);
  EXPECT_EQ(r.status, NPU_JOB_ABORTED);
  ASSERT_EQ(f.run(r), NPU_OK);
  // Dropped interrupt: the job completes, JOB_DONE is not raised.
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_DROP_IRQ, 1, 0), NPU_OK);
  uint64_t s;
  ASSERT_EQ(npu_submit(f.dev, 0, &f.job, &s), NPU_OK);
  EXPECT_EQ(f.reg(NPU_REG_INT_STATUS) & NPU_INT_STATUS_JOB_DONE_MASK, 0u);
  EXPECT_EQ(npu_wait(f.dev, s, 0, &r), NPU_OK);
  // Spurious interrupt: JOB_DONE with no completion entry.
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_SPURIOUS_IRQ, 1, 0), NPU_OK);
  EXPECT_NE(f.reg(NPU_REG_INT_STATUS) & NPU_INT_STATUS_JOB_DONE_MASK, 0u);
  EXPECT_EQ(f.reg(NPU_Q_CQ_TAIL(0)), f.reg(NPU_Q_SQ_HEAD(0)));
  // Slow DRAM: the next job takes longer; the one after is back to normal.
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_SLOW_DRAM, 1, 8), NPU_OK);
  ASSERT_EQ(f.run(r), NPU_OK);
  EXPECT_GT(r.cycles, ok_cycles);
  ASSERT_EQ(f.run(r), NPU_OK);
  EXPECT_EQ(r.cycles, ok_cycles);
  // Stuck reset: the soft reset never completes; a hard reset does.
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_STUCK_RESET, 1, 0), NPU_OK);
  EXPECT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_ETIMEDOUT);
  EXPECT_NE(f.reg(NPU_REG_STATUS) & NPU_STATUS_RESET_PENDING_MASK, 0u);
  ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
  ASSERT_EQ(f.run(r), NPU_OK);
  EXPECT_EQ(f.output(), want);
  // Halt on error: the failing job halts its queue; the next stays queued until a soft reset
  // aborts it.
  npu_mmio_write(f.dev, NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK | NPU_CTRL_HALT_ON_ERROR_MASK);
  ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_BUS_ERROR, 1, 0), NPU_OK);
  uint64_t bad, next;
  ASSERT_EQ(npu_submit(f.dev, 0, &f.job, &bad), NPU_OK);
  ASSERT_EQ(npu_submit(f.dev, 0, &f.job, &next), NPU_OK);
  EXPECT_EQ(npu_wait(f.dev, bad, 0, &r), NPU_EIO);
  EXPECT_NE(f.reg(NPU_REG_STATUS) & NPU_STATUS_HALTED_MASK, 0u);
  EXPECT_EQ(npu_wait(f.dev, next, npu_time_ns(f.dev) + 1000, &r), NPU_ETIMEDOUT);
  ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
  EXPECT_EQ(npu_wait(f.dev, next, 0, &r), NPU_EIO);
  EXPECT_EQ(r.status, NPU_JOB_ABORTED);
}

/// edge.yaml with each (text, replacement) applied, written as TempDir()/name; returns its path.
std::string edge_variant(const std::string& name, std::initializer_list<std::pair<std::string, std::string>> edits) {
  std::ifstream in(kConfig);
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  for (const auto& [from, to] : edits) {
    const auto at = yaml.find(from);
    if (at == std::string::npos) throw std::logic_error("edge.yaml lacks '" + from + "'");
    yaml.replace(at, from.size(), to);
  }
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << yaml;
  return path;
}

TEST(Device, TemperatureAndThrottlingFollowTheJobs) {
  // edge.yaml in an 88 C enclosure with a 1 ms governor poll: the die starts above the 85 C trip,
  // so the first poll lowers the clock. TEMP_MC, THROTTLE_LEVEL and STATUS.THROTTLED follow, and
  // later jobs run at the lower clock: DRAM time is fixed in nanoseconds, so they take fewer
  // cycles. A reset does not cool the die.
  const std::string hot = edge_variant("edge_hot.yaml", {{"ambient: 35", "ambient: 88"}, {"poll: 100ms", "poll: 1ms"}});
  Fixture f("mlp_i8", "sim:" + hot);
  EXPECT_EQ(f.reg(NPU_REG_THROTTLE_LEVEL), 0u);
  EXPECT_EQ(f.reg(NPU_REG_STATUS) & NPU_STATUS_THROTTLED_MASK, 0u);
  EXPECT_NEAR(f.reg(NPU_REG_TEMP_MC), 88000u, 1);
  npu_result first, r;
  ASSERT_EQ(f.run(first), NPU_OK);
  for (int i = 0; i < 600; ++i) ASSERT_EQ(f.run(r), NPU_OK);  // 600 x 4.3 us: past two polls
  EXPECT_GT(f.reg(NPU_REG_THROTTLE_LEVEL), 0u);
  EXPECT_NE(f.reg(NPU_REG_STATUS) & NPU_STATUS_THROTTLED_MASK, 0u);
  EXPECT_GT(f.reg(NPU_REG_TEMP_MC), 88000u);
  EXPECT_LT(r.cycles, first.cycles);
  const uint32_t level = f.reg(NPU_REG_THROTTLE_LEVEL), temp = f.reg(NPU_REG_TEMP_MC);
  ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
  EXPECT_EQ(f.reg(NPU_REG_THROTTLE_LEVEL), level);
  EXPECT_EQ(f.reg(NPU_REG_TEMP_MC), temp);
}

TEST(Device, AboveTheCriticalTemperatureJobsAreRefused_bad) {
  // A 101 C enclosure is past edge's 100 C critical trip: every job completes at once with
  // THERMAL_CRITICAL (nothing runs), a soft reset does not cool the die, the device stays up.
  const std::string hot = edge_variant("edge_critical.yaml", {{"ambient: 35", "ambient: 101"}});
  Fixture f("mlp_i8", "sim:" + hot);
  npu_result r;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(f.run(r), NPU_EIO);
    EXPECT_EQ(r.status, NPU_JOB_ERROR);
    EXPECT_EQ(r.err_code, NPU_ERR_THERMAL_CRITICAL);
    EXPECT_EQ(r.cycles, 0u);
    EXPECT_EQ(f.reg(NPU_REG_ERR_INFO0) & 0xFF, NPU_ERR_THERMAL_CRITICAL);
    ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
  }
  EXPECT_GE(f.reg(NPU_REG_TEMP_MC), 100000u);
}

TEST(Device, AJobGivesTheCyclesAndOutputsOfADirectRun) {
  Fixture f("gemm_i8_db");
  npu_result r;
  ASSERT_EQ(f.run(r), NPU_OK);
  // The same program and input, simulated directly.
  const npusim::isa::Program p = npusim::isa::read_npub(f.npub);
  std::map<std::string, std::vector<uint8_t>> in;
  for (const auto& io : p.io)
    if (p.regions[io.region].role == npusim::isa::RegionRole::Input) {
      std::vector<uint8_t> bytes(p.regions[io.region].size);
      for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<uint8_t>(k * 13 + 1);
      in[io.name] = bytes;
    }
  const npusim::RunResult direct = npusim::simulate(npusim::config::load_npu_config(kConfig), p, in, {});
  ASSERT_TRUE(direct.ok);
  EXPECT_EQ(r.cycles, direct.total_cycles);
  EXPECT_EQ(f.output(), direct.outputs.begin()->second);
  npu_perf_counts perf;
  ASSERT_EQ(npu_perf(f.dev, 1, &perf), NPU_OK);
  EXPECT_EQ(perf.macs, direct.macs);
  EXPECT_EQ(perf.cycles, direct.total_cycles);
  EXPECT_GT(perf.energy_joules, 0);
}

TEST(Device, BadArgumentsAreErrors_bad) {
  Fixture f;
  npu_job j = f.job;
  uint64_t s;
  j.struct_size = 12;
  EXPECT_EQ(npu_submit(f.dev, 0, &j, &s), NPU_EINVAL);
  j = f.job;
  j.program_bo = 9999;
  EXPECT_EQ(npu_submit(f.dev, 0, &j, &s), NPU_EINVAL);
  EXPECT_EQ(npu_submit(f.dev, 7, &f.job, &s), NPU_EINVAL);
  EXPECT_EQ(npu_wait(f.dev, 12345, 0, nullptr), NPU_ENOENT);
  // npu_open failures say why (npu_last_error).
  npu_device* d = nullptr;
  EXPECT_EQ(npu_open("sim:/no/such.yaml", &d), NPU_ENOENT);
  EXPECT_STREQ(npu_last_error(), "/no/such.yaml: No such file or directory");
  const std::string bad_cfg = "/tmp/npusim-test-bad-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(bad_cfg) << "name: x\nclok: 1GHz\n";
  EXPECT_EQ(npu_open(("sim:" + bad_cfg).c_str(), &d), NPU_EINVAL);
  EXPECT_NE(std::string(npu_last_error()).find("clok"), std::string::npos) << npu_last_error();
  ::unlink(bad_cfg.c_str());
  EXPECT_EQ(npu_open("unix:/no/such.sock", &d), NPU_ENOENT);
  EXPECT_NE(std::string(npu_last_error()).find("/no/such.sock: No such file or directory (is `npusim serve"),
            std::string::npos)
      << npu_last_error();
  EXPECT_EQ(npu_open("tcp:x", &d), NPU_ENOENT);
  EXPECT_STREQ(npu_last_error(), "'tcp:x': expected sim:CONFIG.yaml or unix:SOCKET");
  // A corrupted program: the device fails the job with JOB_INVALID.
  static_cast<uint8_t*>(npu_bo_map(f.dev, f.job.program_bo))[0] ^= 0xFF;
  npu_result r;
  EXPECT_EQ(f.run(r), NPU_EIO);
  EXPECT_EQ(r.err_code, NPU_ERR_JOB_INVALID);
  // An unbound input region: BAD_BINDING.
  static_cast<uint8_t*>(npu_bo_map(f.dev, f.job.program_bo))[0] ^= 0xFF;
  j = f.job;
  for (uint32_t i = 0; i < f.count; ++i)
    if (f.regions[i].role == NPU_REGION_INPUT) j.region_bo[i] = 0;
  ASSERT_EQ(npu_submit(f.dev, 0, &j, &s), NPU_OK);
  EXPECT_EQ(npu_wait(f.dev, s, 0, &r), NPU_EIO);
  EXPECT_EQ(r.err_code, NPU_ERR_BAD_BINDING);
}

/// `npusim serve` in a child process for the duration of a test.
struct Server {
  std::string path;
  pid_t pid = -1;
  explicit Server(const std::string& name, const std::string& record = "",
                  const std::function<void(npusim::device::ServeOptions&)>& tweak = nullptr)
      : path("/tmp/npusim-test-" + name + "-" + std::to_string(::getpid()) + ".sock") {
    pid = ::fork();
    if (pid == 0) {
      npusim::device::ServeOptions o;
      o.socket_path = path;
      o.record_path = record;
      if (tweak) tweak(o);
      ::_exit(npusim::device::serve(npusim::config::load_npu_config(kConfig), o));
    }
    // Ready when a connection is accepted (the socket file appears before listen()).
    for (int i = 0; i < 300; ++i) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) break;
      ::usleep(10000);
    }
  }
  ~Server() { stop(); }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  std::string uri() const { return "unix:" + path; }
};

/// A raw protocol client, for what a well-behaved driver would never send.
struct Raw {
  int fd = -1;
  explicit Raw(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Raw() { ::close(fd); }
  void send(uint16_t type, const void* p, uint32_t len, int pass = -1, uint32_t claimed_len = UINT32_MAX) {
    npusim::device::wire_send(fd, type, 7, 0, p, len, pass, claimed_len);
  }
  /// HELLO; the base of this client's window of device addresses (0 when refused).
  uint64_t hello() {
    const uint32_t version = NPU_WIRE_VERSION;
    send(NPU_MSG_HELLO, &version, 4);
    const auto [type, ack] = reply();
    uint64_t base = 0;
    if (type == NPU_MSG_HELLO_ACK && ack.size() >= 40) std::memcpy(&base, ack.data() + 32, 8);
    return base;
  }
  /// The next reply's type and text (ERROR payload after its code), past any IRQ messages (other
  /// clients' jobs move the interrupt line); 0 when the server closed.
  std::pair<uint16_t, std::string> reply() {
    for (;;) {
      npu_wire_header h;
      if (::recv(fd, &h, sizeof h, MSG_WAITALL) != static_cast<ssize_t>(sizeof h)) return {0, ""};
      std::string p(h.len, '\0');
      if (h.len && ::recv(fd, p.data(), h.len, MSG_WAITALL) != static_cast<ssize_t>(h.len)) return {0, ""};
      if (h.type == NPU_MSG_IRQ) continue;
      return {h.type, h.type == NPU_MSG_ERROR && p.size() > 4 ? p.substr(4) : p};
    }
  }
};

/// Writes `entry` into a ring of its own on queue q (reprogrammed past the C API's back) and rings
/// the doorbell; returns ERR_INFO0.CODE and sets `err_addr` to ERR_ADDR.
uint32_t raw_job(Fixture& f, const npu_job_entry& entry, uint64_t* err_addr, uint32_t q = 3) {
  uint32_t ring, cq;
  uint64_t ring_addr, cq_addr;
  EXPECT_EQ(npu_bo_create(f.dev, 2 * 64, &ring, &ring_addr), NPU_OK);  // two entries: tail 1 != head 0
  EXPECT_EQ(npu_bo_create(f.dev, 2 * 32, &cq, &cq_addr), NPU_OK);
  std::memcpy(npu_bo_map(f.dev, ring), &entry, sizeof entry);
  npu_mmio_write(f.dev, NPU_REG_ERR_STATUS, 0xFFFFFFFFu);  // the first error from here on
  const std::pair<uint32_t, uint32_t> writes[] = {{NPU_Q_SQ_BASE_LO(q), static_cast<uint32_t>(ring_addr)},
                                                  {NPU_Q_SQ_BASE_HI(q), static_cast<uint32_t>(ring_addr >> 32)},
                                                  {NPU_Q_SQ_SIZE(q), 2},
                                                  {NPU_Q_CQ_BASE_LO(q), static_cast<uint32_t>(cq_addr)},
                                                  {NPU_Q_CQ_BASE_HI(q), static_cast<uint32_t>(cq_addr >> 32)},
                                                  {NPU_Q_CQ_SIZE(q), 2},
                                                  {NPU_Q_Q_CTRL(q), 1},
                                                  {NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK},
                                                  {NPU_DB_SQ_DOORBELL(q), 1}};
  for (const auto& [off, v] : writes) EXPECT_EQ(npu_mmio_write(f.dev, off, v), NPU_OK);
  *err_addr = f.reg(NPU_REG_ERR_ADDR_LO) | uint64_t{f.reg(NPU_REG_ERR_ADDR_HI)} << 32;
  const uint32_t code = f.reg(NPU_REG_ERR_INFO0) & NPU_ERR_INFO0_CODE_MASK;
  EXPECT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
  return code;
}

TEST(Device, HostileJobsGetErrorsNotTheSimulatorsMemory_bad) {
  Fixture f;
  const uint64_t program_addr = f.program_addr;
  uint64_t err_addr = 0;
  // A 4 GiB program in a buffer of a few kilobytes: a bus error at the program, nothing allocated.
  npu_job_entry e{};
  e.magic = NPU_JOB_MAGIC;
  e.seqno = 77;
  e.program_addr = program_addr;
  e.program_bytes = 0xFFFFFFFFu;
  EXPECT_EQ(raw_job(f, e, &err_addr), NPU_ERR_BUS_ERROR);
  EXPECT_EQ(err_addr, program_addr);
  // A container whose constant region claims a terabyte, left to the container (address 0).
  npusim::isa::Program prog = npusim::isa::read_npub(f.npub);
  size_t konst = prog.regions.size();
  for (size_t i = 0; i < prog.regions.size(); ++i)
    if (prog.regions[i].role == npusim::isa::RegionRole::Const) konst = i;
  ASSERT_LT(konst, prog.regions.size());
  prog.regions[konst].size = uint64_t{1} << 40;
  const std::vector<uint8_t> big = npusim::isa::write_npub(prog);
  uint32_t bo, table_bo;
  uint64_t bo_addr, table_addr;
  ASSERT_EQ(npu_bo_create(f.dev, big.size(), &bo, &bo_addr), NPU_OK);
  std::memcpy(npu_bo_map(f.dev, bo), big.data(), big.size());
  ASSERT_EQ(npu_bo_create(f.dev, 16 * 16, &table_bo, &table_addr), NPU_OK);
  auto* table = static_cast<uint64_t*>(npu_bo_map(f.dev, table_bo));
  for (uint32_t i = 0; i < f.count; ++i) table[2 * i] = f.region_addr[i], table[2 * i + 1] = f.regions[i].size;
  e.program_addr = bo_addr;
  e.program_bytes = static_cast<uint32_t>(big.size());
  e.region_table_addr = table_addr;
  e.region_count = f.count;
  EXPECT_EQ(raw_job(f, e, &err_addr), NPU_ERR_JOB_INVALID);
  // The same terabyte bound to a small buffer: a bus error at that buffer, before any copy.
  uint32_t small;
  uint64_t small_addr;
  ASSERT_EQ(npu_bo_create(f.dev, 4096, &small, &small_addr), NPU_OK);
  table[2 * konst] = small_addr, table[2 * konst + 1] = uint64_t{1} << 40;
  EXPECT_EQ(raw_job(f, e, &err_addr), NPU_ERR_BUS_ERROR);
  EXPECT_EQ(err_addr, small_addr);
  // And the device still runs a good job.
  npu_result r;
  EXPECT_EQ(f.run(r), NPU_OK);
}

TEST(DeviceServer, BothTransportsGiveTheSameCyclesAndOutputs) {
  Server srv("same");
  Fixture local("gemm_i8_db"), remote("gemm_i8_db", srv.uri());
  npu_result a, b;
  ASSERT_EQ(local.run(a), NPU_OK);
  ASSERT_EQ(remote.run(b), NPU_OK);
  EXPECT_EQ(a.cycles, b.cycles);
  EXPECT_EQ(local.output(), remote.output());
  EXPECT_EQ(npu_irq_level(remote.dev), 0);  // acknowledged by the wait
  npu_perf_counts pa, pb;
  ASSERT_EQ(npu_perf(local.dev, 1, &pa), NPU_OK);
  ASSERT_EQ(npu_perf(remote.dev, 1, &pb), NPU_OK);
  EXPECT_EQ(pa.macs, pb.macs);
  EXPECT_EQ(pa.cycles, pb.cycles);
  // The same fault over the socket: the same error.
  ASSERT_EQ(npu_fault_inject(remote.dev, NPU_FI_BUS_ERROR, 1, 0), NPU_OK);
  EXPECT_EQ(remote.run(b), NPU_EIO);
  EXPECT_EQ(b.err_code, NPU_ERR_BUS_ERROR);
  ASSERT_EQ(npu_reset(remote.dev, NPU_RESET_KIND_SOFT), NPU_OK);
  ASSERT_EQ(remote.run(b), NPU_OK);
  EXPECT_EQ(b.cycles, a.cycles);
}

/// A server with a well-behaved client that has run one job: what its later jobs must still give.
struct ServedClient {
  Server srv;
  Fixture good;
  std::vector<uint8_t> want;  ///< the first job's output
  explicit ServedClient(const std::string& name) : srv(name), good("mlp_i8", srv.uri()) {
    npu_result r;
    EXPECT_EQ(good.run(r), NPU_OK);
    want = good.output();
  }
  /// Three more jobs, each completing with the first one's output.
  void still_served() {
    npu_result r;
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(good.run(r), NPU_OK);
      EXPECT_EQ(good.output(), want);
    }
  }
};

TEST(DeviceServer, HostileClientsGetErrorsAndNoOtherJobIsLost_bad) {
  ServedClient served("hostile");
  Server& srv = served.srv;
  npu_result r;
  {  // a message claiming a huge payload: ERROR, then the server closes that connection
    Raw c(srv.path);
    c.send(NPU_MSG_MMIO_READ, nullptr, 0, -1, 1u << 30);
    auto [type, text] = c.reply();
    EXPECT_EQ(type, NPU_MSG_ERROR);
    EXPECT_NE(text.find("bad message: len 1073741824"), std::string::npos) << text;
    EXPECT_EQ(c.reply().first, 0);
  }
  {  // out-of-range MMIO, a write to a read-only register, wrong payload sizes, buffers without a
     // descriptor or far too large, an unknown message: errors, the connection stays usable
    Raw c(srv.path);
    const uint32_t far = 0x20000;
    c.send(NPU_MSG_MMIO_READ, &far, 4);
    EXPECT_NE(c.reply().second.find("outside the window"), std::string::npos);
    const uint32_t ro[2] = {NPU_REG_DEV_ID, 1};
    c.send(NPU_MSG_MMIO_WRITE, ro, 8);
    EXPECT_NE(c.reply().second.find("register DEV_ID is read-only"), std::string::npos);
    c.send(NPU_MSG_MMIO_WRITE, ro, 3);
    EXPECT_NE(c.reply().second.find("needs 8 payload bytes, got 3"), std::string::npos);
    const uint64_t add[2] = {0x70000000, 4096};
    c.send(NPU_MSG_MEM_ADD, add, 16);
    EXPECT_NE(c.reply().second.find("without a file descriptor"), std::string::npos);
    const int m = ::memfd_create("t", MFD_ALLOW_SEALING);
    ASSERT_EQ(::ftruncate(m, 4096), 0);
    c.send(NPU_MSG_MEM_ADD, add, 16, m);  // before HELLO: no window yet
    EXPECT_NE(c.reply().second.find("MEM_ADD before HELLO"), std::string::npos);
    const uint64_t base = c.hello();
    ASSERT_NE(base, 0u);
    EXPECT_NE(base, 0x10000000u);         // not the first client's window
    c.send(NPU_MSG_MEM_ADD, add, 16, m);  // another client's addresses
    EXPECT_NE(c.reply().second.find("outside this client's window"), std::string::npos);
    const uint64_t huge[2] = {base, uint64_t{1} << 31};
    c.send(NPU_MSG_MEM_ADD, huge, 16, m);
    EXPECT_NE(c.reply().second.find("shared buffer of 2147483648 bytes"), std::string::npos);
    const uint64_t mine[2] = {base, 4096};
    c.send(NPU_MSG_MEM_ADD, mine, 16, m);
    EXPECT_EQ(c.reply().first, NPU_MSG_ACK);
    c.send(NPU_MSG_MEM_ADD, mine, 16, m);
    EXPECT_NE(c.reply().second.find("overlap"), std::string::npos);
    ::close(m);
    uint32_t v = 0;
    c.send(NPU_MSG_MMIO_READ, &ro[0], 4);
    auto rr = c.reply();
    ASSERT_EQ(rr.first, NPU_MSG_MMIO_READ_RESP);
    std::memcpy(&v, rr.second.data(), 4);
    EXPECT_EQ(v, 0x5355504Eu);
    c.send(99, nullptr, 0);
    EXPECT_NE(c.reply().second.find("unknown message type 99"), std::string::npos);
  }
  {  // a driver that submits and disconnects before waiting (mid-job)
    Fixture leaver("mlp_i8", srv.uri());
    uint64_t s;
    ASSERT_EQ(npu_submit(leaver.dev, 0, &leaver.job, &s), NPU_OK);
  }
  served.still_served();              // the well-behaved client's jobs still run, with the same results
  Fixture late("mlp_i8", srv.uri());  // and new clients still connect
  ASSERT_EQ(late.run(r), NPU_OK);
  // Up to four: a fifth is told every queue is taken.
  npu_device *third = nullptr, *fourth = nullptr, *fifth = nullptr;
  ASSERT_EQ(npu_open(srv.uri().c_str(), &third), NPU_OK);
  ASSERT_EQ(npu_open(srv.uri().c_str(), &fourth), NPU_OK);
  EXPECT_EQ(npu_open(srv.uri().c_str(), &fifth), NPU_EBUSY);
  EXPECT_STREQ(npu_last_error(), "npusim serve: every queue is taken by another client");
  npu_close(third);
  npu_close(fourth);
}

TEST(DeviceServer, ASlowOrSilentClientHoldsUpNobody_bad) {
  ServedClient served("slow");
  const uint32_t dev_id = NPU_REG_DEV_ID;
  npu_wire_header h{NPU_MSG_MMIO_READ, 0, 4, 42, 0};
  uint8_t msg[sizeof h + 4];
  std::memcpy(msg, &h, sizeof h);
  std::memcpy(msg + sizeof h, &dev_id, 4);
  // A client stops halfway through a header: the others' jobs still run.
  Raw slow(served.srv.path);
  ASSERT_EQ(::send(slow.fd, msg, 10, MSG_NOSIGNAL), 10);
  served.still_served();
  // Its message, completed a byte at a time, is still understood.
  for (size_t i = 10; i < sizeof msg; ++i) ASSERT_EQ(::send(slow.fd, msg + i, 1, MSG_NOSIGNAL), 1);
  auto [type, value] = slow.reply();
  ASSERT_EQ(type, NPU_MSG_MMIO_READ_RESP);
  EXPECT_EQ(std::memcmp(value.data(), "NPUS", 4), 0);
  // Three requests in one write: three replies, in order.
  std::vector<uint8_t> three;
  for (uint64_t id : {1, 2, 3}) {
    h.req_id = id;
    std::memcpy(msg, &h, sizeof h);
    three.insert(three.end(), msg, msg + sizeof msg);
  }
  ASSERT_EQ(::send(slow.fd, three.data(), three.size(), MSG_NOSIGNAL), static_cast<ssize_t>(three.size()));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(slow.reply().first, NPU_MSG_MMIO_READ_RESP);
  // A client that sends requests and never reads the replies is dropped once over a megabyte of
  // them is waiting, instead of stalling the server on a full socket.
  {
    Raw flood(served.srv.path);
    std::vector<uint8_t> many;
    for (int i = 0; i < 100000; ++i) many.insert(many.end(), msg, msg + sizeof msg);
    size_t sent = 0;
    while (sent < many.size()) {
      const ssize_t n = ::send(flood.fd, many.data() + sent, many.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // dropped
      sent += static_cast<size_t>(n);
    }
    served.still_served();
    size_t replies = 0;
    while (flood.reply().first == NPU_MSG_MMIO_READ_RESP) ++replies;
    EXPECT_LT(replies, 100000u);  // the connection ended before every request was answered
  }
  served.still_served();
  // One process may hold 8 connections (the good client and the slow one are two of them); the
  // ninth is told so and closed; the others keep their service.
  std::vector<std::unique_ptr<Raw>> mine;
  for (int i = 0; i < 6; ++i) {
    mine.push_back(std::make_unique<Raw>(served.srv.path));
    mine.back()->send(NPU_MSG_MMIO_READ, &dev_id, 4);  // a reply: the server has accepted it
    ASSERT_EQ(mine.back()->reply().first, NPU_MSG_MMIO_READ_RESP);
  }
  {
    Raw ninth(served.srv.path);
    const auto [refused, why] = ninth.reply();
    EXPECT_EQ(refused, NPU_MSG_ERROR);
    EXPECT_EQ(why, "more than 8 connections from process " + std::to_string(::getpid()));
  }
  served.still_served();
  // 64 connections in all: seven more processes of eight each fill the server; a connection from
  // yet another process is told so.
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  std::vector<pid_t> holders;
  for (int p = 0; p < 7; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(release[1]);  // else no holder would see the others' end of it
      std::vector<std::unique_ptr<Raw>> held;
      bool ok = true;
      for (int i = 0; i < 8; ++i) {
        held.push_back(std::make_unique<Raw>(served.srv.path));
        held.back()->send(NPU_MSG_MMIO_READ, &dev_id, 4);
        ok = ok && held.back()->reply().first == NPU_MSG_MMIO_READ_RESP;
      }
      const char c = ok ? 'y' : 'n';
      (void)!::write(ready[1], &c, 1);
      (void)!::read(release[0], const_cast<char*>(&c), 1);
      ::_exit(0);
    }
    holders.push_back(pid);
  }
  for (int p = 0; p < 7; ++p) {
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    EXPECT_EQ(c, 'y');
  }
  const pid_t late = ::fork();
  if (late == 0) {
    Raw extra(served.srv.path);
    const auto [refused, why] = extra.reply();
    ::_exit(refused == NPU_MSG_ERROR && why == "more than 64 connections" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(late, &status, 0), late);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the 65th connection was not refused";
  ::close(release[1]);  // the holders leave
  for (pid_t pid : holders) ::waitpid(pid, nullptr, 0);
  ::close(release[0]), ::close(ready[0]), ::close(ready[1]);
  mine.clear();
  served.still_served();
}

TEST(DeviceServer, SharedBuffersMustStayAsLongAsDeclared_bad) {
  Server srv("buffers");
  Raw c(srv.path);
  const uint64_t base = c.hello();
  ASSERT_NE(base, 0u);
  const uint64_t add[2] = {base, 8192};
  // A file shorter than the buffer it is declared as (the device would fault past its end).
  const int shorter = ::memfd_create("short", MFD_ALLOW_SEALING);
  ASSERT_EQ(::ftruncate(shorter, 4096), 0);
  c.send(NPU_MSG_MEM_ADD, add, 16, shorter);
  EXPECT_NE(c.reply().second.find("has 4096 bytes, fewer than the 8192 declared"), std::string::npos);
  // A memfd that cannot be sealed against shrinking.
  const int unsealable = ::memfd_create("unsealable", 0);
  ASSERT_EQ(::ftruncate(unsealable, 8192), 0);
  c.send(NPU_MSG_MEM_ADD, add, 16, unsealable);
  EXPECT_NE(c.reply().second.find("MFD_ALLOW_SEALING"), std::string::npos);
  // A pipe is no buffer.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  c.send(NPU_MSG_MEM_ADD, add, 16, pipe_fds[0]);
  EXPECT_NE(c.reply().second.find("not a memfd"), std::string::npos);
  // A good one is mapped and sealed: its owner can no longer shrink it under the device.
  const int good = ::memfd_create("good", MFD_ALLOW_SEALING);
  ASSERT_EQ(::ftruncate(good, 8192), 0);
  c.send(NPU_MSG_MEM_ADD, add, 16, good);
  EXPECT_EQ(c.reply().first, NPU_MSG_ACK);
  EXPECT_NE(::ftruncate(good, 0), 0);
  EXPECT_EQ(errno, EPERM);
  // A descriptor sent along with another message is held (and closed when the client leaves); the
  // message is answered as usual.
  const uint32_t dev_id = NPU_REG_DEV_ID;
  c.send(NPU_MSG_MMIO_READ, &dev_id, 4, shorter);
  EXPECT_EQ(c.reply().first, NPU_MSG_MMIO_READ_RESP);
  for (int fd : {shorter, unsealable, pipe_fds[0], pipe_fds[1], good}) ::close(fd);
}

TEST(DeviceServer, WaitingForeverOnAHungJobTimesOutWithoutHangingTheServer_bad) {
  // A driver's "infinite" deadline on a job that never completes, and a SYNC to the end of time:
  // device time passes (the die cools through it in O(log n) thermal steps) and both return.
  for (const bool remote : {false, true}) {
    std::unique_ptr<Server> srv;
    if (remote) srv = std::make_unique<Server>("forever");
    Fixture f("mlp_i8", remote ? srv->uri() : "sim:" + kConfig);
    ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_HANG_ENGINE, 1, 1), NPU_OK);
    uint64_t s;
    ASSERT_EQ(npu_submit(f.dev, 0, &f.job, &s), NPU_OK);
    npu_result r;
    EXPECT_EQ(npu_wait(f.dev, s, UINT64_MAX, &r), NPU_ETIMEDOUT) << (remote ? "unix" : "sim");
    EXPECT_GT(f.reg(NPU_REG_CYCLE_LO) | (uint64_t{f.reg(NPU_REG_CYCLE_HI)} << 32), uint64_t{1} << 60);
    // The steady state of idle leakage: about 0.1 W x 18 K/W above the 35 C ambient.
    EXPECT_NEAR(f.reg(NPU_REG_TEMP_MC) / 1000.0, 36.8, 0.5);
    ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
    EXPECT_EQ(f.run(r), NPU_OK);
  }
  Server srv("sync");
  Raw c(srv.path);
  const uint64_t end_of_time = UINT64_MAX;
  c.send(NPU_MSG_SYNC, &end_of_time, 8);
  EXPECT_EQ(c.reply().first, NPU_MSG_ACK);
  Fixture late("mlp_i8", srv.uri());
  npu_result r;
  EXPECT_EQ(late.run(r), NPU_OK);
}

TEST(DeviceServer, RecordedSessionsReplayAndADifferenceIsCaught_bad) {
  const std::string trace = "/tmp/npusim-test-" + std::to_string(::getpid()) + ".rtrace";
  {
    Server srv("record", trace);
    Fixture f("mlp_i8", srv.uri());
    npu_result r;
    ASSERT_EQ(f.run(r), NPU_OK);
    ASSERT_EQ(npu_fault_inject(f.dev, NPU_FI_ECC, 1, 2), NPU_OK);
    EXPECT_EQ(f.run(r), NPU_EIO);
    uint32_t v;
    npu_mmio_read(f.dev, NPU_REG_ERR_INFO0, &v);
    ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_SOFT), NPU_OK);
    npu_close(f.dev);
    f.dev = nullptr;
    srv.stop();
  }
  const auto cfg = npusim::config::load_npu_config(kConfig);
  EXPECT_EQ(npusim::device::replay(cfg, trace), 0);
  // Change one recorded read: the replay names the line.
  std::ifstream in(trace);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const auto at = text.find("read_reg " + std::to_string(NPU_REG_ERR_INFO0) + " ");
  ASSERT_NE(at, std::string::npos);
  text.insert(text.find('\n', at), "7");
  std::ofstream(trace) << text;
  EXPECT_EQ(npusim::device::replay(cfg, trace), 1);
  ::unlink(trace.c_str());
}

TEST(DeviceServer, TwoClientsCannotReachEachOther_bad) {
  Server srv("apart");
  Fixture a("mlp_i8", srv.uri());  // queue 0
  Fixture b("mlp_i8", srv.uri());  // queue 1
  npu_result r;
  ASSERT_EQ(a.run(r), NPU_OK);
  const uint64_t a_cycles = r.cycles;
  const std::vector<uint8_t> a_out = a.output();
  ASSERT_FALSE(a_out.empty());
  uint64_t a_input = 0, a_output = 0;
  for (uint32_t i = 0; i < a.count; ++i) {
    if (a.regions[i].role == NPU_REGION_INPUT) a_input = a.region_addr[i];
    if (a.regions[i].role == NPU_REGION_OUTPUT) a_output = a.region_addr[i];
  }
  ASSERT_NE(a_input, 0u);
  // B cannot touch A's queue: its ring registers and doorbell are refused, reads included.
  uint32_t v = 0;
  EXPECT_EQ(npu_mmio_write(b.dev, NPU_Q_Q_CTRL(0), 0), NPU_EPERM);
  EXPECT_NE(std::string(npu_last_error()).find("belongs to queue 0; this client owns queue 1"), std::string::npos)
      << npu_last_error();
  EXPECT_EQ(npu_mmio_write(b.dev, NPU_DB_SQ_DOORBELL(0), 5), NPU_EPERM);
  EXPECT_EQ(npu_mmio_read(b.dev, NPU_Q_SQ_BASE_LO(0), &v), NPU_EPERM);
  // B's job bound to A's buffers (input and output): a bus error at A's address, for B only.
  npu_job_entry e{};
  e.magic = NPU_JOB_MAGIC;
  e.seqno = 1;
  e.program_addr = b.program_addr;
  e.program_bytes = static_cast<uint32_t>(b.npub.size());
  uint32_t table_bo;
  uint64_t table_addr;
  ASSERT_EQ(npu_bo_create(b.dev, 16 * 16, &table_bo, &table_addr), NPU_OK);
  auto* table = static_cast<uint64_t*>(npu_bo_map(b.dev, table_bo));
  for (uint32_t i = 0; i < b.count; ++i) {
    const uint64_t stolen = a.regions[i].role == NPU_REGION_INPUT    ? a_input
                            : a.regions[i].role == NPU_REGION_OUTPUT ? a_output
                                                                     : b.region_addr[i];
    table[2 * i] = stolen, table[2 * i + 1] = b.regions[i].size;
  }
  e.region_table_addr = table_addr;
  e.region_count = b.count;
  uint64_t err_addr = 0;
  EXPECT_EQ(raw_job(b, e, &err_addr, 1), NPU_ERR_BUS_ERROR);  // ends with B's hard reset
  EXPECT_TRUE(err_addr == a_input || err_addr == a_output) << err_addr;
  // B's hard reset, B's error: nothing of it shows in A's context.
  EXPECT_EQ(a.reg(NPU_REG_ERR_STATUS), 0u);
  EXPECT_NE(a.reg(NPU_Q_SQ_SIZE(0)), 0u);  // A's ring registers survive B's reset
  EXPECT_NE(a.reg(NPU_REG_CTRL) & NPU_CTRL_ENABLE_MASK, 0u);
  // B's fence pointed at A's output: the write is refused (a bus error of B's), A's bytes stay.
  Fixture b2("mlp_i8", srv.uri());  // queue 1 again after... no: queue 2, a fresh context
  ASSERT_EQ(npu_mmio_write(b2.dev, NPU_Q_FENCE_LO(2), static_cast<uint32_t>(a_output)), NPU_OK);
  ASSERT_EQ(npu_mmio_write(b2.dev, NPU_Q_FENCE_HI(2), static_cast<uint32_t>(a_output >> 32)), NPU_OK);
  ASSERT_EQ(b2.run(r), NPU_OK);
  EXPECT_EQ(b2.reg(NPU_REG_ERR_INFO0) & NPU_ERR_INFO0_CODE_MASK, NPU_ERR_BUS_ERROR);
  EXPECT_EQ((b2.reg(NPU_REG_ERR_ADDR_LO) | uint64_t{b2.reg(NPU_REG_ERR_ADDR_HI)} << 32), a_output);
  EXPECT_EQ(a.output(), a_out);
  // Seqnos and counters are per client: A's job 1 is still A's, B2's job 1 is B2's.
  npu_perf_counts pa, pb;
  ASSERT_EQ(npu_perf(a.dev, 1, &pa), NPU_OK);
  ASSERT_EQ(npu_perf(b2.dev, 1, &pb), NPU_OK);
  EXPECT_EQ(pa.cycles, a_cycles);
  EXPECT_EQ(npu_perf(a.dev, 2, &pa), NPU_ENOENT);  // A ran one job; B2's are not A's to see
  // B2's completions raised B2's interrupt line, not A's.
  EXPECT_EQ(a.reg(NPU_REG_INT_STATUS), 0u);
  EXPECT_EQ(npu_irq_level(a.dev), 0);
  // And A runs on, with the same cycles and output.
  ASSERT_EQ(a.run(r), NPU_OK);
  EXPECT_EQ(r.cycles, a_cycles);
  EXPECT_EQ(a.output(), a_out);
}

TEST(DeviceServer, TheSocketPathIsTheServersOwn_bad) {
  const npusim::config::NpuConfig cfg = npusim::config::load_npu_config(kConfig);
  const std::string dir = "/tmp/npusim-test-sockpath-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  // A regular file is never deleted: refused, naming what it is.
  const std::string notes = dir + "/notes.txt";
  std::ofstream(notes) << "keep me\n";
  npusim::device::ServeOptions o;
  o.socket_path = notes;
  try {
    npusim::device::serve(cfg, o);
    ADD_FAILURE() << "serve took a regular file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is a regular file, not a socket"), std::string::npos) << e.what();
  }
  std::ifstream kept(notes);
  std::string line;
  std::getline(kept, line);
  EXPECT_EQ(line, "keep me");
  // Created owner-only whatever the umask.
  const mode_t old_mask = ::umask(0);
  Server first("sockpath");
  ::umask(old_mask);
  struct stat st {};
  ASSERT_EQ(::stat(first.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A live server's socket is not taken over: refused, and the first server stays reachable.
  o.socket_path = first.path;
  try {
    npusim::device::serve(cfg, o);
    ADD_FAILURE() << "serve took a live socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another server is listening"), std::string::npos) << e.what();
  }
  Fixture still("mlp_i8", first.uri());
  npu_result r;
  EXPECT_EQ(still.run(r), NPU_OK);
  // A stale socket (its server gone without removing it) is replaced.
  const std::string stale = dir + "/stale.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, stale.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  const pid_t pid = ::fork();
  if (pid == 0) {
    npusim::device::ServeOptions s;
    s.socket_path = stale;
    s.exit_when_idle = true;
    ::_exit(npusim::device::serve(cfg, s));
  }
  bool served = false;
  for (int i = 0; i < 300 && !served; ++i) {
    npu_device* d = nullptr;
    served = npu_open(("unix:" + stale).c_str(), &d) == NPU_OK;
    if (d) npu_close(d);
    if (!served) ::usleep(10000);
  }
  EXPECT_TRUE(served);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(::access(stale.c_str(), F_OK), 0);  // removed at exit: it was its own
  ::unlink(notes.c_str());
  ::rmdir(dir.c_str());
}

TEST(DeviceServer, IdleConnectionsTimeOutAndFreeTheirQueue_bad) {
  Server srv("idle", "", [](npusim::device::ServeOptions& o) { o.idle_timeout_s = 0.3; });
  Raw quiet(srv.path);
  const uint64_t base = quiet.hello();
  EXPECT_EQ(base, uint64_t{1} << 32);  // queue 0's window
  ::usleep(700000);
  const auto [type, why] = quiet.reply();
  EXPECT_EQ(type, NPU_MSG_ERROR);
  EXPECT_NE(why.find("idle for more than 0.3 s"), std::string::npos) << why;
  EXPECT_EQ(quiet.reply().first, 0);  // closed
  Raw next(srv.path);
  EXPECT_EQ(next.hello(), uint64_t{1} << 32);  // queue 0 is free again
}

TEST(DeviceServer, AJobPastItsWallClockLimitEndsAsAWatchdogTimeout_bad) {
  Server srv("wall", "", [](npusim::device::ServeOptions& o) { o.job_wall_limit_s = 1e-9; });
  Fixture f("gemm_i8_db", srv.uri());
  npu_result r;
  EXPECT_EQ(f.run(r), NPU_EIO);
  EXPECT_EQ(r.status, NPU_JOB_TIMEOUT);
  EXPECT_EQ(r.err_code, NPU_ERR_WATCHDOG);
  EXPECT_LT(r.cycles, uint64_t{1} << 30);  // the cycles it ran, not the cycle budget
  // The server answers on, and the next client's registers work.
  Fixture g("mlp_i8", srv.uri());
  EXPECT_EQ(g.reg(NPU_REG_DEV_ID), 0x5355504Eu);
}

TEST(Device, RingsMustBeBoundedAndBacked_bad) {
  Fixture f;
  // A ring of 2^20 entries: refused at the doorbell (JOB_INVALID), not walked entry by entry.
  uint32_t ring;
  uint64_t ring_addr;
  ASSERT_EQ(npu_bo_create(f.dev, 4096, &ring, &ring_addr), NPU_OK);
  npu_mmio_write(f.dev, NPU_REG_ERR_STATUS, 0xFFFFFFFFu);
  const std::pair<uint32_t, uint32_t> huge[] = {{NPU_Q_SQ_BASE_LO(3), static_cast<uint32_t>(ring_addr)},
                                                {NPU_Q_SQ_BASE_HI(3), static_cast<uint32_t>(ring_addr >> 32)},
                                                {NPU_Q_SQ_SIZE(3), 1u << 20},
                                                {NPU_Q_CQ_BASE_LO(3), static_cast<uint32_t>(ring_addr)},
                                                {NPU_Q_CQ_BASE_HI(3), static_cast<uint32_t>(ring_addr >> 32)},
                                                {NPU_Q_CQ_SIZE(3), 2},
                                                {NPU_Q_Q_CTRL(3), 1},
                                                {NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK},
                                                {NPU_DB_SQ_DOORBELL(3), (1u << 20) - 1}};
  for (const auto& [off, v] : huge) EXPECT_EQ(npu_mmio_write(f.dev, off, v), NPU_OK);
  EXPECT_EQ(f.reg(NPU_REG_ERR_INFO0) & NPU_ERR_INFO0_CODE_MASK, NPU_ERR_JOB_INVALID);
  EXPECT_EQ(f.reg(NPU_Q_SQ_HEAD(3)), 0u);  // nothing fetched
  EXPECT_NE(f.reg(NPU_REG_STATUS) & NPU_STATUS_HALTED_MASK, 0u);
  ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
  // A ring of 64 entries in a 4 KiB buffer (64 x 64 bytes fits; 128 do not): a bus error at the ring.
  npu_mmio_write(f.dev, NPU_REG_ERR_STATUS, 0xFFFFFFFFu);
  const std::pair<uint32_t, uint32_t> unbacked[] = {{NPU_Q_SQ_BASE_LO(3), static_cast<uint32_t>(ring_addr)},
                                                    {NPU_Q_SQ_BASE_HI(3), static_cast<uint32_t>(ring_addr >> 32)},
                                                    {NPU_Q_SQ_SIZE(3), 128},
                                                    {NPU_Q_CQ_BASE_LO(3), static_cast<uint32_t>(ring_addr)},
                                                    {NPU_Q_CQ_BASE_HI(3), static_cast<uint32_t>(ring_addr >> 32)},
                                                    {NPU_Q_CQ_SIZE(3), 2},
                                                    {NPU_Q_Q_CTRL(3), 1},
                                                    {NPU_REG_CTRL, NPU_CTRL_ENABLE_MASK},
                                                    {NPU_DB_SQ_DOORBELL(3), 1}};
  for (const auto& [off, v] : unbacked) EXPECT_EQ(npu_mmio_write(f.dev, off, v), NPU_OK);
  EXPECT_EQ(f.reg(NPU_REG_ERR_INFO0) & NPU_ERR_INFO0_CODE_MASK, NPU_ERR_BUS_ERROR);
  EXPECT_EQ(f.reg(NPU_REG_ERR_ADDR_LO) | uint64_t{f.reg(NPU_REG_ERR_ADDR_HI)} << 32, ring_addr);
  ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
  // One 1 MiB buffer bound as every region: more bytes than the client shares in all, so
  // BAD_BINDING before any copy (the server would otherwise copy it once per region).
  npusim::isa::Program prog = npusim::isa::read_npub(f.npub);
  uint32_t big_bo, bo, table_bo;
  uint64_t big_addr, bo_addr, table_addr;
  ASSERT_EQ(npu_bo_create(f.dev, 1u << 20, &big_bo, &big_addr), NPU_OK);
  for (auto& region : prog.regions)
    if (region.role != npusim::isa::RegionRole::Const) region.size = 1u << 20;
  const std::vector<uint8_t> npub = npusim::isa::write_npub(prog);
  ASSERT_EQ(npu_bo_create(f.dev, npub.size(), &bo, &bo_addr), NPU_OK);
  std::memcpy(npu_bo_map(f.dev, bo), npub.data(), npub.size());
  ASSERT_EQ(npu_bo_create(f.dev, 16 * 16, &table_bo, &table_addr), NPU_OK);
  auto* table = static_cast<uint64_t*>(npu_bo_map(f.dev, table_bo));
  for (uint32_t i = 0; i < f.count; ++i)
    table[2 * i] = prog.regions[i].role == npusim::isa::RegionRole::Const ? 0 : big_addr, table[2 * i + 1] = 1u << 20;
  npu_job_entry e{};
  e.magic = NPU_JOB_MAGIC;
  e.seqno = 9;
  e.program_addr = bo_addr;
  e.program_bytes = static_cast<uint32_t>(npub.size());
  e.region_table_addr = table_addr;
  e.region_count = f.count;
  uint64_t err_addr = 0;
  EXPECT_EQ(raw_job(f, e, &err_addr), NPU_ERR_BAD_BINDING);
  npu_result r;
  EXPECT_EQ(f.run(r), NPU_OK);  // and the device runs a good job after its hard reset
}

}  // namespace
