from .net import ConvNet  # noqa: F401
