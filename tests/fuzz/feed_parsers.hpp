#pragma once
// Feeds one input to every text parser gpudoctor has (the fuzz target and the corpus replay
// test share it). The first byte picks how the rest is used where a parser needs two inputs.
#include <cstddef>
#include <cstdint>

namespace gpudoctor::fuzz {
void feed_parsers(const std::uint8_t* data, std::size_t size);
}
