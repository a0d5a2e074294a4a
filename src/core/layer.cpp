#include "core/layer.hpp"

namespace gpudoctor {

std::string_view to_string(Layer layer) {
  switch (layer) {
    case Layer::hardware: return "hardware";
    case Layer::driver: return "driver";
    case Layer::platform: return "platform";
    case Layer::libraries: return "libraries";
    case Layer::framework: return "framework";
    case Layer::environment: return "environment";
    case Layer::program: return "program";
    case Layer::benign: return "benign";
  }
  return "unknown";
}

std::optional<Layer> layer_from_string(std::string_view name) {
  for (Layer l : k_all_layers) {
    if (to_string(l) == name) return l;
  }
  if (name == "benign") return Layer::benign;
  return std::nullopt;
}

int rank(Layer layer) { return static_cast<int>(layer); }

}  // namespace gpudoctor

#include "core/finding.hpp"

namespace gpudoctor {

std::string_view to_string(LayerState s) {
  switch (s) {
    case LayerState::passed: return "passed";
    case LayerState::failed: return "failed";
    case LayerState::warning: return "warning";
    case LayerState::not_reached: return "not_reached";
    case LayerState::not_checked: return "not_checked";
  }
  return "not_checked";
}

}  // namespace gpudoctor
