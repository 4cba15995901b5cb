// Parser for PyBaMM-style cycler steps. Grammar (keywords case-insensitive):
//
//   step        := action ending ( "or" ending )*
//   action      := ("Charge" | "Discharge") "at" current
//                | "Hold" "at" voltage
//                | "Rest"
//   ending      := "until" condition | "for" time | condition   (a bare condition after "or"
//                                                                repeats the previous keyword)
//   current     := C-rate ("1C", "0.2C", "C/5") | current density ("38 A/m2", "3.8 mA/cm2")
//   condition   := voltage ("4.3 V") | current | time ("15 minutes") | capacity ("150 mAh/g")
#include "host/app/step_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "host/app/units.hpp"

namespace halite {
namespace {

// Physical bounds on what a step may ask for; outside them the text is surely a typo.
constexpr double kMaxVoltage = 10.0;          // V
constexpr double kMaxCRate = 1000.0;          // 1/h
constexpr double kMaxCurrentDensity = 1.0e5;  // A/m^2 (10 A/cm^2)
constexpr double kMaxSpecificCapacity = 1e3;  // mAh/g

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) words.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      current[j] = std::min(
          {previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

bool is_keyword(const std::string& word) {
  const std::string w = lower(word);
  return w == "until" || w == "for" || w == "or" || w == "at";
}

// "1C", "0.2 C", "C/5" -> C-rate; nullopt if the text is not written as a C-rate.
std::optional<double> parse_c_rate(std::string_view text) {
  std::string compact;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
  }
  if (compact.size() > 2 && compact.starts_with("C/")) {
    const auto divisor = units::parse_number(std::string_view(compact).substr(2));
    if (divisor && *divisor > 0.0) return 1.0 / *divisor;
    return std::nullopt;
  }
  if (compact.size() > 1 && compact.back() == 'C') {
    return units::parse_number(std::string_view(compact).substr(0, compact.size() - 1));
  }
  return std::nullopt;
}

class StepParser {
 public:
  explicit StepParser(const std::string& text) : text_(text), words_(split_words(text)) {}

  Step parse() {
    if (words_.empty()) fail("the step is empty");
    Step step;
    step.text = text_;
    const std::string action = lower(words_[0]);
    next_ = 1;
    if (action == "charge" || action == "discharge") {
      step.mode = action == "charge" ? StepMode::kChargeCurrent : StepMode::kDischargeCurrent;
      expect_at(words_[0]);
      parse_phrase(take_phrase(), [&](const std::string& phrase) {
        read_current(step, phrase);
        return 0;
      });
    } else if (action == "hold") {
      step.mode = StepMode::kHoldVoltage;
      expect_at(words_[0]);
      step.voltage = parse_phrase(take_phrase(),
                                  [&](const std::string& phrase) { return read_voltage(phrase); });
    } else if (action == "rest") {
      step.mode = StepMode::kRest;
    } else {
      fail(fmt::format("unrecognised action '{}' (expected Charge, Discharge, Hold or Rest)",
                       words_[0]));
    }
    read_endings(step);
    return step;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw std::invalid_argument(fmt::format("step '{}': {}", text_, problem));
  }

  void expect_at(const std::string& action) {
    if (next_ >= words_.size() || lower(words_[next_]) != "at") {
      fail(fmt::format("expected 'at' after '{}'{}", action,
                       next_ < words_.size() ? fmt::format(", found '{}'", words_[next_]) : ""));
    }
    ++next_;
  }

  // The words up to the next keyword.
  std::vector<std::string> take_phrase() {
    std::vector<std::string> phrase;
    while (next_ < words_.size() && !is_keyword(words_[next_])) phrase.push_back(words_[next_++]);
    return phrase;
  }

  static std::string join(const std::vector<std::string>& words, std::size_t count) {
    std::string text;
    for (std::size_t i = 0; i < count && i < words.size(); ++i) {
      if (i > 0) text += ' ';
      text += words[i];
    }
    return text;
  }

  // Parses a phrase with `parse`. If the whole phrase fails but a shorter start of it parses,
  // the word after that start is what was not understood ("1C untl 4.3 V": 'untl'), so name it.
  template <typename Parse>
  std::invoke_result_t<Parse, const std::string&> parse_phrase(
      const std::vector<std::string>& words, Parse parse) {
    try {
      return parse(join(words, words.size()));
    } catch (const std::invalid_argument&) {
      for (std::size_t count = words.size() - 1; count >= 1 && words.size() > 1; --count) {
        try {
          parse(join(words, count));
        } catch (const std::invalid_argument&) {
          continue;
        }
        fail(fmt::format("unrecognised '{}' after '{}'{}", words[count], join(words, count),
                         keyword_hint(words[count])));
      }
      throw;
    }
  }

  // "; did you mean 'until'?" for a misspelt keyword.
  static std::string keyword_hint(const std::string& word) {
    for (const char* keyword : {"until", "for", "or"}) {
      if (edit_distance(lower(word), keyword) <= (std::string_view(keyword).size() > 3 ? 2 : 1)) {
        return fmt::format(" (did you mean '{}'?)", keyword);
      }
    }
    return " (expected 'until', 'for', 'or' or the end of the step)";
  }

  void read_current(Step& step, const std::string& phrase) {
    if (phrase.empty()) fail("missing current after 'at' (e.g. 1C, C/5 or 38 A/m2)");
    if (const auto rate = parse_c_rate(phrase)) {
      if (!(*rate > 0.0 && *rate <= kMaxCRate)) {
        fail(fmt::format("C-rate '{}' is outside the allowed range 0 < rate <= {}C", phrase,
                         kMaxCRate));
      }
      step.c_rate = *rate;
      return;
    }
    try {
      const double density = units::parse_quantity(phrase, units::Dimension::kCurrentDensity);
      if (!(density > 0.0 && density <= kMaxCurrentDensity)) {
        fail(fmt::format("current density '{}' is outside the allowed range 0 < i <= {} A/m2",
                         phrase, kMaxCurrentDensity));
      }
      step.current_density = density;
    } catch (const units::UnitError&) {
      const bool absolute = phrase.ends_with(" A") || phrase.ends_with(" mA") ||
                            phrase.ends_with("mA") ||
                            (phrase.ends_with('A') && phrase.size() > 1 &&
                             std::isdigit(static_cast<unsigned char>(phrase[phrase.size() - 2])));
      fail(
          fmt::format("unrecognised current '{}' (expected a C-rate such as 1C or C/5, or a "
                      "current density in {}{})",
                      phrase, units::accepted_units(units::Dimension::kCurrentDensity),
                      absolute ? "; a current in A would need the cell area" : ""));
    }
  }

  double read_voltage(const std::string& phrase) {
    if (phrase.empty()) fail("missing voltage after 'at' (e.g. 4.3 V)");
    double voltage = 0.0;
    try {
      voltage = units::parse_quantity(phrase, units::Dimension::kVoltage);
    } catch (const units::UnitError&) {
      fail(fmt::format("unrecognised voltage '{}' (expected e.g. 4.3 V or 4300 mV)", phrase));
    }
    check_voltage(phrase, voltage);
    return voltage;
  }

  void check_voltage(const std::string& phrase, double voltage) const {
    if (!(voltage > 0.0 && voltage <= kMaxVoltage)) {
      fail(fmt::format("voltage '{}' is outside the allowed range 0 < V <= {} V", phrase,
                       kMaxVoltage));
    }
  }

  Termination read_condition(const std::string& keyword, const std::string& phrase) {
    if (phrase.empty()) fail(fmt::format("missing condition after '{}'", keyword));
    Termination end;
    if (const auto rate = parse_c_rate(phrase)) {
      if (keyword == "for") fail(fmt::format("'for' needs a time, found '{}'", phrase));
      if (!(*rate > 0.0 && *rate <= kMaxCRate)) {
        fail(fmt::format("current cut-off '{}' is outside the allowed range 0 < rate <= {}C",
                         phrase, kMaxCRate));
      }
      end.kind = Termination::Kind::kCurrent;
      end.value = *rate;
      end.in_c_rate = true;
      return end;
    }
    const units::Unit* unit = nullptr;
    double number = 0.0;
    try {
      const units::WrittenQuantity written = units::split_quantity(phrase);
      number = written.number;
      unit = units::find_unit(written.unit);
    } catch (const units::UnitError&) {
    }
    const auto dimension = unit ? unit->dimension : units::Dimension::kDimensionless;
    const bool known = unit && (dimension == units::Dimension::kVoltage ||
                                dimension == units::Dimension::kCurrentDensity ||
                                dimension == units::Dimension::kTime ||
                                dimension == units::Dimension::kSpecificCapacity);
    if (keyword == "for" && (!unit || dimension != units::Dimension::kTime)) {
      fail(fmt::format("'for' needs a time (e.g. 15 minutes, 2 h), found '{}'", phrase));
    }
    if (!known) {
      fail(
          fmt::format("unrecognised condition '{}' (expected a voltage such as 4.3 V, a current "
                      "such as 0.05C or 1 A/m2, a time such as 15 minutes, or a capacity such "
                      "as 150 mAh/g)",
                      phrase));
    }
    const double value = units::to_canonical(number, *unit);
    switch (dimension) {
      case units::Dimension::kVoltage:
        check_voltage(phrase, value);
        end.kind = Termination::Kind::kVoltage;
        break;
      case units::Dimension::kCurrentDensity:
        if (!(value > 0.0 && value <= kMaxCurrentDensity)) {
          fail(fmt::format("current cut-off '{}' is outside the allowed range 0 < i <= {} A/m2",
                           phrase, kMaxCurrentDensity));
        }
        end.kind = Termination::Kind::kCurrent;
        break;
      case units::Dimension::kTime:
        if (!(value > 0.0)) fail(fmt::format("duration '{}' must be positive", phrase));
        end.kind = Termination::Kind::kTime;
        break;
      default:  // specific capacity
        if (!(value > 0.0 && value <= kMaxSpecificCapacity)) {
          fail(fmt::format("capacity '{}' is outside the allowed range 0 < q <= {} mAh/g", phrase,
                           kMaxSpecificCapacity));
        }
        end.kind = Termination::Kind::kCapacity;
        break;
    }
    end.value = value;
    return end;
  }

  void read_endings(Step& step) {
    std::string keyword;  // the last "until"/"for", inherited by a bare condition after "or"
    while (next_ < words_.size()) {
      std::string word = lower(words_[next_]);
      if (!step.until.empty()) {
        if (word != "or") {
          fail(fmt::format("expected 'or' or the end of the step, found '{}'", words_[next_]));
        }
        if (++next_ >= words_.size()) fail("missing condition after 'or'");
        word = lower(words_[next_]);
      }
      if (word == "until" || word == "for") {
        keyword = word;
        ++next_;
      } else if (keyword.empty()) {
        fail(fmt::format("expected 'until' or 'for', found '{}'", words_[next_]));
      }
      const Termination end = parse_phrase(take_phrase(), [&](const std::string& phrase) {
        return read_condition(keyword, phrase);
      });
      check_allowed(step, end);
      step.until.push_back(end);
    }
    if (step.until.empty()) {
      fail(step.mode == StepMode::kRest
               ? "a rest needs a duration ('Rest for 10 minutes')"
               : "missing end condition ('until 4.3 V', 'until 0.05C', 'for 15 minutes', ...)");
    }
  }

  void check_allowed(const Step& step, const Termination& end) const {
    using Kind = Termination::Kind;
    for (const Termination& other : step.until) {
      if (other.kind == end.kind) fail("two end conditions of the same kind; keep one");
    }
    if ((step.mode == StepMode::kChargeCurrent || step.mode == StepMode::kDischargeCurrent) &&
        end.kind == Kind::kCurrent) {
      fail("a constant-current step cannot end on a current (use a voltage, time or capacity)");
    }
    if (step.mode == StepMode::kHoldVoltage && end.kind == Kind::kVoltage) {
      fail("a voltage hold cannot end on a voltage (use a current, time or capacity)");
    }
    if (step.mode == StepMode::kRest && end.kind != Kind::kTime) {
      fail("a rest ends only after a time ('Rest for 10 minutes')");
    }
  }

  const std::string& text_;
  std::vector<std::string> words_;
  std::size_t next_ = 0;
};

}  // namespace

Step parse_step(const std::string& text) {
  return StepParser(text).parse();
}

}  // namespace halite
