#pragma once
// Asks CUDA libraries their own version: each library file is dlopened by path in a child
// process with a time limit and its version call made (cudaRuntimeGetVersion, cudnnGetVersion,
// cublasGetProperty, ncclGetVersion, ...). Only for this machine's own files, never for an
// inspected root's.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace gpudoctor {

struct LibraryToAsk {
  std::string role;  ///< "cudart", "cudnn", "cublas", ... (kb/data/libraries.toml)
  std::string path;  ///< the file to load
};

/// Path -> the version the library reports ("12.1.105" style, as far as its call tells), for
/// the libraries that answered within `limit`, one map per group. Each group is asked in its own
/// child process: the libraries of one framework load together, as in its process, and never
/// beside another install's (cuDNN 9's libcudnn.so.9 opens its sub-libraries by name, so a
/// sub-library of another cuDNN already loaded would answer for it).
std::vector<std::map<std::string, std::string>> ask_library_versions(
    const std::vector<std::vector<LibraryToAsk>>& groups, std::chrono::milliseconds limit);

/// Decoders of the integer versions (pure; tested).
std::string decode_cudart_version(int v);  ///< 12020 -> "12.2"
std::string decode_cudnn_version(long v);  ///< 90100 -> "9.1.0"; 8902 -> "8.9.2"
std::string decode_nccl_version(int v);    ///< 22005 -> "2.20.5"; 2804 -> "2.8.4"

}  // namespace gpudoctor
