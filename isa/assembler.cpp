// `.npus` assembler. Structure: a line lexer (asm_lexer.h), a parser per directive, and one generic
// instruction parser driven by the ISA tables, so a new instruction in isa.yaml needs no code here.
#include "isa/assembler.h"

#include <Eigen/Core>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "isa/asm_lexer.h"
#include "isa/deadlock.h"
#include "isa/diag.h"
#include "isa/npub.h"
#include "isa_ops.h"

namespace npusim::isa {
namespace {

using namespace asm_text;  // NOLINT: the lexer is this file's own vocabulary

/// SplitMix64: the documented generator behind `.data ... random` (Steele et al., 2014).
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Assembler {
 public:
  Assembler(std::string path, AssembleOptions opts) : path_(std::move(path)), opts_(opts) {
    dir_ = path_.find('/') == std::string::npos ? "" : path_.substr(0, path_.rfind('/') + 1);
  }

  AssembleResult run(const std::string& source) {
    std::istringstream in(source);
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      line_ = lineno;
      try {
        do_line(line);
      } catch (const LineError& e) {
        error(lineno, e.col, e.msg);
        if (static_cast<int>(errors_.size()) >= opts_.max_errors) break;
      }
    }
    if (errors_.empty()) finish_program();
    if (!errors_.empty()) {
      std::string all;
      for (const auto& e : errors_) all += (all.empty() ? "" : "\n") + e;
      throw InputError(all);
    }
    return {std::move(prog_), std::move(lines_)};
  }

 private:
  void error(int line, int col, const std::string& msg) {
    std::string loc = path_ + ":" + std::to_string(line);
    if (col > 0) loc += ":" + std::to_string(col);
    errors_.push_back(loc + ": error: " + msg);
  }

  void do_line(const std::string& line) {
    Cursor c(lex(line));
    if (c.at_end()) return;
    // Label: ident ':' at the start of the line.
    if (c.peek().kind == Tok::Ident && c.is_punct(":", 1) && c.peek().text[0] != '.') {
      const Token name = c.next();
      c.next();
      for (const auto& l : pending_labels_)
        if (l.name == name.text) fail_at(name, "label '" + name.text + "' given twice");
      if (label_names_.count(name.text)) fail_at(name, "label '" + name.text + "' already defined");
      label_names_.insert(name.text);
      pending_labels_.push_back({name.text, 0});
      if (c.at_end()) return;
    }
    const Token head = c.peek();
    if (head.kind != Tok::Ident) fail_at(head, "expected a directive or an instruction" + Cursor::describe(head));
    if (head.text[0] == '.') {
      c.next();
      directive(head, c);
    } else {
      instruction(c);
    }
    if (!c.at_end()) fail_at(c.peek(), "unexpected '" + c.peek().text + "' at the end of the line");
  }

  // ---------------------------------------------------------------- directives
  void directive(const Token& d, Cursor& c) {
    if (!prog_.text.empty() && d.text != ".marker")
      fail_at(d, "directive " + d.text + " after the first instruction (declarations come first)");
    if (d.text == ".npus") {
      const Token v = c.next();
      if (v.kind != Tok::Number || (v.text != "1" && v.text.rfind("1.", 0) != 0))
        fail_at(v, "unsupported .npus version '" + v.text + "' (this assembler reads 1.x)");
    } else if (d.text == ".target") {
      target(c);
    } else if (d.text == ".region") {
      region(c);
    } else if (d.text == ".data") {
      data(c);
    } else if (d.text == ".desc") {
      desc(c);
    } else if (d.text == ".param") {
      param(c);
    } else if (d.text == ".io") {
      io(c);
    } else if (d.text == ".sem") {
      sem(c);
    } else if (d.text == ".marker") {
      const Token name = c.next();
      if (name.kind != Tok::Ident) fail_at(name, "expected a marker name");
      if (marker_ids_.count(name.text)) fail_at(name, "marker '" + name.text + "' already declared");
      marker_id(name.text);
    } else {
      fail_at(d, "unknown directive '" + d.text +
                     "' (expected .npus, .target, .region, .data, .desc, .param, .io, .sem or .marker)");
    }
  }

  void target(Cursor& c) {
    if (target_seen_) fail_at(c.peek(), ".target given twice");
    target_seen_ = true;
    Token key;
    std::map<std::string, int> seen;
    Target& t = prog_.target;
    while (KeyValues::next_key(c, key)) {
      check_key(key, {"mxu", "spad", "acc", "line", "dtypes", "lanes", "hash"}, seen);
      if (key.text == "mxu") {
        const Token v = c.next();
        unsigned r = 0, cc = 0;
        char extra;
        if (v.kind != Tok::Number || std::sscanf(v.text.c_str(), "%ux%u%c", &r, &cc, &extra) != 2 || !r || !cc ||
            r > 65535 || cc > 65535)
          fail_at(v, "mxu expects ROWSxCOLS, e.g. 16x16" + Cursor::describe(v));
        t.mxu_rows = static_cast<uint16_t>(r);
        t.mxu_cols = static_cast<uint16_t>(cc);
      } else if (key.text == "spad") {
        t.spad_bytes = static_cast<uint32_t>(c.integer("spad", 0, UINT32_MAX));
      } else if (key.text == "acc") {
        t.acc_bytes = static_cast<uint32_t>(c.integer("acc", 0, UINT32_MAX));
      } else if (key.text == "line") {
        const Token v = c.peek();
        t.line_bytes = static_cast<uint32_t>(c.integer("line", 1, 4096));
        if (t.line_bytes & (t.line_bytes - 1)) fail_at(v, "line must be a power of two");
      } else if (key.text == "lanes") {
        t.vpu_lanes = static_cast<uint16_t>(c.integer("lanes", 0, 65535));
      } else if (key.text == "hash") {
        t.config_hash = c.unsigned64("hash");
      } else {
        do {
          const Token v = c.next();
          int found = -1;
          for (int i = 0; i < spec().dtype_count; ++i)
            if (v.text == spec().dtypes[i].name) found = i;
          if (found < 0) fail_at(v, "unknown dtype '" + v.text + "' (expected i8, u8, fp16 or bf16)");
          t.dtype_mask |= static_cast<uint8_t>(1u << found);
        } while (c.accept("|"));
      }
    }
    if (!t.line_bytes) fail_at(key, ".target needs line=<bytes>");
  }

  uint8_t lookup_region(const Token& t) {
    for (size_t i = 0; i < prog_.regions.size(); ++i)
      if (prog_.regions[i].name == t.text) return static_cast<uint8_t>(i);
    fail_at(t, "unknown region '" + t.text + "' (declare it with .region first)");
  }

  void region(Cursor& c) {
    const Token name = c.next();
    if (name.kind != Tok::Ident) fail_at(name, "expected a region name");
    for (const auto& r : prog_.regions)
      if (r.name == name.text) fail_at(name, "region '" + name.text + "' already declared");
    if (prog_.regions.size() >= spec().max_regions)
      fail_at(name, "too many regions (at most " + std::to_string(spec().max_regions) + ")");
    Region r;
    r.name = name.text;
    Token key;
    std::map<std::string, int> seen;
    while (KeyValues::next_key(c, key)) {
      check_key(key, {"role", "size", "align"}, seen);
      if (key.text == "role") {
        const Token v = c.next();
        if (!region_role_from_name(v.text, r.role))
          fail_at(v, "unknown role '" + v.text + "' (expected input, output, scratch or const)");
      } else if (key.text == "size") {
        r.size = static_cast<uint64_t>(c.integer("size", 1, INT64_MAX));
      } else {
        const Token v = c.peek();
        r.align = static_cast<uint32_t>(c.integer("align", 1, 1 << 30));
        if (r.align & (r.align - 1)) fail_at(v, "align must be a power of two");
      }
    }
    if (!seen.count("role")) fail_at(key, ".region needs role=");
    if (!seen.count("size")) fail_at(key, ".region needs size=");
    prog_.regions.push_back(r);
    region_data_.emplace_back();
  }

  void data(Cursor& c) {
    const Token name = c.next();
    const uint8_t rid = lookup_region(name);
    Region& r = prog_.regions[rid];
    if (r.role != RegionRole::Const && r.role != RegionRole::Scratch)
      fail_at(name, "region '" + r.name + "' is " + region_role_name(r.role) +
                        ": only const and scratch regions have initial contents");
    uint64_t at = 0;
    if (c.peek().kind == Tok::Ident && c.peek().text == "at") {
      c.next();
      c.expect("=", "after at");
      at = static_cast<uint64_t>(c.integer("at", 0, INT64_MAX));
    }
    const Token how = c.next();
    std::vector<uint8_t> bytes;
    if (how.text == "hex") {
      const Token s = c.peek();
      const std::string h = c.string("hex");
      if (h.size() % 2) fail_at(s, "hex string has an odd number of digits");
      for (size_t i = 0; i < h.size(); i += 2) {
        int64_t v;
        if (!std::isxdigit(static_cast<unsigned char>(h[i])) || !std::isxdigit(static_cast<unsigned char>(h[i + 1])) ||
            !parse_int_text("0x" + h.substr(i, 2), v))
          fail_at(s, "invalid hex digits '" + h.substr(i, 2) + "'");
        bytes.push_back(static_cast<uint8_t>(v));
      }
    } else if (how.text == "file") {
      c.expect("=", "after file");
      const Token s = c.peek();
      std::string f = c.string("file");
      if (!opts_.allow_files) fail_at(s, "file= is disabled here");
      if (!f.empty() && f[0] != '/') f = dir_ + f;
      try {  // at most what the region and the data limit leave, checked before reading
        const uint64_t room = std::min<uint64_t>(opts_.max_data_bytes - std::min(at, opts_.max_data_bytes),
                                                 r.size - std::min(at, r.size));
        bytes = read_file_bytes(f, "data file", room);
      } catch (const InputError& e) {
        fail_at(s, e.what());
      }
    } else if (how.text == "random") {
      random_data(c, bytes);
    } else {
      fail_at(how, "expected hex \"...\", file=\"...\" or random after the region name" + Cursor::describe(how));
    }
    if (at > opts_.max_data_bytes || bytes.size() > opts_.max_data_bytes - at)
      fail_at(name, "initial contents of region '" + r.name + "' would exceed " + std::to_string(opts_.max_data_bytes) +
                        " bytes");
    if (at > r.size || bytes.size() > r.size - at)
      fail_at(name, "data (" + std::to_string(bytes.size()) + " bytes at " + std::to_string(at) + ") exceeds region '" +
                        r.name + "' (" + std::to_string(r.size) + " bytes)");
    auto& img = region_data_[rid];
    if (img.empty() && at == 0) {  // the region's first contents: the bytes themselves (a file's can be large)
      img = std::move(bytes);
    } else {
      if (img.size() < at + bytes.size()) img.resize(at + bytes.size());
      std::copy(bytes.begin(), bytes.end(), img.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }

  /// random seed=S count=N [dtype=T] [lo=L] [hi=H]: N elements of type T uniform in [lo, hi].
  void random_data(Cursor& c, std::vector<uint8_t>& bytes) {
    Token key;
    std::map<std::string, int> seen;
    uint64_t seed = 0, count = 0;
    TensorType dt = TensorType::I8;
    double lo = 0, hi = 0;
    while (KeyValues::next_key(c, key)) {
      check_key(key, {"seed", "count", "dtype", "lo", "hi"}, seen);
      if (key.text == "seed")
        seed = c.unsigned64("seed");
      else if (key.text == "count")
        count = static_cast<uint64_t>(c.integer("count", 1, 1 << 28));
      else if (key.text == "lo")
        lo = c.real("lo");
      else if (key.text == "hi")
        hi = c.real("hi");
      else {
        const Token v = c.next();
        if (!tensor_type_from_name(v.text, dt)) fail_at(v, "unknown dtype '" + v.text + "'");
      }
    }
    if (!seen.count("seed") || !seen.count("count")) fail_at(key, "random needs seed= and count=");
    if (count * tensor_type_bytes(dt) > opts_.max_data_bytes)
      fail_at(key, "random data of " + std::to_string(count * tensor_type_bytes(dt)) + " bytes exceeds the limit of " +
                       std::to_string(opts_.max_data_bytes));
    const bool is_float = dt == TensorType::FP16 || dt == TensorType::BF16 || dt == TensorType::FP32;
    // The full range of each integer type (the default for integers; [-1, 1] for floats).
    static const double kLo[] = {-128, 0, -32768, -2147483648.0, -1, -1, -1};
    static const double kHi[] = {127, 255, 32767, 2147483647.0, 1, 1, 1};
    const auto t = static_cast<int>(dt);
    if (!seen.count("lo") && !seen.count("hi")) lo = kLo[t], hi = kHi[t];
    if (!(lo <= hi)) fail_at(key, "random: lo must not exceed hi");
    if (!is_float && (lo != std::floor(lo) || hi != std::floor(hi)))
      fail_at(key, "random: integer types need integer lo/hi");
    if (!is_float && (lo < kLo[t] || hi > kHi[t]))
      fail_at(key, "random: lo/hi outside the range of " + std::string(tensor_type_name(dt)) + " [" +
                       std::to_string(static_cast<int64_t>(kLo[t])) + ", " +
                       std::to_string(static_cast<int64_t>(kHi[t])) + "]");
    if (is_float && !(std::isfinite(lo) && std::isfinite(hi))) fail_at(key, "random: lo and hi must be finite");
    uint64_t state = seed;
    const unsigned es = tensor_type_bytes(dt);
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t u = splitmix64(state);
      uint64_t bits;
      if (is_float) {
        // 53 uniform bits → [0, 1), scaled; exact IEEE double arithmetic, so portable.
        const double x = lo + (hi - lo) * (static_cast<double>(u >> 11) * 0x1.0p-53);
        const float f = static_cast<float>(x);
        if (dt == TensorType::FP16)
          bits = Eigen::numext::bit_cast<uint16_t>(Eigen::half(f));
        else if (dt == TensorType::BF16)
          bits = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(f));
        else
          bits = Eigen::numext::bit_cast<uint32_t>(f);
      } else {
        const auto span = static_cast<uint64_t>(hi - lo) + 1;  // <= 2^32
        bits = static_cast<uint64_t>(static_cast<int64_t>(lo) + static_cast<int64_t>(u % span));
      }
      for (unsigned b = 0; b < es; ++b) bytes.push_back(static_cast<uint8_t>(bits >> (8 * b)));
    }
  }

  void desc(Cursor& c) {
    const Token name = c.next();
    if (name.kind != Tok::Ident) fail_at(name, "expected a descriptor name");
    if (desc_ids_.count(name.text)) fail_at(name, "descriptor '" + name.text + "' already declared");
    TensorDesc d;
    d.name = name.text;
    Token key;
    std::map<std::string, int> seen;
    std::vector<int64_t> box, stride;
    while (KeyValues::next_key(c, key)) {
      check_key(key, {"region", "dtype", "box", "stride", "offset", "zp"}, seen);
      if (key.text == "region")
        d.region = lookup_region(c.next());
      else if (key.text == "dtype") {
        const Token v = c.next();
        if (!tensor_type_from_name(v.text, d.dtype))
          fail_at(v, "unknown dtype '" + v.text + "' (i8, u8, i16, i32, fp16, bf16, fp32)");
      } else if (key.text == "box")
        box = c.int_list("box", 1, UINT32_MAX, 4);
      else if (key.text == "stride")
        stride = c.int_list("stride", 0, INT64_MAX, 3);
      else if (key.text == "offset")
        d.offset = static_cast<uint64_t>(c.integer("offset", 0, INT64_MAX));
      else
        d.zero_point = static_cast<int32_t>(c.integer("zp", INT32_MIN, INT32_MAX));
    }
    if (!seen.count("region") || !seen.count("dtype") || !seen.count("box"))
      fail_at(key, ".desc needs region=, dtype= and box=[...]");
    if (box.empty()) fail_at(key, "box needs 1 to 4 extents");
    d.rank = static_cast<uint8_t>(box.size());
    for (size_t i = 0; i < box.size(); ++i) d.box[i] = static_cast<uint32_t>(box[i]);
    if (!seen.count("stride")) {
      // Dense: each dimension packed right after the previous one.
      int64_t s = tensor_type_bytes(d.dtype) * static_cast<int64_t>(d.box[0]);
      for (size_t i = 1; i < box.size(); ++i) {
        stride.push_back(s);
        s *= box[i];
      }
    }
    if (stride.size() != box.size() - 1)
      fail_at(key,
              "stride needs " + std::to_string(box.size() - 1) + " entries (one per box dimension after the first)");
    for (size_t i = 0; i < stride.size(); ++i) d.stride[i] = stride[i];
    if (prog_.descs.size() >= spec().max_descriptors) fail_at(name, "too many descriptors");
    desc_ids_[d.name] = static_cast<uint32_t>(prog_.descs.size());
    prog_.descs.push_back(d);
  }

  void param(Cursor& c) {
    const Token name = c.next();
    if (name.kind != Tok::Ident) fail_at(name, "expected a parameter name");
    if (param_ids_.count(name.text)) fail_at(name, "parameter '" + name.text + "' already declared");
    const Token kind = c.next();
    const ParamKindSpec* k = find_param_kind(kind.text);
    if (!k) {
      std::string kinds;
      for (int i = 0; i < spec().param_count; ++i) kinds += (i ? ", " : "") + std::string(spec().params[i].name);
      fail_at(kind, "unknown parameter kind '" + kind.text + "' (expected " + kinds + ")");
    }
    Param p;
    p.name = name.text;
    p.bytes[0] = k->kind;
    Token key;
    std::map<std::string, int> seen;
    while (KeyValues::next_key(c, key)) {
      // `scale=` is the readable form of a requant multiplier in fp32 mode.
      if (k->kind == params::requant::kKind && key.text == "scale") {
        if (seen["multiplier"]++ || seen["scale"]++) fail_at(key, "multiplier/scale given twice");
        const float f = c.real32("scale");
        put32(p, params::requant::multiplier, Eigen::numext::bit_cast<uint32_t>(f));
        continue;
      }
      const ParamFieldSpec* f = nullptr;
      for (int i = 0; i < k->field_count; ++i)
        if (key.text == k->fields[i].name) f = &k->fields[i];
      if (!f) {
        std::string names;
        for (int i = 0; i < k->field_count; ++i) names += (i ? ", " : "") + std::string(k->fields[i].name);
        fail_at(key, "unknown field '" + key.text + "' for a " + k->name + " parameter (expected " + names + ")");
      }
      if (seen[key.text]++) fail_at(key, "field '" + key.text + "' given twice");
      switch (f->type) {
        case ParamType::U8: p.bytes[f->offset] = static_cast<uint8_t>(c.integer(f->name, 0, 255)); break;
        case ParamType::U16: {
          const auto v = static_cast<uint16_t>(c.integer(f->name, 0, 65535));
          p.bytes[f->offset] = static_cast<uint8_t>(v);
          p.bytes[f->offset + 1] = static_cast<uint8_t>(v >> 8);
          break;
        }
        case ParamType::I32:
          put32(p, f->offset, static_cast<uint32_t>(c.integer(f->name, INT32_MIN, INT32_MAX)));
          break;
        case ParamType::U32: put32(p, f->offset, static_cast<uint32_t>(c.integer(f->name, 0, UINT32_MAX))); break;
        case ParamType::F32: put32(p, f->offset, Eigen::numext::bit_cast<uint32_t>(c.real32(f->name))); break;
        case ParamType::Region: p.bytes[f->offset] = lookup_region(c.next()); break;
        case ParamType::Enum: {
          const Token v = c.next();
          int found = -1;
          for (int i = 0; i < f->enum_count; ++i)
            if (v.text == f->enum_values[i]) found = i;
          if (found < 0) fail_at(v, "invalid value '" + v.text + "' for " + f->name);
          p.bytes[f->offset] = static_cast<uint8_t>(found);
          break;
        }
      }
    }
    if (prog_.params.size() >= spec().max_params) fail_at(name, "too many parameters");
    param_ids_[p.name] = static_cast<uint32_t>(prog_.params.size());
    prog_.params.push_back(p);
  }

  static void put32(Param& p, int off, uint32_t v) {
    for (int i = 0; i < 4; ++i) p.bytes[off + i] = static_cast<uint8_t>(v >> (8 * i));
  }

  void io(Cursor& c) {
    const Token name = c.next();
    if (name.kind != Tok::Ident) fail_at(name, "expected a tensor name");
    for (const auto& t : prog_.io)
      if (t.name == name.text) fail_at(name, "I/O tensor '" + name.text + "' already declared");
    IoTensor t;
    t.name = name.text;
    Token key;
    std::map<std::string, int> seen;
    while (KeyValues::next_key(c, key)) {
      check_key(key, {"region", "dtype", "shape", "offset", "scale", "zp", "host", "layout"}, seen);
      if (key.text == "region") {
        const Token rt = c.peek();
        t.region = lookup_region(c.next());
        const RegionRole role = prog_.regions[t.region].role;
        if (role != RegionRole::Input && role != RegionRole::Output)
          fail_at(rt, "region '" + rt.text + "' is " + region_role_name(role) +
                          "; I/O tensors live in input or output regions");
      } else if (key.text == "dtype") {
        const Token v = c.next();
        if (!tensor_type_from_name(v.text, t.dtype)) fail_at(v, "unknown dtype '" + v.text + "'");
      } else if (key.text == "shape") {
        const auto dims = c.int_list("shape", 1, UINT32_MAX, 4);
        if (dims.empty()) fail_at(key, "shape needs 1 to 4 dimensions");
        t.rank = static_cast<uint8_t>(dims.size());
        for (size_t i = 0; i < dims.size(); ++i) t.dims[i] = static_cast<uint32_t>(dims[i]);
      } else if (key.text == "offset") {
        t.offset = static_cast<uint64_t>(c.integer("offset", 0, INT64_MAX));
      } else if (key.text == "scale") {
        const Token v = c.peek();
        t.scale = c.real32("scale");
        if (!(t.scale > 0) || !std::isfinite(t.scale)) fail_at(v, "scale must be finite and positive");
      } else if (key.text == "host") {
        const Token v = c.next();
        if (!host_type_from_name(v.text, t.host_type))
          fail_at(v, "unknown host type '" + v.text + "' (expected device, f32, i64 or bool)");
      } else if (key.text == "layout") {
        const Token v = c.next();
        if (v.text != "nchw" && v.text != "device")
          fail_at(v, "unknown layout '" + v.text + "' (expected nchw or device)");
        t.host_nchw = v.text == "nchw";
      } else {
        t.zero_point = static_cast<int32_t>(c.integer("zp", INT32_MIN, INT32_MAX));
      }
    }
    if (!seen.count("region") || !seen.count("dtype") || !seen.count("shape"))
      fail_at(key, ".io needs region=, dtype= and shape=[...]");
    if (t.host_nchw && t.rank != 4) fail_at(key, ".io layout=nchw needs a rank-4 shape");
    prog_.io.push_back(t);
  }

  void sem(Cursor& c) {
    const Token name = c.next();
    if (name.kind != Tok::Ident) fail_at(name, "expected a semaphore name");
    if (sem_ids_.count(name.text)) fail_at(name, "semaphore '" + name.text + "' already declared");
    if (prog_.sems.size() >= spec().max_semaphores)
      fail_at(name, "too many semaphores (at most " + std::to_string(spec().max_semaphores) + ")");
    SemDecl s;
    s.name = name.text;
    Token key;
    std::map<std::string, int> seen;
    while (KeyValues::next_key(c, key)) {
      check_key(key, {"consumer", "init"}, seen);
      if (key.text == "consumer") {
        const Token v = c.next();
        if (!engine_from_name(v.text, s.consumer))
          fail_at(v, "unknown engine '" + v.text + "' (ctrl, load, store, mxu, vpu)");
      } else {
        s.init = static_cast<uint16_t>(c.integer("init", 0, spec().semaphore_max));
      }
    }
    if (!seen.count("consumer")) fail_at(key, ".sem needs consumer=<engine>");
    sem_ids_[s.name] = static_cast<uint32_t>(prog_.sems.size());
    prog_.sems.push_back(s);
  }

  uint32_t marker_id(const std::string& name) {
    auto it = marker_ids_.find(name);
    if (it != marker_ids_.end()) return it->second;
    const auto id = static_cast<uint32_t>(prog_.markers.size());
    marker_ids_[name] = id;
    prog_.markers.push_back(name);
    return id;
  }

  uint32_t lookup_id(const Token& t, const std::map<std::string, uint32_t>& ids, const char* what,
                     const char* directive) {
    auto it = ids.find(t.text);
    if (t.kind != Tok::Ident || it == ids.end())
      fail_at(t, std::string("unknown ") + what + " '" + t.text + "' (declare it with " + directive + " first)");
    return it->second;
  }

  // ---------------------------------------------------------------- instructions
  void instruction(Cursor& c) {
    const Token mnem = c.next();
    const InstrSpec* in = find_instr(mnem.text);
    if (!in) fail_at(mnem, "unknown instruction '" + mnem.text + "'");
    Instruction inst;
    inst.w[0] = in->opcode;
    std::vector<bool> given(in->field_count, false);
    // Optional params default to "none".
    for (int i = 0; i < in->field_count; ++i)
      if (in->fields[i].kind == FieldKind::Param && in->fields[i].optional) inst.set(in->fields[i].bits, kNoParam);
    size_t positional = 0;
    bool first = true;
    while (!c.at_end() && !c.is_punct("!")) {
      if (!first) c.expect(",", "between operands");
      first = false;
      const Token t = c.peek();
      if (t.kind == Tok::Ident && c.is_punct("=", 1)) {
        const FieldSpec* f = find_field(*in, t.text);
        if (!f || f->implied)
          fail_at(t, std::string(in->name) + " has no operand '" + t.text + "'" + operand_list(*in));
        c.next();
        c.next();
        set_field(inst, *in, *f, c, given);
      } else if (const FieldSpec* flag = bare_flag(*in, t)) {
        mark_given(t, *in, *flag, given);
        inst.set(flag->bits, 1);
        c.next();
      } else if (next_positional(*in, given, positional)) {
        set_field(inst, *in, in->fields[in->syntax[positional]], c, given);
      } else {
        fail_at(t, std::string("unexpected operand '") + t.text + "' for " + in->name + operand_list(*in));
      }
    }
    for (size_t i = 0; i < in->syntax_count; ++i)
      if (!given[in->syntax[i]])
        fail_at(c.peek(), std::string(in->name) + ": missing operand '" + in->fields[in->syntax[i]].name + "'" +
                              operand_list(*in));
    // Required fields: counts, descs, non-optional params, enum-less ids named in syntax.
    for (int i = 0; i < in->field_count; ++i) {
      const FieldSpec& f = in->fields[i];
      const bool required = f.kind == FieldKind::Count || f.kind == FieldKind::Desc ||
                            f.kind == FieldKind::EngineMask || (f.kind == FieldKind::Param && !f.optional);
      if (required && !given[i])
        fail_at(mnem, std::string(in->name) + ": missing operand '" + f.name + "'" + operand_list(*in));
    }
    // Header suffixes.
    while (c.accept("!")) {
      const Token s = c.next();
      if (s.text == "wait") {
        if (inst.get(header::wait_en)) fail_at(s, "only one !wait per instruction");
        c.expect("(", "after !wait");
        const uint32_t id = lookup_id(c.next(), sem_ids_, "semaphore", ".sem");
        uint32_t n = 1;
        if (c.accept(",")) n = static_cast<uint32_t>(c.integer("wait count", 1, 8));
        c.expect(")", "to close !wait");
        if (prog_.sems[id].consumer != in->engine)
          fail_at(s, std::string(in->name) + " runs on " + engine_name(in->engine) + " but semaphore '" +
                         prog_.sems[id].name + "' is consumed by " + engine_name(prog_.sems[id].consumer) +
                         " (one consumer per semaphore)");
        inst.set(header::wait_en, 1);
        inst.set(header::wait_sem, id);
        inst.set(header::wait_cnt, n - 1);
      } else if (s.text == "sig") {
        if (inst.get(header::sig_en)) fail_at(s, "only one !sig per instruction");
        c.expect("(", "after !sig");
        const uint32_t id = lookup_id(c.next(), sem_ids_, "semaphore", ".sem");
        c.expect(")", "to close !sig");
        inst.set(header::sig_en, 1);
        inst.set(header::sig_sem, id);
      } else if (s.text == "irq") {
        inst.set(header::irq, 1);
      } else {
        fail_at(s, "unknown suffix '!" + s.text + "' (expected !wait(sem[,n]), !sig(sem) or !irq)");
      }
    }
    for (auto& l : pending_labels_) {
      l.index = static_cast<uint32_t>(prog_.text.size());
      prog_.labels.push_back(l);
    }
    pending_labels_.clear();
    prog_.text.push_back(inst);
    lines_.push_back(line_);
  }

  /// The flag field a bare identifier names, or nullptr.
  static const FieldSpec* bare_flag(const InstrSpec& in, const Token& t) {
    if (t.kind != Tok::Ident) return nullptr;
    const FieldSpec* f = find_field(in, t.text);
    return f && f->kind == FieldKind::Flag && !f->implied ? f : nullptr;
  }

  /// Advances `pos` to the next positional operand not yet given by keyword; false when none is left.
  static bool next_positional(const InstrSpec& in, const std::vector<bool>& given, size_t& pos) {
    while (pos < in.syntax_count && given[in.syntax[pos]]) ++pos;
    return pos < in.syntax_count;
  }

  static std::string operand_list(const InstrSpec& in) {
    std::string s = " (operands:";
    for (int i = 0; i < in.field_count; ++i)
      if (!in.fields[i].implied) s += std::string(" ") + in.fields[i].name;
    return s + ")";
  }

  void mark_given(const Token& t, const InstrSpec& in, const FieldSpec& f, std::vector<bool>& given) {
    const auto i = static_cast<size_t>(&f - in.fields);
    if (given[i]) fail_at(t, std::string(in.name) + ": operand '" + f.name + "' given twice");
    given[i] = true;
  }

  void set_field(Instruction& inst, const InstrSpec& in, const FieldSpec& f, Cursor& c, std::vector<bool>& given) {
    const Token t = c.peek();
    mark_given(t, in, f, given);
    const int64_t max = static_cast<int64_t>(f.bits.mask());
    auto range_error = [&](int64_t v) {
      fail_at(t, std::string(in.name) + ": " + f.name + "=" + std::to_string(v) + " does not fit the " +
                     std::to_string(f.bits.width) + "-bit field (max " + std::to_string(max) + ")");
    };
    uint32_t v = 0;
    switch (f.kind) {
      case FieldKind::Uint:
      case FieldKind::Count: {
        int64_t x;
        if (t.kind != Tok::Number || !parse_int_text(t.text, x))
          fail_at(t, std::string("expected a number for ") + f.name + Cursor::describe(t));
        if (x < (f.kind == FieldKind::Count ? 1 : 0) || x > max) {
          if (x < 1 && f.kind == FieldKind::Count)
            fail_at(t, std::string(in.name) + ": " + f.name + " must be at least 1");
          range_error(x);
        }
        c.next();
        v = static_cast<uint32_t>(x);
        break;
      }
      case FieldKind::Sint: {
        const int64_t lo = -(max / 2) - 1, hi = max / 2;
        int64_t x;
        if (t.kind != Tok::Number || !parse_int_text(t.text, x))
          fail_at(t, std::string("expected a number for ") + f.name + Cursor::describe(t));
        if (x < lo || x > hi)
          fail_at(t, std::string(in.name) + ": " + f.name + "=" + t.text + " does not fit the signed " +
                         std::to_string(f.bits.width) + "-bit field");
        c.next();
        v = static_cast<uint32_t>(x);
        break;
      }
      case FieldKind::Flag: {
        const int64_t x = c.integer(f.name, 0, 1);
        v = static_cast<uint32_t>(x);
        break;
      }
      case FieldKind::Enum: {
        c.next();
        int found = -1;
        for (int i = 0; i < f.enum_count; ++i)
          if (t.text == f.enum_values[i]) found = i;
        if (found < 0) {
          std::string vals;
          for (int i = 0; i < f.enum_count; ++i) vals += (i ? ", " : "") + std::string(f.enum_values[i]);
          fail_at(t,
                  "invalid " + std::string(f.name) + " '" + t.text + "' for " + in.name + " (expected " + vals + ")");
        }
        v = static_cast<uint32_t>(found);
        break;
      }
      case FieldKind::Line: {
        const Token sp = c.next();
        if (sp.kind != Tok::Ident || (sp.text != "s" && sp.text != "acc"))
          fail_at(sp, std::string("expected s[line] or acc[line] for ") + f.name + Cursor::describe(sp));
        const bool acc = sp.text == "acc";
        if (f.space == Space::Spad && acc)
          fail_at(sp, std::string(in.name) + ": " + f.name + " is in the scratchpad (write s[...])");
        if (f.space == Space::Acc && !acc)
          fail_at(sp, std::string(in.name) + ": " + f.name + " is in the accumulator (write acc[...])");
        if (f.space == Space::ByFlag && acc) inst.set(in.fields[f.space_flag].bits, 1);
        c.expect("[", "after the memory name");
        const Token nt = c.peek();
        int64_t x;
        if (nt.kind != Tok::Number || !parse_int_text(nt.text, x) || x < 0) fail_at(nt, "expected a line number");
        if (x > max)
          fail_at(nt, std::string(in.name) + ": line " + nt.text + " does not fit the " + std::to_string(f.bits.width) +
                          "-bit field");
        c.next();
        c.expect("]", "to close the line address");
        v = static_cast<uint32_t>(x);
        break;
      }
      case FieldKind::Sem: v = lookup_id(c.next(), sem_ids_, "semaphore", ".sem"); break;
      case FieldKind::Desc: v = lookup_id(c.next(), desc_ids_, "descriptor", ".desc"); break;
      case FieldKind::Param: {
        const Token pt = c.peek();
        v = lookup_id(c.next(), param_ids_, "parameter", ".param");
        if (f.param_kind >= 0 && prog_.params[v].kind() != spec().params[f.param_kind].kind)
          fail_at(pt, std::string(in.name) + ": " + f.name + " must name a " + spec().params[f.param_kind].name +
                          " parameter, '" + pt.text + "' is a " +
                          find_param_kind_by_value(prog_.params[v].kind())->name + " parameter");
        break;
      }
      case FieldKind::Region: v = lookup_region(c.next()); break;
      case FieldKind::Marker: {
        const Token mt = c.next();
        if (mt.kind != Tok::Ident) fail_at(mt, "expected a marker name");
        v = marker_id(mt.text);
        break;
      }
      case FieldKind::EngineMask: {
        do {
          const Token e = c.next();
          Engine eng;
          if (e.text == "all") {
            v |= (1u << kEngineCount) - 1;
            continue;
          }
          if (!engine_from_name(e.text, eng))
            fail_at(e, "unknown engine '" + e.text + "' (ctrl, load, store, mxu, vpu or all)");
          v |= 1u << static_cast<unsigned>(eng);
        } while (c.accept("|"));
        break;
      }
    }
    inst.set(f.bits, v);
  }

  void finish_program() {
    if (!pending_labels_.empty())
      error(line_, 0, "label '" + pending_labels_.back().name + "' is not followed by an instruction");
    for (size_t i = 0; i < prog_.regions.size(); ++i) {
      auto& img = region_data_[i];
      while (!img.empty() && img.back() == 0) img.pop_back();  // trailing zeros are implied
      prog_.regions[i].init = std::move(img);
    }
    if (!target_seen_) {
      error(1, 0, "missing .target directive (at least .target line=<bytes>)");
      return;
    }
    if (prog_.text.empty()) {
      error(line_, 0, "no instructions (a program ends with finish)");
      return;
    }
    const auto last = prog_.text.size() - 1;
    for (size_t i = 0; i < prog_.text.size(); ++i) {
      const bool fin = prog_.text[i].opcode() == static_cast<uint8_t>(Opcode::Finish);
      if (fin && i != last)
        error(lines_[i], 0, "finish before the end of the program (instruction #" + std::to_string(i) + ")");
      if (!fin && i == last) error(lines_[i], 0, "the program does not end with finish");
    }
    if (!errors_.empty()) return;
    try {
      validate_program(prog_);
    } catch (const InputError& e) {
      error(0, 0, e.what());
      errors_.back() = path_ + ": error: " + e.what();
      return;
    }
    if (opts_.check_deadlock) {
      if (auto dl = find_deadlock(prog_, opts_.queue_depth)) {
        // Point at the earliest blocked instruction.
        uint32_t first =
            dl->fetch_index < prog_.text.size() ? dl->fetch_index : static_cast<uint32_t>(prog_.text.size() - 1);
        for (const auto& b : dl->blocked) first = std::min(first, b.index);
        const int line = lines_[first];
        error(line, 0, dl->describe(prog_, &lines_));
        if (!errors_.back().empty() && errors_.back().back() == '\n') errors_.back().pop_back();
      }
    }
  }

  std::string path_;                               ///< source path for messages
  std::string dir_;                                ///< directory of the source, for relative .data files
  AssembleOptions opts_;                           ///< options
  Program prog_;                                   ///< program under construction
  std::vector<int> lines_;                         ///< source line per instruction
  std::vector<std::string> errors_;                ///< collected messages
  int line_ = 0;                                   ///< current line
  bool target_seen_ = false;                       ///< .target given
  std::vector<Label> pending_labels_;              ///< labels waiting for their instruction
  std::set<std::string> label_names_;              ///< every label so far
  std::vector<std::vector<uint8_t>> region_data_;  ///< initial image per region
  std::map<std::string, uint32_t> desc_ids_, param_ids_, sem_ids_, marker_ids_;  ///< name → id
};

}  // namespace

AssembleResult assemble(const std::string& source, const std::string& path, const AssembleOptions& opts) {
  return Assembler(path, opts).run(source);
}

AssembleResult assemble_file(const std::string& path, const AssembleOptions& opts) {
  const auto bytes = read_file_bytes(path, "assembly source");
  return assemble(std::string(bytes.begin(), bytes.end()), path, opts);
}

}  // namespace npusim::isa
