"""Training, saving and loading the deep encoder (the loop; the network is in :mod:`.networks`).

:func:`train_deep_encoder` reads the cases of a manifest (:func:`PanCancerSubtypeLib.cohort.
read_manifest` and :func:`PanCancerSubtypeLib.io.load_case`, so the columns and label rules are
the cohort runner's), cuts their crops (:func:`.transforms.tumour_crops`), holds out
``val_fraction`` of the *cases* for early stopping, and trains the denoising autoencoder with Adam
on the mean squared error between the reconstruction of the corrupted crop and the clean crop.
The weights of the epoch with the lowest validation loss are kept (the last epoch's without a
validation set).  A case that cannot be read is left out with a warning naming it.

Determinism: ``seed`` seeds the case split, the weight initialisation (inside a forked torch RNG,
so the caller's global RNG is untouched), the batch order and the noise; on the CPU
``torch.use_deterministic_algorithms(True)`` is on during training, so two runs with
the same data, settings and thread count give bit-identical weights.  On a GPU (``device="auto"``
picks CUDA when present) the result is reproducible only up to floating-point reordering.

Files: ``deep_encoder.json`` (settings, training history, the cases trained on, the code's
layout, SHA-256 of the weights) and ``deep_encoder.safetensors`` (the weights).  Nothing is
pickled; :meth:`DeepEncoder.load` checks the checksum before it builds the network.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import ModelBundleError, PanCancerSubtypeError, raise_if_diverged
from .networks import DeepEncoderConfig, build_autoencoder, deep_feature_names, resolve_device
from .transforms import corrupt, tumour_crops

log = logging.getLogger(__name__)

CONFIG_FILE = "deep_encoder.json"
WEIGHTS_FILE = "deep_encoder.safetensors"
FORMAT_VERSION = 1


class _Deterministic:
    """Deterministic torch algorithms (CPU training) and a thread count for a block.

    ``algorithms=False`` only sets the threads: encoding runs convolutions and ReLUs, which are
    deterministic on the CPU anyway, and the first ``torch.use_deterministic_algorithms`` call
    of a process imports torch's compiler stack (seconds), which a feature run should not pay."""

    def __init__(self, device, n_threads: Optional[int], algorithms: bool = True):
        self.cpu = getattr(device, "type", str(device)) == "cpu"
        self.n_threads = n_threads
        self.algorithms = algorithms and self.cpu

    def __enter__(self):
        import torch

        self._threads = torch.get_num_threads()
        if self.algorithms:
            self._det = torch.are_deterministic_algorithms_enabled()
            torch.use_deterministic_algorithms(True)
        if self.n_threads and int(self.n_threads) != self._threads:
            torch.set_num_threads(int(self.n_threads))
        return self

    def __exit__(self, *exc):
        import torch

        if self.algorithms:
            torch.use_deterministic_algorithms(self._det)
        if self.n_threads and torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads)
        return False


# --------------------------------------------------------------------------------------------
def load_cases_crops(manifest, cfg: DeepEncoderConfig,
                     progress: Optional[Callable[[str], None]] = None):
    """Crops of every readable case of ``manifest`` (path or DataFrame).  Returns
    ``(ids, [array per case], {id: error})``."""
    import pandas as pd

    from ..cohort import normalise_manifest, read_manifest
    from ..io import load_case

    man = normalise_manifest(manifest) if isinstance(manifest, pd.DataFrame) else \
        read_manifest(manifest)
    ids, crops, failed = [], [], {}
    for i, row in enumerate(man.to_dict("records")):
        try:
            case = load_case(row["Image"], row["Mask"], label=row.get("Label") or None,
                             organ_mask=None, modality=row.get("Modality") or cfg.modality,
                             organ=row.get("Organ") or None, case_id=row["ID"])
            crops.append(tumour_crops(case, cfg))
            ids.append(row["ID"])
        except (PanCancerSubtypeError, ValueError, OSError) as exc:
            failed[row["ID"]] = f"{type(exc).__name__}: {exc}"
            log.warning("deep encoder: case %s left out: %s", row["ID"], exc)
        if progress and (i + 1) % 20 == 0:
            progress(f"{i + 1}/{len(man)} cases cropped")
    return ids, crops, failed


def train_deep_encoder(manifest, out_dir: Union[str, Path],
                       config: Optional[DeepEncoderConfig] = None,
                       progress: Optional[Callable[[str], None]] = None) -> "DeepEncoder":
    """Train a denoising autoencoder on the cases of ``manifest`` and save it in ``out_dir``
    (see the module docstring).  Returns the trained :class:`DeepEncoder`."""
    import torch

    cfg = config or DeepEncoderConfig()
    cfg.validate()
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    ids, crops, failed = load_cases_crops(manifest, cfg, progress)
    if len(ids) < 2:
        raise PanCancerSubtypeError(f"the deep encoder needs at least 2 readable cases, got "
                                    f"{len(ids)} (failed: {failed})")
    rng = np.random.RandomState(cfg.seed)
    n_val = int(round(len(ids) * cfg.val_fraction)) if cfg.val_fraction else 0
    if n_val >= len(ids):
        n_val = 0
    perm = rng.permutation(len(ids))
    val_cases, tr_cases = sorted(perm[:n_val].tolist()), sorted(perm[n_val:].tolist())
    xtr = np.concatenate([crops[i] for i in tr_cases])
    xva = np.concatenate([crops[i] for i in val_cases]) if n_val else None
    device = resolve_device(cfg.device)
    say(f"{len(ids)} cases ({len(failed)} left out), {len(xtr)} training crops, "
        f"{0 if xva is None else len(xva)} validation crops; device {device}")
    hist: List[Dict[str, float]] = []
    with _Deterministic(device, cfg.num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(cfg.seed))
        threads_used = torch.get_num_threads()   # CPU weights depend on it: recorded
        net = build_autoencoder(cfg).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate,
                               weight_decay=cfg.weight_decay)
        order_gen = torch.Generator().manual_seed(int(cfg.seed) + 1)
        noise_gen = torch.Generator().manual_seed(int(cfg.seed) + 2)
        xt = torch.as_tensor(xtr)
        xv = None
        if xva is not None:
            xv = torch.as_tensor(xva)
            xv_noisy = corrupt(xv, cfg, torch.Generator().manual_seed(int(cfg.seed) + 3))
        best = (np.inf, 0, None)
        stale = 0
        bs = max(1, int(cfg.batch_size))
        for epoch in range(1, int(cfg.epochs) + 1):
            net.train()
            order = torch.randperm(len(xt), generator=order_gen)
            total = 0.0
            for s in range(0, len(xt), bs):
                clean = xt[order[s:s + bs]]
                noisy = corrupt(clean, cfg, noise_gen).to(device)
                clean = clean.to(device)
                opt.zero_grad()
                loss = torch.mean((net(noisy) - clean) ** 2)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(clean)
            rec = {"epoch": epoch, "train_loss": total / len(xt)}
            raise_if_diverged(rec["train_loss"], epoch, "deep encoder training")
            if xv is not None:
                net.eval()
                with torch.no_grad():
                    rec["val_loss"] = float(torch.mean(
                        (net(xv_noisy.to(device)) - xv.to(device)) ** 2))
                raise_if_diverged(rec["val_loss"], epoch, "deep encoder training (validation)")
                if rec["val_loss"] < best[0]:
                    best = (rec["val_loss"], epoch,
                            {k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
                    stale = 0
                else:
                    stale += 1
            hist.append(rec)
            say(f"epoch {epoch}: train {rec['train_loss']:.5f}"
                + (f", validation {rec['val_loss']:.5f}" if "val_loss" in rec else ""))
            if xv is not None and stale >= int(cfg.patience):
                break
        if best[2] is not None:
            net.load_state_dict(best[2])
        best_epoch = best[1] if best[2] is not None else len(hist)
    net = net.cpu().eval()
    meta = {"history": hist, "best_epoch": int(best_epoch), "cases": ids,
            "validation_cases": [ids[i] for i in val_cases], "failed_cases": failed,
            "n_training_crops": int(len(xtr)), "trained_on": str(device),
            "torch_threads": int(threads_used),
            "train_time_s": round(time.perf_counter() - t0, 2)}
    enc = DeepEncoder(cfg, net, meta)
    enc.save(out_dir)
    return enc


# --------------------------------------------------------------------------------------------
class DeepEncoder:
    """A trained deep encoder: its settings, network (on the CPU unless moved) and metadata."""

    def __init__(self, config: DeepEncoderConfig, network, meta: Optional[Dict] = None,
                 directory: Optional[str] = None, device: str = "cpu"):
        self.config = config
        self.network = network
        self.meta = dict(meta or {})
        self.directory = directory
        self.device = resolve_device(device)
        self.network.to(self.device).eval()

    @property
    def code_size(self) -> int:
        return int(self.config.code_size)

    def unit_layout(self, unit: int) -> Dict[str, object]:
        """Where code unit ``unit`` sits: channel of the code layer and grid position."""
        cells = self.config.grid ** self.config.dims
        pos = np.unravel_index(unit % cells, (self.config.grid,) * self.config.dims)
        return {"layer": "code", "channel": unit // cells,
                "position": tuple(int(p) for p in pos)}

    def encode_crops(self, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Codes (n, code_size) of network inputs (n, channels, ...)."""
        import torch

        out = []
        with _Deterministic(self.device, self.config.num_threads, algorithms=False), \
                torch.no_grad():
            for s in range(0, len(crops), batch_size):
                x = torch.as_tensor(np.ascontiguousarray(crops[s:s + batch_size]))
                out.append(self.network.encode(x.to(self.device)).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def case_features(self, case) -> np.ndarray:
        """The case's deep features: the code of its crop (3D) or the mean of its slices'
        codes (2D)."""
        return self.encode_crops(tumour_crops(case, self.config)).mean(axis=0)

    def reconstruct(self, crops: np.ndarray) -> np.ndarray:
        import torch

        with _Deterministic(self.device, self.config.num_threads, algorithms=False), \
                torch.no_grad():
            return self.network(torch.as_tensor(crops).to(self.device)).cpu().numpy()

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: Union[str, Path]) -> Path:
        from safetensors.torch import save as st_save

        from ..files import atomic_write_bytes, sha256_file, write_json

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        atomic_write_bytes(d / WEIGHTS_FILE, st_save(state))
        import torch

        doc = {"format_version": FORMAT_VERSION, "class": "DeepEncoder",
               "config": self.config.to_dict(),
               "code": {"layer": "code", "size": self.code_size,
                        "channels": self.config.code_channels, "grid": self.config.grid,
                        "order": "channel, then grid position (z, y, x)"},
               "torch_version": torch.__version__, **self.meta,
               "weights_sha256": sha256_file(d / WEIGHTS_FILE)}
        write_json(d / CONFIG_FILE, doc)
        self.directory = str(d)
        self.meta["weights_sha256"] = doc["weights_sha256"]
        return d

    @classmethod
    def load(cls, directory: Union[str, Path], device: str = "cpu") -> "DeepEncoder":
        from safetensors.torch import load_file

        from ..files import read_json, sha256_file

        d = Path(directory)
        cpath, wpath = d / CONFIG_FILE, d / WEIGHTS_FILE
        for f in (cpath, wpath):
            if not f.is_file():
                raise ModelBundleError(f"missing {f.name} (train one with train-deep-encoder)",
                                       source=str(d))
        try:
            doc = read_json(cpath)
            if not isinstance(doc, dict) or doc.get("class") != "DeepEncoder":
                raise KeyError("class")
            if int(doc.get("format_version", 0)) > FORMAT_VERSION:
                raise KeyError(f"format_version {doc.get('format_version')} is newer than "
                               f"this version reads ({FORMAT_VERSION})")
            cfg = DeepEncoderConfig.from_dict(doc["config"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelBundleError(f"invalid deep encoder configuration ({exc})",
                                   source=str(cpath)) from None
        if sha256_file(wpath) != doc.get("weights_sha256"):
            raise ModelBundleError("weights checksum does not match deep_encoder.json (file "
                                   "modified or corrupted)", source=str(wpath))
        net = build_autoencoder(cfg)
        try:
            net.load_state_dict(load_file(str(wpath)), strict=True)
        except Exception as exc:  # safetensors / shape errors
            raise ModelBundleError(f"weights do not fit the configured network ({exc})",
                                   source=str(wpath)) from None
        meta = {k: v for k, v in doc.items() if k not in ("config", "class", "format_version")}
        return cls(cfg, net, meta, directory=str(d), device=device)


def load_deep_encoder(directory, device: str = "cpu") -> DeepEncoder:
    """:meth:`DeepEncoder.load`."""
    return DeepEncoder.load(directory, device=device)


def deep_feature_table(manifest, encoder: DeepEncoder, ids: Optional[Sequence[str]] = None):
    """Deep features of every case of ``manifest`` as a DataFrame (ID + ``deep_*`` columns),
    without the cohort runner (no provenance, no resume): for quick looks and the demo."""
    import pandas as pd

    got_ids, crops, failed = load_cases_crops(manifest, encoder.config)
    rows = [encoder.encode_crops(c).mean(axis=0) for c in crops]
    df = pd.DataFrame(np.vstack(rows), columns=deep_feature_names(encoder.code_size))
    df.insert(0, "ID", got_ids)
    if ids is not None:
        df = df.set_index("ID").reindex(list(ids)).reset_index()
    df.attrs["failed"] = failed
    return df
