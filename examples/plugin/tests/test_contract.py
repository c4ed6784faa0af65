"""codecbench's codec contract and quality floor, run on this package's codecs (codecbench's author kit)."""

from codecbench.testing.test_contract import *  # noqa: F401,F403
from codecbench.testing.test_quality_floor import *  # noqa: F401,F403

#: the codecs the kit checks (a name: both ends of its default sweep)
CONTRACT_CODECS = ["jpeg444", "block-pca"]
