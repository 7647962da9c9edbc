// The `.npus` assembler's line lexer and token cursor (isa/assembler.cpp parses with them).
// Internal to isa/: not part of the assembler's interface.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace npusim::isa::asm_text {

enum class Tok { Ident, Number, String, Punct, End };

struct Token {
  Tok kind = Tok::End;  ///< token class
  std::string text;     ///< exact text (string tokens: unescaped contents)
  int col = 0;          ///< 1-based column
};

/// An error at a column of the current line.
struct LineError {
  int col;          ///< 1-based column (0: whole line)
  std::string msg;  ///< message
};

[[noreturn]] inline void fail_at(const Token& t, const std::string& msg) {
  throw LineError{t.col, msg};
}

/// Splits one source line into tokens. Comments start with ';'.
std::vector<Token> lex(const std::string& line);

/// Parses an integer with optional 0x/0b prefix, '_' separators and a size suffix
/// (B, KiB, MiB, GiB). Returns false if the text is not such a number.
bool parse_int_text(const std::string& text, int64_t& out);

/// Cursor over one line's tokens with typed accessors that raise LineError.
class Cursor {
 public:
  explicit Cursor(std::vector<Token> toks) : t_(std::move(toks)) {}
  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool at_end() const { return peek().kind == Tok::End; }
  bool is_punct(const char* p, size_t k = 0) const { return peek(k).kind == Tok::Punct && peek(k).text == p; }
  bool accept(const char* p) {
    if (!is_punct(p)) return false;
    ++i_;
    return true;
  }
  void expect(const char* p, const char* what) {
    if (!accept(p)) fail_at(peek(), std::string("expected '") + p + "' " + what + describe(peek()));
  }
  std::string ident(const char* what) {
    if (peek().kind != Tok::Ident) fail_at(peek(), std::string("expected ") + what + describe(peek()));
    return next().text;
  }
  int64_t integer(const char* what, int64_t lo, int64_t hi) {
    const Token& t = peek();
    int64_t v;
    if (t.kind != Tok::Number || !parse_int_text(t.text, v))
      fail_at(t, std::string("expected an integer for ") + what + describe(t));
    if (v < lo || v > hi)
      fail_at(t, std::string(what) + " = " + t.text + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
    next();
    return v;
  }
  uint64_t unsigned64(const char* what) {
    const Token& t = peek();
    int64_t v;
    if (t.kind != Tok::Number || !parse_int_text(t.text, v) || t.text[0] == '-')
      fail_at(t, std::string("expected an unsigned integer for ") + what + describe(t));
    next();
    return static_cast<uint64_t>(v);
  }
  /// A binary32 value, parsed with strtof so that printed floats read back bit-exactly.
  float real32(const char* what) {
    const Token& t = peek();
    if (t.kind == Tok::Number) {
      char* end = nullptr;
      const float v = std::strtof(t.text.c_str(), &end);
      if (*end == '\0') {
        next();
        return v;
      }
    }
    return static_cast<float>(real(what));
  }
  double real(const char* what) {
    const Token& t = peek();
    if (t.kind == Tok::Ident && (t.text == "inf" || t.text == "nan")) {
      next();
      return t.text == "inf" ? HUGE_VAL : std::nan("");
    }
    if (t.kind != Tok::Number) fail_at(t, std::string("expected a number for ") + what + describe(t));
    char* end = nullptr;
    const double v = std::strtod(t.text.c_str(), &end);
    if (*end != '\0') fail_at(t, std::string("expected a number for ") + what + describe(t));
    next();
    return v;
  }
  std::string string(const char* what) {
    if (peek().kind != Tok::String)
      fail_at(peek(), std::string("expected a quoted string for ") + what + describe(peek()));
    return next().text;
  }
  /// [a, b, c] of integers
  std::vector<int64_t> int_list(const char* what, int64_t lo, int64_t hi, size_t max_len) {
    expect("[", "to open the list");
    std::vector<int64_t> v;
    while (!accept("]")) {
      if (!v.empty()) expect(",", "between list elements");
      if (v.size() == max_len)
        fail_at(peek(), std::string(what) + ": at most " + std::to_string(max_len) + " elements");
      v.push_back(integer(what, lo, hi));
    }
    return v;
  }
  static std::string describe(const Token& t) {
    if (t.kind == Tok::End) return ", found end of line";
    return ", found '" + t.text + "'";
  }

 private:
  std::vector<Token> t_;
  size_t i_ = 0;
};

/// Key=value options of a directive, each used at most once.
class KeyValues {
 public:
  /// Reads `key=` and returns the key token; leaves the cursor at the value.
  static bool next_key(Cursor& c, Token& key) {
    if (c.at_end()) return false;
    if (c.peek().kind != Tok::Ident || !c.is_punct("=", 1))
      fail_at(c.peek(), "expected key=value" + Cursor::describe(c.peek()));
    key = c.next();
    c.next();
    return true;
  }
};

/// Checks that a key is one of `valid`, else names the closest one.
void check_key(const Token& key, std::initializer_list<const char*> valid, std::map<std::string, int>& seen);

}  // namespace npusim::isa::asm_text
