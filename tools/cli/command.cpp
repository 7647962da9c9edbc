// The subcommand table, and the texts generated from its declarations.
#include "tools/cli/command.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace npusim::cli {
namespace {

std::vector<Command>& table() {
  static std::vector<Command> t;  // function-local: filled during static initialisation
  return t;
}

/// The help text's lines ('\n' separates them).
std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

/// `--input NAME=FILE.npy`: how the option is written.
std::string spelled(const Option& o) {
  return o.takes_value() ? o.name + " " + o.placeholder : o.name;
}

/// `s` in a Markdown table cell: pipes escaped, the help's lines joined; as text (not code) also
/// the characters Markdown would read as markup (`<name>`, `*.npy`).
std::string cell(const std::string& s, bool code = false) {
  std::string out;
  for (const char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else if (!code && c == '<')
      out += "&lt;";
    else if (!code && c == '>')
      out += "&gt;";
    else if (!code && c == '*')
      out += "\\*";
    else
      out += c;
  }
  return out;
}

/// Every `--name` the synopsis mentions is declared: the usage's first lines cannot name an
/// option the parser refuses.
void check_synopsis(const Command& c) {
  const std::string& s = c.synopsis;
  for (size_t i = s.find("--"); i != std::string::npos; i = s.find("--", i + 2)) {
    size_t e = i + 2;
    while (e < s.size() && (std::isalnum(static_cast<unsigned char>(s[e])) || s[e] == '-')) ++e;
    const std::string name = s.substr(i, e - i);
    if (name == "--") continue;
    if (std::none_of(c.options.begin(), c.options.end(), [&](const Option& o) { return o.name == name; }))
      throw std::logic_error("npusim " + c.name + ": the synopsis names " + name + ", which is not declared");
  }
}

}  // namespace

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool register_command(Command c) {
  auto& t = table();
  for (const auto& e : t)
    if (e.name == c.name) throw std::logic_error("npusim " + c.name + " registered twice");
  for (size_t i = 0; i < c.options.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (c.options[i].name == c.options[j].name)
        throw std::logic_error("npusim " + c.name + ": option " + c.options[i].name + " declared twice");
  t.push_back(std::move(c));
  std::stable_sort(t.begin(), t.end(), [](const Command& a, const Command& b) { return a.rank < b.rank; });
  return true;
}

const std::vector<Command>& commands() {
  return table();
}

const Command* find_command(const std::string& name) {
  for (const auto& c : table())
    if (c.name == name) return &c;
  return nullptr;
}

std::string usage_text(const Command& c) {
  constexpr size_t kColumn = 22;  // option and value, padded; the help starts two spaces after
  std::string out = c.synopsis;
  if (!c.description.empty()) out += "\n" + c.description;
  if (!c.options.empty()) {
    out += "\n";
    for (const Option& o : c.options) {
      std::string left = spelled(o);
      if (left.size() < kColumn) left.resize(kColumn, ' ');
      const auto help = lines_of(o.help);
      out += "  " + left + "  " + help[0] + "\n";
      for (size_t i = 1; i < help.size(); ++i) out += std::string(2 + kColumn + 2, ' ') + help[i] + "\n";
    }
  }
  if (!c.epilogue.empty()) out += "\n" + c.epilogue;
  return out;
}

std::string options_markdown() {
  std::string out;
  for (const Command& c : commands()) {
    check_synopsis(c);
    std::string summary = cell(c.summary);
    if (!summary.empty()) summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
    out += (out.empty() ? "" : "\n") + std::string("### `npusim ") + c.name + "` options\n\n" + summary + ".\n";
    if (c.options.empty()) {
      out += "\nNo options.\n";
      continue;
    }
    out += "\n| option | value | description |\n|---|---|---|\n";
    for (const Option& o : c.options) {
      std::string value = o.takes_value() ? "`" + cell(o.placeholder, true) + "`" : "(flag)";
      if (o.kind == Option::Kind::Repeated) value += " (repeatable)";
      out += "| `" + o.name + "` | " + value + " | " + cell(o.help) + " |\n";
    }
  }
  return out;
}

namespace {
/// What set_command_line recorded.
std::string& recorded_command_line() {
  static std::string s;
  return s;
}
}  // namespace

void set_command_line(int argc, const char* const* argv) {
  std::string& s = recorded_command_line();
  s.clear();
  for (int i = 0; i < argc; ++i) {
    std::string w = argv[i];
    // A word with anything but [A-Za-z0-9_./=:,+@%-] goes in single quotes (a quote as '\'').
    const bool plain = !w.empty() && w.find_first_not_of(
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789_./=:,+@%-") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char ch : w) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      w = q + "'";
    }
    s += (i ? " " : "") + w;
  }
}

const std::string& command_line() {
  return recorded_command_line();
}

}  // namespace npusim::cli
