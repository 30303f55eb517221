"""Conformance of the Slicer modules to Slicer's, CTK's and Qt's real APIs.

``extract.py`` reads the headers and Python sources at the supported Slicer tags and writes
``slicer_api.json`` (committed); ``usage.py`` lists what the extension's code uses; the test
``Testing/test_slicer_api.py`` checks every use against the fixture.
"""
