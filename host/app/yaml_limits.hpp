// Limits on a parsed YAML tree, checked before anything walks it recursively: a self-referencing
// alias ("a: &a [*a]") makes a cycle that a recursive walk follows until the stack overflows, and
// nested aliases ("billion laughs") expand a small file into billions of nodes.
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace halite {

inline constexpr int kMaxYamlDepth = 64;                 // nesting levels
inline constexpr std::size_t kMaxYamlNodes = 1'000'000;  // nodes after alias expansion
// A configuration file, or one --set override, is at most this long: the reference is 10 kB, and
// 100 MB files took 25-50 s and 6 GiB before running out of memory.
inline constexpr std::size_t kMaxConfigBytes = 1u << 20;

struct YamlLimitViolation {
  YAML::Mark mark;
  std::string what;
};

// The first violation in document order, or nullopt: a node that is its own ancestor (alias
// cycle), nesting deeper than kMaxYamlDepth, or more than kMaxYamlNodes nodes in all.
inline std::optional<YamlLimitViolation> check_yaml_limits(const YAML::Node& root) {
  std::vector<YAML::Node> path;  // ancestors of the node being visited
  std::size_t visited = 0;
  std::optional<YamlLimitViolation> found;
  auto walk = [&](auto&& self, const YAML::Node& node) -> void {
    if (found) return;
    for (const YAML::Node& ancestor : path)
      if (ancestor.is(node)) {
        found = YamlLimitViolation{node.Mark(), "an alias refers to a node that contains it"};
        return;
      }
    if (++visited > kMaxYamlNodes) {
      found = YamlLimitViolation{node.Mark(), "more than 1000000 nodes after alias expansion"};
      return;
    }
    if (!node.IsMap() && !node.IsSequence()) return;
    if (static_cast<int>(path.size()) >= kMaxYamlDepth) {
      found = YamlLimitViolation{node.Mark(), "nested deeper than 64 levels"};
      return;
    }
    path.push_back(node);
    for (auto it = node.begin(); it != node.end() && !found; ++it) {
      if (node.IsMap()) {
        self(self, it->first);
        self(self, it->second);
      } else {
        self(self, *it);
      }
    }
    path.pop_back();
  };
  walk(walk, root);
  return found;
}

namespace detail {

inline bool yaml_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Skips blanks and comments (a '#' at a line start or after a blank) from `pos`.
inline std::size_t skip_yaml_blanks(std::string_view t, std::size_t pos) {
  while (pos < t.size()) {
    if (yaml_blank(t[pos])) {
      ++pos;
    } else if (t[pos] == '#' && (pos == 0 || yaml_blank(t[pos - 1]))) {
      while (pos < t.size() && t[pos] != '\n') ++pos;
    } else {
      break;
    }
  }
  return pos;
}

// One past the end of the flow collection or quoted scalar starting at `pos`, or npos if it is
// not closed (yaml-cpp reports that itself).
inline std::size_t skip_yaml_flow_node(std::string_view t, std::size_t pos) {
  int depth = 0;
  for (std::size_t i = pos; i < t.size(); ++i) {
    const char c = t[i];
    const bool scalar_start = i == pos || t[i - 1] == '[' || t[i - 1] == '{' || t[i - 1] == ',' ||
                              t[i - 1] == ':' || yaml_blank(t[i - 1]);
    if (c == '"' && scalar_start) {
      for (++i; i < t.size() && t[i] != '"'; ++i)
        if (t[i] == '\\') ++i;
      if (i >= t.size()) return std::string_view::npos;
    } else if (c == '\'' && scalar_start) {
      for (++i; i < t.size(); ++i) {
        if (t[i] != '\'') continue;
        if (i + 1 < t.size() && t[i + 1] == '\'') {
          ++i;  // '' is a quote inside the scalar
          continue;
        }
        break;
      }
      if (i >= t.size()) return std::string_view::npos;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
    if (depth <= 0) return i + 1;
  }
  return std::string_view::npos;
}

}  // namespace detail

// yaml-cpp 0.7 loops forever (found by tests/fuzz/fuzz_set) on a comma at the top level of a
// document: after a root that is a flow collection or a quoted scalar ("[1],", "\"a\" ,",
// "--- {a: 1},"), or as the root's first character (",0", "&a ,"); also as a --set value. Such text
// is malformed YAML: this throws yaml-cpp's own ParserException at the comma, before yaml-cpp sees
// the text, so callers report it as any other syntax error.
//
// Also refused here: control characters other than tab, line feed and carriage return, which
// YAML 1.2 does not allow anywhere in a stream (c-printable), and a carriage return not followed
// by a line feed. yaml-cpp reads a NUL as the end of
// its input and looped on a --set value that started with NULs ("\0\0\0, 2\xff:]\x18=\x18",
// found by a 10^6-input run of tests/fuzz/fuzz_set).
inline void reject_known_yaml_cpp_hang_forms(std::string_view t) {
  using detail::skip_yaml_blanks;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto c = static_cast<unsigned char>(t[i]);
    // a lone CR (not followed by LF) is a YAML line break, but yaml-cpp looped on "&a\rt1,0/"
    // (the second 10^6-input fuzz_set run): only LF and CR LF line endings are accepted
    const bool lone_cr = c == '\r' && (i + 1 >= t.size() || t[i + 1] != '\n');
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f || lone_cr) {
      YAML::Mark mark;
      mark.pos = static_cast<int>(i);
      mark.line =
          static_cast<int>(std::count(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(i), '\n'));
      const std::size_t line_start = t.rfind('\n', i == 0 ? 0 : i - 1);
      mark.column = static_cast<int>(
          line_start == std::string_view::npos || t[line_start] != '\n' ? i : i - line_start - 1);
      throw YAML::ParserException(
          mark, lone_cr
                    ? std::string("a carriage return without a line feed (an old Mac OS line "
                                  "ending): use LF or CR LF line endings")
                    : fmt::format("the control character 0x{:02x} is not allowed in YAML text", c));
    }
  }
  std::size_t pos = 0;
  while (pos < t.size()) {
    // the start of a document: directives, blanks, comments, "---"
    for (;;) {
      pos = skip_yaml_blanks(t, pos);
      const bool line_start = pos == 0 || t[pos - 1] == '\n';
      if (line_start && pos < t.size() && t[pos] == '%') {
        while (pos < t.size() && t[pos] != '\n') ++pos;
      } else if (line_start && t.substr(pos, 3) == "---" &&
                 (pos + 3 == t.size() || detail::yaml_blank(t[pos + 3]))) {
        pos += 3;
      } else {
        break;
      }
    }
    // node properties: tags and anchors
    // (an anchor or tag name ends at a blank or a flow indicator: "&a,x" is the anchor "a" and
    // a comma, which also hung yaml-cpp)
    const auto flow_indicator = [](char c) {
      return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
    };
    while (pos < t.size() && (t[pos] == '!' || t[pos] == '&')) {
      ++pos;
      while (pos < t.size() && !detail::yaml_blank(t[pos]) && !flow_indicator(t[pos])) ++pos;
      pos = skip_yaml_blanks(t, pos);
    }
    std::size_t comma = std::string_view::npos;  // where the offending text starts
    const char* what = "a ',' at the top level (a ',' separates items only inside [ ] or { })";
    if (pos < t.size() && t[pos] == ',') {
      comma = pos;  // a document that starts with a comma
    } else if (pos < t.size() &&
               (t[pos] == '[' || t[pos] == '{' || t[pos] == '"' || t[pos] == '\'')) {
      const std::size_t end = detail::skip_yaml_flow_node(t, pos);
      if (end == std::string_view::npos) return;
      const std::size_t next = skip_yaml_blanks(t, end);
      // After a flow value at the root only ':' (it was a mapping key) or the next document may
      // come; yaml-cpp looped on "[1],", "[1] &a ,", "[1][2],", "\"a\" 'b' ,".
      const bool line_start = next == 0 || t[next - 1] == '\n';
      const bool next_document =
          line_start && (t.substr(next, 3) == "---" || t.substr(next, 3) == "...");
      if (next < t.size() && t[next] != ':' && !next_document) {
        comma = next;
        if (t[next] != ',')
          what =
              "text after the top-level value (only ':' may follow a flow value at the top "
              "level)";
      }
    }
    // A root that starts in column k > 0 ends at the first later line indented less than k;
    // yaml-cpp looped when that line starts with ',' ("    a: 1\n ,", found by a 10^6-input
    // fuzz_config run). Such a line is never valid YAML (a plain scalar cannot start with ',',
    // and continuation lines of any scalar or flow collection must be indented more).
    if (comma == std::string_view::npos && pos < t.size()) {
      const std::size_t line_end = pos == 0 ? std::string_view::npos : t.rfind('\n', pos - 1);
      const std::size_t column = line_end == std::string_view::npos ? pos : pos - line_end - 1;
      const std::size_t end = std::min(t.find("\n---", pos), t.size());
      // a block sequence's entries start in its own column: a ',' there ends it too ("- a\n,")
      const bool sequence =
          t[pos] == '-' && (pos + 1 == t.size() || detail::yaml_blank(t[pos + 1]));
      const std::size_t limit = column + (sequence ? 1 : 0);
      for (std::size_t nl = t.find('\n', pos); limit > 0 && nl < end; nl = t.find('\n', nl + 1)) {
        std::size_t i = nl + 1;
        while (i < t.size() && t[i] == ' ') ++i;
        if (i < t.size() && t[i] == ',' && i - (nl + 1) < limit) {
          comma = i;
          what = "a ',' at or below the indentation of the top-level value";
          break;
        }
      }
    }
    // A plain scalar at the root ends at a comment; yaml-cpp looped on a ',' line after it
    // ("a\n# c\n,", found by a 10^6-input fuzz_config run). Before the comment such a line
    // continues the scalar ("a\n,b" is "a ,b"); after it, it can only be text after the root.
    if (comma == std::string_view::npos && pos < t.size() &&
        std::string_view("[{\"'-?|>!&*%@`#,").find(t[pos]) == std::string_view::npos) {
      const std::size_t first_line_end = std::min(t.find('\n', pos), t.size());
      std::string_view first = t.substr(pos, first_line_end - pos);
      const bool ended_on_first = first.find(" #") != std::string_view::npos;
      first = first.substr(0, first.find(" #"));  // a ": " inside the comment is no key
      while (!first.empty() && (first.back() == ' ' || first.back() == '\t'))
        first.remove_suffix(1);
      const bool is_map_key =
          first.find(": ") != std::string_view::npos || (!first.empty() && first.back() == ':');
      bool ended = ended_on_first;
      for (std::size_t nl = first_line_end; !is_map_key && nl < t.size();
           nl = std::min(t.find('\n', nl + 1), t.size())) {
        std::size_t i = nl + 1;
        while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
        if (i >= t.size() || t[i] == '\n') continue;
        if (t.substr(nl + 1, 3) == "---" || t.substr(nl + 1, 3) == "...") break;
        if (ended && t[i] == ',') {
          comma = i;
          what = "a ',' after the top-level value (a ',' separates items only inside [ ] or { })";
          break;
        }
        const std::size_t line_end = std::min(t.find('\n', i), t.size());
        if (t[i] == '#' || t.substr(i, line_end - i).find(" #") != std::string_view::npos)
          ended = true;
      }
    }
    if (comma != std::string_view::npos) {
      YAML::Mark mark;
      mark.pos = static_cast<int>(comma);
      mark.line = 0;
      mark.column = 0;
      for (std::size_t i = 0; i < comma; ++i) {
        if (t[i] == '\n') {
          ++mark.line;
          mark.column = 0;
        } else {
          ++mark.column;
        }
      }
      throw YAML::ParserException(mark, what);
    }
    // on to the next document
    const std::size_t next_doc = t.find("\n---", pos);
    if (next_doc == std::string_view::npos) return;
    pos = next_doc + 1;
  }
}

// The deadline of ensure_yaml_cpp_finishes for a text of this many bytes (seconds): by default
// 2 s + 20 s per MiB. The fuzz harnesses shorten it (they meet yaml-cpp's loops every few
// hundred inputs once such texts are in their corpus, and would spend most of their time
// waiting); halite itself never changes it.
double yaml_parse_deadline_seconds(std::size_t text_bytes);
void set_yaml_parse_deadline(double base_seconds, double seconds_per_mib);

// The forms above are those the fuzzers found; others may remain. This is the structural guard:
// yaml-cpp reads the text first in a worker process (forked once, kept), and if it has not
// finished within yaml_parse_deadline_seconds the worker is killed and a ParserException at the
// start of the text says so (a configuration error, exit 2, instead of a hang). Without fork or
// socket (resources exhausted) the text is parsed as before. (host/app/yaml_guard.cpp)
void ensure_yaml_cpp_finishes(std::string_view text);

// What every caller of yaml-cpp runs first on text from outside: the known loop forms refused
// with their location, then the parse deadline.
inline void reject_yaml_cpp_hang(std::string_view t) {
  reject_known_yaml_cpp_hang_forms(t);
  ensure_yaml_cpp_finishes(t);
}

}  // namespace halite
