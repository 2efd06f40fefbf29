"""The real images: where they are and what labels they carry, and which identities are held out (sources),
how they are decoded and streamed to training (pipeline), the CelebA-shaped sample facegen draws for tests and
demos (sample), and verification pairs of held-out people in the LFW layout (pairs). No TensorFlow at import."""

from facegen.data.pipeline import TrainingData, decode_all, identity_pairs, load_image, pair_dataset, pair_stream
from facegen.data.sources import (CELEBA_CROP, CELEBA_IMAGES, IMAGE_EXTENSIONS, ImageSource, check_data_path, discover,
                                  read_celeba_attributes, read_celeba_list)

__all__ = ["CELEBA_CROP", "CELEBA_IMAGES", "IMAGE_EXTENSIONS", "ImageSource", "TrainingData", "check_data_path",
           "decode_all", "discover", "identity_pairs", "load_image", "pair_dataset", "pair_stream",
           "read_celeba_attributes", "read_celeba_list"]
