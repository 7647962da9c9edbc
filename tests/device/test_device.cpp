// The device a driver sees, through the C API (include/npusim/npu.h) and raw MMIO: every
// register's reset value and access type (against arch/regs.yaml, read independently here), ring
// wrap-around with phase bits, several queues, each fault class with its documented error and a
// reset that recovers, hostile jobs and rings, and the same job giving the cycles and outputs of a
// direct simulation.
#include <Eigen/Core>

#include "tests/device/device_fixture.h"

namespace {

using namespace device_test;

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

// The C API's IO helpers: an entry's recorded host type and layout (.io host=f32 layout=nchw, as
// npusim compile records them) convert a user's float32 NCHW tensor to fp16 NHWC device bytes
// and back; wrong sizes and int64 outside int32 are NPU_EINVAL.
TEST(Device, IoHelpersConvertTheUsersTensors) {
  const auto prog = npusim::isa::assemble(
                        ".npus 1.0\n.target line=64\n.region x role=input size=64\n.region y role=output size=64\n"
                        ".region i role=input size=64\n"
                        ".io x region=x dtype=fp16 shape=[1, 2, 2, 3] host=f32 layout=nchw\n"
                        ".io y region=y dtype=i8 shape=[4]\n.io i region=i dtype=i32 shape=[2] host=i64\nfinish\n",
                        "io.npus")
                        .program;
  const std::vector<uint8_t> bin = npusim::isa::write_npub(prog);
  npu_io_info io[4];
  uint32_t n = 4;
  ASSERT_EQ(npu_program_io(bin.data(), bin.size(), io, &n), NPU_OK);
  ASSERT_EQ(n, 3u);
  EXPECT_STREQ(io[0].name, "x");
  EXPECT_EQ(io[0].host_type, NPU_HOST_F32);
  EXPECT_EQ(io[0].host_nchw, 1u);
  EXPECT_EQ(io[0].dtype, NPU_DTYPE_FP16);
  EXPECT_EQ(io[1].role, NPU_REGION_OUTPUT);
  EXPECT_EQ(io[1].host_type, NPU_HOST_DEVICE);
  // User [N=1, C=3, H=2, W=2], element value = its NCHW flat index; device dims [1, 2, 2, 3] NHWC.
  float user[12], back[12];
  for (int i = 0; i < 12; ++i) user[i] = static_cast<float>(i);
  uint16_t dev[12];
  ASSERT_EQ(npu_io_to_device(&io[0], user, sizeof user, dev, sizeof dev), NPU_OK);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x) {
        const uint16_t h = dev[(y * 2 + x) * 3 + c];  // NHWC position of NCHW element (c, y, x)
        const float want = static_cast<float>(c * 4 + y * 2 + x);
        EXPECT_EQ(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(h)), want) << c << y << x;
      }
  ASSERT_EQ(npu_io_from_device(&io[0], dev, sizeof dev, back, sizeof back), NPU_OK);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(back[i], user[i]);
  EXPECT_EQ(npu_io_to_device(&io[0], user, sizeof user - 4, dev, sizeof dev), NPU_EINVAL);  // wrong size
  const int64_t wide[2] = {-5, int64_t{1} << 40}, ok[2] = {-5, 7};
  int32_t narrow[2];
  EXPECT_EQ(npu_io_to_device(&io[2], wide, sizeof wide, narrow, sizeof narrow), NPU_EINVAL);  // outside int32
  ASSERT_EQ(npu_io_to_device(&io[2], ok, sizeof ok, narrow, sizeof narrow), NPU_OK);
  EXPECT_EQ(narrow[0], -5);
  EXPECT_EQ(narrow[1], 7);
}

}  // namespace
