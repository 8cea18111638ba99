"""Validates OSCAL JSON documents with compliance-trestle's OSCAL 1.1 models (CI step).

Usage: python oscal_validate.py catalog FILE...   (or: assessment-results FILE...)
Exits 1 naming the file and the first problem when a document does not validate.
"""
import pathlib
import sys

from trestle.oscal import OSCAL_VERSION
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog

MODELS = {"catalog": Catalog, "assessment-results": AssessmentResults}


def main() -> int:
    kind, files = sys.argv[1], sys.argv[2:]
    model = MODELS[kind]
    for name in files:
        try:
            document = model.oscal_read(pathlib.Path(name))
        except Exception as error:  # the models raise pydantic's ValidationError and others
            print(f"{name}: not a valid OSCAL {OSCAL_VERSION} {kind}: {error}")
            return 1
        if document is None:
            print(f"{name}: not readable as OSCAL {kind}")
            return 1
        print(f"{name}: valid OSCAL {OSCAL_VERSION} {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
