"""R's default random number generator, reproduced bit for bit (private to this package).

R (>= 3.6) draws with Mersenne-Twister, ``sample.kind = "Rejection"``.  ``set.seed(s)`` runs
``RNG_Init``: the 32-bit seed is scrambled by fifty steps of the LCG ``s = 69069 s + 1 (mod 2^32)``,
then 625 further steps fill ``i_seed[0..624]``; ``i_seed[0]`` (the position ``mti``) is reset to 624
and ``i_seed[1..624]`` is the MT19937 state.  NumPy's :class:`numpy.random.MT19937` accepts that
state, after which its raw 32-bit outputs are exactly R's tempered outputs ``y`` and
``unif_rand() = y * 2^-32`` (R's ``fixup`` only changes ``y == 0``, which does not matter below
because only ``floor(unif_rand() * 65536) = y >> 16`` is ever used).

``R_unif_index(dn)``: ``bits = ceil(log2(dn))``; repeat ``v = 0; for i in 0, 16, ... <= bits:
v = 65536 v + floor(65536 unif_rand())``, keep the low ``bits`` bits, until ``v < dn``.
``sample(n, m)`` (no replacement): ``x = 0..n-1``; per draw ``j = R_unif_index(n_left)``, output
``x[j] + 1``, ``x[j] = x[n_left - 1]``, ``n_left -= 1``.  See the consensus-clustering spec, section 11.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

__all__ = ["RRNG", "r_sample"]

_MASK32 = 0xFFFFFFFF


def _r_seed_state(seed: int) -> np.ndarray:
    """MT19937 key (624 uint32) that R's ``set.seed(seed)`` produces."""
    s = int(seed) & _MASK32
    for _ in range(50):
        s = (69069 * s + 1) & _MASK32
    key = np.empty(625, dtype=np.uint64)
    for j in range(625):
        s = (69069 * s + 1) & _MASK32
        key[j] = s
    return key[1:].astype(np.uint32)


class RRNG:
    """R's Mersenne-Twister stream after ``set.seed(seed)``.

    ``seed`` is an integer as R's ``set.seed`` takes it (coerced to a 32-bit integer; negative seeds
    wrap like R's).  Raw outputs are drawn from NumPy's MT19937 in blocks and consumed one by one, so
    the object can be used for long runs (one ``sample()`` per consensus resampling).
    """

    _BLOCK = 4096

    def __init__(self, seed: int):
        if isinstance(seed, float):
            if not math.isfinite(seed):
                raise ValueError(f"seed must be finite, got {seed!r}")
            seed = int(seed)  # R: as.integer() truncates towards zero
        self.seed = int(seed)
        self._bg = np.random.MT19937(0)
        self._bg.state = {"bit_generator": "MT19937",
                          "state": {"key": _r_seed_state(self.seed), "pos": 624}}
        self._buf = np.empty(0, dtype=np.uint32)
        self._pos = 0

    def _raw(self) -> int:
        if self._pos >= self._buf.shape[0]:
            self._buf = self._bg.random_raw(self._BLOCK).astype(np.uint32)
            self._pos = 0
        y = int(self._buf[self._pos])
        self._pos += 1
        return y

    def unif_rand(self) -> float:
        """R's ``unif_rand()`` (Mersenne-Twister), in (0, 1)."""
        y = self._raw()
        v = y * 2.3283064365386963e-10
        if v <= 0.0:
            return 0.5 * 2.328306437080797e-10
        return v

    def unif_index(self, dn: int) -> int:
        """R's ``R_unif_index(dn)`` with the default "Rejection" sampling: uniform on 0..dn-1."""
        if dn <= 0:
            return 0
        bits = int(math.ceil(math.log2(dn)))
        mask = (1 << bits) - 1
        while True:
            v = 0
            i = 0
            while i <= bits:
                v = 65536 * v + (self._raw() >> 16)
                i += 16
            v &= mask
            if v < dn:
                return v

    def sample(self, n: int, m: int) -> np.ndarray:
        """R's ``sample(n, m, replace = FALSE)``: ``m`` distinct values in 1..n (1-based, R order)."""
        if m > n or m < 0:
            raise ValueError(f"cannot take a sample of {m} from {n} items without replacement")
        x = list(range(n))
        out = np.empty(m, dtype=np.int64)
        left = n
        for i in range(m):
            j = self.unif_index(left)
            out[i] = x[j] + 1
            left -= 1
            x[j] = x[left]
        return out


def r_sample(n: int, m: int, rng: Optional[RRNG] = None, seed: Optional[int] = None) -> np.ndarray:
    """``sample(n, m)`` as R draws it (1-based values).  Give either a running ``rng`` or a ``seed``
    (then this equals R's ``set.seed(seed); sample(n, m)``)."""
    if rng is None:
        if seed is None:
            raise ValueError("r_sample needs an RRNG or a seed")
        rng = RRNG(seed)
    return rng.sample(n, m)
