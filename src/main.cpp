// gpudoctor: the whole program is the library in src/; main only hands it the process's streams.
#include <unistd.h>

#include <iostream>

#include "app/app.hpp"

int main(int argc, char** argv) {
  return gpudoctor::run(argc, argv, std::cout, std::cerr, ::isatty(STDOUT_FILENO) == 1);
}
