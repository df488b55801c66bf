"""``fastem segment``: colour segmentation of an image by a Gaussian mixture or k-means.

Pixels are points in RGB (optionally with their scaled position). The model
is fitted on a random sample of pixels, then every pixel takes the mean colour
of its most probable component (its nearest centre for k-means: colour
quantisation). Without position features the label of a pixel depends on its
colour only, so the labels are computed once per distinct colour (a photo has
far fewer distinct colours than pixels) and looked up.
"""

import argparse
import json
from pathlib import Path
from time import perf_counter

import numpy as np

from fastem import GaussianMixture, KMeans

from .data import check_output
from .errors import CliError, one_line
from .parser import non_negative_float, positive_int

_PREDICT_CHUNK = 1 << 18
_N_COLOURS = 1 << 24


def pixel_features(pixels, flat_index, width, scale, spatial):
    """Features of some pixels: RGB, then ``spatial``-weighted x and y if asked.

    Parameters
    ----------
    pixels : ndarray of shape (n_pixels, 3), uint8
        Every pixel of the image, row-major.
    flat_index : ndarray of int or slice
        Which pixels (flat, row-major indices).
    width : int
        Image width, to turn flat indices into x and y.
    scale : float
        Largest image side: positions are divided by it, so that with
        ``spatial=1`` crossing the whole image weighs like the whole colour range.
    spatial : float
        Weight of the position features; 0 leaves them out.

    Returns
    -------
    X : ndarray of shape (n, 3) or (n, 5), float64
    """
    rgb = pixels[flat_index].astype(np.float64)
    if not spatial:
        return rgb
    if isinstance(flat_index, slice):
        flat = np.arange(*flat_index.indices(pixels.shape[0]))
    else:
        flat = np.asarray(flat_index)
    factor = 255.0 * spatial / scale
    xy = np.empty((rgb.shape[0], 2))
    xy[:, 0] = (flat % width) * factor
    xy[:, 1] = (flat // width) * factor
    return np.hstack([rgb, xy])


def _labels_by_colour(model, pixels):
    """Component of every pixel, predicting each distinct colour once."""
    packed = (
        (pixels[:, 0].astype(np.int32) << 16)
        | (pixels[:, 1].astype(np.int32) << 8)
        | pixels[:, 2].astype(np.int32)
    )
    # A flag per possible colour (16 MiB), not np.bincount's int64 counts (128 MiB).
    present = np.zeros(_N_COLOURS, dtype=bool)
    present[packed] = True
    colours = np.flatnonzero(present)
    rgb = np.empty((colours.size, 3))
    rgb[:, 0] = colours >> 16
    rgb[:, 1] = (colours >> 8) & 255
    rgb[:, 2] = colours & 255
    lookup = np.zeros(_N_COLOURS, dtype=_label_dtype(_n_components(model)))
    for start in range(0, colours.size, _PREDICT_CHUNK):
        stop = start + _PREDICT_CHUNK
        lookup[colours[start:stop]] = model.predict(rgb[start:stop])
    return lookup[packed]


def _label_dtype(n_components):
    return np.uint8 if n_components <= 256 else np.int64


def _n_components(model):
    return model.n_clusters if isinstance(model, KMeans) else model.n_components


def _colours(model):
    """Every component's mean (k-means: centre) in the model's feature space."""
    return model.cluster_centers_ if isinstance(model, KMeans) else model.means_


def segment(
    image,
    n_components,
    *,
    method="gmm",
    covariance_type="full",
    max_pixels=200_000,
    spatial=0.0,
    random_state=0,
    **params,
):
    """Segment an RGB image into ``n_components`` colours with a Gaussian mixture or k-means.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), uint8
        The image.
    n_components : int
        Number of colours (mixture components, or k-means clusters).
    method : {'gmm', 'kmeans'}, default='gmm'
        'gmm': a :class:`fastem.GaussianMixture`; 'kmeans': a
        :class:`fastem.KMeans` (colour quantisation: every pixel takes its
        nearest centre).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance type of the mixture (ignored by k-means).
    max_pixels : int, default=200_000
        The mixture is fitted on at most this many pixels, drawn at random
        without replacement; every pixel is labelled afterwards.
    spatial : float, default=0.0
        Weight of the pixel position (x, y) next to its colour: 0 segments by
        colour alone; about 0.5-2 favours connected regions.
    random_state : int, default=0
        Seed of the pixel sample and of the mixture's initialisation.
    **params
        Further :class:`fastem.GaussianMixture` (or :class:`fastem.KMeans`)
        parameters (``n_init``, ``max_iter``, ``tol``, ``n_jobs``, ...).

    Returns
    -------
    labels : ndarray of shape (height, width)
        Component of every pixel.
    palette : ndarray of shape (n_components, 3), uint8
        Mean colour of every component, rounded.
    model : fastem.GaussianMixture or fastem.KMeans
        The fitted model (features RGB, then scaled x, y with ``spatial``).
    """
    if method not in ("gmm", "kmeans"):
        raise ValueError(f"method must be 'gmm' or 'kmeans', got {method!r}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    height, width, _ = image.shape
    pixels = image.reshape(-1, 3)
    n_pixels = pixels.shape[0]
    if n_components > min(n_pixels, max_pixels):
        raise ValueError(
            f"k = {n_components} exceeds the number of pixels fitted ({min(n_pixels, max_pixels)})"
        )
    scale = float(max(height, width))
    rng = np.random.default_rng(random_state)
    if n_pixels > max_pixels:
        # Sorted indices read the image in memory order.
        sample = np.sort(rng.choice(n_pixels, size=max_pixels, replace=False))
    else:
        sample = slice(None)
    if method == "kmeans":
        model = KMeans(n_components, random_state=random_state, **params)
    else:
        model = GaussianMixture(
            n_components, covariance_type=covariance_type, random_state=random_state, **params
        )
    model.fit(pixel_features(pixels, sample, width, scale, spatial))

    if spatial:
        labels = np.empty(n_pixels, dtype=_label_dtype(n_components))
        for start in range(0, n_pixels, _PREDICT_CHUNK):
            chunk = slice(start, min(n_pixels, start + _PREDICT_CHUNK))
            labels[chunk] = model.predict(pixel_features(pixels, chunk, width, scale, spatial))
    else:
        labels = _labels_by_colour(model, pixels)
    palette = np.clip(np.rint(_colours(model)[:, :3]), 0, 255).astype(np.uint8)
    return labels.reshape(height, width), palette, model


# -- the subcommand ----------------------------------------------------------------------------
def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise CliError("segment needs Pillow: pip install fastem[image]") from None
    return Image, ImageOps


def _read_image(path, Image, ImageOps):
    if not Path(path).exists():
        raise CliError(f"{path}: no such file")
    try:
        with Image.open(path) as opened:
            return np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CliError(f"{path}: cannot read image ({one_line(exc)})") from None


def _cmd_segment(args):
    """``fastem segment``: replace every pixel by the mean colour of its component."""
    Image, ImageOps = _pillow()
    image = _read_image(args.image, Image, ImageOps)
    check_output(args.output)
    if Path(args.output).suffix.lower() not in Image.registered_extensions():
        raise CliError(f"{args.output}: unknown image format; use for instance .png")
    if args.method == "kmeans" and args.covariance is not None:
        raise CliError("--covariance does not apply to --method kmeans")
    height, width, _ = image.shape
    start = perf_counter()
    labels, palette, model = segment(
        image,
        args.k,
        method=args.method,
        covariance_type=args.covariance or "full",
        max_pixels=args.max_pixels,
        spatial=args.spatial,
        random_state=args.seed,
        n_init=args.n_init,
        max_iter=args.max_iter,
        n_jobs=args.n_jobs,
    )
    elapsed = perf_counter() - start
    Image.fromarray(palette[labels]).save(args.output)
    counts = np.bincount(labels.ravel(), minlength=args.k)
    # k-means has no weights: the share of the image's pixels stands in for them.
    weights = model.weights_ if hasattr(model, "weights_") else counts / counts.sum()
    order = np.argsort(-weights, kind="stable")
    if args.json:
        components = [
            {
                "component": int(k),
                "weight": float(weights[k]),
                "rgb": palette[k].tolist(),
                "pixels": int(counts[k]),
            }
            for k in order
        ]
        summary = {"width": width, "height": height, "time_s": elapsed, "components": components}
        print(json.dumps(summary))
        return 0
    print(
        f"segmented {width} x {height} pixels of {args.image} into {args.k} colours "
        f"in {elapsed:.2f} s ({model.n_iter_} iterations) -> {args.output}"
    )
    print(f"  {'k':>3}  {'weight':>7}  {'R':>3} {'G':>3} {'B':>3}  colour")
    for k in order:
        r, g, b = (int(c) for c in palette[k])
        print(f"  {k:>3}  {weights[k]:7.4f}  {r:>3} {g:>3} {b:>3}  #{r:02x}{g:02x}{b:02x}")
    return 0


def add_commands(sub, options):
    """Add ``segment`` to the subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``fastem`` parser.
    options : fastem.cli.parser.SharedOptions
        Parent parsers of the shared options.
    """
    o = options
    p = sub.add_parser(
        "segment",
        parents=[
            o.common,
            o.covariance(),
            o.iterations,
            o.seed(),
            o.threads,
            o.json,
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="colour segmentation of an image",
        description=(
            "Segment an image into K colours: a Gaussian mixture (or k-means, with\n"
            "--method kmeans) is fitted to (a random sample of) its pixels in RGB,\n"
            "then every pixel takes the mean colour of its most probable component\n"
            "(its nearest centre). Needs Pillow (pip install fastem[image]).\n\n"
            "example: fastem segment photo.jpg --k 8 -o segmented.png"
        ),
    )
    p.add_argument("image", metavar="IMAGE", help="any image Pillow reads")
    p.add_argument("--k", type=positive_int, required=True, help="number of colours")
    p.add_argument(
        "--method",
        choices=("gmm", "kmeans"),
        default="gmm",
        help="gmm: Gaussian mixture (default); kmeans: k-means colour quantisation",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output image")
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=200_000,
        metavar="N",
        help="fit on at most N random pixels (default 200000)",
    )
    p.add_argument(
        "--spatial",
        type=non_negative_float,
        default=0.0,
        metavar="WEIGHT",
        help="also use pixel position, weighted (0 = colour only; try 1)",
    )
    p.set_defaults(func=_cmd_segment)
