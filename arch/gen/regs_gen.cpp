// regs_gen: derives everything that describes the device registers from arch/regs.yaml:
//   OUT/npusim/regs.h   the C header drivers include (offsets, fields, reset values, enums, structs)
//   OUT/regs_table.inc  the register table the device model is built from
//   OUT/regs_enums.inc  the names of the enums' values (fault types, error codes) for the CLI
//   OUT/registers.md    the reference documentation
// usage: regs_gen regs.yaml OUT_DIR
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Field {
  std::string name, description;
  int hi = 0, lo = 0;
};
struct Reg {
  std::string name, access, description;
  uint32_t offset = 0;
  bool config_reset = false;
  uint64_t reset = 0;
  uint32_t count = 1, stride = 4;
  std::vector<Field> fields;
};

std::string hex(uint64_t v, int w = 4) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%0*llX", w, static_cast<unsigned long long>(v));
  return b;
}

Reg parse_reg(const YAML::Node& n) {
  Reg r;
  r.name = n["name"].as<std::string>();
  r.offset = n["offset"].as<uint32_t>();
  r.access = n["access"].as<std::string>();
  r.description = n["description"].as<std::string>();
  if (n["reset"].as<std::string>() == "config")
    r.config_reset = true;
  else
    r.reset = n["reset"].as<uint64_t>();
  if (n["count"]) r.count = n["count"].as<uint32_t>();
  if (n["stride"]) r.stride = n["stride"].as<uint32_t>();
  if (n["fields"])
    for (const auto& f : n["fields"]) {
      Field x;
      x.name = f["name"].as<std::string>();
      x.description = f["description"].as<std::string>();
      const std::string bits = f["bits"].as<std::string>();
      const auto colon = bits.find(':');
      x.hi = std::stoi(bits.substr(0, colon));
      x.lo = colon == std::string::npos ? x.hi : std::stoi(bits.substr(colon + 1));
      r.fields.push_back(x);
    }
  if (r.access != "RO" && r.access != "RW" && r.access != "W1C" && r.access != "WO")
    throw std::runtime_error(r.name + ": access must be RO, RW, W1C or WO");
  return r;
}

std::string bits_text(const Field& f) {
  return f.hi == f.lo ? std::to_string(f.hi) : std::to_string(f.hi) + ":" + std::to_string(f.lo);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: regs_gen regs.yaml OUT_DIR\n");
    return 2;
  }
  try {
    const YAML::Node root = YAML::LoadFile(argv[1]);
    std::vector<Reg> regs, qregs, doorbells;
    for (const auto& n : root["registers"]) regs.push_back(parse_reg(n));
    const YAML::Node q = root["queues"];
    for (const auto& n : q["registers"]) qregs.push_back(parse_reg(n));
    for (const auto& n : q["doorbells"]) doorbells.push_back(parse_reg(n));
    const uint32_t qcount = q["count"].as<uint32_t>(), qbase = q["base"].as<uint32_t>(),
                   qstride = q["stride"].as<uint32_t>(), dbase = q["doorbell_base"].as<uint32_t>(),
                   dstride = q["doorbell_stride"].as<uint32_t>();
    const std::string out = argv[2];

    // ---- regs.h
    std::ostringstream h;
    h << "/* npusim device registers. Generated from arch/regs.yaml by regs_gen: do not edit. */\n"
      << "#ifndef NPUSIM_REGS_H\n#define NPUSIM_REGS_H\n\n#include <stdint.h>\n\n"
      << "#define NPU_REGS_VERSION " << root["version"].as<int>() << "\n"
      << "#define NPU_MMIO_WINDOW_BYTES " << root["window_bytes"].as<uint32_t>() << "u\n\n"
      << "#ifdef __cplusplus\n#define NPU_STATIC_ASSERT(c, m) static_assert(c, m)\n#else\n"
      << "#define NPU_STATIC_ASSERT(c, m) _Static_assert(c, m)\n#endif\n\n";
    auto emit_fields = [&](const std::string& prefix, const Reg& r) {
      for (const auto& f : r.fields) {
        const uint64_t mask = ((uint64_t{1} << (f.hi - f.lo + 1)) - 1) << f.lo;
        h << "#define " << prefix << "_" << f.name << "_SHIFT " << f.lo << "u\n"
          << "#define " << prefix << "_" << f.name << "_MASK " << hex(mask, 8) << "u /* " << f.description << " */\n";
      }
    };
    for (const auto& r : regs) {
      h << "/* " << r.name << " (" << r.access << "): " << r.description << " */\n";
      if (r.count > 1)
        h << "#define NPU_REG_" << r.name << "(i) (" << hex(r.offset) << "u + (i) * " << r.stride << "u)\n"
          << "#define NPU_REG_" << r.name << "_COUNT " << r.count << "u\n";
      else
        h << "#define NPU_REG_" << r.name << " " << hex(r.offset) << "u\n";
      if (!r.config_reset) h << "#define NPU_RESET_" << r.name << " " << hex(r.reset, 8) << "u\n";
      emit_fields("NPU_" + r.name, r);
    }
    h << "\n/* Ring pair q (0.." << qcount - 1 << ") */\n#define NPU_QUEUES " << qcount << "u\n";
    for (const auto& r : qregs) {
      h << "#define NPU_Q_" << r.name << "(q) (" << hex(qbase) << "u + (q) * " << hex(qstride, 2) << "u + "
        << hex(r.offset, 2) << "u) /* " << r.access << ": " << r.description << " */\n";
    }
    for (const auto& r : doorbells)
      h << "#define NPU_DB_" << r.name << "(q) (" << hex(dbase) << "u + (q) * " << hex(dstride) << "u + "
        << hex(r.offset, 1) << "u) /* " << r.description << " */\n";
    for (const auto& e : root["enums"]) {
      const std::string kind = e.first.as<std::string>();
      const std::string prefix = kind == "error_codes"       ? "NPU_ERR_"
                                 : kind == "job_status"      ? "NPU_JOB_"
                                 : kind == "fault_injection" ? "NPU_FI_"
                                                             : "NPU_PMU_";
      h << "\n/* " << kind << " */\n";
      for (const auto& v : e.second)
        h << "#define " << prefix << v["name"].as<std::string>() << " " << v["value"].as<int>() << "u\n";
    }
    for (const auto& s : root["structs"]) {
      const std::string sname = s.first.as<std::string>();
      h << "\n/* " << s.second["description"].as<std::string>() << " (" << s.second["bytes"].as<int>()
        << " bytes, little-endian) */\ntypedef struct npu_" << sname << "_entry {\n";
      int at = 0, pad = 0;
      for (const auto& f : s.second["fields"]) {
        const int off = f["offset"].as<int>();
        if (off > at) h << "  uint8_t reserved" << pad++ << "[" << off - at << "];\n";
        const std::string t = f["type"].as<std::string>();
        const int bytes = t == "u64" ? 8 : t == "u32" ? 4 : t == "u16" ? 2 : 1;
        h << "  "
          << (t == "u64"   ? "uint64_t"
              : t == "u32" ? "uint32_t"
              : t == "u16" ? "uint16_t"
                           : "uint8_t")
          << " " << f["name"].as<std::string>() << "; /* " << f["description"].as<std::string>() << " */\n";
        at = off + bytes;
      }
      const int total = s.second["bytes"].as<int>();
      if (at < total) h << "  uint8_t reserved" << pad++ << "[" << total - at << "];\n";
      h << "} npu_" << sname << "_entry;\n"
        << "NPU_STATIC_ASSERT(sizeof(npu_" << sname << "_entry) == " << total << ", \"npu_" << sname << "_entry\");\n";
    }
    h << "#define NPU_JOB_MAGIC 0x31424F4Au /* 'JOB1' */\n#define NPU_JOB_FLAG_IRQ_ON_DONE 1u\n";
    h << "\n#endif /* NPUSIM_REGS_H */\n";
    std::ofstream(out + "/npusim/regs.h") << h.str();

    // ---- regs_table.inc (for the device model)
    std::ostringstream t;
    t << "// Generated from arch/regs.yaml by regs_gen: do not edit.\n"
      << "// {name, offset, access, config_reset, reset, count, stride}\n";
    for (const auto& r : regs)
      t << "{\"" << r.name << "\", " << hex(r.offset) << ", Access::" << r.access << ", "
        << (r.config_reset ? "true" : "false") << ", " << hex(r.reset, 8) << "u, " << r.count << ", " << r.stride
        << "},\n";
    for (uint32_t qi = 0; qi < qcount; ++qi) {
      for (const auto& r : qregs)
        t << "{\"Q" << qi << "_" << r.name << "\", " << hex(qbase + qi * qstride + r.offset) << ", Access::" << r.access
          << ", false, " << hex(r.reset, 8) << "u, 1, 4},\n";
      for (const auto& r : doorbells)
        t << "{\"Q" << qi << "_" << r.name << "\", " << hex(dbase + qi * dstride + r.offset) << ", Access::" << r.access
          << ", false, 0x00000000u, 1, 4},\n";
    }
    std::ofstream(out + "/regs_table.inc") << t.str();

    // ---- regs_enums.inc (names of enum values, for tools and messages)
    std::ostringstream en;
    en << "// Generated from arch/regs.yaml by regs_gen: do not edit.\n"
       << "// {enum, name, value, description}\n";
    for (const auto& e : root["enums"])
      for (const auto& v : e.second)
        en << "{\"" << e.first.as<std::string>() << "\", \"" << v["name"].as<std::string>() << "\", "
           << v["value"].as<int>() << "u, \"" << (v["description"] ? v["description"].as<std::string>() : "")
           << "\"},\n";
    std::ofstream(out + "/regs_enums.inc") << en.str();

    // ---- registers.md
    std::ostringstream d;
    d << "# Device registers\n\n<!-- Generated from arch/regs.yaml by regs_gen: do not edit. -->\n\n"
      << "A " << root["window_bytes"].as<uint32_t>() / 1024
      << " KiB MMIO window of 32-bit little-endian registers; 64-bit values are LO/HI pairs. Access: RO "
         "read-only, RW read/write, W1C write 1 to clear, WO write-only (reads 0). `config`: the reset value "
         "follows the configuration. C drivers include `include/npusim/regs.h`.\n\n"
      << "| offset | name | access | reset | description |\n|---|---|---|---|---|\n";
    for (const auto& r : regs) {
      d << "| " << hex(r.offset) << (r.count > 1 ? " + " + std::to_string(r.stride) + "·i" : "") << " | `" << r.name
        << (r.count > 1 ? "[" + std::to_string(r.count) + "]" : "") << "` | " << r.access << " | "
        << (r.config_reset ? std::string("config") : hex(r.reset, 8)) << " | " << r.description;
      for (const auto& f : r.fields) d << "<br>`[" << bits_text(f) << "]` " << f.name << ": " << f.description;
      d << " |\n";
    }
    d << "\n## Ring pairs\n\nQueue q (0.." << qcount - 1 << ") at " << hex(qbase) << " + " << hex(qstride, 2)
      << "·q; its doorbell page at " << hex(dbase) << " + " << hex(dstride) << "·q.\n\n"
      << "| offset | name | access | reset | description |\n|---|---|---|---|---|\n";
    for (const auto& r : qregs)
      d << "| +" << hex(r.offset, 2) << " | `" << r.name << "` | " << r.access << " | " << hex(r.reset, 8) << " | "
        << r.description << " |\n";
    for (const auto& r : doorbells)
      d << "| doorbell +" << hex(r.offset, 1) << " | `" << r.name << "` | " << r.access << " | | " << r.description
        << " |\n";
    for (const auto& e : root["enums"]) {
      d << "\n## " << e.first.as<std::string>() << "\n\n| value | name | meaning |\n|---|---|---|\n";
      for (const auto& v : e.second)
        d << "| " << v["value"].as<int>() << " | " << v["name"].as<std::string>() << " | "
          << (v["description"] ? v["description"].as<std::string>() : "") << " |\n";
    }
    for (const auto& s : root["structs"]) {
      d << "\n## " << s.first.as<std::string>() << " entry (" << s.second["bytes"].as<int>() << " bytes)\n\n"
        << s.second["description"].as<std::string>() << "\n\n| offset | field | type | meaning |\n|---|---|---|---|\n";
      for (const auto& f : s.second["fields"])
        d << "| " << f["offset"].as<int>() << " | " << f["name"].as<std::string>() << " | "
          << f["type"].as<std::string>() << " | " << f["description"].as<std::string>() << " |\n";
    }
    std::ofstream(out + "/registers.md") << d.str();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "regs_gen: %s: %s\n", argv[1], e.what());
    return 1;
  }
  return 0;
}
