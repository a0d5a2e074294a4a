"""gpudoctor: why isn't my framework using the GPU?

The tool is a native executable; this package only finds it (`python -m gpudoctor`).
"""

import os
import sysconfig


def find_gpudoctor_bin() -> str:
    """The gpudoctor executable the wheel installed into the environment's scripts folder."""
    name = "gpudoctor"
    candidates = [sysconfig.get_path("scripts")]
    user_scheme = "posix_user" if os.name == "posix" else f"{os.name}_user"
    try:
        candidates.append(sysconfig.get_path("scripts", scheme=user_scheme))
    except KeyError:
        pass
    # pip install --target DIR / --prefix DIR: DIR/bin beside DIR's package folder.
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.join(os.path.dirname(here), "bin"))
    candidates.append(os.path.join(here, "..", "..", "..", "..", "bin"))
    for folder in candidates:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.realpath(path)
    raise FileNotFoundError(f"{name} executable not found in: {', '.join(candidates)}")


__all__ = ["find_gpudoctor_bin"]
