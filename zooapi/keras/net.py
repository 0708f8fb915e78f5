"""`Net.load`: a saved model, from any file system, as a `zooapi.keras` model.

Three formats are read: Keras' `.keras` zip, the legacy Keras HDF5 (`.h5`)
file, and a TensorFlow SavedModel directory (wrapped with Keras'
`TFSMLayer`). The format is found from the content (zip or HDF5 signature,
`saved_model.pb`), not trusted from the name. A path with a scheme other
than `file://` (`hdfs://`, `s3://`, `gs://`, ...) is copied to a local
temporary folder first, through `zooapi.files` (`pyarrow.fs`, or `fsspec`
for the schemes that pyarrow does not know).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from zooapi import files

if TYPE_CHECKING:
    from zooapi.keras.models import Model

logger = logging.getLogger(__name__)

FORMATS = "a .keras file (zip), a legacy .h5 file (HDF5) or a TensorFlow SavedModel directory (with saved_model.pb)"
_FORMAT_NAMES = {"keras": "a .keras file", "kerasdir": "a Keras model folder", "h5": "a legacy .h5 file",
                 "savedmodel": "a TensorFlow SavedModel"}
_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _sniff(path: str) -> str:
    """'savedmodel', 'kerasdir', 'keras', 'h5' or 'unknown'."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")) or os.path.exists(
                os.path.join(path, "saved_model.pbtxt")):
            return "savedmodel"
        if os.path.exists(os.path.join(path, "config.json")):
            return "kerasdir"
        return "unknown"
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(_ZIP_MAGIC):
        return "keras"
    if head == _HDF5_MAGIC:
        return "h5"
    return "unknown"


# ---- remote paths ------------------------------------------------------------------------------

def _local_path(path: str) -> str:
    return urlparse(path).path if path.startswith("file://") else path


def copy_arrow_path(filesystem, source: str, target: str) -> str:
    """Copies a file or folder `source` of a `pyarrow.fs` file system to the
    local path `target`; returns `target`.

    Raises:
        FileNotFoundError: nothing at `source`.
    """
    from pyarrow import fs as pafs

    info = filesystem.get_file_info(source)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(source)
    if info.type == pafs.FileType.Directory:
        pafs.copy_files(source, target, source_filesystem=filesystem,
                        destination_filesystem=pafs.LocalFileSystem())
    else:
        with filesystem.open_input_stream(source) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
    return target


def _fetch(url: str, folder: str) -> str:
    """A local copy of `url` inside `folder`."""
    name = os.path.basename(urlparse(url).path.rstrip("/")) or "model"
    target = os.path.join(folder, name)
    filesystem, path = files.filesystem(url)
    return copy_arrow_path(filesystem, path, target)


# Folders that must outlive the call: a SavedModel is read by its TFSMLayer
# whenever the model is rebuilt (for instance on a Spark worker).
_KEPT_FOLDERS: list[str] = []


def _cleanup_kept_folders() -> None:
    while _KEPT_FOLDERS:
        shutil.rmtree(_KEPT_FOLDERS.pop(), ignore_errors=True)


atexit.register(_cleanup_kept_folders)


# ---- loading -----------------------------------------------------------------------------------

def _named(path: str, suffixes: tuple[str, ...], folder: str) -> str:
    """`path`, or a link to it named with `suffixes[0]`: Keras picks the
    format from the file name."""
    if path.endswith(suffixes):
        return path
    link = os.path.join(folder, "model" + suffixes[0])
    os.symlink(os.path.abspath(path), link)
    return link


def _load_h5(path: str, custom_objects, safe_mode: bool):
    import keras

    try:
        return keras.models.load_model(path, custom_objects=custom_objects, safe_mode=safe_mode)
    except Exception as error:
        model = keras.models.load_model(path, custom_objects=custom_objects, safe_mode=safe_mode, compile=False)
        # Seen with Keras 3.15: an .h5 compiled with loss="mse" cannot restore its compile state.
        logger.warning("Loaded %s without its compile state (%s: %s); compile it before training.",
                       path, type(error).__name__, error)
        return model


def _tensor_input(spec, name: str | None):
    import keras

    if spec.shape.rank is None:
        raise ValueError(f"The SavedModel input {name!r} has an unknown rank; cannot make a Keras Input for it.")
    return keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name, name=name)


def _load_saved_model(path: str, call_endpoint: str | None):
    """A SavedModel as a functional model around one `keras.layers.TFSMLayer`."""
    import keras
    import tensorflow as tf

    from zooapi.keras.models import Model

    if call_endpoint is None:
        # Keras' `model.export` writes a positional `serve` function, which
        # also takes several inputs; other SavedModels have `serving_default`.
        call_endpoint = "serve" if hasattr(tf.saved_model.load(path), "serve") else "serving_default"
    layer = keras.layers.TFSMLayer(path, call_endpoint=call_endpoint,
                                   name=os.path.basename(os.path.normpath(path)) or "saved_model")
    fn = layer.call_endpoint_fn
    signature = getattr(fn, "structured_input_signature", None)
    if signature is None and getattr(fn, "concrete_functions", None):
        signature = fn.concrete_functions[0].structured_input_signature
    if signature is None:
        raise ValueError(f"The SavedModel endpoint {call_endpoint!r} of {path!r} has no input signature.")
    args, kwargs = signature
    if args and not kwargs and len(args) == 1:
        inputs = tf.nest.map_structure(lambda s: _tensor_input(s, s.name), args[0])
    elif kwargs and not args and len(kwargs) == 1:
        key, spec = next(iter(kwargs.items()))
        inputs = _tensor_input(spec, key)
    else:
        raise ValueError(
            f"The SavedModel endpoint {call_endpoint!r} of {path!r} takes {len(args)} positional and "
            f"{len(kwargs)} keyword inputs; expected one argument (a tensor or a list of tensors). "
            "Pass `call_endpoint=` naming such a function (Keras' `model.export` writes `serve`).")
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values())) if len(outputs) == 1 else list(outputs.values())
    return Model(inputs=inputs, outputs=outputs, name=layer.name)


class Net:
    """Loads saved models for transfer learning.

    Example:
        >>> from zooapi.keras import Net
        >>> model = Net.load("hdfs://namenode/models/digits.keras")  # doctest: +SKIP
        >>> features = model.new_graph("flatten")  # doctest: +SKIP
    """

    @staticmethod
    def load(path: str | os.PathLike, custom_objects: dict[str, Any] | None = None, safe_mode: bool = True,
             *, call_endpoint: str | None = None) -> Model:
        """Loads a `.keras` file, a legacy `.h5` file or a TensorFlow
        SavedModel directory, from a local path or a URL.

        A plain Keras functional (Sequential) model comes back as a
        `zooapi.keras.Model` (`Sequential`) over the same layers, compiled as
        it was saved, with its optimizer state. A SavedModel becomes a
        functional model around one `keras.layers.TFSMLayer`; its folder must
        stay readable wherever the model is rebuilt (a remote one is copied
        to a local folder kept until the process exits).

        Args:
            path: a local path, `file://` URL or any URL that `pyarrow.fs`
                (`hdfs://`, `s3://`, `gs://`...) or `fsspec` can open.
            custom_objects: custom classes and functions, as in Keras.
            safe_mode: refuse to run code stored in the file (`Lambda`
                layers), as in Keras; pass False only for files you trust.
            call_endpoint: SavedModel only: the function to call (default
                `serve` when present, else `serving_default`).

        Returns:
            A `zooapi.keras.Model`.

        Raises:
            FileNotFoundError: nothing at `path`.
            ValueError: `path` holds none of the formats, or failed to load.

        Example:
            >>> model = Net.load("/models/cnn.keras")  # doctest: +SKIP
        """
        from zooapi.keras.models import as_zooapi_model

        source = os.fspath(path)
        folder = tempfile.mkdtemp(prefix="zooapi-net-")
        keep = False
        try:
            if files.has_scheme(source):
                try:
                    local = _fetch(source, folder)
                except FileNotFoundError as error:
                    raise FileNotFoundError(f"No model at {source!r}: nothing there. Expected {FORMATS}.") from error
            else:
                local = _local_path(source)
                if not os.path.exists(local):
                    raise FileNotFoundError(f"No model at {source!r}: nothing there. Expected {FORMATS}.")
            kind = _sniff(local)
            if kind == "unknown":
                raise ValueError(f"Could not load a model from {source!r}: it is none of the formats "
                                 f"tried: {FORMATS}.")
            try:
                model = _load(kind, local, folder, custom_objects, safe_mode, call_endpoint)
            except Exception as error:
                raise ValueError(f"Could not load a model from {source!r} as {_FORMAT_NAMES[kind]}: "
                                 f"{type(error).__name__}: {error}") from error
            keep = kind == "savedmodel" and local.startswith(folder)
            return as_zooapi_model(model, custom_objects)
        finally:
            if keep:
                _KEPT_FOLDERS.append(folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)



def _load(kind: str, local: str, folder: str, custom_objects, safe_mode: bool, call_endpoint: str | None):
    import keras

    if kind == "savedmodel":
        return _load_saved_model(local, call_endpoint)
    if kind == "h5":
        return _load_h5(_named(local, (".h5", ".hdf5"), folder), custom_objects, safe_mode)
    if kind == "keras":
        local = _named(local, (".keras",), folder)
    return keras.models.load_model(local, custom_objects=custom_objects, safe_mode=safe_mode)
