"""A JAX program for `gpudoctor run`: matrix products for --seconds (on the GPU unless JAX_PLATFORMS says otherwise)."""
import sys
import time

import jax
import jax.numpy as jnp

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 12
k = jax.random.PRNGKey(0)
a = jax.random.normal(k, (4096, 4096))
f = jax.jit(lambda m: jnp.tanh(m @ m) * 0.5)
n = 0
start = time.time()
while time.time() - start < seconds:
    a = f(a)
    n += 1
a.block_until_ready()
print(f"backend={jax.default_backend()} devices={jax.devices()} steps={n}", flush=True)
