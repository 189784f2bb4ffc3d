"""Dataset specs (one versioned registry), the on-disk split layout, loaders, verification and converters."""

from m3t_bench.datasets.loader import add_data_root_argument, default_data_root, open_split, verify_split
from m3t_bench.datasets.specs import DATASETS, DatasetSpec, get_spec, is_registered, list_specs
from m3t_bench.datasets.store import Split, SplitWriter

__all__ = ["DATASETS", "DatasetSpec", "Split", "SplitWriter", "add_data_root_argument", "default_data_root", "get_spec", "is_registered",
           "list_specs", "open_split", "verify_split"]
