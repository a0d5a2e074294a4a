#pragma once
// Feeds one input to the binary parsers: the ELF reader, the ld.so.cache parser and its lookups
// (the fuzz target and the corpus replay test share it).
#include <cstddef>
#include <cstdint>

namespace gpudoctor::fuzz {
void feed_binary(const std::uint8_t* data, std::size_t size);
}
