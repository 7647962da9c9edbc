// The `.npus` line lexer (asm_lexer.h).
#include "isa/asm_lexer.h"

#include <cctype>
#include <cstring>

namespace npusim::isa::asm_text {

std::vector<Token> lex(const std::string& line) {
  std::vector<Token> out;
  size_t i = 0;
  const size_t n = line.size();
  auto is_ident_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  auto is_ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  while (i < n) {
    const char c = line[i];
    if (c == ';') break;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.col = static_cast<int>(i) + 1;
    if (is_ident_start(c)) {
      size_t j = i;
      while (j < n && is_ident(line[j])) ++j;
      t.kind = Tok::Ident;
      t.text = line.substr(i, j - i);
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               ((c == '-' || c == '+') && i + 1 < n &&
                (std::isdigit(static_cast<unsigned char>(line[i + 1])) || line[i + 1] == '.'))) {
      size_t j = i + 1;
      while (j < n) {
        const char d = line[j];
        const bool hex = line.compare(i, 2, "0x") == 0 || line.compare(i, 3, "-0x") == 0;
        if (std::isalnum(static_cast<unsigned char>(d)) || d == '_' || d == '.') {
          ++j;
        } else if ((d == '-' || d == '+') && !hex && (line[j - 1] == 'e' || line[j - 1] == 'E')) {
          ++j;
        } else {
          break;
        }
      }
      t.kind = Tok::Number;
      t.text = line.substr(i, j - i);
      i = j;
    } else if (c == '"') {
      size_t j = i + 1;
      std::string s;
      while (j < n && line[j] != '"') {
        if (line[j] == '\\' && j + 1 < n) ++j;
        s += line[j++];
      }
      if (j >= n) throw LineError{t.col, "unterminated string"};
      t.kind = Tok::String;
      t.text = s;
      i = j + 1;
    } else if (std::strchr(",=[]()!:|", c)) {
      t.kind = Tok::Punct;
      t.text = std::string(1, c);
      ++i;
    } else {
      throw LineError{t.col, std::string("unexpected character '") + c + "'"};
    }
    out.push_back(t);
  }
  Token end;
  end.col = static_cast<int>(n) + 1;
  out.push_back(end);
  return out;
}

bool parse_int_text(const std::string& text, int64_t& out) {
  std::string s;
  for (char c : text)
    if (c != '_') s += c;
  bool neg = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  int base = 10;
  if (s.compare(i, 2, "0x") == 0 || s.compare(i, 2, "0X") == 0) {
    base = 16;
    i += 2;
  } else if (s.compare(i, 2, "0b") == 0) {
    base = 2;
    i += 2;
  }
  const size_t start = i;
  uint64_t v = 0;
  while (i < s.size()) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      break;
    if (d >= base) return false;
    if (__builtin_mul_overflow(v, static_cast<uint64_t>(base), &v) ||
        __builtin_add_overflow(v, static_cast<uint64_t>(d), &v))
      return false;
    ++i;
  }
  if (i == start) return false;
  const std::string suffix = s.substr(i);
  uint64_t mult = 1;
  if (suffix.empty() || suffix == "B")
    mult = 1;
  else if (suffix == "KiB")
    mult = 1ull << 10;
  else if (suffix == "MiB")
    mult = 1ull << 20;
  else if (suffix == "GiB")
    mult = 1ull << 30;
  else
    return false;
  if (__builtin_mul_overflow(v, mult, &v)) return false;
  if (neg) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    out = static_cast<int64_t>(0 - v);  // two's complement negation, defined for v = 2^63
    return true;
  }
  // Values above INT64_MAX (up to 2^64-1, e.g. a config hash) come back as their bit pattern.
  out = static_cast<int64_t>(v);
  return true;
}

void check_key(const Token& key, std::initializer_list<const char*> valid, std::map<std::string, int>& seen) {
  bool ok = false;
  std::string list;
  for (const char* v : valid) {
    ok = ok || key.text == v;
    list += (list.empty() ? "" : ", ") + std::string(v);
  }
  if (!ok) fail_at(key, "unknown key '" + key.text + "' (expected one of: " + list + ")");
  if (seen[key.text]++) fail_at(key, "key '" + key.text + "' given twice");
}

}  // namespace npusim::isa::asm_text
