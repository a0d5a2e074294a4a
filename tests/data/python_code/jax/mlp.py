"""A small JAX MLP trained with plain SGD.

Set JAX_PLATFORMS=cpu to run it on the CPU (this docstring is not code).
"""
import jax
import jax.numpy as jnp
from jax import config as jc

jc.update("jax_enable_x64", False)


def init(key, sizes):
    keys = jax.random.split(key, len(sizes))
    return [(jax.random.normal(k, (m, n)) * 0.01, jnp.zeros(n)) for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def predict(params, x):
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return x @ w + b


@jax.jit
def step(params, x, y):
    loss = lambda p: jnp.mean((predict(p, x) - y) ** 2)
    grads = jax.grad(loss)(params)
    return [(w - 0.1 * dw, b - 0.1 * db) for (w, b), (dw, db) in zip(params, grads)]


print(jax.devices())
params = init(jax.random.PRNGKey(0), [64, 128, 1])
x = jax.random.normal(jax.random.PRNGKey(1), (1024, 64))
y = jnp.sum(x, axis=1, keepdims=True)
for i in range(100):
    params = step(params, x, y)
