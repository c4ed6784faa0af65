"""What is particular to this package's codecs."""

import importlib.resources
import io

from PIL import Image, JpegImagePlugin

from codecbench import create_codec
from codecbench.testing.cases import contract_image
from codecbench.testing.quality import model_card


def test_jpeg444_keeps_full_chroma_and_equals_the_builtin_jpeg_so_configured():
    image = contract_image(128)
    data = create_codec("jpeg444:quality=50").encode(image)
    with Image.open(io.BytesIO(data)) as jpeg:
        assert JpegImagePlugin.get_sampling(jpeg) == 0  # 4:4:4
    assert data == create_codec("jpeg:quality=50,subsampling=4:4:4,optimize=true").encode(image)


def test_block_pca_ships_its_checkpoint_and_card_in_this_package():
    codec = create_codec("block-pca")
    folder = importlib.resources.files("codecbench_example.checkpoints")
    assert codec.checkpoint_file == folder / "block-pca.pt"
    assert model_card(codec) == folder / "block-pca.md"


def test_block_pca_spends_fewer_bits_at_coarser_steps():
    image = contract_image(128)
    sizes = [len(create_codec(f"block-pca:step={step}").encode(image)) for step in (4, 16, 64)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 2 * sizes[-1], sizes
