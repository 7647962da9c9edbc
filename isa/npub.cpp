// `.npub` writer and strict reader. Layout: docs/npub-format.md.
#include "isa/npub.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include "base/input_file.h"
#include "isa/diag.h"

namespace npusim::isa {
namespace {

// Entry sizes of the table sections (bytes).
constexpr uint32_t kSectionEntryBytes = 16;
constexpr uint32_t kDescBytes = 64;
constexpr uint32_t kParamBytes = 32;
constexpr uint32_t kRegionBytes = 32;
constexpr uint32_t kIoBytes = 48;
constexpr uint32_t kSemBytes = 8;
constexpr uint32_t kDebugBytes = 12;
constexpr uint32_t kDebugLabel = 1;
constexpr uint32_t kDebugMarker = 2;
constexpr uint32_t kSectionAlign = 16;
constexpr uint32_t kSectionTypeCount = 9;
constexpr size_t kCrcOffset = 48;  ///< header byte offset of the CRC32

/// Little-endian byte sink.
class Writer {
 public:
  std::vector<uint8_t> buf;  ///< bytes written so far
  void u8(uint8_t v) { buf.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void zeros(size_t n) { buf.insert(buf.end(), n, 0); }
  void align(size_t a) { zeros((a - buf.size() % a) % a); }
  void bytes(const uint8_t* p, size_t n) { buf.insert(buf.end(), p, p + n); }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
};

/// Little-endian byte source over one section; every read is bounds-checked by construction
/// (callers check sizes first; get() asserts via InputError anyway).
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, std::string what) : p_(p), n_(n), what_(std::move(what)) {}
  uint64_t get(size_t off, int n) const {
    if (off + n > n_) throw InputError(what_ + ": read past the end at byte " + std::to_string(off));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[off + i]) << (8 * i);
    return v;
  }
  uint8_t u8(size_t o) const { return static_cast<uint8_t>(get(o, 1)); }
  uint16_t u16(size_t o) const { return static_cast<uint16_t>(get(o, 2)); }
  uint32_t u32(size_t o) const { return static_cast<uint32_t>(get(o, 4)); }
  uint64_t u64(size_t o) const { return get(o, 8); }
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  std::string what_;
};

/// String table under construction: deduplicated, offset 0 is the empty string.
class StrtabBuilder {
 public:
  StrtabBuilder() { data_.push_back(0); }
  uint32_t add(const std::string& s) {
    if (s.empty()) return 0;
    auto it = index_.find(s);
    if (it != index_.end()) return it->second;
    const auto off = static_cast<uint32_t>(data_.size());
    data_.insert(data_.end(), s.begin(), s.end());
    data_.push_back(0);
    index_.emplace(s, off);
    return off;
  }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::vector<uint8_t> data_;
  std::map<std::string, uint32_t> index_;
};

std::string entry(SectionType t, size_t i) {
  return std::string(section_name(static_cast<uint32_t>(t))) + " entry " + std::to_string(i);
}

void require_zero(const Reader& r, size_t off, size_t n, const std::string& where) {
  for (size_t i = 0; i < n; ++i)
    if (r.u8(off + i)) throw InputError(where + ": reserved byte " + std::to_string(off + i) + " is not zero");
}

}  // namespace

const char* section_name(uint32_t type) {
  static const char* const names[] = {"?",     "TEXT", "DESC", "PARAM", "REGIONS",
                                      "CONST", "IO",   "SEMS", "DEBUG", "STRTAB"};
  return type >= 1 && type <= kSectionTypeCount ? names[type] : "?";
}

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

namespace {

/// A container laid out as byte spans in file order: the header, section table and small sections
/// are owned here; the regions' initial contents (the CONST section) are referenced in place, so a
/// program with a large constant image is never copied to be written.
struct NpubImage {
  std::vector<std::vector<uint8_t>> owned;               ///< header+table and the small sections
  std::vector<std::pair<const uint8_t*, size_t>> spans;  ///< the file, in order
  uint64_t size = 0;                                     ///< total bytes
};

/// One section's contents: bytes written here, or (CONST) spans of the regions' initial images.
struct SectionBody {
  Writer w;                                             ///< owned bytes
  std::vector<std::pair<const uint8_t*, size_t>> refs;  ///< borrowed bytes (after w's)
  size_t size() const {
    size_t n = w.buf.size();
    for (const auto& r : refs) n += r.second;
    return n;
  }
};

NpubImage layout_npub(const Program& prog) {
  validate_program(prog);
  StrtabBuilder strtab;
  std::vector<std::pair<SectionType, SectionBody>> sections;
  auto add = [&](SectionType t, Writer w) { sections.emplace_back(t, SectionBody{std::move(w), {}}); };

  Writer text;
  for (const auto& inst : prog.text)
    for (uint32_t w : inst.w) text.u32(w);
  add(SectionType::Text, std::move(text));

  if (!prog.descs.empty()) {
    Writer s;
    for (const auto& d : prog.descs) {
      s.u8(d.region);
      s.u8(static_cast<uint8_t>(d.dtype));
      s.u8(d.rank);
      s.u8(0);
      s.u32(static_cast<uint32_t>(d.zero_point));
      s.u64(d.offset);
      for (uint32_t b : d.box) s.u32(b);
      for (int64_t st : d.stride) s.u64(static_cast<uint64_t>(st));
      s.u32(strtab.add(d.name));
      s.u32(0);
    }
    add(SectionType::Desc, std::move(s));
  }
  if (!prog.params.empty()) {
    Writer s;
    for (const auto& p : prog.params) {
      s.bytes(p.bytes.data(), 28);
      s.u32(strtab.add(p.name));
    }
    add(SectionType::Param, std::move(s));
  }
  SectionBody consts;  // the regions' initial images, referenced in place
  uint64_t const_bytes = 0;
  if (!prog.regions.empty()) {
    Writer s;
    for (const auto& r : prog.regions) {
      s.u32(strtab.add(r.name));
      s.u8(static_cast<uint8_t>(r.role));
      s.zeros(3);
      s.u64(r.size);
      s.u32(r.align);
      s.u32(r.init.empty() ? 0 : static_cast<uint32_t>(const_bytes));
      s.u32(static_cast<uint32_t>(r.init.size()));
      s.u32(0);
      if (!r.init.empty()) consts.refs.emplace_back(r.init.data(), r.init.size());
      const_bytes += r.init.size();
    }
    add(SectionType::Regions, std::move(s));
  }
  if (const_bytes > 0) sections.emplace_back(SectionType::Const, std::move(consts));
  if (!prog.io.empty()) {
    Writer s;
    for (const auto& t : prog.io) {
      s.u32(strtab.add(t.name));
      s.u8(t.region);
      s.u8(static_cast<uint8_t>(t.dtype));
      s.u8(t.rank);
      s.u8(static_cast<uint8_t>(t.host_type));  // container 1.1: the user's element type
      for (uint32_t d : t.dims) s.u32(d);
      s.u64(t.offset);
      uint32_t scale_bits;
      std::memcpy(&scale_bits, &t.scale, 4);
      s.u32(scale_bits);
      s.u32(static_cast<uint32_t>(t.zero_point));
      s.u8(t.host_nchw ? 1 : 0);  // container 1.1: the user's layout (1: NCHW, stored NHWC)
      s.zeros(7);
    }
    add(SectionType::Io, std::move(s));
  }
  if (!prog.sems.empty()) {
    Writer s;
    for (const auto& sem : prog.sems) {
      s.u32(strtab.add(sem.name));
      s.u8(static_cast<uint8_t>(sem.consumer));
      s.u8(0);
      s.u16(sem.init);
    }
    add(SectionType::Sems, std::move(s));
  }
  if (!prog.labels.empty() || !prog.markers.empty()) {
    Writer s;
    for (const auto& l : prog.labels) {
      s.u32(kDebugLabel);
      s.u32(l.index);
      s.u32(strtab.add(l.name));
    }
    for (size_t i = 0; i < prog.markers.size(); ++i) {
      s.u32(kDebugMarker);
      s.u32(static_cast<uint32_t>(i));
      s.u32(strtab.add(prog.markers[i]));
    }
    add(SectionType::Debug, std::move(s));
  }
  Writer st;
  st.bytes(strtab.data().data(), strtab.data().size());
  add(SectionType::Strtab, std::move(st));

  // Header, then the section table, then each section 16-byte aligned.
  static const uint8_t kZeros[kSectionAlign] = {};
  NpubImage img;
  const auto table_offset = static_cast<uint32_t>(kNpubHeaderBytes);
  uint64_t pos = table_offset + uint64_t{kSectionEntryBytes} * sections.size();
  std::vector<uint64_t> offsets;
  std::vector<std::pair<const uint8_t*, size_t>> body;  // the sections with their padding
  for (auto& [type, sec] : sections) {
    if (const uint64_t pad = (kSectionAlign - pos % kSectionAlign) % kSectionAlign) {
      body.emplace_back(kZeros, pad);
      pos += pad;
    }
    offsets.push_back(pos);
    if (!sec.w.buf.empty()) body.emplace_back(sec.w.buf.data(), sec.w.buf.size());
    for (const auto& r : sec.refs) body.push_back(r);
    pos += sec.size();
  }
  if (pos > UINT32_MAX)
    throw InputError("the program's container would be " + std::to_string(pos) +
                     " bytes; an .npub file holds at most 4 GiB - 1 (its sizes are 32-bit)");
  Writer hdr;
  const Target& t = prog.target;
  hdr.u32(kNpubMagic);
  hdr.u16(kNpubVersionMajor);
  hdr.u16(kNpubVersionMinor);
  hdr.u16(spec().version_major);
  hdr.u16(spec().version_minor);
  hdr.u32(0);  // flags
  hdr.u16(t.mxu_rows);
  hdr.u16(t.mxu_cols);
  hdr.u32(t.line_bytes);
  hdr.u32(t.spad_bytes);
  hdr.u32(t.acc_bytes);
  hdr.u8(t.dtype_mask);
  hdr.u8(0);
  hdr.u16(t.vpu_lanes);
  hdr.u16(static_cast<uint16_t>(sections.size()));
  hdr.u16(0);
  hdr.u32(table_offset);
  hdr.u32(static_cast<uint32_t>(pos));
  hdr.u32(0);  // CRC32, filled in below (offset kCrcOffset)
  hdr.u32(0);
  hdr.u64(t.config_hash);
  for (size_t i = 0; i < sections.size(); ++i) {
    hdr.u32(static_cast<uint32_t>(sections[i].first));
    hdr.u32(0);
    hdr.u32(static_cast<uint32_t>(offsets[i]));
    hdr.u32(static_cast<uint32_t>(sections[i].second.size()));
  }
  // The CRC covers the whole file with its own four bytes as zero (they are zero now).
  uint32_t crc = crc32(hdr.buf.data(), hdr.buf.size());
  for (const auto& [p, n] : body) crc = crc32(p, n, crc);
  for (int i = 0; i < 4; ++i) hdr.buf[kCrcOffset + i] = static_cast<uint8_t>(crc >> (8 * i));
  img.owned.push_back(std::move(hdr.buf));
  img.spans.emplace_back(img.owned.back().data(), img.owned.back().size());
  for (auto& [type, sec] : sections) img.owned.push_back(std::move(sec.w.buf));  // keeps body's spans valid
  img.spans.insert(img.spans.end(), body.begin(), body.end());
  img.size = pos;
  return img;
}

}  // namespace

std::vector<uint8_t> write_npub(const Program& prog) {
  const NpubImage img = layout_npub(prog);
  std::vector<uint8_t> out;
  out.reserve(img.size);
  for (const auto& [p, n] : img.spans) out.insert(out.end(), p, p + n);
  return out;
}

uint64_t write_npub_file(const Program& prog, const std::string& path) {
  const NpubImage img = layout_npub(prog);
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(path + ": cannot write: " + std::strerror(errno));
  for (const auto& [p, n] : img.spans) out.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
  out.flush();
  if (!out) throw InputError(path + ": write failed");
  return img.size;
}

Program read_npub(const uint8_t* data, size_t size) {
  if (size < kNpubHeaderBytes)
    throw InputError("header: file is " + std::to_string(size) + " bytes, shorter than the 64-byte header");
  const Reader h(data, size, "header");
  if (h.u32(0) != kNpubMagic) throw InputError("header: bad magic (not an .npub file; expected \"NPUB\")");
  if (h.u16(4) != kNpubVersionMajor)
    throw InputError("header: container version " + std::to_string(h.u16(4)) + "." + std::to_string(h.u16(6)) +
                     " is not supported (this build reads " + std::to_string(kNpubVersionMajor) + ".x)");
  if (h.u16(8) != spec().version_major || h.u16(10) > spec().version_minor)
    throw InputError("header: ISA version " + std::to_string(h.u16(8)) + "." + std::to_string(h.u16(10)) +
                     " is newer than this build's " + std::to_string(spec().version_major) + "." +
                     std::to_string(spec().version_minor));
  if (h.u32(12) != 0) throw InputError("header: flags must be 0");
  if (h.u8(33) != 0 || h.u16(38) != 0 || h.u32(52) != 0) throw InputError("header: reserved bytes are not zero");
  const uint32_t total = h.u32(44);
  if (total != size)
    throw InputError("header: total_size " + std::to_string(total) + " does not match the file size " +
                     std::to_string(size) + " (truncated or padded file)");
  const uint32_t stored_crc = h.u32(kCrcOffset);
  // The CRC covers the whole file with its own four bytes read as zero.
  const uint8_t zeros[4] = {0, 0, 0, 0};
  uint32_t crc = crc32(data, kCrcOffset);
  crc = crc32(zeros, 4, crc);
  crc = crc32(data + kCrcOffset + 4, size - kCrcOffset - 4, crc);
  if (crc != stored_crc) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "header: CRC32 mismatch (stored 0x%08X, computed 0x%08X)", stored_crc, crc);
    throw InputError(buf);
  }

  Program prog;
  Target& t = prog.target;
  t.mxu_rows = h.u16(16);
  t.mxu_cols = h.u16(18);
  t.line_bytes = h.u32(20);
  t.spad_bytes = h.u32(24);
  t.acc_bytes = h.u32(28);
  t.dtype_mask = h.u8(32);
  t.vpu_lanes = h.u16(34);
  t.config_hash = h.u64(56);

  // Section table.
  const uint16_t count = h.u16(36);
  const uint32_t table = h.u32(40);
  if (count == 0 || count > kSectionTypeCount)
    throw InputError("header: section_count " + std::to_string(count) + " not in 1.." +
                     std::to_string(kSectionTypeCount));
  if (table < kNpubHeaderBytes || table % 4 ||
      static_cast<uint64_t>(table) + uint64_t{kSectionEntryBytes} * count > size)
    throw InputError("header: section table offset " + std::to_string(table) + " is out of bounds");
  struct Span {
    uint32_t type, offset, size;
  };
  std::vector<Span> spans;
  std::map<uint32_t, Span> by_type;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = table + kSectionEntryBytes * i;
    const Span s{h.u32(e), h.u32(e + 8), h.u32(e + 12)};
    const std::string where = "section table entry " + std::to_string(i);
    if (s.type < 1 || s.type > kSectionTypeCount)
      throw InputError(where + ": unknown section type " + std::to_string(s.type));
    const std::string name = section_name(s.type);
    if (h.u32(e + 4) != 0) throw InputError(name + " section: flags must be 0");
    if (s.offset % kSectionAlign)
      throw InputError(name + " section: offset " + std::to_string(s.offset) + " is not 16-byte aligned");
    if (static_cast<uint64_t>(s.offset) + s.size > size)
      throw InputError(name + " section: bytes " + std::to_string(s.offset) + ".." +
                       std::to_string(uint64_t{s.offset} + s.size) + " run past the end of the file (" +
                       std::to_string(size) + " bytes; truncated?)");
    if (s.offset < table + kSectionEntryBytes * count)
      throw InputError(name + " section: overlaps the header or the section table");
    if (!by_type.emplace(s.type, s).second) throw InputError(name + " section: appears twice");
    spans.push_back(s);
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (uint64_t{spans[i - 1].offset} + spans[i - 1].size > spans[i].offset)
      throw InputError(std::string(section_name(spans[i - 1].type)) + " section overlaps the " +
                       section_name(spans[i].type) + " section");

  auto section = [&](SectionType ty, uint32_t entry_bytes) -> Reader {
    const auto it = by_type.find(static_cast<uint32_t>(ty));
    const std::string name = section_name(static_cast<uint32_t>(ty));
    if (it == by_type.end()) return Reader(data, 0, name);
    if (entry_bytes && it->second.size % entry_bytes)
      throw InputError(name + " section: size " + std::to_string(it->second.size) + " is not a multiple of the " +
                       std::to_string(entry_bytes) + "-byte entry");
    return Reader(data + it->second.offset, it->second.size, name);
  };

  const Reader strtab = section(SectionType::Strtab, 0);
  if (strtab.size() == 0 || strtab.u8(0) != 0 || strtab.u8(strtab.size() - 1) != 0)
    throw InputError("STRTAB section: missing, or does not start and end with a NUL byte");
  auto str = [&](uint32_t off, const std::string& where) {
    if (off >= strtab.size()) throw InputError(where + ": name offset " + std::to_string(off) + " is outside STRTAB");
    const char* p = reinterpret_cast<const char*>(strtab.data() + off);
    return std::string(p, strnlen(p, strtab.size() - off));
  };

  const Reader text = section(SectionType::Text, 16);
  for (size_t i = 0; i < text.size() / 16; ++i) {
    Instruction inst;
    for (int k = 0; k < 4; ++k) inst.w[k] = text.u32(i * 16 + 4 * k);
    prog.text.push_back(inst);
  }
  const Reader desc = section(SectionType::Desc, kDescBytes);
  for (size_t i = 0; i < desc.size() / kDescBytes; ++i) {
    const size_t o = i * kDescBytes;
    const std::string where = entry(SectionType::Desc, i);
    TensorDesc d;
    d.region = desc.u8(o);
    d.dtype = static_cast<TensorType>(desc.u8(o + 1));
    d.rank = desc.u8(o + 2);
    require_zero(desc, o + 3, 1, where);
    d.zero_point = static_cast<int32_t>(desc.u32(o + 4));
    d.offset = desc.u64(o + 8);
    for (int k = 0; k < 4; ++k) d.box[k] = desc.u32(o + 16 + 4 * k);
    for (int k = 0; k < 3; ++k) d.stride[k] = static_cast<int64_t>(desc.u64(o + 32 + 8 * k));
    d.name = str(desc.u32(o + 56), where);
    require_zero(desc, o + 60, 4, where);
    prog.descs.push_back(d);
  }
  const Reader param = section(SectionType::Param, kParamBytes);
  for (size_t i = 0; i < param.size() / kParamBytes; ++i) {
    Param p;
    std::memcpy(p.bytes.data(), param.data() + i * kParamBytes, 28);
    p.name = str(param.u32(i * kParamBytes + 28), entry(SectionType::Param, i));
    prog.params.push_back(p);
  }
  const Reader consts = section(SectionType::Const, 0);
  const Reader regions = section(SectionType::Regions, kRegionBytes);
  uint64_t const_used = 0;
  for (size_t i = 0; i < regions.size() / kRegionBytes; ++i) {
    const size_t o = i * kRegionBytes;
    const std::string where = entry(SectionType::Regions, i);
    Region r;
    r.name = str(regions.u32(o), where);
    const uint8_t role = regions.u8(o + 4);
    if (role >= kRegionRoleCount) throw InputError(where + ": invalid role " + std::to_string(role));
    r.role = static_cast<RegionRole>(role);
    require_zero(regions, o + 5, 3, where);
    r.size = regions.u64(o + 8);
    r.align = regions.u32(o + 16);
    const uint32_t coff = regions.u32(o + 20), csize = regions.u32(o + 24);
    require_zero(regions, o + 28, 4, where);
    if (csize) {
      if (uint64_t{coff} + csize > consts.size())
        throw InputError(where + ": initial contents (CONST bytes " + std::to_string(coff) + ".." +
                         std::to_string(uint64_t{coff} + csize) + ") lie outside the CONST section (" +
                         std::to_string(consts.size()) + " bytes)");
      r.init.assign(consts.data() + coff, consts.data() + coff + csize);
      const_used += csize;
      // Bytes past the initial contents are zero anyway: keep the canonical (trimmed) form, as
      // the assembler does, so equal programs compare equal.
      while (!r.init.empty() && r.init.back() == 0) r.init.pop_back();
    } else if (coff) {
      throw InputError(where + ": const_offset set without const_size");
    }
    prog.regions.push_back(std::move(r));  // not copied: the initial image can be large
  }
  if (const_used > consts.size()) throw InputError("CONST section: regions' contents overlap");
  const Reader io = section(SectionType::Io, kIoBytes);
  for (size_t i = 0; i < io.size() / kIoBytes; ++i) {
    const size_t o = i * kIoBytes;
    const std::string where = entry(SectionType::Io, i);
    IoTensor t2;
    t2.name = str(io.u32(o), where);
    t2.region = io.u8(o + 4);
    t2.dtype = static_cast<TensorType>(io.u8(o + 5));
    t2.rank = io.u8(o + 6);
    // Container 1.0 files hold zero in the host fields: the user's side is the device's own.
    if (io.u8(o + 7) >= kHostTypeCount)
      throw InputError(where + ": host_type " + std::to_string(io.u8(o + 7)) + " is not one of 0..3");
    t2.host_type = static_cast<HostType>(io.u8(o + 7));
    for (int k = 0; k < 4; ++k) t2.dims[k] = io.u32(o + 8 + 4 * k);
    t2.offset = io.u64(o + 24);
    const uint32_t sb = io.u32(o + 32);
    std::memcpy(&t2.scale, &sb, 4);
    t2.zero_point = static_cast<int32_t>(io.u32(o + 36));
    if (io.u8(o + 40) > 1)
      throw InputError(where + ": host_layout " + std::to_string(io.u8(o + 40)) + " is not 0 or 1");
    t2.host_nchw = io.u8(o + 40) == 1;
    if (t2.host_nchw && t2.rank != 4) throw InputError(where + ": host_layout NCHW needs rank 4");
    require_zero(io, o + 41, 7, where);
    prog.io.push_back(t2);
  }
  const Reader sems = section(SectionType::Sems, kSemBytes);
  for (size_t i = 0; i < sems.size() / kSemBytes; ++i) {
    const size_t o = i * kSemBytes;
    SemDecl s;
    s.name = str(sems.u32(o), entry(SectionType::Sems, i));
    s.consumer = static_cast<Engine>(sems.u8(o + 4));
    require_zero(sems, o + 5, 1, entry(SectionType::Sems, i));
    s.init = sems.u16(o + 6);
    prog.sems.push_back(s);
  }
  const Reader debug = section(SectionType::Debug, kDebugBytes);
  for (size_t i = 0; i < debug.size() / kDebugBytes; ++i) {
    const size_t o = i * kDebugBytes;
    const std::string where = entry(SectionType::Debug, i);
    const uint32_t kind = debug.u32(o), value = debug.u32(o + 4);
    const std::string name = str(debug.u32(o + 8), where);
    if (kind == kDebugLabel) {
      if (!prog.markers.empty()) throw InputError(where + ": labels must precede markers");
      prog.labels.push_back({name, value});
    } else if (kind == kDebugMarker) {
      if (value != prog.markers.size())
        throw InputError(where + ": marker id " + std::to_string(value) + " out of order (expected " +
                         std::to_string(prog.markers.size()) + ")");
      if (name.empty()) throw InputError(where + ": marker without a name");
      prog.markers.push_back(name);
    } else {
      throw InputError(where + ": unknown kind " + std::to_string(kind) + " (1 label, 2 marker)");
    }
  }
  validate_program(prog);
  return prog;
}

std::vector<uint8_t> read_file_bytes(const std::string& path, const char* what, uint64_t max_bytes) {
  return read_input_bytes(path, what, max_bytes);  // regular files only, bounded
}

void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(path + ": cannot write: " + std::strerror(errno));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw InputError(path + ": write failed");
}

Program load_npub_file(const std::string& path) {
  const auto bytes = read_file_bytes(path, "program");
  try {
    return read_npub(bytes);
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

}  // namespace npusim::isa
