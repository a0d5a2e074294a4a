#pragma once
// The layers of the GPU stack, bottom up (DESIGN.md). A cause in a lower layer explains
// the symptoms of the layers above it.

#include <optional>
#include <string_view>

namespace gpudoctor {

enum class Layer { hardware,
                   driver,
                   platform,
                   libraries,
                   framework,
                   environment,
                   program,
                   benign };

inline constexpr Layer k_all_layers[] = {Layer::hardware, Layer::driver, Layer::platform,
                                         Layer::libraries, Layer::framework, Layer::environment,
                                         Layer::program};

std::string_view to_string(Layer layer);
std::optional<Layer> layer_from_string(std::string_view name);
/// Rank for ordering causes: lower layers first.
int rank(Layer layer);

}  // namespace gpudoctor
