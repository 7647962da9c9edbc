// The static deadlock proof (abstract semaphore run) and its report.
#include <gtest/gtest.h>

#include "isa/deadlock.h"
#include "test_util.h"

namespace npusim::isa {
namespace {

const std::string kHead =
    ".npus 1.0\n.target line=64\n.region r role=input size=4KiB\n.desc D region=r dtype=i8 box=[64]\n";

Program parse(const std::string& body) {
  return testing::assemble_text(kHead + body, AssembleOptions{false, 0, 20});
}

TEST(Deadlock, BundledTracesAreFree) {
  for (const auto& path : testing::trace_files()) {
    const Program p = assemble_file(path).program;
    EXPECT_FALSE(find_deadlock(p).has_value()) << path;
    EXPECT_FALSE(find_deadlock(p, 1).has_value()) << path << " with queue depth 1";
  }
}

TEST(Deadlock, CycleBetweenTwoEngines_bad) {
  // LOAD waits for the MXU and the MXU waits for LOAD: a cycle regardless of timing.
  const Program p = parse(
      ".sem to_load consumer=load\n.sem to_mxu consumer=mxu\n"
      "load s[0], D !wait(to_load) !sig(to_mxu)\n"
      "matmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(to_mxu) !sig(to_load)\nfinish\n");
  const auto r = find_deadlock(p);
  ASSERT_TRUE(r.has_value());
  const std::string d = r->describe(p);
  EXPECT_NE(d.find("load at load #0 waits for semaphore 'to_load' >= 1 (value 0)"), std::string::npos) << d;
  EXPECT_NE(d.find("signalled by mxu matmul #1"), std::string::npos) << d;
  EXPECT_NE(d.find("mxu at matmul #1 waits for semaphore 'to_mxu' >= 1"), std::string::npos) << d;
  EXPECT_NE(d.find("ctrl at finish #2 waits for every engine to drain (finish)"), std::string::npos) << d;
}

TEST(Deadlock, CountingWaitNeedsEnoughSignals_bad) {
  const Program p =
      parse(".sem s consumer=mxu\nload s[0], D !sig(s)\nmatmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(s,2)\nfinish\n");
  const auto r = find_deadlock(p);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->describe(p).find("'s' >= 2 (value 1); no remaining instruction signals it"), std::string::npos)
      << r->describe(p);
}

TEST(Deadlock, InitialCreditsMakeItFree) {
  const Program p = parse(
      ".sem s consumer=mxu init=1\nload s[0], D !sig(s)\nmatmul acc[0], s[0], s[0], m=1, n=1, k=1 "
      "!wait(s,2)\nfinish\n");
  EXPECT_FALSE(find_deadlock(p).has_value());
}

TEST(Deadlock, SemSetProvidesCredits) {
  const Program p = parse(
      ".sem s consumer=mxu\nsem.set s, 2\nbarrier ctrl\nmatmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(s,2)\nfinish\n");
  EXPECT_FALSE(find_deadlock(p).has_value());
}

TEST(Deadlock, BarrierStopsDispatchOfLaterProducers_bad) {
  // The barrier drains the MXU, whose matmul waits for a load that comes after the barrier:
  // dispatch never reaches the load.
  const Program p = parse(
      ".sem s consumer=mxu\nmatmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(s)\nbarrier mxu\nload s[0], D "
      "!sig(s)\nfinish\n");
  const auto r = find_deadlock(p);
  ASSERT_TRUE(r.has_value());
  const std::string d = r->describe(p);
  EXPECT_NE(d.find("barrier draining mxu"), std::string::npos) << d;
  EXPECT_NE(d.find("load #2 [not dispatched]"), std::string::npos) << d;
  EXPECT_NE(d.find("fetch stopped before load #2"), std::string::npos) << d;
}

TEST(Deadlock, BoundedQueuesCanDeadlockWhereUnboundedDoNot_bad) {
  // Two MXU instructions wait for a load that comes after them. With an MXU queue of one entry
  // the fetch unit stalls on the second matmul and never dispatches the load.
  const Program p = parse(
      ".sem s consumer=mxu\n"
      "matmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(s)\n"
      "matmul acc[0], s[0], s[0], m=1, n=1, k=1\n"
      "load s[0], D !sig(s)\nfinish\n");
  EXPECT_FALSE(find_deadlock(p, 0).has_value());
  EXPECT_FALSE(find_deadlock(p, 2).has_value());
  const auto r = find_deadlock(p, 1);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->fetch_stalled);
  EXPECT_EQ(r->fetch_index, 1u);
}

TEST(Deadlock, AssemblerRejectsWithSourceLines_bad) {
  try {
    testing::assemble_text(kHead +
                           ".sem a consumer=load\n.sem b consumer=mxu\n"
                           "load s[0], D !wait(a) !sig(b)\n"
                           "matmul acc[0], s[0], s[0], m=1, n=1, k=1 !wait(b) !sig(a)\nfinish\n");
    ADD_FAILURE() << "deadlock not reported";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("test.npus:7: error: deadlock"), std::string::npos) << m;
    EXPECT_NE(m.find("load #0 (line 7) waits for semaphore 'a'"), std::string::npos) << m;
    EXPECT_NE(m.find("semaphores: a=0 b=0"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace npusim::isa
