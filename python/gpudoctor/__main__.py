"""`python -m gpudoctor ARGS`: runs the gpudoctor executable in this process's place."""

import os
import sys

from gpudoctor import find_gpudoctor_bin


def main() -> None:
    binary = find_gpudoctor_bin()
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
