// Run configuration: the YAML a user writes (with units), validated and resolved into SI values.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "host/engine/run_config.hpp"

namespace halite {

// A configuration error: where it is and what is wrong. what() is the full message.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, int column, std::string key, std::string message);
  const std::string file, key, detail;
  const int line, column;
};

// Loads a YAML config (path empty = the embedded reference cell), applies "key.path=value"
// overrides, validates every key and resolves units and derived quantities. Throws ConfigError.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same for YAML text; `name` stands for the file in messages and in RunConfig::source.
RunConfig load_config_text(const std::string& yaml, const std::string& name,
                           const std::vector<std::string>& overrides = {});

// Derives the cathode thickness, volume fractions and the 1C current density from the loading.
void resolve_loading(RunConfig& config);

}  // namespace halite
