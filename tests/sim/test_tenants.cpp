// Tenants files and options (tools/load/tenants.h): the declared keys, their defaults, and errors
// that name the file, the line, the tenant and the key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "sim/npu_config.h"
#include "tools/load/tenants.h"

namespace npusim {
namespace {

/// This process's folder of tenants files, removed when the process ends.
const std::filesystem::path& folder() {
  static const struct Folder {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("npusim_tenants_" + std::to_string(::getpid()));
    ~Folder() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } f;
  return f.path;
}

/// A tenants file with `text` (in a subfolder, so that `../` paths have somewhere to go); returns its path.
std::string tenants_file(const std::string& text) {
  const auto& dir = folder();
  std::filesystem::create_directories(dir / "sub");
  const std::string path = (dir / "sub" / "tenants.yaml").string();
  std::ofstream(path) << text;
  return path;
}

/// The message of the error loading `text` throws ("" when none).
std::string load_error(const std::string& text, const std::map<std::string, std::string>& defaults = {}) {
  try {
    load_tenants_file(tenants_file(text), defaults);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Tenants, KeysTakeTheirDeclaredDefaults) {
  const auto ts = load_tenants_file(tenants_file("tenants:\n  - {model: m.npub}\n"), {});
  ASSERT_EQ(ts.size(), 1u);
  const Tenant& t = ts[0].tenant;
  EXPECT_EQ(t.name, "default");
  EXPECT_EQ(t.load.rate_per_s, 100);
  EXPECT_EQ(t.load.arrivals, "poisson");
  EXPECT_EQ(t.load.duration_s, 10);
  EXPECT_EQ(t.load.on_s, 1);
  EXPECT_EQ(t.load.off_s, 1);
  EXPECT_EQ(t.load.max_batch, 1u);
  EXPECT_EQ(t.load.max_wait_s, 0);
  EXPECT_EQ(t.load.seed, 1u);
  EXPECT_EQ(t.priority, 0);
  EXPECT_EQ(t.slice_s, 0);
  EXPECT_EQ(ts[0].precision, "fp16");
}

TEST(Tenants, EveryKeyIsRead) {
  const auto ts = load_tenants_file(
      tenants_file("tenants:\n"
                   "  - {name: a, model: ../m.onnx, rate: 300/s, arrivals: onoff, on: 2ms, off: 3ms, max_batch: 8,\n"
                   "     max_wait: 100us, priority: -5, slice: 1ms, seed: 18446744073709551615, precision: bf16,\n"
                   "     duration: 2s}\n"
                   "  - {name: b, model: /abs/m.npub, rate: 7, arrivals: 'trace:t.csv'}\n"),
      {{"duration", "5s"}});
  ASSERT_EQ(ts.size(), 2u);
  const Tenant& a = ts[0].tenant;
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.load.rate_per_s, 300);
  EXPECT_EQ(a.load.arrivals, "onoff");
  EXPECT_DOUBLE_EQ(a.load.on_s, 2e-3);
  EXPECT_DOUBLE_EQ(a.load.off_s, 3e-3);
  EXPECT_EQ(a.load.max_batch, 8u);
  EXPECT_DOUBLE_EQ(a.load.max_wait_s, 100e-6);
  EXPECT_EQ(a.priority, -5);
  EXPECT_DOUBLE_EQ(a.slice_s, 1e-3);
  EXPECT_EQ(a.load.seed, 18446744073709551615ull);
  EXPECT_EQ(ts[0].precision, "bf16");
  EXPECT_EQ(a.load.duration_s, 2);  // its own, not the default
  // Paths are relative to the file; the default duration stands in for an absent key.
  EXPECT_EQ(std::filesystem::path(ts[0].model).filename(), "m.onnx");
  EXPECT_EQ(ts[0].model.find(".."), std::string::npos) << ts[0].model;  // lexically normal
  EXPECT_EQ(ts[1].model, "/abs/m.npub");
  EXPECT_EQ(ts[1].tenant.load.rate_per_s, 7);
  EXPECT_EQ(ts[1].tenant.load.duration_s, 5);
  EXPECT_NE(ts[1].tenant.load.arrivals.find("/sub/t.csv"), std::string::npos) << ts[1].tenant.load.arrivals;
}

TEST(Tenants, ErrorsNameTheFileLineTenantAndKey) {
  const std::string e = load_error("tenants:\n  - {model: m.npub}\n  - {name: bulk, model: m.npub, max_wait: soon}\n");
  EXPECT_NE(e.find("tenants.yaml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("error: tenant 1 (bulk): max_wait: expected a time"), std::string::npos) << e;
  const std::string u = load_error("tenants:\n  - {model: m.npub, colour: red}\n");
  EXPECT_NE(u.find("tenants.yaml:2:"), std::string::npos) << u;
  EXPECT_NE(u.find("tenant 0: unknown key 'colour'"), std::string::npos) << u;
  EXPECT_NE(load_error("tenants:\n  - {name: x}\n").find("tenant 0 (x): missing required key 'model'"),
            std::string::npos);
  EXPECT_NE(load_error("tenants:\n  - {model: m.npub}\n  - {model: m.npub}\n")
                .find("tenant 1: name 'default' is taken by tenant 0"),
            std::string::npos);
  EXPECT_NE(load_error("tenants:\n  - {model: m.npub, priority: 1001}\n").find("priority: expected an integer"),
            std::string::npos);
  EXPECT_NE(load_error("tenants:\n  - {model: m.npub, arrivals: 'trace:'}\n").find("arrivals: expected poisson"),
            std::string::npos);
  EXPECT_NE(load_error("other: 1\n").find("unknown key 'other'"), std::string::npos);
  EXPECT_NE(load_error("tenants:\n  - {model: m.npub}\n", {{"duration", "soon"}}).find("--duration: expected a time"),
            std::string::npos);
}

TEST(Tenants, OptionsGoThroughTheSameDeclarations) {
  const TenantSpec t = tenant_from_options({{"model", "m.npub"}, {"max_batch", "4"}, {"rate", "20/s"}});
  EXPECT_EQ(t.tenant.load.max_batch, 4u);
  EXPECT_EQ(t.tenant.load.rate_per_s, 20);
  EXPECT_EQ(t.tenant.load.duration_s, 10);
  try {
    tenant_from_options({{"model", "m.npub"}, {"max_batch", "65"}});
    FAIL() << "max_batch 65 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--max-batch: expected an integer in [1, 64], got '65'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace npusim
