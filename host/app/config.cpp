// Config loading: YAML text -> a located tree -> (reference defaults, user file, --set overrides)
// merged -> a validating reader that fills RunConfig and, as it reads, writes the resolved
// configuration back out as YAML with units.
//
// Why a tree of our own rather than YAML::Node: every value must remember which file, line and
// column it came from after the three sources are merged, and which source it came from (the
// cathode geometry rule lets the most specific source win; docs/configuration.md).
#include "host/app/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "halite/build_info.hpp"
#include "host/app/step_parser.hpp"
#include "host/app/units.hpp"
#include "host/app/yaml_limits.hpp"

namespace halite {
namespace {

std::string compose_message(const std::string& file, int line, int column, const std::string& key,
                            const std::string& message) {
  std::string text = line > 0 ? fmt::format("{}:{}:{}: ", file, line, column) : file + ": ";
  if (!key.empty()) text += fmt::format("key '{}': ", key);
  return text + message;
}

}  // namespace

ConfigError::ConfigError(std::string file_, int line_, int column_, std::string key_,
                         std::string message)
    : std::runtime_error(compose_message(file_, line_, column_, key_, message)),
      file(std::move(file_)),
      key(std::move(key_)),
      detail(std::move(message)),
      line(line_),
      column(column_) {}

namespace {

constexpr const char* kEmbeddedName = "<embedded reference>";
constexpr const char* kOverrideName = "--set";
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Where a value came from; a later source overrides an earlier one.
enum class Layer { kReference = 0, kFile = 1, kOverride = 2 };

struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

// The input tree: YAML with a location on every key and value.
struct Node {
  enum class Kind { kNull, kScalar, kMap, kSequence };
  Kind kind = Kind::kNull;
  std::string scalar;
  std::vector<std::string> keys;        // kMap, in written order
  std::vector<Location> key_locations;  // kMap, where each key is written
  std::vector<Node> children;           // kMap values (parallel to keys) or kSequence items
  Location at;
  Layer layer = Layer::kReference;
  // kMap: every key the reader looked up, i.e. the valid keys of this map.
  mutable std::vector<std::string> asked;

  // Index of `key` in keys, or -1. Hashed: a linear search per key made a map of n keys cost
  // n^2 (60,000 keys, within the 1 MiB limit, took 14 s).
  int index_of(std::string_view key) const {
    const auto found = key_index.find(key);
    return found == key_index.end() ? -1 : found->second;
  }
  // Appends a key (kMap) and returns its index.
  int add_key(std::string key, Location key_at, Node child) {
    const int index = static_cast<int>(keys.size());
    key_index.emplace(key, index);
    keys.push_back(std::move(key));
    key_locations.push_back(std::move(key_at));
    children.push_back(std::move(child));
    return index;
  }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> key_index;
};

const char* kind_name(Node::Kind kind) {
  switch (kind) {
    case Node::Kind::kNull:
      return "nothing";
    case Node::Kind::kScalar:
      return "a value";
    case Node::Kind::kMap:
      return "a map of keys";
    case Node::Kind::kSequence:
      return "a list";
  }
  return "?";
}

// Index of the first byte that is a control character (other than tab) or not part of valid
// UTF-8, or nullopt.
std::optional<std::size_t> first_unprintable(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return i;
      ++i;
      continue;
    }
    // lead byte of a 2-, 3- or 4-byte sequence (0xc0/0xc1 and > 0xf4 never occur in UTF-8)
    const std::size_t extra = (c >= 0xc2 && c <= 0xdf)   ? 1
                              : (c >= 0xe0 && c <= 0xef) ? 2
                              : (c >= 0xf0 && c <= 0xf4) ? 3
                                                         : 0;
    if (extra == 0 || i + extra >= text.size()) return i;
    for (std::size_t k = 1; k <= extra; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return i;
    i += extra + 1;
  }
  return std::nullopt;
}

[[noreturn]] void fail(const Location& at, const std::string& key, const std::string& message) {
  throw ConfigError(at.file, at.line, at.column, key, message);
}

// How YAML marks (0-based, relative to the parsed text) become locations in the user's terms.
struct MarkMapper {
  std::string file;
  int line_override = 0;  // --set: every mark is on "line" = the override's ordinal
  int column_offset = 0;  // --set: where the value starts in the argument

  Location operator()(const YAML::Mark& mark, const Location& fallback) const {
    if (mark.is_null()) return fallback;
    if (line_override > 0) return {file, line_override, column_offset + mark.column + 1};
    return {file, mark.line + 1, mark.column + 1};
  }
};

Node from_yaml(const YAML::Node& yaml, const MarkMapper& map_mark, Layer layer,
               const Location& fallback, const std::string& path = "") {
  Node node;
  node.layer = layer;
  node.at = map_mark(yaml.Mark(), fallback);
  switch (yaml.Type()) {
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::kScalar;
      node.scalar = yaml.Scalar();
      break;
    case YAML::NodeType::Sequence:
      node.kind = Node::Kind::kSequence;
      for (const auto& item : yaml)
        node.children.push_back(from_yaml(item, map_mark, layer, node.at,
                                          fmt::format("{}[{}]", path, node.children.size())));
      break;
    case YAML::NodeType::Map:
      node.kind = Node::Kind::kMap;
      for (const auto& entry : yaml) {
        const Location key_at = map_mark(entry.first.Mark(), node.at);
        if (!entry.first.IsScalar()) fail(key_at, "", "a key must be a plain name");
        const std::string key = entry.first.Scalar();
        const std::string key_path = path.empty() ? key : path + "." + key;
        if (node.index_of(key) >= 0) fail(key_at, key_path, "duplicate key");
        node.add_key(key, key_at, from_yaml(entry.second, map_mark, layer, key_at, key_path));
      }
      break;
    default:
      node.kind = Node::Kind::kNull;
      break;
  }
  return node;
}

// The key path a malformed YAML text was writing at `line` (1-based), guessed from the
// indentation of the lines before it, so that a parse error can still name a key. Handles block
// maps and block lists ("- item"); flow collections are attributed to the key that opens them.
std::string key_path_near(const std::string& text, int line) {
  struct Frame {
    std::size_t indent;
    std::string name;
    int item = -1;  // index of the current list item under this key
  };
  std::vector<Frame> frames;
  std::istringstream in(text);
  std::string current;
  for (int number = 1; number <= line && std::getline(in, current); ++number) {
    std::size_t indent = current.find_first_not_of(' ');
    if (indent == std::string::npos || current[indent] == '#') continue;
    std::string_view content = std::string_view(current).substr(indent);
    while (content.starts_with("- ") || content == "-") {
      while (!frames.empty() && frames.back().indent > indent) frames.pop_back();
      if (!frames.empty()) ++frames.back().item;
      content.remove_prefix(std::min<std::size_t>(2, content.size()));
      indent += 2;
    }
    std::size_t end = 0;
    while (end < content.size() &&
           (std::isalnum(static_cast<unsigned char>(content[end])) || content[end] == '_')) {
      ++end;
    }
    if (end == 0 || end >= content.size() || content[end] != ':') continue;
    while (!frames.empty() && frames.back().indent >= indent) frames.pop_back();
    frames.push_back({indent, std::string(content.substr(0, end))});
  }
  std::string path;
  for (const Frame& frame : frames) {
    path += (path.empty() ? "" : ".") + frame.name;
    if (frame.item >= 0) path += fmt::format("[{}]", frame.item);
  }
  return path;
}

Node parse_yaml(const std::string& text, const MarkMapper& map_mark, Layer layer,
                const std::string& key_for_errors = "") {
  const Location start = map_mark(YAML::Mark(), {map_mark.file, 1, 1});
  try {
    reject_yaml_cpp_hang(text);
    const std::vector<YAML::Node> documents = YAML::LoadAll(text);
    // A second document ("---") was silently ignored: one configuration per file.
    if (documents.size() > 1)
      fail(map_mark(documents[1].Mark(), start), "",
           "a second YAML document ('---') is not read: one configuration per file");
    const YAML::Node root = documents.empty() ? YAML::Node() : documents[0];
    if (const auto bad = check_yaml_limits(root)) {
      const Location at = map_mark(bad->mark, start);
      fail(at, map_mark.line_override > 0 ? key_for_errors : key_path_near(text, at.line),
           "YAML too large or self-referencing: " + bad->what);
    }
    return from_yaml(root, map_mark, layer, start);
  } catch (const YAML::Exception& e) {
    const Location at = map_mark(e.mark, start);
    const std::string key =
        map_mark.line_override > 0 ? key_for_errors : key_path_near(text, at.line);
    fail(at, key, "malformed YAML: " + e.msg);
  }
}

// Overlays `overlay` on `base`: maps merge key by key, anything else is replaced. An empty
// section ("output:" with nothing under it) inherits the base section.
void merge(Node& base, Node overlay) {
  if (base.kind == Node::Kind::kMap && overlay.kind == Node::Kind::kNull) return;
  if (base.kind != Node::Kind::kMap || overlay.kind != Node::Kind::kMap) {
    base = std::move(overlay);
    return;
  }
  base.at = overlay.at;
  base.layer = overlay.layer;
  for (std::size_t i = 0; i < overlay.keys.size(); ++i) {
    const int existing = base.index_of(overlay.keys[i]);
    if (existing < 0) {
      base.add_key(overlay.keys[i], overlay.key_locations[i], std::move(overlay.children[i]));
    } else {
      base.key_locations[existing] = overlay.key_locations[i];
      merge(base.children[existing], std::move(overlay.children[i]));
    }
  }
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// Applies one "--set key.path=value" (ordinal is 1-based, reported as the line).
void apply_override(Node& root, const std::string& argument, int ordinal) {
  const auto at_column = [&](std::size_t offset) {
    return Location{kOverrideName, ordinal, static_cast<int>(offset) + 1};
  };
  if (argument.size() > kMaxConfigBytes)
    fail(at_column(0), "",
         fmt::format("the override is longer than {} MiB", kMaxConfigBytes >> 20));
  const std::size_t equals = argument.find('=');
  if (equals == std::string::npos || equals == 0) {
    fail(at_column(0), "", fmt::format("expected KEY.PATH=VALUE, got '{}'", argument));
  }
  // Walk (and create) the path. Components: "name", "name[2]" or a bare index "2" in a list.
  Node* node = &root;
  std::string path;
  std::size_t begin = 0;
  const std::string key_text = argument.substr(0, equals);
  while (begin <= key_text.size()) {
    std::size_t end = key_text.find('.', begin);
    if (end == std::string::npos) end = key_text.size();
    std::string component = key_text.substr(begin, end - begin);
    std::vector<std::string> indices;
    if (const auto bracket = component.find('['); bracket != std::string::npos) {
      std::string rest = component.substr(bracket);
      component.resize(bracket);
      while (!rest.empty()) {
        const auto close = rest.find(']');
        if (rest[0] != '[' || close == std::string::npos ||
            !all_digits(rest.substr(1, close - 1))) {
          fail(at_column(begin), key_text, "malformed list index (write name[0] or name.0)");
        }
        indices.push_back(rest.substr(1, close - 1));
        rest.erase(0, close + 1);
      }
    }
    if (component.empty() && indices.empty()) fail(at_column(begin), key_text, "empty key name");
    if (!component.empty()) {
      if (node->kind == Node::Kind::kSequence && all_digits(component)) {
        indices.insert(indices.begin(), component);
      } else {
        path += (path.empty() ? "" : ".") + component;
        if (node->kind == Node::Kind::kNull) node->kind = Node::Kind::kMap;
        if (node->kind != Node::Kind::kMap) {
          fail(at_column(begin), path, "cannot set a key inside a value or a list");
        }
        int index = node->index_of(component);
        if (index < 0) {
          Node created;
          created.at = at_column(begin);
          created.layer = Layer::kOverride;
          index = node->add_key(component, at_column(begin), std::move(created));
        }
        node->key_locations[index] = at_column(begin);
        node = &node->children[index];
      }
    }
    for (const std::string& index_text : indices) {
      path += "[" + index_text + "]";
      unsigned long long index = 0;  // std::stoul threw a bare "stoul" on a huge index
      const auto [index_end, index_error] =
          std::from_chars(index_text.data(), index_text.data() + index_text.size(), index);
      if (index_error != std::errc{} || index_end != index_text.data() + index_text.size())
        fail(at_column(begin), path, fmt::format("index '{}' is not a list index", index_text));
      if (node->kind != Node::Kind::kSequence) fail(at_column(begin), path, "not a list");
      if (index >= node->children.size()) {
        fail(at_column(begin), path,
             fmt::format("index {} is out of range (the list has {} items)", index,
                         node->children.size()));
      }
      node = &node->children[index];
    }
    begin = end + 1;
  }
  const std::string value_text = argument.substr(equals + 1);
  Node value =
      parse_yaml(value_text, MarkMapper{kOverrideName, ordinal, static_cast<int>(equals) + 1},
                 Layer::kOverride, path);
  if (value.kind == Node::Kind::kNull) value.at = at_column(equals + 1);
  merge(*node, std::move(value));
  node->layer = Layer::kOverride;
}

// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string quoted_list(const std::vector<std::string>& names, const char* conjunction) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? fmt::format(" {} ", conjunction) : ", ";
    text += "'" + names[i] + "'";
  }
  return text;
}

// The nearest of `candidates` to `word` by edit distance (closest first, at most three).
std::vector<std::string> nearest(std::string_view word,
                                 const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const std::string& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    const bool prefix = candidate.starts_with(word) || word.starts_with(candidate);
    if (distance <= limit || (prefix && std::min(word.size(), candidate.size()) >= 4)) {
      scored.emplace_back(distance, candidate);
    }
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> best;
  for (const auto& [distance, candidate] : scored) {
    if (best.size() < 3 && std::find(best.begin(), best.end(), candidate) == best.end()) {
      best.push_back(candidate);
    }
  }
  return best;
}

// A numeric range in the unit the key is written in.
struct Range {
  double low = -kInfinity;
  double high = kInfinity;
  bool low_open = false;
  bool high_open = false;

  bool contains(double value) const {
    return (low_open ? value > low : value >= low) && (high_open ? value < high : value <= high);
  }
  std::string describe(std::string_view name, std::string_view unit) const {
    const auto with_unit = [&](double x) {
      return unit.empty() ? units::format_number(x)
                          : units::format_number(x) + " " + std::string(unit);
    };
    std::string text;
    if (std::isfinite(low)) text += with_unit(low) + (low_open ? " < " : " <= ");
    text += name;
    if (std::isfinite(high)) text += (high_open ? " < " : " <= ") + with_unit(high);
    return text;
  }
};
constexpr Range closed(double low, double high) {
  return {low, high, false, false};
}
constexpr Range open(double low, double high) {
  return {low, high, true, true};
}
constexpr Range open_closed(double low, double high) {
  return {low, high, true, false};
}
constexpr Range closed_open(double low, double high) {
  return {low, high, false, true};
}

// The output tree: the resolved configuration, written as YAML text at the end.
struct OutNode {
  enum class Kind { kScalar, kMap, kSequence };
  Kind kind = Kind::kMap;
  std::string text;  // kScalar: the YAML text of the value
  std::string comment;
  std::vector<std::pair<std::string, std::unique_ptr<OutNode>>> entries;  // map keys / items

  OutNode& child(std::string_view key, Kind child_kind) {
    for (auto& [name, node] : entries) {
      if (name == key) {
        node->kind = child_kind;
        return *node;
      }
    }
    entries.emplace_back(std::string(key), std::make_unique<OutNode>());
    entries.back().second->kind = child_kind;
    return *entries.back().second;
  }
  OutNode& append_item(Kind child_kind) {
    entries.emplace_back("", std::make_unique<OutNode>());
    entries.back().second->kind = child_kind;
    return *entries.back().second;
  }
  OutNode& at(std::string_view dotted_path) {
    OutNode* node = this;
    std::size_t begin = 0;
    while (begin <= dotted_path.size()) {
      std::size_t end = dotted_path.find('.', begin);
      if (end == std::string_view::npos) end = dotted_path.size();
      const std::string_view key = dotted_path.substr(begin, end - begin);
      OutNode* next = nullptr;
      for (auto& [name, child_node] : node->entries) {
        if (name == key) next = child_node.get();
      }
      if (next == nullptr) throw std::logic_error("resolved YAML has no key " + std::string(key));
      node = next;
      begin = end + 1;
    }
    return *node;
  }
};

std::string yaml_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void emit(const OutNode& node, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  const auto comment = [](const OutNode& n) { return n.comment.empty() ? "" : "  # " + n.comment; };
  for (const auto& [key, child] : node.entries) {
    const bool item = node.kind == OutNode::Kind::kSequence;
    if (indent == 0 && child->kind != OutNode::Kind::kScalar) out += "\n";  // between sections
    const std::string lead = item ? pad + "- " : pad + key + ":";
    switch (child->kind) {
      case OutNode::Kind::kScalar:
        out += lead + (item ? "" : " ") + child->text + comment(*child) + "\n";
        break;
      case OutNode::Kind::kMap:
        if (item) {  // "- first: x" then the other keys aligned under "first"
          std::string body;
          emit(*child, indent + 2, body);
          out += pad + "- " + body.substr(static_cast<std::size_t>(indent) + 2);
        } else {
          out += lead + comment(*child) + "\n";
          emit(*child, indent + 2, out);
        }
        break;
      case OutNode::Kind::kSequence:
        if (child->entries.empty()) {
          out += lead + (item ? "" : " ") + "[]" + comment(*child) + "\n";
        } else {
          out += lead + comment(*child) + "\n";
          emit(*child, indent + 2, out);
        }
        break;
    }
  }
}

// A located value found under a key.
struct Value {
  const Node* node = nullptr;
  Location at;  // the value's location, or its key's where the value has none
  std::string path;
};

// A value that may be written as "derived" (computed from other keys).
struct Derivable {
  std::optional<double> value;  // nullopt = "derived"
  Value where;
};

constexpr std::string_view kDerived = "derived";

// A map section of the config being read: lookups record the valid keys, typed reads validate
// and write the value into the resolved output.
class Section {
 public:
  Section(const Node& node, std::string path, OutNode& out)
      : node_(node), path_(std::move(path)), out_(out) {}

  OutNode& out() { return out_; }
  std::string path_of(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  std::optional<Value> find(std::string_view key) const {
    if (std::find(node_.asked.begin(), node_.asked.end(), key) == node_.asked.end()) {
      node_.asked.emplace_back(key);
    }
    const int index = node_.index_of(key);
    if (index < 0) return std::nullopt;
    const Node& child = node_.children[static_cast<std::size_t>(index)];
    const Location& key_at = node_.key_locations[static_cast<std::size_t>(index)];
    return Value{&child, child.kind == Node::Kind::kNull || child.at.line == 0 ? key_at : child.at,
                 path_of(key)};
  }

  Value require(std::string_view key) const {
    const auto value = find(key);
    if (!value) {
      fail(node_.at, path_of(key),
           fmt::format("missing required key '{}' in {}{}", key,
                       path_.empty() ? std::string("the top level") : "'" + path_ + "'",
                       misspelt_hint(key)));
    }
    if (value->node->kind == Node::Kind::kNull) fail(value->at, value->path, "missing value");
    return *value;
  }

  Section section(std::string_view key) {
    const Value value = require(key);
    if (value.node->kind != Node::Kind::kMap) {
      fail(value.at, value.path,
           fmt::format("expected a section (a map of keys), got {}", kind_name(value.node->kind)));
    }
    return Section(*value.node, value.path, out_.child(key, OutNode::Kind::kMap));
  }

  // " (is 'radus' a misspelling of it?)" when a key written in this map resembles `key`.
  std::string misspelt_hint(std::string_view key) const {
    const auto similar = nearest(key, node_.keys);
    return similar.empty()
               ? ""
               : fmt::format(" (is {} a misspelling of it?)", quoted_list(similar, "or"));
  }

  static const std::string& scalar(const Value& value, std::string_view expected) {
    if (value.node->kind != Node::Kind::kScalar) {
      fail(value.at, value.path,
           fmt::format("expected {}, got {}", expected, kind_name(value.node->kind)));
    }
    return value.node->scalar;
  }

  // A number with a unit of the same dimension as `unit` ("" = dimensionless), converted to
  // the canonical unit; `range` is in `unit`.
  double quantity(std::string_view key, std::string_view unit, Range range) {
    const Value value = require(key);
    const double canonical = parse_quantity(value, key, unit, range);
    write(key, value_text(canonical, unit));
    return canonical;
  }

  Derivable derivable(std::string_view key, std::string_view unit, Range range) {
    const Value value = require(key);
    if (value.node->kind == Node::Kind::kScalar && value.node->scalar == kDerived) {
      write(key, std::string(kDerived));
      return {std::nullopt, value};
    }
    const double canonical = parse_quantity(value, key, unit, range, " or 'derived'");
    write(key, value_text(canonical, unit));
    return {canonical, value};
  }

  long integer(std::string_view key, Range range) {
    const Value value = require(key);
    const long number = parse_integer(value, range, key);
    write(key, std::to_string(number));
    return number;
  }

  template <typename Enum>
  Enum choice(std::string_view key, const std::vector<std::pair<std::string, Enum>>& options) {
    const Value value = require(key);
    const std::string& text = scalar(value, "one of " + option_names(options));
    for (const auto& [name, option] : options) {
      if (equal_ignoring_case(name, text)) {
        write(key, name);
        return option;
      }
    }
    std::vector<std::string> names;
    for (const auto& option : options) names.push_back(option.first);
    const auto close = nearest(text, names);
    fail(value.at, value.path,
         fmt::format("unknown value '{}' (expected one of {}){}", text, option_names(options),
                     close.empty() ? "" : "; did you mean " + quoted_list(close, "or") + "?"));
  }

  // A switch: true/false (also yes/no, on/off, any case), written back as true or false.
  bool boolean(std::string_view key) {
    const Value value = require(key);
    const std::string& text = scalar(value, "true or false");
    static const std::vector<std::pair<std::string, bool>> kSpellings = {
        {"true", true}, {"false", false}, {"yes", true},
        {"no", false},  {"on", true},     {"off", false}};
    for (const auto& [name, flag] : kSpellings) {
      if (equal_ignoring_case(name, text)) {
        write(key, flag ? "true" : "false");
        return flag;
      }
    }
    const auto close = nearest(text, {"true", "false"});
    fail(value.at, value.path,
         fmt::format("expected true or false, got '{}'{}", text,
                     close.empty() ? "" : "; did you mean " + quoted_list(close, "or") + "?"));
  }

  std::string text(std::string_view key) {
    const Value value = require(key);
    const std::string& text = scalar(value, "a text");
    if (text.empty()) fail(value.at, value.path, "must not be empty");
    // Texts go into the HDF5 provenance: a NUL truncated it there and invalid UTF-8 broke
    // h5py's asstr(). Printable UTF-8 only (tab allowed).
    if (const auto bad = first_unprintable(text))
      fail(value.at, value.path,
           fmt::format("byte {} (0x{:02x}) is not printable UTF-8 text", *bad + 1,
                       static_cast<unsigned char>(text[*bad])));
    write(key, yaml_quoted(text));
    return text;
  }

  void write(std::string_view key, std::string text, std::string comment = "") {
    OutNode& node = out_.child(key, OutNode::Kind::kScalar);
    node.text = std::move(text);
    node.comment = std::move(comment);
  }

  static long parse_integer(const Value& value, Range range, std::string_view name) {
    const std::string& text = scalar(value, "a whole number");
    long number = 0;
    const char* first = text.data() + (text.starts_with('+') ? 1 : 0);
    const auto [end, error] = std::from_chars(first, text.data() + text.size(), number);
    if (error != std::errc{} || end != text.data() + text.size()) {
      fail(value.at, value.path, fmt::format("expected a whole number, got '{}'", text));
    }
    if (!range.contains(static_cast<double>(number))) {
      fail(value.at, value.path,
           fmt::format("{} is out of range (allowed range {})", text, range.describe(name, "")));
    }
    return number;
  }

  static std::string value_text(double canonical, std::string_view unit) {
    if (unit.empty()) return units::format_number(canonical);
    return units::format_number(units::from_canonical(canonical, *units::find_unit(unit))) + " " +
           std::string(unit);
  }

 private:
  template <typename Enum>
  static std::string option_names(const std::vector<std::pair<std::string, Enum>>& options) {
    std::vector<std::string> names;
    for (const auto& option : options) names.push_back(option.first);
    return quoted_list(names, "or");
  }

  static bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }

  double parse_quantity(const Value& value, std::string_view key, std::string_view unit,
                        Range range, std::string_view alternative = "") const {
    const units::Dimension dimension =
        unit.empty() ? units::Dimension::kDimensionless : units::find_unit(unit)->dimension;
    const std::string example =
        unit.empty() ? std::string("a number")
                     : fmt::format("a {} such as '1 {}'", units::dimension_name(dimension), unit);
    const std::string& text = scalar(value, example + std::string(alternative));
    double canonical = 0.0;
    try {
      canonical = units::parse_quantity(text, dimension);
    } catch (const units::UnitError& e) {
      fail(value.at, value.path, e.what());
    }
    const double shown =
        unit.empty() ? canonical : units::from_canonical(canonical, *units::find_unit(unit));
    if (!range.contains(shown)) {
      fail(value.at, value.path,
           fmt::format("{} is out of range (allowed range {})", text, range.describe(key, unit)));
    }
    return canonical;
  }

  const Node& node_;
  std::string path_;
  OutNode& out_;
};

// The items of a list-valued key, with their locations.
std::vector<Value> list_items(const Value& list, std::size_t min_items, std::size_t max_items,
                              std::string_view what) {
  if (list.node->kind != Node::Kind::kSequence) {
    fail(list.at, list.path,
         fmt::format("expected a list of {}, got {}", what, kind_name(list.node->kind)));
  }
  const std::size_t count = list.node->children.size();
  if (count < min_items || count > max_items) {
    fail(list.at, list.path,
         fmt::format("has {} {}; allowed {} to {}", count, what, min_items, max_items));
  }
  std::vector<Value> items;
  for (std::size_t i = 0; i < count; ++i) {
    const Node& item = list.node->children[i];
    items.push_back(
        Value{&item, item.at.line > 0 ? item.at : list.at, fmt::format("{}[{}]", list.path, i)});
  }
  return items;
}

Section item_section(const Value& item, OutNode& out_list, std::string_view what) {
  if (item.node->kind != Node::Kind::kMap) {
    fail(item.at, item.path,
         fmt::format("expected {} (a map of keys), got {}", what, kind_name(item.node->kind)));
  }
  return Section(*item.node, item.path, out_list.append_item(OutNode::Kind::kMap));
}

// Walks the merged tree and rejects every key the reader never asked for.
void reject_unknown_keys(const Node& node, const std::string& path,
                         const std::vector<std::string>& all_paths) {
  if (node.kind == Node::Kind::kSequence) {
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      reject_unknown_keys(node.children[i], fmt::format("{}[{}]", path, i), all_paths);
    }
    return;
  }
  if (node.kind != Node::Kind::kMap) return;
  for (std::size_t i = 0; i < node.keys.size(); ++i) {
    const std::string& key = node.keys[i];
    const std::string key_path = path.empty() ? key : path + "." + key;
    if (std::find(node.asked.begin(), node.asked.end(), key) != node.asked.end()) {
      reject_unknown_keys(node.children[i], key_path, all_paths);
      continue;
    }
    std::vector<std::string> hints = nearest(key, node.asked);
    // The same name in another section is the likelier slip ("stack_pressure" under cathode),
    // and so is a flattened SECTION_KEY ("misfit_strain" for aging.misfit.strain, the name of
    // the C++ field).
    for (const std::string& other : all_paths) {
      if (other.find('[') != std::string::npos) continue;
      const auto dot = other.rfind('.');
      const std::string leaf = dot == std::string::npos ? other : other.substr(dot + 1);
      std::string flattened;
      if (dot != std::string::npos) {
        const auto parent_dot = other.rfind('.', dot - 1);
        const std::size_t begin = parent_dot == std::string::npos ? 0 : parent_dot + 1;
        flattened = other.substr(begin, dot - begin) + "_" + leaf;
      }
      if (leaf == key || flattened == key) hints.insert(hints.begin(), other);
    }
    if (hints.size() > 3) hints.resize(3);
    std::string message = fmt::format("unknown key '{}'", key);
    if (!hints.empty()) {
      message += "; did you mean " + quoted_list(hints, "or") + "?";
    } else {
      message += "; valid keys here: " + quoted_list(node.asked, "and");
    }
    fail(node.key_locations[i], key_path, message);
  }
}

void collect_paths(const Node& node, const std::string& path, std::vector<std::string>& paths) {
  if (node.kind == Node::Kind::kSequence) {
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      collect_paths(node.children[i], fmt::format("{}[{}]", path, i), paths);
    }
  }
  if (node.kind != Node::Kind::kMap) return;
  for (const std::string& key : node.asked) {
    const std::string key_path = path.empty() ? key : path + "." + key;
    paths.push_back(key_path);
    const int index = node.index_of(key);
    if (index >= 0) collect_paths(node.children[static_cast<std::size_t>(index)], key_path, paths);
  }
}

std::string significant(double value, std::string_view unit) {
  return fmt::format("{:.4g} {}", value, unit);
}

// Lower and upper NMC voltages (vs Li+/Li) that the OCP fits cover; a protocol voltage
// outside them almost always means the wrong voltage_reference.
constexpr double kNmcWindowLow = 2.0;   // V vs Li+/Li
constexpr double kNmcWindowHigh = 4.8;  // V vs Li+/Li

class Loader {
 public:
  explicit Loader(const Node& root) : root_(root) {}

  RunConfig load() {
    if (root_.kind != Node::Kind::kMap) {
      fail(root_.at, "",
           fmt::format("the top level must be a map of sections (name, cell, loading, ...), got {}",
                       kind_name(root_.kind)));
    }
    RunConfig config;
    Section top(root_, "", out_);
    config.name = top.text("name");
    read_cell(top.section("cell"), config.cell);
    read_loading(top.section("loading"), config);
    config.initial_stoichiometry = top.quantity("initial_stoichiometry", "", open(0, 1));
    read_aging(top.section("aging"), config.cell);
    read_mesh(top.section("mesh"), config.mesh);
    read_solver(top.section("solver"), config.solver);
    read_protocol(top.section("protocol"), config);
    read_output(top.section("output"), config);

    std::vector<std::string> all_paths;
    collect_paths(root_, "", all_paths);
    reject_unknown_keys(root_, "", all_paths);

    resolve_geometry(config);
    return config;
  }

  std::string resolved_yaml(const RunConfig& config) const {
    std::string text = fmt::format(
        "# halite {} ({}): resolved configuration of '{}'.\n"
        "# Every key is listed; 'derived' values follow from the others (shown in comments).\n",
        build_info::kVersion, build_info::kGitCommit, config.source);
    emit(out_, 0, text);
    return text;
  }

 private:
  void read_cell(Section cell, models::CellParams& p) {
    p.temperature = cell.quantity("temperature", "K", closed(200, 500));
    {
      Section anode = cell.section("anode");
      p.anode_ocp = anode.quantity("open_circuit_potential", "V", closed(0, 1.5));
      p.anode_exchange_current =
          anode.quantity("exchange_current_density", "A/m2", open_closed(0, 1e5));
      p.anode_partial_molar_volume =
          anode.quantity("partial_molar_volume", "m3/mol", closed(0, 1e-4));
    }
    p.separator_thickness = cell.section("separator").quantity("thickness", "um", closed(1, 5000));
    {
      Section cathode = cell.section("cathode");
      thickness_ = cathode.derivable("thickness", "um", closed(1, 2000));
      active_fraction_ = cathode.derivable("active_volume_fraction", "", open(0, 1));
      electrolyte_fraction_ = cathode.derivable("electrolyte_volume_fraction", "", open(0, 1));
      p.bruggeman_electrolyte = cathode.quantity("bruggeman_electrolyte", "", closed(1, 5));
      p.bruggeman_solid = cathode.quantity("bruggeman_solid", "", closed(1, 5));
      p.contact_fraction = cathode.quantity("contact_fraction", "", open_closed(0, 1));
      p.inactive_fraction = cathode.quantity("inactive_fraction", "", closed_open(0, 0.9));
    }
    read_particles(cell, p);
    {
      Section nmc = cell.section("nmc");
      p.max_concentration = nmc.quantity("max_concentration", "mol/m3", closed(1e3, 1e5));
      p.ocp_fit = nmc.choice<models::NmcOcpFit>(
          "ocp_fit", {{"nmc721_blend", models::NmcOcpFit::kNmc721Blend},
                      {"chen2020_nmc811", models::NmcOcpFit::kChen2020Nmc811},
                      {"mohtat2020_nmc532", models::NmcOcpFit::kMohtat2020Nmc532}});
      p.diffusivity_model = nmc.choice<models::DiffusivityModel>(
          "diffusivity_model", {{"oregan2022", models::DiffusivityModel::kORegan2022},
                                {"constant", models::DiffusivityModel::kConstant}});
      p.diffusivity_scale = nmc.quantity("diffusivity_scale", "", closed(1e-4, 1e4));
      p.diffusivity_constant = nmc.quantity("diffusivity_constant", "m2/s", closed(1e-20, 1e-10));
      p.exchange_current_mid = nmc.quantity("exchange_current_mid", "A/m2", closed(1e-6, 1e4));
      p.transfer_coefficient = nmc.quantity("transfer_coefficient", "", open(0, 1));
    }
    {
      Section sigma = cell.section("conductivity");
      p.electrolyte_conductivity = sigma.quantity("electrolyte", "S/cm", closed(1e-8, 1));
      p.sigma_lithiated = sigma.quantity("nmc_lithiated", "S/m", closed(1e-10, 1e5));
      p.sigma_delithiated = sigma.quantity("nmc_delithiated", "S/m", closed(1e-10, 1e5));
      p.sigma_transition_x = sigma.quantity("nmc_transition_stoichiometry", "", open(0, 1));
      p.sigma_transition_width = sigma.quantity("nmc_transition_width", "", open_closed(0, 0.5));
    }
    {
      Section mechanics = cell.section("mechanics");
      p.partial_molar_volume =
          mechanics.quantity("partial_molar_volume", "m3/mol", closed(-2e-5, 2e-5));
      p.young_modulus = mechanics.quantity("young_modulus", "GPa", closed(1, 1000));
      p.poisson_ratio = mechanics.quantity("poisson_ratio", "", open(-1, 0.5));
      p.stack_pressure = mechanics.quantity("stack_pressure", "MPa", closed(0, 2000));
      p.stack_pressure_hydrostatic_fraction =
          mechanics.quantity("stack_pressure_hydrostatic_fraction", "", closed(0, 1));
    }
  }

  // The aging submodels (models/aging.hpp; docs/configuration.md, "aging"). Ranges are physical
  // bounds, or where the model needs them (a threshold below 1, a capacity above 0).
  void read_aging(Section aging, models::CellParams& p) {
    {
      Section on = aging.section("submodels");
      p.rsp_formation = on.boolean("rsp_formation");
      p.misfit_stress = on.boolean("misfit_stress");
      p.rsp_exchange = on.boolean("rsp_exchange");
      p.rsp_stress_exchange = on.boolean("rsp_stress_exchange");
      p.cracking = on.boolean("cracking");
      p.transition_layer = on.boolean("transition_layer");
    }
    {
      Section rsp = aging.section("rsp");
      p.rsp_architecture = rsp.choice<models::RspArchitecture>(
          "architecture", {{"dispersed", models::RspArchitecture::kDispersed},
                           {"shell", models::RspArchitecture::kShell}});
      p.rsp_rate_constant = rsp.quantity("rate_constant", "1/s", closed(0, 1));
      p.rsp_activation_energy = rsp.quantity("activation_energy", "kJ/mol", closed(0, 300));
      p.rsp_threshold_stoichiometry = rsp.quantity("threshold_stoichiometry", "", open(0, 1));
      p.oxygen_per_rsp = rsp.quantity("oxygen_per_transition_metal", "", closed(0, 2));
      p.rsp_lithium_capacity = rsp.quantity("lithium_capacity", "", open_closed(0, 1));
      // The RSP's Li sites as one MSMR gallery: standard potential (vs Li+/Li, stress-free) and
      // width omega (>= 1; 1 = ideal lattice gas).
      p.rsp_site_potential = rsp.quantity("site_potential", "V", closed(0, 6));
      p.rsp_site_width = rsp.quantity("site_width", "", closed(1, 100));
      p.rsp_partial_molar_volume = rsp.quantity("partial_molar_volume", "m3/mol", closed(0, 1e-4));
      p.exchange_rate_constant = rsp.quantity("exchange_rate_constant", "1/s", closed(0, 1e3));
      if (p.rsp_architecture == models::RspArchitecture::kShell) {
        aging.out().at("submodels.rsp_exchange").comment =
            "inactive: the exchange acts in the dispersed architecture only";
      }
    }
    {
      Section misfit = aging.section("misfit");
      p.misfit_strain = misfit.quantity("strain", "", closed(0, 0.1));
      p.rsp_bulk_modulus = misfit.quantity("rsp_bulk_modulus", "GPa", closed(1, 1000));
      p.layered_shear_modulus = misfit.quantity("layered_shear_modulus", "GPa", closed(1, 1000));
      p.inclusion_radius = misfit.quantity("inclusion_radius", "nm", open_closed(0, 10000));
      const double k = p.rsp_bulk_modulus, mu = p.layered_shear_modulus;
      misfit.out().at("strain").comment =
          "p0 = 12 K mu e*/(3K + 4mu) = " +
          significant(12.0 * k * mu * p.misfit_strain / (3.0 * k + 4.0 * mu) * 1e-9, "GPa");
    }
    {
      Section percolation = aging.section("percolation");
      p.percolation_threshold = percolation.quantity("threshold", "", closed_open(0, 1));
      p.percolation_exponent = percolation.quantity("exponent", "", closed(1, 5));
      p.disordered_share = percolation.quantity("disordered_share", "", closed_open(0, 1));
    }
    {
      Section shell = aging.section("shell");
      p.shell_resistivity = shell.quantity("resistivity", "Ohm m", closed(0, 1e12));
      if (p.rsp_architecture != models::RspArchitecture::kShell) {
        shell.out().at("resistivity").comment = "used by rsp.architecture: shell only";
      }
    }
    {
      Section cracking = aging.section("cracking");
      // PyBaMM's k_cr, m/(Pa m^0.5)^m per hour: its unit depends on the exponent, so a number.
      p.crack_rate_constant = cracking.quantity("rate_constant", "", closed(0, 1));
      p.crack_exponent = cracking.quantity("exponent", "", closed(1, 10));
      p.crack_geometry_factor = cracking.quantity("geometry_factor", "", open_closed(0, 10));
      p.initial_crack_length = cracking.quantity("initial_length", "nm", open_closed(0, 1000));
      p.crack_isolation = cracking.quantity("isolation", "", closed(0, 10));
    }
    {
      Section layer = aging.section("transition_layer");
      p.layer_volume_per_oxygen = layer.quantity("volume_per_oxygen", "cm3/mol", closed(0, 1000));
      p.layer_conductivity = layer.quantity("conductivity", "S/m", closed(1e-12, 1e3));
    }
  }

  void read_particles(Section& cell, models::CellParams& p) {
    const Value list = cell.require("particles");
    const auto items = list_items(list, 1, models::kMaxParticleClasses, "particle classes");
    OutNode& out_list = cell.out().child("particles", OutNode::Kind::kSequence);
    double weight_sum = 0.0;
    p.particle_classes = static_cast<int>(items.size());
    std::fill(std::begin(p.particle_radius), std::end(p.particle_radius), 0.0);
    std::fill(std::begin(p.particle_volume_weight), std::end(p.particle_volume_weight), 0.0);
    std::vector<OutNode*> weight_out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      Section item = item_section(items[i], out_list, "a particle class");
      const auto radius = item.find("radius");
      const auto diameter = item.find("diameter");
      if (radius && diameter) {
        fail(diameter->at, diameter->path, "give radius or diameter, not both");
      }
      if (!radius && !diameter) {
        fail(items[i].at, item.path_of("radius"),
             "missing required key: each particle class needs 'radius' or 'diameter'" +
                 item.misspelt_hint("radius") + item.misspelt_hint("diameter"));
      }
      double r = 0.0;
      if (radius) {
        r = item.quantity("radius", "um", closed(0.01, 100));
      } else {
        r = 0.5 * item.quantity("diameter", "um", closed(0.02, 200));
        // Written back as a radius, so the resolved file has one spelling.
        item.out().entries.clear();
        item.write("radius", Section::value_text(r, "um"));
      }
      p.particle_radius[i] = r;
      p.particle_volume_weight[i] = item.quantity("volume_weight", "", open_closed(0, 1));
      weight_out.push_back(&item.out().at("volume_weight"));
      weight_sum += p.particle_volume_weight[i];
    }
    if (std::abs(weight_sum - 1.0) > kWeightSumTolerance) {
      fail(list.at, list.path,
           fmt::format("volume weights of the particle classes sum to {}, not 1 (allowed "
                       "|sum - 1| <= {})",
                       units::format_number(weight_sum), kWeightSumTolerance));
    }
    for (std::size_t i = 0; i < items.size(); ++i) {  // normalise within the tolerance
      p.particle_volume_weight[i] /= weight_sum;
      weight_out[i]->text = units::format_number(p.particle_volume_weight[i]);
    }
  }

  void read_loading(Section loading, RunConfig& config) {
    LoadingConfig& l = config.loading;
    l.basis = loading.choice<LoadingConfig::Basis>(
        "basis", {{"composite", LoadingConfig::Basis::kComposite},
                  {"active_material", LoadingConfig::Basis::kActiveMaterial}});
    areal_mass_ = loading.derivable("areal_mass", "mg/cm2", closed(0.1, 500));
    mass_fraction_ = loading.derivable("active_mass_fraction", "", open(0, 1));
    l.active_density = loading.quantity("active_density", "g/cm3", closed(1, 12));
    l.electrolyte_density = loading.quantity("electrolyte_density", "g/cm3", closed(0.5, 8));
    porosity_ = loading.derivable("porosity", "", closed_open(0, 0.9));
    l.active_molar_mass = loading.quantity("active_molar_mass", "g/mol", closed(10, 1000));
    l.reference_specific_capacity =
        loading.quantity("reference_specific_capacity", "mAh/g", closed(1, 1000));
  }

  void read_mesh(Section mesh, MeshConfig& m) {
    m.cathode_nodes = static_cast<int>(mesh.integer("cathode_nodes", closed(1, 1000)));
    m.radial_shells = static_cast<int>(mesh.integer("radial_shells", closed(3, 1000)));
    m.shell_stretch = mesh.quantity("shell_stretch", "", closed(0, 100));
  }

  void read_solver(Section solver, SolverConfig& s) {
    s.relative_tolerance = solver.quantity("relative_tolerance", "", closed(1e-12, 1e-2));
    s.absolute_tolerance_stoichiometry =
        solver.quantity("absolute_tolerance_stoichiometry", "", closed(1e-15, 1e-2));
    s.absolute_tolerance_potential =
        solver.quantity("absolute_tolerance_potential", "V", closed(1e-15, 1e-2));
    s.absolute_tolerance_current =
        solver.quantity("absolute_tolerance_current", "A/m2", closed(1e-15, 1));
    s.absolute_tolerance_charge =
        solver.quantity("absolute_tolerance_charge", "C/m2", closed(1e-15, 1e3));
    s.max_step = solver.quantity("max_step", "s", closed(1e-3, 1e6));
    s.max_steps_per_step = solver.integer("max_steps_per_step", closed(100, 1e10));
  }

  // A protocol's cycles in all (docs/configuration.md): 10 million 1C cycles are ~3000 years.
  static constexpr long long kMaxTotalCycles = 10'000'000;

  void read_protocol(Section protocol, RunConfig& config) {
    Protocol& pr = config.protocol;
    pr.reference = protocol.choice<VoltageReference>("voltage_reference",
                                                     {{"Li+/Li", VoltageReference::kLithium},
                                                      {"Li/Li+", VoltageReference::kLithium},
                                                      {"Li-In", VoltageReference::kLithiumIndium},
                                                      {"LiIn", VoltageReference::kLithiumIndium}});
    protocol.write("voltage_reference", to_string(pr.reference));
    const Value blocks = protocol.require("blocks");
    OutNode& out_blocks = protocol.out().child("blocks", OutNode::Kind::kSequence);
    long long total_cycles = 0;
    for (const Value& block_value : list_items(blocks, 1, 10000, "blocks")) {
      Section block_section = item_section(block_value, out_blocks, "a block");
      Block block;
      block.repeat = static_cast<int>(block_section.integer("repeat", closed(1, 1e7)));
      const Value steps = block_section.require("steps");
      OutNode& out_steps = block_section.out().child("steps", OutNode::Kind::kSequence);
      std::vector<Location> step_locations;
      for (const Value& step_value : list_items(steps, 1, 1000, "steps")) {
        const std::string& text = Section::scalar(step_value, "a step such as 'Rest for 1 h'");
        try {
          block.steps.push_back(parse_step(text));
        } catch (const std::invalid_argument& e) {
          fail(step_value.at, step_value.path, e.what());
        }
        step_locations.push_back(step_value.at);
        out_steps.append_item(OutNode::Kind::kScalar).text = yaml_quoted(text);
      }
      check_block(block, step_locations, block_value.path, config.cell.anode_ocp, pr.reference);
      pr.blocks.push_back(std::move(block));
      // Cycle numbers are int: summed in 64 bits, 300 blocks of 1e7 repeats wrapped negative
      // ("allowed range 1 <= cycle <= -1294967296").
      total_cycles += pr.blocks.back().repeat;
      if (total_cycles > kMaxTotalCycles)
        fail(block_value.at, block_value.path,
             fmt::format("the protocol has {} cycles up to this block; at most {} in all",
                         total_cycles, kMaxTotalCycles));
    }
  }

  // Voltages inside the NMC window, and each discharge cut-off below the charge voltage that
  // precedes it (in cycle order: the step before, wrapping round to the end of the block).
  static void check_block(const Block& block, const std::vector<Location>& where,
                          const std::string& path, double anode_ocp, VoltageReference reference) {
    const double shift = reference == VoltageReference::kLithiumIndium ? anode_ocp : 0.0;
    const std::size_t n = block.steps.size();
    const auto step_path = [&](std::size_t i) { return fmt::format("{}.steps[{}]", path, i); };
    const auto top_voltage = [&](const Step& step) -> std::optional<double> {
      if (step.mode == StepMode::kHoldVoltage) return step.voltage;
      if (step.mode != StepMode::kChargeCurrent) return std::nullopt;
      for (const Termination& end : step.until) {
        if (end.kind == Termination::Kind::kVoltage) return end.value;
      }
      return std::nullopt;
    };
    for (std::size_t i = 0; i < n; ++i) {
      const Step& step = block.steps[i];
      std::vector<double> voltages;
      if (step.mode == StepMode::kHoldVoltage) voltages.push_back(step.voltage);
      for (const Termination& end : step.until) {
        if (end.kind == Termination::Kind::kVoltage) voltages.push_back(end.value);
      }
      for (double v : voltages) {
        const double vs_lithium = v + shift;
        if (vs_lithium < kNmcWindowLow || vs_lithium > kNmcWindowHigh) {
          fail(where[i], step_path(i),
               fmt::format("{} V vs {} is {} V vs Li+/Li, outside the NMC window the model "
                           "covers (allowed range {} V <= U <= {} V vs Li+/Li); is "
                           "protocol.voltage_reference right?",
                           units::format_number(v), to_string(reference),
                           units::format_number(vs_lithium), kNmcWindowLow, kNmcWindowHigh));
        }
      }
      if (step.mode != StepMode::kDischargeCurrent) continue;
      for (const Termination& end : step.until) {
        if (end.kind != Termination::Kind::kVoltage) continue;
        for (std::size_t back = 1; back <= n; ++back) {
          const std::size_t j = (i + n - back) % n;
          if (block.steps[j].mode == StepMode::kDischargeCurrent) break;  // no charge between
          const auto top = top_voltage(block.steps[j]);
          if (!top) continue;
          if (end.value >= *top) {
            fail(where[i], step_path(i),
                 fmt::format("inconsistent: the discharge cut-off {} V is not below the charge "
                             "voltage {} V of step {} ('{}')",
                             units::format_number(end.value), units::format_number(*top), j,
                             block.steps[j].text));
          }
          break;
        }
      }
    }
  }

  void read_output(Section output, RunConfig& config) {
    const Value list = output.require("curve_cycles");
    const int total = config.protocol.total_cycles();
    OutNode& out = output.out().child("curve_cycles", OutNode::Kind::kScalar);
    std::string text;
    for (const Value& item : list_items(list, 0, 100000, "cycles")) {
      const long cycle = Section::parse_integer(item, closed(1, total), "cycle");
      config.output.curve_cycles.push_back(static_cast<int>(cycle));
      text += (text.empty() ? "" : ", ") + std::to_string(cycle);
    }
    out.text = "[" + text + "]";
  }

  // Resolves the two pairs of alternatives of the cathode description (docs/configuration.md,
  // "Loading or geometry"): the value from the most specific source wins; both given in the
  // same source is an error.
  void resolve_geometry(RunConfig& config) {
    LoadingConfig& l = config.loading;
    // Amount: cell.cathode.thickness <-> loading.areal_mass.
    l.derive_thickness = pick_side({&thickness_}, {&areal_mass_});
    // Composition: cathode volume fractions <-> loading mass fraction and porosity.
    l.derive_volume_fractions =
        pick_side({&active_fraction_, &electrolyte_fraction_}, {&mass_fraction_, &porosity_});
    if (l.derive_thickness) {
      l.areal_mass = *areal_mass_.value;
    } else {
      config.cell.cathode_thickness = *thickness_.value;
    }
    if (l.derive_volume_fractions) {
      l.active_mass_fraction = *mass_fraction_.value;
      l.porosity = *porosity_.value;
    } else {
      config.cell.active_volume_fraction = *active_fraction_.value;
      config.cell.electrolyte_volume_fraction = *electrolyte_fraction_.value;
      const double solid = *active_fraction_.value + *electrolyte_fraction_.value;
      if (solid > 1.0) {
        const Value& at = electrolyte_fraction_.where;
        fail(at.at, at.path,
             fmt::format("inconsistent: active_volume_fraction + electrolyte_volume_fraction = "
                         "{}, more than 1 (allowed sum <= 1; the rest is porosity)",
                         units::format_number(solid)));
      }
    }
    try {
      resolve_loading(config);
    } catch (const ConfigError& e) {
      const Value& at = l.derive_thickness ? areal_mass_.where : thickness_.where;
      fail(at.at, at.path, e.detail);
    }
    // The derived cathode must still be a physical one.
    const double thickness_um = config.cell.cathode_thickness * 1e6;
    if (l.derive_thickness && !closed(1, 2000).contains(thickness_um)) {
      fail(areal_mass_.where.at, areal_mass_.where.path,
           fmt::format("gives a cathode thickness of {} um (allowed range 1 um <= thickness <= "
                       "2000 um)",
                       units::format_number(thickness_um)));
    }
    write_geometry_comments(config);
  }

  // Returns true if side B (the loading) wins over side A (explicit cathode geometry).
  bool pick_side(const std::vector<Derivable*>& geometry, const std::vector<Derivable*>& loading) {
    const auto side_given = [](const std::vector<Derivable*>& side) {
      const bool any = std::any_of(side.begin(), side.end(), [](auto* d) { return d->value; });
      const bool all = std::all_of(side.begin(), side.end(), [](auto* d) { return d->value; });
      if (any && !all) {
        const auto missing =
            *std::find_if(side.begin(), side.end(), [](auto* d) { return !d->value; });
        const auto given =
            *std::find_if(side.begin(), side.end(), [](auto* d) { return d->value; });
        fail(missing->where.at, missing->where.path,
             fmt::format("inconsistent: '{}' is given, so this key must be given too (it is "
                         "'derived')",
                         given->where.path));
      }
      return all;
    };
    const auto side_layer = [](const std::vector<Derivable*>& side) {
      int layer = 0;
      for (auto* d : side) layer = std::max(layer, static_cast<int>(d->where.node->layer));
      return layer;
    };
    const auto names = [](const std::vector<Derivable*>& side) {
      std::vector<std::string> paths;
      for (auto* d : side) paths.push_back(d->where.path);
      return quoted_list(paths, "and");
    };
    const bool geometry_given = side_given(geometry);
    const bool loading_given = side_given(loading);
    if (!geometry_given && !loading_given) {
      fail(loading.front()->where.at, loading.front()->where.path,
           fmt::format("one of {} or {} must be given; both are 'derived'", names(geometry),
                       names(loading)));
    }
    if (geometry_given && loading_given) {
      const int g = side_layer(geometry);
      const int l = side_layer(loading);
      if (g == l) {
        const Value& at = geometry.front()->where;
        fail(at.at, at.path,
             fmt::format("inconsistent: {} and {} are both given in {}; give one and write "
                         "'derived' for the other",
                         names(geometry), names(loading), at.at.file));
      }
      return l > g;
    }
    return loading_given;
  }

  void write_geometry_comments(const RunConfig& config) {
    const LoadingConfig& l = config.loading;
    const models::CellParams& p = config.cell;
    OutNode& cathode = out_.at("cell.cathode");
    OutNode& loading = out_.at("loading");
    const std::string from_loading = "from loading: ";
    const std::string from_geometry = "from cell.cathode: ";
    if (l.derive_thickness) {
      cathode.at("thickness").text = std::string(kDerived);
      cathode.at("thickness").comment = from_loading + significant(p.cathode_thickness * 1e6, "um");
      loading.at("areal_mass").comment =
          fmt::format("CAM {}, SE {}", significant(l.active_areal_mass * 100, "mg/cm2"),
                      significant(l.electrolyte_areal_mass * 100, "mg/cm2"));
    } else {
      loading.at("areal_mass").text = std::string(kDerived);
      loading.at("areal_mass").comment =
          from_geometry + significant(l.areal_mass * 100, "mg/cm2") +
          fmt::format(" (CAM {})", significant(l.active_areal_mass * 100, "mg/cm2"));
    }
    if (l.derive_volume_fractions) {
      cathode.at("active_volume_fraction").text = std::string(kDerived);
      cathode.at("active_volume_fraction").comment =
          from_loading + fmt::format("{:.4g}", p.active_volume_fraction);
      cathode.at("electrolyte_volume_fraction").text = std::string(kDerived);
      cathode.at("electrolyte_volume_fraction").comment =
          from_loading + fmt::format("{:.4g}", p.electrolyte_volume_fraction);
    } else {
      loading.at("active_mass_fraction").text = std::string(kDerived);
      loading.at("active_mass_fraction").comment =
          from_geometry + fmt::format("{:.4g}", l.active_mass_fraction);
      loading.at("porosity").text = std::string(kDerived);
      loading.at("porosity").comment = from_geometry + fmt::format("{:.4g}", l.porosity);
    }
    loading.at("reference_specific_capacity").comment =
        "1C = " + significant(l.one_c_current_density, "A/m2");
  }

  static constexpr double kWeightSumTolerance = 1e-3;

  const Node& root_;
  OutNode out_;
  Derivable thickness_, active_fraction_, electrolyte_fraction_;
  Derivable areal_mass_, mass_fraction_, porosity_;
};

std::string read_file(const std::string& path) {
  // A directory read as empty (the defaults, exit 0) and /dev/zero until memory ran out.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw ConfigError(path, 0, 0, "", "the config is not a regular file (a directory or device?)");
  if (std::filesystem::is_regular_file(path, ec) &&
      std::filesystem::file_size(path, ec) > kMaxConfigBytes)
    throw ConfigError(path, 1, 1, "",
                      fmt::format("the config file is larger than {} MiB (the reference cell's "
                                  "is 10 kB): not a configuration",
                                  kMaxConfigBytes >> 20));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path, 0, 0, "",
                      fmt::format("cannot open the config file ({})", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path, 0, 0, "", "cannot read the config file");
  return text.str();
}

}  // namespace

namespace {

// The reference, then the user's YAML (text read from `source`, or none), then the overrides.
RunConfig load_layers(const std::string* user_text, const std::string& source,
                      const std::vector<std::string>& overrides) {
  // The embedded reference is parsed once per process (sweeps and the fuzzers load thousands
  // of configurations over it) and copied.
  static const Node reference =
      parse_yaml(build_info::kReferenceConfigYaml, MarkMapper{kEmbeddedName}, Layer::kReference);
  Node root = reference;
  if (user_text) {
    if (user_text->size() > kMaxConfigBytes)
      throw ConfigError(source, 1, 1, "",
                        fmt::format("the config is larger than {} MiB: not a configuration",
                                    kMaxConfigBytes >> 20));
    Node user = parse_yaml(*user_text, MarkMapper{source}, Layer::kFile);
    if (user.kind != Node::Kind::kMap && user.kind != Node::Kind::kNull) {
      fail(user.at, "",
           fmt::format("the top level must be a map of sections (name, cell, loading, ...), got {}",
                       kind_name(user.kind)));
    }
    merge(root, std::move(user));
  }
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    apply_override(root, overrides[i], static_cast<int>(i) + 1);
  }
  Loader loader(root);
  RunConfig config = loader.load();
  config.source = source;
  config.resolved_yaml = loader.resolved_yaml(config);
  return config;
}

}  // namespace

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return load_layers(nullptr, kEmbeddedName, overrides);
  const std::string text = read_file(path);
  return load_layers(&text, path, overrides);
}

RunConfig load_config_text(const std::string& yaml, const std::string& name,
                           const std::vector<std::string>& overrides) {
  return load_layers(&yaml, name, overrides);
}

void resolve_loading(RunConfig& config) {
  LoadingConfig& l = config.loading;
  models::CellParams& p = config.cell;
  const auto problem = [&](const std::string& message) {
    throw ConfigError(config.source, 0, 0, "loading", message);
  };
  // Composition: volume fractions from the mass fraction and porosity, or the reverse.
  if (l.derive_volume_fractions) {
    if (!(l.active_mass_fraction > 0.0 && l.active_mass_fraction < 1.0)) {
      problem("active_mass_fraction must lie strictly between 0 and 1");
    }
    if (!(l.porosity >= 0.0 && l.porosity < 1.0)) problem("porosity must lie in [0, 1)");
    const double active_volume = l.active_mass_fraction / l.active_density;  // m^3 per kg
    const double electrolyte_volume = (1.0 - l.active_mass_fraction) / l.electrolyte_density;
    const double solid = 1.0 - l.porosity;
    p.active_volume_fraction = solid * active_volume / (active_volume + electrolyte_volume);
    p.electrolyte_volume_fraction =
        solid * electrolyte_volume / (active_volume + electrolyte_volume);
  } else {
    const double solid = p.active_volume_fraction + p.electrolyte_volume_fraction;
    if (!(p.active_volume_fraction > 0.0 && p.electrolyte_volume_fraction > 0.0 && solid <= 1.0)) {
      problem("the cathode volume fractions must be positive and sum to at most 1");
    }
    l.porosity = 1.0 - solid;
    const double active_mass = p.active_volume_fraction * l.active_density;
    l.active_mass_fraction =
        active_mass / (active_mass + p.electrolyte_volume_fraction * l.electrolyte_density);
  }
  // Amount: thickness from the areal mass, or the reverse.
  if (l.derive_thickness) {
    if (!(l.areal_mass > 0.0)) problem("areal_mass must be positive");
    l.active_areal_mass = l.basis == LoadingConfig::Basis::kComposite
                              ? l.areal_mass * l.active_mass_fraction
                              : l.areal_mass;
    l.electrolyte_areal_mass =
        l.active_areal_mass * (1.0 - l.active_mass_fraction) / l.active_mass_fraction;
    p.cathode_thickness = (l.active_areal_mass / l.active_density +
                           l.electrolyte_areal_mass / l.electrolyte_density) /
                          (1.0 - l.porosity);
  } else {
    if (!(p.cathode_thickness > 0.0)) problem("the cathode thickness must be positive");
    l.active_areal_mass = p.cathode_thickness * p.active_volume_fraction * l.active_density;
    l.electrolyte_areal_mass =
        p.cathode_thickness * p.electrolyte_volume_fraction * l.electrolyte_density;
    l.areal_mass = l.basis == LoadingConfig::Basis::kComposite
                       ? l.active_areal_mass + l.electrolyte_areal_mass
                       : l.active_areal_mass;
  }
  // I_1C [A/m^2] = q [mAh/g] * 3.6 [C/mAh] * 1000 [g/kg] * m_AM [kg/m^2] / 3600 [s].
  constexpr double kCoulombPerMilliampHour = 3.6;
  constexpr double kGramPerKilogram = 1000.0;
  constexpr double kSecondsPerHour = 3600.0;
  l.one_c_current_density = l.reference_specific_capacity * kCoulombPerMilliampHour *
                            kGramPerKilogram * l.active_areal_mass / kSecondsPerHour;
}

}  // namespace halite
