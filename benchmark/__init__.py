"""The CoViP benchmark data: typed records, validation, features, loaders and the mini set."""

from benchmark.errors import DatasetError
from benchmark.features import CAPEVAL_CONFIG, CONFIGS, DIAGNOSTIC_CONFIGS
from benchmark.loading import LoadedDataset, load_benchmark
from benchmark.records import (
    CANNOT_DETERMINE,
    OPTION_LETTERS,
    QA,
    CapEvalSample,
    Concept,
    DiagnosticSample,
    ImageData,
    Sample,
)

__all__ = [
    "CANNOT_DETERMINE", "CAPEVAL_CONFIG", "CONFIGS", "DIAGNOSTIC_CONFIGS", "OPTION_LETTERS", "QA",
    "CapEvalSample", "Concept", "DatasetError", "DiagnosticSample", "ImageData", "LoadedDataset",
    "Sample", "load_benchmark",
]
