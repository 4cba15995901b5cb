// Limits on a parsed YAML tree, checked before anything walks it recursively: a self-referencing
// alias ("a: &a [*a]") makes a cycle that a recursive walk follows until the stack overflows, and
// nested aliases ("billion laughs") expand a small file into billions of nodes.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace halite {

inline constexpr int kMaxYamlDepth = 64;                 // nesting levels
inline constexpr std::size_t kMaxYamlNodes = 1'000'000;  // nodes after alias expansion

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

}  // namespace halite
