// `halite fit [CONFIG] FIT.yaml`: any configuration keys fitted to measured data, with
// uncertainty (docs/validation.md, "Fitting a cell").
//
// FIT.yaml names the parameters (config keys with bounds, log or linear scale, optional start and
// Gaussian prior) and the data (a DATA.yaml of `halite validate`, with optional weights per
// dataset). The objective is the weighted sum of squared residuals, each in units of its band's
// half width (taken as one standard deviation), plus the priors. NLopt's BOBYQA minimises it in
// the unit box of the scaled parameters from one or more starts (run in parallel); at the
// optimum the Fisher matrix J^T J (central differences) gives covariances and correlations, and
// profile likelihoods give 95 % intervals (delta chi^2 = 3.84). Every evaluation is kept in a
// journal (OUTPUT.evaluations): a killed fit resumed with --resume replays it and reaches the
// same optimum. Outputs: OUTPUT (HDF5: the best fit's runs and /validation as `halite
// validate` writes them, plus /fit), OUTPUT's stem + "_best.yaml" (a configuration `halite run`
// accepts), + ".md" (the report, also printed).
#pragma once

#include <string>
#include <vector>

#include "host/engine/integrator.hpp"

namespace halite {

struct FitOptions {
  std::string config;  // CONFIG; "" = the data's `config:`, else the embedded reference
  std::string fit;     // FIT.yaml
  std::vector<std::string> overrides;  // --set for every run
  std::string output = "fit.h5";
  bool overwrite = false;
  bool resume = false;  // continue from OUTPUT.evaluations
  std::string plots;    // directory for PNG plots ("" = none)
  int threads = 0;
  bool quiet = false;
  Backend backend = Backend::kCpu;
};

// Returns the exit code: 0 done (identifiability warnings are in the report), 2 bad input,
// 3 the best point's simulation failed, 128 + signal when interrupted (the journal keeps every
// finished evaluation: --resume continues).
int run_fit(const FitOptions& options);

// True when halite was built with NLopt (`halite fit` needs it).
bool fit_available();

}  // namespace halite
