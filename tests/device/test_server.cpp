// `npusim serve`: the device behind a UNIX socket, as driver processes see it. Both transports
// agree; hostile, slow and silent clients hold up nobody; two clients cannot reach each other;
// the socket path is the server's own; sessions replay.
#include "tests/device/device_fixture.h"

namespace {

using namespace device_test;

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
    // The steady state of idle leakage above the 35 C ambient: edge leaks (0.1 W/mm^2 x 0.131 mm^2
    // of logic + 0.02 W/mm^2 x 0.169 mm^2 of SRAM) x 0.85/0.75 = 0.0187 W at 25 C, x e^(0.036 x
    // 10.5) at 35.5 C = 0.027 W; x 18 K/W = 0.49 K.
    EXPECT_NEAR(f.reg(NPU_REG_TEMP_MC) / 1000.0, 35.5, 0.2);
    ASSERT_EQ(npu_reset(f.dev, NPU_RESET_KIND_HARD), NPU_OK);
    EXPECT_EQ(f.run(r), NPU_OK);
  }
  // SYNC to the end of time: the counter saturates; on a shared die a later client's job still
  // runs (and ends at the saturated cycle).
  for (const bool shared : {false, true}) {
    Server srv(shared ? "sync-shared" : "sync", "", [&](npusim::device::ServeOptions& o) { o.shared_die = shared; });
    Raw c(srv.path);
    const uint64_t end_of_time = UINT64_MAX;
    c.send(NPU_MSG_SYNC, &end_of_time, 8);
    EXPECT_EQ(c.reply().first, NPU_MSG_ERROR);  // device time is a context's: none before HELLO
    ASSERT_NE(c.hello(), 0u);
    c.send(NPU_MSG_SYNC, &end_of_time, 8);
    EXPECT_EQ(c.reply().first, NPU_MSG_ACK);
    EXPECT_EQ(c.last_cycle, UINT64_MAX);
    Fixture late("mlp_i8", srv.uri());
    npu_result r;
    EXPECT_EQ(late.run(r), NPU_OK);
    late.reg(NPU_REG_CYCLE_LO);  // latches CYCLE_HI
    EXPECT_EQ(late.reg(NPU_REG_CYCLE_HI) == UINT32_MAX, shared);
  }
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
  EXPECT_EQ(npu_mmio_write(b.dev, NPU_Q_SQ_HEAD(0), 1), NPU_EPERM);  // read-only, and not B's: EPERM too
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

/// The registers that would tell one client of another's activity: device time, the die's
/// temperature and operating point, power and energy, and STATUS.
std::vector<uint32_t> die_view(Fixture& f) {
  std::vector<uint32_t> v;
  for (uint32_t off : {NPU_REG_CYCLE_LO, NPU_REG_CYCLE_HI, NPU_REG_TEMP_MC, NPU_REG_THROTTLE_LEVEL, NPU_REG_STATUS,
                       NPU_REG_POWER_MW, NPU_REG_ENERGY_UJ_LO, NPU_REG_ENERGY_UJ_HI})
    v.push_back(f.reg(off));
  return v;
}

TEST(DeviceServer, NoRegisterOrReplyShowsAnotherClientsDeviceTimeOrHeat_bad) {
  for (const bool shared : {false, true}) {
    Server srv(shared ? "die-shared" : "die-own", "", [&](npusim::device::ServeOptions& o) { o.shared_die = shared; });
    Fixture a("mlp_i8", srv.uri());
    npu_result r;
    ASSERT_EQ(a.run(r), NPU_OK);
    Raw quiet(srv.path);  // a raw client: its replies' headers carry its device time
    ASSERT_NE(quiet.hello(), 0u);
    const std::vector<uint32_t> before = die_view(a);
    {
      Fixture b("mlp_i8", srv.uri());
      for (int i = 0; i < 20; ++i) ASSERT_EQ(b.run(r), NPU_OK);
      Raw idler(srv.path);  // and a third client lets a billion cycles pass
      ASSERT_NE(idler.hello(), 0u);
      const uint64_t until = 1'000'000'000;
      idler.send(NPU_MSG_SYNC, &until, 8);
      ASSERT_EQ(idler.reply().first, NPU_MSG_ACK);
      EXPECT_EQ(idler.last_cycle, until);
    }
    const uint32_t off = NPU_REG_CYCLE_LO;
    quiet.send(NPU_MSG_MMIO_READ, &off, 4);
    ASSERT_EQ(quiet.reply().first, NPU_MSG_MMIO_READ_RESP);
    if (!shared) {  // B's twenty jobs and its idle time changed nothing A or the raw client can read
      EXPECT_EQ(die_view(a), before);
      EXPECT_EQ(quiet.last_cycle, 0u);
    } else {  // one die: A sees B's device time, as the functions of one chip would
      EXPECT_GT(die_view(a)[0] | uint64_t{die_view(a)[1]} << 32, before[0] | uint64_t{before[1]} << 32);
      EXPECT_GT(quiet.last_cycle, 0u);
    }
  }
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

}  // namespace
