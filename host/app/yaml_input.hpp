// Small helpers for the YAML input files of `halite validate` and `halite fit` (DATA.yaml,
// FIT.yaml): errors located at a node, and the keys a map may have.
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include "host/app/config.hpp"

namespace halite {

// Throws ConfigError at `node` of `file` (1-based line and column) for `key`.
[[noreturn]] inline void fail_at_node(const std::string& file, const YAML::Node& node,
                                      const std::string& key, const std::string& message) {
  const YAML::Mark m = node.Mark();
  throw ConfigError(file, m.line >= 0 ? m.line + 1 : 0, m.column >= 0 ? m.column + 1 : 0, key,
                    message);
}

// The keys a map may have; anything else is an error at the key naming the allowed ones.
inline void allow_keys(const std::string& file, const YAML::Node& map, const std::string& where,
                       std::initializer_list<std::string_view> allowed) {
  for (const auto& entry : map) {
    const std::string key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "'" : ", '") + std::string(a) + "'";
    fail_at_node(file, entry.first, where.empty() ? key : where + "." + key,
                 fmt::format("unknown key '{}'; allowed here: {}", key, list));
  }
}

}  // namespace halite
