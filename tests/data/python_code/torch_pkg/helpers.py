import os

import utils  # noqa: F401  (the cycle back)


def workers():
    return min(4, os.cpu_count() or 1)
